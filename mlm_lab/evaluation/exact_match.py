"""Exact-match accuracy, overall and bucketed by the length of the expected answer."""

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
