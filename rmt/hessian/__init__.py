r"""Closed-form Hessians of the classifiers in :mod:`rmt.models`: full matrices, single blocks,
block Frobenius norms without forming blocks, and off-/diagonal block ratios.

Everything here is an explicit formula; nothing is differentiated automatically. The tests
check every formula against central finite differences of :func:`rmt.models.loss_value`.

Conventions (those of :mod:`rmt.models`)
----------------------------------------
``X`` is ``(N, d)``, one sample per row; labels ``y`` are integers in ``[0, C)``. Parameters
are ordered block by block: the rows ``v_0, …, v_{C-1}`` of ``V``, then (hidden net) the rows
``w_0, …, w_{m-1}`` of ``W``; so the full Hessian is indexed like
``θ = concat(V.ravel(), W.ravel())``. Block indices follow the same order: for the linear model
blocks ``0 … C-1`` are the rows of ``V`` (``d × d``); for the hidden net blocks ``0 … C-1`` are
the rows of ``V`` (``m × m``) and blocks ``C … C+m-1`` the rows of ``W`` (``d × d``); a mixed
block ``(a, C + l)`` is ``m × d``.

The formulas
------------
Per sample ``n`` let ``z_n`` be the logits, ``g_n = ∂ℓ_n/∂z_n`` and ``A_n = ∂²ℓ_n/∂z_n²``:

* cross-entropy: ``g = p − e_y``, ``A = diag(p) − p pᵀ`` (``p = softmax(z)``);
* MSE against one-hot targets (with the ½ of :func:`rmt.models.loss_value`): ``g = z − e_y``,
  ``A = I``.

Linear model ``z = V x``: ``H_ij = (1/N) Σ_n A_n[i, j] x_n x_nᵀ`` (labels drop out).

One hidden layer ``z = V φ(W x)``, ``u = W x``, ``h = φ(u)``, ``h' = φ'(u)``, ``h'' = φ''(u)``:

* ``V``–``V``: ``H_{v_a v_b} = (1/N) Σ_n A_n[a, b] h_n h_nᵀ`` (``z`` is linear in ``V``: no
  residual term, no labels);
* ``W``–``W``: ``H_{w_k w_l} = (1/N) Σ_n B_n[k, l] x_n x_nᵀ`` with
  ``B_n[k, l] = h'_{nk} h'_{nl} (Vᵀ A_n V)[k, l] + δ_kl h''_{nk} (Vᵀ g_n)_k``
  (Gauss–Newton term plus the residual term ``Σ_c g_c ∂²z_c/∂w_k∂w_l``);
* ``V``–``W``: ``H_{v_a w_l} = (1/N) Σ_n [(A_n V)[a, l] h'_{nl} h_n + g_{na} h'_{nl} e_l] x_nᵀ``
  (``m × d``; the second term is the residual ``g_a ∂²z_a/∂v_a∂w_l``).

So every same-layer block is a *weighted sample covariance* ``(1/N) Σ_n w_n f_n f_nᵀ`` with
features ``f = x`` (linear, ``W`` blocks) or ``f = h`` (``V`` blocks of the hidden net), and its
squared Frobenius norm is the Gram identity
``‖H‖²_F = (1/N²) Σ_{n,n'} w_n w_{n'} (f_nᵀ f_{n'})²`` — no ``d × d`` block is needed.

Labels: the linear model's Hessian and the hidden net's ``V``–``V`` blocks do not depend on
``y``, so ``y=None`` is allowed there. The ``V``–``W`` blocks always depend on ``y`` (through
``g``); the ``W``–``W`` blocks depend on it only through ``φ''``, so they are label-free for
``relu`` and ``identity`` (``φ'' = 0``) and need ``y`` for ``tanh`` and ``gelu``. Asking for a
label-dependent quantity with ``y=None`` raises ValueError naming ``y``.

Precision: the functions compute in the floating type of the inputs (float32 only if the model
and ``X`` are both float32). :func:`block_norms` and :func:`block_ratio` run their matrix
products in that type but accumulate across chunks, and reduce, in float64; their results are
float64.

Modules: :mod:`._context` (inputs, softmax head, memory planner), :mod:`.dense` (the full
Hessian and single blocks), :mod:`.norms` (block norms), :mod:`.aggregate` (the exact CE
aggregate and its rounding bound), :mod:`.sampled` (the aggregate from sampled sample pairs,
with a CI), :mod:`.ratio` (block ratios).
"""

from ._context import AUTO_MAX_PAIRS, MAX_ALL_PAIRS, MAX_DENSE_PARAMS, MEMORY_SAFETY
from .dense import block, hessian
from .norms import BlockNormSums, block_norms
from .ratio import BlockRatio, UndefinedRatioWarning, block_ratio
from .sampled import SampledBlockNorms

__all__ = [
    "MAX_DENSE_PARAMS",
    "MEMORY_SAFETY",
    "AUTO_MAX_PAIRS",
    "MAX_ALL_PAIRS",
    "BlockNormSums",
    "BlockRatio",
    "UndefinedRatioWarning",
    "SampledBlockNorms",
    "hessian",
    "block",
    "block_norms",
    "block_ratio",
]

