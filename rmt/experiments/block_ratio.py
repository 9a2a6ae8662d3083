"""The block-ratio experiment (``python -m simulations.block_ratio``): its cells, the summary of a
sweep of them over seeds with the finite-C predictions and log-log slopes, the printed summary,
and the timed check at one large size.

Cells (run by :func:`rmt.sweep.run_sweep`, importable by every worker):

* :func:`cell_linear` — linear CE model ``z = V x`` at init: the exact aggregate ratio
  ``R_agg = (Σ_{i≠j}‖H_ij‖²_F / Σ_i‖H_ii‖²_F)^{1/2}``, the per-block RMS ratio
  ``R_pb = R_agg/√(C−1)`` (times C) and the per-block mean of ratios over sampled pairs;
* :func:`cell_hidden` — one hidden layer ``z = V relu(W x)``: the same for the W-blocks (rows of
  ``W``, all pairs) and the V-blocks (rows of ``V``, sampled pairs).

:func:`assemble_linear` / :func:`assemble_hidden` turn the sweep's Dataset into the results file:
mean, SE and 95% Student-t CI over seeds (:func:`rmt.sweep.summarise_seeds`), the predictions of
:mod:`rmt.predictions` at every grid point, and slopes over ``C >= fit_min_c``
(:func:`rmt.sweep.fit_slope`) next to the prediction's slope over the same C.
:func:`add_finite_sigma_prediction` adds the hidden net's CE W-block prediction at the run's σ
(:mod:`rmt.hidden_prediction`), which the uniform-softmax formula only gives as σ → 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.sweep import budget, fit_slope, summarise_seeds
from rmt.validation import check_choice, check_int

__all__ = ["LAYOUT", "CI_LEVEL", "LLM_SIZE", "C_GRID", "C_MAX", "c_grid", "n_samples", "cell_linear", "cell_hidden",
           "cell_flops", "estimate_lines", "fit_key", "assemble_linear", "assemble_hidden",
           "add_finite_sigma_prediction", "summary_lines", "scale_check"]

LAYOUT = {"linear": "block_ratio/linear/1", "hidden": "block_ratio/hidden/1"}
#: The 1-2-5 log grid of class counts, up to the LLM vocabulary 128,000.
C_GRID = (2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
          128000)
#: Largest C of the default grid, by (backend, model).
C_MAX = {("numpy", "linear"): 100000, ("numpy", "hidden"): 50000,
         ("cupy", "linear"): 128000, ("cupy", "hidden"): 128000}
CI_LEVEL = 0.95
#: The (N, d, C) of the LLM-scale check.
LLM_SIZE = (8192, 1024, 128000)


def c_grid(backend: str = "numpy", model: str = "linear", c_max: int | None = None) -> list[int]:
    """The default C grid: :data:`C_GRID` up to ``c_max`` (default :data:`C_MAX` of the backend
    and model). A function of its arguments only: never of the machine's speed or load."""
    backend = bk.resolve_backend(backend)
    model = check_choice("model", model, ("linear", "hidden"))
    top = C_MAX[backend, model] if c_max is None else check_int("c_max", c_max, 2)
    return [C for C in C_GRID if C <= top]


def n_samples(dim: int, gamma: float) -> int:
    """``N = round(d/γ)`` (at least 2)."""
    return max(2, int(round(dim / gamma)))


def _draw(C: int, N: int, d: int, seed: Any, backend: str, dtype: str, init: Any,
          draw_on: str = "auto") -> tuple:
    sx, sm, sp = bk.spawn_seeds(seed, 3)  # spawned from a copy: the caller's seed is unchanged
    X = bk.standard_normal((N, d), sx, bk.xp_for(backend), dtype, draw_on)
    return init(seed=sm, backend=backend, dtype=dtype, draw_on=draw_on), X, sp


