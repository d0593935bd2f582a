import json

import numpy as np

from mlm_lab.data.token_cache import cache_key, load_or_tokenize, token_dtype
from mlm_lab.tokenizers.char import CharTokenizer

DOCS = ["abc", "ba", "cab c"]


def test_stream_is_bos_doc_eos_per_document_with_utf8_byte_count(tmp_path):
    tok = CharTokenizer(alphabet="abc ñ")
    stream = load_or_tokenize(tmp_path, "train", DOCS + ["ñ"], tok)
    expected = []
    for doc in DOCS + ["ñ"]:
        expected += [tok.bos_id, *tok.encode(doc), tok.eos_id]
    assert stream.tokens.tolist() == expected
    assert stream.tokens.dtype == np.uint16
    assert stream.n_bytes == len("".join(DOCS).encode()) + 2  # ñ is two UTF-8 bytes
    assert stream.n_documents == 4


def test_second_load_reads_the_file_without_tokenising(tmp_path):
    tok = CharTokenizer(alphabet="abc ")
    load_or_tokenize(tmp_path, "val", DOCS, tok)
    mtime = (tmp_path / "val.bin").stat().st_mtime_ns

    class Refuses(CharTokenizer):
        def encode(self, text):
            raise AssertionError("tokenised again")

    again = load_or_tokenize(tmp_path, "val", DOCS, Refuses(alphabet="abc "))
    assert (tmp_path / "val.bin").stat().st_mtime_ns == mtime
    assert again.tokens.tolist()[:2] == [tok.bos_id, tok.encode("a")[0]]


def test_a_split_without_its_meta_file_is_rewritten_not_read(tmp_path):
    tok = CharTokenizer(alphabet="abc ")
    (tmp_path / "train.bin").write_bytes(b"\x01")  # a half-written file from a killed run
    stream = load_or_tokenize(tmp_path, "train", DOCS, tok)
    assert len(stream.tokens) == sum(len(d) + 2 for d in DOCS)
    assert json.loads((tmp_path / "train.json").read_text())["n_tokens"] == len(stream.tokens)
    assert not list(tmp_path.glob("*.tmp"))


def test_dtype_is_uint16_when_the_vocabulary_fits_else_uint32():
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


def test_cache_key_changes_with_corpus_and_tokenizer():
    keys = {cache_key("a", "t"), cache_key("b", "t"), cache_key("a", "u")}
    assert len(keys) == 3
