"""Real `mlm-train` processes cut by real signals after training, against one sqlite store: the helpers of
tests/test_signals_after_training.py and tests/test_signals_in_registration.py."""

import os
import subprocess
import sys

from tests.conftest import TINY, sqlite_uri

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