def cell_linear(C: int, sigma: float, gamma: float, *, seed: np.random.SeedSequence, dim: int,
                pairs: int = 256, backend: str = "numpy", dtype: str = "float64",
                memory_limit: int | None = None, draw_on: str = "auto") -> dict[str, float]:
    """One linear-CE cell: exact aggregate, per-block RMS, per-block mean over sampled pairs
    (``draw_on``: :func:`rmt.backend.resolve_draw_on`)."""
    from rmt.hessian import block_norms, block_ratio  # noqa: PLC0415
    from rmt.models import LinearClassifier  # noqa: PLC0415

    model, X, sp = _draw(C, n_samples(dim, gamma), dim, seed, backend, dtype,
                         lambda **kw: LinearClassifier.init(int(C), int(dim), float(sigma), **kw),
                         draw_on)
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

    model, X, sp = _draw(C, n_samples(dim, gamma), dim, seed, backend, dtype, lambda **kw:
                         OneHiddenLayer.init(int(C), int(dim), int(hidden), float(sigma), "relu",
                                             **kw))
    w = block_ratio(model, X, loss=loss, blocks="W", pairs="all", memory_limit=memory_limit)
    v = block_ratio(model, X, loss=loss, blocks="V", pairs=max(1, int(pairs)), seed=sp,
                    memory_limit=memory_limit)
    return {"w_aggregate": w.aggregate, "w_rms_per_block": w.aggregate / math.sqrt(hidden - 1.0),
            "w_mean_per_block": w.per_block_mean,
            "v_aggregate": v.aggregate, "v_rms_per_block": v.aggregate / math.sqrt(C - 1.0),
            "v_mean_per_block": v.per_block_mean, "w_dead_pairs": float(w.n_pairs_undefined)}


def cell_flops(model: str, hidden: int = 8) -> Any:
    """``cell arguments -> flops`` of :func:`cell_linear` (``model="linear"``) or
    :func:`cell_hidden` (:func:`rmt.sweep.budget.block_ratio_flops`)."""
    return lambda p: budget.block_ratio_flops(model, p["C"], n_samples(p["dim"], p["gamma"]),
                                              p["dim"], p["pairs"], hidden)


def estimate_lines(model: str, grid: Any, budget_s: float | None = None
                   ) -> tuple[list[str], float]:
    """What a block-ratio sweep will cost, said before it runs: the effective rate of one
    calibration cell on this machine now (``C = min(2000, max C)`` at the largest ``N``), the
    estimated seconds per C and in total, and a warning past ``budget_s`` seconds; the lines
    and the estimated total. The grid is not changed (see :mod:`rmt.sweep.budget`)."""
    params, fixed = grid.parameters, grid.fixed
    cell = cell_linear if model == "linear" else cell_hidden
    first = {"C": min(2000, max(params["C"])), "sigma": params["sigma"][0],
             "gamma": min(params["gamma"]), **({"loss": params["loss"][0]} if model == "hidden"
                                               else {}), **fixed,
             "seed": np.random.SeedSequence([grid.seed, 0xCA11B])}
    flops = cell_flops(model, fixed.get("hidden", 8))
    rate = budget.calibrate_rate(cell, first, flops(first), backend=fixed["backend"],
                                 warmup={**first, "C": 5, "dim": min(fixed["dim"], 16)})
    per, total = budget.estimate_seconds(grid, flops, rate, by="C")
    cost = ("4NdC + 3N^2C + 2N^2d + 2N^2(K+min(K,C))" if model == "linear" else
            "4NmC + 3N^2C + 2N^2(K+min(K,C)) + 4N^2(d+m^2) + 16NC(m^2+2m)")
    Cs = params["C"]
    lines = [f"python -m simulations.block_ratio: {model} model on "
             f"{bk.device_name(bk.xp_for(fixed['backend']))}; effective rate of a calibration "
             f"cell {rate / 1e9:.1f} GFLOP/s; cost per cell ~ {cost} flops (O(N^2(d+C)))",
             "  estimated seconds per C (all sigma, gamma, seeds): "
             + ", ".join(f"{C}: {sec:.1f}" for C, sec in per.items()),
             f"  estimated total {total:.0f} s for C = {Cs[0]}..{Cs[-1]} ({len(Cs)} values, set "
             "by the arguments alone)"]
    warning = budget.budget_warning(total, budget_s) if budget_s else None
    return lines + ([warning] if warning else []), total


