import pytest
import torch
import torch.nn.functional as F

from mlm_lab.errors import ConfigError
from mlm_lab.models.gpt import GPT, IGNORE_INDEX


def tiny(**kwargs):
    torch.manual_seed(0)
    return GPT(vocab_size=11, **{"context_length": 16, "d_model": 32, "n_layers": 2, "n_heads": 4, **kwargs})


def test_forward_shapes_and_loss():
    model = tiny()
    idx = torch.randint(0, 11, (3, 7))
    logits, loss = model(idx)
    assert logits.shape == (3, 7, 11) and loss is None
    _, loss = model(idx, idx)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_causality_future_tokens_do_not_change_the_past():
    model = tiny().eval()
    idx = torch.randint(0, 11, (2, 10))
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 11
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_ignored_targets_do_not_count():
    model = tiny()
    idx = torch.randint(0, 11, (2, 8))
    masked = idx.clone()
    masked[:, :4] = IGNORE_INDEX
    logits, loss = model(idx, masked)
    manual = F.cross_entropy(logits[:, 4:].reshape(-1, 11), idx[:, 4:].reshape(-1))
    _, full = model(idx, idx)
    assert torch.isclose(loss, manual) and not torch.isclose(loss, full)


def test_weight_tying_shares_one_tensor():
    model = tiny()
    assert model.head.weight is model.tok_emb.weight
    untied = tiny(tie_embeddings=False)
    assert untied.head.weight is not untied.tok_emb.weight
    assert untied.num_parameters() == model.num_parameters() + 11 * 32


def test_overfits_a_tiny_batch():
    model = tiny()
    idx = torch.randint(0, 11, (4, 12))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"d_model": 30, "n_heads": 4}, "model.d_model"),
        ({"n_layers": 0}, "model.n_layers"),
        ({"d_model": -8}, "model.d_model"),
        ({"context_length": 0}, "model.context_length"),
        ({"dropout": 1.5}, "model.dropout"),
        ({"d_model": "wide"}, "model.d_model"),
    ],
)
def test_bad_sizes_name_the_key_and_the_fix(kwargs, key):
    with pytest.raises(ConfigError, match=key) as e:
        GPT(vocab_size=11, **kwargs)
    assert "Fix:" in str(e.value)


def test_too_long_input_is_refused():
    with pytest.raises(ValueError, match="context_length"):
        tiny()(torch.zeros(1, 17, dtype=torch.long))
