"""Marchenko–Pastur and weighted Marchenko–Pastur laws; free cumulants ↔ moments; block weight laws.

Conventions (shared with the rest of rmt)
-----------------------------------------
Data ``X`` has shape ``(N, d)`` (one sample ``x_n`` per row), ``γ = d/N`` is the *ratio*, and the
matrices are ``d × d``::

    B = XᵀX / N                          (Marchenko–Pastur, MP)
    B = (1/N) Σ_n w_n x_n x_nᵀ            (weighted MP; w_n iid ~ ν, independent of x_n)

The laws below are the limits (d, N → ∞, d/N → γ) of the empirical spectral distributions of these
``d × d`` matrices. The Stieltjes transform is ``m(z) = ∫ dμ(λ) / (λ − z)`` (so ``Im m > 0`` when
``Im z > 0``); for the weighted law it solves

    m = 1 / (−z + E_ν[w / (1 + γ w m)]),

and ``w ≡ σ²`` gives MP with ``scale = σ²``. The free cumulants of the weighted law are
``κ_k = γ^{k−1} E_ν[w^k]`` (a compound free Poisson law of rate 1/γ and jump law ``γw``).

Atoms. When ``γ > 1`` the matrix has rank ``N < d`` and the law has an atom at 0 of mass
``1 − 1/γ`` (``1 − P(w ≠ 0)/γ`` when ν has an atom at 0). ``pdf`` is always the density of the
absolutely continuous part (it integrates to ``1 − atom``); ``cdf`` jumps by ``atom`` at 0, and
``ppf``/``rvs`` return 0 for that share of probability.

Numerics of :class:`WeightedMP` (see its docstring for the details and error statements): the
variable ``v = −1/m`` turns the equation into ``z = v (1 + Σ_k p_k w_k / (v − γ w_k))`` — a
rational function with K simple poles, whose real critical points give the support edges exactly
(Silverstein–Choi), and in which vectorised Newton steps converge in a few iterations; the cdf is
the integral of a Chebyshev (cosine-series) interpolant of the density on each support interval.

Everything evaluates on NumPy or CuPy arrays with one code path (:func:`rmt.backend.get_xp`);
parameters and tables live on the host (they are small).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from math import comb
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from . import backend as bk
from .validation import check_choice, check_int, check_real

__all__ = [
    "MarchenkoPastur",
    "WeightedMP",
    "DiscreteWeights",
    "SolveInfo",
    "WeightMoments",
    "as_weight_law",
    "moments_from_free_cumulants",
    "free_cumulants_from_moments",
    "mp_moment",
    "lognormal_weights",
    "diagonal_block_weights",
    "offdiagonal_block_weights",
    "block_weight_moments",
]

_EPS = float(np.finfo(np.float64).eps)


# ---------------------------------------------------------------------------------------------
# evaluation-point handling (shared by both laws)
# ---------------------------------------------------------------------------------------------

def _real_points(x: Any, name: str) -> tuple[ModuleType, Any]:
    """``x`` as a float64 array of its own namespace; NaN raises ValueError naming ``name``."""
    xp = bk.get_xp(x)
    try:
        arr = xp.asarray(x, dtype=xp.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be real numbers, got {type(x).__name__}: {exc}") from None
    if bool(xp.any(xp.isnan(arr))):
        raise ValueError(f"{name} must not contain NaN")
    return xp, arr


def _prob_points(q: Any, name: str = "q") -> tuple[ModuleType, Any]:
    """Probabilities in [0, 1] as a float64 array; anything else raises ValueError."""
    xp, arr = _real_points(q, name)
    if bool(xp.any((arr < 0) | (arr > 1))):
        raise ValueError(f"{name} must contain probabilities in [0, 1]")
    return xp, arr


def _complex_points(z: Any, name: str = "z") -> tuple[ModuleType, Any]:
    """Complex evaluation points; a zero imaginary part (of either sign) means ``x + i0``."""
    xp = bk.get_xp(z)
    try:
        arr = xp.asarray(z, dtype=xp.complex128)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be complex numbers: {exc}") from None
    if bool(xp.any(xp.isnan(arr.real) | xp.isnan(arr.imag))):
        raise ValueError(f"{name} must not contain NaN")
    if bool(xp.any(xp.isinf(arr.real) | xp.isinf(arr.imag))):
        raise ValueError(f"{name} must be finite")
    # x − i0 is read as x + i0: the boundary value from the upper half-plane.
    arr = arr.real + 1j * xp.where(arr.imag == 0, 0.0, arr.imag)
    return xp, arr


def _ret(a: Any) -> Any:
    """0-d arrays come back as scalars (NumPy) — the scipy.stats convention."""
    return a[()] if getattr(a, "ndim", 1) == 0 else a


def _check_order(k: Any) -> int:
    return check_int("k", k, 0)


# ---------------------------------------------------------------------------------------------
# free cumulants <-> moments
# ---------------------------------------------------------------------------------------------

def _series_power_coeffs(M: np.ndarray, order: int) -> list[np.ndarray]:
    """[M^0, M^1, ..., M^order] truncated to len(M) coefficients (power series in z)."""
    n = len(M)
    out = [np.zeros(n)]
    out[0][0] = 1.0
    for _ in range(order):
        out.append(np.convolve(out[-1], M)[:n])
    return out


def moments_from_free_cumulants(kappa: Sequence[float]) -> np.ndarray:
    """Moments ``m_1..m_n`` of the law whose free cumulants are ``κ_1..κ_n``.

    Sums over non-crossing partitions through the functional equation of the moment series
    ``M(z) = 1 + Σ_s κ_s z^s M(z)^s``, i.e. ``m_n = Σ_{s=1}^{n} κ_s [z^{n−s}] M(z)^s``.

    Parameters
    ----------
    kappa : sequence of float
        ``κ_1, ..., κ_n`` (finite).

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``m_1, ..., m_n``.

    Examples
    --------
    Marchenko–Pastur with ratio γ has ``κ_k = γ^{k−1}``:

    >>> moments_from_free_cumulants([1.0, 0.5, 0.25])
    array([1.  , 1.5 , 2.75])
    """
    k = np.asarray(kappa, dtype=np.float64)
    if k.ndim != 1 or not np.all(np.isfinite(k)):
        raise ValueError("kappa must be a 1-D sequence of finite numbers")
    n = k.size
    M = np.zeros(n + 1)
    M[0] = 1.0
    for order in range(1, n + 1):
        powers = _series_power_coeffs(M[:order], order)  # uses m_0..m_{order-1} only
        M[order] = sum(k[s - 1] * powers[s][order - s] for s in range(1, order + 1))
    return M[1:]


def free_cumulants_from_moments(moments: Sequence[float]) -> np.ndarray:
    """Free cumulants ``κ_1..κ_n`` from moments ``m_1..m_n`` (inverse of
    :func:`moments_from_free_cumulants`): ``κ_n = m_n − Σ_{s<n} κ_s [z^{n−s}] M(z)^s``."""
    m = np.asarray(moments, dtype=np.float64)
    if m.ndim != 1 or not np.all(np.isfinite(m)):
        raise ValueError("moments must be a 1-D sequence of finite numbers")
    n = m.size
    M = np.concatenate([[1.0], m])
    kappa = np.zeros(n)
    for order in range(1, n + 1):
        powers = _series_power_coeffs(M[:order], order - 1)
        kappa[order - 1] = M[order] - sum(kappa[s - 1] * powers[s][order - s]
                                          for s in range(1, order))
    return kappa


def mp_moment(k: int, ratio: float, scale: float = 1.0) -> float:
    """``E[λ^k]`` of Marchenko–Pastur: ``scale^k Σ_{j<k} γ^j/(j+1) C(k,j) C(k−1,j)`` (Narayana).

    The formula includes the atom at 0 (which contributes nothing for ``k ≥ 1``).
    """
    k = _check_order(k)
    g = check_real("ratio", ratio, 0.0, strict_min=True)
    s = check_real("scale", scale, 0.0, strict_min=True)
    if k == 0:
        return 1.0
    total = sum(g ** j * comb(k, j) * comb(k - 1, j) / (j + 1) for j in range(k))
    return float(total * s ** k)


# ---------------------------------------------------------------------------------------------
# a small base class: the public scipy.stats-like surface, shared
# ---------------------------------------------------------------------------------------------

class _SpectralLaw:
    """Shared public surface; subclasses provide ``_pdf, _cdf, _sf, _ppf, _isf, _stieltjes``
    (on validated float64/complex128 arrays of namespace ``xp``) and ``moment, free_cumulant``."""

    _atom: float

    # --- scipy.stats-like evaluation -------------------------------------------------------
    def pdf(self, x: Any) -> Any:
        """Density of the absolutely continuous part (integrates to ``1 − atom``).

        Out-of-support points give 0; NaN raises ValueError. NumPy or CuPy in, same out.
        """
        xp, a = _real_points(x, "x")
        return _ret(self._pdf(xp, a))

    def logpdf(self, x: Any) -> Any:
        """``log pdf(x)`` (``−inf`` outside the support)."""
        xp, a = _real_points(x, "x")
        with np.errstate(divide="ignore"):
            return _ret(xp.log(self._pdf(xp, a)))

    def cdf(self, x: Any) -> Any:
        """``P(λ ≤ x)``, including the atom at 0 (a jump of ``atom`` there)."""
        xp, a = _real_points(x, "x")
        return _ret(self._cdf(xp, a))

    def sf(self, x: Any) -> Any:
        """Survival function ``P(λ > x)`` (computed directly, not as ``1 − cdf``)."""
        xp, a = _real_points(x, "x")
        return _ret(self._sf(xp, a))

    def ppf(self, q: Any) -> Any:
        """Quantile ``inf{x : cdf(x) ≥ q}`` for ``q`` in [0, 1] (others raise ValueError).

        ``ppf(0)`` is the lower end of the support (0 when the atom at 0 is the lowest point),
        ``ppf(1)`` the upper end; levels that fall on the atom at 0 map to 0.
        """
        xp, a = _prob_points(q, "q")
        return _ret(self._ppf(xp, a))

    def isf(self, q: Any) -> Any:
        """Inverse survival function: ``x`` with ``sf(x) = q`` (accurate for small ``q``)."""
        xp, a = _prob_points(q, "q")
        return _ret(self._isf(xp, a))

    def stieltjes(self, z: Any) -> Any:
        """Stieltjes transform ``m(z) = ∫ dμ(λ)/(λ − z)`` (complex array, same shape as ``z``).

        Branch: ``Im m > 0`` for ``Im z > 0`` and ``m(z̄) = conj(m(z))``; a real ``z`` is read as
        ``z + i0`` (so inside the support ``Im m(x + i0) = π · pdf(x)``). At ``z = 0`` where the law
        has an atom (or a hard edge) ``m`` is infinite and ``1j*inf`` is returned.
        """
        xp, a = _complex_points(z, "z")
        return _ret(self._stieltjes(xp, a))

    # --- moments ------------------------------------------------------------------------------
    def moment(self, k: int) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def moments(self, kmax: int) -> np.ndarray:
        """``[E λ, E λ², ..., E λ^kmax]`` (NumPy array)."""
        kmax = check_int("kmax", kmax, 1)
        return np.array([self.moment(k) for k in range(1, kmax + 1)])

    def mean(self) -> float:
        """``E λ = κ_1``."""
        return self.moment(1)

    def var(self) -> float:
        """``Var λ = κ_2``."""
        return self.moment(2) - self.moment(1) ** 2

    def std(self) -> float:
        """Standard deviation ``√var``."""
        return math.sqrt(max(self.var(), 0.0))

    def median(self) -> float:
        """``ppf(0.5)``."""
        return float(self.ppf(0.5))

    @property
    def atom(self) -> float:
        """Mass of the atom at 0 (0.0 when there is none)."""
        return self._atom

    # --- sampling -------------------------------------------------------------------------
    def rvs(self, size: Any = None, seed: Any = None, backend: str | None = None) -> Any:
        """Random draws by inverse-cdf sampling (the atom at 0 included).

        Parameters
        ----------
        size : int or tuple of int, optional
            Output shape; ``None`` gives one scalar draw.
        seed : int, SeedSequence or Generator, optional
            See :func:`rmt.backend.default_rng`.
        backend : {"numpy", "cupy"}, optional
            Where the draws are made and returned (default NumPy).
        """
        xp = bk.xp_for(backend)
        if size is None:
            shape: tuple = ()
        elif np.ndim(size) == 0:
            shape = (check_int("size", size, 0),)
        else:
            shape = tuple(check_int("size", s, 0) for s in size)
        rng = bk.default_rng(seed, xp)
        u = rng.random(shape, dtype=xp.float64) if shape else rng.random((1,), dtype=xp.float64)
        out = self._sample(xp, u)
        return out.reshape(shape) if shape else _ret(out.reshape(()))

    def _sample(self, xp: ModuleType, u: Any) -> Any:
        return self._ppf(xp, u)

    # abstract
    def _pdf(self, xp, x):  # pragma: no cover
        raise NotImplementedError

    def _cdf(self, xp, x):  # pragma: no cover
        raise NotImplementedError

    def _sf(self, xp, x):  # pragma: no cover
        raise NotImplementedError

    def _ppf(self, xp, q):  # pragma: no cover
        raise NotImplementedError

    def _isf(self, xp, q):  # pragma: no cover
        raise NotImplementedError

    def _stieltjes(self, xp, z):  # pragma: no cover
        raise NotImplementedError


def _newton_bracketed(xp: ModuleType, fun: Callable, dfun: Callable, lo: Any, hi: Any, x0: Any,
                      increasing: bool, maxiter: int = 100, ftol: float = 0.0) -> Any:
    """Vectorised safeguarded Newton for ``fun(x, idx) = 0``, ``fun`` monotone on ``[lo, hi]``.

    ``fun(x, idx)`` and ``dfun(x, idx)`` evaluate at the points ``idx`` (an index array into
    the original points; only unfinished points are iterated). The bracket shrinks with the
    sign of ``fun``; a Newton step that leaves the (closed) bracket is replaced by bisection. A
    point is done when its Newton step is below ``32 eps |x|``, its bracket has collapsed to
    that width, or ``|fun| ≤ ftol`` (the rounding level of ``fun``: where ``fun`` is flat, e.g.
    a cdf near a square-root edge, rounding noise would otherwise move ``x`` forever).
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
        tiny = 32 * _EPS * xp.maximum(xp.abs(la), xp.abs(ha)) + 1e-300
        done = (ok & (xp.abs(step) <= tiny)) | (xp.abs(f) <= ftol) | (ha - la <= tiny)
        x[act] = xp.where(f == 0, xa, xn)
        lo[act], hi[act] = la, ha
        act = act[~done]
    return x


