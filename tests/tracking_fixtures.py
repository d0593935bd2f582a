"""Helpers for the tracking unit tests: a fresh sqlite store in a second, and a tiny model folder without training.

A new sqlite store runs MLflow's schema migrations (seconds each): `fresh_store` (in conftest.py) copies one
migrated once per process.
"""

import tempfile
from pathlib import Path

import torch
from mlflow import MlflowClient

from mlm_lab.data.arithmetic_format import ArithmeticFormat
from mlm_lab.model_dir import write_model_dir
from mlm_lab.models.builders import gpt2
from mlm_lab.tokenizers.char import CharTokenizer
from tests.conftest import fresh_store, sqlite_uri  # noqa: F401  (fresh_store: the tracking tests' import)


def artifact_text(uri: str, run_id: str, path: str) -> str:
    """A run's text artifact, read from the store `uri` (not MLflow's process-wide tracking URI, which other tests set)."""
    with tempfile.TemporaryDirectory() as folder:
        return Path(MlflowClient(uri).download_artifacts(run_id, path, folder)).read_text()


def tiny_model_dir(directory: Path) -> Path:
    """An untrained one-layer model's folder, as the runner exports it (the same weights each call)."""
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = gpt2(tok.vocab_size, context_length=16, d_model=16, n_layers=1, n_heads=2)
    return write_model_dir(directory, model, tok, ArithmeticFormat(operand_width=2), {"max_new_tokens": 3}, {"name": "tiny"})
