"""The generic runner against a real sqlite tracking store: what a run records, and how it fails."""

import mlflow
import pytest
import yaml
from hydra import initialize_config_dir
from mlflow import MlflowClient

from mlm_lab.errors import ConfigError
from mlm_lab.runner import train
from mlm_lab.schemas import conf_dir
from mlm_lab.tracking.mlflow_tracker import MlflowTracker
from mlm_lab.training.checkpoint import load_checkpoint
from tests.conftest import SMALL, compose_config


def run(store, tmp_path, *extra):
    overrides = [*SMALL, "trainer.max_steps=20", "trainer.eval_every=10", f"tracking.uri={store}", f"output_dir={tmp_path / 'out'}", *extra]
    return train(compose_config(overrides), overrides=overrides)


def only_run(store, experiment="arithmetic"):
    client = MlflowClient(store)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def test_a_run_records_params_metrics_tags_artifacts_and_registers(store, tmp_path):
    objective = run(store, tmp_path, "model.d_model=32")
    client, r = only_run(store)
    assert r.info.status == "FINISHED"
    assert objective == r.data.metrics["val/exact_match"]
    assert r.data.params["model.d_ff"] == "128"  # null in the YAML: logged as built (4 * d_model)
    assert r.data.params["model.d_model"] == "32" and r.data.params["data.ops"] == "+" and r.data.params["seed"] == "0"
    assert r.data.params["optimizer._target_"] == "mlm_lab.training.optimizers.adamw"
    assert r.data.metrics["model/num_parameters"] > r.data.metrics["model/num_parameters_non_embedding"] > 0
    for metric in ["train/loss", "train/lr", "val/loss", "val/exact_match", "tokens_per_second", "test/exact_match"]:
        assert metric in r.data.metrics, metric
    assert [m.step for m in client.get_metric_history(r.info.run_id, "val/loss")] == [10, 20]
    assert len(r.data.tags["git_commit"]) in (40, 7) or r.data.tags["git_commit"] == "unknown"
    assert r.data.tags["git_dirty"] in ("true", "false", "unknown") and "command" in r.data.tags
    assert r.data.tags["reload_check"] == "passed"  # the registered model, reloaded, answered as the trained one
    artifacts = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"config.yaml", "overrides.txt", "samples.txt", "checkpoints", "tokenizer", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(r.info.run_id, "plots")}
    assert plots == {"plots/loss.png", "plots/lr.png", "plots/test_exact_match_by_length.png"}
    assert "model.d_model=32" in mlflow.artifacts.load_text(f"runs:/{r.info.run_id}/overrides.txt")
    ckpt = load_checkpoint(MlflowTracker(uri=store).download_checkpoint(r.info.run_id, tmp_path / "dl"))  # the final logged model
    assert ckpt["step"] == 20 and ckpt["tokenizer"]["kind"] == "char" and ckpt["config"]["model"]["d_model"] == 32
    assert "state" in ckpt["optimizer"] and ckpt["model_config"]["_target_"] == "mlm_lab.models.transformer.from_config"
    versions = client.search_model_versions("name='arithmetic'")
    assert len(versions) == 1 and versions[0].run_id == r.info.run_id


