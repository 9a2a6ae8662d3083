"""Figures a paper can use unedited: the house style and one function per kind of plot.

The house style (:data:`RC_PARAMS`, :func:`style`, :func:`figure`, :func:`save`) fixes what a
journal asks of a figure: widths of one column (3.35 in) and two columns (7.0 in), 8 pt text
(9 pt titles), vector PDF with embedded TrueType fonts (``pdf.fonttype = 42``: no Type 3
fonts), PNG at 300 dpi and SVG on request, the colour-blind-safe Okabe–Ito palette, and
mathtext labels with the paper's symbols (:data:`SYMBOLS`), so no TeX install is needed.

Every figure function takes a :class:`matplotlib.axes.Axes` and plain data (arrays, tuples,
floats; never rmt result objects, so this module depends on no other stage of the pipeline),
draws on it and returns it. Inputs are validated: a bad one raises :class:`ValueError` whose
message names the parameter. Only the object-oriented API is used: :func:`figure` builds a
:class:`matplotlib.figure.Figure` without pyplot, files are rendered by the Agg (PNG), PDF and
SVG canvases, and nothing is ever shown on screen.

Figure functions called outside a ``with style():`` block apply the house style themselves; inside
one they use whatever that block set, so ``style(rc={...})`` customises a whole figure.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> from rmt import figures
>>> C = np.array([10, 20, 50, 100])
>>> fig, ax = figures.figure("single")
>>> ax = figures.ratio_vs_c(ax, C, 1.3 / C, 1.25 / C, 1.35 / C, limit=1.41, kind="per-block")
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> [p.name for p in figures.save(fig, folder / "ratio", formats=("pdf", "png"))]
['ratio.pdf', 'ratio.png']
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from fractions import Fraction
from numbers import Real
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib import cycler
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnchoredText
from matplotlib.transforms import blended_transform_factory

from rmt.backend import to_numpy
from rmt.validation import check_choice, check_int, check_real

__all__ = [
    "WIDTHS",
    "OKABE_ITO",
    "PALETTE",
    "SYMBOLS",
    "LABELS",
    "RC_PARAMS",
    "FORMATS",
    "rc_params",
    "style",
    "figure",
    "save",
    "colorbar",
    "block_heatmap",
    "ratio_vs_c",
    "esd_histogram",
    "qq_plot",
    "lindeberg_path",
    "lindeberg_rate",
    "convergence",
]

# --------------------------------------------------------------------------------------------
# House style
# --------------------------------------------------------------------------------------------

#: Figure widths in inches: one column and two columns of a typical two-column journal page.
WIDTHS: dict[str, float] = {"single": 3.35, "double": 7.0}

#: The Okabe–Ito colours (Okabe & Ito 2008), distinguishable under the common colour-vision
#: deficiencies and in greyscale when paired with the line styles used below.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Colour cycle (yellow left out: too faint on white paper).
PALETTE: tuple[str, ...] = tuple(
    OKABE_ITO[k] for k in
    ("blue", "vermillion", "bluish_green", "orange", "reddish_purple", "sky_blue", "black")
)

# Fixed roles, so that the same kind of thing looks the same in every figure.
_MEASURED = OKABE_ITO["blue"]
_PREDICTION = OKABE_ITO["vermillion"]
_FIT = OKABE_ITO["bluish_green"]
_LIMIT = OKABE_ITO["black"]
_REFERENCE = "0.45"
_HIST = OKABE_ITO["sky_blue"]
_LAW_STYLES = (
    (OKABE_ITO["vermillion"], "-"),
    (OKABE_ITO["black"], "--"),
    (OKABE_ITO["bluish_green"], "-."),
    (OKABE_ITO["reddish_purple"], ":"),
    (OKABE_ITO["orange"], (0, (5, 1, 1, 1, 1, 1))),
)

#: The paper's symbols as mathtext, one spelling for every figure.
SYMBOLS: dict[str, str] = {
    "C": r"$C$",
    "d": r"$d$",
    "N": r"$N$",
    "gamma": r"$\gamma = d/N$",
    "sigma": r"$\sigma$",
    "t": r"$t$",
    "lambda": r"$\lambda$",
    "H": r"$H$",
    "H_ii": r"$H_{ii}$",
    "H_ij": r"$H_{ij}$",
    "H_entry": r"$|H_{kl}|$",
    "block_norm": r"$\|H_{ij}\|_F$",
    "ratio_per_block": r"$\|H_{ij}\|_F\,/\,\|H_{ii}\|_F$",
    "ratio_aggregate": r"$(\Sigma_{i\neq j}\|H_{ij}\|_F^2\,/\,\Sigma_i\|H_{ii}\|_F^2)^{1/2}$",
    "lindeberg_gap": r"$\Delta(t)$",
}

#: Axis labels built from :data:`SYMBOLS` (all these quantities are dimensionless).
LABELS: dict[str, str] = {
    "C": r"number of classes $C$",
    "d": r"input dimension $d$",
    "N": r"sample size $N$",
    "gamma": r"aspect ratio $\gamma = d/N$",
    "sigma": r"initialisation scale $\sigma$",
    "t": r"interpolation parameter $t$",
    "lambda": r"eigenvalue $\lambda$",
}

#: File formats :func:`save` writes.
FORMATS: tuple[str, ...] = ("pdf", "png", "svg")

def _rc_valid(key: str, value: Any) -> bool:
    """Whether this matplotlib accepts ``value`` for rcParam ``key``."""
    try:
        mpl.RcParams({key: value})
    except (KeyError, ValueError, TypeError):
        return False
    return True


#: rcParams of the house style (a template: :func:`rc_params` returns a fresh copy).
RC_PARAMS: dict[str, Any] = {
    # Fonts: DejaVu ships with matplotlib, so no system font or TeX is needed.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.serif": ["DejaVu Serif"],
    "mathtext.fontset": "dejavusans",
    # Italic Latin letters, upright digits and Greek capitals, as in TeX ("normal" is new in
    # matplotlib 3.10; older versions do the same under "it").
    "mathtext.default": "normal" if _rc_valid("mathtext.default", "normal") else "it",
    "axes.formatter.use_mathtext": True,
    "axes.unicode_minus": True,
    # Sizes for print: 8 pt text, 9 pt titles, at the final size (no scaling in the paper).
    "font.size": 8.0,
    "axes.labelsize": 8.0,
    "axes.titlesize": 9.0,
    "figure.titlesize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "legend.fontsize": 8.0,
    "legend.title_fontsize": 8.0,
    # Lines thin enough for a 3.35 in panel, thick enough to survive printing.
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.1,
    "lines.markersize": 3.5,
    "patch.linewidth": 0.6,
    "hatch.linewidth": 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.45,
    "ytick.minor.width": 0.45,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "xtick.minor.size": 1.6,
    "ytick.minor.size": 1.6,
    "xtick.major.pad": 2.5,
    "ytick.major.pad": 2.5,
    "axes.labelpad": 2.5,
    "errorbar.capsize": 2.0,
    # Colour: Okabe–Ito lines, viridis images (perceptually uniform, colour-blind safe).
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "image.cmap": "viridis",
    "axes.grid": False,
    # Legends inside the axes, framed lightly so they stay readable over data.
    "legend.loc": "best",
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "0.8",
    "legend.fancybox": False,
    "legend.borderpad": 0.35,
    "legend.labelspacing": 0.3,
    "legend.handlelength": 1.6,
    "legend.handletextpad": 0.5,
    "legend.borderaxespad": 0.4,
    # Layout: constrained layout keeps labels inside the figure at its exact paper width.
    "figure.constrained_layout.use": True,
    "figure.constrained_layout.h_pad": 0.02,
    "figure.constrained_layout.w_pad": 0.02,
    "figure.dpi": 100.0,
    "figure.facecolor": "white",
    "savefig.dpi": 300.0,
    "savefig.bbox": "standard",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    # Vector output: TrueType (Type 42) fonts embedded in PDF/PS; SVG text as paths so the
    # file looks the same without the font installed; SVG ids reproducible.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "rmt-figures",
    "image.interpolation": "none",
}

_FAMILIES = ("sans", "serif")
_ACTIVE_STYLES = 0  # depth of nested style() blocks


def rc_params(family: str = "sans", rc: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The house-style rcParams as a fresh dict.

    Parameters
    ----------
    family : {"sans", "serif"}
        Text face: DejaVu Sans with sans mathtext (default), or DejaVu Serif with serif mathtext
        for journals that set figures in a serif face.
    rc : mapping, optional
        rcParams to change on top of the house style, e.g. ``{"font.size": 9}``.

    Returns
    -------
    dict
        rcParams for :func:`matplotlib.rc_context`.

    Raises
    ------
    ValueError
        If ``family`` is not one of the two faces, or ``rc`` names an unknown rcParam or an
        invalid value.
    """
    family = check_choice("family", family, _FAMILIES)
    params = dict(RC_PARAMS)
    if family == "serif":
        params["font.family"] = "serif"
        params["mathtext.fontset"] = "dejavuserif"
    if rc is not None:
        if not isinstance(rc, Mapping):
            raise ValueError(f"rc must be a mapping of rcParams, got {type(rc).__name__}")
        for key, value in rc.items():
            if key not in mpl.rcParams:
                raise ValueError(f"rc names an unknown rcParam {key!r}")
            try:
                mpl.RcParams({key: value})  # the rcParam's own validator
            except (ValueError, TypeError) as exc:
                raise ValueError(f"rc[{key!r}] is invalid: {exc}") from None
            params[key] = value
    return params


