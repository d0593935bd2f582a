"""A cache of trained tokenizer models, keyed by the training text and every setting that shapes the result.

Entries live at `<cache root>/tokenizers/<key>/<filename>`; see `mlm_lab.storage.cache_root` for the root.
"""

import hashlib
import json
import logging
from pathlib import Path

from mlm_lab.storage import atomic_write_bytes, cache_root

log = logging.getLogger(__name__)


def training_key(texts: list[str], settings: dict) -> str:
    """sha256 over the canonical settings and the training documents, in order."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for doc in texts:
        # length-prefixed, so ["ab", "c"] and ["a", "bc"] differ
        data = doc.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def entry_path(cache_dir: str | Path | None, key: str, filename: str) -> Path:
    return cache_root(cache_dir) / "tokenizers" / key / filename


def load(cache_dir: str | Path | None, key: str, filename: str, what: str) -> bytes | None:
    """The cached bytes for `key`, or None; logs the hit or the miss."""
    path = entry_path(cache_dir, key, filename)
    if path.is_file():
        log.info("%s: tokenizer cache hit, reusing %s", what, path)
        return path.read_bytes()
    log.info("%s: tokenizer cache miss, training (will cache at %s)", what, path)
    return None


def store(cache_dir: str | Path | None, key: str, filename: str, data: bytes) -> None:
    """Cache `data` for `key`; a cache that cannot be written costs a retrain later, never the run."""
    path = entry_path(cache_dir, key, filename)
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        log.warning("could not write the tokenizer cache entry %s (%s); the next run will train again", path, e)
