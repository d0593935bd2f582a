"""The one config every architecture is built from; `__post_init__` derives and validates."""

import math
from dataclasses import asdict, dataclass

from mlm_lab.errors import check_field_types, require

NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "swiglu", "relu2", "moe")
EXPERT_MLPS = ("swiglu", "relu2")
POSITIONS = ("learned", "rope")


@dataclass
class TransformerConfig:
    vocab_size: int  # supplied by the runner from the tokenizer, never written in YAML
    context_length: int = 256  # longest sequence the model sees (learned positions cannot go past it)
    d_model: int = 128  # width of the residual stream
    n_layers: int = 4  # transformer blocks
    n_heads: int = 4  # query heads; d_model must divide evenly among them
    n_kv_heads: int | None = None  # key/value heads (grouped-query attention); None means n_heads
    d_ff: int | None = None  # MLP hidden width; None: 4 * d_model (gelu, relu2) or 8/3 * d_model rounded to 32 (swiglu, moe)
    norm: str = "layernorm"  # layernorm | rmsnorm
    mlp: str = "gelu"  # gelu | swiglu | relu2 (proj(relu(fc(x))^2), modded-nanogpt, nanochat) | moe
    positions: str = "learned"  # learned (absolute table) | rope (rotary, applied to queries and keys)
    rope_theta: float = 10000.0  # RoPE base frequency
    bias: bool = True  # biases in linear layers and LayerNorms
    dropout: float = 0.0  # dropout on the embeddings and residual branches (and on attention weights, unless set below)
    # dropout on attention weights; None: `dropout`. On CPU any value > 0 sends attention down SDPA's unfused path:
    # half the training tokens/s at the text presets' shape, against 15% for the residual dropout alone
    attention_dropout: float | None = None
    tie_embeddings: bool = True  # share the token embedding with the output head
    n_experts: int = 4  # moe: experts per layer
    top_k: int = 2  # moe: experts each token is routed to
    aux_loss_weight: float = 0.01  # moe: weight of the load-balancing loss added to the training loss
    gradient_checkpointing: bool = False  # recompute block activations in backward to save memory
    # The frontier's options for small models (modded-nanogpt, nanochat), each off by default:
    expert_mlp: str = "swiglu"  # moe: each expert's MLP, swiglu | relu2
    qk_norm: bool = False  # RMS-normalise each head's queries and keys (no weights) before attention
    logit_softcap: float | None = None  # logits = c * tanh(logits / c); null: none (modded-nanogpt 30, nanochat 15)
    zero_init_head: bool = False  # the (untied) output head starts at zero
    zero_init_proj: bool = False  # attention and MLP output projections start at zero: each block starts as the identity
    value_embeddings: bool = False  # every other layer (the last included) adds a token embedding to its values
    residual_scalars: bool = False  # before block i, x = a_i * x + b_i * x0 (x0: the embedded input), a_i = 1, b_i = 0 at init

    def __post_init__(self):
        check_field_types(self, "model")
        for key in ("vocab_size", "context_length", "d_model", "n_layers", "n_heads"):
            value = getattr(self, key)
            require(value > 0, f"model.{key}", f"must be positive, got {value}", f"set model.{key} to a positive integer")
        require(
            self.d_model % self.n_heads == 0,
            "model.d_model",
            f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}",
            "choose model.d_model as a multiple of model.n_heads (e.g. model.n_heads=4 with model.d_model=128)",
        )
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        require(
            0 < self.n_kv_heads <= self.n_heads and self.n_heads % self.n_kv_heads == 0,
            "model.n_kv_heads",
            f"n_kv_heads={self.n_kv_heads} must divide n_heads={self.n_heads}",
            "choose model.n_kv_heads among the divisors of model.n_heads (null for n_heads)",
        )
        for key, choices in (("norm", NORMS), ("mlp", MLPS), ("positions", POSITIONS)):
            value = getattr(self, key)
            require(value in choices, f"model.{key}", f"unknown choice {value!r}", f"use one of {list(choices)}")
        if self.positions == "rope":
            require(
                self.head_dim % 2 == 0, "model.d_model", f"RoPE needs an even head size, got {self.head_dim}", "make d_model / n_heads even"
            )
        if self.d_ff is None:
            gated = self.mlp == "swiglu" or (self.mlp == "moe" and self.expert_mlp == "swiglu")
            self.d_ff = 32 * -(-(8 * self.d_model // 3) // 32) if gated else 4 * self.d_model
        require(self.d_ff > 0, "model.d_ff", f"must be positive, got {self.d_ff}", "set model.d_ff to a positive integer or null")
        require(0.0 <= self.dropout < 1.0, "model.dropout", f"must be in [0, 1), got {self.dropout}", "set model.dropout=0.0")
        if self.attention_dropout is None:
            self.attention_dropout = self.dropout
        p = self.attention_dropout
        require(0.0 <= p < 1.0, "model.attention_dropout", f"must be in [0, 1) or null, got {p}", "set model.attention_dropout=0.0")
        require(
            self.expert_mlp in EXPERT_MLPS, "model.expert_mlp", f"unknown choice {self.expert_mlp!r}", f"use one of {list(EXPERT_MLPS)}"
        )
        cap = self.logit_softcap
        require(
            cap is None or 0 < cap < math.inf, "model.logit_softcap", f"must be positive or null, got {cap}", "set model.logit_softcap=15"
        )
        require(
            not (self.zero_init_head and self.tie_embeddings),
            "model.zero_init_head",
            "a head tied to the token embedding cannot start at zero (the embedding would be zero too)",
            "set model.tie_embeddings=false with it, or model.zero_init_head=false",
        )
        if self.mlp == "moe":
            require(self.n_experts >= 1, "model.n_experts", f"must be >= 1, got {self.n_experts}", "set model.n_experts=4")
            require(
                1 <= self.top_k <= self.n_experts,
                "model.top_k",
                f"top_k={self.top_k} must be between 1 and n_experts={self.n_experts}",
                "set model.top_k=2 (or at most model.n_experts)",
            )
            require(self.aux_loss_weight >= 0, "model.aux_loss_weight", f"must be >= 0, got {self.aux_loss_weight}", "set 0.01")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def approx_parameters(self) -> int:
        """Parameters and position tables to within norms and biases: what allocating the model takes, before it is built."""
        d, kv = self.d_model, self.n_kv_heads * self.head_dim
        expert = (3 if self.expert_mlp == "swiglu" else 2) * d * self.d_ff + d
        mlp = {"gelu": 2 * d * self.d_ff, "swiglu": 3 * d * self.d_ff, "relu2": 2 * d * self.d_ff, "moe": self.n_experts * expert}[self.mlp]
        positions = self.context_length * (d if self.positions == "learned" else self.head_dim)
        embeddings = self.vocab_size * (d * (1 if self.tie_embeddings else 2) + kv * len(self.value_embedding_layers))
        return embeddings + positions + self.n_layers * (2 * d * d + 2 * d * kv + mlp)

    @property
    def value_embedding_layers(self) -> list[int]:
        """Layers that add a value embedding: every other one, counted back from the last (nanochat's choice)."""
        return [i for i in range(self.n_layers) if (self.n_layers - 1 - i) % 2 == 0] if self.value_embeddings else []

    def to_dict(self) -> dict:
        return asdict(self)
