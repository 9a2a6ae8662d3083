"""Exact spectral moments of a weighted sample covariance at finite d and N.

``B = (1/N) Σ_n w_n x_n x_nᵀ`` (``d × d``) with ``x_n ~ N(0, I_d)`` iid and weights ``w_n``
independent of the ``x``'s. The k-th moment of its empirical spectral distribution is
``m_k = tr(B^k)/d`` and

    tr(B^k) = N^{−k} Σ_{a_1..a_k} w_{a_1}⋯w_{a_k} (x_{a_1}ᵀx_{a_2})(x_{a_2}ᵀx_{a_3})⋯(x_{a_k}ᵀx_{a_1}).

Grouping the index tuples by the set partition π of the positions ``1..k`` that says which
indices are equal, two exact facts give ``E[m_k | w]`` as a polynomial in ``d``, ``N`` and the
power sums ``S_j = Σ_n w_n^j``:

* **Wick.** For one pattern π the Gaussian expectation of the cyclic product of inner products
  is ``Σ_matchings d^{c(matching)}``: write each inner product as a sum over a coordinate
  index, pair the ``2k`` vector slots that carry the same sample (Isserlis), and each pairing
  identifies two coordinate indices; ``c`` is the number of free coordinate sums left (connected
  components). This is exact for symbolic ``d``.
* **Möbius.** The sum over *distinct* sample labels of ``Π_{B∈π} w_{a_B}^{|B|}`` is
  ``Σ_{σ ≥ π} μ(π, σ) Π_{C∈σ} S_{n_C}`` (``σ`` coarsens π, ``n_C`` is the number of positions in
  ``C``, ``μ = Π_C (−1)^{b_C−1}(b_C−1)!`` over the ``b_C`` blocks of π merged into ``C``).

For iid weights with moments ``μ_j = E w^j`` the distinct sum has expectation
``N(N−1)⋯(N−|π|+1) Π_B μ_{|B|}``. Checks: ``k = 1, 2`` against the closed forms (``E m_1 = S_1/N``;
``E m_2`` is :func:`proofs.block_norm_limits.block_sq_norm_exact` over ``d``); ``w ≡ 1`` against
the exact Wishart moments ``E tr(XᵀX)² = Nd(N + d + 1)`` and
``E tr(XᵀX)³ = Nd(N² + d² + 3Nd + 3N + 3d + 4)``; and ``d, N → ∞, d/N → γ`` with iid weights
against the weighted-MP moments of :mod:`proofs.free_cumulants` (free cumulants
``κ_j = γ^{j−1} μ_j``). These moments are the centres of the moment tests of
:mod:`rmt.esd_tests`; they hold for any weight law independent of the data, so the data-dependent
weights of the model enter only through the conditional mean given the realised weights.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import sympy as sp
from sympy.utilities.iterables import multiset_partitions

from proofs import ProofResult, by_name, derivation, require

__all__ = [
    "DIM",
    "NSAMP",
    "GAMMA",
    "K_MAX",
    "power_sums",
    "weight_moments",
    "wick_cycle",
    "distinct_sum",
    "conditional_moment",
    "iid_moment",
    "derive_esd_moments",
]

DIM = sp.Symbol("d", positive=True, integer=True)
NSAMP = sp.Symbol("N", positive=True, integer=True)
GAMMA = sp.Symbol("gamma", positive=True)
#: Highest moment order derived (the tests of rmt.esd_tests use orders 1–3).
K_MAX = 3


def power_sums(k: int = K_MAX) -> tuple[sp.Symbol, ...]:
    """Symbols ``S1 … Sk`` for the power sums ``S_j = Σ_n w_n^j`` of the realised weights."""
    return sp.symbols(f"S1:{k + 1}", real=True)


def weight_moments(k: int = K_MAX) -> tuple[sp.Symbol, ...]:
    """Symbols ``mu1 … muk`` for the moments ``μ_j = E w^j`` of an iid weight law."""
    return sp.symbols(f"mu1:{k + 1}", real=True)


def _set_partitions(n: int) -> list[list[list[int]]]:
    return [list(map(list, p)) for p in multiset_partitions(list(range(n)))]


@lru_cache(maxsize=None)
def wick_cycle(labels: tuple[int, ...], d: sp.Expr = DIM) -> sp.Expr:
    """``E Π_i (x_{l_i}ᵀ x_{l_{i+1}})`` (cyclic, ``l_{k+1} = l_1``) for iid ``x ~ N(0, I_d)``.

    Slot ``2i`` is ``(sample l_i, coordinate α_i)`` and slot ``2i+1`` is
    ``(sample l_{i+1}, coordinate α_i)``; every perfect matching of slots within each sample
    (Isserlis) identifies coordinates, and contributes ``d^{components}``.
    """
    k = len(labels)
    slots = []
    for i in range(k):
        slots.append((labels[i], i))
        slots.append((labels[(i + 1) % k], i))
    groups: dict[int, list[int]] = {}
    for s, (lab, _) in enumerate(slots):
        groups.setdefault(lab, []).append(s)
    if any(len(g) % 2 for g in groups.values()):
        return sp.Integer(0)

    def matchings(items: list[int]):
        if not items:
            yield []
            return
        a, rest = items[0], items[1:]
        for j, b in enumerate(rest):
            for m in matchings(rest[:j] + rest[j + 1:]):
                yield [(a, b)] + m

    total = sp.Integer(0)
    for combo in itertools.product(*(list(matchings(g)) for g in groups.values())):
        parent = list(range(k))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for pairs in combo:
            for a, b in pairs:
                ra, rb = find(slots[a][1]), find(slots[b][1])
                if ra != rb:
                    parent[ra] = rb
        total += d ** len({find(i) for i in range(k)})
    return sp.expand(total)


def distinct_sum(block_sizes: list[int], S: tuple[sp.Symbol, ...]) -> sp.Expr:
    """``Σ_{distinct a_B} Π_B w_{a_B}^{|B|}`` in power sums (Möbius inversion on partitions)."""
    nb = len(block_sizes)
    out = sp.Integer(0)
    for coarse in multiset_partitions(list(range(nb))):
        term = sp.Integer(1)
        for C in coarse:
            b = len(C)
            term *= (-1) ** (b - 1) * sp.factorial(b - 1) * S[sum(block_sizes[i] for i in C) - 1]
        out += term
    return sp.expand(out)


def _pattern_terms(k: int):
    """``(wick value, block sizes)`` for every set partition π of the positions 1..k."""
    for part in _set_partitions(k):
        lab = [0] * k
        for b, block in enumerate(part):
            for i in block:
                lab[i] = b
        yield wick_cycle(tuple(lab)), [len(b) for b in part]


def conditional_moment(k: int, d: sp.Expr = DIM, N: sp.Expr = NSAMP) -> sp.Expr:
    """``E[tr(B^k)/d | w]`` in the power sums ``S_1 … S_k`` (exact)."""
    S = power_sums(K_MAX)
    expr = sum(val * distinct_sum(sizes, S) for val, sizes in _pattern_terms(k))
    return sp.expand(expr.subs(DIM, d) / (N ** k * d))


def iid_moment(k: int, d: sp.Expr = DIM, N: sp.Expr = NSAMP) -> sp.Expr:
    """``E[tr(B^k)/d]`` for iid weights with moments ``μ_1 … μ_k`` (exact)."""
    mu = weight_moments(K_MAX)
    expr = sp.Integer(0)
    for val, sizes in _pattern_terms(k):
        ff = sp.Integer(1)
        for r in range(len(sizes)):
            ff *= (N - r)
        expr += val.subs(DIM, d) * ff * sp.Mul(*[mu[s - 1] for s in sizes])
    return sp.expand(expr / (N ** k * d))


def _weighted_mp_moment(k: int) -> sp.Expr:
    """Weighted-MP moment of order k from free cumulants ``κ_j = γ^{j−1} μ_j`` (non-crossing)."""
    from proofs.free_cumulants import weighted_mp_moments  # noqa: PLC0415

    return sp.expand(weighted_mp_moments(k, GAMMA, weight_moments(K_MAX))[k - 1])


@derivation("esd_moments.finite_size",
            "E[tr(B^k)/d | w] for B = N⁻¹Σ w_n x_n x_nᵀ, x Gaussian independent of w: exact "
            "polynomials in d, N and S_j = Σ w^j (Wick + Möbius), k ≤ 3; → weighted-MP moments.")
def derive_esd_moments() -> ProofResult:
    notes = []
    S = power_sums(K_MAX)
    mu = weight_moments(K_MAX)
    d, N = DIM, NSAMP
    cond = {k: conditional_moment(k) for k in range(1, K_MAX + 1)}
    iid = {k: iid_moment(k) for k in range(1, K_MAX + 1)}
    def zero(expr: sp.Expr) -> bool:   # every comparison here is of polynomials
        return sp.expand(expr) == 0

    require("E[m_1 | w] = S_1/N", zero(cond[1] - S[0] / N))
    require("E[m_2 | w] = ((d+2)S_2 + S_1² − S_2)/N²",
            zero(cond[2] - ((d + 2) * S[1] + S[0] ** 2 - S[1]) / N ** 2))
    require("iid E m_2 = block_norm_limits.exact_sq_norm / d",
            zero(iid[2] - (N * mu[1] * d * (d + 2) + N * (N - 1) * mu[0] ** 2 * d) / (N ** 2 * d)))
    notes.append("k = 1, 2 equal the closed forms (block_norm_limits.exact_sq_norm)")
    ones = {s: N for s in S}
    require("w ≡ 1: E tr(XᵀX)² = Nd(N+d+1)", zero(cond[2].subs(ones) * N ** 2 * d
                                                 - N * d * (N + d + 1)))
    require("w ≡ 1: E tr(XᵀX)³ = Nd(N²+d²+3Nd+3N+3d+4)",
            zero(cond[3].subs(ones) * N ** 3 * d
                 - N * d * (N ** 2 + d ** 2 + 3 * N * d + 3 * N + 3 * d + 4)))
    require("w ≡ 1: iid and conditional moments agree",
            all(zero(iid[k].subs({m: 1 for m in mu}) - cond[k].subs(ones))
                for k in range(1, K_MAX + 1)))
    notes.append("w ≡ 1: E tr(XᵀX)² = Nd(N+d+1), E tr(XᵀX)³ = Nd(N²+d²+3Nd+3N+3d+4)")
    for k in range(2, K_MAX + 1):
        require(f"E over iid weights of E[m_{k}|w] is the iid moment",
                zero(_expect_power_sum_poly(cond[k], S, mu, N) - iid[k]))
    notes.append(f"E over iid weights of E[m_k|w] equals the iid moment (k ≤ {K_MAX})")
    # d = γN → ∞: a polynomial in ε = 1/N whose constant term is the weighted-MP moment
    eps = sp.Symbol("epsilon", positive=True)
    for k in range(1, K_MAX + 1):
        series = sp.Poly(sp.expand(iid[k].subs(d, GAMMA * N).subs(N, 1 / eps)), eps)
        require(f"m_{k} → weighted-MP moment as d = γN → ∞",
                zero(series.eval(0) - _weighted_mp_moment(k)))
    notes.append(f"limits d = γN → ∞ equal the weighted-MP moments for k ≤ {K_MAX}")
    objects = {
        "symbols": by_name(d, N, GAMMA),
        "power_sums": by_name(*S), "weight_moments": by_name(*mu),
        "conditional": cond, "iid": iid,
    }
    return ProofResult(True, objects, "; ".join(notes) + f". E[m_3|w] = {cond[3]}")


def _expect_power_sum_poly(expr: sp.Expr, S: tuple[sp.Symbol, ...], mu: tuple[sp.Symbol, ...],
                           N: sp.Expr) -> sp.Expr:
    """``E`` of a polynomial in the power sums of ``N`` iid weights, monomial by monomial.

    ``Π_i S_{j_i} = Σ_{a_1..a_r} Π_i w_{a_i}^{j_i}``; grouping equal indices by a set partition
    of the ``r`` factors gives ``Σ_π N(N−1)⋯(N−|π|+1) Π_B μ_{Σ_{i∈B} j_i}``.
    """
    poly = sp.Poly(sp.expand(expr), *S)
    out = sp.Integer(0)
    for powers, coeff in poly.terms():
        js = [j + 1 for j, e in enumerate(powers) for _ in range(e)]
        if not js:
            out += coeff
            continue
        tot = sp.Integer(0)
        for part in _set_partitions(len(js)):
            ff = sp.Integer(1)
            for r in range(len(part)):
                ff *= (N - r)
            tot += ff * sp.Mul(*[mu[sum(js[i] for i in B) - 1] for B in part])
        out += coeff * tot
    return sp.expand(out)
