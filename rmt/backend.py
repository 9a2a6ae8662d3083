"""Array backends: NumPy (CPU, the default) or CuPy (GPU), behind one code path.

Functions in rmt take arrays and ask them for their namespace (:func:`get_xp`), or take
``backend="numpy" | "cupy"`` (:func:`xp_for`). CuPy is imported lazily, only when asked for,
so ``import rmt`` never needs it; asking for it where it is missing or no CUDA device exists
raises :class:`BackendUnavailableError` (a ``RuntimeError``) that says why.

Randomness: every random function takes ``seed`` (an int, a :class:`numpy.random.SeedSequence`,
or a :class:`numpy.random.Generator`). Independent streams come from
``SeedSequence(seed).spawn`` (:func:`spawn_seeds`), so results never depend on batching.
Where draws are made is ``draw_on`` (:func:`resolve_draw_on`): ``"auto"`` (the default) draws on
the device for CuPy — a CuPy generator seeded from the same SeedSequence, no host→device copy —
and on the host for NumPy; ``"host"`` draws with NumPy for both, so that NumPy and CuPy see the
same numbers for the same seed (the equality tests use it).

Memory: a run plans its memory once (:func:`plan_memory`) and passes the budget down, so no hot
path asks the device for its free memory and chunk sizes do not change from call to call.
Copies to the host: :func:`to_host` moves several device arrays in one transfer.
"""

from __future__ import annotations

import os
import sys
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
    "DRAW_ON",
    "resolve_draw_on",
    "to_host",
    "MEMORY_PLAN_FRACTION",
    "plan_memory",
    "total_memory_bytes",
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


def _reset_cupy_cache() -> None:
    """Forget the imported CuPy (tests change the stand-in's device count)."""
    global _cupy_module
    _cupy_module = None


def _is_cupy_array(a: Any) -> bool:
    cp = sys.modules.get("cupy")
    if cp is None:   # no CuPy imported: nothing can be a CuPy array
        return False
    nd = getattr(cp, "ndarray", None)
    return isinstance(nd, type) and isinstance(a, nd)


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


#: Where random numbers are drawn: ``"auto"`` (device for CuPy, host for NumPy), ``"host"``
#: (NumPy for both: equal numbers on both backends) or ``"device"``.
DRAW_ON = ("auto", "host", "device")


def resolve_draw_on(draw_on: Any, xp: ModuleType | str | None) -> str:
    """``"host"`` or ``"device"`` for a ``draw_on`` of :data:`DRAW_ON` and a backend (a module
    or a name): ``"auto"`` means the device for CuPy and the host for NumPy; ``"device"`` on
    NumPy is the host."""
    if not isinstance(draw_on, str) or draw_on.lower() not in DRAW_ON:
        raise ValueError(f"draw_on must be one of {DRAW_ON}, got {draw_on!r}")
    name = xp if isinstance(xp, str) or xp is None else backend_name(xp)
    on_gpu = resolve_backend(name) == "cupy"
    return "device" if on_gpu and draw_on.lower() != "host" else "host"


def standard_normal(shape: tuple[int, ...], seed: Any = None, xp: ModuleType = np,
                    dtype: Any = None, draw_on: str = "auto") -> Any:
    """Standard normal draws of ``shape`` as an ``xp`` array.

    ``draw_on="auto"`` (the default) draws with CuPy's own generator for a CuPy ``xp`` (no
    host→device copy; numbers differ from NumPy's) and with NumPy otherwise; ``"host"`` draws
    with NumPy and copies to the device, so NumPy and CuPy give the same numbers for the same
    seed.
    """
    dt = resolve_dtype(dtype)
    if resolve_draw_on(draw_on, xp) == "device":
        return default_rng(seed, xp).standard_normal(shape, dtype=dt)
    a = default_rng(seed, np).standard_normal(shape, dtype=dt)
    return asarray(a, xp)


def to_host(*arrays: Any) -> tuple[np.ndarray, ...]:
    """Host copies of ``arrays`` (NumPy or CuPy) with at most one device→host transfer.

    The device arrays are cast to their common dtype, joined into one flat buffer, copied once
    and split again (each cast back to its own dtype: exact, since the common dtype holds every
    value of each). One transfer means one synchronisation instead of one per array.
    """
    device = [a for a in arrays if _is_cupy_array(a)]
    if len(device) <= 1:
        return tuple(to_numpy(a) for a in arrays)
    xp = get_cupy()
    common = np.result_type(*[a.dtype for a in device])
    flat = to_numpy(xp.concatenate([a.astype(common, copy=False).ravel() for a in device]))
    out, at = [], 0
    for a in arrays:
        if _is_cupy_array(a):
            n = int(a.size)
            out.append(flat[at:at + n].reshape(a.shape).astype(a.dtype, copy=False))
            at += n
        else:
            out.append(np.asarray(a))
    return tuple(out)


#: Fraction of the device's total memory (GPU; host: total, capped by a cgroup limit) that a run
#: plans to use when no budget is given (:func:`plan_memory`).
MEMORY_PLAN_FRACTION = 0.5


