r"""A deeper MLP, and closed-form Hessian blocks of every layer pair of all three classifiers,
split into their Gauss–Newton and residual parts.

Models
------
:class:`DeepMLP` is ``z = W_L φ(W_{L-1} ⋯ φ(W_1 x))`` with ``L >= 2`` weight matrices, no biases,
``W_l`` of shape ``(m_l, m_{l-1})`` (``m_0 = d``, ``m_L = C``), LeCun initialisation like
:mod:`rmt.models` (entries iid ``N(0, σ²/m_{l-1})``). :func:`layers` reads every classifier as
such a stack: :class:`~rmt.models.LinearClassifier` is ``L = 1`` (``W_1 = V``),
:class:`~rmt.models.OneHiddenLayer` is ``L = 2`` (``W_1 = W``, ``W_2 = V``). Layers are numbered
from the input (``1 … L``); parameters are ordered from the *output*:
``θ = concat(W_L.ravel(), …, W_1.ravel())``, so for ``L <= 2`` the order is that of
:mod:`rmt.models` and :mod:`rmt.hessian` (rows of ``V`` first). A *block* is one row of one
weight matrix (one output neuron), as in the paper.

The formulas
------------
Per sample: ``a_0 = x``, ``u_l = W_l a_{l-1}``, ``a_l = φ(u_l)`` (``l < L``), ``z = u_L``;
``g = ∂ℓ/∂z`` (``p − e_y`` for CE, ``z − e_y`` for MSE) and ``A = ∂²ℓ/∂z²``. Let
``K_{s,l} = ∂u_s/∂u_l = W_s D_{s-1} ⋯ W_{l+1} D_l`` (``K_{l,l} = I``, ``D_l = diag φ'(u_l)``),
``M_{s,l} = ∂a_s/∂u_l = D_s K_{s,l}``, ``δ_l = K_{L,l}ᵀ g`` (backpropagated residual) and
``Γ_s = diag(φ''(u_s) ∘ W_{s+1}ᵀ δ_{s+1})``. The block of rows ``i`` of ``W_l`` and ``i'`` of
``W_k`` (``l <= k``), an ``m_{l-1} × m_{k-1}`` matrix, is

    H = (1/N) Σ_n [ Ω_n[i, i'] a_{l-1} a_{k-1}ᵀ + Ψ_n[i, i'] a_{l-1} a_{k-1}ᵀ
                    + 1[l < k] δ_k[i'] a_{l-1} (M_{k-1,l}[:, i])ᵀ ],

with the Gauss–Newton coefficient ``Ω = K_{L,l}ᵀ A K_{L,k}`` and the residual coefficient
``Ψ = Σ_{s=k}^{L-1} K_{s,l}ᵀ Γ_s K_{s,k}`` (zero when ``φ'' = 0``: ReLU, identity, and always for
``k = L``). The first term is the Gauss–Newton part ``Jᵀ A J``; the other two are the residual
part ``Σ_c g_c ∇²z_c``: both are linear in ``g``, which is what bounds them by the loss
(:func:`residual_bound`, ``proofs.cross_layer``). For ``L = 2`` these are the formulas of
:mod:`rmt.hessian` (the tests check it, and every block against autodiff).

Norms
-----
:func:`block_summary` gives, without the dense Hessian, the exact within-layer sums
``Σ_i ‖H_ii‖²_F`` and ``Σ_{i≠j} ‖H_ij‖²_F`` (rows of each weight matrix as blocks; the output
layer through :func:`rmt.hessian.block_norms`, which never forms a block) and the Frobenius norms
of every cross-layer block ``H_{W_l W_k}`` (all rows of both layers) split into Gauss–Newton
part and residual part, by Gram identities or chunked products (never the whole block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterator

import numpy as np

from . import backend as bk
from .hessian import BlockNormSums, block_norms
from .models import (
    ACTIVATIONS,
    LOSSES,
    LinearClassifier,
    OneHiddenLayer,
    activation_functions,
    check_data,
    check_labels,
    softmax,
)
from .validation import check_choice, check_int, check_real

__all__ = [
    "DeepMLP",
    "rms_per_block",
    "CrossNorms",
    "BlockSummary",
    "layers",
    "layer_names",
    "gradient",
    "dense_hessian",
    "block_summary",
    "residual_bound",
]

#: :func:`dense_hessian` refuses models with more parameters than this unless told otherwise.
MAX_DENSE_PARAMS = 20_000
#: Bytes one chunk of a cross-layer product may take in :func:`block_summary`.
TILE_BYTES = 64 << 20


def _init_matrix(rows: int, cols: int, sigma: float, seed: Any, xp: ModuleType, dt: Any) -> Any:
    return bk.standard_normal((rows, cols), seed, xp, dt) * (sigma / math.sqrt(cols))


@dataclass(frozen=True, eq=False)
class DeepMLP:
    """MLP ``z = W_L φ(W_{L-1} ⋯ φ(W_1 x))`` without biases, ``L >= 2`` weight matrices.

    Parameters
    ----------
    weights : tuple of arrays
        ``(W_1, …, W_L)``, ``W_l`` of shape ``(m_l, m_{l-1})``; ``m_0 = d``, ``m_L = C >= 2``.
    activation : {"relu", "tanh", "gelu", "identity"}
    """

    weights: tuple
    activation: str = "relu"

    def __post_init__(self) -> None:
        ws = tuple(self.weights)
        if len(ws) < 2:
            raise ValueError(f"weights must hold at least 2 matrices (one hidden layer), got "
                             f"{len(ws)}")
        xp = bk.get_xp(*ws)
        for l, W in enumerate(ws, start=1):
            if getattr(W, "ndim", None) != 2:
                raise ValueError(f"weights[{l - 1}] (W_{l}) must be a 2-D array, got shape "
                                 f"{getattr(W, 'shape', None)}")
            if l > 1 and W.shape[1] != ws[l - 2].shape[0]:
                raise ValueError(f"weights[{l - 1}] (W_{l}) must have {ws[l - 2].shape[0]} "
                                 f"columns to follow W_{l - 1}, got shape {tuple(W.shape)}")
            if not bool(xp.all(xp.isfinite(W))):
                raise ValueError(f"weights[{l - 1}] (W_{l}) must contain only finite values")
        if ws[-1].shape[0] < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {ws[-1].shape[0]}")
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "activation",
                           check_choice("activation", self.activation, ACTIVATIONS))

    @classmethod
    def init(cls, n_classes: int, dim: int, widths: Any, sigma: float = 1.0,
             activation: str = "relu", seed: Any = None, backend: str | None = None,
             dtype: Any = None) -> "DeepMLP":
        """Random initialisation ``(W_l)_ij ~ N(0, σ²/m_{l-1})`` (σ = 1: LeCun).

        Parameters
        ----------
        n_classes : int, >= 2
        dim : int, >= 1
        widths : sequence of int >= 1
            Hidden widths ``(m_1, …, m_{L-1})``, at least one; depth ``L = len(widths) + 1``.
        sigma : float, >= 0
        activation : {"relu", "tanh", "gelu", "identity"}
        seed : int, SeedSequence or Generator, optional
            Layer ``l`` draws from child ``l − 1`` of ``seed`` (spawned from a copy).
        backend : {"numpy", "cupy"}, optional
        dtype : float32 or float64 (default)
        """
        C = check_int("n_classes", n_classes, 2)
        d = check_int("dim", dim, 1)
        try:
            ms = [check_int(f"widths[{k}]", w, 1) for k, w in enumerate(widths)]
        except TypeError:
            raise ValueError(f"widths must be a sequence of integers >= 1, got "
                             f"{widths!r}") from None
        if not ms:
            raise ValueError("widths must hold at least one hidden width, got none")
        s = check_real("sigma", sigma, 0.0)
        act = check_choice("activation", activation, ACTIVATIONS)
        xp = bk.xp_for(backend)
        dt = bk.resolve_dtype(dtype)
        sizes = [d, *ms, C]
        seeds = bk.spawn_seeds(seed, len(sizes) - 1)
        return cls(tuple(_init_matrix(sizes[l + 1], sizes[l], s, seeds[l], xp, dt)
                         for l in range(len(sizes) - 1)), act)

    @property
    def xp(self) -> ModuleType:
        return bk.get_xp(*self.weights)

    @property
    def depth(self) -> int:
        """Number of weight matrices ``L``."""
        return len(self.weights)

    @property
    def n_classes(self) -> int:
        return int(self.weights[-1].shape[0])

    @property
    def dim(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def widths(self) -> tuple[int, ...]:
        """Hidden widths ``(m_1, …, m_{L-1})``."""
        return tuple(int(W.shape[0]) for W in self.weights[:-1])

    @property
    def n_params(self) -> int:
        return int(sum(W.size for W in self.weights))

    def block_sizes(self) -> list[int]:
        """Block sizes in parameter order: the rows of ``W_L``, then ``W_{L-1}``, …, ``W_1``."""
        return [int(W.shape[1]) for W in reversed(self.weights) for _ in range(W.shape[0])]

    def features(self, X: Any) -> Any:
        """The last hidden layer ``a_{L-1}``, shape ``(N, m_{L-1})``."""
        check_data(X, self.dim, self.xp)
        phi, _, _ = activation_functions(self.activation, self.xp)
        a = X
        for W in self.weights[:-1]:
            a = phi(a @ W.T)
        return a

    def logits(self, X: Any) -> Any:
        """Logits ``Z``, shape ``(N, C)``."""
        return self.features(X) @ self.weights[-1].T

    def probabilities(self, X: Any) -> Any:
        """Softmax probabilities ``P``, shape ``(N, C)``."""
        return softmax(self.logits(X))

    def parameters(self) -> Any:
        """``θ = concat(W_L.ravel(), …, W_1.ravel())``."""
        return self.xp.concatenate([W.reshape(-1) for W in reversed(self.weights)])

    def with_parameters(self, theta: Any) -> "DeepMLP":
        """A model with parameters ``θ`` (ordered as :meth:`parameters`)."""
        theta = bk.asarray(theta, self.xp, self.weights[0].dtype)
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {theta.shape}")
        out, k = [], 0
        for W in reversed(self.weights):
            out.append(theta[k:k + W.size].reshape(W.shape))
            k += W.size
        return DeepMLP(tuple(reversed(out)), self.activation)


def layers(model: Any) -> tuple[tuple[Any, ...], str]:
    """``((W_1, …, W_L), activation)`` of a classifier: linear ``(V,)`` with ``"identity"``
    (unused), one hidden layer ``(W, V)``, a :class:`DeepMLP` its weights."""
    if isinstance(model, LinearClassifier):
        return (model.V,), "identity"
    if isinstance(model, OneHiddenLayer):
        return (model.W, model.V), model.activation
    if isinstance(model, DeepMLP):
        return model.weights, model.activation
    raise TypeError("model must be an rmt.models.LinearClassifier, OneHiddenLayer or "
                    f"rmt.mlp.DeepMLP, got {type(model).__name__}")


def layer_names(model: Any) -> tuple[str, ...]:
    """Names of the layers ``1 … L`` as the rest of rmt spells them: ``("V",)`` (linear),
    ``("W", "V")`` (one hidden layer), ``("W1", …, "WL")`` (deep)."""
    ws, _ = layers(model)
    if isinstance(model, LinearClassifier):
        return ("V",)
    if isinstance(model, OneHiddenLayer):
        return ("W", "V")
    return tuple(f"W{l}" for l in range(1, len(ws) + 1))


# --------------------------------------------------------------------------------------------
# Per-sample state
# --------------------------------------------------------------------------------------------

class _State:
    """Forward and backward per-sample quantities of one (model, X, y, loss)."""

    def __init__(self, model: Any, X: Any, y: Any, loss: str):
        ws, act = layers(model)
        self.loss = check_choice("loss", loss, LOSSES)
        xp = bk.get_xp(*ws)
        self.xp = xp
        X = check_data(X, int(ws[0].shape[1]), xp)
        dt = np.result_type(X.dtype, *(W.dtype for W in ws))
        self.dt = np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)
        self.W = [None] + [W.astype(self.dt, copy=False) for W in ws]   # 1-based
        self.L = L = len(ws)
        self.N = int(X.shape[0])
        self.C = int(ws[-1].shape[0])
        self.y = check_labels(y, self.N, self.C, xp) if y is not None else None
        phi, dphi, ddphi = activation_functions(act, xp)
        self.smooth = act in ("tanh", "gelu")
        self.a = [X.astype(self.dt, copy=False)]
        self.D, self.D2 = [None], [None]
        for l in range(1, L):
            u = self.a[-1] @ self.W[l].T
            self.a.append(phi(u))
            self.D.append(dphi(u))
            self.D2.append(ddphi(u))
        Z = self.a[L - 1] @ self.W[L].T
        self.Z = Z
        # CE: A_n 1 = 0 and Σ_c g_nc = 0, so every formula sees W_L only through W_L − 1 μᵀ;
        # centring removes a common mode that would otherwise cancel catastrophically.
        WL = self.W[L]
        self.WLc = WL - xp.mean(WL, axis=0, keepdims=True) if self.loss == "ce" else WL
        self.P = softmax(Z) if self.loss == "ce" else None
        self._cache: dict[Any, Any] = {}

    def require_labels(self, what: str) -> None:
        if self.y is None:
            raise ValueError(f"y (integer labels in [0, {self.C - 1}], shape ({self.N},)) is "
                             f"required for {what}: it enters through the residual g = dℓ/dz")

    def width(self, l: int) -> int:
        return int(self.W[l].shape[0])

    @property
    def g(self) -> Any:
        """``g_n = ∂ℓ_n/∂z_n``, shape (N, C)."""
        if "g" not in self._cache:
            self.require_labels("the residual part of the Hessian")
            G = (self.P if self.loss == "ce" else self.Z).copy()
            G[self.xp.arange(self.N), self.y] -= 1
            self._cache["g"] = G
        return self._cache["g"]

    def delta(self, l: int) -> Any:
        """``δ_l = K_{L,l}ᵀ g``, shape (N, m_l)."""
        if ("delta", l) not in self._cache:
            if l == self.L:
                out = self.g
            else:
                W = self.WLc if l + 1 == self.L else self.W[l + 1]
                out = self.D[l] * (self.delta(l + 1) @ W)
            self._cache[("delta", l)] = out
        return self._cache[("delta", l)]

    def K(self, s: int, l: int) -> Any:
        """``K_{s,l} = ∂u_s/∂u_l`` for ``l <= s < L``, shape (N, m_s, m_l)."""
        key = ("K", s, l)
        if key not in self._cache:
            xp = self.xp
            if s == l:
                out = xp.broadcast_to(xp.eye(self.width(l), dtype=self.dt),
                                      (self.N, self.width(l), self.width(l)))
            else:
                out = self.W[s] @ self.M(s - 1, l)
            self._cache[key] = out
        return self._cache[key]

    def M(self, s: int, l: int) -> Any:
        """``M_{s,l} = ∂a_s/∂u_l = D_s K_{s,l}`` for ``l <= s < L``, shape (N, m_s, m_l)."""
        return self.D[s][:, :, None] * self.K(s, l)

    def B(self, l: int) -> Any:
        """``∂z/∂u_l`` with centred ``W_L`` for CE, ``l < L``: shape (N, C, m_l)."""
        return self.WLc @ self.M(self.L - 1, l)

    def Phi(self) -> Any:
        """``Φ_n = W_Lᵀ A_n W_L`` (centred ``W_L`` for CE), shape (N, m, m) or (m, m) for MSE."""
        if "Phi" not in self._cache:
            W = self.WLc
            if self.loss == "mse":
                out = W.T @ W
            else:
                m = int(W.shape[1])
                out = (self.P @ (W[:, :, None] * W[:, None, :]).reshape(self.C, m * m)
                       ).reshape(self.N, m, m)
                q = self.P @ W
                out = out - q[:, :, None] * q[:, None, :]
            self._cache["Phi"] = out
        return self._cache["Phi"]

    def omega(self, l: int, k: int) -> Any:
        """Gauss–Newton coefficient ``Ω = K_{L,l}ᵀ A K_{L,k}``, ``l <= k``: (N, m_l, m_k)."""
        xp, L = self.xp, self.L
        if l == L:                                        # k == L: A itself
            if self.loss == "mse":
                return xp.broadcast_to(xp.eye(self.C, dtype=self.dt), (self.N, self.C, self.C))
            P = self.P
            A = -P[:, :, None] * P[:, None, :]
            idx = xp.arange(self.C)
            A[:, idx, idx] += P
            return A
        Ql = self.M(L - 1, l)
        if k == L:                                        # B_lᵀ A, built as (N, m_l, C)
            Bt = xp.swapaxes(Ql, 1, 2) @ self.WLc.T
            if self.loss == "mse":
                return Bt
            P = self.P
            bp = (Bt @ P[:, :, None])[:, :, 0]
            Bt -= bp[:, :, None]
            Bt *= P[:, None, :]
            return Bt
        Qk = self.M(L - 1, k)
        Phi = self.Phi()
        return xp.swapaxes(Ql, 1, 2) @ (Phi @ Qk)

    def psi(self, l: int, k: int) -> Any | None:
        """Residual coefficient ``Ψ = Σ_{s=k}^{L-1} K_{s,l}ᵀ Γ_s K_{s,k}`` (None when zero)."""
        if not self.smooth or k == self.L:
            return None
        xp = self.xp
        out = None
        for s in range(k, self.L):
            W = self.WLc if s + 1 == self.L else self.W[s + 1]
            gam = self.D2[s] * (self.delta(s + 1) @ W)
            t = xp.swapaxes(self.K(s, l), 1, 2) @ (gam[:, :, None] * self.K(s, k))
            out = t if out is None else out + t
        return out


# --------------------------------------------------------------------------------------------
# Gradient and dense Hessian
# --------------------------------------------------------------------------------------------

def gradient(model: Any, X: Any, y: Any, loss: str = "ce") -> tuple[Any, ...]:
    """Gradient of the mean loss, ``(∂ℓ/∂W_1, …, ∂ℓ/∂W_L) = ((1/N) δ_lᵀ a_{l-1})_l``.

    For CE the output layer's gradient is ``(1/N) gᵀ a_{L-1}`` with the uncentred ``W_L``
    (the centring of the Hessian formulas does not apply to the gradient of ``W_L`` itself).
    """
    st = _State(model, X, y, loss)
    st.require_labels("the gradient")
    out = []
    for l in range(1, st.L + 1):
        out.append(st.delta(l).T @ st.a[l - 1] / st.N)
    return tuple(out)


def _check_part(part: str) -> str:
    return check_choice("part", part, ("full", "gn", "residual"))


def _pair_block(st: _State, l: int, k: int, part: str) -> Any:
    """Dense block ``H_{W_l W_k}``, ``l <= k``, shape ``(m_l m_{l-1}, m_k m_{k-1})``."""
    xp = st.xp
    a, b = st.a[l - 1], st.a[k - 1]
    ml, mk = st.width(l), st.width(k)
    shape = (ml * a.shape[1], mk * b.shape[1])
    out = xp.zeros(shape, dtype=st.dt)
    if part in ("full", "gn"):
        out += xp.einsum("nip,nj,nq->ijpq", st.omega(l, k), a, b, optimize=True).reshape(shape)
    if part in ("full", "residual"):
        psi = st.psi(l, k)
        if psi is not None:
            out += xp.einsum("nip,nj,nq->ijpq", psi, a, b, optimize=True).reshape(shape)
        if l < k:
            out += xp.einsum("np,nj,nqi->ijpq", st.delta(k), a, st.M(k - 1, l),
                             optimize=True).reshape(shape)
        elif st.y is None and st.smooth and l < st.L:
            st.require_labels("the residual part of a hidden layer with this activation")
    return out / st.N


def dense_hessian(model: Any, X: Any, y: Any = None, loss: str = "ce", *, part: str = "full",
                  max_params: int = MAX_DENSE_PARAMS) -> Any:
    """The full Hessian, or its Gauss–Newton or residual part, as a dense matrix.

    Parameters
    ----------
    model : LinearClassifier, OneHiddenLayer or DeepMLP
    X : array, shape (N, d)
    y : array of int, shape (N,), optional
        Labels; required for the residual part of any model with a hidden layer (the linear
        model has none, and its Hessian is label-free).
    loss : {"ce", "mse"}
    part : {"full", "gn", "residual"}
        ``"gn"``: ``(1/N) Σ_n J_nᵀ A_n J_n``; ``"residual"``: ``(1/N) Σ_n Σ_c g_nc ∇²z_nc``.
    max_params : int
        Refuse models with more parameters than this (the matrix has ``P²`` entries).

    Returns
    -------
    array, shape (P, P)
        Indexed like ``concat(W_L.ravel(), …, W_1.ravel())`` (the order of :mod:`rmt.hessian`
        for the linear and one-hidden-layer models).
    """
    part = _check_part(part)
    max_params = check_int("max_params", max_params, 1)
    ws, _ = layers(model)
    P = int(sum(W.size for W in ws))
    if P > max_params:
        raise ValueError(f"max_params must be >= n_params = {P} to form the dense Hessian, got "
                         f"{max_params}; use rmt.mlp.block_summary for norms")
    st = _State(model, X, y, loss)
    if part != "gn" and st.L > 1:
        st.require_labels("the residual part of the Hessian")
    L = st.L
    sizes = {l: int(ws[l - 1].size) for l in range(1, L + 1)}
    off, k0 = {}, 0
    for l in range(L, 0, -1):
        off[l] = k0
        k0 += sizes[l]
    out = st.xp.zeros((P, P), dtype=st.dt)
    for l in range(1, L + 1):
        for k in range(l, L + 1):
            blk = _pair_block(st, l, k, part)
            if k == l:   # exactly symmetric (the summation order leaves O(eps) asymmetry)
                blk = (blk + blk.T) / 2
            out[off[l]:off[l] + sizes[l], off[k]:off[k] + sizes[k]] = blk
            if k != l:
                out[off[k]:off[k] + sizes[k], off[l]:off[l] + sizes[l]] = blk.T
    return out


# --------------------------------------------------------------------------------------------
# Norms without the dense Hessian
# --------------------------------------------------------------------------------------------

def rms_per_block(sums: BlockNormSums) -> float:
    """Per-block RMS ratio ``(mean_{i≠j} ‖H_ij‖²_F / mean_i ‖H_ii‖²_F)^{1/2}`` of one layer,
    ``= aggregate / √(n_blocks − 1)`` (exact, from the sums)."""
    n = sums.n_blocks
    return sums.aggregate_ratio / math.sqrt(n - 1) if n > 1 else math.nan


@dataclass(frozen=True)
class CrossNorms:
    """Frobenius norms of the whole cross-layer block ``H_{W_l W_k}`` (``l < k``, all rows of
    both layers): its Gauss–Newton part and its residual part (linear in ``g``)."""

    lower: str
    upper: str
    gn: float
    residual: float


@dataclass(frozen=True)
class BlockSummary:
    """Within-layer sums of every layer (:class:`rmt.hessian.BlockNormSums`, ``blocks`` holding
    the layer's name) and cross-layer norms of every pair of layers."""

    layers: tuple[BlockNormSums, ...]
    cross: tuple[CrossNorms, ...]

    def layer(self, name: str) -> BlockNormSums:
        for s in self.layers:
            if s.blocks == name:
                return s
        raise ValueError(f"layer must be one of {[s.blocks for s in self.layers]}, got {name!r}")

    def pair(self, lower: str, upper: str) -> CrossNorms:
        for c in self.cross:
            if (c.lower, c.upper) == (lower, upper):
                return c
        raise ValueError(f"(lower, upper) must be one of {[(c.lower, c.upper) for c in self.cross]}"
                         f", got {(lower, upper)!r}")


def _gram_sq(F: Any) -> Any:
    G = F @ F.T
    return G * G


def _hidden_layer_sums(st: _State, l: int, name: str) -> BlockNormSums:
    """``Σ_i ‖H_ii‖²`` and ``Σ_{i≠j} ‖H_ij‖²`` of a hidden layer ``l < L``: its blocks are
    ``(1/N) Σ_n w_n[i, j] a a ᵀ`` with ``w = Ω + Ψ``, so ``‖H_ij‖²_F = (1/N²) w_ijᵀ G w_ij``
    with ``G = (a aᵀ)∘²`` and the sums are ``(1/N²) Σ G ∘ (w wᵀ)`` over the chosen entries."""
    xp = st.xp
    w = st.omega(l, l)
    psi = st.psi(l, l)
    if psi is not None:
        w = w + psi
    m = st.width(l)
    G = _gram_sq(st.a[l - 1]).astype(np.float64, copy=False)
    W2 = w.reshape(st.N, m * m).astype(np.float64, copy=False)
    on = np.eye(m, dtype=bool).ravel()
    Wd, Wo = W2[:, xp.asarray(on)], W2[:, xp.asarray(~on)]
    n2 = float(st.N) ** 2
    diag = float(xp.sum(G * (Wd @ Wd.T))) / n2
    off = float(xp.sum(G * (Wo @ Wo.T))) / n2
    return BlockNormSums(diag, off, m, name)


def _output_layer_sums(st: _State, name: str) -> BlockNormSums:
    s = block_norms(LinearClassifier(st.W[st.L]), st.a[st.L - 1], loss=st.loss)
    return BlockNormSums(s.diagonal, s.off_diagonal, st.C, name)


def _chunks(n: int, per: int) -> Iterator[tuple[int, int]]:
    step = max(1, TILE_BYTES // max(1, per))
    for c0 in range(0, n, step):
        yield c0, min(n, c0 + step)


def _cross_norms(st: _State, l: int, k: int, names: tuple[str, ...],
                 route: str | None = None) -> CrossNorms:
    """Norms of the GN part and the residual part of ``H_{W_l W_k}`` (``l < k``).

    Every entry is ``(1/N) Σ_n c_n[i, i'] a_n[j] b_n[j']`` (``a = a_{l-1}``, ``b = a_{k-1}``).
    GN part, ``c = Ω``: ``route="direct"`` contracts ``Ω`` (``N × m_l m_k``) with the outer
    products ``a_n ⊗ b_n`` (``N × m_{l-1} m_{k-1}``) chunk by chunk, ``N m_l m_k m_{l-1}
    m_{k-1}`` multiply-adds; ``route="gram"`` uses ``‖·‖² = (1/N²) Σ (aaᵀ)∘(bbᵀ)∘(ΩΩᵀ)``,
    ``N² m_l m_k``; default: the cheaper. Residual part, ``φ'' = 0`` or ``k = L``: the tensor
    ``δ_k ⊗ a ⊗ M_{k-1,l}`` has ``‖·‖² = (1/N²) Σ (δδᵀ)∘(aaᵀ)∘⟨M_n, M_n'⟩``; with a ``φ''``
    term (smooth φ, ``k < L``: both layers hidden, a small block) the block is formed."""
    xp = st.xp
    f64 = np.float64
    a, b = st.a[l - 1].astype(f64, copy=False), st.a[k - 1].astype(f64, copy=False)
    N = st.N
    n2 = float(N) ** 2
    om = st.omega(l, k).reshape(N, -1).astype(f64, copy=False)
    Ga = a @ a.T
    pa, pb = int(a.shape[1]), int(b.shape[1])
    if route is None:
        route = "gram" if N <= pa * pb else "direct"
    route = check_choice("route", route, ("gram", "direct"))
    if route == "gram":
        gn2 = float(xp.sum(Ga * (b @ b.T) * (om @ om.T)))
    else:
        E = (a[:, :, None] * b[:, None, :]).reshape(N, pa * pb)
        gn2 = 0.0
        for c0, c1 in _chunks(int(om.shape[1]), 8 * pa * pb):
            T = om[:, c0:c1].T @ E
            gn2 += float(xp.sum(T * T))
    psi = st.psi(l, k)
    if psi is None:
        dk = st.delta(k).astype(f64, copy=False)
        M = st.M(k - 1, l).reshape(N, -1).astype(f64, copy=False)
        r2 = float(xp.sum(Ga * (dk @ dk.T) * (M @ M.T)))
    else:
        R = _pair_block(st, l, k, "residual").astype(f64, copy=False)
        r2 = float(xp.sum(R * R)) * n2
    return CrossNorms(names[l - 1], names[k - 1], math.sqrt(max(gn2, 0.0) / n2),
                      math.sqrt(max(r2, 0.0) / n2))


def block_summary(model: Any, X: Any, y: Any = None, loss: str = "ce", *,
                  cross: bool = True) -> BlockSummary:
    """Exact within-layer sums of every layer and norms of every cross-layer block.

    Parameters
    ----------
    model : LinearClassifier, OneHiddenLayer or DeepMLP
    X : array, shape (N, d)
    y : array of int, shape (N,), optional
        Labels; required for the cross-layer blocks (their residual part) and for hidden layers
        of a ``tanh``/``gelu`` net.
    loss : {"ce", "mse"}
    cross : bool
        Compute the cross-layer norms (needs ``y``).

    Returns
    -------
    BlockSummary
        ``layers`` in the order ``1 … L`` named by :func:`layer_names`; ``cross`` for every
        pair ``l < k``.

    Notes
    -----
    Costs: output layer as :func:`rmt.hessian.block_norms` (``≈ 3 N² C`` flops for CE); a
    hidden layer ``O(N² (m_{l-1} + m_l²) + N C m²)``; a cross block's Gauss–Newton part
    ``O(N m_l m_k · min(N, m_{l-1} m_{k-1}))`` with ``m_L = C`` (it dominates), its residual part
    ``O(N² (m_k + m_{k-1} m_l))``.
    """
    names = layer_names(model)
    st = _State(model, X, y, loss)
    sums = []
    for l in range(1, st.L + 1):
        if l == st.L:
            sums.append(_output_layer_sums(st, names[l - 1]))
        else:
            if st.smooth:
                st.require_labels("a hidden layer of a tanh/gelu net (its φ'' term)")
            sums.append(_hidden_layer_sums(st, l, names[l - 1]))
    pairs = []
    if cross and st.L > 1:
        st.require_labels("the cross-layer blocks (their residual part)")
        for l in range(1, st.L):
            for k in range(l + 1, st.L + 1):
                pairs.append(_cross_norms(st, l, k, names))
    return BlockSummary(tuple(sums), tuple(pairs))


# --------------------------------------------------------------------------------------------
# The bound on the residual part
# --------------------------------------------------------------------------------------------

def residual_bound(model: Any, X: Any, y: Any, loss: str = "ce") -> dict[tuple[str, str], dict]:
    r"""Constants of the derived bound on the residual part of every cross-layer block.

    The residual part of ``H_{W_l W_k}`` is ``R = (1/N) Σ_n R_n(g_n)`` with ``R_n`` linear. For
    ``φ'' = 0`` (ReLU, identity) or ``k = L`` it is ``δ_k ⊗ a_{l-1} ⊗ M_{k-1,l}`` rearranged,
    so ``‖R_n(g)‖_F = ‖δ_k‖ ‖a_{l-1}‖ ‖M_{k-1,l}‖_F ≤ c_n ‖g‖`` with
    ``c_n = ‖K_{L,k}‖₂ ‖a_{l-1}‖ ‖M_{k-1,l}‖_F`` (``‖K_{L,L}‖₂ = 1``: then equality). Hence
    (``proofs.cross_layer``)

    * ``‖R‖_F ≤ (1/N) Σ_n c_n ‖g_n‖`` (triangle inequality), ``per_sample``;
    * ``≤ c_rms · (2ℓ)^{1/2}`` (Cauchy–Schwarz; ``‖g_n‖² ≤ 2ℓ_n`` for CE, ``= 2ℓ_n`` for MSE);
    * CE only: ``≤ √2 · c_max · ℓ`` (``‖p − e_y‖ ≤ √2 (1 − p_y) ≤ √2 ℓ_n``).

    Parameters
    ----------
    model : OneHiddenLayer or DeepMLP
    X, y, loss : as for :func:`block_summary`

    Returns
    -------
    dict
        ``(lower, upper)`` layer names → ``{"per_sample", "c_rms", "c_max", "sqrt_bound",
        "linear_bound", "bound"}`` (``linear_bound`` NaN for MSE; ``bound`` the smaller).

    Raises
    ------
    ValueError
        A model without a hidden layer (no cross-layer block), missing labels, or a
        ``tanh``/``gelu`` net with a hidden–hidden pair (its ``φ''`` term is not covered).
    """
    st = _State(model, X, y, loss)
    if st.L < 2:
        raise ValueError("model must have a hidden layer: the linear model has no cross-layer "
                         "block")
    st.require_labels("the residual bound")
    xp = st.xp
    names = layer_names(model)
    g2 = xp.sum(st.g.astype(np.float64, copy=False) ** 2, axis=1)
    Zs = st.Z.astype(np.float64, copy=False)
    if st.loss == "ce":
        from .models import log_softmax  # noqa: PLC0415

        lvec = -log_softmax(Zs)[xp.arange(st.N), st.y]
    else:
        lvec = 0.5 * g2
    ell = float(xp.mean(lvec))
    out = {}
    for l in range(1, st.L):
        for k in range(l + 1, st.L + 1):
            if k < st.L and st.smooth:
                raise ValueError(f"activation must be relu or identity for the hidden-hidden "
                                 f"pair ({names[l - 1]}, {names[k - 1]}): its φ'' term is not "
                                 f"covered by the bound")
            an = xp.sqrt(xp.sum(st.a[l - 1].astype(np.float64, copy=False) ** 2, axis=1))
            Mn = xp.sqrt(xp.sum(st.M(k - 1, l).astype(np.float64, copy=False) ** 2, axis=(1, 2)))
            c = an * Mn
            if k < st.L:
                B = st.B(k).astype(np.float64, copy=False)   # (N, C, m_k), centred W_L
                BtB = xp.swapaxes(B, 1, 2) @ B
                c = c * xp.sqrt(xp.maximum(xp.linalg.eigvalsh(BtB)[:, -1], 0.0))
            per = float(xp.mean(c * xp.sqrt(g2)))
            c_rms = float(xp.sqrt(xp.mean(c * c)))
            c_max = float(xp.max(c))
            sq = c_rms * math.sqrt(2 * ell)
            lin = math.sqrt(2) * c_max * ell if st.loss == "ce" else math.nan
            out[(names[l - 1], names[k - 1])] = {
                "per_sample": per, "c_rms": c_rms, "c_max": c_max, "loss": ell,
                "sqrt_bound": sq, "linear_bound": lin,
                "bound": min(sq, lin) if st.loss == "ce" else sq}
    return out
