"""Normalisation layers by name: LayerNorm (GPT-2) or RMSNorm (Llama)."""

from torch import nn


def make_norm(kind: str, dim: int, bias: bool) -> nn.Module:
    if kind == "rmsnorm":
        return nn.RMSNorm(dim, eps=1e-5)
    return nn.LayerNorm(dim, bias=bias)
