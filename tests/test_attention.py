"""Causal self-attention on its own: the mask, grouped-query heads, and the KV cache against a full forward pass."""

import pytest
import torch
import torch.nn.functional as F

from mlm_lab.models.attention import CausalSelfAttention, KVCache, attention_mask
from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.rope import rope_tables


def layer(**kwargs) -> tuple[CausalSelfAttention, TransformerConfig]:
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=11, **{"d_model": 32, "n_heads": 4, "n_layers": 1, **kwargs})
    return CausalSelfAttention(cfg).eval(), cfg


def rope_for(cfg: TransformerConfig, start: int, length: int):
    cos, sin = rope_tables(cfg.head_dim, start + length)
    return cos[start : start + length], sin[start : start + length]


def test_mask_is_none_where_plain_causal_attention_says_it():
    assert attention_mask(None, 0, 5, 5, "cpu") is None
    assert attention_mask(None, 7, 1, 8, "cpu") is None  # one query sees every key


def test_mask_is_causal_from_its_start_position_and_excludes_padding():
    mask = attention_mask(None, 3, 2, 5, "cpu")
    assert mask.shape == (1, 1, 2, 5)
    assert mask[0, 0].tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    padded = attention_mask(torch.tensor([0, 2]), 0, 3, 3, "cpu")
    assert padded.shape == (2, 1, 3, 3)
    assert padded[0, 0].tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert padded[1, 0].tolist() == [[False, False, False], [False, False, False], [False, False, True]]  # keys 0-1 are padding


@pytest.mark.parametrize("kwargs", [{}, {"n_kv_heads": 2}, {"n_kv_heads": 1, "positions": "rope"}])
def test_a_later_position_never_changes_an_earlier_output(kwargs):
    attn, cfg = layer(**kwargs)
    x = torch.randn(2, 9, cfg.d_model)
    changed = x.clone()
    changed[:, 5:] += torch.randn(2, 4, cfg.d_model)
    rope = rope_for(cfg, 0, 9) if cfg.positions == "rope" else None
    a, b = attn(x, rope), attn(changed, rope)
    assert torch.allclose(a[:, :5], b[:, :5], atol=1e-6)
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_grouped_query_heads_share_keys_and_values():
    attn, cfg = layer(n_kv_heads=2)
    assert attn.k.out_features == attn.v.out_features == 2 * cfg.head_dim and attn.q.out_features == cfg.d_model
    x = torch.randn(1, 6, cfg.d_model)
    # the same layer written out: each key/value head serves n_heads / n_kv_heads = 2 query heads
    q = attn.q(x).view(1, 6, 4, 8).transpose(1, 2)
    k = attn.k(x).view(1, 6, 2, 8).transpose(1, 2).repeat_interleave(2, dim=1)
    v = attn.v(x).view(1, 6, 2, 8).transpose(1, 2).repeat_interleave(2, dim=1)
    scores = (q @ k.transpose(-1, -2)) / 8**0.5
    scores = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    expected = attn.proj((F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(1, 6, cfg.d_model))
    assert torch.allclose(attn(x), expected, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"n_kv_heads": 2, "positions": "rope"}])
def test_decoding_through_the_cache_equals_the_full_forward_pass(kwargs):
    attn, cfg = layer(**kwargs)
    x = torch.randn(2, 10, cfg.d_model)
    rope = (lambda s, n: rope_for(cfg, s, n)) if cfg.positions == "rope" else (lambda s, n: None)
    full = attn(x, rope(0, 10))
    cache = KVCache(cfg, batch_size=2, max_length=10, device="cpu", dtype=torch.float32)
    prefix = attn(x[:, :6], rope(0, 6), cache, 0)
    cache.length = 6
    steps = [prefix]
    for t in range(6, 10):  # one token at a time, seeing the cached keys of every earlier position
        steps.append(attn(x[:, t : t + 1], rope(t, 1), cache, 0, attention_mask(None, t, 1, t + 1, "cpu")))
        cache.length = t + 1
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_the_cache_refuses_more_positions_than_it_holds():
    _, cfg = layer()
    cache = KVCache(cfg, batch_size=1, max_length=4, device="cpu", dtype=torch.float32)
    k = torch.zeros(1, cfg.n_kv_heads, 3, cfg.head_dim)
    keys, values = cache.update(0, k + 1, k + 2)
    assert keys.shape[2] == 3 and float(values.mean()) == 2.0
    cache.length = 3
    with pytest.raises(ValueError, match="KV cache holds 4 positions, 6 needed; create it with a larger max_length"):
        cache.update(0, k, k)
