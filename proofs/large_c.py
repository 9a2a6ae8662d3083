"""Softmax weights at initialisation for many classes: lognormal limits and 1/C corrections.

Setting: logits ``z_1, …, z_C`` iid ``N(0, σ²)`` (a fixed sample's logits at init),
``p = softmax(z)``, ``ρ = e^{σ²}``. The Hessian-block weights are the diagonal weight
``a = C p_i (1 − p_i)`` and the off-diagonal weight ``b = C² p_i p_j`` (``i ≠ j``; the block
weight itself is ``−p_i p_j``, the sign does not enter squared norms).

What is derived, and what kind of statement each is:

* ``large_c.lognormal_limits`` (limits, exact): ``E[e^{kz}] = e^{k²σ²/2}`` (Gaussian integral,
  symbolic ``k``), so ``(1/C) Σ_j e^{z_j} → E e^z = e^{σ²/2}`` (strong LLN) and
  ``C p_i → e^{z_i − σ²/2}``; ``C p_i² = (C p_i)²/C → 0`` so ``a → e^{z_i − σ²/2}`` and
  ``b → e^{z_i + z_j − σ²}`` almost surely. Moments converge too: by AM–GM
  ``(1/C) Σ_j e^{z_j} ≥ e^{z̄}``, hence ``a^k ≤ (C p_i)^k ≤ e^{k(z_i − z̄)}`` and
  ``b^k ≤ e^{k(z_i + z_j − 2 z̄)}``, whose expectations ``e^{k²σ²(1 − 1/C)/2}`` and
  ``e^{k²σ²(2 − 4/C)/2}`` are bounded uniformly in ``C`` for every ``k`` (derived here), so
  every power is uniformly integrable. Therefore ``E[a^k] → e^{k(k−1)σ²/2}`` and
  ``E[b^k] → e^{k(k−1)σ²}``.
* ``large_c.first_order`` (asymptotic, not exact): delta method on the normaliser
  ``S̄ = (1/C) Σ_j e^{z_j} = T + (e^{z_i} − T)/C`` with ``T`` the mean of the other classes,
  ``T = e^{σ²/2}(1 + δ)``, ``E δ = 0``, ``E δ² = (ρ − 1)/C + O(C⁻²)``, ``E δ³ = O(C⁻²)``:

      E[a^k] = ρ^{k(k−1)/2} [1 + (k/C)(1 − 2ρ^k + (k+1)(ρ − 1)/2)] + O(C⁻²),
      E[b^k] = ρ^{k(k−1)}   [1 + (k/C)(4 − 4ρ^k + (2k+1)(ρ − 1))] + O(C⁻²).

  Exact at ``σ = 0`` to this order (``a = 1 − 1/C``, ``b = 1``) and consistent with the exact
  identity ``E[C² p_i p_j] = C/(C − 1)·E[a]`` (from ``Σ_{j≠i} p_j = 1 − p_i``), both checked.
  The constant in ``O(C⁻²)`` grows like ``ρ^{2k}``: at ``σ = 1`` the first-order formula is
  useless below ``C ≈ 100`` for ``k = 2`` (it even turns negative at ``C = 10``); use the exact
  representation below there.
* ``large_c.laplace_exact`` (exact at every finite ``C``): from
  ``S^{−m} = Γ(m)⁻¹ ∫_0^∞ t^{m−1} e^{−tS} dt`` and independence,

      E[p_i^m]        = Γ(m)⁻¹  ∫_0^∞ t^{m−1}  φ_m(t)  φ_0(t)^{C−1} dt,
      E[(p_i p_j)^m]  = Γ(2m)⁻¹ ∫_0^∞ t^{2m−1} φ_m(t)² φ_0(t)^{C−2} dt,
      φ_m(t) = E[e^{m z − t e^z}],

  and ``E[a^k] = C^k Σ_r binom(k, r) (−1)^r E[p_i^{k+r}]``, ``E[b^k] = C^{2k} E[(p_i p_j)^k]``.
  The Gamma identity is checked symbolically; the representation is checked numerically against
  the exact identities ``E[p_i] = 1/C`` and ``E[p_i²] + (C − 1) E[p_i p_j] = 1/C``.
"""

