"""Tests of proofs.cross_layer: every derivation passes, and its lambdified results agree with
the numerical code of rmt.mlp and rmt.training.

Tolerances: closed form against closed form in float64 — a few hundred ulps of the values
compared (each side is a short sum of O(1) products; the largest sum here has N = 2000 terms,
whose rounding is ≤ N·eps relative).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import sympy as sp

import proofs
from proofs import cross_layer as CL
from rmt import mlp
from rmt.training import static_force_ratio

EPS = float(np.finfo(np.float64).eps)
IDS = ("cross_layer.blocks", "cross_layer.residual_norm", "cross_layer.loss_residual",
       "cross_layer.bound", "cross_layer.confident_ratio")


@functools.cache
def _confident():
    return CL.derive_confident_ratio()


@pytest.mark.parametrize("did", IDS)
def test_derivation_passes(did):
    res = proofs.registry()[did].run()
    assert res.passed, res.detail


def test_bound_expressions_are_those_rmt_mlp_evaluates():
    res = CL.derive_bound()
    S = CL.SYMBOLS
    sq = sp.lambdify((S["ell"], S["c_rms"]), res.objects["sqrt_bound"])
    lin = sp.lambdify((S["ell"], S["c_max"]), res.objects["linear_bound"])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, 5, 30)
    model = mlp.DeepMLP.init(5, 4, [6, 3], seed=1)
    for loss in ("ce", "mse"):
        for key, b in mlp.residual_bound(model, X, y, loss).items():
            assert math.isclose(b["sqrt_bound"], sq(b["loss"], b["c_rms"]), rel_tol=4 * EPS)
            if loss == "ce":
                assert math.isclose(b["linear_bound"], lin(b["loss"], b["c_max"]),
                                    rel_tol=4 * EPS)
    assert res.objects["rate_sqrt"] == sp.Rational(1, 2) and res.objects["rate_linear"] == 1


@pytest.mark.parametrize("C, eps_", [(4, 0.75), (5, 0.3), (8, 0.05), (3, 1e-3)])
def test_confident_ratio_is_the_static_force_formula_on_symmetric_confusion(C, eps_):
    """Exactly balanced classes and a symmetric-confusion softmax: static_force_ratio's
    aggregate over √(C − 1) is ρ(ε, C, κ) with κ = (μ₄/μ₂ − 1)/N from the same features."""
    res = _confident()
    S = CL.SYMBOLS
    rho = sp.lambdify((S["epsilon"], S["C"], S["kappa"]), res.objects["ratio_rms"])
    per = 50
    N = per * C
    y = np.repeat(np.arange(C), per)
    P = np.full((N, C), eps_ / (C - 1))
    P[np.arange(N), y] = 1 - eps_
    F = np.random.default_rng(C).standard_normal((N, 6))
    G = (F @ F.T) ** 2
    mu4 = np.mean(np.diag(G))
    mu2 = (G.sum() - np.trace(G)) / (N * (N - 1.0))
    kap = (mu4 / mu2 - 1) / N
    got = static_force_ratio(P, F) / math.sqrt(C - 1)
    assert math.isclose(got, rho(eps_, C, kap), rel_tol=500 * EPS * N / 100)
    if math.isclose(eps_, (C - 1) / C):
        assert math.isclose(got, 1 / (C - 1), rel_tol=1e-12)


def test_confident_limits():
    res = _confident()
    S = CL.SYMBOLS
    lim = sp.lambdify((S["C"], S["kappa"]), sp.sqrt(res.objects["ratio_rms_confident_sq"]))
    rho = sp.lambdify((S["epsilon"], S["C"], S["kappa"]), res.objects["ratio_rms"])
    for C, kap in ((10, 0.05), (100, 0.5), (1000, 0.01)):
        # ρ(ε) → the limit as ε → 0: at ε = 1e-7 the O(ε) correction is below 1e-6 relative
        assert math.isclose(rho(1e-7, C, kap), lim(C, kap), rel_tol=1e-5)
    assert res.objects["sample_aggregate_sq_confident"].equals(2 / (S["k"] + 1))
