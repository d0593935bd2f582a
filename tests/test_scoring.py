import math

import pytest
import torch
import torch.nn.functional as F

from mlm_lab.errors import ConfigError
from mlm_lab.evaluation.scoring import score_documents
from mlm_lab.models.builders import llama
from mlm_lab.tokenizers.char import CharTokenizer

TOK = CharTokenizer(alphabet="abcdefgh ñ")
DOCS = ["abc defg ñ", "hhh a", "ba" * 20]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return llama(TOK.vocab_size, context_length=64, d_model=32, n_layers=2, n_heads=2).eval()


def direct_nats(model, docs):
    """Nats of every non-<bos> token after the first, from one forward pass over the whole stream."""
    ids = []
    for d in docs:
        ids += [TOK.bos_id, *TOK.encode(d), TOK.eos_id]
    x, y = torch.tensor([ids[:-1]]), torch.tensor([ids[1:]])
    with torch.no_grad():
        logits, _ = model(x)
    keep = y != TOK.bos_id
    return float(F.cross_entropy(logits[keep], y[keep], reduction="sum")), int(keep.sum())


def test_bits_per_byte_is_total_nats_over_utf8_bytes_over_ln2(model):
    nats, scored = direct_nats(model, DOCS)
    got = score_documents(model, TOK, DOCS)
    n_bytes = sum(len(d.encode()) for d in DOCS)
    assert got["bytes"] == n_bytes and got["tokens"] == scored
    assert got["bits_per_byte"] == pytest.approx(nats / n_bytes / math.log(2), rel=1e-5)
    assert got["loss"] == pytest.approx(nats / scored, rel=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(nats / scored), rel=1e-5)


def test_stride_changes_only_the_context_not_what_is_scored(model):
    long_doc = ["abcdefgh " * 20]  # 180 tokens + bos/eos: several 64-token windows
    plain, strided = score_documents(model, TOK, long_doc), score_documents(model, TOK, long_doc, stride=16)
    assert plain["tokens"] == strided["tokens"] and plain["bytes"] == strided["bytes"]
    assert plain["loss"] != strided["loss"]


def test_empty_text_is_refused(model):
    with pytest.raises(ValueError, match="empty"):
        score_documents(model, TOK, [""])


def test_a_stride_longer_than_the_context_names_the_key_and_fix(model):
    with pytest.raises(ConfigError, match=r"stride: must be in \[1, context_length=64\].*Fix"):
        score_documents(model, TOK, DOCS, stride=65)
