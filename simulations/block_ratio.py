"""Off-/diagonal Hessian block ratios against the number of classes C, measured and predicted.

    python -m simulations.block_ratio --help
    python -m simulations.block_ratio                          # linear CE model, CPU defaults
    python -m simulations.block_ratio --model hidden           # one hidden layer, CE and MSE
    python -m simulations.block_ratio --backend cupy --c-max 128000 --dim 1024
    python -m simulations.block_ratio --scale-check --N 1024 --d 256 --C 32000 --memory-limit 32e6
    python -m simulations.block_ratio --redraw                 # summary + figure from the file

Linear model (``--model linear``): ``z = V x`` at init (``V_ij ~ N(0, σ²/d)``, ``x ~ N(0, I_d)``),
CE loss. For every ``C`` of a log grid from 2 to 128,000, every ``σ`` and ``γ = d/N`` and
``--seeds`` seeds, a cell draws ``X`` and ``V`` and measures with :func:`rmt.hessian.block_ratio`

* the aggregate ratio ``R_agg = (Σ_{i≠j}‖H_ij‖²_F / Σ_i‖H_ii‖²_F)^{1/2}`` (exact, all pairs),
* the per-block RMS ratio ``R_pb = R_agg/√(C−1)`` = ``(mean_{i≠j}‖H_ij‖² / mean_i‖H_ii‖²)^{1/2}``
  (exact, all pairs) — the quantity :mod:`rmt.predictions` predicts,
* the per-block mean of ratios ``mean ‖H_ij‖_F/‖H_ii‖_F`` over ``--pairs`` seeded pairs
  (a different statistic: below ``R_pb`` by a Jensen gap, see :mod:`rmt.predictions`).

The driver summarises over seeds (mean, standard error, 95% Student-t CI), adds the finite-C
prediction (:func:`rmt.predictions.predict_block_ratio`, ``correction="model"`` at the sweep's
``d, N``) and the large-C limit ``κ``, fits the log-log slopes over ``C ≥ --fit-min-c``
(weighted least squares, :func:`rmt.predictions.fit_loglog_slope`) and fits the prediction's
values at the same ``C`` with the same weights (its slope is the honest expected value: the
finite-C correction ``C·R_pb: 1.29 → 1.41`` tilts it above −1 on any finite range; −1 and −1/2
are the ``C → ∞`` exponents).

One hidden layer (``--model hidden``): ``z = V relu(W x)``, ``m = --hidden`` units, LeCun-type
init with scale σ, losses CE and MSE. Per cell: W-blocks (rows of ``W``, ``m`` blocks of
``d × d``; aggregate, RMS ``= R_agg/√(m−1)`` and the exact mean over all ``m(m−1)`` pairs) and
V-blocks (rows of ``V``, ``C`` blocks of ``m × m``). Predictions from ``proofs.hidden_coupling``
(uniform-softmax assumption; W-blocks ``ρ/√(C+1)`` CE, ``ρ/√(C+2)`` MSE, rate −1/2; V-blocks
``1/(C−1)`` CE, exactly 0 MSE).

Cost and the default grid. A linear cell costs about ``4NdC + 3N²C + 2N²d + 2N²(K + min(K, C))``
flops (logits twice, the three symmetric products of the exact aggregate, the Gram matrix, and
``K`` sampled pairs) — O(N²(d + C)). Before running, the driver times one matrix product to get
this machine's rate, estimates every cell, and stops the C grid where the estimated total would
exceed ``--budget`` seconds (default 120 s with NumPy, 900 s with CuPy); it prints the estimate
and the C where it stopped. ``--c-max`` overrides the cut.

It runs as a sweep (:mod:`rmt.sweep`: resumable cells in ``OUT.cells/``, ``--scheduler``,
progress bar); the summary is written back into ``OUT`` (netCDF via :mod:`rmt.results`), and the
figures ``OUT`` without suffix + ``.pdf``/``.png`` (and ``_grid``) are drawn from that file.

``--scale-check`` runs one :func:`rmt.hessian.block_ratio` at ``--N --d --C`` under
``--memory-limit`` bytes, reports time and peak memory, and extrapolates to (8192, 1024, 128000).
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.sweep import Grid, add_sweep_arguments, run_from_args

PROG = "python -m simulations.block_ratio"
#: The full log grid of class counts (1-2-5 per decade up to the LLM vocabulary 128,000).
C_GRID = (2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
          128000)
LAYOUT = {"linear": "block_ratio/linear/1", "hidden": "block_ratio/hidden/1"}
CI_LEVEL = 0.95
#: Default estimated-compute budget in seconds (NumPy, CuPy).
BUDGET = {"numpy": 120.0, "cupy": 900.0}
#: The (8192, 1024, 128000) size of the LLM-scale check.
LLM_SIZE = (8192, 1024, 128000)


class _Parser(argparse.ArgumentParser):
    """Argument errors: one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(name: str, kind: type, minimum: float, strict: bool = False) -> Callable[[str], Any]:
    def conv(text: str) -> Any:
        try:
            v = kind(float(text)) if kind is int else kind(text)
            if kind is int and float(text) != v:
                raise ValueError
        except ValueError:
            v = None
        bad = v is None or not math.isfinite(v) or (v <= minimum if strict else v < minimum)
        if bad:
            rel = ">" if strict else ">="
            what = "an integer" if kind is int else "a finite real number"
            raise argparse.ArgumentTypeError(f"{name} must be {what} {rel} {minimum:g}, "
                                             f"got {text!r}")
        return v
    return conv


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Off-/diagonal Hessian block ratios against C: exact "
                "aggregate, per-block RMS and mean of ratios, with finite-C predictions and "
                "log-log slopes (see the module docstring).",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("linear", "hidden"), default="linear",
                   help="linear z = Vx (CE), or one hidden layer z = V relu(Wx) (CE and MSE)")
    p.add_argument("--C", type=_number("--C", int, 2), nargs="+", default=None, metavar="C",
                   help=f"class counts (default: the log grid {C_GRID[0]}..{C_GRID[-1]}, cut by "
                        "--budget)")
    p.add_argument("--c-max", type=_number("--c-max", int, 2), default=None,
                   help="largest C of the default grid (overrides the --budget cut)")
    p.add_argument("--sigma", type=_number("--sigma", float, 0.0, strict=True), nargs="+",
                   default=None, help="logit scales σ (default: 0.5 1 2 linear, 1 hidden)")
    p.add_argument("--gamma", type=_number("--gamma", float, 0.0, strict=True), nargs="+",
                   default=None, help="γ = d/N (default: 0.5 2 linear, 0.5 hidden)")
    p.add_argument("--dim", type=_number("--dim", int, 2), default=None,
                   help="input dimension d (default 200 linear, 100 hidden); N = round(d/γ)")
    p.add_argument("--hidden", type=_number("--hidden", int, 2), default=8,
                   help="hidden units m (--model hidden; default 8)")
    p.add_argument("--loss", choices=("ce", "mse"), nargs="+", default=None,
                   help="losses (--model hidden; default ce mse)")
    p.add_argument("--seeds", type=_number("--seeds", int, 2), default=4,
                   help="seeds per grid point (default 4)")
    p.add_argument("--pairs", type=_number("--pairs", int, 0), default=256,
                   help="sampled pairs for the per-block mean of ratios (0: skip; default 256)")
    p.add_argument("--fit-min-c", type=_number("--fit-min-c", int, 2), default=100,
                   help="fit log-log slopes over C >= this (default 100)")
    p.add_argument("--budget", type=_number("--budget", float, 0.0, strict=True), default=None,
                   help="estimated compute seconds for the default C grid (default 120 NumPy, "
                        "900 CuPy)")
    p.add_argument("--seed", type=_number("--seed", int, 0), default=0, help="base seed")
    p.add_argument("--backend", choices=bk.BACKENDS, default="numpy")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--memory-limit", type=_number("--memory-limit", int, 1), default=None,
                   help="bytes for the chunked loops (default: half the free memory)")
    p.add_argument("--no-figure", action="store_true", help="write the results file only")
    p.add_argument("--redraw", action="store_true",
                   help="run nothing: summary and figures from the results file --out")
    g = p.add_argument_group("scale check", "one block_ratio at a given size, timed")
    g.add_argument("--scale-check", action="store_true",
                   help="run one block_ratio at --N --d --C (first value; default 16000) and "
                        "extrapolate to (8192, 1024, 128000)")
    g.add_argument("--N", type=_number("--N", int, 2), default=1024, help="samples (default 1024)")
    g.add_argument("--d", type=_number("--d", int, 1), default=256, help="dimension (default 256)")
    add_sweep_arguments(p, default_out="results/block_ratio.nc")
    return p


