"""The base of the spectral laws: validation of evaluation points, the scipy.stats-like public
surface, and the generic machinery that turns a density on intervals (plus an atom at 0) into
cdf, sf, ppf, isf, rvs and moments.

A law subclasses :class:`SpectralLaw` and gives its support intervals (:attr:`intervals`), its
atom at 0 (``_atom``, default none) and its density ``_pdf(xp, x)``; nothing else is needed.
The cdf is then a piecewise-Chebyshev table of the density in the angle coordinate of each
interval (:mod:`rmt.laws._table`) and the quantiles are bracketed Newton on that table. A law
that knows more overrides ``_pieces`` (closed-form intervals), ``_stieltjes`` and ``moment``.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from .. import backend as bk
from ..validation import check_int
from ._table import ChebInterval, build_tables

# ---------------------------------------------------------------------------------------------
# evaluation points
# ---------------------------------------------------------------------------------------------


def real_points(x: Any, name: str, *, nan_check: bool = True) -> tuple[ModuleType, Any]:
    """``x`` as a float64 array of its own namespace. Complex input and (unless the caller checks
    its result instead: ``nan_check=False``) NaN raise ValueError naming ``name``."""
    xp = np if type(x) is np.ndarray else bk.get_xp(x)  # ndarray: no namespace lookup
    if xp.iscomplexobj(x):
        raise ValueError(f"{name} must be real numbers, got complex values")
    try:
        arr = xp.asarray(x, dtype=xp.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be real numbers, got {type(x).__name__}: {exc}") from None
    if nan_check and bool(xp.any(xp.isnan(arr))):
        raise ValueError(f"{name} must not contain NaN")
    return xp, arr


def prob_points(q: Any, name: str = "q") -> tuple[ModuleType, Any]:
    """Probabilities in [0, 1] as a float64 array; anything else raises ValueError."""
    xp, arr = real_points(q, name)
    if bool(xp.any((arr < 0) | (arr > 1))):
        raise ValueError(f"{name} must contain probabilities in [0, 1]")
    return xp, arr


def complex_points(z: Any, name: str = "z") -> tuple[ModuleType, Any]:
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


def ret(a: Any) -> Any:
    """0-d arrays come back as scalars (NumPy) — the scipy.stats convention."""
    return a[()] if getattr(a, "ndim", 1) == 0 else a


def check_order(k: Any) -> int:
    return check_int("k", k, 0)


# ---------------------------------------------------------------------------------------------
# the base class
# ---------------------------------------------------------------------------------------------

class SpectralLaw:
    """Shared public surface and the generic density → cdf table → quantile machinery.

    Subclasses give :attr:`intervals`, ``_atom`` and ``_pdf(xp, x)`` (on validated float64
    arrays of namespace ``xp``); optionally ``_pieces`` (intervals with closed-form masses:
    ``lo, hi, mass, G_of_x, S_of_x, invert``), ``_stieltjes(xp, z)`` and ``moment(k)``. The
    generic table reaches cdf errors of a few eps (2.2e-16 and a ppf backward error of 3.3e-16
    measured on a semicircle given by its density alone, tests/test_laws_checks.py).
    """

    _atom: float = 0.0
    _cdf_tol: float = 1e-12
    _max_panels: int = 4096
    _tables: list | None = None

    # --- support --------------------------------------------------------------------------
    @property
    def intervals(self) -> tuple[tuple[float, float], ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def support(self, include_atom: bool = False) -> tuple[float, float]:
        """``(lowest edge, highest edge)`` of the absolutely continuous part.

        The atom at 0, if any, is left out by default: these are the edges that plots, histogram
        grids, edge scalings and fits need. With ``include_atom=True`` the range is widened to
        hold the atom, which gives scipy.stats' meaning of ``support()``: ``ppf(0)`` and
        ``isf(1)`` are its first end, ``ppf(1)`` and ``isf(0)`` its second, and the cdf is 0
        strictly below it.
        """
        ivs = self.intervals
        lo, hi = ivs[0][0], ivs[-1][1]
        if include_atom and self._atom > 0:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        return (lo, hi)

    @property
    def atom(self) -> float:
        """Mass of the atom at 0 (0.0 when there is none)."""
        return self._atom

    # --- scipy.stats-like evaluation -------------------------------------------------------
    def pdf(self, x: Any) -> Any:
        """Density of the absolutely continuous part (integrates to ``1 − atom``).

        Out-of-support points give 0; NaN raises ValueError. NumPy or CuPy in, same out.
        """
        xp, a = real_points(x, "x")
        return ret(self._pdf(xp, a))

    def logpdf(self, x: Any) -> Any:
        """``log pdf(x)`` (``−inf`` outside the support)."""
        xp, a = real_points(x, "x")
        with np.errstate(divide="ignore"):
            return ret(xp.log(self._pdf(xp, a)))

    def cdf(self, x: Any) -> Any:
        """``P(λ ≤ x)``, including the atom at 0 (a jump of ``atom`` there). Exactly 0 below
        ``support(include_atom=True)[0]``, exactly 1 from its upper end on."""
        xp, a = real_points(x, "x")
        return ret(self._cdf(xp, a))

    def sf(self, x: Any) -> Any:
        """Survival function ``P(λ > x)``, computed from the upper end (not as ``1 − cdf``), so
        that the upper tail keeps its accuracy relative to the mass near the edge."""
        xp, a = real_points(x, "x")
        return ret(self._sf(xp, a))

    def ppf(self, q: Any) -> Any:
        """Quantile ``inf{x : cdf(x) ≥ q}`` for ``q`` in [0, 1] (others raise ValueError).

        ``ppf(0)`` and ``ppf(1)`` are the ends of ``support(include_atom=True)``; levels on the
        atom at 0, ``cdf(0⁻) < q ≤ cdf(0)``, map to 0; a level at the boundary of two support
        intervals maps to the upper edge of the lower one. Within an interval the level is
        solved by bracketed Newton from the nearer end in mass (see the law's accuracy notes
        for the backward error ``|cdf(ppf(q)) − q|``); ppf is non-decreasing.
        """
        xp, a = prob_points(q, "q")
        return ret(self._ppf(xp, a))

    def isf(self, q: Any) -> Any:
        """Inverse survival function ``inf{x : sf(x) ≤ q}`` (``= ppf(1 − q)`` without the rounding
        of ``1 − q``: small ``q`` keep their relative accuracy); ``isf(0)`` and ``isf(1)`` are
        the upper and lower ends of ``support(include_atom=True)``; isf is non-increasing."""
        xp, a = prob_points(q, "q")
        return ret(self._isf(xp, a))

    def stieltjes(self, z: Any) -> Any:
        """Stieltjes transform ``m(z) = ∫ dμ(λ)/(λ − z)`` (complex array, same shape as ``z``).

        Branch: ``Im m > 0`` for ``Im z > 0`` and ``m(z̄) = conj(m(z))``; a real ``z`` is read as
        ``z + i0`` (so inside the support ``Im m(x + i0) = π · pdf(x)``). At ``z = 0`` where the law
        has an atom or a hard edge, ``|m| = ∞`` and ``complex(0, inf)`` is returned (no warning):
        the imaginary part is the limit from the upper half-plane, the real part is set to 0.
        """
        xp, a = complex_points(z, "z")
        return ret(self._stieltjes(xp, a))

    # --- moments ------------------------------------------------------------------------------
    def moment(self, k: int) -> float:
        """``E[λ^k]`` by quadrature of the cdf table (the atom at 0 adds nothing for k ≥ 1);
        laws that know their moments override this."""
        k = check_order(k)
        if k == 0:
            return 1.0
        return float(sum(iv.moment(k) for iv in self._pieces()))

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
        return out.reshape(shape) if shape else ret(out.reshape(()))

    def _sample(self, xp: ModuleType, u: Any) -> Any:
        return self._ppf(xp, u)

    # --- the generic machinery: pieces (intervals with cdf tables) and the atom ------------
    def _pdf(self, xp, x):  # pragma: no cover
        raise NotImplementedError

    def _stieltjes(self, xp, z):  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} has no Stieltjes transform")

    def _table_density(self, xs: np.ndarray) -> np.ndarray:
        """The density at the table nodes (host arrays); a hook for diagnostics."""
        return self._pdf(np, xs)

    def _new_intervals(self) -> list:
        return [ChebInterval(lo, hi) for lo, hi in self.intervals]

    def _pieces(self) -> list:
        """The support intervals with their cdf tables (built on first use)."""
        if self._tables is None:
            ivs = self._new_intervals()
            self._cdf_err = build_tables(ivs, self._table_density, 1.0 - self._atom,
                                         self._cdf_tol, self._max_panels)
            self._set_pieces(ivs)
        return self._tables

    def _set_pieces(self, ivs: list) -> None:
        self._base = np.concatenate([[0.0], np.cumsum([iv.mass for iv in ivs])[:-1]])
        self._lo_end = min(ivs[0].lo, 0.0) if self._atom > 0 else ivs[0].lo
        self._hi_end = max(ivs[-1].hi, 0.0) if self._atom > 0 else ivs[-1].hi
        self._tables = ivs

    def _cdf(self, xp: ModuleType, x: Any) -> Any:
        ivs = self._pieces()
        shape = x.shape
        x = x.ravel()
        F = xp.zeros(x.shape)
        for i, iv in enumerate(ivs):
            below = self._base[i]
            F = xp.where(x > iv.lo, below, F)
            idx = xp.nonzero((x > iv.lo) & (x < iv.hi))[0]
            if idx.size:
                F[idx] = below + iv.G_of_x(xp, x[idx])
            F = xp.where(x >= iv.hi, below + iv.mass, F)
        if self._atom > 0:
            F = F + xp.where(x >= 0, self._atom, 0.0)
        F = xp.where(x >= self._hi_end, 1.0, xp.clip(F, 0.0, 1.0))
        return F.reshape(shape)

    def _sf(self, xp: ModuleType, x: Any) -> Any:
        ivs = self._pieces()
        shape = x.shape
        x = x.ravel()
        S = xp.zeros(x.shape)
        masses = [iv.mass for iv in ivs]
        tail = np.concatenate([np.cumsum(masses[::-1])[::-1], [0.0]])
        for i in range(len(ivs) - 1, -1, -1):
            iv = ivs[i]
            above = tail[i + 1]
            S = xp.where(x < iv.hi, above, S)
            idx = xp.nonzero((x > iv.lo) & (x < iv.hi))[0]
            if idx.size:
                S[idx] = above + iv.S_of_x(xp, x[idx])
            S = xp.where(x <= iv.lo, above + iv.mass, S)
        if self._atom > 0:
            S = S + xp.where(x < 0, self._atom, 0.0)
        S = xp.where(x < self._lo_end, 1.0, xp.clip(S, 0.0, 1.0))
        return S.reshape(shape)

    def _pieces_in_order(self) -> list:
        """``(kind, mass below, mass, mass above)`` left to right: the intervals (kind = index)
        and the atom at 0 (kind = −1) where it belongs. The masses below and above are prefix
        and suffix sums, so that the outermost ones are exactly 0."""
        kinds = []
        atom_done = self._atom <= 0
        for i, iv in enumerate(self._pieces()):
            if not atom_done and iv.lo >= 0:
                kinds.append((-1, self._atom))
                atom_done = True
            kinds.append((i, iv.mass))
        if not atom_done:
            kinds.append((-1, self._atom))
        below, above = [0.0], [0.0]
        for _, m in kinds[:-1]:
            below.append(below[-1] + m)
        for _, m in kinds[:0:-1]:
            above.append(above[-1] + m)
        return [(k, b, m, a) for (k, m), b, a in zip(kinds, below, above[::-1])]

    def _quantile(self, xp: ModuleType, q: Any, upper: bool) -> Any:
        """``inf{x : cdf(x) ≥ q}`` (``upper``: ``inf{x : sf(x) ≤ q}``). A piece with masses
        ``(below, mass, above)`` holds the levels ``below < q ≤ below + mass`` (``upper``:
        ``above ≤ q < above + mass``); inside an interval its own ``invert`` solves for ``x``."""
        ivs = self._pieces()
        pieces = self._pieces_in_order()
        shape = q.shape
        q = q.ravel()
        out = xp.full(q.shape, math.nan)
        todo = (q > 0) & (q < 1)
        for kind, below, mass, above in (pieces[::-1] if upper else pieces):
            sel = todo & ((q < above + mass) if upper else (q <= below + mass))
            idx = xp.nonzero(sel)[0]
            if idx.size:
                if kind == -1:
                    out[idx] = 0.0
                else:
                    tgt = xp.clip(q[idx] - (above if upper else below), 0.0, ivs[kind].mass)
                    out[idx] = ivs[kind].invert(xp, tgt, upper)
                todo &= ~sel
        first, last = (self._hi_end, self._lo_end) if upper else (self._lo_end, self._hi_end)
        out = xp.where(q == 0, first, out)
        # q = 1 and levels that rounding puts beyond the total mass: the far end
        return xp.where(xp.isnan(out), last, out).reshape(shape)

    def _ppf(self, xp: ModuleType, q: Any) -> Any:
        return self._quantile(xp, q, upper=False)

    def _isf(self, xp: ModuleType, q: Any) -> Any:
        return self._quantile(xp, q, upper=True)
