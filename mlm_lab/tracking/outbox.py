"""Writes to a tracking run that survive the store going away.

Every write after a run has started (metric points, tags, texts, artifacts, the model, the run's end)
is appended to a journal in the run's output folder, then sent in order by a background thread.
While the store does not answer, or answers with an error, the writes wait and are retried with
backoff: training never waits for tracking. When the store answers again, what waited is sent. If
it never does, the journal stays, and `mlm-upload journal=PATH` sends it later: replaying a journal
is idempotent (points and model versions already in the store are not sent twice).
"""

import collections
import itertools
import json
import logging
import threading
import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

log = logging.getLogger(__name__)

JOURNAL = "tracking_journal.jsonl"
# Errors a store gives for what a write is (sending it again cannot help), not for being unavailable.
REFUSALS = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "BAD_REQUEST", "INVALID_STATE"}
BATCH_POINTS = 1000  # MLflow's limit on metric points in one log_batch


def refused(error: BaseException) -> bool:
    """The write itself is wrong (or its local file is gone): drop it rather than retry it forever."""
    return isinstance(error, FileNotFoundError) or getattr(error, "error_code", None) in REFUSALS


def send(client: MlflowClient, run_id: str, ops: list[dict], register=None) -> None:
    """Send `ops` (one write, or consecutive metric writes) to the run; `register(run_id, op)` logs a model."""
    kind = ops[0]["op"]
    if kind == "metrics":
        points = [Metric(k, float(v), o["timestamp"], o["step"]) for o in ops for k, v in o["values"].items()]
        for i in range(0, len(points), BATCH_POINTS):
            client.log_batch(run_id, metrics=points[i : i + BATCH_POINTS])
    elif kind == "tags":
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in ops[0]["tags"].items()])
    elif kind == "delete_tag":
        try:
            client.delete_tag(run_id, ops[0]["key"])
        except Exception as e:  # already gone: a replay
            if getattr(e, "error_code", None) != "RESOURCE_DOES_NOT_EXIST":
                raise
    elif kind == "text":
        client.log_text(run_id, ops[0]["text"], ops[0]["artifact_file"])
    elif kind == "artifact":
        client.log_artifact(run_id, ops[0]["path"], ops[0]["artifact_path"])
    elif kind == "inputs":
        from mlm_lab.tracking.datasets import dataset_inputs

        client.log_inputs(run_id, datasets=dataset_inputs(ops[0]["datasets"]))
    elif kind == "checkpoint":
        from mlm_lab.tracking.checkpoint_models import log_checkpoint_model

        log_checkpoint_model(client, run_id, ops[0])
    elif kind == "register":
        register(run_id, ops[0])
    elif kind == "end":
        client.set_terminated(run_id, ops[0]["status"], end_time=ops[0].get("end_time"))
    else:
        raise ValueError(f"unknown journal entry {kind!r}")


def upload_bytes(op: dict) -> int:
    """Bytes of the local files an artifact, checkpoint or model write sends (0 for other writes)."""
    where = {"artifact": "path", "checkpoint": "path", "register": "model_dir"}.get(op["op"])
    path = Path(op[where]) if where else None
    if path is None or not path.exists():
        return 0
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Outbox:
    """An ordered queue of writes to one run, sent by a background thread, journaled as they arrive."""

    def __init__(self, tracking_uri: str, run_id: str, journal: Path | None, register=None, max_backoff: float = 30.0):
        self.tracking_uri, self.run_id, self.journal = tracking_uri, run_id, journal
        self._register = register
        self._client = MlflowClient(tracking_uri)
        self._queue: collections.deque[dict] = collections.deque()
        self._cond = threading.Condition()
        self._stopped = False
        self._busy = False
        self._retry_at = 0.0
        self._backoff = 1.0
        self._max_backoff = max_backoff
        self.failing: str | None = None  # the last error, while the store is failing
        self.held = 0  # writes that waited for the store during the current outage
        self.uploaded = {"files": 0, "bytes": 0, "seconds": 0.0}  # files sent (artifacts, checkpoints, models) and their cost
        self._file = None
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            self._file = journal.open("a", encoding="utf-8")
        self._thread = threading.Thread(target=self._loop, name="mlm_lab-tracking", daemon=True)
        self._thread.start()

    def note(self, entry: dict) -> None:
        """Write `entry` to the journal only (the run's header)."""
        if self._file is not None:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()

    def put(self, op: dict) -> None:
        """Queue a write; it is in the journal before this returns (a kill cannot lose it)."""
        self.note(op)
        with self._cond:
            self._queue.append(op)
            self._cond.notify_all()

    def count_upload(self, size: int, seconds: float) -> None:
        """Add one file sent (here, or by the tracker itself) to `uploaded`."""
        with self._cond:
            self.uploaded["files"] += 1
            self.uploaded["bytes"] += size
            self.uploaded["seconds"] += seconds

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` s for every queued write to be sent; True when none is left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float) -> bool:
        """Send what is queued (waiting up to `timeout` s for a failing store), then stop; True if all was sent."""
        sent = self.drain(timeout)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        if self._file is not None:
            self._file.close()
        return sent

    def _next(self) -> list[dict] | None:
        with self._cond:
            while not self._stopped and (not self._queue or time.monotonic() < self._retry_at):
                self._cond.wait(max(0.01, self._retry_at - time.monotonic()) if self._queue else None)
            if self._stopped:
                return None
            self._busy = True
            ops = [self._queue[0]]
            if ops[0]["op"] == "metrics":  # consecutive metric writes go in one request (a retry resends all of it)
                points = len(ops[0]["values"])
                for op in itertools.islice(self._queue, 1, None):
                    points += len(op.get("values", ()))
                    if op["op"] != "metrics" or points > BATCH_POINTS:
                        break
                    ops.append(op)
            return ops

    def _loop(self) -> None:
        while (ops := self._next()) is not None:
            try:
                started, size = time.perf_counter(), upload_bytes(ops[0])
                send(self._client, self.run_id, ops, self._register)
                if size:
                    self.count_upload(size, time.perf_counter() - started)
            except Exception as e:
                if refused(e):
                    log.warning("tracking: %s write dropped, the store refused it: %s", ops[0]["op"], e)
                    self._done(len(ops))
                else:
                    self._failed(e)
                continue
            self._done(len(ops))

    def _done(self, n: int) -> None:
        with self._cond:
            for _ in range(n):
                self._queue.popleft()
            if self.failing is not None:
                log.warning("tracking: the store %s answers again; sending the %d writes that waited", self.tracking_uri, self.held)
            self.failing, self.held, self._backoff, self._busy = None, 0, 1.0, False
            self._cond.notify_all()

    def _failed(self, error: Exception) -> None:
        with self._cond:
            if self.failing is None:
                where = f" and kept in {self.journal}" if self.journal else ""
                log.warning(
                    "tracking: the store %s is failing (%s); training goes on, writes wait%s and are sent when it answers",
                    self.tracking_uri,
                    str(error).splitlines()[0][:300],
                    where,
                )
            self.failing = f"{type(error).__name__}: {error}"
            self.held = len(self._queue)
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self._max_backoff)
            self._busy = False
            self._cond.notify_all()