from __future__ import annotations

import math

import sympy as sp
from scipy import integrate

from proofs import ProofResult, by_name, derivation, require

__all__ = [
    "SIGMA",
    "K",
    "NCLASS",
    "lognormal_moment",
    "diag_weight_moment_limit",
    "offdiag_weight_moment_limit",
    "diag_weight_moment_first_order",
    "offdiag_weight_moment_first_order",
    "laplace_p_moment",
    "derive_lognormal_limits",
    "derive_first_order",
    "derive_laplace_exact",
]

SIGMA = sp.Symbol("sigma", positive=True)
K = sp.Symbol("k", positive=True)
NCLASS = sp.Symbol("C", positive=True)

_x = sp.Symbol("x", real=True)
_rho = sp.Symbol("rho", positive=True)


def lognormal_moment(k: sp.Expr = K, sigma: sp.Expr = SIGMA) -> sp.Expr:
    """``E[e^{k z}]`` for ``z ~ N(0, σ²)``, by direct Gaussian integration (= ``e^{k²σ²/2}``)."""
    dens = sp.exp(-_x**2 / (2 * sigma**2)) / (sp.sqrt(2 * sp.pi) * sigma)
    return sp.simplify(sp.integrate(sp.exp(k * _x) * dens, (_x, -sp.oo, sp.oo), conds="none"))


def diag_weight_moment_limit(k: sp.Expr = K, sigma: sp.Expr = SIGMA) -> sp.Expr:
    """Large-C limit of ``E[(C p_i (1 − p_i))^k]``: ``e^{k(k−1)σ²/2}``."""
    k = sp.sympify(k)
    return sp.exp(k * (k - 1) * sigma**2 / 2)


def offdiag_weight_moment_limit(k: sp.Expr = K, sigma: sp.Expr = SIGMA) -> sp.Expr:
    """Large-C limit of ``E[(C² p_i p_j)^k]``: ``e^{k(k−1)σ²}``."""
    k = sp.sympify(k)
    return sp.exp(k * (k - 1) * sigma**2)


def diag_weight_moment_first_order(k: sp.Expr = K, sigma: sp.Expr = SIGMA,
                                   C: sp.Expr = NCLASS) -> sp.Expr:
    """``E[(C p_i(1−p_i))^k]`` to first order in ``1/C`` (asymptotic; error ``O(C⁻²)``)."""
    k = sp.sympify(k)
    rho = sp.exp(sigma**2)
    return rho**(k * (k - 1) / 2) * (1 + k / C * (1 - 2 * rho**k + (k + 1) * (rho - 1) / 2))


def offdiag_weight_moment_first_order(k: sp.Expr = K, sigma: sp.Expr = SIGMA,
                                      C: sp.Expr = NCLASS) -> sp.Expr:
    """``E[(C² p_i p_j)^k]`` to first order in ``1/C`` (asymptotic; error ``O(C⁻²)``)."""
    k = sp.sympify(k)
    rho = sp.exp(sigma**2)
    return rho**(k * (k - 1)) * (1 + k / C * (4 - 4 * rho**k + (2 * k + 1) * (rho - 1)))


def _lognormal_expect(expr: sp.Expr, ells: tuple[sp.Symbol, ...], rho: sp.Expr) -> sp.Expr:
    """Replace powers ``ℓ^e`` of independent ``ℓ = e^{z − σ²/2}`` by ``E ℓ^e = ρ^{e(e−1)/2}``."""
    out = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(expr)):
        factor = term
        for ell in ells:
            e = sp.Integer(0)
            for f in sp.Mul.make_args(term):
                if f == ell:
                    e += 1
                elif f.is_Pow and f.base == ell:
                    e += f.exp
            factor = factor.subs(ell, 1) if e == 0 else \
                (factor / ell**e).subs(ell, 1) * rho**(e * (e - 1) / 2)
        out += factor
    return out


