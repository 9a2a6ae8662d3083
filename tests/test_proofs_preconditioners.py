"""proofs.preconditioners: every derivation passes, and its closed forms match the numbers."""

import math

import numpy as np
import pytest
import sympy as sp

import proofs
from proofs.block_norm_limits import A1, A2, B1, B2, DIM, GAMMA, NSAMP
from proofs.large_c import NCLASS, SIGMA

IDS = ("preconditioners.block_frobenius", "preconditioners.diagonal_frobenius",
       "preconditioners.v0_closed_forms", "preconditioners.null_space")


@pytest.fixture(scope="module")
def results():
    return {d.id: r for d, r, _ in proofs.run_all(list(IDS))}


def test_all_pass(results):
    for i in IDS:
        assert results[i].passed, (i, results[i].detail)


def test_diagonal_limit_value_and_v0_formula(results):
    obj = results["preconditioners.diagonal_frobenius"].objects
    lim = float(obj["diagonal_frobenius_limit"].subs({GAMMA: 0.5, SIGMA: 1.0}))
    # sqrt(γe/(1 + γe)) at γ = 1/2, σ = 1.
    assert lim == pytest.approx(math.sqrt(0.5 * math.e / (1 + 0.5 * math.e)), rel=1e-14)
    # The general formula at V = 0 moments equals the V = 0 specialisation.
    E2 = obj["diagonal_frobenius_sq"]
    v0 = {A1: sp.Rational(9, 10), A2: sp.Rational(81, 100), B1: 1, B2: 1, NCLASS: 10,
          DIM: 200, NSAMP: 400}
    assert float(E2.subs(v0)) == pytest.approx(
        float(obj["diagonal_frobenius_sq_v0"].subs({NCLASS: 10, DIM: 200, NSAMP: 400})),
        rel=1e-14)


def test_v0_expected_diagonal_error_matches_dense_average():
    # At V = 0 the formula is a ratio of expectations over X; the mean of the ratio differs from
    # it by O(Var‖S‖²/(E‖S‖²)²) = O(1/(dN)) ≈ 1e-3 relative here, far below the standard error of
    # 20 draws (≈ 1 %), so 5 standard errors decide.
    from rmt.datasets import make_classification
    from rmt.models import LinearClassifier
    from rmt.preconditioners import preconditioner_quality

    C, d, N = 5, 20, 40
    vals = []
    for s in range(20):
        X, y = make_classification(N, d, C, seed=s)
        r = preconditioner_quality(LinearClassifier(np.zeros((C, d))), X, y, method="dense",
                                   approximations=("diagonal",))
        vals.append(r.results["diagonal"].frobenius_error ** 2)
    pred = (C * d - C + N + 2) / (C * (N + d + 1))
    vals = np.array(vals)
    assert abs(vals.mean() - pred) < 5 * vals.std(ddof=1) / math.sqrt(len(vals))
