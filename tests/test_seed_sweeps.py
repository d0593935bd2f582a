"""`seeds=xN`: every config of a grid sweep over N seeds, summarised by its mean; refused for an Optuna search."""

import pytest
from mlflow import MlflowClient

from tests.conftest import TINY, run_cli, runs_of, sqlite_uri


@pytest.mark.slow
def test_a_grid_times_seeds_names_the_best_mean_config_and_reports_significance(tmp_path):
    uri = sqlite_uri(tmp_path)
    args = ["mlm_lab.apps.train", "-m", *TINY, "optimizer.lr=3e-4,3e-3", "seeds=x2", "tracking.register_as=null"]
    result = run_cli(args, cwd=tmp_path, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-4000:]
    (parent,), children = runs_of(uri)
    assert sorted(c.data.params["seed"] for c in children) == ["0", "0", "1", "1"]
    values = {}
    for c in children:
        values.setdefault(c.data.params["optimizer.lr"], []).append(c.data.metrics["val/exact_match"])
    means = {lr: sum(v) / len(v) for lr, v in values.items()}
    best_lr = max(means, key=means.get)
    tags = parent.data.tags
    assert tags["best_group_seeds"] == "2" and f"optimizer.lr={best_lr}" in tags["best_group"] and "seed=" not in tags["best_group"]
    assert parent.data.metrics["best/val/exact_match"] == pytest.approx(means[best_lr])
    best_child = next(c for c in children if c.info.run_id == tags["best_run_id"])
    assert best_child.data.params["optimizer.lr"] == best_lr
    assert best_child.data.metrics["val/exact_match"] == max(values[best_lr])
    report = MlflowClient(uri).download_artifacts(parent.info.run_id, "comparison/comparison.md", str(tmp_path))
    assert "## Seeds and significance: val/exact_match (maximize)" in open(report).read()


def test_seeds_with_an_optuna_search_is_refused_before_any_job(tmp_path):
    result = run_cli(["mlm_lab.apps.train", "-m", *TINY, "hparams_search=arithmetic_optuna", "seeds=x3"], cwd=tmp_path)
    assert result.returncode == 2
    out = result.stderr + result.stdout
    assert "seeds=x3 repeats every config of a grid sweep" in out and "replace seeds=x3 with trial_seeds=3" in out
    assert not list(tmp_path.rglob("checkpoints"))


@pytest.mark.slow
def test_an_optuna_search_with_trial_seeds_optimises_the_mean_over_seeds(tmp_path):
    """trial_seeds=2: each trial trains seeds 0 and 1 as two runs and gives Optuna their mean."""
    import yaml

    uri = sqlite_uri(tmp_path)
    args = ["mlm_lab.apps.train", "-m", *TINY, "hparams_search=arithmetic_optuna", "hydra.sweeper.n_trials=2", "trial_seeds=2"]
    result = run_cli([*args, "tracking.register_as=null", f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-4000:]
    (parent,), children = runs_of(uri)
    assert len(children) == 4 and sorted(c.data.params["seed"] for c in children) == ["0", "0", "1", "1"]
    trials: dict[str, list[float]] = {}
    for c in children:
        trials.setdefault(c.data.tags["mlm_lab.job_num"], []).append(c.data.metrics["val/exact_match"])
    means = {job: sum(v) / 2 for job, v in trials.items()}
    best = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())["best_value"]
    assert best == pytest.approx(max(means.values()))  # what Optuna saw: a trial's mean over its seeds
    assert parent.data.tags["best_group_seeds"] == "2" and parent.data.metrics["best/val/exact_match"] == pytest.approx(best)
    assert {p.name for p in (tmp_path / "sweep" / "0").iterdir()} >= {"seed0", "seed1"}  # a folder per seed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [(["trial_seeds=0"], "trial_seeds: is 0"), (["trial_seeds=2", "resume=abc"], "trial_seeds: is 2 with resume=")],
)
def test_bad_trial_seeds_are_refused_before_any_run(tmp_path, overrides, message):
    from mlm_lab.errors import ConfigError
    from mlm_lab.runner import train_seeds
    from tests.conftest import compose_config

    with pytest.raises(ConfigError, match=message):
        train_seeds(compose_config([*TINY, *overrides, f"output_dir={tmp_path}"]))
    assert not list(tmp_path.iterdir())
