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
and draws errors and κ against C (log-log) and the loss-gap curves.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rmt import backend as bk
from rmt.sweep import Grid, add_sweep_arguments, run_from_args
from rmt.validation import int_arg, real_arg

PROG = "python -m simulations.preconditioners"
APPROX = ("identity", "diagonal", "block_scalar", "block")
LABEL = {"identity": "identity (GD)", "diagonal": "diagonal (Adam)",
         "block_scalar": "block-scalar (Adam-mini)", "block": "block-diagonal (block Newton)"}
OPTS = ("gd", "adam", "adam-mini", "muon")
LEVEL = 0.95


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
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


class _Geo:
    """A geometric mean with its interval: the t-interval of ``log`` values, exponentiated (for
    κ, a positive, heavy-tailed quantity whose arithmetic t-interval can go below zero)."""

    def __init__(self, e) -> None:
        self.e = e
        self.value = np.exp(e.value)

    def ci(self, level: float):
        lo, hi = self.e.ci(level)
        return np.exp(lo), np.exp(hi)


def summary(ds, var: str):
    """Mean and 95% t-interval over seeds of ``var`` (geometric for κ), one row per remaining
    coordinate."""
    from rmt.stats import mean_estimate  # noqa: PLC0415

    a = np.asarray(ds[var].transpose("seed", ...).values)
    if var.startswith("kappa"):
        return _Geo(mean_estimate(np.log(a), axis=0))
    return mean_estimate(a, axis=0)


def _cell(e, i: int, fmt: str = ".3g") -> str:
    lo, hi = e.ci(LEVEL)
    return f"{e.value[i]:{fmt}} [{lo[i]:{fmt}}, {hi[i]:{fmt}}]"


def print_tables(paths: dict[str, Path]) -> None:
    """Markdown tables: mean [95% t-CI] over seeds."""
    from rmt import results  # noqa: PLC0415
    from rmt.stats import mean_estimate  # noqa: PLC0415

    for part in ("linear", "hidden"):
        if not paths[part].exists():
            continue
        ds = results.open(paths[part])
        C = ds["n_classes"].values
        print(f"\n{part} (d={ds.attrs.get('dim')}, N={ds.attrs.get('n_samples')}, "
              f"sigma={ds.attrs.get('sigma')}): mean [95% t-CI] over {ds.sizes['seed']} seeds "
              "(κ: geometric mean, t-CI of log κ)\n")
        print("| C | P | ‖H−P‖_F/‖H‖_F | ‖H−P‖₂/‖H‖₂ | κ(P^-1/2 H P^-1/2) on range(H) | "
              "‖ΠP⁺g − H⁺g‖/‖H⁺g‖ |")
        print("|---|---|---|---|---|---|")
        ests = {(a, q): summary(ds, f"{q}_{a}") for a in APPROX
                for q in ("frobenius_error", "spectral_error", "kappa", "newton_error")}
        for i, c in enumerate(C):
            for a in APPROX:
                cells = " | ".join(_cell(ests[(a, q)], i) for q in
                                   ("frobenius_error", "spectral_error", "kappa", "newton_error"))
                print(f"| {c} | {a} | {cells} |")
    if paths["optim"].exists():
        ds = results.open(paths["optim"])
        T = ds.sizes["seed"]
        print(f"\noptim (d={ds.attrs.get('dim')}, N={ds.attrs.get('n_samples')}): steps until "
              f"the loss gap is <= {ds.attrs.get('target_fraction')} x its initial value, mean "
              f"[95% t-CI] over the seeds that reached it (reached/{T}); gap after the budget "
              "(median over seeds)\n")
        print("| C | " + " | ".join(OPTS) + " |")
        print("|---|" + "---|" * len(OPTS))
        for c in ds["n_classes"].values:
            row = []
            for o in OPTS:
                k = o.replace("-", "_")
                st = ds[f"{k}_best_steps"].sel(n_classes=c).values
                g = ds[f"{k}_final_gap"].sel(n_classes=c).values
                ok = np.isfinite(st)
                if ok.sum() > 1:
                    e = mean_estimate(st[ok])
                    lo, hi = e.ci(LEVEL)
                    txt = f"{e.value:.1f} [{lo:.1f}, {hi:.1f}]"
                else:
                    txt = "—"
                row.append(f"{txt} ({ok.sum()}/{T}); gap {np.median(g):.1e}")
            print(f"| {c} | " + " | ".join(row) + " |")
        print("\nchosen learning rates (per seed):")
        for c in ds["n_classes"].values:
            print(f"  C={c}: " + "; ".join(
                f"{o} {np.round(ds[o.replace('-', '_') + '_best_lr'].sel(n_classes=c).values, 4)}"
                for o in OPTS))


def draw(paths: dict[str, Path], figdir: Path) -> list[Path]:
    from rmt import figures, results  # noqa: PLC0415

    out: list[Path] = []
    colors = dict(zip(APPROX, figures.PALETTE))
    for part in ("linear", "hidden"):
        if not paths[part].exists():
            continue
        ds = results.open(paths[part])
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
                    ax.plot(C, 1.4 / np.sqrt(C), ls="--", color="0.45", lw=0.8,
                            label=r"$\propto C^{-1/2}$")
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel(r"classes $C$")
                ax.set_ylabel(lab)
            axes[0].legend(fontsize=6, loc="lower left")
            blk = "rows of V (linear CE)" if part == "linear" else "rows of W (ReLU net, CE)"
            fig.suptitle(f"{blk}, d={ds.attrs.get('dim', '')}, N={ds.attrs.get('n_samples', '')}"
                         f"; mean and 95% t-CI over {T} seeds (κ: geometric)", fontsize=8)
            out += list(figures.save(fig, figdir / f"precond_{part}"))
    if paths["optim"].exists():
        ds = results.open(paths["optim"])
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
            fig.suptitle(f"linear CE, soft teacher targets; best rate per seed; median and "
                         f"range over {ds.sizes['seed']} seeds", fontsize=8)
            out += list(figures.save(fig, figdir / "precond_optim"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.part == "figures":
            paths = {k: getattr(args, k) for k in ("linear", "hidden", "optim")}
            print_tables(paths)
            for p in draw(paths, args.figdir):
                print(f"wrote {p}")
            return 0
        f, grid = make_grid(args)
        attrs = {"dim": args.dim, "n_samples": args.n_samples, "sigma": args.sigma,
                 "temperature": args.temperature, "part": args.part}
        if args.part == "optim":
            attrs["target_fraction"] = args.target_fraction
        run_from_args(f, grid, args, backend=args.backend, attrs=attrs)
        print(f"wrote {args.out}")
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
