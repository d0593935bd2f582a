import functools
import logging

import pytest

from mlm_lab.errors import ConfigError
from mlm_lab.models.builders import gpt2, llama, llama2c_15m, llama2c_260k, mixtral, modern, planned_config
from mlm_lab.models.config import TransformerConfig


def test_architectures_use_their_blocks():
    g, lm, m = gpt2(10), llama(10), mixtral(10)
    assert g.config.norm == "layernorm" and g.config.mlp == "gelu" and g.config.positions == "learned" and g.config.bias
    assert lm.config.norm == "rmsnorm" and lm.config.mlp == "swiglu" and lm.config.positions == "rope" and not lm.config.bias
    assert m.config.mlp == "moe" and m.config.n_experts == 4 and m.config.top_k == 2
    assert g.pos_emb is not None and lm.pos_emb is None


def test_modern_is_llama_with_a_relu2_mlp_and_takes_llamas_arguments():
    assert modern.config(10) == llama.config(10, mlp="relu2")
    assert modern.config(10, 64, 32, mlp="swiglu") == llama.config(10, 64, 32)  # positional like llama, mlp still a choice
    assert modern(10, d_model=32, n_heads=2).num_parameters() < llama(10, d_model=32, n_heads=2).num_parameters()  # 2 matrices, not 3
    with pytest.raises(TypeError, match="bogus"):
        modern(10, bogus=1)


@pytest.mark.parametrize("builder, vocab, expected", [(llama2c_15m, 32000, 15_191_712), (llama2c_260k, 512, 260_032)])
def test_named_sizes_reproduce_the_published_parameter_counts(builder, vocab, expected):
    # llama2.c's table: stories15M has 15M parameters, stories260K 260K (shared classifier weights)
    assert builder(vocab).num_parameters() == expected


def test_named_size_overrides_keep_the_kv_ratio(caplog):
    with caplog.at_level(logging.INFO, logger="mlm_lab.models.builders"):
        model = llama2c_260k(512, n_heads=4, d_model=32)
    assert model.config.n_heads == 4 and model.config.n_kv_heads == 2 and model.config.d_model == 32
    assert "model.n_kv_heads is null: 2 kv heads for model.n_heads=4 (the named size's 8:4 ratio)" in caplog.text  # stated, not silent
    assert model.config.n_layers == 5 and model.config.d_ff == 172
    assert llama2c_15m(100).config.d_model == 288 and llama2c_15m(100).config.d_ff == 768
    assert llama2c_15m(100, n_heads=4).config.n_kv_heads == 4  # 6:6 is one kv head per head
    assert llama2c_260k(512, n_heads=6, d_model=48).config.n_kv_heads == 3
    assert llama2c_260k(512, n_heads=5, d_model=40).config.n_kv_heads == 5  # a ratio of 2 does not divide 5 heads


def test_an_n_kv_heads_the_caller_sets_is_used_as_it_is_or_refused():
    model = llama2c_260k(512, n_heads=6, d_model=48, n_kv_heads=6)
    assert (model.config.n_heads, model.config.n_kv_heads) == (6, 6)
    assert llama2c_260k(512, n_kv_heads=2).config.n_kv_heads == 2  # an explicit value of its own
    with pytest.raises(ConfigError, match=r"^model\.n_kv_heads: n_kv_heads=3 must divide n_heads=8"):
        llama2c_260k(512, n_kv_heads=3)
    with pytest.raises(ConfigError, match=r"^model\.n_kv_heads: n_kv_heads=4 must divide n_heads=6"):
        llama2c_260k(512, n_heads=6, d_model=48, n_kv_heads=4)  # not rewritten to fit


@pytest.mark.parametrize("builder", [gpt2, llama, mixtral, llama2c_260k, llama2c_15m])
def test_a_builder_gives_its_config_without_building_the_model(builder):
    """`.config` is what the runner sizes (memory) before a tensor exists; building from it gives the builder's model."""
    config = builder.config(vocab_size=18, context_length=2**40)
    assert isinstance(config, TransformerConfig) and config.context_length == 2**40
    assert builder(vocab_size=18).config == builder.config(vocab_size=18)
    assert planned_config(functools.partial(builder, d_model=48), 18) == builder.config(18, d_model=48)
    assert planned_config(lambda vocab_size: None, 18) is None  # a callable that is not a builder: nothing to plan
