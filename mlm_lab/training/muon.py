"""Muon on the hidden matrices, AdamW on the rest: one optimizer object for the schedule, the checkpoint and the scaler.

Muon (Keller Jordan, 2024; `torch.optim.Muon`) orthogonalises each 2D update with a Newton-Schulz iteration,
which suits the square-ish matrices inside the blocks (attention q/k/v/proj, MLP, every expert) and not the
embedding, the output head, the router, norms, biases or scalars: those go to AdamW (modded-nanogpt, nanochat).
"""

import collections
import logging
import math

import torch
from torch import nn

from mlm_lab.errors import require

log = logging.getLogger(__name__)

_ADAMW_MODULES = ("head", "router")  # matrices whose rows are tokens or experts, not hidden features


def split_parameters(
    model: nn.Module,
) -> tuple[list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]]]:
    """(muon, adamw_decay, adamw_no_decay), each `(name, parameter)` and each parameter once (a tied weight once).

    Muon: 2D weights of linear layers inside the blocks. AdamW with decay: other linear matrices (an untied head,
    the router). AdamW without decay: embeddings (and a head tied to them), norms, biases, scalars, vectors.
    """
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    kept = {}
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = module_name.rsplit(".", 1)[-1]
            kept[id(module.weight)] = "adamw" if last in _ADAMW_MODULES else "muon"
    muon, decay, no_decay = [], [], []
    for name, param in model.named_parameters():  # named_parameters() yields a tied weight once
        if not param.requires_grad:
            continue
        if id(param) in embeddings or param.dim() < 2:
            no_decay.append((name, param))
        elif kept.get(id(param)) == "muon" and param.dim() == 2:
            muon.append((name, param))
        else:
            decay.append((name, param))
    return muon, decay, no_decay


class MuonAdamW(torch.optim.Optimizer):
    """`torch.optim.Muon` and `torch.optim.AdamW` behind one optimizer.

    `param_groups` are the two optimizers' own group dicts (Muon's first), so a schedule that sets `group["lr"]`
    scales every group from its own peak, and a gradient scaler unscales them all; `state` is a live view of both
    states; `state_dict()` holds both and the step count of Muon's momentum warmup.
    """

    def __init__(self, muon: torch.optim.Muon, adamw: torch.optim.AdamW, momentum: float, momentum_start: float, warmup_steps: int):
        params = [p for g in muon.param_groups + adamw.param_groups for p in g["params"]]
        super().__init__(params, defaults={})  # hooks and step patching; the groups are the inner optimizers' (_link)
        self.muon, self.adamw = muon, adamw
        self._link()
        self.momentum, self.momentum_start, self.warmup_steps = momentum, momentum_start, warmup_steps
        self.steps = 0
        self._set_momentum()

    def _link(self) -> None:
        """Point at the inner optimizers' group dicts and states (what they step with; loading a state replaces them)."""
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
        self.state = collections.ChainMap(self.muon.state, self.adamw.state)

    def _set_momentum(self) -> None:
        """Muon's momentum rises linearly from `momentum_start` to `momentum` over the first `warmup_steps` steps."""
        done = 1.0 if self.warmup_steps == 0 else min(1.0, self.steps / self.warmup_steps)
        for group in self.muon.param_groups:
            group["momentum"] = self.momentum_start + (self.momentum - self.momentum_start) * done

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._set_momentum()
        self.muon.step()
        self.adamw.step()
        self.steps += 1
        return loss

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        require(
            set(state) >= {"muon", "adamw", "steps"},
            "optimizer",
            "the checkpoint's optimizer state is not Muon+AdamW (it was trained with another optimizer)",
            "resume with the optimizer the run was trained with (its config.yaml's optimizer), or start afresh",
        )
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])
        self.steps = state["steps"]
        self._link()
        self._set_momentum()

    def __repr__(self) -> str:
        n_adamw = sum(len(g["params"]) for g in self.adamw.param_groups)
        return f"MuonAdamW(muon={len(self.muon.param_groups[0]['params'])} matrices, adamw={n_adamw} tensors)"