def test_non_finite_loss_fails_the_run_keeps_the_last_good_checkpoint_and_registers_nothing(store, tmp_path):
    with pytest.raises(RuntimeError, match="train/loss is not finite at step 2"):
        run(
            store,
            tmp_path,
            "optimizer=sgd",
            "optimizer.lr=1e30",
            "optimizer.momentum=0.0",
            "trainer.grad_clip=null",
            "trainer.checkpoint_every=1",
        )
    client, r = only_run(store)
    assert r.info.status == "FAILED"
    assert r.data.tags["error_type"] == "NonFiniteLossError" and "train/loss is" in r.data.tags["error"]
    assert r.data.tags["nonfinite.step"] == "2" and r.data.tags["nonfinite.batch"] == "micro-batch 0 of step 2"
    batch = load_checkpoint(mlflow.artifacts.download_artifacts(f"runs:/{r.info.run_id}/nonfinite/batch.pt", dst_path=str(tmp_path / "dl")))
    assert batch["inputs"].shape == batch["targets"].shape
    assert load_checkpoint(tmp_path / "out" / "checkpoints" / "latest.pt")["step"] == 1
    assert client.search_registered_models() == []


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.n_heads=5", "model.d_model"),
        ("model.d_model=0", "model.d_model"),
        ("model.context_length=6", "model.context_length"),
        ("optimizer.lr=-0.1", "optimizer.lr"),
        ("optimizer.lr=0", "optimizer.lr"),
        ("data.low=100", "data.low"),
        ("data.ops=+%", "data.ops"),
        ("trainer.max_steps=0", "trainer.max_steps"),
        ("data.batch_size=0", "data.batch_size"),
        ("data.high=abc", "data.high"),
        ("model.d_model=wide", "model.d_model"),
        ("scheduler.warmup_steps=1.5", "scheduler.warmup_steps"),
        ("optimizer.lr=fast", "optimizer.lr"),
        ("trainer.init_from=/nonexistent/final.pt", "trainer.init_from"),
        ("trainer.monitor=val/lossx", "trainer.monitor"),  # a metric the evaluation never reports: before, not mid-run
        ("seed=-1", "seed"),
        ("seed=4294967296", "seed"),
        ("~scheduler", "scheduler"),
        ("tracking.uri=mlruns", "tracking.uri"),
    ],
)
def test_bad_input_is_refused_before_any_run_starts(store, tmp_path, override, key):
    with pytest.raises(ConfigError, match=key) as e:
        run(store, tmp_path, override)
    assert "Fix:" in str(e.value)
    assert not (tmp_path / "out").exists()
    assert MlflowClient(store).search_experiments(filter_string="name = 'arithmetic'") == []


def test_tracking_uri_comes_from_the_environment_then_the_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env_store = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env_store)
    overrides = [*SMALL, "trainer.max_steps=2", "trainer.eval_every=2", "tracking.register_as=null", f"output_dir={tmp_path / 'o1'}"]
    train(compose_config(overrides))
    assert (tmp_path / "env.db").exists() and not (tmp_path / "mlflow.db").exists()
    _, r = only_run(env_store)
    assert r.info.status == "FINISHED" and MlflowClient(env_store).search_registered_models() == []


@pytest.mark.slow
def test_init_from_a_checkpoint_whole_or_in_part(store, tmp_path):
    run(store, tmp_path, "tracking.register_as=null")
    final = tmp_path / "out" / "checkpoints" / "final.pt"
    source = load_checkpoint(final)["model"]
    overrides = [*SMALL, "trainer.max_steps=1", "trainer.eval_every=1", f"tracking.uri={store}", "tracking.register_as=null"]
    with pytest.raises(
        ConfigError, match=r"(?s)trainer.init_from: .*missing from the checkpoint:\n  blocks\.2.*n_layers: checkpoint 2, model 3"
    ):
        train(compose_config([*overrides, "model.n_layers=3", f"trainer.init_from={final}", f"output_dir={tmp_path / 'o2'}"]))
    cfg = compose_config(
        [
            *overrides,
            "model.n_layers=3",
            f"trainer.init_from={final}",
            "trainer.init_include=[tok_emb.,pos_emb.]",
            f"output_dir={tmp_path / 'o3'}",
        ]
    )
    train(cfg)
    ckpt = load_checkpoint(tmp_path / "o3" / "checkpoints" / "final.pt")
    assert ckpt["config"]["trainer"]["init_include"] == ["tok_emb.", "pos_emb."]
    # one optimizer step moved them a little from the loaded values, far less than a fresh init differs
    assert (ckpt["model"]["pos_emb.weight"] - source["pos_emb.weight"]).abs().max() < 0.01


@pytest.mark.slow
def test_compiled_training_runs_and_exports_plain_weights(store, tmp_path):
    run(store, tmp_path, "hardware.compile=true", "trainer.max_steps=3", "trainer.eval_every=3", "tracking.register_as=null")
    ckpt = load_checkpoint(tmp_path / "out" / "checkpoints" / "final.pt")
    assert not any(k.startswith("_orig_mod.") for k in ckpt["model"])


def bad_text_files(tmp_path) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("buen día\n".encode() * 50 + "año".encode("latin-1"))
    pq.write_table(pa.table({"story": ["a b c"] * 10}), tmp_path / "stories.parquet")
    (tmp_path / "ok.txt").write_text("En un lugar de la Mancha, de cuyo nombre no quiero acordarme.\n" * 200)
    return {name: str(tmp_path / name) for name in ("empty.txt", "latin1.txt", "stories.parquet", "ok.txt")}


