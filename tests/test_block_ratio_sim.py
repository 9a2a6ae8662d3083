"""Tests of simulations.block_ratio, simulations.heatmap and benchmarks/bench_autodiff.py.

The simulation tests run the CLIs on tiny grids (seconds) and check the files and their content.
The block_ratio claims (rmt.catalog.block_ratio) are tested with the others in
tests/test_claims_catalog.py.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xarray")

from rmt import results  # noqa: E402
from rmt.experiments import block_ratio as exp  # noqa: E402
from rmt.sweep import budget  # noqa: E402
from simulations import block_ratio as sim  # noqa: E402
from simulations import heatmap  # noqa: E402

TINY = ["--C", "3", "6", "12", "--sigma", "1", "--gamma", "0.5", "--dim", "6", "--seeds", "2",
        "--pairs", "8", "--fit-min-c", "3"]


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as e:
        sim.main(["--help"])
    assert e.value.code == 0
    assert "block ratio" in capsys.readouterr().out.lower()


@pytest.mark.parametrize("argv,word", [(["--sigma", "-1"], "--sigma"), (["--sigma", "5"], "--sigma"),
                                       (["--seeds", "1"], "--seeds"), (["--C", "1"], "--C"),
                                       (["--model", "deep"], "--model")])
def test_bad_arguments_one_line_exit_2(argv, word, capsys, tmp_path):
    assert sim.main(argv + ["--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err.strip()
    assert word in err and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_sigma_above_range_names_the_range(capsys, tmp_path):
    assert sim.main(["--sigma", "5", "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err.strip()
    assert "argument --sigma: must be a finite real number > 0.0, <= 3.0, got 5.0" in err


def test_linear_sweep_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "lin.nc"
    assert sim.main(TINY + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "estimated seconds per C" in text and "slope per-block RMS" in text
    for suffix in (".nc", ".pdf", ".png"):
        assert out.with_suffix(suffix).exists()
    ds = results.open(out)
    assert ds.attrs["layout"] == exp.LAYOUT["linear"]
    assert list(ds["C"].values) == [3, 6, 12]
    m = ds["c_rms_per_block_mean"].values[:, 0, 0]
    p = ds["prediction_c_per_block"].values[:, 0, 0]
    assert np.all(np.isfinite(m)) and np.all(np.isfinite(p))
    # per cell: c_rms_per_block = C·aggregate/√(C−1) (exact identity, rounding only)
    C = ds["C"].values[:, None, None, None]
    np.testing.assert_allclose(ds["c_rms_per_block"].values,
                               C * ds["aggregate"].values / np.sqrt(C - 1), rtol=1e-14)
    fit = ds.attrs["fits"]["sigma=1,gamma=0.5"]["per_block_rms"]
    assert fit["ci"][0] <= fit["slope"] <= fit["ci"][1]
    # redraw from the file alone
    assert sim.main(["--redraw", "--out", str(out), "--quiet"]) == 0


def test_hidden_sweep(tmp_path):
    out = tmp_path / "hid.nc"
    argv = ["--model", "hidden", "--C", "3", "6", "12", "--dim", "6", "--hidden", "3",
            "--seeds", "2", "--pairs", "4", "--fit-min-c", "3", "--prediction-features", "0",
            "--out", str(out), "--quiet"]
    assert sim.main(argv) == 0
    ds = results.open(out)
    assert ds.attrs["layout"] == exp.LAYOUT["hidden"]
    assert set(ds["loss"].values) == {"ce", "mse"}
    # MSE V-blocks are exactly block-diagonal (A = I): every ratio exactly 0
    assert np.all(ds["v_aggregate"].sel(loss="mse").values == 0.0)
    assert ds.attrs["fits"]["sigma=1,gamma=0.5,loss=mse"]["v"]["exactly_zero"]
    assert out.with_suffix(".png").exists()
    assert "prediction_w_finite_sigma" not in ds          # --prediction-features 0 skips it


def test_hidden_sweep_carries_the_finite_sigma_prediction(tmp_path, capsys):
    """The CE W-blocks sit ~1.6x above the uniform-softmax line at sigma = 1 (issue 18, referee
    on block_ratio_hidden): the results file carries the prediction at the run's sigma, the
    summary prints it and the figure draws it."""
    out = tmp_path / "hid.nc"
    argv = ["--model", "hidden", "--C", "10", "20", "--dim", "100", "--hidden", "8", "--seeds", "2",
            "--pairs", "0", "--fit-min-c", "3", "--prediction-features", "1024", "--out", str(out)]
    assert sim.main(argv) == 0
    text = capsys.readouterr().out
    assert "finite-sigma prediction ± quadrature SE" in text
    ds = results.open(out)
    fs = ds["prediction_w_finite_sigma"].sel(sigma=1.0, gamma=0.5)
    se = ds["prediction_w_finite_sigma_se"].sel(sigma=1.0, gamma=0.5)
    assert np.all(np.isnan(fs.sel(loss="mse").values))      # MSE: rho/sqrt(C+2) at every sigma
    ce, ce_se = fs.sel(loss="ce").values, se.sel(loss="ce").values
    uniform = ds["prediction_w_per_block"].sel(gamma=0.5, loss="ce").values
    # above the sigma -> 0 formula by more than 6 quadrature SEs (the softmax at sigma = 1 is
    # not uniform); 6 SE: a two-sided 1e-8 tail, so the check never fails by chance
    assert np.all(ce - uniform > 6 * ce_se) and np.all(ce_se < 0.02 * ce)
    assert out.with_suffix(".png").exists()


def test_prediction_features_checked_before_any_work(tmp_path, capsys):
    out = tmp_path / "hid.nc"
    assert sim.main(["--model", "hidden", "--prediction-features", "100", "--out", str(out)]) == 2
    assert "--prediction-features must be 0 (skip) or an integer >= 1024, got 100" in \
        capsys.readouterr().err
    assert not out.exists() and not Path(str(out) + ".cells").exists()


def test_scale_check_bounded_memory(capsys):
    argv = ["--scale-check", "--N", "48", "--d", "8", "--C", "300", "--memory-limit", "200000"]
    assert sim.main(argv) == 0
    text = capsys.readouterr().out
    assert "extrapolation to N=8192, d=1024, C=128000" in text
    assert "aggregate" in text


def test_cost_model_grows_with_every_size():
    f = budget.block_ratio_flops("linear", 100, 200, 50, 64)
    assert budget.block_ratio_flops("linear", 200, 200, 50, 64) > f
    assert budget.block_ratio_flops("linear", 100, 400, 50, 64) > f
    assert budget.block_ratio_flops("hidden", 100, 200, 50, 64, 8) > 0
    # the estimate sums every cell: seconds per C over σ, γ and seeds, and a total
    from rmt.sweep import Grid

    grid = Grid({"C": [10, 100], "sigma": [0.5, 1.0], "gamma": [0.5, 2.0]}, n_seeds=3,
                fixed={"dim": 20, "pairs": 8})
    per, total = budget.estimate_seconds(grid, exp.cell_flops("linear"), 1e9, by="C")
    assert list(per) == [10, 100] and per[100] > per[10]
    assert total == pytest.approx(sum(per.values()))


def test_default_grid_is_set_by_the_arguments_alone():
    """Issue 18, item 2: the default grid reached C = 10^5 only by a start-up timing; now it is
    a function of the arguments (backend, model, --c-max), whatever the machine's speed."""
    assert exp.c_grid() == [C for C in exp.C_GRID if C <= 100000]
    assert exp.c_grid("numpy", "hidden")[-1] == 50000
    assert exp.c_grid("cupy", "linear")[-1] == 128000
    assert exp.c_grid(c_max=1000)[-1] == 1000
    with pytest.raises(ValueError, match="c_max must be an integer >= 2"):
        exp.c_grid(c_max=1)


