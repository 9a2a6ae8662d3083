"""Issue 18, "tried as a new user would": items 3, 5, 6, 7, 8 and 9, each as the user met it.

(Items 1, 2, 4, 10 and 11's sweep parts are tested where they were fixed: test_block_ratio_sim,
test_lindeberg, test_cli, test_sweep, test_backend. The README run is test_readme_commands.)
"""

import io
import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from rmt import backend as bk
from rmt import claims as cl
from rmt.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text):
    """json.loads that refuses the NaN/Infinity tokens Python's json writes by default."""
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


# --------------------------------------------------------------------------------------------
# Item 3: sizes checked against memory before allocating; method and progress said


def test_hessian_beyond_memory_is_one_line_exit_2_before_any_allocation(capsys, monkeypatch):
    """Before: ``_ArrayMemoryError`` traceback from standard_normal (exit 1)."""
    monkeypatch.setattr(bk, "free_memory_bytes", lambda xp=None: 64 << 30)   # a 64 GiB host

    def no_alloc(*a, **k):
        raise AssertionError("allocated before the memory check")
    monkeypatch.setattr(bk, "standard_normal", no_alloc)
    code, out, err = run(["hessian", "--classes", "1000000", "--dim", "100000", "--samples",
                          "100000"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    # The estimate, what takes it, what is free, and what to do instead.
    for needle in ("≈ 821 GiB", "V: C × d 745 GiB", "X: N × d 74.5 GiB", "64 GiB of host memory",
                   "--dtype float32", "--backend cupy"):
        assert needle in err, (needle, err)


@pytest.mark.parametrize("module, argv, needle", [
    ("block_ratio", ["--dim", "1000000", "--C", "100000", "--seeds", "2"], "X: N × d"),
    ("block_ratio", ["--scale-check", "--N", "1000000", "--d", "100000"], "X: N × d"),
    ("block_spectra", ["--dim", "200000", "--n-samples", "400000"], "four d × d blocks"),
    ("lindeberg", ["--dims", "50000,100000", "--no-path"], "covariances d × d"),
    ("heatmap", ["--C", "10000"], "dense Hessian of 80128 parameters"),
])
def test_simulations_check_sizes_before_allocating(module, argv, needle, tmp_path, capsys,
                                                   monkeypatch):
    """Before: block_ratio and lindeberg ended in an _ArrayMemoryError traceback, block_spectra
    in a cell's MemoryError after the sweep had started."""
    import importlib

    monkeypatch.setattr(bk, "free_memory_bytes", lambda xp=None: 64 << 30)

    def no_alloc(*a, **k):
        raise AssertionError("allocated before the memory check")
    monkeypatch.setattr(bk, "standard_normal", no_alloc)
    mod = importlib.import_module(f"simulations.{module}")
    code = mod.main(argv + ["--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert module == "heatmap" or "64 GiB of host memory are free" in err
    assert not list(tmp_path.iterdir())                          # nothing written


def _tiny(*extra):
    return ["hessian", "--classes", "300", "--dim", "32", "--samples", "256", *extra]


def test_hessian_auto_switches_to_the_sampled_estimator_and_says_why(capsys, monkeypatch):
    """At the LLM size the exact path runs for hours on a CPU: --method auto (the default)
    predicts its time and samples past --budget, saying so."""
    import rmt.cli as cli
    import rmt.hessian.sampled as sampled

    monkeypatch.setattr(cli, "_SMALL_FLOPS", 0.0)            # time even this small problem
    monkeypatch.setattr(sampled, "gemm_rate", lambda xp, dt: 1e6)   # a slow machine
    code, out, err = run(_tiny("--budget", "5", "--json", "--quiet"), capsys)
    assert code == 0, err
    doc = strict_json(out)
    assert doc["method"] == "sampled"
    assert "> --budget 5 s" in doc["method_reason"] and "GFLOP/s" in doc["method_reason"]
    res = doc["result"]
    assert res["reason"] == doc["method_reason"] and res["n_groups"] >= 2
    rms = doc["per_block_rms"]
    assert math.isclose(rms["value"], res["aggregate_ratio"] / math.sqrt(299), rel_tol=1e-12)
    code, out, err = run(_tiny("--budget", "5", "--quiet"), capsys)    # the text says it too
    assert code == 0 and "why sampled: the exact path" in out and "per block, RMS" in out
    # With the exact path inside the budget, it runs exactly and says why.
    code, out, err = run(_tiny("--budget", "1e9", "--quiet"), capsys)
    assert code == 0 and "method: exact (≈" in out and "<= --budget 1e+09 s" in out


def test_hessian_sampled_needs_ce_on_v(capsys):
    code, out, err = run(_tiny("--loss", "mse", "--method", "sampled"), capsys)
    assert code == 2 and "--method sampled" in err and err.count("\n") == 1


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_long_hessian_run_prints_its_plan_and_a_progress_bar_with_eta(capsys, monkeypatch):
    """Before: nothing at all for 60 s at the LLM size."""
    import rmt.cli as cli
    import rmt.hessian.sampled as sampled

    monkeypatch.setattr(cli, "_SMALL_FLOPS", 0.0)
    monkeypatch.setattr(sampled, "gemm_rate", lambda xp, dt: 1e6)   # predicted ≫ 10 s
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(_tiny("--method", "exact")) == 0
    err = term.getvalue()
    assert "rmt hessian: exact (asked for; ≈" in err            # the plan line, at once
    assert "ETA" in err and "predicted" in err                   # the bar (terminal only)
    term2 = _Terminal()
    monkeypatch.setattr(sys, "stderr", term2)
    assert main(_tiny("--method", "exact", "--quiet")) == 0
    assert term2.getvalue() == ""                                # --quiet: nothing
    capsys.readouterr()


def test_timed_progress_advances_with_the_clock_and_outgrows_a_short_prediction():
    import time

    from rmt.cli import _timed_progress

    term = _Terminal()
    real = sys.stderr
    sys.stderr = term
    try:
        with _timed_progress("work", 20.0, True) as bar:
            time.sleep(1.2)
            assert 0.5 <= bar.n <= 20.0
        with _timed_progress("short", 11.0, True) as bar:
            bar.total = 0.5                                       # a prediction already past
            time.sleep(1.2)
            assert bar.total >= bar.n > 0.5
    finally:
        sys.stderr = real
    assert "ETA" in term.getvalue()


def test_verify_progress_lines_give_elapsed_time_and_an_eta(tmp_path, capsys):
    code, out, err = run(["verify", "--claims", "linear-ce-row-sums-zero",
                          "linear-mse-block-diagonal", "--out", str(tmp_path)], capsys)
    lines = err.splitlines()
    assert lines[0].startswith("[1/2] linear-ce-row-sums-zero: holds (")
    assert "s elapsed, ≈ " in lines[0] and "s left at this pace" in lines[0]
    assert lines[1].startswith("[2/2]") and "s elapsed)" in lines[1]


def test_pairs_help_says_what_auto_does():
    from rmt.cli import build_parser

    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None)
               and "hessian" in a.choices).choices["hessian"]
    text = " ".join(next(a.help for a in sub._actions if "--pairs" in a.option_strings).split())
    assert "all up to 4096" not in text
    assert "half the aggregate" in text and "64 to 4096" in text


# --------------------------------------------------------------------------------------------
# Item 5: strict JSON everywhere


def test_hessian_json_is_strict_when_the_ratio_is_undefined(capsys):
    """Before: ``"per_block_ci": [NaN, NaN]``."""
    code, out, err = run(["hessian", "--classes", "20", "--dim", "10", "--samples", "30",
                          "--sigma", "1e6", "--json"], capsys)
    assert code == 0, err
    doc = strict_json(out)
    assert doc["result"]["per_block_ci"] == [None, None] and doc["result"]["aggregate"] is None
    assert any("softmax is saturated" in w for w in doc["warnings"])
    assert "rmt hessian: warning: block ratios undefined (0/0)" in err


def test_verify_results_json_is_strict_with_a_nan_estimate(tmp_path, capsys):
    def nan_estimate(params, seed, backend):
        return cl.Estimate(math.nan, math.nan, 10, dof=9, extra={"x": [1.0, math.nan]})

    claim = cl.Claim(id="planted-nan", statement="s", latex="$x$", proof=None,
                     predict=lambda p: 1.0, estimate=nan_estimate, rule=cl.WithinCI(),
                     scales={"quick": {}})
    cl.register(claim)
    try:
        code, out, err = run(["verify", "--claims", "planted-nan", "--out", str(tmp_path),
                              "--quiet"], capsys)
    finally:
        cl.unregister("planted-nan")
    doc = strict_json((tmp_path / "results.json").read_text())
    assert doc["claims"][0]["id"] == "planted-nan"


# --------------------------------------------------------------------------------------------
# Item 6: the Python API says why instead of a silent NaN


@pytest.fixture(scope="module")
def model_and_data():
    from rmt.models import LinearClassifier

    m = LinearClassifier.init(n_classes=5, dim=4, sigma=1.0, seed=0)
    X = np.random.default_rng(1).standard_normal((16, 4))
    return m, X


@pytest.mark.parametrize("scale, why", [(1e5, "softmax is saturated"),
                                        (0.0, "X is all zeros")])
def test_block_ratio_undefined_is_nan_with_a_warning_saying_why(model_and_data, scale, why):
    from rmt.hessian import UndefinedRatioWarning, block_norms, block_ratio

    m, X = model_and_data
    with pytest.warns(UndefinedRatioWarning, match=why):
        r = block_ratio(m, X * scale)
    assert math.isnan(r.aggregate) and math.isnan(r.per_block_mean)
    # The blocks themselves are defined: all exactly zero.
    assert block_norms(m, X * scale).diagonal == 0.0


@pytest.mark.parametrize("scale, word", [(1e200, "overflow"), (1e-200, "underflow")])
def test_block_ratio_out_of_range_scale_is_a_value_error_naming_x(model_and_data, scale, word):
    """Before: NaN plus overflow RuntimeWarnings (1e200) or a silent NaN (1e-200)."""
    from rmt.hessian import block, block_ratio

    m, X = model_and_data
    for f in (lambda: block_ratio(m, X * scale), lambda: block(m, X * scale, 0, 1)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")                       # and no RuntimeWarning first
            with pytest.raises(ValueError, match=rf"X must have max_n .*{word}"):
                f()


def test_block_ratio_accepts_nested_lists(model_and_data):
    """Before: "X must be a 2-D array, got shape None"."""
    from rmt.hessian import block_ratio

    m, X = model_and_data
    assert block_ratio(m, X.tolist()).aggregate == block_ratio(m, X).aggregate
    with pytest.raises(ValueError, match=r"X must be a 2-D array of shape \(N, 4\)"):
        block_ratio(m, [[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("i, j", [(0, 1.0), (0.0, 1), (True, 1), (0, np.float64(1))])
def test_block_index_must_be_an_integer(model_and_data, i, j):
    from rmt.hessian import block

    m, X = model_and_data
    with pytest.raises(ValueError, match=r"[ij] must be an integer in \[0, 4\]"):
        block(m, X, i, j)
    assert block(m, X, np.int64(0), 1).shape == (4, 4)


def test_float16_is_refused_naming_the_array(model_and_data):
    from rmt.hessian import block_ratio
    from rmt.models import LinearClassifier

    m, X = model_and_data
    with pytest.raises(ValueError, match="X must be float32 or float64, got float16"):
        block_ratio(m, X.astype(np.float16))
    with pytest.raises(ValueError, match="model.V must be float32 or float64, got float16"):
        block_ratio(LinearClassifier(m.V.astype(np.float16)), X)


# --------------------------------------------------------------------------------------------
# Item 7: rmt figures --from


def test_figures_from_a_netcdf_file_says_what_it_reads(tmp_path, capsys):
    """Before: "'utf-8' codec can't decode byte 0xf2"."""
    nc = tmp_path / "results.nc"
    nc.write_bytes(b"CDF\x01\x00\x00\x00\x00\xf2\xff" * 8)
    code, out, err = run(["figures", "--from", str(nc), "--out", str(tmp_path / "f")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "rmt verify" in err and "--redraw" in err and "utf-8" not in err


def _figure_claim(cid):
    def estimate(params, seed, backend):
        x = np.random.default_rng(seed).normal(1.0, 1.0, 200)
        return cl.Estimate(x.mean(), x.std(ddof=1) / math.sqrt(x.size), x.size, dof=x.size - 1,
                           extra={"C": [1, 2, 3], "y": [1.0, 0.5, 0.3]})

    def figure(ax, result):
        ax.plot(result["extra"]["C"], result["extra"]["y"])

    return cl.Claim(id=cid, statement="s", latex="$x$", proof=None, predict=lambda p: 1.0,
                    estimate=estimate, rule=cl.WithinCI(0.99, 0.5), scales={"quick": {}},
                    figure=figure)


def test_figures_from_a_damaged_row_draw_the_others_and_name_it(tmp_path, capsys):
    """Before: ``KeyError: 'C'`` and no figure at all."""
    ids = ["planted-fig-a", "planted-fig-b"]
    extra = {"C": [1, 2, 3], "y": [1.0, 0.5, 0.3]}
    # What rmt verify stores, with the first claim's ``extra`` removed.
    doc = {"rmt_results": "verify", "claims": [{"id": ids[0]}, {"id": ids[1], "extra": extra}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    for cid in ids:
        cl.register(_figure_claim(cid))
    try:
        code, out, err = run(["figures", "--from", str(path), "--out", str(tmp_path / "f")],
                             capsys)
    finally:
        for cid in ids:
            cl.unregister(cid)
    assert code == 1
    assert "figure of claim planted-fig-a not drawn" in err and "KeyError" in err
    assert (tmp_path / "f" / "planted-fig-b.png").exists()
    assert not (tmp_path / "f" / "planted-fig-a.png").exists()
    assert "2 files written" in out and "1 figure(s) not drawn" in out


# --------------------------------------------------------------------------------------------
# Item 8: files get the umask's mode


def test_every_written_file_gets_the_umask_mode(tmp_path, capsys):
    """Before: report.md and results.json 0600 (issue), figures always 0644 whatever the umask."""
    from rmt import figures, results

    old = os.umask(0o027)
    try:
        run(["verify", "--claims", "linear-ce-row-sums-zero", "--out", str(tmp_path / "rep"),
             "--quiet"], capsys)
        fig, ax = figures.figure("single")
        figures.save(fig, tmp_path / "fig")        # what verify's figures are written with
        results.write_bytes_atomic(tmp_path / "a.json", b"{}")
        files = [tmp_path / "rep" / "report.md", tmp_path / "rep" / "results.json",
                 tmp_path / "fig.pdf", tmp_path / "fig.png", tmp_path / "a.json"]
        try:
            import xarray as xr
            files.append(results.save(xr.Dataset({"a": ("x", [1.0])}), tmp_path / "r.nc"))
        except ImportError:
            pass
    finally:
        os.umask(old)
    for f in files:
        assert oct(f.stat().st_mode & 0o777) == oct(0o640), f


# --------------------------------------------------------------------------------------------
# Item 9: provenance records an edited checkout, and the BLAS library and threads


def test_provenance_marks_an_edited_checkout_and_records_blas_threads(tmp_path):
    """Before: an edited checkout recorded the same git SHA and nothing else."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "checkout"
    shutil.copytree(ROOT / "rmt", repo / "rmt",
                    ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(git + cmd, check=True, capture_output=True)
    code = ("import json; from rmt.results import provenance as p; "
            "a = p(); print(json.dumps([a['git_revision'], a['git_dirty'], a['compute']]))")
    env = {**os.environ, "PYTHONPATH": str(repo), "OPENBLAS_NUM_THREADS": "1"}

    def prov():
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, cwd=tmp_path).stdout
        return json.loads(out)

    rev, dirty, compute = prov()
    assert len(rev) == 40 and dirty is False
    with open(repo / "rmt" / "models.py", "a") as fh:
        fh.write("\n# an edit\n")
    rev2, dirty2, _ = prov()
    assert rev2 == rev and dirty2 is True
    blas = [lib for lib in compute["thread_libraries"] if lib["user_api"] == "blas"]
    assert blas and blas[0]["num_threads"] == 1 and blas[0]["internal_api"]
    assert compute["thread_env"]["OPENBLAS_NUM_THREADS"] == "1" and compute["cpus_available"] >= 1


def test_verify_report_states_the_dirty_state_and_threads(tmp_path, capsys):
    from rmt.results import git_dirty

    code, out, err = run(["verify", "--claims", "linear-ce-psd", "--out", str(tmp_path),
                          "--quiet"], capsys)
    env = json.loads((tmp_path / "results.json").read_text())["environment"]
    assert env["git_dirty"] == git_dirty() and "thread_libraries" in env["compute"]
    report = (tmp_path / "report.md").read_text()
    assert ("with uncommitted changes" in report) == bool(env["git_dirty"])


# --------------------------------------------------------------------------------------------
# Item 11 (the rest): the documents the code and README cite exist


def test_every_cited_project_document_exists():
    """Before: the README and three rmt.hessian modules cited DESIGN.md, not in the repository
    (it is docs/design.md). Project documents are the upper-case ``NAME.md`` files and
    ``docs/*.md``; ``report.md`` and the like are outputs, not citations."""
    import re

    cited = {}
    files = [ROOT / "README.md", ROOT / "pyproject.toml"] + [
        p for d in ("rmt", "proofs", "simulations", "benchmarks", "tests", "docs")
        for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".md")
        and p.name != "test_new_user.py"]                         # this file names the bad ones
    for f in files:
        for ref in re.findall(r"(?<![\w/.-])((?:docs/)?[\w-]+\.md)\b", f.read_text()):
            if ref.startswith("docs/") or ref[:-3].isupper():
                cited.setdefault(ref, f.relative_to(ROOT))
    assert "docs/design.md" in cited
    missing = {ref: str(where) for ref, where in cited.items() if not (ROOT / ref).exists()}
    assert not missing, f"cited but not in the repository: {missing}"
