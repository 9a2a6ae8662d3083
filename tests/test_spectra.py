"""Tests of rmt.spectra: batched eigvalsh, Lanczos, SLQ/KPM densities, Stieltjes, moments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rmt import backend as bk
from rmt import spectra as sp
from rmt.covariance import draw_covariance
from rmt.stats import grid_distances

EPS = np.finfo(np.float64).eps


def _t_quantile(n_probes: int, p_two_sided: float = 1e-4) -> float:
    """Student-t quantile for a two-sided test at ``p`` with ``n − 1`` degrees of freedom."""
    return float(stats.t.ppf(1 - p_two_sided / 2, df=n_probes - 1))


@pytest.fixture(scope="module")
def cov1000():
    """C·H_ii-type covariance at d = 1000, N = 2000 (γ = ½), its operator and exact spectrum."""
    draw = draw_covariance(1000, 2000, seed=3, weights="diag", scale="C")
    B = draw.matrix()
    return B, draw.operator(), np.linalg.eigvalsh(B)


# ------------------------------------------------------------------------------ eigvalsh


def test_eigvalsh_batched_chunking_is_invisible():
    rng = np.random.default_rng(0)
    G = rng.standard_normal((9, 40, 40))
    A = G + G.transpose(0, 2, 1)
    whole = sp.eigvalsh_batched(A)
    # A budget of one byte forces one matrix per chunk; on NumPy each matrix goes through the
    # same LAPACK call either way, so the eigenvalues are bit-identical.
    tiny = sp.eigvalsh_batched(A, memory_budget=1)
    three = sp.eigvalsh_batched(A, chunk_size=4)
    np.testing.assert_array_equal(whole, tiny)
    np.testing.assert_array_equal(whole, three)
    np.testing.assert_array_equal(sp.eigvalsh_batched(A[4]), whole[4])
    assert sp.eigvalsh_chunk_size(40, 8, 1) == 1
    assert sp.eigvalsh_chunk_size(40, 8, 10**9) > 9


def test_eigvalsh_batched_bad_input():
    with pytest.raises(ValueError, match="A must have shape"):
        sp.eigvalsh_batched(np.ones((3, 4)))
    with pytest.raises(ValueError, match="A must have shape"):
        sp.eigvalsh_batched(np.ones(4))
    with pytest.raises(ValueError, match="only finite"):
        sp.eigvalsh_batched(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="memory_budget must be"):
        sp.eigvalsh_batched(np.ones((2, 3, 3)), memory_budget=0)
    with pytest.raises(ValueError, match="chunk_size must be"):
        sp.eigvalsh_batched(np.ones((2, 3, 3)), chunk_size=0)


# ------------------------------------------------------------------------------- Lanczos


def test_lanczos_gauss_rule_matches_moments():
    # An m-point Gauss rule reproduces u·A^k u for k <= 2m − 1. Full reorthogonalisation makes
    # T the exact Lanczos matrix of A + E with ‖E‖ = O(m·eps·‖A‖), which moves the k-th moment
    # by at most k‖E‖‖A‖^{k−1}: relative error ≲ k·m·d·eps (the d from the dot products).
    rng = np.random.default_rng(1)
    d, m = 120, 10
    G = rng.standard_normal((d, d))
    A = (G + G.T) / math.sqrt(4 * d)  # ‖A‖ ≈ 1
    U = sp.sphere_probes(d, 3, seed=2)
    res = sp.lanczos(A, m, probes=U)
    theta, w, _ = res.quadrature()
    norm = np.max(np.abs(np.linalg.eigvalsh(A)))
    for k in range(1, 2 * m):
        exact = np.einsum("ic,ic->c", U, np.linalg.matrix_power(A, k) @ U)
        rule = np.sum(w * theta**k, axis=1)
        assert np.all(np.abs(rule - exact) <= k * m * d * EPS * norm**k * 10)
    assert not res.exhausted.any()


def test_lanczos_breakdown_gives_an_exact_rule():
    # A with 4 distinct eigenvalues: the Krylov space is invariant after 4 steps. The rule must
    # then reproduce u·(A − z)⁻¹u exactly (to rounding: entries O(1), conditioning 1/|Im z| = 2).
    rng = np.random.default_rng(3)
    d = 60
    lam = np.repeat([0.5, 1.0, 2.0, 3.5], d // 4)
    Qm, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (Qm * lam) @ Qm.T
    U = sp.sphere_probes(d, 2, seed=4)
    res = sp.lanczos(A, 12, probes=U, seed=5)
    assert res.exhausted.all()
    theta, w, _ = res.quadrature()
    z = 1.3 + 0.5j
    exact = np.einsum("ic,ic->c", U, np.linalg.solve(A - z * np.eye(d), U))
    rule = np.sum(w / (theta - z), axis=1)
    np.testing.assert_allclose(rule, exact, rtol=0, atol=1e3 * d * EPS)
    heavy = theta[w > 1e-12]
    assert np.all(np.min(np.abs(heavy[:, None] - np.unique(lam)[None, :]), axis=1) < 1e-10)


def test_operator_and_dense_paths_agree(cov1000):
    B, op, _ = cov1000
    a = sp.lanczos(op, 20, 2, seed=7)
    b = sp.lanczos(B, 20, 2, seed=7)
    # Same probes. Lanczos coefficients are not forward stable, but the rules' moments
    # Σ τ θ^k = uᵀA^k u (k ≤ 2m − 1) are: the two products differ by γ_{N+d} relative rounding
    # per application, so the k-th moments agree to ≈ k(N + d)·eps ≈ 7e-12 (k ≤ 10); 1e-9 leaves
    # room for the backward error O(m·eps) of the reorthogonalised recurrence.
    _assert_same_rule_moments(a, b, 10, rtol=1e-9)


def _assert_same_rule_moments(a, b, k_max, rtol):
    ta, wa, _ = a.quadrature()
    tb, wb, _ = b.quadrature()
    for k in range(1, k_max + 1):
        np.testing.assert_allclose(np.sum(wa * ta**k, axis=1), np.sum(wb * tb**k, axis=1),
                                   rtol=rtol)


def test_spectral_edges_respect_ritz_theorems(cov1000):
    B, op, ev = cov1000
    iv = sp.spectral_edges(op, n_steps=40, seed=0)
    # Ritz values lie in [λ_min, λ_max] (Cauchy interlacing), up to rounding of size d·eps‖B‖,
    # and an eigenvalue lies within each Ritz residual.
    tol = 1000 * EPS * ev[-1]
    assert ev[0] - tol <= iv.ritz_min and iv.ritz_max <= ev[-1] + tol
    assert np.min(np.abs(ev - iv.ritz_max)) <= iv.residual_max + tol
    assert np.min(np.abs(ev - iv.ritz_min)) <= iv.residual_min + tol
    # the top edge of an MP-like spectrum converges first: its residual is tiny
    assert iv.residual_max < 1e-3 * iv.width
    assert iv.upper >= ev[-1] - tol


# ------------------------------------------------------------------------------ densities


def test_slq_parameters_follow_ctu():
    # ⌈4 t⁻² ln(2n/η)/(n+2)⌉ = ⌈1600 · ln(40000)/1002⌉ = ⌈16.92⌉; ⌈12/t + ½⌉ = ⌈240.5⌉.
    assert sp.slq_parameters(0.05, 1000, 0.95, "ctu") == (17, 241)
    assert sp.slq_parameters(0.05, 1000, 0.95, "favard") == (17, 32)  # ⌈π/(2t)⌉ = ⌈31.4⌉
    assert sp.kpm_parameters(0.05, 1000, 0.95) == (17, 98)  # ⌈π²/(2t)⌉ − 1 = ⌈98.7⌉ − 1


@pytest.mark.parametrize("accuracy, rule, use_operator", [
    (0.1, "ctu", True),
    (0.05, "favard", False),
])
def test_slq_density_within_reported_w1_bound(cov1000, accuracy, rule, use_operator):
    B, op, ev = cov1000
    dens = sp.slq_density(op if use_operator else B, accuracy, rule=rule, seed=11)
    k, m = sp.slq_parameters(accuracy, 1000, 0.95, rule)
    assert (dens.n_probes, dens.n_steps) == (k, m)
    # The bound (module notes) holds with probability ≥ 0.95 over the probes.
    w1 = dens.wasserstein1(ev)
    assert w1 <= dens.w1_bound
    assert dens.w1_bound <= accuracy * dens.width * (1 + 1e-12)
    assert dens.interval[0] <= ev[0] + 1e-9 and dens.interval[1] >= ev[-1] - 1e-9
    # smoothed density: W1 grows by at most σ√(2/π)
    lo, hi = dens.interval[0] - 8 * dens.bandwidth, dens.interval[1] + 8 * dens.bandwidth
    smooth_w1 = grid_distances(dens.smoothed_cdf, lambda x: np.searchsorted(
        ev, x, side="right") / ev.size, lo, hi, points=ev, n_grid=1 << 15)[1]
    assert smooth_w1 <= dens.smoothed_w1_bound()
    # histogram masses form a probability vector over a covering grid
    edges = np.linspace(dens.interval[0] - 1e-9, dens.interval[1] + 1e-9, 31)
    masses = dens.histogram(edges)
    assert np.all(masses >= 0) and abs(masses.sum() - 1) < 1e-12


def test_kpm_density_within_reported_w1_bound(cov1000):
    _, op, ev = cov1000
    dens = sp.kpm_density(op, 0.05, seed=12)
    assert (dens.n_probes, dens.degree) == (17, 98)
    assert dens.wasserstein1(ev) <= dens.w1_bound
    assert dens.interval[0] <= ev[0] and dens.interval[1] >= ev[-1]
    x = np.linspace(dens.interval[0], dens.interval[1], 2001)
    F = dens.cdf(x)
    assert F[0] == 0.0 and abs(F[-1] - 1.0) < 1e-12
    assert np.all(np.diff(F) >= -1e-12)  # Jackson damping keeps the density non-negative
    assert np.all(dens.pdf(x) >= 0)


def test_chebyshev_moments_copy_to_host_once(monkeypatch):
    # One host copy for the whole recurrence (a copy per step would synchronise a GPU on every
    # product); the moments still equal u·T_j(Ã)u from the eigendecomposition (the recurrence
    # and the direct sum differ by rounding: ~ j·eps with |T_j| ≤ 1, so 1e-12 is ample for j < 20).
    rng = np.random.default_rng(4)
    G = rng.standard_normal((30, 30))
    A = (G + G.T) / 10.0
    lam, Q = np.linalg.eigh(A)
    lo, hi = float(lam[0]) - 0.1, float(lam[-1]) + 0.1
    U = sp.sphere_probes(30, 3, seed=5)
    calls = []
    real_to_numpy = bk.to_numpy

    def counting(a):
        calls.append(1)
        return real_to_numpy(a)

    from rmt.spectra import density

    monkeypatch.setattr(bk, "to_numpy", counting)
    mu = density._chebyshev_moments(sp.as_operator(A), U, lo, hi, 19)
    monkeypatch.undo()
    assert len(calls) == 1
    y = (lam - 0.5 * (lo + hi)) / (0.5 * (hi - lo))
    Tj = np.cos(np.arange(19)[:, None] * np.arccos(y)[None, :])   # (N, d)
    expected = ((Q.T @ U) ** 2).T @ Tj.T                            # (k, N)
    np.testing.assert_allclose(mu, expected, rtol=0, atol=1e-12)


def test_kpm_rejects_an_interval_that_misses_the_spectrum(cov1000):
    _, op, ev = cov1000
    with pytest.raises(ValueError, match="does not hold the spectrum"):
        sp.kpm_density(op, 0.1, interval=(ev[0], 0.5 * ev[-1]), seed=0)


# ------------------------------------------------------------------------------ Stieltjes


def test_stieltjes_exact_matches_a_direct_solve():
    rng = np.random.default_rng(5)
    d = 150
    G = rng.standard_normal((d, 2 * d))
    B = G @ G.T / (2 * d)
    ev = np.linalg.eigvalsh(B)
    z = np.array([0.3 + 0.2j, 2.0 + 1e-3j, -1.0])
    direct = np.array([np.trace(np.linalg.inv(B - zz * np.eye(d))) / d for zz in z])
    got = sp.stieltjes_from_eigenvalues(ev, z)
    # Both are backward stable: error ≲ d·eps·κ with κ = ‖B − z‖·‖(B − z)⁻¹‖, times |s| ≤ max 1/|λ − z|.
    for zz, a, b in zip(z, got, direct):
        inv = np.max(1 / np.abs(ev - zz))
        kappa = (np.max(np.abs(ev)) + abs(zz)) * inv
        assert abs(a - b) <= 10 * d * EPS * kappa * inv
    batch = sp.stieltjes_from_eigenvalues(np.stack([ev, ev]), z)
    assert batch.shape == (2, 3) and np.array_equal(batch[1], got)


def test_stieltjes_slq_agrees_with_exact_within_se(cov1000):
    _, op, ev = cov1000
    z = np.array([0.5 + 0.2j, 1.0 + 0.5j, -0.5 + 0.01j, 4.0 + 0j])
    exact = sp.stieltjes_from_eigenvalues(ev, z)
    est = sp.stieltjes_slq(op, z, n_probes=30, seed=2)
    q = _t_quantile(30)  # two-sided 1e-4 per component
    assert np.all(np.abs(est.value.real - exact.real) <= q * est.stderr.real + est.bias_bound)
    assert np.all(np.abs(est.value.imag - exact.imag) <= q * est.stderr.imag + est.bias_bound
                  + 1e-15)
    assert np.all(est.bias_bound <= 1e-6 / np.abs(z - np.clip(z.real, *est.interval)) * 10)


def test_gauss_bias_bound_is_an_upper_bound():
    # Uniform measure on [0, 1] (a probability measure): compare the m-point Gauss–Legendre rule
    # with the exact integral of 1/(x − z) = log((1 − z)/(−z)).
    z = np.array([0.5 + 0.05j, 1.2 + 0.0j, -0.3 + 0.4j])
    exact = np.log((1 - z) / (-z))
    for m in (2, 5, 10, 20):
        x, w = np.polynomial.legendre.leggauss(m)
        rule = np.sum((0.5 * w)[None, :] / (0.5 * (x + 1)[None, :] - z[:, None]), axis=1)
        bound = sp.gauss_stieltjes_bias_bound(z, 0.0, 1.0, m)
        # floating point adds the rounding of an m-term sum and of the log: ≲ m·eps·max|f|
        fmax = np.max(1 / np.abs(0.5 * (x + 1)[None, :] - z[:, None]), axis=1)
        assert np.all(np.abs(rule - exact) <= bound + 10 * m * EPS * fmax)


# -------------------------------------------------------------------------------- moments


def test_moments_from_eigenvalues_and_hutchinson(cov1000):
    B, op, ev = cov1000
    exact = sp.moments_from_eigenvalues(ev, 4)
    # trace identity: m_1 = tr B / d (both sums of d terms: d·eps relative)
    assert abs(exact[0] - np.trace(B) / 1000) <= 1000 * EPS * exact[0]
    est = sp.moments_hutchinson(op, 4, n_probes=40, seed=3)
    q = _t_quantile(40)
    assert np.all(np.abs(est.value - exact) <= q * est.stderr)
    assert list(est.orders) == [1, 2, 3, 4]
    odd = sp.moments_hutchinson(op, 3, n_probes=5, seed=3)
    np.testing.assert_array_equal(odd.probe_values, est.probe_values[:5, :3])


# ------------------------------------------------------------------------------ bad input


def test_bad_input(cov1000):
    B, op, ev = cov1000
    with pytest.raises(ValueError, match="accuracy must be"):
        sp.slq_density(op, 0.0)
    with pytest.raises(ValueError, match="accuracy must be"):
        sp.slq_parameters(1.0, 10)
    with pytest.raises(ValueError, match="confidence must be"):
        sp.slq_parameters(0.1, 10, confidence=1.0)
    with pytest.raises(ValueError, match="rule must be one of"):
        sp.slq_density(op, 0.1, rule="exact")
    with pytest.raises(ValueError, match="n_probes must be an integer >= 1"):
        sp.lanczos(op, 5, 0)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        sp.lanczos(op, 0)
    with pytest.raises(ValueError, match="A must be a square"):
        sp.as_operator(np.ones((3, 4)))
    with pytest.raises(ValueError, match="dim must be given"):
        sp.as_operator(lambda V: V)
    with pytest.raises(TypeError, match="A must be"):
        sp.as_operator("matrix")
    with pytest.raises(ValueError, match="z must lie off the spectrum"):
        sp.stieltjes_slq(op, 1.0, n_probes=2)
    with pytest.raises(ValueError, match="z must not coincide"):
        sp.stieltjes_from_eigenvalues(np.array([1.0, 2.0]), 2.0)
    with pytest.raises(ValueError, match="z must hold finite"):
        sp.stieltjes_from_eigenvalues(ev, np.nan)
    with pytest.raises(ValueError, match="probes must have shape"):
        sp.lanczos(op, 3, probes=np.ones((5, 2)))
    with pytest.raises(ValueError, match="k_max must be"):
        sp.moments_from_eigenvalues(ev, 0)
    with pytest.raises(ValueError, match="interval must satisfy"):
        sp.kpm_density(op, 0.1, interval=(1.0, 0.0))


def test_callable_operator():
    rng = np.random.default_rng(8)
    A = np.diag(rng.random(50))
    op = sp.as_operator(lambda V: A @ V, dim=50)
    est = sp.moments_hutchinson(op, 2, n_probes=4, seed=0)
    # Rademacher probes: vᵀ D v = tr D exactly for a diagonal D (variance 0); 50 terms summed
    np.testing.assert_allclose(est.value, [np.trace(A) / 50, np.trace(A @ A) / 50],
                               rtol=100 * EPS)
    assert np.all(est.stderr <= 100 * EPS)


@pytest.mark.gpu
def test_numpy_equals_cupy_spectra():
    cp = bk.get_cupy()
    draw = draw_covariance(300, 600, seed=4, weights="diag", scale="C")
    gdraw = draw_covariance(300, 600, seed=4, weights="diag", scale="C", backend="cupy",
                            draw_on="host")
    ev = sp.eigvalsh_batched(draw.matrix())
    gev = cp.asnumpy(sp.eigvalsh_batched(gdraw.matrix()))
    # Weyl: eigenvalues move by at most ‖ΔB‖ ≤ (N + d)·eps·‖|X|ᵀ|W||X|‖/N ≲ 1e-12·λ_max here.
    np.testing.assert_allclose(gev, ev, rtol=0, atol=1e-11 * ev[-1])
    # same host-drawn probes: the rules' moments agree as in test_operator_and_dense_paths_agree
    a = sp.lanczos(draw.operator(), 40, 4, seed=1)
    b = sp.lanczos(gdraw.operator(), 40, 4, seed=1)
    _assert_same_rule_moments(a, b, 10, rtol=1e-9)
    # Both Stieltjes estimates are within their bias bound of the same probe averages.
    s_cpu = sp.stieltjes_slq(draw.operator(), 1 + 0.3j, n_probes=8, n_steps=60, seed=2)
    s_gpu = sp.stieltjes_slq(gdraw.operator(), 1 + 0.3j, n_probes=8, n_steps=60, seed=2)
    assert abs(s_gpu.value - s_cpu.value) <= s_cpu.bias_bound + s_gpu.bias_bound + 1e-10
