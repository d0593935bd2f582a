"""Which store a run uses, the check before any work, and the short HTTP retries for a server."""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.store import DEFAULT_URI, HTTP_RETRIES, check_reachable, few_http_retries, resolve_uri
from tests.conftest import free_port


def test_the_setting_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri(None) == DEFAULT_URI
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert resolve_uri(None) == "sqlite:///env.db"
    assert resolve_uri("http://h:1") == "http://h:1"


def test_a_server_gets_few_retries_unless_the_user_set_them(monkeypatch):
    for name in HTTP_RETRIES:  # set, then removed: the test's end restores each as it was, whatever few_http_retries set
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    few_http_retries("sqlite:///x.db")
    assert not any(name in os.environ for name in HTTP_RETRIES)  # a local store: left alone
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    few_http_retries("https://tracking.example")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2" and os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"


def test_a_sqlite_store_needs_its_folder_and_a_folder_path_is_refused(tmp_path):
    check_reachable(f"sqlite:///{tmp_path / 'new.db'}")  # a file that does not exist yet is fine
    with pytest.raises(ConfigError, match=r"folder of the sqlite store .* does not exist.*Fix: create it"):
        check_reachable(f"sqlite:///{tmp_path / 'nope' / 'mlflow.db'}")
    for uri in (str(tmp_path), f"file://{tmp_path}"):
        with pytest.raises(ConfigError, match="MLflow's file store.*Fix: tracking.uri=sqlite:///mlflow.db"):
            check_reachable(uri)


class NotFound(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404)

    def log_message(self, *args):
        pass


def test_any_http_answer_means_a_server_is_there_and_silence_is_refused():
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_reachable(f"http://127.0.0.1:{server.server_port}/")  # a 404 on /health: still a server
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(ConfigError, match=r"tracking server http://127.0.0.1:\d+ does not answer.*Fix: start it"):
        check_reachable(f"http://127.0.0.1:{free_port()}", timeout=5)
