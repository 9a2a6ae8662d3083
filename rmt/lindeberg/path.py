"""Monte Carlo along a Lindeberg path: the checks of a run (:func:`plan_path`), one trial
(:func:`path_trial`, a module-level function of the plan and a seed) and the run
(:func:`simulate_path`). See :mod:`rmt.lindeberg` for the paths and the estimators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend as bk
from ..covariance import DISTRIBUTIONS, DrawSpec, weighted_covariance
from ..montecarlo import MonteCarloResult, run_trials
from ..spectra import eigvalsh_batched, moments_from_eigenvalues, stieltjes_from_eigenvalues
from ..stats import Estimate
from ..validation import check_choice, check_int
from .control import deterministic_stieltjes
from .draw import PATHS, LindebergDraw, draw_lindeberg, path_grid
from .sup import SupGap, sup_gap

ESTIMATORS = ("auto", "direct", "control", "coupled")
#: Default grid of ``z``: ``Re z`` across the bulk of ``C·H_ii`` at ``γ = 1/2``, ``Im z`` of the
#: order of the spectrum's width (where the gap stands out of the Monte Carlo noise).
DEFAULT_Z = tuple(complex(x, y) for y in (0.5, 1.0) for x in (0.25, 0.5, 1.0, 2.0, 3.0))
#: What :func:`simulate_path` draws unless told otherwise: ``C·H_ii`` (scale ``"C"``).
PATH_SPEC = DrawSpec(scale="C")


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


def _projected_sq(draw: LindebergDraw) -> Any:
    """``‖P x_n‖²`` where the draw lives, or None where the projected first-moment gap is not
    reported as such (non-Gaussian data, where the decomposition is not exactly unbiased, or
    ``rank V = 0``); minus ``rank V`` it is centred."""
    if draw.distribution != "gaussian":
        return None
    xp = draw.xp
    Q = draw.row_space()
    if Q is None:
        return xp.sum(draw.X * draw.X, axis=1)
    if Q.shape[1] == 0:
        return None
    XP = draw.X @ Q
    return xp.sum(XP * XP, axis=1)


def _resolve_estimator(estimator: str, distribution: str) -> str:
    est = check_choice("estimator", estimator, ESTIMATORS)
    if est == "coupled" and distribution != "gaussian":
        raise ValueError("estimator='coupled' needs distribution='gaussian'; use 'control' or "
                         "'direct'")
    return est


@dataclass(frozen=True, eq=False)
class PathPlan:
    """A checked run of :func:`simulate_path`: everything :func:`path_trial` needs.

    Attributes
    ----------
    dim, n_samples : int
    path : {"smooth", "replacement"}
    points : tuple
        The grid: ``t`` values (smooth) or ``k`` values (replacement), increasing.
    tau : ndarray
        Path coordinate of each point (``τ = 1``: ``B₁``; ``τ = 0``: ``B₀``).
    reference : int
        Index of ``τ = 0`` in ``points``.
    z : ndarray of complex
    n_moments : int
    estimator : {"direct", "control", "coupled"}
        Resolved (never ``"auto"``).
    edges : ndarray
        Histogram edges of the ESD.
    increments_at : tuple of int
        Replacement path: the ``k`` whose increments ``s(B^{(k+1)}) − s(B^{(k)})`` are taken.
    spec : DrawSpec
    memory_budget : int
        The run's memory plan (:func:`rmt.backend.plan_memory`), made once by :func:`plan_path`.
    """

    dim: int
    n_samples: int
    path: str
    points: tuple
    tau: np.ndarray
    reference: int
    z: np.ndarray
    n_moments: int
    estimator: str
    edges: np.ndarray
    increments_at: tuple
    spec: DrawSpec
    memory_budget: int

    def meta(self) -> dict[str, Any]:
        """The run's parameters, as recorded in :attr:`LindebergPath.params`."""
        return {"dim": self.dim, "n_samples": self.n_samples, "gamma": self.dim / self.n_samples,
                "path": self.path, "estimator": self.estimator, **self.spec.describe(),
                "increments_at_k": list(self.increments_at), "memory_plan": self.memory_budget}


def _path_points(path: str, grid: Any, n_points: int, N: int) -> np.ndarray:
    if grid is None:
        return path_grid(path, n_points, N)
    g = np.unique(np.asarray(grid, dtype=np.float64).ravel())
    if g.size < 2:
        raise ValueError("grid must hold at least two distinct points")
    if path == "smooth":
        if np.any(g < 0) or np.any(g > 1):
            raise ValueError(f"grid (t values) must lie in [0, 1], got [{g.min()}, {g.max()}]")
        if g[0] != 0.0:
            raise ValueError("grid must contain the reference t = 0")
        return g
    if np.any(g != np.round(g)) or np.any(g < 0) or np.any(g > N):
        raise ValueError(f"grid (k values) must be integers in [0, {N}]")
    if g[-1] != N:
        raise ValueError(f"grid must contain the reference k = N = {N}")
    return g.astype(int)


