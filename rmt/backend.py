"""Array backends: NumPy (CPU, the default) or CuPy (GPU), behind one code path.

Functions in rmt take arrays and ask them for their namespace (:func:`get_xp`), or take
``backend="numpy" | "cupy"`` (:func:`xp_for`). CuPy is imported lazily, only when asked for,
so ``import rmt`` never needs it; asking for it where it is missing or no CUDA device exists
raises :class:`BackendUnavailableError` (a ``RuntimeError``) that says why.

Randomness: every random function takes ``seed`` (an int, a :class:`numpy.random.SeedSequence`,
or a :class:`numpy.random.Generator`). Independent streams come from
``SeedSequence(seed).spawn`` (:func:`spawn_seeds`), so results never depend on batching.
Draws for the CuPy backend are made by a CuPy generator seeded from the same SeedSequence.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

BACKENDS = ("numpy", "cupy")
DEFAULT_BACKEND = "numpy"
#: Verification runs in float64 unless a caller asks for less.
DEFAULT_DTYPE = np.float64

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_DTYPE",
    "BackendUnavailableError",
    "cupy_available",
    "get_cupy",
    "get_xp",
    "xp_for",
    "backend_name",
    "resolve_backend",
    "resolve_dtype",
    "to_numpy",
    "asarray",
    "as_seed_sequence",
    "spawn_seeds",
    "default_rng",
    "standard_normal",
    "free_memory_bytes",
    "device_name",
    "synchronize",
    "limit_blas_threads",
    "install_hint",
    "rss_bytes",
    "reset_peak_rss",
    "peak_rss_bytes",
]


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot be used here (CuPy missing, or no CUDA device)."""


_cupy_module: ModuleType | None = None


def get_cupy() -> ModuleType:
    """Import and return CuPy, checking that a CUDA device is usable.

    Raises
    ------
    BackendUnavailableError
        If CuPy is not installed or no CUDA device can be used.
    """
    global _cupy_module
    if _cupy_module is not None:
        return _cupy_module
    try:
        import cupy  # noqa: PLC0415 - lazy on purpose: rmt must import without CuPy
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        raise BackendUnavailableError(
            "backend='cupy' needs CuPy, which could not be imported "
            f"({type(exc).__name__}: {exc}); {install_hint('gpu')} for CUDA 12, "
            "gpu-cuda13 for CUDA 13"
        ) from exc
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise BackendUnavailableError(
            f"backend='cupy' needs a CUDA device, but CUDA reported: {exc}"
        ) from exc
    if n < 1:
        raise BackendUnavailableError("backend='cupy' needs a CUDA device, but none was found")
    _cupy_module = cupy
    return cupy


def cupy_available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device (never raises)."""
    try:
        get_cupy()
    except BackendUnavailableError:
        return False
    return True


def resolve_backend(backend: str | None) -> str:
    """Validate a backend name; ``None`` means the default (``"numpy"``)."""
    if backend is None:
        return DEFAULT_BACKEND
    if not isinstance(backend, str) or backend.lower() not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend.lower()


def xp_for(backend: str | None) -> ModuleType:
    """The array module for a backend name (``numpy`` or the lazily imported ``cupy``)."""
    name = resolve_backend(backend)
    return np if name == "numpy" else get_cupy()


def _is_cupy_array(a: Any) -> bool:
    mod = type(a).__module__
    return mod.startswith("cupy") and hasattr(a, "__cuda_array_interface__")


def get_xp(*arrays: Any, backend: str | None = None) -> ModuleType:
    """The array namespace shared by ``arrays`` (NumPy or CuPy).

    Arrays already on the GPU select CuPy; otherwise ``backend`` decides (default NumPy).
    Mixing a CuPy array with ``backend="numpy"`` raises ValueError.
    """
    on_gpu = any(_is_cupy_array(a) for a in arrays if a is not None)
    if on_gpu:
        if backend is not None and resolve_backend(backend) == "numpy":
            raise ValueError("backend='numpy' was requested but an input array is a CuPy array")
        return get_cupy()
    return xp_for(backend)


def backend_name(xp: ModuleType) -> str:
    """``"numpy"`` or ``"cupy"`` for an array module."""
    return "cupy" if xp.__name__.startswith("cupy") else "numpy"


def resolve_dtype(dtype: Any = None) -> np.dtype:
    """Validate a floating dtype (float32 or float64); ``None`` means float64."""
    if dtype is None:
        return np.dtype(DEFAULT_DTYPE)
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def to_numpy(a: Any) -> np.ndarray:
    """Copy an array (NumPy or CuPy) or scalar to a NumPy array on the host."""
    if _is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def asarray(a: Any, xp: ModuleType, dtype: Any = None) -> Any:
    """``a`` as an array of module ``xp`` (moving it between host and device if needed)."""
    if backend_name(xp) == "numpy":
        return np.asarray(to_numpy(a), dtype=dtype)
    return xp.asarray(a, dtype=dtype)


def as_seed_sequence(seed: Any = None) -> np.random.SeedSequence:
    """Turn ``seed`` (None, int, SeedSequence or Generator) into a SeedSequence.

    A Generator contributes a fresh SeedSequence drawn from its own stream, so passing the
    same Generator twice gives two different streams, as one would expect.
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63 - 1, size=4).tolist())
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise TypeError(
        f"seed must be None, a non-negative int, a SeedSequence or a Generator, got {type(seed).__name__}"
    )


