import time

import pytest
import torch

from mlm_lab.data.arithmetic_task import ArithmeticTask
from mlm_lab.errors import ConfigError
from mlm_lab.models.builders import gpt2
from mlm_lab.predictor import Predictor
from mlm_lab.targets import IGNORE_INDEX
from mlm_lab.tokenizers.char import CharTokenizer


def make_task(**kwargs):
    task = ArithmeticTask(**{"high": 99, "n_train": 50, "n_val": 20, "n_test": 20, "batch_size": 8, **kwargs})
    task.setup(CharTokenizer())
    return task


def test_loss_mask_scores_only_answer_and_eos():
    task = make_task()
    tok = task.tokenizer
    x, y = task.tensors["train"]
    eq = tok.stoi["="]
    for row_x, row_y in zip(x.tolist(), y.tolist()):
        scored = [i for i, t in enumerate(row_y) if t != IGNORE_INDEX]
        # the first scored position is the one holding '=' (its target is the first answer token)
        assert row_x[scored[0]] == eq
        assert row_y[scored[-1]] == tok.eos_id
        assert eq not in [row_y[i] for i in scored]
        assert all(t == IGNORE_INDEX for t in row_y[: scored[0]])


def test_model_text_uses_the_format():
    task = make_task(pad_operands=True, reverse_answer=True)
    tok = task.tokenizer
    p = task.splits["train"][0]
    x, y = task.tensors["train"]
    text = tok.decode(x[0].tolist())  # inputs hold every token but the final <eos>
    assert y[0][y[0] != IGNORE_INDEX][-1] == tok.eos_id
    a, b = p.operands
    assert text.startswith(f"{a:02d}+{b:02d}=")
    assert text[len("00+00=") :] == str(p.answer)[::-1]


def test_train_batches_are_seeded():
    task = make_task()
    b1 = task.train_batch(torch.Generator().manual_seed(1))
    b2 = task.train_batch(torch.Generator().manual_seed(1))
    assert torch.equal(b1[0], b2[0]) and b1[0].shape == (8, task.max_sequence_length)


class OraclePredictor:
    """Answers correctly except for answers of length 1."""

    def complete(self, prompts, **_):
        answers = [str(eval(p[:-1])) for p in prompts]
        return [a if len(a) > 1 else "x" for a in answers]


def test_evaluate_reports_exact_match_by_length():
    task = make_task()
    metrics = task.evaluate(OraclePredictor(), "test")
    answers = [str(p.answer) for p in task.splits["test"]]
    short = sum(len(a) == 1 for a in answers)
    assert metrics["exact_match"] == 1 - short / len(answers)
    if short:
        assert metrics["exact_match_len1"] == 0.0
    assert metrics["exact_match_len2"] == 1.0


def test_an_alphabet_without_the_operators_is_a_config_error():
    task = ArithmeticTask(high=99, n_train=50, n_val=20, n_test=20)
    with pytest.raises(ConfigError, match=r"^tokenizer\.alphabet: the char tokenizer cannot encode the data \(.*'\+'"):
        task.setup(CharTokenizer(alphabet="0123456789="))


def test_metric_names_are_the_metrics_an_evaluation_reports():
    task = make_task(n_val=50)
    predictor = Predictor(gpt2(task.tokenizer.vocab_size, context_length=16, d_model=16, n_layers=1, n_heads=2), task.tokenizer,
                          task.text_format, task.generation_defaults())  # fmt: skip
    reported = {**task.loss_metrics(1.0, "val"), **task.evaluate(predictor, "val")}
    assert set(task.metric_names("val")) == set(reported) and "exact_match_len3" in reported


def test_problems_too_long_for_the_model_are_refused_before_the_splits_are_generated():
    task = ArithmeticTask(n_operands=200_000, high=99, n_train=50, n_val=20, n_test=20, context_length=16)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^model\.context_length: is 16 but a problem of 200000 operands takes 600\d\d\d tokens"):
        task.setup(CharTokenizer())
    assert time.perf_counter() - started < 5 and task.splits == {}  # generating the splits takes about a minute
    assert make_task(context_length=10).max_sequence_length == 10  # 99+99= and its answer fit exactly
