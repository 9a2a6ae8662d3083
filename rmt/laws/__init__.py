"""Marchenko–Pastur and weighted Marchenko–Pastur laws; free cumulants ↔ moments; block weight laws.

Conventions (shared with the rest of rmt)
-----------------------------------------
Data ``X`` has shape ``(N, d)`` (one sample ``x_n`` per row), ``γ = d/N`` is the *ratio*, and the
matrices are ``d × d``::

    B = XᵀX / N                          (Marchenko–Pastur, MP)
    B = (1/N) Σ_n w_n x_n x_nᵀ            (weighted MP; w_n iid ~ ν, independent of x_n)

The laws below are the limits (d, N → ∞, d/N → γ) of the empirical spectral distributions of these
``d × d`` matrices. The Stieltjes transform is ``m(z) = ∫ dμ(λ) / (λ − z)`` (so ``Im m > 0`` when
``Im z > 0``); for the weighted law it solves

    m = 1 / (−z + E_ν[w / (1 + γ w m)]),

and ``w ≡ σ²`` gives MP with ``scale = σ²``. The free cumulants of the weighted law are
``κ_k = γ^{k−1} E_ν[w^k]`` (a compound free Poisson law of rate 1/γ and jump law ``γw``).

Atoms. When ``γ > 1`` the matrix has rank ``N < d`` and the law has an atom at 0 of mass
``1 − 1/γ`` (``1 − P(w ≠ 0)/γ`` when ν has an atom at 0). ``pdf`` is always the density of the
absolutely continuous part (it integrates to ``1 − atom``); ``cdf`` jumps by ``atom`` at 0, and
``ppf``/``rvs`` return 0 for that share of probability.

Support and the atom. ``support()`` gives the edges of the absolutely continuous part (what
plots, histogram grids, edge scalings and fits need, and what rmt has always returned);
``support(include_atom=True)`` widens them to hold the atom, which is scipy.stats' meaning:
``ppf(0)``, ``ppf(1)``, ``isf(1)`` and ``isf(0)`` are its ends and the cdf is 0 strictly below
it. Both laws follow SciPy's generic checks atom-aware (``cdf(x⁻) ≤ q ≤ cdf(x)`` at ``x =
ppf(q)``), except that a level outside [0, 1], a NaN or a complex point raises ValueError instead
of giving NaN (rmt's rule for bad input). The accuracy of every method is stated in the laws'
docstrings, as measured by tests/test_laws_checks.py against 30-digit references.

Numerics of :class:`WeightedMP` (see its docstring for the details and error statements): the
variable ``v = −1/m`` turns the equation into ``z = v (1 + Σ_k p_k w_k / (v − γ w_k))`` — a
rational function with K simple poles, whose real critical points give the support edges exactly
(Silverstein–Choi), and in which vectorised Newton steps converge in a few iterations; the cdf is
the integral of a Chebyshev (cosine-series) interpolant of the density on each support interval.

Everything evaluates on NumPy or CuPy arrays with one code path (:func:`rmt.backend.get_xp`);
parameters and tables live on the host (they are small).

Layout: :mod:`._base` (point validation, the public surface, and the generic density → cdf table →
quantile machinery that any law on intervals inherits), :mod:`._table` (the Chebyshev cdf table),
:mod:`._numerics` (Newton, bisection, transforms), :mod:`.marchenko_pastur`, :mod:`.weighted_mp`,
:mod:`.weights` (weight laws ν) and :mod:`.free_cumulants`.
"""

from .free_cumulants import free_cumulants_from_moments, moments_from_free_cumulants, mp_moment
from .marchenko_pastur import MarchenkoPastur
from .weighted_mp import SolveInfo, WeightedMP
from .weights import (DiscreteWeights, WeightMoments, as_weight_law, block_weight_moments,
                      diagonal_block_weights, lognormal_weights, offdiagonal_block_weights)

__all__ = [
    "MarchenkoPastur",
    "WeightedMP",
    "DiscreteWeights",
    "SolveInfo",
    "WeightMoments",
    "as_weight_law",
    "moments_from_free_cumulants",
    "free_cumulants_from_moments",
    "mp_moment",
    "lognormal_weights",
    "diagonal_block_weights",
    "offdiagonal_block_weights",
    "block_weight_moments",
]
