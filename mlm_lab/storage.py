"""Where mlm_lab keeps things worth computing once (trained tokenizers), and how it writes them safely."""

import os
import tempfile
from pathlib import Path

ENV_VAR = "MLM_LAB_CACHE"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: `cache_dir` if given, else $MLM_LAB_CACHE, else ~/.cache/mlm_lab."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return Path.home() / ".cache" / "mlm_lab"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one, never a part.

    Two runs that fill the same cache entry at once both succeed: the last os.replace wins, and
    both wrote the same bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
