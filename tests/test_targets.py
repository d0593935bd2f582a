"""IGNORE_INDEX: targets with this value cost nothing in the model's loss."""

import torch

from mlm_lab.models.transformer import from_config
from mlm_lab.targets import IGNORE_INDEX


def test_ignored_targets_do_not_count_in_the_loss():
    torch.manual_seed(0)
    model = from_config(vocab_size=7, context_length=8, d_model=16, n_layers=1, n_heads=2).eval()
    x = torch.randint(0, 7, (1, 6))
    y = torch.randint(0, 7, (1, 6))
    masked = y.clone()
    masked[0, :3] = IGNORE_INDEX
    logits, loss = model(x, masked)
    expected = torch.nn.functional.cross_entropy(logits[0, 3:], y[0, 3:])
    assert IGNORE_INDEX < 0 and torch.allclose(loss, expected, atol=1e-6)
