"""Mixture of experts (Mixtral style): a router sends each token to its top-k experts (SwiGLU, or ReLU² MLPs)."""

import torch
import torch.nn.functional as F
from torch import nn

from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.mlp import ReLU2, SwiGLU

_EXPERTS = {"swiglu": SwiGLU, "relu2": ReLU2}


def load_balancing_loss(probs: torch.Tensor, chosen: torch.Tensor, n_experts: int) -> torch.Tensor:
    """Switch-Transformer auxiliary loss: n_experts * sum_e (share of routed slots to e) * (mean router prob of e).

    It equals 1 when routing is uniform and grows as tokens pile onto few experts.
    """
    share = F.one_hot(chosen, n_experts).float().sum(dim=(0, 1)) / chosen.numel()
    return n_experts * (share * probs.mean(dim=0)).sum()


class MoE(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.top_k = cfg.top_k
        self.n_experts = cfg.n_experts
        self.router = nn.Linear(cfg.d_model, cfg.n_experts, bias=False)
        self.experts = nn.ModuleList(_EXPERTS[cfg.expert_mlp](cfg) for _ in range(cfg.n_experts))
        self.aux_loss = torch.zeros(())
        self.last_choice: torch.Tensor | None = None  # (tokens, top_k) expert ids of the last forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        probs = torch.softmax(self.router(flat).float(), dim=-1)
        weights, chosen = probs.topk(self.top_k, dim=-1)
        weights = (weights / weights.sum(dim=-1, keepdim=True)).to(flat.dtype)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            token, slot = (chosen == e).nonzero(as_tuple=True)
            if token.numel():
                out.index_add_(0, token, expert(flat[token]) * weights[token, slot, None])
        self.aux_loss = load_balancing_loss(probs, chosen, self.n_experts)
        self.last_choice = chosen.detach()
        return out.view_as(x)
