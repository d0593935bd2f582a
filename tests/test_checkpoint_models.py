"""Checkpoints as MLflow 3 logged models, against a real sqlite store: ranked by their linked metrics, fetched back by
`resume=models:/m-...` and `trainer.init_from=models:/m-...`, and safe from MLflow's NaN and 1,000-metric bugs."""

import math
import time

import pytest
import torch
from mlflow import MlflowClient

from mlm_lab.components import build_components
from mlm_lab.errors import ConfigError
from mlm_lab.runner import train
from mlm_lab.tracking import checkpoint_models
from mlm_lab.training.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import TINY, compose_config

RUN = [*TINY, "trainer.max_steps=30", "trainer.eval_every=10", "trainer.keep_best=2", "trainer.log_every=10", "tracking.register_as=null"]


def run_train(overrides):
    return train(compose_config(overrides), overrides=overrides)


def logged_models(client, run_id, order_by=None):
    experiment = client.get_run(run_id).info.experiment_id
    found = client.search_logged_models([experiment], filter_string=f"source_run_id = '{run_id}'", order_by=order_by)
    return list(found)


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """One 30-step run evaluated at steps 10, 20, 30, keeping the best 2: (workdir, store, run id)."""
    import os

    from tests.conftest import fresh_store

    workdir = tmp_path_factory.mktemp("checkpointed")
    store = fresh_store(workdir)
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        run_train([*RUN, f"tracking.uri={store}", f"output_dir={workdir / 'run'}"])
    finally:
        os.chdir(previous)
    client = MlflowClient(store)
    run_id = client.search_runs([client.get_experiment_by_name("arithmetic").experiment_id])[0].info.run_id
    return workdir, store, run_id


def test_a_runs_checkpoints_rank_by_their_linked_metrics(checkpointed):
    workdir, store, run_id = checkpointed
    client = MlflowClient(store)
    models = logged_models(client, run_id)
    names = sorted(m.name for m in models)
    assert names[-1] == "final-step0000030" and all(n.startswith("best-step") for n in names[:-1]) and len(names) >= 2
    history = {m.step: m.value for m in client.get_metric_history(run_id, "val/loss")}
    assert sorted(history) == [10, 20, 30]  # linking re-sent the evaluation's points with their timestamps: no duplicates
    for model in models:
        assert str(model.status) == "READY" and model.model_type == checkpoint_models.MODEL_TYPE
        step = int(model.tags["mlm_lab.step"])
        linked = {m.key: m.value for m in model.metrics}
        assert linked["val/loss"] == history[step] and {m.step for m in model.metrics} == {step}
        assert model.tags["mlm_lab.state"] == ("full" if model.name.startswith("final") else "weights")
    ranked = logged_models(client, run_id, order_by=[{"field_name": "metrics.val/loss", "ascending": True}])
    values = [{m.key: m.value for m in r.metrics}["val/loss"] for r in ranked]
    assert values == sorted(values) and {r.model_id for r in ranked} == {m.model_id for m in models}
    run = client.get_run(run_id)
    assert int(run.data.tags["upload.files"]) >= len(models) + 1  # + latest.pt
    assert int(run.data.tags["upload.bytes"]) > 0 and float(run.data.tags["upload.seconds"]) > 0
    assert "checkpoints/final.pt" not in {a.path for a in client.list_artifacts(run_id, "checkpoints")}  # not uploaded twice
    assert not list((workdir / "run" / "checkpoints" / ".upload").iterdir())  # the staged links are gone once sent