def muon(
    model: nn.Module,
    lr: float = 0.02,
    momentum: float = 0.95,
    momentum_start: float = 0.85,
    momentum_warmup_steps: int = 300,
    nesterov: bool = True,
    ns_steps: int = 5,
    weight_decay: float = 0.0,
    adjust_lr_fn: str | None = None,
    adamw_lr: float = 3e-3,
    adamw_betas: tuple[float, float] = (0.8, 0.95),
    adamw_eps: float = 1e-10,
    adamw_weight_decay: float = 0.0,
) -> MuonAdamW:
    """Muon (lr, momentum with its warmup, weight_decay) on the hidden matrices; AdamW (adamw_*) on everything else."""
    for key, value, default in (("lr", lr, 0.02), ("adamw_lr", adamw_lr, 3e-3)):
        require(0 < value < math.inf, f"optimizer.{key}", f"must be positive and finite, got {value}", f"set optimizer.{key}={default}")
    for key, value in (("weight_decay", weight_decay), ("adamw_weight_decay", adamw_weight_decay)):
        require(0 <= value < math.inf, f"optimizer.{key}", f"must be >= 0 and finite, got {value}", f"set optimizer.{key}=0.0")
    for key, value in (("momentum", momentum), ("momentum_start", momentum_start)):
        require(
            0 <= value < 1,
            f"optimizer.{key}",
            f"must be in [0, 1), got {value}",
            "set optimizer.momentum=0.95 and optimizer.momentum_start=0.85",
        )
    require(
        momentum_warmup_steps >= 0,
        "optimizer.momentum_warmup_steps",
        f"must be >= 0, got {momentum_warmup_steps}",
        "set optimizer.momentum_warmup_steps=300 (0: no warmup)",
    )
    require(ns_steps >= 1, "optimizer.ns_steps", f"must be >= 1, got {ns_steps}", "set optimizer.ns_steps=5")
    require(
        adjust_lr_fn in (None, "original", "match_rms_adamw"),
        "optimizer.adjust_lr_fn",
        f"unknown choice {adjust_lr_fn!r}",
        "use null, original or match_rms_adamw",
    )
    betas = tuple(adamw_betas)
    require(
        len(betas) == 2 and all(0 <= b < 1 for b in betas),
        "optimizer.adamw_betas",
        f"must be two numbers in [0, 1), got {list(betas)}",
        "set optimizer.adamw_betas=[0.8,0.95]",
    )
    hidden, decay, no_decay = split_parameters(model)
    require(bool(hidden), "optimizer", "the model has no hidden 2D matrices for Muon", "use optimizer=adamw for this model")
    log.info(
        "Muon (lr %.3g) on %d hidden matrices (%s); AdamW (lr %.3g) on %d other matrices (%s) and %d embeddings, norms and biases",
        lr, len(hidden), _names(hidden), adamw_lr, len(decay), _names(decay) or "none", len(no_decay),
    )  # fmt: skip
    inner_muon = torch.optim.Muon(
        [p for _, p in hidden],
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        nesterov=nesterov,
        ns_steps=ns_steps,
        adjust_lr_fn=adjust_lr_fn,
    )
    groups = [
        {"params": [p for _, p in decay], "weight_decay": adamw_weight_decay},
        {"params": [p for _, p in no_decay], "weight_decay": 0.0},
    ]
    inner_adamw = torch.optim.AdamW([g for g in groups if g["params"]], lr=adamw_lr, betas=betas, eps=adamw_eps)
    return MuonAdamW(inner_muon, inner_adamw, momentum, momentum_start, momentum_warmup_steps)


def _names(named: list[tuple[str, nn.Parameter]], shown: int = 4) -> str:
    """A short list of parameter names with the block index folded: `blocks.*.attn.q.weight, ...`."""
    folded = list(dict.fromkeys(".".join("*" if part.isdigit() else part for part in name.split(".")) for name, _ in named))
    return ", ".join(folded[:shown]) + (f", +{len(folded) - shown} more" if len(folded) > shown else "")