def fit_key(**kw: Any) -> str:
    """The key of one grid point in the ``fits`` attribute: ``"sigma=1,gamma=0.5"``."""
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in kw.items())


def _per_seed(raw: Any, names: Sequence[str]) -> tuple[Any, np.ndarray]:
    ds = raw[[v for v in raw.data_vars if "seed" in raw[v].dims]].copy()
    return summarise_seeds(ds, names, level=CI_LEVEL), np.asarray(ds["C"].values, dtype=float)


def _dataset(ds: Any, raw: Any, attrs: dict[str, Any]) -> Any:
    import xarray as xr  # noqa: PLC0415

    ds.attrs = {**raw.attrs, **attrs, "ci_level": CI_LEVEL}
    return xr.Dataset(ds.data_vars, coords=ds.coords, attrs=ds.attrs)


def assemble_linear(raw: Any, fit_min_c: int) -> Any:
    """Summary over seeds, finite-C predictions and their curves, slopes, as a Dataset."""
    from rmt.predictions import kappa, predict_block_ratio, ratio_curve  # noqa: PLC0415

    ds, Cs = _per_seed(raw, ("c_rms_per_block", "aggregate", "c_mean_per_block"))
    d = int(raw.attrs["sweep_fixed"]["dim"])
    sig, gam = ([float(v) for v in ds[k].values] for k in ("sigma", "gamma"))
    pred_c, pred_agg = (np.full((Cs.size, len(sig), len(gam)), np.nan) for _ in range(2))
    kap = np.full((len(sig), len(gam)), np.nan)
    curve_C = np.unique(np.round(np.geomspace(2, max(Cs.max(), 2), 40))).astype(int)
    curve_c = np.full((len(sig), len(gam), curve_C.size), np.nan)
    fits: dict[str, Any] = {}
    for a, s in enumerate(sig):
        for b, g in enumerate(gam):
            N = n_samples(d, g)
            corr = "model" if d > 8 * s * s else "independent"
            for i, C in enumerate(Cs):
                p = predict_block_ratio(int(C), s, dim=d, n_samples=N, correction=corr)
                pred_c[i, a, b], pred_agg[i, a, b], kap[a, b] = p.c_per_block, p.aggregate, p.kappa
            curve_c[a, b] = ratio_curve(curve_C, s, dim=d, n_samples=N,
                                        correction=corr)["c_per_block"]
            v = {k: ds[k].values[:, a, b] for k in ("c_rms_per_block_mean", "c_rms_per_block_se",
                                                    "aggregate_mean", "aggregate_se")}
            kw = {"x_min": fit_min_c, "level": CI_LEVEL, "x_name": "C"}
            fits[fit_key(sigma=s, gamma=g)] = {
                "per_block_rms": fit_slope(Cs, v["c_rms_per_block_mean"] / Cs,
                                           v["c_rms_per_block_se"] / Cs, pred_c[:, a, b] / Cs,
                                           **kw),
                "aggregate": fit_slope(Cs, v["aggregate_mean"], v["aggregate_se"],
                                       pred_agg[:, a, b], **kw),
                "correction": corr, "N": N}
    ds["prediction_c_per_block"] = (("C", "sigma", "gamma"), pred_c)
    ds["prediction_aggregate"] = (("C", "sigma", "gamma"), pred_agg)
    ds["kappa_finite_d"] = (("sigma", "gamma"), kap)
    ds = ds.assign_coords(curve_C=curve_C)
    ds["curve_c_per_block"] = (("sigma", "gamma", "curve_C"), curve_c)
    ds["kappa_limit"] = (("sigma", "gamma"),
                         np.array([[float(kappa(s, g)) for g in gam] for s in sig]))
    return _dataset(ds, raw, {
        "layout": LAYOUT["linear"], "fits": fits, "fit_min_c": fit_min_c, "dim": d,
        "definitions": {
            "c_rms_per_block": "C * (sum_{i!=j}|H_ij|^2/(C-1) / sum_i |H_ii|^2)^(1/2) "
                               "= C * aggregate / sqrt(C-1) (exact, all pairs)",
            "aggregate": "(sum_{i!=j}|H_ij|_F^2 / sum_i |H_ii|_F^2)^(1/2), exact",
            "c_mean_per_block": "C * mean over sampled pairs of |H_ij|_F/|H_ii|_F",
            "prediction_c_per_block": "rmt.predictions.predict_block_ratio "
                                      "(correction per fits[...]['correction'])",
            "kappa_finite_d": "C -> inf limit of the prediction at this d, N",
            "kappa_limit": "kappa(sigma, gamma), d, N, C -> inf"}})


