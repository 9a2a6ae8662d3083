"""Claims of the one-hidden-layer net ``z = V relu(W x)`` at init: the W-block ratio.

The W–W block of hidden units ``k, l`` is a weighted sample covariance whose weights carry the
Gauss–Newton coefficient ``v_kᵀ(diag p − ppᵀ)v_l`` (CE) or ``v_kᵀv_l`` (MSE). Quantity: the
per-block RMS ratio ``R_W = (E‖H_kl‖²_F / E‖H_kk‖²_F)^{1/2}`` (``k ≠ l``), estimated as the
ratio of the seed means of ``Σ_{k≠l}‖H_kl‖²/(m(m−1))`` and ``Σ_k‖H_kk‖²/m`` (exact over all
pairs, :func:`rmt.block_rms.w_block_sums`; delta-method SE, t with ``T − 1`` dof,
:func:`rmt.block_rms.rms_ratio`).

Registered on import:

* ``hidden-ce-w-block-C10``, ``-C100``, ``-C1000``: at ``σ = 1`` (``m = 8, d = 100,
  N = 200``) ``√(C+1)·R_W`` equals the finite-σ prediction of
  :func:`rmt.hidden_prediction.predict_hidden_w_ratio` (``proofs.hidden_finite_sigma``),
  and not the uniform-softmax coefficient ``ρ`` of ``proofs.hidden_coupling`` (exact only as
  ``σ → 0``): at ``σ = 1`` the softmax is far from uniform and ``√(C+1)·R_W`` grows from
  about 0.70 (C = 10) to 0.95 (C = 1000) against ``ρ ≈ 0.62``.
* ``hidden-ce-w-block-rate``: the least-squares slope of ``ln R_W`` on ``ln C`` over
  ``C ∈ {10, 100, 1000}`` (the same seeds) equals the same contrast of the prediction, not the
  uniform-softmax slope (≈ −½) and not −1 (the V-block and linear-model rate).
* ``hidden-mse-w-block``: with MSE, ``√(C+2)·R_W = ρ`` exactly up to the quadrature (``Γ = VᵀV``
  does not depend on the data), not the CE coefficient ``ρ√(C+2)/√(C+1)`` and not 0 (the
  exactly block-diagonal linear MSE model).

The prediction carries the standard error of its Monte Carlo quadrature over the hidden
features; the claims add it in quadrature to the seeds' standard error, so the interval tests
``estimate − prediction``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.claims import Claim, RateWithinCI, Rival, WithinCI, register
from rmt.stats import Estimate

from ._figures import verdict_figure

__all__ = ["HIDDEN_C_VALUES"]

#: C values of the per-C CE claims (and the grid of the slope claim).
HIDDEN_C_VALUES = (10, 100, 1000)
_TAG = 0x6869646E   # "hidn": these claims draw their own streams
#: Monte Carlo draws of the prediction's quadrature over the hidden features (fixed seed:
#: common random numbers across C).
_N_FEATURES = 2 ** 15
_QUAD_SEED = 0


def _cell_seed(seed: Any, *extra: int) -> np.random.SeedSequence:
    ss = bk.as_seed_sequence(seed)
    ent = ss.entropy if isinstance(ss.entropy, int) else tuple(np.atleast_1d(ss.entropy))
    return np.random.SeedSequence(ent, spawn_key=(*ss.spawn_key, _TAG, *extra))


@functools.lru_cache(maxsize=32)
def _cells(C: int, sigma: float, hidden: int, dim: int, n_samples: int, loss: str, T: int,
           key: tuple, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed W-block sums (off-diagonal, diagonal); cached, so the per-C claims and the
    slope claim share them."""
    from rmt.block_rms import w_block_sums  # noqa: PLC0415

    seed = np.random.SeedSequence(key[0], spawn_key=key[1])
    return w_block_sums(C, sigma, hidden, dim, n_samples, loss, T, seed=seed, backend=backend)


