"""The claims framework: verdict rules and the registry."""

import math

import numpy as np
import pytest
from scipy import stats

from rmt import claims as cl


def _mean_estimate(samples):
    from rmt.stats import mean_estimate

    return mean_estimate(samples)


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
        return _mean_estimate(rng.normal(params["mu"], 1.0, params["n_trials"]))

    return cl.Claim(
        id=f"planted-{prediction}", statement="the mean of N(μ, 1) draws is μ",
        latex=r"$E[x] = \mu$", proof=None, predict=lambda p: prediction,
        estimate=estimate, rule=cl.WithinCI(0.99, rel_precision=0.1),
        scales={"quick": {"mu": 2.0, "n_trials": 4000}}, quantity="sample mean")


def test_true_claim_holds_and_false_claim_fails():
    # SE = 1/sqrt(4000) = 0.016: the true μ = 2 lies in the 99% CI except with prob. 1%
    # (seed fixed, so deterministic); a prediction of 2.5 is 31 SE away.
    assert cl.run_claim(_planted(2.0), seed=1).verdict.status == "holds"
    res = cl.run_claim(_planted(2.5), seed=1)
    assert res.verdict.status == "fails"
    d = res.to_dict()
    assert d["verdict"] == "fails" and d["parameters"] == {"mu": 2.0, "n_trials": 4000}


def test_scale_fallback_and_registry():
    c = _planted(2.0)
    assert c.params("llm") == {"mu": 2.0, "n_trials": 4000}
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


# ---------------------------------------------------------------------------------------------
# rivals and planted runs
# ---------------------------------------------------------------------------------------------

def _mean_claim(rivals=(), rule=None, T=4000):
    """E[x] of N(2, 1) draws: SE = 1/√T = 0.0158 at T = 4000, so the 99% CI has half-width
    0.041; a rival at 2.5 is 31 SE away, one at 2.01 is 0.6 SE away."""
    def estimate(params, seed, backend):
        rng = np.random.default_rng(seed)
        return _mean_estimate(rng.normal(params["mu"], 1.0, params["n_trials"]))

    return cl.Claim(
        id="planted-mean", statement="the mean of N(μ, 1) draws is μ", latex=r"$E[x] = \mu$",
        proof=None, predict=lambda p: p["mu"], estimate=estimate,
        rule=rule or cl.WithinCI(0.99, rel_precision=None),
        scales={"quick": {"mu": 2.0, "n_trials": T}}, quantity="sample mean", rivals=rivals)


def test_rivals_decide_the_verdict():
    far = cl.Rival("far", lambda p: 2.5, note="a wrong theory")
    near = cl.Rival("near", lambda p: 2.01)
    res = cl.run_claim(_mean_claim((far,)), seed=1)
    assert res.verdict.status == "holds" and res.verdict.rivals_rejected == 1
    res = cl.run_claim(_mean_claim((far, near)), seed=1)
    v = res.verdict
    assert v.status == "inconclusive" and "near (2.01)" in v.reason and "far" not in v.reason
    # trials to separate: T·(half-width / |2.01 − 2|)²
    half = (lambda lo, hi: (hi - lo) / 2)(*res.estimate.ci(0.99))
    assert v.trials_to_decide == math.ceil(4000 * (half / 0.01) ** 2)
    d = res.to_dict()
    assert [(r["name"], r["value"], r["rejected"]) for r in d["rivals"]] == [
        ("far", 2.5, True), ("near", 2.01, False)]
    assert d["rivals"][0]["note"] == "a wrong theory" and d["rivals_rejected"] == 1
    # a prediction outside the CI fails whatever the rivals
    bad = cl.run_claim(_mean_claim((near,)), seed=1, prediction=2.5)
    assert bad.verdict.status == "fails" and bad.planted == "planted"


def test_planted_rival_never_holds():
    far = cl.Rival("far", lambda p: 2.5)
    near = cl.Rival("near", lambda p: 2.01)
    claim = _mean_claim((far, near))
    # the near rival cannot be told from the truth: planted, it is inconclusive (the claim's
    # prediction is now the un-rejected rival), never holds; the far one fails
    for seed in range(5):
        res = cl.run_claim(claim, seed=seed)
        for p in cl.planted_runs(res):
            assert p.verdict.status != "holds"
            assert p.verdict.status == ("fails" if p.planted == "far" else "inconclusive")
            names = [o.name for o in p.verdict.rivals]
            assert cl.PREDICTION_NAME in names and p.planted not in names
        # planted_runs reuses the estimate: the same verdict as a fresh planted run
        fresh = cl.run_claim(claim, seed=seed, prediction=far)
        assert fresh.verdict.reason == cl.planted_runs(res)[0].verdict.reason


