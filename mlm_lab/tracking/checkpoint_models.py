"""A run's checkpoints as MLflow 3 logged models: the best-k and the final, ranked by their linked metrics.

Each logged model holds one file, `checkpoint.pt` (a training checkpoint, or its weights only), and
is named after the checkpoint (`best-step0000400`, `final`). The metrics of its evaluation are
linked to it (`model_id`), so `search_logged_models` and the UI's Models tab rank a run's
checkpoints by them. `resume=models:/m-...` and `trainer.init_from=models:/m-...` load them back.

MLflow's own `log_model(step=...)` copies every metric of the step onto the model; two open bugs
sit on that path (a NaN at the step breaks it with a UNIQUE constraint, mlflow#26108; over 1,000
metrics at one step blocks it, mlflow#20715). Here the model is created and its metrics linked
explicitly: finite values only (a NaN linked to a model is stored as 0.0, which would rank it
first), in requests of at most 1,000 points.
"""

import logging
import math
import os
import re
import shutil
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric

log = logging.getLogger(__name__)

FILE = "checkpoint.pt"
MODEL_TYPE = "mlm_lab-checkpoint"
KIND_TAG = "mlm_lab.checkpoint"  # best or final
STATE_TAG = "mlm_lab.state"  # full (resumable) or weights
LOGGED_MODEL = re.compile(r"^models:/(m-[0-9a-f]{32})$")
BATCH_POINTS = 1000  # MLflow's limit on metric points in one request


def model_id_of(ref: str) -> str | None:
    """`m-<32 hex>` of a `models:/m-...` reference, else None."""
    match = LOGGED_MODEL.match(str(ref))
    return match.group(1) if match else None


def stage(path: str | Path, name: str) -> Path:
    """A link to checkpoint `path` in `<its folder>/.upload/<name>/checkpoint.pt`, which the upload removes.

    The checkpointer may delete or replace `path` before the upload runs (a better checkpoint
    arrived); the link keeps this one's bytes. A copy where the disk cannot link.
    """
    path = Path(path).resolve()
    folder = path.parent / ".upload" / name
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / FILE
    staged.unlink(missing_ok=True)
    try:
        os.link(path, staged)
    except OSError:
        shutil.copy2(path, staged)
    return folder


def linked_metrics(metrics: dict[str, float], step: int, timestamp: int, model_id: str) -> list[Metric]:
    """The finite `metrics` as points of `step` linked to `model_id` (non-finite ones are left out: see the module)."""
    return [Metric(k, float(v), timestamp, step, model_id=model_id) for k, v in metrics.items() if math.isfinite(float(v))]


def existing(client: MlflowClient, experiment_id: str, run_id: str, name: str):
    """The logged model `name` of run `run_id` (a journal sent again, or an upload cut short), or None."""
    found = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}' AND name = '{name}'", max_results=10)
    ready = [m for m in found if str(m.status) == "READY"]
    return (ready or list(found) or [None])[0]


def log_checkpoint_model(client: MlflowClient, run_id: str, op: dict) -> str:
    """Send an outbox `checkpoint` write: create (or find) the logged model, link its metrics, upload, finalize."""
    experiment_id = client.get_run(run_id).info.experiment_id
    folder = Path(op["path"])
    model = existing(client, experiment_id, run_id, op["name"])
    if model is not None and str(model.status) == "READY":
        shutil.rmtree(folder, ignore_errors=True)
        return model.model_id
    if not (folder / FILE).is_file():
        raise FileNotFoundError(f"{folder / FILE}: the staged checkpoint {op['name']} is no longer on disk")
    if model is None:
        model = client.create_logged_model(
            experiment_id,
            name=op["name"],
            source_run_id=run_id,
            params={"step": str(op["step"]), "state": op["state"]},
            tags={KIND_TAG: op["kind"], STATE_TAG: op["state"], "mlm_lab.step": str(op["step"])},
            model_type=MODEL_TYPE,
        )
    points = linked_metrics(op["metrics"], op["metrics_step"], op["timestamp"], model.model_id)
    for i in range(0, len(points), BATCH_POINTS):
        client.log_batch(run_id, metrics=points[i : i + BATCH_POINTS])
    client.log_model_artifacts(model.model_id, str(folder))
    client.finalize_logged_model(model.model_id, "READY")
    shutil.rmtree(folder, ignore_errors=True)
    log.info("tracking: checkpoint %s of run %s logged as model %s", op["name"], run_id, model.model_id)
    return model.model_id


def run_checkpoints(client: MlflowClient, run_id: str, kind: str | None = None) -> list:
    """The READY checkpoint models of run `run_id` (of `kind` when given), newest step first."""
    experiment_id = client.get_run(run_id).info.experiment_id
    found = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'", max_results=1000)
    ready = [m for m in found if str(m.status) == "READY" and m.tags.get(KIND_TAG) in ((kind,) if kind else ("best", "final"))]
    return sorted(ready, key=lambda m: int(m.tags.get("mlm_lab.step", -1)), reverse=True)


def download(client: MlflowClient, model_id: str, directory: str | Path) -> tuple[Path, dict[str, str]]:
    """(`checkpoint.pt` of logged model `model_id` fetched into `directory`, the model's tags)."""
    import mlflow

    model = client.get_logged_model(model_id)
    if model.tags.get(KIND_TAG) is None:
        raise FileNotFoundError(f"logged model {model_id} ({model.name}) is not a checkpoint mlm-train logged (no {KIND_TAG} tag)")
    if str(model.status) != "READY":
        raise FileNotFoundError(f"logged model {model_id} ({model.name}) is {model.status}: its upload did not finish")
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"{model.artifact_location}/{FILE}", dst_path=str(directory))
    return Path(local), dict(model.tags)
