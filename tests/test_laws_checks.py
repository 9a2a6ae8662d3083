"""SciPy's generic continuous-distribution checks, re-implemented for laws with an atom at 0 and
run against 30-digit mpmath references (tests/laws_reference.py).

The checks follow scipy/stats/tests (``check_cdf_ppf``, ``check_sf_isf``, ``check_cdf_sf``,
``check_ppf_isf``, ``check_pdf``, ``check_pdf_logpdf``, ``check_edge_support``,
``check_normalization``, ``check_moment``, ``check_mean_expect``/``check_var_expect``, and the new
infrastructure's ``check_nans_and_edges`` and complement tests), with three changes:

* atom-aware: a quantile ``x = ppf(q)`` passes when ``F(x⁻) ≤ q ≤ F(x)`` (``F(x⁻) = F(x)`` except
  at the atom), and the support's ends are those of :meth:`support(include_atom=True)`;
* house rules instead of NaN: a level outside [0, 1], a NaN or a complex point raises ValueError;
* every tolerance is derived (rounding level, the law's own error estimate, or a condition
  number) and is far tighter than SciPy's ``decimal=5``; quantiles are checked by their backward
  error at levels within a few ulp of 0, 1, the atom and every piece and table-panel boundary.

The grid is the one of issue 21: MP at ratio ∈ {1e-4, 0.1, 0.5, 1, 2, 10, 1e4} × scale ∈
{0.5, 1, 3} and 14 weighted laws (two-point {1, 4} at γ from 1e-4 to 1e4, {−1, 2}, {0, 1}, point
masses, 20,000 lognormal samples), plus Hypothesis-drawn laws and a law given by its density and
support alone (the generic machinery).

Tolerances (EPS = 2.2e-16; each derived where it is used):
* cdf/sf: the rounding level of the closed form (MP: 8 EPS) or the table's own error estimate
  ``cdf_error`` (weighted MP) plus 8 EPS of evaluation.
* backward error of ppf/isf: the cdf tolerance plus the condition term ``pdf(x)·δx`` for the
  rounding ``δx = 4 EPS (|x| + width)`` of the returned float.
* pdf: 4 EPS relative, plus the conditioning on the rounded edges (MP: ``δedge/dist``), plus for
  weighted MP the first-order error of the Newton solve, ``residual·|v|/|z'(v)|``.
"""

from __future__ import annotations

import functools
import math
import warnings

import mpmath as mpm
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import special

from laws_reference import reference_for
from rmt.laws import MarchenkoPastur, WeightedMP
from rmt.laws._base import SpectralLaw
from rmt.testing.strategies import weight_laws

EPS = float(np.finfo(float).eps)

# --------------------------------------------------------------------------------------------
# the grid of issue 21
# --------------------------------------------------------------------------------------------

MP_GRID = [(g, s) for g in (1e-4, 0.1, 0.5, 1.0, 2.0, 10.0, 1e4) for s in (0.5, 1.0, 3.0)]
TWO_POINT = ([1.0, 4.0], [0.5, 0.5])


def _lognormal_sample() -> np.ndarray:
    return np.exp(0.8 * np.random.default_rng(20260).standard_normal(20_000) - 0.32)


W_GRID = {
    **{f"W(γ={g:g}, {{1,4}})": (lambda g=g: WeightedMP(g, TWO_POINT))
       for g in (1e-4, 1e-2, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1e4)},
    "W(γ=0.5, {-1,2})": lambda: WeightedMP(0.5, ([-1.0, 2.0], [0.5, 0.5])),
    "W(γ=2, {-1,2})": lambda: WeightedMP(2.0, ([-1.0, 2.0], [0.5, 0.5])),
    "W(γ=0.5, {0,1})": lambda: WeightedMP(0.5, ([0.0, 1.0], [0.5, 0.5])),   # hard edge at 0
    "W(γ=2, {0,1})": lambda: WeightedMP(2.0, ([0.0, 1.0], [0.5, 0.5])),     # atom 3/4
    "W(γ=0.5, δ3)": lambda: WeightedMP(0.5, 3.0),                           # point mass
    "W(γ=0.5, lognormal 20,000)": lambda: WeightedMP(0.5, _lognormal_sample()),
}
# the point mass −2 flips MP to the negative axis
W_GRID["W(γ=2, δ-2)"] = lambda: WeightedMP(2.0, -2.0)
assert len(W_GRID) == 16  # 14 of issue 21 + {−1, 2} at γ = 2 and δ₋₂ (negative support)

LAWS = {**{f"MP(γ={g:g}, σ²={s:g})": (lambda g=g, s=s: MarchenkoPastur(g, s))
           for g, s in MP_GRID}, **W_GRID}
NAMES = list(LAWS)


