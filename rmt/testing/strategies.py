"""Hypothesis strategies for property tests of random-matrix and softmax-Hessian claims.

Every strategy here draws a handful of *small parameters* (a shape, a seed, a kind, a scale) with
Hypothesis and then builds the array with NumPy from those parameters through a public
``make_*`` function. Two things follow:

* shrinking works on the parameters, so a failure shrinks to the smallest shape, seed 0 and the
  simplest kind that still fails, instead of shrinking thousands of floats one by one;
* a falsifying example is printed as the call that rebuilds it, e.g.
  ``X=make_data_matrix(samples=40, dim=20, distribution='student_t', seed=0, df=5.0)``, which
  replays outside Hypothesis.

Arguments are validated when the strategy is *constructed*: an invalid bound raises
:class:`InvalidStrategyArgument` (a subclass of both ``ValueError`` and Hypothesis'
``InvalidArgument``) naming the parameter and its valid range. Every default is bounded so that
the ``ci`` profile runs a test in seconds on one CPU core.

Weight laws (:func:`weight_laws`) import :mod:`rmt.laws` lazily, when a law is built, so that
``import rmt.testing`` needs only NumPy, SciPy, Hypothesis and :mod:`rmt.models`.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..models import ACTIVATIONS, LinearClassifier, OneHiddenLayer

__all__ = [
    "InvalidStrategyArgument",
    "Shape",
    "ProblemShape",
    "DISTRIBUTIONS",
    "PROBABILITY_KINDS",
    "LOGIT_KINDS",
    "WEIGHT_LAW_KINDS",
    "seeds",
    "proportional_shapes",
    "class_counts",
    "hidden_widths",
    "sigmas",
    "problem_shapes",
    "probability_vectors",
    "logit_matrices",
    "data_matrices",
    "linear_models",
    "hidden_models",
    "weight_samples",
    "weight_laws",
    "make_probability_vector",
    "make_logits",
    "make_data_matrix",
    "make_weight_samples",
    "make_weight_law",
]

#: Entry laws of :func:`make_data_matrix`; all have mean 0 and variance 1.
DISTRIBUTIONS = ("gaussian", "rademacher", "student_t")
#: Kinds of :func:`make_probability_vector`, simplest first (Hypothesis shrinks towards the first).
PROBABILITY_KINDS = ("uniform", "softmax", "dominant", "many_tiny")
#: Kinds of :func:`make_logits`, simplest first.
LOGIT_KINDS = ("gaussian", "extreme", "saturated", "constant", "ties")
#: Kinds of :func:`make_weight_law` / :func:`make_weight_samples`, simplest first.
WEIGHT_LAW_KINDS = ("constant", "discrete", "lognormal", "softmax_diagonal",
                    "softmax_offdiagonal")

_MAX_SEED = 2**63 - 1
# The enumeration of feasible dimensions in proportional_shapes is a vector of this length at
# most (8 MiB of int64); a test that needs more distinct sizes than this is not a unit test.
_MAX_DIM_RANGE = 2**20
# The smallest tiny probability: far above the smallest subnormal (5e-324) so that products of
# two tiny entries underflow to 0 rather than to a subnormal with few significant bits.
_TINY_FLOOR_EXP = -300


class InvalidStrategyArgument(InvalidArgument, ValueError):
    """A strategy was constructed with an invalid argument.

    Subclasses both Hypothesis' :class:`~hypothesis.errors.InvalidArgument` (so Hypothesis
    reports it like its own argument errors) and ``ValueError`` (the rmt convention).
    """


class Shape(NamedTuple):
    """Shape ``(N, d)`` of a data matrix, in the order of ``X.shape``.

    Attributes
    ----------
    samples : int
        Number of samples ``N``.
    dim : int
        Dimension ``d``.
    """

    samples: int
    dim: int

    @property
    def ratio(self) -> float:
        """The aspect ratio ``γ = d / N``."""
        return self.dim / self.samples


class ProblemShape(NamedTuple):
    """Sizes of a classification problem: ``N`` samples of dimension ``d``, ``C`` classes and
    hidden width ``m`` (ignored by linear models)."""

    samples: int
    dim: int
    n_classes: int
    hidden: int

    @property
    def ratio(self) -> float:
        """The aspect ratio ``γ = d / N``."""
        return self.dim / self.samples

    @property
    def data_shape(self) -> Shape:
        """``Shape(samples, dim)``."""
        return Shape(self.samples, self.dim)


# ----------------------------------------------------------------------------------------------
# argument checks (raise InvalidStrategyArgument naming the parameter and the valid range)
# ----------------------------------------------------------------------------------------------

def _fail(msg: str) -> None:
    raise InvalidStrategyArgument(msg)


def _int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    rng = ""
    if minimum is not None and maximum is not None:
        rng = f" in [{minimum}, {maximum}]"
    elif minimum is not None:
        rng = f" >= {minimum}"
    elif maximum is not None:
        rng = f" <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        _fail(f"{name} must be an integer{rng}, got {value!r}")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        _fail(f"{name} must be an integer{rng}, got {v}")
    return v


def _real(name: str, value: Any, minimum: float | None = None, maximum: float | None = None, *,
          strict_min: bool = False, strict_max: bool = False) -> float:
    lo = "" if minimum is None else (f" > {minimum:g}" if strict_min else f" >= {minimum:g}")
    hi = "" if maximum is None else (f" < {maximum:g}" if strict_max else f" <= {maximum:g}")
    rng = lo + ("," if lo and hi else "") + hi
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        _fail(f"{name} must be a finite real number{rng}, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        _fail(f"{name} must be a finite real number{rng}, got {value!r}")
    if minimum is not None and (v <= minimum if strict_min else v < minimum):
        _fail(f"{name} must be a finite real number{rng}, got {v:g}")
    if maximum is not None and (v >= maximum if strict_max else v > maximum):
        _fail(f"{name} must be a finite real number{rng}, got {v:g}")
    return v


def _order(lo_name: str, lo: float, hi_name: str, hi: float) -> None:
    if lo > hi:
        _fail(f"{lo_name} must be <= {hi_name}, got {lo_name}={lo:g} > {hi_name}={hi:g}")


def _kinds(name: str, kinds: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    try:
        kinds = tuple(kinds)
    except TypeError:
        _fail(f"{name} must be a non-empty sequence drawn from {tuple(allowed)}, got {kinds!r}")
    if not kinds or any(not isinstance(k, str) or k not in allowed for k in kinds):
        _fail(f"{name} must be a non-empty sequence drawn from {tuple(allowed)}, got {kinds!r}")
    # keep the library's order (simplest first), so shrinking goes to the simplest kind
    return tuple(k for k in allowed if k in kinds)


def _int_or_strategy(name: str, value: Any, minimum: int) -> st.SearchStrategy[int]:
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(_int(name, value, minimum))


def _real_or_strategy(name: str, value: Any, minimum: float) -> st.SearchStrategy[float]:
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(_real(name, value, minimum))


def _dtype(dtype: Any) -> str:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        _fail(f"dtype must be float32 or float64, got {dtype!r}")
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        _fail(f"dtype must be float32 or float64, got {dt}")
    return dt.name


# ----------------------------------------------------------------------------------------------
# sizes, seeds, scales
# ----------------------------------------------------------------------------------------------

def seeds(min_value: int = 0, max_value: int = 2**32 - 1) -> st.SearchStrategy[int]:
    """Seeds for :class:`numpy.random.SeedSequence`; shrink towards ``min_value``.

    Parameters
    ----------
    min_value, max_value : int, 0 <= min_value <= max_value <= 2**63 - 1
    """
    lo = _int("min_value", min_value, 0, _MAX_SEED)
    hi = _int("max_value", max_value, 0, _MAX_SEED)
    _order("min_value", lo, "max_value", hi)
    return st.integers(lo, hi)


def class_counts(min_value: int = 2, max_value: int = 16) -> st.SearchStrategy[int]:
    """Numbers of classes ``C``; shrink towards ``min_value``.

    Parameters
    ----------
    min_value, max_value : int, 2 <= min_value <= max_value
    """
    lo = _int("min_value", min_value, 2)
    hi = _int("max_value", max_value, 2)
    _order("min_value", lo, "max_value", hi)
    return st.integers(lo, hi)


def hidden_widths(min_value: int = 3, max_value: int = 32) -> st.SearchStrategy[int]:
    """Hidden widths ``m`` of a one-hidden-layer network; shrink towards ``min_value``.

    The default lower bound 3 is the paper's ``m >= 3``; pass ``min_value=1`` for any width.

    Parameters
    ----------
    min_value, max_value : int, 1 <= min_value <= max_value
    """
    lo = _int("min_value", min_value, 1)
    hi = _int("max_value", max_value, 1)
    _order("min_value", lo, "max_value", hi)
    return st.integers(lo, hi)


def sigmas(min_value: float = 0.0, max_value: float = 3.0) -> st.SearchStrategy[float]:
    """Initialisation scales ``σ`` (finite floats in the closed interval); shrink towards
    ``min_value``.

    Parameters
    ----------
    min_value, max_value : float, 0 <= min_value <= max_value
    """
    lo = _real("min_value", min_value, 0.0)
    hi = _real("max_value", max_value, 0.0)
    _order("min_value", lo, "max_value", hi)
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _feasible_dims(min_ratio: float, max_ratio: float, min_dim: int, max_dim: int,
                   min_samples: int, max_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dimensions ``d`` for which some ``N`` in ``[min_samples, max_samples]`` gives
    ``min_ratio <= d/N <= max_ratio`` (checked in floating point, as a user would), with the
    smallest and largest such ``N``."""
    d = np.arange(min_dim, max_dim + 1, dtype=np.int64)
    df = d.astype(np.float64)
    lo = np.ceil(df / max_ratio).astype(np.int64)
    hi = np.floor(df / min_ratio).astype(np.int64)
    # Correct the float rounding of d/ratio by one step each way, then test the exact
    # predicate that callers will test: min_ratio <= d/N <= max_ratio.
    for _ in range(2):
        lo = np.where((lo > 1) & (df / np.maximum(lo - 1, 1) <= max_ratio), lo - 1, lo)
        lo = np.where(df / np.maximum(lo, 1) > max_ratio, lo + 1, lo)
        hi = np.where(df / (hi + 1) >= min_ratio, hi + 1, hi)
        hi = np.where((hi >= 1) & (df / np.maximum(hi, 1) < min_ratio), hi - 1, hi)
    lo = np.maximum(lo, min_samples)
    hi = np.minimum(hi, max_samples)
    ok = (lo <= hi) & (lo >= 1)
    return d[ok], lo[ok], hi[ok]


