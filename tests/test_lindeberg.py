"""Tests of rmt.lindeberg, the Lindeberg claims and simulations.lindeberg.

Tolerances, each derived where it is used:

* exact identities (end points) are compared bit for bit: the same floating-point operations run
  on the same inputs;
* Monte Carlo means are compared with 0 at ``z_{1 − α/(2m)}`` standard errors, Bonferroni over
  the ``m`` points compared, family-wise level ``α = 1e-3`` (the seeds are fixed, so a pass is
  reproducible; the level says how unusual a failure would be);
* two-sample Kolmogorov–Smirnov tests at family-wise level ``α = 0.01``, Bonferroni over the
  ``m`` values of ``t`` (each test at ``α/m``; the union bound needs no independence between the
  tests, which share the reference sample);
* eigenvalue-based quantities on NumPy vs CuPy: both diagonalise the same matrix (drawn on the
  host) with backward-stable solvers, so eigenvalues differ by at most ``c·d·eps·‖B‖`` and
  ``s(z)`` by that over ``(Im z)²``; ``c = 10`` covers the solvers' constants.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from rmt import backend as bk
from rmt.claims import Estimate as ClaimEstimate
from rmt.claims import registry, run_claim
from rmt.covariance import block_weights, draw_covariance
from rmt.laws import MarchenkoPastur
from rmt.lindeberg import (
    DEFAULT_Z,
    deterministic_stieltjes,
    draw_lindeberg,
    fit_power_law,
    gap_rate,
    path_grid,
    simulate_path,
    sup_gap,
)
from rmt.models import LinearClassifier
from rmt.montecarlo import trial_seed
from rmt.spectra import stieltjes_from_eigenvalues

EPS = np.finfo(np.float64).eps
ALPHA = 1e-3


def _z_crit(m: int, alpha: float = ALPHA) -> float:
    """Two-sided normal critical value, Bonferroni over ``m`` comparisons."""
    return float(stats.norm.isf(alpha / (2 * m)))


# --------------------------------------------------------------------------------------------
# End points
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weights,block,scale", [("diag", 0, "C"), ("offdiag", (0, 1), "-C2"),
                                                 ("diag", 3, 1.0)])
@pytest.mark.parametrize("seed", [0, 7])
def test_smooth_endpoints_equal_B0_and_B1_exactly(weights, block, scale, seed):
    d, N, C = 30, 70, 6
    kw = dict(n_classes=C, sigma=1.3, weights=weights, block=block, scale=scale)
    draw = draw_lindeberg(d, N, seed, **kw)
    B1 = draw_covariance(d, N, seed, coupling="dependent", **kw).matrix()
    B0 = draw_covariance(d, N, seed, coupling="independent", **kw).matrix()
    # Same operations on the same inputs: bit for bit.
    assert np.array_equal(draw.covariance("smooth", 1.0), B1)
    assert np.array_equal(draw.covariance("smooth", 0.0), B0)
    assert np.array_equal(draw.covariance("smooth", 1), B1)
    # The replacement path shares its end points with the smooth path.
    assert np.array_equal(draw.covariance("replacement", 0), draw.covariance("smooth", 1.0))
    assert np.array_equal(draw.covariance("replacement", N), draw.covariance("smooth", 0.0))
    # Matrix-free operators agree with the formed end points on a probe block (rounding of two
    # GEMMs against SYRK: ≤ 4 N eps ‖X‖²‖w‖∞/N per entry, bounded here by 1e-12 relative).
    V = np.random.default_rng(1).standard_normal((d, 3))
    for B, op in ((B1, draw.operator("smooth", 1.0)), (B0, draw.operator("replacement", N))):
        assert np.allclose(op.matmat(V), B @ V, rtol=0, atol=1e-12 * np.abs(B).max() * d)


def test_interpolated_data_and_weights_in_between():
    draw = draw_lindeberg(20, 50, 3, scale="C")
    t = 0.3
    Y = draw.interpolated_data(t)
    assert np.allclose(Y, math.sqrt(t) * draw.X + math.sqrt(1 - t) * draw.X_tilde, rtol=0,
                       atol=0)
    w = draw.smooth_weights(t)
    assert np.array_equal(w, block_weights(draw.model, Y, "diag") * draw.scale)
    # Replacement: the first k weights are independent, the rest dependent.
    k = 17
    wk = draw.replacement_weights(k)
    assert np.array_equal(wk[:k], draw.independent_weights[:k])
    assert np.array_equal(wk[k:], draw.dependent_weights[k:])


def test_path_grid():
    assert np.allclose(path_grid("smooth", 5), [0, 0.25, 0.5, 0.75, 1])
    g = path_grid("replacement", 5, 10)
    assert g.dtype.kind == "i" and g[0] == 0 and g[-1] == 10


# --------------------------------------------------------------------------------------------
# The weight law along the smooth path
# --------------------------------------------------------------------------------------------

KS_TS = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
KS_ALPHA = 0.01


def _weights_fixed_model(model, N, seed, t):
    """Weights f(V y(t)) from a draw with data independent of other calls (a fresh seed)."""
    d = model.dim
    draw = draw_lindeberg(d, N, seed, model=model, scale="C", coupled=False)
    return draw.smooth_weights(t)


def test_weight_law_is_the_same_along_the_smooth_path_ks():
    """Two-sample KS of w(t) (one draw) against w(0) (an independent draw), V fixed, at several
    t. Family-wise level 0.01, Bonferroni: each test rejects at p < 0.01/6."""
    d, N, C = 20, 4000, 5
    model = LinearClassifier.init(C, d, 1.0, seed=11)
    ref = _weights_fixed_model(model, N, 1000, 0.0)
    pvals = []
    for i, t in enumerate(KS_TS):
        w = _weights_fixed_model(model, N, 2000 + i, t)
        pvals.append(stats.ks_2samp(w, ref).pvalue)
    assert min(pvals) > KS_ALPHA / len(KS_TS), pvals


def test_weight_law_ks_has_power_against_a_wrong_interpolation():
    """The same KS test detects the law change of y = t x + (1 − t) x̃ (variance 1/2 at t = ½):
    so the previous test's acceptance is informative."""
    d, N, C = 20, 4000, 5
    model = LinearClassifier.init(C, d, 1.0, seed=11)
    ref = _weights_fixed_model(model, N, 1000, 0.0)
    draw = draw_lindeberg(d, N, 3000, model=model, scale="C", coupled=False)
    wrong = block_weights(model, 0.5 * draw.X + 0.5 * draw.X_tilde, "diag") * draw.scale
    assert stats.ks_2samp(wrong, ref).pvalue < KS_ALPHA / len(KS_TS)


