"""Figures of ``python -m simulations.lindeberg`` (house style of :mod:`rmt.figures`), drawn from
its results dictionary (``OUT.json``): ``OUT_rate`` (the sup of the gap against d, one panel per
regime of C) and ``OUT_path`` (the gap along the smooth and replacement paths at one d)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rmt.experiments.lindeberg import REGIME_LABELS, WEIGHTS

__all__ = ["make_figures"]


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
                if name == "fixed":
                    # the rank bound's exponent (2C/(dη): −1 at fixed C), anchored like the
                    # paper's line at the smallest d; for C ∝ d the bound is O(1) and predicts
                    # no decay, so no line is drawn there
                    k0 = int(np.argmin(d))
                    grid = np.geomspace(d.min(), d.max(), 50)
                    ax.plot(grid, y[k0] * (grid / d[k0]) ** -1.0, color="0.3", ls=":", lw=0.9)
                ax.plot(d, [s["noise_quantile"] for s in r["sup"]], color="0.6", ls="-.",
                        lw=0.9, marker="x", ms=3, label="noise floor")
                unused = ~np.asarray(r["used"], bool)
                if unused.any():
                    ax.plot(d[unused], y[unused], "o", mfc="white", color=F.OKABE_ITO["blue"],
                            ms=3.5, zorder=4, label="under the floor (not fitted)")
                ax.set_title(f"{REGIME_LABELS[name]}" + (f" = {p['n_classes']}" if name == "fixed"
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
        any_unused = any(not all(r["used"]) for r in rates.values())
        any_used = any(any(r["used"]) for r in rates.values())
        any_fit = any(r["fit"] is not None for r in rates.values())
        proxies = [   # only what some panel draws
            (Line2D([], [], marker="o", color=blue, ls="none", ms=3.5), "measured (95% CI)")
            if any_used else None,
            (Line2D([], [], marker="o", mfc="white", color=blue, ls="none", ms=3.5),
             "under the noise floor (not fitted)") if any_unused else None,
            (Line2D([], [], color=F.OKABE_ITO["bluish_green"], lw=1.1), "fitted power law")
            if any_fit else None,
            (Line2D([], [], color="0.45", ls="--", lw=0.9), r"slope $d^{-1/2}$ (paper)"),
            (Line2D([], [], color="0.3", ls=":", lw=0.9),
             r"slope $d^{-1}$ (rank bound, fixed $C$)") if "fixed" in rates else None,
            (Line2D([], [], color="0.6", ls="-.", marker="x", ms=3, lw=0.9),
             "noise floor (95% quantile)")]
        proxies = [x for x in proxies if x is not None]
        with F.style():
            fig.legend([h for h, _ in proxies], [lab for _, lab in proxies],
                       loc="outside upper center", ncol=3, fontsize=7, frameon=False)
        plain = {"diag": "C p_i(1 − p_i)", "offdiag": "C² p_i p_j"}[p["weights"]]
        # the title goes into the caption: an outside legend and a suptitle would overlap
        F.caption(fig, f"Smooth Lindeberg path, weights {plain}, γ = {p['gamma']:g}, "
                  f"σ = {p['sigma']:g}, trials ∝ 1/d. "
                  "Markers: sup over the path coordinate t and the z grid of |Δ̂(t, z)|, "
                  "Δ(t, z) = E s_t(z) − E s_0(z) the gap of the expected Stieltjes transform "
                  "between the dependent (t = 1) and independent (t = 0) weights; bars: 95% "
                  "bootstrap CI over the trials at each d. Slope lines are anchored at the "
                  "smallest d and show exponents only: the paper's O(1/√N) = O(d^−1/2) and, at "
                  "fixed C, the rank bound |Δ| ≤ 2C/(d Im z) (proofs lindeberg.rank_bound; its "
                  "value lies far above the frame). For C ∝ d the rank bound is O(1) and "
                  "predicts no decay: those panels are measured, not derived.")
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
    for ax, part, lab, letter in ((axes[0, 0], np.real, "Re", "(a)"),
                                  (axes[0, 1], np.imag, "Im", "(b)")):
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
            ax.set_title(f"{letter} {lab} of the gap at $z^* = {zs.real:g}+{zs.imag:g}i$")
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
        ax.set_title("(c) first spectral moment along the paths")
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
        ax.set_title("(d) ESD at the two ends")
        ax.legend(loc="upper right", fontsize=6.5)
    fig.suptitle(f"Lindeberg paths at $d={sm['params']['dim']}$, $N={sm['params']['n_samples']}$, "
                 f"$C={p['n_classes']}$, {WEIGHTS[p['weights']][3]} weights, "
                 f"{sm['n_trials']} trials", fontsize=8)
    est = {paths[k]["estimator"] for k in ("smooth", "replacement")}
    at_zero = ("At τ = 0 the gap is 0 by definition; the coupled estimator compares B_0 there "
               "with an independent matrix of the same law, so that point and its band show the "
               "estimator's noise around 0 (a check, excluded from the sup of the rate figure)."
               if "coupled" in est else "At τ = 0 the gap is 0 by definition (the estimator "
               "compares B_0 with itself there).")
    F.caption(fig, "Δ(τ, z) = E s_τ(z) − E s_0(z): the gap of the expected Stieltjes transform "
              "s(z) = (1/d) tr (B − z)⁻¹ between the matrix at path coordinate τ and B_0 "
              "(independent weights), at the z* where the smooth path's sup is attained. "
              f"Markers: mean over the trials of the {' / '.join(sorted(est))} estimator "
              "(unbiased; rmt.lindeberg); bands: 95% CI of that mean. " + at_zero
              + " (c) the first spectral moment's gap, times d; (d) the density of eigenvalues "
              "at the two ends, mean over trials on fixed bins with a 95% band.")
    return F.save(fig, stem + "_path", ("pdf", "png"))
