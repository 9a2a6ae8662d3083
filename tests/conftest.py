"""Shared pytest configuration: Hypothesis profiles and the GPU marker."""

import pytest

from rmt.backend import cupy_available
from rmt.testing import profiles

profiles.load_default()


def pytest_collection_modifyitems(config, items):
    if cupy_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device (none here)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
