"""Plain prompts in, plain completions (or scores) out: a model, its tokenizer and its task's text format together."""

from dataclasses import fields

from mlm_lab.errors import ConfigError
from mlm_lab.evaluation.scoring import score_documents
from mlm_lab.generation import GenerationParams, check_prompts, cut_at_stop, generate


class Predictor:
    """Plain prompts in, plain completions out: applies the task's text format around generation."""

    def __init__(self, model, tokenizer, text_format, defaults: dict | None = None):
        self.model = model  # generation runs on whatever device the model's parameters are on
        self.tokenizer = tokenizer
        self.text_format = text_format
        self.defaults = dict(defaults or {})

    def params(self, **overrides) -> GenerationParams:
        """Generation parameters: the model's defaults, then the non-None overrides."""
        known = [f.name for f in fields(GenerationParams)]
        unknown = sorted(k for k in overrides if k not in known)
        if unknown:
            raise ConfigError(f"generation parameters: unknown {unknown}. Fix: use only {known}")
        merged = {**self.defaults, **{k: v for k, v in overrides.items() if v is not None}}
        return GenerationParams(**merged)

    def score(self, documents: list[str], stride: int | None = None) -> dict[str, float]:
        """Loss, perplexity and bits per byte of `documents` (see `evaluation/scoring.py` for the windowing)."""
        return score_documents(self.model, self.tokenizer, check_prompts(documents, "documents"), stride=stride)

    def complete(self, prompts: list[str], batch_size: int = 256, **overrides) -> list[str]:
        """One completion per prompt, or `num_samples` per prompt in a row (prompt 0's samples first)."""
        params = self.params(**overrides)
        tok = self.tokenizer
        context = self.model.config.context_length
        # the model only ever sees the last `context` tokens (nanoGPT's idx[:, -block_size:]); cropping here
        # also keeps a huge prompt from costing memory for every sample and every batch row
        encoded = [([tok.bos_id] + tok.encode(self.text_format.prompt_to_model(p)))[-context:] for p in check_prompts(prompts)]
        encoded = [row for row in encoded for _ in range(params.num_samples)]
        # sort by length so each batch pads little; results go back in the callers' order
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[str] = [""] * len(encoded)
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                new = generate(self.model, [encoded[i] for i in chunk], params, eos_id=tok.eos_id, pad_id=tok.pad_id)
                for i, row in zip(chunk, new):
                    # decode prompt and continuation together: tokenizers that mark word starts (sentencepiece's
                    # "▁the") drop the space when a continuation is decoded on its own (decode drops the <bos>)
                    text = tok.decode(encoded[i] + row)[len(tok.decode(encoded[i])) :]
                    results[i] = cut_at_stop(self.text_format.answer_from_model(text), params.stop)
        finally:
            self.model.train(was_training)
        return results
