"""rmt.figures: every figure renders, fonts are embedded, input is checked, saves are atomic."""

from __future__ import annotations

import os
import struct

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.axes import Axes

from rmt import figures as F

# PNGs in most tests are written at a low resolution: what is tested is that they render, and
# rendering at 300 dpi costs time on the shared CI cores. One test checks the 300 dpi default.
FAST_DPI = 60


# --------------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------------

def _mp_pdf(x, g):
    a, b = (1 - np.sqrt(g)) ** 2, (1 + np.sqrt(g)) ** 2
    y = np.zeros_like(x)
    m = (x > a) & (x < b)
    y[m] = np.sqrt((b - x[m]) * (x[m] - a)) / (2 * np.pi * g * x[m])
    return y


def _ce_hessian(C=4, d=6, N=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    V = rng.standard_normal((C, d)) / np.sqrt(d)
    Z = X @ V.T
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    H = np.zeros((C * d, C * d))
    for i in range(C):
        for j in range(C):
            w = (i == j) * P[:, i] - P[:, i] * P[:, j]
            H[i * d:(i + 1) * d, j * d:(j + 1) * d] = (X * w[:, None]).T @ X / N
    return H


def _mp_eigenvalues(d=200, N=400, seed=1):
    X = np.random.default_rng(seed).standard_normal((N, d))
    return np.linalg.eigvalsh(X.T @ X / N)


def _draw_heatmap(ax):
    return F.block_heatmap(ax, _ce_hessian(), 4)


def _draw_heatmap_norms(ax):
    return F.block_heatmap(ax, _ce_hessian(), 4, what="block_norms")


def _draw_ratio(ax):
    C = np.array([10.0, 20, 50, 100, 200])
    r = np.array([1.28, 1.29, 1.30, 1.33, 1.37]) / C
    pc = np.geomspace(10, 200, 30)
    return F.ratio_vs_c(ax, C, r, 0.97 * r, 1.03 * r, pc, (1.41 - 1.3 / np.sqrt(pc)) / pc,
                        limit=1.41, kind="per-block", fitted_slope=(-0.97, -0.99, -0.95))


def _draw_ratio_aggregate_rescaled(ax):
    C = np.array([10.0, 20, 50, 100])
    r = 1 / np.sqrt(C - 1)
    return F.ratio_vs_c(ax, C, r, 0.98 * r, 1.02 * r, limit=1.0, kind="aggregate",
                        fitted_slope=-0.52, rescale=True)


def _draw_esd(ax):
    ev = _mp_eigenvalues()
    x = np.linspace(0, 3.2, 300)
    return F.esd_histogram(ax, ev, [("Marchenko–Pastur", x, _mp_pdf(x, 0.5)),
                                    ("weighted MP", x, _mp_pdf(x, 0.52))])


def _draw_esd_atom(ax):
    ev = np.concatenate([_mp_eigenvalues(d=100, N=200), np.zeros(100)])
    x = np.linspace(0.01, 6, 300)
    return F.esd_histogram(ax, ev, [("MP, $\\gamma = 2$", x, _mp_pdf(x, 2.0))], atom=(0.0, 0.5))


def _mp_quantile(g=0.5):
    grid = np.linspace((1 - np.sqrt(g)) ** 2, (1 + np.sqrt(g)) ** 2, 2001)
    cdf = np.cumsum(_mp_pdf(grid, g))
    cdf /= cdf[-1]
    return lambda p: np.interp(p, cdf, grid)


def _draw_qq(ax):
    return F.qq_plot(ax, _mp_eigenvalues(), _mp_quantile(), "Marchenko–Pastur")


def _draw_lindeberg_path(ax):
    t = np.linspace(0, 1, 11)
    for d, s in ((100, 0.03), (400, 0.015)):
        y = s * np.sin(np.pi * t)
        F.lindeberg_path(ax, t, y, y - 0.3 * s, y + 0.3 * s, label=f"$d = {d}$")
    return ax


def _draw_lindeberg_rate(ax):
    d = np.array([100.0, 200, 400, 800, 1600])
    y = 0.3 * d ** -0.5
    return F.lindeberg_rate(ax, d, y, (0.9 * y, 1.1 * y), -0.5, (-0.56, -0.44))


def _draw_convergence(ax):
    n = np.array([50.0, 100, 200, 400, 800])
    est = 1.41 - 1.3 / np.sqrt(n)
    return F.convergence(ax, n, est, est - 0.02, est + 0.02, 1.41, "C",
                         ylabel=r"$C\,\|H_{ij}\|_F/\|H_{ii}\|_F$ (dimensionless)")


DRAWERS = {
    "block_heatmap": _draw_heatmap,
    "block_heatmap_norms": _draw_heatmap_norms,
    "ratio_vs_c": _draw_ratio,
    "ratio_vs_c_aggregate_rescaled": _draw_ratio_aggregate_rescaled,
    "esd_histogram": _draw_esd,
    "esd_histogram_atom": _draw_esd_atom,
    "qq_plot": _draw_qq,
    "lindeberg_path": _draw_lindeberg_path,
    "lindeberg_rate": _draw_lindeberg_rate,
    "convergence": _draw_convergence,
}


def _assert_fonts_embedded_type42(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF")
    assert b"/Subtype /Type3" not in pdf, "a Type 3 font was written; journals reject these"
    assert b"/FontFile2" in pdf, "no embedded TrueType font program"


def _assert_nothing_clipped(fig) -> None:
    """Everything drawn lies inside the figure, and every legend inside its axes (after save)."""
    renderer = fig._get_renderer()
    tight = fig.get_tightbbox(renderer)  # inches
    w, h = fig.get_size_inches()
    tol = 1.5 / 72  # 1.5 pt
    assert tight.x0 >= -tol and tight.y0 >= -tol, (tight, (w, h))
    assert tight.x1 <= w + tol and tight.y1 <= h + tol, (tight, (w, h))
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        lb, abox = leg.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert (lb.x0 >= abox.x0 - 1 and lb.x1 <= abox.x1 + 1
                and lb.y0 >= abox.y0 - 1 and lb.y1 <= abox.y1 + 1), "legend outside its axes"


# --------------------------------------------------------------------------------------------
# House style
# --------------------------------------------------------------------------------------------

def test_rc_params_are_for_print():
    rc = F.rc_params()
    assert rc["pdf.fonttype"] == 42 and rc["ps.fonttype"] == 42
    assert rc["savefig.dpi"] == 300
    for key in ("font.size", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
                "legend.fontsize"):
        assert 8 <= rc[key] <= 9, key
    assert tuple(rc["axes.prop_cycle"].by_key()["color"]) == F.PALETTE
    assert set(F.PALETTE) <= set(F.OKABE_ITO.values())
    assert F.WIDTHS == {"single": 3.35, "double": 7.0}
    rc["pdf.fonttype"] = 3
    assert F.RC_PARAMS["pdf.fonttype"] == 42  # rc_params returns a copy


def test_style_restores_rcparams_and_takes_overrides():
    before = dict(mpl.rcParams)
    with F.style(rc={"font.size": 9}) as rc:
        assert mpl.rcParams["font.size"] == 9 and rc["font.size"] == 9
        assert mpl.rcParams["pdf.fonttype"] == 42
    with F.style(family="serif"):
        assert mpl.rcParams["font.family"] == ["serif"]
    assert dict(mpl.rcParams) == before


@pytest.mark.parametrize("kwargs, name", [
    ({"family": "comic"}, "family"),
    ({"rc": {"no.such.param": 1}}, "rc"),
    ({"rc": {"font.size": "huge"}}, "rc"),
    ({"rc": [("font.size", 9)]}, "rc"),
])
def test_style_rejects_bad_options(kwargs, name):
    with pytest.raises(ValueError, match=name):
        with F.style(**kwargs):
            pass


def test_figure_sizes():
    fig, ax = F.figure("single", aspect=0.5)
    assert isinstance(ax, Axes)
    assert tuple(fig.get_size_inches()) == pytest.approx((3.35, 1.675))
    fig, axes = F.figure("double", nrows=1, ncols=3, height=2.0)
    assert axes.shape == (3,)
    assert tuple(fig.get_size_inches()) == pytest.approx((7.0, 2.0))
    fig, _ = F.figure(5.0)
    assert fig.get_size_inches()[0] == pytest.approx(5.0)


@pytest.mark.parametrize("kwargs, name", [
    ({"width": "triple"}, "width"),
    ({"width": -1.0}, "width"),
    ({"aspect": 0.0}, "aspect"),
    ({"height": float("nan")}, "height"),
    ({"nrows": 0}, "nrows"),
])
def test_figure_rejects_bad_sizes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        F.figure(**kwargs)


def test_save_writes_all_formats_atomically(tmp_path):
    fig, ax = F.figure("single")
    _draw_convergence(ax)
    stem = tmp_path / "sub" / "fig.v2"
    paths = F.save(fig, stem, formats=("pdf", "png", "svg", "pdf"))
    assert [p.name for p in paths] == ["fig.v2.pdf", "fig.v2.png", "fig.v2.svg"]
    # Nothing but the figures is left in the folder: no temporary files.
    assert sorted(os.listdir(stem.parent)) == ["fig.v2.pdf", "fig.v2.png", "fig.v2.svg"]
    _assert_fonts_embedded_type42(paths[0].read_bytes())
    png = paths[1].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width_px, height_px = struct.unpack(">II", png[16:24])
    assert width_px == round(3.35 * 300)  # the paper width at the default 300 dpi
    assert b"<svg" in paths[2].read_bytes()[:2000]
    assert oct(paths[0].stat().st_mode & 0o777) == oct(0o644)
    # Reproducible: no creation date, so a second save gives the same PDF bytes.
    again = F.save(fig, stem, formats="pdf")
    assert again[0].read_bytes() == paths[0].read_bytes()


def test_save_failure_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    fig, ax = F.figure("single")
    _draw_convergence(ax)
    (old,) = F.save(fig, tmp_path / "fig", formats="png", dpi=FAST_DPI)
    content = old.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        F.save(fig, tmp_path / "fig", formats="png")
    assert os.listdir(tmp_path) == ["fig.png"]
    assert old.read_bytes() == content


@pytest.mark.parametrize("kwargs, name", [
    ({"formats": ("pdf", "jpeg")}, "formats"),
    ({"formats": ()}, "formats"),
    ({"dpi": 0}, "dpi"),
])
def test_save_rejects_bad_options(tmp_path, kwargs, name):
    fig, _ = F.figure()
    with pytest.raises(ValueError, match=name):
        F.save(fig, tmp_path / "fig", **kwargs)
    assert os.listdir(tmp_path) == []


def test_save_rejects_bad_targets(tmp_path):
    fig, _ = F.figure()
    with pytest.raises(TypeError, match="fig"):
        F.save("not a figure", tmp_path / "fig")
    with pytest.raises(ValueError, match="path_stem"):
        F.save(fig, str(tmp_path) + os.sep)


# --------------------------------------------------------------------------------------------
# Every figure function renders to PDF (Type 42 fonts) and PNG, within the figure
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(DRAWERS))
def test_figure_function_renders(tmp_path, name):
    fig, ax = F.figure("single", aspect=0.8)
    out = DRAWERS[name](ax)
    assert out is ax
    assert ax.get_xlabel() and ax.get_ylabel()
    pdf, png = F.save(fig, tmp_path / name, formats=("pdf", "png"), dpi=FAST_DPI)
    _assert_fonts_embedded_type42(pdf.read_bytes())
    assert png.stat().st_size > 1000
    _assert_nothing_clipped(fig)
    assert sorted(os.listdir(tmp_path)) == sorted([pdf.name, png.name])


def test_figure_functions_in_a_double_column_grid(tmp_path):
    with F.style(family="serif"):
        fig, axes = F.figure("double", aspect=0.32, ncols=3)
        _draw_heatmap(axes[0])
        _draw_ratio(axes[1])
        _draw_qq(axes[2])
        (pdf,) = F.save(fig, tmp_path / "grid", formats="pdf")
    _assert_fonts_embedded_type42(pdf.read_bytes())


# --------------------------------------------------------------------------------------------
# What the figures show
# --------------------------------------------------------------------------------------------

def test_block_heatmap_block_norms_and_labels():
    H = _ce_hessian(C=3, d=4)
    fig, ax = F.figure()
    F.block_heatmap(ax, H, 3, what="block_norms")
    shown = np.asarray(ax.images[0].get_array())
    expected = np.array([[np.linalg.norm(H[4 * i:4 * i + 4, 4 * j:4 * j + 4]) for j in range(3)]
                         for i in range(3)])
    np.testing.assert_allclose(shown, expected, rtol=1e-12)
    cbar_label = ax.child_axes[0].get_ylabel()
    assert "block norms" in cbar_label and r"\|H_{ij}\|_F" in cbar_label
    # A C × C array is taken as block norms already; entries of the full matrix otherwise.
    fig, ax = F.figure()
    F.block_heatmap(ax, expected, 3, cbar=False)
    assert "block norms" in ax.get_title()
    fig, ax = F.figure()
    F.block_heatmap(ax, H, 3)
    assert "entries" in ax.child_axes[0].get_ylabel()
    assert len(ax.lines) == 4  # two horizontal and two vertical block boundaries


def test_block_heatmap_zeros_and_large_matrices():
    # MSE Hessian: exactly block-diagonal, zeros off the diagonal blocks are drawn in the
    # lowest colour (not dropped), and a big matrix is pooled into tiles.
    block = np.eye(3) + 0.1
    H = np.kron(np.eye(4), block)
    fig, ax = F.figure()
    F.block_heatmap(ax, H, 4)
    assert np.ma.count_masked(ax.images[0].get_array()) == np.count_nonzero(H == 0)
    big = np.kron(np.eye(2), np.ones((40, 40)))
    fig, ax = F.figure()
    F.block_heatmap(ax, big, 2, max_side=16)
    assert ax.images[0].get_array().shape == (16, 16)
    assert r"5\times5" in ax.child_axes[0].get_ylabel()


def test_ratio_vs_c_labels_say_which_ratio():
    fig, ax = F.figure()
    _draw_ratio(ax)
    assert "per-block" in ax.get_ylabel() and r"\|H_{ii}\|_F" in ax.get_ylabel()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("limit" in t for t in texts) and any("prediction" in t for t in texts)
    fig, ax = F.figure()
    _draw_ratio_aggregate_rescaled(ax)
    assert "aggregate" in ax.get_ylabel() and ax.get_yscale() == "linear"
    assert "slope" in ax.get_legend().get_title().get_text()


def test_esd_histogram_is_a_density_and_reports_the_atom():
    ev = _mp_eigenvalues()
    fig, ax = F.figure()
    F.esd_histogram(ax, ev)
    data = ax.patches[0].get_data()
    heights, edges = data.values, data.edges
    assert np.sum(heights * np.diff(edges)) == pytest.approx(1.0)
    ev = np.concatenate([_mp_eigenvalues(d=100, N=200), 1e-15 * np.ones(100)])
    fig, ax = F.figure()
    F.esd_histogram(ax, ev, atom=(0.0, 0.5))
    data = ax.patches[0].get_data()
    heights, edges = data.values, data.edges
    # The atom is taken out; the bars keep the scale of the whole spectrum (area 1 - mass).
    assert np.sum(heights * np.diff(edges)) == pytest.approx(0.5)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("atom" in t and "0.50" in t for t in texts)


def test_qq_plot_pairs_order_statistics_with_quantiles():
    ev = _mp_eigenvalues()
    q = _mp_quantile()
    fig, ax = F.figure()
    F.qq_plot(ax, ev[::-1], q, "MP")
    x, y = ax.lines[1].get_data()
    n = ev.size
    np.testing.assert_allclose(y, np.sort(ev))
    np.testing.assert_allclose(x, q((np.arange(1, n + 1) - 0.5) / n))
    assert ax.get_xlabel() == "quantile of MP"
    fig, ax = F.figure()
    F.qq_plot(ax, np.arange(5000.0), np.arange(5000.0), "uniform", max_points=100)
    assert ax.lines[1].get_xdata().size == 100


def test_lindeberg_rate_draws_fit_and_reference_lines():
    fig, ax = F.figure()
    _draw_lindeberg_rate(ax)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("-0.50" in t for t in texts) and any("-1/2" in t for t in texts)
    # The fitted line has the stated exponent.
    fit = ax.lines[-2]
    x, y = fit.get_data()
    assert np.polyfit(np.log(x), np.log(y), 1)[0] == pytest.approx(-0.5)


def test_inputs_may_be_plain_lists():
    fig, ax = F.figure()
    F.convergence(ax, [1, 2, 4], [0.5, 0.7, 0.8], prediction=[0.6, 0.7, 0.8], xlabel="d")
    assert ax.get_xlabel() == F.LABELS["d"]


# --------------------------------------------------------------------------------------------
# Bad input: ValueError naming the parameter
# --------------------------------------------------------------------------------------------

C5 = np.array([10.0, 20, 50, 100, 200])
R5 = 1.3 / C5
EV = np.linspace(0.1, 3.0, 50)
T5 = np.linspace(0, 1, 5)

BAD = [
    # block_heatmap
    (F.block_heatmap, (np.ones((6, 5)), 2), {}, "matrix_or_block_norms"),
    (F.block_heatmap, (np.ones((6, 6)), 4), {}, "n_blocks"),
    (F.block_heatmap, (np.zeros((6, 6)), 2), {}, "matrix_or_block_norms"),
    (F.block_heatmap, (np.full((4, 4), np.nan), 2), {}, "matrix_or_block_norms"),
    (F.block_heatmap, (np.ones((4, 4)), 2), {"what": "diagonal"}, "what"),
    (F.block_heatmap, (np.ones((4, 4)), 2), {"vmin": 2.0, "vmax": 1.0}, "vmin"),
    (F.block_heatmap, (np.ones((4, 4)), 2), {"cmap": "no-such-map"}, "cmap"),
    # ratio_vs_c
    (F.ratio_vs_c, (C5, R5[:4]), {}, "ratio"),
    (F.ratio_vs_c, (C5, -R5), {}, "ratio"),
    (F.ratio_vs_c, (C5 - 10, R5), {}, "C"),
    (F.ratio_vs_c, (C5, R5, 0 * R5, 2 * R5), {}, "ci_low"),
    (F.ratio_vs_c, (C5, R5, 1.1 * R5, 2 * R5), {}, "ci_low"),
    (F.ratio_vs_c, (C5, R5, 0.5 * R5, 0.9 * R5), {}, "ci_high"),
    (F.ratio_vs_c, (C5, R5, 0.5 * R5), {}, "ci_high"),
    (F.ratio_vs_c, (C5, R5), {"prediction_C": C5}, "prediction"),
    (F.ratio_vs_c, (C5, R5), {"prediction_C": C5, "prediction": R5[:3]}, "prediction"),
    (F.ratio_vs_c, (C5, R5), {"limit": -1.0}, "limit"),
    (F.ratio_vs_c, (C5, R5), {"limit": lambda c: -c}, "limit"),
    (F.ratio_vs_c, (C5, R5), {"kind": "total"}, "kind"),
    (F.ratio_vs_c, (C5, R5), {"fitted_slope": (-1.0, -0.9, -0.8)}, "fitted_slope"),
    (F.ratio_vs_c, (C5, R5), {"fitted_slope": "steep"}, "fitted_slope"),
    # esd_histogram
    (F.esd_histogram, (EV[:1],), {}, "eigenvalues"),
    (F.esd_histogram, (np.ones((3, 3)),), {}, "eigenvalues"),
    (F.esd_histogram, (EV + 1j,), {}, "eigenvalues"),
    (F.esd_histogram, (EV, [("MP", EV, EV[:-1])]), {}, "laws"),
    (F.esd_histogram, (EV, [("MP", EV, -EV)]), {}, "laws"),
    (F.esd_histogram, (EV, [("MP", EV)]), {}, "laws"),
    (F.esd_histogram, (EV,), {"atom": (0.0, 1.5)}, "atom"),
    (F.esd_histogram, (EV,), {"bins": -3}, "bins"),
    (F.esd_histogram, (EV,), {"atom_tol": 1e-9}, "atom_tol"),
    # qq_plot
    (F.qq_plot, (EV, EV[:-1], "MP"), {}, "quantile_function_or_values"),
    (F.qq_plot, (EV, EV[::-1], "MP"), {}, "quantile_function_or_values"),
    (F.qq_plot, (EV, lambda p: p[:3], "MP"), {}, "quantile_function_or_values"),
    (F.qq_plot, (EV, lambda p: np.full_like(p, np.nan), "MP"), {}, "quantile_function_or_values"),
    (F.qq_plot, (EV, EV, 3), {}, "label"),
    # lindeberg_path
    (F.lindeberg_path, (T5 * 2, T5), {}, "t"),
    (F.lindeberg_path, (T5[::-1], T5), {}, "t"),
    (F.lindeberg_path, (T5, T5[:4]), {}, "diff"),
    (F.lindeberg_path, (T5, T5, T5 + 1, T5 + 2), {}, "ci_low"),
    # lindeberg_rate
    (F.lindeberg_rate, (C5, R5 - 0.1), {}, "sup_diff"),
    (F.lindeberg_rate, (-C5, R5), {}, "d"),
    (F.lindeberg_rate, (C5, R5, (0.5 * R5, 0.9 * R5)), {}, "ci"),
    (F.lindeberg_rate, (C5, R5, 0.5 * R5), {}, "ci"),
    (F.lindeberg_rate, (C5, R5), {"ci_exponent": (-1, 0)}, "ci_exponent"),
    (F.lindeberg_rate, (C5, R5), {"fitted_exponent": -0.5, "ci_exponent": (0, 1)},
     "ci_exponent"),
    # convergence
    (F.convergence, (C5, R5[:4]), {}, "estimate"),
    (F.convergence, (C5 - 50, R5), {}, "n"),
    (F.convergence, (C5, -R5), {"logy": True}, "estimate"),
    (F.convergence, (C5, R5), {"prediction": R5[:2]}, "prediction"),
    (F.convergence, (C5, R5), {"prediction": float("inf")}, "prediction"),
    (F.convergence, (C5, R5, R5 * 2, R5 * 3), {}, "ci_low"),
]


@pytest.mark.parametrize("func, args, kwargs, name", BAD,
                         ids=[f"{f.__name__}-{n}-{k}" for k, (f, _, _, n) in enumerate(BAD)])
def test_bad_input_raises_value_error_naming_the_parameter(func, args, kwargs, name):
    fig, ax = F.figure()
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        func(ax, *args, **kwargs)


def test_non_axes_is_a_type_error():
    with pytest.raises(TypeError, match="ax"):
        F.convergence("axes", C5, R5)
    with pytest.raises(ValueError, match="mappable"):
        F.colorbar(F.figure()[1])
