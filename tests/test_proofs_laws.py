"""Tests of the derivations in proofs/mp_moments, free_cumulants, large_c and block_norm_limits.

The symbolic checks live in the derivations themselves; here we (1) run them through the
registry, (2) check that their objects lambdify, and (3) hold the derived formulas against
independent numbers: seeded Monte Carlo (tolerances from standard errors) and the exact
finite-C quadrature of :func:`proofs.large_c.laplace_p_moment`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import proofs
from proofs import block_norm_limits as bnl
from proofs import free_cumulants as fc
from proofs import large_c as lc
from proofs import mp_moments as mp

MY_IDS = [
    "mp_moments.narayana",
    "free_cumulants.noncrossing",
    "free_cumulants.weighted_mp",
    "free_cumulants.mp_reduction",
    "large_c.lognormal_limits",
    "large_c.first_order",
    "large_c.laplace_exact",
    "block_norm_limits.exact_sq_norm",
    "block_norm_limits.per_block_ratio",
]

#: Tolerance for Monte Carlo comparisons, in standard errors. With about a dozen comparisons in
#: this file, a two-sided 4.5σ bound gives a family-wise false-failure rate ≈ 12 × 6.8e-6 < 1e-4.
Z_MC = 4.5


@pytest.fixture(scope="module")
def results():
    out = proofs.run_all(MY_IDS)
    return {d.id: (d, r, t) for d, r, t in out}


def test_derivations_pass_and_state_one_line(results):
    for i in MY_IDS:
        d, r, _ = results[i]
        assert r.passed, f"{i}: {r.detail}"
        assert "\n" not in d.statement and d.statement


def test_objects_lambdify(results):
    _, r, _ = results["mp_moments.narayana"]
    g, s = (r.objects["symbols"][k] for k in ("gamma", "scale"))
    f = sp.lambdify((g, s), r.objects["moments"][3])
    assert f(0.5, 2.0) == pytest.approx(8 * (1 + 1.5 + 0.25), rel=1e-15)
    lo, hi = (sp.lambdify((g, s), e)(0.25, 1.0) for e in r.objects["edges"])
    assert (lo, hi) == pytest.approx((0.25, 2.25), rel=1e-15)
    _, r, _ = results["block_norm_limits.per_block_ratio"]
    kap = sp.lambdify((bnl.SIGMA, bnl.GAMMA), r.objects["kappa"])
    assert kap(1.0, 0.5) == pytest.approx(math.sqrt((0.5 * math.e**2 + 1) / (0.5 * math.e + 1)))
    _, r, _ = results["block_norm_limits.exact_sq_norm"]
    f = sp.lambdify((bnl.DIM, bnl.NSAMP, bnl.EA, bnl.EA2), r.objects["block_sq_norm_exact"])
    # Wishart check: w ≡ 1 gives E tr(B²)/d = 1 + γ + 1/N exactly (B = XᵀX/N).
    assert f(30, 60, 1.0, 1.0) / 30 == pytest.approx(1 + 0.5 + 1 / 60, rel=1e-14)


def test_narayana_known_values():
    g = sp.Symbol("g")
    assert mp.narayana(4, g) == sp.expand(1 + 6 * g + 6 * g**2 + g**3)
    assert [mp.narayana(k, 1) for k in range(6)] == [sp.catalan(k) for k in range(6)]
    with pytest.raises(ValueError, match="k must be"):
        mp.narayana(-1)


def test_noncrossing_partitions_small():
    assert fc.noncrossing_partitions(3) == sorted([
        ((0,), (1,), (2,)), ((0,), (1, 2)), ((0, 1), (2,)), ((0, 2), (1,)), ((0, 1, 2),)])
    assert ((0, 2), (1, 3)) not in fc.noncrossing_partitions(4)
    with pytest.raises(ValueError, match="k must be"):
        fc.noncrossing_partitions(11)


@given(st.lists(st.fractions(-3, 3), min_size=5, max_size=5))
def test_free_cumulant_round_trip(kappas):
    """moments → cumulants → moments is the identity on exact rationals."""
    kap = [sp.Rational(k.numerator, k.denominator) for k in kappas]
    mom = fc.moments_from_free_cumulants(kap, 5)
    assert fc.free_cumulants_from_moments(mom[1:]) == kap
    assert mom == fc.moments_by_partitions(kap, 5)


def test_weighted_mp_moments_api():
    g = sp.Symbol("gamma", positive=True)
    mu = sp.symbols("mu1:4")
    m = fc.weighted_mp_moments(3, g, mu)
    assert sp.expand(m[1] - (g * mu[1] + mu[0]**2)) == 0
    assert sp.expand(m[2] - (g**2 * mu[2] + 3 * g * mu[0] * mu[1] + mu[0]**3)) == 0
    assert fc.weighted_mp_moments(4, sp.Rational(1, 2), [1, 1, 1, 1]) == \
        [mp.narayana(k, sp.Rational(1, 2)) for k in range(1, 5)]
    with pytest.raises(ValueError, match="weight_moments"):
        fc.weighted_mp_moments(3, g, [1, 2])
    with pytest.raises(ValueError, match="gamma"):
        fc.weighted_mp_moments(2, -1, [1, 1])
    with pytest.raises(ValueError, match="k must be"):
        fc.weighted_mp_moments(0, g, [])


def test_weighted_covariance_second_moment_monte_carlo():
    """E tr(B²)/d for B = (1/N) Σ w_n x_n x_nᵀ with two-point weights, against the exact
    finite-(d, N) formula of block_norm_limits (tr B² = ‖B‖_F²): no asymptotic bias, so the
    tolerance is pure standard error."""
    d, N, reps = 20, 40, 3000
    rng = np.random.default_rng(20240501)
    w_vals, probs = np.array([0.5, 2.0]), np.array([0.7, 0.3])
    vals = np.empty(reps)
    for r in range(reps):
        X = rng.standard_normal((N, d))
        w = rng.choice(w_vals, size=N, p=probs)
        B = (X * w[:, None]).T @ X / N
        vals[r] = np.sum(B * B) / d
    Ea, Ea2 = probs @ w_vals, probs @ w_vals**2
    pred = float(bnl.block_sq_norm_exact(d, N, Ea, Ea2)) / d
    se = vals.std(ddof=1) / math.sqrt(reps)
    assert abs(vals.mean() - pred) < Z_MC * se, (vals.mean(), pred, se)
    # and the free-cumulant limit is the same number up to the O(1/d) finite-size terms
    lim = float(fc.weighted_mp_moments(2, sp.Rational(d, N), [Ea, Ea2])[1])
    assert lim == pytest.approx(0.5 * Ea2 + Ea**2, rel=1e-12)


# ---------------------------------------------------------------- finite C: quadrature vs MC


def _laplace_moments(C: int, sigma: float) -> dict[str, float]:
    """A1, A2, B1, B2 (scaled weight moments) at finite C from the exact Laplace formulas."""
    p = {m: lc.laplace_p_moment(m, C, sigma) for m in (1, 2, 3, 4)}
    q = {m: lc.laplace_p_moment(m, C, sigma, pair=True) for m in (1, 2)}
    return {"A1": C * (p[1] - p[2]), "A2": C**2 * (p[2] - 2 * p[3] + p[4]),
            "B1": C**2 * q[1], "B2": C**4 * q[2]}


def _mc_moments(C: int, sigma: float, rows: int, seed: int) -> dict[str, tuple[float, float]]:
    """Seeded Monte Carlo of the same moments: (mean, standard error) from per-row averages
    (rows are independent; within a row all classes / all pairs are averaged)."""
    rng = np.random.default_rng(seed)
    Z = sigma * rng.standard_normal((rows, C))
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    a = C * P * (1 - P)
    S1, S2 = P.sum(1), (P**2).sum(1)
    S4 = (P**4).sum(1)
    # mean over ordered pairs i ≠ j of p_i p_j and (p_i p_j)²
    pp = (S1**2 - S2) / (C * (C - 1))
    pp2 = (S2**2 - S4) / (C * (C - 1))
    per_row = {"A1": a.mean(1), "A2": (a**2).mean(1), "B1": C**2 * pp, "B2": C**4 * pp2}
    return {k: (v.mean(), v.std(ddof=1) / math.sqrt(rows)) for k, v in per_row.items()}


@pytest.mark.parametrize("C", [10, 50])
def test_laplace_moments_match_monte_carlo(C):
    exact = _laplace_moments(C, 1.0)
    mc = _mc_moments(C, 1.0, rows=400_000 // C * 10, seed=1000 + C)
    for k in exact:
        m, se = mc[k]
        assert abs(m - exact[k]) < Z_MC * se, (k, m, exact[k], se)


def test_first_order_expansion_matches_exact_at_large_C():
    """C·(exact − limit) → first-order coefficient. Richardson on C, 2C cancels the O(1/C)
    remainder of that product; the O(1/C²) rest shrinks 4× from (1000, 2000) to (2000, 4000),
    so the distance between those two extrapolations bounds the error of the second (by 1/3 of
    it, asymptotically); we allow the full distance plus quadrature error (C·1e-9)."""
    sigma = 0.5
    rho = math.exp(sigma**2)
    lim = {"A2": rho, "B2": rho**2}
    coef = {"A2": float(sp.expand(lc.diag_weight_moment_first_order(2, sigma, 1) - rho)),
            "B2": float(sp.expand(lc.offdiag_weight_moment_first_order(2, sigma, 1) - rho**2))}
    Cs = (1000, 2000, 4000)
    mom = {C: _laplace_moments(C, sigma) for C in Cs}
    for k in ("A2", "B2"):
        D = {C: C * (mom[C][k] - lim[k]) for C in Cs}
        r1, r2 = 2 * D[2000] - D[1000], 2 * D[4000] - D[2000]
        tol = abs(r1 - r2) + 4000 * 1e-9
        assert abs(r2 - coef[k]) <= tol, (k, r1, r2, coef[k])


@pytest.fixture(scope="module")
def c_ratios():
    """Predicted C·ratio (root-mean-square block norms) at σ = 1, γ = 1/2, d → ∞."""
    expr = bnl.c_ratio_exact()
    f = sp.lambdify((bnl.DIM, bnl.NSAMP, bnl.A1, bnl.A2, bnl.B1, bnl.B2), expr)
    out = {}
    for C in (2, 10, 50, 200):
        m = _laplace_moments(C, 1.0)
        # d → ∞ at γ = 1/2: (d + 2)/(N − 1) → 1/2; evaluate at d = 1e9 (error ~1e-9)
        out[C] = f(1e9, 2e9, m["A1"], m["A2"], m["B1"], m["B2"])
    return out


def test_c_ratio_finite_c(c_ratios):
    # C = 2 is exact (b = 2a): C·ratio = 2 up to quadrature error.
    assert c_ratios[2] == pytest.approx(2.0, rel=1e-8)
    kap = math.sqrt((0.5 * math.e**2 + 1) / (0.5 * math.e + 1))
    # Values from the exact quadrature (reported; relative accuracy ~1e-9): the approach to
    # κ = 1.4106 is from below and monotone.
    assert c_ratios[10] == pytest.approx(1.28827, abs=1e-5)
    assert c_ratios[50] == pytest.approx(1.32582, abs=1e-5)
    assert c_ratios[200] == pytest.approx(1.37736, abs=1e-5)
    assert c_ratios[10] < c_ratios[50] < c_ratios[200] < kap


def test_c_ratio_exact_formula_independent_weights_monte_carlo():
    """The exact finite-(d, N) C·ratio formula against a simulation of blocks whose softmax
    weights come from logits drawn independently of x (the setting where it is exact)."""
    C, d, N, sigma, reps = 10, 24, 48, 1.0, 1500
    rng = np.random.default_rng(77)
    iu = np.triu_indices(C, 1)
    on = np.empty(reps)
    off = np.empty(reps)
    for r in range(reps):
        X = rng.standard_normal((N, d))
        Z = sigma * rng.standard_normal((N, C))
        P = np.exp(Z - Z.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        G = (X @ X.T) ** 2
        Wd = P * (1 - P)
        Wo = P[:, iu[0]] * P[:, iu[1]]
        on[r] = np.einsum("nc,nm,mc->", Wd, G, Wd) / (N**2 * C)
        off[r] = np.einsum("nk,nm,mk->", Wo, G, Wo) / (N**2 * len(iu[0]))
    m = _laplace_moments(C, sigma)
    pred = float(bnl.c_ratio_exact(d, N).subs({bnl.A1: m["A1"], bnl.A2: m["A2"],
                                               bnl.B1: m["B1"], bnl.B2: m["B2"]}))
    est = C * math.sqrt(off.mean() / on.mean())
    # delta method for C·sqrt(X̄/Ȳ): relative SE = ½·sqrt(var(X/x̄ − Y/ȳ)/reps)
    rel = 0.5 * np.std(off / off.mean() - on / on.mean(), ddof=1) / math.sqrt(reps)
    assert abs(est - pred) < Z_MC * rel * pred, (est, pred, rel * pred)


def test_laplace_input_validation():
    with pytest.raises(ValueError, match="C must be"):
        lc.laplace_p_moment(1, 1, 1.0)
    with pytest.raises(ValueError, match="sigma must be"):
        lc.laplace_p_moment(1, 5, 0.0)
    with pytest.raises(ValueError, match="m must be"):
        lc.laplace_p_moment(0, 5, 1.0)
