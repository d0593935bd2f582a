"""SentencePiece BPE/unigram: Spanish text, id layout, the native model file, the training cache, vocabulary errors."""

import logging
from pathlib import Path

import pytest
import sentencepiece as spm
from hypothesis import given, settings

from mlm_lab.errors import ConfigError
from mlm_lab.tokenizers import load_tokenizer, tokenizer_sha256
from mlm_lab.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer
from tests.test_tokenizers import ANY_TEXT, TRICKY_TEXT, data_text


@pytest.fixture(scope="module")
def quijote() -> list[str]:
    """The Don Quijote excerpt (105 KB) as one training document."""
    return [data_text("cervantes/quijote.txt")]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def spanish(quijote, cache_dir) -> SentencePieceTokenizer:
    tok = SentencePieceTokenizer("bpe", vocab_size=2000, cache_dir=cache_dir)
    tok.fit(quijote)
    return tok


@pytest.fixture(scope="module")
def plain(spanish, tmp_path_factory) -> spm.SentencePieceProcessor:
    """The saved tokenizer.model, loaded by sentencepiece alone."""
    directory = tmp_path_factory.mktemp("saved")
    spanish.save(directory)
    return spm.SentencePieceProcessor(model_file=str(directory / "tokenizer.model"))


def test_id_layout(spanish, plain):
    assert (spanish.pad_id, spanish.bos_id, spanish.eos_id, spanish.unk_id) == (0, 1, 2, 3)
    assert [plain.id_to_piece(i) for i in range(6)] == ["<pad>", "<bos>", "<eos>", "<unk>", "<|endoftext|>", "\n"]
    assert (plain.pad_id(), plain.bos_id(), plain.eos_id(), plain.unk_id()) == (0, 1, 2, 3)
    assert plain.is_control(4) and plain.is_byte(6) and plain.id_to_piece(6) == "<0x00>"
    assert spanish.special_ids == {0, 1, 2, 4}
    assert spanish.vocab_size == plain.vocab_size() == 2000


def test_spanish_characters_get_their_own_pieces(spanish, plain):
    for char in "¿¡ñáéíóúü":
        ids = spanish.encode(char)
        assert len(ids) == 1 and not plain.is_byte(ids[0]), (char, [plain.id_to_piece(i) for i in ids])
    text = "¿Quién es? ¡El señor don Quijote de la Mancha!"
    assert not any(plain.is_byte(i) for i in spanish.encode(text))


def test_newline_is_its_own_piece_and_whitespace_survives(spanish, plain):
    assert spanish.encode("\n\n") == [5, 5]
    assert 5 in spanish.encode("fin\ncapítulo")
    text = "  dos  espacios\t tab \r\n\n  "
    assert spanish.decode(spanish.encode(text)) == text


def test_literal_u2581_survives_as_bytes(spanish, plain):
    # sentencepiece itself reads U+2581 as a space; the wrapper keeps it
    assert plain.decode(plain.encode("a\u2581b")) == "a b"
    assert spanish.decode(spanish.encode("a\u2581b")) == "a\u2581b"


@settings(max_examples=150, deadline=None)
@given(text=ANY_TEXT | TRICKY_TEXT)
def test_plain_sentencepiece_gives_the_same_ids(spanish, plain, text):
    text = text.replace("\u2581", " ")  # the one character the wrapper encodes differently (as bytes)
    assert plain.encode(text) == spanish.encode(text)
    assert plain.decode(spanish.encode(text)) == spanish.decode(spanish.encode(text))


def test_load_tokenizer_reads_the_saved_folder(spanish, tmp_path):
    spanish.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"tokenizer.json", "tokenizer.model"}
    loaded = load_tokenizer(tmp_path)
    assert loaded.kind == "sentencepiece_bpe" and loaded.encode("¿Qué?") == spanish.encode("¿Qué?")


def test_second_fit_is_a_cache_hit(spanish, quijote, cache_dir, caplog):
    entries = list(Path(cache_dir, "tokenizers").glob("*/tokenizer.model"))
    assert len(entries) == 1 and spanish.cache_hit is False
    mtime = entries[0].stat().st_mtime_ns
    again = SentencePieceTokenizer("bpe", vocab_size=2000, cache_dir=cache_dir)
    with caplog.at_level(logging.INFO, logger="mlm_lab.tokenizers.model_cache"):
        again.fit(quijote)
    assert again.cache_hit is True and "cache hit" in caplog.text
    assert entries[0].stat().st_mtime_ns == mtime and len(list(Path(cache_dir, "tokenizers").glob("*/tokenizer.model"))) == 1
    assert tokenizer_sha256(again) == tokenizer_sha256(spanish)


