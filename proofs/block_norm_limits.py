"""Frobenius norms of weighted-covariance Hessian blocks, exactly at finite d, N and in the limit.

A block ``H = (1/N) Σ_n a_n x_n x_nᵀ`` with ``x_n ~ N(0, I_d)`` iid and weights ``a_n`` iid,
independent of the ``x``'s (the Lindeberg surrogate of the linear CE model, where the block weights
``a_n = A_n[i, j]`` are functions of ``V x_n``; for the model itself this is exact only in the
limit). Expanding ``‖H‖_F² = N⁻² Σ_{n,m} a_n a_m (x_nᵀ x_m)²`` and using ``E‖x‖⁴ = d(d+2)``,
``E(x_nᵀ x_m)² = d`` (n ≠ m):

    E‖H‖_F² = N⁻² [ N E[a²] d(d+2) + N(N−1) (E a)² d ]            (exact)
    E‖H‖_F² / d → γ E[a²] + (E a)²        (d, N → ∞, d/N → γ).

For the linear CE model the diagonal block weight is ``p_i(1 − p_i)`` and the off-diagonal one
``−p_i p_j``. Writing ``A_k = E[(C p_i(1−p_i))^k]`` and ``B_k = E[(C² p_i p_j)^k]`` (the scaled
moments of :mod:`proofs.large_c`), the ratio of root-mean-square block norms is

    C·(E‖H_ij‖²/E‖H_ii‖²)^{1/2} = ( ((d+2) B_2 + (N−1) B_1²) / ((d+2) A_2 + (N−1) A_1²) )^{1/2}

exactly (independent weights), → ``((γ B_2 + B_1²)/(γ A_2 + A_1²))^{1/2}`` as d, N → ∞, and with
the large-C moments ``A_1, A_2, B_1, B_2 → 1, ρ, 1, ρ²`` (``ρ = e^{σ²}``) to

    κ(σ, γ) = ((γ e^{2σ²} + 1) / (γ e^{σ²} + 1))^{1/2}.

Checks: the Gaussian moments by symbolic expectation; the exact formula against a brute-force
expectation of the explicit polynomial for every ``d, N ≤ 3``; ``C = 2`` (where ``b = 2a``, so
C·ratio = 2 exactly); ``V = 0`` (p = 1/C, ratio exactly ``1/(C − 1)``); ``σ = 0`` gives κ = 1.
"""

from __future__ import annotations

import itertools

import sympy as sp
from sympy.stats import E as expect
from sympy.stats import Normal

from proofs import ProofResult, by_name, derivation, require
from proofs.large_c import (
    NCLASS,
    SIGMA,
    diag_weight_moment_first_order,
    diag_weight_moment_limit,
    offdiag_weight_moment_first_order,
    offdiag_weight_moment_limit,
)

__all__ = [
    "DIM",
    "NSAMP",
    "GAMMA",
    "EA",
    "EA2",
    "A1",
    "A2",
    "B1",
    "B2",
    "block_sq_norm_exact",
    "c_ratio_exact",
    "kappa",
    "gaussian_monomial_moment",
    "derive_exact_sq_norm",
    "derive_per_block_ratio",
]

DIM = sp.Symbol("d", positive=True, integer=True)
NSAMP = sp.Symbol("N", positive=True, integer=True)
GAMMA = sp.Symbol("gamma", positive=True)
#: First and second moment of a block weight a.
EA, EA2 = sp.symbols("Ea Ea2", real=True)
#: Scaled weight moments: A_k = E[(C p_i(1−p_i))^k], B_k = E[(C² p_i p_j)^k].
A1, A2, B1, B2 = sp.symbols("A1 A2 B1 B2", positive=True)


def gaussian_monomial_moment(powers: dict[sp.Symbol, int]) -> sp.Integer:
    """``E Π x_v^{e_v}`` for independent standard normals: ``Π (e_v − 1)!!`` (0 if any is odd)."""
    out = sp.Integer(1)
    for e in powers.values():
        if e % 2:
            return sp.Integer(0)
        out *= sp.factorial2(e - 1) if e else 1
    return out


def block_sq_norm_exact(d: sp.Expr = DIM, N: sp.Expr = NSAMP, Ea: sp.Expr = EA,
                        Ea2: sp.Expr = EA2) -> sp.Expr:
    """``E‖(1/N) Σ a_n x_n x_nᵀ‖_F²`` for independent weights: ``(Ea2·d(d+2) + (N−1)Ea²·d)/N``."""
    return (N * Ea2 * d * (d + 2) + N * (N - 1) * Ea**2 * d) / N**2


def c_ratio_exact(d: sp.Expr = DIM, N: sp.Expr = NSAMP) -> sp.Expr:
    """``C·(E‖H_ij‖²/E‖H_ii‖²)^{1/2}`` in ``A1, A2, B1, B2`` (exact for independent weights)."""
    return sp.sqrt(((d + 2) * B2 + (N - 1) * B1**2) / ((d + 2) * A2 + (N - 1) * A1**2))


