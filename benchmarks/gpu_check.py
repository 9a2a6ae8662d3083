"""The GPU figures of issue 17 in one command, each against its floor measured in the same run.

    python benchmarks/gpu_check.py                  # full sizes: < 8 min on one H100 / H200
    python benchmarks/gpu_check.py --quick          # smaller sizes: a smoke run, ~1-2 min
    python benchmarks/gpu_check.py --out results/gpu --skip-pytest

Needs CuPy and a CUDA GPU; without them (or with the CPU stand-in of the tests on the path) it
refuses in one line with exit status 2, before any work. Parts, in this order:

1. ``pytest -m gpu`` (the CuPy tests, on the device), with a time limit.
2. Floors of the device: GEMM rate (square GEMM, fp64 and fp32) and copy bandwidth (read +
   write bytes of a device-to-device copy over its time).
3. Exact aggregate block ratio of the linear CE model, ``(Σ_{i≠j}‖H_ij‖²_F / Σ_i‖H_ii‖²_F)^{1/2}``
   over all ``C`` row blocks of ``V`` (:func:`rmt.hessian.block_norms`), at (N, d, C) =
   (8192, 1024, 32,000) and (8192, 1024, 128,000), fp64 and fp32. Floor: ``4 N² C`` flops at
   the measured GEMM rate of that dtype.
4. SLQ density (:func:`rmt.spectra.slq_density`, 8 probes × 150 steps) of the matrix-free
   ``C·H_ii``-type covariance at d = 65,536, N = 131,072, fp32. Floor: each step reads ``X``
   twice, ``2 N d · 4`` bytes, at the measured copy bandwidth.
5. Monte Carlo pipeline (:func:`rmt.montecarlo.simulate_spectra`: draw, weights, form ``B``,
   ``eigvalsh``, statistics) per trial at d = 4096, N = 8192, fp32, against ``eigvalsh`` alone
   on a matrix of that size (the floor; goal 0.9 of it).
6. NumPy vs CuPy at equal seeds (host draws, ``draw_on="host"``): Monte Carlo moments and
   Stieltjes values, and the exact aggregate; largest relative differences and both times.

Writes ``gpu_check.json`` (every figure with its parameters) and ``gpu_check.md`` (a table with
the device name) into ``--out``, atomically; a part that fails is recorded with its error and
the others still run. Times are the best of a few runs after a warm-up, device synchronised.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rmt.cli import ArgumentParser, run_command  # noqa: E402
from rmt.validation import check_writable, int_arg  # noqa: E402

#: Sizes of the full run (the issue's) and of ``--quick``.
SIZES = {
    "full": {"gemm_n": 8192, "copy_mib": 4096, "ratio_N": 8192, "ratio_d": 1024,
             "ratio_C": (32_000, 128_000), "slq_d": 65_536, "slq_N": 131_072, "slq_probes": 8,
             "slq_steps": 150, "mc_d": 4096, "mc_N": 8192, "mc_trials": 6, "eq_d": 512,
             "eq_N": 1024, "eq_trials": 4, "eq_C": 2000, "eq_ratio_N": 1024, "eq_ratio_d": 128},
    "quick": {"gemm_n": 4096, "copy_mib": 1024, "ratio_N": 2048, "ratio_d": 512,
              "ratio_C": (8_000,), "slq_d": 16_384, "slq_N": 32_768, "slq_probes": 8,
              "slq_steps": 60, "mc_d": 2048, "mc_N": 4096, "mc_trials": 3, "eq_d": 256,
              "eq_N": 512, "eq_trials": 3, "eq_C": 500, "eq_ratio_N": 512, "eq_ratio_d": 64},
}
#: ``pytest -m gpu`` may take this long before it is stopped (the rest must fit in 8 minutes).
PYTEST_TIMEOUT_S = 240


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0],
                       epilog="Without a GPU: one line on stderr, exit status 2.")
    p.add_argument("--out", default="gpu-check", metavar="DIR",
                   help="folder for gpu_check.json and gpu_check.md (default gpu-check)")
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes (a smoke run; the figures the issue asks for need the "
                        "full sizes)")
    p.add_argument("--skip-pytest", action="store_true", help="do not run pytest -m gpu")
    p.add_argument("--seed", type=int_arg(0), default=0,
                   help="root seed of every draw (default 0)")
    return p


# --------------------------------------------------------------------------------------------
# Timing and floors
# --------------------------------------------------------------------------------------------

def best_time(fn: Callable[[], Any], cp: Any, repeats: int = 3,
              warmup: bool = True) -> tuple[float, Any]:
    """Fastest synchronised wall time of ``fn`` over ``repeats`` runs after one warm-up (noise
    only ever adds time, so the minimum is the estimate of the code's own cost)."""
    from rmt import backend as bk  # noqa: PLC0415

    out = fn() if warmup else None
    bk.synchronize(cp)
    best = math.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        bk.synchronize(cp)
        best = min(best, time.perf_counter() - t0)
    return best, out


def block_ratio_floor_s(N: int, C: int, gemm_flops_per_s: float) -> float:
    """The exact aggregate's floor: ``4 N² C`` flops (two ``N × C`` by ``C × N`` GEMMs)."""
    return 4.0 * N * N * C / gemm_flops_per_s


def slq_floor_s(N: int, d: int, itemsize: int, steps: int, copy_bytes_per_s: float) -> float:
    """SLQ's floor: every Lanczos step reads ``X`` twice (``Xv`` then ``Xᵀ(w∘Xv)``)."""
    return steps * 2.0 * N * d * itemsize / copy_bytes_per_s


def part_rates(cp: Any, S: dict) -> dict:
    """GEMM rates (fp64, fp32) and copy bandwidth of the device."""
    out: dict[str, Any] = {}
    n = S["gemm_n"]
    for dt in ("float64", "float32"):
        A = cp.random.default_rng(1).standard_normal((n, n), dtype=dt)
        t, _ = best_time(lambda: A @ A, cp)
        out[f"gemm_{dt}_flops_per_s"] = 2.0 * n ** 3 / t
        del A
    a = cp.ones(S["copy_mib"] * 2**20 // 4, dtype=cp.float32)
    b = cp.empty_like(a)
    t, _ = best_time(lambda: cp.copyto(b, a), cp, repeats=5)
    out["copy_bytes_per_s"] = 2.0 * a.nbytes / t
    out["params"] = {"gemm_n": n, "copy_bytes": int(a.nbytes)}
    return out


def part_block_ratio(cp: Any, S: dict, rates: dict, seed: int) -> list[dict]:
    from rmt.covariance import draw_data  # noqa: PLC0415
    from rmt.hessian import block_norms  # noqa: PLC0415
    from rmt.models import LinearClassifier  # noqa: PLC0415

    N, d = S["ratio_N"], S["ratio_d"]
    rows, ratio64 = [], {}
    for dt in ("float64", "float32"):
        for C in S["ratio_C"]:
            # drawn in float64 and rounded for fp32, so that both dtypes see the same numbers
            V = LinearClassifier.init(C, d, seed=seed, backend="cupy").V.astype(dt)
            model = LinearClassifier(V)
            X = draw_data(N, d, seed + 1, backend="cupy").astype(dt)
            t, s = best_time(lambda: block_norms(model, X), cp, repeats=2)
            floor = block_ratio_floor_s(N, C, rates[f"gemm_{dt}_flops_per_s"])
            row = {"name": "exact aggregate block ratio, linear CE, all C row blocks of V",
                   "N": N, "d": d, "C": C, "dtype": dt, "seconds": t, "floor_seconds": floor,
                   "floor": "4 N² C flops at the measured GEMM rate",
                   "aggregate_ratio": s.aggregate_ratio,
                   "sqrt_C_minus_1_times_ratio": math.sqrt(C - 1.0) * s.aggregate_ratio,
                   "rel_error_bound": s.rel_error_bound}
            if dt == "float64":
                ratio64[C] = s.aggregate_ratio
            else:
                row["rel_diff_to_float64"] = abs(s.aggregate_ratio / ratio64[C] - 1.0)
            rows.append(row)
            del model, X, V
            cp.get_default_memory_pool().free_all_blocks()
    return rows


def part_slq(cp: Any, S: dict, rates: dict, seed: int) -> dict:
    from rmt.covariance import draw_covariance  # noqa: PLC0415
    from rmt.spectra import slq_density  # noqa: PLC0415

    d, N, k, m = S["slq_d"], S["slq_N"], S["slq_probes"], S["slq_steps"]
    draw = draw_covariance(d, N, seed, n_classes=10, scale="C", backend="cupy",
                           dtype="float32")
    op = draw.operator()
    slq_density(op, n_probes=k, n_steps=2, seed=seed)          # warm-up (kernels, pool)
    t, dens = best_time(lambda: slq_density(op, n_probes=k, n_steps=m, seed=seed), cp,
                        repeats=1, warmup=False)
    floor = slq_floor_s(N, d, 4, m, rates["copy_bytes_per_s"])
    del draw, op
    cp.get_default_memory_pool().free_all_blocks()
    return {"name": "SLQ density of the matrix-free C·H_ii-type covariance (C = 10, σ = 1)",
            "d": d, "N": N, "dtype": "float32", "probes": k, "steps": m, "seconds": t,
            "floor_seconds": floor, "floor": "2 N d · 4 bytes per step at the copy bandwidth",
            "w1_bound_relative": dens.w1_bound_relative, "interval": list(dens.interval)}


def part_pipeline(cp: Any, S: dict, seed: int) -> dict:
    from rmt.covariance import draw_covariance  # noqa: PLC0415
    from rmt.montecarlo import simulate_spectra  # noqa: PLC0415

    d, N, T = S["mc_d"], S["mc_N"], S["mc_trials"]
    kw = dict(backend="cupy", dtype="float32", n_classes=10, scale="C", progress=False,
              n_moments=4)

    def run() -> Any:
        return simulate_spectra(T, d, N, seed, **kw)

    simulate_spectra(1, d, N, seed, **kw)                     # warm-up
    t_run, res = best_time(run, cp, repeats=1, warmup=False)
    B = draw_covariance(d, N, seed, **{k: v for k, v in kw.items()
                                       if k not in ("progress", "n_moments")}).matrix()
    t_eig, _ = best_time(lambda: cp.linalg.eigvalsh(B), cp)
    return {"name": "Monte Carlo pipeline per trial (draw, weights, form B, eigvalsh, "
                    "statistics) against eigvalsh alone", "d": d, "N": N, "dtype": "float32",
            "trials": T, "seconds": t_run / T, "floor_seconds": t_eig,
            "floor": "cupy.linalg.eigvalsh of one d × d matrix", "goal_fraction": 0.9,
            "lambda_max_mean": float(res["lambda_max"].mean)}


def part_equal_seeds(cp: Any, S: dict, seed: int) -> dict:
    import numpy as np  # noqa: PLC0415

    from rmt import backend as bk  # noqa: PLC0415
    from rmt.covariance import draw_data  # noqa: PLC0415
    from rmt.hessian import block_norms  # noqa: PLC0415
    from rmt.models import LinearClassifier  # noqa: PLC0415
    from rmt.montecarlo import simulate_spectra  # noqa: PLC0415

    d, N, T = S["eq_d"], S["eq_N"], S["eq_trials"]
    kw = dict(n_classes=10, scale="C", z=[1 + 0.5j], n_moments=4, progress=False,
              draw_on="host")
    t_np, a = best_time(lambda: simulate_spectra(T, d, N, seed, backend="numpy", **kw), cp, 1)
    t_cp, b = best_time(lambda: simulate_spectra(T, d, N, seed, backend="cupy", **kw), cp, 1)

    def rel(x: Any, y: Any) -> float:
        x, y = np.asarray(x), np.asarray(y)
        return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300)))

    Nr, dr, C = S["eq_ratio_N"], S["eq_ratio_d"], S["eq_C"]
    model = LinearClassifier.init(C, dr, seed=seed)
    X = draw_data(Nr, dr, seed + 1)
    gm, gX = LinearClassifier(bk.asarray(model.V, cp)), bk.asarray(X, cp)
    t_rnp, r_np = best_time(lambda: block_norms(model, X), cp, 1)
    t_rcp, r_cp = best_time(lambda: block_norms(gm, gX), cp, 1)
    return {"name": "NumPy vs CuPy at equal seeds (host draws)",
            "monte_carlo": {"d": d, "N": N, "trials": T, "numpy_seconds": t_np,
                            "cupy_seconds": t_cp,
                            "max_rel_diff_moments": rel(b["moments"].mean, a["moments"].mean),
                            "max_rel_diff_stieltjes": rel(b["stieltjes"].mean,
                                                          a["stieltjes"].mean),
                            "max_rel_diff_lambda_max": rel(b["lambda_max"].mean,
                                                           a["lambda_max"].mean)},
            "block_ratio": {"N": Nr, "d": dr, "C": C, "numpy_seconds": t_rnp,
                            "cupy_seconds": t_rcp,
                            "rel_diff": abs(r_cp.aggregate_ratio / r_np.aggregate_ratio - 1),
                            "rel_error_bound": max(r_np.rel_error_bound, r_cp.rel_error_bound)}}


