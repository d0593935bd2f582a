"""The frontier's model options (QK-norm, ReLU², soft-capping, zero inits, value embeddings, residual scalars):
what each does, and that each works with the KV cache, batched generation, gradient checkpointing and the model folder."""

import pytest
import torch

from mlm_lab.data.arithmetic_format import ArithmeticFormat
from mlm_lab.errors import ConfigError
from mlm_lab.generation import GenerationParams, generate
from mlm_lab.model_dir import load_model_dir, write_model_dir
from mlm_lab.models.builders import gpt2, llama, mixtral
from mlm_lab.tokenizers.char import CharTokenizer

ARCHS = {"gpt2": gpt2, "llama": llama, "mixtral": mixtral}
V = 13
OPTIONS = {
    "qk_norm": {"qk_norm": True},
    "relu2": {"mlp": "relu2"},
    "softcap": {"logit_softcap": 2.0},
    "zero_init_head": {"zero_init_head": True, "tie_embeddings": False},
    "zero_init_proj": {"zero_init_proj": True},
    "value_embeddings": {"value_embeddings": True},
    "residual_scalars": {"residual_scalars": True},
}
ALL = {k: v for option in OPTIONS.values() for k, v in option.items()}


def tiny(arch: str, **options):
    torch.manual_seed(0)
    if arch == "mixtral" and "mlp" in options:  # mixtral's MLP is its experts
        options = dict(options)
        options["expert_mlp"] = options.pop("mlp")
    return ARCHS[arch](V, context_length=48, d_model=32, n_layers=3, n_heads=4, **options)


