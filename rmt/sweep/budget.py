"""What a sweep will cost, said before it runs: flop counts of its cells, this machine's rate,
the estimated seconds per parameter value and in total.

The estimate is printed and may warn; it never chooses the grid. A run's parameters are fixed by
its arguments alone, so two runs of one command under different machine load are the same sweep,
and a run killed under load resumes (a grid cut where the estimate crossed a budget would move
with the load, and the resumed run would be refused as a different sweep).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from rmt import backend as bk
from rmt.validation import check_choice, check_int, check_real

from .grid import Grid

__all__ = ["block_ratio_flops", "measure_rate", "time_call", "calibrate_rate",
           "estimate_seconds", "budget_warning"]

#: Seconds a cell costs beyond its flops (Python, allocation, storing the cell file).
CELL_OVERHEAD_S = 0.05


def block_ratio_flops(model: str, n_classes: int, n_samples: int, dim: int, pairs: int,
                      hidden: int = 8) -> float:
    """Flops of one :func:`rmt.hessian.block_ratio` cell as the block-ratio sweep runs it.

    Linear model, ``C`` classes, ``N`` samples, ``K = min(pairs, C(C−1))`` sampled pairs:
    ``4NdC + 3N²C + 2N²d + 2N²(K + min(K, C))`` (the logits twice, the three symmetric products
    of the exact aggregate, the Gram matrix, the sampled pairs) — O(N²(d + C)). One hidden layer
    of ``m`` units: the V-blocks ``4NmC + 3N²C + 2N²(K + min(K, C))`` plus the W-blocks
    ``4N²d + 4N²m² + 16NC(m² + 2m)``.
    """
    model = check_choice("model", model, ("linear", "hidden"))
    C, N, d = (check_int(n, v, 1) for n, v in (("n_classes", n_classes), ("n_samples", n_samples),
                                               ("dim", dim)))
    K = min(check_int("pairs", pairs, 0), C * (C - 1))
    if model == "linear":
        return 4.0 * N * d * C + 3.0 * N * N * C + 2.0 * N * N * d + 2.0 * N * N * (K + min(K, C))
    m = check_int("hidden", hidden, 1)
    v = 4.0 * N * m * C + 3.0 * N * N * C + 2.0 * N * N * (K + min(K, C))
    w = 4.0 * N * N * d + 4.0 * N * N * m * m + 16.0 * N * C * (m * m + 2 * m)
    return v + w


def time_call(f: Callable[[], Any], backend: str | None = None) -> tuple[float, Any]:
    """``f()`` timed in seconds, with the ``backend``'s device synchronised on both sides; the
    seconds and what ``f`` returned."""
    xp = bk.xp_for(backend)
    bk.synchronize(xp)
    t0 = time.perf_counter()
    out = f()
    bk.synchronize(xp)
    return time.perf_counter() - t0, out


def measure_rate(backend: str | None = None, dtype: Any = None, n: int = 768) -> float:
    """Flops per second of one ``n × n × n`` matrix product on this machine (best of 3)."""
    n = check_int("n", n, 1)
    xp = bk.xp_for(backend)
    a = bk.standard_normal((n, n), 0, xp, dtype)
    best = min(time_call(lambda: a @ a, backend)[0] for _ in range(3))
    return 2.0 * n ** 3 / max(best, 1e-9)


def calibrate_rate(f: Callable[..., Any], params: Mapping[str, Any], flops: float, *,
                   warmup: Mapping[str, Any] | None = None, backend: str | None = None) -> float:
    """Effective flops per second of a real cell on this machine under its current load:
    ``flops / seconds`` of ``f(**params)``, after one untimed ``f(**warmup)`` (imports, caches).

    Softmax exponentials, memory traffic and Python overheads put this well below the
    matrix-product rate of :func:`measure_rate` (0.3–0.5 of it for the block-ratio cells).
    """
    if warmup is not None:
        f(**warmup)
    seconds, _ = time_call(lambda: f(**params), backend)
    return check_real("flops", flops, 0.0) / max(seconds, 1e-9)


def estimate_seconds(grid: Grid, flops: Callable[[Mapping[str, Any]], float], rate: float, *,
                     by: str) -> tuple[dict[Any, float], float]:
    """Estimated seconds of every cell of ``grid``: ``flops(cell arguments)/rate`` plus
    :data:`CELL_OVERHEAD_S`, summed per value of the parameter ``by`` and in total.

    ``flops`` receives the cell's swept parameters and the grid's fixed arguments as one mapping.
    """
    if by not in grid.names:
        raise ValueError(f"by must name a swept parameter {grid.names}, got {by!r}")
    rate = check_real("rate", rate, 0.0, strict_min=True)
    fixed = grid.fixed
    per = {v: 0.0 for v in grid.parameters[by]}
    for cell in grid.cells():
        per[cell.params[by]] += flops({**cell.params, **fixed}) / rate + CELL_OVERHEAD_S
    return per, math.fsum(per.values())


def budget_warning(total: float, budget: float, *, flag: str = "--c-max") -> str | None:
    """A warning when the estimated ``total`` seconds exceed ``budget`` (None otherwise): the
    run goes on with the grid it was given; ``flag`` names how to ask for a smaller one."""
    if total <= check_real("budget", budget, 0.0, strict_min=True):
        return None
    return (f"warning: the estimated {total:.0f} s exceed the budget of {budget:g} s; the grid "
            f"stays as asked (a smaller one: {flag}); a run stopped now resumes where it stopped")
