"""Tests of the foundation proofs: softmax_hessian, chain_rule, identities, hidden_coupling.

Every derivation must pass; its SymPy objects, lambdified, must agree with direct numerical
evaluation (finite differences of :func:`rmt.models.loss_value` / :func:`rmt.models.log_softmax`,
numpy-formed Hessian blocks, Monte Carlo moments) and with :mod:`rmt.hessian`.

Tolerances (each stated where it is used):

* closed form against closed form, both in float64: entries are sums of ``N`` products of
  ``O(1)`` terms, so their rounding error is at most a few ``N · eps`` times the largest entry;
* finite differences: the central second difference with step ``h`` has truncation error
  ``O(h²)``, estimated from two step sizes (Richardson), plus rounding ``O(eps |ℓ| / h²)``;
* Monte Carlo: 5 standard errors of the estimated mean (a false alarm has probability below
  1e-6 per comparison for an approximately normal mean; the seeds are fixed anyway).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp

import proofs
from proofs import chain_rule, softmax_hessian
from rmt.models import (LinearClassifier, OneHiddenLayer, activation_functions, log_softmax,
                        loss_value, softmax)

EPS = np.finfo(np.float64).eps
MODULES = ("softmax_hessian", "chain_rule", "identities", "hidden_coupling")
IDS = [
    "softmax_hessian.explicit", "softmax_hessian.index",
    "chain_rule.linear", "chain_rule.hidden",
    "identities.row_sums", "identities.psd", "identities.mse_linear", "identities.uniform_ratio",
    "hidden_coupling.w_moments", "hidden_coupling.ratio", "hidden_coupling.relu_factor",
]


@functools.cache
def result(did: str) -> proofs.ProofResult:
    """Run a derivation once per test session (several tests read its objects)."""
    return proofs.registry()[did].run()


# ----------------------------------------------------------------------------- registry ------

def test_registry_has_exactly_these_derivations():
    reg = proofs.registry()
    mine = sorted(k for k, d in reg.items() if d.module.rsplit(".", 1)[-1] in MODULES)
    assert mine == sorted(IDS)
    for did in IDS:
        st = reg[did].statement
        assert st and "\n" not in st


@pytest.mark.parametrize("did", IDS)
def test_derivation_passes(did):
    res = result(did)
    assert res.passed, res.detail
    assert res.objects


def test_run_all_reports_them():
    out = proofs.run_all(["softmax_hessian.index", "identities.row_sums"])
    assert [d.id for d, _, _ in out] == ["softmax_hessian.index", "identities.row_sums"]
    assert all(r.passed for _, r, _ in out)


# ----------------------------------------------------------------- finite differences ----

def fd_hessian(f, theta, h):
    """Central second differences of ``f`` at ``theta`` with step ``h`` (diagonal: step 2h)."""
    P = theta.size
    H = np.empty((P, P))
    E = np.eye(P) * h
    for i in range(P):
        for j in range(i, P):
            v = (f(theta + E[i] + E[j]) - f(theta + E[i] - E[j])
                 - f(theta - E[i] + E[j]) + f(theta - E[i] - E[j])) / (4 * h * h)
            H[i, j] = H[j, i] = v
    return H


def fd_with_error(f, theta, h):
    """Richardson-extrapolated FD Hessian and an elementwise error bound.

    ``D(h) = H + c h² + O(h⁴)``, so ``(4 D(h/2) − D(h))/3`` has error ``O(h⁴)`` and
    ``|D(h) − D(h/2)| ≈ ¾ |c| h²`` bounds it generously; for an entry whose ``h²`` coefficient
    happens to vanish, the ``O(h⁴)`` remainder is covered by ``(h/2)⁴ · max|D|`` (the losses
    here are smooth with O(1) derivatives at O(1) inputs); rounding adds
    ``4 evaluations · eps · |f| / (4 (h/2)²)`` (each value of ``f`` is correct to a few eps · |f|).
    """
    D1, D2 = fd_hessian(f, theta, h), fd_hessian(f, theta, h / 2)
    R = (4 * D2 - D1) / 3
    scale = max(abs(f(theta)), 1.0)
    err = (np.abs(D1 - D2) + (h / 2) ** 4 * max(np.abs(D2).max(), 1.0)
           + 8 * EPS * scale / (h / 2) ** 2)
    return R, err


# ----------------------------------------------------------------------- (a) softmax ------

@pytest.mark.parametrize("C", softmax_hessian.EXPLICIT_CLASSES)
def test_logit_hessian_matches_fd_of_log_softmax(C):
    objs = result("softmax_hessian.explicit").objects
    z_sym, A_sym = objs["logit_symbols"][C], objs["logit_hessian"][C]
    A_fun = sp.lambdify(z_sym, A_sym, "numpy")
    rng = np.random.default_rng(100 + C)
    for y in range(C):
        z = rng.normal(scale=2.0, size=C)
        f = lambda t, y=y: -float(log_softmax(t[None, :])[0, y])  # noqa: E731
        R, err = fd_with_error(f, z, 1e-2)
        A = np.asarray(A_fun(*z), dtype=float)
        assert np.all(np.abs(A - R) <= err + 1e-12), np.max(np.abs(A - R) - err)
        # the closed form itself: diag(p) − ppᵀ
        p = softmax(z[None, :])[0]
        np.testing.assert_allclose(A, np.diag(p) - np.outer(p, p), rtol=0, atol=8 * EPS)


def test_logit_hessian_matrix_function_is_label_free_and_lambdifiable():
    z, A = softmax_hessian.logit_hessian_matrix(4)
    assert A.free_symbols <= set(z)
    f = sp.lambdify(z, A, "numpy")
    np.testing.assert_allclose(np.asarray(f(0, 0, 0, 0), float),
                               np.eye(4) / 4 - np.ones((4, 4)) / 16, atol=4 * EPS)


def test_index_form_objects():
    o = result("softmax_hessian.index").objects
    i, j, p = o["i"], o["j"], o["p"]
    assert sp.simplify(o["A_index"].subs(j, i) - (p[i] - p[i] ** 2)) == 0
    assert not o["A_index_z"].has(o["y"])


def test_eliminate_exp_refuses_unknown_exponentials():
    a, b, t = sp.symbols("a b t")
    assert softmax_hessian.eliminate_exp(sp.exp(2 * a) * sp.exp(b), [a, b], [t, sp.Symbol("u")]) \
        == t ** 2 * sp.Symbol("u")
    with pytest.raises(ValueError):
        softmax_hessian.eliminate_exp(sp.exp(a + 1), [a], [t])


# ------------------------------------------------------------------- (b) chain rule ------

def _lambdified_hidden():
    o = result("chain_rule.hidden").objects
    return {k: sp.lambdify(o["args_hidden"], o[f"hidden_{k}"], "numpy")
            for k in ("full", "VV", "WW", "VW", "WW_coeff")}


def _per_sample_AG(Z, y, loss):
    N, C = Z.shape
    E = np.eye(C)[y]
    if loss == "ce":
        P = softmax(Z)
        return [np.diag(p) - np.outer(p, p) for p in P], P - E
    return [np.eye(C)] * N, Z - E


def hidden_hessian_from_proof(model, X, y, loss):
    """Average over samples of the lambdified per-sample block formulas of chain_rule.hidden."""
    fun = _lambdified_hidden()["full"]
    phi, dphi, ddphi = activation_functions(model.activation)
    U = X @ model.W.T
    Z = phi(U) @ model.V.T
    A, G = _per_sample_AG(Z, y, loss)
    col = lambda v: v.reshape(-1, 1)  # noqa: E731
    H = sum(np.asarray(fun(A[n], col(G[n]), model.V, col(phi(U[n])), col(X[n]),
                           col(dphi(U[n])), col(ddphi(U[n]))), float) for n in range(len(X)))
    return H / len(X)


def linear_hessian_from_proof(model, X, loss):
    o = result("chain_rule.linear").objects
    fun = sp.lambdify(o["args_linear"], o["linear_hessian_sample"], "numpy")
    A, _ = _per_sample_AG(X @ model.V.T, np.zeros(len(X), int), loss)
    return sum(np.asarray(fun(A[n], X[n].reshape(-1, 1)), float) for n in range(len(X))) / len(X)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_linear_formula_matches_fd_of_loss(loss):
    rng = np.random.default_rng(7)
    model = LinearClassifier.init(3, 4, sigma=1.0, seed=8)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    f = lambda th: loss_value(model.with_parameters(th), X, y, loss)  # noqa: E731
    R, err = fd_with_error(f, model.parameters(), 1e-2)
    H = linear_hessian_from_proof(model, X, loss)
    assert np.all(np.abs(H - R) <= err + 1e-12), np.max(np.abs(H - R) - err)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_hidden_formula_matches_fd_of_loss(loss):
    # tanh: φ'' ≠ 0, so the residual terms of the W-W and V-W blocks are exercised
    rng = np.random.default_rng(11)
    model = OneHiddenLayer.init(3, 4, 3, sigma=1.0, activation="tanh", seed=12)
    X = rng.standard_normal((5, 4))
    y = rng.integers(0, 3, 5)
    f = lambda th: loss_value(model.with_parameters(th), X, y, loss)  # noqa: E731
    R, err = fd_with_error(f, model.parameters(), 1e-2)
    H = hidden_hessian_from_proof(model, X, y, loss)
    assert np.all(np.abs(H - R) <= err + 1e-12), np.max(np.abs(H - R) - err)


def test_block_expressions_lambdify_with_symbolic_sizes():
    funs = _lambdified_hidden()
    rng = np.random.default_rng(3)
    C, m, d = 4, 3, 5
    A = rng.standard_normal((C, C)); A = A + A.T
    g, V = rng.standard_normal((C, 1)), rng.standard_normal((C, m))
    h, x, d1, d2 = (rng.standard_normal((k, 1)) for k in (m, d, m, m))
    full = funs["full"](A, g, V, h, x, d1, d2)
    assert full.shape == (C * m + m * d,) * 2
    np.testing.assert_allclose(full, full.T, atol=0)
    gam = funs["WW_coeff"](A, g, V, h, x, d1, d2)
    want = (V.T @ A @ V) * (d1 @ d1.T) + np.diag((V.T @ g).ravel() * d2.ravel())
    np.testing.assert_allclose(gam, want, rtol=64 * EPS * C, atol=64 * EPS * C * np.abs(want).max())


def test_chain_rule_check_can_fail():
    # a negative control: the exact test rejects a wrong formula (A ⊗ xxᵀ with A = diag(p))
    model = chain_rule.explicit_linear(3, 2, 2, "ce")
    wrong = sp.zeros(6, 6)
    for n in range(2):
        p = softmax_hessian.softmax_vector(list(model["logits"][n]))
        wrong += sp.kronecker_product(sp.diag(*p), model["X"][n, :].T * model["X"][n, :])
    assert not chain_rule.difference_is_zero(model["hessian"] - wrong / 2, model["logits"], "ce")
    mse = chain_rule.explicit_linear(3, 2, 2, "mse")
    assert not chain_rule.difference_is_zero(mse["hessian"] * 2, mse["logits"], "mse")


# -------------------------------------------------------------------- (c) identities ------

def formed_linear_ce_hessian(V, X):
    """Plain-numpy closed form (1/N) Σ_n (diag p_n − p_n p_nᵀ) ⊗ x_n x_nᵀ."""
    P = softmax(X @ V.T)
    N = len(X)
    return sum(np.kron(np.diag(p) - np.outer(p, p), np.outer(x, x)) for p, x in zip(P, X)) / N


def block_fro(H, C, d):
    return np.array([[np.linalg.norm(H[i * d:(i + 1) * d, j * d:(j + 1) * d]) for j in range(C)]
                     for i in range(C)])


@pytest.mark.parametrize("C", [2, 3, 5, 10])
def test_uniform_ratios_match_formed_blocks(C):
    o = result("identities.uniform_ratio").objects
    per = sp.lambdify(o["C"], o["per_block_ratio_v0"], "numpy")
    agg = sp.lambdify(o["C"], o["aggregate_ratio_v0"], "numpy")
    N, d = 30, 4
    X = np.random.default_rng(C).standard_normal((N, d))
    F = block_fro(formed_linear_ce_hessian(np.zeros((C, d)), X), C, d)
    off = ~np.eye(C, dtype=bool)
    ratios = (F / np.diag(F)[:, None])[off]
    aggregate = np.sqrt(np.sum(F[off] ** 2) / np.sum(np.diag(F) ** 2))
    # entries: sums of N products → relative error ≲ N eps; norms add d² terms → (N + d²) eps
    rtol = 10 * (N + d * d) * EPS
    np.testing.assert_allclose(ratios, per(C), rtol=rtol)
    np.testing.assert_allclose(aggregate, agg(C), rtol=rtol)


def test_row_sums_and_psd_on_formed_hessian():
    rng = np.random.default_rng(5)
    C, d, N = 6, 3, 40
    V, X = rng.normal(scale=1 / np.sqrt(d), size=(C, d)), rng.standard_normal((N, d))
    H = formed_linear_ce_hessian(V, X)
    scale = np.abs(H).max()
    rows = sum(H[:, j * d:(j + 1) * d] for j in range(C))
    # Σ_j H_ij = 0 up to rounding: C blocks summed, entries with error ≲ N eps · scale
    assert np.abs(rows).max() <= 10 * C * N * EPS * scale
    w = np.linalg.eigvalsh(H)
    # H ⪰ 0: eigenvalues ≥ −(perturbation) ≥ −‖δH‖₂ ≲ −P · N eps · scale (Weyl)
    assert w.min() >= -10 * C * d * N * EPS * scale
    # the SOS certificate numerically: vᵀAv = ½ Σ p_i p_j (v_i − v_j)²
    p = softmax(rng.standard_normal((1, C)))[0]
    v = rng.standard_normal(C)
    q = v @ (np.diag(p) - np.outer(p, p)) @ v
    cert = 0.5 * np.sum(np.outer(p, p) * (v[:, None] - v[None, :]) ** 2)
    np.testing.assert_allclose(q, cert, rtol=0, atol=10 * C * C * EPS * (v ** 2).max())


def test_mse_linear_block_lambdifies():
    o = result("identities.mse_linear").objects
    X, N, i, j = o["mse_linear_block_args"]
    f = sp.lambdify((X, N, i, j), o["mse_linear_block"], "numpy")
    Xn = np.random.default_rng(2).standard_normal((7, 3))
    np.testing.assert_allclose(f(Xn, 7, 1, 1), Xn.T @ Xn / 7, rtol=16 * 7 * EPS)
    np.testing.assert_allclose(f(Xn, 7, 0, 1), 0 * Xn.T @ Xn, atol=0)


# --------------------------------------------------------------- (d) hidden coupling ------

@pytest.mark.parametrize("C", [3, 8])
def test_w_coefficient_moments_monte_carlo(C):
    o = result("hidden_coupling.w_moments").objects
    sym = [o["C"], o["sigma"], o["m"]]
    m, sigma, T = 4, 1.3, 20000
    s = sigma / np.sqrt(m)
    rng = np.random.default_rng(40 + C)
    V = rng.normal(scale=s, size=(T, C, 2))  # the two columns v_k, v_l of V
    A0 = (np.eye(C) - np.ones((C, C)) / C) / C
    for loss, A in (("ce", A0), ("mse", np.eye(C))):
        c = np.einsum("tck,cd,tdl->tkl", V, A, V)
        for key, sample in ((f"E_ckk_{loss}", c[:, 0, 0]), (f"E_ckl2_{loss}", c[:, 0, 1] ** 2),
                            (f"E_ckk2_{loss}", c[:, 0, 0] ** 2)):
            want = float(sp.lambdify(sym, o[key])(C, sigma, m))
            se = sample.std(ddof=1) / np.sqrt(T)
            assert abs(sample.mean() - want) <= 5 * se, (key, sample.mean(), want, se)


def test_ratio_objects_lambdify():
    o = result("hidden_coupling.ratio").objects
    Cs, rho, m = o["C"], o["rho"], o["m"]
    f = sp.lambdify((Cs, rho), o["w_block_ratio_ce"], "numpy")
    np.testing.assert_allclose(f(np.array([3.0, 15.0]), 0.5), 0.5 / np.sqrt([4.0, 16.0]))
    g = sp.lambdify((Cs, rho, m), o["w_aggregate_ratio_mse"], "numpy")
    np.testing.assert_allclose(g(7.0, 1.0, 5.0), np.sqrt(4 / 9))
    assert float(sp.lambdify(Cs, o["v_block_ratio_ce"])(11)) == pytest.approx(0.1, rel=4 * EPS)


def test_relu_factor_exact_moments_monte_carlo():
    o = result("hidden_coupling.relu_factor").objects
    d, N, T = 12, 6, 4000
    Ediag = float(o["EM2_diag"].subs({o["d"]: d, o["N"]: N}))
    Eoff = float(o["EM2_offdiag"].subs({o["d"]: d, o["N"]: N}))
    rng = np.random.default_rng(9)
    Q, _ = np.linalg.qr(rng.standard_normal((d, 2)))  # orthonormal rows w_k, w_l (assumption O)
    X = rng.standard_normal((T, N, d))
    U = X @ Q  # (T, N, 2)
    a, b = (U[..., 0] > 0).astype(float), (U[..., 1] > 0).astype(float)
    K = np.einsum("tnd,tmd->tnm", X, X) ** 2
    for w, want in ((a, Ediag), (a * b, Eoff)):
        sq = np.einsum("tn,tnm,tm->t", w, K, w) / N ** 2  # ‖M‖²_F by the Gram identity
        se = sq.std(ddof=1) / np.sqrt(T)
        assert abs(sq.mean() - want) <= 5 * se, (sq.mean(), want, se)
    lim = sp.lambdify(o["gamma"], o["rho2_relu"])
    assert lim(0.5) == pytest.approx(3 / 8, rel=4 * EPS)


@pytest.mark.parametrize("C", [4, 12])
def test_w_block_ratio_prediction_for_small_logits(C):
    """Actual CE W-blocks of a ReLU net with tiny V (p ≈ 1/C) against ρ/√(C+1), pair by pair.

    E_V‖H_kl‖² / E_V‖H_kk‖² = (1/(C+1)) ‖M_kl‖²/‖M_kk‖² at fixed W, X. Tolerance: 5 Monte Carlo
    standard errors of the ratio (delta method) plus the O(logit scale) departure from
    uniform p (logits ~ 1e-3 here, so ≲ 1e-2 relative is generous).
    """
    o = result("hidden_coupling.ratio").objects
    pred = sp.lambdify(o["C"], o["w_coeff_ratio_sq_ce"])(C)
    rng = np.random.default_rng(60 + C)
    m, d, N, T = 3, 6, 20, 3000
    X = rng.standard_normal((N, d))
    W = rng.normal(scale=1 / np.sqrt(d), size=(m, d))
    U = X @ W.T
    Hf, D1 = np.maximum(U, 0), (U > 0).astype(float)
    G = (X @ X.T) ** 2 / N ** 2  # ‖(1/N) Σ w_n x_n x_nᵀ‖² = wᵀ G w
    s = 1e-3 / np.sqrt(m)
    V = rng.normal(scale=s, size=(T, C, m))
    P = softmax(np.einsum("nk,tck->tnc", Hf, V))
    # c_{n,kl} = v_kᵀ A_n v_l with A_n = diag(p_n) − p_n p_nᵀ
    PV = np.einsum("tnc,tck->tnk", P, V)
    c = np.einsum("tnc,tck,tcl->tnkl", P, V, V) - PV[..., :, None] * PV[..., None, :]
    Gam = c * D1[None, :, :, None] * D1[None, :, None, :]  # ReLU: φ'' = 0
    sq = np.einsum("tnkl,nm,tmkl->tkl", Gam, G, Gam)  # ‖H_kl‖²_F for every draw
    Msq = np.einsum("nk,nl,nm,mk,ml->kl", D1, D1, G, D1, D1)  # ‖M_kl‖²_F
    for k in range(m):
        for l in range(m):
            if k == l:
                continue
            want = pred * Msq[k, l] / Msq[k, k]
            x, yv = sq[:, k, l], sq[:, k, k]
            r = x.mean() / yv.mean()
            cov = np.cov(x, yv)
            se = abs(r) * np.sqrt(cov[0, 0] / x.mean() ** 2 + cov[1, 1] / yv.mean() ** 2
                                  - 2 * cov[0, 1] / (x.mean() * yv.mean())) / np.sqrt(T)
            assert abs(r - want) <= 5 * se + 1e-2 * want, (k, l, r, want, se)


# -------------------------------------------------------------- cross-check rmt.hessian ----

hessian_mod = pytest.importorskip("rmt.hessian")


def _rtol_closed_form(N):
    # two float64 closed forms summing N per-sample terms of a few flops each
    return 64 * N * EPS


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_rmt_hessian_linear_matches_proof(loss):
    rng = np.random.default_rng(21)
    model = LinearClassifier.init(4, 3, sigma=1.5, seed=22)
    X = rng.standard_normal((9, 3))
    y = rng.integers(0, 4, 9)
    mine = linear_hessian_from_proof(model, X, loss)
    theirs = np.asarray(hessian_mod.hessian(model, X, y, loss))
    scale = np.abs(mine).max()
    np.testing.assert_allclose(theirs, mine, rtol=0, atol=_rtol_closed_form(9) * scale)
    d = model.dim
    for i, j in [(0, 0), (0, 1), (3, 2)]:
        b = np.asarray(hessian_mod.block(model, X, i, j, y=None, loss=loss))
        np.testing.assert_allclose(b, mine[i * d:(i + 1) * d, j * d:(j + 1) * d], rtol=0,
                                   atol=_rtol_closed_form(9) * scale)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_rmt_hessian_hidden_matches_proof(loss, activation):
    rng = np.random.default_rng(31)
    C, d, m, N = 3, 4, 3, 7
    model = OneHiddenLayer.init(C, d, m, sigma=1.2, activation=activation, seed=32)
    X = rng.standard_normal((N, d))
    y = rng.integers(0, C, N)
    mine = hidden_hessian_from_proof(model, X, y, loss)
    theirs = np.asarray(hessian_mod.hessian(model, X, y, loss))
    scale = np.abs(mine).max()
    np.testing.assert_allclose(theirs, mine, rtol=0, atol=_rtol_closed_form(N) * scale)
    # blocks: 0..C−1 rows of V (m each), C..C+m−1 rows of W (d each)
    off = [k * m for k in range(C)] + [C * m + k * d for k in range(m)]
    size = [m] * C + [d] * m
    for i, j in [(0, 0), (0, 2), (C, C), (C, C + 2), (1, C + 1), (C + 2, 0)]:
        b = np.asarray(hessian_mod.block(model, X, i, j, y=y, loss=loss))
        want = mine[off[i]:off[i] + size[i], off[j]:off[j] + size[j]]
        np.testing.assert_allclose(b, want, rtol=0, atol=_rtol_closed_form(N) * scale)


def test_rmt_hessian_uniform_ratio_matches_proof():
    o = result("identities.uniform_ratio").objects
    per = sp.lambdify(o["C"], o["per_block_ratio_v0"])
    C, d, N = 5, 4, 12
    model = LinearClassifier(np.zeros((C, d)))
    X = np.random.default_rng(4).standard_normal((N, d))
    H = np.asarray(hessian_mod.hessian(model, X))
    F = block_fro(H, C, d)
    off = ~np.eye(C, dtype=bool)
    np.testing.assert_allclose((F / np.diag(F)[:, None])[off], per(C), rtol=10 * (N + d * d) * EPS)


def test_require_names_the_failed_step():
    """A failing check ends the derivation with passed = False and the step's name."""
    import proofs

    @proofs.derivation("test.planted_failure", "a derivation whose second step is false")
    def planted() -> proofs.ProofResult:
        x = sp.Symbol("x")
        proofs.require("(x + 1)² expands", sp.expand((x + 1) ** 2 - x**2 - 2 * x - 1) == 0)
        proofs.require("x² = x (false)", sp.expand(x**2 - x) == 0)
        return proofs.ProofResult(True, {"symbols": proofs.by_name(x)})

    try:
        res = planted()
        assert not res.passed and res.detail == "test.planted_failure: step failed: x² = x (false)"
        with pytest.raises(proofs.DerivationStepFailed, match="x² = x"):
            proofs.require("x² = x", False)
        with pytest.raises(ValueError, match="distinct"):
            proofs.by_name(sp.Symbol("a"), sp.Symbol("a", positive=True))
    finally:
        proofs._REGISTRY.pop("test.planted_failure", None)
