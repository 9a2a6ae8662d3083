r"""The smallest eigenpair of several symmetric operators at once (LOBPCG in lockstep).

:func:`smallest_lockstep` runs one single-vector LOBPCG (Knyazev 2001: Rayleigh–Ritz on the
span of the iterate ``x``, its preconditioned residual ``w = T(Ax − θx)`` and the previous
direction ``p``) per operator, all advanced together. Its point is cost: each step multiplies
the ``k`` operators by their ``k`` vectors in one call and applies the ``k`` preconditioners in
one call, so a preconditioner whose cost is reading a large stored factor (the ``C p²`` block
inverses of :mod:`rmt.preconditioners`: 1.6 GB at ``C = 10⁴``, ``p = 200`` in float32) reads it
once per step for all ``k`` operators instead of ``k`` times. SciPy's ``lobpcg`` handles one
operator per call.

Each column stops when its residual ``‖A_j x_j − θ_j x_j‖`` (``‖x_j‖ = 1``) is at most its
tolerance; the caller should recompute ``θ`` and the residual with a fresh product (the
``A x`` kept here are updated by linear combination, so they drift by rounding). The small
Rayleigh–Ritz problems are solved in float64 on the host with the basis orthonormalised through
the eigendecomposition of its Gram matrix (directions with relative Gram eigenvalue below
``gram_cutoff`` are dropped), which keeps a step well defined when ``w`` or ``p`` become nearly
dependent on ``x`` near convergence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import backend as bk
from ..validation import check_int

__all__ = ["LockstepResult", "smallest_lockstep"]


@dataclass(frozen=True)
class LockstepResult:
    """Output of :func:`smallest_lockstep`.

    Attributes
    ----------
    theta : ndarray (k,)
        Ritz values (each an upper bound of its operator's smallest eigenvalue).
    vectors : array (n, k)
        Unit Ritz vectors, in the operators' array namespace.
    residual : ndarray (k,)
        ``‖A_j x_j − θ_j x_j‖`` from the kept products (recompute for a certified value).
    iterations : ndarray of int (k,)
        Steps taken per column.
    converged : ndarray of bool (k,)
    """

    theta: np.ndarray
    vectors: Any
    residual: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def smallest_lockstep(matmat: Callable[[Any, np.ndarray], Any],
                      precond: Callable[[Any, np.ndarray], Any] | None,
                      X0: Any, tol: Any, *, rtol: float = 0.0, maxiter: int = 300,
                      gram_cutoff: float | None = None,
                      callback: Callable[[np.ndarray, np.ndarray, np.ndarray], Any] | None = None
                      ) -> LockstepResult:
    """Smallest eigenpair of ``k`` symmetric operators, one LOBPCG vector each, in lockstep.

    Parameters
    ----------
    matmat : callable ``(V, cols) -> array (n, len(cols))``
        Column ``i`` of ``V`` multiplied by operator ``cols[i]``.
    precond : callable ``(R, cols) -> array (n, len(cols))``, optional
        Preconditioner ``T_j`` of operator ``cols[i]`` on column ``i`` (symmetric positive
        definite, ideally close to ``A_j⁻¹`` on the bottom of the spectrum); ``None``: identity.
    X0 : array (n, k)
        Start vectors (column ``j`` for operator ``j``), not all zero.
    tol : float or array (k,)
        Residual norm at which a column stops (absolute, in the operator's units), > 0.
    rtol : float, >= 0
        A column also stops once its residual is at most ``rtol·|θ|``: then ``[θ − r, θ]``, which
        holds the smallest eigenvalue once the iteration has found the bottom of the spectrum,
        is at most ``rtol`` wide relative to ``θ``.
    maxiter : int, >= 1
        Steps per column at most.
    gram_cutoff : float, optional
        Relative Gram eigenvalue below which a direction is dropped (default ``1e3·eps`` of the
        vectors' dtype).
    callback : callable ``(theta, residual, iterations)``, optional
        Called before every step with the current Ritz values, residual norms and step counts
        (arrays of length ``k``): for progress reports and convergence studies.

    Returns
    -------
    LockstepResult
    """
    xp = bk.get_xp(X0)
    if getattr(X0, "ndim", 0) != 2 or X0.shape[0] < 1 or X0.shape[1] < 1:
        raise ValueError(f"X0 must have shape (n, k) with n, k >= 1, got "
                         f"{getattr(X0, 'shape', None)}")
    n, k = (int(s) for s in X0.shape)
    maxiter = check_int("maxiter", maxiter, 1)
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), (k,)).copy()
    if not np.all(np.isfinite(tol) & (tol > 0)):
        raise ValueError(f"tol must be finite and > 0, got {tol}")
    if not (math.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"rtol must be finite and >= 0, got {rtol}")
    eps = float(np.finfo(X0.dtype).eps)
    cutoff = 1e3 * eps if gram_cutoff is None else float(gram_cutoff)
    # One persistent (k, 6, n) stack holds each column's [x, w, p, Ax, Aw, Ap]: both Gram
    # matrices of a column's Rayleigh–Ritz problem come from one product over its rows (one read,
    # measured twice as fast as two), and no step allocates a fresh stack (fresh arrays of tens
    # of MB cost page faults as slow as the work).
    S = xp.zeros((k, 6, n), dtype=X0.dtype)
    B, AB = S[:, :3], S[:, 3:]
    X, AX = B[:, 0], AB[:, 0]
    X[...] = X0.T
    norms = xp.sqrt(xp.sum(X * X, axis=1, keepdims=True))
    # checked before dividing: a zero column would divide 0 by 0
    if not bool(xp.all(xp.isfinite(norms) & (norms > 0))):
        raise ValueError("X0 must have finite, non-zero columns")
    X /= norms
    AX[...] = matmat(X.T, np.arange(k)).T
    R = xp.empty((k, n), dtype=X0.dtype)
    has_p = np.zeros(k, dtype=bool)
    iters = np.zeros(k, dtype=int)
    done = np.zeros(k, dtype=bool)
    while True:
        theta = bk.to_numpy(xp.einsum("kn,kn->k", X, AX)).astype(np.float64)
        xp.multiply(X, xp.asarray(theta, dtype=X.dtype)[:, None], out=R)
        xp.subtract(AX, R, out=R)
        rnorm = bk.to_numpy(xp.sqrt(xp.einsum("kn,kn->k", R, R))).astype(np.float64)
        done |= (rnorm <= tol) | (rnorm <= rtol * np.abs(theta))
        if callback is not None:
            callback(theta, rnorm, iters)
        act = np.flatnonzero(~done & (iters < maxiter))
        if act.size == 0:
            break
        idx = slice(None) if act.size == k else act
        W = precond(R[idx].T, act).T if precond is not None else R[idx].copy()
        B[idx, 1] = W
        W = B[:, 1]
        # w ⊥ x, unit norm (columns that stopped keep their stale rows: never read again).
        W -= X * xp.einsum("kn,kn->k", X, W)[:, None]
        wn = bk.to_numpy(xp.sqrt(xp.einsum("kn,kn->k", W, W)))
        stop = (wn == 0) & ~done
        if np.any(stop):              # the residual's direction is x itself: nothing to add
            done |= stop
            act = np.flatnonzero(~done & (iters < maxiter))
            if act.size == 0:
                break
            idx = slice(None) if act.size == k else act
        wn[wn == 0] = 1.0
        W /= xp.asarray(wn, dtype=W.dtype)[:, None]
        AB[idx, 1] = matmat(B[idx, 1].T, act).T
        for j in act:
            m = 3 if has_p[j] else 2
            GM = bk.to_numpy(S[j, :3] @ S[j].T).astype(np.float64)     # [x w p]ᵀ[x w p Ax Aw Ap]
            g, V = np.linalg.eigh(GM[:m, :m])
            keep = g > cutoff * g[-1]
            Q = V[:, keep] / np.sqrt(g[keep])
            Mj = 0.5 * (GM[:m, 3:3 + m] + GM[:m, 3:3 + m].T)
            _, Z = np.linalg.eigh(Q.T @ Mj @ Q)
            coef = np.zeros(3)
            coef[:m] = Q @ Z[:, 0]
            # New x (all three coefficients) and p (the w and p parts), each side in one product.
            c2 = xp.asarray(np.stack([coef, coef * np.array([0.0, 1.0, 1.0])]), dtype=S.dtype)
            Y, AY = c2 @ S[j, :3], c2 @ S[j, 3:]                             # (2, n) each
            nrm = bk.to_numpy(xp.sqrt(xp.sum(Y * Y, axis=1))).astype(np.float64)
            ok = nrm[1] > 0
            nrm[nrm == 0] = 1.0
            scale = xp.asarray(1.0 / nrm, dtype=S.dtype)[:, None]
            Y *= scale
            AY *= scale
            S[j, 0:3:2], S[j, 3:6:2] = Y, AY
            has_p[j] = has_p[j] or ok
        iters[act] += 1
    return LockstepResult(theta, X.T, rnorm, iters, done)
