"""Parameter sweeps that survive being killed, and scale from one process to a Dask cluster.

A sweep is a :class:`Grid` of *cells*: every combination of the swept parameter values, times
``n_seeds`` independent seeds. Cell ``i`` (in the canonical order: the parameters' product in
the order given, the seed index varying fastest) gets the random stream
``SeedSequence(seed).spawn(n_cells)[i]``, so a cell's numbers depend on nothing but the grid and
its index: not on the scheduler, the number of workers, or the order cells finish in.

A *cell function* computes one cell::

    def f(**params, seed: numpy.random.SeedSequence, **fixed) -> dict[str, float | 1-D array]

:func:`run_sweep` runs the missing cells and stores each finished one at once, atomically, as a
small ``.npz`` file in ``<out>.cells/`` (written by the driver process, whatever the scheduler).
``<out>.cells/manifest.json`` records the sweep: the parameters and their values, the seeds,
the fixed arguments and the cell function's name. Rerunning the same sweep into the same
``out`` computes only the cells not yet stored and ends with exactly the numbers of an
uninterrupted run; rerunning a *different* sweep there raises ValueError (never a silent merge).
Each cell file carries a SHA-256 checksum of its numbers; a damaged one raises
:class:`CorruptCellError` naming the file. Finally the cells are assembled into an
:class:`xarray.Dataset` (dimensions: the parameter names, then ``seed``, then ``<name>_index``
for 1-D outputs) and saved with :func:`rmt.results.save` to ``out``.

Schedulers
----------
``"local"`` (default)
    Cells run one after another in this process. Needs neither Dask nor pickling.
``"processes"``
    A local Dask cluster (``distributed.LocalCluster``, one single-threaded worker process per
    CPU, or ``n_workers``); falls back to :class:`concurrent.futures.ProcessPoolExecutor` when
    ``distributed`` is not installed. With ``backend="cupy"`` it starts one worker per visible
    GPU instead, each with ``CUDA_VISIBLE_DEVICES`` set to its own GPU. The cell function must
    be picklable (defined at module level).
``"tcp://HOST:PORT"``
    An existing Dask cluster (any address ``distributed.Client`` accepts). Workers must be able
    to import the cell function's module (Dask pickles functions defined in ``__main__`` by
    value), i.e. have rmt and the project installed.

One GPU per worker: start one single-threaded worker per GPU, each seeing only its device, e.g.
on every GPU node::

    dask scheduler --port 8786                      # once, on the head node
    for i in 0 1 2 3; do
        CUDA_VISIBLE_DEVICES=$i dask worker tcp://HEAD:8786 --nworkers 1 --nthreads 1 &
    done

or, with dask-cuda installed, ``dask cuda worker tcp://HEAD:8786`` (one worker per visible GPU,
``CUDA_VISIBLE_DEVICES`` set for each). Then run ``python -m simulations.NAME --scheduler
tcp://HEAD:8786``. Inside a worker CuPy sees its one device as device 0. Neither dask-cuda nor
a GPU is required for anything here; the ``device`` attribute of the results lists the devices
the cells actually ran on.

Dask and xarray are optional for the rest of rmt: they are imported only when needed, and their
absence raises an ImportError naming the ``rmt[sweep]`` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import itertools
import json
import keyword
import logging
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rmt import results as _results
from rmt.validation import check_int

__all__ = [
    "SEED_DIM",
    "Cell",
    "CellError",
    "CorruptCellError",
    "Grid",
    "add_sweep_arguments",
    "cells_path",
    "check_scheduler",
    "run_from_args",
    "run_sweep",
]

#: Name of the dimension (and coordinate) that indexes the seeds of a cell.
SEED_DIM = "seed"
_MANIFEST = "manifest.json"
_LOCK = ".lock"
_CELL_RE = re.compile(r"^cell-(\d+)\.npz$")
_META_KEY = "__meta__"
_CELLS_FORMAT = "rmt-sweep-cells"
_CELLS_FORMAT_VERSION = 1
_SCHEDULER_RE = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://\S+$")


class CorruptCellError(ValueError):
    """A stored cell file that cannot be read, fails its checksum, or belongs to another sweep."""


class CellError(RuntimeError):
    """The cell function raised (or returned something that is not a dict of numbers)."""


# --------------------------------------------------------------------------------------------
# the grid


def _normalise_value(name: str, value: Any) -> int | float | str | bool:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"parameters[{name!r}] values must be finite numbers, got {value!r}")
        return value
    if isinstance(value, str):
        return value
    raise ValueError(
        f"parameters[{name!r}] values must be ints, floats, strings or bools, "
        f"got {value!r} ({type(value).__name__})"
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "str"
    return "number"


def _check_name(what: str, name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"{what} must be valid Python identifiers, got {name!r}")
    if name.startswith("__"):
        raise ValueError(f"{what} must not start with '__', got {name!r}")
    return name


@dataclass(frozen=True)
class Cell:
    """One cell of a :class:`Grid`: its canonical index, parameter values and seed."""

    index: int
    params: Mapping[str, Any]
    seed_index: int
    seed: np.random.SeedSequence


class Grid:
    """The cells of a sweep: parameter combinations × seeds, in a canonical order.

    Parameters
    ----------
    parameters : mapping of str to sequence
        Swept parameter name → the values to take (non-empty, distinct; ints, finite floats,
        strings or bools, one kind per parameter). Names must be Python identifiers other than
        ``seed``; their order fixes the order of the dimensions and of the cells.
    n_seeds : int, default 1
        Independent seeds per parameter combination (>= 1).
    seed : int, default 0
        Base seed (>= 0). Cell ``i`` gets ``SeedSequence(seed).spawn(n_cells)[i]``.
    fixed : mapping of str to JSON value, optional
        Arguments passed unchanged to every cell (sizes, backend, ...). They are part of the
        sweep's identity: a rerun with other fixed values under the same ``out`` is refused.
        Values are passed as they come back from JSON (tuples become lists, paths strings).

    Examples
    --------
    >>> g = Grid({"C": [10, 50], "gamma": [0.5]}, n_seeds=3, seed=1)
    >>> g.shape, g.n_cells
    ((2, 1, 3), 6)
    >>> c = g.cell(4)
    >>> dict(c.params), c.seed_index
    ({'C': 50, 'gamma': 0.5}, 1)
    """

    def __init__(self, parameters: Mapping[str, Sequence[Any]], n_seeds: int = 1, seed: int = 0,
                 fixed: Mapping[str, Any] | None = None) -> None:
        if not isinstance(parameters, Mapping):
            raise ValueError(
                f"parameters must be a dict of name -> list of values, got {type(parameters).__name__}"
            )
        if len(parameters) == 0:
            raise ValueError("parameters must name at least one swept parameter, got an empty dict")
        names: list[str] = []
        values: list[tuple[Any, ...]] = []
        for name, vals in parameters.items():
            _check_name("parameter names", name)
            if name == SEED_DIM:
                raise ValueError("parameter names must not be 'seed' (reserved for the seed dimension)")
            if isinstance(vals, (str, bytes)) or not isinstance(vals, (Sequence, np.ndarray, range)):
                raise ValueError(f"parameters[{name!r}] must be a list of values, got {vals!r}")
            vals = tuple(_normalise_value(name, v) for v in vals)
            if not vals:
                raise ValueError(f"parameters[{name!r}] must hold at least one value, got none")
            kinds = {_kind(v) for v in vals}
            if len(kinds) > 1:
                raise ValueError(
                    f"parameters[{name!r}] values must all be of one kind (numbers, strings or "
                    f"bools), got a mix: {list(vals)!r}"
                )
            if len(set(vals)) != len(vals):
                raise ValueError(f"parameters[{name!r}] values must be distinct, got {list(vals)!r}")
            names.append(name)
            values.append(vals)
        self._names = tuple(names)
        self._values = tuple(values)
        self._n_seeds = check_int("n_seeds", n_seeds, minimum=1)
        if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(
                f"seed must be a non-negative integer (a sweep needs a fixed seed to resume), got {seed!r}"
            )
        self._seed = check_int("seed", seed, minimum=0)
        fixed = {} if fixed is None else fixed
        if not isinstance(fixed, Mapping):
            raise ValueError(f"fixed must be a dict of name -> value, got {type(fixed).__name__}")
        for name in fixed:
            _check_name("fixed argument names", name)
            if name == SEED_DIM or name in self._names:
                raise ValueError(
                    f"fixed argument {name!r} clashes with a swept parameter or 'seed'; "
                    "each name may appear once"
                )
        try:
            self._fixed = json.loads(json.dumps(dict(fixed), default=_results._json_default))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"fixed values must be JSON-serialisable ({exc})") from None
        self._shape = tuple(len(v) for v in self._values) + (self._n_seeds,)
        self._n_cells = math.prod(self._shape)
        base = np.random.SeedSequence(self._seed)
        self._entropy, self._pool_size = base.entropy, base.pool_size

    # -- properties ---------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Swept parameter names, in dimension order."""
        return self._names

    @property
    def parameters(self) -> dict[str, list[Any]]:
        """Swept parameter name → values (a fresh dict)."""
        return {n: list(v) for n, v in zip(self._names, self._values)}

    @property
    def n_seeds(self) -> int:
        """Seeds per parameter combination."""
        return self._n_seeds

    @property
    def seed(self) -> int:
        """Base seed."""
        return self._seed

    @property
    def fixed(self) -> dict[str, Any]:
        """Arguments passed to every cell (a fresh dict)."""
        return json.loads(json.dumps(self._fixed))

    @property
    def shape(self) -> tuple[int, ...]:
        """Sizes of the parameter dimensions, then ``n_seeds``."""
        return self._shape

    @property
    def n_cells(self) -> int:
        """Number of cells (product of :attr:`shape`)."""
        return self._n_cells

    # -- cells ---------------------------------------------------------------------------------
    def seed_for(self, index: int) -> np.random.SeedSequence:
        """The SeedSequence of cell ``index``: child ``index`` of ``SeedSequence(seed)``."""
        index = check_int("index", index, minimum=0, maximum=self._n_cells - 1)
        return np.random.SeedSequence(self._entropy, spawn_key=(index,), pool_size=self._pool_size)

    def cell(self, index: int) -> Cell:
        """Cell ``index`` (0 <= index < n_cells) in the canonical order."""
        index = check_int("index", index, minimum=0, maximum=self._n_cells - 1)
        pos = np.unravel_index(index, self._shape)
        params = {n: v[int(p)] for n, v, p in zip(self._names, self._values, pos[:-1])}
        return Cell(index, params, int(pos[-1]), self.seed_for(index))

    def cells(self) -> Iterator[Cell]:
        """All cells, in the canonical order."""
        for index in range(self._n_cells):
            yield self.cell(index)

    def __len__(self) -> int:
        return self._n_cells

    def __iter__(self) -> Iterator[Cell]:
        return self.cells()

    # -- identity ------------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """The grid as JSON-ready data (what the manifest records)."""
        return {
            "names": list(self._names),
            "parameters": self.parameters,
            "n_seeds": self._n_seeds,
            "seed": self._seed,
            "fixed": self.fixed,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(_canonical_json(self.spec()))

    def __repr__(self) -> str:
        params = ", ".join(f"{n}={list(v)!r}" for n, v in zip(self._names, self._values))
        fixed = f", fixed={self._fixed!r}" if self._fixed else ""
        return f"Grid({params}; n_seeds={self._n_seeds}, seed={self._seed}{fixed})"


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_results._json_default)


