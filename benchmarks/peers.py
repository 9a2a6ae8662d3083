"""rmt side by side with its peers, in one command: one Markdown table of time ratios.

    pip install torch==2.13.0 && pip install -e '.[bench]'   # CPU torch, mpmath
    pip install --no-deps curvlinops-for-pytorch backpack-for-pytorch einconv unfoldNd \
        linear_operator einops opt_einsum   # curvlinops without its CUDA torch
    python -m benchmarks.peers          # a few minutes; --quick: about a minute; --full: more
    python -m benchmarks.peers --readme # also rewrite the README's generated Performance block

scikit-rmt and freealg pin NumPy ≤ 1.26: they run in their own virtual environment, made on first
use (:mod:`benchmarks.peer_venv`; ``--no-venv`` skips them). Every timing is paired and
alternating (:func:`benchmarks.timing.paired`), and the table says the machine, its load before
and after, the versions and the thread settings. Ratios are ``peer time / rmt time`` (> 1: rmt
faster) at the accuracy stated in the same row; a peer that is wrong is reported as wrong.
Sections: laws (MP, weighted MP), Hessian block norms and ratios (dense autodiff, planned
Hutchinson from torch.func and curvlinops HVPs, the GEMM floor, the sampled estimator), SLQ.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


from benchmarks import peer_sections as S
from benchmarks.timing import cpu_name, load, threads, versions

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- peers:begin (python -m benchmarks.peers --readme) -->", "<!-- peers:end -->"


def table(rows: list[dict], header: list[str]) -> str:
    cols = ["comparison", "rmt", "peer", "peer/rmt", "accuracy rmt", "accuracy peer"]
    out = header + ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(k, "")) for k in
                                     ("what", "rmt", "peer", "ratio", "acc_rmt", "acc_peer")) + " |")
    notes = [f"- {r['what']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(out + ([""] + notes if notes else [])) + "\n"


def write_readme(md: str) -> None:
    path = ROOT / "README.md"
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md has no {BEGIN} … {END} block to rewrite")
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text[:a] + "\n" + md + text[b:])
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, few repeats (~1 min)")
    size.add_argument("--full", action="store_true", help="more sizes and 200-seed coverage")
    ap.add_argument("--no-venv", action="store_true", help="skip scikit-rmt and freealg")
    ap.add_argument("--readme", action="store_true", help="rewrite the README's block")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "peers.md"),
                    help="Markdown file to write (default benchmarks/results/peers.md)")
    ap.add_argument("--only", nargs="+", choices=S.SECTIONS, default=list(S.SECTIONS),
                    help="run only these sections")
    a = ap.parse_args(argv)
    mode = "quick" if a.quick else ("full" if a.full else "default")
    load0, t0 = load(), time.perf_counter()
    rows: list[dict] = []
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in a.only:
        print(f"[{time.strftime('%H:%M:%S')}] {name} …", file=sys.stderr, flush=True)
        rows += S.SECTIONS[name](mode, venv=not a.no_venv)
        md = table(rows, _header(mode, load0, t0))
        tmp = out.with_suffix(out.suffix + ".tmp")     # after each section: a killed run
        tmp.write_text(md)                             # still leaves what it measured
        os.replace(tmp, out)
    print(md)
    if a.readme:
        write_readme(md)
    return 0


def _header(mode: str, load0: str, t0: float) -> list[str]:
    vers = versions(("numpy", "scipy", "torch", "curvlinops", "mpmath"))
    vers.update(S.venv_versions())
    return [
        f"Measured by `python -m benchmarks.peers{'' if mode == 'default' else ' --' + mode}` on "
        f"{time.strftime('%Y-%m-%d')}: {cpu_name()}, {os.cpu_count()} cores; load average "
        f"{load0} before, {load()} after ({time.perf_counter() - t0:.0f} s).",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".",
        f"Threads: {threads()}. Timings paired and alternating (median of the pair ratios); "
        "ratio = peer time / rmt time.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
