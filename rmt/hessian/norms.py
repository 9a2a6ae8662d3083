"""Frobenius norms of Hessian blocks without forming the blocks: exact sums over a layer
(the aggregate), and the norms of chosen pairs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import backend as bk
from ..validation import check_choice
from ._context import _F64, _as_f64, _blocks, _Ctx, _gram, _Head, _plan
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


def _ce_aggregate(F: Any, V: Any, head: "_Head", limit: int) -> tuple[float, float]:
    """Exact ``Σ_i ‖H_ii‖²_F`` and ``Σ_{i≠j} ‖H_ij‖²_F`` for ``H_ij = (1/N) Σ A_n[i,j] f_n f_nᵀ``
    with the softmax weights of logits ``F Vᵀ`` — no block is formed.

    With ``G = (F Fᵀ)∘²``, ``P = softmax``, ``Q = P∘(1 − P)`` (the diagonal weights
    ``A_n[i, i]``), ``S1 = P Pᵀ`` and ``S4 = (P∘P)(P∘P)ᵀ``:

    * diagonal: ``(1/N²) Σ G∘(Q Qᵀ)``; ``Q Qᵀ = S1 − S2 − S2ᵀ + S4`` with ``S2 = P(P∘P)ᵀ``,
      so this is the identity of DESIGN.md with one symmetric product instead of S2's GEMM;
    * off-diagonal, directly (never total − diagonal): ``(1/N²) Σ G∘(S1∘S1 − S4)``, since
      ``Σ_{i≠j} p_i p_j p'_i p'_j = (Σ_i p_i p'_i)² − Σ_i p_i² p'_i²``.

    All three products are symmetric (SYRK): about ``3 N² C`` flops, plus ``2 N p C`` for the
    logits (``4 N p C`` when a second pass is needed for the log-sum-exp) and ``N² p`` for ``G``.
    Chunked over classes (``cc``) and rows (``nb``); with ``nb < N`` the logits are recomputed
    for each pair of row blocks, adding ``≈ 2 N² p C / nb`` flops. Accumulation is float64.
    """
    xp = bk.get_xp(F)
    N, p = (int(s) for s in F.shape)
    C = int(V.shape[0])
    isz = F.dtype.itemsize
    nb, cc = _plan(limit, N, C, lambda nb: (7 * 8 + 2 * isz) * nb * nb,
                   lambda nb: 8 * isz * nb + isz * p, "memory_limit")
    rows = _blocks(N, nb)
    diag = xp.zeros((), dtype=_F64)
    off = xp.zeros((), dtype=_F64)
    whole = None
    if len(rows) == 1 and cc >= C:
        # Everything fits: one logits product serves both the log-sum-exp and P.
        Z = F @ V.T
        Z -= xp.max(Z, axis=1, keepdims=True)
        whole = xp.exp(Z, out=Z)
        whole /= xp.sum(whole, axis=1, keepdims=True)
        lse = None
    else:
        lse = head.lse()

    def probs(r0: int, r1: int, c0: int, c1: int) -> tuple[Any, Any, Any]:
        if whole is not None:
            P = whole
        else:
            P = xp.exp(F[r0:r1] @ V[c0:c1].T - lse[r0:r1, None])
        P2 = P * P
        return P, P2, P - P2

    for bi, (r0, r1) in enumerate(rows):
        for s0, s1 in rows[bi:]:
            same = r0 == s0
            S1 = S4 = SQ = None
            for c0, c1 in _blocks(C, cc):
                Pr, Pr2, Qr = probs(r0, r1, c0, c1)
                if same:
                    t1, t4, tq = _gram(Pr, xp), _gram(Pr2, xp), _gram(Qr, xp)
                else:
                    Ps, Ps2, Qs = probs(s0, s1, c0, c1)
                    t1, t4, tq = Pr @ Ps.T, Pr2 @ Ps2.T, Qr @ Qs.T
                if S1 is None:
                    S1, S4, SQ = _as_f64(t1), _as_f64(t4), _as_f64(tq)
                else:
                    S1 += t1
                    S4 += t4
                    SQ += tq
                del t1, t4, tq
            G = _gram(F[r0:r1], xp) if same else F[r0:r1] @ F[s0:s1].T
            G = _as_f64(G)
            G *= G
            w = 1.0 if same else 2.0
            diag += w * xp.sum(G * SQ)
            S1 *= S1
            S1 -= S4
            off += w * xp.sum(G * S1)
    n2 = float(N) * N
    return float(diag) / n2, float(off) / n2


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
    """

    diagonal: float
    off_diagonal: float
    n_blocks: int
    blocks: str

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


def _aggregate(ctx: _Ctx, layer: str) -> BlockNormSums:
    n = ctx.layer_size(layer)
    if ctx.labels_needed((layer, layer)):
        ctx.require_labels("the W-W blocks of a tanh/gelu hidden net")
    F = ctx.features(layer)
    if layer == "V":
        if ctx.loss == "mse":
            diag, off = _mse_diag_sum(F, n, ctx.L), 0.0
        else:
            diag, off = _ce_aggregate(F, ctx.Vc, ctx.head(), ctx.L)
        return BlockNormSums(diag, off, n, layer)
    kk, ll = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    kk, ll = kk.ravel(), ll.ravel()
    q = _quadforms(F, lambda k0, k1: ctx.pair_weights("W", kk[k0:k1], ll[k0:k1]), n * n, ctx.L,
                   extra_per_col=3 * ctx.isz * ctx.N)
    on = kk == ll
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
                blocks: str | None = None, memory_limit: int | None = None) -> Any:
    """Frobenius norms of Hessian blocks, without forming the blocks.

    Same-layer blocks are weighted sample covariances ``(1/N) Σ_n w_n f_n f_nᵀ``, so
    ``‖H_ij‖²_F = (1/N²) Σ_{n,n'} w_n w_{n'} (f_nᵀ f_{n'})²``; sums over all pairs use the GEMM
    identities of :func:`_ce_aggregate` (CE on the softmax layer), ``FᵀF`` (MSE on the
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

    Returns
    -------
    BlockNormSums or numpy.ndarray
        ``pairs=None``: :class:`BlockNormSums`. Otherwise float64 NumPy norms ``‖H_ij‖_F``.

    Notes
    -----
    Costs (``p`` = feature dimension: ``d`` for the linear model and ``W`` blocks, ``m`` for
    ``V`` blocks of the hidden net): CE aggregate over ``V`` ``≈ 3 N² C + 4 N p C + N² p`` flops;
    MSE aggregate over ``V`` ``N p²``; per pair ``O(N²)`` after an ``O(N² p)`` Gram matrix;
    aggregate over ``W`` (hidden) ``O(N² (d + m²) + N C m²)``. Matrix products run in the inputs'
    type; accumulation and reductions are float64.
    """
    ctx = _Ctx(model, X, y, loss, memory_limit)
    if pairs is None:
        return _aggregate(ctx, _layer(ctx, blocks))
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

