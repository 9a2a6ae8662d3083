r"""The cross-layer blocks along training: their residual part is linear in the residuals, so
the loss bounds it; and what the output layer's within-layer ratio does as p leaves uniform.

Setting (:mod:`rmt.mlp`): ``z = W_L φ(⋯ φ(W_1 x))``, per sample ``g = ∂ℓ/∂z`` and
``A = ∂²ℓ/∂z²``; ``K_{s,l} = ∂u_s/∂u_l``, ``M_{s,l} = ∂a_s/∂u_l``, ``δ_k = K_{L,k}ᵀ g``,
``Γ_s = diag(φ''(u_s) ∘ W_{s+1}ᵀ δ_{s+1})``. Derivations:

* ``cross_layer.blocks`` — for every pair of layers ``l <= k`` the block of rows ``i`` of ``W_l``
  and ``i'`` of ``W_k`` is ``Ω[i,i'] a_{l-1}a_{k-1}ᵀ + Ψ[i,i'] a_{l-1}a_{k-1}ᵀ
  + 1[l<k] δ_k[i'] a_{l-1} M_{k-1,l}[:, i]ᵀ`` with ``Ω = K_{L,l}ᵀ A K_{L,k}`` (Gauss–Newton)
  and ``Ψ = Σ_{s=k}^{L-1} K_{s,l}ᵀ Γ_s K_{s,k}``: checked exactly against SymPy's Hessian of an
  explicit depth-3 net with a generic ``φ``, a generic symmetric ``A`` and a generic ``g``. The
  residual part (``Ψ`` and the ``δ`` term) is linear in ``g``.
* ``cross_layer.residual_norm`` — for a block with the output layer (``k = L``: ``Ψ = 0``) the
  per-sample residual is the tensor ``g ⊗ a_{l-1} ⊗ M_{L-1,l}`` rearranged, so
  ``‖R_n(g)‖_F = ‖g‖ ‖a_{l-1}‖ ‖M_{L-1,l}‖_F`` exactly (checked symbolically).
* ``cross_layer.loss_residual`` — CE: ``‖p − e_y‖² ≤ 2(1 − p_y)² ≤ 2(1 − p_y) ≤ 2ℓ_n`` and
  ``‖p − e_y‖ ≤ √2 (1 − p_y) ≤ √2 ℓ_n`` (``ℓ_n = −log p_y``); MSE: ``‖z − e_y‖² = 2ℓ_n``.
* ``cross_layer.bound`` — with ``c_n`` the per-sample constant (``‖a‖‖M‖_F``, times
  ``‖K_{L,k}‖₂`` for ``k < L``, ``φ'' = 0``), ``‖R‖_F ≤ (1/N) Σ_n c_n ‖g_n‖ ≤ c_rms (2ℓ)^{1/2}``
  (Cauchy–Schwarz; CE and MSE) and, CE only, ``≤ √2 c_max ℓ``. ``ℓ`` is the loss itself,
  i.e. its gap to 0: to the infimum ``ℓ* = 0`` of CE on separable data; for MSE the bound does
  not vanish unless the targets are fitted exactly. Rates in ``ℓ``: 1/2 (MSE), 1 (CE as
  ``ℓ → 0``, where the linear form is the smaller), each times a constant that depends on the
  trained weights.
* ``cross_layer.confident_ratio`` — the output layer's blocks ``(1/N) Σ_n w_n f_n f_nᵀ`` with the
  weights decoupled from the features (the static-force formula) and a *symmetric-confusion*
  softmax ``p = (1 − ε) e_y + ε/(C−1)`` off ``y`` (balanced classes): the per-block RMS ratio
  ``ρ(ε, C, κ)`` in closed form, with ``κ = (μ₄/μ₂ − 1)/N`` the features' effective aspect
  ratio (``(d + 1)/N`` for Gaussian ``x``). It equals ``1/(C−1)`` at uniform ``p`` and tends to
  ``((2κC + 4) / ((C − 1)(κC² + 4C − 4)))^{1/2}`` as ``ε → 0`` — still ``O(1/C)``. For one sample
  whose wrong mass is spread over ``k`` classes the aggregate ratio tends to ``(2/(k+1))^{1/2}``,
  whatever ``C``: a trained softmax that concentrates its wrong mass on few rivals loses the
  ``1/√C`` of initialisation.
"""

from __future__ import annotations

import itertools

import sympy as sp

from proofs import ProofResult, by_name, derivation, require
from proofs.chain_rule import ddphi, dphi, phi

