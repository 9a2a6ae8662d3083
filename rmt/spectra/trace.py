"""Matrix-free trace estimators: the Stieltjes transform by SLQ with a bound on its quadrature
bias, and the moments ``(1/d) tr A^k`` by Hutchinson's estimator.

Stieltjes transforms by SLQ report the probe standard error and a bound on the Gauss-quadrature
bias: ``f(λ) = 1/(λ − z)`` is analytic inside the Bernstein ellipse ``E_ρ`` of the interval through
``z``, so for any ``1 < ρ' < ρ_z`` the error is at most ``4 M ρ'^{1−2m}/(ρ' − 1)`` with ``M`` the
maximum of ``|f|`` on ``E_ρ'`` (Chebyshev truncation, Trefethen ATAP Thm 8.2, counted for both
measures); the best ``ρ'`` on a grid is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend as bk
from ..validation import check_int, check_real
from ..stats import mean_estimate
from .exact import _as_z
from .lanczos import _interval_from_rules, lanczos, spectral_edges
from .operators import as_operator


def _bernstein_rho(w: np.ndarray) -> np.ndarray:
    s = np.sqrt(w - 1.0 + 0j) * np.sqrt(w + 1.0 + 0j)
    return np.maximum(np.abs(w + s), np.abs(w - s))


def _bias_terms(z: np.ndarray, lower: float, upper: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per ``z``: ellipse parameters ``ρ'`` and ``log(4 M(ρ')/(ρ' − 1))`` (see the bound)."""
    c, h = 0.5 * (lower + upper), 0.5 * (upper - lower)
    w = (z.ravel() - c) / h
    rho_z = _bernstein_rho(w)
    phi = np.linspace(0.0, 2.0 * np.pi, 2049)[:-1]
    e_phi = np.exp(1j * phi)
    terms = []
    for wi, rz in zip(w, rho_z):
        # ρ(z) = 1 means z on the interval (no Bernstein ellipse, no bound); 1e-12 above 1 is
        # ~1e4 eps, so rounding of ρ cannot make a point on the interval look outside it.
        if not rz > 1.0 + 1e-12:
            terms.append((np.empty(0), np.empty(0)))
            continue
        rhos = 1.0 + (rz - 1.0) * np.linspace(0.02, 0.98, 97)
        ell = 0.5 * (rhos[:, None] * e_phi[None, :] + 1.0 / (rhos[:, None] * e_phi[None, :]))
        # sampled distance minus the largest half-chord: a lower bound on the true distance
        chord = 0.5 * np.max(np.abs(np.diff(ell, axis=1, append=ell[:, :1])), axis=1)
        dist = np.min(np.abs(ell - wi), axis=1) - chord
        ok = dist > 0
        logc = np.log(4.0 / (h * dist[ok])) - np.log(rhos[ok] - 1.0)
        terms.append((np.log(rhos[ok]), logc))
    return terms


def _bias_from_terms(terms: list[tuple[np.ndarray, np.ndarray]], m: int) -> np.ndarray:
    out = np.full(len(terms), np.inf)
    for i, (log_r, logc) in enumerate(terms):
        if log_r.size:
            out[i] = math.exp(min(float(np.min(logc + (1 - 2 * m) * log_r)), 700.0))
    return out


def gauss_stieltjes_bias_bound(z: Any, lower: float, upper: float, n_steps: int) -> np.ndarray:
    """Bound on ``|Gauss rule − integral|`` of ``1/(λ − z)`` for any probability measure on
    ``[lower, upper]`` and an ``n_steps``-point Gauss rule.

    ``min_{1<ρ<ρ_z} 4 M(ρ) ρ^{1−2m}/(ρ − 1)`` with ``M(ρ) = 1/(h · dist(w, E_ρ))``,
    ``w = (z − c)/h`` (module notes), minimised over 97 values of ``ρ``. ``inf`` for ``z`` on the
    interval.
    """
    zz = _as_z(z)
    m = check_int("n_steps", n_steps, 1)
    return _bias_from_terms(_bias_terms(zz, lower, upper), m).reshape(zz.shape)


