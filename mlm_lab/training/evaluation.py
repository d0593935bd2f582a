"""Periodic evaluation during training: mean loss, the task's metrics on a split, and samples text."""

import torch


@torch.no_grad()
def evaluate_loss(model, batches, hardware) -> float:
    """Mean loss per scored target token over `batches`."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in batches:
        x, y = x.to(hardware.torch_device), y.to(hardware.torch_device)
        with hardware.autocast():
            _, loss = model(x, y)
        n = int((y >= 0).sum())
        if n:  # a batch with nothing to score has a NaN mean loss
            total += float(loss) * n
        count += n
    model.train(was_training)
    return total / max(count, 1)


def evaluate_split(model, task, predictor, split: str, hardware) -> dict[str, float]:
    """Everything the task measures on `split`: loss, the task's loss-based metrics, then its generation metrics."""
    loss = evaluate_loss(model, task.batches(split), hardware)
    return {"loss": loss, **task.loss_metrics(loss, split), **task.evaluate(predictor, split)}


def samples_text(prompts: list[str], completions: list[str]) -> str:
    """Prompts and their completions, one block each, as the samples artifacts show them."""
    return "".join(f"=== {p!r}\n{p}{c}\n\n" for p, c in zip(prompts, completions))
