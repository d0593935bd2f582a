"""The shared transformer, for each architecture: causality, KV-cache equivalence, tying, fitting."""

import pytest
import torch
import torch.nn.functional as F

from mlm_lab.errors import ConfigError
from mlm_lab.generation import GenerationParams, generate
from mlm_lab.models.builders import gpt2, llama, mixtral
from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.transformer import Transformer
from mlm_lab.targets import IGNORE_INDEX

ARCHS = {"gpt2": gpt2, "llama": llama, "mixtral": mixtral}
V = 13


def tiny(arch: str, **kwargs) -> Transformer:
    torch.manual_seed(0)
    return ARCHS[arch](V, **{"context_length": 48, "d_model": 32, "n_layers": 2, "n_heads": 4, **kwargs})


@pytest.mark.parametrize("arch", ARCHS)
def test_future_tokens_never_change_earlier_logits(arch):
    model = tiny(arch).eval()
    idx = torch.randint(0, V, (2, 12))
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % V
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-5)
    assert not torch.allclose(a[:, 7:], b[:, 7:], atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_cached_greedy_equals_full_recomputation_on_ragged_batches(arch):
    model = tiny(arch, n_kv_heads=2) if arch != "gpt2" else tiny(arch)
    model.eval()
    g = torch.Generator().manual_seed(1)
    rows = [torch.randint(1, V, (n,), generator=g).tolist() for n in (3, 9, 5, 1)]
    params = GenerationParams(max_new_tokens=20)
    cached = generate(model, rows, params)
    recomputed = generate(model, rows, GenerationParams(max_new_tokens=20, use_cache=False))
    alone = [generate(model, [r], params)[0] for r in rows]
    assert cached == recomputed == alone
    assert all(len(r) == 20 for r in cached)


@pytest.mark.parametrize("arch", ARCHS)
def test_padded_rows_match_unpadded_logits(arch):
    model = tiny(arch).eval()
    row = torch.randint(1, V, (1, 6))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), row], dim=1)
    alone, _ = model(row)
    together, _ = model(padded, pad=torch.tensor([3]))
    assert torch.allclose(alone, together[:, 3:], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_overfits_a_tiny_batch(arch):
    model = tiny(arch)
    idx = torch.randint(0, V, (4, 16), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


def test_weight_tying_shares_one_tensor():
    tied, untied = tiny("llama"), tiny("llama", tie_embeddings=False)
    assert tied.head.weight is tied.tok_emb.weight
    assert untied.head.weight is not untied.tok_emb.weight
    with torch.no_grad():
        tied.tok_emb.weight[0, 0] = 123.0
    assert tied.head.weight[0, 0] == 123.0
    assert untied.num_parameters() == tied.num_parameters() + V * 32


def test_parameter_counts():
    model = tiny("gpt2")
    total = sum(p.numel() for p in model.parameters())
    assert model.num_parameters() == total
    assert model.num_parameters(non_embedding=True) == total - V * 32 - 48 * 32


def test_grouped_query_attention_shrinks_kv_projections():
    full, grouped = tiny("llama"), tiny("llama", n_kv_heads=1)
    assert full.blocks[0].attn.k.weight.shape == full.blocks[0].attn.v.weight.shape == (32, 32)
    assert grouped.blocks[0].attn.k.weight.shape == grouped.blocks[0].attn.v.weight.shape == (8, 32)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    idx = torch.randint(0, V, (2, 10))
    plain, ckpt = tiny("llama"), tiny("llama", gradient_checkpointing=True)
    losses = []
    for model in (plain, ckpt):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        loss.backward()
        losses.append(loss)
    assert torch.allclose(losses[0], losses[1])
    for a, b in zip(plain.parameters(), ckpt.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_moe_loss_includes_the_weighted_aux_loss():
    model = tiny("mixtral", aux_loss_weight=0.5)
    idx = torch.randint(0, V, (2, 8))
    logits, loss = model(idx, idx)
    ce = F.cross_entropy(logits.flatten(0, 1), idx.flatten(), ignore_index=IGNORE_INDEX)
    assert torch.allclose(loss, ce + 0.5 * model.aux_loss())
    assert model.aux_loss() >= 1.0 - 1e-5


def test_cache_overflow_is_refused():
    model = tiny("llama")
    cache = model.new_cache(1, 4)
    model(torch.ones(1, 4, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="KV cache holds 4 positions, 5 needed"):
        model(torch.ones(1, 1, dtype=torch.long), cache=cache)


def test_too_long_inputs_are_refused_with_the_fix():
    model = tiny("gpt2")
    with pytest.raises(ValueError, match="model.context_length=48"):
        model(torch.zeros(1, 49, dtype=torch.long))


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"d_model": 30}, "model.d_model"),
        ({"n_kv_heads": 3}, "model.n_kv_heads"),
        ({"norm": "batchnorm"}, "model.norm"),
        ({"mlp": "relu"}, "model.mlp"),
        ({"positions": "alibi"}, "model.positions"),
        ({"mlp": "moe", "top_k": 5}, "model.top_k"),
        ({"n_layers": 0}, "model.n_layers"),
        ({"dropout": 1.0}, "model.dropout"),
        ({"d_model": "wide"}, "model.d_model"),
    ],
)
def test_bad_configs_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        TransformerConfig(vocab_size=V, **kwargs)
