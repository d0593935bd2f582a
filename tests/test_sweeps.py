"""Multirun into MLflow: parent and child runs, relaunch without duplicates, Optuna, joblib and submitit, rerun=, mlm-compare."""

import os
import re
from pathlib import Path

import mlflow
import pytest
import yaml
from omegaconf import open_dict

from mlm_lab.rerun import merge_overrides
from tests.conftest import TINY, compose_config, fresh_store, run_cli, runs_of, sqlite_uri


def sweep(args: list[str], workdir: Path, uri: str, timeout: int = 300):
    result = run_cli(["mlm_lab.apps.train", "-m", *TINY, *args], cwd=workdir, tracking_uri=uri, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def objective_of(run) -> float:
    return run.data.metrics[run.data.tags["mlm_lab.objective"]]


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    """A 2 x 2 grid with the basic launcher, then the same command again; returns (workdir, uri, first, second).

    Nothing is registered here (the joblib and server tests register a version per job).
    """
    workdir = tmp_path_factory.mktemp("sweep")
    uri = sqlite_uri(workdir)
    args = ["model.d_model=32,48", "optimizer.lr=1e-3,3e-3", "tracking.register_as=null"]
    first = sweep(args, workdir, uri)
    second = sweep(args, workdir, uri)
    return workdir, uri, first, second


@pytest.mark.slow
def test_one_parent_and_a_nested_child_per_job(basic_sweep):
    workdir, uri, first, _ = basic_sweep
    parents, children = runs_of(uri)
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert {c.data.tags["mlm_lab.sweep_id"] for c in children} == {parent.data.tags["mlm_lab.sweep_id"]}
    # each child carries its own overrides and is named by the values the sweep varies
    combos = {(c.data.params["model.d_model"], c.data.params["optimizer.lr"]) for c in children}
    assert combos == {("32", "0.001"), ("32", "0.003"), ("48", "0.001"), ("48", "0.003")}
    for c in children:
        assert c.info.status == "FINISHED"
        assert f"model.d_model={c.data.params['model.d_model']}" in c.data.tags["mlm_lab.job_overrides"].split()
        assert re.fullmatch(r"job\d d_model=(32|48) lr=0\.00[13]", c.info.run_name), c.info.run_name
    # the parent holds the sweep config and the summary: best child by the task's objective (max exact match)
    best = max(children, key=objective_of)
    assert parent.data.tags["best_run_id"] == best.info.run_id
    assert parent.data.metrics["best/val/exact_match"] == objective_of(best)
    client = mlflow.MlflowClient(uri)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"sweep_config.yaml", "overrides.txt", "comparison"} <= names
    sweep_config = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{parent.info.run_id}/sweep_config.yaml"))
    assert "model.d_model=32,48" in sweep_config["overrides"]
    assert "BasicSweeper" in sweep_config["sweeper"]["_target_"]


@pytest.mark.slow
def test_relaunched_sweep_skips_finished_jobs(basic_sweep):
    workdir, uri, _, second = basic_sweep
    parents, children = runs_of(uri)
    assert len(parents) == 1 and len(children) == 4, "the relaunch duplicated runs"
    assert second.stdout.count("skipping") + second.stderr.count("skipping") == 4
    assert parents[0].data.tags["relaunched"] == "true" and parents[0].info.status == "FINISHED"


