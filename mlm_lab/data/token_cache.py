"""Tokenised corpora on disk: written once, memory-mapped by every run that uses the same text and tokenizer.

A split is stored as `<split>.bin` (the stream `<bos> doc <eos> <bos> doc <eos> ...`, uint16 when the
vocabulary fits, else uint32) and `<split>.json` (dtype, token count, UTF-8 bytes of the documents).
The folder is keyed by (corpus fingerprint, tokenizer sha256), so a sweep of twenty runs tokenises once.
"""

import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mlm_lab.data.task import cannot_encode
from mlm_lab.data.windows import frame
from mlm_lab.storage import atomic_write_bytes

log = logging.getLogger(__name__)


@dataclass
class TokenStream:
    """One split's tokens (memory-mapped) and the number of text bytes behind them."""

    tokens: np.ndarray
    n_bytes: int
    n_documents: int
    path: Path


FORMAT = 1  # bump when the stream layout or what `encode` does changes: old token files are then ignored


def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for dist in ("sentencepiece", "tokenizers"):  # an upgrade may encode the same text differently
        try:
            versions.append(f"{dist}={version(dist)}")
        except PackageNotFoundError:
            versions.append(f"{dist}=none")
    return ",".join(versions)


def cache_key(corpus_fingerprint: str, tokenizer_sha256: str) -> str:
    material = f"{FORMAT}:{corpus_fingerprint}:{tokenizer_sha256}:{_library_versions()}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def load_or_tokenize(directory: Path, split: str, documents: list[str], tokenizer) -> TokenStream:
    """The split's token stream from `directory`, tokenising and writing it first if it is not there."""
    bin_path, meta_path = directory / f"{split}.bin", directory / f"{split}.json"
    if _complete(bin_path, meta_path):
        log.info("token cache hit: %s", bin_path)
    else:
        _write(bin_path, meta_path, documents, tokenizer)
    meta = json.loads(meta_path.read_text())
    tokens = np.memmap(bin_path, dtype=np.dtype(meta["dtype"]), mode="r", shape=(meta["n_tokens"],))
    return TokenStream(tokens, meta["n_bytes"], meta["n_documents"], bin_path)


def _complete(bin_path: Path, meta_path: Path) -> bool:
    """The meta file is written last; a token file of another size than it records is not trusted."""
    if not (meta_path.is_file() and bin_path.is_file()):
        return False
    meta = json.loads(meta_path.read_text())
    return bin_path.stat().st_size == meta["n_tokens"] * np.dtype(meta["dtype"]).itemsize


def _write(bin_path: Path, meta_path: Path, documents: list[str], tokenizer) -> None:
    """Encode documents to a temporary file, then rename: a killed run never leaves a half-written split."""
    bin_path.parent.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(tokenizer.vocab_size)
    tmp = bin_path.with_suffix(f".bin.{os.getpid()}.tmp")
    n_tokens = n_bytes = 0
    bar = tqdm(documents, desc=f"tokenising {bin_path.parent.name[:8]}/{bin_path.stem}", unit="doc", disable=not sys.stderr.isatty())
    try:
        with open(tmp, "wb") as f:
            for doc in bar:
                try:
                    ids = frame(tokenizer, doc)
                except ValueError as e:
                    raise cannot_encode(tokenizer, e) from None
                f.write(np.asarray(ids, dtype=dtype).tobytes())
                n_tokens += len(ids)
                n_bytes += len(doc.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, bin_path)
    finally:
        tmp.unlink(missing_ok=True)  # interrupted: no multi-GB leftover
    meta = {"dtype": dtype.name, "n_tokens": n_tokens, "n_bytes": n_bytes, "n_documents": len(documents)}
    atomic_write_bytes(meta_path, json.dumps(meta).encode())  # the meta file is the commit mark: written last
    log.info(
        "tokenised %s: %d documents, %d tokens, %d bytes (%.2f bytes/token)",
        bin_path,
        len(documents),
        n_tokens,
        n_bytes,
        n_bytes / max(n_tokens, 1),
    )
