"""Self-describing checkpoints, written atomically and read without running code from the file."""

import math
import os
import tempfile
from pathlib import Path

import torch

from mlm_lab.errors import ConfigError


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (disk full, read-only folder); the file already at its path is untouched."""


def os_error(error: BaseException) -> OSError | None:
    """The OSError behind `error` (torch.save reports a full disk as a RuntimeError whose context is the OSError)."""
    while error is not None and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    return error


def write_failed(path: Path, error: OSError) -> CheckpointWriteError:
    kept = f"The previous {path.name} is intact. " if path.is_file() else ""
    return CheckpointWriteError(
        f"cannot write checkpoint {path}: {error.strerror or error}. {kept}Fix: free space on that disk or make "
        f"{path.parent} writable (or point hydra.run.dir at a disk with room), then continue from the last checkpoint "
        f"with mlm-train resume=<run id> (or resume={path.parent})"
    )


def check_writable(directory: str | Path) -> None:
    """Refuse, before any work, a checkpoint folder that cannot be written (tried in its nearest existing ancestor,
    so nothing is created)."""
    directory = Path(directory).absolute()
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    try:
        with tempfile.TemporaryFile(dir=existing) as f:
            f.write(b"mlm_lab")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise ConfigError(
            f"output_dir: the checkpoint folder {directory} is not writable ({e.strerror or e}"
            f"{'' if existing == directory else ' in ' + str(existing)}). "
            "Fix: make it writable, or point hydra.run.dir (the run's output folder) at a writable disk"
        ) from None


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write `state` to `path` via a temporary file and a rename, so `path` is never half-written.

    A full disk or a read-only folder raises `CheckpointWriteError` (the temporary file removed,
    the previous file at `path` untouched).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise write_failed(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if (cause := os_error(e)) is not None:
            raise write_failed(path, cause) from e
        raise
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint with `weights_only=True`: tensors and plain containers only, never pickled code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"checkpoint {path} could not be read safely ({type(e).__name__}: {e})") from e


class Checkpointer:
    """`latest.pt` on a schedule, `final.pt` at the end, the best `keep_best` by `monitor`, and early stopping.

    Only file names and the monitored values live here; the trainer builds the state dicts.
    """

    def __init__(self, directory: str | Path, monitor: str, mode: str, keep_best: int, patience: int | None, write: bool = True):
        self.directory = Path(directory)
        self.monitor, self.mode, self.keep_best, self.patience, self.write = monitor, mode, keep_best, patience, write
        self.best: list[dict] = []  # {"value", "step", "path"}, best first
        self.best_value: float | None = None
        self.bad_evaluations = 0  # evaluations since the monitored value last improved

    @property
    def latest(self) -> Path:
        return self.directory / "latest.pt"

    @property
    def final(self) -> Path:
        return self.directory / "final.pt"

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b

    def save(self, state: dict, path: Path) -> Path | None:
        return save_checkpoint(state, path) if self.write else None

    def observe(self, metrics: dict, step: int, state) -> Path | None:
        """Record an evaluation; writes a best-k checkpoint (`state()` builds it) when it ranks. Returns its path."""
        value = metrics[self.monitor]
        if self.best_value is None or self._better(value, self.best_value):
            self.best_value, self.bad_evaluations = value, 0
        else:
            self.bad_evaluations += 1
        if self.keep_best == 0 or not math.isfinite(value):
            return None
        ranked = len(self.best) < self.keep_best or self._better(value, self.best[-1]["value"])
        if not ranked:
            return None
        path = self.directory / f"best-step{step:07d}.pt"
        written = self.save(state(), path)
        self.best.append({"value": value, "step": step, "path": str(path)})
        self.best.sort(key=lambda e: e["value"], reverse=self.mode == "max")
        for dropped in self.best[self.keep_best :]:
            if self.write:
                Path(dropped["path"]).unlink(missing_ok=True)
        self.best = self.best[: self.keep_best]
        return written

    @property
    def should_stop(self) -> bool:
        """True once the monitored value has not improved for `patience` evaluations in a row."""
        return self.patience is not None and self.bad_evaluations >= self.patience

    def state_dict(self) -> dict:
        return {"best": [dict(e) for e in self.best], "best_value": self.best_value, "bad_evaluations": self.bad_evaluations}

    def load_state_dict(self, state: dict) -> None:
        self.best = [dict(e) for e in state["best"]]
        self.best_value, self.bad_evaluations = state["best_value"], state["bad_evaluations"]
