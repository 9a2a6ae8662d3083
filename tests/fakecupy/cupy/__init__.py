"""A CPU stand-in for CuPy, written for rmt's tests (not a CuPy replacement).

``conftest.py`` puts ``tests/fakecupy`` first on the import path when pytest runs with
``--cupy-standin``, so ``backend="cupy"`` imports this package. Arrays live in host memory but
follow CuPy's rules (see ``_standin``): no implicit conversion to NumPy, host arrays refused by
device functions, 0-d device results of reductions, only the names CuPy exports
(``_names.NAMES``, read from CuPy's source at ``_names.SOURCE``), CuPy's random ``Generator``,
and counters of copies and synchronisations (``cupy._standin.COUNTS``).
"""

from ._names import SOURCE as _SOURCE
from ._standin import Placeholder as _Placeholder
from ._top import NAMESPACE as _NAMESPACE

globals().update(_NAMESPACE)
del _NAMESPACE

from . import cuda, linalg, random  # noqa: E402,F401 - submodules CuPy imports eagerly

fft = _Placeholder("cupy.fft")
polynomial = _Placeholder("cupy.polynomial")
testing = _Placeholder("cupy.testing")
exceptions = _Placeholder("cupy.exceptions")

#: CuPy's version the stand-in follows, marked as the stand-in (PEP 440 local label).
__version__ = _SOURCE["tag"].lstrip("v") + "+standin"
