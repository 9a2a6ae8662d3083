r"""Training with Hessian snapshots: the block structure along training (the dynamic force).

:func:`train_with_snapshots` trains a classifier of :mod:`rmt.models` or :mod:`rmt.mlp` on
labelled data with an optimiser of :mod:`rmt.optim` (full batch, or seeded mini-batches) and, at
chosen steps, records with :func:`snapshot`:

* the training loss ``ℓ`` and the loss gap ``ℓ − ℓ*`` (``ℓ*`` given by the caller; see
  :func:`loss_star`), the accuracy, the mean wrong-class mass ``mean_n (1 − p_{n,y_n})``, the
  softmax's departure from uniform (the mean entropy of ``p`` over ``log C``, 1 at uniform) and
  the effective number of rival classes (participation ratio of the wrong-class mass);
* for every layer (rows of the weight matrix as blocks): the exact aggregate ratio
  ``(Σ_{i≠j}‖H_ij‖²_F / Σ_i‖H_ii‖²_F)^{1/2}`` and the per-block RMS ratio
  ``(mean_{i≠j}‖H_ij‖²_F / mean_i‖H_ii‖²_F)^{1/2}`` (:func:`rmt.mlp.block_summary`);
* for every pair of layers: Frobenius norms of the cross-layer block's Gauss–Newton part and
  of its residual part (linear in ``g``), and the derived bound on
  the residual part (:func:`rmt.mlp.residual_bound`);
* for the output layer under CE, the *static-force formula with trained weights*
  (:func:`static_force_ratio`): the aggregate ratio the init-time derivation gives when the
  trained softmax weights are plugged in and their dependence on the features is dropped.

Layers are named by their distance from the output, so that every model has the same names:
``L`` (output layer; ``V`` of the linear and one-hidden-layer models), ``Lm1`` (the layer below:
``W`` of the one-hidden-layer net) and ``Lm2`` (``W_1`` of a depth-3 MLP). Pairs are
``Lm1_L`` (``H_WV`` for the one-hidden-layer net), ``Lm2_L`` and ``Lm2_Lm1``.

Optimisers: the objects of :mod:`rmt.optim` update ``{"V": ·}`` or ``{"W": ·, "V": ·}`` dicts.
Every optimiser there acts on each weight matrix on its own (entry-wise, row-wise or
matrix-wise), so :class:`_PerLayer` runs one state per matrix, as ``{"V": W_l}``: for the
linear and one-hidden-layer models the updates are exactly those of ``rmt.optim``, and a
deep MLP gets the same per-matrix rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import backend as bk
from . import mlp
from .models import (LOSSES, LinearClassifier, OneHiddenLayer, check_labels, log_softmax,
                     loss_value)
from .validation import check_choice, check_int, check_real

__all__ = [
    "MODELS",
    "ROLES",
    "PAIRS",
    "DEFAULT_FRACTIONS",
    "snapshot_steps",
    "role_names",
    "least_squares_loss",
    "loss_star",
    "static_force_ratio",
    "snapshot",
    "train_with_snapshots",
    "tiles_along_training",
    "make_model",
    "run_cell",
    "CI_LEVEL",
    "tidy",
    "table",
]

MODELS = ("linear", "hidden", "deep")
#: Layer names by distance from the output.
ROLES = ("L", "Lm1", "Lm2")
#: Cross-layer pairs (lower, upper) by role.
PAIRS = (("Lm1", "L"), ("Lm2", "L"), ("Lm2", "Lm1"))
#: Snapshot points as fractions of the step budget: dense early (the loss falls fastest there)
#: and every eighth after; 0, 1/2 and 1 are always included.
DEFAULT_FRACTIONS = (0.0, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 5 / 8, 3 / 4,
                     7 / 8, 1.0)


def snapshot_steps(n_steps: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> np.ndarray:
    """Distinct steps ``round(f · n_steps)`` for the fractions ``f`` in ``[0, 1]``, sorted
    (empty for no fractions)."""
    n_steps = check_int("n_steps", n_steps, 0)
    fr = [check_real("fractions", f, 0.0, 1.0) for f in fractions]
    return np.unique(np.round(np.asarray(fr) * n_steps).astype(np.int64))


def role_names(model: Any) -> dict[str, str]:
    """Role (``L``, ``Lm1``, ``Lm2``) → the layer's name in :func:`rmt.mlp.layer_names`."""
    names = mlp.layer_names(model)
    if len(names) > len(ROLES):
        raise ValueError(f"model must have at most {len(ROLES)} weight matrices for the role "
                         f"names, got {len(names)}")
    return {ROLES[k]: names[-1 - k] for k in range(len(names))}


