"""The preconditioner experiment (``python -m simulations.preconditioners``): summaries and
markdown tables of its three sweeps.

* ``linear`` / ``hidden``: per cell (C, seed) one :func:`rmt.preconditioners.quality_trial` —
  the matrix is the Hessian of one layer at initialisation (linear CE model: blocks = rows of
  ``V``; ReLU net: blocks = rows of ``W``), ``P`` one of the four approximations, and every
  error is a relative one of the whole layer (aggregate over all blocks), in the norm named in
  its column.
* ``optim``: per cell (C, seed) the four optimisers of :mod:`rmt.optimizer_study` on one
  soft-teacher problem (a paired comparison).

Every cell of a table is the mean over seeds with its 95 % Student-t interval
(:func:`rmt.stats.mean_estimate`); for ``κ`` the geometric mean with the exponentiated t-interval
of ``log κ`` (``κ`` is positive and heavy-tailed: its arithmetic interval can cross zero).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["APPROX", "LABEL", "OPTS", "LEVEL", "HESSIAN_QUANTITIES", "summary",
           "finished_rows", "open_results", "hessian_table", "optim_table", "markdown_tables"]

APPROX = ("identity", "diagonal", "block_scalar", "block")
LABEL = {"identity": "identity (GD)", "diagonal": "diagonal (Adam)",
         "block_scalar": "block-scalar (Adam-mini)", "block": "block-diagonal (block Newton)"}
OPTS = ("gd", "adam", "adam-mini", "muon")
#: CI level of every table and figure of the experiment.
LEVEL = 0.95
#: Table columns: variable stem, header (which norm, which matrix).
HESSIAN_QUANTITIES = (
    ("frobenius_error", "‖H−P‖_F/‖H‖_F"),
    ("spectral_error", "‖H−P‖₂/‖H‖₂"),
    ("kappa", "κ(P^-1/2 H P^-1/2) on range(H)"),
    ("newton_error", "‖ΠP⁻¹g − H⁺g‖₂/‖H⁺g‖₂"),
)


class _Geo:
    """A geometric mean with its interval: the t-interval of ``log`` values, exponentiated."""

    def __init__(self, e: Any) -> None:
        self.e = e
        self.value = np.exp(e.value)

    def ci(self, level: float) -> tuple[Any, Any]:
        lo, hi = self.e.ci(level)
        return np.exp(lo), np.exp(hi)


def summary(ds: Any, var: str) -> Any:
    """Mean and t-interval over the ``seed`` dimension of ``ds[var]`` (geometric for ``kappa*``),
    one value per remaining coordinate; ``.ci(level)`` gives the interval."""
    from rmt.stats import mean_estimate  # noqa: PLC0415

    a = np.asarray(ds[var].transpose("seed", ...).values, dtype=float)
    if var.startswith("kappa"):
        return _Geo(mean_estimate(np.log(a), axis=0))
    return mean_estimate(a, axis=0)


def _fixed(ds: Any) -> dict:
    """The sweep's fixed parameters (stored by :mod:`rmt.sweep` as a dict or as JSON text)."""
    import json  # noqa: PLC0415

    f = ds.attrs.get("sweep_fixed", {})
    return json.loads(f) if isinstance(f, str) else dict(f)


def _unfinished(ds: Any) -> list[str]:
    u = ds.attrs.get("unfinished")
    return [f"| {', '.join(map(str, u))} | NOT MEASURED (sweep not finished) |"] if u else []


def _cell(e: Any, i: int, fmt: str = ".3g") -> str:
    lo, hi = e.ci(LEVEL)
    return f"{e.value[i]:{fmt}} [{lo[i]:{fmt}}, {hi[i]:{fmt}}]"


def hessian_table(ds: Any, part: str) -> list[str]:
    """Markdown lines of the ``linear`` or ``hidden`` table: one row per (C, approximation)."""
    layer = ("linear CE model, blocks = rows of V" if part == "linear"
             else f"ReLU net (m = {_fixed(ds).get('hidden', '?')} hidden units), blocks = rows "
                  "of W")
    T = ds.sizes["seed"]
    lines = [f"**{part}** — H = Hessian of the layer at init ({layer}; d = {ds.attrs.get('dim')}, "
             f"N = {ds.attrs.get('n_samples')}, σ = {ds.attrs.get('sigma')}); errors relative, "
             f"whole layer (aggregate over all blocks); g = the layer's gradient, Π = projector "
             f"onto range(H). Mean [{LEVEL:.0%} t-CI] over {T} seeds (κ: geometric mean, "
             "t-CI of log κ).", "",
             "| C | P | " + " | ".join(h for _, h in HESSIAN_QUANTITIES) + " |",
             "|---|---|" + "---|" * len(HESSIAN_QUANTITIES)]
    ests = {(a, q): summary(ds, f"{q}_{a}") for a in APPROX for q, _ in HESSIAN_QUANTITIES}
    for i, c in enumerate(ds["n_classes"].values):
        for a in APPROX:
            cells = " | ".join(_cell(ests[(a, q)], i) for q, _ in HESSIAN_QUANTITIES)
            lines.append(f"| {c} | {LABEL[a]} | {cells} |")
    return lines + _unfinished(ds)


