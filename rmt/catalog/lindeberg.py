"""Claims of the Lindeberg step: the first moment along the path and the gap's rate.

(That the paths' end points are the independent- and dependent-weight covariances of
:func:`rmt.covariance.draw_covariance` holds by construction — ``t = 1`` uses ``X`` itself —
so it is a test, ``tests/test_claims_catalog.py``, not a claim.)

* ``lindeberg-first-moment-linear`` (Monte Carlo): ``E m₁(t)`` is linear in ``t`` (Mehler), so
  the fraction of the first-moment gap reached at ``t = ½`` is exactly ``½``.
* ``lindeberg-smooth-gap-rate`` (Monte Carlo, a bound): at fixed ``C``,
  ``sup_{t, z} |E s_t(z) − E s_0(z)|`` vanishes at least as fast as ``d^{−1}`` (the rank-``2C``
  coupling bound ``2C/(d Im z)``), hence faster than the paper's ``O(1/√N) = O(d^{−1/2})``.
  A bound is not an equality, so the verdict rule is one-sided (:class:`rmt.claims.ExponentAtMost`),
  with the paper's ``d^{−1/2}`` as the rival it must reject.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import numpy as np

from .. import backend as bk
from ..claims import Claim, Estimate, ExponentAtMost, Rival, WithinCI, derived, register
from ..lindeberg import DEFAULT_Z, draw_lindeberg, gap_rate, trials_inverse_d
from ..montecarlo import trial_seed
from ..stats import critical_value, mean_estimate

__all__: list[str] = []


def _one_blas_thread(estimate: Any) -> Any:
    """Run an estimator with one host BLAS thread: it does many small eigensolves, where
    threads gain nothing and oversubscription on a shared machine cost 10× (limit_blas_threads)."""

    @functools.wraps(estimate)
    def wrapped(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
        with bk.limit_blas_threads(1):
            return estimate(params, seed, backend)

    return wrapped


# --------------------------------------------------------------------------------------------
# lindeberg-first-moment-linear
# --------------------------------------------------------------------------------------------

def _midpoint_prediction(params: Mapping[str, Any]) -> float:
    return float(derived("lindeberg.moments_polynomial")["first_moment_midpoint_fraction"])


@_one_blas_thread
def _first_moment_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    """Per trial ``a(t) = (1/N) Σ_n w_n(t)(‖P x_n‖² − rank V)`` at ``t = 0, ½, 1``.

    ``d·m₁(t) = (1/N) Σ w_n(t)‖x_n‖²`` splits into this term (plus the constant ``rank V·mean
    w(t)``, whose expectation does not depend on ``t``) and ``(1/N) Σ w_n(t)‖P⊥x_n‖²``, whose
    expectation ``E w · (d − rank V)`` does not depend on ``t`` either (``P⊥x_n`` is independent
    of ``w_n(t)``, whose law is fixed). So ``E a(t) − E a(0) = d (E m₁(t) − E m₁(0))`` exactly,
    with far less variance than ``m₁`` itself.
    """
    d, N, T = params["dim"], params["n_samples"], params["n_trials"]
    ts = (0.0, 0.5, 1.0)
    rows = []
    xp = bk.xp_for(backend)
    for i in range(T):
        draw = draw_lindeberg(d, N, trial_seed(seed, i), n_classes=params["n_classes"],
                              sigma=params["sigma"], weights=params["weights"],
                              scale=params["scale"], backend=backend, coupled=False)
        Q = draw.row_space()
        XP = draw.X @ Q if Q is not None else draw.X
        centred = xp.sum(XP * XP, axis=1) - draw.rank
        rows.append([float(bk.to_numpy(xp.mean(draw.smooth_weights(t) * centred))) for t in ts])
    a = np.array(rows)
    half, one = a[:, 1] - a[:, 0], a[:, 2] - a[:, 0]
    mh, mo = half.mean(), one.mean()
    ratio = mh / mo
    # Delta method for a ratio of means: Var(R̂) ≈ Var(half − R·one)/(T·mean(one)²); the ratio's
    # bias is O(1/T) relative, below 1/√T standard errors at these T.
    resid = half - ratio * one
    se = float(mean_estimate(resid).stderr / abs(mo))
    gap = mean_estimate(a - a[:, :1])
    return Estimate(float(ratio), se, T, dof=T - 1,
                    extra={"t": list(ts), "gap_mean": gap.value, "gap_stderr": gap.stderr,
                           "denominator_mean": mo,
                           "denominator_stderr": float(mean_estimate(one).stderr)})


def _first_moment_figure(ax: Any, result: Mapping[str, Any]) -> Any:
    from .. import figures as F

    ex = result["extra"]
    t = np.asarray(ex["t"], float)
    m = np.asarray(ex["gap_mean"], float)
    se = np.asarray(ex["gap_stderr"], float)
    level = result["ci_level"]
    q = critical_value(level)  # normal band at the claim's level (T is large)
    n = result["n_trials"]
    F.lindeberg_path(ax, t, m, m - q * se, m + q * se,
                     label=f"measured ({100 * level:g}% CI, {n} seeds)",
                     ylabel=r"$d\,(E\,m_1(t) - E\,m_1(0))$")
    tt = np.linspace(0, 1, 50)
    with F.style():
        ax.plot(tt, tt * m[-1], color=F.OKABE_ITO["vermillion"], ls=(0, (4, 3)), lw=1.3,
                zorder=4, label=r"linear in $t$ (Mehler, the claim)")
        ax.plot(tt, tt ** 2 * m[-1], color="0.35", ls=":", lw=1.0,
                label=r"rival: quadratic in $t$")
        ax.plot(tt, np.sqrt(tt) * m[-1], color="0.35", ls="-.", lw=1.0,
                label=r"rival: linear in $\sqrt{t}$")
        ax.legend(loc="best", fontsize=6.5)
    return ax


register(Claim(
    id="lindeberg-first-moment-linear",
    statement="Along the smooth Lindeberg path the expected first spectral moment "
              "E (1/d) tr B_t is linear in t (Mehler: E[x xᵀ | y] = t y yᵀ + (1 − t) I), so the "
              "fraction of its gap reached at t = 1/2 is exactly 1/2 (C·H_ii weights).",
    latex=r"$\frac{E m_1(1/2) - E m_1(0)}{E m_1(1) - E m_1(0)} = \frac{1}{2}$",
    proof="lindeberg.moments_polynomial",
    predict=_midpoint_prediction,
    estimate=_first_moment_estimate,
    # rel_precision 0.2 (half-width ≤ 0.1 at 99%) separates 1/2 from the midpoint fractions of
    # the nearest alternatives: t² (1/4) and √t = the correlation (0.71).
    rule=WithinCI(level=0.99, rel_precision=0.2),
    rivals=(Rival("quadratic in t", lambda p: 0.25,
                  note="a moment that moved with the squared correlation t² (e.g. a second-order "
                       "Lindeberg term) would reach (1/2)² = 1/4 of its gap at t = 1/2"),
            Rival("linear in √t", lambda p: math.sqrt(0.5),
                  note="a moment that moved with the correlation √t of the interpolated data "
                       "would reach √(1/2) ≈ 0.71 of its gap at t = 1/2")),
    scales={"quick": {"dim": 50, "n_samples": 100, "n_classes": 10, "sigma": 1.0,
                      "weights": "diag", "scale": "C", "n_trials": 2000},
            "paper": {"dim": 200, "n_samples": 400, "n_classes": 10, "sigma": 1.0,
                      "weights": "diag", "scale": "C", "n_trials": 8000}},
    quantity="(E m₁(½) − E m₁(0)) / (E m₁(1) − E m₁(0)) on the smooth path",
    figure=_first_moment_figure,
))


# --------------------------------------------------------------------------------------------
# lindeberg-smooth-gap-rate
# --------------------------------------------------------------------------------------------

def _rate_prediction(params: Mapping[str, Any]) -> float:
    return float(derived("lindeberg.rank_bound")["exponent_fixed_C"])


@_one_blas_thread
def _rate_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    z = [complex(a, b) for a, b in params.get("z", [(w.real, w.imag) for w in DEFAULT_Z])]
    # trials ∝ 1/d, params["n_trials"] at the largest d (rmt.lindeberg.trials_inverse_d)
    trials = trials_inverse_d(params["dims"], params["n_trials"])
    res = gap_rate(params["dims"], params["ratio"], trials, seed,
                   n_classes=params["n_classes"], grid=params["grid"], z=z, level=0.95,
                   sigma=params["sigma"], weights=params["weights"], scale=params["scale"],
                   backend=backend)
    sup = np.array([s.value for s in res.sups])
    extra = {"d": res.dims, "trials": res.n_trials, "sup": sup, "ci_low": [s.ci[0] for s in res.sups],
             "ci_high": [s.ci[1] for s in res.sups], "stderr": [s.stderr for s in res.sups],
             "noise_floor": [s.noise_floor for s in res.sups],
             "noise_quantile": [s.noise_quantile for s in res.sups], "used": res.used,
             "tau_star": res.tau_star, "z_star_real": res.z_star.real,
             "z_star_imag": res.z_star.imag, "estimator": res.paths[0].estimator,
             "fit": None if res.fit is None else res.fit.to_dict()}
    if res.fit is None:
        return Estimate(float("nan"), float("nan"), int(res.used.sum()), extra=extra)
    return res.fit.estimate(extra)   # the interval of rmt.stats.fit_power_law


def _rate_figure(ax: Any, result: Mapping[str, Any]) -> Any:
    """The sup-gap against d (log-log) with its fitted power law, and the two slopes the claim
    weighs — −1 (the rank bound's rate) and −1/2 (the paper's rate, the rival) — drawn through
    the centre of the fit, so that the eye compares slopes, not intercepts."""
    from .. import figures as F

    ex = result["extra"]
    d = np.asarray(ex["d"], float)
    y = np.asarray(ex["sup"], float)
    lo = np.minimum(np.asarray(ex["ci_low"], float), y)
    hi = np.maximum(np.asarray(ex["ci_high"], float), y)
    used = np.asarray(ex["used"], bool)
    level = result["ci_level"]
    b = result["estimate"]
    bounds = result.get("one_sided_bounds") or {}
    grid = np.geomspace(d.min(), d.max(), 50)
    with F.style():
        ax.errorbar(d[used], y[used], yerr=[y[used] - lo[used], hi[used] - y[used]], fmt="o",
                    color=F.OKABE_ITO["blue"], ms=3.5, capsize=2,
                    label="measured (95% bootstrap CI per d)")
        if (~used).any():
            ax.plot(d[~used], y[~used], "o", mfc="none", color=F.OKABE_ITO["blue"], ms=3.5,
                    label="below the noise floor (not fitted)")
        if math.isfinite(b):
            lx = np.log(d[used])
            centre_x = float(np.exp(lx.mean()))
            centre_y = float(np.exp(np.mean(np.log(y[used]))))
            ax.plot(grid, centre_y * (grid / centre_x) ** b, color=F.OKABE_ITO["bluish_green"],
                    lw=1.2, label=(f"fit: exponent {b:.2f}\n({100 * level:g}% one-sided upper "
                                   f"bound {bounds.get('upper', math.nan):.2f})").replace("-", "−"))
            for e, ls, lab in ((-1.0, ":", r"slope $-1$ (rank bound, the claim)"),
                               (-0.5, "--", r"slope $-1/2$ (paper's rate, the rival)")):
                ax.plot(grid, centre_y * (grid / centre_x) ** e, color="0.3", ls=ls, lw=0.9,
                        label=lab)
        ax.plot(d, np.asarray(ex["noise_quantile"], float), color="0.6", ls="-.", lw=0.9,
                marker="x", ms=3, label="noise floor (95% quantile)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(d[::2], [f"{v:g}" for v in d[::2]])
        ax.tick_params(axis="x", which="minor", labelbottom=False)
        ax.set_xlabel(r"input dimension $d$ ($\gamma = d/N$ = 1/2, $C$ fixed)")
        ax.set_ylabel(r"$\sup_{t,z}\,|E\,s_t(z) - E\,s_0(z)|$")
        bottom = float(min(np.min(lo[lo > 0]), np.min(ex["noise_quantile"])))
        ax.set_ylim(bottom / 1.5, float(hi.max()) * 6)     # the top holds the legend
        ax.legend(loc="upper right", fontsize=5.5)
    return ax


register(Claim(
    id="lindeberg-smooth-gap-rate",
    statement="At fixed C the gap sup_{t,z} |E s_t(z) − E s_0(z)| of the smooth Lindeberg path "
              "(C·H_ii weights, γ = 1/2) vanishes at least as fast as d^(−1) — the rank-2C "
              "coupling bound 2C/(d Im z) — hence faster than the paper's O(1/√N) = O(d^(−1/2)).",
    latex=r"$\sup_{t,z}|E s_t(z) - E s_0(z)| = O(d^{-1})$ at fixed $C$",
    proof="lindeberg.rank_bound",
    predict=_rate_prediction,
    estimate=_rate_estimate,
    # One-sided at 95%: fails when the lower bound of the exponent exceeds −1. The paper's
    # d^(−1/2) is a rival, rejected when the upper bound is below −1/2. abs_precision 0.25 (the
    # bound counts as attained when −1 is inside an interval of half-width ≤ 0.25) is kept from
    # before the rival was declared; the rival now carries the separation from −1/2.
    rule=ExponentAtMost(level=0.95, abs_precision=0.25),
    rivals=(Rival("paper's O(1/√N) rate",
                  lambda p: float(derived("lindeberg.rank_bound")["paper_exponent"]),
                  proof="lindeberg.rank_bound",
                  note="the rate the paper states for the Lindeberg step; at fixed C and "
                       "γ = d/N it is d^(−1/2), weaker than the rank-2C bound's d^(−1)"),),
    scales={"quick": {"dims": [40, 57, 80, 113, 160, 226, 320], "ratio": 0.5, "n_classes": 10,
                      "sigma": 1.0,
                      "weights": "diag", "scale": "C", "n_trials": 48, "grid": [0.0, 0.5, 1.0]},
            "paper": {"dims": [100, 178, 316, 562, 1000], "ratio": 0.5, "n_classes": 10,
                      "sigma": 1.0, "weights": "diag", "scale": "C", "n_trials": 64,
                      "grid": [0.0, 0.25, 0.5, 0.75, 1.0]},
            "llm": {"dims": [256, 512, 1024, 2048, 4096, 8192], "ratio": 0.5, "n_classes": 10,
                    "sigma": 1.0, "weights": "diag", "scale": "C", "n_trials": 64,
                    "grid": [0.0, 0.5, 1.0]}},
    quantity="fitted exponent of sup_{t,z}|E s_t − E s_0| against d (fixed C, γ)",
    figure=_rate_figure,
))
