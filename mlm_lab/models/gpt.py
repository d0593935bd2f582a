"""A small GPT-style decoder-only transformer, read top-down: attention -> MLP -> block -> model.

A plain nn.Module: it knows nothing of logging, devices, optimizers or files.
"""

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mlm_lab.errors import check_field_types, require

IGNORE_INDEX = -1  # target value that the loss skips (padding, prompt tokens)


@dataclass
class GPTConfig:
    vocab_size: int  # supplied by the runner from the tokenizer, never written in YAML
    context_length: int = 64  # longest sequence the learned position table covers
    d_model: int = 128  # width of the residual stream
    n_layers: int = 3  # transformer blocks
    n_heads: int = 4  # attention heads; d_model must divide evenly among them
    d_ff: int | None = None  # MLP hidden width; None means 4 * d_model
    dropout: float = 0.0  # dropout on attention weights and residual branches
    bias: bool = True  # biases in linear layers and LayerNorms
    tie_embeddings: bool = True  # share the token embedding with the output head

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
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        require(self.d_ff > 0, "model.d_ff", f"must be positive, got {self.d_ff}", "set model.d_ff to a positive integer or null")
        require(0.0 <= self.dropout < 1.0, "model.dropout", f"must be in [0, 1), got {self.dropout}", "set model.dropout=0.0")


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))


class GPT(nn.Module):
    """Decoder-only transformer; `forward(idx, targets=None) -> (logits, loss)`."""

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__()
        self.config = GPTConfig(vocab_size=vocab_size, **kwargs)
        cfg = self.config
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2: scale residual projections by 1/sqrt(2 * n_layers) so the stream's variance stays put.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def model_args(self) -> dict:
        """The constructor arguments that rebuild this model (JSON-serialisable)."""
        return asdict(self.config)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        T = idx.shape[1]
        if T > self.config.context_length:
            raise ValueError(
                f"sequence of {T} tokens exceeds model.context_length={self.config.context_length}; "
                "raise model.context_length or shorten the input"
            )
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX)
        return logits, loss
