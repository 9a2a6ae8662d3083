"""The statistics core: estimates and their intervals, power-law fits, distances between laws.

Every interval, slope fit, Kolmogorov–Smirnov or Wasserstein distance in rmt comes from here, so
that a verdict, a simulation summary and a test assertion all compute the same number the same
way.

Estimates
---------
:class:`Estimate` is a number (or an array of numbers, real or complex) with its standard error,
the number of trials behind it and the degrees of freedom of its interval. Its interval is
``value ± q·stderr`` with ``q`` from :func:`critical_value`: Student's t with ``dof`` degrees of
freedom when the standard error was itself estimated from ``dof + 1`` trials (a mean over seeds:
exact for normal trials and never narrower than the normal interval), the normal quantile when
``dof`` is None (a known or asymptotic standard error). :func:`mean_estimate` builds the estimate
of a mean over trials.

Power laws
----------
:func:`fit_power_law` fits ``ln y = ln a + b ln x`` with one interval rule, stated there.

Distances
---------
:func:`ks_distance` and :func:`wasserstein1` compare a sample (e.g. eigenvalues) with a law or a
second sample; both handle atoms (the Marchenko–Pastur law with ``γ > 1`` has an atom at 0).
:func:`ks_two_sample` compares two samples; :func:`grid_distances` compares two CDFs given as
functions on a grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .backend import to_numpy
from .validation import check_choice, check_int, check_probability, check_real

__all__ = [
    "EPS",
    "CI_METHODS",
    "jsonable",
    "Estimate",
    "critical_value",
    "mean_estimate",
    "PowerLawFit",
    "fit_power_law",
    "KSDistance",
    "dkw_bound",
    "default_zero_tol",
    "snap_zeros",
    "real_sample",
    "ks_detail",
    "ks_distance",
    "ks_two_sample",
    "wasserstein1",
    "grid_distances",
]

#: Unit roundoff of float64 (the one home of this constant in rmt).
EPS = float(np.finfo(np.float64).eps)

#: Interval methods of :meth:`Estimate.ci`: Student t (with ``dof``) or normal.
CI_METHODS = ("t", "normal")


# ---------------------------------------------------------------------------------------------
# critical values and estimates
# ---------------------------------------------------------------------------------------------

def critical_value(level: float, dof: float | None = None, two_sided: bool = True) -> float:
    """The quantile ``q`` of a ``level`` confidence interval ``estimate ± q·SE``.

    Parameters
    ----------
    level : float in (0, 1)
        Confidence level (e.g. 0.99).
    dof : float or None
        Degrees of freedom of a Student-t quantile; None gives the standard normal quantile.
        ``dof <= 0`` (no degrees of freedom left to estimate a variance) gives ``inf``.
    two_sided : bool
        ``True``: the ``(1 + level)/2`` quantile (a two-sided interval); ``False``: the
        ``level`` quantile (a one-sided bound).

    Returns
    -------
    float

    Examples
    --------
    >>> round(critical_value(0.95), 4), round(critical_value(0.95, two_sided=False), 4)
    (1.96, 1.6449)
    >>> round(critical_value(0.99, dof=5), 4)
    4.0321
    """
    from scipy import stats  # noqa: PLC0415 - keep `import rmt` light

    level = check_probability("level", level)
    p = 0.5 + level / 2 if two_sided else level
    if dof is None:
        return float(stats.norm.ppf(p))
    dof = float(dof)
    if math.isnan(dof):
        raise ValueError("dof must be a number or None, got nan")
    if dof <= 0:
        return math.inf
    return float(stats.t.ppf(p, dof))


def _scalar(a: np.ndarray) -> Any:
    """A Python number for a 0-d array, the array otherwise."""
    return a.item() if a.ndim == 0 else a


def jsonable(obj: Any) -> Any:
    """A JSON-ready copy of ``obj``: mappings and sequences recursively, NumPy scalars and
    arrays as Python numbers and lists, complex values as ``{"real": …, "imag": …}``, NaN and
    infinities as None (strict JSON has neither; None reads as "not available").

    Examples
    --------
    >>> jsonable({"a": np.array([1.0, np.nan]), "z": 1 + 2j})
    {'a': [1.0, None], 'z': {'real': 1.0, 'imag': 2.0}}
    """
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, complex) or (hasattr(obj, "dtype") and np.iscomplexobj(obj)):
        a = np.asarray(obj)
        return {"real": jsonable(a.real), "imag": jsonable(a.imag)}
    if hasattr(obj, "tolist"):
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass(frozen=True, eq=False)
class Estimate:
    """A numerical estimate with its standard error: the one estimate type of rmt.

    Attributes
    ----------
    value : float, complex or ndarray
        The estimate: a mean over trials, a fitted exponent, or an exact computation. Arrays
        and complex values are allowed (intervals are then componentwise, real and imaginary
        parts separately).
    stderr : same type as ``value``
        Its standard error (0 for a deterministic computation; ``SE_re + i·SE_im`` for complex
        values).
    n_trials : int
        Number of independent trials (or points in a fit) behind it.
    dof : float or None
        Degrees of freedom of the t quantile of the interval (None: normal quantile).
    extra : dict
        Anything else worth keeping (per-size values, figure data; ``"std"``: the sample standard
        deviation over trials, see :attr:`std`).

    Examples
    --------
    >>> e = Estimate(2.0, 0.1, n_trials=10, dof=9)
    >>> [round(v, 4) for v in e.ci(0.95)]
    [1.7738, 2.2262]
    >>> round(e.bound(0.95, "upper"), 4)
    2.1833
    """

    value: Any
    stderr: Any = 0.0
    n_trials: int = 1
    dof: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> Any:
        """The same number as :attr:`value`, under the name used for a mean over trials."""
        return self.value

    @property
    def std(self) -> Any:
        """Sample standard deviation over trials: ``extra["std"]`` when the producer stored it
        (so it is the number it computed), else ``stderr·√n_trials``."""
        if "std" in self.extra:
            return self.extra["std"]
        return np.asarray(self.stderr) * math.sqrt(self.n_trials)

    def _dof(self, method: str | None) -> float | None:
        if method is None:
            return self.dof
        method = check_choice("method", method, CI_METHODS)
        if method == "normal":
            return None
        return self.dof if self.dof is not None else self.n_trials - 1

    def critical(self, level: float, method: str | None = None) -> float:
        """Two-sided critical value at confidence ``level`` (t if ``dof`` is set, else normal;
        ``method`` = ``"t"`` or ``"normal"`` overrides, ``"t"`` then using ``n_trials − 1``
        when ``dof`` is None)."""
        return critical_value(level, self._dof(method))

    def ci(self, level: float = 0.99, method: str | None = None) -> tuple[Any, Any]:
        """Two-sided ``level`` interval ``value ∓ critical(level)·stderr`` (componentwise for
        arrays, real and imaginary parts separately for complex values). A zero standard error
        gives the point ``(value, value)`` whatever the quantile."""
        q = self.critical(level, method)
        m, se = np.asarray(self.value), np.asarray(self.stderr)

        def half(s: np.ndarray) -> np.ndarray:
            if not math.isinf(q):
                return q * s
            with np.errstate(invalid="ignore"):  # inf·0: a zero SE gives a zero half-width
                return np.where(s == 0, 0.0, q * s)

        if np.iscomplexobj(m) or np.iscomplexobj(se):
            m, se = m.astype(complex), se.astype(complex)
            hr, hi_ = half(se.real), half(se.imag)
            lo = (m.real - hr) + 1j * (m.imag - hi_)
            hi = (m.real + hr) + 1j * (m.imag + hi_)
        else:
            h = half(se)
            lo, hi = m - h, m + h
        return _scalar(np.asarray(lo)), _scalar(np.asarray(hi))

    def bound(self, level: float = 0.99, side: str = "upper", method: str | None = None) -> Any:
        """One-sided ``level`` confidence bound: ``value + q·stderr`` (``side="upper"``) or
        ``value − q·stderr`` (``"lower"``), ``q`` the one-sided quantile."""
        side = check_choice("side", side, ("upper", "lower"))
        q = critical_value(level, self._dof(method), two_sided=False)
        se = np.asarray(self.stderr, dtype=float)
        with np.errstate(invalid="ignore"):  # inf·0: a zero SE gives the value itself
            h = np.where(se == 0, 0.0, q * se) if math.isinf(q) else q * se
        v = np.asarray(self.value, dtype=float)
        return _scalar(v + h if side == "upper" else v - h)

    def to_dict(self, level: float = 0.95, method: str = "t") -> dict[str, Any]:
        """JSON-ready summary: mean (the value), stderr, std, n_trials and the ``level``
        interval (complex values as ``{"real", "imag"}``, NaN as None)."""
        lo, hi = self.ci(level, method)
        return jsonable({"mean": self.value, "stderr": self.stderr, "std": self.std,
                         "n_trials": self.n_trials, "ci_level": level, "ci_method": method,
                         "ci_low": lo, "ci_high": hi})


def mean_estimate(samples: Any, axis: int = 0, *, extra: Mapping[str, Any] | None = None
                  ) -> Estimate:
    """The mean of ``samples`` along ``axis`` with its standard error ``s/√n`` (``ddof = 1``)
    and ``n − 1`` degrees of freedom (a Student-t interval).

    Complex samples get the standard errors of the real and imaginary parts separately
    (``SE_re + i·SE_im``).

    Parameters
    ----------
    samples : array_like
        Trials along ``axis`` (NumPy or CuPy; at least 2 of them).
    axis : int
    extra : mapping, optional
        Stored in :attr:`Estimate.extra` (next to ``"std"``).

    Returns
    -------
    Estimate
        Scalar fields for 1-D input, arrays otherwise.

    Examples
    --------
    >>> e = mean_estimate([1.0, 2.0, 4.0])
    >>> round(e.value, 6), round(e.stderr, 6), e.n_trials, e.dof
    (2.333333, 0.881917, 3, 2)
    """
    a = np.asarray(to_numpy(samples))
    if a.ndim == 0:
        raise ValueError("samples must have at least one axis of trials")
    if not np.issubdtype(a.dtype, np.number) or a.dtype == bool:
        raise ValueError(f"samples must be numeric, got dtype {a.dtype}")
    n = a.shape[axis]
    if n < 2:
        raise ValueError(f"samples must hold at least 2 trials along axis {axis}, got {n}")
    if not np.all(np.isfinite(a)):
        raise ValueError("samples must contain only finite values (found NaN or infinity)")
    m = a.mean(axis=axis)
    if np.iscomplexobj(a):
        std = a.real.std(axis=axis, ddof=1) + 1j * a.imag.std(axis=axis, ddof=1)
    else:
        std = a.std(axis=axis, ddof=1)
    se = std / math.sqrt(n)

    def out(x: Any) -> Any:
        x = np.asarray(x)
        return x.item() if x.ndim == 0 else x

    return Estimate(out(m), out(se), n, n - 1, {"std": out(std), **dict(extra or {})})


# ---------------------------------------------------------------------------------------------
# power-law fits
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PowerLawFit:
    """``y ≈ a·x^b`` fitted on log-log axes by :func:`fit_power_law`.

    Attributes
    ----------
    slope, intercept : float
        ``b`` and ``ln a``.
    stderr : float
        Standard error of ``b`` (see :func:`fit_power_law` for the rule).
    ci : (float, float)
        Two-sided ``level`` interval of ``b``.
    level : float
    critical : float
        The quantile of the interval.
    method : str
        How the interval was made (ends in ``"normal"`` or ``"t_<dof>"``), e.g.
        ``"WLS, errors inflated by the Birge ratio 1.3, t_5"``.
    n : int
        Number of points.
    dof : int
        ``n − 2``.
    chi2 : float
        Weighted residual sum of squares (WLS) or residual sum of squares of ``ln y`` (OLS).
    x_range : (float, float)
    weighted : bool
        Whether ``yerr`` was given.
    """

    slope: float
    intercept: float
    stderr: float
    ci: tuple[float, float]
    level: float
    critical: float
    method: str
    n: int
    dof: int
    chi2: float
    x_range: tuple[float, float]
    weighted: bool

    @property
    def ci_low(self) -> float:
        return self.ci[0]

    @property
    def ci_high(self) -> float:
        return self.ci[1]

    @property
    def n_points(self) -> int:
        return self.n

    @property
    def chi2_per_dof(self) -> float:
        """``χ²/dof`` (NaN with no residual degrees of freedom)."""
        return self.chi2 / self.dof if self.dof > 0 else math.nan

    @property
    def residual_sd(self) -> float:
        """``√(χ²/dof)``: the residual sd of ``ln y`` (OLS) or the Birge ratio (WLS)."""
        c = self.chi2_per_dof
        return math.sqrt(c) if math.isfinite(c) else math.nan

    def estimate(self, extra: Mapping[str, Any] | None = None) -> Estimate:
        """The slope as an :class:`Estimate` whose interval is this fit's interval."""
        dof = None if self.method.endswith("normal") else self.dof
        return Estimate(self.slope, self.stderr, self.n, dof, dict(extra or {}))

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {"slope": self.slope, "intercept": self.intercept, "stderr": self.stderr,
                "ci": [num(self.ci[0]), num(self.ci[1])], "level": self.level,
                "critical": num(self.critical), "method": self.method, "n": self.n,
                "dof": self.dof, "chi2": num(self.chi2), "chi2_per_dof": num(self.chi2_per_dof),
                "x_range": list(self.x_range), "weighted": self.weighted}