def proportional_shapes(*, min_ratio: float = 0.1, max_ratio: float = 2.0, min_dim: int = 2,
                        max_dim: int = 64, min_samples: int = 1,
                        max_samples: int = 256) -> st.SearchStrategy[Shape]:
    """Data shapes ``(N, d)`` in the proportional regime: ``min_ratio <= d/N <= max_ratio``.

    The dimension is drawn first among those for which some admissible ``N`` exists, then
    ``N`` among the admissible ones. Shrinks towards the smallest ``d`` and then the smallest
    ``N`` (the largest ratio).

    Parameters
    ----------
    min_ratio, max_ratio : float, 0 < min_ratio <= max_ratio
        Bounds on ``γ = d / N`` (inclusive, tested as ``min_ratio <= d/N <= max_ratio``).
    min_dim, max_dim : int, 1 <= min_dim <= max_dim, at most 2**20 values
        Bounds on ``d``.
    min_samples, max_samples : int, 1 <= min_samples <= max_samples
        Bounds on ``N``.

    Returns
    -------
    SearchStrategy of :class:`Shape`
        Named tuples ``Shape(samples, dim)`` with a ``ratio`` property; ``X.shape`` order.

    Raises
    ------
    InvalidStrategyArgument
        If a bound is invalid or no shape satisfies all of them.
    """
    r_lo = _real("min_ratio", min_ratio, 0.0, strict_min=True)
    r_hi = _real("max_ratio", max_ratio, 0.0, strict_min=True)
    _order("min_ratio", r_lo, "max_ratio", r_hi)
    d_lo = _int("min_dim", min_dim, 1)
    d_hi = _int("max_dim", max_dim, 1)
    _order("min_dim", d_lo, "max_dim", d_hi)
    n_lo = _int("min_samples", min_samples, 1)
    n_hi = _int("max_samples", max_samples, 1)
    _order("min_samples", n_lo, "max_samples", n_hi)
    if d_hi - d_lo + 1 > _MAX_DIM_RANGE:
        _fail(f"max_dim - min_dim must be < {_MAX_DIM_RANGE} (sizes a unit test can afford), "
              f"got {d_hi - d_lo}")
    dims, lo, hi = _feasible_dims(r_lo, r_hi, d_lo, d_hi, n_lo, n_hi)
    if dims.size == 0:
        _fail(f"no shape has min_ratio={r_lo:g} <= d/N <= max_ratio={r_hi:g} with d in "
              f"[{d_lo}, {d_hi}] and N in [{n_lo}, {n_hi}]; widen one of these ranges")
    dims_l, lo_l, hi_l = dims.tolist(), lo.tolist(), hi.tolist()

    @st.composite
    def _shapes(draw: Callable) -> Shape:
        k = draw(st.integers(0, len(dims_l) - 1))
        n = draw(st.integers(lo_l[k], hi_l[k]))
        return Shape(n, dims_l[k])

    return _shapes()


