"""``cupy.cublas`` of the stand-in: ``syrk`` and ``gemm`` with CuPy's argument conventions and
output layout; the copies CuPy makes inside them are counted as temporaries."""

from typing import Any as _Any

import numpy as _np

from . import _standin as _s
from ._names import NAMES as _NAMES


def _check(a: _Any, name: str) -> _np.ndarray:
    if not isinstance(a, _s.ndarray):
        raise _s._unsupported(a)
    if a.ndim != 2:
        raise AssertionError(f"{name} must be 2-D")
    return a._a


def syrk(trans: str, a: _Any, out: _Any = None, alpha: float = 1.0, beta: float = 0.0,
         lower: bool = False) -> _Any:
    """``out := alpha·op(a)·op(a)ᵀ + beta·out`` on one triangle (``lower`` or upper); the other
    triangle of a new output is zero. As in CuPy, a new output is F-ordered, and ``a`` is copied
    to the output's order when it is not already in it (counted as a temporary)."""
    A = _check(a, "a")
    t = trans.upper() if isinstance(trans, str) else ("N" if trans == 0 else "T")
    n = A.shape[0] if t == "N" else A.shape[1]
    if out is None:
        O = _np.zeros((n, n), dtype=A.dtype, order="F")
        beta = 0.0
        out = _s.ndarray._of(O)
    else:
        O = _check(out, "out")
        assert O.shape == (n, n) and O.dtype == A.dtype
    if O.flags.c_contiguous and not O.flags.f_contiguous:
        if not A.flags.c_contiguous:
            _s.COUNTS.temporaries.append(("cublas.syrk: C-order copy of a", A.nbytes))
    elif not A.flags.f_contiguous:
        _s.COUNTS.temporaries.append(("cublas.syrk: F-order copy of a", A.nbytes))
    full = alpha * (A @ A.T if t == "N" else A.T @ A)
    tri = _np.tril(_np.ones((n, n), dtype=bool)) if lower else _np.triu(_np.ones((n, n), dtype=bool))
    O[tri] = full[tri] + (beta * O[tri] if beta else 0)
    return out


def gemm(transa: str, transb: str, a: _Any, b: _Any, out: _Any = None, alpha: float = 1.0,
         beta: float = 0.0) -> _Any:
    """``out := alpha·op(a)·op(b) + beta·out``."""
    A, B = _check(a, "a"), _check(b, "b")
    A = A.T if transa.upper() == "T" else A
    B = B.T if transb.upper() == "T" else B
    res = alpha * (A @ B)
    if out is None:
        return _s.ndarray._of(_np.asfortranarray(res))
    O = _check(out, "out")
    O[...] = res + (beta * O if beta else 0)
    return out


for _name in _NAMES["cupy.cublas"]:
    if _name not in ("syrk", "gemm"):
        globals()[_name] = _s.Placeholder(f"cupy.cublas.{_name}")
