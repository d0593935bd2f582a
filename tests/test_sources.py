import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlm_lab.data import sources
from mlm_lab.data.sources import read_documents, sibling_key
from mlm_lab.errors import ConfigError


def write(path, text: str, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def test_txt_is_one_document_with_bom_and_crlf_normalised(tmp_path):
    f = write(tmp_path / "a.txt", "\ufeffline one\r\nline two\r\n")
    docs, files = read_documents(f)
    assert docs == ["line one\nline two\n"]
    assert files == {str(f): hashlib.sha256(f.read_bytes()).hexdigest()}


def test_txt_split_on_separator_lines(tmp_path):
    f = write(
        tmp_path / "s.txt",
        "\ufeff\r\nfirst story\r\nsecond line\r\n<|endoftext|>\r\n\r\n<|endoftext|>\r\nsecond story\r\n<|endoftext|>\r\n",
    )
    docs, _ = read_documents(f, separator="<|endoftext|>")
    assert docs == ["first story\nsecond line", "second story"]  # the empty one between two separators is dropped


def test_separator_split_across_read_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_CHUNK", 8)  # a few lines per chunk: separators and stories straddle chunk ends
    stories = [f"story {i}\nwith ünïcode line {i}" for i in range(50)]
    f = write(tmp_path / "s.txt", "".join(s + "\n<|endoftext|>\n" for s in stories))
    assert read_documents(f, separator="<|endoftext|>")[0] == stories


def test_jsonl_json_csv_parquet(tmp_path):
    jl = write(tmp_path / "a.jsonl", '{"text": "one\\r\\ntwo", "id": 1}\n\n{"text": "three"}\n{"text": ""}\n{"text": null}\n')
    assert read_documents(jl)[0] == ["one\ntwo", "three"]
    js = write(tmp_path / "b.json", json.dumps([{"body": "x"}, {"body": "y"}]))
    assert read_documents(js, text_column="body")[0] == ["x", "y"]
    one = write(tmp_path / "c.json", json.dumps({"text": "single"}))
    assert read_documents(one)[0] == ["single"]
    csv = write(tmp_path / "d.csv", 'id,text\r\n1,"a story,\r\nover two lines"\r\n2,plain\r\n3,\r\n')
    assert read_documents(csv)[0] == ["a story,\nover two lines", "plain"]
    pq.write_table(pa.table({"text": ["p1", None, "p2\r\n"], "n": [1, 2, 3]}), tmp_path / "e.parquet")
    assert read_documents(tmp_path / "e.parquet")[0] == ["p1", "p2\n"]


def test_fmt_overrides_the_suffix(tmp_path):
    f = write(tmp_path / "stories.data", '{"text": "a"}\n')
    assert read_documents(f, fmt="jsonl")[0] == ["a"]
    with pytest.raises(ConfigError, match="unknown format"):
        read_documents(f, fmt="xml")


def test_directory_is_read_recursively_in_sorted_order(tmp_path):
    write(tmp_path / "b" / "2.txt", "b2")
    write(tmp_path / "a.txt", "a")
    write(tmp_path / "b" / "1.jsonl", '{"text": "b1"}\n')
    write(tmp_path / ".hidden.txt", "hidden")
    write(tmp_path / "README.md", "not corpus text")
    docs, files = read_documents(tmp_path)
    assert docs == ["a", "b1", "b2"]
    assert list(files) == [str(tmp_path / "a.txt"), str(tmp_path / "b" / "1.jsonl"), str(tmp_path / "b" / "2.txt")]


def test_missing_path_names_it_and_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.corpus\.val_path: .*nope\.txt does not exist.*data\.corpus\.val_path="):
        read_documents(tmp_path / "nope.txt", key="data.corpus.val_path")


def test_not_utf8_names_file_offset_and_line(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes("first line\nsecond ñ line\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.txt is not UTF-8: byte 0xf1 at byte offset 18 \(line 2\).*iconv"):
        read_documents(f)
    with pytest.raises(ConfigError, match=r"line 2"):
        read_documents(f, separator="<|endoftext|>")
    csv = tmp_path / "bad.csv"
    csv.write_bytes("text\nok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"bad\.csv is not UTF-8: byte 0xe9 at byte offset 11 \(line 3\)"):
        read_documents(csv)


@pytest.mark.parametrize("name", ["x.parquet", "x.csv", "x.jsonl", "x.json"])
def test_missing_column_lists_the_columns_and_how_to_pick(tmp_path, name):
    f = tmp_path / name
    if name.endswith("parquet"):
        pq.write_table(pa.table({"story": ["s"], "id": [1]}), f)
    elif name.endswith("csv"):
        write(f, "id,story\n1,s\n")
    else:
        write(f, '{"id": 1, "story": "s"}\n' if name.endswith("jsonl") else '[{"id": 1, "story": "s"}]')
    with pytest.raises(ConfigError, match=r"data\.corpus\.text_column: .*no column 'text'; it has \['id', 'story'\].*text_column="):
        read_documents(f)


def test_missing_parquet_column_fails_before_other_files_are_read(tmp_path, monkeypatch):
    write(tmp_path / "a.txt", "text")
    pq.write_table(pa.table({"story": ["s"]}), tmp_path / "b.parquet")
    monkeypatch.setitem(sources._READERS, "txt", lambda *a: pytest.fail("read before the header checks"))
    with pytest.raises(ConfigError, match="no column 'text'"):
        read_documents(tmp_path)


def test_empty_corpus_and_unknown_suffix(tmp_path):
    with pytest.raises(ConfigError, match="holds no documents"):
        read_documents(write(tmp_path / "empty.txt", "\n\n  \n"))
    with pytest.raises(ConfigError, match="holds no documents"):
        read_documents(write(tmp_path / "seps.txt", "<|endoftext|>\n<|endoftext|>\n"), separator="<|endoftext|>")
    with pytest.raises(ConfigError, match=r"unknown suffix '\.docx'"):
        read_documents(write(tmp_path / "a.docx", "x"))
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ConfigError, match="holds no .txt"):
        read_documents(tmp_path / "nothing")


def test_bad_json_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"line 2 is not JSON"):
        read_documents(write(tmp_path / "a.jsonl", '{"text": "a"}\n{"text": \n'))
    with pytest.raises(ConfigError, match=r"item 1 is str, not an object"):
        read_documents(write(tmp_path / "a.json", '[{"text": "a"}, "b"]'))


def test_sibling_key():
    assert sibling_key("data.corpus.path", "sha256") == "data.corpus.sha256"
    assert sibling_key("path", "sha256") == "sha256"
