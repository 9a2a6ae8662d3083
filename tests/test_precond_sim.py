"""simulations.preconditioners: each part runs, resumes, prints its tables and draws."""

import numpy as np
import pytest

from rmt import results
from simulations import preconditioners as sim


def _run(*argv):
    return sim.main(list(argv))


def test_linear_part_runs_resumes_and_draws(tmp_path, capsys):
    lin = tmp_path / "l.nc"
    args = ("linear", "--C", "3", "--dim", "3", "--n-samples", "8", "--n-seeds", "2",
            "--out", str(lin), "--quiet")
    assert _run(*args) == 0
    first = results.open(lin)["kappa_block"].values.copy()
    assert _run(*args) == 0          # every cell is reused: the same numbers
    np.testing.assert_array_equal(results.open(lin)["kappa_block"].values, first)
    md = tmp_path / "t.md"
    assert _run("figures", "--linear", str(lin), "--hidden", str(tmp_path / "none.nc"),
                "--optim", str(tmp_path / "none.nc"), "--figdir", str(tmp_path),
                "--tables", str(md)) == 0
    out = capsys.readouterr().out
    assert "95% t-CI" in out and "rows of V" in out
    text = md.read_text()
    # one row per (C, approximation), each with the four quantities
    assert text.count("| 3 | ") == 4 and "‖H−P‖_F/‖H‖_F" in text
    assert (tmp_path / "precond_linear.png").exists()


def test_unfinished_sweep_gives_its_finished_rows(tmp_path):
    from rmt.experiments.preconditioners import finished_rows, markdown_tables
    from rmt.sweep import cells_path

    lin = tmp_path / "l.nc"
    assert _run("linear", "--C", "3", "4", "--dim", "3", "--n-samples", "8", "--n-seeds", "2",
                "--out", str(lin), "--quiet") == 0
    full = results.open(lin)
    lin.unlink()                                           # as if stopped in the last row
    (cells_path(lin) / "cell-000000003.npz").unlink()
    ds = finished_rows(lin)
    assert list(ds["n_classes"].values) == [3] and ds.attrs["unfinished"] == [4]
    np.testing.assert_array_equal(ds["kappa_block"].values,
                                  full["kappa_block"].sel(n_classes=[3]).values)
    text = markdown_tables({"linear": lin, "hidden": tmp_path / "x.nc",
                            "optim": tmp_path / "y.nc"})
    assert "| 4 | NOT MEASURED" in text
    assert finished_rows(tmp_path / "none.nc") is None


@pytest.mark.slow
def test_parts_run_resume_and_draw(tmp_path, capsys):
    lin, hid, opt = tmp_path / "l.nc", tmp_path / "h.nc", tmp_path / "o.nc"
    assert _run("linear", "--C", "3", "5", "--dim", "4", "--n-samples", "10", "--n-seeds", "2",
                "--out", str(lin), "--quiet") == 0
    first = results.open(lin)["kappa_block"].values.copy()
    assert _run("linear", "--C", "3", "5", "--dim", "4", "--n-samples", "10", "--n-seeds", "2",
                "--out", str(lin), "--quiet") == 0
    np.testing.assert_array_equal(results.open(lin)["kappa_block"].values, first)
    assert _run("hidden", "--C", "3", "--dim", "4", "--n-samples", "12", "--hidden", "3",
                "--n-seeds", "2", "--out", str(hid), "--quiet") == 0
    assert _run("optim", "--C", "3", "--dim", "3", "--n-samples", "8", "--n-seeds", "2",
                "--budget", "20", "--out", str(opt), "--quiet") == 0
    ds = results.open(opt)
    assert ds["adam_mini_curve"].shape[-1] == 21
    assert _run("figures", "--linear", str(lin), "--hidden", str(hid), "--optim", str(opt),
                "--figdir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "95% t-CI" in out and "steps until the loss gap" in out and "rows of W" in out
    assert "Learning-rate grids" in out
    for stem in ("precond_linear", "precond_hidden", "precond_optim"):
        assert (tmp_path / f"{stem}.png").exists()


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert _run("linear", "--C", "1", "--out", str(tmp_path / "x.nc")) == 2
    assert _run("nonsense") == 2
    assert _run("figures", "--tables", "/proc/nowhere/t.md") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "--C" in err[0]      # one line each, naming the parameter
    assert not (tmp_path / "x.nc").exists()
