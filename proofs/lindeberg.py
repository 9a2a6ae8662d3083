"""The Lindeberg step: what is fixed along the interpolation, what changes, and how fast the gap
of Stieltjes transforms closes.

Setting: ``x_n, x̃_n`` iid ``N(0, I_d)``, ``V ∈ R^{C×d}`` fixed (independent of the data),
weights ``w_n(t) = f(V y_n(t))`` with ``y_n(t) = √t x_n + √(1−t) x̃_n``, and
``B_t = (1/N) Σ_n w_n(t) x_n x_nᵀ`` (only the data inside the weights is interpolated).
``s_t(z) = (1/d) tr (B_t − z)⁻¹``, ``Im z = η > 0``.

Derivations (each returns SymPy objects and checks itself):

* ``lindeberg.weight_law`` — ``y(t) ~ N(0, I)`` for every ``t`` (mean 0, covariance
  ``t + (1 − t) = 1``, moment generating function ``e^{s²/2}`` free of ``t``), so the law of every
  weight ``w_n(t)`` and of the vector ``w(t)`` (iid entries) is the same along the path; what
  changes is the joint law of ``(x_n, y_n(t))``: correlation ``√t`` (covariance matrix
  ``[[1, √t], [√t, 1]] ⊗ I``), from independence at ``t = 0`` to identity at ``t = 1``.
* ``lindeberg.endpoints`` — ``y(1) = x`` and ``y(0) = x̃``, so ``B_1`` is the covariance with
  dependent weights and ``B_0`` the one with independent weights, exactly; the replacement path
  ``B^{(k)}`` (independent weights for the first ``k`` samples) has ``B^{(0)} = B_1`` and
  ``B^{(N)} = B_0``, so the two paths share their end points (``τ = 1 − k/N``).
* ``lindeberg.moments_polynomial`` — by Mehler's formula, ``x | y ~ N(ρ y, (1 − ρ²) I)`` with
  ``ρ = √t``, so ``E[p(x) | y]`` for an even polynomial ``p`` of degree ``2j`` is a polynomial in
  ``t = ρ²`` of degree ``≤ j``. Since ``tr B^k`` has degree ``2k`` in the outer-product data (each
  sample an even number of times), ``E m_k(t) = E (1/d) tr B_t^k`` is a polynomial of degree
  ``≤ k`` in ``t``; in particular ``E B_t = (1 − t) E B_0 + t E B_1`` and the first moment is
  exactly linear in ``t``: the midpoint fraction ``(E m₁(½) − E m₁(0))/(E m₁(1) − E m₁(0)) = ½``.
  Checked symbolically against joint moments ``E[x^{2j} y^m]`` for ``j ≤ 3``, ``m ≤ 4``.
* ``lindeberg.stein_derivative`` — Gaussian integration by parts: for ``F(y, x)`` smooth,
  ``d/dt E F(y(t), x) = (1/(2√t)) E[Σ_k ∂²F/∂x_k∂y_k]``: the path moves only through the mixed
  derivative between the data in the weights and the data in the outer products (for ``s_t``,
  ``F`` is the Stieltjes transform as a function of both). Checked on a generic polynomial of
  degree 4 in one dimension.
* ``lindeberg.rank_bound`` — the gap at fixed ``C`` is ``O(1/d)``, not only ``O(1/√N)``:
  ``|E s_t(z) − E s_0(z)| ≤ 2 r/(d η)``, ``r = rank V ≤ min(C, d)``. Proof: ``P`` projects onto the
  row space of ``V``; ``w_n(t)`` depends on ``x_n`` only through ``P x_n``, and ``P⊥x_n`` is
  independent of ``P x_n`` (``Cov = P(I − P) = 0``). Replace ``P x_n`` in the outer products by
  an independent copy: the result ``B̌_t`` has exactly the law of ``B_0`` (weights iid ``ν``,
  independent of ``N(0, I)`` data), and ``B_t − B̌_t`` vanishes on ``P⊥ ⊗ P⊥``, so it is
  ``P M + M P − P M P`` of rank ``≤ 2r``. A Hermitian rank-one change moves
  ``tr (A − z)⁻¹`` by ``τ qᵀR²q/(1 + τ qᵀRq)`` (Sherman–Morrison), at most ``1/η`` because
  ``|qᵀR²q| ≤ Im(qᵀRq)/η`` and ``|1 + τ qᵀRq| ≥ |τ| Im(qᵀRq)``; so
  ``|s(B_t) − s(B̌_t)| ≤ 2r/(dη)`` for every draw, and ``E s(B̌_t) = E s_0``, so
  ``|E s_t − E s_0| = |E[s(B_t) − s(B̌_t)]| ≤ 2r/(dη)`` (``B^{(k)}`` likewise: its weights also
  see ``x_n`` only through ``P x_n``). At fixed ``C`` the exponent
  of ``d`` is ``−1``, faster than the paper's ``O(1/√N) = O(d^{−1/2})`` at fixed ``γ``; when
  ``C ∝ d`` the bound is ``O(1)`` and says nothing — that regime is measured, not derived.
"""

