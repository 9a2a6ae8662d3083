"""Input validation shared by every public boundary of rmt.

Each check raises ValueError (or TypeError for a wrong kind of object) whose message names the
parameter and its valid range, e.g. ``n_classes must be an integer >= 2, got 1``. The CLI turns
these into one line on stderr and exit status 2.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "check_int",
    "check_index",
    "check_real",
    "check_choice",
    "check_probability",
    "check_finite_array",
    "check_matrix",
    "check_list",
    "check_writable",
    "check_memory",
    "arg_type",
    "int_arg",
    "real_arg",
    "int_list_arg",
    "real_list_arg",
    "choice_list_arg",
]


def _scalar_of(value: Any) -> Any:
    """A 0-d array (NumPy or CuPy, e.g. a reduction's result) as its Python scalar (from a GPU:
    one device→host copy); anything else unchanged."""
    if getattr(value, "ndim", None) == 0 and not isinstance(value, np.generic) \
            and callable(getattr(value, "item", None)):
        return value.item()
    return value


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int within ``[minimum, maximum]`` (either bound optional); a 0-d integer
    array (NumPy or CuPy) counts as its value."""
    rng = _range_text(minimum, maximum)
    value = _scalar_of(value)
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        if (isinstance(value, (Real, np.floating)) and not isinstance(value, (bool, np.bool_))
                and float(value).is_integer()):
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer{rng}, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer{rng}, got {value}")
    return value


def check_index(name: str, value: Any, n: int) -> int:
    """An index into ``n`` items: an integer (Python, NumPy or a 0-d integer array) in
    ``[0, n - 1]``. Unlike :func:`check_int`, a float such as ``1.0`` is refused: an index
    that arrives as a float is almost always a computed value gone wrong."""
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if (isinstance(value, (bool, np.bool_, float, complex, np.floating, np.complexfloating))
            or kind in ("b", "f", "c")):
        raise ValueError(f"{name} must be an integer in [0, {n - 1}], got {value!r} "
                         f"({type(value).__name__})")
    return check_int(name, value, 0, n - 1)


