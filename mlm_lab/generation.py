"""Token generation and the Predictor that turns user prompts into user-facing completions."""

from dataclasses import dataclass

import torch

from mlm_lab.errors import require


@dataclass
class GenerationParams:
    max_new_tokens: int = 32  # tokens to generate at most per prompt
    temperature: float = 0.0  # 0 means greedy decoding
    top_k: int | None = None  # sample among the k most likely tokens only
    top_p: float | None = None  # sample from the smallest set of tokens whose probability reaches p
    seed: int | None = None  # seed for reproducible sampling

    def __post_init__(self):
        require(self.max_new_tokens > 0, "max_new_tokens", f"must be positive, got {self.max_new_tokens}", "pass max_new_tokens >= 1")
        require(self.temperature >= 0, "temperature", f"must be >= 0, got {self.temperature}", "pass temperature=0 for greedy decoding")
        require(self.top_k is None or self.top_k > 0, "top_k", f"must be positive, got {self.top_k}", "pass top_k >= 1 or leave it unset")
        require(
            self.top_p is None or 0 < self.top_p <= 1,
            "top_p",
            f"must be in (0, 1], got {self.top_p}",
            "pass top_p in (0, 1] or leave it unset",
        )


def _next_token(logits: torch.Tensor, p: GenerationParams, generator: torch.Generator | None) -> torch.Tensor:
    if p.temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / p.temperature
    if p.top_k is not None:
        kth = torch.topk(logits, min(p.top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if p.top_p is not None:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # keep a token while the mass before it is below top_p, so the most likely token always stays
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= p.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)


@torch.no_grad()
def generate(model, idx: torch.Tensor, params: GenerationParams, eos_id: int | None = None) -> torch.Tensor:
    """Extend each row of `idx` (equal-length prompts) by up to `max_new_tokens` tokens; returns new tokens only.

    Rows that produced `eos_id` keep producing `eos_id`, and decoding stops once every row has.
    """
    context = model.config.context_length
    generator = None
    if params.seed is not None:
        generator = torch.Generator(device=idx.device).manual_seed(params.seed)
    out = idx
    done = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
    for _ in range(params.max_new_tokens):
        logits, _ = model(out[:, -context:])
        nxt = _next_token(logits[:, -1, :].float(), params, generator)
        if eos_id is not None:
            nxt = nxt.masked_fill(done.unsqueeze(1), eos_id)
            done |= nxt.squeeze(1) == eos_id
        out = torch.cat([out, nxt], dim=1)
        if eos_id is not None and bool(done.all()):
            break
    return out[:, idx.shape[1] :]


class Predictor:
    """Plain prompts in, plain completions out: applies the task's text format around generation."""

    def __init__(self, model, tokenizer, text_format, device: torch.device | str = "cpu", defaults: dict | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.text_format = text_format
        self.device = torch.device(device)
        self.defaults = dict(defaults or {})

    def params(self, **overrides) -> GenerationParams:
        """Generation parameters: the model's defaults, then the non-None overrides."""
        merged = {**self.defaults, **{k: v for k, v in overrides.items() if v is not None}}
        return GenerationParams(**merged)

    def complete(self, prompts: list[str], batch_size: int = 1024, **overrides) -> list[str]:
        params = self.params(**overrides)
        tok = self.tokenizer
        encoded = [[tok.bos_id] + tok.encode(self.text_format.prompt_to_model(p)) for p in prompts]
        results: list[str] = [""] * len(prompts)
        by_length: dict[int, list[int]] = {}
        for i, ids in enumerate(encoded):
            by_length.setdefault(len(ids), []).append(i)
        was_training = self.model.training
        self.model.eval()
        try:
            for indices in by_length.values():
                for start in range(0, len(indices), batch_size):
                    chunk = indices[start : start + batch_size]
                    idx = torch.tensor([encoded[i] for i in chunk], device=self.device)
                    new = generate(self.model, idx, params, eos_id=tok.eos_id).tolist()
                    for i, row in zip(chunk, new):
                        if tok.eos_id in row:
                            row = row[: row.index(tok.eos_id)]
                        results[i] = self.text_format.answer_from_model(tok.decode(row))
        finally:
            self.model.train(was_training)
        return results
