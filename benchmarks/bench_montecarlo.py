"""Benchmark of the Monte Carlo engine against its floors, on CPU (NumPy) and GPU (CuPy).

    python benchmarks/bench_montecarlo.py                      # NumPy, CPU-sized defaults
    python benchmarks/bench_montecarlo.py --backend cupy       # GPU sizes (d = 4096, N = 8192)
    python benchmarks/bench_montecarlo.py --backend all        # every available backend, one run

(a) Per-trial time of the full pipeline — draw ``X`` and ``V`` from the trial's seed, weights
    ``C·p_i(1 − p_i)`` from the logits, form ``B = (1/N) Xᵀ diag(w) X``, ``eigvalsh`` — against
    ``eigvalsh`` alone on a matrix of the same size, same device, same run (the floor: a
    pipeline can be no faster than its eigendecomposition). Goal: floor / pipeline ≥ 0.9 in
    float32 at d = 4096, N = 8192 on a GPU. Also the same through
    :func:`rmt.montecarlo.simulate_spectra` (engine overhead included).
(b) NumPy vs CuPy in the same run (``--backend all`` when CuPy is available).
(c) SLQ density of the matrix-free operator at d = 65,536, N = 131,072 (GPU; on CPU a scaled
    size, default d = 4096): time against its floor (one block product per Lanczos step),
    reported W1 bound, and Kolmogorov–Smirnov distance to the
    weighted Marchenko–Pastur law of the block weight (rmt.laws) and to the exact spectrum of a
    smaller matrix (``--ref-dim``) with the same γ.

CPU defaults are smaller (``--dim 1024 --n-samples 2048``, SLQ at d = 4096) so a run finishes in
about a minute on a laptop; the table says which sizes were used.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rmt import backend as bk  # noqa: E402
from rmt.covariance import draw_covariance  # noqa: E402
from rmt.montecarlo import simulate_spectra  # noqa: E402
from rmt.spectra import eigvalsh_batched, slq_density  # noqa: E402

GPU_SIZES = {"dim": 4096, "n_samples": 8192, "slq_dim": 65536, "slq_n_samples": 131072,
             "ref_dim": 4096}
CPU_SIZES = {"dim": 1024, "n_samples": 2048, "slq_dim": 4096, "slq_n_samples": 8192,
             "ref_dim": 2048}


def _timed(fn: Callable[[], Any], xp: Any, repeats: int) -> tuple[float, Any]:
    """Fastest wall time of ``fn`` over ``repeats`` runs after one warm-up (device synchronised).

    The minimum, not the mean: on a shared machine the noise only ever adds time, so the
    fastest run is the best estimate of the code's own cost (as ``timeit`` advises)."""
    out = fn()
    bk.synchronize(xp)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        bk.synchronize(xp)
        times.append(time.perf_counter() - t0)
    return min(times), out


def bench_pipeline(backend: str, d: int, N: int, C: int, dtype: str, repeats: int,
                   draw_on: str) -> dict[str, Any]:
    """(a): stage times of one trial and the eigvalsh floor on the same device."""
    xp = bk.xp_for(backend)
    dt = np.dtype(dtype)
    seeds = bk.spawn_seeds(2026, repeats + 1)
    counter = iter(range(10**9))

    def draw():
        return draw_covariance(d, N, seeds[next(counter) % len(seeds)], n_classes=C,
                               weights="diag", scale="C", backend=backend, dtype=dt,
                               draw_on=draw_on)

    t_draw, dr = _timed(draw, xp, repeats)  # X, V, logits and weights
    t_build, B = _timed(dr.matrix, xp, repeats)
    t_eig, _ = _timed(lambda: xp.linalg.eigvalsh(B), xp, repeats)  # the floor

    def full():
        return eigvalsh_batched(draw().matrix(), check=False)

    t_full, _ = _timed(full, xp, repeats)
    n_engine = max(2, repeats)
    run = simulate_spectra(n_engine, d, N, seed=1, n_classes=C, weights="diag", scale="C",
                           n_moments=2, backend=backend, dtype=dt, draw_on=draw_on,
                           batch_size=1, progress=False)
    t_engine = run.elapsed_s / n_engine
    return {"backend": backend, "device": bk.device_name(xp), "d": d, "N": N, "C": C,
            "dtype": dtype, "draw_on": draw_on, "draw_weights_s": t_draw, "build_s": t_build,
            "eigvalsh_floor_s": t_eig, "pipeline_s": t_full, "engine_per_trial_s": t_engine,
            "floor_over_pipeline": t_eig / t_full, "floor_over_engine": t_eig / t_engine}


