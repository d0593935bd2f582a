"""Word tokenizer: frequency vocabulary, whitespace-normalising round trip, and minilm's padding and truncation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlm_lab.errors import ConfigError
from mlm_lab.tokenizers import load_tokenizer
from mlm_lab.tokenizers.word import WordTokenizer

TEXTS = ["the cat sat", "the cat ran", "the dog sat on the mat", "<EOS> is a word here"]


@pytest.fixture
def tok() -> WordTokenizer:
    tok = WordTokenizer(vocab_size=100)
    tok.fit(TEXTS)
    return tok


def test_vocabulary_by_frequency_after_the_specials(tok):
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.words[:3] == ["the", "cat", "sat"]  # 4, 2, 2 occurrences; ties in code-point order
    assert tok.encode("the cat") == [4, 5] and tok.vocab_size == 4 + len(tok.words)


def test_vocab_size_and_min_frequency_cap_the_vocabulary():
    small = WordTokenizer(vocab_size=6)
    small.fit(TEXTS)
    assert small.words == ["the", "cat"] and small.vocab_size == 6
    frequent = WordTokenizer(min_frequency=2)
    frequent.fit(TEXTS)
    assert frequent.words == ["the", "cat", "sat"]
    with pytest.raises(ConfigError, match=r"tokenizer\.min_frequency"):
        WordTokenizer(min_frequency=9).fit(TEXTS)


@given(st.lists(st.tuples(st.sampled_from(["the", "cat", "dog", "mat", "<EOS>"]), st.sampled_from([" ", "  ", "\n", "\t", " \r\n"]))))
def test_round_trip_normalises_whitespace(words_and_gaps):
    tok = WordTokenizer()
    tok.fit(TEXTS)
    text = "".join(w + gap for w, gap in words_and_gaps)
    assert tok.decode(tok.encode(text)) == " ".join(text.split())


def test_unknown_words_and_spelled_specials(tok):
    ids = tok.encode("the zebra <EOS> <PAD>")
    assert ids[1] == tok.unk_id and ids[3] == tok.unk_id  # never seen: unknown
    assert ids[2] not in tok.special_ids and tok.words[ids[2] - 4] == "<EOS>"  # seen in training: an ordinary word
    assert tok.decode(ids) == "the <UNK> <EOS> <UNK>"
    assert tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id]) == "the <UNK> <EOS> <UNK>"


def test_encode_batch_pads_to_max_length(tok):
    tok = WordTokenizer.from_state({**tok.state(), "max_length": 6, "padding": True})
    rows = tok.encode_batch(["the cat", "the dog sat"])
    assert rows == [[2, 4, 5, 3, 0, 0], [2, 4, tok.stoi["dog"], 6, 3, 0]]


def test_encode_batch_pads_to_the_longest_row_without_max_length(tok):
    rows = tok.encode_batch(["the", "the cat sat"], padding=True)
    assert [len(r) for r in rows] == [5, 5] and rows[0] == [2, 4, 3, 0, 0]
    assert tok.encode_batch(["the", "the cat"]) == [[2, 4, 3], [2, 4, 5, 3]]  # no padding by default
    assert tok.encode_batch(["the cat"], add_special_tokens=False) == [[4, 5]]


def test_too_long_without_truncation_is_an_error(tok):
    with pytest.raises(ConfigError, match=r"tokenizer\.truncation: is false and a text of 5 tokens exceeds tokenizer\.max_length=4"):
        tok.encode_batch(["the cat sat"], max_length=4)


def test_truncation_keeps_bos_and_eos(tok):
    assert tok.encode_batch(["the cat sat on the mat"], max_length=4, truncation=True) == [[2, 4, 5, 3]]
    with pytest.raises(ConfigError, match=r"tokenizer\.max_length: is 2"):
        tok.encode_batch(["the"], max_length=2, truncation=True)


def test_pad(tok):
    assert tok.pad([[5], [5, 6, 7]]) == [[5, 0, 0], [5, 6, 7]]
    assert tok.pad([[5]], length=3) == [[5, 0, 0]]
    with pytest.raises(ConfigError, match="truncate"):
        tok.pad([[5, 6, 7]], length=2)


def test_save_and_load(tok, tmp_path):
    tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert loaded.state() == tok.state() and loaded.encode("the dog") == tok.encode("the dog")


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"vocab_size": 4}, "tokenizer.vocab_size"),
        ({"min_frequency": 0}, "tokenizer.min_frequency"),
        ({"max_length": 0}, "tokenizer.max_length"),
    ],
)
def test_bad_settings_name_their_key(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        WordTokenizer(**kwargs)