@dataclass(frozen=True, eq=False)
class StieltjesEstimate:
    """Matrix-free estimate of ``s(z)`` by SLQ.

    Attributes
    ----------
    z : complex ndarray
    value : complex ndarray
        Mean over probes of the Gauss rules.
    stderr : complex ndarray
        Probe standard error, real and imaginary parts separately (``SE_re + i SE_im``).
    bias_bound : ndarray
        Bound on the Gauss-quadrature bias (:func:`gauss_stieltjes_bias_bound`) on
        :attr:`interval`.
    probe_values : complex ndarray, shape (k,) + z.shape
    n_probes, n_steps : int
    interval : (float, float)
    """

    z: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    bias_bound: np.ndarray
    probe_values: np.ndarray
    n_probes: int
    n_steps: int
    interval: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"z_real": self.z.real.tolist(), "z_imag": self.z.imag.tolist(),
                "value_real": self.value.real.tolist(), "value_imag": self.value.imag.tolist(),
                "stderr_real": self.stderr.real.tolist(), "stderr_imag": self.stderr.imag.tolist(),
                "bias_bound": self.bias_bound.tolist(), "n_probes": self.n_probes,
                "n_steps": self.n_steps, "interval": list(self.interval)}


def stieltjes_slq(A: Any, z: Any, *, n_probes: int = 32, n_steps: int | None = None,
                  tol: float = 1e-6, max_steps: int = 1000, seed: Any = None) -> StieltjesEstimate:
    """``s(z) = (1/d) tr (A − z)⁻¹`` by stochastic Lanczos quadrature, with probe standard error.

    Parameters
    ----------
    A : operator
        See :func:`as_operator`.
    z : complex or array of complex
        Points off the spectrum.
    n_probes : int, >= 1
        Probes (uniform on the sphere; each gives an unbiased estimate of the exact rule's mean,
        so the standard error is the sample std over probes divided by ``√k``; needs ``k ≥ 2``).
    n_steps : int, optional
        Lanczos steps; default: the fewest (≤ ``max_steps``, ≤ ``d``) whose bias bound at every
        ``z`` is ≤ ``tol / dist(z, interval)`` on an interval from :func:`spectral_edges`.
    tol : float, > 0
        Relative bias tolerance used to choose ``n_steps``.
    max_steps : int, >= 1
    seed : int, SeedSequence or Generator, optional
        Child 0 draws the probes, child 1 seeds the edge estimate.

    Returns
    -------
    StieltjesEstimate
    """
    op = as_operator(A)
    d = op.shape[0]
    zz = _as_z(z)
    k = check_int("n_probes", n_probes, 1)
    tol = check_real("tol", tol, 0.0, strict_min=True)
    max_steps = check_int("max_steps", max_steps, 1)
    ss_probe, ss_edges = bk.spawn_seeds(seed, 2)
    if n_steps is None:
        iv = spectral_edges(op, seed=ss_edges)
        dist = _dist_to_interval(zz.ravel(), iv.lower, iv.upper)
        if np.any(dist <= 0):
            bad = zz.ravel()[dist <= 0][0]
            raise ValueError(f"z must lie off the spectrum (Im z != 0, or real z outside the "
                             f"estimated interval [{iv.lower:.6g}, {iv.upper:.6g}]), got {bad}")
        terms = _bias_terms(zz, iv.lower, iv.upper)
        m = min(max_steps, d)
        lo_m, hi_m = 1, m
        if np.all(_bias_from_terms(terms, m) <= tol / dist):
            while lo_m < hi_m:  # the bound decreases with m: bisect for the fewest steps
                mid = (lo_m + hi_m) // 2
                ok = np.all(_bias_from_terms(terms, mid) <= tol / dist)
                lo_m, hi_m = (lo_m, mid) if ok else (mid + 1, hi_m)
            m = lo_m
    else:
        m = check_int("n_steps", n_steps, 1)
    res = lanczos(op, m, k, seed=ss_probe)
    theta, weights, residuals = res.quadrature()
    iv = _interval_from_rules(theta, residuals)
    zf = zz.ravel()
    per = (weights[:, None, :] / (theta[:, None, :] - zf[None, :, None])).sum(axis=2)  # (k, q)
    if k > 1:   # mean over probes and its SE (real and imaginary parts separately)
        est = mean_estimate(per)
        value, se = est.value, est.stderr
    else:
        value, se = per.mean(axis=0), np.full(zf.shape, np.nan + 1j * np.nan)
    bias = gauss_stieltjes_bias_bound(zf, iv.lower, iv.upper, res.n_steps)
    bias = np.where(res.exhausted.all(), 0.0, bias)
    return StieltjesEstimate(z=zz, value=value.reshape(zz.shape), stderr=se.reshape(zz.shape),
                             bias_bound=np.asarray(bias).reshape(zz.shape),
                             probe_values=per.reshape((k,) + zz.shape), n_probes=k,
                             n_steps=res.n_steps, interval=(iv.lower, iv.upper))


