"""Validation and small drawing helpers shared by the figure functions."""

from __future__ import annotations

import math

from fractions import Fraction
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.offsetbox import AnchoredText

from rmt.backend import to_numpy
from rmt.validation import check_real


def _check_axes(ax: Any) -> Axes:
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib.axes.Axes, got {type(ax).__name__}")
    return ax


def _check_text(name: str, value: Any, *, allow_none: bool = False) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def _check_cmap(cmap: Any) -> str:
    """A matplotlib colour-map name, validated."""
    if not isinstance(cmap, str) or cmap not in mpl.colormaps:
        raise ValueError(f"cmap must be the name of a matplotlib colour map, got {cmap!r}")
    return cmap


def _array(name: str, x: Any, *, ndim: int = 1) -> np.ndarray:
    """``x`` as a finite real float64 NumPy array of ``ndim`` dimensions (NumPy or CuPy in)."""
    if x is None:
        raise ValueError(f"{name} must be an array of real numbers, got None")
    try:
        a = np.asarray(to_numpy(x))
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be an array of real numbers ({exc})") from None
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {a.shape}")
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer)
                               or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must contain only finite values (found NaN or infinity)")
    return a


def _positive(name: str, a: np.ndarray, why: str = "it is drawn on a log axis") -> np.ndarray:
    if np.any(a <= 0):
        raise ValueError(f"{name} must be > 0 ({why}), got minimum {a.min():g}")
    return a


def _same_length(reference: str, n: int, **arrays: np.ndarray | None) -> None:
    for name, a in arrays.items():
        if a is not None and a.shape[0] != n:
            raise ValueError(f"{name} must have the same length as {reference} ({n}), "
                             f"got {a.shape[0]}")


def _interval(estimate_name: str, estimate: np.ndarray, ci_low: Any, ci_high: Any,
              *, positive: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Validate a confidence interval around ``estimate``; None when neither bound is given."""
    if ci_low is None and ci_high is None:
        return None
    if ci_low is None or ci_high is None:
        missing = "ci_low" if ci_low is None else "ci_high"
        raise ValueError(f"{missing} must be given together with the other CI bound")
    lo = _array("ci_low", ci_low)
    hi = _array("ci_high", ci_high)
    _same_length(estimate_name, estimate.shape[0], ci_low=lo, ci_high=hi)
    if positive:
        _positive("ci_low", lo)
    bad = np.flatnonzero(lo > estimate)
    if bad.size:
        k = bad[0]
        raise ValueError(f"ci_low must be <= {estimate_name} everywhere; at index {k} "
                         f"ci_low = {lo[k]:g} > {estimate_name} = {estimate[k]:g}")
    bad = np.flatnonzero(hi < estimate)
    if bad.size:
        k = bad[0]
        raise ValueError(f"ci_high must be >= {estimate_name} everywhere; at index {k} "
                         f"ci_high = {hi[k]:g} < {estimate_name} = {estimate[k]:g}")
    return lo, hi


def _pair(name: str, value: Any) -> tuple[float, float]:
    """A (low, high) pair of finite reals with low <= high."""
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair, got {value!r}") from None
    lo = check_real(f"{name}[0]", lo)
    hi = check_real(f"{name}[1]", hi)
    if lo > hi:
        raise ValueError(f"{name} must have low <= high, got ({lo:g}, {hi:g})")
    return lo, hi


def _fmt(x: float, digits: int = 2) -> str:
    """A number as mathtext (true minus sign)."""
    return f"${x:.{digits}f}$"


def _fmt_ci(x: float, lo: float, hi: float) -> str:
    """``x [lo, hi]`` as mathtext with as many decimals as it takes for ``lo`` and ``hi`` to
    read differently (at least 2, at most 6): never a CI printed as ``[−1.00, −1.00]``."""
    width = abs(hi - lo)
    digits = 2 if width <= 0 else int(min(6, max(2, math.ceil(-math.log10(width)) + 1)))
    return f"{_fmt(x, digits)} [{_fmt(lo, digits)}, {_fmt(hi, digits)}]"


def _exponent_text(p: float) -> str:
    """An exponent as a short fraction when it is one (-0.5 -> '-1/2')."""
    frac = Fraction(p).limit_denominator(8)
    if abs(float(frac) - p) < 1e-12:
        if frac.denominator == 1:
            return str(frac.numerator)
        return f"{frac.numerator}/{frac.denominator}"
    return f"{p:.3g}"


def _legend(ax: Axes, **kwargs: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles or kwargs.get("title"):
        leg = ax.legend(**kwargs)
        leg.get_frame().set_linewidth(0.5)


def _note(ax: Axes, text: str, loc: str) -> None:
    """A short text note inside the axes at a corner (``loc`` as for a legend)."""
    align = "right" if "right" in loc else ("center" if loc in ("center", "upper center",
                                                                 "lower center") else "left")
    box = AnchoredText(text, loc=loc, frameon=False, borderpad=0.4, pad=0.1,
                       prop={"size": mpl.rcParams["legend.fontsize"], "multialignment": align})
    ax.add_artist(box)


def _log_grid(lo: float, hi: float, n: int = 200) -> np.ndarray:
    return np.geomspace(lo, hi, n) if hi > lo else np.array([lo])

