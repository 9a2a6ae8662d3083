"""Claims of the dynamic force: the Hessian's block structure along training.

All runs: the one-hidden-layer net ``z = V relu(W x)`` (LeCun init, width ``2d`` so that it
contains every linear map) trained full batch by :func:`rmt.training.run_cell` on
``rmt.datasets.make_classification`` data (linear teacher, separable: CE has ``ℓ* = 0``),
snapshots at the fractions of :data:`rmt.training.DEFAULT_FRACTIONS` of the step budget. Trial
``t`` (of ``n_trials``) at class count ``C`` draws from its own child of the claim's seed.

* ``training-residual-bound`` (a bound checked exactly): at every recorded step of every run
  (CE and MSE), the residual part of every cross-layer block obeys the derived bound
  ``‖R‖_F ≤ min(c_rms √(2ℓ), √2 c_max ℓ)`` (MSE: the first form) of ``proofs.cross_layer``.
  The estimate is the number of violations (a rounding margin of ``1e-12`` relative); an
  inequality that must hold everywhere is checked like an identity.
* ``training-residual-rate-ce``: under CE the residual part of ``H_WV`` shrinks faster than the
  square root of the loss (its exponent in ``ℓ``, fitted over the second half of training, is
  above 1/2): in that phase the derived bound's linear form ``√2 c_max ℓ`` is the tighter one.
  Rival: the retold square root of the loss gap. The bound's asymptotic exponent 1 is *not*
  reached within the runs: ``extra`` says whether 1 is inside the 99% CI (measured 0.82–0.95).
* ``training-ratio-growth``: the near block-diagonality of the output layer does not persist
  along CE training at large ``C``: the aggregate ratio grows by more than a factor 2 (the
  static-force formula with the trained softmax, :func:`rmt.training.static_force_ratio`,
  gives the growth shown in ``extra``); rival: "persists within a factor 2".
* ``training-ratio-c-slope-end``: at the end of CE training the C-exponent of the output
  layer's aggregate ratio is above the init law's ``−1/2`` (in the confident limit one
  sample's ratio is ``√(2/(k+1))``: C enters only through the number ``k`` of rival classes);
  rival: the init law. ``extra`` has the init and end exponents and the static-force formula's
  with the trained softmax.

The three one-sided claims test a bound whose value is the rival's: each holds exactly when the
data reject its rival at 99% (one-sided), and the measured values sit in ``extra``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import numpy as np

from .. import backend as bk
from ..claims import AtLeast, Claim, Estimate, ExactWithin, Rival, derived, register
from ..montecarlo import trial_seed
from ..stats import fit_power_law, mean_estimate

__all__: list[str] = []

#: Mixed into the claims' seeds so that their runs draw their own streams.
_TAG = 0x7472616E   # "tran"
#: Relative rounding margin of the bound check: the norm and the bound are float64 sums of at
#: most N·C·m products (≤ 10⁷ here), each with relative error ≤ that count times 2^-53 ≈ 1e-9
#: in the worst case and ~1e-13 in practice; 1e-12 is far below any bound's slack (≥ 4×).
_MARGIN = 1e-12


def _key(seed: Any) -> tuple:
    ss = bk.as_seed_sequence(seed)
    ent = ss.entropy if isinstance(ss.entropy, int) else tuple(np.atleast_1d(ss.entropy).tolist())
    return (ent, tuple(ss.spawn_key))


@functools.lru_cache(maxsize=64)
def _run(C: int, loss: str, optimizer: str, t: int, key: tuple, dim: int, hidden: int,
         n_samples: int, n_steps: int, lr: float) -> dict[str, np.ndarray]:
    from ..training import run_cell  # noqa: PLC0415

    ent, spawn = key
    base = np.random.SeedSequence(ent, spawn_key=(*spawn, _TAG, C, 0 if loss == "ce" else 1,
                                                  0 if optimizer == "adam" else 1))
    rates = {f"{optimizer}-{loss}": lr, "adam-mse": lr}
    return run_cell("hidden", C, loss, optimizer, seed=trial_seed(base, t), dim=dim,
                    hidden=hidden, n_samples=n_samples, n_steps=n_steps, lr=rates)


def _runs(p: Mapping[str, Any], seed: Any, C: int, loss: str) -> list[dict[str, np.ndarray]]:
    return [_run(int(C), loss, str(p["optimizer"]), t, _key(seed), int(p["dim"]),
                 int(p["hidden"]), int(p["n_samples"]), int(p["n_steps"]), float(p["lr"]))
            for t in range(int(p["n_trials"]))]


def _second_half(r: Mapping[str, np.ndarray]) -> np.ndarray:
    return r["step"] >= r["step"][-1] / 2


# --------------------------------------------------------------------------------------------
# training-residual-bound
# --------------------------------------------------------------------------------------------

_PAIRS = ("Lm1_L",)


def _bound_estimate(p: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    viol, ratios = 0, {}
    for loss in p["losses"]:
        for C in p["C"]:
            rs = _runs(p, seed, C, loss)
            R = np.stack([r["cross_res_Lm1_L"] for r in rs])
            B = np.stack([r["bound_Lm1_L"] for r in rs])
            viol += int(np.sum(R > B * (1 + _MARGIN)))
            ratios[f"{loss} C={C}"] = {"max_R_over_bound": float(np.max(R / B)),
                                       "min_R_over_bound": float(np.min(R / B)),
                                       "R": R.mean(0).tolist(), "bound": B.mean(0).tolist(),
                                       "loss": np.mean([r["train_loss"] for r in rs], 0).tolist()}
    n = sum(len(_runs(p, seed, C, lo)[0]["step"]) * int(p["n_trials"])
            for lo in p["losses"] for C in p["C"])
    return Estimate(float(viol), 0.0, n, extra={"checked_points": n, "per_setting": ratios,
                                                "note": "violations of ‖R_WV‖_F ≤ bound at every "
                                                        "snapshot of every run"})


def _bound_figure(ax: Any, result: Mapping[str, Any]) -> Any:
    from .. import figures as F  # noqa: PLC0415

    with F.style():
        for k, (name, v) in enumerate(result["extra"]["per_setting"].items()):
            c = F.PALETTE[k % len(F.PALETTE)]
            ax.loglog(v["loss"], v["R"], "o-", ms=2.5, color=c, lw=0.8, label=f"{name}: ‖R‖")
            ax.loglog(v["loss"], v["bound"], ":", color=c, lw=0.8)
        ax.set_xlabel(r"training loss $\ell$")
        ax.set_ylabel(r"$\|R_{WV}\|_F$ (dotted: bound)")
        ax.legend(fontsize=5.5, frameon=False, title="means over seeds", title_fontsize=5.5)
    return ax


_SMALL = {"dim": 8, "hidden": 16, "n_samples": 256, "n_steps": 300, "n_trials": 4,
          "optimizer": "adam", "lr": 0.01}
_PAPER = {"dim": 8, "hidden": 16, "n_samples": 1024, "n_steps": 600, "n_trials": 5,
          "optimizer": "adam", "lr": 0.01}

register(Claim(
    id="training-residual-bound",
    statement="Along CE and MSE training of z = V relu(W x), the residual part of the cross-layer "
              "block H_WV (linear in g = ∂ℓ/∂z) obeys ‖R‖_F ≤ min(c_rms √(2ℓ), √2 c_max ℓ) "
              "(MSE: c_rms √(2ℓ)) at every recorded step (Frobenius norm of the whole block).",
    latex=r"$\|R_{WV}\|_F \le \min(c_{rms}\sqrt{2\ell},\ \sqrt{2}\,c_{max}\,\ell)$",
    proof="cross_layer.bound",
    predict=lambda p: 0.0,
    estimate=_bound_estimate,
    rule=ExactWithin(rtol=0.0, atol=0.0),
    scales={"quick": {**_SMALL, "C": [10, 100], "losses": ["ce", "mse"]},
            "paper": {**_PAPER, "C": [10, 100, 1000], "losses": ["ce", "mse"]}},
    quantity="violations of the derived bound over all snapshots and runs",
    figure=_bound_figure,
))


# --------------------------------------------------------------------------------------------
# training-residual-rate-ce
# --------------------------------------------------------------------------------------------

def _rate_predict(p: Mapping[str, Any]) -> float:
    return float(derived("cross_layer.bound")["rate_sqrt"])


def _rate_estimate(p: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    slopes, curves = [], {}
    for C in p["C"]:
        rs = _runs(p, seed, C, "ce")
        for r in rs:
            w = _second_half(r)
            slopes.append(fit_power_law(r["train_loss"][w], r["cross_res_Lm1_L"][w]).slope)
        curves[str(C)] = {"loss": [r["train_loss"].tolist() for r in rs],
                          "R": [r["cross_res_Lm1_L"].tolist() for r in rs]}
    est = mean_estimate(slopes)
    lo, hi = est.ci(0.99)
    return Estimate(est.value, est.stderr, est.n_trials, est.dof,
                    {"slopes": slopes, "curves": curves, "std": est.std,
                     "asymptotic_rate": float(derived("cross_layer.bound")["rate_linear"]),
                     "asymptotic_rate_in_99pct_ci": bool(lo <= 1.0 <= hi),
                     "note": "OLS slope of log ‖R_WV‖_F on log ℓ over the snapshots of the second "
                             "half of training, one per (C, seed); mean ± SE, t interval"})


def _rate_figure(ax: Any, result: Mapping[str, Any]) -> Any:
    from .. import figures as F  # noqa: PLC0415
    from ..training_figures import residual_vs_loss  # noqa: PLC0415

    cur = result["extra"]["curves"]
    Cs = list(cur)
    residual_vs_loss(ax, [cur[c]["loss"][0] for c in Cs], [cur[c]["R"][0] for c in Cs],
                     labels=[f"C = {c} (trial 0)" for c in Cs], ylabel=r"$\|R_{WV}\|_F$")
    lo, hi = result["ci"]
    with F.style():
        ax.set_title(f"fitted exponent {result['estimate']:.3f} [{lo:.3f}, {hi:.3f}] "
                     f"({100 * result['ci_level']:g}% CI)", fontsize=7)
        ax.legend(fontsize=5.5, frameon=False)
    return ax


register(Claim(
    id="training-residual-rate-ce",
    statement="Under CE on separable data the residual part of H_WV of z = V relu(W x) shrinks "
              "faster than the square root of the loss: its exponent in ℓ over the second half of "
              "training exceeds 1/2 (the derived bound's linear form √2 c_max ℓ is the tighter "
              "one there; the asymptotic exponent 1 and the measured one are in extra). "
              "Frobenius norm of the whole block.",
    latex=r"$\|R_{WV}\|_F \propto \ell^{b},\ b > 1/2$",
    proof="cross_layer.bound",
    predict=_rate_predict,
    estimate=_rate_estimate,
    rule=AtLeast(basis="‖R‖ ≤ √2 c_max ℓ (linear in ℓ) below ℓ = (c_rms/c_max)²", level=0.99),
    rivals=(Rival("square root of the loss gap", lambda p: 0.5, proof="cross_layer.bound",
                  note="the retold story: the residual part is bounded by a constant times "
                       "√(ℓ − ℓ*) and shrinks at that rate (the c_rms √(2ℓ) form of the bound)"),),
    scales={"quick": {**_SMALL, "C": [10, 100]}, "paper": {**_PAPER, "C": [10, 100, 1000]}},
    quantity="exponent b of ‖R_WV‖_F ∝ ℓ^b, second half of CE training",
    figure=_rate_figure,
))


# --------------------------------------------------------------------------------------------
# training-ratio-growth and training-ratio-c-slope-end
# --------------------------------------------------------------------------------------------

def _growth(p: Mapping[str, Any], seed: Any, C: int) -> tuple[np.ndarray, np.ndarray]:
    rs = _runs(p, seed, C, "ce")
    g = np.array([r["ratio_agg_L"][-1] / r["ratio_agg_L"][0] for r in rs])
    s = np.array([r["static_ratio_agg_L"][-1] / r["static_ratio_agg_L"][0] for r in rs])
    return g, s


def _growth_estimate(p: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    g, s = _growth(p, seed, int(p["n_classes"]))
    est = mean_estimate(g)
    rs = _runs(p, seed, int(p["n_classes"]), "ce")
    return Estimate(est.value, est.stderr, est.n_trials, est.dof,
                    {"growth": g.tolist(), "static_growth": s.tolist(), "std": est.std,
                     "step": rs[0]["step"].tolist(),
                     "ratio": [r["ratio_agg_L"].tolist() for r in rs],
                     "static_ratio": [r["static_ratio_agg_L"].tolist() for r in rs],
                     "note": "R_agg of the output layer (rows of V), end of training over "
                             "step 0, per seed; static: the same for static_force_ratio"})


def _growth_figure(ax: Any, result: Mapping[str, Any]) -> Any:
    from .. import figures as F  # noqa: PLC0415

    e = result["extra"]
    with F.style():
        for k, (r, s) in enumerate(zip(e["ratio"], e["static_ratio"])):
            ax.plot(e["step"], r, "-", color=F.OKABE_ITO["blue"], lw=0.8,
                    label="measured" if k == 0 else None)
            ax.plot(e["step"], s, "--", color=F.OKABE_ITO["vermillion"], lw=0.8,
                    label="static-force formula, trained softmax" if k == 0 else None)
        ax.set_xlabel("training step")
        ax.set_ylabel(r"$(\Sigma_{i\neq j}\|H_{ij}\|_F^2/\Sigma_i\|H_{ii}\|_F^2)^{1/2}$, rows of V")
        ax.set_yscale("log")
        ax.legend(fontsize=6, frameon=False)
    return ax


register(Claim(
    id="training-ratio-growth",
    statement="Along CE training of z = V relu(W x) at large C (100 quick, 1000 paper) the "
              "output layer's aggregate block ratio (rows of V) grows by more than a factor 2: "
              "near block-diagonality does not persist as the softmax leaves uniform and "
              "concentrates its wrong-class mass on a few classes (the static-force formula "
              "with the trained softmax grows too; extra).",
    latex=r"$R_{agg}(\mathrm{end})/R_{agg}(0) \geq 2$",
    proof="cross_layer.confident_ratio",
    predict=lambda p: 2.0,
    estimate=_growth_estimate,
    rule=AtLeast(basis="static-force formula with the trained softmax; one sample with k rivals "
                       "tends to √(2/(k+1)), against √(2/C) at uniform", level=0.99),
    rivals=(Rival("persists within a factor 2", lambda p: 2.0,
                  note="the retold story: training leaves the within-layer near "
                       "block-diagonality of initialisation in place"),),
    scales={"quick": {**_SMALL, "n_classes": 100}, "paper": {**_PAPER, "n_classes": 1000}},
    quantity="R_agg(end)/R_agg(0), output layer, CE",
    figure=_growth_figure,
))


def _slopes(p: Mapping[str, Any], seed: Any, key: str, at: int) -> np.ndarray:
    Cs = [int(c) for c in p["C"]]
    vals = np.array([[r[key][at] for r in _runs(p, seed, C, "ce")] for C in Cs])   # (C, T)
    return np.array([fit_power_law(Cs, vals[:, t]).slope if len(Cs) > 2 else
                     float(np.diff(np.log(vals[:, t]))[0] / np.diff(np.log(Cs))[0])
                     for t in range(vals.shape[1])])


def _cslope_estimate(p: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    end = _slopes(p, seed, "ratio_agg_L", -1)
    init = _slopes(p, seed, "ratio_agg_L", 0)
    static = _slopes(p, seed, "static_ratio_agg_L", -1)
    est = mean_estimate(end)
    Cs = [int(c) for c in p["C"]]
    return Estimate(est.value, est.stderr, est.n_trials, est.dof,
                    {"slopes_end": end.tolist(), "slopes_init": init.tolist(),
                     "slopes_static_end": static.tolist(), "std": est.std, "C": Cs,
                     "ratio_end": [float(np.mean([r["ratio_agg_L"][-1] for r in
                                                  _runs(p, seed, C, "ce")])) for C in Cs],
                     "ratio_init": [float(np.mean([r["ratio_agg_L"][0] for r in
                                                   _runs(p, seed, C, "ce")])) for C in Cs],
                     "static_end": [float(np.mean([r["static_ratio_agg_L"][-1] for r in
                                                   _runs(p, seed, C, "ce")])) for C in Cs],
                     "note": "log-log slope in C of the output layer's aggregate ratio at the "
                             "end of CE training, one per seed (the same seed's runs at every "
                             "C); mean ± SE, t interval"})


def _cslope_figure(ax: Any, result: Mapping[str, Any]) -> Any:
    from .. import figures as F  # noqa: PLC0415

    e = result["extra"]
    with F.style():
        ax.loglog(e["C"], e["ratio_init"], "o-", color="0.45", lw=0.8, label="init (measured)")
        ax.loglog(e["C"], e["ratio_end"], "o-", color=F.OKABE_ITO["blue"], lw=1.0,
                  label="end of training (measured)")
        ax.loglog(e["C"], e["static_end"], "s--", color=F.OKABE_ITO["vermillion"], lw=0.8,
                  label="static-force formula, trained softmax")
        ax.set_xlabel(F.LABELS["C"])
        ax.set_ylabel("aggregate ratio, rows of V")
        ax.set_title("means over seeds", fontsize=7)
        ax.legend(fontsize=6, frameon=False)
    return ax


register(Claim(
    id="training-ratio-c-slope-end",
    statement="At the end of CE training of z = V relu(W x) the output layer's aggregate block "
              "ratio no longer falls like C^(-1/2): its C-exponent is above -1/2 (confident "
              "limit: one sample's aggregate ratio tends to √(2/(k+1)), with C entering only "
              "through the number k of rival classes; the static-force formula's exponent with "
              "the trained softmax is in extra).",
    latex=r"$R_{agg}(\mathrm{end}) \propto C^{b},\ b > -1/2$",
    proof="cross_layer.confident_ratio",
    predict=lambda p: -0.5,
    estimate=_cslope_estimate,
    rule=AtLeast(basis="confident limit √(2/(k+1)), C only through k", level=0.99),
    rivals=(Rival("init law C^(-1/2)", lambda p: -0.5, proof="block_norm_limits.per_block_ratio",
                  note="the static force at initialisation: the aggregate ratio falls like "
                       "1/√C; the retold story keeps it along training"),),
    scales={"quick": {**_SMALL, "C": [10, 100]}, "paper": {**_PAPER, "C": [10, 100, 1000]}},
    quantity="exponent b of R_agg(end) ∝ C^b, output layer, CE",
    figure=_cslope_figure,
))
