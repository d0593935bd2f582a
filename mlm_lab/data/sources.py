"""Documents from files: plain text, JSON lines, JSON, CSV, parquet, or a folder of them.

Every reader hands back text with a leading UTF-8 BOM removed and CRLF turned into LF, so the same story
reads the same from a Windows export and a Unix one, and drops empty documents.
"""

import csv
import hashlib
import json
from pathlib import Path

from mlm_lab.errors import ConfigError, require

FORMATS = ("txt", "jsonl", "json", "csv", "parquet")
BOM = "\ufeff"
_CHUNK = 1 << 24  # bytes of whole lines decoded at a time: big text files never sit in memory twice


def read_documents(
    path: str | Path,
    *,
    text_column: str = "text",
    separator: str | None = None,
    fmt: str | None = None,
    key: str = "data.corpus.path",
) -> tuple[list[str], dict[str, str]]:
    """Documents in `path` (a file or a folder read recursively in sorted order) and {file: sha256} of every file read.

    fmt: one of FORMATS, for files whose suffix does not say it. separator: for .txt, the string between documents
    (e.g. "<|endoftext|>"); without it a .txt file is one document. key: the config key that named `path`, for errors.
    """
    require(fmt is None or fmt in FORMATS, key, f"unknown format {fmt!r}", f"choose one of {', '.join(FORMATS)}")
    files = _list_files(Path(path), fmt, key)
    for file in files:  # cheap header checks first: a missing column fails before gigabytes are read
        _check_columns(file, fmt or _format_of(file), text_column, key)
    documents: list[str] = []
    hashes: dict[str, str] = {}
    for file in files:
        docs, hashes[str(file)] = _READERS[fmt or _format_of(file)](file, text_column, separator, key)
        documents += docs
    require(bool(documents), key, f"{path} holds no documents (only empty text)", f"point {key} at a file with text in it")
    return documents, hashes


def normalise(text: str) -> str:
    """Text without a leading BOM and with LF line ends."""
    return text.removeprefix(BOM).replace("\r\n", "\n")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def sibling_key(key: str, name: str) -> str:
    """The config key `name` next to `key`: sibling_key("data.corpus.path", "sha256") == "data.corpus.sha256"."""
    parent = key.rpartition(".")[0]
    return f"{parent}.{name}" if parent else name


def _format_of(file: Path) -> str:
    return file.suffix.lower().lstrip(".")


def require_exists(path: Path, key: str) -> None:
    require(path.exists(), key, f"{path} does not exist", f"set {key}=/path/to/a/file (or a folder of files, or a URL)")


def _list_files(path: Path, fmt: str | None, key: str) -> list[Path]:
    require_exists(path, key)
    if path.is_file():
        suffix = fmt or _format_of(path)
        known = ", ".join("." + f for f in FORMATS)
        require(suffix in FORMATS, key, f"{path} has an unknown suffix {path.suffix!r}", f"use a {known} file, or rename it")
        return [path]
    # Hidden files (.DS_Store, .gitattributes) and files of other kinds (README.md) are not corpus text.
    files = [
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts) and (fmt or _format_of(p) in FORMATS)
    ]
    kinds = ", ".join("." + f for f in FORMATS)
    require(bool(files), key, f"the folder {path} holds no {kinds} files", f"set {key} to a folder that holds some")
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


