"""The CuPy path (issue 17): its bugs, float32 kept, and copy/sync budgets per trial.

Tests marked ``gpu`` run on a CUDA device (``pytest -m gpu``) and, on every CI run, on the CPU
through the CuPy stand-in (``pytest -m gpu --cupy-standin``, tests/fakecupy). The budgets read
the stand-in's counters (the ``standin`` fixture skips them on a real device, which has none).
The NumPy halves of the float32 tests run in the default suite.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import rmt.backend as bk
from rmt import spectra as sp
from rmt.covariance import (
    DrawSpec,
    WeightedCovarianceOperator,
    block_weights,
    draw_covariance,
    draw_data,
    weighted_covariance,
)
from rmt.models import LinearClassifier, OneHiddenLayer, activation_functions, log_softmax, softmax

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)]
F32 = np.dtype(np.float32)
EPS32 = float(np.finfo(np.float32).eps)
EPS = float(np.finfo(np.float64).eps)


def _dt(a):
    return np.dtype(a.dtype)


# --------------------------------------------------------------------------------------------
# Bug 2: float32 asked for, float32 returned (every data-sized array, both backends)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_models_and_activations(backend):
    """Before: ``G * (sigma / np.sqrt(fan_in))`` promoted V to float64 (NEP 50), and GELU's
    NumPy-scalar constants promoted its values."""
    xp = bk.xp_for(backend)
    lin = LinearClassifier.init(5, 7, seed=0, backend=backend, dtype="float32")
    hid = OneHiddenLayer.init(5, 7, 3, activation="gelu", seed=0, backend=backend,
                              dtype="float32")
    X = draw_data(11, 7, 1, backend=backend, dtype="float32")
    arrays = {"V": lin.V, "W": hid.W, "V_hidden": hid.V, "logits": lin.logits(X),
              "probabilities": lin.probabilities(X), "hidden logits": hid.logits(X),
              "features": hid.features(X), "log_softmax": log_softmax(lin.logits(X)),
              "softmax": softmax(lin.logits(X)), "parameters": hid.parameters()}
    for act in ("relu", "tanh", "gelu", "identity"):
        for k, f in enumerate(activation_functions(act, xp)):
            arrays[f"{act} derivative {k}"] = f(X)
    bad = {k: str(_dt(v)) for k, v in arrays.items() if _dt(v) != F32}
    assert not bad, bad
    assert bk.get_xp(lin.V) is xp


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_covariance(backend):
    xp = bk.xp_for(backend)
    X = draw_data(40, 6, 2, backend=backend, dtype="float32")
    model = LinearClassifier.init(4, 6, seed=3, backend=backend, dtype="float32")
    arrays = {f"draw_data {dist}": draw_data(8, 3, 1, distribution=dist, backend=backend,
                                             dtype="float32")
              for dist in ("gaussian", "rademacher", "student_t")}
    w_diag = block_weights(model, X, "diag")
    w_off = block_weights(model, X, "offdiag", (0, 2))
    w_mixed = w_diag - 0.3 * xp.mean(w_diag)
    arrays.update({"diag weights": w_diag, "offdiag weights": w_off,
                   "callable weights": block_weights(model, X, lambda Z: Z[:, 0] * Z[:, 1])})
    for name, w in (("+", w_diag), ("-", w_off), ("±", w_mixed)):
        arrays[f"B {name}"] = weighted_covariance(X, w)
        arrays[f"B {name}, sign given"] = weighted_covariance(
            X, w, sign={"+": "nonnegative", "-": "nonpositive", "±": "mixed"}[name])
    op = WeightedCovarianceOperator(X, w_mixed)
    V = xp.ones((6, 2), dtype=xp.float32)
    arrays.update({"matvec": op.matvec(V[:, 0]), "matmat": op.matmat(V), "@": op @ V,
                   "to_dense": op.to_dense()})
    for scale in ("C", "-C2"):
        d = draw_covariance(6, 20, 4, weights="diag" if scale == "C" else "offdiag",
                            scale=scale, backend=backend, dtype="float32")
        arrays.update({f"X {scale}": d.X, f"w {scale}": d.w, f"V {scale}": d.model.V,
                       f"matrix {scale}": d.matrix()})
    bad = {k: str(_dt(v)) for k, v in arrays.items() if _dt(v) != F32}
    assert not bad, bad
    assert op.dtype == F32


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_spectra(backend):
    """Data-sized arrays (matrices, eigenvalues, probes, the operator's working dtype) stay
    float32. Summaries accumulated on the host — Lanczos coefficients, quadrature rules,
    moments, Stieltjes values, densities — are float64 by design: a few numbers per probe, kept
    at full precision so that no rounding is added on top of the float32 data's."""
    xp = bk.xp_for(backend)
    rng = np.random.default_rng(0)
    G = rng.standard_normal((3, 40, 40)).astype(np.float32)
    A = bk.asarray(G @ G.transpose(0, 2, 1) / 40, xp)
    small = A[:, :16, :16]
    assert _dt(sp.eigvalsh_batched(A)) == F32          # d > 32 (on CuPy: one solve per matrix)
    assert _dt(sp.eigvalsh_batched(small)) == F32      # d <= 32 (on CuPy: batched Jacobi)
    assert _dt(sp.eigvalsh_batched(A[0])) == F32
    assert _dt(sp.sphere_probes(40, 3, 0, xp=xp, dtype="float32")) == F32
    op = draw_covariance(40, 80, 1, scale="C", backend=backend, dtype="float32").operator()
    assert sp.as_operator(op).dtype == F32
    res = sp.lanczos(op, 10, 2, seed=0)
    assert res.alpha.dtype == res.beta.dtype == np.float64   # host summaries (see docstring)
    ev = sp.eigvalsh_batched(A)
    assert sp.stieltjes_from_eigenvalues(ev, 1j).dtype == np.complex128
    assert sp.moments_from_eigenvalues(ev, 2).dtype == np.float64


# --------------------------------------------------------------------------------------------
# Bug 3: a cupyx LinearOperator is a CuPy operator
# --------------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_cupyx_linear_operator_is_a_cupy_operator():
    """Before: ``as_operator`` took any operator without ``.xp`` for NumPy, so Lanczos drew
    NumPy probes for a CuPy operator and failed with TypeError."""
    cp = bk.get_cupy()
    sl = importlib.import_module("cupyx.scipy.sparse.linalg")
    own = draw_covariance(50, 100, 5, scale="C", backend="cupy").operator()
    lo = sl.LinearOperator(own.shape, matvec=own.matvec, matmat=own.matmat, dtype=own.dtype)
    assert sp.as_operator(lo).xp is cp
    # same matmat, same probes: the same numbers as through rmt's own operator
    for f, kw in [(sp.lanczos, dict(n_steps=12, n_probes=3)),
                  (sp.slq_density, dict(n_probes=3, n_steps=12)),
                  (sp.kpm_density, dict(n_probes=3, degree=20)),
                  (sp.stieltjes_slq, dict(z=1 + 0.5j, n_probes=3, n_steps=12)),
                  (sp.moments_hutchinson, dict(k_max=3, n_probes=3))]:
        a, b = f(lo, seed=7, **kw), f(own, seed=7, **kw)
        for field in ("alpha", "nodes", "chebyshev_moments", "value"):
            if hasattr(a, field):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    with pytest.raises(ValueError, match="backend='numpy'.*cupyx"):
        sp.as_operator(lo, backend="numpy")


# --------------------------------------------------------------------------------------------
# Bug 4: device arrays accepted where a host answer is computed
# --------------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_densities_and_distances_take_device_arrays():
    """Before: the densities' cdf/pdf/histogram/stieltjes called ``np.asarray`` on a CuPy
    ``x`` (TypeError); they now answer where ``x`` lives."""
    cp = bk.get_cupy()
    from rmt import stats

    draw = draw_covariance(60, 120, 2, scale="C", backend="cupy")
    ev = sp.eigvalsh_batched(draw.matrix())
    x = np.linspace(-0.5, 4.0, 41)
    xd = cp.asarray(x)
    for dens in (sp.slq_density(draw.operator(), n_probes=4, n_steps=20, seed=1),
                 sp.kpm_density(draw.operator(), n_probes=4, degree=30, seed=1)):
        for f in ("cdf", "pdf"):
            got = getattr(dens, f)(xd)
            assert isinstance(got, cp.ndarray)
            np.testing.assert_array_equal(got.get(), getattr(dens, f)(x))
        np.testing.assert_array_equal(dens.histogram(xd).get(), dens.histogram(x))
        assert 0 <= dens.ks(ev) <= 1 and dens.wasserstein1(ev) >= 0
    slq = sp.slq_density(draw.operator(), n_probes=4, n_steps=20, seed=1)
    z = x + 0.3j
    np.testing.assert_array_equal(slq.stieltjes(cp.asarray(z)).get(), slq.stieltjes(z))
    np.testing.assert_array_equal(slq.smoothed_cdf(xd).get(), slq.smoothed_cdf(x))
    host = ev.get()
    law = importlib.import_module("scipy.stats").norm(1.0, 1.0)
    assert stats.ks_distance(ev, law) == stats.ks_distance(host, law)
    assert stats.ks_two_sample(ev, ev[::2]) == stats.ks_two_sample(host, host[::2])
    assert stats.wasserstein1(ev, ev[::2]) == stats.wasserstein1(host, host[::2])
    assert stats.grid_distances(law.cdf, law.cdf, -1, 3, points=ev) == (0.0, 0.0)


@pytest.mark.gpu
def test_weight_laws_take_device_arrays():
    """Before: ``DiscreteWeights`` (and so ``WeightedMP`` given ``(values, probs)`` or device
    samples' atoms) called ``np.asarray`` on CuPy values and probabilities (TypeError)."""
    cp = bk.get_cupy()
    from rmt.laws import DiscreteWeights, WeightedMP

    v, p = np.array([-1.0, 2.0, 0.5]), np.array([0.3, 0.5, 0.2])
    host = DiscreteWeights(v, p)
    dev = DiscreteWeights(cp.asarray(v), cp.asarray(p))
    np.testing.assert_array_equal(dev.values, host.values)
    np.testing.assert_array_equal(dev.probs, host.probs)
    x = np.linspace(-2.0, 4.0, 31)
    a, b = WeightedMP(0.5, host), WeightedMP(0.5, (cp.asarray(v), cp.asarray(p)))
    np.testing.assert_array_equal(b.cdf(x), a.cdf(x))
    samples = np.random.default_rng(0).lognormal(size=500)
    np.testing.assert_array_equal(WeightedMP(cp.asarray(0.5).sum(), cp.asarray(samples)).cdf(x),
                                  WeightedMP(0.5, samples).cdf(x))


@pytest.mark.gpu
def test_weighted_covariance_follows_x():
    """``X`` decides where ``B`` is formed; ``w`` (``N`` numbers) is copied to ``X``'s side,
    in either direction (before: a host ``w`` made the call pick CuPy for a host ``X``)."""
    cp = bk.get_cupy()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 5))
    w = rng.standard_normal(30)
    ref = weighted_covariance(X, w)
    on_device = weighted_covariance(cp.asarray(X), w)
    on_host = weighted_covariance(X, cp.asarray(w))
    assert isinstance(on_device, cp.ndarray) and isinstance(on_host, np.ndarray)
    # B_jk = (1/N) Σ w x x: each backend's sum differs by at most N·eps·Σ|w x x|/N (rounding)
    bound = 30 * EPS * (np.abs(X).T @ (np.abs(w)[:, None] * np.abs(X))) / 30
    assert np.all(np.abs(on_device.get() - ref) <= bound)
    np.testing.assert_array_equal(on_host, ref)
    op = WeightedCovarianceOperator(cp.asarray(X), w)
    assert bk.get_xp(op.w) is cp


