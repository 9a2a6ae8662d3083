"""W-blocks of the one-hidden-layer net at finite σ: exact structure of E‖H_kl‖² and of the
Gauss–Newton coefficient under the softmax of ``z = V relu(W x)``.

Setting (:mod:`proofs.hidden_coupling`, :meth:`rmt.models.OneHiddenLayer.init`): ``x ~ N(0, I_d)``,
``W_kj ~ N(0, σ²/d)``, ``V_ck ~ N(0, s²)``, ``s² = σ²/m``, ``u = Wx``, ``h = relu(u)``,
``p = softmax(Vh)``, ``A = diag p − ppᵀ``, ``Γ = VᵀAV``; the W-block weight of units ``k, l`` is
``ω = 1[u_k>0]1[u_l>0] Γ_kl`` and ``H_kl = N⁻¹ Σ_n ω(x_n) x_n x_nᵀ``. Unlike
``hidden_coupling`` nothing here assumes uniform probabilities (U) or orthogonal rows (O).

* ``hidden_finite_sigma.decomposition`` (exact). Given ``V, W``: ``x = Qξ + η`` with ``Q`` an
  orthonormal basis of the row space of ``W`` (``ξ ~ N(0, I_m)``, ``u = Lξ``), ``η`` Gaussian in
  the other ``d − m`` directions and independent of ``ξ``. ``ω`` depends on ``ξ`` only, so with
  ``E‖x‖⁴ | ξ = ‖ξ‖⁴ + 2(d−m)‖ξ‖² + (d−m)(d−m+2)`` and ``E[(xᵀx')² | ξ, ξ'] = (ξᵀξ')² + d − m``:

      E‖H_kl‖² = N⁻¹[Q₂ + 2(d−m)Q₁ + (d−m)(d−m+2)Q₀] + (1 − N⁻¹)[(d−m)P₀ + P₂],
      Q_j = E[ω² ‖ξ‖^{2j}],  P₀ = E[(E_x ω)²],  P₂ = E‖E_x[ω ξξᵀ]‖²_F   (E_x at fixed V, W).

  Checks: the χ² moments; ``ω ≡ 1`` gives :func:`proofs.block_norm_limits.block_sq_norm_exact`;
  with orthonormal rows and indicator weights it gives ``E‖M_kk‖²``, ``E‖M_kl‖²`` of
  ``hidden_coupling.relu_factor`` exactly, so the uniform-softmax ratio ``ρ/√(C+1)`` is the
  ``σ → 0`` case of the same formula.
* ``hidden_finite_sigma.gamma_moments`` (exact given h). ``v_c = (z_c/‖h‖)e + ν_c`` with
  ``e = h/‖h‖``, ``z_c = v_c·h ~ N(0, τ²)``, ``τ = s‖h‖``, ``ν_c ~ N(0, s²P)``, ``P = I − eeᵀ``,
  independent of ``z`` (Gaussian regression). Then ``Γ_kl = ab X + aL_l + bL_k + ν_kᵀAν_l``
  (``a = e_k/‖h‖``, ``b = e_l/‖h‖``, ``X = Var_p(z)``, ``L_l = Σ_c p_c(z_c − z̄)ν_cl``) and by
  Isserlis over ``ν``

      E[Γ_kl | h] = ab E X + s²P_kl E tr A,
      E[Γ_kl² | h] = a²b² E X² + 2ab s²P_kl E[X tr A] + s² E Y (a²P_ll + 2abP_kl + b²P_kk)
                     + s⁴(P_kl² E(tr A)² + (P_kl² + P_kk P_ll) E tr A²),

  ``Y = Σ_c p_c²(z_c − z̄)²``; the seven softmax expectations are over ``C`` iid ``N(0, τ²)``
  logits (exact Laplace quadrature, :mod:`proofs.large_c`). Checked by exact Isserlis
  expectation of the explicit polynomial for ``C = 3, m = 3`` at a rational unit ``e``, and in
  the limit ``τ → 0`` (uniform ``p``) against ``hidden_coupling.w_moments``: ``E Γ_kl² →
  s⁴(C−1)/C²`` and ``E Γ_kk² → s⁴(C²−1)/C²`` for every direction ``e``.
* ``hidden_finite_sigma.class1_projection`` (exact given h, v_1). With class 1's weights fixed
  and the others integrated, ``E[Γ_kl | h, v_1] = V_1kV_1l(f₁ − f₂) − (V_1k e_l + V_1l e_k)f₃/‖h‖
  + e_ke_l(f₄ − f₅)/‖h‖² + s²P_kl(1 − f₁ − f₇)`` with ``f₁ = E[p_1|z_1]``, ``f₂ = E[p_1²|z_1]``,
  ``f₃ = E[p_1 Σ'p_c z_c|z_1]``, ``f₄ = E[Σ'p_c z_c²|z_1]``, ``f₅ = E[(Σ'p_c z_c)²|z_1]``,
  ``f₇ = E[Σ'p_c²|z_1]`` (``Σ'`` over ``c ≥ 2``). Checked by exact Isserlis over ``ν`` for
  ``C = 3, m = 3``. It gives the first-order Hoeffding term of the variance over ``V`` used by
  :mod:`rmt.hidden_prediction` (approximation H1, stated there).
* ``hidden_finite_sigma.large_c_domain`` (exact). ``τ² = (σ²/m) Σ_j relu(u_j)²`` with ``u_j``
  iid ``N(0, σ²)`` under (O) and ``E e^{λ relu(u)²} = ½ + ½(1 − 2λσ²)^{−1/2}`` for
  ``2λσ² < 1``; so ``E e^{τ²} = [½ + ½(1 − 2σ⁴/m)^{−1/2}]^m`` is finite iff ``σ⁴ < m/2``.
  At large ``C`` the one-sample coefficient behaves like ``E[Σ_c p_c²] = e^{τ²}/C`` given
  ``τ``, so ``√C·R_W`` has a finite limit only for ``σ⁴ < m/2`` (for ``m = 8``: ``σ < √2``).
"""