def _host_memory() -> tuple[int, int]:
    """``(available, total)`` bytes of host memory (total capped by a cgroup v2 limit)."""
    info = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    page = os.sysconf("SC_PAGE_SIZE")
    total = info.get("MemTotal") or page * os.sysconf("SC_PHYS_PAGES")
    avail = info.get("MemAvailable") or page * os.sysconf("SC_AVPHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        if limit.isdigit():
            total = min(total, int(limit))
            avail = min(avail, total)
    except OSError:
        pass
    return int(avail), int(total)


def _memory_info(xp: ModuleType) -> tuple[int, int]:
    """``(free, total)`` bytes of the device behind ``xp`` (one query; CuPy's pool counted free)."""
    if backend_name(xp) == "cupy":
        free, total = xp.cuda.runtime.memGetInfo()
        return int(free + xp.get_default_memory_pool().free_bytes()), int(total)
    return _host_memory()


def total_memory_bytes(xp: ModuleType = np) -> int:
    """Total memory of the device behind ``xp`` (GPU memory, or host memory capped by a cgroup
    limit)."""
    return _memory_info(xp)[1]


def plan_memory(xp: ModuleType = np, memory_budget: Any = None, *,
                name: str = "memory_budget") -> int:
    """The bytes one run may use: its memory plan, made once at the start of a run.

    ``memory_budget`` when given (an integer >= 1); otherwise :data:`MEMORY_PLAN_FRACTION` of the
    device's *total* memory, so that chunk sizes — and the summation order of chunked results —
    are the same in every run on the same device. Only when the device has less free memory
    than that is the plan cut to the free memory, rounded down to a power of two (so small
    fluctuations of the free memory do not change it). Functions called inside a run take the
    run's budget and never ask the device again.
    """
    if memory_budget is not None:
        from .validation import check_int  # noqa: PLC0415 - validation imports nothing heavy

        return check_int(name, memory_budget, 1)
    free, total = _memory_info(xp)
    plan = int(MEMORY_PLAN_FRACTION * total)
    if free < plan:
        plan = 1 << max(20, int(free).bit_length() - 1)
    return max(plan, 1 << 20)


def free_memory_bytes(xp: ModuleType = np) -> int:
    """Bytes that can be allocated now: the device's free memory (CuPy, including the pool's
    cached blocks) or the host's available memory (NumPy). For reports; runs use
    :func:`plan_memory`."""
    return _memory_info(xp)[0]


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


def blas_threads() -> int:
    """Threads the host BLAS runs on now (threadpoolctl, so that a :func:`limit_blas_threads`
    context is honoured; 1 where no BLAS library is reported)."""
    from threadpoolctl import threadpool_info  # noqa: PLC0415

    n = [int(i.get("num_threads") or 1) for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(n, default=1)


_POOL: Any = None          # (pid that made it, its thread count, ThreadPoolExecutor)

#: Entries of the stack ``A`` from which :func:`stacked_matmul` splits it over threads by
#: default: asking threadpoolctl for the thread count and the pool's hand-off cost about 0.6 ms
#: (a 10-block stack of 6 × 6 took 0.63 ms against 3 µs), under 15 % of the product from here on.
SPLIT_MATMUL_ABOVE = 2 ** 22


def stacked_matmul(A: np.ndarray, U: np.ndarray, threads: int | None = None) -> np.ndarray:
    """``A @ U`` for host stacks ``A`` (``(m, a, b)``) and ``U`` (``(m, b, k)``), the stack split
    across ``threads`` Python threads (default :func:`blas_threads`).

    NumPy's stacked matmul calls one small GEMM per matrix, and OpenBLAS runs a GEMM of
    ``200 × 200`` by ``3`` on one thread: on the 2-core VM, ``(10⁴, 200, 200) @ (10⁴, 200, 3)``
    in float32 took 0.28–0.34 s as one call (on one or two BLAS threads) and 0.16–0.19 s split
    over two threads (NumPy releases the GIL in matmul). With ``threads`` not given, stacks of
    fewer than :data:`SPLIT_MATMUL_ABOVE` entries go to one ``np.matmul`` call."""
    global _POOL
    m = A.shape[0]
    if A.ndim != 3 or U.ndim != 3 or U.shape[0] != m or (threads is None and
                                                         A.size < SPLIT_MATMUL_ABOVE):
        return np.matmul(A, U)
    threads = min(blas_threads() if threads is None else int(threads), m)
    if threads <= 1:
        return np.matmul(A, U)
    out = np.empty((m, A.shape[1], U.shape[2]), dtype=np.result_type(A, U))
    # A new pool after a fork too: a child inherits the pool object but not its threads, and
    # work handed to it would never run (sweeps fork worker processes).
    if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < threads:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
        _POOL = (os.getpid(), threads,
                 ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rmt-matmul"))
    edges = np.linspace(0, m, threads + 1).astype(int)
    jobs = [_POOL[2].submit(np.matmul, A[a:b], U[a:b], out=out[a:b])
            for a, b in zip(edges[:-1], edges[1:])]
    for job in jobs:
        job.result()
    return out


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
