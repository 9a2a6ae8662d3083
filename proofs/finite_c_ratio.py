"""Block ratios of the linear CE model at initialisation at finite C, d and N.

Setting (docs/design.md §1): ``x_n ~ N(0, I_d)`` iid, ``V_ij ~ N(0, σ²/d)`` iid, ``p_n = softmax(V x_n)``,
``H_ij = (1/N) Σ_n A_n[i, j] x_n x_nᵀ`` with ``A = diag(p) − ppᵀ``. The block weights are
``p_i(1 − p_i)`` (diagonal) and ``−p_i p_j`` (off-diagonal); their scaled versions
``a = C p_i(1 − p_i)`` and ``b = C² p_i p_j`` have moments ``A_k = E a^k``, ``B_k = E b^k`` at
logit variance ``σ²`` (:mod:`proofs.large_c`). Every ratio below is a ratio of *expected*
squared norms (a root-mean-square ratio), not the mean of a ratio.

* ``finite_c_ratio.aggregate`` (exact identities). The classes are exchangeable (the rows of
  ``V`` are iid), so ``E Σ_{i≠j}‖H_ij‖² = C(C−1) E‖H_12‖²`` and ``E Σ_i‖H_ii‖² = C E‖H_11‖²``:

      R_agg² = E Σ_{i≠j}‖H_ij‖² / E Σ_i‖H_ii‖² = (C − 1) R_pb²,  R_pb² = E‖H_12‖²/E‖H_11‖².

  This holds for the model itself, whatever the dependence of the weights on the data. With
  weights independent of the data (:mod:`proofs.block_norm_limits`) it gives
  ``R_agg = (√(C−1)/C)·(((d+2)B₂ + (N−1)B₁²)/((d+2)A₂ + (N−1)A₁²))^{1/2}`` → ``κ√(C−1)/C``.
  ``Σ_j p_j = 1`` and exchangeability give ``(C − 1) E[p_1 p_2] = E[p_1(1 − p_1)]``, i.e.
  ``B₁ = C A₁/(C − 1)`` exactly; ``A_k``, ``B_k`` are written through moments of ``p``.

* ``finite_c_ratio.model`` (the weights depend on the data: O(1/d) corrections). The surrogate
  of :mod:`proofs.block_norm_limits` treats the weights as independent of ``x_n``; in the model
  they are functions of ``z_n = V x_n``. Averaging over ``V`` (rotation invariance): given
  ``x, y``, the pairs ``(z_c, z'_c) = (v_cᵀx, v_cᵀy)`` are iid over classes ``c``, bivariate
  normal with covariance ``(σ²/d)·Gram(x, y)``. With ``u = ‖x‖²/d``, ``v = ‖y‖²/d`` (iid
  ``χ²_d/d``) and ``ρ = cos∠(x, y)`` (``ρ² ~ Beta(1/2, (d−1)/2)``, independent of ``u, v``):

  - ``n = m``: ``E[w(z)²‖x‖⁴] = d² U₂``, ``U₂ = E[u² M₂(σ²u)]`` — exact, where
    ``M_k(s) = E w^k`` at logit variance ``s``;
  - ``n ≠ m``: Mehler's expansion ``E[w(z) w(z')] = Σ_α ρ^{|α|}/α! (s s')^{|α|/2} E_s[∂^α w]
    E_{s'}[∂^α w]``; the odd orders vanish (``ρ → −ρ``), the zeroth gives ``d U₁²``,
    ``U₁ = E[u M₁(σ²u)]``, the second ``3d K₂/(d + 2)`` with
    ``K₂ = (s²/2) Σ_{c,c'} (E ∂_c∂_{c'} w)²`` at ``s = σ²``, and the rest is ``O(1/d)``:

      E‖H_ij‖² = N⁻² [N d² U₂ + N(N − 1)(d U₁² + 3d K₂/(d + 2))] · (1 + O(d⁻²)).

  ``E ∂_c∂_{c'} w = E[w (z_c z_{c'} − s δ_{cc'})]/s²`` (Stein), and ``Σ_{c,c'}`` splits by
  exchangeability into the class types ``{i, j, k, l}`` (``k, l`` other classes). When the
  weights do not depend on the logits (``M_k`` constant, ``K₂ = 0``) this is exactly the formula
  of :mod:`proofs.block_norm_limits`. In the large-C limit ``M₁ → 1``, ``M₂(s) → e^s`` (a),
  ``e^{2s}`` (b), ``K₂ → σ⁴/2`` (a), ``2σ⁴`` (b), so the finite-d limit of ``C·R_pb`` is closed
  form and tends to ``κ(σ, γ)`` as ``d, N → ∞``.

Checks are symbolic (Beta and Gaussian moments, Mehler on exponentials, Stein, counting of
class types, reductions and limits); the numbers are checked against simulation in the tests.
"""

