"""Figures of spectra against laws: ESD histograms and QQ plots."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from rmt.backend import to_numpy
from rmt.validation import check_int, check_real

from ._checks import (
    _array,
    _check_axes,
    _check_text,
    _fmt,
    _legend,
    _pair,
    _same_length,
)
from .style import _HIST, _LAW_STYLES, _MEASURED, _REFERENCE, LABELS, OKABE_ITO, _house


def esd_histogram(ax: Axes, eigenvalues: Any,
                  laws: Sequence[tuple[str, Any, Any]] = (),
                  atom: tuple[float, float] | None = None, *, bins: int | str | Any = None,
                  value_range: tuple[float, float] | None = None,
                  atom_tol: float | None = None, label: str = "empirical",
                  legend: bool = True) -> Axes:
    """Empirical spectral distribution as a density histogram, with limiting laws overlaid.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    eigenvalues : array_like, shape (n,)
        Eigenvalues (real, finite), n >= 2.
    laws : sequence of (label, x, density)
        Densities to overlay, e.g. ``[("Marchenko–Pastur", x, mp_pdf(x)),
        ("weighted MP", x, wmp_pdf(x))]``; ``x`` and ``density`` are 1-D of equal length,
        ``density >= 0``. Give the density of the continuous part (without any atom).
    atom : (position, mass), optional
        A point mass of the limiting law (e.g. at 0 with mass ``1 − 1/γ`` for ``γ > 1``).
        Eigenvalues within ``atom_tol`` of it are left out of the histogram, whose bars are
        then normalised by the *total* count, so bars and continuous-part densities are on the
        same scale; the atom is drawn as a vertical arrow whose legend entry gives the law's
        mass and the empirical fraction.
    bins : int, str or array_like, optional
        Passed to :func:`numpy.histogram_bin_edges`. Default ``√m`` bins for the ``m``
        eigenvalues shown, clipped to [10, 200]: finer than numpy's ``"auto"``, which smooths
        away the edge behaviour a spectral law is judged by.
    value_range : (low, high), optional
        Range of the histogram (default: that of the eigenvalues shown).
    atom_tol : float, optional
        Distance from the atom within which an eigenvalue counts as the atom (>= 0); default
        ``1e-8 × max(1, max |λ|)``, far above rounding error of a PSD eigen-solver, far below
        the gap to the continuous part.
    label : str
        Legend label of the histogram; the eigenvalue count is appended.
    legend : bool
        Draw the legend (inside the axes).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Raises
    ------
    ValueError
        If ``eigenvalues`` or a law is malformed, ``atom`` is not (position, mass in [0, 1]),
        or ``bins`` / ``value_range`` / ``atom_tol`` is invalid.
    """
    _check_axes(ax)
    lam = _array("eigenvalues", eigenvalues)
    n_total = lam.shape[0]
    if n_total < 2:
        raise ValueError(f"eigenvalues must hold at least 2 values, got {n_total}")
    _check_text("label", label)
    checked_laws = []
    if isinstance(laws, (str, bytes)) or not isinstance(laws, Sequence):
        raise ValueError(f"laws must be a sequence of (label, x, density) tuples, got {laws!r}")
    for k, law in enumerate(laws):
        try:
            lab, x, dens = law
        except (TypeError, ValueError):
            raise ValueError(f"laws[{k}] must be a (label, x, density) tuple") from None
        _check_text(f"laws[{k}] label", lab)
        x = _array(f"laws[{k}] x", x)
        dens = _array(f"laws[{k}] density", dens)
        _same_length(f"laws[{k}] x", x.shape[0], **{f"laws[{k}] density": dens})
        if np.any(dens < 0):
            raise ValueError(f"laws[{k}] density must be >= 0, got minimum {dens.min():g}")
        order = np.argsort(x, kind="stable")
        checked_laws.append((lab, x[order], dens[order]))
    if len(checked_laws) > len(_LAW_STYLES):
        raise ValueError(f"laws may hold at most {len(_LAW_STYLES)} densities, "
                         f"got {len(checked_laws)}")

    shown = lam
    atom_pos = atom_mass = None
    if atom is not None:
        try:
            atom_pos, atom_mass = atom
        except (TypeError, ValueError):
            raise ValueError(f"atom must be a (position, mass) pair, got {atom!r}") from None
        atom_pos = check_real("atom position", atom_pos)
        atom_mass = check_real("atom mass", atom_mass, 0.0, 1.0)
        tol = (1e-8 * max(1.0, float(np.abs(lam).max())) if atom_tol is None
               else check_real("atom_tol", atom_tol, 0.0))
        at_atom = np.abs(lam - atom_pos) <= tol
        shown = lam[~at_atom]
        emp_mass = float(at_atom.mean())
    elif atom_tol is not None:
        raise ValueError("atom_tol must only be given together with atom")

    if value_range is not None:
        value_range = _pair("value_range", value_range)
        if value_range[0] == value_range[1]:
            raise ValueError(f"value_range must have low < high, got {value_range}")
    edges = None
    if bins is None:
        bins = int(np.clip(round(math.sqrt(max(shown.size, 1))), 10, 200))
    if shown.size:
        try:
            edges = np.histogram_bin_edges(shown, bins=bins, range=value_range)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"bins is invalid for numpy.histogram_bin_edges ({exc})") from None

    with _house():
        if edges is not None:
            counts, edges = np.histogram(shown, bins=edges)
            heights = counts / (n_total * np.diff(edges))
            ax.stairs(heights, edges, fill=True, color=_HIST, alpha=0.55, lw=0,
                      label=f"{label} ($n = {n_total}$)")
            ax.stairs(heights, edges, fill=False, color=OKABE_ITO["blue"], lw=0.5, alpha=0.8)
        for (lab, x, dens), (colour, ls) in zip(checked_laws, _LAW_STYLES):
            ax.plot(x, dens, color=colour, ls=ls, lw=1.2, label=lab, zorder=3)
        if atom is not None:
            trans = blended_transform_factory(ax.transData, ax.transAxes)
            ax.annotate("", xy=(atom_pos, 0.92), xytext=(atom_pos, 0.0), xycoords=trans,
                        textcoords=trans, annotation_clip=False,
                        arrowprops=dict(arrowstyle="-|>", color=OKABE_ITO["reddish_purple"],
                                        lw=1.2, shrinkA=0, shrinkB=0, mutation_scale=7))
            ax.plot([], [], color=OKABE_ITO["reddish_purple"], lw=1.2, marker="^", ms=3.5,
                    label=(f"atom at ${atom_pos:g}$: mass {_fmt(atom_mass)} "
                           f"(empirical {_fmt(emp_mass)})"))
        # Head room for the legend above the tallest bar or curve.
        tops = [heights.max()] if edges is not None and heights.size else []
        tops += [dens.max() for _, _, dens in checked_laws]
        top = max(tops) if tops and max(tops) > 0 else 1.0
        ax.set_ylim(0.0, 1.3 * top)
        ax.set_xlabel(LABELS["lambda"])
        ax.set_ylabel(r"spectral density $\rho(\lambda)$")
        if legend:
            _legend(ax)
    return ax


def qq_plot(ax: Axes, eigenvalues: Any,
            quantile_function_or_values: Callable[[np.ndarray], Any] | Any,
            label: str = "limiting law", *, max_points: int = 2000,
            legend: bool = True) -> Axes:
    """Quantile–quantile plot: sorted eigenvalues against a law's quantiles, with ``y = x``.

    The ``k``-th smallest of ``n`` eigenvalues is paired with the law's quantile at the
    plotting position ``p_k = (k − 1/2)/n``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    eigenvalues : array_like, shape (n,)
        Eigenvalues (real, finite), n >= 2.
    quantile_function_or_values : callable or array_like, shape (n,)
        The law's quantile function (vectorised: array of probabilities in (0, 1) to finite
        quantiles of the same shape), or its quantiles at ``p_k`` already computed
        (non-decreasing).
    label : str
        Name of the law, used in the x label.
    max_points : int
        At most this many evenly spaced order statistics are drawn (>= 10), keeping vector
        files small; the extremes are always included.
    legend : bool
        Draw the legend (inside the axes).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Raises
    ------
    ValueError
        If ``eigenvalues`` is malformed, the quantiles are not finite, non-decreasing and of
        the length of ``eigenvalues``, or the quantile function fails.
    """
    _check_axes(ax)
    lam = np.sort(_array("eigenvalues", eigenvalues))
    n = lam.shape[0]
    if n < 2:
        raise ValueError(f"eigenvalues must hold at least 2 values, got {n}")
    _check_text("label", label)
    max_points = check_int("max_points", max_points, 10)
    name = "quantile_function_or_values"
    probs = (np.arange(1, n + 1) - 0.5) / n
    if callable(quantile_function_or_values):
        try:
            q = np.asarray(to_numpy(quantile_function_or_values(probs)))
        except Exception as exc:
            raise ValueError(f"{name} failed on an array of probabilities ({exc})") from None
        q = _array(name, q.astype(np.float64) if q.dtype != object else q)
        if q.shape != probs.shape:
            raise ValueError(f"{name} must return an array of the shape of its input "
                             f"({probs.shape}), got {q.shape}")
    else:
        q = _array(name, quantile_function_or_values)
        _same_length("eigenvalues", n, **{name: q})
    if np.any(np.diff(q) < 0):
        raise ValueError(f"{name} must be non-decreasing in the probability")

    keep = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int))
    lo = float(min(q.min(), lam.min()))
    hi = float(max(q.max(), lam.max()))
    pad = 0.04 * (hi - lo) if hi > lo else 0.5
    with _house():
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=_REFERENCE, ls="--", lw=0.9,
                label=r"$y = x$", zorder=1)
        ax.plot(q[keep], lam[keep], ls="none", marker="o", ms=2.2, mew=0.4, mfc="none",
                color=_MEASURED, label=f"eigenvalues ($n = {n}$)", zorder=2)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(f"quantile of {label}")
        ax.set_ylabel(r"sorted eigenvalue $\lambda_{(k)}$")
        if legend:
            _legend(ax, loc="upper left")
    return ax