@pytest.mark.slow
def test_compare_writes_a_table_and_plots_of_the_sweep(basic_sweep, tmp_path):
    workdir, uri, _, _ = basic_sweep
    from mlm_lab.apps.compare import run

    out = tmp_path / "report"
    run(compose_config(["experiment=arithmetic", "sweep=latest", f"output_dir={out}", f"tracking_uri={uri}"], "compare", "apps"))
    _, children = runs_of(uri)
    table = (out / "comparison.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| run "))
    columns = [c.strip() for c in header.strip("|").split("|")]
    # the varied params, not the per-job output folder; the objective first among the metrics
    assert columns[:6] == ["run", "run_id", "status", "model.d_model", "optimizer.lr", "val/exact_match"]
    assert "output_dir" not in columns and "wall_s" in columns and "tokens_per_s" in columns
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| run ")]
    assert len(rows) == 4
    # rows are best first, and show what the store holds
    ordered = sorted(children, key=objective_of, reverse=True)
    assert [r.split("|")[2].strip() for r in rows][0] == ordered[0].info.run_id
    import pandas as pd

    csv = pd.read_csv(out / "comparison.csv")
    for child in children:
        row = csv[csv["run_id"] == child.info.run_id].iloc[0]
        assert row["val/loss"] == pytest.approx(child.data.metrics["val/loss"])
        tokens, minutes = child.data.metrics["train/tokens"], child.data.metrics["train/minutes"]
        assert row["tokens_per_s"] == pytest.approx(tokens / (minutes * 60))
        assert 0 < row["wall_s"] < 300
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"val_loss_curves.png", "val_exact_match_curves.png", "val_exact_match_vs_model.d_model.png"} <= plots
    assert "val_exact_match_vs_optimizer.lr.png" in plots
    # the sweep's own report went to its parent run and to the sweep folder
    parent = runs_of(uri)[0][0]
    logged = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(parent.info.run_id, "comparison")}
    assert "comparison/comparison.md" in logged and "comparison/plots" in logged
    assert list(workdir.glob("multirun/*/*/comparison/comparison.md"))