def _function_name(f: Callable[..., Any]) -> str:
    """A stable name for a cell function: ``module.qualname`` (``__main__`` resolved to the
    module name it was run as with ``python -m``); partials include their bound arguments."""
    if isinstance(f, functools.partial):
        args = ", ".join([*(repr(a) for a in f.args),
                          *(f"{k}={v!r}" for k, v in sorted(f.keywords.items()))])
        return f"{_function_name(f.func)}({args})"
    module = getattr(f, "__module__", None) or type(f).__module__
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name.removesuffix(".__main__")
    qualname = getattr(f, "__qualname__", None) or type(f).__qualname__
    return f"{module}.{qualname}"


# --------------------------------------------------------------------------------------------
# computing one cell (runs on workers: top-level and importable)


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


# --------------------------------------------------------------------------------------------
# the cell store


def cells_path(out: str | os.PathLike) -> Path:
    """The directory where the cells of the sweep saved to ``out`` are stored: ``<out>.cells``."""
    out = Path(out)
    return out.with_name(out.name + ".cells")


def _checksum(outputs: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(outputs):
        a = np.array(outputs[key], dtype="<f8", order="C")
        h.update(key.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class _Store:
    """The ``<out>.cells`` directory: manifest, lock and one file per finished cell."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.dir = directory
        self.manifest = manifest
        self.spec_hash = hashlib.sha256(_canonical_json(manifest).encode()).hexdigest()
        self._lock_fh: Any = None

    # -- locking: one driver per directory; the OS drops the lock if the driver dies ----------
    def lock(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / _LOCK, "a+")  # noqa: SIM115 - held for the life of the sweep
        try:
            import fcntl  # noqa: PLC0415 - POSIX only; elsewhere, no lock

            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                raise RuntimeError(
                    f"another process is running a sweep into {self.dir} (its lock is held); "
                    "wait for it to finish or choose another out"
                ) from None
        except ImportError:
            pass
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    # -- layout ----------------------------------------------------------------------------------
    def _entries(self) -> list[Path]:
        return [p for p in self.dir.iterdir() if p.name != _LOCK]

    def is_ours(self) -> bool:
        entries = self._entries()
        return not entries or (self.dir / _MANIFEST).is_file()

    def clear(self) -> None:
        for p in self._entries():
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()

    def remove_temporaries(self) -> None:
        for p in self._entries():
            if p.name.startswith(".tmp-"):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        p.unlink()

    # -- manifest ------------------------------------------------------------------------------
    def check_or_write_manifest(self) -> None:
        path = self.dir / _MANIFEST
        if not path.exists():
            _results.write_bytes_atomic(path, (json.dumps(self.manifest, indent=1) + "\n").encode())
            return
        try:
            stored = json.loads(path.read_text())
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise CorruptCellError(
                f"sweep manifest {path} cannot be read ({exc}); remove {self.dir} "
                "(or rerun with resume=False / --no-resume) to start the sweep afresh"
            ) from None
        if stored.get("format") != _CELLS_FORMAT:
            raise ValueError(f"{path} is not an rmt sweep manifest (format {stored.get('format')!r})")
        diffs = [
            f"{key}: stored {stored.get(key)!r}, requested {self.manifest.get(key)!r}"
            for key in self.manifest if stored.get(key) != self.manifest.get(key)
        ]
        if diffs:
            raise ValueError(
                f"out already holds cells of a different sweep ({self.dir}); refusing to mix "
                f"them. Differences: {'; '.join(diffs)}. Choose another out, or rerun with "
                "resume=False (--no-resume) to discard the stored cells"
            )

    # -- cells -----------------------------------------------------------------------------------
    def cell_file(self, index: int) -> Path:
        return self.dir / f"cell-{index:09d}.npz"

    def stored_indices(self) -> list[int]:
        found = []
        for p in self.dir.iterdir():
            m = _CELL_RE.match(p.name)
            if m:
                found.append(int(m.group(1)))
        return sorted(found)

    def write_cell(self, index: int, outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        meta = {**meta, "index": index, "spec_hash": self.spec_hash, "sha256": _checksum(outputs),
                "keys": sorted(outputs)}
        arrays = {key: np.asarray(v, dtype="<f8") for key, v in outputs.items()}
        arrays[_META_KEY] = np.array(json.dumps(meta))
        path = self.cell_file(index)
        with _results.atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    def read_cell(self, index: int, n_cells: int) -> tuple[dict[str, np.ndarray], dict]:
        path = self.cell_file(index)

        def corrupt(reason: str) -> CorruptCellError:
            return CorruptCellError(
                f"cell file {path} is corrupt or not part of this sweep ({reason}); "
                "delete it and rerun to recompute that cell"
            )

        if index >= n_cells:
            raise corrupt(f"index {index} is outside the grid of {n_cells} cells")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {key: z[key] for key in z.files}
        except Exception as exc:
            raise corrupt(f"{type(exc).__name__}: {exc}") from None
        try:
            meta = json.loads(str(arrays.pop(_META_KEY)))
        except Exception:
            raise corrupt("no readable metadata") from None
        if not isinstance(meta, dict):
            raise corrupt("no readable metadata")
        if meta.get("spec_hash") != self.spec_hash:
            raise corrupt("written by a sweep with another manifest")
        if meta.get("index") != index:
            raise corrupt(f"it holds cell {meta.get('index')!r}, not cell {index}")
        if sorted(arrays) != meta.get("keys") or any(a.ndim > 1 for a in arrays.values()):
            raise corrupt("its outputs do not match its metadata")
        if _checksum(arrays) != meta.get("sha256"):
            raise corrupt("checksum mismatch")
        return arrays, meta


# --------------------------------------------------------------------------------------------
# executors: yield (index, outputs, meta) as cells complete


def check_scheduler(scheduler: Any) -> Any:
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
        "scheduler must be 'local', 'processes', a Dask scheduler address such as "
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
        raise ImportError(
            "a Dask scheduler address needs dask.distributed, which is not installed; "
            "install the extra with `pip install 'rmt[sweep]'`"
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


# --------------------------------------------------------------------------------------------
# the runner


def _assemble(grid: Grid, cells: Mapping[int, dict[str, np.ndarray]]) -> Any:
    xr = _results._import_xarray()
    first = cells[0]
    keys = sorted(first)
    ndims = {k: first[k].ndim for k in keys}
    lengths = {k: 0 for k in keys}
    for index in range(grid.n_cells):
        out = cells[index]
        if sorted(out) != keys or any(out[k].ndim != ndims[k] for k in keys):
            raise ValueError(
                f"every cell must return the same outputs with the same number of dimensions; "
                f"cell 0 returned {{{', '.join(f'{k}: {ndims[k]}-D' for k in keys)}}}, cell {index} "
                f"returned {{{', '.join(f'{k}: {out[k].ndim}-D' for k in sorted(out))}}}"
            )
        for k in keys:
            if ndims[k] == 1:
                lengths[k] = max(lengths[k], out[k].shape[0])
    dims = (*grid.names, SEED_DIM)
    data_vars = {}
    for k in keys:
        if ndims[k] == 0:
            arr = np.empty(grid.shape)
            flat = arr.reshape(-1)
            for index in range(grid.n_cells):
                flat[index] = cells[index][k]
            data_vars[k] = (dims, arr)
        else:
            extra = f"{k}_index"
            if extra in dims or extra in keys:
                raise ValueError(f"output {k!r} needs a dimension {extra!r}, which is already a name in the sweep")
            arr = np.full((*grid.shape, lengths[k]), np.nan)
            flat = arr.reshape(grid.n_cells, lengths[k])
            for index in range(grid.n_cells):
                v = cells[index][k]
                flat[index, : v.shape[0]] = v
            data_vars[k] = ((*dims, extra), arr)
    coords = {n: np.asarray(v) for n, v in grid.parameters.items()}
    coords[SEED_DIM] = np.arange(grid.n_seeds)
    return xr.Dataset(data_vars, coords=coords)


def run_sweep(f: Callable[..., Mapping[str, Any]], grid: Grid, out: str | os.PathLike, *,
              scheduler: Any = "local", n_workers: int | None = None, resume: bool = True,
              progress: bool = True, keep_cells: bool = True, backend: str | None = None,
              attrs: Mapping[str, Any] | None = None) -> Any:
    """Run the cells of ``grid`` not yet stored, store each at once, and save the Dataset.

    Parameters
    ----------
    f : callable
        The cell function, called as ``f(**params, **grid.fixed, seed=SeedSequence)`` and
        returning a dict of output name → float or 1-D array (stored as float64; 1-D outputs of
        different lengths are padded with NaN). It must be a pure function of its arguments
        for resumed runs to equal uninterrupted ones; for ``scheduler != "local"`` it must be
        picklable (module level).
    grid : Grid
        The cells to compute.
    out : str or path-like
        Results file (``.nc`` or ``.zarr``). Cells are stored in ``<out>.cells/``.
    scheduler : str or distributed.Client, default "local"
        ``"local"`` (sequential, in this process), ``"processes"`` (local worker processes),
        a Dask scheduler address ``"tcp://HOST:PORT"``, or a ``distributed.Client``
        (used, not closed). See the module docstring for one GPU per worker.
    n_workers : int, optional
        Worker processes for ``scheduler="processes"`` (>= 1; default: the CPU count, or with
        ``backend="cupy"`` the number of visible GPUs, one GPU per worker).
    resume : bool, default True
        Reuse the cells already stored for this same sweep. ``False`` discards them first.
        Either way, cells of a *different* sweep are never mixed in: with ``resume=True`` they
        raise ValueError.
    progress : bool, default True
        Show a progress bar (cells done, rate, time left) and a one-line summary on stderr.
    keep_cells : bool, default True
        Keep ``<out>.cells/`` after saving (a later rerun then only reassembles); ``False``
        deletes it once ``out`` is written.
    backend : {"numpy", "cupy"}, optional
        Backend recorded in the results; default ``grid.fixed["backend"]`` if present, else
        ``"numpy"``. ``"cupy"`` also makes ``scheduler="processes"`` start one worker per GPU.
        (The cell function chooses its own backend; pass it through ``grid.fixed``.)
    attrs : mapping, optional
        Extra attributes for the Dataset (JSON-serialisable values).

    Returns
    -------
    xarray.Dataset
        The results as read back from ``out``. Dimensions: the parameter names, ``seed``, and
        ``<name>_index`` for each 1-D output. Attributes: provenance (see
        :func:`rmt.results.provenance`), ``sweep_function``, ``sweep_spec_hash``,
        ``n_cells``, ``cells_computed`` (by this call) and ``cells_reused``.

    Raises
    ------
    ValueError
        Bad arguments; ``out`` already holding cells or results of a different sweep.
    CorruptCellError
        A stored cell file is damaged (the message names it: delete it and rerun).
    CellError
        The cell function raised; the cells finished before it are kept.
    ImportError
        xarray (or, for Dask schedulers, distributed) missing: install ``rmt[sweep]``.
    """
    if not callable(f):
        raise ValueError(f"f must be a callable cell function, got {type(f).__name__}")
    if not isinstance(grid, Grid):
        raise ValueError(f"grid must be an rmt.sweep.Grid, got {type(grid).__name__}")
    out = Path(out)
    _results._format_of(out)  # validate the suffix before computing anything
    scheduler = check_scheduler(scheduler)
    if n_workers is not None:
        n_workers = check_int("n_workers", n_workers, minimum=1)
    from rmt.backend import resolve_backend  # noqa: PLC0415

    backend = resolve_backend(backend if backend is not None else grid.fixed.get("backend"))
    _results._import_xarray()  # fail now, not after the computation
    if scheduler not in ("local", "processes") and not hasattr(scheduler, "submit"):
        _import_distributed()

    manifest = {
        "format": _CELLS_FORMAT,
        "format_version": _CELLS_FORMAT_VERSION,
        "function": _function_name(f),
        **grid.spec(),
        "n_cells": grid.n_cells,
    }
    store = _Store(cells_path(out), manifest)

    if resume and out.exists() and not store.dir.exists():
        try:
            done = _results.open(out)
        except ValueError as exc:
            raise ValueError(
                f"out {str(out)!r} exists and is not an rmt results file ({exc}); "
                "choose another out, or rerun with resume=False (--no-resume) to overwrite it"
            ) from None
        if done.attrs.get("sweep_spec_hash") != store.spec_hash:
            raise ValueError(
                f"out {str(out)!r} holds results of a different sweep (or not a sweep); "
                "choose another out, or rerun with resume=False (--no-resume) to overwrite it"
            )
        return done

    if store.dir.exists() and not store.dir.is_dir():
        raise ValueError(f"{store.dir} exists and is not a directory; choose another out")
    store.lock()
    try:
        if not store.is_ours():
            raise ValueError(
                f"{store.dir} exists but is not an rmt sweep cells directory (no {_MANIFEST}); "
                "remove it or choose another out"
            )
        if not resume:
            store.clear()
        store.remove_temporaries()
        # Leftovers of a driver killed while saving `out` (we hold the lock: no one else is).
        for tmp in out.parent.glob(f".tmp-{out.name}.*") if out.parent.is_dir() else ():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        store.check_or_write_manifest()

        cells: dict[int, dict[str, np.ndarray]] = {}
        metas: dict[int, dict] = {}
        for index in store.stored_indices():
            cells[index], metas[index] = store.read_cell(index, grid.n_cells)
        reused = len(cells)
        todo = [i for i in range(grid.n_cells) if i not in cells]
        signature: dict[str, int] | None = None
        if cells:
            ref = cells[min(cells)]
            signature = {k: v.ndim for k, v in ref.items()}

        computed = 0
        from tqdm import tqdm  # noqa: PLC0415 - a core dependency, but only needed here

        with contextlib.ExitStack() as stack:
            results_iter = _execute(f, grid, todo, backend, scheduler, n_workers)
            stack.enter_context(contextlib.closing(results_iter))
            for item in results_iter:
                if item is None:  # workers are up: the bar's rate and ETA start from here
                    bar = stack.enter_context(tqdm(
                        total=grid.n_cells, initial=reused, unit="cell", desc=out.name,
                        disable=not progress or not todo, dynamic_ncols=True, smoothing=0.1,
                        file=sys.stderr))
                    continue
                index, outputs, meta = item
                sig = {k: v.ndim for k, v in outputs.items()}
                if signature is None:
                    signature = sig
                elif sig != signature:
                    raise CellError(
                        f"cell {index} returned outputs {sig} (name: ndim) but earlier cells "
                        f"returned {signature}; every cell must return the same outputs"
                    )
                store.write_cell(index, outputs, meta)
                cells[index], metas[index] = outputs, meta
                computed += 1
                bar.update(1)
                if computed == len(todo):
                    bar.close()  # now, not after the workers have shut down

        ds = _assemble(grid, cells)
        devices = sorted({str(m.get("device")) for m in metas.values()})
        hosts = sorted({str(m.get("host")) for m in metas.values()})
        ds.attrs.update(dict(attrs or {}))
        ds.attrs.update({
            "sweep_function": manifest["function"],
            "sweep_spec_hash": store.spec_hash,
            "sweep_fixed": grid.fixed,
            "n_cells": grid.n_cells,
            "n_seeds": grid.n_seeds,
            "cells_computed": computed,
            "cells_reused": reused,
            "hosts": hosts,
            "scheduler": scheduler if isinstance(scheduler, str) else "distributed.Client",
        })
        _results.save(ds, out, seed=grid.seed, backend=backend, device="; ".join(devices),
                      parameters=grid.spec())
    finally:
        store.unlock()
    if not keep_cells:
        shutil.rmtree(store.dir, ignore_errors=True)
    if progress:
        print(f"rmt sweep: {grid.n_cells} cells ({reused} reused, {computed} computed) -> {out}",
              file=sys.stderr)
    return _results.open(out)


# --------------------------------------------------------------------------------------------
# command line


def _scheduler_arg(text: str) -> str:
    try:
        return check_scheduler(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int_arg(text: str) -> int:
    try:
        return check_int("--workers", int(text), minimum=1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers must be an integer >= 1, got {text!r}") from None


def add_sweep_arguments(parser: argparse.ArgumentParser, *, default_out: str | os.PathLike | None = None
                        ) -> argparse.ArgumentParser:
    """Add the sweep options to ``parser`` so that a simulation can run as a sweep.

    Adds ``--scheduler`` (``local``, ``processes`` or ``tcp://HOST:PORT``; default ``local``),
    ``--workers N`` (processes for ``--scheduler processes``), ``--out PATH`` (results file,
    ``.nc`` or ``.zarr``; required unless ``default_out`` is given), ``--resume/--no-resume``
    (default: resume) and ``--quiet`` (no progress bar). Interpret them with
    :func:`run_from_args`. A bad ``--scheduler`` makes argparse print one line and exit 2.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The simulation's parser (modified in place).
    default_out : str or path-like, optional
        Default for ``--out``.

    Returns
    -------
    argparse.ArgumentParser
        ``parser``, for chaining.
    """
    group = parser.add_argument_group("sweep", "where and how the cells of the sweep run")
    group.add_argument("--scheduler", type=_scheduler_arg, default="local", metavar="SCHEDULER",
                       help="'local' (sequential, default), 'processes' (local worker processes) "
                            "or the address of a Dask scheduler, e.g. tcp://HOST:8786")
    group.add_argument("--workers", type=_positive_int_arg, default=None, metavar="N",
                       help="worker processes for --scheduler processes (default: CPU count)")
    group.add_argument("--out", type=Path, default=None if default_out is None else Path(default_out),
                       required=default_out is None, metavar="PATH",
                       help="results file, .nc (netCDF) or .zarr; finished cells are kept in "
                            "PATH.cells/" + ("" if default_out is None else f" (default: {default_out})"))
    group.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="reuse the cells already stored for this sweep (default: yes)")
    group.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return parser


def run_from_args(f: Callable[..., Mapping[str, Any]], grid: Grid, args: argparse.Namespace,
                  **kwargs: Any) -> Any:
    """Run :func:`run_sweep` with the options added by :func:`add_sweep_arguments`.

    Parameters
    ----------
    f, grid
        As in :func:`run_sweep`.
    args : argparse.Namespace
        Parsed arguments holding ``scheduler``, ``workers``, ``out``, ``resume``, ``quiet``.
    **kwargs
        Passed on to :func:`run_sweep` (e.g. ``backend``, ``attrs``, ``keep_cells``).

    Returns
    -------
    xarray.Dataset
        As :func:`run_sweep`.
    """
    missing = [a for a in ("scheduler", "out", "resume", "quiet") if not hasattr(args, a)]
    if missing:
        raise ValueError(
            f"args lacks {missing}; build the parser with rmt.sweep.add_sweep_arguments(parser)"
        )
    return run_sweep(f, grid, args.out, scheduler=args.scheduler,
                     n_workers=getattr(args, "workers", None), resume=args.resume,
                     progress=not args.quiet, **kwargs)
