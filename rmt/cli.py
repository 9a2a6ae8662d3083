"""The ``rmt`` command.

Subcommands: ``prove`` (run every symbolic derivation), ``hessian`` (block ratios of a model at
initialisation), ``verify`` (the claims, with verdicts), ``figures`` (redraw figures from stored
results). Bad arguments print one line on stderr and exit with status 2; a failed proof or claim
exits with status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from rmt.validation import arg_type, check_int, check_memory, check_writable, int_arg, real_arg

__all__ = ["main", "build_parser", "ArgumentParser", "UsageError", "run_command",
           "hessian_memory"]


class UsageError(Exception):
    """A bad command-line argument; reported as one line with exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """The parser of every rmt command (``rmt`` and ``python -m simulations.NAME``): a bad
    argument raises :class:`UsageError` with one line (no usage dump), which
    :func:`run_command` prints and turns into exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        # An output path that cannot be written (--out on a read-only or missing device).
        return f"{exc.strerror}: {exc.filename or ''}".rstrip(": ")
    return " ".join(str(exc).split()) or type(exc).__name__


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                body: Callable[[argparse.Namespace], int]) -> int:
    """Parse ``argv`` and run ``body(args)``; return its exit status.

    Every failure a user can cause or fix is one line on stderr with exit status 2: bad
    arguments (:class:`UsageError`), library validation (ValueError: the message names the
    parameter and its range), a missing optional extra (ImportError), a path that cannot be
    written (OSError), an unavailable backend, a failed sweep cell or a held lock
    (RuntimeError). Output piped into a reader that stops early (``| head``) ends quietly with
    status 1.
    """
    try:
        return body(parser.parse_args(argv))
    except UsageError as exc:
        print(str(exc).splitlines()[0], file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Point stdout at devnull so that the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        print(f"{parser.prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rmt`` command (exposed for docs and tests)."""
    p = ArgumentParser(prog="rmt", description="rmt: random-matrix-theory verification of the block "
                "structure of neural-network Hessians (see README.md).")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    pr = sub.add_parser("prove", help="run every symbolic derivation (SymPy) and print a table")
    pr.add_argument("ids", nargs="*", help="derivation ids to run (default: all)")
    pr.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pr.add_argument("--list", action="store_true", help="list derivation ids and statements")

    h = sub.add_parser("hessian", help="per-block and aggregate Hessian block ratios at init")
    h.add_argument("--model", choices=("linear", "hidden"), default="linear")
    h.add_argument("--loss", choices=("ce", "mse"), default="ce")
    h.add_argument("--classes", type=int_arg(2), required=True, metavar="C")
    h.add_argument("--dim", type=int_arg(1), required=True, metavar="d")
    h.add_argument("--samples", type=int_arg(1), required=True, metavar="N")
    h.add_argument("--hidden", type=int_arg(1), default=None, metavar="m",
                   help="hidden width (required for --model hidden)")
    h.add_argument("--activation", choices=("relu", "tanh", "gelu", "identity"), default="relu")
    h.add_argument("--sigma", type=real_arg(0.0), default=1.0, metavar="σ",
                   help="init scale: entries N(0, σ²/fan_in) (default 1)")
    h.add_argument("--blocks", choices=("V", "W"), default="V",
                   help="which layer's row blocks (W only for --model hidden)")
    h.add_argument("--pairs", type=arg_type(_check_pairs), default="auto",
                   help="ordered pairs i != j for the per-block ratio statistics: 'auto' (all "
                        "pairs when they cost little, else a seeded sample whose cost is at "
                        "most half the aggregate's, 64 to 4096 pairs), 'all', or a sample size")
    h.add_argument("--method", choices=("auto", "exact", "sampled"), default="auto",
                   help="aggregate (CE, rows of V): 'exact' sums every sample pair; 'sampled' "
                        "estimates it from groups of samples with a CI (seconds at LLM sizes; "
                        "no per-pair statistics); 'auto' (default): exact when its predicted "
                        "time fits --budget, else sampled. The output says which and why")
    h.add_argument("--budget", type=real_arg(0.0, strict_min=True), default=None, metavar="S",
                   help="seconds the exact path may take under --method auto (default 60); "
                        "also a time limit on the sampled path")
    h.add_argument("--rel-error", type=real_arg(0.0, 1.0, strict_min=True, strict_max=True),
                   default=0.01, help="sampled path: target relative half-width of the 95%% "
                                      "CI of the aggregate (default 0.01)")
    h.add_argument("--seed", type=int_arg(0), default=0)
    h.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    h.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    h.add_argument("--json", action="store_true", help="print JSON with every parameter echoed")
    h.add_argument("--quiet", action="store_true",
                   help="no plan line or progress bar on stderr (the bar shows on a terminal "
                        "only, for runs over a few seconds)")

    v = sub.add_parser("verify", help="run the claims and print a verdict for each")
    v.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    v.add_argument("--scale", choices=("quick", "paper", "llm"), default="quick",
                   help="quick: CPU, minutes; paper: the paper's sizes; llm: C up to 128,000 (GPU)")
    v.add_argument("--claims", nargs="+", metavar="ID", default=None,
                   help="claim ids to run (default: all; see --list)")
    v.add_argument("--out", default="rmt-report", metavar="DIR",
                   help="directory for report.md, results.json and figures (default rmt-report)")
    v.add_argument("--seed", type=int_arg(0), default=0)
    v.add_argument("--list", action="store_true", help="list claim ids and statements")
    v.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    v.add_argument("--planted", action="store_true",
                   help="also judge each claim once per rival with the rival planted as the "
                        "prediction (same estimate) and print how many were rejected; exit 1 "
                        "if a planted rival holds")

    f = sub.add_parser("figures", help="redraw every figure from a stored results file")
    f.add_argument("--from", dest="source", required=True, metavar="RESULTS",
                   help="results.json written by rmt verify (or its directory); a "
                        "simulation's results file is redrawn by its own --redraw")
    f.add_argument("--out", required=True, metavar="DIR")
    return p