def _sums(p: Mapping[str, Any], C: int, seed: Any, backend: str):
    loss = str(p["loss"])
    ss = _cell_seed(seed, int(C), int(p["dim"]), int(p["n_samples"]), int(p["hidden"]),
                    0 if loss == "ce" else 1)
    return _cells(int(C), float(p["sigma"]), int(p["hidden"]), int(p["dim"]),
                  int(p["n_samples"]), loss, int(p["n_trials"]), (ss.entropy, ss.spawn_key),
                  str(backend))


@functools.lru_cache(maxsize=32)
def _prediction(C: int, sigma: float, hidden: int, dim: int, n_samples: int, loss: str):
    from rmt.hidden_prediction import predict_hidden_w_ratio  # noqa: PLC0415

    return predict_hidden_w_ratio(C, sigma, hidden, dim, n_samples, loss,
                                  n_features=_N_FEATURES, seed=_QUAD_SEED)


def _pred(p: Mapping[str, Any], C: int):
    return _prediction(int(C), float(p["sigma"]), int(p["hidden"]), int(p["dim"]),
                       int(p["n_samples"]), str(p["loss"]))


def _scale(C: int, loss: str) -> float:
    """``√(C+1)`` (CE) or ``√(C+2)`` (MSE): the C-dependence of the uniform coefficient."""
    return math.sqrt(C + (1.0 if loss == "ce" else 2.0))


# ---------------------------------------------------------------------------------------------
# per-C claims (CE) and the MSE claim
# ---------------------------------------------------------------------------------------------