@pytest.mark.gpu
def test_checks_take_device_scalars():
    """Before: ``check_int`` refused the 0-d CuPy integer a reduction returns."""
    cp = bk.get_cupy()
    from rmt.validation import check_int, check_real

    a = cp.arange(5)
    assert check_int("n", a.sum(), 1) == 10 and check_int("n", a.max()) == 4
    assert check_real("x", cp.asarray(2.5).sum(), 0.0) == 2.5
    with pytest.raises(ValueError, match="n must be an integer"):
        check_int("n", cp.asarray(True))
    with pytest.raises(ValueError, match="n must be an integer"):
        check_int("n", a)


# --------------------------------------------------------------------------------------------
# Bug 5: stacks of eigenproblems on a GPU
# --------------------------------------------------------------------------------------------

def _stack(b, d, seed=0):
    G = np.random.default_rng(seed).standard_normal((b, d, d))
    return (G + G.transpose(0, 2, 1)) / 2


@pytest.mark.gpu
def test_small_stacks_use_checked_batched_jacobi(standin):
    """d <= 32: one batched call per chunk with its convergence status read (one copy); a chunk
    that did not converge is redone by the divide-and-conquer solver. Before: every stack went
    to the batched solver and an unconverged result came back silently."""
    cp = bk.get_cupy()
    A = _stack(5, 16)
    ref = np.linalg.eigvalsh(A)
    Ad = cp.asarray(A)
    # Weyl: each eigenvalue moves by ≤ ‖ΔA‖ ≤ d·eps·‖A‖ between solvers
    tol = 16 * EPS * 16 * np.abs(ref).max()
    standin.reset()
    w = sp.eigvalsh_batched(Ad, check=False)   # (check=True reads one finiteness flag more)
    assert standin.COUNTS.solver == [("syevjBatched", (5, 16, 16))] and standin.COUNTS.d2h == 1
    assert np.all(np.abs(w.get() - ref) <= tol)
    standin.reset()
    standin.CONFIG.unconverged = 1
    w = sp.eigvalsh_batched(Ad, check=False)
    assert [r for r, _ in standin.COUNTS.solver] == ["syevjBatched"] + ["syevd"] * 5
    assert np.all(np.abs(w.get() - ref) <= tol)
    standin.reset()
    sp.eigvalsh_batched(Ad, chunk_size=2)
    assert [r for r, _ in standin.COUNTS.solver] == ["syevjBatched"] * 3


