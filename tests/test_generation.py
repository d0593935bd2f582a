import pytest
import torch

from mlm_lab.data.arithmetic_format import ArithmeticFormat
from mlm_lab.errors import ConfigError
from mlm_lab.generation import GenerationParams, cut_at_stop, generate, left_pad
from mlm_lab.models.builders import llama
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers.char import CharTokenizer


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


def test_predictor_batches_prompts_of_different_lengths_and_keeps_order():
    tok = CharTokenizer()
    predictor = Predictor(model(), tok, ArithmeticFormat(), defaults={"max_new_tokens": 4})
    prompts = ["1+2=", "100+200=", "3+4=", "55+5="]
    batched = predictor.complete(prompts, batch_size=3)
    assert batched == [predictor.complete([p])[0] for p in prompts]


def test_num_samples_come_grouped_by_prompt():
    tok = CharTokenizer()
    predictor = Predictor(model(), tok, ArithmeticFormat(), defaults={"max_new_tokens": 6})
    out = predictor.complete(["1+2=", "3+4="], num_samples=3, temperature=3.0, seed=1)
    assert len(out) == 6
    assert out == predictor.complete(["1+2="] * 3 + ["3+4="] * 3, temperature=3.0, seed=1)
    assert len(set(out[:3])) > 1  # hot sampling: the three samples of one prompt differ


@pytest.mark.parametrize(
    "kwargs", [{"max_new_tokens": 0}, {"temperature": -1.0}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}, {"num_samples": 0}]
)
def test_bad_generation_params(kwargs):
    with pytest.raises(ConfigError, match="Fix:"):
        GenerationParams(**kwargs)


def test_completions_join_their_prompt_exactly_under_sentencepiece(tmp_path):
    from mlm_lab.data.plain_format import PlainTextFormat
    from mlm_lab.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

    tok = SentencePieceTokenizer(vocab_size=300, cache_dir=str(tmp_path))
    tok.fit(["the cat sat on the mat. the dog sat on the log.\n" * 20])
    torch.manual_seed(0)
    m = llama(tok.vocab_size, context_length=32, d_model=32, n_layers=1, n_heads=2).eval()
    predictor = Predictor(m, tok, PlainTextFormat(), {"max_new_tokens": 12, "temperature": 0.0})
    prompts = ["the cat", "the dog sat on"]
    for prompt, completion in zip(prompts, predictor.complete(prompts)):
        ids = tok.encode(prompt)
        new = generate(m, [[tok.bos_id, *ids]], predictor.params())[0]
        assert prompt + completion == tok.decode(ids + new)  # no space lost or doubled at the seam
