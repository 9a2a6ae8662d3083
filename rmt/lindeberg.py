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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from . import backend as bk
from .covariance import (
    DISTRIBUTIONS,
    WEIGHTS,
    WeightedCovarianceOperator,
    block_weights,
    draw_data,
    resolve_scale,
    weighted_covariance,
)
from .models import LinearClassifier
from .montecarlo import MonteCarloResult, run_trials
from .spectra import eigvalsh_batched, moments_from_eigenvalues, stieltjes_from_eigenvalues
from .stats import Estimate, PowerLawFit, fit_power_law
from .validation import check_choice, check_int, check_probability, check_real

__all__ = [
    "PATHS",
    "ESTIMATORS",
    "DEFAULT_Z",
    "LindebergDraw",
    "draw_lindeberg",
    "path_grid",
    "deterministic_stieltjes",
    "SupGap",
    "sup_gap",
    "PowerLawFit",      # re-exported from rmt.stats
    "fit_power_law",    # re-exported from rmt.stats
    "LindebergPath",
    "side_seed",
    "simulate_path",
    "GapRate",
    "gap_rate",
    "trials_inverse_d",
]

PATHS = ("smooth", "replacement")
ESTIMATORS = ("auto", "direct", "control", "coupled")
#: Default grid of ``z``: ``Re z`` across the bulk of ``C·H_ii`` at ``γ = 1/2``, ``Im z`` of the
#: order of the spectrum's width (where the gap stands out of the Monte Carlo noise).
DEFAULT_Z = tuple(complex(x, y) for y in (0.5, 1.0) for x in (0.25, 0.5, 1.0, 2.0, 3.0))


# --------------------------------------------------------------------------------------------
# One draw of the path
# --------------------------------------------------------------------------------------------

