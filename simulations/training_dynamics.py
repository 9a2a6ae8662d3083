"""Block structure along training (the dynamic force): a resumable sweep with Hessian snapshots.

    python -m simulations.training_dynamics --help
    python -m simulations.training_dynamics                          # one hidden layer, CPU
    python -m simulations.training_dynamics --models deep --seeds 3 --out results/training_deep.nc
    python -m simulations.training_dynamics --redraw                 # figures from the file

Each cell (:func:`rmt.training.run_cell`) trains one model — ``linear``, ``hidden``
(``z = V relu(W x)``, width ``--hidden``) or ``deep`` (``--depth`` weight matrices, hidden widths
``--hidden``), LeCun init — full batch (or ``--batch-size``) with GD or Adam on
``rmt.datasets.make_classification`` data (linear teacher, ``x ~ N(0, I_d)``; separable, so CE
has ``ℓ* = 0``; MSE ``ℓ*`` as in :func:`rmt.training.loss_star`), and records at 12 snapshots
the loss gap, the within-layer aggregate and per-block RMS ratios of every layer (rows as
blocks), the Frobenius norms of the Gauss–Newton and residual parts of every cross-layer block
with the derived bound, the mean softmax entropy and the effective number of rival classes.
The sweep is ``--models × --C × --losses × --optimizers × --seeds`` (rmt.sweep: finished cells
are kept in ``OUT.cells/``; a rerun resumes). ``OUT`` holds :func:`rmt.training.tidy`'s Dataset:
every quantity per seed and its mean with a 95% Student-t interval over seeds.

Figures (``OUT`` without suffix + ``_<name>.pdf/.png``): ``curves_<model>_<optimizer>`` (loss
gap, within-layer ratios, cross-layer norms against the step; bands: 95% CI over seeds);
``residual_vs_loss_<model>`` (‖residual part‖ against ℓ, per C, seed 0, log–log); ``heatmap``
(one-hidden-layer net at ``--heatmap-C``, CE, ``--heatmap-optimizer``, seed 0 of the sweep:
the Hessian and its residual part at 0, 50 and 100 % of training, one tile per pair of output
neurons, colour = RMS entry ``‖H_ij‖_F/√(n_i n_j)``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

if __name__ == "__main__":   # one BLAS thread per process, before NumPy loads OpenBLAS
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rmt.cli import ArgumentParser, run_command
from rmt.sweep import Grid, add_sweep_arguments, run_from_args
from rmt.validation import int_arg, real_arg

PROG = "python -m simulations.training_dynamics"
LAYOUT = "training_dynamics/1"
LR_KEYS = ("gd-ce", "gd-mse", "adam-ce", "adam-mse")


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Train with Hessian snapshots: within-layer "
                       "ratios and cross-layer blocks (Gauss-Newton / residual) along training, "
                       "as a sweep.")
    p.add_argument("--models", nargs="+", choices=("linear", "hidden", "deep"), default=["hidden"])
    p.add_argument("--C", type=int_arg(2), nargs="+", default=[10, 100, 1000])
    p.add_argument("--losses", nargs="+", choices=("ce", "mse"), default=["ce", "mse"])
    p.add_argument("--optimizers", nargs="+", choices=("gd", "adam"), default=["gd", "adam"])
    p.add_argument("--seeds", type=int_arg(2), default=5, help="seeds per cell (default 5)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="base seed")
    p.add_argument("--dim", type=int_arg(1), default=8, help="d (default 8)")
    p.add_argument("--hidden", type=int_arg(1), default=16,
                   help="hidden widths m (default 16 = 2d: the nets contain every linear map)")
    p.add_argument("--depth", type=int_arg(3), default=3, help="weight matrices of 'deep'")
    p.add_argument("--n-samples", type=int_arg(2), default=1024, help="N (default 1024)")
    p.add_argument("--steps", type=int_arg(1), default=600, help="updates (default 600)")
    for key, default in zip(LR_KEYS, (1.0, 0.03, 0.01, 0.01)):
        p.add_argument(f"--lr-{key}", type=real_arg(0.0, strict_min=True), default=default,
                       help=f"learning rate of {key} (default {default:g})")
    p.add_argument("--batch-size", type=int_arg(1), default=None,
                   help="mini-batch size (default: full batch)")
    p.add_argument("--heatmap-C", type=int_arg(2), default=100)
    p.add_argument("--heatmap-optimizer", choices=("gd", "adam"), default="gd")
    p.add_argument("--no-figure", action="store_true", help="write the results file only")
    p.add_argument("--redraw", action="store_true", help="run nothing; redraw from --out")
    p.add_argument("--also", type=Path, nargs="+", default=[], metavar="PATH",
                   help="with --redraw: more results files (e.g. other C) drawn and tabulated "
                        "with --out; figures and OUT_table.md go next to --out")
    p.add_argument("--no-heatmap", action="store_true", help="skip the heatmap (it retrains)")
    add_sweep_arguments(p, default_out="results/training_dynamics.nc")
    return p


def cell(model: str, C: int, loss: str, optimizer: str, *, seed: Any, **fixed: Any) -> dict:
    """One cell: :func:`rmt.training.run_cell` with the sweep's fixed arguments."""
    from rmt.training import run_cell  # noqa: PLC0415

    return run_cell(model, C, loss, optimizer, seed=seed, **fixed)


