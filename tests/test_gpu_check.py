"""benchmarks/gpu_check.py: --help on any machine, a one-line refusal without a GPU (exit 2),
and every part's code path run at tiny sizes through the CuPy stand-in."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rmt.backend as bk

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
STANDIN = ROOT / "tests" / "fakecupy"


def _run(args, standin=False):
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p and Path(p).resolve() != STANDIN.resolve()]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RMT_CUPY_STANDIN")}
    env["PYTHONPATH"] = os.pathsep.join(([str(STANDIN)] if standin else []) + [str(ROOT)] + parts)
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_help_works_without_a_gpu():
    proc = _run(["--help"])
    assert proc.returncode == 0 and "--quick" in proc.stdout and "floor" in proc.stdout


def test_refuses_without_a_gpu_in_one_line(tmp_path):
    if bk.cupy_available() and not hasattr(bk.get_cupy(), "_standin"):
        pytest.skip("a GPU is present: the check would run")
    out = tmp_path / "report"
    proc = _run(["--out", str(out), "--skip-pytest"])
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "needs CuPy and a CUDA GPU" in proc.stderr and not out.exists()
    bad = _run(["--seed", "-1"])
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_floors():
    gc = _module()
    # 4 N² C flops: N = 8192, C = 128,000 at 55 TFLOP/s is 0.625 s (docs/design.md: ≈ 0.6 s)
    assert abs(gc.block_ratio_floor_s(8192, 128_000, 55e12) - 0.6248) < 1e-3
    # two reads of a 34.4 GB float32 X per step, 150 steps at 3.0 TB/s: 3.4 s (H200 HBM bandwidth)
    assert abs(gc.slq_floor_s(131_072, 65_536, 4, 150, 3.0e12) - 3.436) < 1e-2


@pytest.mark.gpu
def test_refuses_the_standin(standin):
    proc = _run(["--skip-pytest"], standin=True)
    assert proc.returncode == 2 and "stand-in" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.gpu
def test_every_part_runs_at_tiny_sizes(standin, tmp_path):
    """The parts' CuPy code paths, on the stand-in (the figures themselves need a GPU)."""
    gc = _module()
    cp = bk.get_cupy()
    tiny = {"gemm_n": 64, "copy_mib": 1, "ratio_N": 64, "ratio_d": 16, "ratio_C": (50,),
            "slq_d": 64, "slq_N": 128, "slq_probes": 2, "slq_steps": 5, "mc_d": 40,
            "mc_N": 80, "mc_trials": 2, "eq_d": 20, "eq_N": 40, "eq_trials": 2, "eq_C": 20,
            "eq_ratio_N": 32, "eq_ratio_d": 8, "mode": "tiny"}
    report = gc.run_parts(cp, tiny, 0, with_pytest=False, log=lambda s: None)
    errors = {k: v for k, v in report["parts"].items() if isinstance(v, dict) and "error" in v}
    assert not errors, errors
    eq = report["parts"]["equal_seeds"]
    # host draws on both backends: equal to rounding (the stand-in computes with NumPy)
    assert eq["monte_carlo"]["max_rel_diff_moments"] <= 1e-12
    assert eq["block_ratio"]["rel_diff"] <= eq["block_ratio"]["rel_error_bound"]
    js, md = gc.write_report(report, tmp_path / "out")
    text = md.read_text()
    assert standin.CONFIG.name in text and text.count("\n| ") >= 5 and js.exists()
