"""MLflow tracking: one run per training job, its params, metrics, artifacts and registered model."""

import contextlib
import os
import random
import shlex
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from mlm_lab.errors import ConfigError, require
from mlm_lab.tracking.redact import redact_overrides

DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow's own default store (since MLflow 3.7), relative to the working directory
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
_ENTRY = Path(__file__).with_name("pyfunc_entry.py")
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string")]),
    outputs=Schema([ColSpec("string")]),
    params=ParamSchema(
        [
            ParamSpec("max_new_tokens", "long", None),
            ParamSpec("temperature", "double", None),
            ParamSpec("top_k", "long", None),
            ParamSpec("top_p", "double", None),
            ParamSpec("seed", "long", None),
            ParamSpec("num_samples", "long", None),
            ParamSpec("stop", "string", [], shape=(-1,)),  # an empty list: no stop strings
            ParamSpec("mode", "string", "generate"),  # "score": loss, perplexity, bits per byte of each input text
            ParamSpec("stride", "long", None),  # with mode=score: scoring window stride (null: context length)
        ]
    ),
)


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """Dotted keys for every leaf of a nested dict (`{"model": {"d_model": 128}}` -> `model.d_model`)."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def git_state() -> dict[str, str]:
    """Commit and dirty flag of the repository this package runs from, when it is one."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    if commit.returncode != 0:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit.stdout.strip(), "git_dirty": str(bool(status.stdout.strip())).lower()}