def problem_shapes(*, min_ratio: float = 0.1, max_ratio: float = 2.0, min_dim: int = 2,
                   max_dim: int = 64, min_samples: int = 1, max_samples: int = 256,
                   min_classes: int = 2, max_classes: int = 16, min_hidden: int = 3,
                   max_hidden: int = 32) -> st.SearchStrategy[ProblemShape]:
    """Sizes ``(N, d, C, m)`` of a classification problem in the proportional regime.

    Parameters
    ----------
    min_ratio, max_ratio, min_dim, max_dim, min_samples, max_samples
        As for :func:`proportional_shapes`.
    min_classes, max_classes : int, 2 <= min_classes <= max_classes
    min_hidden, max_hidden : int, 1 <= min_hidden <= max_hidden

    Returns
    -------
    SearchStrategy of :class:`ProblemShape`
    """
    shapes = proportional_shapes(min_ratio=min_ratio, max_ratio=max_ratio, min_dim=min_dim,
                                 max_dim=max_dim, min_samples=min_samples,
                                 max_samples=max_samples)
    lo = _int("min_classes", min_classes, 2)
    hi = _int("max_classes", max_classes, 2)
    _order("min_classes", lo, "max_classes", hi)
    m_lo = _int("min_hidden", min_hidden, 1)
    m_hi = _int("max_hidden", max_hidden, 1)
    _order("min_hidden", m_lo, "max_hidden", m_hi)
    return st.builds(lambda s, c, m: ProblemShape(s.samples, s.dim, c, m), shapes,
                     st.integers(lo, hi), st.integers(m_lo, m_hi))


