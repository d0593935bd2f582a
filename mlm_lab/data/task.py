"""The interface the runner, trainer and apps use; a task is whatever implements it (no base class)."""

from dataclasses import dataclass
from typing import Protocol

import torch

from mlm_lab.errors import ConfigError


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes a task's `setup` will hold, and the words of the refusal if the host has less (the runner compares)."""

    key: str  # the setting to lower
    bytes: int
    problem: str  # with {need} and {have} in GiB filled in by the check
    fix: str


class Task(Protocol):
    """Data, loss mask, metrics and text format of one kind of experiment (arithmetic, language modelling)."""

    objective: str  # the validation metric that says how good a run is (the sweep objective)
    objective_direction: str  # "maximize" or "minimize"
    held_out_splits: tuple[str, ...]  # splits evaluated once after training
    dev_splits: tuple[str, ...]  # splits evaluated beside val at every evaluation (metrics `<split>/...`); may be ()
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

    def datasets(self) -> list[dict]:
        """What the run saw, after setup: per split a dict with name, digest (a sha256), source (a path, a URL or a
        generator), context (training, validation, test, heldout) and a profile; logged as MLflow datasets."""

    def memory_needs(self) -> tuple[MemoryNeed, ...]:
        """What `setup` will hold beyond the training batch, known before it runs (the runner checks the batch itself)."""


def cannot_encode(tokenizer, error: ValueError) -> ConfigError:
    """The error for data the tokenizer cannot encode (a fixed alphabet without a character of it): a config to fix."""
    key = "tokenizer.alphabet" if getattr(tokenizer, "alphabet", None) else "tokenizer"
    return ConfigError(
        f"{key}: the {tokenizer.kind} tokenizer cannot encode the data ({str(error).split(' Fix:')[0]}). "
        "Fix: use a tokenizer that covers every character of the data: tokenizer=char_corpus learns them from the "
        "training text, or list them all in tokenizer.alphabet"
    )
