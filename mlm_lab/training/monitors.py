"""Monitored metrics (`trainer.monitor`, `scheduler.monitor`) are checked against what the evaluation reports, before training."""

from mlm_lab.errors import require


def evaluated_splits(task) -> tuple[str, ...]:
    """The splits every evaluation during training scores: `val`, then the task's dev splits (held-out text)."""
    return ("val", *getattr(task, "dev_splits", ()))


def reported_metrics(task) -> set[str]:
    """The metrics an evaluation of `task` reports (after its setup): `val/...` and those of its dev splits."""
    return {name for split in evaluated_splits(task) for name in (f"{split}/loss", *(f"{split}/{m}" for m in task.metric_names(split)))}


def require_reported(key: str, monitor: str | None, reported: set[str], fix: str) -> None:
    """Refuse a monitor (`key`'s value; None monitors nothing) that names no reported metric."""
    require(monitor is None or monitor in reported, key, f"{monitor!r} is not among the evaluation's metrics {sorted(reported)}", fix)
