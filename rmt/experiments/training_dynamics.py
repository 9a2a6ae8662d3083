"""The training-dynamics experiment (``python -m simulations.training_dynamics``): its printed
report and the README table, from the Dataset of :func:`rmt.training.tidy`.

The cells themselves are :func:`rmt.training.run_cell`; this module only formats what they
measured: the output layer's aggregate ratio, the Frobenius norm of the residual part of the
cross-layer block between the last two layers (``H_WV`` for the one-hidden-layer net) and the
loss gap, at 0, 50 and 100 % of training, as means with their Student-t interval over seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["COLUMNS", "summary_lines", "markdown_table"]

#: The columns of the report: (variable of rmt.training.snapshot, heading).
COLUMNS = (("ratio_agg_L", "output-layer aggregate ratio"),
           ("cross_res_Lm1_L", "‖residual part of H_(L−1,L)‖_F"),
           ("loss_gap", "loss gap ℓ − ℓ*"))
FRACTIONS = (0.0, 0.5, 1.0)


def _fmt(t: tuple[float, float, float], digits: int = 3) -> str:
    m, lo, hi = t
    if not np.isfinite(m):
        return "—"
    return f"{m:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def _rows(ds: Any, model: str) -> list[dict[str, Any]]:
    from rmt.training import table  # noqa: PLC0415

    return table(ds, model=model, fractions=FRACTIONS, columns=COLUMNS)


def summary_lines(ds: Any) -> list[str]:
    """One line per (model, loss, C, optimizer): the three columns at 0 / 50 / 100 %."""
    out = []
    for model in np.asarray(ds["model"]):
        if str(model) == "linear":
            continue
        out.append(f"{model}: mean [{100 * ds.attrs.get('ci_level', 0.95):g}% t-CI over "
                   f"{ds.sizes['seed']} seeds] at 0 / 50 / 100 % of training: "
                   + " | ".join(h for _, h in COLUMNS))
        for r in _rows(ds, str(model)):
            cols = [" / ".join(_fmt(r[f"{v}@{f:g}"]) for f in FRACTIONS) for v, _ in COLUMNS]
            out.append(f"  {r['loss']:3s} C={r['C']:<5d} {r['optimizer']:4s} " + " | ".join(cols))
    return out


def markdown_table(ds: Any, model: str = "hidden") -> str:
    """The README table: one row per (loss, C, optimizer), each cell ``mean [CI]`` at
    0 / 50 / 100 % of training."""
    head = ["loss", "C", "optimizer"] + [f"{h} at {100 * f:g} %" for _, h in COLUMNS
                                        for f in FRACTIONS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in _rows(ds, model):
        cells = [r["loss"].upper(), str(r["C"]), r["optimizer"]]
        cells += [_fmt(r[f"{v}@{f:g}"]) for v, _ in COLUMNS for f in FRACTIONS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