def assemble_hidden(raw: Any, fit_min_c: int) -> Any:
    """Summary over seeds, the hidden_coupling predictions and slopes, as a Dataset."""
    from rmt.predictions import predict_hidden_ratio  # noqa: PLC0415

    ds, Cs = _per_seed(raw, [f"{b}_{k}" for b in "wv" for k in ("rms_per_block", "aggregate",
                                                                 "mean_per_block")])
    d, m = int(raw.attrs["sweep_fixed"]["dim"]), int(raw.attrs["sweep_fixed"]["hidden"])
    losses = [str(x) for x in ds["loss"].values]
    sig, gam = ([float(v) for v in ds[k].values] for k in ("sigma", "gamma"))
    pred = {b: np.full((Cs.size, len(gam), len(losses)), np.nan) for b in "wv"}
    for b, g in enumerate(gam):
        for c, loss in enumerate(losses):
            for i, C in enumerate(Cs):
                pred["w"][i, b, c] = predict_hidden_ratio(int(C), m, blocks="W", loss=loss, dim=d,
                                                          n_samples=n_samples(d, g)).per_block
                pred["v"][i, b, c] = predict_hidden_ratio(int(C), m, blocks="V",
                                                          loss=loss).per_block
    fits: dict[str, Any] = {}
    for a, s in enumerate(sig):
        for b, g in enumerate(gam):
            for c, loss in enumerate(losses):
                ix, entry = (slice(None), a, b, c), {}
                for blk, p in ((k, pred[k][:, b, c]) for k in "wv"):
                    mean = ds[f"{blk}_rms_per_block_mean"].values[ix]
                    if np.all(np.nan_to_num(mean) == 0):
                        entry[blk] = {"exactly_zero": True, "max_abs": float(np.nanmax(np.abs(
                            ds[f"{blk}_rms_per_block"].values[ix])))}
                        continue
                    entry[blk] = fit_slope(Cs, mean, ds[f"{blk}_rms_per_block_se"].values[ix],
                                           p if np.all(p > 0) else None, x_min=fit_min_c,
                                           level=CI_LEVEL, x_name="C")
                fits[fit_key(sigma=s, gamma=g, loss=loss)] = entry
    for b in "wv":
        ds[f"prediction_{b}_per_block"] = (("C", "gamma", "loss"), pred[b])
    return _dataset(ds, raw, {
        "layout": LAYOUT["hidden"], "fits": fits, "fit_min_c": fit_min_c, "dim": d, "hidden": m,
        "definitions": {
            "w_rms_per_block": "W-blocks (rows of W): aggregate / sqrt(m-1)",
            "v_rms_per_block": "V-blocks (rows of V): aggregate / sqrt(C-1)",
            "prediction_w_per_block": "proofs.hidden_coupling (uniform softmax, ReLU, orthogonal "
                                      "rows): rho/sqrt(C+1) CE, rho/sqrt(C+2) MSE",
            "prediction_v_per_block": "1/(C-1) CE (uniform softmax), 0 MSE"}})