# ----------------------------------------------------------------------------------------------
# probability vectors
# ----------------------------------------------------------------------------------------------

def make_probability_vector(size: int, kind: str = "softmax", seed: int = 0, *,
                            scale: float = 1.0, epsilon: float = 1e-6, n_tiny: int = 1,
                            zeros: int = 0) -> np.ndarray:
    """A probability vector (float64, non-negative, sums to 1 up to rounding) built from a seed.

    Parameters
    ----------
    size : int, >= 1
    kind : {"uniform", "softmax", "dominant", "many_tiny"}
        ``uniform``: every entry ``1/size``. ``softmax``: ``softmax(scale·g)`` with ``g``
        standard normal. ``dominant``: one entry ``1 − epsilon``, the rest share ``epsilon``.
        ``many_tiny``: ``n_tiny`` entries log-uniform in ``[1e-300, 1e-12]``, the rest share the
        remaining mass.
    seed : int, >= 0
    scale : float, >= 0
        Logit scale of ``softmax`` (large scales give near one-hot vectors).
    epsilon : float in (0, 1)
        Mass outside the dominant entry (``dominant``).
    n_tiny : int in [0, size − 1]
        Number of tiny entries (``many_tiny``).
    zeros : int in [0, size − 1]
        Number of entries (never the largest) then set exactly to 0 (the vector is
        renormalised); softmax of logits ±1e4 has exact zeros.

    Returns
    -------
    ndarray, shape (size,)
        Non-negative with ``|sum − 1| <= size · eps``.
    """
    n = _int("size", size, 1)
    if not isinstance(kind, str) or kind not in PROBABILITY_KINDS:
        _fail(f"kind must be one of {PROBABILITY_KINDS}, got {kind!r}")
    rng = np.random.default_rng(_int("seed", seed, 0))
    scale = _real("scale", scale, 0.0)
    epsilon = _real("epsilon", epsilon, 0.0, 1.0, strict_min=True, strict_max=True)
    n_tiny = _int("n_tiny", n_tiny, 0, n - 1)
    zeros = _int("zeros", zeros, 0, n - 1)
    if kind == "uniform" or n == 1:
        p = np.full(n, 1.0 / n)
    elif kind == "softmax":
        z = scale * rng.standard_normal(n)
        e = np.exp(z - z.max())
        p = e / e.sum()
    elif kind == "dominant":
        q = rng.exponential(size=n - 1)
        p = np.empty(n)
        top = int(rng.integers(n))
        rest = np.arange(n) != top
        p[rest] = epsilon * q / q.sum()
        p[top] = 1.0 - epsilon
    else:  # many_tiny
        p = rng.exponential(size=n)
        idx = rng.permutation(n)[:n_tiny]
        tiny = 10.0 ** rng.uniform(_TINY_FLOOR_EXP, -12, size=n_tiny)
        big = np.ones(n, dtype=bool)
        big[idx] = False
        p[big] = p[big] / p[big].sum() * (1.0 - tiny.sum())
        p[idx] = tiny
    if zeros:
        order = np.argsort(p, kind="stable")
        top = order[-1]
        cand = np.array([i for i in rng.permutation(n) if i != top])[:zeros]
        p[cand] = 0.0
    return p / p.sum()


