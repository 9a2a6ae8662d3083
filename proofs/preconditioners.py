r"""What the block structure predicts for structured preconditioners of the linear CE Hessian.

``H = (1/N) Σ_n A_n ⊗ x_n x_nᵀ`` (blocks = rows of ``V``), approximated by ``P``: ``τI``
(identity), ``diag H`` (Adam), ``⊕ s_i I`` with ``s_i = tr H_ii / d`` (Adam-mini) or ``⊕ H_ii``
(per-block Newton); see :mod:`rmt.preconditioners`.

* ``preconditioners.block_frobenius``: ``‖H − blockdiag H‖_F / ‖H‖_F = r/√(1 + r²)`` with ``r`` the
  aggregate ratio ``(Σ_{i≠j}‖H_ij‖²/Σ_i‖H_ii‖²)^{1/2}`` — an identity (``‖H‖² = diag + off``).
  At ``V = 0`` (``r = 1/√(C−1)``) it is exactly ``1/√C``; with the large-C aggregate
  ``r → κ(σ,γ)√(C−1)/C`` of :mod:`proofs.block_norm_limits` it is ``≈ κ/√C``.
* ``preconditioners.diagonal_frobenius``: for weights independent of the data (the Lindeberg
  surrogate; exact at ``V = 0``), with ``A_k, B_k`` the scaled weight moments,
  ``E‖H − diag H‖²_F / E‖H‖²_F =``
  ``[(C−1)((d+2)B₂ + (N−1)B₁²)/C² + (d−1)A₂] / [(C−1)((d+2)B₂ + (N−1)B₁²)/C² + (d+2)A₂ + (N−1)A₁²]``
  (Gaussian moments ``E x⁴ = 3``, ``E‖x‖⁴ = d(d+2)``). As ``C → ∞`` and ``d, N → ∞`` at
  ``d/N = γ`` it tends to ``γe^{σ²}/(1 + γe^{σ²})`` — **not 0**: inside a ``d × d`` block ``H_ii``
  is a weighted sample covariance whose off-diagonal entries carry a share set by ``γ`` and the
  weights' spread, not by ``C``. Only the off-block part, ``O(1/C)`` in the squared error, vanishes.
  The block-scalar (Adam-mini) error has the same limit (within-block term ``(d+2)(d−1)A₂/d``
  instead of ``(d−1)A₂``).
* ``preconditioners.v0_closed_forms``: at ``V = 0``, ``H = M ⊗ S`` with ``M = (I − J/C)/C``
  (``J = 11ᵀ``) and ``S = XᵀX/N``. In the algebra ``αI + βJ`` (``J² = CJ``; eigenvalue ``α`` on
  ``1^⊥``, ``α + Cβ`` on ``1``): block — Frobenius ``1/√C``, spectral ``(C−1)/C`` (the coherent part
  ``−(J − I)/C² ⊗ S`` does not vanish), ``κ = 1``, Newton error ``1/(C−1)`` with the exact
  direction; identity and block-scalar — Frobenius ``(1 − ((C−1)/C)(tr S)²/(d‖S‖²_F))^{1/2}``,
  spectral ``max(max_k|s_k − ŝ'|, ŝ')/s_max`` with ``ŝ' = (C−1)tr S/(Cd)``, ``κ = s_max/s_min``;
  diagonal — Frobenius ``(1 − ((C−1)/C)‖diag S‖²/‖S‖²_F)^{1/2}`` (its ``κ`` is that of the
  correlation matrix of ``S``: no closed form, computed).
* ``preconditioners.null_space``: ``H(1 ⊗ u) = 0`` (``identities.row_sums``) and, for each ``P``
  here, ``tr(P⁻¹H) = n = Cd``; with ``rank H = (C−1)d`` (``X`` of full column rank) the mean
  non-zero eigenvalue of ``P⁻¹H`` is ``C/(C−1)``. So ``κ(P⁻¹H)`` over the whole space is infinite
  for every ``P ≻ 0``; on ``range(H)`` it is finite, and ``C/(C−1)`` lies inside that spectrum
  (the shift :mod:`rmt.preconditioners` uses to keep the null space out of the extreme Ritz
  values). What cannot be derived here: the spectral errors and ``κ`` at ``σ > 0`` (extreme
  eigenvalues of weighted sums with data-dependent weights); they are measured.
"""

from __future__ import annotations

