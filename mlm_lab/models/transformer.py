"""One decoder-only transformer for GPT-2, Llama and Mixtral: block -> model, read top-down.

A plain nn.Module: it knows nothing of logging, devices, optimizers or files.
"""

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from mlm_lab.models.attention import CausalSelfAttention, KVCache, attention_mask
from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.cross_entropy import cross_entropy, soft_cap
from mlm_lab.models.mlp import GeluMLP, ReLU2, SwiGLU
from mlm_lab.models.moe import MoE
from mlm_lab.models.norms import make_norm
from mlm_lab.models.rope import rope_tables
from mlm_lab.targets import IGNORE_INDEX

_MLPS = {"gelu": GeluMLP, "swiglu": SwiGLU, "relu2": ReLU2, "moe": MoE}


class TransformerBlock(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: TransformerConfig, value_embedding: bool = False):
        super().__init__()
        self.norm_1 = make_norm(cfg.norm, cfg.d_model, cfg.bias)
        self.attn = CausalSelfAttention(cfg, value_embedding)
        self.norm_2 = make_norm(cfg.norm, cfg.d_model, cfg.bias)
        self.mlp = _MLPS[cfg.mlp](cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, rope=None, cache=None, layer=0, mask=None, ve=None):
        x = x + self.drop(self.attn(self.norm_1(x), rope, cache, layer, mask, ve))
        return x + self.drop(self.mlp(self.norm_2(x)))


class Transformer(nn.Module):
    """`forward(idx, targets=None) -> (logits, loss)`; `cache`/`pad` serve incremental decoding."""

    builder = "mlm_lab.models.transformer.from_config"  # the `_target_` that rebuilds a model from model_args()

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = cfg = config
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.d_model) if cfg.positions == "learned" else None
        if cfg.positions == "rope":
            cos, sin = rope_tables(cfg.head_dim, cfg.context_length, cfg.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        ve_layers = cfg.value_embedding_layers
        self.blocks = nn.ModuleList(TransformerBlock(cfg, i in ve_layers) for i in range(cfg.n_layers))
        # value embeddings: a token table per such layer, added to its values (modded-nanogpt, nanochat)
        kv = cfg.n_kv_heads * cfg.head_dim
        self.value_emb = nn.ModuleDict({str(i): nn.Embedding(cfg.vocab_size, kv) for i in ve_layers}) if ve_layers else None
        if cfg.residual_scalars:  # x = a_i * x + b_i * x0 before block i: the plain residual stream at init
            self.resid_lambdas = nn.Parameter(torch.ones(cfg.n_layers))
            self.x0_lambdas = nn.Parameter(torch.zeros(cfg.n_layers))
        self.norm_f = make_norm(cfg.norm, cfg.d_model, cfg.bias)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2: scale residual projections by 1/sqrt(2 * n_layers) so the stream's variance stays put.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))
                if cfg.zero_init_proj:  # each block starts as the identity (modded-nanogpt)
                    nn.init.zeros_(p)
        if cfg.zero_init_head:  # untied (the config checks): the first predictions are uniform
            nn.init.zeros_(self.head.weight)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def model_args(self) -> dict:
        """The `TransformerConfig` fields that rebuild this model (JSON-serialisable)."""
        return self.config.to_dict()

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameters counted once (tied weights once); `non_embedding` leaves out token and position tables."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel() + (self.pos_emb.weight.numel() if self.pos_emb is not None else 0)
            n -= sum(e.weight.numel() for e in self.value_emb.values()) if self.value_emb is not None else 0
        return n

    def new_cache(self, batch_size: int, max_length: int, pad: torch.Tensor | None = None) -> KVCache:
        if max_length > self.config.context_length:
            raise ValueError(self._too_long(max_length))
        p = self.tok_emb.weight
        return KVCache(self.config, batch_size, max_length, p.device, p.dtype, pad)

    def _too_long(self, length: int) -> str:
        return (
            f"sequence of {length} tokens exceeds model.context_length={self.config.context_length}; "
            "shorten the prompt, lower max_new_tokens, or train with a longer model.context_length"
        )

    def _positions(self, T: int, start: int, pad: torch.Tensor, device) -> torch.Tensor:
        """(B, T) positions of left-padded rows: each row counts from its first real token."""
        return (torch.arange(start, start + T, device=device)[None, :] - pad[:, None]).clamp(min=0)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: KVCache | None = None, pad: torch.Tensor | None = None
    ):
        """Logits for `idx` (B, T); with `targets`, the mean cross-entropy over targets != IGNORE_INDEX.

        `pad` (B,) counts each row's left padding; with a `cache`, `idx` continues the cached positions.
        """
        T = idx.shape[1]
        start = cache.length if cache is not None else 0
        if start + T > self.config.context_length:
            raise ValueError(self._too_long(start + T))
        pad = cache.pad if cache is not None and pad is None else pad
        # Without padding, positions are one contiguous range: slice the tables (a view, whose backward
        # is a cheap slice-add) instead of gathering rows (an embedding backward, a scatter).
        pos = slice(start, start + T) if pad is None else self._positions(T, start, pad, idx.device)
        x = self.tok_emb(idx)
        rope = None
        if self.pos_emb is not None:
            x = x + self.pos_emb.weight[pos]
        else:
            cos, sin = self.rope_cos[pos], self.rope_sin[pos]
            rope = (cos, sin) if pad is None else (cos[:, None], sin[:, None])
        x = x0 = self.drop(x)
        mask = attention_mask(pad, start, T, start + T, idx.device)
        for i, block in enumerate(self.blocks):
            if self.config.residual_scalars:
                x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            ve = self.value_emb[str(i)](idx) if self.value_emb is not None and str(i) in self.value_emb else None
            if self.config.gradient_checkpointing and self.training and cache is None:
                x = checkpoint(block, x, rope, None, i, mask, ve, use_reentrant=False)
            else:
                x = block(x, rope, cache, i, mask, ve)
        if cache is not None:
            cache.length += T
        logits = self.head(self.norm_f(x))
        cap = self.config.logit_softcap  # smoothly bounded to (-c, c) (Gemma 2, modded-nanogpt)
        loss = None
        if targets is None:
            if cap is not None:
                logits = soft_cap(logits, cap)
        else:  # chunked, and capped inside the loss; capped logits come back without a gradient
            loss, flat = cross_entropy(logits.flatten(0, 1), targets.flatten(), IGNORE_INDEX, cap)
            logits = flat.view(logits.shape)
            if self.config.mlp == "moe" and self.config.aux_loss_weight > 0:
                loss = loss + self.config.aux_loss_weight * self.aux_loss()
        return logits, loss

    def aux_loss(self) -> torch.Tensor:
        """Mean load-balancing loss of the MoE layers in the last forward (0 without MoE)."""
        losses = [b.mlp.aux_loss for b in self.blocks if isinstance(b.mlp, MoE)]
        return torch.stack(losses).mean() if losses else torch.zeros(())


def from_config(**fields) -> Transformer:
    """Rebuild a model from its `TransformerConfig` fields (what an exported model.json stores)."""
    return Transformer(TransformerConfig(**fields))