# --------------------------------------------------------------------------------------------
# cells


def _draw_linear(C: int, sigma: float, N: int, d: int, seed: np.random.SeedSequence,
                 backend: str, dtype: str):
    from rmt.models import LinearClassifier  # noqa: PLC0415

    sx, sv, sp = seed.spawn(3)
    xp = bk.xp_for(backend)
    X = bk.standard_normal((N, d), sx, xp, dtype)
    model = LinearClassifier.init(C, d, sigma, seed=sv, backend=backend, dtype=dtype)
    return model, X, sp


def cell_linear(C: int, sigma: float, gamma: float, *, seed: np.random.SeedSequence, dim: int,
                pairs: int = 256, backend: str = "numpy", dtype: str = "float64",
                memory_limit: int | None = None) -> dict[str, float]:
    """One linear-CE cell: exact aggregate, per-block RMS, per-block mean over sampled pairs."""
    from rmt.hessian import block_norms, block_ratio  # noqa: PLC0415

    N = max(2, int(round(dim / gamma)))
    model, X, sp = _draw_linear(int(C), float(sigma), N, int(dim), seed, backend, dtype)
    if pairs > 0:
        r = block_ratio(model, X, pairs=int(pairs), seed=sp, memory_limit=memory_limit)
        agg, diag, off = r.aggregate, r.diagonal_sq_sum, r.off_diagonal_sq_sum
        mean_pb, mean_sem = r.per_block_mean, r.per_block_sem
    else:
        s = block_norms(model, X, memory_limit=memory_limit)
        agg, diag, off = s.aggregate_ratio, s.diagonal, s.off_diagonal
        mean_pb = mean_sem = math.nan
    return {"aggregate": agg, "c_rms_per_block": C * agg / math.sqrt(C - 1.0),
            "c_mean_per_block": C * mean_pb, "c_mean_per_block_sem": C * mean_sem,
            "diagonal_sq_sum": diag, "off_diagonal_sq_sum": off}


