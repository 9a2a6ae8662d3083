"""Hypothesis profiles registered by rmt (on ``import rmt.testing``).

=============  ============  ===========  ==========  ================================
profile        max_examples  derandomize  deadline    use
=============  ============  ===========  ==========  ================================
``ci``         20            yes          none        the default; every CI run
``dev``        60            no           5 s         local work: new examples each run
``thorough``   500           no           none        a long pre-release run
=============  ============  ===========  ==========  ================================

Select one with ``pytest --hypothesis-profile=thorough`` or ``HYPOTHESIS_PROFILE=thorough``
(read by :func:`load_default`, which ``tests/conftest.py`` calls).

Deadline policy (why linear algebra gets no per-example deadline in ``ci``)
--------------------------------------------------------------------------
Hypothesis' default deadline is 200 ms per example. An example here is an eigendecomposition
or a few matrix products whose time depends on things that are not bugs: the first call into
BLAS/LAPACK (thread-pool start-up, page faults on fresh buffers), the number of BLAS threads,
and load from other jobs on a shared 2-core CI machine, each of which moves a 10 ms example by
a factor of 10 or more. A deadline would then fail at random, which is worse than useless in
CI. The *cost* of a test is bounded instead by its strategies: every default size bound in
:mod:`rmt.testing.strategies` keeps an example at O(10 ms) and ``max_examples`` caps the count,
so the run time of a test is known in advance. Speed itself is measured by ``benchmarks/``
against stated floors, not by the unit tests.

``dev`` sets a generous 5 s deadline: far above any example the default strategies build
(~10–100 ms), so it fires only on a complexity blow-up (an O(d³) path where O(d²) was meant, a
dense d²×d² matrix formed by accident) while a cold BLAS or a busy laptop stays well inside it.
Hypothesis re-runs an example that exceeded the deadline and reports it only if it is slow
again, which filters one-off stalls.

Other settings
--------------
* ``ci`` is derandomised (examples derived from the test's source), so two CI runs of the same
  commit test the same examples and a red run reproduces; it therefore keeps no example
  database. ``dev`` and ``thorough`` use the database in ``.hypothesis/`` so a local failure is
  replayed first next time.
* ``print_blob`` is on everywhere: a failure prints an ``@reproduce_failure`` blob.
* The ``too_slow`` and ``data_too_large`` health checks are suppressed: strategies that build
  a matrix from a seed are meant to be slower than Hypothesis' micro-benchmarks of generation.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["PROFILES", "PROFILE_SETTINGS", "load_default"]

_SLOW_OK = (HealthCheck.too_slow, HealthCheck.data_too_large)

#: The settings of each profile (keyword arguments of ``hypothesis.settings``).
PROFILE_SETTINGS: dict[str, dict] = {
    "ci": dict(max_examples=20, deadline=None, derandomize=True,
               suppress_health_check=_SLOW_OK, print_blob=True),
    "dev": dict(max_examples=60, deadline=5000,
                suppress_health_check=_SLOW_OK, print_blob=True),
    "thorough": dict(max_examples=500, deadline=None,
                     suppress_health_check=_SLOW_OK, print_blob=True),
}
PROFILES = tuple(PROFILE_SETTINGS)

for _name, _kwargs in PROFILE_SETTINGS.items():
    settings.register_profile(_name, **_kwargs)


def load_default() -> str:
    """Load the profile named by ``HYPOTHESIS_PROFILE`` (default ``ci``); return its name.

    Raises
    ------
    ValueError
        If ``HYPOTHESIS_PROFILE`` names no registered profile.
    """
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if name not in PROFILES:
        raise ValueError(f"HYPOTHESIS_PROFILE must be one of {PROFILES}, got {name!r}")
    settings.load_profile(name)
    return name
