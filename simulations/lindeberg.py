"""The Lindeberg step measured: how fast the dependent and independent weighted covariances agree.

    python -m simulations.lindeberg --help
    python -m simulations.lindeberg --out results/lindeberg                  # CPU defaults
    python -m simulations.lindeberg --backend cupy --out results/lindeberg_gpu   # d up to 8192

For the linear CE model at initialisation (``V_ij ~ N(0, σ²/d)``, ``x ~ N(0, I_d)``, ``γ = d/N``
fixed) and the block weight ``C·p_i(1 − p_i)`` (``--weights diag``, the weight of ``C·H_ii``) or
``C²·p_i p_j`` (``--weights offdiag``, of ``−C²·H_ij``), it measures, with
:mod:`rmt.lindeberg`:

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

Writes ``OUT.json`` (atomically) and the figures ``OUT_rate.{pdf,png}`` and
``OUT_path.{pdf,png}``. On a loaded CPU set ``OPENBLAS_NUM_THREADS=1``: multithreaded
OpenBLAS ``eigvalsh`` can be tens of times slower when the cores are shared.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.lindeberg import GapRate, LindebergPath, gap_rate, simulate_path, trials_inverse_d
from rmt.validation import int_arg, real_arg

CPU_DIMS = (100, 178, 316, 562, 1000)
GPU_DIMS = (256, 512, 1024, 2048, 4096, 8192)
REGIMES = {"fixed": None, "d/4": lambda d: max(2, d // 4), "d": lambda d: d}
WEIGHTS = {"diag": ("diag", 0, "C", r"$C\,p_i(1-p_i)$"),
           "offdiag": ("offdiag", (0, 1), "-C2", r"$C^2 p_i p_j$")}


class _Parser(argparse.ArgumentParser):
    """Argument errors: one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_list(name: str, minimum: int):
    def conv(text: str) -> list[int]:
        try:
            vals = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a comma-separated list of integers "
                                             f">= {minimum}, got {text!r}") from None
        if not vals or min(vals) < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be a comma-separated list of integers "
                                             f">= {minimum}, got {text!r}")
        return sorted(set(vals))
    return conv


def _float_list(name: str, lo: float, hi: float, *, strict_lo: bool = False):
    def conv(text: str) -> list[float]:
        try:
            vals = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            vals = []
        ok = vals and all(np.isfinite(v) and (v > lo if strict_lo else v >= lo) and v <= hi
                          for v in vals)
        if not ok:
            rng = f"{'(' if strict_lo else '['}{lo:g}, {hi:g}]"
            raise argparse.ArgumentTypeError(f"{name} must be a comma-separated list of numbers "
                                             f"in {rng}, got {text!r}")
        return sorted(set(vals))
    return conv


