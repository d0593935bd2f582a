"""Exported tokenizers, loaded by transformers' AutoTokenizer, give mlm_lab's ids for any text (hypothesis)."""

import json
from pathlib import Path

import pytest
from conftest import data_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from mlm_lab.errors import ConfigError
from mlm_lab.export.hf_tokenizer import PY_WHITESPACE, SPACE, TOKENIZER_STATE, tokenizer_state_from_folder, write_hf_tokenizer
from mlm_lab.tokenizers import TOKENIZERS, tokenizer_from_state

QUIJOTE = Path(data_file("cervantes/quijote.txt")).read_text(encoding="utf-8-sig").replace("\r\n", "\n")
DOCS = QUIJOTE.split("\n\n")
KINDS = {
    "sentencepiece_bpe": dict(model_type="bpe", vocab_size=700),
    "sentencepiece_unigram": dict(model_type="unigram", vocab_size=700, num_threads=1),
    "bytelevel_bpe": dict(vocab_size=600),
    "char": dict(alphabet=None),
    "char_fixed": dict(alphabet="0123456789+-*/="),
    "word": dict(vocab_size=400),
}
# characters the corpus has, the specials' characters, whitespace Python splits on, and any other Unicode
TEXT = st.text(
    st.one_of(
        st.sampled_from(sorted(set(QUIJOTE))), st.sampled_from(list("<|>bosendtx \n\t\r\x1c\x85\u3000")), st.characters(codec="utf-8")
    )
)  # valid Unicode: mlm_lab refuses lone surrogates


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = {}
    for name, settings_ in KINDS.items():
        tok = TOKENIZERS["char" if name.startswith("char") else name](**settings_)
        tok.fit(DOCS)
        folder = tmp_path_factory.mktemp(name)
        write_hf_tokenizer(tok, folder, model_max_length=64)
        out[name] = (tok, AutoTokenizer.from_pretrained(str(folder)), folder)
    return out


def comparable(name: str, text: str) -> str:
    if name == "char_fixed":  # a fixed alphabet refuses other characters in mlm_lab; compare on its own text
        return "".join(c for c in text if c in "0123456789+-*/=")
    if name.startswith("sentencepiece"):  # the one documented difference: a literal U+2581 (see hf_tokenizer)
        return text.replace(SPACE, "")
    return text


@pytest.mark.parametrize("name", KINDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_same_ids_as_mlm_lab_for_any_text(exported, name, text):
    tok, hf, _ = exported[name]
    text = comparable(name, text)
    assert hf(text)["input_ids"] == [tok.bos_id, *tok.encode(text)]
    assert hf(text, add_special_tokens=False)["input_ids"] == tok.encode(text)


@pytest.mark.parametrize("name", KINDS)
def test_same_ids_and_text_on_the_corpus(exported, name):
    tok, hf, _ = exported[name]
    text = comparable(name, QUIJOTE[:20000] if name != "char_fixed" else "012+034=64\n" * 50)
    ids = hf(text)["input_ids"]
    assert ids == [tok.bos_id, *tok.encode(text)]
    assert hf.decode(ids, skip_special_tokens=True) == tok.decode(ids)


@pytest.mark.parametrize("name", KINDS)
def test_specials_keep_their_ids_and_text_that_spells_them_stays_text(exported, name):
    tok, hf, folder = exported[name]
    assert (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id) == (tok.bos_id, tok.eos_id, tok.pad_id)
    assert len(hf) == tok.vocab_size
    spelled = comparable(name, "x <|endoftext|> <bos><eos> <0x41>")
    assert hf(spelled, add_special_tokens=False)["input_ids"] == tok.encode(spelled)
    assert json.loads((folder / TOKENIZER_STATE).read_text()) == tok.state()


def test_python_whitespace_is_what_str_split_splits_on():
    text = "a" + PY_WHITESPACE + "b"
    assert text.split() == ["a", "b"] and "\x1c" in PY_WHITESPACE and "\u200b" not in PY_WHITESPACE


def test_an_imported_folder_gives_back_the_tokenizer_or_wraps_a_foreign_one(exported, tmp_path):
    tok, _, folder = exported["bytelevel_bpe"]
    assert tokenizer_from_state(tokenizer_state_from_folder(folder, {})).state() == tok.state()
    # a folder another tool wrote: its tokenizer.json and the specials its tokenizer_config.json names
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / f).write_bytes((folder / f).read_bytes())
    foreign = tokenizer_from_state(tokenizer_state_from_folder(tmp_path, {}))
    assert foreign.kind == "hf" and (foreign.bos_id, foreign.eos_id, foreign.pad_id) == (tok.bos_id, tok.eos_id, tok.pad_id)
    text = QUIJOTE[:3000] + " <|endoftext|>"
    assert foreign.encode(text) == tok.encode(text) and foreign.decode(foreign.encode(text)) == text
    assert tokenizer_from_state(foreign.state()).encode(text) == foreign.encode(text)
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match="no tokenizer.json"):
        tokenizer_state_from_folder(tmp_path, {})
