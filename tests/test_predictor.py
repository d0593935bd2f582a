"""Predictor: generation parameters from defaults and overrides, completions in the callers' order, cropping, stops."""

import pytest
import torch

from mlm_lab.data.arithmetic_format import ArithmeticFormat
from mlm_lab.data.plain_format import PlainTextFormat
from mlm_lab.errors import ConfigError
from mlm_lab.evaluation.scoring import score_documents
from mlm_lab.generation import generate
from mlm_lab.models.builders import llama
from mlm_lab.models.transformer import from_config
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers.char import CharTokenizer

ALPHABET = "abcdefgh "


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    """An untrained model over a small alphabet: deterministic greedy output is all the tests need."""
    tokenizer = CharTokenizer(alphabet=ALPHABET)
    torch.manual_seed(0)
    model = from_config(vocab_size=tokenizer.vocab_size, context_length=12, d_model=32, n_layers=1, n_heads=2)
    return Predictor(model, tokenizer, PlainTextFormat(), defaults={"max_new_tokens": 5, "temperature": 0.0})


def test_params_are_the_defaults_then_the_non_none_overrides(predictor):
    params = predictor.params(max_new_tokens=None, top_k=3)
    assert (params.max_new_tokens, params.temperature, params.top_k) == (5, 0.0, 3)
    with pytest.raises(ConfigError, match=r"^generation parameters: unknown \['beam', 'length'\]\. Fix: use only \["):
        predictor.params(length=3, beam=2)


def test_a_prompt_longer_than_the_context_answers_as_its_last_tokens(predictor):
    long = "abcdefgh" * 4
    # the model sees <bos> and the prompt cropped to its context of 12 tokens: the last 12 tokens of either
    assert predictor.complete([long]) == predictor.complete([long[-12:]])


def test_stops_cut_completions_and_training_mode_is_restored(predictor):
    (full,) = predictor.complete(["ab"], max_new_tokens=5)
    stop = full[2:4]
    assert predictor.complete(["ab"], max_new_tokens=5, stop=[stop]) == [full[: full.index(stop)]]
    predictor.model.train()
    predictor.complete(["ab"])
    assert predictor.model.training
    predictor.model.eval()


def test_the_text_format_applies_around_generation():
    tokenizer = CharTokenizer()
    torch.manual_seed(0)
    model = from_config(vocab_size=tokenizer.vocab_size, context_length=16, d_model=32, n_layers=1, n_heads=2)
    fmt = ArithmeticFormat(operand_width=3, reverse_answer=True)
    greedy = {"max_new_tokens": 4, "temperature": 0.0}
    (answer,) = Predictor(model, tokenizer, fmt, defaults=greedy).complete(["12+34="])
    (raw,) = Predictor(model, tokenizer, PlainTextFormat(), defaults=greedy).complete([fmt.prompt_to_model("12+34=")])
    assert fmt.prompt_to_model("12+34=") != "12+34=" and answer == fmt.answer_from_model(raw)


def test_score_is_score_documents_and_checks_its_input(predictor):
    docs = ["abc defg", "hh"]
    assert predictor.score(docs, stride=4) == score_documents(predictor.model, predictor.tokenizer, docs, stride=4)
    with pytest.raises(TypeError, match="documents"):
        predictor.score("abc")


def model(vocab=18):
    torch.manual_seed(0)
    return llama(vocab, context_length=32, d_model=32, n_layers=2, n_heads=4).eval()


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