@pytest.mark.slow
def test_rerun_recomposes_a_logged_run_with_new_overrides(basic_sweep, tmp_path):
    workdir, uri, _, _ = basic_sweep
    _, children = runs_of(uri)
    source = next(c for c in children if c.data.params["model.d_model"] == "48" and c.data.params["optimizer.lr"] == "0.003")
    args = ["mlm_lab.apps.train", f"rerun={source.info.run_id}", "model=llama", "trainer.max_steps=5"]
    result = run_cli(args, cwd=workdir, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(uri)
    new = client.search_runs([source.info.experiment_id], filter_string=f"tags.rerun_of = '{source.info.run_id}'")
    assert len(new) == 1
    params = new[0].data.params
    assert params["model._target_"] == "mlm_lab.models.builders.llama"  # the new override
    assert params["model.d_model"] == "48" and params["optimizer.lr"] == "0.003"  # the logged run's overrides
    assert params["trainer.max_steps"] == "5" and params["data.n_train"] == "1000"
    assert "mlflow.parentRunId" not in new[0].data.tags  # a new top-level run, not part of the sweep
    logged = mlflow.artifacts.load_text(f"runs:/{new[0].info.run_id}/overrides.txt").split()
    assert "model=llama" in logged and "trainer.max_steps=10" not in logged and "trainer.max_steps=5" in logged


@pytest.mark.slow
def test_rerun_of_an_unknown_run_is_refused(basic_sweep):
    from mlm_lab.errors import ConfigError
    from mlm_lab.instantiate import build
    from mlm_lab.rerun import rerun_config

    _, uri, _, _ = basic_sweep
    cfg = compose_config(["rerun=0123456789abcdef0123456789abcdef", f"tracking.uri={uri}"])
    with pytest.raises(ConfigError, match="is not in the tracking store .* Fix: pass a run id"):
        rerun_config(cfg, [], build(cfg.tracking, "tracking"))
    cfg = compose_config(["rerun=abc", "resume=abc"])
    with pytest.raises(ConfigError, match="rerun and resume were both given"):
        rerun_config(cfg, [], None)


def test_merge_overrides_replaces_same_key_and_group():
    original = ["experiment=arithmetic", "model=gpt2", "model.d_model=64", "+data.extra=1", "optimizer.lr=1e-3"]
    merged = merge_overrides(original, ["model=llama", "optimizer.lr=3e-3", "data.extra=2"])
    assert merged == ["experiment=arithmetic", "model.d_model=64", "model=llama", "optimizer.lr=3e-3", "data.extra=2"]


@pytest.mark.slow
def test_parallel_joblib_jobs_share_the_cores_and_lose_nothing(tmp_path):
    """4 jobs at once writing to one new sqlite store: every run complete, none FAILED for a locked database, every version registered."""
    uri = fresh_store(tmp_path)
    result = sweep(["model.d_model=32,48", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4"], tmp_path, uri)
    assert "database is locked" not in result.stdout + result.stderr
    parents, children = runs_of(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 4
    client = mlflow.MlflowClient(uri)
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["hardware.threads_used"] == str(max(1, os.cpu_count() // 4))  # the cores / 4 jobs at once
        assert [m.step for m in client.get_metric_history(child.info.run_id, "train/loss")] == [5, 10]
        assert child.data.tags["reload_check"] == "passed"
    versions = client.search_model_versions("name='arithmetic'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
    assert {v.run_id for v in versions} == {c.info.run_id for c in children}


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_jobs(tmp_path):
    uri = fresh_store(tmp_path)
    sweep(["model.d_model=32,48", "hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1"], tmp_path, uri)
    parents, children = runs_of(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 2
    assert all(c.info.status == "FINISHED" and c.data.tags["hardware.threads_used"] == "1" for c in children)


def test_slurm_preset_composes():
    cfg = compose_config(["hydra/launcher=slurm_gpu", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.partition) == (1, 1, "gpu")


@pytest.mark.parametrize("experiment", ["arithmetic", "cervantes", "tinystories"])
def test_each_experiment_has_a_search_in_its_objective_direction(experiment):
    from hydra.utils import instantiate

    cfg = compose_config([f"experiment={experiment}", f"hparams_search={experiment}_optuna"], return_hydra_config=True)
    task = instantiate(cfg.data)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    assert cfg.hydra.sweeper.direction == task.objective_direction
    assert cfg.hydra.sweeper.params and cfg.hydra.sweeper.sampler.seed == 0


@pytest.mark.slow
def test_a_sweep_that_dies_leaves_its_parent_failed_and_the_finished_child_kept(tmp_path):
    uri = fresh_store(tmp_path)
    result = run_cli(["mlm_lab.apps.train", "-m", *TINY, "trainer.max_steps=5,0"], cwd=tmp_path, tracking_uri=uri)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "trainer.max_steps: must be positive" in result.stdout + result.stderr
    parents, children = runs_of(uri)
    assert len(parents) == 1 and parents[0].info.status == "FAILED"
    assert "relaunch the same command" in parents[0].data.tags["error"]
    assert len(children) == 1 and children[0].info.status == "FINISHED" and children[0].data.params["trainer.max_steps"] == "5"


def test_sweep_identity_ignores_the_trial_count_but_not_the_search():
    from mlm_lab.tracking.sweep import sweep_id, varied_keys

    def identity(*overrides):
        return sweep_id(compose_config(["hparams_search=arithmetic_optuna", *overrides], return_hydra_config=True))

    assert identity("hydra.sweeper.n_trials=3") == identity("hydra.sweeper.n_trials=30", "hydra.sweeper.n_jobs=2")
    assert identity() != identity("hydra.sweeper.sampler.seed=1")  # another search
    assert identity() != identity("seed=1")  # another command
    assert identity("tracking.sweep_id=mine") == "mine"
    cfg = compose_config(["hparams_search=arithmetic_optuna"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.overrides.task = ["model.d_model=32,64", "seed=1"]  # what `-m model.d_model=32,64 seed=1` records
    assert varied_keys(cfg) == ("model.d_model", "optimizer.lr", "scheduler.warmup_steps")


def test_a_sweep_whose_parent_cannot_be_opened_stops_before_any_job(tmp_path):
    result = run_cli(["mlm_lab.apps.train", "-m", *TINY, "model.d_model=32,48", "tracking.uri=bogus://nowhere"], cwd=tmp_path)
    assert result.returncode == 2
    assert "the sweep's parent run could not be opened" in result.stdout + result.stderr
    assert "Launching" not in result.stdout + result.stderr and not list(tmp_path.glob("multirun/*/*/0"))


def test_rerun_of_a_run_without_its_overrides_is_refused(store):
    from mlm_lab.errors import ConfigError
    from mlm_lab.instantiate import build
    from mlm_lab.rerun import rerun_config

    client = mlflow.MlflowClient(store)
    run = client.create_run(client.create_experiment("elsewhere"))  # logged by something other than mlm-train
    cfg = compose_config([f"rerun={run.info.run_id}", f"tracking.uri={store}"])
    with pytest.raises(ConfigError, match="has no overrides.txt artifact, so its command cannot be recomposed"):
        rerun_config(cfg, [], build(cfg.tracking, "tracking"))
