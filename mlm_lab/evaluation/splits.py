"""Periodic evaluation during training: mean loss, the task's metrics on a split, and samples text."""

import torch

from mlm_lab.errors import require


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


def score_split(predictor, task, split: str | None, hardware) -> tuple[str, dict[str, float]]:
    """Evaluate `predictor` on a split of a task set up with its tokenizer; None picks test, else val."""
    split = split or (task.held_out_splits[0] if task.held_out_splits else "val")
    require(
        split in task.split_names,
        "split",
        f"is {split!r} but this task has the splits {list(task.split_names)}",
        "pick one of them, or score a text file with data.path=FILE",
    )
    return split, evaluate_split(predictor.model, task, predictor, split, hardware)