__all__ = [
    "SYMBOLS",
    "derive_blocks",
    "derive_residual_norm",
    "derive_loss_residual",
    "derive_bound",
    "derive_confident_ratio",
]

ell, c_rms, c_max = sp.symbols("ell c_rms c_max", nonnegative=True)
eps = sp.Symbol("epsilon", positive=True)
C = sp.Symbol("C", integer=True, positive=True)
kappa = sp.Symbol("kappa", nonnegative=True)
k = sp.Symbol("k", integer=True, positive=True)

#: The symbols in which the results are expressed.
SYMBOLS = {"ell": ell, "c_rms": c_rms, "c_max": c_max, "epsilon": eps, "C": C,
           "kappa": kappa, "k": k}


# --------------------------------------------------------------------------------------------
# The blocks of a depth-3 net
# --------------------------------------------------------------------------------------------

def _mat(name: str, r: int, c: int) -> sp.Matrix:
    return sp.Matrix(r, c, lambda i, j: sp.Symbol(f"{name}{i}_{j}", real=True))


def derive_blocks(d: int = 2, m1: int = 2, m2: int = 2, C_: int = 2) -> ProofResult:
    """Direct symbolic Hessian of ``gᵀ z + ½ (z − z₀)ᵀ A (z − z₀)`` at ``z₀ = z(θ)`` equals the
    closed form (Gauss–Newton part ``Jᵀ A J`` plus residual part ``Σ_c g_c ∇²z_c``) for a
    depth-3 net with generic φ, symmetric ``A`` and ``g`` — any loss's per-sample Hessian."""
    Ws = [_mat("Wa", m1, d), _mat("Wb", m2, m1), _mat("Wc", C_, m2)]
    x = _mat("x", d, 1)
    g = _mat("g", C_, 1)
    A = sp.Matrix(C_, C_, lambda i, j: sp.Symbol(f"A{min(i, j)}_{max(i, j)}", real=True))
    u1 = Ws[0] * x
    a1 = u1.applyfunc(phi)
    u2 = Ws[1] * a1
    a2 = u2.applyfunc(phi)
    z = Ws[2] * a2
    theta = list(Ws[2]) + list(Ws[1]) + list(Ws[0])      # output layer first, rows in order
    J = z.jacobian(theta)
    direct = J.T * A * J
    for c in range(C_):
        direct += g[c] * sp.hessian(z[c], theta)
    # closed form, in renamed symbols
    f = {1: [sp.Symbol(f"f1_{i}") for i in range(m1)], 2: [sp.Symbol(f"f2_{i}") for i in range(m2)]}
    fp = {l: [sp.Symbol(f"fp{l}_{i}") for i in range(len(f[l]))] for l in f}
    fpp = {l: [sp.Symbol(f"fpp{l}_{i}") for i in range(len(f[l]))] for l in f}
    rename = {}
    for l, u in ((1, u1), (2, u2)):
        for i in range(len(u)):
            rename[phi(u[i])] = f[l][i]
            rename[dphi(u[i])] = fp[l][i]
            rename[ddphi(u[i])] = fpp[l][i]
    direct = direct.xreplace(rename)
    a = {0: x, 1: sp.Matrix(f[1]), 2: sp.Matrix(f[2])}
    D = {l: sp.diag(*fp[l]) for l in (1, 2)}
    W = {1: Ws[0], 2: Ws[1].xreplace(rename), 3: Ws[2]}
    L = 3

    def K(s: int, l: int) -> sp.Matrix:
        return sp.eye(W[l].shape[0]) if s == l else W[s] * D[s - 1] * K(s - 1, l)

    def M(s: int, l: int) -> sp.Matrix:
        return D[s] * K(s, l)

    def KL(l: int) -> sp.Matrix:
        return sp.eye(C_) if l == L else W[L] * M(L - 1, l)

    delta = {L: g}
    for l in (2, 1):
        delta[l] = D[l] * W[l + 1].T * delta[l + 1]
    Gam = {s: sp.diag(*[fpp[s][i] * (W[s + 1].T * delta[s + 1])[i] for i in range(len(f[s]))])
           for s in (1, 2)}
    sizes = {l: W[l].shape[0] * W[l].shape[1] for l in (1, 2, 3)}
    off = {3: 0, 2: sizes[3], 1: sizes[3] + sizes[2]}
    closed = sp.zeros(len(theta), len(theta))
    for l in (1, 2, 3):
        for kk in range(l, 4):
            Om = KL(l).T * A * KL(kk)
            Psi = sp.zeros(W[l].shape[0], W[kk].shape[0])
            for s in range(kk, L):
                Psi += K(s, l).T * Gam[s] * K(s, kk)
            ml, mk = W[l].shape[0], W[kk].shape[0]
            pa, pb = a[l - 1], a[kk - 1]
            blk = sp.zeros(sizes[l], sizes[kk])
            for i, ip in itertools.product(range(ml), range(mk)):
                tile = (Om[i, ip] + Psi[i, ip]) * pa * pb.T
                if l < kk:
                    tile += delta[kk][ip] * pa * M(kk - 1, l)[:, i].T
                r0, c0 = i * pa.shape[0], ip * pb.shape[0]
                blk[r0:r0 + pa.shape[0], c0:c0 + pb.shape[0]] = tile
            closed[off[l]:off[l] + sizes[l], off[kk]:off[kk] + sizes[kk]] = blk
            if kk != l:
                closed[off[kk]:off[kk] + sizes[kk], off[l]:off[l] + sizes[l]] = blk.T
    require("direct Hessian == closed form (GN Ω, residual Ψ and δ terms)",
            all(sp.expand(e) == 0 for e in (direct - closed)))
    # linearity in g of the residual part: the part of the closed form without A
    res = closed.xreplace({s: 0 for s in A.free_symbols})
    require("the residual part is linear in g",
            all(sp.expand(e - sum(gc * sp.diff(e, gc) for gc in g)) == 0 for e in res))
    return ProofResult(True, {"closed_form": closed, "residual_part": res},
                       f"depth 3 (d={d}, m=({m1},{m2}), C={C_}), generic φ, A, g: direct "
                       f"Hessian == closed form; residual part linear in g")


