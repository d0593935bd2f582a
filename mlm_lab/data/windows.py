"""Cutting a token stream into (inputs, targets) windows for training and for scoring.

A stream is `<bos> doc <eos> <bos> doc <eos> ...`. Targets that are `<bos>` are never scored:
a new document's start carries no information, and it has no bytes behind it.
"""

import numpy as np
import torch

from mlm_lab.targets import IGNORE_INDEX


def frame(tokenizer, document: str) -> list[int]:
    """One document as it appears in a stream: `<bos> doc <eos>`."""
    return [tokenizer.bos_id, *tokenizer.encode(document), tokenizer.eos_id]


def random_windows(tokens: np.ndarray, block_size: int, n: int, generator: torch.Generator, bos_id: int):
    """`n` random contiguous windows of `block_size` inputs and their next-token targets."""
    high = len(tokens) - block_size - 1
    if high < 1:
        raise ValueError(f"a stream of {len(tokens)} tokens is too short for windows of {block_size}")
    starts = torch.randint(0, high + 1, (n,), generator=generator).tolist()
    rows = torch.from_numpy(np.stack([np.asarray(tokens[s : s + block_size + 1], dtype=np.int64) for s in starts]))
    x, y = rows[:, :-1], rows[:, 1:].clone()
    y[y == bos_id] = IGNORE_INDEX
    return x, y


def scoring_windows(tokens: np.ndarray, block_size: int, stride: int | None, pad_id: int, bos_id: int):
    """Fixed windows that score every token after the first exactly once.

    Window k covers inputs [k*stride, k*stride + block_size); it scores only the targets no earlier
    window scored, so with `stride < block_size` each scored token sees at least
    `block_size - stride` tokens of context. `stride=None` means `block_size` (no overlap).
    Yields (x, y) rows of shape (block_size,), padded with `pad_id` / IGNORE_INDEX at the end.
    """
    stride = stride or block_size
    if not 0 < stride <= block_size:
        raise ValueError(f"stride must be in [1, block_size={block_size}], got {stride}")
    n = len(tokens)
    scored_until = 1  # target positions < this are already scored (position 0 is never a target)
    start = 0
    while scored_until < n:
        end = min(start + block_size, n - 1)  # inputs [start, end), targets [start+1, end+1)
        x = np.full(block_size, pad_id, dtype=np.int64)
        y = np.full(block_size, IGNORE_INDEX, dtype=np.int64)
        x[: end - start] = tokens[start:end]
        targets = np.asarray(tokens[start + 1 : end + 1], dtype=np.int64)
        first_new = scored_until - (start + 1)
        y[first_new : end - start] = targets[first_new:]
        y[y == bos_id] = IGNORE_INDEX
        yield torch.from_numpy(x), torch.from_numpy(y)
        scored_until = end + 1
        start += stride


def batched(windows, batch_size: int):
    """Stack (x, y) windows into batches of at most `batch_size` rows."""
    xs, ys = [], []
    for x, y in windows:
        xs.append(x)
        ys.append(y)
        if len(xs) == batch_size:
            yield torch.stack(xs), torch.stack(ys)
            xs, ys = [], []
    if xs:
        yield torch.stack(xs), torch.stack(ys)
