"""Tests of rmt.hessian: closed forms against finite differences, exact identities, agreement of
the block / norm / chunked code paths, exact ratios at V = 0, and input validation.

Tolerances. ``EPS`` is float64's machine epsilon (2.2e-16, twice the unit roundoff). Most consistency checks use
``_entry_tol``: every Hessian entry is ``(1/N) Σ_n`` of per-sample terms, each a sum of at most
``C + m`` products of ``|V|, |p|, |g|, |h|, |h'|, |h''|, |x|`` factors; recomputing it along a
different route (other summation order, other grouping, centred V) changes it by at most
``(N + C + m + d + 8)·EPS`` times the sum of the absolute values of those terms, bounded by
``_abs_scale``. Finite-difference tolerances are derived in ``_fd_check``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rmt import backend as bk
from rmt import hessian as H
from rmt.hessian import _context as HC
from rmt.hessian import ratio as HR
from rmt.models import LinearClassifier, OneHiddenLayer, activation_functions, loss_value

EPS = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


# ------------------------------------------------------------------------------------------
# Builders
# ------------------------------------------------------------------------------------------

def make_problem(kind, C, d, N, m=2, sigma_v=1.0, sigma_w=1.0, activation="tanh", seed=0,
                 grid=True):
    """A model, data and labels. With ``grid`` the parameters are rounded to multiples of
    2^-30 (|θ| < 2^14 here, so ≤ 44 significant bits): then θ ± h u ± h v with h a power of two and
    u, v on a 2^-20 grid are exact, and the finite differences see no parameter rounding."""
    ss = np.random.SeedSequence(seed)
    s_model, s_x, s_y = ss.spawn(3)
    if kind == "linear":
        model = LinearClassifier.init(C, d, sigma_v, seed=s_model)
    else:
        base = OneHiddenLayer.init(C, d, m, sigma=1.0, activation=activation, seed=s_model)
        model = OneHiddenLayer(base.W * sigma_w, base.V * sigma_v, activation)
    if grid:
        th = model.parameters()
        model = model.with_parameters(np.round(th * 2.0**30) / 2.0**30)
    X = np.random.default_rng(s_x).standard_normal((N, d))
    y = np.random.default_rng(s_y).integers(0, C, size=N)
    return model, X, y


def _features(model, X):
    if isinstance(model, LinearClassifier):
        return X
    return model.features(X)


def _abs_scale(model, X, y, loss):
    """Upper bound on Σ_n |per-sample term| / N of any Hessian entry (see module docstring)."""
    C = model.n_classes
    ax = np.abs(X).max()
    if isinstance(model, LinearClassifier):
        return 2.0 * ax * ax       # |A_n[i, j]| ≤ 1 for CE (≤ ¼) and MSE (I)
    U = X @ model.W.T
    f0, f1, f2 = activation_functions(model.activation, np)
    hmax = max(np.abs(f0(U)).max(), np.abs(f1(U)).max(), np.abs(f2(U)).max(), 1.0)
    vmax = max(np.abs(model.V).max(), 1.0)
    Z = model.logits(X)
    gmax = 1.0 if loss == "ce" else np.abs(Z).max() + 1.0
    m = model.hidden
    return 4.0 * (C + m) * vmax * vmax * gmax * hmax * hmax * max(ax, 1.0) ** 2


def _entry_tol(model, X, y, loss):
    """Entrywise bound on the difference of two evaluation routes of the same Hessian."""
    N, d = X.shape
    m = 0 if isinstance(model, LinearClassifier) else model.hidden
    return (N + model.n_classes + m + d + 8) * EPS * _abs_scale(model, X, y, loss)


def _block_slices(model):
    offs = np.concatenate([[0], np.cumsum(model.block_sizes())])
    return [slice(int(a), int(b)) for a, b in zip(offs[:-1], offs[1:])]


# ------------------------------------------------------------------------------------------
# Finite differences
# ------------------------------------------------------------------------------------------

def _loss_rounding(model, X, y, loss):
    """First-order bound on |computed − exact| of one rmt.models.loss_value call.

    Logits: z = f·v with f = x (linear) or h = φ(Wx); a length-K dot product errs by at most
    (K + 2)·EPS·Σ|f||v|, and h inherits |φ'|·(d + 2)·EPS·Σ|x||w| plus 4·EPS·|h| from evaluating
    φ. CE: ℓ_n = lse(z_n) − z_{n,y} moves by ≤ 2·max|Δz| from logit errors, plus
    (C + 4)·EPS·(max|z_n| + log C + 1) from the log-sum-exp itself; MSE: ½‖z − t‖² moves by
    ≤ Σ|z − t||Δz| plus (C + 4)·EPS·(ℓ_n + 1). The mean over N samples adds N·EPS·|ℓ|.
    The factor 2 covers evaluating at θ ± h u ± h v instead of θ (h‖u‖ ≤ 2^-9)."""
    N, d = X.shape
    C = model.n_classes
    aX = np.abs(X)
    if isinstance(model, LinearClassifier):
        F, dF = X, np.zeros_like(X)
        K = d
    else:
        U = X @ model.W.T
        f0, f1, _ = activation_functions(model.activation, np)
        F = f0(U)
        dF = np.abs(f1(U)) * (d + 2) * EPS * (aX @ np.abs(model.W).T) + 4 * EPS * np.abs(F)
        K = model.hidden
    aV = np.abs(model.V)
    Z = F @ model.V.T
    dZ = (K + 2) * EPS * (np.abs(F) @ aV.T) + dF @ aV.T
    T = np.zeros_like(Z)
    T[np.arange(N), y] = 1
    if loss == "ce":
        dl = 2 * dZ.max(axis=1) + (C + 4) * EPS * (np.abs(Z).max(axis=1) + math.log(C) + 1)
    else:
        ln = 0.5 * ((Z - T) ** 2).sum(axis=1)
        dl = (np.abs(Z - T) * dZ).sum(axis=1) + (C + 4) * EPS * (ln + 1)
    ell = loss_value(model, X, y, loss)
    return 2.0 * (dl.mean() + N * EPS * abs(ell))


def _grid_direction(rng, P, support):
    """A random direction on the 2^-20 grid supported on the index set ``support``."""
    u = np.zeros(P)
    u[support] = rng.standard_normal(len(support))
    u /= np.linalg.norm(u)
    return np.round(u * 2.0**20) / 2.0**20


def _fd_check(model, X, y, loss, Hc, u, v, h):
    """Compare uᵀ Hc v with a Richardson-extrapolated second difference of the loss.

    D(h) = [ℓ(θ+hu+hv) − ℓ(θ+hu−hv) − ℓ(θ−hu+hv) + ℓ(θ−hu−hv)] / (4h²) = uᵀHv + c h² + O(h⁴),
    so R = (4 D(h) − D(2h)) / 3 = uᵀHv + O(h⁴), and |D(2h) − D(h)| = 3|c| h² + (rounding) bounds
    R's truncation error (taken as ≤ |c| h² ≤ |D(2h) − D(h)|, h small enough for the series).
    Rounding: each loss value errs by ≤ δ (_loss_rounding; parameter steps are exact on the
    grid), so D(h) errs by ≤ δ/h², D(2h) by ≤ δ/(4h²), and R by ≤ (4 + 1/4)/3 · δ/h² < 1.5 δ/h².
    The closed form errs by ≤ _entry_tol per entry, i.e. ≤ _entry_tol·‖u‖₁‖v‖₁ for uᵀHv.
    """
    theta = model.parameters()

    def f(t):
        return loss_value(model.with_parameters(t), X, y, loss)

    def D(s):
        return (f(theta + s * u + s * v) - f(theta + s * u - s * v)
                - f(theta - s * u + s * v) + f(theta - s * u - s * v)) / (4 * s * s)

    d1, d2 = D(h), D(2 * h)
    R = (4 * d1 - d2) / 3
    delta = _loss_rounding(model, X, y, loss)
    tol = (abs(d2 - d1) + 1.5 * delta / h**2
           + _entry_tol(model, X, y, loss) * np.abs(u).sum() * np.abs(v).sum())
    exact = float(u @ Hc @ v)
    assert abs(exact - R) <= tol, (exact, R, tol)
    return tol


def _relu_safe_step(model, X, u, v, h0=2.0**-10):
    """Largest power-of-two step ≤ h0 such that no ReLU pre-activation crosses 0 along the
    stencil: |Δu_nk| ≤ 2h (|δw_u| + |δw_v|)·|x_n| must stay below min |u_nk| / 2."""
    if isinstance(model, LinearClassifier) or model.activation not in ("relu",):
        return h0
    nv = model.V.size
    U = X @ model.W.T
    margin = np.abs(U).min()
    du = np.abs(u[nv:]).reshape(model.W.shape)
    dv = np.abs(v[nv:]).reshape(model.W.shape)
    speed = ((np.abs(X) @ (du + dv).T)).max() * 2 * 2   # per unit h, stencil reaches 2·(2h)
    h = h0
    while speed * h > margin / 2 and h > 2.0**-24:
        h /= 2
    return h if speed * h <= margin / 2 else None


KINDS = st.sampled_from(["linear", "hidden"])
LOSSES = st.sampled_from(["ce", "mse"])
ACTS = st.sampled_from(["relu", "tanh", "gelu", "identity"])


@given(kind=KINDS, loss=LOSSES, act=ACTS, C=st.integers(2, 12), d=st.integers(1, 4),
       N=st.integers(1, 6), m=st.integers(1, 3), sigma_v=st.floats(0.0, 3.0),
       sigma_w=st.floats(0.3, 3.0), seed=st.integers(0, 2**16), extreme=st.booleans())
def test_hessian_matches_finite_differences(kind, loss, act, C, d, N, m, sigma_v, sigma_w, seed,
                                            extreme):
    if extreme and kind == "linear":
        # Logits of order ±1e4: scale V so that max |z| is 1e4 (the linear model's loss stays
        # smooth along the stencil, whose logit steps are ≤ 4h‖x‖ ≪ the logit gaps).
        model, X, y = make_problem(kind, C, d, N, seed=seed, sigma_v=1.0, grid=False)
        zmax = np.abs(model.logits(X)).max()
        assume(zmax > 0)
        V = model.V * (1e4 / zmax)
        model = LinearClassifier(np.round(V * 2.0**30) / 2.0**30)
    else:
        model, X, y = make_problem(kind, C, d, N, m, sigma_v, sigma_w, act, seed)
    Hc = H.hessian(model, X, y, loss)
    assert np.all(np.isfinite(Hc))
    P = model.n_params
    rng = np.random.default_rng(seed)
    nv = model.V.size
    groups = [np.arange(nv)] if kind == "linear" else [np.arange(nv), np.arange(nv, P)]
    checks = [(a, b) for ia, a in enumerate(groups) for b in groups[ia:]] + [(np.arange(P),) * 2]
    for su, sv in checks:
        u = _grid_direction(rng, P, su)
        v = _grid_direction(rng, P, sv)
        h = _relu_safe_step(model, X, u, v)
        assume(h is not None)
        _fd_check(model, X, y, loss, Hc, u, v, h)
        _fd_check(model, X, y, loss, Hc, u, u, h)


@pytest.mark.parametrize("act", ["tanh", "gelu"])
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_finite_difference_check_is_sharp(act, loss):
    """The FD tolerance is far below the residual (curvature) terms it must detect: the W–W
    blocks with and without the δ_kl h'' (Vᵀg)_k term differ by ≫ tol."""
    model, X, y = make_problem("hidden", 4, 3, 6, 3, 1.5, 1.5, act, seed=11)
    Hc = H.hessian(model, X, y, loss)
    nv = model.V.size
    P = model.n_params
    rng = np.random.default_rng(0)
    u = _grid_direction(rng, P, np.arange(nv, P))
    tol = _fd_check(model, X, y, loss, Hc, u, u, 2.0**-10)
    # the residual term's contribution to uᵀHu, computed from its formula
    U = X @ model.W.T
    _, _, f2 = activation_functions(act, np)
    Z = model.logits(X)
    T = np.eye(model.n_classes)[y]
    G = (np.exp(Z - Z.max(1, keepdims=True)) / np.exp(Z - Z.max(1, keepdims=True)).sum(1,
         keepdims=True) - T) if loss == "ce" else Z - T
    Ures = u[nv:].reshape(model.W.shape)
    resid = np.mean(np.sum(f2(U) * (G @ model.V) * (X @ Ures.T) ** 2, axis=1))
    assert abs(resid) > 100 * tol


# ------------------------------------------------------------------------------------------
# Identities
# ------------------------------------------------------------------------------------------

@given(C=st.integers(2, 12), d=st.integers(1, 5), N=st.integers(1, 12),
       sigma=st.floats(0.0, 3.0), seed=st.integers(0, 2**16))
def test_linear_ce_identities(C, d, N, sigma, seed):
    model, X, y = make_problem("linear", C, d, N, sigma_v=sigma, seed=seed, grid=False)
    Hc = H.hessian(model, X)
    sl = _block_slices(model)
    P = model.probabilities(X)
    # Σ_j H_ij = (1/N) Σ_n (p_i − p_i Σ_j p_j) x xᵀ = 0. Each of the C blocks of row i has
    # entries with rounding ≤ (N + 4)·EPS·(1/N)Σ|A_n[i,j]||x_a x_b|, and Σ_j |A_n[i,j]| ≤ 2p_i;
    # Σ p_j = 1 up to C·EPS; summing C blocks adds C·EPS.
    for i in range(C):
        S = sum(Hc[sl[i], sl[j]] for j in range(C))
        bound = (N + 2 * C + 8) * EPS * 2 * (np.abs(X).T @ (P[:, i:i + 1] * np.abs(X))) / N
        assert np.all(np.abs(S) <= bound)
    # H ⪰ 0 exactly (CE is convex in the logits, z is linear in V). The computed H differs from
    # it entrywise by ≤ (N + C + 4)·EPS·¼·max_ab (1/N)Σ|x_na x_nb| (|A_n[i,j]| ≤ ¼; Σ_j p_j = 1
    # only to C·EPS), so by ≤ P times that in the 2-norm; eigvalsh is backward stable, adding
    # ≤ P·EPS·‖H‖₂. (H has an exact null space, 1 ⊗ v, so λ_min sits at the rounding level.)
    nrm = np.linalg.norm(Hc, 2)
    P_ = model.n_params
    entry = (N + C + 4) * EPS * 0.25 * np.max(np.abs(X).T @ np.abs(X)) / N
    assert np.all(np.abs(Hc - Hc.T) <= 2 * entry)
    lam = np.linalg.eigvalsh((Hc + Hc.T) / 2)
    assert lam.min() >= -(P_ * entry + P_ * EPS * nrm)


@given(C=st.integers(2, 12), d=st.integers(1, 5), N=st.integers(1, 12),
       sigma=st.floats(0.0, 3.0), seed=st.integers(0, 2**16))
def test_linear_mse_is_exactly_block_diagonal(C, d, N, sigma, seed):
    model, X, y = make_problem("linear", C, d, N, sigma_v=sigma, seed=seed, grid=False)
    Hc = H.hessian(model, X, loss="mse")
    sl = _block_slices(model)
    XtX = X.T @ X / N
    # diagonal blocks: the same sums in another GEMM blocking, ≤ (N + 2)·EPS·(1/N)Σ|x_a x_b|
    tol = (N + 2) * EPS * (np.abs(X).T @ np.abs(X)) / N
    for i in range(C):
        for j in range(C):
            if i == j:
                assert np.all(np.abs(Hc[sl[i], sl[j]] - XtX) <= tol)
            else:
                assert np.all(Hc[sl[i], sl[j]] == 0.0)   # exactly: weights are exact zeros
    s = H.block_norms(model, X, loss="mse")
    assert s.off_diagonal == 0.0
    # C equal blocks: Σ_i ‖H_ii‖² = C ‖XᵀX/N‖²; relative rounding ≤ (N + d + 4)·EPS
    assert math.isclose(s.diagonal, C * np.sum(XtX**2), rel_tol=(N + d + 4) * EPS * 4)
    r = H.block_ratio(model, X, loss="mse")
    assert r.aggregate == 0.0 and r.per_block_mean == 0.0


@pytest.mark.parametrize("kind", ["linear", "hidden"])
def test_ce_hessian_invariant_under_logit_shift_extreme_logits(kind):
    """V → V + t 1uᵀ shifts every logit of a sample by the same amount, which leaves softmax,
    A_n V, Vᵀ A_n V and Vᵀ g_n unchanged: the whole CE Hessian is invariant. With the shift
    making |z| ≈ 1e4, the Hessian must stay finite and equal.

    Tolerance: after centring, the shifted model's V differs from the base one by rounding of
    the shift's mean, ≤ (C + 4)·EPS·max|t u|, moving every logit by ≤ (C + 4)·EPS·T_z with
    T_z = max |shift of z| = 1e4; p has that relative error, and each Hessian term is at most
    cubic in p and quadratic in V, so entries move by ≤ 8 (C + 4)·EPS·T_z·_abs_scale."""
    C, d, N, m = 5, 3, 6, 3
    model, X, y = make_problem(kind, C, d, N, m, 1.0, 1.0, "tanh", seed=3)
    F = _features(model, X)
    u = np.round(np.random.default_rng(1).standard_normal(F.shape[1]) * 2**10) / 2**10
    T_z = 1e4
    t = 2.0 ** math.floor(math.log2(T_z / np.abs(F @ u).max()))
    shift = t * u
    if kind == "linear":
        shifted = LinearClassifier(model.V + shift[None, :])
    else:
        shifted = OneHiddenLayer(model.W, model.V + shift[None, :], model.activation)
    zmax = np.abs(shifted.logits(X)).max()
    assert zmax > T_z / 4          # the logits really are extreme
    H0 = H.hessian(model, X, y, "ce")
    H1 = H.hessian(shifted, X, y, "ce")
    assert np.all(np.isfinite(H1))
    tol = 8 * (C + 4) * EPS * zmax * _abs_scale(model, X, y, "ce")
    assert np.max(np.abs(H1 - H0)) <= tol
    r0 = H.block_ratio(model, X, y)
    r1 = H.block_ratio(shifted, X, y)
    # ratios of norms: relative error ≤ 2·(relative entry error) ≤ 2·tol / min‖H_ii‖_F-scale
    assert math.isclose(r0.aggregate, r1.aggregate, rel_tol=1e-6)


def test_extreme_logits_are_finite_and_saturated():
    """Logits ±1e4 with no near-ties: p is one-hot in floating point, so A_n = 0 and every
    CE Hessian block is exactly 0 — and finite, with no overflow."""
    C, d, N = 4, 3, 5
    X = np.eye(N, d) * 1.0 + 0.0
    V = np.zeros((C, d))
    V[0] = 1e4
    V[1:] = -1e4 * np.arange(1, C)[:, None] / C
    model = LinearClassifier(V)
    Hc = H.hessian(model, X[:3])
    assert np.all(Hc == 0.0)
    s = H.block_norms(model, X[:3])
    assert s.diagonal == 0.0 and s.off_diagonal == 0.0
    assert math.isnan(s.aggregate_ratio)


# ------------------------------------------------------------------------------------------
# Agreement of the code paths
# ------------------------------------------------------------------------------------------

@given(kind=KINDS, loss=LOSSES, act=ACTS, C=st.integers(2, 6), d=st.integers(1, 4),
       N=st.integers(1, 8), m=st.integers(1, 3), sigma=st.floats(0.0, 3.0),
       seed=st.integers(0, 2**16))
def test_blocks_and_norms_match_dense(kind, loss, act, C, d, N, m, sigma, seed):
    model, X, y = make_problem(kind, C, d, N, m, sigma, 1.0, act, seed, grid=False)
    Hc = H.hessian(model, X, y, loss)
    sl = _block_slices(model)
    n = len(sl)
    tol = _entry_tol(model, X, y, loss)
    pairs = np.array([(i, j) for i in range(n) for j in range(n)])
    norms = H.block_norms(model, X, y, loss, pairs=pairs)
    for t, (i, j) in enumerate(pairs):
        B = H.block(model, X, int(i), int(j), y, loss)
        ref = Hc[sl[i], sl[j]]
        assert B.shape == ref.shape
        assert np.all(np.abs(B - ref) <= 2 * tol)       # two routes, each within tol
        # Gram route vs formed block: |‖a‖² − ‖b‖²| ≤ (‖a‖ + ‖b‖)‖a − b‖_F, with ‖a − b‖_F ≤
        # 2·tol·√(size) (entrywise), plus the Gram sum's own rounding (N + p)·EPS·(size·scale)²
        nr = np.linalg.norm(ref)
        dF = 2 * tol * math.sqrt(ref.size)
        bound = 2 * (nr + dF) * dF + (N + d + 8) * EPS * (ref.size * _abs_scale(model, X, y,
                                                                                 loss)) ** 2
        assert abs(norms[t] ** 2 - nr**2) <= bound
    layers = ["V"] if kind == "linear" else ["V", "W"]
    for layer in layers:
        idx = range(C) if layer == "V" else range(C, C + m)
        sq = np.array([[np.sum(Hc[sl[i], sl[j]] ** 2) for j in idx] for i in idx])
        s = H.block_norms(model, X, y, loss, blocks=layer)
        diag_ref, off_ref = np.trace(sq), sq.sum() - np.trace(sq)
        size = sq.shape[0] ** 2 * (d if layer == "W" or kind == "linear" else m) ** 2
        scale = size * _abs_scale(model, X, y, loss) ** 2
        # aggregate sums over ≤ n² blocks of the per-pair bound above; S1∘S1 − S4 loses at most
        # a factor C·EPS·S1² (positive sums), covered by the (C + N² + …)·EPS·scale term
        agg_tol = 4 * (N * N + C + m + d + 8) * EPS * scale
        assert abs(s.diagonal - diag_ref) <= agg_tol
        assert abs(s.off_diagonal - off_ref) <= agg_tol
        assert s.off_diagonal >= 0.0 and s.diagonal >= 0.0
        all_norms = H.block_norms(model, X, y, loss, pairs="all", blocks=layer)
        assert np.all(np.abs(all_norms**2 - sq) <= agg_tol)


@given(kind=KINDS, C=st.integers(2, 9), d=st.integers(1, 6), N=st.integers(2, 40),
       m=st.integers(1, 4), sigma=st.floats(0.0, 3.0), seed=st.integers(0, 2**16),
       limit=st.integers(6_000, 40_000), act=ACTS)
def test_chunked_equals_unchunked(kind, C, d, N, m, sigma, seed, limit, act):
    """A tiny memory_limit forces row blocks and class chunks; only the summation order changes.

    Bounds (positive sums reorder with relative error ≤ (#terms)·EPS): the diagonal sum
    Σ G∘(QQᵀ)/N² has N² terms of C-term products → (N² + C + p)·EPS; the off-diagonal
    Σ G∘(S1∘S1 − S4)/N² additionally loses ≤ 3C·EPS·S1² in the difference, i.e. a relative
    (3C)·EPS·κ with κ = Σ G∘S1∘S1 / Σ G∘(S1∘S1 − S4) ≥ 1 (computed below)."""
    model, X, y = make_problem(kind, C, d, N, m, sigma, 1.0, act, seed, grid=False)
    big = H.block_norms(model, X, y, "ce")
    small = H.block_norms(model, X, y, "ce", memory_limit=limit)
    F = _features(model, X)
    P = model.probabilities(X)
    G = (F @ F.T) ** 2
    S1 = P @ P.T
    num = np.sum(G * S1 * S1)
    p = F.shape[1]
    rel = 4 * (N * N + C + p + 8) * EPS
    assert abs(big.diagonal - small.diagonal) <= rel * big.diagonal + 1e-300
    kappa_abs = num / (N * N)
    assert abs(big.off_diagonal - small.off_diagonal) <= (rel + 6 * C * EPS) * kappa_abs + 1e-300
    pairs = np.array([[0, 1], [1, 1], [C - 1, 0]])
    a = H.block_norms(model, X, y, "ce", pairs=pairs)
    b = H.block_norms(model, X, y, "ce", pairs=pairs, memory_limit=limit)
    # per pair: the same quadratic form wᵀGw/N² (one sign per column for V blocks), summed in
    # another order: relative ≤ (N² + p)·EPS on the square, half that on the norm
    assert np.all(np.abs(a - b) <= (N * N + p + 8) * EPS * np.maximum(a, b) + 1e-300)


def test_chunked_aggregate_uses_row_blocks_and_class_chunks():
    """The planner really splits both axes for a tiny limit (so the test above exercises the
    recomputation path), and the result is unchanged."""
    N, C, d = 64, 400, 8
    nb, cc = HC._plan(20_000, N, C, lambda nb: (7 * 8 + 16) * nb * nb,
                     lambda nb: 8 * 8 * nb + 8 * d, "memory_limit")
    assert nb < N and cc < C
    model, X, _ = make_problem("linear", C, d, N, sigma_v=1.5, seed=5, grid=False)
    a = H.block_norms(model, X)
    b = H.block_norms(model, X, memory_limit=20_000)
    # same bound as test_chunked_equals_unchunked: (N² + C + d + 8)·EPS·4 relative, with the
    # off-diagonal's cancellation factor κ ≤ 2 at σ = 1.5, C = 400 (S4 ≪ S1∘S1)
    assert math.isclose(a.diagonal, b.diagonal, rel_tol=4 * (N * N + C + d + 8) * EPS)
    assert math.isclose(a.off_diagonal, b.off_diagonal,
                        rel_tol=2 * (4 * (N * N + C + d + 8) + 6 * C) * EPS)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_chunked_log_sum_exp(scale):
    """The class-chunked online log-sum-exp equals SciPy's, also when the running maximum
    jumps by 1e4 between chunks. Error: the shifted exponentials are summed with relative error
    ≤ (C + 2·#chunks)·EPS (each rescaling adds 2·EPS), log adds EPS, and the final
    max + log(s) rounds at EPS·|lse|; logits themselves err by ≤ (d + 2)·EPS·max|z|."""
    from scipy.special import logsumexp

    rng = np.random.default_rng(0)
    N, C, d = 10, 50, 3
    F = rng.standard_normal((N, d))
    V = rng.standard_normal((C, d)) * scale
    head = HC._Head(F, V, "ce", memory_limit=200)
    nb, cc = HC._plan(200, N, C, lambda nb: 0, lambda nb: 3 * 8 * nb, "memory_limit")
    assert cc < C                                  # really chunked over classes
    Z = F @ V.T
    ref = logsumexp(Z, axis=1)
    got = head.lse()
    tol = (C + 2 * C + 8 + d) * EPS * (np.abs(Z).max() + np.abs(ref) + 1)
    assert np.all(np.abs(got - ref) <= tol)
    # and the probabilities built on it sum to 1 (C terms, each with relative error ≤ tol)
    P = head.probs(np.arange(C))
    assert np.all(np.abs(P.sum(axis=1) - 1) <= C * EPS + tol)


# ------------------------------------------------------------------------------------------
# Ratios
# ------------------------------------------------------------------------------------------

@given(C=st.integers(2, 12), d=st.integers(1, 6), N=st.integers(1, 30),
       seed=st.integers(0, 2**16), hidden=st.booleans())
def test_ratios_at_zero_V_are_exact(C, d, N, seed, hidden):
    """At V = 0, p_n = 1/C for every n: A_n[i,i] = (C−1)/C², A_n[i,j] = −1/C², so every block is
    a multiple of the same matrix and r_ij = 1/(C−1), aggregate = 1/√(C−1).

    Rounding: all p are the same float p̂ with relative error ≤ (log C + 2)·EPS; each quadratic
    form wᵀGw/N² of constant-weight columns has relative error ≤ (2N + 2)·EPS (no cancellation:
    G ≥ 0, one sign per column), so r errs by ≤ (2N + 2 + 2 log C + 8)·EPS relatively; the
    aggregate's sums (N² terms, C-term products, S1∘S1 − S4 with cancellation factor
    C/(C−1) ≤ 2) by ≤ (N² + 4C + 2 log C + 8)·EPS."""
    if hidden:
        base = OneHiddenLayer.init(C, d, 3, activation="tanh", seed=seed)
        model = OneHiddenLayer(base.W, np.zeros_like(base.V), "tanh")
    else:
        model = LinearClassifier.init(C, d, sigma=0.0, seed=seed)
    X = np.random.default_rng(seed).standard_normal((N, d))
    assume(np.abs(_features(model, X)).max() > 1e-3)
    r = H.block_ratio(model, X)
    rt = (2 * N + 2 + 2 * math.log(C) + 8) * EPS
    for val in (r.per_block_mean, r.per_block_min, r.per_block_max):
        assert math.isclose(val, 1.0 / (C - 1), rel_tol=rt)
    assert math.isclose(r.aggregate, 1.0 / math.sqrt(C - 1),
                        rel_tol=(N * N + 4 * C + 2 * math.log(C) + 8) * EPS)
    assert r.n_pairs == C * (C - 1) and not r.sampled and r.per_block_sem == 0.0


def test_block_ratio_sampling_and_result_object():
    model, X, y = make_problem("linear", 30, 5, 40, sigma_v=1.0, seed=2, grid=False)
    full = H.block_ratio(model, X)
    assert full.n_pairs == full.n_pairs_total == 30 * 29 and not full.sampled
    s1 = H.block_ratio(model, X, pairs=50, seed=7)
    s2 = H.block_ratio(model, X, pairs=50, seed=7)
    assert s1 == s2                                    # seeded: reproducible
    assert s1.sampled and s1.n_pairs == 50 and s1.per_block_sem > 0
    assert s1.aggregate == full.aggregate              # aggregate is always exact
    # the sampled mean is the mean of the all-pairs ratios over the drawn pairs
    ii, jj, _ = HR._draw_pairs(30, 50, 7)
    nrm = H.block_norms(model, X, pairs="all")
    ref = np.mean(nrm[ii, jj] / nrm[ii, ii])
    assert math.isclose(s1.per_block_mean, ref, rel_tol=(40 * 40 + 16) * EPS)
    assert s1.per_block_ci_low < s1.per_block_mean < s1.per_block_ci_high
    # all pairs requested by number: not sampled
    assert not H.block_ratio(model, X, pairs=10**6).sampled
    d = s1.to_dict()
    import json
    json.dumps(d)
    for key in ("per_block_mean", "per_block_sem", "per_block_ci", "aggregate", "n_pairs",
                "sampled", "diagonal_sq_sum", "off_diagonal_sq_sum", "definitions"):
        assert key in d
    text = str(s1)
    assert "aggregate" in text and "per block" in text and "sampled 50" in text


def test_block_ratio_hidden_w_blocks_and_labels():
    model, X, y = make_problem("hidden", 5, 4, 20, 4, 1.0, 1.0, "tanh", seed=4, grid=False)
    with pytest.raises(ValueError, match="y"):
        H.block_ratio(model, X, blocks="W")            # tanh: W-W blocks depend on labels
    r = H.block_ratio(model, X, y, blocks="W")
    assert r.blocks == "W" and r.n_blocks == 4 and r.block_shape == (4, 4)
    relu, X2, y2 = make_problem("hidden", 5, 4, 20, 4, 1.0, 1.0, "relu", seed=4, grid=False)
    a = H.block_ratio(relu, X2, None, blocks="W")      # relu: φ'' = 0, label-free
    b = H.block_ratio(relu, X2, y2, blocks="W")
    assert a.aggregate == b.aggregate
    assert H.block_ratio(model, X).blocks == "V"       # V blocks never need labels


def test_float32_inputs_accumulate_in_float64():
    """float32 products, float64 accumulation: the result is float64 and agrees with the
    float64 computation to float32 accuracy. Bound: inputs are rounded to float32 (relative
    EPS32/2), logits then err by ≤ (d + 2)·EPS32·max|z|, p relatively by as much, and each
    float32 product of length C or d adds ≤ (C + d)·EPS32; the ratio (a square root of a
    quotient) inherits ≤ 2·(d + C + 4)(1 + max|z|)·EPS32 — worst case, attained rarely."""
    model, X, _ = make_problem("linear", 20, 8, 64, sigma_v=1.0, seed=6, grid=False)
    m32 = LinearClassifier(model.V.astype(np.float32))
    r64 = H.block_ratio(model, X)
    r32 = H.block_ratio(m32, X.astype(np.float32))
    assert r32.dtype == "float32" and isinstance(r32.aggregate, float)
    zmax = np.abs(model.logits(X)).max()
    rt = 2 * (8 + 20 + 4) * (1 + zmax) * EPS32
    assert math.isclose(r32.aggregate, r64.aggregate, rel_tol=rt)
    assert math.isclose(r32.per_block_mean, r64.per_block_mean, rel_tol=rt)


def test_block_shapes_of_hidden_net():
    model, X, y = make_problem("hidden", 3, 5, 7, 2, 1.0, 1.0, "relu", seed=1, grid=False)
    assert H.block(model, X, 0, 1).shape == (2, 2)
    assert H.block(model, X, 3, 4).shape == (5, 5)       # relu W-W: label-free
    assert H.block(model, X, 0, 4, y).shape == (2, 5)
    assert H.block(model, X, 4, 0, y).shape == (5, 2)
    assert H.hessian(model, X, y).shape == (model.n_params,) * 2


# ------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------

def test_bad_inputs_raise_value_error_naming_the_parameter():
    model, X, y = make_problem("linear", 4, 3, 6, sigma_v=1.0, seed=0, grid=False)
    hid, Xh, yh = make_problem("hidden", 4, 3, 6, 2, 1.0, 1.0, "tanh", seed=0, grid=False)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    cases = [
        (lambda: H.hessian(model, Xn), "X"),
        (lambda: H.hessian(model, X[:, :2]), "X"),
        (lambda: H.block_ratio(model, X.ravel()), "X"),
        (lambda: H.hessian(model, X, y[:-1]), "y"),
        (lambda: H.hessian(model, X, y + 10), "y"),
        (lambda: H.hessian(hid, Xh), "y"),
        (lambda: H.block(hid, Xh, 0, 5), "y"),
        (lambda: H.hessian(model, X, loss="hinge"), "loss"),
        (lambda: H.block(model, X, 4, 0), "i"),
        (lambda: H.block(model, X, 0, -1), "j"),
        (lambda: H.block_norms(model, X, pairs=[[0, 9]]), "pairs"),
        (lambda: H.block_norms(model, X, pairs=[0, 1]), "pairs"),
        (lambda: H.block_norms(model, X, pairs="some"), "pairs"),
        (lambda: H.block_norms(model, X, blocks="W"), "blocks"),
        (lambda: H.block_ratio(model, X, pairs=0), "pairs"),
        (lambda: H.block_ratio(model, X, level=1.5), "level"),
        (lambda: H.block_ratio(model, X, blocks="Q"), "blocks"),
        (lambda: H.hessian(model, X, max_params=5), "max_params"),
        (lambda: H.block_norms(model, X, memory_limit=10), "memory_limit"),
        (lambda: LinearClassifier(np.ones((1, 3))), "n_classes"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
    with pytest.raises(TypeError, match="model"):
        H.hessian("not a model", X)


# ------------------------------------------------------------------------------------------
# GPU
# ------------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["linear", "hidden"])
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_numpy_equals_cupy(kind, loss):
    """Same formulas on the device: only BLAS summation orders differ, within _entry_tol."""
    cp = bk.get_cupy()
    model, X, y = make_problem(kind, 6, 5, 30, 3, 1.2, 1.0, "gelu", seed=9, grid=False)
    if kind == "linear":
        gm = LinearClassifier(cp.asarray(model.V))
    else:
        gm = OneHiddenLayer(cp.asarray(model.W), cp.asarray(model.V), model.activation)
    gX, gy = cp.asarray(X), cp.asarray(y)
    tol = 2 * _entry_tol(model, X, y, loss)
    assert np.all(np.abs(bk.to_numpy(H.hessian(gm, gX, gy, loss))
                         - H.hessian(model, X, y, loss)) <= tol)
    assert np.all(np.abs(bk.to_numpy(H.block(gm, gX, 0, 1, gy, loss))
                         - H.block(model, X, 0, 1, y, loss)) <= tol)
    layers = ["V"] if kind == "linear" else ["V", "W"]
    for layer in layers:
        a = H.block_ratio(model, X, y, loss, blocks=layer)
        b = H.block_ratio(gm, gX, gy, loss, blocks=layer)
        assert b.backend == "cupy"
        # aggregate sums: relative (N² + C + d + 8)·EPS each (see test_chunked_equals_unchunked)
        rt = 8 * (30 * 30 + 6 + 5 + 8) * EPS
        assert math.isclose(a.diagonal_sq_sum, b.diagonal_sq_sum, rel_tol=rt)
        assert math.isclose(a.off_diagonal_sq_sum, b.off_diagonal_sq_sum, rel_tol=rt,
                            abs_tol=rt * a.diagonal_sq_sum)
        assert math.isclose(a.per_block_mean, b.per_block_mean, rel_tol=rt, abs_tol=rt)
    # chunked on the device equals unchunked
    s0 = H.block_norms(gm, gX, gy, loss)
    s1 = H.block_norms(gm, gX, gy, loss, memory_limit=20_000)
    assert math.isclose(s0.diagonal, s1.diagonal, rel_tol=8 * (30 * 30 + 20) * EPS)
