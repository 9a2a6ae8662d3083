"""Run the claims and write the verification report.

:func:`verify` evaluates the chosen claims at a scale, and :func:`write_report` writes

* ``results.json``: every number, with the parameters, versions, backend and device;
* ``report.md``: the table (claim, quantity, prediction or bound, estimate ± CI, rivals
  rejected, verdict, seconds), each claim's statement, reason and rivals, and its figure;
* ``figures/<claim>.pdf`` and ``.png``: one figure per claim that has one.

Files are written atomically (:func:`rmt.results.write_bytes_atomic`), so an interrupted run
never leaves a half-written report. :func:`planted_summary` judges every claim once per rival
with the rival planted as the prediction (:func:`rmt.claims.planted_runs`, reusing the claim's
estimate); ``write_report(..., planted=...)`` tables how many planted rivals were rejected.
:func:`redraw_figures` draws the figures again from a stored ``results.json`` without
recomputing anything (``rmt figures``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import backend as bk
from .claims import (SCALES, ClaimResult, Estimate, ExactWithin, Verdict, planted_runs, registry,
                     run_claim)
from .results import compute_environment, git_dirty, git_revision, write_bytes_atomic
from .stats import jsonable
from .validation import check_choice

__all__ = ["verify", "skipped_claims", "write_report", "redraw_figures", "format_table", "format_planted",
           "summary_line", "planted_summary", "environment"]


def environment(backend: str) -> dict[str, Any]:
    """Versions, backend, device, git revision and dirty state, BLAS library and threads, for
    the results file."""
    import matplotlib
    import numpy
    import scipy
    import sympy

    from . import __version__

    env = {"rmt": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
           "scipy": scipy.__version__, "sympy": sympy.__version__,
           "matplotlib": matplotlib.__version__, "backend": backend,
           "device": bk.device_name(bk.xp_for(backend)), "git_revision": git_revision(),
           "git_dirty": git_dirty(), "compute": compute_environment(),
           "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if backend == "cupy":
        env["cupy"] = bk.get_cupy().__version__
    return env


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
        claim_ids = [c for c in claim_ids if c not in skipped_claims()]
        unknown = sorted(set(claim_ids) - set(reg))
        if unknown:
            raise ValueError(f"claims: unknown claim id(s) {unknown}; known: {sorted(reg)}")
        chosen = [reg[c] for c in claim_ids]
    elif claim_ids is not None:         # only skipped claims were asked for
        chosen = []
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


def skipped_claims(claim_ids: Sequence[str] | None = None) -> dict[str, str]:
    """Claim id → reason for the catalog's claims that cannot run here (their family could not
    register them, e.g. without PyTorch); restricted to ``claim_ids`` when given."""
    from .catalog import skipped  # noqa: PLC0415

    out = skipped()
    return out if claim_ids is None else {c: r for c, r in out.items() if c in claim_ids}


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    return f"{x:.6g}" if isinstance(x, (int, float)) else str(x)


def _prediction_cell(r: Mapping[str, Any]) -> str:
    rule = r.get("rule") or {}
    if rule.get("predicts") == "bound":
        rel = "≤" if rule.get("name") in ("AtMost", "ExponentAtMost") else "≥"
        return f"{rel} {_fmt(r['prediction'])} (bound)"
    return _fmt(r["prediction"])


def _estimate_cell(r: Mapping[str, Any]) -> str:
    rule = r.get("rule") or {}
    est, se, level = r["estimate"], r["stderr"], r["ci_level"]
    if rule.get("name") == ExactWithin.__name__:
        tol = rule.get("rtol", 0.0) * abs(r["prediction"] or 0.0) + rule.get("atol", 0.0)
        return f"{_fmt(est)} ± 0 (exact; tolerance {tol:.2g})"
    if se is None or est is None:
        return f"{_fmt(est)} (no estimate)"
    if se == 0:
        return f"{_fmt(est)} (single draw; spread over seeds not measured)"
    pct = f"{100 * level:g}%" if level is not None else "?"
    if r.get("one_sided_bounds"):
        b = r["one_sided_bounds"]
        return f"{_fmt(est)} ± {(b['upper'] - b['lower']) / 2:.2g} ({pct}, one-sided)"
    lo, hi = r["ci"]
    half = f"{(hi - lo) / 2:.2g}" if lo is not None and hi is not None else "n/a"
    return f"{_fmt(est)} ± {half} ({pct})"


def _rivals_cell(r: Mapping[str, Any]) -> str:
    rivals = r.get("rivals") or []
    if not rivals:
        return "exact" if (r.get("rule") or {}).get("name") == ExactWithin.__name__ else "none"
    return f"{sum(x['rejected'] for x in rivals)}/{len(rivals)}"


def _table(head: list[str], body: list[list[str]], markdown: bool) -> str:
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


def format_table(rows: Iterable[Mapping[str, Any]], markdown: bool = False) -> str:
    """The verdict table from result dicts (:meth:`ClaimResult.to_dict`): prediction (a bound is
    marked as such), estimate ± CI half-width (exact identities with their tolerance, one-sided
    rules with their one-sided half-width), rivals rejected of declared, verdict."""
    head = ["claim", "quantity", "prediction", "estimate ± CI half-width", "rivals rejected",
            "verdict", "seconds"]
    body = [[r["id"], r["quantity"], _prediction_cell(r), _estimate_cell(r), _rivals_cell(r),
             r["verdict"], f"{r['seconds']:.2f}"] for r in rows]
    return _table(head, body, markdown)


def summary_line(rows: Sequence[Mapping[str, Any]]) -> str:
    """``"N claims: H hold against M rivals rejected, K inconclusive, F fail"`` and how many
    claims declare no rival (exact identities aside)."""
    n = len(rows)
    count = {v: sum(r["verdict"] == v for r in rows) for v in ("holds", "fails", "inconclusive")}
    rejected = sum(x["rejected"] for r in rows for x in (r.get("rivals") or []))
    declared = sum(len(r.get("rivals") or []) for r in rows)
    bare = sum(1 for r in rows if not r.get("rivals")
               and (r.get("rule") or {}).get("name") != ExactWithin.__name__)
    return (f"{n} claims: {count['holds']} hold against {rejected} rivals rejected (of "
            f"{declared} declared), {count['inconclusive']} inconclusive, {count['fails']} fail; "
            f"{bare} claims declare no rival yet")


def planted_summary(results: Sequence[ClaimResult]) -> list[dict[str, Any]]:
    """Per claim with rivals: each rival planted as the prediction (reusing the claim's
    estimate) and its verdict; a rival is rejected when its planted verdict is ``fails``, and a
    planted rival must never hold."""
    out = []
    for res in results:
        if not res.claim.rivals or not math.isfinite(float(res.estimate.value)):
            continue
        runs = planted_runs(res)
        out.append({"id": res.claim.id, "rivals": [
            {"name": p.planted, "prediction": p.to_dict()["prediction"],
             "verdict": p.verdict.status, "reason": p.verdict.reason} for p in runs],
            "rejected": sum(p.verdict.status == "fails" for p in runs),
            "held": [p.planted for p in runs if p.verdict.status == "holds"]})
    return out


def format_planted(rows: Sequence[Mapping[str, Any]], markdown: bool = False) -> str:
    """The planted-run table: per claim, rivals rejected of planted and the planted verdicts."""
    head = ["claim", "planted rivals rejected", "planted verdicts"]
    body = [[r["id"], f"{r['rejected']}/{len(r['rivals'])}",
             "; ".join(f"{x['name']} ({_fmt(x['prediction'])}): {x['verdict']}"
                       for x in r["rivals"])] for r in rows]
    return _table(head, body, markdown)


def _draw(result: Mapping[str, Any], figure: Callable, fig_dir: Path) -> list[str]:
    from . import figures as F

    fig, ax = F.figure(width="single")
    figure(ax, result)
    paths = F.save(fig, fig_dir / result["id"], formats=("pdf", "png"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return [str(p) for p in paths]


def write_report(results: Sequence[ClaimResult], out_dir: str | os.PathLike, *,
                 backend: str = "numpy", seed: int = 0, command: str = "",
                 planted: Sequence[Mapping[str, Any]] | None = None,
                 skipped: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write ``results.json``, ``report.md`` and the figures into ``out_dir``; return paths.

    ``planted``: the rows of :func:`planted_summary`, stored under ``"planted"`` and tabled in
    the report (omitted when None). ``skipped``: claim id → reason for claims that could not
    run (:func:`skipped_claims`), listed in the JSON and the report."""
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
           "environment": environment(backend), "summary": summary_line(rows), "claims": rows}
    if planted is not None:
        doc["planted"] = list(planted)
    doc["skipped"] = dict(skipped or {})
    json_path = out / "results.json"
    # Strict JSON (no NaN/Infinity tokens): non-finite numbers are written as null.
    write_bytes_atomic(json_path, json.dumps(jsonable(doc), indent=2, allow_nan=False,
                                             default=str).encode())
    md = _markdown(doc, figs, out)
    md_path = out / "report.md"
    write_bytes_atomic(md_path, md.encode())
    return {"results": json_path, "report": md_path, "figures": fig_dir}


