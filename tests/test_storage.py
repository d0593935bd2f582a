"""The cache root's precedence, and atomic writes: a reader sees the old file or the whole new one, never a part."""

import threading
from pathlib import Path

import pytest

from mlm_lab.storage import ENV_VAR, atomic_write_bytes, cache_root


def test_cache_root_is_the_argument_then_the_environment_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_root("~/x") == Path.home() / "x"
    assert cache_root() == tmp_path / "env"
    monkeypatch.setenv(ENV_VAR, "")
    assert cache_root() == Path.home() / ".cache" / "mlm_lab"


def test_atomic_write_creates_folders_and_replaces_the_file(tmp_path):
    path = tmp_path / "a" / "b" / "entry.bin"
    atomic_write_bytes(path, b"old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and [p.name for p in path.parent.iterdir()] == ["entry.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "entry.bin"
    atomic_write_bytes(path, b"old contents")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # fails inside the write, after the temporary file exists
    assert path.read_bytes() == b"old contents" and [p.name for p in tmp_path.iterdir()] == ["entry.bin"]


def test_concurrent_writers_and_a_reader_only_ever_see_whole_files(tmp_path):
    path = tmp_path / "entry.bin"
    versions = [bytes([i]) * 200_000 for i in range(1, 5)]  # large enough that a plain write would be seen half done
    atomic_write_bytes(path, versions[0])
    seen, done = set(), threading.Event()

    def read():
        while not done.is_set():
            seen.add(path.read_bytes())

    def write(data):
        for _ in range(20):
            atomic_write_bytes(path, data)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(v,)) for v in versions]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    done.set()
    reader.join()
    assert seen and seen <= set(versions)
    assert path.read_bytes() in versions and [p.name for p in tmp_path.iterdir()] == ["entry.bin"]