@functools.lru_cache(maxsize=None)
def law_of(name: str):
    return LAWS[name]()


@functools.lru_cache(maxsize=None)
def ref_of(name: str):
    return reference_for(law_of(name))


# --------------------------------------------------------------------------------------------
# tolerances (see the module docstring)
# --------------------------------------------------------------------------------------------

def cdf_tol(law) -> float:
    """Absolute accuracy of cdf/sf: MP's closed form sums terms of O(1) in θ (8 EPS of
    rounding); weighted MP adds its table's own error estimate."""
    return 8 * EPS + (law.cdf_error if isinstance(law, WeightedMP) else 0.0)


def _width(law) -> float:
    lo, hi = law.support(include_atom=True)
    return hi - lo


def hard_edge_at_0(law) -> bool:
    """An inverse-square-root edge at 0 (MP at γ = 1; weighted MP with P(w ≠ 0) = γ)."""
    return law.atom == 0 and any(0.0 in iv for iv in law.intervals) and (
        law._hard0 if isinstance(law, WeightedMP) else law.ratio == 1.0)


def cond_x(law, ref, x: float) -> float:
    """``pdf(x) · δx``: what the rounding of a returned float ``x`` moves the cdf by."""
    return float(ref.pdf(x)) * 4 * EPS * (abs(x) + _width(law))


# --------------------------------------------------------------------------------------------
# evaluation points
# --------------------------------------------------------------------------------------------

def _ulps(v: float, steps: tuple[int, ...]) -> list[float]:
    """``v`` and its n-th float neighbours on both sides for every n in ``steps``."""
    out = [v]
    for n in steps:
        lo = hi = v
        for _ in range(n):
            lo, hi = np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)
        out += [float(lo), float(hi)]
    return out


# the default run looks 1 and 40 ulp away; the slow run at 1, 2, 3, 5, 10 and 40
ULPS = {False: (1, 40), True: (1, 2, 3, 5, 10, 40)}


@functools.lru_cache(maxsize=None)
def x_points(name: str, full: bool = False) -> np.ndarray:
    """Points where cdf, sf and pdf are compared with the reference: per interval 5 (9 in the
    full run) Chebyshev points in the angle, so that both edges are approached within 2e-2
    (1e-3) of the width, the edges and their neighbours; 0 and its neighbours; a point in every
    gap and one beyond each end."""
    law = law_of(name)
    pts = [0.0, -5e-324, 5e-324]
    ivs = law.intervals
    n = 9 if full else 5
    for lo, hi in ivs:
        th = np.pi * (np.arange(n) + 0.5) / n
        pts += list(lo + (hi - lo) * np.sin(th / 2) ** 2)
        for e in (lo, hi):
            pts += _ulps(e, (1,))
    for (_, a), (b, _) in zip(ivs[:-1], ivs[1:]):
        pts.append(0.5 * (a + b))
    lo, hi = law.support(include_atom=True)
    pts += [lo - 0.1 * (hi - lo) - 1.0, hi + 0.1 * (hi - lo) + 1.0]
    return np.unique(np.array(pts))


