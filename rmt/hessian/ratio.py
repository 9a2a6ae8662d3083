"""Off-diagonal / diagonal block ratios of one layer: the exact aggregate and per-block
statistics over (sampled) pairs."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import backend as bk
from ..validation import check_choice, check_int, check_probability
from ..stats import critical_value, jsonable
from ._context import (
    AUTO_MAX_PAIRS,
    AUTO_MIN_PAIR_FLOPS,
    AUTO_MIN_PAIRS,
    AUTO_PAIR_BUDGET,
    MAX_ALL_PAIRS,
    _as_f64,
    _blocks,
    _Ctx,
)
from .norms import _aggregate, _layer, _pair_norms_sq


class UndefinedRatioWarning(RuntimeWarning):
    """Every diagonal block is 0, so the block ratios are 0/0 and reported as NaN; the message
    says why (all-zero data, a saturated softmax, dead hidden units)."""


def _why_zero(ctx: _Ctx, layer: str) -> str:
    """Why every diagonal block of ``layer`` vanishes (for :class:`UndefinedRatioWarning`)."""
    xp = ctx.xp
    if not bool(xp.any(ctx.X != 0)):
        return "X is all zeros (every block is (1/N) sum_n w_n x_n x_n^T)"
    F = ctx.features(layer)
    if not bool(xp.any(F != 0)):
        return "every hidden activation phi(W x_n) is 0 (dead units)"
    if ctx.loss == "ce" and layer == "V":
        head = ctx.head()
        lse, top = head.lse(), None
        for c0, c1 in _blocks(ctx.C, head._class_chunk(2 * ctx.isz * ctx.N)):
            z = xp.max(F @ ctx.Vc[c0:c1].T, axis=1)
            top = z if top is None else xp.maximum(top, z)
        p_max = float(xp.min(xp.exp(top - lse)))
        if p_max == 1.0:
            return ("the softmax is saturated: for every sample one class has probability 1 "
                    "to float precision, so A_n = diag(p_n) - p_n p_n^T = 0 (lower sigma or "
                    "the scale of X)")
    return "the per-sample weights vanish on every sample"


@dataclass(frozen=True)
class BlockRatio:
    """Off-diagonal / diagonal block ratios of one layer of the Hessian.

    Per-block ratio of an ordered pair ``i ≠ j``: ``r_ij = ‖H_ij‖_F / ‖H_ii‖_F`` (denominator:
    the diagonal block of the *row* index, as in docs/design.md; ``r_ij ≠ r_ji`` in general). The
    per-block statistics summarise ``r_ij`` over the pairs used (all ordered pairs, or a seeded
    sample without replacement). ``per_block_sem`` is the standard error of their mean as an
    estimate of the all-pairs mean *of this Hessian* (finite-population corrected; 0 when all
    pairs are used), and the CI is ``mean ± t_{(1+level)/2, n-1} · sem``; the spread over data
    and initialisation is for the caller to measure across seeds.

    The aggregate ratio ``(Σ_{i≠j} ‖H_ij‖²_F / Σ_i ‖H_ii‖²_F)^{1/2}`` is always exact (all
    pairs). Pairs whose diagonal block is 0 (e.g. a dead ReLU unit) have no ratio; they are
    counted in ``n_pairs_undefined`` and left out of the statistics.
    """

    model: str
    loss: str
    blocks: str
    n_samples: int
    dim: int
    n_classes: int
    hidden: int | None
    n_blocks: int
    block_shape: tuple[int, int]
    per_block_mean: float
    per_block_std: float
    per_block_sem: float
    per_block_ci_low: float
    per_block_ci_high: float
    per_block_min: float
    per_block_max: float
    level: float
    n_pairs: int
    n_pairs_total: int
    n_pairs_undefined: int
    sampled: bool
    aggregate: float
    diagonal_sq_sum: float
    off_diagonal_sq_sum: float
    dtype: str
    backend: str

    _DEFINITIONS = {
        "per_block_mean": "mean over the pairs used of r_ij = ||H_ij||_F / ||H_ii||_F, i != j",
        "per_block_std": "standard deviation (ddof=1) of r_ij over the pairs used",
        "per_block_sem": "standard error of per_block_mean as an estimate of the all-pairs mean "
                         "of this Hessian (finite-population corrected; 0 when all pairs used)",
        "per_block_ci": "per_block_mean +- t quantile * per_block_sem at confidence `level`",
        "aggregate": "(sum_{i!=j} ||H_ij||_F^2 / sum_i ||H_ii||_F^2)^(1/2), exact over all pairs",
        "diagonal_sq_sum": "sum_i ||H_ii||_F^2 (exact)",
        "off_diagonal_sq_sum": "sum_{i!=j} ||H_ij||_F^2 over ordered pairs (exact, computed "
                               "directly, not as total minus diagonal)",
        "n_pairs": "ordered pairs (i, j), i != j, whose ratio entered the statistics",
        "n_pairs_total": "all ordered pairs i != j of the layer: n_blocks (n_blocks - 1)",
    }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every number under a key that says what it is, plus
        ``"definitions"`` explaining the keys."""
        d = asdict(self)
        d["block_shape"] = list(self.block_shape)
        d["per_block_ci"] = [d.pop("per_block_ci_low"), d.pop("per_block_ci_high")]
        d["definitions"] = dict(self._DEFINITIONS)
        return jsonable(d)                      # strict JSON: NaN (undefined) as None

    def __str__(self) -> str:
        shape = f"{self.block_shape[0]}x{self.block_shape[1]}"
        size = (f"N={self.n_samples}, d={self.dim}, C={self.n_classes}"
                + (f", m={self.hidden}" if self.hidden is not None else ""))
        how = "sampled" if self.sampled else "all"
        pct = f"{100 * self.level:g}%"
        lines = [
            f"Block ratio: {self.model} model, {self.loss.upper()} loss, blocks = rows of "
            f"{self.blocks} ({self.n_blocks} blocks of {shape}); {size}; {self.dtype} on "
            f"{self.backend}",
            f"  aggregate, all blocks: (Σ_i≠j ‖H_ij‖²_F / Σ_i ‖H_ii‖²_F)^1/2 = {self.aggregate:.6g}"
            f"  [Σ_i≠j ‖H_ij‖²_F = {self.off_diagonal_sq_sum:.6g}, "
            f"Σ_i ‖H_ii‖²_F = {self.diagonal_sq_sum:.6g}]",
            f"  per block ‖H_ij‖_F/‖H_ii‖_F ({how} {self.n_pairs} of {self.n_pairs_total} ordered "
            f"pairs): mean {self.per_block_mean:.6g} +- {self.per_block_sem:.2g} (sem), "
            f"{pct} CI [{self.per_block_ci_low:.6g}, {self.per_block_ci_high:.6g}], "
            f"std {self.per_block_std:.3g}, range [{self.per_block_min:.4g}, "
            f"{self.per_block_max:.4g}]",
        ]
        if self.n_pairs_undefined:
            lines.append(f"  {self.n_pairs_undefined} pairs with a zero diagonal block left out")
        return "\n".join(lines)