def probability_vectors(*, min_size: int = 2, max_size: int = 16,
                        kinds: Sequence[str] = PROBABILITY_KINDS, allow_zero: bool = False,
                        max_scale: float = 50.0) -> st.SearchStrategy[np.ndarray]:
    """Probability vectors on the simplex, including near-degenerate ones.

    Covers the uniform vector, softmax of Gaussian logits (scale up to ``max_scale``), vectors
    with one entry ``1 − ε`` (``ε`` down to 1e-15), and vectors with many tiny entries (down to
    1e-300). With ``allow_zero`` some entries are exactly 0, as softmax of logits ±1e4 gives.

    Parameters
    ----------
    min_size, max_size : int, 1 <= min_size <= max_size
    kinds : sequence of {"uniform", "softmax", "dominant", "many_tiny"}
    allow_zero : bool
    max_scale : float, >= 0

    Returns
    -------
    SearchStrategy of ndarray, float64, shape (n,)
        Built by :func:`make_probability_vector`; entries >= 0 (> 0 unless ``allow_zero``),
        ``|sum − 1| <= n · eps``.
    """
    lo = _int("min_size", min_size, 1)
    hi = _int("max_size", max_size, 1)
    _order("min_size", lo, "max_size", hi)
    kinds = _kinds("kinds", kinds, PROBABILITY_KINDS)
    if not isinstance(allow_zero, bool):
        _fail(f"allow_zero must be True or False, got {allow_zero!r}")
    max_scale = _real("max_scale", max_scale, 0.0)

    @st.composite
    def _vectors(draw: Callable) -> np.ndarray:
        n = draw(st.integers(lo, hi))
        kind = draw(st.sampled_from(kinds))
        kw: dict[str, Any] = {}
        if kind == "softmax":
            kw["scale"] = draw(st.floats(0.0, max_scale))
        elif kind == "dominant":
            kw["epsilon"] = 10.0 ** -draw(st.integers(1, 15))
        elif kind == "many_tiny":
            kw["n_tiny"] = draw(st.integers(min(1, n - 1), n - 1))
        if allow_zero and n > 1 and kind != "uniform":
            kw["zeros"] = draw(st.integers(0, n - 1))
        return draw(st.builds(make_probability_vector, size=st.just(n), kind=st.just(kind),
                              seed=seeds(), **{k: st.just(v) for k, v in kw.items()}))

    return _vectors()


