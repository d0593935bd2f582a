"""SIGTERM and Ctrl-C after training: in the final evaluation, the report, the export and the registration.

Each cut run ends KILLED with its resume command and a one-line message, and its resume finishes what was
left without training again; a model version exists only for a run that FINISHED and passed its reload check.
Real `mlm-train` processes, real signals, one real sqlite store.
"""

import os
import signal
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from tests.conftest import TINY, sqlite_uri

pytestmark = pytest.mark.slow

AFTER_TEST = {"evaluate", "report"}  # the signal lands just after the test metrics' line: evaluation's end or the plots
TRAIN = [sys.executable, "-m", "mlm_lab.apps.train", *TINY, "name=cut"]


def start(tmp_path, args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": sqlite_uri(tmp_path)}
    return subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def cut(tmp_path, args, pattern, signum):
    """Run `args`, send `signum` once a line holds `pattern`; the exit code and the whole output."""
    proc = start(tmp_path, args)
    output = []
    for line in proc.stdout:
        output.append(line)
        if pattern in line:
            proc.send_signal(signum)
            break
    output.append(proc.stdout.read())
    return proc.wait(timeout=120), "".join(output)


def finish(tmp_path, run_id):
    proc = start(tmp_path, [sys.executable, "-m", "mlm_lab.apps.train", f"resume={run_id}"])
    output = proc.stdout.read()
    return proc.wait(timeout=120), output


def the_run(client):
    (run,) = client.search_runs([client.get_experiment_by_name("cut").experiment_id])
    return run


def versions(client, run_id):
    return client.search_model_versions(f"run_id='{run_id}'")


def assert_killed_with_resume_command(client, code, output, signum, stages):
    run = the_run(client)
    assert code == 128 + signum, output[-3000:]
    assert run.info.status == "KILLED" and run.data.tags["interrupted.stage"] in stages, run.data.tags
    command = f"mlm-train resume={run.info.run_id}"
    assert run.data.tags["resume_command"] == command and run.data.tags["interrupted.step"] == "10"
    assert "after training step 10; checkpoint" in output and command in output
    assert "Traceback" not in output and "database is locked" not in output, output[-3000:]
    assert versions(client, run.info.run_id) == []  # nothing registered for a run that did not finish
    return run.info.run_id


def assert_every_version_finished_and_checked(client):
    for v in client.search_model_versions():
        run = client.get_run(v.run_id)
        assert run.info.status == "FINISHED" and run.data.tags.get("reload_check") == "passed", (v.version, run.info.status)


def test_sigterm_in_the_evaluation_then_in_the_export_each_resume_finishes_without_training_again(tmp_path):
    client = MlflowClient(sqlite_uri(tmp_path))
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


def test_ctrl_c_in_the_evaluation_and_in_the_registration_leave_no_unfinished_version_and_no_lock_storm(tmp_path):
    client = MlflowClient(sqlite_uri(tmp_path))
    code, output = cut(tmp_path, TRAIN, "test: test/exact_match", signal.SIGINT)
    run_id = assert_killed_with_resume_command(client, code, output, signal.SIGINT, AFTER_TEST)
    assert "KeyboardInterrupt" not in output

    # Ctrl-C once the version is being created: the registration and the run's end go on, and the run FINISHES
    resume = [sys.executable, "-m", "mlm_lab.apps.train", f"resume={run_id}"]
    code, output = cut(tmp_path, resume, "registered model 'cut'", signal.SIGINT)
    assert "database is locked" not in output and "Traceback" not in output, output[-3000:]
    run = the_run(client)
    assert run.info.status == "FINISHED", output[-3000:]
    assert [v.version for v in versions(client, run_id)] == [1]
    assert code in (0, 130), output[-3000:]  # 130 when the signal came after the run ended, in the process's own exit
    assert_every_version_finished_and_checked(client)
