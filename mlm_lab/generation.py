"""Token generation and the Predictor that turns user prompts into user-facing completions."""

import math
import numbers
from dataclasses import dataclass, fields

import torch

from mlm_lab.errors import check_type, require

# Bounds on one request's work: past them a request would hold a server for hours or exhaust its memory.
MAX_NEW_TOKENS = 1 << 16
MAX_NUM_SAMPLES = 1024


@dataclass
class GenerationParams:
    max_new_tokens: int = 32  # tokens to generate at most per prompt, 1 .. MAX_NEW_TOKENS
    temperature: float = 0.0  # 0 means greedy decoding
    top_k: int | None = None  # sample among the k most likely tokens only
    top_p: float | None = None  # sample from the smallest set of tokens whose probability reaches p
    seed: int | None = None  # seed for reproducible sampling; any integer, used modulo 2**64
    num_samples: int = 1  # completions per prompt, 1 .. MAX_NUM_SAMPLES
    stop: list[str] | None = None  # cut each completion at the first of these strings
    use_cache: bool = True  # KV cache: feed one new token per step instead of the whole sequence

    def __post_init__(self):
        # types first, so that a string gets a message about its type, not a TypeError from a comparison below
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and f.type in (float, float | None):
                try:
                    value = float(value)
                except OverflowError:  # an int beyond any float, such as 10**400
                    value = math.inf if value > 0 else -math.inf
            elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
                value = int(value)  # numpy and torch integers
            setattr(self, f.name, value)
            if f.name != "stop":
                check_type(value, f.type, f.name)
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        if self.stop is not None:
            stop = self.stop.tolist() if hasattr(self.stop, "tolist") else self.stop
            require(
                isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop),
                "stop",
                f"must be a string or a list of strings, got {short_repr(self.stop)}",
                'pass e.g. stop=["\\n"] or leave it unset',
            )
            self.stop = list(stop)
        require(
            1 <= self.max_new_tokens <= MAX_NEW_TOKENS,
            "max_new_tokens",
            f"must be in [1, {MAX_NEW_TOKENS}], got {self.max_new_tokens}",
            f"pass max_new_tokens between 1 and {MAX_NEW_TOKENS} (continue a longer text with another request)",
        )
        require(
            math.isfinite(self.temperature) and self.temperature >= 0,
            "temperature",
            f"must be a finite number >= 0, got {self.temperature}",
            "pass temperature=0 for greedy decoding, or e.g. 0.8 to sample",
        )
        require(self.top_k is None or self.top_k > 0, "top_k", f"must be positive, got {self.top_k}", "pass top_k >= 1 or leave it unset")
        require(
            self.top_p is None or 0 < self.top_p <= 1,
            "top_p",
            f"must be in (0, 1], got {self.top_p}",
            "pass top_p in (0, 1] or leave it unset",
        )
        require(
            1 <= self.num_samples <= MAX_NUM_SAMPLES,
            "num_samples",
            f"must be in [1, {MAX_NUM_SAMPLES}], got {self.num_samples}",
            f"pass num_samples between 1 and {MAX_NUM_SAMPLES}",
        )


def short_repr(value, limit: int = 80) -> str:
    """repr of a user value, cut so that a huge prompt does not become a huge error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_prompts(prompts, what: str = "prompts") -> list[str]:
    """`prompts` as a list of strings, or a TypeError naming the first thing that is not one."""
    if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)):
        raise TypeError(f"{what}: expected a list of strings, got {type(prompts).__name__} {short_repr(prompts)}. Fix: pass [text, ...]")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"{what}[{i}]: expected a string, got {type(p).__name__} {short_repr(p)}. Fix: pass every prompt as a str")
    return list(prompts)


def _next_token(logits: torch.Tensor, p: GenerationParams, generator: torch.Generator | None) -> torch.Tensor:
    if p.temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    # shift so the best logit is 0 before dividing: a tiny temperature then sends the others to -inf
    # (near-greedy) instead of sending the best to +inf, whose softmax is NaN
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    logits = torch.where(shifted == 0, 0.0, shifted / p.temperature)
    if p.top_k is not None:
        kth = torch.topk(logits, min(p.top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if p.top_p is not None:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # keep a token while the mass before it is below top_p, and always the most likely token (a top_p
        # below float32's smallest number compares as 0, which would otherwise drop every token)
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= p.top_p
        drop[:, 0] = False
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)


def _window_forward(model, idx: torch.Tensor, pad: torch.Tensor, context: int):
    """Forward the last `context` tokens of each row; padding that slid out of the window is forgotten."""
    drop = max(idx.shape[1] - context, 0)
    pad = (pad - drop).clamp(min=0)
    return model(idx[:, drop:], pad=pad if bool(pad.any()) else None)


def left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack token lists right-aligned: (B, T) ids and (B,) counts of padding per row."""
    width = max(map(len, rows))
    idx = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    for i, row in enumerate(rows):
        idx[i, width - len(row) :] = torch.tensor(row, dtype=torch.long, device=device)
    return idx, torch.tensor([width - len(r) for r in rows], device=device)


@torch.no_grad()
def generate(model, rows: list[list[int]], params: GenerationParams, eos_id: int | None = None, pad_id: int = 0) -> list[list[int]]:
    """New tokens for each prompt in `rows` (lists of ids, any lengths), decoded together as one batch.

    Prompts are left-padded, and padding is masked out, so a prompt gets the same tokens alone or in a batch.
    A row stops at `eos_id` (kept out of the result). With `use_cache`, each step feeds only the new token.
    Prompt plus new tokens may exceed the model's context: then each step sees the last `context_length` tokens.
    """
    device = next(model.parameters()).device
    idx, pad = left_pad(rows, pad_id, device)
    context = model.config.context_length
    total = idx.shape[1] + params.max_new_tokens
    # Past the context, the oldest tokens slide out of the window (as in nanoGPT): no KV cache then.
    use_cache = params.use_cache and total <= context
    generator = torch.Generator(device=device).manual_seed(params.seed % 2**64) if params.seed is not None else None
    cache = model.new_cache(len(rows), total, pad if bool(pad.any()) else None) if use_cache else None
    logits, _ = model(idx, cache=cache) if use_cache else _window_forward(model, idx, pad, context)
    out, done = [], torch.zeros(len(rows), dtype=torch.bool, device=device)
    for step in range(params.max_new_tokens):
        nxt = _next_token(logits[:, -1, :].float(), params, generator)
        if eos_id is not None:
            nxt = nxt.masked_fill(done.unsqueeze(1), eos_id)
            done |= nxt.squeeze(1) == eos_id
        out.append(nxt)
        if (eos_id is not None and bool(done.all())) or step == params.max_new_tokens - 1:
            break
        if use_cache:
            logits, _ = model(nxt, cache=cache)
        else:
            idx = torch.cat([idx, nxt], dim=1)
            logits, _ = _window_forward(model, idx, pad, context)
    new = torch.cat(out, dim=1).tolist()
    return [row[: row.index(eos_id)] if eos_id is not None and eos_id in row else row for row in new]


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    """Text up to the first occurrence of any stop string."""
    for s in stop or []:
        if s and s in text:
            text = text[: text.index(s)]
    return text
