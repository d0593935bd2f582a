"""mlm_lab's Transformer as a Hugging Face model and back: the config.json and the state dict, both directions.

The three targets are the classes the architectures were built after:

- `model=gpt2` (LayerNorm, learned positions): `GPT2LMHeadModel`. Its Conv1D layers store weights as (in, out),
  so matrices are transposed; q, k, v are one `c_attn` matrix. A model trained without biases gets zero biases.
- `model=llama` (RMSNorm, RoPE, SwiGLU): `LlamaForCausalLM`. mlm_lab's RoPE rotates the two halves of each head,
  as Hugging Face's `rotate_half` does, so q and k need no permutation.
- `model=mixtral` (a routed MoE MLP): `MixtralForCausalLM`, written in Mixtral's published layout
  (`block_sparse_moe.experts.N.w1/w2/w3`), which transformers 4.x loads as it is and 5.x converts on load.

A ReLU² MLP (`mlp=relu2`, and `model=modern`) is exact in the gated classes: relu(a) * a == relu(a)² for every a,
so Llama's `down(act(gate x) * up x)` with `hidden_act=relu` and gate == up == fc computes `proj(relu(fc x)²)`.
GPT-2 takes it as `activation_function=relu2`.

Options the target class cannot express (QK-norm, soft-capped logits, value embeddings, residual scalars, biases
in the MoE) are refused by name before anything is written. `config.json` also keeps the mlm_lab model arguments
under `mlm_lab`, so importing an exported folder rebuilds the very same module (`tests/test_export_roundtrip.py`).
"""

import torch

from mlm_lab.errors import ConfigError
from mlm_lab.models.config import TransformerConfig

UNSUPPORTED = {  # option -> what it changes that none of the three classes computes
    "qk_norm": "normalises queries and keys",
    "logit_softcap": "soft-caps the logits",
    "value_embeddings": "adds token embeddings to the attention values",
    "residual_scalars": "scales the residual stream per layer",
}
NORM_EPS = 1e-5  # nn.LayerNorm's default and the eps of mlm_lab's RMSNorm


def architecture(cfg: TransformerConfig) -> str:
    """`gpt2`, `llama` or `mixtral`: the Hugging Face class that computes what `cfg` computes; ConfigError otherwise."""
    used = [k for k in UNSUPPORTED if getattr(cfg, k) not in (False, None)]
    if used:
        what = "; ".join(f"model.{k} {UNSUPPORTED[k]}" for k in used)
        raise ConfigError(
            f"format=hf: this model cannot be written as a transformers model: {what}, which GPT-2, Llama and Mixtral do not. "
            f"Fix: export a model trained without {', '.join('model.' + k for k in used)} (they are off in model=gpt2, llama, "
            "modern and mixtral), or keep it in mlm_lab (mlm-generate, the registered pyfunc)"
        )
    if cfg.norm == "layernorm" and cfg.positions == "learned" and cfg.mlp in ("gelu", "relu2"):
        return "gpt2"
    if cfg.norm == "rmsnorm" and cfg.positions == "rope" and cfg.mlp in ("swiglu", "relu2"):
        return "llama"
    if cfg.norm == "rmsnorm" and cfg.positions == "rope" and cfg.mlp == "moe":
        if cfg.bias:
            raise ConfigError(
                "format=hf: Mixtral's experts and router have no biases, and this model has them (model.bias=true). "
                "Fix: export a mixtral trained with model.bias=false (its default)"
            )
        return "mixtral"
    raise ConfigError(
        f"format=hf: no transformers class has norm={cfg.norm}, positions={cfg.positions}, mlp={cfg.mlp} together. "
        "Fix: export a model built by model=gpt2 (layernorm, learned, gelu), model=llama/modern (rmsnorm, rope, swiglu/relu2) "
        "or model=mixtral (rmsnorm, rope, moe)"
    )


def hf_config(cfg: TransformerConfig, bos_id: int, eos_id: int, pad_id: int) -> dict:
    """config.json for the class `architecture(cfg)` names; `mlm_lab` keeps the arguments that rebuild the module."""
    arch = architecture(cfg)
    common = {
        "vocab_size": cfg.vocab_size,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "torch_dtype": "float32",
        "mlm_lab": {k: v for k, v in cfg.to_dict().items()},
    }
    if arch == "gpt2":
        return {
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "n_positions": cfg.context_length,
            "n_embd": cfg.d_model,
            "n_layer": cfg.n_layers,
            "n_head": cfg.n_heads,
            "n_inner": cfg.d_ff,
            "activation_function": "gelu" if cfg.mlp == "gelu" else "relu2",
            "layer_norm_epsilon": NORM_EPS,
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "scale_attn_weights": True,
            **common,
        }
    gated = cfg.mlp == "swiglu" or (cfg.mlp == "moe" and cfg.expert_mlp == "swiglu")
    llama_like = {
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu" if gated else "relu",
        "max_position_embeddings": cfg.context_length,
        "rms_norm_eps": NORM_EPS,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_dropout": 0.0,
        **common,
    }
    if arch == "llama":
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "attention_bias": cfg.bias,
            "mlp_bias": cfg.bias,
            **llama_like,
        }
    return {
        "architectures": ["MixtralForCausalLM"],
        "model_type": "mixtral",
        "num_local_experts": cfg.n_experts,
        "num_experts_per_tok": cfg.top_k,
        "router_aux_loss_coef": cfg.aux_loss_weight,
        "output_router_logits": False,
        "sliding_window": None,
        **llama_like,
    }


