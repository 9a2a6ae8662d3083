"""Testing toolkit for users of rmt: Hypothesis strategies, statistical assertions, profiles.

``import rmt.testing`` registers the Hypothesis profiles ``ci`` (default), ``dev`` and
``thorough`` (see :mod:`rmt.testing.profiles`).
"""

from . import profiles  # noqa: F401  (registers the Hypothesis profiles)
