"""Every tokenizer kind keeps the shared contract: registry, specials, round trips, state, save/load, hashes, configs."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from mlm_lab.errors import ConfigError
from mlm_lab.instantiate import build, check_signature
from mlm_lab.schemas import conf_dir
from mlm_lab.tokenizers import TOKENIZERS, Tokenizer, load_tokenizer, tokenizer_from_state, tokenizer_sha256
from mlm_lab.tokenizers.bytelevel_bpe import ByteLevelBPETokenizer
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer
from mlm_lab.tokenizers.word import WordTokenizer
from tests.conftest import data_file


def data_text(relative: str, n_chars: int | None = None) -> str:
    """The text of tests/data/<relative> (its first n_chars); fails, never skips, when it is missing."""
    text = Path(data_file(relative)).read_text(encoding="utf-8")
    return text if n_chars is None else text[:n_chars]


# Any Unicode text (surrogates cannot be UTF-8), and text stitched from the pieces most likely to break a round trip.
ANY_TEXT = st.text(st.characters(codec="utf-8"))
TRICKY = ["<|endoftext|>", "<pad>", "<bos>", "<eos>", "<unk>", "<s>", "</s>", "<PAD>", "<EOS>", "\u2581", " ", "  ", "\n", "\r\n"]
TRICKY += ["\t", "\x00", "\ufeff", "¿", "¡", "ñ", "á", "😀", "'s", "123456", "Once upon a time"]
TRICKY_TEXT = st.lists(st.one_of(st.sampled_from(TRICKY), ANY_TEXT), max_size=12).map("".join)
SAMPLE = "¿Qué tal?  Once upon a time,\n\tthe dog's 12345 bones <|endoftext|> <eos> 😀 a\u2581b\n"

TRAINABLE = ["sentencepiece_bpe", "sentencepiece_unigram", "bytelevel_bpe", "char_corpus", "word"]
LOSSLESS = ["sentencepiece_bpe", "sentencepiece_unigram", "bytelevel_bpe"]  # decode(encode(s)) == s for any s


def unfitted(name: str, cache_dir: str | None = None):
    return {
        "sentencepiece_bpe": lambda: SentencePieceTokenizer("bpe", vocab_size=800, cache_dir=cache_dir),
        "sentencepiece_unigram": lambda: SentencePieceTokenizer("unigram", vocab_size=600, cache_dir=cache_dir),
        "bytelevel_bpe": lambda: ByteLevelBPETokenizer(vocab_size=800, cache_dir=cache_dir),
        "char_corpus": lambda: CharTokenizer(alphabet=None),
        "char_fixed": lambda: CharTokenizer(),
        "word": lambda: WordTokenizer(vocab_size=500),
    }[name]()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> dict:
    """One tokenizer of every kind, trained once on 60 KB of TinyStories (separator lines included)."""
    cache_dir = str(tmp_path_factory.mktemp("tokenizer_cache"))
    stories = data_text("tinystories/train.txt", 60_000)
    toks = {name: unfitted(name, cache_dir) for name in [*TRAINABLE, "char_fixed"]}
    for tok in toks.values():
        tok.fit([stories])
    return toks


def test_registry_covers_every_kind(fitted):
    assert set(TOKENIZERS) == {"char", "word", "bytelevel_bpe", "sentencepiece_bpe", "sentencepiece_unigram", "hf"}
    for name, tok in fitted.items():
        assert isinstance(tok, Tokenizer), name
        assert TOKENIZERS[tok.kind] is type(tok)
    # kind `hf`: a Hugging Face tokenizer.json that came with an imported model (tests/test_hf_tokenizer.py)
    hf = tokenizer_from_state({"kind": "hf", "hf_json": fitted["bytelevel_bpe"]._hf.to_str(), "bos_id": 1, "eos_id": 2, "pad_id": 0})
    assert isinstance(hf, Tokenizer) and not hf.needs_fit and hf.vocab_size == fitted["bytelevel_bpe"].vocab_size


@pytest.mark.parametrize("name", [*TRAINABLE, "char_fixed"])
def test_special_ids_are_distinct_valid_and_dropped(fitted, name):
    tok = fitted[name]
    assert len({tok.pad_id, tok.bos_id, tok.eos_id}) == 3
    assert {tok.pad_id, tok.bos_id, tok.eos_id} <= tok.special_ids
    assert all(0 <= i < tok.vocab_size for i in tok.special_ids)
    text = "12+3=" if name == "char_fixed" else "the dog"
    ids = tok.encode(text)
    assert tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id, tok.pad_id]) == tok.decode(ids)


@pytest.mark.parametrize("name", LOSSLESS)
@settings(max_examples=150, deadline=None)
@given(text=st.one_of(ANY_TEXT, TRICKY_TEXT))
def test_round_trip_for_any_unicode(fitted, name, text):
    tok = fitted[name]
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("name", [*TRAINABLE])
@settings(max_examples=60, deadline=None)
@given(text=TRICKY_TEXT)
def test_ordinary_text_never_yields_a_special(fitted, name, text):
    tok = fitted[name]
    assert not set(tok.encode(text)) & tok.special_ids


@pytest.mark.parametrize("name", LOSSLESS)
def test_round_trip_on_real_text(fitted, name):
    tok = fitted[name]
    for text in (data_text("tinystories/valid.txt", 100_000), data_text("cervantes/quijote.txt", 100_000)):
        assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("name", [*TRAINABLE, "char_fixed"])
def test_state_and_saved_folder_rebuild_the_same_tokenizer(fitted, name, tmp_path):
    tok = fitted[name]
    text = "12+34=46" if name == "char_fixed" else "Once upon a time, the dog ran."
    from_state = tokenizer_from_state(tok.state())
    assert tok.save(tmp_path) == tmp_path / "tokenizer.json"
    loaded = load_tokenizer(tmp_path)
    for other in (from_state, loaded):
        assert type(other) is type(tok) and other.kind == tok.kind
        assert other.state() == tok.state()
        assert other.encode(text) == tok.encode(text) and other.vocab_size == tok.vocab_size
        assert tokenizer_sha256(other) == tokenizer_sha256(tok)


def test_sha256_tells_tokenizers_apart(fitted):
    hashes = {name: tokenizer_sha256(tok) for name, tok in fitted.items()}
    assert len(set(hashes.values())) == len(hashes)
    assert all(len(h) == 64 for h in hashes.values())


@pytest.mark.parametrize("name", TRAINABLE)
def test_using_an_unfitted_tokenizer_says_to_fit_it(name, tmp_path):
    tok = unfitted(name, str(tmp_path))
    assert tok.needs_fit
    for use in (lambda: tok.encode("hello"), lambda: tok.decode([5]), lambda: tok.vocab_size, lambda: tok.save(tmp_path)):
        with pytest.raises(ConfigError, match=r"not been fitted.*tokenizer\.fit"):
            use()


@pytest.mark.parametrize("name", TRAINABLE)
def test_fitting_clears_needs_fit(fitted, name):
    assert not fitted[name].needs_fit and not tokenizer_from_state(fitted[name].state()).needs_fit
    assert not CharTokenizer().needs_fit


@pytest.mark.parametrize("name", TRAINABLE)
@pytest.mark.parametrize("texts", [[], [""], ["  \n\t "]])
def test_empty_training_text_is_a_config_error(name, texts, tmp_path):
    with pytest.raises(ConfigError, match="data.train"):
        unfitted(name, str(tmp_path)).fit(texts)


def test_unknown_kind_is_named():
    with pytest.raises(ConfigError, match="'nope'"):
        tokenizer_from_state({"kind": "nope"})


def test_load_without_tokenizer_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize("path", sorted((conf_dir() / "tokenizer").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_tokenizer_yaml_builds_its_kind(path):
    cfg = OmegaConf.create({"cache_dir": None, "tokenizer": OmegaConf.load(path)}).tokenizer  # ${cache_dir} resolves from the root
    assert path.read_text().startswith("# "), "each config's header says what it is"
    check_signature(cfg, "tokenizer")
    tok = build(cfg, "tokenizer")
    assert tok.kind == {"char_corpus": "char"}.get(path.stem, path.stem)