def _check_pairs(name: str, text: str) -> Any:
    if text in ("all", "auto"):
        return text
    try:
        return check_int(name, int(text), 1)
    except ValueError:
        raise ValueError(f"{name} must be 'auto', 'all' or an integer >= 1, got {text!r}") from None


def _version() -> str:
    from rmt import __version__

    return f"rmt {__version__}"


def _cmd_prove(args: argparse.Namespace) -> int:
    import proofs

    if args.list:
        for d in proofs.registry().values():
            print(f"{d.id:32s} {d.statement}")
        return 0
    try:
        results = proofs.run_all(args.ids or None)
    except ValueError as exc:
        raise UsageError(f"rmt prove: error: {exc}") from None
    n_fail = sum(not r.passed for _, r, _ in results)
    if args.json:
        print(json.dumps([{"id": d.id, "statement": d.statement, "passed": r.passed,
                           "detail": r.detail, "seconds": round(s, 4)} for d, r, s in results],
                         indent=2, allow_nan=False))
    else:
        width = max([len(d.id) for d, _, _ in results] + [5])
        print(f"{'claim':{width}s}  {'status':6s}  {'seconds':>7s}  statement")
        for d, r, s in results:
            status = "passed" if r.passed else "FAILED"
            print(f"{d.id:{width}s}  {status:6s}  {s:7.2f}  {d.statement}")
            if not r.passed and r.detail:
                print(f"{'':{width}s}  -> {r.detail}")
        print(f"{len(results) - n_fail} of {len(results)} derivations passed")
    return 1 if n_fail else 0