@pytest.mark.parametrize(
    "name, extra, expected",
    [
        ("missing.txt", [], r"data\.corpus\.path.*missing\.txt"),
        ("empty.txt", [], r"empty\.txt holds no documents"),
        ("latin1.txt", [], r"latin1\.txt.*(UTF-8|utf-8)"),
        ("stories.parquet", [], r"text_column.*story"),
        ("ok.txt", ["tokenizer.vocab_size=8"], r"tokenizer\.vocab_size"),
        ("ok.txt", ["tokenizer.vocab_size=60000"], r"tokenizer\.vocab_size"),
    ],
)
def test_bad_text_input_is_refused_before_any_run_starts(store, tmp_path, name, extra, expected):
    path = bad_text_files(tmp_path).get(name, str(tmp_path / name))
    overrides = [
        "data=text",
        f"data.corpus.path={path}",
        "tokenizer=sentencepiece_bpe",
        "model=llama",
        "model.context_length=32",
        f"cache_dir={tmp_path / 'cache'}",
        *extra,
    ]
    overrides += ["hardware=cpu", "trainer.max_steps=2", f"tracking.uri={store}", f"output_dir={tmp_path / 'out'}"]
    with pytest.raises(ConfigError, match=expected) as e:
        train(compose_config(overrides), overrides=overrides)
    assert "Fix:" in str(e.value)
    assert not (tmp_path / "out").exists()
    assert MlflowClient(store).search_experiments(filter_string="name = 'arithmetic'") == []


def test_rerun_without_a_tracking_store_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"rerun: run abc is not in the tracking store none.*Fix:"):
        train(compose_config([*SMALL, "tracking=none", "+rerun=abc", f"output_dir={tmp_path / 'out'}"]))


def test_params_show_the_sizes_a_named_model_derived_and_resume_and_rerun_rebuild_it(store, tmp_path):
    """llama2c_260k's YAML keys are null: the run logs what was built (d_model 64, d_ff 172, 4 kv heads), not None."""
    named = ["model=llama2c_260k", "model.d_model=null", "model.n_heads=null", "model.n_layers=1", "model.context_length=16"]
    objective = run(store, tmp_path, *named, "trainer.max_steps=2", "trainer.eval_every=2", "tracking.register_as=null")
    client, r = only_run(store)
    params = r.data.params
    assert (params["model.d_model"], params["model.d_ff"], params["model.n_heads"], params["model.n_kv_heads"]) == ("64", "172", "8", "4")
    assert params["model.context_length"] == "16" and params["model._target_"] == "mlm_lab.models.builders.llama2c_260k"
    assert "model.vocab_size" not in params  # a runtime value from the tokenizer, never part of the model's config section
    logged = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{r.info.run_id}/config.yaml"))["model"]
    assert logged["d_ff"] == 172 and logged["n_kv_heads"] == 4 and logged["_partial_"] is True
    final = tmp_path / "out" / "checkpoints" / "final.pt"
    assert load_checkpoint(final)["config"]["model"]["d_model"] == 64
    # the resolved section builds the same model again: resumed from the checkpoint, and rerun from the logged overrides
    resume = [f"resume={final}", "trainer.max_steps=4", f"tracking.uri={store}", f"output_dir={tmp_path / 'resumed'}"]
    assert isinstance(train(compose_config(resume), overrides=resume), float)
    assert [m.step for m in client.get_metric_history(r.info.run_id, "val/loss")] == [2, 4]
    rerun = [f"rerun={r.info.run_id}", f"tracking.uri={store}", f"output_dir={tmp_path / 'rerun'}"]
    cfg = compose_config(rerun)
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):  # as in the app: rerun composes the logged overrides
        assert train(cfg, overrides=rerun) == objective  # same overrides, same seed: the same run again
    exp = client.get_experiment_by_name("arithmetic")
    again = next(x for x in client.search_runs([exp.experiment_id]) if x.data.tags.get("rerun_of") == r.info.run_id)
    assert {k: v for k, v in again.data.params.items() if k.startswith("model.")} == {
        k: v for k, v in params.items() if k.startswith("model.")
    }
