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
``.pdf``/``.png`` (and ``_grid``) are drawn from that file alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.cli import ArgumentParser, hessian_memory, run_command
from rmt.experiments.block_ratio import (
    LAYOUT,
    assemble_hidden,
    assemble_linear,
    c_grid,
    cell_hidden,
    cell_linear,
    estimate_lines,
    fit_key,
    n_samples,
    scale_check,
    summary_lines,
)
from rmt.predictions import MAX_SIGMA
from rmt.sweep import Grid, add_sweep_arguments, budget, run_from_args
from rmt.validation import check_memory, check_writable, int_arg, real_arg

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


# --------------------------------------------------------------------------------------------
# figures


def _ci_ok(m: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple:
    lo = np.where(np.isfinite(lo) & (lo > 0), np.minimum(lo, m), m)
    hi = np.where(np.isfinite(hi), np.maximum(hi, m), m)
    return lo, hi


def _bars(ds: Any) -> str:
    """What every marker and bar of these figures is (for the caption)."""
    n = int(ds.sizes["seed"])
    return (f"Markers: mean over {n} seeds (data and initialisation redrawn per seed); bars: "
            f"{ds.attrs.get('ci_level', 0.95):.0%} Student-t CI of that mean ({n - 1} dof), "
            f"often smaller than the marker. Norms: Frobenius. ")


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
    d = int(ds.attrs["dim"])
    written: list[Path] = []
    cc = np.asarray(ds["curve_C"].values, dtype=float)
    fit_c = ds.attrs.get("fit_min_c", 100)
    mean_label = "mean of per-pair ratios"

    def panel(ax, a: int, b: int, kind: str, rescale: bool, legend: bool = True):
        s, g = sig[a], gam[b]
        f = fits[fit_key(sigma=s, gamma=g)]
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
                           label="measured (RMS over pairs)" if kind == "per-block"
                           else "measured", prediction_label="finite-C prediction",
                           limit_label=r"$C\to\infty$ at this $d, N$", legend=legend)
        if rescale and kind == "per-block":
            mm = ds["c_mean_per_block_mean"].values[:, a, b]
            ok = np.isfinite(mm)
            if ok.any():
                ax.plot(Cs[ok], mm[ok], "s", ms=3, mfc="none", color=figures.OKABE_ITO["orange"],
                        label=mean_label, zorder=2)
                if legend:
                    ax.legend(loc="best", fontsize=6.5, frameon=False)
        return ax

    pairs = int(ds.attrs.get("sweep_fixed", {}).get("pairs", 256))
    why_mean = (f"Squares: {mean_label} ‖H_ij‖_F/‖H_ii‖_F over {pairs} sampled pairs, times C; "
                "it sits below the RMS ratio because the RMS weights each pair by ‖H_ij‖²_F, "
                "which the few classes with the largest softmax probabilities dominate (the "
                "more so the larger σ: at σ = 2 a factor of 3 to 4 at C ≥ 10⁴).")
    fig, axes = figures.figure("double", nrows=2, ncols=2, aspect=0.72)
    for ax, (kind, rescale), what in zip(axes.ravel(), [("per-block", False), ("aggregate", False),
                                                        ("per-block", True), ("aggregate", True)],
                                         ["(a) per block, RMS over all ordered pairs i ≠ j",
                                          "(b) aggregate over all blocks", "(c) (a) × C",
                                          "(d) (b) × √C"]):
        panel(ax, a, b, kind, rescale)
        ax.set_title(what, fontsize=8)
    fig.suptitle(f"Linear CE model at init, blocks = rows of V; σ = {sig[a]:g}, γ = d/N = "
                 f"{gam[b]:g}, d = {d}, N = {n_samples(d, gam[b])}", fontsize=8.5)
    figures.caption(fig, _bars(ds) + f"Fitted slopes: weighted least squares over C ≥ {fit_c}, "
                    f"{ds.attrs.get('ci_level', 0.95):.0%} CI. Limits: C·R_pb and √C·R_agg → "
                    "κ(σ, d, N) as C → ∞. " + why_mean)
    written += list(figures.save(fig, stem))
    if len(sig) * len(gam) > 1:
        # Rows γ, columns σ; one y scale per column (σ sets the range), one y label.
        fig, axes = figures.figure("double", nrows=len(gam), ncols=len(sig), squeeze=False,
                                   aspect=0.3 * len(gam) + 0.05, sharex=True, sharey="col")
        for bb in range(len(gam)):
            for aa in range(len(sig)):
                ax = panel(axes[bb, aa], aa, bb, "per-block", True, legend=False)
                ax.set_ylabel("")
                ax.set_title(f"σ = {sig[aa]:g}, γ = {gam[bb]:g} (N = {n_samples(d, gam[bb])})",
                             fontsize=7.5)
                if bb < len(gam) - 1:
                    ax.set_xlabel("")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        with figures.style():
            fig.legend(handles, labels, loc="outside upper center", ncol=4, fontsize=7,
                       frameon=False)
            fig.supylabel("per-block RMS ratio × C,  C·‖H_ij‖_F / ‖H_ii‖_F", fontsize=8)
        figures.caption(fig, f"Linear CE model at init, d = {d}, blocks = rows of V. "
                        + _bars(ds) + why_mean)
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
        f = fits.get(fit_key(sigma=s, gamma=g, loss=loss), {}).get(blk)
        slope = (f["slope"], f["ci"][0], f["ci"][1]) if f and "slope" in f else None
        figures.ratio_vs_c(ax, Cs, m, lo, hi, Cs, pred, None, kind="per-block",
                           fitted_slope=slope, label="measured (RMS)",
                           prediction_label="p = 1/C theory" if blk == "w" else "1/(C−1)")
        ax.set_title(title + rf", $\sigma={s:g}$, $m={ds.attrs['hidden']}$", fontsize=8)
    return figures.save(fig, stem)


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