def check_real(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
               *, strict_min: bool = False, strict_max: bool = False) -> float:
    """``value`` as a finite float within the bounds (``strict_*`` excludes the bound); a 0-d
    real array (NumPy or CuPy) counts as its value."""
    value = _scalar_of(value)
    lo = "" if minimum is None else (f" > {minimum}" if strict_min else f" >= {minimum}")
    hi = "" if maximum is None else (f" < {maximum}" if strict_max else f" <= {maximum}")
    rng = lo + ("," if lo and hi else "") + hi
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real number{rng}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite real number{rng}, got {value!r}")
    if minimum is not None and (v <= minimum if strict_min else v < minimum):
        raise ValueError(f"{name} must be a finite real number{rng}, got {v}")
    if maximum is not None and (v >= maximum if strict_max else v > maximum):
        raise ValueError(f"{name} must be a finite real number{rng}, got {v}")
    return v


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` (case-insensitive) as one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value.lower()


def check_probability(name: str, value: Any, *, open_interval: bool = True) -> float:
    """A level or probability in (0, 1) (or [0, 1] when ``open_interval`` is False)."""
    return check_real(name, value, 0.0, 1.0, strict_min=open_interval, strict_max=open_interval)


def check_finite_array(name: str, a: Any, xp: Any = np) -> Any:
    """Raise ValueError naming ``name`` if ``a`` holds NaN or infinity; return ``a``."""
    if not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"{name} must contain only finite values (found NaN or infinity)")
    return a


def check_matrix(name: str, a: Any, xp: Any = np, *, rows: int | None = None,
                 cols: int | None = None) -> Any:
    """Check that ``a`` is a finite 2-D floating array with the given shape (None: any)."""
    ndim = getattr(a, "ndim", None)
    if ndim is None:
        raise ValueError(f"{name} must be a 2-D array, got {type(a).__name__} (convert it with "
                         "numpy.asarray)")
    if ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {a.shape}")
    r, c = a.shape
    if (rows is not None and r != rows) or (cols is not None and c != cols):
        want = f"({'any' if rows is None else rows}, {'any' if cols is None else cols})"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if r < 1 or c < 1:
        raise ValueError(f"{name} must be non-empty, got shape {a.shape}")
    if not (xp.issubdtype(a.dtype, xp.floating) if hasattr(xp, "issubdtype")
            else np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must have a floating dtype, got {a.dtype}")
    return check_finite_array(name, a, xp)


def _range_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def arg_type(check: Callable[..., Any], *args: Any, parse: Callable[[str], Any] | None = None,
             **kwargs: Any) -> Callable[[str], Any]:
    """An argparse ``type=`` converter from a check of this module: ``check("value", text,
    *args, **kwargs)`` (after ``parse(text)`` if given).

    argparse puts the flag name in front of the message, so the converter leaves the
    parameter name out (``argument --dim: must be an integer >= 1, got 0``): every flag is
    named once.
    """
    import argparse  # noqa: PLC0415

    def convert(text: str) -> Any:
        try:
            value = text if parse is None else parse(text)
            return check("value", value, *args, **kwargs)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None

    return convert


def _int_text(text: str) -> Any:
    """``"1e5"`` and ``"100000"`` as numbers for :func:`check_int`; anything else unchanged."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def int_arg(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` converter to an int in ``[minimum, maximum]`` (:func:`arg_type`)."""
    return arg_type(check_int, minimum, maximum, parse=_int_text)


def real_arg(minimum: float | None = None, maximum: float | None = None, *,
             strict_min: bool = False, strict_max: bool = False) -> Callable[[str], float]:
    """An argparse ``type=`` converter to a finite float within the bounds (:func:`arg_type`)."""
    return arg_type(check_real, minimum, maximum, strict_min=strict_min, strict_max=strict_max)


def check_list(name: str, text: Any, item: Callable[[str, Any], Any], what: str, *,
               unique_sorted: bool = True) -> list[Any]:
    """A comma-separated list (``"100,178,316"``) of items each passing ``item(name, value)``;
    sorted and without repeats unless ``unique_sorted`` is False (then first occurrences, in
    order). ``what`` describes one item for the message (``"integers >= 8"``)."""
    parts = [v.strip() for v in str(text).split(",") if v.strip()]
    try:
        if not parts:
            raise ValueError
        values = [item(name, v) for v in parts]
    except ValueError:
        raise ValueError(f"{name} must be a comma-separated list of {what}, got {text!r}") from None
    return sorted(set(values)) if unique_sorted else list(dict.fromkeys(values))


def int_list_arg(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], list]:
    """An argparse ``type=`` converter of ``"a,b,c"`` to a sorted list of distinct ints."""
    what = "integers" + _range_text(minimum, maximum)
    return arg_type(check_list, lambda n, v: check_int(n, _int_text(v), minimum, maximum), what)


def real_list_arg(minimum: float | None = None, maximum: float | None = None, *,
                  strict_min: bool = False) -> Callable[[str], list]:
    """An argparse ``type=`` converter of ``"a,b,c"`` to a sorted list of distinct finite floats
    in ``(minimum, maximum]`` (``strict_min``) or ``[minimum, maximum]``."""
    rng = f"{'(' if strict_min else '['}{minimum:g}, {maximum:g}]"
    return arg_type(check_list, lambda n, v: check_real(n, v, minimum, maximum,
                                                        strict_min=strict_min),
                    f"numbers in {rng}")


def choice_list_arg(choices: Iterable[str]) -> Callable[[str], list]:
    """An argparse ``type=`` converter of ``"a,b"`` to the named choices, in the order given."""
    choices = tuple(choices)
    return arg_type(check_list, lambda n, v: check_choice(n, v, choices),
                    f"names from {choices}", unique_sorted=False)


def check_writable(name: str, path: Any) -> Path:
    """Check, before any work, that a file can later be written at ``path``.

    Nothing is left behind: the missing folders of ``path`` are not created, only a temporary
    file is made (and removed) in the nearest folder that exists, which is how a write would
    fail there (permissions are not trusted: root passes ``os.access`` where it cannot write,
    e.g. under ``/proc``).

    Raises
    ------
    ValueError
        Naming ``name`` and the folder, if no file can be created there.
    """
    import tempfile  # noqa: PLC0415

    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a directory, not a file")
    folder = target.parent.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder} is not a directory")
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(f"{name} {str(path)!r} cannot be written ({reason} in {folder})") from None
    return target


def check_memory(what: str, parts: Iterable[tuple[str, float]], backend: str = "numpy",
                 advice: str = "") -> float:
    """Check, before allocating, that the arrays of a computation fit the free memory.

    Parameters
    ----------
    what : str
        The sizes being checked, as the user gave them (``"--dim 4000 --n-samples 8000"``).
    parts : iterable of (description, bytes)
        What has to be held at once, e.g. ``("X: N × d", 8 * N * d)``.
    backend : {"numpy", "cupy"}
        Whose memory: the host's or the GPU's (:func:`rmt.backend.free_memory_bytes`).
    advice : str
        How to make it fit (a smaller size, ``--dtype float32``, another backend).

    Returns
    -------
    float
        The estimate in bytes.

    Raises
    ------
    ValueError
        One line: the estimate, its largest parts, the free memory and ``advice``.
    """
    from rmt import backend as bk  # noqa: PLC0415 - keep this module free of array imports

    parts = [(str(w), float(b)) for w, b in parts]
    need = sum(b for _, b in parts)
    if bk.resolve_backend(backend) == "cupy":
        free, where = float(bk.free_memory_bytes(bk.xp_for("cupy"))), "GPU"
    else:
        free, where = float(bk.free_memory_bytes(np)), "host"
    if need <= free:
        return need
    gib = float(1 << 30)
    big = ", ".join(f"{w} {b / gib:.3g} GiB" for w, b in sorted(parts, key=lambda t: -t[1])[:3])
    raise ValueError(f"{what} need ≈ {need / gib:.3g} GiB ({big}) but {free / gib:.3g} GiB of "
                     f"{where} memory are free (about {need / free:.2g}× too much)"
                     + (f"; {advice}" if advice else ""))
