"""Byte-level BPE: id layout, the GPT-4 split, the native Hugging Face file, the training cache, vocabulary errors."""

import logging

import pytest
import tokenizers
from hypothesis import given, settings

from mlm_lab.errors import ConfigError
from mlm_lab.tokenizers import tokenizer_sha256
from mlm_lab.tokenizers.bytelevel_bpe import ByteLevelBPETokenizer
from tests.test_tokenizers import ANY_TEXT, TRICKY_TEXT, data_text


@pytest.fixture(scope="module")
def stories() -> list[str]:
    """The TinyStories train excerpt (130 KB), one document per story."""
    return data_text("tinystories/train.txt").split("<|endoftext|>\n")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def bpe(stories, cache_dir) -> ByteLevelBPETokenizer:
    tok = ByteLevelBPETokenizer(vocab_size=1000, cache_dir=cache_dir)
    tok.fit(stories)
    return tok


@pytest.fixture(scope="module")
def native(bpe, tmp_path_factory) -> tokenizers.Tokenizer:
    """The saved tokenizer_hf.json, loaded by Hugging Face tokenizers alone."""
    directory = tmp_path_factory.mktemp("saved")
    bpe.save(directory)
    return tokenizers.Tokenizer.from_file(str(directory / "tokenizer_hf.json"))


def test_id_layout(bpe, native):
    assert [native.id_to_token(i) for i in range(4)] == ["<pad>", "<bos>", "<eos>", "<|endoftext|>"]
    assert (bpe.pad_id, bpe.bos_id, bpe.eos_id) == (0, 1, 2) and bpe.special_ids == {0, 1, 2, 3}
    assert bpe.vocab_size == native.get_vocab_size() == 1000


def test_gpt4_split(native):
    split = native.pre_tokenizer.pre_tokenize_str("He's 1234567 cats!!\n\n  ok")
    # byte-level symbols: Ġ is a space, Ċ a newline
    assert [piece for piece, _ in split] == ["He", "'s", "Ġ", "123", "456", "7", "Ġcats", "!!ĊĊ", "Ġ", "Ġok"]


def test_literal_special_is_ordinary_text(bpe, native):
    ids = bpe.encode("The end.<|endoftext|>")
    assert 3 not in ids and bpe.decode(ids) == "The end.<|endoftext|>"
    assert native.encode("<|endoftext|>").ids == [3]  # what the flag in the module docstring is for
    assert bpe.decode([bpe.bos_id, *ids, 3, bpe.eos_id]) == "The end.<|endoftext|>"


@settings(max_examples=150, deadline=None)
@given(text=ANY_TEXT | TRICKY_TEXT)
def test_native_file_gives_the_same_ids(bpe, native, text):
    native.encode_special_tokens = True
    assert native.encode(text, add_special_tokens=False).ids == bpe.encode(text)


def test_save_writes_both_files(bpe, tmp_path):
    bpe.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"tokenizer.json", "tokenizer_hf.json"}


def test_second_fit_is_a_cache_hit(bpe, stories, cache_dir, caplog):
    assert bpe.cache_hit is False
    again = ByteLevelBPETokenizer(vocab_size=1000, cache_dir=cache_dir)
    with caplog.at_level(logging.INFO, logger="mlm_lab.tokenizers.model_cache"):
        again.fit(stories)
    assert again.cache_hit is True and "cache hit" in caplog.text
    assert tokenizer_sha256(again) == tokenizer_sha256(bpe)
    other = ByteLevelBPETokenizer(vocab_size=1000, min_frequency=3, cache_dir=cache_dir)
    other.fit(stories)
    assert other.cache_hit is False


def test_training_is_deterministic(bpe, stories, tmp_path):
    fresh = ByteLevelBPETokenizer(vocab_size=1000, cache_dir=str(tmp_path))
    fresh.fit(stories)
    assert fresh.cache_hit is False and tokenizer_sha256(fresh) == tokenizer_sha256(bpe)


def test_vocab_size_below_the_specials_and_bytes_fails_before_training():
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab_size: is 259.*260 ids"):
        ByteLevelBPETokenizer(vocab_size=259)


def test_vocab_size_beyond_the_text_names_the_maximum(tmp_path):
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab_size: 5000 is more than this training text supports \(at most \d+"):
        ByteLevelBPETokenizer(vocab_size=5000, cache_dir=str(tmp_path)).fit(["hello world, hello there"])


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"min_frequency": 0}, "tokenizer.min_frequency"),
        ({"min_frequency": 2**64}, "tokenizer.min_frequency: is 18446744073709551616"),
        ({"vocab_size": 2**64}, "tokenizer.vocab_size: is 18446744073709551616"),
        ({"user_specials": ["<pad>"]}, "tokenizer.user_specials"),
        ({"user_specials": [""]}, "tokenizer.user_specials"),
    ],
)
def test_bad_settings_name_their_key(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ByteLevelBPETokenizer(**kwargs)