def _check_t(t: Any) -> float:
    return check_real("t", t, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class LindebergDraw:
    """Data, independent copies and model of one draw; gives ``B`` anywhere on either path.

    Attributes
    ----------
    X : array, shape (N, d)
        Data in the outer products (and, at ``t = 1``, in the weights).
    X_tilde : array, shape (N, d)
        Independent copy feeding the independent weights.
    X_hat : array, shape (N, d) or None
        Fresh copy for the coupled reference ``B̌`` (Gaussian data only; None otherwise).
    model : LinearClassifier
    weights : str or callable
        Block weight (``"diag"``, ``"offdiag"`` or ``f(Z)``, see :func:`rmt.covariance.block_weights`).
    block : int, tuple or None
    scale : float
        Multiplier of the weights.
    distribution : str
        Law of the entries of ``X`` (and ``X̃``).
    """

    X: Any
    X_tilde: Any
    X_hat: Any
    model: Any
    weights: Any
    block: Any
    scale: float
    distribution: str
    _cache: dict = field(default_factory=dict, repr=False)

    # -- basic properties ---------------------------------------------------------------------
    @property
    def xp(self) -> ModuleType:
        return bk.get_xp(self.X)

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    # -- weights ------------------------------------------------------------------------------
    def _weights_of(self, Y: Any) -> Any:
        w = block_weights(self.model, Y, self.weights, self.block)
        if self.scale != 1.0:
            w = w * self.scale
        return w

    @property
    def dependent_weights(self) -> Any:
        """``w_n = f(V x_n)`` (scaled): the weights of ``B₁``."""
        if "dep" not in self._cache:
            self._cache["dep"] = self._weights_of(self.X)
        return self._cache["dep"]

    @property
    def independent_weights(self) -> Any:
        """``w̃_n = f(V x̃_n)`` (scaled): the weights of ``B₀``."""
        if "ind" not in self._cache:
            self._cache["ind"] = self._weights_of(self.X_tilde)
        return self._cache["ind"]

    def interpolated_data(self, t: float) -> Any:
        """``Y(t) = √t X + √(1−t) X̃``; ``X`` itself at ``t = 1`` and ``X̃`` at ``t = 0``."""
        t = _check_t(t)
        if t == 1.0:
            return self.X
        if t == 0.0:
            return self.X_tilde
        return math.sqrt(t) * self.X + math.sqrt(1.0 - t) * self.X_tilde

    def smooth_weights(self, t: float) -> Any:
        """Weights ``f(V y_n(t))`` of the smooth path at ``t ∈ [0, 1]``.

        Raises
        ------
        ValueError
            If the data are not Gaussian (the law of ``y_n(t)`` then depends on ``t``).
        """
        t = _check_t(t)
        if self.distribution != "gaussian":
            raise ValueError("path='smooth' needs distribution='gaussian' (the law of "
                             "√t x + √(1−t) x̃ is fixed along the path only for Gaussian data); "
                             f"got {self.distribution!r}, use path='replacement'")
        if t == 1.0:
            return self.dependent_weights
        if t == 0.0:
            return self.independent_weights
        return self._weights_of(self.interpolated_data(t))

    def replacement_weights(self, k: int) -> Any:
        """Weights of ``B^{(k)}``: independent for samples ``0..k−1``, dependent for the rest."""
        k = check_int("k", k, 0, self.n_samples)
        xp = self.xp
        return xp.concatenate([self.independent_weights[:k], self.dependent_weights[k:]])

    def path_weights(self, path: str, s: float) -> Any:
        """Weights at ``t = s`` (smooth) or ``k = s`` (replacement)."""
        path = check_choice("path", path, PATHS)
        return self.smooth_weights(s) if path == "smooth" else self.replacement_weights(int(s))

    # -- the rank-coupled reference ------------------------------------------------------------
    def row_space(self) -> Any:
        """Orthonormal basis ``Q`` (d × r) of the row space of ``V``, or None when it is all of
        ``R^d``."""
        if "Q" not in self._cache:
            xp, V = self.xp, self.model.V
            C, d = V.shape
            if not bool(xp.any(V != 0)):
                Q = xp.zeros((d, 0), dtype=V.dtype)
            elif C >= d:
                Q = None  # rank d almost surely for a Gaussian V
            else:
                Q, R = xp.linalg.qr(V.T)
                diag = xp.abs(xp.diag(R))
                keep = diag > diag.max() * max(C, d) * np.finfo(np.dtype(V.dtype)).eps
                Q = Q[:, keep]
            self._cache["Q"] = Q
        return self._cache["Q"]

    @property
    def rank(self) -> int:
        """``rank V`` (number of directions the weights see)."""
        Q = self.row_space()
        return self.dim if Q is None else int(Q.shape[1])

    def norm_ratios(self) -> Any:
        """``r_n = ‖P⊥x_n‖²/(d − rank V)``; ones for non-Gaussian data or ``rank V = d``."""
        if "r" not in self._cache:
            xp = self.xp
            Q = self.row_space()
            if self.distribution != "gaussian" or Q is None or Q.shape[1] >= self.dim:
                r = xp.ones(self.n_samples, dtype=self.X.dtype)
            else:
                XP = self.X @ Q
                r = (xp.sum(self.X * self.X, axis=1) - xp.sum(XP * XP, axis=1)) / (
                    self.dim - Q.shape[1])
            self._cache["r"] = r
        return self._cache["r"]

    def coupled_data(self) -> Any:
        """``X̌ = X P⊥ + X̂ P`` (rows ``P⊥x_n + P x̂_n``): ``N(0, I)`` rows independent of every
        path weight. Needs Gaussian data."""
        if self.X_hat is None:
            raise ValueError("the coupled reference needs distribution='gaussian' (and a draw "
                             "made with coupled=True)")
        if "Xc" not in self._cache:
            Q = self.row_space()
            if Q is None:
                Xc = self.X_hat
            elif Q.shape[1] == 0:
                Xc = self.X
            else:
                Xc = self.X + ((self.X_hat - self.X) @ Q) @ Q.T
            self._cache["Xc"] = Xc
        return self._cache["Xc"]

    # -- matrices -----------------------------------------------------------------------------
    def covariance(self, path: str = "smooth", s: float = 1.0, *, coupled: bool = False) -> Any:
        """The formed ``B`` at ``t = s`` (smooth) or ``k = s`` (replacement); with
        ``coupled=True`` the reference ``B̌`` with the same weights on ``X̌``."""
        w = self.path_weights(path, s)
        X = self.coupled_data() if coupled else self.X
        return weighted_covariance(X, w, check=False)

    def operator(self, path: str = "smooth", s: float = 1.0, *,
                 coupled: bool = False) -> WeightedCovarianceOperator:
        """``B`` (or ``B̌``) as a matrix-free operator."""
        w = self.path_weights(path, s)
        return WeightedCovarianceOperator(self.coupled_data() if coupled else self.X, w)


def draw_lindeberg(dim: int, n_samples: int, seed: Any = None, *, n_classes: int = 10,
                   sigma: float = 1.0, model: Any = None, weights: Any = "diag",
                   block: Any = None, scale: float | str = 1.0, distribution: str = "gaussian",
                   df: float = 5.0, backend: str | None = None, dtype: Any = None,
                   draw_on: str = "host", coupled: bool = True) -> LindebergDraw:
    """Draw ``X``, ``X̃`` (and ``X̂``) and the model of one Lindeberg path.

    Seeds: children 0, 1, 2, 3 of ``SeedSequence(seed)`` draw ``X``, the model, ``X̃`` and
    ``X̂`` — the first three exactly as :func:`rmt.covariance.draw_covariance` does, so for the
    same seed ``B₁`` and ``B₀`` here are bit for bit its ``coupling="dependent"`` and
    ``"independent"`` matrices.

    Parameters
    ----------
    dim, n_samples : int, >= 1
        ``d`` and ``N``.
    seed : int, SeedSequence or Generator, optional
    n_classes : int, >= 2
        ``C`` of the model drawn here (ignored when ``model`` is given).
    sigma : float, >= 0
        ``V_ij ~ N(0, σ²/d)``.
    model : LinearClassifier, optional
        A fixed model (``model.dim == dim``).
    weights : {"diag", "offdiag"} or callable
    block : int or (int, int), optional
    scale : float or {"C", "C2", "-C", "-C2"}
        Multiplier of the weights (:func:`rmt.covariance.resolve_scale`).
    distribution : {"gaussian", "rademacher", "student_t"}
        Law of the entries of ``X`` and ``X̃``; the smooth path and the coupled reference need
        ``"gaussian"``.
    df : float, > 2
        Student-t degrees of freedom.
    backend : {"numpy", "cupy"}, optional
    dtype : float32 or float64 (default)
    draw_on : {"host", "device"}
    coupled : bool
        Also draw ``X̂`` for the coupled reference (Gaussian data only).

    Returns
    -------
    LindebergDraw

    Examples
    --------
    >>> draw = draw_lindeberg(40, 80, seed=0, scale="C")
    >>> import numpy as np
    >>> bool(np.array_equal(draw.covariance("smooth", 1.0), draw.covariance("replacement", 0)))
    True
    """
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    dist = check_choice("distribution", distribution, DISTRIBUTIONS)
    if isinstance(weights, str):
        check_choice("weights", weights, WEIGHTS)
    elif not callable(weights):
        raise ValueError(f"weights must be one of {WEIGHTS} or a callable, got {weights!r}")
    xp = bk.xp_for(backend)
    name = bk.backend_name(xp)
    dt = bk.resolve_dtype(dtype)
    ss_x, ss_model, ss_tilde, ss_hat = bk.spawn_seeds(seed, 4)
    if model is None:
        model = LinearClassifier.init(n_classes, d, sigma, seed=ss_model, backend=name, dtype=dt)
    else:
        if int(model.dim) != d:
            raise ValueError(f"model.dim must equal dim = {d}, got {model.dim}")
        if bk.backend_name(model.xp) != name:
            raise ValueError(f"model lives on {bk.backend_name(model.xp)} but backend is {name}")
    s = resolve_scale(scale, int(model.n_classes))
    kw = dict(distribution=dist, df=df, backend=name, dtype=dt, draw_on=draw_on)
    X = draw_data(N, d, ss_x, **kw)
    X_tilde = draw_data(N, d, ss_tilde, **kw)
    X_hat = draw_data(N, d, ss_hat, **kw) if (coupled and dist == "gaussian") else None
    return LindebergDraw(X=X, X_tilde=X_tilde, X_hat=X_hat, model=model, weights=weights,
                         block=block, scale=s, distribution=dist)


def path_grid(path: str, n_points: int, n_samples: int | None = None) -> np.ndarray:
    """An evenly spaced grid of the path: ``t = j/(n−1)`` (smooth) or ``k = round(jN/(n−1))``
    (replacement; integers in increasing order, so ``τ = 1 − k/N`` decreases).

    Parameters
    ----------
    path : {"smooth", "replacement"}
    n_points : int, >= 2
    n_samples : int, optional
        ``N``; required for the replacement path.
    """
    path = check_choice("path", path, PATHS)
    n = check_int("n_points", n_points, 2)
    if path == "smooth":
        return np.linspace(0.0, 1.0, n)
    if n_samples is None:
        raise ValueError("n_samples is required for path='replacement'")
    N = check_int("n_samples", n_samples, 1)
    return np.unique(np.round(np.linspace(0, N, n)).astype(int))


# --------------------------------------------------------------------------------------------
# Deterministic equivalent with the trial's own weights (control variate)
# --------------------------------------------------------------------------------------------

def deterministic_stieltjes(w: Any, z: Any, ratio: float, *, tol: float = 1e-12,
                            max_iter: int = 200) -> np.ndarray:
    """Stieltjes transform of the generalized Marchenko–Pastur law of given weights.

    Solves ``m = 1 / (−z + (1/N) Σ_n w_n / (1 + γ w_n m))`` with ``Im m > 0`` for each ``z``
    (``Im z > 0``) and each weight vector: the limit of ``(1/d) tr (B − z)⁻¹`` for
    ``B = (1/N) Σ_n w_n x_n x_nᵀ`` with ``x_n ~ N(0, I_d)`` independent of the weights.
    Damped fixed-point iterations (the map sends the upper half-plane into itself) followed by
    Newton's method on ``G(m) = m(−z + S(m)) − 1``.

    Parameters
    ----------
    w : array, shape (N,) or (b, N)
        Weights (NumPy or CuPy; solved on the host in float64).
    z : complex or array of complex, shape (q,)
        Points with ``Im z > 0``.
    ratio : float, > 0
        ``γ = d/N``.
    tol : float, > 0
        Stop when ``|G(m)| ≤ tol`` (a relative residual: ``G = 0`` at the solution, ``|G + 1|``
        is ``O(1)``).
    max_iter : int, >= 1
        Newton steps at most.

    Returns
    -------
    ndarray of complex, shape (q,) or (b, q)

    Raises
    ------
    ValueError
        On bad input, or when the solve does not converge (the residual is reported).
    """
    W = np.asarray(bk.to_numpy(w), dtype=np.float64)
    if W.ndim not in (1, 2) or W.shape[-1] < 1:
        raise ValueError(f"w must have shape (N,) or (b, N) with N >= 1, got {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("w must contain only finite values (found NaN or infinity)")
    zz = np.atleast_1d(np.asarray(z, dtype=np.complex128))
    if zz.ndim != 1 or not np.all(np.isfinite(zz)) or np.any(zz.imag <= 0):
        raise ValueError("z must be finite complex numbers with Im z > 0")
    g = check_real("ratio", ratio, 0.0, strict_min=True)
    check_real("tol", tol, 0.0, strict_min=True)
    max_iter = check_int("max_iter", max_iter, 1)
    Wb = W[None, :] if W.ndim == 1 else W            # (b, N)
    Wq = Wb[:, None, :]                               # (b, 1, N)
    zq = zz[None, :]                                  # (1, q)

    def S(m: np.ndarray) -> np.ndarray:
        return np.mean(Wq / (1.0 + g * Wq * m[..., None]), axis=-1)

    mean_w = Wb.mean(axis=-1)[:, None]
    m = -1.0 / (zq - mean_w + 0j)                     # Im m > 0 since Im z > 0
    for _ in range(40):
        m = 0.5 * m + 0.5 / (-zq + S(m))
    for _ in range(max_iter):
        den = 1.0 + g * Wq * m[..., None]
        Sm = np.mean(Wq / den, axis=-1)
        dS = -g * np.mean(Wq * Wq / (den * den), axis=-1)
        G = m * (-zq + Sm) - 1.0
        if np.max(np.abs(G)) <= tol:
            break
        dG = -zq + Sm + m * dS
        step = G / dG
        new = m - step
        # keep the iterate in the upper half-plane (halve the step where it would leave)
        bad = new.imag <= 0
        while np.any(bad):
            step = np.where(bad, 0.5 * step, step)
            new = m - step
            bad = new.imag <= 0
        m = new
    G = m * (-zq + S(m)) - 1.0
    res = float(np.max(np.abs(G)))
    if not res <= max(tol, 1e3 * np.finfo(np.float64).eps):
        raise ValueError(f"deterministic_stieltjes did not converge: residual {res:.3g} > tol "
                         f"{tol:g}; increase max_iter or move z away from the real axis")
    return m[0] if W.ndim == 1 else m


# --------------------------------------------------------------------------------------------
# Sup of a gap with its noise floor; power-law fits
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SupGap:
    """``sup |Δ̂|`` over a grid of points, with a bootstrap CI and the Monte Carlo noise floor.

    Attributes
    ----------
    value : float
        ``max_j |mean_i D_ij|`` over the grid points ``j`` (trials ``i``).
    argmax : int
        Flat index of the grid point where it is attained.
    stderr : float
        Bootstrap standard deviation of the sup.
    ci : (float, float)
        Bootstrap percentile interval at ``level``.
    bias : float
        Bootstrap estimate of the sup's upward bias, ``mean(sup*) − value`` (a max of noisy
        estimates exceeds the max of their means; the bootstrap estimate under-corrects when
        several points tie, so it is reported, and :func:`gap_rate` fits both ways).
    noise_floor : float
        Mean of ``sup_j |ε_j|`` for pure noise with the measured covariance (multiplier bootstrap).
    noise_quantile : float
        Its ``level`` quantile.
    above_floor : bool
        ``ci[0] > noise_quantile``: the sup is signal, not the maximum of noise.
    level : float
    n_trials, n_points : int
    """

    value: float
    argmax: int
    stderr: float
    ci: tuple[float, float]
    bias: float
    noise_floor: float
    noise_quantile: float
    above_floor: bool
    level: float
    n_trials: int
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "argmax": self.argmax, "stderr": self.stderr,
                "ci": list(self.ci), "bias": self.bias, "noise_floor": self.noise_floor,
                "noise_quantile": self.noise_quantile, "above_floor": self.above_floor,
                "level": self.level, "n_trials": self.n_trials, "n_points": self.n_points}


def sup_gap(per_trial: Any, level: float = 0.95, *, n_boot: int = 2000,
            seed: Any = 0) -> SupGap:
    """Sup over grid points of the absolute mean of per-trial differences, with its noise floor.

    Parameters
    ----------
    per_trial : array, shape (T, ...)
        Per-trial differences ``D_i`` (real or complex); the trailing axes are the grid.
    level : float in (0, 1)
        Level of the bootstrap interval and of the noise quantile.
    n_boot : int, >= 100
        Bootstrap resamples (trial resampling for the CI; Gaussian multipliers for the floor).
    seed : int, SeedSequence or Generator

    Returns
    -------
    SupGap
    """
    D = np.asarray(bk.to_numpy(per_trial))
    if D.ndim < 1 or D.shape[0] < 2 or D.size == 0:
        raise ValueError(f"per_trial must have shape (T, ...) with T >= 2 trials, got {D.shape}")
    if not np.all(np.isfinite(D)):
        raise ValueError("per_trial must contain only finite values")
    level = check_probability("level", level)
    B = check_int("n_boot", n_boot, 100)
    T = D.shape[0]
    D = D.reshape(T, -1)
    mean = D.mean(axis=0)
    absm = np.abs(mean)
    j = int(np.argmax(absm))
    rng_ci, rng_null = (np.random.default_rng(s) for s in bk.spawn_seeds(seed, 2))
    # Trial resampling: counts of each trial in each resample, so each resample mean is a GEMM.
    counts = rng_ci.multinomial(T, np.full(T, 1.0 / T), size=B).astype(np.float64)
    boot = np.abs(counts @ D / T).max(axis=1)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    # Noise floor: the sup of pure noise with the same covariance as the mean's.
    g = rng_null.standard_normal((B, T))
    null = np.abs(g @ (D - mean) / T).max(axis=1)
    q = float(np.quantile(null, level))
    return SupGap(value=float(absm[j]), argmax=j, stderr=float(boot.std(ddof=1)),
                  ci=(float(lo), float(hi)), bias=float(boot.mean() - absm[j]),
                  noise_floor=float(null.mean()), noise_quantile=q,
                  above_floor=bool(lo > q), level=level, n_trials=T, n_points=int(D.shape[1]))


# --------------------------------------------------------------------------------------------
# Monte Carlo along a path
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LindebergPath:
    """Monte Carlo estimates along one path.

    Attributes
    ----------
    path : {"smooth", "replacement"}
    grid : ndarray
        ``t`` values (smooth) or ``k`` values (replacement), increasing.
    tau : ndarray
        Path coordinate: ``t`` (smooth) or ``1 − k/N`` (replacement); ``τ = 1`` is ``B₁``,
        ``τ = 0`` is ``B₀``.
    z : ndarray of complex
    estimator : str
        The estimator behind ``"gap"`` (``"direct"``, ``"control"`` or ``"coupled"``).
    mc : MonteCarloResult
        Statistics (per grid point, in ``grid`` order): ``"stieltjes"`` (n_grid, q),
        ``"gap"`` and ``"gap.direct"``, ``"gap.control"`` (, ``"gap.coupled"``) (n_grid, q),
        ``"moments"`` and ``"moment_gap"`` (n_grid, K), ``"m1_gap.projected"`` (n_grid,): the
        first-moment gap ``E m₁(τ) − E m₁(0)`` by the exactly unbiased low-variance projection
        ``(1/(dN)) Σ_n (w_n(τ) − w_n(0))(‖P x_n‖² − rank V)`` (Gaussian data; zeros otherwise),
        ``"esd"`` (n_grid, bins),
        ``"esd_outside"`` (n_grid,), ``"weight_mean"`` and ``"weight_var"`` (n_grid,), and for
        the replacement path ``"increment"`` (n_grid − 1, q): ``s(B^{(k+1)}) − s(B^{(k)})``
        at the grid's ``k < N``.
    per_trial_gap : ndarray, shape (T, n_grid, q)
        The per-trial differences behind ``"gap"`` (kept for the bootstrap of the sup).
    edges : ndarray
        Histogram edges of ``"esd"``.
    params : dict
    """

    path: str
    grid: np.ndarray
    tau: np.ndarray
    z: np.ndarray
    estimator: str
    mc: MonteCarloResult
    per_trial_gap: np.ndarray
    edges: np.ndarray
    params: dict

    def __getitem__(self, name: str) -> Estimate:
        return self.mc[name]

    @property
    def reference_index(self) -> int:
        """Index of ``τ = 0`` (``B₀``) in ``grid``."""
        return int(np.argmin(self.tau))

    def gap(self) -> Estimate:
        """``Δ̂(τ, z)`` with its standard error, shape (n_grid, q)."""
        return self.mc["gap"]

    def sup_gap(self, level: float = 0.95, *, n_boot: int = 2000, seed: Any = 0,
                z_index: Any = None) -> tuple[SupGap, float, complex]:
        """``sup_{τ ≠ 0, z} |Δ̂(τ, z)|`` (optionally over a subset ``z_index`` of the z grid).

        Returns
        -------
        (SupGap, τ*, z*)
            The sup, and the path coordinate and ``z`` where it is attained.
        """
        keep = np.arange(self.grid.size) != self.reference_index
        zi = np.arange(self.z.size) if z_index is None else np.atleast_1d(z_index)
        D = self.per_trial_gap[:, keep][:, :, zi]
        res = sup_gap(D, level, n_boot=n_boot, seed=seed)
        a, b = np.unravel_index(res.argmax, D.shape[1:])
        return res, float(self.tau[keep][a]), complex(self.z[zi][b])

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """JSON-ready summary (complex numbers as ``{"real", "imag"}``)."""
        return {"path": self.path, "grid": self.grid.tolist(), "tau": self.tau.tolist(),
                "z": {"real": self.z.real.tolist(), "imag": self.z.imag.tolist()},
                "estimator": self.estimator, "edges": self.edges.tolist(),
                "params": self.params, "monte_carlo": self.mc.to_dict(level)}


_SIDE_TAGS = {"pilot": 2**31 - 1, "bootstrap": 2**31 - 2}


def side_seed(seed: Any, tag: str) -> np.random.SeedSequence:
    """A stream for auxiliary draws (``tag`` = ``"pilot"`` or ``"bootstrap"``) that is disjoint
    from every trial's stream: the child of ``SeedSequence(seed)`` with spawn key ``2³¹ − 1``
    (pilot) or ``2³¹ − 2`` (bootstrap), far beyond any trial index."""
    tag = check_choice("tag", tag, tuple(_SIDE_TAGS))
    ss = bk.as_seed_sequence(seed)
    return np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (_SIDE_TAGS[tag],),
                                  pool_size=ss.pool_size)