def test_correlation_of_data_and_interpolated_point_is_sqrt_t():
    """Pooled sample correlation of x and y(t) over N·d entries: SE (1 − ρ²)/√n; 5 SE."""
    draw = draw_lindeberg(50, 2000, 5, coupled=False)
    for t in (0.0, 0.25, 0.5, 1.0):
        x = draw.X.ravel()
        y = draw.interpolated_data(t).ravel()
        r = np.corrcoef(x, y)[0, 1]
        rho = math.sqrt(t)
        se = max((1 - rho**2) / math.sqrt(x.size), EPS)
        assert abs(r - rho) <= 5 * se + 1e-12, (t, r)


# --------------------------------------------------------------------------------------------
# Estimators: coupled and control variates
# --------------------------------------------------------------------------------------------

def test_coupled_difference_obeys_the_rank_bound_on_every_draw():
    """|s(B_t) − s(B̌_t)| ≤ 2 rank(V)/(d Im z) deterministically (proofs.lindeberg.rank_bound)."""
    d, N, C = 40, 90, 4
    z = np.array(DEFAULT_Z)
    for seed in range(5):
        draw = draw_lindeberg(d, N, seed, n_classes=C, scale="C")
        for t in (0.0, 0.5, 1.0):
            ev = np.linalg.eigvalsh(draw.covariance("smooth", t))
            evc = np.linalg.eigvalsh(draw.covariance("smooth", t, coupled=True))
            diff = np.abs(stieltjes_from_eigenvalues(ev, z) - stieltjes_from_eigenvalues(evc, z))
            bound = 2 * draw.rank / (d * z.imag)
            # rounding: eigenvalues to ~d·eps·‖B‖, moving s by that over (Im z)²
            assert np.all(diff <= bound + 10 * d * EPS * np.abs(ev).max() / z.imag**2)
        assert draw.rank == C