from __future__ import annotations

import sympy as sp

from proofs import ProofResult, by_name, derivation, require
from proofs.block_norm_limits import (
    A1,
    A2,
    B1,
    B2,
    DIM,
    GAMMA,
    NSAMP,
    block_sq_norm_exact,
    c_ratio_exact,
    gaussian_monomial_moment,
    kappa,
)
from proofs.large_c import NCLASS, SIGMA

__all__ = [
    "U1A",
    "U2A",
    "K2A",
    "U1B",
    "U2B",
    "K2B",
    "D_TYPES",
    "sq_norm_model",
    "c_ratio_model",
    "derive_aggregate",
    "derive_model",
]

#: U₁ = E[u M₁(σ²u)], U₂ = E[u² M₂(σ²u)] and K₂ for the diagonal (a) and off-diagonal (b) weights.
U1A, U2A, K2A, U1B, U2B, K2B = sp.symbols("U1a U2a K2a U1b U2b K2b", real=True)
#: E ∂_c∂_{c'} w by class type: (i,i), (i,j), (i,k), (k,k), (k,l) (k, l other classes).
D_TYPES = sp.symbols("D_ii D_ij D_ik D_kk D_kl", real=True)
_U1, _U2, _K2 = sp.symbols("U1 U2 K2", real=True)


def sq_norm_model(d: sp.Expr = DIM, N: sp.Expr = NSAMP, U1: sp.Expr = _U1, U2: sp.Expr = _U2,
                  K2: sp.Expr = _K2) -> sp.Expr:
    """``E‖H‖_F²`` of one block of the model to relative ``O(d⁻²)``:
    ``N⁻²[N d² U₂ + N(N−1)(d U₁² + 3d K₂/(d+2))]``."""
    return (N * d**2 * U2 + N * (N - 1) * (d * U1**2 + 3 * d * K2 / (d + 2))) / N**2


def c_ratio_model(d: sp.Expr = DIM, N: sp.Expr = NSAMP) -> sp.Expr:
    """``C·(E‖H_ij‖²/E‖H_ii‖²)^{1/2}`` of the model in the scaled quantities ``U1a … K2b``."""
    return sp.sqrt(sq_norm_model(d, N, U1B, U2B, K2B) / sq_norm_model(d, N, U1A, U2A, K2A))


def _beta_moment(a: sp.Expr, b: sp.Expr, k: int) -> sp.Expr:
    """``E X^k`` for ``X ~ Beta(a, b)``: ``Π_{r<k} (a + r)/(a + b + r)``."""
    out = sp.Integer(1)
    for r in range(k):
        out *= (a + r) / (a + b + r)
    return sp.simplify(out)


@derivation("finite_c_ratio.aggregate",
            "E Σ_{i≠j}‖H_ij‖²/E Σ_i‖H_ii‖² = (C−1)·E‖H_12‖²/E‖H_11‖² (exchangeability), so the "
            "aggregate ratio is √(C−1) × the per-block RMS ratio; B₁ = C A₁/(C−1) exactly; "
            "→ κ√(C−1)/C.")
