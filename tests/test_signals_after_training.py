"""SIGTERM after training, in the final evaluation and then in the export: each cut run ends KILLED with its resume
command and a one-line message, and its resume finishes what was left without training again.
Real `mlm-train` processes, real signals, one real sqlite store.
"""

import signal
import sys

import pytest
from mlflow import MlflowClient

from tests.conftest import fresh_store
from tests.signal_runs import (
    AFTER_TEST,
    TRAIN,
    assert_every_version_finished_and_checked,
    assert_killed_with_resume_command,
    cut,
    finish,
    the_run,
    versions,
)

pytestmark = pytest.mark.slow


def test_sigterm_in_the_evaluation_then_in_the_export_each_resume_finishes_without_training_again(tmp_path):
    client = MlflowClient(fresh_store(tmp_path))  # a migrated store: the runs' startup is not what is tested
    code, output = cut(tmp_path, TRAIN, "test: test/exact_match", signal.SIGTERM)
    run_id = assert_killed_with_resume_command(client, code, output, signal.SIGTERM, AFTER_TEST)
    trained = client.get_metric_history(run_id, "train/loss")
    assert [m.step for m in trained] == [5, 10]

    # resumed, and cut again while the model is logged: the logged model is not registered
    code, output = cut(tmp_path, [sys.executable, "-m", "mlm_lab.apps.train", f"resume={run_id}"], "logging the model", signal.SIGTERM)
    assert "training ended at step 10 before the interruption" in output
    assert assert_killed_with_resume_command(client, code, output, signal.SIGTERM, {"export"}) == run_id

    code, output = finish(tmp_path, run_id)
    assert code == 0, output[-3000:]
    run = the_run(client)
    assert run.info.status == "FINISHED" and run.data.tags["reload_check"] == "passed"
    assert "error" not in run.data.tags and "resume_command" not in run.data.tags  # the interrupted.* tags keep the history
    assert client.get_metric_history(run_id, "train/loss") == trained  # not one more training step
    assert [v.version for v in versions(client, run_id)] == [1] and "registered model: models:/cut/1" in output
    assert {a.path for a in client.list_artifacts(run_id, "plots")}  # the report the first cut stopped
    assert_every_version_finished_and_checked(client)
