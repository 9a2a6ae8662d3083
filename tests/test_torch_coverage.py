"""Measured coverage of rmt.torch's sequential CIs (slow): over >= 200 repetitions with
independent probe seeds, the number of 95 % CIs of the aggregate ratio that contain the exact
value (rmt's closed form) must lie in the 99 % band of Binomial(n, 0.95), the law of the hits of
an honest interval. The README reports the same measurement at a larger size."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="rmt.torch needs the torch extra "
                                            "(pip install -e '.[torch]')")

from rmt.hessian import block_norms  # noqa: E402
from rmt.models import LinearClassifier  # noqa: E402
from rmt.torch import HessianProblem, StoppingRule, partition  # noqa: E402
from rmt.torch.coverage import binomial_band, rule_coverage  # noqa: E402
from rmt.torch.models import ce_loss, from_rmt  # noqa: E402


def test_binomial_band():
    lo, hi = binomial_band(200, 0.95, 0.99)
    assert lo < 190 < hi and 180 <= lo and hi <= 198


@pytest.mark.slow
@pytest.mark.parametrize("loss_target", ["aggregate", "off_diagonal"])
def test_coverage_within_binomial_band(loss_target):
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        C, d, N = 64, 16, 64
        m = LinearClassifier.init(C, d, 1.0, seed=1)
        X, y = rng.standard_normal((N, d)), rng.integers(0, C, N)
        mod = from_rmt(m)
        pb = HessianProblem(mod, ce_loss, torch.from_numpy(X), torch.from_numpy(y))
        ex = block_norms(m, X, y)
        truth = ex.aggregate_ratio if loss_target == "aggregate" else ex.off_diagonal
        cov = rule_coverage(pb, partition(mod), "V", truth, StoppingRule(rtol=0.05), 200,
                            quantity=loss_target, seed=1)
    finally:
        torch.set_num_threads(n_threads)
    assert cov.within_band, str(cov)
