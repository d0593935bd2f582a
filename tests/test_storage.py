"""The cache root's precedence, and atomic writes: a reader sees the old file or the whole new one, never a part."""

import threading

import pytest

from mlm_lab.storage import atomic_write_bytes, cache_root


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MLM_LAB_CACHE", str(tmp_path / "env"))
    assert cache_root(str(tmp_path / "arg")) == tmp_path / "arg"
    assert cache_root(None) == tmp_path / "env"
    monkeypatch.delenv("MLM_LAB_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root(None) == tmp_path / "home" / ".cache" / "mlm_lab"


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a" / "b" / "model"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two" and [p.name for p in path.parent.iterdir()] == ["model"]


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
