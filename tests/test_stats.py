"""Tests of rmt.stats, the statistics core.

Tolerances:

* closed forms (quantiles, means, exact KS/W1 of step functions) are compared to 1e-12 relative
  or bit for bit where the same floating-point operations run;
* coverage of intervals is checked on many seeded repetitions against a binomial band: with
  ``R`` repetitions at nominal coverage ``p`` the count of covering intervals has sd
  ``√(R p (1 − p))``, and the test allows 4 sd (a false alarm below 1e-4);
* the W1 quadrature against a law is compared with a 2e5-point trapezoid reference to 1e-6
  (the reference's own error is O(h²) ≈ 1e-10 on a unit-width support).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rmt.stats import (
    EPS,
    Estimate,
    critical_value,
    fit_power_law,
    grid_distances,
    ks_detail,
    ks_distance,
    ks_two_sample,
    mean_estimate,
    snap_zeros,
    wasserstein1,
)


# ---------------------------------------------------------------------------------------------
# critical values and Estimate
# ---------------------------------------------------------------------------------------------

def test_critical_value_matches_scipy():
    assert critical_value(0.99) == float(stats.norm.ppf(0.995))
    assert critical_value(0.99, dof=7) == float(stats.t.ppf(0.995, 7))
    assert critical_value(0.95, two_sided=False) == float(stats.norm.ppf(0.95))
    assert critical_value(0.95, dof=3, two_sided=False) == float(stats.t.ppf(0.95, 3))
    assert critical_value(0.9, dof=0) == math.inf
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="level"):
            critical_value(bad)
    with pytest.raises(ValueError, match="dof"):
        critical_value(0.9, dof=float("nan"))


def test_estimate_intervals():
    e = Estimate(1.0, 0.5, n_trials=8, dof=7)
    q = float(stats.t.ppf(0.995, 7))
    assert e.ci(0.99) == (1.0 - q * 0.5, 1.0 + q * 0.5)
    assert e.critical(0.99) == q
    assert e.ci(0.99, method="normal")[1] == 1.0 + float(stats.norm.ppf(0.995)) * 0.5
    assert e.bound(0.99, "upper") == pytest.approx(1.0 + float(stats.t.ppf(0.99, 7)) * 0.5)
    assert e.bound(0.99, "lower") == pytest.approx(1.0 - float(stats.t.ppf(0.99, 7)) * 0.5)
    assert e.mean == e.value and e.std == pytest.approx(0.5 * math.sqrt(8))
    # exact computations: zero SE gives the point, even with an infinite quantile (dof = 0)
    assert Estimate(3.0).ci() == (3.0, 3.0)
    assert Estimate(3.0, 0.0, 1, dof=0).ci(0.9) == (3.0, 3.0)
    assert Estimate(3.0, 0.0, 1, dof=0).bound(0.9) == 3.0
    # "t" without dof uses n − 1
    assert Estimate(0.0, 1.0, n_trials=5).ci(0.95, "t")[1] == float(stats.t.ppf(0.975, 4))
    with pytest.raises(ValueError, match="method"):
        e.ci(0.9, method="z")
    with pytest.raises(ValueError, match="side"):
        e.bound(0.9, "both")


def test_estimate_arrays_and_complex():
    v = np.array([1.0 + 2.0j, -1.0 + 0.5j])
    se = np.array([0.1 + 0.2j, 0.3 + 0.4j])
    lo, hi = Estimate(v, se, 10, 9).ci(0.95)
    q = float(stats.t.ppf(0.975, 9))
    np.testing.assert_allclose(lo.real, v.real - q * se.real, rtol=1e-15)
    np.testing.assert_allclose(hi.imag, v.imag + q * se.imag, rtol=1e-15)
    d = Estimate(v, se, 10, 9, {"std": se * math.sqrt(10)}).to_dict(0.95)
    assert set(d["mean"]) == {"real", "imag"} and d["ci_method"] == "t"
    assert Estimate(np.float64(np.nan), np.nan).to_dict()["mean"] is None


def test_mean_estimate_is_the_textbook_formula():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 4))
    e = mean_estimate(a)
    np.testing.assert_array_equal(e.value, a.mean(axis=0))
    np.testing.assert_array_equal(e.stderr, a.std(axis=0, ddof=1) / math.sqrt(30))
    assert e.n_trials == 30 and e.dof == 29
    s = mean_estimate(a[:, 0])
    assert isinstance(s.value, float) and s.value == a[:, 0].mean()
    c = mean_estimate(a[:, 0] + 1j * a[:, 1])
    assert c.stderr == pytest.approx(a[:, 0].std(ddof=1) / math.sqrt(30)
                                     + 1j * a[:, 1].std(ddof=1) / math.sqrt(30))
    np.testing.assert_array_equal(mean_estimate(a, axis=1).value, a.mean(axis=1))
    for bad, msg in (([1.0], "at least 2"), ([1.0, np.nan], "finite"), (3.0, "axis"),
                     (["a", "b"], "numeric")):
        with pytest.raises(ValueError, match=msg):
            mean_estimate(bad)


def test_t_interval_covers_at_its_level():
    # 2000 repetitions of a 5-trial mean: nominal coverage 0.95, sd of the count √(2000·.95·.05)
    # ≈ 9.7; allow 4 sd. The normal interval at T = 5 undercovers (≈ 0.88) and must fail this.
    rng = np.random.default_rng(7)
    R, T = 2000, 5
    x = rng.standard_normal((R, T))
    covered_t = covered_n = 0
    for row in x:
        e = mean_estimate(row)
        lo, hi = e.ci(0.95)
        covered_t += lo <= 0.0 <= hi
        lo, hi = e.ci(0.95, "normal")
        covered_n += lo <= 0.0 <= hi
    band = 4 * math.sqrt(R * 0.95 * 0.05)
    assert abs(covered_t - 0.95 * R) <= band
    assert covered_n < 0.95 * R - band


# ---------------------------------------------------------------------------------------------
# power-law fits
# ---------------------------------------------------------------------------------------------

def test_fit_power_law_exact_and_rule():
    x = np.array([10.0, 30, 100, 300, 1000])
    f = fit_power_law(x, 3 * x ** -0.7)
    assert f.slope == pytest.approx(-0.7, abs=1e-12) and f.dof == 3 and f.method == "OLS, t_3"
    # an exact power law: the SE is the floating-point floor, not 0, and the CI contains −0.7
    assert f.stderr > 0 and f.ci_low <= -0.7 <= f.ci_high and f.stderr < 1e-13
    assert f.intercept == pytest.approx(math.log(3), abs=1e-12)
    # OLS: s² = RSS/(n − 2), quantile t_{n−2} (compare with scipy's linregress)
    rng = np.random.default_rng(1)
    y = 2 * x ** -1.0 * np.exp(0.05 * rng.standard_normal(5))
    g = fit_power_law(x, y, level=0.9)
    ref = stats.linregress(np.log(x), np.log(y))
    assert g.slope == pytest.approx(ref.slope, rel=1e-12)
    assert g.stderr == pytest.approx(ref.stderr, rel=1e-10)
    assert g.critical == float(stats.t.ppf(0.95, 3))
    assert g.estimate().ci(0.9) == pytest.approx(g.ci, rel=1e-15)


def test_fit_power_law_birge_rule():
    x = np.array([10.0, 30, 100, 300, 1000, 3000])
    rng = np.random.default_rng(2)
    y = 2 * x ** -1.0 * (1 + 0.01 * rng.standard_normal(x.size))
    # errors larger than the scatter: the errors set the SE, normal quantile
    big = fit_power_law(x, y, 0.2 * y)
    sxx = float(np.sum(25.0 * (np.log(x) - np.log(x).mean()) ** 2))
    assert big.stderr == pytest.approx(1 / math.sqrt(sxx), rel=1e-12)
    assert big.method.endswith("normal") and big.critical == float(stats.norm.ppf(0.975))
    assert big.estimate().dof is None
    # errors far smaller than the scatter: inflated by the Birge ratio √(χ²/dof), t_{n−2}
    small = fit_power_law(x, y, 1e-4 * y)
    assert small.chi2_per_dof > 1 and "Birge" in small.method and small.method.endswith("t_4")
    assert small.stderr == pytest.approx(math.sqrt(small.chi2_per_dof) * math.sqrt(
        1 / float(np.sum(1e8 * (np.log(x) - np.log(x).mean()) ** 2))), rel=1e-10)
    assert small.critical == float(stats.t.ppf(0.975, 4)) and small.estimate().dof == 4
    # two points with errors: no residual, known errors, normal quantile
    two = fit_power_law([1.0, 2.0], [1.0, 0.5], [0.01, 0.005])
    assert two.method.endswith("normal") and two.estimate().dof is None
    d = small.to_dict()
    assert d["chi2_per_dof"] == pytest.approx(small.chi2_per_dof) and d["weighted"] is True


def test_fit_power_law_covers_at_its_level():
    # 1000 seeded fits of 6 points with 5% noise and correct errors: coverage at least
    # 0.95 − 4 sd (the rule is conservative when the scatter exceeds the errors by chance), and
    # not the 99.9% of an always-t rule: at most 0.985 (measured 0.968).
    rng = np.random.default_rng(11)
    x = np.geomspace(10, 1000, 6)
    R, hit = 1000, 0
    for _ in range(R):
        y = x ** -0.5 * np.exp(0.05 * rng.standard_normal(x.size))
        f = fit_power_law(x, y, 0.05 * y)
        hit += f.ci_low <= -0.5 <= f.ci_high
    assert 0.95 * R - 4 * math.sqrt(R * 0.95 * 0.05) <= hit <= 0.985 * R


def test_fit_power_law_errors():
    for bad in ([1, 2], [1, -2, 3], [1, 1, 1]):
        with pytest.raises(ValueError):
            fit_power_law(bad, [1.0] * len(bad))
    with pytest.raises(ValueError, match="same length"):
        fit_power_law([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="yerr"):
        fit_power_law([1, 2, 3], [1, 2, 3], [1, -1, 1])
    with pytest.raises(ValueError, match="level"):
        fit_power_law([1, 2, 3], [1, 2, 3], level=1.0)


# ---------------------------------------------------------------------------------------------
# distances
# ---------------------------------------------------------------------------------------------

class _Atomic:
    """½ δ₀ + ½ Uniform(1, 2): a law with an atom, as Marchenko–Pastur at γ = 2."""

    atom = 0.5

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x < 0, 0.0, 0.5 + 0.5 * np.clip(x - 1.0, 0.0, 1.0))

    def support(self):
        return (1.0, 2.0)


def test_ks_distance_continuous_matches_scipy():
    rng = np.random.default_rng(4)
    for n in (1, 7, 200):
        x = rng.standard_normal(n)
        assert ks_distance(x, stats.norm, zero_tol=0) == pytest.approx(
            stats.kstest(x, "norm").statistic, abs=4 * EPS)
    # a callable CDF is accepted as well as a law
    assert ks_distance(x, stats.norm.cdf, zero_tol=0) == ks_distance(x, stats.norm, zero_tol=0)


def test_ks_distance_with_atoms_is_exact():
    # half the sample at (numerically) zero, half spread over [1, 2]: the ESD matches the law
    # up to the uniform part's own discretisation 1/(2·100)
    lam = np.concatenate([1e-15 * np.arange(100), 1.0 + (np.arange(100) + 0.5) / 100])
    det = ks_detail(lam, _Atomic())
    assert det.n_snapped == 99 and det.statistic == pytest.approx(0.0025, abs=1e-12)
    # without snapping the atom is smeared and the distance is that of the smeared part
    assert ks_distance(lam, _Atomic(), zero_tol=0) > 0.49
    # a step CDF between the sample points (the supremum is a left limit)
    assert ks_distance([0.0, 3.0], _Atomic(), zero_tol=0) == pytest.approx(0.5)


def test_ks_two_sample_matches_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(40), rng.standard_normal(55) + 0.3
    assert ks_two_sample(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=4 * EPS)
    assert ks_two_sample([1.0, 1.0, 2.0], [1.0, 2.0, 2.0]) == pytest.approx(1 / 3)


def test_wasserstein1_to_a_law_and_between_samples():
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, 300)
    law = stats.uniform(0, 1)
    t = np.linspace(-0.5, 1.5, 200001)
    Fn = np.searchsorted(np.sort(x), t, side="right") / x.size
    ref = np.trapezoid(np.abs(Fn - law.cdf(t)), t)
    assert wasserstein1(x, law, zero_tol=0) == pytest.approx(ref, abs=1e-6)
    # atoms: the snapped half sits on the atom exactly, the rest is W1 of a grid to Uniform(1, 2)
    lam = np.concatenate([np.zeros(100), 1.0 + (np.arange(100) + 0.5) / 100])
    assert wasserstein1(lam, _Atomic()) == pytest.approx(0.5 * 0.25 / 100, rel=1e-9)
    # two samples: exact, as scipy
    y = rng.uniform(0, 1.2, 250)
    assert wasserstein1(x, y) == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-14)
    with pytest.raises(ValueError, match="support"):
        wasserstein1(x, type("NoSupport", (), {"cdf": staticmethod(law.cdf)})())


def test_grid_distances():
    a = np.sort(np.random.default_rng(8).uniform(0, 1, 50))

    def ecdf(t):
        return np.searchsorted(a, t, side="right") / a.size

    ks, w1 = grid_distances(ecdf, stats.uniform.cdf, -0.1, 1.1, points=a)
    assert ks == pytest.approx(ks_distance(a, stats.uniform, zero_tol=0), abs=1e-3)
    assert w1 == pytest.approx(wasserstein1(a, stats.uniform(0, 1), zero_tol=0), rel=1e-6)
    with pytest.raises(ValueError, match="upper"):
        grid_distances(ecdf, ecdf, 1.0, 0.0)


def test_snap_zeros_and_input_errors():
    lam, tol, k = snap_zeros([3.0, -1e-16, 1e-16, 0.0])
    assert lam.tolist() == [0.0, 0.0, 0.0, 3.0] and k == 2 and tol == 16 * 4 * EPS * 3.0
    for bad, msg in (([[1.0]], "1-D"), ([np.inf], "finite"), ([1j], "real"), ([], "at least")):
        with pytest.raises(ValueError, match=msg):
            ks_distance(bad, stats.norm)
    with pytest.raises(ValueError, match="zero_tol"):
        ks_distance([1.0], stats.norm, zero_tol=-1)
    with pytest.raises(ValueError, match="cdf"):
        ks_distance([1.0], object())
