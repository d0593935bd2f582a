"""Feed-forward blocks: GELU MLP (GPT-2), SwiGLU (Llama) and ReLU² (Primer; modded-nanogpt, nanochat)."""

import torch
import torch.nn.functional as F
from torch import nn

from mlm_lab.models.config import TransformerConfig


class GeluMLP(nn.Module):
    """proj(act(fc(x))), act GELU; subclasses change `activation` only."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)

    @staticmethod
    def activation(h: torch.Tensor) -> torch.Tensor:
        return F.gelu(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.activation(self.fc(x)))


class SwiGLU(nn.Module):
    """proj(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.gate = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.silu(self.gate(x)) * self.up(x))


class ReLU2(GeluMLP):
    """proj(relu(fc(x))^2): as good as SwiGLU at small scale with two matrices instead of three (Primer, So et al. 2021)."""

    @staticmethod
    def activation(h: torch.Tensor) -> torch.Tensor:
        return F.relu(h).square()
