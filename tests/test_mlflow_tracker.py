"""The MLflow tracker's run lifecycle and store reads, against a real sqlite store in tmp_path."""

import os
import signal

import mlflow
import pytest
import yaml

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.mlflow_tracker import MlflowTracker
from mlm_lab.tracking.outbox import JOURNAL
from mlm_lab.tracking.store import DEFAULT_URI
from mlm_lab.training.signals import RaiseOnSignal, TrainingInterrupted
from tests.tracking_fixtures import artifact_text, fresh_store


def test_uri_resolution_order(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert MlflowTracker().resolved_uri == DEFAULT_URI == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert MlflowTracker().resolved_uri == "sqlite:///env.db"
    assert MlflowTracker(uri="http://127.0.0.1:5000").resolved_uri == "http://127.0.0.1:5000"


def test_empty_names_are_refused():
    with pytest.raises(ConfigError, match="tracking.experiment"):
        MlflowTracker(experiment="")
    with pytest.raises(ConfigError, match="tracking.register_as"):
        MlflowTracker(register_as="")
    with pytest.raises(ConfigError, match="tracking.flush_timeout"):
        MlflowTracker(flush_timeout=-1)


@pytest.fixture
def tracker(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # artifacts go to ./mlruns
    return MlflowTracker(uri=fresh_store(tmp_path), experiment="unit", run_name="one")


def test_a_run_logs_params_config_overrides_metrics_and_tags_then_finishes(tracker, tmp_path):
    config = {"model": {"d_model": 8}, "api_key": "***"}
    with tracker.run(config, ["model.d_model=8", "hf_token=secret"], tags={"mine": "yes"}, journal_dir=tmp_path / "out"):
        tracker.log_metrics({"train/loss": 2.0}, step=1)
        tracker.log_metrics({"train/loss": 1.5}, step=2)
        tracker.set_tag("stage", "fit")
        tracker.log_text("hello", "samples.txt")
        (tmp_path / "file.txt").write_text("x")
        tracker.log_artifact(tmp_path / "file.txt", "extra")
        assert tracker.metric_history(["train/loss", "val/loss"]) == {"train/loss": [(1, 2.0), (2, 1.5)], "val/loss": []}
    run = mlflow.MlflowClient(tracker.resolved_uri).get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "one"
    assert run.data.params == {"model.d_model": "8", "api_key": "***"}
    assert run.data.tags["mine"] == "yes" and run.data.tags["stage"] == "fit" and "git_commit" in run.data.tags
    assert tracker.logged_overrides(tracker.run_id) == ["model.d_model=8", "hf_token=***"]  # redacted
    assert artifact_text(tracker.resolved_uri, tracker.run_id, "samples.txt") == "hello"
    assert yaml.safe_load(artifact_text(tracker.resolved_uri, tracker.run_id, "config.yaml")) == config
    assert {a.path for a in mlflow.MlflowClient().list_artifacts(tracker.run_id, "extra")} == {"extra/file.txt"}
    assert (tmp_path / "out" / JOURNAL).read_text().count("\n") >= 7  # header, 6 writes, the end
    assert tracker.outbox is None and tracker.caught_up(0)


def test_an_exception_ends_the_run_failed_with_its_error_and_a_resume_clears_it(tracker):
    class Stopped(RuntimeError):
        tags = {"interrupted.step": "3", "resume_command": "mlm-train resume=x"}

    with pytest.raises(Stopped), tracker.run({"a": 1}, []):
        raise Stopped("at step 3")
    run_id = tracker.run_id
    failed = mlflow.MlflowClient(tracker.resolved_uri).get_run(run_id)
    assert failed.info.status == "FAILED"
    assert failed.data.tags["error"] == "Stopped: at step 3" and failed.data.tags["interrupted.step"] == "3"
    with tracker.run({"a": 2}, ["a=2"], resume_run_id=run_id, resume_note="step3"):
        assert tracker.run_id == run_id
    resumed = mlflow.MlflowClient(tracker.resolved_uri).get_run(run_id)
    assert resumed.info.status == "FINISHED" and resumed.data.tags["resumed"] == "step3"
    assert not {"error", "error_type", "resume_command"} & set(resumed.data.tags)  # interrupted.* stay as history
    assert resumed.data.tags["interrupted.step"] == "3"
    assert resumed.data.params == {"a": "1"}  # params are write-once; the resumed config is an artifact
    assert yaml.safe_load(artifact_text(tracker.resolved_uri, run_id, "resumes/step3/config.yaml")) == {"a": 2}


def test_an_interruption_ends_the_run_killed(tracker):
    with pytest.raises(KeyboardInterrupt), tracker.run({}, []):
        raise KeyboardInterrupt
    assert mlflow.MlflowClient(tracker.resolved_uri).get_run(tracker.run_id).info.status == "KILLED"


def test_a_signal_while_the_run_starts_waits_for_the_start_then_ends_it_killed(tracker, monkeypatch):
    """The start's writes are not cut half-way, and the started run does not stay RUNNING."""
    start = tracker._start

    def start_and_signal(*args):
        os.kill(os.getpid(), signal.SIGTERM)  # lands inside the held start
        start(*args)

    monkeypatch.setattr(tracker, "_start", start_and_signal)
    body = []
    with pytest.raises(TrainingInterrupted), RaiseOnSignal(lambda signum: TrainingInterrupted(signum, 0, None)):
        with tracker.run({"a": 1}, []):
            body.append("ran")
    run = mlflow.MlflowClient(tracker.resolved_uri).get_run(tracker.run_id)
    assert body == [] and run.info.status == "KILLED" and run.data.params == {"a": "1"}
    assert run.data.tags["interrupted.signal"] == "SIGTERM"


def test_store_reads_of_past_runs(tracker, tmp_path):
    assert not tracker.run_exists("0" * 32)
    with tracker.run({}, []):
        (tmp_path / "latest.pt").write_bytes(b"latest")
        tracker.log_artifact(tmp_path / "latest.pt", "checkpoints")
    assert tracker.run_exists(tracker.run_id)
    got = tracker.download_checkpoint(tracker.run_id, tmp_path / "down")
    assert got.name == "latest.pt" and got.read_bytes() == b"latest"
    with tracker.run({}, []):
        pass
    with pytest.raises(FileNotFoundError, match="no checkpoints/final.pt or checkpoints/latest.pt"):
        tracker.download_checkpoint(tracker.run_id, tmp_path / "down")
    bare = (client := mlflow.MlflowClient(tracker.resolved_uri)).create_run(client.get_experiment_by_name("unit").experiment_id)
    with pytest.raises(FileNotFoundError, match="no overrides.txt"):
        tracker.logged_overrides(bare.info.run_id)
