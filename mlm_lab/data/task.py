"""The interface the runner, trainer and apps use; a task is whatever implements it (no base class)."""

from typing import Protocol

import torch

from mlm_lab.errors import ConfigError, require
from mlm_lab.hardware import memory_bytes


class Task(Protocol):
    """Data, loss mask, metrics and text format of one kind of experiment (arithmetic, language modelling)."""

    objective: str  # the validation metric that says how good a run is (the sweep objective)
    objective_direction: str  # "maximize" or "minimize"
    held_out_splits: tuple[str, ...]  # splits evaluated once after training
    text_format: object  # prompt_to_model / answer_from_model / to_config
    max_sequence_length: int  # tokens the model must see at once

    def setup(self, tokenizer) -> None:
        """Load or generate the data; fit the tokenizer first if it needs it."""

    @property
    def split_names(self) -> tuple[str, ...]: ...

    def train_batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]: ...

    def batches(self, split: str):
        """Fixed (inputs, targets) batches that cover `split`."""

    def loss_metrics(self, loss: float, split: str) -> dict[str, float]:
        """Metrics that follow from the mean loss on `split` (perplexity, bits per byte)."""

    def evaluate(self, predictor, split: str) -> dict[str, float]:
        """Metrics that need generation (exact match)."""

    def metric_names(self, split: str) -> tuple[str, ...]:
        """The names `loss_metrics` and `evaluate` return for `split` (after setup), so a monitor can be checked before training."""

    batch_size: int  # rows per training batch on one process

    def train_stats(self) -> dict[str, float]: ...

    def state_dict(self) -> dict:
        """Training-stream position that the generator's state does not hold (restored on resume)."""

    def load_state_dict(self, state: dict) -> None: ...

    def sample_prompts(self, n: int = 8) -> list[str]: ...

    def generation_defaults(self) -> dict: ...

    def tags(self) -> dict[str, str]:
        """Run tags that identify the data (corpus and file hashes)."""


def cannot_encode(tokenizer, error: ValueError) -> ConfigError:
    """The error for data the tokenizer cannot encode (a fixed alphabet without a character of it): a config to fix."""
    key = "tokenizer.alphabet" if getattr(tokenizer, "alphabet", None) else "tokenizer"
    return ConfigError(
        f"{key}: the {tokenizer.kind} tokenizer cannot encode the data ({str(error).split(' Fix:')[0]}). "
        "Fix: use a tokenizer that covers every character of the data: tokenizer=char_corpus learns them from the "
        "training text, or list them all in tokenizer.alphabet"
    )


def require_batch_fits(batch_size: int, length: int) -> None:
    """Refuse a batch whose token ids alone (inputs and targets, int64) exceed memory, before torch fails to allocate it."""
    need, have = batch_size * length * 16, memory_bytes()
    require(
        need <= have,
        "data.batch_size",
        f"{batch_size} sequences of {length} tokens need {need / 2**30:.3g} GiB for their token ids alone, "
        f"more than the {have / 2**30:.3g} GiB of memory here",
        "lower data.batch_size, and raise trainer.grad_accum_steps to keep the effective batch",
    )