def kappa(sigma: sp.Expr = SIGMA, gamma: sp.Expr = GAMMA) -> sp.Expr:
    """``κ(σ, γ) = ((γ e^{2σ²} + 1)/(γ e^{σ²} + 1))^{1/2}``, the large-C limit of C·ratio."""
    return sp.sqrt((gamma * sp.exp(2 * sigma**2) + 1) / (gamma * sp.exp(sigma**2) + 1))


def _brute_force_sq_norm(d: int, N: int) -> sp.Expr:
    """E‖H‖² for explicit small d, N, by expanding the polynomial in Gaussian entries."""
    xs = [[sp.Symbol(f"x_{n}_{k}") for k in range(d)] for n in range(N)]
    a = sp.symbols(f"a0:{N}")
    total = sp.Integer(0)
    for n, m in itertools.product(range(N), range(N)):
        total += a[n] * a[m] * sum(xs[n][k] * xs[m][k] for k in range(d))**2
    poly = sp.Poly(sp.expand(total), *[v for row in xs for v in row])
    out = sp.Integer(0)
    gens = poly.gens
    for mon, coeff in poly.terms():
        out += coeff * gaussian_monomial_moment(dict(zip(gens, mon)))
    out = sp.expand(out / N**2)
    # weights iid, independent of x: a_n² → E[a²], a_n a_m → (E a)²
    rep = sp.Integer(0)
    for term in sp.Add.make_args(out):
        powers = [sp.degree(term, ai) for ai in a]
        coeff = term.subs({ai: 1 for ai in a})
        if sorted(powers) == [0] * (N - 1) + [2]:
            rep += coeff * EA2
        elif sorted(powers) == [0] * (N - 2) + [1, 1]:
            rep += coeff * EA**2
        else:
            raise AssertionError(f"unexpected weight monomial {term}")
    return sp.expand(rep)


@derivation("block_norm_limits.exact_sq_norm",
            "For H = (1/N)Σ a_n x_n x_nᵀ with a_n independent of x_n ~ N(0, I_d): E‖H‖_F² = "
            "[N E a² d(d+2) + N(N−1)(E a)² d]/N², so ‖H‖_F²/d → γE[a²] + (E a)².")
def derive_exact_sq_norm() -> ProofResult:
    notes = []
    x, y = Normal("x", 0, 1), Normal("y", 0, 1)
    m4, m2 = expect(x**4), expect(x**2)
    require("standard Gaussian moments E x⁴ = 3, E x² = 1", (m4, m2) == (3, 1))
    # E‖x‖⁴ = Σ_k E x_k⁴ + Σ_{k≠l} E x_k² E x_l²; E(xᵀy)² = Σ_k E x_k² E y_k² (cross terms vanish)
    norm4 = sp.expand(DIM * m4 + DIM * (DIM - 1) * m2**2)
    inner2 = DIM * expect(x**2 * y**2)
    require("E‖x‖⁴ = d(d + 2) and E(xᵀy)² = d", sp.expand(norm4 - DIM * (DIM + 2)) == 0 and sp.expand(inner2 - DIM) == 0)
    notes.append(f"E‖x‖⁴ = {sp.factor(norm4)}, E(xᵀy)² = {inner2}")
    exact = sp.expand((NSAMP * EA2 * norm4 + NSAMP * (NSAMP - 1) * EA**2 * inner2) / NSAMP**2)
    require("E‖H‖²_F assembled from the moments equals block_sq_norm_exact", sp.expand(exact - block_sq_norm_exact()) == 0)
    bad = []
    for dv, nv in itertools.product((1, 2, 3), (1, 2, 3)):
        bf = _brute_force_sq_norm(dv, nv)
        if sp.expand(bf - exact.subs({DIM: dv, NSAMP: nv})) != 0:
            bad.append((dv, nv))
    require("brute-force Gaussian expectation agrees for d, N ≤ 3", not bad)
    notes.append("brute-force Gaussian expectation for d, N ≤ 3 "
                 + ("agrees" if not bad else f"differs {bad}"))
    per_dim = sp.limit((exact / DIM).subs(NSAMP, DIM / GAMMA), DIM, sp.oo)
    require("E‖H‖²_F/d → γ E a² + (E a)² as d, N → ∞", sp.expand(per_dim - (GAMMA * EA2 + EA**2)) == 0)
    notes.append(f"‖H‖²/d → {per_dim}")
    objects = {
        "symbols": by_name(DIM, NSAMP, EA, EA2, GAMMA),
        "block_sq_norm_exact": block_sq_norm_exact(),
        "block_sq_norm_per_dim_limit": per_dim,
        "gaussian_norm4": norm4,
        "gaussian_inner2": inner2,
    }
    return ProofResult(True, objects, "; ".join(notes))


