"""Running a sweep: the missing cells computed and stored, the Dataset assembled and saved; and
the command-line options that every simulation shares."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rmt import results as _results
from rmt.validation import arg_type, check_int, int_arg

from .executors import CellError, _execute, _import_distributed, check_scheduler
from .grid import SEED_DIM, Grid, _function_name
from .store import (
    CELLS_FORMAT,
    CELLS_FORMAT_VERSION,
    _MANIFEST,
    CorruptCellError,
    CorruptCellWarning,
    _Store,
    cells_path,
)



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

    A damaged or stray cell file (unreadable, failing its checksum, or written by another
    sweep) is deleted with a :class:`CorruptCellWarning` naming it, and its cell computed again.
    CellError
        The cell function raised; the cells finished before it are kept.
    ImportError
        xarray (or, for Dask schedulers, distributed) missing: install the ``sweep`` extra.
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
        "format": CELLS_FORMAT,
        "format_version": CELLS_FORMAT_VERSION,
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
    if scheduler == "local" and backend != "numpy":
        from rmt.backend import xp_for  # noqa: PLC0415

        xp_for(backend)  # the cells run here: an unavailable backend fails before any write
    # Folders this call creates; removed again if it fails before storing any cell.
    created = [p for p in (store.dir, *store.dir.parents) if not p.exists()]
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
        cells, metas = _stored_cells(store, grid)
        reused = len(cells)
        computed = _compute_missing(f, grid, store, cells, metas, backend, scheduler, n_workers,
                                    progress, out.name)
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
    except BaseException:
        store.unlock()
        if created and not store.stored_indices():
            shutil.rmtree(store.dir, ignore_errors=True)
            for folder in created[1:]:  # the parents made for it, innermost first, if empty
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise
    store.unlock()
    if not keep_cells:
        shutil.rmtree(store.dir, ignore_errors=True)
    if progress:
        print(f"rmt sweep: {grid.n_cells} cells ({reused} reused, {computed} computed) -> {out}",
              file=sys.stderr)
    return _results.open(out)


def _stored_cells(store: _Store, grid: Grid) -> tuple[dict[int, dict[str, np.ndarray]], dict]:
    """The cells already stored; a damaged or stray cell file is deleted (with a warning) so
    that its cell is computed again."""
    cells: dict[int, dict[str, np.ndarray]] = {}
    metas: dict[int, dict] = {}
    for index in store.stored_indices():
        try:
            cells[index], metas[index] = store.read_cell(index, grid.n_cells)
        except CorruptCellError as exc:
            store.discard_cell(index)
            again = "that cell is computed again" if index < grid.n_cells else "not in this grid"
            warnings.warn(f"{exc}: deleted, {again}", CorruptCellWarning, stacklevel=4)
    return cells, metas


def _compute_missing(f: Callable[..., Any], grid: Grid, store: _Store,
                     cells: dict[int, dict[str, np.ndarray]], metas: dict[int, dict],
                     backend: str, scheduler: Any, n_workers: int | None, progress: bool,
                     desc: str) -> int:
    """Compute the cells not in ``cells``, store each at once and add it to ``cells``/``metas``;
    return how many were computed."""
    from tqdm import tqdm  # noqa: PLC0415 - a core dependency, but only needed here

    todo = [i for i in range(grid.n_cells) if i not in cells]
    signature = {k: v.ndim for k, v in cells[min(cells)].items()} if cells else None
    computed = 0
    with contextlib.ExitStack() as stack:
        results_iter = _execute(f, grid, todo, backend, scheduler, n_workers)
        stack.enter_context(contextlib.closing(results_iter))
        for item in results_iter:
            if item is None:  # workers are up: the bar's rate and ETA start from here
                bar = stack.enter_context(tqdm(
                    total=grid.n_cells, initial=len(cells), unit="cell", desc=desc,
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
    return computed


# --------------------------------------------------------------------------------------------
# command line


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
    group.add_argument("--scheduler", type=arg_type(lambda name, text: check_scheduler(text, name)), default="local", metavar="SCHEDULER",
                       help="'local' (sequential, default), 'processes' (local worker processes) "
                            "or the address of a Dask scheduler, e.g. tcp://HOST:8786")
    group.add_argument("--workers", type=int_arg(1), default=None, metavar="N",
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
