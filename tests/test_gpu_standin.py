"""The CuPy stand-in itself (tests/fakecupy): it must refuse what CuPy refuses, export only what
CuPy exports and count what it claims to count, or the budgets of test_gpu.py mean nothing.

All tests here need the stand-in (``pytest -m gpu --cupy-standin``; the ``standin`` fixture
skips them on a real GPU).
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest

import rmt.backend as bk

pytestmark = pytest.mark.gpu


def test_names_are_cupy_s_names_only(standin):
    names = importlib.import_module("cupy._names")
    assert names.SOURCE["tag"].startswith("v14")
    for module, key in [("cupy", "cupy"), ("cupy.linalg", "cupy.linalg"),
                        ("cupy.random", "cupy.random"), ("cupy.cuda", "cupy.cuda"),
                        ("cupy.cuda.runtime", "cupy.cuda.runtime"), ("cupy.cublas", "cupy.cublas"),
                        ("cupyx", "cupyx"), ("cupyx.scipy.special", "cupyx.scipy.special"),
                        ("cupyx.scipy.sparse.linalg", "cupyx.scipy.sparse.linalg")]:
        mod = importlib.import_module(module)
        # submodules CuPy has too (cupy.cublas, cupyx.scipy.special, ...) appear once imported
        public = {n for n, v in vars(mod).items() if not n.startswith("_")
                  and not (isinstance(v, types.ModuleType) and v.__name__ in names.NAMES)}
        assert public <= set(names.NAMES[key]), (module, sorted(public - set(names.NAMES[key])))
    cp = sys.modules["cupy"]
    gen = {n for n in dir(cp.random.default_rng(0)) if not n.startswith("_")}
    assert gen == set(names.NAMES["cupy.random.Generator"]) | {"bit_generator"}
    # NumPy names CuPy 14 lacks are absent, as on a real device
    for missing in ("insert", "geomspace", "nanpercentile", "errstate", "spacing", "block"):
        assert missing not in names.NAMES["cupy"] and not hasattr(cp, missing)
    assert not hasattr(cp.random.default_rng(0), "normal")   # CuPy's Generator has no normal()
    a = cp.zeros(3)
    assert not hasattr(a, "setflags") and hasattr(a, "get")


def test_conversion_rules(standin):
    cp = sys.modules["cupy"]
    a = cp.arange(6.0).reshape(2, 3)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="Unsupported type"):
        np.ones(3) + a
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.exp(np.ones(3))
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.concatenate([a, np.ones((1, 3))])
    with pytest.raises(TypeError, match="Unsupported type"):
        a[0] = np.ones(3)            # basic index: CuPy refuses host values (gh-2079)
    standin.reset()
    a[[0, 1]] = np.ones((2, 3))      # advanced index: copied to the device
    assert standin.COUNTS.h2d == 2   # the index list and the values
    s = a.sum()
    assert isinstance(s, cp.ndarray) and s.ndim == 0 and standin.COUNTS.d2h == 0
    assert float(s) == 6.0 and standin.COUNTS.d2h == 1
    assert isinstance(np.sum(a), cp.ndarray)      # NumPy functions dispatch to the device
    assert isinstance(a[0, 0], cp.ndarray) and a[0, 0].ndim == 0
    assert isinstance(cp.allclose(a, a), cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(a), np.ones((2, 3)))
    assert standin.COUNTS.d2h == 2


def test_counts_of_syncs_and_copies(standin):
    cp = sys.modules["cupy"]
    with standin.measure() as c:
        x = cp.asarray(np.arange(10.0))
        m = x[x > 3]                  # boolean mask: the size is read back
        _ = bool(m.sum() > 0)
        cp.cuda.Device().synchronize()
        cp.cuda.runtime.memGetInfo()
    assert (c.h2d, c.d2h, c.syncs, c.mem_info) == (1, 2, 3, 1)
    with standin.measure() as c:
        bk.to_host(cp.ones(3), cp.zeros((2, 2), dtype=cp.float32), cp.arange(3))
    assert c.d2h == 1


def test_device_random_generator(standin):
    cp = sys.modules["cupy"]
    g = cp.random.default_rng(5)
    x = g.standard_normal((4, 3), dtype=cp.float32)
    assert isinstance(x, cp.ndarray) and x.dtype == np.float32
    assert not np.array_equal(x.get(), np.random.default_rng(5).standard_normal((4, 3),
                                                                            dtype=np.float32))
    np.testing.assert_array_equal(cp.random.default_rng(5).standard_normal((4, 3),
                                                                          dtype=cp.float32).get(),
                                  x.get())
    assert g.standard_gamma(2.5, size=3, dtype=cp.float32).dtype == np.float32
    assert standin.COUNTS.h2d == 0


def test_device_count_memory_and_name_are_settable(standin):
    cp = sys.modules["cupy"]
    standin.CONFIG.total_bytes, standin.CONFIG.free_bytes = 80 * 2**30, 64 * 2**30
    assert bk.plan_memory(cp) == 40 * 2**30          # half the total when that much is free
    standin.CONFIG.free_bytes = 10 * 2**30 + 12345
    assert bk.plan_memory(cp) == 8 * 2**30           # cut to the free memory, a power of two
    with standin.measure() as c:
        assert bk.plan_memory(cp, 1000) == 1000
    assert c.mem_info == 0
    assert bk.device_name(cp) == standin.CONFIG.name
    standin.CONFIG.device_count = 0
    bk._reset_cupy_cache()
    assert not bk.cupy_available()
    from rmt.covariance import draw_covariance

    with pytest.raises(bk.BackendUnavailableError, match="no CUDA-capable device"):
        draw_covariance(5, 5, backend="cupy")


def test_eigensolver_routing_and_convergence(standin):
    cp = sys.modules["cupy"]
    cupyx = importlib.import_module("cupyx")
    A = cp.asarray(np.stack([np.diag([3.0, 1.0, 2.0]) + 0.5] * 2))
    standin.reset()
    w = cp.linalg.eigvalsh(A)
    assert standin.COUNTS.solver == [("syevjBatched", (2, 3, 3))] and standin.COUNTS.d2h == 0
    standin.CONFIG.unconverged = 1
    bad = cp.linalg.eigvalsh(A)       # CuPy's default: an unconverged result, silently
    assert not np.allclose(bad.get(), w.get())
    standin.CONFIG.unconverged = 1
    with pytest.raises(cp.linalg.LinAlgError, match="syevjBatched"):
        with cupyx.errstate(linalg="raise"):
            cp.linalg.eigvalsh(A)
    cp.linalg.eigvalsh(A[0])
    assert standin.COUNTS.solver[-1] == ("syevd", (3, 3))


def test_syrk_layout_and_its_copy(standin):
    cp = sys.modules["cupy"]
    cublas = importlib.import_module("cupy.cublas")
    A = np.random.default_rng(0).standard_normal((5, 3))
    a = cp.asarray(A)
    standin.reset()
    S = cublas.syrk("N", a, lower=True).get()
    np.testing.assert_allclose(np.tril(S), np.tril(A @ A.T), rtol=1e-13)
    assert np.all(np.triu(S, 1) == 0)
    assert standin.COUNTS.temporaries == [("cublas.syrk: F-order copy of a", A.nbytes)]
    standin.reset()
    cublas.syrk("N", a, out=cp.zeros((5, 5)), lower=True)   # C-order output: no copy of a
    assert standin.COUNTS.temporaries == []


def test_cupyx_linear_operator_interface(standin):
    cp = sys.modules["cupy"]
    sl = importlib.import_module("cupyx.scipy.sparse.linalg")
    M = cp.asarray(np.diag([1.0, 2.0, 3.0]))
    op = sl.LinearOperator((3, 3), matvec=lambda v: M @ v, matmat=lambda V: M @ V,
                           dtype=np.float64)
    assert isinstance(op, sl.LinearOperator) and op.shape == (3, 3)
    np.testing.assert_array_equal(op.matmat(cp.ones((3, 2))).get(),
                                  np.diag([1.0, 2, 3]) @ np.ones((3, 2)))
    assert op.matvec(cp.ones(3)).shape == (3,)
    with pytest.raises(ValueError, match="dimension mismatch"):
        op.matvec(cp.ones(4))
