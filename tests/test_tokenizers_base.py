"""The checks every tokenizer shares: text and id validation, training texts, user specials, the fitted check, the state file."""

import json

import numpy as np
import pytest
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.tokenizers.base import (
    Tokenizer,
    check_ids,
    check_text,
    check_training_texts,
    check_user_specials,
    require_fitted,
    write_state,
)
from mlm_lab.tokenizers.char import CharTokenizer


def test_check_text_passes_unicode_and_names_what_is_not():
    for text in ("", "plain", "¿qué? 😀 \x00"):
        assert check_text(text, "word") is text
    with pytest.raises(TypeError, match=r"^word tokenizer\.encode: expected a str, got bytes b'ab'\. Fix: decode bytes first"):
        check_text(b"ab", "word")
    with pytest.raises(TypeError, match=r"got list \['a'\]\. Fix: pass one string"):
        check_text(["a"], "word")
    with pytest.raises(ValueError, match=r"lone surrogate '\\ud800' at position 2.*Fix: send valid Unicode"):
        check_text("ab\ud800c", "word")


def test_check_text_shortens_what_it_quotes():
    with pytest.raises(TypeError, match=r"\.\.\. \(\d+ characters\)"):
        check_text(b"x" * 500, "char")


@pytest.mark.parametrize("ids", [[0, 4, 9], (0, 4, 9), np.array([0, 4, 9]), torch.tensor([0, 4, 9]), [np.int64(0), 4, torch.tensor(9)]])
def test_check_ids_takes_any_sequence_of_integers(ids):
    out = check_ids(ids, 10, "char")
    assert out == [0, 4, 9] and all(type(i) is int for i in out)


@pytest.mark.parametrize(
    "ids, error, message",
    [
        ("0 1", TypeError, r"expected a sequence of token ids, got str"),
        ({0: 1}, TypeError, r"expected a sequence of token ids, got dict"),
        (5, TypeError, r"expected a sequence of token ids, got int 5\. Fix: pass a list of ints"),
        ([1, True], TypeError, r"ids\[1\] is bool True, not an integer id"),
        ([1.0], TypeError, r"ids\[0\] is float"),
        ([3, 10], ValueError, r"ids\[1\] = 10 is outside the vocabulary \[0, 10\)\. Fix: .*vocab_size 10"),
        ([-1], ValueError, r"ids\[0\] = -1 is outside"),
    ],
)
def test_check_ids_names_the_first_bad_id(ids, error, message):
    with pytest.raises(error, match=r"^char tokenizer\.decode: " + message):
        check_ids(ids, 10, "char")


def test_training_texts_must_be_a_list_with_some_text():
    check_training_texts(["", "some text"])
    with pytest.raises(ConfigError, match=r"^data\.train: was given to tokenizer\.fit as one string\. Fix: pass a list"):
        check_training_texts("some text")
    with pytest.raises(ConfigError, match=r"^data\.train: has no text"):
        check_training_texts(["", " \n"])


def test_user_specials_are_distinct_non_empty_and_not_built_in():
    assert check_user_specials(("<|endoftext|>", "<sep>"), ("<pad>",)) == ["<|endoftext|>", "<sep>"]
    for specials, problem in (([""], "non-empty strings"), (["<a>", "<a>"], "repeats a token"), (["<pad>"], "built-in specials")):
        with pytest.raises(ConfigError, match=rf"^tokenizer\.user_specials: .*{problem}"):
            check_user_specials(specials, ("<pad>",))


def test_an_unfitted_tokenizer_is_refused_with_the_fix():
    require_fitted(True, "word")
    with pytest.raises(ConfigError, match=r"^tokenizer: the word tokenizer has not been fitted.*Fix: call tokenizer\.fit"):
        require_fitted(False, "word")


def test_write_state_writes_the_state_as_json(tmp_path):
    tok = CharTokenizer(alphabet="ab")
    assert isinstance(tok, Tokenizer)  # the protocol is checkable at run time
    path = write_state(tok, tmp_path / "new" / "folder")
    assert path == tmp_path / "new" / "folder" / "tokenizer.json" and json.loads(path.read_text()) == tok.state()
