"""The generic runner: seed -> tokenizer -> data -> model -> optimizer -> fit -> evaluate -> export.

It has no per-experiment branches: an experiment changes behaviour only through the objects its
config names (the task owns its loss mask, its metrics and its text format).
"""

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mlm_lab.errors import ConfigError, require
from mlm_lab.evaluation.splits import samples_text
from mlm_lab.instantiate import build
from mlm_lab.model_dir import model_spec, write_model_dir
from mlm_lab.models.loading import load_weights
from mlm_lab.predictor import Predictor
from mlm_lab.reports import plots as plots_lib
from mlm_lab.rerun import rerun_config
from mlm_lab.resume import resume_config
from mlm_lab.tokenizers import tokenizer_from_state, tokenizer_sha256
from mlm_lab.tracking import sweep as sweep_lib
from mlm_lab.tracking.null_tracker import NullTracker
from mlm_lab.tracking.redact import redact_config
from mlm_lab.training.checkpoint import check_writable, load_checkpoint, save_checkpoint
from mlm_lab.training.distributed import Distributed, init_distributed
from mlm_lab.training.signals import TrainingInterrupted
from mlm_lab.training.trainer import Loop, NonFiniteLossError, Trainer

log = logging.getLogger(__name__)


def seed_everything(seed: int, rank: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; returns the generator that draws training batches (a different stream per rank)."""
    require(
        isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**31,
        "seed",
        f"must be an integer in [0, 2**31), got {seed!r}",
        "set seed=0 (or any small integer)",
    )
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    return torch.Generator().manual_seed(seed + rank)


def check_optimizer(cfg: DictConfig) -> None:
    """Catch bad optimizer values before torch does, with the key and the fix."""
    lr = cfg.get("lr")
    require(
        isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0,
        "optimizer.lr",
        f"must be a positive number, got {lr!r}",
        "set optimizer.lr to e.g. 1e-3",
    )
    wd = cfg.get("weight_decay", 0.0)
    require(
        isinstance(wd, (int, float)) and wd >= 0,
        "optimizer.weight_decay",
        f"must be a number >= 0, got {wd!r}",
        "set optimizer.weight_decay=0.0 or a small positive value",
    )


def build_model(cfg: DictConfig, tokenizer, task, hardware):
    model = build(cfg, "model")(vocab_size=tokenizer.vocab_size)
    context = model.config.context_length
    require(
        task.max_sequence_length <= context,
        "model.context_length",
        f"is {context} but the longest example needs {task.max_sequence_length} tokens",
        f"set model.context_length={task.max_sequence_length} or more",
    )
    return model.to(hardware.torch_device)


def check_monitors(task, *monitors: str | None) -> None:
    """`trainer.monitor` and `scheduler.monitor` must name a metric the evaluation reports (not found out mid-run)."""
    reported = {"val/loss", *(f"val/{m}" for m in task.metric_names("val"))}
    for key, monitor in zip(("trainer.monitor", "scheduler.monitor"), monitors):
        require(
            monitor is None or monitor in reported,
            key,
            f"{monitor!r} is not among the evaluation's metrics {sorted(reported)}",
            f"set {key} to one of them",
        )


GROUPS = ("tokenizer", "model", "data", "optimizer", "scheduler", "hardware", "trainer", "tracking")


@dataclass
class Components:
    """Everything a run is made of, built from the config before any training."""

    hardware: object
    trainer: Trainer
    tracker: object
    tokenizer: object
    task: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object
    generator: torch.Generator
    dist: Distributed

    @property
    def predictor(self) -> Predictor:
        return Predictor(self.model, self.tokenizer, self.task.text_format, self.task.generation_defaults())


def init_weights(model, path: str, include: list[str] | None) -> None:
    """Start from a checkpoint's weights: all of them, or only the keys under `include` prefixes."""
    try:
        checkpoint = load_checkpoint(path)
        loaded = load_weights(model, checkpoint["model"], checkpoint.get("model_config"), include)
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(
            f"trainer.init_from: cannot start from {path}: {e}\nFix: point trainer.init_from at a checkpoint written by a run "
            "(outputs/DATE/TIME/checkpoints/final.pt), or list the tensors to reuse in trainer.init_include"
        ) from None
    log.info("initialised %d tensors from %s", len(loaded), path)


def setup_task(cfg: DictConfig, tokenizer, dist: Distributed):
    """Build the task and load its data; rank 0 first, so the others find the tokenizer and tokens in the cache."""
    task = build(cfg.data, "data")
    if not dist.is_main:
        dist.barrier()
    task.setup(tokenizer)
    if dist.is_main:
        dist.barrier()
    return task


def build_components(cfg: DictConfig, checkpoint: dict | None = None, tracker=None) -> Components:
    """Settings, seed, tokenizer, data, model, optimizer, schedule: every bad value fails here."""
    hardware = build(cfg.hardware, "hardware")
    hardware.apply(default_threads=sweep_lib.cpu_share())
    trainer = build(cfg.trainer, "trainer")
    check_optimizer(cfg.optimizer)
    schedule = build(cfg.scheduler, "scheduler")
    dist = init_distributed(hardware)
    tracker = (tracker or build(cfg.tracking, "tracking")) if dist.is_main else NullTracker()
    generator = seed_everything(cfg.seed, dist.rank)
    # a resumed run keeps its own tokenizer: ids must not move under trained weights
    tokenizer = tokenizer_from_state(checkpoint["tokenizer"]) if checkpoint else build(cfg.tokenizer, "tokenizer")
    task = setup_task(cfg, tokenizer, dist)
    check_monitors(task, trainer.monitor, getattr(schedule, "monitor", None))
    model = build_model(cfg.model, tokenizer, task, hardware)
    if trainer.init_from and checkpoint is None:
        init_weights(model, trainer.init_from, trainer.init_include)
    optimizer = build(cfg.optimizer, "optimizer")(model)
    schedule.bind(optimizer)
    log.info("model: %s, %d parameters, on %s", type(model).__name__, model.num_parameters(), hardware.torch_device)
    log.info("tracking to %s, experiment %r", tracker.resolved_uri, tracker.experiment)
    return Components(hardware, trainer, tracker, tokenizer, task, model, optimizer, schedule, generator, dist)


def fit(c: Components, output_dir: Path, config: dict, checkpoint: dict | None) -> dict:
    counts = {"model/num_parameters": c.model.num_parameters(), "model/num_parameters_non_embedding": c.model.num_parameters(True)}
    c.tracker.log_metrics(counts, step=0)
    train_model = c.dist.wrap(c.model)
    if c.hardware.compile:
        train_model = torch.compile(train_model)
    loop = Loop(
        model=c.model,
        train_model=train_model,
        optimizer=c.optimizer,
        schedule=c.schedule,
        task=c.task,
        hardware=c.hardware,
        predictor=c.predictor,
        tracker=c.tracker,
        generator=c.generator,
        checkpoint_dir=str(output_dir / "checkpoints"),
        checkpoint_extra={
            "model_config": model_spec(c.model),
            "tokenizer": c.tokenizer.state(),
            "config": config,
            "run_id": c.tracker.run_id,
        },
        dist=c.dist,
    )
    return c.trainer.fit(loop, checkpoint)


def evaluate(c: Components) -> tuple[list[str], list[str], dict]:
    """Held-out metrics and samples, logged; returns the sample prompts, completions and the metrics."""
    predictor = c.predictor
    held_out: dict = {}
    for split in c.task.held_out_splits:
        metrics = {f"{split}/{k}": v for k, v in c.task.evaluate(predictor, split).items()}
        c.tracker.log_metrics(metrics, step=c.trainer.state.step)
        log.info("%s: %s", split, "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        held_out.update(metrics)
    prompts = c.task.sample_prompts()
    completions = predictor.complete(prompts)
    c.tracker.log_text(samples_text(prompts, completions), "samples.txt")
    return prompts, completions, held_out


def report(c: Components, output_dir: Path, held_out: dict) -> None:
    """Loss and lr curves, and any `split/metric_lenL` breakdown as a bar chart: PNGs under plots/, logged."""
    history = c.tracker.metric_history(["train/loss", "val/loss", "train/lr"])
    if not any(history.values()):
        return  # nothing was tracked (tracking=none)
    plots = output_dir / "plots"
    written = [
        plots_lib.curves({k: history[k] for k in ("train/loss", "val/loss")}, plots / "loss.png", "loss (nats per target token)"),
        plots_lib.curves({"train/lr": history["train/lr"]}, plots / "lr.png", "learning rate"),
    ]
    for name, values in plots_lib.by_length(held_out).items():
        file = plots / f"{name.replace('/', '_')}_by_length.png"
        written.append(plots_lib.bars(values, file, f"{name} by answer length", "answer length (characters)", name))
    for path in written:
        c.tracker.log_artifact(path, "plots")


def export(c: Components, output_dir: Path, config: dict) -> str | None:
    """Write the model folder, log its tokenizer, and register the model (the trainer wrote checkpoints/final.pt)."""
    model_dir = write_model_dir(output_dir / "model", c.model, c.tokenizer, c.task.text_format, c.task.generation_defaults(), config)
    c.tracker.log_artifact(model_dir / "tokenizer.json", "tokenizer")
    if c.tracker.register_as is None:
        return None
    return c.tracker.register(model_dir, input_example=c.task.sample_prompts(1))


def check_reload(c: Components, model_uri: str, prompts: list[str], expected: list[str]) -> None:
    """Reload the registered model from the store and check it answers as the trained model did."""
    got = c.tracker.load(model_uri).complete(prompts)
    if got != expected:
        raise RuntimeError(f"{model_uri} reloaded answers {got} for {prompts}, but the trained model answered {expected}")
    c.tracker.set_tag("reload_check", "passed")
    log.info("reloaded %s: %s", model_uri, "  ".join(f"{p} -> {a}" for p, a in zip(prompts, got)))


def train(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """Build everything from `cfg`, train, evaluate, export and register; returns the validation objective.

    With `resume` set, the run continues from its checkpoint, in the same MLflow run; with `rerun` set,
    a logged run's overrides plus these start a new run. In a multirun, the run is nested under the
    sweep's parent, and a job the sweep already finished is skipped (its logged objective is returned).
    """
    overrides = overrides or []
    for group in GROUPS:
        require(cfg.get(group) is not None, group, f"is missing (removed with ~{group}?)", f"choose one of conf/{group}/: {group}=<name>")
    checkpoint, tracker, tags = None, None, {}
    if cfg.get("rerun"):
        cfg, overrides, source = rerun_config(cfg, overrides, build(cfg.tracking, "tracking"))
        tags["rerun_of"] = source
        log.info("rerun of %s with overrides: %s", source, " ".join(overrides))
    if cfg.get("resume"):
        tracker = build(cfg.tracking, "tracking")
        checkpoint, cfg = resume_config(cfg, overrides, tracker)
        tracker = build(cfg.tracking, "tracking")
        build(cfg.trainer, "trainer").require_budget_left(checkpoint["progress"])  # before the run is reopened
        if checkpoint["run_id"] is None and tracker.keeps_runs:
            raise ConfigError("resume: the checkpoint was written by an untracked run. Fix: resume it with tracking=none")
        if checkpoint["run_id"] is not None and not tracker.run_exists(checkpoint["run_id"]):
            raise ConfigError(
                f"resume: run {checkpoint['run_id']} is not in the tracking store {tracker.resolved_uri}. "
                "Fix: set tracking.uri to the store the run was logged to"
            )
    sweep = sweep_lib.current() if checkpoint is None else None
    if sweep is not None:
        done = sweep_lib.finished_objective(sweep, overrides)
        if done is not None:
            return done
        tags.update(sweep_lib.child_tags(sweep, overrides))
    # what is logged, checkpointed and exported: credentials keep their ${oc.env:...} form (or become ***)
    config = redact_config(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), OmegaConf.to_container(cfg, enum_to_str=True))
    tracker = tracker or build(cfg.tracking, "tracking")
    output_dir = Path(cfg.output_dir)
    tracker.check_reachable()  # before the data, the model and the first step
    check_writable(output_dir / "checkpoints")
    c = build_components(cfg, checkpoint, tracker)
    resume_id = checkpoint["run_id"] if checkpoint else None
    note = f"step{checkpoint['step']}" if checkpoint else ""
    try:
        parent = sweep.parent_run_id if sweep else None
        with c.tracker.run(config, overrides, resume_id, note, parent_run_id=parent, tags=tags, journal_dir=output_dir):
            if checkpoint is None:
                c.tracker.set_tags({"tokenizer.sha256": tokenizer_sha256(c.tokenizer), **c.task.tags()})
            c.tracker.set_tags(
                {
                    "checkpoint.dir": str(output_dir / "checkpoints"),
                    "hardware.threads_used": str(torch.get_num_threads()),
                    sweep_lib.OBJECTIVE_TAG: f"val/{c.task.objective}",
                    sweep_lib.DIRECTION_TAG: c.task.objective_direction,
                }
            )
            try:
                val = fit(c, output_dir, config, checkpoint)
            except TrainingInterrupted as e:
                e.resume_command = f"mlm-train resume={c.tracker.run_id}"
                c.tracker.set_tags({"resume_command": e.resume_command})
                raise
            except NonFiniteLossError as e:
                if e.batch is not None and c.dist.is_main:
                    c.tracker.log_artifact(save_checkpoint(e.batch, output_dir / "nonfinite" / "batch.pt"), "nonfinite")
                raise
            if not c.dist.is_main:
                return val[f"val/{c.task.objective}"]
            prompts, completions, held_out = evaluate(c)
            report(c, output_dir, held_out)
            model_uri = export(c, output_dir, config)
            if model_uri is not None:
                check_reload(c, model_uri, prompts, completions)
            log.info("run %s finished; registered model: %s", c.tracker.run_id, model_uri)
    finally:
        c.dist.shutdown()
    return val[f"val/{c.task.objective}"]
