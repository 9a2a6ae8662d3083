"""Paired, alternating timings and the run's environment (machine, load, versions, threads).

``paired(a, b)`` runs ``a, b, a, b, …`` after a warm-up of each and takes the ratio ``b/a``
pair by pair: a drift in the machine's speed (other jobs on a shared CPU) then moves both
members of a pair alike, and the median of the pair ratios is the figure to quote.
"""

from __future__ import annotations

import importlib
import os
import platform
import statistics
import time
from typing import Any, Callable


def paired(fa: Callable[[], Any], fb: Callable[[], Any], n: int = 5,
           sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Median seconds of ``fa`` and ``fb`` over ``n`` alternating pairs, and the median of the
    per-pair ratios ``t_b / t_a`` (with min and max, the spread a noisy machine shows)."""
    fa()
    fb()
    ta, tb = [], []
    for _ in range(max(1, n)):
        for f, out in ((fa, ta), (fb, tb)):
            sync()
            t0 = time.perf_counter()
            f()
            sync()
            out.append(time.perf_counter() - t0)
    r = [b / a for a, b in zip(ta, tb)]
    return {"a": statistics.median(ta), "b": statistics.median(tb),
            "ratio": statistics.median(r), "ratio_min": min(r), "ratio_max": max(r), "n": len(r)}


def best(f: Callable[[], Any], n: int = 3) -> tuple[float, Any]:
    """Best of ``n`` timings after one warm-up, and the last value."""
    out = f()
    t = float("inf")
    for _ in range(max(1, n)):
        t0 = time.perf_counter()
        out = f()
        t = min(t, time.perf_counter() - t0)
    return t, out


def load() -> str:
    """``/proc/loadavg``'s three load averages (or ``os.getloadavg``)."""
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(names: tuple[str, ...]) -> dict[str, str]:
    from importlib import metadata  # noqa: PLC0415

    dist = {"curvlinops": "curvlinops-for-pytorch"}
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(dist.get(name, name))
        except metadata.PackageNotFoundError:
            try:
                out[name] = str(importlib.import_module(name).__version__)
            except Exception:  # noqa: BLE001 - absent or broken: say so
                out[name] = "not installed"
    return out


def threads() -> str:
    """Thread settings: the environment variables that set them, BLAS pools, torch."""
    env = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "MKL_NUM_THREADS") if k in os.environ]
    parts = env or ["no *_NUM_THREADS set"]
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415

        parts += [f"{p.get('internal_api')} {p.get('num_threads')} threads"
                  for p in threadpool_info()]
    except ImportError:
        pass
    try:
        import torch  # noqa: PLC0415

        parts.append(f"torch {torch.get_num_threads()} threads")
    except ImportError:
        pass
    return ", ".join(parts)
