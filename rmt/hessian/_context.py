"""Shared state of the closed-form Hessian code: validated inputs, per-sample quantities of
the two models, the chunked softmax head, the memory planner and the symmetric products."""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any, Callable

import numpy as np

from .. import backend as bk
from ..models import (
    LOSSES,
    LinearClassifier,
    OneHiddenLayer,
    activation_functions,
    check_data,
    check_labels,
)
from ..validation import check_choice

#: (a dense float64 Hessian of 20,000 parameters takes 3.2 GB).
MAX_DENSE_PARAMS = 20_000
#: Fraction of the device's total memory planned for when ``memory_limit`` is not given
#: (:func:`rmt.backend.plan_memory`: one plan per call, the same in every run on a device).
MEMORY_SAFETY = bk.MEMORY_PLAN_FRACTION
#: ``pairs="auto"`` never samples more pairs than this.
AUTO_MAX_PAIRS = 4096
#: ``pairs="auto"`` spends at most this fraction of the exact aggregate's flops on the
#: per-pair norms … (0.3: the pair norms run at a lower flop rate than the aggregate's SYRKs, so
#: :func:`block_ratio` took 1.23–1.63× :func:`block_norms` at C = 256–4096 with 0.5; issue 19
#: asks for at most 1.5×.)
AUTO_PAIR_BUDGET = 0.3
#: … or this many flops when that is more (tiny problems: all pairs in milliseconds) …
AUTO_MIN_PAIR_FLOPS = 1e8
#: … and samples at least this many pairs.
AUTO_MIN_PAIRS = 64
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


def _check_X(X: Any, model: Any, xp: ModuleType) -> Any:
    """``X`` validated for the closed forms: a nested sequence becomes an array on the model's
    backend; float16 (in ``X`` or the model) is refused; and its scale must keep the Gram
    identities in range (``‖H_ij‖²_F`` is a sum of ``(x_nᵀx_m)²`` terms)."""
    if getattr(X, "ndim", None) is None and isinstance(X, (list, tuple)):
        try:
            X = bk.asarray(np.asarray(X), xp)
        except ValueError as exc:
            raise ValueError(f"X must be a 2-D array of shape (N, {model.dim}) or a nested "
                             f"sequence that numpy.asarray turns into one ({exc})") from None
    X = check_data(X, model.dim, xp)
    arrays = [("X", X), ("model.V", model.V)] + ([] if getattr(model, "W", None) is None
                                                  else [("model.W", model.W)])
    for name, a in arrays:
        if np.dtype(a.dtype).itemsize < 4:
            raise ValueError(f"{name} must be float32 or float64, got {a.dtype}: half precision "
                             "(11 significant bits) is too coarse for these sums; convert it, "
                             "e.g. X.astype(numpy.float32)")
    dt = np.dtype(np.float32) if np.result_type(*(a.dtype for _, a in arrays)) == np.float32 \
        else np.dtype(_F64)
    s = max(float(xp.max(X)), -float(xp.min(X)))     # max |x|, without an |X| temporary
    if s > 0:
        fx = np.finfo(X.dtype)
        if math.sqrt(float(fx.tiny)) * 1e8 < s < math.sqrt(float(fx.max) / (1 + X.shape[1])):
            # Σ x² neither overflows nor underflows to 0: no scaled copy of X is needed
            lnu = math.log10(float(xp.max(xp.einsum("ij,ij->i", X, X))))
        else:
            # log10 of the largest squared row norm ν = s² · max_n ‖x_n / s‖² (no overflow here)
            lnu = 2 * math.log10(s) + math.log10(float(xp.max(xp.sum((X / s) ** 2, axis=1))))
        N = int(X.shape[0])
        fi = np.finfo(dt)
        # A Gram term (x_nᵀx_m)² is at most ν², and the products sum N of them in `dt`; the
        # largest must stay a normal number, or every block reads as 0.
        hi = (math.log10(float(fi.max)) - math.log10(N)) / 2
        lo = math.log10(float(fi.tiny)) / 2
        if not lo <= lnu <= hi:
            bound, side = (f"<= {10 ** hi:.3g}", "overflow") if lnu > hi else \
                (f">= {10 ** lo:.3g}", "underflow to 0")
            raise ValueError(
                f"X must have max_n ||x_n||^2 {bound} ({dt}, N = {N}: the Gram terms "
                f"(x_n^T x_m)^2 {side}), got 1e{lnu:.1f}; rescale X (block ratios are not "
                "scale-free: the logits scale with it)")
    return X


