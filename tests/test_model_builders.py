import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.models.builders import gpt2, llama, llama2c_15m, llama2c_260k, mixtral


def test_architectures_use_their_blocks():
    g, lm, m = gpt2(10), llama(10), mixtral(10)
    assert g.config.norm == "layernorm" and g.config.mlp == "gelu" and g.config.positions == "learned" and g.config.bias
    assert lm.config.norm == "rmsnorm" and lm.config.mlp == "swiglu" and lm.config.positions == "rope" and not lm.config.bias
    assert m.config.mlp == "moe" and m.config.n_experts == 4 and m.config.top_k == 2
    assert g.pos_emb is not None and lm.pos_emb is None


@pytest.mark.parametrize("builder, vocab, expected", [(llama2c_15m, 32000, 15_191_712), (llama2c_260k, 512, 260_032)])
def test_named_sizes_reproduce_the_published_parameter_counts(builder, vocab, expected):
    # llama2.c's table: stories15M has 15M parameters, stories260K 260K (shared classifier weights)
    assert builder(vocab).num_parameters() == expected


def test_named_size_overrides_keep_the_kv_ratio():
    model = llama2c_260k(512, n_heads=4, d_model=32)
    assert model.config.n_heads == 4 and model.config.n_kv_heads == 2 and model.config.d_model == 32
    assert llama2c_15m(100).config.d_model == 288


@pytest.mark.parametrize(
    "builder, size, key",
    [
        (gpt2, dict(d_ff=2**62), "model.d_ff"),
        (mixtral, dict(n_experts=2**63 - 1), "model.n_experts"),
        (llama, dict(context_length=2**63 - 1), "model.context_length"),
    ],
)
def test_a_model_beyond_memory_is_refused_before_torch_allocates_it(builder, size, key):
    with pytest.raises(
        ConfigError, match=rf"^model: .* parameters need about .* GiB to train .*Fix: lower .*{key} \(now {list(size.values())[0]}\)"
    ):
        builder(vocab_size=18, d_model=16, n_heads=2, n_layers=1, **size)