def trained(model, steps=20):
    """A few steps of training so zero-initialised weights move and every option is exercised."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    idx = torch.randint(0, V, (4, 16), generator=torch.Generator().manual_seed(2))
    for _ in range(steps):
        model(idx[:, :-1], idx[:, 1:])[1].backward()
        opt.step()
        opt.zero_grad()
    return model.eval()


# every option on llama; all of them together, and the MLP choice, on each architecture
CASES = [("llama", name) for name in OPTIONS] + [(arch, "all") for arch in ARCHS] + [("gpt2", "relu2"), ("mixtral", "relu2")]


@pytest.mark.parametrize("arch, option", CASES)
def test_cached_batched_generation_equals_recomputation_with_each_option(arch, option):
    model = trained(tiny(arch, **(ALL if option == "all" else OPTIONS[option])))
    g = torch.Generator().manual_seed(1)
    rows = [torch.randint(1, V, (n,), generator=g).tolist() for n in (3, 9, 1)]
    cached = generate(model, rows, GenerationParams(max_new_tokens=12))
    recomputed = generate(model, rows, GenerationParams(max_new_tokens=12, use_cache=False))
    alone = [generate(model, [r], GenerationParams(max_new_tokens=12))[0] for r in rows]
    assert cached == recomputed == alone


@pytest.mark.parametrize("arch", ARCHS)
def test_gradient_checkpointing_and_the_model_folder_keep_every_option(arch, tmp_path):
    idx = torch.randint(0, V, (2, 10))
    plain, ckpt = tiny(arch, **ALL), tiny(arch, **ALL, gradient_checkpointing=True)
    for model in (plain, ckpt):
        model(idx[:, :-1], idx[:, 1:])[1].backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        assert a.grad is not None and torch.allclose(a.grad, b.grad, atol=1e-6), name
    model = trained(tiny(arch, **ALL))
    tok = CharTokenizer()
    write_model_dir(tmp_path, model, tok, ArithmeticFormat(), {}, {})
    predictor, _ = load_model_dir(tmp_path)
    assert predictor.model.config == model.config
    assert torch.equal(predictor.model(idx)[0], model(idx)[0])


def test_qk_norm_makes_attention_blind_to_the_scale_of_queries_and_keys():
    idx = torch.randint(0, V, (2, 10))
    for qk_norm, unchanged in ((True, True), (False, False)):
        model = tiny("llama", qk_norm=qk_norm).eval()
        before = model(idx)[0]
        with torch.no_grad():
            for block in model.blocks:
                block.attn.q.weight.mul_(7.0)
                block.attn.k.weight.mul_(0.3)
        assert torch.allclose(model(idx)[0], before, atol=1e-4) is unchanged


def test_relu2_squares_a_relu_and_is_the_default_width_of_four():
    model = tiny("gpt2", mlp="relu2")
    mlp = model.blocks[0].mlp
    assert mlp.fc.weight.shape == (128, 32) and not hasattr(mlp, "gate")
    x = torch.randn(3, 32)
    assert torch.allclose(mlp(x), mlp.proj(torch.relu(mlp.fc(x)) ** 2))
    experts = tiny("mixtral", mlp="relu2").blocks[0].mlp.experts
    assert all(type(e) is type(mlp) for e in experts)


def test_soft_capping_bounds_the_logits():
    idx = torch.randint(0, V, (2, 10))
    capped, plain = tiny("llama", logit_softcap=2.0).eval(), tiny("llama").eval()
    with torch.no_grad():
        for model in (capped, plain):
            model.head.weight.mul_(100.0)
    assert plain(idx)[0].abs().max() > 10
    assert torch.allclose(capped(idx)[0], 2.0 * torch.tanh(plain(idx)[0] / 2.0))


def test_zero_inits_start_from_uniform_predictions_and_identity_blocks():
    idx = torch.randint(0, V, (2, 10))
    logits, loss = tiny("llama", zero_init_head=True, tie_embeddings=False)(idx[:, :-1], idx[:, 1:])
    assert torch.count_nonzero(logits) == 0 and loss.item() == pytest.approx(torch.log(torch.tensor(float(V))).item())
    model = tiny("llama", zero_init_proj=True)
    x = model.tok_emb(idx)
    assert all(torch.equal(block(x, (model.rope_cos[:10], model.rope_sin[:10])), x) for block in model.blocks)
    assert not torch.equal(tiny("llama").blocks[0](x, (model.rope_cos[:10], model.rope_sin[:10])), x)


def test_value_embeddings_feed_every_other_layer_counted_from_the_last():
    model = tiny("llama", value_embeddings=True)
    assert sorted(model.value_emb) == ["0", "2"] and model.value_emb["0"].weight.shape == (V, 32)
    assert [b.attn.ve_lambda is not None for b in model.blocks] == [True, False, True]
    idx = torch.randint(0, V, (2, 10))
    before = model(idx)[0]
    with torch.no_grad():
        model.value_emb["2"].weight.add_(1.0)
    assert not torch.allclose(model(idx)[0], before)
    assert model.num_parameters(non_embedding=True) == tiny("llama").num_parameters(non_embedding=True) + 2  # the two lambdas


def test_residual_scalars_start_as_the_plain_stream_and_mix_in_the_embedding():
    idx = torch.randint(0, V, (2, 10))
    model = tiny("llama", residual_scalars=True).eval()
    assert torch.equal(model(idx)[0], tiny("llama").eval()(idx)[0])
    with torch.no_grad():
        model.x0_lambdas.fill_(0.5)
    assert not torch.allclose(model(idx)[0], tiny("llama").eval()(idx)[0])


def test_the_parameter_estimate_counts_the_new_tables():
    for options in ({}, {"value_embeddings": True, "tie_embeddings": False}, {"mlp": "relu2"}):
        model = tiny("llama", **options)
        norms = sum(p.numel() for p in model.parameters() if p.dim() < 2)
        rope_tables = model.rope_cos.numel() + model.rope_sin.numel()  # counted by the estimate: allocated, not trained
        assert model.config.approx_parameters() + norms - rope_tables == model.num_parameters(), options


@pytest.mark.parametrize(
    "options, key",
    [
        ({"zero_init_head": True}, "model.zero_init_head: a head tied"),
        ({"logit_softcap": 0.0}, "model.logit_softcap"),
        ({"mlp": "relu3"}, "model.mlp"),
    ],
)
def test_bad_options_are_named_with_the_fix(options, key):
    with pytest.raises(ConfigError, match=f"{key}.*Fix: "):
        tiny("llama", **options)


def test_mixtral_experts_refuse_an_unknown_mlp():
    with pytest.raises(ConfigError, match="model.expert_mlp: unknown choice 'gelu'"):
        mixtral(V, expert_mlp="gelu")
