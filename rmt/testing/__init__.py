"""Testing toolkit for users of rmt: Hypothesis strategies, statistical assertions, profiles.

* :mod:`rmt.testing.strategies` — Hypothesis strategies for shapes in the proportional regime,
  seeds, probability vectors (including near-degenerate ones), logits with extreme values,
  Gaussian and non-Gaussian data matrices, models at initialisation and weight laws. Arrays are
  built with NumPy from a drawn seed, so failures shrink and replay.
* :mod:`rmt.testing.assertions` — :func:`assert_spectrum_matches`,
  :func:`assert_close_to_prediction` and :func:`assert_rate`, which fail with a
  :class:`StatisticalAssertionError` whose message gives the numbers and the derived bound.
* :mod:`rmt.testing.profiles` — Hypothesis profiles ``ci`` (default), ``dev`` and ``thorough``,
  registered on import.

Needs Hypothesis (``pip install rmt[test]``).
"""

from . import profiles  # noqa: F401  (registers the Hypothesis profiles)
from .assertions import (
    RateFit,
    SpectrumComparison,
    StatisticalAssertionError,
    assert_close_to_prediction,
    assert_rate,
    assert_spectrum_matches,
    ks_bound,
    spectrum_distance,
)
from .strategies import (
    DISTRIBUTIONS,
    LOGIT_KINDS,
    PROBABILITY_KINDS,
    WEIGHT_LAW_KINDS,
    InvalidStrategyArgument,
    ProblemShape,
    Shape,
    class_counts,
    data_matrices,
    hidden_models,
    hidden_widths,
    linear_models,
    logit_matrices,
    make_data_matrix,
    make_logits,
    make_probability_vector,
    make_weight_law,
    make_weight_samples,
    probability_vectors,
    problem_shapes,
    proportional_shapes,
    seeds,
    sigmas,
    weight_laws,
    weight_samples,
)

__all__ = [
    # assertions
    "StatisticalAssertionError",
    "SpectrumComparison",
    "RateFit",
    "assert_spectrum_matches",
    "assert_close_to_prediction",
    "assert_rate",
    "ks_bound",
    "spectrum_distance",
    # strategies
    "InvalidStrategyArgument",
    "Shape",
    "ProblemShape",
    "DISTRIBUTIONS",
    "PROBABILITY_KINDS",
    "LOGIT_KINDS",
    "WEIGHT_LAW_KINDS",
    "seeds",
    "proportional_shapes",
    "problem_shapes",
    "class_counts",
    "hidden_widths",
    "sigmas",
    "probability_vectors",
    "logit_matrices",
    "data_matrices",
    "linear_models",
    "hidden_models",
    "weight_laws",
    "weight_samples",
    "make_probability_vector",
    "make_logits",
    "make_data_matrix",
    "make_weight_law",
    "make_weight_samples",
    # profiles
    "profiles",
]