def _markdown(doc: Mapping[str, Any], figs: Mapping[str, list[str]], out: Path) -> str:
    env = doc["environment"]
    rows = doc["claims"]
    lines = [
        "# rmt verification report", "",
        f"{summary_line(rows)}. Scale `{rows[0]['scale'] if rows else '-'}`, "
        f"seed {doc['seed']}, backend `{env['backend']}` on {env['device']}; rmt {env['rmt']} "
        f"(git {env['git_revision'] or 'unknown'}"
        f"{' with uncommitted changes' if env.get('git_dirty') else ''}), NumPy {env['numpy']}, SciPy {env['scipy']}, "
        f"SymPy {env['sympy']}; {env['time_utc']}.", "",
        "A claim holds only when its prediction is consistent with the estimate and every rival "
        "(a nearest wrong answer) is rejected at the claim's level. Each estimate is given ± the "
        "half-width of its confidence interval at the level shown (one-sided rules: the "
        "one-sided half-width); a prediction marked `(bound)` is a bound, not a value; `exact` "
        "marks a deterministic computation compared at the floating-point tolerance shown; a "
        "`single draw` has no spread over seeds.", "",
        format_table(rows, markdown=True), ""]
    if doc.get("skipped"):
        lines += ["## Skipped claims", "", f"{len(doc['skipped'])} claims not run here:", ""]
        lines += [f"- `{cid}`: {why}" for cid, why in doc["skipped"].items()] + [""]
    if doc.get("planted") is not None:
        pl = doc["planted"]
        lines += ["## Planted runs", "",
                  f"Each rival planted as the prediction (same estimate): "
                  f"{sum(r['rejected'] for r in pl)} of {sum(len(r['rivals']) for r in pl)} "
                  f"planted rivals rejected; planted rivals that hold: "
                  f"{sum(len(r['held']) for r in pl)} (must be 0).", "",
                  format_planted(pl, markdown=True), ""]
    lines += ["## Claims", ""]
    for r in rows:
        lines += [f"### `{r['id']}` — {r['verdict']}", "", r["statement"], "",
                  f"Formula: {r['latex']}", "",
                  f"Quantity: {r['quantity']}. Derivation: `{r['proof'] or '-'}`. "
                  f"Rule: {r['rule']['name']} ({r['rule']['predicts']}). "
                  f"Parameters: `{json.dumps(r['parameters'], default=str)}`.", "",
                  f"Verdict: {r['reason']}.", ""]
        if r["rivals"]:
            lines += ["Rivals:", ""]
            lines += [f"- {x['name']}: {_fmt(x['value'])} — "
                      f"{'rejected' if x['rejected'] else 'NOT rejected'} ({x['detail']})"
                      + (f"; about {x['trials_to_separate']} trials would separate it"
                         if x["trials_to_separate"] else "")
                      + (f". Derivation `{x['proof']}`" if x["proof"] else "")
                      + (f". {x['note']}" if x["note"] else "") + "." for x in r["rivals"]]
            lines += [""]
        if r.get("figure_error"):
            lines += [f"Figure not drawn: {r['figure_error']}.", ""]
        for p in figs.get(r["id"], []):
            if p.endswith(".png"):
                rel = os.path.relpath(p, out)
                lines += [f"![{r['id']}]({rel})", ""]
    return "\n".join(lines)