def special_levels(law, full: bool = True) -> list[float]:
    """0, 1, 1/2, the atom's and every piece's boundaries, and for tabulated laws the boundaries
    of table panels where the panel search switches: the first and last of every interval (the
    full run: the first two, the last two and one in the middle)."""
    levels = [0.0, 1.0, 0.5]
    for _, below, mass, above in law._pieces_in_order():
        levels += [below, below + mass, 1.0 - above]
    for i, iv in enumerate(law._pieces()):
        cum = getattr(iv, "cum", None)
        if cum is not None:
            base = sum(p.mass for p in law._pieces()[:i]) + (law.atom if iv.lo >= 0 else 0)
            pick = [1, 2, len(cum) // 2, -3, -2] if full else [1, -2]
            levels += [base + float(cum[j]) for j in pick if 0 < j % len(cum) < len(cum) - 1]
    return sorted({min(max(v, 0.0), 1.0) for v in levels})


@functools.lru_cache(maxsize=None)
def q_points(name: str, full: bool = False) -> np.ndarray:
    law = law_of(name)
    qs = [0.001, 0.1, 0.9, 0.999, 1e-300, 1e-17, 1e-12, 1e-4, 1 - 1e-12, 1 - 1e-4]
    for v in special_levels(law, full):
        qs += _ulps(v, ULPS[full])
    qs = np.array(qs)
    return np.unique(qs[(qs >= 0) & (qs <= 1)])


# --------------------------------------------------------------------------------------------
# the checks (one function each, reused by the grid, the Hypothesis laws and the generic law)
# --------------------------------------------------------------------------------------------

def check_edge_support(law) -> None:
    """scipy's check_edge_support, atom-aware; and pdf/logpdf at and beyond the edges
    (check_nans_and_edges)."""
    a, b = law.support(include_atom=True)
    below = float(np.nextafter(a, -np.inf))
    np.testing.assert_equal(law.cdf([below, b]), [0.0, 1.0])
    np.testing.assert_equal(law.sf([below, b]), [1.0, 0.0])
    np.testing.assert_equal(law.cdf(a), law.atom if a == 0 else 0.0)
    np.testing.assert_equal(law.ppf([0.0, 1.0]), [a, b])
    np.testing.assert_equal(law.isf([0.0, 1.0]), [b, a])
    for bad in ([-1.0, 0.5], [0.5, 2.0], [np.nan]):
        with pytest.raises(ValueError, match="q must"):
            law.ppf(bad)
        with pytest.raises(ValueError, match="q must"):
            law.isf(bad)
    # the density is 0 (logpdf −inf) outside and at every soft edge; inf at a hard edge at 0
    for lo, hi in law.intervals:
        for e in (lo, hi):
            hard = e == 0 and hard_edge_at_0(law)
            assert law.pdf(e) == (math.inf if hard else 0.0), (e, law.pdf(e))
    out = [float(np.nextafter(law.support()[0], -np.inf)) - 1.0, law.support()[1] * 1.5 + 1.0]
    np.testing.assert_equal(law.pdf(out), [0.0, 0.0])
    np.testing.assert_equal(law.logpdf(out), [-math.inf, -math.inf])
    # each piece boundary: cdf at an interval edge is the exact sum of the masses left of it
    for kind, below_, mass, above in law._pieces_in_order():
        if kind >= 0:
            iv = law._pieces()[kind]
            assert law.cdf(iv.lo) == pytest.approx(below_, abs=4 * EPS)
            assert law.sf(iv.hi) == pytest.approx(above, abs=4 * EPS)


def check_points_and_shapes(law) -> None:
    """The input validation and shape conventions of scipy.stats (0-d in, scalar out)."""
    for meth in ("pdf", "logpdf", "cdf", "sf"):
        f = getattr(law, meth)
        assert np.isscalar(f(0.5)) and np.asarray(f(0.5)).dtype == np.float64
        assert f(np.ones((2, 3))).shape == (2, 3)
        with pytest.raises(ValueError, match="x must not contain NaN"):
            f([0.5, np.nan])
        for z in (1 + 5j, np.array([1 + 5j]), np.array([1 + 0j])):   # issue 21, item 7
            with pytest.raises(ValueError, match="x must be real"):
                f(z)
    for meth in ("ppf", "isf"):
        f = getattr(law, meth)
        assert np.isscalar(f(0.5))
        assert f(np.full((2, 3), 0.5)).shape == (2, 3)


def check_cdf_sf(law, ref, xs) -> dict:
    """cdf and sf against the reference (in units of their tolerance: the cdf's own accuracy
    plus the condition term of the rounded point and edges), and scipy's check_cdf_sf."""
    tol = cdf_tol(law)
    F, S = law.cdf(xs), law.sf(xs)
    Fr = np.array([float(ref.cdf(x)) for x in xs])
    Sr = np.array([float(ref.sf(x)) for x in xs])
    bad = (np.abs(F - Fr) > tol) | (np.abs(S - Sr) > tol)   # the condition term is needed
    t = tol + np.array([cond_x(law, ref, x) if b else 0.0 for x, b in zip(xs, bad)])
    err = {"cdf": float(np.max(np.abs(F - Fr))), "sf": float(np.max(np.abs(S - Sr))),
           "cdf+sf-1": float(np.max(np.abs(F + S - 1)))}
    assert np.all(np.abs(F - Fr) <= t) and np.all(np.abs(S - Sr) <= t), (err, tol)
    assert err["cdf+sf-1"] <= 2 * tol + EPS, err
    assert np.all(np.diff(F) >= 0) and np.all(np.diff(S) <= 0)
    return err


def newton_dv(ref, v, residual: float) -> float:
    """How far a Newton iterate with relative residual ``|z(v) − z|/|v| = residual`` can be from
    the root: ``residual·|v|/|z'(v)|``, or near a square-root edge (``z'(v) → 0``) the quadratic
    model's ``√(2 residual |v| / |z''(v)|)``; plus 8 EPS of rounding."""
    with mpm.workdps(30):
        av = abs(complex(v))
        dz, d2 = abs(complex(ref.dz(v))), abs(complex(ref.d2z(v)))
    lin = residual * av / dz if dz > 0 else math.inf
    quad = math.sqrt(2 * residual * av / d2) if d2 > 0 else math.inf
    return min(lin, quad) + 8 * EPS * av


def pdf_tol(law, ref, x: float, residual: float) -> float:
    """Absolute accuracy of pdf(x): 4 EPS relative, plus how much the density varies within the
    rounding δx = 4 EPS (|x| + width) of x and of the edges (large at a square-root edge), plus
    for weighted MP the error of the Newton solve that stopped at ``residual`` (newton_dv)."""
    f = float(ref.pdf(x))
    dx = 4 * EPS * (abs(x) + _width(law))
    tol = 4 * EPS * f + abs(float(ref.pdf(x + dx)) - float(ref.pdf(x - dx)))
    # within ~1e-300 of an edge the product under the square root is subnormal: its last bit
    # (2^-1074) is a relative error of 2^-1074 / product
    prod = min(abs((x - lo) * (hi - x)) for lo, hi in law.intervals)
    tol += f * 2.0 ** -1074 / max(prod, 2.0 ** -1074)
    if isinstance(law, WeightedMP) and residual > 0:
        with mpm.workdps(30):
            if f > 0:
                v = ref._v_inside(mpm.mpf(x))
            else:  # rmt solved just outside the reference support: v is the edge's
                _, _, v = min((abs(e - x), e, v) for lo, hi, vlo, vhi in ref.edges
                              for e, v in ((lo, vlo), (hi, vhi)))
            tol += 3 * newton_dv(ref, v, residual) / (math.pi * abs(complex(v)) ** 2)
    return tol


def check_pdf_reference(law, ref, xs) -> float:
    """pdf against the reference; returns the largest error in units of its tolerance."""
    if isinstance(law, WeightedMP):
        f, res = law.pdf(xs, return_residual=True)
    else:
        f, res = law.pdf(xs), np.zeros(len(xs))
    worst = 0.0
    for x, fx, r in zip(xs, f, res):
        fr = float(ref.pdf(x))
        if math.isinf(fx):
            continue
        tol = pdf_tol(law, ref, float(x), float(r))
        err = abs(fx - fr)
        assert err <= tol, (x, fx, fr, tol)
        worst = max(worst, err / tol if tol else 0.0)
    return worst


def check_pdf_derivative(law) -> None:
    """scipy's check_pdf: pdf at the median against the central difference of the cdf.

    Error of the difference quotient: h²|f''|/6 (truncation; f'' estimated by a second
    difference at 100 h) plus 2·cdf_tol/(2h) (rounding of the cdf), doubled as a margin."""
    x = float(law.ppf(0.5))
    W = _width(law)
    if not any(lo + 1e-3 * W < x < hi - 1e-3 * W for lo, hi in law.intervals):
        lo, hi = max(law.intervals, key=lambda iv: iv[1] - iv[0])  # the median is the atom
        x = 0.5 * (lo + hi)                                          # or at an edge
    lo, hi = next(iv for iv in law.intervals if iv[0] <= x <= iv[1])
    h = 1e-6 * (hi - lo)
    H = 100 * h
    d2 = abs(float(law.pdf(x + H)) - 2 * float(law.pdf(x)) + float(law.pdf(x - H))) / H ** 2
    fd = (float(law.cdf(x + h)) - float(law.cdf(x - h))) / (2 * h)
    tol = 2 * (h * h * d2 / 6 + cdf_tol(law) / h) + 4 * EPS * float(law.pdf(x))
    assert abs(fd - float(law.pdf(x))) <= tol, (fd, float(law.pdf(x)), tol)
    # check_pdf_logpdf: log(pdf) is logpdf at the (0.2, ..., 0.8) quantiles
    xq = law.ppf(np.linspace(0.2, 0.8, 7))
    f = law.pdf(xq)
    keep = (f > 0) & np.isfinite(f)
    np.testing.assert_array_equal(np.log(f[keep]), law.logpdf(xq)[keep])


def check_quantiles(law, ref, qs) -> dict:
    """Backward error of ppf and isf at every level of ``qs`` (atom-aware)."""
    tol = cdf_tol(law)
    worst = {"ppf": 0.0, "isf": 0.0}
    xs, ys = law.ppf(qs), law.isf(qs)
    for q, x, y in zip(qs, xs, ys):
        x, y = float(x), float(y)
        lo, hi = float(ref.cdf_left(x)), float(ref.cdf(x))  # F(x⁻) ≤ q ≤ F(x)
        err = max(lo - q, q - hi, 0.0)
        assert err <= tol or err <= tol + cond_x(law, ref, x), ("ppf", q, x, lo, hi, tol)
        worst["ppf"] = max(worst["ppf"], err)
        s_hi = float(ref.sf(y)) + (ref.atom if y == 0 else 0.0)   # sf(y⁻)
        s_lo = float(ref.sf(y))                                    # sf(y) ≤ q ≤ sf(y⁻)
        err = max(s_lo - q, q - s_hi, 0.0)
        assert err <= tol or err <= tol + cond_x(law, ref, y), ("isf", q, y, s_lo, s_hi, tol)
        worst["isf"] = max(worst["isf"], err)
    return worst


def check_roundtrips(law, ref) -> None:
    """scipy's check_cdf_ppf ([0.001, 0.5, 0.999]), check_sf_isf ([0.1, 0.5, 0.9]) and
    check_ppf_isf ([0.1, 0.9]) through rmt's own cdf/sf (atom-aware), and the new
    infrastructure's complement tests: at p = 1e-4, 1e-3 the tails are relatively accurate."""
    tol = cdf_tol(law)
    for q in (0.001, 0.5, 0.999):
        x = float(law.ppf(q))
        t = tol + cond_x(law, ref, x) + tol      # rmt's cdf adds its own error once more
        assert float(law.cdf(x)) - (law.atom if x == 0 else 0) - t <= q <= float(law.cdf(x)) + t
    for q in (0.1, 0.5, 0.9):
        y = float(law.isf(q))
        t = 2 * tol + cond_x(law, ref, y)
        assert float(law.sf(y)) - t <= q <= float(law.sf(y)) + (law.atom if y == 0 else 0) + t
    for p in (0.1, 0.9):  # isf(p) and ppf(1 − p) are the same point up to their backward errors
        x, y = float(law.isf(p)), float(law.ppf(1 - p))
        if x != y:
            F = sorted([float(ref.cdf(x)), float(ref.cdf(y))])
            assert F[1] - F[0] <= 2 * tol + cond_x(law, ref, x) + cond_x(law, ref, y) + EPS
    for p in (1e-4, 1e-3):
        # complement-safe: relative error 1e-12 (scipy's X.tol) plus the condition term
        y = float(law.isf(p))
        assert abs(float(ref.sf(y)) - p) <= 1e-12 * p + cond_x(law, ref, y) or y == 0
        x = float(law.ppf(p))
        if not (x == 0 and law.atom >= p):
            assert abs(float(ref.cdf(x)) - p) <= 1e-12 * p + cond_x(law, ref, x)


def check_monotone(law, n: int, full: bool = True) -> None:
    """ppf non-decreasing and isf non-increasing on n uniform levels and on 1e-10-spaced clusters
    around every special level."""
    q = np.linspace(0.0, 1.0, n)
    assert np.all(np.diff(law.ppf(q)) >= 0)
    assert np.all(np.diff(law.isf(q)) <= 0)
    for v in special_levels(law, full):
        c = np.clip(v + 1e-10 * np.arange(-50, 51), 0.0, 1.0)
        assert np.all(np.diff(law.ppf(c)) >= 0), v
        assert np.all(np.diff(law.isf(c)) <= 0), v


@functools.lru_cache(maxsize=None)
def _gauss_legendre(n: int) -> tuple:
    return special.roots_legendre(n)


def _quad_moments(law, kmax: int, n: int) -> np.ndarray:
    """``∫ x^k pdf`` (k = 0..kmax) by n-point Gauss–Legendre in the angle of each interval (the
    integrand is smooth there), plus the atom's mass for k = 0."""
    t, w = _gauss_legendre(n)
    th = 0.5 * np.pi * (t + 1)
    out = np.zeros(kmax + 1)
    for lo, hi in law.intervals:
        # from the nearer edge, so that no node rounds onto a hard edge at 0
        x = np.where(th < np.pi / 2, lo + (hi - lo) * np.sin(th / 2) ** 2,
                     hi - (hi - lo) * np.cos(th / 2) ** 2)
        g = law.pdf(x) * 0.5 * (hi - lo) * np.sin(th) * 0.5 * np.pi
        out += [np.sum(w * g * x ** k) for k in range(kmax + 1)]
    out[0] += law.atom
    return out


def check_moments(law, ref) -> None:
    """check_moment (mean, var against 30-digit free-cumulant moments), moments(4), and
    check_normalization / check_mean_expect / check_var_expect by quadrature of the pdf."""
    kmax = 4
    mr = [float(v) for v in ref.moments(kmax)]
    # the recursion sums products of |κ|: its rounding is bounded by k·8 EPS times the same sum
    # for |w| (the moments of the law with weights |w|)
    absref = reference_for(law)
    absref.w = [abs(w) for w in absref.w]
    absref.pw = [p * w for p, w in zip(absref.p, absref.w)]
    mabs = [float(v) for v in absref.moments(kmax)]
    got = law.moments(kmax)
    for k in range(kmax):
        assert abs(got[k] - mr[k]) <= 8 * (k + 1) * EPS * mabs[k], (k + 1, got[k], mr[k])
    assert abs(law.mean() - mr[0]) <= 8 * EPS * mabs[0]
    assert abs(law.var() - (mr[1] - mr[0] ** 2)) <= 32 * EPS * mabs[1]
    assert law.cdf(law.support(include_atom=True)[1]) == 1.0
    # quadrature of the density: the difference between n and 2n nodes estimates its error
    q1, q2 = _quad_moments(law, 2, 200), _quad_moments(law, 2, 400)
    scale = np.array([1.0, mabs[0], mabs[1]])
    qerr = np.abs(q2 - q1) + 64 * EPS * scale
    assert abs(q2[0] - 1.0) <= 10 * qerr[0] + cdf_tol(law), (q2[0], qerr[0])
    assert abs(q2[1] - mr[0]) <= 10 * qerr[1] + cdf_tol(law) * mabs[0], (q2[1], mr[0])
    assert abs(q2[2] - mr[1]) <= 10 * qerr[2] + cdf_tol(law) * mabs[1], (q2[2], mr[1])


def check_stieltjes(law, ref) -> float:
    """m(z) against the reference at z = x + iη (η = width and 1e-3 width) and far away, and the
    stated convention at 0 (issue 21, item 6). Returns the largest relative error."""
    lo, hi = law.support()
    W = hi - lo
    zs = [x + 1j * eta for x in np.linspace(lo, hi, 5) for eta in (W, 1e-3 * W)]
    zs += [hi + 10 * W + 1j, -(abs(lo) + 10 * W) + 0.5j]
    worst = 0.0
    for z in zs:
        if isinstance(law, WeightedMP):
            m, info = law.stieltjes(z, return_info=True)
            res = float(info.residual)
        else:
            m, res = law.stieltjes(z), 0.0
        mr = ref.stieltjes(z)
        with mpm.workdps(30):
            v = -1 / mr
            dz = abs(complex(ref.dz(v)))
        rel = abs(m - complex(mr)) / abs(complex(mr))
        # rounding of z and of the law's parameters (16 EPS), amplified by the condition number
        # |z m'(z)/m| = |z|/(|v| |z'(v)|); weighted MP: the Newton solve stops at a relative
        # residual res, which moves v by res·|v|/|z'(v)|
        kappa = abs(z) / (abs(complex(v)) * dz)
        tol = 16 * EPS * (1 + kappa) + 2 * newton_dv(ref, v, res) / abs(complex(v))
        assert rel <= tol, (z, m, complex(mr), tol)
        worst = max(worst, rel)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m0 = law.stieltjes(0.0)
    if law.atom > 0 or hard_edge_at_0(law):
        assert m0.real == 0 and m0.imag == math.inf
    else:
        assert np.isfinite(m0)
    return worst


def run_all(law, ref, xs, qs, n_monotone: int, full: bool = False) -> dict:
    check_edge_support(law)
    check_points_and_shapes(law)
    out = check_cdf_sf(law, ref, xs)
    out["pdf/tol"] = check_pdf_reference(law, ref, xs)
    check_pdf_derivative(law)
    out.update(check_quantiles(law, ref, qs))
    check_roundtrips(law, ref)
    check_monotone(law, n_monotone, full)
    check_moments(law, ref)
    out["stieltjes"] = check_stieltjes(law, ref)
    return out


# --------------------------------------------------------------------------------------------
# the grid
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_scipy_checks_on_the_grid(name):
    law, ref = law_of(name), ref_of(name)
    xs, qs = x_points(name), q_points(name)
    if getattr(law, "weights", None) is not None and law.weights.n_atoms > 8:
        # 30-digit solves cost ~0.1 s each with 64 atoms: the default run takes every third
        # point here (the slow run takes them all)
        xs, qs = xs[::3], qs[::3]
    run_all(law, ref, xs, qs, 10_000)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_scipy_checks_on_the_grid_full(name):
    """The same at every level 1, 2, 3, 5, 10 and 40 ulp from each special level, more table
    panels and points; and the must-show of issue 21: ppf monotone on 10⁵ levels."""
    law, ref = law_of(name), ref_of(name)
    run_all(law, ref, x_points(name, True), q_points(name, True), 100_000, full=True)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lognormal", "softmax"])
def test_sampled_weight_law_accuracy_per_atom(kind):
    """The accuracy DiscreteWeights.from_samples documents: the weighted MP law of n atoms is
    within 0.16/n in Kolmogorov distance of the law of the full sample. The reference is a
    1,024-atom compression (measured within 1.2e-5 of a 3,926-atom one for the lognormal), and
    the distance is taken on a 20,001-point grid over the support."""
    rng = np.random.default_rng(20260)
    if kind == "lognormal":
        x = np.exp(0.8 * rng.standard_normal(20_000) - 0.32)
    else:
        from rmt.models import softmax
        P = softmax(rng.standard_normal((20, 1000)), axis=1)
        x = (1000 * P * (1 - P)).ravel()
    ref = WeightedMP(0.5, x, n_atoms=1024)
    lo, hi = ref.support()
    grid = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), 20_001)
    F = ref.cdf(grid)
    for n in (16, 64, 256):
        ks = float(np.max(np.abs(WeightedMP(0.5, x, n_atoms=n).cdf(grid) - F)))
        assert ks <= 0.16 / n, (n, ks)