# ---------------------------------------------------------------------------------------------
# Marchenko–Pastur
# ---------------------------------------------------------------------------------------------

class MarchenkoPastur(_SpectralLaw):
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

    def support(self) -> tuple[float, float]:
        """Edges of the bulk ``(σ²(1 − √γ)², σ²(1 + √γ)²)``; the atom at 0 (γ > 1) lies below."""
        return (self._s * self._a, self._s * self._b)

    @property
    def intervals(self) -> tuple[tuple[float, float], ...]:
        """The support of the absolutely continuous part as a tuple of intervals."""
        return (self.support(),)

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
        ftol = 8 * _EPS * (1.0 + (1.0 + self._g) / (2.0 * self._g))
        return _newton_bracketed(xp, fun, dfun, lo, hi, th0, increasing=not upper, ftol=ftol)

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


# ---------------------------------------------------------------------------------------------
# weight laws
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DiscreteWeights:
    """A finite discrete weight law ``ν = Σ_k probs[k] δ_{values[k]}``.

    Parameters
    ----------
    values : array_like, 1-D
        Atom locations (finite reals; negative and zero values allowed).
    probs : array_like, 1-D
        Probabilities (finite, ``≥ 0``, summing to 1 within ``1e-9``; renormalised exactly).
    info : dict, optional
        Provenance (sample size, sample moments with standard errors, ...); not compared.

    Atoms are sorted, duplicate values merged and zero-probability atoms dropped.
    """

    values: np.ndarray
    probs: np.ndarray
    info: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        v = np.atleast_1d(np.asarray(self.values, dtype=np.float64))
        p = np.atleast_1d(np.asarray(self.probs, dtype=np.float64))
        if v.ndim != 1 or p.ndim != 1:
            raise ValueError("weights values and probs must be 1-D")
        if v.size == 0:
            raise ValueError("weights must be non-empty (values has no atoms)")
        if v.shape != p.shape:
            raise ValueError(f"weights values and probs must have the same length, got "
                             f"{v.size} and {p.size}")
        if not np.all(np.isfinite(v)):
            raise ValueError("weights values must be finite (found NaN or infinity)")
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError("weights probs must be finite and >= 0")
        tot = float(p.sum())
        if abs(tot - 1.0) > 1e-9:
            raise ValueError(f"weights probs must sum to 1, got {tot!r}")
        keep = p > 0
        v, p = v[keep], p[keep] / tot
        uv, inv = np.unique(v, return_inverse=True)
        up = np.bincount(inv, weights=p, minlength=uv.size)
        object.__setattr__(self, "values", uv)
        object.__setattr__(self, "probs", up)
        object.__setattr__(self, "info", dict(self.info))

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.values.size)

    def moment(self, k: int) -> float:
        """``E[w^k]``."""
        k = _check_order(k)
        return float(np.sum(self.probs * self.values ** k))

    def mean(self) -> float:
        """``E w``."""
        return self.moment(1)

    def var(self) -> float:
        """``Var w``."""
        mu = self.mean()
        return float(np.sum(self.probs * (self.values - mu) ** 2))

    def scaled(self, factor: float) -> "DiscreteWeights":
        """The law of ``factor · w`` (``factor`` any non-zero real; negative flips the sign)."""
        f = check_real("factor", factor)
        if f == 0:
            raise ValueError("factor must be a non-zero real number, got 0")
        return DiscreteWeights(self.values * f, self.probs.copy(),
                               {**self.info, "scaled_by": self.info.get("scaled_by", 1.0) * f})

    @classmethod
    def point_mass(cls, value: float) -> "DiscreteWeights":
        """``δ_value``."""
        return cls(np.array([check_real("value", value)]), np.array([1.0]))

    @classmethod
    def from_samples(cls, samples: Any, n_atoms: int = 64) -> "DiscreteWeights":
        """Empirical law of ``samples``, compressed to at most ``n_atoms`` atoms.

        If the samples take at most ``n_atoms`` distinct values the empirical law is kept
        exactly. Otherwise they are split into ``n_atoms // 2`` quantile bins with
        Chebyshev-spaced edges ``u_j = sin²(πj / (2 n_bins))`` (finer in both tails), and each
        bin is replaced by two atoms inside the bin's range carrying the bin's mass, mean and
        variance. Hence ``E w`` and ``E w²`` of the empirical law are preserved exactly (to
        rounding), atoms never leave the sample range (no sign is created), and higher moments
        are approximated.
        """
        x = np.asarray(bk.to_numpy(samples), dtype=np.float64).ravel()
        n_atoms = check_int("n_atoms", n_atoms, 2)
        if x.size == 0:
            raise ValueError("weights samples must be non-empty")
        if not np.all(np.isfinite(x)):
            raise ValueError("weights samples must be finite (found NaN or infinity)")
        n = x.size
        m1, m2 = float(x.mean()), float(np.mean(x * x))
        info = {"source": "samples", "n_samples": n, "sample_mean": m1,
                "sample_second_moment": m2}
        uv, counts = np.unique(x, return_counts=True)
        if uv.size <= n_atoms:
            return cls(uv, counts / n, {**info, "compressed": False})
        xs = np.sort(x)
        n_bins = n_atoms // 2
        u = np.sin(0.5 * np.pi * np.arange(n_bins + 1) / n_bins) ** 2
        edges = np.unique(np.clip(np.round(u * n).astype(np.int64), 0, n))
        starts, stops = edges[:-1], edges[1:]
        cnt = (stops - starts).astype(np.float64)
        mu = np.add.reduceat(xs, starts) / cnt
        dev = xs - np.repeat(mu, stops - starts)
        var = np.maximum(np.add.reduceat(dev * dev, starts) / cnt, 0.0)
        s = np.sqrt(var)
        lo, hi = xs[starts], xs[stops - 1]
        # two atoms μ − s t, μ + s/t with masses 1/(1+t²), t²/(1+t²): mean μ, variance s².
        # t = 1 unless that leaves [lo, hi]; Bhatia–Davis (s² ≤ (μ−lo)(hi−μ)) makes the
        # admissible range [s/(hi−μ), (μ−lo)/s] non-empty.
        with np.errstate(divide="ignore", invalid="ignore"):
            t_min = np.where(s > 0, s / np.maximum(hi - mu, 1e-300), 1.0)
            t_max = np.where(s > 0, (mu - lo) / np.maximum(s, 1e-300), 1.0)
        t = np.clip(1.0, t_min, np.maximum(t_min, t_max))
        pa = 1.0 / (1.0 + t * t)
        a = np.clip(mu - s * t, lo, hi)
        b = np.clip(mu + s / t, lo, hi)
        vals = np.concatenate([a, b])
        probs = np.concatenate([cnt * pa, cnt * (1 - pa)]) / n
        return cls(vals, probs, {**info, "compressed": True, "n_bins": int(starts.size)})

    @classmethod
    def from_sampler(cls, sampler: Callable, n_samples: int = 2 ** 20, seed: Any = None,
                     n_atoms: int = 64) -> "DiscreteWeights":
        """Law of ``sampler(n_samples, rng)`` (a NumPy Generator seeded from ``seed``),
        compressed as in :meth:`from_samples`."""
        n_samples = check_int("n_samples", n_samples, 1)
        rng = bk.default_rng(seed, np)
        draws = np.asarray(bk.to_numpy(sampler(n_samples, rng)), dtype=np.float64)
        if draws.shape != (n_samples,):
            raise ValueError(f"weights sampler must return shape ({n_samples},), got "
                             f"{draws.shape}")
        out = cls.from_samples(draws, n_atoms)
        out.info["source"] = "sampler"
        return out


