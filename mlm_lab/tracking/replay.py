"""Send a run's journal (`tracking_journal.jsonl`) to the tracking store: what `mlm-upload` does.

Replaying is idempotent: metric points already in the store (same key, step and timestamp),
artifacts already there with the same size, checkpoints already logged as models and models already registered
from the run are skipped;
tags, texts and the run's end are written again (the same values).
"""

import json
import logging
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from mlm_lab.errors import ConfigError
from mlm_lab.tracking.checkpoint_models import run_checkpoints
from mlm_lab.tracking.outbox import JOURNAL, send
from mlm_lab.tracking.registry import register_into
from mlm_lab.tracking.store import few_http_retries

log = logging.getLogger(__name__)


def read_journal(path: Path) -> list[tuple[dict, list[dict]]]:
    """(header, writes) for each process that wrote to the journal; a last line cut by a kill is left out."""
    fix = f"Fix: pass the {JOURNAL} a run wrote, or its output folder"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"journal={path}: is not a tracking journal: byte {e.object[e.start]:#04x} at offset {e.start} is not UTF-8 text "
            f"(a binary file?). {fix}"
        ) from None
    except OSError as e:
        raise ConfigError(f"journal={path}: cannot be read ({e.strerror or e}). {fix}") from None
    runs: list[tuple[dict, list[dict]]] = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue  # never written by a run; an editor's blank line is harmless
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # written when the process was killed
            raise ConfigError(f"journal={path}: line {number} is not JSON. {fix}") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("op"), str):
            raise ConfigError(f'journal={path}: line {number} is not a journal entry (a JSON object with an "op"). {fix}')
        if entry["op"] == "run":
            if not all(isinstance(entry.get(k), str) for k in ("run_id", "tracking_uri")):
                raise ConfigError(f"journal={path}: the run header on line {number} has no run_id or tracking_uri. {fix}")
            runs.append((entry, []))
        elif not runs:
            raise ConfigError(f"journal={path}: no run header before line {number}. {fix}")
        else:
            runs[-1][1].append(entry)
    if not runs:
        what = "is empty" if not text.strip() else "holds no whole line (cut while its first line was written)"
        raise ConfigError(f"journal={path}: {what}, so it is not a run's journal (one starts with its run header). {fix}")
    return runs


def unsent(client: MlflowClient, run_id: str, writes: list[dict]) -> list[dict]:
    """The writes that are not in the store yet (the others are kept: they are cheap and idempotent)."""
    seen: dict[str, set] = {}
    sizes: dict[str, int] = {}  # artifact path -> size in the store, for the folders listed so far
    listed: set[str | None] = set()
    names = {w["name"] for w in writes if w["op"] == "register"}
    models = {v.run_id for name in names for v in client.search_model_versions(f"name='{name}'")}
    checkpoints: set[str] | None = None  # the run's checkpoints logged as models, listed when a journal has one
    out = []
    for w in writes:
        if w["op"] == "metrics":
            values = {}
            for key, value in w["values"].items():
                if key not in seen:
                    seen[key] = {(m.step, m.timestamp) for m in client.get_metric_history(run_id, key)}
                if (w["step"], w["timestamp"]) not in seen[key]:
                    values[key] = value
            if values:
                out.append({**w, "values": values})
        elif w["op"] == "artifact":
            name = f"{w['artifact_path']}/{Path(w['path']).name}" if w["artifact_path"] else Path(w["path"]).name
            folder = w["artifact_path"] or None
            if folder not in listed:
                sizes.update({f.path: f.file_size for f in client.list_artifacts(run_id, folder)})
                listed.add(folder)
            local = Path(w["path"])
            if not (local.is_file() and sizes.get(name) == local.stat().st_size):
                out.append(w)
        elif w["op"] == "register":
            if run_id not in models:
                out.append(w)
        elif w["op"] == "checkpoint":
            if checkpoints is None:
                checkpoints = {m.name for m in run_checkpoints(client, run_id)}
            if w["name"] not in checkpoints:
                out.append(w)
        else:
            out.append(w)
    return out


def replay(journal: str | Path, tracking_uri: str | None = None) -> dict[str, int]:
    """Send every write of the journal the store lacks; returns how many writes of each kind were sent."""
    path = Path(journal)
    if path.is_dir():
        path = path / JOURNAL
    if not path.is_file():
        raise ConfigError(f"journal={journal}: no such file. Fix: pass a run's output folder or its {JOURNAL}")
    sent: dict[str, int] = {}
    for header, writes in read_journal(path):
        uri = tracking_uri or header["tracking_uri"]
        few_http_retries(uri)
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(uri)
        try:
            client.get_run(header["run_id"])
        except mlflow.exceptions.MlflowException as e:
            raise ConfigError(
                f"journal={path}: run {header['run_id']} is not reachable in {uri} ({str(e).splitlines()[0][:200]}). "
                "Fix: start the store the run was logged to, or pass tracking_uri=URI where it lives now"
            ) from None
        todo = unsent(client, header["run_id"], writes)
        while todo:
            n = 1
            while todo[0]["op"] == "metrics" and n < len(todo) and todo[n]["op"] == "metrics":
                n += 1  # consecutive points go in one request
            ops, todo = todo[:n], todo[n:]
            if ops[0]["op"] == "artifact" and not Path(ops[0]["path"]).is_file():
                log.warning("%s is no longer on disk; its artifact is left out", ops[0]["path"])
                continue
            try:
                send(client, header["run_id"], ops, register=register_into)
            except FileNotFoundError as e:  # a staged checkpoint removed before it was uploaded
                log.warning("%s; left out", e)
                continue
            sent[ops[0]["op"]] = sent.get(ops[0]["op"], 0) + len(ops)
    return sent