def _projected_norms(draw: LindebergDraw) -> np.ndarray:
    """``‖P x_n‖² − rank V`` on the host (zeros for non-Gaussian data, where the decomposition
    is not exactly unbiased: then the projected first-moment gap is not reported as such)."""
    if draw.distribution != "gaussian":
        return np.zeros(draw.n_samples)
    xp = draw.xp
    Q = draw.row_space()
    if Q is None:
        sq = xp.sum(draw.X * draw.X, axis=1)
    elif Q.shape[1] == 0:
        return np.zeros(draw.n_samples)
    else:
        XP = draw.X @ Q
        sq = xp.sum(XP * XP, axis=1)
    return bk.to_numpy(sq).astype(np.float64) - draw.rank


def _resolve_estimator(estimator: str, distribution: str) -> str:
    est = check_choice("estimator", estimator, ESTIMATORS)
    if est == "coupled" and distribution != "gaussian":
        raise ValueError("estimator='coupled' needs distribution='gaussian'; use 'control' or "
                         "'direct'")
    return est


def simulate_path(dim: int, n_samples: int, n_trials: int, seed: Any = None, *,
                  path: str = "smooth", grid: Any = None, n_points: int = 5, z: Any = DEFAULT_Z,
                  n_moments: int = 4, edges: Any = None, n_bins: int = 50,
                  estimator: str = "auto", increments: bool = False, n_classes: int = 10,
                  sigma: float = 1.0, model: Any = None, weights: Any = "diag",
                  block: Any = None, scale: float | str = "C", distribution: str = "gaussian",
                  df: float = 5.0, backend: str | None = None, dtype: Any = None,
                  draw_on: str = "host", progress: bool | None = False) -> LindebergPath:
    """Monte Carlo along a Lindeberg path: Stieltjes transforms, gaps, moments and ESD.

    Trial ``i`` draws one :func:`draw_lindeberg` from child ``i`` of ``SeedSequence(seed)``
    (:func:`rmt.montecarlo.trial_seed`) and evaluates every grid point on that draw (common
    random numbers), so differences along the path are estimated far more precisely than the
    values.

    Parameters
    ----------
    dim, n_samples : int, >= 1
        ``d`` and ``N``.
    n_trials : int, >= 2
    seed : int, SeedSequence or Generator, optional
    path : {"smooth", "replacement"}
    grid : array_like, optional
        ``t`` values in [0, 1] (smooth) or integers ``k`` in [0, N] (replacement); must contain
        the reference ``t = 0`` / ``k = N``. Default :func:`path_grid` with ``n_points``.
    n_points : int, >= 2
        Size of the default grid.
    z : complex or array of complex
        Points with ``Im z > 0`` (default :data:`DEFAULT_Z`).
    n_moments : int, >= 1
        Moments ``(1/d) tr B^k``, ``k = 1..n_moments``.
    edges : array_like, optional
        Histogram edges of the ESD; default ``n_bins`` bins on ``[0, 1.15 λ_max]`` of a pilot
        ``B₁`` (drawn from child 0 of ``SeedSequence`` with a distinct spawn key; negative
        weights widen it to ``[1.15 λ_min, 1.15 λ_max]``).
    n_bins : int, >= 1
    estimator : {"auto", "direct", "control", "coupled"}
        Estimator behind ``"gap"`` (module notes). ``"direct"`` and ``"control"`` are always
        reported too.
    increments : bool
        Replacement path only: also ``s(B^{(k+1)}) − s(B^{(k)})`` at each grid ``k < N``.
    n_classes, sigma, model, weights, block, scale, distribution, df, draw_on
        As for :func:`draw_lindeberg` (default ``scale="C"``: ``C·H_ii`` for the diagonal weight).
    backend : {"numpy", "cupy"}, optional
    dtype : float32 or float64 (default)
    progress : bool, optional
        Progress bar (default off).

    Returns
    -------
    LindebergPath

    Examples
    --------
    >>> res = simulate_path(30, 60, 4, seed=0, n_points=3, z=[1 + 1j], estimator="direct")
    >>> res.gap().mean.shape, float(abs(res.gap().mean[0, 0]))   # Δ̂(0) = 0 exactly (direct)
    ((3, 1), 0.0)
    >>> res.estimator, simulate_path(30, 60, 2, seed=0, n_points=2, z=[1j]).estimator
    ('direct', 'coupled')
    """
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    T = check_int("n_trials", n_trials, 2)
    path = check_choice("path", path, PATHS)
    dist = check_choice("distribution", distribution, DISTRIBUTIONS)
    if path == "smooth" and dist != "gaussian":
        raise ValueError("path='smooth' needs distribution='gaussian' (the law of √t x + "
                         f"√(1−t) x̃ depends on t otherwise), got {distribution!r}")
    est = _resolve_estimator(estimator, dist)
    K = check_int("n_moments", n_moments, 1)
    if not isinstance(increments, bool):
        raise ValueError(f"increments must be True or False, got {increments!r}")
    if increments and path != "replacement":
        raise ValueError("increments=True needs path='replacement'")
    zz = np.atleast_1d(np.asarray(z, dtype=np.complex128))
    if zz.ndim != 1 or zz.size == 0 or not np.all(np.isfinite(zz)) or np.any(zz.imag <= 0):
        raise ValueError("z must be finite complex numbers with Im z > 0")
    if grid is None:
        g = path_grid(path, n_points, N)
    else:
        g = np.unique(np.asarray(grid, dtype=np.float64).ravel())
        if g.size < 2:
            raise ValueError("grid must hold at least two distinct points")
        if path == "smooth":
            if np.any(g < 0) or np.any(g > 1):
                raise ValueError(f"grid (t values) must lie in [0, 1], got [{g.min()}, {g.max()}]")
            if g[0] != 0.0:
                raise ValueError("grid must contain the reference t = 0")
        else:
            if np.any(g != np.round(g)) or np.any(g < 0) or np.any(g > N):
                raise ValueError(f"grid (k values) must be integers in [0, {N}]")
            if g[-1] != N:
                raise ValueError(f"grid must contain the reference k = N = {N}")
            g = g.astype(int)
    tau = g.astype(np.float64) if path == "smooth" else 1.0 - g / N
    ref = int(np.argmin(tau))
    xp = bk.xp_for(backend)
    name = bk.backend_name(xp)
    dt = bk.resolve_dtype(dtype)
    draw_kw = dict(n_classes=n_classes, sigma=sigma, model=model, weights=weights, block=block,
                   scale=scale, distribution=dist, df=df, backend=name, dtype=dt,
                   draw_on=draw_on)
    C = int(model.n_classes) if model is not None else check_int("n_classes", n_classes, 2)
    if est == "auto":
        est = "coupled" if (dist == "gaussian" and C < d) else "control"
    if edges is None:
        pilot = draw_lindeberg(d, N, side_seed(seed, "pilot"), **{**draw_kw, "coupled": False})
        ev = bk.to_numpy(eigvalsh_batched(pilot.covariance("smooth" if dist == "gaussian"
                                                           else "replacement",
                                                           1.0 if dist == "gaussian" else 0)))
        lo = min(0.0, 1.15 * float(ev[0]))
        hi = max(1.15 * float(ev[-1]), 1e-12)
        e = np.linspace(lo, hi, check_int("n_bins", n_bins, 1) + 1)
    else:
        e = np.asarray(edges, dtype=np.float64)
        if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
            raise ValueError("edges must be a finite, strictly increasing 1-D array of >= 2 values")
    ratio = d / N
    gpts = [float(x) for x in g] if path == "smooth" else [int(x) for x in g]
    inc_k = [k for k in gpts if k < N] if increments else []
    per_trial: list[np.ndarray] = []

    def trial(ss: np.random.SeedSequence) -> dict[str, Any]:
        draw = draw_lindeberg(d, N, ss, **{**draw_kw, "coupled": est == "coupled"})
        ws = [draw.path_weights(path, s) for s in gpts]
        mats = [weighted_covariance(draw.X, w, check=False) for w in ws]
        if est == "coupled":
            Xc = draw.coupled_data()
            mats += [weighted_covariance(Xc, w, check=False) for w in ws]
        mats += [weighted_covariance(draw.X, draw.replacement_weights(k + 1), check=False)
                 for k in inc_k]
        ev = bk.to_numpy(eigvalsh_batched(xp.stack(mats), check=False)).astype(np.float64)
        del mats
        n = len(gpts)
        s_all = stieltjes_from_eigenvalues(ev, zz)                  # (n_mats, q)
        s = s_all[:n]
        m_all = moments_from_eigenvalues(ev, K)
        mom = m_all[:n]
        gap_direct = s - s[ref]
        r = draw.norm_ratios()
        W = np.stack([bk.to_numpy(w) for w in ws]).astype(np.float64)
        pn = _projected_norms(draw)
        F = deterministic_stieltjes(W * bk.to_numpy(r)[None, :], zz, ratio)
        gap_control = gap_direct - (F - F[ref])
        out = {"stieltjes": s, "gap.direct": gap_direct, "gap.control": gap_control,
               "moments": mom, "moment_gap.direct": mom - mom[ref]}
        if est == "coupled":
            gap_coupled = s - s_all[n:2 * n]
            out["gap.coupled"] = gap_coupled
            out["moment_gap.coupled"] = mom - m_all[n:2 * n]
        out["gap"] = out[f"gap.{est}"]
        out["moment_gap"] = out["moment_gap.coupled" if est == "coupled" else "moment_gap.direct"]
        dens = np.empty((n, e.size - 1))
        outside = np.empty(n)
        for i in range(n):
            c, _ = np.histogram(ev[i], bins=e)
            dens[i] = c / (ev.shape[1] * np.diff(e))
            outside[i] = 1.0 - c.sum() / ev.shape[1]
        out["esd"] = dens
        out["esd_outside"] = outside
        # First-moment gap through the exactly unbiased projection (see the module notes):
        # d·m₁ = (1/N) Σ w_n‖P x_n‖² + (1/N) Σ w_n‖P⊥x_n‖², the second term's mean is the same at
        # every point of either path (Gaussian data), so only the first is differenced, centred
        # by rank V.
        out["m1_gap.projected"] = ((W - W[ref]) @ pn) / (N * d)
        out["weight_mean"] = W.mean(axis=1)
        out["weight_var"] = W.var(axis=1, ddof=1) if N > 1 else np.zeros(n)
        if inc_k:
            base = 2 * n if est == "coupled" else n
            idx = [gpts.index(k) for k in inc_k]
            out["increment"] = s_all[base:base + len(inc_k)] - s[idx]
        per_trial.append(np.asarray(out["gap"]))
        return out

    meta = {"dim": d, "n_samples": N, "gamma": ratio, "path": path, "estimator": est,
            "n_classes": C, "sigma": sigma, "weights": weights if isinstance(weights, str)
            else getattr(weights, "__name__", "callable"), "block": None if block is None
            else np.atleast_1d(block).tolist(), "scale": scale if isinstance(scale, str)
            else float(scale), "distribution": dist, "backend": name, "dtype": str(dt),
            "draw_on": draw_on, "increments_at_k": inc_k}
    mc = run_trials(trial, T, seed, progress=progress, desc=f"lindeberg {path} d={d}",
                    meta=meta)
    return LindebergPath(path=path, grid=np.asarray(gpts), tau=np.asarray(tau), z=zz,
                         estimator=est, mc=mc, per_trial_gap=np.stack(per_trial), edges=e,
                         params=meta)


# --------------------------------------------------------------------------------------------
# Rate of the gap against d
# --------------------------------------------------------------------------------------------

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
