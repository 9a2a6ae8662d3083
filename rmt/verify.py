"""Run the claims and write the verification report.

:func:`verify` evaluates the chosen claims at a scale, and :func:`write_report` writes

* ``results.json``: every number, with the parameters, versions, backend and device;
* ``report.md``: the table (claim, quantity, prediction, estimate ± CI, verdict, seconds), each
  claim's statement and reason, and its figure;
* ``figures/<claim>.pdf`` and ``.png``: one figure per claim that has one.

Files are written atomically (a temporary file renamed into place), so an interrupted run never
leaves a half-written report. :func:`redraw_figures` draws the figures again from a stored
``results.json`` without recomputing anything (``rmt figures``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import backend as bk
from .claims import SCALES, ClaimResult, Estimate, Verdict, registry, run_claim
from .validation import check_choice

__all__ = ["verify", "write_report", "redraw_figures", "format_table", "environment"]


def environment(backend: str) -> dict[str, Any]:
    """Versions, backend, device and git revision, for the results file."""
    import matplotlib
    import numpy
    import scipy
    import sympy

    from . import __version__

    env = {"rmt": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
           "scipy": scipy.__version__, "sympy": sympy.__version__,
           "matplotlib": matplotlib.__version__, "backend": backend,
           "device": bk.device_name(bk.xp_for(backend)), "git_revision": _git_revision(),
           "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if backend == "cupy":
        env["cupy"] = bk.get_cupy().__version__
    return env


def _git_revision() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def verify(claim_ids: Sequence[str] | None = None, scale: str = "quick", seed: int = 0,
           backend: str = "numpy",
           on_result: Callable[[ClaimResult], None] | None = None) -> list[ClaimResult]:
    """Evaluate claims (all, or ``claim_ids``) at ``scale`` with ``seed`` on ``backend``.

    Parameters
    ----------
    claim_ids : sequence of str, optional
        Claim ids to run (default: every registered claim).
    scale : {"quick", "paper", "llm"}
    seed : int
        Base seed; every claim draws its own stream from it.
    backend : {"numpy", "cupy"}
    on_result : callable, optional
        Called with each :class:`ClaimResult` as it finishes (progress output).
    """
    scale = check_choice("scale", scale, SCALES)
    backend = bk.resolve_backend(backend)
    bk.xp_for(backend)  # fail early and clearly if the GPU is missing
    reg = registry()
    if claim_ids:
        unknown = sorted(set(claim_ids) - set(reg))
        if unknown:
            raise ValueError(f"claims: unknown claim id(s) {unknown}; known: {sorted(reg)}")
        chosen = [reg[c] for c in claim_ids]
    else:
        chosen = list(reg.values())
    results = []
    for claim in chosen:
        try:
            res = run_claim(claim, scale=scale, seed=seed, backend=backend)
        except Exception as exc:  # one broken estimator must not hide the other verdicts
            res = ClaimResult(claim, scale, claim.params(scale), math.nan,
                              Estimate(math.nan), Verdict("fails", f"the estimate raised "
                                                          f"{type(exc).__name__}: {exc}"), 0.0)
        results.append(res)
        if on_result is not None:
            on_result(res)
    return results


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6g}"


def format_table(rows: Iterable[Mapping[str, Any]], markdown: bool = False) -> str:
    """The verdict table from result dicts (:meth:`ClaimResult.to_dict`)."""
    head = ["claim", "quantity", "prediction", "estimate ± CI half-width", "verdict", "seconds"]
    body = []
    for r in rows:
        lo, hi = r["ci"]
        level = r["ci_level"]
        half = f"{(hi - lo) / 2:.2g}" if lo is not None and hi is not None else "n/a"
        est = (f"{_fmt(r['estimate'])} ± {half}"
               + (f" ({100 * level:g}%)" if level is not None and r["stderr"] else " (exact)"))
        body.append([r["id"], r["quantity"], _fmt(r["prediction"]), est, r["verdict"],
                     f"{r['seconds']:.2f}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        # A '|' inside a cell (e.g. max|H|) would end the cell: escape it.
        lines += ["| " + " | ".join(c.replace("|", r"\|") for c in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{w}s}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*row) for row in body])


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _draw(result: Mapping[str, Any], figure: Callable, fig_dir: Path) -> list[str]:
    from . import figures as F

    fig, ax = F.figure(width="single")
    figure(ax, result)
    paths = F.save(fig, fig_dir / result["id"], formats=("pdf", "png"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return [str(p) for p in paths]


def write_report(results: Sequence[ClaimResult], out_dir: str | os.PathLike, *,
                 backend: str = "numpy", seed: int = 0, command: str = "") -> dict[str, Path]:
    """Write ``results.json``, ``report.md`` and the figures into ``out_dir``; return paths."""
    out = Path(out_dir)
    rows = [r.to_dict() for r in results]
    fig_dir = out / "figures"
    figs: dict[str, list[str]] = {}
    for res, row in zip(results, rows):
        if res.claim.figure is not None:
            try:
                figs[row["id"]] = _draw(row, res.claim.figure, fig_dir)
            except Exception as exc:  # e.g. a failed estimate has no figure data: keep going
                row["figure_error"] = f"{type(exc).__name__}: {exc}"
    doc = {"rmt_results": "verify", "command": command, "seed": seed,
           "environment": environment(backend), "claims": rows}
    json_path = out / "results.json"
    _atomic_write(json_path, json.dumps(doc, indent=2, default=str).encode())
    md = _markdown(doc, figs, out)
    md_path = out / "report.md"
    _atomic_write(md_path, md.encode())
    return {"results": json_path, "report": md_path, "figures": fig_dir}


def _markdown(doc: Mapping[str, Any], figs: Mapping[str, list[str]], out: Path) -> str:
    env = doc["environment"]
    rows = doc["claims"]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("holds", "fails", "inconclusive")}
    lines = [
        "# rmt verification report", "",
        f"{len(rows)} claims: {counts['holds']} hold, {counts['fails']} fail, "
        f"{counts['inconclusive']} inconclusive. Scale `{rows[0]['scale'] if rows else '-'}`, "
        f"seed {doc['seed']}, backend `{env['backend']}` on {env['device']}; rmt {env['rmt']} "
        f"(git {env['git_revision'] or 'unknown'}), NumPy {env['numpy']}, SciPy {env['scipy']}, "
        f"SymPy {env['sympy']}; {env['time_utc']}.", "",
        "Each estimate is given ± the half-width of its confidence interval at the level shown; "
        "`exact` marks a deterministic computation compared at floating-point tolerance.", "",
        format_table(rows, markdown=True), "", "## Claims", ""]
    for r in rows:
        lines += [f"### `{r['id']}` — {r['verdict']}", "", r["statement"], "",
                  f"Formula: {r['latex']}", "",
                  f"Quantity: {r['quantity']}. Derivation: `{r['proof'] or '-'}`. "
                  f"Parameters: `{json.dumps(r['parameters'], default=str)}`.", "",
                  f"Verdict: {r['reason']}.", ""]
        if r.get("figure_error"):
            lines += [f"Figure not drawn: {r['figure_error']}.", ""]
        for p in figs.get(r["id"], []):
            if p.endswith(".png"):
                rel = os.path.relpath(p, out)
                lines += [f"![{r['id']}]({rel})", ""]
    return "\n".join(lines)


def redraw_figures(results_path: str | os.PathLike, out_dir: str | os.PathLike) -> list[str]:
    """Redraw every claim's figure from a stored ``results.json`` (no recomputation)."""
    path = Path(results_path)
    if path.is_dir():
        path = path / "results.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"from: no results file at {str(path)!r}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"from: {str(path)!r} is not a valid results file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("rmt_results") != "verify":
        raise ValueError(f"from: {str(path)!r} is not an rmt verify results file")
    reg = registry()
    written: list[str] = []
    for row in doc["claims"]:
        claim = reg.get(row["id"])
        if claim is not None and claim.figure is not None:
            written += _draw(row, claim.figure, Path(out_dir))
    return written
