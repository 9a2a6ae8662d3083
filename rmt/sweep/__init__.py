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
Each cell file carries a SHA-256 checksum of its numbers; a damaged one is deleted with a
:class:`CorruptCellWarning` naming the file, and its cell computed again. Finally the cells are
assembled into an :class:`xarray.Dataset` (dimensions: the parameter names, then ``seed``, then
``<name>_index`` for 1-D outputs) and saved with :func:`rmt.results.save` to ``out``.

Also here: :mod:`rmt.sweep.budget` (what a sweep will cost, said before it runs; it never
chooses the grid) and :mod:`rmt.sweep.summary` (:func:`summarise_seeds`, :func:`fit_slope`).

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
absence raises an ImportError naming the ``sweep`` extra.
"""

from __future__ import annotations

from . import budget
from .executors import CellError, check_scheduler
from .grid import SEED_DIM, Cell, Grid
from .runner import add_sweep_arguments, run_from_args, run_sweep
from .store import CorruptCellError, CorruptCellWarning, cells_path
from .summary import fit_slope, summarise_seeds

__all__ = [
    "SEED_DIM",
    "Cell",
    "CellError",
    "CorruptCellError",
    "CorruptCellWarning",
    "Grid",
    "add_sweep_arguments",
    "cells_path",
    "budget",
    "check_scheduler",
    "fit_slope",
    "run_from_args",
    "run_sweep",
    "summarise_seeds",
]
