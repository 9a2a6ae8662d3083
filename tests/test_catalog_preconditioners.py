"""Claims of the preconditioner family: estimators, predictions, verdicts and planted rivals.

The module is written against the Rival API of rmt.claims (BRIEF.md); until that API is on main
these tests are skipped.
"""

import numpy as np
import pytest

import rmt.claims as claims

pytestmark = pytest.mark.skipif(not hasattr(claims, "Rival"),
                                reason="rmt.claims has no Rival API yet (helper core-a)")


@pytest.fixture(scope="module")
def catalog():
    import rmt.catalog.preconditioners as cp

    reg = claims.registry(load_catalog=False)
    return cp, {i: reg[i] for i in cp.CLAIM_IDS}


def test_frobenius_trials_match_the_dense_hessian(catalog):
    cp, _ = catalog
    from rmt.hessian import hessian

    blk, dia = cp.frobenius_trials([3, 4], 5, 12, 1.0, 2, seed=1)
    for i, C in enumerate([3, 4]):
        for t, ss in enumerate(cp._trial_seeds(1, (1, C, 5, 12), 2)):
            model, X = cp._draw(C, 5, 12, 1.0, ss, "numpy")
            H = hessian(model, X)
            B = np.zeros_like(H)
            for k in range(C):
                B[5 * k:5 * k + 5, 5 * k:5 * k + 5] = H[5 * k:5 * k + 5, 5 * k:5 * k + 5]
            # Closed forms vs dense sums of squares: agreement to rounding (1e-12 relative).
            assert blk[i, t] == pytest.approx(np.linalg.norm(H - B) / np.linalg.norm(H),
                                              rel=1e-12)
            assert dia[i, t] == pytest.approx(
                np.linalg.norm(H - np.diag(np.diag(H))) / np.linalg.norm(H), rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("cid", ["precond-block-frobenius-rate",
                                 "precond-diagonal-frobenius-rate",
                                 "precond-block-kappa-bounded"])
def test_quick_verdicts_hold_and_planted_rivals_never_hold(catalog, cid):
    _, reg = catalog
    res = claims.run_claim(reg[cid], "quick", seed=0)
    assert res.verdict.status == "holds", res.verdict.reason
    for planted in claims.planted_runs(res):
        assert planted.verdict.status != "holds", planted.verdict.reason


def test_every_claim_has_rivals(catalog):
    _, reg = catalog
    assert claims.claims_without_rivals(reg) == []