def cell_hidden(C: int, sigma: float, gamma: float, loss: str, *, seed: np.random.SeedSequence,
                dim: int, hidden: int = 8, pairs: int = 256, backend: str = "numpy",
                dtype: str = "float64", memory_limit: int | None = None) -> dict[str, float]:
    """One hidden-net cell: W-blocks (all pairs) and V-blocks (sampled pairs) ratios."""
    from rmt.hessian import block_ratio  # noqa: PLC0415
    from rmt.models import OneHiddenLayer  # noqa: PLC0415

    N = max(2, int(round(dim / gamma)))
    sx, sm, sp = seed.spawn(3)
    xp = bk.xp_for(backend)
    X = bk.standard_normal((N, int(dim)), sx, xp, dtype)
    model = OneHiddenLayer.init(int(C), int(dim), int(hidden), float(sigma), "relu", seed=sm,
                                backend=backend, dtype=dtype)
    w = block_ratio(model, X, loss=loss, blocks="W", pairs="all", memory_limit=memory_limit)
    m = int(hidden)
    v = block_ratio(model, X, loss=loss, blocks="V", pairs=max(1, int(pairs)), seed=sp,
                    memory_limit=memory_limit)
    return {"w_aggregate": w.aggregate, "w_rms_per_block": w.aggregate / math.sqrt(m - 1.0),
            "w_mean_per_block": w.per_block_mean,
            "v_aggregate": v.aggregate, "v_rms_per_block": v.aggregate / math.sqrt(C - 1.0),
            "v_mean_per_block": v.per_block_mean,
            "w_dead_pairs": float(w.n_pairs_undefined)}


# --------------------------------------------------------------------------------------------
# cost model


def cell_flops(model: str, C: int, N: int, d: int, pairs: int, hidden: int = 8) -> float:
    """Estimated flops of one cell (see the module docstring)."""
    K = min(pairs, C * (C - 1))
    if model == "linear":
        return 4.0 * N * d * C + 3.0 * N * N * C + 2.0 * N * N * d + 2.0 * N * N * (K + min(K, C))
    m = hidden
    v = 4.0 * N * m * C + 3.0 * N * N * C + 2.0 * N * N * (K + min(K, C))
    w = 4.0 * N * N * d + 4.0 * N * N * m * m + 16.0 * N * C * (m * m + 2 * m)
    return v + w


def measure_rate(backend: str, dtype: str, n: int = 768) -> float:
    """Flops per second of one ``n × n × n`` matrix product on this machine (best of 3)."""
    xp = bk.xp_for(backend)
    a = bk.standard_normal((n, n), 0, xp, dtype)
    best = math.inf
    for _ in range(3):
        bk.synchronize(xp)
        t0 = time.perf_counter()
        _ = a @ a
        bk.synchronize(xp)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / max(best, 1e-9)


def calibrate(args: argparse.Namespace) -> float:
    """Effective flops per second of a real cell on this machine (and its current load).

    Runs one small warm-up cell, then one cell at ``C = 2000`` (or the largest C asked for, if
    smaller) at the smallest γ (the largest N), and divides :func:`cell_flops` by its time. The
    softmax's exponentials, memory traffic and Python overheads make this well below the
    matrix-product rate (about 0.3-0.5 of it here).
    """
    xp = bk.xp_for(args.backend)
    cell = cell_linear if args.model == "linear" else cell_hidden
    extra = {} if args.model == "linear" else {"loss": args.loss[0], "hidden": args.hidden}
    common = {"pairs": args.pairs, "backend": args.backend, "dtype": args.dtype,
              "memory_limit": args.memory_limit, **extra}
    ss = np.random.SeedSequence([args.seed, 0xCA11B])
    cell(5, args.sigma[0], args.gamma[0], seed=ss, dim=min(args.dim, 16), **common)
    C = int(min(2000, max(args.C) if args.C else 2000))
    g = min(args.gamma)
    N = max(2, int(round(args.dim / g)))
    bk.synchronize(xp)
    t0 = time.perf_counter()
    cell(C, args.sigma[0], g, seed=ss, dim=args.dim, **common)
    bk.synchronize(xp)
    sec = time.perf_counter() - t0
    return cell_flops(args.model, C, N, args.dim, args.pairs, args.hidden) / max(sec, 1e-9)


def plan_grid(args: argparse.Namespace, rate: float) -> tuple[list[int], list[tuple[int, float]],
                                                                float, str]:
    """The C values to run, per-C estimated seconds (all σ, γ, losses, seeds), total, a note."""
    budget = args.budget if args.budget is not None else BUDGET[args.backend]
    n_loss = len(args.loss) if args.model == "hidden" else 1

    def cost(C: int) -> float:
        sec = 0.0
        for g in args.gamma:
            N = max(2, int(round(args.dim / g)))
            f = cell_flops(args.model, C, N, args.dim, args.pairs, args.hidden)
            sec += f / rate + 0.05   # + per-cell overhead (Python, allocation, storing)
        return sec * len(args.sigma) * args.seeds * n_loss

    if args.C is not None:
        Cs = sorted(set(args.C))
        per = [(C, cost(C)) for C in Cs]
        return Cs, per, sum(s for _, s in per), "C values given with --C"
    grid = [C for C in C_GRID if args.c_max is None or C <= args.c_max]
    per, total, Cs = [], 0.0, []
    for C in grid:
        s = cost(C)
        if args.c_max is None and Cs and total + s > budget:
            note = (f"the default grid stops at C = {Cs[-1]}: C = {C} would take the estimated "
                    f"total to {total + s:.0f} s > budget {budget:g} s "
                    "(--budget/--c-max to change)")
            return Cs, per, total, note
        Cs.append(C)
        per.append((C, s))
        total += s
    note = "full grid" if args.c_max is None else f"grid up to --c-max {args.c_max}"
    return Cs, per, total, note


# --------------------------------------------------------------------------------------------
# grid, summary


