"""The block-spectra simulation as a sweep: command line, results file, resume, schedulers."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rmt.experiments import block_spectra as exp
from simulations import block_spectra

pytest.importorskip("xarray")
from rmt import results  # noqa: E402
from rmt.sweep import cells_path  # noqa: E402

TINY = ["--dim", "24", "--n-samples", "48", "--trials", "3", "--bins", "10",
        "--law-samples", "4000", "--quiet"]


def _same_numbers(a, b) -> None:
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err, err
    return err


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        block_spectra.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--n-classes", "--scheduler", "--out", "--resume", "--quiet", "--redraw"):
        assert option in out


@pytest.mark.parametrize("argv", [["--dim", "0"], ["--trials", "x"], ["--trials", "1"],
                                  ["--sigma", "-1"], ["--n-classes", "1"], ["--backend", "tpu"],
                                  ["--scheduler", "bogus"]])
def test_argument_errors_are_one_line_exit_2(argv, capsys):
    assert block_spectra.main(argv) == 2
    _one_line_error(capsys)


@pytest.mark.parametrize("extra", [["--out", "r.json"], ["--n-classes", "4", "4"]])
def test_bad_sweeps_are_one_line_exit_2(extra, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert block_spectra.main(TINY + extra) == 2
    _one_line_error(capsys)
    assert not list(tmp_path.iterdir())  # nothing computed, nothing written


def test_unavailable_backend_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    """Issue 18, item 11: --backend cupy without a GPU used to leave an empty OUT.cells folder
    (and the results folder) behind."""
    from rmt import backend as bk

    if bk.cupy_available():
        pytest.skip("a GPU is present: the error path cannot be exercised")
    monkeypatch.chdir(tmp_path)
    assert block_spectra.main(TINY + ["--backend", "cupy"]) == 2
    assert "cupy" in _one_line_error(capsys)
    assert not list(tmp_path.iterdir())


def test_unwritable_out_fails_before_any_work(capsys):
    assert block_spectra.main(TINY + ["--out", "/proc/nope/bs.nc"]) == 2
    assert "cannot be written" in _one_line_error(capsys)


def test_missing_xarray_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray now raises ImportError
    assert block_spectra.main(TINY + ["--out", str(tmp_path / "r.nc")]) == 2
    err = _one_line_error(capsys)
    # the hint works from an index and from a clone (issue 18, item 11)
    assert "xarray" in err and "pip install -e '.[sweep]'" in err
    assert not list(tmp_path.iterdir())


def test_tiny_sweep_results_file_figure_and_resume(tmp_path, capsys):
    stem = tmp_path / "out" / "bs"  # the old --out STEM form: .nc is appended
    argv = TINY + ["--n-classes", "3", "5", "--out", str(stem)]
    assert block_spectra.main(argv) == 0
    path = tmp_path / "out" / "bs.nc"
    ds = results.open(path)

    # layout and provenance
    assert ds.attrs["layout"] == exp.LAYOUT
    assert ds.attrs["n_cells"] == 6 and ds.attrs["cells_computed"] == 6
    assert ds.attrs["seed"] == 0 and ds.attrs["backend"] == "numpy" and ds.attrs["gamma"] == 0.5
    assert ds.attrs["parameters"]["parameters"] == {"n_classes": [3, 5], "sigma": [1.0]}
    assert list(ds["n_classes"].values) == [3, 5] and list(ds["block"].values) == ["diag", "offdiag"]
    assert list(ds["coupling"].values) == ["dependent", "independent"]
    assert ds["counts"].dims == ("n_classes", "sigma", "block", "coupling", "seed", "bin")
    assert ds["counts"].shape == (2, 1, 2, 2, 3, 10)
    assert ds["moments"].shape == (2, 1, 2, 2, 3, 3) and ds["edges"].shape == (2, 1, 2, 11)

    # per-trial statistics are consistent with one another
    counts = ds["counts"].values
    assert np.allclose(counts.sum(-1) / 24 + ds["outside"].values, 1.0)
    widths = np.diff(ds["edges"].values, axis=-1)[:, :, :, None, None, :]
    assert np.allclose((ds["density"].values * widths).sum(-1), 1 - ds["outside"].values)
    assert np.all((ds["ks_law"].values > 0) & (ds["ks_law"].values <= 1))
    assert np.all(ds["lambda_min"].values <= ds["lambda_max"].values)
    m1 = ds["moments"].sel(moment=1).values
    assert np.all((ds["lambda_min"].values <= m1) & (m1 <= ds["lambda_max"].values))

    # summaries over seeds: mean, SE and a t-interval around the mean
    x = ds["ks_law"].values
    assert np.allclose(ds["ks_law_mean"].values, x.mean(-1))
    assert np.allclose(ds["ks_law_se"].values, x.std(-1, ddof=1) / np.sqrt(3))
    half = ds["ks_law_ci_high"].values - ds["ks_law_mean"].values
    assert np.allclose(half, 4.302652729749464 * ds["ks_law_se"].values)  # t_{0.975, 2}
    assert np.allclose(ds["ks_law_mean"] - ds["ks_law_ci_low"], half)
    assert np.all(ds["law_moments"].values[..., 0] > 0) and np.all(ds["law_pdf"].values >= 0)

    for suffix in (".pdf", ".png"):
        assert (tmp_path / "out" / f"bs{suffix}").stat().st_size > 0
    assert not [p for p in (tmp_path / "out").rglob("*") if ".tmp" in p.name]  # atomic writes

    # a rerun computes nothing and gives the same numbers
    assert block_spectra.main(argv + ["--no-figure"]) == 0
    again = results.open(path)
    assert again.attrs["cells_computed"] == 0 and again.attrs["cells_reused"] == 6
    _same_numbers(ds, again)

    # a lost cell (a killed run) is recomputed alone, to the same numbers
    cells = sorted(cells_path(path).glob("cell-*.npz"))
    assert len(cells) == 6
    cells[4].unlink()
    assert block_spectra.main(argv + ["--no-figure"]) == 0
    again = results.open(path)
    assert again.attrs["cells_computed"] == 1 and again.attrs["cells_reused"] == 5
    _same_numbers(ds, again)

    # without the cells, the results file itself is reused (and is already assembled)
    for p in cells_path(path).iterdir():
        p.unlink()
    cells_path(path).rmdir()
    assert block_spectra.main(argv + ["--no-figure"]) == 0
    _same_numbers(ds, results.open(path))

    # the figure is redrawn from the results file alone, with the summary printed
    (tmp_path / "out" / "bs.png").unlink()
    capsys.readouterr()
    assert block_spectra.main(["--redraw", "--out", str(path)]) == 0
    out = capsys.readouterr().out
    assert "C=3" in out and "C=5" in out and "KS to law" in out and "bs.png" in out
    assert (tmp_path / "out" / "bs.png").stat().st_size > 0

    # another sweep into the same out is refused in one line, and --no-resume replaces it
    other = TINY + ["--n-classes", "3", "--out", str(path), "--no-figure"]
    assert block_spectra.main(other) == 2
    assert "different sweep" in _one_line_error(capsys)
    assert block_spectra.main(other + ["--no-resume"]) == 0
    assert results.open(path).sizes["n_classes"] == 1


def test_redraw_needs_a_block_spectra_results_file(tmp_path, capsys):
    assert block_spectra.main(["--redraw", "--out", str(tmp_path / "none.nc")]) == 2
    _one_line_error(capsys)


def test_schedulers_give_identical_numbers(tmp_path):
    argv = TINY + ["--n-classes", "3", "--sigma", "0.5", "2", "--trials", "2", "--no-figure"]
    assert block_spectra.main(argv + ["--out", str(tmp_path / "local.nc")]) == 0
    assert block_spectra.main(argv + ["--out", str(tmp_path / "proc.nc"),
                                      "--scheduler", "processes", "--workers", "1"]) == 0
    local, proc = results.open(tmp_path / "local.nc"), results.open(tmp_path / "proc.nc")
    assert local.attrs["scheduler"] == "local" and proc.attrs["scheduler"] == "processes"
    assert proc.attrs["cells_computed"] == 4
    _same_numbers(local, proc)


def test_figure_reads_as_a_referee_would(tmp_path, monkeypatch):
    """Issue 18, referee on block_spectra: the two couplings no longer overplot (their paired
    difference has its own panel, with its band), the law is compared bin for bin (a bin that
    straddles the support edge is averaged, not read at a point), the x-range ends near the
    law's upper quantile, and every title names the block (diagonal / off-diagonal)."""
    from rmt import figures

    path = tmp_path / "bs.nc"
    assert block_spectra.main(TINY + ["--n-classes", "4", "--out", str(path), "--no-figure"]) == 0
    ds = results.open(path)
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, stem, fmts=(): drawn.append(fig) or ())
    block_spectra.make_figure(ds, tmp_path / "bs")
    axes = drawn[0].axes
    assert len(axes) == 4                                    # density and difference per block
    titles = [ax.get_title() for ax in axes[:2]]
    assert titles[0].startswith("diagonal block") and titles[1].startswith("off-diagonal block")
    for col, b in enumerate(exp.BLOCKS):
        rb = ds.sel(n_classes=4, sigma=1.0, block=b)
        law, cdf = block_spectra._law_bins(rb["law_x"].values, rb["law_pdf"].values,
                                           rb["edges"].values)
        # the law integrates to 1 over its grid (trapezoid rule, 600 points: 1e-3)
        assert abs(cdf[-1] - 1.0) < 1e-3
        top, bottom = axes[col], axes[2 + col]
        # the panel's dashed stairs are the bin averages (float32 path vertices)
        dashed = [p for p in top.patches if p.get_linestyle() == "--"]
        assert len(dashed) == 1
        ys = dashed[0].get_path().vertices[:, 1]
        assert np.allclose(np.unique(ys.round(6)), np.unique(np.r_[0.0, law].round(6)))
        assert any(abs(ln.get_ydata()[0]) == 0.0 for ln in bottom.lines)   # the zero line
        x_hi = float(np.interp(block_spectra.X_QUANTILE, cdf / cdf[-1], rb["law_x"].values))
        assert top.get_xlim()[1] <= 1.05 * x_hi + 1e-12
    text = " ".join(" ".join(t.get_text().split()) for t in drawn[0].texts)
    assert "over 3 seeds" in text and "95% Student-t band (2 dof)" in text
