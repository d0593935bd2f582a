"""The metrics the tasks report: exact match (overall and by answer length), and loss, perplexity and bits per byte."""

import math
from collections import defaultdict


def exact_match(predictions: list[str], answers: list[str]) -> dict[str, float]:
    """`exact_match` over all pairs plus `exact_match_len{L}` for each answer length L."""
    if len(predictions) != len(answers):
        raise ValueError(f"{len(predictions)} predictions for {len(answers)} answers")
    if not answers:
        raise ValueError("exact_match needs at least one answer")
    hits: dict[int, list[bool]] = defaultdict(list)
    for pred, ans in zip(predictions, answers):
        hits[len(ans)].append(pred == ans)
    metrics = {"exact_match": sum(sum(h) for h in hits.values()) / len(answers)}
    for length in sorted(hits):
        metrics[f"exact_match_len{length}"] = sum(hits[length]) / len(hits[length])
    return metrics


def text_metrics(nats: float, scored: int, n_bytes: int) -> dict[str, float]:
    """Loss per scored token, perplexity and bits per byte from total nats (the one definition of each)."""
    loss = nats / max(scored, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "bits_per_byte": nats / max(n_bytes, 1) / math.log(2)}
