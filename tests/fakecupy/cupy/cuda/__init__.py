"""``cupy.cuda`` of the stand-in: one pretend device with settable count, memory and name."""

import time as _time
from typing import Any as _Any

from .. import _standin as _s
from .._names import NAMES as _NAMES
from . import runtime  # noqa: F401


class Device:
    """The pretend CUDA device ``id`` (``synchronize`` is counted)."""

    def __init__(self, device: _Any = None) -> None:
        self.id = 0 if device is None else int(device)
        if not 0 <= self.id < max(1, _s.CONFIG.device_count):
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def synchronize(self) -> None:
        _s.COUNTS.syncs += 1

    def use(self) -> None:
        pass

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc: _Any) -> None:
        pass

    @property
    def mem_info(self) -> tuple[int, int]:
        return runtime.memGetInfo()

    @property
    def compute_capability(self) -> str:
        return "90"

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


class Stream:
    """The null stream (``synchronize`` is counted)."""

    null: "Stream"

    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False,
                 priority: _Any = None) -> None:
        self.ptr = 0

    def synchronize(self) -> None:
        _s.COUNTS.syncs += 1

    def use(self) -> "Stream":
        return self

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: _Any) -> None:
        pass


Stream.null = Stream(null=True)


class Event:
    """A timing event on the host clock (``synchronize`` is counted)."""

    def __init__(self, block: bool = False, disable_timing: bool = False,
                 interprocess: bool = False) -> None:
        self.t = None

    def record(self, stream: _Any = None) -> None:
        self.t = _time.perf_counter()

    def synchronize(self) -> None:
        _s.COUNTS.syncs += 1

    @property
    def done(self) -> bool:
        return True


def get_elapsed_time(start_event: Event, end_event: Event) -> float:
    """Milliseconds between two recorded events."""
    return 1e3 * (end_event.t - start_event.t)


def get_current_stream(device_id: _Any = None) -> Stream:
    return Stream.null


def get_device_id() -> int:
    return 0


def is_available() -> bool:
    return _s.CONFIG.device_count > 0


_IMPLEMENTED = {"Device": Device, "Stream": Stream, "Event": Event, "runtime": runtime,
                "get_elapsed_time": get_elapsed_time, "get_current_stream": get_current_stream,
                "get_device_id": get_device_id, "is_available": is_available}
for _name in _NAMES["cupy.cuda"]:
    if _name not in _IMPLEMENTED:
        globals()[_name] = _s.Placeholder(f"cupy.cuda.{_name}")
