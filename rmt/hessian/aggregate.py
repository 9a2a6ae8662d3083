r"""The exact aggregate block sums of the CE softmax layer, and a bound on their rounding error.

For ``H_ij = (1/N) Σ_n A_n[i, j] f_n f_nᵀ`` with ``A_n = diag(p_n) − p_n p_nᵀ`` both sums are
double sums over sample pairs (docs/design.md): with ``G = (F Fᵀ)∘²``, ``P = softmax(F Vᵀ)``,
``Q = P − P∘P``, ``S1 = P Pᵀ``, ``S4 = (P∘P)(P∘P)ᵀ``,

* ``Σ_i ‖H_ii‖²_F = (1/N²) Σ G∘(Q Qᵀ)``,
* ``Σ_{i≠j} ‖H_ij‖²_F = (1/N²) Σ G∘(S1∘S1 − S4)`` — computed directly, never as total minus
  diagonal (at large C the off-diagonal part is a tiny fraction of the total).

Rounding-error bound (``rel_error_bound`` of :class:`rmt.hessian.BlockNormSums`)
-------------------------------------------------------------------------------
Given the probabilities as computed (the softmax itself is not covered), with ``u`` the unit
roundoff of a product's type, ``γ_k(u) = k u / (1 − k u)``, ``ν_n = ‖f_n‖²``:

1. Every entry of ``P``, ``P∘P`` and ``Q`` is ``≥ 0`` (``fl(p·p) ≤ p`` for ``p ∈ [0, 1]``), so
   each product entry is a sum of nonnegative terms and its computed value has relative error
   ``η ≤ (1 + u_cast)² (1 + γ_k(u)) (1 + γ_c(u₆₄)) − 1`` whatever the summation order (``k``:
   terms summed in the product's type — ``C`` for float64, which accumulates in place, the
   class chunk for float32; ``c``: float64 additions of chunks; ``u_cast``: rounding of a
   float64 factor to float32, else 0).
2. ``G`` is formed in float64 from ``p``-term dot products: ``|Ĝ_nm − G_nm| ≤ δ_G ν_n ν_m``
   with ``δ_G = 2γ_p + γ_p² + u₆₄ (1 + γ_p)²``; for ``S ≥ 0`` entrywise and symmetric positive
   semidefinite, ``S_nm ≤ (S_nn S_mm)^{1/2}``, so ``Σ ν_n ν_m S_nm ≤ (Σ_n ν_n S_nn^{1/2})²``.
3. Each of ``D``, ``A = Σ G∘S1∘S1`` and ``B`` is a dot product of ``M ≤ N²`` terms, and
   ``O = A − B`` one subtraction (``γ_{M+3}(u₆₄)`` covers the sum, the elementwise rounding
   of ``S1∘S1`` and that of ``A − B``, at most ``u₆₄ O ≤ u₆₄ A``).

Hence, with ``D`` the diagonal sum, ``O = A − B`` the off-diagonal sum, ``A = Σ G∘S1∘S1`` and
``B = Σ G∘S4`` (all measured), ``γ = γ_{N²+3}(u₆₄)``:

    |ΔD| ≤ ((1 + η_Q)(1 + γ) − 1) D + δ_G (1 + η_Q) (Σ ν_n (QQᵀ)_nn^{1/2})²
    |ΔO| ≤ ((1 + η_1)²(1 + γ) − 1) A + ((1 + η_4)(1 + γ) − 1) B
           + δ_G (1 + η_1)² (Σ ν_n S1_nn)² + δ_G (1 + η_4) (Σ ν_n S4_nn^{1/2})²

and the squared ratio ``O/D`` has relative error ``ε ≤ (|ΔO|/O + |ΔD|/D) / (1 − |ΔD|/D)``;
the ratio itself ``≤ ε / (2 (1 − ε)^{1/2})``. It is a worst-case bound (every rounding error at
its extreme and of one sign); measured errors are typically ``√k`` times smaller.

With ``mixed=True`` the two sums without cancellation, ``S4`` and ``Q Qᵀ``, are formed from
float32 copies of ``P∘P`` and ``Q`` by float32 SYRK and summed in float64; ``S1`` — squared
and carrying the cancellation of ``S1∘S1 − S4`` — stays float64. Their float32 error
(``η ≈ (k + 2)·6e-8``) enters ``D`` at full size but ``O`` only through ``B ≈ A/C``.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from .. import backend as bk
from ._context import _F64, _as_f64, _blocks, _Head, _plan, _SymAcc

_U64 = 2.0 ** -53
_U32 = 2.0 ** -24
#: Rows per fused softmax block on NumPy: a block of rows × C stays in cache (about 1 MB).
_CACHE_BYTES = 1 << 20


class AggregateSums(NamedTuple):
    diagonal: float
    off_diagonal: float
    rel_error_bound: float


def _gamma(k: float, u: float) -> float:
    ku = k * u
    return ku / (1.0 - ku) if ku < 1 else math.inf


def _logits(F: Any, V: Any) -> Any:
    """``F Vᵀ``. On NumPy by SciPy's BLAS, the library of the SYRKs that follow: NumPy and SciPy
    may each bring their own OpenBLAS, and the idle threads of one spin while the other's
    work, on the same cores."""
    if bk.backend_name(bk.get_xp(F)) != "numpy" or F.dtype != V.dtype:
        return F @ V.T
    from scipy.linalg import blas  # noqa: PLC0415

    gemm = blas.dgemm if F.dtype == _F64 else blas.sgemm
    # (V Fᵀ) in Fortran order is F Vᵀ in C order; the transposed views are read in place
    return gemm(1.0, V.T, F.T, trans_a=1).T


def _powers(P: Any, P2: Any, Q: Any, normalise: bool) -> None:
    """In place: (optionally) ``P ← softmax(P)`` row-wise from logits; then ``P2 = P∘P`` and
    ``Q = P − P∘P`` in their own dtypes. On NumPy fused over row blocks that stay in cache (one
    read of the logits instead of six passes over ``N × C``), spread over the CPU's cores
    (NumPy's ufuncs release the GIL; BLAS is idle meanwhile)."""
    xp = bk.get_xp(P)
    n, c = (int(s) for s in P.shape)
    same = P2 is not None and P2.dtype == P.dtype

    def run(r0: int, r1: int) -> None:
        z = P[r0:r1]
        if normalise:
            z -= xp.max(z, axis=1, keepdims=True)
            xp.exp(z, out=z)
            z /= xp.sum(z, axis=1, keepdims=True)
        if P2 is None:
            return
        if same:
            xp.multiply(z, z, out=P2[r0:r1])
            xp.subtract(z, P2[r0:r1], out=Q[r0:r1])
        else:                                   # float64 P, float32 copies (mixed products)
            t = z * z
            P2[r0:r1] = t
            xp.subtract(z, t, out=t)
            Q[r0:r1] = t

    if bk.backend_name(xp) != "numpy":
        run(0, n)
        return
    blocks = _blocks(n, max(1, _CACHE_BYTES // max(1, 8 * c)))
    workers = min(len(blocks), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else (os.cpu_count() or 1))
    if workers <= 1:
        for r0, r1 in blocks:
            run(r0, r1)
        return
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(run, r0, r1) for r0, r1 in blocks]:
            f.result()


#: Bytes of the column-chunk buffer of ``P∘P`` (reused across chunks: a fresh ``N × C`` array
#: would be new pages on every call). At N = 2048, C = 4000 the chunked SYRKs then take 1.17×
#: one SYRK over all classes (8 MB chunks: 1.32×; measured, paired, powers included).
_CHUNK_BYTES = 16 << 20


def _tri_dot(sym: _SymAcc, G: Any, S: Any, square: bool = False, square_G: bool = False) -> Any:
    """``Σ G∘S`` (``square``: ``Σ G∘S∘S``, ``S`` squared in place off NumPy) of two symmetric
    matrices made by ``sym``, first squaring ``G`` in place when ``square_G``. On NumPy (one
    triangle stored) one pass over the stored (upper) triangles in column blocks that stay in
    cache, the sum twice the triangle's less the diagonal's terms; no ``N × N`` temporaries."""
    if sym.gpu or not sym.tri:
        if square_G:
            G *= G
        if square:
            S *= S
        return sym.dot(G, S)
    n = sym.n
    w = max(1, _CACHE_BYTES // (3 * 8 * n))           # three n × w column blocks in cache
    buf = np.empty(n * w)
    acc = 0.0
    for j0, j1 in _blocks(n, w):
        # F order: the upper triangle of columns j0..j1 lies in their first j1 rows
        g, s = G[:j1, j0:j1], S[:j1, j0:j1]
        if square_G:
            np.multiply(g, g, out=g)
        if square:
            t = buf[:j1 * (j1 - j0)].reshape((j1, j1 - j0), order="F")
            s = np.multiply(s, s, out=t)
        acc += float(np.einsum("ij,ij->", g, s))
    ds = np.diagonal(S)
    return 2.0 * acc - float(np.diagonal(G) @ (ds * ds if square else ds))


def _whole_sums(P: Any, F: Any, lin: Any, sym: _SymAcc) -> tuple[Any, Any]:
    """``(D, B, O)`` and the diagonals of ``S1``, ``S4``, ``QQᵀ`` when the softmax ``P`` of all
    rows and classes fits at once; ``P`` is overwritten (by ``Q``) and ``G``, squared, is
    returned with them. Two ``N × N`` accumulators in all: ``G`` and one product ``S`` that
    serves the three sums in turn (each reduced against ``G`` before the next overwrites it),
    so ``O = A − B`` with ``A = Σ G∘S1∘S1`` (the bound of the module docstring is in terms of
    ``A`` and ``B``); ``S1`` and ``QQᵀ`` are single SYRKs over all classes. ``P∘P`` goes by
    column chunks through one reused buffer, which also turns ``P`` into ``Q`` in place."""
    xp = sym.xp
    n, c = (int(s) for s in P.shape)
    G, S = sym.zeros(), sym.zeros()
    sym.add(G, _as_f64(F))
    sym.add(S, P, overwrite=True)                     # S1
    d1 = xp.diagonal(S).copy()
    a_ = _tri_dot(sym, G, S, square=True, square_G=True)
    cw = int(max(1, min(c, _CHUNK_BYTES // max(1, 8 * n))))
    b2 = xp.empty(n * cw, lin)
    # mixed: float32 products summed in float32 over all classes (the bound's k = C), then
    # converted once; a float64 accumulation per chunk would add N × N passes
    acc = S if lin == P.dtype else sym.zeros(lin)
    for k, (c0, c1) in enumerate(_blocks(c, cw)):
        t2 = b2[:n * (c1 - c0)].reshape(n, c1 - c0)
        Pc = P[:, c0:c1]
        _powers(Pc, t2, Pc, normalise=False)          # t2 = P∘P, then P ← Q in place
        sym.add(acc, t2, overwrite=k == 0)            # S4
    if acc is not S:
        S[...] = acc
    d4 = xp.diagonal(S).copy()
    b_ = _tri_dot(sym, G, S)
    if acc is S:
        sym.add(S, P, overwrite=True)                 # QQᵀ
    else:                                             # float32 copies of Q, chunk by chunk
        for k, (c0, c1) in enumerate(_blocks(c, cw)):
            tq = b2[:n * (c1 - c0)].reshape(n, c1 - c0)
            tq[...] = P[:, c0:c1]
            sym.add(acc, tq, overwrite=k == 0)
        S[...] = acc
    dq = xp.diagonal(S).copy()
    d_ = _tri_dot(sym, G, S)
    return (d_, b_, a_ - b_), (d1, d4, dq), G


def ce_aggregate(F: Any, V: Any, head: _Head, limit: int, mixed: bool = False,
                 share: dict[str, Any] | None = None) -> AggregateSums:
    """Exact ``Σ_i ‖H_ii‖²_F`` and ``Σ_{i≠j} ‖H_ij‖²_F`` of the softmax layer with logits
    ``F Vᵀ``, and the bound on their rounding error derived in the module docstring.

    Cost: three symmetric products by SYRK, ``3 N² C`` flops (against the ``4 N² C`` of two
    GEMMs that define the floor), ``2 N p C`` for the logits (``4 N p C`` when a second pass is
    needed for the log-sum-exp), ``N² p`` for ``G``, one ``exp`` per logit, fused with the
    powers of ``P`` in cache-sized row blocks. On NumPy SYRK accumulates in place into one
    triangle of each float64 accumulator and each ``Σ G∘S`` is one cache-blocked pass over the
    stored triangles (:func:`_tri_dot`): no temporary ``N × N`` matrices. When the softmax fits
    whole, the logits are one SciPy GEMM and two accumulators serve (:func:`_whole_sums`:
    ``S1`` and ``QQᵀ`` each one SYRK over all classes, ``P`` turned into ``Q`` in place).
    Chunked over classes (``cc``)
    and rows (``nb``); with ``nb < N`` the logits are recomputed for each pair of row blocks
    (``≈ 2 N² p C / nb`` more flops) and off-diagonal row blocks use GEMMs.

    Memory (the plan given to :func:`_plan`): per pair of row blocks four float64 ``nb × nb``
    accumulators (S1, S4, QQᵀ, G; two when the softmax fits whole, plus a copy of ``P`` when
    ``share`` is given), at most three product temporaries in the inputs' type and one
    float64 conversion, ``(40 + 3·isz)·nb²`` bytes, plus a float64 copy of the rows of ``F``;
    per class column ``8·isz·nb`` (logits/P, P∘P, Q for two row blocks) plus ``isz·p`` for the
    chunk of ``V``.

    ``share``: when given, receives ``"diag_terms"``, the ``n = m`` terms of both double sums
    (float64 ``(D_nn, O_nn)``, each of length ``N``: ``G_nn (QQᵀ)_nn`` and
    ``G_nn (S1_nn² − S4_nn)``, not divided by ``N²``), and when the softmax fits whole (``nb = N``,
    ``cc = C``) ``"P"`` (``N × C``), ``"G"`` (float64) and ``"sym"`` (the :class:`_SymAcc` that
    stored ``G``).
    """
    xp = bk.get_xp(F)
    N, p = (int(s) for s in F.shape)
    C = int(V.shape[0])
    dt = F.dtype
    isz = dt.itemsize
    lin = np.dtype(np.float32) if (mixed or dt == np.float32) else np.dtype(dt)
    nb, cc = _plan(limit, N, C, lambda nb: (40 + 3 * isz) * nb * nb + 8 * nb * p,
                   lambda nb: 8 * isz * nb + isz * p, "memory_limit")
    rows = _blocks(N, nb)
    # everything read back is kept where it was computed and copied once at the end (one
    # device→host transfer per call on CuPy: the sampled path calls this per group)
    F64 = _as_f64(F)
    nu = xp.einsum("ij,ij->i", F64, F64)          # ‖f_n‖², no N × p temporary
    whole = None
    if len(rows) == 1 and cc >= C:
        whole = _logits(F, V)                    # one logits product serves lse and P
        _powers(whole, None, None, normalise=True)
        lse = None
    else:
        lse = head.lse()

    def parts(r0: int, r1: int, c0: int, c1: int) -> tuple[Any, Any, Any]:
        P = xp.exp(F[r0:r1] @ V[c0:c1].T - lse[r0:r1, None])
        P2, Q = xp.empty(P.shape, lin), xp.empty(P.shape, lin)
        _powers(P, P2, Q, normalise=False)
        return P, P2, Q

    sums: list[Any] = []                          # (D, B, O) per pair of row blocks, weighted
    diags: list[Any] = []                         # diagonals of S1, S4, QQᵀ per row block
    if whole is not None:
        sym = _SymAcc(xp, N)
        sums3, dg, G = _whole_sums(whole if share is None else whole.copy(), F, lin, sym)
        sums.append(xp.stack(sums3))
        diags.append(xp.stack(dg))
        if share is not None:
            share.update(P=whole, G=G, sym=sym)
        rows = []
    for bi, (r0, r1) in enumerate(rows):
        for s0, s1 in rows[bi:]:
            if r0 == s0:
                sym = _SymAcc(xp, r1 - r0)
                S1, S4, SQ, G = sym.zeros(), sym.zeros(), sym.zeros(), sym.zeros()
                for c0, c1 in _blocks(C, cc):
                    P, P2, Q = parts(r0, r1, c0, c1)
                    sym.add(S1, P)
                    sym.add(S4, P2)
                    sym.add(SQ, Q)
                    del P, P2, Q
                sym.add(G, _as_f64(F[r0:r1]))
                diags.append(xp.stack([xp.diagonal(S1), xp.diagonal(S4), xp.diagonal(SQ)]))
                d_ = _tri_dot(sym, G, SQ, square_G=True)
                b_ = _tri_dot(sym, G, S4)
                a_ = _tri_dot(sym, G, S1, square=True)
                w = 1.0
            else:                                # off-diagonal row blocks: GEMMs, counted twice
                S1, S4, SQ = (xp.zeros((r1 - r0, s1 - s0), dtype=_F64) for _ in range(3))
                for c0, c1 in _blocks(C, cc):
                    P, P2, Q = parts(r0, r1, c0, c1)
                    Ps, Ps2, Qs = parts(s0, s1, c0, c1)
                    S1 += _as_f64(P @ Ps.T)
                    S4 += _as_f64(P2 @ Ps2.T)
                    SQ += _as_f64(Q @ Qs.T)
                    del P, P2, Q, Ps, Ps2, Qs
                G = _as_f64(F[r0:r1]) @ _as_f64(F[s0:s1]).T
                G *= G
                S1 *= S1
                d_, b_, a_ = (xp.vdot(G.ravel(), M.ravel()) for M in (SQ, S4, S1))
                w = 2.0
            sums.append(w * xp.stack([d_, b_, a_ - b_]))
            del S1, S4, SQ, G
    nu, dS, tot = bk.to_host(nu, xp.concatenate(diags, axis=1), xp.stack(sums).sum(axis=0))
    dS1, dS4, dSQ = dS
    diag, bsum, off = (float(v) for v in tot)
    if share is not None:
        share["diag_terms"] = (nu * nu * dSQ, nu * nu * (dS1 * dS1 - dS4))
    n2 = float(N) * N
    bound = _bound(diag, off, bsum, nu, dS1, dS4, dSQ, N, p, C, cc, dt, lin)
    return AggregateSums(diag / n2, off / n2, bound)


def _bound(D: float, O: float, B: float, nu: np.ndarray, dS1: np.ndarray, dS4: np.ndarray,
           dSQ: np.ndarray, N: int, p: int, C: int, cc: int, dt: Any, lin: Any) -> float:
    """The relative error bound of the aggregate ratio (module docstring), or inf."""
    if not (D > 0 and O > 0):
        return math.inf
    n_chunks = -(-C // cc)

    def eta(kind: Any, cast: bool) -> float:
        u = _U32 if kind == np.float32 else _U64
        k = cc if kind == np.float32 else C
        uc = _U32 if cast else 0.0
        return (1 + uc) ** 2 * (1 + _gamma(k, u)) * (1 + _gamma(n_chunks, _U64)) - 1

    e1 = eta(dt, False)
    elin = eta(lin, lin != dt)
    gp = _gamma(p, _U64)
    dG = 2 * gp + gp * gp + _U64 * (1 + gp) ** 2
    g = _gamma(float(N) * N + 3, _U64)
    rt = lambda v: np.sqrt(np.maximum(v, 0.0))  # noqa: E731
    A = O + B
    dD = ((1 + elin) * (1 + g) - 1) * D + dG * (1 + elin) * float(nu @ rt(dSQ)) ** 2
    dO = (((1 + e1) ** 2 * (1 + g) - 1) * A + ((1 + elin) * (1 + g) - 1) * B
          + dG * (1 + e1) ** 2 * float(nu @ np.maximum(dS1, 0)) ** 2
          + dG * (1 + elin) * float(nu @ rt(dS4)) ** 2)
    rd = dD / D
    if rd >= 1:
        return math.inf
    eps = (dO / O + rd) / (1 - rd)
    return eps / (2 * math.sqrt(1 - eps)) if eps < 1 else math.inf
