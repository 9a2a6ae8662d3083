"""The Hessian of a softmax layer, matrix-free, and its diagonal and block-diagonal
approximations ``P`` (the operators :mod:`rmt.preconditioners` measures).

For features ``F`` (``N × p``: the inputs of a linear model, or a hidden net's activations) and
softmax probabilities ``P`` (``N × C``), the CE Hessian of the layer's ``C × p`` weights is
``H = (1/N) Σ_n (diag p_n − p_n p_nᵀ) ⊗ f_n f_nᵀ``. :class:`SoftmaxLayerHessian` multiplies by
``H``, by ``blockdiag H`` or by ``H − blockdiag H`` with two GEMMs (``4 N C p k`` flops for ``k``
vectors) and gives ``diag H`` and the diagonal blocks ``H_ii = Fᵀ diag(q_i) F / N``
(``q_i = p_i ∘ (1 − p_i)``) in closed form. :class:`DiagonalP` holds a diagonal approximation
(identity, ``diag H``, one scalar per block); :class:`BlockP` the block-diagonal one by its
block inverses. These are building blocks of :mod:`rmt.preconditioners`, not part of rmt's
top-level API.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from . import backend as bk
from .models import check_data

__all__ = ["SoftmaxLayerHessian", "DiagonalP", "BlockP"]

#: Refinement steps of a float64 block solve from float32 inverses at most (see BlockP.solve).
_REFINE_MAXITER = 12


class SoftmaxLayerHessian:
    """``H = (1/N) Σ_n (diag p_n − p_n p_nᵀ) ⊗ f_n f_nᵀ`` without forming it.

    Parameters
    ----------
    F : array, shape (N, p)
        Features: the inputs ``X`` (linear model) or ``φ(X Wᵀ)`` (hidden net, ``V`` blocks).
    P : array, shape (N, C)
        Softmax probabilities (rows on the simplex).

    Vectors are arrays of shape ``(C, p, k)`` (``k`` right-hand sides), ordered like
    ``V.ravel()`` when reshaped to ``(C·p, k)``.
    """

    def __init__(self, F: Any, P: Any) -> None:
        xp = bk.get_xp(F, P)
        F = check_data(F, F.shape[1] if getattr(F, "ndim", 0) == 2 else 0, xp, name="F")
        if getattr(P, "ndim", None) != 2 or P.shape[0] != F.shape[0] or P.shape[1] < 2:
            raise ValueError(f"P must have shape ({F.shape[0]}, C) with C >= 2, got "
                             f"{getattr(P, 'shape', None)}")
        self.xp = xp
        self.dtype = np.result_type(F.dtype, P.dtype)
        self.F = F.astype(self.dtype, copy=False)
        self.Pt = xp.ascontiguousarray(P.T.astype(self.dtype, copy=False))   # (C, N)
        self.Qt = self.Pt * (1 - self.Pt)
        self.N, self.p = (int(s) for s in F.shape)
        self.C = int(P.shape[1])

    @property
    def dim(self) -> int:
        return self.C * self.p

    def astype(self, dtype: Any) -> "SoftmaxLayerHessian":
        """The same layer with ``F`` and ``P`` in ``dtype`` (``self`` when already so)."""
        if np.dtype(dtype) == np.dtype(self.dtype):
            return self
        return SoftmaxLayerHessian(self.F.astype(dtype), self.Pt.T.astype(dtype))

    def _zspace(self, U: Any) -> Any:
        # (C, p, k) -> (k, C, N): z_{i,n} = u_iᵀ f_n for every right-hand side, as one GEMM on a
        # contiguous (k·C, p) copy (NumPy's batched matmul on strided views does not use BLAS).
        k = U.shape[2]
        Ut = self.xp.ascontiguousarray(U.transpose(2, 0, 1)).reshape(k * self.C, self.p)
        return (Ut @ self.F.T).reshape(k, self.C, self.N)

    def _back(self, W: Any) -> Any:
        # (k, C, N) -> (C, p, k): (1/N) Σ_n W[k, i, n] f_n.
        k = W.shape[0]
        out = (W.reshape(k * self.C, self.N) @ self.F).reshape(k, self.C, self.p)
        out *= 1.0 / self.N
        return out.transpose(1, 2, 0)

    def matvec(self, U: Any, *, minus_block: bool = False) -> Any:
        """``H U`` (or ``(H − blockdiag H) U`` with ``minus_block``) for ``U`` of shape
        ``(C, p, k)``: per sample ``A_n z_n = p ∘ z − p (pᵀz)``, and ``A_n − diag(q_n)`` gives
        ``p² ∘ z − p (pᵀz)``."""
        xp = self.xp
        Z = self._zspace(U)                                               # fresh (k, C, N)
        s = xp.einsum("in,kin->kn", self.Pt, Z)[:, None, :]               # p_nᵀ z_n
        # In place: every (k, C, N) temporary is tens of MB at C = 10⁴, and fresh ones of that
        # size cost page faults that were measured to take as long as the GEMMs.
        if minus_block:
            Z *= self.Pt[None]
        Z -= s
        Z *= self.Pt[None]
        return self._back(Z)

    def shifted_block_matvec(self, U: Any, S_inv: Any, c: float) -> Any:
        """``(H + c·P N S⁻¹ Nᵀ P) U`` for the block-diagonal ``P = ⊕ H_ii``, ``N = 1 ⊗ I_p`` and
        ``S⁻¹ = (Σ_i H_ii)⁻¹``, from one pair of products: ``Nᵀ P U = (1/N) Fᵀ Σ_i q_i ∘ z_i`` and
        ``(P N c')_i = (1/N) Fᵀ(q_i ∘ F c')`` both live in the ``z`` space of ``H U``."""
        xp = self.xp
        Z = self._zspace(U)
        s = xp.sum(self.Pt[None] * Z, axis=1, keepdims=True)
        t = (xp.sum(self.Qt[None] * Z, axis=1) @ self.F).T / self.N       # (p, k)
        w = self.F @ (S_inv @ t)                                           # (N, k)
        W = self.Pt[None] * (Z - s) + c * self.Qt[None] * w.T[:, None, :]
        return self._back(W)

    def block_matvec(self, U: Any) -> Any:
        """``blockdiag(H) U``: row ``i`` is ``H_ii u_i = (1/N) Fᵀ(q_i ∘ F u_i)``."""
        return self._back(self.Qt[None] * self._zspace(U))

    def block_sum(self, U: Any) -> Any:
        """``Nᵀ P_block U = Σ_i H_ii u_i`` (shape ``(p, k)``), from one Z-space pass."""
        W = self.xp.sum(self.Qt[None] * self._zspace(U), axis=1)          # (k, N)
        return (W @ self.F).T / self.N

    def diagonal(self) -> Any:
        """``diag H`` as a ``(C, p)`` array: ``(1/N) Σ_n q_in f_na²``."""
        return self.Qt @ (self.F * self.F) / self.N

    def block_sum_matrix(self) -> Any:
        """``S = Σ_i H_ii = (1/N) Fᵀ diag(Σ_i q_i) F`` (``p × p``)."""
        w = self.xp.sum(self.Qt, axis=0)
        return (self.F.T * w[None, :]) @ self.F / self.N

    def blocks(self, c0: int, c1: int) -> Any:
        """Diagonal blocks ``H_ii`` for ``c0 ≤ i < c1``, shape ``(c1 − c0, p, p)``: one GEMM
        ``Q[:, c0:c1]ᵀ (f_n ⊗ f_n)`` of ``2 (c1−c0) N p²`` flops (the ``N × p²`` outer products
        are kept after the first call)."""
        if getattr(self, "_FF", None) is None:
            self._FF = (self.F[:, :, None] * self.F[:, None, :]).reshape(self.N, -1)
        return (self.Qt[c0:c1] @ self._FF).reshape(c1 - c0, self.p, self.p) / self.N

    def lower_blocks(self, c0: int, c1: int, out: Any, work: Any = None) -> Any:
        """The lower triangles of ``H_ii`` for ``c0 ≤ i < c1`` written into ``out`` (shape
        ``(c1 − c0, p, p)``; the strict upper triangles are left as they were): half the GEMM
        of :meth:`blocks`, ``(c1−c0) N p(p+1)`` flops, on the ``N × p(p+1)/2`` products
        ``f_na f_nb`` with ``a ≥ b`` (kept after the first call). ``work``, at least
        ``(c1 − c0, p(p+1)/2)``, receives the product (a reused buffer spares the page faults of
        a fresh array of tens of MB)."""
        rows, cols = np.tril_indices(self.p)
        if getattr(self, "_FF_low", None) is None:
            self._FF_low = self.F[:, rows] * self.F[:, cols] * (1.0 / self.N)
        G = self.Qt[c0:c1] @ self._FF_low if work is None else \
            np.matmul(self.Qt[c0:c1], self._FF_low, out=work[:c1 - c0])
        out[:, rows, cols] = G
        return out

    def dense(self) -> Any:
        """The dense ``n × n`` matrix (tests and small layers only)."""
        xp = self.xp
        I = xp.eye(self.dim, dtype=self.dtype).reshape(self.C, self.p, self.dim)
        return self.matvec(I).reshape(self.dim, self.dim)


# --------------------------------------------------------------------------------------------
# The diagonal and block-diagonal approximations P
# --------------------------------------------------------------------------------------------

class DiagonalP:
    """Diagonal ``P`` with entries ``δ`` of shape ``(C, p)`` (identity, diagonal, block-scalar)."""

    def __init__(self, delta: Any) -> None:
        self.delta = delta

    def solve(self, U: Any) -> Any:
        return U / self.delta[:, :, None]

    def apply(self, U: Any) -> Any:
        return self.delta[:, :, None] * U

    def sum_matrix_inv(self) -> Any:
        return 1.0 / bk.get_xp(self.delta).sum(self.delta, axis=0)


class BlockP:
    """Block-diagonal ``P = ⊕ H_ii`` by its block inverses ``P_i⁻¹`` (Cholesky, LAPACK
    ``potrf`` + ``potri``), stored in ``precondition_dtype`` (default: the Hessian's;
    :mod:`rmt.preconditioners` asks for float32 above ``FLOAT32_PRECONDITIONER_ABOVE`` bytes).

    When that is float32 for a float64 Hessian, no float64 inverses are kept: :meth:`solve`
    refines the float32 solve to float64 accuracy, so the stack takes ``4 C p²`` bytes instead of
    ``12 C p²`` (1.6 GB against 4.8 GB at ``C = 10⁴``, ``p = 200``; fresh memory was measured at
    about 10 s per GB on the 2-core VM, and it bounds the ``C`` a laptop can reach).

    The ``C`` blocks are formed (one GEMM) and inverted in chunks of ``chunk`` classes, in the
    Hessian's precision. (Forming and inverting them in float32 saved 3–5 s of 85 at
    ``C = 10⁴``, but its inverses are less accurate than rounded float64 ones, error about
    ``p·eps₃₂·κ(H_ii)`` against ``eps₃₂·κ(H_ii)``: ``‖I − P̃H_ii‖`` 0.11 against 0.011 at
    ``κ = 10⁶``, ``p = 60``, where :meth:`solve` then fell back to the float64 stack that
    float32 storage exists to avoid.)"""

    def __init__(self, hess: SoftmaxLayerHessian, chunk: int,
                 precondition_dtype: Any = None) -> None:
        xp = hess.xp
        self.hess = hess
        C, p = hess.C, hess.p
        pdt = np.dtype(hess.dtype if precondition_dtype is None else precondition_dtype)
        self.Pinv_pre = xp.empty((C, p, p), dtype=pdt)
        # Inverses in the Hessian's precision: the stored stack itself, or None (see solve).
        self.Pinv = self.Pinv_pre if pdt == np.dtype(hess.dtype) else None
        self.chunk = chunk
        self._fill_all()
        self.S_inv = xp.linalg.inv(hess.block_sum_matrix())

    def _fill_all(self) -> None:
        hess, C = self.hess, self.hess.C
        host = bk.backend_name(hess.xp) != "cupy"
        store = self.Pinv is not None        # the inverses in the Hessian's precision are kept
        if host:   # buffers reused for every chunk (fresh arrays of tens of MB cost page faults)
            p = hess.p
            G = np.empty((self.chunk, p * (p + 1) // 2), dtype=hess.dtype)
            B = None if store else np.empty((self.chunk, p, p), hess.dtype)
        for c0 in range(0, C, self.chunk):
            c1 = min(C, c0 + self.chunk)
            if not host:
                inv = _spd_inv(hess.blocks(c0, c1), hess.xp)
                if store:
                    self.Pinv[c0:c1] = inv
                if self.Pinv_pre is not self.Pinv:
                    self.Pinv_pre[c0:c1] = inv
                continue
            inv = self.Pinv[c0:c1] if store else B[:c1 - c0]
            hess.lower_blocks(c0, c1, inv, G)            # one GEMM, on every BLAS thread
            # On every BLAS thread too: a chunk of 256 blocks of 200 × 200 took 0.17 s on two
            # threads, 0.30 s on one; SciPy's LAPACK wrappers hold the GIL, so a thread pool over
            # chunks (one BLAS thread each) was slower still.
            _spd_inv_inplace(inv, fill=store)
            if not store:            # float32 inverses only: completed in the cast copy
                _copy_symmetric(self.Pinv_pre[c0:c1], inv)

    def _mul(self, A: Any, U: Any) -> Any:
        # A float32 copy for a float64 Hessian: multiply in float32. On the host the stack is
        # split over the BLAS threads (one small GEMM per block runs on one thread).
        xp = self.hess.xp
        mul = bk.stacked_matmul if bk.backend_name(xp) == "numpy" else xp.matmul
        if A.dtype == U.dtype:
            return mul(A, U)
        return mul(A, U.astype(A.dtype)).astype(U.dtype)

    def precondition(self, U: Any) -> Any:
        """``P⁻¹U`` from the stored (preconditioning) inverses (CG, LOBPCG)."""
        return self._mul(self.Pinv_pre, U)

    def solve(self, U: Any) -> Any:
        """``P⁻¹U`` in the Hessian's precision.

        From float32 inverses: iterative refinement ``x ← x + P̃⁻¹(U − Px)`` with the products
        ``Px`` matrix-free in float64 (:meth:`SoftmaxLayerHessian.block_matvec`). The error
        contracts by about ``eps₃₂·κ(H_ii)`` per step (three steps at ``C = 10⁴``); it stops once
        the correction is at rounding level (``64·eps`` of ``x``), or stalls below ``1e-10`` of
        ``x`` (the rounding floor ``eps·κ(H_ii)`` of any float64 solve, a direct one included).
        Where the float32 inverses are too inaccurate to contract (``κ(H_ii) ≳ 10⁶``), the
        float64 inverses are formed once and used from then on."""
        xp = self.hess.xp
        if self.Pinv is not None:
            return self._mul(self.Pinv, U)

        def norms(V: Any) -> np.ndarray:
            return bk.to_numpy(xp.sqrt(xp.sum(V * V, axis=(0, 1)))).astype(np.float64)

        X = self.precondition(U)
        if not np.all(np.isfinite(norms(U))):
            return X                                 # NaN or inf in, the same out: no fallback
        eps = float(np.finfo(np.dtype(self.hess.dtype)).eps)
        prev = np.full(U.shape[2], np.inf)
        for _ in range(_REFINE_MAXITER):
            D = self.precondition(U - self.apply(X))
            X += D
            dn, xn = norms(D), norms(X)
            live = dn > 64 * eps * xn                # columns not yet at rounding level
            if not np.any(live):
                return X
            if np.any(dn[live] > 0.25 * prev[live]):     # not contracting (any more)
                if np.all(dn[live] <= 1e-10 * xn[live]):
                    return X
                break
            prev = dn
        self.Pinv = xp.empty(self.Pinv_pre.shape, dtype=self.hess.dtype)
        try:
            self._fill_all()
        except BaseException:
            self.Pinv = None                         # never leave a half-filled stack behind
            raise
        return self._mul(self.Pinv, U)

    def apply(self, U: Any) -> Any:
        return self.hess.block_matvec(U)


def _spd_inv(B: Any, xp: ModuleType) -> Any:
    """Inverses of a stack of symmetric positive definite matrices (GPU: batched Cholesky and
    inverse of the factors)."""
    L = xp.linalg.cholesky(B)
    Li = xp.linalg.inv(L)
    return xp.matmul(Li.transpose(0, 2, 1), Li)


def _spd_inv_inplace(B: np.ndarray, fill: bool = True) -> None:
    """Invert, in place, a C-ordered stack of symmetric positive definite matrices of which only
    the lower triangles are read: LAPACK ``potrf`` + ``potri`` on each (its transpose is a
    Fortran-ordered view whose upper triangle that is, so LAPACK works in place), then, with
    ``fill``, the upper triangle is filled from the lower (else only the lower triangles hold
    the inverses: :func:`_copy_symmetric` completes them in a copy)."""
    from scipy.linalg import lapack  # noqa: PLC0415

    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (B,))
    for i in range(B.shape[0]):
        a = B[i].T
        c, info = potrf(a, lower=0, overwrite_a=1, clean=0)
        if info == 0:
            c, info = potri(c, lower=0, overwrite_c=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"diagonal block {i} is not positive definite "
                                        f"(LAPACK info {info})")
        if not np.shares_memory(c, B[i]):
            B[i] = c.T
    if fill:
        rows, cols = np.tril_indices(B.shape[1], -1)
        # In slices of 16 blocks: the gather's temporary stays small (for a whole chunk it took
        # 40 MB, fresh pages every time, and 0.15 s per chunk against 0.03 s so).
        for i in range(0, B.shape[0], 16):
            b = B[i:i + 16]
            b[:, cols, rows] = b[:, rows, cols]


def _copy_symmetric(out: np.ndarray, B: np.ndarray) -> None:
    """``out`` (any float dtype) ← the symmetric stack whose lower triangles ``B`` holds: the
    lower triangles cast, then the strict upper ones from ``B``'s transposes (no temporary).
    ``B``'s strict upper triangles are never read: they may hold anything (a reused buffer's
    leftovers, whose cast could overflow)."""
    p = B.shape[1]
    upper = np.triu(np.ones((p, p), dtype=bool), 1)
    np.copyto(out, B, casting="same_kind", where=~upper)
    np.copyto(out, B.transpose(0, 2, 1), casting="same_kind", where=upper)
