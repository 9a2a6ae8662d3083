"""Sweeps: canonical seeds, resumption after SIGKILL, Dask schedulers, refusal to mix sweeps."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

xr = pytest.importorskip("xarray", reason="xarray is not installed (pip install 'rmt[sweep]')")

from rmt import results, sweep  # noqa: E402
from rmt.backend import spawn_seeds  # noqa: E402
from rmt.sweep import CellError, CorruptCellError, Grid, run_sweep  # noqa: E402
from simulations import _sweep_demo as demo  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_DEMO = 12  # 3 values of a × 2 of b × 2 seeds


def _cell_files(out: Path) -> list[Path]:
    d = sweep.cells_path(out)
    return sorted(d.glob("cell-*.npz")) if d.is_dir() else []


def _indices(out: Path) -> set[int]:
    return {int(p.stem.split("-")[1]) for p in _cell_files(out)}


def _log(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _assert_same_numbers(a: "xr.Dataset", b: "xr.Dataset") -> None:
    xr.testing.assert_equal(a, b)  # exact equality of values and coordinates (NaN == NaN)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The demo sweep run uninterrupted, locally."""
    out = tmp_path_factory.mktemp("ref") / "ref.nc"
    return run_sweep(demo.cell, demo.grid(), out, progress=False)


# ---------------------------------------------------------------------------------- the grid


def test_grid_order_and_seeds():
    g = Grid({"C": [10, 50, 200], "loss": ["ce", "mse"]}, n_seeds=3, seed=11)
    assert g.shape == (3, 2, 3) and g.n_cells == 18 == len(g)
    cells = list(g)
    # Canonical order: the parameters' product in the order given, seed index fastest.
    assert [(c.params["C"], c.params["loss"], c.seed_index) for c in cells[:4]] == [
        (10, "ce", 0), (10, "ce", 1), (10, "ce", 2), (10, "mse", 0)]
    children = spawn_seeds(11, g.n_cells)
    for c in cells:
        assert c.seed.entropy == children[c.index].entropy
        assert c.seed.spawn_key == children[c.index].spawn_key
        assert np.array_equal(c.seed.generate_state(4), children[c.index].generate_state(4))
    assert Grid({"C": [10, 50, 200], "loss": ["ce", "mse"]}, n_seeds=3, seed=11) == g


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parameters": {}}, "parameters must name at least one"),
        ({"parameters": [("a", [1])]}, "parameters must be a dict"),
        ({"parameters": {"a": []}}, r"parameters\['a'\] must hold at least one value"),
        ({"parameters": {"a": 3}}, r"parameters\['a'\] must be a list"),
        ({"parameters": {"a": "xyz"}}, r"parameters\['a'\] must be a list"),
        ({"parameters": {"a": [1, 1]}}, "must be distinct"),
        ({"parameters": {"a": [1, "x"]}}, "one kind"),
        ({"parameters": {"a": [1.0, float("nan")]}}, "finite"),
        ({"parameters": {"a": [None]}}, "ints, floats, strings or bools"),
        ({"parameters": {"seed": [1]}}, "must not be 'seed'"),
        ({"parameters": {"not valid": [1]}}, "valid Python identifiers"),
        ({"parameters": {"a": [1]}, "n_seeds": 0}, "n_seeds must be an integer >= 1"),
        ({"parameters": {"a": [1]}, "seed": -1}, "seed must be an integer >= 0"),
        ({"parameters": {"a": [1]}, "seed": None}, "seed must be a non-negative integer"),
        ({"parameters": {"a": [1]}, "fixed": {"a": 2}}, "clashes"),
        ({"parameters": {"a": [1]}, "fixed": {"x": object()}}, "JSON-serialisable"),
    ],
)
def test_grid_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Grid(**kwargs)