# --------------------------------------------------------------------------------------------
# every reproduction of issue 21
# --------------------------------------------------------------------------------------------

def test_issue21_reproductions():
    two = WeightedMP(10, TWO_POINT)
    ref = reference_for(two)
    x = float(two.ppf(0.95))                                             # item 1
    assert abs(float(ref.cdf(x)) - 0.95) <= 1e-13
    assert abs(float(two.cdf(x)) - 0.95) <= 1e-13
    a, b = two.ppf([0.9500000000000001, 0.95001])
    assert x <= a <= b
    w05 = WeightedMP(0.5, TWO_POINT)
    assert float(reference_for(w05).cdf(float(w05.ppf(1e-16)))) <= 1e-16 + 1e-13
    mp = MarchenkoPastur(0.5)
    assert float(reference_for(mp).cdf(float(mp.ppf(1e-17)))) == pytest.approx(1e-17, rel=1e-3)
    m = MarchenkoPastur(1e-4)
    assert float(reference_for(m).sf(float(m.isf(1e-12)))) == pytest.approx(1e-12, rel=1e-5)
    y = float(two.isf([1e-17])[0])                                         # item 2
    assert y > 0.9 * two.support()[1] and abs(float(ref.sf(y)) - 1e-17) <= 1e-13
    x = 0.980108                                                           # item 3
    assert abs(m.cdf(x) + m.sf(x) - 1) <= 2 * EPS
    assert abs(float(m.cdf(1.018571845)) - float(reference_for(m).cdf(1.018571845))) <= 4 * EPS
    m3 = MarchenkoPastur(0.5, 3.0)                                         # item 4
    assert m3.sf(m3.support()[1]) == 0.0 and m3.pdf(m3.support()[1]) == 0.0
    assert MarchenkoPastur(2.0, 3.0).cdf(-5e-324) == 0.0                   # item 5
    with warnings.catch_warnings():                                        # item 6
        warnings.simplefilter("error")
        assert MarchenkoPastur(2.0).stieltjes(0) == complex(0, math.inf)
        assert WeightedMP(2.0, 1.0).stieltjes(0) == complex(0, math.inf)
    with pytest.raises(ValueError, match="x must be real"):               # item 7
        MarchenkoPastur(0.5).cdf(np.array([1 + 5j]))
    m10 = MarchenkoPastur(10)                                              # item 8
    assert m10.sf(0.0) == 0.1 and m10.isf(m10.sf(0.0)) == 0.0