#: Monte Carlo draws of the hidden features for :func:`add_finite_sigma_prediction`: a relative
#: quadrature SE of 0.3 % (C = 2) to 1.5 % (C = 10⁴) at m = 8, d = 100, N = 200, σ = 1, about
#: 1 s per C on one core.
FINITE_SIGMA_FEATURES = 2 ** 13


def add_finite_sigma_prediction(ds: Any, n_features: int = FINITE_SIGMA_FEATURES) -> Any:
    """Add the CE W-block ratio predicted at the run's σ to a hidden-net results Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`assemble_hidden`; changed in place.
    n_features : int >= 1024
        Monte Carlo draws of :func:`rmt.hidden_prediction.predict_hidden_w_ratio` (one
        quadrature seed for every C: common random numbers, so the curve is smooth in C).

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``prediction_w_finite_sigma`` and its quadrature SE
        ``prediction_w_finite_sigma_se`` over ``(C, sigma, gamma, loss)``: NaN for MSE (its formula
        ρ/√(C + 2) holds at every σ), and NaN where the prediction's domain is left (d < m)
        or its quadrature overflows (the τ grid of very small nets, e.g. m = 3, d = 6).
    """
    from rmt.hidden_prediction import predict_hidden_w_ratio  # noqa: PLC0415

    nf = check_int("n_features", n_features, 1024)
    m, d = int(ds.attrs["hidden"]), int(ds.attrs["dim"])
    dims = ("C", "sigma", "gamma", "loss")
    val = np.full(tuple(ds.sizes[k] for k in dims), np.nan)
    se = val.copy()
    for a, s in enumerate(ds["sigma"].values):
        for b, g in enumerate(ds["gamma"].values):
            for c, loss in enumerate(ds["loss"].values):
                if str(loss) != "ce" or d < m:
                    continue
                for i, C in enumerate(ds["C"].values):
                    # an overflow in the quadrature gives NaN, which the figure and summary skip
                    with np.errstate(over="ignore", invalid="ignore"):
                        p = predict_hidden_w_ratio(int(C), float(s), m, d, n_samples(d, float(g)),
                                                   "ce", n_features=nf, seed=0)
                    val[i, a, b, c], se[i, a, b, c] = p.per_block, p.stderr
    ds["prediction_w_finite_sigma"] = (dims, val)
    ds["prediction_w_finite_sigma_se"] = (dims, se)
    ds.attrs["definitions"] = {
        **ds.attrs.get("definitions", {}),
        "prediction_w_finite_sigma": "rmt.hidden_prediction.predict_hidden_w_ratio at the cell's "
                                     f"sigma (approximation H1; {nf} Monte Carlo features, seed 0)",
        "prediction_w_finite_sigma_se": "its Monte Carlo quadrature SE (jackknife)"}
    return ds


def summary_lines(ds: Any) -> list[str]:
    lines = []
    fits = ds.attrs.get("fits", {})
    Cs = [int(c) for c in ds["C"].values]
    if ds.attrs.get("layout") == LAYOUT["linear"]:
        d = ds.attrs["dim"]
        for a, s in enumerate(ds["sigma"].values):
            for b, g in enumerate(ds["gamma"].values):
                f = fits.get(fit_key(sigma=float(s), gamma=float(g)), {})
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
        n = ds.sizes["seed"]
        for loss in ds["loss"].values:
            sub = ds.sel(**sel, loss=loss)
            pg = ds.sel(gamma=sel["gamma"], loss=loss)
            fs = (sub["prediction_w_finite_sigma"].values if "prediction_w_finite_sigma" in ds
                  else np.full(len(Cs), np.nan))
            fse = sub["prediction_w_finite_sigma_se"].values if np.isfinite(fs).any() else fs
            lines.append(f"  per C ({loss}, sigma={float(sel['sigma']):g}, "
                         f"gamma={float(sel['gamma']):g}; per-block RMS ratio, mean ± SE over "
                         f"{n} seeds): C, W-blocks [hidden_coupling prediction"
                         + ("; finite-sigma prediction ± quadrature SE" if np.isfinite(fs).any()
                            else "") + "], V-blocks [prediction]")
            for i, C in enumerate(Cs):
                finite = f"; {fs[i]:.5g} ± {fse[i]:.2g}" if np.isfinite(fs[i]) else ""
                lines.append(
                    f"    {C:>7d} {float(sub['w_rms_per_block_mean'][i]):.5g} ± "
                    f"{float(sub['w_rms_per_block_se'][i]):.2g} "
                    f"[{float(pg['prediction_w_per_block'][i]):.5g}{finite}]  "
                    f"{float(sub['v_rms_per_block_mean'][i]):.5g} ± "
                    f"{float(sub['v_rms_per_block_se'][i]):.2g} "
                    f"[{float(pg['prediction_v_per_block'][i]):.5g}]")
    return lines