# ----------------------------------------------------------------------------------------------
# logits
# ----------------------------------------------------------------------------------------------

def make_logits(samples: int, n_classes: int, kind: str = "gaussian", seed: int = 0, *,
                scale: float = 1.0, max_abs: float = 1e4) -> np.ndarray:
    """A logit matrix ``Z`` of shape ``(samples, n_classes)`` (float64) built from a seed.

    Parameters
    ----------
    samples : int, >= 1
    n_classes : int, >= 2
    kind : {"gaussian", "extreme", "saturated", "constant", "ties"}
        ``gaussian``: ``scale·g`` clipped to ``±max_abs``. ``extreme``: each entry ``±max_abs``
        or a standard normal, at random. ``saturated``: one entry ``+max_abs`` per row, the
        others ``−max_abs`` (softmax is one-hot to the last bit). ``constant``: every entry of a
        row equal to ``±max_abs`` (softmax is uniform, naive ``exp`` overflows). ``ties``: two
        entries of each row tie at ``+max_abs``, the others are below.
    seed : int, >= 0
    scale : float, >= 0
    max_abs : float, > 0

    Returns
    -------
    ndarray, shape (samples, n_classes), entries in ``[−max_abs, max_abs]``
    """
    n = _int("samples", samples, 1)
    c = _int("n_classes", n_classes, 2)
    if not isinstance(kind, str) or kind not in LOGIT_KINDS:
        _fail(f"kind must be one of {LOGIT_KINDS}, got {kind!r}")
    rng = np.random.default_rng(_int("seed", seed, 0))
    scale = _real("scale", scale, 0.0)
    m = _real("max_abs", max_abs, 0.0, strict_min=True)
    if kind == "gaussian":
        Z = np.clip(scale * rng.standard_normal((n, c)), -m, m)
    elif kind == "extreme":
        pick = rng.integers(0, 3, size=(n, c))
        Z = np.where(pick == 0, -m, np.where(pick == 1, m, np.clip(rng.standard_normal((n, c)),
                                                                   -m, m)))
    elif kind == "saturated":
        Z = np.full((n, c), -m)
        Z[np.arange(n), rng.integers(0, c, size=n)] = m
    elif kind == "constant":
        Z = np.repeat(rng.choice([-m, m], size=(n, 1)), c, axis=1)
    else:  # ties
        Z = -m * rng.uniform(0.0, 1.0, size=(n, c))
        for i in range(n):
            a, b = rng.choice(c, size=2, replace=False)
            Z[i, a] = Z[i, b] = m
    return np.ascontiguousarray(Z, dtype=np.float64)


def logit_matrices(*, min_samples: int = 1, max_samples: int = 16, min_classes: int = 2,
                   max_classes: int = 16, max_abs: float = 1e4,
                   kinds: Sequence[str] = LOGIT_KINDS) -> st.SearchStrategy[np.ndarray]:
    """Logit matrices ``(N, C)`` with extreme values (up to ``±max_abs``, default ±1e4).

    Parameters
    ----------
    min_samples, max_samples : int, 1 <= min_samples <= max_samples
    min_classes, max_classes : int, 2 <= min_classes <= max_classes
    max_abs : float, > 0
        Largest absolute logit; 1e4 makes ``exp`` overflow unless softmax shifts by the max.
    kinds : sequence of {"gaussian", "extreme", "saturated", "constant", "ties"}

    Returns
    -------
    SearchStrategy of ndarray, float64, shape (N, C)
        Built by :func:`make_logits`; finite, entries in ``[−max_abs, max_abs]``.
    """
    n_lo = _int("min_samples", min_samples, 1)
    n_hi = _int("max_samples", max_samples, 1)
    _order("min_samples", n_lo, "max_samples", n_hi)
    c_lo = _int("min_classes", min_classes, 2)
    c_hi = _int("max_classes", max_classes, 2)
    _order("min_classes", c_lo, "max_classes", c_hi)
    m = _real("max_abs", max_abs, 0.0, strict_min=True)
    kinds = _kinds("kinds", kinds, LOGIT_KINDS)

    @st.composite
    def _logits(draw: Callable) -> np.ndarray:
        n = draw(st.integers(n_lo, n_hi))
        c = draw(st.integers(c_lo, c_hi))
        kind = draw(st.sampled_from(kinds))
        scale = draw(st.floats(0.0, m)) if kind == "gaussian" else 1.0
        return draw(st.builds(make_logits, samples=st.just(n), n_classes=st.just(c),
                              kind=st.just(kind), seed=seeds(), scale=st.just(scale),
                              max_abs=st.just(m)))

    return _logits()


