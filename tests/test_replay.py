"""`mlm-upload`'s replay of a journal: what it reads, what it refuses, and that a second replay sends nothing twice."""

import json

import pytest
from mlflow import MlflowClient

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.outbox import JOURNAL
from mlm_lab.tracking.replay import read_journal, replay, unsent
from mlm_lab.tracking.store import HTTP_RETRIES
from tests.tracking_fixtures import artifact_text, fresh_store


def test_upload_refuses_a_missing_journal_and_an_unreachable_store(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no such file"):
        replay(tmp_path)
    for name in HTTP_RETRIES:
        monkeypatch.setenv(name, "0")  # refused at once (and the variables are restored after the test)
    journal = tmp_path / "tracking_journal.jsonl"
    journal.write_text(json.dumps({"op": "run", "run_id": "0" * 32, "tracking_uri": "http://127.0.0.1:9"}) + "\n")
    with pytest.raises(ConfigError, match=r"http://127.0.0.1:9 .*Fix: .*tracking_uri=URI"):
        replay(journal)
    journal.write_text("not json\n" + journal.read_text())
    with pytest.raises(ConfigError, match="line 1 is not JSON"):
        replay(journal)


def test_a_journal_cut_by_a_kill_is_read_up_to_its_last_whole_line(tmp_path):
    journal = tmp_path / "tracking_journal.jsonl"
    header = {"op": "run", "run_id": "a" * 32, "tracking_uri": "sqlite:///x.db"}
    point = {"op": "metrics", "step": 5, "timestamp": 1, "values": {"train/loss": 2.5}}
    journal.write_text(json.dumps(header) + "\n" + json.dumps(point) + "\n" + '{"op": "metrics", "st')
    assert read_journal(journal) == [(header, [point])]
    journal.write_text(json.dumps(point) + "\n")
    with pytest.raises(ConfigError, match="no run header before line 1"):
        read_journal(journal)


@pytest.fixture
def journal(tmp_path, monkeypatch):
    """A run in a sqlite store and the journal its process wrote while the store was down: points, tags, a text, a file, the end."""
    monkeypatch.chdir(tmp_path)
    uri = fresh_store(tmp_path)
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("replay")).info.run_id
    (tmp_path / "latest.pt").write_bytes(b"weights")
    writes = [
        {"op": "metrics", "step": 1, "timestamp": 1001, "values": {"train/loss": 2.0, "train/lr": 0.1}},
        {"op": "metrics", "step": 2, "timestamp": 1002, "values": {"train/loss": 1.5}},
        {"op": "tags", "tags": {"stage": "fit"}},
        {"op": "text", "text": "samples", "artifact_file": "samples.txt"},
        {"op": "artifact", "path": str(tmp_path / "latest.pt"), "artifact_path": "checkpoints"},
        {"op": "end", "status": "FINISHED", "end_time": 2000},
    ]
    header = {"op": "run", "run_id": run_id, "tracking_uri": uri, "time": 0}
    (tmp_path / JOURNAL).write_text("".join(json.dumps(entry) + "\n" for entry in [header, *writes]))
    return tmp_path, uri, run_id


def test_a_journal_replayed_twice_sends_each_point_and_file_once(journal):
    folder, uri, run_id = journal
    assert replay(folder) == {"metrics": 2, "tags": 1, "text": 1, "artifact": 1, "end": 1}  # a folder finds its journal
    again = replay(folder / JOURNAL, uri)
    assert again == {"tags": 1, "text": 1, "end": 1}  # idempotent writes go again; points and the file do not
    client = MlflowClient(uri)
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train/loss")] == [(1, 2.0), (2, 1.5)]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "fit" and run.info.end_time == 2000
    assert [a.path for a in client.list_artifacts(run_id, "checkpoints")] == ["checkpoints/latest.pt"]
    assert artifact_text(uri, run_id, "samples.txt") == "samples"


def test_only_what_the_store_lacks_is_unsent(journal):
    folder, uri, run_id = journal
    client = MlflowClient(uri)
    client.log_metric(run_id, "train/loss", 2.0, timestamp=1001, step=1)  # sent before the store went down
    ((header, writes),) = read_journal(folder / JOURNAL)
    todo = unsent(client, run_id, writes)
    assert todo[0] == {**writes[0], "values": {"train/lr": 0.1}} and todo[1] == writes[1]
    client.log_artifact(run_id, str(folder / "latest.pt"), "checkpoints")  # the file is there, the same size
    assert not any(w["op"] == "artifact" for w in unsent(client, run_id, writes))
    (folder / "latest.pt").write_bytes(b"weights, rewritten later")  # a file whose size differs is sent again
    assert any(w["op"] == "artifact" for w in unsent(client, run_id, writes))


def test_a_file_gone_from_disk_is_left_out(journal):
    folder, uri, run_id = journal
    (folder / "latest.pt").unlink()
    assert "artifact" not in replay(folder)
    assert MlflowClient(uri).list_artifacts(run_id, "checkpoints") == []
