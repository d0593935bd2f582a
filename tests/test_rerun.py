"""`rerun=<run id>`: a logged run's overrides, merged with new ones, composed again (against a real sqlite store)."""

import pytest
from hydra import initialize_config_dir
from mlflow import MlflowClient

from mlm_lab.errors import ConfigError
from mlm_lab.instantiate import build
from mlm_lab.rerun import merge_overrides, rerun_config
from mlm_lab.schemas import conf_dir
from tests.conftest import compose_config


def test_new_overrides_replace_the_same_key_and_keep_the_rest_in_order():
    assert merge_overrides(["model.d_model=48", "optimizer.lr=0.003", "seed=1"], ["seed=2", "model.d_model=64"]) == [
        "optimizer.lr=0.003",
        "seed=2",
        "model.d_model=64",
    ]
    # a group choice replaces the choice only; `+` and `~` name the same key as a plain override
    assert merge_overrides(["model=gpt2", "model.d_model=48", "+trainer.init_from=a.pt"], ["model=llama", "~trainer.init_from"]) == [
        "model.d_model=48",
        "model=llama",
        "~trainer.init_from",
    ]
    assert merge_overrides([], ["seed=3"]) == ["seed=3"] and merge_overrides(["seed=3"], []) == ["seed=3"]


def logged_run(store, overrides: list[str]) -> str:
    client = MlflowClient(store)
    run = client.create_run(client.create_experiment("arithmetic"))
    client.log_text(run.info.run_id, "\n".join(overrides) + "\n", "overrides.txt")
    return run.info.run_id


def test_a_logged_run_is_composed_again_with_the_new_overrides(store):
    source = logged_run(store, ["model.d_model=48", "optimizer.lr=0.003", "data.n_train=1000"])
    new = [f"rerun={source}", f"tracking.uri={store}", "model=llama", "model.d_model=64"]
    cfg = compose_config(new)
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):  # as in the app
        composed, merged, got = rerun_config(cfg, new, build(cfg.tracking, "tracking"))
    assert got == source
    assert merged == ["optimizer.lr=0.003", "data.n_train=1000", f"tracking.uri={store}", "model=llama", "model.d_model=64"]
    assert composed.model._target_ == "mlm_lab.models.builders.llama" and composed.model.d_model == 64
    assert composed.optimizer.lr == 0.003 and composed.data.n_train == 1000 and composed.rerun is None  # rerun= is not carried


def test_rerun_refuses_an_unknown_run_and_rerun_with_resume(store):
    cfg = compose_config(["rerun=0123456789abcdef0123456789abcdef", f"tracking.uri={store}"])
    with pytest.raises(ConfigError, match=r"^rerun: run 0123456789abcdef0123456789abcdef is not in the tracking store sqlite.*Fix: pass"):
        rerun_config(cfg, [], build(cfg.tracking, "tracking"))
    both = compose_config(["rerun=abc", "resume=abc"])
    with pytest.raises(ConfigError, match=r"^rerun and resume were both given\. Fix: resume=<run id> continues a run"):
        rerun_config(both, [], None)
