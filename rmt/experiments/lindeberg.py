"""The Lindeberg experiment (``python -m simulations.lindeberg``): how fast the dependent- and
independent-weight covariances agree, measured on the paths of :mod:`rmt.lindeberg`.

For the linear CE model at initialisation (``V_ij ~ N(0, σ²/d)``, ``x ~ N(0, I_d)``, ``γ = d/N``
fixed) and the block weight ``C·p_i(1 − p_i)`` (``weights="diag"``) or ``C²·p_i p_j``
(``"offdiag"``):

1. **The rate** (:func:`run_rates`). For each ``d`` and each regime of ``C`` (fixed ``C``;
   ``C = d/4``; ``C = d``): ``sup_{t, z} |E s_t(z) − E s_0(z)|`` on the smooth path, with a
   bootstrap CI, the Monte Carlo noise floor and a weighted log-log fit over the sizes above the
   floor (also after the bootstrap bias correction), trials ``∝ 1/d``
   (:func:`rmt.lindeberg.trials_inverse_d`).
2. **The path** at one ``d`` (:func:`run_paths`): ``Δ(τ, z*)``, the moment gaps and the ESD at both
   ends, on the smooth path and on the replacement path with its per-swap increments.

The functions take the command's options as one object ``args`` (attributes named after the flags
of ``python -m simulations.lindeberg``: ``dims``, ``gamma``, ``trials``, ...), which the results
record as their ``parameters``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.lindeberg import GapRate, LindebergPath, gap_rate, simulate_path, trials_inverse_d

__all__ = ["CPU_DIMS", "GPU_DIMS", "REGIMES", "REGIME_LABELS", "WEIGHTS", "fill_defaults", "z_grid",
           "run_rates",
           "run_paths", "path_summary", "simulate", "rate_line", "markdown_table", "to_json"]

CPU_DIMS = (100, 178, 316, 562, 1000)
GPU_DIMS = (256, 512, 1024, 2048, 4096, 8192)
REGIMES = {"fixed": None, "d/4": lambda d: max(2, d // 4), "d": lambda d: d}
WEIGHTS = {"diag": ("diag", 0, "C", r"$C\,p_i(1-p_i)$"),
           "offdiag": ("offdiag", (0, 1), "-C2", r"$C^2 p_i p_j$")}


def fill_defaults(args: Any) -> Any:
    """Fill the backend-dependent defaults of ``args`` in place and check the grids; return it."""
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


def z_grid(args: Any) -> np.ndarray:
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


def run_rates(args: Any, report: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """The gap's rate against ``d`` in each regime of ``args.regimes``
    (:func:`rmt.lindeberg.gap_rate` on the smooth path); ``report`` gets one line per regime as
    it finishes."""
    weights, block, scale, _ = WEIGHTS[args.weights]
    z = z_grid(args)
    seeds = bk.spawn_seeds(args.seed, len(REGIMES) + 1)
    out = {}
    for name in args.regimes:
        dims = args.dims if name == "fixed" else [d for d in args.dims if d <= args.regime_max_dim]
        if len(dims) < 2:
            out[name] = {"skipped": "fewer than two dims <= --regime-max-dim "
                                    f"{args.regime_max_dim}"}
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
        if report is not None:
            report(rate_line(name, out[name]))
    return out


def run_paths(args: Any) -> dict[str, Any]:
    """Both paths at ``d = args.path_dim`` (:func:`rmt.lindeberg.simulate_path`), summarised."""
    weights, block, scale, _ = WEIGHTS[args.weights]
    d = args.path_dim
    N = max(1, int(round(d / args.gamma)))
    z = z_grid(args)
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


def simulate(args: Any, report: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Run everything and return the results dict (what ``OUT.json`` holds); ``report`` gets a
    line per regime as it finishes."""
    args = fill_defaults(args)
    t0 = time.perf_counter()
    rates = run_rates(args, report)
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


REGIME_LABELS = {"fixed": "C fixed", "d/4": "C = d/4", "d": "C = d"}


def _fmt_fit(fit: dict | None) -> str:
    if fit is None:
        return "no fit (fewer than two sizes above the noise floor)"
    return f"{fit['slope']:.3f} [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}]"


def rate_line(name: str, r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"{name}: skipped ({r['skipped']})"
    return (f"{REGIME_LABELS[name]:8s} d={r['dims']} exponent {_fmt_fit(r['fit'])} "
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
            lines.append(f"| {REGIME_LABELS[name]} | {d} | {r['n_classes'][i]} | "
                         f"{r['n_trials'][i]} | {s['value']:.3g} | "
                         f"[{s['ci'][0]:.3g}, {s['ci'][1]:.3g}] | {d * s['value']:.3g} | "
                         f"{s['noise_quantile']:.2g} | ({r['tau_star'][i]:g}, "
                         f"{z.real:g}+{z.imag:g}i) | {'yes' if r['used'][i] else 'no'} |")
    lines += ["", "| regime | fitted exponent [CI] | bias-corrected sup | estimator |",
              "|---|---|---|---|"]
    for name, r in results["rates"].items():
        if "skipped" in r:
            continue
        lines.append(f"| {REGIME_LABELS[name]} | {_fmt_fit(r['fit'])} | "
                     f"{_fmt_fit(r['fit_corrected'])} | {r['estimator']} |")
    return "\n".join(lines)


def to_json(results: dict[str, Any]) -> bytes:
    """The results as strict JSON (complex numbers as ``{"real", "imag"}``; NaN refused)."""
    import json  # noqa: PLC0415

    return json.dumps(results, indent=1, allow_nan=False, default=_json_default).encode()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, complex):
        return {"real": o.real, "imag": o.imag}
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


