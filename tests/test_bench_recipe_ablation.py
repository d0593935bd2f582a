import pytest

from tests.conftest import compose_config, load_bench


def test_overrides_merge_by_key_the_last_winning():
    ablation = load_bench("recipe_ablation")
    muon = ablation.overrides_up_to("muon")
    keys = [o.split("=", 1)[0].lstrip("~") for o in muon]
    assert len(keys) == len(set(keys))  # Hydra refuses two values for one group
    assert "optimizer=muon" in muon and "optimizer=adamw" not in muon
    assert "optimizer.adamw_lr=2e-3" in muon and "~optimizer.adamw_lr" not in muon
    assert "optimizer.lr=0.02" in muon and "optimizer.lr=2e-3" not in muon
    assert "model=llama" in ablation.overrides_up_to("residual_scalars")  # kept from BASE


@pytest.mark.parametrize("experiment", ["cervantes", "tinystories"])
def test_the_base_is_the_recipe_before_issue_16_whatever_the_preset(experiment):
    cfg = compose_config([f"experiment={experiment}", *load_bench("recipe_ablation").overrides_up_to("adamw_cosine")])
    assert cfg.model._target_.endswith(".llama") and cfg.model.dropout == 0.0
    assert cfg.optimizer._target_.endswith(".adamw") and cfg.optimizer.lr == 2e-3 and "adamw_lr" not in cfg.optimizer
    assert cfg.scheduler._target_.endswith(".cosine_warmup")


@pytest.mark.parametrize("stage", ["muon", "residual_scalars"])
def test_every_stage_composes(stage):
    cfg = compose_config(["experiment=cervantes", *load_bench("recipe_ablation").overrides_up_to(stage)])
    assert cfg.optimizer._target_.endswith(".muon") and cfg.optimizer.weight_decay == 0.0