def test_planted_values_of_every_kind():
    claim = _mean_claim()
    for planted in (2.5, lambda p: p["mu"] + 0.5, cl.Rival("r", lambda p: 2.5)):
        assert cl.run_claim(claim, seed=1, prediction=planted).verdict.status == "fails"
    # planting the truth: consistent, but the claim's own prediction is then an un-rejected
    # rival, so the planted run is inconclusive rather than holds
    assert cl.run_claim(claim, seed=1, prediction=2.0).verdict.status == "inconclusive"


def test_one_sided_rules_test_one_sided():
    rule = cl.ExponentAtMost(level=0.95, abs_precision=0.25)
    z1 = float(stats.norm.ppf(0.95))
    est = cl.Estimate(-0.875, 0.092, 7)            # one-sided 95% bounds −1.026, −0.724
    v = rule.decide(-1.0, est, {"paper": -0.5})
    assert v.status == "holds" and v.rivals[0].rejected
    # a two-sided 95% interval would reach −1.055; the one-sided lower bound −1.026 is what
    # counts: still consistent with b ≤ −1
    assert est.bound(0.95, "lower") == pytest.approx(-0.875 - z1 * 0.092)
    wide = cl.Estimate(-0.75, 0.2, 7)               # upper bound −0.42 > −0.5: rival alive
    v = rule.decide(-1.0, wide, {"paper": -0.5})
    assert v.status == "inconclusive" and "paper" in v.reason and v.trials_to_decide > 7
    assert rule.decide(-1.0, cl.Estimate(-0.5, 0.1, 7)).status == "fails"
    # without abs_precision a bound holds only when the data show it (upper bound ≤ −1)
    strict = cl.ExponentAtMost(level=0.95)
    assert strict.decide(-1.0, est, {"paper": -0.5}).status == "inconclusive"
    assert strict.decide(-1.0, cl.Estimate(-1.3, 0.1, 7), {"paper": -0.5}).status == "holds"
    # planted: the mirror rule judges the rival by the test that rejects it in the normal run
    mirror = rule.for_planted()
    assert isinstance(mirror, cl.ExponentAtLeast) and mirror.level == 0.95
    pv = mirror.decide(-0.5, est, {cl.PREDICTION_NAME: -1.0})
    assert pv.status == "fails"
    assert mirror.decide(-0.5, wide, {cl.PREDICTION_NAME: -1.0}).status == "inconclusive"


def test_at_most_rivals_and_mirror():
    rule = cl.AtMost(basis="bound", level=0.99)
    est = cl.Estimate(0.01, 0.001, 10)
    v = rule.decide(0.05, est, {"a wrong law's distance": 0.04})
    assert v.status == "holds" and v.rivals_rejected == 1
    v = rule.decide(0.05, est, {"too close": 0.011})
    assert v.status == "inconclusive"
    assert isinstance(rule.for_planted(), cl.AtLeast)


def test_law_rule_extension_point():
    """A spectral claim's rule receives laws: the test decides each one."""
    def test(est, law, level):
        ks = abs(est.value - law)               # stand-in: a 'law' is a location here
        return cl.LawOutcome(ks > 0.1, ks, 0.1, "toy test", trials_to_reject=99)

    rule = cl.MatchesLaw(test=test, level=0.99)
    est = cl.Estimate(1.0)
    v = rule.decide(1.05, est, {"C = ∞ law": 1.5, "σ × 0.8": 1.02})
    assert v.status == "inconclusive" and "σ × 0.8" in v.reason and v.trials_to_decide == 99
    assert rule.decide(1.5, est).status == "fails"
    with pytest.raises(TypeError, match="test"):
        cl.MatchesLaw(test=None)


def test_rival_validation_and_missing_rivals():
    with pytest.raises(ValueError, match="name"):
        cl.Rival("", lambda p: 0.0)
    with pytest.raises(TypeError, match="predict"):
        cl.Rival("x", 0.0)
    r = cl.Rival("x", lambda p: 0.0)
    with pytest.raises(ValueError, match="distinct"):
        _mean_claim((r, r))
    with pytest.raises(TypeError, match="Rival"):
        _mean_claim(((lambda p: 0.0),))
    bare = _mean_claim()
    exact = cl.Claim(id="exact", statement="", latex="", proof=None, predict=lambda p: 0.0,
                     estimate=lambda p, s, b: cl.Estimate(0.0), rule=cl.ExactWithin(0.0),
                     scales={"quick": {}})
    assert cl.claims_without_rivals({"a": bare, "e": exact}) == ["a"]
    # the suite's claims: none without a rival (tests/test_claims_catalog.py checks the rest)
    assert cl.claims_without_rivals() == []