def scale_check(N: int, d: int, C: int, *, seed: int = 0,
                backend: str = "numpy", dtype: str = "float64", memory_limit: int | None = None,
                pairs: int = 4096) -> list[str]:
    """One linear :func:`rmt.hessian.block_ratio` at ``(N, d, C)`` in bounded memory: its time,
    rate and peak host memory, extrapolated to :data:`LLM_SIZE`; the report as lines."""
    from rmt.hessian import block_ratio  # noqa: PLC0415
    from rmt.models import LinearClassifier  # noqa: PLC0415

    rate = budget.measure_rate(backend, dtype)
    f = budget.block_ratio_flops("linear", C, N, d, pairs)
    device = bk.device_name(bk.xp_for(backend))
    lines = [f"scale check on {device} ({backend}, {dtype}); measured matrix-product rate "
             f"{rate / 1e9:.1f} GFLOP/s",
             f"  size N={N}, d={d}, C={C}; memory_limit={memory_limit or 'auto'} bytes; "
             f"estimated {f / 1e9:.1f} GFLOP -> {f / rate:.1f} s"]
    model, X, sp = _draw(C, N, d, np.random.SeedSequence(seed), backend, dtype,
                         lambda **kw: LinearClassifier.init(C, d, 1.0, **kw))
    rss_in = bk.rss_bytes()       # resident now: interpreter, libraries and the inputs
    reset = bk.reset_peak_rss()   # so that the peak below is block_ratio's, not the drawing's
    sec, r = budget.time_call(lambda: block_ratio(model, X, pairs=pairs, seed=sp,
                                                  memory_limit=memory_limit), backend)
    peak = bk.peak_rss_bytes()
    isz = np.dtype(dtype).itemsize
    lines += [f"  block_ratio: {sec:.1f} s ({f / sec / 1e9:.1f} GFLOP/s achieved)",
              "  " + str(r).replace("\n", "\n  "),
              f"  host memory: resident before block_ratio {rss_in / 2**20:.0f} MiB (inputs X + V "
              f"= {(N * d + C * d) * isz / 2**20:.0f} MiB); peak {peak / 2**20:.0f} MiB, i.e. "
              f"{(peak - rss_in) / 2**20:.0f} MiB above it, of which the centred copy of V "
              f"(not counted by memory_limit) is {C * d * isz / 2**20:.0f} MiB"
              + ("" if reset else " (peak not reset: it may include drawing the inputs)")
              + ("" if backend == "numpy" else " (device memory not shown)")]
    Nt, dt, Ct = LLM_SIZE
    ft = budget.block_ratio_flops("linear", Ct, Nt, dt, pairs)
    lines += [f"  extrapolation to N={Nt}, d={dt}, C={Ct}: {ft / 1e12:.1f} TFLOP -> "
              f"{ft / (f / sec):.0f} s at the rate achieved here; "
              f"{ft / 55e12:.2f} s at the H100 fp64 GEMM floor (55 TFLOP/s); inputs X + V + "
              f"centred V = {(Nt * dt + 2 * Ct * dt) * isz / 2**30:.2f} GiB, the chunked loops "
              f"stay under memory_limit (whole-row tiles need {(72 * Nt * Nt) / 2**30:.1f} GiB "
              "for fp64; below that the planner splits the rows)"]
    return lines
