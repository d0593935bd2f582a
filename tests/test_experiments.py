"""Every experiment preset runs a few steps on CPU against a temporary tracking store."""

import pytest
from mlflow import MlflowClient

from mlm_lab.runner import train
from mlm_lab.schemas import conf_dir
from tests.conftest import compose_config, data_file, local_data, run_cli

EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))
SHRINK = ["trainer.max_steps=3", "trainer.eval_every=3", "trainer.log_every=1", "hardware=cpu", "data.batch_size=8"]
ARITHMETIC_SHRINK = ["data.n_train=64", "data.n_val=16", "data.n_test=16"]


def shrink(experiment: str, tmp_path) -> list[str]:
    """A few cheap steps of the preset: arithmetic with few problems; text corpora from the excerpts in tests/data, scored on a
    small validation file (the presets' shapes are kept: they are what a user runs)."""
    data = compose_config([f"experiment={experiment}", "output_dir=x"], return_hydra_config=True).hydra.runtime.choices["data"]
    if data == "arithmetic":
        return ARITHMETIC_SHRINK
    overrides = [*local_data(data), f"cache_dir={tmp_path / 'cache'}", "data.max_new_tokens=8"]
    if data == "tinystories":
        valid = tmp_path / "valid.txt"
        valid.write_text("<|endoftext|>\n".join(open(data_file("tinystories/valid.txt")).read().split("<|endoftext|>\n")[:20]))
        overrides.append(f"data.corpus.val_path={valid}")
    return overrides


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_a_few_steps(experiment, store, tmp_path):
    cfg = compose_config(
        [f"experiment={experiment}", *SHRINK, *shrink(experiment, tmp_path), f"tracking.uri={store}", f"output_dir={tmp_path / 'out'}"]
    )
    train(cfg)
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name(cfg.name).experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert client.search_model_versions(f"name='{cfg.tracking.register_as}'")
    if experiment in ("cervantes", "tinystories"):  # the text presets' dev check: held-out text scored at every evaluation
        assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "heldout/bits_per_byte")] == [3]


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(p.stem for p in (conf_dir() / "model").glob("*.yaml")))
def test_every_model_trains_registers_and_reloads(model, store, tmp_path):
    overrides = [f"model={model}", "model.d_model=32", "model.n_heads=4", "model.n_layers=1", *SHRINK, *ARITHMETIC_SHRINK]
    cfg = compose_config([*overrides, f"tracking.uri={store}", f"output_dir={tmp_path / 'out'}"])
    train(cfg)
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.name).experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["reload_check"] == "passed"
    assert run.data.params["model._target_"].endswith(model)


def test_debug_fast_runs_a_text_experiment_untracked(tmp_path):
    """`experiment=cervantes debug=fast`: the preset's corpus and tokenizer, a tiny model; nothing logged or registered.
    (Every preset's model builder takes debug=fast's shape: tests/test_configs.py.)"""
    out = tmp_path / "out"
    cfg = compose_config(["experiment=cervantes", "debug=fast", *shrink("cervantes", tmp_path), f"output_dir={out}"])
    objective = train(cfg)
    assert objective == objective  # a number, not nan: the 5 steps and the evaluation ran
    assert (out / "model").is_dir() and (out / "checkpoints").is_dir()
    assert not list(out.glob("*.db")) and not (tmp_path / "mlruns").exists()


@pytest.mark.slow  # a CLI process per case: the fast tier keeps the in-process checks
def test_mlm_train_debug_fast_writes_only_its_run_folder(tmp_path):
    result = run_cli(["mlm_lab.apps.train", "debug=fast", "hydra.run.dir=run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no mlflow.db, no mlruns/ beside it
    assert (tmp_path / "run" / "model").is_dir() and "step 5/5" in result.stdout + result.stderr