def _defaults(args: argparse.Namespace) -> None:
    hidden = args.model == "hidden"
    if args.sigma is None:
        args.sigma = [1.0] if hidden else [0.5, 1.0, 2.0]
    if args.gamma is None:
        args.gamma = [0.5] if hidden else [0.5, 2.0]
    if args.dim is None:
        args.dim = 100 if hidden else 200
    if args.loss is None:
        args.loss = ["ce", "mse"]
    args.sigma = sorted(set(args.sigma))
    args.gamma = sorted(set(args.gamma))
    from rmt.predictions import MAX_SIGMA  # noqa: PLC0415

    if max(args.sigma) > MAX_SIGMA:
        raise ValueError(f"--sigma must be <= {MAX_SIGMA:g}, got {max(args.sigma):g}")


def make_grid(args: argparse.Namespace, Cs: Sequence[int]) -> Grid:
    fixed = {"dim": args.dim, "pairs": args.pairs, "backend": args.backend, "dtype": args.dtype,
             "memory_limit": args.memory_limit}
    params: dict[str, Any] = {"C": [int(c) for c in Cs], "sigma": args.sigma, "gamma": args.gamma}
    if args.model == "hidden":
        params["loss"] = list(args.loss)
        fixed["hidden"] = args.hidden
    return Grid(params, n_seeds=args.seeds, seed=args.seed, fixed=fixed)


def _stats(a: np.ndarray, axis: int = -1) -> dict[str, np.ndarray]:
    from scipy import stats  # noqa: PLC0415

    import warnings  # noqa: PLC0415

    n = np.sum(np.isfinite(a), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN rows (no sampled pairs)
        mean = np.nanmean(a, axis=axis)
        sd = np.nanstd(a, axis=axis, ddof=1)
        se = sd / np.sqrt(n)
        t = stats.t.ppf(0.5 + CI_LEVEL / 2, np.maximum(n - 1, 1))
    return {"mean": mean, "se": se, "ci_low": mean - t * se, "ci_high": mean + t * se}


def _key(**kw: Any) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in kw.items())


def _fit(C: np.ndarray, mean: np.ndarray, se: np.ndarray, pred: np.ndarray | None,
         fit_min_c: int) -> dict[str, Any] | None:
    """Slope of mean vs C over C ≥ fit_min_c (at least 3 points: else the largest 3), and the
    slope of the prediction at the same C with the same weights."""
    from rmt.predictions import fit_loglog_slope  # noqa: PLC0415

    ok = np.isfinite(mean) & (mean > 0) & np.isfinite(se) & (se > 0)
    idx = np.flatnonzero(ok & (C >= fit_min_c))
    how = f"C >= {fit_min_c}"
    if idx.size < 3:
        idx = np.flatnonzero(ok)[-3:]
        how = "the largest 3 C (too few above --fit-min-c)"
    if idx.size < 3:
        return None
    f = fit_loglog_slope(C[idx], mean[idx], se[idx], level=CI_LEVEL)
    out = {"slope": f.slope, "stderr": f.stderr, "ci": [f.ci_low, f.ci_high],
           "chi2_per_dof": f.chi2_per_dof, "C_range": list(f.x_range), "n_points": f.n_points,
           "range_rule": how}
    if pred is not None and np.all(np.isfinite(pred[idx])) and np.all(pred[idx] > 0):
        rel = se[idx] / mean[idx]
        out["prediction_slope"] = fit_loglog_slope(C[idx], pred[idx], pred[idx] * rel).slope
    return out


def assemble_linear(raw: Any, fit_min_c: int) -> Any:
    """Summary over seeds, predictions, prediction curves and fits, as a Dataset."""
    import xarray as xr  # noqa: PLC0415

    from rmt.predictions import predict_block_ratio, ratio_curve  # noqa: PLC0415

    ds = raw[[v for v in raw.data_vars if "seed" in raw[v].dims]].copy()
    fixed = raw.attrs["sweep_fixed"]
    d = int(fixed["dim"])
    Cs = np.asarray(ds["C"].values, dtype=float)
    sig = [float(s) for s in ds["sigma"].values]
    gam = [float(g) for g in ds["gamma"].values]
    for name in ("c_rms_per_block", "aggregate", "c_mean_per_block"):
        st = _stats(ds[name].values)
        for k, v in st.items():
            ds[f"{name}_{k}"] = (("C", "sigma", "gamma"), v)
    pred_c = np.full((Cs.size, len(sig), len(gam)), np.nan)
    pred_agg = np.full_like(pred_c, np.nan)
    kap = np.full((len(sig), len(gam)), np.nan)
    curve_C = np.unique(np.round(np.geomspace(2, max(Cs.max(), 2), 40))).astype(int)
    curve_c = np.full((len(sig), len(gam), curve_C.size), np.nan)
    fits: dict[str, Any] = {}
    for a, s in enumerate(sig):
        for b, g in enumerate(gam):
            N = max(2, int(round(d / g)))
            corr = "model" if d > 8 * s * s else "independent"
            for i, C in enumerate(Cs):
                p = predict_block_ratio(int(C), s, dim=d, n_samples=N, correction=corr)
                pred_c[i, a, b], pred_agg[i, a, b] = p.c_per_block, p.aggregate
                kap[a, b] = p.kappa
            curve_c[a, b] = ratio_curve(curve_C, s, dim=d, n_samples=N,
                                        correction=corr)["c_per_block"]
            m = ds["c_rms_per_block_mean"].values[:, a, b]
            se = ds["c_rms_per_block_se"].values[:, a, b]
            pb = _fit(Cs, m / Cs, se / Cs, pred_c[:, a, b] / Cs, fit_min_c)
            agg = _fit(Cs, ds["aggregate_mean"].values[:, a, b], ds["aggregate_se"].values[:, a, b],
                       pred_agg[:, a, b], fit_min_c)
            fits[_key(sigma=s, gamma=g)] = {"per_block_rms": pb, "aggregate": agg,
                                            "correction": corr, "N": N}
    ds["prediction_c_per_block"] = (("C", "sigma", "gamma"), pred_c)
    ds["prediction_aggregate"] = (("C", "sigma", "gamma"), pred_agg)
    ds["kappa_finite_d"] = (("sigma", "gamma"), kap)
    ds = ds.assign_coords(curve_C=curve_C)
    ds["curve_c_per_block"] = (("sigma", "gamma", "curve_C"), curve_c)
    ds["kappa_limit"] = (("sigma", "gamma"),
                         np.array([[_kappa(s, g) for g in gam] for s in sig]))
    ds.attrs = dict(raw.attrs)
    ds.attrs.update({"layout": LAYOUT["linear"], "fits": fits, "fit_min_c": fit_min_c,
                     "dim": d, "ci_level": CI_LEVEL,
                     "definitions": {
                         "c_rms_per_block": "C * (sum_{i!=j}|H_ij|^2/(C-1) / sum_i |H_ii|^2)^(1/2) "
                                            "= C * aggregate / sqrt(C-1) (exact, all pairs)",
                         "aggregate": "(sum_{i!=j}|H_ij|_F^2 / sum_i |H_ii|_F^2)^(1/2), exact",
                         "c_mean_per_block": "C * mean over sampled pairs of |H_ij|_F/|H_ii|_F",
                         "prediction_c_per_block": "rmt.predictions.predict_block_ratio "
                                                   "(correction per fits[...]['correction'])",
                         "kappa_finite_d": "C -> inf limit of the prediction at this d, N",
                         "kappa_limit": "kappa(sigma, gamma), d, N, C -> inf"}})
    return xr.Dataset(ds.data_vars, coords=ds.coords, attrs=ds.attrs)


