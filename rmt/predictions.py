r"""Predicted off-/diagonal block ratios of the Hessian at initialisation, at finite C, d and N.

Everything here is a *prediction*: numbers computed from the derivations in ``proofs/`` (their
SymPy results, lambdified through :func:`rmt.claims.derived`, so a derivation whose own check
fails is never used) and from exact one-dimensional quadratures of softmax moments. Nothing is
simulated, except where ``method="montecarlo"`` asks for the Monte Carlo weight moments of
:func:`rmt.laws.block_weight_moments` as a cross-check.

Which ratio
-----------
For the linear CE model at init the prediction is the ratio of **root-mean-square** block norms

    per-block:  R_pb = (E‖H_ij‖²_F / E‖H_ii‖²_F)^{1/2}   (i ≠ j),
    aggregate:  R_agg = (E Σ_{i≠j}‖H_ij‖²_F / E Σ_i‖H_ii‖²_F)^{1/2} = √(C−1)·R_pb,

the second by exchangeability of the classes (``proofs.finite_c_ratio.aggregate``), so the
measured per-block RMS ratio is ``aggregate/√(C−1)`` — computed exactly over all pairs by
:func:`rmt.hessian.block_ratio`. The *mean of the ratios* ``E[‖H_ij‖/‖H_ii‖]`` over pairs (the
``per_block_mean`` of :class:`rmt.hessian.BlockRatio`) is a different statistic: by Jensen it
lies below ``R_pb``. The gap is set by the fluctuation of a single block's norm, which is
dominated not by ``d`` but by the heavy-tailed weights summed over the ``N`` samples
(``Σ_n (p_ni p_nj)²``, whose relative variance grows like ``e^{4σ²}…e^{8σ²}``/N): it vanishes
as ``N → ∞`` but is a few per cent at ``σ = 1, N = 800, C ≥ 200`` (measured; see the sweep).
It is not predicted here.

The finite-d, N terms
---------------------
``correction`` selects how ``d`` and ``N`` enter:

``"model"`` (default)
    The model itself: its weights depend on the data through ``z = V x``.
    ``proofs.finite_c_ratio.model`` gives ``E‖H‖²`` to relative ``O(d⁻²)``:
    ``N⁻²[N d² U₂ + N(N−1)(d U₁² + 3d K₂/(d+2))]`` with ``U_k = E[u^k M_k(σ²u)]``,
    ``u ~ χ²_d/d`` (Gauss quadrature for the Gamma law, Golub–Welsch), ``M_k(s)`` the weight
    moments at logit variance ``s`` and ``K₂ = (s²/2) Σ_{c,c'} (E ∂_c∂_{c'} w)²``.
``"independent"``
    The Lindeberg surrogate (weights independent of ``x``): the exact formula
    ``C·R_pb = (((d+2)B₂ + (N−1)B₁²)/((d+2)A₂ + (N−1)A₁²))^{1/2}`` of
    ``proofs.block_norm_limits.per_block_ratio``. It misses an ``O(1/d)`` term (about +0.9 %
    at ``σ = 1, d = 400, C = 1000``).
``"none"``
    ``d, N → ∞`` at ``d/N = γ``: ``C·R_pb → ((γB₂ + B₁²)/(γA₂ + A₁²))^{1/2}``.

The weight moments ``A_k = E[(C p_i(1−p_i))^k]``, ``B_k = E[(C² p_i p_j)^k]`` come from the
exact Laplace representation of ``proofs.large_c.laplace_exact``, extended by factors
``z^a`` (:func:`softmax_moment`), evaluated by the trapezoidal rule in ``log t`` and ``z`` (both
integrands are analytic in a strip of half-width π/2, so the error is ``O(e^{−π²/h})`` ≈
``e^{−98}`` for the step ``h = 0.1``; checked against SciPy's adaptive quadrature to 1e-12).

Large-C limits: ``C·R_pb → κ(σ, γ) = ((γe^{2σ²}+1)/(γe^{σ²}+1))^{1/2}`` (d, N → ∞), and at
finite ``d, N`` (``correction="model"``) the closed form ``c_ratio_model_large_c`` of
``proofs.finite_c_ratio.model``; ``√C·R_agg`` tends to the same constant.

Examples
--------
>>> from rmt.predictions import predict_block_ratio
>>> p = predict_block_ratio(200, sigma=1.0, dim=400, n_samples=800)   # doctest: +SKIP
>>> round(p.c_per_block, 3), round(p.kappa, 3)                       # doctest: +SKIP
(1.388, 1.424)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .stats import PowerLawFit, fit_power_law
from .validation import check_choice, check_int, check_real

__all__ = [
    "CORRECTIONS",
    "METHODS",
    "MAX_SIGMA",
    "softmax_moment",
    "WeightMomentsAB",
    "weight_moments",
    "curvature_terms",
    "kappa",
    "kappa_finite_d",
    "RatioPrediction",
    "predict_block_ratio",
    "ratio_curve",
    "SlopeFit",
    "fit_loglog_slope",
    "HiddenPrediction",
    "predict_hidden_ratio",
]

CORRECTIONS = ("model", "independent", "none")
METHODS = ("quadrature", "montecarlo")
#: Largest logit scale σ accepted: the quadrature grids grow like σ², and the weights' moments
#: like e^{4σ²}; beyond 3 neither the predictions nor the simulations are informative.
MAX_SIGMA = 3.0
#: Gauss nodes for the χ²_d/d law of u = ‖x‖²/d (converged to 1e-9 at 8 nodes for d ≥ 8σ²).
_U_NODES = 12
#: Step of the trapezoidal rules (see the module docstring for the error bound).
_H = 0.1


# ---------------------------------------------------------------------------------------------
# exact softmax moments: E[Π_k p_k^{m_k} z_k^{a_k}] over distinct classes k
# ---------------------------------------------------------------------------------------------

class _LaplaceTable:
    """Integrals ``φ_{m,a}(t) = E[z^a e^{mz − t e^z}]``, ``z ~ N(0, σ²)``, on a grid of
    ``u = log t``.

    ``E[Π_k p_k^{m_k} z_k^{a_k}]`` for ``q`` distinct classes with ``M = Σ m_k ≥ 1`` is
    ``Γ(M)⁻¹ ∫ t^{M−1} Π_k φ_{m_k,a_k}(t) φ_{0,0}(t)^{C−q} dt``
    (``S^{−M} = Γ(M)⁻¹∫t^{M−1}e^{−tS}dt``
    and independence of the classes; ``proofs.large_c.laplace_exact`` for ``a = 0``).
    """

    M_MAX = 4

    def __init__(self, sigma: float) -> None:
        s = float(sigma)
        hz = min(_H, s / 4.0)   # the Gaussian factor needs h ≲ σ/4 for e^{−2π²σ²/h²} < e^{−300}
        z = np.arange(-14.0 * s, self.M_MAX * s * s + 14.0 * s + hz, hz)
        self.z = z
        self._log_wz = -z * z / (2.0 * s * s) + math.log(hz / (math.sqrt(2.0 * math.pi) * s))
        self.wz = np.exp(self._log_wz)
        # t from far below the peak (≈ 1/(C e^{σ²/2}); C ≤ e^{20}) to where φ_m(t) is negligible
        self.u = np.arange(-80.0 - 0.5 * s * s, 12.0 + 40.0 * s * s + _H, _H)
        with np.errstate(over="ignore", under="ignore"):
            X = -np.expm1(-np.outer(np.exp(self.u), np.exp(z)))   # 1 − e^{−t e^z}, accurate
        one_minus_phi0 = np.minimum(X @ self.wz, 1.0)
        with np.errstate(divide="ignore"):
            self.log_phi0 = np.log1p(-one_minus_phi0)
        self.E = 1.0 - X
        self._phi: dict[tuple[int, int], np.ndarray] = {}

    def phi(self, m: int, a: int) -> np.ndarray:
        key = (m, a)
        if key not in self._phi:
            # e^{mz} and the Gaussian weight in one exponential (at most e^{m²σ²/2}): apart,
            # e^{mz} overflows at the top of the z grid (z ≈ 4σ² + 14σ) from σ ≈ 5 on
            with np.errstate(under="ignore"):
                self._phi[key] = self.E @ (np.exp(self._log_wz + m * self.z) * self.z ** a)
        return self._phi[key]

    def moment(self, spec: Sequence[tuple[int, int]], C: int) -> float:
        from scipy.special import gammaln  # noqa: PLC0415

        q = len(spec)
        if q > C:
            return 0.0
        M = sum(m for m, _ in spec)
        prod = np.ones_like(self.u)
        for m, a in spec:
            prod = prod * self.phi(m, a)
        with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
            power = np.where(np.isneginf(self.log_phi0), -np.inf, (C - q) * self.log_phi0) \
                if C > q else np.zeros_like(self.u)
            # One exponential with the φ product's log inside: apart, t^M = e^{Mu} overflows at
            # large τ (u reaches 12 + 40τ²) where the product is tiny, and inf·tiny is inf; where
            # every φ vanished on the grid (t beyond the truncated z range, whose true
            # contribution is below e^{-98}) the log is −∞ and the term 0.
            f = np.sign(prod) * np.exp(power + M * self.u - gammaln(M) + np.log(np.abs(prod)))
        if not np.all(np.isfinite(f)):
            raise RuntimeError(f"softmax moment quadrature overflowed (spec {list(spec)}, "
                               f"C = {C}); sigma is too large for the grid")
        return float(np.sum(f) * _H)


@functools.lru_cache(maxsize=64)
def _table(sigma: float) -> _LaplaceTable:
    return _LaplaceTable(sigma)


def _check_sigma(sigma: Any) -> float:
    return check_real("sigma", sigma, 0.0, MAX_SIGMA)


def _check_classes(n_classes: Any) -> float:
    if isinstance(n_classes, (float, np.floating)) and math.isinf(n_classes) and n_classes > 0:
        return math.inf
    return float(check_int("n_classes", n_classes, 2))


def softmax_moment(spec: Sequence[tuple[int, int]], n_classes: int, sigma: float) -> float:
    """``E[Π_k p_k^{m_k} z_k^{a_k}]`` over distinct classes ``k``, logits ``z ~ N(0, σ² I_C)``.

    Parameters
    ----------
    spec : sequence of (m, a)
        One pair of non-negative integers per distinct class: the power ``m ≤ 4`` of its
        probability and ``a ≤ 4`` of its logit. ``Σ m ≥ 1``; at most ``n_classes`` pairs (more
        give 0: those classes do not exist, and every caller multiplies such a term by 0).
    n_classes : int >= 2
    sigma : float in [0, MAX_SIGMA]

    Returns
    -------
    float
        The moment, to about 1e-12 relative accuracy.

    Examples
    --------
    >>> round(10 * softmax_moment([(1, 0)], 10, 1.0), 12)   # E p_i = 1/C
    1.0
    """
    C = _check_classes(n_classes)
    if math.isinf(C):
        raise ValueError("n_classes must be a finite integer >= 2 for softmax_moment, got inf")
    s = _check_sigma(sigma)
    try:
        pairs = [(check_int("spec m", m, 0, _LaplaceTable.M_MAX), check_int("spec a", a, 0, 4))
                 for m, a in spec]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"spec must be a sequence of (m, a) integer pairs with 0 <= m <= "
                         f"{_LaplaceTable.M_MAX}, 0 <= a <= 4 ({exc})") from None
    if not pairs or sum(m for m, _ in pairs) < 1:
        raise ValueError("spec must hold at least one class with a probability power m >= 1")
    Ci = int(C)
    if s == 0.0:   # p = 1/C and z = 0 exactly
        return 0.0 if any(a for _, a in pairs) else (0.0 if len(pairs) > Ci
                                                     else Ci ** -float(sum(m for m, _ in pairs)))
    return _table(s).moment(pairs, Ci)


# ---------------------------------------------------------------------------------------------
# weight moments and curvature terms
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightMomentsAB:
    """Scaled block-weight moments at ``C`` classes and logit scale ``σ``.

    ``A_k = E[(C p_i(1−p_i))^k]`` (diagonal block), ``B_k = E[(C² p_i p_j)^k]`` (off-diagonal,
    sign dropped), with standard errors (0 for the exact quadrature and the C → ∞ limits).
    """

    n_classes: float
    sigma: float
    A1: float
    A2: float
    B1: float
    B2: float
    stderr: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    method: str = "quadrature"


def weight_moments(n_classes: Any, sigma: float = 1.0, *, method: str = "quadrature",
                   n_samples: int = 2 ** 22, seed: Any = 0) -> WeightMomentsAB:
    """``A₁, A₂, B₁, B₂`` at finite ``C`` (or their limits ``1, e^{σ²}, 1, e^{2σ²}`` at ``C = ∞``).

    Parameters
    ----------
    n_classes : int >= 2 or math.inf
    sigma : float in [0, MAX_SIGMA]
    method : {"quadrature", "montecarlo"}
        ``"quadrature"``: exact (:func:`softmax_moment`; ``A₁ = C(E p − E p²)``,
        ``A₂ = C²(E p² − 2E p³ + E p⁴)``, ``B₁ = C² E p_ip_j``, ``B₂ = C⁴ E (p_ip_j)²``,
        ``proofs.finite_c_ratio.aggregate``). ``"montecarlo"``:
        :func:`rmt.laws.block_weight_moments` with its standard errors.
    n_samples, seed
        For ``"montecarlo"`` only.

    Returns
    -------
    WeightMomentsAB
    """
    C = _check_classes(n_classes)
    s = _check_sigma(sigma)
    method = check_choice("method", method, METHODS)
    if math.isinf(C):
        r = math.exp(s * s)
        return WeightMomentsAB(C, s, 1.0, r, 1.0, r * r, method="limit")
    Ci = int(C)
    if method == "montecarlo":
        from .laws import block_weight_moments  # noqa: PLC0415

        n_samples = check_int("n_samples", n_samples, 4)
        a = block_weight_moments(Ci, s, block="diagonal", n_samples=n_samples, seed=seed)
        b = block_weight_moments(Ci, s, block="offdiagonal", n_samples=n_samples, seed=seed)
        # offdiagonal moments carry the sign of −p_i p_j: E[(−b)^k] = (−1)^k B_k
        return WeightMomentsAB(C, s, float(a.values[0]), float(a.values[1]),
                               float(-b.values[0]), float(b.values[1]),
                               (float(a.stderr[0]), float(a.stderr[1]), float(b.stderr[0]),
                                float(b.stderr[1])), "montecarlo")
    return _weight_moments_quad(Ci, s)


def _weight_moments_quad(Ci: int, s: float) -> WeightMomentsAB:
    """Exact moments without validation (internal: the u-quadrature of the model term evaluates
    them at σ√u, which may exceed MAX_SIGMA by the spread of u = χ²_d/d)."""
    m = functools.partial(_moment_unchecked, C=Ci, s=s)
    p1, p2, p3, p4 = m([(1, 0)]), m([(2, 0)]), m([(3, 0)]), m([(4, 0)])
    A1 = Ci * (p1 - p2)
    A2 = Ci ** 2 * (p2 - 2 * p3 + p4)
    B1 = Ci ** 2 * m([(1, 0), (1, 0)])
    B2 = float(Ci) ** 4 * m([(2, 0), (2, 0)])
    return WeightMomentsAB(float(Ci), s, A1, A2, B1, B2)


def _moment_unchecked(spec: list[tuple[int, int]], C: int, s: float) -> float:
    if s == 0.0:
        return 0.0 if any(a for _, a in spec) or len(spec) > C else C ** -float(
            sum(m for m, _ in spec))
    return _table(s).moment(spec, C)


def curvature_terms(n_classes: Any, sigma: float = 1.0) -> tuple[float, float]:
    """``(K₂ᵃ, K₂ᵇ)``: ``(σ⁴/2) Σ_{c,c'} (E ∂_{z_c}∂_{z_{c'}} w)²`` for the scaled weights
    ``a = C p_i(1−p_i)`` and ``b = C² p_i p_j`` at logit variance ``σ²``.

    They carry the second-order (``ρ²``) Mehler term of ``proofs.finite_c_ratio.model``.
    ``E ∂_c∂_{c'} w = E[w (z_c z_{c'} − σ²δ_{cc'})]/σ⁴`` (Stein) by exact quadrature, summed over
    the class types of the derivation's ``k2_sum_diag`` / ``k2_sum_offdiag`` (lambdified).
    Limits ``C → ∞``: ``(σ⁴/2, 2σ⁴)``.

    Parameters
    ----------
    n_classes : int >= 2 or math.inf
    sigma : float in [0, MAX_SIGMA]

    Returns
    -------
    tuple of float
    """
    C = _check_classes(n_classes)
    sig = _check_sigma(sigma)
    s = sig * sig
    f = _model_functions()
    if math.isinf(C):
        return float(f["k2a_lim"](sig)), float(f["k2b_lim"](sig))
    if s == 0.0:
        return 0.0, 0.0
    Ci = int(C)
    m = functools.partial(_moment_unchecked, C=Ci, s=sig)
    # off-diagonal w = p_i p_j; classes i (first), j (second), k, l (others)
    Ew = m([(1, 0), (1, 0)])
    Dii = (m([(1, 2), (1, 0)]) - s * Ew) / s ** 2
    Dij = m([(1, 1), (1, 1)]) / s ** 2
    Dik = m([(1, 1), (1, 0), (0, 1)]) / s ** 2
    Dkk = (m([(1, 0), (1, 0), (0, 2)]) - s * Ew) / s ** 2
    Dkl = m([(1, 0), (1, 0), (0, 1), (0, 1)]) / s ** 2
    off = float(f["k2_off"](Dii, Dij, Dik, Dkk, Dkl, Ci))
    # diagonal w = p_i − p_i²; classes i, k, l
    Ew = m([(1, 0)]) - m([(2, 0)])
    Dii = (m([(1, 2)]) - m([(2, 2)]) - s * Ew) / s ** 2
    Dik = (m([(1, 1), (0, 1)]) - m([(2, 1), (0, 1)])) / s ** 2
    Dkk = (m([(1, 0), (0, 2)]) - m([(2, 0), (0, 2)]) - s * Ew) / s ** 2
    Dkl = (m([(1, 0), (0, 1), (0, 1)]) - m([(2, 0), (0, 1), (0, 1)])) / s ** 2
    diag = float(f["k2_diag"](Dii, 0.0, Dik, Dkk, Dkl, Ci))
    return 0.5 * s * s * diag * Ci ** 2, 0.5 * s * s * off * float(Ci) ** 4


# ---------------------------------------------------------------------------------------------
# lambdified derivations
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _limit_functions() -> dict[str, Any]:
    import sympy as sp  # noqa: PLC0415

    from .claims import derived  # noqa: PLC0415

    o = derived("block_norm_limits.per_block_ratio")
    S = o["symbols"]   # by name: a reordering in proofs/ cannot wire the wrong symbol
    d, N, A1, A2, B1, B2, g, s, C = (S[k] for k in ("d", "N", "A1", "A2", "B1", "B2", "gamma",
                                                     "sigma", "C"))
    ag = derived("finite_c_ratio.aggregate")
    return {
        "c_exact": sp.lambdify((d, N, A1, A2, B1, B2), o["c_ratio_exact"], "math"),
        "c_limit_moments": sp.lambdify((g, A1, A2, B1, B2), o["c_ratio_limit_moments"], "math"),
        "kappa": sp.lambdify((s, g), o["kappa"], "numpy"),
        "agg_exact": sp.lambdify((d, N, A1, A2, B1, B2, C), ag["aggregate_ratio_exact"], "math"),
        "agg_limit_moments": sp.lambdify((g, A1, A2, B1, B2, C),
                                         ag["aggregate_ratio_limit_moments"], "math"),
    }


@functools.lru_cache(maxsize=1)
def _model_functions() -> dict[str, Any]:
    import sympy as sp  # noqa: PLC0415

    from .claims import derived  # noqa: PLC0415

    o = derived("finite_c_ratio.model")
    S = o["symbols"]   # by name, as above
    d, N, U1a, U2a, K2a, U1b, U2b, K2b, C, s, g = (
        S[k] for k in ("d", "N", "U1a", "U2a", "K2a", "U1b", "U2b", "K2b", "C", "sigma", "gamma"))
    # the argument order of k2_off/k2_diag (_curvature_terms calls them positionally)
    D = tuple(o["d_types"][k] for k in ("D_ii", "D_ij", "D_ik", "D_kk", "D_kl"))
    return {
        "c_model": sp.lambdify((d, N, U1a, U2a, K2a, U1b, U2b, K2b), o["c_ratio_model"], "math"),
        "agg_model": sp.lambdify((d, N, U1a, U2a, K2a, U1b, U2b, K2b, C),
                                 o["aggregate_ratio_model"], "math"),
        "c_large_c": sp.lambdify((s, d, N), o["c_ratio_model_large_c"], "numpy"),
        "k2_off": sp.lambdify((*D, C), o["k2_sum_offdiag"], "math"),
        "k2_diag": sp.lambdify((*D, C), o["k2_sum_diag"], "math"),
        "k2a_lim": sp.lambdify(s, o["k2_limit_diag"], "math"),
        "k2b_lim": sp.lambdify(s, o["k2_limit_offdiag"], "math"),
    }


def kappa(sigma: Any, gamma: Any) -> Any:
    """``κ(σ, γ) = ((γe^{2σ²}+1)/(γe^{σ²}+1))^{1/2}``: the limit of ``C·R_pb`` (and of
    ``√C·R_agg``) as ``d, N → ∞`` (``d/N = γ``) and then ``C → ∞``.

    Lambdified from ``proofs.block_norm_limits.per_block_ratio``; accepts arrays.
    """
    s = np.asarray(sigma, dtype=float)
    g = np.asarray(gamma, dtype=float)
    if not (np.all(np.isfinite(s)) and np.all(s >= 0)):
        raise ValueError(f"sigma must be finite real numbers >= 0, got {sigma!r}")
    if not (np.all(np.isfinite(g)) and np.all(g > 0)):
        raise ValueError(f"gamma must be finite real numbers > 0, got {gamma!r}")
    out = _limit_functions()["kappa"](s, g)
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=float)


def kappa_finite_d(sigma: float, dim: int, n_samples: int) -> float:
    """The ``C → ∞`` limit of ``C·R_pb`` of the model at finite ``d, N`` (``correction="model"``):
    the closed form ``c_ratio_model_large_c`` of ``proofs.finite_c_ratio.model``.

    Requires ``d > 4σ²`` (the ``χ²_d`` moment generating function at ``2σ²`` must exist).
    """
    s = _check_sigma(sigma)
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    if d <= 4.0 * s * s:
        raise ValueError(f"dim must be > 4 sigma^2 = {4 * s * s:g} for the finite-d large-C "
                         f"limit (E[u^2 e^(2 sigma^2 u)] diverges otherwise), got {d}")
    return float(_model_functions()["c_large_c"](s, d, N))


# ---------------------------------------------------------------------------------------------
# the prediction
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RatioPrediction:
    """Predicted RMS block ratios of the linear CE model at init.

    Attributes
    ----------
    n_classes, sigma, gamma, dim, n_samples
        The setting (``dim = n_samples = None``: ``d, N → ∞`` at ``d/N = gamma``).
    correction, method : str
        As passed to :func:`predict_block_ratio`.
    c_per_block : float
        ``C·R_pb``, ``R_pb = (E‖H_ij‖²/E‖H_ii‖²)^{1/2}``.
    per_block : float
        ``R_pb``.
    aggregate : float
        ``R_agg = √(C−1)·R_pb``.
    kappa : float
        Large-C limit of ``C·R_pb`` in the same (d, N) setting (κ(σ, γ) when d, N → ∞).
    per_block_limit, aggregate_limit : float
        ``κ/C`` and ``κ√(C−1)/C`` (NaN at C = ∞).
    stderr_c_per_block : float
        Standard error of ``c_per_block`` propagated from Monte Carlo moments (0 otherwise).
    terms : dict
        The moments and terms used (``A1 … B2``; ``U1a, U2a, K2a, U1b, U2b, K2b`` for "model").
    """

    n_classes: float
    sigma: float
    gamma: float
    dim: int | None
    n_samples: int | None
    correction: str
    method: str
    c_per_block: float
    per_block: float
    aggregate: float
    kappa: float
    per_block_limit: float
    aggregate_limit: float
    stderr_c_per_block: float = 0.0
    terms: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (infinities as the string ``"inf"``)."""
        d = asdict(self)
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()}


