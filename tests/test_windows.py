import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mlm_lab.data.windows import batched, random_windows, scoring_windows
from mlm_lab.targets import IGNORE_INDEX

BOS, PAD = 1, 0


def scored_positions(tokens, block_size, stride):
    """Stream positions scored by the windows, in order (target j of window at start s is position s+1+j)."""
    positions = []
    start = 0
    for x, y in scoring_windows(tokens, block_size, stride, PAD, BOS):
        for j in np.nonzero(y.numpy() != IGNORE_INDEX)[0]:
            assert x[j] == tokens[start + j], "each target is predicted from the tokens before it in the stream"
            assert y[j] == tokens[start + j + 1]
            positions.append(start + j + 1)
        start += stride or block_size
    return positions


@given(st.integers(2, 300), st.integers(1, 40), st.data())
def test_scoring_windows_score_every_non_bos_token_after_the_first_exactly_once(n, block_size, data):
    stride = data.draw(st.one_of(st.none(), st.integers(1, block_size)))
    tokens = np.array(data.draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)), dtype=np.uint16)
    expected = [i for i in range(1, n) if tokens[i] != BOS]
    assert scored_positions(tokens, block_size, stride) == expected


def test_overlapping_windows_give_each_scored_token_at_least_block_minus_stride_context():
    tokens = np.arange(2, 102, dtype=np.uint16)
    start = 0
    for _, y in scoring_windows(tokens, 16, 4, PAD, BOS):
        first_scored = int(np.nonzero(y.numpy() != IGNORE_INDEX)[0][0])
        assert start == 0 or first_scored >= 16 - 4 - 1  # target j sees inputs 0..j: j+1 tokens of context
        start += 4


def test_stride_larger_than_block_is_refused():
    with pytest.raises(ValueError, match="stride"):
        list(scoring_windows(np.arange(10), 4, 5, PAD, BOS))


def test_random_windows_are_contiguous_seeded_and_mask_bos_targets():
    tokens = np.array([BOS, 5, 6, 7, 2, BOS, 8, 9, 2] * 20, dtype=np.uint16)
    x1, y1 = random_windows(tokens, 6, 50, torch.Generator().manual_seed(3), BOS)
    x2, _ = random_windows(tokens, 6, 50, torch.Generator().manual_seed(3), BOS)
    assert torch.equal(x1, x2)
    assert x1.shape == y1.shape == (50, 6)
    assert (y1 != BOS).all() and (y1 == IGNORE_INDEX).any()
    # a target is the next input, except where it was a <bos> and is ignored
    shifted = y1[:, :-1]
    keep = shifted != IGNORE_INDEX
    assert torch.equal(shifted[keep], x1[:, 1:][keep])


def test_batched_keeps_every_window_in_order():
    windows = [(torch.full((3,), i), torch.full((3,), -i)) for i in range(7)]
    batches = list(batched(iter(windows), 3))
    assert [b[0].shape[0] for b in batches] == [3, 3, 1]
    assert torch.equal(torch.cat([b[0] for b in batches])[:, 0], torch.arange(7))
