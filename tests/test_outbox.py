"""The outbox: each write journaled before it is sent, sent in order, consecutive points batched, and waiting while the store fails."""

import json

import pytest
from mlflow import MlflowClient

from mlm_lab.tracking.outbox import BATCH_POINTS, JOURNAL, Outbox, refused, send
from mlm_lab.tracking.store import HTTP_RETRIES
from tests.conftest import free_port
from tests.tracking_fixtures import artifact_text, fresh_store


class Recording(MlflowClient):
    """The real client, noting what each log_batch request carried."""

    def __init__(self, uri):
        super().__init__(uri)
        self.batches: list[tuple[str, int]] = []

    def log_batch(self, run_id, metrics=(), params=(), tags=(), synchronous=None):
        self.batches.append(("metrics", len(metrics)) if metrics else ("tags", len(tags)))
        return super().log_batch(run_id, metrics=metrics, params=params, tags=tags, synchronous=synchronous)


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = fresh_store(tmp_path)
    client = MlflowClient(uri)
    return uri, client.create_run(client.create_experiment("outbox")).info.run_id


def points(op_step: int, n: int = 1) -> dict:
    return {"op": "metrics", "step": op_step, "timestamp": 1000 + op_step, "values": {f"m{i}": float(op_step) for i in range(n)}}


def test_every_write_is_in_the_journal_before_it_is_sent_and_arrives_in_order(run, tmp_path):
    uri, run_id = run
    outbox = Outbox(uri, run_id, tmp_path / "out" / JOURNAL)
    outbox._client = client = Recording(uri)
    # Holding the outbox's lock (reentrant, so put() still works) keeps its thread from sending anything yet.
    with outbox._cond:
        outbox.note({"op": "run", "run_id": run_id})
        writes = [points(1), points(2), points(3), {"op": "tags", "tags": {"stage": "a"}}, points(4)]
        writes += [{"op": "tags", "tags": {"stage": "b"}}, {"op": "text", "text": "hi", "artifact_file": "t.txt"}]
        for op in writes:
            outbox.put(op)
        journal = [json.loads(line) for line in (tmp_path / "out" / JOURNAL).read_text().splitlines()]
        assert journal == [{"op": "run", "run_id": run_id}, *writes]
        assert client.batches == [] and MlflowClient(uri).get_run(run_id).data.metrics == {}  # journaled, not sent
    assert outbox.close(30) is True
    assert client.batches == [("metrics", 3), ("tags", 1), ("metrics", 1), ("tags", 1)]  # points 1-3 in one request
    stored = MlflowClient(uri)
    assert [(m.step, m.value) for m in stored.get_metric_history(run_id, "m0")] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
    assert stored.get_run(run_id).data.tags["stage"] == "b"  # the later tag wins: order kept
    assert artifact_text(uri, run_id, "t.txt") == "hi"


def test_a_batch_stops_at_mlflows_limit_on_points_per_request(run):
    uri, run_id = run
    outbox = Outbox(uri, run_id, journal=None)
    outbox._client = client = Recording(uri)
    half = BATCH_POINTS // 2 + 100
    with outbox._cond:
        for step in range(3):
            outbox.put(points(step, n=half))
    assert outbox.close(60)
    assert client.batches == [("metrics", half)] * 3  # two together would pass BATCH_POINTS
    client.batches.clear()
    send(client, run_id, [points(9, n=BATCH_POINTS + 5)])  # one write over the limit: split into requests
    assert client.batches == [("metrics", BATCH_POINTS), ("metrics", 5)]


def test_a_refused_write_is_dropped_and_the_rest_still_go(run, tmp_path):
    uri, run_id = run
    outbox = Outbox(uri, run_id, journal=None)
    outbox.put({"op": "artifact", "path": str(tmp_path / "gone.pt"), "artifact_path": "checkpoints"})
    outbox.put({"op": "delete_tag", "key": "never_set"})  # already gone: a replay's case, not an error
    outbox.put({"op": "end", "status": "FINISHED", "end_time": 5000})
    assert outbox.close(30) and outbox.failing is None
    assert MlflowClient(uri).get_run(run_id).info.status == "FINISHED"
    assert refused(FileNotFoundError("x")) and not refused(ConnectionError("x"))
    with pytest.raises(ValueError, match="unknown journal entry 'bogus'"):
        send(MlflowClient(uri), run_id, [{"op": "bogus"}])


def test_while_the_store_does_not_answer_writes_wait_in_the_journal(tmp_path, monkeypatch):
    for name in HTTP_RETRIES:
        monkeypatch.setenv(name, "0")  # refused at once
    outbox = Outbox(f"http://127.0.0.1:{free_port()}", "0" * 32, tmp_path / JOURNAL, max_backoff=0.05)
    with outbox._cond:  # both queued before the first attempt
        outbox.put(points(1))
        outbox.put({"op": "tags", "tags": {"a": "b"}})
    assert outbox.drain(1.5) is False
    assert outbox.failing is not None and outbox.held == 2
    assert outbox.close(0.2) is False
    assert [json.loads(line)["op"] for line in (tmp_path / JOURNAL).read_text().splitlines()] == ["metrics", "tags"]
