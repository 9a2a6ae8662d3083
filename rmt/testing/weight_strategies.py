"""Hypothesis strategies and builders for the weight laws of weighted Marchenko–Pastur claims.

Split from :mod:`rmt.testing.strategies` (which re-exports every name here) to keep one idea per
module: the weight laws import :mod:`rmt.laws` lazily, when a law is built, so that
``import rmt.testing`` needs only NumPy, SciPy, Hypothesis and :mod:`rmt.models`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from hypothesis import strategies as st

from .strategies import WEIGHT_LAW_KINDS, _fail, _int, _kinds, _order, _real, seeds

__all__ = ["make_weight_samples", "make_weight_law", "weight_samples", "weight_laws"]

# ----------------------------------------------------------------------------------------------
# weight laws
# ----------------------------------------------------------------------------------------------

def _discrete_atoms(seed: int, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct positive atoms (log-uniform in [0.1, 10]) and Dirichlet(1) probabilities, from
    the first child of ``SeedSequence(seed)`` (shared by the law and its samples)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    values = np.sort(10.0 ** rng.uniform(-1.0, 1.0, size=n_atoms))
    probs = rng.exponential(size=n_atoms)
    return values, probs / probs.sum()


def _check_weight_kind(kind: Any) -> str:
    if not isinstance(kind, str) or kind not in WEIGHT_LAW_KINDS:
        _fail(f"kind must be one of {WEIGHT_LAW_KINDS}, got {kind!r}")
    return kind


def make_weight_samples(kind: str, size: int, seed: int = 0, *, n_atoms: int = 2,
                        sigma: float = 1.0, n_classes: int = 10) -> np.ndarray:
    """Draws ``w_1, …, w_size`` of a weight law (the laws of :func:`make_weight_law`), built from
    a seed with NumPy only.

    ``discrete`` uses the same atoms and probabilities as ``make_weight_law("discrete", seed,
    n_atoms=n_atoms)``; the softmax kinds sample ``p = softmax(z)``, ``z ~ N(0, σ² I_C)``
    exactly (no compression, no large-C limit) and use the scaling of
    :func:`rmt.laws.diagonal_block_weights` (``C·p_1(1 − p_1)``) and
    :func:`rmt.laws.offdiagonal_block_weights` (``−C²·p_1 p_2``, negative).

    Parameters
    ----------
    kind : {"constant", "discrete", "lognormal", "softmax_diagonal", "softmax_offdiagonal"}
    size : int, >= 1
    seed : int, >= 0
    n_atoms : int, >= 1
        Atoms of the ``discrete`` law.
    sigma : float, >= 0
        ``σ`` of the lognormal law ``exp(σ g − σ²/2)`` (mean 1) and the logit scale of the
        softmax laws.
    n_classes : int, >= 2
        ``C`` of the softmax laws.

    Returns
    -------
    ndarray, shape (size,), float64
        Positive, except ``softmax_offdiagonal`` (negative).
    """
    kind = _check_weight_kind(kind)
    n = _int("size", size, 1)
    seed = _int("seed", seed, 0)
    n_atoms = _int("n_atoms", n_atoms, 1)
    s = _real("sigma", sigma, 0.0)
    c = _int("n_classes", n_classes, 2)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    if kind == "constant":
        return np.ones(n)
    if kind == "discrete":
        values, probs = _discrete_atoms(seed, n_atoms)
        return rng.choice(values, size=n, p=probs)
    if kind == "lognormal":
        return np.exp(s * rng.standard_normal(n) - 0.5 * s * s)
    Z = s * rng.standard_normal((n, c))
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    if kind == "softmax_diagonal":
        return c * P[:, 0] * (1.0 - P[:, 0])
    return -(c * c) * P[:, 0] * P[:, 1]


def make_weight_law(kind: str, seed: int = 0, *, n_atoms: int = 2, sigma: float = 1.0,
                    n_classes: int = 10, resolution: int = 8, n_samples: int = 2**14) -> Any:
    """A weight law ``ν`` (:class:`rmt.laws.DiscreteWeights`) for ``WeightedMP(ratio, ν)``.

    Parameters
    ----------
    kind : {"constant", "discrete", "lognormal", "softmax_diagonal", "softmax_offdiagonal"}
        ``constant``: ``w ≡ 1`` (Marchenko–Pastur). ``discrete``: ``n_atoms`` positive atoms
        log-uniform in [0.1, 10] with Dirichlet(1) probabilities, both from ``seed``.
        ``lognormal``: ``w = exp(σ g − σ²/2)`` (mean 1), by Gauss–Hermite
        (:func:`rmt.laws.lognormal_weights`). ``softmax_diagonal`` / ``softmax_offdiagonal``:
        the weight laws ``C·p_i(1 − p_i)`` and ``−C²·p_i p_j`` of the diagonal and off-diagonal
        blocks of the linear CE Hessian at initialisation with ``C = n_classes`` classes and logit
        scale ``σ`` (:func:`rmt.laws.diagonal_block_weights`,
        :func:`rmt.laws.offdiagonal_block_weights`, from ``n_samples`` draws seeded by
        ``seed``).
    seed : int, >= 0
    n_atoms : int, >= 1
        Atoms of the ``discrete`` law.
    sigma : float, >= 0
    n_classes : int, >= 2
    resolution : int, >= 2
        Atoms of the lognormal and softmax laws. Few atoms keep ``WeightedMP`` fast (its cost
        grows with the number of atoms); the first two moments are exact for the sampled laws
        and the Gauss–Hermite rule is exact for polynomials of degree < 2·resolution in ``g``.
    n_samples : int, >= 2
        Draws behind the softmax laws.

    Returns
    -------
    rmt.laws.DiscreteWeights

    Raises
    ------
    ImportError
        If :mod:`rmt.laws` is not available (it is imported here, not by ``rmt.testing``).
    """
    kind = _check_weight_kind(kind)
    seed = _int("seed", seed, 0)
    n_atoms = _int("n_atoms", n_atoms, 1)
    s = _real("sigma", sigma, 0.0)
    c = _int("n_classes", n_classes, 2)
    res = _int("resolution", resolution, 2)
    n_samples = _int("n_samples", n_samples, 2)
    from .. import laws  # noqa: PLC0415 - lazy: rmt.testing must import without rmt.laws

    if kind == "constant":
        return laws.DiscreteWeights.point_mass(1.0)
    if kind == "discrete":
        return laws.DiscreteWeights(*_discrete_atoms(seed, n_atoms))
    if kind == "lognormal":
        return laws.lognormal_weights(-0.5 * s * s, s * s, res)
    build = (laws.diagonal_block_weights if kind == "softmax_diagonal"
             else laws.offdiagonal_block_weights)
    return build(c, s, n_samples=n_samples, seed=seed, n_atoms=res)


def _weight_law_params(kinds: tuple[str, ...], max_atoms: int, max_sigma: float,
                       min_classes: int, max_classes: int) -> st.SearchStrategy[dict]:
    @st.composite
    def _params(draw: Callable) -> dict:
        kind = draw(st.sampled_from(kinds))
        kw: dict[str, Any] = {"kind": kind, "seed": draw(seeds())}
        if kind == "discrete":
            kw["n_atoms"] = draw(st.integers(1, max_atoms))
        elif kind == "lognormal":
            kw["sigma"] = draw(st.floats(0.0, max_sigma))
        elif kind.startswith("softmax"):
            kw["sigma"] = draw(st.floats(0.0, max_sigma))
            kw["n_classes"] = draw(st.integers(min_classes, max_classes))
        return kw

    return _params()


def _check_weight_args(kinds: Any, max_atoms: Any, max_sigma: Any, min_classes: Any,
                       max_classes: Any) -> tuple:
    kinds = _kinds("kinds", kinds, WEIGHT_LAW_KINDS)
    a = _int("max_atoms", max_atoms, 1)
    s = _real("max_sigma", max_sigma, 0.0)
    c_lo = _int("min_classes", min_classes, 2)
    c_hi = _int("max_classes", max_classes, 2)
    _order("min_classes", c_lo, "max_classes", c_hi)
    return kinds, a, s, c_lo, c_hi


def weight_laws(*, kinds: Sequence[str] = WEIGHT_LAW_KINDS, max_atoms: int = 4,
                max_sigma: float = 1.5, min_classes: int = 2, max_classes: int = 64,
                resolution: int = 8) -> st.SearchStrategy[Any]:
    """Weight laws ``ν`` (:class:`rmt.laws.DiscreteWeights`) for ``WeightedMP(ratio, ν)``.

    :mod:`rmt.laws` is imported when the first law is drawn, not when the strategy is built.
    Building a law takes milliseconds; building ``WeightedMP`` from it and evaluating its cdf
    costs more with more atoms (keep ``resolution`` small in property tests).

    Parameters
    ----------
    kinds : sequence of {"constant", "discrete", "lognormal", "softmax_diagonal",
        "softmax_offdiagonal"}
    max_atoms : int, >= 1
        Most atoms of a ``discrete`` law.
    max_sigma : float, >= 0
        Largest ``σ`` of the lognormal and softmax laws (``σ = 1.5`` already spreads lognormal
        atoms over five decades).
    min_classes, max_classes : int, 2 <= min_classes <= max_classes
        Range of ``C`` of the softmax block laws.
    resolution : int, >= 2
        Atoms of the lognormal and softmax laws (see :func:`make_weight_law`).

    Returns
    -------
    SearchStrategy of :class:`rmt.laws.DiscreteWeights`
        Built by :func:`make_weight_law`; a falsifying example prints that call.
    """
    kinds, a, s, c_lo, c_hi = _check_weight_args(kinds, max_atoms, max_sigma, min_classes,
                                                 max_classes)
    res = _int("resolution", resolution, 2)

    @st.composite
    def _laws(draw: Callable) -> Any:
        kw = draw(_weight_law_params(kinds, a, s, c_lo, c_hi))
        if kw["kind"] in ("lognormal", "softmax_diagonal", "softmax_offdiagonal"):
            kw["resolution"] = res
        return draw(st.builds(make_weight_law, **{k: st.just(v) for k, v in kw.items()}))

    return _laws()


def weight_samples(*, min_size: int = 1, max_size: int = 256,
                   kinds: Sequence[str] = WEIGHT_LAW_KINDS, max_atoms: int = 4,
                   max_sigma: float = 1.5, min_classes: int = 2,
                   max_classes: int = 64) -> st.SearchStrategy[np.ndarray]:
    """Weight vectors ``w_1, …, w_n`` drawn iid from the laws of :func:`weight_laws` (NumPy
    only; does not need :mod:`rmt.laws`).

    Parameters
    ----------
    min_size, max_size : int, 1 <= min_size <= max_size
    kinds, max_atoms, max_sigma, min_classes, max_classes
        As for :func:`weight_laws`.

    Returns
    -------
    SearchStrategy of ndarray, float64, shape (n,)
        Built by :func:`make_weight_samples`; positive, except the ``softmax_offdiagonal``
        weights ``−C² p_i p_j`` (negative).
    """
    lo = _int("min_size", min_size, 1)
    hi = _int("max_size", max_size, 1)
    _order("min_size", lo, "max_size", hi)
    kinds, a, s, c_lo, c_hi = _check_weight_args(kinds, max_atoms, max_sigma, min_classes,
                                                 max_classes)

    @st.composite
    def _samples(draw: Callable) -> np.ndarray:
        kw = draw(_weight_law_params(kinds, a, s, c_lo, c_hi))
        kw["size"] = draw(st.integers(lo, hi))
        return draw(st.builds(make_weight_samples, **{k: st.just(v) for k, v in kw.items()}))

    return _samples()
