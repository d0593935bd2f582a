import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlm_lab.errors import ConfigError
from mlm_lab.tokenizers import load_tokenizer
from mlm_lab.tokenizers.char import CharTokenizer

ALPHABET = "0123456789+-*/="


def test_vocabulary_layout():
    tok = CharTokenizer(ALPHABET)
    assert tok.vocab_size == 18
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert tok.encode("0") == [3] and tok.encode("=") == [17]


@given(st.text(alphabet=ALPHABET))
def test_round_trip(text):
    tok = CharTokenizer(ALPHABET)
    assert tok.decode(tok.encode(text)) == text


def test_specials_are_dropped_on_decode():
    tok = CharTokenizer(ALPHABET)
    assert tok.decode([tok.bos_id, *tok.encode("12"), tok.eos_id, tok.pad_id]) == "12"


def test_unknown_character_is_named():
    with pytest.raises(ValueError, match="'a'"):
        CharTokenizer(ALPHABET).encode("1a")


def test_bad_alphabets():
    with pytest.raises(ConfigError, match="tokenizer.alphabet"):
        CharTokenizer("")
    with pytest.raises(ConfigError, match="repeated"):
        CharTokenizer("aba")


def test_save_and_load(tmp_path):
    CharTokenizer("abc").save(tmp_path)
    tok = load_tokenizer(tmp_path)
    assert tok.alphabet == "abc" and tok.encode("cab") == [5, 3, 4]


def test_fixed_alphabet_needs_no_fit():
    tok = CharTokenizer(ALPHABET)
    assert not tok.needs_fit
    tok.fit(["abc"])  # nothing to learn: the alphabet stays
    assert tok.alphabet == ALPHABET and tok.state() == {"kind": "char", "alphabet": ALPHABET}


def test_corpus_alphabet_is_the_sorted_training_characters():
    tok = CharTokenizer(alphabet=None)
    assert tok.needs_fit
    tok.fit(["hola", "¿qué?"])
    assert not tok.needs_fit and tok.chars == "".join(sorted(set("hola¿qué?")))
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    assert tok.vocab_size == 4 + len(tok.chars) and tok.encode(tok.chars[0]) == [4]


def test_corpus_alphabet_maps_unseen_characters_to_unk():
    tok = CharTokenizer(alphabet=None)
    tok.fit(["abc"])
    assert tok.encode("abz") == [4, 5, 3]
    assert tok.decode(tok.encode("abz")) == "ab\ufffd"


@given(st.text(alphabet="ab c\n¿ñ"))
def test_corpus_round_trip_over_training_characters(text):
    tok = CharTokenizer(alphabet=None)
    tok.fit(["ab c\n¿ñ"])
    assert tok.decode(tok.encode(text)) == text


def test_corpus_state_round_trip(tmp_path):
    tok = CharTokenizer(alphabet=None)
    tok.fit(["xyz"])
    assert tok.state() == {"kind": "char", "alphabet": None, "chars": "xyz"}
    tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert loaded.encode("zq") == [6, 3] and loaded.state() == tok.state()