def part_pytest(timeout_s: float) -> dict:
    """``pytest -m gpu`` in the repository, on the device (never the stand-in)."""
    env = {k: v for k, v in os.environ.items() if k != "RMT_CUPY_STANDIN"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q",
                               "-p", "no:cacheprovider"], cwd=ROOT, env=env, text=True,
                              capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"name": "pytest -m gpu", "error": f"stopped after {timeout_s:g} s"}
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", tail[0])}
    return {"name": "pytest -m gpu", "returncode": proc.returncode, "summary": tail[0],
            "seconds": time.perf_counter() - t0, **counts}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def render_markdown(report: dict) -> str:
    """The table of ``gpu_check.md`` from the report of :func:`run_parts`."""
    env = report["environment"]
    lines = [f"# GPU check — {env['device']}", "",
             f"CuPy {env['cupy']}, CUDA runtime {env['cuda_runtime']}, rmt commit "
             f"{env['commit'] or '?'}, {env['mode']} sizes, {_fmt(report['elapsed_s'])} s in all. "
             "Times: best of a few runs after a warm-up, device synchronised. Fraction of "
             "floor = floor time / measured time (1 = at the floor).", "",
             "| measurement | size | dtype | time (s) | floor (s) | floor | fraction of floor |",
             "|---|---|---|---|---|---|---|"]
    for row in report["parts"].get("block_ratio", []):
        if "error" in row:
            continue
        lines.append(f"| {row['name']} (ratio {_fmt(row['aggregate_ratio'], 6)}) | N = "
                     f"{row['N']}, d = {row['d']}, C = {row['C']:,} | {row['dtype']} | "
                     f"{_fmt(row['seconds'])} | {_fmt(row['floor_seconds'])} | {row['floor']} "
                     f"| {_fmt(row['floor_seconds'] / row['seconds'])} |")
    for key in ("slq", "pipeline"):
        row = report["parts"].get(key, {})
        if row and "error" not in row:
            size = f"d = {row['d']:,}, N = {row['N']:,}"
            lines.append(f"| {row['name']} | {size} | {row['dtype']} | {_fmt(row['seconds'])} "
                         f"| {_fmt(row['floor_seconds'])} | {row['floor']} | "
                         f"{_fmt(row['floor_seconds'] / row['seconds'])} |")
    eq = report["parts"].get("equal_seeds", {})
    if eq and "error" not in eq:
        mc, br = eq["monte_carlo"], eq["block_ratio"]
        lines += ["", f"NumPy vs CuPy at equal seeds: Monte Carlo (d = {mc['d']}, N = {mc['N']}, "
                  f"{mc['trials']} trials) moments differ by {_fmt(mc['max_rel_diff_moments'])} "
                  f"relative, Stieltjes by {_fmt(mc['max_rel_diff_stieltjes'])} (NumPy "
                  f"{_fmt(mc['numpy_seconds'])} s, CuPy {_fmt(mc['cupy_seconds'])} s); exact "
                  f"aggregate ratio (N = {br['N']}, d = {br['d']}, C = {br['C']}) by "
                  f"{_fmt(br['rel_diff'])} (rounding bound {_fmt(br['rel_error_bound'])}; NumPy "
                  f"{_fmt(br['numpy_seconds'])} s, CuPy {_fmt(br['cupy_seconds'])} s)."]
    pt = report["parts"].get("pytest")
    if pt:
        lines += ["", f"pytest -m gpu: {pt.get('summary', pt.get('error', ''))}"]
    errors = [f"{k}: {v['error']}" for k, v in report["parts"].items()
              if isinstance(v, dict) and "error" in v]
    errors += [f"block_ratio: {r['error']}" for r in report["parts"].get("block_ratio", [])
               if "error" in r]
    if errors:
        lines += ["", "Failed parts: " + "; ".join(errors)]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: Path) -> tuple[Path, Path]:
    """``gpu_check.json`` and ``gpu_check.md`` in ``out``, each written atomically."""
    from rmt.results import write_bytes_atomic  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    js = write_bytes_atomic(out / "gpu_check.json",
                            json.dumps(report, indent=2, default=float).encode())
    md = write_bytes_atomic(out / "gpu_check.md", render_markdown(report).encode())
    return js, md


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