@pytest.mark.gpu
def test_large_stacks_use_divide_and_conquer_per_matrix(standin):
    cp = bk.get_cupy()
    A = _stack(4, sp.BATCHED_JACOBI_MAX_DIM + 1, seed=1)
    Ad = cp.asarray(A)
    with standin.measure() as c:
        w = sp.eigvalsh_batched(Ad, check=False)
    assert [r for r, _ in c.solver] == ["syevd"] * 4
    assert c.d2h == 0          # no status read: divide and conquer is not iterative
    ref = np.linalg.eigvalsh(A)
    assert np.all(np.abs(w.get() - ref) <= 33 * 16 * EPS * np.abs(ref).max())


# --------------------------------------------------------------------------------------------
# Hazards: where draws are made, copies and syncs per trial, one memory plan per run
# --------------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_draws_and_model_init_on_the_device(standin):
    cp = bk.get_cupy()
    with standin.measure() as c:
        m = LinearClassifier.init(50, 30, seed=0, backend="cupy")
        X = draw_data(40, 30, 1, backend="cupy")
        h = OneHiddenLayer.init(5, 30, 4, seed=0, backend="cupy")
    assert isinstance(m.V, cp.ndarray) and isinstance(X, cp.ndarray)
    assert isinstance(h.W, cp.ndarray)
    assert (c.h2d, c.d2h, c.syncs) == (0, 0, 0)
    with standin.measure() as c:
        LinearClassifier.init(50, 30, seed=0, backend="cupy", draw_on="host")
    assert c.h2d == 1                       # drawn by NumPy, copied: NumPy's numbers
    assert DrawSpec(backend="cupy").draw_on == "auto"


