"""The Lindeberg step measured: how fast the dependent and independent weighted covariances agree.

    python -m simulations.lindeberg --help
    python -m simulations.lindeberg --out results/lindeberg                  # CPU defaults
    python -m simulations.lindeberg --backend cupy --out results/lindeberg_gpu   # d up to 8192

For the linear CE model at initialisation and the block weight ``C·p_i(1 − p_i)``
(``--weights diag``, the weight of ``C·H_ii``) or ``C²·p_i p_j`` (``--weights offdiag``, of
``−C²·H_ij``) it measures (:mod:`rmt.experiments.lindeberg`, on the paths of
:mod:`rmt.lindeberg`):

1. **The rate.** For each ``d`` on a log grid and each regime of ``C`` (fixed ``C``; ``C = d/4``;
   ``C = d``): ``sup_{t, z} |E s_t(z) − E s_0(z)|`` on the smooth path
   ``w_n(t) = f(V(√t x_n + √(1−t) x̃_n))``, over the ``t`` grid and the ``z`` grid (the ``z``
   and ``t`` where the sup is attained are reported), with a 95% bootstrap CI, the Monte Carlo
   noise floor (the sup of pure noise with the measured covariance), and a weighted log-log fit
   over the sizes whose sup stands above the floor (also refitted after the bootstrap bias
   correction of the sup). Trials scale like ``1/d`` (``--trials`` at the largest ``d``), which
   evens the signal-to-noise ratio out across ``d`` (:func:`rmt.lindeberg.trials_inverse_d`).
   Gaps are estimated with
   the rank-coupled estimator (``C < d``) or the deterministic-equivalent control variate
   (``C = d``), both exactly unbiased (see :mod:`rmt.lindeberg`).
2. **The path** at one ``d``: ``Δ(τ, z*)``, the moment gaps, the ESD at both ends, on the smooth
   path and on the replacement path ``B^{(k)}`` (``τ = 1 − k/N``) with its per-swap increments.

Checks that ``OUT.json`` can be written before any work, then writes it (atomically) and the
figures ``OUT_rate.{pdf,png}`` and
``OUT_path.{pdf,png}``. On a loaded CPU set ``OPENBLAS_NUM_THREADS=1``: multithreaded
OpenBLAS ``eigvalsh`` can be tens of times slower when the cores are shared.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rmt import backend as bk
from rmt.cli import ArgumentParser, run_command
from rmt.experiments.lindeberg import (
    CPU_DIMS,
    GPU_DIMS,
    REGIMES,
    WEIGHTS,
    fill_defaults,
    markdown_table,
    simulate,
    to_json,
)
from rmt.validation import (
    check_memory,
    check_writable,
    choice_list_arg,
    int_arg,
    int_list_arg,
    real_arg,
    real_list_arg,
)
from simulations.lindeberg_figures import make_figures

PROG = "python -m simulations.lindeberg"


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG,
                description="Rate at which the Stieltjes transforms of the dependent- and "
                            "independent-weight covariances agree along the Lindeberg path.")
    p.add_argument("--dims", type=int_list_arg(8), default=None,
                   help=f"dimensions d (default {','.join(map(str, CPU_DIMS))} on numpy, "
                        f"{','.join(map(str, GPU_DIMS))} on cupy)")
    p.add_argument("--regimes", type=choice_list_arg(REGIMES), default=list(REGIMES),
                   help="regimes of C: fixed (C = --n-classes), d/4, d (default: all three)")
    p.add_argument("--regime-max-dim", type=int_arg(8), default=None,
                   help="largest d for the C ∝ d regimes (default 562 on numpy, 4096 on cupy)")
    p.add_argument("--gamma", type=real_arg(0, 10, strict_min=True), default=0.5,
                   help="γ = d/N (default 0.5)")
    p.add_argument("--n-classes", type=int_arg(2), default=10,
                   help="C of the fixed regime (default 10)")
    p.add_argument("--sigma", type=real_arg(0, 10), default=1.0,
                   help="logit scale σ, V_ij ~ N(0, σ²/d) (default 1)")
    p.add_argument("--weights", choices=tuple(WEIGHTS), default="diag",
                   help="block weight: diag = C·p_i(1−p_i), offdiag = C²·p_i p_j (default diag)")
    p.add_argument("--trials", type=int_arg(4), default=40,
                   help="trials at the largest d of the fixed-C regime; T(d) ∝ 1/d below it, "
                        "at most 20× (default 40)")
    p.add_argument("--trials-cd", type=int_arg(4), default=96,
                   help="trials at the largest d of the C ∝ d regimes, ∝ 1/d below (default 96: "
                        "the gap there is nearer the noise)")
    p.add_argument("--equal-trials", action="store_true",
                   help="the same number of trials at every d instead of T ∝ 1/d")
    p.add_argument("--t-grid", type=real_list_arg(0, 1), default=[0.0, 0.5, 1.0],
                   help="t grid of the sup (must contain 0; default 0,0.5,1)")
    p.add_argument("--z-real", type=real_list_arg(-1e6, 1e6),
                   default=[0.25, 0.5, 1.0, 2.0, 3.0], help="Re z grid (default 0.25,0.5,1,2,3)")
    p.add_argument("--z-imag", type=real_list_arg(0, 1e6, strict_min=True),
                   default=[0.5, 1.0], help="Im z grid, > 0 (default 0.5,1)")
    p.add_argument("--path-dim", type=int_arg(8), default=None,
                   help="d of the path figure (default 300 on numpy, 2048 on cupy)")
    p.add_argument("--path-points", type=int_arg(3), default=9,
                   help="points on each path (default 9)")
    p.add_argument("--path-trials", type=int_arg(4), default=120,
                   help="trials for the path (default 120)")
    p.add_argument("--no-path", action="store_true", help="skip the path at one d")
    p.add_argument("--level", type=real_arg(0, 1, strict_min=True, strict_max=True),
                   default=0.95, help="CI level (default 0.95)")
    p.add_argument("--boot", type=int_arg(100), default=2000,
                   help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="base seed")
    p.add_argument("--backend", choices=bk.BACKENDS, default="numpy")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--out", default="results/lindeberg",
                   help="output stem: OUT.json, OUT_rate.{pdf,png}, OUT_path.{pdf,png}")
    p.add_argument("--no-figure", action="store_true", help="write the results file only")
    p.add_argument("--quiet", action="store_true", help="no progress or summary")
    return p


def trial_memory(args: Any) -> list[tuple[str, float]]:
    """What the largest trial holds at once: its d × d covariances (two per t on the coupled
    estimator; on the path also the replacement increments), their float64 eigensolver copy,
    and the data ``X``, ``X̃`` and the coupled copy (N × d each)."""
    isz = 4 if args.dtype == "float32" else 8
    sizes = [(max(args.dims), 2 * len(args.t_grid))]
    if not args.no_path:
        sizes.append((args.path_dim, 3 * args.path_points))
    d, k = max(sizes, key=lambda t: t[0] ** 2 * t[1])
    N = max(1.0, round(d / args.gamma))
    return [(f"{k} covariances d × d (d = {d})", k * float(d) * d * isz),
            ("their eigensolver copy", k * float(d) * d * 8),
            ("X, X̃ and the coupled copy: 3 × N × d", 3.0 * N * d * isz)]


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv, _main)


def _main(args: Any) -> int:
    from rmt.results import write_bytes_atomic  # noqa: PLC0415

    path = check_writable("--out", args.out + ".json")  # before minutes of work
    fill_defaults(args)
    check_memory(f"--dims up to {max(args.dims)}" + ("" if args.no_path else
                                                      f" and --path-dim {args.path_dim}"),
                 trial_memory(args), args.backend,
                 "lower --dims" + ("" if args.no_path else " or --path-dim")
                 + (", or use --dtype float32" if args.dtype == "float64" else ""))
    results = simulate(args, None if args.quiet else lambda line: print(line, flush=True))
    write_bytes_atomic(path, to_json(results))
    written = [str(path)]
    if not args.no_figure:
        written += make_figures(results, args.out)
    if not args.quiet:
        print(markdown_table(results))
        print(f"total {results['timing_s']['total']:.0f} s; wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
