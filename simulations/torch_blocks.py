"""Hessian block ratios of real architectures at initialisation, by HVPs (rmt.torch).

    python -m simulations.torch_blocks                      # GPT-style model and MLP against C
    python -m simulations.torch_blocks --model gpt --C 256 1024 --seeds 2
    python -m simulations.torch_blocks --coverage           # CI coverage of the stopping rule
    python -m simulations.torch_blocks --redraw             # summary + figures from the files

GPT-style model (:class:`rmt.torch.models.TinyGPT`): d_model 64, 2 blocks, 4 heads, MLP width
256, untied lm_head, GPT-2 init, 8 sequences × 32 uniform random tokens (N = 256 predictions),
vocabulary C ∈ {256, 1024, 4096, 16384}. MLP (:class:`rmt.torch.models.MLP`): x ~ N(0, I_32),
widths (64, 64), LeCun init, N = 256, C ∈ {10, 100, 1000, 10000}. Loss: mean cross-entropy.

Each cell (model, C, seed) draws the model and the batch and estimates, per layer, the aggregate
ratio ``(Σ_{i≠j}‖H_ij‖²_F/Σ_i‖H_ii‖²_F)^{1/2}`` over the paper's blocks (one per output neuron;
lm_head one per token; Q and K one per head) with :func:`rmt.torch.aggregate_norms` (K = 2
colours, target ``--rtol`` at 95 %). The per-block RMS ratio is ``aggregate/√(n_blocks − 1)``.
For the lm_head the exact value from rmt's closed form on the final LayerNorm features is stored
too (the lm_head Hessian is the linear CE model's on those features).

The driver summarises over seeds (mean, 95 % Student-t CI), fits log-log rates against C with
:func:`rmt.predictions.fit_loglog_slope` (WLS, 95 % CI), and compares the lm_head with rmt's
linear prediction (:func:`rmt.predictions.predict_block_ratio` at the measured logit scale,
d = 64, N = 256; correction "independent") and the MLP's last hidden layer with the
one-hidden-layer rate C^{-1/2} (:func:`rmt.predictions.predict_hidden_ratio`).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rmt.sweep import Grid, add_sweep_arguments, run_from_args
from rmt.validation import int_arg, real_arg

PROG = "python -m simulations.torch_blocks"
GPT = {"d_model": 64, "n_layers": 2, "n_heads": 4, "seq_len": 32, "batch": 8}
MLP_CFG = {"dim": 32, "widths": (64, 64), "n_samples": 256}
C_GRID = {"gpt": (256, 1024, 4096, 16384), "mlp": (10, 100, 1000, 10000)}
LAYERS = {
    "gpt": ("lm_head",) + tuple(f"blocks.{b}.{w}" for b in range(2)
                                for w in ("attn.q", "attn.k", "attn.v", "attn.o", "fc1", "fc2")),
    "mlp": ("out", "layers.1", "layers.0"),
}


def _setup(model: str, C: int, seed):
    import torch  # noqa: PLC0415

    from rmt import backend as bk  # noqa: PLC0415
    from rmt.torch import HessianProblem, partition  # noqa: PLC0415
    from rmt.torch.models import MLP, TinyGPT, ce_loss, gaussian_batch, token_batch  # noqa

    sm, sd = bk.spawn_seeds(seed, 2)
    if model == "gpt":
        net = TinyGPT(C, **{k: GPT[k] for k in ("d_model", "n_layers", "n_heads", "seq_len")},
                      seed=sm).double()
        x, y = token_batch(C, GPT["batch"], GPT["seq_len"], seed=sd)
        part = partition(net, heads=net.heads())
        with torch.no_grad():
            F = net.features(x).numpy()
        head = net.lm_head.weight
    else:
        net = MLP(MLP_CFG["dim"], MLP_CFG["widths"], C, seed=sm).double()
        x, y = gaussian_batch(MLP_CFG["n_samples"], MLP_CFG["dim"], C, seed=sd)
        part = partition(net)
        with torch.no_grad():
            h = x
            for lin in net.layers:
                h = torch.relu(lin(h))
        F, head = h.numpy(), net.out.weight
    return HessianProblem(net, ce_loss, x, y), part, F, head.detach().numpy().copy(), y


def cell(model: str, C: int, *, seed: np.random.SeedSequence, rtol: float = 0.05,
         max_hvp: int = 2000) -> dict[str, object]:
    """One (model, C, seed): per-layer aggregate ratio with its 95 % CI, HVPs, the logit scale,
    and the lm_head's exact aggregate ratio from rmt's closed form."""
    from rmt.hessian import block_norms  # noqa: PLC0415
    from rmt.models import LinearClassifier  # noqa: PLC0415
    from rmt.torch import StoppingRule, aggregate_norms  # noqa: PLC0415

    pb, part, F, W, y = _setup(model, int(C), seed)
    rule = StoppingRule(rtol=rtol, level=0.95, max_hvp=max_hvp)
    est = [aggregate_norms(pb, part, layer, rule=rule, seed=k, progress=False)
           for k, layer in enumerate(LAYERS[model])]
    exact = block_norms(LinearClassifier(W), F, y.reshape(-1).numpy()).aggregate_ratio
    return {"ratio": np.array([e.aggregate for e in est]),
            "ratio_lo": np.array([e.aggregate_ci[0] for e in est]),
            "ratio_hi": np.array([e.aggregate_ci[1] for e in est]),
            "n_blocks": np.array([e.n_blocks for e in est], dtype=float),
            "n_hvp": np.array([e.n_hvp for e in est], dtype=float),
            "converged": np.array([e.converged for e in est], dtype=float),
            "head_exact": float(exact), "sigma_logits": float(np.std(F @ W.T)),
            "feature_dim": float(F.shape[1]), "n_tokens": float(F.shape[0])}


def summarise(ds, model: str) -> dict[str, object]:
    """Means over seeds (95 % t CI) of the per-block RMS ratio and the aggregate, per layer and
    C; fitted rates (WLS on the seed means, 95 % CI); rmt's predictions where they apply."""
    from scipy.special import stdtrit  # noqa: PLC0415

    from rmt.predictions import fit_loglog_slope, predict_block_ratio, predict_hidden_ratio

    sub = ds.sel(model=model).dropna("C", how="all")
    Cs = [int(c) for c in sub["C"].values]
    r = sub["ratio"].values                                   # (C, seed, layer)
    nb = sub["n_blocks"].values[:, 0, :]
    T = r.shape[1]
    t = float(stdtrit(T - 1, 0.975))
    out: dict[str, object] = {"model": model, "C": Cs, "n_seeds": T, "layers": {}}
    for k, layer in enumerate(LAYERS[model]):
        agg = r[:, :, k]
        pb = agg / np.sqrt(nb[:, k:k + 1] - 1)
        row = {"n_blocks": nb[:, k].tolist()}
        for name, v in (("aggregate", agg), ("per_block", pb)):
            m, se = v.mean(1), v.std(1, ddof=1) / math.sqrt(T)
            fit = fit_loglog_slope(Cs, m, se, level=0.95) if len(Cs) >= 3 else None
            row[name] = {"mean": m.tolist(), "ci": np.stack([m - t * se, m + t * se], 1).tolist(),
                         "rate": None if fit is None else [fit.slope, fit.ci_low, fit.ci_high]}
        out["layers"][layer] = row
    sig = float(sub["sigma_logits"].values.mean())
    dim, n = int(sub["feature_dim"].values.flat[0]), int(sub["n_tokens"].values.flat[0])
    out["sigma_logits"] = sig
    out["head_exact_aggregate"] = sub["head_exact"].values.mean(1).tolist()
    pred = [predict_block_ratio(C, sig, dim=dim, n_samples=n, correction="independent")
            for C in Cs]
    out["linear_prediction"] = {"per_block": [p.per_block for p in pred],
                                "aggregate": [p.aggregate for p in pred]}
    if model == "mlp":
        m1 = MLP_CFG["widths"][-1]
        out["hidden_prediction_per_block"] = [predict_hidden_ratio(C, m1, gamma=MLP_CFG["dim"] /
                                                                   n).per_block for C in Cs]
    return out


