"""Tests of rmt.training: snapshots, the training loop against rmt.optim, ℓ*, the static-force
formula, the sweep cell and the tidy results.

Tolerances: float64 recomputations along another route (other summation order) agree to a few
hundred ulps of the values compared (sums of at most N·C products of O(1) terms, N·C ≤ 10⁴
here); each check says where its number comes from.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rmt import mlp
from rmt import training as T
from rmt.datasets import make_classification
from rmt.models import LinearClassifier, OneHiddenLayer, loss_value
from rmt.optim import make_optimizer, params_from_model, train

EPS = float(np.finfo(np.float64).eps)


def _data(N=60, d=4, C=5, seed=0):
    return make_classification(N, d, C, seed=seed)


def test_snapshot_steps_and_roles():
    assert list(T.snapshot_steps(64)) == [0, 1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64]
    assert list(T.snapshot_steps(10, (0.0, 0.5, 1.0, 0.5))) == [0, 5, 10]
    assert T.snapshot_steps(10, ()).size == 0
    with pytest.raises(ValueError, match="fractions"):
        T.snapshot_steps(10, (1.5,))
    assert T.role_names(LinearClassifier.init(3, 2, seed=0)) == {"L": "V"}
    assert T.role_names(OneHiddenLayer.init(3, 2, 4, seed=0)) == {"L": "V", "Lm1": "W"}
    assert T.role_names(mlp.DeepMLP.init(3, 2, [4, 4], seed=0)) == \
        {"L": "W3", "Lm1": "W2", "Lm2": "W1"}
    with pytest.raises(ValueError, match="at most 3"):
        T.role_names(mlp.DeepMLP.init(3, 2, [2, 2, 2], seed=0))


def test_least_squares_loss_is_the_linear_optimum():
    X, y = _data(80, 4, 3)
    ls = T.least_squares_loss(X, y, 3)
    Tt = np.eye(3)[y]
    V = np.linalg.lstsq(X, Tt, rcond=None)[0].T
    assert math.isclose(ls, loss_value(LinearClassifier(V), X, y, "mse"), rel_tol=1e-12)
    # a perturbation cannot do better (it is the minimum of a convex quadratic)
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert loss_value(LinearClassifier(V + 1e-3 * rng.standard_normal(V.shape)), X, y,
                          "mse") >= ls
    assert T.loss_star("ce", X, y, 3)[0] == 0.0


def _naive_static(P, F):
    """The decoupled formula straight from its definition (loops over pairs of classes)."""
    N, C = P.shape
    G = (F @ F.T) ** 2
    mu4 = np.mean(np.diag(G))
    mu2 = (G.sum() - np.trace(G)) / (N * (N - 1))

    def sq(w):
        return (mu4 * np.sum(w * w) + mu2 * (np.sum(w) ** 2 - np.sum(w * w))) / N ** 2

    diag = sum(sq(P[:, i] * (1 - P[:, i])) for i in range(C))
    off = sum(sq(-P[:, i] * P[:, j]) for i in range(C) for j in range(C) if i != j)
    return math.sqrt(off / diag)


@pytest.mark.parametrize("scale", [0.0, 1.0, 8.0])
def test_static_force_ratio(scale):
    rng = np.random.default_rng(1)
    N, C = 40, 6
    Z = scale * rng.standard_normal((N, C))
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    F = rng.standard_normal((N, 3))
    got = T.static_force_ratio(P, F)
    # N·C² ≤ 2000 products per sum, both routes in float64
    assert math.isclose(got, _naive_static(P, F), rel_tol=1e3 * EPS)
    if scale == 0.0:                  # uniform p: every weight is a constant, ratio 1/√(C−1)
        assert math.isclose(got, 1 / math.sqrt(C - 1), rel_tol=1e3 * EPS)
    with pytest.raises(ValueError, match="same number of rows"):
        T.static_force_ratio(P, F[:3])


@pytest.mark.parametrize("kind", ["linear", "hidden"])
@pytest.mark.parametrize("opt, lr", [("gd", 0.5), ("adam", 0.01)])
def test_training_loop_follows_rmt_optim(kind, opt, lr):
    """One rmt.optim state per matrix is rmt.optim's own update (its rules act per matrix)."""
    X, y = _data()
    model = T.make_model(kind, 5, 4, 6, seed=3)
    _, rec = T.train_with_snapshots(model, X, y, make_optimizer(opt, lr), n_steps=15,
                                    fractions=(0.0, 1.0), cross=False)
    ref = train(params_from_model(model), X, y, make_optimizer(opt, lr), max_steps=15)
    # gradients by two closed-form routes differ by O(N·eps); 15 steps keep it O(1e-13)
    np.testing.assert_allclose(rec["losses"], ref.losses, rtol=1e-10)