def _cmd_hessian(args: argparse.Namespace) -> int:
    import warnings

    import numpy as np

    from rmt import backend as bk
    from rmt.hessian import block_norms, block_ratio
    from rmt.models import LinearClassifier, OneHiddenLayer
    from rmt.stats import jsonable

    if args.model == "hidden" and args.hidden is None:
        raise UsageError("rmt hessian: error: --hidden is required with --model hidden")
    if args.model == "linear" and args.blocks == "W":
        raise UsageError("rmt hessian: error: --blocks W needs --model hidden (the linear model has V only)")
    can_sample = args.loss == "ce" and args.blocks == "V"
    if args.method == "sampled" and not can_sample:
        raise UsageError("rmt hessian: error: --method sampled estimates the CE aggregate over "
                         "rows of V: it needs --loss ce and --blocks V")
    xp = bk.xp_for(args.backend)
    _check_hessian_memory(args)              # before anything of that size is allocated
    method, reason, predicted = _hessian_method(args, xp, can_sample)
    if not args.quiet and (method == "sampled" or predicted > _PROGRESS_AFTER_S):
        print(f"rmt hessian: {method} ({reason})", file=sys.stderr, flush=True)
    ss_model, ss_data, ss_labels, ss_pairs = bk.spawn_seeds(args.seed, 4)
    if args.model == "linear":
        model = LinearClassifier.init(args.classes, args.dim, args.sigma, seed=ss_model,
                                      backend=args.backend, dtype=args.dtype)
    else:
        model = OneHiddenLayer.init(args.classes, args.dim, args.hidden, args.sigma,
                                    args.activation, seed=ss_model, backend=args.backend,
                                    dtype=args.dtype)
    X = bk.standard_normal((args.samples, args.dim), ss_data, xp, args.dtype)
    # Labels matter only for the hidden net's residual terms; draw them uniformly at random.
    y = bk.asarray(np.random.default_rng(ss_labels).integers(0, args.classes, args.samples), xp)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _timed_progress(f"rmt hessian ({method})", predicted, not args.quiet):
            if method == "exact":
                res = block_ratio(model, X, y=y, loss=args.loss, pairs=args.pairs, seed=ss_pairs,
                                  blocks=args.blocks)
            else:
                res = dataclasses.replace(
                    block_norms(model, X, loss=args.loss, method="sampled",
                                rel_error=args.rel_error, seed=ss_pairs, budget=args.budget),
                    reason=reason)
        bk.synchronize(xp)
    seconds = time.perf_counter() - t0
    notes = [" ".join(str(w.message).split()) for w in caught
             if issubclass(w.category, (RuntimeWarning, UserWarning))]
    for note in notes:
        print(f"rmt hessian: warning: {note}", file=sys.stderr)
    rms = None
    if method == "sampled":
        # Per block, RMS over all ordered pairs: aggregate/sqrt(C - 1) exactly (C blocks).
        k = 1.0 / math.sqrt(args.classes - 1.0)
        rms = {"value": res.aggregate_ratio * k, "ci": [res.ratio_ci_low * k, res.ratio_ci_high * k],
               "level": res.level,
               "definition": "(mean_{i!=j} ||H_ij||_F^2 / mean_i ||H_ii||_F^2)^(1/2) = "
                             "aggregate / sqrt(C - 1), over all ordered pairs"}
    if args.json:
        params = {k: v for k, v in vars(args).items() if k not in ("json", "func", "command")}
        out = {"parameters": params, "gamma": args.dim / args.samples, "method": method,
               "method_reason": reason, "result": res.to_dict(), "per_block_rms": rms,
               "seconds": seconds, "device": bk.device_name(xp), "warnings": notes}
        print(json.dumps(jsonable(out), indent=2, allow_nan=False, default=str))
    else:
        print(f"model={args.model} loss={args.loss} C={args.classes} d={args.dim} "
              f"N={args.samples} gamma=d/N={args.dim / args.samples:.4g} sigma={args.sigma} "
              f"seed={args.seed} backend={args.backend}")
        if method == "exact":           # the sampled result says why itself
            print(f"method: exact ({reason})")
        print(res)
        if rms is not None:
            print(f"  per block, RMS over all ordered pairs = aggregate/√(C−1) = "
                  f"{rms['value']:.6g}, {100 * res.level:g}% CI [{rms['ci'][0]:.6g}, "
                  f"{rms['ci'][1]:.6g}]; per-pair statistics need the softmax of every sample "
                  f"and are skipped here (--method exact computes them)")
        print(f"({seconds:.3f} s on {bk.device_name(xp)})")
    return 0


#: A run predicted to take longer than this shows its plan line and a progress bar at once.
_PROGRESS_AFTER_S = 10.0
#: Problems below this many flops run exactly without timing the machine first.
_SMALL_FLOPS = 2e9


def hessian_memory(N: int, d: int, C: int, dtype: str = "float64", hidden: int | None = None
                   ) -> list[tuple[str, float]]:
    """(what, bytes) that a block ratio of the linear (``hidden=None``) or one-hidden-layer
    model holds whole: the model, the data, per-sample arrays, and the smallest working set of
    the chunked loops of :mod:`rmt.hessian` (one 1024-row tile of their plan; the rest is
    chunked to the memory limit). For :func:`rmt.validation.check_memory`."""
    isz = 4 if dtype == "float32" else 8
    p = d if hidden is None else hidden
    parts = [("V: C × " + ("d" if hidden is None else "m"), float(C) * p * isz),
             ("X: N × d", float(N) * d * isz)]
    if hidden is not None:
        parts.append(("W and hidden activations: m × d + 3 × N × m",
                      (float(hidden) * d + 3.0 * N * hidden) * isz))
    nb, cc = min(N, 1024), min(C, 512)
    parts.append(("working set (one tile of the chunked loops)",
                  (40 + 3 * isz) * nb * nb + 8.0 * nb * p + (8 * isz * nb + isz * p) * cc
                  + 16.0 * N))
    return parts


