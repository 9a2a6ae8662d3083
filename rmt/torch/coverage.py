"""Measured coverage of the sequential Hutchinson CIs against exact values.

:func:`rule_coverage` repeats :func:`rmt.torch.estimators.aggregate_norms` on one fixed problem
with independent probe seeds and counts how often the CI contains the exact value (from rmt's
closed form or the dense Hessian). The count is compared with its binomial band: with ``n``
repetitions at nominal level ``ℓ``, the number of hits of an honest interval is
``Binomial(n, ℓ)``, and :attr:`Coverage.band` is that law's central interval at ``band_level``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.validation import check_int, check_probability

from .blocks import Partition
from .estimators import StoppingRule, aggregate_norms
from .problem import HessianProblem

__all__ = ["Coverage", "rule_coverage", "binomial_band"]


def binomial_band(n: int, level: float, band_level: float = 0.99) -> tuple[int, int]:
    """Central ``band_level`` interval of ``Binomial(n, level)`` (hits of an honest CI)."""
    from scipy.stats import binom  # noqa: PLC0415

    lo, hi = binom.interval(band_level, check_int("n", n, 1), check_probability("level", level))
    return int(lo), int(hi)


@dataclass(frozen=True)
class Coverage:
    """Hits of the truth by ``n`` CIs of nominal ``level``; ``band`` = the binomial band of an
    honest interval at ``band_level``. ``within_band`` is ``band[0] ≤ hits ≤ band[1]``.
    ``rel_error`` holds ``|estimate/truth − 1|`` per repetition and ``n_hvp`` its HVPs;
    ``claimed`` the CI half-widths relative to the estimate."""

    quantity: str
    truth: float
    hits: int
    n: int
    level: float
    band: tuple[int, int]
    band_level: float
    rtol: float
    naive: bool
    n_hvp: np.ndarray = field(repr=False)
    rel_error: np.ndarray = field(repr=False)
    claimed: np.ndarray = field(repr=False)

    @property
    def within_band(self) -> bool:
        return self.band[0] <= self.hits <= self.band[1]

    @property
    def rate(self) -> float:
        return self.hits / self.n

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("n_hvp", "rel_error", "claimed"):
            d[k] = np.asarray(d[k]).tolist()
        d["within_band"] = self.within_band
        return d

    def __str__(self) -> str:
        rule = "naive (look after every batch)" if self.naive else "pilot + few looks"
        return (f"{self.quantity}: {self.hits}/{self.n} CIs at {100 * self.level:g}% contain the "
                f"exact value (band {self.band[0]}-{self.band[1]} at "
                f"{100 * self.band_level:g}%: {'inside' if self.within_band else 'OUTSIDE'}); "
                f"rule {rule}, target {100 * self.rtol:g}%; median {np.median(self.n_hvp):.0f} "
                f"HVPs; {np.mean(self.rel_error > self.rtol):.3f} of runs off by more than the "
                f"target")


def rule_coverage(problem: HessianProblem, part: Partition, layer: str, truth: float,
                  rule: StoppingRule, n_reps: int, *, quantity: str = "aggregate",
                  colours: int | str = 2, seed: Any = 0, band_level: float = 0.99,
                  progress: bool = False) -> Coverage:
    """Coverage of the CI of ``quantity`` over ``n_reps`` independent runs of the estimator.

    Parameters
    ----------
    problem, part, layer
        As for :func:`~rmt.torch.estimators.aggregate_norms`.
    truth : float
        The exact value of ``quantity``.
    rule : StoppingRule
    n_reps : int >= 1
    quantity : {"aggregate", "off_diagonal", "diagonal"}
        Which CI is checked (the rule's tolerance applies to the same quantity).
    colours, seed
        Colours per round; repetition ``r`` uses child ``r`` of ``SeedSequence(seed)``.
    band_level : float
        Level of the binomial band.

    Returns
    -------
    Coverage
    """
    n_reps = check_int("n_reps", n_reps, 1)
    if not math.isfinite(truth):
        raise ValueError(f"truth must be finite, got {truth}")
    hits = 0
    hv, err, claim = [], [], []
    from tqdm import tqdm  # noqa: PLC0415

    for ss in tqdm(bk.spawn_seeds(seed, n_reps), desc="coverage", disable=not progress,
                   leave=False):
        a = aggregate_norms(problem, part, layer, rule=rule, colours=colours, target=quantity,
                            seed=ss, progress=False)
        est = {"aggregate": (a.aggregate, a.aggregate_ci),
               "off_diagonal": (a.off_diagonal, a.off_diagonal_ci),
               "diagonal": (a.diagonal, a.diagonal_ci)}[quantity]
        v, (lo, hi) = est
        hits += bool(lo <= truth <= hi)
        hv.append(a.n_hvp)
        err.append(abs(v / truth - 1) if truth else abs(v))
        claim.append((hi - lo) / (2 * abs(v)) if v else math.inf)
    return Coverage(quantity, float(truth), hits, n_reps, rule.level,
                    binomial_band(n_reps, rule.level, band_level), band_level, rule.rtol,
                    rule.naive, np.array(hv), np.array(err), np.array(claim))