def _check_columns(file: Path, fmt: str, column: str, key: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.ParquetFile(file).schema_arrow.names
        except Exception as e:  # pyarrow raises several kinds for a file that is not parquet
            raise ConfigError(f"{key}: {file} is not a readable parquet file ({e}). Fix: point {key} at a parquet file") from None
    elif fmt == "csv":
        with open(file, "rb") as f:
            first = _decode(f.readline(), file, 0, 1, key)
        names = next(csv.reader([normalise(first)]), [])
    else:
        return
    _require_column(column in names, file, column, names, key)


def _require_column(ok: bool, file: Path, column: str, names, key: str) -> None:
    column_key = sibling_key(key, "text_column")
    example = next(iter(names), "NAME")
    require(ok, column_key, f"{file} has no column {column!r}; it has {sorted(names)}", f"pick one, e.g. {column_key}={example}")


def _decode(data: bytes, file: Path, offset: int, line: int, key: str) -> str:
    """UTF-8 text of `data`, which starts at byte `offset` and line `line` of `file`."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        at, where = offset + e.start, line + data.count(b"\n", 0, e.start)
        raise ConfigError(
            f"{key}: {file} is not UTF-8: byte 0x{data[e.start]:02x} at byte offset {at} (line {where}). "
            f"Fix: re-encode it (e.g. `iconv -f latin1 -t utf-8 {file.name} > {file.stem}.utf8{file.suffix}`) and point {key} at the copy"
        ) from None


def _read_txt(file: Path, column: str, separator: str | None, key: str) -> tuple[list[str], str]:
    h = hashlib.sha256()
    docs: list[str] = []
    whole: list[str] = []
    pending, offset, line = "", 0, 1
    with open(file, "rb") as f:
        while lines := f.readlines(_CHUNK):  # whole lines: neither a UTF-8 sequence nor a CRLF is cut in two
            data = b"".join(lines)
            h.update(data)
            text = _decode(data, file, offset, line, key)
            text = normalise(text) if offset == 0 else text.replace("\r\n", "\n")
            offset, line = offset + len(data), line + len(lines)
            if separator is None:
                whole.append(text)
                continue
            parts = (pending + text).split(separator)
            pending = parts.pop()  # may continue in the next chunk
            docs += _clean(parts)
    if separator is None:
        text = "".join(whole)
        return ([text] if text.strip() else []), h.hexdigest()
    return docs + _clean([pending]), h.hexdigest()


def _clean(parts: list[str]) -> list[str]:
    # The separator sits on its own line: the newlines around it belong to it, not to the documents.
    return [p.strip("\n") for p in parts if p.strip()]


def _read_jsonl(file: Path, column: str, separator: str | None, key: str) -> tuple[list[str], str]:
    h = hashlib.sha256()
    docs, offset = [], 0
    with open(file, "rb") as f:
        for number, raw in enumerate(f, start=1):
            h.update(raw)
            text = _decode(raw, file, offset, number, key)
            offset += len(raw)
            if not text.strip():
                continue
            try:
                record = json.loads(text.removeprefix(BOM) if number == 1 else text)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{key}: {file} line {number} is not JSON ({e.msg}). Fix: one JSON object per line") from None
            docs += _text_of(record, file, f"line {number}", column, key)
    return docs, h.hexdigest()


def _read_json(file: Path, column: str, separator: str | None, key: str) -> tuple[list[str], str]:
    data = file.read_bytes()
    try:
        records = json.loads(_decode(data, file, 0, 1, key).removeprefix(BOM))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{key}: {file} is not JSON ({e.msg}, line {e.lineno}). Fix: a list of objects, or one object") from None
    records = records if isinstance(records, list) else [records]
    docs = []
    for i, record in enumerate(records):
        docs += _text_of(record, file, f"item {i}", column, key)
    return docs, hashlib.sha256(data).hexdigest()


def _text_of(record, file: Path, where: str, column: str, key: str) -> list[str]:
    require(isinstance(record, dict), key, f"{file} {where} is {type(record).__name__}, not an object", "store objects with a text field")
    _require_column(column in record, file, column, record.keys(), key)
    value = record[column]
    if value is None:
        return []
    require(isinstance(value, str), sibling_key(key, "text_column"), f"{file} {where}: {column!r} is not text", "name a text field")
    value = normalise(value)
    return [value] if value.strip() else []


def _read_csv(file: Path, column: str, separator: str | None, key: str) -> tuple[list[str], str]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.ConvertOptions(include_columns=[column], column_types={column: pa.string()})
    try:
        table = pacsv.read_csv(file, parse_options=pacsv.ParseOptions(newlines_in_values=True), convert_options=options)
    except pa.ArrowInvalid as e:
        if "UTF8" in str(e) or "UTF-8" in str(e):
            _read_txt(file, column, None, key)  # finds and reports the offending byte and line
        raise ConfigError(f"{key}: {file} is not a readable CSV file ({e}). Fix: write it with a header row and quoted text") from None
    return _strings(table.column(0).to_pylist()), file_sha256(file)


def _read_parquet(file: Path, column: str, separator: str | None, key: str) -> tuple[list[str], str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(file)
    kind = pf.schema_arrow.field(column).type
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    require(text, sibling_key(key, "text_column"), f"{file} column {column!r} holds {kind}, not text", "name a string column")
    docs: list[str] = []
    for batch in pf.iter_batches(columns=[column], batch_size=65536):
        docs += _strings(batch.column(0).to_pylist())
    return docs, file_sha256(file)


def _strings(values: list) -> list[str]:
    return [normalise(v) for v in values if v is not None and v.strip()]


_READERS = {"txt": _read_txt, "jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet}