@pytest.mark.gpu
def test_a_draw_is_sync_free(standin):
    """One draw and its matrix: no copy, no synchronisation (before: checks of the model, the
    weights and the signs of the weights read back 5 flags and counts per trial)."""
    for spec in (DrawSpec(n_classes=20, scale="C"),
                 DrawSpec(n_classes=20, weights="offdiag", scale="-C2"),
                 DrawSpec(n_classes=20, weights="offdiag", scale=3.0)):
        with standin.measure() as c:
            draw = draw_covariance(40, 80, 3, spec.replace(backend="cupy"), memory_budget=2**30)
            draw.matrix()
        assert (c.d2h, c.syncs, c.h2d, c.mem_info) == (0, 0, 0, 0), spec


@pytest.mark.gpu
@pytest.mark.parametrize("dim, per_batch", [(40, 1), (16, 2)])
def test_simulate_spectra_copies_at_most_one_per_trial(standin, dim, per_batch):
    """Per batch: the eigenvalues come back in one copy (plus, for d <= 32, the batched
    solver's convergence status); no host→device copy; one free-memory query per run."""
    from rmt.montecarlo import simulate_spectra

    T, b = 6, 3
    with standin.measure() as c:
        res = simulate_spectra(T, dim, 2 * dim, 0, backend="cupy", batch_size=b, n_classes=8,
                               scale="C", edges=np.linspace(0, 5, 11), z=[1 + 1j],
                               progress=False)
    assert c.d2h == per_batch * T // b <= T
    assert c.syncs == c.d2h and c.h2d == 0 and c.mem_info == 1
    assert res.n_trials == T and res.meta["memory_plan"] > 0


