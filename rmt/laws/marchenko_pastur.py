"""The Marchenko–Pastur law in closed form: density, cdf and sf in the angle coordinate of the
bulk, quantiles by bracketed Newton on them, and the Stieltjes transform."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from ..validation import check_int, check_real
from ._base import SpectralLaw, real_points, ret
from ._numerics import EPS, newton_bracketed
from .free_cumulants import mp_moment

__all__ = ["MarchenkoPastur"]

# Below this ρ the closed form of F₁ loses ~eps/ρ to cancellation; the sine series (at most
# ~28 terms there) keeps every ρ at a few eps (both measured against 40-digit quadrature).
_SERIES_RHO = 0.25
#: Points per block of :meth:`MarchenkoPastur.pdf` on NumPy: four float64 blocks (the input,
#: two scratch blocks and the output: 512 KiB) stay in a core's L2 cache through the steps.
_PDF_BLOCK = 16384
#: OpenBLAS (x86-64) computes a dot product of at most 10,000 points on one thread; waking its
#: threads costs more than the sum, so NaN checks take dots of at most this many points.
_DOT_POINTS = 10_000
#: ``clip`` as the ufunc that ``numpy.clip`` calls (one call of the latter costs as much as the
#: ufunc on ~3,000 points); ``numpy.clip`` where NumPy does not have it there.
_clip = getattr(getattr(getattr(np, "_core", None), "umath", None), "clip", None) or np.clip


def _series_coeffs(rho: float) -> np.ndarray:
    """``c_n`` of ``π F₁(θ; ρ) = θ + Σ_n c_n sin(nθ)``: ``c_1 = ρ``, ``c_2 = −(1 − ρ²)/2``,
    ``c_n = −(1 − ρ²) ρ^{n−2}/n``, cut where the tail is below eps/8."""
    n = 3
    while abs(rho) ** (n - 2) / n > EPS / 8:
        n += 1
    c = np.zeros(n + 1)
    c[1], c[2] = rho, -(1.0 - rho * rho) / 2
    k = np.arange(3, n + 1)
    c[3:] = -(1.0 - rho * rho) * np.abs(rho) ** (k - 2) * np.sign(rho) ** k / k
    return c


def _raise_on_nan(o: np.ndarray, check: bool) -> None:
    """ValueError if ``check`` and ``o`` (a density block, where NaN propagated from ``x``)
    holds a NaN: one BLAS dot per :data:`_DOT_POINTS` points, the cheapest reduction."""
    if not check:
        return
    if o.size <= _DOT_POINTS:
        if math.isnan(o.dot(o)):
            raise ValueError("x must not contain NaN")
        return
    for k in range(0, o.size, _DOT_POINTS):
        _raise_on_nan(o[k:k + _DOT_POINTS], True)


class _Bulk:
    """The bulk ``[lo, hi]`` of MP as a piece of :class:`SpectralLaw`, with closed-form masses.

    With ``x(θ) = lo + (hi − lo) sin²(θ/2)`` and ``ρ = min(√γ, 1/√γ)`` the continuous part below
    ``x`` is ``mass · F₁(θ; ρ)``, where ``F₁`` is the cdf of the unit-mass law MP(ρ²) in the same
    angle (MP(γ) and MP(1/γ) share it up to the factor 1/γ):

        π F₁(θ; ρ) = θ + sin θ/ρ − (1 − ρ²) δ/ρ²,   δ = atan2(ρ sin θ, 1 − ρ cos θ),

    summed as the sine series of :func:`_series_coeffs` when ``ρ < 1/4``; the mass above
    ``x`` is ``mass · F₁(π − θ; −ρ)`` (the reflection ``θ → π − θ`` maps MP(ρ²) onto the same
    formula with ``−ρ``). Both tails are therefore computed directly, never as ``1 − F``.
    """

    def __init__(self, lo: float, hi: float, mass: float, rho: float) -> None:
        self.lo, self.hi, self.mass, self.rho = lo, hi, mass, rho
        self._coef = {s: _series_coeffs(s * rho) for s in (1, -1)} if rho < _SERIES_RHO else None
        th = np.linspace(0.0, np.pi, 257)  # initial-guess tables of F₁(·; ±ρ) for Newton
        self._th = th
        self._tab = {s: np.maximum.accumulate(self._f1(np, th, s)[0]) for s in (1, -1)}

    def _f1(self, xp: ModuleType, th: Any, sign: int) -> tuple:
        """``(F₁(θ; sign·ρ), its rounding level)``."""
        r = sign * self.rho
        s = xp.sin(th)
        if self._coef is not None:
            c = self._coef[sign]
            ct = 2.0 * xp.cos(th)
            b1, b2 = xp.zeros_like(th), xp.zeros_like(th)
            for k in range(c.size - 1, 0, -1):
                b1, b2 = c[k] + ct * b1 - b2, b1
            val = th + s * b1
            level = th + 4.0 * xp.abs(s) * float(np.abs(c).sum())
        else:
            d = xp.arctan2(r * s, 1.0 - r * xp.cos(th))
            t1, t2 = s / r, (1.0 - r * r) * d / (r * r)
            val = th + t1 - t2
            level = th + xp.abs(t1) + xp.abs(t2)
        return val / math.pi, 2.0 * EPS * level / math.pi

    def _df1(self, xp: ModuleType, th: Any, sign: int) -> Any:
        """``dF₁/dθ = 2 sin²θ / (π (1 + ρ² − 2ρ cos θ))`` in half angles (finite at ρ = 1)."""
        r = sign * self.rho
        s, c = xp.sin(0.5 * th), xp.cos(0.5 * th)
        if r == 1.0:
            return 2.0 * c * c / math.pi
        return 8.0 * s * s * c * c / (math.pi * ((1.0 - r) ** 2 + 4.0 * r * s * s))

    def _angle(self, xp: ModuleType, x: Any, upper: bool) -> Any:
        """θ of ``x`` (``upper``: ``π − θ``, computed from the other edge)."""
        u = xp.sqrt(xp.maximum(x - self.lo, 0.0))
        w = xp.sqrt(xp.maximum(self.hi - x, 0.0))
        return 2.0 * (xp.arctan2(w, u) if upper else xp.arctan2(u, w))

    def G_of_x(self, xp: ModuleType, x: Any) -> Any:
        """Mass of ``[lo, x]``."""
        return self.mass * xp.clip(self._f1(xp, self._angle(xp, x, False), 1)[0], 0.0, 1.0)

    def S_of_x(self, xp: ModuleType, x: Any) -> Any:
        """Mass of ``[x, hi]``."""
        return self.mass * xp.clip(self._f1(xp, self._angle(xp, x, True), -1)[0], 0.0, 1.0)

    def invert(self, xp: ModuleType, tgt: Any, upper: bool) -> Any:
        """``x`` whose mass below (``upper``: above) is ``tgt``. Each point is solved from the
        edge nearer in mass (in θ when the mass below is the smaller, else in ``π − θ``), where
        the angle and ``x`` keep their relative accuracy; the other mass, ``mass − tgt``, is
        exact there (Sterbenz)."""
        other = self.mass - tgt
        below, above = (other, tgt) if upper else (tgt, other)
        lower = below <= above
        out = xp.empty_like(tgt)
        for sign, sel, t in ((1, lower, below), (-1, ~lower, above)):
            idx = xp.nonzero(sel)[0]
            if idx.size:
                out[idx] = self._solve(xp, t[idx], sign)
        return out

    def _solve(self, xp: ModuleType, tgt: Any, sign: int) -> Any:
        """Bracketed Newton in the angle from the 257-point table, stopped at the rounding
        level of ``F₁``; ``sign = −1`` measures the angle and the mass from the upper edge."""
        F = xp.clip(tgt / self.mass, 0.0, 1.0)
        tab, th = xp.asarray(self._tab[sign]), xp.asarray(self._th)
        j = xp.clip(xp.searchsorted(tab, F), 1, th.shape[0] - 1)
        lo, hi = th[j - 1], th[j]
        th0 = xp.clip(xp.interp(F, tab, th), lo, hi)
        ang = newton_bracketed(
            xp, lambda t, i: self._f1(xp, t, sign)[0] - F[i],
            lambda t, i: self._df1(xp, t, sign), lo, hi, th0, increasing=True,
            ftol=lambda t, i: self._f1(xp, t, sign)[1])
        s2 = (self.hi - self.lo) * xp.sin(0.5 * ang) ** 2
        return xp.clip(self.lo + s2 if sign == 1 else self.hi - s2, self.lo, self.hi)


class MarchenkoPastur(SpectralLaw):
    """Marchenko–Pastur law of ratio ``γ = d/N`` and scale ``σ²``: the limit spectral law of
    ``B = σ² XᵀX/N`` (``X`` of shape ``(N, d)`` with iid standard entries; eigenvalues of the
    ``d × d`` matrix).

    Parameters
    ----------
    ratio : float, > 0
        ``γ = d/N``.
    scale : float, > 0
        ``σ²``; the bulk is ``[σ²(1 − √γ)², σ²(1 + √γ)²]``.

    Notes
    -----
    * Density (absolutely continuous part) ``√((b − x)(x − a)) / (2π γ σ² x)`` on ``(a, b)``; when
      ``γ > 1`` an atom of mass ``1 − 1/γ`` sits at 0 (:attr:`atom`) and the density integrates to
      ``1/γ``. At ``γ = 1`` the lower edge is a hard edge (``pdf(0) = inf``). The edges are the
      floats ``support()`` returns: the density is exactly 0 there and the cdf exactly
      0/``atom`` and 1.
    * ``cdf`` and ``sf`` are closed form in the angle ``θ = 2 atan2(√(x−a), √(b−x))`` (see
      :class:`_Bulk`): the sf from the upper edge, so both tails keep their absolute accuracy.
    * ``ppf``/``isf`` solve them by bracketed Newton in the angle from a 257-point table;
      ``rvs`` is ``ppf`` of uniform draws (exact inverse-cdf sampling).
    * ``stieltjes`` is the root ``(1 − γ − ζ + √(ζ−a)√(ζ−b)) / (2γζ) = 2/(1 − γ − ζ − √(ζ−a)√(ζ−b))``
      (``ζ = z/σ²``, principal square roots: analytic off ``[a, b]``, ``~ −1/z`` at infinity),
      evaluated in whichever form avoids cancellation.

    Accuracy, as measured by tests/test_laws_checks.py against 30-digit mpmath references over
    γ ∈ {1e-4, 0.1, 0.5, 1, 2, 10, 1e4} × σ² ∈ {0.5, 1, 3} (``eps`` = 2.2e-16; "the condition
    term" is what rounding ``x`` and the edges to floats, ``δ = 4 eps (|x| + width)``, does):

    * ``pdf``: relative 4 eps plus the condition term ``|pdf(x ± δ) − pdf(x)|``; measured
      ≤ 1.7e-13 relative farther than 1e-3 of the width from an edge, ≤ 0.37 of the bound
      everywhere.
    * ``cdf``, ``sf``: absolute 8 eps plus ``pdf(x) δ``; measured ≤ 2.8e-15 (σ² = 3, γ = 1e-4,
      where the density reaches ~10); ``|cdf + sf − 1| ≤ 2.2e-16``.
    * ``ppf``, ``isf``: backward error ``|cdf(x) − q|`` (``cdf(x⁻) ≤ q ≤ cdf(x)`` at the atom)
      ≤ 5.0e-15 at levels 1–40 ulp from 0, 1, the atom and the edges; relative ≤ 2.7e-12 at
      q = 1e-4, 1e-3 (the condition term at a hard edge); monotone on 10⁵ uniform levels.
    * ``stieltjes``: relative ≤ 16 eps (1 + |z m'(z)/m|); measured ≤ 1.2e-13 for
      ``Im z ≥ 1e-3`` width.
    * ``moment``, ``mean``, ``var``: ≤ 2.0e-16 relative (k ≤ 4).

    Examples
    --------
    >>> mp = MarchenkoPastur(0.5)
    >>> [round(e, 6) for e in mp.support()]
    [0.085786, 2.914214]
    >>> float(mp.cdf(mp.ppf(0.3)))  # doctest: +ELLIPSIS
    0.3...
    >>> MarchenkoPastur(2.0).atom
    0.5
    """

    def __init__(self, ratio: float, scale: float = 1.0) -> None:
        self._g = check_real("ratio", ratio, 0.0, strict_min=True)
        self._s = check_real("scale", scale, 0.0, strict_min=True)
        g = self._g
        r = math.sqrt(g)
        self._a = (1.0 - r) ** 2
        self._b = (1.0 + r) ** 2
        self._atom = max(0.0, 1.0 - 1.0 / g)
        self._lo, self._hi = self._s * self._a, self._s * self._b
        self._c = 2 * math.pi * g * self._s   # pdf denominator / x
        # the same three as read-only 0-d arrays: NumPy's ufuncs then skip converting a Python
        # float on every call (a tenth of pdf's time on 1,000 points)
        self._k = tuple(np.array(v) for v in (self._lo, self._hi, self._c))
        for k in self._k:
            k.flags.writeable = False
        self._set_pieces([_Bulk(self._lo, self._hi, min(1.0, 1.0 / g), min(r, 1.0 / r))])

    # --- parameters ---------------------------------------------------------------------------
    @property
    def ratio(self) -> float:
        """``γ = d/N``."""
        return self._g

    @property
    def scale(self) -> float:
        """``σ²``."""
        return self._s

    @property
    def intervals(self) -> tuple[tuple[float, float], ...]:
        """The bulk ``((σ²(1 − √γ)², σ²(1 + √γ)²),)``; the atom at 0 (γ > 1) lies below."""
        return ((self._lo, self._hi),)

    def __repr__(self) -> str:
        return f"MarchenkoPastur(ratio={self._g!r}, scale={self._s!r})"

    # --- moments ------------------------------------------------------------------------------
    def moment(self, k: int) -> float:
        """``E[λ^k]`` by the Narayana formula (:func:`mp_moment`)."""
        return mp_moment(k, self._g, self._s)

    def free_cumulant(self, k: int) -> float:
        """``κ_k = σ^{2k} γ^{k−1}``."""
        k = check_int("k", k, 1)
        return self._s ** k * self._g ** (k - 1)

    def mean(self) -> float:
        """``E λ = σ²``."""
        return self._s

    def var(self) -> float:
        """``Var λ = σ⁴ γ``."""
        return self._s ** 2 * self._g

    # --- density ------------------------------------------------------------------------------
    def pdf(self, x: Any) -> Any:
        """Density of the absolutely continuous part (integrates to ``1 − atom``); 0 off the open
        bulk, ``inf`` at 0 when γ = 1. NaN raises ValueError. NumPy or CuPy in, same out.

        See the class notes for its accuracy. Cost (NumPy): seven elementwise steps, the same
        operations as the raw closed form ``√((b − x)(x − a))/(c x)`` with one clip in place of
        its maximum, on blocks of :data:`_PDF_BLOCK` points that stay in cache (two scratch
        blocks in all; the raw form makes five temporaries of the input's size); the result is
        bit for bit what the unblocked formula gives. NaN, which every step propagates, is
        found by one dot product of the result (in cache), not by a pass over ``x``.
        """
        if type(x) is np.ndarray and x.dtype == np.float64:  # fast path: no conversions
            if x.ndim == 1 and x.size <= _PDF_BLOCK and self._lo > 0.0:  # fewest calls
                o = self._bulk_block(x, None, None, None)
                _raise_on_nan(o, True)
                return o
            xp, a = np, x
        else:
            xp, a = real_points(x, "x", nan_check=False)
        out = self._density(xp, a, check_nan=True)
        return out if a.ndim else ret(out)

    def _pdf(self, xp: ModuleType, x: Any) -> Any:
        return self._density(xp, x)

    def _density(self, xp: ModuleType, x: Any, check_nan: bool = False) -> Any:
        """The density at ``x`` (with ``check_nan``: ValueError if ``x`` holds a NaN). Clipping
        ``x`` into the bulk ``[lo, hi]`` first makes ``(x − lo)(hi − x) ≥ 0`` for every input
        (±inf included: no overflow, no maximum after the product) and keeps 0 out of the
        denominator when ``lo > 0``; off the open bulk one factor is exactly 0."""
        lo, hi = self._lo, self._hi
        if lo == 0.0:
            return self._hard_edge(xp, x, check_nan)
        if xp is not np:                  # CuPy: one kernel per step, temporaries cheap
            xc = xp.clip(x, lo, hi)
            p = xp.sqrt((xc - lo) * (hi - xc)) / (self._c * xc)
            if check_nan and bool(xp.isnan(xp.sum(p))):
                raise ValueError("x must not contain NaN")
            return p
        xf = x if x.ndim == 1 else x.reshape(-1)    # a view for contiguous input
        n = xf.size
        if n <= _PDF_BLOCK:                          # one block: no slicing, no loop
            out = self._bulk_block(xf, None, None, None)
            _raise_on_nan(out, check_nan)
        else:
            out = np.empty(n)
            xc, t = np.empty(_PDF_BLOCK), np.empty(_PDF_BLOCK)
            for i in range(0, n, _PDF_BLOCK):
                j = min(n, i + _PDF_BLOCK)
                _raise_on_nan(self._bulk_block(xf[i:j], out[i:j], xc[:j - i], t[:j - i]),
                              check_nan)
        return out if x.ndim == 1 else out.reshape(x.shape)

    def _bulk_block(self, x: np.ndarray, o: Any, xc: Any, t: Any) -> np.ndarray:
        """The density on one block of ``x``, into ``o`` with scratch ``xc`` and ``t`` of the
        same length (``None``: new arrays); NaN propagates through every step."""
        lo, hi, c = self._k
        xc = _clip(x, lo, hi, out=xc)
        o = np.subtract(xc, lo, out=o)
        t = np.subtract(hi, xc, out=t)
        np.multiply(o, t, out=o)
        np.sqrt(o, out=o)
        np.multiply(xc, c, out=t)
        return np.divide(o, t, out=o)

    def _hard_edge(self, xp: ModuleType, x: Any, check_nan: bool) -> Any:
        """γ = 1: the lower edge is 0 and the density ``~ 1/√x`` there (``inf`` at 0)."""
        if check_nan and bool(xp.any(xp.isnan(x))):
            raise ValueError("x must not contain NaN")
        hi, c = self._hi, self._c
        xc = xp.minimum(xp.maximum(x, 0.0), hi)
        p = xp.sqrt(xc * (hi - xc))
        p /= c * xp.where(xc > 0, xc, 1.0)           # xc = 0 at and below 0: p = 0 there
        return xp.where(x == 0, math.inf, p)

    # --- Stieltjes transform ------------------------------------------------------------------
    def _stieltjes(self, xp: ModuleType, z: Any) -> Any:
        g, a, b = self._g, self._a, self._b
        zeta = z / self._s
        qv = 1.0 - g - zeta
        S = xp.sqrt(zeta - a) * xp.sqrt(zeta - b)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            den = qv - S
            use_den = xp.abs(den) >= xp.abs(qv + S)
            safe_den = xp.where(den == 0, 1.0, den)
            safe_zeta = xp.where(zeta == 0, 1.0, zeta)
            m = xp.where(use_den, 2.0 / safe_den, (qv + S) / (2 * g * safe_zeta)) / self._s
        if g >= 1.0:  # atom (γ > 1) or hard edge (γ = 1) at 0: m is infinite there
            m = xp.where(zeta == 0, complex(0.0, math.inf), m)
        return m