def bench_slq(backend: str, d: int, N: int, C: int, ref_d: int, dtype: str, n_probes: int,
              n_steps: int, draw_on: str) -> dict[str, Any]:
    """(c): SLQ on the matrix-free operator, with KS to the law and to a smaller exact spectrum."""
    xp = bk.xp_for(backend)
    dt = np.dtype(dtype)
    gamma = d / N
    t0 = time.perf_counter()
    dr = draw_covariance(d, N, 7, n_classes=C, weights="diag", scale="C", backend=backend,
                         dtype=dt, draw_on=draw_on)
    op = dr.operator()
    bk.synchronize(xp)
    t_draw = time.perf_counter() - t0
    Xv = bk.asarray(np.ones((d, n_probes)), xp, dt)
    t_mv, _ = _timed(lambda: op.matmat(Xv), xp, 5)
    t0 = time.perf_counter()
    dens = slq_density(op, n_probes=n_probes, n_steps=n_steps, seed=3)
    bk.synchronize(xp)
    t_slq = time.perf_counter() - t0
    out = {"backend": backend, "device": bk.device_name(xp), "d": d, "N": N, "gamma": gamma,
           "dtype": dtype, "n_probes": n_probes, "n_steps": dens.n_steps, "draw_s": t_draw,
           "block_matvec_s": t_mv, "slq_s": t_slq,
           "slq_floor_s": dens.n_steps * t_mv,  # one block product per Lanczos step
           "floor_over_slq": dens.n_steps * t_mv / t_slq, "w1_bound": dens.w1_bound,
           "w1_bound_relative": dens.w1_bound_relative, "width": dens.width}
    del op, dr
    # reference 1: the weighted MP law of the block weight
    try:
        from rmt import laws  # noqa: PLC0415

        law = laws.WeightedMP(gamma, laws.diagonal_block_weights(C, 1.0, scale="C"))
        out["ks_to_law"] = dens.ks(lambda x: np.asarray(law.cdf(x)))
        out["ks_to_law_smoothed"] = _ks_smoothed(dens, lambda x: np.asarray(law.cdf(x)))
    except ImportError:
        out["ks_to_law"] = None
    # reference 2: exact eigenvalues of a smaller matrix with the same γ (host, float64)
    ref_N = int(round(ref_d / gamma))
    ref = draw_covariance(ref_d, ref_N, 8, n_classes=C, weights="diag", scale="C")
    ev = np.linalg.eigvalsh(ref.matrix())
    out["ref_d"] = ref_d
    out["ks_to_exact_ref"] = dens.ks(ev)
    out["w1_to_exact_ref"] = dens.wasserstein1(ev)
    return out


def _ks_smoothed(dens: Any, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    lo, hi = dens.interval
    x = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), 4001)
    return float(np.max(np.abs(dens.smoothed_cdf(x) - cdf(x))))


def _fmt_s(x: float) -> str:
    return f"{x * 1e3:9.1f} ms" if x < 10 else f"{x:9.2f} s "


