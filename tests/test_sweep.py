"""sweep.py's parts, fast: the tracker and parent run of a sweep, its children's tags, skipping finished jobs.

tests/test_sweeps.py runs whole sweeps through the CLI.
"""

import mlflow
import pytest
import yaml
from omegaconf import open_dict

from mlm_lab.errors import ConfigError
from mlm_lab.tracking import sweep as sweep_lib
from mlm_lab.tracking.runs import DIRECTION_TAG, OBJECTIVE_TAG, OVERRIDES_TAG, SWEEP_TAG
from mlm_lab.tracking.sweep import (
    Sweep,
    SweepCallback,
    child_tags,
    close_parent,
    cpu_share,
    finished_objective,
    open_parent,
    overrides_key,
    sweep_tracker,
)
from tests.conftest import compose_config, sqlite_uri
from tests.tracking_fixtures import artifact_text, fresh_store


def config(tmp_path, *overrides, swept: tuple[str, ...] = ()):
    """A composed config with its Hydra node, as a multirun's callback gets it; `swept` as `-m key=a,b` records them."""
    tracked = [] if "tracking=none" in overrides else [f"tracking.uri={fresh_store(tmp_path)}"]
    cfg = compose_config([*tracked, f"hydra.sweep.dir={tmp_path / 'multirun'}", *overrides], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.overrides.task = [*cfg.hydra.overrides.task, *swept]
    return cfg


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # artifacts go to ./mlruns
    fresh_store(tmp_path)
    return tmp_path


def test_the_sweep_tracker_is_made_from_the_configs_fields(here):
    tracker = sweep_tracker(config(here, "tracking.experiment=search"))
    assert tracker.keeps_runs and tracker.flush_timeout == 60
    assert tracker.resolved_uri == sqlite_uri(here) and tracker.experiment == "search"
    assert not sweep_tracker(config(here, "tracking=none")).keeps_runs
    cfg = config(here)
    with open_dict(cfg):
        cfg.tracking._target_ = "my.Tracker"
    with pytest.raises(ConfigError, match="tracking._target_: is 'my.Tracker'.*Fix: use tracking=mlflow or tracking=none"):
        sweep_tracker(cfg)
    with pytest.raises(ConfigError, match="tracking.experiment"):
        sweep_tracker(config(here, "tracking.experiment=''"))


def test_an_untracked_sweep_opens_no_parent_and_an_unusable_store_stops_it(here):
    callback = SweepCallback()
    callback.on_multirun_start(config(here, "tracking=none"))
    assert callback.sweep is None
    assert [e.name for e in mlflow.MlflowClient(sqlite_uri(here)).search_experiments()] == ["Default"]  # no parent run anywhere
    with pytest.raises(SystemExit) as stopped:
        SweepCallback().on_multirun_start(config(here, f"tracking.uri=sqlite:///{here / 'nope' / 'x.db'}"))
    assert stopped.value.code == 2


def test_a_relaunch_reopens_the_same_parent(here):
    cfg = config(here, "seed=3", swept=("optimizer.lr=0.001,0.01",))
    first = open_parent(sweep_tracker(cfg), cfg)
    assert first.varied == ("optimizer.lr",)
    client = mlflow.MlflowClient(first.tracking_uri)
    client.set_terminated(first.parent_run_id, "FAILED")
    again = open_parent(sweep_tracker(cfg), cfg)
    assert again == first
    parent = client.get_run(first.parent_run_id)
    assert parent.info.status == "RUNNING" and parent.data.tags["relaunched"] == "true"
    assert parent.data.tags[SWEEP_TAG] == first.sweep_id and parent.data.tags["mlm_lab.role"] == "sweep"
    logged = yaml.safe_load(artifact_text(first.tracking_uri, first.parent_run_id, "sweep_config.yaml"))
    assert logged["overrides"][-2:] == ["seed=3", "optimizer.lr=0.001,0.01"]
    other = config(here, "seed=4", swept=("optimizer.lr=0.001,0.01",))
    assert open_parent(sweep_tracker(other), other).parent_run_id != first.parent_run_id  # another command: another sweep


def test_child_tags_name_the_run_by_its_varied_values_and_hide_credentials():
    sweep = Sweep("p", "abc", "sqlite:///x.db", varied=("optimizer.lr", "model/size"))
    tags = child_tags(sweep, ["optimizer.lr=0.0013915971", "seed=1", "model/size=small", "hf_token=secret"])
    assert tags[SWEEP_TAG] == "abc" and tags["mlm_lab.job_num"] == "0"  # outside a Hydra job
    assert tags["mlflow.runName"] == "job0 lr=0.001392 size=small"
    assert tags[OVERRIDES_TAG] == "hf_token=*** model/size=small optimizer.lr=0.0013915971 seed=1"
    assert overrides_key(["b=2", "a=1"]) == "a=1 b=2"
    assert child_tags(Sweep("p", "abc", "u"), ["seed=1"])["mlflow.runName"] == "job0"


def test_cpu_share_and_the_current_sweep_outside_a_multirun():
    assert cpu_share() is None and sweep_lib.current() is None
    callback, sweep = SweepCallback(), Sweep("p", "s", "u")
    callback.sweep = sweep
    callback.on_job_start(None)
    assert sweep_lib.current() is sweep
    callback.on_job_end(None, None)
    assert sweep_lib.current() is None


def finished_child(client, sweep, overrides, value=None):
    experiment_id = client.get_run(sweep.parent_run_id).info.experiment_id
    tags = {**child_tags(sweep, overrides), "mlflow.parentRunId": sweep.parent_run_id, OBJECTIVE_TAG: "val/loss", DIRECTION_TAG: "minimize"}
    run = client.create_run(experiment_id, tags=tags)
    if value is not None:
        client.log_metric(run.info.run_id, "val/loss", value, step=1)
        client.log_metric(run.info.run_id, "val/loss", value, step=2)
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def test_a_finished_job_is_skipped_with_its_objective_and_the_parent_is_summarised(here):
    cfg = config(here, swept=("optimizer.lr=0.001,0.01",))
    sweep = open_parent(sweep_tracker(cfg), cfg)
    client = mlflow.MlflowClient(sweep.tracking_uri)
    assert finished_objective(sweep, ["optimizer.lr=0.001"]) is None
    finished_child(client, sweep, ["optimizer.lr=0.001"], value=0.5)
    best = finished_child(client, sweep, ["optimizer.lr=0.01"], value=0.25)
    finished_child(client, sweep, ["optimizer.lr=0.1"])  # finished without its objective: trained again
    assert finished_objective(sweep, ["optimizer.lr=0.001"]) == 0.5
    assert finished_objective(sweep, ["optimizer.lr=0.1"]) is None
    assert finished_objective(sweep, ["optimizer.lr=0.001", "seed=1"]) is None  # other overrides: another job
    client.set_tag(sweep.parent_run_id, "error", "an earlier launch stopped")
    close_parent(sweep, cfg)
    parent = client.get_run(sweep.parent_run_id)
    assert parent.info.status == "FINISHED" and "error" not in parent.data.tags and "summary_error" not in parent.data.tags
    assert parent.data.tags["best_run_id"] == best and parent.data.tags["best_overrides"] == "optimizer.lr=0.01"
    assert parent.data.metrics["best/val/loss"] == 0.25
    assert (here / "multirun" / "comparison" / "comparison.md").is_file()
    assert "comparison/comparison.md" in {a.path for a in client.list_artifacts(sweep.parent_run_id, "comparison")}


def test_a_sweep_that_stops_early_leaves_its_parent_failed_not_running(here):
    cfg = config(here)
    callback = SweepCallback()
    callback.sweep = open_parent(sweep_tracker(cfg), cfg)
    callback._abandoned()  # what atexit runs
    parent = mlflow.MlflowClient(callback.sweep.tracking_uri).get_run(callback.sweep.parent_run_id)
    assert parent.info.status == "FAILED" and "relaunch the same command" in parent.data.tags["error"]
    callback.closed = True
    client = mlflow.MlflowClient(callback.sweep.tracking_uri)
    client.update_run(callback.sweep.parent_run_id, status="FINISHED")
    callback._abandoned()  # after the sweep's end: nothing to do
    assert client.get_run(callback.sweep.parent_run_id).info.status == "FINISHED"
