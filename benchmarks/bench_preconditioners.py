"""Time one row of the preconditioner table: the linear CE model at C = 10⁴, d = 200, N = 400.

    python benchmarks/bench_preconditioners.py                  # the C = 10⁴ row, float64
    python benchmarks/bench_preconditioners.py --C 1000 --threads 2

Goal (issue 14): under 2 minutes of wall time on 2 CPU cores for the C = 10⁴ row — every
quantity of :func:`rmt.preconditioners.preconditioner_quality` for the four approximations
(identity, diagonal, block-scalar, block), matrix-free. The stages inside the call are timed
separately: the block inverses (``C N d²`` flops for the lower triangles of the ``C`` diagonal
blocks, plus ``potrf`` + ``potri`` on each), the Lanczos runs, the lockstep LOBPCG (its steps per
approximation are printed) and CG; the exact Frobenius sums (:func:`rmt.hessian.block_norms`) are
timed on their own, and the ``H``-products (``4 N C d`` flops each) are counted. ``--json PATH``
writes the row. On a shared machine time it with ``farm-bench`` and quote the median; say that
the load was shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from rmt import backend as bk  # noqa: E402
from rmt import preconditioners as pc  # noqa: E402
from rmt.datasets import make_soft_targets  # noqa: E402
from rmt.hessian import block_norms  # noqa: E402
from rmt.models import LinearClassifier  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--C", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=200)
    ap.add_argument("--N", type=int, default=400)
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--n-steps", type=int, default=40, help="Lanczos steps per operator")
    ap.add_argument("--lanczos-rtol", type=float, default=0.005,
                    help="relative width at which a Lanczos run stops early (0: all n-steps)")
    ap.add_argument("--kappa-rtol", type=float, default=0.02,
                    help="relative width of the kappa intervals of the diagonal approximations")
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the row this many times in one process (the last is reported): on "
                         "a VM the first touch of fresh memory can dominate the first run")
    ap.add_argument("--backend", choices=bk.BACKENDS, default="numpy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat must be >= 1, got {args.repeat}")
    s_data, s_model, s_lz = bk.spawn_seeds(args.seed, 3)
    X, Q = make_soft_targets(args.N, args.d, args.C, seed=s_data, backend=args.backend)
    model = LinearClassifier.init(args.C, args.d, args.sigma, seed=s_model, backend=args.backend)
    xp = model.xp
    calls = {"n": 0}
    orig = pc.SoftmaxLayerHessian._zspace

    def counted(self, U):
        calls["n"] += int(U.shape[2])
        return orig(self, U)

    pc.SoftmaxLayerHessian._zspace = counted
    # Wall time of each stage inside the call (wrapped, not re-run).
    stages = {"block_factors": (pc.BlockP, "__init__"), "lanczos": (pc, "_extremes"),
              "lobpcg": (pc, "_smallest"), "cg": (pc, "_cg")}
    spent = dict.fromkeys(stages, 0.0)

    def timed(name, f):
        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                bk.synchronize(xp)
                spent[name] += time.perf_counter() - t0
        return run

    for name, (owner, attr) in stages.items():
        setattr(owner, attr, timed(name, getattr(owner, attr)))
    lobpcg_steps = []
    inner = pc.smallest_lockstep

    def counted_lobpcg(*a, **k):
        res = inner(*a, **k)
        lobpcg_steps.append(res.iterations.tolist())
        return res

    pc.smallest_lockstep = counted_lobpcg
    row = {"C": args.C, "d": args.d, "N": args.N, "threads": args.threads,
           "n_steps": args.n_steps, "kappa_rtol": args.kappa_rtol,
           "device": bk.device_name(xp)}
    with bk.limit_blas_threads(args.threads):
        t0 = time.perf_counter()
        block_norms(model, X)
        row["frobenius_sums_s"] = time.perf_counter() - t0
        runs = []
        for _ in range(args.repeat):
            calls["n"] = 0
            spent.update(dict.fromkeys(spent, 0.0))
            lobpcg_steps.clear()
            bk.reset_peak_rss()
            t0 = time.perf_counter()
            rep = pc.preconditioner_quality(model, X, Q, method="lanczos", n_steps=args.n_steps,
                                            kappa_rtol=args.kappa_rtol,
                                            lanczos_rtol=args.lanczos_rtol, seed=s_lz)
            bk.synchronize(xp)
            runs.append({"total_s": time.perf_counter() - t0,
                         **{f"{k}_s": v for k, v in spent.items()},
                         "peak_rss_gb": bk.peak_rss_bytes() / 1e9})
            print(f"  run {len(runs)}: " + ", ".join(f"{k} {v:.1f}" for k, v in runs[-1].items()),
                  flush=True)
    row["runs"] = runs
    row.update(runs[-1])
    row["lobpcg_steps"] = lobpcg_steps
    row["hessian_products"] = calls["n"]
    row["product_gflop"] = 4.0 * args.N * args.C * args.d * calls["n"] / 1e9
    row["results"] = {k: {"kappa": v.kappa, "kappa_bounds": list(v.kappa_bounds),
                          "frobenius_error": v.frobenius_error,
                          "spectral_error": v.spectral_error,
                          "spectral_error_bounds": list(v.spectral_error_bounds),
                          "newton_error": v.newton_error}
                      for k, v in rep.results.items()}
    row["lanczos_steps_max"] = rep.n_steps
    widths = {k: max(v.kappa_bounds[1] / v.kappa_bounds[0],
                     v.spectral_error_bounds[1] / v.spectral_error_bounds[0]) - 1
              for k, v in rep.results.items()}
    row["interval_widths"] = widths
    print(f"{row['device']}, {args.threads} BLAS threads; C={args.C}, d={args.d}, N={args.N}; "
          f"at most {args.n_steps} Lanczos steps (stop at {args.lanczos_rtol:g} relative; the "
          f"longest run took {rep.n_steps}), kappa intervals {args.kappa_rtol:g} relative; widest "
          f"interval (kappa or spectral error, relative) per P: "
          + ", ".join(f"{k} {w:.2%}" for k, w in widths.items()))
    print(f"  whole row (last run) {row['total_s']:.1f} s (goal < 120 s on 2 cores): block factors "
          f"{row['block_factors_s']:.1f} s, Lanczos {row['lanczos_s']:.1f} s, LOBPCG "
          f"{row['lobpcg_s']:.1f} s (steps {lobpcg_steps}), CG {row['cg_s']:.1f} s; "
          f"{calls['n']} H-vector products = "
          f"{row['product_gflop']:.0f} GFLOP; Frobenius sums (separately) "
          f"{row['frobenius_sums_s']:.1f} s; peak RSS of the run {row['peak_rss_gb']:.2f} GB")
    print(rep)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(row, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
