"""Smoke tests of the block-spectra simulation's command line."""

from __future__ import annotations

import json

import pytest

from simulations import block_spectra

TINY = ["--dim", "24", "--n-samples", "48", "--n-classes", "4", "--trials", "3",
        "--batch-size", "2", "--bins", "10", "--law-samples", "4000", "--quiet"]


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        block_spectra.main(["--help"])
    assert exc.value.code == 0
    assert "--n-classes" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--dim", "0"], ["--trials", "x"], ["--sigma", "-1"],
                                  ["--backend", "tpu"]])
def test_argument_errors_are_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        block_spectra.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err


def test_tiny_run_writes_results_and_figure(tmp_path):
    stem = tmp_path / "out" / "bs"
    assert block_spectra.main(TINY + ["--out", str(stem)]) == 0
    res = json.loads((tmp_path / "out" / "bs.json").read_text())
    est = res["monte_carlo"]["estimates"]
    assert res["monte_carlo"]["n_trials"] == 3
    for b in ("diag", "offdiag"):
        for c in ("dependent", "independent"):
            assert len(est[f"{b}.{c}.esd"]["mean"]) == 10
            assert len(est[f"{b}.{c}.moments"]["mean"]) == 3
            if res["law_available"]:
                assert 0 <= est[f"{b}.{c}.ks_law"]["mean"] <= 1
    assert (tmp_path / "out" / "bs.pdf").stat().st_size > 0
    assert (tmp_path / "out" / "bs.png").stat().st_size > 0
    assert not list((tmp_path / "out").glob("*.tmp*"))  # atomic writes leave no temporaries
