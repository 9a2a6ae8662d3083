"""Tests of rmt.predictions and proofs.finite_c_ratio: exact identities, limits, validation, and
the prediction against simulation.

Tolerances: quadrature results are compared with SciPy's adaptive quadrature
(:func:`proofs.large_c.laplace_p_moment`, relative tolerance 1e-10) at 1e-9 (ten times its
tolerance); exact identities at 1e-10 (the trapezoidal rules' own error is ≈ e^{-98}, what is
left is rounding in sums of ~10⁴ terms: 1e-16 · 10⁴ ≪ 1e-10); Monte Carlo comparisons at
``Z_MC`` standard errors (see below); statistical claims use the 99% CIs of rmt.claims.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import proofs
from proofs.large_c import laplace_p_moment
from rmt import predictions as pr

#: Two-sided Monte Carlo bound in standard errors: with ~6 such comparisons here, 4.5σ keeps the
#: family-wise false-failure rate below 6 × 6.8e-6 ≈ 4e-5.
Z_MC = 4.5


def test_derivations_pass():
    out = proofs.run_all(["finite_c_ratio.aggregate", "finite_c_ratio.model"])
    for d, r, _ in out:
        assert r.passed, f"{d.id}: {r.detail}"
        assert "\n" not in d.statement


@pytest.mark.parametrize("C,sigma", [(2, 1.0), (7, 0.6), (50, 1.0), (3, 2.0)])
def test_softmax_moments_match_adaptive_quadrature(C, sigma):
    for m in (1, 2, 3):
        got = pr.softmax_moment([(m, 0)], C, sigma)
        want = laplace_p_moment(m, C, sigma)
        assert got == pytest.approx(want, rel=1e-9)
    got = pr.softmax_moment([(2, 0), (2, 0)], C, sigma)
    assert got == pytest.approx(laplace_p_moment(2, C, sigma, pair=True), rel=1e-9)


@pytest.mark.parametrize("C,sigma", [(2, 0.5), (10, 1.0), (1000, 1.0), (128000, 1.0), (20, 2.5)])
def test_exact_identities(C, sigma):
    m = lambda *s: pr.softmax_moment(list(s), C, sigma)  # noqa: E731
    # Σ_j p_j = 1: C E p = 1 and E p² + (C − 1) E p_1 p_2 = 1/C
    assert C * m((1, 0)) == pytest.approx(1.0, rel=1e-10)
    assert C * (m((2, 0)) + (C - 1) * m((1, 0), (1, 0))) == pytest.approx(1.0, rel=1e-10)
    w = pr.weight_moments(C, sigma)
    assert w.B1 == pytest.approx(C * w.A1 / (C - 1), rel=1e-10)   # finite_c_ratio.aggregate
    # the z^a extension, by Stein: E[p_i z_i] = σ² E[∂p_i/∂z_i] = σ² E[p_i(1 − p_i)], and
    # E[p_i z_j] = −σ² E[p_i p_j]
    assert m((1, 1)) == pytest.approx(sigma ** 2 * (m((1, 0)) - m((2, 0))), rel=1e-10)
    if C >= 2:
        assert m((1, 0), (0, 1)) == pytest.approx(-sigma ** 2 * m((1, 0), (1, 0)), rel=1e-9)


def test_weight_moments_against_monte_carlo():
    for C in (10, 200):
        q = pr.weight_moments(C, 1.0)
        mc = pr.weight_moments(C, 1.0, method="montecarlo", n_samples=2 ** 20, seed=3)
        for k, name in enumerate(("A1", "A2", "B1", "B2")):
            se = mc.stderr[k]
            assert abs(getattr(mc, name) - getattr(q, name)) <= Z_MC * se + 1e-12, (C, name)


def test_uniform_and_two_class_cases_are_exact():
    # σ = 0 (V = 0): ratio 1/(C − 1) at every d, N, for every correction
    for corr in pr.CORRECTIONS:
        for C in (2, 5, 40):
            p = pr.predict_block_ratio(C, 0.0, dim=30, n_samples=60, correction=corr)
            assert p.c_per_block == pytest.approx(C / (C - 1), rel=1e-12)
            assert p.aggregate == pytest.approx(1 / math.sqrt(C - 1), rel=1e-12)
    # C = 2: b = 2a, so C·R_pb = 2 exactly at every σ
    for corr in pr.CORRECTIONS:
        for s in (0.5, 1.0, 2.0):
            p = pr.predict_block_ratio(2, s, dim=40, n_samples=80, correction=corr)
            assert p.c_per_block == pytest.approx(2.0, rel=1e-10)


def test_large_c_limits():
    # kappa(1, 1/2) from the closed form
    k = math.sqrt((0.5 * math.e ** 2 + 1) / (0.5 * math.e + 1))
    assert pr.kappa(1.0, 0.5) == pytest.approx(k, rel=1e-14)
    inf = pr.predict_block_ratio(math.inf, 1.0, 0.5)
    assert inf.c_per_block == pytest.approx(k, rel=1e-14)
    # at C = 1e5 the moments are within O(1/C) (first-order coefficient ≲ 10) of the limit
    big = pr.predict_block_ratio(100000, 1.0, 0.5)
    assert big.c_per_block == pytest.approx(k, rel=1e-4)
    fin = pr.predict_block_ratio(100000, 1.0, dim=400, n_samples=800)
    assert fin.c_per_block == pytest.approx(pr.kappa_finite_d(1.0, 400, 800), rel=1e-4)
    Ka, Kb = pr.curvature_terms(100000, 1.3)
    assert Ka == pytest.approx(1.3 ** 4 / 2, rel=1e-3)
    assert Kb == pytest.approx(2 * 1.3 ** 4, rel=1e-3)
    assert pr.curvature_terms(math.inf, 1.3) == pytest.approx((1.3 ** 4 / 2, 2 * 1.3 ** 4))


def test_finite_d_terms_vanish_as_d_grows():
    # relative O(1/d) corrections: at d = 1e6 they are ~1e-5
    lim = pr.predict_block_ratio(200, 1.0, 0.5).c_per_block
    for corr in ("model", "independent"):
        p = pr.predict_block_ratio(200, 1.0, dim=10 ** 6, n_samples=2 * 10 ** 6, correction=corr)
        assert p.c_per_block == pytest.approx(lim, rel=1e-4)
    # and the model term is not the independent one at d = 400 (≈ +0.7 % at C = 200)
    m = pr.predict_block_ratio(200, 1.0, dim=400, n_samples=800).c_per_block
    i = pr.predict_block_ratio(200, 1.0, dim=400, n_samples=800, correction="independent")
    assert 0.004 < m / i.c_per_block - 1 < 0.01


def test_design_numbers_reproduced():
    # docs/design.md §1: C·ratio = 1.288, 1.326, 1.377 at C = 10, 50, 200 as d, N → ∞
    # (σ = 1, γ = 1/2), limit 1.4106.
    vals = [pr.predict_block_ratio(C, 1.0, 0.5).c_per_block for C in (10, 50, 200)]
    assert vals == pytest.approx([1.2883, 1.3258, 1.3774], abs=5e-4)
    assert pr.kappa(1.0, 0.5) == pytest.approx(1.4106, abs=5e-5)


def test_montecarlo_prediction_propagates_error():
    q = pr.predict_block_ratio(50, 1.0, dim=400, n_samples=800, correction="independent")
    mc = pr.predict_block_ratio(50, 1.0, dim=400, n_samples=800, correction="independent",
                                method="montecarlo", mc_samples=2 ** 20, seed=1)
    assert mc.stderr_c_per_block > 0
    assert abs(mc.c_per_block - q.c_per_block) <= Z_MC * mc.stderr_c_per_block


def test_ratio_curve_and_to_dict():
    c = pr.ratio_curve([10, 100, 1000], 1.0, 0.5)
    assert c["per_block"] == pytest.approx(c["c_per_block"] / np.array([10, 100, 1000]))
    assert c["aggregate"] == pytest.approx(c["per_block"] * np.sqrt([9, 99, 999]))
    d = pr.predict_block_ratio(math.inf, 1.0, 0.5).to_dict()
    assert d["n_classes"] == "inf"


@pytest.mark.parametrize("kwargs,match", [
    ({"n_classes": 1, "gamma": 0.5}, "n_classes"),
    ({"n_classes": 10, "sigma": -1.0, "gamma": 0.5}, "sigma"),
    ({"n_classes": 10, "sigma": 5.0, "gamma": 0.5}, "sigma"),
    ({"n_classes": 10}, "gamma"),
    ({"n_classes": 10, "gamma": 0.5, "dim": 100, "n_samples": 300}, "gamma"),
    ({"n_classes": 10, "n_samples": 300}, "dim"),
    ({"n_classes": 10, "sigma": 2.0, "dim": 20, "n_samples": 40}, "dim"),
    ({"n_classes": 10, "dim": 100, "n_samples": 200, "method": "montecarlo"}, "method"),
    ({"n_classes": 10, "gamma": 0.5, "correction": "magic"}, "correction"),
])
def test_prediction_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pr.predict_block_ratio(**kwargs)


def test_moment_validation():
    with pytest.raises(ValueError, match="spec"):
        pr.softmax_moment([(0, 1)], 5, 1.0)
    with pytest.raises(ValueError, match="spec"):
        pr.softmax_moment([(9, 0)], 5, 1.0)
    with pytest.raises(ValueError, match="n_classes"):
        pr.softmax_moment([(1, 0)], math.inf, 1.0)
    assert pr.softmax_moment([(1, 0)] * 3, 2, 1.0) == 0.0      # three distinct of two classes
    with pytest.raises(ValueError, match="dim"):
        pr.kappa_finite_d(2.0, 16, 32)
    with pytest.raises(ValueError, match="gamma"):
        pr.kappa(1.0, 0.0)


def test_fit_loglog_slope_is_the_stats_fit():
    """One power-law fit in rmt (tested in tests/test_stats.py); predictions re-exports it."""
    from rmt.stats import PowerLawFit, fit_power_law

    assert pr.fit_loglog_slope is fit_power_law and pr.SlopeFit is PowerLawFit
    x = np.array([10.0, 30, 100, 300, 1000])
    f = pr.fit_loglog_slope(x, 3 * x ** -0.7, 0.01 * x ** -0.7, level=0.99)
    assert f.slope == pytest.approx(-0.7, abs=1e-12) and f.n_points == 5
    assert f.ci_low <= f.slope <= f.ci_high and f.x_range == (10.0, 1000.0)


def test_hidden_prediction():
    p = pr.predict_hidden_ratio(15, 8, blocks="W", loss="ce", gamma=0.5)
    rho = math.sqrt((1 + 4 * 0.5) / (4 + 8 * 0.5))
    assert p.per_block == pytest.approx(rho / 4, rel=1e-12)
    assert p.aggregate == pytest.approx(math.sqrt(7) * p.per_block)
    assert pr.predict_hidden_ratio(15, 8, blocks="V", loss="mse").per_block == 0.0
    assert pr.predict_hidden_ratio(11, 8, blocks="V").per_block == pytest.approx(0.1)
    with pytest.raises(ValueError, match="blocks"):
        pr.predict_hidden_ratio(10, 8, blocks="X")
    with pytest.raises(ValueError, match="gamma"):
        pr.predict_hidden_ratio(10, 8)
    # gamma, dim and n_samples all given must agree (not: gamma silently ignored)
    with pytest.raises(ValueError, match="gamma"):
        pr.predict_hidden_ratio(10, 8, dim=100, n_samples=200, gamma=2.0)
    q = pr.predict_hidden_ratio(10, 8, dim=100, gamma=0.5)
    assert q.rho2 == pr.predict_hidden_ratio(10, 8, dim=100, n_samples=200).rho2


@pytest.mark.slow
def test_must_show_per_block_ratio_within_ci_of_finite_c_prediction():
    """Must-show: at σ = 1, γ = 1/2, d = 400 the measured C·(per-block RMS ratio) lies within
    its 99% CI of the finite-C prediction for C = 10, 50, 200, 1000 (32 seeds each)."""
    from scipy import stats

    from rmt.catalog.block_ratio import rms_trials

    T = 32
    Cs = (10, 50, 200, 1000)
    c_pb, _ = rms_trials(Cs, 1.0, 400, 800, T, seed=2024)
    h = stats.t.ppf(0.995, T - 1)
    for i, C in enumerate(Cs):
        v = c_pb[i]
        m, se = v.mean(), v.std(ddof=1) / math.sqrt(T)
        pred = pr.predict_block_ratio(C, 1.0, dim=400, n_samples=800).c_per_block
        assert abs(m - pred) <= h * se, (C, m, se, pred)


@pytest.mark.slow
def test_mean_of_ratios_sits_below_rms_ratio():
    """The module docstring's statement: the mean of per-pair ratios is below the RMS ratio by
    a Jensen gap of a few per cent at σ = 1, N = 800, C = 1000 (not an O(1/d) effect)."""
    from rmt import backend as bk
    from rmt.hessian import block_ratio
    from rmt.models import LinearClassifier

    gaps = []
    for ss in bk.spawn_seeds(7, 6):
        sx, sv, sp = ss.spawn(3)
        X = bk.standard_normal((800, 400), sx)
        r = block_ratio(LinearClassifier.init(1000, 400, 1.0, seed=sv), X, pairs=512, seed=sp)
        gaps.append(r.per_block_mean / (r.aggregate / math.sqrt(999)) - 1)
    g = np.array(gaps)
    se = g.std(ddof=1) / math.sqrt(g.size)
    assert g.mean() + 4.03 * se < -0.01      # 99% t₅ upper bound below −1 %
