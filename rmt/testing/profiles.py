"""Hypothesis profiles registered by rmt.

* ``ci`` (the default): few examples, derandomised so a CI run is reproducible, no deadline
  (linear-algebra timings vary with BLAS threads and machine load, so a per-example deadline
  would fail for reasons that are not bugs).
* ``dev``: more examples, random, a generous 5 s deadline to catch accidental blow-ups.
* ``thorough``: many examples for a long pre-release run, no deadline.

Select one with ``pytest --hypothesis-profile=thorough`` or ``HYPOTHESIS_PROFILE=thorough``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("ci", max_examples=20, deadline=None, derandomize=True,
                          suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile("dev", max_examples=60, deadline=5000,
                          suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile("thorough", max_examples=500, deadline=None,
                          suppress_health_check=_SLOW_OK, print_blob=True)

PROFILES = ("ci", "dev", "thorough")


def load_default() -> str:
    """Load the profile named by ``HYPOTHESIS_PROFILE`` (default ``ci``); return its name."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if name not in PROFILES:
        raise ValueError(f"HYPOTHESIS_PROFILE must be one of {PROFILES}, got {name!r}")
    settings.load_profile(name)
    return name