def _dist_to_interval(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    x = np.clip(z.real, lo, hi)
    return np.abs(z - x)


@dataclass(frozen=True, eq=False)
class MomentEstimate:
    """Hutchinson estimates of ``m_k = (1/d) tr A^k``.

    Attributes
    ----------
    orders : ndarray of int
    value, stderr : ndarray
        Mean over probes and its standard error (sample std / √k).
    probe_values : ndarray, shape (k, k_max)
    """

    orders: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    probe_values: np.ndarray

    @property
    def n_probes(self) -> int:
        return int(self.probe_values.shape[0])

    def to_dict(self) -> dict[str, Any]:
        return {"orders": self.orders.tolist(), "value": self.value.tolist(),
                "stderr": self.stderr.tolist(), "n_probes": self.n_probes}


def moments_hutchinson(A: Any, k_max: int, *, n_probes: int = 32,
                       seed: Any = None) -> MomentEstimate:
    """``m_k = (1/d) tr A^k``, ``k = 1..k_max``, by Hutchinson's estimator with Rademacher probes.

    Each probe ``v ∈ {±1}^d`` gives ``vᵀA^k v / d`` (unbiased); ``y_j = A^j v`` gives
    ``vᵀA^{2j}v = ‖y_j‖²`` and ``vᵀA^{2j+1}v = y_jᵀ y_{j+1}``, so ``⌈k_max/2⌉`` block products
    suffice.

    Returns
    -------
    MomentEstimate
    """
    op = as_operator(A)
    xp, d, dt = op.xp, op.shape[0], op.dtype
    k_max = check_int("k_max", k_max, 1)
    k = check_int("n_probes", n_probes, 1)
    # drawn probe by probe (rows), so probe i is the same whatever n_probes is
    V = bk.default_rng(seed, np).integers(0, 2, size=(k, d)).astype(np.float64) * 2.0 - 1.0
    y0 = bk.asarray(V.T, xp, dt)
    # gathered where the vectors live and copied to the host once (a copy per product would
    # synchronise a GPU every time)
    per_dev = xp.zeros((k, k_max), dtype=xp.float64)
    j = 0
    y_j = y0
    y_next = op.matmat(y_j)
    while True:
        if 2 * j >= 1 and 2 * j <= k_max:
            per_dev[:, 2 * j - 1] = xp.sum(y_j * y_j, axis=0) / d
        if 2 * j + 1 <= k_max:
            per_dev[:, 2 * j] = xp.sum(y_j * y_next, axis=0) / d
        if 2 * j + 2 > k_max:
            break
        j += 1
        y_j = y_next
        if 2 * j + 1 <= k_max:
            y_next = op.matmat(y_j)
    per = np.asarray(bk.to_numpy(per_dev), dtype=np.float64)
    if k > 1:
        est = mean_estimate(per)
        value, se = est.value, est.stderr
    else:
        value, se = per.mean(axis=0), np.full(k_max, np.nan)
    return MomentEstimate(orders=np.arange(1, k_max + 1), value=value, stderr=se,
                          probe_values=per)
