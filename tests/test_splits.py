"""Periodic evaluation: the mean loss per scored token, a split's metrics, the samples text, the split check."""

import pytest
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.evaluation.splits import evaluate_loss, samples_text, score_split
from mlm_lab.hardware import Hardware
from mlm_lab.models.transformer import from_config
from mlm_lab.targets import IGNORE_INDEX

CPU = Hardware(device="cpu")


def tiny_model():
    torch.manual_seed(0)
    return from_config(vocab_size=9, context_length=8, d_model=16, n_layers=1, n_heads=2)


def test_mean_loss_weights_batches_by_their_scored_tokens_and_restores_training_mode():
    model = tiny_model().train()
    x = torch.randint(0, 9, (2, 6))
    y = torch.randint(0, 9, (2, 6))
    few = y.clone()
    few[:, 2:] = IGNORE_INDEX  # 4 scored tokens
    nothing = torch.full_like(y, IGNORE_INDEX)  # a batch with nothing to score adds nothing (not a NaN)
    loss = evaluate_loss(model, [(x, y), (x, few), (x, nothing)], CPU)
    assert model.training
    with torch.no_grad():
        model.eval()
        full, part = float(model(x, y)[1]), float(model(x, few)[1])
    assert loss == pytest.approx((full * 12 + part * 4) / 16, rel=1e-5)
    assert evaluate_loss(model, [(x, nothing)], CPU) == 0.0


def test_samples_text_shows_each_prompt_then_its_completion():
    assert samples_text(["12+3=", "a\n"], ["15", " b"]) == "=== '12+3='\n12+3=15\n\n=== 'a\\n'\na\n b\n\n"


class TwoSplits:
    split_names = ("train", "val")
    held_out_splits = ()


def test_score_split_refuses_a_split_the_task_lacks():
    with pytest.raises(ConfigError, match=r"^split: is 'test' but this task has the splits \['train', 'val'\].*data\.path=FILE"):
        score_split(None, TwoSplits(), "test", CPU)
