"""Faults a run meets before it starts: the tracking store it was pointed at is not there."""

import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.mlflow_tracker import MlflowTracker
from tests.conftest import TINY, free_port, run_cli


def test_an_unreachable_tracking_server_is_refused_before_training(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli(["mlm_lab.train", *TINY, f"tracking.uri={uri}"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert f"the tracking server {uri} does not answer" in output and "Fix: start it" in output
    assert "step 5" not in output and not list(tmp_path.rglob("*.pt"))  # refused before the first step


def test_a_sqlite_store_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="the folder of the sqlite store .* does not exist"):
        MlflowTracker(uri=f"sqlite:///{tmp_path / 'nope' / 'mlflow.db'}", experiment="x").check_reachable()
    MlflowTracker(uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="x").check_reachable()  # a new file is fine


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
    base = [sys.executable, "-m", "mlm_lab.train", *TINY, "trainer.max_steps=400", "trainer.checkpoint_every=1", "trainer.eval_every=100"]
    base += ["tracking=none", "hydra.run.dir=run"]
    resume = [sys.executable, "-m", "mlm_lab.train", "resume=run/checkpoints", "tracking=none", "hydra.run.dir=run"]  # its own config
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
