"""The batched Lanczos iteration with full reorthogonalisation, its Gauss quadrature rules,
and spectral edges from the extreme Ritz values.

:func:`lanczos` runs the Lanczos iteration on ``k`` probes at once (probes are the columns of
one block, so each step is one ``matmat`` — two big GEMMs for a weighted covariance — plus
batched Gram–Schmidt), with full reorthogonalisation (two classical Gram–Schmidt passes every
step, "CGS2": orthogonal to working precision without a test between the passes, which on a GPU
would read the norms back every step). Each step copies its ``α`` and ``β`` to the host in one
transfer (the breakdown test needs ``β``): one synchronisation per step. Each
probe's tridiagonal matrix gives a Gauss quadrature rule for the probe's
weighted spectral measure ``μ_u = Σ_i (u·q_i)² δ_{λ_i}``; averaging the rules over probes is
stochastic Lanczos quadrature (SLQ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from .. import backend as bk
from ..validation import check_finite_array, check_int
from .operators import as_operator, sphere_probes


@dataclass(frozen=True, eq=False)
class LanczosResult:
    """Output of :func:`lanczos`: one tridiagonal matrix per probe.

    Attributes
    ----------
    alpha : ndarray, shape (k, m)
        Diagonals (float64, host).
    beta : ndarray, shape (k, m)
        ``beta[:, j]`` couples steps ``j`` and ``j+1``; ``beta[:, m−1]`` is the final residual
        norm. A zero marks a breakdown (invariant Krylov space) after which the probe was
        continued with a fresh orthogonal vector whose nodes get zero weight.
    exhausted : ndarray of bool, shape (k,)
        Probes whose Krylov space became invariant (or reached ``d``): their rules are exact.
    dim : int
    basis : array, shape (k, m, d), optional
        The Lanczos vectors, where the run was asked to return them (for Ritz vectors).
    """

    alpha: np.ndarray
    beta: np.ndarray
    exhausted: np.ndarray
    dim: int
    basis: Any = None

    @property
    def n_probes(self) -> int:
        return int(self.alpha.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.alpha.shape[1])

    def quadrature(self, n_steps: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gauss rules of each probe from the leading ``n_steps`` Lanczos steps.

        Returns
        -------
        nodes, weights, residuals : ndarray, shape (k, n_steps)
            Ritz values, weights ``(e₁ᵀ s_l)²`` (each row sums to 1), and residual norms
            ``β_m |e_mᵀ s_l|`` (an eigenvalue lies within the residual of each Ritz value).
        """
        m = self.n_steps if n_steps is None else check_int("n_steps", n_steps, 1, self.n_steps)
        theta, S = self._eigh(m)
        weights = S[:, 0, :] ** 2
        weights /= weights.sum(axis=1, keepdims=True)
        residuals = np.abs(self.beta[:, m - 1:m]) * np.abs(S[:, m - 1, :])
        return theta, weights, residuals

    def _eigh(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        # eigenpairs of the leading m × m tridiagonal matrices
        k = self.alpha.shape[0]
        T = np.zeros((k, m, m))
        idx = np.arange(m)
        T[:, idx, idx] = self.alpha[:, :m]
        T[:, idx[:-1], idx[1:]] = self.beta[:, :m - 1]
        T[:, idx[1:], idx[:-1]] = self.beta[:, :m - 1]
        return np.linalg.eigh(T)

    def ritz_vectors(self, probe: int, which: Any) -> Any:
        """Ritz vectors ``V s_l`` of one probe for the Ritz values of indices ``which`` (in
        ascending order, as :meth:`quadrature` gives them), shape ``(d, len(which))``, in the
        basis's array type and dtype; needs the basis (``return_basis=True``). For
        :func:`lanczos_pencil` they are ``B``-normalised up to rounding."""
        if self.basis is None:
            raise ValueError("ritz_vectors needs the Lanczos basis: run with return_basis=True")
        _, S = self._eigh(self.n_steps)
        V = self.basis[probe, :self.n_steps]
        coef = bk.asarray(S[probe][:, np.atleast_1d(which)], bk.get_xp(V), V.dtype)
        return V.T @ coef


def _breakdown(eps: float, norm_est: float, j: int) -> float:
    """The residual norm at step ``j`` below which the Krylov space is taken as invariant: after
    two Gram–Schmidt passes an invariant space leaves a few ``eps·‖A‖`` times ``sqrt(j)``, and
    anything that small carries no spectral information."""
    return 64.0 * eps * max(norm_est, np.finfo(np.float64).tiny) * math.sqrt(j + 1)


def lanczos(A: Any, n_steps: int, n_probes: int = 1, *, seed: Any = None, probes: Any = None,
            reorthogonalize: bool = True,
            stop: Callable[[np.ndarray, np.ndarray], bool] | None = None,
            return_basis: bool = False) -> LanczosResult:
    """Lanczos on ``k`` probes at once (columns of one block), with full reorthogonalisation.

    Each step is one ``A.matmat`` on a ``(d, k)`` block plus two batched classical
    Gram–Schmidt passes against the stored basis (``4 k j d`` flops per pass at step ``j``, as
    batched matrix products), so on a GPU a step costs about one read of the data and two of the
    basis, and one device→host copy (``α`` and ``β`` together).

    Parameters
    ----------
    A : operator
        See :func:`as_operator`; must be symmetric.
    n_steps : int, >= 1
        Lanczos steps ``m`` (capped at ``d``).
    n_probes : int, >= 1
        Probes ``k`` (ignored when ``probes`` is given).
    seed : int, SeedSequence or Generator, optional
        Child 0 draws the probes (uniform on the sphere), child 1 the vectors that continue a
        probe after a breakdown.
    probes : array, shape (d, k), optional
        Start vectors (normalised here).
    reorthogonalize : bool
        Full reorthogonalisation (default). Without it no basis is stored (memory ``O(dk)``)
        and rounding makes ghost copies of converged Ritz values, biasing densities.
    stop : callable ``(alpha, beta) -> bool``, optional
        Called after every step ``j`` with the leading ``j + 1`` columns of ``alpha`` and
        ``beta`` (host arrays); ``True`` ends the run there (fewer than ``n_steps`` steps), e.g.
        once the Ritz values a caller needs have converged.
    return_basis : bool
        Keep the Lanczos vectors (``kmd`` numbers; kept anyway with reorthogonalisation) in the
        result, for :meth:`LanczosResult.ritz_vectors`.

    Returns
    -------
    LanczosResult
    """
    op = as_operator(A)
    xp, d, dt = op.xp, op.shape[0], op.dtype
    m = min(check_int("n_steps", n_steps, 1), d)
    ss_probe, ss_restart = bk.spawn_seeds(seed, 2)
    if probes is None:
        k = check_int("n_probes", n_probes, 1)
        Q = sphere_probes(d, k, ss_probe, xp=xp, dtype=dt).T.copy()
    else:
        P = bk.asarray(probes, xp, dt)
        if P.ndim == 1:
            P = P[:, None]
        if P.ndim != 2 or P.shape[0] != d or P.shape[1] < 1:
            raise ValueError(f"probes must have shape ({d}, k) with k >= 1, got {tuple(P.shape)}")
        check_finite_array("probes", P, xp)
        norms = xp.sqrt(xp.sum(P * P, axis=0))
        if bool(xp.any(norms == 0)):
            raise ValueError("probes must be non-zero vectors")
        Q = (P / norms).T.copy()
        k = int(Q.shape[0])
    restart_rng = np.random.default_rng(ss_restart)
    eps = float(np.finfo(dt).eps)
    basis = xp.empty((k, m, d), dtype=dt) if reorthogonalize or return_basis else None
    reorth = basis if reorthogonalize else None
    alpha = np.zeros((k, m))
    beta = np.zeros((k, m))
    exhausted = np.zeros(k, dtype=bool)          # breakdowns; reaching d steps is added below
    Q_prev = None
    b_prev = None
    norm_est = 0.0
    for j in range(m):
        if basis is not None:
            basis[:, j, :] = Q
        W = op.matmat(Q.T).T  # (k, d)
        a = xp.sum(Q * W, axis=1)
        W = W - a[:, None] * Q
        if Q_prev is not None:
            W -= b_prev[:, None] * Q_prev
        if reorth is not None:
            W = _orthogonalize(xp, reorth[:, :j + 1, :], W)
        b = xp.sqrt(xp.sum(W * W, axis=1))
        a_h, b_h = (v.astype(np.float64) for v in bk.to_host(a, b))  # one copy per step
        alpha[:, j] = a_h
        beta[:, j] = b_h
        if j == m - 1:
            break
        if stop is not None and stop(alpha[:, :j + 1], beta[:, :j + 1]):
            alpha, beta = alpha[:, :j + 1].copy(), beta[:, :j + 1].copy()
            break
        norm_est = max(norm_est, float(np.max(np.abs(a_h))), float(np.max(b_h)))
        broke = b_h <= _breakdown(eps, norm_est, j)
        bad = np.flatnonzero(broke)
        if bad.size:
            exhausted[bad] = True
            beta[bad, j] = 0.0
            b = bk.asarray(np.where(broke, 1.0, b_h), xp, dt)
            for c in bad:
                r = bk.asarray(restart_rng.standard_normal(d), xp, dt)
                if reorth is not None:
                    r = _orthogonalize(xp, reorth[c:c + 1, :j + 1, :], r[None, :])[0]
                W[int(c)] = r / xp.sqrt(xp.sum(r * r))
            b_prev = bk.asarray(beta[:, j], xp, dt)
        else:
            b_prev = b
        Q_prev = Q
        Q = W / b[:, None]
    exhausted |= alpha.shape[1] == d              # not after a stop before d steps
    return LanczosResult(alpha=alpha, beta=beta, exhausted=exhausted, dim=d,
                         basis=basis if return_basis else None)


def lanczos_pencil(A: Any, B_solve: Callable[[Any], Any], n_steps: int, *, seed: Any = None,
                   reorthogonalize: bool = True,
                   stop: Callable[[np.ndarray, np.ndarray], bool] | None = None,
                   return_basis: bool = False) -> LanczosResult:
    """Lanczos for a symmetric pencil ``(A, B)``, ``B`` positive definite and given by its solve.

    The iteration runs on ``B⁻¹A``, which is self-adjoint in the ``B`` inner product (the
    preconditioned Lanczos of Saad, *Numerical Methods for Large Eigenvalue Problems*, §9.2):
    each step is one product with ``A`` and one solve with ``B``, never a product with ``B`` or a
    factor of it. The Ritz values approximate the eigenvalues of ``B⁻¹A`` (those of
    ``B^{-1/2}AB^{-1/2}``), and the residuals of :meth:`LanczosResult.quadrature` are the
    ``B``-norms ``‖B⁻¹Ay − θy‖_B`` of unit Ritz vectors: an eigenvalue lies within each of its
    Ritz value. One start vector (uniform on the sphere).

    Parameters
    ----------
    A : operator
        See :func:`as_operator`; symmetric.
    B_solve : callable
        ``R ↦ B⁻¹R`` on blocks of shape ``(d, 1)``; ``B`` symmetric positive definite.
    n_steps : int, >= 1
        Steps ``m`` (capped at ``d``); fewer when the Krylov space is invariant.
    seed : optional
        Draws the start vector.
    reorthogonalize : bool
        Full ``B``-reorthogonalisation (two classical Gram–Schmidt passes; keeps ``V`` and
        ``BV``, ``2md`` numbers).
    stop : callable ``(alpha, beta) -> bool``, optional
        As in :func:`lanczos`.
    return_basis : bool
        Keep the Lanczos vectors ``v_j`` (``md`` numbers) in the result, for
        :meth:`LanczosResult.ritz_vectors`.

    Returns
    -------
    LanczosResult
        ``k = 1``; ``exhausted`` when the space became invariant.
    """
    op = as_operator(A)
    xp, d, dt = op.xp, op.shape[0], op.dtype
    m = min(check_int("n_steps", n_steps, 1), d)
    r = sphere_probes(d, 1, seed, xp=xp, dtype=dt)                    # (d, 1)
    z = B_solve(r)
    b = float(xp.sum(r * z)) ** 0.5
    w, v = r / b, z / b                       # w = B v, ‖v‖_B = 1
    V = xp.empty((m, d), dtype=dt) if reorthogonalize or return_basis else None
    BV = xp.empty((m, d), dtype=dt) if reorthogonalize else None
    alpha, beta = np.zeros((1, m)), np.zeros((1, m))
    eps = float(np.finfo(dt).eps)
    w_prev, b_prev, norm_est = None, 0.0, 0.0
    exhausted = False
    for j in range(m):
        if V is not None:
            V[j] = v[:, 0]
        if BV is not None:
            BV[j] = w[:, 0]
        u = op.matmat(v)
        a = float(xp.sum(v * u))
        u = u - a * w
        if w_prev is not None:
            u = u - b_prev * w_prev
        if BV is not None:
            for _ in range(2):     # make B⁻¹u B-orthogonal to V: subtract BV (Vᵀu)
                u = u - BV[:j + 1].T @ (V[:j + 1] @ u)
        z = B_solve(u)
        b = max(float(xp.sum(u * z)), 0.0) ** 0.5
        alpha[0, j], beta[0, j] = a, b
        norm_est = max(norm_est, abs(a), b)
        if j == m - 1:
            break
        if stop is not None and stop(alpha[:, :j + 1], beta[:, :j + 1]):
            alpha, beta = alpha[:, :j + 1].copy(), beta[:, :j + 1].copy()
            break
        if b <= _breakdown(eps, norm_est, j):
            # Invariant Krylov space: the j + 1 Ritz values are eigenvalues.
            alpha, beta, exhausted = alpha[:, :j + 1], beta[:, :j + 1], True
            beta[0, j] = 0.0
            break
        w_prev, b_prev = w, b
        w, v = u / b, z / b
    exhausted = exhausted or alpha.shape[1] == d   # not after a stop before d steps
    return LanczosResult(alpha=alpha, beta=beta, exhausted=np.array([exhausted]), dim=d,
                         basis=V[None] if return_basis else None)


def _orthogonalize(xp: ModuleType, basis: Any, W: Any) -> Any:
    """Remove from each row ``W[c]`` its components on the orthonormal rows of ``basis[c]``.

    Classical Gram–Schmidt twice ("CGS2"; Giraud, Langou & Rozložník 2005: two passes leave
    a vector orthogonal to working precision). Both passes always run: deciding whether the
    second is needed would read the norms back from a GPU at every step.
    """
    for _ in range(2):
        h = xp.matmul(basis, W[:, :, None])  # (k, j, 1)
        W = W - xp.matmul(basis.transpose(0, 2, 1), h)[:, :, 0]
    return W


@dataclass(frozen=True, eq=False)
class SpectralInterval:
    """An interval estimated to hold the spectrum, from extreme Ritz values.

    ``lower = θ_min − r_min`` and ``upper = θ_max + r_max`` where ``r`` are the Ritz residual
    norms: ``θ_min ≥ λ_min`` and ``θ_max ≤ λ_max`` always, and an eigenvalue lies within ``r`` of
    each Ritz value, so once the extreme Ritz pairs have converged (they do first) the interval
    holds the spectrum.
    """

    lower: float
    upper: float
    ritz_min: float
    ritz_max: float
    residual_min: float
    residual_max: float

    @property
    def width(self) -> float:
        return self.upper - self.lower


def _interval_from_rules(theta: np.ndarray, residuals: np.ndarray) -> SpectralInterval:
    i_lo = np.unravel_index(np.argmin(theta), theta.shape)
    i_hi = np.unravel_index(np.argmax(theta), theta.shape)
    t_lo, r_lo = float(theta[i_lo]), float(residuals[i_lo])
    t_hi, r_hi = float(theta[i_hi]), float(residuals[i_hi])
    return SpectralInterval(t_lo - r_lo, t_hi + r_hi, t_lo, t_hi, r_lo, r_hi)


def spectral_edges(A: Any, n_steps: int = 40, n_probes: int = 1, *,
                   seed: Any = None) -> SpectralInterval:
    """Estimate the extreme eigenvalues of a symmetric operator by a few Lanczos steps.

    Parameters
    ----------
    A : operator
        See :func:`as_operator`.
    n_steps : int, >= 1
        Lanczos steps (40 resolve the edges of Marchenko–Pastur-like spectra to a small
        fraction of the width; the residuals report how well).
    n_probes : int, >= 1
    seed : optional

    Returns
    -------
    SpectralInterval
    """
    res = lanczos(A, n_steps, n_probes, seed=seed)
    theta, _, residuals = res.quadrature()
    return _interval_from_rules(theta, residuals)
