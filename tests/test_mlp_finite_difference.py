"""rmt.mlp's dense Hessian of the deep net against central finite differences of its gradient
(no torch needed; the autodiff checks are in test_mlp.py).

Tolerance. The central difference ``D(h) = (∇ℓ(θ+h e_j) − ∇ℓ(θ−h e_j))/(2h)`` has truncation
error ``c h² + O(h⁴)`` and rounding error at most ``~ ε max|∇ℓ| / h`` per entry. With the
truncation estimated from two steps (``D(2h) − D(h) = 3 c h² + O(h⁴)``, Richardson), an entry
may differ from the exact Hessian by ``|D(2h) − D(h)|/3`` plus rounding, bounded here by
``K ε (max|∇ℓ| + 1)/h`` with ``K = 64`` additions in the longest chain of these tiny nets.
"""

from __future__ import annotations

import numpy as np
import pytest

from rmt import mlp

EPS = float(np.finfo(np.float64).eps)


def _flat_gradient(model, X, y, loss):
    return np.concatenate([G.ravel() for G in reversed(mlp.gradient(model, X, y, loss))])


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("seed", [0, 1])
def test_deep_dense_hessian_matches_finite_differences(loss, seed):
    rng = np.random.default_rng(seed)
    C, d, N = 3, 2, 5
    model = mlp.DeepMLP.init(C, d, (3, 2), activation="tanh", seed=seed)   # smooth activation
    X, y = rng.standard_normal((N, d)), rng.integers(0, C, N)
    theta = model.parameters()
    h = EPS ** (1 / 3)

    def diff(step):
        cols = []
        for j in range(theta.size):
            e = np.zeros_like(theta)
            e[j] = step
            cols.append((_flat_gradient(model.with_parameters(theta + e), X, y, loss)
                         - _flat_gradient(model.with_parameters(theta - e), X, y, loss))
                        / (2 * step))
        return np.stack(cols, axis=1)

    D1, D2 = diff(h), diff(2 * h)
    H = mlp.dense_hessian(model, X, y, loss)
    gmax = np.abs(_flat_gradient(model, X, y, loss)).max()
    tol = np.abs(D2 - D1) / 3 + 64 * EPS * (gmax + 1) / h
    assert H.shape == D1.shape and np.all(np.abs(H - D1) <= tol)
    # the parts add up, and the Gauss-Newton part alone misses the second derivative of tanh
    parts = mlp.dense_hessian(model, X, y, loss, part="gn") + mlp.dense_hessian(
        model, X, y, loss, part="residual")
    assert np.allclose(parts, H, rtol=0, atol=64 * EPS * np.abs(H).max())
    assert np.abs(mlp.dense_hessian(model, X, y, loss, part="gn") - D1).max() > tol.max()
