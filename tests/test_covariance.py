"""Tests of rmt.covariance: draws, weights, formed and matrix-free weighted covariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rmt import backend as bk
from rmt.covariance import (
    WeightedCovarianceOperator,
    block_weights,
    draw_covariance,
    draw_data,
    resolve_scale,
    weighted_covariance,
)
from rmt.models import LinearClassifier, softmax

EPS = np.finfo(np.float64).eps
# Two-sided normal quantile at p = 1e-5: a correct statistical check fails once in 1e5 runs.
Z_1E5 = float(stats.norm.ppf(1 - 0.5e-5))


def _product_bound(X, w, V):
    """Rounding bound for two ways of computing (1/N) Xᵀ diag(w) X V.

    Each way is a chain of dot products of length at most N + d (+2 scalings); the standard
    bound |fl(Σ a_i b_i) − Σ a_i b_i| ≤ γ_n Σ |a_i b_i| with γ_n ≈ n·eps applied to each gives
    a difference of at most 2·γ_{N+d+2} · (|X|ᵀ(|w| ∘ (|X| |V|)))/N between them.
    """
    N, d = X.shape
    ref = np.abs(X).T @ (np.abs(w)[:, None] * (np.abs(X) @ np.abs(V))) / N
    return 2 * (N + d + 2) * EPS * ref


@pytest.fixture(scope="module")
def xw():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 80))
    w = rng.standard_normal(300)  # both signs: exercises the split into Y₊ and Y₋
    return X, w


def test_formed_matches_definition_and_is_symmetric(xw):
    X, w = xw
    B = weighted_covariance(X, w)
    ref = (X.T * w) @ X / X.shape[0]
    I = np.eye(X.shape[1])
    assert np.all(np.abs(B - ref) <= _product_bound(X, w, I))
    assert np.array_equal(B, B.T)


def test_operator_equals_formed_matrix(xw):
    X, w = xw
    B = weighted_covariance(X, w)
    op = WeightedCovarianceOperator(X, w)
    V = np.random.default_rng(1).standard_normal((80, 5))
    assert op.shape == (80, 80) and op.dtype == np.float64
    assert np.all(np.abs(op.matmat(V) - B @ V) <= _product_bound(X, w, V))
    v = V[:, 0]
    assert np.all(np.abs(op.matvec(v) - B @ v) <= _product_bound(X, w, v[:, None])[:, 0])
    assert np.all(np.abs((op @ V) - B @ V) <= _product_bound(X, w, V))
    assert np.array_equal(op.to_dense(), B)
    L = op.to_scipy()
    assert np.all(np.abs(L.matmat(V) - B @ V) <= _product_bound(X, w, V))
    # trace: both are sums of N·d products of size |w||x|²/N; bound γ_{N·d} of that sum
    tol = 2 * (X.size + 2) * EPS * float(np.sum(np.abs(w) * np.sum(X * X, axis=1))) / X.shape[0]
    assert abs(op.trace() - np.trace(B)) <= tol


def test_all_positive_and_all_negative_weights(xw):
    X, _ = xw
    w = np.abs(np.random.default_rng(2).standard_normal(X.shape[0])) + 0.1
    I = np.eye(X.shape[1])
    for ww in (w, -w):
        B = weighted_covariance(X, ww)
        assert np.all(np.abs(B - (X.T * ww) @ X / X.shape[0]) <= _product_bound(X, ww, I))
    assert np.all(np.linalg.eigvalsh(weighted_covariance(X, w)) > -1e-12)
    assert np.array_equal(weighted_covariance(X, np.zeros(X.shape[0])), np.zeros((80, 80)))


def test_block_weights_match_softmax():
    model = LinearClassifier.init(7, 30, sigma=2.0, seed=0)
    X = draw_data(500, 30, seed=1)
    P = softmax(X @ model.V.T)
    # Same softmax code on the same logits (row blocks do not change a row's arithmetic beyond
    # the GEMM's accumulation order, bounded below): a few eps.
    np.testing.assert_allclose(block_weights(model, X, "diag", 3), P[:, 3] * (1 - P[:, 3]),
                               rtol=0, atol=8 * EPS)
    np.testing.assert_allclose(block_weights(model, X, "offdiag", (2, 5)), -P[:, 2] * P[:, 5],
                               rtol=0, atol=8 * EPS)
    np.testing.assert_array_equal(block_weights(model, X, lambda Z: Z[:, 0] ** 2),
                                  (X @ model.V.T)[:, 0] ** 2)


def test_row_blocks_do_not_change_weights():
    model = LinearClassifier.init(50, 40, sigma=3.0, seed=4)
    X = draw_data(200, 40, seed=5)
    full = block_weights(model, X, "offdiag", (0, 1))
    tiny = block_weights(model, X, "offdiag", (0, 1), memory_budget=1)  # one row per block
    # A row block may switch BLAS kernels (GEMV for one row), changing the logits by at most
    # 2γ_d max_n Σ_k |x_nk||V_jk|; p_i moves by at most half the largest logit change
    # (Σ_j |∂p_i/∂z_j| = 2p_i(1 − p_i) ≤ ½) and −p_i p_j by at most twice that, plus the
    # softmax's own few-eps rounding.
    dz = 2 * 2 * 40 * EPS * float(np.max(np.abs(X) @ np.abs(model.V).T))
    assert np.max(np.abs(full - tiny)) <= dz + 8 * EPS


def test_scale_names():
    assert resolve_scale("C", 10) == 10.0
    assert resolve_scale("C2", 10) == 100.0
    assert resolve_scale("-C2", 10) == -100.0
    assert resolve_scale(0.5, None) == 0.5
    d = draw_covariance(20, 50, seed=0, weights="offdiag", scale="-C2", n_classes=4)
    base = draw_covariance(20, 50, seed=0, weights="offdiag", n_classes=4)
    np.testing.assert_array_equal(d.w, base.w * -16.0)
    assert np.all(d.w > 0) and d.scale == -16.0


def test_draws_are_reproducible_and_seeded():
    a = draw_covariance(30, 60, seed=7)
    b = draw_covariance(30, 60, seed=7)
    c = draw_covariance(30, 60, seed=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.w, b.w)
    np.testing.assert_array_equal(a.matrix(), b.matrix())
    assert not np.array_equal(a.X, c.X)
    # documented layout: child 0 draws X
    np.testing.assert_array_equal(a.X, draw_data(60, 30, bk.spawn_seeds(7, 3)[0]))


def test_independent_weights_share_x_and_model_but_not_weights():
    dep = draw_covariance(30, 400, seed=3, coupling="dependent")
    ind = draw_covariance(30, 400, seed=3, coupling="independent")
    np.testing.assert_array_equal(dep.X, ind.X)
    np.testing.assert_array_equal(dep.model.V, ind.model.V)
    assert not np.array_equal(dep.w, ind.w)
    X_tilde = draw_data(400, 30, bk.spawn_seeds(3, 3)[2])
    np.testing.assert_array_equal(ind.w, block_weights(dep.model, X_tilde, "diag"))


def test_independent_weights_have_the_same_law():
    # Given V, w_n = f(V x_n) and w̃_n = f(V x̃_n) are iid copies, so the difference of the two
    # sample means has mean 0 and standard error sqrt(s²/N + s̃²/N).
    model = LinearClassifier.init(5, 20, sigma=1.5, seed=0)
    dep = draw_covariance(20, 20000, seed=1, model=model, coupling="dependent")
    ind = draw_covariance(20, 20000, seed=1, model=model, coupling="independent")
    se = math.sqrt(dep.w.var(ddof=1) / dep.w.size + ind.w.var(ddof=1) / ind.w.size)
    assert abs(dep.w.mean() - ind.w.mean()) <= Z_1E5 * se


@pytest.mark.parametrize("dist", ["gaussian", "rademacher", "student_t"])
def test_distributions_have_zero_mean_unit_variance(dist):
    X = draw_data(2000, 100, seed=2, distribution=dist, df=10.0)
    n = X.size
    if dist == "rademacher":
        assert set(np.unique(X)) == {-1.0, 1.0}
    # mean: SE = 1/sqrt(n). Second moment: Var(x²) = E x⁴ − 1 with E x⁴ = 3 (Gaussian),
    # 1 (Rademacher), 3(ν−2)/(ν−4) = 4 at ν = 10 (unit-variance Student-t).
    kurt = {"gaussian": 3.0, "rademacher": 1.0, "student_t": 4.0}[dist]
    assert abs(X.mean()) <= Z_1E5 / math.sqrt(n)
    assert abs((X * X).mean() - 1.0) <= Z_1E5 * math.sqrt((kurt - 1.0) / n) + 1e-12


def test_float32_draws():
    d = draw_covariance(20, 40, seed=0, dtype=np.float32)
    assert d.X.dtype == np.float32 and d.w.dtype == np.float32
    assert d.matrix().dtype == np.float32 and d.operator().dtype == np.float32


@pytest.mark.parametrize("kwargs, match", [
    (dict(dim=0, n_samples=5), "dim must be an integer >= 1"),
    (dict(dim=5, n_samples=0), "n_samples must be an integer >= 1"),
    (dict(dim=5, n_samples=5, coupling="both"), "coupling must be one of"),
    (dict(dim=5, n_samples=5, weights="full"), "weights must be one of"),
    (dict(dim=5, n_samples=5, weights="offdiag", block=(1, 1)), "i != j"),
    (dict(dim=5, n_samples=5, weights="diag", block=12), r"block must be an integer in \[0, 9\]"),
    (dict(dim=5, n_samples=5, distribution="student_t", df=2.0), "df must be .* > 2"),
    (dict(dim=5, n_samples=5, distribution="cauchy"), "distribution must be one of"),
    (dict(dim=5, n_samples=5, scale="C3"), "scale must be"),
    (dict(dim=5, n_samples=5, scale=float("nan")), "scale must be a finite"),
    (dict(dim=5, n_samples=5, n_classes=1), "n_classes must be an integer >= 2"),
    (dict(dim=5, n_samples=5, weights=lambda Z: Z[:, :2]), "one weight per row"),
    (dict(dim=5, n_samples=5, weights=lambda Z: Z[:, 0] / 0.0), "weights must contain only finite"),
    (dict(dim=5, n_samples=5, memory_budget=0), "memory_budget must be an integer >= 1"),
    (dict(dim=5, n_samples=5, memory_budget=-4096), "memory_budget must be an integer >= 1"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        with np.errstate(divide="ignore", invalid="ignore"):
            draw_covariance(**kwargs)


def test_bad_matrix_input(xw):
    X, w = xw
    with pytest.raises(ValueError, match="w must have shape"):
        weighted_covariance(X, w[:-1])
    with pytest.raises(ValueError, match="w must contain only finite"):
        weighted_covariance(X, np.where(np.arange(w.size) == 3, np.inf, w))
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        WeightedCovarianceOperator(X[0], w)
    op = WeightedCovarianceOperator(X, w)
    with pytest.raises(ValueError, match="v must have shape"):
        op.matvec(np.ones(3))
    with pytest.raises(ValueError, match=r"model.dim must equal"):
        draw_covariance(7, 10, model=LinearClassifier.init(3, 8, seed=0))


def test_gpu_requested_without_gpu():
    if bk.cupy_available():
        pytest.skip("a GPU is present")
    with pytest.raises(bk.BackendUnavailableError, match="cupy"):
        draw_covariance(5, 5, backend="cupy")


@pytest.mark.gpu
def test_numpy_equals_cupy_for_the_same_seed():
    cp = bk.get_cupy()
    a = draw_covariance(64, 128, seed=9, weights="offdiag", scale="-C2")
    b = draw_covariance(64, 128, seed=9, weights="offdiag", scale="-C2", backend="cupy",
                        draw_on="host")
    np.testing.assert_array_equal(a.X, cp.asnumpy(b.X))  # drawn on the host: identical
    # weights and B differ only by the two libraries' rounding: bound as in _product_bound
    # (weights: logits by γ_d, softmax few eps, scaled by C² = 100).
    dz = 2 * 64 * EPS * float(np.max(np.abs(a.X) @ np.abs(a.model.V).T))
    np.testing.assert_allclose(a.w, cp.asnumpy(b.w), rtol=0, atol=100 * (2 * dz + 8 * EPS))
    Bg = cp.asnumpy(b.matrix())
    B = a.matrix()
    scale = np.abs(a.X).T @ (np.abs(a.w)[:, None] * np.abs(a.X)) / 128
    assert np.all(np.abs(B - Bg) <= 2 * (128 + 4) * EPS * scale + 1e-12 * np.max(scale))
    V = np.random.default_rng(0).standard_normal((64, 3))
    np.testing.assert_allclose(cp.asnumpy(b.operator().matmat(cp.asarray(V))), B @ V,
                               rtol=0, atol=float(np.max(_product_bound(a.X, a.w, V))) * 10)


# --------------------------------------------------------------------------------------------
# DrawSpec: the draw arguments in one place
# --------------------------------------------------------------------------------------------

def test_draw_spec_and_keywords_give_the_same_draw():
    from rmt.covariance import DrawSpec

    spec = DrawSpec(n_classes=4, weights="offdiag", scale="-C2", distribution="rademacher")
    a = draw_covariance(20, 50, 3, spec)
    b = draw_covariance(20, 50, 3, n_classes=4, weights="offdiag", scale="-C2",
                        distribution="rademacher")
    c = draw_covariance(20, 50, 3, DrawSpec(n_classes=9), n_classes=4, weights="offdiag",
                        scale="-C2", distribution="rademacher")   # keywords override the spec
    assert np.array_equal(a.matrix(), b.matrix()) and np.array_equal(a.matrix(), c.matrix())
    assert a.scale == -16.0 and spec.replace(n_classes=8).scale_value() == -64.0


def test_draw_spec_checks_its_fields_once():
    from rmt.covariance import DrawSpec

    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        DrawSpec(n_classes=1)
    with pytest.raises(ValueError, match="scale must be"):
        DrawSpec(scale="C3")
    with pytest.raises(ValueError, match="df must be .* > 2"):
        DrawSpec(distribution="student_t", df=2.0)
    with pytest.raises(ValueError, match="draw_on must be one of"):
        DrawSpec(draw_on="gpu")
    with pytest.raises(TypeError, match="unexpected keyword argument.*'n_class'"):
        draw_covariance(5, 5, n_class=3)
    with pytest.raises(TypeError, match="spec must be a DrawSpec"):
        draw_covariance(5, 5, 0, {"n_classes": 3})
    spec = DrawSpec(dtype="float32", backend="NumPy")
    assert spec.dtype == np.float32 and spec.backend == "numpy"
    # a given model decides C; its dimension is checked against the draw's
    model = LinearClassifier.init(3, 8, seed=0)
    assert DrawSpec(model=model, n_classes=1, scale="C").scale_value() == 3.0
    with pytest.raises(ValueError, match="model.dim must equal"):
        DrawSpec(model=model).init_model(7, 0)
