"""`tracking=none`: every call succeeds without a store, except those that would need a run back, which say why."""

import pytest

from mlm_lab.tracking.null_tracker import NullTracker


def test_a_run_records_nothing_and_keeps_a_resumed_run_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tracker = NullTracker()
    tracker.check_reachable()
    with tracker.run({"seed": 0}, ["seed=0"], journal_dir=tmp_path) as active:
        assert active is tracker and tracker.run_id is None
        tracker.log_metrics({"train/loss": 1.0}, step=1)
        tracker.log_text("x", "samples.txt")
        tracker.log_artifact(tmp_path / "missing.pt", "checkpoints")
        tracker.set_tag("a", "b")
        tracker.set_tags({"c": "d"})
        assert tracker.caught_up(0) is True
        assert tracker.metric_history(["train/loss", "val/loss"]) == {"train/loss": [], "val/loss": []}
        assert tracker.log_model(tmp_path, ["1+2="], ["1+2="], ["3"], 5) is None and tracker.run_status("abc") is None
    assert list(tmp_path.iterdir()) == []  # no journal, no mlflow.db, no mlruns/
    with tracker.run({}, [], resume_run_id="abc", resume_note="step5"):
        assert tracker.run_id == "abc"


def test_an_exception_inside_a_run_passes_through():
    with pytest.raises(KeyError), NullTracker().run({}, []):
        raise KeyError("x")


def test_nothing_can_be_fetched_back():
    tracker = NullTracker()
    assert tracker.keeps_runs is False and tracker.register_as is None and tracker.resolved_uri == "none"
    assert tracker.run_exists("abc") is False
    with pytest.raises(FileNotFoundError, match="tracking=none keeps no runs.*pass the checkpoint file"):
        tracker.download_checkpoint("abc", ".")
    with pytest.raises(FileNotFoundError, match="tracking=none keeps no runs.*run abc"):
        tracker.logged_overrides("abc")
    assert tracker.run_status("abc") is None
