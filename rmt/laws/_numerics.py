"""Numerical helpers shared by the laws: safeguarded Newton, bisection to the last bit, and the
Chebyshev (DCT) transforms of the cdf tables.

Everything takes the array namespace ``xp`` (NumPy or CuPy) where it works on evaluation points;
the table construction itself runs on the host.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import numpy as np

from ..stats import EPS  # one machine epsilon for all of rmt


def newton_bracketed(xp: ModuleType, fun: Callable, dfun: Callable, lo: Any, hi: Any, x0: Any,
                     increasing: bool, maxiter: int = 100, ftol: Any = 0.0) -> Any:
    """Vectorised safeguarded Newton for ``fun(x, idx) = 0``, ``fun`` monotone on ``[lo, hi]``.

    ``fun(x, idx)`` and ``dfun(x, idx)`` evaluate at the points ``idx`` (an index array into
    the original points; only unfinished points are iterated). The bracket shrinks with the
    sign of ``fun``; a Newton step that leaves the (closed) bracket is replaced by bisection. A
    point is done when its Newton step is below ``32 eps |x|``, its bracket has collapsed to
    that width, or ``|fun| ≤ ftol`` (the rounding level of ``fun``: where ``fun`` is flat, e.g.
    a cdf near a square-root edge, rounding noise would otherwise move ``x`` forever).
    ``ftol`` is a number, an array over the points, or a callable ``ftol(x, idx)``.
    """
    x = xp.array(x0, dtype=xp.float64, copy=True)
    lo = xp.array(xp.broadcast_to(lo, x.shape), dtype=xp.float64, copy=True)
    hi = xp.array(xp.broadcast_to(hi, x.shape), dtype=xp.float64, copy=True)
    act = xp.arange(x.shape[0])
    for _ in range(maxiter):
        if act.shape[0] == 0:
            break
        xa, la, ha = x[act], lo[act], hi[act]
        f = fun(xa, act)
        tol = ftol(xa, act) if callable(ftol) else (ftol if np.ndim(ftol) == 0 else ftol[act])
        above = (f > 0) if increasing else (f < 0)
        ha = xp.where(above, xa, ha)
        la = xp.where(above, la, xa)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = f / dfun(xa, act)
        xn = xa - step
        ok = (xn >= la) & (xn <= ha)  # also False for NaN
        xn = xp.where(ok, xn, 0.5 * (la + ha))
        # 32 eps: below that the step only follows the rounding noise of fun (which makes
        # Newton 2-cycle between neighbouring floats)
        tiny = 32 * EPS * xp.maximum(xp.abs(la), xp.abs(ha)) + 1e-300
        done = (ok & (xp.abs(step) <= tiny)) | (xp.abs(f) <= tol) | (ha - la <= tiny)
        # a point that met the tolerance keeps the x it was met at (not the next iterate: that
        # may be a bisection midpoint far away when the Newton step left the bracket)
        x[act] = xp.where(xp.abs(f) <= tol, xa, xn)
        lo[act], hi[act] = la, ha
        act = act[~done]
    return x


def bisect(f: Callable, lo: np.ndarray, hi: np.ndarray, increasing: np.ndarray) -> np.ndarray:
    """Zeros of ``f`` (monotone on each ``[lo, hi]``; ends never evaluated), to the last bit."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(2200):  # ≥ the number of halvings between any two doubles
        mid = 0.5 * (lo + hi)
        active = (mid > lo) & (mid < hi)
        if not np.any(active):
            break
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fm = f(mid)
        up = (fm > 0) == increasing
        hi = np.where(active & up, mid, hi)
        lo = np.where(active & ~up, mid, lo)
    return 0.5 * (lo + hi)


def dct2(x: np.ndarray) -> np.ndarray:
    """Unnormalised DCT-II along the last axis, ``y_k = 2 Σ_j x_j cos(πk(2j+1)/(2n))``, through
    one FFT of the even extension (NumPy's FFT: no SciPy import on this path)."""
    n = x.shape[-1]
    V = np.fft.fft(np.concatenate([x, x[..., ::-1]], axis=-1), axis=-1)[..., :n]
    return (np.exp(-0.5j * np.pi * np.arange(n) / n) * V).real


def cheb_eval(xp: ModuleType, A: Any, s: Any) -> Any:
    """``Σ_k A[k, j] T_k(s_j)`` for every point ``j`` (Clenshaw); ``A`` has shape (n, npts)
    (coefficient-major, so that each step reads one contiguous row)."""
    b1 = xp.zeros_like(s)
    b2 = xp.zeros_like(s)
    two_s = 2.0 * s
    for k in range(A.shape[0] - 1, 0, -1):
        b1, b2 = A[k] + two_s * b1 - b2, b1
    return A[0] + s * b1 - b2
