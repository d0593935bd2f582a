"""A llama-style mlm_lab model as a GGUF file that llama.cpp (and Ollama) run, written with llama.cpp's `gguf` package.

What llama.cpp's `llama` architecture computes: RMSNorm, RoPE, a SwiGLU MLP or a Mixtral-style MoE of SwiGLU
experts (softmax router, the top-k weights renormalised), tied or untied head. A ReLU² MLP (`model=modern`, the
text presets) goes out as llama.cpp's `arcee` architecture: the same blocks with `down(relu(up x)²)`. mlm_lab's RoPE rotates the two
halves of each head (Hugging Face's layout); GGML's rotates neighbouring pairs, so q and k rows are permuted as
llama.cpp's own `convert_hf_to_gguf.py` permutes them. The tokenizer is sentencepiece's (`tokenizer.ggml.model`
"llama"): pieces, scores and piece types as they are, no dummy prefix, `<bos>` added.

Refused by name: other architectures (gpt2's learned positions and LayerNorm), ReLU² experts, biases, the frontier
options, and tokenizers that are not sentencepiece.
"""

from pathlib import Path

import numpy as np
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.export.hf_model import NORM_EPS, architecture

DTYPES = ("f32", "f16", "bf16")


def check_gguf(cfg, tokenizer, dtype: str) -> None:
    """ConfigError, before anything is written, for what llama.cpp's llama architecture cannot run as trained."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype: {dtype!r} is not a GGUF type mlm-export writes. Fix: dtype=f32, f16 or bf16")
    try:
        arch = architecture(cfg)
    except ConfigError as e:
        raise ConfigError(str(e).replace("format=hf", "format=gguf", 1)) from None
    why = None
    if arch == "gpt2":
        why = "learned positions and LayerNorm (model=gpt2)"
    elif cfg.mlp == "moe" and cfg.expert_mlp == "relu2":
        why = "ReLU² experts (llama.cpp's MoE gates its experts with SiLU)"
    elif cfg.bias:
        why = "biases in its linear layers"
    if why:
        raise ConfigError(
            f"format=gguf: this model has {why}, which llama.cpp's llama architecture does not compute. "
            "Fix: export it with format=hf (transformers runs it exactly), or train with model=llama, modern or mixtral "
            "(RMSNorm, RoPE, no biases) for llama.cpp"
        )
    if not tokenizer.kind.startswith("sentencepiece"):
        raise ConfigError(
            f"format=gguf: the {tokenizer.kind} tokenizer has no llama.cpp form that mlm-export writes (it writes sentencepiece "
            "vocabularies). Fix: train with tokenizer=sentencepiece_bpe, or export with format=hf"
        )


def gguf_architecture(cfg) -> str:
    """llama.cpp's name for the architecture: `arcee` for a ReLU² MLP, else `llama` (MoE included)."""
    return "arcee" if cfg.mlp == "relu2" else "llama"


def _permute(w: torch.Tensor, heads: int) -> torch.Tensor:
    """Rows of q or k from half-split RoPE pairs to GGML's interleaved pairs (llama.cpp's convert_hf_to_gguf.permute)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tensors(cfg, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {"token_embd.weight": state["tok_emb.weight"], "output_norm.weight": state["norm_f.weight"]}
    if not cfg.tie_embeddings:
        out["output.weight"] = state["head.weight"]
    for i in range(cfg.n_layers):
        s, t = f"blocks.{i}", f"blk.{i}"
        out[f"{t}.attn_norm.weight"] = state[f"{s}.norm_1.weight"]
        out[f"{t}.ffn_norm.weight"] = state[f"{s}.norm_2.weight"]
        out[f"{t}.attn_q.weight"] = _permute(state[f"{s}.attn.q.weight"], cfg.n_heads)
        out[f"{t}.attn_k.weight"] = _permute(state[f"{s}.attn.k.weight"], cfg.n_kv_heads)
        out[f"{t}.attn_v.weight"] = state[f"{s}.attn.v.weight"]
        out[f"{t}.attn_output.weight"] = state[f"{s}.attn.proj.weight"]
        if cfg.mlp == "moe":
            out[f"{t}.ffn_gate_inp.weight"] = state[f"{s}.mlp.router.weight"]
            for mine, theirs in (("gate", "ffn_gate_exps"), ("up", "ffn_up_exps"), ("proj", "ffn_down_exps")):
                out[f"{t}.{theirs}.weight"] = torch.stack([state[f"{s}.mlp.experts.{e}.{mine}.weight"] for e in range(cfg.n_experts)])
        elif cfg.mlp == "relu2":  # arcee: down(relu(up x)²)
            out[f"{t}.ffn_up.weight"], out[f"{t}.ffn_down.weight"] = state[f"{s}.mlp.fc.weight"], state[f"{s}.mlp.proj.weight"]
        else:
            for mine, theirs in (("gate", "ffn_gate"), ("up", "ffn_up"), ("proj", "ffn_down")):
                out[f"{t}.{theirs}.weight"] = state[f"{s}.mlp.{mine}.weight"]
    return out


def write_gguf(model, tokenizer, path: str | Path, dtype: str = "f32", name: str = "mlm_lab") -> Path:
    """Write `model` and its sentencepiece tokenizer to `path` (a .gguf file)."""
    import gguf
    from sentencepiece import sentencepiece_model_pb2

    cfg = model.config
    check_gguf(cfg, tokenizer, dtype)
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16, "bf16": gguf.LlamaFileType.MOSTLY_BF16}[dtype]
    w = gguf.GGUFWriter(str(path), gguf_architecture(cfg))
    w.add_name(name)
    w.add_context_length(cfg.context_length)
    w.add_embedding_length(cfg.d_model)
    w.add_block_count(cfg.n_layers)
    w.add_feed_forward_length(cfg.d_ff)
    w.add_head_count(cfg.n_heads)
    w.add_head_count_kv(cfg.n_kv_heads)
    w.add_layer_norm_rms_eps(NORM_EPS)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(file_type)
    if cfg.mlp == "moe":
        w.add_expert_count(cfg.n_experts)
        w.add_expert_used_count(cfg.top_k)

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(tokenizer._model)
    w.add_tokenizer_model("llama")
    w.add_token_list([p.piece.encode("utf-8") for p in proto.pieces])
    w.add_token_scores([p.score for p in proto.pieces])
    w.add_token_types([int(p.type) for p in proto.pieces])  # sentencepiece's piece types are GGUF's token types
    w.add_bos_token_id(tokenizer.bos_id)
    w.add_eos_token_id(tokenizer.eos_id)
    w.add_pad_token_id(tokenizer.pad_id)
    w.add_unk_token_id(tokenizer.unk_id)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)  # mlm_lab trains sentencepiece without a dummy prefix
    w.add_remove_extra_whitespaces(False)

    for key, tensor in _tensors(cfg, model.state_dict()).items():
        data = tensor.detach().to("cpu", torch.float32).contiguous().numpy()
        if data.ndim == 1 or dtype == "f32":  # norms stay f32, as llama.cpp's converter keeps them
            w.add_tensor(key, data.astype(np.float32))
        elif dtype == "f16":
            w.add_tensor(key, data.astype(np.float16))
        else:
            w.add_tensor(key, gguf.quants.quantize(data, gguf.GGMLQuantizationType.BF16), raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)
