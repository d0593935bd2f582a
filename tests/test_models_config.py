"""TransformerConfig: what it derives (n_kv_heads, d_ff, head size) and the ConfigError for each bad value."""

import pytest
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.models.builders import gpt2, llama, mixtral
from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.transformer import Transformer


def test_n_kv_heads_defaults_to_n_heads():
    assert TransformerConfig(vocab_size=10, n_heads=8).n_kv_heads == 8
    assert TransformerConfig(vocab_size=10, n_heads=8, n_kv_heads=2).n_kv_heads == 2


@pytest.mark.parametrize(
    "mlp, d_model, d_ff",
    [("gelu", 128, 512), ("swiglu", 128, 352), ("moe", 128, 352), ("swiglu", 96, 256), ("swiglu", 288, 768)],
)
def test_d_ff_is_4x_for_gelu_and_8_3_rounded_up_to_32_for_gated_mlps(mlp, d_model, d_ff):
    assert TransformerConfig(vocab_size=10, d_model=d_model, mlp=mlp).d_ff == d_ff
    assert TransformerConfig(vocab_size=10, d_model=d_model, mlp=mlp, d_ff=100).d_ff == 100  # a user value is kept


def test_head_dim_and_to_dict():
    cfg = TransformerConfig(vocab_size=10, d_model=96, n_heads=3)
    assert cfg.head_dim == 32
    assert TransformerConfig(**cfg.to_dict()) == cfg  # a saved config rebuilds the same config


@pytest.mark.parametrize(
    "kwargs, key, fix",
    [
        ({"vocab_size": 0}, "model.vocab_size", "positive integer"),
        ({"n_layers": -1}, "model.n_layers", "positive integer"),
        ({"d_model": 130}, "model.d_model", "multiple of model.n_heads"),
        ({"n_kv_heads": 3}, "model.n_kv_heads", "divisors of model.n_heads"),
        ({"n_kv_heads": 8}, "model.n_kv_heads", "divisors of model.n_heads"),
        ({"norm": "batchnorm"}, "model.norm", "layernorm"),
        ({"mlp": "relu"}, "model.mlp", "swiglu"),
        ({"positions": "alibi"}, "model.positions", "rope"),
        ({"positions": "rope", "d_model": 12, "n_heads": 4}, "model.d_model", "even"),
        ({"d_ff": 0}, "model.d_ff", "null"),
        ({"dropout": 1.0}, "model.dropout", "dropout=0.0"),
        ({"attention_dropout": -0.1}, "model.attention_dropout", "attention_dropout=0.0"),
        ({"mlp": "moe", "n_experts": 0}, "model.n_experts", "n_experts=4"),
        ({"mlp": "moe", "top_k": 5}, "model.top_k", "top_k=2"),
        ({"mlp": "moe", "aux_loss_weight": -1.0}, "model.aux_loss_weight", "0.01"),
        ({"d_model": "wide"}, "model.d_model", ""),
    ],
)
def test_each_bad_value_is_a_config_error_naming_the_key_and_the_fix(kwargs, key, fix):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        TransformerConfig(**{"vocab_size": 10, **kwargs})
    assert "Fix:" in str(info.value) and fix in str(info.value)


def test_moe_settings_are_checked_only_for_moe():
    assert TransformerConfig(vocab_size=10, mlp="gelu", top_k=9).top_k == 9


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"mlp": "swiglu", "norm": "rmsnorm", "positions": "rope", "n_kv_heads": 2, "bias": False},
        {"mlp": "moe", "tie_embeddings": False},
    ],
)
def test_approx_parameters_is_close_to_the_built_model(kwargs):
    cfg = TransformerConfig(vocab_size=300, context_length=64, d_model=64, n_layers=2, **kwargs)
    built = Transformer(cfg).num_parameters()
    assert abs(cfg.approx_parameters() - built) / built < 0.02  # norms, biases and the router are what it leaves out


@pytest.mark.parametrize("arch", [gpt2, llama, mixtral])
def test_attention_dropout_follows_dropout_unless_set(arch):
    def rates(model):
        attention = {m.dropout for m in model.modules() if isinstance(getattr(m, "dropout", None), float)}
        residual = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
        return attention, residual

    assert rates(arch(11, d_model=16, n_heads=2, n_layers=1, dropout=0.1)) == ({0.1}, {0.1})  # one key, as before
    assert rates(arch(11, d_model=16, n_heads=2, n_layers=1, dropout=0.1, attention_dropout=0.0)) == ({0.0}, {0.1})
    assert arch.config(11, attention_dropout=0.2).attention_dropout == 0.2
