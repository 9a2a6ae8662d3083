"""The CE aggregate of rmt.hessian.aggregate: triangle-only SYRK accumulation, fused softmax
powers, mixed float32/float64 products, and the stated rounding-error bound against exact
rational arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmt import hessian as H
from rmt.hessian._context import _SymAcc
from rmt.hessian import aggregate as AG
from rmt.hessian.aggregate import _powers
from rmt.models import LinearClassifier

EPS = float(np.finfo(np.float64).eps)


def _exact_ratio(X: np.ndarray, P: np.ndarray) -> Fraction:
    """(Σ_{i≠j}‖H_ij‖² / Σ_i‖H_ii‖²) in exact rational arithmetic from the float inputs X and
    the probabilities P as computed (every float is a rational number)."""
    N, C = P.shape
    Xf = [[Fraction(float(v)) for v in row] for row in X]
    Pf = [[Fraction(float(v)) for v in row] for row in P]
    D = O = Fraction(0)
    for n in range(N):
        for m in range(N):
            g = sum(a * b for a, b in zip(Xf[n], Xf[m])) ** 2
            q = sum((a - a * a) * (b - b * b) for a, b in zip(Pf[n], Pf[m]))
            s1 = sum(a * b for a, b in zip(Pf[n], Pf[m]))
            s4 = sum(a * a * b * b for a, b in zip(Pf[n], Pf[m]))
            D += g * q
            O += g * (s1 * s1 - s4)
    return O / D


def _probabilities(model, X):
    """P exactly as :func:`rmt.hessian.aggregate.ce_aggregate` forms it when it fits whole."""
    Z = X @ model.V.T
    P2, Q = np.empty_like(Z), np.empty_like(Z)
    _powers(Z, P2, Q, normalise=True)
    return Z


@settings(max_examples=25, deadline=None)
@given(C=st.integers(2, 8), d=st.integers(1, 5), N=st.integers(1, 9),
       sigma=st.floats(0.0, 6.0), seed=st.integers(0, 2**16), mixed=st.booleans())
def test_error_bound_holds_against_exact_arithmetic(C, d, N, sigma, seed, mixed):
    """|computed ratio / exact ratio − 1| ≤ rel_error_bound, the exact ratio taken in rational
    arithmetic from the same inputs and the same computed probabilities (what the bound covers)."""
    model = LinearClassifier.init(C, d, sigma, seed=seed)
    X = np.random.default_rng(seed + 1).standard_normal((N, d))
    s = H.block_norms(model, X, mixed=mixed)
    if not (s.diagonal > 0 and s.off_diagonal > 0):
        return
    exact = _exact_ratio(X, _probabilities(model, X))
    ref = math.sqrt(exact)                          # rounding of the sqrt: ≤ EPS relative
    err = abs(s.aggregate_ratio / ref - 1)
    assert err <= s.rel_error_bound + 2 * EPS


def test_mixed_products_agree_to_float32_and_bound_is_stated():
    """mixed=True differs from float64 by float32-size errors inside its stated bound, and the
    bound itself is a few parts in 1e5 at C = 600 (η ≈ (C + 2)·2⁻²⁴ for the diagonal sum)."""
    model = LinearClassifier.init(600, 24, 1.0, seed=3)
    X = np.random.default_rng(4).standard_normal((150, 24))
    a = H.block_norms(model, X)
    b = H.block_norms(model, X, mixed=True)
    assert a.rel_error_bound < 1e-9 < b.rel_error_bound < 1e-4
    # both within their bounds of the same true value
    assert abs(b.aggregate_ratio / a.aggregate_ratio - 1) <= a.rel_error_bound + b.rel_error_bound
    with pytest.raises(TypeError, match="mixed"):
        H.block_norms(model, X, mixed="yes")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_triangle_accumulator_equals_full_products(dtype):
    """One-triangle SYRK accumulation (float64 in place; float32 products added in float64)
    and its dot equal the full symmetric products: Σ G∘S over C-term products of nonnegative
    entries, relative error ≤ (C + N² + 4)·u of the products' type."""
    rng = np.random.default_rng(0)
    N, C = 37, 53
    A = rng.random((N, C)).astype(dtype)
    B = rng.random((N, 5))
    sym = _SymAcc(np, N)
    S, G = sym.zeros(), sym.zeros()
    sym.add(S, A[:, :20])
    sym.add(S, A[:, 20:])
    sym.add(G, B)
    assert np.all(np.tril(S, -1) == 0)             # only one triangle is stored
    A64 = A.astype(np.float64)
    Sf, Gf = A64 @ A64.T, B @ B.T
    u = float(np.finfo(dtype).eps)
    assert np.allclose(np.triu(Sf), S, rtol=(C + 4) * u, atol=0)
    assert math.isclose(sym.dot(G, S), float(np.sum(Gf * Sf)), rel_tol=(C + N * N + 4) * u)