@contextlib.contextmanager
def style(family: str = "sans", rc: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Context manager that applies the house style (see :func:`rc_params`).

    Parameters
    ----------
    family : {"sans", "serif"}
        Text face.
    rc : mapping, optional
        rcParams to change on top of the house style.

    Yields
    ------
    dict
        The rcParams in force inside the block.

    Examples
    --------
    >>> from rmt import figures
    >>> with figures.style(rc={"font.size": 9}):
    ...     fig, ax = figures.figure("double", aspect=0.35)
    """
    global _ACTIVE_STYLES
    params = rc_params(family, rc)
    with mpl.rc_context(params):
        _ACTIVE_STYLES += 1
        try:
            yield params
        finally:
            _ACTIVE_STYLES -= 1


def _house() -> contextlib.AbstractContextManager:
    """The house style unless a :func:`style` block is already active."""
    return contextlib.nullcontext() if _ACTIVE_STYLES > 0 else style()


def figure(width: str | float = "single", aspect: float = 0.75, *, nrows: int = 1,
           ncols: int = 1, height: float | None = None, sharex: bool | str = False,
           sharey: bool | str = False, squeeze: bool = True,
           subplot_kw: Mapping[str, Any] | None = None) -> tuple[Figure, Any]:
    """A figure at a paper's column width, with a grid of axes.

    The figure is a :class:`matplotlib.figure.Figure` made without pyplot (it is never shown
    and never registered with a GUI), with constrained layout so that labels, colourbars and
    legends fit inside the stated size.

    Parameters
    ----------
    width : {"single", "double"} or float
        ``"single"`` (3.35 in, one column), ``"double"`` (7.0 in, two columns), or a width in
        inches in (0, 20].
    aspect : float
        Height over width, in (0, 3]; ignored when ``height`` is given.
    nrows, ncols : int
        Grid of axes, each >= 1.
    height : float, optional
        Height in inches, in (0, 20].
    sharex, sharey : bool or {"row", "col", "all", "none"}
        Passed to :meth:`matplotlib.figure.Figure.subplots`.
    squeeze : bool
        Return a single Axes (not an array) for a 1×1 grid, and 1-D arrays for one row/column.
    subplot_kw : mapping, optional
        Keyword arguments for every Axes.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : matplotlib.axes.Axes or numpy.ndarray of Axes

    Raises
    ------
    ValueError
        If ``width``, ``aspect``, ``height``, ``nrows`` or ``ncols`` is out of range.
    """
    if isinstance(width, str):
        w = WIDTHS[check_choice("width", width, tuple(WIDTHS))]
    else:
        w = check_real("width", width, 0.0, 20.0, strict_min=True)
    if height is None:
        h = w * check_real("aspect", aspect, 0.0, 3.0, strict_min=True)
    else:
        h = check_real("height", height, 0.0, 20.0, strict_min=True)
    nrows = check_int("nrows", nrows, 1, 20)
    ncols = check_int("ncols", ncols, 1, 20)
    with _house():
        fig = Figure(figsize=(w, h), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=squeeze,
                            subplot_kw=dict(subplot_kw or {}))
    return fig, axes


_METADATA: dict[str, dict[str, Any]] = {
    # No creation date, so re-running a script gives byte-identical vector files.
    "pdf": {"CreationDate": None},
    "svg": {"Date": None},
    "png": {},
}


def save(fig: Figure, path_stem: str | os.PathLike, formats: str | Sequence[str] = ("pdf", "png"),
         *, dpi: float = 300.0) -> tuple[Path, ...]:
    """Write ``fig`` to ``path_stem.<fmt>`` for each format, atomically.

    Each file is rendered into a temporary file in the destination folder and moved into place
    with :func:`os.replace`, so a reader never sees a half-written figure and a failed render
    leaves any previous file untouched. Missing parent folders are created. The layout is
    computed once before the first file is rendered, so inset colourbars (:func:`colorbar`)
    are fitted in; prefer this to calling ``fig.savefig`` directly. The house style's save
    settings (embedded Type 42 fonts, no creation date) apply unless a :func:`style` block is
    active.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    path_stem : str or path-like
        Destination without the extension; ``".pdf"`` etc. is appended (so ``"fig.v2"``
        becomes ``"fig.v2.pdf"``).
    formats : str or sequence of {"pdf", "png", "svg"}
        Formats to write, in order; repeats are written once.
    dpi : float
        Resolution of PNG files and of raster images inside vector files, in (0, 2400].

    Returns
    -------
    tuple of pathlib.Path
        The files written, in the order of ``formats``.

    Raises
    ------
    TypeError
        If ``fig`` is not a matplotlib Figure.
    ValueError
        If ``path_stem`` is empty or names a folder, or ``formats`` / ``dpi`` is invalid.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib.figure.Figure, got {type(fig).__name__}")
    try:
        stem = Path(os.fspath(path_stem))
    except TypeError:
        raise ValueError(f"path_stem must be a str or path-like, got {path_stem!r}") from None
    if stem.name in ("", ".", "..") or str(path_stem).endswith(("/", os.sep)):
        raise ValueError(f"path_stem must name a file (without extension), got {path_stem!r}")
    if isinstance(formats, str):
        formats = (formats,)
    try:
        fmts = [check_choice("formats", f, FORMATS) for f in formats]
    except TypeError:
        raise ValueError(f"formats must be a sequence of {FORMATS}, got {formats!r}") from None
    if not fmts:
        raise ValueError(f"formats must name at least one of {FORMATS}, got {formats!r}")
    fmts = list(dict.fromkeys(fmts))
    dpi = check_real("dpi", dpi, 0.0, 2400.0, strict_min=True)

    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with _house():
        # One layout pass without output first: artists whose size is known only after a
        # draw (tick labels of inset colourbars) then count in the layout of the real render.
        fig.draw_without_rendering()
        for fmt in fmts:
            final = stem.with_name(f"{stem.name}.{fmt}")
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fig.savefig(fh, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; a figure is for sharing
                os.replace(tmp, final)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            written.append(final)
    return tuple(written)


def colorbar(ax: Axes, mappable: Any = None, label: str | None = None, *,
             attached: bool = True, **kwargs: Any) -> Colorbar:
    """Add a colourbar beside ``ax`` and return it.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes the colourbar belongs to.
    mappable : matplotlib.cm.ScalarMappable, optional
        What the colourbar describes; default the last image (or collection) drawn on ``ax``.
    label : str, optional
        Colourbar label; state the quantity and whether it is per entry or per block.
    attached : bool
        Draw the colourbar in an inset just right of the axes box, so it has exactly the
        height of an image with a fixed aspect ratio (default); False lets constrained layout
        give it the full height of the axes' grid cell.
    **kwargs
        Passed to :meth:`matplotlib.figure.Figure.colorbar` (e.g. ``extend="min"``).

    Returns
    -------
    matplotlib.colorbar.Colorbar

    Raises
    ------
    ValueError
        If no ``mappable`` is given and ``ax`` holds no image or collection.
    """
    _check_axes(ax)
    if mappable is None:
        candidates = list(ax.images) + [c for c in ax.collections if c.get_array() is not None]
        if not candidates:
            raise ValueError("mappable must be given: ax holds no image or colour-mapped "
                             "collection to describe")
        mappable = candidates[-1]
    with _house():
        if attached:
            cax = ax.inset_axes((1.04, 0.0, 0.05, 1.0))
            cb = ax.figure.colorbar(mappable, cax=cax, **kwargs)
        else:
            cb = ax.figure.colorbar(mappable, ax=ax, **kwargs)
        if label is not None:
            cb.set_label(_check_text("label", label))
        cb.outline.set_linewidth(mpl.rcParams["axes.linewidth"])
    return cb


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Figure functions
# --------------------------------------------------------------------------------------------

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
            note = f"fitted slope {_fmt(slope)}"
            if slope_ci is not None:
                note += f"\nCI [{_fmt(slope_ci[0])}, {_fmt(slope_ci[1])}]"
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
