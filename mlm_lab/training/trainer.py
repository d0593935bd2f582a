"""The training loop: budget, accumulation, precision, clipping, evaluation, checkpoints, resume, signals."""

import contextlib
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mlm_lab.errors import require
from mlm_lab.evaluation.splits import evaluate_split, samples_text
from mlm_lab.models.flops import flops_per_token
from mlm_lab.training.budget import Budget
from mlm_lab.training.checkpoint import Checkpointer, save_checkpoint
from mlm_lab.training.loop import Loop, NonFiniteLossError, StepDone, TrainState, Window
from mlm_lab.training.monitors import evaluated_splits, reported_metrics, require_reported
from mlm_lab.training.progress import Progress
from mlm_lab.training.rng import rng_state, set_rng_state
from mlm_lab.training.signals import StopOnSignal, TrainingInterrupted

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 2  # bump when the training state's layout changes
# what a weights-only checkpoint leaves out (without `progress`, resume= refuses it and names init_from)
TRAINING_STATE = ("progress", "optimizer", "schedule", "scaler", "rng", "task", "checkpointer")


@dataclass
class Trainer:
    """Trains until the budget (steps, tokens, FLOPs or minutes, whichever ends first) is spent, evaluating every `eval_every` steps."""

    max_steps: int | None = 1000  # optimizer steps; null: budget in tokens or minutes only
    max_tokens: int | None = None  # training tokens over all processes (inputs, padding included)
    max_minutes: float | None = None  # minutes spent in training steps (evaluation and checkpoint writes excluded)
    max_flops: float | None = None  # training FLOPs: tokens x the model's model/flops_per_token (6N + attention; models/flops.py)
    grad_accum_steps: int = 1  # micro-batches per optimizer step: effective batch = batch_size x this x processes
    eval_every: int = 200  # steps between evaluations (val loss and task metrics); the last step always evaluates
    log_every: int = 10  # steps between train/* points and log lines
    grad_clip: float | None = 1.0  # clip the global gradient norm to this value (train/grad_norm is the norm before); null: no clipping
    checkpoint_every: int | None = None  # steps between writes of checkpoints/latest.pt; null: at every evaluation
    keep_best: int = 1  # best checkpoints kept by `monitor` (checkpoints/best-stepN.pt); 0 keeps none
    monitor: str | None = None  # metric that ranks checkpoints and drives early stopping; null: val/<task objective>
    monitor_mode: str | None = None  # min or max; null: the task's direction for its objective, min for anything else
    early_stopping_patience: int | None = None  # stop after this many evaluations without improving `monitor`; null: never
    log_checkpoints: bool = True  # upload checkpoints: latest.pt to the run (resume=<run id>), final and best as MLflow logged models
    log_best: str = "weights"  # what a best checkpoint's logged model holds: weights (init_from, export), full (resumable too), none
    progress_bar: bool | None = None  # null: a bar when stderr is a terminal, plain log lines otherwise
    init_from: str | None = (
        None  # start from these weights: a .pt written by a run, or hf:DIR (a Hugging Face folder: its architecture and tokenizer too)
    )
    init_include: list[str] | None = None  # with init_from: load only keys with these prefixes (e.g. [tok_emb.])
    overfit_batches: int = 0  # > 0: train on the first N training batches over and over (can the model fit them?); eval stays on val

    def __post_init__(self):
        self.budget = Budget(self.max_steps, self.max_tokens, self.max_minutes, self.max_flops)
        for key in ("eval_every", "log_every", "grad_accum_steps"):
            value = getattr(self, key)
            require(value > 0, f"trainer.{key}", f"must be positive, got {value}", f"set trainer.{key} to a positive integer")
        for key, low in (("checkpoint_every", 1), ("early_stopping_patience", 1), ("keep_best", 0), ("overfit_batches", 0)):
            value = getattr(self, key)
            require(value is None or value >= low, f"trainer.{key}", f"must be >= {low}, got {value}", f"set trainer.{key}={low} or null")
        require(
            self.grad_clip is None or self.grad_clip > 0,
            "trainer.grad_clip",
            f"must be positive or null, got {self.grad_clip}",
            "set trainer.grad_clip=1.0 or null",
        )
        require(
            self.monitor_mode in (None, "min", "max"),
            "trainer.monitor_mode",
            f"must be min, max or null, got {self.monitor_mode!r}",
            "set trainer.monitor_mode=min",
        )
        require(
            self.log_best in ("weights", "full", "none"),
            "trainer.log_best",
            f"must be weights, full or none, got {self.log_best!r}",
            "set trainer.log_best=weights (a resumable copy: full; nothing: none)",
        )
        self.state = TrainState()
        self.val_metrics: dict = {}  # the last evaluation's (checkpointed: a run resumed after training returns them)

    def checkpointer(self, loop: Loop) -> Checkpointer:
        task = loop.task
        monitor = self.monitor or f"val/{task.objective}"
        mode = self.monitor_mode
        if mode is None:
            mode = ("max" if task.objective_direction == "maximize" else "min") if monitor == f"val/{task.objective}" else "min"
        return Checkpointer(loop.checkpoint_dir, monitor, mode, self.keep_best, self.early_stopping_patience, write=loop.dist.is_main)

    def snapshot(self, loop: Loop, checkpointer: Checkpointer) -> dict:
        """Everything a resumed run needs to continue bit for bit (collective under DDP: every rank calls it)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.state.step,
            "progress": asdict(self.state),
            "model": loop.model.state_dict(),
            "optimizer": loop.optimizer.state_dict(),
            "schedule": loop.schedule.state_dict(),
            "scaler": loop.scaler.state_dict() if loop.scaler is not None else {},
            "rng": loop.dist.gather(rng_state(loop.generator)),
            "task": loop.dist.gather(loop.task.state_dict()),
            "checkpointer": checkpointer.state_dict(),
            "flops_per_token": self.budget.flops_per_token,
            "val_metrics": self.val_metrics,
            "world_size": loop.dist.world_size,
            **loop.checkpoint_extra,
        }

    def restore(self, loop: Loop, checkpointer: Checkpointer, checkpoint: dict) -> None:
        """Put model, optimizer, schedule, scaler, random states, data position and counters back as `snapshot` saw them."""
        require(
            checkpoint.get("format") == CHECKPOINT_FORMAT and "progress" in checkpoint,
            "resume",
            f"the checkpoint holds no resumable training state (format {checkpoint.get('format')})",
            "resume from a latest.pt/final.pt written by this version, or start a new run with trainer.init_from=PATH",
        )
        require(
            checkpoint["world_size"] == loop.dist.world_size,
            "resume",
            f"the run trained on {checkpoint['world_size']} processes, this one has {loop.dist.world_size}",
            f"resume with torchrun --nproc_per_node={checkpoint['world_size']} (each rank's data stream is saved)",
        )
        loop.model.load_state_dict(checkpoint["model"])
        loop.optimizer.load_state_dict(checkpoint["optimizer"])
        loop.schedule.load_state_dict(checkpoint["schedule"])
        if loop.scaler is not None and checkpoint["scaler"]:
            loop.scaler.load_state_dict(checkpoint["scaler"])
        set_rng_state(checkpoint["rng"][loop.dist.rank], loop.generator)
        loop.task.load_state_dict(checkpoint["task"][loop.dist.rank])
        checkpointer.load_state_dict(checkpoint["checkpointer"])
        self.state = TrainState(**checkpoint["progress"])
        self.val_metrics = dict(checkpoint.get("val_metrics", {}))

    def budget_left(self, progress: dict, flops_per_token: float | None = None) -> bool:
        """Whether a checkpoint's `progress` leaves some of this budget to train (`flops_per_token`: the checkpoint's)."""
        state = TrainState(**progress)
        self.budget.flops_per_token = self.budget.flops_per_token or flops_per_token
        return self.budget.progress(state.step, state.tokens, state.seconds) < 1.0

    def require_budget_left(self, progress: dict) -> None:
        """Refuse to resume a run whose budget (`progress` of a checkpoint) is already spent."""
        state = TrainState(**progress)
        require(
            self.budget.progress(state.step, state.tokens, state.seconds) < 1.0,
            "trainer.max_steps",
            f"the resumed run has already spent its budget (step {state.step}, {state.tokens} tokens, {state.seconds / 60:.1f} minutes)",
            "raise trainer.max_steps, trainer.max_tokens, trainer.max_flops or trainer.max_minutes on the resume command line",
        )

    def write(self, loop: Loop, checkpointer: Checkpointer, path) -> None:
        """Write a checkpoint to `path` (rank 0) and upload it to the run when asked."""
        written = checkpointer.save(self.snapshot(loop, checkpointer), path)
        if written is None or not self.log_checkpoints:
            return
        if path == checkpointer.final:  # a logged model, ranked beside the best ones by the last evaluation's metrics
            step = self.state.step
            loop.tracker.log_checkpoint(written, f"final-step{step:07d}", "final", "full", step, self.val_metrics, step)
        else:
            loop.tracker.log_artifact(written, "checkpoints")

    def _log_best(self, loop: Loop, written: Path, snapshot: dict, step: int, metrics: dict) -> None:
        """The new best checkpoint as a logged model of the run: the file itself (`log_best=full`) or its weights."""
        name = written.stem
        if self.log_best == "full":
            loop.tracker.log_checkpoint(written, name, "best", "full", step, metrics, step)
            return
        weights = save_checkpoint({k: v for k, v in snapshot.items() if k not in TRAINING_STATE}, written.with_name(f".{name}.weights.pt"))
        try:
            loop.tracker.log_checkpoint(weights, name, "best", "weights", step, metrics, step)
        finally:
            weights.unlink(missing_ok=True)  # the upload holds its own link

    def fit(self, loop: Loop, resume_from: dict | None = None) -> dict:
        """Train `loop.model` in place; returns the last evaluation's metrics (names prefixed `val/`)."""
        checkpointer = self._start(loop, resume_from)
        if self._spent() >= 1.0:  # resumed after its training ended (interrupted in its evaluation or export)
            log.info("training ended at step %d before the interruption: going on after it", self.state.step)
            return self.val_metrics
        progress = self._progress(loop)
        val_metrics: dict = {}
        window = Window()  # since the last log line, for tokens/s
        with StopOnSignal() as stop, progress:
            spent = self._spent()  # fraction of the budget used
            progress.begin(self.state.step, spent)
            while spent < 1.0:
                done = self._train_step(loop, spent, stop, window)
                step, spent = done.step, self._spent()
                last = spent >= 1.0
                progress.step(step, done.loss, done.lr, spent)
                if step % self.log_every == 0 or last:
                    self._log(loop, progress, done, spent, window)
                evaluated = step % self.eval_every == 0 or last
                if evaluated:
                    val_metrics = self.val_metrics = self._evaluate(loop, checkpointer, step, progress)
                    last = last or checkpointer.should_stop
                    if checkpointer.should_stop:
                        progress.message(
                            "early stopping: %s has not improved for %d evaluations", checkpointer.monitor, checkpointer.bad_evaluations
                        )
                # a signal that lands during this step's logging or evaluation also stops here (one process:
                # no other rank to agree with), rather than after one more step
                if done.stopping or (not loop.dist.enabled and stop.requested is not None):
                    self.write(loop, checkpointer, checkpointer.latest)
                    raise TrainingInterrupted(stop.requested or 15, step, str(checkpointer.latest))
                if last:
                    break
                if step % self.checkpoint_every == 0 if self.checkpoint_every else evaluated:
                    self.write(loop, checkpointer, checkpointer.latest)
            self.write(loop, checkpointer, checkpointer.final)
        return val_metrics

    def require_monitor(self, task) -> None:
        """`monitor` (null: the task's objective) must be a metric the evaluation of `task` reports: refused before training."""
        fix = "set trainer.monitor to one of them, or null for the task's objective"
        require_reported("trainer.monitor", self.monitor or f"val/{task.objective}", reported_metrics(task), fix)

    def _start(self, loop: Loop, resume_from: dict | None) -> Checkpointer:
        """Check the monitor, restore a resumed run's state (or start from zero) and fix the batches of `overfit_batches`."""
        self.require_monitor(loop.task)
        loop.scaler = loop.scaler or loop.hardware.grad_scaler()
        checkpointer = self.checkpointer(loop)
        self.budget.flops_per_token = flops_per_token(loop.model, loop.task.max_sequence_length)
        if resume_from is not None:
            self.restore(loop, checkpointer, resume_from)
        else:
            self.state, self.val_metrics = TrainState(), {}
        self._fixed = [loop.task.train_batch(loop.generator) for _ in range(self.overfit_batches)]
        self._drawn = 0
        loop.train_model.train()
        return checkpointer

    def _progress(self, loop: Loop) -> Progress:
        """The progress bar (or log lines) over the budget, after a line on the effective batch."""
        dist, task = loop.dist, loop.task
        effective_batch = task.batch_size * self.grad_accum_steps * dist.world_size
        progress = Progress(self.budget.total_steps(effective_batch * task.max_sequence_length), self.progress_bar, enabled=dist.is_main)
        loop.tracker.log_metrics(
            {"train/effective_batch_size": effective_batch, "model/flops_per_token": self.budget.flops_per_token}, step=self.state.step
        )
        progress.message(
            "effective batch %d sequences = %d per process x %d accumulation steps x %d processes",
            effective_batch,
            task.batch_size,
            self.grad_accum_steps,
            dist.world_size,
        )
        return progress

    def _spent(self) -> float:
        return self.budget.progress(self.state.step, self.state.tokens, self.state.seconds)

    def _train_step(self, loop: Loop, spent: float, stop: StopOnSignal, window: Window) -> StepDone:
        """One optimizer step over `grad_accum_steps` micro-batches, with every rank agreeing on a bad loss or a stop."""
        dist = loop.dist
        started = time.perf_counter()
        step = self.state.step + 1
        lr = loop.schedule.update(step, spent)
        loss, tokens = self._accumulate(loop, loop.scaler)
        nonfinite, stopping, loss = dist.sum([float(not math.isfinite(loss)), float(stop.requested is not None), loss])
        loss /= dist.world_size
        if nonfinite:
            raise self._nonfinite(step)
        grad_norm = self._optimizer_step(loop, loop.scaler)
        seconds = time.perf_counter() - started
        if dist.enabled and self.max_minutes is not None:  # every rank must agree on when the budget ends
            seconds = dist.sum([seconds])[0] / dist.world_size
        self.state = TrainState(step, self.state.tokens + tokens * dist.world_size, self.state.seconds + seconds)
        window.tokens += tokens * dist.world_size
        window.seconds += seconds
        return StepDone(step, loss, lr, grad_norm, bool(stopping))

    def _log(self, loop: Loop, progress: Progress, done: StepDone, spent: float, window: Window) -> None:
        """train/* metrics and a log line; starts a new tokens/s window."""
        scaler = loop.scaler
        metrics = {
            "train/loss": done.loss,
            "train/lr": done.lr,
            "train/grad_norm": done.grad_norm,
            "tokens_per_second": window.tokens / max(window.seconds, 1e-9),
            "train/tokens": self.state.tokens,
            "train/flops": self.state.tokens * self.budget.flops_per_token,
            "train/minutes": self.state.seconds / 60.0,
            **({"train/loss_scale": scaler.get_scale()} if scaler.is_enabled() else {}),
            **loop.task.train_stats(),
        }
        loop.tracker.log_metrics(metrics, done.step)
        progress.line(done.step, metrics, spent)
        window.tokens, window.seconds = 0, 0.0

    def _next_batch(self, loop: Loop) -> tuple[torch.Tensor, torch.Tensor]:
        """The next training batch: drawn from the task, or the next of the `overfit_batches` fixed ones."""
        if not self._fixed:
            return loop.task.train_batch(loop.generator)
        batch = self._fixed[self._drawn % len(self._fixed)]
        self._drawn += 1
        return batch

    def _accumulate(self, loop: Loop, scaler) -> tuple[float, int]:
        """Forward and backward over `grad_accum_steps` micro-batches; returns the mean loss and the tokens seen here."""
        total, tokens = torch.zeros((), device=loop.hardware.torch_device), 0
        self._bad_batch = None
        for micro in range(self.grad_accum_steps):
            x, y = self._next_batch(loop)
            x, y = x.to(loop.hardware.torch_device), y.to(loop.hardware.torch_device)
            # under DDP, gradients are averaged across ranks only on the last micro-batch
            sync = loop.train_model.no_sync() if loop.dist.enabled and micro < self.grad_accum_steps - 1 else contextlib.nullcontext()
            with sync:
                with loop.hardware.autocast():
                    _, loss = loop.train_model(x, y)
                if self._bad_batch is None and not torch.isfinite(loss):
                    self._bad_batch = {"micro_batch": micro, "inputs": x.cpu(), "targets": y.cpu()}
                # backward even on a bad loss: under DDP every rank must reach the same gradient all-reduce
                scaler.scale(loss / self.grad_accum_steps).backward()
            total += loss.detach().float()
            tokens += x.numel()
        return float(total) / self.grad_accum_steps, tokens

    def _nonfinite(self, step: int) -> NonFiniteLossError:
        bad = self._bad_batch
        where = f"micro-batch {bad['micro_batch']} of step {step}" if bad else f"step {step}, on another process"
        message = (
            f"train/loss is not finite at step {step} ({where}); the run stops before the optimizer step and keeps the last good "
            "checkpoint. Fix: lower optimizer.lr, enable trainer.grad_clip, or use hardware.precision=bf16 instead of fp16"
        )
        batch = {"inputs": bad["inputs"], "targets": bad["targets"]} if bad else None
        return NonFiniteLossError(message, {"nonfinite.step": str(step), "nonfinite.batch": where}, batch)

    def _optimizer_step(self, loop: Loop, scaler) -> float:
        """Unscale, clip (returning the norm before clipping), step and clear the gradients."""
        scaler.unscale_(loop.optimizer)
        params = [p for group in loop.optimizer.param_groups for p in group["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip if self.grad_clip is not None else math.inf)
        scaler.step(loop.optimizer)
        scaler.update()
        loop.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def _evaluate(self, loop: Loop, checkpointer: Checkpointer, step: int, progress: Progress) -> dict:
        metrics = {}
        for split in evaluated_splits(loop.task):  # val, and held-out text scored beside it
            metrics.update(
                {f"{split}/{k}": v for k, v in evaluate_split(loop.model, loop.task, loop.predictor, split, loop.hardware).items()}
            )
        loop.tracker.log_metrics(metrics, step)
        progress.message("step %d  %s", step, "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        loop.schedule.observe(metrics)
        snapshot: dict = {}
        best = checkpointer.observe(metrics, step, lambda: snapshot.update(self.snapshot(loop, checkpointer)) or snapshot)
        if best is not None:
            progress.message("new best %s %.4f: %s", checkpointer.monitor, metrics[checkpointer.monitor], best)
            if self.log_checkpoints and self.log_best != "none":
                self._log_best(loop, best, snapshot, step, metrics)
        if loop.dist.is_main:
            prompts = loop.task.sample_prompts()
            loop.tracker.log_text(samples_text(prompts, loop.predictor.complete(prompts)), f"samples/step_{step:06d}.txt")
        return metrics
