"""The generic runner: prepare -> check resources -> build -> fit -> evaluate -> report -> export and check reload -> register.

SIGINT/SIGTERM end the run KILLED with its resume command wherever they land: between training steps
(after a checkpoint), or in the evaluation, report or export after training, which a resume then
finishes without training again. The model is registered only once it passed its reload check, and a
signal during the registration waits for the run's end.

It has no per-experiment branches: an experiment changes behaviour only through the objects its
config names (the task owns its loss mask, its metrics and its text format).
"""

import contextlib
import copy
import json
import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, open_dict

from mlm_lab.components import Components, build_components, seed_everything
from mlm_lab.errors import require
from mlm_lab.evaluation.splits import samples_text
from mlm_lab.export.model_card import model_card
from mlm_lab.export.source import Source
from mlm_lab.model_dir import model_spec, write_model_dir
from mlm_lab.preparation import RunPlan, prepare
from mlm_lab.reports import plots as plots_lib
from mlm_lab.resume import override_key
from mlm_lab.tokenizers import tokenizer_sha256
from mlm_lab.tracking import sweep as sweep_lib
from mlm_lab.training.checkpoint import check_writable, save_checkpoint
from mlm_lab.training.monitors import evaluated_splits
from mlm_lab.training.signals import RaiseOnSignal, TrainingInterrupted
from mlm_lab.training.trainer import Loop, NonFiniteLossError
from mlm_lab.version_info import version_info

__all__ = ["build_components", "fit", "seed_everything", "train"]  # seed_everything and build_components: built in components.py
log = logging.getLogger(__name__)


def check_resources(plan: RunPlan, output_dir: Path) -> None:
    """The store answers and the checkpoints can be written: before the data, the model and the first step."""
    plan.tracker.check_reachable()
    check_writable(output_dir / "checkpoints")


@contextlib.contextmanager
def open_run(c: Components, plan: RunPlan, output_dir: Path):
    """The run in the tracking store (new, a sweep's child, or the resumed one), tagged with what identifies it."""
    resumed = (plan.resume_run_id, plan.resume_note)
    with c.tracker.run(c.config, plan.overrides, *resumed, parent_run_id=plan.parent_run_id, tags=plan.tags, journal_dir=output_dir):
        if plan.checkpoint is None:
            c.tracker.set_tags({"tokenizer.sha256": tokenizer_sha256(c.tokenizer), **c.task.tags()})
            c.tracker.log_inputs(c.task.datasets())
        c.tracker.set_tags(
            {
                "checkpoint.dir": str(output_dir / "checkpoints"),
                "hardware.threads_used": str(torch.get_num_threads()),
                sweep_lib.OBJECTIVE_TAG: f"val/{c.task.objective}",
                sweep_lib.DIRECTION_TAG: c.task.objective_direction,
            }
        )
        yield


def fit(c: Components, output_dir: Path, checkpoint: dict | None) -> dict:
    """Train; an interrupted run is tagged with its resume command, a non-finite loss leaves its batch as an artifact."""
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
            "generation": c.task.generation_defaults(),  # what an export from this checkpoint writes as its defaults
            "config": c.config,
            "run_id": c.tracker.run_id,
        },
        dist=c.dist,
    )
    try:
        return c.trainer.fit(loop, checkpoint)
    except TrainingInterrupted as e:
        e.resume_command = resume_command(c)
        c.tracker.set_tags({"resume_command": e.resume_command})
        raise
    except NonFiniteLossError as e:
        if e.batch is not None and c.dist.is_main:
            c.tracker.log_artifact(save_checkpoint(e.batch, output_dir / "nonfinite" / "batch.pt"), "nonfinite")
        raise


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
    losses = ["train/loss", *(f"{split}/loss" for split in evaluated_splits(c.task))]
    history = c.tracker.metric_history([*losses, "train/lr"])
    if not any(history.values()):
        return  # nothing was tracked (tracking=none)
    plots = output_dir / "plots"
    written = [
        plots_lib.curves({k: history[k] for k in losses}, plots / "loss.png", "loss (nats per target token)"),
        plots_lib.curves({"train/lr": history["train/lr"]}, plots / "lr.png", "learning rate"),
    ]
    for name, values in plots_lib.by_length(held_out).items():
        file = plots / f"{name.replace('/', '_')}_by_length.png"
        written.append(plots_lib.bars(values, file, f"{name} by answer length", "answer length (characters)", name))
    for path in written:
        c.tracker.log_artifact(path, "plots")


def write_card(c: Components, model_dir: Path, metrics: dict) -> None:
    """README.md of the registered model's folder: the task, how to call it, its metrics and data."""
    source = Source(f"run {c.tracker.run_id}", c.predictor, c.config, c.task.text_format.to_config(), c.tracker.run_id, metrics)
    name = c.tracker.register_as or c.config.get("name", "model")
    files = sorted(p.name for p in model_dir.iterdir()) + ["README.md"]
    card = model_card(source, "mlflow", f"models:/{name}@champion", c.config["model"]["_target_"].rsplit(".", 1)[-1], files)
    data = [
        f"- {d['context']}: `{d['name']}`, digest `{d['digest'][:12]}`, {json.dumps(d.get('profile', {}))[:200]}" for d in c.task.datasets()
    ]
    (model_dir / "README.md").write_text(card + ("\n## Data\n\n" + "\n".join(data) + "\n" if data else ""), encoding="utf-8")


