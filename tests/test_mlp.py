"""The feed-forward blocks: GELU (GPT-2) and SwiGLU (Llama) compute what their formulas say, at their widths."""

import torch
import torch.nn.functional as F

from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.mlp import GeluMLP, SwiGLU


def test_gelu_mlp_is_proj_of_gelu_of_fc():
    torch.manual_seed(0)
    mlp = GeluMLP(TransformerConfig(vocab_size=10, d_model=16))
    assert (mlp.fc.in_features, mlp.fc.out_features, mlp.proj.out_features) == (16, 64, 16)
    x = torch.randn(2, 3, 16)
    assert torch.allclose(mlp(x), F.linear(F.gelu(F.linear(x, mlp.fc.weight, mlp.fc.bias)), mlp.proj.weight, mlp.proj.bias))


def test_swiglu_gates_up_with_silu_and_has_no_biases_when_told():
    torch.manual_seed(0)
    mlp = SwiGLU(TransformerConfig(vocab_size=10, d_model=48, mlp="swiglu", bias=False))
    assert mlp.gate.out_features == mlp.up.out_features == 128 and mlp.proj.out_features == 48
    assert all(m.bias is None for m in (mlp.gate, mlp.up, mlp.proj))
    x = torch.randn(4, 48)
    expected = (F.silu(x @ mlp.gate.weight.T) * (x @ mlp.up.weight.T)) @ mlp.proj.weight.T
    assert torch.allclose(mlp(x), expected, atol=1e-6)
    assert torch.equal(mlp(torch.zeros(1, 48)), torch.zeros(1, 48))  # silu(0) = 0 and no bias: zero in, zero out
