"""The Marchenko–Pastur law in closed form."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from ..validation import check_int, check_real
from ._base import SpectralLaw
from ._numerics import EPS, newton_bracketed
from .free_cumulants import mp_moment

__all__ = ["MarchenkoPastur"]


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
      ``1/γ``. At ``γ = 1`` the lower edge is a hard edge (``pdf(0) = inf``).
    * ``cdf`` is closed form: with ``φ₁ = atan2(√(t−a), √(b−t))`` and
      ``φ₂ = atan2((1+√γ)√(t−a), |1−√γ|√(b−t))`` (``t = x/σ²``), the continuous part is
      ``[2(1+γ)φ₁ + √((t−a)(b−t)) − 2|1−γ|φ₂] / (2πγ)``; ``sf`` uses the complementary angles, so
      both tails keep their absolute accuracy (about 1e-16).
    * ``ppf`` solves the closed-form cdf by safeguarded Newton in the angle ``θ`` of
      ``t = 1 + γ − 2√γ cos θ`` from a 257-point table (machine precision); ``rvs`` is ``ppf``
      of uniform draws (exact inverse-cdf sampling).
    * ``stieltjes`` is the root ``(1 − γ − ζ + √(ζ−a)√(ζ−b)) / (2γζ) = 2/(1 − γ − ζ − √(ζ−a)√(ζ−b))``
      (``ζ = z/σ²``, principal square roots: analytic off ``[a, b]``, ``~ −1/z`` at infinity),
      evaluated in whichever form avoids cancellation.

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
        self._h = 2.0 * r
        self._atom = max(0.0, 1.0 - 1.0 / g)
        self._ac_mass = min(1.0, 1.0 / g)
        # initial-guess table for the quantile: F_ac on a uniform θ grid
        th = np.linspace(0.0, np.pi, 257)
        self._th_tab = th
        self._F_tab = np.maximum.accumulate(self._F_theta(np, th))

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
        return ((self._s * self._a, self._s * self._b),)

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

    # --- unit-scale pieces (t = x / σ²) ---------------------------------------------------
    def _F_theta(self, xp: ModuleType, th: Any) -> Any:
        """Continuous-part cdf at ``t = a + 2h sin²(θ/2)``, θ in [0, π]."""
        g, r = self._g, math.sqrt(self._g)
        s2, c2 = xp.sin(0.5 * th), xp.cos(0.5 * th)
        phi2 = xp.arctan2((1 + r) * s2, abs(1 - r) * c2)
        return ((1 + g) * th + self._h * xp.sin(th) - 2 * abs(1 - g) * phi2) / (2 * math.pi * g)

    def _S_theta(self, xp: ModuleType, th: Any) -> Any:
        """Continuous-part survival mass above ``t(θ)``."""
        g, r = self._g, math.sqrt(self._g)
        s2, c2 = xp.sin(0.5 * th), xp.cos(0.5 * th)
        psi2 = xp.arctan2(abs(1 - r) * c2, (1 + r) * s2)
        return ((1 + g) * (math.pi - th) - self._h * xp.sin(th) - 2 * abs(1 - g) * psi2) / (
            2 * math.pi * g)

    def _dF_theta(self, xp: ModuleType, th: Any) -> Any:
        """``dF/dθ = 2 sin²θ / (π t(θ))``, written to stay finite at θ = 0 when γ = 1."""
        s, c = xp.sin(0.5 * th), xp.cos(0.5 * th)
        den = self._a + 2 * self._h * s * s
        if self._a > 0:
            return 8 * s * s * c * c / (math.pi * den)
        return 8 * c * c / (math.pi * 2 * self._h) + 0 * den  # a = 0: the s² cancels

    def _t_theta(self, xp: ModuleType, th: Any) -> Any:
        s = xp.sin(0.5 * th)
        return self._a + 2 * self._h * s * s

    def _pdf(self, xp: ModuleType, x: Any) -> Any:
        t = x / self._s
        a, b = self._a, self._b
        inside = (t > a) & (t < b)
        tc = xp.clip(t, a, b)
        tc = xp.where(inside, tc, 0.5 * (a + b))  # keep the formula away from 0/0
        val = xp.sqrt((b - tc) * (tc - a)) / (2 * math.pi * self._g * tc * self._s)
        out = xp.where(inside, val, 0.0)
        if a == 0.0:  # γ = 1: hard edge, density ~ 1/√x at 0
            out = xp.where(t == 0, xp.inf, out)
        return out

    def _cdf_ac(self, xp: ModuleType, t: Any) -> Any:
        g, r, a, b = self._g, math.sqrt(self._g), self._a, self._b
        tc = xp.clip(t, a, b)
        u, w = xp.sqrt(tc - a), xp.sqrt(b - tc)
        phi1 = xp.arctan2(u, w)
        phi2 = xp.arctan2((1 + r) * u, abs(1 - r) * w)
        return (2 * (1 + g) * phi1 + u * w - 2 * abs(1 - g) * phi2) / (2 * math.pi * g)

    def _sf_ac(self, xp: ModuleType, t: Any) -> Any:
        g, r, a, b = self._g, math.sqrt(self._g), self._a, self._b
        tc = xp.clip(t, a, b)
        u, w = xp.sqrt(tc - a), xp.sqrt(b - tc)
        psi1 = xp.arctan2(w, u)
        psi2 = xp.arctan2(abs(1 - r) * w, (1 + r) * u)
        return (2 * (1 + g) * psi1 - u * w - 2 * abs(1 - g) * psi2) / (2 * math.pi * g)

    def _cdf(self, xp: ModuleType, x: Any) -> Any:
        t = x / self._s
        F = self._atom + xp.clip(self._cdf_ac(xp, t), 0.0, self._ac_mass)
        F = xp.where(t < 0, 0.0, F)
        return xp.where(t >= self._b, 1.0, xp.clip(F, 0.0, 1.0))

    def _sf(self, xp: ModuleType, x: Any) -> Any:
        t = x / self._s
        S = xp.clip(self._sf_ac(xp, t), 0.0, self._ac_mass)
        S = xp.where(t < 0, 1.0, S)
        return xp.where(t >= self._b, 0.0, S)

    def _solve_theta(self, xp: ModuleType, target: Any, upper: bool) -> Any:
        """θ with ``F_ac(θ) = target`` (or ``S_ac(θ) = target`` when ``upper``)."""
        Ftab = xp.asarray(self._F_tab)
        thtab = xp.asarray(self._th_tab)
        Fval = (self._ac_mass - target) if upper else target
        j = xp.clip(xp.searchsorted(Ftab, Fval), 1, len(self._th_tab) - 1)
        lo, hi = thtab[j - 1], thtab[j]
        th0 = xp.clip(xp.interp(Fval, Ftab, thtab), lo, hi)
        if upper:
            fun = lambda th, i: self._S_theta(xp, th) - target[i]  # noqa: E731 - decreasing
            dfun = lambda th, i: -self._dF_theta(xp, th)  # noqa: E731
        else:
            fun = lambda th, i: self._F_theta(xp, th) - target[i]  # noqa: E731
            dfun = lambda th, i: self._dF_theta(xp, th)  # noqa: E731
        # F and S are sums of terms up to (1+γ)π/(2πγ) in size: that sets their rounding level
        ftol = 8 * EPS * (1.0 + (1.0 + self._g) / (2.0 * self._g))
        return newton_bracketed(xp, fun, dfun, lo, hi, th0, increasing=not upper, ftol=ftol)

    def _quantile(self, xp: ModuleType, q: Any, upper: bool) -> Any:
        shape = q.shape
        return self._quantile_flat(xp, q.ravel(), upper).reshape(shape)

    def _quantile_flat(self, xp: ModuleType, q: Any, upper: bool) -> Any:
        # lower tail: target mass of the continuous part below x; upper: above x
        atom, acm = self._atom, self._ac_mass
        if upper:
            target = xp.clip(q, 0.0, acm)
            on_atom = q >= acm  # sf(x) = q ≥ 1 − atom happens at x = 0 (or below)
        else:
            target = xp.clip(q - atom, 0.0, acm)
            on_atom = q <= atom
        tgt = xp.clip(target, 1e-300, acm)
        th = self._solve_theta(xp, tgt, upper)
        x = self._s * self._t_theta(xp, th)
        lo_end = 0.0 if atom > 0 else self._s * self._a
        x = xp.where(on_atom, lo_end, x)
        if upper:
            x = xp.where(q == 0, self._s * self._b, x)
            x = xp.where(q == 1, lo_end, x)
        else:
            x = xp.where(q == 1, self._s * self._b, x)
            x = xp.where(q == 0, lo_end, x)
        return x

    def _ppf(self, xp: ModuleType, q: Any) -> Any:
        return self._quantile(xp, q, upper=False)

    def _isf(self, xp: ModuleType, q: Any) -> Any:
        return self._quantile(xp, q, upper=True)

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
            m = xp.where(use_den, 2.0 / safe_den, (qv + S) / (2 * g * safe_zeta))
        if g >= 1.0:  # atom (γ > 1) or hard edge (γ = 1) at 0: m is infinite there
            m = xp.where(zeta == 0, complex(0.0, math.inf), m)
        return m / self._s
