"""The training-dynamics experiment (``python -m simulations.training_dynamics``): its printed
report and the README table, from the Dataset of :func:`rmt.training.tidy`.

The cells themselves are :func:`rmt.training.run_cell`; this module only formats what they
measured: the output layer's aggregate ratio, the Frobenius norm of the residual part of the
cross-layer block between the last two layers (``H_WV`` for the one-hidden-layer net) and the
loss gap, at 0, 50 and 100 % of training, as means with their Student-t interval over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rmt.training import table

__all__ = ["COLUMNS", "combine", "seeds_note", "summary_lines", "markdown_table"]

#: The columns of the report: (variable of rmt.training.snapshot, heading).
COLUMNS = (("ratio_agg_L", "output-layer aggregate ratio"),
           ("cross_res_Lm1_L", "‖residual part of H_(L−1,L)‖_F"),
           ("loss_gap", "loss gap ℓ − ℓ*"))
FRACTIONS = (0.0, 0.5, 1.0)


def combine(datasets: Sequence[Any]) -> Any:
    """Results files of this experiment (e.g. sweeps over different ``C`` with different seed
    counts) as one Dataset: an outer join over every coordinate, NaN where a file lacks a cell;
    the statistics of each file are kept as computed (over its own seeds)."""
    import xarray as xr  # noqa: PLC0415

    if not datasets:
        raise ValueError("combine needs at least one dataset")
    fr = [np.asarray(ds["fraction"]) for ds in datasets]
    if any(f.shape != fr[0].shape or not np.allclose(f, fr[0]) for f in fr):
        raise ValueError("datasets must share their snapshots (the same step budget)")
    return xr.merge([ds.drop_dims("iteration", errors="ignore") for ds in datasets],
                    join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")


def seeds_note(ds: Any) -> str:
    """How many seeds each ``C`` had, e.g. ``"5 seeds"`` or ``"5 seeds (C = 1000: 3)"``."""
    n = ds["loss_star"].notnull().sum("seed").max([d for d in ds["loss_star"].dims
                                                   if d not in ("seed", "C")])
    counts = {int(c): int(k) for c, k in zip(np.asarray(ds["C"]), np.asarray(n))}
    top = max(counts.values())
    rest = ", ".join(f"C = {c}: {k}" for c, k in counts.items() if k != top)
    return f"{top} seeds" + (f" ({rest})" if rest else "")


def _fmt(t: tuple[float, float, float], digits: int = 3) -> str:
    m, lo, hi = t
    if not np.isfinite(m):
        return "—"
    return f"{m:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def _rows(ds: Any, model: str) -> list[dict[str, Any]]:
    return table(ds, model=model, fractions=FRACTIONS, columns=COLUMNS)


def summary_lines(ds: Any) -> list[str]:
    """One line per (model, loss, C, optimizer): the three columns at 0 / 50 / 100 %."""
    out = []
    for model in np.asarray(ds["model"]):
        if str(model) == "linear":
            continue
        out.append(f"{model}: mean [{100 * ds.attrs.get('ci_level', 0.95):g}% t-CI over "
                   f"{seeds_note(ds.sel(model=model))}] at 0 / 50 / 100 % of training: "
                   + " | ".join(h for _, h in COLUMNS))
        for r in _rows(ds, str(model)):
            if all(not np.isfinite(v[0]) for k, v in r.items() if "@" in k):
                continue                      # a cell no file ran (see combine)
            cols = [" / ".join(_fmt(r[f"{v}@{f:g}"]) for f in FRACTIONS) for v, _ in COLUMNS]
            out.append(f"  {r['loss']:3s} C={r['C']:<5d} {r['optimizer']:4s} " + " | ".join(cols))
    return out


def markdown_table(ds: Any, model: str = "hidden") -> str:
    """The README table (``ds`` from one results file or :func:`combine`): one row per (loss, C,
    optimizer, fraction of training) that was run, each quantity ``mean [CI]`` (Student t over
    the cell's seeds; the ``seeds`` column says how many)."""
    cols = (("ratio_agg_L", "R_agg, output layer"), ("ratio_agg_Lm1", "R_agg, layer L−1"),
            ("cross_res_Lm1_L", "‖residual part of H_(L−1,L)‖_F"), ("loss_gap", "ℓ − ℓ*"))
    head = ["loss", "C", "optimizer", "seeds", "% of training"] + [h for _, h in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    seeds = ds["loss_star"].sel(model=model).notnull().sum("seed")
    rows = sorted(table(ds, model=model, fractions=FRACTIONS, columns=cols),
                  key=lambda r: (r["loss"], r["optimizer"], r["C"]))
    for r in rows:
        n = int(seeds.sel(loss=r["loss"], C=r["C"], optimizer=r["optimizer"]))
        for f in FRACTIONS if n else ():
            cells = [r["loss"].upper(), str(r["C"]), r["optimizer"], str(n), f"{100 * f:g}"]
            cells += [_fmt(r[f"{v}@{f:g}"]) for v, _ in cols]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
