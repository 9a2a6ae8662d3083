"""A tiny sweep: the template for running a simulation as a sweep, and the tests' subject.

    python -m simulations._sweep_demo --out results/_sweep_demo.nc
    python -m simulations._sweep_demo --out results/_sweep_demo.nc --scheduler processes
    python -m simulations._sweep_demo --out results/_sweep_demo.nc --scheduler tcp://HOST:8786

Each cell draws ``a + 2`` standard normals from its own seed and returns their mean scaled by
``b`` and the draws themselves (a 1-D output whose length varies across cells).
``--sleep`` and ``--log`` exist for the tests: the cell sleeps that long and then appends
``<cell index>`` to the log file, so a test can kill a run mid-way and count recomputations.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np

from rmt.cli import ArgumentParser, run_command
from rmt.sweep import Grid, add_sweep_arguments, run_from_args
from rmt.validation import int_arg, real_arg

PARAMETERS = {"a": [1, 2, 3], "b": [0.5, 1.5]}


def cell(a: int, b: float, *, seed: np.random.SeedSequence, sleep: float = 0.0,
         log: str | None = None) -> dict[str, float | np.ndarray]:
    """One cell: ``b * mean(x)`` and ``x``, with ``x`` of ``a + 2`` N(0, 1) draws from ``seed``."""
    x = np.random.default_rng(seed).standard_normal(int(a) + 2)
    if sleep:
        time.sleep(sleep)
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{seed.spawn_key[-1]}\n".encode())
        finally:
            os.close(fd)
    return {"scaled_mean": float(b * x.mean()), "draws": x}


def visible_gpu(a: int, *, seed: np.random.SeedSequence) -> dict[str, float]:
    """The GPU this cell's worker may use (``CUDA_VISIBLE_DEVICES``; -1 when unset)."""
    return {"gpu": float(os.environ.get("CUDA_VISIBLE_DEVICES", "-1").split(",")[0] or -1)}


def gpu_cell(a: int, *, seed: np.random.SeedSequence, backend: str = "cupy") -> dict[str, float]:
    """``sum(x)`` over ``a + 2`` normals drawn from ``seed`` (on the host), summed on ``backend``."""
    from rmt.backend import standard_normal, to_numpy, xp_for

    xp = xp_for(backend)
    x = standard_normal((int(a) + 2,), seed, xp, draw_on="host")
    return {"total": float(to_numpy(xp.sum(x)))}


def grid(n_seeds: int = 2, seed: int = 0, sleep: float = 0.0, log: str | None = None) -> Grid:
    """The demo's grid: 3 × 2 parameter values × ``n_seeds`` seeds."""
    return Grid(PARAMETERS, n_seeds=n_seeds, seed=seed, fixed={"sleep": sleep, "log": log})


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m simulations._sweep_demo", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int_arg(0), default=0, help="base seed (default 0)")
    parser.add_argument("--n-seeds", type=int_arg(1), default=2, help="seeds per cell (default 2)")
    parser.add_argument("--sleep", type=real_arg(0.0), default=0.0,
                        help="seconds each cell sleeps")
    parser.add_argument("--log", default=None, help="file each finished cell appends its index to")
    add_sweep_arguments(parser, default_out="results/_sweep_demo.nc")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    def run(args: argparse.Namespace) -> int:
        run_from_args(cell, grid(args.n_seeds, args.seed, args.sleep, args.log), args)
        return 0

    return run_command(build_parser(), argv, run)


if __name__ == "__main__":
    raise SystemExit(main())
