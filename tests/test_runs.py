"""The queries sweeps and comparisons share: a parent's finished children and the best of them."""

import math

import mlflow
import pytest

from mlm_lab.tracking.runs import DIRECTION_TAG, OBJECTIVE_TAG, OVERRIDES_TAG, best_group, finished_children, short
from tests.tracking_fixtures import fresh_store


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return mlflow.MlflowClient(fresh_store(tmp_path))


def child(client, experiment_id, parent, status="FINISHED", value=None, objective="val/accuracy", direction="maximize", overrides=""):
    tags = {"mlflow.parentRunId": parent, OBJECTIVE_TAG: objective, DIRECTION_TAG: direction, OVERRIDES_TAG: overrides}
    run = client.create_run(experiment_id, tags=tags)
    if value is not None:
        client.log_metric(run.info.run_id, "val/accuracy", value)
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def test_only_finished_children_of_that_parent_count(client):
    experiment_id = client.create_experiment("e")
    parent, other = (client.create_run(experiment_id).info.run_id for _ in range(2))
    done = child(client, experiment_id, parent, value=0.5)
    child(client, experiment_id, parent, status="FAILED", value=0.9)
    child(client, experiment_id, other, value=0.99)
    assert [r.info.run_id for r in finished_children(client, parent)] == [done]


def best_child(client, parent):
    found = best_group(client, parent)
    return found[0] if found else None


def test_the_best_child_follows_the_objective_and_its_direction(client):
    experiment_id = client.create_experiment("e")
    parent = client.create_run(experiment_id).info.run_id
    assert best_child(client, parent) is None
    child(client, experiment_id, parent)  # finished without its objective: not a candidate
    child(client, experiment_id, parent, value=math.nan)  # nor with a NaN
    assert best_child(client, parent) is None
    low = child(client, experiment_id, parent, value=0.2, overrides="lr=1")
    high = child(client, experiment_id, parent, value=0.8, overrides="lr=2")
    assert best_child(client, parent).info.run_id == high
    loss_parent = client.create_run(experiment_id).info.run_id
    lows = [child(client, experiment_id, loss_parent, value=v, direction="minimize", overrides=f"lr={v}") for v in (0.8, 0.2)]
    assert best_child(client, loss_parent).info.run_id == lows[1] != low


def test_the_best_group_is_the_best_mean_over_seeds_and_names_its_best_seed(client):
    """A config whose single best seed is the sweep's best run can still lose on its mean."""
    experiment_id = client.create_experiment("e")
    parent = client.create_run(experiment_id).info.run_id
    lucky = {s: child(client, experiment_id, parent, value=v, overrides=f"lr=1 seed={s}") for s, v in zip(range(3), (0.95, 0.5, 0.55))}
    steady = {s: child(client, experiment_id, parent, value=v, overrides=f"lr=2 seed={s}") for s, v in zip(range(3), (0.8, 0.82, 0.78))}
    run, mean, seeds, config = best_group(client, parent)
    assert config == "lr=2" and seeds == 3 and mean == pytest.approx(0.8) and run.info.run_id == steady[1]
    assert max(lucky.values(), key=lambda r: client.get_run(r).data.metrics["val/accuracy"]) == lucky[0]  # the best single run


@pytest.mark.parametrize(
    "value, shown",
    [("0.0013915971", "0.001392"), ("3", "3"), ("1e-3", "1e-3"), ("128.0", "128.0"), ("adamw", "adamw"), ("0.12345", "0.1235")],
)
def test_short_keeps_four_significant_digits_of_long_floats_only(value, shown):
    assert short(value) == shown
