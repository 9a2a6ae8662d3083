"""``cupy.cuda.runtime`` of the stand-in: device count, memory and properties from
``cupy._standin.CONFIG``; ``memGetInfo`` calls and synchronisations are counted."""

from typing import Any as _Any

from .. import _standin as _s
from .._names import NAMES as _NAMES

is_hip = False


class CUDARuntimeError(RuntimeError):
    """An error reported by the (pretend) CUDA runtime."""

    def __init__(self, msg: str = "", status: int = 0) -> None:
        super().__init__(msg)
        self.status = status


def getDeviceCount() -> int:
    if _s.CONFIG.device_count < 1:
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected", 100)
    return int(_s.CONFIG.device_count)


def getDevice() -> int:
    return 0


def setDevice(device: int) -> None:
    if not 0 <= int(device) < _s.CONFIG.device_count:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal", 101)


def memGetInfo() -> tuple[int, int]:
    _s.COUNTS.mem_info += 1
    return int(_s.CONFIG.free_bytes), int(_s.CONFIG.total_bytes)


def getDeviceProperties(device: int) -> dict[str, _Any]:
    getDeviceCount()
    return {"name": _s.CONFIG.name.encode(), "totalGlobalMem": int(_s.CONFIG.total_bytes),
            "major": 9, "minor": 0, "multiProcessorCount": 0, "clockRate": 0,
            "memoryClockRate": 0, "memoryBusWidth": 0}


def deviceSynchronize() -> None:
    _s.COUNTS.syncs += 1


def streamSynchronize(stream: _Any) -> None:
    _s.COUNTS.syncs += 1


def runtimeGetVersion() -> int:
    return 12080


def driverGetVersion() -> int:
    return 12080


_IMPLEMENTED = {"is_hip", "CUDARuntimeError", "getDeviceCount", "getDevice", "setDevice",
                "memGetInfo", "getDeviceProperties", "deviceSynchronize", "streamSynchronize",
                "runtimeGetVersion", "driverGetVersion"}
for _name in _NAMES["cupy.cuda.runtime"]:
    if _name not in _IMPLEMENTED:
        globals()[_name] = _s.Placeholder(f"cupy.cuda.runtime.{_name}")