def test_resume_and_init_from_take_a_logged_checkpoint(checkpointed, monkeypatch):
    workdir, store, run_id = checkpointed
    monkeypatch.chdir(workdir)
    client = MlflowClient(store)
    models = {m.name: m for m in logged_models(client, run_id)}
    final = models["final-step0000030"]
    best = next(m for name, m in models.items() if name.startswith("best"))
    # the best checkpoint's weights, as the run wrote them on disk
    on_disk = load_checkpoint(workdir / "run" / "checkpoints" / f"{best.name}.pt")
    init = [*RUN, f"tracking.uri={store}", f"trainer.init_from=models:/{best.model_id}", f"output_dir={workdir / 'i'}"]
    c = build_components(compose_config(init))
    assert all(torch.equal(c.model.state_dict()[k], v) for k, v in on_disk["model"].items())
    with pytest.raises(ConfigError, match="weights of a best checkpoint.*trainer.init_from=models:/"):
        run_train([f"resume=models:/{best.model_id}", f"tracking.uri={store}", f"output_dir={workdir / 'r1'}"])
    run_train([f"resume=models:/{final.model_id}", "trainer.max_steps=40", f"tracking.uri={store}", f"output_dir={workdir / 'r2'}"])
    run = client.get_run(run_id)  # the same run, continued from the final checkpoint's step
    assert run.info.status == "FINISHED" and run.data.tags["resumed"] == "step30"
    assert sorted(m.step for m in client.get_metric_history(run_id, "val/loss")) == [10, 20, 30, 40]
    finals = checkpoint_models.run_checkpoints(client, run_id, "final")
    assert [m.name for m in finals] == ["final-step0000040", "final-step0000030"]  # resume=<run id> takes the newest


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("models:/m-" + "0" * 32, "cannot fetch models:/m-0+.*tracking.uri"),
        ("models:/arithmetic@champion", ".models:/arithmetic@champion. is not a logged checkpoint.*models:/m-<32 hex digits>"),
    ],
)
def test_a_bad_logged_model_reference_is_refused_before_any_work(store, tmp_path, ref, message):
    with pytest.raises(ConfigError, match=f"trainer.init_from: {message}"):
        build_components(compose_config([*RUN, f"tracking.uri={store}", f"trainer.init_from={ref}", f"output_dir={tmp_path}"]))
    with pytest.raises(ConfigError, match=f"resume: {message}"):
        run_train([f"resume={ref}", f"tracking.uri={store}", f"output_dir={tmp_path / 'r'}"])


def checkpoint_op(tmp_path, name, metrics, step=10):
    path = save_checkpoint({"step": step, "model": {"w": torch.ones(2)}}, tmp_path / "checkpoints" / f"{name}.pt")
    staged = checkpoint_models.stage(path, name)
    path.unlink()  # the checkpointer dropped it (a better one came): the staged link still holds its bytes
    return {
        "op": "checkpoint",
        "path": str(staged),
        "name": name,
        "kind": "best",
        "state": "weights",
        "step": step,
        "metrics": metrics,
        "metrics_step": step,
        "timestamp": int(time.time() * 1000),
    }


def test_non_finite_metrics_are_not_linked_and_a_replay_logs_nothing_twice(store, tmp_path):
    """mlflow#26108: a NaN at the step breaks log_model(step=); linked by hand, a NaN would be stored as 0.0 and rank first."""
    client = MlflowClient(store)
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    metrics = {"val/loss": 1.25, "heldout/loss": math.nan, "val/perplexity": math.inf}
    op = checkpoint_op(tmp_path, "best-step0000010", metrics)
    model_id = checkpoint_models.log_checkpoint_model(client, run_id, op)
    model = client.get_logged_model(model_id)
    assert {m.key: m.value for m in model.metrics} == {"val/loss": 1.25}
    assert not (tmp_path / "checkpoints" / ".upload" / "best-step0000010").exists()
    assert checkpoint_models.log_checkpoint_model(client, run_id, op) == model_id  # a journal sent again
    assert [m.model_id for m in logged_models(client, run_id)] == [model_id]
    fetched, tags = checkpoint_models.download(client, model_id, tmp_path / "down")
    assert torch.equal(load_checkpoint(fetched)["model"]["w"], torch.ones(2)) and tags["mlm_lab.checkpoint"] == "best"


def test_over_a_thousand_metrics_at_a_step_are_all_linked(store, tmp_path):
    """mlflow#20715: over 1,000 metrics at one step block log_model(step=); linked in batches they all arrive."""
    client = MlflowClient(store)
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    metrics = {f"val/m{i:04d}": float(i) for i in range(1500)}
    model_id = checkpoint_models.log_checkpoint_model(client, run_id, checkpoint_op(tmp_path, "best-step0000010", metrics))
    assert len(client.get_logged_model(model_id).metrics) == 1500
    assert len(client.get_run(run_id).data.metrics) == 1500


def test_a_logged_best_checkpoint_is_a_source_for_export(checkpointed):
    """mlm-export models:/m-... reads the weights-only best checkpoint: its model, tokenizer and run."""
    from mlm_lab.export.source import load_source

    workdir, store, run_id = checkpointed
    best = next(m for m in logged_models(MlflowClient(store), run_id) if m.name.startswith("best"))
    source = load_source(f"models:/{best.model_id}", store)
    on_disk = load_checkpoint(workdir / "run" / "checkpoints" / f"{best.name}.pt")
    assert source.run_id == run_id and source.predictor.tokenizer.state() == on_disk["tokenizer"]
    assert all(torch.equal(source.predictor.model.state_dict()[k], v) for k, v in on_disk["model"].items())