from __future__ import annotations

import itertools

import sympy as sp

from proofs import ProofResult, by_name, derivation, require
from proofs.hidden_coupling import gaussian_expectation, gaussian_moment

__all__ = [
    "sq_norm_decomposition",
    "gamma_moment_formulas",
    "class1_formula",
    "derive_decomposition",
    "derive_gamma_moments",
    "derive_class1_projection",
    "derive_large_c_domain",
]

d, N, m = sp.symbols("d N m", positive=True, integer=True)
Q0, Q1, Q2, P0, P2 = sp.symbols("Q0 Q1 Q2 P0 P2", real=True)
s2 = sp.Symbol("s2", positive=True)


def sq_norm_decomposition() -> sp.Expr:
    """``E‖H‖²`` in the one- and two-sample moments (exact given the structure above)."""
    return ((Q2 + 2 * (d - m) * Q1 + (d - m) * (d - m + 2) * Q0) / N
            + (1 - 1 / N) * ((d - m) * P0 + P2))


def _chi2_moments(n: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """``E R`` and ``E R²`` for ``R ~ χ²_n`` from the moment generating function."""
    t = sp.Symbol("t")
    mgf = (1 - 2 * t) ** (-n / 2)
    return (sp.simplify(sp.diff(mgf, t).subs(t, 0)),
            sp.simplify(sp.diff(mgf, t, 2).subs(t, 0)))


@derivation("hidden_finite_sigma.decomposition",
            "Given V, W: E‖H_kl‖² = N⁻¹[Q₂ + 2(d−m)Q₁ + (d−m)(d−m+2)Q₀] + (1−N⁻¹)[(d−m)P₀ + P₂] "
            "with Q_j = E[ω²‖ξ‖^{2j}], P₀ = E(E_xω)², P₂ = E‖E_x ωξξᵀ‖² (ξ = row-space part of x).")
def derive_decomposition() -> ProofResult:
    notes = []
    n = d - m
    r1, r2 = _chi2_moments(n)
    require("χ²_{d−m} moments: E R = d − m, E R² = (d−m)(d−m+2)",
            sp.simplify(r1 - n) == 0 and sp.simplify(r2 - n * (n + 2)) == 0)
    xi2 = sp.Symbol("xi2", nonnegative=True)   # ‖ξ‖²
    # E‖x‖⁴ | ξ = E(‖ξ‖² + R)² and E(xᵀx')² | ξ, ξ' = (ξᵀξ')² + E(ηᵀη')² = (ξᵀξ')² + n
    x4 = sp.expand(xi2 ** 2 + 2 * xi2 * r1 + r2)
    require("E‖x‖⁴ | ξ = ‖ξ‖⁴ + 2(d−m)‖ξ‖² + (d−m)(d−m+2)",
            sp.expand(x4 - (xi2 ** 2 + 2 * n * xi2 + n * (n + 2))) == 0)
    e = sp.symbols("e0:3", real=True)
    f = sp.symbols("f0:3", real=True)
    cross = gaussian_expectation(sum(a * b for a, b in zip(e, f)) ** 2, list(e) + list(f), 1)
    require("E(ηᵀη')² = dimension (checked at 3)", sp.simplify(cross - 3) == 0)
    notes.append("χ² moments; E(ηᵀη')² = d − m")
    # ω ≡ 1 reproduces the independent-weight exact formula
    ones = sq_norm_decomposition().subs({Q0: 1, Q1: m, Q2: m * (m + 2), P0: 1, P2: m})
    from proofs.block_norm_limits import DIM, NSAMP, block_sq_norm_exact  # noqa: PLC0415

    require("ω ≡ 1 gives block_norm_limits.exact_sq_norm",
            sp.simplify(ones - block_sq_norm_exact(DIM, NSAMP, 1, 1).subs({DIM: d, NSAMP: N})) == 0)
    notes.append("ω ≡ 1 gives block_norm_limits.exact_sq_norm")
    # orthonormal rows, indicator weights: hidden_coupling.relu_factor exactly
    from proofs.hidden_coupling import SYMBOLS, derive_relu_factor  # noqa: PLC0415

    rf = derive_relu_factor().objects
    half_pi = 1 / (2 * sp.pi)
    kk = {Q0: sp.Rational(1, 2), Q1: m / 2, Q2: m * (m + 2) / 2, P0: sp.Rational(1, 4),
          P2: m / 4}
    # E[1_k1_l ξξᵀ] = I/4 + (e_k e_lᵀ + e_l e_kᵀ)/(2π): ‖·‖² = m/16 + 2/(4π²)
    kl = {Q0: sp.Rational(1, 4), Q1: m / 4, Q2: m * (m + 2) / 4, P0: sp.Rational(1, 16),
          P2: m / 16 + 2 * half_pi ** 2}
    sub = {SYMBOLS["d"]: d, SYMBOLS["N"]: N}
    require("indicators, orthonormal rows: E‖M_kk‖² of hidden_coupling.relu_factor",
            sp.simplify(sq_norm_decomposition().subs(kk) - rf["EM2_diag"].subs(sub)) == 0)
    require("indicators, orthonormal rows: E‖M_kl‖² of hidden_coupling.relu_factor",
            sp.simplify(sq_norm_decomposition().subs(kl) - rf["EM2_offdiag"].subs(sub)) == 0)
    notes.append("orthonormal rows + indicators give hidden_coupling.relu_factor's E‖M‖² exactly")
    objects = {"sq_norm": sq_norm_decomposition(), "symbols": by_name(d, N, m, Q0, Q1, Q2, P0, P2),
               "indicator_kk": kk, "indicator_kl": kl}
    return ProofResult(True, objects, "; ".join(notes))


# --- conditional moments of Γ given h ------------------------------------------------------

_SOFTMAX = sp.symbols("EX EtrA EX2 EXtrA EY EtrA_sq EtrA2", real=True)


def gamma_moment_formulas(ek: sp.Expr, el: sp.Expr, same: bool, nh: sp.Expr
                          ) -> tuple[sp.Expr, sp.Expr]:
    """``(E[Γ_kl|h], E[Γ_kl²|h])`` in the seven softmax expectations ``EX … EtrA2``
    (``same``: ``k = l``; ``nh = ‖h‖``)."""
    EX, EtrA, EX2, EXtrA, EY, EtrA_sq, EtrA2 = _SOFTMAX
    a, b = ek / nh, el / nh
    Pkl = (1 if same else 0) - ek * el
    Pkk, Pll = 1 - ek ** 2, 1 - el ** 2
    mean = a * b * EX + s2 * Pkl * EtrA
    second = (a ** 2 * b ** 2 * EX2 + 2 * a * b * s2 * Pkl * EXtrA
              + s2 * EY * (a ** 2 * Pll + 2 * a * b * Pkl + b ** 2 * Pkk)
              + s2 ** 2 * (Pkl ** 2 * EtrA_sq + (Pkl ** 2 + Pkk * Pll) * EtrA2))
    return mean, second


def _explicit_gamma(C: int, mm: int, e: list[sp.Expr], nh: sp.Expr, fixed_first: bool = False):
    """Γ for explicit ``C, m`` with symbolic ``p_c, z_c`` and ``ν_c = s P g_c`` (g iid N(0,1)).

    With ``fixed_first``, class 1's row ``V_1`` is kept as symbols (the class-1 projection)."""
    p = sp.symbols(f"p0:{C}", positive=True)
    z = sp.symbols(f"z0:{C}", real=True)
    P = sp.eye(mm) - sp.Matrix(e) * sp.Matrix(e).T
    g = [[sp.Symbol(f"g{c}_{j}") for j in range(mm)] for c in range(C)]
    s = sp.sqrt(s2)
    V = []
    for c in range(C):
        if fixed_first and c == 0:
            V.append([sp.Symbol(f"V0_{j}") for j in range(mm)])
        else:
            nu = P * sp.Matrix(g[c]) * s
            V.append([z[c] / nh * e[j] + nu[j] for j in range(mm)])
    A = sp.diag(*p) - sp.Matrix(p) * sp.Matrix(p).T
    Vm = sp.Matrix(V)
    Gam = Vm.T * A * Vm
    gvars = [x for c in range(C) for x in g[c] if not (fixed_first and c == 0)]
    return p, z, Gam, gvars


def _poly_expectation(poly: sp.Poly) -> sp.Expr:
    """``E`` of a polynomial in iid standard normals (its generators), term by term."""
    out = sp.Integer(0)
    for powers, coeff in poly.terms():
        term = coeff
        for k in powers:
            term *= gaussian_moment(k, 1)
            if term == 0:
                break
        out += term
    return out


def _power_sums(p, z, rng):
    def S(mp, a):
        return sum(p[c] ** mp * z[c] ** a for c in rng)
    return S


@derivation("hidden_finite_sigma.gamma_moments",
            "E[Γ_kl|h] = ab E X + s²P_kl E trA and E[Γ_kl²|h] in seven softmax expectations of "
            "C iid N(0, τ²) logits (Gaussian regression of V on z + Isserlis); → (U) as τ → 0.")
def derive_gamma_moments() -> ProofResult:
    notes = []
    C, mm = 3, 3
    e = [sp.Rational(2, 7), sp.Rational(3, 7), sp.Rational(6, 7)]   # a rational unit vector
    nh = sp.Symbol("nh", positive=True)
    p, z, Gam, gvars = _explicit_gamma(C, mm, e, nh)
    # exact rational probabilities (summing to 1) and logits: Isserlis is then a polynomial
    # identity in the Gaussian g's checked with exact arithmetic at three points
    for pv, zv in (((sp.Rational(1, 2), sp.Rational(1, 3)), (sp.Rational(1, 3), -2, sp.Rational(5, 4))),
                   ((sp.Rational(1, 7), sp.Rational(4, 7)), (-1, sp.Rational(1, 2), 3)),
                   ((sp.Rational(2, 5), sp.Rational(1, 10)), (sp.Rational(7, 3), 0, -1))):
        pv = (*pv, 1 - sum(pv))
        at = dict(zip(p, pv)) | dict(zip(z, zv)) | {nh: sp.Rational(3, 2), s2: sp.Rational(1, 9)}
        S = _power_sums(pv, zv, range(C))
        X = S(1, 2) - S(1, 1) ** 2
        trA = 1 - S(2, 0)
        zbar = S(1, 1)
        Y = sum(pv[c] ** 2 * (zv[c] - zbar) ** 2 for c in range(C))
        trA2 = S(2, 0) - 2 * S(3, 0) + S(2, 0) ** 2
        vals = dict(zip(_SOFTMAX, (X, trA, X ** 2, X * trA, Y, trA ** 2, trA2)))
        G = Gam.subs(at)
        for k, l in ((0, 1), (0, 0), (1, 2)):
            poly = sp.Poly(G[k, l], *gvars)
            exact_mean = _poly_expectation(poly)
            exact_sq = _poly_expectation(poly * poly)
            fm, fs = gamma_moment_formulas(e[k], e[l], k == l, sp.Rational(3, 2))
            require(f"Isserlis: E[Γ_{k}{l} | h] at p = {pv}", sp.simplify(
                exact_mean - fm.subs(vals).subs(s2, sp.Rational(1, 9))) == 0)
            require(f"Isserlis: E[Γ_{k}{l}² | h] at p = {pv}", sp.simplify(
                exact_sq - fs.subs(vals).subs(s2, sp.Rational(1, 9))) == 0)
    notes.append("Isserlis over ν equals the formulas for C = 3, m = 3, (k,l) ∈ {(0,1),(0,0),(1,2)}")
    # τ → 0 (uniform p): leading-order softmax expectations, from the sample variance of C
    # Gaussian logits: E X/τ² → (C−1)/C, E X²/τ⁴ → (C²−1)/C², E[X trA]/τ² → ((C−1)/C)²,
    # E Y/τ² → (C−1)/C², E tr A → (C−1)/C, E(tr A)² → ((C−1)/C)², E tr A² → (C−1)/C².
    Cs, tau = sp.symbols("C tau", positive=True)
    zs = sp.symbols("w0:4", real=True)
    for Cn in (2, 3, 4):
        zz = zs[:Cn]
        sv = sum(w ** 2 for w in zz) / Cn - (sum(zz) / Cn) ** 2
        require(f"sample variance of {Cn} normals: mean (C−1)/C", sp.simplify(
            gaussian_expectation(sv, list(zz), 1) - sp.Rational(Cn - 1, Cn)) == 0)
        require(f"sample variance of {Cn} normals: second moment (C²−1)/C²", sp.simplify(
            gaussian_expectation(sp.expand(sv ** 2), list(zz), 1)
            - sp.Rational(Cn ** 2 - 1, Cn ** 2)) == 0)
    lim = dict(zip(_SOFTMAX, (tau ** 2 * (Cs - 1) / Cs, (Cs - 1) / Cs,
                              tau ** 4 * (Cs ** 2 - 1) / Cs ** 2,
                              tau ** 2 * ((Cs - 1) / Cs) ** 2, tau ** 2 * (Cs - 1) / Cs ** 2,
                              ((Cs - 1) / Cs) ** 2, (Cs - 1) / Cs ** 2)))
    ek, el = sp.symbols("e_k e_l", real=True)
    nh2 = tau / sp.sqrt(s2)                                     # ‖h‖ = τ/s
    _, kl2 = gamma_moment_formulas(ek, el, False, nh2)
    _, kk2 = gamma_moment_formulas(ek, ek, True, nh2)
    require("τ → 0: E Γ_kl² → s⁴(C−1)/C² for every e",
            sp.simplify(kl2.subs(lim) - s2 ** 2 * (Cs - 1) / Cs ** 2) == 0)
    require("τ → 0: E Γ_kk² → s⁴(C²−1)/C² for every e",
            sp.simplify(kk2.subs(lim) - s2 ** 2 * (Cs ** 2 - 1) / Cs ** 2) == 0)
    notes.append("τ → 0: E Γ_kl² → s⁴(C−1)/C², E Γ_kk² → s⁴(C²−1)/C² for every e (hidden_coupling)")
    return ProofResult(True, {"formulas": gamma_moment_formulas, "softmax_symbols": by_name(*_SOFTMAX),
                                  "s2": s2}, "; ".join(notes))


def class1_formula(V1k: sp.Expr, V1l: sp.Expr, ek: sp.Expr, el: sp.Expr, same: bool,
                   nh: sp.Expr, f: dict[str, sp.Expr]) -> sp.Expr:
    """``E[Γ_kl | h, v_1]`` in the class-1 functions ``f1, f2, f3, f4, f5, f7``."""
    Pkl = (1 if same else 0) - ek * el
    return (V1k * V1l * (f["f1"] - f["f2"]) - (V1k * el + V1l * ek) * f["f3"] / nh
            + ek * el * (f["f4"] - f["f5"]) / nh ** 2 + s2 * Pkl * (1 - f["f1"] - f["f7"]))


@derivation("hidden_finite_sigma.class1_projection",
            "E[Γ_kl | h, v_1] = V_1kV_1l(f₁−f₂) − (V_1k e_l + V_1l e_k)f₃/‖h‖ + e_ke_l(f₄−f₅)/‖h‖² "
            "+ s²P_kl(1 − f₁ − f₇): class 1 fixed, the other classes' weights integrated.")
def derive_class1_projection() -> ProofResult:
    C, mm = 3, 3
    e = [sp.Rational(2, 7), sp.Rational(3, 7), sp.Rational(6, 7)]
    nh = sp.Symbol("nh", positive=True)
    p, z, Gam, gvars = _explicit_gamma(C, mm, e, nh, fixed_first=True)
    rest = range(1, C)
    S = _power_sums(p, z, rest)
    # the f's before their expectation over the other classes' logits (given z_1)
    f = {"f1": p[0], "f2": p[0] ** 2, "f3": p[0] * S(1, 1), "f4": S(1, 2),
         "f5": S(1, 1) ** 2, "f7": S(2, 0)}
    V0 = [sp.Symbol(f"V0_{j}") for j in range(mm)]
    for k, l in ((0, 1), (0, 0), (2, 1)):
        exact = gaussian_expectation(Gam[k, l], gvars, 1)
        formula = class1_formula(V0[k], V0[l], e[k], e[l], k == l, nh, f)
        # p_1 = 1 − Σ' p_c: the formula uses 1 − f₁ for Σ'p_c
        diff = sp.expand((exact - formula).subs(p[0], 1 - sum(p[c] for c in rest)))
        require(f"Isserlis over the other classes: E[Γ_{k}{l} | h, v_1]", diff == 0)
    return ProofResult(True, {"formula": class1_formula},
                       "Isserlis over the other classes' ν equals the formula for C = 3, m = 3")


@derivation("hidden_finite_sigma.large_c_domain",
            "E e^{λ relu(u)²} = ½ + ½(1−2λσ²)^{-1/2}; E e^{τ²} = [½ + ½(1 − 2σ⁴/m)^{-1/2}]^m, "
            "finite iff σ⁴ < m/2: the domain of the large-C law √C·R_W → const.")
def derive_large_c_domain() -> ProofResult:
    lam, sig, t = sp.symbols("lambda sigma t", positive=True)
    dens = sp.exp(-t ** 2 / (2 * sig ** 2)) / sp.sqrt(2 * sp.pi * sig ** 2)
    half = sp.integrate(sp.exp(lam * t ** 2) * dens, (t, 0, sp.oo), conds="none")
    mgf = sp.Rational(1, 2) + half
    want = sp.Rational(1, 2) + sp.Rational(1, 2) / sp.sqrt(1 - 2 * lam * sig ** 2)
    # compare on the domain 2λσ² < 1 at a few rational points (the integral is piecewise)
    require("E e^{λ relu(u)²} = ½ + ½(1 − 2λσ²)^{−1/2} (three points, 30 digits)",
            all(abs(float((mgf - want).subs({lam: lv, sig: sv}).evalf(30))) < 1e-25
                for lv, sv in ((sp.Rational(1, 10), 1), (sp.Rational(1, 5), sp.Rational(3, 2)),
                               (sp.Rational(1, 8), 1))))
    mm = sp.Symbol("m", positive=True)
    etau2 = (sp.Rational(1, 2) + sp.Rational(1, 2) / sp.sqrt(1 - 2 * sig ** 4 / mm)) ** mm
    boundary = sp.solve(sp.Eq(2 * sig ** 4 / mm, 1), sig)
    require("2σ⁴/m = 1 at σ = (m/2)^{1/4}",
            any(sp.simplify(b - (mm / 2) ** sp.Rational(1, 4)) == 0 for b in boundary))
    at8 = float(((8 / sp.Integer(2)) ** sp.Rational(1, 4)).evalf())
    return ProofResult(True, {"E_exp_tau2": etau2, "sigma_max_large_c": (mm / 2) ** sp.Rational(1, 4)},
                       f"relu² MGF; E e^{{τ²}} = {etau2}; finite iff σ < (m/2)^(1/4) "
                       f"(= {at8:.4f} for m = 8)")