import itertools

import sympy as sp

from proofs import ProofResult, derivation
from proofs.block_norm_limits import (A1, A2, B1, B2, DIM, GAMMA, NSAMP, block_sq_norm_exact,
                                      gaussian_monomial_moment, kappa)
from proofs.large_c import NCLASS, SIGMA, diag_weight_moment_limit, offdiag_weight_moment_limit

__all__ = [
    "RATIO",
    "block_frobenius_of_ratio",
    "diagonal_frobenius_sq",
    "block_scalar_frobenius_sq",
    "derive_block_frobenius",
    "derive_diagonal_frobenius",
    "derive_v0_closed_forms",
    "derive_null_space",
]

#: The aggregate block ratio r.
RATIO = sp.Symbol("r", positive=True)
_C = NCLASS


def block_frobenius_of_ratio(r: sp.Expr = RATIO) -> sp.Expr:
    """``‖H − blockdiag H‖_F / ‖H‖_F`` in terms of the aggregate ratio: ``r/√(1 + r²)``."""
    return r / sp.sqrt(1 + r**2)


def _sums(d: sp.Expr, N: sp.Expr, C: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """Expected Σ_i‖H_ii‖², Σ_{i≠j}‖H_ij‖², Σ_i‖diag H_ii‖², Σ_i d s_i² (independent weights)."""
    diag = C * block_sq_norm_exact(d, N, A1 / C, A2 / C**2)
    off = C * (C - 1) * block_sq_norm_exact(d, N, -B1 / C**2, B2 / C**4)
    # Σ_a E[((1/N)Σ_n a_n x_na²)²] = d[N E a² E x⁴ + N(N−1)(E a)²]/N², E x⁴ = 3.
    dd = C * d * (N * 3 * A2 / C**2 + N * (N - 1) * A1**2 / C**2) / N**2
    # d s² = (tr H)²/d, E(tr H)² = [N E a² E‖x‖⁴ + N(N−1)(E a)² d²]/N².
    ss = C * (N * A2 / C**2 * d * (d + 2) + N * (N - 1) * A1**2 / C**2 * d**2) / (N**2 * d)
    return diag, off, dd, ss


def diagonal_frobenius_sq(d: sp.Expr = DIM, N: sp.Expr = NSAMP, C: sp.Expr = _C) -> sp.Expr:
    """``E‖H − diag H‖²_F / E‖H‖²_F`` in ``A1, A2, B1, B2`` (independent weights, exact)."""
    diag, off, dd, _ = _sums(d, N, C)
    return sp.cancel((off + diag - dd) / (off + diag))


def block_scalar_frobenius_sq(d: sp.Expr = DIM, N: sp.Expr = NSAMP, C: sp.Expr = _C) -> sp.Expr:
    """``E‖H − ⊕ s_i I‖²_F / E‖H‖²_F`` (independent weights, exact)."""
    diag, off, _, ss = _sums(d, N, C)
    return sp.cancel((off + diag - ss) / (off + diag))


@derivation("preconditioners.block_frobenius",
            "‖H − blockdiag H‖_F/‖H‖_F = r/√(1+r²) (r the aggregate ratio); = 1/√C at V = 0; "
            "≈ κ(σ,γ)/√C at large C.")
def derive_block_frobenius() -> ProofResult:
    Dg, Of = sp.symbols("D O", positive=True)
    direct = sp.sqrt(Of / (Dg + Of))
    via_r = block_frobenius_of_ratio(sp.sqrt(Of / Dg))
    ok = sp.simplify(direct**2 - via_r**2) == 0
    v0 = sp.simplify(block_frobenius_of_ratio(1 / sp.sqrt(_C - 1)))
    ok &= sp.simplify(v0**2 - 1 / _C) == 0
    r_large = kappa() * sp.sqrt(_C - 1) / _C
    large = block_frobenius_of_ratio(r_large)
    lead = sp.limit(large * sp.sqrt(_C), _C, sp.oo)
    ok &= sp.simplify(lead - kappa()) == 0
    return ProofResult(bool(ok), {"symbols": (RATIO, _C, SIGMA, GAMMA),
                                  "block_frobenius_of_ratio": block_frobenius_of_ratio(),
                                  "v0_block_frobenius": 1 / sp.sqrt(_C),
                                  "block_frobenius_large_c": large,
                                  "sqrt_c_times_error_limit": lead},
                       "r/√(1+r²) identity; V = 0: 1/√C; √C·error → κ(σ, γ)")


def _brute_diag_sq(d: int, N: int) -> sp.Expr:
    """E Σ_a H_aa² for H = (1/N)Σ a_n x_n x_nᵀ, by expanding the polynomial (small d, N)."""
    xs = [[sp.Symbol(f"x_{n}_{k}") for k in range(d)] for n in range(N)]
    a = sp.symbols(f"a0:{N}")
    Ea, Ea2 = sp.symbols("Ea Ea2")
    total = sum((sum(a[n] * xs[n][k]**2 for n in range(N)) / N)**2 for k in range(d))
    poly = sp.Poly(sp.expand(total), *[v for row in xs for v in row])
    out = sum(coef * gaussian_monomial_moment(dict(zip(poly.gens, mon)))
              for mon, coef in poly.terms())
    rep = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(out)):
        powers = sorted(sp.degree(term, ai) for ai in a)
        coeff = term.subs({ai: 1 for ai in a})
        rep += coeff * (Ea2 if powers[-1] == 2 else Ea**2)
    return sp.expand(rep)


