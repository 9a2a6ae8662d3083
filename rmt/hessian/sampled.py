r"""The aggregate block ratio of the CE softmax layer from sampled sample pairs, with a CI.

Both sums behind the aggregate ratio are double sums over sample pairs (docs/design.md):
``Σ_i ‖H_ii‖²_F = (1/N²) Σ_{n,m} G_nm (QQᵀ)_nm`` and
``Σ_{i≠j} ‖H_ij‖²_F = (1/N²) Σ_{n,m} G_nm ((S1_nm)² − (S4)_nm)``. A pair's term costs
``O(C + p)`` once the softmax rows ``p_n``, ``p_m`` are known, but a softmax row costs
``O(p C)``: at ``(N, d, C) = (8192, 1024, 128000)`` the softmax of *all* samples alone is
2 TFLOP. So the sampling unit is the sample: the estimator draws a random permutation of the
``N`` samples and cuts it into groups of ``g``; each group ``b`` is one unbiased estimate of
both sums, stratified into the ``n = m`` terms and the ``n ≠ m`` terms,

    Ŝ_b = (1/N²) [ (N/g) Σ_{n∈b} h_nn + N(N−1)/(g(g−1)) Σ_{n≠m∈b} h_nm ],

computed exactly inside the group by :func:`rmt.hessian.aggregate.ce_aggregate` (three SYRKs
of ``g × C``, ``O(g² C + g p C)`` flops). (Unbiased: every sample, and every ordered pair of
distinct samples, is in a group with the same probability.) Groups are exchangeable draws
without replacement; they are processed until the CI of the ratio is as narrow as asked
(after at least ``min_groups``), the time budget is spent, or the samples run out.

Confidence interval: the ratio of two means, ``R̂² = Ō/D̄`` over ``B`` groups, by the delta
method — ``SE(R̂²) = sd_b(O_b − R̂² D_b) / (√B · D̄)`` — with a Student-t quantile on ``B − 1``
degrees of freedom; the interval of ``R = (O/D)^{1/2}`` is the square root of its endpoints.
No finite-population correction is applied (conservative: when all ``N`` samples are used the
estimate is still random through the grouping). The stopping rule looks at the CI, which can
lower coverage slightly; the tests measure coverage over ≥ 200 seeds against the exact value.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import backend as bk
from ..stats import Estimate, critical_value, jsonable
from ..validation import check_int, check_probability
from ._context import _Ctx, _Head
from .aggregate import ce_aggregate

#: Smallest number of groups before the CI may stop the sampling (t quantile on ≥ 19 dof).
MIN_GROUPS = 20


@dataclass(frozen=True)
class SampledBlockNorms:
    """Sampled estimate of the aggregate block sums and ratio of one layer (CE, rows of ``V``).

    Attributes
    ----------
    diagonal, off_diagonal : Estimate
        Estimates of ``Σ_i ‖H_ii‖²_F`` and ``Σ_{i≠j} ‖H_ij‖²_F`` (mean over groups, standard
        error over groups, ``n_trials`` = groups, ``dof`` = groups − 1).
    aggregate_ratio : float
        ``(off/diagonal)^{1/2}`` of the two estimates.
    ratio_ci_low, ratio_ci_high : float
        The ``level`` CI of the aggregate ratio (delta method, t on groups − 1 dof).
    level : float
    rel_error : float
        Requested relative half-width of that CI.
    achieved_rel_error : float
        The larger half-width of the CI divided by ``aggregate_ratio``.
    converged : bool
        Whether ``achieved_rel_error <= rel_error``.
    n_samples, n_samples_used, group_size, n_groups, n_blocks : int
    blocks : str
    rounding_bound : float
        Largest per-group bound on the relative rounding error of the ratio (see
        :mod:`rmt.hessian.aggregate`); far below the statistical error when it matters.
    seconds : float
    reason : str
        Why the sampled path ran (asked for, or the exact path's predicted time).
    """

    diagonal: Estimate
    off_diagonal: Estimate
    aggregate_ratio: float
    ratio_ci_low: float
    ratio_ci_high: float
    level: float
    rel_error: float
    achieved_rel_error: float
    converged: bool
    n_samples: int
    n_samples_used: int
    group_size: int
    n_groups: int
    n_blocks: int
    blocks: str
    rounding_bound: float
    seconds: float
    reason: str
    method: str = "sampled"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (estimates as mean/stderr/CI dicts at ``level``)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("diagonal", "off_diagonal")}
        d["diagonal"] = self.diagonal.to_dict(self.level)
        d["off_diagonal"] = self.off_diagonal.to_dict(self.level)
        return jsonable(d)

    def __str__(self) -> str:
        pct = f"{100 * self.level:g}%"
        state = "reached" if self.converged else "NOT reached"
        return "\n".join([
            f"Aggregate block ratio, sampled: rows of {self.blocks} ({self.n_blocks} blocks), "
            f"(Σ_i≠j ‖H_ij‖²_F / Σ_i ‖H_ii‖²_F)^1/2 = {self.aggregate_ratio:.6g}, "
            f"{pct} CI [{self.ratio_ci_low:.6g}, {self.ratio_ci_high:.6g}]",
            f"  from {self.n_samples_used} of {self.n_samples} samples in {self.n_groups} groups "
            f"of {self.group_size} (all sample pairs within a group); CI half-width "
            f"{100 * self.achieved_rel_error:.3g}% (target {100 * self.rel_error:g}%: {state}); "
            f"{self.seconds:.1f} s",
            f"  why sampled: {self.reason}",
        ])


#: Default samples per group. Small groups let the CI stop the sampling early: the ``MIN_GROUPS``
#: groups of 16 (320 samples) already gave a 0.8 % CI at (8192, 1024, 16000); larger groups
#: use each sample more (more pairs) but must all be paid for before the first look at the CI.
GROUP_SIZE = 16


def default_group_size(N: int) -> int:
    """:data:`GROUP_SIZE`, or fewer so that ``N`` holds :data:`MIN_GROUPS` groups."""
    return int(max(2, min(GROUP_SIZE, N // MIN_GROUPS)))


def _ratio_ci(D: np.ndarray, O: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """(ratio, low, high, SE of the squared ratio) from per-group estimates (delta method)."""
    B = D.size
    Dm, Om = float(D.mean()), float(O.mean())
    if not (Dm > 0 and Om >= 0):
        return math.nan, math.nan, math.nan, math.nan
    r2 = Om / Dm
    se = float(np.std(O - r2 * D, ddof=1)) / (math.sqrt(B) * Dm)
    half = critical_value(level, dof=B - 1) * se
    return math.sqrt(r2), math.sqrt(max(r2 - half, 0.0)), math.sqrt(r2 + half), se


def sampled_aggregate(ctx: _Ctx, rel_error: float = 0.01, level: float = 0.95, seed: Any = None,
                      *, budget: float | None = None, group_size: int | None = None,
                      min_groups: int = MIN_GROUPS, max_samples: int | None = None,
                      reason: str = "asked for (method='sampled')") -> SampledBlockNorms:
    """The sampled estimator of the module docstring on a validated context (CE, ``V``)."""
    t0 = time.perf_counter()
    if ctx.loss != "ce":
        raise ValueError("method='sampled' needs loss='ce' (the MSE aggregate is exact and "
                         f"costs N p², no sampling needed), got loss={ctx.loss!r}")
    if not (isinstance(rel_error, (int, float)) and 0 < rel_error < 1):
        raise ValueError(f"rel_error must be a number in (0, 1), got {rel_error!r}")
    level = check_probability("level", level)
    if budget is not None and not (isinstance(budget, (int, float)) and budget > 0):
        raise ValueError(f"budget must be None or a number of seconds > 0, got {budget!r}")
    xp = ctx.xp
    F, V = ctx.features("V"), ctx.Vc
    N, p = (int(s) for s in F.shape)
    if N < 4:
        raise ValueError(f"method='sampled' needs at least 4 samples (2 groups of 2), got N={N}")
    min_groups = check_int("min_groups", min_groups, 2)
    g = (default_group_size(N) if group_size is None
         else check_int("group_size", group_size, 2, N // 2))
    cap = N if max_samples is None else check_int("max_samples", max_samples, 2 * g, N)
    B_max = cap // g
    # drawn on the host (NumPy = CuPy for a seed), copied to the device once
    perm = xp.asarray(bk.default_rng(seed, np).permutation(N)[:B_max * g])
    scale_d, scale_o = N / g, N * (N - 1.0) / (g * (g - 1.0))
    n2 = float(N) * N
    D, O, bounds = [], [], []
    ratio = lo = hi = math.nan
    for b in range(B_max):
        Fb = xp.take(F, perm[b * g:(b + 1) * g], axis=0)
        share: dict[str, Any] = {}
        res = ce_aggregate(Fb, V, _Head(Fb, V, "ce", ctx.L), ctx.L, share=share)
        dD, dO = share["diag_terms"]
        wD, wO = res.diagonal * g * g, res.off_diagonal * g * g      # within-group sums
        sD, sO = float(dD.sum()), float(dO.sum())      # host arrays: ce_aggregate copied once
        D.append((scale_d * sD + scale_o * (wD - sD)) / n2)
        O.append((scale_d * sO + scale_o * (wO - sO)) / n2)
        bounds.append(res.rel_error_bound)
        if len(D) >= min(min_groups, B_max):
            ratio, lo, hi, _ = _ratio_ci(np.array(D), np.array(O), level)
            achieved = max(hi - ratio, ratio - lo) / ratio if ratio > 0 else math.inf
            if achieved <= rel_error:
                break
            if budget is not None and time.perf_counter() - t0 > budget:
                break
    Da, Oa = np.array(D), np.array(O)
    B = Da.size
    if B < 2:
        raise ValueError(f"max_samples must allow at least 2 groups of {g}, got {cap}")
    ratio, lo, hi, _ = _ratio_ci(Da, Oa, level)
    achieved = max(hi - ratio, ratio - lo) / ratio if ratio > 0 else math.inf

    def est(a: np.ndarray) -> Estimate:
        sd = float(a.std(ddof=1))
        return Estimate(float(a.mean()), sd / math.sqrt(B), B, B - 1,
                        {"std": sd, "unit": "group of sample pairs", "per_group": a})

    return SampledBlockNorms(
        diagonal=est(Da), off_diagonal=est(Oa), aggregate_ratio=ratio, ratio_ci_low=lo,
        ratio_ci_high=hi, level=level, rel_error=float(rel_error), achieved_rel_error=achieved,
        converged=bool(achieved <= rel_error), n_samples=N, n_samples_used=B * g, group_size=g,
        n_groups=B, n_blocks=ctx.C, blocks="V", rounding_bound=float(max(bounds)),
        seconds=time.perf_counter() - t0, reason=reason)


_RATE: dict[str, float] = {}


def gemm_rate(xp: Any, dtype: Any) -> float:
    """Flops per second of a square GEMM (``n = 1024``) on ``xp`` in ``dtype``, measured once per
    process (best of three): the rate the exact aggregate's cost is predicted with."""
    key = f"{bk.backend_name(xp)}:{np.dtype(dtype)}"
    if key not in _RATE:
        n = 1024
        A = xp.ones((n, n), dtype=dtype)
        best = math.inf
        for _ in range(3):
            bk.synchronize(xp)
            t0 = time.perf_counter()
            A @ A
            bk.synchronize(xp)
            best = min(best, time.perf_counter() - t0)
        _RATE[key] = 2.0 * n ** 3 / max(best, 1e-9)
    return _RATE[key]


def exact_flops(N: int, p: int, C: int) -> float:
    """Flops of the exact CE aggregate: three SYRKs, two logits passes, the Gram matrix."""
    return 3.0 * N * N * C + 4.0 * N * p * C + 1.0 * N * N * p
