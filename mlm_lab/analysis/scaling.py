"""Scaling laws from isoFLOP sweeps (Chinchilla's approach 2): the compute-optimal model size and tokens per budget.

Runs are points (C, N, D, L): the training FLOPs budget the run was given, its parameters, the tokens
it trained on and its loss. For each budget, a parabola of L against log N has its minimum at the
isoFLOP-optimal size N_opt (and one against log D at D_opt); across budgets, N_opt = A C^a and
D_opt = B C^b are straight lines in log-log, fitted by least squares. The exponents' 95% intervals come
from a bootstrap over the runs (resampled within each budget; resamples whose parabola opens
downwards or has its minimum outside the sampled sizes are dropped, and counted).
"""

import math
from dataclasses import dataclass, field

import numpy as np

BOOTSTRAP = 1000


@dataclass
class Point:
    flops: float  # the budget (trainer.max_flops): runs of one budget share it
    params: float  # N
    tokens: float  # D
    loss: float  # L, the objective (lower is better)
    run_id: str = ""


@dataclass
class Parabola:
    budget: float
    coefficients: tuple[float, float, float]  # a, b, c of L = a x^2 + b x + c, x = log10 of the size
    x_opt: float  # log10 of the size at the minimum
    loss_opt: float
    inside: bool  # the minimum lies within the sizes the budget sampled (else it is an extrapolation)


def parabola(budget: float, sizes: np.ndarray, losses: np.ndarray) -> Parabola | None:
    """The parabola of loss against log10(size) and its minimum; None for fewer than 3 sizes or one opening downwards."""
    x = np.log10(sizes)
    if len(np.unique(x)) < 3:
        return None
    a, b, c = np.polyfit(x, losses, 2)
    if a <= 0:
        return None
    x_opt = -b / (2 * a)
    return Parabola(budget, (float(a), float(b), float(c)), float(x_opt), float(c - b * b / (4 * a)), bool(x.min() <= x_opt <= x.max()))


def power_law(budgets: np.ndarray, optima: np.ndarray) -> tuple[float, float]:
    """(exponent, coefficient) of optima = coefficient x budgets ** exponent, by least squares in log10-log10."""
    exponent, intercept = np.polyfit(np.log10(budgets), np.log10(optima), 1)
    return float(exponent), float(10**intercept)


@dataclass
class ScalingFit:
    budgets: list[float]
    n_parabolas: list[Parabola]
    d_parabolas: list[Parabola]
    a: float  # N_opt ~ C^a
    a_coefficient: float
    b: float  # D_opt ~ C^b
    b_coefficient: float
    a_interval: tuple[float, float] = (math.nan, math.nan)
    b_interval: tuple[float, float] = (math.nan, math.nan)
    resamples: int = 0  # bootstrap resamples that gave a fit
    dropped: int = 0  # resamples without a convex, in-range minimum at some budget
    notes: list[str] = field(default_factory=list)

    def predict(self, flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) for a budget of `flops`."""
        return self.a_coefficient * flops**self.a, self.b_coefficient * flops**self.b


def _optima(points: list[Point]) -> tuple[list[Parabola], list[Parabola]] | None:
    n_fits, d_fits = [], []
    for budget in sorted({p.flops for p in points}):
        runs = [p for p in points if p.flops == budget]
        n_fit = parabola(budget, np.array([p.params for p in runs]), np.array([p.loss for p in runs]))
        d_fit = parabola(budget, np.array([p.tokens for p in runs]), np.array([p.loss for p in runs]))
        if n_fit is None or d_fit is None:
            return None
        n_fits.append(n_fit)
        d_fits.append(d_fit)
    return n_fits, d_fits


def fit(points: list[Point], bootstrap: int = BOOTSTRAP, seed: int = 0) -> ScalingFit:
    """Fit N_opt(C) and D_opt(C) from isoFLOP runs; raises ValueError naming what is missing."""
    points = [p for p in points if math.isfinite(p.loss) and p.params > 0 and p.tokens > 0 and p.flops > 0]
    budgets = sorted({p.flops for p in points})
    if len(budgets) < 2:
        raise ValueError(f"a scaling fit needs runs at 2 FLOP budgets or more (trainer.max_flops), found {len(budgets)}")
    optima = _optima(points)
    if optima is None:
        raise ValueError(
            "every budget needs runs at 3 model sizes or more whose losses curve upwards on both sides of a minimum "
            "(a parabola in log N opening upwards); add sizes on the side the loss still falls"
        )
    n_fits, d_fits = optima
    a, a_coefficient = power_law(np.array(budgets), np.array([10**f.x_opt for f in n_fits]))
    b, b_coefficient = power_law(np.array(budgets), np.array([10**f.x_opt for f in d_fits]))
    result = ScalingFit(budgets, n_fits, d_fits, a, a_coefficient, b, b_coefficient)
    outside = [f"{f.budget:.3g}" for f in n_fits if not f.inside]
    if outside:
        result.notes.append(f"the isoFLOP minimum lies outside the sampled sizes at budget(s) {', '.join(outside)}: extrapolated")
    rng = np.random.default_rng(seed)
    by_budget = [[p for p in points if p.flops == c] for c in budgets]
    samples_a, samples_b = [], []
    for _ in range(bootstrap):
        drawn = [runs[i] for runs in by_budget for i in rng.integers(0, len(runs), len(runs))]
        again = _optima(drawn)
        if again is None or not all(f.inside for f in again[0]):
            result.dropped += 1
            continue
        samples_a.append(power_law(np.array(budgets), np.array([10**f.x_opt for f in again[0]]))[0])
        samples_b.append(power_law(np.array(budgets), np.array([10**f.x_opt for f in again[1]]))[0])
    result.resamples = len(samples_a)
    if samples_a:
        result.a_interval = tuple(float(v) for v in np.percentile(samples_a, [2.5, 97.5]))
        result.b_interval = tuple(float(v) for v in np.percentile(samples_b, [2.5, 97.5]))
    return result
