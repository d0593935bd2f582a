"""Registered versions that say what they are, and `champion`: it moves to a new version only when that one is better."""

import math

import mlflow
import pytest

from mlm_lab.tracking import champion
from mlm_lab.tracking.registry import register_version


def test_better_follows_the_direction_and_nan_never_wins():
    assert champion.better(0.9, 0.5, "maximize") and not champion.better(0.5, 0.9, "maximize")
    assert champion.better(1.2, 1.5, "minimize") and not champion.better(1.5, 1.5, "minimize")  # a tie keeps the champion
    assert champion.better(0.1, None, "maximize") and champion.better(0.1, math.nan, "minimize")
    assert not champion.better(math.nan, 0.5, "maximize") and not champion.better(math.nan, None, "minimize")


def info(value: float, direction: str = "maximize") -> dict:
    tags = {champion.OBJECTIVE_TAG: "val/exact_match", champion.VALUE_TAG: repr(value), champion.DIRECTION_TAG: direction}
    return {"tags": tags, "description": f"val/exact_match = {value}", "value": value, "direction": direction}


def versions(client, name: str, n: int) -> list[str]:
    """`n` real versions of `name` in the store, each from its own run (what the register path finds)."""
    client.create_registered_model(name)
    mlflow.set_experiment(f"champion_{name}")  # this store's own experiment (another test may have left one active)
    uris = []
    for _ in range(n):
        with mlflow.start_run() as run:
            pass
        v = client.create_model_version(name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        uris.append(f"models:/{name}/{v.version}")
    return uris


@pytest.mark.parametrize(
    "direction, values, champions",
    [
        ("maximize", [0.5, 0.3, 0.8, math.nan, 0.8], ["1", "1", "3", "3", "3"]),
        ("minimize", [1.9, 1.7, 1.8, 1.2], ["1", "2", "2", "4"]),
    ],
)
def test_champion_moves_only_on_improvement(store, direction, values, champions):
    client = mlflow.MlflowClient(store)
    mlflow.set_tracking_uri(store)
    name = f"m_{direction}"
    for uri, value, expected in zip(versions(client, name, len(values)), values, champions):
        register_version(uri, name, step=10, info=info(value, direction))
        assert str(client.get_model_version_by_alias(name, champion.CHAMPION).version) == expected
    described = client.get_model_version(name, "2")
    assert described.tags[champion.VALUE_TAG] == repr(values[1]) and described.description == f"val/exact_match = {values[1]}"


def test_a_version_from_before_the_tags_is_judged_by_its_runs_metric(store):
    client = mlflow.MlflowClient(store)
    mlflow.set_tracking_uri(store)
    old, new = versions(client, "old", 2)
    run_id = client.get_model_version("old", "1").run_id
    client.log_metric(run_id, "val/exact_match", 0.9)
    client.set_tag(run_id, "mlm_lab.objective", "val/exact_match")
    client.set_registered_model_alias("old", champion.CHAMPION, "1")  # crowned without the version tags
    register_version(new, "old", step=1, info=info(0.7))
    assert str(client.get_model_version_by_alias("old", champion.CHAMPION).version) == "1"
    register_version(new, "old", step=1, info=info(0.95))  # a retried registration of the same version, now better
    assert str(client.get_model_version_by_alias("old", champion.CHAMPION).version) == "2"


def test_a_run_tags_and_describes_its_version_and_crowns_the_first(tiny_runs):
    _, uri = tiny_runs
    client = mlflow.MlflowClient(uri)
    found = sorted(client.search_model_versions("name='arithmetic'"), key=lambda v: int(v.version))
    assert [v.tags[champion.RUN_TAG] for v in found] == [v.run_id for v in found]
    for v in found:
        assert v.tags[champion.OBJECTIVE_TAG] == "val/exact_match" and v.tags[champion.DIRECTION_TAG] == "maximize"
        run = client.get_run(v.run_id)
        assert float(v.tags[champion.VALUE_TAG]) == run.data.metrics["val/exact_match"]
        assert v.tags["mlm_lab.tokenizer.sha256"] == run.data.tags["tokenizer.sha256"] and len(v.tags["mlm_lab.data.sha256"]) == 64
        assert v.description.startswith("3-digit addition") and "overrides: " in v.description and "model.d_model=" in v.description
    best = client.get_model_version_by_alias("arithmetic", champion.CHAMPION)
    values = [float(v.tags[champion.VALUE_TAG]) for v in found]
    assert float(best.tags[champion.VALUE_TAG]) == max(values)
    assert best.version == next(v.version for v in found if float(v.tags[champion.VALUE_TAG]) == max(values))  # ties: the first


def test_alias_names_are_what_mlflow_takes():
    assert champion.alias_name("sweep-3f2a/b c") == "sweep-3f2a-b-c"
