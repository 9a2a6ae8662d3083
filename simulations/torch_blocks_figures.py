"""Summary lines and figures of ``python -m simulations.torch_blocks`` (house style of
:mod:`rmt.figures`): block ratios of the GPT-style model and the MLP against C, and the coverage
of the stopping rule's CIs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rmt import figures as F

def _fmt_ci(m: float, ci) -> str:
    return f"{m:.4g} [{ci[0]:.4g}, {ci[1]:.4g}]"


def _rate(r) -> str:
    return "n/a" if r is None else f"{r[0]:.3f} [{r[1]:.3f}, {r[2]:.3f}]"


def summary_lines(sums: Mapping[str, Mapping]) -> list[str]:
    """Markdown tables: per layer and C the per-block RMS ratio and the aggregate (mean over
    seeds, 95 % t CI), and the fitted rates (95 % CI)."""
    lines = []
    for model, s in sums.items():
        lines += [f"\n{model}: per-block RMS ratio (agg/sqrt(n-1)) and aggregate ratio "
                  f"(sum_i!=j ||H_ij||_F^2 / sum_i ||H_ii||_F^2)^1/2, Frobenius, mean over "
                  f"{s['n_seeds']} seeds [95% t CI]; logit std {s['sigma_logits']:.3f}", "",
                  "| layer | " + " | ".join(f"C = {c}" for c in s["C"])
                  + " | rate per-block | rate aggregate |",
                  "|---|" + "---|" * (len(s["C"]) + 2)]
        for layer, row in s["layers"].items():
            got = dict(zip(row.get("C", s["C"]), zip(
                row["per_block"]["mean"], row["per_block"]["ci"], row["aggregate"]["mean"],
                row["aggregate"]["ci"])))
            cells = [f"{_fmt_ci(*got[c][:2])}; agg {_fmt_ci(*got[c][2:])}" if c in got else "-"
                     for c in s["C"]]
            lines.append(f"| {layer} ({row['n_seeds']} seeds) | " + " | ".join(cells)
                         + f" | {_rate(row['per_block']['rate'])} | "
                         f"{_rate(row['aggregate']['rate'])} |")
        lines.append("\nrmt linear prediction (per-block, aggregate) at the measured logit scale: "
                     + ", ".join(f"({p:.4g}, {a:.4g})" for p, a in zip(
                         s["linear_prediction"]["per_block"], s["linear_prediction"]["aggregate"])))
    return lines


def _band(ax, C, row, key, colour, marker, label):
    C = np.asarray(row.get("C", C), dtype=float)
    m = np.asarray(row[key]["mean"])
    ci = np.asarray(row[key]["ci"])
    ax.errorbar(C, m, yerr=[m - np.maximum(ci[:, 0], 1e-300), ci[:, 1] - m], fmt=marker + "-",
                color=colour, ms=3, lw=0.8, capsize=1.5, label=label)


def make_figures(sums: Mapping[str, Mapping], stem: Path) -> list[str]:
    """One two-panel figure per model: (a) ``C ×`` the output layer's per-block RMS ratio
    (exact) with rmt's linear prediction and the retold 1/C (= 1 on this scale); (b) the hidden
    layers' per-block RMS ratios (HVP estimates) with ``C^{-1/2}`` and ``C^{-1}`` guides.
    Error bars: 95 % t CI over seeds."""
    paths = []
    for model, s in sums.items():
        C = np.asarray(s["C"], dtype=float)
        fig, (a, b) = F.figure("double", nrows=1, ncols=2, aspect=0.38)
        head = next(iter(s["layers"]))
        row = s["layers"][head]["per_block"]
        m, ci = np.asarray(row["mean"]) * C, np.asarray(row["ci"]) * C[:, None]
        a.errorbar(C, m, yerr=[m - ci[:, 0], ci[:, 1] - m], fmt="o", color=F.PALETTE[0], ms=3,
                   capsize=2, label=f"{head.split()[0]}, exact")
        a.plot(C, np.asarray(s["linear_prediction"]["per_block"]) * C, "-", color="0.3", lw=0.8,
               label="rmt linear prediction")
        a.axhline(1.0, color="0.5", ls=":", lw=0.8, label="retold 1/C")
        a.set(xscale="log", xlabel="C", ylabel=r"$C\,\|H_{ij}\|_F/\|H_{ii}\|_F$ (RMS)")
        a.set_title(f"(a) {head.split()[0]}, one block per "
                    f"{'token' if model == 'gpt' else 'class'}", fontsize=8)
        a.legend(fontsize=6.5, frameon=False)
        hid = {k: r for k, r in s["layers"].items() if not k.endswith("(exact)")}
        for (layer, r), col, mk in zip(hid.items(), F.PALETTE[1:], "sD^v<>"):
            _band(b, C, r, "per_block", col, mk, layer)
        if hid:
            r0 = next(iter(hid.values()))
            Ch = np.asarray(r0.get("C", C), dtype=float)
            ref = r0["per_block"]["mean"][0]
            b.plot(Ch, ref * np.sqrt(Ch[0] / Ch), "--", color="0.4", lw=0.8,
                   label=r"$\propto C^{-1/2}$")
            b.plot(Ch, ref * Ch[0] / Ch, ":", color="0.4", lw=0.8, label=r"$\propto C^{-1}$")
            if model == "mlp":
                b.plot(C, s["hidden_prediction_per_block"], "-", color="0.2", lw=0.8,
                       label=r"one hidden layer, $\rho/\sqrt{C+1}$")
            b.legend(fontsize=6, frameon=False)
        else:
            b.text(0.5, 0.5, "no HVP estimates in this run", ha="center", transform=b.transAxes)
        b.set(xscale="log", yscale="log", xlabel="C", ylabel=r"$\|H_{ij}\|_F/\|H_{ii}\|_F$ (RMS)")
        b.set_title("(b) hidden layers (HVP): a block per neuron"
                    + (", Q/K per head" if model == "gpt" else ""), fontsize=7)
        fig.suptitle(f"{model}: per-block RMS ratio, Frobenius; 95% t CI over seeds", fontsize=8)
        paths += [str(p) for p in F.save(fig, f"{stem}_{model}")]
    return paths


def coverage_figure(res: Mapping, stem: Path) -> list[str]:
    """(a) Hits of the exact value by the 95 % CIs with the binomial band, naive vs default rule;
    (b) actual relative error against the claimed CI half-width, per repetition."""
    fig, (a, b) = F.figure("double", nrows=1, ncols=2, aspect=0.36)
    for k, r in enumerate(res["rules"]):
        lab = "naive" if r["naive"] else "pilot + few looks"
        lo, hi = r["band"]
        a.bar(k, r["hits"] / r["n"], color="0.7", width=0.5)
        a.errorbar(k, (lo + hi) / 2 / r["n"], yerr=(hi - lo) / 2 / r["n"], fmt="none", color="k",
                   capsize=4, label="binomial 99% band" if k == 0 else None)
        a.text(k, 0.81, f"{r['hits']}/{r['n']}", ha="center", fontsize=7)
        b.plot(r["claimed"], r["rel_error"], "o" if k else "x", ms=2, alpha=0.6, label=lab)
    a.axhline(res["rules"][0]["level"], color="0.3", lw=0.8, ls="--", label="nominal 95%")
    a.set(xticks=[0, 1], xticklabels=["naive", "pilot + few looks"], ylim=(0.8, 1.0),
          ylabel="coverage of the 95% CI")
    a.set_title(f"(a) linear CE, N={res['N']}, d={res['d']}, C={res['C']}", fontsize=8)
    a.legend(fontsize=6, frameon=False, loc="upper center")
    x = np.linspace(0, max(max(r["claimed"]) for r in res["rules"]), 2)
    b.plot(x, x, "k-", lw=0.6, label="error = claimed half-width")
    b.set(xlabel="claimed 95% half-width (relative)", ylabel="|estimate/exact − 1|")
    b.set_title(f"(b) {res['rules'][0]['n']} runs per rule, target {res['rules'][0]['rtol']:g}",
                fontsize=8)
    fig.suptitle("Aggregate ratio by HVPs: CI coverage of the stopping rules", fontsize=8)
    b.legend(fontsize=6.5, frameon=False)
    return [str(p) for p in F.save(fig, stem)]
