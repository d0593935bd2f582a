"""Learning-rate schedules as LambdaLR factories; the runner passes `optimizer` and `total_steps`."""

import math

from torch.optim.lr_scheduler import LambdaLR

from mlm_lab.errors import require


def constant(optimizer, total_steps: int, warmup_steps: int = 0) -> LambdaLR:
    """Linear warmup over `warmup_steps`, then the optimizer's lr."""
    require(warmup_steps >= 0, "scheduler.warmup_steps", f"must be >= 0, got {warmup_steps}", "set scheduler.warmup_steps=0")
    return LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0)


def cosine_warmup(optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.1) -> LambdaLR:
    """Linear warmup to the optimizer's lr, then cosine decay to `min_lr_ratio * lr` at `total_steps`."""
    require(warmup_steps >= 0, "scheduler.warmup_steps", f"must be >= 0, got {warmup_steps}", "set scheduler.warmup_steps=0")
    require(
        0.0 <= min_lr_ratio <= 1.0, "scheduler.min_lr_ratio", f"must be in [0, 1], got {min_lr_ratio}", "set scheduler.min_lr_ratio=0.1"
    )

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
