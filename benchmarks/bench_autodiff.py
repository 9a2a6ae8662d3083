"""Block norms of the linear CE Hessian: rmt's closed form against a full autodiff Hessian.

    python benchmarks/bench_autodiff.py                    # CPU, default sizes and budget
    python benchmarks/bench_autodiff.py --d 16 --N 64 --C 8 32 128 --budget 20
    python benchmarks/bench_autodiff.py --backend cupy --torch-device cuda

The peer is PyTorch's ``torch.func.hessian`` of the mean cross-entropy ``F.cross_entropy(X Vᵀ, y)``
with respect to ``V`` (``C × d``): it forms the dense ``(C d)²`` Hessian, from which the block
Frobenius norms ``‖H_ij‖_F`` and the aggregate ratio are read. rmt computes the same numbers
without forming any block: :func:`rmt.hessian.block_norms` with ``pairs="all"`` (every block norm,
``O(C² N²)``) and with ``pairs=None`` (the exact sums behind the aggregate ratio, ``O(N² C)``).
PyTorch is not a dependency of rmt: without it this script prints a message and exits 0.

Part 1 times both at the sizes given (best of ``--repeat`` after a warm-up) and prints the
time ratios and the largest relative difference of the norms (float64 both). Part 2 doubles C at
fixed ``d, N`` until a single call exceeds ``--budget`` seconds (or autodiff's estimated memory
exceeds ``--memory-cap`` bytes) and prints the largest C each method reached.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from rmt import backend as bk  # noqa: E402
from rmt.hessian import MAX_ALL_PAIRS, block_norms  # noqa: E402
from rmt.models import LinearClassifier  # noqa: E402


def _torch():
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return None
    return torch


def autodiff_norms(torch, X: np.ndarray, y: np.ndarray, V: np.ndarray, device: str):
    """Block norms (C × C) and the Hessian's aggregate sums from ``torch.func.hessian``."""
    import torch.nn.functional as F  # noqa: PLC0415
    from torch.func import hessian  # noqa: PLC0415

    Xt = torch.as_tensor(X, dtype=torch.float64, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    Vt = torch.as_tensor(V, dtype=torch.float64, device=device)
    H = hessian(lambda W: F.cross_entropy(Xt @ W.T, yt))(Vt)       # (C, d, C, d)
    sq = torch.einsum("iajb->ij", H * H)
    C = sq.shape[0]
    eye = torch.eye(C, dtype=torch.bool, device=device)
    return (sq.sqrt().cpu().numpy(), float(sq[eye].sum()), float(sq[~eye].sum()))


def _sync(torch, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, repeat: int, sync=lambda: None):
    best, out = math.inf, None
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best, out


def problem(C: int, d: int, N: int, seed: int, backend: str):
    s_x, s_v, s_y = bk.spawn_seeds(seed, 3)
    xp = bk.xp_for(backend)
    X = bk.standard_normal((N, d), s_x, xp)
    model = LinearClassifier.init(C, d, 1.0, seed=s_v, backend=backend)
    y = np.random.default_rng(s_y).integers(0, C, N)
    return model, X, y


def autodiff_bytes(C: int, d: int, N: int) -> float:
    """Rough peak of torch.func.hessian (forward-over-reverse, vmapped over P = C d tangents):
    the dense Hessian plus about four (P, N, C) intermediates, float64. (Measured on CPU,
    torch 2.13: C = 512, d = 16, N = 64 peaked at 9.2 GB RSS; this gives 9.1 GB.)"""
    P = C * d
    return 8.0 * (P * P + 4.0 * P * N * C)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=bk.BACKENDS, default="numpy", help="rmt's backend")
    ap.add_argument("--torch-device", default="cpu", help="torch device (cpu, cuda)")
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--C", type=int, nargs="+", default=[4, 16, 64, 128])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per call in part 2")
    ap.add_argument("--memory-cap", type=float, default=4e9,
                    help="bytes autodiff may use in part 2 (estimated; default 4e9)")
    ap.add_argument("--c-limit", type=int, default=2 ** 20, help="largest C tried in part 2")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    for name in ("d", "N", "repeat", "c_limit"):
        if getattr(a, name) < 1:
            ap.exit(2, f"{ap.prog}: error: --{name.replace('_', '-')} must be an integer >= 1\n")
    if min(a.C) < 2:
        ap.exit(2, f"{ap.prog}: error: --C values must be integers >= 2\n")
    torch = _torch()
    if torch is None:
        print("bench_autodiff: PyTorch is not installed; skipping the autodiff comparison "
              "(pip install torch, or the rmt[bench] extra)")
        return 0
    xp = bk.xp_for(a.backend)
    dev = a.torch_device
    sync_t = lambda: _sync(torch, dev)  # noqa: E731
    sync_r = lambda: bk.synchronize(xp)  # noqa: E731
    tdev = (torch.cuda.get_device_name(0) if dev.startswith("cuda") else
            bk.device_name(np).replace("CPU: ", "")) + f", torch {torch.__version__}, " \
        f"{torch.get_num_threads()} threads"
    print(f"rmt:      {bk.device_name(xp)} (backend {a.backend}, float64)")
    print(f"autodiff: torch.func.hessian on {dev}: {tdev} (float64)")
    # warm-up both
    m0, X0, y0 = problem(4, 4, 8, a.seed, a.backend)
    autodiff_norms(torch, bk.to_numpy(X0), y0, bk.to_numpy(m0.V), dev)
    block_norms(m0, X0, pairs="all")

    print("\nPart 1: the same numbers, both ways (best of "
          f"{a.repeat}; d = {a.d}, N = {a.N})")
    head = (f"{'C':>6} {'params':>7} {'autodiff [s]':>12} {'rmt all [s]':>11} {'ratio':>8} "
            f"{'rmt agg [s]':>11} {'ratio':>9} {'max rel diff':>12} {'agg rel diff':>12}")
    print(head)
    print("-" * len(head))
    for C in a.C:
        model, X, y = problem(C, a.d, a.N, a.seed, a.backend)
        if autodiff_bytes(C, a.d, a.N) > a.memory_cap:
            need = autodiff_bytes(C, a.d, a.N) / 1e9
            print(f"{C:>6d} {C * a.d:>7d}   autodiff would need ~{need:.1f} GB > --memory-cap; "
                  "skipped")
            continue
        Xn, Vn = bk.to_numpy(X), bk.to_numpy(model.V)
        t_ad, (norms_ad, dg, of) = timed(lambda: autodiff_norms(torch, Xn, y, Vn, dev), a.repeat,
                                         sync_t)
        t_all, norms = timed(lambda: block_norms(model, X, pairs="all"), a.repeat, sync_r)
        t_agg, sums = timed(lambda: block_norms(model, X), a.repeat, sync_r)
        rel = float(np.max(np.abs(norms - norms_ad) / np.abs(norms_ad).max()))
        agg_ad = math.sqrt(of / dg)
        agg_rel = abs(sums.aggregate_ratio / agg_ad - 1)
        print(f"{C:>6d} {C * a.d:>7d} {t_ad:>12.4f} {t_all:>11.4f} {t_ad / t_all:>8.1f} "
              f"{t_agg:>11.5f} {t_ad / t_agg:>9.0f} {rel:>12.2e} {agg_rel:>12.2e}", flush=True)

    print(f"\nPart 2: largest C reached with one call under {a.budget:g} s (d = {a.d}, N = {a.N}; "
          f"C doubled from 8; autodiff also capped at ~{a.memory_cap / 1e9:g} GB)")
    methods = {
        "autodiff torch.func.hessian (all block norms)": "ad",
        "rmt block_norms pairs='all' (all block norms)": "all",
        "rmt block_norms (exact aggregate sums)": "agg",
    }
    for label, key in methods.items():
        C, best, why = 8, None, ""
        while C <= a.c_limit:
            if key == "ad" and autodiff_bytes(C, a.d, a.N) > a.memory_cap:
                why = f"C = {C} would need ~{autodiff_bytes(C, a.d, a.N) / 1e9:.1f} GB"
                break
            if key == "all" and C * (C - 1) > MAX_ALL_PAIRS:
                why = (f"C = {C}: pairs='all' refuses more than {MAX_ALL_PAIRS} pairs "
                       "(sample instead)")
                break
            model, X, y = problem(C, a.d, a.N, a.seed, a.backend)
            if key == "ad":
                Xn, Vn = bk.to_numpy(X), bk.to_numpy(model.V)
                t, _ = timed(lambda: autodiff_norms(torch, Xn, y, Vn, dev), 1, sync_t)
            elif key == "all":
                t, _ = timed(lambda: block_norms(model, X, pairs="all"), 1, sync_r)
            else:
                t, _ = timed(lambda: block_norms(model, X), 1, sync_r)
            if t > a.budget:
                why = f"C = {C} took {t:.1f} s"
                break
            best = (C, t)
            C *= 2
        else:
            why = f"stopped at --c-limit {a.c_limit}"
        if best:
            print(f"  {label:<48} C = {best[0]:>8d} ({best[0] * a.d} params) in {best[1]:.3f} s; "
                  f"next: {why}", flush=True)
        else:
            print(f"  {label:<48} not even C = 8 within the budget ({why})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