def print_tables(pipe: list[dict], slq: list[dict], sizes_note: str) -> None:
    import os  # noqa: PLC0415

    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    print(sizes_note + (f"\nBLAS threads: {threads}" if threads else ""))
    print()
    print("(a)/(b) per-trial pipeline vs eigvalsh floor")
    hdr = (f"{'backend':8s} {'device':38s} {'d':>6s} {'N':>6s} {'dtype':7s} {'draw+w':>12s} "
           f"{'build B':>12s} {'eigvalsh':>12s} {'pipeline':>12s} {'engine/trial':>12s} "
           f"{'floor/pipe':>10s} {'floor/eng':>9s}")
    print(hdr)
    print("-" * len(hdr))
    for r in pipe:
        print(f"{r['backend']:8s} {r['device'][:38]:38s} {r['d']:6d} {r['N']:6d} {r['dtype']:7s} "
              f"{_fmt_s(r['draw_weights_s']):>12s} {_fmt_s(r['build_s']):>12s} "
              f"{_fmt_s(r['eigvalsh_floor_s']):>12s} {_fmt_s(r['pipeline_s']):>12s} "
              f"{_fmt_s(r['engine_per_trial_s']):>12s} {r['floor_over_pipeline']:10.3f} "
              f"{r['floor_over_engine']:9.3f}")
    if len(pipe) == 2:
        a, b = pipe
        print(f"speed-up {b['backend']} over {a['backend']} (pipeline): "
              f"{a['pipeline_s'] / b['pipeline_s']:.1f}x")
    if slq:
        print()
        print("(c) SLQ density of the matrix-free operator")
        hdr = (f"{'backend':8s} {'d':>6s} {'N':>7s} {'probes x steps':>14s} {'matvec':>12s} "
               f"{'SLQ':>12s} {'floor/SLQ':>9s} {'W1 bound/W':>10s} {'KS law':>8s} {'KS law sm':>9s} "
               f"{'KS exact(d_ref)':>16s}")
        print(hdr)
        print("-" * len(hdr))
        for r in slq:
            ks_law = "n/a" if r.get("ks_to_law") is None else f"{r['ks_to_law']:.4f}"
            ks_sm = "n/a" if r.get("ks_to_law") is None else f"{r['ks_to_law_smoothed']:.4f}"
            print(f"{r['backend']:8s} {r['d']:6d} {r['N']:7d} "
                  f"{str(r['n_probes']) + ' x ' + str(r['n_steps']):>14s} "
                  f"{_fmt_s(r['block_matvec_s']):>12s} {_fmt_s(r['slq_s']):>12s} "
                  f"{r['floor_over_slq']:9.3f} "
                  f"{r['w1_bound_relative']:10.4f} {ks_law:>8s} {ks_sm:>9s} "
                  f"{r['ks_to_exact_ref']:10.4f} ({r['ref_d']})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("numpy", "cupy", "all"), default="numpy",
                   help="'all': NumPy and, when available, CuPy in the same run")
    p.add_argument("--dim", type=int, default=None, help="d for (a) (GPU 4096, CPU 1024)")
    p.add_argument("--n-samples", type=int, default=None, help="N for (a) (GPU 8192, CPU 2048)")
    p.add_argument("--n-classes", type=int, default=10)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--draw-on", choices=("host", "device"), default="device",
                   help="where CuPy draws (host: same numbers as NumPy, slower)")
    p.add_argument("--slq-dim", type=int, default=None, help="d for (c) (GPU 65536, CPU 4096)")
    p.add_argument("--slq-n-samples", type=int, default=None)
    p.add_argument("--ref-dim", type=int, default=None, help="exact reference size for (c)")
    p.add_argument("--probes", type=int, default=8)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--skip-slq", action="store_true")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    backends = ["numpy", "cupy"] if args.backend == "all" else [args.backend]
    if args.backend == "all" and not bk.cupy_available():
        backends = ["numpy"]
        print("CuPy/GPU not available: NumPy only")
    pipe, slq = [], []
    notes = []
    for b in backends:
        if b == "cupy":
            bk.get_cupy()  # clear BackendUnavailableError if no GPU
        sizes = GPU_SIZES if b == "cupy" else CPU_SIZES
        d = args.dim or sizes["dim"]
        N = args.n_samples or sizes["n_samples"]
        small = b != "cupy" and (d, N) != (GPU_SIZES["dim"], GPU_SIZES["n_samples"])
        notes.append(f"{b}: (a) d={d} N={N}" + (
            " (scaled down for the CPU; the target size is d=4096 N=8192)" if small else ""))
        pipe.append(bench_pipeline(b, d, N, args.n_classes, args.dtype, args.repeats,
                                   args.draw_on if b == "cupy" else "host"))
        if not args.skip_slq:
            sd = args.slq_dim or sizes["slq_dim"]
            sN = args.slq_n_samples or (sizes["slq_n_samples"] if args.slq_dim is None
                                        else 2 * sd)
            rd = args.ref_dim or sizes["ref_dim"]
            notes.append(f"{b}: (c) d={sd} N={sN} reference d={rd}" + (
                " (scaled down; the GPU target is d=65536 N=131072)"
                if sd != GPU_SIZES["slq_dim"] else ""))
            slq.append(bench_slq(b, sd, sN, args.n_classes, rd, args.dtype, args.probes,
                                 args.steps, args.draw_on if b == "cupy" else "host"))
    print_tables(pipe, slq, "\n".join(notes))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"pipeline": pipe, "slq": slq}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
