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
:func:`rmt.stats.fit_power_law` (WLS on the seed means, 95 % CI), and compares the lm_head with rmt's
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
#: Layers estimated by HVPs (default; ``--layers`` chooses others, e.g. every
#: ``blocks.{b}.{attn.q, attn.k, attn.v, attn.o, fc1, fc2}``).
HVP_LAYERS = {"gpt": ("blocks.0.attn.q", "blocks.0.fc1", "blocks.1.attn.v", "blocks.1.fc1"),
              "mlp": ("layers.1", "layers.0")}


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


def cell(model: str, C: int, *, seed: np.random.SeedSequence, rtol: float = 0.1,
         max_hvp: int = 600, threads: int = 1, layers: Sequence[str] = ()) -> dict[str, object]:
    """One (model, C, seed): the output layer's exact aggregate ratio (rmt's closed form on the
    features), the logit scale and, for each of ``layers``, the HVP estimate of the aggregate
    ratio with its 95 % CI and HVP count."""
    from rmt.hessian import block_norms  # noqa: PLC0415
    from rmt.models import LinearClassifier  # noqa: PLC0415
    from rmt.torch import StoppingRule, aggregate_norms  # noqa: PLC0415

    import torch  # noqa: PLC0415

    torch.set_num_threads(threads)   # one per worker: more only contend on small HVPs
    pb, part, F, W, y = _setup(model, int(C), seed)
    rule = StoppingRule(rtol=rtol, level=0.95, max_hvp=max_hvp)
    est = [aggregate_norms(pb, part, layer, rule=rule, seed=k, progress=False)
           for k, layer in enumerate(layers)]
    exact = block_norms(LinearClassifier(W), F, y.reshape(-1).numpy()).aggregate_ratio
    scal = {"head_exact": float(exact), "sigma_logits": float(np.std(F @ W.T)),
            "feature_dim": float(F.shape[1]), "n_tokens": float(F.shape[0]),
            "head_blocks": float(W.shape[0])}
    if not est:
        return scal
    return {**scal, "ratio": np.array([e.aggregate for e in est]),
            "ratio_lo": np.array([e.aggregate_ci[0] for e in est]),
            "ratio_hi": np.array([e.aggregate_ci[1] for e in est]),
            "n_blocks": np.array([e.n_blocks for e in est], dtype=float),
            "n_hvp": np.array([e.n_hvp for e in est], dtype=float),
            "converged": np.array([e.converged for e in est], dtype=float)}


def _seed_stats(v: np.ndarray, Cs: list[int], t: float) -> dict[str, object]:
    """Mean over seeds (axis 1) with its t CI, and the WLS rate against C (95 % CI)."""
    from rmt.stats import fit_power_law  # noqa: PLC0415

    m, se = v.mean(1), v.std(1, ddof=1) / math.sqrt(v.shape[1])
    fit = fit_power_law(Cs, m, se, level=0.95) if len(Cs) >= 3 else None
    return {"mean": m.tolist(), "ci": np.stack([m - t * se, m + t * se], 1).tolist(),
            "rate": None if fit is None else [fit.slope, *fit.ci]}


