"""Marchenko–Pastur moments are Narayana polynomials.

Convention (the suite's): ``X`` is ``N × d`` with iid standard Gaussian entries, ``B = s·XᵀX/N``
is ``d × d``, ``γ = d/N`` and ``s`` (``scale``, σ² in the docs) multiplies the law. The
Stieltjes transform ``m(z) = ∫ dμ(λ)/(λ − z)`` of the limiting spectral law of ``B`` at ``s = 1``
solves the quadratic

    γ z m² + (z + γ − 1) m + 1 = 0,

which is derived here from the weighted-MP fixed point ``m = 1/(−z + E[w/(1 + γ w m)])`` at
``w ≡ 1`` (see also :mod:`proofs.free_cumulants`). At ``z → ∞`` write ``u = 1/z`` and
``m = −u g(u)`` with ``g(u) = Σ_k M_k u^k`` the moment generating series; the quadratic becomes

    g = 1 + u (γ g² − (γ − 1) g),

whose unique formal power-series solution with ``g(0) = 1`` is computed order by order. Its
coefficients are compared, for ``k ≤ 8``, with the Narayana polynomials

    M_k(γ) = Σ_{j=0}^{k−1} (1/(j+1)) C(k, j) C(k−1, j) γ^j,

and, independently, with the Taylor coefficients of the closed-form root selected by
``g(0) = 1``. The density and edges follow from the discriminant of the quadratic:
``(z + γ − 1)² − 4γz = (z − λ₋)(z − λ₊)`` with ``λ± = (1 ± √γ)²`` (checked exactly), so
Stieltjes inversion gives ``f(λ) = √((λ₊ − λ)(λ − λ₋)) / (2π γ λ)`` on ``[λ₋, λ₊]`` plus an atom
of mass ``1 − 1/γ`` at 0 when ``γ > 1``; the moments of that density are checked against the
Narayana values by quadrature at ``γ = 1/2`` and ``γ = 2``.

Everything here is exact except the quadrature check (mpmath, 30 digits).
"""

from __future__ import annotations

import mpmath
import sympy as sp

from proofs import ProofResult, by_name, derivation, require

__all__ = [
    "GAMMA",
    "SCALE",
    "Z",
    "M",
    "K_MAX",
    "narayana",
    "narayana_general",
    "mp_quadratic",
    "mp_series_moments",
    "derive_narayana",
]

#: Aspect ratio γ = d/N (positive).
GAMMA = sp.Symbol("gamma", positive=True)
#: Scale s of the law (the variance σ² of the entries; B = s·XᵀX/N).
SCALE = sp.Symbol("scale", positive=True)
#: Spectral argument and Stieltjes transform.
Z = sp.Symbol("z")
M = sp.Symbol("m")
#: Highest moment compared with the Narayana polynomials.
K_MAX = 8

_U = sp.Symbol("u")
_k = sp.Symbol("k", integer=True, positive=True)
_j = sp.Symbol("j", integer=True, nonnegative=True)


def narayana(k: int, gamma: sp.Expr = GAMMA) -> sp.Expr:
    """The Narayana polynomial ``Σ_{j<k} C(k,j) C(k−1,j) γ^j / (j+1)`` (k-th MP moment, s = 1).

    Parameters
    ----------
    k : int, >= 0
        Moment order (``k = 0`` gives 1).
    gamma : sympy.Expr or number
        The aspect ratio γ.

    Returns
    -------
    sympy.Expr
        A polynomial in ``gamma`` of degree ``k − 1``.
    """
    if int(k) != k or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    k = int(k)
    if k == 0:
        return sp.Integer(1)
    return sp.expand(sum(sp.Rational(1, j + 1) * sp.binomial(k, j) * sp.binomial(k - 1, j)
                         * gamma**j for j in range(k)))


def narayana_general() -> sp.Expr:
    """The k-th MP moment at scale s: an unevaluated sum in symbolic ``k``, ``gamma``, ``scale``."""
    return SCALE**_k * sp.Sum(sp.binomial(_k, _j) * sp.binomial(_k - 1, _j) * GAMMA**_j / (_j + 1),
                              (_j, 0, _k - 1))


def mp_quadratic(scale: sp.Expr = sp.Integer(1)) -> sp.Expr:
    """Left side of the MP Stieltjes quadratic ``γ s z m² + (z + s(γ − 1)) m + 1`` (= 0)."""
    return GAMMA * scale * Z * M**2 + (Z + scale * (GAMMA - 1)) * M + 1


def mp_series_moments(kmax: int, gamma: sp.Expr = GAMMA) -> list[sp.Expr]:
    """Moments ``M_0..M_kmax`` from the power series of ``g = 1 + u(γ g² − (γ − 1) g)``.

    Parameters
    ----------
    kmax : int, >= 0
        Highest order.
    gamma : sympy.Expr or number

    Returns
    -------
    list of sympy.Expr
        ``[M_0, …, M_kmax]``, exact polynomials in ``gamma``.
    """
    if int(kmax) != kmax or kmax < 0:
        raise ValueError(f"kmax must be an integer >= 0, got {kmax!r}")
    g = sp.Integer(1)
    # each pass fixes one more coefficient of the unique power-series solution
    for _ in range(int(kmax)):
        g = sp.expand(1 + _U * (gamma * g**2 - (gamma - 1) * g))
        g = sum(g.coeff(_U, i) * _U**i for i in range(int(kmax) + 1))
    return [sp.expand(g.coeff(_U, i)) for i in range(int(kmax) + 1)]


