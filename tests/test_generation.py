import pytest
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.generation import GenerationParams, cut_at_stop, generate, left_pad
from mlm_lab.models.builders import llama


def model(vocab=18):
    torch.manual_seed(0)
    return llama(vocab, context_length=32, d_model=32, n_layers=2, n_heads=4).eval()


def test_greedy_matches_step_by_step_argmax():
    m = model()
    rows = torch.randint(1, 18, (3, 5)).tolist()
    out = generate(m, rows, GenerationParams(max_new_tokens=6))
    seq = torch.tensor(rows)
    for _ in range(6):
        logits, _ = m(seq)
        seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert out == seq[:, 5:].tolist()


def test_generation_past_the_context_slides_the_window_like_nanogpt():
    m = model()  # context 32
    rows = [torch.randint(1, 18, (10,)).tolist(), torch.randint(1, 18, (4,)).tolist()]
    out = generate(m, rows, GenerationParams(max_new_tokens=40))
    for row, new in zip(rows, out):
        seq = torch.tensor([row])
        for _ in range(40):
            logits, _ = m(seq[:, -32:])
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        assert new == seq[0, len(row) :].tolist()  # the same alone as in the ragged batch


def test_top_k_one_is_greedy_and_seeded_sampling_repeats():
    m = model()
    rows = torch.randint(1, 18, (2, 4)).tolist()
    greedy = generate(m, rows, GenerationParams(max_new_tokens=5))
    assert generate(m, rows, GenerationParams(max_new_tokens=5, temperature=1.0, top_k=1, seed=3)) == greedy
    a = generate(m, rows, GenerationParams(max_new_tokens=8, temperature=2.0, seed=7))
    b = generate(m, rows, GenerationParams(max_new_tokens=8, temperature=2.0, seed=7))
    c = generate(m, rows, GenerationParams(max_new_tokens=8, temperature=2.0, seed=8))
    assert a == b and a != c


def test_top_p_keeps_at_least_the_most_likely_token():
    m = model()
    rows = torch.randint(1, 18, (2, 4)).tolist()
    greedy = generate(m, rows, GenerationParams(max_new_tokens=5))
    for top_p in (1e-9, 1e-300):  # 1e-300 is 0 in float32: every token's mass before it is "above" it
        assert generate(m, rows, GenerationParams(max_new_tokens=5, temperature=1.0, top_p=top_p, seed=0)) == greedy


def test_rows_stop_at_eos_and_drop_it():
    m = model()
    with torch.no_grad():
        m.head.weight.zero_()  # every logit equal -> argmax picks id 0
    assert generate(m, [[1, 2], [3]], GenerationParams(max_new_tokens=10), eos_id=0) == [[], []]


def test_left_pad():
    idx, pad = left_pad([[5], [6, 7, 8]], pad_id=0, device="cpu")
    assert idx.tolist() == [[0, 0, 5], [6, 7, 8]] and pad.tolist() == [2, 0]


def test_one_stop_string_is_a_list_of_one():
    assert GenerationParams(stop="\n\n").stop == ["\n\n"]
    assert GenerationParams(stop=["a", "b"]).stop == ["a", "b"] and GenerationParams().stop is None


def test_cut_at_stop():
    assert cut_at_stop("Once upon. The end. More", ["The end", "More"]) == "Once upon. "
    assert cut_at_stop("abc", None) == "abc" and cut_at_stop("abc", ["", "x"]) == "abc"


@pytest.mark.parametrize(
    "kwargs", [{"max_new_tokens": 0}, {"temperature": -1.0}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}, {"num_samples": 0}]
)
def test_bad_generation_params(kwargs):
    with pytest.raises(ConfigError, match="Fix:"):
        GenerationParams(**kwargs)
