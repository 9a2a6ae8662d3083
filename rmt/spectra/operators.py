"""Operators for the matrix-free spectral methods: a dense matrix, an object with
``matmat``, or a callable ``V ↦ A V``, and random probes on the unit sphere.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Callable

import numpy as np

from .. import backend as bk
from ..validation import check_finite_array, check_int


# --------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------

class _Operator:
    """Uniform view of an operator: ``matmat``, ``shape``, ``dtype``, ``xp``."""

    def __init__(self, matmat: Callable[[Any], Any], shape: tuple[int, int], dtype: np.dtype,
                 xp: ModuleType) -> None:
        self.matmat = matmat
        self.shape = shape
        self.dtype = dtype
        self.xp = xp


def as_operator(A: Any, *, dim: int | None = None, dtype: Any = None,
                backend: str | None = None) -> _Operator:
    """Wrap a symmetric operator for the matrix-free routines.

    Parameters
    ----------
    A : array (d, d), object with ``matmat`` and ``shape``, or callable
        A dense symmetric matrix (NumPy or CuPy), an operator such as
        :class:`rmt.covariance.WeightedCovarianceOperator`, a SciPy ``LinearOperator`` (NumPy)
        or a ``cupyx.scipy.sparse.linalg.LinearOperator`` (CuPy), or a callable mapping a block
        ``V`` of shape ``(d, k)`` to ``A V``.
    dim : int, optional
        ``d``; needed only for a bare callable.
    dtype : float32 or float64, optional
        Working precision for a bare callable (default float64).
    backend : {"numpy", "cupy"}, optional
        Array module for a bare callable or an operator that does not say (default NumPy; an
        operator with an ``xp`` attribute, or a cupyx ``LinearOperator``, says).

    Returns
    -------
    object with ``matmat``, ``shape``, ``dtype`` and ``xp``
    """
    if isinstance(A, _Operator):
        return A
    if hasattr(A, "ndim") and hasattr(A, "dtype") and not hasattr(A, "matmat"):
        xp = bk.get_xp(A)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
            raise ValueError(f"A must be a square non-empty matrix, got shape {tuple(A.shape)}")
        if not np.issubdtype(np.dtype(A.dtype), np.floating):
            raise ValueError(f"A must have a floating dtype, got {A.dtype}")
        check_finite_array("A", A, xp)
        return _Operator(lambda V: A @ V, (int(A.shape[0]),) * 2, np.dtype(A.dtype), xp)
    if hasattr(A, "matmat") and hasattr(A, "shape"):
        shape = tuple(int(s) for s in A.shape)
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
            raise ValueError(f"A must be a square operator, got shape {shape}")
        xp = _operator_xp(A, backend)
        dt = np.dtype(getattr(A, "dtype", None) or bk.resolve_dtype(dtype))
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            dt = np.dtype(np.float64)
        return _Operator(A.matmat, shape, dt, xp)
    if callable(A):
        if dim is None:
            raise ValueError("dim must be given (an integer >= 1) when A is a bare callable")
        d = check_int("dim", dim, 1)
        return _Operator(A, (d, d), bk.resolve_dtype(dtype), bk.xp_for(backend))
    raise TypeError(f"A must be an array, an operator with matmat and shape, or a callable, "
                    f"got {type(A).__name__}")


def _operator_xp(A: Any, backend: str | None) -> ModuleType:
    """The array module of an operator object: its ``xp``; CuPy for a cupyx ``LinearOperator``
    (CuPy's interface has no ``xp``); else ``backend``."""
    xp = getattr(A, "xp", None)
    if xp is not None:
        return xp
    cupyx_linalg = sys.modules.get("cupyx.scipy.sparse.linalg")
    if cupyx_linalg is not None and isinstance(A, cupyx_linalg.LinearOperator):
        if backend is not None and bk.resolve_backend(backend) == "numpy":
            raise ValueError("backend='numpy' was requested but A is a "
                             "cupyx.scipy.sparse.linalg.LinearOperator (a CuPy operator)")
        return bk.get_cupy()
    return bk.xp_for(backend)


# --------------------------------------------------------------------------------------------
# Probes and the batched Lanczos iteration
# --------------------------------------------------------------------------------------------

def sphere_probes(dim: int, n_probes: int, seed: Any = None, *, xp: ModuleType = np,
                  dtype: Any = None) -> Any:
    """``n_probes`` independent vectors uniform on the unit sphere of ``R^dim``, as columns.

    Drawn on the host (normalised standard Gaussians) so both backends see the same probes.

    Returns
    -------
    array, shape (dim, n_probes)
    """
    d = check_int("dim", dim, 1)
    k = check_int("n_probes", n_probes, 1)
    G = bk.default_rng(seed, np).standard_normal((k, d))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    return bk.asarray(G.T.astype(bk.resolve_dtype(dtype)), xp)