def derive_aggregate() -> ProofResult:
    notes = []
    C = NCLASS
    i, j = sp.symbols("i j", integer=True, positive=True)
    # Exchangeability: every off-diagonal block has the law of H_12, every diagonal one of H_11.
    n_off = sp.summation(sp.summation(1, (j, 1, C)) - 1, (i, 1, C))
    n_diag = sp.summation(1, (i, 1, C))
    require("C(C − 1) off-diagonal and C diagonal blocks", sp.expand(n_off - C * (C - 1)) == 0 and sp.expand(n_diag - C) == 0)
    e_off, e_diag = sp.symbols("E_off E_diag", positive=True)
    agg_sq = sp.simplify(n_off * e_off / (n_diag * e_diag))
    require("R_agg² = (C − 1) E‖H_ij‖²/E‖H_ii‖² by exchangeability", sp.simplify(agg_sq - (C - 1) * e_off / e_diag) == 0)
    notes.append(f"{n_off} off-diagonal and {n_diag} diagonal blocks: R_agg² = (C−1)R_pb²")
    # Independent-weight finite-(d, N) formula (block_norm_limits) and its limits.
    per_block = c_ratio_exact() / C
    aggregate = sp.sqrt(C - 1) * per_block
    agg_lim_mom = sp.sqrt(C - 1) / C * sp.sqrt((GAMMA * B2 + B1**2) / (GAMMA * A2 + A1**2))
    # V = 0: a = 1 − 1/C, b = 1 deterministic ⇒ R_agg = 1/√(C − 1) at every d, N.
    v0 = aggregate.subs({A1: 1 - 1 / C, A2: (1 - 1 / C)**2, B1: 1, B2: 1})
    require("V = 0: R_agg = 1/√(C − 1)", sp.simplify(v0**2 - 1 / (C - 1)) == 0)
    # C = 2: b = 2a, so B₁ = 2A₁, B₂ = 4A₂ and R_agg = R_pb = 1.
    c2 = aggregate.subs({B1: 2 * A1, B2: 4 * A2}).subs(C, 2)
    require("C = 2: R_agg = R_pb = 1", sp.simplify(c2) == 1)
    notes.append("V = 0: R_agg = 1/√(C−1); C = 2: R_agg = 1")
    # Large C: √C·R_agg → κ (moments at their limits, then C → ∞).
    rho = sp.exp(SIGMA**2)
    lim = agg_lim_mom.subs({A1: 1, A2: rho, B1: 1, B2: rho**2})
    require("large C: √C·R_agg → κ", sp.simplify(sp.limit(sp.sqrt(C) * lim, C, sp.oo) - kappa()) == 0)
    notes.append("√C·R_agg → κ(σ, γ)")
    # Moments through moments of p: A_k = C^k E[(p − p²)^k], B_k = C^{2k} E[(p_i p_j)^k].
    p = sp.Symbol("p", positive=True)
    ep = sp.symbols("Ep1 Ep2 Ep3 Ep4", positive=True)
    e11, e22 = sp.symbols("Ep1p2 Ep1sq_p2sq", positive=True)

    def expect_poly(expr: sp.Expr) -> sp.Expr:
        poly = sp.Poly(sp.expand(expr), p)
        return sum(c * (ep[k - 1] if k else 1) for (k,), c in poly.terms())

    a1 = sp.expand(C * expect_poly(p * (1 - p)))
    a2 = sp.expand(C**2 * expect_poly((p * (1 - p))**2))
    require("E a² in softmax moments", sp.expand(a2 - C**2 * (ep[1] - 2 * ep[2] + ep[3])) == 0)
    # Σ_j p_j = 1 ⇒ E p_i = 1/C and E[p_i Σ_{j≠i} p_j] = E p_i − E p_i² = (C−1) E[p_1 p_2].
    sol = sp.solve([sp.Eq(C * ep[0], 1), sp.Eq(ep[1] + (C - 1) * e11, ep[0])], [ep[0], e11],
                   dict=True)[0]
    b1 = C**2 * sol[e11]
    require("E b = C E a/(C − 1) from Σ p = 1", sp.simplify(b1 - C * a1.subs(sol) / (C - 1)) == 0)
    notes.append("B₁ = C A₁/(C−1) from Σ_j p_j = 1")
    objects = {
        "symbols": by_name(DIM, NSAMP, A1, A2, B1, B2, NCLASS, GAMMA, SIGMA),
        "n_offdiagonal_blocks": n_off,
        "per_block_ratio_exact": per_block,
        "aggregate_ratio_exact": aggregate,
        "aggregate_ratio_limit_moments": agg_lim_mom,
        "aggregate_ratio_limit": kappa() * sp.sqrt(C - 1) / C,
        "offdiag_mean_identity": C * A1 / (C - 1),
        "moments_from_p": {"A1": a1, "A2": a2, "B1": C**2 * e11, "B2": C**4 * e22,
                           "p_symbols": (ep, e11, e22)},
        "mean_p": sol[ep[0]],
    }
    return ProofResult(True, objects, "; ".join(notes))