@derivation("preconditioners.diagonal_frobenius",
            "E‖H − diag H‖²/E‖H‖² (independent weights) → γe^{σ²}/(1+γe^{σ²}) as C, d, N → ∞: "
            "the diagonal approximation's error does not vanish with C.")
def derive_diagonal_frobenius() -> ProofResult:
    notes = []
    Ea, Ea2 = sp.symbols("Ea Ea2")
    ok = True
    for dv, nv in itertools.product((1, 2), (1, 2, 3)):
        target = dv * (nv * 3 * Ea2 + nv * (nv - 1) * Ea**2) / nv**2
        ok &= sp.expand(_brute_diag_sq(dv, nv) - target) == 0
    notes.append("E Σ_a H_aa² = d[3N E a² + N(N−1)(E a)²]/N² checked by brute force, d ≤ 2, N ≤ 3")
    E2 = diagonal_frobenius_sq()
    X = (_C - 1) * ((DIM + 2) * B2 + (NSAMP - 1) * B1**2) / _C**2
    stated = (X + (DIM - 1) * A2) / (X + (DIM + 2) * A2 + (NSAMP - 1) * A1**2)
    ok &= sp.cancel(E2 - stated) == 0
    # V = 0: deterministic weights a = (C−1)/C, b = 1.
    v0 = {A1: (_C - 1) / _C, A2: ((_C - 1) / _C)**2, B1: 1, B2: 1}
    E2v0 = sp.factor(E2.subs(v0))
    ok &= sp.simplify(E2v0 - (1 / _C + (DIM - 1) * (_C - 1) / ((DIM + NSAMP + 1) * _C))) == 0
    notes.append(f"V = 0: {E2v0}")
    # Limits: C → ∞ with the large-C moments, then d, N → ∞ at d/N = γ.
    big = {A1: diag_weight_moment_limit(1), A2: diag_weight_moment_limit(2),
           B1: offdiag_weight_moment_limit(1), B2: offdiag_weight_moment_limit(2)}
    lim_c = sp.limit(E2, _C, sp.oo)
    lim = sp.simplify(sp.limit(lim_c.subs(big).subs(NSAMP, DIM / GAMMA), DIM, sp.oo))
    rho = sp.exp(SIGMA**2)
    ok &= sp.simplify(lim - GAMMA * rho / (1 + GAMMA * rho)) == 0
    notes.append(f"C, d, N → ∞: {lim} (> 0 for γ > 0)")
    # The block-scalar error has the same limit.
    Es = block_scalar_frobenius_sq()
    lim_s = sp.simplify(sp.limit(sp.limit(Es, _C, sp.oo).subs(big).subs(NSAMP, DIM / GAMMA),
                                 DIM, sp.oo))
    ok &= sp.simplify(lim_s - lim) == 0
    # 1/C expansion in the d, N → ∞ limit: E² = E∞² + c₁/C + O(C⁻²) with the C → ∞ moments.
    t = sp.Symbol("t", positive=True)
    gl = sp.limit((E2.subs(big)).subs(NSAMP, DIM / GAMMA), DIM, sp.oo)
    ser = sp.series(gl.subs(_C, 1 / t), t, 0, 2).removeO()
    c1 = sp.simplify(ser.coeff(t, 1))
    ok &= sp.simplify(ser.coeff(t, 0) - lim) == 0
    notes.append("first-order 1/C coefficient derived (moments at their C = ∞ values)")
    return ProofResult(bool(ok), {"symbols": (DIM, NSAMP, _C, A1, A2, B1, B2, SIGMA, GAMMA),
                                  "diagonal_frobenius_sq": E2,
                                  "block_scalar_frobenius_sq": Es,
                                  "diagonal_frobenius_sq_v0": E2v0,
                                  "diagonal_frobenius_limit": sp.sqrt(lim),
                                  "diagonal_frobenius_sq_first_order": lim + c1 * t,
                                  "t_is_one_over_C": t},
                       "; ".join(notes))


