"""MLflow tracking: one run per training job, its params, metrics, artifacts and registered model.

What is logged where lives beside it: the flat params and git state (`params.py`), the store's
address and checks (`store.py`), the registered model (`registry.py`) and the queue that sends
every write of a started run (`outbox.py`).
"""

import contextlib
import logging
import random
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow

from mlm_lab.errors import require
from mlm_lab.tracking import checkpoint_models, store
from mlm_lab.tracking.outbox import JOURNAL, Outbox, upload_bytes
from mlm_lab.tracking.params import flatten, git_state, source_tags
from mlm_lab.tracking.redact import redact_overrides
from mlm_lab.tracking.registry import check_reload, load_registered, log_model, register_into, register_version, registered_version
from mlm_lab.training.signals import held

log = logging.getLogger(__name__)

__all__ = ["MlflowTracker", "load_registered"]  # load_registered: the import path apps and tests have used


@dataclass
class MlflowTracker:
    """Where runs go. `uri` null means MLFLOW_TRACKING_URI, else MLflow's default (./mlflow.db)."""

    uri: str | None = None  # tracking URI; overrides MLFLOW_TRACKING_URI
    experiment: str = "default"  # MLflow experiment name (the experiment preset's name)
    register_as: str | None = None  # registered model name; null registers nothing
    run_name: str | None = None  # MLflow run name; null lets MLflow pick one
    sweep_id: str | None = None  # multirun: the sweep's name; null derives it from the command, so a relaunch continues it
    flush_timeout: float = 60.0  # end of a run: seconds to wait for a failing store before leaving its writes in the journal
    system_metrics: bool = True  # CPU, memory (and NVIDIA GPU with the gpu extra) as MLflow system metrics, sampled in a thread
    system_metrics_interval: float = 10.0  # seconds between samples (bench/tracking_overhead.py measures the cost)

    keeps_runs = True  # a class attribute, not a setting: runs can be resumed, rerun and reloaded from the store

    def __post_init__(self):
        require(bool(self.experiment), "tracking.experiment", "is empty", "set tracking.experiment to a name")
        require(self.register_as != "", "tracking.register_as", "is empty", "set a model name or null")
        require(self.flush_timeout >= 0, "tracking.flush_timeout", f"is {self.flush_timeout}", "set a number of seconds >= 0")
        interval = self.system_metrics_interval
        require(interval > 0, "tracking.system_metrics_interval", f"is {interval}", "set a number of seconds > 0, e.g. 10")
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.outbox: Outbox | None = None
        self._points: dict[str, list[tuple[int, float]]] = {}  # this process's metric points, for a store that is down
        self._step_time: tuple[int, int] | None = None  # (step, timestamp) of the last metric points

    @property
    def resolved_uri(self) -> str:
        """`tracking.uri`, else MLFLOW_TRACKING_URI, else MLflow's default sqlite store in the working directory."""
        return store.resolve_uri(self.uri)

    @contextlib.contextmanager
    def run(
        self,
        config: dict,
        overrides: list[str],
        resume_run_id: str | None = None,
        resume_note: str = "",
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        journal_dir: str | Path | None = None,
    ):
        """An active MLflow run (a new one, nested under `parent_run_id` when given, or `resume_run_id` continued).

        Starting it talks to the store directly (it was checked reachable); every write after that goes
        through an `Outbox`, journaled in `journal_dir`, so a store that fails mid-run never stops
        training. An exception inside ends the run FAILED, or KILLED for an interruption; the
        exception's `tags` attribute, when it has one, is recorded with the error.
        """
        status, started = "FINISHED", False
        try:
            with held():  # a signal while the run starts raises once it has started (and is ended KILLED below)
                self._start(config, overrides, resume_run_id, resume_note, parent_run_id, tags, journal_dir)
                started = True
            yield self
        except BaseException as e:
            status = "KILLED" if isinstance(e, KeyboardInterrupt) or getattr(e, "run_status", None) == "KILLED" else "FAILED"
            if started and self.outbox is not None:
                self.set_tags({"error": f"{type(e).__name__}: {e}"[:5000], "error_type": type(e).__name__, **getattr(e, "tags", {})})
            raise
        finally:
            if started:  # (a start that failed ended its run itself)
                with held():
                    self._end(status)

    def _start(self, config, overrides, resume_run_id, resume_note, parent_run_id, tags, journal_dir) -> None:
        # Set every time: an earlier run in this process (a sweep, a test) may have set another store.
        mlflow.set_tracking_uri(self.resolved_uri)
        store.few_http_retries(self.resolved_uri)
        store.ensure_sqlite_store(self.resolved_uri)  # two runs opening a new sqlite store at once: created once
        if self.system_metrics:
            mlflow.system_metrics.set_system_metrics_sampling_interval(self.system_metrics_interval)
        if resume_run_id is None:
            experiment = mlflow.set_experiment(self.experiment)
            store.mark_model_training(mlflow.MlflowClient(), experiment)
            state = random.getstate()  # MLflow draws random run names from `random`, which the runner has seeded
            random.seed()
            try:
                active = mlflow.start_run(
                    run_name=self.run_name,
                    parent_run_id=parent_run_id,
                    # the UI's Source column: the command, not the path of the python binary
                    tags={**git_state(), **source_tags(sys.argv), **(tags or {})},
                    log_system_metrics=self.system_metrics,
                )
            finally:
                random.setstate(state)
        else:
            active = mlflow.start_run(run_id=resume_run_id, log_system_metrics=self.system_metrics)
        self.run_id, self.experiment_id = active.info.run_id, active.info.experiment_id
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
            journal = Path(journal_dir) / JOURNAL if journal_dir is not None else None
            self.outbox = Outbox(self.resolved_uri, self.run_id, journal, register=register_into)
            self.outbox.note({"op": "run", "run_id": self.run_id, "tracking_uri": self.resolved_uri, "time": time.time()})
            if resume_run_id is not None:
                stale = mlflow.get_run(self.run_id).data.tags
                for key in ("error", "error_type", "resume_command"):  # history now (the interrupted.* tags keep it)
                    if key in stale:
                        self.outbox.put({"op": "delete_tag", "key": key})
                self.set_tags({"resumed": resume_note, **git_state()})
        except BaseException:
            self._end("FAILED")
            raise

    def _end(self, status: str) -> None:
        """Send the run's last writes and its end; a store that stays down leaves them in the journal."""
        outbox, self.outbox = self.outbox, None
        sent = True
        if outbox is not None:
            deadline = time.monotonic() + self.flush_timeout
            if outbox.drain(self.flush_timeout) and outbox.uploaded["files"]:  # what the files cost, once all are sent
                up = outbox.uploaded
                outbox.put(
                    {
                        "op": "tags",
                        "tags": {
                            "upload.files": str(up["files"]),
                            "upload.bytes": str(up["bytes"]),
                            "upload.seconds": f"{up['seconds']:.3f}",
                        },
                    }
                )
            outbox.put({"op": "end", "status": status, "end_time": int(time.time() * 1000)})
            sent = outbox.close(max(0.0, deadline - time.monotonic()))
        try:
            mlflow.end_run(status)  # leaves the fluent run (the status is already set, or waits in the journal)
        except Exception:
            if sent:
                raise
        if not sent:
            where = f"They are kept in {outbox.journal}; send them when it is back with:\n  mlm-upload journal={outbox.journal}"
            log.error(
                "tracking: the store %s did not answer for %.0f s (%s). The run ended %s and its checkpoints are on disk, "
                "but writes to run %s are missing from the store. %s",
                self.resolved_uri,
                self.flush_timeout,
                outbox.failing,
                status,
                self.run_id,
                where if outbox.journal else "No journal was kept (the app gave no output folder).",
            )

    def ui_link(self) -> str | None:
        """Where the UI shows the last run, in its model-training view (a local store: after `mlflow ui`)."""
        if self.run_id is None:
            return None
        served = self.resolved_uri.startswith(("http://", "https://"))
        where = "" if served else f" (after mlflow ui --backend-store-uri {self.resolved_uri})"
        return store.ui_url(self.resolved_uri, self.experiment_id, f"runs/{self.run_id}") + where

    def check_reachable(self, timeout: float = 10.0) -> None:
        """Refuse, before any work, a tracking server that does not answer or a sqlite file that cannot be created."""
        store.check_reachable(self.resolved_uri, timeout)

    def run_exists(self, run_id: str) -> bool:
        """Whether the store holds run `run_id`."""
        mlflow.set_tracking_uri(self.resolved_uri)
        try:
            mlflow.get_run(run_id)
        except mlflow.exceptions.MlflowException:
            return False
        return True

    def run_status(self, run_id: str) -> str | None:
        """The run's status in the store (FINISHED, KILLED, FAILED, RUNNING); None if it is not there."""
        mlflow.set_tracking_uri(self.resolved_uri)
        try:
            return mlflow.get_run(run_id).info.status
        except mlflow.exceptions.MlflowException:
            return None

    def download_checkpoint(self, run_id: str, directory: str | Path) -> Path:
        """The run's newest checkpoint: its `final` checkpoint model if it finished (`checkpoints/final.pt` for runs
        before those), else `checkpoints/latest.pt`."""
        mlflow.set_tracking_uri(self.resolved_uri)
        client = mlflow.MlflowClient()
        for model in checkpoint_models.run_checkpoints(client, run_id, "final")[:1]:
            return checkpoint_models.download(client, model.model_id, directory)[0]
        names = {Path(a.path).name for a in client.list_artifacts(run_id, "checkpoints")}
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

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Queue metric points at `step` (sent in batches)."""
        # Sent in batches by the outbox's thread: a synchronous write to the sqlite store costs ~20 ms,
        # a fifth of a step of the arithmetic model (bench/tracking_overhead.py).
        values = {k: float(v) for k, v in metrics.items()}
        timestamp = int(time.time() * 1000)
        self._step_time = (step, timestamp)
        for k, v in values.items():
            self._points.setdefault(k, []).append((step, v))
        self.outbox.put({"op": "metrics", "step": step, "timestamp": timestamp, "values": values})

    def caught_up(self, timeout: float = 60.0) -> bool:
        """Wait until every write so far is in the store; False at once while the store is failing."""
        return self.outbox is None or (self.outbox.failing is None and self.outbox.drain(timeout))

    def metric_history(self, names: list[str]) -> dict[str, list[tuple[int, float]]]:
        """(step, value) points of each metric of the active run, from the store (resumed parts included).

        While the store is failing: this process's points.
        """
        if not self.caught_up():
            return {name: list(self._points.get(name, [])) for name in names}
        client = mlflow.MlflowClient()
        with held():
            return {name: [(m.step, m.value) for m in client.get_metric_history(self.run_id, name)] for name in names}

    def set_tag(self, key: str, value: str) -> None:
        """Queue one tag of the active run."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, str]) -> None:
        """Queue tags of the active run (values written as strings)."""
        self.outbox.put({"op": "tags", "tags": {k: str(v) for k, v in tags.items()}})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Queue a local file as an artifact under `artifact_path`."""
        self.outbox.put({"op": "artifact", "path": str(Path(path).resolve()), "artifact_path": artifact_path})

    def log_inputs(self, datasets: list[dict]) -> None:
        """Queue what the run saw as MLflow datasets (a task's `datasets()`), each with its context."""
        if datasets:
            self.outbox.put({"op": "inputs", "datasets": datasets})

    def log_text(self, text: str, artifact_file: str) -> None:
        """Queue `text` as the artifact `artifact_file`."""
        self.outbox.put({"op": "text", "text": text, "artifact_file": artifact_file})

    def log_model(
        self, model_dir: str | Path, input_example: list[str], prompts: list[str], expected: list[str], step: int, info: dict | None = None
    ) -> str | None:
        """Log the exported folder as a pyfunc model of the run, not registered yet: its URI to check, then `register_version`.

        A version this run registered already after step `step` (a resumed run whose registration was cut short)
        is returned instead.
        With the store failing, the model waits in the outbox (and journal), to be logged, checked against
        `expected` and registered when the store answers; None is returned.
        """
        op = {
            "op": "register",
            "model_dir": str(Path(model_dir).resolve()),
            "input_example": input_example,
            "name": self.register_as,
            "check": {"prompts": prompts, "expected": expected},
            "step": step,
            "version": info,  # the version's tags, description and objective (registry.register_version)
        }
        if self.caught_up():
            try:
                with held():
                    log.info("tracking: logging the model to run %s", self.run_id)
                    started = time.perf_counter()
                    uri = registered_version(self.run_id, self.register_as, step) or log_model(op)
                    self._count_upload(op, started)
                    return uri
            except Exception as e:
                log.warning("tracking: logging the model failed (%s); it waits in the outbox", e)
        self.outbox.put(op)
        return None

    def _count_upload(self, op: dict, started: float) -> None:
        """Add a write sent here, not by the outbox's thread, to the run's upload cost."""
        if self.outbox is not None and (size := upload_bytes(op)):
            self.outbox.count_upload(size, time.perf_counter() - started)

    def log_checkpoint(
        self, path: str | Path, name: str, kind: str, state: str, step: int, metrics: dict[str, float], metrics_step: int
    ) -> None:
        """Queue checkpoint file `path` as a logged model `name` of the run (kind best or final, state full or weights).

        `metrics` (evaluated at `metrics_step`) are linked to it; the file is linked aside first, so the
        checkpointer may delete or replace `path` before the upload runs.
        """
        timestamp = self._step_time[1] if self._step_time and self._step_time[0] == metrics_step else int(time.time() * 1000)
        self.outbox.put(
            {
                "op": "checkpoint",
                "path": str(checkpoint_models.stage(path, name)),
                "name": name,
                "kind": kind,
                "state": state,
                "step": step,
                "metrics": {k: float(v) for k, v in metrics.items()},
                "metrics_step": metrics_step,
                "timestamp": timestamp,  # the evaluation's own: the run's points are not written twice
            }
        )

    def fetch_checkpoint(self, ref: str, directory: str | Path) -> tuple[Path, dict[str, str]]:
        """(`checkpoint.pt` of logged model `models:/m-...`, fetched into `directory`, the model's tags)."""
        mlflow.set_tracking_uri(self.resolved_uri)
        model_id = checkpoint_models.model_id_of(ref)
        if model_id is None:
            raise FileNotFoundError(f"{ref!r} is not a logged model reference (models:/m-<32 hex digits>)")
        try:
            return checkpoint_models.download(mlflow.MlflowClient(), model_id, directory)
        except mlflow.exceptions.MlflowException as e:
            raise FileNotFoundError(f"logged model {model_id} is not in {self.resolved_uri} ({str(e).splitlines()[0][:200]})") from None

    def check_reload(self, model_uri: str, prompts: list[str], expected: list[str]) -> None:
        """Load `model_uri` from the store alone and check it answers `prompts` with `expected`."""
        with held():
            mlflow.set_tracking_uri(self.resolved_uri)
            check_reload(model_uri, prompts, expected)

    def register_version(self, model_uri: str, step: int, info: dict | None = None) -> str:
        """Register the checked model, trained for `step` steps, as a version of `register_as`: `models:/NAME/VERSION`.

        `info` tags and describes it, and moves the `champion` alias to it when its objective beats the champion's.
        """
        with held():
            return register_version(model_uri, self.register_as, step, info)
