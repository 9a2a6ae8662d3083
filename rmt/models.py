"""Classifiers at random initialisation: the linear model and the one-hidden-layer network.

Conventions (fixed; every other module relies on them):

* Data ``X`` has shape ``(N, d)``: one sample per row. Labels ``y`` are integers in ``[0, C)``.
* :class:`LinearClassifier`: logits ``z = V x`` with ``V`` of shape ``(C, d)``.
* :class:`OneHiddenLayer`: logits ``z = V φ(W x)`` with ``W`` ``(m, d)`` and ``V`` ``(C, m)``,
  no biases.
* Initialisation: entries iid ``N(0, σ²/fan_in)`` (``fan_in = d`` for the first layer, ``m`` for
  the second); ``σ = 1`` is LeCun initialisation.
* Parameters are ordered block by block: the rows ``v_1, …, v_C`` of ``V``, then (hidden model)
  the rows ``w_1, …, w_m`` of ``W``. So ``θ = concat(V.ravel(), W.ravel())`` in C order.
* Losses, averaged over samples: cross-entropy ``ℓ = −(1/N) Σ_n log p_{n, y_n}``, and
  ``ℓ = (1/N) Σ_n ½‖z_n − e_{y_n}‖²`` for MSE against one-hot targets (the ½ makes the Hessian
  of the loss in the logits the identity).

Softmax is computed through log-sum-exp, so logits of ±1e4 give finite, exact probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from . import backend as bk
from .validation import check_choice, check_int, check_matrix, check_real

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "LinearClassifier",
    "OneHiddenLayer",
    "activation_functions",
    "log_softmax",
    "softmax",
    "check_data",
    "check_labels",
    "loss_value",
]

ACTIVATIONS = ("relu", "tanh", "gelu", "identity")
LOSSES = ("ce", "mse")


def log_softmax(Z: Any, axis: int = -1) -> Any:
    """Log-probabilities ``Z − logsumexp(Z)`` along ``axis``, stable for any finite logits."""
    xp = bk.get_xp(Z)
    shifted = Z - xp.max(Z, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def softmax(Z: Any, axis: int = -1) -> Any:
    """Softmax probabilities along ``axis`` via log-sum-exp (no overflow for logits ±1e4)."""
    xp = bk.get_xp(Z)
    shifted = Z - xp.max(Z, axis=axis, keepdims=True)
    E = xp.exp(shifted)
    return E / xp.sum(E, axis=axis, keepdims=True)


def _erf(xp: ModuleType) -> Callable[[Any], Any]:
    if bk.backend_name(xp) == "cupy":
        from cupyx.scipy.special import erf  # noqa: PLC0415 - lazy GPU import
    else:
        from scipy.special import erf  # noqa: PLC0415
    return erf


def activation_functions(name: str, xp: ModuleType = np) -> tuple[Callable, Callable, Callable]:
    """``(φ, φ', φ'')`` for an activation name in :data:`ACTIVATIONS`, as ``xp`` functions.

    GELU is the exact form ``x Φ(x)``; ReLU's derivatives are taken as ``1[x > 0]`` and ``0``
    (almost everywhere).
    """
    name = check_choice("activation", name, ACTIVATIONS)
    if name == "relu":
        return (lambda u: xp.maximum(u, 0),
                lambda u: (u > 0).astype(u.dtype),
                lambda u: xp.zeros_like(u))
    if name == "tanh":
        return (xp.tanh,
                lambda u: 1 - xp.tanh(u) ** 2,
                lambda u: -2 * xp.tanh(u) * (1 - xp.tanh(u) ** 2))
    if name == "identity":
        return (lambda u: u, lambda u: xp.ones_like(u), lambda u: xp.zeros_like(u))
    erf = _erf(xp)
    # Python floats, not NumPy scalars: a NumPy float64 scalar would promote float32 arrays to
    # float64 (NEP 50, NumPy 2 and CuPy >= 14).
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    inv_sqrt2pi = 1.0 / math.sqrt(2.0 * math.pi)

    def cdf(u: Any) -> Any:
        return 0.5 * (1 + erf(u * inv_sqrt2))

    def pdf(u: Any) -> Any:
        return inv_sqrt2pi * xp.exp(-0.5 * u * u)

    return (lambda u: u * cdf(u),
            lambda u: cdf(u) + u * pdf(u),
            lambda u: pdf(u) * (2 - u * u))


def check_data(X: Any, dim: int, xp: ModuleType, name: str = "X") -> Any:
    """Validate a data matrix of shape ``(N, dim)`` (finite, floating) for module ``xp``."""
    if bk.backend_name(bk.get_xp(X)) != bk.backend_name(xp):
        raise ValueError(
            f"{name} is a {bk.backend_name(bk.get_xp(X))} array but the model lives on "
            f"{bk.backend_name(xp)}; move one of them (rmt.backend.asarray)")
    return check_matrix(name, X, xp, cols=dim)


def check_labels(y: Any, n_samples: int, n_classes: int, xp: ModuleType) -> Any:
    """Validate integer labels of shape ``(N,)`` with values in ``[0, C)``; return an ``xp`` array."""
    y = bk.asarray(y, xp)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(f"y must have shape ({n_samples},) to match X, got {tuple(y.shape)}")
    if not np.issubdtype(np.dtype(y.dtype), np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if n_samples and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y must hold labels in [0, {n_classes - 1}], got range "
                         f"[{int(y.min())}, {int(y.max())}]")
    return y


def _init_matrix(rows: int, cols: int, fan_in: int, sigma: float, seed: Any, xp: ModuleType,
                 dtype: Any, draw_on: str) -> Any:
    G = bk.standard_normal((rows, cols), seed, xp, dtype, draw_on)
    # a Python float keeps G's dtype (a NumPy float64 scalar would promote float32 to float64)
    G *= float(sigma) / math.sqrt(fan_in)
    return G


def _trusted(cls: type, **fields: Any) -> Any:
    """An instance of the frozen dataclass ``cls`` without its input checks: for arrays this
    module has just drawn (finite by construction), so that no check reads them back from a
    device."""
    obj = object.__new__(cls)
    for k, v in fields.items():
        object.__setattr__(obj, k, v)
    return obj


@dataclass(frozen=True, eq=False)
class LinearClassifier:
    """Linear classifier ``z = V x`` with ``V`` of shape ``(C, d)``.

    Parameters
    ----------
    V : array, shape (C, d)
        Weight matrix (NumPy or CuPy); its rows ``v_i`` index the Hessian blocks.
    """

    V: Any

    def __post_init__(self) -> None:
        xp = bk.get_xp(self.V)
        check_matrix("V", self.V, xp)
        if self.V.shape[0] < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {self.V.shape[0]}")

    @classmethod
    def init(cls, n_classes: int, dim: int, sigma: float = 1.0, seed: Any = None,
             backend: str | None = None, dtype: Any = None,
             draw_on: str = "auto") -> "LinearClassifier":
        """Random initialisation ``V_ij ~ N(0, σ²/d)``.

        Parameters
        ----------
        n_classes : int, >= 2
        dim : int, >= 1
        sigma : float, >= 0
            Logit scale: each logit ``v_iᵀx`` of a standard Gaussian ``x`` has variance ≈ σ².
        seed : int, SeedSequence or Generator, optional
        backend : {"numpy", "cupy"}, optional
        dtype : float32 or float64 (default)
            The dtype of ``V``.
        draw_on : {"auto", "host", "device"}
            Where ``V`` is drawn (:func:`rmt.backend.resolve_draw_on`): on the device for CuPy
            by default; ``"host"`` gives NumPy's numbers on either backend.
        """
        C = check_int("n_classes", n_classes, 2)
        d = check_int("dim", dim, 1)
        s = check_real("sigma", sigma, 0.0)
        xp = bk.xp_for(backend)
        dt = bk.resolve_dtype(dtype)
        return _trusted(cls, V=_init_matrix(C, d, d, s, seed, xp, dt, draw_on))

    @property
    def xp(self) -> ModuleType:
        return bk.get_xp(self.V)

    @property
    def n_classes(self) -> int:
        return int(self.V.shape[0])

    @property
    def dim(self) -> int:
        return int(self.V.shape[1])

    @property
    def n_params(self) -> int:
        return self.n_classes * self.dim

    def block_sizes(self) -> list[int]:
        """Sizes of the Hessian blocks in parameter order: ``C`` blocks of size ``d``."""
        return [self.dim] * self.n_classes

    def logits(self, X: Any) -> Any:
        """Logits ``Z = X Vᵀ``, shape ``(N, C)``."""
        check_data(X, self.dim, self.xp)
        return self._logits(X)

    def _logits(self, X: Any) -> Any:
        """:meth:`logits` without the input check (for callers that checked ``X``)."""
        return X @ self.V.T

    def probabilities(self, X: Any) -> Any:
        """Softmax probabilities ``P``, shape ``(N, C)``."""
        return softmax(self.logits(X))

    def parameters(self) -> Any:
        """The flat parameter vector ``θ = V.ravel()`` (rows of V in order)."""
        return self.V.reshape(-1).copy()

    def with_parameters(self, theta: Any) -> "LinearClassifier":
        """A model with parameters ``θ`` (same ordering as :meth:`parameters`)."""
        theta = bk.asarray(theta, self.xp, self.V.dtype)
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {theta.shape}")
        return LinearClassifier(theta.reshape(self.V.shape))


@dataclass(frozen=True, eq=False)
class OneHiddenLayer:
    """One-hidden-layer network ``z = V φ(W x)`` without biases.

    Parameters
    ----------
    W : array, shape (m, d)
        First-layer weights; row ``w_k`` is hidden unit ``k``.
    V : array, shape (C, m)
        Second-layer weights; row ``v_c`` is class ``c``.
    activation : {"relu", "tanh", "gelu", "identity"}
    """

    W: Any
    V: Any
    activation: str = "relu"

    def __post_init__(self) -> None:
        xp = bk.get_xp(self.W, self.V)
        check_matrix("W", self.W, xp)
        check_matrix("V", self.V, xp, cols=self.W.shape[0])
        if self.V.shape[0] < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {self.V.shape[0]}")
        object.__setattr__(self, "activation", check_choice("activation", self.activation,
                                                            ACTIVATIONS))

    @classmethod
    def init(cls, n_classes: int, dim: int, hidden: int, sigma: float = 1.0,
             activation: str = "relu", seed: Any = None, backend: str | None = None,
             dtype: Any = None, draw_on: str = "auto") -> "OneHiddenLayer":
        """Random initialisation ``W_kj ~ N(0, σ²/d)``, ``V_ck ~ N(0, σ²/m)`` (σ = 1: LeCun).

        Parameters
        ----------
        n_classes : int, >= 2
        dim : int, >= 1
        hidden : int, >= 1
            Hidden width ``m``.
        sigma : float, >= 0
        activation : {"relu", "tanh", "gelu", "identity"}
        seed, backend, dtype, draw_on : as for :meth:`LinearClassifier.init`
        """
        C = check_int("n_classes", n_classes, 2)
        d = check_int("dim", dim, 1)
        m = check_int("hidden", hidden, 1)
        s = check_real("sigma", sigma, 0.0)
        act = check_choice("activation", activation, ACTIVATIONS)
        xp = bk.xp_for(backend)
        dt = bk.resolve_dtype(dtype)
        seed_w, seed_v = bk.spawn_seeds(seed, 2)  # never advances a caller's SeedSequence
        return _trusted(cls, W=_init_matrix(m, d, d, s, seed_w, xp, dt, draw_on),
                        V=_init_matrix(C, m, m, s, seed_v, xp, dt, draw_on), activation=act)

    @property
    def xp(self) -> ModuleType:
        return bk.get_xp(self.W, self.V)

    @property
    def n_classes(self) -> int:
        return int(self.V.shape[0])

    @property
    def dim(self) -> int:
        return int(self.W.shape[1])

    @property
    def hidden(self) -> int:
        return int(self.W.shape[0])

    @property
    def n_params(self) -> int:
        return self.n_classes * self.hidden + self.hidden * self.dim

    def block_sizes(self) -> list[int]:
        """Sizes of the Hessian blocks in parameter order: ``C`` blocks of size ``m`` (rows of
        V), then ``m`` blocks of size ``d`` (rows of W)."""
        return [self.hidden] * self.n_classes + [self.dim] * self.hidden

    def preactivations(self, X: Any) -> Any:
        """Hidden pre-activations ``U = X Wᵀ``, shape ``(N, m)``."""
        check_data(X, self.dim, self.xp)
        return X @ self.W.T

    def features(self, X: Any) -> Any:
        """Hidden features ``φ(X Wᵀ)``, shape ``(N, m)``."""
        phi, _, _ = activation_functions(self.activation, self.xp)
        return phi(self.preactivations(X))

    def logits(self, X: Any) -> Any:
        """Logits ``Z = φ(X Wᵀ) Vᵀ``, shape ``(N, C)``."""
        return self.features(X) @ self.V.T

    def _logits(self, X: Any) -> Any:
        """:meth:`logits` without the input check (for callers that checked ``X``)."""
        phi, _, _ = activation_functions(self.activation, self.xp)
        return phi(X @ self.W.T) @ self.V.T

    def probabilities(self, X: Any) -> Any:
        """Softmax probabilities ``P``, shape ``(N, C)``."""
        return softmax(self.logits(X))

    def parameters(self) -> Any:
        """The flat parameter vector ``θ = concat(V.ravel(), W.ravel())``."""
        xp = self.xp
        return xp.concatenate([self.V.reshape(-1), self.W.reshape(-1)])

    def with_parameters(self, theta: Any) -> "OneHiddenLayer":
        """A model with parameters ``θ`` (same ordering as :meth:`parameters`)."""
        theta = bk.asarray(theta, self.xp, self.V.dtype)
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {theta.shape}")
        nv = self.V.size
        return OneHiddenLayer(theta[nv:].reshape(self.W.shape), theta[:nv].reshape(self.V.shape),
                              self.activation)


Model = LinearClassifier | OneHiddenLayer


def loss_value(model: Model, X: Any, y: Any, loss: str = "ce") -> float:
    """The training loss (a float) of ``model`` on ``(X, y)``.

    ``"ce"``: ``−(1/N) Σ log p_{n,y_n}``; ``"mse"``: ``(1/N) Σ ½‖z_n − e_{y_n}‖²``.
    """
    loss = check_choice("loss", loss, LOSSES)
    xp = model.xp
    Z = model.logits(X)
    y = check_labels(y, Z.shape[0], model.n_classes, xp)
    rows = xp.arange(Z.shape[0])
    if loss == "ce":
        return float(-xp.mean(log_softmax(Z)[rows, y]))
    T = xp.zeros_like(Z)
    T[rows, y] = 1
    return float(0.5 * xp.mean(xp.sum((Z - T) ** 2, axis=1)))