def redraw_figures(results_path: str | os.PathLike, out_dir: str | os.PathLike) -> list[str]:
    """Redraw every claim's figure from a stored ``results.json`` (no recomputation).

    A claim whose stored numbers cannot draw its figure (an edited or truncated file) is
    skipped with a warning naming it and the reason; the other figures are still drawn.
    Raises ValueError when no figure could be drawn at all, naming each failure.
    """
    import warnings

    path = Path(results_path)
    if path.is_dir():
        path = path / "results.json"
    what = ("rmt figures reads the results.json written by rmt verify (a simulation's "
            "results file is redrawn by its own command with --redraw, e.g. "
            "python -m simulations.block_ratio --redraw --out FILE)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"from: no results file at {str(path)!r}") from None
    except UnicodeDecodeError:
        raise ValueError(f"from: {str(path)!r} is not a text (JSON) file; {what}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"from: {str(path)!r} is not valid JSON ({exc}); {what}") from None
    if not isinstance(doc, dict) or doc.get("rmt_results") != "verify":
        raise ValueError(f"from: {str(path)!r} is not an rmt verify results file; {what}")
    reg = registry()
    written: list[str] = []
    failed: list[str] = []
    for row in doc.get("claims", []):
        claim = reg.get(row.get("id")) if isinstance(row, dict) else None
        if claim is None or claim.figure is None:
            continue
        try:
            written += _draw(row, claim.figure, Path(out_dir))
        except Exception as exc:  # noqa: BLE001 - a damaged row must not cost the others
            import matplotlib.pyplot as plt

            plt.close("all")
            failed.append(f"{row['id']} ({type(exc).__name__}: {exc})")
            warnings.warn(f"figure of claim {row['id']} not drawn: its stored numbers are "
                          f"incomplete ({type(exc).__name__}: {exc})", UserWarning,
                          stacklevel=2)
    if failed and not written:
        raise ValueError(f"from: no figure could be drawn from {str(path)!r}: "
                         + "; ".join(failed))
    return written