# --------------------------------------------------------------------------------------------
# ℓ* and the static-force formula
# --------------------------------------------------------------------------------------------

def least_squares_loss(X: Any, y: Any, n_classes: int) -> float:
    """``min_V (1/N) Σ ½‖V x_n − e_{y_n}‖²``: the MSE optimum of the linear model (exact, by
    least squares), and an upper bound on the MSE optimum of any model that contains every
    linear map (e.g. ReLU nets with hidden widths ``>= 2d``: ``x = relu(x) − relu(−x)``)."""
    Xh = bk.to_numpy(X).astype(np.float64, copy=False)
    C = check_int("n_classes", n_classes, 2)
    yh = bk.to_numpy(check_labels(y, Xh.shape[0], C, bk.get_xp(y)))
    T = np.zeros((Xh.shape[0], C))
    T[np.arange(Xh.shape[0]), yh] = 1.0
    coef, *_ = np.linalg.lstsq(Xh, T, rcond=None)
    R = Xh @ coef - T
    return float(0.5 * np.mean(np.sum(R * R, axis=1)))


def loss_star(loss: str, X: Any, y: Any, n_classes: int) -> tuple[float, str]:
    """``(ℓ*, how)``: the reference optimum of the loss gap for labels that a linear map
    separates (``rmt.datasets.make_classification`` with a linear teacher and no temperature).

    CE: ``ℓ* = 0``, the infimum (not attained): a separating linear map scaled up drives every
    ``p_{n,y_n}`` to 1, and every model here contains the linear maps. MSE:
    :func:`least_squares_loss`, exact for the linear model and an upper bound on ``ℓ*`` of the
    ReLU nets (so their gap is then a lower bound; :func:`run_cell` lowers ``ℓ*`` further with
    a continuation run).
    """
    loss = check_choice("loss", loss, LOSSES)
    if loss == "ce":
        return 0.0, "0 (CE infimum: labels separable by a linear map the model contains)"
    return least_squares_loss(X, y, n_classes), "linear least-squares optimum (exact for linear)"


def _rivals(P: np.ndarray, y: np.ndarray) -> float:
    """Mean over samples of the participation ratio ``(Σ_{c≠y} p_c)² / Σ_{c≠y} p_c²`` of the
    wrong-class mass: ``C − 1`` when it is spread evenly, 1 when it sits on one class."""
    W = P.copy()
    W[np.arange(P.shape[0]), y] = 0.0
    s2 = np.sum(W * W, axis=1)
    ok = s2 > 0
    return float(np.mean(np.sum(W[ok], axis=1) ** 2 / s2[ok])) if ok.any() else math.nan


def _one_minus(P: np.ndarray) -> np.ndarray:
    """``1 − P`` with the largest entry of each row replaced by the sum of the others (no
    cancellation when one probability is close to 1)."""
    out = 1.0 - P
    top = np.argmax(P, axis=1)
    rows = np.arange(P.shape[0])
    rest = P.copy()
    rest[rows, top] = 0.0
    out[rows, top] = rest.sum(axis=1)
    return out