from __future__ import annotations

import itertools

import sympy as sp

from proofs import ProofResult, by_name, derivation, require

__all__ = [
    "T",
    "RHO",
    "ETA",
    "gaussian_moment",
    "expect_poly",
    "conditional_moment",
    "derive_weight_law",
    "derive_endpoints",
    "derive_moments_polynomial",
    "derive_stein_derivative",
    "derive_rank_bound",
]

T = sp.Symbol("t", nonnegative=True)
RHO = sp.Symbol("rho", nonnegative=True)
ETA = sp.Symbol("eta", positive=True)
_X, _XT, _XI, _Y, _S = sp.symbols("x xtilde xi y s", real=True)


def gaussian_moment(k: int) -> sp.Integer:
    """``E g^k`` for ``g ~ N(0, 1)``: 0 for odd ``k``, ``(k − 1)!!`` for even ``k``."""
    if int(k) != k or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    k = int(k)
    return sp.Integer(0) if k % 2 else sp.factorial2(k - 1) if k else sp.Integer(1)


def expect_poly(expr: sp.Expr, variables: tuple[sp.Symbol, ...]) -> sp.Expr:
    """``E[expr]`` for a polynomial in independent standard Gaussians ``variables``."""
    poly = sp.Poly(sp.expand(expr), *variables)
    out = sp.Integer(0)
    for powers, coeff in poly.terms():
        term = coeff
        for p in powers:
            term *= gaussian_moment(p)
        out += term
    return sp.expand(out)


def conditional_moment(j: int) -> sp.Expr:
    """``E[x^{2j} | y]`` for ``(x, y)`` standard Gaussians with correlation ``ρ``, as a
    polynomial in ``y`` and ``ρ``: ``x = ρ y + √(1 − ρ²) ξ`` with ``ξ`` independent of ``y``."""
    xi = _XI
    expr = sp.expand((RHO * _Y + sp.sqrt(1 - RHO**2) * xi) ** (2 * j))
    poly = sp.Poly(expr, xi)
    return sp.expand(sum(c * gaussian_moment(p[0]) for p, c in poly.terms()))


@derivation("lindeberg.weight_law",
            "y(t) = √t x + √(1−t) x̃ ~ N(0, I) for every t (variance t + (1−t) = 1), so the "
            "weight law is fixed along the smooth path; only Corr(x, y(t)) = √t changes.")