# --------------------------------------------------------------------------------------------
# Norms and the bound
# --------------------------------------------------------------------------------------------

def derive_residual_norm(C_: int = 3, p: int = 2, q: int = 2, r: int = 2) -> ProofResult:
    """``R[(i,j),(c,j')] = g_c a_j M[j', i]``: ``‖R‖²_F = ‖g‖² ‖a‖² ‖M‖²_F`` exactly."""
    g, a, Mm = _mat("g", C_, 1), _mat("a", p, 1), _mat("M", q, r)
    R2 = sum((g[c] * a[j] * Mm[jp, i]) ** 2
             for i in range(r) for j in range(p) for c in range(C_) for jp in range(q))
    rhs = sum(e ** 2 for e in g) * sum(e ** 2 for e in a) * sum(e ** 2 for e in Mm)
    require("‖g ⊗ a ⊗ M‖²_F == ‖g‖²‖a‖²‖M‖²_F", sp.expand(R2 - rhs) == 0)
    return ProofResult(True, {"norm_sq": rhs}, f"‖g ⊗ a ⊗ M‖²_F == ‖g‖²‖a‖²‖M‖²_F (C={C_}, "
                                               f"p={p}, M {q}×{r})")


def derive_loss_residual(C_: int = 4) -> ProofResult:
    """CE: ``‖p − e_y‖² ≤ 2(1 − p_y)² ≤ 2(1 − p_y) ≤ −2 log p_y`` on the simplex; MSE identity."""
    ps = sp.symbols(f"p0:{C_}", nonnegative=True)
    y = 0
    rest = [ps[c] for c in range(C_) if c != y]
    # (a) Σ_{c≠y} p_c² ≤ (Σ_{c≠y} p_c)² = (1 − p_y)²: the difference is Σ_{c≠c'} p_c p_c' ≥ 0
    diff = sp.expand(sum(rest) ** 2 - sum(e ** 2 for e in rest))
    require("Σ_(c≠y) p_c² ≤ (1−p_y)²: the difference has positive coefficients",
            all(coef > 0 for coef in sp.Poly(diff, *rest).coeffs()))
    # so ‖p − e_y‖² = (1 − p_y)² + Σ_{c≠y} p_c² ≤ 2 (1 − p_y)²
    q = sp.Symbol("q", positive=True)            # q = p_y ∈ (0, 1]
    # (b) (1 − q)² ≤ (1 − q) on [0, 1]: the difference is q (1 − q) ≥ 0
    require("(1−q) − (1−q)² = q(1−q) ≥ 0 on [0, 1]",
            sp.expand((1 - q) - (1 - q) ** 2 - q * (1 - q)) == 0)
    # (c) 1 − q ≤ −log q on (0, 1]: h(q) = −log q − (1 − q) has h(1) = 0 and h' = 1 − 1/q ≤ 0
    h = -sp.log(q) - (1 - q)
    dh = sp.diff(h, q)
    require("h(1) = 0", h.subs(q, 1) == 0)
    require("h'(q) = 1 − 1/q", sp.simplify(dh - (1 - 1 / q)) == 0)
    require("h' ≤ 0 on (0, 1]", sp.solve_univariate_inequality(dh <= 0, q, relational=False)
            .is_superset(sp.Interval.Lopen(0, 1)))
    # MSE: ‖z − e_y‖² = 2 · ½‖z − e_y‖² by definition
    return ProofResult(True, {"ce_sq_bound": 2 * (1 - q), "ce_bound": sp.sqrt(2) * (-sp.log(q)),
                              "symbols": by_name(q)},
                       "Σ_(c≠y) p_c² ≤ (1−p_y)²; (1−q)² ≤ 1−q on [0,1]; 1−q ≤ −log q on "
                       "(0,1]; hence ‖p−e_y‖² ≤ 2ℓ_n and ‖p−e_y‖ ≤ √2 ℓ_n; MSE ‖z−e_y‖² = 2ℓ_n")