def static_force_ratio(P: Any, F: Any) -> float:
    r"""The static-force formula with trained weights: the output layer's CE aggregate ratio when
    the per-sample weights ``A_n`` are decoupled from the features.

    The blocks are ``H_ij = (1/N) Σ_n w_n f_n f_nᵀ`` (``w = −p_i p_j`` off the diagonal,
    ``p_i(1 − p_i)`` on it), so ``‖H_ij‖²_F = (1/N²) Σ_{n,n'} w_n w_{n'} (f_nᵀ f_{n'})²``. The
    init-time derivation treats the weights as independent of the features; doing the same
    with the *trained* weights replaces ``(f_nᵀ f_n)²`` by its mean ``μ₄`` and
    ``(f_nᵀ f_{n'})²`` (``n ≠ n'``) by its mean ``μ₂``:
    ``‖H_ij‖² ≈ (1/N²) [μ₄ Σ_n w_n² + μ₂ ((Σ_n w_n)² − Σ_n w_n²)]``. Returns
    ``(Σ_{i≠j} / Σ_i)^{1/2}`` of these. The sums over pairs are formed directly (no
    total − diagonal), and ``1 − p`` of the top class as the sum of the others.

    Parameters
    ----------
    P : array, shape (N, C)
        Softmax probabilities.
    F : array, shape (N, p)
        The output layer's input features (``X`` for the linear model, ``a_{L-1}`` for a net).
    """
    P = bk.to_numpy(P).astype(np.float64, copy=False)
    F = bk.to_numpy(F).astype(np.float64, copy=False)
    N = P.shape[0]
    if N < 2 or F.shape[0] != N:
        raise ValueError(f"P and F must have the same number of rows N >= 2, got {P.shape[0]} "
                         f"and {F.shape[0]}")
    G = F @ F.T
    G *= G
    mu4 = float(np.mean(np.diag(G)))
    mu2 = float((G.sum() - np.trace(G)) / (N * (N - 1.0)))
    Q = P * _one_minus(P)                          # diagonal weights p_i (1 − p_i)
    d_w2 = float(np.sum(Q * Q))
    d_s2 = float(np.sum(Q.sum(axis=0) ** 2))
    S = P * P                                      # Σ_{i≠j} p_i² p_j² per sample, directly
    top = np.argmax(S, axis=1)
    rest = S.copy()
    rest[np.arange(N), top] = 0.0
    rs = rest.sum(axis=1)
    o_w2 = float(np.sum(2 * S[np.arange(N), top] * rs + rs * rs - np.sum(rest * rest, axis=1)))
    M = P.T @ P
    np.fill_diagonal(M, 0.0)
    o_s2 = float(np.sum(M * M))
    diag = mu4 * d_w2 + mu2 * (d_s2 - d_w2)
    off = mu4 * o_w2 + mu2 * (o_s2 - o_w2)
    return math.sqrt(max(off, 0.0) / diag) if diag > 0 else math.nan


# --------------------------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------------------------

