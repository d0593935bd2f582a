"""`trainer.init_from=hf:DIR`: a folder's architecture read from its standard fields (or mlm_lab's own record), its
weights under mlm_lab's names, and what mlm_lab cannot build refused by name."""

import json

import pytest
import torch
from safetensors.torch import save_file

from mlm_lab.errors import ConfigError
from mlm_lab.export.hf_import import _fields_from_hf, imported_config, imported_state, is_hf_ref
from mlm_lab.export.hf_model import hf_config, to_hf_state
from mlm_lab.models.builders import gpt2, imported, llama, mixtral
from mlm_lab.models.config import TransformerConfig
from tests.conftest import compose_config

SHAPE = dict(context_length=16, d_model=32, n_layers=2, n_heads=4)


def foreign(tmp_path, model, **changes):
    """A folder as another tool writes it: config.json without mlm_lab's record, model.safetensors."""
    config = hf_config(model.config, 1, 2, 0)
    del config["mlm_lab"]
    config.update(changes)
    (tmp_path / "config.json").write_text(json.dumps(config))
    save_file(to_hf_state(model.config, model.state_dict()), str(tmp_path / "model.safetensors"))
    return config


@pytest.mark.parametrize(
    "make",
    [
        lambda: gpt2(40, **SHAPE),
        lambda: llama(40, n_kv_heads=2, rope_theta=500.0, tie_embeddings=False, **SHAPE),
        lambda: mixtral(40, n_experts=3, **SHAPE),
    ],
)
def test_standard_fields_give_the_same_architecture_and_weights(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    config = foreign(tmp_path, model)
    fields = _fields_from_hf(config, tmp_path)
    cfg = TransformerConfig(**fields)
    assert {k: v for k, v in cfg.to_dict().items() if k not in ("dropout", "attention_dropout")} == {
        k: v for k, v in model.config.to_dict().items() if k not in ("dropout", "attention_dropout")
    }
    state = imported_state(f"hf:{tmp_path}", cfg)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_a_relu_llama_is_relu2_only_when_gate_equals_up(tmp_path):
    torch.manual_seed(0)
    model = llama(40, mlp="relu2", **SHAPE)
    config = foreign(tmp_path, model)
    cfg = TransformerConfig(**_fields_from_hf(config, tmp_path))
    assert cfg.mlp == "relu2"
    imported_state(f"hf:{tmp_path}", cfg)
    swiglu = llama(40, **SHAPE)  # a gated ReLU: gate and up differ
    foreign(tmp_path, swiglu, hidden_act="relu")
    with pytest.raises(ConfigError, match="gate_proj.weight and .*up_proj.weight differ"):
        imported_state(f"hf:{tmp_path}", TransformerConfig(**_fields_from_hf(json.loads((tmp_path / "config.json").read_text()), tmp_path)))


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"model_type": "gpt_neox"}, "model_type 'gpt_neox'"),
        ({"rms_norm_eps": 1e-6}, "rms_norm_eps is 1e-06"),
        ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, "scaled RoPE"),
        ({"hidden_act": "gelu"}, "hidden_act is 'gelu'"),
        ({"attention_bias": True}, "attention_bias and mlp_bias differ"),
    ],
)
def test_what_mlm_lab_cannot_build_is_refused_by_name(tmp_path, changes, named):
    config = foreign(tmp_path, llama(40, **SHAPE), **changes)
    with pytest.raises(ConfigError, match=named) as e:
        _fields_from_hf(config, tmp_path)
    assert str(e.value).startswith(f"trainer.init_from: hf:{tmp_path}") and "Fix:" in str(e.value)


def test_gpt2_with_tanh_gelu_is_refused(tmp_path):
    config = foreign(tmp_path, gpt2(40, **SHAPE), activation_function="gelu_new")
    with pytest.raises(ConfigError, match="'gelu_new'"):
        _fields_from_hf(config, tmp_path)


def test_the_run_config_takes_the_folders_model_and_tokenizer(tmp_path):
    torch.manual_seed(0)
    foreign(tmp_path, llama(40, n_kv_heads=2, **SHAPE))
    assert is_hf_ref(f"hf:{tmp_path}") and not is_hf_ref("outputs/final.pt") and not is_hf_ref(None)
    cfg = compose_config(["model=gpt2", "model.dropout=0.1"])
    new = imported_config(cfg, f"hf:{tmp_path}")
    assert new.model._target_ == "mlm_lab.models.builders.imported" and new.model.n_vocab == 40
    assert new.model.n_kv_heads == 2 and new.model.norm == "rmsnorm" and new.model.dropout == 0.1  # dropout stays the command's
    assert new.tokenizer._target_ == "mlm_lab.export.hf_import.folder_tokenizer"
    assert cfg.model._target_ != new.model._target_  # the caller's config is not changed
    with pytest.raises(ConfigError, match="not a folder with a config.json"):
        imported_config(cfg, f"hf:{tmp_path / 'missing'}")


def test_the_imported_builder_keeps_the_folders_vocabulary():
    assert imported(30, n_vocab=40, **SHAPE).config.vocab_size == 40  # embeddings padded past the tokenizer's ids
    with pytest.raises(ConfigError, match="50 ids but the model's embedding only 40 rows"):
        imported(50, n_vocab=40, **SHAPE)