def _check_hessian_memory(args: argparse.Namespace) -> None:
    """Refuse, in one line, sizes whose inputs do not fit the free memory of the backend."""
    tips = ["--dtype float32 halves it"] if args.dtype == "float64" else []
    tips.append("shrink C·d (the model) or N·d (the data)")
    if args.backend == "numpy":
        tips.append("or use --backend cupy on a GPU with that much memory")
    try:
        check_memory(f"--classes {args.classes} --dim {args.dim} --samples {args.samples} "
                     f"({args.dtype})", hessian_memory(args.samples, args.dim, args.classes,
                                                        args.dtype, args.hidden
                                                        if args.model == "hidden" else None),
                     args.backend,
                     ", ".join(tips) + " (the block computations are chunked to fit; the model "
                     "and data must fit whole)")
    except ValueError as exc:
        raise UsageError(f"rmt hessian: error: {exc}") from None


def _hessian_method(args: argparse.Namespace, xp: Any, can_sample: bool
                    ) -> tuple[str, str, float]:
    """(method, why, predicted seconds of that method) for ``rmt hessian`` (the sampled path:
    its least work, :data:`~rmt.hessian.sampled.MIN_GROUPS` groups)."""
    import numpy as np

    from rmt.hessian.norms import AUTO_BUDGET
    from rmt.hessian.sampled import MIN_GROUPS, default_group_size, exact_flops, gemm_rate

    N, d, C = float(args.samples), float(args.dim), float(args.classes)
    p = d if args.model == "linear" else float(args.hidden)
    if args.loss == "ce" and args.blocks == "V":
        agg = exact_flops(int(N), int(p), int(C))
    elif args.blocks == "V":
        agg = 2 * N * p * p
    else:                               # W blocks: every pair's norm, O(N²(d + m²) + N C m²)
        m = float(args.hidden)
        agg = N * N * (d + m * m) + N * C * m * m
    flops = agg + max(0.5 * agg, 1e8) + (2 * N * d * p if args.model == "hidden" else 0.0)
    if flops < _SMALL_FLOPS and args.method != "sampled":
        how = "asked for" if args.method == "exact" else f"a small problem, ≈ {flops:.2g} flops"
        return "exact", how, 0.0
    rate = gemm_rate(xp, np.dtype(args.dtype)) if flops >= _SMALL_FLOPS else math.inf
    predicted = flops / rate
    at = f"≈ {predicted:.3g} s predicted ({flops:.3g} flops at the measured {rate / 1e9:.3g} GFLOP/s)"
    budget = AUTO_BUDGET if args.budget is None else args.budget
    # The sampled path's least work: MIN_GROUPS groups, each an exact aggregate of g samples.
    g = default_group_size(int(N))
    sampled = MIN_GROUPS * exact_flops(g, int(p), int(C)) / rate
    if args.budget is not None:
        sampled = min(sampled, args.budget)
    if args.method == "exact":
        return "exact", f"asked for; {at}", predicted
    if args.method == "sampled":
        return "sampled", "asked for (--method sampled)", sampled
    if predicted <= budget or not can_sample:
        why = (f"{at} <= --budget {budget:g} s" if predicted <= budget else
               f"{at} > --budget {budget:g} s, but the sampled estimator covers only the CE "
               f"aggregate over rows of V")
        return "exact", why, predicted
    return "sampled", (f"the exact path {at} > --budget {budget:g} s; --method exact "
                       f"computes it, with progress"), sampled


