"""Figures shared by the catalog's claims, drawn from a stored result (``ClaimResult.to_dict``).

* :func:`verdict_figure` — a scalar claim's verdict at a glance: the estimate with its
  confidence interval *at the level the claim is tested at*, the prediction and every rival,
  each placed at its distance from the estimate in standard errors (symmetric-log axis, so a
  rival 100 SE away and a prediction 0.3 SE away are both readable), values written beside
  them.
* :func:`tolerance_figure` — an exact identity: each computed deviation against the
  floating-point tolerance it is judged by (log axis; exact zeros marked at the floor).

Both state on the figure what the interval is (level, over how many seeds) and what the rule
compares, as every figure of the suite must.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["verdict_figure", "tolerance_figure", "spread_text"]


def spread_text(result: Mapping[str, Any]) -> str:
    """``"99% CI, t with 15 dof over 16 seeds"`` (or the normal interval) for a result."""
    level = result.get("ci_level") or 0.99
    dof, n = result.get("dof"), result.get("n_trials")
    how = f"t with {dof:g} dof" if dof else "normal"
    return f"{100 * level:g}% CI ({how}, {n} trials)"


def _decimals(se: float) -> int:
    """Decimals that show a value to the second significant digit of its standard error."""
    return max(0, 1 - math.floor(math.log10(se))) if se > 0 and math.isfinite(se) else 6


def _num(v: float, dec: int) -> str:
    return f"{v:.{dec}f}".replace("-", "−")


def _symlog_ticks(lim: float, lin: float) -> tuple[list[float], list[str]]:
    """Ticks 0, ±lin and ±10^k beyond ``lin`` up to ``lim``, written as plain numbers; at most
    three decades each side (every other one when there are more), none crowding its neighbour."""
    pos = [lin] + [10.0 ** k for k in range(1, 7) if lin < 10.0 ** k <= lim]
    if lim > 3 * pos[-1]:
        pos.append(lim)
    if len(pos) > 1 and pos[1] < 5 * lin:      # too close to ±lin to label both
        pos.pop(1)
    if len(pos) > 3:                           # keep lin, the largest, and every other between
        pos = [pos[0]] + pos[:0:-2][::-1]
    ticks = [-p for p in pos[::-1]] + [0.0] + pos
    return ticks, [f"{t:g}".replace("-", "−") for t in ticks]


def verdict_figure(ax: Any, result: Mapping[str, Any], *, quantity: str,
                   rivals_from: Sequence[Mapping[str, Any]] | None = None) -> Any:
    """Estimate, prediction and rivals of a scalar two-sided claim, in standard errors.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    result : mapping
        :meth:`rmt.claims.ClaimResult.to_dict` of a claim with a :class:`~rmt.claims.WithinCI`
        or :class:`~rmt.claims.RateWithinCI` rule (``estimate``, ``stderr``, ``ci``,
        ``ci_level``, ``prediction``, ``rivals``).
    quantity : str
        What the numbers are (mathtext allowed), for the x label.
    rivals_from : sequence of mappings, optional
        Rival rows (``name``, ``value``, ``rejected``) instead of ``result["rivals"]``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from .. import figures as F  # noqa: PLC0415

    est, se = float(result["estimate"]), float(result["stderr"])
    lo, hi = (float(x) for x in result["ci"])
    if not (se > 0 and math.isfinite(se)):
        raise ValueError("verdict_figure needs an estimate with a positive standard error")
    q = (hi - lo) / (2 * se)                     # the critical value the claim was tested at
    dec = _decimals(se)
    rows = [("prediction", float(result["prediction"]), None)]
    for r in (result.get("rivals") if rivals_from is None else rivals_from) or []:
        rows.append((f"rival: {r['name']}", float(r["value"]), bool(r["rejected"])))
    z = np.array([(v - est) / se for _, v, _ in rows])
    lin = float(max(2, math.ceil(q)))
    far = 1.4 * float(np.max(np.abs(z))) if z.size else 0.0
    # beyond the linear part, end the axis at a labelled tick (1 or 3 times a power of ten)
    ends = sorted(m * 10.0 ** k for k in range(1, 7) for m in (1.0, 3.0))
    lim = max(2.0 * lin, next((e for e in ends if e >= far), far) if far > 2.0 * lin else 0.0)
    with F.style():
        n = len(rows) + 1
        ys = np.arange(n)[::-1].astype(float)    # the measured row on top
        tr = ax.get_yaxis_transform()            # x in axes fraction, y in data
        ax.axvspan(-q, q, color=F.OKABE_ITO["sky_blue"], alpha=0.3, lw=0,
                   label=f"{spread_text(result)} of the estimate")
        ax.errorbar([0.0], [ys[0]], xerr=[[q], [q]], fmt="o", color=F.OKABE_ITO["blue"],
                    ms=4, capsize=2.5, lw=1.0)
        ax.text(0.01, ys[0] + 0.32, f"measured {_num(est, dec)} ± {_num(se, dec)} (SE)",
                transform=tr, fontsize=6.5, va="center")
        for (name, value, rejected), zi, yi in zip(rows, z, ys[1:]):
            if rejected is None:
                ax.plot([zi], [yi], "D", color=F.OKABE_ITO["vermillion"], ms=4.5)
                tail = ""
            else:
                ax.plot([zi], [yi], "s" if rejected else "X", ms=4.5,
                        color="0.2" if rejected else F.OKABE_ITO["orange"],
                        mfc="none" if rejected else None)
                tail = ": rejected" if rejected else ": NOT rejected"
            ax.text(0.01, yi + 0.32, f"{name} {_num(value, dec)}{tail}", transform=tr,
                    fontsize=6.5, va="center")
        for yi in ys:
            ax.axhline(yi, color="0.9", lw=0.5, zorder=0)
        ax.axvline(0.0, color="0.6", lw=0.6, zorder=0)
        ax.set_xscale("symlog", linthresh=lin, linscale=1.0)
        ax.set_xlim(-lim, lim)
        ticks, labels = _symlog_ticks(lim, lin)
        ax.set_xticks(ticks, labels)
        ax.minorticks_off()
        ax.set_ylim(-0.5, n - 0.35)
        ax.set_yticks([])
        ax.set_xlabel(f"(value − estimate) / SE, {quantity}")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=6.5,
                  borderaxespad=0.1)
    return ax


