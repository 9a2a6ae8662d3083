"""The ``rmt`` command.

Subcommands: ``prove`` (run every symbolic derivation), ``hessian`` (block ratios of a model at
initialisation), ``verify`` (the claims, with verdicts), ``figures`` (redraw figures from stored
results). Bad arguments print one line on stderr and exit with status 2; a failed proof or claim
exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from rmt.validation import arg_type, check_int, check_writable, int_arg, real_arg

__all__ = ["main", "build_parser", "ArgumentParser", "UsageError", "run_command"]


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
                   help="off-diagonal pairs for the per-block ratio: 'auto' (all up to 4096, "
                        "else a seeded sample of 4096), 'all', or a sample size")
    h.add_argument("--seed", type=int_arg(0), default=0)
    h.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    h.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    h.add_argument("--json", action="store_true", help="print JSON with every parameter echoed")

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
                   help="results.json written by rmt verify (or its directory)")
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
                         indent=2))
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
    import numpy as np

    from rmt import backend as bk
    from rmt.hessian import block_ratio
    from rmt.models import LinearClassifier, OneHiddenLayer

    if args.model == "hidden" and args.hidden is None:
        raise UsageError("rmt hessian: error: --hidden is required with --model hidden")
    if args.model == "linear" and args.blocks == "W":
        raise UsageError("rmt hessian: error: --blocks W needs --model hidden (the linear model has V only)")
    ss_model, ss_data, ss_labels, ss_pairs = bk.spawn_seeds(args.seed, 4)
    xp = bk.xp_for(args.backend)
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
    res = block_ratio(model, X, y=y, loss=args.loss, pairs=args.pairs, seed=ss_pairs,
                      blocks=args.blocks)
    bk.synchronize(xp)
    seconds = time.perf_counter() - t0
    if args.json:
        params = {k: v for k, v in vars(args).items() if k not in ("json", "func", "command")}
        out = {"parameters": params, "gamma": args.dim / args.samples, "result": res.to_dict(),
               "seconds": seconds, "device": bk.device_name(xp)}
        print(json.dumps(out, indent=2, default=float))
    else:
        print(f"model={args.model} loss={args.loss} C={args.classes} d={args.dim} "
              f"N={args.samples} gamma=d/N={args.dim / args.samples:.4g} sigma={args.sigma} "
              f"seed={args.seed} backend={args.backend}")
        print(res)
        print(f"({seconds:.3f} s on {bk.device_name(xp)})")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from rmt import claims as cl
    from rmt.verify import (format_planted, format_table, planted_summary, summary_line, verify,
                            write_report)

    if args.list:
        for c in cl.registry().values():
            print(f"{c.id:34s} {c.statement}")
        return 0
    # Fail before minutes of work if the report cannot be written.
    from pathlib import Path

    check_writable("--out", Path(args.out) / "results.json")
    n_total = len(args.claims) if args.claims else len(cl.registry())
    done = []

    def progress(res: Any) -> None:
        done.append(res)
        if not args.quiet:
            print(f"[{len(done)}/{n_total}] {res.claim.id}: {res.verdict.status} "
                  f"({res.seconds:.1f} s)", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results = verify(args.claims, scale=args.scale, seed=args.seed, backend=args.backend,
                     on_result=progress)
    planted = planted_summary(results) if args.planted else None
    paths = write_report(results, args.out, backend=args.backend, seed=args.seed,
                         command="rmt " + " ".join(sys.argv[1:]), planted=planted)
    rows = [r.to_dict() for r in results]
    print(format_table(rows))
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

    written = redraw_figures(args.source, args.out)
    print(f"{len(written)} files written to {args.out}")
    return 0


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
