"""Spectra of a diagonal and an off-diagonal Hessian block of the linear CE model vs their laws.

    python -m simulations.block_spectra --help
    python -m simulations.block_spectra --dim 400 --n-samples 800 --trials 20 --out results/block_spectra

For the linear model ``z = V x`` at initialisation (``V_ij ~ N(0, σ²/d)``, ``x ~ N(0, I_d)``) it
simulates, trial by trial (trial ``t`` uses child ``t`` of ``SeedSequence(seed)``):

* ``C·H_ii``  — weights ``C·p_i(1 − p_i)`` (diagonal block ``i = 0``),
* ``−C²·H_ij`` — weights ``C²·p_i p_j`` (off-diagonal block ``(0, 1)``),

each with *dependent* weights (the Hessian itself: ``p = softmax(V x_n)`` on the same ``x_n`` as
the outer products) and *independent* weights (``p = softmax(V x̃_n)``, ``x̃_n`` an independent
copy: the other end of the proof's Lindeberg path). Within a trial all four matrices share
``X``, ``V`` and ``X̃``, so the dependent/independent comparison is coupled.

Each spectrum is compared with the weighted Marchenko–Pastur law of its block weight
(:class:`rmt.laws.WeightedMP` with :func:`rmt.laws.diagonal_block_weights` /
:func:`rmt.laws.offdiagonal_block_weights`), which is the limit for independent weights and,
by the Lindeberg argument, for the Hessian blocks too. Reported per block and coupling: the
mean empirical spectral density on a fixed grid with 95% t-intervals, the Kolmogorov–Smirnov
distance of each trial's spectrum to the law (mean ± CI), the first moments against the law's,
and the KS distance between the coupled dependent and independent spectra.

Writes ``OUT.json`` (atomically) and the figure ``OUT.pdf`` / ``OUT.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.covariance import draw_covariance
from rmt.montecarlo import MonteCarloResult, run_trials
from rmt.spectra import eigvalsh_batched, moments_from_eigenvalues

BLOCKS = {
    # name: (weights, block, scale, label)
    "diag": ("diag", 0, "C", r"$C\,H_{ii}$"),
    "offdiag": ("offdiag", (0, 1), "-C2", r"$-C^2 H_{ij}$"),
}
COUPLINGS = ("dependent", "independent")
N_MOMENTS = 3


class _Parser(argparse.ArgumentParser):
    """Argument errors: one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_at_least(name: str, minimum: int):
    def conv(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {minimum}, "
                                             f"got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {minimum}, got {v}")
        return v
    return conv


def _nonneg_float(name: str):
    def conv(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = float("nan")
        if not (v >= 0 and np.isfinite(v)):
            raise argparse.ArgumentTypeError(f"{name} must be a finite real number >= 0, "
                                             f"got {text!r}")
        return v
    return conv


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m simulations.block_spectra",
                description="Spectra of C·H_ii and −C²·H_ij of the linear CE model (dependent and "
                            "independent weights) against their weighted Marchenko–Pastur laws.")
    p.add_argument("--dim", type=_int_at_least("--dim", 1), default=400, help="d (default 400)")
    p.add_argument("--n-samples", type=_int_at_least("--n-samples", 1), default=800,
                   help="N (default 800, so γ = d/N = 1/2)")
    p.add_argument("--n-classes", type=_int_at_least("--n-classes", 2), default=10,
                   help="C (default 10)")
    p.add_argument("--sigma", type=_nonneg_float("--sigma"), default=1.0,
                   help="logit scale σ: V_ij ~ N(0, σ²/d) (default 1)")
    p.add_argument("--trials", type=_int_at_least("--trials", 2), default=20,
                   help="Monte Carlo trials (default 20)")
    p.add_argument("--batch-size", type=_int_at_least("--batch-size", 1), default=4,
                   help="trials per batched eigvalsh (results do not depend on it; default 4)")
    p.add_argument("--bins", type=_int_at_least("--bins", 2), default=60,
                   help="histogram bins per block (default 60)")
    p.add_argument("--seed", type=_int_at_least("--seed", 0), default=0, help="base seed")
    p.add_argument("--backend", choices=bk.BACKENDS, default="numpy")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--law-samples", type=_int_at_least("--law-samples", 1000), default=2**20,
                   help="logit draws for each block weight law (default 2^20)")
    p.add_argument("--out", default="results/block_spectra",
                   help="output stem: writes OUT.json, OUT.pdf, OUT.png")
    p.add_argument("--no-figure", action="store_true", help="write the results file only")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def block_laws(args: argparse.Namespace) -> dict[str, Any]:
    """The weighted MP law of each block, or ``{}`` when rmt.laws is not available."""
    try:
        from rmt import laws  # noqa: PLC0415 - optional at the time of writing
    except ImportError:
        return {}
    gamma, C, sigma, n_samples = args.dim / args.n_samples, args.n_classes, args.sigma, args.law_samples
    s_diag, s_off = bk.spawn_seeds(law_seed(args.seed), 2)
    w_diag = laws.diagonal_block_weights(C, sigma, scale="C", n_samples=n_samples, seed=s_diag)
    w_off = laws.offdiagonal_block_weights(C, sigma, scale="C2", n_samples=n_samples,
                                           seed=s_off).scaled(-1.0)
    return {"diag": laws.WeightedMP(gamma, w_diag), "offdiag": laws.WeightedMP(gamma, w_off)}


