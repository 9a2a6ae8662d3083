"""``cupy.linalg`` of the stand-in. ``eigvalsh``/``eigh`` record the cuSOLVER routine CuPy would
call (a stack → "syevjBatched", batched Jacobi; one matrix → "syevd") and honour
``cupyx.errstate(linalg=...)``: with ``"raise"`` the solver's status is read (a device→host copy)
and an unconverged call raises LinAlgError; with ``"ignore"`` (CuPy's default) the unconverged
values come back silently. ``cupy._standin.CONFIG.unconverged`` makes the next batched calls fail
to converge (they return the sorted diagonal: Jacobi after zero sweeps).
"""

from typing import Any as _Any

import numpy as _np

from . import _standin as _s
from ._names import NAMES as _NAMES
from ._top import from_numpy as _from_numpy

LinAlgError = _np.linalg.LinAlgError


def _solve(a: _Any, UPLO: str, vectors: bool) -> _Any:
    if not isinstance(a, _s.ndarray):
        raise _s._unsupported(a)
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    routine = "syevjBatched" if a.ndim > 2 else "syevd"
    _s.COUNTS.solver.append((routine, tuple(a.shape)))
    w, v = _np.linalg.eigh(a._a, UPLO) if vectors else (_np.linalg.eigvalsh(a._a, UPLO), None)
    failed = routine == "syevjBatched" and _s.CONFIG.unconverged > 0
    if failed:
        _s.CONFIG.unconverged -= 1
        w = _np.sort(_np.diagonal(a._a, axis1=-2, axis2=-1), axis=-1).astype(w.dtype)
    if _s.CONFIG.linalg == "raise":
        _s._d2h()   # CuPy reads devInfo back to check it
        if failed:
            raise LinAlgError(f"Error reported by {routine} in cuSOLVER. devInfo = [1]. Please "
                              "refer to the cuSOLVER documentation.")
    return _s.wrap(w) if v is None else (_s.wrap(w), _s.wrap(v))


def eigvalsh(a: _Any, UPLO: str = "L") -> _Any:
    """Eigenvalues of a symmetric matrix or a stack of them (ascending)."""
    return _solve(a, UPLO, False)


def eigh(a: _Any, UPLO: str = "L") -> _Any:
    """Eigenvalues and eigenvectors of a symmetric matrix or a stack of them."""
    return _solve(a, UPLO, True)


globals().update(_from_numpy("cupy.linalg", _np.linalg, _NAMES["cupy.linalg"],
                            {"eigvalsh": eigvalsh, "eigh": eigh, "LinAlgError": LinAlgError}))