@derivation("block_norm_limits.per_block_ratio",
            "C·‖H_ij‖_F/‖H_ii‖_F (root-mean-square) = "
            "(((d+2)B₂ + (N−1)B₁²)/((d+2)A₂ + (N−1)A₁²))^{1/2} "
            "→ κ(σ,γ) = ((γe^{2σ²}+1)/(γe^{σ²}+1))^{1/2} as d, N, C → ∞.")
def derive_per_block_ratio() -> ProofResult:
    notes = []
    C = NCLASS
    # Block weights: diagonal a = A-weight/C, off-diagonal b = −B-weight/C².
    diag = block_sq_norm_exact(Ea=sp.Symbol("a1") / C, Ea2=sp.Symbol("a2") / C**2)
    off = block_sq_norm_exact(Ea=-sp.Symbol("b1") / C**2, Ea2=sp.Symbol("b2") / C**4)
    sub = {sp.Symbol("a1"): A1, sp.Symbol("a2"): A2, sp.Symbol("b1"): B1, sp.Symbol("b2"): B2}
    c_ratio_sq = sp.cancel((C**2 * off / diag).subs(sub))
    require("(C·ratio)² = C² E‖H_ij‖²/E‖H_ii‖² equals c_ratio_exact²", sp.cancel(c_ratio_sq - c_ratio_exact()**2) == 0)
    # d, N → ∞ with (d + 2)/(N − 1) → γ.
    lim_moments = sp.sqrt(sp.limit(c_ratio_sq.subs(NSAMP, DIM / GAMMA), DIM, sp.oo))
    target_lim = sp.sqrt((GAMMA * B2 + B1**2) / (GAMMA * A2 + A1**2))
    require("d, N → ∞ limit of C·ratio in the weight moments", sp.simplify(lim_moments**2 - target_lim**2) == 0)
    # Large-C moments.
    big_c = {A1: diag_weight_moment_limit(1), A2: diag_weight_moment_limit(2),
             B1: offdiag_weight_moment_limit(1), B2: offdiag_weight_moment_limit(2)}
    kap = kappa()
    require("large-C weight moments give κ(σ, γ)", sp.simplify(target_lim.subs(big_c)**2 - kap**2) == 0)
    require("κ(0, γ) = 1", sp.simplify(kap.subs(SIGMA, 0)) == 1)
    notes.append("exact C·ratio formula; d,N → ∞ limit; large-C moments give κ(σ, γ)")
    # C = 2: b = C²p1p2 = 2·(C p1(1 − p1)), so B1 = 2A1, B2 = 4A2 and C·ratio = 2 exactly.
    require("C = 2: C·ratio = 2 exactly", sp.simplify(c_ratio_exact().subs({B1: 2 * A1, B2: 4 * A2})) == 2)
    # V = 0: a = 1 − 1/C, b = 1 deterministic ⇒ ratio = 1/(C − 1) exactly, at every d, N.
    v0_sq = sp.simplify(c_ratio_exact().subs({A1: 1 - 1 / C, A2: (1 - 1 / C)**2, B1: 1, B2: 1})**2
                        / C**2)
    require("V = 0: ratio = 1/(C − 1) at every d, N", sp.simplify(v0_sq - 1 / (C - 1)**2) == 0)
    v0 = 1 / (C - 1)
    notes.append(f"C = 2: C·ratio = 2; V = 0: ratio = {v0}")
    # First order in 1/C (asymptotic) from the large-C expansions of proofs.large_c.
    t = sp.Symbol("t", positive=True)
    first = {A1: diag_weight_moment_first_order(1), A2: diag_weight_moment_first_order(2),
             B1: offdiag_weight_moment_first_order(1), B2: offdiag_weight_moment_first_order(2)}
    fo = sp.series(target_lim.subs(first).subs(NCLASS, 1 / t), t, 0, 2).removeO()
    fo_coeff = sp.simplify(fo.coeff(t, 1))
    require("the 1/C expansion starts at κ", sp.simplify(fo.coeff(t, 0) - kap) == 0)
    c_ratio_first_order = kap + fo_coeff / C
    notes.append("first-order 1/C correction of κ derived (asymptotic)")
    objects = {
        "symbols": by_name(DIM, NSAMP, A1, A2, B1, B2, GAMMA, SIGMA, NCLASS),
        "c_ratio_exact": c_ratio_exact(),
        "c_ratio_limit_moments": target_lim,
        "kappa": kap,
        "c_ratio_limit": kap,
        "per_block_ratio_limit": kap / C,
        "aggregate_ratio_limit": kap * sp.sqrt(C - 1) / C,
        "c_ratio_first_order": c_ratio_first_order,
        "v0_per_block_ratio": 1 / (C - 1),
    }
    return ProofResult(True, objects, "; ".join(notes))
