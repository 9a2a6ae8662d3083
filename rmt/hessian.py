r"""Closed-form Hessians of the classifiers in :mod:`rmt.models`: full matrices, single blocks,
block Frobenius norms without forming blocks, and off-/diagonal block ratios.

Everything here is an explicit formula; nothing is differentiated automatically. The tests
check every formula against central finite differences of :func:`rmt.models.loss_value`.

Conventions (those of :mod:`rmt.models`)
----------------------------------------
``X`` is ``(N, d)``, one sample per row; labels ``y`` are integers in ``[0, C)``. Parameters
are ordered block by block: the rows ``v_0, …, v_{C-1}`` of ``V``, then (hidden net) the rows
``w_0, …, w_{m-1}`` of ``W``; so the full Hessian is indexed like
``θ = concat(V.ravel(), W.ravel())``. Block indices follow the same order: for the linear model
blocks ``0 … C-1`` are the rows of ``V`` (``d × d``); for the hidden net blocks ``0 … C-1`` are
the rows of ``V`` (``m × m``) and blocks ``C … C+m-1`` the rows of ``W`` (``d × d``); a mixed
block ``(a, C + l)`` is ``m × d``.

The formulas
------------
Per sample ``n`` let ``z_n`` be the logits, ``g_n = ∂ℓ_n/∂z_n`` and ``A_n = ∂²ℓ_n/∂z_n²``:

* cross-entropy: ``g = p − e_y``, ``A = diag(p) − p pᵀ`` (``p = softmax(z)``);
* MSE against one-hot targets (with the ½ of :func:`rmt.models.loss_value`): ``g = z − e_y``,
  ``A = I``.

Linear model ``z = V x``: ``H_ij = (1/N) Σ_n A_n[i, j] x_n x_nᵀ`` (labels drop out).

One hidden layer ``z = V φ(W x)``, ``u = W x``, ``h = φ(u)``, ``h' = φ'(u)``, ``h'' = φ''(u)``:

* ``V``–``V``: ``H_{v_a v_b} = (1/N) Σ_n A_n[a, b] h_n h_nᵀ`` (``z`` is linear in ``V``: no
  residual term, no labels);
* ``W``–``W``: ``H_{w_k w_l} = (1/N) Σ_n B_n[k, l] x_n x_nᵀ`` with
  ``B_n[k, l] = h'_{nk} h'_{nl} (Vᵀ A_n V)[k, l] + δ_kl h''_{nk} (Vᵀ g_n)_k``
  (Gauss–Newton term plus the residual term ``Σ_c g_c ∂²z_c/∂w_k∂w_l``);
* ``V``–``W``: ``H_{v_a w_l} = (1/N) Σ_n [(A_n V)[a, l] h'_{nl} h_n + g_{na} h'_{nl} e_l] x_nᵀ``
  (``m × d``; the second term is the residual ``g_a ∂²z_a/∂v_a∂w_l``).

So every same-layer block is a *weighted sample covariance* ``(1/N) Σ_n w_n f_n f_nᵀ`` with
features ``f = x`` (linear, ``W`` blocks) or ``f = h`` (``V`` blocks of the hidden net), and its
squared Frobenius norm is the Gram identity
``‖H‖²_F = (1/N²) Σ_{n,n'} w_n w_{n'} (f_nᵀ f_{n'})²`` — no ``d × d`` block is needed.

Labels: the linear model's Hessian and the hidden net's ``V``–``V`` blocks do not depend on
``y``, so ``y=None`` is allowed there. The ``V``–``W`` blocks always depend on ``y`` (through
``g``); the ``W``–``W`` blocks depend on it only through ``φ''``, so they are label-free for
``relu`` and ``identity`` (``φ'' = 0``) and need ``y`` for ``tanh`` and ``gelu``. Asking for a
label-dependent quantity with ``y=None`` raises ValueError naming ``y``.

Precision: the functions compute in the floating type of the inputs (float32 only if the model
and ``X`` are both float32). :func:`block_norms` and :func:`block_ratio` run their matrix
products in that type but accumulate across chunks, and reduce, in float64; their results are
float64.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from . import backend as bk
from .models import (
    LOSSES,
    LinearClassifier,
    OneHiddenLayer,
    activation_functions,
    check_data,
    check_labels,
)
from .validation import check_choice, check_int, check_probability

__all__ = [
    "MAX_DENSE_PARAMS",
    "MEMORY_SAFETY",
    "AUTO_MAX_PAIRS",
    "MAX_ALL_PAIRS",
    "BlockNormSums",
    "BlockRatio",
    "hessian",
    "block",
    "block_norms",
    "block_ratio",
]

#: :func:`hessian` refuses models with more parameters than this unless ``max_params`` is raised
#: (a dense float64 Hessian of 20,000 parameters takes 3.2 GB).
MAX_DENSE_PARAMS = 20_000
#: Fraction of the free memory (host or device) used when ``memory_limit`` is not given.
MEMORY_SAFETY = 0.5
#: ``pairs="auto"`` uses every ordered pair when there are at most this many, else a seeded
#: sample of this many.
AUTO_MAX_PAIRS = 4096
#: ``pairs="all"`` is refused above this many ordered pairs (each pair costs O(N²) flops).
MAX_ALL_PAIRS = 1_000_000
#: Class chunks narrower than this make poor matrix products; the planner prefers smaller row
#: blocks to class chunks narrower than this.
_MIN_GOOD_CHUNK = 512
_F64 = np.float64


# --------------------------------------------------------------------------------------------
# Validation and shared state
# --------------------------------------------------------------------------------------------

def _model_kind(model: Any) -> str:
    if isinstance(model, LinearClassifier):
        return "linear"
    if isinstance(model, OneHiddenLayer):
        return "hidden"
    raise TypeError("model must be an rmt.models.LinearClassifier or OneHiddenLayer, got "
                    f"{type(model).__name__}")


def _memory_limit(memory_limit: Any, xp: ModuleType) -> int:
    if memory_limit is None:
        return max(1 << 20, int(MEMORY_SAFETY * bk.free_memory_bytes(xp)))
    return check_int("memory_limit", memory_limit, 1)


class _Ctx:
    """Validated inputs and the per-sample quantities the formulas need (computed lazily)."""

    def __init__(self, model: Any, X: Any, y: Any, loss: str, memory_limit: Any = None):
        self.kind = _model_kind(model)
        self.model = model
        self.loss = check_choice("loss", loss, LOSSES)
        xp = model.xp
        self.xp = xp
        X = check_data(X, model.dim, xp)
        arrays = (model.V,) if self.kind == "linear" else (model.W, model.V)
        dt = np.result_type(X.dtype, *(a.dtype for a in arrays))
        self.dt = np.dtype(np.float32) if dt == np.float32 else np.dtype(_F64)
        self.X = X.astype(self.dt, copy=False)
        self.V = model.V.astype(self.dt, copy=False)
        self.W = None if self.kind == "linear" else model.W.astype(self.dt, copy=False)
        # The hidden net's CE Hessian sees V only through A_n V, Vᵀ A_n V, Vᵀ g_n and softmax(z),
        # all unchanged by V -> V - 1 μᵀ (A_n 1 = 0, Σ_c g_nc = 0, softmax is shift-invariant).
        # Centring the columns of V removes a common-mode component whose size would otherwise
        # turn Σ_c p_c V_ck V_cl − q_k q_l into a catastrophic cancellation. (The linear model
        # only needs softmax(z): no copy of its possibly huge V is made.)
        centre = self.loss == "ce" and self.kind == "hidden"
        self.Vc = self.V - xp.mean(self.V, axis=0, keepdims=True) if centre else self.V
        self.N, self.d = (int(s) for s in X.shape)
        self.C = model.n_classes
        self.m = None if self.kind == "linear" else model.hidden
        self.y = None if y is None else check_labels(y, self.N, self.C, xp)
        self.L = _memory_limit(memory_limit, xp)
        self.isz = np.dtype(self.dt).itemsize
        self._cache: dict[str, Any] = {}

    # -- layers ---------------------------------------------------------------------------
    @property
    def n_blocks(self) -> int:
        return self.C if self.kind == "linear" else self.C + self.m

    def layer_of(self, i: int) -> tuple[str, int]:
        """(layer, local index) of global block ``i``."""
        if self.kind == "linear" or i < self.C:
            return "V", i
        return "W", i - self.C

    def layer_size(self, layer: str) -> int:
        return self.C if layer == "V" else self.m

    def features(self, layer: str) -> Any:
        """The matrix ``F`` whose rows are the outer-product vectors of a layer's blocks."""
        if self.kind == "linear" or layer == "W":
            return self.X
        return self.hidden_state()["H"]

    def labels_needed(self, layer_pair: tuple[str, str]) -> bool:
        if self.kind == "linear" or layer_pair == ("V", "V"):
            return False
        if layer_pair == ("W", "W"):
            return self.model.activation in ("tanh", "gelu")
        return True

    def require_labels(self, what: str) -> None:
        if self.y is None:
            raise ValueError(
                f"y (integer labels in [0, {self.C - 1}], shape ({self.N},)) is required for "
                f"{what}: it depends on the labels through the residual term g = dℓ/dz")

    # -- hidden net -----------------------------------------------------------------------
    def hidden_state(self) -> dict[str, Any]:
        if "hidden" not in self._cache:
            phi, dphi, ddphi = activation_functions(self.model.activation, self.xp)
            U = self.X @ self.W.T
            self._cache["hidden"] = {"H": phi(U), "D1": dphi(U), "D2": ddphi(U)}
        return self._cache["hidden"]

    def head(self) -> "_Head":
        if "head" not in self._cache:
            self._cache["head"] = _Head(self.features("V"), self.Vc, self.loss, self.L)
        return self._cache["head"]

    def q(self) -> Any:
        """``q_n = V_cᵀ p_n`` (CE, centred V), shape (N, m)."""
        if "q" not in self._cache:
            self._cache["q"] = self.head().reduce(self.Vc)
        return self._cache["q"]

    def r(self) -> Any:
        """``r_n = Vᵀ g_n``, shape (N, m) (needs labels)."""
        if "r" not in self._cache:
            Vy = self.Vc[self.y]
            if self.loss == "ce":
                self._cache["r"] = self.q() - Vy
            else:
                self._cache["r"] = self.hidden_state()["H"] @ (self.V.T @ self.V) - Vy
        return self._cache["r"]

    # -- per-sample weights of same-layer blocks ------------------------------------------
    def pair_weights(self, layer: str, ii: np.ndarray, jj: np.ndarray) -> Any:
        """Weights ``w_n`` of the blocks ``(ii[t], jj[t])`` (local indices), shape (N, K)."""
        xp = self.xp
        ii = np.asarray(ii, dtype=np.int64)
        jj = np.asarray(jj, dtype=np.int64)
        eq = xp.asarray((ii == jj).astype(self.dt))
        if layer == "V":
            if self.loss == "mse":
                return xp.ones((self.N, 1), self.dt) * eq[None, :]
            uniq, inv = np.unique(np.concatenate([ii, jj]), return_inverse=True)
            Pu = self.head().probs(uniq)
            K = ii.size
            Pi = Pu[:, xp.asarray(inv[:K])]
            Pj = Pu[:, xp.asarray(inv[K:])]
            return Pi * (eq[None, :] - Pj)
        st = self.hidden_state()
        ki, kj = xp.asarray(ii), xp.asarray(jj)
        VV = self.Vc[:, ki] * self.Vc[:, kj]                   # (C, K)
        if self.loss == "ce":
            q = self.q()
            M = self.head().reduce(VV) - q[:, ki] * q[:, kj]   # (Vᵀ A_n V)[k, l]
        else:
            M = xp.sum(VV, axis=0)[None, :]                     # (VᵀV)[k, l]
        w = st["D1"][:, ki] * st["D1"][:, kj] * M
        if self.labels_needed(("W", "W")):
            self.require_labels("the W-W blocks with this activation")
            w = w + eq[None, :] * st["D2"][:, ki] * self.r()[:, ki]
        return w


