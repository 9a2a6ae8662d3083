"""Models at initialisation: shapes, init law, stable softmax, validation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmt.models import (LinearClassifier, OneHiddenLayer, activation_functions, log_softmax,
                        loss_value, softmax)
from rmt.testing.strategies import linear_models, logit_matrices


def test_linear_init_shapes_and_scale():
    m = LinearClassifier.init(50, 400, sigma=2.0, seed=0)
    assert m.V.shape == (50, 400) and m.n_params == 20_000
    # Var(V_ij) = σ²/d = 0.01; the sample variance of 20,000 Gaussians has relative SE
    # sqrt(2/20000) = 1%, so 5% is a 5-SE band.
    assert abs(m.V.var() / 0.01 - 1) < 0.05
    assert np.array_equal(m.V, LinearClassifier.init(50, 400, sigma=2.0, seed=0).V)


def test_hidden_init_and_parameter_order():
    h = OneHiddenLayer.init(4, 6, 3, sigma=1.0, activation="tanh", seed=1)
    assert h.W.shape == (3, 6) and h.V.shape == (4, 3)
    theta = h.parameters()
    assert theta.shape == (4 * 3 + 3 * 6,)
    assert np.array_equal(theta[:12], h.V.ravel())  # rows of V first, then rows of W
    h2 = h.with_parameters(theta)
    assert np.array_equal(h2.W, h.W) and np.array_equal(h2.V, h.V)
    assert h.block_sizes() == [3] * 4 + [6] * 3


@given(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(-1e4, 1e4))
def test_softmax_extreme_logits_finite_and_exact(a, b, c):
    Z = np.array([[a, b, c]])
    P = softmax(Z)
    L = log_softmax(Z)
    assert np.all(np.isfinite(P)) and np.all(np.isfinite(L))
    # Sums to one up to rounding of three terms: |ΣP − 1| ≤ 3 eps.
    assert abs(P.sum() - 1) <= 3 * np.finfo(float).eps
    # log p of the largest logit is −log Σ exp(z_j − z_max), computed directly with log1p.
    zmax = max(a, b, c)
    others = sorted([a, b, c])[:2]
    expected = -np.log1p(sum(np.exp(o - zmax) for o in others))
    assert np.isclose(L.max(), expected, rtol=1e-12, atol=1e-15)


@given(logit_matrices(max_abs=1e4))
def test_softmax_rows_on_the_simplex_for_extreme_logits(Z):
    P = softmax(Z)
    L = log_softmax(Z)
    assert np.all(np.isfinite(L)) and np.all(P >= 0)
    # Each row sums to 1 up to C rounding errors of the normalising division: C·eps.
    C = Z.shape[1]
    assert np.all(np.abs(P.sum(axis=1) - 1) <= C * np.finfo(float).eps)
    # log-softmax is shift-invariant: subtracting the row max changes nothing beyond rounding
    # of the shifted logits, |Δ| ≤ eps·max|z| (≤ 1e4·eps ≈ 2e-12).
    Ls = log_softmax(Z - Z.max(axis=1, keepdims=True))
    assert np.allclose(L, Ls, rtol=0, atol=4 * np.finfo(float).eps * (1 + np.abs(Z).max()))


@given(linear_models(dim=st.integers(1, 8)))
def test_init_roundtrip_of_parameters(model):
    theta = model.parameters()
    assert theta.shape == (model.n_classes * model.dim,)
    assert np.array_equal(model.with_parameters(theta).V, model.V)


def test_softmax_of_1e4_logits_is_exact():
    P = softmax(np.array([[1e4, -1e4, 0.0]]))
    assert np.array_equal(P, np.array([[1.0, 0.0, 0.0]]))


@pytest.mark.parametrize("name", ["relu", "tanh", "gelu", "identity"])
def test_activation_derivatives_by_finite_differences(name):
    phi, d1, d2 = activation_functions(name)
    u = np.linspace(-3, 3, 61) + 0.013  # avoid ReLU's kink at 0
    h = 1e-5
    # Central differences: truncation h²|φ'''|/6 ~ 1e-10, rounding eps|φ|/h ~ 1e-11.
    assert np.allclose(d1(u), (phi(u + h) - phi(u - h)) / (2 * h), atol=1e-8)
    # Second difference: rounding eps|φ|/h² ~ 1e-6 dominates, so 1e-4 is a safe bound.
    assert np.allclose(d2(u), (phi(u + h) - 2 * phi(u) + phi(u - h)) / h**2, atol=1e-4)


def test_loss_values():
    m = LinearClassifier(np.zeros((4, 3)))
    X = np.ones((5, 3))
    y = np.array([0, 1, 2, 3, 0])
    assert np.isclose(loss_value(m, X, y, "ce"), np.log(4), rtol=1e-15)
    assert np.isclose(loss_value(m, X, y, "mse"), 0.5, rtol=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_classes=1, dim=3), "n_classes"),
    (dict(n_classes=3, dim=0), "dim"),
    (dict(n_classes=3, dim=-2), "dim"),
    (dict(n_classes=3, dim=2, sigma=-1.0), "sigma"),
    (dict(n_classes=3, dim=2, sigma=float("nan")), "sigma"),
    (dict(n_classes=3, dim=2, backend="tpu"), "backend"),
])
def test_linear_init_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearClassifier.init(**kwargs)


def test_hidden_validation():
    with pytest.raises(ValueError, match="hidden"):
        OneHiddenLayer.init(3, 2, 0)
    with pytest.raises(ValueError, match="activation"):
        OneHiddenLayer.init(3, 2, 2, activation="swish")


def test_data_and_label_validation():
    m = LinearClassifier.init(3, 2, seed=0)
    with pytest.raises(ValueError, match="X must have shape"):
        m.logits(np.ones((4, 5)))
    X = np.ones((4, 2))
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="X must contain only finite"):
        m.logits(X)
    with pytest.raises(ValueError, match="y must hold labels"):
        loss_value(m, np.ones((2, 2)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"y must have shape"):
        loss_value(m, np.ones((2, 2)), np.array([0]))
    with pytest.raises(ValueError, match="loss must be one of"):
        loss_value(m, np.ones((2, 2)), np.array([0, 1]), loss="hinge")