def test_coupled_reference_has_the_law_of_B0_and_control_variate_is_mean_zero():
    """E s(B̌_t) = E s(B_0) and E[F(w(t)∘r) − F(w(0)∘r)] = 0: per-trial differences have mean
    0; Bonferroni over 2 estimators × |z| × 2 parts at family-wise level 1e-3."""
    d, N, C, T = 24, 48, 4, 300
    z = np.array([0.5 + 0.5j, 1 + 1j, 2 + 0.5j])
    rows_c, rows_f = [], []
    for i in range(T):
        draw = draw_lindeberg(d, N, trial_seed(42, i), n_classes=C, scale="C")
        s0 = stieltjes_from_eigenvalues(np.linalg.eigvalsh(draw.covariance("smooth", 0.0)), z)
        sc = stieltjes_from_eigenvalues(
            np.linalg.eigvalsh(draw.covariance("smooth", 0.6, coupled=True)), z)
        rows_c.append(sc - s0)
        r = draw.norm_ratios()
        F = deterministic_stieltjes(np.stack([draw.smooth_weights(0.6), draw.smooth_weights(0.0)])
                                    * r, z, d / N)
        rows_f.append(F[0] - F[1])
    crit = _z_crit(2 * z.size * 2)
    for rows in (np.array(rows_c), np.array(rows_f)):
        for part in (np.real, np.imag):
            a = part(rows)
            zscore = np.abs(a.mean(0)) / (a.std(0, ddof=1) / math.sqrt(T))
            assert np.all(zscore < crit), zscore


def test_norm_ratios_and_rank():
    draw = draw_lindeberg(30, 60, 2, n_classes=5)
    r = draw.norm_ratios()
    Q = draw.row_space()
    P = Q @ Q.T
    expected = np.sum((draw.X @ (np.eye(30) - P)) ** 2, axis=1) / 25
    assert np.allclose(r, expected, rtol=1e-12)
    # C >= d: no complement, r ≡ 1 and the coupled data is the fresh copy.
    big = draw_lindeberg(8, 20, 2, n_classes=10)
    assert big.rank == 8 and np.all(big.norm_ratios() == 1)
    assert np.array_equal(big.coupled_data(), big.X_hat)
    # σ = 0: weights constant, rank 0, coupled data = X, gap exactly 0.
    flat = draw_lindeberg(8, 20, 2, sigma=0.0)
    assert flat.rank == 0 and np.array_equal(flat.coupled_data(), flat.X)


def test_deterministic_stieltjes_matches_marchenko_pastur_and_solves_its_equation():
    z = np.array([0.3 + 0.05j, 1 + 0.5j, 2.5 + 1j, -1 + 0.2j])
    for gamma in (0.25, 0.5, 2.0):
        m = deterministic_stieltjes(np.ones(50), z, gamma)
        # both solve the same equation to ~1e-12; the MP law's own solver is stated to 1e-12
        assert np.allclose(m, MarchenkoPastur(gamma).stieltjes(z), rtol=1e-9, atol=0)
    w = np.random.default_rng(0).lognormal(size=(3, 400))
    m = deterministic_stieltjes(w, z, 0.5)
    assert m.shape == (3, 4) and np.all(m.imag > 0)
    res = m * (-z + np.mean(w[:, None, :] / (1 + 0.5 * w[:, None, :] * m[..., None]), -1)) - 1
    assert np.max(np.abs(res)) <= 1e-12


