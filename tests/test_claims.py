"""claims.py through sweep.py, in one real sqlite store: a job another live process holds is skipped, a stale claim
(its process gone, or its run FAILED or KILLED) is taken over, and a launch leaves the parent to the one still running.

The other processes are real: a `sleep` that is alive, a Python that has exited.
"""

import json
import math
import subprocess
import sys

import mlflow
import pytest

from mlm_lab.tracking import claims
from mlm_lab.tracking import sweep as sweep_lib
from mlm_lab.tracking.sweep import close_parent, finished_objective, open_parent, overrides_key, release_claim, sweep_tracker
from tests.test_sweep import config, here  # noqa: F401  (here: the fixture of a fresh store in the working directory)

JOB = ["optimizer.lr=0.001"]


@pytest.fixture
def sweep(here):  # noqa: F811
    cfg = config(here, swept=("optimizer.lr=0.001,0.01",))
    yield open_parent(sweep_tracker(cfg), cfg), cfg
    sweep_lib._claimed = None


@pytest.fixture
def alive():
    """The pid of a process that is running."""
    process = subprocess.Popen(["sleep", "60"])
    yield process.pid
    process.kill()
    process.wait()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def plant(client, sweep, pid: int, host: str | None = None) -> claims.Claim:
    """A claim on JOB as another process would have written it."""
    claim = claims.Claim(host or claims.socket.gethostname(), pid, f"token{pid}", "2030-01-02T03:04:05+00:00")
    client.set_tag(sweep.parent_run_id, claims.tag(overrides_key(JOB)), json.dumps(claims.asdict(claim)))
    return claim


def holder_pid(client, sweep) -> int:
    return json.loads(client.get_run(sweep.parent_run_id).data.tags[claims.tag(overrides_key(JOB))])["pid"]


def test_a_job_another_live_process_holds_is_skipped_until_its_process_is_gone(sweep, alive, caplog):
    sweep, _ = sweep
    client = mlflow.MlflowClient(sweep.tracking_uri)
    plant(client, sweep, alive)
    caplog.set_level("INFO")
    assert math.isnan(finished_objective(sweep, JOB))
    assert f"skipping optimizer.lr=0.001: process {alive} on" in caplog.text and holder_pid(client, sweep) == alive
    plant(client, sweep, dead_pid())
    assert finished_objective(sweep, JOB) is None  # taken over
    assert holder_pid(client, sweep) == claims.os.getpid() and "taking over the stale claim" in caplog.text


def test_a_claim_whose_run_ended_failed_or_killed_is_stale_even_from_a_live_process(sweep, alive):
    sweep, _ = sweep
    client = mlflow.MlflowClient(sweep.tracking_uri)
    claim = plant(client, sweep, alive)
    experiment_id = client.get_run(sweep.parent_run_id).info.experiment_id
    run = client.create_run(experiment_id, tags={claims.TOKEN_TAG: claim.token, "mlflow.parentRunId": sweep.parent_run_id})
    assert math.isnan(finished_objective(sweep, JOB))  # its run still runs
    client.set_terminated(run.info.run_id, "KILLED")
    assert finished_objective(sweep, JOB) is None


def test_another_hosts_claim_stays_live_until_its_run_ends(sweep):
    sweep, _ = sweep
    client = mlflow.MlflowClient(sweep.tracking_uri)
    claim = plant(client, sweep, 1, host="elsewhere")  # pid 1 is alive here, but it is not that host's process
    assert math.isnan(finished_objective(sweep, JOB))
    experiment_id = client.get_run(sweep.parent_run_id).info.experiment_id
    run = client.create_run(experiment_id, tags={claims.TOKEN_TAG: claim.token})
    client.set_terminated(run.info.run_id, "FAILED")
    assert finished_objective(sweep, JOB) is None


def test_the_claim_is_released_once_the_job_ended_and_its_child_carries_the_token(sweep):
    sweep, _ = sweep
    client = mlflow.MlflowClient(sweep.tracking_uri)
    assert finished_objective(sweep, JOB) is None
    token = sweep_lib._claimed[1].token
    assert sweep_lib.child_tags(sweep, JOB)[claims.TOKEN_TAG] == token
    assert finished_objective(sweep, JOB) is None  # this process's own claim: still its job
    release_claim(sweep)
    assert claims.tag(overrides_key(JOB)) not in client.get_run(sweep.parent_run_id).data.tags
    assert claims.TOKEN_TAG not in sweep_lib.child_tags(sweep, JOB)


def test_a_launch_that_ends_first_leaves_the_parent_to_the_one_still_running(sweep, alive):
    sweep, cfg = sweep
    client = mlflow.MlflowClient(sweep.tracking_uri)
    plant(client, sweep, alive)
    close_parent(sweep, cfg)
    assert client.get_run(sweep.parent_run_id).info.status == "RUNNING"
    plant(client, sweep, dead_pid())
    close_parent(sweep, cfg)
    assert client.get_run(sweep.parent_run_id).info.status == "FINISHED"