@pytest.mark.gpu
def test_simulate_path_copies_one_per_trial(standin):
    from rmt.lindeberg import simulate_path

    T = 3
    with standin.measure() as c:
        simulate_path(40, 80, T, 0, backend="cupy", n_points=3, z=[1 + 1j],
                      edges=np.linspace(0, 5, 11), increments=False)
    assert c.d2h == T and c.syncs == T and c.h2d == 0 and c.mem_info == 1
    with standin.measure() as c:
        simulate_path(40, 80, T, 0, backend="cupy", path="replacement", n_points=3,
                      z=[1 + 1j], edges=np.linspace(0, 5, 11), increments=True)
    assert c.d2h == T and c.h2d == 0


@pytest.mark.gpu
def test_lanczos_copies_once_per_step(standin):
    op = draw_covariance(60, 120, 1, scale="C", backend="cupy").operator()
    m = 15
    for f, kw, budget in [(sp.lanczos, dict(n_steps=m, n_probes=4), m),
                          (sp.slq_density, dict(n_steps=m, n_probes=4), m),
                          (sp.stieltjes_slq, dict(z=1 + 1j, n_steps=m, n_probes=4), m),
                          (sp.kpm_density, dict(degree=40, n_probes=4, interval=(-1.0, 10.0)), 1),
                          (sp.moments_hutchinson, dict(k_max=6, n_probes=4), 1)]:
        with standin.measure() as c:
            f(op, seed=2, **kw)
        assert c.d2h == c.syncs == budget, f.__name__
        assert c.h2d <= 1, f.__name__       # the probes, drawn on the host once