def test_results_are_the_cell_function_at_each_cells_seed(reference):
    g = demo.grid()
    assert reference.sizes["seed"] == 2
    assert list(reference.dims)[:3] == ["a", "b", "seed"]
    for c in g:
        want = demo.cell(**c.params, seed=g.seed_for(c.index))
        sel = reference.sel(**c.params, seed=c.seed_index)
        assert sel["scaled_mean"].item() == want["scaled_mean"]
        draws = sel["draws"].values
        n = len(want["draws"])
        assert np.array_equal(draws[:n], want["draws"]) and np.isnan(draws[n:]).all()
    assert reference.attrs["sweep_function"] == "simulations._sweep_demo.cell"
    assert reference.attrs["parameters"]["parameters"] == demo.PARAMETERS
    assert reference.attrs["seed"] == 0 and reference.attrs["cells_computed"] == N_DEMO


# ------------------------------------------------------------- (a) kill mid-run, then resume


def test_sigkilled_sweep_resumes_to_the_uninterrupted_result(tmp_path, reference):
    out, log = tmp_path / "demo.nc", tmp_path / "cells.log"
    args = ["--out", str(out), "--log", str(log), "--sleep", "0.2", "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "simulations._sweep_demo", *args],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 90  # generous: a loaded 2-core machine starts slowly
            while len(_cell_files(out)) < 3:
                assert proc.poll() is None, (
                    f"the sweep ended before it could be killed: {(tmp_path / 'stderr.txt').read_text()}")
                assert time.monotonic() < deadline, "the sweep stored no cells within 90 s"
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=60) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
    stored = _indices(out)
    assert 3 <= len(stored) < N_DEMO, "the kill did not land mid-run"
    assert not out.exists()
    n_before = len(_log(log))

    # Rerun the same sweep (here in-process: the function name recorded by `python -m` matches).
    ds = run_sweep(demo.cell, demo.grid(sleep=0.2, log=str(log)), out, progress=False)
    rerun = _log(log)[n_before:]
    assert sorted(rerun) == sorted(set(range(N_DEMO)) - stored), "rerun must compute exactly the missing cells"
    assert len(rerun) == len(set(rerun)), "no cell may be computed twice after the restart"
    assert ds.attrs["cells_computed"] == N_DEMO - len(stored)
    assert ds.attrs["cells_reused"] == len(stored)
    _assert_same_numbers(ds, reference)
    _assert_same_numbers(results.open(out), reference)
    for d in (sweep.cells_path(out), tmp_path):
        assert not [p for p in d.iterdir() if p.name.startswith(".tmp-")]

    # A third run has nothing left to compute.
    again = run_sweep(demo.cell, demo.grid(sleep=0.2, log=str(log)), out, progress=False)
    assert again.attrs["cells_computed"] == 0 and len(_log(log)) == n_before + len(rerun)
    _assert_same_numbers(again, reference)


# --------------------------------------------------------------------------- (b) Dask clusters


def test_dask_local_cluster_gives_the_local_numbers(tmp_path, reference):
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install 'rmt[sweep]')")
    import dask

    out = tmp_path / "dask.nc"
    with dask.config.set({"temporary-directory": str(tmp_path / "dask-scratch")}), \
            distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                     dashboard_address=None) as cluster:
        ds = run_sweep(demo.cell, demo.grid(), out, scheduler=cluster.scheduler_address,
                       progress=False)
        # A Client can be passed too; it is used, not closed.
        with distributed.Client(cluster, set_as_default=False) as client:
            ds2 = run_sweep(demo.cell, demo.grid(), tmp_path / "client.nc", scheduler=client,
                            progress=False)
            assert client.status == "running"
    _assert_same_numbers(ds, reference)
    _assert_same_numbers(ds2, reference)
    assert ds.attrs["scheduler"].startswith("tcp://")
    # The cells really ran in the workers, and were stored by the driver.
    pids = set()
    for p in _cell_files(out):
        with np.load(p) as z:
            pids.add(json.loads(str(z["__meta__"]))["pid"])
    assert os.getpid() not in pids


def test_processes_scheduler_gives_the_local_numbers(tmp_path, reference):
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    ds = run_sweep(demo.cell, demo.grid(), tmp_path / "p.nc", scheduler="processes",
                   n_workers=1, progress=False)  # one worker keeps the test cheap on 2 cores
    _assert_same_numbers(ds, reference)


