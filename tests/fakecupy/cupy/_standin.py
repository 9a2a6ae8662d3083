"""The engine of the CuPy stand-in: "device" arrays kept in host memory that follow CuPy's rules.

What it reproduces (CuPy 14, read from its source; see ``_names.SOURCE``):

* conversion: ``numpy.asarray(device_array)`` raises TypeError (CuPy's ``__array__``); NumPy
  functions called on device arrays dispatch to the stand-in (``__array_function__``,
  ``__array_ufunc__``); explicit copies are ``cupy.asarray`` / ``cupy.array`` (host → device) and
  ``.get()`` / ``cupy.asnumpy`` / ``.item()`` / ``float()`` / ``bool()`` (device → host);
* host arrays passed to device functions are refused with TypeError (``Unsupported type``), as
  CuPy's kernels refuse them; assigning a host array through a basic index is refused too
  (CuPy gh-2079), while advanced indices and their values are copied to the device;
* reductions and scalar indexing return 0-d device arrays, never host scalars;
* only the names real CuPy exports exist (``_names.NAMES``); names CuPy has that the stand-in
  does not implement raise NotImplementedError when used;
* ``cupy.random.Generator`` with exactly CuPy's methods, drawing a stream that differs from
  NumPy's for the same seed (as CuPy's XORWOW does);
* batched ``eigvalsh`` goes to "syevjBatched" (batched Jacobi), a single matrix to "syevd";
  under ``cupyx.errstate(linalg="raise")`` an unconverged call raises LinAlgError, otherwise it
  silently returns the unconverged values (here: the diagonal, a Jacobi solver after 0 sweeps);
* settable device count, free and total memory, memory-pool free bytes and device name.

What it counts (``COUNTS``), so that tests can hold budgets: device→host copies (``d2h``),
host→device copies (``h2d``), synchronisations (``syncs``: every device→host copy, explicit
synchronize calls, and the size reads of boolean masks and ``nonzero``), free-memory queries
(``mem_info``), solver calls (``solver``: routine and shape), hidden temporaries that a
library routine makes (``temporaries``: what and bytes, e.g. the F-order copy in ``cublas.syrk``)
and, inside :func:`measure`, the peak bytes of device arrays alive beyond those alive when the
block began (``peak_bytes``: arrays made through the stand-in; library workspaces not seen).

What it cannot catch: cuBLAS/cuSOLVER rounding and accuracy, device memory exhaustion and
fragmentation, kernel-launch and transfer speed, stream ordering and multi-GPU placement.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import dataclasses
import functools
import types
import weakref
from typing import Any, Callable

import numpy as np

from ._names import NAMES

__all__ = ["COUNTS", "CONFIG", "Counts", "Config", "reset", "measure", "ndarray", "ufunc"]


# --------------------------------------------------------------------------------------------
# Counters and settings
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Counts:
    """Events since the last :func:`reset` (or inside one :func:`measure` block)."""

    d2h: int = 0
    h2d: int = 0
    syncs: int = 0
    mem_info: int = 0
    solver: list = dataclasses.field(default_factory=list)
    temporaries: list = dataclasses.field(default_factory=list)
    peak_bytes: int = 0

    def copy(self) -> "Counts":
        return Counts(self.d2h, self.h2d, self.syncs, self.mem_info, list(self.solver),
                      list(self.temporaries), self.peak_bytes)

    def since(self, before: "Counts") -> "Counts":
        return Counts(self.d2h - before.d2h, self.h2d - before.h2d, self.syncs - before.syncs,
                      self.mem_info - before.mem_info, self.solver[len(before.solver):],
                      self.temporaries[len(before.temporaries):])


@dataclasses.dataclass
class Config:
    """Settable properties of the pretend device."""

    device_count: int = 1
    free_bytes: int = 64 * 2**30
    total_bytes: int = 80 * 2**30
    pool_free_bytes: int = 0
    name: str = "CuPy stand-in (host memory, no GPU)"
    #: The next this-many batched Jacobi calls do not converge.
    unconverged: int = 0
    linalg: str = "ignore"


COUNTS = Counts()
CONFIG = Config()
#: Bytes of the device arrays alive now, and the most alive at once since ``_MEM["mark"]``.
_MEM = {"live": 0, "peak": 0}
_OWNED: dict[int, int] = {}


def _untrack(key: int) -> None:
    _MEM["live"] -= _OWNED.pop(key, 0)


def _track(a: np.ndarray) -> None:
    """Count a new device allocation (an array owning its data) until it is freed."""
    if a.base is not None or id(a) in _OWNED:
        return
    _OWNED[id(a)] = a.nbytes
    _MEM["live"] += a.nbytes
    _MEM["peak"] = max(_MEM["peak"], _MEM["live"])
    weakref.finalize(a, _untrack, id(a))


def reset() -> None:
    """Zero the counters and restore the default device settings."""
    global COUNTS
    for f in dataclasses.fields(Counts):
        setattr(COUNTS, f.name, f.default_factory() if f.default_factory is not dataclasses.MISSING
                else f.default)
    for f in dataclasses.fields(Config):
        setattr(CONFIG, f.name, f.default)


@contextlib.contextmanager
def measure():
    """``with measure() as c:`` — ``c`` holds the events of the block when it ends."""
    before = COUNTS.copy()
    start, outer_peak = _MEM["live"], _MEM["peak"]
    _MEM["peak"] = start
    out = Counts()
    try:
        yield out
    finally:
        delta = COUNTS.since(before)
        for f in dataclasses.fields(Counts):
            setattr(out, f.name, getattr(delta, f.name))
        out.peak_bytes = _MEM["peak"] - start
        _MEM["peak"] = max(outer_peak, _MEM["peak"])


def _d2h() -> None:
    COUNTS.d2h += 1
    COUNTS.syncs += 1


def _h2d() -> None:
    COUNTS.h2d += 1


def _size_read() -> None:
    """A result whose size depends on the data (boolean mask, nonzero): CuPy reads a count."""
    COUNTS.d2h += 1
    COUNTS.syncs += 1


# --------------------------------------------------------------------------------------------
# Wrapping and unwrapping
# --------------------------------------------------------------------------------------------

def _unsupported(x: Any) -> TypeError:
    return TypeError(f"Unsupported type {type(x)}")


def wrap(x: Any) -> Any:
    """NumPy results as device arrays (NumPy scalars as 0-d arrays, like CuPy's reductions)."""
    if isinstance(x, np.ndarray):
        return ndarray._of(x)
    if isinstance(x, np.generic):
        return ndarray._of(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(wrap(v) for v in x)
    if isinstance(x, list):
        return [wrap(v) for v in x]
    return x


def _has_device(x: Any) -> bool:
    if isinstance(x, ndarray):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_device(v) for v in x)
    if isinstance(x, dict):
        return any(_has_device(v) for v in x.values())
    return False


def unwrap(x: Any, where: str = "") -> Any:
    """Device arrays to their NumPy storage; a host ``numpy.ndarray`` is refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"Unsupported type {type(x)}" + (f" (in cupy.{where}: a host array "
                        "where CuPy needs a device array)" if where else ""))
    if isinstance(x, tuple):
        return tuple(unwrap(v, where) for v in x)
    if isinstance(x, list):
        return [unwrap(v, where) for v in x]
    if isinstance(x, dict):
        return {k: unwrap(v, where) for k, v in x.items()}
    return x


_SCALARS = (bool, int, float, complex, np.generic)


def _ufunc_arg(x: Any) -> Any:
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, _SCALARS):
        return x
    raise _unsupported(x)


def _out_arg(out: Any) -> Any:
    if isinstance(out, tuple):
        return tuple(_out_arg(o) for o in out)
    if out is None:
        return None
    if not isinstance(out, ndarray):
        raise TypeError("Output arguments must be cupy.ndarray")
    return out._a


class ufunc:
    """A CuPy ufunc: device arrays and scalars in, device arrays out."""

    def __init__(self, np_ufunc: Any, name: str | None = None) -> None:
        self._u = np_ufunc
        self.__name__ = name or np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def _run(self, method: Callable, args: tuple, kwargs: dict) -> Any:
        args = tuple(_ufunc_arg(a) for a in args)
        out = kwargs.get("out")
        if out is not None:
            kwargs = dict(kwargs, out=_out_arg(out))
        if "where" in kwargs and not isinstance(kwargs["where"], (bool, np.bool_)):
            kwargs = dict(kwargs, where=_ufunc_arg(kwargs["where"]))
        res = method(*args, **kwargs)
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return wrap(res)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._u, args, kwargs)

    def reduce(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._u.reduce, args[:1], dict(kwargs, **dict(zip(
            ("axis", "dtype", "out", "keepdims"), args[1:]))))

    def outer(self, a: Any, b: Any, **kwargs: Any) -> Any:
        return self._run(self._u.outer, (a, b), kwargs)

    def accumulate(self, a: Any, **kwargs: Any) -> Any:
        return self._run(self._u.accumulate, (a,), kwargs)

    def __repr__(self) -> str:
        return f"<ufunc '{self.__name__}'>"


ufunc.__module__ = "cupy"

# Routines whose output size depends on the data: CuPy synchronises to read the size.
_SIZE_DEPENDENT = {"nonzero", "flatnonzero", "argwhere", "unique", "extract", "unique_all",
                   "unique_counts", "unique_inverse", "unique_values", "trim_zeros",
                   "setdiff1d", "intersect1d", "union1d", "setxor1d", "compress"}
# Routines that return metadata (host values) rather than arrays.
_METADATA = {"ndim", "shape", "size", "isscalar", "iscomplexobj", "isrealobj", "result_type",
             "can_cast", "common_type", "min_scalar_type", "may_share_memory",
             "shares_memory", "isfortran", "issubdtype", "promote_types", "binary_repr",
             "base_repr", "broadcast_shapes", "obj2sctype", "issctype", "sctype2char",
             "issubclass_", "issubsctype", "mintypecode", "typename", "get_printoptions",
             "set_printoptions", "printoptions", "show_config"}


def routine(np_func: Callable, name: str) -> Callable:
    """A device routine from a NumPy one: host arrays refused, results on the device."""
    if name in _METADATA:
        @functools.wraps(np_func)
        def meta(*args: Any, **kwargs: Any) -> Any:
            return np_func(*unwrap(args, name), **unwrap(kwargs, name))
        return meta

    @functools.wraps(np_func)
    def run(*args: Any, **kwargs: Any) -> Any:
        if name in _SIZE_DEPENDENT or (name == "where" and len(args) == 1 and not kwargs):
            _size_read()
        device_in = _has_device(args) or _has_device(kwargs)
        res = np_func(*unwrap(args, name), **unwrap(kwargs, name))
        if device_in and isinstance(res, (bool, int, float, complex)):
            return ndarray._of(np.asarray(res))   # CuPy reductions stay on the device
        return wrap(res)

    run.__module__ = "cupy"
    return run


class Placeholder:
    """A name real CuPy has that the stand-in does not implement."""

    def __init__(self, qualname: str) -> None:
        self._name = qualname

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{self._name} exists in CuPy but is not implemented by the "
                                  "CuPy stand-in (tests/fakecupy)")

    __call__ = _refuse

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._refuse()

    def __repr__(self) -> str:
        return f"<not implemented by the stand-in: {self._name}>"


# --------------------------------------------------------------------------------------------
# The device array
# --------------------------------------------------------------------------------------------

def _basic_key(key: Any) -> bool:
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer))
               and not isinstance(k, (bool, np.bool_)) for k in items)


def _key_arg(key: Any) -> Any:
    """Unwrap an index: device arrays as they are; host index arrays are copied to the device
    (as CuPy does); boolean masks make the result size data-dependent (a size read)."""
    items = key if isinstance(key, tuple) else (key,)
    out = []
    for k in items:
        if isinstance(k, ndarray):
            if k._a.dtype == np.bool_:
                _size_read()
            out.append(k._a)
        elif isinstance(k, (np.ndarray, list)):
            _h2d()
            a = np.asarray(k)
            if a.dtype == np.bool_:
                _size_read()
            out.append(a)
        else:
            out.append(k)
    return tuple(out) if isinstance(key, tuple) else out[0]


_NDARRAY_METHODS = set(NAMES["cupy.ndarray"])


class ndarray:
    """A device array (its data live in a NumPy array the stand-in never hands out)."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None,
                 order: str = "C") -> None:
        self._a = np.empty(shape, dtype=dtype, order=order)
        _track(self._a)

    @classmethod
    def _of(cls, a: np.ndarray) -> "ndarray":
        obj = object.__new__(cls)
        obj._a = a
        _track(a)
        return obj

    # -- NumPy interoperability: refused implicitly, dispatched explicitly ----------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, uf: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from . import _top  # noqa: PLC0415
        func = _top.lookup_ufunc(uf.__name__)
        if func is None:
            return NotImplemented
        if method == "__call__":
            return func(*inputs, **kwargs)
        if method in ("reduce", "outer", "accumulate"):
            return getattr(func, method)(*inputs, **kwargs)
        return NotImplemented

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        from . import _top  # noqa: PLC0415
        impl = _top.lookup_function(func.__module__, func.__name__)
        if impl is None:
            return NotImplemented
        return impl(*args, **kwargs)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "version": 3,
                "data": (id(self._a), False), "strides": None}

    # -- explicit copies to the host -----------------------------------------------------------
    def get(self, stream: Any = None, order: str = "C", out: Any = None,
            blocking: bool = True) -> np.ndarray:
        _d2h()
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr: Any, stream: Any = None) -> None:
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self._a.shape:
            raise ValueError("Shape mismatch")
        _h2d()
        self._a[...] = arr

    def item(self, *args: Any) -> Any:
        _d2h()
        return self._a.item(*args)

    def tolist(self) -> Any:
        _d2h()
        return self._a.tolist()

    def tobytes(self, order: str = "C") -> bytes:
        _d2h()
        return self._a.tobytes(order)

    def __float__(self) -> float:
        _d2h()
        return float(self._a)

    def __int__(self) -> int:
        _d2h()
        return int(self._a)

    def __complex__(self) -> complex:
        _d2h()
        return complex(self._a)

    def __bool__(self) -> bool:
        if self._a.size == 1:
            _d2h()
            return bool(self._a)
        if self._a.size == 0:
            return False
        raise ValueError("The truth value of an array with more than one element is "
                         "ambiguous. Use a.any() or a.all()")

    def __format__(self, spec: str) -> str:
        _d2h()
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    def __repr__(self) -> str:
        _d2h()
        return repr(self._a).replace("array(", "array(", 1)

    def __str__(self) -> str:
        _d2h()
        return str(self._a)

    def __reduce__(self) -> Any:
        return (ndarray._of, (self._a.copy(),))

    def __copy__(self) -> "ndarray":
        return ndarray._of(self._a.copy())

    def __deepcopy__(self, memo: Any) -> "ndarray":
        return ndarray._of(_copy.deepcopy(self._a, memo))

    # -- metadata -----------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._of(self._a.T))
    mT = property(lambda self: ndarray._of(np.swapaxes(self._a, -1, -2)))
    real = property(lambda self: ndarray._of(self._a.real))
    imag = property(lambda self: ndarray._of(self._a.imag))

    @property
    def base(self) -> Any:
        return None if self._a.base is None else ndarray._of(self._a.base)

    @property
    def device(self) -> Any:
        from .cuda import Device  # noqa: PLC0415
        return Device(0)

    @property
    def data(self) -> Any:
        return types.SimpleNamespace(ptr=self._a.__array_interface__["data"][0])

    def __len__(self) -> int:
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    # -- indexing -----------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> "ndarray":
        return wrap(self._a[_key_arg(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        basic = _basic_key(key)
        k = _key_arg(key)
        if isinstance(value, ndarray):
            self._a[k] = value._a
        elif isinstance(value, _SCALARS):
            self._a[k] = value
        elif basic:   # CuPy fills from scalars only here and refuses host arrays (gh-2079)
            raise _unsupported(value)
        else:         # advanced indexing: CuPy copies the host value to the device
            _h2d()
            self._a[k] = np.asarray(value)

    # -- methods CuPy's ndarray has (forwarded to NumPy's, results on the device) -------------
    def astype(self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None,
               copy: bool = True) -> "ndarray":
        return ndarray._of(self._a.astype(dtype, order=order, copy=copy))

    def copy(self, order: str = "C") -> "ndarray":
        return ndarray._of(self._a.copy(order=order))

    def reshape(self, *shape: Any, order: str = "C") -> "ndarray":
        return ndarray._of(self._a.reshape(*shape, order=order))

    def fill(self, value: Any) -> None:
        self._a.fill(_ufunc_arg(value) if isinstance(value, ndarray) else _ufunc_arg(value))

    def nonzero(self) -> tuple:
        _size_read()
        return wrap(self._a.nonzero())

    def __getattr__(self, name: str) -> Any:
        if name in _NDARRAY_METHODS and hasattr(np.ndarray, name):
            method = getattr(self._a, name)
            if callable(method):
                def call(*args: Any, **kwargs: Any) -> Any:
                    if name == "compress":
                        _size_read()
                    res = method(*unwrap(args, f"ndarray.{name}"),
                                 **unwrap(kwargs, f"ndarray.{name}"))
                    return wrap(res)
                return call
            return wrap(method)
        if name in _NDARRAY_METHODS:
            return Placeholder(f"cupy.ndarray.{name}")
        raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}'")


ndarray.__module__ = "cupy"


def _binary(ufunc_name: str, reflected: bool = False, inplace: bool = False) -> Callable:
    def op(self: ndarray, other: Any) -> Any:
        from . import _top  # noqa: PLC0415
        f = _top.lookup_ufunc(ufunc_name)
        if isinstance(other, np.ndarray) and not inplace:
            raise _unsupported(other)
        if inplace:
            return f(self, other, out=self)
        return f(other, self) if reflected else f(self, other)
    return op


for _name, _uf in {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide",
                   "floordiv": "floor_divide", "mod": "remainder", "pow": "power",
                   "matmul": "matmul", "and": "bitwise_and", "or": "bitwise_or",
                   "xor": "bitwise_xor", "lshift": "left_shift",
                   "rshift": "right_shift"}.items():
    setattr(ndarray, f"__{_name}__", _binary(_uf))
    setattr(ndarray, f"__r{_name}__", _binary(_uf, reflected=True))
    setattr(ndarray, f"__i{_name}__", _binary(_uf, inplace=True))
for _name, _uf in {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                   "eq": "equal", "ne": "not_equal"}.items():
    setattr(ndarray, f"__{_name}__", _binary(_uf))


def _unary(ufunc_name: str) -> Callable:
    def op(self: ndarray) -> Any:
        from . import _top  # noqa: PLC0415
        return _top.lookup_ufunc(ufunc_name)(self)
    return op


for _name, _uf in {"neg": "negative", "pos": "positive", "abs": "absolute",
                   "invert": "invert"}.items():
    setattr(ndarray, f"__{_name}__", _unary(_uf))


def __divmod__(self: ndarray, other: Any) -> Any:
    from . import _top  # noqa: PLC0415
    return _top.lookup_ufunc("divmod")(self, other)


ndarray.__divmod__ = __divmod__  # type: ignore[attr-defined]
