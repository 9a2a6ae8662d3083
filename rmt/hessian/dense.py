"""The dense Hessian and single blocks, in closed form (every term, no autodiff)."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import numpy as np

from .. import backend as bk
from ..validation import check_index, check_int
from ._context import MAX_DENSE_PARAMS, _blocks, _Ctx


def _weighted_kron(F: Any, rows: Callable[[int], Any], K: int, limit: int) -> Any:
    """``(K p × K p)`` matrix with entries ``[(k,a),(l,b)] = (1/N) Σ_n w_n[k,l] F_na F_nb``,
    where ``rows(k)`` returns ``w[:, k, :]`` as an (N, K) array."""
    xp = bk.get_xp(F)
    N, p = (int(s) for s in F.shape)
    out = xp.empty((K * p, K * p), dtype=F.dtype)
    lc = int(max(1, min(K, limit // max(1, 2 * N * p * F.dtype.itemsize))))
    for k in range(K):
        Wk = rows(k)
        for l0, l1 in _blocks(K, lc):
            M = (Wk[:, l0:l1, None] * F[:, None, :]).reshape(N, (l1 - l0) * p)
            out[k * p:(k + 1) * p, l0 * p:l1 * p] = (F.T @ M) / N
    return out


def _ce_rows(P: Any, xp: ModuleType) -> Callable[[int], Any]:
    C = int(P.shape[1])

    def rows(k: int) -> Any:
        e = xp.zeros(C, dtype=P.dtype)
        e[k] = 1
        return P[:, k:k + 1] * (e[None, :] - P)
    return rows


def _identity_rows(N: int, C: int, dt: Any, xp: ModuleType) -> Callable[[int], Any]:
    def rows(k: int) -> Any:
        w = xp.zeros((N, C), dtype=dt)
        w[:, k] = 1
        return w
    return rows


def hessian(model: Any, X: Any, y: Any = None, loss: str = "ce", *,
            max_params: int = MAX_DENSE_PARAMS) -> Any:
    """The full Hessian of the training loss, in closed form (every term, no autodiff).

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
        Data, one sample per row, on the model's backend.
    y : array of int, shape (N,), optional
        Labels in ``[0, C)``. Not needed for the linear model (its Hessian does not depend on
        them); required for the hidden net (the residual terms of the ``V``–``W`` blocks
        depend on them).
    loss : {"ce", "mse"}
        Cross-entropy, or MSE ``½‖z − e_y‖²`` averaged over samples.
    max_params : int, default :data:`MAX_DENSE_PARAMS` (20,000)
        Refuse models with more parameters than this (the dense matrix has ``P²`` entries).

    Returns
    -------
    array, shape (P, P)
        ``P = model.n_params``, indexed like ``concat(V.ravel(), W.ravel())`` (rows of ``V``,
        then rows of ``W``), in the inputs' floating type and namespace.

    Raises
    ------
    ValueError
        Bad ``X``, ``y``, ``loss``; ``y`` missing for the hidden net; ``P > max_params``.
    """
    max_params = check_int("max_params", max_params, 1)
    if model is not None and hasattr(model, "n_params") and model.n_params > max_params:
        raise ValueError(
            f"max_params must be >= n_params = {model.n_params} to form the dense Hessian, got "
            f"{max_params}; use rmt.hessian.block / block_norms for large models")
    ctx = _Ctx(model, X, y, loss)
    xp, N, C, dt = ctx.xp, ctx.N, ctx.C, ctx.dt
    if ctx.kind == "linear":
        rows = (_ce_rows(ctx.head().probs(np.arange(C)), xp) if ctx.loss == "ce"
                else _identity_rows(N, C, dt, xp))
        return _weighted_kron(ctx.X, rows, C, ctx.L)
    ctx.require_labels("the hidden-net Hessian (its V-W blocks)")
    m, d = ctx.m, ctx.d
    st = ctx.hidden_state()
    Hf, D1, D2 = st["H"], st["D1"], st["D2"]
    V = ctx.Vc   # centred for CE (see _Ctx), V itself for MSE
    nv = C * m
    out = xp.empty((nv + m * d, nv + m * d), dtype=dt)
    # V-V
    if ctx.loss == "ce":
        P = ctx.head().probs(np.arange(C))
        out[:nv, :nv] = _weighted_kron(Hf, _ce_rows(P, xp), C, ctx.L)
    else:
        P = None
        out[:nv, :nv] = _weighted_kron(Hf, _identity_rows(N, C, dt, xp), C, ctx.L)
    # W-W
    r = ctx.r()
    if ctx.loss == "ce":
        q = P @ V

        def wrows(k: int) -> Any:
            M = (P * V[:, k][None, :]) @ V - q[:, k:k + 1] * q
            w = D1[:, k:k + 1] * D1 * M
            w[:, k] += D2[:, k] * r[:, k]
            return w
    else:
        VtV = V.T @ V

        def wrows(k: int) -> Any:
            w = D1[:, k:k + 1] * D1 * VtV[k][None, :]
            w[:, k] += D2[:, k] * r[:, k]
            return w
    out[nv:, nv:] = _weighted_kron(ctx.X, wrows, m, ctx.L)
    # V-W: for each class a, an (m, m, d) array [k, l, b]
    g = _residual(ctx, P)
    diag_idx = xp.arange(m)
    for a in range(C):
        E = (P[:, a:a + 1] * (V[a][None, :] - q) if ctx.loss == "ce"
             else xp.ones((N, 1), dt) * V[a][None, :]) * D1          # (N, m): (A_n V)[a, l] h'_nl
        T = (Hf[:, :, None] * E[:, None, :]).reshape(N, m * m)       # [n, (k, l)]
        blk = ((T.T @ ctx.X) / N).reshape(m, m, d)
        blk[diag_idx, diag_idx, :] += ((g[:, a:a + 1] * D1).T @ ctx.X) / N
        out[a * m:(a + 1) * m, nv:] = blk.reshape(m, m * d)
    out[nv:, :nv] = out[:nv, nv:].T
    return out


def _residual(ctx: _Ctx, P: Any = None) -> Any:
    """``g = ∂ℓ_n/∂z_n`` (N, C): ``p − e_y`` (CE) or ``z − e_y`` (MSE)."""
    xp = ctx.xp
    if ctx.loss == "ce":
        G = ctx.head().probs(np.arange(ctx.C)) if P is None else P.copy()
    else:
        G = ctx.features("V") @ ctx.V.T
    G[xp.arange(ctx.N), ctx.y] -= 1
    return G


def block(model: Any, X: Any, i: int, j: int, y: Any = None, loss: str = "ce", *,
          memory_limit: int | None = None) -> Any:
    """One block ``H_ij`` of the Hessian, without forming the full Hessian.

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
    i, j : int
        Block indices in ``[0, n_blocks)``. Linear model: ``n_blocks = C``, blocks are the rows
        of ``V`` (``d × d``). Hidden net: ``n_blocks = C + m``; ``0 … C-1`` are the rows of ``V``
        (``m × m`` blocks), ``C … C+m-1`` the rows of ``W`` (``d × d``); mixed ``V``–``W``
        blocks are ``m × d`` (and ``d × m`` for ``W``–``V``).
    y : array of int, shape (N,), optional
        Labels; required only where the block depends on them (hidden net: ``V``–``W`` blocks,
        and ``W``–``W`` blocks for ``tanh``/``gelu``).
    loss : {"ce", "mse"}
    memory_limit : int, optional
        Bytes for the class-chunked softmax (default: a fraction of free memory).

    Returns
    -------
    array
        The block, in the inputs' floating type and namespace. Cost ``O(N p² + N p C)``.

    Raises
    ------
    ValueError
        Bad inputs, ``i`` or ``j`` out of range, or ``y`` missing where needed.
    """
    ctx = _Ctx(model, X, y, loss, memory_limit)
    nbk = ctx.n_blocks
    i = check_index("i", i, nbk)
    j = check_index("j", j, nbk)
    (li, a), (lj, b) = ctx.layer_of(i), ctx.layer_of(j)
    xp, N = ctx.xp, ctx.N
    if li == lj:
        if ctx.labels_needed((li, lj)):
            ctx.require_labels("the W-W blocks of a tanh/gelu hidden net")
        w = ctx.pair_weights(li, np.array([a]), np.array([b]))
        F = ctx.features(li)
        w = xp.broadcast_to(w, (N, 1))
        return F.T @ (w * F) / N
    ctx.require_labels("the mixed V-W blocks of the hidden net")
    transpose = li == "W"
    if transpose:
        a, b = b, a
    # V-W block (a, l=b): (1/N) Σ_n [(A_n V)[a, l] h'_nl h_n + g_na h'_nl e_l] x_nᵀ
    st = ctx.hidden_state()
    Hf, D1, V = st["H"], st["D1"], ctx.Vc
    l = b
    if ctx.loss == "ce":
        pa = ctx.head().probs(np.array([a]))[:, 0]
        e = pa * (V[a, l] - ctx.q()[:, l])
        ga = pa - (ctx.y == a).astype(ctx.dt)
    else:
        za = Hf @ V[a]
        e = xp.ones(N, ctx.dt) * V[a, l]
        ga = za - (ctx.y == a).astype(ctx.dt)
    e = e * D1[:, l]
    out = Hf.T @ (e[:, None] * ctx.X) / N
    out[l] += (ga * D1[:, l]) @ ctx.X / N
    return out.T if transpose else out