# --------------------------------------------------------------------------------------------
# The Hessian on the device: float32 kept, SYRK without copies, within its memory plan
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_hessian(backend):
    """Dense Hessians and blocks come back in float32 for float32 models and data; the norms
    are host float64 summaries (documented), computed from float32 products."""
    import rmt.hessian as H

    X = draw_data(20, 5, 1, backend=backend, dtype="float32")
    y = bk.asarray(np.arange(20) % 4, bk.xp_for(backend))
    for model in (LinearClassifier.init(4, 5, seed=0, backend=backend, dtype="float32"),
                  OneHiddenLayer.init(4, 5, 3, activation="gelu", seed=0, backend=backend,
                                      dtype="float32")):
        for loss in ("ce", "mse"):
            assert _dt(H.hessian(model, X, y, loss)) == F32
            assert _dt(H.block(model, X, 0, 1, y, loss)) == F32
            assert H.block_ratio(model, X, y, loss).dtype == "float32"
            assert H.block_norms(model, X, y, loss, pairs="all").dtype == np.float64


@pytest.mark.gpu
@pytest.mark.parametrize("dtype, mixed", [("float64", False), ("float32", False),
                                          ("float64", True)])
def test_ce_aggregate_syrk_copies_nothing_and_keeps_to_its_plan(standin, dtype, mixed):
    """cuBLAS SYRK accumulates in place into C-ordered triangles: no copy of its input (CuPy
    copies a C-ordered input into F order for an F-ordered output: the whole N × C softmax at
    the LLM size) and no N × N mirror temporaries; device arrays alive at once stay within the
    memory plan. Before: an F-order copy per SYRK and three uncounted N × N temporaries."""
    import rmt.hessian as H

    N, d, C = 48, 12, 300
    model = LinearClassifier.init(C, d, seed=1, backend="cupy", dtype=dtype)
    X = draw_data(N, d, 2, backend="cupy", dtype=dtype)
    ref = H.block_norms(LinearClassifier(model.V.get()), X.get(), mixed=mixed)
    # limits that give one row block (whole softmax) and several (class chunks, GEMM blocks)
    for limit in (1 << 26, 120_000):
        with standin.measure() as c:
            got = H.block_norms(model, X, memory_limit=limit, mixed=mixed)
        assert c.temporaries == [], c.temporaries
        # the plan's per-block terms, plus the reused column-chunk buffer of P∘P (at most
        # aggregate._CHUNK_BYTES = 16 MiB) and float64 copies of F's rows for G and ν
        slack = (16 << 20) + 2 * 8 * N * d
        assert c.peak_bytes <= limit + slack, (limit, c.peak_bytes)
        assert c.mem_info == 0                      # memory_limit given: no query
        for a, b in ((got.diagonal, ref.diagonal), (got.off_diagonal, ref.off_diagonal)):
            # same float products and sums in another order: within the derived bound
            assert abs(a - b) <= 2 * max(got.rel_error_bound, ref.rel_error_bound) * abs(b)
    with standin.measure() as c:
        H.block_norms(model, X)
    assert c.mem_info == 1                          # one memory plan per call


# --------------------------------------------------------------------------------------------
# Code paths that came with main's rmt.hessian (sampled aggregate), rmt.laws and rmt.spectra
# --------------------------------------------------------------------------------------------

def _device_problem(N=96, d=6, C=5):
    cp = bk.get_cupy()
    model = LinearClassifier.init(C, d, sigma=1.2, seed=3)
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((N, d)), rng.integers(0, C, N)
    return (model, X, y), (LinearClassifier(cp.asarray(model.V)), cp.asarray(X), cp.asarray(y))


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["sampled", "auto"])
def test_sampled_aggregate_numpy_equals_cupy(method):
    """The sampled (and auto) CE aggregate on the device: same seed, same sample groups, so the
    estimates agree up to summation order."""
    from rmt.hessian import block_norms

    host, dev = _device_problem()
    kw = {"loss": "ce", "method": method, "seed": 1, "rel_error": 0.3}
    a, b = block_norms(*host, **kw), block_norms(*dev, **kw)
    assert type(a) is type(b)
    # each group's sums (g ≤ 16 samples): ≤ (g² + C + d + 8) float64 roundings of sums of
    # nonnegative terms (as test_hessian.test_numpy_equals_cupy; the ratio: a quotient of two)
    rt = 8 * (16 * 16 + 5 + 6 + 8) * EPS
    for f in ("diagonal", "off_diagonal"):
        x, y = getattr(a, f), getattr(b, f)
        x, y = (getattr(x, "value", x), getattr(y, "value", y))
        assert abs(x - y) <= rt * abs(x)
    if method == "sampled":
        assert (a.n_groups, a.n_samples_used) == (b.n_groups, b.n_samples_used)
        assert abs(a.aggregate_ratio - b.aggregate_ratio) <= rt * a.aggregate_ratio