def snapshot(model: Any, X: Any, y: Any, loss: str = "ce", *, loss_star_value: float = 0.0,
             cross: bool = True) -> dict[str, float]:
    """Everything recorded at one point of training (see the module docstring).

    Returns
    -------
    dict of str → float
        ``train_loss``, ``loss_gap``, ``accuracy``, ``wrong_mass``, ``entropy`` (mean entropy of
        ``p`` / ``log C``), ``rivals_eff`` (mean participation ratio of the wrong-class mass,
        :func:`_rivals`); per role ``r``: ``ratio_agg_r``, ``ratio_rms_r``, ``diag_sq_r``;
        per pair ``q``: ``cross_gn_q``, ``cross_res_q``, ``bound_q``,
        ``bound_sample_q`` (the per-sample form ``(1/N) Σ c_n ‖g_n‖``), ``bound_sqrt_q`` (the
        form ``c_rms √(2ℓ)``), ``c_rms_q``, ``c_max_q``; and
        ``static_ratio_agg_L`` (CE; NaN for MSE, whose output layer is exactly block-diagonal).
        Roles and pairs the model lacks are NaN.
    """
    loss = check_choice("loss", loss, LOSSES)
    roles = role_names(model)
    xp = model.xp
    Z = model.logits(X)
    y = check_labels(y, int(Z.shape[0]), model.n_classes, xp)
    Zh = bk.to_numpy(Z).astype(np.float64, copy=False)
    yh = bk.to_numpy(y)
    N, C = Zh.shape
    rows = np.arange(N)
    lp = log_softmax(Zh)
    P = np.exp(lp)
    if loss == "ce":
        value = float(-np.mean(lp[rows, yh]))
    else:
        R = Zh.copy()
        R[rows, yh] -= 1.0
        value = float(0.5 * np.mean(np.sum(R * R, axis=1)))
    out: dict[str, float] = {
        "train_loss": value,
        "loss_gap": value - float(loss_star_value),
        "accuracy": float(np.mean(np.argmax(Zh, axis=1) == yh)),
        "wrong_mass": float(np.mean(_one_minus(P)[rows, yh])),
        "entropy": float(np.mean(-np.sum(P * lp, axis=1)) / math.log(C)),
        "rivals_eff": _rivals(P, yh),
    }
    has_hidden = len(roles) > 1
    summ = mlp.block_summary(model, X, y, loss, cross=cross and has_hidden)
    by_name = {s.blocks: s for s in summ.layers}
    for r in ROLES:
        s = by_name.get(roles.get(r))
        out[f"ratio_agg_{r}"] = s.aggregate_ratio if s else math.nan
        out[f"ratio_rms_{r}"] = mlp.rms_per_block(s) if s else math.nan
        out[f"diag_sq_{r}"] = s.diagonal if s else math.nan
    bounds = mlp.residual_bound(model, X, y, loss) if cross and has_hidden else {}
    cn = {(c.lower, c.upper): c for c in summ.cross}
    for lo, hi in PAIRS:
        key = (roles.get(lo), roles.get(hi))
        c, b = cn.get(key), bounds.get(key)
        q = f"{lo}_{hi}"
        out[f"cross_gn_{q}"] = c.gn if c else math.nan
        out[f"cross_res_{q}"] = c.residual if c else math.nan
        out[f"bound_{q}"] = b["bound"] if b else math.nan
        out[f"bound_sample_{q}"] = b["per_sample"] if b else math.nan
        out[f"c_rms_{q}"] = b["c_rms"] if b else math.nan
        out[f"c_max_{q}"] = b["c_max"] if b else math.nan
        out[f"bound_sqrt_{q}"] = b["sqrt_bound"] if b else math.nan
    if loss == "ce":
        feats = X if isinstance(model, LinearClassifier) else model.features(X)
        out["static_ratio_agg_L"] = static_force_ratio(P, feats)
    else:
        out["static_ratio_agg_L"] = math.nan
    return out


class _PerLayer:
    """One :mod:`rmt.optim` state per weight matrix, each as ``{"V": W_l}`` (see module doc)."""

    def __init__(self, optimizer: Any, weights: Sequence[Any]):
        for attr in ("init", "update", "name", "lr"):
            if not hasattr(optimizer, attr):
                raise TypeError(f"optimizer must have init, update, name and lr (e.g. "
                                f"rmt.optim.make_optimizer), got {type(optimizer).__name__}")
        self.opt = optimizer
        self.states = [optimizer.init({"V": W}) for W in weights]

    def step(self, weights: Sequence[Any], grads: Sequence[Any]) -> tuple[Any, ...]:
        out = []
        for k, (W, G) in enumerate(zip(weights, grads)):
            new, self.states[k] = self.opt.update({"V": G}, self.states[k], {"V": W})
            out.append(new["V"])
        return tuple(out)


def _rebuild(model: Any, weights: Sequence[Any]) -> Any:
    if isinstance(model, LinearClassifier):
        return LinearClassifier(weights[0])
    if isinstance(model, OneHiddenLayer):
        return OneHiddenLayer(weights[0], weights[1], model.activation)
    return mlp.DeepMLP(tuple(weights), model.activation)


def _batches(N: int, batch_size: int | None, seed: Any):
    """Index arrays, one per step: all samples, or seeded batches without replacement within
    each pass over the data (a fresh permutation per pass)."""
    if batch_size is None or batch_size >= N:
        while True:
            yield None
    rng = bk.default_rng(seed, np)
    while True:
        perm = rng.permutation(N)
        for k in range(0, N - batch_size + 1, batch_size):
            yield perm[k:k + batch_size]