def _first_order_expectation(power_expr, ells, eta_var: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """Expand in ``ε`` (``δ = ε η``, ``1/C = ε²``) to ``ε²``; expectations of the two orders."""
    eps, eta = sp.symbols("epsilon eta")
    ser = sp.series(power_expr(eps, eta), eps, 0, 3).removeO()
    ser = sp.expand(ser)
    # E η = 0, E η² = (ρ − 1) + O(1/C) (variance of a mean of C − O(1) lognormals, times C)
    ser = sum(ser.coeff(eta, n) * {0: 1, 1: 0, 2: eta_var}[n] for n in range(3))
    ser = sp.expand(ser)
    c0 = _lognormal_expect(ser.coeff(eps, 0), ells, _rho)
    c2 = _lognormal_expect(ser.coeff(eps, 2), ells, _rho)
    return c0, c2


def laplace_p_moment(m: int, C: int, sigma: float, pair: bool = False) -> float:
    """Exact ``E[p_i^m]`` (or ``E[(p_i p_j)^m]`` with ``pair=True``) by the Laplace representation.

    Numerical double quadrature (SciPy, relative tolerance ~1e-10); used by the derivation's
    self-check and available for finite-C predictions.

    Parameters
    ----------
    m : int, >= 1
    C : int, >= 2 (>= 2 also for ``pair``)
    sigma : float, > 0
    pair : bool

    Returns
    -------
    float
    """
    if int(m) != m or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    if int(C) != C or C < 2:
        raise ValueError(f"C must be an integer >= 2, got {C!r}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite real number > 0, got {sigma!r}")
    s = float(sigma)
    norm = 1.0 / (math.sqrt(2 * math.pi) * s)

    def phi(mm: int, t: float) -> float:
        f = lambda z: math.exp(mm * z - t * math.exp(z) - z * z / (2 * s * s)) * norm  # noqa: E731
        # the Gaussian factor e^{mz − z²/2σ²} peaks at mσ²; ±14σ around [0, mσ²] loses < e^{-98}
        return integrate.quad(f, -14 * s, mm * s * s + 14 * s, limit=200, epsabs=0,
                              epsrel=1e-12)[0]

    if pair:
        def g(t: float) -> float:
            return t**(2 * m - 1) * phi(m, t)**2 * phi(0, t)**(C - 2) / math.gamma(2 * m)
    else:
        def g(t: float) -> float:
            return t**(m - 1) * phi(m, t) * phi(0, t)**(C - 1) / math.gamma(m)
    # The mass sits near t ≈ 1/(C e^{σ²/2}); integrate over u = log t. Below u = −60 − σ² the
    # integrand is O(e^{u}); above 12 + 40σ², φ_0(t)^{C−1} t^m ≲ e^{mu − u²/2σ²} is negligible.
    peak = -math.log(C) - s * s / 2
    val = integrate.quad(lambda u: g(math.exp(u)) * math.exp(u), -60.0 - s * s,
                         12.0 + 40.0 * s * s, points=[peak], limit=400, epsabs=0,
                         epsrel=1e-10)[0]
    return float(val)


@derivation("large_c.lognormal_limits",
            "For logits iid N(0,σ²), E[(C p_i(1−p_i))^k] → e^{k(k−1)σ²/2} and "
            "E[(C² p_i p_j)^k] → e^{k(k−1)σ²} as C → ∞ (lognormal limits; moments converge "
            "by a uniform AM–GM bound).")
def derive_lognormal_limits() -> ProofResult:
    notes = []
    mgf = lognormal_moment()
    require("lognormal moment E e^(kz) = e^(k²σ²/2)", sp.simplify(mgf - sp.exp(K**2 * SIGMA**2 / 2)) == 0)
    notes.append(f"E e^(kz) = {mgf}")
    mean_ez = mgf.subs(K, 1)
    # Limit weight L = e^{z − σ²/2}: E L^k = e^{−kσ²/2} E e^{kz}.
    diag = sp.simplify(sp.exp(-K * SIGMA**2 / 2) * mgf)
    require("diagonal weight moments of the limit law", sp.simplify(sp.log(diag) - sp.log(diag_weight_moment_limit())) == 0)
    # Off-diagonal L_i L_j = e^{z_i + z_j − σ²}, independent factors.
    off = sp.simplify(sp.exp(-K * SIGMA**2) * mgf**2)
    require("off-diagonal weight moments of the limit law", sp.simplify(sp.log(off) - sp.log(offdiag_weight_moment_limit())) == 0)
    # Uniform-integrability bound: z_i − z̄ = (1 − 1/C) z_i − (1/C) Σ_{j≠i} z_j.
    var_diag = sp.simplify(SIGMA**2 * ((1 - 1 / NCLASS)**2 + (NCLASS - 1) / NCLASS**2))
    var_off = sp.simplify(SIGMA**2 * (2 * (1 - 2 / NCLASS)**2 + (NCLASS - 2) * 4 / NCLASS**2))
    require("variance of the centred diagonal logit", sp.simplify(var_diag - SIGMA**2 * (1 - 1 / NCLASS)) == 0)
    require("variance of the centred off-diagonal logit", sp.simplify(var_off - SIGMA**2 * (2 - 4 / NCLASS)) == 0)
    ui_diag = sp.exp(K**2 * var_diag / 2)
    ui_off = sp.exp(K**2 * var_off / 2)
    # bounded in C: the bound increases to its C → ∞ value
    require("uniform-integrability bound stays bounded in C", sp.limit(ui_diag, NCLASS, sp.oo) == sp.exp(K**2 * SIGMA**2 / 2))
    notes.append(f"UI bounds E(Cp_i)^k ≤ {ui_diag}, E(C²p_ip_j)^k ≤ {ui_off}")
    objects = {
        "symbols": by_name(K, SIGMA, NCLASS),
        "lognormal_mgf": mgf,
        "mean_exp_logit": mean_ez,
        "diag_weight_limit_law": sp.exp(sp.Symbol("z_i") - SIGMA**2 / 2),
        "offdiag_weight_limit_law": sp.exp(sp.Symbol("z_i") + sp.Symbol("z_j") - SIGMA**2),
        "diag_moment_limit": diag_weight_moment_limit(),
        "offdiag_moment_limit": offdiag_weight_moment_limit(),
        "ui_bound_diag": ui_diag,
        "ui_bound_offdiag": ui_off,
    }
    return ProofResult(True, objects, "; ".join(notes))


@derivation("large_c.first_order",
            "To first order in 1/C: E[(Cp_i(1−p_i))^k] = ρ^{k(k−1)/2}[1 + (k/C)(1 − 2ρ^k + "
            "(k+1)(ρ−1)/2)], E[(C²p_ip_j)^k] = ρ^{k(k−1)}[1 + (k/C)(4 − 4ρ^k + (2k+1)(ρ−1))], "
            "ρ = e^{σ²} (asymptotic).")
def derive_first_order() -> ProofResult:
    notes = []
    l1, l2 = sp.symbols("ell_i ell_j", positive=True)

    def diag_power(eps, eta):
        t = eps**2
        D = 1 + eps * eta + t * (l1 - 1 - eps * eta)
        return l1**K * D**(-K) * (1 - t * l1 / D)**K

    def off_power(eps, eta):
        t = eps**2
        D = 1 + eps * eta + t * (l1 + l2 - 2 - 2 * eps * eta)
        return (l1 * l2)**K * D**(-2 * K)

    a0, a1 = _first_order_expectation(diag_power, (l1,), _rho - 1)
    b0, b1 = _first_order_expectation(off_power, (l1, l2), _rho - 1)
    rho = sp.exp(SIGMA**2)
    da = sp.simplify(sp.expand_power_base((a0 + a1 / NCLASS).subs(_rho, rho), force=True)
                     - diag_weight_moment_first_order())
    db = sp.simplify(sp.expand_power_base((b0 + b1 / NCLASS).subs(_rho, rho), force=True)
                     - offdiag_weight_moment_first_order())
    require("first-order 1/C coefficients", da == 0 and db == 0)
    notes.append(f"delta-method expansion = stated formulas: diag {da == 0}, offdiag {db == 0}")
    # σ = 0 (p = 1/C): a^k = (1 − 1/C)^k = 1 − k/C + O(C⁻²), b^k = 1.
    ea, eb = diag_weight_moment_first_order(), offdiag_weight_moment_first_order()
    require("σ = 0: E a^k = 1 − k/C + O(C⁻²)", sp.simplify(ea.subs(SIGMA, 0) - (1 - K / NCLASS)) == 0)
    require("σ = 0: E b^k = 1", sp.simplify(eb.subs(SIGMA, 0) - 1) == 0)
    # Exact identity E[C²p_ip_j] = C/(C−1) E[a], compared at order 1/C.
    t = sp.Symbol("t", positive=True)
    gap = sp.series((eb.subs(K, 1) - NCLASS / (NCLASS - 1) * ea.subs(K, 1)).subs(NCLASS, 1 / t),
                    t, 0, 2).removeO()
    require("Σ p = 1 links E b and E a to first order", sp.simplify(gap) == 0)
    notes.append("σ = 0 exact to O(1/C); E[C²p_ip_j] = C/(C−1)E[a] holds to O(1/C)")
    objects = {
        "symbols": by_name(K, SIGMA, NCLASS),
        "diag_moment_first_order": ea,
        "offdiag_moment_first_order": eb,
        "diag_mean_first_order": sp.simplify(ea.subs(K, 1)),
        "diag_second_first_order": sp.simplify(ea.subs(K, 2)),
        "offdiag_mean_first_order": sp.simplify(eb.subs(K, 1)),
        "offdiag_second_first_order": sp.simplify(eb.subs(K, 2)),
    }
    return ProofResult(True, objects, "; ".join(notes))


@derivation("large_c.laplace_exact",
            "Exactly at every C: E[p_i^m] = Γ(m)⁻¹∫t^{m−1}φ_m(t)φ_0(t)^{C−1}dt and "
            "E[(p_ip_j)^m] = Γ(2m)⁻¹∫t^{2m−1}φ_m(t)²φ_0(t)^{C−2}dt, φ_m(t) = E[e^{mz−te^z}].")
def derive_laplace_exact() -> ProofResult:
    notes = []
    t, S = sp.symbols("t S", positive=True)
    m = sp.Symbol("m", positive=True)
    gamma_id = sp.integrate(t**(m - 1) * sp.exp(-t * S), (t, 0, sp.oo), conds="none")
    require("Gamma-function identity of the Laplace method", sp.simplify(gamma_id - sp.gamma(m) / S**m) == 0)
    notes.append(f"∫ t^(m−1) e^(−tS) dt = {gamma_id}")
    # Numerical self-check against exact identities (quadrature relative error ~1e-10, so a
    # 1e-7 tolerance leaves three orders of margin for the nested rounding).
    worst = 0.0
    for C, s in ((2, 1.0), (10, 1.0), (50, 0.5)):
        p1 = laplace_p_moment(1, C, s)
        p2 = laplace_p_moment(2, C, s)
        q1 = laplace_p_moment(1, C, s, pair=True)
        worst = max(worst, abs(C * p1 - 1), abs(C * (p2 + (C - 1) * q1) - 1))
    require("Laplace moments satisfy Σ p = 1 numerically (1e-7)", worst < 1e-7)
    notes.append(f"C·E p_i = 1 and C(E p_i² + (C−1)E p_ip_j) = 1 to {worst:.1e}")
    z = sp.Symbol("z", real=True)
    def phi(mm: sp.Expr) -> sp.Integral:
        dens = sp.exp(mm * z - t * sp.exp(z) - z**2 / (2 * SIGMA**2)) / (sp.sqrt(2 * sp.pi) * SIGMA)
        return sp.Integral(dens, (z, -sp.oo, sp.oo))

    objects = {
        "symbols": by_name(m, SIGMA, NCLASS),
        "p_moment": sp.Integral(t**(m - 1) * phi(m) * phi(0)**(NCLASS - 1), (t, 0, sp.oo))
        / sp.gamma(m),
        "pair_moment": sp.Integral(t**(2 * m - 1) * phi(m)**2 * phi(0)**(NCLASS - 2), (t, 0, sp.oo))
        / sp.gamma(2 * m),
        "gamma_identity": sp.Eq(sp.Integral(t**(m - 1) * sp.exp(-t * S), (t, 0, sp.oo)),
                                sp.gamma(m) / S**m),
    }
    return ProofResult(True, objects, "; ".join(notes))
