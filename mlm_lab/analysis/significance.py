"""Is a setting better, or was it the seed? Groups of runs that differ only in their seed, compared by Welch's t-test.

A group is one config trained with n seeds: its objective's mean, sample standard deviation and 95%
confidence interval of the mean (Student's t with n - 1 degrees of freedom). Groups are ranked by mean;
the best is compared with each other group by Welch's two-sided t-test (unequal variances), and where
the difference is not significant at `alpha`, by how many seeds per group a difference of that size
would need to be found significant with 80% power (the observed means and standard deviations taken
as the truth; a noncentral t for Welch's statistic with equal group sizes).
"""

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 10_000  # beyond this, "more than 10000" (a difference lost in the noise)


@dataclass
class Group:
    """One config's runs over seeds: `values[i]` is the objective of run `runs[i]`."""

    key: str  # the settings shared by the group (what varied between groups, the seed left out)
    values: list[float]
    runs: list[str] = field(default_factory=list)

    def __post_init__(self):
        kept = [(v, r) for v, r in zip(self.values, self.runs or [""] * len(self.values)) if math.isfinite(v)]
        self.values = [float(v) for v, _ in kept]
        self.runs = [r for _, r in kept]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1); nan below 2 seeds."""
        return float(np.std(self.values, ddof=1)) if self.n >= 2 else math.nan

    @property
    def ci95(self) -> tuple[float, float]:
        """The 95% confidence interval of the mean (t with n - 1 degrees of freedom); (nan, nan) below 2 seeds."""
        if self.n < 2:
            return math.nan, math.nan
        half = float(stats.t.ppf(0.975, self.n - 1)) * self.std / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    def best_run(self, direction: str) -> str | None:
        """The run of the group's best seed."""
        if not self.values:
            return None
        pick = np.argmax if direction == "maximize" else np.argmin
        return self.runs[int(pick(self.values))]


def welch_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test of equal means; nan when a group has fewer than 2 values or neither varies."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.var(a) == 0 and np.var(b) == 0:
        return 0.0 if np.mean(a) != np.mean(b) else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def welch_power(difference: float, std_a: float, std_b: float, n: int, alpha: float = ALPHA) -> float:
    """Power of a two-sided Welch test with `n` seeds per group to find `difference` between means."""
    se2 = (std_a**2 + std_b**2) / n
    if se2 == 0:
        return 1.0 if difference != 0 else 0.0
    df = se2**2 / ((std_a**2 / n) ** 2 / (n - 1) + (std_b**2 / n) ** 2 / (n - 1))
    ncp = abs(difference) / math.sqrt(se2)
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.nct.sf(critical, df, ncp) + stats.nct.cdf(-critical, df, ncp))


def seeds_needed(a: list[float], b: list[float], alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds per group for a Welch test to find the observed difference with `power`; None when the means are equal
    (no number of seeds finds a zero difference) or a group has fewer than 2 values (no spread to go by)."""
    if len(a) < 2 or len(b) < 2:
        return None
    difference = float(np.mean(a) - np.mean(b))
    if difference == 0:
        return None
    sa, sb = float(np.std(a, ddof=1)), float(np.std(b, ddof=1))
    low, high = 2, 2
    while welch_power(difference, sa, sb, high, alpha) < power:  # doubling, then bisection: the power grows with n
        low, high = high, high * 2
        if high > MAX_SEEDS:
            return MAX_SEEDS + 1
    while low < high:
        middle = (low + high) // 2
        if welch_power(difference, sa, sb, middle, alpha) >= power:
            high = middle
        else:
            low = middle + 1
    return high


@dataclass
class Comparison:
    """The best group against one other."""

    group: Group
    difference: float  # other's mean minus the best's
    p_value: float
    significant: bool
    seeds_needed: int | None  # per group, where not significant


def rank(groups: list[Group], direction: str, alpha: float = ALPHA) -> tuple[list[Group], list[Comparison]]:
    """(groups best first by mean, the best compared with each other group). Groups without a finite value go last."""
    sign = -1.0 if direction == "maximize" else 1.0
    ordered = sorted(groups, key=lambda g: (g.n == 0, sign * g.mean if g.n else 0.0))
    if not ordered:
        return [], []
    best = ordered[0]
    comparisons = []
    for other in ordered[1:]:
        p = welch_p(best.values, other.values)
        significant = bool(p < alpha) if not math.isnan(p) else False
        needed = None if significant else seeds_needed(best.values, other.values, alpha)
        comparisons.append(Comparison(other, other.mean - best.mean, p, significant, needed))
    return ordered, comparisons
