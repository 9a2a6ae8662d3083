"""Heat maps of |H| at initialisation: the block-diagonal structure emerging as C grows.

    python -m simulations.heatmap --help
    python -m simulations.heatmap                         # C = 2, 10, 100; CPU, a few seconds
    python -m simulations.heatmap --C 2 10 100 --dim 8 --hidden 8 --out results/heatmap

In the manner of the paper's first figure, but saying exactly what is shown: each panel is the
matrix of entries ``|H_kl| / max|H|`` of the closed-form Hessian (:func:`rmt.hessian.hessian`)
of the CE loss at a random initialisation (σ = 1, ``x ~ N(0, I_d)``, ``N = --n-samples``), on a
log colour scale, with the block boundaries drawn (up to 64 blocks per side).

* Top row — linear model ``z = V x``: the full ``(C d) × (C d)`` Hessian; block ``(i, j)`` is
  ``H_ij`` of rows ``v_i, v_j`` of ``V``. The off-diagonal blocks fade like ``1/C``.
* Bottom row — one hidden layer ``z = V relu(W x)``: the ``W``–``W`` part, ``m`` blocks of
  ``d × d`` (rows of ``W``: hidden units). Their coupling fades only like ``C^{-1/2}``
  (``proofs.hidden_coupling``).

Each panel's title gives the per-block RMS ratio ``R_pb = (mean_{i≠j}‖H_ij‖²/mean_i‖H_ii‖²)^{1/2}``
over all blocks of the matrix (Frobenius norms). Each panel is normalised by its own largest
entry. A matrix with more than :data:`MAX_SHOWN` rows is shown by its leading blocks (the title
says how many), so that every entry keeps its pixels and the block boundaries stay drawn.
Writes ``OUT.pdf`` and ``OUT.png``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.cli import ArgumentParser, run_command
from rmt.validation import check_writable, int_arg, real_arg

PROG = "python -m simulations.heatmap"
#: Colours span this many decades below the largest entry.
DECADES = 5
#: Most rows (and columns) drawn per panel: a third of a double-column figure is ~650 px wide
#: at 300 dpi, so each entry keeps ~4 px; larger matrices show their leading blocks.
MAX_SHOWN = 160


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Heat maps of |H| (linear model, and the W-W part "
                       "of a one-hidden-layer net) at C = 2, 10, 100: block structure emerging "
                       "with C.")
    p.add_argument("--C", type=int_arg(2), nargs="+", default=[2, 10, 100],
                   help="class counts, one panel each (default 2 10 100)")
    p.add_argument("--dim", type=int_arg(1), default=8, help="d (default 8)")
    p.add_argument("--hidden", type=int_arg(0), default=8,
                   help="hidden units m for the second row (0: no second row; default 8)")
    p.add_argument("--hidden-dim", type=int_arg(1), default=16,
                   help="d of the hidden net (default 16)")
    p.add_argument("--n-samples", type=int_arg(1), default=64,
                   help="N (default 64)")
    p.add_argument("--sigma", type=real_arg(0.0), default=1.0,
                   help="initialisation scale σ (default 1)")
    p.add_argument("--seed", type=int_arg(0), default=0)
    p.add_argument("--out", type=Path, default=Path("results/heatmap"),
                   help="output path without extension (default results/heatmap)")
    return p


def _rms_ratio(H: np.ndarray, n_blocks: int) -> float:
    b = H.shape[0] // n_blocks
    sq = np.einsum("ikjl->ij", H.reshape(n_blocks, b, n_blocks, b) ** 2)
    off = sq[~np.eye(n_blocks, dtype=bool)].mean()
    return float(math.sqrt(off / np.diag(sq).mean()))


def matrices(args: Any) -> list[dict[str, Any]]:
    """The matrices to draw: one dict per panel (``H``, ``n_blocks``, ``C``, ``R_pb``,
    ``label``, ``row``)."""
    from rmt.hessian import hessian  # noqa: PLC0415
    from rmt.models import LinearClassifier, OneHiddenLayer  # noqa: PLC0415

    out = []
    seeds = bk.spawn_seeds(args.seed, 2 * len(args.C))
    for k, C in enumerate(args.C):
        sx, sv = bk.spawn_seeds(seeds[k], 2)
        X = bk.standard_normal((args.n_samples, args.dim), sx)
        model = LinearClassifier.init(C, args.dim, args.sigma, seed=sv)
        H = np.asarray(hessian(model, X))
        r = _rms_ratio(H, C)
        out.append({"H": H, "n_blocks": C, "row": 0, "C": C, "R_pb": r,
                    "label": f"linear, C={C}: R_pb={r:.3g}"})
    if args.hidden:
        m, d = args.hidden, args.hidden_dim
        for k, C in enumerate(args.C):
            sx, sm, sy = bk.spawn_seeds(seeds[len(args.C) + k], 3)
            X = bk.standard_normal((args.n_samples, d), sx)
            y = np.random.default_rng(sy).integers(0, C, args.n_samples)
            model = OneHiddenLayer.init(C, d, m, args.sigma, "relu", seed=sm)
            H = np.asarray(hessian(model, X, y))
            nv = C * m
            Hw = H[nv:, nv:]
            r = _rms_ratio(Hw, m)
            out.append({"H": Hw, "n_blocks": m, "row": 1, "C": C, "R_pb": r,
                        "label": f"hidden W–W, C={C}: R_pb={r:.3g}"})
    return out


def make_figure(panels: list[dict[str, Any]], n_cols: int, stem: Path, args: Any
                ) -> tuple[Path, ...]:
    from rmt import figures  # noqa: PLC0415

    n_rows = 1 + max(p["row"] for p in panels)
    fig, axes = figures.figure("double", nrows=n_rows, ncols=n_cols, squeeze=False,
                               aspect=0.36 * n_rows)
    lo = 10.0 ** -DECADES
    shown_some = False
    for row in range(n_rows):
        mappable = None
        for col, p in enumerate([q for q in panels if q["row"] == row]):
            ax = axes[row, col]
            A = np.abs(p["H"]) / np.abs(p["H"]).max()
            nb, b = p["n_blocks"], A.shape[0] // p["n_blocks"]
            k = min(nb, max(1, MAX_SHOWN // b))       # leading k × k blocks
            figures.block_heatmap(ax, A[:k * b, :k * b], k, what="entries", vmin=lo, vmax=1.0,
                                  cbar=False)
            shown_some |= k < nb
            what = (rf"linear $z = Vx$, $d={args.dim}$" if row == 0
                    else rf"hidden W–W, $m={args.hidden}$, $d={args.hidden_dim}$")
            first = "" if k == nb else rf", first ${k}\times{k}$ of ${nb}\times{nb}$ blocks"
            ax.set_title(what + rf", $C={p['C']}$" + "\n"
                         + rf"$R_{{pb}}={p['R_pb']:.3g}$" + first,
                         fontsize=7)
            unit = " (class)" if row == 0 else " (hidden unit)"
            ax.set_xlabel("block column $j$" + unit, fontsize=7)
            ax.set_ylabel("block row $i$" + unit, fontsize=7)
            mappable = ax.images[0]
        figures.colorbar(axes[row, -1], mappable, label=r"$|H_{kl}|\,/\,\max_{\rm panel}|H|$",
                         extend="min")
    fig.suptitle(rf"CE Hessian at init, $\sigma={args.sigma:g}$, $N={args.n_samples}$, "
                 f"seed {args.seed}", fontsize=8)
    figures.caption(fig, "Entries |H_kl| of one closed-form Hessian per panel (one random "
                    "initialisation and data set, no error bars), each divided by the largest "
                    f"|H_kl| of its own panel, on a log scale over {DECADES} decades (smaller "
                    "entries, exact zeros included, take the lowest colour). White lines: block "
                    "boundaries (top: rows of V, one per class, d × d each; bottom: rows of W, "
                    "one per hidden unit). R_pb: per-block RMS ratio of Frobenius norms, "
                    "(mean ‖H_ij‖²_F over i ≠ j / mean ‖H_ii‖²_F)^½, over all blocks of the "
                    "panel's matrix"
                    + (f"; matrices over {MAX_SHOWN} rows are shown by their leading blocks "
                       "(R_pb still over all of them)." if shown_some else "."))
    return figures.save(fig, stem)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv, _main)


def _main(args: Any) -> int:
    for suffix in (".pdf", ".png"):
        check_writable("--out", args.out.with_suffix(suffix))
    from rmt.hessian import MAX_DENSE_PARAMS  # noqa: PLC0415

    # Each panel is a dense Hessian of P parameters (P² entries): refuse before drawing any.
    big = max(args.C) * args.dim
    if args.hidden:
        big = max(big, max(args.C) * args.hidden + args.hidden * args.hidden_dim)
    if big > MAX_DENSE_PARAMS:
        raise ValueError(f"--C {max(args.C)} with --dim {args.dim} (and --hidden {args.hidden}, "
                         f"--hidden-dim {args.hidden_dim}) makes a dense Hessian of {big} "
                         f"parameters ({8 * big * big / 2**30:.3g} GiB); a panel allows at most "
                         f"{MAX_DENSE_PARAMS}: lower --C or the dimensions")
    panels = matrices(args)
    written = make_figure(panels, len(args.C), args.out, args)
    for p in panels:
        print(p["label"])
    print("wrote " + ", ".join(str(w) for w in written))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
