"""Tests of proofs/lindeberg.py: every derivation passes, and its objects agree with numbers.

Tolerances: exact symbolic results are compared exactly; numerical checks state theirs inline.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import proofs
from proofs import lindeberg as L

IDS = ["lindeberg.weight_law", "lindeberg.endpoints", "lindeberg.moments_polynomial",
       "lindeberg.stein_derivative", "lindeberg.rank_bound"]


@pytest.mark.parametrize("did", IDS)
def test_derivation_passes(did):
    reg = proofs.registry()
    assert did in reg
    res = reg[did].run()
    assert res.passed, res.detail


def test_weight_law_objects():
    o = proofs.registry()["lindeberg.weight_law"].run().objects
    assert sp.simplify(o["correlation"] - sp.sqrt(L.T)) == 0
    assert o["variance_y"] == 1
    assert sp.simplify(o["mgf_y"] - sp.exp(sp.Symbol("s", real=True) ** 2 / 2)) == 0


def test_moments_polynomial_objects_and_a_numerical_check():
    o = proofs.registry()["lindeberg.moments_polynomial"].run().objects
    assert o["first_moment_midpoint_fraction"] == sp.Rational(1, 2)
    assert o["degrees"] == {1: 1, 2: 2, 3: 3}
    # E[x² f(y)] = t E[y² f(y)] + (1 − t) E f(y) with f = e^{y}: exact value e^{1/2}(1 + t);
    # Monte Carlo with 10^6 draws, 5 standard errors.
    rng = np.random.default_rng(0)
    x, xt = rng.standard_normal((2, 10**6))
    for t in (0.25, 0.75):
        y = math.sqrt(t) * x + math.sqrt(1 - t) * xt
        v = x**2 * np.exp(y)
        exact = math.exp(0.5) * (1 + t)
        assert abs(v.mean() - exact) <= 5 * v.std() / 1e3


def test_conditional_moment_helpers():
    assert L.gaussian_moment(4) == 3 and L.gaussian_moment(3) == 0 and L.gaussian_moment(0) == 1
    with pytest.raises(ValueError, match="k must"):
        L.gaussian_moment(-1)
    cm = sp.expand(L.conditional_moment(1).subs(L.RHO, sp.sqrt(L.T)))
    y = sp.Symbol("y", real=True)
    assert sp.expand(cm - (L.T * y**2 + 1 - L.T)) == 0


def test_rank_bound_objects():
    o = proofs.registry()["lindeberg.rank_bound"].run().objects
    assert o["exponent_fixed_C"] == -1
    assert o["paper_exponent"] == sp.Rational(-1, 2)
    d, C, eta = (o["symbols"][k] for k in ("d", "C", "eta"))
    assert sp.simplify(o["bound"] - 2 * C / (d * eta)) == 0


def test_stein_derivative_numerically():
    """d/dt E F(y(t), x) for F = y² x² is 2 (E = 1 + 2t), and E[F_xy]/(2√t) = 4√t/(2√t) = 2."""
    o = proofs.registry()["lindeberg.stein_derivative"].run().objects
    coeffs = {s: 0 for s in o["F"].free_symbols if s.name.startswith("c_")}
    coeffs[sp.Symbol("c_22")] = 1
    assert sp.simplify(o["dE_dt"].subs(coeffs)) == 2
