"""Lindeberg interpolation between data-dependent and independent weights.

The proof's Lindeberg step compares two weighted sample covariances built on the *same* data
``x_n`` (rows of ``X``, shape ``(N, d)``) in the outer products,

* ``B₁ = (1/N) Σ_n f(V x_n) x_n x_nᵀ`` — dependent weights (the Hessian block), and
* ``B₀ = (1/N) Σ_n f(V x̃_n) x_n x_nᵀ`` — independent weights, ``x̃_n`` an independent copy,

where ``f`` is a block weight of the linear cross-entropy model at initialisation (e.g.
``C p_i(1 − p_i)`` for ``C·H_ii`` or ``C² p_i p_j`` for ``−C²·H_ij``, see
:mod:`rmt.covariance`). Two paths join them.

``path="smooth"``
    ``B_t = (1/N) Σ_n f(V y_n(t)) x_n x_nᵀ`` with ``y_n(t) = √t x_n + √(1−t) x̃_n``,
    ``t ∈ [0, 1]``. Only the data *inside the weights* is interpolated. For Gaussian data
    ``y_n(t) ~ N(0, I_d)`` for every ``t`` (covariance ``t + (1 − t) = 1``), so the weights
    ``w_n(t)`` are iid with the same law ``ν`` along the whole path; what changes is their
    dependence on ``x_n``: ``Cov(x_n, y_n(t)) = √t I``. ``t = 1`` gives ``B₁`` and ``t = 0``
    gives ``B₀``, exactly (the end points are not interpolated in floating point).
``path="replacement"``
    ``B^{(k)}`` uses the independent weight ``f(V x̃_n)`` for the first ``k`` samples and the
    dependent one for the rest, ``k = 0..N`` (the classical Lindeberg swap): ``B^{(0)} = B₁``,
    ``B^{(N)} = B₀``. Its path coordinate is ``τ = 1 − k/N`` so that ``τ = 1`` is the
    dependent end on both paths. Valid for any data law.

Along a path the Monte Carlo engine (:func:`simulate_path`) estimates the expected Stieltjes
transform ``E s(z) = E (1/d) tr (B − z)⁻¹`` on a grid of ``z`` in the upper half-plane, the gap
``Δ(τ, z) = E s_τ(z) − E s_0(z)``, spectral moments ``(1/d) tr B^k`` and the empirical spectral
density on fixed bins, each with a confidence interval over seeded trials
(:mod:`rmt.montecarlo`); NumPy or CuPy.

Estimators of the gap
---------------------
The gap is ``O(C/d)`` at fixed ``C`` (derivation ``lindeberg.rank_bound`` in
``proofs/lindeberg.py``), while ``s`` itself fluctuates by ``O(1/√N)`` from trial to trial
(the empirical law of the ``N`` weights fluctuates), so a plain difference of two independent
means would drown it. All estimators below are *exactly unbiased* for ``Δ``; they differ only
in variance, and all use common random numbers (one ``X``, ``X̃``, ``V`` per trial for every
point of the path).

``"direct"``
    ``s(B_τ) − s(B_0)`` on the same draw.
``"control"``
    ``direct − [F(w(τ) ∘ r) − F(w(0) ∘ r)]`` where ``F(u)`` is the Stieltjes transform of the
    deterministic equivalent with the trial's own weights ``u`` (:func:`deterministic_stieltjes`,
    the generalized Marchenko–Pastur equation ``m = 1/(−z + (1/N) Σ u_n/(1 + γ u_n m))``) and
    ``r_n = ‖P⊥x_n‖²/(d − rank V)`` the squared norm of ``x_n`` off the row space of ``V``. For
    Gaussian data ``P⊥x_n`` is independent of ``(P x_n, x̃_n)``, hence of ``w_n(τ)``, and
    ``w(τ)`` is iid ``ν`` for every ``τ``: the vector ``(w(τ), r)`` has the same law for every
    ``τ``, so the subtracted term has mean exactly zero. It removes the weight-law fluctuation.
    (``r ≡ 1`` for non-Gaussian data or ``rank V = d``, still exactly mean zero.)
``"coupled"``
    ``s(B_τ) − s(B̌_τ)`` with ``B̌_τ = (1/N) Σ_n w_n(τ) x̌_n x̌_nᵀ``, ``x̌_n = P⊥x_n + P x̂_n``
    and ``x̂_n`` a fresh Gaussian copy. ``x̌_n ~ N(0, I)`` is independent of ``w_n(τ)`` (which
    sees ``x_n`` only through ``P x_n``), so ``B̌_τ`` has exactly the law of ``B₀`` and
    ``E s(B̌_τ) = E s_0``. ``B_τ − B̌_τ`` has rank ``≤ 2 rank V``, so each trial's difference is
    at most ``2 rank V/(d Im z)`` — the proof's coupling made numerical. Gaussian data only.
``"auto"`` (default)
    ``"coupled"`` for Gaussian data when ``rank V < d``, otherwise ``"control"``.

Sup of the gap and its noise floor
----------------------------------
:meth:`LindebergPath.sup_gap` reports ``sup_{τ, z} |Δ̂(τ, z)|`` over the grid (the reference
point ``τ = 0`` excluded), where it is attained, a bootstrap CI over trials, and the *noise
floor*: the distribution of ``sup |ε|`` for pure noise ``ε`` with the measured covariance
(multiplier bootstrap: ``ε* = (1/T) Σ_i g_i (D_i − D̄)``, ``g_i ~ N(0, 1)``). A sup of noisy
differences is biased upwards; the point is "above the floor" only when its bootstrap lower
bound exceeds the floor's ``level`` quantile. With the same number of trials at every ``d`` and
signal and noise both ``∝ 1/d`` the relative bias is the same at every ``d`` and cancels in a
log-log slope; points under the floor are left out of :func:`gap_rate`'s fit.

Modules
-------
:mod:`~rmt.lindeberg.draw` (one draw: :class:`LindebergDraw`, :func:`draw_lindeberg`),
:mod:`~rmt.lindeberg.control` (:func:`deterministic_stieltjes`), :mod:`~rmt.lindeberg.sup`
(:func:`sup_gap`, power-law fits), :mod:`~rmt.lindeberg.path` (:func:`plan_path`,
:func:`path_trial`, :func:`simulate_path`), :mod:`~rmt.lindeberg.rate` (:func:`gap_rate`). What a
draw is made of (model, weights, scale, data law, backend, dtype) is one
:class:`rmt.covariance.DrawSpec`.
"""

from __future__ import annotations

from .control import deterministic_stieltjes
from .draw import PATHS, LindebergDraw, draw_lindeberg, path_grid
from .path import (
    DEFAULT_Z,
    ESTIMATORS,
    PATH_SPEC,
    LindebergPath,
    PathPlan,
    path_trial,
    plan_path,
    side_seed,
    simulate_path,
)
from .rate import GapRate, gap_rate, trials_inverse_d
from ..stats import PowerLawFit, fit_power_law  # re-exported: rmt.stats is their home
from .sup import SupGap, sup_gap

__all__ = [
    "PATHS",
    "ESTIMATORS",
    "DEFAULT_Z",
    "PATH_SPEC",
    "LindebergDraw",
    "draw_lindeberg",
    "path_grid",
    "deterministic_stieltjes",
    "SupGap",
    "sup_gap",
    "PowerLawFit",
    "fit_power_law",
    "LindebergPath",
    "PathPlan",
    "plan_path",
    "path_trial",
    "side_seed",
    "simulate_path",
    "GapRate",
    "gap_rate",
    "trials_inverse_d",
]