def optim_table(ds: Any) -> list[str]:
    """Markdown lines of the optimiser table: steps to the loss-gap target and the gap after the
    budget, per C and optimiser, and the learning rates chosen per seed."""
    from rmt.stats import mean_estimate  # noqa: PLC0415

    T = ds.sizes["seed"]
    lines = [f"**optim** — linear CE, soft-teacher targets (d = {ds.attrs.get('dim')}, "
             f"N = {ds.attrs.get('n_samples')}): steps until the loss gap (ℓ − ℓ*)/(ℓ₀ − ℓ*) is "
             f"≤ {ds.attrs.get('target_fraction')}, mean [{LEVEL:.0%} t-CI] over the seeds that "
             f"reached it (reached/{T}); gap after the budget: median over seeds. Each optimiser "
             "at its best learning rate per seed.", "",
             "| C | " + " | ".join(OPTS) + " |", "|---|" + "---|" * len(OPTS)]
    for c in ds["n_classes"].values:
        row = []
        for o in OPTS:
            k = o.replace("-", "_")
            st = np.asarray(ds[f"{k}_best_steps"].sel(n_classes=c).values, dtype=float)
            g = np.asarray(ds[f"{k}_final_gap"].sel(n_classes=c).values, dtype=float)
            ok = np.isfinite(st)
            txt = "—"
            if ok.sum() > 1:
                e = mean_estimate(st[ok])
                lo, hi = e.ci(LEVEL)
                txt = f"{e.value:.1f} [{lo:.1f}, {hi:.1f}]"
            row.append(f"{txt} ({ok.sum()}/{T}); gap {np.median(g):.1e}")
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    lines += _unfinished(ds)
    from rmt.optimizer_study import GRID_UNITS, GRIDS  # noqa: PLC0415

    lines += ["", "Learning-rate grids: " + "; ".join(
        f"{o} {list(GRIDS[o])} ({GRID_UNITS[o]})" for o in OPTS) + ".", "",
        "Chosen learning rates (per seed):", ""]
    for c in ds["n_classes"].values:
        lines.append(f"- C = {c}: " + "; ".join(
            f"{o} {np.round(ds[o.replace('-', '_') + '_best_lr'].sel(n_classes=c).values, 4)}"
            for o in OPTS))
    return lines


def finished_rows(out: Path) -> Any:
    """The rows of an unfinished sweep whose every seed is stored in ``<out>.cells/``, as a
    Dataset (``None`` when no row is finished), with ``attrs["unfinished"]`` naming the C values
    left out: a sweep stopped at a large C still gives its table for the smaller ones.

    The cells are read and checked (checksum, manifest) by :mod:`rmt.sweep`'s store; the grid is
    ``n_classes`` × seed in C order, so the finished leading rows keep their cell indices.
    """
    import json  # noqa: PLC0415

    from rmt.sweep import Grid, cells_path  # noqa: PLC0415
    from rmt.sweep.runner import _assemble  # noqa: PLC0415 - same assembly as a finished sweep
    from rmt.sweep.store import _Store  # noqa: PLC0415

    d = cells_path(Path(out))
    if not (d / "manifest.json").is_file():
        return None
    m = json.loads((d / "manifest.json").read_text())
    store = _Store(d, m)
    Cs, T = list(m["parameters"]["n_classes"]), int(m["n_seeds"])
    done = set(store.stored_indices())
    k = 0
    while k < len(Cs) and all(k * T + s in done for s in range(T)):
        k += 1
    if k == 0:
        return None
    grid = Grid({"n_classes": Cs[:k]}, n_seeds=T, seed=m["seed"], fixed=m["fixed"])
    ds = _assemble(grid, {i: store.read_cell(i, m["n_cells"])[0] for i in range(k * T)})
    ds.attrs.update({**m["fixed"], "sweep_fixed": json.dumps(m["fixed"]), "unfinished": Cs[k:]})
    return ds


def open_results(path: Path) -> Any:
    """The results file at ``path``, or else the finished rows of its sweep (or ``None``)."""
    from rmt import results  # noqa: PLC0415

    return results.open(path) if Path(path).exists() else finished_rows(path)


def markdown_tables(paths: Mapping[str, Path]) -> str:
    """Every table whose results (or finished rows) exist (keys ``linear``, ``hidden``,
    ``optim``); rows of an unfinished sweep are marked NOT MEASURED."""
    out: list[str] = []
    for part in ("linear", "hidden", "optim"):
        ds = open_results(paths[part])
        if ds is None:
            continue
        out += (hessian_table(ds, part) if part != "optim" else optim_table(ds)) + [""]
    return "\n".join(out)
