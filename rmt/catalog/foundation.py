"""Claims of the foundation: exact identities of the softmax cross-entropy Hessian.

Each prediction is lambdified from a derivation in ``proofs/``; each estimate is computed by
rmt's closed-form Hessian code; each verdict compares them at a floating-point tolerance whose
reason is written beside it.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import sympy as sp

from .. import backend as bk
from ..claims import Claim, Estimate, ExactWithin, derived, register
from ..hessian import block_ratio, hessian
from ..models import LinearClassifier, loss_value
from ..stats import EPS
from ._figures import tolerance_figure


def _data(params: Mapping[str, Any], seed: Any, backend: str, sigma: float):
    """A linear model at init and Gaussian data, from independent children of ``seed``."""
    s_model, s_data = bk.spawn_seeds(seed, 2)
    xp = bk.xp_for(backend)
    model = LinearClassifier.init(params["n_classes"], params["dim"], sigma, seed=s_model,
                                  backend=backend)
    X = bk.standard_normal((params["n_samples"], params["dim"]), s_data, xp)
    return model, X


def _v0_lambdas() -> tuple[Any, Any]:
    o = derived("identities.uniform_ratio")
    return (sp.lambdify(o["C"], o["per_block_ratio_v0"], "math"),
            sp.lambdify(o["C"], o["aggregate_ratio_v0"], "math"))


def _v0_estimate(kind: str):
    def estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
        model, X = _data(params, seed, backend, sigma=0.0)
        C = params["n_classes"]
        res = block_ratio(model, X, loss="ce", pairs=min(400, C * (C - 1)),
                          seed=seed)
        value = res.per_block_mean if kind == "per_block" else res.aggregate
        # The curve over C drawn in the figure: the same quantity at smaller C (cheap).
        cs = [c for c in (2, 3, 5, 10, 20, 50, 100, 200) if c < C] + [C]
        curve = []
        for c in cs[:-1]:
            m, Xc = _data({**params, "n_classes": c}, seed, backend, sigma=0.0)
            r = block_ratio(m, Xc, loss="ce", pairs=min(400, c * (c - 1)), seed=seed)
            curve.append(r.per_block_mean if kind == "per_block" else r.aggregate)
        curve.append(value)   # the last point is the claim's own C: already computed above
        return Estimate(value, 0.0, 1, extra={"C": cs, "ratio": curve,
                                              "spread_over_pairs": res.per_block_std,
                                              "n_pairs": res.n_pairs,
                                              "n_pairs_total": res.n_pairs_total})

    return estimate


def _v0_figure(kind: str):
    def draw(ax: Any, result: Mapping[str, Any]) -> Any:
        from .. import figures as F

        ex = result["extra"]
        C = np.asarray(ex["C"], float)
        pred = 1 / (C - 1) if kind == "per_block" else 1 / np.sqrt(C - 1)
        F.ratio_vs_c(ax, C, np.asarray(ex["ratio"]), prediction_C=C, prediction=pred,
                     kind="per-block" if kind == "per_block" else "aggregate",
                     prediction_label=r"$1/(C-1)$" if kind == "per_block" else r"$1/\sqrt{C-1}$",
                     label=r"measured at $V = 0$")
        return ax

    return draw


# Norms are sums of N² non-negative terms (x_nᵀx_m)² a_n a_m formed by BLAS products in
# float64: each has relative rounding error ≲ (d + C)·eps, and the ratio of two such sums
# inherits at most twice that; rtol = 1e-10 covers d + C up to ~2·10⁵ with margin.
_V0_RTOL = 1e-10
_V0_SCALES = {"quick": {"n_classes": 200, "dim": 400, "n_samples": 800},
              "paper": {"n_classes": 1000, "dim": 1000, "n_samples": 2000},
              "llm": {"n_classes": 32000, "dim": 1024, "n_samples": 8192}}

register(Claim(
    id="linear-ce-v0-per-block",
    statement="At V = 0 (p = 1/C) every off-diagonal block of the linear CE Hessian has "
              "‖H_ij‖_F/‖H_ii‖_F = 1/(C−1) (per block, Frobenius norm, mean over a seeded "
              "sample of min(400, C(C−1)) ordered pairs i ≠ j).",
    latex=r"$\|H_{ij}\|_F / \|H_{ii}\|_F = 1/(C-1)$",
    proof="identities.uniform_ratio",
    predict=lambda p: _v0_lambdas()[0](p["n_classes"]),
    estimate=_v0_estimate("per_block"),
    rule=ExactWithin(rtol=_V0_RTOL),
    scales=_V0_SCALES,
    quantity="‖H_ij‖_F/‖H_ii‖_F per block at V=0, mean over pairs",
    figure=_v0_figure("per_block"),
))

register(Claim(
    id="linear-ce-v0-aggregate",
    statement="At V = 0 the aggregate ratio (Σ_{i≠j}‖H_ij‖²_F / Σ_i‖H_ii‖²_F)^{1/2} of the "
              "linear CE Hessian is 1/√(C−1).",
    latex=r"$(\sum_{i\neq j}\|H_{ij}\|_F^2 / \sum_i \|H_{ii}\|_F^2)^{1/2} = 1/\sqrt{C-1}$",
    proof="identities.uniform_ratio",
    predict=lambda p: _v0_lambdas()[1](p["n_classes"]),
    estimate=_v0_estimate("aggregate"),
    rule=ExactWithin(rtol=_V0_RTOL),
    scales=_V0_SCALES,
    quantity="aggregate Frobenius ratio at V=0, all blocks",
    figure=_v0_figure("aggregate"),
))


def _full_hessian(params: Mapping[str, Any], seed: Any, backend: str, loss: str = "ce"):
    model, X = _data(params, seed, backend, sigma=params["sigma"])
    return model, X, bk.to_numpy(hessian(model, X, loss=loss))


def _tolerance_draw(key: str, xlabel: str, ylabel: str, why: str = "floating point"):
    """A claim figure: the deviations stored under ``extra[key]`` against the claim's
    tolerance (:func:`rmt.catalog._figures.tolerance_figure`)."""
    def draw(ax: Any, result: Mapping[str, Any]) -> Any:
        rule = result["rule"]
        tol = rule["rtol"] * abs(result["prediction"]) + rule["atol"]
        return tolerance_figure(ax, result["extra"][key], tol, xlabel=xlabel, ylabel=ylabel,
                                tolerance_label=f"tolerance {tol:.2g} ({why})")

    return draw


def _row_sum_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    model, _, H = _full_hessian(params, seed, backend)
    C, d = params["n_classes"], params["dim"]
    blocks = H.reshape(C, d, C, d)
    row_sums = blocks.sum(axis=2)  # Σ_j H_ij, shape (C, d, d)
    diag = np.array([np.linalg.norm(blocks[i, :, i, :]) for i in range(C)])
    rel = np.array([np.linalg.norm(row_sums[i]) for i in range(C)]) / diag
    return Estimate(float(rel.max()), 0.0, 1, extra={"per_row": rel.tolist()})


register(Claim(
    id="linear-ce-row-sums-zero",
    statement="For the linear CE model every block row of the Hessian sums to zero: "
              "Σ_j H_ij = 0 (max over i of ‖Σ_j H_ij‖_F / ‖H_ii‖_F).",
    latex=r"$\sum_j H_{ij} = 0$",
    proof="identities.row_sums",
    predict=lambda p: 0.0,
    estimate=_row_sum_estimate,
    # Σ_j A_ij = p_i(1 − Σ_j p_j) and Σ_j p_j = 1 up to C·eps; summing C blocks adds C·eps
    # relative to the largest block, and ‖H_ii‖ is within a factor ~C of the largest block
    # (p_i ~ 1/C): so the relative row sum is ≲ 10·C²·eps.
    rule=ExactWithin(rtol=0.0, atol=10 * 12 ** 2 * EPS),
    scales={"quick": {"n_classes": 12, "dim": 30, "n_samples": 60, "sigma": 1.0}},
    quantity="max_i ‖Σ_j H_ij‖_F/‖H_ii‖_F",
    figure=_tolerance_draw("per_row", r"block row $i$",
                           r"$\|\sum_j H_{ij}\|_F\,/\,\|H_{ii}\|_F$"),
))


def _psd_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    _, _, H = _full_hessian(params, seed, backend)
    ev = np.linalg.eigvalsh(H)
    return Estimate(float(ev[0] / ev[-1]), 0.0, 1,
                    extra={"lambda_min": float(ev[0]), "lambda_max": float(ev[-1]),
                           "eigenvalues_over_max": (ev / ev[-1]).tolist(),
                           "null_dim": params["dim"]})


def _psd_figure(ax: Any, result: Mapping[str, Any]) -> Any:
    """|λ_k|/λ_max of H on a log axis, negative eigenvalues marked apart, with the tolerance:
    the d-dimensional null space (constant block vectors) sits below the line."""
    from .. import figures as F

    ex = result["extra"]
    ev = np.asarray(ex["eigenvalues_over_max"], float)
    tol = result["rule"]["atol"]
    k = np.arange(1, ev.size + 1)
    inside = int((np.abs(ev) <= tol).sum())
    with F.style():
        for mask, mk, lab in ((ev > 0, "o", r"$\lambda_k > 0$"), (ev < 0, "v", r"$\lambda_k < 0$")):
            if mask.any():
                ax.plot(k[mask], np.abs(ev[mask]), mk, ms=2, mfc="none" if mk == "v" else None,
                        color=F.OKABE_ITO["blue"] if mk == "o" else F.OKABE_ITO["orange"],
                        label=f"{lab} ({int(mask.sum())})")
        ax.axhline(tol, color=F.OKABE_ITO["vermillion"], ls="--", lw=1.0,
                   label=f"tolerance {tol:.2g} (floating point)")
        ax.set_yscale("log")
        ax.set_xlabel(r"index $k$ of the eigenvalues of $H$ (ascending)")
        ax.set_ylabel(r"$|\lambda_k(H)|\,/\,\lambda_{\max}(H)$")
        ax.legend(loc="center right", fontsize=6.5,
                  title=f"{inside} of {ev.size} below the tolerance\n(null space: $d$ = "
                        f"{ex['null_dim']} expected)", title_fontsize=6.5)
    return ax


register(Claim(
    id="linear-ce-psd",
    statement="The linear CE Hessian is positive semi-definite with a null space (the constant "
              "block vectors): λ_min(H)/λ_max(H) = 0.",
    latex=r"$H \succeq 0,\ \lambda_{\min}(H) = 0$",
    proof="identities.psd",
    predict=lambda p: 0.0,
    estimate=_psd_estimate,
    # A symmetric eigensolver's eigenvalues are exact for a matrix within ~P·eps·‖H‖ of H
    # (backward stable), P = C·d = 360 parameters: |λ_min|/λ_max ≲ 10·P·eps.
    rule=ExactWithin(rtol=0.0, atol=10 * 360 * EPS),
    scales={"quick": {"n_classes": 12, "dim": 30, "n_samples": 60, "sigma": 1.0}},
    quantity="λ_min/λ_max of the full Hessian",
    figure=_psd_figure,
))


def _mse_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    model, X, H = _full_hessian(params, seed, backend, loss="mse")
    C = params["n_classes"]
    Xn = bk.to_numpy(X)
    S = Xn.T @ Xn / params["n_samples"]
    expected = np.kron(np.eye(C), S)
    d = params["dim"]
    dev = (np.abs(H - expected).reshape(C, d, C, d).max(axis=(1, 3)) / np.abs(S).max())
    return Estimate(float(dev.max()), 0.0, 1, extra={"per_block": dev.ravel().tolist()})


register(Claim(
    id="linear-mse-block-diagonal",
    statement="For the linear model with MSE loss the Hessian is exactly I_C ⊗ XᵀX/N: "
              "block-diagonal, every off-diagonal block zero (max entry-wise deviation).",
    latex=r"$H = I_C \otimes X^\top X/N$",
    proof="identities.mse_linear",
    predict=lambda p: 0.0,
    estimate=_mse_estimate,
    # Entries of XᵀX/N are sums of N products: rounding ≲ N·eps relative to max|S|.
    rule=ExactWithin(rtol=0.0, atol=10 * 60 * EPS),
    scales={"quick": {"n_classes": 12, "dim": 30, "n_samples": 60, "sigma": 1.0}},
    quantity="max|H − I⊗XᵀX/N| / max|XᵀX/N|",
    figure=_tolerance_draw("per_block", r"block $(i, j)$, row-major over $C^2$ blocks",
                           r"$\max|H_{ij} - \delta_{ij} X^\top X/N|\,/\,\max|X^\top X/N|$"),
))


def _fd_estimate(params: Mapping[str, Any], seed: Any, backend: str) -> Estimate:
    model, X, H = _full_hessian(params, seed, backend)
    y = np.random.default_rng(bk.spawn_seeds(seed, 3)[2]).integers(0, params["n_classes"],
                                                                   params["n_samples"])
    theta = bk.to_numpy(model.parameters())
    h = params["step"]
    P = theta.size
    rng = np.random.default_rng(bk.spawn_seeds(seed, 4)[3])
    # Directional second derivatives uᵀHu along random unit directions, by central differences.
    errs = []
    for _ in range(params["directions"]):
        u = rng.standard_normal(P)
        u /= np.linalg.norm(u)
        f = [loss_value(model.with_parameters(theta + s * h * u), X, y) for s in (-1, 0, 1)]
        fd = (f[0] - 2 * f[1] + f[2]) / h**2
        errs.append(abs(fd - u @ H @ u) / np.abs(H).max())
    return Estimate(float(max(errs)), 0.0, len(errs), extra={"errors": errs})


register(Claim(
    id="linear-ce-closed-form-vs-fd",
    statement="The closed-form linear CE Hessian equals central finite differences of the "
              "loss (max over random directions u of |uᵀHu − FD| / max|H|).",
    latex=r"$u^\top H u = \partial_t^2 \ell(\theta + t u)|_{t=0}$",
    proof="chain_rule.linear",
    predict=lambda p: 0.0,
    estimate=_fd_estimate,
    # Central second difference: truncation h²·|ℓ''''|/12 and rounding 4·eps·|ℓ|/h². With
    # h = 1e-4, |ℓ| ≈ log C ≈ 2.5 and fourth derivatives O(1): 1e-9 + 1e-7·… ≈ 1e-7; relative
    # to max|H| ≈ 0.1 this is ≲ 1e-5, the tolerance used.
    rule=ExactWithin(rtol=0.0, atol=1e-5),
    scales={"quick": {"n_classes": 6, "dim": 8, "n_samples": 20, "sigma": 1.0, "step": 1e-4,
                      "directions": 8}},
    quantity="max relative |uᵀHu − FD|",
    figure=_tolerance_draw("errors", r"random direction $u$",
                           r"$|u^\top H u - \mathrm{FD}|\,/\,\max|H|$",
                           "FD truncation + rounding"),
))
