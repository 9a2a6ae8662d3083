"""Spectra of a diagonal and an off-diagonal Hessian block of the linear CE model vs their laws.

    python -m simulations.block_spectra --help
    python -m simulations.block_spectra                                   # CPU defaults, < 1 min
    python -m simulations.block_spectra --n-classes 10 100 --sigma 0.5 1 --trials 50
    python -m simulations.block_spectra --scheduler processes             # local worker processes
    python -m simulations.block_spectra --scheduler tcp://HOST:8786       # a Dask cluster
    python -m simulations.block_spectra --redraw                          # figure from the file

``C·H_ii`` and ``−C²·H_ij`` with dependent and independent weights against their weighted
Marchenko–Pastur laws: what a cell draws and measures, and the results file, are described in
:mod:`rmt.experiments.block_spectra`. The sweep's cells are ``--n-classes`` × ``--sigma`` ×
``--trials`` seeds (:mod:`rmt.sweep`: each finished cell is stored in ``OUT.cells/`` at once, so a
killed run resumes and a rerun computes nothing new). The numbers do not depend on the scheduler:
run from the command line, each process uses one BLAS thread, as Dask's workers do (a
multithreaded ``eigvalsh`` rounds differently). ``--out STEM`` without a suffix means
``STEM.nc``; the figure ``OUT`` without suffix + ``.pdf`` / ``.png`` is drawn from the results
file alone. Needs the ``sweep`` extra (xarray; Dask for ``--scheduler`` other than ``local``).
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Before NumPy loads OpenBLAS: one BLAS thread per process, as in Dask's workers (and faster
    # for these sizes on shared cores). A multithreaded eigvalsh rounds differently, so this
    # is what makes --scheduler local give the same numbers as the other schedulers, to the
    # last bit. An explicit OPENBLAS_NUM_THREADS (or OMP_/MKL_) is respected.
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.cli import ArgumentParser, run_command
from rmt.experiments.block_spectra import BLOCKS, CI_LEVEL, LAYOUT, assemble, cell, summary_lines
from rmt.sweep import Grid, add_sweep_arguments, run_from_args
from rmt.validation import check_memory, check_writable, int_arg, real_arg

PROG = "python -m simulations.block_spectra"
MAX_FIGURE_ROWS = 12


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG,
                description="Spectra of C·H_ii and −C²·H_ij of the linear CE model (dependent and "
                            "independent weights) against their weighted Marchenko–Pastur laws, "
                            "as a sweep over C, σ and seeds (see the module docstring).")
    p.add_argument("--dim", type=int_arg(1), default=400, help="d (default 400)")
    p.add_argument("--n-samples", type=int_arg(1), default=800,
                   help="N (default 800, so γ = d/N = 1/2)")
    p.add_argument("--n-classes", type=int_arg(2), nargs="+", default=[10],
                   metavar="C", help="C, one value or several to sweep (default 10)")
    p.add_argument("--sigma", type=real_arg(0.0), nargs="+", default=[1.0],
                   metavar="SIGMA",
                   help="logit scale σ: V_ij ~ N(0, σ²/d); one value or several (default 1)")
    p.add_argument("--trials", type=int_arg(2), default=20,
                   help="Monte Carlo trials (seeds) per (C, σ) (default 20)")
    p.add_argument("--bins", type=int_arg(2), default=60,
                   help="histogram bins per block (default 60)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="base seed")
    p.add_argument("--backend", choices=bk.BACKENDS, default="numpy")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--law-samples", type=int_arg(1000), default=2**20,
                   help="logit draws for each block weight law (default 2^20)")
    p.add_argument("--no-figure", action="store_true", help="write the results file only")
    p.add_argument("--redraw", action="store_true",
                   help="run nothing: print the summary and redraw the figure from the results "
                        "file --out")
    add_sweep_arguments(p, default_out="results/block_spectra.nc")
    return p


def make_grid(args: Any) -> Grid:
    """The sweep: ``n_classes`` × ``sigma`` × ``trials`` seeds, everything else fixed."""
    return Grid({"n_classes": list(args.n_classes), "sigma": list(args.sigma)},
                n_seeds=args.trials, seed=args.seed,
                fixed={"dim": args.dim, "n_samples": args.n_samples, "bins": args.bins,
                       "law_samples": args.law_samples, "law_seed": args.seed,
                       "backend": args.backend, "dtype": args.dtype})


def cell_memory(args: Any) -> list[tuple[str, float]]:
    """What one cell holds at once (per worker): the four d × d blocks, the eigensolver's
    float64 copies and workspace, and the data ``X``, ``X̃`` with the weights."""
    isz = 4 if args.dtype == "float32" else 8
    d, N = float(args.dim), float(args.n_samples)
    return [("four d × d blocks", 4 * d * d * isz),
            ("eigensolver copies and workspace", 6 * d * d * 8),
            ("X, X̃ and weights: 2 × N × d", (2 * N * d + 4 * N) * isz)]


# --------------------------------------------------------------------------------------------
# figure (from the results Dataset alone)


#: The x-range of a panel ends at this quantile of the block's law (heavy-tailed weights leave
#: most of the support nearly empty).
X_QUANTILE = 0.995
_TITLES = {"diag": "diagonal block", "offdiag": "off-diagonal block"}


def _law_bins(x: np.ndarray, pdf: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The law's mean density over each histogram bin (what a histogram estimates, also in
    the bins that straddle a support edge) and its CDF on ``x`` (trapezoid rule)."""
    from scipy.integrate import cumulative_trapezoid  # noqa: PLC0415

    cdf = cumulative_trapezoid(pdf, x, initial=0.0)
    return np.diff(np.interp(edges, x, cdf)) / np.diff(edges), cdf