def derive_weight_law() -> ProofResult:
    notes = []
    # Linear map (x, x̃) -> (x, y): covariance A Aᵀ of the pair, per coordinate.
    A = sp.Matrix([[1, 0], [sp.sqrt(T), sp.sqrt(1 - T)]])
    cov = sp.simplify(A * A.T)
    target = sp.Matrix([[1, sp.sqrt(T)], [sp.sqrt(T), 1]])
    require("Cov(x, y(t)) has correlation √t", sp.simplify(cov - target) == sp.zeros(2, 2))
    notes.append(f"Cov(x, y(t)) = {cov.tolist()}")
    var_y = sp.simplify(cov[1, 1])
    require("Var y(t) = 1", var_y == 1)
    # MGF of y(t): product of the independent parts' MGFs.
    mgf = sp.simplify(sp.exp(_S**2 * T / 2) * sp.exp(_S**2 * (1 - T) / 2))
    require("y(t) has the standard normal MGF", sp.simplify(mgf - sp.exp(_S**2 / 2)) == 0)
    require("the MGF of y(t) does not depend on t", sp.diff(mgf, T) == 0)
    notes.append(f"E exp(s y(t)) = {mgf} (free of t)")
    # Moments of y(t) directly, from independent x, x̃: E y^k = E g^k for k ≤ 8.
    for k in range(1, 9):
        ek = expect_poly((sp.sqrt(T) * _X + sp.sqrt(1 - T) * _XT) ** k, (_X, _XT))
        require(f"E y(t)^{k} is the Gaussian moment", sp.simplify(ek - gaussian_moment(k)) == 0)
    notes.append("E y(t)^k = E g^k for k ≤ 8")
    # Multivariate: Cov(y) = t I + (1−t) I = I for any d (here d symbolic through a 3×3 check).
    I3 = sp.eye(3)
    require("Cov y(t) = I in several dimensions", sp.simplify(T * I3 + (1 - T) * I3 - I3) == sp.zeros(3, 3))
    corr = sp.sqrt(T)
    require("correlation √t is 0 at t = 0 and 1 at t = 1", corr.subs(T, 0) == 0 and corr.subs(T, 1) == 1)
    objects = {"t": T, "correlation": corr, "variance_y": var_y, "cov_pair": target,
               "mgf_y": mgf}
    return ProofResult(True, objects, "; ".join(notes))


@derivation("lindeberg.endpoints",
            "The smooth path gives B_0 (independent weights) at t = 0 and B_1 (dependent) at "
            "t = 1 exactly; the replacement path B^(k) gives B_1 at k = 0 and B_0 at k = N.")
def derive_endpoints() -> ProofResult:
    y = sp.sqrt(T) * _X + sp.sqrt(1 - T) * _XT
    require("y(1) = x and y(0) = x̃", bool(y.subs(T, 1) == _X and y.subs(T, 0) == _XT))
    # Replacement path with N = 3 samples: weight of sample n is w̃_n for n < k, w_n otherwise.
    N = 3
    w = sp.symbols("w0:3")
    wt = sp.symbols("wt0:3")

    def weights(k: int) -> list:
        return [wt[n] if n < k else w[n] for n in range(N)]

    require("replacement path: B^(0) = B_1, B^(N) = B_0", weights(0) == list(w) and weights(N) == list(wt))
    tau = sp.Symbol("k") / sp.Symbol("N")
    objects = {"y_of_t": y, "y_at_1": y.subs(T, 1), "y_at_0": y.subs(T, 0),
               "tau_of_k": 1 - tau}
    return ProofResult(True, objects, "y(1) = x, y(0) = x̃; B^(0) = B_1, B^(N) = B_0; τ = 1 − k/N")


@derivation("lindeberg.moments_polynomial",
            "E[x^{2j} | y] is a polynomial of degree ≤ j in t = ρ² (Mehler), so E B_t is linear "
            "in t and E (1/d) tr B_t^k is a polynomial of degree ≤ k in t.")
