"""Free cumulants and moments of the weighted Marchenko–Pastur law.

Moments and free cumulants of a law are related by a sum over non-crossing partitions,

    M_k = Σ_{π ∈ NC(k)} Π_{V ∈ π} κ_{|V|},

equivalently (the R-transform functional equation) the moment series
``g(u) = Σ_k M_k u^k`` solves ``g = 1 + Σ_{k≥1} κ_k u^k g^k``.

Weighted sample covariance ``B = (1/N) Σ_n w_n x_n x_nᵀ`` (``x_n ~ N(0, I_d)``, ``w_n ~ ν``
independent, ``γ = d/N``): its limiting Stieltjes transform solves
``m = 1/(−z + E_ν[w/(1 + γ w m)])``. With ``z = 1/u`` and ``m = −u g(u)`` this becomes

    g = 1 + u g E_ν[w / (1 − γ w u g)] = 1 + Σ_{k≥1} γ^{k−1} E_ν[w^k] u^k g^k,

which is the functional equation with ``κ_k = γ^{k−1} E_ν[w^k]``. The derivations check this
three ways for ``k ≤ 5``: (i) non-crossing partitions enumerated explicitly against the
functional-equation recursion with symbolic ``κ_k``; (ii) the fixed point expanded with
generic weight moments ``μ_k`` as symbols; (iii) the fixed point for a two-point weight law
expanded directly as a rational function (no moment expansion). Finally ``w ≡ 1`` reduces the
fixed point to the MP quadratic ``γ z m² + (z + γ − 1) m + 1 = 0``. All checks are exact.

Public helpers (usable from claims and laws): :func:`noncrossing_partitions`,
:func:`moments_from_free_cumulants`, :func:`free_cumulants_from_moments` and
:func:`weighted_mp_moments`.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import sympy as sp

from proofs import ProofResult, by_name, derivation, require

__all__ = [
    "GAMMA",
    "K_NC",
    "K_WEIGHTED",
    "noncrossing_partitions",
    "is_noncrossing",
    "moments_from_free_cumulants",
    "moments_by_partitions",
    "free_cumulants_from_moments",
    "weighted_mp_free_cumulants",
    "weighted_mp_moments",
    "derive_noncrossing",
    "derive_weighted_mp",
    "derive_mp_reduction",
]

GAMMA = sp.Symbol("gamma", positive=True)
#: Largest order for which non-crossing partitions are enumerated in the derivation.
K_NC = 6
#: Largest order for which the weighted-MP fixed point is expanded.
K_WEIGHTED = 5

_U = sp.Symbol("u")
_Z = sp.Symbol("z")
_M = sp.Symbol("m")


def _check_order(name: str, k: object, minimum: int = 0) -> int:
    if isinstance(k, bool) or int(k) != k or k < minimum:  # type: ignore[operator, call-overload]
        raise ValueError(f"{name} must be an integer >= {minimum}, got {k!r}")
    return int(k)  # type: ignore[call-overload]


def _set_partitions(elements: list[int]) -> Iterator[list[list[int]]]:
    if not elements:
        yield []
        return
    first, rest = elements[0], elements[1:]
    for part in _set_partitions(rest):
        yield [[first]] + part
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]


def is_noncrossing(partition: Sequence[Sequence[int]]) -> bool:
    """Whether no ``a < b < c < d`` has ``a, c`` in one block and ``b, d`` in another."""
    owner = {x: i for i, block in enumerate(partition) for x in block}
    pts = sorted(owner)
    for ia, a in enumerate(pts):
        for ib in range(ia + 1, len(pts)):
            b = pts[ib]
            if owner[b] == owner[a]:
                continue
            for ic in range(ib + 1, len(pts)):
                c = pts[ic]
                if owner[c] != owner[a]:
                    continue
                for d in pts[ic + 1:]:
                    if owner[d] == owner[b]:
                        return False
    return True


def noncrossing_partitions(k: int) -> list[tuple[tuple[int, ...], ...]]:
    """All non-crossing partitions of ``{0, …, k−1}`` (there are Catalan(k) of them).

    Parameters
    ----------
    k : int, 0 <= k <= 10
        Size of the ground set (enumeration filters all set partitions, Bell(k) of them).

    Returns
    -------
    list of tuple of tuple of int
        Each partition as sorted blocks.
    """
    k = _check_order("k", k)
    if k > 10:
        raise ValueError(f"k must be an integer in [0, 10] (Bell({k}) partitions to filter), "
                         f"got {k}")
    out = []
    for part in _set_partitions(list(range(k))):
        if is_noncrossing(part):
            out.append(tuple(sorted(tuple(sorted(b)) for b in part)))
    return sorted(out)


def moments_by_partitions(kappas: Sequence[sp.Expr], kmax: int) -> list[sp.Expr]:
    """Moments ``M_0..M_kmax`` by explicit sums over non-crossing partitions.

    Parameters
    ----------
    kappas : sequence
        Free cumulants ``κ_1, κ_2, …`` (at least ``kmax`` of them).
    kmax : int, 0 <= kmax <= 10

    Returns
    -------
    list of sympy.Expr
    """
    kmax = _check_order("kmax", kmax)
    if len(kappas) < kmax:
        raise ValueError(f"kappas must hold at least kmax = {kmax} free cumulants, "
                         f"got {len(kappas)}")
    out = [sp.Integer(1)]
    for k in range(1, kmax + 1):
        out.append(sp.expand(sum(sp.Mul(*[kappas[len(b) - 1] for b in part])
                                 for part in noncrossing_partitions(k))))
    return out


def moments_from_free_cumulants(kappas: Sequence[sp.Expr], kmax: int) -> list[sp.Expr]:
    """Moments ``M_0..M_kmax`` from free cumulants via ``g = 1 + Σ κ_k u^k g^k``.

    Parameters
    ----------
    kappas : sequence of sympy.Expr or numbers
        ``κ_1, κ_2, …`` (at least ``kmax`` of them).
    kmax : int, >= 0

    Returns
    -------
    list of sympy.Expr
        ``[M_0 = 1, M_1, …, M_kmax]``.
    """
    kmax = _check_order("kmax", kmax)
    if len(kappas) < kmax:
        raise ValueError(f"kappas must hold at least kmax = {kmax} free cumulants, "
                         f"got {len(kappas)}")
    kap = [sp.sympify(x) for x in kappas[:kmax]]
    g = [sp.Integer(1)] + [sp.Integer(0)] * kmax  # coefficients of the truncated series
    for _ in range(kmax):  # each pass fixes one more coefficient
        new = [sp.Integer(1)] + [sp.Integer(0)] * kmax
        power = [sp.Integer(1)] + [sp.Integer(0)] * kmax  # (u g)^s, truncated
        for s in range(1, kmax + 1):
            shifted = [sp.Integer(0)] + g[:kmax]          # u·g
            power = [sp.expand(sum(power[i] * shifted[n - i] for i in range(n + 1)))
                     for n in range(kmax + 1)]
            for n in range(kmax + 1):
                new[n] += kap[s - 1] * power[n]
        g = [sp.expand(c) for c in new]
    return g


def free_cumulants_from_moments(moments: Sequence[sp.Expr]) -> list[sp.Expr]:
    """Free cumulants ``κ_1..κ_K`` from moments ``M_1..M_K`` (inverse of the NC relation).

    Parameters
    ----------
    moments : sequence
        ``M_1, …, M_K`` (without ``M_0``).

    Returns
    -------
    list of sympy.Expr
    """
    K = len(moments)
    kap: list[sp.Expr] = []
    for k in range(1, K + 1):
        # M_k = κ_k + (terms in κ_1..κ_{k−1}); solve for κ_k
        trial = moments_from_free_cumulants(kap + [sp.Integer(0)], k)[k]
        kap.append(sp.expand(sp.sympify(moments[k - 1]) - trial))
    return kap


def weighted_mp_free_cumulants(k: int, gamma: sp.Expr, weight_moments: Sequence[sp.Expr]
                               ) -> list[sp.Expr]:
    """Free cumulants ``κ_j = γ^{j−1} E[w^j]``, ``j = 1..k``, of the weighted MP law."""
    k = _check_order("k", k)
    if len(weight_moments) < k:
        raise ValueError(f"weight_moments must hold E[w^1..w^k] (k = {k} values), "
                         f"got {len(weight_moments)}")
    g = sp.sympify(gamma)
    return [g**(j - 1) * sp.sympify(weight_moments[j - 1]) for j in range(1, k + 1)]


def weighted_mp_moments(k: int, gamma: sp.Expr, weight_moments: Sequence[sp.Expr]) -> list[sp.Expr]:
    """Moments ``E[λ], …, E[λ^k]`` of the weighted MP law, as SymPy expressions.

    The law is the limiting spectral law of ``(1/N) Σ_n w_n x_n x_nᵀ`` with ``w_n ~ ν``
    independent of ``x_n ~ N(0, I_d)``, ``d/N → γ``. Its free cumulants are
    ``κ_j = γ^{j−1} E_ν[w^j]`` (derivation ``free_cumulants.weighted_mp``).

    Parameters
    ----------
    k : int, >= 1
        Highest moment.
    gamma : sympy.Expr or number, > 0
        Aspect ratio ``d/N`` (a symbol or a positive number).
    weight_moments : sequence of sympy.Expr or numbers
        ``E[w], E[w²], …, E[w^k]`` (symbols or numbers; at least ``k`` entries).

    Returns
    -------
    list of sympy.Expr
        ``[E λ, E λ², …, E λ^k]`` (``M_1..M_k``; ``M_0 = 1`` is left out). Pass them to
        :func:`sympy.lambdify` to evaluate numerically.

    Examples
    --------
    >>> import sympy as sp
    >>> g = sp.Symbol("gamma", positive=True)
    >>> weighted_mp_moments(2, g, [1, 1])
    [1, gamma + 1]
    """
    k = _check_order("k", k, 1)
    gam = sp.sympify(gamma)
    if gam.is_number and not (gam.is_real and gam > 0):
        raise ValueError(f"gamma must be a positive real number, got {gamma!r}")
    kap = weighted_mp_free_cumulants(k, gam, weight_moments)
    return moments_from_free_cumulants(kap, k)[1:]


def _fixed_point_series(expectation, kmax: int) -> list[sp.Expr]:
    """Solve ``g = 1 + u g E[w/(1 − γ w u g)]`` order by order with unknown coefficients.

    ``expectation(x)`` must return ``E_ν[w/(1 − γ w x)]`` as an expression in ``x``.
    """
    cs = sp.symbols(f"c1:{kmax + 1}")
    g = 1 + sum(c * _U**i for i, c in enumerate(cs, start=1))
    resid = g - 1 - _U * g * expectation(_U * g)
    ser = sp.expand(sp.series(resid, _U, 0, kmax + 1).removeO())
    sol: dict[sp.Symbol, sp.Expr] = {}
    for n in range(1, kmax + 1):
        eq = sp.expand(ser.coeff(_U, n).subs(sol))
        sol[cs[n - 1]] = sp.expand(sp.solve(eq, cs[n - 1])[0])
    return [sp.Integer(1)] + [sol[c] for c in cs]


@derivation("free_cumulants.noncrossing",
            "Moments are sums over non-crossing partitions of products of free cumulants, "
            "equivalently g = 1 + Σ κ_k u^k g^k; |NC(k)| = Catalan(k); checked for k ≤ 6.")
def derive_noncrossing() -> ProofResult:
    notes = []
    counts = [len(noncrossing_partitions(k)) for k in range(K_NC + 1)]
    require("non-crossing partitions are counted by Catalan numbers", counts == [sp.catalan(k) for k in range(K_NC + 1)])
    notes.append(f"|NC(k)|, k = 0..{K_NC}: {counts}")
    kap = sp.symbols(f"kappa1:{K_NC + 1}")
    by_nc = moments_by_partitions(kap, K_NC)
    by_fe = moments_from_free_cumulants(kap, K_NC)
    diff = [k for k in range(K_NC + 1) if sp.expand(by_nc[k] - by_fe[k]) != 0]
    require("moments by partitions equal moments by the functional equation", not diff)
    notes.append("NC sum = functional-equation recursion"
                 + ("" if not diff else f" fails at {diff}"))
    # Inversion round trip.
    back = free_cumulants_from_moments(by_fe[1:])
    require("free cumulants ↔ moments round trip", all(sp.expand(b - c) == 0 for b, c in zip(back, kap)))
    # Semicircle sanity: κ_2 = 1 only gives Catalan numbers at even orders.
    semi = moments_from_free_cumulants([0, 1] + [0] * (K_NC - 2), K_NC)
    require("semicircle (κ₂ = 1) gives Catalan numbers at even orders", semi == [sp.catalan(k // 2) if k % 2 == 0 else 0 for k in range(K_NC + 1)])
    objects = {
        "kappa_symbols": kap,
        "moments_in_cumulants": {k: by_fe[k] for k in range(1, K_NC + 1)},
        "cumulants_in_moments": {k: free_cumulants_from_moments(
            sp.symbols(f"M1:{K_NC + 1}"))[k - 1] for k in range(1, K_NC + 1)},
        "moment_symbols": sp.symbols(f"M1:{K_NC + 1}"),
    }
    return ProofResult(True, objects, "; ".join(notes))


@derivation("free_cumulants.weighted_mp",
            "The weighted MP fixed point m = 1/(−z + E[w/(1+γwm)]) has free cumulants "
            "κ_k = γ^{k−1}E[w^k]; its moments equal the NC sums for k ≤ 5 (generic moments "
            "and a two-point law).")
def derive_weighted_mp() -> ProofResult:
    notes = []
    K = K_WEIGHTED
    mu = sp.symbols(f"mu1:{K + 1}")
    kap = [GAMMA**(j - 1) * mu[j - 1] for j in range(1, K + 1)]
    nc = moments_by_partitions(kap, K)

    # The change of variables m = −u g, z = 1/u maps the fixed point to the functional form.
    G, W = sp.Symbol("g"), sp.Symbol("w", positive=True)
    lhs = _M * (-_Z + W / (1 + GAMMA * W * _M)) - 1
    mapped = sp.cancel(lhs.subs({_M: -_U * G, _Z: 1 / _U}))
    target = sp.cancel(G - 1 - _U * G * W / (1 - GAMMA * W * _U * G))
    require("m = −u g maps the fixed point to g = 1 + u g E[w/(1 − γ w u g)]", sp.cancel(mapped - target) == 0)
    notes.append("m = −u g maps the fixed point to g = 1 + u g E[w/(1 − γ w u g)]")

    # (ii) generic moments: E[w/(1 − γ w x)] = Σ_j γ^j μ_{j+1} x^j (truncated at order K).
    def generic(x):
        return sum(GAMMA**j * mu[j] * x**j for j in range(K))

    ser = _fixed_point_series(generic, K)
    bad = [k for k in range(K + 1) if sp.expand(ser[k] - nc[k]) != 0]
    require("fixed-point series equals the partition sums for generic weight moments", not bad)
    notes.append(f"generic μ_k: series = NC sums for k ≤ {K}"
                 + ("" if not bad else f" fails {bad}"))

    # (iii) two-point law, expanded as a rational function.
    p, w1, w2 = sp.symbols("p w1 w2", positive=True)

    def two_point(x):
        return p * w1 / (1 - GAMMA * w1 * x) + (1 - p) * w2 / (1 - GAMMA * w2 * x)

    ser2 = _fixed_point_series(two_point, K)
    mu2 = {mu[j - 1]: p * w1**j + (1 - p) * w2**j for j in range(1, K + 1)}
    bad2 = [k for k in range(K + 1) if sp.expand(ser2[k] - nc[k].subs(mu2)) != 0]
    require("fixed-point series equals the partition sums for two-atom weights", not bad2)
    notes.append(f"two-point law: series = NC sums for k ≤ {K}"
                 + ("" if not bad2 else f" fails {bad2}"))

    # Public helper agrees.
    helper = weighted_mp_moments(K, GAMMA, mu)
    require("weighted_mp_moments agrees with the partition sums", all(sp.expand(h - n) == 0 for h, n in zip(helper, nc[1:])))

    objects = {
        "symbols": by_name(GAMMA, *mu),
        "weight_moment_symbols": mu,
        "free_cumulants": {j: kap[j - 1] for j in range(1, K + 1)},
        "moments": {k: nc[k] for k in range(1, K + 1)},
        "fixed_point_two_point": _M * (-_Z + p * w1 / (1 + GAMMA * w1 * _M)
                                       + (1 - p) * w2 / (1 + GAMMA * w2 * _M)) - 1,
        "r_transform_series": sum(GAMMA**(j - 1) * mu[j - 1] * _U**(j - 1)
                                  for j in range(1, K + 1)),
    }
    return ProofResult(True, objects, "; ".join(notes))


@derivation("free_cumulants.mp_reduction",
            "With w ≡ 1 the weighted MP fixed point is the MP quadratic γ z m² + (z + γ − 1) m + 1 "
            "= 0 and its moments are the Narayana polynomials.")
def derive_mp_reduction() -> ProofResult:
    fp = _M * (-_Z + 1 / (1 + GAMMA * _M)) - 1
    quad = GAMMA * _Z * _M**2 + (_Z + GAMMA - 1) * _M + 1
    num = sp.numer(sp.together(fp))
    require("w ≡ 1 fixed point is the MP quadratic", sp.expand(num + quad) == 0)  # numerator is −(quadratic); the factor 1 + γm ≠ 0
    K = 8
    mom = weighted_mp_moments(K, GAMMA, [1] * K)
    from proofs.mp_moments import narayana  # noqa: PLC0415 - sibling proof module
    require("w ≡ 1 moments are the Narayana polynomials", all(sp.expand(mom[k - 1] - narayana(k, GAMMA)) == 0 for k in range(1, K + 1)))
    # MP free cumulants are γ^{k−1}: the law is free Poisson with rate 1/γ and jump γ.
    kap = free_cumulants_from_moments([narayana(k, GAMMA) for k in range(1, K + 1)])
    require("MP free cumulants are γ^(k−1)", all(sp.expand(kap[k - 1] - GAMMA**(k - 1)) == 0 for k in range(1, K + 1)))
    return ProofResult(True, {"fixed_point_numerator": num, "quadratic": quad,
                                  "free_cumulants": {k: GAMMA**(k - 1) for k in range(1, K + 1)}},
                       "numerator of m(−z + 1/(1+γm)) − 1 is −(γ z m² + (z+γ−1) m + 1); "
                       f"moments = Narayana and κ_k = γ^(k−1) for k ≤ {K}")
