import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_lab.data.arithmetic import evaluate, generate_splits, problem_space, sample_problem
from mlm_lab.errors import ConfigError


def test_splits_are_deterministic_distinct_and_disjoint():
    sizes = {"test": 300, "val": 200, "train": 2000}
    a = generate_splits(sizes, n_operands=2, low=0, high=99, ops="+-", seed=3)
    b = generate_splits(sizes, n_operands=2, low=0, high=99, ops="+-", seed=3)
    assert a == b
    prompts = {name: {p.prompt for p in problems} for name, problems in a.items()}
    assert {name: len(p) for name, p in prompts.items()} == sizes  # no duplicates inside a split
    assert not prompts["train"] & prompts["val"]
    assert not prompts["train"] & prompts["test"]
    assert not prompts["val"] & prompts["test"]
    c = generate_splits(sizes, n_operands=2, low=0, high=99, ops="+-", seed=4)
    assert c["test"] != a["test"]


def test_held_out_splits_do_not_change_when_train_grows():
    small = generate_splits({"test": 100, "val": 100, "train": 100}, n_operands=2, low=0, high=999, ops="+", seed=0)
    large = generate_splits({"test": 100, "val": 100, "train": 5000}, n_operands=2, low=0, high=999, ops="+", seed=0)
    assert small["test"] == large["test"] and small["val"] == large["val"]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), ops=st.sampled_from(["+", "-", "*", "/", "+-*/", "*/", "-/"]))
def test_answers_match_python_with_exact_division(seed, n, ops):
    p = sample_problem(random.Random(seed), n, 0, 50, ops)
    assert len(p.operands) == n and set(p.ops) <= set(ops)
    expr = p.prompt[:-1]
    assert p.answer == eval(expr.replace("/", "//"))  # exact division: floor == true division
    for i, op in enumerate(p.ops):
        if op == "/":
            assert p.operands[i + 1] != 0


def test_division_is_always_exact():
    rng = random.Random(0)
    for _ in range(500):
        p = sample_problem(rng, 3, 1, 30, "*/")
        assert p.answer == evaluate(p.operands, p.ops)
        assert eval(p.prompt[:-1]) == p.answer  # true division gives the same integer


def test_evaluate_follows_precedence():
    assert evaluate((2, 3, 4), ("+", "*")) == 14
    assert evaluate((12, 3, 4), ("-", "*")) == 0
    assert evaluate((8, 4, 2), ("/", "/")) == 1
    with pytest.raises(ValueError, match="not an exact division"):
        evaluate((7, 2), ("/",))


@pytest.mark.parametrize(
    "kwargs, key",
    [
        (dict(n_operands=2, low=10, high=5, ops="+"), "data.low"),
        (dict(n_operands=2, low=0, high=9, ops="+%"), "data.ops"),
        (dict(n_operands=2, low=0, high=9, ops=""), "data.ops"),
        (dict(n_operands=1, low=0, high=9, ops="+"), "data.n_operands"),
        (dict(n_operands=2, low=-3, high=9, ops="+"), "data.low"),
    ],
)
def test_bad_specs_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key) as e:
        generate_splits({"train": 10}, seed=0, **kwargs)
    assert "Fix:" in str(e.value)


def test_too_many_problems_requested_is_refused_before_sampling():
    with pytest.raises(ConfigError, match="distinct problems requested"):
        generate_splits({"test": 50, "train": 60}, n_operands=2, low=0, high=9, ops="+", seed=0)


def test_problem_space_is_exact_while_small_and_infinite_when_astronomical():
    assert problem_space(2, 10, 1) == 100 and problem_space(3, 10, 2) == 4000
    assert problem_space(10**6, 100, 4) == math.inf
