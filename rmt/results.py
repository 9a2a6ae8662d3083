"""Results files: labelled xarray Datasets with provenance, written atomically.

Every simulation writes one :class:`xarray.Dataset` whose dimensions are named after the swept
parameters (plus ``seed`` or trial dimensions as needed) and whose attributes record how it was
made: the seed, the backend and device, the versions of rmt, NumPy, SciPy and xarray, the git
revision of the code and whether the checkout had uncommitted changes (``None`` outside a git
checkout), the BLAS library and its thread counts, the creation time, the command line and
the parameters.

Two formats, chosen by the file name:

``.nc`` (also ``.nc3``, ``.cdf``)
    netCDF-3 through SciPy (xarray's ``scipy`` engine); needs nothing beyond xarray.
``.zarr``
    a Zarr store (a directory); needs the ``zarr`` package.

netCDF-3 attributes can only be strings, numbers and 1-D numeric arrays. Any other attribute
value (a dict, a list, ``None``, a bool, an integer beyond 32 bits) is stored as a JSON string
and its name listed in the attribute ``rmt_json_attrs``; :func:`open` decodes them again, so
attributes round-trip exactly.

Writes are atomic: the file (or store) is written under a temporary name in the same directory
and moved into place with :func:`os.replace`, so a reader sees the old file or the new one, never
half of one, and a failed write leaves nothing behind.

xarray is optional for the rest of rmt: it is imported only inside the functions here, and its
absence raises an ImportError that names the ``rmt[sweep]`` extra.

Examples
--------
>>> import numpy as np, xarray as xr                                  # doctest: +SKIP
>>> ds = xr.Dataset({"ratio": (("C", "seed"), np.ones((2, 3)))},
...                 coords={"C": [10, 50], "seed": [0, 1, 2]})       # doctest: +SKIP
>>> path = save(ds, "out/ratio.nc", seed=0, parameters={"gamma": 0.5})  # doctest: +SKIP
>>> back = open(path)                                                 # doctest: +SKIP
>>> back.attrs["parameters"]                                          # doctest: +SKIP
{'gamma': 0.5}
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as _dt
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NotAResultsFileError",
    "atomic_path",
    "compute_environment",
    "git_dirty",
    "git_revision",
    "load",
    "package_versions",
    "provenance",
    "save",
]
# ``open`` is public (``rmt.results.open(path)``) but kept out of ``__all__`` so that
# ``from rmt.results import *`` never shadows the builtin; ``load`` is the same function.

#: Value of the ``rmt_format`` attribute that marks an rmt results file.
FORMAT = "rmt-results"
#: Layout version of results files written by this module.
FORMAT_VERSION = 1
_MARKER = "rmt_format"
_VERSION_ATTR = "rmt_format_version"
_JSON_ATTRS = "rmt_json_attrs"
_NETCDF_SUFFIXES = (".nc", ".nc3", ".cdf")
_ZARR_SUFFIXES = (".zarr",)
_INT32 = np.iinfo(np.int32)

_builtin_open = builtins.open


class NotAResultsFileError(ValueError):
    """A file that cannot be read as an rmt results file (unreadable, or not written by rmt)."""


# --------------------------------------------------------------------------------------------
# optional dependencies


def _import_xarray():
    try:
        import xarray  # noqa: PLC0415 - optional dependency, imported lazily on purpose
    except ImportError as exc:
        from rmt.backend import install_hint  # noqa: PLC0415

        raise ImportError(
            "rmt results files need xarray, which is not installed; "
            f"install the extra with {install_hint('sweep')}"
        ) from exc
    return xarray


def _import_zarr():
    try:
        import zarr  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            "writing or reading a .zarr results store needs the zarr package; "
            "`pip install zarr`, or use a .nc file name (netCDF-3 needs no extra package)"
        ) from exc
    return zarr


# --------------------------------------------------------------------------------------------
# atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    The temporary name lives in the same directory (so :func:`os.replace` is an atomic rename
    on one file system) and starts with ``.tmp-``. If the block raises, the temporary file or
    directory is removed and ``path`` is left as it was. Files are flushed to disk (fsync)
    before the rename.

    Parameters
    ----------
    path : str or path-like
        Final location. Its parent directory is created if missing.
    directory : bool, default False
        Yield a path for a directory (e.g. a Zarr store) rather than a file. A directory that
        already exists at ``path`` is replaced: it is first renamed aside, then deleted once the
        new one is in place.

    Yields
    ------
    pathlib.Path
        The temporary path to write to (not yet existing).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{final.name}.", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the caller creates it; mkstemp only reserved a unique name
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary path {tmp}")
        if directory:
            _replace_directory(tmp, final)
        else:
            with _builtin_open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        _fsync_directory(final.parent)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def _replace_directory(tmp: Path, final: Path) -> None:
    if not final.exists():
        os.replace(tmp, final)
        return
    if not final.is_dir():
        raise FileExistsError(f"{final} exists and is not a directory; cannot replace it by a store")
    aside = Path(tempfile.mkdtemp(prefix=f".old-{final.name}.", dir=final.parent))
    aside.rmdir()
    os.replace(final, aside)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + :func:`os.replace`)."""
    with atomic_path(path) as tmp:
        with _builtin_open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


