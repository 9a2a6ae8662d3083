"""Tests of rmt.fit: MP / weighted-MP fits, CIs, distances, bootstrap p-values, outliers.

Acceptance bounds for coverage and rates come from the binomial distribution: with ``T``
independent seeded trials of an event of probability ``p``, the count is Binomial(T, p); we
accept counts inside the central ``1 − 2·ALPHA_TEST`` region, so a correct implementation fails
each such check with probability at most ``2·ALPHA_TEST = 0.002`` (one-sided checks: 0.001).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from rmt import backend as bk
from rmt.fit import (
    MPFit,
    WeightedMPFit,
    edge_scale,
    fit_mp,
    fit_weighted_mp,
    gof_distances,
    ks_statistic,
    mp_edge_threshold,
    tw1_cdf,
    tw1_ppf,
    wasserstein1,
    wishart_profile_loglik,
)
from rmt.laws import MarchenkoPastur, WeightedMP

ALPHA_TEST = 1e-3


def binom_bounds(trials: int, p: float) -> tuple[int, int]:
    """Central acceptance region [lo, hi] of Binomial(trials, p) at ALPHA_TEST per side."""
    lo = int(stats.binom.ppf(ALPHA_TEST, trials, p))
    hi = int(stats.binom.isf(ALPHA_TEST, trials, p))
    return lo, hi


def mp_eigs(d: int, N: int, scale: float, seeds) -> list[np.ndarray]:
    out = []
    for ss in seeds:
        X = np.random.default_rng(ss).standard_normal((N, d))
        out.append(np.linalg.eigvalsh(X.T @ X) * (scale / N))
    return out


# ------------------------------------------------------------------------------ Tracy–Widom


def test_tw1_quantiles_match_tables():
    # Tabulated TW1 quantiles (4 decimals): the computed ones must round to them.
    for q, s in ((0.90, 0.4501), (0.95, 0.9793), (0.99, 2.0234)):
        assert abs(tw1_ppf(q) - s) <= 5e-5
    assert tw1_cdf(-20.0) == 0.0 and tw1_cdf(20.0) == 1.0
    F = tw1_cdf(np.array([-3.0, 0.0, 3.0]))
    assert np.all(np.diff(F) > 0)


def test_tw1_mean_matches_literature():
    """Mean of TW1 = −1.2065335745820 (Bornemann 2010). By parts, E = ∫_0^∞(1−F) − ∫_{−∞}^0 F;
    60-point Gauss–Legendre on [−9, 0] and [0, 7] (F(−9) < 1e-13, 1 − F(7) < 1e-9) leaves an
    error far below the 1e-6 tolerance, which covers the truncation (≈ 1e-9)."""
    x, w = np.polynomial.legendre.leggauss(60)
    left = 4.5 * (x + 1) - 9.0
    right = 3.5 * (x + 1)
    mean = 3.5 * np.sum(w * (1 - tw1_cdf(right))) - 4.5 * np.sum(w * tw1_cdf(left))
    assert mean == pytest.approx(-1.2065335745820, abs=1e-6)


def test_mp_edge_threshold_false_alarm_rate():
    """λ_max of null matrices exceeds the 5% threshold in Binomial(T, 0.05) many trials."""
    d, N, T = 40, 80, 600
    thr = mp_edge_threshold(d, N, 1.0, 0.05)
    lmax = np.array([ev[-1] for ev in mp_eigs(d, N, 1.0, bk.spawn_seeds(11, T))])
    lo, hi = binom_bounds(T, 0.05)
    assert lo <= np.count_nonzero(lmax > thr) <= hi


def test_edge_scale_matches_johnstone_leading_order():
    g, s, d = 0.5, 2.0, 300
    expected = s * (1 + math.sqrt(g)) ** (4 / 3) * math.sqrt(g) * d ** (-2 / 3)
    # Richardson from h = 1e-6 width leaves O(h²) ~ 1e-12 relative
    assert edge_scale(MarchenkoPastur(g, s), d) == pytest.approx(expected, rel=1e-8)


# ------------------------------------------------------------------------------ distances


def test_ks_equals_scipy_for_continuous_law():
    law = MarchenkoPastur(0.5, 2.0)
    ev = mp_eigs(100, 200, 2.0, bk.spawn_seeds(3, 1))[0]
    assert ks_statistic(ev, law) == pytest.approx(stats.kstest(ev, law.cdf).statistic,
                                                  abs=1e-15)


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_w1_equals_scipy_against_fine_discretisation(ratio):
    """scipy's W1 between the eigenvalues and the law discretised on M cells of [a, b] (mass
    F(x_{k+1}) − F(x_k) at each cell midpoint, the atom at 0) differs from the true W1 by at
    most W1(law, discretisation) ≤ h/2 = (b − a)/(2M)."""
    law = MarchenkoPastur(ratio, 1.5)
    N = int(100 / ratio)
    ev = mp_eigs(100, N, 1.5, bk.spawn_seeds(4, 1))[0]
    a, b = law.support()
    M = 1_000_000
    x = np.linspace(a, b, M + 1)
    F = law.cdf(x)
    vals = np.concatenate([[0.0], 0.5 * (x[1:] + x[:-1])])
    wts = np.concatenate([[F[0]], np.diff(F)])
    ref = stats.wasserstein_distance(np.where(np.abs(ev) < 1e-10, 0.0, ev), vals, None, wts)
    tol = (b - a) / (2 * M) + 1e-12
    assert abs(wasserstein1(ev, law) - ref) <= tol


def test_ks_with_atom_is_exact_supremum():
    """γ = 2: an atom 1/2 at 0. Compare with a brute-force sup over both one-sided limits."""
    law = MarchenkoPastur(2.0, 1.0)
    ev = mp_eigs(60, 30, 1.0, bk.spawn_seeds(5, 1))[0]
    ks = ks_statistic(ev, law)
    x = np.sort(np.where(np.abs(ev) < 1e-10, 0.0, ev))
    xs = np.unique(x)
    Fn = lambda t: np.searchsorted(x, t, side="right") / x.size  # noqa: E731
    brute = max(np.max(np.abs(Fn(xs) - law.cdf(xs))),
                np.max(np.abs(Fn(np.nextafter(xs, -np.inf)) - law.cdf(np.nextafter(xs, -np.inf)))))
    assert ks == pytest.approx(brute, abs=1e-15)
    assert ks < 0.2  # the atom is matched: without snapping it would be ≥ 0.5
    assert gof_distances(ev, law) == (pytest.approx(ks), pytest.approx(wasserstein1(ev, law)))


def test_bidiagonal_null_model_matches_dense_matrices():
    """The bootstrap's Dumitriu–Edelman sampler against dense s·XᵀX/N: exact moments
    E Σλ = s d and E Σλ² = s² d (N + d + 1)/N (4.5 SE, also for real N), and a two-sample KS
    test of λ_max and λ_min against dense draws at level ALPHA_TEST."""
    from rmt.fit import _simulate_mp

    d, T, s = 10, 1000, 1.3
    for N in (15, 15.5, 6):
        ev = np.array(_simulate_mp(d, N, s, bk.spawn_seeds(41, T)))
        m1, m2 = ev.sum(1), (ev**2).sum(1)
        assert abs(m1.mean() - s * d) < 4.5 * m1.std(ddof=1) / math.sqrt(T)
        exact2 = s * s * d * (N + d + 1) / N
        assert abs(m2.mean() - exact2) < 4.5 * m2.std(ddof=1) / math.sqrt(T)
    sim = np.array(_simulate_mp(d, 15, s, bk.spawn_seeds(42, T)))
    dense = np.array(mp_eigs(d, 15, s, bk.spawn_seeds(43, T)))
    for col in (0, -1):
        assert stats.ks_2samp(sim[:, col], dense[:, col]).pvalue > ALPHA_TEST
    few = np.array(_simulate_mp(d, 6, s, bk.spawn_seeds(44, 3)))
    assert np.all(few[:, :4] == 0) and np.all(few[:, 4:] > 0)  # rank N = 6


# ------------------------------------------------------------------------------ estimators


def test_wishart_profile_loglik_is_maximised_at_mle():
    ev = mp_eigs(30, 60, 1.0, bk.spawn_seeds(6, 1))[0]
    f = fit_mp(ev)
    sl, sm = float(np.sum(np.log(ev))), float(np.sum(ev))
    top = wishart_profile_loglik(f.n_samples, sl, sm, 30)
    for n in (f.n_samples * 0.97, f.n_samples * 1.03):
        assert wishart_profile_loglik(n, sl, sm, 30) < top
    with pytest.raises(ValueError, match="n must be"):
        wishart_profile_loglik(10.0, sl, sm, 30)


def test_rank_identifies_ratio_above_one():
    ev = mp_eigs(50, 20, 3.0, bk.spawn_seeds(7, 1))[0]
    for method in ("mle", "moments"):
        f = fit_mp(ev, method=method)
        assert f.ratio == 2.5 and f.ratio_fixed and f.ratio_ci == (2.5, 2.5)


def test_scale_ci_exact_coverage():
    """γ known: the χ²_{Nd} interval is exact, so coverage ~ Binomial(T, 0.95) both ways."""
    d, N, s, T = 20, 40, 1.7, 400
    hits = 0
    for ev in mp_eigs(d, N, s, bk.spawn_seeds(21, T)):
        lo, hi = fit_mp(ev, ratio=d / N).scale_ci
        hits += lo <= s <= hi
    lo_b, hi_b = binom_bounds(T, 0.95)
    assert lo_b <= hits <= hi_b, hits


def test_mle_ratio_ci_coverage():
    """γ unknown: profile likelihood-ratio CI (asymptotic). Measured rate must not fall below the
    Binomial(T, 0.95) lower bound, nor exceed the upper one (that would mean a too-wide CI)."""
    d, N, s, T = 20, 40, 1.0, 300
    hits_r = hits_s = 0
    for ev in mp_eigs(d, N, s, bk.spawn_seeds(22, T)):
        f = fit_mp(ev)
        hits_r += f.ratio_ci[0] <= d / N <= f.ratio_ci[1]
        hits_s += f.scale_ci[0] <= s <= f.scale_ci[1]
    lo_b, hi_b = binom_bounds(T, 0.95)
    assert lo_b <= hits_r <= hi_b, hits_r
    assert lo_b <= hits_s <= hi_b, hits_s


def test_moment_estimates_are_nearly_unbiased():
    """Mean of γ̂ (moments, finite-size matched) over T seeds within 4.5 SE of the truth."""
    d, N, T = 20, 40, 300
    r = np.array([fit_mp(ev, method="moments").ratio
                  for ev in mp_eigs(d, N, 1.0, bk.spawn_seeds(23, T))])
    assert abs(r.mean() - d / N) < 4.5 * r.std(ddof=1) / math.sqrt(T)


@pytest.mark.slow
def test_moments_bootstrap_ratio_ci_coverage():
    d, N, T = 20, 40, 200
    hits = 0
    for ev in mp_eigs(d, N, 1.0, bk.spawn_seeds(24, T)):
        lo, hi = fit_mp(ev, method="moments", n_boot=199, seed=0).ratio_ci
        hits += lo <= d / N <= hi
    assert hits >= binom_bounds(T, 0.95)[0], hits


def _weighted_eigs(d, N, c, values, probs, seeds):
    out = []
    for ss in seeds:
        rng = np.random.default_rng(ss)
        X = rng.standard_normal((N, d))
        w = rng.choice(values, size=N, p=probs)
        out.append(np.linalg.eigvalsh((X * w[:, None]).T @ X) * (c / N))
    return out


def test_weighted_scale_ci_coverage():
    """CI from the exact variance of mean λ (normal pivot): coverage within Binomial bounds."""
    d, N, c, T = 20, 40, 2.5, 300
    values, probs = np.array([0.5, 2.0]), np.array([0.6, 0.4])
    law = WeightedMP(d / N, (values, probs))
    hits = 0
    for ev in _weighted_eigs(d, N, c, values, probs, bk.spawn_seeds(25, T)):
        lo, hi = fit_weighted_mp(ev, d / N, law).scale_ci
        hits += lo <= c <= hi
    lo_b, hi_b = binom_bounds(T, 0.95)
    assert lo_b <= hits <= hi_b, hits


@given(st.floats(1e-3, 1e3), st.integers(0, 2**32 - 1))
def test_fit_is_scale_equivariant(c, seed):
    ev = mp_eigs(15, 30, 1.0, bk.spawn_seeds(seed, 1))[0]
    a, b = fit_mp(ev), fit_mp(ev * c)
    assert b.scale == pytest.approx(c * a.scale, rel=1e-12)
    assert b.ratio == pytest.approx(a.ratio, rel=1e-9)
    assert b.ks == pytest.approx(a.ks, abs=1e-9)
    assert b.w1 == pytest.approx(c * a.w1, rel=1e-7)
    assert fit_mp(ev[::-1]).ratio == a.ratio  # order does not matter


# ------------------------------------------------------------------------------ bootstrap


def test_bootstrap_p_values_roughly_uniform_under_null():
    """Coarse: T null datasets, n_boot = 39 each. Under the null p is (nearly) uniform on
    {1/40, …, 1}; accept if the KS test against U(0, 1) has p-value > ALPHA_TEST (the 1/40
    granularity adds at most 0.025 to the KS distance, far below its critical value ≈ 0.27)."""
    d, N, T = 16, 32, 40
    p = np.array([fit_mp(ev, ratio=d / N, n_boot=39, seed=i).p_value
                  for i, ev in enumerate(mp_eigs(d, N, 1.0, bk.spawn_seeds(31, T)))])
    assert stats.kstest(p, "uniform").pvalue > ALPHA_TEST, np.sort(p)


def test_bootstrap_rejects_a_wrong_model_and_is_reproducible():
    """Eigenvalues of a covariance with two population variances (1 and 6) are far from MP."""
    rng = np.random.default_rng(8)
    d, N = 60, 120
    X = rng.standard_normal((N, d)) * np.sqrt(np.repeat([1.0, 6.0], d // 2))
    ev = np.linalg.eigvalsh(X.T @ X / N)
    f = fit_mp(ev, n_boot=39, seed=5, exclude_outliers=False)
    assert f.p_value == pytest.approx(1 / 40) and f.p_value_w1 == pytest.approx(1 / 40)
    g = fit_mp(ev, n_boot=39, seed=5, exclude_outliers=False)
    assert np.array_equal(f.boot["ks"], g.boot["ks"]) and f.p_value == g.p_value


def test_weighted_bootstrap_runs_and_calibrates_roughly():
    d, N = 20, 40
    values, probs = np.array([0.5, 2.0]), np.array([0.6, 0.4])
    ev = _weighted_eigs(d, N, 1.0, values, probs, bk.spawn_seeds(9, 1))[0]
    f = fit_weighted_mp(ev, d / N, (values, probs), n_boot=19, seed=1)
    assert isinstance(f, WeightedMPFit) and 0 < f.p_value <= 1 and f.boot["ks"].size == 19
    assert "WeightedMPFit(scale=" in repr(f)


# ------------------------------------------------------------------------------ outliers


def test_planted_spike_is_found():
    """Population covariance I + 5 e₁e₁ᵀ at γ = 1/2: the spike sits near (1+5)(1+γ/5) = 6.6,
    far above the edge 2.91 (BBP threshold √γ ≈ 0.71 < 5)."""
    rng = np.random.default_rng(12)
    d, N = 200, 400
    X = rng.standard_normal((N, d))
    X[:, 0] *= math.sqrt(6.0)
    ev = np.linalg.eigvalsh(X.T @ X / N)
    f = fit_mp(ev, ratio=0.5)
    assert len(f.outliers) == 1 and f.outliers[0] == ev[-1]
    assert abs(f.outliers[0] - 6.6) < 0.8  # spike fluctuates O(N^{-1/2}) ≈ 0.5·6/√(N/2)
    assert f.scale == pytest.approx(1.0, abs=0.03)  # bulk-only estimate (SE ≈ 0.005)
    g = fit_mp(ev, ratio=0.5, exclude_outliers=False)
    assert g.outliers == f.outliers and g.scale > f.scale
    assert "outliers=(" in repr(f) and repr(f).startswith("MPFit(ratio=0.5")


def test_planted_spike_weighted():
    rng = np.random.default_rng(13)
    d, N = 120, 240
    values, probs = np.array([0.5, 2.0]), np.array([0.6, 0.4])
    X = rng.standard_normal((N, d))
    X[:, 0] *= math.sqrt(8.0)
    w = rng.choice(values, size=N, p=probs)
    ev = np.linalg.eigvalsh((X * w[:, None]).T @ X / N)
    f = fit_weighted_mp(ev, d / N, (values, probs))
    assert len(f.outliers) >= 1 and f.outliers[0] == ev[-1]
    assert f.threshold > f.law.support()[1]


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("kwargs, match", [
    ({"ratio": 0.0}, "ratio"),
    ({"ratio": -1.0}, "ratio"),
    ({"method": "bayes"}, "method"),
    ({"level": 1.0}, "level"),
    ({"n_boot": -1}, "n_boot"),
    ({"outlier_level": 0.0}, "outlier_level"),
    ({"zero_tol": -1.0}, "zero_tol"),
])
def test_bad_arguments_name_the_parameter(kwargs, match):
    ev = mp_eigs(10, 20, 1.0, bk.spawn_seeds(1, 1))[0]
    with pytest.raises(ValueError, match=match):
        fit_mp(ev, **kwargs)


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan, 2.0]), np.ones((2, 2)), np.array([1.0]),
                                 np.array([1.0 + 1j, 2.0])])
def test_bad_eigenvalues_raise(bad):
    with pytest.raises(ValueError, match="eigenvalues"):
        fit_mp(bad)


def test_negative_or_constant_eigenvalues_raise():
    with pytest.raises(ValueError, match="eigenvalues must be >= 0"):
        fit_mp(np.array([-1.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="eigenvalues must not all be equal"):
        fit_mp(np.ones(5))
    with pytest.raises(ValueError, match="ratio"):
        fit_weighted_mp(np.ones(5), 0.0, 1.0)
    with pytest.raises(ValueError, match="method"):
        fit_weighted_mp(np.ones(5), 0.5, 1.0, method="mle")
    with pytest.raises(ValueError, match="weights"):
        fit_weighted_mp(np.ones(5), 0.5, ([-1.0, -2.0], [0.5, 0.5]))
    with pytest.raises(ValueError, match="q must be"):
        tw1_ppf(1.0)
    with pytest.raises(ValueError, match="dim"):
        mp_edge_threshold(0, 10)
    with pytest.raises(ValueError, match="law"):
        ks_statistic(np.ones(3), object())


def test_result_types():
    ev = mp_eigs(10, 20, 1.0, bk.spawn_seeds(2, 1))[0]
    f = fit_mp(ev)
    assert isinstance(f, MPFit) and f.p_value is None and f.n_boot == 0
    assert isinstance(f.law, MarchenkoPastur) and f.law.ratio == f.ratio
    with pytest.raises(AttributeError):
        f.scale = 2.0  # frozen
