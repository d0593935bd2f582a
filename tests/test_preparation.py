"""`prepare`: what a command will run, after rerun and resume, before anything is built or a run is opened."""

import pytest
from hydra import initialize_config_dir
from mlflow import MlflowClient
from omegaconf import OmegaConf

from mlm_lab.errors import ConfigError
from mlm_lab.preparation import prepare
from mlm_lab.schemas import conf_dir
from mlm_lab.training.checkpoint import save_checkpoint
from mlm_lab.training.trainer import Trainer
from tests.conftest import SMALL, compose_config


def test_a_plain_command_is_planned_as_given(store, tmp_path):
    overrides = [*SMALL, "trainer.max_steps=7", f"tracking.uri={store}", f"output_dir={tmp_path}"]
    cfg = compose_config(overrides)
    plan = prepare(cfg, overrides)
    assert plan.config is cfg and plan.overrides == overrides and plan.finished is None
    assert plan.checkpoint is None and plan.resume_run_id is None and plan.resume_note == ""
    assert plan.tags == {} and plan.parent_run_id is None
    assert isinstance(plan.trainer, Trainer) and plan.trainer.max_steps == 7
    assert plan.tracker.resolved_uri == store and plan.tracker.experiment == "arithmetic"
    assert MlflowClient(store).search_experiments(filter_string="name = 'arithmetic'") == []  # nothing opened


def test_a_missing_group_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"^scheduler: is missing \(removed with ~scheduler\?\)\. Fix: choose one of conf/scheduler/"):
        prepare(compose_config([*SMALL, "~scheduler", f"output_dir={tmp_path}"]))


def test_a_rerun_is_planned_as_the_logged_command_with_the_new_overrides(store, tmp_path):
    client = MlflowClient(store)
    source = client.create_run(client.create_experiment("arithmetic")).info.run_id
    client.log_text(source, "model.d_model=48\ntracking.experiment=elsewhere\n", "overrides.txt")
    new = [f"rerun={source}", f"tracking.uri={store}", "trainer.max_steps=3", f"output_dir={tmp_path}"]
    cfg = compose_config(new)
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        plan = prepare(cfg, new)
    assert plan.tags == {"rerun_of": source} and plan.overrides[:2] == ["model.d_model=48", "tracking.experiment=elsewhere"]
    assert plan.config.model.d_model == 48 and plan.trainer.max_steps == 3
    assert plan.tracker.experiment == "elsewhere"  # the run's own tracking settings, not the look-up's


def checkpoint_of_an_untracked_run(tmp_path, step: int = 5):
    config = OmegaConf.to_container(
        compose_config([*SMALL, "tracking=none", "trainer.max_steps=5", f"output_dir={tmp_path}"]), resolve=True, enum_to_str=True
    )
    progress = {"step": step, "tokens": 100, "seconds": 1.0}
    return save_checkpoint({"config": config, "progress": progress, "step": step, "run_id": None}, tmp_path / "latest.pt")


@pytest.mark.parametrize("tracking", ["tracking=none", "tracking=mlflow"])
def test_a_resume_is_checked_before_the_run_is_reopened(tmp_path, tracking):
    path = checkpoint_of_an_untracked_run(tmp_path)
    spent = [f"resume={path}", tracking, f"output_dir={tmp_path / 'o'}"]
    with pytest.raises(ConfigError, match=r"^trainer\.max_steps: the resumed run has already spent its budget \(step 5, 100 tokens"):
        prepare(compose_config(spent), spent)
    more = [*spent, "trainer.max_steps=10"]
    if tracking == "tracking=mlflow":
        with pytest.raises(
            ConfigError, match=r"^resume: the checkpoint was written by an untracked run\. Fix: resume it with tracking=none"
        ):
            prepare(compose_config(more), more)
        return
    plan = prepare(compose_config(more), more)
    assert plan.checkpoint["step"] == 5 and plan.resume_run_id is None and plan.resume_note == "step5"
    assert plan.trainer.max_steps == 10 and plan.config.output_dir == str(tmp_path / "o")  # changeable: budget and outputs
    assert plan.config.data.n_train == 4000  # the rest is the checkpoint's own config