# --------------------------------------------------------------------------------------------
# provenance


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The commit (``git rev-parse HEAD``) of the checkout rmt is imported from, or ``None``.

    ``None`` when rmt is not inside a git work tree, git is missing, or it does not answer
    within 10 seconds. The answer is cached for the life of the process.
    """
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
            timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip()
    if out.returncode != 0 or not rev:
        return None
    return rev


@functools.lru_cache(maxsize=1)
def git_dirty() -> bool | None:
    """Whether the checkout rmt is imported from has uncommitted changes to tracked files
    (``git status --porcelain --untracked-files=no``), or ``None`` outside a git work tree.

    With :func:`git_revision` it says which code made a result: a revision alone hides edits.
    Cached for the life of the process, like :func:`git_revision`.
    """
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return bool(out.stdout.strip())


def compute_environment() -> dict[str, Any]:
    """What the numbers were computed with besides package versions: the BLAS/OpenMP libraries
    NumPy and SciPy loaded and their thread counts (``threadpoolctl``), the thread variables of
    the environment and the CPUs this process may use. (A multithreaded BLAS rounds
    differently from a single-threaded one, so thread counts are part of a result's
    provenance.)"""
    libraries: list[dict[str, Any]] = []
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415 - a core dependency

        for lib in threadpool_info():
            libraries.append({k: lib.get(k) for k in ("user_api", "internal_api", "version",
                                                      "num_threads", "threading_layer",
                                                      "architecture")}
                             | {"library": os.path.basename(str(lib.get("filepath", "")))})
    except Exception:  # noqa: BLE001 - describe what can be described, never fail a save
        pass
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                                      "VECLIB_MAXIMUM_THREADS") if k in os.environ}
    cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count())
    return {"thread_libraries": libraries, "thread_env": env, "cpus_available": cpus}


def package_versions() -> dict[str, str | None]:
    """Versions of rmt, Python, NumPy, SciPy and xarray (``None`` for one not installed),
    and of Dask, distributed and CuPy when they are already imported."""
    from importlib import metadata  # noqa: PLC0415

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    import rmt  # noqa: PLC0415

    out: dict[str, str | None] = {
        "rmt": getattr(rmt, "__version__", None) or version("rmt"),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "xarray": version("xarray"),
    }
    for mod, dist in (("dask", "dask"), ("distributed", "distributed"), ("cupy", None)):
        if mod in sys.modules:
            out[mod] = getattr(sys.modules[mod], "__version__", None) or (dist and version(dist))
    return out


def provenance(*, seed: Any = None, backend: str | None = None, device: str | None = None,
               command: str | None = None, parameters: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """The provenance attributes every results file carries.

    Parameters
    ----------
    seed : int, list of int or None
        The base seed of the run (``SeedSequence`` entropy); ``None`` if unseeded.
    backend : {"numpy", "cupy"} or None
        Array backend the numbers were computed with; ``None`` means ``"numpy"``.
    device : str or None
        Device description; ``None`` asks :func:`rmt.backend.device_name` for the backend's
        device (``"unknown"`` if that fails, e.g. CuPy requested on a machine without a GPU).
    command : str or None
        The command that made the file; ``None`` records this process's command line.
    parameters : mapping or None
        Parameters of the run (JSON-serialisable values).

    Returns
    -------
    dict
        Keys ``rmt_format``, ``rmt_format_version``, ``seed``, ``backend``, ``device``,
        ``versions``, ``git_revision``, ``git_dirty`` (uncommitted changes to tracked files;
        None outside git), ``compute`` (:func:`compute_environment`: BLAS library and threads),
        ``created`` (UTC, ISO 8601), ``command`` and
        ``parameters``.
    """
    from rmt.backend import device_name, resolve_backend, xp_for  # noqa: PLC0415

    name = resolve_backend(backend)
    if device is None:
        try:
            device = device_name(xp_for(name))
        except Exception:  # e.g. BackendUnavailableError: describe, never fail a save
            device = "unknown"
    if command is None:
        argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        command = shlex.join(str(a) for a in argv)
    return {
        _MARKER: FORMAT,
        _VERSION_ATTR: FORMAT_VERSION,
        "seed": _seed_attr(seed),
        "backend": name,
        "device": str(device),
        "versions": package_versions(),
        "git_revision": git_revision(),
        "git_dirty": git_dirty(),
        "compute": compute_environment(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": str(command),
        "parameters": None if parameters is None else dict(parameters),
    }


def _seed_attr(seed: Any) -> Any:
    if seed is None or isinstance(seed, (str, int, dict)):
        return seed
    if isinstance(seed, np.integer):
        return int(seed)
    if isinstance(seed, np.random.SeedSequence):
        ent = seed.entropy
        return {"entropy": ent if isinstance(ent, int) else list(ent), "spawn_key": list(seed.spawn_key)}
    if isinstance(seed, (list, tuple)):
        return [int(s) for s in seed]
    raise ValueError(f"seed must be None, an int or a SeedSequence to be recorded, got {type(seed).__name__}")


# --------------------------------------------------------------------------------------------
# attribute encoding


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _is_native_attr(value: Any) -> bool:
    """Whether netCDF-3 stores ``value`` natively and reads it back as the same value."""
    if isinstance(value, str):
        return True
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return _INT32.min <= int(value) <= _INT32.max
    if isinstance(value, (float, np.floating)):
        return True
    return False


def _encode_attrs(attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    encoded: list[str] = []
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise ValueError(f"attribute names must be strings, got {key!r} in {where}")
        if key == _JSON_ATTRS:
            continue
        if _is_native_attr(value):
            out[key] = value.item() if isinstance(value, np.generic) else value
            continue
        try:
            out[key] = json.dumps(value, default=_json_default, sort_keys=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"attribute {key!r} of {where} cannot be stored: it must be a string, a number "
                f"or a JSON-serialisable value ({exc})"
            ) from None
        encoded.append(key)
    if encoded:
        out[_JSON_ATTRS] = json.dumps(encoded)
    return out


def _decode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    encoded = attrs.get(_JSON_ATTRS)
    names: list[str] = []
    if encoded is not None:
        try:
            names = list(json.loads(encoded))
        except (TypeError, ValueError):
            names = []
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if key == _JSON_ATTRS:
            continue
        if key in names and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


# --------------------------------------------------------------------------------------------
# save / open


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _NETCDF_SUFFIXES:
        return "netcdf"
    if suffix in _ZARR_SUFFIXES:
        return "zarr"
    raise ValueError(
        f"path must end in one of {_NETCDF_SUFFIXES} (netCDF-3) or {_ZARR_SUFFIXES} (Zarr), "
        f"got {str(path)!r}"
    )


def _netcdf3_safe(ds: Any) -> Any:
    """Cast integer variables that netCDF-3 cannot hold (beyond int32) to float64 when exact."""
    changes = {}
    for name, var in ds.variables.items():
        if var.dtype.kind not in "iu" or var.dtype.itemsize < 4:
            continue
        values = np.asarray(var.values)
        if values.size == 0:
            continue
        lo, hi = int(values.min()), int(values.max())
        if _INT32.min <= lo and hi <= _INT32.max:
            continue
        if max(abs(lo), abs(hi)) <= 2**53:
            changes[name] = var.astype(np.float64)
        else:
            raise ValueError(
                f"variable {name!r} holds integers beyond 2**53, which a netCDF-3 file cannot "
                "store exactly; save to a .zarr path instead"
            )
    if not changes:
        return ds
    coords = {k: v for k, v in changes.items() if k in ds.coords}
    data = {k: v for k, v in changes.items() if k not in ds.coords}
    return ds.assign_coords(coords).assign(data)


def save(ds: Any, path: str | os.PathLike, *, seed: Any = None, backend: str | None = None,
         device: str | None = None, command: str | None = None,
         parameters: Mapping[str, Any] | None = None) -> Path:
    """Write a results Dataset to ``path`` atomically, with provenance attributes.

    Attributes already on ``ds`` are kept; provenance attributes it lacks are filled in (see
    :func:`provenance`), and the keyword arguments given here override both. ``ds`` itself is
    not modified.

    Parameters
    ----------
    ds : xarray.Dataset
        The results. Dimensions should be named after the swept parameters (and ``seed``).
    path : str or path-like
        Destination ending in ``.nc`` (netCDF-3, no extra dependency) or ``.zarr`` (Zarr store,
        needs ``zarr``). Parent directories are created; an existing file is replaced.
    seed, backend, device, command, parameters
        Provenance, as in :func:`provenance`. ``None`` keeps the value already on ``ds`` (or
        the default when there is none).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        If ``ds`` is not an xarray Dataset.
    ValueError
        If ``path`` has an unknown suffix, or an attribute is neither a string, a number nor
        JSON-serialisable.
    ImportError
        If xarray (or, for ``.zarr``, zarr) is not installed.
    """
    xr = _import_xarray()
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    path = Path(path)
    fmt = _format_of(path)
    if fmt == "zarr":
        _import_zarr()  # fail before any work

    given = {"seed": seed, "backend": backend, "device": device, "command": command,
             "parameters": parameters}
    existing = dict(ds.attrs)
    defaults = provenance(
        seed=seed if seed is not None else existing.get("seed"),
        backend=backend if backend is not None else existing.get("backend"),
        device=device if device is not None else existing.get("device"),
        command=command if command is not None else existing.get("command"),
        parameters=parameters if parameters is not None else existing.get("parameters"),
    )
    attrs = {**defaults, **existing}
    attrs.update({k: defaults[k] for k, v in given.items() if v is not None})
    attrs[_MARKER] = FORMAT
    attrs[_VERSION_ATTR] = FORMAT_VERSION

    out = ds.copy(deep=False)
    out.attrs = _encode_attrs(attrs, "the dataset")
    for name, var in out.variables.items():
        var.attrs = _encode_attrs(ds.variables[name].attrs, f"variable {name!r}")
    out = out.load()

    if fmt == "netcdf":
        out = _netcdf3_safe(out)
        data = out.to_netcdf(path=None, engine="scipy")
        write_bytes_atomic(path, bytes(data))
    else:
        zarr = _import_zarr()
        # Zarr format 2 has a specification for every dtype xarray writes (fixed-width strings
        # included); zarr-python 3 writes format 3 by default, which does not yet.
        extra = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
        with atomic_path(path, directory=True) as tmp:
            out.to_zarr(tmp, mode="w", **extra)
    return path


def open(path: str | os.PathLike) -> Any:  # noqa: A001 - the public name asked for: rmt.results.open
    """Read an rmt results file back into memory and check that it is one.

    Parameters
    ----------
    path : str or path-like
        A ``.nc`` file or ``.zarr`` store written by :func:`save`.

    Returns
    -------
    xarray.Dataset
        Loaded into memory (the file is closed again), with JSON-encoded attributes decoded.

    Raises
    ------
    FileNotFoundError
        If nothing exists at ``path``.
    NotAResultsFileError
        (a ValueError) If the file cannot be read as netCDF/Zarr, lacks the ``rmt_format``
        attribute, or was written by a newer layout version than this rmt understands.
    """
    xr = _import_xarray()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no results file at {str(path)!r}")
    is_zarr = path.is_dir() or path.suffix.lower() in _ZARR_SUFFIXES
    try:
        if is_zarr:
            _import_zarr()
            with xr.open_zarr(path) as raw:
                ds = raw.load()
        else:
            ds = _open_netcdf(xr, path)
    except ImportError:
        raise
    except Exception as exc:
        raise NotAResultsFileError(
            f"{str(path)!r} is not a readable {'Zarr store' if is_zarr else 'netCDF file'} "
            f"({type(exc).__name__}: {exc}); rmt results files are written by rmt.results.save"
        ) from exc

    attrs = _decode_attrs(ds.attrs)
    if attrs.get(_MARKER) != FORMAT:
        raise NotAResultsFileError(
            f"{str(path)!r} is not an rmt results file: its attribute {_MARKER!r} is "
            f"{attrs.get(_MARKER)!r}, expected {FORMAT!r} (files are written by rmt.results.save)"
        )
    version = attrs.get(_VERSION_ATTR)
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise NotAResultsFileError(
            f"{str(path)!r} has results layout version {version!r}; this rmt reads versions "
            f"1 to {FORMAT_VERSION} (upgrade rmt to read newer files)"
        )
    ds.attrs = attrs
    for var in ds.variables.values():
        var.attrs = _decode_attrs(var.attrs)
    return ds


def _open_netcdf(xr: Any, path: Path) -> Any:
    try:
        with xr.open_dataset(path, engine="scipy") as raw:
            return raw.load()
    except Exception as first:
        # Not netCDF-3: let xarray try any other engine it has (netCDF-4/HDF5 if installed).
        try:
            with xr.open_dataset(path) as raw:
                return raw.load()
        except Exception:
            raise first from None


#: Alias of :func:`open` that does not shadow the builtin under ``from rmt.results import *``.
load = open
