"""Tests of rmt.montecarlo: seeding, streaming accumulation, batch invariance, intervals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from rmt import backend as bk
from rmt import montecarlo as mc
from rmt.covariance import draw_covariance
from rmt.spectra import moments_from_eigenvalues

EPS = np.finfo(np.float64).eps


def test_trial_seed_is_the_spawned_child():
    children = bk.spawn_seeds(123, 50)
    for t in (0, 1, 17, 49):
        a, b = mc.trial_seed(123, t), children[t]
        assert a.spawn_key == b.spawn_key
        np.testing.assert_array_equal(a.generate_state(4), b.generate_state(4))
    nested = bk.as_seed_sequence(5).spawn(3)[2]
    np.testing.assert_array_equal(mc.trial_seed(nested, 4).generate_state(2),
                                  bk.spawn_seeds(nested, 5)[4].generate_state(2))


def test_welford_matches_two_pass():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((200, 3)) * [1.0, 10.0, 1e-3] + [5.0, -2.0, 1e3]
    acc = mc.Welford()
    for x in xs:
        acc.update(x)
    # Welford's relative error is O(n·eps) in the mean and O(n·eps·κ) in the variance with
    # κ = 1 + mean²/var ≤ 1e12 for the third column; 200·eps·κ·10 bounds both.
    kappa = 1 + xs.mean(0) ** 2 / xs.var(0)
    np.testing.assert_allclose(acc.mean, xs.mean(0), rtol=200 * EPS * 10)
    assert np.all(np.abs(acc.variance - xs.var(0, ddof=1)) <= 200 * EPS * 10 * kappa * xs.var(0))
    z = mc.Welford()
    for x in xs[:, :2]:
        z.update(x[0] + 1j * x[1])
    est = z.estimate()
    assert np.iscomplexobj(est.mean)
    np.testing.assert_allclose(est.stderr.real, xs[:, 0].std(ddof=1) / math.sqrt(200), rtol=1e-12)
    np.testing.assert_allclose(est.stderr.imag, xs[:, 1].std(ddof=1) / math.sqrt(200), rtol=1e-12)


def test_welford_rejects_shape_change_and_nan():
    acc = mc.Welford()
    acc.update(np.ones(3))
    with pytest.raises(ValueError, match="changed shape"):
        acc.update(np.ones(4))
    with pytest.raises(ValueError, match="non-finite"):
        acc.update(np.array([1.0, np.nan, 1.0]))


def test_t_interval_coverage():
    # 400 runs of n = 8 normal trials: the 90% t-interval covers the true mean in
    # Binomial(400, 0.9) runs: mean 360, sd 6; 4.4 sd (two-sided p ≈ 1e-5) is ±26.
    def trial(seed):
        return {"x": bk.default_rng(seed).normal(2.0, 3.0)}

    covered = 0
    for r in range(400):
        res = mc.run_trials(trial, 8, seed=r, progress=False)
        lo, hi = res["x"].ci(0.90)
        covered += lo <= 2.0 <= hi
    assert abs(covered - 360) <= 4.4 * math.sqrt(400 * 0.9 * 0.1)
    est = res["x"]
    lo, hi = est.ci(0.90)
    assert math.isclose(hi - lo, 2 * stats.t.ppf(0.95, 7) * est.stderr, rel_tol=1e-12)
    lo_n, hi_n = est.ci(0.90, method="normal")
    assert hi_n - lo_n < hi - lo  # the t-interval is the wider one


def test_generic_trials_are_batch_invariant():
    def one(seed):
        rng = bk.default_rng(seed)
        return {"v": rng.standard_normal(3), "s": rng.exponential(), "raw": rng.random(50)}

    def many(seeds):
        return [one(s) for s in seeds]

    edges = {"raw": np.linspace(0, 1, 11)}
    ref = mc.run_trials(one, 30, seed=4, histograms=edges, progress=False)
    for bsz in (1, 7, 64):
        got = mc.run_trials(many, 30, seed=4, batch_size=bsz, vectorized=True,
                            histograms=edges, progress=False)
        assert got.keys() == ref.keys()
        for k in ref.keys():
            np.testing.assert_array_equal(got[k].mean, ref[k].mean)
            np.testing.assert_array_equal(got[k].stderr, ref[k].stderr)
    # a histogram density integrates, with the outside fraction, to 1
    dens = ref["raw"].mean
    assert abs(np.sum(dens * np.diff(edges["raw"])) + ref["raw.outside"].mean - 1) < 1e-12


def test_vectorized_mapping_output():
    def many(seeds):
        return {"x": np.array([bk.default_rng(s).random() for s in seeds])}

    a = mc.run_trials(many, 10, seed=1, batch_size=3, vectorized=True, progress=False)
    b = mc.run_trials(lambda s: bk.default_rng(s).random(), 10, seed=1, progress=False)
    assert a["x"].mean == b["value"].mean


@pytest.fixture(scope="module")
def spectra_runs():
    kwargs = dict(edges=np.linspace(0, 4, 41), z=[1 + 0.5j, 2 + 0.1j], n_moments=3,
                  weights="diag", scale="C", progress=False)
    return {b: mc.simulate_spectra(70, 40, 80, seed=11, batch_size=b, **kwargs)
            for b in (1, 7, 64)}


def test_simulate_spectra_bit_identical_across_batch_sizes(spectra_runs):
    ref = spectra_runs[1]
    assert ref.keys() == ["lambda_min", "lambda_max", "moments", "stieltjes", "esd", "esd.outside"]
    for b in (7, 64):
        assert spectra_runs[b].batch_size == b
        for k in ref.keys():
            np.testing.assert_array_equal(spectra_runs[b][k].mean, ref[k].mean)
            np.testing.assert_array_equal(spectra_runs[b][k].stderr, ref[k].stderr)


def test_simulate_spectra_means_equal_per_trial_pipeline(spectra_runs):
    # Recompute the first moments trial by trial from the documented seeds.
    ms = []
    for t in range(70):
        draw = draw_covariance(40, 80, mc.trial_seed(11, t), weights="diag", scale="C")
        ms.append(moments_from_eigenvalues(np.linalg.eigvalsh(draw.matrix()), 3))
    ms = np.array(ms)
    # Welford vs two-pass mean: O(n·eps) relative
    np.testing.assert_allclose(spectra_runs[1]["moments"].mean, ms.mean(0), rtol=70 * EPS * 10)
    np.testing.assert_allclose(spectra_runs[1]["moments"].stderr,
                               ms.std(0, ddof=1) / math.sqrt(70), rtol=1e-10)


def test_memory_budget_caps_the_batch_without_changing_results(spectra_runs):
    small = mc.simulate_spectra(70, 40, 80, seed=11, batch_size=64, memory_budget=1,
                                edges=np.linspace(0, 4, 41), z=[1 + 0.5j, 2 + 0.1j],
                                n_moments=3, weights="diag", scale="C", progress=False)
    assert small.batch_size == 1
    for k in small.keys():
        np.testing.assert_array_equal(small[k].mean, spectra_runs[64][k].mean)


def test_extra_statistics_hook():
    res = mc.simulate_spectra(5, 20, 40, seed=2, n_moments=1, progress=False,
                              statistics=lambda ev: {"trace": ev.sum(), "top2": ev[-2:]})
    ref = mc.simulate_spectra(5, 20, 40, seed=2, n_moments=1, progress=False)
    # (1/d) tr B = m_1: same eigenvalues, sums of 20 terms (20·eps relative)
    np.testing.assert_allclose(res["trace"].mean / 20, ref["moments"].mean[0], rtol=20 * EPS * 10)
    assert res["top2"].mean.shape == (2,)
    with pytest.raises(ValueError, match="must not reuse"):
        mc.simulate_spectra(2, 5, 10, seed=0, progress=False,
                            statistics=lambda ev: {"lambda_max": 0.0})


def test_result_to_dict_is_json(spectra_runs):
    d = spectra_runs[7].to_dict()
    text = json.dumps(d)
    back = json.loads(text)
    assert back["n_trials"] == 70 and back["meta"]["dim"] == 40
    assert set(back["estimates"]["stieltjes"]["mean"]) == {"real", "imag"}
    lo, hi = spectra_runs[7]["lambda_max"].ci(0.95)
    assert lo < spectra_runs[7]["lambda_max"].mean < hi


def test_progress_bar(capsys):
    mc.run_trials(lambda s: 1.0, 5, seed=0, progress=True)
    assert "trials" in capsys.readouterr().err
    mc.run_trials(lambda s: 1.0, 5, seed=0, progress=False)
    assert capsys.readouterr().err == ""


def test_bad_input():
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        mc.run_trials(lambda s: 1.0, 0)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        mc.run_trials(lambda s: [1.0], 3, batch_size=0, vectorized=True)
    with pytest.raises(TypeError, match="trial must be callable"):
        mc.run_trials(3, 3)
    with pytest.raises(ValueError, match="strictly increasing"):
        mc.run_trials(lambda s: {"x": 1.0}, 2, histograms={"x": [1.0, 0.0]}, progress=False)
    with pytest.raises(ValueError, match="never returned"):
        mc.run_trials(lambda s: {"x": 1.0}, 2, histograms={"y": [0.0, 1.0]}, progress=False)
    with pytest.raises(ValueError, match="non-finite"):
        mc.run_trials(lambda s: np.nan, 2, progress=False)
    with pytest.raises(ValueError, match="must return 3 results"):
        mc.run_trials(lambda seeds: [1.0], 3, batch_size=3, vectorized=True, progress=False)
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        mc.simulate_spectra(2, 0, 5)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        mc.simulate_spectra(2, 5, 0)
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        mc.simulate_spectra(0, 5, 5, progress=False)
    with pytest.raises(ValueError, match="z must hold finite"):
        mc.simulate_spectra(2, 5, 5, z=[np.inf])
    with pytest.raises(ValueError, match="coupling must be one of"):
        mc.simulate_spectra(2, 5, 5, coupling="sometimes")
    with pytest.raises(ValueError, match="level must be"):
        mc.run_trials(lambda s: 1.0, 3, progress=False)["value"].ci(1.5)
    if not bk.cupy_available():
        with pytest.raises(bk.BackendUnavailableError):
            mc.simulate_spectra(2, 5, 5, backend="cupy")


@pytest.mark.gpu
def test_numpy_equals_cupy_monte_carlo():
    kw = dict(edges=np.linspace(0, 4, 21), z=[1 + 0.5j], n_moments=2, weights="diag",
              scale="C", progress=False)
    a = mc.simulate_spectra(8, 64, 128, seed=3, batch_size=4, **kw)
    b = mc.simulate_spectra(8, 64, 128, seed=3, batch_size=4, backend="cupy", draw_on="host",
                            **kw)
    # Same host-drawn data; eigenvalues differ by ≲ 1e-12·λ_max (Weyl + GEMM rounding), so
    # moments and Stieltjes values agree to ~1e-10 relative. Histogram counts could only change
    # if an eigenvalue sat within 1e-12 of a bin edge (probability ≈ 0 here).
    for k in ("lambda_min", "lambda_max", "moments", "stieltjes"):
        np.testing.assert_allclose(b[k].mean, a[k].mean, rtol=1e-9)
    np.testing.assert_array_equal(b["esd"].mean, a["esd"].mean)
    # bit-identical across batch sizes on the GPU too is not promised (batched cuSOLVER)
    c = mc.simulate_spectra(8, 64, 128, seed=3, batch_size=1, backend="cupy", draw_on="host",
                            **kw)
    np.testing.assert_allclose(c["moments"].mean, b["moments"].mean, rtol=1e-9)
