"""Frobenius norms of Hessian blocks without forming the blocks: exact sums over a layer
(the aggregate), and the norms of chosen pairs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import backend as bk
from ..validation import check_choice
from ._context import _F64, _as_f64, _blocks, _Ctx, _gram, _plan
from .aggregate import ce_aggregate
from .sampled import exact_flops, gemm_rate, sampled_aggregate
from .dense import block


def _quadforms(F: Any, weights: Callable[[int, int], Any], K: int, limit: int,
               extra_per_col: int = 0) -> np.ndarray:
    """``(1/N²) Σ_{n,n'} w_{nk} w_{n'k} (f_nᵀ f_{n'})²`` for ``k < K`` (float64, host).

    ``weights(k0, k1)`` returns the weight columns ``k0 … k1-1`` as an (N, k1-k0) array.
    Cost ``O(N² (p + K))`` flops; memory: one ``nb × nb`` block of the Gram matrix
    ``G = (F Fᵀ)∘²`` (kept whole when it fits) and ``N × kc`` weights at a time.
    """
    xp = bk.get_xp(F)
    N = int(F.shape[0])
    isz = F.dtype.itemsize
    nb, kc = _plan(limit, N, K, lambda nb: 2 * isz * nb * nb,
                   lambda nb: (5 * N + 2 * nb) * isz + 8 * nb + extra_per_col, "memory_limit")
    rows = _blocks(N, nb)
    G_whole = None
    if len(rows) == 1:
        G_whole = _gram(F, xp)
        G_whole *= G_whole
    out = np.zeros(K, dtype=_F64)
    for k0, k1 in _blocks(K, kc):
        Wc = weights(k0, k1).astype(F.dtype, copy=False)
        acc = xp.zeros(k1 - k0, dtype=_F64)
        for bi, (r0, r1) in enumerate(rows):
            for s0, s1 in rows[bi:]:
                same = r0 == s0
                if G_whole is not None:
                    G = G_whole
                else:
                    G = _gram(F[r0:r1], xp) if same else F[r0:r1] @ F[s0:s1].T
                    G *= G
                T = G @ Wc[s0:s1]
                acc += (1.0 if same else 2.0) * xp.sum(_as_f64(Wc[r0:r1]) * T, axis=0)
        out[k0:k1] = bk.to_numpy(acc)
    return out / (float(N) * N)


def _mse_diag_sum(F: Any, n_blocks: int, limit: int) -> float:
    """``n_blocks · ‖FᵀF/N‖²_F`` (all blocks equal ``FᵀF/N``), chunked over columns of F."""
    xp = bk.get_xp(F)
    N, p = (int(s) for s in F.shape)
    cc = int(max(1, min(p, limit // max(1, 16 * p))))
    tot = xp.zeros((), dtype=_F64)
    for c0, c1 in _blocks(p, cc):
        B = _as_f64(F.T @ F[:, c0:c1])
        tot += xp.sum(B * B)
    return n_blocks * float(tot) / (float(N) * N)


@dataclass(frozen=True)
class BlockNormSums:
    """Exact sums of squared Frobenius norms over the blocks of one layer.

    Attributes
    ----------
    diagonal : float
        ``Σ_i ‖H_ii‖²_F``.
    off_diagonal : float
        ``Σ_{i≠j} ‖H_ij‖²_F`` over ordered pairs, computed directly (never total − diagonal).
    n_blocks : int
        Number of blocks in the layer.
    blocks : str
        ``"V"`` (rows of V) or ``"W"`` (rows of W).
    rel_error_bound : float or None
        Worst-case bound on the relative rounding error of :attr:`aggregate_ratio` given the
        softmax probabilities as computed (derived in :mod:`rmt.hessian.aggregate`); ``None``
        where no bound is derived (MSE, ``W`` blocks).
    """

    diagonal: float
    off_diagonal: float
    n_blocks: int
    blocks: str
    rel_error_bound: float | None = None

    @property
    def aggregate_ratio(self) -> float:
        """``(off_diagonal / diagonal)^{1/2}`` (NaN when the diagonal sum is 0)."""
        return math.sqrt(self.off_diagonal / self.diagonal) if self.diagonal > 0 else math.nan


def _layer(ctx: _Ctx, blocks: Any) -> str:
    if blocks is None:
        return "V"
    layer = check_choice("blocks", blocks, ("v", "w")).upper()
    if ctx.kind == "linear" and layer == "W":
        raise ValueError("blocks must be 'V' for the linear model (it has no W), got 'W'")
    return layer


def _aggregate(ctx: _Ctx, layer: str, mixed: bool = False,
               share: dict[str, Any] | None = None) -> BlockNormSums:
    n = ctx.layer_size(layer)
    if ctx.labels_needed((layer, layer)):
        ctx.require_labels("the W-W blocks of a tanh/gelu hidden net")
    F = ctx.features(layer)
    if layer == "V":
        if ctx.loss == "mse":
            diag, off = _mse_diag_sum(F, n, ctx.L), 0.0
        else:
            res = ce_aggregate(F, ctx.Vc, ctx.head(), ctx.L, mixed=mixed, share=share)
            return BlockNormSums(res.diagonal, res.off_diagonal, n, layer, res.rel_error_bound)
        return BlockNormSums(diag, off, n, layer)
    kk, ll = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    kk, ll = kk.ravel(), ll.ravel()
    q = _quadforms(F, lambda k0, k1: ctx.pair_weights("W", kk[k0:k1], ll[k0:k1]), n * n, ctx.L,
                   extra_per_col=3 * ctx.isz * ctx.N)
    on = kk == ll
    if share is not None:
        share["pair_sq"] = np.maximum(q, 0.0).reshape(n, n)
    return BlockNormSums(float(q[on].sum()), float(q[~on].sum()), n, layer)


def _pair_norms_sq(ctx: _Ctx, gi: np.ndarray, gj: np.ndarray) -> np.ndarray:
    """Squared Frobenius norms of the blocks ``(gi[t], gj[t])`` (global indices), float64."""
    out = np.empty(gi.size, dtype=_F64)
    lay = [(ctx.layer_of(int(a)), ctx.layer_of(int(b))) for a, b in zip(gi, gj)]
    for layer in ("V", "W"):
        sel = np.array([la[0] == layer and lb[0] == layer for la, lb in lay], dtype=bool)
        if not sel.any():
            continue
        if ctx.labels_needed((layer, layer)):
            ctx.require_labels("the W-W blocks of a tanh/gelu hidden net")
        ii = np.array([lay[t][0][1] for t in np.flatnonzero(sel)], dtype=np.int64)
        jj = np.array([lay[t][1][1] for t in np.flatnonzero(sel)], dtype=np.int64)
        F = ctx.features(layer)
        extra = 3 * ctx.isz * ctx.N
        q = _quadforms(F, lambda k0, k1: ctx.pair_weights(layer, ii[k0:k1], jj[k0:k1]),
                       ii.size, ctx.L, extra_per_col=extra)
        out[sel] = np.maximum(q, 0.0)   # a sum of squares; rounding can leave -O(eps)
    mixed = np.array([la[0] != lb[0] for la, lb in lay], dtype=bool)
    for t in np.flatnonzero(mixed):
        B = block(ctx.model, ctx.X, int(gi[t]), int(gj[t]), ctx.y, ctx.loss, memory_limit=ctx.L)
        out[t] = float(ctx.xp.sum(_as_f64(B) ** 2))
    return out


def _check_pairs(pairs: Any, n_blocks: int) -> np.ndarray:
    try:
        arr = np.asarray(bk.to_numpy(pairs))
    except Exception as exc:  # noqa: BLE001 - report any conversion failure as bad input
        raise ValueError(f"pairs must be None, 'all' or an integer array of shape (K, 2), "
                         f"got {type(pairs).__name__}") from exc
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ValueError(f"pairs must be an integer array of shape (K, 2) with K >= 1, "
                         f"got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"pairs must hold integer block indices, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= n_blocks:
        raise ValueError(f"pairs must hold block indices in [0, {n_blocks - 1}], got range "
                         f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def block_norms(model: Any, X: Any, y: Any = None, loss: str = "ce", pairs: Any = None, *,
                blocks: str | None = None, memory_limit: int | None = None,
                mixed: bool = False, method: str = "exact", rel_error: float = 0.01,
                level: float = 0.95, seed: Any = None, budget: float | None = None) -> Any:
    """Frobenius norms of Hessian blocks, without forming the blocks.

    Same-layer blocks are weighted sample covariances ``(1/N) Σ_n w_n f_n f_nᵀ``, so
    ``‖H_ij‖²_F = (1/N²) Σ_{n,n'} w_n w_{n'} (f_nᵀ f_{n'})²``; sums over all pairs use the GEMM
    identities of :func:`rmt.hessian.aggregate.ce_aggregate` (CE on the softmax layer), ``FᵀF`` (MSE on the
    softmax layer: exactly block-diagonal, all diagonal blocks equal ``FᵀF/N``), or a sum of
    the per-pair quadratic forms (``W`` blocks of the hidden net).

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
    y : array of int, shape (N,), optional
        Labels, where the blocks depend on them (see :func:`block`).
    loss : {"ce", "mse"}
    pairs : None, "all", or int array of shape (K, 2)
        ``None``: the exact sums over one layer (see Returns). ``"all"``: the norms of all
        blocks of one layer as an ``(n, n)`` matrix (local indices; ``n² · O(N²)`` flops).
        An array: the norms of blocks ``(pairs[t, 0], pairs[t, 1])`` in the global numbering of
        :func:`block` (mixed ``V``–``W`` pairs of the hidden net are formed, ``O(N m d)`` each).
    blocks : {"V", "W"}, optional
        The layer for ``pairs=None`` or ``"all"``: rows of ``V`` (default) or of ``W`` (hidden
        net only).
    memory_limit : int, optional
        Bytes the chunked loops may use (default: :data:`MEMORY_SAFETY` of the free host or
        device memory). Not counted: the inputs (and a copy of them when their dtypes differ),
        ``O(N)`` vectors, and for the hidden net ``O(N m)`` per-sample arrays and a centred
        copy of ``V``. Per-pair norms need at least ``O(N)`` bytes per pair chunk.
    mixed : bool, default False
        CE aggregate over ``V`` with float64 inputs only: form the two sums that have no
        cancellation (``S4`` and ``QQᵀ``) by float32 products with float64 sums, about twice
        as fast; ``S1`` stays float64. The result's ``rel_error_bound`` states the worst-case
        cost in accuracy (≈ 1e-4 relative at ``C`` = 4000; float64: ≈ 1e-9).
    method : {"exact", "sampled", "auto"}, default "exact"
        For the CE aggregate over ``V`` (``pairs=None``): ``"exact"`` sums every sample pair;
        ``"sampled"`` estimates both sums from groups of sampled samples until the ``level`` CI
        of the aggregate ratio has relative half-width ``rel_error``
        (:mod:`rmt.hessian.sampled`; seconds at LLM sizes); ``"auto"`` runs the exact path if
        its predicted time (its flops at a GEMM rate measured once per process) fits in
        ``budget`` seconds (default :data:`AUTO_BUDGET`), else the sampled one and says why.
    rel_error, level, seed : float, float, seed
        Sampled path: target relative CI half-width, CI level, and the seed of the sample
        permutation.
    budget : float, optional
        Seconds: the limit for ``method="auto"``, and a time limit on the sampled path (which
        then reports the CI it reached).

    Returns
    -------
    BlockNormSums, SampledBlockNorms or numpy.ndarray
        ``pairs=None``: :class:`BlockNormSums` (exact) or
        :class:`rmt.hessian.sampled.SampledBlockNorms` (sampled: estimates with a CI).
        Otherwise float64 NumPy norms ``‖H_ij‖_F``.

    Notes
    -----
    Costs (``p`` = feature dimension: ``d`` for the linear model and ``W`` blocks, ``m`` for
    ``V`` blocks of the hidden net): CE aggregate over ``V`` ``≈ 3 N² C + 4 N p C + N² p`` flops;
    MSE aggregate over ``V`` ``N p²``; per pair ``O(N²)`` after an ``O(N² p)`` Gram matrix;
    aggregate over ``W`` (hidden) ``O(N² (d + m²) + N C m²)``. Matrix products run in the inputs'
    type; accumulation and reductions are float64.
    """
    ctx = _Ctx(model, X, y, loss, memory_limit)
    if not isinstance(mixed, (bool, np.bool_)):
        raise TypeError(f"mixed must be True or False, got {mixed!r}")
    method = check_choice("method", method, ("exact", "sampled", "auto"))
    if method != "exact":
        if pairs is not None or _layer(ctx, blocks) != "V" or ctx.loss != "ce":
            if method == "sampled":
                raise ValueError("method='sampled' estimates the CE aggregate over V: it needs "
                                 "pairs=None, blocks='V' and loss='ce'")
        else:
            return _sampled_or_exact(ctx, method, rel_error, level, seed, budget, bool(mixed))
    if pairs is None:
        return _aggregate(ctx, _layer(ctx, blocks), mixed=bool(mixed))
    if isinstance(pairs, str):
        if pairs.lower() != "all":
            raise ValueError(f"pairs must be None, 'all' or an integer array of shape (K, 2), "
                             f"got {pairs!r}")
        layer = _layer(ctx, blocks)
        n = ctx.layer_size(layer)
        off = 0 if layer == "V" else ctx.C
        ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        sq = _pair_norms_sq(ctx, ii.ravel() + off, jj.ravel() + off)
        return np.sqrt(sq).reshape(n, n)
    arr = _check_pairs(pairs, ctx.n_blocks)
    return np.sqrt(_pair_norms_sq(ctx, arr[:, 0], arr[:, 1]))



#: Seconds the exact aggregate may take under ``method="auto"`` when no ``budget`` is given.
AUTO_BUDGET = 60.0


def _sampled_or_exact(ctx: _Ctx, method: str, rel_error: float, level: float, seed: Any,
                      budget: float | None, mixed: bool) -> Any:
    if budget is not None and not (isinstance(budget, (int, float)) and budget > 0):
        raise ValueError(f"budget must be None or a number of seconds > 0, got {budget!r}")
    reason = "asked for (method='sampled')"
    if method == "auto":
        limit = AUTO_BUDGET if budget is None else float(budget)
        N, p = (int(s) for s in ctx.features("V").shape)
        flops = exact_flops(N, p, ctx.C)
        rate = gemm_rate(ctx.xp, ctx.dt)
        predicted = flops / rate
        if predicted <= limit:
            return _aggregate(ctx, "V", mixed=mixed)
        reason = (f"the exact path would take ≈ {predicted:.3g} s ({flops:.3g} flops at the "
                  f"measured {rate / 1e9:.3g} GFLOP/s) > budget {limit:g} s")
    return sampled_aggregate(ctx, rel_error, level, seed, budget=budget, reason=reason)
