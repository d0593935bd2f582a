"""Will the run fit in this process's memory? Models and tasks say what they need; only this module asks the host.

Each check runs before the thing it sizes is allocated: torch would otherwise fail deep inside an
allocation, or the OS kill the run.
"""

from mlm_lab.errors import require
from mlm_lab.hardware import memory_bytes
from mlm_lab.models.config import TransformerConfig

BYTES_PER_PARAMETER = 16  # training in fp32: weights, gradients and AdamW's two moments
BYTES_PER_TOKEN_ID = 16  # an int64 input and an int64 target per position


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g}"


def require_model_fits(config: TransformerConfig) -> None:
    """Refuse a model whose parameters (with gradients and optimizer state) would not fit, before it is built."""
    n = config.approx_parameters()
    need, have = n * BYTES_PER_PARAMETER, memory_bytes()
    sizes = ("d_model", "n_layers", "d_ff", "context_length") + (("n_experts",) if config.mlp == "moe" else ())
    require(
        need <= have,
        "model",
        f"{n:.3g} parameters need about {_gib(need)} GiB to train (weights, gradients, optimizer state), "
        f"more than the {_gib(have)} GiB of memory here",
        "lower " + ", ".join(f"model.{k} (now {getattr(config, k)})" for k in sizes),
    )


def require_data_fits(task) -> None:
    """Refuse what a task's `setup` would hold (its `memory_needs()`), before setup draws or loads anything."""
    have = memory_bytes()
    for need in getattr(task, "memory_needs", tuple)():
        require(need.bytes <= have, need.key, need.problem.format(need=_gib(need.bytes), have=_gib(have)), need.fix)


def require_batch_fits(batch_size: int, length: int) -> None:
    """Refuse a batch whose token ids alone (inputs and targets, int64) exceed memory, before torch fails to allocate it."""
    need, have = batch_size * length * BYTES_PER_TOKEN_ID, memory_bytes()
    require(
        need <= have,
        "data.batch_size",
        f"{batch_size} sequences of {length} tokens need {_gib(need)} GiB for their token ids alone, "
        f"more than the {_gib(have)} GiB of memory here",
        "lower data.batch_size, and raise trainer.grad_accum_steps to keep the effective batch",
    )