def spawn_seeds(seed: Any, n: int) -> list[np.random.SeedSequence]:
    """The first ``n`` children of ``SeedSequence(seed)``.

    Child ``t`` is the same whatever ``n`` is, so trial ``t`` always sees the same stream,
    however trials are batched or chunked.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    ss = as_seed_sequence(seed)
    # SeedSequence.spawn advances an internal counter; rebuild from the entropy so that the
    # t-th child does not depend on earlier spawn calls on the same object.
    base = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key, pool_size=ss.pool_size)
    return base.spawn(int(n))


def default_rng(seed: Any = None, xp: ModuleType = np) -> Any:
    """A random generator for module ``xp`` seeded from ``seed``.

    NumPy: ``numpy.random.Generator(PCG64)``. CuPy: ``cupy.random.default_rng`` seeded with an
    integer drawn from the same SeedSequence.
    """
    if isinstance(seed, np.random.Generator) and backend_name(xp) == "numpy":
        return seed
    ss = as_seed_sequence(seed)
    if backend_name(xp) == "numpy":
        return np.random.default_rng(ss)
    return xp.random.default_rng(int(ss.generate_state(1, np.uint64)[0]))


def standard_normal(shape: tuple[int, ...], seed: Any = None, xp: ModuleType = np,
                    dtype: Any = None, draw_on: str = "host") -> Any:
    """Standard normal draws of ``shape`` as an ``xp`` array.

    ``draw_on="host"`` (the default) draws with NumPy and copies to the device, so NumPy and
    CuPy give the same numbers for the same seed; ``draw_on="device"`` draws with CuPy's own
    generator (fast at large sizes, different numbers).
    """
    dt = resolve_dtype(dtype)
    if draw_on not in ("host", "device"):
        raise ValueError(f"draw_on must be 'host' or 'device', got {draw_on!r}")
    if draw_on == "device" and backend_name(xp) == "cupy":
        return default_rng(seed, xp).standard_normal(shape, dtype=dt)
    a = default_rng(seed, np).standard_normal(shape, dtype=dt)
    return asarray(a, xp)


def free_memory_bytes(xp: ModuleType = np) -> int:
    """Bytes that can be allocated now: the device's free memory (CuPy, including the pool's
    cached blocks) or the host's available memory (NumPy)."""
    if backend_name(xp) == "cupy":
        free, _total = xp.cuda.runtime.memGetInfo()
        pool = xp.get_default_memory_pool()
        return int(free + pool.free_bytes())
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def device_name(xp: ModuleType = np) -> str:
    """A human-readable name of the device behind ``xp`` (GPU model, or the host CPU)."""
    if backend_name(xp) == "cupy":
        dev = xp.cuda.Device()
        props = xp.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU: {cpu} ({os.cpu_count()} cores)"


def synchronize(xp: ModuleType = np) -> None:
    """Wait for queued device work (no-op on NumPy); call before reading a timer."""
    if backend_name(xp) == "cupy":
        xp.cuda.Device().synchronize()


def limit_blas_threads(n: int = 1):
    """Context manager limiting host BLAS/OpenMP threads to ``n`` (threadpoolctl).

    For loops of many small eigensolves (d of a few hundred) threads gain nothing, and on a
    machine shared with other jobs oversubscribed BLAS threads were measured 10× slower.
    """
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    return threadpool_limits(limits=int(n))


def install_hint(extra: str) -> str:
    """How to install an optional extra of rmt, from an index or in a clone of the repository
    (where ``pip install 'rmt[extra]'`` would fetch another copy of rmt)."""
    return f"pip install 'rmt[{extra}]' (in a clone of the repository: pip install -e '.[{extra}]')"


# --------------------------------------------------------------------------------------------
# Host memory of this process (Linux /proc; elsewhere what getrusage offers)


def rss_bytes() -> int:
    """Resident set size of this process now, in bytes (0 where ``/proc`` is missing)."""
    import resource  # noqa: PLC0415 - POSIX only

    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def reset_peak_rss() -> bool:
    """Reset the kernel's resident high-water mark of this process (Linux:
    ``echo 5 > /proc/self/clear_refs``), so that :func:`peak_rss_bytes` measures from now;
    False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Resident high-water mark of this process in bytes (``VmHWM``; getrusage's ``maxrss``
    where ``/proc`` is missing)."""
    import resource  # noqa: PLC0415 - POSIX only

    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
