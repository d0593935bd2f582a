"""Self-describing checkpoints, written atomically and read without running code from the file."""

import math
import os
import tempfile
from pathlib import Path

import torch


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write `state` to `path` via a temporary file and a rename, so `path` is never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
