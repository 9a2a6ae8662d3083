"""The deterministic equivalent of a weighted covariance with a trial's own weights: the control
variate of the Lindeberg gap (see :mod:`rmt.lindeberg`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend as bk
from ..validation import check_int, check_real


def deterministic_stieltjes(w: Any, z: Any, ratio: float, *, tol: float = 1e-12,
                            max_iter: int = 200) -> np.ndarray:
    """Stieltjes transform of the generalized Marchenko–Pastur law of given weights.

    Solves ``m = 1 / (−z + (1/N) Σ_n w_n / (1 + γ w_n m))`` with ``Im m > 0`` for each ``z``
    (``Im z > 0``) and each weight vector: the limit of ``(1/d) tr (B − z)⁻¹`` for
    ``B = (1/N) Σ_n w_n x_n x_nᵀ`` with ``x_n ~ N(0, I_d)`` independent of the weights.
    Damped fixed-point iterations (the map sends the upper half-plane into itself) followed by
    Newton's method on ``G(m) = m(−z + S(m)) − 1``.

    Parameters
    ----------
    w : array, shape (N,) or (b, N)
        Weights (NumPy or CuPy; solved on the host in float64).
    z : complex or array of complex, shape (q,)
        Points with ``Im z > 0``.
    ratio : float, > 0
        ``γ = d/N``.
    tol : float, > 0
        Stop when ``|G(m)| ≤ tol`` (a relative residual: ``G = 0`` at the solution, ``|G + 1|``
        is ``O(1)``).
    max_iter : int, >= 1
        Newton steps at most.

    Returns
    -------
    ndarray of complex, shape (q,) or (b, q)

    Raises
    ------
    ValueError
        On bad input, or when the solve does not converge (the residual is reported).
    """
    W = np.asarray(bk.to_numpy(w), dtype=np.float64)
    if W.ndim not in (1, 2) or W.shape[-1] < 1:
        raise ValueError(f"w must have shape (N,) or (b, N) with N >= 1, got {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("w must contain only finite values (found NaN or infinity)")
    zz = np.atleast_1d(np.asarray(z, dtype=np.complex128))
    if zz.ndim != 1 or not np.all(np.isfinite(zz)) or np.any(zz.imag <= 0):
        raise ValueError("z must be finite complex numbers with Im z > 0")
    g = check_real("ratio", ratio, 0.0, strict_min=True)
    check_real("tol", tol, 0.0, strict_min=True)
    max_iter = check_int("max_iter", max_iter, 1)
    Wb = W[None, :] if W.ndim == 1 else W            # (b, N)
    Wq = Wb[:, None, :]                               # (b, 1, N)
    zq = zz[None, :]                                  # (1, q)

    def S(m: np.ndarray) -> np.ndarray:
        return np.mean(Wq / (1.0 + g * Wq * m[..., None]), axis=-1)

    mean_w = Wb.mean(axis=-1)[:, None]
    m = -1.0 / (zq - mean_w + 0j)                     # Im m > 0 since Im z > 0
    for _ in range(40):
        m = 0.5 * m + 0.5 / (-zq + S(m))
    for _ in range(max_iter):
        den = 1.0 + g * Wq * m[..., None]
        Sm = np.mean(Wq / den, axis=-1)
        dS = -g * np.mean(Wq * Wq / (den * den), axis=-1)
        G = m * (-zq + Sm) - 1.0
        if np.max(np.abs(G)) <= tol:
            break
        dG = -zq + Sm + m * dS
        step = G / dG
        new = m - step
        # keep the iterate in the upper half-plane (halve the step where it would leave)
        bad = new.imag <= 0
        while np.any(bad):
            step = np.where(bad, 0.5 * step, step)
            new = m - step
            bad = new.imag <= 0
        m = new
    G = m * (-zq + S(m)) - 1.0
    res = float(np.max(np.abs(G)))
    if not res <= max(tol, 1e3 * np.finfo(np.float64).eps):
        raise ValueError(f"deterministic_stieltjes did not converge: residual {res:.3g} > tol "
                         f"{tol:g}; increase max_iter or move z away from the real axis")
    return m[0] if W.ndim == 1 else m

