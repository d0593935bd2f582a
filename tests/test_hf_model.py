"""mlm_lab's Transformer as a Hugging Face config and state dict and back: exact maps, refusals by name."""

import pytest
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.export.hf_import import from_hf_state
from mlm_lab.export.hf_model import architecture, hf_config, to_hf_state
from mlm_lab.models.builders import gpt2, llama, llama2c_260k, mixtral, modern
from mlm_lab.models.config import TransformerConfig

V = 37
SHAPE = dict(context_length=16, d_model=32, n_layers=2, n_heads=4)
CASES = {
    "gpt2": (gpt2, {}),
    "gpt2_bias_free_relu2_untied": (gpt2, {"bias": False, "mlp": "relu2", "tie_embeddings": False}),
    "llama_gqa": (llama, {"n_kv_heads": 2, "rope_theta": 500.0}),
    "llama_untied": (llama, {"tie_embeddings": False}),
    "modern": (modern, {}),
    "mixtral": (mixtral, {"n_kv_heads": 2}),
    "mixtral_relu2_untied": (mixtral, {"expert_mlp": "relu2", "tie_embeddings": False, "n_experts": 3, "top_k": 1}),
}


def build(name: str):
    torch.manual_seed(0)
    builder, options = CASES[name]
    return builder(V, **SHAPE, **options)


@pytest.mark.parametrize("name", CASES)
def test_state_dict_round_trips_bit_for_bit(name, tmp_path):
    model = build(name)
    with torch.no_grad():  # every tensor distinct, so a swapped or transposed map cannot pass by symmetry
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    hf = to_hf_state(model.config, model.state_dict())
    back = from_hf_state(model.config, hf, tmp_path)
    own = model.state_dict()
    assert sorted(back) == sorted(own)
    for key, value in own.items():
        assert torch.equal(back[key], value), key


@pytest.mark.parametrize(
    "name, expected",
    [("gpt2", "GPT2LMHeadModel"), ("modern", "LlamaForCausalLM"), ("llama_gqa", "LlamaForCausalLM"), ("mixtral", "MixtralForCausalLM")],
)
def test_config_names_the_class_and_maps_every_shape_key(name, expected):
    cfg = build(name).config
    out = hf_config(cfg, bos_id=1, eos_id=2, pad_id=0)
    assert out["architectures"] == [expected]
    assert out["vocab_size"] == V and out["tie_word_embeddings"] is True
    assert (out["bos_token_id"], out["eos_token_id"], out["pad_token_id"]) == (1, 2, 0)
    assert out["mlm_lab"] == cfg.to_dict()
    if expected == "GPT2LMHeadModel":
        assert (out["n_embd"], out["n_layer"], out["n_head"], out["n_positions"], out["n_inner"]) == (32, 2, 4, 16, 128)
        assert out["activation_function"] == "gelu"  # exact GELU, as mlm_lab computes it (not gelu_new's tanh)
    else:
        assert (out["hidden_size"], out["num_hidden_layers"], out["num_attention_heads"]) == (32, 2, 4)
        assert out["num_key_value_heads"] == cfg.n_kv_heads and out["intermediate_size"] == cfg.d_ff
        assert out["rms_norm_eps"] == 1e-5 and out["rope_theta"] == cfg.rope_theta
        assert out["hidden_act"] == ("relu" if name == "modern" else "silu")  # relu(a) * a == relu(a)²


def test_relu2_is_a_gated_relu_with_gate_equal_to_up():
    model = build("modern")
    hf = to_hf_state(model.config, model.state_dict())
    assert torch.equal(hf["model.layers.0.mlp.gate_proj.weight"], hf["model.layers.0.mlp.up_proj.weight"])
    a = torch.randn(1000)
    assert torch.equal(torch.relu(a) * a, torch.relu(a).square())


def test_named_llama2c_size_exports_as_llama():
    assert architecture(llama2c_260k(512).config) == "llama"


@pytest.mark.parametrize(
    "option, value, named",
    [
        ("qk_norm", True, "model.qk_norm"),
        ("logit_softcap", 15.0, "model.logit_softcap"),
        ("value_embeddings", True, "model.value_embeddings"),
        ("residual_scalars", True, "model.residual_scalars"),
    ],
)
def test_options_no_class_computes_are_refused_by_name(option, value, named):
    cfg = llama.config(V, **SHAPE, **{option: value})
    with pytest.raises(ConfigError, match=named) as e:
        architecture(cfg)
    assert "Fix:" in str(e.value)


def test_moe_with_biases_and_mixed_blocks_are_refused():
    with pytest.raises(ConfigError, match="model.bias"):
        architecture(TransformerConfig(V, **SHAPE, norm="rmsnorm", mlp="moe", positions="rope", bias=True))
    with pytest.raises(ConfigError, match="norm=layernorm, positions=rope"):
        architecture(TransformerConfig(V, **SHAPE, norm="layernorm", mlp="gelu", positions="rope"))
