"""make_norm: LayerNorm (with or without bias) or RMSNorm, by name."""

import torch
from torch import nn

from mlm_lab.models.norms import make_norm


def test_layernorm_with_and_without_bias():
    norm = make_norm("layernorm", 8, bias=True)
    assert isinstance(norm, nn.LayerNorm) and norm.bias is not None
    assert make_norm("layernorm", 8, bias=False).bias is None
    y = norm(torch.randn(3, 8) * 5 + 2)
    assert torch.allclose(y.mean(-1), torch.zeros(3), atol=1e-5) and torch.allclose(y.std(-1, unbiased=False), torch.ones(3), atol=1e-3)


def test_rmsnorm_scales_to_unit_root_mean_square_without_centring():
    norm = make_norm("rmsnorm", 8, bias=True)  # RMSNorm has no bias, whatever the flag says
    assert isinstance(norm, nn.RMSNorm) and not hasattr(norm, "bias")
    x = torch.randn(3, 8) + 4
    y = norm(x)
    assert torch.allclose(y.pow(2).mean(-1).sqrt(), torch.ones(3), atol=1e-3)
    assert torch.allclose(y, x / x.pow(2).mean(-1, keepdim=True).add(1e-5).sqrt(), atol=1e-6)
