"""Hidden units' W-blocks couple through c_kl = v_kᵀAv_l: their block ratio falls like C^{-1/2}.

Setting: ``z = V φ(W x)`` with ``V_ck`` iid ``N(0, s²)``, ``s² = σ²/m``, independent of ``W`` and
of the data. By :mod:`proofs.chain_rule`, the W–W block ``(k, l)`` is
``H_kl = (1/N) Σ_n [c_{n,kl} φ'(u_nk) φ'(u_nl) + δ_kl r_nk φ''(u_nk)] x_n x_nᵀ`` with the
Gauss–Newton coefficient ``c_{n,kl} = v_kᵀ A_n v_l`` (``v_k`` = column ``k`` of ``V``).

Assumptions (each derivation restates the ones it uses):

* (U) uniform probabilities, CE only: ``p_n = 1/C`` for every sample, so
  ``A_n = A₀ = (I − 11ᵀ/C)/C`` for all ``n``. Exact when all logits are equal (``V = 0``); the
  leading order as ``σ → 0``. It makes ``A`` independent of ``V``. MSE needs no assumption:
  ``A = I`` exactly.
* (R) ``φ'' = 0`` (ReLU almost everywhere, identity), so the residual term vanishes; then
  ``H_kl = c_kl M_kl`` with ``M_kl = (1/N) Σ_n φ'(u_nk) φ'(u_nl) x_n x_nᵀ``, which depends on ``W``
  and ``X`` only. Nothing is assumed about the φ′ factors' correlations: they stay inside ``M``.
* Expectation: the prediction is the ratio of root-mean-squares
  ``R_W = (E‖H_kl‖²_F / E‖H_kk‖²_F)^{1/2}``. Under (U), (R) and the independence of ``V`` from
  ``(W, X)``, ``E‖H_kl‖² = E[c_kl²] E‖M_kl‖²`` exactly, so
  ``R_W = (E[c_kl²] / E[c_kk²])^{1/2} · ρ`` with the data-dependent factor
  ``ρ = (E‖M_kl‖² / E‖M_kk‖²)^{1/2}``, which does not depend on ``C``, ``V`` or ``σ``.
* (O) for the closed form of ``ρ`` (ReLU, Gaussian data) only: the two rows ``w_k``, ``w_l``
  are orthogonal (iid Gaussian rows are, up to ``O(d^{-1/2})``).

Results: CE ``E[c_kl²]/E[c_kk²] = 1/(C + 1)``; MSE ``1/(C + 2)``; hence
``R_W = ρ/√(C + 1)`` (CE) and ``ρ/√(C + 2)`` (MSE), both ``∝ C^{-1/2}``. The V-blocks behave like
the linear model with features ``h``: ``1/(C − 1)`` per block under (U) for CE, exactly ``0`` for
MSE. For ReLU and Gaussian data ``ρ² → (1 + 4γ)/(4 + 8γ)`` as ``d, N → ∞``, ``d/N → γ``.
"""

from __future__ import annotations

import sympy as sp

from proofs import ProofResult, derivation, require
from proofs.chain_rule import hidden_sample_blocks
from proofs.softmax_hessian import ce_hessian_of_p, sift_in_range

__all__ = [
    "SYMBOLS",
    "gaussian_moment",
    "gaussian_expectation",
    "uniform_A",
    "derive_w_moments",
    "derive_ratio",
    "derive_relu_factor",
]

C = sp.Symbol("C", integer=True, positive=True)
m = sp.Symbol("m", integer=True, positive=True)
sigma = sp.Symbol("sigma", positive=True)
gamma = sp.Symbol("gamma", positive=True)
d = sp.Symbol("d", integer=True, positive=True)
N = sp.Symbol("N", integer=True, positive=True)
rho = sp.Symbol("rho", nonnegative=True)
s2 = sigma ** 2 / m  # variance of V_ck

#: The symbols in which the results are expressed.
SYMBOLS = {"C": C, "m": m, "sigma": sigma, "gamma": gamma, "d": d, "N": N, "rho": rho}


