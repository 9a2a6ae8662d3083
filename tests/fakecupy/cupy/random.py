"""``cupy.random`` of the stand-in: ``default_rng`` and a ``Generator`` with exactly CuPy's
methods. Draws are made "on the device" (no host→device copy is counted) from a stream that
differs from NumPy's ``default_rng`` for the same seed, as CuPy's XORWOW stream does."""

from typing import Any as _Any

import numpy as _np

from . import _standin as _s
from ._names import NAMES as _NAMES


class BitGenerator:
    """Base of the stand-in's bit generators (a NumPy SFC64 stream, not NumPy's PCG64)."""

    def __init__(self, seed: _Any = None) -> None:
        if isinstance(seed, _s.ndarray):
            raise TypeError("seed must be a host value")
        ss = seed if isinstance(seed, _np.random.SeedSequence) else _np.random.SeedSequence(seed)
        self._np = _np.random.SFC64(ss)


class XORWOW(BitGenerator):
    """CuPy's default bit generator (here: a stream distinct from NumPy's for one seed)."""


class MRG32k3a(BitGenerator):
    pass


class Philox4x3210(BitGenerator):
    pass


def _arg(x: _Any) -> _Any:
    if isinstance(x, _s.ndarray):
        return x._a
    if isinstance(x, _np.ndarray):
        raise _s._unsupported(x)
    return x


def _fill(res: _np.ndarray, out: _Any) -> _Any:
    if out is None:
        return _s.ndarray._of(_np.asarray(res))
    if not isinstance(out, _s.ndarray):
        raise TypeError("out must be a cupy.ndarray")
    out._a[...] = res
    return out


class Generator:
    """CuPy's ``Generator``: only the methods CuPy 14 has (``_NAMES["cupy.random.Generator"]``)."""

    def __init__(self, bit_generator: BitGenerator) -> None:
        if not isinstance(bit_generator, BitGenerator):
            raise TypeError("bit_generator must be a cupy.random.BitGenerator")
        self.bit_generator = bit_generator
        self._g = _np.random.Generator(bit_generator._np)

    def random(self, size: _Any = None, dtype: _Any = _np.float64, out: _Any = None) -> _Any:
        return _fill(self._g.random(size, dtype=dtype), out)

    def uniform(self, low: _Any = 0.0, high: _Any = 1.0, size: _Any = None,
                dtype: _Any = _np.float64) -> _Any:
        return _fill(self._g.uniform(_arg(low), _arg(high), size).astype(dtype), None)

    def integers(self, low: _Any, high: _Any = None, size: _Any = None, dtype: _Any = _np.int64,
                 endpoint: bool = False) -> _Any:
        return _fill(self._g.integers(_arg(low), _arg(high), size, dtype=dtype,
                                      endpoint=endpoint), None)

    def standard_normal(self, size: _Any = None, dtype: _Any = _np.float64, out: _Any = None) -> _Any:
        return _fill(self._g.standard_normal(size, dtype=dtype), out)

    def standard_exponential(self, size: _Any = None, dtype: _Any = _np.float64,
                             method: str = "inv", out: _Any = None) -> _Any:
        return _fill(self._g.standard_exponential(size, dtype=dtype, method=method), out)

    def standard_gamma(self, shape: _Any, size: _Any = None, dtype: _Any = _np.float64,
                       out: _Any = None) -> _Any:
        return _fill(self._g.standard_gamma(_arg(shape), size, dtype=dtype), out)

    def _plain(name: str):  # noqa: N805 - builds methods below
        def method(self: "Generator", *args: _Any, size: _Any = None) -> _Any:
            return _fill(getattr(self._g, name)(*(_arg(a) for a in args), size=size), None)
        method.__name__ = name
        return method

    beta = _plain("beta")
    binomial = _plain("binomial")
    chisquare = _plain("chisquare")
    dirichlet = _plain("dirichlet")
    exponential = _plain("exponential")
    f = _plain("f")
    gamma = _plain("gamma")
    geometric = _plain("geometric")
    hypergeometric = _plain("hypergeometric")
    logseries = _plain("logseries")
    poisson = _plain("poisson")
    power = _plain("power")
    del _plain


def default_rng(seed: _Any = None) -> Generator:
    """A ``Generator`` on ``XORWOW(seed)`` (a Generator is returned unaltered)."""
    if isinstance(seed, Generator):
        return seed
    if isinstance(seed, BitGenerator):
        return Generator(seed)
    return Generator(XORWOW(seed))


_LEGACY = _np.random.RandomState(0)


def seed(seed: _Any = None) -> None:
    global _LEGACY
    _LEGACY = _np.random.RandomState(seed)


def _legacy(name: str):
    def draw(*args: _Any, **kwargs: _Any) -> _Any:
        res = getattr(_LEGACY, name)(*(_arg(a) for a in args),
                                     **{k: _arg(v) for k, v in kwargs.items()})
        return _s.wrap(res)
    draw.__name__ = name
    return draw


_IMPLEMENTED = {"Generator": Generator, "default_rng": default_rng, "BitGenerator": BitGenerator,
                "XORWOW": XORWOW, "MRG32k3a": MRG32k3a, "Philox4x3210": Philox4x3210,
                "seed": seed}
for _name in _NAMES["cupy.random"]:
    if _name in _IMPLEMENTED:
        continue
    globals()[_name] = (_legacy(_name) if hasattr(_np.random.RandomState, _name)
                        else _s.Placeholder(f"cupy.random.{_name}"))
missing = set(_NAMES["cupy.random.Generator"]) - {n for n in dir(Generator) if not n.startswith("_")}
assert not missing, missing
del missing
