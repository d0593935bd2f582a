"""The comparison report from runs logged directly: which columns it shows, their order, and what it writes."""

import math

import mlflow
import pandas as pd
import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.comparison import compare, global_group_keys, latest_sweep, markdown, objective, search, table, varied_params
from mlm_lab.tracking.runs import DIRECTION_TAG, OBJECTIVE_TAG, OVERRIDES_TAG
from tests.tracking_fixtures import fresh_store


@pytest.fixture
def uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return fresh_store(tmp_path)


def log_run(client, experiment_id, name, params, accuracy=None, parent=None, tags=None, losses=(2.0, 1.0)):
    run_tags = {"mlflow.runName": name, OBJECTIVE_TAG: "val/accuracy", DIRECTION_TAG: "maximize", **(tags or {})}
    if parent:
        run_tags["mlflow.parentRunId"] = parent
    run_id = client.create_run(experiment_id, tags=run_tags).info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for step, loss in enumerate(losses, 1):
        client.log_metric(run_id, "val/loss", loss, step=step)
    if accuracy is not None:
        client.log_metric(run_id, "val/accuracy", accuracy, step=len(losses))
    client.log_metric(run_id, "val/accuracy_len3", 0.1)  # a per-length breakdown: stays in the run
    client.log_metric(run_id, "train/tokens", 6000.0)
    client.log_metric(run_id, "train/minutes", 1.0)
    client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture
def experiment(uri):
    """Three runs that differ in lr (and in output_dir, which does not count), a sweep parent and an mlm-eval run."""
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("cmp")
    ids = {
        lr: log_run(client, experiment_id, f"lr{lr}", {"optimizer.lr": lr, "seed": "0", "output_dir": f"out/{lr}"}, accuracy=acc)
        for lr, acc in (("0.001", 0.5), ("0.01", 0.9), ("0.1", 0.7))
    }
    log_run(client, experiment_id, "sweep", {}, tags={"mlm_lab.role": "sweep"})
    log_run(client, experiment_id, "eval", {}, tags={"eval.model": "models:/m/1"})
    return uri, ids


def test_an_experiments_runs_leave_out_sweep_parents_and_eval_runs(experiment):
    uri, ids = experiment
    runs = search(uri, "cmp")
    assert sorted(runs["run_id"]) == sorted(ids.values())
    assert varied_params(runs) == ["optimizer.lr"]  # seed is the same everywhere; output_dir is ignored
    assert objective(runs) == ("val/accuracy", "maximize")


def test_the_table_shows_what_varied_and_what_it_gave_best_first(experiment):
    uri, ids = experiment
    frame = table(search(uri, "cmp"))
    assert list(frame.columns) == ["run", "run_id", "status", "optimizer.lr", "val/accuracy", "val/loss", "wall_s", "tokens_per_s"]
    assert list(frame["run"]) == ["lr0.01", "lr0.1", "lr0.001"]  # maximize: highest accuracy first
    assert list(frame["run_id"]) == [ids["0.01"], ids["0.1"], ids["0.001"]]
    assert frame["tokens_per_s"].tolist() == [100.0] * 3 and (frame["val/loss"] == 1.0).all()


def test_a_sweeps_columns_are_the_keys_it_swept_not_what_follows_from_them(uri):
    """d_ff follows d_model (both logged resolved): only the swept key is a column; a group choice sweeps its whole group."""
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("swept")
    for d_model, lr in (("32", "0.1"), ("48", "0.1"), ("32", "0.3")):
        params = {"model.d_model": d_model, "model.d_ff": str(4 * int(d_model)), "optimizer.lr": lr}
        log_run(
            client, experiment_id, f"d{d_model}", params, accuracy=0.5, tags={OVERRIDES_TAG: f"model.d_model={d_model} optimizer.lr={lr}"}
        )
    runs = search(uri, "swept")
    assert varied_params(runs) == ["model.d_model", "optimizer.lr"]
    assert varied_params(runs.drop(columns=[f"tags.{OVERRIDES_TAG}"])) == ["model.d_ff", "model.d_model", "optimizer.lr"]
    runs[f"tags.{OVERRIDES_TAG}"] = ["model=llama", "model=gpt2", "model=llama"]
    assert varied_params(runs) == ["model.d_ff", "model.d_model"]
    # a `@package _global_` group (the isoFLOP ladder's size=) sets model.* keys: they are what it swept, not d_ff
    runs[f"tags.{OVERRIDES_TAG}"] = ["size=d32_l2 optimizer.lr=0.1", "size=d48_l2 optimizer.lr=0.1", "size=d32_l2 optimizer.lr=0.3"]
    assert varied_params(runs) == ["model.d_model", "optimizer.lr"]
    assert "model.d_model" in global_group_keys("size") and not global_group_keys("model") and not global_group_keys("../conf")


def test_runs_that_disagree_on_the_objective_are_not_ranked():
    runs = pd.DataFrame({f"tags.{OBJECTIVE_TAG}": ["val/loss", "val/accuracy"]})
    assert objective(runs) == (None, "minimize")
    assert objective(pd.DataFrame({"x": [1]})) == (None, "minimize")


def test_markdown_cells_are_short_and_safe():
    frame = pd.DataFrame({"run": ["a|b"], "lr": ["0.0013915971"], "loss": [1.23456789], "gone": [math.nan]})
    assert markdown(frame).splitlines() == ["| run | lr | loss | gone |", "|---|---|---|---|", "| a\\|b | 0.001392 | 1.235 | - |"]


