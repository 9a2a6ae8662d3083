"""Structured approximations of layer Hessians: matrix-free against dense, closed forms at V = 0."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmt.datasets import make_classification
from rmt.hessian import hessian
from rmt.models import LinearClassifier, OneHiddenLayer, softmax
from rmt.preconditioners import (APPROXIMATIONS, SoftmaxLayerHessian, dense_quality,
                                 layer_hessian, preconditioner_quality)
from rmt.softmax_layer import BlockP

EPS = np.finfo(float).eps
FIELDS = ("frobenius_error", "spectral_error", "kappa", "newton_error",
          "newton_direction_error", "newton_decrease")


def _linear(C, d, N, sigma=1.0, seed=0):
    X, y = make_classification(N, d, C, seed=seed)
    return LinearClassifier.init(C, d, sigma, seed=seed + 1), X, y


def test_layer_operator_matches_the_dense_hessian():
    model, X, _ = _linear(4, 3, 9)
    H = hessian(model, X)
    hs = SoftmaxLayerHessian(X, softmax(X @ model.V.T))
    U = np.random.default_rng(0).standard_normal((4, 3, 2))
    flat = U.reshape(12, 2)
    # Products of O(1) matrices with 9-term sums: agreement to a few hundred eps.
    tol = dict(rtol=0, atol=256 * EPS)
    np.testing.assert_allclose(hs.matvec(U).reshape(12, 2), H @ flat, **tol)
    Hb = np.zeros_like(H)
    for i in range(4):
        Hb[3 * i:3 * i + 3, 3 * i:3 * i + 3] = H[3 * i:3 * i + 3, 3 * i:3 * i + 3]
    np.testing.assert_allclose(hs.block_matvec(U).reshape(12, 2), Hb @ flat, **tol)
    np.testing.assert_allclose(hs.matvec(U, minus_block=True).reshape(12, 2), (H - Hb) @ flat,
                               **tol)
    np.testing.assert_allclose(hs.diagonal().ravel(), np.diag(H), **tol)
    np.testing.assert_allclose(hs.blocks(1, 3), [Hb[3:6, 3:6], Hb[6:9, 6:9]], **tol)
    S = sum(Hb[3 * i:3 * i + 3, 3 * i:3 * i + 3] for i in range(4))
    np.testing.assert_allclose(hs.block_sum_matrix(), S, **tol)
    np.testing.assert_allclose(hs.block_sum(U), np.einsum("ipq,iqk->pk", hs.blocks(0, 4), U), **tol)
    # The shifted operator H + c·P N S⁻¹ Nᵀ P with N = 1 ⊗ I.
    Nm = np.kron(np.ones((4, 1)), np.eye(3))
    shift = Hb @ Nm @ np.linalg.inv(S) @ Nm.T @ Hb
    np.testing.assert_allclose(hs.shifted_block_matvec(U, np.linalg.inv(S), 1.7).reshape(12, 2),
                               (H + 1.7 * shift) @ flat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hs.dense(), H, **tol)
    # The null space of CE: H (1 ⊗ u) = 0.
    u = np.random.default_rng(1).standard_normal(3)
    assert np.abs(H @ np.tile(u, 4)).max() < 64 * EPS


@pytest.mark.parametrize("C", [2, 5, 9])
def test_closed_forms_at_v_zero(C):
    # At V = 0: H = (1/C)(I − 11ᵀ/C) ⊗ S with S = XᵀX/N (proofs.preconditioners).
    d, N = 4, 30
    X, y = make_classification(N, d, C, seed=3)
    model = LinearClassifier(np.zeros((C, d)))
    r = preconditioner_quality(model, X, y, method="dense")
    S = X.T @ X / N
    s = np.linalg.eigvalsh(S)
    b = r.results["block"]
    # Exact identities of rational functions of C: agreement to eigh's rounding (~n eps κ).
    tol = 1e4 * EPS
    assert abs(b.frobenius_error - 1 / math.sqrt(C)) < tol
    assert abs(b.spectral_error - (C - 1) / C) < tol
    assert abs(b.kappa - 1.0) < tol
    assert abs(b.newton_error - 1 / (C - 1)) < tol
    assert b.newton_direction_error < 1e-6     # sqrt of a rounding-level 1 − cos²
    assert abs(b.newton_decrease - 1.0) < tol
    fro_scalar = math.sqrt(1 - (C - 1) / C * np.trace(S) ** 2 / (d * np.sum(S * S)))
    fro_diag = math.sqrt(1 - (C - 1) / C * np.sum(np.diag(S) ** 2) / np.sum(S * S))
    for name in ("identity", "block-scalar"):
        q = r.results[name]
        assert abs(q.frobenius_error - fro_scalar) < tol
        assert abs(q.kappa - s[-1] / s[0]) < tol * s[-1] / s[0]
        sh = np.mean(s) * (C - 1) / C
        assert abs(q.spectral_error - max(np.abs(s - sh).max(), sh) / s[-1]) < tol
    assert abs(r.results["diagonal"].frobenius_error - fro_diag) < tol
    assert r.null_dim == d
    assert abs(r.hessian_lambda_max - s[-1] / C) < tol


def _compare(dense, free, kappa_rtol):
    for name in APPROXIMATIONS:
        a, b = dense.results[name], free.results[name]
        # Frobenius errors: closed forms vs dense, both exact to rounding.
        assert abs(a.frobenius_error - b.frobenius_error) < 1e-9
        # Spectral errors and κ: the dense value lies inside the Lanczos / LOBPCG interval,
        # widened by rounding of the dense eigensolver (1e-9 relative).
        lo, hi = b.spectral_error_bounds
        assert lo * (1 - 1e-9) <= a.spectral_error <= hi * (1 + 1e-9)
        lo, hi = b.kappa_bounds
        assert lo * (1 - 1e-9) <= a.kappa <= hi * (1 + 1e-9)
        assert abs(a.kappa - b.kappa) <= kappa_rtol * a.kappa
        # Newton quantities: CG to cg_rtol = 1e-10 relative residual, so H⁺g to 1e-10·κ(H)
        # relative; with κ(H) < 1e4 here, 1e-5 is a safe bound.
        for f in ("newton_error", "newton_direction_error", "newton_decrease"):
            assert abs(getattr(a, f) - getattr(b, f)) < 1e-5
    assert dense.null_dim == free.null_dim


@given(C=st.integers(2, 6), d=st.integers(1, 5), extra=st.integers(0, 20),
       sigma=st.sampled_from([0.0, 0.5, 1.0, 2.0]), seed=st.integers(0, 1000))
def test_matrix_free_agrees_with_dense(C, d, extra, sigma, seed):
    N = d + 1 + extra
    model, X, y = _linear(C, d, N, sigma, seed)
    dense = preconditioner_quality(model, X, y, method="dense")
    free = preconditioner_quality(model, X, y, method="lanczos", seed=seed, kappa_rtol=1e-3)
    # n ≤ 30 ≤ the 40 Lanczos steps: the Krylov space is exhausted, Ritz values exact; LOBPCG
    # (n > 16) stops at a residual of 1e-3·θ: the dense κ must lie in the interval (checked in
    # _compare), which is about 1e-3 wide relative, well inside the 1e-2 asked here.
    _compare(dense, free, kappa_rtol=1e-2)


@pytest.mark.slow
def test_matrix_free_agrees_with_dense_at_moderate_size():
    # n = 2000 > 40 steps: Lanczos must converge, not exhaust the space.
    model, X, y = _linear(10, 200, 400, 1.0, 0)
    dense = preconditioner_quality(model, X, y, method="dense")
    free = preconditioner_quality(model, X, y, method="lanczos", seed=0, kappa_rtol=1e-3)
    _compare(dense, free, kappa_rtol=2e-3)       # the interval is ≲ 1e-3 wide relative


def test_hidden_net_layers():
    X, y = make_classification(60, 6, 7, seed=4)
    model = OneHiddenLayer.init(7, 6, 5, seed=5)
    dV = preconditioner_quality(model, X, y, blocks="V", method="dense")
    fV = preconditioner_quality(model, X, y, blocks="V", method="lanczos", seed=0,
                                kappa_rtol=1e-3)
    _compare(dV, fV, kappa_rtol=1e-2)
    assert dV.n_blocks == 7 and dV.block_size == 5
    # W blocks: the dense layer equals the W–W part of the full closed-form Hessian.
    HW = layer_hessian(model, X, y, "W")
    H = hessian(model, X, y)
    np.testing.assert_allclose(HW, H[35:, 35:], rtol=0, atol=256 * EPS)
    rW = preconditioner_quality(model, X, y, blocks="W")
    assert rW.method == "dense" and rW.n_blocks == 5 and rW.block_size == 6
    # P = blockdiag H: its own Frobenius error is the off-diagonal share, from the blocks.
    off = sum(np.sum(HW[6 * k:6 * k + 6, 6 * l:6 * l + 6] ** 2)
              for k in range(5) for l in range(5) if k != l)
    assert abs(rW.results["block"].frobenius_error - math.sqrt(off / np.sum(HW ** 2))) < 1e-12


def test_dense_quality_by_hand_on_a_two_by_two():
    # H = [[2, 1], [1, 2]] in two 1×1 blocks: diag = block = 2I, ‖H − 2I‖_F/‖H‖_F = √2/√10,
    # spectral 1/3, κ(P⁻¹H) = 3; g = (1, 0): H⁻¹g = (2, −1)/3, P⁻¹g = (1/2, 0).
    H = np.array([[2.0, 1.0], [1.0, 2.0]])
    res, info = dense_quality(H, 1, np.array([1.0, 0.0]))
    q = res["block"]
    assert info["null_dim"] == 0
    assert abs(q.frobenius_error - math.sqrt(2 / 10)) < 4 * EPS
    assert abs(q.spectral_error - 1 / 3) < 4 * EPS
    assert abs(q.kappa - 3) < 16 * EPS
    h, s = np.array([2, -1]) / 3, np.array([0.5, 0.0])
    assert abs(q.newton_error - np.linalg.norm(s - h) / np.linalg.norm(h)) < 16 * EPS
    assert abs(q.newton_decrease - (0.5 ** 2) / (s @ H @ s * (2 / 3))) < 16 * EPS


def test_report_text_and_dict():
    model, X, y = _linear(3, 2, 10)
    r = preconditioner_quality(model, X, y)
    text = str(r)
    assert "rows of V" in text and "Frob err" in text and "null(H) dim 2" in text
    d = r.to_dict()
    assert set(d["results"]) == set(APPROXIMATIONS) and "definitions" in d
    assert d["results"]["block"]["kappa_bounds"][0] == r.results["block"].kappa


def test_lanczos_stops_early_at_lanczos_rtol():
    # n = 300 > 40 steps: with lanczos_rtol = 0 every run takes all 40 steps; with 5e-3 the runs
    # stop once their intervals are that narrow, and the dense values still lie inside them.
    model, X, y = _linear(10, 30, 60, 1.0, 1)
    dense = preconditioner_quality(model, X, y, method="dense")
    full = preconditioner_quality(model, X, y, method="lanczos", seed=2, lanczos_rtol=0.0,
                                  kappa_rtol=1e-3)
    rtol = 5e-3
    early = preconditioner_quality(model, X, y, method="lanczos", seed=2, lanczos_rtol=rtol,
                                   kappa_rtol=1e-3)
    assert full.n_steps == 40 and 10 <= early.n_steps < 40
    _compare(dense, early, kappa_rtol=2e-3)
    # Each Lanczos value is within rtol relative; a spectral error is ‖H − P‖₂ (to rtol) over
    # λ_max(H) (to rtol), the block κ a ratio of two ends: intervals within (1 + rtol)² and
    # (1 + rtol)/(1 − rtol) (1e-12: rounding).
    for name in APPROXIMATIONS:
        lo, hi = early.results[name].spectral_error_bounds
        assert hi <= lo * (1 + rtol) ** 2 * (1 + 1e-12)
    lo, hi = early.results["block"].kappa_bounds
    assert hi <= lo * (1 + rtol) / (1 - rtol) * (1 + 1e-12)


def test_early_lanczos_stop_keeps_the_top_eigenvalue():
    # A layer whose top Ritz value sits on λ₂ with a residual below 0.5 % of it at step 11
    # (λ₁ = 0.23518, λ₂ = 0.22844: λ₁ shows at step 14): a stop after 10 steps reported
    # λ_max in [0.22849, 0.2296] and every spectral-error interval missed the dense value.
    model = LinearClassifier.init(18, 26, 1.0, seed=472)
    X, y = make_classification(78, 26, 18, seed=471)
    dense = preconditioner_quality(model, X, y, method="dense")
    free = preconditioner_quality(model, X, y, method="lanczos", seed=471, kappa_rtol=1e-3)
    lam = np.linalg.eigvalsh(layer_hessian(model, X))[-1]
    assert free.hessian_lambda_max >= lam * (1 - 5e-3)         # within lanczos_rtol of λ₁
    _compare(dense, free, kappa_rtol=2e-3)


def test_lobpcg_stopped_on_an_inner_eigenvalue_is_caught():
    # μ₂ = 0.28571 lies 1.9 % above μ_min = 0.28030 (diagonal P), within kappa_rtol: LOBPCG
    # stopped on μ₂ and its κ interval [10.617, 10.776] missed the dense 10.821; the Lanczos run
    # of the same operator had a lower Rayleigh quotient (0.28109), which now wins.
    model = LinearClassifier.init(19, 11, 1.0, seed=845)
    X, y = make_classification(80, 11, 19, seed=844)
    dense = preconditioner_quality(model, X, y, method="dense", approximations=("diagonal",))
    free = preconditioner_quality(model, X, y, method="lanczos", seed=844,
                                  approximations=("diagonal",))
    lo, hi = free.results["diagonal"].kappa_bounds
    assert lo * (1 - 1e-9) <= dense.results["diagonal"].kappa <= hi * (1 + 1e-9)


def test_unconverged_bottom_gives_an_unbounded_kappa_interval():
    # σ = 6: block κ ≈ 700, not converged in 40 pencil steps, so θ_min − r ≤ 0: the upper end
    # of the κ interval is +inf (it used to divide by the smallest float and overflow).
    import warnings

    model = LinearClassifier.init(10, 16, 6.0, seed=35)
    X, y = make_classification(61, 16, 10, seed=34)
    dense = preconditioner_quality(model, X, y, method="dense", approximations=("block",))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rep = preconditioner_quality(model, X, y, method="lanczos", seed=30,
                                     approximations=("block",))
    lo, hi = rep.results["block"].kappa_bounds
    # the lower end, θ_max/θ_min of Ritz values inside the spectrum, stays a valid bound
    assert hi == math.inf and lo <= dense.results["block"].kappa


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(blocks="W"), ValueError, "blocks"),
    (dict(blocks="Z"), ValueError, "blocks"),
    (dict(method="magic"), ValueError, "method"),
    (dict(approximations=("kfac",)), ValueError, "approximations"),
    (dict(approximations=()), ValueError, "approximations"),
    (dict(n_steps=1), ValueError, "n_steps"),
    (dict(cg_rtol=0.0), ValueError, "cg_rtol"),
    (dict(lanczos_rtol=1.0), ValueError, "lanczos_rtol"),
    (dict(lanczos_rtol=-0.1), ValueError, "lanczos_rtol"),
    (dict(memory_limit=0), ValueError, "memory_limit"),
])
def test_bad_inputs(kwargs, exc, match):
    model, X, y = _linear(3, 2, 10)
    kw = dict(method="lanczos")
    kw.update(kwargs)
    with pytest.raises(exc, match=match):
        preconditioner_quality(model, X, y, **kw)


def test_bad_models_and_sizes():
    model, X, y = _linear(3, 6, 4)
    with pytest.raises(ValueError, match="N >= p"):
        preconditioner_quality(model, X, y, method="lanczos")
    with pytest.raises(TypeError, match="model"):
        preconditioner_quality(object(), X, y)
    h = OneHiddenLayer.init(3, 6, 2, seed=0)
    with pytest.raises(ValueError, match="dense"):
        preconditioner_quality(h, X, y, blocks="W", method="lanczos")
    big = LinearClassifier.init(60, 50, seed=0)
    Xb, yb = make_classification(60, 50, 60, seed=0)
    with pytest.raises(ValueError, match="2500"):
        preconditioner_quality(big, Xb, yb, method="dense")
    with pytest.raises(ValueError, match="memory_limit"):
        preconditioner_quality(big, Xb, yb, method="lanczos", memory_limit=1000)
    with pytest.raises(ValueError, match="block_size"):
        dense_quality(np.eye(4), 3, np.ones(4))
    with pytest.raises(ValueError, match="g must"):
        dense_quality(np.eye(4), 2, np.ones(3))
    with pytest.raises(ValueError, match="P must"):
        SoftmaxLayerHessian(np.ones((3, 2)), np.ones((2, 3)))


def test_block_inverses_in_chunks():
    model, X, _ = _linear(10, 6, 40)
    hess = SoftmaxLayerHessian(X, softmax(X @ model.V.T))
    blocks = hess.blocks(0, 10)
    ref = np.linalg.inv(blocks)                                  # chunks of 3: four, the last short
    # Cholesky inverses: backward stable, relative error ≲ p·eps·κ(H_ii) per block.
    tol = 64 * 6 * EPS * np.linalg.cond(blocks)[:, None, None] * np.abs(ref).max(axis=(1, 2),
                                                                               keepdims=True)
    full = BlockP(hess, 3)
    assert full.Pinv is full.Pinv_pre and np.all(np.abs(full.Pinv - ref) <= tol)
    np.testing.assert_array_equal(full.Pinv, full.Pinv.transpose(0, 2, 1))
    # float32 storage: the float32 rounding of the same inverses, and no float64 stack
    Pb = BlockP(hess, 3, np.float32)
    assert Pb.Pinv is None and Pb.Pinv_pre.dtype == np.float32
    np.testing.assert_array_equal(Pb.Pinv_pre, full.Pinv.astype(np.float32))
    U = np.random.default_rng(1).standard_normal((10, 6, 2))
    # refined float64 solves: to rounding (64·eps of x, the refinement's stopping rule, times
    # κ(H_ii) for the product that checks it), without forming the float64 inverses
    got = Pb.solve(Pb.apply(U))
    assert Pb.Pinv is None
    kappa = float(np.linalg.cond(blocks).max())
    np.testing.assert_allclose(got, U, rtol=0, atol=64 * EPS * kappa * np.abs(U).max() * 6)
    np.testing.assert_allclose(Pb.solve(U), full.solve(U), rtol=0,
                               atol=64 * EPS * kappa * np.abs(full.solve(U)).max() * 6)


def test_symmetric_copy_never_reads_the_upper_triangles():
    # The float64 work buffer of the block inverses is reused (and fresh at first): its strict
    # upper triangles hold leftovers. The float32 copy is built from the lower triangles alone:
    # leftovers of 1e300 (whose cast would overflow, a RuntimeWarning, an error under pytest)
    # change nothing.
    from rmt.softmax_layer import _copy_symmetric

    rng = np.random.default_rng(6)
    S = rng.standard_normal((3, 5, 5))
    S = S + S.transpose(0, 2, 1)
    B = np.tril(S) + np.triu(np.full((5, 5), 1e300), 1)
    out = np.empty((3, 5, 5), dtype=np.float32)
    _copy_symmetric(out, B)
    np.testing.assert_array_equal(out, S.astype(np.float32))


def test_refined_block_solve_edge_columns():
    # A zero column next to a live one (no 0/0, no needless fallback: the zero column is at
    # rounding level from the start), and NaN input (returned as NaN without forming the float64
    # inverses).
    model, X, _ = _linear(5, 6, 40)
    hess = SoftmaxLayerHessian(X, softmax(X @ model.V.T))
    Pb = BlockP(hess, 2, np.float32)
    U = np.random.default_rng(4).standard_normal((5, 6, 2))
    U[:, :, 0] = 0.0
    got = Pb.solve(U)
    assert Pb.Pinv is None and np.all(got[:, :, 0] == 0.0)
    ref = np.linalg.solve(hess.blocks(0, 5), U[:, :, 1:])
    kappa = float(np.linalg.cond(hess.blocks(0, 5)).max())
    np.testing.assert_allclose(got[:, :, 1:], ref, rtol=0,
                               atol=64 * 6 * EPS * kappa * np.abs(ref).max())
    U[0, 0, 1] = np.nan
    assert np.isnan(Pb.solve(U)).any() and Pb.Pinv is None


def test_refined_block_solve_falls_back_to_float64_inverses():
    # A stored inverse too inaccurate for the refinement to contract (here scaled by 3, so the
    # error grows by ‖I − 3 P⁻¹P‖ = 2 per step): the solve forms the float64 inverses once and
    # is exact to float64 rounding.
    import rmt.preconditioners as pc

    model, X, _ = _linear(5, 6, 40)
    hess = SoftmaxLayerHessian(X, softmax(X @ model.V.T))
    blocks = hess.blocks(0, 5)
    Pb = BlockP(hess, 2, np.float32)
    Pb.Pinv_pre *= 3
    U = np.random.default_rng(3).standard_normal((5, 6, 1))
    got = Pb.solve(U)
    assert Pb.Pinv is not None and Pb.Pinv.dtype == np.float64
    ref = np.linalg.solve(blocks, U)
    kappa = float(np.linalg.cond(blocks).max())
    # backward-stable Cholesky solve: forward error ≲ p·eps·κ
    np.testing.assert_allclose(got, ref, rtol=0, atol=64 * 6 * EPS * kappa * np.abs(ref).max())
    np.testing.assert_array_equal(Pb.solve(U), got)         # from the stored float64 inverses


def test_float32_preconditioner_path_agrees_with_dense(monkeypatch):
    # The path of large layers (float32 copy of the block inverses, LOBPCG searching in
    # float32, float64 certificate) forced at a size the dense reference can check.
    import rmt.preconditioners as pc

    monkeypatch.setattr(pc, "FLOAT32_PRECONDITIONER_ABOVE", 0)
    model, X, y = _linear(8, 12, 60, 1.0, 2)
    dense = preconditioner_quality(model, X, y, method="dense")
    free = preconditioner_quality(model, X, y, method="lanczos", seed=0, kappa_rtol=1e-3)
    _compare(dense, free, kappa_rtol=2e-3)      # the κ intervals are ≲ 1e-3 wide relative


@pytest.mark.gpu
def test_matrix_free_on_cupy_agrees_with_numpy():
    # The CuPy branch: batched Cholesky inverses, lockstep LOBPCG, pencil Lanczos, cupyx cg.
    from rmt import backend as bk

    cp = bk.get_cupy()
    model, X, y = _linear(8, 12, 60, 1.0, 2)
    ref = preconditioner_quality(model, X, y, method="lanczos", seed=0, kappa_rtol=1e-3)
    gmodel = LinearClassifier(cp.asarray(model.V))
    got = preconditioner_quality(gmodel, cp.asarray(X), cp.asarray(y), method="lanczos",
                                 seed=0, kappa_rtol=1e-3)
    for name in APPROXIMATIONS:
        a, b = ref.results[name], got.results[name]
        # Same start vectors (host-drawn seeds): the same quantities to rounding, except κ,
        # whose LOBPCG stops at a residual ≤ 1e-3·θ on either path: both lie in both intervals.
        assert abs(a.frobenius_error - b.frobenius_error) < 1e-12
        assert abs(a.spectral_error - b.spectral_error) <= 1e-9
        lo, hi = a.kappa_bounds
        assert lo * (1 - 1e-9) <= b.kappa <= hi * (1 + 1e-9) or \
            b.kappa_bounds[0] * (1 - 1e-9) <= a.kappa <= b.kappa_bounds[1] * (1 + 1e-9)
        for f in ("newton_error", "newton_direction_error", "newton_decrease"):
            assert abs(getattr(a, f) - getattr(b, f)) < 1e-6    # CG to 1e-10 relative, κ < 1e4


def test_float32_layer_matches_float64():
    # A float32 model: the Lanczos / LOBPCG run in float32, H⁺g is solved on float64 copies
    # (CG in float32 stalls near eps₃₂·κ(H), far above cg_rtol = 1e-10; it used to raise).
    X, y = make_classification(80, 20, 30, seed=1)
    m64 = LinearClassifier.init(30, 20, 1.0, seed=2)
    m32 = LinearClassifier(m64.V.astype(np.float32))
    r64 = preconditioner_quality(m64, X, y, method="lanczos", seed=0)
    r32 = preconditioner_quality(m32, X.astype(np.float32), y, method="lanczos", seed=0)
    eps32 = np.finfo(np.float32).eps
    for name in APPROXIMATIONS:
        a, b = r64.results[name], r32.results[name]
        # Float32 rounding of F and P moves H by ~√N·eps₃₂·‖H‖, so λ_min by ≲ κ·√N·eps₃₂ ≈ 4e-5
        # relative here (κ ≤ 42, N = 80): the float32 κ lies in the float64 interval widened
        # by 1e3·eps₃₂ = 1.2e-4; the other quantities agree to the same level.
        lo, hi = a.kappa_bounds
        assert lo * (1 - 1e3 * eps32) <= b.kappa <= hi * (1 + 1e3 * eps32)
        for f in ("frobenius_error", "spectral_error", "newton_error", "newton_decrease"):
            assert abs(getattr(a, f) - getattr(b, f)) <= 1e3 * eps32, f
