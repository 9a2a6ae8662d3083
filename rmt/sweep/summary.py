"""Summaries of a sweep's results over its seeds, and log-log slopes along a swept parameter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from rmt.validation import check_int, check_probability

from .grid import SEED_DIM

__all__ = ["summarise_seeds", "fit_slope"]

#: The suffixes :func:`summarise_seeds` adds, and what each one is.
SUMMARY = {"mean": "mean over seeds", "se": "standard error of the mean",
           "ci_low": "{level:.0%} Student-t interval, low end",
           "ci_high": "{level:.0%} Student-t interval, high end"}


def summarise_seeds(ds: Any, names: Iterable[str], *, level: float = 0.95,
                    dim: str = SEED_DIM) -> Any:
    """Add ``<name>_mean``, ``_se``, ``_ci_low`` and ``_ci_high`` over the ``dim`` axis of
    each variable of the Dataset ``ds`` (in place; ``ds`` is returned).

    The mean over ``n`` seeds, its standard error ``s/√n`` (``ddof = 1``) and the Student-t
    interval with ``n − 1`` degrees of freedom. A position where some seed is NaN (a statistic
    not defined there, e.g. no sampled pairs) is NaN in every summary.
    """
    from rmt.stats import mean_estimate  # noqa: PLC0415

    level = check_probability("level", level)
    for name in names:
        var = ds[name]
        axis = var.dims.index(dim)
        check_int(f"seeds of {name}", var.shape[axis], 2)
        a = np.asarray(var.values, dtype=np.float64)
        defined = np.all(np.isfinite(a), axis=axis)
        est = mean_estimate(np.where(np.isfinite(a), a, 0.0), axis)  # NaN positions masked below
        lo, hi = est.ci(level)
        dims = tuple(d for d in var.dims if d != dim)
        what = var.attrs.get("long_name", name)
        for key, v in zip(SUMMARY, (est.value, est.stderr, lo, hi)):
            ds[f"{name}_{key}"] = (dims, np.where(defined, v, np.nan),
                                   {"long_name": f"{what}: {SUMMARY[key].format(level=level)}"})
    return ds


def fit_slope(x: Any, mean: Any, se: Any, prediction: Any = None, *, x_min: float,
              level: float = 0.95, min_points: int = 3, x_name: str = "x"
              ) -> dict[str, Any] | None:
    """Log-log slope of ``mean`` against ``x`` over ``x >= x_min`` (:func:`rmt.stats.fit_power_law`
    weighted by ``se``), and the slope of ``prediction`` at the same points with the same
    relative errors.

    Points with a non-finite or non-positive mean or SE are left out; with fewer than
    ``min_points`` above ``x_min`` the largest ``min_points`` are fitted (and the rule says so);
    None when there are not that many at all. The prediction's slope over the same range is the
    honest expected value of the measured one (a finite-size correction tilts both alike).

    Returns
    -------
    dict or None
        ``slope``, ``stderr``, ``ci``, ``chi2_per_dof``, ``<x_name>_range``, ``n_points``,
        ``range_rule`` (in words, naming ``x_name``) and, when a prediction is given and positive there, ``prediction_slope``.
    """
    from rmt.stats import fit_power_law  # noqa: PLC0415

    x, mean, se = (np.asarray(v, dtype=np.float64) for v in (x, mean, se))
    ok = np.isfinite(mean) & (mean > 0) & np.isfinite(se) & (se > 0)
    idx = np.flatnonzero(ok & (x >= x_min))
    rule = f"{x_name} >= {x_min:g}"
    if idx.size < min_points:
        idx = np.flatnonzero(ok)[-min_points:]
        rule = f"the largest {min_points} {x_name} (too few >= {x_min:g})"
    if idx.size < min_points:
        return None
    f = fit_power_law(x[idx], mean[idx], se[idx], level=level)
    out = {"slope": f.slope, "stderr": f.stderr, "ci": [f.ci_low, f.ci_high],
           "chi2_per_dof": f.chi2_per_dof, "method": f.method, f"{x_name}_range": list(f.x_range),
           "n_points": f.n_points, "range_rule": rule}
    if prediction is not None:
        p = np.asarray(prediction, dtype=np.float64)[idx]
        if np.all(np.isfinite(p)) and np.all(p > 0):
            out["prediction_slope"] = fit_power_law(x[idx], p, p * (se[idx] / mean[idx])).slope
    return out