def test_overwriting_syrk_and_cache_blocked_triangle_sums(monkeypatch):
    """``add(..., overwrite=True)`` replaces the stored triangle (float64 SYRK with beta = 0,
    float32 into the reused buffer) and leaves the other at 0; ``_tri_dot`` over column blocks
    (forced to 3 columns) equals the full sums Σ G∘S and Σ G∘S∘S, squaring G in place when
    asked: sums of N² nonnegative products, relative ≤ (N² + 4)·EPS."""
    monkeypatch.setattr(AG, "_CACHE_BYTES", 3 * 8 * 11 * 3)
    rng = np.random.default_rng(5)
    N = 11
    A, B = rng.random((N, 7)), rng.random((N, 4))
    for dtype in (np.float64, np.float32):
        sym = _SymAcc(np, N)
        S, G = sym.zeros(), sym.zeros()
        sym.add(S, rng.random((N, 3)))                 # something to overwrite
        sym.add(S, A.astype(dtype), overwrite=True)
        A64 = A.astype(dtype).astype(np.float64)
        u = float(np.finfo(dtype).eps)
        assert np.all(np.tril(S, -1) == 0)
        assert np.allclose(np.triu(A64 @ A64.T), S, rtol=(7 + 2) * u, atol=0)
        sym.add(G, B)
        Gf, Sf = B @ B.T, A64 @ A64.T
        assert math.isclose(AG._tri_dot(sym, G, S), float(np.sum(Gf * Sf)),
                            rel_tol=(N * N + 4) * EPS + 9 * u)
        assert math.isclose(AG._tri_dot(sym, G, S, square=True, square_G=True),
                            float(np.sum(Gf * Gf * Sf * Sf)), rel_tol=(N * N + 4) * EPS + 18 * u)
        assert np.allclose(np.triu(Gf * Gf), G, rtol=8 * EPS, atol=0)


@pytest.mark.parametrize("mixed", [False, True])
def test_bound_holds_on_chunked_and_row_block_paths(monkeypatch, mixed):
    """The whole-softmax path with several column chunks (P∘P chunk by chunk, P turned into Q
    in place) and cache blocks, and the row-block path that a small memory_limit forces, stay
    within rel_error_bound of the exact ratio (rational arithmetic, as above)."""
    monkeypatch.setattr(AG, "_CHUNK_BYTES", 8 * 9 * 2)    # 2 classes per chunk: 4 chunks
    monkeypatch.setattr(AG, "_CACHE_BYTES", 3 * 8 * 9 * 2)
    model = LinearClassifier.init(7, 3, 2.0, seed=8)
    X = np.random.default_rng(9).standard_normal((9, 3))
    exact = math.sqrt(_exact_ratio(X, _probabilities(model, X)))
    for limit in (None, 3000, 1200, 400):   # whole; row blocks of 2 and 1; 3-class chunks
        s = H.block_norms(model, X, mixed=mixed, memory_limit=limit)
        assert abs(s.aggregate_ratio / exact - 1) <= s.rel_error_bound + 2 * EPS, limit


def test_block_ratio_reuses_the_aggregate_and_budgets_auto_pairs():
    """CE on V: per-pair norms from the aggregate's softmax and G (BLAS SYMM on one triangle)
    equal block_norms' own per-pair route (same quadratic forms wᵀGw/N² of nonnegative G,
    one sign per column: relative ≤ (N² + p + 8)·EPS on the square); pairs="auto" samples
    as many pairs as half the aggregate's flops allow, at least AUTO_MIN_PAIRS."""
    from rmt.hessian import ratio as R
    from rmt.hessian._context import AUTO_MIN_PAIRS

    N, d, C = 300, 20, 400
    model = LinearClassifier.init(C, d, 1.0, seed=8)
    X = np.random.default_rng(9).standard_normal((N, d))
    r = H.block_ratio(model, X, pairs=300, seed=5)
    ii, jj, _ = R._draw_pairs(C, 300, 5)
    nrm = H.block_norms(model, X, pairs=np.stack([np.r_[ii, ii], np.r_[jj, ii]], axis=1))
    ref = np.sqrt(nrm[:300] ** 2 / nrm[300:] ** 2)
    tol = (N * N + d + 8) * EPS
    assert math.isclose(r.per_block_mean, ref.mean(), rel_tol=2 * tol)
    assert math.isclose(r.per_block_max, ref.max(), rel_tol=2 * tol)
    auto = H.block_ratio(model, X, seed=5)
    agg = 3 * N * N * C + 2 * N * d * C + N * N * d
    evals = max(0.5 * agg, 1e8) / (2 * N * N + 4 * N)
    assert auto.sampled and AUTO_MIN_PAIRS <= auto.n_pairs <= evals
    assert auto.aggregate == H.block_norms(model, X).aggregate_ratio
