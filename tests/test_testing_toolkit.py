"""Calibration of the statistical assertions in :mod:`rmt.testing.assertions`.

Each assertion must (a) pass a true statement with a false-failure rate no larger than its
nominal level, and (b) fail planted false statements. Both are measured over ``N_SEEDS = 200``
fixed seeds at ``LEVEL = 0.05``.

Acceptance band. For a test calibrated exactly at level α, the number ``K`` of rejections of a
true statement in 200 independent seeds is ``Binomial(200, α)``. The band
``[binom.ppf(0.0005), binom.isf(0.0005)] = [2, 21]`` (for α = 0.05) contains ``K`` with
probability >= 0.999, so a calibrated assertion lands outside it by chance at most once in a
thousand choices of seeds; a miscalibrated one (e.g. a one-sided critical value, rate 0.1, mean
20 ± 4.2 rejections) mostly lands above it. A conservative assertion (the spectrum one) needs
only the upper end.

The seeds are fixed, so these tests are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rmt.testing import (
    StatisticalAssertionError,
    assert_close_to_prediction,
    assert_rate,
    assert_spectrum_matches,
    ks_bound,
    make_data_matrix,
    spectrum_distance,
)

N_SEEDS = 200
LEVEL = 0.05
BAND = (int(stats.binom.ppf(0.0005, N_SEEDS, LEVEL)), int(stats.binom.isf(0.0005, N_SEEDS, LEVEL)))


def _rejects(fn) -> int:
    try:
        fn()
    except StatisticalAssertionError:
        return 1
    return 0


class MPReference:
    """Marchenko–Pastur law of the ESD of ``XᵀX/N`` (``d × d``, entries of variance ``scale``),
    ``ratio = d/N``, written here independently of :mod:`rmt.laws` so that these tests check
    the assertions alone.

    CDF: the density ``sqrt((b−x)(x−a)) / (2π γ s x)`` on ``[a, b] = s(1 ∓ √γ)²`` becomes smooth
    under ``x = (a+b)/2 − (b−a)/2 · cos θ``; its cumulative trapezoid on 4097 points in θ and
    linear interpolation in θ are accurate to ~1e-7 (checked against quadrature), far below the
    KS distances (>= 1e-2) these tests compare. For ``γ > 1`` an atom ``1 − 1/γ`` sits at 0.
    """

    def __init__(self, ratio: float, scale: float = 1.0, m: int = 4097) -> None:
        g = float(ratio)
        self.ratio, self.scale = g, float(scale)
        self.a, self.b = scale * (1 - math.sqrt(g)) ** 2, scale * (1 + math.sqrt(g)) ** 2
        self.atom = max(0.0, 1 - 1 / g)
        th = np.linspace(0, np.pi, m)
        x = (self.a + self.b) / 2 - (self.b - self.a) / 2 * np.cos(th)
        r = (self.b - self.a) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            gth = r * r * np.sin(th) ** 2 / (2 * np.pi * g * scale * x)
        gth[~np.isfinite(gth)] = 0.0
        c = np.concatenate([[0.0], np.cumsum((gth[1:] + gth[:-1]) / 2 * np.diff(th))])
        self._th, self._c = th, c / c[-1] * min(1.0, 1 / g)

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        r = (self.b - self.a) / 2
        th = np.arccos(np.clip(((self.a + self.b) / 2 - x) / r, -1, 1))
        atom = np.where(x >= 0, self.atom, 0.0)
        inside = np.interp(th, self._th, self._c) + atom
        return np.where(x < self.a, atom, np.where(x >= self.b, 1.0, inside))

    def support(self):
        return (0.0 if self.atom > 0 else self.a, self.b)

    def __repr__(self) -> str:
        return f"MPReference(ratio={self.ratio:g}, scale={self.scale:g})"


def test_reference_law_matches_quadrature():
    from scipy import integrate

    law = MPReference(0.5)
    f = lambda x: math.sqrt((law.b - x) * (x - law.a)) / (2 * math.pi * 0.5 * x)  # noqa: E731
    exact = integrate.quad(f, law.a, 1.0)[0]
    assert abs(float(law.cdf(1.0)) - exact) < 1e-6  # interpolation error ~1e-7, see docstring
    assert float(MPReference(2.0).cdf(0.0)) == 0.5 and float(MPReference(2.0).cdf(-1e-300)) == 0


def test_band_is_what_the_docstring_says():
    assert BAND == (2, 21)


# ----------------------------------------------------------------------------------------------
# assert_spectrum_matches
# ----------------------------------------------------------------------------------------------

D = 100
RATIOS = (0.25, 0.5, 1.0, 2.0)
DISTS = (("gaussian", None), ("rademacher", None), ("student_t", 5.0))


def _spectrum(seed: int) -> tuple[np.ndarray, float]:
    """Eigenvalues of XᵀX/N, d = 100, γ and the entry law cycling with the seed."""
    g = RATIOS[seed % 4]
    n = int(round(D / g))
    dist, df = DISTS[seed % 3]
    X = make_data_matrix(n, D, dist, seed=seed, df=df)
    return np.linalg.eigvalsh(X.T @ X / n), g


@pytest.fixture(scope="module")
def spectra():
    return [_spectrum(s) for s in range(N_SEEDS)]


def test_spectrum_true_law_is_conservative(spectra):
    """True statement: the ESD of XᵀX/N is MP(γ) (Gaussian, Rademacher and Student-t(5) data).

    The DKW bound ε = sqrt(ln(2/α)/(2n)) = 0.136 (n = 100, α = 0.05) is exact for iid samples;
    eigenvalues fluctuate far less (n·D ≈ 2–3 observed, against n·ε = 13.6), so we require the
    observed rate to be at most the top of the nominal band, and we record how conservative it
    is: the largest D/ε over all 200 spectra (observed 0.32, i.e. the statement would pass even
    at level 0.99). Rejections observed: 0 of 200.
    """
    ratios = []
    k = 0
    for lam, g in spectra:
        law = MPReference(g)
        k += _rejects(lambda: assert_spectrum_matches(lam, law, LEVEL))
        ratios.append(spectrum_distance(lam, law, wasserstein=False).ks / ks_bound(D, LEVEL))
    assert k <= BAND[1]
    assert k == 0
    assert max(ratios) < 0.5, max(ratios)


def test_spectrum_wrong_law_fails(spectra):
    """Planted false statements: MP(2γ) for γ = 0.5, 1, 2 and MP(γ, scale 1.5) for γ = 0.25.

    Their KS distances to the true law are 0.198, 0.497, 0.25 and 0.255 (computed on a fine
    grid); the ESD's own distance to the true law is at most 0.043 here (n·D <= 4.3), so
    D >= 0.198 − 0.043 = 0.155 > ε = 0.136 in every seed: all 200 must fail.
    """
    k = 0
    for lam, g in spectra:
        wrong = MPReference(g, 1.5) if g == 0.25 else MPReference(2 * g)
        k += _rejects(lambda: assert_spectrum_matches(lam, wrong, LEVEL))
    assert k == N_SEEDS


def test_spectrum_message_gives_numbers_and_bound():
    lam, g = _spectrum(0)
    with pytest.raises(StatisticalAssertionError) as info:
        assert_spectrum_matches(lam, MPReference(2 * g), 0.01, label="ESD of XᵀX/N")
    msg = str(info.value)
    eps_ = ks_bound(D, 0.01)
    for part in ("ESD of XᵀX/N", "Kolmogorov–Smirnov distance D =", f"ε = {eps_:.4g}",
                 "n = 100 eigenvalues", "DKW", "sqrt(ln(2/level)/(2n))", "conservative",
                 "Wasserstein-1", "Largest gap at λ ="):
        assert part in msg, (part, msg)
    err = info.value
    assert isinstance(err, AssertionError)
    assert err.statistic > err.bound == pytest.approx(eps_) and err.level == 0.01


def test_spectrum_atom_at_zero_is_handled():
    """γ = 2: d − N = 100 eigenvalues are numerically 0 (|λ| ~ 1e-15) and MP has an atom 1/2
    there; without snapping to 0 the KS distance would be up to 0.5."""
    X = make_data_matrix(100, 200, seed=3)
    lam = np.linalg.eigvalsh(X.T @ X / 100)
    res = assert_spectrum_matches(lam, MPReference(2.0), 0.01)
    assert res.ks < 0.05 and res.n == 200
    assert res.wasserstein1 is not None and res.wasserstein1 < 0.05


def test_spectrum_user_tolerance():
    lam, g = _spectrum(0)
    d = spectrum_distance(lam, MPReference(g)).ks
    with pytest.raises(StatisticalAssertionError, match="supplied by the caller"):
        assert_spectrum_matches(lam, MPReference(g), tolerance=d / 2)
    assert assert_spectrum_matches(lam, MPReference(g), tolerance=2 * d).bound_kind == "user"


@pytest.mark.parametrize("kwargs, match", [
    (dict(level=0.0), "level"), (dict(level=1.0), "level"), (dict(level=float("nan")), "level"),
    (dict(level=-0.1), "level"), (dict(tolerance=0.0), "tolerance"),
    (dict(zero_tol=-1.0), "zero_tol"),
])
def test_spectrum_rejects_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        assert_spectrum_matches(np.linspace(0.1, 2, 10), MPReference(0.5), **kwargs)


@pytest.mark.parametrize("lam, law, match", [
    (np.ones((3, 3)), MPReference(0.5), "1-D"),
    (np.array([1.0, np.nan]), MPReference(0.5), "finite"),
    (np.array([]), MPReference(0.5), "at least 1"),
    (np.array([1 + 1j]), MPReference(0.5), "real"),
    (np.ones(4), object(), "cdf"),
])
def test_spectrum_rejects_invalid_inputs(lam, law, match):
    with pytest.raises(ValueError, match=match):
        assert_spectrum_matches(lam, law)


def test_ks_bound_formula():
    assert ks_bound(200, 0.01) == pytest.approx(math.sqrt(math.log(200) / 400))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        ks_bound(0, 0.01)


# ----------------------------------------------------------------------------------------------
# assert_close_to_prediction
# ----------------------------------------------------------------------------------------------

M2_D, M2_N, M2_T = 10, 20, 1000


def _m2_estimate(seed: int) -> tuple[float, float]:
    """Mean and SE over T = 1000 trials of m₂ = (1/d) tr (XᵀX/N)², Gaussian X (N = 20, d = 10).

    Exact mean (Wick): E m₂ = 1 + (d + 1)/N = 1.55 — the off-diagonal entries contribute
    (d − 1)/N, each diagonal entry E(Σ_n x²)²/N² = (3N + N(N − 1))/N². The large-d MP value
    1 + γ = 1.5 drops the 1/N term: a realistic planted false prediction, 4.8 SE away
    (SE ≈ sd(m₂)/√T = 0.33/31.6 = 0.0103).
    """
    X = np.random.default_rng(seed).standard_normal((M2_T, M2_N, M2_D))
    W = np.einsum("tni,tnj->tij", X, X) / M2_N
    m2 = np.einsum("tij,tij->t", W, W) / M2_D
    return float(m2.mean()), float(m2.std(ddof=1) / math.sqrt(M2_T))


@pytest.fixture(scope="module")
def m2_estimates():
    return [_m2_estimate(s) for s in range(N_SEEDS)]


def test_close_calibrated_on_true_prediction(m2_estimates):
    """True statement E m₂ = 1 + (d+1)/N, two-sided t-test (df = T − 1) at level 0.05: the
    rejections must lie in the binomial band [2, 21] (observed: 10 of 200, rate 0.050; with the
    normal critical value also 10)."""
    exact = 1 + (M2_D + 1) / M2_N
    k_t = sum(_rejects(lambda: assert_close_to_prediction(e, s, exact, LEVEL, df=M2_T - 1))
              for e, s in m2_estimates)
    k_z = sum(_rejects(lambda: assert_close_to_prediction(e, s, exact, LEVEL))
              for e, s in m2_estimates)
    assert BAND[0] <= k_t <= BAND[1], k_t
    assert BAND[0] <= k_z <= BAND[1], k_z


def test_close_fails_on_wrong_prediction(m2_estimates):
    """Planted false statement E m₂ = 1 + γ (the MP limit, missing the exact 1/N term). The
    shift is δ = 0.05/0.0103 ≈ 4.8 SE, so the power is P(|Z + 4.8| > 1.97) ≈ 0.998; 200 seeds
    then give >= 190 rejections except with probability < 1e-9 (binomial tail). Observed: 200."""
    wrong = 1 + M2_D / M2_N
    k = sum(_rejects(lambda: assert_close_to_prediction(e, s, wrong, LEVEL, df=M2_T - 1))
            for e, s in m2_estimates)
    assert k >= 190, k


def test_close_bonferroni_family_level():
    """Five true comparisons per seed, tested jointly: Bonferroni keeps the family-wise rate at
    most α (exactly 1 − (1 − α/5)⁵ = 0.049 for independent z's), so the rejections must be in
    the band (observed 10 of 200); a planted shift of 6 SE in one of the five is caught (power
    P(|Z + 6| > 2.81) > 0.999 at the per-comparison level 0.01; observed 200 of 200)."""
    k_true = k_false = 0
    for s in range(N_SEEDS):
        z = np.random.default_rng(s).standard_normal(5)
        pred = np.arange(5.0)
        est = pred + 0.1 * z
        k_true += _rejects(lambda: assert_close_to_prediction(est, 0.1, pred, LEVEL))
        shifted = pred.copy()
        shifted[2] += 0.6
        k_false += _rejects(lambda: assert_close_to_prediction(est, 0.1, shifted, LEVEL))
    assert BAND[0] <= k_true <= BAND[1], k_true
    assert k_false >= 190, k_false


def test_close_message_gives_numbers():
    with pytest.raises(StatisticalAssertionError) as info:
        assert_close_to_prediction(1.2843, 0.0031, 1.2750, 0.01, label="C·ratio at C=10")
    msg = str(info.value)
    z = (1.2843 - 1.2750) / 0.0031
    for part in ("C·ratio at C=10", "estimate 1.2843", "± 0.0031", "prediction 1.275",
                 f"z = {z:.4g}", "critical value 2.576", "Φ⁻¹(1 − 0.01/2)", "level 0.01"):
        assert part in msg, (part, msg)
    assert info.value.statistic == pytest.approx(z)


def test_close_tolerance_allows_stated_bias():
    # |difference| = 0.05 = 10 SE; a stated bias bound of 0.045 leaves 1 SE < 2.576: passes.
    assert_close_to_prediction(1.05, 0.005, 1.0, 0.01, tolerance=0.045)
    with pytest.raises(StatisticalAssertionError, match="allowing a bias"):
        assert_close_to_prediction(1.05, 0.005, 1.0, 0.01, tolerance=0.02)


@pytest.mark.parametrize("args, kwargs, match", [
    ((1.0, 0.0, 1.0), {}, "stderr must be > 0"),
    ((1.0, -1.0, 1.0), {}, "stderr must be > 0"),
    ((float("nan"), 1.0, 1.0), {}, "estimate"),
    ((1.0, 1.0, float("inf")), {}, "prediction"),
    ((1.0, 1.0, 1.0), dict(level=1.5), "level"),
    ((1.0, 1.0, 1.0), dict(df=0), "df"),
    ((1.0, 1.0, 1.0), dict(tolerance=-1), "tolerance"),
    (([1.0, 2.0], 1.0, [1.0, 2.0, 3.0]), {}, "broadcast"),
])
def test_close_rejects_invalid_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        assert_close_to_prediction(*args, **kwargs)


# ----------------------------------------------------------------------------------------------
# assert_rate
# ----------------------------------------------------------------------------------------------

XS = np.geomspace(10, 1000, 6)


def test_rate_ols_calibrated_and_powerful():
    """y = 2 x^{-1/2} e^{0.05 g}: the OLS model holds exactly, so the t_{n−2} CI has coverage
    exactly 1 − α and the rejections of the true exponent −0.5 must be in the band (observed
    14 of 200). Planted false exponent −0.4: slope SE = 0.05/sqrt(Σ(ln x − mean)²) = 0.05/3.85
    = 0.013, so −0.4 is 7.7 SE away and t_4 critical 2.78: every seed must reject."""
    k_true = k_false = 0
    for s in range(N_SEEDS):
        ys = 2 * XS**-0.5 * np.exp(0.05 * np.random.default_rng(s).standard_normal(XS.size))
        k_true += _rejects(lambda: assert_rate(XS, ys, -0.5, LEVEL))
        k_false += _rejects(lambda: assert_rate(XS, ys, -0.4, LEVEL))
    assert BAND[0] <= k_true <= BAND[1], k_true
    assert k_false == N_SEEDS


def test_rate_wls_calibrated_and_powerful():
    """y = 2 x^{-1/2} + e, e ~ N(0, yerr²), yerr = 2% of the mean: the delta-method log errors
    (2%) are accurate to O(yerr²/y²) = 4e-4, so coverage is 1 − α up to that; rejections of −0.5
    must be in the band (observed 8 of 200). Planted −0.45: SE = 0.02/3.85 = 0.0052, 9.6 SE
    away: every seed must reject."""
    k_true = k_false = 0
    mean = 2 * XS**-0.5
    yerr = 0.02 * mean
    for s in range(N_SEEDS):
        ys = mean + yerr * np.random.default_rng(s).standard_normal(XS.size)
        k_true += _rejects(lambda: assert_rate(XS, ys, -0.5, LEVEL, yerr=yerr))
        k_false += _rejects(lambda: assert_rate(XS, ys, -0.45, LEVEL, yerr=yerr))
    assert BAND[0] <= k_true <= BAND[1], k_true
    assert k_false == N_SEEDS


def test_rate_message_gives_numbers():
    ys = 3 * XS**-0.5
    ys = ys * np.exp(0.01 * np.random.default_rng(0).standard_normal(XS.size))
    with pytest.raises(StatisticalAssertionError) as info:
        assert_rate(XS, ys, -1.0, 0.01, label="Lindeberg gap")
    msg = str(info.value)
    crit = stats.t.isf(0.005, XS.size - 2)
    for part in ("Lindeberg gap", "fitted exponent", "99% CI", "claimed exponent -1",
                 f"t_4(1 − 0.01/2) = {crit:.4g}", "OLS", "n = 6 points", "Points: (10,"):
        assert part in msg, (part, msg)
    yerr = 0.01 * ys
    with pytest.raises(StatisticalAssertionError, match=r"χ²/dof = .*Φ⁻¹|Φ⁻¹.*χ²/dof"):
        assert_rate(XS, ys, -1.0, 0.01, yerr=yerr)


def test_rate_reports_misfit():
    """Points that scatter 10× more than yerr says: the message explains the CI is too narrow."""
    ys = XS**-0.5 * np.exp(0.1 * np.random.default_rng(1).standard_normal(XS.size))
    with pytest.raises(StatisticalAssertionError, match="scatter more than yerr allows"):
        assert_rate(XS, ys, -0.7, 0.01, yerr=0.01 * ys)


def test_rate_exact_power_law_passes():
    """Zero residuals: the SE falls back to the floating-point floor (rounding of ln y), so an
    exact power law passes and a deviation of 1e-6 in the exponent still fails."""
    ys = 5 * XS**-1.5
    fit = assert_rate(XS, ys, -1.5)
    assert fit.slope == pytest.approx(-1.5, abs=1e-12) and fit.n == 6
    with pytest.raises(StatisticalAssertionError):
        assert_rate(XS, ys, -1.5 + 1e-6)


@pytest.mark.parametrize("xs, ys, kwargs, match", [
    ([1, 2, 3], [1, 2, -3], {}, "must be > 0"),
    ([0, 2, 3], [1, 2, 3], {}, "must be > 0"),
    ([1, 2, 3], [1, 2], {}, "same length"),
    ([1, 2], [1, 2], {}, "at least 3 points"),
    ([2, 2, 2], [1, 2, 3], {}, "two distinct"),
    ([1, 2, 3], [1, 2, 3], dict(level=0), "level"),
    ([1, 2, 3], [1, 2, 3], dict(yerr=[1, 1]), "yerr must have the same length"),
    ([1, 2, 3], [1, 2, 3], dict(yerr=[1, 0, 1]), "yerr must be > 0"),
    ([1, 2, np.inf], [1, 2, 3], {}, "finite"),
    ([[1, 2, 3]], [1, 2, 3], {}, "1-D"),
])
def test_rate_rejects_invalid_arguments(xs, ys, kwargs, match):
    with pytest.raises(ValueError, match=match):
        assert_rate(xs, ys, -1.0, **kwargs)


def test_rate_tolerance_allows_stated_bias():
    """Slope −1.05 with 0.1% noise (SE ≈ 0.0003): the claim −1 is ~170 SE away and fails; with
    a stated finite-size bias of 0.06 on the exponent it passes, with 0.04 it still fails."""
    ys = XS**-1.05 * np.exp(0.001 * np.random.default_rng(2).standard_normal(XS.size))
    with pytest.raises(StatisticalAssertionError):
        assert_rate(XS, ys, -1.0, 0.01)
    assert_rate(XS, ys, -1.0, 0.01, tolerance=0.06)
    with pytest.raises(StatisticalAssertionError, match="widened by the allowed bias ±0.04"):
        assert_rate(XS, ys, -1.0, 0.01, tolerance=0.04)
    with pytest.raises(ValueError, match="tolerance"):
        assert_rate(XS, ys, -1.0, tolerance=-0.1)


def test_rate_two_points_with_errors():
    fit = assert_rate([10, 100], [1.0, 0.1], -1.0, yerr=[0.01, 0.001])
    assert fit.slope == pytest.approx(-1.0)
