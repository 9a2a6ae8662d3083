"""Claims of the preconditioner family: estimators, predictions, verdicts and planted rivals."""

import numpy as np
import pytest

import rmt.claims as claims

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


def test_every_claim_has_rivals_and_is_in_the_catalog(catalog):
    cp, reg = catalog
    assert claims.claims_without_rivals(reg) == []
    import rmt.catalog

    assert "preconditioners" in rmt.catalog.FAMILIES
    assert set(cp.CLAIM_IDS) <= set(claims.registry())
    names = [r.name for r in reg["precond-diagonal-frobenius-rate"].rivals]
    assert "retold O(1/C)" in names


def test_diagonal_prediction_tends_to_the_gamma_limit(catalog):
    """The independent-weight formula rises towards (γe^{σ²}/(1+γe^{σ²}))^{1/2}, not to 0."""
    cp, _ = catalog
    g, s2 = 0.5, 1.0
    lim = np.sqrt(g * np.exp(s2) / (1 + g * np.exp(s2)))
    y = cp.diagonal_prediction_curve({"C": [10, 1000, 10**6], "sigma": 1.0, "dim": 200,
                                      "n_samples": 400})
    assert y[0] < y[1] < y[2]
    # finite d, N: the formula's large-C value differs from the d, N → ∞ limit by O(1/d)
    assert y[2] == pytest.approx(lim, abs=5.0 / 200)