@contextlib.contextmanager
def _timed_progress(desc: str, predicted: float | None, enabled: bool):
    """A tqdm bar on stderr (a terminal only) that advances with the clock against the predicted
    seconds, so a long closed-form computation shows an ETA; it appears at once when the
    prediction exceeds :data:`_PROGRESS_AFTER_S`, else only if the run outlasts that."""
    import threading

    from tqdm.auto import tqdm

    total = max(predicted or 0.0, 1.0)
    bar = tqdm(total=round(total, 1), desc=desc, unit="s", file=sys.stderr, leave=False,
               disable=None if enabled else True, dynamic_ncols=True,
               delay=0.0 if total > _PROGRESS_AFTER_S else _PROGRESS_AFTER_S,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, ETA {remaining} "
                          "(predicted {total:.0f} s)")
    stop = threading.Event()

    def tick() -> None:
        t0 = time.perf_counter()
        while not stop.wait(0.5):
            t = time.perf_counter() - t0
            if t > bar.total:           # past the prediction: keep the bar honest
                bar.total = round(1.25 * t, 1)
            bar.n = round(t, 1)
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    if not bar.disable:
        thread.start()
    try:
        yield bar
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        bar.close()


def _cmd_verify(args: argparse.Namespace) -> int:
    from rmt import claims as cl
    from rmt.verify import (format_planted, format_table, planted_summary, skipped_claims,
                            summary_line, verify, write_report)

    if args.list:
        for c in cl.registry().values():
            print(f"{c.id:34s} {c.statement}")
        for cid, why in skipped_claims().items():
            print(f"{cid:34s} SKIPPED: {why}")
        return 0
    # Fail before minutes of work if the report cannot be written.
    from pathlib import Path

    check_writable("--out", Path(args.out) / "results.json")
    skipped = skipped_claims(args.claims)
    n_total = (len(set(args.claims) - set(skipped)) if args.claims
               else len(cl.registry()))
    done = []

    def progress(res: Any) -> None:
        done.append(res)
        if not args.quiet:
            # ETA at the pace so far (claims differ in cost: a rough guide, said as such).
            spent = time.perf_counter() - t0
            left = n_total - len(done)
            eta = f", ≈ {spent / len(done) * left:.0f} s left at this pace" if left else ""
            print(f"[{len(done)}/{n_total}] {res.claim.id}: {res.verdict.status} "
                  f"({res.seconds:.1f} s; {spent:.0f} s elapsed{eta})", file=sys.stderr,
                  flush=True)

    t0 = time.perf_counter()
    results = verify(args.claims, scale=args.scale, seed=args.seed, backend=args.backend,
                     on_result=progress)
    planted = planted_summary(results) if args.planted else None
    paths = write_report(results, args.out, backend=args.backend, seed=args.seed,
                         command="rmt " + " ".join(sys.argv[1:]), planted=planted,
                         skipped=skipped)
    rows = [r.to_dict() for r in results]
    print(format_table(rows))
    for cid, why in skipped.items():
        print(f"skipped {cid}: {why}")
    n_fail = sum(r["verdict"] == "fails" for r in rows)
    print(f"{summary_line(rows)} ({time.perf_counter() - t0:.1f} s). "
          f"Report: {paths['report']}; numbers: {paths['results']}")
    held = []
    if planted is not None:
        print()
        print(format_planted(planted))
        held = [f"{r['id']}: {name}" for r in planted for name in r["held"]]
        print(f"planted runs: {sum(r['rejected'] for r in planted)} of "
              f"{sum(len(r['rivals']) for r in planted)} planted rivals rejected over "
              f"{len(planted)} claims with rivals; planted rivals that hold: {len(held)}"
              + (f" ({'; '.join(held)})" if held else ""))
    return 1 if n_fail or held else 0


def _cmd_figures(args: argparse.Namespace) -> int:
    from rmt.verify import redraw_figures

    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = redraw_figures(args.source, args.out)
    missed = [" ".join(str(w.message).split()) for w in caught
              if "not drawn" in str(w.message)]
    for m in missed:
        print(f"rmt figures: warning: {m}", file=sys.stderr)
    print(f"{len(written)} files written to {args.out}"
          + (f"; {len(missed)} figure(s) not drawn (see above)" if missed else ""))
    return 1 if missed else 0


_COMMANDS = {"prove": _cmd_prove, "hessian": _cmd_hessian, "verify": _cmd_verify,
             "figures": _cmd_figures}


def register_command(name: str, func) -> None:
    """Register a subcommand handler (used by modules that add subcommands)."""
    _COMMANDS[name] = func


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rmt`` command; returns the exit status."""
    return run_command(build_parser(), argv, lambda args: _COMMANDS[args.command](args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
