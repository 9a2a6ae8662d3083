"""Weighted sample covariances ``B = (1/N) Xᵀ diag(w) X`` with dependent or independent weights.

The Hessian block ``H_ij`` of the linear cross-entropy model is such a covariance: the data
``x_n`` (rows of ``X``) enter both the outer products ``x_n x_nᵀ`` and, through the softmax
probabilities ``p_n = softmax(V x_n)``, the weights ``w_n = A_n[i, j]``.

Weights
-------
``"diag"``
    ``a_n = p_ni (1 − p_ni)`` — the weight of a diagonal block ``H_ii``.
``"offdiag"``
    ``a_n = −p_ni p_nj`` — the weight of an off-diagonal block ``H_ij`` (``i ≠ j``).
callable
    ``f(Z) -> a`` applied to a row block ``Z`` of the logits (shape ``(n, C)``), returning the
    ``n`` weights of those rows. Weights are computed in row blocks so that memory stays bounded
    for large ``C``; ``f`` must therefore act row by row.

``coupling="dependent"`` uses ``w_n = f(V x_n)`` on the same data as the outer products (the
Hessian). ``coupling="independent"`` uses ``w̃_n = f(V x̃_n)`` with ``x̃_n`` an independent copy
of ``x_n`` (same law, same ``V``): the weights have the same marginal law but are independent of
``X`` — the other end of the proof's Lindeberg path.

``scale`` multiplies the weights: a float, or ``"C"``, ``"C2"``, ``"-C"``, ``"-C2"`` for
``±C`` and ``±C²`` (``C·H_ii`` uses ``weights="diag", scale="C"``; ``−C²·H_ij`` uses
``weights="offdiag", scale="-C2"``, whose weights ``C² p_i p_j`` are positive).

Randomness
----------
:func:`draw_covariance` spawns three children of ``SeedSequence(seed)``: child 0 draws ``X``,
child 1 the model ``V`` (unless a model is given), child 2 the independent copy ``X̃``. So the
dependent and independent draws for one seed share ``X`` and ``V`` and differ only in the
weights. The Monte Carlo engine (:mod:`rmt.montecarlo`) gives trial ``t`` the ``t``-th child of
``SeedSequence(seed).spawn`` and passes it here as ``seed``.

Where draws are made is ``draw_on`` (:func:`rmt.backend.resolve_draw_on`): ``"auto"`` (the
default) draws on the device for CuPy (CuPy's own generator: no host→device copy, numbers that
differ from NumPy's but are reproducible from the seed) and on the host for NumPy;
``draw_on="host"`` draws with NumPy on both backends, so they see the same numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from . import backend as bk
from .models import LinearClassifier, softmax
from .validation import check_choice, check_finite_array, check_int, check_real

__all__ = [
    "DISTRIBUTIONS",
    "WEIGHTS",
    "SIGNS",
    "COUPLINGS",
    "draw_data",
    "block_weights",
    "resolve_scale",
    "weighted_covariance",
    "WeightedCovarianceOperator",
    "DrawSpec",
    "DataShape",
    "CovarianceDraw",
    "draw_covariance",
]

DISTRIBUTIONS = ("gaussian", "rademacher", "student_t")
WEIGHTS = ("diag", "offdiag")
COUPLINGS = ("dependent", "independent")
#: What is known of the signs of the weights (:func:`weighted_covariance`).
SIGNS = ("nonnegative", "nonpositive", "mixed")
_SCALE_NAMES = {"C": (1, 1), "C2": (1, 2), "-C": (-1, 1), "-C2": (-1, 2)}
#: Fraction of the free memory that one row block of logits may take.
_ROW_BLOCK_MEMORY_FRACTION = 0.1


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def _generator(seed: Any, xp: ModuleType, draw_on: str) -> tuple[Any, ModuleType]:
    if bk.resolve_draw_on(draw_on, xp) == "device":
        return bk.default_rng(seed, xp), xp
    return bk.default_rng(seed, np), np


def draw_data(n_samples: int, dim: int, seed: Any = None, *, distribution: str = "gaussian",
              df: float = 5.0, backend: str | None = None, dtype: Any = None,
              draw_on: str = "auto") -> Any:
    """Draw a data matrix ``X`` of shape ``(N, d)`` with iid, mean-zero, unit-variance entries.

    Parameters
    ----------
    n_samples : int, >= 1
        Number of samples ``N`` (rows).
    dim : int, >= 1
        Dimension ``d`` (columns).
    seed : int, SeedSequence or Generator, optional
        Source of randomness; the same seed gives the same ``X``.
    distribution : {"gaussian", "rademacher", "student_t"}
        Law of the entries: standard normal; ±1 with probability ½ each; Student-t with ``df``
        degrees of freedom rescaled to unit variance, ``t·√((ν−2)/ν)`` (heavy tails, for
        universality checks).
    df : float, > 2
        Degrees of freedom ``ν`` of the Student-t law (ignored otherwise). Drawn as
        ``Z / √(2G/ν)`` with ``G ~ Gamma(ν/2)``.
    backend : {"numpy", "cupy"}, optional
    dtype : float32 or float64 (default)
    draw_on : {"auto", "host", "device"}
        ``"auto"``: on the device for CuPy (CuPy's generator: no host→device copy, different
        numbers), on the host for NumPy; ``"host"``: NumPy on both backends (identical numbers).

    Returns
    -------
    array, shape (N, d)
    """
    N = check_int("n_samples", n_samples, 1)
    d = check_int("dim", dim, 1)
    dist = check_choice("distribution", distribution, DISTRIBUTIONS)
    nu = check_real("df", df, 2.0, strict_min=True) if dist == "student_t" else None
    xp = bk.xp_for(backend)
    bk.resolve_draw_on(draw_on, xp)   # a bad draw_on fails here
    dt = bk.resolve_dtype(dtype)
    rng, gxp = _generator(seed, xp, draw_on)
    if dist == "gaussian":
        X = rng.standard_normal((N, d), dtype=dt)
    elif dist == "rademacher":
        X = (2.0 * (rng.random((N, d), dtype=dt) < 0.5) - 1.0).astype(dt)
    else:
        Z = rng.standard_normal((N, d), dtype=dt)
        G = rng.standard_gamma(nu / 2.0, size=(N, d), dtype=dt)
        # t = Z / sqrt(chi2_nu / nu) with chi2_nu = 2 G; unit variance needs the factor
        # sqrt((nu - 2)/nu) since Var t_nu = nu / (nu - 2).
        X = (Z / gxp.sqrt(2.0 * G / nu) * math.sqrt((nu - 2.0) / nu)).astype(dt, copy=False)
    return bk.asarray(X, xp) if gxp is np else X


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------

def resolve_scale(scale: Any, n_classes: int | None) -> float:
    """The numeric weight multiplier for ``scale`` (a float, or ``"C"``, ``"C2"``, ``"-C"``,
    ``"-C2"`` meaning ``±C`` or ``±C²`` for ``n_classes = C``)."""
    if isinstance(scale, str):
        if scale not in _SCALE_NAMES:
            raise ValueError(f"scale must be a finite real number or one of "
                             f"{tuple(_SCALE_NAMES)}, got {scale!r}")
        if n_classes is None:
            raise ValueError(f"scale={scale!r} needs the number of classes C (a model)")
        sign, power = _SCALE_NAMES[scale]
        return float(sign * n_classes ** power)
    return check_real("scale", scale)


def _row_block_size(n_rows: int, n_cols: int, itemsize: int, xp: ModuleType,
                    memory_budget: int | None) -> int:
    budget = bk.plan_memory(xp, memory_budget)
    # Softmax of one row block holds about 3 arrays of its size (logits, shifted, exp).
    per_row = 3 * max(n_cols, 1) * itemsize
    return int(max(1, min(n_rows, (_ROW_BLOCK_MEMORY_FRACTION * budget) // per_row)))


def block_weights(model: Any, X: Any, weights: str | Callable[[Any], Any] = "diag",
                  block: tuple[int, int] | int | None = None, *,
                  memory_budget: int | None = None, check: bool = True) -> Any:
    """Per-sample weights ``a_n`` of one Hessian block, computed from the logits in row blocks.

    Parameters
    ----------
    model : LinearClassifier or any object with ``logits(X)`` and ``n_classes``
    X : array, shape (N, d)
        Data whose logits define the weights.
    weights : {"diag", "offdiag"} or callable
        ``"diag"``: ``p_i(1 − p_i)``; ``"offdiag"``: ``−p_i p_j``; a callable ``f(Z)`` maps a
        row block of logits ``Z`` (shape ``(n, C)``) to ``n`` weights.
    block : int or (int, int), optional
        Block indices: ``i`` (default 0) for ``"diag"``, ``(i, j)`` with ``i ≠ j`` (default
        ``(0, 1)``) for ``"offdiag"``; ignored for a callable.
    memory_budget : int, optional
        Bytes of the run's memory plan; one row block of logits takes at most a tenth of it
        (default: :func:`rmt.backend.plan_memory`).
    check : bool
        Check that ``X`` is finite and that a callable's weights are finite (default True; on a
        GPU each check reads one flag back from the device). The Monte Carlo engine draws
        ``X`` itself and skips them: ``"diag"`` and ``"offdiag"`` weights of finite logits are
        finite by construction (log-sum-exp softmax).

    Returns
    -------
    array, shape (N,)
        Weights in the dtype of ``X``.
    """
    xp = bk.get_xp(X)
    C = int(model.n_classes)
    N = int(X.shape[0])
    if memory_budget is not None:
        memory_budget = check_int("memory_budget", memory_budget, 1)
    if callable(weights):
        fn = weights
    else:
        kind = check_choice("weights", weights, WEIGHTS)
        i, j = _block_indices(kind, block, C)
        if kind == "diag":
            def fn(Z: Any) -> Any:
                p = softmax(Z)[:, i]
                return p * (1 - p)
        else:
            def fn(Z: Any) -> Any:
                P = softmax(Z)
                return -P[:, i] * P[:, j]
    rows = _row_block_size(N, C, np.dtype(X.dtype).itemsize, xp, memory_budget)
    # rmt's models offer logits without their input check, which reads a flag back from a GPU
    logits = model.logits if check else getattr(model, "_logits", model.logits)
    out = xp.empty(N, dtype=X.dtype)
    for start in range(0, N, rows):
        stop = min(N, start + rows)
        a = fn(logits(X[start:stop]))
        a = xp.asarray(a)
        if a.shape != (stop - start,):
            raise ValueError(f"weights callable must return one weight per row, shape "
                             f"({stop - start},), got {tuple(a.shape)}")
        out[start:stop] = a
    return check_finite_array("weights", out, xp) if check and callable(weights) else out


def _block_indices(kind: str, block: Any, C: int) -> tuple[int, int]:
    if kind == "diag":
        if block is None:
            block = 0
        if isinstance(block, (tuple, list)):
            if len(block) != 2 or block[0] != block[1]:
                raise ValueError(f"block for weights='diag' must be an index i or a pair (i, i), "
                                 f"got {block!r}")
            block = block[0]
        i = check_int("block", block, 0, C - 1)
        return i, i
    if block is None:
        block = (0, 1)
    if not isinstance(block, (tuple, list)) or len(block) != 2:
        raise ValueError(f"block for weights='offdiag' must be a pair (i, j) with i != j, "
                         f"got {block!r}")
    i = check_int("block[0]", block[0], 0, C - 1)
    j = check_int("block[1]", block[1], 0, C - 1)
    if i == j:
        raise ValueError(f"block for weights='offdiag' must have i != j, got ({i}, {j})")
    return i, j


# --------------------------------------------------------------------------------------------
# The covariance: formed or matrix-free
# --------------------------------------------------------------------------------------------

def _check_xw(X: Any, w: Any) -> tuple[ModuleType, Any]:
    """``X``'s namespace and ``w`` in it. ``X`` decides where the work is done; ``w`` (``N``
    numbers) is copied there when it lives on the other side, in either direction."""
    if getattr(X, "ndim", None) != 2:
        raise ValueError(f"X must be a 2-D array of shape (N, d), got shape {getattr(X, 'shape', None)}")
    xp = bk.get_xp(X)
    N, d = X.shape
    if N < 1 or d < 1:
        raise ValueError(f"X must have N >= 1 rows and d >= 1 columns, got shape {X.shape}")
    if not np.issubdtype(np.dtype(X.dtype), np.floating):
        raise ValueError(f"X must have a floating dtype, got {X.dtype}")
    w = bk.asarray(w, xp, X.dtype)
    if w.shape != (N,):
        raise ValueError(f"w must have shape ({N},) to match X, got {tuple(w.shape)}")
    check_finite_array("w", w, xp)
    return xp, w


def weighted_covariance(X: Any, w: Any, *, check: bool = True, sign: str | None = None) -> Any:
    """The formed matrix ``B = (1/N) Xᵀ diag(w) X`` (``d × d``, exactly symmetric).

    Computed as ``(Y₊ᵀY₊ − Y₋ᵀY₋)/N`` with ``Y± = √(w±) X``, so each product is a symmetric
    rank-k update (SYRK on NumPy: half the flops of a general product, and an exactly symmetric
    result).

    Parameters
    ----------
    X : array, shape (N, d)
        Data, one sample per row (NumPy or CuPy). Its device is where ``B`` is formed.
    w : array, shape (N,)
        Finite weights (any sign). A host ``w`` with a device ``X`` (or the reverse) is copied
        to ``X``'s side (``N`` numbers).
    check : bool
        Validate shapes and finiteness (default True; the Monte Carlo engine skips it).
    sign : {"nonnegative", "nonpositive", "mixed"}, optional
        What the caller knows of the signs of ``w`` (it must be true). Default: found out — on
        the host by counting (products over the rows of each sign only); on a GPU taken as
        ``"mixed"`` (two products over all rows), because a count would synchronise the device.

    Returns
    -------
    array, shape (d, d)
        In the dtype of ``X``.
    """
    if check:
        xp, w = _check_xw(X, w)
    else:
        xp = bk.get_xp(X)
    if sign is not None:
        sign = check_choice("sign", sign, SIGNS)
    N = X.shape[0]
    on_host = bk.backend_name(xp) == "numpy"
    rows = None
    if sign is None and on_host:
        pos, neg = w > 0, w < 0
        n_pos, n_neg = int(pos.sum()), int(neg.sum())
        sign = "nonpositive" if n_pos == 0 else "nonnegative" if n_neg == 0 else "mixed"
        rows = (pos, neg) if sign == "mixed" else None
    if sign == "nonnegative":
        Y = X * xp.sqrt(w)[:, None]
        B = Y.T @ Y  # NumPy recognises Yᵀ·Y and calls SYRK
    elif sign == "nonpositive":
        Y = X * xp.sqrt(-w)[:, None]
        B = -(Y.T @ Y)
    elif rows is not None:   # host, both signs: products over the rows of each sign
        pos, neg = rows
        Yp = X[pos] * xp.sqrt(w[pos])[:, None]
        Yn = X[neg] * xp.sqrt(-w[neg])[:, None]
        B = Yp.T @ Yp
        B -= Yn.T @ Yn
    else:                    # device, signs unknown: no count, so no synchronisation
        Yp = X * xp.sqrt(xp.maximum(w, 0))[:, None]
        Yn = X * xp.sqrt(xp.maximum(-w, 0))[:, None]
        B = Yp.T @ Yp
        B -= Yn.T @ Yn
    B /= N
    return B


class WeightedCovarianceOperator:
    """Matrix-free ``B = (1/N) Xᵀ diag(w) X``: ``v ↦ Xᵀ(w ∘ Xv)/N``, never forming ``B``.

    Memory is that of ``X`` (``N·d``) instead of ``d²``, and a product with ``k`` vectors costs
    two GEMMs of ``2Ndk`` flops (reads ``X`` twice), so for large ``d`` the spectrum is reached by
    Lanczos (:mod:`rmt.spectra`) at far less than the ``O(d³)`` of forming and diagonalising.

    Parameters
    ----------
    X : array, shape (N, d)
    w : array, shape (N,)

    Attributes
    ----------
    shape : (int, int)
        ``(d, d)``.
    dtype : numpy.dtype
    xp : module
        NumPy or CuPy.
    """

    def __init__(self, X: Any, w: Any) -> None:
        xp, w = _check_xw(X, w)
        self.X = X
        self.w = w
        self.xp = xp
        self._w_over_n = w / X.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        d = int(self.X.shape[1])
        return (d, d)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.X.dtype)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def matvec(self, v: Any) -> Any:
        """``B v`` for a vector of shape ``(d,)`` (or ``(d, 1)``)."""
        v = self._check_vec(v, 1)
        return self.X.T @ (self._w_over_n * (self.X @ v)) if v.ndim == 1 else self.matmat(v)

    def matmat(self, V: Any) -> Any:
        """``B V`` for a block of vectors of shape ``(d, k)`` (two GEMMs)."""
        V = self._check_vec(V, 2)
        return self.X.T @ (self._w_over_n[:, None] * (self.X @ V))

    def __matmul__(self, V: Any) -> Any:
        V = self._check_vec(V, None)
        return self.matvec(V) if V.ndim == 1 else self.matmat(V)

    def rmatvec(self, v: Any) -> Any:
        """``Bᵀ v = B v`` (``B`` is symmetric)."""
        return self.matvec(v)

    def trace(self) -> float:
        """``tr B = (1/N) Σ_n w_n ‖x_n‖²`` exactly, in O(N·d)."""
        return float(self.xp.sum(self._w_over_n * self.xp.sum(self.X * self.X, axis=1)))

    def to_dense(self) -> Any:
        """The formed ``d × d`` matrix (:func:`weighted_covariance`)."""
        return weighted_covariance(self.X, self.w, check=False)

    def to_scipy(self) -> Any:
        """A :class:`scipy.sparse.linalg.LinearOperator` (NumPy backend only)."""
        if bk.backend_name(self.xp) != "numpy":
            raise ValueError("to_scipy() needs the NumPy backend; on CuPy use "
                             "cupyx.scipy.sparse.linalg.LinearOperator or matmat directly")
        from scipy.sparse.linalg import LinearOperator  # noqa: PLC0415

        return LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.matvec,
                              matmat=self.matmat, dtype=self.dtype)

    def _check_vec(self, v: Any, ndim: int | None) -> Any:
        v = bk.asarray(v, self.xp) if bk.get_xp(v) is not self.xp else v
        d = self.shape[0]
        if ndim == 1 and v.ndim == 2 and v.shape[1] == 1:
            return v
        if (ndim is not None and v.ndim != ndim) or v.ndim not in (1, 2) or v.shape[0] != d:
            want = f"({d},)" if ndim == 1 else f"({d}, k)"
            raise ValueError(f"v must have shape {want}, got {tuple(v.shape)}")
        return v

    def __repr__(self) -> str:
        return (f"WeightedCovarianceOperator(d={self.shape[0]}, N={self.n_samples}, "
                f"dtype={self.dtype}, backend={bk.backend_name(self.xp)})")


# --------------------------------------------------------------------------------------------
# What one draw is made of
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DrawSpec:
    """What one draw of data, model and weights is made of: the arguments that
    :func:`draw_covariance`, :func:`rmt.lindeberg.draw_lindeberg`,
    :func:`rmt.montecarlo.simulate_spectra` and :func:`rmt.lindeberg.simulate_path` share.

    Each of those functions takes ``spec=DrawSpec(...)`` and, for convenience, the same fields
    as keywords (``n_classes=100``), which override the spec's. Values are checked here, once;
    ``backend`` is stored as its name and ``dtype`` as a :class:`numpy.dtype`.

    Attributes
    ----------
    n_classes : int, >= 2
        ``C`` of the model drawn for each draw (ignored when ``model`` is given).
    sigma : float, >= 0
        Logit scale of that model: ``V_ij ~ N(0, σ²/d)``.
    model : LinearClassifier, optional
        A fixed model instead (its ``dim`` must be the draw's ``d``).
    weights : {"diag", "offdiag"} or callable
        Block weight (:func:`block_weights`).
    block : int or (int, int), optional
        Block indices (:func:`block_weights`).
    scale : float or {"C", "C2", "-C", "-C2"}
        Multiplier of the weights (:func:`resolve_scale`).
    distribution : {"gaussian", "rademacher", "student_t"}
        Law of the data entries (:func:`draw_data`).
    df : float, > 2
        Student-t degrees of freedom.
    backend : {"numpy", "cupy"}
    dtype : float32 or float64
    draw_on : {"auto", "host", "device"}
        Where random numbers are drawn (:func:`draw_data`; ``"auto"``: on the device for CuPy,
        ``"host"``: NumPy's numbers on both backends).

    Examples
    --------
    >>> spec = DrawSpec(n_classes=4, weights="offdiag", scale="-C2")
    >>> spec.replace(n_classes=8).scale_value()
    -64.0
    """

    n_classes: int = 10
    sigma: float = 1.0
    model: Any = None
    weights: str | Callable[[Any], Any] = "diag"
    block: tuple[int, int] | int | None = None
    scale: float | str = 1.0
    distribution: str = "gaussian"
    df: float = 5.0
    backend: str | None = None
    dtype: Any = None
    draw_on: str = "auto"

    def __post_init__(self) -> None:
        fix = functools.partial(object.__setattr__, self)
        if self.model is None:
            fix("n_classes", check_int("n_classes", self.n_classes, 2))
            fix("sigma", check_real("sigma", self.sigma, 0.0))
        if isinstance(self.weights, str):
            fix("weights", check_choice("weights", self.weights, WEIGHTS))
        elif not callable(self.weights):
            raise ValueError(f"weights must be one of {WEIGHTS} or a callable, got {self.weights!r}")
        fix("distribution", check_choice("distribution", self.distribution, DISTRIBUTIONS))
        if self.distribution == "student_t":
            fix("df", check_real("df", self.df, 2.0, strict_min=True))
        fix("backend", bk.resolve_backend(self.backend))
        fix("dtype", bk.resolve_dtype(self.dtype))
        bk.resolve_draw_on(self.draw_on, self.backend)   # a bad draw_on fails here
        fix("draw_on", self.draw_on.lower())
        self.scale_value()  # a bad scale fails here, not in the first trial

    @classmethod
    def of(cls, spec: DrawSpec | None = None, default: DrawSpec | None = None,
           **fields: Any) -> DrawSpec:
        """``spec`` (or ``default``, or ``DrawSpec()``) with ``fields`` replaced: how the draw
        functions read their ``spec=`` and keyword arguments."""
        base = spec if spec is not None else (default if default is not None else cls())
        if not isinstance(base, DrawSpec):
            raise TypeError(f"spec must be a DrawSpec, got {type(base).__name__}")
        return base.replace(**fields) if fields else base

    def replace(self, **fields: Any) -> DrawSpec:
        """A copy with ``fields`` replaced (TypeError naming an unknown field)."""
        unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}: DrawSpec fields are "
                            f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **fields)

    @property
    def n_classes_drawn(self) -> int:
        """``C`` of the draws: the model's when given."""
        return int(self.model.n_classes) if self.model is not None else self.n_classes

    def scale_value(self) -> float:
        """The numeric multiplier of the weights (:func:`resolve_scale` with this ``C``)."""
        return resolve_scale(self.scale, self.n_classes_drawn)

    def weight_sign(self) -> str | None:
        """The sign of every weight when the spec fixes it (:data:`SIGNS`), else None: ``"diag"``
        weights ``p(1 − p)`` are ≥ 0 and ``"offdiag"`` weights ``−p_i p_j`` ≤ 0, times the scale.
        Passed to :func:`weighted_covariance`, it spares a GPU the count of signs."""
        if not isinstance(self.weights, str):
            return None
        s = self.scale_value()
        if s == 0.0:
            return "nonnegative"
        positive = (self.weights == "diag") == (s > 0)
        return "nonnegative" if positive else "nonpositive"

    def init_model(self, dim: int, seed: Any) -> Any:
        """The model of a draw of dimension ``dim``: ``model`` (checked against ``dim`` and the
        backend) or ``LinearClassifier.init(n_classes, dim, sigma)`` from ``seed`` (drawn where
        ``draw_on`` says)."""
        if self.model is None:
            return LinearClassifier.init(self.n_classes, dim, self.sigma, seed=seed,
                                         backend=self.backend, dtype=self.dtype,
                                         draw_on=self.draw_on)
        if int(self.model.dim) != dim:
            raise ValueError(f"model.dim must equal dim = {dim}, got {self.model.dim}")
        if bk.backend_name(self.model.xp) != self.backend:
            raise ValueError(f"model lives on {bk.backend_name(self.model.xp)} but backend is "
                             f"{self.backend}")
        return self.model

    def draw_data(self, n_samples: int, dim: int, seed: Any) -> Any:
        """``X`` of shape ``(N, d)`` with this spec's law, backend, dtype and ``draw_on``."""
        return draw_data(n_samples, dim, seed, distribution=self.distribution, df=self.df,
                         backend=self.backend, dtype=self.dtype, draw_on=self.draw_on)

    def describe(self) -> dict[str, Any]:
        """JSON-ready fields for a result's metadata (a callable weight by its name, the model
        as its ``C``)."""
        w = self.weights
        return {"n_classes": self.n_classes_drawn, "sigma": self.sigma,
                "weights": w if isinstance(w, str) else getattr(w, "__name__", "callable"),
                "block": None if self.block is None else np.atleast_1d(self.block).tolist(),
                "scale": self.scale if isinstance(self.scale, str) else float(self.scale),
                "distribution": self.distribution,
                "df": self.df if self.distribution == "student_t" else None,
                "backend": self.backend, "dtype": str(self.dtype), "draw_on": self.draw_on}


# --------------------------------------------------------------------------------------------
# One draw of the whole pipeline
# --------------------------------------------------------------------------------------------

class DataShape:
    """``xp``, ``dim`` and ``n_samples`` of a draw's data matrix ``X`` (shape ``(N, d)``)."""

    X: Any

    @property
    def xp(self) -> ModuleType:
        return bk.get_xp(self.X)

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True, eq=False)
class CovarianceDraw(DataShape):
    """Data and weights of one draw; ``matrix()`` or ``operator()`` give ``B``.

    Attributes
    ----------
    X : array, shape (N, d)
    w : array, shape (N,)
        Weights after scaling.
    model : LinearClassifier (or the model passed in)
    coupling : {"dependent", "independent"}
    scale : float
        The numeric multiplier applied to the block weights.
    sign : {"nonnegative", "nonpositive"} or None
        The sign of every weight when the spec fixes it (:meth:`DrawSpec.weight_sign`).
    """

    X: Any
    w: Any
    model: Any
    coupling: str
    scale: float
    sign: str | None = None

    def matrix(self) -> Any:
        """``B = (1/N) Xᵀ diag(w) X`` formed (``d × d``)."""
        return weighted_covariance(self.X, self.w, check=False, sign=self.sign)

    def operator(self) -> WeightedCovarianceOperator:
        """``B`` as a matrix-free operator."""
        return WeightedCovarianceOperator(self.X, self.w)


def draw_covariance(dim: int, n_samples: int, seed: Any = None, spec: DrawSpec | None = None, *,
                    coupling: str = "dependent", memory_budget: int | None = None,
                    **fields: Any) -> CovarianceDraw:
    """Draw ``X``, the model and the weights of one weighted covariance.

    Parameters
    ----------
    dim : int, >= 1
        Dimension ``d``.
    n_samples : int, >= 1
        Number of samples ``N``.
    seed : int, SeedSequence or Generator, optional
        Children 0, 1, 2 of ``SeedSequence(seed)`` draw ``X``, the model and ``X̃``.
    spec : DrawSpec, optional
        Model, weights, data law, backend and dtype (default ``DrawSpec()``: ``C = 10``,
        ``σ = 1``, the diagonal weight, scale 1, Gaussian data, NumPy, float64).
    coupling : {"dependent", "independent"}
        Weights from ``X`` itself, or from an independent copy ``X̃`` (same law).
    memory_budget : int, optional
        Bytes of the run's memory plan, for the row blocks of logits (default:
        :func:`rmt.backend.plan_memory`).
    **fields
        Fields of :class:`DrawSpec` (``n_classes``, ``sigma``, ``model``, ``weights``,
        ``block``, ``scale``, ``distribution``, ``df``, ``backend``, ``dtype``, ``draw_on``),
        overriding those of ``spec``.

    Returns
    -------
    CovarianceDraw

    Examples
    --------
    >>> draw = draw_covariance(50, 100, seed=0, weights="offdiag", scale="-C2")
    >>> draw.matrix().shape, draw.operator().shape, bool((draw.w > 0).all())
    ((50, 50), (50, 50), True)
    """
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    coupling = check_choice("coupling", coupling, COUPLINGS)
    spec = DrawSpec.of(spec, **fields)
    bk.xp_for(spec.backend)  # an unavailable backend fails before drawing
    ss_x, ss_model, ss_tilde = bk.spawn_seeds(seed, 3)
    model = spec.init_model(d, ss_model)
    s = spec.scale_value()
    X = spec.draw_data(N, d, ss_x)
    source = X if coupling == "dependent" else spec.draw_data(N, d, ss_tilde)
    # X and X̃ are drawn here (finite) and the model is checked or drawn, so built-in weights
    # are finite: only a callable's weights are checked (on a GPU, one flag read per draw)
    w = block_weights(model, source, spec.weights, spec.block, memory_budget=memory_budget,
                      check=False)
    if callable(spec.weights):
        check_finite_array("weights", w, bk.get_xp(w))
    if s != 1.0:
        w = w * s
    return CovarianceDraw(X=X, w=w, model=model, coupling=coupling, scale=s,
                          sign=spec.weight_sign())
