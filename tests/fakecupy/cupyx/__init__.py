"""``cupyx`` of the CuPy stand-in (see ``cupy/__init__.py``): ``errstate``/``seterr``/``geterr``
(the ``linalg`` setting decides whether cuSOLVER failures raise) and ``cupyx.scipy``."""

import contextlib as _contextlib

from cupy import _standin as _s
from cupy._names import NAMES as _NAMES

_MODES = ("ignore", "raise")


def geterr():
    """The current settings (only ``linalg`` is honoured by the stand-in)."""
    return {"divide": None, "over": None, "under": None, "invalid": None,
            "linalg": _s.CONFIG.linalg}


def seterr(*, divide=None, over=None, under=None, invalid=None, linalg=None):
    """Set ``linalg`` to ``"ignore"`` (CuPy's default) or ``"raise"``; return the old settings."""
    old = geterr()
    if linalg is not None:
        if linalg not in _MODES:
            raise NotImplementedError(f"linalg={linalg!r} is not supported")
        _s.CONFIG.linalg = linalg
    return old


@_contextlib.contextmanager
def errstate(*, divide=None, over=None, under=None, invalid=None, linalg=None):
    """Context manager for :func:`seterr`."""
    old = seterr(linalg=linalg)
    try:
        yield
    finally:
        _s.CONFIG.linalg = old["linalg"]


from . import scipy  # noqa: E402,F401

for _name in _NAMES["cupyx"]:
    if _name not in ("errstate", "seterr", "geterr", "scipy"):
        globals()[_name] = _s.Placeholder(f"cupyx.{_name}")
