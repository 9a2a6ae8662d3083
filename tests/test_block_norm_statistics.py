"""Statistical checks of block norms against the exact finite-(d, N) formula of proofs/.

The derivation ``block_norm_limits.exact_sq_norm`` gives, for H = (1/N) Σ_n a_n x_n x_nᵀ with
a_n iid independent of x_n ~ N(0, I_d):
E‖H‖²_F = [N·E[a²]·d(d+2) + N(N−1)·(E a)²·d] / N².
These tests use rmt.testing's strategies and assertions, as a user would.
"""

import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from rmt.claims import derived
from rmt.hessian import block_norms
from rmt.models import LinearClassifier
from rmt.testing import assert_close_to_prediction
from rmt.testing.strategies import proportional_shapes, seeds

_EXACT = derived("block_norm_limits.exact_sq_norm")


def _exact_sq_norm(d, N, Ea, Ea2):
    expr = _EXACT["block_sq_norm_exact"]
    syms = {s.name: s for s in expr.free_symbols}
    return float(expr.subs({syms["d"]: d, syms["N"]: N, syms["Ea"]: Ea, syms["Ea2"]: Ea2}))


@settings(max_examples=5)
@given(proportional_shapes(min_ratio=0.25, max_ratio=2.0, min_dim=4, max_dim=24,
                           max_samples=48), seeds(), st.sampled_from([(1.0, 0.0), (0.5, 0.7)]))
def test_weighted_covariance_sq_norm_matches_exact_formula(shape, seed, law):
    """A two-point weight law a ∈ {a0, a1} (equal probabilities), independent of the data."""
    N, d = shape.samples, shape.dim
    rng = np.random.default_rng(seed)
    T = 400
    vals = np.array(law)
    sq = np.empty(T)
    for t in range(T):
        X = rng.standard_normal((N, d))
        a = rng.choice(vals, N)
        H = (X.T * a) @ X / N
        sq[t] = np.sum(H * H)
    Ea, Ea2 = vals.mean(), (vals**2).mean()
    # A mean of T = 400 iid trials with the SE estimated from them: t-test with T − 1 dof,
    # level 1e-3 per example so that 5 examples fail with probability ≤ 0.5% if the formula
    # holds.
    assert_close_to_prediction(sq.mean(), sq.std(ddof=1) / np.sqrt(T),
                               _exact_sq_norm(d, N, Ea, Ea2), level=1e-3, df=T - 1,
                               label=f"E‖H‖²_F (d={d}, N={N}, law={law})")


def test_v0_block_norms_match_formula_through_rmt_hessian():
    """At V = 0 the weights are constants: ‖H_ij‖²_F = A_ij² ‖XᵀX/N‖²_F, averaged over X."""
    C, d, N, T = 4, 10, 30, 300
    model = LinearClassifier(np.zeros((C, d)))
    rng = np.random.default_rng(12)
    diag, off = np.empty(T), np.empty(T)
    for t in range(T):
        X = rng.standard_normal((N, d))
        norms = block_norms(model, X, pairs=np.array([[0, 0], [0, 1]]))
        diag[t], off[t] = norms[0] ** 2, norms[1] ** 2
    a_ii, a_ij = (C - 1) / C**2, -1 / C**2
    for est, a in ((diag, a_ii), (off, a_ij)):
        # t-test at level 1e-3, T − 1 dof, as above.
        assert_close_to_prediction(est.mean(), est.std(ddof=1) / np.sqrt(T),
                                   _exact_sq_norm(d, N, a, a * a), level=1e-3, df=T - 1)
