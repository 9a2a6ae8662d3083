r"""Hutchinson estimates of Hessian block Frobenius norms, with honest confidence intervals.

Notation: blocks ``b_1 … b_n`` of one layer (:mod:`rmt.torch.blocks`), ``H_ij`` the block of rows
``b_i`` and columns ``b_j``, ``P_j`` the coordinate projection onto ``b_j``, ``u`` a Rademacher
vector (independent ±1 entries). For any matrix ``A``, ``E‖Au‖² = ‖A‖²_F`` and
``Var‖Au‖² = 2(‖AᵀA‖²_F − Σ_k (AᵀA)²_kk)``: no diagonal term, which is why Rademacher beats
Gaussian probes.

One pair (:func:`pair_norms`)
    A probe ``u`` on block ``j``, ``v = H P_j u``: ``‖v[b_i]‖² = ‖H_ij u_j‖²`` is unbiased for
    ``‖H_ij‖²_F`` for *every* ``i`` at once (one HVP gives the whole block column ``j``).

Layer sums (:func:`aggregate_norms`): ``D = Σ_i ‖H_ii‖²_F``, ``O = Σ_{i≠j} ‖H_ij‖²_F``
    Each *round* draws a balanced random colouring ``c`` of the ``n`` blocks with ``K`` colours
    (group sizes differ by at most one) and one probe per colour, ``u_k`` Rademacher on the
    blocks of colour ``k`` (``K`` HVPs). Let ``s_i^k = ‖(H u_k)[b_i]‖²``. Then

    * ``Ô = X/q`` with ``X = Σ_i Σ_{k≠c(i)} s_i^k`` and ``q = P(c(i) ≠ c(j))`` for ``i ≠ j``
      ``= 1 − Σ_k g_k(g_k−1)/(n(n−1))``: ``E[s_i^k | c] = Σ_{j: c(j)=k} ‖H_ij‖²`` (the
      probes of different blocks are independent, cross terms vanish), so
      ``E[X | c] = Σ_{i≠j} 1[c(i)≠c(j)] ‖H_ij‖²`` and ``E X = q·O``: unbiased.
    * ``D̂ = Y − (1−q)/q · X`` with ``Y = Σ_i s_i^{c(i)}``: ``E[Y | c] = D + Σ_{i≠j, c(i)=c(j)}
      ‖H_ij‖²``, whose mean over colourings is ``D + (1−q)O``: unbiased.

    ``O`` comes from cross-colour terms only, never as a total minus the diagonal (which loses
    it when ``O ≪ D``, e.g. an lm_head with a large vocabulary). ``K = n`` (every block its own
    colour, ``q = 1``) is the pair-by-pair estimator (``n`` HVPs per round). Every ``K`` is
    unbiased; the cost of a relative error ε is ``K · Var_round(K)/ε²``. Grouping more blocks
    into one probe averages each squared norm over more directions but adds the cross terms
    ``‖Σ_{i∉G} H_ijᵀH_ij'‖²_F`` of blocks ``j ≠ j'`` probed together; for Hessians whose blocks
    share one structure (``H_ij = (1/N)Σ_n A_n[i,j] x_n x_nᵀ``) the two balance. Measured on
    the linear CE model (N = 256, d = 32, C = 256; README): 412, 326, 419, 347 and 301 HVPs for a
    1 % CI at K = 2, 4, 16, 64 and n — equal within the noise. ``K = 2`` is the default: a round
    costs 2 HVPs instead of ``n`` (16,384 for an lm_head over a vocabulary of 16,384).

Ratios: the aggregate ratio ``R_agg = (O/D)^{1/2}`` and the per-block RMS ratio
``R_pb = R_agg/√(n−1) = (mean_{i≠j}‖H_ij‖²/mean_i‖H_ii‖²)^{1/2}``; per pair
``‖H_ij‖_F/‖H_ii‖_F``. Their CIs are Student-t intervals on the log scale with the
delta-method variance from the per-round sample covariance (``n − 1`` dof), mapped back.

The stopping rule (:class:`StoppingRule`)
    Rounds are drawn in looks: ``min_rounds`` first, then each look jumps to the number of
    rounds that the current variance says would reach the target (at least ``growth`` × the
    previous count), until the CI half-width is ``≤ max(rtol·|estimate|, atol)`` or the HVP cap
    is reached. The CI reported is the t-interval on all rounds. Looking after every batch (the
    naive rule) can stop where the sample variance happens to be small; a pilot of 16 rounds and
    few looks limit that. Coverage is measured, not assumed (:mod:`rmt.torch.coverage`,
    ``tests/test_torch_coverage.py``, README).

Round ``r`` always uses child ``r`` of ``SeedSequence(seed)``, so the estimates do not depend on
how rounds are batched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from rmt import backend as bk
from rmt.validation import check_int, check_probability, check_real

from .blocks import Partition
from .problem import HessianProblem

__all__ = [
    "StoppingRule",
    "PairEstimate",
    "AggregateEstimate",
    "pair_norms",
    "aggregate_norms",
    "dense_block_norms",
    "DenseNorms",
]


def _crit(level: float, dof: int) -> float:
    from rmt.stats import critical_value  # noqa: PLC0415

    return critical_value(level, dof)


@dataclass(frozen=True)
class StoppingRule:
    """When a sequential Hutchinson estimate stops.

    Parameters
    ----------
    rtol : float >= 0
        Target CI half-width relative to the estimate (0.01: "within 1 %").
    atol : float >= 0
        Absolute half-width that also counts as reached (for quantities that may be 0, e.g.
        the off-diagonal sum of an MSE linear model). ``rtol = atol = 0``: run to the cap.
    level : float in (0, 1)
        Confidence level of the reported CI.
    min_rounds : int >= 4
        Rounds of the first look (the pilot).
    max_hvp : int >= 1
        Cap on Hessian-vector products; the estimate stops there with ``converged = False``.
    growth : float >= 1
        Each further look has at least ``growth`` × the rounds of the previous one.
    naive : bool
        Look after every ``batch`` rounds and stop at the first look that meets the target (the
        anti-conservative rule, kept for the coverage comparison).
    """

    rtol: float = 0.01
    atol: float = 0.0
    level: float = 0.95
    min_rounds: int = 16
    max_hvp: int = 20_000
    growth: float = 1.5
    naive: bool = False

    def __post_init__(self) -> None:
        check_real("rtol", self.rtol, 0.0)
        check_real("atol", self.atol, 0.0)
        check_probability("level", self.level)
        check_int("min_rounds", self.min_rounds, 4)
        check_int("max_hvp", self.max_hvp, 1)
        check_real("growth", self.growth, 1.0)

    def reached(self, est: float, half: float) -> bool:
        return bool(half <= max(self.rtol * abs(est), self.atol))

    def next_rounds(self, n: int, est: float, half: float, cap: int) -> int:
        """Rounds of the next look after ``n`` rounds (≤ ``cap``)."""
        tol = max(self.rtol * abs(est), self.atol)
        need = math.ceil(n * (half / tol) ** 2) if tol > 0 and math.isfinite(half) else cap
        return int(min(cap, max(math.ceil(self.growth * n), need, n + 1)))


def _log_ratio_ci(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """``ā/b̄`` from paired per-round samples, its delta-method SE of the log, and the t CI
    (level, ``n − 1`` dof) mapped back from the log scale. Returns (ratio, se_log, lo, hi)."""
    n = a.size
    ma, mb = float(a.mean()), float(b.mean())
    if mb <= 0:
        return math.nan, math.nan, math.nan, math.nan
    if ma == 0 and not np.any(a):
        return 0.0, 0.0, 0.0, 0.0
    if ma <= 0:
        return ma / mb, math.nan, math.nan, math.nan
    c = np.cov(np.stack([a / ma, b / mb]), ddof=1) if n > 1 else np.full((2, 2), np.nan)
    var = (c[0, 0] + c[1, 1] - 2 * c[0, 1]) / n
    se = math.sqrt(max(var, 0.0))
    h = _crit(level, n - 1) * se
    r = ma / mb
    return r, se, r * math.exp(-h), r * math.exp(h)


def _mean_ci(x: np.ndarray, level: float) -> tuple[float, float, float, float]:
    n = x.size
    m = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    h = _crit(level, n - 1) * se if n > 1 else math.nan
    return m, se, m - h, m + h


def _round_seeds(seed: Any, start: int, stop: int) -> list[np.random.SeedSequence]:
    return bk.spawn_seeds(seed, stop)[start:stop]


def _generator(ss: np.random.SeedSequence, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1)))
    return g


def _signs(n: int, g: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=g, device=device).to(dtype).mul_(2).sub_(1)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm  # noqa: PLC0415 - a core dependency

    # delay: short runs print nothing; long ones show HVPs done, rate and time left
    return tqdm(total=total, desc=desc, unit="hvp", disable=not enabled, delay=5.0,
                dynamic_ncols=True, leave=False)


def _run(rule: StoppingRule, hvp_per_round: int, draw: Callable[[int, int], np.ndarray],
         summarise: Callable[[np.ndarray], tuple[float, float]], batch: int, progress: bool,
         desc: str) -> tuple[np.ndarray, bool]:
    """Draw rounds in looks until ``summarise(samples) = (estimate, half-width)`` meets the rule.

    ``draw(start, stop)`` returns the per-round values of rounds ``start … stop−1``."""
    cap = max(1, rule.max_hvp // hvp_per_round)
    n_target = min(cap, rule.min_rounds)
    rows: list[np.ndarray] = []
    n = 0
    converged = False
    with _progress(cap * hvp_per_round, desc, progress) as bar:
        while True:
            while n < n_target:
                stop = min(n_target, n + batch)
                rows.append(draw(n, stop))
                bar.update((stop - n) * hvp_per_round)
                n = stop
                if rule.naive and n >= 2:
                    est, half = summarise(np.concatenate(rows))
                    if rule.reached(est, half):
                        return np.concatenate(rows), True
            samples = np.concatenate(rows)
            est, half = summarise(samples)
            if rule.reached(est, half):
                converged = True
                break
            if n >= cap:
                break
            n_target = cap if rule.naive else rule.next_rounds(n, est, half, cap)
    return samples, converged


# ---------------------------------------------------------------------------------------------
# layer sums
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AggregateEstimate:
    """Hutchinson estimates of one layer's block-norm sums and ratios (Frobenius norm).

    ``off_diagonal`` estimates ``Σ_{i≠j}‖H_ij‖²_F`` (ordered pairs), ``diagonal``
    ``Σ_i‖H_ii‖²_F``, ``aggregate`` ``(off/diag)^{1/2}``, ``per_block_rms``
    ``aggregate/√(n_blocks−1)``; each with its CI at ``level`` over ``n_rounds`` rounds
    (t with ``n_rounds − 1`` dof; ratios on the log scale by the delta method).
    """

    layer: str
    n_blocks: int
    colours: int
    off_diagonal: float
    off_diagonal_se: float
    off_diagonal_ci: tuple[float, float]
    diagonal: float
    diagonal_se: float
    diagonal_ci: tuple[float, float]
    aggregate: float
    aggregate_ci: tuple[float, float]
    per_block_rms: float
    per_block_rms_ci: tuple[float, float]
    level: float
    n_rounds: int
    n_hvp: int
    converged: bool
    target: str
    rtol: float
    samples: np.ndarray = field(repr=False, compare=False)

    @property
    def aggregate_rel_halfwidth(self) -> float:
        lo, hi = self.aggregate_ci
        return (hi - lo) / (2 * self.aggregate) if self.aggregate > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("samples")
        return d

    def __str__(self) -> str:
        pct = f"{100 * self.level:g}%"
        lo, hi = self.aggregate_ci
        plo, phi = self.per_block_rms_ci
        return (f"layer {self.layer} ({self.n_blocks} blocks), Frobenius norm, Hutchinson "
                f"({self.n_rounds} rounds of {self.colours} colours, {self.n_hvp} HVPs, "
                f"{'converged' if self.converged else 'HVP cap reached'}):\n"
                f"  aggregate (Σ_i≠j ‖H_ij‖²_F / Σ_i ‖H_ii‖²_F)^1/2 = {self.aggregate:.6g} "
                f"{pct} CI [{lo:.6g}, {hi:.6g}]\n"
                f"  per-block RMS ratio = {self.per_block_rms:.6g} {pct} CI [{plo:.6g}, {phi:.6g}]"
                f"\n  Σ_i≠j ‖H_ij‖²_F = {self.off_diagonal:.6g} ± {self.off_diagonal_se:.2g} (SE),"
                f" Σ_i ‖H_ii‖²_F = {self.diagonal:.6g} ± {self.diagonal_se:.2g} (SE)")


def _balanced_colours(n: int, K: int, g: torch.Generator) -> torch.Tensor:
    perm = torch.randperm(n, generator=g)
    colour = torch.empty(n, dtype=torch.long)
    colour[perm] = torch.arange(n) % K
    return colour


def _same_colour_prob(n: int, K: int) -> float:
    """P(c(i) = c(j)) for i ≠ j under a balanced random colouring of n blocks with K colours."""
    g = np.full(K, n // K)
    g[: n % K] += 1
    return float(np.sum(g * (g - 1)) / (n * (n - 1)))


def aggregate_norms(problem: HessianProblem, part: Partition, layer: str, *,
                    rule: StoppingRule | None = None, colours: int | str = 2,
                    target: str = "aggregate", seed: Any = None, batch: int = 8,
                    progress: bool = True) -> AggregateEstimate:
    """Estimate ``Σ_{i≠j}‖H_ij‖²_F``, ``Σ_i‖H_ii‖²_F`` and the ratios of one layer.

    Parameters
    ----------
    problem : HessianProblem
    part : Partition
        Blocks of ``problem``'s parameters (``part.n_params`` must match).
    layer : str
        The layer (a key of ``part.layers``) with at least 2 blocks.
    rule : StoppingRule, optional
        Target, level and HVP cap (default ``StoppingRule()``: 1 %, 95 %, 20,000 HVPs).
    colours : int in [2, n_blocks] or "blocks"
        Colours per round (HVPs per round); ``"blocks"`` = one per block (pair by pair).
    target : {"aggregate", "off_diagonal", "diagonal"}
        The quantity whose CI the rule's tolerance applies to.
    seed : int or SeedSequence, optional
        Round ``r`` uses child ``r`` of ``SeedSequence(seed)``.
    batch : int >= 1
        Rounds per batched HVP call (``batch × colours`` probes at once).
    progress : bool
        A progress bar on stderr for runs longer than 5 s.

    Returns
    -------
    AggregateEstimate
    """
    rule = rule if rule is not None else StoppingRule()
    if not isinstance(rule, StoppingRule):
        raise TypeError(f"rule must be a StoppingRule, got {type(rule).__name__}")
    _check_part(problem, part)
    ids = part.layer(layer)
    n = int(ids.size)
    if n < 2:
        raise ValueError(f"layer {layer!r} has {n} block; the sums need at least 2")
    K = n if colours == "blocks" else check_int("colours", colours, 2, n)
    if target not in ("aggregate", "off_diagonal", "diagonal"):
        raise ValueError(f"target must be one of ('aggregate', 'off_diagonal', 'diagonal'), "
                         f"got {target!r}")
    batch = check_int("batch", batch, 1)
    seed = bk.as_seed_sequence(seed)
    q = 1.0 - _same_colour_prob(n, K)
    pidx, local = (t.to(problem.device) for t in part.layer_index(layer))
    P = problem.n_params
    dt, dev = problem.dtype, problem.device

    def draw(start: int, stop: int) -> np.ndarray:
        R = stop - start
        V = torch.zeros(R * K, P, dtype=dt, device=dev)
        cols = []
        for r, ss in enumerate(_round_seeds(seed, start, stop)):
            g = _generator(ss, torch.device("cpu"))
            c = _balanced_colours(n, K, g).to(dev)
            cols.append(c)
            s = _signs(pidx.numel(), g, dt, torch.device("cpu")).to(dev)
            V[r * K + c[local], pidx] = s
        HV = problem.hvp(V)
        S = torch.zeros(R * K, n, dtype=dt, device=dev)
        S.index_add_(1, local, HV[:, pidx] ** 2)
        S = S.reshape(R, K, n)
        out = np.empty((R, 2))
        for r in range(R):
            own = torch.nn.functional.one_hot(cols[r], K).T.to(dt)       # (K, n)
            same = float((S[r] * own).sum())
            cross = float(S[r].sum()) - same
            out[r] = (cross / q, same - (1 - q) / q * cross)
        return out

    def summarise(x: np.ndarray) -> tuple[float, float]:
        if target == "aggregate":
            r, _, lo, hi = _log_ratio_ci(x[:, 0], x[:, 1], rule.level)
            est, lo, hi = math.sqrt(max(r, 0)), math.sqrt(max(lo, 0)), math.sqrt(max(hi, 0))
            return est, (hi - lo) / 2 if math.isfinite(hi - lo) else math.inf
        m, _, lo, hi = _mean_ci(x[:, 0 if target == "off_diagonal" else 1], rule.level)
        return m, (hi - lo) / 2 if math.isfinite(hi - lo) else math.inf

    n0 = problem.n_hvp
    x, ok = _run(rule, K, draw, summarise, batch, progress, f"{layer} sums")
    om, ose, olo, ohi = _mean_ci(x[:, 0], rule.level)
    dm, dse, dlo, dhi = _mean_ci(x[:, 1], rule.level)
    r, _, rlo, rhi = _log_ratio_ci(x[:, 0], x[:, 1], rule.level)
    sq = [math.sqrt(v) if v >= 0 else math.nan for v in (r, rlo, rhi)]
    k = math.sqrt(n - 1.0)
    return AggregateEstimate(layer, n, K, om, ose, (olo, ohi), dm, dse, (dlo, dhi), sq[0],
                             (sq[1], sq[2]), sq[0] / k, (sq[1] / k, sq[2] / k), rule.level,
                             int(x.shape[0]), problem.n_hvp - n0, ok, target, rule.rtol, x)


# ---------------------------------------------------------------------------------------------
# chosen pairs
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairEstimate:
    """Hutchinson estimates of ``‖H_ij‖²_F`` for chosen ordered pairs (Frobenius norm).

    ``pairs`` are global block ids ``(i, j)``; ``sq_norm[t]`` estimates ``‖H_ij‖²_F`` with
    standard error ``sq_norm_se[t]`` and CI ``sq_norm_ci[t]`` at ``level`` (t, ``n_rounds − 1``
    dof). ``ratio[t]`` is ``‖H_ij‖_F/‖H_ii‖_F`` where ``(i, i)`` is among the pairs (NaN
    elsewhere), with its CI (log scale, delta method). Each CI is at ``level`` on its own (not
    simultaneous).
    """

    pairs: np.ndarray
    names: tuple[tuple[str, str], ...]
    sq_norm: np.ndarray
    sq_norm_se: np.ndarray
    sq_norm_ci: np.ndarray
    ratio: np.ndarray
    ratio_ci: np.ndarray
    level: float
    n_rounds: int
    n_hvp: int
    converged: bool
    samples: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        d.pop("samples")
        return d


def _check_part(problem: HessianProblem, part: Partition) -> None:
    if not isinstance(problem, HessianProblem):
        raise TypeError(f"problem must be a HessianProblem, got {type(problem).__name__}")
    if not isinstance(part, Partition):
        raise TypeError(f"part must be a Partition, got {type(part).__name__}")
    if part.n_params != problem.n_params:
        raise ValueError(f"part covers {part.n_params} parameters but the problem has "
                         f"{problem.n_params}; build it from the same model")


def _check_pairs(pairs: Any, n_blocks: int) -> np.ndarray:
    a = np.asarray(pairs)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"pairs must be an integer array of shape (K, 2), K >= 1, got shape "
                         f"{a.shape} and dtype {a.dtype}")
    if a.min() < 0 or a.max() >= n_blocks:
        raise ValueError(f"pairs must hold block ids in [0, {n_blocks - 1}], got range "
                         f"[{a.min()}, {a.max()}]")
    return a.astype(np.int64)


def pair_norms(problem: HessianProblem, part: Partition, pairs: Any, *,
               rule: StoppingRule | None = None, seed: Any = None, batch: int = 4,
               progress: bool = True) -> PairEstimate:
    """Estimate ``‖H_ij‖²_F`` for chosen ordered pairs of blocks (any layers).

    Each round probes every distinct column block ``j`` once (Rademacher on ``b_j``; one HVP
    each) and reads all requested rows ``i`` of that column. The rule's tolerance applies to
    every pair's CI (the run stops when all meet it, or at the cap).

    Parameters
    ----------
    problem : HessianProblem
    part : Partition
    pairs : int array, shape (K, 2)
        Global block ids ``(i, j)``; include ``(i, i)`` to get ratios ``‖H_ij‖_F/‖H_ii‖_F``.
    rule, seed, batch, progress
        As for :func:`aggregate_norms` (``batch``: rounds per batched HVP call).

    Returns
    -------
    PairEstimate
    """
    rule = rule if rule is not None else StoppingRule()
    _check_part(problem, part)
    pr = _check_pairs(pairs, len(part))
    batch = check_int("batch", batch, 1)
    seed = bk.as_seed_sequence(seed)
    cols = np.unique(pr[:, 1])
    J = cols.size
    col_pos = {int(j): k for k, j in enumerate(cols)}
    P = problem.n_params
    dt, dev = problem.dtype, problem.device
    col_idx = [torch.from_numpy(part.blocks[j].index).to(dev) for j in cols]
    row_idx = [torch.from_numpy(part.blocks[i].index).to(dev) for i in pr[:, 0]]

    def draw(start: int, stop: int) -> np.ndarray:
        R = stop - start
        V = torch.zeros(R * J, P, dtype=dt, device=dev)
        for r, ss in enumerate(_round_seeds(seed, start, stop)):
            g = _generator(ss, torch.device("cpu"))
            for k, idx in enumerate(col_idx):
                V[r * J + k, idx] = _signs(idx.numel(), g, dt, torch.device("cpu")).to(dev)
        HV = problem.hvp(V).reshape(R, J, P)
        out = np.empty((R, pr.shape[0]))
        for t, (i, j) in enumerate(pr):
            out[:, t] = (HV[:, col_pos[int(j)], row_idx[t]] ** 2).sum(1).cpu().numpy()
        return out

    def worst(x: np.ndarray) -> tuple[float, float]:
        # the pair furthest from its target decides: report it as (estimate, half-width)
        worst_ratio, worst_pair = -1.0, (1.0, math.inf)
        for t in range(x.shape[1]):
            m, _, lo, hi = _mean_ci(x[:, t], rule.level)
            half = (hi - lo) / 2 if math.isfinite(hi - lo) else math.inf
            tol = max(rule.rtol * abs(m), rule.atol)
            q = half / tol if tol > 0 else (0.0 if half == 0 else math.inf)
            if q > worst_ratio:
                worst_ratio, worst_pair = q, (m, half)
        return worst_pair

    n0 = problem.n_hvp
    x, ok = _run(rule, J, draw, worst, batch, progress, "pair norms")
    stats = np.array([_mean_ci(x[:, t], rule.level) for t in range(pr.shape[0])])
    ratio = np.full(pr.shape[0], np.nan)
    ratio_ci = np.full((pr.shape[0], 2), np.nan)
    diag = {int(i): t for t, (i, j) in enumerate(pr) if i == j}
    for t, (i, j) in enumerate(pr):
        if int(i) in diag:
            r, _, lo, hi = _log_ratio_ci(x[:, t], x[:, diag[int(i)]], rule.level)
            ratio[t] = math.sqrt(r) if r >= 0 else math.nan
            ratio_ci[t] = (math.sqrt(lo), math.sqrt(hi)) if lo >= 0 else (math.nan, math.nan)
    names = tuple((part.blocks[i].name, part.blocks[j].name) for i, j in pr)
    return PairEstimate(pr, names, stats[:, 0], stats[:, 1], stats[:, 2:4], ratio, ratio_ci,
                        rule.level, int(x.shape[0]), problem.n_hvp - n0, ok, x)


# ---------------------------------------------------------------------------------------------
# the dense reference
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DenseNorms:
    """Exact block norms from the dense Hessian: ``sq[a, b] = ‖H_ab‖²_F`` over all blocks (global
    ids), and per layer the sums ``diagonal``/``off_diagonal`` and the aggregate ratio."""

    sq: np.ndarray
    diagonal: dict[str, float]
    off_diagonal: dict[str, float]
    aggregate: dict[str, float]


def dense_block_norms(problem: HessianProblem, part: Partition, *, chunk: int = 256,
                      max_params: int | None = None) -> DenseNorms:
    """Exact squared block norms from the dense Hessian (small models only).

    Parameters
    ----------
    problem : HessianProblem
    part : Partition
    chunk : int
        Unit vectors per batched HVP call.
    max_params : int, optional
        Passed to :meth:`HessianProblem.dense`.

    Returns
    -------
    DenseNorms
    """
    _check_part(problem, part)
    H = problem.dense(chunk=chunk, **({} if max_params is None else {"max_params": max_params}))
    owner = torch.from_numpy(part.owner).to(problem.device)
    keep = owner >= 0
    Hk = H[keep][:, keep] ** 2
    ok = owner[keep]
    nb = len(part)
    # sum squared entries over (row block, column block): two index_adds
    rows = torch.zeros(nb, Hk.shape[1], dtype=H.dtype, device=H.device).index_add_(0, ok, Hk)
    sq = torch.zeros(nb, nb, dtype=H.dtype, device=H.device).index_add_(1, ok, rows)
    sq = sq.cpu().numpy()
    diag, off, agg = {}, {}, {}
    for name, ids in part.layers.items():
        sub = sq[np.ix_(ids, ids)]
        diag[name] = float(np.trace(sub))
        off[name] = float(sub[~np.eye(ids.size, dtype=bool)].sum())   # directly, not total − diag
        agg[name] = math.sqrt(off[name] / diag[name]) if diag[name] > 0 else math.nan
    return DenseNorms(sq, diag, off, agg)

