"""``cupyx.scipy.special`` of the CuPy stand-in: SciPy's special ufuncs on device arrays
(host arrays refused), only the names CuPy exports."""

import scipy.special as _sp

from cupy._names import NAMES as _NAMES
from cupy._top import from_numpy as _from_numpy

globals().update(_from_numpy("cupyx.scipy.special", _sp, _NAMES["cupyx.scipy.special"]))