def _resolve_sizes(gamma: Any, dim: Any, n_samples: Any) -> tuple[float, int | None, int | None]:
    if dim is None:
        if n_samples is not None:
            raise ValueError("dim must be given with n_samples (or pass only gamma for d, N → ∞)")
        if gamma is None:
            raise ValueError("gamma must be given (> 0) when dim is not")
        return check_real("gamma", gamma, 0.0, strict_min=True), None, None
    d = check_int("dim", dim, 1)
    if n_samples is None:
        if gamma is None:
            raise ValueError("n_samples or gamma must be given with dim")
        g = check_real("gamma", gamma, 0.0, strict_min=True)
        return g, d, max(1, int(round(d / g)))
    N = check_int("n_samples", n_samples, 1)
    if gamma is not None:
        g = check_real("gamma", gamma, 0.0, strict_min=True)
        if abs(round(d / g) - N) > 0.5:
            raise ValueError(f"gamma must equal dim/n_samples = {d / N:g} when all three are "
                             f"given, got {g:g}")
    return d / N, d, N


def _u_nodes(dim: int, n: int = _U_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Gauss nodes and weights for ``u = χ²_d/d`` (generalised Laguerre, Golub–Welsch)."""
    from scipy.linalg import eigh_tridiagonal  # noqa: PLC0415

    alpha = dim / 2.0 - 1.0
    k = np.arange(n, dtype=float)
    off = np.sqrt(np.arange(1, n) * (np.arange(1, n) + alpha))
    y, vec = eigh_tridiagonal(2.0 * k + alpha + 1.0, off)
    w = vec[0] ** 2
    return 2.0 * y / dim, w / w.sum()


def predict_block_ratio(n_classes: Any, sigma: float = 1.0, gamma: float | None = None, *,
                        dim: int | None = None, n_samples: int | None = None,
                        correction: str = "model", method: str = "quadrature",
                        mc_samples: int = 2 ** 22, seed: Any = 0) -> RatioPrediction:
    """Expected per-block and aggregate RMS block ratios of the linear CE model at init.

    Parameters
    ----------
    n_classes : int >= 2 or math.inf
        ``C``. At ``math.inf`` the ratios are 0 and ``kappa`` is the limit of ``C·R_pb``.
    sigma : float in [0, MAX_SIGMA]
        Logit scale (``V_ij ~ N(0, σ²/d)``).
    gamma : float > 0, optional
        ``d/N``. Alone: the ``d, N → ∞`` limit at this ratio (``correction`` is then ``"none"``).
    dim, n_samples : int, optional
        Finite ``d`` and ``N`` (``n_samples`` defaults to ``round(dim/gamma)``).
    correction : {"model", "independent", "none"}
        How finite ``d, N`` enter (module docstring). ``"model"`` needs ``dim > 8σ²`` (its
        expansion in ``1/d`` uses moments of ``e^{2σ²u}`` that blow up below).
    method : {"quadrature", "montecarlo"}
        Weight moments by exact quadrature, or by :func:`rmt.laws.block_weight_moments` (with a
        propagated standard error; only with ``correction`` "independent" or "none").
    mc_samples, seed
        For ``method="montecarlo"``.

    Returns
    -------
    RatioPrediction

    Raises
    ------
    ValueError
        Out-of-range inputs; inconsistent ``gamma, dim, n_samples``; ``dim <= 8σ²`` with
        ``correction="model"``; ``method="montecarlo"`` with ``correction="model"``.

    Notes
    -----
    The prediction is a ratio of root-mean-squares; see the module docstring for how it
    differs from a mean of per-block ratios.
    """
    C = _check_classes(n_classes)
    s = _check_sigma(sigma)
    g, d, N = _resolve_sizes(gamma, dim, n_samples)
    correction = check_choice("correction", correction, CORRECTIONS)
    method = check_choice("method", method, METHODS)
    if d is None:
        correction = "none"
    if method == "montecarlo" and correction == "model":
        raise ValueError("method must be 'quadrature' with correction='model' (the model term "
                         "needs exact moments at many logit scales); use correction="
                         "'independent' or 'none' for Monte Carlo moments")
    if correction == "model" and d <= 8.0 * s * s:
        raise ValueError(f"dim must be > 8 sigma^2 = {8 * s * s:g} for correction='model', got "
                         f"{d}; use correction='independent'")
    lf = _limit_functions()
    wm = weight_moments(C, s, method=method, n_samples=mc_samples, seed=seed)
    terms: dict[str, float] = {"A1": wm.A1, "A2": wm.A2, "B1": wm.B1, "B2": wm.B2}
    se = 0.0
    if correction == "model":
        mf = _model_functions()
        if math.isinf(C):
            c_pb = float(mf["c_large_c"](s, d, N))
        else:
            u, w = _u_nodes(d)
            U1a = U2a = U1b = U2b = 0.0
            for ui, wi in zip(u, w):
                mi = _weight_moments_quad(int(C), s * math.sqrt(ui))
                U1a += wi * ui * mi.A1
                U2a += wi * ui * ui * mi.A2
                U1b += wi * ui * mi.B1
                U2b += wi * ui * ui * mi.B2
            K2a, K2b = curvature_terms(C, s)
            terms.update(U1a=U1a, U2a=U2a, K2a=K2a, U1b=U1b, U2b=U2b, K2b=K2b)
            c_pb = float(mf["c_model"](d, N, U1a, U2a, K2a, U1b, U2b, K2b))
        kap = float(mf["c_large_c"](s, d, N))
    else:
        if correction == "independent":
            fun = functools.partial(lf["c_exact"], d, N)
            kap = float(fun(1.0, math.exp(s * s), 1.0, math.exp(2 * s * s)))
        else:
            fun = functools.partial(lf["c_limit_moments"], g)
            kap = float(kappa(s, g))
        x = np.array([wm.A1, wm.A2, wm.B1, wm.B2])
        c_pb = float(fun(*x))
        if any(wm.stderr):
            # delta method with a central-difference gradient (step 1e-6 relative: the
            # function is smooth, so the truncation error ~1e-12 is far below any SE)
            grad = np.empty(4)
            for k in range(4):
                h = 1e-6 * abs(x[k])
                xp, xm = x.copy(), x.copy()
                xp[k] += h
                xm[k] -= h
                grad[k] = (fun(*xp) - fun(*xm)) / (2 * h)
            se = float(np.sqrt(np.sum((grad * np.asarray(wm.stderr)) ** 2)))
    if math.isinf(C):
        per_block = aggregate = 0.0
        pb_lim = agg_lim = math.nan
        c_pb = kap
    else:
        per_block = c_pb / C
        aggregate = math.sqrt(C - 1.0) * per_block   # finite_c_ratio.aggregate
        pb_lim = kap / C
        agg_lim = kap * math.sqrt(C - 1.0) / C
    return RatioPrediction(C, s, g, d, N, correction, method, c_pb, per_block, aggregate, kap,
                           pb_lim, agg_lim, se, terms)


def ratio_curve(n_classes: Sequence[Any], sigma: float = 1.0, gamma: float | None = None, *,
                dim: int | None = None, n_samples: int | None = None,
                correction: str = "model") -> dict[str, np.ndarray]:
    """:func:`predict_block_ratio` over an array of ``C`` (quadrature moments).

    Returns
    -------
    dict
        ``"C"``, ``"c_per_block"``, ``"per_block"``, ``"aggregate"`` (arrays), ``"kappa"``
        (float).
    """
    Cs = [_check_classes(c) for c in np.atleast_1d(np.asarray(n_classes, dtype=float))]
    if not Cs:
        raise ValueError("n_classes must hold at least one value")
    preds = [predict_block_ratio(c if math.isinf(c) else int(c), sigma, gamma, dim=dim,
                                 n_samples=n_samples, correction=correction) for c in Cs]
    return {"C": np.array(Cs), "c_per_block": np.array([p.c_per_block for p in preds]),
            "per_block": np.array([p.per_block for p in preds]),
            "aggregate": np.array([p.aggregate for p in preds]),
            "kappa": preds[0].kappa}


# ---------------------------------------------------------------------------------------------
# log-log slopes
# ---------------------------------------------------------------------------------------------

#: A fitted log-log slope: :class:`rmt.stats.PowerLawFit` (re-exported).
SlopeFit = PowerLawFit

#: Fit ``log y`` against ``log x``: :func:`rmt.stats.fit_power_law` (re-exported; the third
#: argument is the standard errors of ``y``).
fit_loglog_slope = fit_power_law


# ---------------------------------------------------------------------------------------------
# one-hidden-layer network (proofs/hidden_coupling)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HiddenPrediction:
    """Predicted RMS block ratios of the one-hidden-layer ReLU net (``proofs.hidden_coupling``).

    Valid under that module's assumptions: (U) uniform softmax (CE; exact as σ → 0), (R) ReLU,
    (O) orthogonal rows of ``W`` for the data factor ρ. ``per_block`` is
    ``(E‖H_kl‖²/E‖H_kk‖²)^{1/2}``; ``aggregate`` is ``√(n_blocks − 1)·per_block``.
    """

    blocks: str
    loss: str
    n_classes: int
    hidden: int
    per_block: float
    aggregate: float
    rate: float
    rho2: float | None


def predict_hidden_ratio(n_classes: int, hidden: int, *, blocks: str = "W", loss: str = "ce",
                         dim: int | None = None, n_samples: int | None = None,
                         gamma: float | None = None) -> HiddenPrediction:
    """RMS block ratios of ``z = V relu(W x)`` from ``proofs.hidden_coupling`` (lambdified).

    W-blocks: ``ρ/√(C+1)`` (CE) or ``ρ/√(C+2)`` (MSE) with ``ρ² = E‖M_kl‖²/E‖M_kk‖²`` exact at
    finite ``d, N`` (``rho2_relu_exact``) or its limit ``(1+4γ)/(4+8γ)``; rate ``−1/2``.
    V-blocks: ``1/(C−1)`` (CE, rate ``−1``), exactly ``0`` (MSE, rate NaN).

    Parameters
    ----------
    n_classes : int >= 2
    hidden : int >= 2
    blocks : {"W", "V"}
    loss : {"ce", "mse"}
    dim, n_samples : int, optional
        Finite sizes for ρ²; otherwise ``gamma`` for its limit (W-blocks only).
    gamma : float > 0, optional

    Returns
    -------
    HiddenPrediction
    """
    import sympy as sp  # noqa: PLC0415

    from .claims import derived  # noqa: PLC0415

    C = check_int("n_classes", n_classes, 2)
    m = check_int("hidden", hidden, 2)
    blocks = check_choice("blocks", blocks, ("w", "v")).upper()
    loss = check_choice("loss", loss, ("ce", "mse"))
    r = derived("hidden_coupling.ratio")
    if blocks == "V":
        if loss == "mse":
            return HiddenPrediction("V", loss, C, m, 0.0, 0.0, math.nan, None)
        pb = float(sp.lambdify(r["C"], r["v_block_ratio_ce"])(C))
        return HiddenPrediction("V", loss, C, m, pb, math.sqrt(C - 1.0) * pb, -1.0, None)
    rf = derived("hidden_coupling.relu_factor")
    if dim is not None:
        check_int("dim", dim, 2)
        # the same resolution (and consistency check of gamma, dim, n_samples) as the linear model
        _, d, Nn = _resolve_sizes(gamma, dim, n_samples)
        rho2 = float(sp.lambdify((rf["d"], rf["N"]), rf["rho2_relu_exact"])(d, Nn))
    else:
        if gamma is None:
            raise ValueError("gamma must be given (> 0) when dim is not")
        g = check_real("gamma", gamma, 0.0, strict_min=True)
        rho2 = float(sp.lambdify(rf["gamma"], rf["rho2_relu"])(g))
    key = "w_block_ratio_ce" if loss == "ce" else "w_block_ratio_mse"
    pb = float(sp.lambdify((r["C"], r["rho"]), r[key])(C, math.sqrt(rho2)))
    return HiddenPrediction("W", loss, C, m, pb, math.sqrt(m - 1.0) * pb, -0.5, rho2)