def test_must_show_ppf_095():
    """Must show: WeightedMP(10, {1, 4}).ppf(0.95) has cdf 0.95 to 1e-13 (here: against the
    30-digit reference, whose own error is ~1e-30)."""
    law = WeightedMP(10, TWO_POINT)
    assert abs(float(reference_for(law).cdf(float(law.ppf(0.95)))) - 0.95) <= 1e-13


def test_reference_cdf_matches_quadrature():
    """The reference's cdf formula (Im Φ) against 30-digit Gauss–Legendre quadrature of its own
    density in the angle of the interval (where the integrand is smooth)."""
    # one law with an atom, two intervals and negative weights (MP is the one-atom case)
    for law in (WeightedMP(2.0, ([-1.0, 2.0], [0.5, 0.5])),):
        ref = reference_for(law)
        lo, hi, _, _ = ref.edges[-1]
        with mpm.workdps(30):
            def g(th):
                return ref.pdf(lo + (hi - lo) * mpm.sin(th / 2) ** 2) * (hi - lo) / 2 * mpm.sin(th)

            base = ref.cdf(float(lo))
            for x in (float(lo + 0.9 * (hi - lo)),):
                th_x = 2 * mpm.asin(mpm.sqrt((x - lo) / (hi - lo)))
                quad = mpm.quad(g, [0, th_x], method="gauss-legendre")
                assert abs(ref.cdf(x) - base - quad) < mpm.mpf(10) ** -20


