"""rmt.spectra.bounds: the a posteriori SLQ W1 bound against exact spectral measures."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy import stats

from rmt.spectra.bounds import (
    _log_centred_beta_mgf,
    bracketing_rules,
    cms_envelope,
    cms_quadrature_part,
    nested_rules,
    probe_part,
    radau_rules,
    slq_w1_bound,
)
from rmt.spectra.lanczos import _interval_from_rules, lanczos


def _w1(xa, wa, xb, wb):
    x = np.concatenate([xa, xb])
    w = np.concatenate([wa / wa.sum(), -wb / wb.sum()])
    o = np.argsort(x)
    return float(np.sum(np.abs(np.cumsum(w[o])[:-1]) * np.diff(x[o])))


def _problem(d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2 * d, d))
    w = np.exp(rng.standard_normal(2 * d))
    return (X.T * w) @ X / (2 * d)


@pytest.mark.parametrize("seed", range(6))
def test_envelope_holds_the_exact_probe_averaged_cdf(seed):
    """The CMS envelope of the Gauss rules, the 8 nested rules and the 32 Radau-type rules
    contains the probe-averaged cdf, formed exactly from the eigenvectors, on every breakpoint
    interval, and its quadrature part bounds W1(mean Gauss rule, mean probe measure)
    (d = 150, 10 probes × 12 steps): deterministic inequalities, so every seed must satisfy
    them (1e-12: float64 rounding of cumulative sums of 10 × 150 weights). Each family of
    rules tightens the part."""
    d, k, m = 150, 10, 12
    A = _problem(d, seed)
    lam, U = np.linalg.eigh(A)
    G = np.random.default_rng(100 + seed).standard_normal((d, k))
    G /= np.linalg.norm(G, axis=0)
    res = lanczos(A, m, probes=G)
    th, tw, _ = res.quadrature()
    nested, radau = nested_rules(res), radau_rules(res)
    assert len(nested) == 8 and nested[0][0].shape == (k, m - 1)
    assert len(radau) == 32 and radau[0][0].shape == (k, m + 1)
    tol = 1e-9 * np.abs(th).max()   # converged Ritz values coincide up to rounding
    for X, _ in radau:              # Cauchy interlacing with the Gauss nodes: ξ_{i−1} ≤ θ_i ≤ ξ_i
        assert np.all(X[:, :-1] <= th + tol) and np.all(th <= X[:, 1:] + tol)
    mu_w = ((U.T @ G) ** 2).T.ravel() / k                   # probe measures, weights
    mu_x = np.tile(lam, k)
    xs, F_G, lo, hi = cms_envelope(th, tw, lam[0], lam[-1], nested + radau)
    mid = 0.5 * (xs[:-1] + xs[1:])
    o = np.argsort(mu_x)
    F_mu = np.concatenate([[0.0], np.cumsum(mu_w[o])])[np.searchsorted(mu_x[o], mid, "right")]
    assert np.all(lo <= F_mu + 1e-12) and np.all(F_mu <= hi + 1e-12)
    assert np.all(lo <= F_G + 1e-12) and np.all(F_G <= hi + 1e-12)
    exact = _w1(th.ravel(), tw.ravel() / k, mu_x, mu_w)
    both = cms_quadrature_part(th, tw, lam[0], lam[-1], bracketing_rules(res))
    only_nested = cms_quadrature_part(th, tw, lam[0], lam[-1], nested)
    plain = cms_quadrature_part(th, tw, lam[0], lam[-1])
    assert exact <= both * (1 + 1e-12)
    assert both < only_nested < plain
    assert both < 0.5 * (lam[-1] - lam[0])    # and it is informative


@pytest.mark.parametrize("r,u", [(1, 0.5), (3, 40.0), (20, 300.0), (50, 7.0), (97, 250.0),
                                 (99, 3000.0)])
def test_log_mgf_matches_mpmath(r, u):
    """ln E e^{u(B − r/d)}, B ~ Beta(r/2, (100 − r)/2), against 30-digit mpmath: both Kummer
    forms agree to 1e-9 relative (scipy's hyp1f1 is ~1e-15; the margin covers its large-u
    branch)."""
    d = 100
    mpmath.mp.dps = 30
    exact = float(mpmath.log(mpmath.hyp1f1(r / 2, d / 2, u)) - mpmath.mpf(u) * r / d)
    got = float(_log_centred_beta_mgf(np.array([r]), d, np.array([u]))[0])
    assert got == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_probe_part_covers_the_probe_error_at_its_level():
    """The probe part at level 1 − η = 0.8 against the exact probe error ∫|F_μ̄ − F_μ| over
    150 seeds (d = 300 eigenvalues with random gaps, k = 30 probes, the probe measures drawn as
    squared normalised Gaussians: the law of μ_v for any eigenvectors), given the envelope the
    CMS band would give with zero width: misses stay within the 99.9 % quantile of
    Binomial(150, 0.2); and the median bound is below the uniform-proxy bound it replaced."""
    d, k, n, eta = 300, 30, 150, 0.2
    rng = np.random.default_rng(5)
    lam = np.cumsum(rng.exponential(size=d))
    F = np.arange(1, d) / d
    errs, bounds = [], []
    for i in range(n):
        g = rng.standard_normal((k, d)) ** 2
        Fbar = np.cumsum((g / g.sum(axis=1, keepdims=True)).mean(axis=0))[:-1]
        errs.append(float(np.sum(np.abs(Fbar - F) * np.diff(lam))))
        # 50 draws: valid for any n ≥ 1/η₁ (rank argument), and keeps the test fast.
        bounds.append(probe_part(lam, Fbar, Fbar, d, k, eta, n_draws=50, seed=i)[0])
    errs, bounds = np.array(errs), np.array(bounds)
    assert np.sum(errs > bounds) <= stats.binom.ppf(0.999, n, eta)
    old = (lam[-1] - lam[0]) * np.sqrt(2 * np.log(2 / eta) / (k * (2 * d + 4)))
    assert np.median(bounds) < old
    with pytest.raises(ValueError, match="lo and hi"):
        probe_part(lam, Fbar[:-1], Fbar, d, k, eta)


def test_total_covers_the_measured_w1_and_beats_the_a_priori_bound():
    """Over 12 probe seeds the total bound (95 %) falls below the measured W1 to the exact
    eigenvalues at most as often as a valid 95 % bound allows (the 99.9 % quantile of
    Binomial(12, 0.05); the slow test below checks 400 seeds), and it is tighter than the Chen–Trogdon–Ubaru a priori bound and than
    the m-point CMS band with the uniform sub-Gaussian proxy it replaced (k = 20: the exact
    probe path)."""
    d, k, m = 300, 20, 30
    A = _problem(d, 7)
    lam = np.linalg.eigvalsh(A)
    misses = 0
    for s in range(12):
        res = lanczos(A, m, k, seed=1000 + s)    # not the matrix's seed: independent probes
        th, tw, r = res.quadrature()
        iv = _interval_from_rules(th, r)
        b = slq_w1_bound(th, tw, iv.lower, iv.upper, d, nested=bracketing_rules(res),
                         n_draws=200, seed=s)     # any n ≥ 1/η₁ is valid; 200 keeps it fast
        meas = _w1(th.ravel(), tw.ravel(), lam, np.ones(d))
        misses += meas > b.total
        ctu = iv.width * (12.0 / (2 * m - 1) + np.sqrt(np.log(2 * d / 0.05) / ((d + 2) * k)))
        old = (cms_quadrature_part(th, tw, iv.lower, iv.upper)
               + iv.width * np.sqrt(np.log(2 / 0.05) / (k * (d + 2))))
        assert b.total < min(ctu, old)
    assert misses <= stats.binom.ppf(0.999, 12, 0.05)


def test_validation_and_edge_cases():
    xs, F_G, lo, hi = cms_envelope(np.array([[0.0, 1.0]]), np.array([[0.25, 0.75]]), -1.0, 2.0)
    assert list(xs) == [-1.0, 0.0, 1.0, 2.0]
    assert np.allclose(F_G, [0.0, 0.25, 1.0])
    assert np.allclose(lo, [0.0, 0.0, 0.25]) and np.allclose(hi, [0.25, 1.0, 1.0])
    with pytest.raises(ValueError, match="lower and upper"):
        slq_w1_bound([[0.0]], [[1.0]], 1.0, 0.0, 5)
    with pytest.raises(ValueError, match="confidence"):
        slq_w1_bound([[0.0]], [[1.0]], 0.0, 1.0, 5, confidence=1.0)
    with pytest.raises(ValueError, match="same shape"):
        slq_w1_bound([[0.0, 1.0]], [[1.0]], 0.0, 1.0, 5)
    with pytest.raises(ValueError, match="one row per probe"):
        slq_w1_bound([[0.0]], [[1.0]], 0.0, 1.0, 5, nested=[([[0.0], [1.0]], [[1.0], [1.0]])])
    assert probe_part([0.0, 1.0], [0.0], [1.0], 1, 3, 0.05) == (0.0, 0.0, 0.0)  # d = 1: Z ≡ 0
    with pytest.raises(ValueError, match="n_draws"):
        probe_part([0.0, 1.0], [0.5], [0.5], 4, 3, 0.05, n_draws=10)   # < 1/η₁
    b = slq_w1_bound([[2.0], [2.0]], [[1.0], [1.0]], 2.0, 2.0, 50)          # A = 2 I
    assert (b.quadrature, b.probe, b.total) == (0.0, 0.0, 0.0)


def test_slq_density_reports_the_a_posteriori_bound():
    """slq_density's w1_bound is this module's bound on its own rules, bracketing rules and
    interval."""
    from rmt.spectra import slq_density
    from rmt.spectra.density import SLQ_BOUND_TAG, probe_seed

    A = _problem(120, 3)
    dens = slq_density(A, n_probes=6, n_steps=20, seed=2)
    res = lanczos(A, 20, 6, seed=probe_seed(2))
    b = slq_w1_bound(dens.nodes, dens.weights, *dens.interval, 120, dens.confidence,
                     nested=bracketing_rules(res), seed=probe_seed(2, SLQ_BOUND_TAG))
    assert np.isclose(dens.w1_bound, b.total, rtol=1e-12)
    assert np.isclose(dens.quadrature_part * dens.width, b.quadrature, rtol=1e-12)
    assert np.isclose(dens.probe_part * dens.width, b.probe, rtol=1e-12)


def test_one_seed_for_matrix_and_probes_keeps_the_bounds_valid():
    """Regression: ``draw_covariance(seed=0)`` draws X from child 0 of SeedSequence(0), which
    the densities once used for their probes too (probes = normalised rows of X: SLQ W1 0.040
    against a bound of 0.013 here, KPM 0.041 against 0.025). With the probes' own stream both
    bounds cover (measured W1 ~10× below them at this seed), the caller's SeedSequence is left
    as it was, and a Generator is used as given."""
    from rmt import backend as bk
    from rmt.covariance import draw_covariance
    from rmt.spectra import kpm_density, slq_density
    from rmt.spectra.density import KPM_PROBE_TAG, probe_seed

    d = 300
    draw = draw_covariance(d, 2 * d, seed=0)
    ev = np.linalg.eigvalsh(bk.to_numpy(draw.matrix()))
    slq = slq_density(draw.operator(), n_probes=10, n_steps=60, seed=0)
    assert _w1(slq.nodes.ravel(), slq.weights.ravel(), ev, np.ones(d)) <= slq.w1_bound
    kpm = kpm_density(draw.operator(), 0.1, seed=0)
    assert kpm.wasserstein1(ev) <= kpm.w1_bound
    ss = np.random.SeedSequence(4, spawn_key=(1,))
    tagged = probe_seed(ss, KPM_PROBE_TAG)
    assert ss.spawn_key == (1,) and ss.n_children_spawned == 0
    assert tagged.spawn_key == (1, KPM_PROBE_TAG) and tagged.entropy == 4
    rng = np.random.default_rng(0)
    assert probe_seed(rng) is rng
    with pytest.raises(ValueError, match="tag"):
        probe_seed(0, -1)


@pytest.mark.slow
def test_bound_coverage_over_many_probe_seeds():
    """slq_density on a weighted covariance (d = 300, N = 600, 10 probes × 15 steps, 200 probe
    seeds; the matrix's seed 0 also used as a probe seed): the reported 95 % bound falls below
    the measured W1 at most as often as the 99.9 % quantile of Binomial(200, 0.05); the probe
    part at η = 0.2 (the envelope from the same rules, its own draws) falls below the exact
    probe error ∫|F_μ̄ − F_μ| (from the eigenvectors and the probes slq_density used) at most
    as often as Binomial(200, 0.2)'s 99.9 % quantile allows; and the bound on E∫|Z| is above
    the mean exact probe error less 3.3 standard errors (one-sided 99.95 %)."""
    from rmt import backend as bk
    from rmt.covariance import draw_covariance
    from rmt.spectra import slq_density
    from rmt.spectra.density import probe_seed
    from rmt.spectra.operators import sphere_probes

    d, k, m, n = 300, 10, 15, 200
    A = bk.to_numpy(draw_covariance(d, 2 * d, seed=0).matrix())
    lam, U = np.linalg.eigh(A)
    F = np.arange(1, d) / d
    miss_total = miss_probe = 0
    errs, means = [], []
    for s in range(n):
        dens = slq_density(A, n_probes=k, n_steps=m, seed=s)
        miss_total += _w1(dens.nodes.ravel(), dens.weights.ravel(), lam, np.ones(d)) > dens.w1_bound
        res = lanczos(A, m, k, seed=probe_seed(s))
        G = sphere_probes(d, k, bk.spawn_seeds(probe_seed(s), 2)[0])   # lanczos's child 0
        Fbar = np.cumsum(((U.T @ G) ** 2).mean(axis=1))[:-1]
        errs.append(float(np.sum(np.abs(Fbar - F) * np.diff(lam))))
        th, tw, _ = res.quadrature()
        assert np.allclose(th, dens.nodes)                       # the same probes
        xs, _, lo, hi = cms_envelope(th, tw, *dens.interval, bracketing_rules(res))
        p, _, mean = probe_part(xs, lo, hi, d, k, 0.2, n_draws=200, seed=10_000 + s)
        miss_probe += errs[-1] > p
        means.append(mean)
    errs = np.array(errs)
    assert miss_total <= stats.binom.ppf(0.999, n, 0.05)
    assert miss_probe <= stats.binom.ppf(0.999, n, 0.2)
    assert errs.mean() - 3.3 * errs.std(ddof=1) / np.sqrt(n) <= min(means)
