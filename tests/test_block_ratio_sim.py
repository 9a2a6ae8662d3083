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
from simulations import block_ratio as sim  # noqa: E402
from simulations import heatmap  # noqa: E402

TINY = ["--C", "3", "6", "12", "--sigma", "1", "--gamma", "0.5", "--dim", "6", "--seeds", "2",
        "--pairs", "8", "--fit-min-c", "3"]


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as e:
        sim.main(["--help"])
    assert e.value.code == 0
    assert "block ratio" in capsys.readouterr().out.lower()


@pytest.mark.parametrize("argv,word", [(["--sigma", "-1"], "--sigma"),
                                       (["--seeds", "1"], "--seeds"), (["--C", "1"], "--C"),
                                       (["--model", "deep"], "--model")])
def test_bad_arguments_one_line_exit_2(argv, word, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        sim.main(argv + ["--out", str(tmp_path / "x.nc")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert word in err and "\n" not in err


def test_sigma_above_range_is_an_error(capsys, tmp_path):
    assert sim.main(["--sigma", "5", "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--sigma must be <= 3" in err and "\n" not in err


def test_linear_sweep_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "lin.nc"
    assert sim.main(TINY + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "estimated seconds per C" in text and "slope per-block RMS" in text
    for suffix in (".nc", ".pdf", ".png"):
        assert out.with_suffix(suffix).exists()
    ds = results.open(out)
    assert ds.attrs["layout"] == sim.LAYOUT["linear"]
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
            "--seeds", "2", "--pairs", "4", "--fit-min-c", "3", "--out", str(out), "--quiet"]
    assert sim.main(argv) == 0
    ds = results.open(out)
    assert ds.attrs["layout"] == sim.LAYOUT["hidden"]
    assert set(ds["loss"].values) == {"ce", "mse"}
    # MSE V-blocks are exactly block-diagonal (A = I): every ratio exactly 0
    assert np.all(ds["v_aggregate"].sel(loss="mse").values == 0.0)
    assert ds.attrs["fits"]["sigma=1,gamma=0.5,loss=mse"]["v"]["exactly_zero"]
    assert out.with_suffix(".png").exists()


def test_scale_check_bounded_memory(capsys):
    argv = ["--scale-check", "--N", "48", "--d", "8", "--C", "300", "--memory-limit", "200000"]
    assert sim.main(argv) == 0
    text = capsys.readouterr().out
    assert "extrapolation to N=8192, d=1024, C=128000" in text
    assert "aggregate" in text


def test_grid_plan_cuts_at_budget():
    p = sim.build_parser()
    args = p.parse_args(["--budget", "5", "--out", "x.nc"])
    sim._defaults(args)
    Cs, per, total, note = sim.plan_grid(args, rate=1e9)
    assert total <= 5.0 and Cs[0] == 2 and Cs[-1] < sim.C_GRID[-1]
    assert f"stops at C = {Cs[-1]}" in note
    # the cost model grows with every size
    f = sim.cell_flops("linear", 100, 200, 50, 64)
    assert sim.cell_flops("linear", 200, 200, 50, 64) > f
    assert sim.cell_flops("linear", 100, 400, 50, 64) > f
    assert sim.cell_flops("hidden", 100, 200, 50, 64, 8) > 0


def test_heatmap_cli(tmp_path, capsys):
    stem = tmp_path / "hm"
    argv = ["--C", "2", "3", "--dim", "3", "--hidden", "3", "--hidden-dim", "4",
            "--n-samples", "8", "--out", str(stem)]
    assert heatmap.main(argv) == 0
    assert stem.with_suffix(".pdf").exists() and stem.with_suffix(".png").exists()
    text = capsys.readouterr().out
    assert "linear, C=2: R_pb=1" in text      # C = 2: H_12 = −H_11 exactly


def test_heatmap_bad_argument(capsys):
    with pytest.raises(SystemExit) as e:
        heatmap.main(["--C", "1"])
    assert e.value.code == 2


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


@pytest.mark.gpu
def test_cells_agree_on_gpu():
    ss = np.random.SeedSequence(5)
    a = sim.cell_linear(50, 1.0, 0.5, seed=ss, dim=32, pairs=16, backend="numpy")
    b = sim.cell_linear(50, 1.0, 0.5, seed=ss, dim=32, pairs=16, backend="cupy")
    for k in ("aggregate", "c_rms_per_block", "c_mean_per_block"):
        # same draws (host RNG), float64 both; reductions in different order: 1e-10 relative
        assert b[k] == pytest.approx(a[k], rel=1e-10), k
    assert math.isfinite(b["aggregate"])
