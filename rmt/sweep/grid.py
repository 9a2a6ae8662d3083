"""The grid of a sweep: parameter combinations × seeds in a canonical order, each cell with its
own random stream (child ``i`` of ``SeedSequence(seed)``)."""

from __future__ import annotations

import json
import keyword
import math
import sys
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmt import results as _results
from rmt.validation import check_int

#: Name of the dimension (and coordinate) that indexes the seeds of a cell.
SEED_DIM = "seed"



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