@derivation("mp_moments.narayana",
            "The MP law of s·XᵀX/N (γ = d/N) solves γ s z m² + (z + s(γ−1)) m + 1 = 0 and has "
            "moments s^k Σ_j C(k,j)C(k−1,j)γ^j/(j+1) (Narayana), checked for k ≤ 8.")
def derive_narayana() -> ProofResult:
    notes: list[str] = []

    # 1. The quadratic from the weighted-MP fixed point at w ≡ 1.
    fixed_point = M * (-Z + 1 / (1 + GAMMA * M)) - 1
    num = sp.numer(sp.together(fixed_point))
    q1 = mp_quadratic()
    ratio = sp.cancel(num / q1)
    same = ratio.is_constant() and ratio != 0
    require("the w ≡ 1 fixed point is a multiple of the MP quadratic", bool(same))
    notes.append(f"w≡1 fixed point numerator / quadratic = {ratio}")

    # Scaled law: m_s(z) = m(z/s)/s turns the quadratic into mp_quadratic(SCALE).
    scaled = sp.expand(mp_quadratic().subs({Z: Z / SCALE, M: SCALE * M}) - mp_quadratic(SCALE))
    require("the scaled law solves mp_quadratic(s)", scaled == 0)

    # 2. Series at z = ∞: m = −u g, z = 1/u, times u, gives u(γ u g² − (1 + (γ−1)u) g + 1).
    G = sp.Symbol("g")
    transformed = sp.expand(mp_quadratic().subs({M: -_U * G, Z: 1 / _U}) * _U)
    target = sp.expand(_U * (GAMMA * _U * G**2 - (1 + (GAMMA - 1) * _U) * G + 1))
    require("m = −u g turns the quadratic into the generating-function equation", sp.expand(transformed - target) == 0)

    series = mp_series_moments(K_MAX)
    nar = [narayana(k) for k in range(K_MAX + 1)]
    mism = [k for k in range(K_MAX + 1) if sp.expand(series[k] - nar[k]) != 0]
    require("series coefficients are the Narayana polynomials", not mism)
    verdict = "all equal" if not mism else f"differ at {mism}"
    notes.append(f"series vs Narayana k ≤ {K_MAX}: {verdict}")

    # 3. Independent check: Taylor coefficients of the closed-form root with g(0) = 1.
    b = 1 + (GAMMA - 1) * _U
    root = (b - sp.sqrt(b**2 - 4 * GAMMA * _U)) / (2 * GAMMA * _U)
    taylor = sp.series(root, _U, 0, 5).removeO()
    t_mism = [k for k in range(5) if sp.simplify(taylor.coeff(_U, k) - nar[k]) != 0]
    require("Taylor coefficients of the root are the Narayana polynomials", not t_mism)
    notes.append(f"closed-form root Taylor coefficients k ≤ 4: "
                 f"{'equal' if not t_mism else f'differ at {t_mism}'}")

    # 4. Edges from the discriminant, and density by Stieltjes inversion.
    lam = sp.Symbol("lambda", positive=True)
    lo = SCALE * (1 - sp.sqrt(GAMMA))**2
    hi = SCALE * (1 + sp.sqrt(GAMMA))**2
    disc = sp.expand((Z + SCALE * (GAMMA - 1))**2 - 4 * GAMMA * SCALE * Z)
    require("the discriminant vanishes at the MP edges", sp.expand(disc - (Z - lo) * (Z - hi)) == 0)
    pdf = sp.sqrt((hi - lam) * (lam - lo)) / (2 * sp.pi * GAMMA * SCALE * lam)
    atom = sp.Max(0, 1 - 1 / GAMMA)

    # 5. Quadrature: moments of the density (+ atom) equal the Narayana values.
    worst = mpmath.mpf(0)
    with mpmath.workdps(30):
        for gval in (sp.Rational(1, 2), sp.Integer(2)):
            f = sp.lambdify(lam, pdf.subs({GAMMA: gval, SCALE: 1}), "mpmath")
            a = mpmath.mpf(str(lo.subs({GAMMA: gval, SCALE: 1}).evalf(40)))
            c = mpmath.mpf(str(hi.subs({GAMMA: gval, SCALE: 1}).evalf(40)))
            mass = mpmath.quad(f, [a, c]) + mpmath.mpf(str(atom.subs(GAMMA, gval).evalf(40)))
            worst = max(worst, abs(mass - 1))
            for k in range(1, 5):
                mk = mpmath.quad(lambda x, k=k: x**k * f(x), [a, c])
                worst = max(worst, abs(mk - mpmath.mpf(str(nar[k].subs(GAMMA, gval)))))
    require("density moments equal Narayana to 1e-20 (30-digit quadrature)", worst < mpmath.mpf(10) ** -20)  # quadrature of an algebraic density at 30 digits
    notes.append(f"density mass and moments k ≤ 4 at γ = 1/2, 2: max error {mpmath.nstr(worst, 3)}")

    moments = {k: sp.expand(SCALE**k * nar[k]) for k in range(K_MAX + 1)}
    objects = {
        "symbols": by_name(GAMMA, SCALE),
        "stieltjes_quadratic": mp_quadratic(SCALE),
        "moments": moments,
        "moment_general": narayana_general(),
        "edges": (lo, hi),
        "pdf": pdf,
        "pdf_variable": lam,
        "atom_mass": atom,
        "variance": sp.expand(moments[2] - moments[1]**2),
    }
    return ProofResult(True, objects, "; ".join(notes))
