"""``cupyx.scipy.sparse`` of the CuPy stand-in: sparse matrices are not implemented (the names
exist, as in CuPy); ``linalg`` has ``LinearOperator``."""

from cupy import _standin as _s
from cupy._names import NAMES as _NAMES

for _name in _NAMES["cupyx.scipy.sparse"]:
    globals()[_name] = _s.Placeholder(f"cupyx.scipy.sparse.{_name}")


def issparse(x):
    """No sparse matrices exist under the stand-in."""
    return False


isspmatrix = issparse