def _ks_to_cdf(ev: np.ndarray, F: np.ndarray) -> float:
    """sup_x |F_emp(x) − F(x)| for sorted eigenvalues ``ev`` and ``F = law.cdf(ev)``."""
    n = ev.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - F), np.max(F - (i - 1) / n)))


def _ks_two_sample(a: np.ndarray, b: np.ndarray) -> float:
    pts = np.concatenate([a, b])
    Fa = np.searchsorted(a, pts, side="right") / a.size
    Fb = np.searchsorted(b, pts, side="right") / b.size
    return float(np.max(np.abs(Fa - Fb)))


def _edges(args: argparse.Namespace, laws: dict[str, Any], pilot_seed: Any) -> dict[str, np.ndarray]:
    """Fixed histogram grids: the law's support (or a pilot draw's spectrum) padded by 10–15%
    of its width for finite-size edge fluctuations."""
    out = {}
    for name, (weights, block, scale, _) in BLOCKS.items():
        if name in laws:
            lo, hi = laws[name].support()
        else:
            draw = draw_covariance(args.dim, args.n_samples, pilot_seed, n_classes=args.n_classes,
                                   sigma=args.sigma, weights=weights, block=block, scale=scale)
            ev = np.linalg.eigvalsh(draw.matrix())
            lo, hi = float(ev[0]), float(ev[-1])
        w = hi - lo
        out[name] = np.linspace(lo - 0.10 * w, hi + 0.15 * w, args.bins + 1)
    return out


def law_seed(seed: int) -> np.random.SeedSequence:
    """Seed of the block weight laws: child 1 of ``SeedSequence(seed)`` (child 0 runs the trials,
    child 2 a pilot draw when no law is available)."""
    return bk.spawn_seeds(seed, 3)[1]