def make_grid(args: argparse.Namespace) -> Grid:
    lr = {k: getattr(args, f"lr_{k.replace('-', '_')}") for k in LR_KEYS}
    return Grid({"model": args.models, "C": args.C, "loss": args.losses,
                 "optimizer": args.optimizers}, n_seeds=args.seeds, seed=args.seed,
                fixed={"dim": args.dim, "hidden": args.hidden, "depth": args.depth,
                       "n_samples": args.n_samples, "n_steps": args.steps, "lr": lr,
                       "batch_size": args.batch_size})


# --------------------------------------------------------------------------------------------
# figures


def curves_figure(ds: Any, model: str, opt: str, stem: Path) -> tuple[Path, ...]:
    from rmt import figures as F  # noqa: PLC0415
    from rmt.training_figures import curves_vs_step  # noqa: PLC0415

    from rmt.experiments.training_dynamics import seeds_note  # noqa: PLC0415

    sub = ds.sel(model=model, optimizer=opt)
    step = np.asarray(ds["step"].max([d for d in ds["step"].dims if d != "snapshot"]))
    losses = list(np.asarray(sub["loss"]))
    pairs = [("Lm1_L", "L-1")] + ([("Lm2_L", "L-2")] if model == "deep" else [])
    panels = [("loss_gap", [("-", "loss_gap")], r"loss gap $\ell-\ell^*$"),
              ("ratio", [("-", "ratio_agg_L"), ("--", "ratio_agg_Lm1")], r"$R_{agg}$")]
    panels += [(rf": $H_{{W_{{{n}}}W_L}}$", [("-", f"cross_res_{k}"), ("--", f"cross_gn_{k}"),
                                             (":", f"bound_{k}")], r"$\|\cdot\|_F$ of parts")
               for k, n in pairs]
    fig, axes = F.figure("double", nrows=len(losses), ncols=len(panels), squeeze=False,
                         aspect=0.3 * len(losses) * (1.0 if len(panels) == 3 else 0.85))
    labels = [f"C = {c}" for c in np.asarray(sub["C"])]
    for i, loss in enumerate(losses):
        s = sub.sel(loss=loss)
        for j, (name, lines, ylabel) in enumerate(panels):
            for ls, v in lines:
                curves_vs_step(axes[i, j], step, s[f"{v}_mean"], s[f"{v}_ci_low"],
                               s[f"{v}_ci_high"], labels=labels if (i, j, ls) == (0, 0, "-")
                               else None, linestyle=ls, ylabel=ylabel)
            axes[i, j].set_title(f"{loss.upper()}, {opt}" + (name if name[0] == ":" else ""),
                                 fontsize=7)
    from matplotlib.lines import Line2D  # noqa: PLC0415

    axes[0, 0].legend(fontsize=6, frameon=False)
    styles = (("-", "$R_{agg}$: output layer (rows of $W_L$); norms: residual part"),
              ("--", "$R_{agg}$: layer $W_{L-1}$; norms: Gauss–Newton part"),
              (":", "derived bound on the residual part"))
    fig.legend([Line2D([], [], color="0.3", ls=ls, lw=1) for ls, _ in styles],
               [t for _, t in styles], loc="outside lower center", ncols=3, fontsize=6,
               frameon=False)
    fig.suptitle(f"{model} net, {opt}: means over {seeds_note(sub)}, bands = 95% t-CI\n"
                 r"$R_{agg} = (\Sigma_{i\neq j}\|H_{ij}\|_F^2/\Sigma_i\|H_{ii}\|_F^2)^{1/2}$, "
                 "rows as blocks (MSE output layer: exactly 0, not drawn); Frobenius norms of "
                 "whole cross-layer blocks", fontsize=6.5)
    return F.save(fig, stem)


def residual_figure(ds: Any, model: str, stem: Path) -> tuple[Path, ...]:
    from rmt import figures as F  # noqa: PLC0415
    from rmt.training_figures import residual_vs_loss  # noqa: PLC0415

    sub = ds.sel(model=model).isel(seed=0)
    combos = [(lo, op) for lo in np.asarray(sub["loss"]) for op in np.asarray(sub["optimizer"])]
    fig, axes = F.figure("double", ncols=len(combos), squeeze=False, aspect=0.3)
    for ax, (lo, op) in zip(axes[0], combos):
        s = sub.sel(loss=lo, optimizer=op)
        residual_vs_loss(ax, s["train_loss"], s["cross_res_Lm1_L"], labels=[f"C = {c}" for c in
                         np.asarray(s["C"])], ylabel=r"$\|R_{W_{L-1}W_L}\|_F$")
        ax.set_title(f"{str(lo).upper()}, {op} (seed 0)", fontsize=7)
    axes[0, 0].legend(fontsize=5.5, frameon=False)
    return F.save(fig, stem)


