"""A Hugging Face folder (GPT-2, Llama or Mixtral) as mlm_lab's model config, weights and tokenizer.

`trainer.init_from=hf:DIR` starts a run from it. A folder that mlm-export wrote carries the mlm_lab model
arguments (`config.json`'s `mlm_lab`) and tokenizer state (`mlm_lab_tokenizer.json`), so export then import gives
back the same module and the same ids; any other folder is read from its standard fields and its `tokenizer.json`.
"""

import copy
import json
from pathlib import Path

import torch

from mlm_lab.errors import ConfigError
from mlm_lab.export.hf_model import NORM_EPS, architecture
from mlm_lab.export.hf_tokenizer import tokenizer_state_from_folder
from mlm_lab.models.config import TransformerConfig


def _refuse(directory: Path, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"trainer.init_from: hf:{directory}: {problem}. Fix: {fix}")


def _fields_from_hf(hf: dict, directory: Path) -> dict:
    """TransformerConfig fields from a config.json without mlm_lab's own record."""
    kind = hf.get("model_type")
    if kind == "gpt2":
        act = hf.get("activation_function", "gelu_new")
        if act not in ("gelu", "relu2"):
            raise _refuse(
                directory, f"activation_function is {act!r}; mlm_lab's GPT-2 MLP computes the exact GELU ('gelu') or 'relu2'",
                "import a GPT-2 trained with activation_function 'gelu' (or 'relu2'); 'gelu_new' (tanh) would change every output",
            )  # fmt: skip
        n_embd = hf["n_embd"]
        return dict(
            vocab_size=hf["vocab_size"], context_length=hf["n_positions"], d_model=n_embd, n_layers=hf["n_layer"],
            n_heads=hf["n_head"], d_ff=hf.get("n_inner") or 4 * n_embd, norm="layernorm", mlp="gelu" if act == "gelu" else "relu2",
            positions="learned", bias=True, tie_embeddings=hf.get("tie_word_embeddings", True),
        )  # fmt: skip
    if kind not in ("llama", "mixtral"):
        raise _refuse(directory, f"model_type {kind!r} is not one mlm_lab builds", "import a gpt2, llama or mixtral folder")
    eps = hf.get("rms_norm_eps", 1e-6)
    if abs(eps - NORM_EPS) > 1e-12:
        raise _refuse(directory, f"rms_norm_eps is {eps}; mlm_lab's RMSNorm uses {NORM_EPS}", "import a model trained with 1e-5")
    scaling = hf.get("rope_scaling") or {}
    rope = hf.get("rope_parameters") or {}
    if scaling.get("rope_type", scaling.get("type", "default")) != "default" or rope.get("rope_type", "default") != "default":
        raise _refuse(directory, "it uses scaled RoPE, which mlm_lab does not compute", "import a model with plain RoPE")
    d, heads = hf["hidden_size"], hf["num_attention_heads"]
    if hf.get("head_dim") not in (None, d // heads):
        raise _refuse(directory, f"head_dim {hf['head_dim']} is not hidden_size / heads", "import a model whose heads split the width")
    if bool(hf.get("attention_bias", False)) != bool(hf.get("mlp_bias", False)):
        raise _refuse(directory, "attention_bias and mlp_bias differ; mlm_lab has one model.bias", "import a model with both or neither")
    act = hf.get("hidden_act", "silu")
    if act not in ("silu", "relu"):
        raise _refuse(directory, f"hidden_act is {act!r}", "import a model whose MLP is SwiGLU (silu) or a gated ReLU")
    fields = dict(
        vocab_size=hf["vocab_size"], context_length=hf.get("max_position_embeddings", 2048), d_model=d,
        n_layers=hf["num_hidden_layers"], n_heads=heads, n_kv_heads=hf.get("num_key_value_heads") or heads,
        d_ff=hf["intermediate_size"], norm="rmsnorm", positions="rope", rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 1e4))),
        bias=bool(hf.get("attention_bias", False)), tie_embeddings=hf.get("tie_word_embeddings", False),
    )  # fmt: skip
    mlp = "swiglu" if act == "silu" else "relu2"  # relu: only when gate == up, checked on the weights
    if kind == "llama":
        return {**fields, "mlp": mlp}
    return {**fields, "mlp": "moe", "expert_mlp": mlp, "n_experts": hf["num_local_experts"], "top_k": hf["num_experts_per_tok"]}


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """model.safetensors, or the shards its index lists."""
    from safetensors.torch import load_file

    single, index = directory / "model.safetensors", directory / "model.safetensors.index.json"
    if single.is_file():
        return load_file(single)
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return {k: v for shard in shards for k, v in load_file(directory / shard).items()}
    raise _refuse(directory, "it has no model.safetensors", "export the weights as safetensors (save_pretrained does by default)")


