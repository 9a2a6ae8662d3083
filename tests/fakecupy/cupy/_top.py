"""The stand-in's ``cupy`` namespace: every name real CuPy exports, and nothing else."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import _standin as s
from ._names import NAMES

# Names CuPy keeps that NumPy 2 removed, as CuPy defines them.
_ALIASES = {"alltrue": "all", "sometrue": "any", "trapz": "trapezoid", "cumproduct": "cumprod",
            "product": "prod", "round_": "round", "asfarray": None, "in1d": "isin",
            "row_stack": "vstack", "msort": None}
_CONSTANTS = {"Inf": np.inf, "Infinity": np.inf, "infty": np.inf, "PINF": np.inf,
              "NINF": -np.inf, "NAN": np.nan, "NaN": np.nan, "PZERO": 0.0, "NZERO": -0.0}


def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> Any:
    """Device array from ``a``: a device array is returned as is (cast if ``dtype`` differs);
    anything else is copied from the host (one host→device copy)."""
    if isinstance(a, s.ndarray):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return a.astype(dtype)
    if s._has_device(a):
        return s.ndarray._of(np.asarray(s.unwrap(a), dtype=dtype))
    s._h2d()
    return s.ndarray._of(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj: Any, dtype: Any = None, copy: bool = True, order: str = "K", subok: bool = False,
          ndmin: int = 0, *, blocking: bool = False) -> Any:
    """A new device array (a copy) from ``obj`` (host data: one host→device copy)."""
    if isinstance(obj, s.ndarray):
        return s.ndarray._of(np.array(obj._a, dtype=dtype, copy=True, order=order, ndmin=ndmin))
    if not s._has_device(obj):
        s._h2d()
    return s.ndarray._of(np.array(s.unwrap(obj) if s._has_device(obj) else obj, dtype=dtype,
                                  copy=True, order=order, ndmin=ndmin))


def _device_only(name: str):
    np_func = getattr(np, name)

    def f(a: Any, dtype: Any = None) -> Any:
        if not isinstance(a, s.ndarray):
            raise TypeError(f"Argument 'a' has incorrect type (expected cupy.ndarray, got "
                            f"{type(a).__name__})")
        return s.ndarray._of(np_func(a._a, dtype=dtype))
    f.__name__ = name
    return f


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, *,
            blocking: bool = True) -> np.ndarray:
    """A host copy of a device array (other inputs through ``numpy.asarray``)."""
    if isinstance(a, s.ndarray):
        return a.get(stream, order, out, blocking)
    return np.asarray(a, order=order)


def get_array_module(*args: Any) -> Any:
    """``cupy`` if any argument is a device array, else ``numpy``."""
    return sys.modules["cupy"] if any(isinstance(a, s.ndarray) for a in args) else np


def is_available() -> bool:
    return s.CONFIG.device_count > 0


class _MemoryPool:
    def free_bytes(self) -> int:
        return int(s.CONFIG.pool_free_bytes)

    def used_bytes(self) -> int:
        return 0

    def total_bytes(self) -> int:
        return int(s.CONFIG.pool_free_bytes)

    def free_all_blocks(self, stream: Any = None) -> None:
        s.CONFIG.pool_free_bytes = 0

    def set_limit(self, size: Any = None, fraction: Any = None) -> None:
        pass

    def get_limit(self) -> int:
        return 0

    def n_free_blocks(self) -> int:
        return 0


_POOL = _MemoryPool()
_PINNED_POOL = _MemoryPool()


def get_default_memory_pool() -> _MemoryPool:
    return _POOL


def get_default_pinned_memory_pool() -> _MemoryPool:
    return _PINNED_POOL


def fuse(*args: Any, **kwargs: Any) -> Any:
    """CuPy's kernel fusion decorator: here the function itself."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda f: f


def copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    if not isinstance(dst, s.ndarray):
        raise TypeError("dst must be cupy.ndarray")
    np.copyto(dst._a, s._ufunc_arg(src) if not isinstance(src, s.ndarray) else src._a,
              casting=casting, where=where if isinstance(where, bool) else s._ufunc_arg(where))


_SPECIAL = {"asarray": asarray, "asanyarray": asarray, "array": array, "asnumpy": asnumpy,
            "ascontiguousarray": _device_only("ascontiguousarray"),
            "asfortranarray": _device_only("asfortranarray"),
            "get_array_module": get_array_module, "is_available": is_available,
            "get_default_memory_pool": get_default_memory_pool,
            "get_default_pinned_memory_pool": get_default_pinned_memory_pool, "fuse": fuse,
            "copyto": copyto, "ndarray": s.ndarray, "ufunc": s.ufunc}
_SUBMODULES = {"cuda", "linalg", "random", "fft", "polynomial", "testing", "exceptions"}


def from_numpy(module: str, np_module: Any, names: Any, special: dict | None = None) -> dict:
    """A namespace of ``names``: ``special`` ones as given, NumPy's ufuncs and routines wrapped
    for the device, types and constants as they are, anything else a placeholder."""
    special = special or {}
    ns: dict[str, Any] = {}
    for name in names:
        if name in special:
            ns[name] = special[name]
            continue
        if name in _CONSTANTS and module == "cupy":
            ns[name] = _CONSTANTS[name]
            continue
        target = _ALIASES.get(name, name) if module == "cupy" else name
        obj = getattr(np_module, target, None) if target else None
        if obj is None and not (target and hasattr(np_module, target)):
            ns[name] = s.Placeholder(f"{module}.{name}")
        elif isinstance(obj, np.ufunc):
            ns[name] = s.ufunc(obj, name)
        elif isinstance(obj, type) or not callable(obj):
            ns[name] = obj
        else:
            ns[name] = s.routine(obj, name)
    return ns


NAMESPACE = from_numpy("cupy", np, [n for n in NAMES["cupy"] if n not in _SUBMODULES],
                       _SPECIAL)
# divmod is a NumPy ufunc with two outputs; matmul a ufunc in NumPy 2 (both wrapped above).


def lookup_ufunc(name: str) -> Any:
    """The device ufunc called ``name`` (``cupy`` or ``cupyx.scipy.special``), or None."""
    f = NAMESPACE.get(name)
    if isinstance(f, s.ufunc):
        return f
    if name == "divmod" and "divmod" in NAMESPACE:
        return NAMESPACE["divmod"]
    special = sys.modules.get("cupyx.scipy.special")
    f = getattr(special, name, None) if special is not None else None
    return f if isinstance(f, s.ufunc) else None


def lookup_function(np_module: str, name: str) -> Any:
    """The stand-in's version of ``numpy[.sub].name`` for ``__array_function__``, or None."""
    parts = np_module.split(".")[1:]
    mod: Any = sys.modules["cupy"]
    for p in parts:
        mod = getattr(mod, p, None)
        if mod is None or isinstance(mod, s.Placeholder):
            return None
    f = getattr(mod, name, None)
    return None if f is None or isinstance(f, s.Placeholder) else f
