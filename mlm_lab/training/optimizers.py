"""Optimizers whose weight decay reaches matrices only; the runner passes the model.

Decay on norms, biases and embeddings only pulls them towards zero without regularising
anything useful (nanoGPT, minGPT and litgpt all exclude them), so parameters are split in two
groups: weight matrices of linear layers decay, everything else does not.
"""

import inspect
import logging
import math

import torch
from torch import nn

from mlm_lab.errors import require

log = logging.getLogger(__name__)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: matrices that are not embeddings (decayed) and the rest (no decay); each parameter once."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for param in model.parameters():  # parameters() yields a tied weight once
        if not param.requires_grad:
            continue
        (decay if param.dim() >= 2 and id(param) not in embeddings else no_decay).append(param)
    log.info("weight decay %.3g on %d matrices, none on %d other tensors", weight_decay, len(decay), len(no_decay))
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def default_fix(builder, key: str) -> str:
    """`set optimizer.KEY=<the builder's default>`: a suggested value is the default, which only the signature writes."""
    value = inspect.signature(builder).parameters[key].default
    text = f"[{','.join(map(str, value))}]" if isinstance(value, tuple) else str(value).lower() if isinstance(value, bool) else value
    return f"set optimizer.{key}={text}"


def _require_finite(builder, lr: float, weight_decay: float) -> None:
    """inf passes a `> 0` check, then turns every weight into nan at the first step."""
    for key, value in (("lr", lr), ("weight_decay", weight_decay)):
        require(math.isfinite(value), f"optimizer.{key}", f"must be finite, got {value}", default_fix(builder, key))


def adamw(
    model: nn.Module,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.98),
    eps: float = 1e-8,
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """AdamW with decoupled decay on matrices; `fused` null lets torch pick (foreach on CUDA), true asks for the fused kernel."""
    betas = tuple(betas)
    require(
        len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas),
        "optimizer.betas",
        f"must be two numbers in [0, 1), got {list(betas)}",
        default_fix(adamw, "betas"),
    )
    require(0 < eps < math.inf, "optimizer.eps", f"must be positive and finite, got {eps}", default_fix(adamw, "eps"))
    _require_finite(adamw, lr, weight_decay)
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps, fused=fused)


def sgd(model: nn.Module, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0, nesterov: bool = False) -> torch.optim.SGD:
    """SGD with momentum; weight decay (L2, coupled as in torch) on matrices only."""
    _require_finite(sgd, lr, weight_decay)
    require(0.0 <= momentum < 1.0, "optimizer.momentum", f"must be in [0, 1), got {momentum}", default_fix(sgd, "momentum"))
    nesterov_fix = f"{default_fix(sgd, 'momentum')} or optimizer.nesterov=false"
    require(not nesterov or momentum > 0, "optimizer.nesterov", "needs momentum > 0", nesterov_fix)
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum, nesterov=nesterov)
