"""The cdf table of a density on intervals: adaptive piecewise-Chebyshev interpolation of the
density in the angle θ of each support interval, its exact integral, and the quantile by
bracketed Newton on the same interpolants.

On an interval ``[l, r]`` the substitution ``x(θ) = l + (r − l) sin²(θ/2)``, ``θ ∈ [0, π]``,
turns the density into ``g(θ) = pdf(x(θ)) (r − l)/2 · sin θ``, which is smooth at square-root
edges (``∝ sin²θ``) and at hard inverse-square-root edges (``∝ cos²(θ/2)``). ``[0, π]`` is split
adaptively into panels (8 to start, halved where needed) carrying 32-point Chebyshev
interpolants of ``g``; a panel is accepted when its last four coefficients, times its width, are
below ``cdf_tol · width/π`` (or 256 eps of its own size). The cdf is the exact integral of the
interpolants; the masses are renormalised to the law's known total and the error estimate is the
sum of the panel error estimates plus that renormalisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from .. import backend as bk
from ._numerics import EPS, cheb_eval, dct2, newton_bracketed

PANEL_N = 32  # Chebyshev points per panel


@dataclass
class ChebInterval:
    """One support interval ``[lo, hi]`` and its cdf table: ``θ ∈ [0, π]`` split into panels
    (``edges``); on panel ``p`` the density in θ is ``Σ_k a[p, k] T_k(s)`` and its integral from
    the panel start is ``half[p] · Σ_k A[p, k] T_k(s)``, ``s = (θ − mid[p]) / half[p]``;
    ``cum[p]`` is the mass left of panel ``p``."""

    lo: float
    hi: float
    mass: float = 0.0
    edges: np.ndarray | None = None
    cum: np.ndarray | None = None
    a: np.ndarray | None = None
    A: np.ndarray | None = None
    err: float = 0.0
    n_evals: int = 0
    dev: dict = field(default_factory=dict)

    def arrays(self, xp: ModuleType) -> tuple:
        key = bk.backend_name(xp)
        if key not in self.dev:
            self.dev[key] = tuple(xp.asarray(np.ascontiguousarray(t))
                                  for t in (self.edges, self.cum, self.a.T, self.A.T))
        return self.dev[key]

    # --- cdf ----------------------------------------------------------------------------------
    def theta_of(self, xp: ModuleType, x: Any) -> Any:
        return 2.0 * xp.arctan2(xp.sqrt(xp.maximum(x - self.lo, 0.0)),
                                xp.sqrt(xp.maximum(self.hi - x, 0.0)))

    def G_of_x(self, xp: ModuleType, x: Any) -> Any:
        """Mass of ``[lo, x]`` for ``x`` inside the interval."""
        edges, cum, _, A = self.arrays(xp)
        th = self.theta_of(xp, x)
        p = xp.clip(xp.searchsorted(edges, th, side="right") - 1, 0, edges.shape[0] - 2)
        lo, hi = edges[p], edges[p + 1]
        half = 0.5 * (hi - lo)
        s = xp.clip((th - lo - half) / half, -1.0, 1.0)
        return xp.clip(cum[p] + half * cheb_eval(xp, A[:, p], s), 0.0, self.mass)

    def S_of_x(self, xp: ModuleType, x: Any) -> Any:
        """Mass of ``[x, hi]`` for ``x`` inside the interval."""
        return self.mass - self.G_of_x(xp, x)

    # --- quantile -----------------------------------------------------------------------------
    def invert(self, xp: ModuleType, tgt: Any) -> Any:
        """x in the interval whose mass below is ``tgt``: panel by the cumulative masses, then
        bracketed Newton on that panel's interpolant (rows gathered once per chunk of 65,536
        points)."""
        edges, cum, a, A = self.arrays(xp)
        out = xp.empty_like(tgt)
        for c0 in range(0, tgt.shape[0], 65536):
            t = tgt[c0:c0 + 65536]
            p = xp.clip(xp.searchsorted(cum, t, side="left") - 1, 0, edges.shape[0] - 2)
            lo, hi = edges[p], edges[p + 1]
            half = 0.5 * (hi - lo)
            mid = lo + half
            Ap, ap, base = A[:, p], a[:, p], cum[p]
            cp = cum[p + 1]
            frac = xp.clip((t - base) / xp.where(cp > base, cp - base, 1.0), 0.0, 1.0)

            def G(th, i, Ap=Ap, base=base, half=half, mid=mid, t=t):
                s = xp.clip((th - mid[i]) / half[i], -1, 1)
                return base[i] + half[i] * cheb_eval(xp, Ap[:, i], s) - t[i]

            def g(th, i, ap=ap, half=half, mid=mid):
                return cheb_eval(xp, ap[:, i], xp.clip((th - mid[i]) / half[i], -1, 1))

            th = newton_bracketed(xp, G, g, lo, hi, lo + frac * (hi - lo), increasing=True,
                                  maxiter=60, ftol=64 * EPS * max(self.mass, 1e-300))
            out[c0:c0 + 65536] = self.lo + (self.hi - self.lo) * xp.sin(0.5 * th) ** 2
        return out


def build_tables(ivs: Sequence[ChebInterval], density: Callable[[np.ndarray], np.ndarray],
                 total: float, cdf_tol: float, max_panels: int) -> float:
    """Fill the cdf tables of ``ivs`` from ``density`` (host arrays in, host arrays out; 0 at
    the edges) and renormalise their masses to ``total``; returns the cdf error estimate."""
    from numpy.polynomial import chebyshev as npcheb  # noqa: PLC0415

    n = PANEL_N
    sj = np.cos(np.pi * (np.arange(n) + 0.5) / n)  # first-kind nodes on [−1, 1]
    for iv in ivs:
        L = iv.hi - iv.lo
        pend = np.linspace(0.0, np.pi, 9)
        pend = np.stack([pend[:-1], pend[1:]], axis=1)
        done_edges, done_a, done_err = [], [], []
        evals = 0
        while pend.size:
            mid, half = pend.mean(axis=1), 0.5 * (pend[:, 1] - pend[:, 0])
            th = mid[:, None] + half[:, None] * sj
            xs = iv.lo + L * np.sin(0.5 * th) ** 2
            # a node that rounds onto an edge has density 0 (pdf is 0 at the edges)
            f = density(xs)
            evals += xs.size
            g = f * (0.5 * L) * np.sin(th)
            a = dct2(g) / n
            a[:, 0] *= 0.5          # plain convention g = Σ a_k T_k
            scale = np.abs(a).max(axis=1)
            err = 2.0 * half * np.abs(a[:, -4:]).sum(axis=1)
            ok = err <= np.maximum(cdf_tol * half / (0.5 * np.pi), 256 * EPS * 2.0 * half * scale)
            count = len(done_edges) + 2 * int(np.sum(~ok)) + int(np.sum(ok))
            if count > max_panels or np.all(half < 1e-12):
                ok[:] = True
            done_edges.append(pend[ok])
            done_a.append(a[ok])
            done_err.append(err[ok])
            bad = pend[~ok]
            m = bad.mean(axis=1)
            pend = np.concatenate([np.stack([bad[:, 0], m], axis=1),
                                   np.stack([m, bad[:, 1]], axis=1)]) if bad.size else bad
        E = np.concatenate(done_edges)
        order = np.argsort(E[:, 0])
        E, a = E[order], np.concatenate(done_a)[order]
        half = 0.5 * (E[:, 1] - E[:, 0])
        A = npcheb.chebint(a, m=1, lbnd=-1, axis=1)      # ∫_{−1}^{s}, shape (P, n+1)
        pm = half * np.sum(A * 1.0, axis=1)               # panel masses: T_k(1) = 1
        iv.edges = np.concatenate([E[:, 0], [np.pi]])
        iv.a, iv.A = a, A
        iv.cum = np.concatenate([[0.0], np.cumsum(pm)])
        iv.mass = float(iv.cum[-1])
        iv.err = float(np.concatenate(done_err).sum())
        iv.n_evals = evals
        iv.dev = {}
    got = sum(iv.mass for iv in ivs)
    for iv in ivs:  # renormalise so that cdf(∞) = 1 exactly
        f = total / got
        iv.a, iv.A, iv.cum, iv.mass = iv.a * f, iv.A * f, iv.cum * f, iv.mass * f
    return abs(got - total) + sum(iv.err for iv in ivs)
