"""The `rmt` command: exit statuses, one-line errors, the issue's example commands."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from rmt import claims as cl
from rmt.cli import main


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_hessian_v0_example_from_the_issue(capsys):
    code, out, err = run(["hessian", "--model", "linear", "--loss", "ce", "--classes", "200",
                          "--dim", "400", "--samples", "800", "--sigma", "0", "--json",
                          "--pairs", "300"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    res = doc["result"]
    # Float precision: ratios of BLAS sums in float64, relative error ≲ (d + C)·eps ≈ 1.3e-13.
    assert math.isclose(res["per_block_mean"], 1 / 199, rel_tol=1e-12)
    assert math.isclose(res["aggregate"], 1 / math.sqrt(199), rel_tol=1e-12)
    assert doc["parameters"]["classes"] == 200 and doc["parameters"]["sigma"] == 0


@pytest.mark.parametrize("args, needle", [
    (["hessian", "--classes", "1", "--dim", "3", "--samples", "4"], "--classes"),
    (["hessian", "--classes", "3", "--dim", "-3", "--samples", "4"], "--dim"),
    (["hessian", "--classes", "3", "--dim", "3", "--samples", "0"], "--samples"),
    (["hessian", "--classes", "3", "--dim", "3", "--samples", "4", "--loss", "hinge"], "--loss"),
    (["hessian", "--classes", "3", "--dim", "3", "--samples", "4", "--backend", "tpu"],
     "--backend"),
    (["hessian", "--classes", "3", "--dim", "3", "--samples", "4", "--sigma", "nan"],
     "--sigma"),
    (["hessian", "--model", "hidden", "--classes", "3", "--dim", "3", "--samples", "4"],
     "--hidden"),
    (["hessian", "--classes", "3", "--dim", "3", "--samples", "4", "--pairs", "x"], "--pairs"),
    (["verify", "--claims", "no-such-claim", "--out", "unused"], "no-such-claim"),
    (["verify", "--scale", "huge"], "--scale"),
    (["figures", "--from", "/nonexistent/results.json", "--out", "x"], "no results file"),
    (["prove", "no-such-derivation"], "no-such-derivation"),
    (["verify", "--claims", "mp-esd", "--out", "/proc/rmt-cannot-write-here"], "/proc/"),
])
def test_bad_arguments_one_line_exit_2(args, needle, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and needle in err, err


def test_hidden_model_runs(capsys):
    code, out, err = run(["hessian", "--model", "hidden", "--hidden", "4", "--classes", "5",
                          "--dim", "6", "--samples", "20", "--blocks", "W", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["result"]["blocks"] == "W"


def test_prove_subset_and_list(capsys):
    code, out, _ = run(["prove", "identities.uniform_ratio", "identities.row_sums"], capsys)
    assert code == 0 and "2 of 2 derivations passed" in out
    code, out, _ = run(["prove", "--list"], capsys)
    assert code == 0 and "identities.psd" in out


def _planted_claim(prediction):
    def estimate(params, seed, backend):
        x = np.random.default_rng(seed).normal(1.0, 1.0, 2000)
        return cl.Estimate(x.mean(), x.std(ddof=1) / math.sqrt(x.size), x.size, dof=x.size - 1)

    return cl.Claim(id="planted-wrong", statement="a planted claim", latex="$x$", proof=None,
                    predict=lambda p: prediction, estimate=estimate, rule=cl.WithinCI(0.99, 0.5),
                    scales={"quick": {}}, quantity="sample mean")


def test_verify_planted_false_claim_fails_with_nonzero_exit(tmp_path, capsys):
    # The mean of 2000 N(1, 1) draws has SE 0.022: a prediction of 2 is 45 SE away.
    cl.register(_planted_claim(2.0))
    try:
        code, out, err = run(["verify", "--claims", "planted-wrong", "--out", str(tmp_path),
                              "--quiet"], capsys)
    finally:
        cl.unregister("planted-wrong")
    assert code == 1
    assert "fails" in out
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["claims"][0]["verdict"] == "fails"
    assert (tmp_path / "report.md").read_text().count("planted-wrong") >= 2


def _claim_with_rivals():
    """Mean of 2000 N(1, 1) draws (SE 0.022, 99% half-width 0.058): the rival at 1.5 is 22 SE
    away (rejected), the one at 1.01 is 0.45 SE away (not rejected)."""
    def estimate(params, seed, backend):
        from rmt.stats import mean_estimate

        return mean_estimate(np.random.default_rng(seed).normal(1.0, 1.0, 2000))

    return cl.Claim(id="planted-rivals", statement="a claim with rivals", latex="$x$",
                    proof=None, predict=lambda p: 1.0, estimate=estimate,
                    rule=cl.WithinCI(0.99, rel_precision=None), scales={"quick": {}},
                    quantity="sample mean",
                    rivals=(cl.Rival("far theory", lambda p: 1.5, note="off by half"),
                            cl.Rival("near theory", lambda p: 1.01)))


def test_verify_planted_lists_rivals_in_table_json_and_report(tmp_path, capsys):
    cl.register(_claim_with_rivals())
    try:
        code, out, err = run(["verify", "--claims", "planted-rivals", "--out", str(tmp_path),
                              "--quiet", "--planted"], capsys)
    finally:
        cl.unregister("planted-rivals")
    assert code == 0, err       # inconclusive is not a failure, and no planted rival holds
    assert "1 claims: 0 hold against 1 rivals rejected (of 2 declared), 1 inconclusive, 0 fail" \
        in out
    assert "1/2" in out and "planted runs: 1 of 2 planted rivals rejected" in out
    assert "planted rivals that hold: 0" in out
    doc = json.loads((tmp_path / "results.json").read_text())
    row = doc["claims"][0]
    assert row["verdict"] == "inconclusive" and "near theory" in row["reason"]
    assert [(r["name"], r["value"], r["rejected"]) for r in row["rivals"]] == [
        ("far theory", 1.5, True), ("near theory", 1.01, False)]
    assert row["rivals"][0]["note"] == "off by half" and row["rivals"][1]["trials_to_separate"]
    assert doc["summary"].startswith("1 claims: 0 hold against 1 rivals rejected")
    pl = doc["planted"][0]
    assert pl["rejected"] == 1 and pl["held"] == []
    assert [(r["name"], r["verdict"]) for r in pl["rivals"]] == [
        ("far theory", "fails"), ("near theory", "inconclusive")]
    md = (tmp_path / "report.md").read_text()
    assert "- far theory: 1.5 — rejected" in md and "- near theory: 1.01 — NOT rejected" in md
    assert "## Planted runs" in md and "1 of 2 planted rivals rejected" in md


def _labelled_claims():
    """A bound (AtMost) and a single draw with no spread over seeds, for the report's labels
    (the catalog's spectral claims are now calibrated law tests, not bounds)."""
    def bound_est(params, seed, backend):
        return cl.Estimate(0.01, 0.002, 10, dof=9)

    def single_est(params, seed, backend):
        return cl.Estimate(1.0, 0.0, 1)

    common = dict(latex="$x$", proof=None, scales={"quick": {}}, quantity="q")
    return [cl.Claim(id="label-bound", statement="a bound", predict=lambda p: 0.0299573,
                     estimate=bound_est, rule=cl.AtMost(level=0.99),
                     rivals=(cl.Rival("above the bound", lambda p: 0.05),), **common),
            cl.Claim(id="label-single", statement="one draw", predict=lambda p: 1.0,
                     estimate=single_est, rule=cl.WithinCI(0.99, rel_precision=None),
                     rivals=(cl.Rival("off", lambda p: 1.5),), **common)]


def test_report_labels_bounds_exact_and_single_draws(tmp_path, capsys):
    claims = _labelled_claims()
    for c in claims:
        cl.register(c)
    try:
        code, out, err = run(["verify", "--claims", "label-bound", "label-single",
                              "linear-ce-psd", "--out", str(tmp_path), "--quiet"], capsys)
    finally:
        for c in claims:
            cl.unregister(c.id)
    assert code == 0, err
    assert "≤ 0.0299573 (bound)" in out                      # a threshold is a bound
    assert "(single draw; spread over seeds not measured)" in out
    assert "± 0 (exact; tolerance" in out                     # only exact identities
    assert out.count("(exact") == 1
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["claims"][0]["rule"] == {"name": "AtMost", "level": 0.99, "one_sided": True,
                                        "predicts": "bound"}
    assert doc["claims"][0]["one_sided_bounds"] is not None


def test_verify_and_redraw_figures(tmp_path, capsys):
    out_dir = tmp_path / "rep"
    code, out, err = run(["verify", "--claims", "linear-ce-v0-per-block", "linear-ce-psd",
                          "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert (out_dir / "figures" / "linear-ce-v0-per-block.pdf").exists()
    assert not list(out_dir.glob(".*.tmp"))
    code, out, err = run(["figures", "--from", str(out_dir / "results.json"), "--out",
                          str(tmp_path / "redrawn")], capsys)
    assert code == 0, err
    assert (tmp_path / "redrawn" / "linear-ce-v0-per-block.png").exists()


def test_console_script_module_entry():
    proc = subprocess.run([sys.executable, "-m", "rmt.cli", "hessian", "--classes", "0",
                           "--dim", "2", "--samples", "2"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_verify_reports_a_crashing_estimator_as_failed(tmp_path, capsys):
    def broken(params, seed, backend):
        raise RuntimeError("boom")

    def figure(ax, result):
        return ax.plot(result["extra"]["x"])  # KeyError: a failed estimate has no extra data

    claim = cl.Claim(id="planted-crash", statement="s", latex="$x$", proof=None,
                     predict=lambda p: 1.0, estimate=broken, rule=cl.WithinCI(),
                     scales={"quick": {}}, figure=figure)
    cl.register(claim)
    try:
        code, out, err = run(["verify", "--claims", "planted-crash", "--out", str(tmp_path),
                              "--quiet"], capsys)
    finally:
        cl.unregister("planted-crash")
    assert code == 1
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["claims"][0]["verdict"] == "fails" and "boom" in doc["claims"][0]["reason"]
    assert "KeyError" in doc["claims"][0]["figure_error"]
    assert "Figure not drawn" in (tmp_path / "report.md").read_text()


def test_gap_rate_rule_never_holds_while_the_ci_contains_minus_half():
    """The claim says the gap decays faster than the paper's d^(−1/2), which is its rival: a
    "holds" must reject −1/2 (one-sided upper bound below it)."""
    from rmt.catalog import lindeberg  # noqa: F401 - registers the claim
    from scipy import stats

    claim = cl.registry()["lindeberg-smooth-gap-rate"]
    params = claim.params("quick")
    rivals = {r.name: r.predict(params) for r in claim.rivals}
    assert list(rivals.values()) == [-0.5]
    z = float(stats.norm.ppf(0.95))
    est = cl.Estimate(-0.75, 0.28 / z, 7)   # one-sided 95% bounds [−1.03, −0.47]
    assert est.bound(0.95, "upper") > -0.5 and est.bound(0.95, "lower") < -1.0
    v = claim.rule.decide(-1.0, est, rivals)
    assert v.status == "inconclusive" and "paper" in v.reason
    est = cl.Estimate(-0.9, 0.1, 7)        # upper bound −0.74 < −1/2: rival rejected
    assert claim.rule.decide(-1.0, est, rivals).status == "holds"


def test_v0_per_block_estimate_states_its_pair_sample_and_computes_c_once(monkeypatch):
    """The statement must say the mean is over a sample of pairs (400 of C(C−1) at quick scale),
    and the curve's last point (the claim's own C) must not be recomputed."""
    from rmt.catalog import foundation

    claim = cl.registry()["linear-ce-v0-per-block"]
    assert "all pairs" not in claim.statement and "400" in claim.statement
    calls = []
    real = foundation.block_ratio

    def counting(model, X, **kw):
        calls.append(model.n_classes)
        return real(model, X, **kw)

    monkeypatch.setattr(foundation, "block_ratio", counting)
    params = {"n_classes": 30, "dim": 20, "n_samples": 40}
    est = claim.estimate(params, 0, "numpy")
    assert calls.count(30) == 1
    assert est.extra["ratio"][-1] == est.value and est.extra["C"][-1] == 30
    assert est.extra["n_pairs"] == 400 < est.extra["n_pairs_total"] == 30 * 29
    # Exact at V = 0 (ratios of BLAS sums in float64, relative error ≲ (d + C)·eps).
    assert math.isclose(est.value, 1 / 29, rel_tol=1e-12)


def _typed_flags(parser):
    """(parser, flag) for every option of ``parser`` and its subcommands that converts or
    restricts its value (free text and paths excluded: any string is a valid one)."""
    import argparse
    from pathlib import Path

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _typed_flags(sub)
        elif action.option_strings and (action.choices or action.type not in (None, str, Path)):
            yield parser, action.option_strings[0]


def _all_parsers():
    from rmt.cli import build_parser
    from simulations import _sweep_demo, block_ratio, block_spectra, heatmap, lindeberg

    return [build_parser()] + [m.build_parser() for m in (block_ratio, block_spectra, heatmap,
                                                           lindeberg, _sweep_demo)]


def test_every_flag_of_every_command_is_named_once_in_its_error():
    """Issue 18, item 10: "argument --C: --C must be an integer >= 2" named the flag twice."""
    from rmt.cli import ArgumentParser, UsageError

    checked = 0
    for parser, flag in (pf for p in _all_parsers() for pf in _typed_flags(p)):
        assert isinstance(parser, ArgumentParser), parser.prog  # one parser class everywhere
        messages = []
        for bad in ("nan", "-1", "0", "1e999", "bogus", ""):
            try:
                parser.parse_args([flag, bad])
            except UsageError as exc:
                if f"argument {flag}" in str(exc):
                    messages.append(str(exc))
        assert messages, f"{parser.prog} {flag}: no bad value was refused"
        for m in messages:
            assert m.count(flag) == 1 and "\n" not in m, m
        checked += 1
    assert checked > 60


def test_python_dash_m_rmt_is_the_command():
    # `python -m rmt` where the console script is not on PATH: same parser, same exit codes
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "rmt", "--help"], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0 and "usage: rmt" in ok.stdout and "verify" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "rmt", "no-such-command"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