def train_with_snapshots(model: Any, X: Any, y: Any, optimizer: Any, *, n_steps: int,
                         loss: str = "ce", fractions: Sequence[float] = DEFAULT_FRACTIONS,
                         batch_size: int | None = None, seed: Any = None,
                         loss_star_value: float | None = None, cross: bool = True,
                         on_snapshot: Callable[[int, Any], None] | None = None,
                         record: bool = True) -> tuple[Any, dict[str, np.ndarray]]:
    """Train ``model`` and record :func:`snapshot` at the chosen steps.

    Parameters
    ----------
    model : LinearClassifier, OneHiddenLayer or DeepMLP
        Initial weights (not modified).
    X, y : arrays
        Training data ``(N, d)`` and labels ``(N,)``; snapshots always use all of it.
    optimizer : an optimiser of :mod:`rmt.optim` (e.g. ``make_optimizer("adam", 1e-3)``)
    n_steps : int, >= 1
        Updates taken.
    loss : {"ce", "mse"}
    fractions : sequence of float in [0, 1]
        Snapshot points as fractions of ``n_steps`` (:func:`snapshot_steps`; empty: none).
    batch_size : int, optional
        Mini-batch size (``None``: full batch). Batches are drawn without replacement within
        each pass, from a generator seeded by ``seed``.
    seed : int, SeedSequence or Generator, optional
        Seeds the mini-batches only.
    loss_star_value : float, optional
        ``ℓ*`` of the loss gap (default: :func:`loss_star`).
    cross : bool
        Record the cross-layer norms and bounds (models with a hidden layer).
    on_snapshot : callable, optional
        ``on_snapshot(step, model)`` at every snapshot (e.g. to keep the weights); the
        trajectory does not depend on the snapshots.
    record : bool
        Compute :func:`snapshot` at the snapshot steps (False: only call ``on_snapshot``).

    Returns
    -------
    model : the trained model
    record : dict of str → ndarray
        ``step`` (the snapshot steps), every key of :func:`snapshot` as an array over them,
        and ``losses``: the full-batch training loss before every update and after the last.
    """
    n_steps = check_int("n_steps", n_steps, 1)
    loss = check_choice("loss", loss, LOSSES)
    weights, _ = mlp.layers(model)
    N = int(X.shape[0])
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1, N)
    if loss_star_value is None:
        loss_star_value, _ = loss_star(loss, X, y, model.n_classes)
    steps = snapshot_steps(n_steps, fractions)
    opt = _PerLayer(optimizer, weights)
    batches = _batches(N, batch_size, seed)
    rec: dict[str, list[float]] = {}
    losses = []
    cur = model
    k = 0
    for t in range(n_steps + 1):
        if k < steps.size and t == steps[k]:
            if record:
                for key, v in snapshot(cur, X, y, loss, loss_star_value=loss_star_value,
                                       cross=cross).items():
                    rec.setdefault(key, []).append(v)
            if on_snapshot is not None:
                on_snapshot(t, cur)
            k += 1
        with np.errstate(over="ignore", invalid="ignore"):   # a divergence is reported below
            losses.append(loss_value(cur, X, y, loss))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the training loss became {losses[-1]} at step {t}; lower "
                                     f"the learning rate lr")
        if t == n_steps:
            break
        idx = next(batches)
        Xb, yb = (X, y) if idx is None else (X[idx], y[idx])
        grads = mlp.gradient(cur, Xb, yb, loss)
        cur = _rebuild(cur, opt.step(mlp.layers(cur)[0], grads))
    out: dict[str, Any] = {key: np.asarray(v, dtype=np.float64) for key, v in rec.items()}
    out["step"] = steps.astype(np.float64)
    out["losses"] = np.asarray(losses, dtype=np.float64)
    return cur, out


def tiles_along_training(model: Any, X: Any, y: Any, optimizer: Any, *, n_steps: int,
                         loss: str = "ce", fractions: Sequence[float] = (0.0, 0.5, 1.0),
                         parts: Sequence[str] = ("full", "residual")) -> list[dict[str, Any]]:
    """The dense Hessian's per-tile RMS norms (one tile per pair of output neurons, i.e. rows
    of the weight matrices; :func:`rmt.training_figures.tile_norms`) at snapshots of training.

    Returns one dict per snapshot: ``step``, ``loss`` and, for each part in ``parts``
    (``"full"``, ``"gn"``, ``"residual"``; :func:`rmt.mlp.dense_hessian`), the tile matrix.
    Small models only (the dense Hessian has ``P²`` entries).
    """
    from .training_figures import tile_norms  # noqa: PLC0415

    kept: list[tuple[int, Any]] = []
    train_with_snapshots(model, X, y, optimizer, n_steps=n_steps, loss=loss,
                         fractions=fractions, record=False,
                         on_snapshot=lambda t, m: kept.append((t, m)))
    sizes = model.block_sizes()
    return [{"step": t, "loss": loss_value(m, X, y, loss),
             **{part: tile_norms(bk.to_numpy(mlp.dense_hessian(m, X, y, loss, part=part)),
                                 sizes) for part in parts}} for t, m in kept]


