"""Tests of rmt.esd_tests: exact null means, nulls, the moment test's level and power.

Statistical tolerances: Monte Carlo comparisons use 4.5 standard errors (two-sided false-failure
probability 6.8e-6 each). Rejection counts under a true null are compared with the 99.9% upper
quantile of the binomial law of the count (computed with SciPy), so a correct test fails such a
check with probability below 1e-3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rmt import backend as bk
from rmt.esd_tests import (
    FixedWeights,
    IIDWeights,
    SoftmaxBlockWeights,
    as_weight_null,
    conditional_moment_means,
    dependence_correction,
    iid_moment_means,
    matrix_moments,
    moment_test,
    spectral_moments,
)
from rmt.laws import DiscreteWeights, WeightedMP

Z_MC = 4.5


def _binom_upper(n: int, p: float) -> int:
    """99.9% upper quantile of a Binomial(n, p) count."""
    return int(stats.binom.ppf(0.999, n, p))


# --- exact means -----------------------------------------------------------------------------

def test_wishart_means_and_iid_means_agree():
    # w ≡ 1: E tr(XᵀX/N)²/d = (N + d + 1)/N, E tr(XᵀX/N)³/d = (N² + d² + 3Nd + 3N + 3d + 4)/N²
    d, N = 7, 11
    cm = conditional_moment_means(np.ones(N), d)
    assert cm == pytest.approx([1.0, (N + d + 1) / N,
                                (N * N + d * d + 3 * N * d + 3 * N + 3 * d + 4) / N ** 2],
                               rel=1e-14)
    assert iid_moment_means(1.0, d, N) == pytest.approx(cm, rel=1e-14)
    law = DiscreteWeights(np.array([0.5, 2.0]), np.array([0.25, 0.75]))
    # the iid mean is the conditional mean averaged over the law: exact enumeration for N = 3
    vals, probs = law.values, law.probs
    tot = np.zeros(3)
    for i in range(2):
        for j in range(2):
            for k in range(2):
                tot += probs[i] * probs[j] * probs[k] * conditional_moment_means(
                    np.array([vals[i], vals[j], vals[k]]), 5)
    assert iid_moment_means(law, 5, 3) == pytest.approx(tot, rel=1e-13)
    assert iid_moment_means(WeightedMP(5 / 3, law), 5, 3) == pytest.approx(tot, rel=1e-13)


def test_matrix_and_spectral_moments_agree():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 30))
    B = A + A.T
    ev = np.linalg.eigvalsh(B)
    # both are sums of 30 terms of size ~ max|λ|^k: rounding ~ 30·eps relative
    assert matrix_moments(B) == pytest.approx(spectral_moments(ev)[0], rel=1e-12)


@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=12),
       st.integers(1, 20))
@settings(max_examples=30, deadline=None)
def test_conditional_means_are_homogeneous(w, d):
    # E[m_k | c·w] = c^k E[m_k | w]: each tr(B^k) is a homogeneous polynomial of degree k in w
    w = np.asarray(w)
    base = conditional_moment_means(w, d)
    scaled = conditional_moment_means(2.0 * w, d)
    scale = float(np.max(np.abs(base))) + 1.0
    assert np.allclose(scaled, base * np.array([2.0, 4.0, 8.0]), rtol=1e-12, atol=1e-12 * scale)


# --- nulls ---------------------------------------------------------------------------------------

def test_null_validation():
    with pytest.raises(ValueError, match="weights"):
        FixedWeights(np.ones((2, 2)))
    with pytest.raises(ValueError, match="n_samples"):
        FixedWeights(np.ones(5)).draw(6, None)
    with pytest.raises(ValueError, match="factor"):
        FixedWeights(np.ones(5)).scaled(0.0)
    with pytest.raises(ValueError, match="block"):
        SoftmaxBlockWeights(10, 1.0, 50, "both")
    with pytest.raises(ValueError, match="null"):
        as_weight_null("nonsense")
    with pytest.raises(ValueError, match="orders"):
        conditional_moment_means(np.ones(3), 4, orders=(4,))
    with pytest.raises(ValueError, match="mean_correction"):
        moment_test(np.ones(5), FixedWeights(np.ones(10)), 10, mean_correction=[0.0])
    assert isinstance(as_weight_null(np.ones(4)), FixedWeights)
    assert isinstance(as_weight_null(DiscreteWeights.point_mass(1.0)), IIDWeights)
    assert "× 0.95" in FixedWeights(np.ones(4)).scaled(0.95).describe()


def test_softmax_surrogate_weights_have_the_softmax_law():
    """At large d, VVᵀ → σ²I and the surrogate's weights have the exact finite-C moments."""
    from rmt.predictions import weight_moments

    wm = weight_moments(10, 1.0)
    for block, want in (("diagonal", wm.A1), ("offdiagonal", wm.B1)):
        null = SoftmaxBlockWeights(10, 1.0, 100_000, block)
        # blocks are independent draws; the per-block mean has the between-V fluctuation
        means = np.array([null.draw(500, s).mean() for s in bk.spawn_seeds(5, 200)])
        se = means.std(ddof=1) / math.sqrt(means.size)
        assert abs(means.mean() - want) < Z_MC * se + 2e-4, block   # 2e-4: O(1/d) Jensen term


# --- level and power -------------------------------------------------------------------------

