"""The chunked loss equals `F.cross_entropy` (of soft-capped logits when capped), value and gradient, in fp32 and bf16."""

import pytest
import torch
import torch.nn.functional as F

import mlm_lab.models.cross_entropy as chunked
from mlm_lab.targets import IGNORE_INDEX


def reference(logits, targets, cap):
    z = logits if cap is None else cap * torch.tanh(logits.float() / cap)
    return F.cross_entropy(z.float(), targets, ignore_index=IGNORE_INDEX), z


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", 700)  # several chunks and a ragged last one at these sizes


@pytest.mark.parametrize("cap", [None, 3.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_value_gradient_and_logits_match_the_reference(cap, dtype):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(203, 37, generator=g) * 4).to(dtype)
    targets = torch.randint(0, 37, (203,), generator=g)
    targets[::5] = IGNORE_INDEX
    ours = logits.clone().requires_grad_()
    theirs = logits.clone().requires_grad_()
    loss, out = chunked.cross_entropy(ours, targets, IGNORE_INDEX, cap)
    expected, expected_out = reference(theirs, targets, cap)
    loss.backward()
    expected.backward()
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert loss.item() == pytest.approx(expected.item(), abs=tol)
    assert ours.grad.dtype == dtype
    torch.testing.assert_close(ours.grad.float(), theirs.grad.float(), atol=tol / 50, rtol=tol)
    torch.testing.assert_close(out.float(), expected_out.float(), atol=tol * 5, rtol=tol)
    assert torch.equal(ours.detach(), logits)  # the input is never written into
    if cap is not None:
        assert out.abs().max() <= cap and not out.requires_grad  # bf16 may round up to the cap


def test_skipped_targets_get_no_gradient_and_a_scaled_loss():
    logits = torch.randn(6, 5, requires_grad=True)
    targets = torch.tensor([1, IGNORE_INDEX, 2, IGNORE_INDEX, 0, 4])
    loss, _ = chunked.cross_entropy(logits, targets, IGNORE_INDEX)
    loss.backward()
    assert logits.grad[[1, 3]].abs().max() == 0 and logits.grad[[0, 2, 4, 5]].abs().min() > 0
    kept = [0, 2, 4, 5]
    assert loss.item() == pytest.approx(F.cross_entropy(logits[kept], targets[kept]).item(), abs=1e-6)