def _kappa(s: float, g: float) -> float:
    from rmt.predictions import kappa  # noqa: PLC0415

    return float(kappa(s, g))


def assemble_hidden(raw: Any, fit_min_c: int) -> Any:
    import xarray as xr  # noqa: PLC0415

    from rmt.predictions import predict_hidden_ratio  # noqa: PLC0415

    ds = raw[[v for v in raw.data_vars if "seed" in raw[v].dims]].copy()
    fixed = raw.attrs["sweep_fixed"]
    d, m = int(fixed["dim"]), int(fixed["hidden"])
    Cs = np.asarray(ds["C"].values, dtype=float)
    dims = ("C", "sigma", "gamma", "loss")
    for name in ("w_rms_per_block", "w_aggregate", "w_mean_per_block", "v_rms_per_block",
                 "v_aggregate", "v_mean_per_block"):
        for k, v in _stats(ds[name].values).items():
            ds[f"{name}_{k}"] = (dims, v)
    losses = [str(x) for x in ds["loss"].values]
    gam = [float(g) for g in ds["gamma"].values]
    sig = [float(s) for s in ds["sigma"].values]
    pw = np.full((Cs.size, len(gam), len(losses)), np.nan)
    pv = np.full_like(pw, np.nan)
    for b, g in enumerate(gam):
        N = max(2, int(round(d / g)))
        for c, loss in enumerate(losses):
            for i, C in enumerate(Cs):
                pw[i, b, c] = predict_hidden_ratio(int(C), m, blocks="W", loss=loss, dim=d,
                                                   n_samples=N).per_block
                pv[i, b, c] = predict_hidden_ratio(int(C), m, blocks="V", loss=loss).per_block
    ds["prediction_w_per_block"] = (("C", "gamma", "loss"), pw)
    ds["prediction_v_per_block"] = (("C", "gamma", "loss"), pv)
    fits: dict[str, Any] = {}
    for a, s in enumerate(sig):
        for b, g in enumerate(gam):
            for c, loss in enumerate(losses):
                ix = (slice(None), a, b, c)
                entry = {}
                for blk, pred in (("w", pw[:, b, c]), ("v", pv[:, b, c])):
                    mean = ds[f"{blk}_rms_per_block_mean"].values[ix]
                    se = ds[f"{blk}_rms_per_block_se"].values[ix]
                    if np.all(np.nan_to_num(mean) == 0):
                        entry[blk] = {"exactly_zero": True,
                                      "max_abs": float(np.nanmax(np.abs(ds[f"{blk}_rms_per_block"]
                                                                        .values[ix])))}
                        continue
                    entry[blk] = _fit(Cs, mean, se, pred if np.all(pred > 0) else None,
                                      fit_min_c)
                fits[_key(sigma=s, gamma=g, loss=loss)] = entry
    ds.attrs = dict(raw.attrs)
    ds.attrs.update({"layout": LAYOUT["hidden"], "fits": fits, "fit_min_c": fit_min_c, "dim": d,
                     "hidden": m, "ci_level": CI_LEVEL,
                     "definitions": {
                         "w_rms_per_block": "W-blocks (rows of W): aggregate / sqrt(m-1)",
                         "v_rms_per_block": "V-blocks (rows of V): aggregate / sqrt(C-1)",
                         "prediction_w_per_block": "proofs.hidden_coupling (uniform softmax, "
                                                   "ReLU, orthogonal rows): rho/sqrt(C+1) CE, "
                                                   "rho/sqrt(C+2) MSE",
                         "prediction_v_per_block": "1/(C-1) CE (uniform softmax), 0 MSE"}})
    return xr.Dataset(ds.data_vars, coords=ds.coords, attrs=ds.attrs)


