"""Training FLOPs per token, the compute axis runs of different sizes are compared on.

6 FLOPs per weight a token is multiplied by (2 forward, 4 backward), counted from the model's
`nn.Linear` layers, so every architecture and option is covered: the attention and MLP projections,
an MoE's router and only its `top_k` of `n_experts` experts (a token visits no others), and the output
head (a tied head too: it is a matmul even when it shares the embedding's weights). Embedding
lookups, norms and scalars cost no matmul and are left out. Attention's score and value products add
12 x layers x (heads x head size) x T per token, T the sequence length: PaLM's count (appendix B),
which nanoGPT's `estimate_mfu` uses, without halving for the causal mask.
"""

from torch import nn

from mlm_lab.models.moe import MoE


def active_matmul_weights(model: nn.Module) -> float:
    """Weights each token is multiplied by: every Linear's, an MoE's experts scaled by top_k / n_experts."""
    expert_share = {f"{name}.experts.": m.top_k / m.n_experts for name, m in model.named_modules() if isinstance(m, MoE)}
    total = 0.0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            share = next((s for prefix, s in expert_share.items() if name.startswith(prefix)), 1.0)
            total += share * module.weight.numel()
    return total


def flops_per_token(model: nn.Module, sequence_length: int | None = None) -> float:
    """Training FLOPs per token of `model` (forward and backward) on sequences of `sequence_length` (default: its context)."""
    cfg = model.config
    length = sequence_length or cfg.context_length
    return 6.0 * active_matmul_weights(model) + 12.0 * cfg.n_layers * cfg.n_heads * cfg.head_dim * length