def make_figure(ds: Any, stem: str | Path) -> tuple[Path, ...]:
    """Per (C, σ) (at most :data:`MAX_FIGURE_ROWS`) two rows, one column per block: the mean
    density of the dependent-weight spectrum over seeds with its 95% band against the law's
    bin-averaged density, and below it the paired difference dependent − independent per bin
    with its 95% Student-t band. Uses the results Dataset only."""
    from rmt import figures  # noqa: PLC0415 - matplotlib only when a figure is wanted
    from rmt.stats import critical_value, mean_estimate  # noqa: PLC0415

    combos = [(C, s) for C in ds["n_classes"].values for s in ds["sigma"].values]
    combos = combos[:MAX_FIGURE_ROWS]
    n = int(ds.sizes["seed"])
    fig, axes = figures.figure("double", height=min(20.0, 0.6 + 3.3 * len(combos)),
                               nrows=2 * len(combos), ncols=len(BLOCKS), squeeze=False)
    axes[0, 0].get_gridspec().set_height_ratios([2.2, 1.0] * len(combos))
    blue, black = figures.OKABE_ITO["blue"], figures.OKABE_ITO["black"]
    t = critical_value(CI_LEVEL, n - 1)
    for k, (C, s) in enumerate(combos):
        r = ds.sel(n_classes=C, sigma=s)
        for col, (b, (_, _, _, label)) in enumerate(BLOCKS.items()):
            top, bot = axes[2 * k, col], axes[2 * k + 1, col]
            rb = r.sel(block=b)
            e = rb["edges"].values
            dep = rb.sel(coupling="dependent")
            law, cdf = _law_bins(rb["law_x"].values, rb["law_pdf"].values, e)
            top.stairs(dep["density_mean"].values, e, color=blue, lw=1.0,
                       label="dependent weights (mean)")
            top.fill_between(e[:-1], dep["density_ci_low"].values, dep["density_ci_high"].values,
                             step="post", color=blue, alpha=0.3, lw=0, label="its 95% CI")
            top.stairs(law, e, color=black, lw=0.9, ls="--", label="law, mean over each bin")
            diff = (dep["density"] - rb.sel(coupling="independent")["density"]).values
            est = mean_estimate(diff, axis=list(dep["density"].dims).index("seed"))
            m, half = np.asarray(est.value), t * np.asarray(est.stderr)
            bot.stairs(m, e, color=blue, lw=1.0)
            bot.fill_between(e[:-1], m - half, m + half, step="post", color=blue, alpha=0.3,
                             lw=0)
            bot.axhline(0.0, color=black, lw=0.6)
            x_hi = float(np.interp(X_QUANTILE, cdf / cdf[-1], rb["law_x"].values))
            for ax in (top, bot):
                ax.set_xlim(e[0], min(e[-1], 1.05 * x_hi))
            ks = float(dep["ks_law_mean"])
            kdi = float(rb["ks_dep_vs_ind_mean"])
            top.set_title(f"{_TITLES[b]} {label}, $C={int(C)}$, $\\sigma={float(s):g}$\n"
                          f"KS to law {ks:.3f}; dependent vs independent {kdi:.3f}", fontsize=7.5)
            top.set_ylabel("density")
            top.set_ylim(bottom=0)
            bot.set_ylabel("dep. − ind.", fontsize=7)
            bot.set_xlabel(f"eigenvalue $\\lambda$ of {label}")
            if k == 0 and col == 0:
                with figures.style():
                    top.legend(frameon=False, fontsize=6.5)
    fig.suptitle(f"Linear CE model at init, $d={ds.attrs['dim']}$, "
                 f"$N={ds.attrs['n_samples']}$", fontsize=8)
    figures.caption(fig, f"Upper panels: eigenvalue density of the block with dependent "
                    f"weights, histogram mean over {n} seeds (data, V redrawn per seed) with its "
                    f"{CI_LEVEL:.0%} Student-t band ({n - 1} dof), against the weighted "
                    "Marchenko–Pastur law averaged over the same bins (so bins that straddle "
                    "the support edge are compared like with like). Lower panels: the paired "
                    "difference dependent − independent weights per bin (same seeds), mean "
                    f"with its {CI_LEVEL:.0%} band; 0 is the line the two would share. KS: "
                    "mean over seeds of the Kolmogorov–Smirnov distance to the law, and "
                    f"between the two spectra. x-range up to the law's {X_QUANTILE:.1%} "
                    "quantile.")
    return figures.save(fig, stem, ("pdf", "png"))


# --------------------------------------------------------------------------------------------
# command line


def _results_path(out: Path) -> Path:
    """``--out`` with ``.nc`` appended when it has no suffix (the old ``--out STEM`` form)."""
    out = Path(out)
    return out if out.suffix else out.with_name(out.name + ".nc")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv, _main)


def _main(args: Any) -> int:
    from rmt import results  # noqa: PLC0415

    args.out = _results_path(args.out)
    if args.redraw:
        ds = results.open(args.out)
        if ds.attrs.get("layout") != LAYOUT:
            raise ValueError(f"{str(args.out)!r} is not a results file of {PROG}")
    else:
        check_writable("--out", args.out)
        check_memory(f"--dim {args.dim} --n-samples {args.n_samples}", cell_memory(args),
                     args.backend, "lower --dim (the blocks are d × d) or --n-samples"
                     + (", or use --dtype float32" if args.dtype == "float64" else ""))
        raw = run_from_args(cell, make_grid(args), args, backend=args.backend)
        results.save(assemble(raw), args.out)
        ds = results.open(args.out)  # the summary and figure come from the file alone
    written = [str(args.out)]
    if not args.no_figure:
        written += [str(p) for p in make_figure(ds, args.out.with_suffix(""))]
    if not args.quiet:
        print("\n".join(summary_lines(ds)))
        print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