def simulate(args: argparse.Namespace, laws: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the Monte Carlo and return the results dict (also what is written to OUT.json).

    ``laws`` (from :func:`block_laws`) is computed here when not given."""
    d, N, C = args.dim, args.n_samples, args.n_classes
    gamma = d / N
    dt = np.dtype(args.dtype)
    xp = bk.xp_for(args.backend)
    run_seed, _, pilot_seed = bk.spawn_seeds(args.seed, 3)
    t0 = time.perf_counter()
    if laws is None:
        laws = block_laws(args)
    t_law = time.perf_counter() - t0
    edges = _edges(args, laws, pilot_seed)
    configs = [(b, c) for b in BLOCKS for c in COUPLINGS]

    def trial(seeds: Sequence[np.random.SeedSequence]) -> list[dict[str, Any]]:
        stack = xp.empty((len(seeds) * len(configs), d, d), dtype=dt)
        for i, s in enumerate(seeds):
            for j, (b, c) in enumerate(configs):
                weights, block, scale, _ = BLOCKS[b]
                draw = draw_covariance(d, N, s, n_classes=C, sigma=args.sigma, weights=weights,
                                       block=block, scale=scale, coupling=c,
                                       backend=args.backend, dtype=dt)
                stack[i * len(configs) + j] = draw.matrix()
        ev = bk.to_numpy(eigvalsh_batched(stack, check=False)).astype(np.float64)
        out = []
        for i in range(len(seeds)):
            stats: dict[str, Any] = {}
            spectra = {}
            for j, (b, c) in enumerate(configs):
                e = ev[i * len(configs) + j]
                spectra[(b, c)] = e
                key = f"{b}.{c}"
                stats[f"{key}.esd"] = e
                stats[f"{key}.moments"] = moments_from_eigenvalues(e, N_MOMENTS)
                stats[f"{key}.lambda_max"] = e[-1]
                if b in laws:
                    stats[f"{key}.ks_law"] = _ks_to_cdf(e, np.asarray(laws[b].cdf(e)))
            for b in BLOCKS:
                stats[f"{b}.ks_dependent_vs_independent"] = _ks_two_sample(
                    spectra[(b, "dependent")], spectra[(b, "independent")])
            out.append(stats)
        return out

    hist = {f"{b}.{c}.esd": edges[b] for b, c in configs}
    res: MonteCarloResult = run_trials(trial, args.trials, run_seed, batch_size=args.batch_size,
                                       vectorized=True, histograms=hist,
                                       progress=False if args.quiet else None,
                                       desc="block spectra")
    law_info = {}
    for b, law in laws.items():
        law_info[b] = {"support": list(law.support()), "moments": law.moments(N_MOMENTS).tolist(),
                       "cdf_error": float(law.cdf_error),
                       "weight_mean": law.weights.mean(), "weight_var": law.weights.var()}
    params = {"dim": d, "n_samples": N, "gamma": gamma, "n_classes": C, "sigma": args.sigma,
              "trials": args.trials, "batch_size": args.batch_size, "bins": args.bins,
              "seed": args.seed, "backend": args.backend, "dtype": args.dtype,
              "law_samples": args.law_samples,
              "blocks": {b: {"weights": v[0], "block": v[1], "scale": v[2]}
                         for b, v in BLOCKS.items()}}
    try:
        from rmt.results import provenance  # noqa: PLC0415
        prov = provenance(seed=args.seed, backend=args.backend, parameters=params)
    except ImportError:
        prov = {"parameters": params, "device": bk.device_name(xp)}
    return {"provenance": prov, "parameters": params, "laws": law_info,
            "law_available": bool(laws), "timing_s": {"laws": t_law, "monte_carlo": res.elapsed_s},
            "monte_carlo": res.to_dict(level=0.95)}


def summary_lines(results: dict[str, Any]) -> list[str]:
    """Human-readable summary: KS distances and moments vs the law."""
    est = results["monte_carlo"]["estimates"]
    lines = [f"d={results['parameters']['dim']} N={results['parameters']['n_samples']} "
             f"C={results['parameters']['n_classes']} σ={results['parameters']['sigma']} "
             f"trials={results['parameters']['trials']}"]
    for b in BLOCKS:
        law = results["laws"].get(b)
        for c in COUPLINGS:
            key = f"{b}.{c}"
            m = est[f"{key}.moments"]
            text = f"{key:22s} moments " + " ".join(
                f"{mu:.4f}±{se:.4f}" for mu, se in zip(m["mean"], m["stderr"]))
            if law:
                ks = est[f"{key}.ks_law"]
                text += (f" | law " + " ".join(f"{v:.4f}" for v in law["moments"])
                         + f" | KS to law {ks['mean']:.4f} [{ks['ci_low']:.4f}, {ks['ci_high']:.4f}]")
            lines.append(text)
        ks = est[f"{b}.ks_dependent_vs_independent"]
        lines.append(f"{b + '.dep vs ind':22s} KS {ks['mean']:.4f} [{ks['ci_low']:.4f}, "
                     f"{ks['ci_high']:.4f}]")
    return lines


def make_figure(results: dict[str, Any], stem: str,
                laws: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """Two panels (diagonal, off-diagonal): MC mean density ± 95% CI for dependent and
    independent weights, and the law's density."""
    from rmt import figures  # noqa: PLC0415 - matplotlib only when a figure is wanted

    est = results["monte_carlo"]["estimates"]
    edges_all = results["monte_carlo"]["edges"]
    fig, axes = figures.figure("double", aspect=0.36, ncols=2)
    colours = {"dependent": figures.OKABE_ITO["blue"], "independent": figures.OKABE_ITO["orange"]}
    for ax, (b, (_, _, _, label)) in zip(axes, BLOCKS.items()):
        for c in COUPLINGS:
            key = f"{b}.{c}.esd"
            e = np.asarray(edges_all[key])
            mean = np.asarray(est[key]["mean"])
            lo = np.asarray(est[key]["ci_low"])
            hi = np.asarray(est[key]["ci_high"])
            ax.stairs(mean, e, color=colours[c], lw=1.0, label=f"{c} weights",
                      ls="-" if c == "dependent" else "--")
            ax.fill_between(e[:-1], lo, hi, step="post", color=colours[c], alpha=0.25, lw=0)
        if laws and b in laws:
            e = np.asarray(edges_all[f"{b}.dependent.esd"])
            x = np.linspace(e[0], e[-1], 800)
            ax.plot(x, np.asarray(laws[b].pdf(x)), color=figures.OKABE_ITO["black"], lw=0.9,
                    label="weighted MP law")
        ax.set_xlabel(f"eigenvalue $\\lambda$ of {label}")
        ax.set_ylabel("density")
        ax.legend(frameon=False, fontsize="small")
    p = results["parameters"]
    fig.suptitle(f"$d={p['dim']}$, $N={p['n_samples']}$, $C={p['n_classes']}$, "
                 f"$\\sigma={p['sigma']}$, {p['trials']} trials (bands: 95% CI)", fontsize="small")
    return figures.save(fig, stem, ("pdf", "png"))


def _write_json(path: str, results: dict[str, Any]) -> None:
    data = json.dumps(results, indent=1, allow_nan=False).encode()
    try:
        from rmt.results import write_bytes_atomic  # noqa: PLC0415
    except ImportError:  # pragma: no cover - same thing by hand
        import os
        import tempfile
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return
    write_bytes_atomic(path, data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        laws = block_laws(args)
        results = simulate(args, laws)
    except (ValueError, bk.BackendUnavailableError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    _write_json(args.out + ".json", results)
    written = [args.out + ".json"]
    if not args.no_figure:
        written += [str(p) for p in make_figure(results, args.out, laws)]
    if not args.quiet:
        for line in summary_lines(results):
            print(line)
        print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