@pytest.mark.gpu
def test_sampled_aggregate_copies_once_per_group(standin):
    """Before: 7 device→host copies (each a synchronisation) and one host→device copy of the
    sample indices per group of 8 samples; now one copy per group (the stopping rule must read
    the group's sums) and the permutation copied to the device once per run."""
    from rmt.hessian._context import _Ctx
    from rmt.hessian.sampled import sampled_aggregate

    _, dev = _device_problem()
    ctx = _Ctx(*dev, "ce", None)
    with standin.measure() as c:
        r = sampled_aggregate(ctx, rel_error=1e-9, seed=1, group_size=8, max_samples=64)
    assert r.n_groups == 8 and not r.converged
    assert c.h2d == 1 and c.mem_info == 0
    assert c.d2h == c.syncs == r.n_groups


@pytest.mark.gpu
def test_stieltjes_points_may_live_on_the_device():
    """Before: ``z`` on the device made ``stieltjes_from_eigenvalues`` and ``stieltjes_slq``
    raise TypeError (implicit conversion); a few points are copied to the host instead."""
    cp = bk.get_cupy()
    g = draw_covariance(30, 60, seed=4, weights="diag", scale="C", backend="cupy")
    ev = sp.eigvalsh_batched(g.matrix())
    z = np.array([1 + 1j, -0.5 + 0.2j])
    np.testing.assert_array_equal(sp.stieltjes_from_eigenvalues(ev, cp.asarray(z)),
                                  sp.stieltjes_from_eigenvalues(ev, z))
    a = sp.stieltjes_slq(g.operator(), cp.asarray(z), n_probes=2, n_steps=10, seed=0)
    b = sp.stieltjes_slq(g.operator(), z, n_probes=2, n_steps=10, seed=0)
    np.testing.assert_array_equal(a.value, b.value)


@pytest.mark.gpu
def test_free_cumulants_take_device_arrays():
    """Before: TypeError (implicit conversion) for CuPy cumulants or moments."""
    from rmt.laws import free_cumulants_from_moments, moments_from_free_cumulants

    cp = bk.get_cupy()
    k = np.array([1.0, 0.5, 0.25])
    m = moments_from_free_cumulants(cp.asarray(k))
    np.testing.assert_array_equal(m, moments_from_free_cumulants(k))
    np.testing.assert_array_equal(free_cumulants_from_moments(cp.asarray(m)),
                                  free_cumulants_from_moments(m))


@pytest.mark.gpu
def test_block_rms_and_moment_tests_take_device_input():
    """rmt.block_rms (W-block sums drawn on the device; the ratio of device sums) and
    rmt.esd_tests (spectral moments of device eigenvalues) return host float64 results."""
    from rmt import block_rms, esd_tests

    cp = bk.get_cupy()
    off, dia = block_rms.w_block_sums(4, 1.0, 3, 5, 20, n_trials=3, seed=0, backend="cupy")
    assert isinstance(off, np.ndarray) and off.dtype == np.float64 and np.all(dia > 0)
    o, d = cp.asarray(off), cp.asarray(dia)
    assert block_rms.rms_ratio(o, d).value == block_rms.rms_ratio(off, dia).value
    ev = np.linspace(0.1, 3.0, 40)
    np.testing.assert_array_equal(esd_tests.spectral_moments(cp.asarray(ev)),
                                  esd_tests.spectral_moments(ev))