class _Head:
    """The logit layer ``z = F Vᵀ``; for CE, softmax probabilities chunked over classes."""

    def __init__(self, F: Any, V: Any, loss: str, memory_limit: int):
        self.F, self.V, self.loss, self.L = F, V, loss, memory_limit
        self.xp = bk.get_xp(F)
        self.N = int(F.shape[0])
        self.C = int(V.shape[0])
        self.isz = F.dtype.itemsize
        self._lse = None

    def _class_chunk(self, per_class_bytes: int) -> int:
        return int(max(1, min(self.C, self.L // max(1, per_class_bytes))))

    def lse(self) -> Any:
        """Row-wise log-sum-exp of the logits, one pass over class chunks (online rescaling)."""
        if self._lse is None:
            xp, F, V = self.xp, self.F, self.V
            rb, cc = _plan(self.L, self.N, self.C, lambda nb: 0, lambda nb: 3 * self.isz * nb,
                           "memory_limit")
            out = xp.empty(self.N, F.dtype)
            for r0, r1 in _blocks(self.N, rb):
                mx = s = None
                for c0, c1 in _blocks(self.C, cc):
                    Z = F[r0:r1] @ V[c0:c1].T
                    cm = xp.max(Z, axis=1)
                    if mx is None:
                        mx = cm
                        s = xp.sum(xp.exp(Z - mx[:, None]), axis=1)
                    else:
                        new = xp.maximum(mx, cm)
                        s = s * xp.exp(mx - new) + xp.sum(xp.exp(Z - new[:, None]), axis=1)
                        mx = new
                out[r0:r1] = mx + xp.log(s)
            self._lse = out
        return self._lse

    def probs(self, idx: Any) -> Any:
        """Probabilities of classes ``idx`` (host or device integer array), shape (N, len)."""
        xp = self.xp
        idx = xp.asarray(idx)
        return xp.exp(self.F @ self.V[idx].T - self.lse()[:, None])

    def reduce(self, R: Any) -> Any:
        """``P @ R`` for ``R`` of shape (C, k), chunked over classes (CE only)."""
        xp = self.xp
        lse = self.lse()[:, None]
        k = int(R.shape[1])
        cc = self._class_chunk(3 * self.isz * self.N)
        out = xp.zeros((self.N, k), self.F.dtype)
        for c0, c1 in _blocks(self.C, cc):
            out += xp.exp(self.F @ self.V[c0:c1].T - lse) @ R[c0:c1]
        return out


# --------------------------------------------------------------------------------------------
# Chunking
# --------------------------------------------------------------------------------------------

def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    size = max(1, int(size))
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def _plan(limit: int, N: int, C: int, fixed: Callable[[int], int], per_col: Callable[[int], int],
          name: str) -> tuple[int, int]:
    """Row block ``nb`` and column chunk ``cc`` with ``fixed(nb) + per_col(nb)·cc ≤ limit``.

    Prefers whole rows (``nb = N``: nothing recomputed across row blocks) as long as the column
    chunk stays at least ``min(C, 512)`` wide; otherwise halves ``nb``. If no ``nb`` allows such
    a chunk, takes the largest tile ``nb · cc``. Raises ValueError naming ``name`` if not even
    ``nb = cc = 1`` fits.
    """
    want = min(C, _MIN_GOOD_CHUNK)
    nb = N
    best = None
    while True:
        room = limit - fixed(nb)
        cc = room // max(1, per_col(nb)) if room > 0 else 0
        if cc >= want:
            return nb, int(min(C, cc))
        if cc >= 1 and (best is None or nb * min(C, cc) > best[0] * best[1]):
            best = (nb, int(min(C, cc)))   # else: the largest tile nb × cc that fits
        if nb == 1:
            break
        nb = max(1, nb // 2)
    if best is not None:
        return best
    need = fixed(1) + per_col(1)
    raise ValueError(f"{name} must be at least {need} bytes for these sizes, got {limit}")


def _gram(A: Any, xp: ModuleType) -> Any:
    """``A Aᵀ`` (symmetric): NumPy's matmul calls BLAS SYRK for ``A @ A.T`` on one buffer;
    on CuPy, cuBLAS SYRK fills one triangle, mirrored here (checked once against GEMM)."""
    A = xp.ascontiguousarray(A)
    if bk.backend_name(xp) == "cupy" and _cupy_syrk_ok(xp):
        S = importlib.import_module("cupy.cublas").syrk("N", A, lower=True)
        return xp.tril(S) + xp.tril(S, -1).T
    return A @ A.T


_SYRK_STATE: dict[str, bool] = {}


def _cupy_syrk_ok(xp: ModuleType) -> bool:
    if "ok" not in _SYRK_STATE:
        try:
            A = xp.asarray(np.arange(12.0).reshape(3, 4) / 7.0)
            S = importlib.import_module("cupy.cublas").syrk("N", A, lower=True)
            S = xp.tril(S) + xp.tril(S, -1).T
            _SYRK_STATE["ok"] = bool(xp.allclose(S, A @ A.T, rtol=1e-12, atol=0))
        except Exception:  # any failure: fall back to GEMM
            _SYRK_STATE["ok"] = False
    return _SYRK_STATE["ok"]


def _as_f64(a: Any) -> Any:
    return a.astype(_F64, copy=False)


def _quadforms(F: Any, weights: Callable[[int, int], Any], K: int, limit: int,
               extra_per_col: int = 0) -> np.ndarray:
    """``(1/N²) Σ_{n,n'} w_{nk} w_{n'k} (f_nᵀ f_{n'})²`` for ``k < K`` (float64, host).

    ``weights(k0, k1)`` returns the weight columns ``k0 … k1-1`` as an (N, k1-k0) array.
    Cost ``O(N² (p + K))`` flops; memory: one ``nb × nb`` block of the Gram matrix
    ``G = (F Fᵀ)∘²`` (kept whole when it fits) and ``N × kc`` weights at a time.
    """
    xp = bk.get_xp(F)
    N = int(F.shape[0])
    isz = F.dtype.itemsize
    nb, kc = _plan(limit, N, K, lambda nb: 2 * isz * nb * nb,
                   lambda nb: (5 * N + 2 * nb) * isz + 8 * nb + extra_per_col, "memory_limit")
    rows = _blocks(N, nb)
    G_whole = None
    if len(rows) == 1:
        G_whole = _gram(F, xp)
        G_whole *= G_whole
    out = np.zeros(K, dtype=_F64)
    for k0, k1 in _blocks(K, kc):
        Wc = weights(k0, k1).astype(F.dtype, copy=False)
        acc = xp.zeros(k1 - k0, dtype=_F64)
        for bi, (r0, r1) in enumerate(rows):
            for s0, s1 in rows[bi:]:
                same = r0 == s0
                if G_whole is not None:
                    G = G_whole
                else:
                    G = _gram(F[r0:r1], xp) if same else F[r0:r1] @ F[s0:s1].T
                    G *= G
                T = G @ Wc[s0:s1]
                acc += (1.0 if same else 2.0) * xp.sum(_as_f64(Wc[r0:r1]) * T, axis=0)
        out[k0:k1] = bk.to_numpy(acc)
    return out / (float(N) * N)


def _ce_aggregate(F: Any, V: Any, head: "_Head", limit: int) -> tuple[float, float]:
    """Exact ``Σ_i ‖H_ii‖²_F`` and ``Σ_{i≠j} ‖H_ij‖²_F`` for ``H_ij = (1/N) Σ A_n[i,j] f_n f_nᵀ``
    with the softmax weights of logits ``F Vᵀ`` — no block is formed.

    With ``G = (F Fᵀ)∘²``, ``P = softmax``, ``Q = P∘(1 − P)`` (the diagonal weights
    ``A_n[i, i]``), ``S1 = P Pᵀ`` and ``S4 = (P∘P)(P∘P)ᵀ``:

    * diagonal: ``(1/N²) Σ G∘(Q Qᵀ)``; ``Q Qᵀ = S1 − S2 − S2ᵀ + S4`` with ``S2 = P(P∘P)ᵀ``,
      so this is the identity of DESIGN.md with one symmetric product instead of S2's GEMM;
    * off-diagonal, directly (never total − diagonal): ``(1/N²) Σ G∘(S1∘S1 − S4)``, since
      ``Σ_{i≠j} p_i p_j p'_i p'_j = (Σ_i p_i p'_i)² − Σ_i p_i² p'_i²``.

    All three products are symmetric (SYRK): about ``3 N² C`` flops, plus ``2 N p C`` for the
    logits (``4 N p C`` when a second pass is needed for the log-sum-exp) and ``N² p`` for ``G``.
    Chunked over classes (``cc``) and rows (``nb``); with ``nb < N`` the logits are recomputed
    for each pair of row blocks, adding ``≈ 2 N² p C / nb`` flops. Accumulation is float64.
    """
    xp = bk.get_xp(F)
    N, p = (int(s) for s in F.shape)
    C = int(V.shape[0])
    isz = F.dtype.itemsize
    nb, cc = _plan(limit, N, C, lambda nb: (7 * 8 + 2 * isz) * nb * nb,
                   lambda nb: 8 * isz * nb + isz * p, "memory_limit")
    rows = _blocks(N, nb)
    diag = xp.zeros((), dtype=_F64)
    off = xp.zeros((), dtype=_F64)
    whole = None
    if len(rows) == 1 and cc >= C:
        # Everything fits: one logits product serves both the log-sum-exp and P.
        Z = F @ V.T
        Z -= xp.max(Z, axis=1, keepdims=True)
        whole = xp.exp(Z, out=Z)
        whole /= xp.sum(whole, axis=1, keepdims=True)
        lse = None
    else:
        lse = head.lse()

    def probs(r0: int, r1: int, c0: int, c1: int) -> tuple[Any, Any, Any]:
        if whole is not None:
            P = whole
        else:
            P = xp.exp(F[r0:r1] @ V[c0:c1].T - lse[r0:r1, None])
        P2 = P * P
        return P, P2, P - P2

    for bi, (r0, r1) in enumerate(rows):
        for s0, s1 in rows[bi:]:
            same = r0 == s0
            S1 = S4 = SQ = None
            for c0, c1 in _blocks(C, cc):
                Pr, Pr2, Qr = probs(r0, r1, c0, c1)
                if same:
                    t1, t4, tq = _gram(Pr, xp), _gram(Pr2, xp), _gram(Qr, xp)
                else:
                    Ps, Ps2, Qs = probs(s0, s1, c0, c1)
                    t1, t4, tq = Pr @ Ps.T, Pr2 @ Ps2.T, Qr @ Qs.T
                if S1 is None:
                    S1, S4, SQ = _as_f64(t1), _as_f64(t4), _as_f64(tq)
                else:
                    S1 += t1
                    S4 += t4
                    SQ += tq
                del t1, t4, tq
            G = _gram(F[r0:r1], xp) if same else F[r0:r1] @ F[s0:s1].T
            G = _as_f64(G)
            G *= G
            w = 1.0 if same else 2.0
            diag += w * xp.sum(G * SQ)
            S1 *= S1
            S1 -= S4
            off += w * xp.sum(G * S1)
    n2 = float(N) * N
    return float(diag) / n2, float(off) / n2


def _mse_diag_sum(F: Any, n_blocks: int, limit: int) -> float:
    """``n_blocks · ‖FᵀF/N‖²_F`` (all blocks equal ``FᵀF/N``), chunked over columns of F."""
    xp = bk.get_xp(F)
    N, p = (int(s) for s in F.shape)
    cc = int(max(1, min(p, limit // max(1, 16 * p))))
    tot = xp.zeros((), dtype=_F64)
    for c0, c1 in _blocks(p, cc):
        B = _as_f64(F.T @ F[:, c0:c1])
        tot += xp.sum(B * B)
    return n_blocks * float(tot) / (float(N) * N)


# --------------------------------------------------------------------------------------------
# Dense Hessian and single blocks
# --------------------------------------------------------------------------------------------

def _weighted_kron(F: Any, rows: Callable[[int], Any], K: int, limit: int) -> Any:
    """``(K p × K p)`` matrix with entries ``[(k,a),(l,b)] = (1/N) Σ_n w_n[k,l] F_na F_nb``,
    where ``rows(k)`` returns ``w[:, k, :]`` as an (N, K) array."""
    xp = bk.get_xp(F)
    N, p = (int(s) for s in F.shape)
    out = xp.empty((K * p, K * p), dtype=F.dtype)
    lc = int(max(1, min(K, limit // max(1, 2 * N * p * F.dtype.itemsize))))
    for k in range(K):
        Wk = rows(k)
        for l0, l1 in _blocks(K, lc):
            M = (Wk[:, l0:l1, None] * F[:, None, :]).reshape(N, (l1 - l0) * p)
            out[k * p:(k + 1) * p, l0 * p:l1 * p] = (F.T @ M) / N
    return out


def _ce_rows(P: Any, xp: ModuleType) -> Callable[[int], Any]:
    C = int(P.shape[1])

    def rows(k: int) -> Any:
        e = xp.zeros(C, dtype=P.dtype)
        e[k] = 1
        return P[:, k:k + 1] * (e[None, :] - P)
    return rows


def _identity_rows(N: int, C: int, dt: Any, xp: ModuleType) -> Callable[[int], Any]:
    def rows(k: int) -> Any:
        w = xp.zeros((N, C), dtype=dt)
        w[:, k] = 1
        return w
    return rows


def hessian(model: Any, X: Any, y: Any = None, loss: str = "ce", *,
            max_params: int = MAX_DENSE_PARAMS) -> Any:
    """The full Hessian of the training loss, in closed form (every term, no autodiff).

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
        Data, one sample per row, on the model's backend.
    y : array of int, shape (N,), optional
        Labels in ``[0, C)``. Not needed for the linear model (its Hessian does not depend on
        them); required for the hidden net (the residual terms of the ``V``–``W`` blocks
        depend on them).
    loss : {"ce", "mse"}
        Cross-entropy, or MSE ``½‖z − e_y‖²`` averaged over samples.
    max_params : int, default :data:`MAX_DENSE_PARAMS` (20,000)
        Refuse models with more parameters than this (the dense matrix has ``P²`` entries).

    Returns
    -------
    array, shape (P, P)
        ``P = model.n_params``, indexed like ``concat(V.ravel(), W.ravel())`` (rows of ``V``,
        then rows of ``W``), in the inputs' floating type and namespace.

    Raises
    ------
    ValueError
        Bad ``X``, ``y``, ``loss``; ``y`` missing for the hidden net; ``P > max_params``.
    """
    max_params = check_int("max_params", max_params, 1)
    if model is not None and hasattr(model, "n_params") and model.n_params > max_params:
        raise ValueError(
            f"max_params must be >= n_params = {model.n_params} to form the dense Hessian, got "
            f"{max_params}; use rmt.hessian.block / block_norms for large models")
    ctx = _Ctx(model, X, y, loss)
    xp, N, C, dt = ctx.xp, ctx.N, ctx.C, ctx.dt
    if ctx.kind == "linear":
        rows = (_ce_rows(ctx.head().probs(np.arange(C)), xp) if ctx.loss == "ce"
                else _identity_rows(N, C, dt, xp))
        return _weighted_kron(ctx.X, rows, C, ctx.L)
    ctx.require_labels("the hidden-net Hessian (its V-W blocks)")
    m, d = ctx.m, ctx.d
    st = ctx.hidden_state()
    Hf, D1, D2 = st["H"], st["D1"], st["D2"]
    V = ctx.Vc   # centred for CE (see _Ctx), V itself for MSE
    nv = C * m
    out = xp.empty((nv + m * d, nv + m * d), dtype=dt)
    # V-V
    if ctx.loss == "ce":
        P = ctx.head().probs(np.arange(C))
        out[:nv, :nv] = _weighted_kron(Hf, _ce_rows(P, xp), C, ctx.L)
    else:
        P = None
        out[:nv, :nv] = _weighted_kron(Hf, _identity_rows(N, C, dt, xp), C, ctx.L)
    # W-W
    r = ctx.r()
    if ctx.loss == "ce":
        q = P @ V

        def wrows(k: int) -> Any:
            M = (P * V[:, k][None, :]) @ V - q[:, k:k + 1] * q
            w = D1[:, k:k + 1] * D1 * M
            w[:, k] += D2[:, k] * r[:, k]
            return w
    else:
        VtV = V.T @ V

        def wrows(k: int) -> Any:
            w = D1[:, k:k + 1] * D1 * VtV[k][None, :]
            w[:, k] += D2[:, k] * r[:, k]
            return w
    out[nv:, nv:] = _weighted_kron(ctx.X, wrows, m, ctx.L)
    # V-W: for each class a, an (m, m, d) array [k, l, b]
    g = _residual(ctx, P)
    diag_idx = xp.arange(m)
    for a in range(C):
        E = (P[:, a:a + 1] * (V[a][None, :] - q) if ctx.loss == "ce"
             else xp.ones((N, 1), dt) * V[a][None, :]) * D1          # (N, m): (A_n V)[a, l] h'_nl
        T = (Hf[:, :, None] * E[:, None, :]).reshape(N, m * m)       # [n, (k, l)]
        blk = ((T.T @ ctx.X) / N).reshape(m, m, d)
        blk[diag_idx, diag_idx, :] += ((g[:, a:a + 1] * D1).T @ ctx.X) / N
        out[a * m:(a + 1) * m, nv:] = blk.reshape(m, m * d)
    out[nv:, :nv] = out[:nv, nv:].T
    return out


def _residual(ctx: _Ctx, P: Any = None) -> Any:
    """``g = ∂ℓ_n/∂z_n`` (N, C): ``p − e_y`` (CE) or ``z − e_y`` (MSE)."""
    xp = ctx.xp
    if ctx.loss == "ce":
        G = ctx.head().probs(np.arange(ctx.C)) if P is None else P.copy()
    else:
        G = ctx.features("V") @ ctx.V.T
    G[xp.arange(ctx.N), ctx.y] -= 1
    return G


def block(model: Any, X: Any, i: int, j: int, y: Any = None, loss: str = "ce", *,
          memory_limit: int | None = None) -> Any:
    """One block ``H_ij`` of the Hessian, without forming the full Hessian.

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
    i, j : int
        Block indices in ``[0, n_blocks)``. Linear model: ``n_blocks = C``, blocks are the rows
        of ``V`` (``d × d``). Hidden net: ``n_blocks = C + m``; ``0 … C-1`` are the rows of ``V``
        (``m × m`` blocks), ``C … C+m-1`` the rows of ``W`` (``d × d``); mixed ``V``–``W``
        blocks are ``m × d`` (and ``d × m`` for ``W``–``V``).
    y : array of int, shape (N,), optional
        Labels; required only where the block depends on them (hidden net: ``V``–``W`` blocks,
        and ``W``–``W`` blocks for ``tanh``/``gelu``).
    loss : {"ce", "mse"}
    memory_limit : int, optional
        Bytes for the class-chunked softmax (default: a fraction of free memory).

    Returns
    -------
    array
        The block, in the inputs' floating type and namespace. Cost ``O(N p² + N p C)``.

    Raises
    ------
    ValueError
        Bad inputs, ``i`` or ``j`` out of range, or ``y`` missing where needed.
    """
    ctx = _Ctx(model, X, y, loss, memory_limit)
    nbk = ctx.n_blocks
    i = check_int("i", i, 0, nbk - 1)
    j = check_int("j", j, 0, nbk - 1)
    (li, a), (lj, b) = ctx.layer_of(i), ctx.layer_of(j)
    xp, N = ctx.xp, ctx.N
    if li == lj:
        if ctx.labels_needed((li, lj)):
            ctx.require_labels("the W-W blocks of a tanh/gelu hidden net")
        w = ctx.pair_weights(li, np.array([a]), np.array([b]))
        F = ctx.features(li)
        w = xp.broadcast_to(w, (N, 1))
        return F.T @ (w * F) / N
    ctx.require_labels("the mixed V-W blocks of the hidden net")
    transpose = li == "W"
    if transpose:
        a, b = b, a
    # V-W block (a, l=b): (1/N) Σ_n [(A_n V)[a, l] h'_nl h_n + g_na h'_nl e_l] x_nᵀ
    st = ctx.hidden_state()
    Hf, D1, V = st["H"], st["D1"], ctx.Vc
    l = b
    if ctx.loss == "ce":
        pa = ctx.head().probs(np.array([a]))[:, 0]
        e = pa * (V[a, l] - ctx.q()[:, l])
        ga = pa - (ctx.y == a).astype(ctx.dt)
    else:
        za = Hf @ V[a]
        e = xp.ones(N, ctx.dt) * V[a, l]
        ga = za - (ctx.y == a).astype(ctx.dt)
    e = e * D1[:, l]
    out = Hf.T @ (e[:, None] * ctx.X) / N
    out[l] += (ga * D1[:, l]) @ ctx.X / N
    return out.T if transpose else out


# --------------------------------------------------------------------------------------------
# Block norms
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BlockNormSums:
    """Exact sums of squared Frobenius norms over the blocks of one layer.

    Attributes
    ----------
    diagonal : float
        ``Σ_i ‖H_ii‖²_F``.
    off_diagonal : float
        ``Σ_{i≠j} ‖H_ij‖²_F`` over ordered pairs, computed directly (never total − diagonal).
    n_blocks : int
        Number of blocks in the layer.
    blocks : str
        ``"V"`` (rows of V) or ``"W"`` (rows of W).
    """

    diagonal: float
    off_diagonal: float
    n_blocks: int
    blocks: str

    @property
    def aggregate_ratio(self) -> float:
        """``(off_diagonal / diagonal)^{1/2}`` (NaN when the diagonal sum is 0)."""
        return math.sqrt(self.off_diagonal / self.diagonal) if self.diagonal > 0 else math.nan


def _layer(ctx: _Ctx, blocks: Any) -> str:
    if blocks is None:
        return "V"
    layer = check_choice("blocks", blocks, ("v", "w")).upper()
    if ctx.kind == "linear" and layer == "W":
        raise ValueError("blocks must be 'V' for the linear model (it has no W), got 'W'")
    return layer


def _aggregate(ctx: _Ctx, layer: str) -> BlockNormSums:
    n = ctx.layer_size(layer)
    if ctx.labels_needed((layer, layer)):
        ctx.require_labels("the W-W blocks of a tanh/gelu hidden net")
    F = ctx.features(layer)
    if layer == "V":
        if ctx.loss == "mse":
            diag, off = _mse_diag_sum(F, n, ctx.L), 0.0
        else:
            diag, off = _ce_aggregate(F, ctx.Vc, ctx.head(), ctx.L)
        return BlockNormSums(diag, off, n, layer)
    kk, ll = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    kk, ll = kk.ravel(), ll.ravel()
    q = _quadforms(F, lambda k0, k1: ctx.pair_weights("W", kk[k0:k1], ll[k0:k1]), n * n, ctx.L,
                   extra_per_col=3 * ctx.isz * ctx.N)
    on = kk == ll
    return BlockNormSums(float(q[on].sum()), float(q[~on].sum()), n, layer)


def _pair_norms_sq(ctx: _Ctx, gi: np.ndarray, gj: np.ndarray) -> np.ndarray:
    """Squared Frobenius norms of the blocks ``(gi[t], gj[t])`` (global indices), float64."""
    out = np.empty(gi.size, dtype=_F64)
    lay = [(ctx.layer_of(int(a)), ctx.layer_of(int(b))) for a, b in zip(gi, gj)]
    for layer in ("V", "W"):
        sel = np.array([la[0] == layer and lb[0] == layer for la, lb in lay], dtype=bool)
        if not sel.any():
            continue
        if ctx.labels_needed((layer, layer)):
            ctx.require_labels("the W-W blocks of a tanh/gelu hidden net")
        ii = np.array([lay[t][0][1] for t in np.flatnonzero(sel)], dtype=np.int64)
        jj = np.array([lay[t][1][1] for t in np.flatnonzero(sel)], dtype=np.int64)
        F = ctx.features(layer)
        extra = 3 * ctx.isz * ctx.N
        q = _quadforms(F, lambda k0, k1: ctx.pair_weights(layer, ii[k0:k1], jj[k0:k1]),
                       ii.size, ctx.L, extra_per_col=extra)
        out[sel] = np.maximum(q, 0.0)   # a sum of squares; rounding can leave -O(eps)
    mixed = np.array([la[0] != lb[0] for la, lb in lay], dtype=bool)
    for t in np.flatnonzero(mixed):
        B = block(ctx.model, ctx.X, int(gi[t]), int(gj[t]), ctx.y, ctx.loss, memory_limit=ctx.L)
        out[t] = float(ctx.xp.sum(_as_f64(B) ** 2))
    return out


def _check_pairs(pairs: Any, n_blocks: int) -> np.ndarray:
    try:
        arr = np.asarray(bk.to_numpy(pairs))
    except Exception as exc:  # noqa: BLE001 - report any conversion failure as bad input
        raise ValueError(f"pairs must be None, 'all' or an integer array of shape (K, 2), "
                         f"got {type(pairs).__name__}") from exc
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ValueError(f"pairs must be an integer array of shape (K, 2) with K >= 1, "
                         f"got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"pairs must hold integer block indices, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= n_blocks:
        raise ValueError(f"pairs must hold block indices in [0, {n_blocks - 1}], got range "
                         f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def block_norms(model: Any, X: Any, y: Any = None, loss: str = "ce", pairs: Any = None, *,
                blocks: str | None = None, memory_limit: int | None = None) -> Any:
    """Frobenius norms of Hessian blocks, without forming the blocks.

    Same-layer blocks are weighted sample covariances ``(1/N) Σ_n w_n f_n f_nᵀ``, so
    ``‖H_ij‖²_F = (1/N²) Σ_{n,n'} w_n w_{n'} (f_nᵀ f_{n'})²``; sums over all pairs use the GEMM
    identities of :func:`_ce_aggregate` (CE on the softmax layer), ``FᵀF`` (MSE on the
    softmax layer: exactly block-diagonal, all diagonal blocks equal ``FᵀF/N``), or a sum of
    the per-pair quadratic forms (``W`` blocks of the hidden net).

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
    y : array of int, shape (N,), optional
        Labels, where the blocks depend on them (see :func:`block`).
    loss : {"ce", "mse"}
    pairs : None, "all", or int array of shape (K, 2)
        ``None``: the exact sums over one layer (see Returns). ``"all"``: the norms of all
        blocks of one layer as an ``(n, n)`` matrix (local indices; ``n² · O(N²)`` flops).
        An array: the norms of blocks ``(pairs[t, 0], pairs[t, 1])`` in the global numbering of
        :func:`block` (mixed ``V``–``W`` pairs of the hidden net are formed, ``O(N m d)`` each).
    blocks : {"V", "W"}, optional
        The layer for ``pairs=None`` or ``"all"``: rows of ``V`` (default) or of ``W`` (hidden
        net only).
    memory_limit : int, optional
        Bytes the chunked loops may use (default: :data:`MEMORY_SAFETY` of the free host or
        device memory). Not counted: the inputs (and a copy of them when their dtypes differ),
        ``O(N)`` vectors, and for the hidden net ``O(N m)`` per-sample arrays and a centred
        copy of ``V``. Per-pair norms need at least ``O(N)`` bytes per pair chunk.

    Returns
    -------
    BlockNormSums or numpy.ndarray
        ``pairs=None``: :class:`BlockNormSums`. Otherwise float64 NumPy norms ``‖H_ij‖_F``.

    Notes
    -----
    Costs (``p`` = feature dimension: ``d`` for the linear model and ``W`` blocks, ``m`` for
    ``V`` blocks of the hidden net): CE aggregate over ``V`` ``≈ 3 N² C + 4 N p C + N² p`` flops;
    MSE aggregate over ``V`` ``N p²``; per pair ``O(N²)`` after an ``O(N² p)`` Gram matrix;
    aggregate over ``W`` (hidden) ``O(N² (d + m²) + N C m²)``. Matrix products run in the inputs'
    type; accumulation and reductions are float64.
    """
    ctx = _Ctx(model, X, y, loss, memory_limit)
    if pairs is None:
        return _aggregate(ctx, _layer(ctx, blocks))
    if isinstance(pairs, str):
        if pairs.lower() != "all":
            raise ValueError(f"pairs must be None, 'all' or an integer array of shape (K, 2), "
                             f"got {pairs!r}")
        layer = _layer(ctx, blocks)
        n = ctx.layer_size(layer)
        off = 0 if layer == "V" else ctx.C
        ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        sq = _pair_norms_sq(ctx, ii.ravel() + off, jj.ravel() + off)
        return np.sqrt(sq).reshape(n, n)
    arr = _check_pairs(pairs, ctx.n_blocks)
    return np.sqrt(_pair_norms_sq(ctx, arr[:, 0], arr[:, 1]))


# --------------------------------------------------------------------------------------------
# Block ratios
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BlockRatio:
    """Off-diagonal / diagonal block ratios of one layer of the Hessian.

    Per-block ratio of an ordered pair ``i ≠ j``: ``r_ij = ‖H_ij‖_F / ‖H_ii‖_F`` (denominator:
    the diagonal block of the *row* index, as in DESIGN.md; ``r_ij ≠ r_ji`` in general). The
    per-block statistics summarise ``r_ij`` over the pairs used (all ordered pairs, or a seeded
    sample without replacement). ``per_block_sem`` is the standard error of their mean as an
    estimate of the all-pairs mean *of this Hessian* (finite-population corrected; 0 when all
    pairs are used), and the CI is ``mean ± t_{(1+level)/2, n-1} · sem``; the spread over data
    and initialisation is for the caller to measure across seeds.

    The aggregate ratio ``(Σ_{i≠j} ‖H_ij‖²_F / Σ_i ‖H_ii‖²_F)^{1/2}`` is always exact (all
    pairs). Pairs whose diagonal block is 0 (e.g. a dead ReLU unit) have no ratio; they are
    counted in ``n_pairs_undefined`` and left out of the statistics.
    """

    model: str
    loss: str
    blocks: str
    n_samples: int
    dim: int
    n_classes: int
    hidden: int | None
    n_blocks: int
    block_shape: tuple[int, int]
    per_block_mean: float
    per_block_std: float
    per_block_sem: float
    per_block_ci_low: float
    per_block_ci_high: float
    per_block_min: float
    per_block_max: float
    level: float
    n_pairs: int
    n_pairs_total: int
    n_pairs_undefined: int
    sampled: bool
    aggregate: float
    diagonal_sq_sum: float
    off_diagonal_sq_sum: float
    dtype: str
    backend: str

    _DEFINITIONS = {
        "per_block_mean": "mean over the pairs used of r_ij = ||H_ij||_F / ||H_ii||_F, i != j",
        "per_block_std": "standard deviation (ddof=1) of r_ij over the pairs used",
        "per_block_sem": "standard error of per_block_mean as an estimate of the all-pairs mean "
                         "of this Hessian (finite-population corrected; 0 when all pairs used)",
        "per_block_ci": "per_block_mean +- t quantile * per_block_sem at confidence `level`",
        "aggregate": "(sum_{i!=j} ||H_ij||_F^2 / sum_i ||H_ii||_F^2)^(1/2), exact over all pairs",
        "diagonal_sq_sum": "sum_i ||H_ii||_F^2 (exact)",
        "off_diagonal_sq_sum": "sum_{i!=j} ||H_ij||_F^2 over ordered pairs (exact, computed "
                               "directly, not as total minus diagonal)",
        "n_pairs": "ordered pairs (i, j), i != j, whose ratio entered the statistics",
        "n_pairs_total": "all ordered pairs i != j of the layer: n_blocks (n_blocks - 1)",
    }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every number under a key that says what it is, plus
        ``"definitions"`` explaining the keys."""
        d = asdict(self)
        d["block_shape"] = list(self.block_shape)
        d["per_block_ci"] = [d.pop("per_block_ci_low"), d.pop("per_block_ci_high")]
        d["definitions"] = dict(self._DEFINITIONS)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}

    def __str__(self) -> str:
        shape = f"{self.block_shape[0]}x{self.block_shape[1]}"
        size = (f"N={self.n_samples}, d={self.dim}, C={self.n_classes}"
                + (f", m={self.hidden}" if self.hidden is not None else ""))
        how = "sampled" if self.sampled else "all"
        pct = f"{100 * self.level:g}%"
        lines = [
            f"Block ratio: {self.model} model, {self.loss.upper()} loss, blocks = rows of "
            f"{self.blocks} ({self.n_blocks} blocks of {shape}); {size}; {self.dtype} on "
            f"{self.backend}",
            f"  aggregate, all blocks: (Σ_i≠j ‖H_ij‖²_F / Σ_i ‖H_ii‖²_F)^1/2 = {self.aggregate:.6g}"
            f"  [Σ_i≠j ‖H_ij‖²_F = {self.off_diagonal_sq_sum:.6g}, "
            f"Σ_i ‖H_ii‖²_F = {self.diagonal_sq_sum:.6g}]",
            f"  per block ‖H_ij‖_F/‖H_ii‖_F ({how} {self.n_pairs} of {self.n_pairs_total} ordered "
            f"pairs): mean {self.per_block_mean:.6g} +- {self.per_block_sem:.2g} (sem), "
            f"{pct} CI [{self.per_block_ci_low:.6g}, {self.per_block_ci_high:.6g}], "
            f"std {self.per_block_std:.3g}, range [{self.per_block_min:.4g}, "
            f"{self.per_block_max:.4g}]",
        ]
        if self.n_pairs_undefined:
            lines.append(f"  {self.n_pairs_undefined} pairs with a zero diagonal block left out")
        return "\n".join(lines)


def _draw_pairs(n: int, K: int | None, seed: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Ordered pairs ``i ≠ j`` of ``n`` blocks: all (K None or ≥ total) or K drawn uniformly
    without replacement with a generator seeded from ``seed``."""
    total = n * (n - 1)
    if K is None or K >= total:
        t = np.arange(total, dtype=np.int64)
        sampled = False
    else:
        rng = bk.default_rng(seed, np)
        t = np.sort(rng.choice(total, size=K, replace=False)).astype(np.int64)
        sampled = True
    i = t // (n - 1)
    jp = t % (n - 1)
    return i, jp + (jp >= i), sampled


def block_ratio(model: Any, X: Any, y: Any = None, loss: str = "ce", pairs: Any = "auto",
                seed: Any = None, level: float = 0.95, blocks: str = "V", *,
                memory_limit: int | None = None) -> BlockRatio:
    """Off-diagonal / diagonal block ratios of one layer of the Hessian.

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
    y : array of int, shape (N,), optional
        Labels, needed only for ``blocks="W"`` of a ``tanh``/``gelu`` hidden net.
    loss : {"ce", "mse"}
    pairs : "auto", "all" or int >= 1
        Ordered pairs ``i ≠ j`` for the per-block statistics: every pair (``"all"``; refused
        above :data:`MAX_ALL_PAIRS`), a seeded uniform sample of this many without replacement
        (an int; all pairs if it is at least their number), or ``"auto"``: all pairs if there
        are at most :data:`AUTO_MAX_PAIRS`, else a sample of that many.
    seed : int, SeedSequence or Generator, optional
        Seeds the pair sample.
    level : float in (0, 1)
        Confidence level of the per-block CI.
    blocks : {"V", "W"}
        Rows of ``V`` (the only choice for the linear model; ``C`` blocks) or of ``W`` (hidden
        net; ``m`` blocks of ``d × d``).
    memory_limit : int, optional
        Bytes for the chunked loops (see :func:`block_norms`).

    Returns
    -------
    BlockRatio

    Notes
    -----
    Cost: the aggregate as in :func:`block_norms` (``≈ 3 N² C`` flops for CE on ``V``), plus
    ``O(N² (p + K + min(K, n)))`` for ``K`` sampled pairs. At ``V = 0`` (CE) every per-block
    ratio is exactly ``1/(C−1)`` and the aggregate ``1/√(C−1)``.
    """
    ctx = _Ctx(model, X, y, loss, memory_limit)
    layer = _layer(ctx, blocks)
    level = check_probability("level", level)
    n = ctx.layer_size(layer)
    total = n * (n - 1)
    if isinstance(pairs, str):
        mode = check_choice("pairs", pairs, ("auto", "all"))
        if mode == "all" and total > MAX_ALL_PAIRS:
            raise ValueError(f"pairs='all' needs n_blocks (n_blocks - 1) <= {MAX_ALL_PAIRS}, here "
                             f"{total}; pass pairs=<int> to sample")
        K = None if mode == "all" or total <= AUTO_MAX_PAIRS else AUTO_MAX_PAIRS
    else:
        K = check_int("pairs", pairs, 1)
    if n < 2:
        raise ValueError(f"blocks={layer!r} has {n} block; a ratio needs at least 2")
    sums = _aggregate(ctx, layer)
    ii, jj, sampled = _draw_pairs(n, K, seed)
    uniq = np.unique(ii)
    off0 = 0 if layer == "V" else ctx.C
    sq = _pair_norms_sq(ctx, np.concatenate([ii, uniq]) + off0, np.concatenate([jj, uniq]) + off0)
    off_sq = sq[:ii.size]
    diag_sq = sq[ii.size:][np.searchsorted(uniq, ii)]
    ok = diag_sq > 0
    r = np.sqrt(off_sq[ok] / diag_sq[ok])
    k = int(r.size)
    mean = float(r.mean()) if k else math.nan
    std = float(r.std(ddof=1)) if k > 1 else math.nan
    if not sampled and k:
        sem = 0.0
    elif k > 1:
        sem = std / math.sqrt(k) * math.sqrt(max(0.0, 1.0 - k / total))
    else:
        sem = math.nan
    if k > 1 and math.isfinite(sem):
        from scipy.special import stdtrit  # noqa: PLC0415 - Student t quantile; light import

        half = float(stdtrit(k - 1, 0.5 + level / 2)) * sem
    else:
        half = 0.0 if (k and sem == 0.0) else math.nan
    shape = (ctx.d, ctx.d) if (ctx.kind == "linear" or layer == "W") else (ctx.m, ctx.m)
    return BlockRatio(
        model=ctx.kind, loss=ctx.loss, blocks=layer, n_samples=ctx.N, dim=ctx.d,
        n_classes=ctx.C, hidden=ctx.m, n_blocks=n, block_shape=shape,
        per_block_mean=mean, per_block_std=std, per_block_sem=sem,
        per_block_ci_low=mean - half, per_block_ci_high=mean + half,
        per_block_min=float(r.min()) if k else math.nan,
        per_block_max=float(r.max()) if k else math.nan,
        level=level, n_pairs=k, n_pairs_total=total, n_pairs_undefined=int((~ok).sum()),
        sampled=sampled, aggregate=sums.aggregate_ratio, diagonal_sq_sum=sums.diagonal,
        off_diagonal_sq_sum=sums.off_diagonal, dtype=str(np.dtype(ctx.dt)),
        backend=bk.backend_name(ctx.xp))