def _estimate_scaled(C: int):
    def estimate(p: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
        from rmt.block_rms import rms_ratio  # noqa: PLC0415

        off, dia = _sums(p, C, seed, backend)
        r = rms_ratio(off, dia)
        pred = _pred(p, C)
        k = _scale(C, str(p["loss"]))
        se = k * math.hypot(r.stderr, pred.stderr)
        return Estimate(k * r.value, se, r.n_trials, r.dof, extra={
            "C": C, "ratio": r.value, "ratio_stderr_seeds": r.stderr,
            "prediction_stderr_quadrature": pred.stderr, "rho2": pred.rho2,
            "approximation": pred.approximation,
            "note": "ratio of seed means of the W-block sums (delta-method SE, t with T-1 dof); "
                    "SE = seeds' SE and the prediction's quadrature SE in quadrature"})

    return estimate


def _figure_scaled(C: int, symbol: str):
    def draw(ax: Any, result: Mapping[str, Any]) -> Any:
        return verdict_figure(ax, result, quantity=rf"${symbol}\,R_W$ at $C$ = {C}")

    return draw


def _uniform_rival(C: int) -> Rival:
    return Rival("uniform-softmax coefficient ρ",
                 lambda p: math.sqrt(_pred(p, C).rho2), proof="hidden_coupling.ratio",
                 note="the coefficient at p = 1/C (ρ/√(C+1) for R_W, ρ from the same "
                      "quadrature): exact only as σ → 0")


_CE_SCALES = {
    # 40 seeds: the uniform coefficient is 6–20 standard errors away at σ = 1 (a seed's
    # √(C+1)·R_W has a relative SD of about 15 %)
    "quick": {"sigma": 1.0, "hidden": 8, "dim": 100, "n_samples": 200, "loss": "ce",
              "n_trials": 40},
    "paper": {"sigma": 1.0, "hidden": 8, "dim": 100, "n_samples": 200, "loss": "ce",
              "n_trials": 160},
}


def _ce_claim(C: int) -> Claim:
    return Claim(
        id=f"hidden-ce-w-block-C{C}",
        statement=(f"One-hidden-layer ReLU net (m = 8, d = 100, N = 200), CE, at init with "
                   f"σ = 1, C = {C}: √(C+1) × the per-block RMS ratio of the W-blocks (rows of "
                   "W, Frobenius, all pairs, ratio of seed means) equals its finite-σ, finite-C "
                   "prediction, not the uniform-softmax coefficient ρ"),
        latex=rf"$\sqrt{{C+1}}\,R_W = \sqrt{{C+1}}\,R_W^{{\rm pred}}(\sigma, C),\ C = {C}$",
        proof="hidden_finite_sigma.decomposition",
        predict=lambda p, C=C: _scale(C, "ce") * _pred(p, C).per_block,
        estimate=_estimate_scaled(C),
        rule=WithinCI(level=0.99, rel_precision=None),
        rivals=(_uniform_rival(C),),
        scales=_CE_SCALES,
        quantity="√(C+1)·‖H_kl‖_F/‖H_kk‖_F, W-blocks, per block (RMS over pairs and seeds)",
        figure=_figure_scaled(C, r"\sqrt{C+1}"),
    )


def _mse_claim() -> Claim:
    C = 4
    return Claim(
        id="hidden-mse-w-block",
        statement=("One-hidden-layer ReLU net (m = 8, d = 100, N = 200), MSE, at init, C = 4: "
                   "√(C+2) × the per-block RMS ratio of the W-blocks equals ρ (the data factor "
                   "of the ReLU indicators, exact up to its quadrature), not the CE coefficient "
                   "ρ√(C+2)/√(C+1) and not 0 (the block-diagonal linear MSE model)"),
        latex=r"$\sqrt{C+2}\,R_W = \rho = (E\|M_{kl}\|_F^2/E\|M_{kk}\|_F^2)^{1/2}$",
        proof="hidden_finite_sigma.decomposition",
        predict=lambda p: _scale(C, "mse") * _pred(p, C).per_block,
        estimate=_estimate_scaled(C),
        rule=WithinCI(level=0.99, rel_precision=None),
        rivals=(Rival("CE's uniform coefficient ρ√(C+2)/√(C+1)",
                      lambda p: _scale(C, "mse") * math.sqrt(_pred(p, C).rho2 / (C + 1.0)),
                      proof="hidden_coupling.ratio",
                      note="the CE W-block ratio at p = 1/C carried over to MSE"),
                Rival("0 (linear MSE: block-diagonal)", lambda p: 0.0,
                      proof="identities.mse_linear",
                      note="H = I_C ⊗ XᵀX/N for the linear model with MSE")),
        # 160 seeds: the CE coefficient is 9.5 % above ρ and a seed's R_W has a relative SD of
        # about 27 % at C = 4, so it sits ≈ 4.5 SE away
        scales={"quick": {"sigma": 1.0, "hidden": 8, "dim": 100, "n_samples": 200,
                          "loss": "mse", "n_trials": 160},
                "paper": {"sigma": 1.0, "hidden": 8, "dim": 100, "n_samples": 200,
                          "loss": "mse", "n_trials": 640}},
        quantity="√(C+2)·‖H_kl‖_F/‖H_kk‖_F, W-blocks, MSE, per block (RMS over pairs and seeds)",
        figure=_figure_scaled(C, r"\sqrt{C+2}"),
    )


# ---------------------------------------------------------------------------------------------
# the slope over C (CE)
# ---------------------------------------------------------------------------------------------

def _contrast(p: Mapping[str, Any]) -> np.ndarray:
    from rmt.block_rms import loglog_contrast  # noqa: PLC0415

    return loglog_contrast([float(c) for c in p["n_classes_grid"]])


def _pred_slope(p: Mapping[str, Any]) -> float:
    return float(_contrast(p) @ np.log([_pred(p, C).per_block for C in p["n_classes_grid"]]))


def _uniform_slope(p: Mapping[str, Any]) -> float:
    Cs = np.asarray(p["n_classes_grid"], dtype=float)
    return float(_contrast(p) @ (0.5 * np.log([_pred(p, int(C)).rho2 for C in Cs])
                                 - 0.5 * np.log(Cs + 1.0)))


def _estimate_slope(p: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    from rmt.block_rms import rms_slope  # noqa: PLC0415

    Cs = [int(c) for c in p["n_classes_grid"]]
    sums = [_sums(p, C, seed, backend) for C in Cs]
    est = rms_slope(Cs, [s[0] for s in sums], [s[1] for s in sums])
    preds = [_pred(p, C) for C in Cs]
    c = _contrast(p)
    se_pred = math.sqrt(float(np.sum((c * np.array([q.stderr / q.per_block for q in preds]))
                                     ** 2)))
    ratios = np.asarray(est.extra["ratios"])
    ratio_se = np.asarray(est.extra["ratio_stderr"])
    k = np.sqrt(np.asarray(Cs, dtype=float) + 1.0)
    return Estimate(est.value, math.hypot(est.stderr, se_pred), est.n_trials, est.dof, extra={
        "C": Cs, "scaled": (k * ratios).tolist(), "scaled_stderr": (k * ratio_se).tolist(),
        "prediction_scaled": [float(kk * q.per_block) for kk, q in zip(k, preds)],
        "rho": [math.sqrt(q.rho2) for q in preds], "prediction_stderr_quadrature": se_pred,
        "dof_per_C": int(p["n_trials"]) - 1,
        "note": "least-squares contrast of ln R_W over C (independent seeds per C; Welch dof); "
                "SE adds the prediction's quadrature SE in quadrature"})


def _figure_slope(ax: Any, result: Mapping[str, Any]) -> Any:
    from rmt import figures as F  # noqa: PLC0415
    from rmt.stats import critical_value  # noqa: PLC0415

    e = result["extra"]
    C = np.asarray(e["C"], dtype=float)
    y, se = np.asarray(e["scaled"]), np.asarray(e["scaled_stderr"])
    level = result["ci_level"]
    q = float(critical_value(level, e["dof_per_C"]))
    lo, hi = result["ci"]
    with F.style():
        ax.plot(C, e["prediction_scaled"], "-D", color=F.OKABE_ITO["vermillion"], ms=3.5,
                lw=1.0, label="finite-σ prediction")
        ax.plot(C, e["rho"], "--", color=F.OKABE_ITO["black"], lw=0.9,
                label=r"uniform softmax $\rho$ (rival)")
        ax.errorbar(C, y, yerr=q * se, fmt="o", color=F.OKABE_ITO["blue"], ms=3.5, capsize=2.5,
                    label=f"measured, {100 * level:g}% CI (t, {e['dof_per_C'] + 1} seeds per C)")
        ax.set_xscale("log")
        ax.set_xlabel(F.LABELS["C"])
        ax.set_ylabel(r"$\sqrt{C+1}\,\|H_{kl}\|_F/\|H_{kk}\|_F$, W-blocks (RMS)")
        ax.legend(loc="upper left", fontsize=6, title=(
            f"slope of ln R_W: {result['estimate']:.3f}, CI [{lo:.3f}, {hi:.3f}];\n"
            f"predicted {result['prediction']:.3f}").replace("-", "−"), title_fontsize=6)
    return ax


def _slope_claim() -> Claim:
    return Claim(
        id="hidden-ce-w-block-rate",
        statement=("One-hidden-layer ReLU net, CE, σ = 1: the least-squares slope of ln R_W "
                   "(W-block per-block RMS ratio) on ln C over C ∈ {10, 100, 1000} equals the "
                   "same contrast of the finite-σ prediction, not the uniform-softmax slope "
                   "(≈ −½) and not −1"),
        latex=r"$\frac{d\ln R_W}{d\ln C} = \frac{d\ln R_W^{\rm pred}}{d\ln C}$ (least "
              r"squares over $C \in \{10, 100, 1000\}$)",
        proof="hidden_finite_sigma.decomposition",
        predict=_pred_slope,
        estimate=_estimate_slope,
        rule=RateWithinCI(level=0.99, abs_precision=None),
        rivals=(Rival("uniform-softmax slope", _uniform_slope, proof="hidden_coupling.ratio",
                      note="the slope of ρ/√(C+1): −½ up to ρ's finite-C change"),
                Rival("−1 (V-block and linear-model rate)", lambda p: -1.0,
                      proof="hidden_coupling.ratio",
                      note="the 1/C rate of the V-blocks and of the linear model's blocks")),
        scales={"quick": {**_CE_SCALES["quick"], "n_classes_grid": list(HIDDEN_C_VALUES)},
                "paper": {**_CE_SCALES["paper"], "n_classes_grid": list(HIDDEN_C_VALUES)}},
        quantity="least-squares slope of ln R_W on ln C, W-blocks, C = 10–1000",
        figure=_figure_slope,
    )


for _claim in [_ce_claim(C) for C in HIDDEN_C_VALUES] + [_slope_claim(), _mse_claim()]:
    register(_claim)
