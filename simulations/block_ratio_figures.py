"""Figures of ``python -m simulations.block_ratio`` (house style of :mod:`rmt.figures`), drawn
from its results file alone: the linear model's headline panels and (σ, γ) grid, and the
one-hidden-layer net's W- and V-blocks with their predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rmt import figures as F
from rmt.experiments.block_ratio import LAYOUT, fit_key, n_samples

__all__ = ["make_figure"]


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
        F.ratio_vs_c(ax, Cs, m, lo, hi, cc, pred, kap, kind=kind,
                     fitted_slope=None if rescale else slope, rescale=rescale,
                     label="measured (RMS over pairs)" if kind == "per-block" else "measured",
                     prediction_label="finite-C prediction",
                     limit_label=r"$C\to\infty$ at this $d, N$", legend=legend)
        if rescale and kind == "per-block":
            mm = ds["c_mean_per_block_mean"].values[:, a, b]
            ok = np.isfinite(mm)
            if ok.any():
                ax.plot(Cs[ok], mm[ok], "s", ms=3, mfc="none", color=F.OKABE_ITO["orange"],
                        label=mean_label, zorder=2)
                if legend:
                    ax.legend(loc="best", fontsize=6.5, frameon=False)
        return ax

    pairs = int(ds.attrs.get("sweep_fixed", {}).get("pairs", 256))
    why_mean = (f"Squares: {mean_label} ‖H_ij‖_F/‖H_ii‖_F over {pairs} sampled pairs, times C; "
                "it sits below the RMS ratio because the RMS weights each pair by ‖H_ij‖²_F, "
                "which the few classes with the largest softmax probabilities dominate (the "
                "more so the larger σ: at σ = 2 a factor of 3 to 4 at C ≥ 10⁴).")
    fig, axes = F.figure("double", nrows=2, ncols=2, aspect=0.72)
    for ax, (kind, rescale), what in zip(axes.ravel(), [("per-block", False), ("aggregate", False),
                                                        ("per-block", True), ("aggregate", True)],
                                         ["(a) per block, RMS over all ordered pairs i ≠ j",
                                          "(b) aggregate over all blocks", "(c) (a) × C",
                                          "(d) (b) × √C"]):
        panel(ax, a, b, kind, rescale)
        ax.set_title(what, fontsize=8)
    fig.suptitle(f"Linear CE model at init, blocks = rows of V; σ = {sig[a]:g}, γ = d/N = "
                 f"{gam[b]:g}, d = {d}, N = {n_samples(d, gam[b])}", fontsize=8.5)
    F.caption(fig, _bars(ds) + f"Fitted slopes: weighted least squares over C ≥ {fit_c}, "
              f"{ds.attrs.get('ci_level', 0.95):.0%} CI. Limits: C·R_pb and √C·R_agg → "
              "κ(σ, d, N) as C → ∞. " + why_mean)
    written += list(F.save(fig, stem))
    if len(sig) * len(gam) > 1:
        # Rows γ, columns σ; one y scale per column (σ sets the range), one y label.
        fig, axes = F.figure("double", nrows=len(gam), ncols=len(sig), squeeze=False,
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
        with F.style():
            fig.legend(handles, labels, loc="outside upper center", ncol=4, fontsize=7,
                       frameon=False)
            fig.supylabel("per-block RMS ratio × C,  C·‖H_ij‖_F / ‖H_ii‖_F", fontsize=8)
        F.caption(fig, f"Linear CE model at init, d = {d}, blocks = rows of V. "
                  + _bars(ds) + why_mean)
        written += list(F.save(fig, stem.with_name(stem.name + "_grid")))
    return tuple(written)


_HIDDEN_LABELS = {("w", "ce"): ("uniform softmax (σ → 0): ρ/√(C+1)", "(a) W-blocks, CE"),
                  ("w", "mse"): ("ρ/√(C+2) (every σ)", "(b) W-blocks, MSE"),
                  ("v", "ce"): ("uniform softmax: 1/(C−1)", "(c) V-blocks, CE"),
                  ("v", "mse"): ("", "(d) V-blocks, MSE")}


def _above(ds: Any, blk: str, s: float, g: float) -> float:
    """Measured CE ratio over the uniform-softmax prediction at the largest C (for the caption)."""
    m = ds[f"{blk}_rms_per_block_mean"].sel(sigma=s, gamma=g, loss="ce").values[-1]
    return float(m / ds[f"prediction_{blk}_per_block"].sel(gamma=g, loss="ce").values[-1])


def _figure_hidden(ds: Any, stem: str | Path) -> tuple[Path, ...]:
    stem = Path(stem)
    Cs = np.asarray(ds["C"].values, dtype=float)
    fits = ds.attrs["fits"]
    s, g = float(ds["sigma"].values[0]), float(ds["gamma"].values[0])
    hm, d = int(ds.attrs["hidden"]), int(ds.attrs["dim"])
    losses = [str(x) for x in ds["loss"].values]
    panels = [(blk, loss) for blk in ("w", "v") for loss in losses]
    ncols = len(losses)
    fig, axes = F.figure("double", nrows=2, ncols=ncols, squeeze=False,
                         aspect=0.72 if ncols == 2 else 1.1)
    fs = (np.asarray(ds["prediction_w_finite_sigma"].sel(sigma=s, gamma=g, loss="ce").values)
          if "prediction_w_finite_sigma" in ds and "ce" in losses else np.array([np.nan]))
    finite = bool(np.isfinite(fs).any())
    for (r, c), (blk, loss) in zip(np.ndindex(axes.shape), panels):
        ax = axes[r, c]
        sub = ds.sel(sigma=s, gamma=g, loss=loss)
        m = np.asarray(sub[f"{blk}_rms_per_block_mean"].values, dtype=float)
        theory, title = _HIDDEN_LABELS[blk, loss]
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
        F.ratio_vs_c(ax, Cs, m, lo, hi, Cs, pred, None, kind="per-block", fitted_slope=slope,
                     label="measured (RMS over pairs)", prediction_label=theory, legend=False)
        if finite and blk == "w" and loss == "ce":
            ok = np.isfinite(fs)
            with F.style():
                ax.plot(Cs[ok], fs[ok], color=F.OKABE_ITO["bluish_green"], ls="-.", lw=1.1,
                        label=f"finite-σ prediction (σ = {s:g})", zorder=2)
        with F.style():
            ax.legend(loc="lower left", fontsize=6.5)
        if c > 0:
            ax.set_ylabel("")                      # one y label per row
        ax.set_title(title + (" (rows of W: m blocks of d × d)" if blk == "w" else
                              " (rows of V: C blocks of m × m)"), fontsize=8)
    fig.suptitle(f"One-hidden-layer net z = V relu(Wx) at init: m = {hm}, d = {d}, "
                 f"N = {n_samples(d, g)}, σ = {s:g}", fontsize=8.5)
    text = _bars(ds) + ("Per-block ratio: RMS over all ordered pairs k ≠ l, (mean ‖H_kl‖²_F / "
                        "mean ‖H_kk‖²_F)^½. ρ² (the data factor of the ReLU indicators) from "
                        "proofs.hidden_coupling at this d, N.")
    if "ce" in losses:
        text += (" The uniform-softmax formulas hold at p = 1/C, so for CE only as σ → 0: at "
                 f"σ = {s:g} and C = {int(Cs[-1])} the measured CE ratios sit "
                 f"{_above(ds, 'w', s, g):.2f}× (W) and {_above(ds, 'v', s, g):.2f}× (V) above "
                 "them")
        if finite:
            rel = np.nanmax(ds["prediction_w_finite_sigma_se"].values / ds[
                "prediction_w_finite_sigma"].values)
            text += ("; the finite-σ W prediction (rmt.hidden_prediction: approximation H1, "
                     f"Monte Carlo quadrature SE ≤ {rel:.1%}) takes the softmax at σ into account")
        text += "."
    F.caption(fig, text + " Fitted slopes: weighted least squares over C ≥ "
              f"{ds.attrs.get('fit_min_c', 100)}, {ds.attrs.get('ci_level', 0.95):.0%} CI.")
    return F.save(fig, stem)
