"""Tests of rmt.laws: Marchenko–Pastur, the weighted MP law, free cumulants, block weight laws.

Tolerances are derived beside each number. Three recurring sources:

* *Rounding* of closed forms and converged Newton iterates: a few eps (2.2e-16) times the size
  of the terms, so 1e-12 on O(1) quantities leaves a margin of ~1000× for condition numbers.
* *Quadrature*: scipy.integrate.quad returns an error estimate; we allow 10× it plus 1e-12.
* *Random-matrix finite size*: ``KS(ESD, law) ≤ 2 ln(d)/d`` for matrices whose weights have
  exactly the law's proportions (see :func:`_ks_bound`).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import integrate, stats

from rmt import laws
from rmt.laws import (DiscreteWeights, MarchenkoPastur, WeightedMP, block_weight_moments,
                      diagonal_block_weights, free_cumulants_from_moments, lognormal_weights,
                      moments_from_free_cumulants, mp_moment, offdiagonal_block_weights)

EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------------------------
# helpers (independent of the implementation under test)
# ---------------------------------------------------------------------------------------------

def _ks_distance(sample: np.ndarray, law) -> float:
    """sup_x |F_n(x) − F(x)| for a law that may have an atom at 0: evaluated at every distinct
    sample value, from the right (F) and from the left (F − jump)."""
    u, cnt = np.unique(np.asarray(sample), return_counts=True)
    n = cnt.sum()
    Fn = np.cumsum(cnt) / n
    Fn_left = Fn - cnt / n
    F = np.asarray(law.cdf(u))
    F_left = F - np.where(u == 0, law.atom, 0.0)
    return float(max(np.abs(Fn - F).max(), np.abs(Fn_left - F_left).max()))


def _ks_bound(d: int) -> float:
    """Finite-size bound on the KS distance between the ESD of a d × d (weighted) sample
    covariance and its limit law (same γ = d/N, weights in exact proportions).

    Reasoning: eigenvalue rigidity (Pillai–Yin 2014 for sample covariance; Knowles–Yin 2017 for
    a general population covariance) puts every eigenvalue within d^ε typical spacings of its
    classical location with overwhelming probability, i.e. sup_x |F_d(x) − F(x)| ≤ d^ε / d; the
    mean ESD differs from the limit by O(1/d) as well (square-root edges move by d^{−2/3},
    which is (d^{−2/3})^{3/2} = 1/d of mass). We take d^ε → 2 ln d. With iid (not exact-proportion)
    weights the empirical weight law itself fluctuates by O(N^{−1/2}), which is why the
    simulations below assign the atoms in exact proportions.
    """
    return 2.0 * math.log(d) / d


def _exact_weights(nu: DiscreteWeights, N: int, rng: np.random.Generator) -> np.ndarray:
    """N weights whose empirical law is ν up to rounding (largest remainders), shuffled."""
    raw = nu.probs * N
    cnt = np.floor(raw).astype(int)
    rest = N - cnt.sum()
    cnt[np.argsort(raw - cnt)[::-1][:rest]] += 1
    w = np.repeat(nu.values, cnt)
    return rng.permutation(w)


def _esd(ratio: float, w: np.ndarray, d: int, seed: int) -> np.ndarray:
    """Eigenvalues of B = (1/N) Σ w_n x_n x_nᵀ (d × d, N = len(w), Gaussian x_n)."""
    N = w.size
    X = np.random.default_rng(seed).standard_normal((N, d))
    return np.linalg.eigvalsh((X.T * w) @ X / N)


def _zero_the_atom(e: np.ndarray, atom: float) -> np.ndarray:
    """The d·atom eigenvalues of smallest modulus are exact zeros in exact arithmetic (rank
    deficiency); eigvalsh returns them at ±1e-15 · ‖B‖. Put them at 0."""
    e = e.copy()
    k = int(round(e.size * atom))
    if k:
        e[np.argsort(np.abs(e))[:k]] = 0.0
    return e


def _set_partitions(elements):
    if not elements:
        yield []
        return
    first, rest = elements[0], elements[1:]
    for part in _set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]
        yield [[first]] + part


def _noncrossing(part) -> bool:
    for A, B in itertools.permutations(part, 2):
        for a1, a2 in itertools.combinations(sorted(A), 2):
            for b1, b2 in itertools.combinations(sorted(B), 2):
                if a1 < b1 < a2 < b2:
                    return False
    return True


def _moments_by_enumeration(kappa, kmax: int) -> list[float]:
    """m_k = Σ over non-crossing partitions π of {1..k} of Π_{V∈π} κ_{|V|} (brute force)."""
    out = []
    for k in range(1, kmax + 1):
        tot = 0.0
        for part in _set_partitions(list(range(k))):
            if _noncrossing(part):
                tot += math.prod(kappa[len(b) - 1] for b in part)
        out.append(tot)
    return out


def _quad_over_support(law, fun):
    """∫ fun(x) pdf(x) dx over the support intervals with scipy's quad; (value, error).
    (Used for the closed-form MP law: one pdf call per node is cheap there.)"""
    val, err = 0.0, 0.0
    for a, b in law.intervals:
        v, e = integrate.quad(lambda t: fun(t) * float(law.pdf(t)), a, b, limit=400,
                              epsabs=1e-13, epsrel=1e-12)
        val += v
        err += e
    return val, err


@functools.lru_cache(maxsize=None)
def _leggauss(m: int):
    """Gauss–Legendre nodes and weights, computed once per order: leggauss solves an m × m
    eigenproblem, and at m = 400 that dominated test_weighted_properties (three integrals per
    example, two orders each). The rule itself is unchanged."""
    return np.polynomial.legendre.leggauss(m)


def _gl_over_support(law, fun, n: int = 400):
    """∫ fun(x) pdf(x) dx by Gauss–Legendre in θ, x = a + (b − a) sin²(θ/2), on each support
    interval (one vectorised pdf call per interval and rule). Returns (value, error estimate)
    with the estimate |I_n − I_{n/2}|: the integrand is ∝ sin²θ · smooth at square-root edges
    (∝ cos²(θ/2) at a hard edge), so the rule converges geometrically and the difference of
    the two rules bounds the error of the coarser one, hence of the finer one."""
    out = []
    for m in (n // 2, n):
        t, w = _leggauss(m)
        th = 0.5 * np.pi * (t + 1.0)
        tot = 0.0
        for a, b in law.intervals:
            x = a + (b - a) * np.sin(0.5 * th) ** 2
            jac = 0.5 * (b - a) * np.sin(th) * 0.5 * np.pi
            tot = tot + np.sum(w * jac * fun(x) * law.pdf(x))
        out.append(tot)
    return out[1], abs(out[1] - out[0])


# ---------------------------------------------------------------------------------------------
# Marchenko–Pastur
# ---------------------------------------------------------------------------------------------

def test_mp_parameters_support_atom():
    mp = MarchenkoPastur(0.25, scale=2.0)
    # edges σ²(1 ± √γ)² = 2·(1 ± 0.5)²: exact in binary floating point
    assert mp.support() == (0.5, 4.5)
    assert mp.atom == 0.0 and MarchenkoPastur(4.0).atom == 0.75  # 1 − 1/γ
    assert mp.mean() == 2.0 and mp.var() == 4.0 * 0.25            # σ², σ⁴γ
    assert mp.ratio == 0.25 and mp.scale == 2.0


def test_mp_narayana_moments_match_free_cumulants_and_integrals():
    for g, s in [(0.3, 1.0), (1.0, 0.7), (2.5, 1.3)]:
        mp = MarchenkoPastur(g, s)
        # Narayana closed form vs the free-cumulant recursion with κ_k = s^k γ^{k−1}: two
        # independent finite sums of positive terms, so they agree to a few eps relative
        rec = moments_from_free_cumulants([s ** k * g ** (k - 1) for k in range(1, 7)])
        nar = np.array([mp.moment(k) for k in range(1, 7)])
        np.testing.assert_allclose(nar, rec, rtol=1e-13)
        for k in (1, 2, 3):
            v, e = _quad_over_support(mp, lambda t, k=k: t ** k)
            assert abs(v - nar[k - 1]) <= 10 * e + 1e-12 * nar[k - 1]  # quad's own estimate
    # hand values: 1, 1+γ, 1+3γ+γ²
    assert mp_moment(3, 0.5) == pytest.approx(1 + 1.5 + 0.25, rel=1e-15)
    assert mp_moment(0, 3.0) == 1.0


@given(ratio=st.floats(0.02, 50.0), scale=st.floats(0.1, 10.0))
def test_mp_mass_cdf_ppf_properties(ratio, scale):
    mp = MarchenkoPastur(ratio, scale)
    a, b = mp.support()
    mass, err = _quad_over_support(mp, lambda t: 1.0)
    # the density integrates to 1 − atom = min(1, 1/γ); quad's estimate (γ = 1 has a 1/√x edge)
    assert abs(mass + mp.atom - 1.0) <= 10 * err + 1e-10
    x = np.linspace(a - 0.1 * b, 1.1 * b, 2001)
    F = mp.cdf(x)
    assert np.all((F >= 0) & (F <= 1))
    # monotone up to rounding: F is a sum of O((1+γ)/γ) terms, each exact to a few eps
    assert np.all(np.diff(F) >= -8 * EPS * (1 + (1 + ratio) / ratio))
    # sf is computed separately; cdf + sf = 1 to rounding of the same terms
    np.testing.assert_allclose(F + mp.sf(x), 1.0, atol=32 * EPS * (1 + (1 + ratio) / ratio))
    # ppf(cdf(x)) = x in the bulk, away from the flat ends where x is ill-determined:
    # δx = δF / pdf, δF ~ 1e-15, pdf ≳ 1e-3/scale on the inner 90% of the bulk
    xin = np.linspace(a + 0.05 * (b - a), b - 0.05 * (b - a), 201)
    np.testing.assert_allclose(mp.ppf(mp.cdf(xin)), xin, rtol=0, atol=1e-9 * b)
    q = np.linspace(0, 1, 101)
    qa = q[q > mp.atom]
    np.testing.assert_allclose(mp.cdf(mp.ppf(qa)), qa, atol=64 * EPS * (1 + 1 / ratio))
    assert mp.ppf(0.0) == (0.0 if mp.atom > 0 else a) and mp.ppf(1.0) == b


def test_mp_atom_and_cdf_jump():
    mp = MarchenkoPastur(2.0, 1.5)
    assert mp.cdf(-1e-300) == 0.0 and mp.cdf(0.0) == 0.5  # jump of 1 − 1/γ at 0
    assert mp.pdf(0.0) == 0.0 and mp.sf(0.0) == 0.5
    assert mp.ppf(0.3) == 0.0 and mp.ppf(0.5) == 0.0 and mp.ppf(0.5 + 1e-9) > mp.support()[0]
    # scikit-rmt's bug (atom dropped): the cdf must reach 1 at the upper edge
    assert mp.cdf(mp.support()[1]) == 1.0
    # hard edge at γ = 1
    assert MarchenkoPastur(1.0).pdf(0.0) == math.inf


def test_mp_pdf_is_derivative_of_cdf():
    mp = MarchenkoPastur(0.6, 0.8)
    a, b = mp.support()
    x = np.linspace(a, b, 41)[1:-1]
    h = 1e-5 * (b - a)
    num = (mp.cdf(x + h) - mp.cdf(x - h)) / (2 * h)
    # central difference: truncation h² f'''/6 ≲ 1e-10 · f''' (f''' = O(10) inside) plus
    # rounding 1e-16/h ~ 1e-11
    np.testing.assert_allclose(num, mp.pdf(x), atol=1e-8)


@pytest.mark.parametrize("ratio", [0.5, 1.0, 2.0])
def test_mp_pdf_blocks_layouts_and_nan(ratio):
    """pdf works in cache-sized blocks (marchenko_pastur._PDF_BLOCK points): on arrays of
    several blocks, 2-D, strided and 0-d input it must equal point-by-point evaluation bit for
    bit (same float operations per point), give exactly 0 at ±inf and huge |x| without a
    RuntimeWarning (x is clipped into the bulk first), and raise on a NaN in any block."""
    import warnings  # noqa: PLC0415
    from rmt.laws import marchenko_pastur as M  # noqa: PLC0415

    mp = MarchenkoPastur(ratio, 1.5)
    a, b = mp.support()
    n = 2 * M._PDF_BLOCK + 123
    x = np.linspace(a - 0.3, b + 0.3, n)
    each = np.array([mp.pdf(float(v)) for v in x[::97]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = mp.pdf(x)
        np.testing.assert_array_equal(full[::97], each)
        np.testing.assert_array_equal(mp.pdf(x[::97]), each)          # strided view
        np.testing.assert_array_equal(mp.pdf(x[:8 * 97:97].reshape(2, 4)),
                                      each[:8].reshape(2, 4))
        assert mp.pdf(np.array(x[97])) == each[1]                      # 0-d
        assert mp.pdf(list(x[:194:97])).tolist() == each[:2].tolist()  # non-ndarray input
        big = np.array([-np.inf, -1e300, 1e300, np.inf, b, np.nextafter(b, np.inf)])
        np.testing.assert_array_equal(mp.pdf(big), np.zeros(6))
    for where in (0, M._PDF_BLOCK + 5, n - 1):
        y = x.copy()
        y[where] = np.nan
        with pytest.raises(ValueError, match="x must not contain NaN"):
            mp.pdf(y)


def test_mp_stieltjes_branch_and_inversion():
    mp = MarchenkoPastur(0.5, 1.2)
    rng = np.random.default_rng(0)
    z = rng.uniform(-3, 6, 200) + 1j * np.exp(rng.uniform(-8, 2, 200))
    m = mp.stieltjes(z)
    assert np.all(m.imag > 0)                                   # Im z > 0 ⇒ Im m > 0
    np.testing.assert_allclose(mp.stieltjes(np.conj(z)), np.conj(m), rtol=1e-14)
    big = 1e8 + 1e7j
    assert abs(mp.stieltjes(big) * big + 1) < 1e-7              # m ~ −1/z (next term μ₁/z)
    # against the defining integral (quad error estimate, both parts)
    for zz in [0.7 + 0.3j, -1.0 + 0.1j, 5.0 + 2.0j]:
        re, e1 = integrate.quad(lambda t: (float(mp.pdf(t)) / (t - zz)).real, *mp.support(),
                                limit=200, epsabs=1e-13)
        im, e2 = integrate.quad(lambda t: (float(mp.pdf(t)) / (t - zz)).imag, *mp.support(),
                                limit=200, epsabs=1e-13)
        assert abs(mp.stieltjes(zz) - (re + 1j * im)) <= 10 * (e1 + e2) + 1e-12
    # boundary values: Im m(x + i0)/π = pdf(x) exactly (closed forms, rounding only)
    x = np.linspace(*mp.support(), 50)[1:-1]
    np.testing.assert_allclose(mp.stieltjes(x).imag / np.pi, mp.pdf(x), rtol=1e-12)
    # atom: m(z) ≈ −atom/z near 0 when γ > 1
    mp2 = MarchenkoPastur(3.0)
    z0 = 1e-9j
    assert abs(mp2.stieltjes(z0) * z0 + mp2.atom) < 1e-8


def test_mp_rvs_follows_cdf_and_atom():
    n = 20000
    # DKW (Massart): P(sup|F_n − F| > t) ≤ 2 exp(−2 n t²); t at level 1e-6: √(ln(2e6)/(2n))
    t = math.sqrt(math.log(2e6) / (2 * n))
    for g in (0.5, 3.0):
        mp = MarchenkoPastur(g, 2.0)
        x = mp.rvs(n, seed=1)
        assert x.shape == (n,)
        assert _ks_distance(x, mp) < t
        # atom fraction: binomial, 6 standard errors
        frac = np.mean(x == 0)
        assert abs(frac - mp.atom) <= 6 * math.sqrt(max(mp.atom * (1 - mp.atom), 1e-12) / n)
    assert np.isscalar(MarchenkoPastur(0.5).rvs(seed=0))
    np.testing.assert_array_equal(MarchenkoPastur(0.5).rvs(5, seed=3),
                                  MarchenkoPastur(0.5).rvs(5, seed=3))


@pytest.mark.parametrize("ratio, scale", [(0.5, 1.0), (2.0, 1.0)])
def test_mp_fits_wishart_spectrum(ratio, scale):
    d = 500
    e = _esd(ratio, np.full(int(d / ratio), scale), d, seed=11)
    mp = MarchenkoPastur(ratio, scale)
    e = _zero_the_atom(e, mp.atom)
    assert _ks_distance(e, mp) < _ks_bound(d)
    if mp.atom == 0:  # scipy's kstest agrees with our KS where the cdf is continuous
        assert stats.kstest(e, mp.cdf).statistic == pytest.approx(_ks_distance(e, mp), abs=1e-12)


@pytest.mark.parametrize("kwargs, name", [
    ({"ratio": 0.0}, "ratio"), ({"ratio": -1.0}, "ratio"), ({"ratio": float("nan")}, "ratio"),
    ({"ratio": float("inf")}, "ratio"), ({"ratio": 0.5, "scale": 0.0}, "scale"),
    ({"ratio": 0.5, "scale": -2.0}, "scale")])
def test_mp_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MarchenkoPastur(**kwargs)


def test_mp_bad_evaluation_points():
    mp = MarchenkoPastur(0.5)
    with pytest.raises(ValueError, match="q"):
        mp.ppf(1.5)
    with pytest.raises(ValueError, match="q"):
        mp.ppf([0.2, -0.1])
    with pytest.raises(ValueError, match="x"):
        mp.cdf([0.1, np.nan])
    with pytest.raises(ValueError, match="z"):
        mp.stieltjes(complex(np.nan, 1))
    with pytest.raises(ValueError, match="k"):
        mp.moment(-1)
    assert mp.pdf(np.inf) == 0.0 and mp.cdf(-np.inf) == 0.0 and mp.cdf(np.inf) == 1.0


# ---------------------------------------------------------------------------------------------
# free cumulants
# ---------------------------------------------------------------------------------------------

def test_moment_cumulant_recursion_matches_enumeration():
    rng = np.random.default_rng(3)
    kappa = rng.normal(size=5)
    brute = _moments_by_enumeration(list(kappa), 5)
    # both are sums of ≤ 42 products of 5 numbers of size O(1): rounding ≤ 1e-13
    np.testing.assert_allclose(moments_from_free_cumulants(kappa), brute, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(free_cumulants_from_moments(brute), kappa, rtol=1e-11, atol=1e-12)
    # Catalan numbers: semicircle (κ₂ = 1 only) has m_{2k} = C_k
    m = moments_from_free_cumulants([0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(m[1::2], [1, 2, 5, 14])


def test_weighted_two_point_moments_equal_free_cumulant_enumeration():
    nu = DiscreteWeights([0.5, 3.0], [0.4, 0.6])
    g = 0.7
    law = WeightedMP(g, nu)
    kappa = [g ** (k - 1) * (0.4 * 0.5 ** k + 0.6 * 3.0 ** k) for k in range(1, 6)]
    brute = _moments_by_enumeration(kappa, 5)
    np.testing.assert_allclose(law.moments(5), brute, rtol=1e-12)
    assert law.mean() == pytest.approx(brute[0], rel=1e-15)
    assert law.var() == pytest.approx(brute[1] - brute[0] ** 2, rel=1e-13)
    for k in (1, 2, 3):  # and the density integrates to them (Gauss–Legendre estimate)
        v, e = _gl_over_support(law, lambda t, k=k: t ** k)
        assert abs(v - brute[k - 1]) <= 10 * e + 1e-12 * abs(brute[k - 1])


# ---------------------------------------------------------------------------------------------
# weighted MP
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ratio, scale", [(0.5, 1.0), (1.0, 2.0), (3.0, 0.5)])
def test_weighted_with_constant_weights_is_mp(ratio, scale):
    law, mp = WeightedMP(ratio, scale), MarchenkoPastur(ratio, scale)
    a, b = mp.support()
    np.testing.assert_allclose(law.support(), (a, b), rtol=1e-14, atol=1e-15 * b)
    assert law.atom == pytest.approx(mp.atom, abs=1e-15)
    x = np.linspace(a - 0.5, b + 0.5, 801)
    x = x[np.abs(x) > 1e-9]  # hard edge at 0 for γ = 1: both give inf there
    # pdf: Newton to a relative residual ≤ 1e-12 on a well-conditioned root (|z'(v)| = O(1)
    # away from the edges): errors ≲ 1e-12 relative; near an edge the density itself → 0
    np.testing.assert_allclose(law.pdf(x), mp.pdf(x), rtol=1e-10, atol=1e-12)
    # cdf: panel quadrature to cdf_tol = 1e-12 per interval, plus renormalisation
    np.testing.assert_allclose(law.cdf(x), mp.cdf(x), atol=1e-11)
    assert law.cdf_error < 1e-11
    q = np.linspace(0.01, 0.99, 99)
    q = q[q > mp.atom + 1e-9]
    # quantiles: δx = δF / pdf with δF ≤ 1e-11 and pdf ≳ 0.01/scale at these levels
    np.testing.assert_allclose(law.ppf(q), mp.ppf(q), atol=1e-8 * b)
    z = np.array([0.3 + 0.2j, -1 + 1e-6j, 2.0 + 0j, b + 1.0, -0.5, 5 - 3j])
    np.testing.assert_allclose(law.stieltjes(z), mp.stieltjes(z), rtol=1e-10)


_atoms = st.lists(st.tuples(st.sampled_from([-3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.0, 4.0]),
                            st.integers(1, 5)), min_size=1, max_size=4,
                  unique_by=lambda t: t[0]).filter(lambda a: any(v != 0 for v, _ in a))


@given(atoms=_atoms, ratio=st.sampled_from([0.1, 0.4, 0.9, 1.7, 4.0]))
def test_weighted_properties(atoms, ratio):
    vals = np.array([v for v, _ in atoms])
    p = np.array([c for _, c in atoms], float)
    nu = DiscreteWeights(vals, p / p.sum())
    law = WeightedMP(ratio, nu)
    p0 = float(p[vals == 0].sum() / p.sum())
    # the atom at 0 has mass (1 − P(w ≠ 0)/γ)⁺
    assert law.atom == pytest.approx(max(0.0, 1 - (1 - p0) / ratio), abs=1e-12)
    assert law.residual < 1e-10          # fixed-point residual of all table solves (tol 1e-12)
    assert law.cdf_error < 1e-9          # stated error of the cdf table
    # mass: ∫ pdf + atom = 1, independently of the table (Gauss–Legendre, its own estimate;
    # 1e-12: rounding of 400 terms of size ≤ 1)
    mass, err = _gl_over_support(law, lambda t: np.ones_like(t))
    assert abs(mass + law.atom - 1) <= 10 * err + 1e-12
    # mean and second moment: E λ = κ₁ = E w, E λ² = κ₂ + κ₁² (same estimate)
    m1, e1 = _gl_over_support(law, lambda t: t)
    m2, e2 = _gl_over_support(law, lambda t: t * t)
    assert abs(m1 - law.moment(1)) <= 10 * e1 + 1e-12 * max(1, law.moment(2))
    assert abs(m2 - law.moment(2)) <= 10 * e2 + 1e-12 * max(1, law.moment(2))
    lo, hi = law.support()
    x = np.linspace(min(lo, 0) - 1, max(hi, 0) + 1, 1501)
    F = law.cdf(x)
    assert np.all((F >= 0) & (F <= 1)) and F[0] == 0 and F[-1] == 1
    # monotone up to rounding of the Chebyshev sums (33 terms of size ≤ mass): 1e-13
    assert np.all(np.diff(F) >= -1e-13)
    # ppf∘cdf on points where the density is not tiny: δx = δF/pdf ≤ 1e-11 / 1e-3
    xin = np.concatenate([np.linspace(a, b, 60)[1:-1] for a, b in law.intervals])
    keep = law.pdf(xin) > 1e-3
    np.testing.assert_allclose(law.ppf(law.cdf(xin[keep])), xin[keep], atol=1e-8 * (hi - lo))
    # Stieltjes inversion at the real axis equals the pdf (same solve, boundary value)
    np.testing.assert_allclose(law.stieltjes(xin).imag / np.pi, law.pdf(xin), rtol=1e-12,
                               atol=1e-300)


def test_weighted_stieltjes_branch_symmetry_residual():
    law = WeightedMP(0.6, DiscreteWeights([-2.0, 1.0, 3.0], [0.2, 0.5, 0.3]))
    rng = np.random.default_rng(1)
    z = rng.uniform(-8, 10, 300) + 1j * np.exp(rng.uniform(-10, 3, 300))
    m, info = law.stieltjes(z, return_info=True)
    assert np.all(m.imag > 0)
    assert info.max_residual < 1e-12 and np.all(info.converged)
    # the stated residual is what it says: recomputed independently of the solver
    assert np.max(law.fixed_point_residual(z, m)) < 1e-12
    np.testing.assert_allclose(law.stieltjes(np.conj(z)), np.conj(m), rtol=1e-15)
    # m(z) = ∫ pdf(λ)/(λ − z) dλ (no atom here, γ < 1); the integrand is smooth for
    # Im z ≥ 0.2 and the Gauss–Legendre estimate applies (n = 800: poles at distance 0.2)
    for zz in [1.0 + 0.5j, -3.0 + 0.2j]:
        val, err = _gl_over_support(law, lambda t: 1.0 / (t - zz), n=800)
        assert abs(law.stieltjes(zz) - val) <= 10 * err + 1e-12
    # outside the support m is real and increasing (m' = ∫ dμ/(λ − x)² > 0)
    lo, hi = law.support()
    xo = np.concatenate([np.linspace(lo - 5, lo - 1e-6, 50), np.linspace(hi + 1e-6, hi + 5, 50)])
    mo = law.stieltjes(xo)
    assert np.all(mo.imag == 0)
    assert np.all(np.diff(mo.real[:50]) > 0) and np.all(np.diff(mo.real[50:]) > 0)
    assert np.max(law.fixed_point_residual(xo, mo)) < 1e-12
    # the atom at 0 for γ > 1: m(iη) ≈ −atom/(iη)
    law2 = WeightedMP(2.5, DiscreteWeights([1.0, 2.0], [0.5, 0.5]))
    eta = 1e-10
    assert abs(law2.stieltjes(1j * eta) * 1j * eta + law2.atom) < 1e-8


# (γ, ν): positive, two-point, all-negative, mixed-sign, atom at 0 (γ > 1), zero weights
_SIM_CASES = [
    (0.5, DiscreteWeights([1.0, 4.0], [0.5, 0.5]), 500),
    (0.5, DiscreteWeights([-3.0, -1.0], [0.4, 0.6]), 600),
    (0.5, DiscreteWeights([-1.0, 2.0], [0.3, 0.7]), 600),
    (2.0, DiscreteWeights([-1.0, 2.0], [0.3, 0.7]), 600),
    (0.4, DiscreteWeights([-2.0, 0.0, 1.0], [0.2, 0.5, 0.3]), 500),
]


@pytest.mark.parametrize("ratio, nu, d", _SIM_CASES)
def test_weighted_fits_simulated_spectrum(ratio, nu, d):
    law = WeightedMP(ratio, nu)
    N = int(round(d / ratio))
    w = _exact_weights(nu, N, np.random.default_rng(5))
    e = _zero_the_atom(_esd(ratio, w, d, seed=7), law.atom)
    assert _ks_distance(e, law) < _ks_bound(d)


def test_lognormal_law_fits_continuous_weights():
    """Continuous lognormal weights (stratified quantiles, so their empirical law is the
    lognormal up to O(1/N)) against the 64-node Gauss–Hermite law."""
    d, ratio, mu, s2 = 500, 0.5, -0.5, 1.0
    N = int(d / ratio)
    w = np.exp(mu + math.sqrt(s2) * stats.norm.ppf((np.arange(N) + 0.5) / N))
    w = np.random.default_rng(2).permutation(w)
    law = WeightedMP(ratio, lognormal_weights(mu, s2, 64))
    # the discretisation error of the law, estimated against a 128-node rule
    fine = WeightedMP(ratio, lognormal_weights(mu, s2, 128))
    grid = np.linspace(*fine.support(), 4001)
    disc = float(np.max(np.abs(law.cdf(grid) - fine.cdf(grid))))
    assert _ks_distance(_esd(ratio, w, d, seed=3), law) < _ks_bound(d) + 2 * disc


def test_weights_from_samples_compression():
    rng = np.random.default_rng(0)
    x = rng.lognormal(0.0, 1.0, 200_000) * -1.0  # negative, heavy-tailed
    nu = DiscreteWeights.from_samples(x, n_atoms=32)
    assert nu.n_atoms <= 32 and nu.info["compressed"]
    assert np.all(nu.values < 0)                 # no sign is created
    assert nu.values.min() >= x.min() and nu.values.max() <= x.max()
    # first two moments preserved exactly, up to summation rounding (n = 2e5 terms: 1e-12 rel)
    assert nu.moment(1) == pytest.approx(x.mean(), rel=1e-12)
    assert nu.moment(2) == pytest.approx(np.mean(x * x), rel=1e-11)
    small = DiscreteWeights.from_samples([1.0, 2.0, 2.0, 5.0])  # ≤ n_atoms distinct: exact
    np.testing.assert_array_equal(small.values, [1, 2, 5])
    np.testing.assert_allclose(small.probs, [0.25, 0.5, 0.25])
    # a 1-D array given to WeightedMP is treated as samples, a tuple as (values, probs)
    a = WeightedMP(0.5, np.array([1.0, 3.0]))
    b = WeightedMP(0.5, ([1.0, 3.0], [0.5, 0.5]))
    assert a.weights.n_atoms == b.weights.n_atoms == 2 and a.mean() == b.mean() == 2.0


def test_weights_from_callable_sampler():
    law = WeightedMP(0.5, lambda size, rng: rng.exponential(2.0, size), n_samples=50_000, seed=4,
                     n_atoms=16)
    assert law.weights.n_atoms == 16 and law.weights.info["source"] == "sampler"
    # E w of 5e4 exponential(2) draws: 2 ± 2/√5e4 = 2 ± 0.009; 6 SE
    assert abs(law.mean() - 2.0) < 6 * 2.0 / math.sqrt(50_000)
    law2 = WeightedMP(0.5, lambda size, rng: rng.exponential(2.0, size), n_samples=50_000,
                      seed=4, n_atoms=16)
    np.testing.assert_array_equal(law.weights.values, law2.weights.values)  # seeded


def test_weighted_rvs_follows_cdf():
    law = WeightedMP(1.5, DiscreteWeights([-1.0, 2.0], [0.4, 0.6]))
    n = 20000
    x = law.rvs(n, seed=3)
    assert _ks_distance(x, law) < math.sqrt(math.log(2e6) / (2 * n))  # DKW at level 1e-6
    assert law.rvs((2, 3), seed=1).shape == (2, 3)


@pytest.mark.parametrize("args, kwargs, name", [
    ((0.0, 1.0), {}, "ratio"),
    ((-0.5, 1.0), {}, "ratio"),
    ((float("nan"), 1.0), {}, "ratio"),
    ((0.5, ([], [])), {}, "weights"),
    ((0.5, np.array([])), {}, "weights"),
    ((0.5, ([1.0, np.nan], [0.5, 0.5])), {}, "weights"),
    ((0.5, ([1.0, 2.0], [0.5, -0.5])), {}, "probs"),
    ((0.5, ([1.0, 2.0], [0.5, 0.6])), {}, "probs"),
    ((0.5, ([1.0, 2.0], [1.0])), {}, "weights"),
    ((0.5, 0.0), {}, "weights"),
    ((0.5, np.array([1.0, np.inf])), {}, "weights"),
    ((0.5, lambda n, rng: np.ones(3)), {}, "sampler"),
    ((0.5, 1.0), {"tol": 0.0}, "tol"),
    ((0.5, 1.0), {"n_atoms": 1}, "n_atoms"),
    ((0.5, "abc"), {}, "weights"),
])
def test_weighted_bad_parameters(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        WeightedMP(*args, **kwargs) if name != "n_atoms" else WeightedMP(
            0.5, np.arange(1.0, 100.0), **kwargs)


# ---------------------------------------------------------------------------------------------
# block weight laws of the linear CE model
# ---------------------------------------------------------------------------------------------

def _logistic_normal_moment(k: int, sigma: float) -> float:
    """E[(p(1−p))^k] for C = 2: p = σ(z₁ − z₂), z₁ − z₂ ~ N(0, 2σ²) (1-D quadrature)."""
    s = math.sqrt(2.0) * sigma
    f = lambda u: (0.25 / math.cosh(0.5 * s * u) ** 2) ** k * math.exp(-0.5 * u * u)  # noqa
    return integrate.quad(f, -40, 40, epsabs=1e-15)[0] / math.sqrt(2 * math.pi)


def test_block_weight_moments_exact_at_two_classes():
    sigma = 1.3
    est = block_weight_moments(2, sigma, block="diagonal", scale="none", orders=(1, 2),
                               n_samples=2 ** 18, seed=1)
    exact = [_logistic_normal_moment(1, sigma), _logistic_normal_moment(2, sigma)]
    # Monte Carlo: |estimate − truth| ≤ 5 standard errors (P ≈ 6e-7 per moment if Gaussian)
    assert np.all(np.abs(est.values - exact) <= 5 * est.stderr)
    assert np.all(est.stderr > 0) and np.all(est.stderr < 1e-3)
    # C = 2: p₁p₂ = p(1 − p), so the off-diagonal weight is minus the diagonal one
    off = block_weight_moments(2, sigma, block="offdiagonal", scale="none", orders=(1, 2),
                               n_samples=2 ** 18, seed=1)
    assert abs(off.values[0] + exact[0]) <= 5 * off.stderr[0]
    assert abs(off.values[1] - exact[1]) <= 5 * off.stderr[1]


def test_block_weight_limits_and_finite_c():
    # exact large-C limits: E[(C a)^k] = e^{k(k−1)σ²/2}; E[(−C² p_i p_j)^k] = (−1)^k e^{k(k−1)σ²}
    lim = block_weight_moments(math.inf, 1.0, orders=(1, 2, 3))
    np.testing.assert_allclose(lim.values, [1, math.e, math.e ** 3], rtol=1e-15)
    lim_off = block_weight_moments(math.inf, 1.0, block="offdiagonal", orders=(1, 2))
    np.testing.assert_allclose(lim_off.values, [-1, math.e ** 2], rtol=1e-15)
    # finite C: the control variate makes the error small; the estimate lies below the limit
    # (E[C p(1−p)] < 1 at finite C: the softmax normaliser's fluctuation and the −p² term)
    fin = block_weight_moments(200, 1.0, orders=(1, 2), n_samples=2 ** 20, seed=2)
    plain = block_weight_moments(200, 1.0, orders=(1, 2), n_samples=2 ** 20, seed=2,
                                 control_variate=False)
    assert np.all(fin.stderr < plain.stderr)            # the control variate helps
    # the two estimators use the same draws: they agree within their combined error
    assert np.all(np.abs(fin.values - plain.values) <= 5 * plain.stderr)
    assert fin.values[0] < 1.0
    # the law object built from logits alone carries the same first two moments (its own
    # sample of 2^20 draws: 5 combined standard errors; the law keeps its sample's E a, E a²)
    law = diagonal_block_weights(200, 1.0, n_samples=2 ** 20, seed=3)
    assert law.n_atoms == 64 and law.info["n_classes"] == 200 and np.all(law.values > 0)
    sd1 = math.sqrt((law.moment(2) - law.moment(1) ** 2) / 2 ** 20)
    assert abs(law.moment(1) - fin.values[0]) <= 5 * math.hypot(sd1, fin.stderr[0])
    off = offdiagonal_block_weights(200, 1.0, n_samples=2 ** 18, seed=3)
    assert np.all(off.values < 0)
    inf_law = diagonal_block_weights(math.inf, 1.0)
    assert inf_law.mean() == pytest.approx(1.0, rel=1e-10)  # GH, 40 kept nodes (rel 1e-16 drop)


def test_lognormal_weights_moments():
    mu, s2 = -0.7, 1.5
    for k in (1, 2, 3):
        exact = math.exp(k * mu + 0.5 * k * k * s2)
        # untruncated: Gauss–Hermite with 64 nodes is exact for degree ≤ 127 polynomials; the
        # error for e^{ct}, c = k√(2 s2) ≤ 5.2, is ≈ c^{128}/(2^{64}·128!) · √π ≪ 1e-100
        assert lognormal_weights(mu, s2, 64, min_prob=0.0).moment(k) == pytest.approx(exact,
                                                                                   rel=1e-12)
        # truncated at min_prob: the dropped nodes' share of E w^k bounds the change
        t, wq = np.polynomial.hermite.hermgauss(64)
        p = wq / math.sqrt(math.pi)
        drop = p < 1e-16
        bound = (np.sum(p[drop] * np.exp(k * (mu + math.sqrt(2 * s2) * t[drop])))
                 + p[drop].sum() * exact) / exact
        got = lognormal_weights(mu, s2, 64).moment(k)
        assert abs(got / exact - 1) <= 2 * bound + 1e-13
    neg = lognormal_weights(mu, s2, 16, sign=-1)
    assert np.all(neg.values < 0)
    assert lognormal_weights(0.3, 0.0).n_atoms == 1


@pytest.mark.parametrize("call, name", [
    (lambda: diagonal_block_weights(1), "n_classes"),
    (lambda: diagonal_block_weights(10, -1.0), "sigma"),
    (lambda: diagonal_block_weights(10, scale="C3"), "scale"),
    (lambda: diagonal_block_weights(10, scale=-2.0), "scale"),
    (lambda: offdiagonal_block_weights(math.inf, 1.0, scale="C"), "scale"),
    (lambda: block_weight_moments(10, block="upper"), "block"),
    (lambda: block_weight_moments(10, orders=(0,)), "orders"),
    (lambda: lognormal_weights(0.0, -1.0), "s2"),
    (lambda: lognormal_weights(0.0, 1.0, sign=2), "sign"),
    (lambda: lognormal_weights(float("nan"), 1.0), "mu"),
    (lambda: DiscreteWeights([1.0], [1.0]).scaled(0.0), "factor"),
])
def test_block_and_weight_bad_parameters(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------------------------------------
# the Must-show (slow): the linear CE model's Hessian blocks against the finite-C laws
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_must_show_hessian_blocks_fit_finite_c_laws():
    """d = 2000, N = 4000 Gaussian data, C = 1000, σ = 1: eigenvalues of C·H_ii and C²·H_ij
    (weights a_n = p_ni(1 − p_ni) and −p_ni p_nj, which depend on x_n) against the weighted MP
    laws of the finite-C weight laws (independent weights). Threshold 0.02 (the issue's)."""
    from rmt.models import LinearClassifier  # noqa: PLC0415

    d, N, C, sigma = 2000, 4000, 1000, 1.0
    X = np.random.default_rng(2026).standard_normal((N, d))
    model = LinearClassifier.init(C, d, sigma, seed=2027)
    P = model.probabilities(X)
    a_ii = P[:, 0] * (1 - P[:, 0])
    a_ij = -P[:, 0] * P[:, 1]
    e_ii = np.linalg.eigvalsh(C * ((X.T * a_ii) @ X) / N)
    e_ij = np.linalg.eigvalsh(C * C * ((X.T * a_ij) @ X) / N)
    law_ii = WeightedMP(d / N, diagonal_block_weights(C, sigma))
    law_ij = WeightedMP(d / N, offdiagonal_block_weights(C, sigma))
    ks_ii, ks_ij = _ks_distance(e_ii, law_ii), _ks_distance(e_ij, law_ij)
    print(f"Must-show KS: C·H_ii {ks_ii:.4f}, C²·H_ij {ks_ij:.4f}")
    assert ks_ii < 0.02 and ks_ij < 0.02


# ---------------------------------------------------------------------------------------------
# GPU
# ---------------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_laws_on_cupy_match_numpy():
    import cupy as cp  # noqa: PLC0415

    mp = MarchenkoPastur(0.5)
    law = WeightedMP(0.5, DiscreteWeights([-1.0, 2.0], [0.3, 0.7]))
    for obj in (mp, law):
        lo, hi = obj.support()
        x = np.linspace(lo - 0.5, hi + 0.5, 501)
        xg = cp.asarray(x)
        for f in ("pdf", "cdf", "sf"):
            got = getattr(obj, f)(xg)
            assert isinstance(got, cp.ndarray)
            np.testing.assert_allclose(got.get(), getattr(obj, f)(x), rtol=1e-10, atol=1e-12)
        q = np.linspace(0.01, 0.99, 99)
        np.testing.assert_allclose(obj.ppf(cp.asarray(q)).get(), obj.ppf(q), atol=1e-10)
        z = x + 0.1j
        np.testing.assert_allclose(obj.stieltjes(cp.asarray(z)).get(), obj.stieltjes(z),
                                   rtol=1e-10)
        assert isinstance(obj.rvs(10, seed=0, backend="cupy"), cp.ndarray)


def test_module_exports():
    for name in laws.__all__:
        assert hasattr(laws, name)


@pytest.mark.parametrize("values,probs,ratio", [
    (np.sort(np.random.default_rng(0).lognormal(size=400)), np.full(400, 1 / 400), 0.5),
    (np.sort(np.random.default_rng(1).lognormal(sigma=2.0, size=300)), np.full(300, 1 / 300),
     100.0),
    ([1.0, 1.0001, 4.0, 50.0], [0.3, 0.3, 0.2, 0.2], 10.0),
    ([-1.0, 2.0, 2.5], [0.3, 0.4, 0.3], 100.0),
])
def test_support_screen_keeps_every_gap_with_an_edge(values, probs, ratio):
    # The O(K) screen of WeightedMP's support search against brute force: in every gap between
    # poles, the maximum of z' (at the zero of z'', by bisection) is positive only in gaps the
    # screen keeps; the screen is a bound, so it may keep more, never fewer.
    from rmt.laws._numerics import bisect
    from rmt.laws.weighted_mp import _gaps_to_search

    law = WeightedMP(ratio, (values, probs))
    q, c = law._q, law._c
    vmax = bisect(law._d2zv, q[:-1], q[1:], np.zeros(q.size - 1, bool))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        edge = np.nonzero(law._dzv(vmax) > 0)[0]
    kept = _gaps_to_search(q, c)
    assert edge.size > 0 and np.all(np.isin(edge, kept))
    assert len(law.intervals) == edge.size + 1             # each such gap splits the support
    assert kept.size < q.size - 1 or q.size < 10           # and it does screen dense atoms
