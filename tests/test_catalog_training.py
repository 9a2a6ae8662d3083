"""The training claims: registration, estimators at toy sizes, verdicts, planted rivals.

The claims run at toy sizes here (a few samples, a few steps) through ``dataclasses.replace`` of
their ``scales``; the quick scale itself runs in ``rmt verify`` and in a slow test.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from rmt import claims as cl

IDS = ("training-residual-bound", "training-residual-rate-ce", "training-ratio-growth",
       "training-ratio-c-slope-end")
TOY = {"dim": 3, "hidden": 6, "n_samples": 40, "n_steps": 16, "n_trials": 2,
       "optimizer": "adam", "lr": 0.05}


def _toy(cid: str, **extra):
    claim = cl.registry()[cid]
    params = {**TOY, **extra}
    return dataclasses.replace(claim, scales={"quick": params})


def test_registered_with_rivals_and_proofs():
    import proofs  # noqa: PLC0415

    reg = cl.registry()
    known = proofs.registry()
    for cid in IDS:
        c = reg[cid]
        assert c.proof in known
        assert c.rivals or isinstance(c.rule, cl.ExactWithin)
        for r in c.rivals:
            assert r.proof is None or r.proof in known
        assert set(c.scales) >= {"quick", "paper"}


def test_bound_claim_holds_and_a_planted_violation_fails():
    claim = _toy("training-residual-bound", C=[3, 5], losses=["ce", "mse"])
    res = cl.run_claim(claim, seed=1)
    assert res.verdict.status == "holds" and res.estimate.value == 0.0
    ex = res.estimate.extra
    from rmt.training import snapshot_steps  # noqa: PLC0415

    # losses × C × trials × snapshots
    assert ex["checked_points"] == 2 * 2 * 2 * snapshot_steps(TOY["n_steps"]).size
    assert all(0 < v["max_R_over_bound"] <= 1 for v in ex["per_setting"].values())
    assert cl.run_claim(claim, seed=1, prediction=1.0).verdict.status == "fails"


def test_rate_claim_estimate_and_planted_rival():
    claim = _toy("training-residual-rate-ce", C=[3, 5])
    res = cl.run_claim(claim, seed=2)
    assert res.prediction == 0.5 and res.rule.one_sided
    e = res.estimate
    assert e.extra["asymptotic_rate"] == 1.0
    assert e.n_trials == 4 and len(e.extra["slopes"]) == 4 and e.dof == 3
    assert math.isclose(e.value, float(np.mean(e.extra["slopes"])), rel_tol=1e-12)
    for p in cl.planted_runs(res):
        assert p.verdict.status != "holds"


def test_growth_and_c_slope_claims_at_toy_size():
    g = cl.run_claim(_toy("training-ratio-growth", n_classes=5), seed=3)
    e = g.estimate.extra
    assert len(e["growth"]) == 2 and all(v > 0 for v in e["static_growth"])
    assert g.rule.one_sided and g.prediction == 2.0
    for p in cl.planted_runs(g):     # the planted rival is judged by the mirrored rule
        assert p.verdict.status != "holds"
    s = cl.run_claim(_toy("training-ratio-c-slope-end", C=[3, 6]), seed=3)
    ex = s.estimate.extra
    assert len(ex["slopes_end"]) == 2 and ex["C"] == [3, 6] and s.prediction == -0.5
    # two class counts: each seed's slope is the two-point log-log slope of its own runs
    r3, r6 = ex["ratio_end"], ex["ratio_init"]
    assert len(r3) == 2 and len(r6) == 2


@pytest.mark.slow   # the four claims at the quick scale: minutes of training on a shared CPU
@pytest.mark.parametrize("cid", IDS)
def test_quick_scale(cid):
    res = cl.run_claim(cl.registry()[cid], "quick", seed=0)
    assert res.verdict.status in cl.VERDICTS
    for p in cl.planted_runs(res):
        assert p.verdict.status != "holds"
