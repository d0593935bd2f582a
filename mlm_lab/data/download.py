"""Files fetched once over HTTP into the cache, resumed after a dropped connection, checked against a sha256."""

import fcntl
import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from mlm_lab.data.sources import file_sha256, sibling_key
from mlm_lab.errors import ConfigError, require
from mlm_lab.storage import cache_root

ATTEMPTS = 3  # connections per fetch; each one after a drop resumes where the last stopped
_BLOCK = 1 << 20


def is_url(path: str | Path) -> bool:
    return isinstance(path, str) and path.startswith(("http://", "https://"))


def resolve(path_or_url: str | Path, cache_dir: str | None, sha256: str | None = None, key: str = "data.corpus.path") -> Path:
    """A local path for `path_or_url`: URLs are fetched into the cache; local files are checked against `sha256` if given."""
    if is_url(path_or_url):
        return fetch(str(path_or_url), cache_dir, sha256=sha256, key=key)
    path = Path(str(path_or_url).removeprefix("file://")).expanduser()
    if sha256 and path.is_file():
        actual = file_sha256(path)
        _require_hash(actual == sha256.lower(), str(path), sha256, actual, key, "")
    return path


def download_path(url: str, cache_dir: str | None) -> Path:
    """Where `url` is cached: keyed by the whole URL, named after its last path segment (its suffix picks the reader)."""
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name or "download"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return cache_root(cache_dir) / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"


def fetch(
    url: str, cache_dir: str | None, *, sha256: str | None = None, key: str = "data.corpus.path", progress: bool = True, timeout: float = 60
) -> Path:
    """The cached copy of `url`, downloaded first if needed.

    sha256: the expected hash; a download that does not match is deleted. key: the config key that named the URL.
    """
    target = download_path(url, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    # one downloader per file: parallel sweep jobs on a cold cache wait here instead of sharing one .part
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch_locked(url, target, sha256.lower() if sha256 else None, key, progress, timeout)


def _fetch_locked(url: str, target: Path, expected: str | None, key: str, progress: bool, timeout: float) -> Path:
    if target.is_file():
        if expected is None or file_sha256(target) == expected:
            return target
        target.unlink()  # a stale or damaged copy: fetch it again and check that
    part = target.with_name(target.name + ".part")
    for _ in range(ATTEMPTS):
        if _download(url, part, key, progress, timeout):
            break
    else:
        have = part.stat().st_size if part.exists() else 0
        raise ConfigError(
            f"{key}: the download of {url} kept breaking off ({have} bytes kept in {part}). "
            f"Fix: run again to resume it, or download it yourself and set {key}=/local/file"
        )
    actual = file_sha256(part)
    if expected is not None and actual != expected:
        part.unlink()
    _require_hash(expected is None or actual == expected, url, expected, actual, key, " (the download was deleted)")
    os.replace(part, target)  # atomic: the cache never holds half a file under the final name
    return target


def _require_hash(ok: bool, what: str, expected: str | None, actual: str, key: str, note: str) -> None:
    sha_key = sibling_key(key, "sha256")
    problem = f"{what} has sha256 {actual}, but {sha_key} expects {expected}{note}"
    require(ok, sha_key, problem, f"check the source; if this file is the one you want, set {sha_key}={actual}")


def _download(url: str, part: Path, key: str, progress: bool, timeout: float) -> bool:
    """One connection appending to `part`; True when the file is complete, False when the connection dropped."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "mlm_lab", **({"Range": f"bytes={start}-"} if start else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # the partial file is no prefix of what the server has now
            part.unlink()
            return False
        raise ConfigError(f"{key}: {url} answered HTTP {e.code} {e.reason}. Fix: check the URL, or set {key}=/local/file") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ConfigError(
            f"{key}: cannot reach {url} ({reason}) and there is no cached copy. "
            f"Fix: connect to the network, or download the file elsewhere and set {key}=/local/file"
        ) from None
    with response:
        resumed = start and response.status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {start}-")
        start = start if resumed else 0  # a server that ignores Range sends the whole file: start over
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        dropped = False
        show = progress and sys.stderr.isatty()
        with (
            open(part, "ab" if start else "wb") as f,
            tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=part.stem, disable=not show) as bar,
        ):
            try:
                while block := response.read(_BLOCK):
                    f.write(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException):
                dropped = True  # keep what arrived; the next attempt asks for the rest
    size = part.stat().st_size
    return not dropped and (total is None or size >= total)