def _regimes(text: str) -> list[str]:
    vals = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in vals if v not in REGIMES]
    if not vals or bad:
        raise argparse.ArgumentTypeError(f"--regimes must be a comma-separated subset of "
                                         f"{tuple(REGIMES)}, got {text!r}")
    return list(dict.fromkeys(vals))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m simulations.lindeberg",
                description="Rate at which the Stieltjes transforms of the dependent- and "
                            "independent-weight covariances agree along the Lindeberg path.")
    p.add_argument("--dims", type=_int_list("--dims", 8), default=None,
                   help=f"dimensions d (default {','.join(map(str, CPU_DIMS))} on numpy, "
                        f"{','.join(map(str, GPU_DIMS))} on cupy)")
    p.add_argument("--regimes", type=_regimes, default=list(REGIMES),
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
    p.add_argument("--t-grid", type=_float_list("--t-grid", 0, 1), default=[0.0, 0.5, 1.0],
                   help="t grid of the sup (must contain 0; default 0,0.5,1)")
    p.add_argument("--z-real", type=_float_list("--z-real", -1e6, 1e6),
                   default=[0.25, 0.5, 1.0, 2.0, 3.0], help="Re z grid (default 0.25,0.5,1,2,3)")
    p.add_argument("--z-imag", type=_float_list("--z-imag", 0, 1e6, strict_lo=True),
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


def _fill_defaults(args: argparse.Namespace) -> argparse.Namespace:
    gpu = args.backend == "cupy"
    if args.dims is None:
        args.dims = list(GPU_DIMS if gpu else CPU_DIMS)
    if args.regime_max_dim is None:
        args.regime_max_dim = 4096 if gpu else 562
    if args.path_dim is None:
        args.path_dim = 2048 if gpu else 300
    if 0.0 not in args.t_grid:
        raise ValueError(f"--t-grid must contain 0 (the reference B_0), got {args.t_grid}")
    if len(args.dims) < 2:
        raise ValueError(f"--dims must hold at least two values, got {args.dims}")
    return args


def _z_grid(args: argparse.Namespace) -> np.ndarray:
    return np.array([complex(x, y) for y in args.z_imag for x in args.z_real])


def _rate_dict(res: GapRate) -> dict[str, Any]:
    out = res.to_dict()
    out["gap_at_t1"] = []
    for p in res.paths:
        g = p.gap()
        i1 = int(np.argmax(p.tau))
        out["gap_at_t1"].append({"mean": {"real": np.real(g.mean[i1]).tolist(),
                                          "imag": np.imag(g.mean[i1]).tolist()},
                                 "stderr": {"real": np.real(g.stderr[i1]).tolist(),
                                            "imag": np.imag(g.stderr[i1]).tolist()}})
    return out


def run_rates(args: argparse.Namespace) -> dict[str, Any]:
    weights, block, scale, _ = WEIGHTS[args.weights]
    z = _z_grid(args)
    seeds = bk.spawn_seeds(args.seed, len(REGIMES) + 1)
    out = {}
    for name in args.regimes:
        dims = args.dims if name == "fixed" else [d for d in args.dims if d <= args.regime_max_dim]
        if len(dims) < 2:
            out[name] = {"skipped": f"fewer than two dims <= --regime-max-dim {args.regime_max_dim}"}
            continue
        n_classes = args.n_classes if name == "fixed" else REGIMES[name]
        T = args.trials if name == "fixed" else args.trials_cd
        trials = [T] * len(dims) if args.equal_trials else trials_inverse_d(dims, T)
        res = gap_rate(dims, args.gamma, trials, seeds[list(REGIMES).index(name)],
                       n_classes=n_classes, grid=args.t_grid, z=z, level=args.level,
                       n_boot=args.boot, sigma=args.sigma, weights=weights, block=block,
                       scale=scale, backend=args.backend, dtype=args.dtype,
                       progress=None if not args.quiet else False)
        out[name] = _rate_dict(res)
        if not args.quiet:
            print(rate_line(name, out[name]), flush=True)
    return out


def run_paths(args: argparse.Namespace) -> dict[str, Any]:
    weights, block, scale, _ = WEIGHTS[args.weights]
    d = args.path_dim
    N = max(1, int(round(d / args.gamma)))
    z = _z_grid(args)
    seed = bk.spawn_seeds(args.seed, len(REGIMES) + 1)[-1]
    out = {}
    common = dict(z=z, n_classes=args.n_classes, sigma=args.sigma, weights=weights, block=block,
                  scale=scale, backend=args.backend, dtype=args.dtype, n_moments=4,
                  progress=None if not args.quiet else False)
    smooth = simulate_path(d, N, args.path_trials, seed, path="smooth", n_points=args.path_points,
                           **common)
    repl = simulate_path(d, N, args.path_trials, seed, path="replacement",
                         n_points=args.path_points, increments=True, edges=smooth.edges, **common)
    for name, res in (("smooth", smooth), ("replacement", repl)):
        sg, tau_s, z_s = res.sup_gap(args.level, n_boot=args.boot, seed=args.seed)
        out[name] = {**path_summary(res, args.level), "sup": sg.to_dict(), "tau_star": tau_s,
                     "z_star": {"real": z_s.real, "imag": z_s.imag}}
    return out


def path_summary(res: LindebergPath, level: float) -> dict[str, Any]:
    """The path's estimates needed for the figure and the table (JSON-ready)."""
    keep = ["gap", "gap.direct", "gap.control", "moment_gap", "m1_gap.projected", "moments",
            "esd", "esd_outside",
            "weight_mean", "weight_var"] + (["gap.coupled"] if "gap.coupled" in res.mc else []) \
        + (["increment"] if "increment" in res.mc else [])
    est = {k: res.mc[k].to_dict(level) for k in keep}
    return {"grid": res.grid.tolist(), "tau": res.tau.tolist(), "estimator": res.estimator,
            "z": {"real": res.z.real.tolist(), "imag": res.z.imag.tolist()},
            "edges": res.edges.tolist(), "n_trials": res.mc.n_trials,
            "elapsed_s": res.mc.elapsed_s, "params": res.params, "estimates": est}


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Run everything and return the results dict (also what is written to OUT.json)."""
    args = _fill_defaults(args)
    t0 = time.perf_counter()
    rates = run_rates(args)
    t_rates = time.perf_counter() - t0
    paths = {} if args.no_path else run_paths(args)
    params = {k: v for k, v in vars(args).items() if k not in ("quiet", "no_figure")}
    try:
        from rmt.results import provenance  # noqa: PLC0415
        prov = provenance(seed=args.seed, backend=args.backend, parameters=params)
    except ImportError:  # pragma: no cover
        prov = {"parameters": params, "device": bk.device_name(bk.xp_for(args.backend))}
    return {"provenance": prov, "parameters": params, "rates": rates, "paths": paths,
            "timing_s": {"rates": t_rates, "total": time.perf_counter() - t0}}


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------

_REGIME_LABEL = {"fixed": "C fixed", "d/4": "C = d/4", "d": "C = d"}


def _fmt_fit(fit: dict | None) -> str:
    if fit is None:
        return "no fit (fewer than two sizes above the noise floor)"
    return f"{fit['slope']:.3f} [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}]"


def rate_line(name: str, r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"{name}: skipped ({r['skipped']})"
    return (f"{_REGIME_LABEL[name]:8s} d={r['dims']} exponent {_fmt_fit(r['fit'])} "
            f"(bias-corrected {_fmt_fit(r['fit_corrected'])}), {r['seconds']:.0f} s")


def markdown_table(results: dict[str, Any]) -> str:
    """The README table: per regime and d, the sup with CI, the floor, where it is attained,
    and the fitted exponent."""
    p = results["parameters"]
    lines = [f"Smooth Lindeberg path, weights {p['weights']}, γ = {p['gamma']}, σ = {p['sigma']}, "
             f"trials per d in the table, t ∈ {p['t_grid']}, sup over t ≠ 0 and "
             f"z ∈ {{{', '.join(f'{x:g}' for x in p['z_real'])}}} + i{{{', '.join(f'{y:g}' for y in p['z_imag'])}}}; "
             f"{int(100 * p['level'])}% bootstrap CIs.", "",
             "| regime | d | C | trials | sup_t,z \\|E s_t − E s_0\\| | CI | d·sup | "
             "noise floor (95% q.) | attained at (t, z) | in fit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["rates"].items():
        if "skipped" in r:
            continue
        for i, d in enumerate(r["dims"]):
            s = r["sup"][i]
            z = complex(r["z_star"]["real"][i], r["z_star"]["imag"][i])
            lines.append(f"| {_REGIME_LABEL[name]} | {d} | {r['n_classes'][i]} | "
                         f"{r['n_trials'][i]} | {s['value']:.3g} | "
                         f"[{s['ci'][0]:.3g}, {s['ci'][1]:.3g}] | {d * s['value']:.3g} | "
                         f"{s['noise_quantile']:.2g} | ({r['tau_star'][i]:g}, "
                         f"{z.real:g}+{z.imag:g}i) | {'yes' if r['used'][i] else 'no'} |")
    lines += ["", "| regime | fitted exponent [CI] | bias-corrected sup | estimator |",
              "|---|---|---|---|"]
    for name, r in results["rates"].items():
        if "skipped" in r:
            continue
        lines.append(f"| {_REGIME_LABEL[name]} | {_fmt_fit(r['fit'])} | "
                     f"{_fmt_fit(r['fit_corrected'])} | {r['estimator']} |")
    return "\n".join(lines)


def _cplx(d: dict) -> np.ndarray:
    return np.asarray(d["real"], float) + 1j * np.asarray(d["imag"], float)


def make_figures(results: dict[str, Any], stem: str) -> list[str]:
    """``OUT_rate`` (one panel per regime) and ``OUT_path`` (2×2 panels)."""
    from rmt import figures as F  # noqa: PLC0415 - matplotlib only when figures are wanted

    written: list[str] = []
    rates = {k: v for k, v in results["rates"].items() if "skipped" not in v}
    p = results["parameters"]
    if rates:
        from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter  # noqa: PLC0415

        fig, axes = F.figure("double", aspect=0.42, ncols=len(rates), squeeze=False)
        for ax, (name, r) in zip(axes[0], rates.items()):
            d = np.asarray(r["dims"], float)
            y = np.asarray([s["value"] for s in r["sup"]])
            lo = np.minimum([s["ci"][0] for s in r["sup"]], y)
            hi = np.maximum([s["ci"][1] for s in r["sup"]], y)
            fit = r["fit"]
            F.lindeberg_rate(ax, d, y, (np.maximum(lo, 1e-300), hi),
                             None if fit is None else fit["slope"],
                             None if fit is None else tuple(fit["ci"]),
                             reference_exponent=-0.5, label="measured", legend=False)
            with F.style():
                k0 = int(np.argmin(d))
                grid = np.geomspace(d.min(), d.max(), 50)
                ax.plot(grid, y[k0] * (grid / d[k0]) ** -1.0, color="0.3", ls=":", lw=0.9)
                ax.plot(d, [s["noise_quantile"] for s in r["sup"]], color="0.6", ls="-.",
                        lw=0.9, marker="x", ms=3, label="noise floor")
                unused = ~np.asarray(r["used"], bool)
                if unused.any():
                    ax.plot(d[unused], y[unused], "o", mfc="white", color=F.OKABE_ITO["blue"],
                            ms=3.5, zorder=4, label="under the floor (not fitted)")
                ax.set_title(f"{_REGIME_LABEL[name]}" + (f" = {p['n_classes']}" if name == "fixed"
                                                         else ""))
                ax.set_ylabel(r"$\sup_{t,z}\,|E\,s_t(z) - E\,s_0(z)|$")
                ax.set_xlabel(r"input dimension $d$ ($\gamma$ fixed)")
                ax.xaxis.set_major_locator(FixedLocator(d))
                ax.xaxis.set_major_formatter(FixedFormatter([f"{int(v)}" for v in d]))
                ax.xaxis.set_minor_formatter(NullFormatter())
                fit_text = ("no fit" if fit is None else
                            f"fit $d^{{{fit['slope']:.2f}}}$, CI [{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}]")
                ax.text(0.97, 0.97, fit_text, transform=ax.transAxes, ha="right", va="top",
                        fontsize=7)
                leg = ax.get_legend()
                if leg is not None:
                    leg.remove()
        from matplotlib.lines import Line2D  # noqa: PLC0415

        blue = F.OKABE_ITO["blue"]
        proxies = [
            (Line2D([], [], marker="o", color=blue, ls="none", ms=3.5), "measured (95% CI)"),
            (Line2D([], [], marker="o", mfc="white", color=blue, ls="none", ms=3.5),
             "under the noise floor (not fitted)"),
            (Line2D([], [], color=F.OKABE_ITO["bluish_green"], lw=1.1), "fitted power law"),
            (Line2D([], [], color="0.45", ls="--", lw=0.9), r"$\propto d^{-1/2}$ (paper)"),
            (Line2D([], [], color="0.3", ls=":", lw=0.9), r"$\propto d^{-1}$ (rank bound)"),
            (Line2D([], [], color="0.6", ls="-.", marker="x", ms=3, lw=0.9),
             "noise floor (95% quantile)")]
        with F.style():
            fig.legend([h for h, _ in proxies], [lab for _, lab in proxies],
                       loc="outside lower center", ncol=3, fontsize=7, frameon=False)
        fig.suptitle(f"Smooth Lindeberg path, {WEIGHTS[p['weights']][3]} weights, "
                     f"$\\gamma={p['gamma']:g}$, $\\sigma={p['sigma']:g}$, trials $\\propto 1/d$ "
                     f"(95% bootstrap CI)", fontsize=8)
        written += [str(x) for x in F.save(fig, stem + "_rate", ("pdf", "png"))]
    if results["paths"]:
        written += [str(x) for x in _path_figure(results, stem, F)]
    return written


def _path_figure(results: dict[str, Any], stem: str, F: Any) -> tuple:
    p = results["parameters"]
    paths = results["paths"]
    fig, axes = F.figure("double", aspect=0.62, nrows=2, ncols=2)
    colours = {"smooth": F.OKABE_ITO["blue"], "replacement": F.OKABE_ITO["vermillion"]}
    sm = paths["smooth"]
    z = _cplx(sm["z"])
    zs = complex(sm["z_star"]["real"], sm["z_star"]["imag"])
    j = int(np.argmin(np.abs(z - zs)))
    # (a) Re Δ and (b) Im Δ at z*, both paths against τ
    for ax, part, lab in ((axes[0, 0], np.real, "Re"), (axes[0, 1], np.imag, "Im")):
        for name in ("smooth", "replacement"):
            r = paths[name]
            tau = np.asarray(r["tau"])
            order = np.argsort(tau)
            g = r["estimates"]["gap"]
            m = part(_cplx(g["mean"])[:, j])[order]
            lo = part(_cplx(g["ci_low"])[:, j])[order]
            hi = part(_cplx(g["ci_high"])[:, j])[order]
            label = ("smooth, $t$" if name == "smooth" else "replacement, $1-k/N$")
            F.lindeberg_path(ax, tau[order], m, np.minimum(lo, m), np.maximum(hi, m), label=label,
                             ylabel=f"{lab} $\\Delta(\\tau, z^*)$", legend=False)
            ax.lines[-2].set_color(colours[name])
            ax.collections[-1].set_color(colours[name])
        with F.style():
            ax.set_xlabel(r"path coordinate $\tau$ ($\tau=1$: dependent $B_1$)")
            ax.set_title(f"{lab} of the gap at $z^* = {zs.real:g}+{zs.imag:g}i$, $d={sm['params']['dim']}$")
            ax.legend(loc="best", fontsize=6.5)
    # (c) first-moment gap along both paths, with the exact line t·Δm₁(1)
    ax = axes[1, 0]
    for name in ("smooth", "replacement"):
        r = paths[name]
        tau = np.asarray(r["tau"])
        order = np.argsort(tau)
        g = r["estimates"]["m1_gap.projected"]
        d = r["params"]["dim"]
        m = d * np.asarray(g["mean"])[order]
        lo = d * np.asarray(g["ci_low"])[order]
        hi = d * np.asarray(g["ci_high"])[order]
        F.lindeberg_path(ax, tau[order], m, np.minimum(lo, m), np.maximum(hi, m),
                         label=name, ylabel=r"$d\,(E\,m_1(\tau) - E\,m_1(0))$", legend=False)
        ax.lines[-2].set_color(colours[name])
        ax.collections[-1].set_color(colours[name])
        if name == "smooth":
            with F.style():
                tt = np.linspace(0, 1, 50)
                ax.plot(tt, tt * m[-1], color="0.3", ls="--", lw=0.9,
                        label=r"linear in $\tau$ (exact: Mehler / swap count)")
    with F.style():
        ax.set_xlabel(r"path coordinate $\tau$")
        ax.set_title("first spectral moment along the paths")
        ax.legend(loc="best", fontsize=6.5)
    # (d) ESD at the two ends of the smooth path
    ax = axes[1, 1]
    e = np.asarray(sm["edges"])
    esd = sm["estimates"]["esd"]
    tau = np.asarray(sm["tau"])
    with F.style():
        for idx, lab, c, ls in ((int(np.argmax(tau)), r"$B_1$ (dependent, $t=1$)", colours["smooth"], "-"),
                                (int(np.argmin(tau)), r"$B_0$ (independent, $t=0$)",
                                 F.OKABE_ITO["orange"], "--")):
            m = np.asarray(esd["mean"])[idx]
            ax.stairs(m, e, color=c, ls=ls, lw=1.0, label=lab)
            ax.fill_between(e[:-1], np.asarray(esd["ci_low"])[idx], np.asarray(esd["ci_high"])[idx],
                            step="post", color=c, alpha=0.25, lw=0)
        ax.set_xlabel(r"eigenvalue $\lambda$")
        ax.set_ylabel("density")
        ax.set_title("ESD at the ends (mean over trials, 95% CI)")
        ax.legend(loc="upper right", fontsize=6.5)
    fig.suptitle(f"Lindeberg paths at $d={sm['params']['dim']}$, $N={sm['params']['n_samples']}$, "
                 f"$C={p['n_classes']}$, {WEIGHTS[p['weights']][3]} weights, "
                 f"{sm['n_trials']} trials", fontsize=8)
    return F.save(fig, stem + "_path", ("pdf", "png"))


def _write_json(path: str, results: dict[str, Any]) -> None:
    from rmt.results import write_bytes_atomic  # noqa: PLC0415

    write_bytes_atomic(path, json.dumps(results, indent=1, allow_nan=False,
                                        default=_json_default).encode())


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, complex):
        return {"real": o.real, "imag": o.imag}
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        results = simulate(args)
    except (ValueError, bk.BackendUnavailableError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    _write_json(args.out + ".json", results)
    written = [args.out + ".json"]
    if not args.no_figure:
        written += make_figures(results, args.out)
    if not args.quiet:
        print(markdown_table(results))
        print(f"total {results['timing_s']['total']:.0f} s; wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
