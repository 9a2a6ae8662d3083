"""Figures of paths and rates: the Lindeberg path and rate, and convergence of an estimate."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from rmt.validation import check_real

from ._checks import (
    _array,
    _check_axes,
    _check_text,
    _exponent_text,
    _fmt,
    _interval,
    _legend,
    _log_grid,
    _pair,
    _positive,
    _same_length,
)
from .style import _FIT, _MEASURED, _PREDICTION, _REFERENCE, LABELS, _house


def lindeberg_path(ax: Axes, t: Any, diff: Any, ci_low: Any = None, ci_high: Any = None, *,
                   label: str | None = None, ylabel: str | None = None,
                   legend: bool = True) -> Axes:
    """The Lindeberg interpolation path: the measured gap along ``t ∈ [0, 1]`` with a CI band.

    Along ``X(t) = √t X + √(1−t) X̃`` (only the data inside the weights is interpolated:
    ``t = 1`` dependent weights ``w_n``, ``t = 0`` independent copies ``w̃_n``), ``diff`` is the
    measured difference of expected Stieltjes transforms relative to the start of the path.
    Call repeatedly on one Axes (with ``label``, e.g. ``"$d = 400$"``) to compare sizes.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    t : array_like, shape (n,)
        Interpolation parameters in [0, 1], strictly increasing.
    diff : array_like, shape (n,)
        Measured gap at each ``t`` (real; may be signed).
    ci_low, ci_high : array_like, shape (n,), optional
        Confidence band with ``ci_low <= diff <= ci_high``; both or neither.
    label : str, optional
        Legend label of this path.
    ylabel : str, optional
        Override the y label (default ``Δ(t)``, the Stieltjes-transform gap).
    legend : bool
        Draw the legend when a label is given.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Raises
    ------
    ValueError
        If ``t`` is outside [0, 1] or not increasing, lengths differ, or the band does not
        contain ``diff``.
    """
    _check_axes(ax)
    tt = _array("t", t)
    if np.any(tt < 0) or np.any(tt > 1):
        raise ValueError(f"t must lie in [0, 1], got range [{tt.min():g}, {tt.max():g}]")
    if np.any(np.diff(tt) <= 0):
        raise ValueError("t must be strictly increasing")
    y = _array("diff", diff)
    _same_length("t", tt.shape[0], diff=y)
    ci = _interval("diff", y, ci_low, ci_high, positive=False)
    _check_text("label", label, allow_none=True)
    _check_text("ylabel", ylabel, allow_none=True)
    with _house():
        (line,) = ax.plot(tt, y, marker="o", ms=2.8, lw=1.1, label=label, zorder=3)
        if ci is not None:
            ax.fill_between(tt, ci[0], ci[1], color=line.get_color(), alpha=0.22, lw=0,
                            zorder=2)
        ax.axhline(0.0, color=_REFERENCE, lw=0.6, zorder=1)
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel(LABELS["t"])
        ax.set_ylabel(ylabel if ylabel is not None else
                      r"Stieltjes-transform gap $\Delta(t)$")
        if legend and label is not None:
            _legend(ax)
    return ax


def lindeberg_rate(ax: Axes, d: Any, sup_diff: Any, ci: Any = None,
                   fitted_exponent: float | None = None,
                   ci_exponent: tuple[float, float] | None = None, *,
                   reference_exponent: float | None = -0.5, label: str = "measured",
                   legend: bool = True) -> Axes:
    """Rate of the Lindeberg step: ``sup_t |Δ(t)|`` against ``d`` (``γ`` fixed), log-log.

    Measured sup-gaps with CI bars, the fitted power law ``A d^b`` (``b = fitted_exponent``;
    ``A`` by least squares in log space given ``b``), and a reference power law
    ``∝ d^{reference_exponent}`` through the smallest-``d`` point (default ``d^{-1/2}``, the
    rate ``O(1/√N)`` of the proof at fixed ``γ``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    d : array_like, shape (n,)
        Dimensions, > 0.
    sup_diff : array_like, shape (n,)
        Measured ``sup_t |Δ(t)|``, > 0.
    ci : (low, high) or array_like of shape (2, n), optional
        Confidence bounds, ``0 < low <= sup_diff <= high``.
    fitted_exponent : float, optional
        Fitted log-log slope ``b`` (negative for a decaying gap).
    ci_exponent : (low, high), optional
        Confidence interval of ``b``; needs ``fitted_exponent``.
    reference_exponent : float or None
        Exponent of the reference line; None for none.
    label : str
        Legend label of the measurements.
    legend : bool
        Draw the legend (inside the axes).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Raises
    ------
    ValueError
        If lengths differ, a value is not > 0, the CI does not contain the estimate, or the
        exponent and its CI disagree.
    """
    _check_axes(ax)
    dd = _positive("d", _array("d", d))
    y = _positive("sup_diff", _array("sup_diff", sup_diff))
    _same_length("d", dd.shape[0], sup_diff=y)
    bounds = None
    if ci is not None:
        try:
            lo_raw, hi_raw = ci
        except (TypeError, ValueError):
            raise ValueError("ci must be a (low, high) pair of arrays or an array of shape "
                             f"(2, {dd.shape[0]})") from None
        try:
            bounds = _interval("sup_diff", y, lo_raw, hi_raw, positive=True)
        except ValueError as exc:
            raise ValueError(str(exc).replace("ci_low", "ci[0] (low)")
                             .replace("ci_high", "ci[1] (high)")) from None
    b = None if fitted_exponent is None else check_real("fitted_exponent", fitted_exponent)
    b_ci = None
    if ci_exponent is not None:
        if b is None:
            raise ValueError("ci_exponent needs fitted_exponent")
        b_ci = _pair("ci_exponent", ci_exponent)
        if not b_ci[0] <= b <= b_ci[1]:
            raise ValueError(f"ci_exponent must contain fitted_exponent ({b:g}), got "
                             f"[{b_ci[0]:g}, {b_ci[1]:g}]")
    ref = (None if reference_exponent is None
           else check_real("reference_exponent", reference_exponent))
    _check_text("label", label)

    grid = _log_grid(float(dd.min()), float(dd.max()))
    with _house():
        yerr = None if bounds is None else np.vstack([y - bounds[0], bounds[1] - y])
        ax.errorbar(dd, y, yerr=yerr, fmt="o", color=_MEASURED, ms=3.5, elinewidth=0.8,
                    capthick=0.8, label=label, zorder=3)
        if b is not None:
            log_a = float(np.mean(np.log(y) - b * np.log(dd)))
            fit_label = rf"fit $\propto d^{{{b:.2f}}}$"
            if b_ci is not None:
                fit_label += f"\nCI [{_fmt(b_ci[0])}, {_fmt(b_ci[1])}]"
            ax.plot(grid, np.exp(log_a) * grid ** b, color=_FIT, ls="-", lw=1.1,
                    label=fit_label, zorder=2)
        if ref is not None:
            k0 = int(np.argmin(dd))
            ax.plot(grid, y[k0] * (grid / dd[k0]) ** ref, color=_REFERENCE, ls="--", lw=0.9,
                    label=rf"reference $\propto d^{{{_exponent_text(ref)}}}$", zorder=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"input dimension $d$ ($\gamma = d/N$ fixed)")
        ax.set_ylabel(r"$\sup_t\,|\Delta(t)|$")
        if legend:
            _legend(ax)
    return ax


def convergence(ax: Axes, n: Any, estimate: Any, ci_low: Any = None, ci_high: Any = None,
                prediction: float | Any = None, xlabel: str = "d", *,
                ylabel: str = "estimate (dimensionless)", label: str = "measured",
                prediction_label: str = "prediction", logx: bool = True, logy: bool = False,
                legend: bool = True) -> Axes:
    """Convergence of a claim's Monte Carlo estimate as ``d`` or ``C`` grows.

    Estimates with CI bars against ``n``, and the prediction: a horizontal line for a limit
    (scalar) or a curve for a finite-size prediction (one value per ``n``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    n : array_like, shape (k,)
        Sizes (``d``, ``C``, ``N``, ...), > 0.
    estimate : array_like, shape (k,)
        Estimates of the claimed quantity.
    ci_low, ci_high : array_like, shape (k,), optional
        Confidence bounds containing ``estimate``; both or neither.
    prediction : float or array_like of shape (k,), optional
        The claimed limit, or the finite-size prediction at each ``n``.
    xlabel : str
        ``"d"``, ``"C"``, ``"N"`` or ``"gamma"`` for the house label of that symbol
        (:data:`LABELS`), or any other text used as is.
    ylabel : str
        Y label: name the quantity, with its symbol and units (or say it is dimensionless).
    label, prediction_label : str
        Legend labels.
    logx, logy : bool
        Logarithmic axes (values must then be > 0).
    legend : bool
        Draw the legend (inside the axes).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Raises
    ------
    ValueError
        If lengths differ, a value on a log axis is not > 0, or a CI does not contain its
        estimate.
    """
    _check_axes(ax)
    x = _array("n", n)
    if logx:
        _positive("n", x)
    y = _array("estimate", estimate)
    _same_length("n", x.shape[0], estimate=y)
    if logy:
        _positive("estimate", y)
    ci = _interval("estimate", y, ci_low, ci_high, positive=logy)
    pred = None
    if prediction is not None:
        if isinstance(prediction, (Real, np.floating, np.integer)) or np.ndim(prediction) == 0:
            pred = np.array([check_real("prediction", prediction)])
        else:
            pred = _array("prediction", prediction)
            _same_length("n", x.shape[0], prediction=pred)
        if logy:
            _positive("prediction", pred)
    for nm, txt in (("xlabel", xlabel), ("ylabel", ylabel), ("label", label),
                    ("prediction_label", prediction_label)):
        _check_text(nm, txt)
    with _house():
        if pred is not None:
            if pred.shape[0] == 1:
                ax.axhline(pred[0], color=_PREDICTION, ls="--", lw=1.0, label=prediction_label,
                           zorder=1)
            else:
                order = np.argsort(x)
                ax.plot(x[order], pred[order], color=_PREDICTION, ls="-", lw=1.1,
                        label=prediction_label, zorder=1)
        yerr = None if ci is None else np.vstack([y - ci[0], ci[1] - y])
        ax.errorbar(x, y, yerr=yerr, fmt="o", color=_MEASURED, ms=3.5, elinewidth=0.8,
                    capthick=0.8, label=label, zorder=3)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(LABELS.get(xlabel, xlabel) if xlabel in ("d", "C", "N", "gamma")
                      else xlabel)
        ax.set_ylabel(ylabel)
        if legend:
            _legend(ax)
    return ax

