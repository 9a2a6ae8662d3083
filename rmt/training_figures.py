"""Figures of the dynamic force, in the house style of :mod:`rmt.figures`.

* :func:`curves_vs_step` — a quantity against the training step, one line per group (e.g. per
  ``C``) with its confidence band over seeds.
* :func:`residual_vs_loss` — the cross-layer residual norm against the loss (log–log), with
  reference slopes.
* :func:`layer_tile_heatmap` — the Hessian of a layered model in the paper's layout: one tile per
  pair of output neurons (rows of the weight matrices), tiles of every size shown at one cell
  each, layers separated by lines; the colour is a per-tile norm stated in the colour-bar
  label by the caller.

Functions take an Axes and plain arrays, draw and return the Axes, like :mod:`rmt.figures`; they
validate their inputs (ValueError naming the parameter). This is a separate module because
:mod:`rmt.figures` belongs to another part of the suite; it uses its style, palette and
colour-bar helper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from rmt import figures as F
from rmt.validation import check_choice

__all__ = ["tile_norms", "curves_vs_step", "residual_vs_loss", "layer_tile_heatmap"]


def _check_axes(ax: Any) -> Axes:
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib.axes.Axes, got {type(ax).__name__}")
    return ax


def tile_norms(H: Any, block_sizes: Sequence[int], *, normalise: str = "rms") -> np.ndarray:
    """Per-tile norms of a matrix cut into blocks of the given sizes (rows and columns alike).

    ``normalise="rms"``: ``‖H_ij‖_F / √(n_i n_j)`` (the RMS entry, comparable across tiles of
    different sizes); ``"frobenius"``: ``‖H_ij‖_F``.
    """
    H = np.asarray(H, dtype=np.float64)
    sizes = np.asarray(block_sizes, dtype=np.int64)
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be a square matrix, got shape {H.shape}")
    if sizes.ndim != 1 or sizes.size < 1 or np.any(sizes < 1) or sizes.sum() != H.shape[0]:
        raise ValueError(f"block_sizes must be positive integers summing to {H.shape[0]}, got "
                         f"{list(block_sizes)[:8]}…")
    normalise = check_choice("normalise", normalise, ("rms", "frobenius"))
    edges = np.concatenate([[0], np.cumsum(sizes)])
    sq = np.add.reduceat(np.add.reduceat(H * H, edges[:-1], axis=0), edges[:-1], axis=1)
    out = np.sqrt(sq)
    if normalise == "rms":
        out /= np.sqrt(np.outer(sizes, sizes).astype(np.float64))
    return out


def curves_vs_step(ax: Axes, step: Any, mean: Any, ci_low: Any = None, ci_high: Any = None, *,
                   labels: Sequence[str] | None = None, logy: bool = True,
                   linestyle: str = "-", ylabel: str | None = None,
                   xlabel: str = "training step") -> Axes:
    """Lines of ``mean[g]`` against ``step`` for each group ``g``, with shaded CI bands.

    Parameters
    ----------
    step : array, shape (T,)
    mean, ci_low, ci_high : arrays, shape (G, T)
        One row per group (NaN points are skipped).
    labels : sequence of str, optional
        One per group (legend entries).
    """
    _check_axes(ax)
    x = np.asarray(step, dtype=np.float64)
    m = np.atleast_2d(np.asarray(mean, dtype=np.float64))
    if m.shape[1] != x.size:
        raise ValueError(f"mean must have shape (groups, {x.size}), got {m.shape}")
    lo = None if ci_low is None else np.atleast_2d(np.asarray(ci_low, dtype=np.float64))
    hi = None if ci_high is None else np.atleast_2d(np.asarray(ci_high, dtype=np.float64))
    for name, arr in (("ci_low", lo), ("ci_high", hi)):
        if arr is not None and arr.shape != m.shape:
            raise ValueError(f"{name} must have the shape of mean {m.shape}, got {arr.shape}")
    if labels is not None and len(labels) != m.shape[0]:
        raise ValueError(f"labels must give one label per group ({m.shape[0]}), got {len(labels)}")
    with F.style():
        for g in range(m.shape[0]):
            colour = F.PALETTE[g % len(F.PALETTE)]
            ok = np.isfinite(m[g]) & ((m[g] > 0) if logy else True)
            ax.plot(x[ok], m[g][ok], linestyle, color=colour, lw=1.2,
                    label=None if labels is None else labels[g])
            if lo is not None and hi is not None:
                band = ok & np.isfinite(lo[g]) & np.isfinite(hi[g])
                low = np.maximum(lo[g], m[g] * 1e-3) if logy else lo[g]
                ax.fill_between(x[band], low[band], hi[g][band], color=colour, alpha=0.2, lw=0)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        if ylabel:
            ax.set_ylabel(ylabel)
    return ax


def residual_vs_loss(ax: Axes, loss: Any, residual: Any, *, labels: Sequence[str] | None = None,
                     slopes: Sequence[float] = (0.5, 1.0), ylabel: str | None = None) -> Axes:
    """Log–log scatter of ``residual[g]`` against ``loss[g]`` per group, joined in training
    order, with dotted reference lines of the given slopes through the groups' median point."""
    _check_axes(ax)
    Lm = np.atleast_2d(np.asarray(loss, dtype=np.float64))
    Rm = np.atleast_2d(np.asarray(residual, dtype=np.float64))
    if Lm.shape != Rm.shape:
        raise ValueError(f"loss and residual must have the same shape, got {Lm.shape} and "
                         f"{Rm.shape}")
    with F.style():
        pts = []
        for g in range(Lm.shape[0]):
            ok = np.isfinite(Lm[g]) & np.isfinite(Rm[g]) & (Lm[g] > 0) & (Rm[g] > 0)
            colour = F.PALETTE[g % len(F.PALETTE)]
            ax.plot(Lm[g][ok], Rm[g][ok], "o-", ms=2.5, lw=0.8, color=colour,
                    label=None if labels is None else labels[g])
            pts.append(np.stack([Lm[g][ok], Rm[g][ok]], axis=1))
        allp = np.concatenate(pts) if pts else np.empty((0, 2))
        if allp.size:
            x0, y0 = np.exp(np.median(np.log(allp), axis=0))
            xs = np.geomspace(allp[:, 0].min(), allp[:, 0].max(), 20)
            for s, ls in zip(slopes, (":", "--", "-.")):
                ax.plot(xs, y0 * (xs / x0) ** s, ls, color="0.45", lw=0.8, label=f"slope {s:g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"training loss $\ell$")
        if ylabel:
            ax.set_ylabel(ylabel)
    return ax


def layer_tile_heatmap(ax: Axes, tiles: Any, layer_sizes: Sequence[int], *,
                       layer_names: Sequence[str] | None = None, vmin: float | None = None,
                       vmax: float | None = None, cmap: str = "viridis") -> Any:
    """One cell per tile (block pair) on a log colour scale, with lines between the layers.

    Parameters
    ----------
    tiles : array, shape (n, n)
        Per-tile norms (:func:`tile_norms`), blocks in parameter order.
    layer_sizes : sequence of int
        Blocks per layer in that order (summing to ``n``); lines are drawn between layers.
    layer_names : sequence of str, optional
        Tick labels at the layers' centres.
    vmin, vmax : float, optional
        Colour range (> 0); default the smallest positive and the largest tile. Zero tiles take
        the lowest colour.

    Returns
    -------
    matplotlib.image.AxesImage
        The image (for a shared colour bar, :func:`rmt.figures.colorbar`).
    """
    _check_axes(ax)
    T = np.abs(np.asarray(tiles, dtype=np.float64))
    n = T.shape[0]
    if T.ndim != 2 or T.shape[1] != n:
        raise ValueError(f"tiles must be a square matrix, got shape {T.shape}")
    sizes = [int(s) for s in layer_sizes]
    if any(s < 1 for s in sizes) or sum(sizes) != n:
        raise ValueError(f"layer_sizes must be positive and sum to {n}, got {sizes}")
    if layer_names is not None and len(layer_names) != len(sizes):
        raise ValueError(f"layer_names must name each of the {len(sizes)} layers, got "
                         f"{len(layer_names)}")
    pos = T[T > 0]
    if pos.size == 0:
        raise ValueError("tiles has no non-zero value; a log colour scale needs one")
    hi = float(pos.max()) if vmax is None else float(vmax)
    lo = float(pos.min()) if vmin is None else float(vmin)
    if not (0 < lo < hi):
        raise ValueError(f"vmin must be in (0, vmax), got vmin = {lo:g}, vmax = {hi:g}")
    import matplotlib as mpl  # noqa: PLC0415

    cm = mpl.colormaps[cmap]
    cm = cm.with_extremes(under=cm(0.0), bad=cm(0.0))
    with F.style():
        im = ax.imshow(np.ma.masked_less_equal(T, 0.0), norm=LogNorm(vmin=lo, vmax=hi),
                       cmap=cm, interpolation="none", aspect="equal")
        edges = np.cumsum(sizes)[:-1] - 0.5
        for e in edges:
            ax.axhline(e, color="white", lw=0.8)
            ax.axvline(e, color="white", lw=0.8)
        centres = np.cumsum([0, *sizes[:-1]]) + (np.asarray(sizes) - 1) / 2
        names = layer_names if layer_names is not None else [str(i) for i in range(len(sizes))]
        ax.set_xticks(centres, names)
        ax.set_yticks(centres, names)
        ax.tick_params(length=0)
    return im
