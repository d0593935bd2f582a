"""Causal self-attention with grouped-query heads, optional RoPE, QK-norm and value embeddings, and a KV cache for decoding."""

import torch
import torch.nn.functional as F
from torch import nn

from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.rope import apply_rope


class KVCache:
    """Keys and values of every layer for a batch, preallocated to `max_length` positions.

    Rows are left-padded to a common length; `pad[b]` counts row b's padding, which no query attends to.
    """

    def __init__(self, cfg: TransformerConfig, batch_size: int, max_length: int, device, dtype, pad: torch.Tensor | None = None):
        shape = (batch_size, cfg.n_kv_heads, max_length, cfg.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.length = 0  # positions filled so far
        self.max_length = max_length
        self.pad = pad

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + k.shape[2]
        if end > self.max_length:
            raise ValueError(f"KV cache holds {self.max_length} positions, {end} needed; create it with a larger max_length")
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


def attention_mask(pad: torch.Tensor | None, start: int, q_len: int, k_len: int, device) -> torch.Tensor | None:
    """Boolean (B or 1, 1, q_len, k_len) mask: causal from absolute position `start`, padding excluded.

    None when plain causal attention from position 0 (or one query seeing every key) already says it.
    """
    if pad is None and (start == 0 or q_len == 1):
        return None
    q_pos = torch.arange(start, start + q_len, device=device)[:, None]
    k_pos = torch.arange(k_len, device=device)[None, :]
    mask = (k_pos <= q_pos)[None, None]
    if pad is not None:
        mask = mask & (k_pos[None, None] >= pad.view(-1, 1, 1, 1))
    return mask


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig, value_embedding: bool = False):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        # Separate projections: on CPU a fused qkv matmul lost ~6% to the concatenation its backward needs.
        self.q = nn.Linear(cfg.d_model, cfg.n_heads * cfg.head_dim, bias=cfg.bias)
        self.k = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=cfg.bias)
        self.v = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.dropout = cfg.attention_dropout
        self.rope = cfg.positions == "rope"
        self.qk_norm = cfg.qk_norm
        # a value embedding's weight in this layer's values (modded-nanogpt mixes them with learned scalars)
        self.ve_lambda = nn.Parameter(torch.tensor(0.5)) if value_embedding else None

    def forward(self, x, rope=None, cache: KVCache | None = None, layer: int = 0, mask=None, ve=None) -> torch.Tensor:
        """`ve` (B, T, kv heads * head size): this layer's value embedding of the tokens, added to the values."""
        B, T, C = x.shape
        q = self.q(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(x)
        if self.ve_lambda is not None:
            v = v + self.ve_lambda * ve
        v = v.view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.qk_norm:  # per head, no weights: RMSNorm commutes with RoPE's rotations, so the order is free
            q, k = F.rms_norm(q, (self.head_dim,)), F.rms_norm(k, (self.head_dim,))
        if self.rope:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        if self.n_kv_heads != self.n_heads:
            k = k.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
            v = v.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
        dropout = self.dropout if self.training else 0.0
        # without a mask the queries start at position 0 (plain causal) or are one query that sees every key
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and T > 1, dropout_p=dropout)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))