def as_weight_law(weights: Any, *, n_atoms: int = 64, n_samples: int = 2 ** 20,
                  seed: Any = None) -> DiscreteWeights:
    """Turn any accepted description of a weight law ν into :class:`DiscreteWeights`.

    Accepted: a :class:`DiscreteWeights`; a tuple ``(values, probs)`` of equal-length 1-D
    array-likes; a real number (a point mass); a 1-D array or list of *samples* of ``w``
    (empirical law, compressed to ``n_atoms`` atoms when it has more distinct values, see
    :meth:`DiscreteWeights.from_samples`); or a callable sampler ``f(size, rng)`` (drawn
    ``n_samples`` times with a Generator seeded from ``seed``, then compressed).
    """
    if isinstance(weights, DiscreteWeights):
        return weights
    if callable(weights):
        return DiscreteWeights.from_sampler(weights, n_samples, seed, n_atoms)
    if isinstance(weights, tuple):
        if len(weights) != 2:
            raise ValueError("weights given as a tuple must be (values, probs)")
        return DiscreteWeights(weights[0], weights[1])
    if np.ndim(weights) == 0:
        try:
            return DiscreteWeights.point_mass(float(weights))
        except (TypeError, ValueError):
            raise ValueError(f"weights must be a weight law, samples, (values, probs), a number "
                             f"or a sampler, got {weights!r}") from None
    arr = bk.to_numpy(weights)
    if np.ndim(arr) != 1:
        raise ValueError(f"weights samples must be a 1-D array, got shape {np.shape(arr)}")
    return DiscreteWeights.from_samples(arr, n_atoms)


# ---------------------------------------------------------------------------------------------
# weighted Marchenko–Pastur
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SolveInfo:
    """Diagnostics of a Stieltjes solve (arrays of the input's shape and namespace).

    Attributes
    ----------
    residual : array
        ``|m (−z + E_ν[w/(1 + γ w m)]) − 1|``, the relative residual of the fixed-point
        equation at the returned ``m`` (0 where ``m`` is exact by construction: atoms, edges).
    step : array
        Size of the last Newton correction relative to ``|v| = 1/|m|`` — an estimate of the
        relative error of ``m`` (Newton converges quadratically).
    converged : array of bool
        Whether the stopping rule was met (residual ≤ ``tol`` or step ≤ 4 eps).
    """

    residual: Any
    step: Any
    converged: Any

    @property
    def max_residual(self) -> float:
        """Largest residual (a float)."""
        r = bk.to_numpy(self.residual)
        return float(r.max()) if r.size else 0.0


def _dct2(x: np.ndarray) -> np.ndarray:
    """Unnormalised DCT-II along the last axis, ``y_k = 2 Σ_j x_j cos(πk(2j+1)/(2n))``, through
    one FFT of the even extension (NumPy's FFT: no SciPy import on this path)."""
    n = x.shape[-1]
    V = np.fft.fft(np.concatenate([x, x[..., ::-1]], axis=-1), axis=-1)[..., :n]
    return (np.exp(-0.5j * np.pi * np.arange(n) / n) * V).real


def _cheb_eval(xp: ModuleType, A: Any, s: Any) -> Any:
    """``Σ_k A[k, j] T_k(s_j)`` for every point ``j`` (Clenshaw); ``A`` has shape (n, npts)
    (coefficient-major, so that each step reads one contiguous row)."""
    b1 = xp.zeros_like(s)
    b2 = xp.zeros_like(s)
    two_s = 2.0 * s
    for k in range(A.shape[0] - 1, 0, -1):
        b1, b2 = A[k] + two_s * b1 - b2, b1
    return A[0] + s * b1 - b2


@dataclass
class _Interval:
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


