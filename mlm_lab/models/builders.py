"""Architectures and named sizes as builder functions: what the `conf/model/*.yaml` targets call.

`vocab_size` comes from the tokenizer at run time; everything else has a default here. Each builder
also offers `.config(...)`, the TransformerConfig it would build, so a caller (the runner) can size
the model before a single tensor is allocated.
"""

import functools
import inspect
import logging

from mlm_lab.errors import ConfigError
from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.transformer import Transformer

log = logging.getLogger(__name__)


def model_builder(make_config):
    """Turn `make_config(vocab_size, ...) -> TransformerConfig` into a builder of the Transformer, with `.config` kept."""

    @functools.wraps(make_config)
    def builder(*args, **kwargs) -> Transformer:
        return Transformer(make_config(*args, **kwargs))

    builder.__signature__ = inspect.signature(make_config).replace(return_annotation=Transformer)
    builder.config = make_config
    return builder


def planned_config(factory, vocab_size: int) -> TransformerConfig | None:
    """The config `factory(vocab_size=...)` will build (factory: a builder or a partial of one); None for other callables."""
    func = getattr(factory, "func", factory)
    make_config = getattr(func, "config", None)
    if make_config is None:
        return None
    return make_config(*getattr(factory, "args", ()), **{**getattr(factory, "keywords", {}), "vocab_size": vocab_size})


@model_builder
def gpt2(
    vocab_size: int,
    context_length: int = 256,
    d_model: int = 128,
    n_layers: int = 4,
    n_heads: int = 4,
    d_ff: int | None = None,
    dropout: float = 0.0,
    attention_dropout: float | None = None,
    bias: bool = True,
    tie_embeddings: bool = True,
    gradient_checkpointing: bool = False,
    mlp: str = "gelu",
    qk_norm: bool = False,
    logit_softcap: float | None = None,
    zero_init_head: bool = False,
    zero_init_proj: bool = False,
    value_embeddings: bool = False,
    residual_scalars: bool = False,
) -> TransformerConfig:
    """GPT-2: LayerNorm, GELU MLP, learned absolute positions, tied embeddings; the options of `TransformerConfig` off."""
    return TransformerConfig(
        vocab_size, context_length, d_model, n_layers, n_heads, None, d_ff, "layernorm", mlp, "learned",
        bias=bias, dropout=dropout, attention_dropout=attention_dropout, tie_embeddings=tie_embeddings,
        gradient_checkpointing=gradient_checkpointing,
        qk_norm=qk_norm, logit_softcap=logit_softcap, zero_init_head=zero_init_head, zero_init_proj=zero_init_proj,
        value_embeddings=value_embeddings, residual_scalars=residual_scalars,
    )  # fmt: skip


@model_builder
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
    attention_dropout: float | None = None,
    tie_embeddings: bool = True,
    gradient_checkpointing: bool = False,
    mlp: str = "swiglu",
    qk_norm: bool = False,
    logit_softcap: float | None = None,
    zero_init_head: bool = False,
    zero_init_proj: bool = False,
    value_embeddings: bool = False,
    residual_scalars: bool = False,
) -> TransformerConfig:
    """Llama: RMSNorm, SwiGLU, RoPE, no biases, optional grouped-query attention; the options of `TransformerConfig` off."""
    return TransformerConfig(
        vocab_size, context_length, d_model, n_layers, n_heads, n_kv_heads, d_ff, "rmsnorm", mlp, "rope", rope_theta,
        bias=False, dropout=dropout, attention_dropout=attention_dropout, tie_embeddings=tie_embeddings,
        gradient_checkpointing=gradient_checkpointing,
        qk_norm=qk_norm, logit_softcap=logit_softcap, zero_init_head=zero_init_head, zero_init_proj=zero_init_proj,
        value_embeddings=value_embeddings, residual_scalars=residual_scalars,
    )  # fmt: skip


# Llama's signature with `mlp` defaulting to relu2, so the config checks and `--cfg job` see every argument.
_MODERN_SIGNATURE = inspect.signature(llama.config).replace(
    parameters=[p.replace(default="relu2") if p.name == "mlp" else p for p in inspect.signature(llama.config).parameters.values()]
)


def _modern_config(*args, **kwargs) -> TransformerConfig:
    """Llama with the block options that measured a gain on this CPU (bench/recipe_ablation.py): a ReLU² MLP."""
    bound = _MODERN_SIGNATURE.bind(*args, **kwargs)
    bound.apply_defaults()
    return llama.config(**bound.arguments)


_modern_config.__signature__ = _MODERN_SIGNATURE
modern = model_builder(_modern_config)
modern.__name__ = modern.__qualname__ = "modern"


