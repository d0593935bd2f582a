"""What a `mlm-train` command will run: the config after `rerun` and `resume`, or the sweep's result if it already ran.

Everything here happens before a component is built or a run is opened, so a refused resume or rerun
leaves no trace in the tracking store.
"""

import logging
from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf

from mlm_lab.errors import ConfigError, require
from mlm_lab.instantiate import build
from mlm_lab.rerun import rerun_config
from mlm_lab.resume import resume_config
from mlm_lab.tracking import lookup
from mlm_lab.tracking import sweep as sweep_lib
from mlm_lab.training.trainer import Trainer

log = logging.getLogger(__name__)
GROUPS = ("tokenizer", "model", "data", "optimizer", "scheduler", "hardware", "trainer", "tracking")


@dataclass
class RunPlan:
    """The run a command asks for; `finished` (a job this sweep already ran: its objective) means there is nothing to run."""

    config: DictConfig
    overrides: list[str]
    tracker: object  # built once: the look-ups of rerun and resume, and the run
    trainer: Trainer  # built once: the resume budget check, and the fit
    checkpoint: dict | None = None  # resume from this training state, in the same MLflow run
    tags: dict[str, str] = field(default_factory=dict)  # set when the run opens (rerun_of, the sweep's child tags)
    parent_run_id: str | None = None  # the sweep's parent run
    finished: float | None = None

    @property
    def resume_run_id(self) -> str | None:
        return self.checkpoint["run_id"] if self.checkpoint else None

    @property
    def resume_note(self) -> str:
        return f"step{self.checkpoint['step']}" if self.checkpoint else ""


def require_groups(cfg: DictConfig) -> None:
    """Every config group is there (`~model` on the command line removes one)."""
    for group in GROUPS:
        require(cfg.get(group) is not None, group, f"is missing (removed with ~{group}?)", f"choose one of conf/{group}/: {group}=<name>")


def same_tracking(a: DictConfig, b: DictConfig) -> bool:
    return OmegaConf.to_container(a.tracking, resolve=True) == OmegaConf.to_container(b.tracking, resolve=True)


def check_resumable(checkpoint: dict, trainer: Trainer, tracker) -> None:
    """Budget left (or a tracked run that ended before its evaluation and registration), and the run in the store.

    Checked before the run is reopened. A run whose training ended but which did not finish (a signal in its final
    evaluation, report or export) resumes without training: it finishes what was left.
    """
    run_id = checkpoint["run_id"]
    if run_id is not None and tracker.keeps_runs:
        lookup.refuse_deleted(tracker.resolved_uri, run_id, "resume")  # before the budget: a deleted run cannot be reopened at all
    if not trainer.budget_left(checkpoint["progress"], checkpoint.get("flops_per_token")) and (
        run_id is None or tracker.run_status(run_id) in (None, "FINISHED")
    ):
        trainer.require_budget_left(checkpoint["progress"])
    if checkpoint["run_id"] is None and tracker.keeps_runs:
        raise ConfigError("resume: the checkpoint was written by an untracked run. Fix: resume it with tracking=none")
    if checkpoint["run_id"] is not None and not tracker.run_exists(checkpoint["run_id"]):
        raise ConfigError(
            f"resume: run {checkpoint['run_id']} is not in the tracking store {tracker.resolved_uri}. "
            "Fix: set tracking.uri to the store the run was logged to"
        )


def prepare(cfg: DictConfig, overrides: list[str] | None = None) -> RunPlan:
    """The run `cfg` and its command-line `overrides` ask for, after rerun, resume and the sweep's bookkeeping."""
    overrides = overrides or []
    require_groups(cfg)
    tracker, tags, checkpoint = build(cfg.tracking, "tracking"), {}, None
    asked = cfg
    if cfg.get("rerun"):
        cfg, overrides, source = rerun_config(cfg, overrides, tracker)
        tags["rerun_of"] = source
        log.info("rerun of %s with overrides: %s", source, " ".join(overrides))
    if cfg.get("resume"):
        checkpoint, cfg = resume_config(cfg, overrides, tracker)
    if not same_tracking(asked, cfg):  # the run's own tracking settings (a rerun's, a resumed checkpoint's)
        tracker = build(cfg.tracking, "tracking")
    trainer = build(cfg.trainer, "trainer")
    if checkpoint is not None:
        check_resumable(checkpoint, trainer, tracker)
    sweep = sweep_lib.current() if checkpoint is None else None
    if sweep is not None:
        done = sweep_lib.finished_objective(sweep, overrides)
        if done is not None:
            return RunPlan(cfg, overrides, tracker, trainer, finished=done)
        tags.update(sweep_lib.child_tags(sweep, overrides))
    parent = sweep.parent_run_id if sweep is not None else None
    return RunPlan(cfg, overrides, tracker, trainer, checkpoint, tags, parent)