def _positive_vector(name: str, a: Any) -> np.ndarray:
    arr = np.asarray(to_numpy(a))
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real, got a complex array")
    try:
        arr = np.asarray(arr, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers") from None
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError(f"{name} must hold finite values > 0 (a log-log fit)")
    return arr


def fit_power_law(x: Any, y: Any, yerr: Any = None, level: float = 0.95) -> PowerLawFit:
    """Fit ``ln y = ln a + b ln x`` and give ``b`` a ``level`` confidence interval.

    **The one interval rule of rmt.** Least squares on ``(ln x, ln y)`` with weights
    ``w_i = (y_i/yerr_i)²`` (the delta-method variance of ``ln y_i``), or ``w_i = 1`` without
    ``yerr``. Two standard errors of ``b̂`` can be formed, each with its own reference law:

    * from the given errors, ``SE_err = (Σ w (ln x − x̄_w)²)^{−1/2}``, exact if the errors are
      right: normal quantile;
    * from the scatter of the points about the line, ``SE_fit = SE_err·√(χ²/(n − 2))`` (with
      ``w = 1`` this is the ordinary least-squares SE), a variance estimated with ``n − 2``
      degrees of freedom: Student ``t_{n−2}`` quantile, exact under normal residuals.

    The interval uses the larger of the available ones with its own quantile: ``SE_err`` when
    the errors cover the scatter (``χ²/dof ≤ 1``), ``SE_fit`` when the points scatter more
    than their errors allow (the Birge ratio ``√(χ²/dof) > 1``: a finite-size correction or a
    curved law, which the given errors do not know about), ``SE_fit`` alone without ``yerr``
    (needs ``n ≥ 3``), and ``SE_err`` alone for two points with ``yerr`` (no residual left).
    Why this rule: it never trusts errors that the data contradict, yet does not throw away
    the information of right errors (an always-t rule with the Birge factor covers 99.9%
    instead of 95% for six points with exact errors, and so loses the power a verdict needs to
    reject its rivals). This is the rule of the Lindeberg gap-rate fit, which the suite's
    verdicts were already built on.

    ``SE(b̂)`` is never below the floating-point error of the slope,
    ``4·eps·(1 + max|ln y|)·√(n/Σ(ln x − mean)²)`` (each ``ln y_i`` carries a rounding error of at
    most ``4 eps (1 + |ln y_i|)``; Cauchy–Schwarz bounds its effect on the slope), so an exact
    power law does not fail on the last bit of its slope.

    Parameters
    ----------
    x, y : array_like, positive, finite, same length
        At least two distinct ``x``; at least 3 points without ``yerr``.
    yerr : array_like, positive, optional
        Standard errors of ``y``.
    level : float in (0, 1)
        Confidence level of the interval.

    Returns
    -------
    PowerLawFit

    Examples
    --------
    >>> f = fit_power_law([1, 2, 4, 8], [3.0, 1.5, 0.75, 0.375])
    >>> round(f.slope, 12), f.method
    (-1.0, 'OLS, t_2')
    """
    level = check_probability("level", level)
    xa = _positive_vector("x", x)
    ya = _positive_vector("y", y)
    if xa.size != ya.size:
        raise ValueError(f"x and y must have the same length, got {xa.size} and {ya.size}")
    if xa.size < 2 or np.unique(xa).size < 2:
        raise ValueError("x must contain at least two distinct values")
    n = xa.size
    dof = n - 2
    lx, ly = np.log(xa), np.log(ya)
    if yerr is None:
        if n < 3:
            raise ValueError(f"x and y need at least 3 points without yerr (the residual "
                             f"variance has n − 2 degrees of freedom), got {n}")
        w = np.ones(n)
    else:
        e = np.asarray(to_numpy(yerr), dtype=np.float64).ravel()
        if e.size != n or not (np.all(np.isfinite(e)) and np.all(e > 0)):
            raise ValueError(f"yerr must hold {n} finite values > 0, one per point")
        w = (ya / e) ** 2
    sw = float(w.sum())
    xb, yb = float(np.sum(w * lx) / sw), float(np.sum(w * ly) / sw)
    sxx = float(np.sum(w * (lx - xb) ** 2))
    b = float(np.sum(w * (lx - xb) * (ly - yb)) / sxx)
    a = yb - b * xb
    chi2 = float(np.sum(w * (ly - a - b * lx) ** 2))
    se_err = math.sqrt(1.0 / sxx)
    if yerr is None:
        se, use_t = math.sqrt(chi2 / dof / sxx), True
        method = f"OLS, t_{dof}"
    elif dof > 0 and chi2 / dof > 1.0:
        se, use_t = se_err * math.sqrt(chi2 / dof), True
        method = f"WLS, errors inflated by the Birge ratio {math.sqrt(chi2 / dof):.3g}, t_{dof}"
    else:
        se, use_t = se_err, False
        method = "WLS, errors cover the scatter, normal"
    fp = 4.0 * EPS * (1.0 + float(np.max(np.abs(ly))))
    se = max(se, fp * math.sqrt(n / float(np.sum((lx - lx.mean()) ** 2))))
    q = critical_value(level, dof if use_t else None)
    return PowerLawFit(b, float(a), se, (b - q * se, b + q * se), level, q, method, n, dof, chi2,
                       (float(xa.min()), float(xa.max())), yerr is not None)


# ---------------------------------------------------------------------------------------------
# distances between a sample and a law, or two samples
# ---------------------------------------------------------------------------------------------

def dkw_bound(n: int, alpha: float) -> float:
    """The Dvoretzky–Kiefer–Wolfowitz–Massart bound ``sqrt(ln(2/α) / (2n))``.

    For ``n`` iid draws from a continuous law ``F``, ``P(sup|F_n − F| > ε) ≤ 2 exp(−2nε²)``
    (Massart 1990, tight constant), so the KS distance exceeds this ``ε`` with probability at
    most ``alpha``.

    Parameters
    ----------
    n : int, >= 1
    alpha : float in (0, 1)
        The error probability (one minus the confidence level).

    Examples
    --------
    >>> round(dkw_bound(200, 0.01), 4)
    0.1151
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    alpha = check_probability("alpha", alpha)
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * int(n)))


# 10-point Gauss–Legendre rule for the smooth pieces of the Wasserstein-1 integral.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)


def real_sample(name: str, a: Any, min_len: int = 1) -> np.ndarray:
    """``a`` as a 1-D float64 NumPy array of finite reals with at least ``min_len`` values (NumPy
    or CuPy input); a ValueError naming ``name`` otherwise."""
    arr = to_numpy(a)
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real, got a complex array")
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of real numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} must hold at least {min_len} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (found NaN or infinity)")
    return arr


def default_zero_tol(sample: Any) -> float:
    """``16·n·eps·max|λ|``: a multiple of a symmetric eigensolver's backward error, far below
    the smallest nonzero eigenvalue of a sample covariance in the proportional regime
    (``≈ (1 − γ^{-1/2})² γ`` away from ``γ = 1``, ``O(n^{-2})`` at ``γ = 1``)."""
    lam = np.asarray(sample, dtype=np.float64)
    return 16.0 * lam.size * EPS * float(np.max(np.abs(lam))) if lam.size else 0.0


def snap_zeros(sample: Any, zero_tol: float | None = None, *, name: str = "sample",
               min_len: int = 1) -> tuple[np.ndarray, float, int]:
    """Sorted float64 copy of a 1-D sample with ``|λ| ≤ zero_tol`` set to exactly 0.

    Eigenvalues that are zero in exact arithmetic come out of a solver as ``±O(n·eps·‖B‖)``;
    snapping them lets a law's atom at 0 be compared exactly.

    Parameters
    ----------
    sample : array_like, 1-D, real, finite
    zero_tol : float >= 0, optional
        Default :func:`default_zero_tol`; 0 snaps nothing but exact zeros.
    name : str
        Parameter name used in error messages.
    min_len : int

    Returns
    -------
    (ndarray, float, int)
        The sorted, snapped sample, the tolerance used and how many nonzero values were set to 0.
    """
    lam = np.sort(real_sample(name, sample, min_len))
    if zero_tol is None:
        zero_tol = default_zero_tol(lam)
    zero_tol = check_real("zero_tol", zero_tol, 0.0)
    small = np.abs(lam) <= zero_tol
    n_snapped = int(np.count_nonzero(small & (lam != 0)))
    return np.where(small, 0.0, lam), zero_tol, n_snapped


def _cdf_of(law: Any, name: str = "law") -> Callable[[np.ndarray], np.ndarray]:
    """A vectorised float64 CDF from a law (object with ``cdf``) or a callable CDF."""
    cdf = getattr(law, "cdf", None)
    if not callable(cdf):
        if callable(law):
            cdf = law
        else:
            raise ValueError(f"{name} must have a callable cdf (scipy-like) or be a CDF, got "
                             f"{type(law).__name__}")

    def F(x: np.ndarray) -> np.ndarray:
        out = np.asarray(to_numpy(cdf(x)), dtype=np.float64)
        if out.shape != np.shape(x) or not np.all(np.isfinite(out)):
            raise ValueError(f"{name}.cdf must return finite values of the same shape as its "
                             f"input")
        return out

    return F


@dataclass(frozen=True)
class KSDistance:
    """The Kolmogorov–Smirnov distance of :func:`ks_detail` and where it is attained.

    Attributes
    ----------
    statistic : float
        ``sup_x |F_n(x) − F(x)|``.
    location : float
        The sample point where the supremum is attained.
    ecdf_at, cdf_at : float
        ``F_n`` and ``F`` there (both left limits when the supremum is a left limit).
    n : int
        Sample size.
    n_snapped : int
        Values within ``zero_tol`` of 0 set to exactly 0.
    """

    statistic: float
    location: float
    ecdf_at: float
    cdf_at: float
    n: int
    n_snapped: int


def _ks_sorted(lam: np.ndarray, F: Callable[[np.ndarray], np.ndarray]
               ) -> tuple[float, float, float, float]:
    n = lam.size
    u, counts = np.unique(lam, return_counts=True)
    upper = np.cumsum(counts) / n          # F_n(u_k)
    lower = upper - counts / n             # F_n(u_k^-)
    F_at = F(u)
    F_before = F(np.nextafter(u, -np.inf))
    d_plus = np.abs(upper - F_at)
    d_minus = np.abs(lower - F_before)
    i, j = int(np.argmax(d_plus)), int(np.argmax(d_minus))
    if d_plus[i] >= d_minus[j]:
        return float(d_plus[i]), float(u[i]), float(upper[i]), float(F_at[i])
    return float(d_minus[j]), float(u[j]), float(lower[j]), float(F_before[j])


def ks_detail(sample: Any, law: Any, *, zero_tol: float | None = None) -> KSDistance:
    """:func:`ks_distance` with the point where the supremum is attained."""
    lam, _, snapped = snap_zeros(sample, zero_tol)
    ks, loc, e_at, f_at = _ks_sorted(lam, _cdf_of(law))
    return KSDistance(ks, loc, e_at, f_at, int(lam.size), snapped)


def ks_distance(sample: Any, law: Any, *, zero_tol: float | None = None) -> float:
    """Kolmogorov–Smirnov distance ``sup_x |F_n(x) − F(x)|`` of a sample to a law.

    Exact for every law, atoms and step CDFs included: between two distinct sample points
    ``F_n`` is constant and ``F`` monotone, so the supremum is one of the one-sided limits at a
    sample point, and both (``F(u)`` against ``F_n(u)``, ``F(u⁻)`` against ``F_n(u⁻)``) are
    compared at every distinct point. For a continuous law this is
    ``scipy.stats.kstest(sample, law.cdf).statistic``.

    Parameters
    ----------
    sample : array_like, 1-D, real, finite (NumPy or CuPy)
        E.g. all eigenvalues of a matrix (zeros included).
    law : object with a vectorised ``cdf``, or a vectorised CDF
    zero_tol : float >= 0, optional
        Values with ``|λ| ≤ zero_tol`` are set to 0 first (see :func:`snap_zeros`; default
        ``16·n·eps·max|λ|``; pass 0 for samples that are not eigenvalues).

    Returns
    -------
    float

    Examples
    --------
    >>> from scipy import stats
    >>> x = stats.norm.rvs(size=50, random_state=1)
    >>> bool(abs(ks_distance(x, stats.norm, zero_tol=0) - stats.kstest(x, "norm").statistic)
    ...      < 1e-15)
    True
    """
    return ks_detail(sample, law, zero_tol=zero_tol).statistic


def ks_two_sample(a: Any, b: Any) -> float:
    """Two-sample Kolmogorov–Smirnov distance ``sup_x |F_a(x) − F_b(x)|`` (exact: both
    empirical CDFs are right-continuous steps, so the supremum is attained at a sample point).

    Examples
    --------
    >>> round(ks_two_sample([0.0, 1.0, 2.0], [0.5, 1.5, 2.5]), 12)
    0.333333333333
    """
    x = np.sort(real_sample("a", a))
    y = np.sort(real_sample("b", b))
    pts = np.concatenate([x, y])
    Fa = np.searchsorted(x, pts, side="right") / x.size
    Fb = np.searchsorted(y, pts, side="right") / y.size
    return float(np.max(np.abs(Fa - Fb)))


def _law_edges(law: Any, lam: np.ndarray) -> list[float]:
    """Breakpoints of a law for the W1 integral: its support edges (and inner interval edges, and
    0 for an atom), from ``support()`` or, failing that, the ``1e-12`` quantiles of ``ppf``."""
    edges: list[float] = []
    sup = getattr(law, "support", None)
    if callable(sup):
        try:
            edges = [float(v) for v in sup()]
        except Exception:  # noqa: BLE001 - a law without a usable support(): use its quantiles
            edges = []
    if not edges or not all(math.isfinite(e) for e in edges):
        ppf = getattr(law, "ppf", None)
        q = (np.asarray(ppf(np.array([1e-12, 1.0 - 1e-12])), dtype=float) if callable(ppf)
             else np.array([math.nan]))
        if not np.all(np.isfinite(q)):
            raise ValueError(f"law must have a finite support() or a ppf for the Wasserstein-1 "
                             f"distance, got {type(law).__name__}")
        edges = [e if math.isfinite(e) else float(v) for e, v in zip(edges or q, q)]
    ivs = getattr(law, "intervals", None)
    if ivs is not None and not callable(ivs):
        edges += [float(e) for iv in ivs for e in iv]
    if float(getattr(law, "atom", 0.0) or 0.0) > 0:
        edges.append(0.0)
    return sorted(set(edges))


def _w1_to_law(lam: np.ndarray, F: Callable[[np.ndarray], np.ndarray], edges: list[float]
               ) -> float:
    """``∫ |F_n − F|`` for a sorted sample and a law with breakpoints ``edges``.

    Between breakpoints (sample points, law edges, a 65-point grid over the support) ``F_n`` is
    constant; each piece is split where ``F`` crosses it (a few safeguarded Illinois secant
    steps: ``F`` is monotone) and ``∫F`` on each part is a 10-point Gauss–Legendre rule, so the
    error is that of the quadrature of a smooth monotone ``F`` (≲ 1e-10 relative for MP at ``d``
    in the hundreds); atoms sit at breakpoints and are integrated exactly."""
    n = lam.size
    u, counts = np.unique(lam, return_counts=True)
    Fu = np.cumsum(counts) / n
    lo, hi = min(edges[0], u[0]), max(edges[-1], u[-1])
    if not hi > lo:
        return 0.0
    grid = np.unique(np.concatenate([u, edges, np.linspace(edges[0], edges[-1], 65)]))
    left, right = grid[:-1], grid[1:]
    k = np.searchsorted(u, left, side="right")
    c = np.where(k > 0, Fu[np.maximum(k - 1, 0)], 0.0)        # F_n on (left, right)
    Fl = F(np.nextafter(left, np.inf))
    Fr = F(np.nextafter(right, -np.inf))
    cross = (Fl < c) & (Fr > c)
    a, b = left[cross], right[cross]
    fa, fb, cc = Fl[cross] - c[cross], Fr[cross] - c[cross], c[cross]
    x = 0.5 * (a + b)
    for _ in range(4):
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(fb != fa, b - fb * (b - a) / (fb - fa), 0.5 * (a + b))
        x = np.clip(x, a, b)
        fx = F(x) - cc
        neg = fx < 0
        a, fa = np.where(neg, x, a), np.where(neg, fx, fa * np.where(neg, 1.0, 0.5))
        b, fb = np.where(neg, b, x), np.where(neg, fb * 0.5, fx)
    # The last secant point, not the bracket's midpoint: the bracket may keep one end fixed
    # (the root found exactly on the first step leaves [left, root]). An error δ in the split
    # point costs O(δ²·F') in the integral.
    xs = left.copy()
    xs[cross] = x
    pa = np.concatenate([left, xs])
    pb = np.concatenate([xs, right])
    pc = np.concatenate([c, c])
    keep = pb > pa
    pa, pb, pc = pa[keep], pb[keep], pc[keep]
    h = pb - pa
    nodes = pa[:, None] + 0.5 * h[:, None] * (_GL_X[None, :] + 1.0)
    intF = 0.5 * h * (F(nodes.ravel()).reshape(nodes.shape) @ _GL_W)
    return float(np.sum(np.abs(pc * h - intF)))


def wasserstein1(sample: Any, other: Any, *, zero_tol: float | None = None) -> float:
    """Wasserstein-1 distance ``∫ |F_n(x) − G(x)| dx`` of a sample to a law or to a second
    sample.

    Parameters
    ----------
    sample : array_like, 1-D, real, finite
    other : law or array_like
        A law (object with a vectorised ``cdf`` and a finite ``support()`` — optionally
        ``intervals`` and ``atom`` — or a ``ppf``), integrated as described in
        :func:`_w1_to_law` (atoms exact, smooth parts by Gauss–Legendre); or a second sample,
        for which the integral of the difference of two step functions is exact
        (``scipy.stats.wasserstein_distance``).
    zero_tol : float >= 0, optional
        Snapping of ``sample`` (law case only), as in :func:`ks_distance`.

    Returns
    -------
    float

    Examples
    --------
    >>> wasserstein1([0.0, 1.0], [0.5, 1.5])
    0.5
    """
    if getattr(other, "cdf", None) is None:
        from scipy import stats  # noqa: PLC0415

        return float(stats.wasserstein_distance(real_sample("sample", sample),
                                                real_sample("other", other)))
    lam, _, _ = snap_zeros(sample, zero_tol)
    return _w1_to_law(lam, _cdf_of(other, "other"), _law_edges(other, lam))


def grid_distances(cdf_a: Callable[[np.ndarray], np.ndarray],
                   cdf_b: Callable[[np.ndarray], np.ndarray], lower: float, upper: float, *,
                   points: Any = None, n_grid: int = 1 << 14) -> tuple[float, float]:
    """``(KS, W1)`` between two CDFs given as functions, on ``[lower, upper]`` (outside it both
    must be equal: 0 below, 1 above).

    The grid is ``n_grid`` equispaced points joined with ``points`` (put every jump of a step
    CDF there). W1 takes each segment at its midpoint value (exact for step CDFs whose jumps
    are all grid points; ``O(h²)`` per segment for smooth ones); KS is the largest difference
    at the grid points and midpoints (the exact supremum for step CDFs whose jumps are all grid
    points). For a sample against a law use :func:`ks_distance` and :func:`wasserstein1`,
    which are exact.

    Returns
    -------
    (float, float)
    """
    lower = check_real("lower", lower)
    upper = check_real("upper", upper, lower, strict_min=True)
    n_grid = check_int("n_grid", n_grid, 2)
    pts = (np.empty(0) if points is None
           else np.asarray(to_numpy(points), dtype=np.float64).ravel())
    grid = np.union1d(np.linspace(lower, upper, n_grid), pts[(pts >= lower) & (pts <= upper)])
    mid = 0.5 * (grid[1:] + grid[:-1])
    da, db = _cdf_of(cdf_a, "cdf_a"), _cdf_of(cdf_b, "cdf_b")
    w1 = float(np.sum(np.abs(da(mid) - db(mid)) * np.diff(grid)))
    x = np.concatenate([grid, mid])
    ks = float(np.max(np.abs(da(x) - db(x))))
    return ks, w1