def _mlp_from_gated(hf: dict, gate: str, up: str, down: str, prefix: str, relu2: bool, directory: Path) -> dict:
    if not relu2:
        return {f"{prefix}.gate.weight": hf[gate], f"{prefix}.up.weight": hf[up], f"{prefix}.proj.weight": hf[down]}
    if not torch.equal(hf[gate], hf[up]):
        raise _refuse(
            directory, f"hidden_act is relu but {gate} and {up} differ, so the MLP is a gated ReLU, not ReLU²",
            "import SwiGLU (silu) models, or ReLU² models that mlm-export wrote",
        )  # fmt: skip
    return {f"{prefix}.fc.weight": hf[gate], f"{prefix}.proj.weight": hf[down]}


def from_hf_state(cfg: TransformerConfig, hf: dict[str, torch.Tensor], directory: Path) -> dict[str, torch.Tensor]:
    """mlm_lab's state dict for `cfg` from a Hugging Face one (the inverse of `hf_model.to_hf_state`)."""
    arch = architecture(cfg)
    out: dict[str, torch.Tensor] = {}
    if arch == "gpt2":
        out["tok_emb.weight"], out["pos_emb.weight"] = hf["transformer.wte.weight"], hf["transformer.wpe.weight"]
        d = cfg.d_model
        for i in range(cfg.n_layers):
            s, t = f"blocks.{i}", f"transformer.h.{i}"
            for mine, theirs in (("norm_1", "ln_1"), ("norm_2", "ln_2")):
                out[f"{s}.{mine}.weight"] = hf[f"{t}.{theirs}.weight"]
                out[f"{s}.{mine}.bias"] = hf[f"{t}.{theirs}.bias"]
            w, b = hf[f"{t}.attn.c_attn.weight"].t(), hf[f"{t}.attn.c_attn.bias"]
            for j, n in enumerate("qkv"):
                out[f"{s}.attn.{n}.weight"], out[f"{s}.attn.{n}.bias"] = w[j * d : (j + 1) * d], b[j * d : (j + 1) * d]
            for mine, theirs in (("attn.proj", "attn.c_proj"), ("mlp.fc", "mlp.c_fc"), ("mlp.proj", "mlp.c_proj")):
                out[f"{s}.{mine}.weight"] = hf[f"{t}.{theirs}.weight"].t()
                out[f"{s}.{mine}.bias"] = hf[f"{t}.{theirs}.bias"]
        out["norm_f.weight"], out["norm_f.bias"] = hf["transformer.ln_f.weight"], hf["transformer.ln_f.bias"]
        if not cfg.bias:  # an mlm-export of a bias-free GPT-2: its zero biases are not parameters here
            out = {k: v for k, v in out.items() if not k.endswith(".bias")}
    else:
        out["tok_emb.weight"] = hf["model.embed_tokens.weight"]
        for i in range(cfg.n_layers):
            s, t = f"blocks.{i}", f"model.layers.{i}"
            out[f"{s}.norm_1.weight"] = hf[f"{t}.input_layernorm.weight"]
            out[f"{s}.norm_2.weight"] = hf[f"{t}.post_attention_layernorm.weight"]
            for mine, theirs in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("proj", "o_proj")):
                out[f"{s}.attn.{mine}.weight"] = hf[f"{t}.self_attn.{theirs}.weight"]
                if cfg.bias:
                    out[f"{s}.attn.{mine}.bias"] = hf[f"{t}.self_attn.{theirs}.bias"]
            if arch == "llama":
                m = f"{t}.mlp"
                relu2 = cfg.mlp == "relu2"
                out.update(
                    _mlp_from_gated(
                        hf, f"{m}.gate_proj.weight", f"{m}.up_proj.weight", f"{m}.down_proj.weight", f"{s}.mlp", relu2, directory
                    )
                )
                if cfg.bias:
                    out[f"{s}.mlp.{'fc' if relu2 else 'gate'}.bias"] = hf[f"{m}.gate_proj.bias"]
                    if not relu2:
                        out[f"{s}.mlp.up.bias"] = hf[f"{m}.up_proj.bias"]
                    out[f"{s}.mlp.proj.bias"] = hf[f"{m}.down_proj.bias"]
            else:
                out.update(_moe(hf, cfg, t, s, directory))
        out["norm_f.weight"] = hf["model.norm.weight"]
    out["head.weight"] = out["tok_emb.weight"] if cfg.tie_embeddings else hf["lm_head.weight"]
    return {k: v.contiguous() for k, v in out.items()}


