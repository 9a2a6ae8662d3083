"""The house style of rmt's figures: sizes, colours, symbols, rc parameters, and building,
saving and colour bars of figures (see :mod:`rmt.figures`)."""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib import cycler
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure

from rmt.results import atomic_path
from rmt.validation import check_choice, check_int, check_real

from ._checks import _check_axes, _check_text

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
            # rmt.results' one atomic-write helper: the file gets the umask's mode, like
            # any file the user writes (mkstemp's 0600 would hide a figure from the group).
            with atomic_path(final) as tmp, open(tmp, "wb") as fh:
                fig.savefig(fh, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
            written.append(final)
    return tuple(written)


def caption(fig: Figure, text: str, *, fontsize: float = 7.0) -> Any:
    """Put a caption under the axes, inside the figure, and grow the figure to hold it.

    Say there what the marks, bars and lines are (error bars: what, which level, over how
    many seeds), which blocks and which norm: a figure must read without the paper's text.
    The text is wrapped to the figure's width (plain text with Unicode symbols: mathtext
    would be cut by the wrapping); the axes keep their size.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure made by :func:`figure` (constrained layout).
    text : str
        The caption; runs of white space become one space.
    fontsize : float
        In points, in [4, 12].

    Returns
    -------
    matplotlib.text.Text
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib.figure.Figure, got {type(fig).__name__}")
    text = " ".join(_check_text("text", text).split())
    fontsize = check_real("fontsize", fontsize, 4.0, 12.0)
    w, h = fig.get_size_inches()
    # ≈ 0.55 em per glyph in the house sans font; a little slack keeps lines inside the frame.
    lines = textwrap.wrap(text, max(20, int(0.97 * w * 72 / (0.55 * fontsize))))
    pad = 3.0 / 72
    extra = len(lines) * 1.2 * fontsize / 72 + 2 * pad
    fig.set_figheight(h + extra)
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0.0, extra / (h + extra), 1.0, 1.0 - extra / (h + extra)))
    with _house():
        return fig.text(0.012, pad / (h + extra), "\n".join(lines), ha="left", va="bottom",
                        fontsize=fontsize, linespacing=1.2)


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

