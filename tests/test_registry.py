"""The registered model: logged from code with pinned requirements, registered, and loaded back with nothing else on disk."""

import shutil
from importlib.metadata import version

import mlflow
import pytest

from mlm_lab.tracking.registry import (
    PINNED,
    SIGNATURE,
    ReloadCheckFailed,
    load_registered,
    log_model,
    register_into,
    register_version,
    registered_version,
    requirements,
)
from tests.tracking_fixtures import fresh_store, tiny_model_dir


def test_requirements_pin_the_installed_versions_without_local_suffixes():
    pins = requirements()
    assert [p.split("==")[0] for p in pins] == list(PINNED)
    assert f"torch=={version('torch').split('+')[0]}" in pins and all("+" not in p for p in pins)


def test_a_model_logged_into_a_finished_run_registers_and_reloads_from_the_store_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = fresh_store(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry")
    op = {"model_dir": str(tiny_model_dir(tmp_path / "m1")), "input_example": ["1+2="], "name": "tiny"}
    with mlflow.start_run() as run:
        logged = log_model(op)
    assert not mlflow.MlflowClient(uri).search_registered_models()  # logged, not registered: that waits for the check
    first = register_version(logged, "tiny", 3)
    assert first == "models:/tiny/1" and register_version(first, "tiny", 3) == first
    assert registered_version(run.info.run_id, "tiny", 3) == first
    # a model that waited in the outbox: logged into its run after the run ended, from another thread or process
    # (here: the same run resumed to train on, whose step-5 weights are a new version)
    second = register_into(run.info.run_id, {**op, "model_dir": str(tiny_model_dir(tmp_path / "m2")), "step": 5})
    assert second == "models:/tiny/2" and registered_version(run.info.run_id, "tiny", 5) == second
    retried = {**op, "model_dir": str(tmp_path / "nowhere"), "step": 5}
    assert register_into(run.info.run_id, retried) == second  # a retried op: the version it registered, not a third
    assert {v.run_id for v in mlflow.MlflowClient(uri).search_model_versions("name='tiny'")} == {run.info.run_id}
    expected = load_registered("models:/tiny/1", uri)[0].complete(["1+2="], seed=0)
    shutil.rmtree(tmp_path / "m1")
    shutil.rmtree(tmp_path / "m2")
    predictor, config = load_registered("models:/tiny/latest", uri)
    assert config == {"name": "tiny"} and predictor.complete(["1+2="], seed=0) == expected  # same untrained weights (seed 0)
    logged = mlflow.models.get_model_info("models:/tiny/1")
    assert logged.signature == SIGNATURE


def test_a_model_that_fails_its_reload_check_is_logged_but_never_registered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = fresh_store(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry")
    with mlflow.start_run() as run:
        pass
    op = {"model_dir": str(tiny_model_dir(tmp_path / "m")), "input_example": ["1+2="], "name": "tiny"}
    op["check"] = {"prompts": ["1+2="], "expected": ["<not what it says>"]}
    with pytest.raises(ReloadCheckFailed, match="reloaded answers .* but the trained model answered"):
        register_into(run.info.run_id, op)
    assert mlflow.MlflowClient(uri).search_model_versions("name='tiny'") == []
    assert registered_version(run.info.run_id, "tiny", None) is None