def _draw_pairs(n: int, K: int | None, seed: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Ordered pairs ``i ≠ j`` of ``n`` blocks: all (K None or ≥ total) or K drawn uniformly
    without replacement with a generator seeded from ``seed``."""
    total = n * (n - 1)
    if K is None or K >= total:
        t = np.arange(total, dtype=np.int64)
        sampled = False
    else:
        rng = bk.default_rng(seed, np)
        t = np.sort(rng.choice(total, size=K, replace=False)).astype(np.int64)
        sampled = True
    i = t // (n - 1)
    jp = t % (n - 1)
    return i, jp + (jp >= i), sampled


def block_ratio(model: Any, X: Any, y: Any = None, loss: str = "ce", pairs: Any = "auto",
                seed: Any = None, level: float = 0.95, blocks: str = "V", *,
                memory_limit: int | None = None) -> BlockRatio:
    """Off-diagonal / diagonal block ratios of one layer of the Hessian.

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
    y : array of int, shape (N,), optional
        Labels, needed only for ``blocks="W"`` of a ``tanh``/``gelu`` hidden net.
    loss : {"ce", "mse"}
    pairs : "auto", "all" or int >= 1
        Ordered pairs ``i ≠ j`` for the per-block statistics: every pair (``"all"``; refused
        above :data:`MAX_ALL_PAIRS`), a seeded uniform sample of this many without replacement
        (an int; all pairs if it is at least their number), or ``"auto"``: as many as cost at
        most :data:`AUTO_PAIR_BUDGET` (30 %) of the exact aggregate's flops, or
        :data:`AUTO_MIN_PAIR_FLOPS` when that is more — all pairs when they fit, else a seeded
        sample of at least :data:`AUTO_MIN_PAIRS` and at most :data:`AUTO_MAX_PAIRS` pairs
        (``W`` blocks: all pairs; the aggregate already computes every one of their norms). The
        per-block statistics are then exact for the pairs used and sampled over pairs: their
        standard error and CI say how well they estimate the all-pairs values.
    seed : int, SeedSequence or Generator, optional
        Seeds the pair sample.
    level : float in (0, 1)
        Confidence level of the per-block CI.
    blocks : {"V", "W"}
        Rows of ``V`` (the only choice for the linear model; ``C`` blocks) or of ``W`` (hidden
        net; ``m`` blocks of ``d × d``).
    memory_limit : int, optional
        Bytes for the chunked loops (see :func:`block_norms`).

    Returns
    -------
    BlockRatio

    Notes
    -----
    Cost: the aggregate as in :func:`block_norms` (``≈ 3 N² C`` flops for CE on ``V``), plus
    ``2 N² (K + u)`` for ``K`` pairs with ``u`` distinct row blocks (CE on ``V``: the softmax
    and ``G`` of the aggregate are reused when they fit in memory; otherwise ``O(N² p)`` more
    for ``G``). With ``pairs="auto"`` the total is at most 1.5× the aggregate alone. At ``V = 0`` (CE) every per-block
    ratio is exactly ``1/(C−1)`` and the aggregate ``1/√(C−1)``.
    """
    ctx = _Ctx(model, X, y, loss, memory_limit)
    layer = _layer(ctx, blocks)
    level = check_probability("level", level)
    n = ctx.layer_size(layer)
    total = n * (n - 1)
    if n < 2:
        raise ValueError(f"blocks={layer!r} has {n} block; a ratio needs at least 2")
    if isinstance(pairs, str):
        mode = check_choice("pairs", pairs, ("auto", "all"))
        if mode == "all" and total > MAX_ALL_PAIRS:
            raise ValueError(f"pairs='all' needs n_blocks (n_blocks - 1) <= {MAX_ALL_PAIRS}, here "
                             f"{total}; pass pairs=<int> to sample")
        K = None if mode == "all" else _auto_pairs(ctx, layer, n)
    else:
        K = check_int("pairs", pairs, 1)
    share: dict[str, Any] = {}
    sums = _aggregate(ctx, layer, share=share)
    if not sums.diagonal > 0:
        warnings.warn(f"block ratios undefined (0/0), reported as NaN: every diagonal block of "
                      f"rows of {layer} is 0 because {_why_zero(ctx, layer)}",
                      UndefinedRatioWarning, stacklevel=2)
    ii, jj, sampled = _draw_pairs(n, K, seed)
    uniq = np.unique(ii)
    if "pair_sq" in share:                      # W blocks: every norm came with the aggregate
        off_sq, diag_sq = share["pair_sq"][ii, jj], share["pair_sq"][ii, ii]
    else:
        a, b = np.concatenate([ii, uniq]), np.concatenate([jj, uniq])
        if "P" in share:                        # CE on V: reuse the aggregate's softmax and G
            sq = _shared_pair_sq(share, a, b, ctx.L)
        else:
            off0 = 0 if layer == "V" else ctx.C
            sq = _pair_norms_sq(ctx, a + off0, b + off0)
        off_sq = sq[:ii.size]
        diag_sq = sq[ii.size:][np.searchsorted(uniq, ii)]
    ok = diag_sq > 0
    r = np.sqrt(off_sq[ok] / diag_sq[ok])
    k = int(r.size)
    mean = float(r.mean()) if k else math.nan
    std = float(r.std(ddof=1)) if k > 1 else math.nan
    if not sampled and k:
        sem = 0.0
    elif k > 1:
        sem = std / math.sqrt(k) * math.sqrt(max(0.0, 1.0 - k / total))
    else:
        sem = math.nan
    if k > 1 and math.isfinite(sem):
        half = critical_value(level, dof=k - 1) * sem
    else:
        half = 0.0 if (k and sem == 0.0) else math.nan
    shape = (ctx.d, ctx.d) if (ctx.kind == "linear" or layer == "W") else (ctx.m, ctx.m)
    return BlockRatio(
        model=ctx.kind, loss=ctx.loss, blocks=layer, n_samples=ctx.N, dim=ctx.d,
        n_classes=ctx.C, hidden=ctx.m, n_blocks=n, block_shape=shape,
        per_block_mean=mean, per_block_std=std, per_block_sem=sem,
        per_block_ci_low=mean - half, per_block_ci_high=mean + half,
        per_block_min=float(r.min()) if k else math.nan,
        per_block_max=float(r.max()) if k else math.nan,
        level=level, n_pairs=k, n_pairs_total=total, n_pairs_undefined=int((~ok).sum()),
        sampled=sampled, aggregate=sums.aggregate_ratio, diagonal_sq_sum=sums.diagonal,
        off_diagonal_sq_sum=sums.off_diagonal, dtype=str(np.dtype(ctx.dt)),
        backend=bk.backend_name(ctx.xp))



def _auto_pairs(ctx: _Ctx, layer: str, n: int) -> int | None:
    """The number of pairs for ``pairs="auto"`` (None: all), from the flop budget."""
    total = n * (n - 1)
    if layer == "W":
        return None if total <= MAX_ALL_PAIRS else AUTO_MAX_PAIRS
    N, C = float(ctx.N), float(ctx.C)
    p = float(ctx.features("V").shape[1])
    agg = 3 * N * N * C + 2 * N * p * C + N * N * p if ctx.loss == "ce" else N * p * p
    evals = max(AUTO_PAIR_BUDGET * agg, AUTO_MIN_PAIR_FLOPS) / (2 * N * N + 4 * N)
    if total + n <= evals:
        return None
    K = evals - n if evals >= 2 * n else evals / 2      # each pair also needs its row's ‖H_ii‖
    return int(min(total, AUTO_MAX_PAIRS, max(AUTO_MIN_PAIRS, K)))


def _shared_pair_sq(share: dict[str, Any], ii: np.ndarray, jj: np.ndarray, limit: int
                    ) -> np.ndarray:
    """``‖H_ij‖²_F = w_ijᵀ G w_ij / N²`` with ``w_ij = p_i ∘ (δ_ij − p_j)`` from the softmax
    ``P`` and ``G`` the aggregate left in ``share`` (local indices; float64, host)."""
    P, G, sym = share["P"], share["G"], share["sym"]
    xp = sym.xp
    N = int(P.shape[0])
    kc = int(max(1, min(ii.size, limit // max(1, 4 * 8 * N))))
    out = np.empty(ii.size, dtype=np.float64)
    for k0, k1 in _blocks(ii.size, kc):
        a, b = xp.asarray(ii[k0:k1]), xp.asarray(jj[k0:k1])
        eq = xp.asarray((ii[k0:k1] == jj[k0:k1]).astype(np.float64))
        Pb = _as_f64(xp.take(P, b, axis=1))     # take: 4× faster than P[:, b] on NumPy
        xp.subtract(eq[None, :], Pb, out=Pb)
        W = _as_f64(xp.take(P, a, axis=1))
        W *= Pb
        out[k0:k1] = bk.to_numpy(xp.einsum("nk,nk->k", W, sym.matmul(G, W)))
    return np.maximum(out, 0.0) / (float(N) * N)
