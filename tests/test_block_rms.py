"""Tests of rmt.block_rms: the RMS ratio estimate, its interval and slope.

Tolerances: the coverage check counts intervals over seeds and compares with the 99.9% binomial
band; exact identities are checked to rounding (a few eps).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rmt.block_rms import loglog_contrast, rms_ratio, rms_slope, w_block_sums

positive = st.floats(0.1, 10.0, allow_nan=False)


@given(st.lists(st.tuples(positive, positive), min_size=2, max_size=20), positive)
@settings(max_examples=40, deadline=None)
def test_rms_ratio_is_scale_and_order_free(pairs, c):
    o, d = map(np.array, zip(*pairs))
    e = rms_ratio(o, d)
    assert e.value == pytest.approx(math.sqrt(o.mean() / d.mean()), rel=1e-14)
    assert rms_ratio(c * o, c * d).value == pytest.approx(e.value, rel=1e-13)
    perm = np.random.default_rng(0).permutation(o.size)
    assert rms_ratio(o[perm], d[perm]).stderr == pytest.approx(e.stderr, rel=1e-9, abs=1e-15)
    assert e.dof == o.size - 1


def test_rms_ratio_interval_covers_at_its_level():
    """Lognormal per-trial sums with a known ratio: the 95% interval covers it in 200 seeds
    within the binomial band (the delta method at T = 60 is close to exact here)."""
    true_o, true_d = 2.0, 8.0            # E o = 2, E d = 8 → R = 1/2
    cover = 0
    for s in range(200):
        rng = np.random.default_rng(s)
        z = rng.standard_normal((60, 2))
        o = true_o * np.exp(0.3 * z[:, 0] - 0.045)            # E exp(0.3 Z − 0.045) = 1
        d = true_d * np.exp(0.2 * (0.6 * z[:, 0] + 0.8 * z[:, 1]) - 0.02)
        lo, hi = rms_ratio(o, d).ci(0.95)
        cover += lo <= 0.5 <= hi
    assert cover >= stats.binom.ppf(0.001, 200, 0.95)


def test_slope_of_an_exact_power_law_and_validation():
    C = [10, 100, 1000]
    c = loglog_contrast(C)
    assert float(c @ np.log(np.array(C) ** -0.5)) == pytest.approx(-0.5, abs=1e-14)
    offs = [np.array([1.0, 1.1, 0.9]) / Ci for Ci in C]
    diags = [np.array([4.0, 4.0, 4.0]) for _ in C]
    e = rms_slope(C, offs, diags)
    assert e.value == pytest.approx(-0.5, abs=1e-12) and e.stderr > 0
    with pytest.raises(ValueError, match="offs"):
        rms_slope(C, offs[:2], diags)
    with pytest.raises(ValueError, match="same number"):
        rms_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="diag"):
        rms_ratio([1.0, 2.0], [1.0, 0.0])


def test_w_block_sums_are_seeded_and_validated():
    a = w_block_sums(4, 1.0, 3, 6, 12, "ce", 3, seed=1)
    b = w_block_sums(4, 1.0, 3, 6, 12, "ce", 3, seed=1)
    assert np.array_equal(a[0], b[0]) and np.all(a[1] > 0)
    with pytest.raises(ValueError, match="loss"):
        w_block_sums(4, 1.0, 3, 6, 12, "hinge", 3)
    with pytest.raises(ValueError, match="n_trials"):
        w_block_sums(4, 1.0, 3, 6, 12, "ce", 1)