def _moe(hf: dict, cfg: TransformerConfig, t: str, s: str, directory: Path) -> dict:
    """One MoE layer, from Mixtral's published layout or transformers 5's fused expert tensors."""
    relu2 = cfg.expert_mlp == "relu2"
    if f"{t}.block_sparse_moe.gate.weight" in hf:
        out = {f"{s}.mlp.router.weight": hf[f"{t}.block_sparse_moe.gate.weight"]}
        for e in range(cfg.n_experts):
            x = f"{t}.block_sparse_moe.experts.{e}"
            out.update(_mlp_from_gated(hf, f"{x}.w1.weight", f"{x}.w3.weight", f"{x}.w2.weight", f"{s}.mlp.experts.{e}", relu2, directory))
        return out
    out = {f"{s}.mlp.router.weight": hf[f"{t}.mlp.gate.weight"]}
    gate_up, down = hf[f"{t}.mlp.experts.gate_up_proj"], hf[f"{t}.mlp.experts.down_proj"]
    for e in range(cfg.n_experts):
        gate, up = gate_up[e].chunk(2, dim=0)
        fused = {"g": gate.contiguous(), "u": up.contiguous(), "d": down[e].contiguous()}
        out.update(_mlp_from_gated(fused, "g", "u", "d", f"{s}.mlp.experts.{e}", relu2, directory))
    return out


HF_PREFIX = "hf:"
TRAINING_FIELDS = ("dropout", "attention_dropout", "gradient_checkpointing")  # the command's, not the folder's


def is_hf_ref(init_from: str | None) -> bool:
    return bool(init_from) and str(init_from).startswith(HF_PREFIX)


def _folder(ref: str) -> Path:
    directory = Path(str(ref)[len(HF_PREFIX) :]).expanduser()
    if not (directory / "config.json").is_file():
        raise _refuse(
            directory, "it is not a folder with a config.json", "point at a folder written by save_pretrained or mlm-export format=hf"
        )
    return directory


def folder_tokenizer(path: str):
    """The tokenizer of a Hugging Face folder: what `tokenizer._target_` names in a run started from one."""
    from mlm_lab.tokenizers import tokenizer_from_state

    directory = Path(path)
    return tokenizer_from_state(tokenizer_state_from_folder(directory, json.loads((directory / "config.json").read_text())))


def imported_config(cfg, ref: str):
    """`cfg` with its model and tokenizer taken from the folder `ref` names (hf:DIR): its architecture and ids.

    The model section lists every field (`models.builders.imported`), so the run's params show the architecture and a
    resumed run rebuilds it without the folder; dropout and gradient checkpointing stay the command's.
    """
    from omegaconf import open_dict

    directory = _folder(ref)
    hf = json.loads((directory / "config.json").read_text())
    fields = dict(hf.get("mlm_lab") or _fields_from_hf(hf, directory))
    architecture(TransformerConfig(**fields))  # refused by name here, before any data or model
    fields.update({k: cfg.model[k] for k in TRAINING_FIELDS if k in cfg.model})
    model = {"_target_": "mlm_lab.models.builders.imported", "_partial_": True, "n_vocab": fields.pop("vocab_size"), **fields}
    new = copy.deepcopy(cfg)
    with open_dict(new):
        new.model = model
        new.tokenizer = {"_target_": "mlm_lab.export.hf_import.folder_tokenizer", "path": str(directory.resolve())}
    return new


def imported_state(ref: str, cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    """The folder's weights under mlm_lab's names, for the model `cfg` describes."""
    directory = _folder(ref)
    return from_hf_state(cfg, read_weights(directory), directory)
