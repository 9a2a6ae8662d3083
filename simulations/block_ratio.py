"""Off-/diagonal Hessian block ratios against the number of classes C, measured and predicted.

    python -m simulations.block_ratio --help
    python -m simulations.block_ratio                  # linear CE, C = 2..100,000
    python -m simulations.block_ratio --model hidden   # CE and MSE, C = 2..50,000
    python -m simulations.block_ratio --backend cupy --dim 1024      # C = 2..128,000
    python -m simulations.block_ratio --scale-check --N 1024 --d 256 --C 32000 --memory-limit 32e6
    python -m simulations.block_ratio --redraw         # summary + figures from the results file

What each cell measures (exact aggregate, per-block RMS and mean of ratios; W- and V-blocks of
the hidden net), the summary over seeds, the predictions and the slopes: see
:mod:`rmt.experiments.block_ratio`. The C grid is the 1-2-5 log grid from 2 up to ``--c-max``
(default 100,000 linear and 50,000 hidden with NumPy, 128,000 with CuPy), or ``--C``: a run's
parameters depend on its arguments only, so a rerun under any load resumes the same sweep. One
calibration cell gives this machine's effective rate, and the cost model
(:func:`rmt.sweep.budget.block_ratio_flops`, O(N²(d + C)) per cell) the estimated seconds per C
printed before the run; ``--budget`` only warns. Cells are kept in ``OUT.cells/`` (:mod:`rmt.sweep`:
resumable, ``--scheduler``); the summary goes into ``OUT`` (netCDF) and the figures ``OUT`` +
``.pdf``/``.png`` (and ``_grid``) are drawn from that file alone
(:mod:`simulations.block_ratio_figures`). With ``--model hidden`` the results file also holds the
CE W-block prediction at the run's σ (``--prediction-features``; see
:func:`rmt.experiments.block_ratio.add_finite_sigma_prediction`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rmt import backend as bk
from rmt.cli import ArgumentParser, hessian_memory, run_command
from rmt.experiments.block_ratio import (
    FINITE_SIGMA_FEATURES,
    LAYOUT,
    add_finite_sigma_prediction,
    assemble_hidden,
    assemble_linear,
    c_grid,
    cell_hidden,
    cell_linear,
    estimate_lines,
    scale_check,
    summary_lines,
)
from rmt.predictions import MAX_SIGMA
from rmt.sweep import Grid, add_sweep_arguments, budget, run_from_args
from rmt.validation import check_memory, check_writable, int_arg, real_arg
from simulations.block_ratio_figures import make_figure

PROG = "python -m simulations.block_ratio"
OUT = {"linear": "results/block_ratio.nc", "hidden": "results/block_ratio_hidden.nc"}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Off-/diagonal Hessian block ratios against C: "
                       "exact aggregate, per-block RMS and mean of ratios, with finite-C "
                       "predictions and log-log slopes (see the module docstring).")
    p.add_argument("--model", choices=("linear", "hidden"), default="linear",
                   help="linear z = Vx (CE; default --out results/block_ratio.nc), or one hidden "
                        "layer z = V relu(Wx) (CE and MSE; results/block_ratio_hidden.nc)")
    p.add_argument("--C", type=int_arg(2), nargs="+", default=None, metavar="C",
                   help="class counts (default: the log grid 2..--c-max)")
    p.add_argument("--c-max", type=int_arg(2), default=None,
                   help="largest C of the default grid (default 100000 linear, 50000 hidden; "
                        "128000 with --backend cupy)")
    p.add_argument("--sigma", type=real_arg(0.0, MAX_SIGMA, strict_min=True), nargs="+",
                   default=None, help="logit scales σ (default: 0.5 1 2 linear, 1 hidden)")
    p.add_argument("--gamma", type=real_arg(0.0, strict_min=True), nargs="+", default=None,
                   help="γ = d/N (default: 0.5 2 linear, 0.5 hidden)")
    p.add_argument("--dim", type=int_arg(2), default=None,
                   help="input dimension d (default 200 linear, 100 hidden); N = round(d/γ)")
    p.add_argument("--hidden", type=int_arg(2), default=8,
                   help="hidden units m (--model hidden; default 8)")
    p.add_argument("--loss", choices=("ce", "mse"), nargs="+", default=None,
                   help="losses (--model hidden; default ce mse)")
    p.add_argument("--prediction-features", type=int_arg(0), default=FINITE_SIGMA_FEATURES,
                   help="--model hidden: Monte Carlo draws for the CE W-block prediction at "
                        f"the run's sigma (rmt.hidden_prediction; about 1 s per C; 0: skip, "
                        f"else >= 1024; default {FINITE_SIGMA_FEATURES})")
    p.add_argument("--seeds", type=int_arg(2), default=4, help="seeds per grid point (default 4)")
    p.add_argument("--pairs", type=int_arg(0), default=256,
                   help="sampled pairs for the per-block mean of ratios (0: skip; default 256)")
    p.add_argument("--fit-min-c", type=int_arg(2), default=100,
                   help="fit log-log slopes over C >= this (default 100)")
    p.add_argument("--budget", type=real_arg(0.0, strict_min=True), default=None,
                   help="warn when the estimated seconds exceed this (the grid never changes)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="base seed")
    p.add_argument("--backend", choices=bk.BACKENDS, default="numpy")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--memory-limit", type=int_arg(1), default=None,
                   help="bytes for the chunked loops (default: half the free memory)")
    p.add_argument("--no-figure", action="store_true", help="write the results file only")
    p.add_argument("--redraw", action="store_true",
                   help="run nothing: summary and figures from the results file --out")
    g = p.add_argument_group("scale check", "one block_ratio at a given size, timed")
    g.add_argument("--scale-check", action="store_true",
                   help="run one block_ratio at --N --d --C (first value; default 16000) and "
                        "extrapolate to (8192, 1024, 128000)")
    g.add_argument("--N", type=int_arg(2), default=1024, help="samples (default 1024)")
    g.add_argument("--d", type=int_arg(1), default=256, help="dimension (default 256)")
    add_sweep_arguments(p, default_out=OUT["linear"])
    p.set_defaults(out=None)  # by --model (OUT), so that the two models never share a file
    return p


def resolve(args: Any) -> Any:
    """Fill the per-model defaults in place (a run is fixed by its arguments); return ``args``."""
    hidden = args.model == "hidden"
    if 0 < args.prediction_features < 1024:
        raise ValueError("--prediction-features must be 0 (skip) or an integer >= 1024, got "
                         f"{args.prediction_features}")
    args.sigma = sorted(set(args.sigma or ([1.0] if hidden else [0.5, 1.0, 2.0])))
    args.gamma = sorted(set(args.gamma or ([0.5] if hidden else [0.5, 2.0])))
    args.dim = args.dim or (100 if hidden else 200)
    args.loss = args.loss or ["ce", "mse"]
    args.out = Path(args.out or OUT[args.model])
    args.C = sorted(set(args.C)) if args.C else c_grid(args.backend, args.model, args.c_max)
    return args


def make_grid(args: Any) -> Grid:
    fixed = {"dim": args.dim, "pairs": args.pairs, "backend": args.backend, "dtype": args.dtype,
             "memory_limit": args.memory_limit}
    params: dict[str, Any] = {"C": [int(c) for c in args.C], "sigma": args.sigma,
                              "gamma": args.gamma}
    if args.model == "hidden":
        params["loss"] = list(args.loss)
        fixed["hidden"] = args.hidden
    return Grid(params, n_seeds=args.seeds, seed=args.seed, fixed=fixed)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv, _main)


def _main(args: Any) -> int:
    from rmt import results  # noqa: PLC0415

    if args.scale_check:
        check_memory(f"--N {args.N} --d {args.d} --C {args.C[0] if args.C else 16000}",
                     hessian_memory(args.N, args.d, args.C[0] if args.C else 16000, args.dtype),
                     args.backend, "lower --N, --d or --C")
        for line in scale_check(args.N, args.d, args.C[0] if args.C else 16000, seed=args.seed,
                                backend=args.backend, dtype=args.dtype,
                                memory_limit=args.memory_limit):
            print(line)
        return 0
    resolve(args)
    if args.redraw:
        ds = results.open(args.out)
        if ds.attrs.get("layout") not in LAYOUT.values():
            raise ValueError(f"{str(args.out)!r} is not a results file of {PROG}")
    else:
        check_writable("--out", args.out)
        n_max = max(round(args.dim / g) for g in args.gamma)
        check_memory(f"--dim {args.dim} with N = d/γ up to {n_max} and C up to {max(args.C)}",
                     hessian_memory(n_max, args.dim, max(args.C), args.dtype,
                                    args.hidden if args.model == "hidden" else None),
                     args.backend, "lower --dim, --c-max (or --C), or raise --gamma"
                     + (", or use --dtype float32" if args.dtype == "float64" else ""))
        results._import_xarray()  # the extra's name now, not after the calibration
        grid = make_grid(args)
        lines, estimate = estimate_lines(args.model, grid, args.budget)
        if not args.quiet:
            print("\n".join(lines))
        cell = cell_linear if args.model == "linear" else cell_hidden
        wall, raw = budget.time_call(lambda: run_from_args(cell, grid, args,
                                                           backend=args.backend))
        ds = (assemble_linear if args.model == "linear" else assemble_hidden)(raw, args.fit_min_c)
        if args.model == "hidden" and args.prediction_features:
            if not args.quiet:
                print(f"  finite-sigma CE W-block prediction at {len(args.C)} values of C "
                      "(rmt.hidden_prediction, about 1 s each)")
            add_finite_sigma_prediction(ds, args.prediction_features)
        ds.attrs.update({"wall_seconds_sweep": wall, "estimated_seconds": estimate})
        results.save(ds, args.out)
        ds = results.open(args.out)
        if not args.quiet:
            print(f"  sweep wall time {wall:.0f} s (estimated {estimate:.0f} s)")
    written = [str(args.out)]
    if not args.no_figure:
        written += [str(p) for p in make_figure(ds, Path(args.out).with_suffix(""))]
    if not args.quiet:
        print("\n".join(summary_lines(ds)))
        print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