def run_coverage(args) -> dict[str, object]:
    """Coverage of the aggregate-ratio CI over ``--reps`` repetitions, naive vs default rule, on
    the linear CE model (N, d, C = --cov-size; exact value from rmt's closed form)."""
    import torch  # noqa: PLC0415

    from rmt.hessian import block_norms  # noqa: PLC0415
    from rmt.models import LinearClassifier  # noqa: PLC0415
    from rmt.torch import HessianProblem, StoppingRule, partition  # noqa: PLC0415
    from rmt.torch.coverage import rule_coverage  # noqa: PLC0415
    from rmt.torch.models import ce_loss, from_rmt  # noqa: PLC0415

    N, d, C = args.cov_size
    rng = np.random.default_rng(args.seed)
    m = LinearClassifier.init(C, d, 1.0, seed=args.seed + 1)
    X, y = rng.standard_normal((N, d)), rng.integers(0, C, N)
    mod = from_rmt(m)
    pb = HessianProblem(mod, ce_loss, torch.from_numpy(X), torch.from_numpy(y))
    truth = block_norms(m, X, y).aggregate_ratio
    res = {"N": N, "d": d, "C": C, "truth": truth, "rules": []}
    for naive in (True, False):
        rule = StoppingRule(rtol=args.cov_rtol, level=0.95, naive=naive, max_hvp=20000)
        cov = rule_coverage(pb, partition(mod), "V", truth, rule, args.reps, seed=args.seed,
                            progress=not args.quiet)
        print(cov)
        res["rules"].append(cov.to_dict())
    return res


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("gpt", "mlp"), nargs="+", default=["gpt", "mlp"])
    p.add_argument("--C", type=int_arg(2), nargs="+", default=None,
                   help="vocabulary / class counts (default: the model's grid)")
    p.add_argument("--seeds", type=int_arg(2), default=3, help="seeds per C (default 3)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="base seed")
    p.add_argument("--rtol", type=real_arg(0.0, strict_min=True), default=0.05,
                   help="target relative CI half-width of each estimate (default 0.05)")
    p.add_argument("--max-hvp", type=int_arg(1), default=2000, help="HVP cap per layer")
    p.add_argument("--redraw", action="store_true", help="summary and figures from the files")
    p.add_argument("--coverage", action="store_true", help="measure the CI coverage instead")
    p.add_argument("--reps", type=int_arg(1), default=400, help="coverage repetitions")
    p.add_argument("--cov-size", type=int_arg(2), nargs=3, default=[1024, 128, 1024],
                   metavar=("N", "d", "C"), help="linear CE model of the coverage run")
    p.add_argument("--cov-rtol", type=real_arg(0.0, strict_min=True), default=0.01)
    add_sweep_arguments(p, default_out="results/torch_blocks.nc")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        if args.coverage:
            cpath = out.with_name(out.stem + "_coverage.json")
            if not args.redraw:
                from rmt.results import write_bytes_atomic  # noqa: PLC0415

                write_bytes_atomic(cpath, json.dumps(run_coverage(args), indent=1).encode())
            from simulations.torch_blocks_figures import coverage_figure  # noqa: PLC0415

            print("figure:", *coverage_figure(json.loads(cpath.read_text()),
                                              out.with_name(out.stem + "_coverage")))
            return 0
        if not args.redraw:
            for model in args.model:
                Cs = args.C or C_GRID[model]
                grid = Grid({"model": [model], "C": list(Cs)}, n_seeds=args.seeds,
                            seed=args.seed, fixed={"rtol": args.rtol, "max_hvp": args.max_hvp})
                args_m = argparse.Namespace(**{**vars(args), "out": _path(out, model)})
                run_from_args(cell, grid, args_m)
        from rmt.results import open as open_results  # noqa: PLC0415
        from simulations.torch_blocks_figures import make_figures, summary_lines  # noqa

        sums = {m: summarise(open_results(_path(out, m)), m) for m in args.model
                if _path(out, m).exists()}
        print("\n".join(summary_lines(sums)))
        print("figures:", *make_figures(sums, out.with_suffix("")))
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"{PROG}: error: {exc}\n")
    return 0


def _path(out: Path, model: str) -> Path:
    return out.with_name(f"{out.stem}_{model}{out.suffix}")


if __name__ == "__main__":
    raise SystemExit(main())
