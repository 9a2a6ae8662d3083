"""The rate of the Lindeberg gap: ``sup_{t, z}`` of the gap on the smooth path for each ``d`` and
its fitted power law (see :mod:`rmt.lindeberg`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend as bk
from ..validation import check_int, check_probability, check_real
from .path import DEFAULT_Z, side_seed, simulate_path
from ..stats import PowerLawFit, fit_power_law


@dataclass(frozen=True, eq=False)
class GapRate:
    """``sup_{τ, z} |Δ̂|`` against ``d`` and its fitted power law.

    Attributes
    ----------
    dims : ndarray of int
    n_classes : ndarray of int
        ``C`` used at each ``d``.
    n_trials : ndarray of int
        Trials at each ``d``.
    sups : list of SupGap
    tau_star, z_star : ndarray
        Where each sup is attained.
    fit : PowerLawFit or None
        WLS fit of ``ln sup`` on ``ln d`` (errors: bootstrap SE) over the points above the noise
        floor; None when fewer than two are.
    fit_corrected : PowerLawFit or None
        The same fit of the bias-corrected sups ``value − bias`` (a check of the sup's bias on
        the slope).
    used : ndarray of bool
        Points entering the fit.
    paths : list of LindebergPath
    seconds : float
    """

    dims: np.ndarray
    n_classes: np.ndarray
    n_trials: np.ndarray
    sups: list
    tau_star: np.ndarray
    z_star: np.ndarray
    fit: PowerLawFit | None
    fit_corrected: PowerLawFit | None
    used: np.ndarray
    paths: list
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"dims": self.dims.tolist(), "n_classes": self.n_classes.tolist(),
                "n_trials": self.n_trials.tolist(),
                "sup": [s.to_dict() for s in self.sups], "tau_star": self.tau_star.tolist(),
                "z_star": {"real": self.z_star.real.tolist(), "imag": self.z_star.imag.tolist()},
                "fit": None if self.fit is None else self.fit.to_dict(),
                "fit_corrected": None if self.fit_corrected is None
                else self.fit_corrected.to_dict(),
                "used": self.used.tolist(), "seconds": self.seconds,
                "estimator": self.paths[0].estimator if self.paths else None}


def trials_inverse_d(dims: Sequence[int], n_trials: int, *, max_factor: int = 20) -> list[int]:
    """``T(d) = min(max_factor, d_max/d) · n_trials`` (rounded): trials inversely proportional
    to ``d``, ``n_trials`` at the largest ``d``.

    The per-trial noise of the coupled gap estimate falls faster than the gap itself as ``d``
    grows (measured: noise ``∝ d^{−1.6}``, gap ``∝ d^{−1}`` at fixed ``C``), so equal trials
    would leave the small ``d`` under the noise floor and give them a larger upward sup bias;
    ``T ∝ 1/d`` evens the signal-to-noise ratio out at a cost ``∝ d²`` per size (a trial costs
    ``O(d³)``), so the largest ``d`` still dominates the run time.
    """
    ds = [check_int("dims", v, 1) for v in dims]
    T = check_int("n_trials", n_trials, 2)
    f = check_int("max_factor", max_factor, 1)
    dmax = max(ds)
    return [int(round(T * min(f, dmax / d))) for d in ds]


def gap_rate(dims: Sequence[int], ratio: float, n_trials: int | Sequence[int],
             seed: Any = None, *,
             n_classes: int | Callable[[int], int] = 10, grid: Any = (0.0, 0.5, 1.0),
             z: Any = DEFAULT_Z, level: float = 0.95, n_boot: int = 2000,
             progress: bool | None = False, **kwargs: Any) -> GapRate:
    """``sup_{t, z} |E s_t(z) − E s_0(z)|`` on the smooth path for each ``d``, and its rate.

    Dimension ``dims[i]`` uses ``N = round(d/γ)``, child ``i`` of ``SeedSequence(seed)`` and
    ``n_trials`` trials (or ``n_trials[i]``; :func:`trials_inverse_d` evens the signal-to-noise
    ratio out across ``d``, and with it the upward bias of a sup of noisy estimates).

    Parameters
    ----------
    dims : sequence of int, >= 2 values, each >= 2
    ratio : float, > 0
        ``γ = d/N``.
    n_trials : int or sequence of int, each >= 2
        Trials at every ``d``, or one count per ``d``.
    seed : int, SeedSequence or Generator, optional
    n_classes : int or callable ``d -> C``
        Fixed ``C``, or ``C`` growing with ``d`` (e.g. ``lambda d: d // 4``).
    grid : array_like
        ``t`` grid, containing 0.
    z : complex or array of complex
    level : float in (0, 1)
        Level of the bootstrap intervals, the noise quantile and the fit's CI.
    n_boot : int
    progress : bool, optional
    **kwargs
        Passed to :func:`simulate_path` (``sigma``, ``weights``, ``scale``, ``estimator``,
        ``backend``, ``dtype``, ...).

    Returns
    -------
    GapRate
    """
    import time  # noqa: PLC0415

    ds = [check_int("dims", v, 2) for v in np.atleast_1d(np.asarray(dims)).tolist()]
    if len(set(ds)) < 2:
        raise ValueError(f"dims must hold at least two distinct values, got {ds}")
    g = check_real("ratio", ratio, 0.0, strict_min=True)
    if np.ndim(n_trials) == 0:
        Ts = [check_int("n_trials", n_trials, 2)] * len(ds)
    else:
        Ts = [check_int("n_trials", v, 2) for v in np.asarray(n_trials).ravel().tolist()]
        if len(Ts) != len(ds):
            raise ValueError(f"n_trials must be an int or hold one count per d ({len(ds)}), "
                             f"got {len(Ts)}")
    level = check_probability("level", level)
    if "path" in kwargs and kwargs["path"] != "smooth":
        raise ValueError("gap_rate measures the smooth path; path must be 'smooth'")
    kwargs.pop("path", None)
    t0 = time.perf_counter()
    seeds = bk.spawn_seeds(seed, len(ds))
    sups, taus, zs, paths, Cs = [], [], [], [], []
    for d, T, ss in zip(ds, Ts, seeds):
        C = int(n_classes(d)) if callable(n_classes) else int(n_classes)
        C = check_int("n_classes", C, 2)
        N = max(1, int(round(d / g)))
        res = simulate_path(d, N, T, ss, path="smooth", grid=grid, z=z, n_classes=C,
                            progress=progress, **kwargs)
        sg, ts, zst = res.sup_gap(level, n_boot=n_boot, seed=side_seed(ss, "bootstrap"))
        sups.append(sg)
        taus.append(ts)
        zs.append(zst)
        paths.append(res)
        Cs.append(C)
    used = np.array([s.above_floor for s in sups])
    fit = fit_c = None
    if used.sum() >= 2 and len({d for d, u in zip(ds, used) if u}) >= 2:
        x = np.array(ds, float)[used]
        y = np.array([s.value for s in sups])[used]
        e = np.array([max(s.stderr, 1e-300) for s in sups])[used]
        fit = fit_power_law(x, y, e, level)
        yc = y - np.array([s.bias for s in sups])[used]
        if np.all(yc > 0):
            fit_c = fit_power_law(x, yc, e, level)
    return GapRate(dims=np.array(ds), n_classes=np.array(Cs), n_trials=np.array(Ts), sups=sups,
                   tau_star=np.array(taus), z_star=np.array(zs), fit=fit, fit_corrected=fit_c,
                   used=used, paths=paths, seconds=time.perf_counter() - t0)
