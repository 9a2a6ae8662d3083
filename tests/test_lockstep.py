"""Tests of the lockstep LOBPCG (rmt.spectra.lockstep) and the pencil Lanczos
(rmt.spectra.lanczos_pencil) against dense eigensolvers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st

from rmt.spectra import lanczos_pencil
from rmt.spectra.lockstep import smallest_lockstep

EPS = np.finfo(np.float64).eps


def _spd(n: int, cond: float, rng: np.random.Generator, gap: bool = False) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.geomspace(1.0, cond, n)
    if gap:          # the smallest eigenvalue 1 is isolated: the next is 2
        lam = np.concatenate([[1.0], np.geomspace(2.0, cond, n - 1)])
    return (Q * lam) @ Q.T


def _ops(As):
    def matmat(V, cols):
        return np.stack([As[j] @ V[:, i] for i, j in enumerate(cols)], axis=1)
    return matmat


@given(seed=st.integers(0, 10_000), rtol=st.sampled_from([1e-2, 1e-4]))
@settings(max_examples=10, deadline=None)
def test_lockstep_finds_each_smallest_eigenvalue(seed, rtol):
    rng = np.random.default_rng(seed)
    n = 80
    # An isolated bottom (relative gap 1 ≫ rtol): stopping at r ≤ rtol·θ then leaves λ_min in
    # [θ − r, θ] (with clustered bottoms the rule can stop on a neighbour of λ_min: documented).
    As = [_spd(n, c, rng, gap=True) for c in (10.0, 100.0, 1000.0)]
    # Jacobi preconditioners: each column must use its own.
    Ds = [np.diag(A).copy() for A in As]

    def precond(R, cols):
        return np.stack([R[:, i] / Ds[j] for i, j in enumerate(cols)], axis=1)

    X0 = rng.standard_normal((n, 3))
    res = smallest_lockstep(_ops(As), precond, X0, 1e-300, rtol=rtol, maxiter=2000)
    assert res.converged.all()
    for j, A in enumerate(As):
        lam = np.linalg.eigvalsh(A)[0]
        x = res.vectors[:, j]
        th = x @ A @ x
        r = np.linalg.norm(A @ x - th * x)
        # The stopping rule, on a fresh product (the kept products drift by rounding only).
        assert r <= rtol * th * (1 + 1e-6) + 1e3 * EPS * np.linalg.norm(A, 2)
        # Rayleigh quotient ≥ λ_min, and λ_min within the residual of it (Weinstein).
        assert lam <= th * (1 + 1e3 * EPS)
        assert th - r <= lam * (1 + 1e3 * EPS)
        assert abs(res.theta[j] - th) <= 1e-8 * th


def test_lockstep_columns_stop_independently_and_validate():
    rng = np.random.default_rng(1)
    n = 80
    As = [_spd(n, 4.0, rng, gap=True), _spd(n, 1e4, rng)]
    res = smallest_lockstep(_ops(As), None, rng.standard_normal((n, 2)), 1e-300, rtol=1e-6,
                            maxiter=25)
    # Well conditioned: converges within the budget; κ = 1e4 unpreconditioned does not.
    assert res.converged[0] and not res.converged[1]
    assert res.iterations[1] == 25 and res.iterations[0] < 25
    with pytest.raises(ValueError, match="X0 must have shape"):
        smallest_lockstep(_ops(As), None, np.ones(5), 1.0)
    with pytest.raises(ValueError, match="tol must be finite and > 0"):
        smallest_lockstep(_ops(As), None, np.ones((n, 2)), 0.0)
    with pytest.raises(ValueError, match="rtol must be finite and >= 0"):
        smallest_lockstep(_ops(As), None, np.ones((n, 2)), 1.0, rtol=-1.0)
    with pytest.raises(ValueError, match="maxiter"):
        smallest_lockstep(_ops(As), None, np.ones((n, 2)), 1.0, maxiter=0)
    with pytest.raises(ValueError, match="finite, non-zero columns"):
        smallest_lockstep(_ops(As), None, np.zeros((n, 2)), 1.0)


@given(seed=st.integers(0, 10_000), m=st.integers(5, 40))
@settings(max_examples=20, deadline=None)
def test_pencil_lanczos_brackets_the_extreme_generalized_eigenvalues(seed, m):
    rng = np.random.default_rng(seed)
    n = 60
    A = rng.standard_normal((n, n))
    A = A + A.T
    B = _spd(n, 50.0, rng)
    Binv = np.linalg.inv(B)
    lam = sla.eigh(A, B, eigvals_only=True)
    res = lanczos_pencil(A, lambda R: Binv @ R, m, seed=seed)
    theta, w, r = res.quadrature()
    lo, hi = theta[0].min(), theta[0].max()
    r_lo, r_hi = r[0, theta[0].argmin()], r[0, theta[0].argmax()]
    scale = np.abs(lam).max()
    slack = 1e5 * EPS * scale          # rounding of the recurrences and of B⁻¹
    # Ritz values of the B-self-adjoint B⁻¹A lie inside its spectrum …
    assert lam[0] - slack <= lo and hi <= lam[-1] + slack
    # … and an eigenvalue lies within each residual (B-norm); with m ≥ n the rule is exact.
    assert np.min(np.abs(lam - lo)) <= r_lo + slack
    assert np.min(np.abs(lam - hi)) <= r_hi + slack
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-12)
    if m >= n:
        assert abs(lo - lam[0]) <= slack and abs(hi - lam[-1]) <= slack


def test_pencil_lanczos_with_identity_b_is_exact_on_an_invariant_space():
    rng = np.random.default_rng(3)
    n = 30
    A = np.diag(np.repeat([1.0, 2.0, 3.0], 10))      # three distinct eigenvalues
    res = lanczos_pencil(A, lambda R: R, 20, seed=rng.integers(1 << 30))
    theta, _, _ = res.quadrature()
    # The Krylov space of a 3-eigenvalue matrix is invariant after 3 steps.
    assert res.exhausted[0] and theta.shape[1] == 3
    np.testing.assert_allclose(np.sort(theta[0]), [1.0, 2.0, 3.0], atol=1e-12)


@pytest.mark.parametrize("reorth", [True, False])
def test_pencil_ritz_vectors_and_early_stop(reorth):
    # return_basis gives Ritz vectors y with B⁻¹Ay ≈ θy to the run's own residual, and stop ends
    # the run at the step it first returns True (with the leading columns of α, β).
    rng = np.random.default_rng(7)
    n = 50
    A = rng.standard_normal((n, n))
    A = A + A.T
    B = _spd(n, 20.0, rng)
    Binv = np.linalg.inv(B)
    seen = []

    def stop(alpha, beta):
        seen.append(alpha.shape[1])
        assert alpha.shape == beta.shape == (1, len(seen))
        return alpha.shape[1] == 12

    res = lanczos_pencil(A, lambda R: Binv @ R, 30, seed=1, reorthogonalize=reorth, stop=stop,
                         return_basis=True)
    assert res.n_steps == 12 and seen == list(range(1, 13))
    theta, _, r = res.quadrature()
    i, j = theta[0].argmin(), theta[0].argmax()
    Y = res.ritz_vectors(0, [i, j])
    assert Y.shape == (n, 2)
    slack = 1e5 * EPS * np.abs(sla.eigh(A, B, eigvals_only=True)).max()   # as above
    for col, t, rr in ((0, theta[0, i], r[0, i]), (1, theta[0, j], r[0, j])):
        y = Y[:, col]
        # B-normalised; without reorthogonalisation the basis loses B-orthogonality as Ritz
        # values converge (Paige), so the norm is only checked loosely there
        np.testing.assert_allclose(y @ B @ y, 1.0, atol=1e-8 if not reorth else 1e-12)
        # ‖B⁻¹Ay − θy‖_B equals the Lanczos residual, to rounding of the recurrences
        z = Binv @ (A @ y) - t * y
        assert abs(np.sqrt(z @ B @ z) - rr) <= slack
    with pytest.raises(ValueError, match="return_basis"):
        lanczos_pencil(A, lambda R: Binv @ R, 5, seed=1).ritz_vectors(0, [0])


def test_a_stop_before_d_steps_is_not_exhausted():
    # n_steps ≥ d would exhaust the space, but a stop at step 12 of d = 30 does not.
    from rmt.spectra import lanczos

    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 30))
    A = A + A.T
    r = lanczos(A, 40, 2, seed=1, stop=lambda a, b: a.shape[1] == 12)
    assert r.n_steps == 12 and not r.exhausted.any()
    r = lanczos_pencil(A, lambda R: R, 40, seed=1, stop=lambda a, b: a.shape[1] == 12)
    assert r.n_steps == 12 and not r.exhausted[0]
    assert lanczos(A, 40, 1, seed=1).exhausted.all()               # all d steps: exhausted
    assert lanczos_pencil(A, lambda R: R, 40, seed=1).exhausted[0]
