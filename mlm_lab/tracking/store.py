"""The tracking store: which one a run uses, whether it is there before any work, how long one request may take,
and a lock that serialises what processes sharing a sqlite store must not do at once."""

import contextlib
import fcntl
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from mlm_lab.errors import ConfigError

DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow's own default store (since MLflow 3.7), relative to the working directory
# MLflow's HTTP client retries a request 7 times over minutes by default; the outbox retries instead.
HTTP_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def resolve_uri(uri: str | None) -> str:
    """`uri`, else MLFLOW_TRACKING_URI, else MLflow's default sqlite store in the working directory."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def few_http_retries(uri: str) -> None:
    """For a server: MLflow's client gives up on a request in seconds, not minutes (unless MLFLOW_HTTP_* say otherwise).

    The outbox retries writes itself; one request must not stall a training step for minutes.
    """
    if urllib.parse.urlparse(uri).scheme in ("http", "https"):
        for name, value in HTTP_RETRIES.items():
            os.environ.setdefault(name, value)


def check_reachable(uri: str, timeout: float = 10.0) -> None:
    """Refuse, before any work, a tracking server that does not answer or a sqlite file that cannot be created."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme in ("http", "https"):
        try:  # any HTTP answer (even 401 or 404) means a server is there
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).close()
        except urllib.error.HTTPError:
            pass
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"tracking.uri: the tracking server {uri} does not answer ({getattr(e, 'reason', e)}). Fix: start it "
                "(mlflow server --backend-store-uri sqlite:///mlflow.db -h 127.0.0.1 -p 5000), point tracking.uri at a "
                "running one, or use the local default tracking.uri=sqlite:///mlflow.db"
            ) from None
    elif scheme in ("", "file"):
        raise ConfigError(
            f"tracking.uri: {uri} is a folder path (MLflow's file store, which it no longer develops). "
            "Fix: tracking.uri=sqlite:///mlflow.db (a file here) or an http(s) tracking server"
        )
    elif scheme == "sqlite":
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise ConfigError(
                f"tracking.uri: the folder of the sqlite store {uri} does not exist ({folder}). Fix: create it, or "
                "use tracking.uri=sqlite:///mlflow.db (the working directory)"
            )


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///` store; None for a server or an in-memory database."""
    if urllib.parse.urlparse(uri).scheme != "sqlite":
        return None
    path = uri.removeprefix("sqlite:///")
    return None if path in ("", ":memory:") or path.startswith("sqlite:") else Path(path)


@contextlib.contextmanager
def store_lock(uri: str):
    """Hold, among this machine's processes, the lock of a sqlite store: an flock on `<db>.lock` beside the database.

    The kernel releases it when its holder exits, however it exits. Not reentrant: a holder must not take it again.
    A server store has no lock here (its server orders the writes; concurrent launches against one are not serialised).
    """
    path = sqlite_file(uri)
    if path is None:
        yield
        return
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def ensure_sqlite_store(uri: str) -> None:
    """Create and migrate a new sqlite store, once: a second process waits on the lock, then opens the migrated store.

    Called when a run opens the store (not by `check_reachable`: bad input refused before any run writes no store).

    MLflow migrates a new database on first use, and two processes doing it at once break one of them
    (alembic's "Online migration expected to match one row", or a half-made schema).
    """
    import mlflow

    with store_lock(uri):
        mlflow.MlflowClient(uri).search_experiments(max_results=1)


EXPERIMENT_KIND = "mlflow.experimentKind"  # MLflow 3's UI opens an experiment on the page its kind calls for
MODEL_TRAINING = "custom_model_development"  # Training runs, not the GenAI overview


def mark_model_training(client, experiment) -> None:
    """Tag `experiment` (an Experiment) as model training, unless someone chose its kind already."""
    if EXPERIMENT_KIND not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)


def ui_url(uri: str, experiment_id: str, page: str = "runs") -> str:
    """The MLflow UI page of an experiment (`runs`, `models`, or `runs/<run id>`), in its model-training view.

    MLflow 3.18's UI picks its GenAI or model-training view from the `workflowType` in the URL, else from a toggle
    it remembers in the browser: the experiment's kind tag alone left it on the GenAI overview (checked in
    Chromium), so the links mlm_lab prints carry the view. A local store is served by `mlflow ui` (port 5000).
    """
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}/{page}?workflowType=machine_learning"
