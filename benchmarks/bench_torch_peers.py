"""Block norms of one Hessian layer by rmt.torch, curvlinops and torch.func.hessian, side by side.

    python benchmarks/bench_torch_peers.py                      # N=128, d=16, C=32, target 2 %
    python benchmarks/bench_torch_peers.py --N 256 --d 32 --C 64 --target 0.01 --reps 5

The quantity: the aggregate ratio ``(Σ_{i≠j}‖H_ij‖²_F/Σ_i‖H_ii‖²_F)^{1/2}`` over the rows of
``V`` of the linear CE model at init (σ = 1), whose exact value rmt's closed form gives
(:func:`rmt.hessian.block_norms`). Methods, all float64 on the CPU:

* ``rmt.torch``: :func:`rmt.torch.aggregate_norms` (K = 2 colours per round, HVPs batched by
  ``vmap``), stopping at the target relative CI half-width (95 %).
* ``curvlinops``: ``HessianLinearOperator`` restricted by ``SubmatrixLinearOperator`` to each
  column block ``(all rows but b_j, b_j)`` and each diagonal block ``(b_i, b_i)``, each norm by
  ``hutchinson_squared_fro`` with ``m`` matvecs (``2·C·m`` HVPs in all). ``m`` is the smallest
  whose observed relative error (RMS over ``--reps`` runs) meets the target, doubling from 1;
  if even ``m = d − 1`` (curvlinops' limit) does not, the row says so.
* ``torch.func.hessian``: the dense Hessian and its exact block norms (where ``(C d)²`` fits).
* ``rmt closed form``: :func:`rmt.hessian.block_norms` (exact, no HVP).

Times are medians over ``--reps`` runs, the methods alternating in one process, so that the
shared machine's load hits them alike (it still varies: read the ratios, not the seconds).
:func:`peer_rows` returns the table rows for another script to include.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402


def _problem(N: int, d: int, C: int, seed: int):
    import torch  # noqa: PLC0415

    from rmt.hessian import block_norms  # noqa: PLC0415
    from rmt.models import LinearClassifier  # noqa: PLC0415
    from rmt.torch.models import from_rmt  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    m = LinearClassifier.init(C, d, 1.0, seed=seed + 1)
    X, y = rng.standard_normal((N, d)), rng.integers(0, C, N)
    exact = block_norms(m, X, y).aggregate_ratio
    return m, from_rmt(m), torch.from_numpy(X), torch.from_numpy(y), exact


def _curvlinops_ratio(mod, X, y, C: int, d: int, m: int, gen_seed: int) -> float:
    import torch  # noqa: PLC0415
    from curvlinops import HessianLinearOperator, SubmatrixLinearOperator  # noqa: PLC0415
    from curvlinops import hutchinson_squared_fro  # noqa: PLC0415

    torch.manual_seed(gen_seed)   # curvlinops draws its probes from torch's global generator
    H = HessianLinearOperator(mod, torch.nn.CrossEntropyLoss(), [mod.V], [(X, y)],
                              check_deterministic=False)
    P = C * d
    off = diag = 0.0
    for j in range(C):
        cols = list(range(j * d, (j + 1) * d))
        rest = list(range(0, j * d)) + list(range((j + 1) * d, P))
        off += float(hutchinson_squared_fro(SubmatrixLinearOperator(H, rest, cols), m))
        diag += float(hutchinson_squared_fro(SubmatrixLinearOperator(H, cols, cols), m))
    return math.sqrt(off / diag)


def _dense_ratio(mod, X, y, C: int, d: int) -> float:
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415
    from torch.func import hessian  # noqa: PLC0415

    Hd = hessian(lambda V: F.cross_entropy(X @ V.T, y))(mod.V.detach())   # (C, d, C, d)
    sq = torch.einsum("iajb->ij", Hd * Hd)
    eye = torch.eye(C, dtype=torch.bool)
    return math.sqrt(float(sq[~eye].sum()) / float(sq[eye].sum()))


def _timed(fn) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def peer_rows(N: int = 128, d: int = 16, C: int = 32, target: float = 0.02, reps: int = 3,
              seed: int = 0, max_dense_params: int = 4096) -> list[dict[str, Any]]:
    """Rows ``{method, seconds (median), hvp, rel_error (RMS over reps), ratio_to_rmt_torch,
    note}`` for the aggregate ratio of the linear CE model at the given size and target."""
    import torch  # noqa: PLC0415

    from rmt.hessian import block_norms  # noqa: PLC0415
    from rmt.torch import HessianProblem, StoppingRule, aggregate_norms, partition  # noqa
    from rmt.torch.models import ce_loss  # noqa: PLC0415

    model, mod, X, y, exact = _problem(N, d, C, seed)
    Xn, yn = X.numpy(), y.numpy()
    part = partition(mod)
    try:
        import curvlinops  # noqa: F401, PLC0415
        have_cl = True
    except ImportError:
        have_cl = False
    # curvlinops: smallest m (doubling) whose RMS relative error meets the target
    m_cl, cl_note = None, "curvlinops not installed"
    if have_cl:
        m = 1
        while m < d:
            errs = [_curvlinops_ratio(mod, X, y, C, d, m, 100 + r) / exact - 1 for r in range(reps)]
            if math.sqrt(np.mean(np.square(errs))) <= target:
                m_cl, cl_note = m, f"{m} matvecs per block, 2·C·m = {2 * C * m} HVPs"
                break
            m = min(2 * m, d - 1) if m < d - 1 else d
        if m_cl is None:
            cl_note = f"target not met even at m = d − 1 = {d - 1} matvecs per block"
    times: dict[str, list[float]] = {k: [] for k in ("rmt.torch", "curvlinops",
                                                      "torch.func.hessian", "rmt closed form")}
    errs: dict[str, list[float]] = {k: [] for k in times}
    hvps: dict[str, int] = {}
    for r in range(reps):
        def run_rmt_torch():
            pb = HessianProblem(mod, ce_loss, X, y)
            return aggregate_norms(pb, part, "V", seed=r, progress=False,
                                   rule=StoppingRule(rtol=target, level=0.95))
        t, a = _timed(run_rmt_torch)
        times["rmt.torch"].append(t)
        errs["rmt.torch"].append(a.aggregate / exact - 1)
        hvps["rmt.torch"] = a.n_hvp
        if m_cl is not None:
            t, v = _timed(lambda: _curvlinops_ratio(mod, X, y, C, d, m_cl, 1000 + r))
            times["curvlinops"].append(t)
            errs["curvlinops"].append(v / exact - 1)
            hvps["curvlinops"] = 2 * C * m_cl
        if C * d <= max_dense_params:
            t, v = _timed(lambda: _dense_ratio(mod, X, y, C, d))
            times["torch.func.hessian"].append(t)
            errs["torch.func.hessian"].append(v / exact - 1)
        t, v = _timed(lambda: block_norms(model, Xn, yn).aggregate_ratio)
        times["rmt closed form"].append(t)
        errs["rmt closed form"].append(v / exact - 1)
    base = float(np.median(times["rmt.torch"]))
    notes = {"rmt.torch": f"K = 2 colours, stops at {100 * target:g}% (95% CI)",
             "curvlinops": cl_note,
             "torch.func.hessian": "dense (C d)² Hessian, exact" if times["torch.func.hessian"]
             else f"skipped: C·d > {max_dense_params}",
             "rmt closed form": "exact Gram identities, no HVP"}
    rows = []
    for k, ts in times.items():
        med = float(np.median(ts)) if ts else math.nan
        rows.append({"method": k, "seconds": med, "hvp": hvps.get(k),
                     "rel_error_rms": float(math.sqrt(np.mean(np.square(errs[k])))) if ts
                     else math.nan, "time_over_rmt_torch": med / base if ts else math.nan,
                     "note": notes[k], "size": {"N": N, "d": d, "C": C}, "target": target,
                     "reps": reps, "torch_threads": torch.get_num_threads()})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--N", type=int, default=128)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--C", type=int, default=32)
    ap.add_argument("--target", type=float, default=0.02)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    for name, lo in (("N", 1), ("d", 2), ("C", 2), ("reps", 1), ("threads", 1)):
        if getattr(a, name) < lo:
            ap.exit(2, f"{ap.prog}: error: --{name} must be an integer >= {lo}\n")
    if not 0 < a.target < 1:
        ap.exit(2, f"{ap.prog}: error: --target must be in (0, 1)\n")
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        print("bench_torch_peers: PyTorch is not installed; pip install -e '.[torch]'")
        return 0
    torch.set_num_threads(a.threads)
    rows = peer_rows(a.N, a.d, a.C, a.target, a.reps, a.seed)
    print(f"aggregate ratio of the linear CE model, N={a.N}, d={a.d}, C={a.C}, float64, CPU "
          f"({torch.get_num_threads()} torch thread(s); shared machine), target "
          f"{100 * a.target:g}%, median of {a.reps}")
    print(f"{'method':20s} {'seconds':>9s} {'HVPs':>6s} {'rel err (RMS)':>13s} "
          f"{'time / rmt.torch':>16s}  note")
    for r in rows:
        print(f"{r['method']:20s} {r['seconds']:9.3g} {str(r['hvp'] or '-'):>6s} "
              f"{r['rel_error_rms']:13.2e} {r['time_over_rmt_torch']:16.3g}  {r['note']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
