"""Groups of seeds: summaries, Welch's test and the seeds a difference needs, checked against hand formulas and simulation."""

import math

import numpy as np
import pytest
from scipy import stats

from mlm_lab.analysis.significance import MAX_SEEDS, Group, rank, seeds_needed, welch_p


def test_a_group_summarises_its_seeds_and_leaves_out_non_finite_values():
    g = Group("lr=1e-3", [1.0, 2.0, 3.0, math.nan], ["a", "b", "c", "d"])
    assert (g.n, g.mean, g.std) == (3, 2.0, 1.0) and g.runs == ["a", "b", "c"]
    low, high = g.ci95
    assert high - g.mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)  # t(0.975, 2) = 4.302653
    assert g.mean - low == pytest.approx(high - g.mean)
    assert g.best_run("minimize") == "a" and g.best_run("maximize") == "c"
    one = Group("x", [1.5], ["r"])
    assert one.n == 1 and math.isnan(one.std) and all(math.isnan(v) for v in one.ci95)


def hand_welch(a, b) -> float:
    """Welch's test written out: t from the unpooled standard error, Welch-Satterthwaite degrees of freedom."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return 2 * stats.t.sf(abs(t), df)


@pytest.mark.parametrize(
    ("a", "b"),
    [([1.0, 1.1, 0.9], [1.5, 1.6, 1.4]), ([2.00, 2.03, 1.98, 2.01], [2.02, 2.05, 1.99]), ([0.5, 0.9], [0.4, 0.45, 0.5, 0.42, 0.48])],
)
def test_welch_p_values_match_the_formula(a, b):
    assert welch_p(a, b) == pytest.approx(hand_welch(a, b), rel=1e-9)


def test_welch_p_edge_cases():
    assert math.isnan(welch_p([1.0], [1.0, 2.0]))  # one seed: no spread to test against
    assert welch_p([1.0, 1.0], [2.0, 2.0]) == 0.0 and welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0


def simulated_power(mean_a, sd_a, mean_b, sd_b, n, trials=4000, seed=0) -> float:
    rng = np.random.default_rng(seed)
    a = rng.normal(mean_a, sd_a, size=(trials, n))
    b = rng.normal(mean_b, sd_b, size=(trials, n))
    return float(np.mean(stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05))


def test_seeds_needed_reach_80_percent_power_in_simulation_and_one_fewer_does_not():
    # samples whose sample mean and sd are exactly (0, 1) and (0.8, 1.5): the "observed" groups
    a = [-1.0, 0.0, 1.0]
    b = [0.8 - 1.5, 0.8, 0.8 + 1.5]
    n = seeds_needed(a, b)
    assert n is not None and 5 < n < 100
    assert simulated_power(0.0, 1.0, 0.8, 1.5, n) >= 0.78  # 4000 trials: the estimate's sd is 0.006
    assert simulated_power(0.0, 1.0, 0.8, 1.5, n - 1) < 0.8 + 0.02
    assert seeds_needed([1.0, 2.0], [1.0, 2.0]) is None  # no difference: no number of seeds finds it
    assert seeds_needed([1.0], [2.0, 3.0]) is None
    assert seeds_needed([0.0, 1.0], [0.01, 1.01]) == MAX_SEEDS + 1  # a difference lost in the noise: "more than 10000"


def test_rank_orders_groups_by_mean_and_marks_significance():
    """Constructed runs: known means and spreads, so the order and which differences are significant are known."""
    base = [0.99, 1.0, 1.01, 0.995, 1.005]  # mean 1.0, sd 0.0079
    best = Group("lr=3e-3", base, [f"b{i}" for i in range(5)])
    close = Group("lr=2e-3", [v + 0.005 for v in base], [f"c{i}" for i in range(5)])  # t = 1.0: p = 0.35
    far = Group("lr=1e-4", [v + 0.5 for v in base], [f"f{i}" for i in range(5)])
    broken = Group("lr=1", [math.nan, math.nan], ["x", "y"])
    ordered, comparisons = rank([far, broken, close, best], "minimize")
    assert [g.key for g in ordered] == ["lr=3e-3", "lr=2e-3", "lr=1e-4", "lr=1"]
    by_key = {c.group.key: c for c in comparisons}
    assert by_key["lr=1e-4"].significant and by_key["lr=1e-4"].p_value < 1e-6 and by_key["lr=1e-4"].seeds_needed is None
    assert by_key["lr=1e-4"].difference == pytest.approx(far.mean - best.mean)
    assert by_key["lr=2e-3"].p_value == pytest.approx(hand_welch(best.values, close.values))
    assert not by_key["lr=2e-3"].significant and by_key["lr=2e-3"].p_value > 0.3 and by_key["lr=2e-3"].seeds_needed > 5
    assert math.isnan(by_key["lr=1"].p_value) and not by_key["lr=1"].significant
    up, _ = rank([Group("a", [0.9, 0.91]), Group("b", [0.95, 0.96])], "maximize")
    assert [g.key for g in up] == ["b", "a"]
