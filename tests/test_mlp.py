"""Tests of rmt.mlp: closed-form Hessian blocks of the linear, one-hidden-layer and deep models
against autodiff (torch, float64), the Gauss–Newton / residual split, the norms without the
dense Hessian, the residual bound, and input validation.

Tolerances. Every Hessian entry is ``(1/N) Σ_n`` of per-sample terms, each a product chain of
matrix products through the layers (weights, ``φ'``/``φ''`` factors, ``a_{l-1}``, ``A_n`` or
``g_n``). For a floating-point matrix product ``|fl(AB) − AB| ≤ γ_n |A||B|`` elementwise and
``‖|A||B|‖_F ≤ ‖A‖_F ‖B‖_F``, so every term and its rounding are bounded by the product of the
Frobenius norms of its factors: :func:`_term_scale` bounds that product over all samples and
layer pairs (``|φ(u)| ≤ |u|`` for all four activations gives ``‖a_l‖ ≤ ‖W_l‖_F ‖a_{l-1}‖``).
Two evaluation routes of one entry (other summation order and grouping) then differ by at most
``K·EPS`` times that scale, ``K = N + C + Σ m_l + d + 8`` the longest chain of additions
(:func:`_entry_tol`). Norm checks use the same bound on the Frobenius norm of the entry errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmt import hessian as RH
from rmt import mlp
from rmt.models import LinearClassifier, OneHiddenLayer, activation_functions

torch = pytest.importorskip("torch")

EPS = float(np.finfo(np.float64).eps)
ACTS = ("relu", "tanh", "gelu", "identity")


# ------------------------------------------------------------------------------------------
# Builders and references
# ------------------------------------------------------------------------------------------

def make_model(depth, C, d, widths, act, seed):
    if depth == 1:
        return LinearClassifier.init(C, d, seed=seed)
    if depth == 2:
        return OneHiddenLayer.init(C, d, widths[0], activation=act, seed=seed)
    return mlp.DeepMLP.init(C, d, widths[:depth - 1], activation=act, seed=seed)


def make_data(N, d, C, seed):
    rng = np.random.default_rng(seed + 7919)
    return rng.standard_normal((N, d)), rng.integers(0, C, N)


def _torch_parts(model, X, y, loss):
    """(full Hessian, Gauss–Newton part) by autodiff, parameters ordered like rmt.mlp."""
    ws, act = mlp.layers(model)
    shapes = [W.shape for W in ws]
    f = {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu,
         "identity": lambda u: u}[act]
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y)

    def unflat(t):
        out, k = [], 0
        for s in reversed(shapes):
            n = s[0] * s[1]
            out.append(t[k:k + n].reshape(s))
            k += n
        return out[::-1]

    def logits(t):
        W = unflat(t)
        a = Xt
        for Wl in W[:-1]:
            a = f(a @ Wl.T)
        return a @ W[-1].T

    def lossf(z):
        if loss == "ce":
            return torch.nn.functional.cross_entropy(z, yt)
        T = torch.nn.functional.one_hot(yt, z.shape[1]).double()
        return 0.5 * ((z - T) ** 2).sum(1).mean()

    th = torch.tensor(np.concatenate([W.ravel() for W in reversed(ws)]), dtype=torch.float64)
    Hf = torch.func.hessian(lambda t: lossf(logits(t)))(th).numpy()
    J = torch.func.jacrev(logits)(th).numpy()                          # (N, C, P)
    z = logits(th).detach()
    A = torch.func.hessian(lossf)(z).numpy()                           # (N, C, N, C)
    N = X.shape[0]
    An = np.stack([A[n, :, n, :] for n in range(N)])
    Hg = np.einsum("ncp,ncd,ndq->pq", J, An, J)
    return Hf, Hg


def _term_scale(model, X, y, loss):
    """Upper bound on the Frobenius-norm product of the factors of any per-sample term."""
    ws, act = mlp.layers(model)
    f0, f1, f2 = activation_functions(act, np)
    a = X
    fmax = 1.0
    for W in ws[:-1]:
        u = a @ W.T
        fmax = max(fmax, np.abs(f1(u)).max(), np.abs(f2(u)).max())
        a = f0(u)
    z = a @ ws[-1].T
    if loss == "ce":
        gA = 2.0                                   # ‖p − e_y‖ ≤ √2, ‖diag p − ppᵀ‖_F ≤ 2
    else:
        T = np.zeros_like(z)
        T[np.arange(len(y)), y] = 1
        gA = max(math.sqrt(z.shape[1]), np.linalg.norm(z - T, axis=1).max())
    chain = max(1.0, np.linalg.norm(X, axis=1).max())
    for W in ws:
        chain *= max(1.0, np.linalg.norm(W)) * fmax
    return gA * chain * chain


def _entry_tol(model, X, y, loss):
    ws, _ = mlp.layers(model)
    K = X.shape[0] + sum(W.shape[0] for W in ws) + X.shape[1] + 8
    return K * EPS * _term_scale(model, X, y, loss)


def _layer_slices(model):
    ws, _ = mlp.layers(model)
    L = len(ws)
    sl, k0 = {}, 0
    for l in range(L, 0, -1):
        sl[l] = slice(k0, k0 + ws[l - 1].size)
        k0 += ws[l - 1].size
    return sl


SHAPES = dict(depth=st.integers(1, 4), C=st.integers(2, 6), d=st.integers(1, 4),
              widths=st.lists(st.integers(1, 4), min_size=3, max_size=3), N=st.integers(1, 6),
              act=st.sampled_from(ACTS), loss=st.sampled_from(["ce", "mse"]),
              seed=st.integers(0, 2**16))


# ------------------------------------------------------------------------------------------
# Closed forms against autodiff
# ------------------------------------------------------------------------------------------

@given(**SHAPES)
def test_dense_hessian_and_parts_match_autodiff(depth, C, d, widths, N, act, loss, seed):
    model = make_model(depth, C, d, widths, act, seed)
    X, y = make_data(N, d, C, seed)
    Hf, Hg = _torch_parts(model, X, y, loss)
    tol = _entry_tol(model, X, y, loss)
    full = mlp.dense_hessian(model, X, y, loss)
    gn = mlp.dense_hessian(model, X, y, loss, part="gn")
    res = mlp.dense_hessian(model, X, y, loss, part="residual")
    assert np.abs(full - Hf).max() <= tol
    assert np.abs(gn - Hg).max() <= tol
    assert np.abs(res - (Hf - Hg)).max() <= 2 * tol
    assert np.array_equal(full, full.T)


@given(**SHAPES)
def test_gradient_matches_autodiff(depth, C, d, widths, N, act, loss, seed):
    model = make_model(depth, C, d, widths, act, seed)
    X, y = make_data(N, d, C, seed)
    ws, _ = mlp.layers(model)
    tw = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W in ws]
    f = {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu,
         "identity": lambda u: u}[mlp.layers(model)[1]]
    a = torch.tensor(X)
    for W in tw[:-1]:
        a = f(a @ W.T)
    z = a @ tw[-1].T
    yt = torch.tensor(y)
    if loss == "ce":
        ell = torch.nn.functional.cross_entropy(z, yt)
    else:
        ell = 0.5 * ((z - torch.nn.functional.one_hot(yt, C).double()) ** 2).sum(1).mean()
    ell.backward()
    for G, W in zip(mlp.gradient(model, X, y, loss), tw):
        assert np.abs(G - W.grad.numpy()).max() <= _entry_tol(model, X, y, loss)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_two_layer_models_agree_with_rmt_hessian(act, loss):
    X, y = make_data(9, 3, 5, 1)
    for model in (LinearClassifier.init(5, 3, seed=2),
                  OneHiddenLayer.init(5, 3, 4, activation=act, seed=3)):
        yy = None if isinstance(model, LinearClassifier) else y
        ref = RH.hessian(model, X, yy, loss)
        assert np.abs(mlp.dense_hessian(model, X, yy, loss) - ref).max() \
            <= _entry_tol(model, X, y, loss)


def test_deep_mlp_with_one_hidden_layer_is_the_one_hidden_layer_net():
    X, y = make_data(7, 3, 4, 0)
    h = OneHiddenLayer.init(4, 3, 5, activation="tanh", seed=4)
    deep = mlp.DeepMLP((h.W, h.V), "tanh")
    assert np.array_equal(deep.logits(X), h.logits(X))
    assert np.array_equal(deep.parameters(), h.parameters())
    assert np.abs(mlp.dense_hessian(deep, X, y) - RH.hessian(h, X, y)).max() \
        <= _entry_tol(h, X, y, "ce")


def test_linear_residual_part_is_zero_and_relu_residual_lives_off_the_layer_diagonal():
    X, y = make_data(8, 3, 4, 5)
    lin = LinearClassifier.init(4, 3, seed=1)
    assert not np.any(mlp.dense_hessian(lin, X, y, part="residual"))
    deep = mlp.DeepMLP.init(4, 3, [3, 3], seed=2)
    R = mlp.dense_hessian(deep, X, y, part="residual")
    sl = _layer_slices(deep)
    for l in (1, 2, 3):     # φ'' = 0: the residual part has no within-layer block
        assert not np.any(R[sl[l], sl[l]])
    assert np.any(R[sl[1], sl[3]]) and np.any(R[sl[2], sl[3]]) and np.any(R[sl[1], sl[2]])


# ------------------------------------------------------------------------------------------
# Norms without the dense Hessian
# ------------------------------------------------------------------------------------------

@given(route=st.sampled_from(["gram", "direct"]), **SHAPES)
def test_block_summary_matches_dense_blocks(route, depth, C, d, widths, N, act, loss, seed):
    model = make_model(depth, C, d, widths, act, seed)
    X, y = make_data(N, d, C, seed)
    Hg = mlp.dense_hessian(model, X, y, loss, part="gn")
    Hr = mlp.dense_hessian(model, X, y, loss, part="residual")
    H = Hg + Hr
    ws, _ = mlp.layers(model)
    sl = _layer_slices(model)
    names = mlp.layer_names(model)
    tol = _entry_tol(model, X, y, loss)
    summ = mlp.block_summary(model, X, y, loss)
    for l, s in enumerate(summ.layers, start=1):
        n, b = ws[l - 1].shape
        sq = np.einsum("ikjl->ij", H[sl[l], sl[l]].reshape(n, b, n, b) ** 2)
        # a squared norm of P entries, each within tol: |Δ‖B‖²| ≤ 2‖B‖_F √P tol + P tol²
        for got, want, P in ((s.diagonal, np.trace(sq), n * b * b),
                             (s.off_diagonal, sq.sum() - np.trace(sq), n * n * b * b)):
            bound = 2 * math.sqrt(max(want, 0) * P) * tol + P * tol * tol
            assert abs(got - want) <= 4 * bound   # both routes within tol per entry, see top
        assert s.blocks == names[l - 1] and s.n_blocks == n
    st_ = mlp._State(model, X, y, loss)
    for l in range(1, len(ws)):
        for k in range(l + 1, len(ws) + 1):
            c = mlp._cross_norms(st_, l, k, names, route=route)
            P = ws[l - 1].size * ws[k - 1].size
            for got, ref in ((c.gn, Hg), (c.residual, Hr)):
                want = np.linalg.norm(ref[sl[l], sl[k]])
                assert abs(got - want) <= 4 * math.sqrt(P) * tol
    assert len(summ.cross) == len(ws) * (len(ws) - 1) // 2


def test_block_summary_agrees_with_rmt_hessian_block_norms():
    X, y = make_data(40, 5, 6, 3)
    h = OneHiddenLayer.init(6, 5, 4, seed=9)
    summ = mlp.block_summary(h, X, y, "ce")
    for name in ("V", "W"):
        ref = RH.block_norms(h, X, y, "ce", blocks=name)
        got = summ.layer(name)
        assert math.isclose(got.diagonal, ref.diagonal, rel_tol=1e-12)
        assert math.isclose(got.off_diagonal, ref.off_diagonal, rel_tol=1e-12)
    assert math.isclose(mlp.rms_per_block(summ.layer("V")),
                        summ.layer("V").aggregate_ratio / math.sqrt(5), rel_tol=1e-15)


# ------------------------------------------------------------------------------------------
# The residual bound
# ------------------------------------------------------------------------------------------

@given(depth=st.integers(2, 4), C=st.integers(2, 6), d=st.integers(1, 4),
       widths=st.lists(st.integers(1, 4), min_size=3, max_size=3), N=st.integers(1, 6),
       act=st.sampled_from(["relu", "identity"]), loss=st.sampled_from(["ce", "mse"]),
       seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 4.0]))
def test_residual_bound_holds(depth, C, d, widths, N, act, loss, seed, scale):
    model = make_model(depth, C, d, widths, act, seed)
    ws, _ = mlp.layers(model)
    ws = tuple(W * scale for W in ws)     # large weights: confident softmax, larger residuals
    model = mlp.DeepMLP(ws, act)
    X, y = make_data(N, d, C, seed)
    Hr = mlp.dense_hessian(model, X, y, loss, part="residual")
    sl = _layer_slices(model)
    names = mlp.layer_names(model)
    tol = _entry_tol(model, X, y, loss)
    bounds = mlp.residual_bound(model, X, y, loss)
    for l in range(1, len(ws)):
        for k in range(l + 1, len(ws) + 1):
            b = bounds[(names[l - 1], names[k - 1])]
            norm = np.linalg.norm(Hr[sl[l], sl[k]])
            slack = math.sqrt(ws[l - 1].size * ws[k - 1].size) * tol   # rounding of the norm
            assert norm <= b["per_sample"] * (1 + 1e-12) + slack
            assert b["per_sample"] <= b["sqrt_bound"] * (1 + 1e-12)
            if loss == "ce":
                assert b["per_sample"] <= b["linear_bound"] * (1 + 1e-12)
                assert b["bound"] == min(b["sqrt_bound"], b["linear_bound"])
            if k == len(ws) and N == 1:
                # one sample, output layer: R = g ⊗ a ⊗ M exactly, the bound is an equality
                assert math.isclose(norm, b["per_sample"], rel_tol=1e-12, abs_tol=slack)


def test_residual_bound_rejects_what_it_does_not_cover():
    X, y = make_data(5, 3, 4, 0)
    with pytest.raises(ValueError, match="hidden layer"):
        mlp.residual_bound(LinearClassifier.init(4, 3, seed=0), X, y)
    tanh = mlp.DeepMLP.init(4, 3, [3, 3], activation="tanh", seed=0)
    with pytest.raises(ValueError, match="activation must be relu or identity"):
        mlp.residual_bound(tanh, X, y)
    with pytest.raises(ValueError, match="y "):
        mlp.residual_bound(mlp.DeepMLP.init(4, 3, [3], seed=0), X, None)
    # the (W, V) pair of a smooth net has no φ'' term: covered
    b = mlp.residual_bound(OneHiddenLayer.init(4, 3, 3, activation="tanh", seed=0), X, y)
    assert set(b) == {("W", "V")}


# ------------------------------------------------------------------------------------------
# The model and input validation
# ------------------------------------------------------------------------------------------

def test_deep_mlp_init_and_parameters_round_trip():
    m = mlp.DeepMLP.init(7, 5, [4, 3], sigma=1.0, seed=1)
    assert m.depth == 3 and m.widths == (4, 3) and m.dim == 5 and m.n_classes == 7
    assert m.n_params == 4 * 5 + 3 * 4 + 7 * 3
    assert m.block_sizes() == [3] * 7 + [4] * 3 + [5] * 4
    back = m.with_parameters(m.parameters())
    assert all(np.array_equal(a, b) for a, b in zip(back.weights, m.weights))
    assert mlp.layer_names(m) == ("W1", "W2", "W3")
    # LeCun: entries of W_l have variance σ²/fan_in; the sample variance of a Gaussian
    # sample of n entries has relative SE √(2/n): 5 SE bands
    big = mlp.DeepMLP.init(50, 400, [300, 200], seed=2)
    for W in big.weights:
        n = W.size
        assert abs(W.var() * W.shape[1] - 1.0) <= 5 * math.sqrt(2.0 / n)


@pytest.mark.parametrize("bad, match", [
    (dict(n_classes=1), "n_classes"), (dict(dim=0), "dim"), (dict(widths=[]), "widths"),
    (dict(widths=[0]), r"widths\[0\]"), (dict(sigma=-1), "sigma"),
    (dict(activation="sigmoid"), "activation"), (dict(widths=3), "widths"),
])
def test_deep_mlp_init_validation(bad, match):
    args = dict(n_classes=3, dim=2, widths=[2, 2])
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        mlp.DeepMLP.init(**args)


def test_validation_messages():
    W1, W2 = np.ones((3, 2)), np.ones((4, 3))
    with pytest.raises(ValueError, match="at least 2"):
        mlp.DeepMLP((W2,))
    with pytest.raises(ValueError, match="columns"):
        mlp.DeepMLP((W1, np.ones((4, 2))))
    with pytest.raises(ValueError, match="finite"):
        mlp.DeepMLP((W1, np.full((4, 3), np.nan)))
    m = mlp.DeepMLP((W1, W2))
    X, y = make_data(3, 2, 4, 0)
    with pytest.raises(ValueError, match="part"):
        mlp.dense_hessian(m, X, y, part="hessian")
    with pytest.raises(ValueError, match="max_params"):
        mlp.dense_hessian(m, X, y, max_params=3)
    with pytest.raises(ValueError, match="y "):
        mlp.dense_hessian(m, X, None)
    with pytest.raises(ValueError, match="y "):
        mlp.block_summary(m, X, None)
    assert mlp.block_summary(m, X, None, cross=False).cross == ()
    with pytest.raises(TypeError, match="model"):
        mlp.layers("net")
    with pytest.raises(ValueError, match="theta"):
        m.with_parameters(np.ones(3))
