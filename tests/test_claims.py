"""The claims framework: verdict rules and the registry."""

import math

import numpy as np
import pytest

from rmt import claims as cl


def _mean_estimate(samples):
    samples = np.asarray(samples, float)
    n = samples.size
    return cl.Estimate(samples.mean(), samples.std(ddof=1) / math.sqrt(n), n, dof=n - 1)


def test_within_ci_holds_fails_inconclusive():
    rule = cl.WithinCI(level=0.99, rel_precision=0.01)
    est = cl.Estimate(1.0, 0.001, 100)
    assert rule.decide(1.001, est).status == "holds"
    v = rule.decide(1.1, est)
    assert v.status == "fails" and "outside" in v.reason
    wide = cl.Estimate(1.0, 0.05, 100)  # 99% half-width 0.129 > 0.01
    v = rule.decide(1.02, wide)
    assert v.status == "inconclusive"
    # Trials needed scale as (half-width / target)²: 100·(0.1288/0.0102)² ≈ 15,900.
    half = wide.critical(0.99) * 0.05
    assert v.trials_to_decide == math.ceil(100 * (half / (0.01 * 1.02)) ** 2)


def test_exact_and_rate_rules():
    assert cl.ExactWithin(rtol=1e-12).decide(0.5, cl.Estimate(0.5 + 1e-14)).status == "holds"
    assert cl.ExactWithin(rtol=1e-12).decide(0.5, cl.Estimate(0.51)).status == "fails"
    rate = cl.RateWithinCI(level=0.95, abs_precision=0.05)
    assert rate.decide(-1.0, cl.Estimate(-1.01, 0.01, 10, dof=8)).status == "holds"
    assert rate.decide(-0.5, cl.Estimate(-1.01, 0.01, 10, dof=8)).status == "fails"
    assert rate.decide(-1.0, cl.Estimate(-1.1, 0.3, 5, dof=3)).status == "inconclusive"


def test_rule_validation():
    with pytest.raises(ValueError, match="level"):
        cl.WithinCI(level=1.5)
    with pytest.raises(ValueError, match="rel_precision"):
        cl.WithinCI(rel_precision=0)


def _planted(prediction):
    def estimate(params, seed, backend):
        rng = np.random.default_rng(seed)
        return _mean_estimate(rng.normal(params["mu"], 1.0, params["T"]))

    return cl.Claim(
        id=f"planted-{prediction}", statement="the mean of N(μ, 1) draws is μ",
        latex=r"$E[x] = \mu$", proof=None, predict=lambda p: prediction,
        estimate=estimate, rule=cl.WithinCI(0.99, rel_precision=0.1),
        scales={"quick": {"mu": 2.0, "T": 4000}}, quantity="sample mean")


def test_true_claim_holds_and_false_claim_fails():
    # SE = 1/sqrt(4000) = 0.016: the true μ = 2 lies in the 99% CI except with prob. 1%
    # (seed fixed, so deterministic); a prediction of 2.5 is 31 SE away.
    assert cl.run_claim(_planted(2.0), seed=1).verdict.status == "holds"
    res = cl.run_claim(_planted(2.5), seed=1)
    assert res.verdict.status == "fails"
    d = res.to_dict()
    assert d["verdict"] == "fails" and d["parameters"] == {"mu": 2.0, "T": 4000}


def test_scale_fallback_and_registry():
    c = _planted(2.0)
    assert c.params("llm") == {"mu": 2.0, "T": 4000}
    with pytest.raises(ValueError, match="scale"):
        c.params("huge")
    cl.register(c)
    try:
        assert c.id in cl.registry(load_catalog=False)
        with pytest.raises(ValueError, match="already registered"):
            cl.register(_planted(2.0))
    finally:
        cl.unregister(c.id)


def test_at_most_rule():
    rule = cl.AtMost(basis="test bound", level=0.99)
    assert rule.decide(0.05, cl.Estimate(0.01, 0.001, 10)).status == "holds"
    assert rule.decide(0.05, cl.Estimate(0.08, 0.001, 10)).status == "fails"
    v = rule.decide(0.05, cl.Estimate(0.049, 0.01, 10))
    assert v.status == "inconclusive" and "test bound" in v.reason
    assert rule.decide(0.05, cl.Estimate(0.04)).status == "holds"  # deterministic