def gaussian_moment(k: int, var: sp.Expr) -> sp.Expr:
    """``E[v^k]`` for ``v ~ N(0, var)``: ``0`` for odd ``k``, else ``var^{k/2} (k − 1)!!``."""
    if k % 2:
        return sp.Integer(0)
    return var ** (k // 2) * sp.factorial2(k - 1)


def gaussian_expectation(expr: sp.Expr, variables: list[sp.Symbol], var: sp.Expr) -> sp.Expr:
    """``E[expr]`` for a polynomial in independent ``N(0, var)`` variables (Isserlis/Wick).

    The polynomial is expanded into monomials; independence factorises each monomial's
    expectation into one-dimensional moments (:func:`gaussian_moment`).

    Parameters
    ----------
    expr : sympy.Expr
        Polynomial in ``variables`` (other symbols are treated as constants).
    variables : list of sympy.Symbol
    var : sympy.Expr
        The common variance.

    Returns
    -------
    sympy.Expr
    """
    poly = sp.Poly(sp.expand(expr), *variables)
    out = sp.Integer(0)
    for powers, coeff in poly.terms():
        term = coeff
        for k in powers:
            term *= gaussian_moment(k, var)
            if term == 0:
                break
        out += term
    return sp.expand(out)


def uniform_A(Cn: int) -> sp.Matrix:
    """The CE logit Hessian at uniform probabilities, ``(I − 11ᵀ/C)/C``, for explicit ``C``."""
    return ce_hessian_of_p(sp.Matrix([sp.Rational(1, Cn)] * Cn))


def _traces_of_projector() -> tuple[sp.Expr, sp.Expr]:
    """``tr P`` and ``tr P²`` of ``P = I − 11ᵀ/C`` for symbolic ``C`` (index sums)."""
    i, j = sp.symbols("i j", integer=True, nonnegative=True)
    P = sp.KroneckerDelta(i, j) - 1 / C
    trP = sift_in_range(sp.Sum(P.subs(j, i), (i, 0, C - 1)).doit(), [i], C)
    sq = sp.expand(P ** 2).replace(lambda e: e.is_Pow and isinstance(e.base, sp.KroneckerDelta),
                                   lambda e: e.base)  # δ² = δ
    inner = sift_in_range(sp.Sum(sq, (j, 0, C - 1)).doit(), [i, j], C)
    trP2 = sift_in_range(sp.Sum(sp.expand(inner), (i, 0, C - 1)).doit(), [i], C)
    return sp.simplify(trP), sp.simplify(trP2)


def derive_w_moments(explicit_classes: tuple[int, ...] = (2, 3, 4, 5, 6)) -> ProofResult:
    """Moments of the W-block coefficients ``c_kl = v_kᵀAv_l`` over ``V_ck ~ N(0, s²)`` iid.

    CE under (U), ``A = A₀ = P/C`` with the projector ``P = I − 11ᵀ/C``; MSE ``A = I``. Isserlis
    for independent ``v_k, v_l ~ N(0, s² I_C)`` and symmetric ``M``: ``E[v_kᵀMv_k] = s² tr M``,
    ``E[(v_kᵀMv_l)²] = s⁴ tr M²`` (``k ≠ l``), ``E[(v_kᵀMv_k)²] = s⁴ ((tr M)² + 2 tr M²)``; with
    ``tr P = tr P² = C − 1``. Checked against monomial-by-monomial Gaussian expectations of
    the explicit ``c`` for each ``C`` in ``explicit_classes``.

    Returns
    -------
    ProofResult
        Expressions in ``C, sigma, m`` (``s² = σ²/m``): ``"E_ckk_ce"``, ``"E_ckl2_ce"``,
        ``"E_ckk2_ce"``, ``"E_ckk_mse"``, ``"E_ckl2_mse"``, ``"E_ckk2_mse"``, and
        ``"A_uniform_index"`` (``δ_ij/C − 1/C²``).
    """
    i, j = sp.symbols("i j", integer=True, nonnegative=True)
    A_idx = sp.KroneckerDelta(i, j) / C - 1 / C ** 2
    # (U): the closed form diag(p) − ppᵀ at p_i = 1/C is A₀ = P/C
    pb = sp.IndexedBase("p", positive=True)
    A_closed = (sp.KroneckerDelta(i, j) * pb[i] - pb[i] * pb[j]).subs({pb[i]: 1 / C, pb[j]: 1 / C})
    uniform_ok = sp.simplify(A_closed - A_idx) == 0
    trP, trP2 = _traces_of_projector()
    traces_ok = sp.simplify(trP - (C - 1)) == 0 and sp.simplify(trP2 - (C - 1)) == 0
    # CE: M = P/C; MSE: M = I (tr I = tr I² = C)
    moments = {
        "E_ckk_ce": s2 * trP / C,
        "E_ckl2_ce": s2 ** 2 * trP2 / C ** 2,
        "E_ckk2_ce": s2 ** 2 * (trP ** 2 + 2 * trP2) / C ** 2,
        "E_ckk_mse": s2 * C,
        "E_ckl2_mse": s2 ** 2 * C,
        "E_ckk2_mse": s2 ** 2 * (C ** 2 + 2 * C),
    }
    moments = {k: sp.factor(v) for k, v in moments.items()}
    explicit, lines = True, []
    for Cn in explicit_classes:
        V = sp.Matrix(Cn, 2, lambda c, k: sp.Symbol(f"V{c}_{k}", real=True))
        var = sp.Symbol("s2", positive=True)
        ok_C = True
        for loss, A in (("ce", uniform_A(Cn)), ("mse", sp.eye(Cn))):
            c = V.T * A * V
            got = {f"E_ckk_{loss}": gaussian_expectation(c[0, 0], list(V), var),
                   f"E_ckl2_{loss}": gaussian_expectation(c[0, 1] ** 2, list(V), var),
                   f"E_ckk2_{loss}": gaussian_expectation(c[0, 0] ** 2, list(V), var)}
            for key, val in got.items():
                want = moments[key].subs(C, Cn).subs(sigma, sp.sqrt(var * m))
                ok_C &= sp.simplify(val - want) == 0
        explicit &= ok_C
        lines.append(f"C={Cn}: {ok_C}")
    require("diag(p) − ppᵀ at p = 1/C is (I − 11ᵀ/C)/C", uniform_ok)
    require("tr P = tr P² = C − 1", traces_ok)
    require("Gaussian moments of c = VᵀAV at explicit C", explicit)
    detail = (f"diag(p) − ppᵀ at p = 1/C equals (I − 11ᵀ/C)/C: {uniform_ok}; tr P = tr P² = C − 1: "
              f"{traces_ok}; Isserlis moments equal the explicit Gaussian expectations for "
              + ", ".join(lines) + f". CE: E c_kk = {moments['E_ckk_ce']}, E c_kl² = "
              f"{moments['E_ckl2_ce']}, E c_kk² = {moments['E_ckk2_ce']}; MSE: E c_kk = "
              f"{moments['E_ckk_mse']}, E c_kl² = {moments['E_ckl2_mse']}, E c_kk² = "
              f"{moments['E_ckk2_mse']}")
    objects = dict(moments, A_uniform_index=A_idx, **SYMBOLS)
    return ProofResult(True, objects, detail)


def derive_ratio() -> ProofResult:
    """The C-dependence of the hidden net's block ratios (W-blocks ∝ C^{-1/2}, V-blocks 1/C-type).

    Uses (U) for CE, (R), and the RMS expectation of the module docstring.

    Returns
    -------
    ProofResult
        Expressions (symbols ``C, m, rho``; ``rho`` is the data factor ``ρ``):
        ``"w_block_ratio_ce"`` (``ρ/√(C+1)``), ``"w_block_ratio_mse"`` (``ρ/√(C+2)``),
        ``"w_aggregate_ratio_ce"`` (``ρ √((m−1)/(C+1))``), ``"w_aggregate_ratio_mse"``,
        ``"w_coeff_ratio_sq_ce"`` (``1/(C+1)``), ``"w_coeff_ratio_sq_mse"`` (``1/(C+2)``),
        ``"w_coeff_rms_over_mean_ce"`` (``√E c_kl² / E c_kk = 1/√(C−1)``),
        ``"w_coeff_rms_over_mean_mse"`` (``1/√C``), ``"v_block_ratio_ce"`` (``1/(C−1)``),
        ``"v_aggregate_ratio_ce"`` (``1/√(C−1)``), ``"v_block_ratio_mse"`` (``0``).
    """
    mom = derive_w_moments(explicit_classes=(3,))
    M = mom.objects
    coeff_sq_ce = sp.simplify(M["E_ckl2_ce"] / M["E_ckk2_ce"])
    coeff_sq_mse = sp.simplify(M["E_ckl2_mse"] / M["E_ckk2_mse"])
    out = {
        "w_coeff_ratio_sq_ce": coeff_sq_ce,
        "w_coeff_ratio_sq_mse": coeff_sq_mse,
        "w_block_ratio_ce": rho * sp.sqrt(coeff_sq_ce),
        "w_block_ratio_mse": rho * sp.sqrt(coeff_sq_mse),
        # Σ_{k≠l} over m(m−1) off-diagonal blocks against m diagonal ones
        "w_aggregate_ratio_ce": rho * sp.sqrt((m - 1) * coeff_sq_ce),
        "w_aggregate_ratio_mse": rho * sp.sqrt((m - 1) * coeff_sq_mse),
        "w_coeff_rms_over_mean_ce": sp.simplify(sp.sqrt(M["E_ckl2_ce"]) / M["E_ckk_ce"]),
        "w_coeff_rms_over_mean_mse": sp.simplify(sp.sqrt(M["E_ckl2_mse"]) / M["E_ckk_mse"]),
    }
    # V-blocks under (U): H_{v_c v_c'} = A₀[c, c'] (1/N) Σ_n h_n h_nᵀ, as the linear model at V = 0
    A_ii, A_ij = (C - 1) / C ** 2, -1 / C ** 2
    out["v_block_ratio_ce"] = sp.simplify(sp.Abs(A_ij) / A_ii)
    out["v_aggregate_ratio_ce"] = sp.sqrt(sp.simplify(C * (C - 1) * A_ij ** 2 / (C * A_ii ** 2)))
    out["v_block_ratio_mse"] = sp.Integer(0)  # A = I: H_VV = I_C ⊗ (1/N) Σ h hᵀ
    checks = {
        "CE coefficient ratio² = 1/(C+1)": sp.simplify(coeff_sq_ce - 1 / (C + 1)) == 0,
        "MSE coefficient ratio² = 1/(C+2)": sp.simplify(coeff_sq_mse - 1 / (C + 2)) == 0,
        "√C·R_W → ρ (CE)": sp.limit(sp.sqrt(C) * out["w_block_ratio_ce"], C, sp.oo) == rho,
        "√C·R_W → ρ (MSE)": sp.limit(sp.sqrt(C) * out["w_block_ratio_mse"], C, sp.oo) == rho,
        "C·R_W/ρ → ∞ (not 1/C)": sp.limit(C * out["w_block_ratio_ce"] / rho, C, sp.oo) == sp.oo,
        "V-blocks 1/(C−1) (CE)": sp.simplify(out["v_block_ratio_ce"] - 1 / (C - 1)) == 0,
    }
    # Tie to the chain rule: with A = A₀ and φ'' = 0, Γ_kl = (v_kᵀA₀v_l) φ'_k φ'_l,
    # so H_kl = c_kl M_kl
    Cn, mn = 3, 2
    V = sp.Matrix(Cn, mn, lambda c, k: sp.Symbol(f"V{c}_{k}", real=True))
    d1 = sp.Matrix(mn, 1, lambda k, _: sp.Symbol(f"fp{k}", real=True))
    gvec = sp.Matrix(Cn, 1, lambda c, _: sp.Symbol(f"g{c}", real=True))
    A0 = uniform_A(Cn)
    blocks = hidden_sample_blocks(*(sp.ImmutableMatrix(a) for a in
                                    (A0, gvec, V, sp.zeros(mn, 1), sp.zeros(1, 1), d1,
                                     sp.zeros(mn, 1))))
    gam = sp.Matrix(blocks["WW_coeff"].as_explicit())
    c = V.T * A0 * V
    checks["chain rule: Γ_kl = c_kl φ'_k φ'_l at A₀, φ'' = 0"] = all(
        sp.expand(gam[k, l] - c[k, l] * d1[k] * d1[l]) == 0 for k in range(mn) for l in range(mn))
    require("moments of c = VᵀAV (hidden_coupling.moments)", mom.passed)
    for name, passed in checks.items():
        require(name, passed)
    detail = ("assumptions: (U) p = 1/C for CE, (R) φ'' = 0, RMS expectation over V, "
              "V independent of (W, X); "
              + "; ".join(f"{k}: {v}" for k, v in checks.items())
              + f". R_W(CE) = {out['w_block_ratio_ce']}, R_W(MSE) = {out['w_block_ratio_mse']}")
    return ProofResult(True, dict(out, **SYMBOLS, s2=s2), detail)


def derive_relu_factor() -> ProofResult:
    """The data factor ``ρ² = E‖M_kl‖²_F / E‖M_kk‖²_F`` for ReLU and ``x ~ N(0, I_d)`` under (O).

    ``M_kl = (1/N) Σ_n w_n x_n x_nᵀ`` with ``w_n = 1[α_nk > 0] 1[α_nl > 0]`` (``w_n = 1[α_nk > 0]``
    for ``k = l``), ``α_nk = ŵ_kᵀx_n``. With ``‖M‖²_F = (1/N²) Σ_{n,n'} w_n w_n' (x_nᵀx_n')²`` and
    ``x = α_k ŵ_k + α_l ŵ_l + x_⊥``, the expectation is a finite sum of half-Gaussian moments
    (integrated here) and χ² moments, exact at every finite ``d ≥ 2, N``.

    Returns
    -------
    ProofResult
        ``"EM2_diag"`` and ``"EM2_offdiag"`` (``E‖M_kk‖²``, ``E‖M_kl‖²`` in ``d, N``),
        ``"rho2_relu_exact"`` (their ratio), ``"rho2_relu"`` (the limit
        ``(1 + 4γ)/(4 + 8γ)`` in ``gamma``), ``"w_block_ratio_ce_relu"``
        (``√(ρ²/(C+1))``), ``"w_block_ratio_mse_relu"`` (``√(ρ²/(C+2))``).
    """
    t = sp.Symbol("t", real=True)
    pdf = sp.exp(-t ** 2 / 2) / sp.sqrt(2 * sp.pi)
    half = {k: sp.simplify(sp.integrate(t ** k * pdf, (t, 0, sp.oo))) for k in range(5)}
    # half[k] = E[1[α > 0] α^k] for α ~ N(0, 1): 1/2, 1/√(2π), 1/2, √(2/π), 3/2
    # Diagonal block (one indicator, x = α ŵ + x_⊥, ‖x_⊥‖² ~ χ²_{d−1}):
    cross_kk = half[2] ** 2 + (d - 1) * half[0] ** 2
    r1, r2 = d - 1, (d - 1) * (d + 1)  # E χ²_{d−1}, E (χ²_{d−1})²
    diag_kk = half[4] + 2 * half[2] * r1 + half[0] * r2
    # Off-diagonal block (two indicators on orthogonal directions, ‖x_⊥‖² ~ χ²_{d−2}):
    w1, wa2, wa1 = half[0] ** 2, half[2] * half[0], half[1] ** 2  # E w, E wα_k², E wα_kα_l
    cross_kl = 2 * wa2 ** 2 + 2 * wa1 ** 2 + (d - 2) * w1 ** 2
    q1, q2 = d - 2, (d - 2) * d
    wa4, wa22 = half[4] * half[0], half[2] ** 2  # E wα_k⁴, E wα_k²α_l²
    diag_kl = (2 * wa4 + 2 * wa22) + 2 * (2 * wa2) * q1 + w1 * q2
    EM2_kk = sp.factor(((N - 1) * cross_kk + diag_kk) / N)
    EM2_kl = sp.factor(((N - 1) * cross_kl + diag_kl) / N)
    rho2_exact = sp.simplify(EM2_kl / EM2_kk)
    # Large d, N with d = γN: divide by d and let N → ∞
    rho2 = sp.simplify(sp.limit((EM2_kl / d).subs(d, gamma * N), N, sp.oo)
                       / sp.limit((EM2_kk / d).subs(d, gamma * N), N, sp.oo))
    checks = {
        "half-Gaussian moments": [half[k] for k in range(5)]
        == [sp.Rational(1, 2), 1 / sp.sqrt(2 * sp.pi), sp.Rational(1, 2), sp.sqrt(2 / sp.pi),
            sp.Rational(3, 2)],
        # rotation invariance: E[w‖x‖⁴] = P(w = 1) E‖x‖⁴ = P(w = 1) d(d + 2)
        "E[w‖x‖⁴] = P(w=1) d(d+2)": sp.expand(diag_kk - d * (d + 2) / 2) == 0
        and sp.expand(diag_kl - d * (d + 2) / 4) == 0,
        "ρ² → (1+4γ)/(4+8γ)": sp.simplify(rho2 - (1 + 4 * gamma) / (4 + 8 * gamma)) == 0,
    }
    out = {"EM2_diag": EM2_kk, "EM2_offdiag": EM2_kl, "rho2_relu_exact": rho2_exact,
           "rho2_relu": rho2,
           "w_block_ratio_ce_relu": sp.sqrt(rho2 / (C + 1)),
           "w_block_ratio_mse_relu": sp.sqrt(rho2 / (C + 2))}
    for name, passed in checks.items():
        require(name, passed)
    detail = ("assumptions: ReLU, x ~ N(0, I_d), orthogonal rows w_k ⟂ w_l (O); "
              + "; ".join(f"{k}: {v}" for k, v in checks.items())
              + f". E‖M_kk‖² = {EM2_kk}, E‖M_kl‖² = {EM2_kl}, ρ² → {rho2}")
    return ProofResult(True, dict(out, **SYMBOLS), detail)


@derivation("hidden_coupling.w_moments",
            "V_ck iid N(0,s²), p = 1/C: E c_kk = s²(C−1)/C, E c_kl² = s⁴(C−1)/C², "
            "E c_kk² = s⁴(C²−1)/C² (CE); Cs², Cs⁴, C(C+2)s⁴ (MSE).")
def _w_moments() -> ProofResult:
    """Moments of c_kl = v_kᵀAv_l, V_ck ~ N(0, s²) iid, A = (I − 11ᵀ/C)/C (CE) or I (MSE)."""
    return derive_w_moments()


@derivation("hidden_coupling.ratio",
            "Hidden net, p = 1/C, φ'' = 0: W-block RMS ratio ρ/√(C+1) (CE), ρ/√(C+2) (MSE), "
            "∝ C^{-1/2}; V-blocks 1/(C−1) (CE), 0 (MSE).")
def _ratio() -> ProofResult:
    """W-block ratio ρ/√(C+1) (CE), ρ/√(C+2) (MSE), ∝ C^{-1/2}; V-blocks 1/(C−1) (CE), 0 (MSE)."""
    return derive_ratio()


@derivation("hidden_coupling.relu_factor",
            "ReLU, x ~ N(0, I_d), w_k ⟂ w_l: ρ² = E‖M_kl‖²/E‖M_kk‖² exactly in (d, N), "
            "→ (1+4γ)/(4+8γ) as d/N → γ.")
def _relu_factor() -> ProofResult:
    """ReLU with Gaussian data: ρ² = E‖M_kl‖²/E‖M_kk‖² → (1 + 4γ)/(4 + 8γ) as d/N → γ."""
    return derive_relu_factor()
