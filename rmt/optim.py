r"""Full-batch optimisers on parameter dicts, closed-form gradients, and the training loop.

Parameters are a dict of weight matrices named as in :mod:`rmt.models`: ``{"V": V}`` for the
linear classifier ``z = V x`` (``V`` is ``C × d``) and ``{"W": W, "V": V}`` for the one-hidden-layer
net ``z = V φ(W x)``. Arrays are NumPy or CuPy (the namespace is read off the arrays) in float64 or
float32; every function keeps the parameters' type. Nothing is mutated: ``update`` returns new
dicts.

Optimisers (each a frozen dataclass with ``init(params) -> state`` and
``update(grads, state, params) -> (new_params, new_state)``):

* :class:`GD` — ``θ ← θ − η g`` (optionally heavy-ball momentum ``m ← μ m + g``, ``θ ← θ − η m``);
* :class:`Adam` — Kingma & Ba with bias correction: ``m ← β₁m + (1−β₁)g``,
  ``v ← β₂v + (1−β₂)g∘g`` (one second moment per *entry*: a diagonal preconditioner),
  ``θ ← θ − η m̂/(√v̂ + ε)``;
* :class:`AdamMini` — the same with one second moment per *block*, the blocks of the paper (one
  per output neuron, i.e. per row of each weight matrix): ``v_i ← β₂v_i + (1−β₂) mean_j g_ij²``;
* :class:`Muon` — per weight matrix: momentum ``M ← μM + G``, direction ``D = G + μM`` (Nesterov)
  or ``M``, orthogonalised by :func:`newton_schulz`, and ``θ ← θ − η √max(1, rows/cols) · NS(D)``
  (the shape factor of K. Jordan's reference implementation, which keeps the update's RMS per
  entry comparable across shapes).

:func:`newton_schulz` normalises ``G`` by its Frobenius norm (so every singular value is ≤ 1) and
iterates ``X ← aX + b(XXᵀ)X + c(XXᵀ)²X`` on the wide orientation (``XXᵀ`` the smaller Gram
matrix). Each step maps every singular value by ``f(s) = as + bs³ + cs⁵`` and keeps the singular
vectors. Muon's default coefficients ``(3.4445, −4.7750, 2.0315)`` with 5 steps do *not* converge to
the polar factor ``UVᵀ``: they push singular values of ``[~1e-3, 1]`` into a band around 1 fast
(measured in the tests by iterating ``f`` on the input's singular values); the classical cubic
``(1.5, −0.5, 0)`` converges to ``UVᵀ`` (quadratically once ``s`` is near 1) and is what the tests
use to check orthogonality to float precision.

Gradients (:func:`loss_and_grad`), with ``G = ∂ℓ/∂Z`` (``N × C``) ``= (P − E_y)/N`` for CE and
``(Z − E_y)/N`` for MSE (``E_y`` the one-hot labels, or soft target rows ``Q``; the losses of
:func:`rmt.models.loss_value`):
linear ``∇_V = Gᵀ X``; hidden, with ``U = X Wᵀ`` and ``F = φ(U)``: ``∇_V = Gᵀ F`` and
``∇_W = ((G V) ∘ φ'(U))ᵀ X``. Cost ``O(N d C)`` (linear) or ``O(N m (d + C))`` (hidden).

:func:`train` runs full-batch steps with a step budget, records the loss at every step, notes
the first step at which the loss reaches a target, and stops early on divergence (or, if asked,
at the target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Mapping

import numpy as np

from . import backend as bk
from .models import (LOSSES, LinearClassifier, OneHiddenLayer, activation_functions,
                     check_data, check_labels, log_softmax)
from .validation import check_choice, check_int, check_real

__all__ = [
    "OPTIMIZERS",
    "MUON_COEFFS",
    "CUBIC_COEFFS",
    "GD",
    "Adam",
    "AdamMini",
    "Muon",
    "TrainResult",
    "make_optimizer",
    "newton_schulz",
    "params_from_model",
    "model_from_params",
    "loss_and_grad",
    "loss_only",
    "train",
]

#: Names accepted by :func:`make_optimizer`.
OPTIMIZERS = ("gd", "adam", "adam-mini", "muon")
#: Muon's quintic Newton–Schulz coefficients (K. Jordan, 2024): fast, not convergent to UVᵀ.
MUON_COEFFS = (3.4445, -4.7750, 2.0315)
#: The classical cubic Newton–Schulz iteration for the polar factor: X ← 1.5 X − 0.5 XXᵀX.
CUBIC_COEFFS = (1.5, -0.5, 0.0)


# --------------------------------------------------------------------------------------------
# Parameter dicts and gradients
# --------------------------------------------------------------------------------------------

def _check_params(params: Any, name: str = "params") -> tuple[str, ModuleType]:
    """Validate a parameter dict; return the model kind ("linear"/"hidden") and namespace."""
    if not isinstance(params, Mapping):
        raise TypeError(f"{name} must be a dict {{'V': V}} or {{'W': W, 'V': V}}, got "
                        f"{type(params).__name__}")
    keys = set(params)
    if keys not in ({"V"}, {"W", "V"}):
        raise ValueError(f"{name} must have keys {{'V'}} (linear) or {{'W', 'V'}} (hidden net), "
                         f"got {sorted(keys)}")
    for k in keys:
        a = params[k]
        if getattr(a, "ndim", None) != 2:
            raise ValueError(f"{name}[{k!r}] must be a 2-D array, got shape "
                             f"{getattr(a, 'shape', None)}")
    xp = bk.get_xp(*params.values())
    if keys == {"W", "V"} and params["V"].shape[1] != params["W"].shape[0]:
        raise ValueError(f"{name}['V'] must have {params['W'].shape[0]} columns (the rows of W), "
                         f"got shape {tuple(params['V'].shape)}")
    return ("linear" if keys == {"V"} else "hidden"), xp


def _check_like(name: str, tree: Any, params: Mapping[str, Any]) -> None:
    if not isinstance(tree, Mapping) or set(tree) != set(params):
        raise ValueError(f"{name} must be a dict with the keys of params {sorted(params)}, got "
                         f"{sorted(tree) if isinstance(tree, Mapping) else type(tree).__name__}")
    for k in params:
        if tuple(tree[k].shape) != tuple(params[k].shape):
            raise ValueError(f"{name}[{k!r}] must have shape {tuple(params[k].shape)}, got "
                             f"{tuple(tree[k].shape)}")


def params_from_model(model: Any) -> dict[str, Any]:
    """``{"V": V}`` or ``{"W": W, "V": V}`` (copies) from an :mod:`rmt.models` classifier."""
    if isinstance(model, LinearClassifier):
        return {"V": model.V.copy()}
    if isinstance(model, OneHiddenLayer):
        return {"W": model.W.copy(), "V": model.V.copy()}
    raise TypeError("model must be an rmt.models.LinearClassifier or OneHiddenLayer, got "
                    f"{type(model).__name__}")


def model_from_params(params: Mapping[str, Any], activation: str = "relu") -> Any:
    """The classifier of :mod:`rmt.models` with these weights (shared, not copied)."""
    kind, _ = _check_params(params)
    if kind == "linear":
        return LinearClassifier(params["V"])
    return OneHiddenLayer(params["W"], params["V"], activation)


def _forward(params: Mapping[str, Any], X: Any, y: Any, loss: str, activation: str,
             need_grad: bool) -> tuple[float, Any]:
    kind, xp = _check_params(params)
    loss = check_choice("loss", loss, LOSSES)
    V = params["V"]
    if kind == "linear":
        X = check_data(X, V.shape[1], xp)
        F = X
    else:
        W = params["W"]
        X = check_data(X, W.shape[1], xp)
        phi, dphi, _ = activation_functions(activation, xp)
        U = X @ W.T
        F = phi(U)
    N, C = int(X.shape[0]), int(V.shape[0])
    T = _targets(y, N, C, xp, dtype=F.dtype)
    Z = F @ V.T
    if loss == "ce":
        logp = log_softmax(Z)
        value = float(-xp.sum(T * logp) / N)
    else:
        value = float(0.5 * xp.mean(xp.sum((Z - T) ** 2, axis=1)))
    if not need_grad:
        return value, None
    G = (xp.exp(logp, out=logp) if loss == "ce" else Z) - T   # softmax = exp(log-softmax)
    G /= N
    grads = {"V": G.T @ F}
    if kind == "hidden":
        grads["W"] = ((G @ V) * dphi(U)).T @ X
    return value, grads


def _targets(y: Any, N: int, C: int, xp: ModuleType, dtype: Any) -> Any:
    """One-hot rows for integer labels ``y`` (N,), or ``y`` itself when it is an (N, C) array
    of probability rows (soft targets)."""
    if getattr(y, "ndim", None) == 2:
        Y = bk.asarray(y, xp)
        if tuple(Y.shape) != (N, C) or not np.issubdtype(np.dtype(Y.dtype), np.floating):
            raise ValueError(f"y as soft targets must be a floating array of shape ({N}, {C}), "
                             f"got {Y.dtype} of shape {tuple(Y.shape)}")
        # Rows on the simplex up to rounding of a C-term sum in the targets' precision.
        tol = 8 * C * float(np.finfo(np.dtype(Y.dtype)).eps)
        if (not bool(xp.all(xp.isfinite(Y))) or bool(xp.any(Y < 0))
                or float(xp.max(xp.abs(xp.sum(Y, axis=1) - 1))) > tol):
            raise ValueError("y as soft targets must hold probability rows (finite, >= 0, "
                             f"summing to 1 within {tol:.2g})")
        return Y.astype(dtype, copy=False)
    y = check_labels(y, N, C, xp)
    T = xp.zeros((N, C), dtype=dtype)
    T[xp.arange(N), y] = 1
    return T


def loss_and_grad(params: Mapping[str, Any], X: Any, y: Any, loss: str = "ce",
                  activation: str = "relu") -> tuple[float, dict[str, Any]]:
    """The training loss and its gradient in closed form.

    Parameters
    ----------
    params : dict
        ``{"V": V}`` (linear, ``V`` of shape ``(C, d)``) or ``{"W": W, "V": V}`` (hidden net,
        ``W`` ``(m, d)``, ``V`` ``(C, m)``).
    X : array, shape (N, d)
    y : array of int, shape (N,), or array of float, shape (N, C)
        Labels in ``[0, C)``, or soft targets ``q_n`` (probability rows): the loss is then
        ``−(1/N) Σ_n q_nᵀ log p_n`` (CE) or ``(1/N) Σ ½‖z_n − q_n‖²`` (MSE).
    loss : {"ce", "mse"}
        As :func:`rmt.models.loss_value` (MSE is ``(1/N) Σ ½‖z − e_y‖²``).
    activation : {"relu", "tanh", "gelu", "identity"}
        Hidden net only.

    Returns
    -------
    loss : float
    grads : dict
        Same keys, shapes, namespace and dtype as ``params``.
    """
    return _forward(params, X, y, loss, activation, True)


def loss_only(params: Mapping[str, Any], X: Any, y: Any, loss: str = "ce",
              activation: str = "relu") -> float:
    """The training loss alone (one forward pass); arguments as :func:`loss_and_grad`."""
    return _forward(params, X, y, loss, activation, False)[0]


# --------------------------------------------------------------------------------------------
# Newton–Schulz
# --------------------------------------------------------------------------------------------

def newton_schulz(G: Any, steps: int = 5, coeffs: tuple[float, float, float] = MUON_COEFFS,
                  eps: float = 1e-7) -> Any:
    """Approximate the orthogonal polar factor of a matrix by a Newton–Schulz iteration.

    Parameters
    ----------
    G : array, shape (r, c)
    steps : int, >= 0
    coeffs : (a, b, c)
        Each step is ``X ← aX + b(XXᵀ)X + c(XXᵀ)²X`` on the wide orientation of ``X`` (the input
        is transposed when ``r > c`` and transposed back), so every singular value ``s`` maps to
        ``as + bs³ + cs⁵``. :data:`MUON_COEFFS` (default) or :data:`CUBIC_COEFFS`.
    eps : float, > 0
        Added to ``‖G‖_F`` before normalising (a zero matrix maps to zero).

    Returns
    -------
    array, shape (r, c)
        ``U f^{∘steps}(Σ/(‖G‖_F + eps)) Vᵀ`` for ``G = UΣVᵀ``; with :data:`CUBIC_COEFFS` and enough
        steps, ``UVᵀ`` on the range of ``G``.
    """
    if getattr(G, "ndim", None) != 2:
        raise ValueError(f"G must be a 2-D array, got shape {getattr(G, 'shape', None)}")
    steps = check_int("steps", steps, 0)
    eps = check_real("eps", eps, 0.0, strict_min=True)
    if len(coeffs) != 3:
        raise ValueError(f"coeffs must be three numbers (a, b, c), got {coeffs!r}")
    a, b, c = (check_real("coeffs", v) for v in coeffs)
    xp = bk.get_xp(G)
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / (float(xp.sqrt(xp.sum(X * X))) + eps)
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * (A @ A) if c != 0.0 else b * A
        X = a * X + B @ X
    return X.T if tall else X


# --------------------------------------------------------------------------------------------
# Optimisers
# --------------------------------------------------------------------------------------------

def _zeros_like(params: Mapping[str, Any]) -> dict[str, Any]:
    xp = bk.get_xp(*params.values())
    return {k: xp.zeros_like(v) for k, v in params.items()}


def _check_update(grads: Any, state: Any, params: Any) -> None:
    _check_params(params)
    _check_like("grads", grads, params)
    if not isinstance(state, Mapping) or "step" not in state:
        raise ValueError("state must be the dict returned by this optimizer's init(params)")


def _lr(v: Any) -> float:
    return check_real("lr", v, 0.0, strict_min=True)


def _beta(name: str, v: Any) -> float:
    return check_real(name, v, 0.0, 1.0, strict_max=True)


@dataclass(frozen=True)
class GD:
    """Gradient descent ``θ ← θ − η g`` (heavy-ball momentum ``μ`` if ``momentum > 0``)."""

    lr: float
    momentum: float = 0.0
    name: str = field(default="gd", init=False)

    def __post_init__(self) -> None:
        _lr(self.lr)
        _beta("momentum", self.momentum)

    def init(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """State: the step count and (with momentum) the velocity."""
        _check_params(params)
        return {"step": 0, "m": _zeros_like(params) if self.momentum else None}

    def update(self, grads: Mapping[str, Any], state: Mapping[str, Any],
               params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """One step; returns ``(new_params, new_state)``."""
        _check_update(grads, state, params)
        if self.momentum:
            m = {k: self.momentum * state["m"][k] + grads[k] for k in params}
        else:
            m = grads
        new = {k: params[k] - self.lr * m[k] for k in params}
        return new, {"step": state["step"] + 1, "m": m if self.momentum else None}


@dataclass(frozen=True)
class Adam:
    """Adam with bias correction; one second moment per entry (a diagonal preconditioner)."""

    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name: str = field(default="adam", init=False)

    def __post_init__(self) -> None:
        _lr(self.lr)
        _beta("beta1", self.beta1)
        _beta("beta2", self.beta2)
        check_real("eps", self.eps, 0.0, strict_min=True)

    def _second(self, g: Any, xp: ModuleType) -> Any:
        return g * g

    def init(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """State: step count, first moments (entry-wise) and second moments."""
        _check_params(params)
        xp = bk.get_xp(*params.values())
        return {"step": 0, "m": _zeros_like(params),
                "v": {k: xp.zeros_like(self._second(p, xp)) for k, p in params.items()}}

    def update(self, grads: Mapping[str, Any], state: Mapping[str, Any],
               params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """One step; returns ``(new_params, new_state)``."""
        _check_update(grads, state, params)
        xp = bk.get_xp(*params.values())
        t = state["step"] + 1
        b1, b2 = self.beta1, self.beta2
        m = {k: b1 * state["m"][k] + (1 - b1) * grads[k] for k in params}
        v = {k: b2 * state["v"][k] + (1 - b2) * self._second(grads[k], xp) for k in params}
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        new = {k: params[k] - self.lr * (m[k] / c1) / (xp.sqrt(v[k] / c2) + self.eps)
               for k in params}
        return new, {"step": t, "m": m, "v": v}


@dataclass(frozen=True)
class AdamMini(Adam):
    """Adam-mini: Adam with one second moment per block, a block being one row of a weight
    matrix (one output neuron, the paper's blocks): ``v_i ← β₂ v_i + (1−β₂) mean_j g_ij²``."""

    name: str = field(default="adam-mini", init=False)

    def _second(self, g: Any, xp: ModuleType) -> Any:
        return xp.mean(g * g, axis=1, keepdims=True)


@dataclass(frozen=True)
class Muon:
    """Muon-style update per weight matrix: momentum, Newton–Schulz orthogonalisation, and the
    shape factor ``√max(1, rows/cols)``. See the module docstring."""

    lr: float
    momentum: float = 0.95
    nesterov: bool = True
    ns_steps: int = 5
    ns_coeffs: tuple[float, float, float] = MUON_COEFFS
    name: str = field(default="muon", init=False)

    def __post_init__(self) -> None:
        _lr(self.lr)
        _beta("momentum", self.momentum)
        check_int("ns_steps", self.ns_steps, 1)
        if len(self.ns_coeffs) != 3:
            raise ValueError(f"ns_coeffs must be three numbers (a, b, c), got {self.ns_coeffs!r}")
        for v in self.ns_coeffs:
            check_real("ns_coeffs", v)
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {type(self.nesterov).__name__}")

    def init(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """State: step count and the momentum buffers."""
        _check_params(params)
        return {"step": 0, "m": _zeros_like(params)}

    def update(self, grads: Mapping[str, Any], state: Mapping[str, Any],
               params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """One step; returns ``(new_params, new_state)``."""
        _check_update(grads, state, params)
        mu = self.momentum
        m = {k: mu * state["m"][k] + grads[k] for k in params}
        new = {}
        for k, p in params.items():
            D = grads[k] + mu * m[k] if self.nesterov else m[k]
            scale = math.sqrt(max(1.0, p.shape[0] / p.shape[1]))
            new[k] = p - (self.lr * scale) * newton_schulz(D, self.ns_steps, self.ns_coeffs)
        return new, {"step": state["step"] + 1, "m": m}


_CLASSES = {"gd": GD, "adam": Adam, "adam-mini": AdamMini, "muon": Muon}


def make_optimizer(name: str, lr: float, **options: Any) -> Any:
    """The optimiser ``name`` (one of :data:`OPTIMIZERS`) with learning rate ``lr``.

    ``options`` are the dataclass fields of that optimiser (e.g. ``beta2`` for Adam,
    ``ns_steps`` for Muon); an unknown option raises ValueError naming it.
    """
    cls = _CLASSES[check_choice("name", name, OPTIMIZERS)]
    allowed = {f for f in cls.__dataclass_fields__ if f not in ("lr", "name")}
    bad = set(options) - allowed
    if bad:
        raise ValueError(f"options for {name!r} must be among {sorted(allowed)}, got {sorted(bad)}")
    return cls(lr=lr, **options)


# --------------------------------------------------------------------------------------------
# Training loop
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    losses : ndarray, shape (n_steps + 1,)
        Training loss before each step and after the last one (float64, host).
    steps_to_target : int or None
        The first ``t`` with ``losses[t] ≤ target`` (the number of updates taken to get there);
        None if the target was not reached (or no target was given).
    diverged : bool
        Stopped because the loss became non-finite or exceeded ``divergence_factor`` × the
        initial loss.
    params : dict
        Final parameters.
    optimizer : str
    lr : float
    target : float or None
    """

    losses: np.ndarray
    steps_to_target: int | None
    diverged: bool
    params: dict[str, Any]
    optimizer: str
    lr: float
    target: float | None

    @property
    def n_steps(self) -> int:
        """Updates actually taken."""
        return int(self.losses.size - 1)

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])


def train(params: Mapping[str, Any], X: Any, y: Any, optimizer: Any, *, max_steps: int,
          loss: str = "ce", activation: str = "relu", target: float | None = None,
          stop_at_target: bool = False, divergence_factor: float = 100.0,
          callback: Callable[[int, Mapping[str, Any], float], None] | None = None) -> TrainResult:
    """Full-batch training with a step budget.

    Parameters
    ----------
    params : dict
        Initial parameters (not modified).
    X, y : arrays
        Data ``(N, d)`` and labels ``(N,)``.
    optimizer : GD, Adam, AdamMini or Muon
        Anything with ``init``, ``update``, ``name`` and ``lr``.
    max_steps : int, >= 0
        Step budget.
    loss, activation : as :func:`loss_and_grad`.
    target : float, >= 0, optional
        Loss target: ``steps_to_target`` is the first step at which the loss is ≤ it.
    stop_at_target : bool
        Stop as soon as the target is reached (else run the whole budget).
    divergence_factor : float, > 1
        Stop, marked diverged, when the loss is non-finite or above this × the initial loss.
    callback : callable, optional
        ``callback(step, params, loss)`` before each update and after the last.

    Returns
    -------
    TrainResult
    """
    max_steps = check_int("max_steps", max_steps, 0)
    if target is not None:
        target = check_real("target", target, 0.0)
    divergence_factor = check_real("divergence_factor", divergence_factor, 1.0, strict_min=True)
    for attr in ("init", "update", "name", "lr"):
        if not hasattr(optimizer, attr):
            raise TypeError(f"optimizer must have init, update, name and lr (e.g. "
                            f"rmt.optim.make_optimizer), got {type(optimizer).__name__}")
    _check_params(params)
    state = optimizer.init(params)
    p = dict(params)
    losses: list[float] = []
    hit = None
    diverged = False
    for t in range(max_steps + 1):
        if t < max_steps:
            value, grads = loss_and_grad(p, X, y, loss, activation)
        else:
            value = loss_only(p, X, y, loss, activation)
        losses.append(value)
        if callback is not None:
            callback(t, p, value)
        if hit is None and target is not None and value <= target:
            hit = t
        if not math.isfinite(value) or (losses[0] > 0 and value > divergence_factor * losses[0]):
            diverged = True
            break
        if t == max_steps or (stop_at_target and hit is not None):
            break
        p, state = optimizer.update(grads, state, p)
    return TrainResult(np.asarray(losses, dtype=np.float64), hit, diverged, p, optimizer.name,
                       float(optimizer.lr), target)