def _memory_limit(memory_limit: Any, xp: ModuleType) -> int:
    return bk.plan_memory(xp, memory_limit, name="memory_limit")


class _Ctx:
    """Validated inputs and the per-sample quantities the formulas need (computed lazily)."""

    def __init__(self, model: Any, X: Any, y: Any, loss: str, memory_limit: Any = None):
        self.kind = _model_kind(model)
        self.model = model
        self.loss = check_choice("loss", loss, LOSSES)
        xp = model.xp
        self.xp = xp
        X = _check_X(X, model, xp)
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
    """``A Aᵀ`` as a full symmetric matrix (for general products with it). NumPy's matmul calls
    BLAS SYRK for ``A @ A.T`` on one buffer; CuPy's calls GEMM, which reads ``A`` in place and
    makes no temporary (a SYRK would need a copy of one triangle into the other: ``N × N``
    temporaries for ``N² p`` saved flops, small next to the aggregate's ``N² C``)."""
    A = xp.ascontiguousarray(A)
    return A @ A.T


_SYRK_STATE: dict[str, bool] = {}


def _cupy_syrk_ok(xp: ModuleType) -> bool:
    """Whether ``cupy.cublas.syrk`` accumulates ``A Aᵀ`` into the lower triangle of a C-ordered
    output in place, leaving the upper one alone (checked once per process: one small copy)."""
    if "ok" not in _SYRK_STATE:
        try:
            syrk = importlib.import_module("cupy.cublas").syrk
            A = xp.asarray(np.arange(12.0).reshape(3, 4) / 7.0)
            S = xp.zeros((3, 3))
            for _ in range(2):
                syrk("N", A, out=S, alpha=1.0, beta=1.0, lower=True)
            want = 2.0 * np.tril(np.arange(12.0).reshape(3, 4) @ np.arange(12.0).reshape(3, 4).T
                                 ) / 49.0
            _SYRK_STATE["ok"] = bool(np.allclose(bk.to_numpy(S), want, rtol=1e-12, atol=0))
        except Exception:  # any failure: fall back to GEMM
            _SYRK_STATE["ok"] = False
    return _SYRK_STATE["ok"]


def _as_f64(a: Any) -> Any:
    return a.astype(_F64, copy=False)


