"""Synthetic arithmetic problems: N operands in [low, high], operators from `+ - * /`.

Expressions follow the usual precedence (`*` and `/` before `+` and `-`), and division is exact:
a divisor is only drawn among the values that divide the multiplicative term before it.
"""

import math
import random
from dataclasses import dataclass

import numpy as np

from mlm_lab.errors import ConfigError, require

OPERATORS = "+-*/"
BYTES_PER_OPERAND = 100  # a generated operand as Python objects (int, tuple slot, prompt text) and tensor tokens


@dataclass(frozen=True)
class Problem:
    operands: tuple[int, ...]
    ops: tuple[str, ...]
    answer: int

    @property
    def prompt(self) -> str:
        """The plain prompt, e.g. `12+34=`."""
        parts = [str(self.operands[0])]
        for op, value in zip(self.ops, self.operands[1:]):
            parts += [op, str(value)]
        return "".join(parts) + "="


def evaluate(operands: tuple[int, ...], ops: tuple[str, ...]) -> int:
    """Value of the expression with `*` and `/` binding tighter than `+` and `-` (exact division)."""
    total, sign, term = 0, 1, operands[0]
    for op, value in zip(ops, operands[1:]):
        if op == "*":
            term *= value
        elif op == "/":
            if value == 0 or term % value:
                raise ValueError(f"{term}/{value} is not an exact division")
            term //= value
        else:
            total += sign * term
            sign, term = (1 if op == "+" else -1), value
    return total + sign * term


def validate_spec(n_operands: int, low: int, high: int, ops: str) -> None:
    require(n_operands >= 2, "data.n_operands", f"must be at least 2, got {n_operands}", "set data.n_operands=2")
    require(low >= 0, "data.low", f"must be >= 0, got {low}", "set data.low=0 (operands are non-negative)")
    require(low <= high, "data.low", f"low={low} is greater than high={high}", "set data.low <= data.high")
    require(len(ops) > 0, "data.ops", "is empty", "choose operators from '+-*/', e.g. data.ops='+'")
    unknown = sorted(set(ops) - set(OPERATORS))
    require(not unknown, "data.ops", f"unknown operator(s) {unknown}", "choose operators from '+-*/', e.g. data.ops='+-'")
    require(not (ops == "/" and high < 1), "data.high", "division needs a non-zero divisor", "set data.high >= 1")


def splits_bytes(n_problems: int, n_operands: int) -> int:
    """Memory the generated splits take: what a caller checks before `generate_splits` (2**31 operands would never finish)."""
    return n_problems * n_operands * BYTES_PER_OPERAND


def problem_space(n_operands: int, values: int, n_ops: int) -> float:
    """How many distinct problems exist (an upper bound): exact while small, inf when astronomically large.

    The exact power of a huge n_operands would take hours (and memory) to compute, for a number no split comes near.
    """
    if n_operands * math.log2(values) + (n_operands - 1) * math.log2(n_ops) > 128:
        return math.inf
    return values**n_operands * n_ops ** (n_operands - 1)


def _divisors_in_range(term: int, low: int, high: int) -> list[int]:
    lo = max(low, 1)
    if abs(term) < 2**62:
        candidates = np.arange(lo, high + 1, dtype=np.int64)
        return candidates[term % candidates == 0].tolist()
    return [d for d in range(lo, high + 1) if term % d == 0]


def sample_problem(rng: random.Random, n_operands: int, low: int, high: int, ops: str) -> Problem:
    """Draw one problem; a `/` with no exact divisor in range is redrawn as another operator."""
    while True:
        operands, chosen = [rng.randint(low, high)], []
        term = operands[0]
        for _ in range(n_operands - 1):
            op = rng.choice(ops)
            if op == "/":
                divisors = _divisors_in_range(term, low, high)
                if not divisors:
                    others = ops.replace("/", "")
                    if not others:
                        break  # only division allowed and nothing divides: start again
                    op = rng.choice(others)
            value = rng.choice(divisors) if op == "/" else rng.randint(low, high)
            term = term * value if op == "*" else term // value if op == "/" else value
            operands.append(value)
            chosen.append(op)
        if len(operands) == n_operands:
            return Problem(tuple(operands), tuple(chosen), evaluate(tuple(operands), tuple(chosen)))


def generate_splits(sizes: dict[str, int], n_operands: int, low: int, high: int, ops: str, seed: int) -> dict[str, list[Problem]]:
    """Distinct problems for each split, with no prompt in two splits; deterministic in `seed`.

    Splits are drawn in the order given, so the held-out sets do not change when a later split grows.
    """
    validate_spec(n_operands, low, high, ops)
    wanted = sum(sizes.values())
    space = problem_space(n_operands, high - low + 1, len(ops))
    if wanted > space:
        raise ConfigError(
            f"data: {wanted} distinct problems requested (n_train + n_val + n_test) but at most {space} exist "
            f"for {n_operands} operands in [{low}, {high}] with ops {ops!r}. "
            "Fix: lower data.n_train, or widen data.low..data.high"
        )
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[Problem]] = {}
    for name, size in sizes.items():
        problems: list[Problem] = []
        attempts = 0
        while len(problems) < size:
            attempts += 1
            if attempts > 50 * size + 1000:
                raise ConfigError(
                    f"data: could only find {len(problems)} of {size} distinct problems for the {name} split. "
                    "Fix: lower data.n_train/n_val/n_test or widen data.low..data.high"
                )
            problem = sample_problem(rng, n_operands, low, high, ops)
            if problem.prompt not in seen:
                seen.add(problem.prompt)
                problems.append(problem)
        splits[name] = problems
    return splits