LOADED = ["--sigma", "1", "--gamma", "0.5", "--dim", "4", "--seeds", "2", "--pairs", "0",
          "--no-figure"]


def test_two_runs_under_different_load_are_one_sweep(tmp_path, monkeypatch, capsys):
    """The default grid at a tiny size, run twice with calibrations 10^6 times apart (a fast
    idle machine, a slow loaded one): the same grid, and the second run reuses every cell."""
    out = tmp_path / "load.nc"
    monkeypatch.setattr(budget, "calibrate_rate", lambda *a, **k: 1e12)
    assert sim.main(LOADED + ["--out", str(out)]) == 0
    first = results.open(out)
    monkeypatch.setattr(budget, "calibrate_rate", lambda *a, **k: 1e6)
    assert sim.main(LOADED + ["--out", str(out), "--budget", "1"]) == 0
    assert "warning: the estimated" in capsys.readouterr().out
    again = results.open(out)
    assert list(again["C"].values) == list(first["C"].values) == exp.c_grid()
    assert again.attrs["cells_reused"] == again.attrs["n_cells"]


def test_sigkilled_run_resumes_under_another_load(tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import sys
    import time

    from rmt.sweep import cells_path

    out = tmp_path / "kill.nc"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "simulations.block_ratio", *LOADED, "--quiet",
                             "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(cells_path(out).glob("cell-*.npz"))) < 2 and proc.poll() is None:
        assert time.monotonic() < deadline, "the sweep stored no cells in 120 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = len(list(cells_path(out).glob("cell-*.npz")))
    monkeypatch.setattr(budget, "calibrate_rate", lambda *a, **k: 1e5)   # a very loaded machine
    assert sim.main(LOADED + ["--out", str(out), "--quiet"]) == 0
    ds = results.open(out)
    assert ds.attrs["cells_reused"] == stored >= 2 and ds.attrs["n_cells"] == 30


def test_hidden_model_after_the_linear_one_keeps_both(tmp_path, monkeypatch):
    """Issue 18, item 1: the README's two commands in its order, in one folder, with the
    default outputs: two results files, neither refused nor overwritten."""
    monkeypatch.chdir(tmp_path)
    tiny = ["--C", "3", "6", "--dim", "4", "--seeds", "2", "--pairs", "4", "--hidden", "3",
            "--fit-min-c", "3", "--prediction-features", "0", "--no-figure", "--quiet"]
    assert sim.main(tiny) == 0
    assert sim.main(tiny + ["--model", "hidden"]) == 0
    assert results.open("results/block_ratio.nc").attrs["layout"] == exp.LAYOUT["linear"]
    assert results.open("results/block_ratio_hidden.nc").attrs["layout"] == exp.LAYOUT["hidden"]


def test_unwritable_out_fails_before_any_work(capsys):
    assert sim.main(["--out", "/proc/nope/br.nc"]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_heatmap_cli(tmp_path, capsys):
    stem = tmp_path / "hm"
    argv = ["--C", "2", "3", "--dim", "3", "--hidden", "3", "--hidden-dim", "4",
            "--n-samples", "8", "--out", str(stem)]
    assert heatmap.main(argv) == 0
    assert stem.with_suffix(".pdf").exists() and stem.with_suffix(".png").exists()
    text = capsys.readouterr().out
    assert "linear, C=2: R_pb=1" in text      # C = 2: H_12 = −H_11 exactly


def test_heatmap_large_panel_keeps_its_blocks_and_states_its_normalisation(tmp_path, monkeypatch):
    """Issue 18, referee on heatmap: a C d × C d matrix wider than the panel's pixels is shown
    by its leading blocks with their boundaries (not subsampled), the title says so, the
    caption says each panel has its own normalisation, and d is named once per row."""
    from rmt import figures

    drawn = {}
    real_save = figures.save
    monkeypatch.setattr(figures, "save", lambda fig, stem: drawn.setdefault("fig", fig)
                        and real_save(fig, stem))
    argv = ["--C", "2", "30", "--dim", "8", "--hidden", "0", "--n-samples", "16",
            "--out", str(tmp_path / "hm")]
    assert heatmap.main(argv) == 0
    ax = drawn["fig"].axes[1]
    b = heatmap.MAX_SHOWN // 8                                # blocks that fit: 20 of 30
    assert ax.images[0].get_array().shape == (8 * b, 8 * b)
    assert rf"first ${b}\times{b}$ of $30\times30$ blocks" in ax.get_title()
    assert "$d=8$" in ax.get_title() and "$d=" not in drawn["fig"]._suptitle.get_text()
    text = " ".join(" ".join(t.get_text().split()) for t in drawn["fig"].texts)
    assert "divided by the largest |H_kl| of its own panel" in text
    assert "shown by their leading blocks" in text


def test_heatmap_bad_argument(capsys):
    assert heatmap.main(["--C", "1"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert heatmap.main(["--out", "/proc/nope/hm"]) == 2     # before any drawing
    assert "cannot be written" in capsys.readouterr().err


def _bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_autodiff.py"
    spec = importlib.util.spec_from_file_location("bench_autodiff", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_skips_without_torch(monkeypatch, capsys):
    bench = _bench()
    monkeypatch.setattr(bench, "_torch", lambda: None)
    assert bench.main(["--C", "4"]) == 0
    assert "PyTorch is not installed" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit deprecation, inside torch
def test_benchmark_agrees_with_autodiff(capsys):
    pytest.importorskip("torch")
    bench = _bench()
    assert bench.main(["--C", "4", "--d", "3", "--N", "8", "--c-limit", "16", "--budget", "5",
                       "--repeat", "1"]) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()
            if ln.strip().startswith("4 ")]
    # float64 both ways; the norms are sums of O(N) products: agreement to ~1e-15 expected,
    # 1e-12 leaves three orders for BLAS ordering
    assert rows and float(rows[0][-2]) < 1e-12 and float(rows[0][-1]) < 1e-12


def test_one_seed_sequence_passed_twice_gives_one_cell():
    """Issue 17, bug 1: the cells spawned from the caller's SeedSequence, which advanced it, so
    a second call with the same SeedSequence drew other data (0.19306 vs 0.19440)."""
    ss = np.random.SeedSequence(5)
    a = exp.cell_linear(50, 1.0, 0.5, seed=ss, dim=32, pairs=16)
    b = exp.cell_linear(50, 1.0, 0.5, seed=ss, dim=32, pairs=16)
    assert a == b and ss.n_children_spawned == 0
    h = [exp.cell_hidden(5, 1.0, 0.5, "ce", seed=ss, dim=6, hidden=3, pairs=4) for _ in range(2)]
    assert h[0] == h[1]


@pytest.mark.gpu
def test_cells_agree_on_gpu():
    ss = np.random.SeedSequence(5)
    a = exp.cell_linear(50, 1.0, 0.5, seed=ss, dim=32, pairs=16, backend="numpy")
    b = exp.cell_linear(50, 1.0, 0.5, seed=ss, dim=32, pairs=16, backend="cupy", draw_on="host")
    for k in ("aggregate", "c_rms_per_block", "c_mean_per_block"):
        # same draws (host RNG), float64 both; reductions in different order: 1e-10 relative
        assert b[k] == pytest.approx(a[k], rel=1e-10), k
    assert math.isfinite(b["aggregate"])