# --------------------------------------------------------------------------------------------
# Monte Carlo along a path
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smooth_path():
    return simulate_path(30, 60, 12, seed=1, n_points=4, z=[1 + 0.5j, 2 + 1j], n_moments=3)


def test_simulate_path_shapes_and_exact_zeros(smooth_path):
    r = smooth_path
    assert r.estimator == "coupled" and r.grid.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert r["stieltjes"].mean.shape == (4, 2)
    assert r.per_trial_gap.shape == (12, 4, 2)
    # the direct gap and moment gap at the reference t = 0 are exactly 0 on every trial
    assert np.all(r["gap.direct"].mean[0] == 0) and np.all(r["moment_gap.direct"].mean[0] == 0)
    assert r["m1_gap.projected"].mean[0] == 0
    # ESD densities integrate to 1 − outside, exactly up to rounding of a sum of counts
    dens = r["esd"].mean
    mass = dens @ np.diff(r.edges) + r["esd_outside"].mean
    assert np.allclose(mass, 1.0, rtol=0, atol=1e-12)
    # weight mean along the path: same law, per-trial differences mean 0 (SE from the trials)
    wm = r["weight_mean"]
    assert np.all(np.abs(wm.mean - wm.mean[0]) <= _z_crit(3) * np.sqrt(2) * wm.stderr + 1e-15)


def test_simulate_path_does_not_depend_on_being_part_of_a_longer_run():
    a = simulate_path(20, 40, 3, seed=5, n_points=3, z=[1 + 1j])
    b = simulate_path(20, 40, 5, seed=5, n_points=3, z=[1 + 1j])
    assert np.array_equal(a.per_trial_gap, b.per_trial_gap[:3])


def test_replacement_path_and_increments():
    N = 40
    r = simulate_path(20, N, 6, seed=2, path="replacement", n_points=5, z=[1 + 1j],
                      increments=True)
    assert r.grid.tolist() == [0, 10, 20, 30, 40]
    assert r.tau.tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert r["increment"].mean.shape == (4, 1)
    assert r.reference_index == 4
    # one swap moves s by at most 1/(d Im z) per trial (rank-one bound)
    assert np.all(np.abs(r["increment"].mean) <= 1 / (20 * 1.0) + 1e-12)
    rd = simulate_path(20, N, 4, seed=2, path="replacement", n_points=3, z=[1 + 1j],
                       distribution="rademacher")
    assert rd.estimator == "control"


def test_sup_gap_noise_floor():
    rng = np.random.default_rng(0)
    T = 400
    noise = rng.standard_normal((T, 1))
    sg = sup_gap(noise, n_boot=4000, seed=1)
    # E|mean| for N(0, 1/T) is sqrt(2/π)/√T; the floor estimates it from the sample covariance
    # (relative error ~1/√(2T) = 0.035) and 4000 multipliers (~0.75/√4000 = 0.012): 20% is > 5 SE.
    assert sg.noise_floor == pytest.approx(math.sqrt(2 / math.pi) / math.sqrt(T), rel=0.2)
    signal = noise + np.array([0.0, 1.0])[None, :]
    sg2 = sup_gap(signal.reshape(T, 2), n_boot=500, seed=1)
    assert sg2.above_floor and sg2.argmax == 1
    assert sg2.value == pytest.approx(abs(signal[:, 1].mean()))


def test_fit_power_law_is_the_stats_fit():
    """One power-law fit in rmt (tested in tests/test_stats.py); lindeberg re-exports it."""
    import rmt.stats

    assert fit_power_law is rmt.stats.fit_power_law


