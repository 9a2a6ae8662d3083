"""Tests of the suite's own claims (rmt.catalog).

* Structure: every claim declares a rival except exact identities; every claim has a figure,
  a formula that matplotlib's mathtext renders, and derivations (its own and its rivals') that
  exist in ``proofs/``; the claims that could not fail or repeated another are gone.
* Power, per family at the quick scale: the claim holds with every rival rejected; each rival
  planted as the prediction (``planted_runs``, the same numbers a fresh planted run gives)
  fails; a planted wrong value fails; the figure draws from the stored (JSON) result.

The verdicts are deterministic (seed 0); the statistical margins behind them are stated beside
each claim's scale in rmt/catalog (e.g. the nearest rival about five standard errors away).
The expensive claims run under ``-m slow``; the default run keeps the cheap ones (≈ 20 s).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rmt import claims as cl
from rmt.claims import ExactWithin, MatchesLaw, planted_runs, registry, run_claim

#: The families this file tests (other helpers' catalogs, e.g. torch_blocks, test their own).
FAMILIES = ("foundation", "laws", "block_ratio", "hidden", "lindeberg")
REG = {cid: c for cid, c in registry().items()
       if c.estimate.__module__.rsplit(".", 1)[-1] in FAMILIES}

#: Claims whose quick-scale run costs more than a few seconds of CPU (slow marker).
SLOW = {
    "linear-ce-v0-per-block", "linear-ce-v0-aggregate", "linear-ce-psd",
    "diag-block-esd-own-weights", "offdiag-block-esd-own-weights",
    "diag-block-esd-finite-c-law", "offdiag-block-esd-finite-c-law",
    "linear-ce-per-block-C10", "linear-ce-per-block-C50", "linear-ce-per-block-C200",
    "linear-ce-per-block-C1000",
    "linear-ce-per-block-rate", "hidden-ce-w-block-C10", "hidden-ce-w-block-C100",
    "hidden-ce-w-block-C1000", "hidden-ce-w-block-rate", "lindeberg-first-moment-linear",
    "lindeberg-smooth-gap-rate",
}


def _family(claim: cl.Claim) -> str:
    return claim.estimate.__module__.rsplit(".", 1)[-1]


def _params():
    out = []
    for cid, claim in sorted(REG.items()):
        marks = [pytest.mark.slow] if cid in SLOW else []
        out.append(pytest.param(cid, id=f"{_family(claim)}:{cid}", marks=marks))
    return out


# --------------------------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------------------------

def test_only_exact_identities_lack_rivals():
    assert cl.claims_without_rivals() == []              # every registered claim, all families
    exact = [cid for cid, c in REG.items() if isinstance(c.rule, ExactWithin)]
    assert all(not REG[cid].rivals for cid in exact)     # an identity's tolerance is its power


def test_every_claim_has_a_figure_and_a_rendered_formula():
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")
    for cid, claim in REG.items():
        assert claim.figure is not None, cid
        tex = claim.latex
        assert tex.startswith("$") and tex.count("$") % 2 == 0, cid     # math, then text
        parser.parse(tex)          # raises ValueError on a formula mathtext cannot render


def test_derivations_exist():
    import proofs

    known = set(proofs.registry())
    for cid, claim in REG.items():
        assert claim.proof is None or claim.proof in known, (cid, claim.proof)
        for r in claim.rivals:
            assert r.proof is None or r.proof in known, (cid, r.name, r.proof)


def test_claims_that_could_not_fail_or_repeated_another_are_gone():
    # lindeberg-endpoints held by construction (now tests/test_lindeberg.py); the aggregate rate
    # was the per-block rate plus a constant
    for cid in ("lindeberg-endpoints", "linear-ce-aggregate-rate"):
        assert cid not in REG
    # the hidden rate is against the finite-σ prediction, with the uniform softmax a rival
    rate = REG["hidden-ce-w-block-rate"]
    assert rate.proof == "hidden_finite_sigma.decomposition"
    assert "uniform-softmax slope" in {r.name for r in rate.rivals}


def test_claims_without_their_extra_are_listed_as_skipped(tmp_path):
    """Without PyTorch the torch_blocks claims are not silently absent: `rmt verify` prints
    them as skipped with the reason, and the report and results.json list them."""
    import subprocess
    import sys

    code = ("import sys\n"
            "class NoTorch:\n"                           # import torch -> ImportError
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ImportError('No module named torch (blocked by the test)')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from rmt.cli import main\n"
            f"sys.exit(main(['verify', '--quiet', '--out', {str(tmp_path)!r}, '--claims', "
            "'torch-mlp-hidden-rate', 'torch-hvp-linear-closed-form']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "skipped torch-mlp-hidden-rate: PyTorch is not installed" in out.stdout
    doc = json.loads((tmp_path / "results.json").read_text())
    assert set(doc["skipped"]) == {"torch-mlp-hidden-rate", "torch-hvp-linear-closed-form"}
    assert doc["claims"] == []
    assert "## Skipped claims" in (tmp_path / "report.md").read_text()


def test_spectral_claims_declare_the_issue_rivals():
    want = {"C = ∞ law", "σ × 0.8", "σ × 1.2", "C/2", "plain MP", "weights × 0.95"}
    for kind in ("diag", "offdiag"):
        names = {r.name for r in REG[f"{kind}-block-esd-finite-c-law"].rivals}
        assert want <= names
        own = {r.name for r in REG[f"{kind}-block-esd-own-weights"].rivals}
        assert {"weights × 0.95", "weights × 1.05", "plain MP at the mean weight"} <= own


# --------------------------------------------------------------------------------------------
# power at the quick scale
# --------------------------------------------------------------------------------------------

def _wrong(claim: cl.Claim, res: cl.ClaimResult):
    """A planted value that is plainly wrong for this claim."""
    if isinstance(claim.rule, MatchesLaw):
        from rmt.laws import DiscreteWeights

        return DiscreteWeights.point_mass(3.0)        # every weight 3: MP scaled by 3
    if isinstance(claim.rule, ExactWithin):
        return float(res.prediction) + 1e-3 + 1e-3 * abs(float(res.prediction))
    est = res.estimate
    return float(est.value) + 50.0 * float(est.stderr) + 0.5


@pytest.mark.parametrize("cid", _params())
def test_claim_holds_and_every_planted_rival_fails(cid):
    claim = REG[cid]
    res = run_claim(claim, "quick", seed=0)
    v = res.verdict
    assert v.status == "holds", (cid, v.reason)
    assert v.rivals_rejected == len(claim.rivals)
    for p in planted_runs(res):
        assert p.verdict.status == "fails", (cid, p.planted, p.verdict.reason)
    # the same verdict as run_claim(..., prediction=wrong) with this seed, without recomputing
    wrong = cl.judge(claim, "quick", res.params, res.estimate, prediction=_wrong(claim, res))
    assert wrong.verdict.status == "fails", (cid, wrong.verdict.reason)
    from matplotlib.figure import Figure

    d = json.loads(json.dumps(res.to_dict()))          # what `rmt figures` reads back
    ax = Figure().subplots()
    assert claim.figure(ax, d) is ax


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["diag", "offdiag"])
def test_spectral_rival_laws_planted_directly_fail(kind):
    """``run_claim(..., prediction=law)`` with each wrong law of issue 13 gives ``fails``."""
    claim = REG[f"{kind}-block-esd-finite-c-law"]
    p = claim.params("quick")
    for r in claim.rivals:
        res = run_claim(claim, "quick", seed=0, prediction=r.predict(p))
        assert res.verdict.status == "fails", (r.name, res.verdict.reason)


def test_inconclusive_verdict_names_the_rival():
    """A rival the data cannot reject makes the claim inconclusive, named in the verdict,
    with a trial count that would separate it."""
    claim = REG["block-sq-norm-exact"]
    res = run_claim(claim, "quick", seed=0)
    near = cl.Rival("prediction + 0.1 SE", lambda p: res.prediction + 0.1 * res.estimate.stderr)
    v = claim.rule.decide(res.prediction, res.estimate, {near.name: near.predict({})})
    assert v.status == "inconclusive" and near.name in v.reason
    # SE ∝ 1/√T: the half-width shrinks to the gap after T·(half/gap)² trials
    half = (lambda lo, hi: (hi - lo) / 2)(*res.estimate.ci(claim.rule.level))
    assert v.trials_to_decide == math.ceil(res.estimate.n_trials
                                           * (half / (0.1 * res.estimate.stderr)) ** 2)
    assert np.isfinite(res.estimate.value)
