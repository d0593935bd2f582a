"""A tracking server that fails mid-run: training goes on, writes wait and are sent when it is back, or later.

A real `mlflow server` sits behind a real HTTP proxy in this process; the proxy starts failing once the
first `train/loss` points have passed through it, so the outage always falls inside training.
"""

import http.client
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import pytest

from mlm_lab.tracking import checkpoint_models
from mlm_lab.tracking.checkpoint_models import run_checkpoints
from mlm_lab.tracking.replay import replay
from mlm_lab.training.checkpoint import load_checkpoint
from tests.conftest import TINY, mlflow_server, run_cli

RUN = [*TINY, "trainer.max_steps=40", "trainer.eval_every=20", "trainer.checkpoint_every=10", "hydra.run.dir=run"]
HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


class Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def forward(self):
        body, proxy = self.body(), self.server
        if proxy.failing():
            proxy.failed += 1
            if proxy.mode == "refuse":  # the connection drops unanswered, as when the server dies
                self.close_connection = True
                return
            answer = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "the proxy is down"}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
        upstream.request(self.command, self.path, body=body, headers={k: v for k, v in self.headers.items() if k.lower() not in HOP})
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()
        if self.path.endswith("/runs/log-batch") and b"train/loss" in body:
            proxy.loss_batches += 1

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = forward


class FlakyProxy(ThreadingHTTPServer):
    """Forwards to `upstream` until `after` batches with `train/loss` have passed, then fails (`mode`).

    It fails for `seconds` (None: until `healed` is set).
    """

    daemon_threads = True

    def __init__(self, upstream: str, mode: str, after: int = 1, seconds: float | None = None):
        super().__init__(("127.0.0.1", 0), Forward)
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream, self.mode, self.after, self.seconds = (host, int(port)), mode, after, seconds
        self.loss_batches, self.failed, self.down_since, self.healed = 0, 0, None, False
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def failing(self) -> bool:
        if self.healed or self.loss_batches < self.after:
            return False
        self.down_since = self.down_since or time.monotonic()
        return self.seconds is None or time.monotonic() - self.down_since < self.seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow_server")) as url:
        yield url


def points(client, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


@pytest.fixture(autouse=True)
def no_http_retries(monkeypatch):
    """MLflow's client gives up on a failing request at once: the outbox's own retries are what is tested (and faster)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


@pytest.mark.slow
def test_a_store_erroring_mid_run_gets_every_write_when_it_answers_again(server, tmp_path):
    (tmp_path / "a").mkdir()
    with FlakyProxy(server, mode="error", seconds=6) as proxy:
        result = run_cli(["mlm_lab.apps.train", *RUN, "tracking.experiment=outage", f"tracking.uri={proxy.url}"], cwd=tmp_path / "a")
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-5000:]
        assert proxy.failed > 0, "the outage never happened"
    assert "is failing" in out and "answers again" in out, out[-3000:]
    client = mlflow.MlflowClient(server)
    (run,) = client.search_runs([client.get_experiment_by_name("outage").experiment_id])
    assert run.info.status == "FINISHED"
    assert points(client, run.info.run_id, "train/loss") == [5, 10, 15, 20, 25, 30, 35, 40]  # each point once
    assert points(client, run.info.run_id, "val/loss") == [20, 40]
    assert "test/exact_match" in run.data.metrics and run.data.tags["mlm_lab.objective"] == "val/exact_match"
    assert "checkpoints/latest.pt" in {f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert [m.name for m in run_checkpoints(client, run.info.run_id, "final")] == ["final-step0000040"]
    assert any(v.run_id == run.info.run_id for v in client.search_model_versions("name='arithmetic'"))


@pytest.mark.slow
def test_a_store_that_never_comes_back_leaves_a_journal_that_mlm_upload_sends_later(server, tmp_path):
    with FlakyProxy(server, mode="refuse") as proxy:
        result = run_cli(
            ["mlm_lab.apps.train", *RUN, "tracking.experiment=gone", "tracking.flush_timeout=2", f"tracking.uri={proxy.url}"], cwd=tmp_path
        )
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-5000:]  # training finished: its outputs are on disk
        assert proxy.failed > 0
        final = load_checkpoint(tmp_path / "run" / "checkpoints" / "final.pt")
        assert final["step"] == 40
        journal = Path(re.search(r"mlm-upload journal=(\S+)", out).group(1))
        assert journal == tmp_path / "run" / "tracking_journal.jsonl"
        client = mlflow.MlflowClient(server)
        (run,) = client.search_runs([client.get_experiment_by_name("gone").experiment_id])
        before = points(client, run.info.run_id, "train/loss")  # what passed before the outage
        assert run.info.status == "RUNNING" and 0 < len(before) < 8 and before == [5, 10, 15, 20, 25, 30, 35][: len(before)]

        proxy.healed = True  # the store is back
        sent = run_cli(["mlm_lab.apps.upload", f"journal={journal}"], cwd=tmp_path)
        assert sent.returncode == 0, sent.stdout[-3000:] + sent.stderr[-3000:]
        again = replay(journal.parent)  # the run's folder works too

    run = client.get_run(run.info.run_id)
    assert run.info.status == "FINISHED"
    logged = [json.loads(line) for line in journal.read_text().splitlines()]
    expected = sorted(e["step"] for e in logged if e["op"] == "metrics" and "train/loss" in e["values"])
    assert expected == [5, 10, 15, 20, 25, 30, 35, 40]
    assert points(client, run.info.run_id, "train/loss") == expected  # sent once, though uploaded twice
    assert [e["values"]["val/loss"] for e in logged if "val/loss" in e.get("values", {})] == [
        m.value for m in sorted(client.get_metric_history(run.info.run_id, "val/loss"), key=lambda m: m.step)
    ]
    (final_model,) = run_checkpoints(client, run.info.run_id, "final")
    fetched, _ = checkpoint_models.download(client, final_model.model_id, tmp_path / "fetched")
    assert fetched.read_bytes() == (tmp_path / "run" / "checkpoints" / "final.pt").read_bytes()
    assert {m.key for m in final_model.metrics} >= {"val/loss", "val/exact_match"}
    versions = [v for v in client.search_model_versions("name='arithmetic'") if v.run_id == run.info.run_id]
    assert len(versions) == 1  # registered by the first upload only
    assert not {"metrics", "artifact", "register", "checkpoint"} & set(again), again
    mlflow.set_tracking_uri(server)
    predictor = mlflow.pyfunc.load_model(f"models:/arithmetic/{versions[0].version}").unwrap_python_model().predictor
    assert len(predictor.complete(["12+34="])) == 1
