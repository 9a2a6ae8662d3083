"""``cupyx.scipy`` of the CuPy stand-in (``special`` and ``sparse`` import on demand)."""

from cupy import get_array_module  # noqa: F401
