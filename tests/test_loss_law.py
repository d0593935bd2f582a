"""Chinchilla's L(N, D) fit on runs drawn from the known law: it recovers the parameters, within its intervals under noise."""

import numpy as np
import pytest
from test_scaling import ALPHA, BETA, TRUE_A, A, B, E, isoflop_runs, n_opt

from mlm_lab.analysis.loss_law import fit_law
from mlm_lab.analysis.scaling import Point


def test_noise_free_runs_give_the_law_back():
    law = fit_law(isoflop_runs([1e18, 1e19, 1e20], sizes=5), bootstrap=5)
    assert (law.e, law.alpha, law.beta) == pytest.approx((E, ALPHA, BETA), rel=1e-4)
    assert (law.a_coefficient, law.b_coefficient) == pytest.approx((A, B), rel=1e-3)
    assert law.k == pytest.approx(6.0) and law.rms < 1e-6
    assert law.a == pytest.approx(TRUE_A) and law.a + law.b == pytest.approx(1.0)
    n, d = law.optimal(1e22)
    assert n == pytest.approx(n_opt(1e22), rel=1e-3) and 6 * n * d == pytest.approx(1e22)


def test_noisy_runs_keep_the_true_exponents_inside_the_bootstrap_intervals():
    law = fit_law(isoflop_runs([1e18, 1e19, 1e20], noise=0.01, sizes=7, seed=1), bootstrap=40)
    for true, (low, high) in ((ALPHA, law.alpha_interval), (BETA, law.beta_interval), (TRUE_A, law.a_interval)):
        assert low < true < high and high - low < 0.1
    assert law.resamples == 40 and 0.0005 < law.rms < 0.01  # noise of 0.01 nats on losses of 2.5-4: ~0.3%


def test_the_runs_own_flops_per_parameter_token_set_the_split():
    runs = [Point(p.flops * 8 / 6, p.params, p.tokens, p.loss) for p in isoflop_runs([1e18, 1e19, 1e20], sizes=5)]
    law = fit_law(runs, bootstrap=0)
    n, d = law.optimal(8e21)  # C = 8 N D here: the optimum of 8e21 is the 6 N D law's at 6e21
    assert law.k == pytest.approx(8.0) and n == pytest.approx(n_opt(6e21), rel=1e-3) and 8 * n * d == pytest.approx(8e21)


def test_what_cannot_pin_the_law_down_is_named():
    runs = isoflop_runs([1e18, 1e19], sizes=3)
    with pytest.raises(ValueError, match="needs 6 runs or more, found 5"):
        fit_law(runs[:5])
    one_size = [Point(c, 1e6, c / 6e6, 2.0 + np.log10(c) * 0.0) for c in (1e12, 2e12, 4e12, 8e12, 1.6e13, 3.2e13)]
    with pytest.raises(ValueError, match="differ in both size N and tokens D"):
        fit_law(one_size)
