"""Faults a run meets before it starts: the tracking store it was pointed at is not there."""

import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.mlflow_tracker import MlflowTracker
from tests.conftest import TINY, free_port, run_cli


def test_an_unreachable_tracking_server_is_refused_before_training(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli(["mlm_lab.apps.train", *TINY, f"tracking.uri={uri}"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert f"the tracking server {uri} does not answer" in output and "Fix: start it" in output
    assert "step 5" not in output and not list(tmp_path.rglob("*.pt"))  # refused before the first step


def test_a_sqlite_store_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="the folder of the sqlite store .* does not exist"):
        MlflowTracker(uri=f"sqlite:///{tmp_path / 'nope' / 'mlflow.db'}", experiment="x").check_reachable()
    MlflowTracker(uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="x").check_reachable()  # a new file is fine


@pytest.mark.slow
def test_sigkill_at_random_moments_always_leaves_a_loadable_latest_and_resume_finishes(tmp_path):
    """Killed with SIGKILL three times at random moments (checkpoints written every step, so some kills land mid-write)."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from mlm_lab.training.checkpoint import load_checkpoint

    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    base = [
        sys.executable,
        "-m",
        "mlm_lab.apps.train",
        *TINY,
        "trainer.max_steps=400",
        "trainer.checkpoint_every=1",
        "trainer.eval_every=100",
    ]
    base += ["tracking=none", "hydra.run.dir=run"]
    resume = [sys.executable, "-m", "mlm_lab.apps.train", "resume=run/checkpoints", "tracking=none", "hydra.run.dir=run"]  # its own config
    latest = tmp_path / "run" / "checkpoints" / "latest.pt"
    steps = []
    for attempt in range(3):
        args = base if attempt == 0 else resume
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:  # training has started: its first progress line
            if " step " in line and "/400" in line:
                break
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        checkpoint = load_checkpoint(latest)  # complete and loadable, whenever the kill landed
        steps.append(checkpoint["step"])
        assert checkpoint["step"] >= (steps[-2] if len(steps) > 1 else 1), f"random seed {seed}: steps {steps}"  # never back
    finished = subprocess.run(resume, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, f"random seed {seed}, kills at steps {steps}: {finished.stderr[-3000:]}"
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "final.pt")["step"] == 400


def test_corrupt_truncated_or_foreign_tokenizer_files_are_named(tmp_path):
    import base64
    import json

    from mlm_lab.tokenizers import load_tokenizer
    from mlm_lab.tokenizers.char import CharTokenizer

    folder = tmp_path / "tok"
    CharTokenizer().save(folder)
    text = (folder / "tokenizer.json").read_text()
    cases = {
        "truncated": text[: len(text) // 2],
        "binary": b"\x80\x02PK\x03\x04 not json",
        "a list": json.dumps(["a", "b"]),
        "corrupt model": json.dumps({"kind": "sentencepiece_bpe", "vocab_size": 300, "model": base64.b64encode(b"garbage").decode()}),
    }
    messages = {
        "truncated": "is not a tokenizer file: truncated or of another type",
        "binary": "is not a tokenizer file: truncated or of another type",
        "a list": "holds a JSON list, not a tokenizer state",
        "corrupt model": "the sentencepiece_bpe tokenizer could not be rebuilt",
    }
    for name, content in cases.items():
        path = folder / "tokenizer.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(ConfigError, match=messages[name]) as caught:
            load_tokenizer(folder)
        assert str(path) in str(caught.value) and "Fix:" in str(caught.value), name


def test_truncated_or_foreign_checkpoints_are_named(tmp_path):
    import torch

    from mlm_lab.training.checkpoint import load_checkpoint, save_checkpoint

    good = save_checkpoint({"step": 3, "w": torch.ones(1000)}, tmp_path / "latest.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "notes.pt"
    foreign.write_text("these are not weights")
    for path in (truncated, foreign):
        with pytest.raises(ValueError, match=f"checkpoint {path} could not be read safely"):
            load_checkpoint(path)
    assert load_checkpoint(good)["step"] == 3