def derive_bound(N_: int = 3) -> ProofResult:
    """``(1/N) Σ c_n ‖g_n‖ ≤ c_rms ((1/N) Σ ‖g_n‖²)^{1/2}`` (Cauchy–Schwarz, by Lagrange's
    identity at ``N = N_``), hence the two bounds in ``ℓ`` and their rates."""
    cs = sp.symbols(f"c0:{N_}", real=True)
    gs = sp.symbols(f"g0:{N_}", real=True)
    lagrange = sp.expand(sum(c ** 2 for c in cs) * sum(g ** 2 for g in gs)
                         - sum(c * g for c, g in zip(cs, gs)) ** 2
                         - sum((cs[i] * gs[j] - cs[j] * gs[i]) ** 2
                               for i in range(N_) for j in range(i + 1, N_)))
    require("Lagrange's identity (Cauchy–Schwarz)", lagrange == 0)
    sqrt_bound = c_rms * sp.sqrt(2 * ell)
    linear_bound = sp.sqrt(2) * c_max * ell
    rate_sqrt = sp.simplify(ell * sp.diff(sp.log(sqrt_bound), ell))
    rate_lin = sp.simplify(ell * sp.diff(sp.log(linear_bound), ell))
    # the linear form is the smaller once ℓ < c_rms² / (c_max²): ℓ → 0 picks rate 1 (CE)
    cross = sp.solve(sp.Eq(sqrt_bound, linear_bound), ell)
    require("rate of c_rms √(2ℓ) in ℓ is 1/2", rate_sqrt == sp.Rational(1, 2))
    require("rate of √2 c_max ℓ in ℓ is 1", rate_lin == 1)
    return ProofResult(True, {"sqrt_bound": sqrt_bound, "linear_bound": linear_bound,
                              "rate_sqrt": rate_sqrt, "rate_linear": rate_lin,
                              "crossover_loss": [c for c in cross if c != 0],
                              "symbols": by_name(ell, c_rms, c_max)},
                       f"Cauchy–Schwarz (Lagrange identity, N={N_}); "
                       f"‖R‖ ≤ c_rms √(2ℓ) (rate {rate_sqrt}), CE ‖R‖ ≤ √2 c_max ℓ "
                       f"(rate {rate_lin}); the linear form is smaller below ℓ = "
                       f"{[c for c in cross if c != 0]}")


# --------------------------------------------------------------------------------------------
# The within-layer ratio as p leaves uniform
# --------------------------------------------------------------------------------------------

def _decoupled(w_mean: sp.Expr, w_sq: sp.Expr) -> sp.Expr:
    """``‖H‖² / μ₂`` with weights decoupled from features: ``κ E w² + (E w)²``."""
    return kappa * w_sq + w_mean ** 2


