"""What one `fit` works on and reports: the loop's parts (the runner builds them), its state, a step's result."""

from dataclasses import dataclass, field

import torch

from mlm_lab.training.distributed import Distributed


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the step, micro-batch and rank are in `tags`."""

    def __init__(self, message: str, tags: dict[str, str], batch: dict | None = None):
        super().__init__(message)
        self.tags, self.batch = tags, batch


@dataclass
class TrainState:
    """How far the run has come: optimizer steps, tokens over all ranks, seconds spent in training steps."""

    step: int = 0
    tokens: int = 0
    seconds: float = 0.0


@dataclass
class StepDone:
    """What one optimizer step reports: its number, mean loss, lr, gradient norm before clipping, and whether a rank must stop."""

    step: int
    loss: float
    lr: float
    grad_norm: float
    stopping: bool


@dataclass
class Window:
    """Tokens and training seconds since the last log line, for tokens/s."""

    tokens: int = 0
    seconds: float = 0.0


@dataclass
class Loop:
    """What one `fit` works on; the runner builds it."""

    model: torch.nn.Module  # the plain module: evaluation, generation and checkpoints use it
    train_model: torch.nn.Module  # what the steps run through (DDP and/or torch.compile around `model`)
    optimizer: torch.optim.Optimizer
    schedule: object  # training.schedules.Schedule, bound to the optimizer
    task: object
    hardware: object
    predictor: object
    tracker: object  # log_metrics, log_text, log_artifact
    generator: torch.Generator
    checkpoint_dir: str
    checkpoint_extra: dict = field(default_factory=dict)  # model_config, tokenizer, config, run_id: what makes a checkpoint self-describing
    dist: Distributed = field(default_factory=Distributed)
    scaler: torch.amp.GradScaler | None = None