# --------------------------------------------------------------------------------------------
# One cell of the sweep
# --------------------------------------------------------------------------------------------

def make_model(kind: str, n_classes: int, dim: int, hidden: int, *, depth: int = 3,
               seed: Any = None) -> Any:
    """A LeCun-initialised model: ``"linear"``, ``"hidden"`` (width ``hidden``) or ``"deep"``
    (``depth − 1`` hidden layers of width ``hidden``), ReLU."""
    kind = check_choice("model", kind, MODELS)
    if kind == "linear":
        return LinearClassifier.init(n_classes, dim, seed=seed)
    if kind == "hidden":
        return OneHiddenLayer.init(n_classes, dim, hidden, seed=seed)
    depth = check_int("depth", depth, 3)
    return mlp.DeepMLP.init(n_classes, dim, [hidden] * (depth - 1), seed=seed)


def run_cell(model: str, C: int, loss: str, optimizer: str, *, seed: Any, dim: int,
             hidden: int, n_samples: int, n_steps: int, lr: Mapping[str, float],
             depth: int = 3, batch_size: int | None = None,
             fractions: Sequence[float] = DEFAULT_FRACTIONS,
             blas_threads: int | None = 1) -> dict[str, Any]:
    """One training run of the sweep: data, model, training with snapshots, ``ℓ*``.

    Data: ``rmt.datasets.make_classification`` (linear teacher, ``x ~ N(0, I_d)``, argmax
    labels), so the labels are separable by a linear map and CE has ``ℓ* = 0`` (the nets need
    hidden widths ``>= 2d`` to contain every linear map). For MSE, ``ℓ*`` is the linear
    least-squares optimum, lowered for the nets to the smallest loss of a continuation (Adam,
    ``lr["adam-mse"]``, ``n_steps`` more full-batch steps from the final weights): an upper
    estimate of the nets' ``ℓ*``, so their gap is a lower estimate.

    ``lr`` maps ``"<optimizer>-<loss>"`` (e.g. ``"gd-ce"``) to a learning rate.
    ``blas_threads`` caps host BLAS threads for the run (None: no cap); one thread per run is
    right when several runs share a few cores. Returns the record of
    :func:`train_with_snapshots` plus ``loss_star``. Seeds: child 0 of ``seed`` draws the data,
    child 1 the weights, child 2 the mini-batches.
    """
    from .datasets import make_classification  # noqa: PLC0415
    from .optim import make_optimizer  # noqa: PLC0415

    loss = check_choice("loss", loss, LOSSES)
    keys = [f"{optimizer}-{loss}"] + (["adam-mse"] if loss == "mse" and model != "linear" else [])
    for key in keys:
        if key not in lr:
            raise ValueError(f"lr must give a learning rate for {key!r}, got keys {sorted(lr)}")
    if blas_threads is not None:
        with bk.limit_blas_threads(check_int("blas_threads", blas_threads, 1)):
            return run_cell(model, C, loss, optimizer, seed=seed, dim=dim, hidden=hidden,
                            n_samples=n_samples, n_steps=n_steps, lr=lr, depth=depth,
                            batch_size=batch_size, fractions=fractions, blas_threads=None)
    s_data, s_model, s_batch = bk.spawn_seeds(seed, 3)
    X, y = make_classification(n_samples, dim, C, seed=s_data)
    net = make_model(model, C, dim, hidden, depth=depth, seed=s_model)
    ls, _ = loss_star(loss, X, y, C)
    opt = make_optimizer(optimizer, float(lr[keys[0]]))
    trained, rec = train_with_snapshots(net, X, y, opt, n_steps=n_steps, loss=loss,
                                        fractions=fractions, batch_size=batch_size,
                                        seed=s_batch, loss_star_value=ls)
    if loss == "mse" and model != "linear":
        cont = make_optimizer("adam", float(lr["adam-mse"]))
        _, more = train_with_snapshots(trained, X, y, cont, n_steps=n_steps, loss=loss,
                                       fractions=(), loss_star_value=ls)
        best = float(min(ls, np.min(rec["losses"]), np.min(more["losses"])))
        rec["loss_gap"] = rec["train_loss"] - best
        ls = best
    rec["loss_star"] = float(ls)
    return rec


