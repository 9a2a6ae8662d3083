"""Time the exact aggregate block ratio of the linear CE model over a grid of class counts C.

    python benchmarks/bench_block_ratio.py --backend numpy --N 2048 --d 512 --C 500 1000 2000

For each C it builds ``V ~ N(0, σ²/d)`` and ``X ~ N(0, I)`` (seeded), and times
``rmt.hessian.block_norms(model, X)`` — the exact ``Σ_i ‖H_ii‖²`` and ``Σ_{i≠j} ‖H_ij‖²`` — in
float64 and in float32 (float32 products, float64 accumulation). It prints the device, one row
per C with both timings, the achieved rate against the flop count of the method
(``3 N² C`` for the three symmetric products S1, S4, QQᵀ, ``2 N d C`` per logits pass and
``N² d`` for the Gram matrix), the aggregate ratio, ``√(C−1)·ratio`` (1 at V = 0), and the
relative float32–float64 difference of the ratio, and the float64 time over the floor: ``4N²C``
flops at the GEMM rate of an ``(N × C)·(C × N)`` product timed in the same run (NumPy only).
``--json PATH`` also writes the rows. (``python -m benchmarks.peers`` times the floor ratio
paired and alternating, with the mixed-precision path too.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from rmt import backend as bk  # noqa: E402
from rmt.hessian import block_norms  # noqa: E402
from rmt.models import LinearClassifier  # noqa: E402


def flops(N: int, d: int, C: int, passes: int) -> float:
    """Flops of the aggregate: 3 SYRKs (N² C each), ``passes`` logits products, the Gram."""
    return 3.0 * N * N * C + passes * 2.0 * N * d * C + 1.0 * N * N * d


def timed(fn, xp, repeat: int):
    best, out = math.inf, None
    for _ in range(repeat):
        bk.synchronize(xp)
        t0 = time.perf_counter()
        out = fn()
        bk.synchronize(xp)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=bk.BACKENDS, default="numpy")
    ap.add_argument("--N", type=int, default=2048, help="samples")
    ap.add_argument("--d", type=int, default=512, help="dimension")
    ap.add_argument("--C", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000, 8000],
                    help="class counts")
    ap.add_argument("--sigma", type=float, default=1.0, help="logit scale σ")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="best of this many timings")
    ap.add_argument("--memory-limit", type=int, default=None,
                    help="bytes for the chunked loops (default: half the free memory)")
    ap.add_argument("--no-float32", action="store_true", help="skip the float32 run")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    a = ap.parse_args(argv)

    xp = bk.xp_for(a.backend)
    s_x, s_v = bk.spawn_seeds(a.seed, 2)
    X = bk.standard_normal((a.N, a.d), s_x, xp)
    X32 = X.astype(np.float32)
    # warm-up (BLAS threads, CuPy kernels and pools)
    block_norms(LinearClassifier.init(8, a.d, a.sigma, seed=1, backend=a.backend), X[:64])

    print(f"device: {bk.device_name(xp)}  backend: {a.backend}  N={a.N} d={a.d} "
          f"sigma={a.sigma} seed={a.seed}")
    head = (f"{'C':>7} {'t64 [s]':>9} {'GF/s64':>8} {'/floor':>7} {'t32 [s]':>9} {'GF/s32':>8} "
            f"{'aggregate':>11} {'sqrt(C-1)*agg':>13} {'|r32/r64-1|':>12}")
    print(head)
    print("-" * len(head))
    rows = []
    for C in a.C:
        model = LinearClassifier.init(C, a.d, a.sigma, seed=s_v, backend=a.backend)
        t64, s64 = timed(lambda: block_norms(model, X, memory_limit=a.memory_limit), xp,
                         a.repeat)
        r64 = s64.aggregate_ratio
        floor = math.nan
        if a.backend == "numpy":
            A = np.ones((a.N, C))
            B = np.ascontiguousarray(A.T)            # a second buffer: GEMM, not SYRK
            t_gemm, _ = timed(lambda: A @ B, xp, a.repeat)
            floor = 2 * t_gemm                       # 4N²C flops = two (N×C)(C×N) GEMMs
        # one logits pass when P fits whole, else two (log-sum-exp, then P)
        f = flops(a.N, a.d, C, 1)
        row = {"C": C, "N": a.N, "d": a.d, "seconds_float64": t64, "floor_seconds": floor,
               "gflops_float64": f / t64 / 1e9, "aggregate_ratio": r64,
               "diagonal_sq_sum": s64.diagonal, "off_diagonal_sq_sum": s64.off_diagonal}
        t32 = r32 = rel = math.nan
        if not a.no_float32:
            m32 = LinearClassifier(model.V.astype(np.float32))
            t32, s32 = timed(lambda: block_norms(m32, X32, memory_limit=a.memory_limit), xp,
                             a.repeat)
            r32 = s32.aggregate_ratio
            rel = abs(r32 / r64 - 1)
            row.update(seconds_float32=t32, gflops_float32=f / t32 / 1e9,
                       aggregate_ratio_float32=r32, rel_diff_float32_float64=rel)
        rows.append(row)
        print(f"{C:>7d} {t64:>9.3f} {f / t64 / 1e9:>8.1f} {t64 / floor:>7.2f} {t32:>9.3f} "
              f"{f / t32 / 1e9:>8.1f} "
              f"{r64:>11.6g} {math.sqrt(C - 1) * r64:>13.6g} {rel:>12.2e}", flush=True)
    if a.json:
        with open(a.json + ".tmp", "w") as fh:
            json.dump({"device": bk.device_name(xp), "backend": a.backend, "rows": rows}, fh,
                      indent=2)
        os.replace(a.json + ".tmp", a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
