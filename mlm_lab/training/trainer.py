"""The training loop: steps, periodic evaluation and metric reporting through a `log` callback."""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mlm_lab.errors import require

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


@torch.no_grad()
def evaluate_loss(model, batches, hardware) -> float:
    """Mean loss per scored target token over `batches`."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in batches:
        x, y = x.to(hardware.torch_device), y.to(hardware.torch_device)
        with hardware.autocast():
            _, loss = model(x, y)
        n = int((y >= 0).sum())
        if n:  # a batch with nothing to score has a NaN mean loss
            total += float(loss) * n
        count += n
    model.train(was_training)
    return total / max(count, 1)


def evaluate_split(model, task, predictor, split: str, hardware) -> dict[str, float]:
    """Everything the task measures on `split`: loss, the task's loss-based metrics, then its generation metrics."""
    loss = evaluate_loss(model, task.batches(split), hardware)
    return {"loss": loss, **task.loss_metrics(loss, split), **task.evaluate(predictor, split)}


def samples_text(prompts: list[str], completions: list[str]) -> str:
    """Prompts and their completions, one block each, as the samples artifacts show them."""
    return "".join(f"=== {p!r}\n{p}{c}\n\n" for p, c in zip(prompts, completions))


@dataclass
class Trainer:
    """Runs `max_steps` optimizer steps, logging train metrics and evaluating every `eval_every` steps."""

    max_steps: int = 400  # optimizer steps to train for
    eval_every: int = 100  # steps between evaluations (val loss and task metrics); the last step always evaluates
    log_every: int = 10  # steps between train/loss, train/lr and tokens_per_second points
    grad_clip: float | None = 1.0  # clip the global gradient norm to this value; null disables clipping
    init_from: str | None = None  # start from this checkpoint's weights (a .pt written by a run)
    init_include: list[str] | None = None  # with init_from: load only keys with these prefixes (e.g. [tok_emb.])

    def __post_init__(self):
        for key in ("max_steps", "eval_every", "log_every"):
            value = getattr(self, key)
            require(value > 0, f"trainer.{key}", f"must be positive, got {value}", f"set trainer.{key} to a positive integer")
        require(
            self.grad_clip is None or self.grad_clip > 0,
            "trainer.grad_clip",
            f"must be positive or null, got {self.grad_clip}",
            "set trainer.grad_clip=1.0 or null",
        )

    def fit(
        self,
        model,
        optimizer,
        scheduler,
        task,
        hardware,
        predictor,
        log_metrics: Callable[[dict, int], None],
        generator: torch.Generator,
        log_text: Callable[[str, str], None] | None = None,
    ) -> dict:
        """Train in place; returns the last evaluation's metrics (names prefixed `val/`)."""
        model.train()
        device = hardware.torch_device
        tokens, busy = 0, 0.0  # tokens and seconds of training steps since the last log line
        val_metrics: dict = {}
        for step in range(1, self.max_steps + 1):
            started = time.perf_counter()
            x, y = task.train_batch(generator)
            x, y = x.to(device), y.to(device)
            with hardware.autocast():
                _, loss = model(x, y)
            if not math.isfinite(loss.item()):
                raise NonFiniteLossError(f"train/loss is {loss.item()} at step {step}; lower optimizer.lr or enable trainer.grad_clip")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
            optimizer.step()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            tokens += x.numel()
            busy += time.perf_counter() - started
            if step % self.log_every == 0 or step == self.max_steps:
                metrics = {"train/loss": loss.item(), "train/lr": lr, "tokens_per_second": tokens / busy, **task.train_stats()}
                log_metrics(metrics, step)
                log.info(
                    "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s",
                    step,
                    self.max_steps,
                    metrics["train/loss"],
                    lr,
                    metrics["tokens_per_second"],
                )
                tokens, busy = 0, 0.0
            if step % self.eval_every == 0 or step == self.max_steps:
                val_metrics = {f"val/{k}": v for k, v in evaluate_split(model, task, predictor, "val", hardware).items()}
                log_metrics(val_metrics, step)
                log.info("step %d  %s", step, "  ".join(f"{k} {v:.4f}" for k, v in val_metrics.items()))
                if log_text is not None:
                    prompts = task.sample_prompts()
                    log_text(samples_text(prompts, predictor.complete(prompts)), f"samples/step_{step:06d}.txt")
        return val_metrics
