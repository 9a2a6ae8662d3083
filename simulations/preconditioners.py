"""What block-diagonality buys Adam, Adam-mini and Muon: the tables and figures of issue 14.

    python -m simulations.preconditioners linear  --out results/precond_linear.nc
    python -m simulations.preconditioners hidden  --out results/precond_hidden.nc
    python -m simulations.preconditioners optim   --out results/precond_optim.nc
    python -m simulations.preconditioners figures --linear results/precond_linear.nc \\
        --hidden results/precond_hidden.nc --optim results/precond_optim.nc

``linear`` / ``hidden``: per cell (C, seed) one :func:`rmt.preconditioners.quality_trial` — the
identity, diagonal, block-scalar and block-diagonal approximations of the Hessian at
initialisation (linear CE model, or the W blocks of a ReLU net), their Frobenius and spectral
errors, κ on range(H) and Newton-step errors. ``optim``: per cell (C, optimiser, seed) one
:func:`rmt.optimizer_study.optimizer_trial` (learning rate tuned on a stated grid; steps to a
loss-gap target; gap curve). Each part is a resumable sweep (rmt.sweep: rerun the same command
to finish an interrupted run). ``figures`` prints the tables (mean and 95% t-interval over seeds)
and draws errors and κ against C (log-log) and the loss-gap curves; ``--tables PATH`` also
writes the tables as markdown. Summaries and tables: :mod:`rmt.experiments.preconditioners`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rmt import backend as bk
from rmt.cli import ArgumentParser, run_command
from rmt.experiments.preconditioners import (APPROX, LABEL, LEVEL, OPTS, markdown_tables,
                                             open_results, summary)
from rmt.sweep import Grid, add_sweep_arguments, run_from_args
from rmt.validation import check_writable, int_arg, real_arg

PROG = "python -m simulations.preconditioners"


def hessian_cell(n_classes: int, *, seed, dim: int, n_samples: int, hidden: int | None,
                 sigma: float, temperature: float, n_steps: int, backend: str) -> dict:
    from rmt.preconditioners import quality_trial  # noqa: PLC0415

    with bk.limit_blas_threads(1):
        return quality_trial(n_classes, dim, n_samples, hidden=hidden,
                             blocks="V" if hidden is None else "W", sigma=sigma,
                             temperature=temperature, method="auto" if hidden else "lanczos",
                             n_steps=n_steps, seed=seed, backend=backend)


def optim_cell(n_classes: int, *, seed, dim: int, n_samples: int, sigma: float,
               temperature: float, budget: int, target_fraction: float, backend: str) -> dict:
    from rmt.optimizer_study import optimizer_trial, soft_teacher_problem  # noqa: PLC0415

    out = {}
    with bk.limit_blas_threads(1):
        # One problem per cell, shared by the four optimisers: a paired comparison.
        pb = soft_teacher_problem(n_classes, dim, n_samples, sigma=sigma,
                                  temperature=temperature, seed=seed, backend=backend)
        for o in OPTS:
            t = optimizer_trial(o, n_classes, dim, n_samples, budget=budget,
                                target_fraction=target_fraction, problem=pb)
            k = o.replace("-", "_")
            out.update({f"{k}_best_lr": t.best_lr, f"{k}_best_steps": t.best_steps,
                        f"{k}_final_gap": t.final_gap, f"{k}_curve": t.curve,
                        f"{k}_steps": t.steps, f"{k}_gaps": t.gaps, f"{k}_lrs": t.lrs})
    out["lambda_max"] = pb.lambda_max
    return out


def _common(p: argparse.ArgumentParser, C: list[int], d: int, N: int, seeds: int) -> None:
    p.add_argument("--C", type=int_arg(2), nargs="+", default=C, help=f"classes (default {C})")
    p.add_argument("--dim", type=int_arg(1), default=d, help=f"d (default {d})")
    p.add_argument("--n-samples", type=int_arg(1), default=N, help=f"N (default {N})")
    p.add_argument("--sigma", type=real_arg(0.0), default=1.0, help="init scale (default 1)")
    p.add_argument("--temperature", type=real_arg(0.0, strict_min=True), default=1.0,
                   help="teacher temperature of the soft targets (default 1)")
    p.add_argument("--n-seeds", type=int_arg(2), default=seeds, help=f"seeds (default {seeds})")
    p.add_argument("--seed", type=int_arg(0), default=0, help="base seed (default 0)")
    p.add_argument("--backend", choices=bk.BACKENDS, default="numpy")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True, parser_class=ArgumentParser)
    p = sub.add_parser("linear", help="linear CE model, blocks = rows of V")
    _common(p, [10, 100, 1000, 10000], 200, 400, 4)
    p.add_argument("--n-steps", type=int_arg(2), default=40, help="Lanczos steps")
    add_sweep_arguments(p, default_out="results/precond_linear.nc")
    p = sub.add_parser("hidden", help="ReLU net, blocks = rows of W (dense)")
    _common(p, [10, 100, 1000], 200, 400, 4)
    p.add_argument("--hidden", type=int_arg(1), default=10, help="m (default 10)")
    add_sweep_arguments(p, default_out="results/precond_hidden.nc")
    p = sub.add_parser("optim", help="GD, Adam, Adam-mini, Muon on the soft-teacher problem")
    _common(p, [10, 100, 1000, 10000], 50, 100, 5)
    p.add_argument("--budget", type=int_arg(1), default=300, help="steps per run (default 300)")
    p.add_argument("--target-fraction", type=real_arg(0.0, 1.0, strict_min=True,
                                                      strict_max=True), default=0.01,
                   help="target: this fraction of the initial loss gap (default 0.01)")
    add_sweep_arguments(p, default_out="results/precond_optim.nc")
    p = sub.add_parser("figures", help="tables and figures from the results files")
    for name in ("linear", "hidden", "optim"):
        p.add_argument(f"--{name}", type=Path, default=Path(f"results/precond_{name}.nc"))
    p.add_argument("--figdir", type=Path, default=Path("simulations/figures"))
    p.add_argument("--tables", type=Path, default=None,
                   help="also write the tables as markdown to this file")
    return parser


def make_grid(args: argparse.Namespace) -> tuple:
    fixed = dict(dim=args.dim, n_samples=args.n_samples, sigma=args.sigma,
                 temperature=args.temperature, backend=args.backend)
    if args.part == "optim":
        fixed.update(budget=args.budget, target_fraction=args.target_fraction)
        return optim_cell, Grid({"n_classes": list(args.C)}, n_seeds=args.n_seeds,
                                seed=args.seed, fixed=fixed)
    fixed.update(hidden=getattr(args, "hidden", None), n_steps=getattr(args, "n_steps", 40))
    return hessian_cell, Grid({"n_classes": list(args.C)}, n_seeds=args.n_seeds,
                              seed=args.seed, fixed=fixed)


def _frobenius_references(ax, ds, part: str, C, colors) -> None:
    """Linear: the derived predictions and the retold O(1/C); hidden: a slope guide only."""
    b = summary(ds, "frobenius_error_block").value
    if part == "linear":
        from rmt.catalog.preconditioners import (block_prediction_curve,  # noqa: PLC0415
                                                 diagonal_prediction_curve)

        p = {"C": [int(c) for c in C], "sigma": float(ds.attrs["sigma"]),
             "dim": int(ds.attrs["dim"]), "n_samples": int(ds.attrs["n_samples"])}
        try:
            bp, dg = block_prediction_curve(p), diagonal_prediction_curve(p)
        except ValueError:       # outside the predictions' range (e.g. d ≤ 8σ²): data only
            return
        ax.plot(C, bp, ls="--", color=colors["block"], lw=0.8,
                label=r"predicted $r/\sqrt{1+r^2}$")
        ax.plot(C, dg, ls="--", color=colors["diagonal"], lw=0.8,
                label="predicted (diagonal)")
        ax.plot(C, dg[0] * C[0] / C, ls=":", color="0.3", lw=0.8,
                label=r"retold $O(1/C)$ (diagonal, from $C_0$)")
    else:
        ax.plot(C, b[0] * np.sqrt(C[0] / C), ls=":", color="0.3", lw=0.8,
                label=r"guide $\propto C^{-1/2}$")


def draw(paths: dict[str, Path], figdir: Path) -> list[Path]:
    from rmt import figures  # noqa: PLC0415

    out: list[Path] = []
    colors = dict(zip(APPROX, figures.PALETTE))
    for part in ("linear", "hidden"):
        ds = open_results(paths[part])
        if ds is None:
            continue
        C = ds["n_classes"].values.astype(float)
        T = ds.sizes["seed"]
        with figures.style():
            fig, axes = figures.figure("double", nrows=1, ncols=3, aspect=0.32)
            for ax, q, lab in zip(axes, ("frobenius_error", "spectral_error", "kappa"),
                                  (r"$\|H-P\|_F/\|H\|_F$", r"$\|H-P\|_2/\|H\|_2$",
                                   r"$\kappa(P^{-1/2}HP^{-1/2})$ on range$(H)$")):
                for a in APPROX:
                    e = summary(ds, f"{q}_{a}")
                    lo, hi = e.ci(LEVEL)
                    ax.errorbar(C, e.value, yerr=[e.value - lo, hi - e.value], marker="o",
                                ms=3, capsize=2, color=colors[a], label=LABEL[a])
                if q == "frobenius_error":
                    _frobenius_references(ax, ds, part, C, colors)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel(r"classes $C$")
                ax.set_ylabel(lab)
            h, lab = axes[0].get_legend_handles_labels()
            mine = [i for i, t in enumerate(lab) if t in LABEL.values()]
            refs = [i for i in range(len(lab)) if i not in mine]
            axes[1].legend([h[i] for i in mine], [lab[i] for i in mine], fontsize=5,
                           loc="lower left")
            axes[0].legend([h[i] for i in refs], [lab[i] for i in refs], fontsize=5,
                           loc="lower left")
            blk = "rows of V (linear CE)" if part == "linear" else "rows of W (ReLU net, CE)"
            fig.suptitle(f"H = layer Hessian at init, blocks = {blk}, d={ds.attrs.get('dim', '')},"
                         f" N={ds.attrs.get('n_samples', '')}; relative errors of the whole "
                         f"layer\nmean and 95% t-CI over {T} seeds (κ: geometric mean, t-CI of "
                         "log κ)", fontsize=7)
            out += list(figures.save(fig, figdir / f"precond_{part}"))
    ds = open_results(paths["optim"])
    if ds is not None:
        Cs = ds["n_classes"].values
        with figures.style():
            fig, axes = figures.figure("double", nrows=1, ncols=len(Cs), aspect=0.3,
                                       sharey=True)
            for ax, c in zip(np.atleast_1d(axes), Cs):
                for o, col in zip(OPTS, figures.PALETTE):
                    k = o.replace("-", "_")
                    cur = ds[f"{k}_curve"].sel(n_classes=c).transpose("seed", ...).values
                    t = np.arange(cur.shape[1])
                    med = np.nanmedian(cur, axis=0)
                    ax.plot(t, med, color=col, label=o)
                    ax.fill_between(t, np.nanmin(cur, axis=0), np.nanmax(cur, axis=0),
                                    color=col, alpha=0.2, lw=0)
                ax.set_yscale("log")
                ax.set_title(f"C = {c}", fontsize=8)
                ax.set_xlabel("step")
            np.atleast_1d(axes)[0].set_ylabel(r"$(\ell-\ell^*)/(\ell_0-\ell^*)$")
            np.atleast_1d(axes)[0].legend(fontsize=6)
            fig.suptitle(f"linear CE, soft teacher targets, d={ds.attrs.get('dim', '')}, "
                         f"N={ds.attrs.get('n_samples', '')}; loss gap of the best rate per seed: "
                         f"median (line) and range (band) over {ds.sizes['seed']} seeds",
                         fontsize=7)
            out += list(figures.save(fig, figdir / "precond_optim"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv, _main)


def _main(args: argparse.Namespace) -> int:
    from rmt.results import write_bytes_atomic  # noqa: PLC0415

    if args.part == "figures":
        paths = {k: getattr(args, k) for k in ("linear", "hidden", "optim")}
        if args.tables is not None:
            check_writable("--tables", args.tables)
        text = markdown_tables(paths)
        print(text)
        if args.tables is not None:
            print(f"wrote {write_bytes_atomic(args.tables, text.encode())}")
        for p in draw(paths, args.figdir):
            print(f"wrote {p}")
        return 0
    f, grid = make_grid(args)
    attrs = {"dim": args.dim, "n_samples": args.n_samples, "sigma": args.sigma,
             "temperature": args.temperature, "part": args.part}
    if args.part == "optim":
        attrs["target_fraction"] = args.target_fraction
    if args.part == "hidden":
        attrs["hidden"] = args.hidden
    run_from_args(f, grid, args, backend=args.backend, attrs=attrs)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
