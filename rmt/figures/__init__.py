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

Modules: :mod:`~rmt.figures.style` (the house style, :func:`figure`, :func:`save`,
:func:`colorbar`, :func:`caption`), :mod:`~rmt.figures.blocks` (:func:`block_heatmap`, :func:`ratio_vs_c`),
:mod:`~rmt.figures.spectra` (:func:`esd_histogram`, :func:`qq_plot`), :mod:`~rmt.figures.rates`
(:func:`lindeberg_path`, :func:`lindeberg_rate`, :func:`convergence`).
"""

from __future__ import annotations

from .blocks import block_heatmap, ratio_vs_c
from .rates import convergence, lindeberg_path, lindeberg_rate
from .spectra import esd_histogram, qq_plot
from .style import (
    FORMATS,
    LABELS,
    OKABE_ITO,
    PALETTE,
    RC_PARAMS,
    SYMBOLS,
    WIDTHS,
    caption,
    colorbar,
    figure,
    rc_params,
    save,
    style,
)


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
    "caption",
    "colorbar",
    "block_heatmap",
    "ratio_vs_c",
    "esd_histogram",
    "qq_plot",
    "lindeberg_path",
    "lindeberg_rate",
    "convergence",
]