# --------------------------------------------------------------------------------------------
# The sweep's results
# --------------------------------------------------------------------------------------------

#: Confidence level of the intervals over seeds in :func:`tidy` and :func:`table`.
CI_LEVEL = 0.95


def tidy(raw: Any) -> Any:
    """The sweep's Dataset with one ``snapshot`` dimension and statistics over seeds.

    Every 1-D output of :func:`run_cell` (its own ``<name>_index`` dimension in
    :func:`rmt.sweep.run_sweep`) goes onto ``snapshot`` (``losses`` onto ``iteration``);
    ``fraction`` is the snapshot step over the step budget. For every variable ``v`` with a
    ``seed`` dimension, :func:`rmt.sweep.summarise_seeds` adds ``v_mean``, ``v_se``,
    ``v_ci_low`` and ``v_ci_high``: the mean over seeds and its ``CI_LEVEL`` Student-t interval
    (NaN where the model lacks the quantity).
    """
    ren = {}
    for name in raw.data_vars:
        idx = f"{name}_index"
        if idx in raw[name].dims:
            ren[name] = raw[name].rename({idx: "iteration" if name == "losses" else "snapshot"})
    ds = raw.drop_vars(list(ren)).assign(ren)
    ds = ds.drop_dims([d for d in ds.dims if d.endswith("_index")], errors="ignore")
    n_steps = int(ds.attrs.get("sweep_fixed", {}).get("n_steps", 0)) or None
    step = ds["step"].isel({d: 0 for d in ds["step"].dims if d != "snapshot"})
    coords = {"snapshot": np.arange(ds.sizes["snapshot"])}
    if n_steps:
        coords["fraction"] = ("snapshot", np.asarray(step) / n_steps)
    ds = ds.assign_coords(coords)
    from .sweep import summarise_seeds  # noqa: PLC0415

    names = [n for n in ds.data_vars if "seed" in ds[n].dims and n != "losses"]
    ds = summarise_seeds(ds, names, level=CI_LEVEL)
    ds.attrs["ci_level"] = CI_LEVEL
    return ds


def table(ds: Any, *, model: str = "hidden", optimizer: str | None = None,
          fractions: Sequence[float] = (0.0, 0.5, 1.0),
          columns: Sequence[tuple[str, str]] = (
              ("ratio_agg_L", "output-layer aggregate ratio"),
              ("cross_res_Lm1_L", "‖residual part of H_WV‖_F"),
              ("loss_gap", "loss gap ℓ − ℓ*"))) -> list[dict[str, Any]]:
    """Rows ``(loss, C, optimizer)`` × the given columns at the given fractions of training:
    ``{"loss", "C", "optimizer", "<column>@<fraction>": (mean, ci_low, ci_high)}`` from
    :func:`tidy`'s statistics (``CI_LEVEL`` Student-t over seeds)."""
    sub = ds.sel(model=model)
    opts = [optimizer] if optimizer else list(np.asarray(sub["optimizer"]))
    snaps = [int(np.argmin(np.abs(np.asarray(sub["fraction"]) - f))) for f in fractions]
    rows = []
    for loss in np.asarray(sub["loss"]):
        for C in np.asarray(sub["C"]):
            for opt in opts:
                cell = sub.sel(loss=loss, C=C, optimizer=opt)
                row: dict[str, Any] = {"loss": str(loss), "C": int(C), "optimizer": str(opt)}
                for var, _ in columns:
                    for f, s in zip(fractions, snaps):
                        row[f"{var}@{f:g}"] = tuple(float(cell[f"{var}_{k}"][s]) for k in
                                                    ("mean", "ci_low", "ci_high"))
                rows.append(row)
    return rows