def test_processes_scheduler_pins_one_gpu_per_worker(tmp_path, monkeypatch):
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    # Pretend GPU 3 is the one visible GPU (one worker keeps the test cheap; with more GPUs
    # each worker gets its own id the same way): every cell must run seeing only GPU 3.
    monkeypatch.setattr(sweep.executors, "_local_gpu_ids", lambda: ["3"])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    g = Grid({"a": list(range(4))})
    ds = run_sweep(demo.visible_gpu, g, tmp_path / "g.nc", scheduler="processes",
                   backend="cupy", progress=False)
    assert ds["gpu"].values.ravel().tolist() == [3.0] * 4
    assert ds.attrs["backend"] == "cupy"
    with pytest.raises(ValueError, match="n_workers must be <= the number of GPUs"):
        run_sweep(demo.visible_gpu, g, tmp_path / "h.nc", scheduler="processes",
                  backend="cupy", n_workers=2, progress=False)


@pytest.mark.gpu
def test_gpu_sweep_on_one_worker_per_gpu(tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    g = Grid({"a": [1, 2, 3]}, n_seeds=2, fixed={"backend": "cupy"})
    local = run_sweep(demo.gpu_cell, g, tmp_path / "l.nc", progress=False)
    ds = run_sweep(demo.gpu_cell, g, tmp_path / "g.nc", scheduler="processes", progress=False)
    _assert_same_numbers(ds, local)
    assert ds.attrs["backend"] == "cupy" and "CPU" not in ds.attrs["device"]
    cpu = run_sweep(demo.gpu_cell, Grid({"a": [1, 2, 3]}, n_seeds=2, fixed={"backend": "numpy"}),
                    tmp_path / "c.nc", progress=False)
    # Same host draws; sums of <= 5 terms agree to a few ulps between devices.
    np.testing.assert_allclose(ds["total"].values, cpu["total"].values, rtol=0, atol=1e-14)


def test_process_pool_fallback_without_distributed(tmp_path, reference, monkeypatch):
    monkeypatch.setattr(sweep.executors, "_distributed_available", lambda: False)
    ds = run_sweep(demo.cell, demo.grid(), tmp_path / "pool.nc", scheduler="processes",
                   n_workers=2, progress=False)
    _assert_same_numbers(ds, reference)


@pytest.mark.parametrize("bad", ["", "dask", "tcp//host:1", "http://x y", 3, None])
def test_bad_scheduler(bad, tmp_path):
    with pytest.raises(ValueError, match="scheduler must be 'local', 'processes'"):
        run_sweep(demo.cell, demo.grid(), tmp_path / "x.nc", scheduler=bad)


# ------------------------------------------------------------ (c) mismatched and corrupt files


@pytest.mark.parametrize(
    ("other", "field"),
    [
        (lambda: demo.grid(n_seeds=3), "n_seeds"),
        (lambda: demo.grid(seed=1), "seed"),
        (lambda: demo.grid(sleep=0.5), "fixed"),
        (lambda: Grid({"a": [1, 2], "b": [0.5, 1.5]}, n_seeds=2, fixed={"sleep": 0.0, "log": None}),
         "parameters"),
    ],
)
def test_rerun_with_a_different_sweep_is_refused(tmp_path, other, field):
    out = tmp_path / "s.nc"
    run_sweep(demo.cell, demo.grid(), out, progress=False)
    before = out.read_bytes()
    with pytest.raises(ValueError, match=rf"different sweep.*{field}: stored"):
        run_sweep(demo.cell, other(), out, progress=False)
    assert out.read_bytes() == before and len(_cell_files(out)) == N_DEMO


def _other_cell(a, b, *, seed, sleep=0.0, log=None):
    return {"scaled_mean": float(a)}


def test_rerun_with_a_different_function_is_refused(tmp_path):
    out = tmp_path / "s.nc"
    run_sweep(demo.cell, demo.grid(), out, progress=False)
    with pytest.raises(ValueError, match="function: stored 'simulations._sweep_demo.cell'"):
        run_sweep(_other_cell, demo.grid(), out, progress=False)


def test_no_resume_discards_stored_cells(tmp_path, reference):
    out, log = tmp_path / "s.nc", tmp_path / "log"
    run_sweep(demo.cell, demo.grid(log=str(log)), out, progress=False)
    ds = run_sweep(demo.cell, demo.grid(seed=5, log=str(log)), out, resume=False, progress=False)
    assert ds.attrs["seed"] == 5 and ds.attrs["cells_computed"] == N_DEMO
    assert len(_log(log)) == 2 * N_DEMO


def _recomputed_with_a_warning(out, grid, victim, reason, reference):
    """A damaged cell file is named in a warning, deleted, and its cell computed again to the
    numbers of an undamaged run (issue 18, item 11: no manual delete)."""
    with pytest.warns(sweep.CorruptCellWarning, match=rf"{victim.name}.*{reason}"):
        ds = run_sweep(demo.cell, grid, out, progress=False)
    assert ds.attrs["cells_computed"] == 1 and ds.attrs["cells_reused"] == N_DEMO - 1
    _assert_same_numbers(ds, reference)


def test_truncated_cell_file_is_recomputed(tmp_path, reference):
    out = tmp_path / "s.nc"
    run_sweep(demo.cell, demo.grid(), out, progress=False)
    victim = _cell_files(out)[4]
    victim.write_bytes(victim.read_bytes()[:100])
    _recomputed_with_a_warning(out, demo.grid(), victim, "BadZipFile|Error", reference)


def test_tampered_cell_numbers_fail_the_checksum(tmp_path, reference):
    out = tmp_path / "s.nc"
    run_sweep(demo.cell, demo.grid(), out, progress=False)
    victim = _cell_files(out)[0]
    with np.load(victim) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["scaled_mean"] = arrays["scaled_mean"] + 1.0  # a well-formed file with wrong numbers
    with open(victim, "wb") as fh:
        np.savez(fh, **arrays)
    _recomputed_with_a_warning(out, demo.grid(), victim, "checksum", reference)


def test_cell_file_from_another_sweep_is_detected(tmp_path, reference):
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    run_sweep(demo.cell, demo.grid(), a, progress=False, keep_cells=True)
    run_sweep(demo.cell, demo.grid(seed=9), b, progress=False)
    stray = _cell_files(b)[2]
    (sweep.cells_path(a) / stray.name).write_bytes(stray.read_bytes())
    _recomputed_with_a_warning(a, demo.grid(), sweep.cells_path(a) / stray.name,
                               "another manifest", reference)


def test_a_failed_first_run_leaves_nothing_behind(tmp_path, monkeypatch):
    """A sweep that fails before storing any cell removes the folders it made (issue 18,
    item 11: no empty .cells folder after e.g. --backend cupy without a GPU)."""
    out = tmp_path / "new" / "deeper" / "f.nc"
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", {2})
    with pytest.raises(CellError):
        run_sweep(_flaky, Grid({"a": [2]}), out, progress=False)
    assert not (tmp_path / "new").exists()
    # cells already stored are kept (a resumable run), and so is their folder
    with pytest.raises(CellError):
        run_sweep(_flaky, Grid({"a": [1, 2]}), out, progress=False)
    assert _indices(out) == {0}


def test_out_that_is_not_an_rmt_file_is_not_overwritten(tmp_path):
    out = tmp_path / "s.nc"
    out.write_bytes(b"precious data")
    with pytest.raises(ValueError, match="not an rmt results file|not a readable"):
        run_sweep(demo.cell, demo.grid(), out, progress=False)
    assert out.read_bytes() == b"precious data"


def test_foreign_cells_directory_is_not_touched(tmp_path):
    out = tmp_path / "s.nc"
    foreign = sweep.cells_path(out)
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    for resume in (True, False):
        with pytest.raises(ValueError, match="not an rmt sweep cells directory"):
            run_sweep(demo.cell, demo.grid(), out, resume=resume, progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_without_cells_a_finished_sweep_is_returned_as_is(tmp_path, reference):
    out, log = tmp_path / "s.nc", tmp_path / "log"
    run_sweep(demo.cell, demo.grid(log=str(log)), out, progress=False, keep_cells=False)
    assert not sweep.cells_path(out).exists()
    ds = run_sweep(demo.cell, demo.grid(log=str(log)), out, progress=False)
    assert len(_log(log)) == N_DEMO  # nothing recomputed
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(demo.cell, demo.grid(seed=3), out, progress=False)
    np.testing.assert_array_equal(ds["scaled_mean"].values, reference["scaled_mean"].values)


def test_a_second_driver_on_the_same_out_is_refused(tmp_path):
    fcntl = pytest.importorskip("fcntl", reason="the lock is POSIX-only")
    out = tmp_path / "s.nc"
    d = sweep.cells_path(out)
    d.mkdir()
    with open(d / ".lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match="another process is running a sweep"):
            run_sweep(demo.cell, demo.grid(), out, progress=False)


# ------------------------------------------------------------------------ cell function errors

FAIL_AT: set[int] = set()


def _flaky(a, *, seed):
    if a in FAIL_AT:
        raise ArithmeticError(f"no good at a={a}")
    return {"x": float(np.random.default_rng(seed).random())}


def test_failing_cell_keeps_finished_cells(tmp_path, monkeypatch):
    out = tmp_path / "f.nc"
    g = Grid({"a": [1, 2, 3]}, n_seeds=1)
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", {2})
    with pytest.raises(CellError, match="cell 1 \\(a=2, seed index 0\\) failed: ArithmeticError"):
        run_sweep(_flaky, g, out, progress=False)
    assert _indices(out) == {0}
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", set())
    ds = run_sweep(_flaky, g, out, progress=False)
    assert ds.attrs["cells_computed"] == 2
    want = [np.random.default_rng(g.seed_for(i)).random() for i in range(3)]
    assert ds["x"].values[:, 0].tolist() == want


@pytest.mark.parametrize(
    ("f", "message"),
    [
        (lambda a, seed: [1.0], "must return a non-empty dict"),
        (lambda a, seed: {}, "must return a non-empty dict"),
        (lambda a, seed: {"x": np.ones((2, 2))}, "number or a 1-D array"),
        (lambda a, seed: {"x": "text"}, "real numbers"),
        (lambda a, seed: {"x": 1j}, "real numbers"),
        (lambda a, seed: {"seed": 1.0}, "must not be 'seed'"),
        (lambda a, seed: {"x": 1.0} if a == 1 else {"y": 1.0}, "same outputs"),
        (lambda a, seed: {"x": 1.0} if a == 1 else {"x": np.ones(2)}, "same outputs"),
    ],
)
def test_bad_cell_outputs(tmp_path, f, message):
    with pytest.raises(CellError, match=message):
        run_sweep(f, Grid({"a": [1, 2]}), tmp_path / "b.nc", progress=False)


# ------------------------------------------------------------------------------- command line


def test_add_sweep_arguments_defaults_and_flags(tmp_path):
    p = sweep.add_sweep_arguments(argparse.ArgumentParser(), default_out="r/x.nc")
    a = p.parse_args([])
    assert (a.scheduler, a.workers, a.out, a.resume, a.quiet) == ("local", None, Path("r/x.nc"), True, False)
    a = p.parse_args(["--scheduler", "tcp://10.0.0.1:8786", "--no-resume", "--quiet",
                      "--out", str(tmp_path / "y.nc"), "--workers", "3"])
    assert (a.scheduler, a.resume, a.quiet, a.workers) == ("tcp://10.0.0.1:8786", False, True, 3)
    assert p.parse_args(["--scheduler", "Processes"]).scheduler == "processes"
    for bad in (["--scheduler", "gpu"], ["--workers", "0"]):
        with pytest.raises(SystemExit) as info:
            p.parse_args(bad)
        assert info.value.code == 2
    required = sweep.add_sweep_arguments(argparse.ArgumentParser())
    with pytest.raises(SystemExit):
        required.parse_args([])


def test_demo_main_runs_as_a_sweep_with_progress(tmp_path, reference, capsys):
    out = tmp_path / "cli.nc"
    assert demo.main(["--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "12/12" in err and "cell/s" in err and "12 computed" in err
    _assert_same_numbers(results.open(out), reference)
    # a different sweep: one line, exit status 2
    assert demo.main(["--out", str(out), "--seed", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "different sweep" in err and err.count("\n") == 1


def test_run_from_args_needs_the_sweep_arguments():
    with pytest.raises(ValueError, match="add_sweep_arguments"):
        sweep.run_from_args(demo.cell, demo.grid(), argparse.Namespace(out="x.nc"))