def test_a_sweeps_report_is_written_and_logged_to_its_parent(uri, tmp_path):
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("sweeps")
    parent = client.create_run(experiment_id, tags={"mlm_lab.role": "sweep"}).info.run_id
    for lr, acc in (("0.001", 0.5), ("0.01", 0.9)):
        log_run(client, experiment_id, f"lr{lr}", {"optimizer.lr": lr}, accuracy=acc, parent=parent)
    log_run(client, experiment_id, "not a child", {"optimizer.lr": "9"}, accuracy=1.0)
    written = compare(uri, tmp_path / "report", parent_run_id=parent)
    names = sorted(p.name for p in written)
    assert names == [
        "comparison.csv", "comparison.md", "val_accuracy_curves.png", "val_accuracy_vs_optimizer.lr.png", "val_loss_curves.png"
    ]  # fmt: skip
    report = (tmp_path / "report" / "comparison.md").read_text()
    assert report.startswith(f"# Sweep {parent}\n\n2 runs; best val/accuracy (maximize): 0.9, run lr0.01")
    assert "not a child" not in report
    logged = {a.path for a in client.list_artifacts(parent, "comparison")} | {
        a.path for a in client.list_artifacts(parent, "comparison/plots")
    }
    assert "comparison/comparison.md" in logged and "comparison/plots/val_loss_curves.png" in logged
    assert latest_sweep(uri, "sweeps") == parent


def test_what_cannot_be_compared_is_refused_with_the_fix(uri, tmp_path):
    with pytest.raises(ConfigError, match=r"no experiment 'nope' .*Fix: experiment=NAME"):
        search(uri, "nope")
    with pytest.raises(ConfigError, match="run 0+ is not in the tracking store.*Fix: pass a sweep's parent run id"):
        search(uri, parent_run_id="0" * 32)
    mlflow.MlflowClient(uri).create_experiment("empty")
    assert compare(uri, tmp_path / "none", experiment="empty") == []
    with pytest.raises(ConfigError, match="has no sweep.*Fix: compare it with experiment= alone"):
        latest_sweep(uri, "empty")


def test_seeds_of_one_config_are_grouped_ranked_by_mean_and_tested(uri, tmp_path):
    """Constructed runs: lr=0.01 is best on its mean though lr=0.1 has the best single seed; lr=0.001 is far worse."""
    from tests.test_significance import hand_welch

    client = mlflow.MlflowClient(uri)
    parent = log_run(client, client.create_experiment("seeds"), "sweep", {}, tags={"mlm_lab.role": "sweep"})
    experiment_id = client.get_run(parent).info.experiment_id
    accuracies = {"0.001": (0.40, 0.42, 0.41), "0.01": (0.80, 0.82, 0.81), "0.1": (0.90, 0.70, 0.72)}
    for lr, values in accuracies.items():
        for seed, accuracy in enumerate(values):
            params = {"optimizer.lr": lr, "seed": str(seed)}
            log_run(client, experiment_id, f"lr{lr}-s{seed}", params, accuracy, parent, {OVERRIDES_TAG: f"optimizer.lr={lr} seed={seed}"})
    written = compare(uri, tmp_path / "report", parent_run_id=parent)
    report = (tmp_path / "report" / "comparison.md").read_text()
    section = report[report.index("## Seeds and significance") :]
    assert "Best config: **optimizer.lr=0.01**, mean 0.81 over 3 seed(s)" in section
    rows = [line for line in section.splitlines() if line.startswith("| optimizer.lr=")]
    assert [r.split("|")[1].strip() for r in rows] == ["optimizer.lr=0.01", "optimizer.lr=0.1", "optimizer.lr=0.001"]
    p_close = hand_welch(accuracies["0.01"], accuracies["0.1"])
    assert p_close > 0.05 and f"{p_close:.4g}" in rows[1] and "| no |" in rows[1]  # lr=0.1 is not significantly worse
    assert rows[2].endswith("| yes | - |")  # significant: no seed count needed
    assert f"optimizer.lr=0.1 (p = {p_close:.3g}," in section
    names = {p.name for p in written}
    assert {"val_accuracy_by_group.png", "val_loss_by_group.png"} <= names
    assert all((tmp_path / "report" / "plots" / n).stat().st_size > 5000 for n in ("val_accuracy_by_group.png", "val_loss_by_group.png"))


def test_without_repeated_seeds_there_is_no_significance_section(experiment, tmp_path):
    uri, _ = experiment
    compare(uri, tmp_path / "report", experiment="cmp")
    assert "Seeds and significance" not in (tmp_path / "report" / "comparison.md").read_text()


def test_curves_go_on_a_tokens_or_flops_axis(uri, tmp_path):
    from mlm_lab.tracking.comparison import on_axis

    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("axis")
    run_id = log_run(client, experiment_id, "r", {"optimizer.lr": "0.1"}, accuracy=0.5, losses=(2.0, 1.5, 1.0))
    for step in (1, 2, 3):  # train/* points at every step; evaluations (val/loss) at steps 1, 2, 3
        client.log_metric(run_id, "train/tokens", 1000.0 * step, step=step)
        client.log_metric(run_id, "train/flops", 6e9 * step, step=step)
    points = [(m.step, m.value) for m in client.get_metric_history(run_id, "val/loss")]
    assert on_axis(client, run_id, points, "steps") == points
    assert sorted(on_axis(client, run_id, points, "flops")) == [(6e9, 2.0), (1.2e10, 1.5), (1.8e10, 1.0)]
    written = compare(uri, tmp_path / "out", experiment="axis", axis="tokens")
    assert "val_loss_curves_by_tokens.png" in {p.name for p in written}
    with pytest.raises(ConfigError, match="axis.*steps, tokens, flops, minutes"):
        compare(uri, tmp_path / "out", experiment="axis", axis="epochs")