def _gated(src: dict, prefix: str, relu2: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(gate, up, down) of an MLP: SwiGLU's own, or ReLU²'s fc twice (relu(a) * a == relu(a)²)."""
    if relu2:
        return src[f"{prefix}.fc.weight"], src[f"{prefix}.fc.weight"], src[f"{prefix}.proj.weight"]
    return src[f"{prefix}.gate.weight"], src[f"{prefix}.up.weight"], src[f"{prefix}.proj.weight"]


def to_hf_state(cfg: TransformerConfig, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The Hugging Face state dict (contiguous fp32 copies, tied head left out) of an mlm_lab state dict."""
    arch = architecture(cfg)
    src = {k: v.detach().to("cpu", torch.float32) for k, v in state.items()}
    out: dict[str, torch.Tensor] = {}
    if arch == "gpt2":
        out["transformer.wte.weight"] = src["tok_emb.weight"]
        out["transformer.wpe.weight"] = src["pos_emb.weight"]

        def bias(key: str, size: int) -> torch.Tensor:
            return src.get(key, torch.zeros(size))

        d = cfg.d_model
        for i in range(cfg.n_layers):
            s, t = f"blocks.{i}", f"transformer.h.{i}"
            for mine, theirs in (("norm_1", "ln_1"), ("norm_2", "ln_2")):
                out[f"{t}.{theirs}.weight"] = src[f"{s}.{mine}.weight"]
                out[f"{t}.{theirs}.bias"] = bias(f"{s}.{mine}.bias", d)
            qkv = [src[f"{s}.attn.{n}.weight"] for n in "qkv"]
            out[f"{t}.attn.c_attn.weight"] = torch.cat(qkv, 0).t()
            out[f"{t}.attn.c_attn.bias"] = torch.cat([bias(f"{s}.attn.{n}.bias", d) for n in "qkv"])
            out[f"{t}.attn.c_proj.weight"] = src[f"{s}.attn.proj.weight"].t()
            out[f"{t}.attn.c_proj.bias"] = bias(f"{s}.attn.proj.bias", d)
            out[f"{t}.mlp.c_fc.weight"] = src[f"{s}.mlp.fc.weight"].t()
            out[f"{t}.mlp.c_fc.bias"] = bias(f"{s}.mlp.fc.bias", cfg.d_ff)
            out[f"{t}.mlp.c_proj.weight"] = src[f"{s}.mlp.proj.weight"].t()
            out[f"{t}.mlp.c_proj.bias"] = bias(f"{s}.mlp.proj.bias", d)
        out["transformer.ln_f.weight"] = src["norm_f.weight"]
        out["transformer.ln_f.bias"] = bias("norm_f.bias", d)
    else:
        out["model.embed_tokens.weight"] = src["tok_emb.weight"]
        for i in range(cfg.n_layers):
            s, t = f"blocks.{i}", f"model.layers.{i}"
            out[f"{t}.input_layernorm.weight"] = src[f"{s}.norm_1.weight"]
            out[f"{t}.post_attention_layernorm.weight"] = src[f"{s}.norm_2.weight"]
            for mine, theirs in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("proj", "o_proj")):
                out[f"{t}.self_attn.{theirs}.weight"] = src[f"{s}.attn.{mine}.weight"]
                if cfg.bias:
                    out[f"{t}.self_attn.{theirs}.bias"] = src[f"{s}.attn.{mine}.bias"]
            if arch == "llama":
                gate, up, down = _gated(src, f"{s}.mlp", cfg.mlp == "relu2")
                out[f"{t}.mlp.gate_proj.weight"], out[f"{t}.mlp.up_proj.weight"], out[f"{t}.mlp.down_proj.weight"] = gate, up, down
                if cfg.bias:
                    fc = "fc" if cfg.mlp == "relu2" else None
                    out[f"{t}.mlp.gate_proj.bias"] = src[f"{s}.mlp.{fc or 'gate'}.bias"]
                    out[f"{t}.mlp.up_proj.bias"] = src[f"{s}.mlp.{fc or 'up'}.bias"]
                    out[f"{t}.mlp.down_proj.bias"] = src[f"{s}.mlp.proj.bias"]
            else:
                out[f"{t}.block_sparse_moe.gate.weight"] = src[f"{s}.mlp.router.weight"]
                for e in range(cfg.n_experts):
                    w1, w3, w2 = _gated(src, f"{s}.mlp.experts.{e}", cfg.expert_mlp == "relu2")
                    x = f"{t}.block_sparse_moe.experts.{e}"
                    out[f"{x}.w1.weight"], out[f"{x}.w2.weight"], out[f"{x}.w3.weight"] = w1, w2, w3
        out["model.norm.weight"] = src["norm_f.weight"]
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = src["head.weight"]
    # safetensors refuses tensors that share memory: every entry its own contiguous copy
    return {k: v.contiguous().clone() for k, v in out.items()}
