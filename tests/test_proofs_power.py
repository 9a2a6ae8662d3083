"""Tests of proofs/esd_moments and proofs/hidden_finite_sigma.

The symbolic checks live in the derivations; here they run through the registry, and their
formulas are held against seeded Monte Carlo. Tolerances are in standard errors: with the
handful of comparisons below, a two-sided 4.5σ bound gives a family-wise false-failure rate
below 1e-4 (6.8e-6 per comparison).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import proofs
from proofs import esd_moments as em
from proofs import hidden_finite_sigma as hfs

IDS = ["esd_moments.finite_size", "hidden_finite_sigma.decomposition",
       "hidden_finite_sigma.gamma_moments", "hidden_finite_sigma.class1_projection",
       "hidden_finite_sigma.large_c_domain"]
Z_MC = 4.5


@pytest.fixture(scope="module")
def results():
    return {d.id: r for d, r, _ in proofs.run_all(IDS)}


def test_derivations_pass(results):
    for i in IDS:
        assert results[i].passed, f"{i}: {results[i].detail}"
    assert all(i in proofs.registry() for i in IDS)


def test_wick_cycle_counts_loops():
    # E tr(XᵀX)² over one sample: E‖x‖⁴ = d(d+2); two samples: E(xᵀy)² = d
    d = em.DIM
    assert sp.expand(em.wick_cycle((0, 0)) - d * (d + 2)) == 0
    assert sp.expand(em.wick_cycle((0, 1)) - d) == 0
    assert em.wick_cycle((0, 0, 1)) != 0 and em.wick_cycle((0, 1, 2)) == d


def test_conditional_moments_against_monte_carlo(results):
    """E[tr(B^k)/d | w] for fixed weights at d = 4, N = 6 against 40,000 Gaussian draws."""
    o = results["esd_moments.finite_size"].objects
    d, N = 4, 6
    w = np.array([0.3, 1.0, -0.5, 2.0, 0.7, 1.4])
    S = [float(np.sum(w ** j)) for j in (1, 2, 3)]
    rng = np.random.default_rng(7)
    X = rng.standard_normal((40_000, N, d))
    B = np.einsum("rn,rna,rnb->rab", np.broadcast_to(w, (40_000, N)), X, X) / N
    B2 = B @ B
    sims = {1: np.trace(B, axis1=1, axis2=2) / d, 2: np.sum(B * B, axis=(1, 2)) / d,
            3: np.sum(B2 * B, axis=(1, 2)) / d}
    for k in (1, 2, 3):
        S_sym = [o["power_sums"][f"S{j}"] for j in (1, 2, 3)]
        f = sp.lambdify((o["symbols"]["d"], o["symbols"]["N"], *S_sym), o["conditional"][k])
        v = sims[k]
        assert abs(v.mean() - f(d, N, *S)) < Z_MC * v.std() / math.sqrt(v.size), k


def test_gamma_moments_against_monte_carlo():
    """E_V[Γ_kl | h] and E_V[Γ_kl² | h] at one feature vector h, against 200,000 draws of V."""
    from rmt.hidden_prediction import _softmax_expectation
    from rmt.models import softmax

    C, m, s2 = 6, 5, 1.0 / 5
    h = np.array([0.9, 0.4, 0.0, 1.3, 0.2])
    nh = float(np.linalg.norm(h))
    tau = math.sqrt(s2) * nh
    names = ("X", "trA", "X2", "XtrA", "Y", "trA_sq", "trA2")
    vals = dict(zip(hfs._SOFTMAX, (_softmax_expectation(k, C, tau) for k in names)))
    rng = np.random.default_rng(11)
    V = rng.standard_normal((200_000, C, m)) * math.sqrt(s2)
    p = softmax(V @ h, axis=1)
    q = np.einsum("nc,ncm->nm", p, V)
    e = h / nh
    for k, l in ((0, 1), (0, 0), (3, 4)):
        G = np.einsum("nc,nc,nc->n", p, V[:, :, k], V[:, :, l]) - q[:, k] * q[:, l]
        fm, fs = hfs.gamma_moment_formulas(sp.Float(e[k]), sp.Float(e[l]), k == l,
                                           sp.Float(nh))
        mean = float(fm.subs(vals).subs(hfs.s2, s2))
        second = float(fs.subs(vals).subs(hfs.s2, s2))
        n = G.size
        assert abs(G.mean() - mean) < Z_MC * G.std() / math.sqrt(n), (k, l)
        assert abs((G ** 2).mean() - second) < Z_MC * (G ** 2).std() / math.sqrt(n), (k, l)


def test_large_c_domain_boundary(results):
    o = results["hidden_finite_sigma.large_c_domain"].objects
    m = sp.Symbol("m", positive=True)
    assert float(o["sigma_max_large_c"].subs(m, 8)) == pytest.approx(math.sqrt(2), rel=1e-15)
    # E e^{τ²} from the derived formula against Monte Carlo under orthonormal rows (σ = 1, m = 8)
    sig = sp.Symbol("sigma", positive=True)
    val = float(o["E_exp_tau2"].subs({sig: 1, m: 8}))
    rng = np.random.default_rng(3)
    u = rng.standard_normal((400_000, 8))
    x = np.exp(np.sum(np.maximum(u, 0) ** 2, axis=1) / 8)
    assert abs(x.mean() - val) < Z_MC * x.std() / math.sqrt(x.size)