def tolerance_figure(ax: Any, deviations: Any, tolerance: float, *, xlabel: str,
                     ylabel: str, tolerance_label: str) -> Any:
    """Deviations of an exact identity against its floating-point tolerance (log scale).

    Exact zeros cannot sit on a log axis: they are drawn as downward triangles at the floor
    (``tolerance × 10⁻⁸``, or below the smallest non-zero deviation) and counted in the legend.
    """
    from .. import figures as F  # noqa: PLC0415

    dev = np.abs(np.asarray(deviations, dtype=float)).ravel()
    tol = float(tolerance)
    nz = dev[dev > 0]
    floor = min(tol * 1e-8, float(nz.min()) / 10 if nz.size else math.inf)
    if not math.isfinite(floor) or floor <= 0:
        floor = 1e-30
    idx = np.arange(dev.size)
    with F.style():
        if nz.size:
            ax.plot(idx[dev > 0], nz, "o", ms=3, color=F.OKABE_ITO["blue"],
                    label=f"computed ({nz.size})")
        if (dev == 0).any():
            ax.plot(idx[dev == 0], np.full((dev == 0).sum(), floor), "v", ms=3,
                    color=F.OKABE_ITO["bluish_green"],
                    label=f"exactly 0 ({int((dev == 0).sum())}, drawn at the floor)")
        if tol > 0:
            ax.axhline(tol, color=F.OKABE_ITO["vermillion"], ls="--", lw=1.0,
                       label=tolerance_label)
        ax.set_yscale("log")
        top = max(tol, float(dev.max()) if dev.size else tol) * 30
        bottom = floor if (dev == 0).any() or not nz.size else min(float(nz.min()), tol)
        ax.set_ylim(bottom / 3, top)
        ax.set_xlim(-0.5 - 0.02 * dev.size, dev.size - 0.5 + 0.02 * dev.size)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", fontsize=6.5, ncols=1)
    return ax
