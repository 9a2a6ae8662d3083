"""One draw of a Lindeberg path: data, independent copies and model, giving ``B`` anywhere on the
smooth or the replacement path (see :mod:`rmt.lindeberg`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend as bk
from ..covariance import (
    DataShape,
    DrawSpec,
    WeightedCovarianceOperator,
    block_weights,
    weighted_covariance,
)
from ..validation import check_choice, check_int, check_real

PATHS = ("smooth", "replacement")


def _check_t(t: Any) -> float:
    return check_real("t", t, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class LindebergDraw(DataShape):
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
    sign : {"nonnegative", "nonpositive"} or None
        Sign of every weight when the spec fixes it (:meth:`rmt.covariance.DrawSpec.weight_sign`).
    rank_hint : int or None
        ``rank V`` when known without looking at ``V`` (a drawn Gaussian ``V``: ``min(C, d)``
        almost surely, 0 for ``σ = 0``); None for a given model, whose rank is measured.
    memory_budget : int or None
        The run's memory plan, for the row blocks of logits (:func:`rmt.backend.plan_memory`).
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
    sign: str | None = None
    rank_hint: int | None = None
    memory_budget: int | None = None

    # -- weights ------------------------------------------------------------------------------
    def _weights_of(self, Y: Any) -> Any:
        # Y is drawn data (finite) and the model drawn or checked: only a callable is checked
        w = block_weights(self.model, Y, self.weights, self.block,
                          memory_budget=self.memory_budget, check=callable(self.weights))
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
            if self.rank_hint == 0 or (self.rank_hint is None and not bool(xp.any(V != 0))):
                Q = xp.zeros((d, 0), dtype=V.dtype)
            elif C >= d:
                Q = None  # rank d almost surely for a Gaussian V
            elif self.rank_hint is not None:
                # a drawn Gaussian V has full rank C almost surely: no rank test (which would
                # read R back from a GPU)
                Q, _ = xp.linalg.qr(V.T)
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
        return weighted_covariance(X, w, check=False, sign=self.sign)

    def operator(self, path: str = "smooth", s: float = 1.0, *,
                 coupled: bool = False) -> WeightedCovarianceOperator:
        """``B`` (or ``B̌``) as a matrix-free operator."""
        w = self.path_weights(path, s)
        return WeightedCovarianceOperator(self.coupled_data() if coupled else self.X, w)


def draw_lindeberg(dim: int, n_samples: int, seed: Any = None, spec: DrawSpec | None = None, *,
                   coupled: bool = True, memory_budget: int | None = None,
                   **fields: Any) -> LindebergDraw:
    """Draw ``X``, ``X̃`` (and ``X̂``) and the model of one Lindeberg path.

    Seeds: children 0, 1, 2, 3 of ``SeedSequence(seed)`` draw ``X``, the model, ``X̃`` and
    ``X̂`` — the first three exactly as :func:`rmt.covariance.draw_covariance` does, so for the
    same seed and spec ``B₁`` and ``B₀`` here are bit for bit its ``coupling="dependent"`` and
    ``"independent"`` matrices.

    Parameters
    ----------
    dim, n_samples : int, >= 1
        ``d`` and ``N``.
    seed : int, SeedSequence or Generator, optional
    spec : DrawSpec, optional
        Model, weights, scale, data law, backend, dtype (:class:`rmt.covariance.DrawSpec`;
        default ``DrawSpec()``). The smooth path and the coupled reference need Gaussian data.
    coupled : bool
        Also draw ``X̂`` for the coupled reference (Gaussian data only).
    memory_budget : int, optional
        The run's memory plan, for the row blocks of logits (default:
        :func:`rmt.backend.plan_memory`, made once here).
    **fields
        Fields of :class:`~rmt.covariance.DrawSpec` overriding those of ``spec``.

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
    spec = DrawSpec.of(spec, **fields)
    bk.xp_for(spec.backend)  # an unavailable backend fails before drawing
    ss_x, ss_model, ss_tilde, ss_hat = bk.spawn_seeds(seed, 4)
    model = spec.init_model(d, ss_model)
    s = spec.scale_value()
    X = spec.draw_data(N, d, ss_x)
    X_tilde = spec.draw_data(N, d, ss_tilde)
    X_hat = spec.draw_data(N, d, ss_hat) if (coupled and spec.distribution == "gaussian") else None
    rank = None if spec.model is not None else (0 if spec.sigma == 0 else min(model.n_classes, d))
    return LindebergDraw(X=X, X_tilde=X_tilde, X_hat=X_hat, model=model, weights=spec.weights,
                         block=spec.block, scale=s, distribution=spec.distribution,
                         sign=spec.weight_sign(), rank_hint=rank,
                         memory_budget=bk.plan_memory(bk.xp_for(spec.backend), memory_budget))


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

