"""Chinchilla's approach 3: the parametric loss L(N, D) = E + A / N^alpha + B / D^beta, fitted to every run at once.

As Hoffmann et al. (2022, appendix D.2) fit it: in log space, L = LSE(a - alpha log N, b - beta log D, e) with
A = exp(a), B = exp(b), E = exp(e), minimising the Huber loss (delta 1e-3) of log L's residuals with L-BFGS from a
grid of starting points, the best of which is kept. The law implies the compute-optimal split of a budget
C = k N D: N_opt = G (C / k)^(beta / (alpha + beta)), D_opt = C / (k N_opt), G = (alpha A / (beta B))^(1 / (alpha + beta)),
so its exponents can be set beside approach 2's (analysis/scaling.py). k is the runs' own FLOPs per parameter-token
(6 plus attention and the embedding's share; Chinchilla used 6). Intervals: a bootstrap over the runs.

Five parameters from a few dozen runs are loosely pinned down: the intervals say how loosely.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from mlm_lab.analysis.scaling import Point

DELTA = 1e-3  # Hoffmann et al.'s Huber delta
GRID = [
    (a, b, e, alpha, beta)
    for a in (0.0, 5.0, 10.0)
    for b in (0.0, 5.0, 10.0)
    for e in (-1.0, 0.0, 1.0)
    for alpha in (0.2, 0.5, 1.0)
    for beta in (0.2, 0.5, 1.0)
]
STARTS = 8  # L-BFGS runs from the grid's best points
BOOTSTRAP = 200


@dataclass
class LossLaw:
    e: float  # E, the irreducible loss
    a_coefficient: float  # A
    b_coefficient: float  # B
    alpha: float
    beta: float
    k: float  # FLOPs per parameter per token of these runs: C = k N D
    rms: float  # root mean square of log(L_law / L_run): the law's typical relative miss
    alpha_interval: tuple[float, float] = (math.nan, math.nan)
    beta_interval: tuple[float, float] = (math.nan, math.nan)
    a_interval: tuple[float, float] = (math.nan, math.nan)  # of N_opt's exponent, beta / (alpha + beta)
    resamples: int = 0

    def loss(self, n, d):
        return self.e + self.a_coefficient / np.power(n, self.alpha) + self.b_coefficient / np.power(d, self.beta)

    @property
    def a(self) -> float:
        """N_opt ~ C^a."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """D_opt ~ C^b."""
        return self.alpha / (self.alpha + self.beta)

    def optimal(self, flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) minimising the law's loss at C = flops."""
        g = (self.alpha * self.a_coefficient / (self.beta * self.b_coefficient)) ** (1 / (self.alpha + self.beta))
        n = g * (flops / self.k) ** self.a
        return n, flops / (self.k * n)


def _residuals(theta, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the law's three log terms, its log L, log L_law - log L_run) at theta = (a, b, e, alpha, beta)."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    predicted = logsumexp(terms, axis=0)
    return terms, predicted, predicted - log_l


def _objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean Huber loss of the log-loss residuals and its gradient in (a, b, e, alpha, beta)."""
    terms, predicted, r = _residuals(theta, log_n, log_d, log_l)
    huber = np.where(np.abs(r) <= DELTA, 0.5 * r * r, DELTA * (np.abs(r) - 0.5 * DELTA))
    slope = np.clip(r, -DELTA, DELTA)  # d huber / d r
    weights = np.exp(terms - predicted)  # softmax: d predicted / d term
    gradient = np.array(
        [
            np.sum(slope * weights[0]),
            np.sum(slope * weights[1]),
            np.sum(slope * weights[2]),
            np.sum(slope * weights[0] * -log_n),
            np.sum(slope * weights[1] * -log_d),
        ]
    )
    return float(huber.mean()), gradient / len(r)


def _solve(log_n, log_d, log_l, starts: list[np.ndarray]) -> np.ndarray:
    """The best of L-BFGS-B's minima from `starts`."""
    best, best_value = None, math.inf
    for start in starts:
        found = minimize(
            _objective,
            start,
            args=(log_n, log_d, log_l),
            jac=True,
            method="L-BFGS-B",
            bounds=[(None, None)] * 3 + [(1e-3, 5.0)] * 2,
            # the objective is ~1e-7: the default tolerances stop early (alpha 0.25 for a true 0.34)
            options={"gtol": 1e-14, "ftol": 1e-15, "maxiter": 2000},
        )
        if found.fun < best_value:
            best, best_value = found.x, float(found.fun)
    return best


def _best_starts(log_n, log_d, log_l, count: int) -> list[np.ndarray]:
    grid = np.array(GRID)
    values = [_objective(theta, log_n, log_d, log_l)[0] for theta in grid]
    return [grid[i] for i in np.argsort(values)[:count]]


def fit_law(points: list[Point], bootstrap: int = BOOTSTRAP, seed: int = 0) -> LossLaw:
    """Fit L(N, D) to the runs; raises ValueError when they cannot pin down its five parameters."""
    points = [p for p in points if math.isfinite(p.loss) and p.loss > 0 and p.params > 0 and p.tokens > 0]
    if len(points) < 6:
        raise ValueError(f"the L(N, D) fit has 5 parameters and needs 6 runs or more, found {len(points)}")
    if len({p.params for p in points}) < 2 or len({p.tokens for p in points}) < 2:
        raise ValueError("the L(N, D) fit needs runs that differ in both size N and tokens D")
    log_n = np.log([p.params for p in points])
    log_d = np.log([p.tokens for p in points])
    log_l = np.log([p.loss for p in points])
    theta = _solve(log_n, log_d, log_l, _best_starts(log_n, log_d, log_l, STARTS))
    k = float(np.median([p.flops / (p.params * p.tokens) for p in points]))
    a, b, e, alpha, beta = (float(v) for v in theta)
    rms = float(np.sqrt(np.mean(_residuals(theta, log_n, log_d, log_l)[2] ** 2)))
    law = LossLaw(math.exp(e), math.exp(a), math.exp(b), alpha, beta, k, rms)
    rng = np.random.default_rng(seed)
    alphas, betas, exponents = [], [], []
    for _ in range(bootstrap):
        i = rng.integers(0, len(points), len(points))
        if len(np.unique(log_n[i])) < 2 or len(np.unique(log_d[i])) < 2:
            continue
        again = _solve(log_n[i], log_d[i], log_l[i], [theta])  # from the full fit: a resample is close to it
        alphas.append(again[3])
        betas.append(again[4])
        exponents.append(again[4] / (again[3] + again[4]))
    law.resamples = len(alphas)
    if alphas:
        law.alpha_interval = tuple(float(v) for v in np.percentile(alphas, [2.5, 97.5]))
        law.beta_interval = tuple(float(v) for v in np.percentile(betas, [2.5, 97.5]))
        law.a_interval = tuple(float(v) for v in np.percentile(exponents, [2.5, 97.5]))
    return law
