import pytest
import torch

from mlm_lab.data.arithmetic_format import ArithmeticFormat
from mlm_lab.errors import ConfigError
from mlm_lab.generation import GenerationParams, Predictor, generate
from mlm_lab.models.gpt import GPT
from mlm_lab.tokenizers.char import CharTokenizer


def model(vocab=18):
    torch.manual_seed(0)
    return GPT(vocab_size=vocab, context_length=32, d_model=32, n_layers=2, n_heads=4).eval()


def test_greedy_matches_step_by_step_argmax():
    m = model()
    idx = torch.randint(0, 18, (3, 5))
    out = generate(m, idx, GenerationParams(max_new_tokens=6))
    seq = idx
    for _ in range(6):
        logits, _ = m(seq)
        seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, seq[:, 5:])


def test_top_k_one_is_greedy_and_seeded_sampling_repeats():
    m = model()
    idx = torch.randint(0, 18, (2, 4))
    greedy = generate(m, idx, GenerationParams(max_new_tokens=5))
    assert torch.equal(generate(m, idx, GenerationParams(max_new_tokens=5, temperature=1.0, top_k=1, seed=3)), greedy)
    a = generate(m, idx, GenerationParams(max_new_tokens=8, temperature=2.0, seed=7))
    b = generate(m, idx, GenerationParams(max_new_tokens=8, temperature=2.0, seed=7))
    assert torch.equal(a, b)


def test_top_p_keeps_at_least_the_most_likely_token():
    m = model()
    idx = torch.randint(0, 18, (2, 4))
    greedy = generate(m, idx, GenerationParams(max_new_tokens=5))
    tiny_p = generate(m, idx, GenerationParams(max_new_tokens=5, temperature=1.0, top_p=1e-9, seed=0))
    assert torch.equal(tiny_p, greedy)


def test_rows_stop_at_eos():
    m = model()
    with torch.no_grad():
        m.head.weight.zero_()
        m.ln_f.bias.zero_()
        m.ln_f.weight.zero_()  # every logit equal -> argmax picks id 0
    out = generate(m, torch.ones(2, 3, dtype=torch.long), GenerationParams(max_new_tokens=10), eos_id=0)
    assert out.shape == (2, 1) and out.eq(0).all()


def test_predictor_groups_prompts_of_different_lengths_and_keeps_order():
    tok = CharTokenizer()
    predictor = Predictor(model(), tok, ArithmeticFormat(), defaults={"max_new_tokens": 4})
    prompts = ["1+2=", "100+200=", "3+4=", "55+5="]
    batched = predictor.complete(prompts)
    one_by_one = [predictor.complete([p])[0] for p in prompts]
    assert batched == one_by_one


@pytest.mark.parametrize("kwargs", [{"max_new_tokens": 0}, {"temperature": -1.0}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}])
def test_bad_generation_params(kwargs):
    with pytest.raises(ConfigError, match="Fix:"):
        GenerationParams(**kwargs)