class WeightedMP(_SpectralLaw):
    """Limit spectral law of ``B = (1/N) Σ_n w_n x_n x_nᵀ`` (``d × d``, ``γ = d/N``), ``w_n`` iid
    ~ ν independent of ``x_n ~ N(0, I_d)``: the free multiplicative law whose Stieltjes transform
    solves ``m = 1 / (−z + E_ν[w / (1 + γ w m)])``.

    Parameters
    ----------
    ratio : float, > 0
        ``γ = d/N``.
    weights : DiscreteWeights, (values, probs), float, 1-D samples or callable
        The weight law ν (see :func:`as_weight_law`). Weights may be negative (the support then
        reaches below 0) or zero. At least one atom must be non-zero.
    n_atoms : int, default 64
        Compression of sampled laws (:meth:`DiscreteWeights.from_samples`).
    n_samples : int, default 2**20
        Draws from a callable sampler.
    seed : optional
        Seed for a callable sampler.
    tol : float, default 1e-12
        Stopping rule of the Newton solves: relative residual of the fixed-point equation.
    cdf_tol : float, default 1e-12
        Target absolute error of the cdf quadrature (per support interval).
    max_panels : int, default 4096
        Cap on the Chebyshev panels per support interval for the cdf table.

    Attributes
    ----------
    ratio, weights, atom, intervals, support(), cdf_error, residual

    Notes
    -----
    **Inverse function.** With ``v = −1/m`` (``Im v > 0 ⇔ Im m > 0``) the equation reads
    ``z = z(v) = v (1 + Σ_k p_k w_k / (v − γ w_k))`` over the non-zero atoms ``(w_k, p_k)`` of ν.
    ``z'(v) = 1 − Σ_k c_k / (v − q_k)²`` with ``q_k = γ w_k``, ``c_k = γ p_k w_k²``; ``z'`` is
    concave between consecutive poles and monotone outside them, so its real zeros are found
    exactly by bisection (at most two per gap between poles, one on each outer side). A real
    ``x`` lies outside the support iff ``x = z(v)`` with ``z'(v) > 0`` (Silverstein–Choi); the
    support is the complement of the images of the increasing pieces and its edges are the
    critical values ``z(v*)``. ``v = 0`` is a regular point with ``z'(0) = 1 − P(w ≠ 0)/γ``: the
    mass of the atom at 0 when positive.

    **Solving.** Outside the support the real root on the right increasing piece is found by
    bracketed Newton. Inside the support (or for complex ``z``) Newton's method on
    ``G(v) = z(v) − z`` is run, vectorised over all points, along ``z_k = x + iη_k`` with
    ``η_k = 2W·10^{−k}`` (``W`` the extent of the spectrum) down to ``min(1e-7 W, 1e-3 ×`` the
    narrowest support interval``)``, each level solved loosely (relative residual ``1e-3``) from
    the previous one, and then at the target ``Im z`` (0 for densities) to ``tol``; steps are
    shortened so that ``Im v`` stays positive. Complex arithmetic is done in real and
    imaginary parts (NumPy's complex mat-vec products and divisions are several times slower). The root of
    ``G`` in the upper half-plane is unique (for ``Im z > 0`` by the Cauchy–Schwarz argument of
    Silverstein; it carries over to ``Im z = 0`` inside the support), so a converged Newton
    iterate is the Stieltjes transform. Stopping rule: relative residual
    ``|G(v)/v| = |m(−z + E_ν[w/(1 + γwm)]) − 1| ≤ tol``, or a step below ``4 eps |v|``.

    **Density and cdf.** ``pdf(x) = Im m(x + i0) / π``. On each support interval ``[l, r]`` the
    substitution ``x(θ) = l + (r − l) sin²(θ/2)``, ``θ ∈ [0, π]``, turns the density into
    ``g(θ) = pdf(x(θ)) (r − l)/2 · sin θ``, which is smooth at square-root edges (``∝ sin²θ``)
    and at hard inverse-square-root edges (``∝ cos²(θ/2)``). ``[0, π]`` is split adaptively into
    panels (8 to start, halved where needed) carrying 32-point Chebyshev interpolants of ``g``;
    a panel is accepted when its last four coefficients, times its width, are below
    ``cdf_tol · width/π`` (or 256 eps of its own size). The cdf is the exact integral of the
    interpolants; the masses are renormalised to ``1 − atom`` and :attr:`cdf_error` reports the
    sum of the panel error estimates plus that renormalisation. ``ppf`` is bracketed Newton on
    the same interpolants (machine precision relative to them) and ``rvs`` is ``ppf`` of uniform
    draws.

    References
    ----------
    J. W. Silverstein, S.-I. Choi, "Analysis of the limiting spectral distribution of large
    dimensional random matrices", J. Multivariate Anal. 54 (1995) 295–309.
    E. Dobriban, "Efficient computation of limit spectra of sample covariance matrices",
    Random Matrices: Theory Appl. 4 (2015) (SPECTRODE).

    Examples
    --------
    >>> law = WeightedMP(0.5, ([1.0, 3.0], [0.5, 0.5]))
    >>> round(law.mean(), 12), round(law.var(), 12)   # κ1 = E w, κ2 = γ E w²
    (2.0, 2.5)
    >>> round(float(law.cdf(law.support()[1])), 12)
    1.0
    """

    _ETA_RATIO = 0.1
    _ETA_MIN = 1e-7
    _MAXIT = 60

    def __init__(self, ratio: float, weights: Any, *, n_atoms: int = 64,
                 n_samples: int = 2 ** 20, seed: Any = None, tol: float = 1e-12,
                 cdf_tol: float = 1e-12, max_panels: int = 4096) -> None:
        self._g = check_real("ratio", ratio, 0.0, strict_min=True)
        self._tol = check_real("tol", tol, 0.0, 1.0, strict_min=True)
        self._cdf_tol = check_real("cdf_tol", cdf_tol, 0.0, 1.0, strict_min=True)
        self._max_panels = check_int("max_panels", max_panels, 8)
        self._nu = as_weight_law(weights, n_atoms=n_atoms, n_samples=n_samples, seed=seed)
        nz = self._nu.values != 0
        if not np.any(nz):
            raise ValueError("weights must have at least one non-zero value (all weights are 0)")
        w, p = self._nu.values[nz], self._nu.probs[nz]
        self._q = self._g * w          # poles of z(v), sorted (γ > 0 keeps the order)
        self._c = self._g * p * w * w  # residues in z'(v)
        self._pw = p * w
        self._Ew = float(np.sum(p * w))
        alpha = 1.0 - float(np.sum(p)) / self._g
        self._alpha = alpha
        self._atom = alpha if alpha > 1e-14 else 0.0
        self._xp_cache: dict[str, tuple] = {}
        self._find_support()
        self._table_built = False
        self._residual = 0.0

    # --- parameters -------------------------------------------------------------------------
    @property
    def ratio(self) -> float:
        """``γ = d/N``."""
        return self._g

    @property
    def weights(self) -> DiscreteWeights:
        """The (possibly compressed) discrete weight law actually used."""
        return self._nu

    @property
    def intervals(self) -> tuple[tuple[float, float], ...]:
        """Support intervals of the absolutely continuous part, sorted."""
        return tuple((iv.lo, iv.hi) for iv in self._ivs)

    def support(self) -> tuple[float, float]:
        """``(lowest edge, highest edge)`` of the absolutely continuous part (an atom at 0, if
        any, may lie outside; see :attr:`atom`)."""
        return (self._ivs[0].lo, self._ivs[-1].hi)

    @property
    def cdf_error(self) -> float:
        """Estimated absolute error of :meth:`cdf` (builds the table if needed)."""
        self._build_table()
        return self._cdf_err

    @property
    def residual(self) -> float:
        """Largest fixed-point residual over the density solves made for the cdf table."""
        self._build_table()
        return self._residual

    def __repr__(self) -> str:
        return f"WeightedMP(ratio={self._g!r}, weights=<{self._nu.n_atoms} atoms>)"

    # --- moments ----------------------------------------------------------------------------
    def free_cumulant(self, k: int) -> float:
        """``κ_k = γ^{k−1} E_ν[w^k]``."""
        k = check_int("k", k, 1)
        return self._g ** (k - 1) * self._nu.moment(k)

    def moment(self, k: int) -> float:
        """``E[λ^k]`` from the free cumulants by the non-crossing-partition recursion."""
        k = _check_order(k)
        if k == 0:
            return 1.0
        return float(self.moments(k)[-1])

    def moments(self, kmax: int) -> np.ndarray:
        """``[E λ, ..., E λ^kmax]`` in one pass of the moment–cumulant recursion."""
        kmax = check_int("kmax", kmax, 1)
        return moments_from_free_cumulants([self.free_cumulant(j) for j in range(1, kmax + 1)])

    def mean(self) -> float:
        """``E λ = κ₁ = E_ν w``."""
        return self._Ew

    def var(self) -> float:
        """``Var λ = κ₂ = γ E_ν w²``."""
        return self.free_cumulant(2)

    # --- the inverse function z(v) -----------------------------------------------------------
    def _zv(self, v: np.ndarray) -> np.ndarray:
        """``z(v) = v (1 + Σ p w / (v − q))`` (host, real)."""
        return v * (1.0 + np.sum(self._pw / (v[..., None] - self._q), axis=-1))

    def _dzv(self, v: np.ndarray) -> np.ndarray:
        return 1.0 - np.sum(self._c / (v[..., None] - self._q) ** 2, axis=-1)

    def _d2zv(self, v: np.ndarray) -> np.ndarray:
        return 2.0 * np.sum(self._c / (v[..., None] - self._q) ** 3, axis=-1)

    @staticmethod
    def _bisect(f: Callable, lo: np.ndarray, hi: np.ndarray, increasing: np.ndarray) -> np.ndarray:
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

    def _find_support(self) -> None:
        q, c = self._q, self._c
        K = q.size
        reach = 2.0 * math.sqrt(float(c.sum())) + 1e-300  # |v − q_k| ≥ reach ⇒ z'(v) > 3/4
        # outer zeros: z' decreasing on (−∞, q_1), increasing on (q_K, ∞)
        vL = self._bisect(self._dzv, np.array([q[0] - reach]), np.array([q[0]]),
                          np.array([False]))[0]
        vR = self._bisect(self._dzv, np.array([q[-1]]), np.array([q[-1] + reach]),
                          np.array([True]))[0]
        pieces = [(-math.inf, vL, -math.inf, float(self._zv(np.array([vL]))[0]))]
        if K > 1:
            a, b = q[:-1], q[1:]
            # z'' decreases from +∞ to −∞ on each gap: its zero is the maximum of z'
            vmax = self._bisect(self._d2zv, a, b, np.zeros(K - 1, bool))
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                top = self._dzv(vmax)
            gaps = np.nonzero(top > 0)[0]
            if gaps.size:
                left = self._bisect(self._dzv, a[gaps], vmax[gaps], np.ones(gaps.size, bool))
                right = self._bisect(self._dzv, vmax[gaps], b[gaps], np.zeros(gaps.size, bool))
                zl, zr = self._zv(left), self._zv(right)
                for j in range(gaps.size):
                    if np.isfinite(zl[j]) and np.isfinite(zr[j]) and zr[j] > zl[j]:
                        pieces.append((float(left[j]), float(right[j]), float(zl[j]),
                                       float(zr[j])))
        pieces.append((vR, math.inf, float(self._zv(np.array([vR]))[0]), math.inf))
        # α = 1 − P(w≠0)/γ is computed from probabilities summing to 1 within a few eps: treat
        # |α| ≤ 1e-14 (~50 eps) as exactly 0, i.e. a hard edge at 0.
        if abs(self._alpha) <= 1e-14:
            # hard edge: v = 0 is the critical point (z'(0) = 1 − P(w≠0)/γ = 0) and z(0) = 0;
            # put the bisection's last-bit neighbours of 0 exactly there
            tiny = 1e-12 * float(np.max(np.abs(q)))
            pieces = [(0.0 if abs(va) <= tiny else va, 0.0 if abs(vb) <= tiny else vb,
                       0.0 if abs(va) <= tiny else xa, 0.0 if abs(vb) <= tiny else xb)
                      for (va, vb, xa, xb) in pieces]
        # support = complement of the union of the images (x_lo, x_hi) of increasing pieces
        order = sorted(pieces, key=lambda t: t[2])
        ivs: list[_Interval] = []
        reach_x = order[0][3]
        for pc in order[1:]:
            if pc[2] > reach_x:
                ivs.append(_Interval(reach_x, pc[2]))
            reach_x = max(reach_x, pc[3])
        span = max(abs(ivs[0].lo), abs(ivs[-1].hi), ivs[-1].hi - ivs[0].lo) if ivs else 1.0
        ivs = [iv for iv in ivs if iv.hi - iv.lo > 64 * _EPS * span]
        if not ivs:  # pragma: no cover - cannot happen for a non-degenerate ν
            raise RuntimeError("WeightedMP: no support interval found")
        self._ivs = ivs
        self._pieces = order
        self._span = span
        # continuation floor: well below the scale of the whole spectrum and of the narrowest
        # interval, so that the last level starts inside Newton's basin everywhere
        self._eta_floor = min(self._ETA_MIN * span,
                              1e-3 * min(iv.hi - iv.lo for iv in ivs))
        self._hard0 = abs(self._alpha) <= 1e-14 and any(iv.lo == 0.0 or iv.hi == 0.0
                                                         for iv in ivs)
        self._edges_lo = np.array([iv.lo for iv in ivs])
        self._edges_hi = np.array([iv.hi for iv in ivs])

    # --- device-side arrays --------------------------------------------------------------------
    def _dev(self, xp: ModuleType) -> tuple:
        key = bk.backend_name(xp)
        if key not in self._xp_cache:
            self._xp_cache[key] = (xp.asarray(self._q), xp.asarray(self._c), xp.asarray(self._pw),
                                   xp.asarray(self._edges_lo), xp.asarray(self._edges_hi))
        return self._xp_cache[key]

    def _inside(self, xp: ModuleType, x: Any) -> Any:
        _, _, _, lo, hi = self._dev(xp)
        j = xp.clip(xp.searchsorted(lo, x, side="right") - 1, 0, len(self._ivs) - 1)
        return (x > lo[j]) & (x < hi[j])

    # --- solvers ------------------------------------------------------------------------------
    def _sums(self, xp: ModuleType, v: Any) -> tuple:
        """``S1 = Σ p w/(v − q)`` and ``S2 = Σ c/(v − q)²`` for complex ``v`` (1-D), in real
        arithmetic: with ``a = Re v − q``, ``b = Im v``, ``1/(v − q) = (a − ib)/(a² + b²)``.
        (Complex mat-vec products and divisions are several times slower in NumPy/BLAS.)"""
        q, c, pw, _, _ = self._dev(xp)
        a = v.real[:, None] - q
        b = v.imag
        a2 = a * a
        inv = 1.0 / (a2 + (b * b)[:, None])
        inv2 = inv * inv
        S1 = (a * inv) @ pw - 1j * (b * (inv @ pw))
        S2 = ((a2 - (b * b)[:, None]) * inv2) @ c - 2j * (b * ((a * inv2) @ c))
        return S1, S2

    def _newton_complex(self, xp: ModuleType, z: Any, v: Any, tol: float) -> tuple:
        """Newton on G(v) = z(v) − z with Im v kept positive; returns (v, res, step, conv)."""
        n = z.shape[0]
        res = xp.full(n, math.inf)
        stp = xp.full(n, math.inf)
        act = xp.arange(n)
        for _ in range(self._MAXIT):
            if act.size == 0:
                break
            vi, zi = v[act], z[act]
            S1, S2 = self._sums(xp, vi)
            G = vi * (1.0 + S1) - zi
            step = G / (1.0 - S2)
            av = xp.abs(vi)
            r = xp.abs(G) / av
            # keep Im v > 0: shorten a step that would cross the real axis
            ims = step.imag
            cross = ims >= vi.imag
            t = xp.where(cross, 0.5 * vi.imag / xp.where(cross, ims, 1.0), 1.0)
            rel = xp.abs(step) / av
            v[act] = vi - t * step
            res[act] = r
            stp[act] = rel
            done = (r <= tol) | (rel <= 4 * _EPS)
            act = act[~done]
        conv = (res <= tol) | (stp <= 4 * _EPS)
        return v, res, stp, conv

    def _solve_upper(self, xp: ModuleType, z: Any) -> tuple:
        """v with Im v > 0 solving z(v) = z for Im z ≥ 0 (Im z = 0 only inside the support)."""
        z = z.ravel()
        x, eta = z.real, z.imag
        W = self._span
        eta0 = 2.0 * W
        v = (x - self._Ew) + 1j * xp.maximum(eta, eta0)
        e = eta0
        loose = 1e-3
        while e >= self._eta_floor:
            zk = x + 1j * xp.maximum(eta, e)
            v, _, _, _ = self._newton_complex(xp, zk, v, loose)
            e *= self._ETA_RATIO
        v, _, stp, conv = self._newton_complex(xp, z + 0j, v, self._tol)
        res = xp.abs(v * (1.0 + self._sums(xp, v)[0]) - z) / xp.abs(v)
        return v, res, stp, conv

    def _solve_real_outside(self, xp: ModuleType, x: Any) -> Any:
        """Real v with z'(v) > 0 and z(v) = x, for x outside the support (x ≠ 0 if atom)."""
        q, c, pw, _, _ = self._dev(xp)
        x = x.ravel()
        lo = xp.zeros_like(x)
        hi = xp.zeros_like(x)
        for (va, vb, xa, xb) in self._pieces:
            sel = (x > xa) & (x < xb)
            if math.isinf(va):      # (−∞, vL): z(v) < v + E w there, so v > x − E w
                a_, b_ = x - self._Ew, xp.full_like(x, vb)
            elif math.isinf(vb):    # (vR, ∞): z(v) > v + E w, so v < x − E w
                a_, b_ = xp.full_like(x, va), x - self._Ew
            else:
                a_, b_ = xp.full_like(x, va), xp.full_like(x, vb)
            lo = xp.where(sel, a_, lo)
            hi = xp.where(sel, b_, hi)

        def fun(v, i):
            return v * (1.0 + (1.0 / (v[:, None] - q)) @ pw) - x[i]

        def dfun(v, i):
            u = 1.0 / (v[:, None] - q)
            return 1.0 - (u * u) @ c

        x0 = 0.5 * (lo + hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _newton_bracketed(xp, fun, dfun, lo, hi, x0, increasing=True, maxiter=200)

    def _solve_real(self, xp: ModuleType, x: Any) -> tuple:
        """m(x + i0) for real x, with the SolveInfo arrays."""
        x = x.ravel()
        n = x.shape[0]
        m = xp.zeros(n, dtype=xp.complex128)
        res = xp.zeros(n)
        stp = xp.zeros(n)
        conv = xp.ones(n, dtype=bool)
        inside = self._inside(xp, x)
        edge = xp.zeros(n, dtype=bool)
        for iv in self._ivs:
            edge |= (x == iv.lo) | (x == iv.hi)
        at_atom = (x == 0) & (self._alpha >= -1e-14) & ~inside
        outside = ~inside & ~edge & ~at_atom & xp.isfinite(x)
        idx = xp.nonzero(inside)[0]
        if idx.size:
            v, r, s, cv = self._solve_upper(xp, x[idx] + 0j)
            m[idx] = -1.0 / v
            res[idx], stp[idx], conv[idx] = r, s, cv
        idx = xp.nonzero(outside)[0]
        if idx.size:
            v = self._solve_real_outside(xp, x[idx])
            u = 1.0 / (v[:, None] - self._dev(xp)[0])
            G = v * (1.0 + u @ self._dev(xp)[2]) - x[idx]
            res[idx] = xp.abs(G) / xp.abs(v)
            m[idx] = -1.0 / v + 0j
        idx = xp.nonzero(edge & ~at_atom)[0]
        if idx.size:  # the edge value: v is the critical point — solve as from outside
            vv = []
            for xe in bk.to_numpy(x[idx]):
                vv.append(self._edge_v(float(xe)))
            m[idx] = xp.asarray(-1.0 / np.array(vv)) + 0j
        m = xp.where(at_atom, complex(0.0, math.inf), m)
        m = xp.where(xp.isinf(x), 0j, m)
        return m, res, stp, conv

    def _edge_v(self, xe: float) -> float:
        for (va, vb, xa, xb) in self._pieces:
            if xe == xa and not math.isinf(va):
                return va
            if xe == xb and not math.isinf(vb):
                return vb
        return math.nan  # pragma: no cover

    def _stieltjes_full(self, xp: ModuleType, z: Any) -> tuple:
        shape = z.shape
        z = z.ravel()
        lower = z.imag < 0
        zu = xp.where(lower, xp.conj(z), z)
        m = xp.zeros(z.shape, dtype=xp.complex128)
        res = xp.zeros(z.shape)
        stp = xp.zeros(z.shape)
        conv = xp.ones(z.shape, dtype=bool)
        real = zu.imag == 0
        idx = xp.nonzero(real)[0]
        if idx.size:
            mr, r, s, cv = self._solve_real(xp, zu[idx].real)
            m[idx], res[idx], stp[idx], conv[idx] = mr, r, s, cv
        idx = xp.nonzero(~real)[0]
        if idx.size:
            v, r, s, cv = self._solve_upper(xp, zu[idx])
            m[idx], res[idx], stp[idx], conv[idx] = -1.0 / v, r, s, cv
        m = xp.where(lower, xp.conj(m), m)
        return (m.reshape(shape), SolveInfo(res.reshape(shape), stp.reshape(shape),
                                            conv.reshape(shape)))

    def stieltjes(self, z: Any, *, return_info: bool = False) -> Any:
        """Stieltjes transform ``m(z)``; see :meth:`_SpectralLaw.stieltjes` for the branch.

        With ``return_info=True`` returns ``(m, SolveInfo)`` (residuals of the fixed-point
        equation, last Newton step, convergence flags).
        """
        xp, a = _complex_points(z, "z")
        m, info = self._stieltjes_full(xp, a)
        return (_ret(m), info) if return_info else _ret(m)

    def fixed_point_residual(self, z: Any, m: Any) -> Any:
        """``|m (−z + E_ν[w/(1 + γ w m)]) − 1|`` for given ``z`` and ``m`` (broadcast)."""
        xp, zz = _complex_points(z, "z")
        mm = bk.asarray(m, xp, xp.complex128)
        q, _, pw, _, _ = self._dev(xp)
        zz, mm = xp.broadcast_arrays(zz, mm)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            Ewm = (1.0 / (1.0 + q * mm[..., None])) @ pw
        return _ret(xp.abs(mm * (-zz + Ewm) - 1.0))

    # --- density ---------------------------------------------------------------------------
    def _pdf_info(self, xp: ModuleType, x: Any) -> tuple:
        shape = x.shape
        x = x.ravel()
        out = xp.zeros(x.shape)
        res = xp.zeros(x.shape)
        inside = self._inside(xp, x)
        idx = xp.nonzero(inside)[0]
        if idx.size:
            v, r, _, _ = self._solve_upper(xp, x[idx] + 0j)
            out[idx] = xp.maximum(v.imag, 0.0) / (math.pi * xp.abs(v) ** 2)
            res[idx] = r
        if self._hard0:  # inverse-square-root edge at 0
            out = xp.where(x == 0, math.inf, out)
        return out.reshape(shape), res.reshape(shape)

    def _pdf(self, xp: ModuleType, x: Any) -> Any:
        return self._pdf_info(xp, x)[0]

    def pdf(self, x: Any, *, return_residual: bool = False) -> Any:
        """Density of the absolutely continuous part, ``Im m(x + i0)/π`` (0 off the support and
        at the edges). With ``return_residual=True`` also returns the per-point fixed-point
        residual."""
        xp, a = _real_points(x, "x")
        f, r = self._pdf_info(xp, a)
        return (_ret(f), _ret(r)) if return_residual else _ret(f)

    # --- cdf table -----------------------------------------------------------------------------
    _PANEL_N = 32  # Chebyshev points per panel

    def _build_table(self) -> None:
        """Adaptive piecewise-Chebyshev integration of the density in θ on every interval."""
        if self._table_built:
            return
        from numpy.polynomial import chebyshev as npcheb  # noqa: PLC0415

        n = self._PANEL_N
        sj = np.cos(np.pi * (np.arange(n) + 0.5) / n)  # first-kind nodes on [−1, 1]
        max_res = 0.0
        for iv in self._ivs:
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
                f, r = self._pdf_info(np, xs)
                evals += xs.size
                max_res = max(max_res, float(r.max()))
                g = f * (0.5 * L) * np.sin(th)
                a = _dct2(g) / n
                a[:, 0] *= 0.5          # plain convention g = Σ a_k T_k
                scale = np.abs(a).max(axis=1)
                err = 2.0 * half * np.abs(a[:, -4:]).sum(axis=1)
                ok = err <= np.maximum(self._cdf_tol * half / (0.5 * np.pi),
                                       256 * _EPS * 2.0 * half * scale)
                total = len(done_edges) + 2 * int(np.sum(~ok)) + int(np.sum(ok))
                if total > self._max_panels or np.all(half < 1e-12):
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
        total = sum(iv.mass for iv in self._ivs)
        target = 1.0 - self._atom
        for iv in self._ivs:  # renormalise so that cdf(∞) = 1 exactly
            f = target / total
            iv.a, iv.A, iv.cum, iv.mass = iv.a * f, iv.A * f, iv.cum * f, iv.mass * f
        self._cdf_err = abs(total - target) + sum(iv.err for iv in self._ivs)
        self._residual = max_res
        self._base = np.concatenate([[0.0], np.cumsum([iv.mass for iv in self._ivs])[:-1]])
        self._lo_end = min(self._ivs[0].lo, 0.0) if self._atom > 0 else self._ivs[0].lo
        self._hi_end = max(self._ivs[-1].hi, 0.0) if self._atom > 0 else self._ivs[-1].hi
        self._table_built = True

    @staticmethod
    def _panel_of(xp: ModuleType, iv: _Interval, th: Any) -> tuple:
        edges = iv.arrays(xp)[0]
        p = xp.clip(xp.searchsorted(edges, th, side="right") - 1, 0, edges.shape[0] - 2)
        lo, hi = edges[p], edges[p + 1]
        return p, lo, hi

    @staticmethod
    def _G_at(xp: ModuleType, iv: _Interval, p: Any, lo: Any, hi: Any, th: Any) -> Any:
        """Mass of the interval between θ = 0 and θ (θ inside panel p)."""
        _, cum, _, A = iv.arrays(xp)
        half = 0.5 * (hi - lo)
        s = xp.clip((th - lo - half) / half, -1.0, 1.0)
        return cum[p] + half * _cheb_eval(xp, A[:, p], s)

    @staticmethod
    def _g_at(xp: ModuleType, iv: _Interval, p: Any, lo: Any, hi: Any, th: Any) -> Any:
        """Density in θ (θ inside panel p)."""
        _, _, a, _ = iv.arrays(xp)
        half = 0.5 * (hi - lo)
        s = xp.clip((th - lo - half) / half, -1.0, 1.0)
        return _cheb_eval(xp, a[:, p], s)

    def _theta_of(self, xp: ModuleType, iv: _Interval, x: Any) -> Any:
        return 2.0 * xp.arctan2(xp.sqrt(xp.maximum(x - iv.lo, 0.0)),
                                xp.sqrt(xp.maximum(iv.hi - x, 0.0)))

    def _G_of_x(self, xp: ModuleType, iv: _Interval, x: Any) -> Any:
        th = self._theta_of(xp, iv, x)
        p, lo, hi = self._panel_of(xp, iv, th)
        return xp.clip(self._G_at(xp, iv, p, lo, hi, th), 0.0, iv.mass)

    def _cdf(self, xp: ModuleType, x: Any) -> Any:
        self._build_table()
        shape = x.shape
        x = x.ravel()
        F = xp.zeros(x.shape)
        for i, iv in enumerate(self._ivs):
            below = self._base[i]
            F = xp.where(x > iv.lo, below, F)
            idx = xp.nonzero((x > iv.lo) & (x < iv.hi))[0]
            if idx.size:
                F[idx] = below + self._G_of_x(xp, iv, x[idx])
            F = xp.where(x >= iv.hi, below + iv.mass, F)
        if self._atom > 0:
            F = F + xp.where(x >= 0, self._atom, 0.0)
        F = xp.where(x >= self._hi_end, 1.0, xp.clip(F, 0.0, 1.0))
        return F.reshape(shape)

    def _sf(self, xp: ModuleType, x: Any) -> Any:
        self._build_table()
        shape = x.shape
        x = x.ravel()
        S = xp.zeros(x.shape)
        masses = [iv.mass for iv in self._ivs]
        tail = np.concatenate([np.cumsum(masses[::-1])[::-1], [0.0]])
        for i in range(len(self._ivs) - 1, -1, -1):
            iv = self._ivs[i]
            above = tail[i + 1]
            S = xp.where(x < iv.hi, above, S)
            idx = xp.nonzero((x > iv.lo) & (x < iv.hi))[0]
            if idx.size:
                S[idx] = above + (iv.mass - self._G_of_x(xp, iv, x[idx]))
            S = xp.where(x <= iv.lo, above + iv.mass, S)
        if self._atom > 0:
            S = S + xp.where(x < 0, self._atom, 0.0)
        S = xp.where(x < self._lo_end, 1.0, xp.clip(S, 0.0, 1.0))
        return S.reshape(shape)

    def _pieces_in_order(self) -> list:
        """``(kind, mass before, mass)`` left to right: intervals (kind = index) and the atom at
        0 (kind = −1) where it belongs."""
        cum = []
        acc = 0.0
        atom_done = self._atom <= 0
        for i, iv in enumerate(self._ivs):
            if not atom_done and iv.lo >= 0:
                cum.append((-1, acc, self._atom))
                acc += self._atom
                atom_done = True
            cum.append((i, acc, iv.mass))
            acc += iv.mass
        if not atom_done:
            cum.append((-1, acc, self._atom))
        return cum

    def _quantile(self, xp: ModuleType, q: Any, upper: bool) -> Any:
        self._build_table()
        shape = q.shape
        q = q.ravel()
        out = xp.full(q.shape, math.nan)
        assigned = xp.zeros(q.shape, dtype=bool)
        for kind, before, mass in self._pieces_in_order():
            if upper:  # sf(x) = q inside this piece iff above ≤ q < above + mass
                above = 1.0 - before - mass
                sel = ~assigned & (q >= above) & (q > 0)
            else:      # cdf(x) = q inside this piece iff before < q ≤ before + mass
                sel = ~assigned & (q <= before + mass) & (q > 0)
            idx = xp.nonzero(sel)[0]
            if idx.size:
                if kind == -1:
                    out[idx] = 0.0
                else:
                    iv = self._ivs[kind]
                    if upper:
                        tgt = xp.clip(iv.mass - (q[idx] - above), 0.0, iv.mass)
                    else:
                        tgt = xp.clip(q[idx] - before, 0.0, iv.mass)
                    out[idx] = self._invert_interval(xp, iv, tgt)
                assigned[idx] = True
        first, last = (self._hi_end, self._lo_end) if upper else (self._lo_end, self._hi_end)
        out = xp.where(q == 0, first, out)
        out = xp.where(q == 1, last, out)
        out = xp.where(xp.isnan(out), last, out)  # rounding right of the total mass
        return out.reshape(shape)

    def _invert_interval(self, xp: ModuleType, iv: _Interval, tgt: Any) -> Any:
        """x in iv with G(θ(x)) = tgt: panel by the cumulative masses, then bracketed Newton on
        that panel's interpolant (rows gathered once per chunk of 65,536 points)."""
        edges, cum, a, A = iv.arrays(xp)
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
                return base[i] + half[i] * _cheb_eval(xp, Ap[:, i], s) - t[i]

            def g(th, i, ap=ap, half=half, mid=mid):
                return _cheb_eval(xp, ap[:, i], xp.clip((th - mid[i]) / half[i], -1, 1))

            th = _newton_bracketed(xp, G, g, lo, hi, lo + frac * (hi - lo), increasing=True,
                                   maxiter=60, ftol=64 * _EPS * max(iv.mass, 1e-300))
            out[c0:c0 + 65536] = iv.lo + (iv.hi - iv.lo) * xp.sin(0.5 * th) ** 2
        return out

    def _ppf(self, xp: ModuleType, q: Any) -> Any:
        return self._quantile(xp, q, upper=False)

    def _isf(self, xp: ModuleType, q: Any) -> Any:
        return self._quantile(xp, q, upper=True)

    def _stieltjes(self, xp: ModuleType, z: Any) -> Any:
        return self._stieltjes_full(xp, z)[0]


# ---------------------------------------------------------------------------------------------
# weight laws of the Hessian blocks of the linear CE model at initialisation
# ---------------------------------------------------------------------------------------------

def lognormal_weights(mu: float, s2: float, n_atoms: int = 64, *, sign: int = 1,
                      min_prob: float = 1e-16) -> DiscreteWeights:
    """The law of ``sign · e^Y``, ``Y ~ N(mu, s2)``, discretised by Gauss–Hermite quadrature.

    Atoms ``sign·exp(mu + √(2 s2) t_k)`` with probabilities ``ω_k/√π`` (``t_k, ω_k`` the
    ``n_atoms``-point Gauss–Hermite rule); atoms of probability below ``min_prob`` are dropped
    and the rest renormalised (their share of ``E w^j`` is negligible for the low orders that
    matter here, and they would only add invisible far-away bumps to the spectrum).

    Large-C limits (DESIGN §1): the diagonal block ``C·p_i(1−p_i) → e^{z − σ²/2}`` is
    ``lognormal_weights(−σ²/2, σ²)``; the off-diagonal block weight ``−C²·p_i p_j →
    −e^{z_i + z_j − σ²}`` is ``lognormal_weights(−σ², 2σ², sign=−1)``.
    """
    mu = check_real("mu", mu)
    s2 = check_real("s2", s2, 0.0)
    n_atoms = check_int("n_atoms", n_atoms, 1)
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    min_prob = check_real("min_prob", min_prob, 0.0, 0.01)
    if s2 == 0.0:
        return DiscreteWeights(np.array([sign * math.exp(mu)]), np.array([1.0]),
                               {"source": "lognormal", "mu": mu, "s2": s2})
    t, wq = np.polynomial.hermite.hermgauss(n_atoms)
    p = wq / math.sqrt(math.pi)
    keep = p >= min_prob
    vals = sign * np.exp(mu + math.sqrt(2.0 * s2) * t[keep])
    p = p[keep] / p[keep].sum()
    return DiscreteWeights(vals, p, {"source": "lognormal", "mu": mu, "s2": s2})


_BLOCKS = ("diagonal", "offdiagonal")


def _scale_factor(scale: Any, C: float, block: str) -> float:
    if isinstance(scale, str):
        s = check_choice("scale", scale, ("auto", "none", "c", "c2"))
        if s == "auto":
            s = "c" if block == "diagonal" else "c2"
        return {"none": 1.0, "c": C, "c2": C * C}[s]
    return check_real("scale", scale, 0.0, strict_min=True)


def _check_classes(n_classes: Any) -> float:
    if isinstance(n_classes, (float, np.floating)) and math.isinf(n_classes) and n_classes > 0:
        return math.inf
    return float(check_int("n_classes", n_classes, 2))


def _block_draws(C: int, sigma: float, block: str, n_vectors: int, seed: Any,
                 chunk_elems: int = 2 ** 22):
    """Yield ``(A, L)`` chunks: weights ``A`` (rows × C; rows = logit vectors) and the lognormal
    surrogates ``L`` (``e^{z_i − σ²/2}`` or ``e^{z_i + z_j − σ²}``), from iid ``N(0, σ² I_C)``
    logits. Off-diagonal pairs are ``(i, i+1 mod C)``: by exchangeability each has the law of
    ``p_1 p_2``."""
    from .models import softmax  # noqa: PLC0415

    rng = bk.default_rng(seed, np)
    rows = max(1, chunk_elems // C)
    done = 0
    while done < n_vectors:
        r = min(rows, n_vectors - done)
        Z = rng.standard_normal((r, C)) * sigma
        P = softmax(Z, axis=1)
        if block == "diagonal":
            A = P * (1.0 - P)
            L = np.exp(Z - 0.5 * sigma * sigma)
        else:
            A = -P * np.roll(P, -1, axis=1)
            L = -np.exp(Z + np.roll(Z, -1, axis=1) - sigma * sigma)
        yield A, L
        done += r


def _block_law(n_classes: Any, sigma: float, block: str, scale: Any, n_samples: int, seed: Any,
               n_atoms: int) -> DiscreteWeights:
    C = _check_classes(n_classes)
    sigma = check_real("sigma", sigma, 0.0)
    n_samples = check_int("n_samples", n_samples, 2)
    n_atoms = check_int("n_atoms", n_atoms, 2)
    if math.isinf(C):
        if isinstance(scale, str) and scale.lower() in ("auto", "c", "c2"):
            want = "c" if block == "diagonal" else "c2"
            if scale.lower() not in ("auto", want):
                raise ValueError(f"scale must be 'auto' or '{want.upper()}' for the large-C "
                                 f"limit of the {block} block, got {scale!r}")
        else:
            raise ValueError("scale must be 'auto' (C for the diagonal block, C2 for the "
                             f"off-diagonal block) when n_classes is infinite, got {scale!r}")
        if block == "diagonal":
            law = lognormal_weights(-0.5 * sigma ** 2, sigma ** 2, n_atoms)
        else:
            law = lognormal_weights(-sigma ** 2, 2 * sigma ** 2, n_atoms, sign=-1)
        law.info.update({"block": block, "n_classes": math.inf, "sigma": sigma})
        return law
    Ci = int(C)
    fac = _scale_factor(scale, C, block)
    n_vectors = -(-n_samples // Ci)
    parts = [A.ravel() * fac for A, _ in _block_draws(Ci, sigma, block, n_vectors, seed)]
    law = DiscreteWeights.from_samples(np.concatenate(parts), n_atoms)
    law.info.update({"block": block, "n_classes": Ci, "sigma": sigma, "scale": fac,
                     "n_vectors": n_vectors})
    return law


def diagonal_block_weights(n_classes: Any, sigma: float = 1.0, *, scale: Any = "auto",
                           n_samples: int = 2 ** 20, seed: Any = 0,
                           n_atoms: int = 64) -> DiscreteWeights:
    """Weight law of a diagonal Hessian block ``H_ii`` of the linear CE model at init:
    ``a = p_i (1 − p_i)``, ``p = softmax(z)``, ``z ~ N(0, σ² I_C)``, times ``scale``.

    Parameters
    ----------
    n_classes : int ≥ 2, or ``math.inf``
        ``C``. ``math.inf`` gives the large-C limit ``C·a → e^{z − σ²/2}``, ``z ~ N(0, σ²)``
        (Gauss–Hermite, :func:`lognormal_weights`; needs ``scale='auto'`` or ``'C'``).
    sigma : float ≥ 0
        Logit standard deviation (``V_ij ~ N(0, σ²/d)``, ``x ~ N(0, I)``).
    scale : {"auto", "none", "C", "C2"} or float > 0
        Multiply ``a`` by 1, ``C`` or ``C²`` (``"auto"``: ``C``), or by a given number.
    n_samples : int
        Number of weight draws: ``⌈n_samples / C⌉`` logit vectors, each giving all ``C``
        exchangeable coordinates (only logits are drawn — no data matrix).
    seed : optional
        Seed of the logit draws (default 0: the law is reproducible).
    n_atoms : int
        Compression of the sample (:meth:`DiscreteWeights.from_samples`; keeps ``E a``, ``E a²``
        of the sample exactly).

    Returns
    -------
    DiscreteWeights
        Usable as ``WeightedMP(γ, law)``; ``info`` records ``C, σ``, the scale and the sample's
        first two moments.
    """
    return _block_law(n_classes, sigma, "diagonal", scale, n_samples, seed, n_atoms)


def offdiagonal_block_weights(n_classes: Any, sigma: float = 1.0, *, scale: Any = "auto",
                              n_samples: int = 2 ** 20, seed: Any = 0,
                              n_atoms: int = 64) -> DiscreteWeights:
    """Weight law of an off-diagonal block ``H_ij`` (``i ≠ j``): ``a = −p_i p_j`` (negative),
    times ``scale`` (``"auto"``: ``C²``). ``math.inf`` classes give the limit
    ``C²·a → −e^{z_i + z_j − σ²}`` (log-variance ``2σ²``). Use ``.scaled(-1)`` for ``−H_ij``.
    Other parameters as in :func:`diagonal_block_weights`."""
    return _block_law(n_classes, sigma, "offdiagonal", scale, n_samples, seed, n_atoms)


@dataclass(frozen=True)
class WeightMoments:
    """Moments ``E[a^k]`` of a block weight law with Monte Carlo standard errors.

    Attributes
    ----------
    orders : tuple of int
    values : numpy.ndarray
        Estimates of ``E[a^k]`` (``a`` scaled as requested, with its sign).
    stderr : numpy.ndarray
        Standard errors (batch means over logit vectors; 0 for the exact large-C limit).
    limit : numpy.ndarray
        The large-C limits of the same (scaled) moments, for reference.
    n_vectors : int
        Number of logit vectors drawn.
    """

    orders: tuple
    values: np.ndarray
    stderr: np.ndarray
    limit: np.ndarray
    n_vectors: int


def block_weight_moments(n_classes: Any, sigma: float = 1.0, *, block: str = "diagonal",
                         scale: Any = "auto", orders: Sequence[int] = (1, 2),
                         n_samples: int = 2 ** 22, seed: Any = 0,
                         control_variate: bool = True) -> WeightMoments:
    """``E[a^k]`` at finite ``C`` for the diagonal (``a = p_i(1−p_i)``) or off-diagonal
    (``a = −p_i p_j``) block weight, scaled as in :func:`diagonal_block_weights`.

    Monte Carlo over ``⌈n_samples/C⌉`` iid logit vectors ``z ~ N(0, σ² I_C)``, using all ``C``
    exchangeable coordinates (pairs ``(i, i+1 mod C)`` off the diagonal) of each vector. The
    standard error comes from batch means over vectors (so the dependence between coordinates of
    one vector is accounted for). With ``control_variate=True`` the lognormal surrogate
    ``X = (s·e^{z_i − σ²/2}/C)^k`` (diagonal) or ``(−s·e^{z_i+z_j−σ²}/C²)^k`` (off-diagonal), whose
    mean is known exactly, is subtracted with the regression coefficient estimated from the same
    batches: at large ``C`` the two are almost equal, so the error shrinks by orders of magnitude.
    ``n_classes = math.inf`` returns the exact limits ``e^{k(k−1)σ²/2}`` / ``(−1)^k e^{k(k−1)σ²}``
    (times the scale convention) with zero error.
    """
    block = check_choice("block", block, _BLOCKS)
    C = _check_classes(n_classes)
    sigma = check_real("sigma", sigma, 0.0)
    n_samples = check_int("n_samples", n_samples, 4)
    ks = tuple(check_int("orders", k, 1) for k in orders)
    if not ks:
        raise ValueError("orders must be a non-empty sequence of integers >= 1")
    sgn = 1.0 if block == "diagonal" else -1.0
    lvar = sigma ** 2 if block == "diagonal" else 2 * sigma ** 2
    if math.isinf(C):
        _block_law(C, sigma, block, scale, 2, 0, 2)  # validates scale for the limit
        lim = np.array([sgn ** k * math.exp(k * (k - 1) * lvar / 2) for k in ks])
        return WeightMoments(ks, lim, np.zeros(len(ks)), lim, 0)
    Ci = int(C)
    fac = _scale_factor(scale, C, block)
    unit = fac / (Ci if block == "diagonal" else Ci * Ci)  # scale relative to the limit's
    lim = np.array([(sgn * unit) ** k * math.exp(k * (k - 1) * lvar / 2) for k in ks])
    n_vectors = max(2, -(-n_samples // Ci))
    Yb, Xb = [], []
    for A, L in _block_draws(Ci, sigma, block, n_vectors, seed):
        Yb.append(np.stack([np.mean((fac * A) ** k, axis=1) for k in ks], axis=1))
        Xb.append(np.stack([np.mean((unit * np.abs(L)) ** k, axis=1) * sgn ** k for k in ks],
                           axis=1))
    Y = np.concatenate(Yb)
    X = np.concatenate(Xb)
    B = Y.shape[0]
    est, se = np.empty(len(ks)), np.empty(len(ks))
    for j in range(len(ks)):
        y, x = Y[:, j], X[:, j]
        beta = 0.0
        if control_variate and B > 2:
            vx = float(np.var(x, ddof=1))
            if vx > 0:
                beta = float(np.cov(y, x, ddof=1)[0, 1] / vx)
        resid = y - beta * x
        est[j] = float(resid.mean() + beta * lim[j])
        se[j] = float(resid.std(ddof=1) / math.sqrt(B))
    return WeightMoments(ks, est, se, lim, B)
