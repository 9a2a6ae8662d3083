"""Optimisers on parameter dicts: gradients, one hand-computed step each, Newton–Schulz, the loop."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmt.datasets import make_classification
from rmt.models import LinearClassifier, OneHiddenLayer, loss_value
from rmt.optim import (CUBIC_COEFFS, MUON_COEFFS, OPTIMIZERS, GD, Adam, AdamMini, Muon,
                       loss_and_grad, loss_only, make_optimizer, model_from_params,
                       newton_schulz, params_from_model, train)

EPS = np.finfo(float).eps


def _fd_grad(params, X, y, loss, act, h=1e-6):
    out = {}
    for k, P in params.items():
        G = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            pp = {kk: vv.copy() for kk, vv in params.items()}
            pm = {kk: vv.copy() for kk, vv in params.items()}
            pp[k][idx] += h
            pm[k][idx] -= h
            G[idx] = (loss_only(pp, X, y, loss, act) - loss_only(pm, X, y, loss, act)) / (2 * h)
        out[k] = G
    return out


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("act", [None, "relu", "tanh", "gelu"])
def test_gradient_matches_finite_differences_and_loss_matches_models(loss, act):
    X, y = make_classification(12, 4, 3, seed=1)
    model = (LinearClassifier.init(3, 4, seed=2) if act is None
             else OneHiddenLayer.init(3, 4, 5, activation=act, seed=2))
    params = params_from_model(model)
    value, grads = loss_and_grad(params, X, y, loss, act or "relu")
    assert value == pytest.approx(loss_value(model, X, y, loss), rel=4 * EPS)
    fd = _fd_grad(params, X, y, loss, act or "relu")
    for k in params:
        # Central differences with h = 1e-6 on O(1) losses: truncation h²·|ℓ'''| ~ 1e-12 plus
        # rounding eps/h ~ 2e-10 (ReLU kinks are hit with probability 0 at these draws).
        np.testing.assert_allclose(grads[k], fd[k], atol=1e-8)


def test_params_round_trip_and_float32_kept():
    h = OneHiddenLayer.init(3, 4, 2, seed=0)
    p = {k: v.astype(np.float32) for k, v in params_from_model(h).items()}
    assert set(p) == {"W", "V"} and p["V"].dtype == np.float32
    X, y = make_classification(5, 4, 3, seed=0, dtype="float32")
    _, g = loss_and_grad(p, X, y)
    assert g["W"].dtype == np.float32 and g["V"].dtype == np.float32
    for opt in OPTIMIZERS:
        o = make_optimizer(opt, 0.1)
        new, _ = o.update(g, o.init(p), p)
        assert all(new[k].dtype == np.float32 for k in new)
    m = model_from_params(p, "relu")
    assert np.array_equal(m.W, p["W"])


def _toy():
    rng = np.random.default_rng(0)
    return {"V": rng.standard_normal((3, 4)), "W": rng.standard_normal((4, 2))}, \
        {"V": rng.standard_normal((3, 4)), "W": rng.standard_normal((4, 2))}


def test_gd_step_and_momentum_by_hand():
    p, g = _toy()
    new, st1 = GD(0.1).update(g, GD(0.1).init(p), p)
    for k in p:
        np.testing.assert_array_equal(new[k], p[k] - 0.1 * g[k])
    opt = GD(0.1, momentum=0.5)
    p1, s1 = opt.update(g, opt.init(p), p)
    p2, s2 = opt.update(g, s1, p1)
    for k in p:   # m1 = g, m2 = 0.5 g + g
        np.testing.assert_allclose(p2[k], p[k] - 0.1 * g[k] - 0.1 * 1.5 * g[k], rtol=4 * EPS,
                                   atol=4 * EPS)
    assert s2["step"] == 2


def test_adam_two_steps_by_hand():
    p, g = _toy()
    g2 = {k: 0.5 * v + 1.0 for k, v in g.items()}
    lr, b1, b2, eps = 0.01, 0.9, 0.99, 1e-8
    opt = Adam(lr, b1, b2, eps)
    p1, s = opt.update(g, opt.init(p), p)
    p2, s = opt.update(g2, s, p1)
    for k in p:
        m1, v1 = (1 - b1) * g[k], (1 - b2) * g[k] ** 2
        e1 = p[k] - lr * (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + eps)
        m2, v2 = b1 * m1 + (1 - b1) * g2[k], b2 * v1 + (1 - b2) * g2[k] ** 2
        e2 = e1 - lr * (m2 / (1 - b1 ** 2)) / (np.sqrt(v2 / (1 - b2 ** 2)) + eps)
        np.testing.assert_allclose(p2[k], e2, rtol=0, atol=64 * EPS)
        # First Adam step is lr·sign(g) up to eps/|g|.
        np.testing.assert_allclose(e1, p[k] - lr * np.sign(g[k]), atol=lr * 1e-6)


def test_adam_mini_one_second_moment_per_row():
    p, g = _toy()
    lr, eps = 0.01, 1e-8
    opt = AdamMini(lr, eps=eps)
    s0 = opt.init(p)
    assert s0["v"]["V"].shape == (3, 1) and s0["v"]["W"].shape == (4, 1)
    p1, s1 = opt.update(g, s0, p)
    for k in p:
        rms = np.sqrt(np.mean(g[k] ** 2, axis=1, keepdims=True))
        np.testing.assert_allclose(p1[k], p[k] - lr * g[k] / (rms + eps), rtol=0, atol=64 * EPS)
    # A row scaled by a constant keeps its direction: Adam-mini's step within a row ∝ g_row.
    d = p1["V"] - p["V"]
    np.testing.assert_allclose(d / g["V"], (d / g["V"])[:, :1] * np.ones((1, 4)), rtol=1e-12)


def test_muon_step_by_hand():
    p, g = _toy()
    lr, mu = 0.02, 0.95
    opt = Muon(lr, momentum=mu)
    p1, s = opt.update(g, opt.init(p), p)
    for k in p:
        D = g[k] + mu * g[k]   # Nesterov: G + μ M with M = G after the first step
        scale = np.sqrt(max(1.0, p[k].shape[0] / p[k].shape[1]))
        expect = p[k] - lr * scale * newton_schulz(D, 5, MUON_COEFFS)
        np.testing.assert_allclose(p1[k], expect, rtol=0, atol=16 * EPS)
        np.testing.assert_array_equal(s["m"][k], g[k])


def _svd_map(G, steps, coeffs, eps=1e-7):
    a, b, c = coeffs
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    x = s / (np.linalg.norm(G) + eps)
    for _ in range(steps):
        x = a * x + b * x ** 3 + c * x ** 5
    return U @ np.diag(x) @ Vt, x


@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32), st.integers(0, 6))
def test_newton_schulz_is_the_scalar_map_on_singular_values(r, c, seed, steps):
    G = np.random.default_rng(seed).standard_normal((r, c))
    expect, x = _svd_map(G, steps, MUON_COEFFS)
    out = newton_schulz(G, steps, MUON_COEFFS)
    # Each step multiplies by matrices of norm ≤ |a| + |b| + |c| ≈ 10.3 on singular values ≤ 1.2
    # (the band below): rounding grows by at most that factor per step, from eps·min(r, c).
    np.testing.assert_allclose(out, expect, rtol=0, atol=10.3 ** steps * 8 * EPS * min(r, c))


def test_newton_schulz_cubic_converges_to_the_polar_factor():
    G = np.random.default_rng(1).standard_normal((40, 15))
    Q = newton_schulz(G, 40, CUBIC_COEFFS)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    # The cubic map converges quadratically near 1; after 40 steps only rounding is left:
    # ‖QᵀQ − I‖₂ ~ a few eps per step accumulated once (not amplified: the fixed point attracts).
    assert np.linalg.norm(Q.T @ Q - np.eye(15), 2) < 100 * EPS
    np.testing.assert_allclose(Q, U @ Vt, atol=100 * EPS)


def test_muon_coefficients_push_singular_values_into_a_band():
    # Muon's quintic does not converge: 5 steps map normalised singular values in [1e-2, 1]
    # into [0.68, 1.14] (scalar map on a fine grid, test_newton_schulz_is_the_scalar_map...).
    G = np.random.default_rng(2).standard_normal((200, 50))   # s/‖G‖_F in ~[0.04, 0.19]
    s = np.linalg.svd(newton_schulz(G), compute_uv=False)
    assert s.min() > 0.68 and s.max() < 1.14
    assert np.linalg.norm(newton_schulz(G).T @ newton_schulz(G) - np.eye(50), 2) < 0.6


def test_zero_matrix_maps_to_zero():
    assert np.array_equal(newton_schulz(np.zeros((3, 2))), np.zeros((3, 2)))


def test_train_reaches_target_and_records_losses():
    X, y = make_classification(60, 8, 3, seed=0)
    p0 = params_from_model(LinearClassifier.init(3, 8, seed=1))
    seen = []
    r = train(p0, X, y, make_optimizer("adam", 0.05), max_steps=300, target=0.05,
              callback=lambda t, p, l: seen.append(t))
    assert r.losses.shape == (301,) and seen == list(range(301))
    assert r.losses[0] == pytest.approx(loss_only(p0, X, y))
    assert r.steps_to_target is not None and r.losses[r.steps_to_target] <= 0.05
    assert np.all(r.losses[:r.steps_to_target] > 0.05)
    assert not r.diverged and r.final_loss < 0.05
    r2 = train(p0, X, y, make_optimizer("adam", 0.05), max_steps=300, target=0.05,
               stop_at_target=True)
    assert r2.n_steps == r.steps_to_target
    np.testing.assert_array_equal(r2.losses, r.losses[:r2.n_steps + 1])
    assert np.array_equal(p0["V"], params_from_model(LinearClassifier.init(3, 8, seed=1))["V"])


def test_train_flags_divergence():
    X, y = make_classification(30, 5, 3, seed=0)
    p0 = params_from_model(LinearClassifier.init(3, 5, seed=1))
    r = train(p0, X, y, GD(1e4), max_steps=50, target=0.0)
    assert r.diverged and r.n_steps < 50 and r.steps_to_target is None


@pytest.mark.parametrize("call, exc, match", [
    (lambda: GD(0.0), ValueError, "lr"),
    (lambda: Adam(0.1, beta1=1.0), ValueError, "beta1"),
    (lambda: Muon(0.1, ns_steps=0), ValueError, "ns_steps"),
    (lambda: Muon(0.1, ns_coeffs=(1.0, 2.0)), ValueError, "ns_coeffs"),
    (lambda: make_optimizer("sgd", 0.1), ValueError, "name"),
    (lambda: make_optimizer("adam", 0.1, momentum=0.9), ValueError, "options"),
    (lambda: loss_and_grad({"U": np.ones((2, 2))}, np.ones((1, 2)), [0]), ValueError, "keys"),
    (lambda: loss_and_grad([1], np.ones((1, 2)), [0]), TypeError, "params"),
    (lambda: loss_and_grad({"V": np.ones((2, 3))}, np.ones((1, 2)), [0]), ValueError, "X"),
    (lambda: loss_and_grad({"V": np.ones((2, 2))}, np.ones((1, 2)), [2]), ValueError, "y"),
    (lambda: loss_and_grad({"V": np.ones((2, 2))}, np.ones((1, 2)), [0], "l1"), ValueError,
     "loss"),
    (lambda: loss_and_grad({"W": np.ones((3, 2)), "V": np.ones((2, 4))}, np.ones((1, 2)), [0]),
     ValueError, "columns"),
    (lambda: GD(0.1).update({"V": np.ones((2, 3))}, {"step": 0}, {"V": np.ones((2, 2))}),
     ValueError, "grads"),
    (lambda: GD(0.1).update({"V": np.ones((2, 2))}, {}, {"V": np.ones((2, 2))}), ValueError,
     "state"),
    (lambda: newton_schulz(np.ones(3)), ValueError, "G"),
    (lambda: train({"V": np.ones((2, 2))}, np.ones((1, 2)), [0], GD(0.1), max_steps=-1),
     ValueError, "max_steps"),
    (lambda: train({"V": np.ones((2, 2))}, np.ones((1, 2)), [0], object(), max_steps=1),
     TypeError, "optimizer"),
    (lambda: train({"V": np.ones((2, 2))}, np.ones((1, 2)), [0], GD(0.1), max_steps=1,
                   divergence_factor=1.0), ValueError, "divergence_factor"),
])
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_soft_targets_loss_gradient_and_attained_minimum():
    from rmt.models import softmax as sm

    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 4))
    Vstar = rng.standard_normal((5, 4))
    Q = sm(X @ Vstar.T)
    value, g = loss_and_grad({"V": Vstar}, X, Q)
    entropy = -np.mean(np.sum(Q * np.log(Q), axis=1))
    # Both are sums of 150 O(1) terms: agreement to ~150 eps.
    assert abs(value - entropy) < 256 * EPS
    assert np.abs(g["V"]).max() < 256 * EPS          # the teacher's weights are a minimum
    p = {"V": rng.standard_normal((5, 4))}
    _, g = loss_and_grad(p, X, Q)
    fd = _fd_grad(p, X, Q, "ce", "relu")
    np.testing.assert_allclose(g["V"], fd["V"], atol=1e-8)   # as for hard labels above
    with pytest.raises(ValueError, match="soft targets"):
        loss_and_grad(p, X, Q[:, :4])
    with pytest.raises(ValueError, match="probability rows"):
        loss_and_grad(p, X, 2 * Q)