def heatmap_figure(args: argparse.Namespace, grid: Grid, stem: Path) -> tuple[Path, ...]:
    """Retrain seed 0 of (hidden, ``--heatmap-C``, CE, ``--heatmap-optimizer``) with the sweep's
    own seed (same trajectory) and draw its Hessian tiles at 0, 50 and 100 %."""
    from rmt import backend as bk  # noqa: PLC0415
    from rmt import figures as F  # noqa: PLC0415
    from rmt.datasets import make_classification  # noqa: PLC0415
    from rmt.optim import make_optimizer  # noqa: PLC0415
    from rmt.training import make_model, tiles_along_training  # noqa: PLC0415
    from rmt.training_figures import layer_tile_heatmap  # noqa: PLC0415

    C, opt = args.heatmap_C, args.heatmap_optimizer
    want = {"model": "hidden", "C": C, "loss": "ce", "optimizer": opt}
    if any(v not in grid.parameters[k] for k, v in want.items()):
        grid = Grid({k: [v] for k, v in want.items()}, n_seeds=1, seed=args.seed)
    index = next(c.index for c in grid.cells() if c.seed_index == 0 and dict(c.params) == want)
    s_data, s_model, _ = bk.spawn_seeds(grid.seed_for(index), 3)
    X, y = make_classification(args.n_samples, args.dim, C, seed=s_data)
    net = make_model("hidden", C, args.dim, args.hidden, seed=s_model)
    snaps = tiles_along_training(net, X, y, make_optimizer(opt, getattr(args, f"lr_{opt}_ce")),
                                 n_steps=args.steps)
    pos = np.concatenate([s[p][s[p] > 0] for s in snaps for p in ("full", "residual")])
    vmax = float(pos.max())
    vmin = max(float(np.quantile(pos, 0.001)), vmax * 1e-8)   # 8 decades: tiles below are dark
    fig, axes = F.figure("double", nrows=2, ncols=3, squeeze=False, aspect=0.68)
    for i, (part, name) in enumerate((("full", "Hessian"), ("residual", "residual part"))):
        for j, s in enumerate(snaps):
            im = layer_tile_heatmap(axes[i, j], s[part], [C, args.hidden], layer_names=["V", "W"],
                                    vmin=vmin, vmax=vmax)
            axes[i, j].set_title(f"{name}, {100 * s['step'] / args.steps:.0f} % (step "
                                 rf"{s['step']}), $\ell$ = {s['loss']:.3g}", fontsize=6.5)
        F.colorbar(axes[i, -1], im, label=r"$\|H_{ij}\|_F/\sqrt{n_in_j}$ (RMS entry per block)",
                   extend="min")
    fig.suptitle(f"one hidden layer, C = {C}, d = {args.dim}, m = {args.hidden}, N = "
                 f"{args.n_samples}, CE, {opt}, seed 0: one tile per pair of output neurons "
                 "(rows of V, then rows of W)", fontsize=7)
    return F.save(fig, stem)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv, _main)


def _main(args: argparse.Namespace) -> int:
    from rmt import results  # noqa: PLC0415
    from rmt.experiments.training_dynamics import (combine, markdown_table,  # noqa: PLC0415
                                                   summary_lines)
    from rmt.training import tidy  # noqa: PLC0415

    grid = make_grid(args)
    if args.also and not args.redraw:
        raise ValueError("--also needs --redraw")
    if args.redraw:
        files = [results.open(p) for p in (args.out, *args.also)]
        for p, f in zip((args.out, *args.also), files):
            if f.attrs.get("layout") != LAYOUT:
                raise ValueError(f"{str(p)!r} is not a results file of {PROG}")
        ds = combine(files) if args.also else files[0]
    else:
        # the importable module's cell (not __main__'s), so that workers import it
        f = importlib.import_module("simulations.training_dynamics").cell
        ds = tidy(run_from_args(f, grid, args))
        ds.attrs["layout"] = LAYOUT
        results.save(ds, args.out)
        ds = results.open(args.out)
    written = [str(args.out)]
    if "hidden" in np.asarray(ds["model"]):
        table = args.out.with_name(args.out.stem + "_table.md")
        results.write_bytes_atomic(table, (markdown_table(ds) + "\n").encode())
        written.append(str(table))
    if not args.no_figure:
        stem = args.out.with_suffix("")
        for model in np.asarray(ds["model"]):
            if str(model) != "linear":
                for opt in np.asarray(ds["optimizer"]):
                    written += curves_figure(ds, str(model), str(opt),
                                             Path(f"{stem}_curves_{model}_{opt}"))
                written += residual_figure(ds, str(model),
                                           Path(f"{stem}_residual_vs_loss_{model}"))
        if not args.no_heatmap:
            written += heatmap_figure(args, grid, Path(f"{stem}_heatmap"))
    if not args.quiet:
        print("\n".join(summary_lines(ds)))
        print("wrote " + ", ".join(str(w) for w in written))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
