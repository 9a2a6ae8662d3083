r"""A posteriori Wasserstein-1 error bounds of stochastic Lanczos quadrature (SLQ) densities.

The SLQ density of a symmetric ``d × d`` operator ``A`` with ``k`` probes ``v`` uniform on the
unit sphere and ``m`` Lanczos steps is the mean of the probes' Gauss rules ``G_v`` (nodes
``θ_{v,j}``, weights ``τ_{v,j}``). Its W1 distance to the spectral measure
``μ = (1/d) Σ_i δ_{λ_i}`` splits (triangle inequality) into

* the **quadrature part** ``W1(mean_v G_v, mean_v μ_v)``, ``μ_v = Σ_i (vᵀu_i)² δ_{λ_i}`` the
  probe's own spectral measure, of which ``G_v`` is the m-point Gauss rule; and
* the **probe part** ``W1(mean_v μ_v, μ)``.

Quadrature part: deterministic, from the Gauss rules alone (Chebyshev–Markov–Stieltjes
inequalities). For nodes ``θ_1 < … < θ_m``, ``Σ_{i<j} τ_i ≤ μ_v((−∞, θ_j))`` and
``μ_v((−∞, θ_j]) ≤ Σ_{i≤j} τ_i``; so on ``[θ_j, θ_{j+1})`` the cdf of ``μ_v`` lies in
``[F_{G_v} − τ_j, F_{G_v} + τ_{j+1}]`` (``τ_0 = τ_{m+1} = 0``; below ``θ_1`` in ``[0, τ_1]``,
above ``θ_m`` in ``[1 − τ_m, 1]``). Averaging over probes, ``|F̄_μ − F̄_G| ≤ max(mean τ_j,
mean τ_{j+1})`` pointwise, and the integral of that over ``[lower, upper]`` bounds the part —
provided ``[lower, upper]`` holds the spectrum (the Ritz-value interval of
:class:`rmt.spectra.SpectralInterval` does once the extreme Ritz pairs have converged).

Probe part: with probability ``≥ confidence`` over the probes. For ``v`` uniform on the sphere,
``vᵀ P_x v`` (``P_x`` the spectral projector on eigenvalues ``≤ x``) is Beta(r/2, (d−r)/2),
which is sub-Gaussian with variance proxy ``≤ 1/(4(d/2 + 1)) = 1/(2d + 4)`` (Marchal & Arbel,
Electron. Commun. Probab. 2017); the mean ``Z(x)`` over ``k`` independent probes has proxy
``σ² = 1/(k(2d + 4))``. With ``X = ∫ |Z(x)| dx`` over an interval of width ``W``, Jensen's
inequality (``dx/W`` a probability measure) gives ``E e^{λX} ≤ sup_x E e^{λW|Z(x)|} ≤
2 e^{λ²W²σ²/2}``, hence ``P(X ≥ W σ (2 ln(2/η))^{1/2}) ≤ η``. Its mean is at most
``W (2k(d + 2))^{-1/2}`` (``Var vᵀP_xv = 2F(1−F)/(d+2) ≤ 1/(2(d+2))``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validation import check_int, check_probability


@dataclass(frozen=True)
class SLQBound:
    """Parts of the W1 error bound of an SLQ density (absolute, in the operator's units).

    Attributes
    ----------
    total : float
        ``quadrature + probe``: a bound on W1 that holds with probability ``≥ confidence`` over
        the probes (given that ``[lower, upper]`` holds the spectrum).
    quadrature : float
        Deterministic given the probes (Chebyshev–Markov–Stieltjes).
    probe : float
        Holds with probability ``≥ confidence`` over the probes.
    probe_mean : float
        Bound on the expectation of the probe part.
    confidence : float
    """

    total: float
    quadrature: float
    probe: float
    probe_mean: float
    confidence: float


def cms_band(nodes: np.ndarray, weights: np.ndarray, lower: float, upper: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints ``x`` (sorted, from ``lower`` to ``upper``) and, on each interval between
    them, the half-width bound ``max(mean τ_j, mean τ_{j+1})`` on ``|F̄_μ − F̄_G|``."""
    th = np.atleast_2d(np.asarray(nodes, dtype=np.float64))
    tw = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    k = th.shape[0]
    o = np.argsort(th, axis=1)
    th = np.take_along_axis(th, o, axis=1)
    tw = np.take_along_axis(tw, o, axis=1)
    tw = tw / tw.sum(axis=1, keepdims=True)
    xs = np.unique(np.concatenate([[lower, upper], th.ravel()]))
    xs = xs[(xs >= lower) & (xs <= upper)]
    mid = 0.5 * (xs[:-1] + xs[1:])
    below = np.zeros(mid.size)
    above = np.zeros(mid.size)
    for v in range(k):
        j = np.searchsorted(th[v], mid, side="right")        # nodes ≤ x
        pad = np.concatenate([[0.0], tw[v], [0.0]])
        below += pad[j] / k
        above += pad[j + 1] / k
    return xs, np.maximum(below, above)


def cms_quadrature_part(nodes: Any, weights: Any, lower: float, upper: float) -> float:
    """The quadrature part (absolute) of the module docstring: ``∫ band`` over the interval."""
    xs, band = cms_band(nodes, weights, lower, upper)
    return float(np.sum(band * np.diff(xs)))


def slq_w1_bound(nodes: Any, weights: Any, lower: float, upper: float, dim: int,
                 confidence: float = 0.95) -> SLQBound:
    """The W1 error bound of an SLQ density derived in the module docstring.

    Parameters
    ----------
    nodes, weights : array, shape (k, m)
        Gauss rules of the ``k`` probes (Ritz values and squared first components).
    lower, upper : float
        An interval that holds the spectrum.
    dim : int
        ``d``.
    confidence : float in (0, 1)
        Probability over the probes with which the probe part holds.

    Returns
    -------
    SLQBound
    """
    conf = check_probability("confidence", confidence)
    d = check_int("dim", dim, 1)
    if not (math.isfinite(lower) and math.isfinite(upper) and upper >= lower):
        raise ValueError(f"lower and upper must be finite with upper >= lower, got "
                         f"[{lower}, {upper}]")
    k = int(np.atleast_2d(np.asarray(nodes)).shape[0])
    quad = cms_quadrature_part(nodes, weights, lower, upper)
    W = float(upper - lower)
    sigma = 1.0 / math.sqrt(k * (2.0 * d + 4.0))
    probe = W * sigma * math.sqrt(2.0 * math.log(2.0 / (1.0 - conf)))
    mean = W / math.sqrt(2.0 * k * (d + 2.0))
    return SLQBound(quad + probe, quad, probe, mean, conf)
