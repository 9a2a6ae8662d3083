"""Backend selection, dtype policy and seeding."""

import numpy as np
import pytest

from rmt import backend as bk


def test_default_backend_is_numpy():
    assert bk.xp_for(None) is np
    assert bk.get_xp(np.zeros(3)) is np
    assert bk.backend_name(np) == "numpy"


@pytest.mark.parametrize("bad", ["torch", "", 3, "gpu"])
def test_unknown_backend_names_parameter(bad):
    with pytest.raises(ValueError, match="backend must be one of"):
        bk.resolve_backend(bad)


def test_cupy_request_without_gpu_is_clear():
    if bk.cupy_available():
        pytest.skip("a GPU is present: the error path cannot be exercised")
    with pytest.raises(bk.BackendUnavailableError, match="cupy"):
        bk.xp_for("cupy")


@pytest.mark.parametrize("dtype", [np.int64, "complex128", "float16", "nope"])
def test_bad_dtype(dtype):
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        bk.resolve_dtype(dtype)


def test_spawn_children_do_not_depend_on_count():
    a = bk.spawn_seeds(123, 3)
    b = bk.spawn_seeds(123, 64)
    for sa, sb in zip(a, b):
        assert np.array_equal(sa.generate_state(4), sb.generate_state(4))
    # Spawning twice from the same parent gives the same children (no hidden counter).
    ss = bk.as_seed_sequence(5)
    c1 = bk.spawn_seeds(ss, 2)
    c2 = bk.spawn_seeds(ss, 2)
    assert np.array_equal(c1[1].generate_state(2), c2[1].generate_state(2))


def test_seed_validation():
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        bk.as_seed_sequence(-1)
    with pytest.raises(TypeError, match="seed must be"):
        bk.as_seed_sequence("abc")


def test_standard_normal_reproducible_and_dtype():
    a = bk.standard_normal((4, 3), 7)
    b = bk.standard_normal((4, 3), 7)
    assert np.array_equal(a, b) and a.dtype == np.float64
    assert bk.standard_normal((2,), 7, dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match="draw_on"):
        bk.standard_normal((2,), 0, draw_on="gpu")


def test_memory_and_device_name():
    assert bk.free_memory_bytes(np) > 0
    assert bk.device_name(np).startswith("CPU")


@pytest.mark.gpu
def test_cupy_roundtrip_same_draws():
    cp = bk.get_cupy()
    a = bk.standard_normal((5, 2), 3, cp, draw_on="host")
    assert bk.get_xp(a) is cp
    assert np.array_equal(bk.to_numpy(a), bk.standard_normal((5, 2), 3))
    # by default CuPy draws on the device: its own stream, so other numbers
    dev = bk.standard_normal((5, 2), 3, cp)
    assert bk.get_xp(dev) is cp and not np.array_equal(bk.to_numpy(dev), bk.to_numpy(a))
    with pytest.raises(ValueError, match="backend='numpy'"):
        bk.get_xp(a, backend="numpy")


def test_install_hint_is_right_for_an_index_and_for_a_clone():
    hint = bk.install_hint("sweep")
    assert "pip install 'rmt[sweep]'" in hint and "pip install -e '.[sweep]'" in hint


def test_memory_probes_see_an_allocation():
    bk.reset_peak_rss()
    before = bk.rss_bytes()
    a = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    if before == 0:
        pytest.skip("no /proc: resident size is not available here")
    assert bk.rss_bytes() - before > 32 * 2**20     # page rounding and allocator slack aside
    assert bk.peak_rss_bytes() >= bk.rss_bytes() - 4096
    del a


def test_one_seed_sequence_passed_twice_gives_one_model():
    """Issue 17, bug 1: OneHiddenLayer.init spawned from the caller's SeedSequence, which
    advanced it, so the same SeedSequence gave two different models."""
    from rmt.models import LinearClassifier, OneHiddenLayer

    ss = np.random.SeedSequence(5)
    a = OneHiddenLayer.init(4, 3, 2, seed=ss)
    b = OneHiddenLayer.init(4, 3, 2, seed=ss)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.V, b.V)
    assert ss.n_children_spawned == 0
    # and the model is still the one an int seed gives (the fix changes no numbers)
    c = OneHiddenLayer.init(4, 3, 2, seed=5)
    assert np.array_equal(a.W, c.W) and np.array_equal(a.V, c.V)
    assert np.array_equal(LinearClassifier.init(3, 2, seed=ss).V,
                          LinearClassifier.init(3, 2, seed=ss).V)


def test_import_rmt_needs_no_optional_extra():
    """Every module of rmt imports with CuPy, PyTorch, xarray and Dask unimportable, and none
    tries to import CuPy at import time (that would initialise CUDA); rmt.torch alone needs its
    extra and says how to install it."""
    import subprocess
    import sys

    code = """if True:
        import importlib, pkgutil, sys
        EXTRAS = {"cupy", "cupyx", "torch", "xarray", "dask", "distributed"}
        tried = []
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in EXTRAS:
                    tried.append(name)
                    raise ImportError(f"blocked for this test: {name}")
        sys.meta_path.insert(0, Block())
        import rmt
        for m in pkgutil.walk_packages(rmt.__path__, "rmt."):
            try:
                importlib.import_module(m.name)
            except ImportError as e:
                assert m.name.startswith("rmt.torch") and "pip install" in str(e), (m.name, e)
        assert not [n for n in tried if n.split(".")[0] in ("cupy", "cupyx")], tried
        assert not EXTRAS & {k.split(".")[0] for k in sys.modules}
        print("ok")
    """
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_stacked_matmul_split_over_threads_is_matmul(threads):
    # Each thread runs np.matmul on its slice of the stack into the shared output: the result is
    # bitwise that of one call (the same GEMM per matrix), for any split, the uneven ones too.
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 4, 3)).astype(np.float32)
    U = rng.standard_normal((5, 3, 2)).astype(np.float32)
    np.testing.assert_array_equal(bk.stacked_matmul(A, U, threads), np.matmul(A, U))
    # a broadcast right-hand side is left to np.matmul
    np.testing.assert_array_equal(bk.stacked_matmul(A, U[:1], threads), np.matmul(A, U[:1]))


def test_blas_threads_follows_the_limit():
    with bk.limit_blas_threads(1):
        assert bk.blas_threads() == 1


def test_stacked_matmul_works_in_a_forked_child():
    # The thread pool made in the parent has no threads in a fork: the child must make its own
    # (else the product would wait forever: the timeout turns that into a failure).
    import multiprocessing as mp

    rng = np.random.default_rng(2)
    A, U = rng.standard_normal((6, 3, 3)), rng.standard_normal((6, 3, 1))
    # the parent's pool with both threads started and idle (slices long enough that the
    # second is handed over before the first is done)
    big = np.ones((64, 300, 300))
    for _ in range(3):
        bk.stacked_matmul(big, big, 2)
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(bk.stacked_matmul, (A, U, 2)).get(timeout=60)
    np.testing.assert_array_equal(got, np.matmul(A, U))