def summary_lines(ds: Any) -> list[str]:
    lines = []
    fits = ds.attrs.get("fits", {})
    Cs = [int(c) for c in ds["C"].values]
    if ds.attrs.get("layout") == LAYOUT["linear"]:
        d = ds.attrs["dim"]
        for a, s in enumerate(ds["sigma"].values):
            for b, g in enumerate(ds["gamma"].values):
                f = fits.get(_key(sigma=float(s), gamma=float(g)), {})
                lines.append(f"linear CE, sigma={float(s):g}, gamma={float(g):g} (d={d}, "
                             f"N={f.get('N')}); prediction: {f.get('correction')} finite-d terms; "
                             f"kappa(d,N) = {float(ds['kappa_finite_d'].values[a, b]):.4f}, "
                             f"kappa(sigma,gamma) = {float(ds['kappa_limit'].values[a, b]):.4f}")
                lines.append(f"  z = (measured - predicted)/SE, SE over {ds.sizes['seed']} seeds "
                             f"(Student t, {ds.sizes['seed'] - 1} dof)")
                lines.append(f"  {'C':>7} {'C*R_pb (RMS)':>20} {'predicted':>10} {'z':>6} "
                             f"{'C*mean ratio':>18} {'aggregate':>20}")
                for i, C in enumerate(Cs):
                    m = float(ds["c_rms_per_block_mean"].values[i, a, b])
                    se = float(ds["c_rms_per_block_se"].values[i, a, b])
                    p = float(ds["prediction_c_per_block"].values[i, a, b])
                    mm = float(ds["c_mean_per_block_mean"].values[i, a, b])
                    ms = float(ds["c_mean_per_block_se"].values[i, a, b])
                    ag = float(ds["aggregate_mean"].values[i, a, b])
                    ags = float(ds["aggregate_se"].values[i, a, b])
                    # at C = 2 the ratio is exactly 2 (b = 2a): rounding-level SE, no z
                    z = (m - p) / se if se > 1e-9 * abs(m) else math.nan
                    lines.append(f"  {C:>7d} {m:>11.4f} ± {se:<6.4f} {p:>10.4f} {z:>6.2f} "
                                 f"{mm:>9.4f} ± {ms:<6.4f} {ag:>11.5g} ± {ags:<7.2g}")
                for what, label, asym in (("per_block_rms", "per-block RMS", -1.0),
                                          ("aggregate", "aggregate", -0.5)):
                    fit = f.get(what)
                    if fit:
                        lines.append(
                            f"  slope {label}: {fit['slope']:.4f}, 95% CI [{fit['ci'][0]:.4f}, "
                            f"{fit['ci'][1]:.4f}] over {fit['range_rule']} "
                            f"({fit['C_range'][0]:g}..{fit['C_range'][1]:g}); prediction's slope "
                            f"there {fit.get('prediction_slope', math.nan):.4f}; "
                            f"C -> inf: {asym:g}")
    else:
        m = ds.attrs["hidden"]
        for key, entry in fits.items():
            lines.append(f"hidden net (m={m}, d={ds.attrs['dim']}), {key}:")
            for blk, name in (("w", "W-blocks (rows of W)"), ("v", "V-blocks (rows of V)")):
                e = entry.get(blk)
                if e is None:
                    lines.append(f"  {name}: too few points for a slope")
                elif e.get("exactly_zero"):
                    lines.append(f"  {name}: exactly 0 in every cell (max |ratio| = "
                                 f"{e['max_abs']:.3g})")
                else:
                    lines.append(f"  {name}: slope {e['slope']:.4f}, 95% CI [{e['ci'][0]:.4f}, "
                                 f"{e['ci'][1]:.4f}] over {e['range_rule']}; "
                                 f"hidden_coupling prediction's slope "
                                 f"{e.get('prediction_slope', math.nan):.4f}")
        sel = {"sigma": ds["sigma"].values[0], "gamma": ds["gamma"].values[0]}
        for loss in ds["loss"].values:
            lines.append(f"  per C ({loss}, sigma={float(sel['sigma']):g}, "
                         f"gamma={float(sel['gamma']):g}): C, W RMS ± se [pred], V RMS ± se [pred]")
            sub = ds.sel(**sel, loss=loss)
            pg = ds.sel(gamma=sel["gamma"], loss=loss)
            for i, C in enumerate(Cs):
                lines.append(
                    f"    {C:>7d} {float(sub['w_rms_per_block_mean'][i]):.5g} ± "
                    f"{float(sub['w_rms_per_block_se'][i]):.2g} "
                    f"[{float(pg['prediction_w_per_block'][i]):.5g}]  "
                    f"{float(sub['v_rms_per_block_mean'][i]):.5g} ± "
                    f"{float(sub['v_rms_per_block_se'][i]):.2g} "
                    f"[{float(pg['prediction_v_per_block'][i]):.5g}]")
    return lines


# --------------------------------------------------------------------------------------------
# figures


