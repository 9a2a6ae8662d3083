"""rmt.spectra.bounds: the a posteriori SLQ W1 bound against exact spectral measures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rmt.spectra.bounds import cms_band, slq_w1_bound
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
def test_quadrature_part_bounds_the_exact_quadrature_error(seed):
    """W1(mean Gauss rule, mean probe measure) ≤ the CMS part, with the probe measures formed
    exactly from the eigenvectors (d = 150, 10 probes × 12 steps): a deterministic inequality,
    so every seed must satisfy it (up to float64 rounding of the W1 sums, 1e-12 relative)."""
    d, k, m = 150, 10, 12
    A = _problem(d, seed)
    lam, U = np.linalg.eigh(A)
    G = np.random.default_rng(100 + seed).standard_normal((d, k))
    G /= np.linalg.norm(G, axis=0)
    res = lanczos(A, m, probes=G)
    th, tw, r = res.quadrature()
    mu_w = ((U.T @ G) ** 2).T.ravel() / k                   # probe measures, weights
    mu_x = np.tile(lam, k)
    exact = _w1(th.ravel(), tw.ravel() / k, mu_x, mu_w)
    b = slq_w1_bound(th, tw, lam[0], lam[-1], d)
    assert exact <= b.quadrature * (1 + 1e-12)
    assert b.quadrature < 0.5 * (lam[-1] - lam[0])          # and it is informative


def test_total_covers_the_measured_w1_and_beats_the_a_priori_bound():
    """Over 20 probe seeds the total bound (probe part at 95 %) falls below the measured W1 to
    the exact eigenvalues at most as often as a valid 95 % bound allows (the 99.9 % quantile of
    Binomial(20, 0.05)), and it is tighter than the Chen–Trogdon–Ubaru a priori bound."""
    d, k, m = 300, 10, 50
    A = _problem(d, 7)
    lam = np.linalg.eigvalsh(A)
    misses = 0
    for s in range(20):
        res = lanczos(A, m, k, seed=s)
        th, tw, r = res.quadrature()
        iv = _interval_from_rules(th, r)
        b = slq_w1_bound(th, tw, iv.lower, iv.upper, d)
        meas = _w1(th.ravel(), tw.ravel(), lam, np.ones(d))
        misses += meas > b.total
        ctu = iv.width * (12.0 / (2 * m - 1) + np.sqrt(np.log(2 * d / 0.05) / ((d + 2) * k)))
        assert b.total < ctu
    assert misses <= stats.binom.ppf(0.999, 20, 0.05)


def test_band_shape_and_validation():
    xs, band = cms_band(np.array([[0.0, 1.0]]), np.array([[0.25, 0.75]]), -1.0, 2.0)
    assert list(xs) == [-1.0, 0.0, 1.0, 2.0]
    assert np.allclose(band, [0.25, 0.75, 0.75])
    with pytest.raises(ValueError, match="lower and upper"):
        slq_w1_bound([[0.0]], [[1.0]], 1.0, 0.0, 5)
    with pytest.raises(ValueError, match="confidence"):
        slq_w1_bound([[0.0]], [[1.0]], 0.0, 1.0, 5, confidence=1.0)


def test_slq_density_reports_the_a_posteriori_bound():
    """slq_density's w1_bound is this module's bound on its own rules and interval."""
    from rmt.spectra import slq_density

    A = _problem(120, 3)
    dens = slq_density(A, n_probes=6, n_steps=20, seed=2)
    b = slq_w1_bound(dens.nodes, dens.weights, *dens.interval, 120, dens.confidence)
    assert np.isclose(dens.w1_bound, b.total, rtol=1e-12)
    assert np.isclose(dens.quadrature_part * dens.width, b.quadrature, rtol=1e-12)
