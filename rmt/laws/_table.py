"""The cdf table of a density on intervals: adaptive piecewise-Chebyshev interpolation of the
density in the angle θ of each support interval, its exact integral, and the quantile by
bracketed Newton on the same interpolants.

On an interval ``[l, r]`` the substitution ``x(θ) = l + (r − l) sin²(θ/2)``, ``θ ∈ [0, π]``,
turns the density into ``g(θ) = pdf(x(θ)) (r − l)/2 · sin θ``, which is smooth at square-root
edges (``∝ sin²θ``) and at hard inverse-square-root edges (``∝ cos²(θ/2)``). ``[0, π]`` is split
adaptively into panels (8 to start, halved where needed) carrying 32-point Chebyshev
interpolants of ``g``; a panel is accepted when its last four coefficients, times its width, are
below ``cdf_tol · width/π`` (or 256 eps of its own size). The cdf is the exact integral of the
interpolants (the mass above a point summed from the upper end); the masses are renormalised to
the law's known total and the error estimate is the sum of the panel error estimates plus that
renormalisation. Quantiles solve from the end nearer in mass; their backward error is the table's
rounding level (measured ≤ 3.3e-16 on a semicircle given by its density alone, ≤ 2.4e-15 on the
weighted MP laws of tests/test_laws_checks.py).
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
    (``edges``); on panel ``p`` the density in θ is ``Σ_k a[p, k] T_k(s)``, its integral from
    the panel start is ``half[p] · Σ_k A[p, k] T_k(s)`` and to the panel end
    ``half[p] · Σ_k Ar[p, k] T_k(s)``, ``s = (θ − mid[p]) / half[p]``; ``cum[p]`` is the mass left
    of panel ``p`` and ``rcum[p]`` the mass from panel ``p`` on. The mass above ``x`` is summed
    from the right, so that both tails are accurate relative to the mass of their end panel."""

    lo: float
    hi: float
    mass: float = 0.0
    edges: np.ndarray | None = None
    cum: np.ndarray | None = None
    rcum: np.ndarray | None = None
    a: np.ndarray | None = None
    A: np.ndarray | None = None
    Ar: np.ndarray | None = None
    err: float = 0.0
    n_evals: int = 0
    dev: dict = field(default_factory=dict)

    def arrays(self, xp: ModuleType) -> tuple:
        """``(edges, cum, rcum, a, A, Ar)`` on the device of ``xp`` (coefficients transposed)."""
        key = bk.backend_name(xp)
        if key not in self.dev:
            self.dev[key] = tuple(xp.asarray(np.ascontiguousarray(t)) for t in (
                self.edges, self.cum, self.rcum, self.a.T, self.A.T, self.Ar.T))
        return self.dev[key]

    # --- cdf ----------------------------------------------------------------------------------
    def theta_of(self, xp: ModuleType, x: Any) -> Any:
        return 2.0 * xp.arctan2(xp.sqrt(xp.maximum(x - self.lo, 0.0)),
                                xp.sqrt(xp.maximum(self.hi - x, 0.0)))

    def _mass(self, xp: ModuleType, x: Any, upper: bool) -> Any:
        edges, cum, rcum, _, A, Ar = self.arrays(xp)
        th = self.theta_of(xp, x)
        p = xp.clip(xp.searchsorted(edges, th, side="right") - 1, 0, edges.shape[0] - 2)
        lo, hi = edges[p], edges[p + 1]
        half = 0.5 * (hi - lo)
        s = xp.clip((th - lo - half) / half, -1.0, 1.0)
        m = (rcum[p + 1] + half * cheb_eval(xp, Ar[:, p], s) if upper
             else cum[p] + half * cheb_eval(xp, A[:, p], s))
        return xp.clip(m, 0.0, self.mass)

    def G_of_x(self, xp: ModuleType, x: Any) -> Any:
        """Mass of ``[lo, x]`` for ``x`` inside the interval."""
        return self._mass(xp, x, False)

    def S_of_x(self, xp: ModuleType, x: Any) -> Any:
        """Mass of ``[x, hi]`` for ``x`` inside the interval."""
        return self._mass(xp, x, True)

    # --- quantile -----------------------------------------------------------------------------
    def invert(self, xp: ModuleType, tgt: Any, upper: bool = False) -> Any:
        """x in the interval whose mass below (``upper``: above) is ``tgt``. Each point is solved
        from the end nearer in mass (its tail is accurate there); the other mass, ``mass − tgt``,
        is exact there (Sterbenz)."""
        other = self.mass - tgt
        below, above = (other, tgt) if upper else (tgt, other)
        lower = below <= above
        out = xp.empty_like(tgt)
        for up, sel, t in ((False, lower, below), (True, ~lower, above)):
            idx = xp.nonzero(sel)[0]
            if idx.size:
                for c0 in range(0, idx.shape[0], 65536):  # rows gathered once per chunk
                    i = idx[c0:c0 + 65536]
                    out[i] = self._solve(xp, t[i], up)
        return out

    def _solve(self, xp: ModuleType, t: Any, upper: bool) -> Any:
        """The panel holding mass ``t`` below (``upper``: above), then bracketed Newton on its
        interpolant, stopped at the interpolant's rounding level."""
        edges, cum, rcum, a, A, Ar = self.arrays(xp)
        P = edges.shape[0] - 1
        if upper:  # rcum decreases: search its reverse
            p = xp.clip(P - xp.searchsorted(rcum[::-1], t, side="left"), 0, P - 1)
            base, top, C = rcum[p + 1], rcum[p], Ar
            frac = xp.clip((top - t) / xp.where(top > base, top - base, 1.0), 0.0, 1.0)
        else:
            p = xp.clip(xp.searchsorted(cum, t, side="left") - 1, 0, P - 1)
            base, top, C = cum[p], cum[p + 1], A
            frac = xp.clip((t - base) / xp.where(top > base, top - base, 1.0), 0.0, 1.0)
        lo, hi = edges[p], edges[p + 1]
        half = 0.5 * (hi - lo)
        mid = lo + half
        Cp, ap = C[:, p], a[:, p]
        sign = -1.0 if upper else 1.0

        def F(th, i):
            s = xp.clip((th - mid[i]) / half[i], -1, 1)
            return base[i] + half[i] * cheb_eval(xp, Cp[:, i], s) - t[i]

        def g(th, i):
            return sign * cheb_eval(xp, ap[:, i], xp.clip((th - mid[i]) / half[i], -1, 1))

        # rounding level of the panel's sum: Clenshaw's error is about eps·Σ|C_k| (if the noise
        # is larger, Newton stops on its step size or bracket instead)
        level = 2 * EPS * (base + half * xp.sum(xp.abs(Cp), axis=0))
        th = newton_bracketed(xp, F, g, lo, hi, lo + frac * (hi - lo), increasing=not upper,
                              maxiter=60, ftol=level)
        L = self.hi - self.lo
        if upper:
            return xp.maximum(self.hi - L * xp.cos(0.5 * th) ** 2, self.lo)
        return xp.minimum(self.lo + L * xp.sin(0.5 * th) ** 2, self.hi)


    def moment(self, k: int) -> float:
        """``∫ x^k dF`` over the interval: Gauss–Legendre (PANEL_N nodes) on every panel of the
        interpolant, exact for it up to the smooth factor ``x(θ)^k``."""
        t, w = np.polynomial.legendre.leggauss(PANEL_N)
        P = self.edges.shape[0] - 1
        half = 0.5 * np.diff(self.edges)
        th = (self.edges[:-1] + half)[:, None] + half[:, None] * t          # (P, n)
        g = cheb_eval(np, np.repeat(self.a.T, PANEL_N, axis=1), np.tile(t, P)).reshape(P, -1)
        x = self.lo + (self.hi - self.lo) * np.sin(0.5 * th) ** 2
        return float(np.sum(half[:, None] * w * g * x ** k))


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
            # a node that rounds onto a soft edge has density 0 there (pdf is 0 at the edges);
            # an upper edge at 0 can be a hard one (pdf = inf): place nodes exactly below it
            xs = (iv.lo + L * np.sin(0.5 * th) ** 2 if iv.hi != 0.0
                  else -L * np.cos(0.5 * th) ** 2)
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
        Ar = -npcheb.chebint(a, m=1, lbnd=1, axis=1)     # ∫_{s}^{1}
        pm = half * np.sum(A * 1.0, axis=1)               # panel masses: T_k(1) = 1
        iv.edges = np.concatenate([E[:, 0], [np.pi]])
        iv.a, iv.A, iv.Ar = a, A, Ar
        iv.cum = np.concatenate([[0.0], np.cumsum(pm)])
        iv.rcum = np.concatenate([np.cumsum(pm[::-1])[::-1], [0.0]])
        iv.mass = float(iv.cum[-1])
        iv.err = float(np.concatenate(done_err).sum())
        iv.n_evals = evals
        iv.dev = {}
    got = sum(iv.mass for iv in ivs)
    for iv in ivs:  # renormalise so that cdf(∞) = 1 exactly
        f = total / got
        iv.a, iv.A, iv.cum, iv.mass = iv.a * f, iv.A * f, iv.cum * f, iv.mass * f
        iv.Ar, iv.rcum = iv.Ar * f, iv.rcum * f
    return abs(got - total) + sum(iv.err for iv in ivs)
