"""Optimizers whose weight decay reaches matrices only; the runner passes the model.

Decay on norms, biases and embeddings only pulls them towards zero without regularising
anything useful (nanoGPT, minGPT and litgpt all exclude them), so parameters are split in two
groups: weight matrices of linear layers decay, everything else does not.
"""

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


def _require_finite(lr: float, weight_decay: float) -> None:
    """inf passes a `> 0` check, then turns every weight into nan at the first step."""
    for key, value, example in (("lr", lr, "1e-3"), ("weight_decay", weight_decay, "0.1")):
        require(math.isfinite(value), f"optimizer.{key}", f"must be finite, got {value}", f"set optimizer.{key}={example}")


def adamw(
    model: nn.Module,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """AdamW with decoupled decay on matrices; `fused` null lets torch pick (foreach on CUDA), true asks for the fused kernel."""
    betas = tuple(betas)
    require(
        len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas),
        "optimizer.betas",
        f"must be two numbers in [0, 1), got {list(betas)}",
        "set optimizer.betas=[0.9,0.95]",
    )
    require(0 < eps < math.inf, "optimizer.eps", f"must be positive and finite, got {eps}", "set optimizer.eps=1e-8")
    _require_finite(lr, weight_decay)
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps, fused=fused)


def sgd(model: nn.Module, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0, nesterov: bool = False) -> torch.optim.SGD:
    """SGD with momentum; weight decay (L2, coupled as in torch) on matrices only."""
    _require_finite(lr, weight_decay)
    require(0.0 <= momentum < 1.0, "optimizer.momentum", f"must be in [0, 1), got {momentum}", "set optimizer.momentum=0.9")
    require(
        not nesterov or momentum > 0, "optimizer.nesterov", "needs momentum > 0", "set optimizer.momentum=0.9 or optimizer.nesterov=false"
    )
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum, nesterov=nesterov)
