r"""The optimiser comparison behind the preconditioner table: full-batch training of the linear
CE model from initialisation, each optimiser at its best learning rate from a stated grid.

The problem (``soft_teacher_problem``)
--------------------------------------
``X`` with rows ``x_n ~ N(0, I_d)`` and soft targets ``q_n = softmax(T x_n/τ)`` from a random linear
teacher (:func:`rmt.datasets.make_soft_targets`); the student ``z = V x`` starts at
``V_ij ~ N(0, σ²/d)``. The loss ``ℓ(V) = −(1/N) Σ_n q_nᵀ log p_n`` has the Hessian of CE with hard
labels and an attained minimum ``ℓ* = −(1/N) Σ_n q_nᵀ log q_n`` at ``V = T/τ`` — whatever ``C`` and
``N`` are (with hard labels and ``C ≳ N`` the training set is separable and the loss has no
minimum, so "steps to a loss target" would only measure how fast logits can be scaled up). The
loss gap ``ℓ − ℓ*`` is a KL divergence, known exactly.

A trial (``optimizer_trial``)
-----------------------------
For each learning rate of the grid, train up to ``budget`` steps, stopping when the gap first
falls to ``target_fraction`` × its initial value; the best rate reaches it in the fewest steps
(rates that never reach it rank after, by the gap left at the budget). The best rate is then run
for the whole budget, recording the gap curve. Learning rates are tuned per trial (per seed):
every optimiser gets the same treatment, and the reported spread over seeds includes that of
the tuned rate.

Grids (:data:`GRIDS`): GD in multiples of ``1/λ_max(H₀)`` (the Hessian at initialisation, by
Lanczos; ``2/λ_max`` is the stability limit of a quadratic), Adam and Adam-mini in absolute
rates (their steps are scale-free), Muon in absolute rates (its update has unit spectral scale
times ``√max(1, C/d)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import backend as bk
from .datasets import make_soft_targets
from .models import LinearClassifier, softmax
from .optim import OPTIMIZERS, loss_only, make_optimizer, params_from_model, train
from .validation import check_choice, check_int, check_real

__all__ = ["GRIDS", "GRID_UNITS", "SoftTeacherProblem", "OptimizerTrial", "soft_teacher_problem",
           "optimizer_trial"]

#: Learning-rate grids (GD: multiples of 1/λ_max(H₀); the others: absolute).
GRIDS = {
    "gd": (0.5, 1.0, 1.5, 2.0, 3.0),
    "adam": (3e-3, 1e-2, 3e-2, 1e-1, 3e-1),
    "adam-mini": (3e-3, 1e-2, 3e-2, 1e-1, 3e-1),
    "muon": (1e-2, 3e-2, 1e-1, 3e-1, 1.0),
}
#: What a grid value means.
GRID_UNITS = {"gd": "× 1/λ_max(H₀)", "adam": "absolute", "adam-mini": "absolute",
              "muon": "absolute"}


@dataclass(frozen=True, eq=False)
class SoftTeacherProblem:
    """Data, soft targets, the initial parameters, ``ℓ*``, ``ℓ(V₀)`` and ``λ_max(H₀)``."""

    X: Any
    Q: Any
    params: dict[str, Any]
    loss_star: float
    loss_init: float
    lambda_max: float


def soft_teacher_problem(n_classes: int, dim: int, n_samples: int, *, sigma: float = 1.0,
                         temperature: float = 1.0, seed: Any = None,
                         backend: str | None = None) -> SoftTeacherProblem:
    """Draw the problem of the module docstring (seed child 0: data and teacher, child 1: the
    student's initialisation, child 2: the Lanczos start vector for ``λ_max(H₀)``)."""
    from .preconditioners import SoftmaxLayerHessian  # noqa: PLC0415 - avoids an import cycle
    from .spectra import as_operator, spectral_edges  # noqa: PLC0415

    s_data, s_model, s_lz = bk.spawn_seeds(seed, 3)
    X, Q = make_soft_targets(n_samples, dim, n_classes, temperature=temperature, seed=s_data,
                             backend=backend)
    model = LinearClassifier.init(n_classes, dim, sigma, seed=s_model, backend=backend)
    xp = model.xp
    params = params_from_model(model)
    logq = xp.log(xp.maximum(Q, np.finfo(np.float64).tiny))
    loss_star = float(-xp.sum(Q * logq) / n_samples)
    hs = SoftmaxLayerHessian(X, softmax(X @ model.V.T))
    C, d = n_classes, dim
    op = as_operator(lambda U: hs.matvec(U.reshape(C, d, -1)).reshape(C * d, -1), dim=C * d,
                     backend=bk.backend_name(xp))
    # 30 Lanczos steps resolve the top of these spectra to < 1e-6 relative (checked against the
    # dense eigenvalues in tests/test_optimizer_study.py); the upper end of the interval is used.
    lam = spectral_edges(op, n_steps=30, seed=s_lz).upper
    return SoftTeacherProblem(X, Q, params, loss_star, loss_only(params, X, Q), lam)


@dataclass(frozen=True, eq=False)
class OptimizerTrial:
    """Outcome of :func:`optimizer_trial`.

    Attributes
    ----------
    optimizer : str
    lrs : ndarray
        The absolute learning rates tried (GD: grid × 1/λ_max(H₀)).
    steps : ndarray
        Steps to the target per rate (NaN: not reached within the budget, or diverged).
    gaps : ndarray
        Relative gap ``(ℓ − ℓ*)/(ℓ₀ − ℓ*)`` where each tuning run stopped.
    best : int
        Index of the best rate.
    curve : ndarray, shape (budget + 1,)
        Relative gap at every step of the best rate's full-budget run (NaN after a divergence).
    loss_star, loss_init, lambda_max : float
    """

    optimizer: str
    lrs: np.ndarray
    steps: np.ndarray
    gaps: np.ndarray
    best: int
    curve: np.ndarray
    loss_star: float
    loss_init: float
    lambda_max: float

    @property
    def best_lr(self) -> float:
        return float(self.lrs[self.best])

    @property
    def best_steps(self) -> float:
        """Steps to the target at the best rate (NaN if no rate reached it)."""
        return float(self.steps[self.best])

    @property
    def final_gap(self) -> float:
        """Relative gap after the whole budget at the best rate."""
        return float(self.curve[-1])


def optimizer_trial(optimizer: str, n_classes: int, dim: int, n_samples: int, *,
                    budget: int = 300, target_fraction: float = 0.01, sigma: float = 1.0,
                    temperature: float = 1.0, grid: tuple[float, ...] | None = None,
                    seed: Any = None, backend: str | None = None,
                    problem: SoftTeacherProblem | None = None) -> OptimizerTrial:
    """Tune one optimiser's learning rate on one draw of the soft-teacher problem.

    Parameters
    ----------
    optimizer : one of :data:`rmt.optim.OPTIMIZERS`
    n_classes, dim, n_samples : int
        ``C, d, N``.
    budget : int, >= 1
        Steps per run.
    target_fraction : float in (0, 1)
        The target is ``ℓ* + target_fraction·(ℓ₀ − ℓ*)``.
    sigma, temperature : float
        Student initialisation scale and teacher temperature.
    grid : tuple of float, optional
        Learning rates in the units of :data:`GRID_UNITS` (default :data:`GRIDS`).
    seed, backend
        As :func:`soft_teacher_problem` (the same seed gives every optimiser the same problem).
    problem : SoftTeacherProblem, optional
        Reuse an already drawn problem (then ``seed`` and the sizes are not used to draw).

    Returns
    -------
    OptimizerTrial
    """
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    budget = check_int("budget", budget, 1)
    frac = check_real("target_fraction", target_fraction, 0.0, 1.0, strict_min=True,
                      strict_max=True)
    grid = tuple(GRIDS[optimizer] if grid is None else grid)
    if not grid:
        raise ValueError("grid must hold at least one learning rate")
    grid = tuple(check_real("grid", g, 0.0, strict_min=True) for g in grid)
    if problem is None:
        problem = soft_teacher_problem(n_classes, dim, n_samples, sigma=sigma,
                                       temperature=temperature, seed=seed, backend=backend)
    pb = problem
    scale = 1.0 / pb.lambda_max if optimizer == "gd" else 1.0
    lrs = np.array([g * scale for g in grid])
    gap0 = pb.loss_init - pb.loss_star
    target = pb.loss_star + frac * gap0
    steps = np.full(lrs.size, math.nan)
    gaps = np.full(lrs.size, math.nan)
    for i, lr in enumerate(lrs):
        r = train(pb.params, pb.X, pb.Q, make_optimizer(optimizer, float(lr)), max_steps=budget,
                  target=target, stop_at_target=True)
        if r.steps_to_target is not None and not r.diverged:
            steps[i] = r.steps_to_target
        gaps[i] = (r.final_loss - pb.loss_star) / gap0 if not r.diverged else math.inf
    reached = np.isfinite(steps)
    best = int(np.nanargmin(steps)) if reached.any() else int(np.argmin(gaps))
    r = train(pb.params, pb.X, pb.Q, make_optimizer(optimizer, float(lrs[best])),
              max_steps=budget)
    curve = np.full(budget + 1, math.nan)
    curve[:r.losses.size] = (r.losses - pb.loss_star) / gap0
    return OptimizerTrial(optimizer, lrs, steps, gaps, best, curve, pb.loss_star, pb.loss_init,
                          pb.lambda_max)