def test_gap_rate_smoke():
    res = gap_rate([16, 32], 0.5, 4, seed=0, z=[1 + 1j], n_boot=200)
    assert res.dims.tolist() == [16, 32] and len(res.sups) == 2
    assert res.to_dict()["estimator"] == "coupled"
    res2 = gap_rate([16, 24], 0.5, 3, seed=0, n_classes=lambda d: d, z=[1 + 1j], n_boot=200)
    assert res2.n_classes.tolist() == [16, 24] and res2.paths[0].estimator == "control"


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda d: d.smooth_weights(1.5), "t must"),
    (lambda d: d.smooth_weights(-0.1), "t must"),
    (lambda d: d.replacement_weights(41), "k must"),
    (lambda d: d.path_weights("wiggle", 0), "path must"),
])
def test_draw_bad_inputs(call, match):
    draw = draw_lindeberg(10, 40, 0)
    with pytest.raises(ValueError, match=match):
        call(draw)


@pytest.mark.parametrize("kwargs,match", [
    (dict(path="smooth", distribution="rademacher"), "distribution='gaussian'"),
    (dict(path="replacement", distribution="rademacher", estimator="coupled"), "estimator"),
    (dict(estimator="best"), "estimator must"),
    (dict(grid=[0.5, 1.0]), "reference t = 0"),
    (dict(grid=[0.0, 1.5]), r"\[0, 1\]"),
    (dict(path="replacement", grid=[0, 10]), "reference k = N"),
    (dict(path="replacement", grid=[0, 2.5, 20]), "integers"),
    (dict(z=[1 - 1j]), "Im z > 0"),
    (dict(z=[]), "Im z > 0"),
    (dict(increments=True), "increments=True needs"),
    (dict(n_moments=0), "n_moments"),
    (dict(edges=[1.0, 0.0]), "edges"),
    (dict(n_classes=1), "n_classes"),
])
def test_simulate_path_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_path(10, 20, 2, seed=0, **kwargs)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="n_trials"):
        simulate_path(10, 20, 1)
    with pytest.raises(ValueError, match="dims"):
        gap_rate([16, 16], 0.5, 2)
    with pytest.raises(ValueError, match="ratio"):
        gap_rate([16, 32], 0.0, 2)
    with pytest.raises(ValueError, match="w must"):
        deterministic_stieltjes(np.array([1.0, np.nan]), 1j, 0.5)
    with pytest.raises(ValueError, match="Im z > 0"):
        deterministic_stieltjes(np.ones(3), 1.0, 0.5)
    with pytest.raises(ValueError, match="per_trial"):
        sup_gap(np.ones((1, 3)))
    with pytest.raises(ValueError, match="y must hold finite values > 0"):
        fit_power_law([1, 2, 3], [1, -1, 2])
    with pytest.raises(ValueError, match="weights must"):
        draw_lindeberg(5, 10, 0, weights="row")
    with pytest.raises(ValueError, match="coupled reference"):
        draw_lindeberg(5, 10, 0, distribution="rademacher").coupled_data()
    with pytest.raises(ValueError, match="path='smooth' needs"):
        draw_lindeberg(5, 10, 0, distribution="rademacher").smooth_weights(0.5)


# --------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------

def test_exponent_at_most_rule():
    from rmt.claims import ExponentAtMost

    rule = ExponentAtMost(level=0.95, abs_precision=0.3)
    z95 = stats.norm.ppf(0.975)
    est = lambda v, se: ClaimEstimate(v, se, 5)  # noqa: E731   (one-sided 95%: ±1.645 SE)
    assert rule.decide(-1.0, est(-0.5, 0.1)).status == "fails"        # CI entirely above −1
    assert rule.decide(-0.5, est(-1.0, 0.1)).status == "holds"        # CI entirely below −½
    assert rule.decide(-1.0, est(-1.0, 0.1)).status == "holds"        # straddles, narrow
    v = rule.decide(-1.0, est(-1.0, 0.3 / z95 * 2))                   # straddles, too wide
    assert v.status == "inconclusive" and v.trials_to_decide > 5
    assert rule.decide(-1.0, ClaimEstimate(float("nan"), float("nan"), 0)).status == "inconclusive"
    with pytest.raises(ValueError, match="abs_precision"):
        ExponentAtMost(abs_precision=0)


