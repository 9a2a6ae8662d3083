"""Computing cells: one cell in any process, and the executors that run the missing cells of a
sweep (in this process, on local worker processes, or on a Dask cluster) and yield
``(index, outputs, meta)`` as cells complete."""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .grid import SEED_DIM, Grid, _check_name

_SCHEDULER_RE = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://\S+$")


class CellError(RuntimeError):
    """The cell function raised (or returned something that is not a dict of numbers)."""



def _normalise_outputs(out: Any) -> dict[str, np.ndarray]:
    from rmt.backend import to_numpy  # noqa: PLC0415

    if not isinstance(out, Mapping) or len(out) == 0:
        raise TypeError(
            "the cell function must return a non-empty dict of name -> float or 1-D array, "
            f"got {type(out).__name__}"
        )
    result: dict[str, np.ndarray] = {}
    for key, value in out.items():
        _check_name("output names", key)
        if key == SEED_DIM:
            raise ValueError("output names must not be 'seed' (reserved for the seed dimension)")
        arr = np.asarray(to_numpy(value))
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"output {key!r} must be real numbers, got dtype {arr.dtype}")
        if arr.ndim > 1:
            raise ValueError(f"output {key!r} must be a number or a 1-D array, got shape {arr.shape}")
        result[key] = np.array(arr, dtype=np.float64, order="C")  # a copy; 0-D stays 0-D
    return result


@functools.lru_cache(maxsize=4)
def _device_label(backend: str) -> str:
    from rmt.backend import device_name, xp_for  # noqa: PLC0415

    try:
        return device_name(xp_for(backend))
    except Exception:
        return "unknown"


def _compute_cell(f: Callable[..., Any], params: Mapping[str, Any], fixed: Mapping[str, Any],
                  seed: np.random.SeedSequence, backend: str) -> tuple[dict[str, np.ndarray], dict]:
    start = time.perf_counter()
    out = f(**params, **fixed, seed=seed)
    outputs = _normalise_outputs(out)
    meta = {
        "seconds": time.perf_counter() - start,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "device": _device_label(backend),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    return outputs, meta



def check_scheduler(scheduler: Any, name: str = "scheduler") -> Any:
    """Validate a scheduler: ``"local"``, ``"processes"``, a Dask address such as
    ``"tcp://HOST:8786"``, or a ``distributed.Client`` (returned unchanged).

    Raises
    ------
    ValueError
        For anything else, naming the valid choices.
    """
    if hasattr(scheduler, "submit") and hasattr(scheduler, "nthreads"):
        return scheduler  # a distributed.Client
    if isinstance(scheduler, str):
        s = scheduler.strip()
        if s.lower() in ("local", "processes"):
            return s.lower()
        if _SCHEDULER_RE.match(s):
            return s
    raise ValueError(
        f"{name} must be 'local', 'processes', a Dask scheduler address such as "
        f"'tcp://HOST:8786', or a distributed.Client; got {scheduler!r}"
    )


def _distributed_available() -> bool:
    try:
        import distributed  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _import_distributed() -> Any:
    try:
        import distributed  # noqa: PLC0415
    except ImportError as exc:
        from rmt.backend import install_hint  # noqa: PLC0415

        raise ImportError(
            "a Dask scheduler address needs dask.distributed, which is not installed; "
            f"install the extra with {install_hint('sweep')}"
        ) from exc
    return distributed


def _run_local(f, grid, todo, backend):
    yield None  # ready (the executors yield None once their workers are up, then results)
    for index in todo:
        cell = grid.cell(index)
        try:
            outputs, meta = _compute_cell(f, cell.params, grid.fixed, cell.seed, backend)
        except Exception as exc:
            raise _cell_error(grid, index, exc) from exc
        yield index, outputs, meta


def _cell_error(grid: Grid, index: int, exc: BaseException) -> CellError:
    cell = grid.cell(index)
    return CellError(
        f"cell {index} ({', '.join(f'{k}={v!r}' for k, v in cell.params.items())}, "
        f"seed index {cell.seed_index}) failed: {type(exc).__name__}: {exc}"
    )


def _run_dask(f, grid, todo, backend, scheduler, n_workers):
    distributed = _import_distributed()
    cluster = client = scratch = None
    own_client = not hasattr(scheduler, "submit")
    try:
        if scheduler == "processes":
            # Workers' scratch space in a temporary directory of our own, removed at the end.
            import dask  # noqa: PLC0415

            scratch = tempfile.TemporaryDirectory(prefix="rmt-dask-")
            with dask.config.set({"temporary-directory": scratch.name}):
                if backend == "cupy":
                    cluster = _gpu_cluster(distributed, n_workers, scratch.name)
                else:
                    cluster = distributed.LocalCluster(
                        n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                        processes=True, dashboard_address=None, silence_logs=logging.ERROR,
                        local_directory=scratch.name,
                    )
            client = distributed.Client(cluster, set_as_default=False)
        elif own_client:
            client = distributed.Client(scheduler, timeout="60s", set_as_default=False)
        else:
            client = scheduler
        threads = sum(client.nthreads().values()) or 1
        window = max(8, 4 * threads)
        fixed = grid.fixed
        todo_iter = iter(todo)
        index_of: dict[Any, int] = {}

        def submit(index: int) -> Any:
            cell = grid.cell(index)
            fut = client.submit(_compute_cell, f, cell.params, fixed, cell.seed, backend, pure=False)
            index_of[fut.key] = index
            return fut

        ac = distributed.as_completed([submit(i) for i in itertools.islice(todo_iter, window)],
                                      loop=client.loop)
        yield None  # workers up: start the clock of the progress bar
        try:
            for fut in ac:
                index = index_of.pop(fut.key)
                try:
                    outputs, meta = fut.result()
                except Exception as exc:
                    raise _cell_error(grid, index, exc) from exc
                del fut
                yield index, outputs, meta
                nxt = next(todo_iter, None)
                if nxt is not None:
                    ac.add(submit(nxt))
        finally:
            pending = list(getattr(ac, "futures", ()))  # cells still queued or running
            if pending:
                with contextlib.suppress(Exception):
                    client.cancel(pending)
    finally:
        if own_client and client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=30)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=30)
        if scratch is not None:
            scratch.cleanup()