# --------------------------------------------------------------------------------------------
# Hypothesis-drawn laws
# --------------------------------------------------------------------------------------------

@settings(max_examples=12)
@given(log_ratio=st.floats(-3.0, 3.0), log_scale=st.floats(-1.0, 1.0))
def test_scipy_checks_on_drawn_mp(log_ratio, log_scale):
    law = MarchenkoPastur(10.0 ** log_ratio, 10.0 ** log_scale)
    ref = reference_for(law)
    lo, hi = law.support()
    xs = np.sort(np.append(lo + (hi - lo) * np.sin(np.linspace(0.1, 3.0, 5) / 2) ** 2, 0.0))
    qs = np.unique([q for v in special_levels(law) for q in _ulps(v, (1, 3)) if 0 <= q <= 1])
    check_edge_support(law)
    check_cdf_sf(law, ref, xs)
    check_quantiles(law, ref, qs)
    check_monotone(law, 2001)


@settings(max_examples=6)
@given(nu=weight_laws(max_atoms=3, resolution=4), ratio=st.sampled_from([0.05, 0.5, 1.0, 3.0]))
def test_scipy_checks_on_drawn_weighted(nu, ratio):
    law = WeightedMP(ratio, nu)
    ref = reference_for(law)
    xs = np.array([lo + (hi - lo) * f for lo, hi in law.intervals for f in (0.02, 0.5, 0.97)])
    qs = np.unique([q for v in special_levels(law, False) for q in _ulps(v, (1,))
                    if 0 <= q <= 1])
    check_edge_support(law)
    check_cdf_sf(law, ref, xs)
    check_quantiles(law, ref, qs)
    check_monotone(law, 2001)


