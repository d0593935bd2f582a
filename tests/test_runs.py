"""The queries sweeps and comparisons share: a parent's finished children and the best of them."""

import mlflow
import pytest

from mlm_lab.tracking.runs import DIRECTION_TAG, OBJECTIVE_TAG, best_child, finished_children, short
from tests.tracking_fixtures import fresh_store


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return mlflow.MlflowClient(fresh_store(tmp_path))


def child(client, experiment_id, parent, status="FINISHED", value=None, objective="val/accuracy", direction="maximize"):
    run = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent, OBJECTIVE_TAG: objective, DIRECTION_TAG: direction})
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


def test_the_best_child_follows_the_objective_and_its_direction(client):
    experiment_id = client.create_experiment("e")
    parent = client.create_run(experiment_id).info.run_id
    assert best_child(client, parent) is None
    child(client, experiment_id, parent)  # finished without its objective: not a candidate
    assert best_child(client, parent) is None
    low = child(client, experiment_id, parent, value=0.2)
    high = child(client, experiment_id, parent, value=0.8)
    assert best_child(client, parent).info.run_id == high
    loss_parent = client.create_run(experiment_id).info.run_id
    lows = [child(client, experiment_id, loss_parent, value=v, direction="minimize") for v in (0.8, 0.2)]
    assert best_child(client, loss_parent).info.run_id == lows[1] != low


@pytest.mark.parametrize(
    "value, shown",
    [("0.0013915971", "0.001392"), ("3", "3"), ("1e-3", "1e-3"), ("128.0", "128.0"), ("adamw", "adamw"), ("0.12345", "0.1235")],
)
def test_short_keeps_four_significant_digits_of_long_floats_only(value, shown):
    assert short(value) == shown
