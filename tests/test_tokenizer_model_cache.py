"""The trained-tokenizer cache: its keys, loads and stores (the cache root and atomic writes: test_storage.py)."""

import logging

from mlm_lab.tokenizers import model_cache as cache


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
