"""Property-testing a random-matrix theorem with ``rmt.testing`` — an example, written as a user
would write it.

Theorem (Marchenko–Pastur, with universality and weights). Let ``X`` be ``N × d`` with iid
entries of mean 0, variance 1 and finite fourth moment, ``γ = d/N``, and let ``w_1, …, w_N`` be
iid from a law ``ν`` independent of ``X``. As ``d, N → ∞`` with ``d/N → γ``, the empirical
spectral distribution of ``B = (1/N) Σ_n w_n x_n x_nᵀ`` converges to ``WeightedMP(γ, ν)``; for
``w ≡ 1`` that is ``MarchenkoPastur(γ)``, whatever the entry law.

A theorem about a limit is tested at finite size with a bound that holds at that size:
:func:`rmt.testing.assert_spectrum_matches` uses the DKW bound ``sqrt(ln(2/level)/(2d))``, which
is conservative for eigenvalues (their ESD fluctuates by ``O(log d / d)``, see its docstring),
so a true statement fails with probability below ``level`` in each example.

What a failure looks like. Plant a bug — normalise by ``d`` instead of ``N``
(``B = XᵀX / d``) — and ``test_esd_is_marchenko_pastur`` fails. Hypothesis shrinks to a
simplest failing example (here the smallest ``d`` with the largest ratio, seed 0) and prints the
call that rebuilds it (real output, wrapped)::

    E   rmt.testing.assertions.StatisticalAssertionError: ESD of XᵀX/N, N=50, d=100: spectrum
    E   does not match MarchenkoPastur(ratio=2.0, scale=1.0) at level 0.01: Kolmogorov–Smirnov
    E   distance D = 0.1642 > ε = 0.1628 for n = 100 eigenvalues (D/ε = 1.01). Largest gap at
    E   λ = 1.79672: empirical CDF 0.93 vs law CDF 0.7658. Bound: DKW–Massart bound
    E   ε = sqrt(ln(2/level)/(2n)) = sqrt(ln(200)/200) = 0.1628: exact for n iid samples,
    E   conservative for eigenvalues, whose empirical distribution fluctuates by O(log n/n) in
    E   the bulk (eigenvalue rigidity) rather than O(1/sqrt(n)). Eigenvalue range
    E   [-8.05449e-16, 2.93894]; Wasserstein-1 distance (for information) 0.5.
    E   Falsifying example: test_esd_is_marchenko_pastur(
    E       X=make_data_matrix(
    E           samples=50, dim=100, distribution='rademacher', seed=0, df=None,
    E           dtype='float64',
    E       ),
    E   )

``make_data_matrix(samples=50, dim=100, distribution='rademacher', seed=0)`` replays the example
outside Hypothesis. (Shrinking minimises the example, not the discrepancy: at γ = 2 half the
mass is the atom at 0, which the bug does not move, so D/ε is only 1.01 here, while the
Wasserstein-1 distance 0.5 — the whole mean — shows how wrong the scale is.) Run more examples
with ``pytest --hypothesis-profile=thorough``.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rmt import laws
from rmt.models import softmax
from rmt.testing import (
    assert_close_to_prediction,
    assert_rate,
    assert_spectrum_matches,
    data_matrices,
    logit_matrices,
    make_data_matrix,
    proportional_shapes,
    weight_laws,
)

# d between 100 and 200: large enough that the O(1/d) finite-size bias of the ESD (<= 0.01) is
# far below the DKW bound (0.115–0.163 at level 0.01), small enough for ~10 ms per example.
SPECTRAL_SHAPES = proportional_shapes(min_ratio=0.1, max_ratio=2.0, min_dim=100, max_dim=200,
                                      max_samples=2000)


@given(data_matrices(SPECTRAL_SHAPES))
def test_esd_is_marchenko_pastur(X):
    """For every γ in [0.1, 2] and Gaussian, Rademacher or Student-t (ν >= 5) entries, the ESD
    of XᵀX/N is within the DKW bound of MarchenkoPastur(γ) (the d − N zero eigenvalues when
    γ > 1 match the law's atom 1 − 1/γ)."""
    n, d = X.shape
    eigenvalues = np.linalg.eigvalsh(X.T @ X / n)
    assert_spectrum_matches(eigenvalues, laws.MarchenkoPastur(ratio=d / n), level=0.01,
                            label=f"ESD of XᵀX/N, N={n}, d={d}")


@settings(max_examples=10)
@given(SPECTRAL_SHAPES, weight_laws(kinds=("constant", "discrete"), max_atoms=3),
       st.integers(0, 2**32 - 1))
def test_weighted_esd_is_weighted_mp(shape, nu, seed):
    """With weights w_n iid ~ ν independent of X, the ESD of (1/N) Σ w_n x_n x_nᵀ is within the
    DKW bound of WeightedMP(γ, ν). (Ten examples: each builds the law's cdf table.)"""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(shape)
    w = rng.choice(nu.values, size=shape.samples, p=nu.probs)
    B = (X * w[:, None]).T @ X / shape.samples
    assert_spectrum_matches(np.linalg.eigvalsh(B), laws.WeightedMP(shape.ratio, nu),
                            level=0.01, label=f"weighted ESD, shape {tuple(shape)}, ν = {nu}")


# The second moment m₂ = (1/d) tr B² of B = XᵀX/N is exactly, at every finite N and d,
#     E m₂ = 1 + (d − 2 + E x⁴)/N = mp_moment(2, γ) + (E x⁴ − 2)/N:
# E Σ_ij B_ij² = Σ_{i≠j} E(Σ_n x_ni x_nj)²/N² + Σ_i E(Σ_n x_ni²)²/N²
#              = d(d − 1)N/N² + d(N E x⁴ + N(N − 1))/N².
# E x⁴ = 3 (Gaussian), 1 (Rademacher), 3(ν − 2)/(ν − 4) (standardised Student-t, ν > 4).
FOURTH = {"gaussian": lambda df: 3.0, "rademacher": lambda df: 1.0,
          "student_t": lambda df: 3.0 * (df - 2.0) / (df - 4.0)}
TRIALS = 400


@given(proportional_shapes(min_dim=5, max_dim=30, max_samples=60),
       st.sampled_from([("gaussian", None), ("rademacher", None), ("student_t", 9.0)]),
       st.integers(0, 2**32 - 1))
def test_second_moment_exact_at_finite_size(shape, law, seed):
    """E m₂ = mp_moment(2, γ) + (E x⁴ − 2)/N exactly: a Monte Carlo mean over 400 trials agrees
    within its standard error. The level is split over the examples of the run (Bonferroni), so
    the whole property fails a true statement with probability <= 1%, whatever the profile's
    max_examples; Student-t uses ν = 9 so that m₂ has a finite variance (E x⁸ < ∞ needs ν > 8)."""
    dist, df = law
    n, d = shape
    m2 = np.empty(TRIALS)
    for t, ss in enumerate(np.random.SeedSequence(seed).spawn(TRIALS)):
        X = make_data_matrix(n, d, dist, seed=int(ss.generate_state(1)[0]), df=df)
        B = X.T @ X / n
        m2[t] = np.sum(B * B) / d
    prediction = laws.mp_moment(2, d / n) + (FOURTH[dist](df) - 2.0) / n
    assert_close_to_prediction(m2.mean(), m2.std(ddof=1) / math.sqrt(TRIALS), prediction,
                               level=0.01 / settings().max_examples, df=TRIALS - 1,
                               label=f"E m₂ at N={n}, d={d}, {dist}")


def test_linear_statistics_fluctuate_like_one_over_d():
    """The sd of m₂ at fixed γ = 1/2 falls like d⁻¹ (a linear spectral statistic has O(1)
    variance — the Bai–Silverstein CLT: d·sd(m₂) → sqrt(10) = 3.16 here), not like the d^{-1/2}
    of an average of d independent numbers. This is why the spectrum assertion's DKW bound is
    conservative.

    The sd of T = 400 Gaussian trials has standard error sd/sqrt(2(T − 1)) (normal theory; m₂ is
    close to normal by the same CLT: excess kurtosis 0.02), 3.5% of sd, used as yerr: the
    slope's SE is about 0.023. The exponent −1 is a limit: d·sd(m₂) = 3.30, 3.23, 3.22, 3.15 at
    d = 8, 16, 32, 64 (5,000–20,000 trials each, ±0.5–1%), drifting to sqrt(10) = 3.16, so over
    d = 16…128 the local slope differs from −1 by at most ln(3.23/3.15)/ln 4 = 0.018; the
    statement allows that bias (tolerance=0.02). Over 30 repetitions (seeds 0–29): no failure,
    mean slope −1.005, sd 0.023; claiming the iid rate, exponent −1/2, failed in all 30.
    """
    ds = np.array([16, 32, 64, 128])
    T = 400
    sds = []
    for d, ss in zip(ds, np.random.SeedSequence(0).spawn(len(ds))):
        X = np.random.default_rng(ss).standard_normal((T, 2 * d, d))
        B = np.matmul(X.transpose(0, 2, 1), X) / (2 * d)
        sds.append(np.std(np.sum(B * B, axis=(1, 2)) / d, ddof=1))
    sds = np.array(sds)
    assert_rate(ds, sds, -1.0, level=0.01, yerr=sds / math.sqrt(2 * (T - 1)), tolerance=0.02,
                label="sd of m₂ vs d")


@given(logit_matrices())
def test_softmax_hessian_in_the_logits(Z):
    """For every logit matrix, including ±1e4 and ties, A_n = diag(p_n) − p_n p_nᵀ has zero row
    sums and is positive semi-definite, exactly in exact arithmetic.

    Tolerances from rounding: row i sums to p_i(1 − Σ_j p_j) plus the rounding of C products and
    C additions, each <= eps·p_i, so |row sum| <= (C + 2)·eps·p_i + p_i·|1 − Σp| <= (2C + 2)·eps
    (|1 − Σp| <= C·eps); the smallest eigenvalue is >= −C·eps·‖A‖ with ‖A‖ <= 1 (backward
    stability of the symmetric eigensolver)."""
    eps = np.finfo(np.float64).eps
    P = softmax(Z)
    C = Z.shape[1]
    for p in P:
        A = np.diag(p) - np.outer(p, p)
        assert np.all(np.abs(A.sum(axis=1)) <= (2 * C + 2) * eps)
        assert np.linalg.eigvalsh(A)[0] >= -C * eps