def test_snapshot_fields_and_the_bound():
    X, y = _data(50, 4, 6)
    deep = T.make_model("deep", 6, 4, 5, seed=2)
    trained, rec = T.train_with_snapshots(deep, X, y, make_optimizer("adam", 0.02), n_steps=30,
                                          fractions=(0.0, 0.5, 1.0))
    assert list(rec["step"]) == [0, 15, 30]
    assert rec["losses"].size == 31 and rec["train_loss"][-1] == rec["losses"][-1]
    for q in ("Lm1_L", "Lm2_L", "Lm2_Lm1"):
        assert np.all(rec[f"cross_res_{q}"] <= rec[f"bound_sample_{q}"] * (1 + 1e-12))
        assert np.all(rec[f"bound_sample_{q}"] <= rec[f"bound_{q}"] * (1 + 1e-12))
    assert np.all((rec["entropy"] > 0) & (rec["entropy"] <= 1 + 1e-12))
    assert rec["entropy"][-1] < rec["entropy"][0] and rec["train_loss"][-1] < rec["train_loss"][0]
    assert np.all((rec["rivals_eff"] >= 1) & (rec["rivals_eff"] <= 5 + 1e-9))
    # the output-layer ratio of the snapshot is rmt.hessian's
    from rmt.hessian import block_norms  # noqa: PLC0415

    ref = block_norms(LinearClassifier(trained.weights[-1]), trained.features(X))
    assert math.isclose(rec["ratio_agg_L"][-1], ref.aggregate_ratio, rel_tol=1e-12)
    lin = T.snapshot(LinearClassifier.init(6, 4, seed=0), X, y, "mse")
    assert lin["ratio_agg_L"] == 0.0 and math.isnan(lin["cross_res_Lm1_L"])
    assert math.isnan(lin["static_ratio_agg_L"])


def test_mini_batches_cover_each_pass_and_are_seeded():
    b = T._batches(10, 3, 7)
    first = [next(b) for _ in range(3)]
    assert len(np.unique(np.concatenate(first))) == 9      # no repeat within a pass
    b2 = T._batches(10, 3, 7)
    assert all(np.array_equal(u, next(b2)) for u in first)
    assert next(T._batches(10, None, 0)) is None
    X, y = _data()
    m = T.make_model("hidden", 5, 4, 6, seed=1)
    _, r1 = T.train_with_snapshots(m, X, y, make_optimizer("gd", 0.5), n_steps=8,
                                   batch_size=16, seed=4, fractions=(1.0,), cross=False)
    _, r2 = T.train_with_snapshots(m, X, y, make_optimizer("gd", 0.5), n_steps=8,
                                   batch_size=16, seed=4, fractions=(1.0,), cross=False)
    assert np.array_equal(r1["losses"], r2["losses"])


def test_run_cell():
    lr = {"gd-ce": 0.5, "gd-mse": 0.05, "adam-ce": 0.02, "adam-mse": 0.02}
    kw = dict(seed=0, dim=3, hidden=6, n_samples=40, n_steps=10, lr=lr, fractions=(0.0, 1.0))
    rec = T.run_cell("hidden", 4, "mse", "gd", **kw)
    X, y = make_classification(40, 3, 4, seed=T.bk.spawn_seeds(0, 3)[0])
    assert rec["loss_star"] <= T.least_squares_loss(X, y, 4)
    assert np.all(rec["loss_gap"] >= 0)
    ce = T.run_cell("linear", 4, "ce", "adam", **kw)
    assert ce["loss_star"] == 0.0 and np.array_equal(ce["loss_gap"], ce["train_loss"])
    with pytest.raises(ValueError, match="lr must give"):
        T.run_cell("hidden", 4, "ce", "gd", **{**kw, "lr": {"adam-ce": 1.0}})
    with pytest.raises(ValueError, match="model"):
        T.make_model("cnn", 4, 3, 6)


def test_diverging_training_is_reported():
    X, y = _data()
    m = T.make_model("hidden", 5, 4, 6, seed=1)
    with pytest.raises(FloatingPointError, match="lr"):
        T.train_with_snapshots(m, X, y, make_optimizer("gd", 1e6), n_steps=50, loss="mse",
                               fractions=(), cross=False)


def test_tidy_and_table(tmp_path):
    pytest.importorskip("xarray")
    from rmt.sweep import Grid, run_sweep  # noqa: PLC0415

    lr = {"gd-ce": 0.5, "gd-mse": 0.05, "adam-ce": 0.02, "adam-mse": 0.02}
    grid = Grid({"model": ["hidden"], "C": [3], "loss": ["ce", "mse"], "optimizer": ["adam"]},
                n_seeds=3, fixed={"dim": 3, "hidden": 6, "n_samples": 30, "n_steps": 8, "lr": lr,
                                  "fractions": [0.0, 0.5, 1.0]})
    raw = run_sweep(T.run_cell, grid, tmp_path / "t.nc", progress=False)
    ds = T.tidy(raw)
    assert ds.sizes["snapshot"] == 3 and list(ds["fraction"].values) == [0.0, 0.5, 1.0]
    v = ds["cross_res_Lm1_L"].sel(model="hidden", C=3, loss="ce", optimizer="adam")
    from rmt.stats import mean_estimate  # noqa: PLC0415

    e = mean_estimate(v.isel(snapshot=2).values)
    assert math.isclose(float(ds["cross_res_Lm1_L_mean"].sel(model="hidden", C=3, loss="ce",
                                                            optimizer="adam")[2]), e.value)
    assert np.all(np.isnan(ds["cross_res_Lm2_L_mean"]))
    rows = T.table(ds)
    assert [(r["loss"], r["C"]) for r in rows] == [("ce", 3), ("mse", 3)]
    m, lo, hi = rows[0]["loss_gap@1"]
    assert lo <= m <= hi