def summarise(head, hvp, model: str) -> dict[str, object]:
    """Means over seeds (95 % t CI) of the per-block RMS ratio and the aggregate: the output
    layer from the exact sweep ``head``, the HVP layers from ``hvp`` (may be None); fitted rates;
    rmt's predictions where they apply."""
    from rmt.predictions import predict_block_ratio, predict_hidden_ratio  # noqa: PLC0415
    from rmt.stats import critical_value  # noqa: PLC0415

    sub = head.sel(model=model)
    Cs = [int(c) for c in sub["C"].values]
    T = sub.sizes["seed"]
    agg = sub["head_exact"].values
    nb = sub["head_blocks"].values[:, :1]
    t = critical_value(0.95, T - 1)
    name = "lm_head" if model == "gpt" else "out"
    out: dict[str, object] = {"model": model, "C": Cs, "n_seeds": T, "layers": {
        name + " (exact)": {"n_blocks": nb[:, 0].tolist(), "n_seeds": T,
                            "aggregate": _seed_stats(agg, Cs, t),
                            "per_block": _seed_stats(agg / np.sqrt(nb - 1), Cs, t)}}}
    if hvp is not None:
        h = hvp.sel(model=model)
        hC = [int(c) for c in h["C"].values]
        th = critical_value(0.95, h.sizes["seed"] - 1)
        for k, layer in enumerate(hvp.attrs["sweep_fixed"]["layers"]):
            a = h["ratio"].values[:, :, k]
            n = h["n_blocks"].values[:, :1, k]
            out["layers"][layer] = {"n_blocks": n[:, 0].tolist(), "C": hC,
                                    "n_seeds": h.sizes["seed"], "aggregate": _seed_stats(a, hC, th),
                                    "per_block": _seed_stats(a / np.sqrt(n - 1), hC, th),
                                    "n_hvp_median": float(np.median(h["n_hvp"].values[:, :, k]))}
    sig = float(sub["sigma_logits"].values.mean())
    dim, n = int(sub["feature_dim"].values.flat[0]), int(sub["n_tokens"].values.flat[0])
    out["sigma_logits"] = sig
    pred = [predict_block_ratio(C, sig, dim=dim, n_samples=n, correction="independent")
            for C in Cs]
    out["linear_prediction"] = {"per_block": [p.per_block for p in pred],
                                "aggregate": [p.aggregate for p in pred]}
    if model == "mlp":
        out["hidden_prediction_per_block"] = [predict_hidden_ratio(
            C, MLP_CFG["widths"][-1], gamma=MLP_CFG["dim"] / n).per_block for C in Cs]
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
    p.add_argument("--hvp-C", type=int_arg(2), nargs="+", default=None,
                   help="C values of the HVP estimates (default: those of --C)")
    p.add_argument("--seeds", type=int_arg(2), default=3,
                   help="seeds per C of the HVP estimates (default 3)")
    p.add_argument("--head-seeds", type=int_arg(2), default=8,
                   help="seeds per C of the exact output-layer ratios (default 8)")
    p.add_argument("--layers", nargs="*", default=None,
                   help="layers estimated by HVPs (none: only the exact output layer)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="base seed")
    p.add_argument("--rtol", type=real_arg(0.0, strict_min=True), default=0.1,
                   help="target relative CI half-width of each estimate (default 0.1)")
    p.add_argument("--max-hvp", type=int_arg(1), default=600, help="HVP cap per layer")
    p.add_argument("--threads", type=int_arg(1), default=1, help="torch threads per cell")
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
        sums = {}
        from rmt.results import open as open_results  # noqa: PLC0415

        for model in args.model:
            Cs = list(args.C or C_GRID[model])
            hCs = list(args.hvp_C or Cs)
            layers = list(HVP_LAYERS[model] if args.layers is None else args.layers)
            runs = {"head": (Grid({"model": [model], "C": Cs}, n_seeds=args.head_seeds,
                                  seed=args.seed, fixed={"threads": args.threads}),
                             _path(out, model, "head")),
                    "hvp": (Grid({"model": [model], "C": hCs}, n_seeds=args.seeds,
                                 seed=args.seed + 1, fixed={"rtol": args.rtol,
                                                            "max_hvp": args.max_hvp,
                                                            "threads": args.threads,
                                                            "layers": layers}),
                            _path(out, model, "hvp"))}
            got = {}
            for kind, (grid, path) in runs.items():
                if not args.redraw and (kind == "head" or layers):
                    run_from_args(cell, grid, argparse.Namespace(**{**vars(args), "out": path}))
                got[kind] = open_results(path) if path.exists() else None
            if got["head"] is not None:
                sums[model] = summarise(got["head"], got["hvp"], model)
        from simulations.torch_blocks_figures import make_figures, summary_lines  # noqa

        print("\n".join(summary_lines(sums)))
        print("figures:", *make_figures(sums, out.with_suffix("")))
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"{PROG}: error: {exc}\n")
    return 0


def _path(out: Path, model: str, kind: str) -> Path:
    return out.with_name(f"{out.stem}_{model}_{kind}{out.suffix}")


if __name__ == "__main__":
    raise SystemExit(main())