def derive_moments_polynomial() -> ProofResult:
    notes = []
    degrees = {}
    for j in range(1, 4):
        cm = conditional_moment(j)
        in_t = sp.expand(cm.subs(RHO, sp.sqrt(T)))
        # a polynomial in t (no √t left) of degree ≤ j
        is_poly = in_t.is_polynomial(T) and not in_t.has(sp.sqrt(T))
        deg = sp.Poly(in_t, T).degree() if is_poly else None
        degrees[j] = deg
        require(f"E[x^(2·{j}) | y] is a polynomial of degree ≤ {j} in t", bool(is_poly) and deg is not None and deg <= j)
        # Check against joint moments computed from independent (x, x̃):
        # E[x^{2j} y^m] = E[E[x^{2j} | y] y^m] for m ≤ 4, with y = √t x + √(1−t) x̃.
        y_t = sp.sqrt(T) * _X + sp.sqrt(1 - T) * _XT
        for m in range(5):
            joint = expect_poly(_X ** (2 * j) * y_t**m, (_X, _XT))
            via = expect_poly(in_t * _Y**m, (_Y,))
            require(f"joint moment of order ({j}, {m}) via the conditional moment", sp.simplify(joint - via) == 0)
        notes.append(f"E[x^{2 * j}|y] = {sp.factor(in_t)} (degree {deg} in t)")
    # j = 1: E[x² | y] = t y² + 1 − t, so E[f(y) x xᵀ] = t E[f(y) y yᵀ] + (1 − t) E f · I:
    # the mean of B_t is (1 − t) E B_0 + t E B_1.
    m1 = sp.expand(conditional_moment(1).subs(RHO, sp.sqrt(T)))
    require("Mehler: E[x² | y] = t y² + 1 − t", sp.expand(m1 - (T * _Y**2 + 1 - T)) == 0)
    mean_B = (1 - T) * sp.Symbol("EB0") + T * sp.Symbol("EB1")
    midpoint_fraction = sp.Rational(1, 2)
    frac = sp.simplify((mean_B.subs(T, sp.Rational(1, 2)) - mean_B.subs(T, 0))
                       / (mean_B.subs(T, 1) - mean_B.subs(T, 0)))
    require("the first moment reaches half its gap at t = 1/2", frac == midpoint_fraction)
    objects = {"conditional_x2": m1, "degrees": degrees, "mean_B": mean_B,
               "first_moment_midpoint_fraction": midpoint_fraction}
    return ProofResult(True, objects, "; ".join(notes))


@derivation("lindeberg.stein_derivative",
            "d/dt E F(√t x + √(1−t) x̃, x) = E[∂²F/∂x∂y] / (2√t): the path moves only through "
            "the mixed derivative between weight data and outer-product data.")
def derive_stein_derivative() -> ProofResult:
    # Generic polynomial F(y, x) of total degree ≤ 4 with symbolic coefficients.
    coeffs = {}
    F = sp.Integer(0)
    for i, j in itertools.product(range(5), range(5)):
        if i + j <= 4:
            c = sp.Symbol(f"c_{i}{j}")
            coeffs[(i, j)] = c
            F += c * _Y**i * _X**j
    y_t = sp.sqrt(T) * _X + sp.sqrt(1 - T) * _XT
    EF = expect_poly(F.subs(_Y, y_t), (_X, _XT))
    lhs = sp.simplify(sp.diff(EF, T))
    Fxy = sp.diff(F, _X, _Y)
    rhs = sp.simplify(expect_poly(Fxy.subs(_Y, y_t), (_X, _XT)) / (2 * sp.sqrt(T)))
    require("Gaussian interpolation: d/dt E F = E ∂²F/∂x∂y / (2√t)", sp.simplify(lhs - rhs) == 0)
    # Consequence: if F has no mixed dependence (F = g(y) + h(x)) E F is constant along the path.
    sep = sum(c * _Y**i * _X**j for (i, j), c in coeffs.items() if i == 0 or j == 0)
    E_sep = expect_poly(sep.subs(_Y, y_t), (_X, _XT))
    require("separable terms do not move along the path", sp.simplify(sp.diff(E_sep, T)) == 0)
    objects = {"dE_dt": lhs, "stein_form": rhs, "F": F}
    return ProofResult(True, objects,
                       "checked on a generic degree-4 polynomial F(y, x); separable F is "
                       "constant along the path")


@derivation("lindeberg.rank_bound",
            "|E s_t(z) − E s_0(z)| ≤ 2 rank(V)/(d Im z): rank-2C coupling plus the rank-one "
            "resolvent bound 1/η; exponent −1 in d at fixed C (the paper's O(1/√N) is −1/2).")
