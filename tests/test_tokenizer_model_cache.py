"""The cache root (argument, $MLM_LAB_CACHE, home), atomic writes, and the trained-tokenizer cache keys."""

import logging

from mlm_lab.storage import atomic_write_bytes, cache_root
from mlm_lab.tokenizers import model_cache as cache


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


def test_training_key_depends_on_every_input():
    key = cache.training_key(["ab", "c"], {"vocab_size": 10})
    assert key == cache.training_key(["ab", "c"], {"vocab_size": 10})
    assert key != cache.training_key(["a", "bc"], {"vocab_size": 10})  # document boundaries count
    assert key != cache.training_key(["ab", "c"], {"vocab_size": 11})
    assert key != cache.training_key(["ab", "c", ""], {"vocab_size": 10})


def test_load_and_store(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="mlm_lab.tokenizers.model_cache"):
        assert cache.load(tmp_path, "k", "tokenizer.model", "test") is None
        cache.store(tmp_path, "k", "tokenizer.model", b"model")
        assert cache.load(tmp_path, "k", "tokenizer.model", "test") == b"model"
    assert "cache miss" in caplog.text and "cache hit" in caplog.text
    assert (tmp_path / "tokenizers" / "k" / "tokenizer.model").read_bytes() == b"model"


def test_an_unwritable_cache_only_warns(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="mlm_lab.tokenizers.model_cache"):
        cache.store(blocker, "k", "tokenizer.model", b"model")
    assert "could not write" in caplog.text