# ----------------------------------------------------------------------------------------------
# data matrices
# ----------------------------------------------------------------------------------------------

def make_data_matrix(samples: int, dim: int, distribution: str = "gaussian", seed: int = 0,
                     df: float | None = None, dtype: Any = "float64") -> np.ndarray:
    """A data matrix ``X`` of shape ``(samples, dim)`` with iid mean-0, variance-1 entries.

    Parameters
    ----------
    samples, dim : int, >= 1
    distribution : {"gaussian", "rademacher", "student_t"}
        ``student_t`` is Student's t with ``df`` degrees of freedom divided by its standard
        deviation ``sqrt(df/(df−2))``; its fourth moment is finite only for ``df > 4``.
    seed : int, >= 0
    df : float > 2, required for (and only for) ``student_t``
    dtype : float32 or float64

    Returns
    -------
    ndarray, shape (samples, dim)
    """
    n = _int("samples", samples, 1)
    d = _int("dim", dim, 1)
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        _fail(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    rng = np.random.default_rng(_int("seed", seed, 0))
    dt = _dtype(dtype)
    if distribution == "student_t":
        if df is None:
            _fail("df must be a finite real number > 2 for distribution='student_t', got None")
        nu = _real("df", df, 2.0, strict_min=True)
        X = rng.standard_t(nu, size=(n, d)) / math.sqrt(nu / (nu - 2.0))
    else:
        if df is not None:
            _fail(f"df must be None unless distribution='student_t', got {df!r}")
        if distribution == "gaussian":
            X = rng.standard_normal((n, d))
        else:
            X = 2.0 * rng.integers(0, 2, size=(n, d)) - 1.0
    return X.astype(dt, copy=False)


def data_matrices(shapes: Any = None, *, distributions: Sequence[str] = DISTRIBUTIONS,
                  min_df: float = 5.0, max_df: float = 30.0,
                  dtype: Any = "float64") -> st.SearchStrategy[np.ndarray]:
    """Data matrices ``X`` (``N × d``, iid mean-0 variance-1 entries) drawn from a seed.

    Parameters
    ----------
    shapes : SearchStrategy of (N, d), or a tuple (N, d), optional
        Default :func:`proportional_shapes` ``()``.
    distributions : sequence of {"gaussian", "rademacher", "student_t"}
        Entry laws; shrinks towards the first of the library order (Gaussian).
    min_df, max_df : float, 2 < min_df <= max_df
        Degrees of freedom of Student's t (drawn uniformly). The default ``min_df = 5`` keeps the
        fourth moment finite, which Marchenko–Pastur universality with the usual rates needs.
    dtype : float32 or float64

    Returns
    -------
    SearchStrategy of ndarray, shape (N, d)
        Built by :func:`make_data_matrix`; a falsifying example prints the call that rebuilds it.
    """
    if shapes is None:
        shapes = proportional_shapes()
    elif not isinstance(shapes, st.SearchStrategy):
        try:
            n, d = shapes
        except (TypeError, ValueError):
            _fail(f"shapes must be a strategy or a tuple (N, d) of integers >= 1, got {shapes!r}")
        shapes = st.just(Shape(_int("shapes[0] (N)", n, 1), _int("shapes[1] (d)", d, 1)))
    dists = _kinds("distributions", distributions, DISTRIBUTIONS)
    lo = _real("min_df", min_df, 2.0, strict_min=True)
    hi = _real("max_df", max_df, 2.0, strict_min=True)
    _order("min_df", lo, "max_df", hi)
    dt = _dtype(dtype)

    @st.composite
    def _data(draw: Callable) -> np.ndarray:
        n, d = draw(shapes)
        dist = draw(st.sampled_from(dists))
        df = draw(st.floats(lo, hi)) if dist == "student_t" else None
        return draw(st.builds(make_data_matrix, samples=st.just(int(n)), dim=st.just(int(d)),
                              distribution=st.just(dist), seed=seeds(), df=st.just(df),
                              dtype=st.just(dt)))

    return _data()


# ----------------------------------------------------------------------------------------------
# models at initialisation
# ----------------------------------------------------------------------------------------------

def linear_models(*, n_classes: Any = None, dim: Any = None, sigma: Any = None,
                  dtype: Any = "float64") -> st.SearchStrategy[LinearClassifier]:
    """Linear classifiers at initialisation, ``V_ij ~ N(0, σ²/d)``, built by
    :meth:`rmt.models.LinearClassifier.init` from a drawn seed (NumPy backend).

    Parameters
    ----------
    n_classes : int >= 2 or SearchStrategy, optional
        Default :func:`class_counts` ``()``.
    dim : int >= 1 or SearchStrategy, optional
        Default integers in ``[1, 32]``.
    sigma : float >= 0 or SearchStrategy, optional
        Default :func:`sigmas` ``()``.
    dtype : float32 or float64

    Returns
    -------
    SearchStrategy of :class:`rmt.models.LinearClassifier`
        A falsifying example prints as ``init(n_classes=…, dim=…, sigma=…, seed=…)``.
    """
    c = class_counts() if n_classes is None else _int_or_strategy("n_classes", n_classes, 2)
    d = st.integers(1, 32) if dim is None else _int_or_strategy("dim", dim, 1)
    s = sigmas() if sigma is None else _real_or_strategy("sigma", sigma, 0.0)
    dt = _dtype(dtype)
    return st.builds(LinearClassifier.init, n_classes=c, dim=d, sigma=s, seed=seeds(),
                     dtype=st.just(dt))


def hidden_models(*, n_classes: Any = None, dim: Any = None, hidden: Any = None,
                  sigma: Any = None, activations: Sequence[str] = ("relu",),
                  dtype: Any = "float64") -> st.SearchStrategy[OneHiddenLayer]:
    """One-hidden-layer networks ``z = V φ(W x)`` at initialisation (LeCun-type scaling with
    ``σ``), built by :meth:`rmt.models.OneHiddenLayer.init` from a drawn seed.

    Parameters
    ----------
    n_classes : int >= 2 or SearchStrategy, optional
        Default :func:`class_counts` ``()``.
    dim : int >= 1 or SearchStrategy, optional
        Default integers in ``[1, 32]``.
    hidden : int >= 1 or SearchStrategy, optional
        Default :func:`hidden_widths` ``()``.
    sigma : float >= 0 or SearchStrategy, optional
        Default :func:`sigmas` ``()``.
    activations : sequence of {"relu", "tanh", "gelu", "identity"}
        Default ReLU only (the paper's setting).
    dtype : float32 or float64

    Returns
    -------
    SearchStrategy of :class:`rmt.models.OneHiddenLayer`
    """
    c = class_counts() if n_classes is None else _int_or_strategy("n_classes", n_classes, 2)
    d = st.integers(1, 32) if dim is None else _int_or_strategy("dim", dim, 1)
    m = hidden_widths() if hidden is None else _int_or_strategy("hidden", hidden, 1)
    s = sigmas() if sigma is None else _real_or_strategy("sigma", sigma, 0.0)
    acts = _kinds("activations", activations, ACTIVATIONS)
    dt = _dtype(dtype)
    return st.builds(OneHiddenLayer.init, n_classes=c, dim=d, hidden=m, sigma=s,
                     activation=st.sampled_from(acts), seed=seeds(), dtype=st.just(dt))


# The weight-law strategies live in their own module (they need the checks above); re-exported
# here so that every strategy keeps one import path.
from .weight_strategies import (
    make_weight_law,
    make_weight_samples,
    weight_laws,
    weight_samples,
)