@model_builder
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
    attention_dropout: float | None = None,
    tie_embeddings: bool = True,
    gradient_checkpointing: bool = False,
    expert_mlp: str = "swiglu",
    qk_norm: bool = False,
    logit_softcap: float | None = None,
    zero_init_head: bool = False,
    zero_init_proj: bool = False,
    value_embeddings: bool = False,
    residual_scalars: bool = False,
) -> TransformerConfig:
    """Mixtral: the Llama backbone with top-k routed SwiGLU experts and a load-balancing loss; the options off."""
    return TransformerConfig(
        vocab_size, context_length, d_model, n_layers, n_heads, n_kv_heads, d_ff, "rmsnorm", "moe", "rope", rope_theta,
        bias=False, dropout=dropout, attention_dropout=attention_dropout, tie_embeddings=tie_embeddings, n_experts=n_experts,
        top_k=top_k,
        aux_loss_weight=aux_loss_weight, gradient_checkpointing=gradient_checkpointing, expert_mlp=expert_mlp,
        qk_norm=qk_norm, logit_softcap=logit_softcap, zero_init_head=zero_init_head, zero_init_proj=zero_init_proj,
        value_embeddings=value_embeddings, residual_scalars=residual_scalars,
    )  # fmt: skip


# llama2.c's published TinyStories models (github.com/karpathy/llama2.c, "Models" table).
# The 260K model rounds its SwiGLU width to a multiple of 4 (172), not of 32: that is what makes 260K parameters.
LLAMA2C_260K = dict(context_length=512, d_model=64, n_layers=5, n_heads=8, n_kv_heads=4, d_ff=172)
LLAMA2C_15M = dict(context_length=256, d_model=288, n_layers=6, n_heads=6, n_kv_heads=6)


def _named(size: dict, vocab_size: int, overrides: dict) -> TransformerConfig:
    """The named size with the caller's values (None keeps the size's).

    `n_kv_heads` None follows one stated rule, never a silent one: with the named size's `n_heads` it is the size's
    `n_kv_heads`; with other heads it keeps the size's query-to-kv-head ratio (`n_heads // ratio`, or `n_heads` when
    that ratio does not divide them). The value it gives is logged here and in the run's params (`model.n_kv_heads`);
    a value the caller sets is used as it is.
    """
    args = {**size, **{k: v for k, v in overrides.items() if v is not None}}
    heads = args["n_heads"]
    if overrides.get("n_kv_heads") is None and heads != size["n_heads"] and isinstance(heads, int) and heads > 0:
        ratio = size["n_heads"] // size["n_kv_heads"]
        args["n_kv_heads"] = heads // ratio if heads % ratio == 0 else heads
        log.info(
            "model.n_kv_heads is null: %d kv heads for model.n_heads=%d (the named size's %d:%d ratio); set model.n_kv_heads to choose",
            args["n_kv_heads"], heads, size["n_heads"], size["n_kv_heads"],
        )  # fmt: skip
    return llama.config(vocab_size, **args)


@model_builder
def llama2c_260k(
    vocab_size: int,
    context_length: int | None = None,
    d_model: int | None = None,
    n_layers: int | None = None,
    n_heads: int | None = None,
    n_kv_heads: int | None = None,
    d_ff: int | None = None,
) -> TransformerConfig:
    """llama2.c 260K shape (vocab 512 in the original); None keeps the named size's value."""
    given = dict(context_length=context_length, d_model=d_model, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads, d_ff=d_ff)
    return _named(LLAMA2C_260K, vocab_size, given)


@model_builder
def llama2c_15m(
    vocab_size: int,
    context_length: int | None = None,
    d_model: int | None = None,
    n_layers: int | None = None,
    n_heads: int | None = None,
    n_kv_heads: int | None = None,
    d_ff: int | None = None,
) -> TransformerConfig:
    """llama2.c 15M shape (vocab 32000 in the original); None keeps the named size's value."""
    given = dict(context_length=context_length, d_model=d_model, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads, d_ff=d_ff)
    return _named(LLAMA2C_15M, vocab_size, given)


@model_builder
def imported(vocab_size: int, n_vocab: int, **fields) -> TransformerConfig:
    """An architecture read from another tool's folder (`trainer.init_from=hf:DIR`), every field given.

    `n_vocab` (the embedding's rows) is the folder's; the tokenizer's `vocab_size` must fit in it (published models
    often pad their embeddings past the tokenizer's ids).
    """
    if vocab_size > n_vocab:
        raise ConfigError(
            f"trainer.init_from: the imported tokenizer has {vocab_size} ids but the model's embedding only {n_vocab} rows. "
            "Fix: import a folder whose tokenizer belongs to its model"
        )
    return TransformerConfig(n_vocab, **fields)