def export(c: Components, output_dir: Path, prompts: list[str], expected: list[str], info: dict, metrics: dict) -> str | None:
    """Write the model folder, log its tokenizer and the model, and check it reloads (the trainer wrote checkpoints/final.pt).

    Returns the logged model's URI, checked but not registered yet (None when nothing is logged now).
    """
    model_dir = write_model_dir(output_dir / "model", c.model, c.tokenizer, c.task.text_format, c.task.generation_defaults(), c.config)
    write_card(c, model_dir, metrics)
    c.tracker.log_artifact(model_dir / "tokenizer.json", "tokenizer")
    if c.tracker.register_as is None:
        return None
    logged = c.tracker.log_model(model_dir, c.task.sample_prompts(1), prompts, expected, c.trainer.state.step, info)
    if logged is not None:
        c.tracker.check_reload(logged, prompts, expected)
        c.tracker.set_tag("reload_check", "passed")
        log.info(
            "reload check passed, the logged model reloaded from the store: %s", "  ".join(f"{p} -> {a}" for p, a in zip(prompts, expected))
        )
    return logged


def resume_command(c: Components) -> str:
    return f"mlm-train resume={c.tracker.run_id}"


def interruption(c: Components, stage: list[str], checkpoint: Path):
    """What a signal outside the training steps raises: the stage it cut, the checkpoint and the resume command."""

    def interrupted(signum: int) -> TrainingInterrupted:
        written = checkpoint.with_name("latest.pt") if stage[0] == "train" else checkpoint  # a second signal mid-training
        return TrainingInterrupted(signum, c.trainer.state.step, str(written), stage[0], resume_command(c))

    return interrupted


def train(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """Build everything from `cfg`, train, evaluate, export and register; returns the validation objective.

    With `resume` set, the run continues from its checkpoint, in the same MLflow run; with `rerun` set,
    a logged run's overrides plus these start a new run. In a multirun, the run is nested under the
    sweep's parent, and a job the sweep already finished is skipped (its logged objective is returned).
    """
    plan = prepare(cfg, overrides)
    if plan.finished is not None:
        return plan.finished
    output_dir = Path(plan.config.output_dir)
    check_resources(plan, output_dir)
    c = build_components(plan.config, plan.checkpoint, plan.tracker, plan.trainer)
    stage = ["train"]  # what a signal cuts (a list: the guard reads it when the signal lands)
    guard = RaiseOnSignal(interruption(c, stage, output_dir / "checkpoints" / "final.pt"))
    try:
        with guard, open_run(c, plan, output_dir):
            val = fit(c, output_dir, plan.checkpoint)
            if not c.dist.is_main:
                return val[f"val/{c.task.objective}"]
            stage[0] = "evaluate"
            prompts, completions, held_out = evaluate(c)
            stage[0] = "report"
            report(c, output_dir, held_out)
            stage[0] = "export"
            info = version_info(c.tracker.run_id, c.task, c.tokenizer, c.config, val, plan.overrides)
            logged = export(c, output_dir, prompts, completions, info, {**val, **held_out})
            guard.finishing()  # the model passed its check: register it and end the run, whatever signal comes
            model_uri = c.tracker.register_version(logged, c.trainer.state.step, info) if logged is not None else None
            log.info("run %s finished; registered model: %s", c.tracker.run_id, model_uri)
        if guard.received is not None:
            log.warning("a signal came while the run ended; it ended FINISHED, with nothing left to resume")
        if (link := c.tracker.ui_link()) is not None:
            log.info("the run in the MLflow UI: %s", link)
    finally:
        c.dist.shutdown()
    return val.get(f"val/{c.task.objective}", float("nan"))


def train_seeds(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """`train` once per seed of `trial_seeds` (seed, seed + 1, ...): the mean of their objectives (NaN if one is NaN).

    Each seed is its own run (`seed=N` among its overrides, so a sweep groups the seeds of one config and a relaunch
    skips the ones that finished) in its own folder `output_dir/seedN`; an Optuna trial then scores a config by its
    mean over seeds. `trial_seeds: 1` is one plain `train`.
    """
    overrides = list(overrides or [])
    n = cfg.get("trial_seeds", 1)
    n = 1 if n is None else int(n)  # (not `or 1`: 0 is refused below, not read as 1)
    require(n >= 1, "trial_seeds", f"is {n}", "set trial_seeds to 1 or more (seeds each job trains; its objective is their mean)")
    if n == 1:
        return train(cfg, overrides)
    require(not cfg.get("resume"), "trial_seeds", f"is {n} with resume=", "resume one run at a time: drop trial_seeds")
    base = [o for o in overrides if override_key(o) != "seed"]
    values = []
    for seed in range(int(cfg.seed), int(cfg.seed) + n):
        run_cfg = copy.deepcopy(cfg)  # (interpolations resolve in the copy)
        with open_dict(run_cfg):
            run_cfg.seed = seed
            run_cfg.output_dir = str(Path(str(cfg.output_dir)) / f"seed{seed}")
        values.append(train(run_cfg, [*base, f"seed={seed}"]))
        log.info("trial_seeds: seed %d gave %.6g (%d of %d)", seed, values[-1], len(values), n)
    return sum(values) / n
