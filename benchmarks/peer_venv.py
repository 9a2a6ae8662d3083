"""The peers that pin an old NumPy (scikit-rmt 2.1 and freealg 0.12 need NumPy ≤ 1.26) live in
their own virtual environment, made here on first use and spoken to through a worker process.

    python -m benchmarks.peer_venv            # make it (or say where it is)

Location: ``$RMT_BENCH_VENV``, else ``$XDG_CACHE_HOME/rmt-bench/peers-venv`` (default
``~/.cache/rmt-bench/peers-venv``). It is made with ``python -m venv`` and
``pip install scikit-rmt freealg`` from the package index; nothing is installed into the
environment that runs rmt (scikit-rmt would downgrade its NumPy and SciPy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGES = ("scikit-rmt", "freealg")


def venv_dir() -> Path:
    if os.environ.get("RMT_BENCH_VENV"):
        return Path(os.environ["RMT_BENCH_VENV"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "rmt-bench" / "peers-venv"


def venv_python(create: bool = True) -> Path | None:
    """The venv's python, making the venv when ``create`` (None if absent or it fails)."""
    py = venv_dir() / "bin" / "python"
    if py.exists():
        return py
    if not create:
        return None
    print(f"making the peers' virtual environment at {venv_dir()} (scikit-rmt, freealg) …",
          file=sys.stderr, flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv_dir())], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"could not make it: {exc}", file=sys.stderr)
        return None
    return py


class Worker:
    """A running :mod:`benchmarks._venv_worker`; ``call(op, **args)`` returns (values, seconds)
    or raises RuntimeError with the peer's own error message."""

    def __init__(self, python: Path):
        script = Path(__file__).with_name("_venv_worker.py")
        self.proc = subprocess.Popen([str(python), str(script)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def call(self, op: str, **args: Any) -> tuple[Any, float]:
        args = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in args.items()}
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        ans = json.loads(self.proc.stdout.readline())
        if not ans.get("ok"):
            raise RuntimeError(ans.get("error", "worker failed"))
        return ans["values"], float(ans["seconds"])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


if __name__ == "__main__":
    p = venv_python(create=True)
    print(p if p else "no peers' environment")
    raise SystemExit(0 if p else 1)
