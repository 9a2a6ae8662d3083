"""The sup of a gap over a grid with its bootstrap CI and Monte Carlo noise floor, and power-law
fits of such sups against ``d``."""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class PowerLawFit:
    """``y ≈ a x^b`` fitted on log-log axes.

    Attributes
    ----------
    slope, intercept : float
        ``b`` and ``ln a``.
    stderr : float
        Standard error of ``b`` (inflated by ``√(χ²/dof)`` when the points scatter more than
        their errors allow).
    ci : (float, float)
        ``level`` interval of ``b``.
    level : float
    method : str
    n : int
    chi2 : float
        Weighted residual sum of squares (NaN for OLS).
    dof : int
    """

    slope: float
    intercept: float
    stderr: float
    ci: tuple[float, float]
    level: float
    method: str
    n: int
    chi2: float = float("nan")
    dof: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept, "stderr": self.stderr,
                "ci": list(self.ci), "level": self.level, "method": self.method, "n": self.n,
                "chi2": None if not math.isfinite(self.chi2) else self.chi2, "dof": self.dof}


def fit_power_law(x: Any, y: Any, yerr: Any = None, level: float = 0.95) -> PowerLawFit:
    """Fit ``ln y = ln a + b ln x``.

    Without ``yerr``: ordinary least squares, CI ``b̂ ± t_{n−2} SE`` (needs ``n >= 3``). With
    ``yerr``: weighted least squares with ``sd(ln y_i) = yerr_i/y_i`` (delta method), ``SE(b̂) =
    (Σ w (ln x − mean)²)^{−1/2}``; when ``χ²/dof > 1`` the SE is multiplied by ``√(χ²/dof)``
    (Birge ratio: the points scatter more than their errors, e.g. finite-size corrections) and
    the quantile is ``t_{n−2}``, otherwise the normal quantile (known variances).

    Parameters
    ----------
    x, y : array_like, positive, same length (>= 2 distinct ``x``)
    yerr : array_like, positive, optional
    level : float in (0, 1)

    Returns
    -------
    PowerLawFit
    """
    from scipy import stats  # noqa: PLC0415

    level = check_probability("level", level)
    lx = np.asarray(x, dtype=np.float64).ravel()
    ly = np.asarray(y, dtype=np.float64).ravel()
    if lx.size != ly.size:
        raise ValueError(f"x and y must have the same length, got {lx.size} and {ly.size}")
    if lx.size < 2 or np.unique(lx).size < 2:
        raise ValueError("x must contain at least two distinct values")
    if not (np.all(np.isfinite(lx)) and np.all(np.isfinite(ly))) or np.any(lx <= 0) or np.any(ly <= 0):
        raise ValueError("x and y must be finite and > 0 (they are fitted on log-log axes)")
    n = lx.size
    X, Y = np.log(lx), np.log(ly)
    if yerr is None:
        if n < 3:
            raise ValueError(f"x and y need at least 3 points without yerr, got {n}")
        xb, yb = X.mean(), Y.mean()
        sxx = float(np.sum((X - xb) ** 2))
        b = float(np.sum((X - xb) * (Y - yb)) / sxx)
        a = float(yb - b * xb)
        s2 = float(np.sum((Y - a - b * X) ** 2) / (n - 2))
        se = math.sqrt(s2 / sxx)
        q = float(stats.t.ppf(0.5 + level / 2, n - 2))
        return PowerLawFit(b, a, se, (b - q * se, b + q * se), level, f"OLS, t_{n - 2}", n,
                           dof=n - 2)
    e = np.asarray(yerr, dtype=np.float64).ravel()
    if e.size != n or not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError(f"yerr must hold {n} finite values > 0")
    w = (ly / e) ** 2
    sw = float(w.sum())
    xb, yb = float(np.sum(w * X) / sw), float(np.sum(w * Y) / sw)
    sxx = float(np.sum(w * (X - xb) ** 2))
    b = float(np.sum(w * (X - xb) * (Y - yb)) / sxx)
    a = yb - b * xb
    chi2 = float(np.sum(w * (Y - a - b * X) ** 2))
    dof = n - 2
    se = math.sqrt(1.0 / sxx)
    if dof > 0 and chi2 / dof > 1.0:
        se *= math.sqrt(chi2 / dof)
        q = float(stats.t.ppf(0.5 + level / 2, dof))
        method = f"WLS, errors inflated by sqrt(chi2/dof) = {math.sqrt(chi2 / dof):.3g}, t_{dof}"
    else:
        q = float(stats.norm.ppf(0.5 + level / 2))
        method = "WLS, known errors, normal"
    return PowerLawFit(b, a, se, (b - q * se, b + q * se), level, method, n, chi2, dof)

