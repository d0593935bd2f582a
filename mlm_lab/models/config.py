"""The one config every architecture is built from; `__post_init__` derives and validates."""

from dataclasses import asdict, dataclass

from mlm_lab.errors import check_field_types, require

NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "swiglu", "moe")
POSITIONS = ("learned", "rope")


@dataclass
class TransformerConfig:
    vocab_size: int  # supplied by the runner from the tokenizer, never written in YAML
    context_length: int = 256  # longest sequence the model sees (learned positions cannot go past it)
    d_model: int = 128  # width of the residual stream
    n_layers: int = 4  # transformer blocks
    n_heads: int = 4  # query heads; d_model must divide evenly among them
    n_kv_heads: int | None = None  # key/value heads (grouped-query attention); None means n_heads
    d_ff: int | None = None  # MLP hidden width; None: 4 * d_model (gelu) or 8/3 * d_model rounded to 32 (swiglu, moe)
    norm: str = "layernorm"  # layernorm | rmsnorm
    mlp: str = "gelu"  # gelu | swiglu | moe
    positions: str = "learned"  # learned (absolute table) | rope (rotary, applied to queries and keys)
    rope_theta: float = 10000.0  # RoPE base frequency
    bias: bool = True  # biases in linear layers and LayerNorms
    dropout: float = 0.0  # dropout on attention weights and residual branches
    tie_embeddings: bool = True  # share the token embedding with the output head
    n_experts: int = 4  # moe: experts per layer
    top_k: int = 2  # moe: experts each token is routed to
    aux_loss_weight: float = 0.01  # moe: weight of the load-balancing loss added to the training loss
    gradient_checkpointing: bool = False  # recompute block activations in backward to save memory

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
            self.d_ff = 4 * self.d_model if self.mlp == "gelu" else 32 * -(-(8 * self.d_model // 3) // 32)
        require(self.d_ff > 0, "model.d_ff", f"must be positive, got {self.d_ff}", "set model.d_ff to a positive integer or null")
        require(0.0 <= self.dropout < 1.0, "model.dropout", f"must be in [0, 1), got {self.dropout}", "set model.dropout=0.0")
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
        mlp = {"gelu": 2 * d * self.d_ff, "swiglu": 3 * d * self.d_ff, "moe": self.n_experts * (3 * d * self.d_ff + d)}[self.mlp]
        positions = self.context_length * (d if self.positions == "learned" else self.head_dim)
        embeddings = self.vocab_size * d * (1 if self.tie_embeddings else 2)
        return embeddings + positions + self.n_layers * (2 * d * d + 2 * d * kv + mlp)

    def to_dict(self) -> dict:
        return asdict(self)
