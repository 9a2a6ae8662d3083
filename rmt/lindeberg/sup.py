"""The sup of a gap over a grid with its bootstrap CI and Monte Carlo noise floor (fits of such
sups against ``d``: :func:`rmt.stats.fit_power_law`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend as bk
from ..validation import check_int, check_probability


@dataclass(frozen=True)
class SupGap:
    """``sup |Δ̂|`` over a grid of points, with a bootstrap CI and the Monte Carlo noise floor.

    Attributes
    ----------
    value : float
        ``max_j |mean_i D_ij|`` over the grid points ``j`` (trials ``i``).
    argmax : int
        Flat index of the grid point where it is attained.
    stderr : float
        Bootstrap standard deviation of the sup.
    ci : (float, float)
        Bootstrap percentile interval at ``level``.
    bias : float
        Bootstrap estimate of the sup's upward bias, ``mean(sup*) − value`` (a max of noisy
        estimates exceeds the max of their means; the bootstrap estimate under-corrects when
        several points tie, so it is reported, and :func:`gap_rate` fits both ways).
    noise_floor : float
        Mean of ``sup_j |ε_j|`` for pure noise with the measured covariance (multiplier bootstrap).
    noise_quantile : float
        Its ``level`` quantile.
    above_floor : bool
        ``ci[0] > noise_quantile``: the sup is signal, not the maximum of noise.
    level : float
    n_trials, n_points : int
    """

    value: float
    argmax: int
    stderr: float
    ci: tuple[float, float]
    bias: float
    noise_floor: float
    noise_quantile: float
    above_floor: bool
    level: float
    n_trials: int
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "argmax": self.argmax, "stderr": self.stderr,
                "ci": list(self.ci), "bias": self.bias, "noise_floor": self.noise_floor,
                "noise_quantile": self.noise_quantile, "above_floor": self.above_floor,
                "level": self.level, "n_trials": self.n_trials, "n_points": self.n_points}


def sup_gap(per_trial: Any, level: float = 0.95, *, n_boot: int = 2000,
            seed: Any = 0) -> SupGap:
    """Sup over grid points of the absolute mean of per-trial differences, with its noise floor.

    Parameters
    ----------
    per_trial : array, shape (T, ...)
        Per-trial differences ``D_i`` (real or complex); the trailing axes are the grid.
    level : float in (0, 1)
        Level of the bootstrap interval and of the noise quantile.
    n_boot : int, >= 100
        Bootstrap resamples (trial resampling for the CI; Gaussian multipliers for the floor).
    seed : int, SeedSequence or Generator

    Returns
    -------
    SupGap
    """
    D = np.asarray(bk.to_numpy(per_trial))
    if D.ndim < 1 or D.shape[0] < 2 or D.size == 0:
        raise ValueError(f"per_trial must have shape (T, ...) with T >= 2 trials, got {D.shape}")
    if not np.all(np.isfinite(D)):
        raise ValueError("per_trial must contain only finite values")
    level = check_probability("level", level)
    B = check_int("n_boot", n_boot, 100)
    T = D.shape[0]
    D = D.reshape(T, -1)
    mean = D.mean(axis=0)
    absm = np.abs(mean)
    j = int(np.argmax(absm))
    rng_ci, rng_null = (np.random.default_rng(s) for s in bk.spawn_seeds(seed, 2))
    # Trial resampling: counts of each trial in each resample, so each resample mean is a GEMM.
    counts = rng_ci.multinomial(T, np.full(T, 1.0 / T), size=B).astype(np.float64)
    boot = np.abs(counts @ D / T).max(axis=1)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    # Noise floor: the sup of pure noise with the same covariance as the mean's.
    g = rng_null.standard_normal((B, T))
    null = np.abs(g @ (D - mean) / T).max(axis=1)
    q = float(np.quantile(null, level))
    return SupGap(value=float(absm[j]), argmax=j, stderr=float(boot.std(ddof=1)),
                  ci=(float(lo), float(hi)), bias=float(boot.mean() - absm[j]),
                  noise_floor=float(null.mean()), noise_quantile=q,
                  above_floor=bool(lo > q), level=level, n_trials=T, n_points=int(D.shape[1]))
