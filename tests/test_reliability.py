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