@pytest.mark.parametrize("cid", ["lindeberg-first-moment-linear"])
def test_quick_claims_hold(cid, tmp_path):
    claim = registry()[cid]
    res = run_claim(claim, "quick", seed=0)
    assert res.verdict.status == "holds", res.verdict.reason
    d = res.to_dict()
    json.dumps(d)
    from rmt import figures as F

    fig, ax = F.figure()
    claim.figure(ax, json.loads(json.dumps(d)))
    F.save(fig, tmp_path / cid, ("png",))


@pytest.mark.slow
def test_quick_rate_claim_holds(tmp_path):
    claim = registry()["lindeberg-smooth-gap-rate"]
    res = run_claim(claim, "quick", seed=0)
    assert res.verdict.status == "holds", res.verdict.reason
    from rmt import figures as F

    fig, ax = F.figure()
    claim.figure(ax, json.loads(json.dumps(res.to_dict())))
    F.save(fig, tmp_path / "rate", ("png",))


# --------------------------------------------------------------------------------------------
# The simulation's command line
# --------------------------------------------------------------------------------------------

def test_cli_help_and_errors(capsys):
    from simulations import lindeberg as sim

    with pytest.raises(SystemExit) as e:
        sim.main(["--help"])
    assert e.value.code == 0
    for bad in (["--dims", "4"], ["--regimes", "huge"], ["--gamma", "0"], ["--z-imag", "0"],
                ["--trials", "1"], ["--t-grid", "2"]):
        assert sim.main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "error" in err and err.count(bad[0]) == 1
    assert sim.main(["--t-grid", "0.5,1", "--no-path", "--out", "/nonexistent/x"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_cli_refuses_an_unwritable_out_before_any_work(monkeypatch, capsys):
    """Issue 18, item 4: the command computed for minutes, then lost the results in a
    traceback when --out could not be written."""
    from simulations import lindeberg as sim

    def no_work(*args, **kwargs):
        raise AssertionError("simulate ran although --out cannot be written")

    monkeypatch.setattr(sim, "simulate", no_work)
    assert sim.main(["--out", "/proc/nope/lb"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out '/proc/nope/lb.json' cannot be written" in err


def test_cli_tiny_run_writes_results_and_figures(tmp_path, monkeypatch):
    from simulations import lindeberg as sim

    out = tmp_path / "lb"
    rc = sim.main(["--dims", "12,16", "--trials", "4", "--path-dim", "12", "--path-trials", "4",
                   "--path-points", "3", "--regime-max-dim", "16", "--boot", "100",
                   "--z-real", "1", "--z-imag", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    res = json.loads((tmp_path / "lb.json").read_text())
    assert set(res["rates"]) == {"fixed", "d/4", "d"}
    assert res["rates"]["d"]["n_classes"] == [12, 16]
    for name in ("lb_rate.png", "lb_rate.pdf", "lb_path.png", "lb_path.pdf"):
        assert (tmp_path / name).stat().st_size > 0
    from rmt.experiments.lindeberg import markdown_table

    assert "| regime |" in markdown_table(res)
    _check_figures_read_as_a_referee_would(res, monkeypatch, tmp_path)


def _check_figures_read_as_a_referee_would(res, monkeypatch, tmp_path):
    """Issue 18, referee on lindeberg_rate / lindeberg_path: no legend entry for a mark that
    no panel draws; the d^-1 rank-bound line only where the bound decays (fixed C; it is O(1)
    for C ∝ d); Δ defined and the τ = 0 point explained in the path figure's caption."""
    from rmt import figures as F
    from simulations import lindeberg_figures

    figs = []
    monkeypatch.setattr(F, "save", lambda fig, stem, fmts=("pdf", "png"): figs.append(fig) or ())
    for r in res["rates"].values():
        r["used"] = [True] * len(r["used"])             # every point above the floor
    lindeberg_figures.make_figures(res, str(tmp_path / "again"))
    rate, path = figs
    legend = [t.get_text() for t in rate.legends[0].get_texts()]
    assert "under the noise floor (not fitted)" not in legend
    assert any("rank bound, fixed" in t for t in legend)
    dotted = [sum(ln.get_linestyle() == ":" for ln in ax.lines) for ax in rate.axes[:3]]
    assert dotted == [1, 0, 0]                          # panels: fixed, d/4, d
    caption = " ".join(" ".join(t.get_text().split()) for t in path.texts)
    assert "Δ(τ, z) = E s_τ(z) − E s_0(z)" in caption and "At τ = 0 the gap is 0" in caption


# --------------------------------------------------------------------------------------------
# NumPy = CuPy
# --------------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("path", ["smooth", "replacement"])
def test_numpy_equals_cupy(path):
    d, N = 64, 128
    z = [1 + 0.5j, 2 + 1j]
    kw = dict(path=path, n_points=3, z=z, increments=path == "replacement")
    a = simulate_path(d, N, 3, seed=4, backend="numpy", **kw)
    b = simulate_path(d, N, 3, seed=4, backend="cupy", draw_on="host", **kw)
    lam = float(np.abs(a["moments"].mean[:, 0]).max()) * 10  # generous bound on ‖B‖
    tol = 10 * d * EPS * lam / min(w.imag for w in z) ** 2
    assert np.allclose(a.per_trial_gap, b.per_trial_gap, rtol=0, atol=2 * tol)
    assert np.allclose(a["stieltjes"].mean, b["stieltjes"].mean, rtol=0, atol=tol)
    draw_np = draw_lindeberg(d, N, 4, backend="numpy")
    draw_cp = draw_lindeberg(d, N, 4, backend="cupy", draw_on="host")
    for t in (0.0, 0.5, 1.0):
        assert np.allclose(draw_np.smooth_weights(t), bk.to_numpy(draw_cp.smooth_weights(t)),
                           rtol=1e-12, atol=0)


# --------------------------------------------------------------------------------------------
# simulate_path in parts: the checks (plan_path), one trial (path_trial), the run
# --------------------------------------------------------------------------------------------

def test_path_trial_alone_is_the_run_s_trial():
    from rmt.covariance import DrawSpec
    from rmt.lindeberg import PATH_SPEC, path_trial, plan_path

    spec = DrawSpec(n_classes=4, scale="C")
    run = simulate_path(20, 40, 3, 7, spec, path="replacement", n_points=3, z=[1 + 1j],
                        increments=True)
    plan = plan_path(20, 40, 7, spec, path="replacement", n_points=3, z=[1 + 1j],
                     increments=True)
    assert plan.estimator == run.estimator == "coupled" and np.array_equal(plan.edges, run.edges)
    for t in range(3):
        one = path_trial(plan, trial_seed(7, t))
        assert np.array_equal(one["gap"], run.per_trial_gap[t])
        assert one["increment"].shape == (2, 1)
    # the keywords of the draw give the same run as the spec; the default spec is C·H_ii
    again = simulate_path(20, 40, 3, 7, path="replacement", n_points=3, z=[1 + 1j],
                          increments=True, n_classes=4)
    assert np.array_equal(again.per_trial_gap, run.per_trial_gap)
    assert PATH_SPEC.scale == "C" and run.params["scale"] == "C"


@pytest.mark.parametrize("kwargs,match", [
    (dict(path="smooth", distribution="rademacher"), "needs distribution='gaussian'"),
    (dict(path="smooth", increments=True), "increments=True needs path='replacement'"),
    (dict(path="smooth", grid=[0.5, 1.0]), "must contain the reference t = 0"),
    (dict(path="replacement", grid=[0, 3]), r"must contain the reference k = N = 8"),
    (dict(path="smooth", z=[1.0]), "Im z > 0"),
    (dict(path="smooth", estimator="coupled", distribution="rademacher"), "needs distribution"),
])
def test_plan_path_checks_before_any_draw(kwargs, match):
    from rmt.lindeberg import plan_path

    with pytest.raises(ValueError, match=match):
        plan_path(4, 8, 0, **{"n_points": 3, **kwargs})
