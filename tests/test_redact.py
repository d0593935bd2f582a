"""No credential reaches the tracking store, the checkpoints or the exported model."""

from pathlib import Path

import mlflow
import pytest

from mlm_lab.tracking.redact import REDACTED, redact_config, redact_overrides
from tests.conftest import TINY, fresh_store, run_cli

ENV_SECRET = "env-sentinel-3f9a"
LITERAL_SECRET = "literal-sentinel-7c1d"


def test_credentials_keep_their_interpolation_or_become_stars():
    raw = {
        "data": {"hf_token": "${oc.env:HF_TOKEN}", "max_tokens": 5, "max_new_tokens": 64, "url": "https://x"},
        "tracking": {"api_key": "abc123", "password": "hunter2", "monkey": "ok"},
        "headers": {"authorization": "${oc.env:MY_SECRET}", "plain": "${oc.env:HOME}"},
        "tokenizer": {"vocab_size": 4096},
        "list_key": ["a", "b"],
    }
    resolved = {
        "data": {"hf_token": "hf_real", "max_tokens": 5, "max_new_tokens": 64, "url": "https://x"},
        "tracking": {"api_key": "abc123", "password": "hunter2", "monkey": "ok"},
        "headers": {"authorization": "Bearer real", "plain": "/root"},
        "tokenizer": {"vocab_size": 4096},
        "list_key": ["a", "b"],
    }
    out = redact_config(resolved, raw)
    assert out["data"] == {"hf_token": "${oc.env:HF_TOKEN}", "max_tokens": 5, "max_new_tokens": 64, "url": "https://x"}
    assert out["tracking"] == {"api_key": REDACTED, "password": REDACTED, "monkey": "ok"}
    assert out["headers"] == {"authorization": "${oc.env:MY_SECRET}", "plain": "/root"}  # the env var's name gives it away
    assert out["tokenizer"] == {"vocab_size": 4096} and out["list_key"] == REDACTED
    assert redact_overrides(["+data.hf_token=abc", "trainer.max_tokens=5", "+x.secret=${oc.env:S}", "model=llama", "-m"]) == [
        "+data.hf_token=***",
        "trainer.max_tokens=5",
        "+x.secret=${oc.env:S}",
        "model=llama",
        "-m",
    ]


@pytest.mark.slow
def test_a_run_logs_no_credential_anywhere(tmp_path, monkeypatch):
    """A real run given one secret through the environment and one on the command line: neither is found in any file it wrote."""
    monkeypatch.setenv("MLM_TEST_TOKEN", ENV_SECRET)
    uri = fresh_store(tmp_path)
    args = [*TINY, "+hf_token=${oc.env:MLM_TEST_TOKEN}", f"+api_key={LITERAL_SECRET}", "hydra.run.dir=out"]
    result = run_cli(["mlm_lab.apps.train", *args], cwd=tmp_path, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-3000:]
    run = mlflow.MlflowClient(uri).search_runs([mlflow.MlflowClient(uri).get_experiment_by_name("arithmetic").experiment_id])[0]
    assert run.data.params["hf_token"] == "${oc.env:MLM_TEST_TOKEN}" and run.data.params["api_key"] == REDACTED
    for value in [*run.data.params.values(), *run.data.tags.values()]:
        assert ENV_SECRET not in value and LITERAL_SECRET not in value
    # every artifact in the store (config.yaml, overrides.txt, checkpoints, the model) and every local output
    # (Hydra's own .hydra/ keeps the command line as typed, locally, as Hydra always does)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and ".hydra" not in p.parts]
    assert any(p.name == "final.pt" for p in files) and any(p.name == "overrides.txt" for p in files)
    for path in files:
        data = Path(path).read_bytes()
        assert ENV_SECRET.encode() not in data and LITERAL_SECRET.encode() not in data, path
