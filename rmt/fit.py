"""Spectral fits and goodness of fit: Marchenko–Pastur and weighted MP laws against eigenvalues.

What is fitted
--------------
``eigenvalues`` are *all* ``d`` eigenvalues of one ``d × d`` matrix (zeros included), read as a
draw of ``B = s·XᵀX/N`` (``X`` of shape ``(N, d)``, iid standard Gaussian entries, ``γ = d/N``)
for :func:`fit_mp`, or of ``B = c·(1/N) Σ_n w_n x_n x_nᵀ`` with ``w_n ~ ν`` for
:func:`fit_weighted_mp`.

Estimators (:func:`fit_mp`)
~~~~~~~~~~~~~~~~~~~~~~~~~~~
* ``method="mle"`` maximises the *exact* likelihood of the eigenvalues at finite ``d, N``, not a
  pseudo-likelihood built from the limit density (which treats eigenvalues as iid, and whose
  support moves with the parameters, so that it is ill-posed whenever an eigenvalue falls
  beyond the limiting edge — it does with probability ≈ 0.17 at each edge, by Tracy–Widom).
  ``N·B/s`` is real Wishart ``W_d(N, I)``, an exponential family in ``(N, θ = s/N)`` with
  sufficient statistics ``(Σ log λ, Σ λ)``: up to parameter-free terms
  ``ℓ(N, θ) = (N−d−1)/2 Σ log λ − Σλ/(2θ) − (Nd/2) log 2θ − log Γ_d(N/2)`` (``N > d − 1``
  real). Profiling ``θ`` gives ``ŝ = mean(λ)``; ``ℓ`` is concave in ``N``, its score
  ``½Σ log λ − (d/2) log(2Σλ/(Nd)) − ½ Σ_{i≤d} ψ((N−i+1)/2)`` decreases from ``+∞`` to
  ``(d/2)(mean log λ − log mean λ) < 0``, so ``N̂`` is its unique root. The CI for ``γ`` is the
  profile likelihood-ratio interval ``{N : 2(ℓ̂ − ℓ(N)) ≤ χ²₁(level)}``.
* ``method="moments"`` matches ``mean λ`` and ``mean λ²`` to their exact finite-size
  expectations ``s`` and ``s²(1 + (d+1)/N)`` (which tend to the MP moments ``s``, ``s²(1+γ)``;
  matching the limit instead would leave an ``O(1/N)`` bias of the order of the estimator's
  standard deviation at small ``d``). Its CI for ``γ`` is the basic parametric-bootstrap interval
  (``None`` when ``n_boot = 0``).
* Scale, both methods: ``ŝ = mean λ``, and ``tr B = s χ²_{Nd}/N`` exactly, so the CI
  ``[ŝNd/χ²_{Nd}(1−α/2), ŝNd/χ²_{Nd}(α/2)]`` is exact when ``γ`` is known (``N̂`` is plugged
  in otherwise).
* ``γ > 1``: ``B`` has rank ``N``, so the number ``z`` of (numerically) zero eigenvalues gives
  ``N = d − z`` and ``γ = d/(d − z)`` exactly whenever ``z > 0`` and ``ratio`` is not given.

Outliers beyond the bulk edge
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
The largest eigenvalue of a null matrix is Tracy–Widom (GOE) distributed around the edge
(Johnstone 2001; centring and scaling with ``n − ½, p − ½`` as in Ma 2012 for real data):
with ``n = max(N, d)``, ``p = min(N, d)``, ``μ = (√(n−½) + √(p−½))²``,
``σ = (√(n−½) + √(p−½))(1/√(n−½) + 1/√(p−½))^{1/3}``, ``(N λ_max/s − μ)/σ → TW₁``. In the
units of ``B`` the margin above the edge ``s(1+√γ)²`` is, to leading order,

    s·σ/N = s (1 + √γ)^{4/3} γ^{−1/6} N^{−2/3} = s (1 + √γ)^{4/3} γ^{1/2} d^{−2/3}

per unit of the TW₁ quantile. An eigenvalue is an outlier when it exceeds
``s(μ + σ q)/N`` with ``q = F₁^{−1}(1 − outlier_level)``: a null matrix shows one with
probability ``≈ outlier_level``. For a general square-root edge ``b`` with density
``f(x) ≈ C √(b − x)`` the same local (Airy) scaling gives ``σ_edge = (π d C)^{−2/3}``, which
reduces to the MP expression above; :func:`fit_weighted_mp` uses it with ``C`` read off the
fitted law's density. Outliers are excluded from the fit and the goodness of fit (the bulk is
treated as a null matrix of dimension ``d − k`` with the same ``N``) and reported.
``TW₁`` is computed as the Fredholm determinant ``F₁(s) = det(I − K_s)`` on ``L²(0, ∞)``,
``K_s(x, y) = Ai(x + y + s)`` (Ferrari–Spohn), by Gauss–Legendre Nyström discretisation
(Bornemann 2010), accurate to about 1e-14.

Goodness of fit and honest p-values
-----------------------------------
``ks`` is the Kolmogorov–Smirnov distance ``sup_x |F_n(x) − F(x)|`` (both one-sided limits at
every eigenvalue, so an atom at 0 is handled exactly) and ``w1`` the Wasserstein-1 distance
``∫ |F_n − F| dx`` (piecewise Gauss–Legendre between eigenvalues, split where ``F`` crosses
``F_n``), between the bulk eigenvalues and the fitted law. Neither has a known null distribution
here: the eigenvalues are not iid (they repel; a KS distance of ``d`` eigenvalues is ``O(log d/d)``,
not ``O(d^{−1/2})``), and the parameters were fitted to them. So the p-values come from a
seeded **parametric bootstrap**: ``n_boot`` fresh null matrices of the same ``d`` and
``N = d/γ̂`` are drawn from the fitted model, the *whole* procedure (fit, outlier exclusion,
distance) is rerun on each, and ``p = (1 + #{T* ≥ T})/(n_boot + 1)``. Drawing iid values from
the limit density instead would calibrate against the wrong (iid) fluctuations. For MP the
fresh matrices' eigenvalues are drawn exactly in law through the Dumitriu–Edelman bidiagonal
model (O(d) variates and one tridiagonal eigenproblem, ``O(d²)``, per replicate, instead of
``O(N d² + d³)`` for a dense matrix); weighted-MP replicates are dense
``c (1/N) Σ w_n x_n x_nᵀ`` with ``N = round(d/γ)``, ``O(N d² + d³)`` each. Every replicate also
refits and recomputes both distances (``O(d)`` cdf evaluations). Replicate ``b`` uses child
``b`` of ``SeedSequence(seed)``, so results do not depend on chunking.

References
----------
I. M. Johnstone, Ann. Statist. 29 (2001) 295–327. Z. Ma, Bernoulli 18 (2012) 322–359.
P. L. Ferrari, H. Spohn, J. Phys. A 38 (2005) L557. F. Bornemann, Math. Comp. 79 (2010) 871–915.
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from . import backend as bk
from .laws import MarchenkoPastur, WeightedMP, as_weight_law
from .stats import critical_value, ks_distance, snap_zeros, wasserstein1
from .validation import check_choice, check_int, check_probability, check_real

__all__ = [
    "FIT_METHODS",
    "MPFit",
    "WeightedMPFit",
    "fit_mp",
    "fit_weighted_mp",
    "ks_statistic",     # = rmt.stats.ks_distance
    "wasserstein1",     # re-exported from rmt.stats
    "gof_distances",
    "tw1_cdf",
    "tw1_ppf",
    "mp_edge_threshold",
    "edge_scale",
    "wishart_profile_loglik",
]

FIT_METHODS = ("mle", "moments")
# Gauss–Legendre rule for the TW1 Nyström discretisation.
_TW_X, _TW_W = np.polynomial.legendre.leggauss(64)


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------

def _fmt(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, tuple):
        return "(" + ", ".join(_fmt(v) for v in x) + ("," if len(x) == 1 else "") + ")"
    return f"{float(x):.4g}"


@dataclass(frozen=True, eq=False)
class MPFit:
    """A Marchenko–Pastur fit (see :func:`fit_mp`).

    Attributes
    ----------
    ratio, scale : float
        Fitted (or given) ``γ = d/N`` and ``s`` (σ²).
    method : str
        ``"mle"`` or ``"moments"``.
    ks, w1 : float
        KS and Wasserstein-1 distances of the bulk eigenvalues to the fitted bulk law.
    p_value, p_value_w1 : float or None
        Parametric-bootstrap p-values of ``ks`` and ``w1`` (``None`` when ``n_boot = 0``).
    n_boot : int
        Bootstrap replicates used.
    outliers : tuple of float
        Eigenvalues above ``threshold``, largest first.
    ratio_ci, scale_ci : (float, float) or None
        Confidence intervals at ``level`` (``ratio_ci`` is ``(γ, γ)`` when ``γ`` was given or
        identified exactly by the rank).
    level : float
    threshold : float
        Outlier threshold (bulk edge plus the Tracy–Widom margin).
    dim : int
        ``d``, the number of eigenvalues.
    n_samples : float
        ``N = d/γ`` (real-valued when fitted).
    ratio_fixed : bool
        Whether ``γ`` was given (or identified by the rank) rather than estimated.
    boot : dict
        Bootstrap replicates: ``ks``, ``w1``, ``ratio``, ``scale`` arrays (not in the repr).
    """

    ratio: float
    scale: float
    method: str
    ks: float
    w1: float
    p_value: float | None
    p_value_w1: float | None
    n_boot: int
    outliers: tuple[float, ...]
    ratio_ci: tuple[float, float] | None
    scale_ci: tuple[float, float] | None
    level: float
    threshold: float
    dim: int
    n_samples: float
    ratio_fixed: bool
    boot: dict = field(default_factory=dict, repr=False)

    @property
    def law(self) -> MarchenkoPastur:
        """The fitted law ``MarchenkoPastur(ratio, scale)``."""
        return MarchenkoPastur(self.ratio, self.scale)

    def __repr__(self) -> str:
        return (f"MPFit(ratio={_fmt(self.ratio)}, scale={_fmt(self.scale)}, "
                f"method={self.method!r}, ks={_fmt(self.ks)}, w1={_fmt(self.w1)}, "
                f"p_value={_fmt(self.p_value)}, n_boot={self.n_boot}, "
                f"outliers={_fmt(self.outliers)}, ratio_ci={_fmt(self.ratio_ci)}, "
                f"scale_ci={_fmt(self.scale_ci)}, level={self.level:g}, dim={self.dim})")


@dataclass(frozen=True, eq=False)
class WeightedMPFit:
    """A fit of the scale ``c`` of ``c · WeightedMP(ratio, ν)`` (see :func:`fit_weighted_mp`).

    Attributes
    ----------
    scale : float
        Fitted ``c``.
    ratio : float
        The given ``γ``.
    method : str
        ``"moments"``.
    ks, w1, p_value, p_value_w1, n_boot, outliers, level, threshold, dim, boot
        As in :class:`MPFit`.
    scale_ci : (float, float)
        CI at ``level`` from the exact variance of ``mean λ`` (normal pivot).
    base_law : WeightedMP
        The law at ``c = 1`` (not in the repr).
    """

    scale: float
    ratio: float
    method: str
    ks: float
    w1: float
    p_value: float | None
    p_value_w1: float | None
    n_boot: int
    outliers: tuple[float, ...]
    scale_ci: tuple[float, float]
    level: float
    threshold: float
    dim: int
    base_law: WeightedMP = field(repr=False)
    boot: dict = field(default_factory=dict, repr=False)

    @property
    def law(self) -> WeightedMP:
        """The fitted law ``WeightedMP(ratio, c·ν)``."""
        return WeightedMP(self.ratio, self.base_law.weights.scaled(self.scale))

    def __repr__(self) -> str:
        return (f"WeightedMPFit(scale={_fmt(self.scale)}, ratio={_fmt(self.ratio)}, "
                f"method={self.method!r}, ks={_fmt(self.ks)}, w1={_fmt(self.w1)}, "
                f"p_value={_fmt(self.p_value)}, n_boot={self.n_boot}, "
                f"outliers={_fmt(self.outliers)}, scale_ci={_fmt(self.scale_ci)}, "
                f"level={self.level:g}, dim={self.dim})")


# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------

def _eigs(eigenvalues: Any, zero_tol: Any, *, min_len: int = 2) -> np.ndarray:
    """Sorted float64 copy with ``|λ| ≤ zero_tol`` snapped to 0 (:func:`rmt.stats.snap_zeros`)."""
    return snap_zeros(eigenvalues, zero_tol, name="eigenvalues", min_len=min_len)[0]


# ---------------------------------------------------------------------------------------------
# distances: documented re-exports of rmt.stats (one implementation)
# ---------------------------------------------------------------------------------------------

#: Kolmogorov–Smirnov distance of eigenvalues to a law: :func:`rmt.stats.ks_distance`.
ks_statistic = ks_distance


def gof_distances(eigenvalues: Any, law: Any, *, zero_tol: float | None = None
                  ) -> tuple[float, float]:
    """``(ks, w1)`` of :func:`rmt.stats.ks_distance` and :func:`rmt.stats.wasserstein1`,
    snapping near-zero eigenvalues once."""
    lam = _eigs(eigenvalues, zero_tol, min_len=1)
    return ks_distance(lam, law, zero_tol=0.0), wasserstein1(lam, law, zero_tol=0.0)


# ---------------------------------------------------------------------------------------------
# Tracy–Widom (GOE) and edge thresholds
# ---------------------------------------------------------------------------------------------

def _tw1_scalar(s: float) -> float:
    if s > 12.0:
        return 1.0  # 1 − F₁(12) < 1e-16
    if s < -12.0:
        return 0.0  # F₁(−12) < 1e-60
    # Ai(x + y + s) is below 1e-17 once x + y + s > 12, so truncate (0, ∞) to (0, L)
    L = max(8.0, 14.0 - s)
    x = 0.5 * L * (_TW_X + 1.0)
    sw = np.sqrt(0.5 * L * _TW_W)
    K = special.airy(x[:, None] + x[None, :] + s)[0] * sw[:, None] * sw[None, :]
    return float(min(1.0, max(0.0, np.linalg.det(np.eye(x.size) - K))))


def tw1_cdf(s: Any) -> Any:
    """Tracy–Widom (β = 1, GOE) distribution function ``F₁(s)``.

    ``F₁(s) = det(I − K_s)`` on ``L²(0, ∞)`` with ``K_s(x, y) = Ai(x + y + s)``, discretised by
    64-point Gauss–Legendre on ``(0, L)``; the error decays exponentially in the node count
    (about 1e-14 here).

    Parameters
    ----------
    s : float or array_like of float

    Returns
    -------
    float or numpy.ndarray
    """
    arr = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("s must contain only finite values")
    out = np.vectorize(_tw1_scalar, otypes=[np.float64])(arr)
    return float(out) if out.ndim == 0 else out


def tw1_ppf(q: float) -> float:
    """Quantile of the Tracy–Widom (GOE) law: ``s`` with ``F₁(s) = q``, for ``q`` in (0, 1).

    Examples
    --------
    >>> round(tw1_ppf(0.95), 4)
    0.9793
    """
    q = check_probability("q", q)
    if q < 1e-12 or q > 1 - 1e-15:
        raise ValueError(f"q must be a finite real number in [1e-12, 1 - 1e-15], got {q}")
    return _tw1_ppf_cached(q)


@lru_cache(maxsize=64)
def _tw1_ppf_cached(q: float) -> float:
    return float(optimize.brentq(lambda s: _tw1_scalar(s) - q, -12.0, 12.0, xtol=1e-12))


def mp_edge_threshold(dim: int, n_samples: float, scale: float = 1.0,
                      level: float = 0.01) -> float:
    """Outlier threshold above the MP bulk: ``s (μ + σ q)/N`` with ``q = F₁⁻¹(1 − level)``.

    ``μ = (√(n−½) + √(p−½))²``, ``σ = (√(n−½) + √(p−½))(1/√(n−½) + 1/√(p−½))^{1/3}``,
    ``n = max(N, d)``, ``p = min(N, d)`` (Johnstone 2001 with Ma's 2012 centring). A null
    matrix ``s·XᵀX/N`` exceeds it with probability ``≈ level``. The margin above the edge
    ``s(1+√γ)²`` is ``≈ q s (1+√γ)^{4/3} γ^{−1/6} N^{−2/3}``.

    Parameters
    ----------
    dim : int, >= 1
        ``d``.
    n_samples : float, >= 1
        ``N`` (real-valued allowed).
    scale : float, > 0
    level : float in (0, 1)
        False-alarm probability per matrix.

    Returns
    -------
    float
    """
    d = check_int("dim", dim, 1)
    N = check_real("n_samples", n_samples, 1.0)
    s = check_real("scale", scale, 0.0, strict_min=True)
    level = check_probability("level", level)
    n_, p_ = max(N, d) - 0.5, min(N, d) - 0.5
    p_ = max(p_, 0.5)
    root = math.sqrt(n_) + math.sqrt(p_)
    mu = root * root
    sig = root * (1 / math.sqrt(n_) + 1 / math.sqrt(p_)) ** (1 / 3)
    return s * (mu + sig * tw1_ppf(1.0 - level)) / N


def edge_scale(law: Any, dim: int) -> float:
    """Tracy–Widom scale ``(π d C)^{−2/3}`` of the largest eigenvalue at a square-root edge.

    ``C = lim_{x→b} f(x)/√(b − x)`` is read off the law's density at ``b − h`` for
    ``h = 1e-6, 4e-6`` times the support width and Richardson-extrapolated (the density is
    ``C√(b−x)(1 + O(b − x))``). For MP this is ``s(1+√γ)^{4/3} γ^{1/2} d^{−2/3}``, the leading
    term of Johnstone's scaling.

    Parameters
    ----------
    law : object with ``pdf`` and ``support()``
    dim : int, >= 1
        Number of eigenvalues ``d``.

    Returns
    -------
    float
    """
    d = check_int("dim", dim, 1)
    a, b = (float(e) for e in law.support())
    h = 1e-6 * (b - a)
    c1 = float(law.pdf(b - h)) / math.sqrt(h)
    c4 = float(law.pdf(b - 4 * h)) / math.sqrt(4 * h)
    C = (4 * c1 - c4) / 3
    if not (C > 0 and math.isfinite(C)):
        raise ValueError("law must have a square-root upper edge with positive density below it")
    return (math.pi * d * C) ** (-2.0 / 3.0)


# ---------------------------------------------------------------------------------------------
# Wishart likelihood (the MLE of fit_mp)
# ---------------------------------------------------------------------------------------------

def _log_mvgamma(a: float, d: int) -> float:
    j = np.arange(d, dtype=np.float64)
    return float(d * (d - 1) / 4 * math.log(math.pi) + np.sum(special.gammaln(a - j / 2)))


def wishart_profile_loglik(n: float, sum_log: float, sum_lam: float, dim: int) -> float:
    """Profile log-likelihood ``ℓ(N)`` of the eigenvalues of ``s XᵀX/N`` (``s`` profiled out).

    ``ℓ(N) = (N−d−1)/2 · Σlog λ − (Nd/2)(1 + log(2Σλ/(Nd))) − log Γ_d(N/2)``, up to terms free
    of parameters, for real ``N > d − 1``.

    Parameters
    ----------
    n : float, > dim − 1
    sum_log, sum_lam : float
        ``Σ log λ`` and ``Σ λ`` over the ``dim`` eigenvalues.
    dim : int

    Returns
    -------
    float
    """
    if not n > dim - 1:
        raise ValueError(f"n must be > dim - 1 = {dim - 1}, got {n}")
    nd = n * dim
    return ((n - dim - 1) / 2 * sum_log - nd / 2 * (1 + math.log(2 * sum_lam / nd))
            - _log_mvgamma(n / 2, dim))


def _wishart_score(n: float, sum_log: float, sum_lam: float, d: int) -> float:
    j = np.arange(d, dtype=np.float64)
    return (0.5 * sum_log - 0.5 * d * math.log(2 * sum_lam / (n * d))
            - 0.5 * float(np.sum(special.digamma((n - j) / 2))))


def _mle_n(lam: np.ndarray) -> tuple[float, float, float]:
    """N̂ and the sufficient statistics (Σ log λ, Σ λ) for positive eigenvalues."""
    d = lam.size
    sl, sm = float(np.sum(np.log(lam))), float(np.sum(lam))
    if sl >= d * math.log(sm / d) - 1e-13 * d:
        raise ValueError("eigenvalues must not all be equal (the Wishart MLE of the ratio "
                         "needs spread)")
    lo = d - 1 + 1e-9 * max(d, 1)
    hi = 2.0 * d + 2.0
    while _wishart_score(hi, sl, sm, d) > 0:
        hi *= 2.0
        if hi > 1e15:
            raise ValueError("eigenvalues are too concentrated: the ratio MLE is below 1e-15")
    n = optimize.brentq(_wishart_score, lo, hi, args=(sl, sm, d), xtol=1e-10, rtol=1e-13)
    return float(n), sl, sm


def _lr_interval(n_hat: float, sl: float, sm: float, d: int, level: float
                 ) -> tuple[float, float]:
    """Profile-likelihood-ratio interval for N: ``{N : 2(ℓ̂ − ℓ(N)) ≤ χ²₁(level)}``."""
    crit = 0.5 * stats.chi2.ppf(level, 1)
    top = wishart_profile_loglik(n_hat, sl, sm, d)

    def g(n: float) -> float:
        return top - wishart_profile_loglik(n, sl, sm, d) - crit

    lo_end = d - 1 + 1e-12 * max(d, 1)
    n_lo = optimize.brentq(g, lo_end, n_hat, xtol=1e-10) if g(lo_end) > 0 else lo_end
    hi = 2 * n_hat
    while g(hi) < 0 and hi < 1e15:
        hi *= 2
    n_hi = optimize.brentq(g, n_hat, hi, xtol=1e-10) if g(hi) >= 0 else math.inf
    return n_lo, n_hi


def _scale_ci(s_hat: float, dof: float, level: float) -> tuple[float, float]:
    a = 1.0 - level
    return (s_hat * dof / stats.chi2.ppf(1 - a / 2, dof), s_hat * dof / stats.chi2.ppf(a / 2, dof))


# ---------------------------------------------------------------------------------------------
# the MP fitting procedure
# ---------------------------------------------------------------------------------------------

@dataclass
class _Core:
    ratio: float
    scale: float
    n: float                     # N (real)
    ratio_fixed: bool
    ratio_ci: tuple[float, float] | None
    scale_ci: tuple[float, float]
    bulk: np.ndarray
    outliers: np.ndarray
    threshold: float
    ks: float
    w1: float


def _estimate_mp(bulk: np.ndarray, d: int, ratio: float | None, method: str, level: float,
                 want_ci: bool = True) -> tuple[float, float, bool, tuple[float, float] | None]:
    """(N, s, ratio_fixed, ratio_ci) from the bulk (dimension d_b = bulk.size) of a d×d matrix."""
    db = bulk.size
    s_hat = float(np.mean(bulk))
    if not s_hat > 0:
        raise ValueError("eigenvalues must have a positive mean for an MP fit")
    if ratio is not None:
        return d / ratio, s_hat, True, (ratio, ratio)
    zeros = int(np.count_nonzero(bulk == 0.0))
    if zeros > 0:  # rank N < d identifies N exactly
        n = float(d - zeros)
        return n, s_hat, True, (d / n, d / n)
    if method == "mle":
        n, sl, sm = _mle_n(bulk)
        if not want_ci:
            return n, s_hat, False, None
        n_lo, n_hi = _lr_interval(n, sl, sm, db, level)
        return n, s_hat, False, (d / n_hi if math.isfinite(n_hi) else 0.0, d / n_lo)
    r = float(np.mean(bulk * bulk)) / (s_hat * s_hat)
    if not r > 1:
        raise ValueError("eigenvalues must not all be equal (the moment estimate of the "
                         "ratio needs spread)")
    return (db + 1) / (r - 1), s_hat, False, None


def _mp_procedure(lam: np.ndarray, ratio: float | None, method: str, level: float,
                  outlier_level: float, exclude: bool, want_ci: bool = True) -> _Core:
    d = lam.size
    if lam[0] < 0:
        raise ValueError(f"eigenvalues must be >= 0 for a Marchenko–Pastur fit (after snapping "
                         f"|λ| <= zero_tol to 0), got minimum {lam[0]:.3g}")
    k = 0
    for _ in range(10):
        bulk = lam[: d - k]
        n, s, fixed, rci = _estimate_mp(bulk, d, ratio, method, level, False)
        thr = mp_edge_threshold(max(d - k, 1), n, s, outlier_level)
        k_new = int(np.count_nonzero(lam > thr)) if exclude else 0
        k_new = min(k_new, d - 2)
        if k_new == k:
            break
        k = k_new
    bulk = lam[: d - k]
    db = bulk.size
    if want_ci and not fixed:
        n, s, fixed, rci = _estimate_mp(bulk, d, ratio, method, level, True)
    law = MarchenkoPastur(db / n, 1.0)
    x = bulk / s
    ks = ks_distance(x, law, zero_tol=0.0)
    w1 = s * wasserstein1(x, law, zero_tol=0.0)
    sci = _scale_ci(s, n * db, level) if want_ci else (math.nan, math.nan)
    outl = lam[lam > thr][::-1]  # reported whether or not they were excluded
    return _Core(d / n, s, n, fixed, rci, sci, bulk, outl, thr, ks, w1)


def _simulate_mp(d: int, n: float, s: float, seeds: list) -> list:
    """Eigenvalues of fresh null matrices ``s XᵀX/n``, one per seed, exactly in law.

    Dumitriu–Edelman (2002): the eigenvalues of a real Wishart ``W_p(m, I)`` are those of
    ``BBᵀ`` with ``B`` lower bidiagonal, ``B_ii = χ_{m−i}`` (i = 0..p−1) and
    ``B_{i+1,i} = χ_{p−1−i}``; so a replicate costs O(p) draws and one tridiagonal
    eigenproblem instead of an ``n × d`` product and a dense ``d × d`` one, and ``m`` may be real
    (``m > p − 1``). For ``n ≥ d``: ``p = d``, ``m = n``; for ``n < d`` the ``n`` non-zero
    eigenvalues are those of ``XXᵀ`` (``p = n``, ``m = d``) and ``d − n`` zeros are appended.
    """
    from scipy.linalg import eigvalsh_tridiagonal  # noqa: PLC0415

    if n >= d:
        p, m, zeros = d, float(n), 0
    else:
        p = max(1, int(round(n)))
        m, zeros = float(d), d - p
    i = np.arange(p, dtype=np.float64)
    out = []
    for ss in seeds:
        rng = np.random.default_rng(ss)
        b = np.sqrt(rng.chisquare(m - i))
        c = np.sqrt(rng.chisquare(p - 1 - i[:-1])) if p > 1 else np.empty(0)
        diag = b * b
        diag[1:] += c * c
        ev = eigvalsh_tridiagonal(diag, c * b[:-1], check_finite=False) if p > 1 else diag
        ev = np.maximum(ev, 0.0) * (s / n)
        out.append(np.concatenate([np.zeros(zeros), np.sort(ev)]))
    return out


def _p_value(obs: float, boot: np.ndarray) -> float:
    return float((1 + np.count_nonzero(boot >= obs)) / (boot.size + 1))


def fit_mp(eigenvalues: Any, *, ratio: float | None = None, method: str = "mle",
           level: float = 0.95, n_boot: int = 0, seed: Any = None,
           outlier_level: float = 0.01, exclude_outliers: bool = True,
           zero_tol: float | None = None) -> MPFit:
    """Fit a Marchenko–Pastur law ``MP(γ, s)`` to the eigenvalues of one ``d × d`` matrix.

    Parameters
    ----------
    eigenvalues : array_like, 1-D, real, finite, >= 0 (after snapping near-zeros)
        All ``d`` eigenvalues (NumPy or CuPy), zeros included.
    ratio : float > 0, optional
        ``γ = d/N`` when known; then only the scale is fitted.
    method : {"mle", "moments"}
        Exact Wishart maximum likelihood, or the first two moments (module docstring).
    level : float in (0, 1)
        Confidence level of the intervals.
    n_boot : int >= 0
        Parametric-bootstrap replicates for the p-values (and the moments-method CI of ``γ``).
        0 skips the bootstrap (p-values ``None``).
    seed : int, SeedSequence or Generator, optional
        Seeds the bootstrap (replicate ``b`` uses child ``b``).
    outlier_level : float in (0, 1)
        Per-matrix false-alarm probability of the outlier threshold.
    exclude_outliers : bool
        Exclude eigenvalues above the threshold from the fit and the distances (iterated until
        the outlier set is stable).
    zero_tol : float >= 0, optional
        ``|λ| ≤ zero_tol`` counts as 0 (default ``16·d·eps·max|λ|``).

    Returns
    -------
    MPFit

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((400, 200))
    >>> fit = fit_mp(np.linalg.eigvalsh(X.T @ X / 400))
    >>> round(fit.ratio, 1), round(fit.scale, 2)
    (0.5, 1.0)
    """
    lam = _eigs(eigenvalues, zero_tol)
    if ratio is not None:
        ratio = check_real("ratio", ratio, 0.0, strict_min=True)
    method = check_choice("method", method, FIT_METHODS)
    level = check_probability("level", level)
    n_boot = check_int("n_boot", n_boot, 0)
    outlier_level = check_probability("outlier_level", outlier_level)
    d = lam.size
    core = _mp_procedure(lam, ratio, method, level, outlier_level, bool(exclude_outliers))
    boot: dict[str, np.ndarray] = {}
    p_ks = p_w1 = None
    rci = core.ratio_ci
    if n_boot:
        # N stays real-valued for N ≥ d (a Wishart with real degrees of freedom); below d the
        # rank N must be an integer and is rounded
        seeds = bk.spawn_seeds(seed, n_boot)
        sims = _simulate_mp(d, core.n, core.scale, seeds)
        reps = [_mp_procedure(ev, ratio, method, level, outlier_level, bool(exclude_outliers),
                              want_ci=False) for ev in sims]
        boot = {"ks": np.array([r.ks for r in reps]), "w1": np.array([r.w1 for r in reps]),
                "ratio": np.array([r.ratio for r in reps]),
                "scale": np.array([r.scale for r in reps])}
        p_ks, p_w1 = _p_value(core.ks, boot["ks"]), _p_value(core.w1, boot["w1"])
        if rci is None:  # basic bootstrap interval for the moment estimate of γ
            a = 1.0 - level
            q_lo, q_hi = np.quantile(boot["ratio"], [a / 2, 1 - a / 2])
            rci = (max(0.0, 2 * core.ratio - float(q_hi)), 2 * core.ratio - float(q_lo))
    return MPFit(ratio=core.ratio, scale=core.scale, method=method, ks=core.ks, w1=core.w1,
                 p_value=p_ks, p_value_w1=p_w1, n_boot=n_boot,
                 outliers=tuple(float(v) for v in core.outliers), ratio_ci=rci,
                 scale_ci=core.scale_ci, level=level, threshold=core.threshold, dim=d,
                 n_samples=core.n, ratio_fixed=core.ratio_fixed, boot=boot)


# ---------------------------------------------------------------------------------------------
# weighted MP: the scale
# ---------------------------------------------------------------------------------------------

def _wmp_procedure(lam: np.ndarray, base: WeightedMP, edge: float, sig: float, q: float,
                   n: float, level: float, exclude: bool,
                   bulk_laws: dict) -> tuple[float, tuple[float, float], np.ndarray, np.ndarray,
                                             float, float, float]:
    d = lam.size
    nu = base.weights
    m1, m2 = nu.moment(1), nu.moment(2)
    if m1 <= 0:
        raise ValueError("weights must have a positive mean E[w] to fit a scale by moments")
    k = 0
    for _ in range(10):
        bulk = lam[: d - k]
        c = float(np.mean(bulk)) / m1
        if not c > 0:
            raise ValueError("eigenvalues must have a positive mean to fit a weighted-MP scale")
        thr = c * (edge + sig * q)
        k_new = min(int(np.count_nonzero(lam > thr)), d - 2) if exclude else 0
        if k_new == k:
            break
        k = k_new
    bulk = lam[: d - k]
    db = bulk.size
    # mean λ = c (1/(N d_b)) Σ_n w_n ‖x_n‖²: Var = c² [E w² (1 + 2/d_b) − (E w)²] / N
    rel = math.sqrt(max(m2 * (1 + 2 / db) / (m1 * m1) - 1, 0.0) / n)
    z = critical_value(level)
    lo = c / (1 + z * rel)
    hi = c / (1 - z * rel) if z * rel < 1 else math.inf
    if k == 0:
        law = base
    else:
        if db not in bulk_laws:
            bulk_laws[db] = WeightedMP(db / n, nu)
        law = bulk_laws[db]
    x = bulk / c
    return (c, (lo, hi), bulk, lam[lam > thr][::-1], thr, ks_distance(x, law, zero_tol=0.0),
            c * wasserstein1(x, law, zero_tol=0.0))


def _simulate_wmp(d: int, n: int, c: float, nu: Any, seeds: list) -> list:
    out = []
    vals, probs = nu.values, nu.probs
    for ss in seeds:
        rng = np.random.default_rng(ss)
        X = rng.standard_normal((n, d))
        w = rng.choice(vals, size=n, p=probs)
        B = (X * w[:, None]).T @ X
        out.append(np.sort(np.linalg.eigvalsh(B)) * (c / n))
    return out


def fit_weighted_mp(eigenvalues: Any, ratio: float, weights: Any, *, method: str = "moments",
                    level: float = 0.95, n_boot: int = 0, seed: Any = None,
                    outlier_level: float = 0.01, exclude_outliers: bool = True,
                    zero_tol: float | None = None) -> WeightedMPFit:
    """Fit the scale ``c`` of ``c · WeightedMP(ratio, ν)`` to the eigenvalues of one matrix.

    The moment estimate ``ĉ = mean λ / E_ν[w]`` is unbiased, and ``mean λ`` is an average of
    ``N`` iid terms ``c w_n ‖x_n‖²/d``, so its variance ``c²[E w²(1 + 2/d) − (E w)²]/N`` is
    exact; the CI inverts the normal pivot ``ĉ/c``. (No likelihood is offered: the eigenvalue
    law at finite ``d`` has no closed form, and the limit-density pseudo-likelihood is ill-posed
    when eigenvalues fall outside the limiting support.) Outliers use the Tracy–Widom margin
    ``(π d C)^{−2/3}`` of :func:`edge_scale`; p-values come from a parametric bootstrap of
    fresh weighted covariances ``c (1/N) Σ w_n x_n x_nᵀ`` with ``N = round(d/ratio)``.

    Parameters
    ----------
    eigenvalues : array_like, 1-D, real, finite
        All ``d`` eigenvalues of the matrix.
    ratio : float > 0
        ``γ = d/N``.
    weights : WeightedMP or anything :class:`rmt.laws.WeightedMP` accepts
        The weight law ν (a :class:`~rmt.laws.WeightedMP` of the same ratio is reused as is).
    method : {"moments"}
    level, n_boot, seed, outlier_level, exclude_outliers, zero_tol
        As in :func:`fit_mp`.

    Returns
    -------
    WeightedMPFit
    """
    lam = _eigs(eigenvalues, zero_tol)
    ratio = check_real("ratio", ratio, 0.0, strict_min=True)
    method = check_choice("method", method, ("moments",))
    level = check_probability("level", level)
    n_boot = check_int("n_boot", n_boot, 0)
    outlier_level = check_probability("outlier_level", outlier_level)
    if isinstance(weights, WeightedMP):
        base = weights if weights.ratio == ratio else WeightedMP(ratio, weights.weights)
    else:
        base = WeightedMP(ratio, as_weight_law(weights))
    if not base.weights.moment(1) > 0:
        raise ValueError("weights must have a positive mean E[w] to fit a scale by moments, "
                         f"got E[w] = {base.weights.moment(1):.4g}")
    d = lam.size
    n = d / ratio
    edge = base.support()[1]
    sig = edge_scale(base, d)
    q = tw1_ppf(1.0 - outlier_level)
    bulk_laws: dict = {}
    exclude = bool(exclude_outliers)
    c, sci, _bulk, outl, thr, ks, w1 = _wmp_procedure(lam, base, edge, sig, q, n, level,
                                                      exclude, bulk_laws)
    boot: dict[str, np.ndarray] = {}
    p_ks = p_w1 = None
    if n_boot:
        seeds = bk.spawn_seeds(seed, n_boot)
        sims = _simulate_wmp(d, max(1, int(round(n))), c, base.weights, seeds)
        reps = [_wmp_procedure(ev, base, edge, sig, q, n, level, exclude, bulk_laws)
                for ev in sims]
        boot = {"scale": np.array([r[0] for r in reps]), "ks": np.array([r[5] for r in reps]),
                "w1": np.array([r[6] for r in reps])}
        p_ks, p_w1 = _p_value(ks, boot["ks"]), _p_value(w1, boot["w1"])
    return WeightedMPFit(scale=c, ratio=ratio, method=method, ks=ks, w1=w1, p_value=p_ks,
                         p_value_w1=p_w1, n_boot=n_boot,
                         outliers=tuple(float(v) for v in outl), scale_ci=sci, level=level,
                         threshold=thr, dim=d, base_law=base, boot=boot)
