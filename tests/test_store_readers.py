"""A run trains while `mlflow ui` reads the same sqlite store: neither waits on the other's locks, nothing is lost."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest
from mlflow import MlflowClient

from tests.conftest import TINY, free_port, fresh_store, wait_for_http

pytestmark = pytest.mark.slow


def call(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_training_while_the_mlflow_ui_polls_the_same_store(tmp_path):
    uri = fresh_store(tmp_path)  # the store exists before the UI opens it
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": uri}
    experiment = MlflowClient(uri).create_experiment("polled")
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "-h", "127.0.0.1", "-p", str(port), "--workers", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # `mlflow ui` runs uvicorn as a child: stopped with its process group
    )
    base = f"http://127.0.0.1:{port}"
    polls, failures, done = [], [], threading.Event()

    def poll():  # what the UI's run page asks for, as fast as the server answers
        while not done.is_set():
            try:
                runs = call(f"{base}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment], "max_results": 10}).get("runs", [])
                for run in runs:
                    history = urllib.parse.urlencode({"run_id": run["info"]["run_id"], "metric_key": "train/loss"})
                    call(f"{base}/api/2.0/mlflow/metrics/get-history?{history}")
                polls.append(len(runs))
            except OSError as e:
                failures.append(repr(e))
            time.sleep(0.2)

    try:
        wait_for_http(f"{base}/health", ui)
        poller = threading.Thread(target=poll)
        poller.start()
        train = [sys.executable, "-m", "mlm_lab.apps.train", *TINY, "trainer.log_every=1", "name=polled"]
        result = subprocess.run(train, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        done.set()
        poller.join(timeout=60)
    finally:
        done.set()
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
    served = ui.stdout.read()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "database is locked" not in result.stdout + result.stderr + served
    assert failures == [] and len(polls) > 20 and polls[-1] == 1, (failures[:3], len(polls))
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("polled").experiment_id])
    assert run.info.status == "FINISHED" and len(client.get_metric_history(run.info.run_id, "train/loss")) == 10
    assert client.search_model_versions(f"run_id='{run.info.run_id}'")[0].status == "READY"