def derive_rank_bound() -> ProofResult:
    notes = []
    # (a) Sherman–Morrison trace identity, 2×2 symbolic: tr R_{A+τqqᵀ} − tr R_A
    #     = −τ qᵀR²q/(1 + τ qᵀRq) with R = (A − z)⁻¹.
    a1, a2, q1, q2, tau, z = sp.symbols("a1 a2 q1 q2 tau z")
    A = sp.diag(a1, a2)
    q = sp.Matrix([q1, q2])
    I2 = sp.eye(2)
    R = (A - z * I2).inv()
    Rp = (A + tau * q * q.T - z * I2).inv()
    lhs = sp.simplify(Rp.trace() - R.trace())
    qRq = (q.T * R * q)[0, 0]
    qR2q = (q.T * R * R * q)[0, 0]
    rhs = -tau * qR2q / (1 + tau * qRq)
    require("Sherman–Morrison trace identity", sp.simplify(lhs - rhs) == 0)
    notes.append("Sherman–Morrison trace identity (2×2 symbolic)")
    # (b) per eigenvalue: |1/(λ − z)²| = Im(1/(λ − z))/η, so |qᵀR²q| ≤ Im(qᵀRq)/η.
    #     With u = λ − Re z real: |1/(λ − z)²| = w·conj(w) for w = 1/(u − iη).
    u_ = sp.Symbol("u", real=True)
    w_ = 1 / (u_ - sp.I * ETA)
    mod_sq = sp.simplify(sp.expand_complex(w_ * sp.conjugate(w_)))
    im_over_eta = sp.simplify(sp.im(sp.expand_complex(w_)) / ETA)
    require("|1/(λ − z)²| = Im(1/(λ − z))/η", sp.simplify(mod_sq - im_over_eta) == 0)
    # (c) Im(1 + τ qᵀRq) = τ Im(qᵀRq) for real τ, so |1 + τ qᵀRq| ≥ |τ| Im(qᵀRq); hence the
    #     rank-one change is at most (|τ| Im(qᵀRq)/η)/(|τ| Im(qᵀRq)) = 1/η.
    tau_r = sp.Symbol("tau_r", real=True)
    u, v = sp.symbols("u v", real=True)
    require("Im(1 + τ qᵀRq) = τ Im(qᵀRq)", sp.simplify(sp.im(1 + tau_r * (u + sp.I * v)) - tau_r * v) == 0)
    notes.append("|1/(λ−z)²| = Im(1/(λ−z))/η; Im(1 + τ qᵀRq) = τ Im(qᵀRq)")
    # (d) P⊥x independent of Px: P(I − P) = 0 for P = Vᵀ(VVᵀ)⁻¹V (exact rational V, 2×4).
    Vm = sp.Matrix([[1, 2, 0, -1], [3, -1, 2, 1]])
    P = Vm.T * (Vm * Vm.T).inv() * Vm
    require("P(I − P) = 0", sp.simplify(P * (sp.eye(4) - P)) == sp.zeros(4, 4))
    require("P is a rank-2 projection", sp.simplify(P * P - P) == sp.zeros(4, 4) and P.rank() == 2)
    # (e) M − (P⊥ M P⊥) = P M + M P − P M P has rank ≤ 2 rank(P) (random symmetric M).
    M = sp.Matrix(4, 4, lambda i, j: sp.Rational((i + 1) * (j + 1) % 7 + i + j, 3))
    M = (M + M.T) / 2
    Pp = sp.eye(4) - P
    require("M − P⊥MP⊥ has rank ≤ 2 rank P", (M - Pp * M * Pp).rank() <= 2 * P.rank())
    require("M − P⊥MP⊥ = PM + MP − PMP", sp.simplify(M - Pp * M * Pp - (P * M + M * P - P * M * P)) == sp.zeros(4, 4))
    notes.append("P(I − P) = 0; M − P⊥MP⊥ = PM + MP − PMP has rank ≤ 2 rank P")
    # (f) The bound and its exponent in d at fixed C.
    d, C = sp.symbols("d C", positive=True)
    bound = 2 * C / (d * ETA)
    exponent = sp.simplify(d * sp.diff(sp.log(bound), d))
    require("the rank bound 2C/(d η) decays like d^(−1)", exponent == -1)
    paper = sp.Rational(-1, 2)
    require("d^(−1) is faster than the paper's d^(−1/2)", exponent < paper)
    objects = {"bound": bound, "symbols": by_name(d, C, ETA), "exponent_fixed_C": exponent,
               "paper_exponent": paper, "rank_one_bound": 1 / ETA}
    return ProofResult(True, objects, "; ".join(notes))