def _pilot_edges(d: int, N: int, seed: Any, spec: DrawSpec, n_bins: int,
                 memory_budget: int) -> np.ndarray:
    """``n_bins`` bins on ``[0, 1.15 λ_max]`` of a pilot ``B₁`` (``[1.15 λ_min, ·]`` when weights
    are negative), drawn from the pilot stream :func:`side_seed`."""
    gaussian = spec.distribution == "gaussian"
    pilot = draw_lindeberg(d, N, side_seed(seed, "pilot"), spec, coupled=False,
                           memory_budget=memory_budget)
    ev = bk.to_numpy(eigvalsh_batched(pilot.covariance("smooth" if gaussian else "replacement",
                                                       1.0 if gaussian else 0)))
    lo = min(0.0, 1.15 * float(ev[0]))
    hi = max(1.15 * float(ev[-1]), 1e-12)
    return np.linspace(lo, hi, check_int("n_bins", n_bins, 1) + 1)


def plan_path(dim: int, n_samples: int, seed: Any = None, spec: DrawSpec | None = None, *,
              path: str = "smooth", grid: Any = None, n_points: int = 5, z: Any = DEFAULT_Z,
              n_moments: int = 4, edges: Any = None, n_bins: int = 50, estimator: str = "auto",
              increments: bool = False, **fields: Any) -> PathPlan:
    """Check the arguments of :func:`simulate_path` (same meanings) and resolve them into a
    :class:`PathPlan`: the grid and its path coordinate, the estimator behind ``"gap"`` and,
    unless given, the histogram edges (from a pilot draw of the ``seed``'s pilot stream)."""
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    path = check_choice("path", path, PATHS)
    spec = DrawSpec.of(spec, PATH_SPEC, **fields)
    dist = check_choice("distribution", spec.distribution, DISTRIBUTIONS)
    if path == "smooth" and dist != "gaussian":
        raise ValueError("path='smooth' needs distribution='gaussian' (the law of √t x + "
                         f"√(1−t) x̃ depends on t otherwise), got {dist!r}")
    est = _resolve_estimator(estimator, dist)
    K = check_int("n_moments", n_moments, 1)
    if not isinstance(increments, bool):
        raise ValueError(f"increments must be True or False, got {increments!r}")
    if increments and path != "replacement":
        raise ValueError("increments=True needs path='replacement'")
    zz = np.atleast_1d(np.asarray(z, dtype=np.complex128))
    if zz.ndim != 1 or zz.size == 0 or not np.all(np.isfinite(zz)) or np.any(zz.imag <= 0):
        raise ValueError("z must be finite complex numbers with Im z > 0")
    g = _path_points(path, grid, n_points, N)
    tau = g.astype(np.float64) if path == "smooth" else 1.0 - g / N
    budget = bk.plan_memory(bk.xp_for(spec.backend))  # an unavailable backend fails here
    if est == "auto":
        est = "coupled" if (dist == "gaussian" and spec.n_classes_drawn < d) else "control"
    if edges is None:
        e = _pilot_edges(d, N, seed, spec, n_bins, budget)
    else:
        e = np.asarray(edges, dtype=np.float64)
        if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
            raise ValueError("edges must be a finite, strictly increasing 1-D array of >= 2 values")
    points = tuple(float(x) for x in g) if path == "smooth" else tuple(int(x) for x in g)
    inc_k = tuple(k for k in points if k < N) if increments else ()
    return PathPlan(d, N, path, points, np.asarray(tau), int(np.argmin(tau)), zz, K, est, e,
                    inc_k, spec, budget)