def test_moment_test_level_on_a_true_null():
    """Data drawn from the null itself: rejections at level 0.95 stay within the
    binomial band (iid two-point weights, d = 30, N = 60, two blocks, 100 seeds)."""
    d, N, T = 30, 60, 2
    law = DiscreteWeights(np.array([0.3, 1.7]), np.array([0.5, 0.5]))
    null = IIDWeights(law)
    rej = 0
    for s in bk.spawn_seeds(101, 100):
        eigs = []
        for c in s.spawn(T):
            rng = np.random.default_rng(c)
            X = rng.standard_normal((N, d))
            w = null.draw(N, rng)
            eigs.append(np.linalg.eigvalsh((X * w[:, None]).T @ X / N))
        r = moment_test(eigs, null, N, n_weight_draws=60, n_data_draws=24, seed=s, level=0.95)
        rej += r.rejected
    assert rej <= _binom_upper(100, 0.05)


def test_moment_test_rejects_a_five_percent_scale_of_own_weights():
    d, N = 200, 400
    rng = np.random.default_rng(8)
    w = rng.uniform(0.5, 1.5, N)
    X = rng.standard_normal((N, d))
    ev = np.linalg.eigvalsh((X * w[:, None]).T @ X / N)
    right = moment_test(ev, FixedWeights(w), N, orders=(1, 2), n_data_draws=40, seed=1)
    wrong = moment_test(ev, FixedWeights(w).scaled(0.95), N, orders=(1, 2), n_data_draws=40,
                        seed=1)
    # m_1 = Σ w_n‖x_n‖²/(Nd) has variance 2 S_2/(N² d): the 5 % shift is z ≈ 0.05 S_1/SD ≈ 9.6
    z_expected = 0.05 * w.sum() / N / math.sqrt(2 * np.sum(w * w) / (N * N * d))
    assert wrong.rejected and abs(wrong.z[0] - z_expected) < Z_MC
    assert right.p_value > wrong.p_value
    assert "moment test" in str(wrong) and wrong.to_dict()["orders"] == [1, 2]


def test_dependence_correction_is_order_one_over_d():
    a = dependence_correction("offdiagonal", 10, 1.0, 400, 800)
    b = dependence_correction("offdiagonal", 10, 1.0, 1600, 3200)
    assert np.all(np.isfinite(a)) and a[1] > 0
    # O(1/d): four times the size gives about a quarter (to O(1/d²) relative)
    assert b[1] == pytest.approx(a[1] / 4, rel=0.05)
    with pytest.raises(ValueError, match="orders"):
        dependence_correction("diagonal", 10, 1.0, 400, 800, orders=(3,))
    with pytest.raises(ValueError, match="dim"):
        dependence_correction("diagonal", 10, 2.0, 20, 40)


# --- the quick-scale claims (slow) -----------------------------------------------------------

def _quick_blocks(kind: str, T: int, seed: int):
    from rmt.covariance import draw_covariance

    out = []
    for ss in bk.spawn_seeds(seed, T):
        dr = draw_covariance(400, 800, ss, n_classes=10, sigma=1.0, weights=kind,
                             scale="C" if kind == "diag" else "-C2")
        out.append((np.linalg.eigvalsh(dr.matrix()), np.asarray(dr.w)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["diag", "offdiag"])
def test_quick_scale_rivals_are_rejected(kind):
    """The wrong laws of issue 13 are rejected at the quick scale of the spectral claims
    (finite-C law: 16 pooled blocks, the count the off-diagonal C = ∞ law needs; own weights:
    one block)."""
    from rmt.laws import diagonal_block_weights, offdiagonal_block_weights

    blk = "diagonal" if kind == "diag" else "offdiagonal"

    def law(C, s):
        return (diagonal_block_weights(C, s) if kind == "diag"
                else offdiagonal_block_weights(C, s).scaled(-1.0))

    with bk.limit_blas_threads(1):
        blocks = _quick_blocks(kind, 16, 77)
        eigs = [b[0] for b in blocks]
        rivals = {"C = ∞": IIDWeights(law(math.inf, 1.0)),
                  "σ × 0.8": SoftmaxBlockWeights(10, 0.8, 400, blk),
                  "σ × 1.2": SoftmaxBlockWeights(10, 1.2, 400, blk),
                  "C/2": SoftmaxBlockWeights(5, 1.0, 400, blk),
                  "× 0.95": SoftmaxBlockWeights(10, 1.0, 400, blk).scaled(0.95),
                  "plain MP": IIDWeights(1.0)}
        for name, null in rivals.items():
            r = moment_test(eigs, null, 800, n_weight_draws=50, n_data_draws=24, seed=3)
            assert r.rejected, f"{name}: {r}"
        own = blocks[0]
        corr = dependence_correction(blk, 10, 1.0, 400, 800)
        for f in (0.95, 1.05):
            r = moment_test(own[0], FixedWeights(own[1]).scaled(f), 800, orders=(1, 2),
                            n_data_draws=64, seed=3, mean_correction=corr)
            assert r.rejected, f"own weights × {f}: {r}"


def test_nulls_give_their_limiting_laws():
    from rmt.laws import diagonal_block_weights

    w = np.linspace(0.5, 1.5, 50)
    assert FixedWeights(w).scaled(0.95).law(0.5).weights.mean() == pytest.approx(0.95, rel=1e-12)
    nu = DiscreteWeights(np.array([1.0, 3.0]), np.array([0.5, 0.5]))
    assert IIDWeights(nu).law(0.5).mean() == pytest.approx(2.0, rel=1e-12)
    want = diagonal_block_weights(10, 1.0).mean()
    assert SoftmaxBlockWeights(10, 1.0, 400).law(0.5).weights.mean() == pytest.approx(want)
