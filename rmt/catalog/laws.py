"""Claims about spectral laws: Marchenko–Pastur, the weighted MP laws of the Hessian blocks,
the large-C weight moments and the exact block-norm formula.

Kolmogorov (KS) bounds used here. For a d×d sample-covariance-type matrix, eigenvalue rigidity
puts each eigenvalue within O(log d / d) (in quantile) of its classical location, so the
Kolmogorov distance between the empirical spectral distribution and the deterministic law of the
same weights is at most ~ 2 ln d / d (the constant 2 as in :mod:`tests.test_laws`, where
d·KS = 2–4 was observed against 2 ln d ≈ 12). Comparing with the law of the *population*
weight law adds the fluctuation of the N empirical weights: by DKW their empirical cdf is within
sqrt(ln(2/α)/(2n)) of the population one (n weights pooled over trials, α = 0.01), and the
claim takes the weighted-MP map to be 1-Lipschitz in Kolmogorov distance (stated, not proved).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .. import backend as bk
from ..claims import AtMost, Claim, Estimate, WithinCI, derived, register
from ..covariance import draw_covariance
from ..fit import fit_mp, ks_statistic
from ..stats import critical_value, dkw_bound, mean_estimate
from ..laws import (DiscreteWeights, MarchenkoPastur, WeightedMP, block_weight_moments,
                    diagonal_block_weights, offdiagonal_block_weights)


def _rigidity(d: int) -> float:
    return 2 * math.log(d) / d


def _law_curve(law: Any, eigs: np.ndarray, n: int = 400) -> dict[str, list[float]]:
    lo, hi = float(eigs.min()), float(eigs.max())
    pad = 0.05 * (hi - lo)
    x = np.linspace(lo - pad, hi + pad, n)
    return {"x": x.tolist(), "density": np.asarray(law.pdf(x), float).tolist()}


def _esd_figure(ax: Any, result: Mapping[str, Any]) -> Any:
    from .. import figures as F

    ex = result["extra"]
    F.esd_histogram(ax, np.asarray(ex["eigenvalues"]),
                    laws=[(ex["law_label"], np.asarray(ex["law"]["x"]),
                           np.asarray(ex["law"]["density"]))])
    ax.set_xlabel(ex["xlabel"])
    return ax


# --- Marchenko–Pastur ------------------------------------------------------------------------

def _mp_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    d, N = params["dim"], params["n_samples"]
    xp = bk.xp_for(backend)
    X = bk.standard_normal((N, d), seed, xp)
    eigs = np.sort(bk.to_numpy(xp.linalg.eigvalsh(X.T @ X / N)))
    law = MarchenkoPastur(d / N)
    return Estimate(ks_statistic(eigs, law), 0.0, 1, extra={
        "eigenvalues": eigs.tolist(), "law": _law_curve(law, eigs),
        "law_label": rf"MP($\gamma$={d / N:g})", "xlabel": r"eigenvalue of $X^\top X/N$"})


register(Claim(
    id="mp-esd",
    statement="The eigenvalues of XᵀX/N (Gaussian X, N×d) follow Marchenko–Pastur(γ = d/N): "
              "Kolmogorov distance ≤ 2 ln d/d (rigidity).",
    latex=r"$\sup_x |F_{X^\top X/N}(x) - F_{MP,\gamma}(x)| \leq 2\ln d/d$",
    proof="mp_moments.narayana",
    predict=lambda p: _rigidity(p["dim"]),
    estimate=_mp_estimate,
    rule=AtMost(basis="eigenvalue rigidity, 2 ln d/d"),
    scales={"quick": {"dim": 400, "n_samples": 800}, "paper": {"dim": 2000, "n_samples": 4000}},
    quantity="KS distance, ESD vs MP",
    figure=_esd_figure,
))


# --- Hessian blocks against weighted MP laws --------------------------------------------------

_BLOCK = {
    "diag": dict(scale="C", name="C·H_ii", latex=r"C\,H_{ii}",
                 law=lambda C, s: diagonal_block_weights(C, s)),
    "offdiag": dict(scale="-C2", name="−C²·H_ij", latex=r"-C^2 H_{ij}",
                    law=lambda C, s: offdiagonal_block_weights(C, s).scaled(-1.0)),
}


def _block_draws(params: Mapping[str, Any], seed: Any, backend: str, kind: str):
    """Eigenvalues and realised weights of ``T`` independent blocks (dependent weights)."""
    eigs, weights = [], []
    for s in bk.spawn_seeds(seed, params["n_trials"]):
        dr = draw_covariance(params["dim"], params["n_samples"], s, n_classes=params["n_classes"],
                             sigma=params["sigma"], weights=kind, scale=_BLOCK[kind]["scale"],
                             backend=backend)
        xp = bk.get_xp(dr.X)
        eigs.append(np.sort(bk.to_numpy(xp.linalg.eigvalsh(dr.matrix()))))
        weights.append(bk.to_numpy(dr.w))
    return eigs, weights


def _own_weights_estimate(kind: str):
    def estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
        eigs, weights = _block_draws({**params, "n_trials": 1}, seed, backend, kind)
        # The deterministic equivalent of this draw: the weighted MP law of its own N weights
        # (compressed to 256 atoms, preserving their first two moments exactly).
        law = WeightedMP(params["dim"] / params["n_samples"],
                         DiscreteWeights.from_samples(weights[0], 256))
        return Estimate(ks_statistic(eigs[0], law), 0.0, 1, extra={
            "eigenvalues": eigs[0].tolist(), "law": _law_curve(law, eigs[0]),
            "law_label": "weighted MP (own weights)",
            "xlabel": f"eigenvalue of ${_BLOCK[kind]['latex']}$"})

    return estimate


def _finite_c_estimate(kind: str):
    def estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
        eigs, _ = _block_draws(params, seed, backend, kind)
        law = WeightedMP(params["dim"] / params["n_samples"],
                         _BLOCK[kind]["law"](params["n_classes"],
                                                                        params["sigma"]))
        pooled = np.sort(np.concatenate(eigs))
        ks = [ks_statistic(e, law) for e in eigs]
        return Estimate(ks_statistic(pooled, law), 0.0, 1, extra={
            "eigenvalues": pooled.tolist(), "law": _law_curve(law, pooled),
            "ks_per_trial": ks, "law_label": f"weighted MP, C={params['n_classes']}",
            "xlabel": f"eigenvalue of ${_BLOCK[kind]['latex']}$"})

    return estimate


def _finite_c_bound(p: Mapping[str, Any]) -> float:
    return _rigidity(p["dim"]) + dkw_bound(p["n_samples"] * p["n_trials"], 0.01)


_BLOCK_SCALES_OWN = {"quick": {"dim": 400, "n_samples": 800, "n_classes": 10, "sigma": 1.0},
                     "paper": {"dim": 2000, "n_samples": 4000, "n_classes": 1000, "sigma": 1.0}}
_BLOCK_SCALES_POP = {"quick": {"dim": 400, "n_samples": 800, "n_classes": 10, "sigma": 1.0,
                               "n_trials": 2},
                     "paper": {"dim": 2000, "n_samples": 4000, "n_classes": 1000, "sigma": 1.0,
                               "n_trials": 1}}

for _kind, _which in (("diag", "a diagonal block C·H_ii (weights C·p_i(1−p_i))"),
                      ("offdiag", "an off-diagonal block −C²·H_ij (weights C²·p_i p_j)")):
    register(Claim(
        id=f"{_kind}-block-esd-own-weights",
        statement=f"The spectrum of {_which} of the linear CE model at init, whose weights depend "
                  "on the data, matches the weighted MP law of its own realised weights as if "
                  "they were independent: Kolmogorov distance ≤ 2 ln d/d.",
        latex=rf"$\sup_x|F_{{{_BLOCK[_kind]['latex']}}} - F_{{wMP(\gamma,\hat\nu_N)}}| "
              r"\leq 2\ln d/d$",
        proof="free_cumulants.weighted_mp",
        predict=lambda p: _rigidity(p["dim"]),
        estimate=_own_weights_estimate(_kind),
        rule=AtMost(basis="eigenvalue rigidity, 2 ln d/d"),
        scales=_BLOCK_SCALES_OWN,
        quantity=f"KS, ESD of {_BLOCK[_kind]['name']} vs wMP(own weights)",
        figure=_esd_figure,
    ))
    register(Claim(
        id=f"{_kind}-block-esd-finite-c-law",
        statement=f"The spectrum of {_which} matches the weighted MP law of the finite-C softmax "
                  "weight law (Gaussian logits, no data): Kolmogorov distance of the pooled "
                  "spectra ≤ 2 ln d/d + sqrt(ln(200)/(2NT)).",
        latex=rf"$\sup_x|F_{{{_BLOCK[_kind]['latex']}}} - F_{{wMP(\gamma,\nu_C)}}| "
              r"\leq 2\ln d/d + \sqrt{\ln 200/(2NT)}$",
        proof="free_cumulants.weighted_mp",
        predict=_finite_c_bound,
        estimate=_finite_c_estimate(_kind),
        rule=AtMost(basis="rigidity 2 ln d/d + DKW fluctuation of the N·T weights at α = 0.01"),
        scales=_BLOCK_SCALES_POP,
        quantity=f"KS, pooled ESD of {_BLOCK[_kind]['name']} vs wMP(finite-C law)",
        figure=_esd_figure,
    ))


# --- Weight moments at large C ----------------------------------------------------------------

def _large_c_predict(p: Mapping[str, Any]) -> float:
    o = derived("large_c.first_order")
    k, sigma, C = (o["symbols"][name] for name in ("k", "sigma", "C"))
    return float(o["diag_moment_first_order"].subs({k: p["order"], sigma: p["sigma"],
                                                    C: p["n_classes"]}))


def _large_c_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    wm = block_weight_moments(params["n_classes"], params["sigma"], block="diagonal", scale="C",
                              orders=(params["order"],), n_samples=params["n_samples"], seed=seed)
    return Estimate(float(wm.values[0]), float(wm.stderr[0]), wm.n_vectors,
                    extra={"n_vectors": wm.n_vectors})


register(Claim(
    id="softmax-diag-weight-moment-large-c",
    statement="For Gaussian logits z ~ N(0, σ²I_C), E[(C·p_i(1−p_i))^k] equals its lognormal "
              "limit e^{k(k−1)σ²/2} with the derived first-order 1/C correction (k = 2, large C).",
    latex=r"$E[(C p_i(1-p_i))^k] = e^{k(k-1)\sigma^2/2}[1 + c_k(\sigma)/C] + O(C^{-2})$",
    proof="large_c.first_order",
    predict=_large_c_predict,
    estimate=_large_c_estimate,
    rule=WithinCI(level=0.99, rel_precision=0.02),
    scales={"quick": {"n_classes": 10_000, "sigma": 1.0, "order": 2, "n_samples": 2 ** 21},
            "paper": {"n_classes": 100_000, "sigma": 1.0, "order": 2, "n_samples": 2 ** 24}},
    quantity="E[(C·p_i(1−p_i))²], sample of logits",
))


# --- Exact block norm at finite (d, N) --------------------------------------------------------

def _sq_norm_predict(p: Mapping[str, Any]) -> float:
    expr = derived("block_norm_limits.exact_sq_norm")["block_sq_norm_exact"]
    syms = {s.name: s for s in expr.free_symbols}
    vals = np.asarray(p["weights"], float)
    return float(expr.subs({syms["d"]: p["dim"], syms["N"]: p["n_samples"], syms["Ea"]: vals.mean(),
                            syms["Ea2"]: (vals ** 2).mean()}))


def _sq_norm_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    d, N, T = params["dim"], params["n_samples"], params["n_trials"]
    vals = np.asarray(params["weights"], float)
    xp = bk.xp_for(backend)
    sq = np.empty(T)
    for t, s in enumerate(bk.spawn_seeds(seed, T)):
        rng = np.random.default_rng(s)
        X = bk.asarray(rng.standard_normal((N, d)), xp)
        a = bk.asarray(rng.choice(vals, N), xp)
        H = (X.T * a) @ X / N
        sq[t] = float(xp.sum(H * H))
    return mean_estimate(sq)


register(Claim(
    id="block-sq-norm-exact",
    statement="For H = (1/N)Σ a_n x_n x_nᵀ with a_n iid independent of x_n ~ N(0, I_d): "
              "E‖H‖²_F = [N E a² d(d+2) + N(N−1)(E a)² d]/N² exactly (Frobenius, one block).",
    latex=r"$E\|H\|_F^2 = [N E a^2 d(d+2) + N(N-1)(E a)^2 d]/N^2$",
    proof="block_norm_limits.exact_sq_norm",
    predict=_sq_norm_predict,
    estimate=_sq_norm_estimate,
    rule=WithinCI(level=0.99, rel_precision=0.02),
    scales={"quick": {"dim": 40, "n_samples": 80, "n_trials": 1500, "weights": [0.2, 1.0, -0.5]},
            "paper": {"dim": 400, "n_samples": 800, "n_trials": 1500, "weights": [0.2, 1.0, -0.5]}},
    quantity="E‖H‖²_F, one block",
))


# --- Fitting ----------------------------------------------------------------------------------

def _fit_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    d, N = params["dim"], params["n_samples"]
    xp = bk.xp_for(backend)
    X = bk.standard_normal((N, d), seed, xp) * math.sqrt(params["scale"])
    eigs = bk.to_numpy(xp.linalg.eigvalsh(X.T @ X / N))
    fit = fit_mp(eigs, ratio=d / N, level=0.95)
    lo, hi = fit.scale_ci
    # The 95% interval of the exact χ² likelihood is symmetric to O(1/√(Nd)): its half-width
    # over the normal quantile (1.96) is the standard error.
    return Estimate(fit.scale, (hi - lo) / (2 * critical_value(0.95)), 1,
                    extra={"ks": fit.ks, "w1": fit.w1})


register(Claim(
    id="mp-fit-recovers-scale",
    statement="Maximum likelihood fit of MP(γ known, σ²) to the eigenvalues of σ²·XᵀX/N recovers "
              "σ² within its confidence interval.",
    latex=r"$\hat\sigma^2_{ML} \to \sigma^2$",
    proof="mp_moments.narayana",
    predict=lambda p: p["scale"],
    estimate=_fit_estimate,
    rule=WithinCI(level=0.99, rel_precision=0.02),
    scales={"quick": {"dim": 300, "n_samples": 600, "scale": 2.5}},
    quantity="fitted σ² (MLE)",
))