def test_other_settings_or_text_miss_the_cache(quijote, cache_dir):
    for tok, texts in [
        (SentencePieceTokenizer("bpe", vocab_size=1999, cache_dir=cache_dir), quijote),
        (SentencePieceTokenizer("bpe", vocab_size=2000, cache_dir=cache_dir), [quijote[0][:-1]]),
    ]:
        tok.fit(texts)
        assert tok.cache_hit is False


@pytest.mark.parametrize("model_type, threads_matter", [("bpe", False), ("unigram", True)])
def test_thread_count_keys_the_cache_only_where_it_shapes_the_model(quijote, tmp_path, model_type, threads_matter):
    text = [quijote[0][:20_000]]
    SentencePieceTokenizer(model_type, vocab_size=500, num_threads=1, cache_dir=str(tmp_path)).fit(text)
    other = SentencePieceTokenizer(model_type, vocab_size=500, num_threads=2, cache_dir=str(tmp_path))
    other.fit(text)
    assert other.cache_hit is not threads_matter


def test_training_is_deterministic(quijote, tmp_path, spanish):
    fresh = SentencePieceTokenizer("bpe", vocab_size=2000, cache_dir=str(tmp_path))
    fresh.fit(quijote)
    assert fresh.cache_hit is False and fresh.state() == spanish.state()


def test_unigram_trains_on_spanish(quijote, cache_dir):
    tok = SentencePieceTokenizer("unigram", vocab_size=1000, cache_dir=cache_dir)
    tok.fit([quijote[0][:50_000]])
    assert tok.kind == "sentencepiece_unigram" and tok.vocab_size == 1000
    text = "¿Qué dices, Sancho?\n¡Voto a tal!"
    assert tok.decode(tok.encode(text)) == text


def test_vocab_size_below_the_specials_and_bytes_fails_before_training():
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab_size: is 200.*262 ids"):
        SentencePieceTokenizer(vocab_size=200)
    SentencePieceTokenizer(vocab_size=200, byte_fallback=False)  # 6 specials only


def test_vocab_size_below_the_characters_is_a_config_error(quijote, tmp_path):
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab_size: 280 is too small.*need \d+ ids.*character_coverage"):
        SentencePieceTokenizer(vocab_size=280, cache_dir=str(tmp_path)).fit(quijote)


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_vocab_size_beyond_the_text_names_the_maximum(model_type, tmp_path):
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab_size: 5000 is more than this training text supports \(at most \d+\)"):
        SentencePieceTokenizer(model_type, vocab_size=5000, cache_dir=str(tmp_path)).fit(["hola mundo\nhola amigo\n"])


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"model_type": "word"}, "tokenizer.model_type"),
        ({"character_coverage": 0}, "tokenizer.character_coverage"),
        ({"character_coverage": 0.5}, r"tokenizer.character_coverage: is 0.5. Fix: use a share in \[0.98, 1\]"),
        ({"vocab_size": 2**31}, "tokenizer.vocab_size: is 2147483648"),
        ({"num_threads": 2**31}, "tokenizer.num_threads: is 2147483648"),
        ({"input_sentence_size": 2**64}, "tokenizer.input_sentence_size: is 18446744073709551616"),
        ({"seed": -1}, "tokenizer.seed: is -1"),
        ({"seed": 2**32}, "tokenizer.seed: is 4294967296"),
        ({"user_specials": ["<a,b>"]}, "tokenizer.user_specials"),
        ({"user_specials": ["<eos>"]}, "tokenizer.user_specials"),
        ({"user_specials": ["<x>", "<x>"]}, "tokenizer.user_specials"),
        ({"input_sentence_size": -1}, "tokenizer.input_sentence_size"),
        ({"num_threads": 0}, "tokenizer.num_threads"),
    ],
)
def test_bad_settings_name_their_key(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        SentencePieceTokenizer(**kwargs)