def path_trial(plan: PathPlan, seed: Any) -> dict[str, Any]:
    """One trial of :func:`simulate_path`: a :func:`draw_lindeberg` from ``seed`` and every
    point of ``plan`` evaluated on it (common random numbers).

    Returns the per-trial statistics named in :attr:`LindebergPath.mc` (``"gap"`` being the
    one of ``plan.estimator``), on the host in float64. On a GPU everything the statistics need
    (eigenvalues, weights, norms) comes back in one device→host copy.
    """
    d, N, est, ref = plan.dim, plan.n_samples, plan.estimator, plan.reference
    xp = bk.xp_for(plan.spec.backend)
    draw = draw_lindeberg(d, N, seed, plan.spec, coupled=est == "coupled",
                          memory_budget=plan.memory_budget)
    sign = draw.sign
    ws = [draw.path_weights(plan.path, s) for s in plan.points]
    mats = [weighted_covariance(draw.X, w, check=False, sign=sign) for w in ws]
    if est == "coupled":
        Xc = draw.coupled_data()
        mats += [weighted_covariance(Xc, w, check=False, sign=sign) for w in ws]
    mats += [weighted_covariance(draw.X, draw.replacement_weights(k + 1), check=False, sign=sign)
             for k in plan.increments_at]
    ev_dev = eigvalsh_batched(xp.stack(mats), check=False, memory_budget=plan.memory_budget)
    del mats
    sq = _projected_sq(draw)
    ev, W, r, *rest = bk.to_host(ev_dev, xp.stack(ws), draw.norm_ratios(),
                                 *(() if sq is None else (sq,)))
    ev, W = ev.astype(np.float64), W.astype(np.float64)
    pn = rest[0].astype(np.float64) - draw.rank if rest else np.zeros(N)
    n = len(plan.points)
    s_all = stieltjes_from_eigenvalues(ev, plan.z)                  # (n_mats, q)
    s = s_all[:n]
    m_all = moments_from_eigenvalues(ev, plan.n_moments)
    mom = m_all[:n]
    gap_direct = s - s[ref]
    F = deterministic_stieltjes(W * r.astype(np.float64)[None, :], plan.z, d / N)
    out = {"stieltjes": s, "gap.direct": gap_direct, "gap.control": gap_direct - (F - F[ref]),
           "moments": mom, "moment_gap.direct": mom - mom[ref]}
    if est == "coupled":
        out["gap.coupled"] = s - s_all[n:2 * n]
        out["moment_gap.coupled"] = mom - m_all[n:2 * n]
    out["gap"] = out[f"gap.{est}"]
    out["moment_gap"] = out["moment_gap.coupled" if est == "coupled" else "moment_gap.direct"]
    e = plan.edges
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
    # every point of either path (Gaussian data), so only the first is differenced, centred by
    # rank V.
    out["m1_gap.projected"] = ((W - W[ref]) @ pn) / (N * d)
    out["weight_mean"] = W.mean(axis=1)
    out["weight_var"] = W.var(axis=1, ddof=1) if N > 1 else np.zeros(n)
    if plan.increments_at:
        base = 2 * n if est == "coupled" else n
        idx = [plan.points.index(k) for k in plan.increments_at]
        out["increment"] = s_all[base:base + len(idx)] - s[idx]
    return out


def simulate_path(dim: int, n_samples: int, n_trials: int, seed: Any = None,
                  spec: DrawSpec | None = None, *, path: str = "smooth", grid: Any = None,
                  n_points: int = 5, z: Any = DEFAULT_Z, n_moments: int = 4, edges: Any = None,
                  n_bins: int = 50, estimator: str = "auto", increments: bool = False,
                  progress: bool | None = False, **fields: Any) -> LindebergPath:
    """Monte Carlo along a Lindeberg path: Stieltjes transforms, gaps, moments and ESD.

    Trial ``i`` draws one :func:`draw_lindeberg` from child ``i`` of ``SeedSequence(seed)``
    (:func:`rmt.montecarlo.trial_seed`) and evaluates every grid point on that draw (common
    random numbers, :func:`path_trial`), so differences along the path are estimated far more
    precisely than the values.

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
    progress : bool, optional
        Progress bar (default off).
    spec : DrawSpec, optional
        What each trial draws (default :data:`PATH_SPEC`: ``DrawSpec(scale="C")``, i.e.
        ``C·H_ii`` for the diagonal weight).
    **fields
        Fields of :class:`~rmt.covariance.DrawSpec` (``n_classes``, ``sigma``, ``model``,
        ``weights``, ``block``, ``scale``, ``distribution``, ``df``, ``backend``, ``dtype``,
        ``draw_on``), overriding those of ``spec``.

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
    T = check_int("n_trials", n_trials, 2)
    plan = plan_path(dim, n_samples, seed, spec, path=path, grid=grid, n_points=n_points, z=z,
                     n_moments=n_moments, edges=edges, n_bins=n_bins, estimator=estimator,
                     increments=increments, **fields)
    per_trial: list[np.ndarray] = []

    def trial(ss: np.random.SeedSequence) -> dict[str, Any]:
        out = path_trial(plan, ss)
        per_trial.append(np.asarray(out["gap"]))  # kept for the bootstrap of the sup
        return out

    mc = run_trials(trial, T, seed, progress=progress, desc=f"lindeberg {plan.path} d={plan.dim}",
                    meta=plan.meta())
    return LindebergPath(path=plan.path, grid=np.asarray(plan.points), tau=plan.tau, z=plan.z,
                         estimator=plan.estimator, mc=mc, per_trial_gap=np.stack(per_trial),
                         edges=plan.edges, params=mc.meta)
