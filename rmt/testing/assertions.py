"""Statistical assertions for property tests: spectra against laws, estimates against
predictions, fitted rates against exponents.

Each assertion tests a stated null hypothesis at a stated ``level`` (the probability of failing
when the statement is true) and, when it fails, raises :class:`StatisticalAssertionError`
(an ``AssertionError``, so pytest reports it as a test failure) whose message gives the numbers,
the bound, and how the bound was derived. On success each returns the computed statistics, so
a test can also log or check them.

Levels and repeated tests: a property test runs an assertion on many generated examples, so the
chance that *some* example fails a true statement is up to ``max_examples × level``. Pick
``level`` with that in mind (e.g. 20 examples at ``level=1e-3`` fail a true statement with
probability below 2%), or use a conservative assertion such as :func:`assert_spectrum_matches`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..backend import to_numpy
from ..stats import (PowerLawFit, critical_value, dkw_bound, fit_power_law, ks_detail,
                     real_sample, wasserstein1)
from ..validation import check_probability, check_real

__all__ = [
    "StatisticalAssertionError",
    "SpectrumComparison",
    "RateFit",
    "ks_bound",
    "spectrum_distance",
    "assert_spectrum_matches",
    "assert_close_to_prediction",
    "assert_rate",
]

#: The fit :func:`assert_rate` returns: :class:`rmt.stats.PowerLawFit` (re-exported).
RateFit = PowerLawFit


class StatisticalAssertionError(AssertionError):
    """A statistical assertion rejected its null hypothesis at the stated level.

    Attributes
    ----------
    statistic : float
        The test statistic (KS distance, ``|z|``, or the slope's distance in standard errors).
    bound : float
        The critical value it exceeded.
    level : float
        The test's level (probability of this error when the statement is true).
    details : dict
        Every number quoted in the message.
    """

    def __init__(self, message: str, *, statistic: float, bound: float, level: float,
                 details: dict | None = None) -> None:
        super().__init__(message)
        self.statistic = statistic
        self.bound = bound
        self.level = level
        self.details = dict(details or {})


def _level(level: Any) -> float:
    return check_probability("level", level)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


# ----------------------------------------------------------------------------------------------
# spectra against laws
# ----------------------------------------------------------------------------------------------

def ks_bound(n: int, level: float) -> float:
    """The DKW–Massart bound ``sqrt(ln(2/level) / (2n))`` (:func:`rmt.stats.dkw_bound`; here
    ``level`` is the test's error probability). Used by :func:`assert_spectrum_matches` as a
    conservative bound for eigenvalues (see there).

    Parameters
    ----------
    n : int, >= 1
    level : float in (0, 1)
    """
    return dkw_bound(n, _level(level))


@dataclass(frozen=True)
class SpectrumComparison:
    """Distances between an empirical spectral distribution and a law.

    Attributes
    ----------
    ks : float
        Kolmogorov–Smirnov distance ``sup_x |F_n(x) − F(x)|``.
    location : float
        Where the supremum is attained.
    ecdf_at, law_cdf_at : float
        ``F_n`` and ``F`` there (one-sided limits where the supremum is a left limit).
    wasserstein1 : float or None
        ``∫ |F_n − F| dx`` (:func:`rmt.stats.wasserstein1`; None when the law's support is
        unknown and unbounded).
    n : int
        Number of eigenvalues.
    bound : float
        The critical KS distance used (NaN from :func:`spectrum_distance`).
    level : float
        The level of the test (NaN from :func:`spectrum_distance`).
    bound_kind : str
        ``"DKW"`` or ``"user"``.
    n_snapped : int
        Eigenvalues within ``zero_tol`` of 0 that were set to exactly 0.
    """

    ks: float
    location: float
    ecdf_at: float
    law_cdf_at: float
    wasserstein1: float | None
    n: int
    bound: float = float("nan")
    level: float = float("nan")
    bound_kind: str = "none"
    n_snapped: int = 0


def spectrum_distance(eigenvalues: Any, law: Any, *, zero_tol: float | None = None,
                      wasserstein: bool = True) -> SpectrumComparison:
    """KS and Wasserstein-1 distances between the empirical distribution of ``eigenvalues`` and
    ``law`` (no test; see :func:`assert_spectrum_matches`).

    The KS supremum is taken over both one-sided limits at every distinct eigenvalue, so laws
    with atoms (Marchenko–Pastur with ``γ > 1`` has an atom ``1 − 1/γ`` at 0) are handled
    exactly, provided the numerically zero eigenvalues are snapped to 0 (``zero_tol``).

    Parameters
    ----------
    eigenvalues : array_like, 1-D, real, finite
        NumPy or CuPy.
    law : object with ``cdf(x)`` (vectorised), optionally ``support()`` and ``ppf``
    zero_tol : float >= 0, optional
        Eigenvalues with ``|λ| <= zero_tol`` are set to 0. Default ``16 · n · eps · max|λ|``, a
        multiple of the backward error of a symmetric eigensolver, far below the smallest
        nonzero eigenvalue of a sample covariance in the proportional regime
        (``≈ (1 − γ^{-1/2})² γ`` away from ``γ = 1``, ``O(n^{-2})`` at ``γ = 1``).
    wasserstein : bool
        Also compute the Wasserstein-1 distance.

    Returns
    -------
    SpectrumComparison
    """
    det = ks_detail(real_sample("eigenvalues", eigenvalues), law, zero_tol=zero_tol)
    w1 = None
    if wasserstein:
        try:
            w1 = wasserstein1(eigenvalues, law, zero_tol=zero_tol)
        except ValueError:  # the law's support is unknown and unbounded: no W1
            w1 = None
    return SpectrumComparison(det.statistic, det.location, det.ecdf_at, det.cdf_at, w1, det.n,
                              n_snapped=det.n_snapped)


def assert_spectrum_matches(eigenvalues: Any, law: Any, level: float = 0.01, *,
                            tolerance: float | None = None, zero_tol: float | None = None,
                            label: str | None = None) -> SpectrumComparison:
    """Assert that the empirical spectral distribution of ``eigenvalues`` matches ``law``.

    Null hypothesis: the eigenvalues are a spectrum whose limiting law is ``law``. The
    statistic is the Kolmogorov–Smirnov distance ``D = sup_x |F_n(x) − F(x)|`` between the
    empirical spectral distribution (ESD) ``F_n`` of the ``n`` eigenvalues and ``law.cdf``; the
    assertion fails when ``D > ε``.

    **The bound.** By default ``ε = sqrt(ln(2/level) / (2n))``, the Dvoretzky–Kiefer–Wolfowitz
    inequality with Massart's constant: for ``n`` *iid* draws from ``F``,
    ``P(D > ε) <= level``. Eigenvalues are not iid, and the bound is used because it is
    *conservative* for them: the ESD of a Wigner or sample-covariance matrix is far more rigid
    than an iid sample. In the bulk each eigenvalue sits within ``O(n^{-1+δ})`` of its
    classical location (and ``O(n^{-2/3})`` at a soft edge, where the law's CDF moves by only
    ``O(1/n)`` over that distance), so ``D = O(log n / n)`` with overwhelming probability,
    against ``ε ≍ n^{-1/2}``. The deterministic finite-size bias of the expected ESD is also
    ``O(1/n)`` for data with a finite fourth moment. Both are far below ``ε`` once
    ``n ≳ 10``, so the observed false-failure rate is much smaller than ``level`` (the suite's
    tests measure it: no failures of true statements in hundreds of seeds; see
    ``tests/test_testing_toolkit.py``). The price is power: a wrong law is detected only when
    it differs from the right one by more than ``ε`` in KS distance (e.g. ``ε = 0.115`` at
    ``n = 200``, ``level = 0.01``). A sharper, ``O(1/n)`` bound would need constants that depend
    on the law and the data distribution, so it is left to the caller through ``tolerance``.

    Parameters
    ----------
    eigenvalues : array_like, 1-D, real, finite
        All ``n`` eigenvalues of the matrix (NumPy or CuPy); for a ``d × d`` sample covariance
        with ``d > N`` include the ``d − N`` zeros and compare with a law that has the atom.
    law : object with a vectorised ``cdf`` (e.g. ``rmt.laws.MarchenkoPastur``)
        ``support()`` and ``ppf`` are used, when present, for the Wasserstein-1 distance
        reported in the message.
    level : float in (0, 1)
        Bound on the probability of failing when the statement is true (for iid samples
        exactly, for spectra conservatively).
    tolerance : float > 0, optional
        A critical KS distance derived by the caller; replaces the DKW bound (the message says
        so).
    zero_tol : float >= 0, optional
        See :func:`spectrum_distance`.
    label : str, optional
        What is being compared, put first in the message.

    Returns
    -------
    SpectrumComparison
        The distances, the bound and the level, when the assertion passes.

    Raises
    ------
    StatisticalAssertionError
        If ``D > ε``; the message gives ``D``, where it is attained, ``ε`` and its derivation,
        and the Wasserstein-1 distance.
    ValueError
        For invalid arguments (``level`` outside (0, 1), non-1-D or non-finite eigenvalues, a
        law without ``cdf``).
    """
    level = _level(level)
    cmp_ = spectrum_distance(eigenvalues, law, zero_tol=zero_tol)
    n = cmp_.n
    if tolerance is None:
        eps_ = ks_bound(n, level)
        kind = "DKW"
        how = (f"DKW–Massart bound ε = sqrt(ln(2/level)/(2n)) = sqrt(ln({2 / level:.6g})/"
               f"{2 * n}) = {eps_:.4g}: exact for n iid samples, conservative for eigenvalues, "
               f"whose empirical distribution fluctuates by O(log n/n) in the bulk "
               f"(eigenvalue rigidity) rather than O(1/sqrt(n))")
    else:
        eps_ = check_real("tolerance", tolerance, 0.0, strict_min=True)
        kind = "user"
        how = f"critical distance ε = {eps_:.4g} supplied by the caller (tolerance=)"
    result = SpectrumComparison(cmp_.ks, cmp_.location, cmp_.ecdf_at, cmp_.law_cdf_at,
                                cmp_.wasserstein1, n, eps_, level, kind, cmp_.n_snapped)
    if cmp_.ks > eps_:
        w1 = ("not computed (law support unknown)" if cmp_.wasserstein1 is None
              else f"{cmp_.wasserstein1:.4g}")
        head = f"{label}: " if label else ""
        msg = (f"{head}spectrum does not match {law!r} at level {level:g}: Kolmogorov–Smirnov "
               f"distance D = {cmp_.ks:.4g} > ε = {eps_:.4g} for n = {n} eigenvalues "
               f"(D/ε = {cmp_.ks / eps_:.3g}). Largest gap at λ = {cmp_.location:.6g}: "
               f"empirical CDF {cmp_.ecdf_at:.4g} vs law CDF {cmp_.law_cdf_at:.4g}. "
               f"Bound: {how}. Eigenvalue range [{_fmt(float(np.min(to_numpy(eigenvalues))))}, "
               f"{_fmt(float(np.max(to_numpy(eigenvalues))))}]; Wasserstein-1 distance "
               f"(for information) {w1}.")
        raise StatisticalAssertionError(msg, statistic=cmp_.ks, bound=eps_, level=level,
                                        details=result.__dict__.copy())
    return result


# ----------------------------------------------------------------------------------------------
# an estimate against a prediction
# ----------------------------------------------------------------------------------------------

def assert_close_to_prediction(estimate: Any, stderr: Any, prediction: Any,
                               level: float = 0.01, *, df: float | None = None,
                               tolerance: float = 0.0, label: str | None = None) -> np.ndarray:
    """Assert that a Monte Carlo estimate agrees with a prediction (two-sided z- or t-test).

    Null hypothesis: ``E[estimate] = prediction`` and ``stderr`` is the estimate's standard
    error. The statistic is ``z = (estimate − prediction) / stderr``; the assertion fails when
    ``|z| > q``, with ``q = Φ⁻¹(1 − level/2)`` (normal; valid when the estimate is a mean of
    many independent trials) or the Student-t quantile with ``df`` degrees of freedom (a mean
    of ``T`` trials with the standard error estimated from them: ``df = T − 1``).

    Arrays broadcast against each other; ``k > 1`` comparisons are tested jointly with the
    Bonferroni correction (each at ``level / k``), so the chance that any of them fails when all
    predictions are true is at most ``level``.

    Parameters
    ----------
    estimate, stderr, prediction : float or array_like (broadcastable)
        ``stderr > 0``.
    level : float in (0, 1)
        Probability of failing when the statement is true.
    df : float > 0, optional
        Degrees of freedom of a Student-t critical value (default: normal).
    tolerance : float >= 0
        A deterministic bias the statement allows (e.g. a derived finite-size correction
        bound): the statistic becomes ``max(|estimate − prediction| − tolerance, 0) / stderr``.
    label : str, optional
        What is being compared, put first in the message.

    Returns
    -------
    ndarray
        The z-scores ``(estimate − prediction) / stderr`` (0-d for scalar input).

    Raises
    ------
    StatisticalAssertionError
        If some ``|z|`` exceeds the critical value; the message gives the estimate, its standard
        error, the prediction, ``z`` and the critical value and how it was obtained.
    ValueError
        For invalid arguments.
    """
    level = _level(level)
    arrays = []
    for name, a in (("estimate", estimate), ("stderr", stderr), ("prediction", prediction)):
        arr = to_numpy(a)
        if np.iscomplexobj(arr):
            raise ValueError(f"{name} must be real")
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a real number or array of real numbers") from None
        if arr.size == 0:
            raise ValueError(f"{name} must not be empty")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain only finite values (found NaN or infinity)")
        arrays.append(arr)
    est, se, pred = arrays
    if np.any(se <= 0):
        raise ValueError(f"stderr must be > 0, got min {float(np.min(se)):g}")
    try:
        est, se, pred = np.broadcast_arrays(est, se, pred)
    except ValueError:
        raise ValueError(f"estimate, stderr and prediction must broadcast together, got shapes "
                         f"{arrays[0].shape}, {arrays[1].shape}, {arrays[2].shape}") from None
    if df is not None:
        df = check_real("df", df, 0.0, strict_min=True)
    tol = check_real("tolerance", tolerance, 0.0)
    k = est.size
    per = level / k
    if df is None:
        crit = critical_value(1.0 - per)
        how = f"Φ⁻¹(1 − {per:.4g}/2) (two-sided normal test"
    else:
        crit = critical_value(1.0 - per, df)
        how = f"the t quantile t_{{{df:g}}}(1 − {per:.4g}/2) (two-sided Student-t test"
    how += f", Bonferroni over {k} comparisons at family level {level:g})" if k > 1 else \
        f" at level {level:g})"
    z = (est - pred) / se
    stat = np.maximum(np.abs(est - pred) - tol, 0.0) / se
    bad = stat > crit
    if np.any(bad):
        worst = np.unravel_index(int(np.argmax(stat)), stat.shape)
        where = "" if k == 1 else f" (worst of {int(bad.sum())} failing of {k}, at index " \
                                  f"{tuple(int(i) for i in worst)})"
        tol_txt = (f", allowing a bias of ±{tol:.4g}: statistic (|estimate − prediction| − "
                   f"tolerance)/SE = {stat[worst]:.4g}") if tol > 0 else ""
        head = f"{label}: " if label else ""
        msg = (f"{head}estimate {_fmt(est[worst])} ± {se[worst]:.4g} (SE) disagrees with the "
               f"prediction {_fmt(pred[worst])}{where}: difference {est[worst] - pred[worst]:.4g}"
               f", z = {z[worst]:.4g}{tol_txt}; |z| exceeds the critical value {crit:.4g} = "
               f"{how}.")
        raise StatisticalAssertionError(msg, statistic=float(stat[worst]), bound=crit,
                                        level=level,
                                        details={"estimate": est, "stderr": se,
                                                 "prediction": pred, "z": z, "critical": crit})
    return z


# ----------------------------------------------------------------------------------------------
# a fitted rate against an exponent
# ----------------------------------------------------------------------------------------------

def assert_rate(xs: Any, ys: Any, exponent: float, level: float = 0.01, *, yerr: Any = None,
                tolerance: float = 0.0, label: str | None = None) -> RateFit:
    """Assert that ``ys`` scales like ``xs ** exponent``: the confidence interval of the
    log-log slope contains ``exponent``.

    Model: ``ln y_i = ln a + b ln x_i + e_i``; null hypothesis ``b = exponent``. The fit and
    its interval are :func:`rmt.stats.fit_power_law` at confidence ``1 − level`` (the one
    interval rule of rmt):

    * Without ``yerr``: ordinary least squares, ``e_i`` iid ``N(0, s²)`` with ``s`` estimated from
      the residuals; the CI is ``b̂ ± t_{n−2}(1 − level/2) · SE(b̂)``, exact under the model
      (needs ``n >= 3``).
    * With ``yerr`` (standard errors of ``y``, e.g. Monte Carlo): weighted least squares with
      ``sd(ln y_i) ≈ yerr_i / y_i`` (delta method; accurate when ``yerr ≪ y``), weights
      ``(y_i / yerr_i)²``; the standard error is inflated by the Birge ratio ``√(χ²/dof)`` when
      the points scatter more than ``yerr`` allows, and the quantile is ``t_{n−2}``: a
      conservative test (false-failure rate at most ``level``) when ``yerr`` is right, and still
      valid when the power law is not exact at these sizes (normal quantile with 2 points).

    Parameters
    ----------
    xs, ys : array_like, 1-D, positive, finite, same length
        At least two distinct ``xs``.
    exponent : float
        The claimed exponent ``b``.
    level : float in (0, 1)
        Probability of failing when the statement (and the model) is true.
    yerr : array_like, positive, same length as ``ys``, optional
    tolerance : float >= 0
        A deterministic bias of the exponent that the statement allows (e.g. the drift of the
        local slope from a derived or measured finite-size correction): the assertion fails
        only when ``|b̂ − exponent| − tolerance`` exceeds the CI half-width.
    label : str, optional
        What is being fitted, put first in the message.

    Returns
    -------
    RateFit

    Raises
    ------
    StatisticalAssertionError
        If ``exponent`` is outside the CI; the message gives the fitted slope, its standard
        error, the CI, the critical value and how it was obtained, and the points.
    ValueError
        For invalid arguments (non-positive values, mismatched lengths, too few points).
    """
    level = _level(level)
    exponent = check_real("exponent", exponent)
    x = real_sample("xs", xs)
    y = real_sample("ys", ys)
    if x.size != y.size:
        raise ValueError(f"xs and ys must have the same length, got {x.size} and {y.size}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("xs and ys must be > 0 (they are fitted on log-log axes), got "
                         f"min xs {float(x.min()):g}, min ys {float(y.min()):g}")
    if np.unique(x).size < 2:
        raise ValueError("xs must contain at least two distinct values")
    e = None
    if yerr is None:
        if x.size < 3:
            raise ValueError(f"xs and ys must have at least 3 points without yerr (the residual "
                             f"variance has n − 2 degrees of freedom), got {x.size}")
    else:
        e = real_sample("yerr", yerr)
        if e.size != y.size:
            raise ValueError(f"yerr must have the same length as ys ({y.size}), got {e.size}")
        if np.any(e <= 0):
            raise ValueError(f"yerr must be > 0, got min {float(e.min()):g}")
    tol = check_real("tolerance", tolerance, 0.0)
    fit = fit_power_law(x, y, e, 1.0 - level)
    lo, hi = fit.ci
    if not (lo - tol <= exponent <= hi + tol):
        t_stat = max(abs(fit.slope - exponent) - tol, 0.0) / fit.stderr
        head = f"{label}: " if label else ""
        quant = (f"Φ⁻¹(1 − {level:g}/2)" if fit.method.endswith("normal")
                 else f"t_{fit.dof}(1 − {level:g}/2)")
        if e is None:
            how = (f"OLS on (ln x, ln y), SE from the residual sd {fit.residual_sd:.4g} with "
                   f"{fit.dof} degrees of freedom, critical value {quant} = {fit.critical:.4g}")
        else:
            p = float(stats.chi2.sf(fit.chi2, fit.dof)) if fit.dof > 0 else float("nan")
            how = (f"WLS on (ln x, ln y) with sd(ln y) = yerr/y, χ²/dof = {fit.chi2:.4g}/"
                   f"{fit.dof} (p = {p:.3g}), {fit.method}, critical value {quant} = "
                   f"{fit.critical:.4g}")
            if fit.dof > 0 and p < level:
                how += (": the points scatter more than yerr allows (the power law is not exact "
                        "at these sizes), so the standard error was inflated by the Birge ratio "
                        f"{fit.residual_sd:.3g}")
        pts = ""
        if x.size <= 12:
            pts = (" Points: " + ", ".join(f"({_fmt(a)}, {_fmt(b)})" for a, b in zip(x, y)) + ".")
        tol_txt = (f", even widened by the allowed bias ±{tol:.4g} to [{lo - tol:.4g}, "
                   f"{hi + tol:.4g}]") if tol > 0 else ""
        msg = (f"{head}fitted exponent {fit.slope:.4g} ± {fit.stderr:.3g} (SE); its "
               f"{100 * (1 - level):g}% CI [{lo:.4g}, {hi:.4g}]{tol_txt} does not contain the "
               f"claimed exponent {exponent:g} ({t_stat:.3g} SE away). Fit: {how}; "
               f"n = {fit.n} points, x in [{_fmt(float(x.min()))}, {_fmt(float(x.max()))}].{pts}")
        raise StatisticalAssertionError(msg, statistic=t_stat, bound=fit.critical, level=level,
                                        details=fit.to_dict())
    return fit
