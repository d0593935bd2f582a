"""Architectures and named sizes as builder functions: what the `conf/model/*.yaml` targets call.

`vocab_size` comes from the tokenizer at run time; everything else has a default here.
"""

from mlm_lab.errors import require
from mlm_lab.hardware import memory_bytes
from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.transformer import Transformer

BYTES_PER_PARAMETER = 16  # training in fp32: weights, gradients and AdamW's two moments


def build_transformer(config: TransformerConfig) -> Transformer:
    """The model, once its parameters are known to fit in memory: torch would fail deep inside an allocation, or the OS kill the run."""
    n = config.approx_parameters()
    need, have = n * BYTES_PER_PARAMETER, memory_bytes()
    sizes = ("d_model", "n_layers", "d_ff", "context_length") + (("n_experts",) if config.mlp == "moe" else ())
    require(
        need <= have,
        "model",
        f"{n:.3g} parameters need about {need / 2**30:.3g} GiB to train (weights, gradients, optimizer state), "
        f"more than the {have / 2**30:.3g} GiB of memory here",
        "lower " + ", ".join(f"model.{k} (now {getattr(config, k)})" for k in sizes),
    )
    return Transformer(config)


def gpt2(
    vocab_size: int,
    context_length: int = 256,
    d_model: int = 128,
    n_layers: int = 4,
    n_heads: int = 4,
    d_ff: int | None = None,
    dropout: float = 0.0,
    bias: bool = True,
    tie_embeddings: bool = True,
    gradient_checkpointing: bool = False,
) -> Transformer:
    """GPT-2: LayerNorm, GELU MLP, learned absolute positions, tied embeddings."""
    return build_transformer(
        TransformerConfig(
            vocab_size, context_length, d_model, n_layers, n_heads, None, d_ff, "layernorm", "gelu", "learned",
            bias=bias, dropout=dropout, tie_embeddings=tie_embeddings, gradient_checkpointing=gradient_checkpointing,
        )
    )  # fmt: skip


def llama(
    vocab_size: int,
    context_length: int = 256,
    d_model: int = 128,
    n_layers: int = 4,
    n_heads: int = 4,
    n_kv_heads: int | None = None,
    d_ff: int | None = None,
    rope_theta: float = 10000.0,
    dropout: float = 0.0,
    tie_embeddings: bool = True,
    gradient_checkpointing: bool = False,
) -> Transformer:
    """Llama: RMSNorm, SwiGLU, RoPE, no biases, optional grouped-query attention."""
    return build_transformer(
        TransformerConfig(
            vocab_size, context_length, d_model, n_layers, n_heads, n_kv_heads, d_ff, "rmsnorm", "swiglu", "rope", rope_theta,
            bias=False, dropout=dropout, tie_embeddings=tie_embeddings, gradient_checkpointing=gradient_checkpointing,
        )
    )  # fmt: skip


def mixtral(
    vocab_size: int,
    context_length: int = 256,
    d_model: int = 128,
    n_layers: int = 4,
    n_heads: int = 4,
    n_kv_heads: int | None = None,
    d_ff: int | None = None,
    n_experts: int = 4,
    top_k: int = 2,
    aux_loss_weight: float = 0.01,
    rope_theta: float = 10000.0,
    dropout: float = 0.0,
    tie_embeddings: bool = True,
    gradient_checkpointing: bool = False,
) -> Transformer:
    """Mixtral: the Llama backbone with top-k routed SwiGLU experts and a load-balancing loss."""
    return build_transformer(
        TransformerConfig(
            vocab_size, context_length, d_model, n_layers, n_heads, n_kv_heads, d_ff, "rmsnorm", "moe", "rope", rope_theta,
            bias=False, dropout=dropout, tie_embeddings=tie_embeddings, n_experts=n_experts, top_k=top_k,
            aux_loss_weight=aux_loss_weight, gradient_checkpointing=gradient_checkpointing,
        )
    )  # fmt: skip


# llama2.c's published TinyStories models (github.com/karpathy/llama2.c, "Models" table).
# The 260K model rounds its SwiGLU width to a multiple of 4 (172), not of 32: that is what makes 260K parameters.
LLAMA2C_260K = dict(context_length=512, d_model=64, n_layers=5, n_heads=8, n_kv_heads=4, d_ff=172)
LLAMA2C_15M = dict(context_length=256, d_model=288, n_layers=6, n_heads=6, n_kv_heads=6)


def _named(size: dict, vocab_size: int, overrides: dict) -> Transformer:
    args = {**size, **{k: v for k, v in overrides.items() if v is not None}}
    if args["n_heads"] != size["n_heads"]:  # keep the named size's query-to-kv-head ratio
        ratio = size["n_heads"] // size["n_kv_heads"]
        args["n_kv_heads"] = args["n_heads"] // ratio if args["n_heads"] % ratio == 0 else args["n_heads"]
    return llama(vocab_size, **args)


def llama2c_260k(
    vocab_size: int, context_length: int | None = None, d_model: int | None = None, n_layers: int | None = None, n_heads: int | None = None
) -> Transformer:
    """llama2.c 260K shape (vocab 512 in the original); None keeps the named size's value."""
    return _named(LLAMA2C_260K, vocab_size, dict(context_length=context_length, d_model=d_model, n_layers=n_layers, n_heads=n_heads))


def llama2c_15m(
    vocab_size: int, context_length: int | None = None, d_model: int | None = None, n_layers: int | None = None, n_heads: int | None = None
) -> Transformer:
    """llama2.c 15M shape (vocab 32000 in the original); None keeps the named size's value."""
    return _named(LLAMA2C_15M, vocab_size, dict(context_length=context_length, d_model=d_model, n_layers=n_layers, n_heads=n_heads))