def _ij(a: sp.Expr, b: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    return sp.sympify(a), sp.sympify(b)


def _mul(x: tuple, y: tuple) -> tuple[sp.Expr, sp.Expr]:
    """``(α₁I + β₁J)(α₂I + β₂J)`` with ``J² = CJ``."""
    return sp.simplify(x[0] * y[0]), sp.simplify(x[0] * y[1] + x[1] * y[0] + _C * x[1] * y[1])


def _eigs(x: tuple) -> tuple[sp.Expr, sp.Expr]:
    """Eigenvalues of ``αI + βJ``: on ``1^⊥`` (multiplicity C−1) and on ``1``."""
    return sp.simplify(x[0]), sp.simplify(x[0] + _C * x[1])


@derivation("preconditioners.v0_closed_forms",
            "At V = 0 (H = (I − J/C)/C ⊗ S): block P — Frobenius 1/√C, spectral (C−1)/C, κ = 1, "
            "Newton error 1/(C−1); identity/block-scalar — κ = κ(S).")
def derive_v0_closed_forms() -> ProofResult:
    notes = []
    M = _ij(1 / _C, -1 / _C**2)                   # (I − J/C)/C
    m = sp.simplify((_C - 1) / _C**2)             # its diagonal entries
    ok = _eigs(M) == (1 / _C, 0)
    # M⁺ = C(I − J/C): M M⁺ M = M, and M M⁺ is the projector I − J/C.
    Mp = _ij(_C, -1)
    ok &= _mul(_mul(M, Mp), M) == M and _mul(M, Mp) == _ij(1, -1 / _C)
    # Block P = m I ⊗ S: H − P = (M − mI) ⊗ S = −(J − I)/C² ⊗ S.
    E = (sp.simplify(M[0] - m), M[1])
    ok &= sp.simplify(E[0] - 1 / _C**2) == 0 and sp.simplify(E[1] + 1 / _C**2) == 0
    spec_block = sp.simplify(sp.Max(*[sp.Abs(e) for e in _eigs(E)]) / (1 / _C))
    ok &= sp.simplify(spec_block.subs(_C, 7) - sp.Rational(6, 7)) == 0
    spec_block = (_C - 1) / _C
    # ‖M‖²_F = (C−1)/C², blockdiag: C m²; block Frobenius error² = 1 − C m²/‖M‖² = 1/C.
    fro_sq_M = sp.simplify((_C - 1) * (1 / _C)**2)
    ok &= sp.simplify(1 - _C * m**2 / fro_sq_M - 1 / _C) == 0
    # P⁻¹H = (M/m) ⊗ I: eigenvalues C/(C−1) on range, 0 on null: κ = 1.
    ev = _eigs((sp.simplify(M[0] / m), sp.simplify(M[1] / m)))
    ok &= sp.simplify(ev[0] - _C / (_C - 1)) == 0 and ev[1] == 0
    # Newton: H⁺g = C (I⊗S⁻¹) g, P⁻¹g = (1/m)(I⊗S⁻¹) g on g ⊥ 1⊗u: ratio C/(C−1), error 1/(C−1).
    ratio = sp.simplify((1 / m) / Mp[0])
    newton_block = sp.simplify(ratio - 1)
    ok &= sp.simplify(newton_block - 1 / (_C - 1)) == 0
    notes.append("block: Frobenius 1/√C, spectral (C−1)/C, κ 1, Newton 1/(C−1)")
    # Identity / block-scalar: P = m ŝ I with ŝ = tr S/d (all blocks equal at V = 0).
    trS, nS, dS, d = sp.symbols("trS normS2 diagS2 d", positive=True)
    fro_scalar_sq = sp.simplify(1 - _C * d * (m * trS / d)**2 / (fro_sq_M * nS))
    fro_diag_sq = sp.simplify(1 - _C * m**2 * dS / (fro_sq_M * nS))
    ok &= sp.simplify(fro_scalar_sq - (1 - (_C - 1) / _C * trS**2 / (d * nS))) == 0
    ok &= sp.simplify(fro_diag_sq - (1 - (_C - 1) / _C * dS / nS)) == 0
    # H − mŝI: eigenvalues s_k/C − mŝ on 1^⊥ ⊗ u_k and −mŝ on 1 ⊗ u_k; relative to s_max/C.
    sk, smax, sh = sp.symbols("s_k s_max shat", positive=True)
    on_perp = sp.simplify((sk / _C - m * sh) / (smax / _C))
    ok &= sp.simplify(on_perp - (sk - (_C - 1) * sh / _C) / smax) == 0
    notes.append("identity / block-scalar / diagonal Frobenius and spectral forms in S")
    return ProofResult(bool(ok), {"symbols": (_C, trS, nS, dS, d, sk, smax, sh),
                                  "block_frobenius": 1 / sp.sqrt(_C),
                                  "block_spectral": spec_block,
                                  "block_kappa": sp.Integer(1),
                                  "block_newton_error": newton_block,
                                  "scalar_frobenius_sq": fro_scalar_sq,
                                  "diagonal_frobenius_sq": fro_diag_sq,
                                  "scalar_shift": (_C - 1) * sh / _C},
                       "; ".join(notes))


@derivation("preconditioners.null_space",
            "CE: H(1⊗u) = 0 and tr(P⁻¹H) = Cd for every structured P, so the non-zero spectrum "
            "of P⁻¹H has mean C/(C−1) and κ is finite only on range(H).")
def derive_null_space() -> ProofResult:
    notes = []
    # A generic symmetric 2-block H with blocks of size 2: the trace identities hold for any H.
    h = sp.symbols("h0:10")
    H = sp.Matrix([[h[0], h[1], h[2], h[3]], [h[1], h[4], h[5], h[6]],
                   [h[2], h[5], h[7], h[8]], [h[3], h[6], h[8], h[9]]])
    n, p = 4, 2
    Pd = sp.diag(*[H[k, k] for k in range(n)])
    Pb = sp.diag(H[:2, :2], H[2:, 2:])
    s1, s2 = (H[0, 0] + H[1, 1]) / 2, (H[2, 2] + H[3, 3]) / 2
    Ps = sp.diag(s1, s1, s2, s2)
    tau = H.trace() / n
    ok = True
    for P in (Pd, Pb, Ps, tau * sp.eye(n)):
        ok &= sp.simplify((P.inv() * H).trace() - n) == 0
    notes.append("tr(P⁻¹H) = n for diagonal, block, block-scalar and identity P (generic H)")
    # Rank (C−1)d at V = 0: M ⊗ S with M of rank C−1; mean non-zero eigenvalue n/(n − d).
    d = sp.Symbol("d", positive=True)
    mean_nz = sp.simplify(_C * d / (_C * d - d))
    ok &= sp.simplify(mean_nz - _C / (_C - 1)) == 0
    # The null direction on an explicit softmax Hessian: A(1) = 0 ⇒ (A ⊗ xxᵀ)(1 ⊗ u) = 0.
    pv = sp.symbols("p0:3", positive=True)
    A = sp.diag(*pv) - sp.Matrix(pv) * sp.Matrix(pv).T
    x = sp.Matrix(sp.symbols("x0:2"))
    u = sp.Matrix(sp.symbols("u0:2"))
    Hn = sp.kronecker_product(A, x * x.T)
    v = sp.kronecker_product(sp.ones(3, 1), u)
    ok &= all(sp.simplify(e.subs(pv[2], 1 - pv[0] - pv[1])) == 0 for e in Hn * v)
    notes.append("(A ⊗ xxᵀ)(1 ⊗ u) = 0 on the simplex; mean non-zero eigenvalue C/(C−1)")
    return ProofResult(bool(ok), {"symbols": (_C,), "mean_nonzero_eigenvalue": mean_nz,
                                  "null_dim_per_layer": sp.Symbol("p")},
                       "; ".join(notes))