# --------------------------------------------------------------------------------------------
# a law given by its density and support alone: the generic machinery
# --------------------------------------------------------------------------------------------

class _Semicircle(SpectralLaw):
    """Wigner's semicircle on [−2, 2] scaled to [c − 2r, c + 2r], with an optional atom at 0:
    only the density, the support and the atom are given."""

    def __init__(self, centre: float = 0.0, radius: float = 1.0, atom: float = 0.0) -> None:
        self.c, self.r, self._atom = centre, radius, atom

    @property
    def intervals(self):
        return ((self.c - 2 * self.r, self.c + 2 * self.r),)

    def _pdf(self, xp, x):
        u = xp.clip((x - self.c) / self.r, -2.0, 2.0)
        return (1 - self._atom) * xp.sqrt(4 - u * u) / (2 * math.pi * self.r)

    def cdf_exact(self, x):
        with mpm.workdps(30):
            u = min(max((mpm.mpf(x) - self.c) / self.r, -2), 2)
            F = (1 - self._atom) * (mpm.mpf(1) / 2 + u * mpm.sqrt(4 - u * u) / (4 * mpm.pi)
                                    + mpm.asin(u / 2) / mpm.pi)
            return F + (self._atom if x >= 0 else 0)


@pytest.mark.parametrize("args", [(0.0, 1.0, 0.0), (5.0, 2.0, 0.3), (-3.0, 0.5, 0.25)])
def test_generic_law_from_density_and_support(args):
    law = _Semicircle(*args)
    law._pieces()  # builds the table and its error estimate
    tol = 8 * EPS + law._cdf_err
    xs = np.linspace(*law.support(include_atom=True), 41)
    F = law.cdf(xs)
    Fr = np.array([float(law.cdf_exact(x)) for x in xs])
    assert np.max(np.abs(F - Fr)) <= tol
    np.testing.assert_allclose(law.cdf(xs) + law.sf(xs), 1.0, rtol=0, atol=2 * tol)
    a, b = law.support(include_atom=True)
    np.testing.assert_equal(law.ppf([0.0, 1.0]), [a, b])
    for q in np.unique([q for v in special_levels(law) for q in _ulps(v, (1, 3))
                        if 0 <= q <= 1]):
        x = float(law.ppf(q))
        dens = float(law.pdf(x)) * 4 * EPS * (abs(x) + b - a)
        lo = float(law.cdf_exact(x)) - (law.atom if x == 0 else 0)
        assert lo - tol - dens <= q <= float(law.cdf_exact(x)) + tol + dens, (q, x)
    check_monotone(law, 2001)
    assert np.isclose(law.median(), float(law.ppf(0.5)))
    # moments by quadrature of the table: E u² = 1, E u⁴ = 2 for the unit semicircle u
    c, r, w = law.c, law.r, 1 - law.atom
    exact = [c, c * c + r * r, c ** 3 + 3 * c * r * r, c ** 4 + 6 * c * c * r * r + 2 * r ** 4]
    scale = [(abs(c) + 2 * r) ** k for k in range(1, 5)]   # the size of x^k on the support
    for k in range(1, 5):
        assert abs(law.moment(k) - w * exact[k - 1]) <= 16 * k * EPS * scale[k - 1] + tol * scale[k - 1]
    with pytest.raises(NotImplementedError, match="Stieltjes"):
        law.stieltjes(1j)
