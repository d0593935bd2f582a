"""How long a run trains: optimizer steps, tokens seen, training FLOPs or minutes spent training, whichever ends first."""

import math
from dataclasses import dataclass

from mlm_lab.errors import require


@dataclass
class Budget:
    """Limits in steps, tokens (all ranks together) and training minutes; at least one is set."""

    max_steps: int | None = None
    max_tokens: int | None = None
    max_minutes: float | None = None
    max_flops: float | None = None
    flops_per_token: float | None = None  # the model's (models/flops.py), set before a FLOPs budget is measured

    def __post_init__(self):
        for key in ("max_steps", "max_tokens", "max_minutes", "max_flops"):
            value = getattr(self, key)
            require(
                value is None or value > 0,
                f"trainer.{key}",
                f"must be positive or null, got {value}",
                f"set trainer.{key} to a positive number or null",
            )
        require(
            any(v is not None for v in (self.max_steps, self.max_tokens, self.max_minutes, self.max_flops)),
            "trainer.max_steps",
            "no budget: max_steps, max_tokens, max_flops and max_minutes are all null",
            "set one of trainer.max_steps, trainer.max_tokens, trainer.max_flops or trainer.max_minutes",
        )

    @property
    def flops_tokens(self) -> float | None:
        """The tokens a FLOPs budget buys (None without one)."""
        if self.max_flops is None:
            return None
        if not self.flops_per_token:
            raise RuntimeError("a FLOPs budget needs the model's flops_per_token before it is measured")
        return self.max_flops / self.flops_per_token

    def progress(self, step: int, tokens: int, seconds: float) -> float:
        """Fraction of the budget spent: the largest over the limits that are set (1.0 or more means done)."""
        spent = []
        if self.max_steps is not None:
            spent.append(step / self.max_steps)
        if self.max_tokens is not None:
            spent.append(tokens / self.max_tokens)
        if self.max_minutes is not None:
            spent.append(seconds / (60.0 * self.max_minutes))
        if self.max_flops is not None and self.flops_per_token:  # (not known before the model: a resume's first check)
            spent.append(tokens / self.flops_tokens)
        return max(spent, default=0.0)

    def total_steps(self, tokens_per_step: int) -> int | None:
        """Steps the run will take when that is known in advance (not for a budget in minutes)."""
        if self.max_minutes is not None:
            return None
        limits = [self.max_steps] if self.max_steps is not None else []
        if self.max_tokens is not None:
            limits.append(-(-self.max_tokens // tokens_per_step))
        if self.max_flops is not None:
            limits.append(math.ceil(self.flops_tokens / tokens_per_step))
        return min(limits)
