"""What a run saw, as MLflow datasets: found by digest, with their context and profile; mlm-compare filters by them."""

import json

import mlflow
import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.comparison import dataset_filter, search
from mlm_lab.tracking.datasets import DIGEST_CHARS, dataset_inputs


def test_a_tasks_datasets_become_mlflow_inputs_with_context_source_and_profile():
    digest = "ab" * 32
    [found] = dataset_inputs(
        [{"name": "quijote/train", "digest": digest, "source": "/data/q.txt", "context": "training", "profile": {"documents": 3}}]
    )
    assert found.dataset.name == "quijote/train" and found.dataset.digest == digest[:DIGEST_CHARS]
    assert json.loads(found.dataset.source) == {"uri": "/data/q.txt"} and json.loads(found.dataset.profile) == {"documents": 3}
    assert [(t.key, t.value) for t in found.tags] == [("mlflow.data.context", "training")]


def test_runs_that_saw_the_same_data_are_found_by_its_digest(tiny_runs):
    _, uri = tiny_runs
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("arithmetic").experiment_id])
    runs = [r for r in runs if r.inputs.dataset_inputs]
    assert len(runs) == 2
    contexts = {d.dataset.name: d.tags[0].value for d in runs[0].inputs.dataset_inputs}
    assert contexts == {"arithmetic/train": "training", "arithmetic/val": "validation", "arithmetic/test": "test"}
    train = next(d.dataset for d in runs[0].inputs.dataset_inputs if d.dataset.name == "arithmetic/train")
    assert json.loads(train.profile)["problems"] == 1000 and json.loads(train.source)["settings"]["seed"] == 0
    both = search(uri, "arithmetic", dataset=train.digest[:10])
    assert sorted(both["run_id"]) == sorted(r.info.run_id for r in runs)  # the same generator settings, seed and split
    assert search(uri, "arithmetic", dataset="0" * 12).empty


def test_a_digest_that_is_not_one_is_refused():
    with pytest.raises(ConfigError, match="is not a digest"):
        dataset_filter("abc' or 1=1")
    assert dataset_filter(None) == ""


def test_every_run_logs_cpu_and_memory_as_system_metrics(tmp_path):
    """tracking.system_metrics (on by default) samples the host in MLflow's own thread, here every 0.2 s."""
    from mlflow import MlflowClient

    from tests.conftest import TINY, train_runs

    uri = train_runs(tmp_path, {"sampled": [*TINY, "trainer.max_steps=40", "tracking.system_metrics_interval=0.2"]})
    client = MlflowClient(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "arithmetic"]
    (run,) = client.search_runs([experiment.experiment_id])
    system = {k for k in run.data.metrics if k.startswith("system/")}
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= system, sorted(run.data.metrics)
    assert 0 <= run.data.metrics["system/cpu_utilization_percentage"] <= 100
    assert len(client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")) >= 2  # sampled, not once
