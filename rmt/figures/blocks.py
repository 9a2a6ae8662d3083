"""Figures of Hessian blocks: heat maps of block structure and block ratios against C."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from rmt.backend import to_numpy
from rmt.validation import check_choice, check_int, check_real

from ._checks import (
    _array,
    _check_axes,
    _check_cmap,
    _check_text,
    _fmt,
    _fmt_ci,
    _interval,
    _legend,
    _log_grid,
    _note,
    _pair,
    _positive,
    _same_length,
)
from .style import _LIMIT, _MEASURED, _PREDICTION, LABELS, SYMBOLS, _house, colorbar


def block_heatmap(ax: Axes, matrix_or_block_norms: Any, n_blocks: int, *,
                  what: str | None = None, vmin: float | None = None, vmax: float | None = None,
                  cmap: str = "viridis", cbar: bool = True, boundaries: bool | None = None,
                  dynamic_range: float = 1e6, max_side: int = 1024) -> Axes:
    """Heat map of a block-structured Hessian on a log colour scale, block boundaries drawn.

    In the manner of the paper's Figure 1, but stating exactly what is shown. ``what="entries"``
    shows the entries ``|H_kl|`` of the full ``(C d) × (C d)`` matrix, ordered block by block
    (row-major ``vec(V)``: block ``i`` holds the parameters of row ``v_i``), with lines at the
    block boundaries. ``what="block_norms"`` shows one cell per block: the Frobenius norm
    ``‖H_ij‖_F``, either given as a ``C × C`` array or computed here from the full matrix. The
    colourbar label (or the title, without a colourbar) says which.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    matrix_or_block_norms : array_like, shape (C d, C d) or (C, C)
        The Hessian (or any square block matrix), or a ``C × C`` array of block norms.
        Only absolute values are shown.
    n_blocks : int
        Number of blocks per side, ``C`` >= 1; must divide the side of a full matrix.
    what : {"entries", "block_norms"}, optional
        What to show. Default: ``"block_norms"`` when the array is ``n_blocks × n_blocks``,
        else ``"entries"``.
    vmin, vmax : float, optional
        Colour range (> 0). Default: ``vmax`` the largest value, ``vmin`` the smallest positive
        value but not below ``vmax / dynamic_range``. Values below ``vmin``, exact zeros
        included, take the lowest colour, values above ``vmax`` the highest, and the
        colourbar gets extensions to say so.
    cmap : str
        Matplotlib colour map (default viridis: uniform and colour-blind safe).
    cbar : bool
        Add a colourbar labelled with what is shown (see :func:`colorbar`).
    boundaries : bool, optional
        Draw block boundaries; default when there are at most 64 blocks.
    dynamic_range : float
        Default ``vmax / vmin`` cap, > 1.
    max_side : int
        Full matrices larger than this (>= 16) are shown as the maximum ``|H_kl|`` over square
        tiles, so a PDF does not embed a huge raster; the label then says so.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Raises
    ------
    ValueError
        If the array is not square and finite, ``n_blocks`` does not divide its side, it has
        no non-zero value, or an option is out of range.
    """
    _check_axes(ax)
    name = "matrix_or_block_norms"
    m = np.abs(_array(name, matrix_or_block_norms, ndim=2))
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be square, got shape {m.shape}")
    n_blocks = check_int("n_blocks", n_blocks, 1)
    side = m.shape[0]
    if side % n_blocks:
        raise ValueError(f"n_blocks must divide the side of {name} ({side}), got {n_blocks}")
    if what is None:
        what = "block_norms" if side == n_blocks else "entries"
    what = check_choice("what", what, ("entries", "block_norms"))
    dynamic_range = check_real("dynamic_range", dynamic_range, 1.0, strict_min=True)
    max_side = check_int("max_side", max_side, 16)
    if boundaries is None:
        boundaries = n_blocks <= 64
    cmap_obj = mpl.colormaps[_check_cmap(cmap)]

    b = side // n_blocks  # block size in the array as given
    if what == "block_norms" and b > 1:
        m = np.sqrt(np.einsum("ikjl->ij", m.reshape(n_blocks, b, n_blocks, b) ** 2))
        b = 1
    if not np.any(m > 0):
        raise ValueError(f"{name} has no non-zero value; a log colour scale needs one")

    tile = 1
    if what == "entries" and side > max_side:
        tile = math.ceil(side / max_side)
        pad = (-side) % tile
        mp = np.pad(m, ((0, pad), (0, pad)))
        k = mp.shape[0] // tile
        m = mp.reshape(k, tile, k, tile).max(axis=(1, 3))

    hi = float(m.max()) if vmax is None else check_real("vmax", vmax, 0.0, strict_min=True)
    if vmin is None:
        lo = max(float(m[m > 0].min()), hi / dynamic_range)
        lo = min(lo, hi / 10.0) if lo >= hi else lo
    else:
        lo = check_real("vmin", vmin, 0.0, strict_min=True)
    if lo >= hi:
        raise ValueError(f"vmin must be < vmax, got vmin = {lo:g}, vmax = {hi:g}")

    low_colour = cmap_obj(0.0)
    cmap_obj = cmap_obj.with_extremes(under=low_colour, bad=low_colour)
    shown = np.ma.masked_less_equal(m, 0.0)
    extent_side = m.shape[0] * tile  # in original index units (tiles may pad the edge)
    with _house():
        im = ax.imshow(shown, norm=LogNorm(vmin=lo, vmax=hi, clip=False), cmap=cmap_obj,
                       interpolation="none", origin="upper", aspect="equal",
                       extent=(-0.5, extent_side - 0.5, extent_side - 0.5, -0.5))
        full = side if what == "entries" else n_blocks
        ax.set_xlim(-0.5, full - 0.5)
        ax.set_ylim(full - 0.5, -0.5)
        step = side // n_blocks if what == "entries" else 1
        if boundaries and n_blocks > 1:
            for k in range(1, n_blocks):
                pos = k * step - 0.5
                ax.axhline(pos, color="white", lw=0.6)
                ax.axvline(pos, color="white", lw=0.6)
        # Ticks at block centres, labelled by the class index 1..C (at most ~8 labels).
        every = max(1, math.ceil(n_blocks / 8))
        idx = np.arange(0, n_blocks, every)
        centres = idx * step + (step - 1) / 2.0
        ax.set_xticks(centres, [str(i + 1) for i in idx])
        ax.set_yticks(centres, [str(i + 1) for i in idx])
        ax.tick_params(length=0 if step > 1 else 2)
        ax.set_xlabel(r"block column $j$ (class)")
        ax.set_ylabel(r"block row $i$ (class)")
        if what == "entries":
            statement = (r"entries $|H_{kl}|$" if tile == 1 else
                         rf"max $|H_{{kl}}|$ per ${tile}\times{tile}$ tile")
        else:
            statement = r"block norms $\|H_{ij}\|_F$"
        if cbar:
            below, above = bool(np.any(m < lo)), bool(np.any(m > hi))
            extend = {(True, True): "both", (True, False): "min",
                      (False, True): "max", (False, False): "neither"}[(below, above)]
            colorbar(ax, im, label=statement, extend=extend)
        else:
            ax.set_title(statement)
    return ax


def ratio_vs_c(ax: Axes, C: Any, ratio: Any, ci_low: Any = None, ci_high: Any = None,
               prediction_C: Any = None, prediction: Any = None,
               limit: float | Callable[[np.ndarray], Any] | None = None,
               kind: str = "per-block", fitted_slope: float | Sequence[float] | None = None, *,
               rescale: bool = False, label: str = "measured",
               prediction_label: str = "prediction",
               limit_label: str | None = None, ylabel: str | None = None,
               legend: bool = True, legend_loc: str | None = None) -> Axes:
    """Off-diagonal/diagonal block ratio against the number of classes, on log-log axes.

    Measured ratios with CI bars (markers), the finite-``C`` prediction (solid curve), the
    large-``C`` limit (dashed) and the fitted log-log slope (a note in the corner the data
    leave free; in the legend title when ``rescale``). The y label
    says which ratio: ``kind="per-block"`` is ``‖H_ij‖_F / ‖H_ii‖_F`` (expected ``≈ κ/C``),
    ``kind="aggregate"`` is ``(Σ_{i≠j} ‖H_ij‖²_F / Σ_i ‖H_ii‖²_F)^{1/2}`` (expected ``≈ κ/√C``).
    Both are dimensionless.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    C : array_like, shape (n,)
        Numbers of classes, > 0.
    ratio : array_like, shape (n,)
        Measured ratios, > 0.
    ci_low, ci_high : array_like, shape (n,), optional
        Confidence bounds, ``0 < ci_low <= ratio <= ci_high``; give both or neither.
    prediction_C, prediction : array_like, shape (m,), optional
        Finite-``C`` prediction curve (both or neither; values > 0).
    limit : float or callable, optional
        Large-``C`` limit. A float ``κ > 0`` is drawn as ``κ C^{-p}`` with ``p = 1``
        (per-block) or ``1/2`` (aggregate); a callable maps an array of ``C`` to positive
        limit values.
    kind : {"per-block", "aggregate"}
        Which ratio is plotted.
    fitted_slope : float or (slope, low, high), optional
        Fitted log-log slope of ``ratio`` against ``C``, with a CI if a triple.
    rescale : bool
        Plot ``C^p × ratio`` on a linear y axis instead, so that the limit is the horizontal
        line ``κ`` and finite-``C`` corrections of a few per cent are visible.
    label, prediction_label, limit_label : str
        Legend labels, short so that the legend fits a narrow panel (``limit_label`` default:
        "limit κ/C", "limit κ/√C" or, with ``rescale``, "limit κ"); say in the caption that
        the prediction is the finite-``C`` one and the limit the large-``C`` one.
    ylabel : str, optional
        Override the y label.
    legend : bool
        Draw the legend (inside the axes).
    legend_loc : str, optional
        Legend location (a matplotlib ``loc`` string). Default: for falling log-log data the
        lower-left corner, with the slope note upper right (rising data: upper left, note lower
        right); with ``rescale``, ``"best"``.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Raises
    ------
    ValueError
        If lengths differ, a value on a log axis is not > 0, a CI does not contain its
        estimate, or an option is invalid.
    """
    _check_axes(ax)
    kind = check_choice("kind", kind, ("per-block", "aggregate"))
    _check_text("legend_loc", legend_loc, allow_none=True)
    c = _positive("C", _array("C", C))
    r = _positive("ratio", _array("ratio", ratio))
    _same_length("C", c.shape[0], ratio=r)
    ci = _interval("ratio", r, ci_low, ci_high, positive=True)
    if (prediction_C is None) != (prediction is None):
        missing = "prediction" if prediction is None else "prediction_C"
        raise ValueError(f"{missing} must be given together with "
                         f"{'prediction_C' if missing == 'prediction' else 'prediction'}")
    pc = pv = None
    if prediction is not None:
        pc = _positive("prediction_C", _array("prediction_C", prediction_C))
        pv = _positive("prediction", _array("prediction", prediction))
        _same_length("prediction_C", pc.shape[0], prediction=pv)
    slope_ci = None
    if fitted_slope is not None:
        if isinstance(fitted_slope, (Real, np.floating, np.integer)):
            slope = check_real("fitted_slope", fitted_slope)
        else:
            try:
                slope, s_lo, s_hi = fitted_slope
            except (TypeError, ValueError):
                raise ValueError("fitted_slope must be a number or a (slope, low, high) "
                                 f"triple, got {fitted_slope!r}") from None
            slope = check_real("fitted_slope", slope)
            slope_ci = _pair("fitted_slope[1:]", (s_lo, s_hi))
            if not slope_ci[0] <= slope <= slope_ci[1]:
                raise ValueError(f"fitted_slope must lie in its CI, got {slope:g} outside "
                                 f"[{slope_ci[0]:g}, {slope_ci[1]:g}]")
    for nm, txt in (("label", label), ("prediction_label", prediction_label)):
        _check_text(nm, txt)
    _check_text("limit_label", limit_label, allow_none=True)
    _check_text("ylabel", ylabel, allow_none=True)

    p = 1.0 if kind == "per-block" else 0.5
    xs = np.concatenate([c] + ([pc] if pc is not None else []))
    grid = _log_grid(float(xs.min()), float(xs.max()))
    lim_vals = None
    if limit is not None:
        if callable(limit):
            try:
                lim_vals = np.asarray(to_numpy(limit(grid)), dtype=np.float64)
            except Exception as exc:
                raise ValueError(f"limit failed on an array of C values ({exc})") from None
            if lim_vals.shape != grid.shape or not np.all(np.isfinite(lim_vals)):
                raise ValueError("limit must return finite values of the shape of its input")
            _positive("limit", lim_vals)
        else:
            kappa = check_real("limit", limit, 0.0, strict_min=True)
            lim_vals = kappa * grid ** (-p)

    scale = (lambda x: x ** p) if rescale else (lambda x: np.ones_like(x))
    rate = r"/C" if p == 1.0 else r"/\sqrt{C}"
    with _house():
        if pv is not None:
            order = np.argsort(pc)
            ax.plot(pc[order], pv[order] * scale(pc[order]), color=_PREDICTION, ls="-",
                    lw=1.1, label=prediction_label, zorder=2)
        if lim_vals is not None:
            if limit_label is None:
                limit_label = ("limit" if callable(limit) else
                               (r"limit $\kappa$" if rescale else rf"limit $\kappa{rate}$"))
            ax.plot(grid, lim_vals * scale(grid), color=_LIMIT, ls="--", lw=0.9,
                    label=limit_label, zorder=1)
        y = r * scale(c)
        yerr = None if ci is None else np.vstack([(r - ci[0]) * scale(c), (ci[1] - r) * scale(c)])
        ax.errorbar(c, y, yerr=yerr, fmt="o", color=_MEASURED, ms=3.5, mfc=_MEASURED,
                    elinewidth=0.8, capthick=0.8, label=label, zorder=3)
        ax.set_xscale("log")
        if not rescale:
            ax.set_yscale("log")
        ax.set_xlabel(LABELS["C"])
        if ylabel is None:
            if kind == "per-block":
                body = SYMBOLS["ratio_per_block"]
                ylabel = (r"per-block ratio $C\,\|H_{ij}\|_F\,/\,\|H_{ii}\|_F$" if rescale
                          else f"per-block ratio {body}")
            else:
                body = SYMBOLS["ratio_aggregate"]
                ylabel = ("aggregate ratio × $\\sqrt{C}$\n" + body if rescale
                          else "aggregate ratio\n" + body)
        ax.set_ylabel(ylabel)
        note = None
        if fitted_slope is not None:
            note = (f"fitted slope {_fmt(slope)}" if slope_ci is None else
                    "fitted slope " + _fmt_ci(slope, *slope_ci).replace(" [", "\nCI [", 1))
        # Falling data on log-log axes leave the lower-left and upper-right corners free.
        falling = (np.ptp(np.log(c)) == 0.0
                   or np.polyfit(np.log(c), np.log(r), 1)[0] <= 0.0)
        if rescale:
            loc, note_loc = legend_loc or "best", None
        elif falling:
            loc, note_loc = legend_loc or "lower left", "upper right"
        else:
            loc, note_loc = legend_loc or "upper left", "lower right"
        if note is not None and (note_loc is None or note_loc == loc):
            if legend:
                _legend(ax, loc=loc, title=note.replace("\n", ", "))
            else:
                _note(ax, note, "upper right")
        else:
            if legend:
                _legend(ax, loc=loc)
            if note is not None:
                _note(ax, note, note_loc)
    return ax