class _SymAcc:
    """Float64 accumulators ``S += A Aᵀ`` of ``n × n`` symmetric products, and ``Σ G∘S``.

    Only one triangle is computed and stored: SYRK (``n² k`` flops, half of a GEMM) writes into
    the float64 accumulator in place (float64 ``A``) or into one reused buffer of ``A``'s type
    that is then added (float32 ``A``: float32 products, float64 sums); the other triangle stays
    0. NumPy: BLAS SYRK into Fortran-ordered accumulators. CuPy: cuBLAS SYRK into C-ordered
    ones, which reads a C-ordered ``A`` in place (a Fortran-ordered output would make CuPy copy
    ``A``). If CuPy's SYRK fails its one check, full matrices by GEMM instead. :meth:`dot` and
    :meth:`matmul` know which, so callers never see the difference. Memory: the accumulators
    and, for float32 ``A``, one ``n × n`` buffer — what :func:`ce_aggregate`'s plan counts.
    """

    def __init__(self, xp: ModuleType, n: int):
        self.xp, self.n = xp, int(n)
        self.gpu = bk.backend_name(xp) == "cupy"
        self.tri = not self.gpu or _cupy_syrk_ok(xp)
        self._tmp = None

    def zeros(self, dtype: Any = _F64) -> Any:
        if not self.gpu:
            return np.zeros((self.n, self.n), dtype=dtype, order="F")
        return self.xp.zeros((self.n, self.n), dtype=dtype)

    def add(self, out: Any, A: Any, overwrite: bool = False) -> None:
        """``out += A Aᵀ`` (``overwrite``: ``out = A Aᵀ``, ``out`` not read), one triangle unless
        CuPy's SYRK failed its check; the other triangle is left as it is (0 from :meth:`zeros`).
        ``out`` of ``A``'s type (e.g. a float32 accumulator from ``zeros(float32)``) is updated by
        SYRK in place; a float64 ``out`` of float32 ``A`` gets the float32 product added."""
        if not self.tri:
            if overwrite:
                out[...] = _as_f64(_gram(A, self.xp))
            else:
                out += _as_f64(_gram(A, self.xp))
            return
        beta = 0.0 if overwrite else 1.0
        if self.gpu:
            self._add_gpu(out, A, beta)
            return
        from scipy.linalg import blas  # noqa: PLC0415 - SciPy is a dependency; lazy for import time

        At = np.ascontiguousarray(A).T          # Fortran-ordered (k, n): SYRK reads it in place
        if At.dtype == out.dtype:
            syrk = blas.dsyrk if At.dtype == _F64 else blas.ssyrk
            r = syrk(1.0, At, beta=beta, c=out, trans=1, overwrite_c=1)
            if r is not out:                    # f2py had to copy (never for our layouts)
                out[...] = r
            return
        if self._tmp is None:
            self._tmp = np.zeros((self.n, self.n), dtype=np.float32, order="F")
        r = blas.ssyrk(1.0, At.astype(np.float32, copy=False), beta=0.0, c=self._tmp,
                       trans=1, overwrite_c=1)
        if overwrite:
            out[...] = r
        else:
            out += r

    def _add_gpu(self, out: Any, A: Any, beta: float) -> None:
        xp = self.xp
        syrk = importlib.import_module("cupy.cublas").syrk
        A = xp.ascontiguousarray(A)             # C order: read in place by SYRK, no copy
        if A.dtype == out.dtype:
            syrk("N", A, out=out, alpha=1.0, beta=beta, lower=True)
            return
        if self._tmp is None:                   # one triangle written, the other stays 0
            self._tmp = xp.zeros((self.n, self.n), dtype=A.dtype)
        syrk("N", A, out=self._tmp, alpha=1.0, beta=0.0, lower=True)
        if beta == 0.0:
            out[...] = self._tmp
        else:
            out += self._tmp

    def matmul(self, G: Any, W: Any) -> Any:
        """``G @ W`` for a symmetric ``G`` made by this accumulator (BLAS SYMM on NumPy; on CuPy
        ``L W + Lᵀ W − diag(G) W`` from the stored triangle ``L``, without a full copy)."""
        if not self.tri:
            return G @ W
        if self.gpu:
            W = _as_f64(W)
            return G @ W + G.T @ W - self.xp.diagonal(G)[:, None] * W
        from scipy.linalg import blas  # noqa: PLC0415

        W = _as_f64(W)
        if W.flags.c_contiguous:                # (W^T G)^T: W^T is Fortran-ordered, no copy
            return blas.dsymm(1.0, G, W.T, side=1).T
        return blas.dsymm(1.0, G, np.asfortranarray(W))

    def dot(self, G: Any, S: Any) -> Any:
        """``Σ_{n,m} G_nm S_nm`` for two symmetric matrices made by this accumulator: a float
        (NumPy) or a 0-d device array (CuPy; not copied to the host here)."""
        xp = self.xp
        if not self.tri:
            return xp.vdot(G.ravel(), S.ravel())
        if self.gpu:
            return 2.0 * xp.vdot(G.ravel(), S.ravel()) - xp.diagonal(G) @ xp.diagonal(S)
        g, s = G.reshape(-1, order="F"), S.reshape(-1, order="F")   # views, no copies
        return 2.0 * float(g @ s) - float(np.diagonal(G) @ np.diagonal(S))
