"""Scoring text with a model: loss, perplexity and bits per byte over whole documents.

The documents become one stream `<bos> doc <eos> <bos> doc <eos> ...` and are read through windows of
`block_size` tokens every `stride` tokens (`data/windows.py`): every token after the first is scored
exactly once, with at least `block_size - stride` tokens of context (all preceding tokens when the
stream fits one window). `<eos>` is scored (ending a document is information); `<bos>` is not.
Bits per byte divide the total nats by the UTF-8 bytes of the documents (separators count no bytes)
and by ln 2, so models with different tokenizers are compared on the same text.
"""

import torch
import torch.nn.functional as F

from mlm_lab.data.metrics import text_metrics
from mlm_lab.data.windows import batched, frame, scoring_windows
from mlm_lab.errors import check_type, require
from mlm_lab.targets import IGNORE_INDEX


@torch.no_grad()
def score_tokens(model, tokens, block_size: int, stride: int | None, pad_id: int, bos_id: int, batch_size: int = 32) -> tuple[float, int]:
    """Total nats and number of scored targets of a token stream."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nats, scored = 0.0, 0
    try:
        for x, y in batched(scoring_windows(tokens, block_size, stride, pad_id, bos_id), batch_size):
            logits, _ = model(x.to(device))
            y = y.to(device)
            nats += float(F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"))
            scored += int((y != IGNORE_INDEX).sum())
    finally:
        model.train(was_training)
    return nats, scored


def score_documents(model, tokenizer, documents: list[str], stride: int | None = None, batch_size: int = 32) -> dict[str, float]:
    """Loss (nats per scored token), perplexity and bits per byte of `documents` under `model`."""
    require(
        bool(documents) and any(documents),
        "documents",
        f"nothing to score: got {len(documents)} document(s), all empty",
        "pass at least one non-empty text",
    )
    block_size = model.config.context_length
    check_type(stride, int | None, "stride")
    require(
        stride is None or 0 < stride <= block_size,
        "stride",
        f"must be in [1, context_length={block_size}] or null, got {stride}",
        f"leave stride null (windows of {block_size} tokens, no overlap) or set e.g. stride={block_size // 2}",
    )
    tokens = [t for doc in documents for t in frame(tokenizer, doc)]
    nats, scored = score_tokens(model, tokens, block_size, stride, tokenizer.pad_id, tokenizer.bos_id, batch_size)
    n_bytes = sum(len(doc.encode("utf-8")) for doc in documents)
    return {**text_metrics(nats, scored, n_bytes), "tokens": scored, "bytes": n_bytes}
