r"""Structured approximations of a layer's Hessian — the views of GD, Adam, Adam-mini and a
per-block Newton step (Muon's block view) — and how good they are.

The Hessian of one layer, blocks = rows of the weight matrix (the paper's blocks: one per output
neuron), is approximated by

=================  ==========================================================  ==============
name               P                                                           optimiser view
=================  ==========================================================  ==============
``identity``       ``τ I`` with ``τ = tr H / n`` (the Frobenius-best multiple)  GD
``diagonal``       ``diag H``                                                  Adam
``block-scalar``   ``⊕_i s_i I_p`` with ``s_i = tr H_ii / p`` (mean diagonal)  Adam-mini
``block``          ``⊕_i H_ii`` (block-diagonal)                               per-block Newton
=================  ==========================================================  ==============

and for each :func:`preconditioner_quality` reports

* ``frobenius_error`` ``‖H − P‖_F / ‖H‖_F`` — exact (closed forms: ``‖H − blockdiag H‖²_F`` is the
  off-diagonal block sum of :func:`rmt.hessian.block_norms`, never total − diagonal; the others
  add within-block terms computed from ``diag H``);
* ``spectral_error`` ``‖H − P‖₂ / ‖H‖₂``;
* ``kappa``: the condition number of ``P^{-1/2} H P^{-1/2}`` on ``range(H)`` (largest over smallest
  *non-zero* eigenvalue; ``identity`` gives ``κ(H)`` itself);
* ``newton_error`` ``‖Π P⁻¹g − H⁺g‖ / ‖H⁺g‖`` for the layer's actual gradient ``g``, with ``Π`` the
  orthogonal projector onto ``range(H)``; ``newton_direction_error`` the same for the best
  multiple of ``P⁻¹g`` (the sine of the angle: a learning rate can fix the scale, not the
  direction); ``newton_decrease`` the fraction of the Newton decrease ``½ gᵀH⁺g`` of the quadratic
  model that the best step along ``−P⁻¹g`` achieves, ``(gᵀP⁻¹g)² / (gᵀP⁻¹HP⁻¹g · gᵀH⁺g)``.

The null space of cross-entropy
-------------------------------
For a softmax layer ``H = (1/N) Σ_n A_n ⊗ f_n f_nᵀ`` with ``A_n = diag p_n − p_n p_nᵀ``, ``A_n 1 = 0``,
so ``H (1 ⊗ u) = 0`` for every ``u ∈ R^p``; when the features ``F`` have full column rank this is
the whole null space (``proofs.preconditioners``). The loss is exactly invariant along it
(``V → V + 1uᵀ`` shifts every logit of a sample equally), so a step's null component is
irrelevant: errors are measured after projecting onto ``range(H)`` (subtract the mean row), and
``κ`` is taken on ``range(H)``. Every ``P`` here is positive definite, so ``P^{-1/2} H P^{-1/2}``
has exactly ``p`` zero eigenvalues, with eigenvectors ``P^{1/2}(1 ⊗ u)``.

Two methods
-----------
``"dense"`` forms the layer's Hessian (``n ≤`` :data:`MAX_DENSE_DIM`) and computes every quantity
exactly with ``eigh``; the null space is numerical (eigenvalues ``≤ n·eps·λ_max``), which also
covers the hidden net's ``W`` blocks (no structural null space there).

``"lanczos"`` (softmax layers only: the linear model, or the hidden net's ``V`` blocks) never
forms ``H``: ``HU = (1/N)[A ∘ (U Fᵀ)] F`` costs ``4 N C p`` flops, ``diag H = Qᵀ(F∘F)/N`` with
``Q = P∘(1−P)``, and the ``C`` diagonal blocks ``F ᵀdiag(q_i)F/N`` are formed and inverted
(Cholesky; ``C p²`` entries, 3.2 GB at ``C = 10⁴``, ``p = 200`` in float64). Above
:data:`FLOAT32_PRECONDITIONER_ABOVE` bytes the inverses are stored in float32 only (1.6 GB): they
precondition CG and LOBPCG (a step reads half the bytes), where rounding costs iterations, never
accuracy, since every reported number comes from float64 products; float64 block solves refine
them iteratively against matrix-free float64 products with the blocks.
Extreme eigenvalues of ``P⁻¹H`` on ``range(H)`` come from Lanczos on
``P⁻¹(H + c·P N S⁻¹ Nᵀ P)`` with ``N = 1 ⊗ I_p`` and ``S = NᵀPN`` (:func:`rmt.spectra.lanczos` on
``P^{-1/2}(…)P^{-1/2}`` for diagonal ``P``; :func:`rmt.spectra.lanczos_pencil`, one product and one
block solve per step, for the block-diagonal one — with float32 inverses, a float32 pencil whose
two extreme Ritz vectors are then certified in float64): the added term moves the ``p`` null
eigenvalues to ``c = C/(C−1)``, the mean non-zero eigenvalue (``tr P⁻¹H = Cp`` for every ``P``
here), which lies inside the spectrum, so the extreme Ritz values are ``λ_max`` and the smallest
*non-zero* eigenvalue, and rounding cannot grow a spurious zero Ritz value. Each is reported with
the interval from its Ritz residual (``λ_max ∈ [θ_max, θ_max + r]``, ``λ⁺_min ∈ [θ_min − r,
θ_min]``, valid once the extreme Ritz pairs have converged, as in
:func:`rmt.spectra.spectral_edges`); a run stops early once the values it is for are within
``lanczos_rtol`` (after at least 25 steps: a residual only brackets *some* eigenvalue, and
earlier the top Ritz value can sit on λ₂ before λ₁ shows; measured in the comment of
``_MIN_LANCZOS_STEPS``). The smallest eigenvalues of the diagonal ``P`` (identity,
diagonal, block-scalar) need many more steps (``κ`` up to thousands): they come from one
block-preconditioned LOBPCG run for the three in lockstep
(:func:`rmt.spectra.lockstep.smallest_lockstep`), iterated until the Ritz residual is below
``kappa_rtol·θ`` and then certified with a fresh float64 product. ``H⁺g`` comes from conjugate
gradients preconditioned by the block-diagonal ``P`` (SciPy / CuPy ``cg``) and is projected onto
``range(H)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import backend as bk
from .hessian import block, block_norms, hessian
from .hessian._context import _model_kind
from .models import LinearClassifier, OneHiddenLayer, check_data, softmax
from .optim import loss_and_grad, params_from_model
from .spectra import lanczos, lanczos_pencil
from .softmax_layer import BlockP, DiagonalP, SoftmaxLayerHessian
from .spectra.lockstep import smallest_lockstep
from .validation import check_choice, check_int, check_real

__all__ = [
    "APPROXIMATIONS",
    "METHODS",
    "MAX_DENSE_DIM",
    "ApproximationQuality",
    "PreconditionerReport",
    "SoftmaxLayerHessian",
    "preconditioner_quality",
    "dense_quality",
    "layer_hessian",
    "QUANTITIES",
    "quality_trial",
]

#: The structured approximations, in the order they are reported.
APPROXIMATIONS = ("identity", "diagonal", "block-scalar", "block")
METHODS = ("auto", "dense", "lanczos")
#: ``method="auto"`` forms the layer Hessian up to this many parameters (a 2500² float64 matrix
#: is 50 MB; each of the ~10 dense eigendecompositions takes seconds on one free core).
MAX_DENSE_DIM = 2500
#: Above this many bytes (in the Hessian's dtype) the block inverses are stored in float32 only
#: (see "Two methods" and ``BlockP``): 512 MB, ``C p² > 6.7·10⁷`` in float64 (``C > 1677`` at
#: ``p = 200``).
FLOAT32_PRECONDITIONER_ABOVE = 1 << 29
#: Lanczos keeps its basis (full reorthogonalisation) only up to this many bytes (32 MB).
REORTHOGONALIZE_BELOW = 1 << 25
#: The smallest eigenvalues of layers with at most this many parameters come from ``eigh``.
_DENSE_BOTTOM = 16
_F64 = np.float64


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApproximationQuality:
    """How well one structured ``P`` stands in for the layer Hessian ``H`` (see the module
    docstring for each definition). ``*_bounds`` are the Lanczos intervals (equal to the value
    for ``method="dense"``)."""

    approximation: str
    frobenius_error: float
    spectral_error: float
    spectral_error_bounds: tuple[float, float]
    kappa: float
    kappa_bounds: tuple[float, float]
    newton_error: float
    newton_direction_error: float
    newton_decrease: float


@dataclass(frozen=True)
class PreconditionerReport:
    """Quality of every approximation for one layer Hessian.

    Attributes
    ----------
    model : {"linear", "hidden"}
    blocks : {"V", "W"}
        Rows of ``V`` (``n_blocks = C`` blocks of size ``p = d`` or ``m``) or of ``W`` (``m``
        blocks of size ``d``).
    n_samples, n_classes, n_blocks, block_size, dim : int
        ``N``, ``C``, number of blocks, ``p``, ``n = n_blocks · p``.
    null_dim : int
        Dimension of ``null(H)`` (structural ``p`` for a full-rank softmax layer; numerical for
        ``method="dense"``).
    method : {"dense", "lanczos"}
    n_steps : int
        Lanczos steps per operator, the most any took (0 for dense).
    hessian_frobenius, hessian_lambda_max, hessian_lambda_min : float
        ``‖H‖_F``, ``λ_max(H)``, smallest non-zero eigenvalue (Ritz estimates for Lanczos).
    gradient_norm : float
        ``‖g‖`` of the layer's gradient.
    results : dict
        :class:`ApproximationQuality` per approximation name.
    """

    model: str
    blocks: str
    n_samples: int
    n_classes: int
    n_blocks: int
    block_size: int
    dim: int
    null_dim: int
    method: str
    n_steps: int
    hessian_frobenius: float
    hessian_lambda_max: float
    hessian_lambda_min: float
    gradient_norm: float
    results: dict[str, ApproximationQuality] = field(default_factory=dict)

    _DEFINITIONS = {
        "frobenius_error": "||H - P||_F / ||H||_F over the whole layer (exact)",
        "spectral_error": "||H - P||_2 / ||H||_2 (Ritz estimate for Lanczos)",
        "kappa": "lambda_max / smallest non-zero eigenvalue of P^-1/2 H P^-1/2 on range(H)",
        "newton_error": "||Pi P^-1 g - H^+ g|| / ||H^+ g||, Pi = projector onto range(H)",
        "newton_direction_error": "min_c ||c Pi P^-1 g - H^+ g|| / ||H^+ g|| (sine of the angle)",
        "newton_decrease": "(g'P^-1 g)^2 / (g'P^-1 H P^-1 g * g'H^+ g): share of the Newton "
                           "decrease of the quadratic model reached along -P^-1 g",
    }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a ``definitions`` entry."""
        d = asdict(self)
        d["results"] = {k: {kk: (list(vv) if isinstance(vv, tuple) else vv)
                            for kk, vv in asdict(v).items()} for k, v in self.results.items()}
        d["definitions"] = dict(self._DEFINITIONS)
        return d

    def __str__(self) -> str:
        lines = [f"Preconditioners: {self.model} model, CE, blocks = rows of {self.blocks} "
                 f"({self.n_blocks} blocks of size {self.block_size}, n = {self.dim}, "
                 f"null(H) dim {self.null_dim}); N={self.n_samples}, C={self.n_classes}; "
                 f"{self.method}" + (f", {self.n_steps} Lanczos steps" if self.n_steps else ""),
                 f"  ||H||_F = {self.hessian_frobenius:.5g}, lambda_max = "
                 f"{self.hessian_lambda_max:.5g}, smallest non-zero = "
                 f"{self.hessian_lambda_min:.5g}",
                 f"  {'P':<13}{'Frob err':>10}{'spec err':>10}{'kappa':>10}{'Newton err':>11}"
                 f"{'dir err':>9}{'decrease':>10}"]
        for name, q in self.results.items():
            lines.append(f"  {name:<13}{q.frobenius_error:>10.4g}{q.spectral_error:>10.4g}"
                         f"{q.kappa:>10.4g}{q.newton_error:>11.4g}"
                         f"{q.newton_direction_error:>9.3g}{q.newton_decrease:>10.4g}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Building the layer
# --------------------------------------------------------------------------------------------

def _softmax_layer(model: Any, X: Any, kind: str) -> SoftmaxLayerHessian:
    F = X if kind == "linear" else model.features(X)
    return SoftmaxLayerHessian(F, softmax(F @ model.V.T))


def layer_hessian(model: Any, X: Any, y: Any = None, blocks: str = "V") -> Any:
    """The dense Hessian of one layer of the CE loss (rows of ``V`` or of ``W``), in the
    parameter order of :mod:`rmt.models`; the ``W`` layer is assembled from
    :func:`rmt.hessian.block` (``m²`` blocks of ``d × d``), the linear model's from
    :func:`rmt.hessian.hessian`."""
    kind = _model_kind(model)
    blocks = _check_blocks(blocks, kind)
    xp = model.xp
    if kind == "linear":
        return hessian(model, X, loss="ce", max_params=max(MAX_DENSE_DIM, model.n_params))
    if blocks == "V":
        return _softmax_layer(model, check_data(X, model.dim, xp), kind).dense()
    m, d, C = model.hidden, model.dim, model.n_classes
    if getattr(y, "ndim", 1) == 2:
        if model.activation in ("tanh", "gelu"):
            raise ValueError("y must be integer labels for the W blocks of a tanh/gelu net "
                             "(rmt.hessian's residual term); soft targets work for relu/identity")
        y = None   # relu / identity: the W blocks do not depend on the targets
    out = xp.empty((m * d, m * d), dtype=np.result_type(X.dtype, model.W.dtype))
    for k in range(m):
        for l in range(k, m):
            B = block(model, X, C + k, C + l, y=y, loss="ce")
            out[k * d:(k + 1) * d, l * d:(l + 1) * d] = B
            out[l * d:(l + 1) * d, k * d:(k + 1) * d] = B.T
    return out


def _check_blocks(blocks: Any, kind: str) -> str:
    layer = check_choice("blocks", blocks, ("v", "w")).upper()
    if kind == "linear" and layer == "W":
        raise ValueError("blocks must be 'V' for the linear model (it has no W), got 'W'")
    return layer


# --------------------------------------------------------------------------------------------
# Dense path (exact)
# --------------------------------------------------------------------------------------------

def _approx_dense(H: np.ndarray, p: int, name: str) -> np.ndarray:
    n = H.shape[0]
    K = n // p
    d = np.diag(H).copy()
    if name == "identity":
        return np.eye(n) * (d.sum() / n)
    if name == "diagonal":
        return np.diag(d)
    if name == "block-scalar":
        return np.diag(np.repeat(d.reshape(K, p).mean(axis=1), p))
    P = np.zeros_like(H)
    for i in range(K):
        s = slice(i * p, (i + 1) * p)
        P[s, s] = H[s, s]
    return P


def dense_quality(H: Any, block_size: int, g: Any, *,
                  approximations: tuple[str, ...] = APPROXIMATIONS) -> tuple[dict, dict]:
    """Every quantity of the module docstring from a dense symmetric ``H`` (exact, ``eigh``).

    Parameters
    ----------
    H : array (n, n)
        Symmetric positive semi-definite; ``n`` a multiple of ``block_size``.
    block_size : int
        ``p``: blocks are consecutive ``p``-index ranges.
    g : array (n,)
        The gradient; its component outside ``range(H)`` is ignored.
    approximations : tuple of names from :data:`APPROXIMATIONS`

    Notes
    -----
    ``P`` may be singular (a block of the ``W`` layer of rank below ``d``): pseudo-inverses are
    used throughout, ``P⁺g`` and ``P^{+1/2} H P^{+1/2}`` (see :func:`_pinv_sqrt`).

    Returns
    -------
    results : dict of :class:`ApproximationQuality`
    info : dict
        ``null_dim`` (eigenvalues ``≤ n·eps·λ_max``), ``frobenius``, ``lambda_max``,
        ``lambda_min`` (smallest non-zero).
    """
    H = np.asarray(bk.to_numpy(H), dtype=_F64)
    n = H.shape[0]
    p = check_int("block_size", block_size, 1, n)
    if H.ndim != 2 or H.shape != (n, n) or n % p:
        raise ValueError(f"H must be square with a size divisible by block_size={p}, got "
                         f"shape {H.shape}")
    g = np.asarray(bk.to_numpy(g), dtype=_F64).reshape(-1)
    if g.shape != (n,):
        raise ValueError(f"g must have {n} entries, got {g.size}")
    H = (H + H.T) / 2
    lam, U = np.linalg.eigh(H)
    # numpy.linalg.matrix_rank's rule: eigenvalues below n·eps·λ_max are rounding of zeros.
    tol = n * np.finfo(_F64).eps * lam[-1]
    rng_mask = lam > tol
    null_dim = int((~rng_mask).sum())
    Ur, lr = U[:, rng_mask], lam[rng_mask]
    h = Ur @ ((Ur.T @ g) / lr)                   # H⁺g
    fro = float(np.linalg.norm(H))
    results = {}
    for name in approximations:
        P = _approx_dense(H, p, name)
        E = H - P
        ev = np.linalg.eigvalsh(E)
        spec = float(max(abs(ev[0]), abs(ev[-1])) / lam[-1])
        R, Pp = _pinv_sqrt(P)
        mu = np.linalg.eigvalsh(R @ H @ R)[null_dim:]    # drop the null(H) zeros
        kap = float(mu[-1] / mu[0])
        s = Pp @ g
        results[name] = _newton(name, float(np.linalg.norm(E) / fro), spec, (spec, spec), kap,
                                (kap, kap), Ur @ (Ur.T @ s), h, g, float(s @ H @ s))
    info = dict(null_dim=null_dim, frobenius=fro, lambda_max=float(lam[-1]),
                lambda_min=float(lr[0]))
    return results, info


def _pinv_sqrt(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P^{+1/2}`` and ``P⁺`` of a symmetric PSD matrix (eigenvalues ``≤ n·eps·λ_max`` are
    zeros). For ``P`` the diagonal or block-diagonal part of a PSD ``H``, ``null(P) ⊂ null(H)`` (a
    zero diagonal block ``uᵀH_iiu = 0`` forces ``H(e_i ⊗ u) = 0``), so ``P^{+1/2} H P^{+1/2}`` has the
    rank of ``H`` — a dead ReLU unit or a rank-deficient block of the W layer is handled this way."""
    lam, U = np.linalg.eigh(P)
    keep = lam > P.shape[0] * np.finfo(_F64).eps * max(lam[-1], 0.0)
    inv = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
    return (U * np.sqrt(inv)) @ U.T, (U * inv) @ U.T


def _newton(name: str, fro: float, spec: float, spec_b: tuple, kap: float, kap_b: tuple,
            s_range: Any, h: Any, g: Any, sHs: float) -> ApproximationQuality:
    """Newton-step quantities from ``Π P⁻¹g`` (``s_range``), ``H⁺g`` (``h``), ``g`` and
    ``(P⁻¹g)ᵀ H (P⁻¹g)``; works for NumPy and CuPy vectors."""
    xp = bk.get_xp(s_range, h)
    hn = float(xp.sqrt(xp.sum(h * h)))
    sn = float(xp.sqrt(xp.sum(s_range * s_range)))
    err = float(xp.sqrt(xp.sum((s_range - h) ** 2))) / hn
    cos = float(xp.sum(s_range * h)) / (sn * hn)
    gs = float(xp.sum(g * s_range))
    gh = float(xp.sum(g * h))
    return ApproximationQuality(name, fro, spec, spec_b, kap, kap_b, err,
                                math.sqrt(max(0.0, 1.0 - cos * cos)), gs * gs / (sHs * gh))


# --------------------------------------------------------------------------------------------
# Matrix-free path (softmax layers)
# --------------------------------------------------------------------------------------------

def _flat(U: Any) -> Any:
    return U.reshape(-1, U.shape[-1])


#: Lanczos steps before the early stop of :func:`_extremes` may end a run. A residual bound only
#: says that *some* eigenvalue lies near the Ritz value: early on, the top Ritz value can have
#: converged to λ₂ before λ₁ shows in the Krylov space. Measured on 80 random linear layers
#: (C = 8–20, d = 10–30): with a minimum of 10 steps 9/80 reports had an interval missing the dense
#: value, with 25 steps 1/80, the same as 40 fixed steps.
_MIN_LANCZOS_STEPS = 25


def _converged(theta: np.ndarray, resid: np.ndarray, ends: str, rtol: float) -> bool:
    """Whether the extreme Ritz pairs a caller needs give intervals at most ``rtol`` wide
    relative: ``"top"`` (the largest), ``"both"`` (each end), ``"abs"`` (the largest modulus,
    ``max(|a|, |b|)``, whose upper end is ``max(|a| + r_a, |b| + r_b)``)."""
    i, j = np.argmin(theta), np.argmax(theta)
    a, ra, b, rb = abs(theta[i]), resid[i], abs(theta[j]), resid[j]
    if ends == "top":
        return bool(rb <= rtol * b)
    if ends == "both":
        return bool(rb <= rtol * b and ra <= rtol * a)
    return bool(max(a + ra, b + rb) <= (1 + rtol) * max(a, b))


def _extremes(matmat: Any, hess: SoftmaxLayerHessian, n_steps: int, seed: Any,
              reorth: bool, B_solve: Any = None, rtol: float = 0.0, ends: str = "both",
              certify: Any = None) -> tuple[float, float, float, float, int]:
    """(θ_min, r_min, θ_max, r_max, steps) of a symmetric operator on ``(C, p, k)`` blocks, or
    of the pencil (operator, ``B``) when ``B_solve`` is given
    (:func:`rmt.spectra.lanczos_pencil`). With ``rtol > 0`` the run ends before ``n_steps``
    once the ``ends`` it is for have converged to ``rtol`` (:func:`_converged`). ``certify``
    (:func:`_certifier`) maps the two extreme Ritz vectors, shape ``(n, 2)``, to their values
    and residual bounds ``(θ, r)``, which then replace the run's own."""
    C, p = hess.C, hess.p

    def flat(f: Any) -> Any:
        return lambda V: _flat(f(V.reshape(C, p, V.shape[1])))

    from .spectra import as_operator  # noqa: PLC0415
    from .spectra.lanczos import LanczosResult  # noqa: PLC0415

    def stop(alpha: np.ndarray, beta: np.ndarray) -> bool:
        if rtol <= 0 or alpha.shape[1] < _MIN_LANCZOS_STEPS:
            return False
        theta, _, resid = LanczosResult(alpha, beta, np.zeros(1, dtype=bool),
                                        hess.dim).quadrature()
        return _converged(theta[0], resid[0], ends, rtol)

    op = as_operator(flat(matmat), dim=hess.dim, dtype=hess.dtype,
                     backend=bk.backend_name(hess.xp))
    keep = certify is not None
    if B_solve is None:
        res = lanczos(op, n_steps, 1, seed=seed, reorthogonalize=reorth, stop=stop,
                      return_basis=keep)
    else:
        res = lanczos_pencil(op, flat(B_solve), n_steps, seed=seed, reorthogonalize=reorth,
                             stop=stop, return_basis=keep)
    theta, _, resid = res.quadrature()
    i, j = np.argmin(theta[0]), np.argmax(theta[0])
    out = [float(theta[0, i]), float(resid[0, i]), float(theta[0, j]), float(resid[0, j])]
    if certify is not None:
        # both ends, also for "top" runs: their bottom checks LOBPCG (see _lanczos_quality)
        t, r = (bk.to_numpy(v) for v in certify(res.ritz_vectors(0, [i, j])))
        out = [float(t[0]), float(r[0]), float(t[1]), float(r[1])]
    return (*out, res.n_steps)


def _certifier(hess: SoftmaxLayerHessian, matmat: Any, Pb: Any = None) -> Any:
    """Ritz vectors ``Y`` (columns, any float dtype) ↦ ``(θ, r)`` from float64 products:
    ``θ = yᵀAy / yᵀBy`` and ``r = ‖B⁻¹(Ay − θBy)‖_B / ‖y‖_B`` (``B = I``, or the block-diagonal
    ``P`` of ``Pb``: one refined solve), so that an eigenvalue of ``A`` (of the pencil ``(A, B)``)
    lies within ``r`` of ``θ`` whatever precision the vectors were found in."""
    xp, C, p = hess.xp, hess.C, hess.p

    def certify(Y: Any) -> tuple[Any, Any]:
        Y = Y.astype(hess.dtype).reshape(C, p, -1)
        AY = matmat(Y)
        BY = Y if Pb is None else Pb.apply(Y)
        yBy = xp.sum(Y * BY, axis=(0, 1))
        theta = xp.sum(Y * AY, axis=(0, 1)) / yBy
        R = AY - theta[None, None, :] * BY
        rr = xp.sum(R * (R if Pb is None else Pb.solve(R)), axis=(0, 1))
        return theta, xp.sqrt(xp.maximum(rr, 0.0) / yBy)
    return certify


def _cg(hess: SoftmaxLayerHessian, g: Any, Pb: BlockP, rtol: float) -> Any:
    """``H⁺g`` by block-preconditioned CG, projected onto ``range(H)`` (mean row removed).

    ``g`` lies in ``range(H)`` (its rows sum to 0), so ``Hx = g`` is consistent and CG converges
    on the range; whatever null component the iterate picks up is removed at the end."""
    xp = hess.xp
    C, p = hess.C, hess.p
    n = hess.dim
    if bk.backend_name(xp) == "cupy":
        from cupyx.scipy.sparse.linalg import LinearOperator, cg  # noqa: PLC0415
        kw = dict(tol=rtol, atol=0.0)
    else:
        from scipy.sparse.linalg import LinearOperator, cg  # noqa: PLC0415
        kw = dict(rtol=rtol, atol=0.0)
    A = LinearOperator((n, n), matvec=lambda v: hess.matvec(v.reshape(C, p, 1)).reshape(-1),
                       dtype=hess.dtype)
    M = LinearOperator((n, n),
                       matvec=lambda v: Pb.precondition(v.reshape(C, p, 1)).reshape(-1),
                       dtype=hess.dtype)
    x, info = cg(A, g.reshape(-1), maxiter=10 * n, M=M, **kw)
    if info != 0:
        raise RuntimeError(f"conjugate gradients did not reach cg_rtol={rtol} (info {info}) in "
                           f"{np.dtype(hess.dtype).name}: a looser cg_rtol, or a float64 layer")
    x = x.reshape(C, p, 1)
    return x - xp.mean(x, axis=0, keepdims=True)


def _ratio_bounds(num: tuple[float, float], den: tuple[float, float]) -> tuple[float, float]:
    # an unconverged bottom (θ − r ≤ 0) leaves the ratio unbounded above
    return num[0] / den[1], (num[1] / den[0] if den[0] > 0 else math.inf)


def _shifted_diagonal(hess: SoftmaxLayerHessian, Ps: dict, names: list[str]) -> Any:
    """``(U, cols) ↦ M_j U_j`` on ``(C, p, k)`` blocks, with ``M_j = K(H + c·P N S⁻¹ Nᵀ P)Kᵀ``
    for the diagonal ``P = Ps[names[cols[j]]]`` (``K = P^{-1/2}``, ``N = 1 ⊗ I_p``,
    ``S = NᵀPN``, ``c = C/(C − 1)``: the null space of ``KHKᵀ`` moved to ``c``)."""
    xp, C = hess.xp, hess.C
    c = C / (C - 1.0)
    delta = xp.stack([Ps[a].delta for a in names], axis=-1)              # (C, p, k)
    rs = 1.0 / xp.sqrt(delta)
    S_inv = xp.stack([Ps[a].sum_matrix_inv() for a in names], axis=-1)     # (p, k)

    every = np.arange(len(names))

    def matmat(U: Any, cols: Any) -> Any:
        cols = np.asarray(cols)
        if cols.shape == every.shape and np.array_equal(cols, every):
            r, dl = rs, delta                  # all columns: no gathered copies
        else:
            r, dl = rs[:, :, cols], delta[:, :, cols]
        W = r * U
        t = S_inv[:, cols] * xp.sum(dl * W, axis=0)                        # S⁻¹ Nᵀ P W
        return r * (hess.matvec(W) + c * dl * t[None])
    return matmat


def _smallest(hess: SoftmaxLayerHessian, search: SoftmaxLayerHessian, Ps: dict, Ps_low: dict,
              Pb: BlockP, names: list[str], tops: list[float], seeds: list[Any], rtol: float,
              maxiter: int) -> list[tuple[float, float]]:
    """Smallest eigenvalue ``θ`` of the shifted operator ``M`` of :func:`_shifted_diagonal` for
    each diagonal ``P`` in ``names``, and the residual norm ``‖Mx − θx‖`` of its unit Ritz vector
    from a fresh product (an eigenvalue lies within it of ``θ``).

    All are found together by :func:`rmt.spectra.lockstep.smallest_lockstep`, each to a residual
    of ``rtol·θ`` (or rounding level, ``1e-12`` times its ``λ_max`` in ``tops``), preconditioned
    by ``K⁻ᵀ P_block⁻¹ K⁻¹`` (``K⁻¹``: multiplication by ``√δ``): it approximates ``M⁺`` as well as ``P_block⁻¹`` approximates ``H⁺``
    (``κ`` of a few), whatever ``κ(M)`` is, and one read of the stored ``P_block⁻¹`` serves every
    ``P`` of a step. (A Kronecker stand-in ``t_i Σ`` for the blocks, which avoids reading the
    ``C p²`` inverses, needed 4× the iterations: each class's softmax weights tilt and reweight
    its block differently.) Where ``search`` (with ``Ps_low``) is a float32 copy of the layer,
    the search runs in it and the float64 certificate decides. Layers of at most
    :data:`_DENSE_BOTTOM` parameters are diagonalised densely."""
    xp, C, p, n = hess.xp, hess.C, hess.p, hess.dim
    k = len(names)
    sq = xp.sqrt(xp.stack([Ps[a].delta for a in names], axis=-1))

    def flat(op: Any) -> Any:                  # on (n, k) columns, as smallest_lockstep asks
        return lambda V, cols: _flat(op(V.reshape(C, p, -1), cols))

    sq_low = {}

    def precond(R: Any, cols: Any) -> Any:
        if R.dtype not in sq_low:
            sq_low[R.dtype] = sq.astype(R.dtype)
        s_ = sq_low[R.dtype][:, :, np.asarray(cols)]
        U = s_ * R.reshape(C, p, -1)
        U = Pb.precondition(U)
        U *= s_
        return _flat(U)

    op = _shifted_diagonal(hess, Ps, names)
    matmat = flat(op)
    certify = _certifier(hess, lambda U: op(U, np.arange(k)))
    tol = [1e-12 * t for t in tops]
    if n <= _DENSE_BOTTOM:
        X = xp.empty((n, k), dtype=hess.dtype)
        for j in range(k):
            _, vec = xp.linalg.eigh(matmat(xp.eye(n, dtype=hess.dtype), np.full(n, j)))
            X[:, j] = vec[:, 0]
        theta, resid = certify(X)
    else:
        X = xp.concatenate([bk.standard_normal((n, 1), s_, xp, hess.dtype) for s_ in seeds],
                           axis=1)
        met = False
        if search is not hess:
            # Search in float32 (products at half the cost); the float64 certificate decides,
            # and float64 steps continue where it is not met.
            X = smallest_lockstep(flat(_shifted_diagonal(search, Ps_low, names)), precond,
                                  X.astype(search.dtype), tol, rtol=rtol,
                                  maxiter=maxiter).vectors.astype(hess.dtype)
            theta, resid = certify(X)
            met = bool(xp.all(resid <= rtol * xp.abs(theta)))
        if not met:
            X = smallest_lockstep(matmat, precond, X, tol, rtol=rtol, maxiter=maxiter).vectors
            theta, resid = certify(X)
    return [(float(theta[j]), float(resid[j])) for j in range(k)]


def _precondition_dtype(hess: SoftmaxLayerHessian) -> np.dtype:
    """float32 for the stored block inverses when in the Hessian's dtype they would take more
    than :data:`FLOAT32_PRECONDITIONER_ABOVE` bytes, else the Hessian's dtype."""
    dt = np.dtype(hess.dtype)
    big = hess.C * hess.p ** 2 * dt.itemsize > FLOAT32_PRECONDITIONER_ABOVE
    return np.dtype(np.float32) if big and dt.itemsize > 4 else dt


def _block_bytes(hess: SoftmaxLayerHessian, n_steps: int) -> int:
    """Bytes of the stored block inverses (in the preconditioning dtype), plus, where that is
    float32 for a float64 layer, the float32 Lanczos basis kept for the certification."""
    low = _precondition_dtype(hess)
    keep = n_steps * hess.dim * low.itemsize if low != np.dtype(hess.dtype) else 0
    return hess.C * hess.p ** 2 * low.itemsize + keep


def _lanczos_quality(hess: SoftmaxLayerHessian, g: Any, sums: tuple[float, float],
                     approximations: tuple[str, ...], n_steps: int, seed: Any, cg_rtol: float,
                     memory_limit: int, kappa_rtol: float, lanczos_rtol: float,
                     maxiter: int = 500) -> tuple[dict, dict]:
    xp, C, p, n = hess.xp, hess.C, hess.p, hess.dim
    isz = np.dtype(hess.dtype).itemsize
    # Full reorthogonalisation only while the basis is small: only extreme Ritz values are used,
    # and those and their residual bounds hold without it (Paige 1980); at n = 4·10⁵ reading the
    # basis back every step took a third of the Lanczos time.
    reorth = n_steps * n * isz <= min(memory_limit // 4, REORTHOGONALIZE_BELOW)
    seeds = bk.spawn_seeds(seed, 3 * len(APPROXIMATIONS))
    diag = hess.diagonal()
    tau = float(xp.sum(diag)) / n
    s_blk = xp.mean(diag, axis=1, keepdims=True) * xp.ones((1, p), dtype=hess.dtype)
    # Chunk of classes for the block inverses (LAPACK works in place in the stored stack; each
    # thread keeps a (chunk, p(p+1)/2) product buffer): a generous budget of 3 p² per class.
    chunk = int(max(1, min(C, 256, (memory_limit // 16) // max(1, 3 * p * p * isz))))
    Pb = BlockP(hess, chunk, _precondition_dtype(hess))
    Ps = {"identity": DiagonalP(xp.full((C, p), tau, dtype=hess.dtype)),
          "diagonal": DiagonalP(diag), "block-scalar": DiagonalP(s_blk), "block": Pb}
    diag_sq, off_sq = sums
    fro_sq = diag_sq + off_sq
    # ‖H − P‖²_F: off-diagonal blocks plus, inside the blocks, ‖H_ii‖² − ‖P_ii‖² (P_ii is the
    # orthogonal projection of H_ii onto diagonal / scalar matrices); identity: ‖H‖² − n τ².
    fro = {"identity": fro_sq - n * tau * tau,
           "diagonal": off_sq + (diag_sq - float(xp.sum(diag * diag))),
           "block-scalar": off_sq + (diag_sq - p * float(xp.sum(s_blk[:, 0] ** 2))),
           "block": off_sq}
    c = C / (C - 1.0)
    G = g.reshape(C, p, 1)
    if np.dtype(hess.dtype) == _F64:
        h = _cg(hess, G, Pb, cg_rtol)
    else:
        # A float32 layer: CG's residual stalls near eps₃₂·κ(H), far above cg_rtol, so H⁺g is
        # solved on float64 copies of F and P (the float32 block inverses still precondition).
        h = _cg(hess.astype(_F64), G.astype(_F64), Pb, cg_rtol).astype(hess.dtype)

    names = [a for a in APPROXIMATIONS if a in approximations or a == "identity"]
    diagonal = [a for a in names if a != "block"]
    # Large layers (float32 block inverses): every Lanczos run searches in float32 (products at
    # half the cost) and its extreme Ritz vectors are certified by float64 products.
    low = np.dtype(Pb.Pinv_pre.dtype)
    search = hess if low == np.dtype(hess.dtype) else hess.astype(low)
    Ps_low = Ps if search is hess else {a: DiagonalP(Ps[a].delta.astype(low)) for a in diagonal}
    diag_op = _shifted_diagonal(hess, Ps, diagonal)
    diag_op_low = diag_op if search is hess else _shifted_diagonal(search, Ps_low, diagonal)
    S_low = Pb.S_inv.astype(search.dtype)
    steps = []

    def run(op: Any, op_low: Any, s: Any, ends: str, pencil: bool = False
            ) -> tuple[float, float, float, float]:
        # Lanczos on op, or on the pencil (op, P_block): in float32 with a float64 certificate
        # of the extreme Ritz vectors for large layers (the float32 pencil runs against the
        # inverse of the stored float32 inverses, one product per step instead of a refined
        # solve; the certificate is against the true P_block).
        if search is hess:
            out = _extremes(op, hess, n_steps, s, reorth, Pb.solve if pencil else None,
                            lanczos_rtol, ends)
        else:
            out = _extremes(op_low, search, n_steps, s, reorth,
                            Pb.precondition if pencil else None, lanczos_rtol, ends,
                            _certifier(hess, op, Pb if pencil else None))
        steps.append(out[4])
        return out[:4]

    ext = {}
    for a in names:
        # κ of the block-preconditioned operator is small: Lanczos has both ends already;
        # identity only for λ_max(H) when it is not asked for; the diagonal P only need the top
        # here (their bottoms come from LOBPCG, checked against this run's bottom below).
        if a == "block":
            ext[a] = run(lambda U: hess.shifted_block_matvec(U, Pb.S_inv, c),
                         lambda U: search.shifted_block_matvec(U, S_low, c),
                         seeds[APPROXIMATIONS.index(a)], "both", pencil=True)
        else:
            j = diagonal.index(a)
            ext[a] = run(lambda U, j=j: diag_op(U, np.full(U.shape[2], j)),
                         lambda U, j=j: diag_op_low(U, np.full(U.shape[2], j)),
                         seeds[APPROXIMATIONS.index(a)], "top")
    lows = [a for a in diagonal if a in approximations]
    if lows:
        bottoms = _smallest(hess, search, Ps, Ps_low, Pb, lows, [ext[a][2] for a in lows],
                            [seeds[len(APPROXIMATIONS) + APPROXIMATIONS.index(a)] for a in lows],
                            kappa_rtol, maxiter)
        for a, b in zip(lows, bottoms):
            # The Lanczos run of the same operator also gives a Rayleigh quotient, hence an upper
            # bound on the smallest eigenvalue. Below LOBPCG's θ, LOBPCG stopped next to an inner
            # eigenvalue (measured: on μ₂ 1.9 % above μ_min, within kappa_rtol): keep the
            # Lanczos pair, whose value is then the lower of the two and the better estimate.
            if ext[a][0] < b[0]:
                b = ext[a][:2]
            ext[a] = (*b, *ext[a][2:])
    if "identity" not in approximations:
        ext["identity"] = (math.nan, math.nan, *ext["identity"][2:])
    lo, r_lo, hi, r_hi = ext["identity"]
    lam = (tau * hi, tau * (hi + r_hi))                    # λ_max(H): Ritz value, upper bound
    results = {}
    for name in approximations:
        P = Ps[name]
        if name == "identity":
            # H − τI has eigenvalues λ − τ, λ ∈ spec(H) ∋ 0: ‖H − τI‖₂ = max(λ_max − τ, τ).
            def f(x: float) -> float:
                return max(x - 1.0, 1.0) / x
            pts = [hi, hi + r_hi] + ([2.0] if hi < 2.0 < hi + r_hi else [])
            spec, spec_b = f(hi), (min(f(x) for x in pts), max(f(x) for x in pts))
        else:
            if name == "block":
                op, op_low = (lambda U: hess.matvec(U, minus_block=True),
                              lambda U: search.matvec(U, minus_block=True))
            else:
                op, op_low = (lambda U, P=P: hess.matvec(U) - P.apply(U),
                              lambda U, P=Ps_low[name]: search.matvec(U) - P.apply(U))
            a, ra, b, rb = run(op, op_low,
                               seeds[2 * len(APPROXIMATIONS) + APPROXIMATIONS.index(name)], "abs")
            val = max(abs(a), abs(b))
            spec = val / lam[0]
            spec_b = _ratio_bounds((val, max(abs(a) + ra, abs(b) + rb)), lam)
        k_lo, k_rlo, k_hi, k_rhi = ext[name]
        kap_b = _ratio_bounds((k_hi, k_hi + k_rhi), (k_lo - k_rlo, k_lo))
        s = P.solve(G)
        sr = s - xp.mean(s, axis=0, keepdims=True)
        sHs = float(xp.sum(sr * hess.matvec(sr)))
        results[name] = _newton(name, math.sqrt(max(fro[name], 0.0) / fro_sq), spec, spec_b,
                                k_hi / k_lo, kap_b, sr, h, G, sHs)
    info = dict(null_dim=p, frobenius=math.sqrt(fro_sq), lambda_max=lam[0],
                lambda_min=tau * lo, n_steps=max(steps))
    return results, info


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------

def preconditioner_quality(model: Any, X: Any, y: Any, *, blocks: str = "V",
                           approximations: tuple[str, ...] | list[str] = APPROXIMATIONS,
                           method: str = "auto", n_steps: int = 40, cg_rtol: float = 1e-10,
                           kappa_rtol: float = 0.02, lanczos_rtol: float = 0.005,
                           seed: Any = None, memory_limit: int | None = None
                           ) -> PreconditionerReport:
    """How well the structured approximations of :data:`APPROXIMATIONS` stand in for one layer
    of the CE Hessian, at the model's current weights.

    Parameters
    ----------
    model : LinearClassifier or OneHiddenLayer
    X : array, shape (N, d)
    y : array of int, shape (N,)
        Labels: they set the gradient ``g`` (and the ``W`` blocks of tanh/gelu nets).
    blocks : {"V", "W"}
        The layer: rows of ``V`` (linear model, or the hidden net's output layer) or of ``W``.
    approximations : subset of :data:`APPROXIMATIONS`
    method : {"auto", "dense", "lanczos"}
        ``"auto"``: dense up to :data:`MAX_DENSE_DIM` parameters, else Lanczos. ``"lanczos"``
        needs a softmax layer (``blocks="V"``) whose features have full column rank (``N ≥ p``).
    n_steps : int, >= 2
        Lanczos steps per operator at most (7 operators per call).
    cg_rtol : float in (0, 1)
        Relative residual of the CG solve for ``H⁺g``.
    kappa_rtol : float in (0, 1)
        ``"lanczos"``: the smallest eigenvalue ``θ`` of each diagonal approximation's
        ``P^{-1/2}HP^{-1/2}`` is iterated until its Ritz residual is at most ``kappa_rtol·θ``, so
        its ``kappa_bounds`` are at most about ``kappa_rtol`` wide relative (``θ`` itself, a
        Rayleigh quotient, converges as the residual squared). Like every interval here it
        assumes the iteration has found the extreme eigenvalue (a residual brackets *an*
        eigenvalue): on 80 small random layers one LOBPCG bottom stopped on μ₂, 1.9 % above
        μ_min; such a stop is caught where the Lanczos run of the same operator has a lower
        Rayleigh quotient (it had there), whose pair is then reported.
    lanczos_rtol : float in [0, 1)
        ``"lanczos"``: a Lanczos run ends before ``n_steps`` (after at least 25 steps) once
        the Ritz values it is for have residuals of at most ``lanczos_rtol`` times their value
        (for ``‖H − P‖₂``: its upper end within ``1 + lanczos_rtol`` of its value), so each
        value from Lanczos is within ``lanczos_rtol`` relative and the reported ratios of two of
        them (the spectral errors over ``λ_max(H)``, the block κ) within about
        ``2·lanczos_rtol``, once the extreme Ritz pairs have converged; 0 runs every operator
        for ``n_steps``. The report's ``n_steps`` is the most steps any operator took.
    seed : optional
        Lanczos start vectors.
    memory_limit : int, optional
        Bytes for the block inverses and the Lanczos basis (default: half the free memory); the
        basis is kept for full reorthogonalisation only when it fits in a quarter of it and in
        :data:`REORTHOGONALIZE_BELOW`, and in float32 for the certification of each run's
        extreme Ritz vectors where the inverses are float32 (``4·n_steps·n`` bytes).

    Returns
    -------
    PreconditionerReport
    """
    kind = _model_kind(model)
    layer = _check_blocks(blocks, kind)
    method = check_choice("method", method, METHODS)
    approximations = tuple(check_choice("approximations", a, APPROXIMATIONS)
                           for a in approximations)
    if not approximations:
        raise ValueError(f"approximations must name at least one of {APPROXIMATIONS}")
    n_steps = check_int("n_steps", n_steps, 2)
    cg_rtol = check_real("cg_rtol", cg_rtol, 0.0, 1.0, strict_min=True, strict_max=True)
    kappa_rtol = check_real("kappa_rtol", kappa_rtol, 0.0, 1.0, strict_min=True,
                            strict_max=True)
    lanczos_rtol = check_real("lanczos_rtol", lanczos_rtol, 0.0, 1.0, strict_max=True)
    xp = model.xp
    X = check_data(X, model.dim, xp)
    params = params_from_model(model)
    act = getattr(model, "activation", "relu")
    _, grads = loss_and_grad(params, X, y, "ce", act)
    g = grads[layer]
    p = int(g.shape[1])
    n = int(g.size)
    if method == "auto":
        method = "dense" if n <= MAX_DENSE_DIM else "lanczos"
    if method == "lanczos" and layer == "W":
        raise ValueError("method='lanczos' needs a softmax layer (blocks='V'); the W blocks "
                         "have no structural null space: use method='dense'")
    if method == "dense" and n > MAX_DENSE_DIM:
        raise ValueError(f"method='dense' forms an n x n matrix: n must be <= {MAX_DENSE_DIM}, "
                         f"got {n}; use method='lanczos'")
    C = model.n_classes
    N = int(X.shape[0])
    if method == "dense":
        H = layer_hessian(model, X, y, layer)
        res, info = dense_quality(H, p, g.reshape(-1), approximations=approximations)
        steps = 0
    else:
        hess = _softmax_layer(model, X, kind)
        if N < p:
            raise ValueError(f"method='lanczos' needs N >= p (features of full column rank): "
                             f"N = {N}, p = {p}")
        limit = (max(1 << 20, int(0.5 * bk.free_memory_bytes(xp))) if memory_limit is None
                 else check_int("memory_limit", memory_limit, 1))
        need = _block_bytes(hess, n_steps)
        if need > limit:
            raise ValueError(f"memory_limit must be at least {need} bytes for the inverses of "
                             f"the diagonal blocks (C p² entries) and the Lanczos basis, got "
                             f"{limit}")
        sums = block_norms(model, X, blocks="V", memory_limit=limit)
        res, info = _lanczos_quality(hess, g, (sums.diagonal, sums.off_diagonal),
                                     approximations, n_steps, seed, cg_rtol, limit,
                                     kappa_rtol, lanczos_rtol)
        steps = int(info["n_steps"])
    return PreconditionerReport(
        model=kind, blocks=layer, n_samples=N, n_classes=C, n_blocks=n // p, block_size=p,
        dim=n, null_dim=int(info["null_dim"]), method=method, n_steps=steps,
        hessian_frobenius=float(info["frobenius"]), hessian_lambda_max=float(info["lambda_max"]),
        hessian_lambda_min=float(info["lambda_min"]),
        gradient_norm=float(xp.sqrt(xp.sum(g * g))), results=res)


#: Per-approximation outputs of :func:`quality_trial` (``<quantity>_<approximation>``, with
#: ``block-scalar`` written ``block_scalar``).
QUANTITIES = ("frobenius_error", "spectral_error", "spectral_error_high", "kappa", "kappa_high",
              "newton_error", "newton_direction_error", "newton_decrease")


def quality_trial(n_classes: int, dim: int, n_samples: int, *, hidden: int | None = None,
                  blocks: str = "V", sigma: float = 1.0, temperature: float = 1.0,
                  method: str = "auto", n_steps: int = 40, seed: Any = None,
                  backend: str | None = None) -> dict[str, float]:
    """One draw of the preconditioner table: data, model at initialisation, every quantity.

    Data: :func:`rmt.datasets.make_soft_targets` (``x ~ N(0, I_d)``, the gradient taken against
    the linear teacher's probabilities at ``temperature``); model: the linear classifier
    (``hidden=None``) or a ReLU net with ``hidden`` units, ``σ``-scaled LeCun init. Seed child 0
    draws the data, child 1 the model, child 2 the Lanczos start vectors.

    Returns
    -------
    dict
        ``<q>_<approximation>`` for ``q`` in :data:`QUANTITIES` (``*_high``: the upper end of the
        Lanczos interval), plus ``lambda_max``, ``lambda_min`` (smallest non-zero), ``hessian_fro``,
        ``aggregate_ratio`` (``r`` with ``‖H − blockdiag H‖_F/‖H‖_F = r/√(1+r²)``), ``null_dim``.
    """
    from .datasets import make_soft_targets  # noqa: PLC0415

    s_data, s_model, s_lanczos = bk.spawn_seeds(seed, 3)
    X, Q = make_soft_targets(n_samples, dim, n_classes, temperature=temperature, seed=s_data,
                             backend=backend)
    if hidden is None:
        model = LinearClassifier.init(n_classes, dim, sigma, seed=s_model, backend=backend)
    else:
        model = OneHiddenLayer.init(n_classes, dim, hidden, sigma, seed=s_model, backend=backend)
    rep = preconditioner_quality(model, X, Q, blocks=blocks, method=method, n_steps=n_steps,
                                 seed=s_lanczos)
    out: dict[str, float] = {"lambda_max": rep.hessian_lambda_max,
                             "lambda_min": rep.hessian_lambda_min,
                             "hessian_fro": rep.hessian_frobenius, "null_dim": rep.null_dim}
    for name, q in rep.results.items():
        key = name.replace("-", "_")
        vals = dict(frobenius_error=q.frobenius_error, spectral_error=q.spectral_error,
                    spectral_error_high=q.spectral_error_bounds[1], kappa=q.kappa,
                    kappa_high=q.kappa_bounds[1], newton_error=q.newton_error,
                    newton_direction_error=q.newton_direction_error,
                    newton_decrease=q.newton_decrease)
        out.update({f"{k}_{key}": v for k, v in vals.items()})
    e = rep.results["block"].frobenius_error if "block" in rep.results else math.nan
    out["aggregate_ratio"] = e / math.sqrt(max(1.0 - e * e, np.finfo(_F64).tiny))
    return out
