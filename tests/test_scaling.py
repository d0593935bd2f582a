"""The isoFLOP fit on runs drawn from a known Chinchilla law: it recovers the exponents within its intervals."""

import math

import numpy as np
import pytest

from mlm_lab.analysis.scaling import Point, fit, parabola

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28  # Hoffmann et al.'s fitted law
TRUE_A, TRUE_B = BETA / (ALPHA + BETA), ALPHA / (ALPHA + BETA)  # N_opt ~ C^a, D_opt ~ C^b


def law(n, d):
    return E + A / n**ALPHA + B / d**BETA


def n_opt(c):
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    return g * (c / 6) ** TRUE_A


def isoflop_runs(budgets, noise=0.0, sizes=7, spread=0.6, seed=0):
    rng = np.random.default_rng(seed)
    points = []
    for c in budgets:
        for n in n_opt(c) * np.logspace(-spread, spread, sizes):
            d = c / (6 * n)
            points.append(Point(c, n, d, law(n, d) + noise * rng.standard_normal()))
    return points


def test_noise_free_runs_give_the_laws_exponents():
    result = fit(isoflop_runs([1e18, 1e19, 1e20, 1e21]), bootstrap=50)
    assert result.a == pytest.approx(TRUE_A, abs=0.01) and result.b == pytest.approx(TRUE_B, abs=0.01)
    assert result.a + result.b == pytest.approx(1.0, abs=0.005)  # C = 6ND ties them
    n, d = result.predict(1e22)
    assert n == pytest.approx(n_opt(1e22), rel=0.1) and 6 * n * d == pytest.approx(1e22, rel=0.05)
    assert all(p.inside for p in result.n_parabolas) and not result.notes


def test_noisy_runs_recover_the_exponents_inside_their_bootstrap_intervals():
    result = fit(isoflop_runs([1e18, 1e19, 1e20], noise=0.003, sizes=9, seed=3), bootstrap=400)
    low, high = result.a_interval
    assert low < TRUE_A < high and high - low < 0.2
    low, high = result.b_interval
    assert low < TRUE_B < high
    assert result.resamples + result.dropped == 400 and result.resamples > 300


def test_what_cannot_be_fitted_is_named():
    with pytest.raises(ValueError, match="2 FLOP budgets or more"):
        fit(isoflop_runs([1e18]))
    two_sizes = [p for p in isoflop_runs([1e18, 1e19], sizes=2)]
    with pytest.raises(ValueError, match="3 model sizes or more"):
        fit(two_sizes)
    assert parabola(1.0, np.array([1.0, 10.0, 100.0]), np.array([1.0, 2.0, 1.0])) is None  # opens downwards
    edge = fit(isoflop_runs([1e18, 1e19], spread=0.6) + [Point(1e18, 1e3, 1e18 / 6e3, math.nan)], bootstrap=20)
    assert len(edge.n_parabolas) == 2  # a NaN run is left out
