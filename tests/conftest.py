"""Shared pytest configuration: Hypothesis profiles, the GPU marker and the CuPy stand-in.

``pytest -m gpu`` runs the CuPy tests on a CUDA device; ``pytest -m gpu --cupy-standin`` (or
``RMT_CUPY_STANDIN=1``) runs them on the CPU through ``tests/fakecupy``, a stand-in that follows
CuPy's conversion rules and counts copies and synchronisations (``.ci/run`` does this on every
run). The stand-in goes first on ``sys.path`` and ``PYTHONPATH``, so worker processes see it too.
"""

import os
import sys
from pathlib import Path

import pytest

from rmt.backend import cupy_available
from rmt.testing import profiles

profiles.load_default()

STANDIN = Path(__file__).parent / "fakecupy"


def pytest_addoption(parser):
    parser.addoption("--cupy-standin", action="store_true", default=False,
                     help="run backend='cupy' on the CPU through the CuPy stand-in "
                          "(tests/fakecupy) instead of a real CuPy and GPU")


def _standin_requested(config) -> bool:
    return config.getoption("--cupy-standin") or os.environ.get("RMT_CUPY_STANDIN") == "1"


def pytest_configure(config):
    if not _standin_requested(config):
        return
    if "cupy" in sys.modules and not hasattr(sys.modules["cupy"], "_standin"):
        raise pytest.UsageError("--cupy-standin: a real CuPy was imported before the stand-in")
    sys.path.insert(0, str(STANDIN))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(STANDIN)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    os.environ["RMT_CUPY_STANDIN"] = "1"


def pytest_collection_modifyitems(config, items):
    if cupy_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device (none here; "
                                   "--cupy-standin runs these on the CPU)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _standin_requested(config):
        return
    stats = terminalreporter.stats
    gpu = {k: sum(1 for r in stats.get(k, []) if getattr(r, "when", "call") == "call"
                  and "gpu" in getattr(r, "keywords", {})) for k in ("passed", "failed", "skipped")}
    terminalreporter.write_line(
        f"gpu-marked tests under the CuPy stand-in: {gpu['passed']} passed, "
        f"{gpu['failed']} failed, {gpu['skipped']} skipped")


@pytest.fixture
def standin():
    """The stand-in's engine (``cupy._standin``) with counters zeroed and default settings;
    settings are restored afterwards. Skips unless the run uses the stand-in."""
    cp = pytest.importorskip("cupy")
    engine = getattr(cp, "_standin", None)
    if engine is None:
        pytest.skip("copy and sync counts need the CuPy stand-in (pytest --cupy-standin)")
    import rmt.backend as bk

    engine.reset()
    yield engine
    engine.reset()
    bk._reset_cupy_cache()