def _ci_ok(m: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple:
    lo = np.where(np.isfinite(lo) & (lo > 0), np.minimum(lo, m), m)
    hi = np.where(np.isfinite(hi), np.maximum(hi, m), m)
    return lo, hi


def make_figure(ds: Any, stem: str | Path) -> tuple[Path, ...]:
    """Figures from a summarised results file: the headline panels and the (σ, γ) grid."""
    if ds.attrs.get("layout") == LAYOUT["hidden"]:
        return _figure_hidden(ds, stem)
    from rmt import figures  # noqa: PLC0415

    stem = Path(stem)
    Cs = np.asarray(ds["C"].values, dtype=float)
    sig = [float(s) for s in ds["sigma"].values]
    gam = [float(g) for g in ds["gamma"].values]
    a = sig.index(1.0) if 1.0 in sig else 0
    b = gam.index(0.5) if 0.5 in gam else 0
    fits = ds.attrs["fits"]
    d = ds.attrs["dim"]
    written: list[Path] = []
    cc = np.asarray(ds["curve_C"].values, dtype=float)

    def panel(ax, a: int, b: int, kind: str, rescale: bool, legend: bool = True):
        s, g = sig[a], gam[b]
        f = fits[_key(sigma=s, gamma=g)]
        kap = float(ds["kappa_finite_d"].values[a, b])
        curve = np.asarray(ds["curve_c_per_block"].values[a, b])
        if kind == "per-block":
            m = ds["c_rms_per_block_mean"].values[:, a, b] / Cs
            lo, hi = (ds[f"c_rms_per_block_{k}"].values[:, a, b] / Cs
                      for k in ("ci_low", "ci_high"))
            pred = curve / cc
            fit = f.get("per_block_rms")
        else:
            m = ds["aggregate_mean"].values[:, a, b]
            lo, hi = (ds[f"aggregate_{k}"].values[:, a, b] for k in ("ci_low", "ci_high"))
            pred = curve * np.sqrt(cc - 1) / cc
            fit = f.get("aggregate")
        lo, hi = _ci_ok(m, lo, hi)
        slope = (fit["slope"], fit["ci"][0], fit["ci"][1]) if fit else None
        # limit: C·R_pb and √C·R_agg both tend to κ(d, N) (finite_c_ratio.aggregate)
        figures.ratio_vs_c(ax, Cs, m, lo, hi, cc, pred, kap, kind=kind,
                           fitted_slope=None if rescale else slope, rescale=rescale,
                           label="measured (RMS)", prediction_label="finite-C prediction",
                           limit_label=r"$C\to\infty$ at this $d, N$", legend=legend)
        if rescale and kind == "per-block":
            mm = ds["c_mean_per_block_mean"].values[:, a, b]
            ok = np.isfinite(mm)
            if ok.any():
                ax.plot(Cs[ok], mm[ok], "s", ms=3, mfc="none", color=figures.OKABE_ITO["orange"],
                        label="mean of ratios", zorder=2)
                if legend:
                    ax.legend(loc="best", fontsize=6.5, frameon=False)
        ax.set_title(rf"$\sigma={s:g}$, $\gamma={g:g}$, $d={d}$", fontsize=8)
        return ax

    fig, axes = figures.figure("double", nrows=2, ncols=2, aspect=0.72)
    panel(axes[0, 0], a, b, "per-block", False)
    panel(axes[0, 1], a, b, "aggregate", False)
    panel(axes[1, 0], a, b, "per-block", True)
    panel(axes[1, 1], a, b, "aggregate", True)
    written += list(figures.save(fig, stem))
    if len(sig) * len(gam) > 1:
        fig, axes = figures.figure("double", nrows=len(gam), ncols=len(sig), squeeze=False,
                                   aspect=0.32 * len(gam) + 0.05)
        for bb in range(len(gam)):
            for aa in range(len(sig)):
                panel(axes[bb, aa], aa, bb, "per-block", True, legend=(aa == 0 and bb == 0))
        written += list(figures.save(fig, stem.with_name(stem.name + "_grid")))
    return tuple(written)


def _figure_hidden(ds: Any, stem: str | Path) -> tuple[Path, ...]:
    from rmt import figures  # noqa: PLC0415

    stem = Path(stem)
    Cs = np.asarray(ds["C"].values, dtype=float)
    fits = ds.attrs["fits"]
    s, g = float(ds["sigma"].values[0]), float(ds["gamma"].values[0])
    losses = [str(x) for x in ds["loss"].values]
    panels = [(blk, loss) for blk in ("w", "v") for loss in losses]
    ncols = len(losses)
    fig, axes = figures.figure("double", nrows=2, ncols=ncols, squeeze=False,
                               aspect=0.72 if ncols == 2 else 1.1)
    for ax, (blk, loss) in zip(axes.ravel(), panels):
        sub = ds.sel(sigma=s, gamma=g, loss=loss)
        m = np.asarray(sub[f"{blk}_rms_per_block_mean"].values, dtype=float)
        name = "W" if blk == "w" else "V"
        title = f"{name}-blocks, {loss.upper()}"
        if not np.any(m > 0):
            ax.text(0.5, 0.5, f"{title}:\nexactly 0 for every C\n(A = I: block-diagonal)",
                    ha="center", va="center", transform=ax.transAxes, fontsize=8)
            ax.set_axis_off()
            continue
        lo, hi = _ci_ok(m, sub[f"{blk}_rms_per_block_ci_low"].values,
                        sub[f"{blk}_rms_per_block_ci_high"].values)
        pred = np.asarray(ds.sel(gamma=g, loss=loss)[f"prediction_{blk}_per_block"].values)
        f = fits.get(_key(sigma=s, gamma=g, loss=loss), {}).get(blk)
        slope = (f["slope"], f["ci"][0], f["ci"][1]) if f and "slope" in f else None
        figures.ratio_vs_c(ax, Cs, m, lo, hi, Cs, pred, None, kind="per-block",
                           fitted_slope=slope, label="measured (RMS)",
                           prediction_label="p = 1/C theory" if blk == "w" else "1/(C−1)")
        ax.set_title(title + rf", $\sigma={s:g}$, $m={ds.attrs['hidden']}$", fontsize=8)
    return figures.save(fig, stem)


# --------------------------------------------------------------------------------------------
# scale check


def _rss_now() -> int:
    """Resident set size of this process now, in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _reset_peak() -> bool:
    """Reset the kernel's resident high-water mark (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    """Resident high-water mark in bytes (VmHWM; getrusage's maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def scale_check(args: argparse.Namespace) -> list[str]:
    """One block_ratio at (N, d, C) in bounded memory, timed, and extrapolated."""
    from rmt.hessian import block_ratio  # noqa: PLC0415

    N, d = args.N, args.d
    C = args.C[0] if args.C else 16000
    xp = bk.xp_for(args.backend)
    rate = measure_rate(args.backend, args.dtype)
    f = cell_flops("linear", C, N, d, 4096)
    lines = [f"scale check on {bk.device_name(xp)} ({args.backend}, {args.dtype}); measured "
             f"matrix-product rate {rate / 1e9:.1f} GFLOP/s",
             f"  size N={N}, d={d}, C={C}; memory_limit={args.memory_limit or 'auto'} bytes; "
             f"estimated {f / 1e9:.1f} GFLOP -> {f / rate:.1f} s"]
    model, X, sp = _draw_linear(C, 1.0, N, d, np.random.SeedSequence(args.seed), args.backend,
                                args.dtype)
    rss_in = _rss_now()          # resident now: interpreter, libraries and the inputs
    reset = _reset_peak()        # so that the peak below is block_ratio's, not the drawing's
    bk.synchronize(xp)
    t0 = time.perf_counter()
    r = block_ratio(model, X, pairs=4096, seed=sp, memory_limit=args.memory_limit)
    bk.synchronize(xp)
    sec = time.perf_counter() - t0
    peak = _peak_rss()
    isz = np.dtype(args.dtype).itemsize
    lines += [f"  block_ratio: {sec:.1f} s ({f / sec / 1e9:.1f} GFLOP/s achieved)",
              "  " + str(r).replace("\n", "\n  "),
              f"  host memory: resident before block_ratio {rss_in / 2**20:.0f} MiB (inputs X + V "
              f"= {(N * d + C * d) * isz / 2**20:.0f} MiB); peak {peak / 2**20:.0f} MiB, i.e. "
              f"{(peak - rss_in) / 2**20:.0f} MiB above it, of which the centred copy of V "
              f"(not counted by memory_limit) is {C * d * isz / 2**20:.0f} MiB"
              + ("" if reset else " (peak not reset: it may include drawing the inputs)")
              + ("" if args.backend == "numpy" else " (device memory not shown)")]
    Nt, dt, Ct = LLM_SIZE
    ft = cell_flops("linear", Ct, Nt, dt, 4096)
    lines += [f"  extrapolation to N={Nt}, d={dt}, C={Ct}: {ft / 1e12:.1f} TFLOP -> "
              f"{ft / (f / sec):.0f} s at the rate achieved here; "
              f"{ft / 55e12:.2f} s at the H100 fp64 GEMM floor (55 TFLOP/s); inputs X + V + "
              f"centred V = {(Nt * dt + 2 * Ct * dt) * isz / 2**30:.2f} GiB, the chunked loops "
              f"stay under memory_limit (whole-row tiles need {(72 * Nt * Nt) / 2**30:.1f} GiB "
              "for fp64; below that the planner splits the rows)"]
    return lines


# --------------------------------------------------------------------------------------------
# main


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from rmt import results  # noqa: PLC0415

    try:
        if args.scale_check:
            for line in scale_check(args):
                print(line)
            return 0
        import xarray  # noqa: F401, PLC0415 - fail early with the extra's name

        _defaults(args)
        if args.redraw:
            ds = results.open(args.out)
            if ds.attrs.get("layout") not in LAYOUT.values():
                raise ValueError(f"{str(args.out)!r} is not a results file of {PROG}")
        else:
            rate = calibrate(args)
            Cs, per, total, note = plan_grid(args, rate)
            if not args.quiet:
                cost = ("4NdC + 3N^2C + 2N^2d + 2N^2(K+min(K,C))" if args.model == "linear" else
                        "4NmC + 3N^2C + 2N^2(K+min(K,C)) + 4N^2(d+m^2) + 16NC(m^2+2m)")
                print(f"{PROG}: {args.model} model on {bk.device_name(bk.xp_for(args.backend))}; "
                      f"effective rate of a calibration cell {rate / 1e9:.1f} GFLOP/s; cost per "
                      f"cell ~ {cost} flops (O(N^2(d+C)))")
                print("  estimated seconds per C (all sigma, gamma, seeds): " + ", ".join(
                    f"{C}: {s:.1f}" for C, s in per))
                print(f"  estimated total {total:.0f} s; {note}")
            cell = cell_linear if args.model == "linear" else cell_hidden
            t0 = time.perf_counter()
            raw = run_from_args(cell, make_grid(args, Cs), args, backend=args.backend)
            wall = time.perf_counter() - t0
            assemble = assemble_linear if args.model == "linear" else assemble_hidden
            ds = assemble(raw, args.fit_min_c)
            ds.attrs.update({"wall_seconds_sweep": wall, "estimated_seconds": total,
                             "grid_note": note})
            results.save(ds, args.out)
            ds = results.open(args.out)
            if not args.quiet:
                print(f"  sweep wall time {wall:.0f} s (estimated {total:.0f} s)")
        written = [str(args.out)]
        if not args.no_figure:
            written += [str(p) for p in make_figure(ds, Path(args.out).with_suffix(""))]
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split())
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2
    if not args.quiet:
        for line in summary_lines(ds):
            print(line)
        print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