def derive_confident_ratio() -> ProofResult:
    """Symmetric-confusion softmax, balanced classes, decoupled weights: ``ρ(ε, C, κ)``."""
    r = eps / (C - 1)                 # probability of each wrong class
    top = 1 - eps
    # class y = i, y = j, or another class (fractions 1/C, 1/C, (C−2)/C)
    off_vals = [(-top * r, 2 / C), (-r * r, (C - 2) / C)]
    diag_vals = [(top * eps, 1 / C), (r * (1 - r), (C - 1) / C)]
    Ew = lambda vals: sum(v * f for v, f in vals)            # noqa: E731
    Ew2 = lambda vals: sum(v ** 2 * f for v, f in vals)      # noqa: E731
    num = _decoupled(Ew(off_vals), Ew2(off_vals))
    den = _decoupled(Ew(diag_vals), Ew2(diag_vals))
    rho2 = sp.factor(sp.cancel(num / den))
    rho = sp.sqrt(rho2)
    require("ρ = 1/(C−1) at uniform p",
            sp.cancel(rho2.subs(eps, (C - 1) / C) - 1 / (C - 1) ** 2) == 0)
    # ρ² is a rational function of ε whose denominator at ε = 0, (C−1)³(κC² + 4(C−1)), is
    # positive: its value at ε = 0 is the limit
    den0 = sp.factor(sp.denom(rho2).subs(eps, 0))
    require("the denominator of ρ² does not vanish at ε = 0", den0 != 0)
    lim2 = sp.cancel(rho2.subs(eps, 0))
    claimed = (2 * kappa * C + 4) / ((C - 1) * (kappa * C ** 2 + 4 * C - 4))
    require("ρ² → (2κC+4)/((C−1)(κC²+4C−4)) as ε → 0", sp.cancel(lim2 - claimed) == 0)
    large_c = sp.limit(C ** 2 * claimed, C, sp.oo)           # √2/C for κ > 0
    # one sample, wrong mass ε/k on each of k classes: aggregate² = Σ_{i≠j} A_ij² / Σ_i A_ii²
    rk = eps / k
    off1 = 2 * k * (top * rk) ** 2 + k * (k - 1) * rk ** 4
    dia1 = (top * eps) ** 2 + k * (rk * (1 - rk)) ** 2
    agg1 = sp.cancel(off1 / dia1)     # the common ε² cancels; the rest is continuous at 0
    agg1 = sp.cancel(agg1.subs(eps, 0))
    require("one sample with k rivals: aggregate² → 2/(k+1)",
            sp.cancel(agg1 - 2 / (k + 1)) == 0)
    require("C²ρ² → 2 as C → ∞ (κ > 0)", large_c == 2)
    return ProofResult(True, {"ratio_rms": rho, "ratio_rms_sq": rho2,
                              "ratio_rms_confident_sq": claimed, "C2_ratio_sq_large_C": large_c,
                              "sample_aggregate_sq_confident": agg1,
                              "symbols": by_name(eps, C, kappa, k)},
                       "ρ = 1/(C−1) at uniform p; ρ² → (2κC+4)/((C−1)(κC²+4C−4)) as ε → 0 "
                       "(C²ρ² → 2); one sample with k rivals: aggregate² → 2/(k+1)")


@derivation("cross_layer.blocks",
            "Depth-3 net, generic φ: every block is Ω⊗aaᵀ + Ψ⊗aaᵀ + δ⊗a⊗M (Ω = K_lᵀAK_k Gauss–"
            "Newton; Ψ, δ terms linear in g).")
def _blocks() -> ProofResult:
    """The closed form of :mod:`rmt.mlp` equals the direct symbolic Hessian (depth 3)."""
    return derive_blocks()


@derivation("cross_layer.residual_norm",
            "Blocks with the output layer: the residual part of one sample is g⊗a⊗M, "
            "‖R_n‖_F = ‖g‖‖a‖‖M‖_F.")
def _residual_norm() -> ProofResult:
    """The per-sample residual tensor norm identity."""
    return derive_residual_norm()


@derivation("cross_layer.loss_residual",
            "CE: ‖p−e_y‖² ≤ 2(1−p_y) ≤ 2ℓ_n and ‖p−e_y‖ ≤ √2 ℓ_n; MSE: ‖z−e_y‖² = 2ℓ_n.")
def _loss_residual() -> ProofResult:
    """The residual ``g`` is bounded by the per-sample loss."""
    return derive_loss_residual()


@derivation("cross_layer.bound",
            "‖R_{W_l W_k}‖_F ≤ c_rms √(2ℓ) (CE, MSE) and ≤ √2 c_max ℓ (CE): rates 1/2 and 1.")
def _bound() -> ProofResult:
    """The bound on the residual part of a cross-layer block."""
    return derive_bound()


@derivation("cross_layer.confident_ratio",
            "Output layer, decoupled weights, symmetric-confusion softmax: per-block RMS ratio "
            "1/(C−1) at uniform p, O(1/C) as ε → 0; one sample with k rivals: √(2/(k+1)).")
def _confident_ratio() -> ProofResult:
    """The within-layer ratio as the softmax leaves uniform."""
    return derive_confident_ratio()
