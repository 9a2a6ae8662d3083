"""Exact spectra: eigenvalues of one matrix or a stack, batched and chunked to fit the run's
memory plan, and the Stieltjes transform and moments of exact eigenvalues.

Stacks on a GPU: CuPy sends a stack ``(b, d, d)`` to cuSOLVER's batched Jacobi solver
(``syevjBatched``), which is fast only for small matrices (cuSOLVER documents it for
``d <= 32``; above, it falls off a performance cliff) and whose convergence CuPy does not check
by default. So a stack goes to the batched solver only for ``d <=``
:data:`BATCHED_JACOBI_MAX_DIM`, under ``cupyx.errstate(linalg="raise")`` (one status read per
chunk), and a chunk that did not converge is redone matrix by matrix; larger matrices are
diagonalised one at a time by the divide-and-conquer solver (``syevd``).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from .. import backend as bk
from ..validation import check_finite_array, check_int


#: matrix itself: LAPACK/cuSOLVER overwrite a copy of the input (1×) and the tridiagonal
#: reduction's blocked workspace is at most about one more matrix (1×).
EIGVALSH_WORKSPACE_FACTOR = 2
#: Fraction of the memory budget :func:`eigvalsh_batched` lets one chunk use (the rest is left
#: for the caller's arrays and the allocator's fragmentation).
EIGVALSH_MEMORY_FRACTION = 0.5
#: Largest matrix size sent to CuPy's batched (Jacobi) eigensolver; see the module notes.
BATCHED_JACOBI_MAX_DIM = 32


# --------------------------------------------------------------------------------------------
# Exact eigenvalues, batched and chunked
# --------------------------------------------------------------------------------------------

def eigvalsh_chunk_size(dim: int, itemsize: int, memory_budget: int) -> int:
    """How many ``dim × dim`` matrices one :func:`eigvalsh_batched` chunk may hold.

    ``EIGVALSH_MEMORY_FRACTION · memory_budget`` divided by the workspace of one matrix,
    ``EIGVALSH_WORKSPACE_FACTOR · dim² · itemsize``; at least 1.
    """
    per_matrix = EIGVALSH_WORKSPACE_FACTOR * dim * dim * itemsize + 2 * dim * itemsize
    return max(1, int(EIGVALSH_MEMORY_FRACTION * memory_budget) // per_matrix)


def eigvalsh_batched(A: Any, *, memory_budget: int | None = None,
                     chunk_size: int | None = None, check: bool = True) -> Any:
    """Eigenvalues (ascending) of one symmetric matrix or a stack, chunked to fit in memory.

    Parameters
    ----------
    A : array, shape (d, d) or (b, d, d)
        Symmetric matrices (NumPy or CuPy); only the lower triangle is read.
    memory_budget : int, optional
        Bytes available for the decomposition's workspace; default
        :func:`rmt.backend.plan_memory` of the array's device.
    chunk_size : int, optional
        Matrices per call to the backend's ``eigvalsh``; default
        :func:`eigvalsh_chunk_size`. Chunking never changes the result on NumPy (each matrix is
        diagonalised by the same routine; the output is bit-identical). On CuPy it applies to
        the batched solver (``d <=`` :data:`BATCHED_JACOBI_MAX_DIM`); larger matrices are
        diagonalised one at a time (module notes).
    check : bool
        Reject non-finite entries (default True).

    Returns
    -------
    array, shape (d,) or (b, d)
        In the dtype of ``A``.
    """
    xp = bk.get_xp(A)
    if getattr(A, "ndim", None) not in (2, 3) or A.shape[-1] != A.shape[-2] or A.shape[-1] < 1:
        raise ValueError(f"A must have shape (d, d) or (b, d, d) with d >= 1, "
                         f"got {getattr(A, 'shape', None)}")
    if not np.issubdtype(np.dtype(A.dtype), np.floating):
        raise ValueError(f"A must have a floating dtype, got {A.dtype}")
    if check:
        check_finite_array("A", A, xp)
    if A.ndim == 2:
        return xp.linalg.eigvalsh(A)
    b, d = int(A.shape[0]), int(A.shape[-1])
    gpu = bk.backend_name(xp) == "cupy"
    if gpu and d > BATCHED_JACOBI_MAX_DIM:
        return _one_by_one(xp, A)
    if chunk_size is None:
        budget = bk.plan_memory(xp, memory_budget)
        chunk = eigvalsh_chunk_size(d, np.dtype(A.dtype).itemsize, budget)
    else:
        chunk = check_int("chunk_size", chunk_size, 1)
    solve = _checked_jacobi if gpu else xp.linalg.eigvalsh
    if chunk >= b:
        return solve(A)
    out = xp.empty((b, d), dtype=A.dtype)
    for start in range(0, b, chunk):
        out[start:start + chunk] = solve(A[start:start + chunk])
    return out


def _one_by_one(xp: Any, A: Any) -> Any:
    """Eigenvalues of each matrix of a stack by its own ``eigvalsh`` call (on CuPy: ``syevd``,
    divide and conquer), written into one output."""
    out = xp.empty(A.shape[:2], dtype=A.dtype)
    for i in range(int(A.shape[0])):
        out[i] = xp.linalg.eigvalsh(A[i])
    return out


def _checked_jacobi(A: Any) -> Any:
    """CuPy's batched ``eigvalsh`` (``syevjBatched``) with its convergence status read; a stack
    that did not converge is redone one matrix at a time (:func:`_one_by_one`)."""
    xp = bk.get_xp(A)
    cupyx = importlib.import_module("cupyx")
    try:
        with cupyx.errstate(linalg="raise"):
            return xp.linalg.eigvalsh(A)
    except xp.linalg.LinAlgError:
        return _one_by_one(xp, A)


def _as_z(z: Any) -> np.ndarray:
    zz = np.asarray(bk.to_numpy(z), dtype=np.complex128)   # a few points: kept on the host
    if not np.all(np.isfinite(zz)):
        raise ValueError("z must hold finite complex numbers")
    return zz


def stieltjes_from_eigenvalues(eigenvalues: Any, z: Any) -> Any:
    """``s(z) = (1/d) Σ_i 1/(λ_i − z)`` from exact eigenvalues.

    Parameters
    ----------
    eigenvalues : array, shape (d,) or (b, d)
        NumPy or CuPy.
    z : complex or array of complex, shape (q,)
        Points off the spectrum (``Im z ≠ 0`` or real ``z`` outside it).

    Returns
    -------
    complex ndarray (host), shape ``z.shape`` or (b,) + ``z.shape``
    """
    xp = bk.get_xp(eigenvalues)
    ev = eigenvalues
    if getattr(ev, "ndim", None) not in (1, 2) or ev.shape[-1] < 1:
        raise ValueError(f"eigenvalues must have shape (d,) or (b, d) with d >= 1, "
                         f"got {getattr(ev, 'shape', None)}")
    zz = _as_z(z)
    zd = bk.asarray(zz.ravel(), xp)
    diff = ev.astype(xp.float64)[..., None, :] - zd[:, None]
    hit = xp.any(diff == 0)
    # where z hits an eigenvalue the value is discarded below; ones keep 1/diff finite meanwhile
    s, hit = bk.to_host(xp.mean(1.0 / xp.where(diff == 0, 1.0, diff), axis=-1), hit)
    if bool(hit):
        raise ValueError("z must not coincide with an eigenvalue")
    return s.reshape(ev.shape[:-1] + zz.shape)


# --------------------------------------------------------------------------------------------
# Moments
# --------------------------------------------------------------------------------------------

def moments_from_eigenvalues(eigenvalues: Any, k_max: int) -> np.ndarray:
    """``m_k = (1/d) Σ_i λ_i^k`` for ``k = 1..k_max`` (host float64; batched over leading axes).

    Returns
    -------
    ndarray, shape (k_max,) or (b, k_max)
    """
    k_max = check_int("k_max", k_max, 1)
    ev = bk.to_numpy(eigenvalues).astype(np.float64)
    if ev.ndim not in (1, 2) or ev.shape[-1] < 1:
        raise ValueError(f"eigenvalues must have shape (d,) or (b, d) with d >= 1, got {ev.shape}")
    powers = ev[..., None] ** np.arange(1, k_max + 1)
    return powers.mean(axis=-2)