def _local_gpu_ids() -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else all CuPy sees."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None and env.strip():
        return [g.strip() for g in env.split(",") if g.strip()]
    from rmt.backend import get_cupy  # noqa: PLC0415

    return [str(i) for i in range(get_cupy().cuda.runtime.getDeviceCount())]


def _gpu_cluster(distributed: Any, n_workers: int | None, scratch: str) -> Any:
    """A local cluster of single-threaded workers, one per GPU, each seeing only its GPU."""
    ids = _local_gpu_ids()
    if not ids:
        raise ValueError("backend='cupy' with scheduler='processes' needs a GPU, but none is visible")
    if n_workers is not None and n_workers > len(ids):
        raise ValueError(
            f"n_workers must be <= the number of GPUs ({len(ids)}) for backend='cupy' with "
            f"scheduler='processes' (one GPU per worker), got {n_workers}"
        )
    ids = ids[: n_workers or len(ids)]
    workers = {
        f"gpu-{gid}": {"cls": distributed.Nanny, "options": {
            "nthreads": 1, "env": {"CUDA_VISIBLE_DEVICES": gid}, "local_directory": scratch,
            "silence_logs": logging.ERROR}}
        for gid in ids
    }
    scheduler = {"cls": distributed.Scheduler, "options": {"dashboard": False,
                                                           "dashboard_address": None}}
    return distributed.SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR)


def _run_process_pool(f, grid, todo, backend, n_workers):
    import concurrent.futures as cf  # noqa: PLC0415
    import multiprocessing  # noqa: PLC0415

    workers = n_workers or os.cpu_count() or 1
    window = max(8, 4 * workers)
    fixed = grid.fixed
    todo_iter = iter(todo)
    with cf.ProcessPoolExecutor(max_workers=workers,
                                mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: dict[Any, int] = {}

        def submit(index: int) -> None:
            cell = grid.cell(index)
            pending[pool.submit(_compute_cell, f, cell.params, fixed, cell.seed, backend)] = index

        for index in itertools.islice(todo_iter, window):
            submit(index)
        yield None
        try:
            while pending:
                done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    index = pending.pop(fut)
                    try:
                        outputs, meta = fut.result()
                    except Exception as exc:
                        raise _cell_error(grid, index, exc) from exc
                    yield index, outputs, meta
                    nxt = next(todo_iter, None)
                    if nxt is not None:
                        submit(nxt)
        finally:
            for fut in pending:
                fut.cancel()


def _execute(f, grid, todo, backend, scheduler, n_workers):
    if scheduler == "local" or not todo:  # nothing to compute: start no workers
        return _run_local(f, grid, todo, backend)
    if scheduler == "processes" and not _distributed_available():
        return _run_process_pool(f, grid, todo, backend, n_workers)
    return _run_dask(f, grid, todo, backend, scheduler, n_workers)

