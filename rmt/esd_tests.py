r"""Spectral-law tests calibrated at the same ``(d, N)``: moments of the spectrum against the
finite-size ensemble of the law under test.

The question
------------
A Hessian block of the linear CE model is ``B = (1/N) Σ_n w_n x_n x_nᵀ`` with data-dependent
weights. A spectral-law claim says its spectrum follows the weighted Marchenko–Pastur law of a
weight law ν. A Kolmogorov distance compared with a typed-in bound (``2 ln d/d`` plus DKW) lets
wrong laws through at ``d = 400``; this module tests the claim against the law's own
finite-size ensemble instead: the matrices ``B̃ = (1/N) Σ_n w̃_n x̃_n x̃_nᵀ`` with ``x̃``
Gaussian, independent of weights ``w̃`` drawn as the hypothesis says (the *null*):

* :class:`FixedWeights` — the block's own realised weights (the claim "its spectrum is that of
  its own weights, as if they were independent of the data");
* :class:`IIDWeights` — iid draws from a :class:`~rmt.laws.DiscreteWeights` law (any
  :class:`~rmt.laws.WeightedMP` law; plain MP is ``w ≡ 1``);
* :class:`SoftmaxBlockWeights` — the weights of one block of the linear CE model computed from
  data independent of ``x`` (the Lindeberg surrogate): the logits of one block share the
  model's ``V``, so their covariance is ``VVᵀ ~ (σ²/d) Wishart_C(d)`` rather than ``σ² I``; iid
  draws from the softmax law ν_C miss that ``O(d^{-1/2})`` per-block fluctuation of the logit
  scale, which the moment test sees (see :func:`moment_test`).

The statistic
-------------
The spectral moments ``m_k = tr(B^k)/d = mean(λ^k)``, ``k ∈ orders``, averaged over the ``T``
observed blocks. Their null mean is exact given the weights: ``E[m_k | w]`` is a polynomial in
``d``, ``N`` and the power sums ``S_j = Σ_n w_n^j`` (derivation ``esd_moments.finite_size``).
The null covariance splits exactly as ``Cov(m) = Cov_w(E[m | w]) + E_w Cov(ε | w)`` with
``ε = m − E[m | w]``:

* the weight part from ``n_weight_draws`` replicates that draw only weights (cheap; none for
  fixed weights, where it is 0 and the mean is exact),
* the data part from ``n_data_draws`` replicates that draw weights *and* a fresh ``X̃`` and
  form ``B̃`` (``O(N d² + d³)`` each; every replicate gives an exact draw of ``ε`` because its
  conditional mean is known).

With ``δ = m̄_obs − μ_null`` (``μ_null`` the mean over the weight replicates, plus an optional
stated ``mean_correction``) and ``Σ = Σ_w (1 + 1/R_w) + Σ_ε / T``, the Hotelling statistic
``T² = δᵀ Σ⁻¹ δ`` is referred to ``F = T² (ν − k + 1)/(k ν) ~ F(k, ν − k + 1)``, exact for
Gaussian moments with a covariance estimated on ``ν`` degrees of freedom; ``ν`` is the
Welch–Satterthwaite count of the two variance parts (the smallest over the moments). The
moments are sums over ``N`` samples, close to Gaussian for the bounded softmax weights; the
false-rejection rate of the right law is measured in ``tests/test_esd_tests.py`` (slow tests).

The data dependence
-------------------
The model's weights depend on ``x`` (``w_n = f(V x_n)``); every null above draws ``x``
independently of the weights, so at finite ``d`` the model's moments are off-centre by
``O(1/d)``. For a block's own weights this is visible at ``d = 400``
(``m_1``: −0.2 SD per block for the diagonal block, ``m_2``: +0.3 SD for the off-diagonal
one); :func:`dependence_correction` gives the derived shift of ``m_1, m_2``
(``proofs.finite_c_ratio.model``), to be passed as ``mean_correction`` with
``orders=(1, 2)`` (no third-order term is derived). Against population weights the shift is
below 0.05 SD and is left out.

Every replicate draws from its own child of ``SeedSequence(seed)``, so the result does not
depend on chunking.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import backend as bk
from .validation import check_choice, check_int, check_probability, check_real

__all__ = [
    "MAX_ORDER",
    "WeightNull",
    "FixedWeights",
    "IIDWeights",
    "SoftmaxBlockWeights",
    "as_weight_null",
    "spectral_moments",
    "matrix_moments",
    "conditional_moment_means",
    "iid_moment_means",
    "MomentTest",
    "moment_test",
    "dependence_correction",
]

#: Highest spectral moment order the exact null means are derived for.
MAX_ORDER = 3
_BLOCKS = ("diagonal", "offdiagonal")


# ---------------------------------------------------------------------------------------------
# exact null means (lambdified from proofs.esd_moments)
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _mean_functions() -> dict[str, list[Any]]:
    import sympy as sp  # noqa: PLC0415

    from .claims import derived  # noqa: PLC0415

    o = derived("esd_moments.finite_size")
    d, N = o["symbols"]["d"], o["symbols"]["N"]
    S = [o["power_sums"][f"S{j}"] for j in range(1, MAX_ORDER + 1)]
    mu = [o["weight_moments"][f"mu{j}"] for j in range(1, MAX_ORDER + 1)]
    return {"conditional": [sp.lambdify((d, N, *S), o["conditional"][k], "numpy")
                            for k in range(1, MAX_ORDER + 1)],
            "iid": [sp.lambdify((d, N, *mu), o["iid"][k], "numpy")
                    for k in range(1, MAX_ORDER + 1)]}


def _check_orders(orders: Any) -> tuple[int, ...]:
    try:
        out = tuple(check_int("orders", k, 1, MAX_ORDER) for k in orders)
    except TypeError:
        raise ValueError(f"orders must be a sequence of integers in [1, {MAX_ORDER}], got "
                         f"{orders!r}") from None
    if not out or len(set(out)) != len(out):
        raise ValueError(f"orders must be non-empty and distinct, got {orders!r}")
    return out


def conditional_moment_means(weights: Any, dim: int, orders: Sequence[int] = (1, 2, 3)
                             ) -> np.ndarray:
    """Exact ``E[tr(B^k)/d | w]`` for Gaussian ``x`` independent of the weights.

    Parameters
    ----------
    weights : array_like, shape (N,) or (T, N)
        Realised weights of one block (or of ``T`` blocks, one per row).
    dim : int >= 1
        ``d``.
    orders : sequence of int in [1, MAX_ORDER]

    Returns
    -------
    numpy.ndarray, shape (len(orders),) or (T, len(orders))

    Examples
    --------
    >>> conditional_moment_means(np.ones(4), 2, orders=(1, 2))   # Wishart: 1, (N+d+1)/N
    array([1.  , 1.75])
    """
    w = np.asarray(bk.to_numpy(weights), dtype=np.float64)
    if w.ndim not in (1, 2) or w.shape[-1] < 1 or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be a finite array of shape (N,) or (T, N), got shape "
                         f"{w.shape}")
    d = check_int("dim", dim, 1)
    ks = _check_orders(orders)
    N = w.shape[-1]
    S = [np.sum(w ** j, axis=-1) for j in range(1, MAX_ORDER + 1)]
    f = _mean_functions()["conditional"]
    return np.stack([np.asarray(f[k - 1](d, N, *S), dtype=np.float64) for k in ks], axis=-1)


def iid_moment_means(law: Any, dim: int, n_samples: int, orders: Sequence[int] = (1, 2, 3)
                     ) -> np.ndarray:
    """Exact ``E[tr(B^k)/d]`` for ``N`` iid weights from ``law`` (independent Gaussian ``x``).

    Parameters
    ----------
    law : DiscreteWeights, WeightedMP (its weight law) or anything
        :func:`rmt.laws.as_weight_law` accepts.
    dim, n_samples : int >= 1
    orders : sequence of int in [1, MAX_ORDER]

    Returns
    -------
    numpy.ndarray, shape (len(orders),)
    """
    nu = _weight_law(law)
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    ks = _check_orders(orders)
    mu = [nu.moment(j) for j in range(1, MAX_ORDER + 1)]
    f = _mean_functions()["iid"]
    return np.array([float(f[k - 1](d, N, *mu)) for k in ks])


def _weight_law(law: Any):
    from .laws import WeightedMP, as_weight_law  # noqa: PLC0415

    return law.weights if isinstance(law, WeightedMP) else as_weight_law(law)


# ---------------------------------------------------------------------------------------------
# spectral moments
# ---------------------------------------------------------------------------------------------

def _eig_array(eigenvalues: Any) -> np.ndarray:
    if isinstance(eigenvalues, (list, tuple)):
        eigenvalues = [bk.to_numpy(e) for e in eigenvalues]
    try:
        lam = np.atleast_2d(np.asarray(bk.to_numpy(eigenvalues), dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError("eigenvalues must be a real array of shape (d,) or (T, d) (blocks of "
                         "equal size)") from None
    if lam.ndim != 2 or lam.shape[1] < 1 or not np.all(np.isfinite(lam)):
        raise ValueError(f"eigenvalues must be a finite array of shape (d,) or (T, d), got "
                         f"shape {lam.shape}")
    return lam


def spectral_moments(eigenvalues: Any, orders: Sequence[int] = (1, 2, 3)) -> np.ndarray:
    """``m_k = mean(λ^k)`` of each block's eigenvalues.

    Parameters
    ----------
    eigenvalues : array_like, shape (d,) or (T, d), or a sequence of T 1-D arrays of equal size
    orders : sequence of int in [1, MAX_ORDER]

    Returns
    -------
    numpy.ndarray, shape (T, len(orders)) (T = 1 for a 1-D input)
    """
    ks = _check_orders(orders)
    lam = _eig_array(eigenvalues)
    return np.stack([np.mean(lam ** k, axis=1) for k in ks], axis=1)


def matrix_moments(B: Any, orders: Sequence[int] = (1, 2, 3)) -> np.ndarray:
    """``tr(B^k)/d`` of a symmetric matrix by traces (no eigendecomposition; ``O(d³)`` for
    ``k ≥ 3``), shape ``(len(orders),)``."""
    ks = _check_orders(orders)
    A = np.asarray(bk.to_numpy(B), dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"B must be a square matrix, got shape {A.shape}")
    d = A.shape[0]
    A2 = A @ A if max(ks) >= 3 else None
    val = {1: lambda: np.trace(A), 2: lambda: np.sum(A * A),
           3: lambda: np.sum(A2 * A)}
    return np.array([float(val[k]()) / d for k in ks])


# ---------------------------------------------------------------------------------------------
# nulls: how one block's weights are drawn under the hypothesis
# ---------------------------------------------------------------------------------------------

class WeightNull:
    """How the ``N`` weights of one block are drawn under a hypothesis (abstract).

    Subclasses implement :meth:`draw` and set ``fixed`` (True when every draw returns the same
    weights) and ``label``. ``factor`` multiplies every weight (a rival "weights × 0.95").
    """

    fixed: bool = False
    label: str = ""
    factor: float = 1.0

    def draw(self, n_samples: int, seed: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def draw_many(self, n_blocks: int, n_samples: int, seed: Any) -> np.ndarray:
        """Weights of ``n_blocks`` independent blocks, shape ``(n_blocks, n_samples)``, from one
        generator seeded by ``seed`` (subclasses vectorise it)."""
        return np.stack([self.draw(n_samples, s) for s in bk.spawn_seeds(seed, n_blocks)])

    def scaled(self, factor: float) -> "WeightNull":
        """The same null with every weight multiplied by ``factor`` (non-zero)."""
        f = check_real("factor", factor)
        if f == 0:
            raise ValueError("factor must be a non-zero real number, got 0")
        import copy  # noqa: PLC0415

        out = copy.copy(self)
        out.factor = self.factor * f
        return out

    def describe(self) -> str:
        """A one-line description (with the factor when it is not 1)."""
        return self.label + ("" if self.factor == 1.0 else f", weights × {self.factor:g}")

    def law(self, ratio: float) -> Any:
        """The limiting weighted-MP law of this null at ``γ = ratio`` (for figures and
        distances; the test itself uses the finite-size ensemble)."""
        from .laws import WeightedMP  # noqa: PLC0415

        return WeightedMP(check_real("ratio", ratio, 0.0, strict_min=True), self._weight_law())

    def _weight_law(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class FixedWeights(WeightNull):
    """The block's own realised weights, held fixed; only the data are redrawn.

    Parameters
    ----------
    weights : array_like, shape (N,)
    """

    fixed = True

    def __init__(self, weights: Any) -> None:
        w = np.asarray(bk.to_numpy(weights), dtype=np.float64)
        if w.ndim != 1 or w.size < 1 or not np.all(np.isfinite(w)):
            raise ValueError(f"weights must be a finite 1-D array, got shape {w.shape}")
        self.weights = w
        self.label = f"own realised weights (N = {w.size})"

    def _weight_law(self) -> Any:
        from .laws import DiscreteWeights  # noqa: PLC0415

        return DiscreteWeights.from_samples(self.weights * self.factor, 256)

    def draw(self, n_samples: int, seed: Any) -> np.ndarray:
        if n_samples != self.weights.size:
            raise ValueError(f"n_samples must equal the number of fixed weights "
                             f"{self.weights.size}, got {n_samples}")
        return self.weights * self.factor

    def draw_many(self, n_blocks: int, n_samples: int, seed: Any) -> np.ndarray:
        return np.tile(self.draw(n_samples, seed), (n_blocks, 1))


class IIDWeights(WeightNull):
    """Weights drawn iid from a discrete weight law.

    Parameters
    ----------
    law : DiscreteWeights, WeightedMP or anything :func:`rmt.laws.as_weight_law` accepts
        Stored as the attribute ``nu``.
    label : str, optional
    """

    def __init__(self, law: Any, label: str | None = None) -> None:
        self.nu = _weight_law(law)
        self.label = label or f"iid weights from a {self.nu.n_atoms}-atom law"

    def _weight_law(self) -> Any:
        return self.nu if self.factor == 1.0 else self.nu.scaled(self.factor)

    def draw(self, n_samples: int, seed: Any) -> np.ndarray:
        return self.draw_many(1, n_samples, seed)[0]

    def draw_many(self, n_blocks: int, n_samples: int, seed: Any) -> np.ndarray:
        rng = bk.default_rng(seed, np)
        return rng.choice(self.nu.values, size=(n_blocks, n_samples), p=self.nu.probs) * self.factor


class SoftmaxBlockWeights(WeightNull):
    """Weights of one block of the linear CE model from data independent of ``x``.

    ``z̃_n = V x̃_n`` with ``V_ij ~ N(0, σ²/d)`` shared by the block's samples, so given ``V`` the
    logits are iid ``N(0, VVᵀ)`` with ``VVᵀ = (σ²/d) G Gᵀ``; ``G Gᵀ`` is drawn as
    ``Wishart_C(d, I)`` by the Bartlett decomposition when ``d ≥ C`` (``O(C²)`` variates), else
    ``G`` itself. Diagonal block: ``w = C p_0 (1 − p_0)``; off-diagonal: ``w = C² p_0 p_1``
    (the sign of ``H_01`` dropped, as in the claims' ``−C²H_ij``).

    Parameters
    ----------
    n_classes : int >= 2
    sigma : float >= 0
    dim : int >= 1
        ``d`` (sets the Wishart degrees of freedom).
    block : {"diagonal", "offdiagonal"}
    """

    def __init__(self, n_classes: int, sigma: float, dim: int, block: str = "diagonal") -> None:
        self.C = check_int("n_classes", n_classes, 2)
        self.sigma = check_real("sigma", sigma, 0.0)
        self.dim = check_int("dim", dim, 1)
        self.block = check_choice("block", block, _BLOCKS)
        self.label = (f"{self.block} softmax block weights of the model from independent data "
                      f"(C = {self.C}, σ = {self.sigma:g}, d = {self.dim})")

    def _weight_law(self) -> Any:
        from .laws import diagonal_block_weights, offdiagonal_block_weights  # noqa: PLC0415

        if self.block == "diagonal":
            nu = diagonal_block_weights(self.C, self.sigma)
        else:
            nu = offdiagonal_block_weights(self.C, self.sigma).scaled(-1.0)
        return nu if self.factor == 1.0 else nu.scaled(self.factor)

    def draw(self, n_samples: int, seed: Any) -> np.ndarray:
        return self.draw_many(1, n_samples, seed)[0]

    def draw_many(self, n_blocks: int, n_samples: int, seed: Any) -> np.ndarray:
        from .models import softmax  # noqa: PLC0415

        C, d = self.C, self.dim
        rng = bk.default_rng(seed, np)
        if d >= C:
            L = np.tril(rng.standard_normal((n_blocks, C, C)), -1)
            L[:, np.arange(C), np.arange(C)] = np.sqrt(rng.chisquare(d - np.arange(C),
                                                                     size=(n_blocks, C)))
        else:
            L = rng.standard_normal((n_blocks, C, d))
        Z = rng.standard_normal((n_blocks, n_samples, L.shape[2])) @ np.swapaxes(L, 1, 2)
        P = softmax(Z * (self.sigma / math.sqrt(d)), axis=2)
        if self.block == "diagonal":
            w = C * P[..., 0] * (1.0 - P[..., 0])
        else:
            w = float(C) ** 2 * P[..., 0] * P[..., 1]
        return w * self.factor


def as_weight_null(null: Any) -> WeightNull:
    """A :class:`WeightNull` from a null, a weight law (iid draws), a
    :class:`~rmt.laws.WeightedMP` law (iid draws from its weights) or a 1-D array of realised
    weights (held fixed)."""
    if isinstance(null, WeightNull):
        return null
    if isinstance(null, np.ndarray) or (hasattr(null, "shape") and not hasattr(null, "pdf")):
        return FixedWeights(null)
    try:
        return IIDWeights(null)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"null must be a WeightNull, a weight law, a WeightedMP law or an array "
                         f"of realised weights, got {type(null).__name__} ({exc})") from None


# ---------------------------------------------------------------------------------------------
# the data dependence of the model's weights (own-weights nulls)
# ---------------------------------------------------------------------------------------------

def dependence_correction(block: str, n_classes: int, sigma: float, dim: int, n_samples: int,
                          orders: Sequence[int] = (1, 2), n_nodes: int = 12) -> np.ndarray:
    """Expected shift of ``m_1, m_2`` of a linear-CE block from its own-weights null.

    The null :class:`FixedWeights` redraws ``x`` independently of the realised weights; in the
    model ``w_n = f(V x_n)``. Averaged over the model, the null centre ``E[m_k | w]`` and the
    model's ``E m_k`` differ by ``O(1/d)`` terms of the derivation ``finite_c_ratio.model``
    (``u = ‖x‖²/d ~ χ²_d/d``, ``M_k(s)`` the weight moments at logit variance ``s``,
    ``U_k = E[u^k M_k(σ²u)]``, ``M̄_k = E[M_k(σ²u)]``, ``K₂`` the curvature term):

        Δm_1 = U_1 − M̄_1,
        Δm_2 = {d U_2 − (d+2) M̄_2 + (N−1)[U_1² − M̄_1² + 3K₂/(d+2) − K₂/d]}/N,

    the last two from Mehler's expansion in ``ρ = cos∠(x_n, x_n')``: ``E[w_n w_n'] = M̄_1² +
    K₂ E ρ² + O(d⁻²)`` with ``E ρ² = 1/d`` against ``d² E[ρ⁴] = 3d/(d+2)`` under ``(x_nᵀx_n')²``.
    Relative error ``O(d⁻²)``. No third-order term is derived (``orders`` must be within 1, 2).

    Parameters
    ----------
    block : {"diagonal", "offdiagonal"}
        Weights ``C p_0(1 − p_0)`` or ``C² p_0 p_1``.
    n_classes : int >= 2
    sigma : float in [0, 3]
    dim, n_samples : int
        ``d > 8σ²`` (as :func:`rmt.predictions.predict_block_ratio`), ``N >= 1``.
    orders : sequence of int in {1, 2}
    n_nodes : int
        Gauss nodes for the law of ``u`` (converged to 1e-9 at 8 for ``d ≥ 8σ²``).

    Returns
    -------
    numpy.ndarray, shape (len(orders),)
    """
    # the u-quadrature of the linear model's finite-d prediction (Golub–Welsch for χ²_d/d)
    from .predictions import _u_nodes, curvature_terms, weight_moments  # noqa: PLC0415

    blk = check_choice("block", block, _BLOCKS)
    C = check_int("n_classes", n_classes, 2)
    sig = check_real("sigma", sigma, 0.0, 3.0)
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    if d <= 8.0 * sig * sig:
        raise ValueError(f"dim must be > 8 sigma^2 = {8 * sig * sig:g}, got {d}")
    ks = _check_orders(orders)
    if max(ks) > 2:
        raise ValueError(f"orders must be within (1, 2) for the dependence correction, got "
                         f"{orders!r}")
    n_nodes = check_int("n_nodes", n_nodes, 2)
    u, w = _u_nodes(d, n_nodes)
    M = np.array([[getattr(wm, a) for a in (("A1", "A2") if blk == "diagonal" else ("B1", "B2"))]
                  for wm in (weight_moments(C, sig * math.sqrt(ui)) for ui in u)])
    Mb1, Mb2 = float(w @ M[:, 0]), float(w @ M[:, 1])
    U1, U2 = float(w @ (u * M[:, 0])), float(w @ (u * u * M[:, 1]))
    K2 = curvature_terms(C, sig)[0 if blk == "diagonal" else 1]
    dm = {1: U1 - Mb1,
          2: (d * U2 - (d + 2) * Mb2
              + (N - 1) * (U1 * U1 - Mb1 * Mb1 + 3 * K2 / (d + 2) - K2 / d)) / N}
    return np.array([dm[k] for k in ks])


# ---------------------------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MomentTest:
    """Outcome of :func:`moment_test`.

    Attributes
    ----------
    orders : tuple of int
        The spectral moments ``m_k = tr(B^k)/d`` tested.
    observed : numpy.ndarray
        ``m_k`` averaged over the ``n_blocks`` observed blocks.
    null_mean : numpy.ndarray
        Their mean under the null (exact given fixed weights; otherwise the mean of the exact
        conditional means over the weight replicates), ``mean_correction`` included.
    covariance : numpy.ndarray
        The null covariance of ``observed − null_mean`` (both variance parts, see the module).
    z : numpy.ndarray
        ``(observed − null_mean)/√diag(covariance)`` per moment.
    t2, f_stat : float
        Hotelling ``T²`` and its F form.
    dof : float
        Degrees of freedom ``ν`` of the covariance (Welch–Satterthwaite).
    p_value : float
        ``P(F(k, ν − k + 1) ≥ f_stat)``.
    level : float
        The null is rejected when ``p_value < 1 − level``.
    rejected : bool
    n_blocks, n_weight_draws, n_data_draws : int
    null : str
        Description of the null.
    mean_correction : numpy.ndarray
        Added to the null mean (0 unless given).
    """

    orders: tuple
    observed: np.ndarray
    null_mean: np.ndarray
    covariance: np.ndarray
    z: np.ndarray
    t2: float
    f_stat: float
    dof: float
    p_value: float
    level: float
    rejected: bool
    n_blocks: int
    n_weight_draws: int
    n_data_draws: int
    null: str
    mean_correction: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists)."""
        out = {}
        for k, v in self.__dict__.items():
            out[k] = v.tolist() if isinstance(v, np.ndarray) else v
        out["orders"] = list(self.orders)
        return out

    def __str__(self) -> str:
        zs = ", ".join(f"z(m{k}) = {z:+.2f}" for k, z in zip(self.orders, self.z))
        verdict = "rejected" if self.rejected else "not rejected"
        return (f"moment test of m_k = tr(B^k)/d, k = {list(self.orders)}, mean of "
                f"{self.n_blocks} block(s) against {self.null}: T² = {self.t2:.3g}, "
                f"F({len(self.orders)}, {self.dof - len(self.orders) + 1:.0f}) = "
                f"{self.f_stat:.3g}, p = {self.p_value:.3g}; {zs}; {verdict} at level "
                f"{self.level:g}")


def _block_moments(X: np.ndarray, w: np.ndarray, ks: tuple[int, ...]) -> np.ndarray:
    N = X.shape[0]
    return matrix_moments((X * w[:, None]).T @ X / N, ks)


def moment_test(eigenvalues: Any, null: Any, n_samples: int, *, orders: Sequence[int] = (1, 2, 3),
                n_weight_draws: int = 100, n_data_draws: int = 48, seed: Any = 0,
                level: float = 0.99, mean_correction: Any = None) -> MomentTest:
    """Test whether blocks' spectra have the moments of the null's finite-size ensemble.

    Parameters
    ----------
    eigenvalues : array_like, shape (d,) or (T, d), or a sequence of T equal-size 1-D arrays
        All ``d`` eigenvalues of each of ``T`` observed blocks.
    null : WeightNull, weight law, WeightedMP or array of realised weights
        How the weights of one block are drawn under the hypothesis (:func:`as_weight_null`).
    n_samples : int >= 1
        ``N`` of the blocks.
    orders : sequence of int in [1, MAX_ORDER]
        Spectral moments tested (default 1, 2, 3).
    n_weight_draws : int >= 8
        Weight-only replicates per block for the weight part of the covariance and the null
        mean (ignored for fixed weights, whose mean is exact).
    n_data_draws : int >= len(orders) + 2
        Full replicates (weights and a fresh Gaussian ``X̃``) for the data part.
    seed : int, SeedSequence or Generator
        Seeds the replicates (children 0 and 1 for the two kinds).
    level : float in (0, 1)
        Reject when ``p_value < 1 − level``.
    mean_correction : array_like, shape (len(orders),), optional
        A stated correction added to the null mean (e.g. a derived data-dependence term).

    Returns
    -------
    MomentTest

    Raises
    ------
    ValueError
        Bad inputs (named), or a singular null covariance (a degenerate null such as constant
        weights with ``orders`` that make the moments collinear).
    """
    lam = _eig_array(eigenvalues)
    ks = _check_orders(orders)
    obs_all = spectral_moments(lam, ks)
    T, k = obs_all.shape
    d = lam.shape[1]
    N = check_int("n_samples", n_samples, 1)
    nw = check_int("n_weight_draws", n_weight_draws, 8)
    nx = check_int("n_data_draws", n_data_draws, k + 2)
    level = check_probability("level", level)
    nul = as_weight_null(null)
    corr = np.zeros(k) if mean_correction is None else np.asarray(mean_correction, float)
    if corr.shape != (k,) or not np.all(np.isfinite(corr)):
        raise ValueError(f"mean_correction must hold {k} finite numbers (one per order), got "
                         f"{mean_correction!r}")
    seeds_w, seeds_x = bk.spawn_seeds(seed, 2)
    # weight part: conditional means of T-block averages
    if nul.fixed:
        mu = conditional_moment_means(nul.draw(N, None), d, ks)
        cov_w = np.zeros((k, k))
        nw_used = 0
    else:
        ws = nul.draw_many(nw * T, N, seeds_w)
        g = conditional_moment_means(ws, d, ks).reshape(nw, T, k).mean(axis=1)
        mu = g.mean(axis=0)
        cov_w = np.cov(g.T, ddof=1).reshape(k, k) * (1.0 + 1.0 / nw)
        nw_used = nw
    # data part: exact draws of ε = m − E[m|w] from full single-block replicates
    eps = np.empty((nx, k))
    for r, s in enumerate(bk.spawn_seeds(seeds_x, nx)):
        sw, sx = s.spawn(2)
        w = nul.draw(N, sw)
        X = bk.default_rng(sx, np).standard_normal((N, d))
        eps[r] = _block_moments(X, w, ks) - conditional_moment_means(w, d, ks)
    cov_x = eps.T @ eps / nx / T
    cov = cov_w + cov_x
    a, b = np.diag(cov_w), np.diag(cov_x)
    with np.errstate(divide="ignore", invalid="ignore"):
        nu_i = (a + b) ** 2 / ((a ** 2 / (nw_used - 1) if nw_used > 1 else 0.0) + b ** 2 / nx)
    nu = float(np.nanmin(nu_i))
    delta = obs_all.mean(axis=0) - (mu + corr)
    try:
        sol = np.linalg.solve(cov, delta)
    except np.linalg.LinAlgError:
        raise ValueError("the null covariance of the spectral moments is singular; drop "
                         "orders or use a non-degenerate null") from None
    t2 = float(delta @ sol)
    from scipy import stats  # noqa: PLC0415

    if nu <= k - 1:
        raise ValueError(f"n_data_draws/n_weight_draws leave {nu:.1f} degrees of freedom, "
                         f"need > {k - 1}")
    f_stat = t2 * (nu - k + 1) / (k * nu)
    p = float(stats.f.sf(f_stat, k, nu - k + 1))
    z = delta / np.sqrt(np.diag(cov))
    return MomentTest(ks, obs_all.mean(axis=0), mu + corr, cov, z, t2, float(f_stat), nu, p,
                      level, bool(p < 1.0 - level), T, nw_used, nx, nul.describe(), corr)