@derivation("finite_c_ratio.model",
            "Weights depending on x through z = Vx: E‖H‖² = N⁻²[N d² U₂ + N(N−1)(d U₁² + "
            "3d K₂/(d+2))](1 + O(d⁻²)), U_k = E[u^k M_k(σ²u)], u ~ χ²_d/d, "
            "K₂ = (s²/2)Σ(E∂_c∂_c'w)²; reduces to the independent-weight formula.")
def derive_model() -> ProofResult:
    notes = []
    d, N, C, s = DIM, NSAMP, NCLASS, SIGMA**2
    # (a) Given x, y: E_V[(vᵀx)(vᵀy)] = (σ²/d) xᵀy, checked for d = 3 by Gaussian monomials.
    g = sp.symbols("g0:3", real=True)
    xs = sp.symbols("x0:3", real=True)
    ys = sp.symbols("y0:3", real=True)
    vx = sum(g[k] * xs[k] for k in range(3))
    vy = sum(g[k] * ys[k] for k in range(3))
    poly = sp.Poly(sp.expand(vx * vy), *g)
    cov = sum(c * gaussian_monomial_moment(dict(zip(g, mon))) for mon, c in poly.terms())
    require("logit covariance is the data Gram matrix", sp.expand(cov - sum(xs[k] * ys[k] for k in range(3))) == 0)
    # (b) ρ² ~ Beta(1/2, (d−1)/2): E ρ² = 1/d, E ρ⁴ = 3/(d(d+2)), E ρ⁶ = 15/(d(d+2)(d+4)),
    # consistent with E(xᵀy)² = d and E(xᵀy)⁴ = 3 E‖y‖⁴ = 3d(d+2) (xᵀy | y ~ N(0, ‖y‖²)).
    half, rest = sp.Rational(1, 2), (d - 1) / 2
    r2, r4, r6 = (_beta_moment(half, rest, k) for k in (1, 2, 3))
    require("Beta moments E cos² = 1/d, E cos⁴ = 3/(d(d + 2))", sp.simplify(r2 - 1 / d) == 0 and sp.simplify(r4 - 3 / (d * (d + 2))) == 0)
    require("Beta moment E cos⁶ = 15/(d(d + 2)(d + 4))", sp.simplify(r6 - 15 / (d * (d + 2) * (d + 4))) == 0)
    norm4 = d * (d + 2)           # E‖x‖⁴ (block_norm_limits.exact_sq_norm)
    require("Beta moments agree with E(xᵀy)² = d, E(xᵀy)⁴ = 3d(d + 2)", sp.simplify(d * d * r2 - d) == 0 and sp.simplify(norm4**2 * r4 - 3 * norm4) == 0)
    notes.append("logit covariance (σ²/d)Gram(x,y); Beta moments of cos² agree with Gaussian ones")
    # u = χ²_d/d: E u = 1, E u² = 1 + 2/d.
    Eu, Eu2 = sp.Integer(1), sp.simplify(norm4 / d**2)
    require("u = χ²_d/d: E u² = 1 + 2/d", sp.simplify(Eu2 - (1 + 2 / d)) == 0)
    # (c) Mehler's formula, checked on exponentials (a total family): corr(g, g') = ρ,
    # E[e^{αg} e^{βg'}] = e^{(α²+β²)/2 + αβρ} = Σ_n ρ^n/n! E[f^{(n)}] E[h^{(n)}].
    al, be, rh = sp.symbols("alpha beta rho", real=True)
    lhs = sp.exp((al**2 + be**2) / 2 + al * be * rh)
    rhs = sum(rh**n / sp.factorial(n) * al**n * sp.exp(al**2 / 2) * be**n * sp.exp(be**2 / 2)
              for n in range(5))
    require("Mehler expansion of the bivariate lognormal to order 4", sp.simplify(sp.series(lhs, rh, 0, 5).removeO() - sp.expand(rhs)) == 0)
    # Large-C limit weights: b → e^{z_i+z_j−σ²}: E[b(z)b(z')] = e^{2σ²ρ}; a → e^{z_i−σ²/2}: e^{σ²ρ}.
    # Second-order coefficients equal (s²/2)Σ(E∂∂w)² with E∂∂w = E w = 1 on {i,j}² (4 terms), {i}.
    zoff = sp.exp(-2 * s) * sp.exp(s * (1 + rh))**2
    zdiag = sp.exp(-s) * sp.exp(s * (1 + rh))
    k2b_lim = sp.series(zoff, rh, 0, 3).removeO().coeff(rh, 2)
    k2a_lim = sp.series(zdiag, rh, 0, 3).removeO().coeff(rh, 2)
    require("second Mehler coefficients in the large-C limit", sp.simplify(k2b_lim - s**2 / 2 * 4) == 0 and sp.simplify(k2a_lim - s**2 / 2) == 0)
    require("zeroth Mehler coefficient of the off-diagonal weight is 1", sp.simplify(sp.series(zoff, rh, 0, 2).removeO().coeff(rh, 0) - 1) == 0)
    notes.append(f"Mehler on exponentials; K₂ limits {k2a_lim} (diag), {k2b_lim} (off-diag)")
    # (d) Stein: E ∂_c∂_c' f = E[f (z_c z_c' − s δ)]/s² for z ~ N(0, s I), f = e^{k₁z₁ + k₂z₂}.
    k1, k2 = sp.symbols("k1 k2", real=True)
    zz = sp.Symbol("zz", real=True)
    dens = sp.exp(-zz**2 / (2 * s)) / sp.sqrt(2 * sp.pi * s)

    def gauss(expr):
        return sp.simplify(sp.integrate(expr * dens, (zz, -sp.oo, sp.oo), conds="none"))

    m0 = gauss(sp.exp(k1 * zz))
    m1 = gauss(zz * sp.exp(k1 * zz))
    m2 = gauss(zz**2 * sp.exp(k1 * zz))
    require("Gaussian integration by parts, (c, c) type", sp.simplify((m2 - s * m0) / s**2 - k1**2 * m0) == 0)            # (c, c) type
    m1b = m1.subs(k1, k2)
    require("Gaussian integration by parts, (c, c') type", sp.simplify(m1 * m1b / s**2 - k1 * k2 * m0 * m0.subs(k1, k2)) == 0)   # (c, c') type
    notes.append("Stein identity for E∂∂w")
    # (e) Class types of the ordered pairs (c, c'): each sum counts all C² pairs.
    Dii, Dij, Dik, Dkk, Dkl = D_TYPES
    off_sum = 2 * Dii**2 + 2 * Dij**2 + 4 * (C - 2) * Dik**2 + (C - 2) * Dkk**2 \
        + (C - 2) * (C - 3) * Dkl**2
    diag_sum = Dii**2 + 2 * (C - 1) * Dik**2 + (C - 1) * Dkk**2 + (C - 1) * (C - 2) * Dkl**2
    ones = {D: 1 for D in D_TYPES}
    require("the class-pair type counts sum to C²", sp.expand(off_sum.subs(ones) - C**2) == 0 and sp.expand(diag_sum.subs(ones) - C**2) == 0)
    # (f) Assembly: n = m exactly d²U₂; n ≠ m: d²E[uv ρ²Φ] = d·U₁² (order 0, E ρ² = 1/d),
    # odd orders vanish, order 2: d² E ρ⁴ K₂ = 3d K₂/(d+2), order 4: d² E ρ⁶ K₄ = O(1/d).
    order0 = sp.simplify(d**2 * r2 * _U1**2)
    order2 = sp.simplify(d**2 * r4 * _K2)
    order4 = sp.simplify(d**2 * r6)
    require("order-0 term d U₁²", sp.simplify(order0 - d * _U1**2) == 0)
    require("order-2 term 3d K₂/(d + 2)", sp.simplify(order2 - 3 * d * _K2 / (d + 2)) == 0)
    require("order-4 term is O(1/d)", sp.limit(order4 * d, d, sp.oo) == 15)   # O(1/d), against an O(d) leading term
    assembled = (N * d**2 * _U2 + N * (N - 1) * (order0 + order2)) / N**2
    require("assembled E‖H‖²_F equals sq_norm_model", sp.simplify(assembled - sq_norm_model()) == 0)
    notes.append("n≠m orders 0, 2 assembled; order 4 is O(1/d) against O(d)")
    # (g) Weights independent of the logits: U₂ = M₂ E u², U₁ = M₁, K₂ = 0 → block_norm_limits.
    EA, EA2 = sp.symbols("Ea Ea2", real=True)
    red = sq_norm_model(U1=EA * Eu, U2=EA2 * Eu2, K2=0)
    require("independent weights reduce to block_sq_norm_exact", sp.simplify(red - block_sq_norm_exact(Ea=EA, Ea2=EA2)) == 0)
    c_ind = c_ratio_model().subs({U1A: A1, U2A: A2 * Eu2, K2A: 0, U1B: B1, U2B: B2 * Eu2, K2B: 0})
    require("independent weights reduce to c_ratio_exact", sp.simplify(c_ind**2 - c_ratio_exact()**2) == 0)
    notes.append("reduces to block_norm_limits' exact formula for logit-independent weights")
    # (h) Large C at finite d: M₁ → 1; M₂(s) → e^{s} (a), e^{2s} (b); E[u² e^{λu}] from the
    # χ²_d/d moment generating function (1 − 2λ/d)^{−d/2}.
    lam = sp.Symbol("lambda", positive=True)
    mgf = (1 - 2 * lam / d)**(-d / 2)
    u2e = sp.diff(mgf, lam, 2)
    require("E u² from the χ² moment generating function", sp.simplify(u2e.subs(lam, 0) - Eu2) == 0)
    u1a = sp.Integer(1)
    lim_sub = {U1A: u1a, U2A: u2e.subs(lam, s), K2A: k2a_lim,
               U1B: u1a, U2B: u2e.subs(lam, 2 * s), K2B: k2b_lim}
    c_lim_d = c_ratio_model().subs(lim_sub)
    # d, N → ∞ with d = γN: → κ(σ, γ). Checked numerically at σ = 1/2, γ = 1/3 and σ = 1,
    # γ = 2 with d = 10⁸ (30-digit floats): the relative correction is O(1/d) = O(1e-8), so a
    # 1e-6 tolerance separates "tends to κ" from any O(1) discrepancy.
    for sv, gv in ((0.5, 1.0 / 3.0), (1.0, 2.0)):
        big = sp.Float(10**8, 30)
        val = c_lim_d.evalf(30, subs={SIGMA: sp.Float(sv, 30), DIM: big,
                                      NSAMP: big / sp.Float(gv, 30)})
        require(f"d → ∞ limit at σ = {sv}, γ = {gv} equals κ", abs(val - kappa(sv, gv).evalf(30)) < sp.Float("1e-6"))
    notes.append("large-C, finite-d closed form → κ(σ, γ) as d, N → ∞")
    objects = {
        "symbols": by_name(DIM, NSAMP, U1A, U2A, K2A, U1B, U2B, K2B, NCLASS, SIGMA, GAMMA),
        "sq_norm_model": sq_norm_model(),
        "sq_norm_symbols": (DIM, NSAMP, _U1, _U2, _K2),
        "c_ratio_model": c_ratio_model(),
        "aggregate_ratio_model": sp.sqrt(C - 1) / C * c_ratio_model(),
        "c_ratio_model_large_c": c_lim_d,
        "k2_sum_offdiag": off_sum,
        "k2_sum_diag": diag_sum,
        "d_types": by_name(*D_TYPES),
        "k2_limit_diag": k2a_lim,
        "k2_limit_offdiag": k2b_lim,
        "u_moments": (Eu, Eu2),
        "cos_moments": (r2, r4, r6),
    }
    return ProofResult(True, objects, "; ".join(notes))