def require_gpu() -> Any:
    """CuPy with a real CUDA device, or RuntimeError saying what is missing (one line)."""
    from rmt import backend as bk  # noqa: PLC0415

    try:
        cp = bk.get_cupy()
    except bk.BackendUnavailableError as exc:
        raise RuntimeError(f"needs CuPy and a CUDA GPU: {exc}") from None
    if getattr(cp, "_standin", None) is not None:
        raise RuntimeError("needs a real GPU: the CuPy stand-in of the tests (tests/fakecupy) "
                           "is on the import path")
    return cp


def run_parts(cp: Any, sizes: dict, seed: int, *, with_pytest: bool = True,
              log: Callable[[str], None] = print) -> dict:
    """Every part in turn (a failing part is recorded and the run goes on)."""
    from rmt import backend as bk  # noqa: PLC0415
    from rmt.results import git_revision  # noqa: PLC0415

    t0 = time.perf_counter()
    parts: dict[str, Any] = {}

    def attempt(key: str, fn: Callable[[], Any]) -> Any:
        log(f"gpu_check: {key} ...")
        t = time.perf_counter()
        try:
            parts[key] = fn()
        except Exception as exc:  # noqa: BLE001 - recorded, the other parts still run
            parts[key] = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
        log(f"gpu_check: {key} done in {time.perf_counter() - t:.1f} s")
        return parts[key]

    if with_pytest:
        attempt("pytest", lambda: part_pytest(PYTEST_TIMEOUT_S))
    rates = attempt("rates", lambda: part_rates(cp, sizes))
    if "error" not in rates:
        attempt("block_ratio", lambda: part_block_ratio(cp, sizes, rates, seed))
        attempt("slq", lambda: part_slq(cp, sizes, rates, seed))
    attempt("pipeline", lambda: part_pipeline(cp, sizes, seed))
    attempt("equal_seeds", lambda: part_equal_seeds(cp, sizes, seed))
    runtime = getattr(cp.cuda.runtime, "runtimeGetVersion", lambda: None)()
    return {"environment": {"device": bk.device_name(cp), "cupy": str(cp.__version__),
                            "cuda_runtime": runtime, "commit": git_revision(),
                            "mode": sizes.get("mode", "full"), "seed": seed,
                            "date": time.strftime("%Y-%m-%d %H:%M:%S")},
            "sizes": {k: v for k, v in sizes.items() if k != "mode"},
            "parts": parts, "elapsed_s": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(args: Any) -> int:
        out = Path(args.out)
        check_writable("--out", out / "gpu_check.json")
        cp = require_gpu()                           # refuses before any work
        sizes = dict(SIZES["quick" if args.quick else "full"],
                     mode="quick" if args.quick else "full")
        report = run_parts(cp, sizes, args.seed, with_pytest=not args.skip_pytest)
        js, md = write_report(report, out)
        print(render_markdown(report))
        print(f"gpu_check: wrote {js} and {md}")
        return 0

    return run_command(parser, argv, body)


if __name__ == "__main__":
    sys.exit(main())
