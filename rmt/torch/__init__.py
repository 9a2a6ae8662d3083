"""Block norms and off-/diagonal ratios of the Hessian of any PyTorch model, by Hessian-vector
products (the optional ``torch`` extra: ``pip install -e '.[torch]'``).

``import rmt`` never imports this package (nor PyTorch); ``import rmt.torch`` needs PyTorch and
raises an ImportError naming the extra when it is missing.

The pieces:

* :mod:`rmt.torch.blocks`: partitions of a module's parameters into Hessian blocks: the paper's
  rule (one block per output neuron; the output layer one block per class/token; Q and K one
  block per attention head, Adam-mini's rule), one block per tensor, or index sets you give.
* :mod:`rmt.torch.problem`: a model, a loss and a batch as a Hessian operator over the flat
  parameter vector: batched HVPs (``torch.func``, forward-over-reverse, ``vmap`` over probes),
  float64 by default, and the dense Hessian for small models (the reference).
* :mod:`rmt.torch.estimators`: Hutchinson estimates of ``‖H_ij‖²_F`` for chosen pairs and of the
  per-layer sums ``Σ_{i≠j}‖H_ij‖²_F`` and ``Σ_i‖H_ii‖²_F``, with confidence intervals and a
  sequential stopping rule (relative-error target, HVP cap); exact values from the dense route.
* :mod:`rmt.torch.models`: rmt's linear and one-hidden-layer classifiers as torch modules, a small
  GPT-style transformer and an MLP, with synthetic data.
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised only where torch is absent
    raise ImportError("rmt.torch needs PyTorch: pip install 'rmt[torch]' (or pip install "
                      "torch>=2.3)") from _exc

from .blocks import Block, Partition, partition, user_partition  # noqa: E402
from .estimators import (  # noqa: E402
    AggregateEstimate,
    PairEstimate,
    StoppingRule,
    aggregate_norms,
    dense_block_norms,
    pair_norms,
)
from .problem import HessianProblem  # noqa: E402

__all__ = [
    "Block",
    "Partition",
    "partition",
    "user_partition",
    "HessianProblem",
    "StoppingRule",
    "PairEstimate",
    "AggregateEstimate",
    "pair_norms",
    "aggregate_norms",
    "dense_block_norms",
]