@dataclass
class MlflowTracker:
    """Where runs go. `uri` null means MLFLOW_TRACKING_URI, else MLflow's default (./mlflow.db)."""

    uri: str | None = None  # tracking URI; overrides MLFLOW_TRACKING_URI
    experiment: str = "default"  # MLflow experiment name (the experiment preset's name)
    register_as: str | None = None  # registered model name; null registers nothing
    run_name: str | None = None  # MLflow run name; null lets MLflow pick one
    sweep_id: str | None = None  # multirun: the sweep's name; null derives it from the command, so a relaunch continues it

    def __post_init__(self):
        require(bool(self.experiment), "tracking.experiment", "is empty", "set tracking.experiment to a name")
        require(self.register_as != "", "tracking.register_as", "is empty", "set a model name or null")
        self.run_id: str | None = None

    @property
    def resolved_uri(self) -> str:
        """`tracking.uri`, else MLFLOW_TRACKING_URI, else MLflow's default sqlite store in the working directory."""
        return self.uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI

    @contextlib.contextmanager
    def run(
        self,
        config: dict,
        overrides: list[str],
        resume_run_id: str | None = None,
        resume_note: str = "",
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ):
        """An active MLflow run (a new one, nested under `parent_run_id` when given, or `resume_run_id` continued).

        An exception inside ends it FAILED, or KILLED for an interruption; the exception's `tags`
        attribute, when it has one, is recorded with the error.
        """
        # Set every time: an earlier run in this process (a sweep, a test) may have set another store.
        mlflow.set_tracking_uri(self.resolved_uri)
        if resume_run_id is None:
            mlflow.set_experiment(self.experiment)
            state = random.getstate()  # MLflow draws random run names from `random`, which the runner has seeded
            random.seed()
            try:
                active_run = mlflow.start_run(
                    run_name=self.run_name,
                    parent_run_id=parent_run_id,
                    tags={**git_state(), "command": shlex.join(redact_overrides(sys.argv)), **(tags or {})},
                )
            finally:
                random.setstate(state)
        else:
            active_run = mlflow.start_run(run_id=resume_run_id)
        with active_run as active:
            self.run_id = active.info.run_id
            try:
                if resume_run_id is None:
                    mlflow.log_params(flatten(config))
                    mlflow.log_dict(config, "config.yaml")
                    mlflow.log_text("\n".join(redact_overrides(overrides)) + "\n", "overrides.txt")
                else:  # params are write-once in MLflow: the resumed config and command go to artifacts and tags
                    mlflow.log_dict(config, f"resumes/{resume_note}/config.yaml")
                    mlflow.log_text(
                        shlex.join(redact_overrides(sys.argv)) + "\n" + "\n".join(redact_overrides(overrides)) + "\n",
                        f"resumes/{resume_note}/command.txt",
                    )
                    tags = mlflow.get_run(self.run_id).data.tags
                    for stale in ("error", "error_type"):  # the interruption is history now (interrupted.* tags keep it)
                        if stale in tags:
                            mlflow.delete_tag(stale)
                    mlflow.set_tags({"resumed": resume_note, **git_state()})
                yield self
                mlflow.flush_async_logging()
            except BaseException as e:
                mlflow.flush_async_logging()  # metric points still queued belong to the run's record
                interrupted = isinstance(e, KeyboardInterrupt) or getattr(e, "run_status", None) == "KILLED"
                mlflow.set_tags({"error": f"{type(e).__name__}: {e}"[:5000], "error_type": type(e).__name__, **getattr(e, "tags", {})})
                mlflow.end_run(status="KILLED" if interrupted else "FAILED")
                raise

    def check_reachable(self, timeout: float = 10.0) -> None:
        """Refuse, before any work, a tracking server that does not answer or a sqlite file that cannot be created."""
        uri = self.resolved_uri
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
        elif scheme == "sqlite":
            folder = Path(uri.removeprefix("sqlite:///")).parent
            if not folder.is_dir():
                raise ConfigError(
                    f"tracking.uri: the folder of the sqlite store {uri} does not exist ({folder}). Fix: create it, or "
                    "use tracking.uri=sqlite:///mlflow.db (the working directory)"
                )

    def run_exists(self, run_id: str) -> bool:
        mlflow.set_tracking_uri(self.resolved_uri)
        try:
            mlflow.get_run(run_id)
        except mlflow.exceptions.MlflowException:
            return False
        return True

    def download_checkpoint(self, run_id: str, directory: str | Path) -> Path:
        """The run's newest checkpoint: `checkpoints/final.pt` if it finished, else `checkpoints/latest.pt`."""
        mlflow.set_tracking_uri(self.resolved_uri)
        names = {Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(run_id, "checkpoints")}
        for name in ("final.pt", "latest.pt"):
            if name in names:
                return Path(
                    mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"checkpoints/{name}", dst_path=str(directory))
                )
        raise FileNotFoundError(
            f"run {run_id} has no checkpoints/final.pt or checkpoints/latest.pt artifact (found {sorted(names) or 'none'})"
        )

    def logged_overrides(self, run_id: str) -> list[str]:
        """The command-line overrides a run was started with (its `overrides.txt` artifact)."""
        mlflow.set_tracking_uri(self.resolved_uri)
        try:
            text = mlflow.artifacts.load_text(f"runs:/{run_id}/overrides.txt")
        except mlflow.exceptions.MlflowException:
            raise FileNotFoundError(f"run {run_id} has no overrides.txt artifact") from None
        return [line for line in text.splitlines() if line.strip()]

    def log_metrics(self, metrics: dict, step: int) -> None:
        # Queued and written in batches by MLflow's background thread: a synchronous write to the
        # sqlite store costs ~20 ms, a fifth of a step of the arithmetic model (bench/tracking_overhead.py).
        mlflow.log_metrics(metrics, step=step, synchronous=False)

    def metric_history(self, names: list[str]) -> dict[str, list[tuple[int, float]]]:
        """(step, value) points of each metric of the active run, read back from the store (resumed parts included)."""
        mlflow.flush_async_logging()
        client = mlflow.MlflowClient()
        return {name: [(m.step, m.value) for m in client.get_metric_history(self.run_id, name)] for name in names}

    def load(self, model_uri: str):
        """The predictor of a model in this tracker's store."""
        return load_registered(model_uri, self.resolved_uri)[0]

    def set_tag(self, key: str, value: str) -> None:
        mlflow.set_tag(key, value)

    def set_tags(self, tags: dict[str, str]) -> None:
        mlflow.set_tags(tags)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        mlflow.log_text(text, artifact_file)

    def register(self, model_dir: str | Path, input_example: list[str]) -> str:
        """Log the exported folder as a pyfunc model and register it; returns `models:/NAME/VERSION`."""
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(_ENTRY),
            artifacts={"model_dir": str(model_dir)},
            signature=SIGNATURE,
            input_example=input_example,
            pip_requirements=_requirements(),
            registered_model_name=self.register_as,
        )
        return f"models:/{self.register_as}/{info.registered_model_version}"


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for dist in ("torch", "mlflow", "hydra-core", "omegaconf", "numpy", "pandas"):
        try:
            pins.append(f"{dist}=={version(dist).split('+')[0]}")
        except PackageNotFoundError:
            pins.append(dist)
    return pins


def load_registered(uri: str, tracking_uri: str | None = None):
    """Load a logged mlm_lab model (`models:/NAME/latest`, `runs:/ID/model`, a local folder) -> (predictor, config)."""
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    python_model = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    return python_model.predictor, python_model.config
