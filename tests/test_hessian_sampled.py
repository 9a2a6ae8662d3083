"""The sampled aggregate block ratio (rmt.hessian.sampled): CI coverage against the exact path,
stratified unbiasedness, the time budget, method="auto", and input validation.

Coverage tolerances are binomial: with ``n`` seeded runs at confidence ``level`` the number of
CIs that contain the exact value is Binomial(n, level) if the CI is right; the tests accept the
central 99.9 % band of that law (a correct CI fails with probability ≤ 0.1 %)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rmt import hessian as H
from rmt.hessian._context import _Ctx
from rmt.hessian.sampled import SampledBlockNorms, sampled_aggregate
from rmt.models import LinearClassifier, OneHiddenLayer


def _problem(N, d, C, seed=1, sigma=1.0):
    model = LinearClassifier.init(C, d, sigma, seed=seed)
    X = np.random.default_rng(seed + 100).standard_normal((N, d))
    return model, X


def _coverage(model, X, n, level, rel_error, y=None):
    exact = H.block_norms(model, X, y).aggregate_ratio
    hits = 0
    for s in range(n):
        r = H.block_norms(model, X, y, method="sampled", seed=s, level=level,
                          rel_error=rel_error)
        hits += r.ratio_ci_low <= exact <= r.ratio_ci_high
    lo, hi = stats.binom.interval(0.999, n, level)
    return hits, lo, hi


def test_coverage_default_run():
    """Cheap version of the slow test below: 60 seeds, d = 100 (the regime the CLT over groups
    serves; see the module docstring of rmt.hessian.sampled for small d)."""
    model, X = _problem(1000, 100, 30)
    hits, lo, hi = _coverage(model, X, 60, 0.9, 0.02)
    assert lo <= hits <= hi


@pytest.mark.slow
@pytest.mark.parametrize("N,d,C,rel", [(2000, 200, 40, 0.01), (1500, 120, 600, 0.01)])
def test_coverage_over_300_seeds(N, d, C, rel):
    """The 95 % CI of the sampled ratio covers the exact ratio at the nominal rate over 300
    seeded runs (sequential stopping included)."""
    model, X = _problem(N, d, C)
    hits, lo, hi = _coverage(model, X, 300, 0.95, rel)
    assert lo <= hits <= hi


def test_group_estimates_are_unbiased_and_stratified():
    """With every sample used once (max_samples = N) the n = m stratum of each group is exact
    up to the scale N/g, and the mean over groups of both sums is unbiased: over 40 seeds its
    mean is within 4 standard errors (of that mean over seeds) of the exact sums."""
    model, X = _problem(400, 60, 25)
    e = H.block_norms(model, X)
    ctx = _Ctx(model, X, None, "ce")
    D, O = [], []
    for s in range(40):
        r = sampled_aggregate(ctx, 1e-9, 0.95, seed=s, group_size=10, max_samples=400)
        assert r.n_samples_used == 400 and r.n_groups == 40 and not r.converged
        D.append(r.diagonal.value)
        O.append(r.off_diagonal.value)
    for est, ref in ((np.array(D), e.diagonal), (np.array(O), e.off_diagonal)):
        assert abs(est.mean() - ref) <= 4 * est.std(ddof=1) / math.sqrt(est.size)


def test_result_object_budget_and_auto():
    model, X = _problem(600, 40, 50)
    r = H.block_norms(model, X, method="sampled", seed=3, rel_error=0.05)
    assert isinstance(r, SampledBlockNorms) and r.method == "sampled"
    assert r.ratio_ci_low < r.aggregate_ratio < r.ratio_ci_high
    assert r.n_groups >= 20 and r.diagonal.dof == r.n_groups - 1
    assert r.rounding_bound < 1e-9                       # float64: rounding ≪ sampling error
    again = H.block_norms(model, X, method="sampled", seed=3, rel_error=0.05)
    assert again.aggregate_ratio == r.aggregate_ratio   # seeded
    d = r.to_dict()
    assert d["diagonal"]["n_trials"] == r.n_groups and "reason" in d
    text = str(r)
    assert "sampled" in text and "CI" in text and "why sampled" in text
    # a tiny budget stops after the first look at the CI and says the target was not reached
    b = H.block_norms(model, X, method="sampled", seed=3, rel_error=1e-6, budget=1e-9)
    assert b.n_groups == 20 and not b.converged and "NOT reached" in str(b)
    # auto: exact when it fits the budget, sampled (saying why) when it does not
    assert isinstance(H.block_norms(model, X, method="auto"), H.BlockNormSums)
    s = H.block_norms(model, X, method="auto", budget=1e-9, seed=1, rel_error=0.05)
    assert isinstance(s, SampledBlockNorms) and "exact path would take" in s.reason
    # hidden net, CE on V: features h instead of x, same estimator
    hid = OneHiddenLayer.init(20, 30, 16, seed=2)
    Xh = np.random.default_rng(5).standard_normal((600, 30))
    hs = H.block_norms(hid, Xh, method="sampled", seed=0, rel_error=0.05)
    assert isinstance(hs, SampledBlockNorms) and hs.n_blocks == 20


def test_sampled_validation():
    model, X = _problem(100, 5, 4)
    with pytest.raises(ValueError, match="method"):
        H.block_norms(model, X, method="fast")
    with pytest.raises(ValueError, match="rel_error"):
        H.block_norms(model, X, method="sampled", rel_error=0)
    with pytest.raises(ValueError, match="budget"):
        H.block_norms(model, X, method="sampled", budget=-1)
    with pytest.raises(ValueError, match="loss"):
        H.block_norms(model, X, loss="mse", method="sampled")
    with pytest.raises(ValueError, match="pairs=None"):
        H.block_norms(model, X, pairs="all", method="sampled")
    with pytest.raises(ValueError, match="level"):
        H.block_norms(model, X, method="sampled", level=1.5)
