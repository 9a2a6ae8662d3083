"""Spectra of symmetric matrices: exact (batched, chunked) and matrix-free with error bounds.

Exact
-----
:func:`eigvalsh_batched` diagonalises one matrix or a stack, in chunks sized to the device's
free memory; :func:`stieltjes_from_eigenvalues` and :func:`moments_from_eigenvalues` turn the
eigenvalues into ``s(z) = (1/d) tr (B − z)⁻¹`` and ``m_k = (1/d) tr B^k``.

Matrix-free
-----------
An operator is a dense symmetric matrix, any object with ``matmat`` (and ``shape``), such as
:class:`rmt.covariance.WeightedCovarianceOperator` or a SciPy ``LinearOperator``, or a callable
``V ↦ B V`` on blocks of shape ``(d, k)``.

:func:`lanczos` runs the Lanczos iteration on ``k`` probes at once (probes are the columns of
one block, so each step is one ``matmat`` — two big GEMMs for a weighted covariance — plus
batched Gram–Schmidt), with full reorthogonalisation (classical Gram–Schmidt, repeated when a
pass removes more than half the squared norm: Kahan–Parlett's "twice is enough"). Each
probe's tridiagonal matrix gives a Gauss quadrature rule for the probe's
weighted spectral measure ``μ_u = Σ_i (u·q_i)² δ_{λ_i}``; averaging the rules over probes is
stochastic Lanczos quadrature (SLQ).

Error bounds reported
---------------------
Probes are uniform on the unit sphere (normalised Gaussians), as in Chen, Trogdon & Ubaru
(CTU, "Analysis of stochastic Lanczos quadrature for spectrum approximation", ICML 2021). With
``W`` the width of an interval holding the spectrum, ``n = d``, ``n_v`` probes and ``m`` steps,
with probability ≥ ``1 − η`` the Wasserstein-1 distance between the estimate and the empirical
spectral measure of ``B`` is at most ``W · (ε_quad + ε_probe)`` where

* ``ε_probe = √(ln(2n/η) / ((n+2) n_v))`` bounds the Kolmogorov–Smirnov distance of the
  probe-averaged measure ``μ̄`` to the true one: each ``μ_u((−∞, x])`` is Beta distributed,
  sub-Gaussian with variance proxy ``1/(2(n+2))``; a union bound over the ``n`` eigenvalues gives
  the rate, and ``W1 ≤ KS · W`` on an interval of width ``W``. This is CTU's probe count
  ``n_v = ⌈4 t⁻² ln(2n/η)/(n+2)⌉`` for ``ε_probe = t/2``.
* SLQ: ``ε_quad = 12/(2m − 1)`` (CTU's constant: ``m = ⌈12/t + ½⌉`` steps give ``t/2``;
  ``rule="ctu"``, the default), or the sharper ``ε_quad = π/(4m)`` (``rule="favard"``): an
  ``m``-point Gauss rule is exact for degree ``2m − 1``, and a 1-Lipschitz function on an interval
  of half-width ``W/2`` is within ``(π/2)(W/2)/(2m)`` of such a polynomial (Jackson's theorem with
  Favard's sharp constant ``π/2``), an error counted once for each of the two measures.
  A probe whose Krylov space became invariant (breakdown) has an exact rule and contributes 0.
* KPM with ``N`` Jackson-damped Chebyshev moments on an enclosing interval of half-width ``h``:
  ``ε_quad·W = π h sin(π/(2(N+1)))``: the Jackson kernel is a probability kernel in
  ``θ = arccos x`` with ``∫(2 − 2cos φ) K = 2(1 − cos(π/(N+1)))``, so by ``|φ| ≤ π|sin(φ/2)|`` and
  Cauchy–Schwarz its mean displacement is at most ``π sin(π/(2(N+1)))``.

``accuracy=t`` asks for ``W1 ≤ t·W`` and splits it evenly between the two parts. The interval is
estimated from the extreme Ritz values widened by their residual norms (Lanczos converges to the
extremes first), so the bound is as good as that estimate. The SLQ density's default smoothing
width ``π W/(4m)`` is the resolution of the degree-``(2m−1)`` information a rule carries (equal to
the Favard quadrature bound); a Gaussian kernel of width ``σ`` moves the measure by at most
``σ√(2/π)`` in W1, which :meth:`SLQDensity.smoothed_w1_bound` adds.

Stieltjes transforms by SLQ report the probe standard error and a bound on the Gauss-quadrature
bias: ``f(λ) = 1/(λ − z)`` is analytic inside the Bernstein ellipse ``E_ρ`` of the interval through
``z``, so for any ``1 < ρ' < ρ_z`` the error is at most ``4 M ρ'^{1−2m}/(ρ' − 1)`` with ``M`` the
maximum of ``|f|`` on ``E_ρ'`` (Chebyshev truncation, Trefethen ATAP Thm 8.2, counted for both
measures); the best ``ρ'`` on a grid is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np

from . import backend as bk
from .validation import check_choice, check_finite_array, check_int, check_probability, check_real

__all__ = [
    "as_operator",
    "eigvalsh_batched",
    "eigvalsh_chunk_size",
    "LanczosResult",
    "lanczos",
    "SpectralInterval",
    "spectral_edges",
    "slq_parameters",
    "kpm_parameters",
    "SpectralDensity",
    "SLQDensity",
    "KPMDensity",
    "slq_density",
    "kpm_density",
    "stieltjes_from_eigenvalues",
    "StieltjesEstimate",
    "stieltjes_slq",
    "gauss_stieltjes_bias_bound",
    "moments_from_eigenvalues",
    "MomentEstimate",
    "moments_hutchinson",
    "sphere_probes",
    "wasserstein1_distance",
    "ks_distance",
]

#: Bytes of workspace per matrix entry assumed by :func:`eigvalsh_batched`, in units of the
#: matrix itself: LAPACK/cuSOLVER overwrite a copy of the input (1×) and the tridiagonal
#: reduction's blocked workspace is at most about one more matrix (1×).
EIGVALSH_WORKSPACE_FACTOR = 2
#: Fraction of the free memory :func:`eigvalsh_batched` lets one chunk use (the rest is left
#: for the caller's arrays and the allocator's fragmentation).
EIGVALSH_MEMORY_FRACTION = 0.5
RULES = ("ctu", "favard")


# --------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------

class _Operator:
    """Uniform view of an operator: ``matmat``, ``shape``, ``dtype``, ``xp``."""

    def __init__(self, matmat: Callable[[Any], Any], shape: tuple[int, int], dtype: np.dtype,
                 xp: ModuleType) -> None:
        self.matmat = matmat
        self.shape = shape
        self.dtype = dtype
        self.xp = xp


def as_operator(A: Any, *, dim: int | None = None, dtype: Any = None,
                backend: str | None = None) -> _Operator:
    """Wrap a symmetric operator for the matrix-free routines.

    Parameters
    ----------
    A : array (d, d), object with ``matmat`` and ``shape``, or callable
        A dense symmetric matrix (NumPy or CuPy), an operator such as
        :class:`rmt.covariance.WeightedCovarianceOperator` or a SciPy ``LinearOperator``, or a
        callable mapping a block ``V`` of shape ``(d, k)`` to ``A V``.
    dim : int, optional
        ``d``; needed only for a bare callable.
    dtype : float32 or float64, optional
        Working precision for a bare callable (default float64).
    backend : {"numpy", "cupy"}, optional
        Array module for a bare callable (default NumPy).

    Returns
    -------
    object with ``matmat``, ``shape``, ``dtype`` and ``xp``
    """
    if isinstance(A, _Operator):
        return A
    if hasattr(A, "ndim") and hasattr(A, "dtype") and not hasattr(A, "matmat"):
        xp = bk.get_xp(A)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
            raise ValueError(f"A must be a square non-empty matrix, got shape {tuple(A.shape)}")
        if not np.issubdtype(np.dtype(A.dtype), np.floating):
            raise ValueError(f"A must have a floating dtype, got {A.dtype}")
        check_finite_array("A", A, xp)
        return _Operator(lambda V: A @ V, (int(A.shape[0]),) * 2, np.dtype(A.dtype), xp)
    if hasattr(A, "matmat") and hasattr(A, "shape"):
        shape = tuple(int(s) for s in A.shape)
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
            raise ValueError(f"A must be a square operator, got shape {shape}")
        xp = getattr(A, "xp", None) or bk.xp_for(backend)
        dt = np.dtype(getattr(A, "dtype", None) or bk.resolve_dtype(dtype))
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            dt = np.dtype(np.float64)
        return _Operator(A.matmat, shape, dt, xp)
    if callable(A):
        if dim is None:
            raise ValueError("dim must be given (an integer >= 1) when A is a bare callable")
        d = check_int("dim", dim, 1)
        return _Operator(A, (d, d), bk.resolve_dtype(dtype), bk.xp_for(backend))
    raise TypeError(f"A must be an array, an operator with matmat and shape, or a callable, "
                    f"got {type(A).__name__}")


# --------------------------------------------------------------------------------------------
# Exact eigenvalues, batched and chunked
# --------------------------------------------------------------------------------------------

def eigvalsh_chunk_size(dim: int, itemsize: int, memory_budget: int) -> int:
    """How many ``dim × dim`` matrices one :func:`eigvalsh_batched` chunk may hold.

    ``EIGVALSH_MEMORY_FRACTION · memory_budget`` divided by the workspace of one matrix,
    ``EIGVALSH_WORKSPACE_FACTOR · dim² · itemsize``; at least 1.
    """
    per_matrix = EIGVALSH_WORKSPACE_FACTOR * dim * dim * itemsize + 2 * dim * itemsize
    return max(1, int(EIGVALSH_MEMORY_FRACTION * memory_budget) // per_matrix)


def eigvalsh_batched(A: Any, *, memory_budget: int | None = None,
                     chunk_size: int | None = None, check: bool = True) -> Any:
    """Eigenvalues (ascending) of one symmetric matrix or a stack, chunked to fit in memory.

    Parameters
    ----------
    A : array, shape (d, d) or (b, d, d)
        Symmetric matrices (NumPy or CuPy); only the lower triangle is read.
    memory_budget : int, optional
        Bytes available for the decomposition's workspace; default
        :func:`rmt.backend.free_memory_bytes` of the array's device.
    chunk_size : int, optional
        Matrices per call to the backend's ``eigvalsh``; default
        :func:`eigvalsh_chunk_size`. Chunking never changes the result (each matrix is
        diagonalised by the same routine); on NumPy the output is bit-identical.
    check : bool
        Reject non-finite entries (default True).

    Returns
    -------
    array, shape (d,) or (b, d)
    """
    xp = bk.get_xp(A)
    if getattr(A, "ndim", None) not in (2, 3) or A.shape[-1] != A.shape[-2] or A.shape[-1] < 1:
        raise ValueError(f"A must have shape (d, d) or (b, d, d) with d >= 1, "
                         f"got {getattr(A, 'shape', None)}")
    if not np.issubdtype(np.dtype(A.dtype), np.floating):
        raise ValueError(f"A must have a floating dtype, got {A.dtype}")
    if check:
        check_finite_array("A", A, xp)
    if A.ndim == 2:
        return xp.linalg.eigvalsh(A)
    b, d = int(A.shape[0]), int(A.shape[-1])
    if chunk_size is None:
        budget = bk.free_memory_bytes(xp) if memory_budget is None else int(memory_budget)
        if budget < 1:
            raise ValueError(f"memory_budget must be an integer >= 1 byte, got {budget}")
        chunk = eigvalsh_chunk_size(d, np.dtype(A.dtype).itemsize, budget)
    else:
        chunk = check_int("chunk_size", chunk_size, 1)
    if chunk >= b:
        return xp.linalg.eigvalsh(A)
    out = xp.empty((b, d), dtype=A.dtype)
    for start in range(0, b, chunk):
        out[start:start + chunk] = xp.linalg.eigvalsh(A[start:start + chunk])
    return out


# --------------------------------------------------------------------------------------------
# Probes and the batched Lanczos iteration
# --------------------------------------------------------------------------------------------

def sphere_probes(dim: int, n_probes: int, seed: Any = None, *, xp: ModuleType = np,
                  dtype: Any = None) -> Any:
    """``n_probes`` independent vectors uniform on the unit sphere of ``R^dim``, as columns.

    Drawn on the host (normalised standard Gaussians) so both backends see the same probes.

    Returns
    -------
    array, shape (dim, n_probes)
    """
    d = check_int("dim", dim, 1)
    k = check_int("n_probes", n_probes, 1)
    G = bk.default_rng(seed, np).standard_normal((k, d))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    return bk.asarray(G.T.astype(bk.resolve_dtype(dtype)), xp)


@dataclass(frozen=True, eq=False)
class LanczosResult:
    """Output of :func:`lanczos`: one tridiagonal matrix per probe.

    Attributes
    ----------
    alpha : ndarray, shape (k, m)
        Diagonals (float64, host).
    beta : ndarray, shape (k, m)
        ``beta[:, j]`` couples steps ``j`` and ``j+1``; ``beta[:, m−1]`` is the final residual
        norm. A zero marks a breakdown (invariant Krylov space) after which the probe was
        continued with a fresh orthogonal vector whose nodes get zero weight.
    exhausted : ndarray of bool, shape (k,)
        Probes whose Krylov space became invariant (or reached ``d``): their rules are exact.
    dim : int
    """

    alpha: np.ndarray
    beta: np.ndarray
    exhausted: np.ndarray
    dim: int

    @property
    def n_probes(self) -> int:
        return int(self.alpha.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.alpha.shape[1])

    def quadrature(self, n_steps: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gauss rules of each probe from the leading ``n_steps`` Lanczos steps.

        Returns
        -------
        nodes, weights, residuals : ndarray, shape (k, n_steps)
            Ritz values, weights ``(e₁ᵀ s_l)²`` (each row sums to 1), and residual norms
            ``β_m |e_mᵀ s_l|`` (an eigenvalue lies within the residual of each Ritz value).
        """
        m = self.n_steps if n_steps is None else check_int("n_steps", n_steps, 1, self.n_steps)
        a = self.alpha[:, :m]
        b = self.beta[:, :m - 1]
        k = a.shape[0]
        T = np.zeros((k, m, m))
        idx = np.arange(m)
        T[:, idx, idx] = a
        T[:, idx[:-1], idx[1:]] = b
        T[:, idx[1:], idx[:-1]] = b
        theta, S = np.linalg.eigh(T)
        weights = S[:, 0, :] ** 2
        weights /= weights.sum(axis=1, keepdims=True)
        residuals = np.abs(self.beta[:, m - 1:m]) * np.abs(S[:, m - 1, :])
        return theta, weights, residuals


def lanczos(A: Any, n_steps: int, n_probes: int = 1, *, seed: Any = None, probes: Any = None,
            reorthogonalize: bool = True) -> LanczosResult:
    """Lanczos on ``k`` probes at once (columns of one block), with full reorthogonalisation.

    Each step is one ``A.matmat`` on a ``(d, k)`` block plus one (rarely two) batched classical
    Gram–Schmidt passes against the stored basis (``4 k j d`` flops per pass at step ``j``, as
    batched matrix products), so on a GPU a step costs about one read of the data and of the
    basis.

    Parameters
    ----------
    A : operator
        See :func:`as_operator`; must be symmetric.
    n_steps : int, >= 1
        Lanczos steps ``m`` (capped at ``d``).
    n_probes : int, >= 1
        Probes ``k`` (ignored when ``probes`` is given).
    seed : int, SeedSequence or Generator, optional
        Child 0 draws the probes (uniform on the sphere), child 1 the vectors that continue a
        probe after a breakdown.
    probes : array, shape (d, k), optional
        Start vectors (normalised here).
    reorthogonalize : bool
        Full reorthogonalisation (default). Without it no basis is stored (memory ``O(dk)``)
        and rounding makes ghost copies of converged Ritz values, biasing densities.

    Returns
    -------
    LanczosResult
    """
    op = as_operator(A)
    xp, d, dt = op.xp, op.shape[0], op.dtype
    m = min(check_int("n_steps", n_steps, 1), d)
    ss_probe, ss_restart = bk.spawn_seeds(seed, 2)
    if probes is None:
        k = check_int("n_probes", n_probes, 1)
        Q = sphere_probes(d, k, ss_probe, xp=xp, dtype=dt).T.copy()
    else:
        P = bk.asarray(probes, xp, dt)
        if P.ndim == 1:
            P = P[:, None]
        if P.ndim != 2 or P.shape[0] != d or P.shape[1] < 1:
            raise ValueError(f"probes must have shape ({d}, k) with k >= 1, got {tuple(P.shape)}")
        check_finite_array("probes", P, xp)
        norms = xp.sqrt(xp.sum(P * P, axis=0))
        if bool(xp.any(norms == 0)):
            raise ValueError("probes must be non-zero vectors")
        Q = (P / norms).T.copy()
        k = int(Q.shape[0])
    restart_rng = np.random.default_rng(ss_restart)
    eps = float(np.finfo(dt).eps)
    basis = xp.empty((k, m, d), dtype=dt) if reorthogonalize else None
    alpha = np.zeros((k, m))
    beta = np.zeros((k, m))
    exhausted = np.zeros(k, dtype=bool) if m < d else np.ones(k, dtype=bool)
    Q_prev = None
    b_prev = None
    norm_est = 0.0
    for j in range(m):
        if basis is not None:
            basis[:, j, :] = Q
        W = op.matmat(Q.T).T  # (k, d)
        a = xp.sum(Q * W, axis=1)
        W = W - a[:, None] * Q
        if Q_prev is not None:
            W -= b_prev[:, None] * Q_prev
        if basis is not None:
            W = _orthogonalize(xp, basis[:, :j + 1, :], W)
        b = xp.sqrt(xp.sum(W * W, axis=1))
        a_h = bk.to_numpy(a).astype(np.float64)
        b_h = bk.to_numpy(b).astype(np.float64)
        alpha[:, j] = a_h
        beta[:, j] = b_h
        if j == m - 1:
            break
        norm_est = max(norm_est, float(np.max(np.abs(a_h))), float(np.max(b_h)))
        # Breakdown: after two Gram–Schmidt passes an invariant Krylov space leaves a residual of
        # a few eps·‖A‖ times sqrt(j); anything that small carries no spectral information.
        tol = 64.0 * eps * max(norm_est, np.finfo(np.float64).tiny) * math.sqrt(j + 1)
        bad = np.flatnonzero(b_h <= tol)
        if bad.size:
            exhausted[bad] = True
            beta[bad, j] = 0.0
            b = bk.asarray(np.where(b_h <= tol, 1.0, b_h), xp, dt)
            for c in bad:
                r = bk.asarray(restart_rng.standard_normal(d), xp, dt)
                if basis is not None:
                    r = _orthogonalize(xp, basis[c:c + 1, :j + 1, :], r[None, :])[0]
                W[int(c)] = r / xp.sqrt(xp.sum(r * r))
            b_prev = bk.asarray(beta[:, j], xp, dt)
        else:
            b_prev = b
        Q_prev = Q
        Q = W / b[:, None]
    return LanczosResult(alpha=alpha, beta=beta, exhausted=exhausted, dim=d)


def _orthogonalize(xp: ModuleType, basis: Any, W: Any) -> Any:
    """Remove from each row ``W[c]`` its components on the orthonormal rows of ``basis[c]``.

    Classical Gram–Schmidt, repeated once when any row lost more than a factor √2 of its norm
    (Kahan–Parlett "twice is enough": a pass that keeps ≥ 1/√2 of the norm leaves a vector
    orthogonal to working precision, so the second pass is skipped then).
    """
    n0 = xp.sum(W * W, axis=1)
    for _ in range(2):
        h = xp.matmul(basis, W[:, :, None])  # (k, j, 1)
        W = W - xp.matmul(basis.transpose(0, 2, 1), h)[:, :, 0]
        n1 = xp.sum(W * W, axis=1)
        if not bool(xp.any(n1 < 0.5 * n0)):
            break
        n0 = n1
    return W


@dataclass(frozen=True, eq=False)
class SpectralInterval:
    """An interval estimated to hold the spectrum, from extreme Ritz values.

    ``lower = θ_min − r_min`` and ``upper = θ_max + r_max`` where ``r`` are the Ritz residual
    norms: ``θ_min ≥ λ_min`` and ``θ_max ≤ λ_max`` always, and an eigenvalue lies within ``r`` of
    each Ritz value, so once the extreme Ritz pairs have converged (they do first) the interval
    holds the spectrum.
    """

    lower: float
    upper: float
    ritz_min: float
    ritz_max: float
    residual_min: float
    residual_max: float

    @property
    def width(self) -> float:
        return self.upper - self.lower


def _interval_from_rules(theta: np.ndarray, residuals: np.ndarray) -> SpectralInterval:
    i_lo = np.unravel_index(np.argmin(theta), theta.shape)
    i_hi = np.unravel_index(np.argmax(theta), theta.shape)
    t_lo, r_lo = float(theta[i_lo]), float(residuals[i_lo])
    t_hi, r_hi = float(theta[i_hi]), float(residuals[i_hi])
    return SpectralInterval(t_lo - r_lo, t_hi + r_hi, t_lo, t_hi, r_lo, r_hi)


def spectral_edges(A: Any, n_steps: int = 40, n_probes: int = 1, *,
                   seed: Any = None) -> SpectralInterval:
    """Estimate the extreme eigenvalues of a symmetric operator by a few Lanczos steps.

    Parameters
    ----------
    A : operator
        See :func:`as_operator`.
    n_steps : int, >= 1
        Lanczos steps (40 resolve the edges of Marchenko–Pastur-like spectra to a small
        fraction of the width; the residuals report how well).
    n_probes : int, >= 1
    seed : optional

    Returns
    -------
    SpectralInterval
    """
    res = lanczos(A, n_steps, n_probes, seed=seed)
    theta, _, residuals = res.quadrature()
    return _interval_from_rules(theta, residuals)


# --------------------------------------------------------------------------------------------
# Densities
# --------------------------------------------------------------------------------------------

def _probe_part(dim: int, n_probes: int, eta: float) -> float:
    return math.sqrt(math.log(2.0 * dim / eta) / ((dim + 2.0) * n_probes))


def _quad_part(rule: str, m: int) -> float:
    return 12.0 / (2.0 * m - 1.0) if rule == "ctu" else math.pi / (4.0 * m)


def slq_parameters(accuracy: float, dim: int, confidence: float = 0.95,
                   rule: str = "ctu") -> tuple[int, int]:
    """Probes and Lanczos steps for an SLQ density with ``W1 ≤ accuracy · W`` w.p. ``confidence``.

    Parameters
    ----------
    accuracy : float in (0, 1)
        ``t``: the Wasserstein-1 error as a fraction of the spectral width.
    dim : int, >= 1
        ``n = d``.
    confidence : float in (0, 1)
        ``1 − η``.
    rule : {"ctu", "favard"}
        Lanczos steps ``⌈12/t + ½⌉`` (CTU) or ``⌈π/(2t)⌉`` (Favard's constant); see the module
        notes.

    Returns
    -------
    (n_probes, n_steps) : (int, int)
        ``n_probes = ⌈4 t⁻² ln(2n/η)/(n+2)⌉`` (at least 1).
    """
    t = check_real("accuracy", accuracy, 0.0, 1.0, strict_min=True, strict_max=True)
    d = check_int("dim", dim, 1)
    eta = 1.0 - check_probability("confidence", confidence)
    rule = check_choice("rule", rule, RULES)
    n_probes = max(1, math.ceil(4.0 / t**2 * math.log(2.0 * d / eta) / (d + 2.0)))
    n_steps = math.ceil(12.0 / t + 0.5) if rule == "ctu" else math.ceil(math.pi / (2.0 * t))
    return n_probes, n_steps


def kpm_parameters(accuracy: float, dim: int, confidence: float = 0.95) -> tuple[int, int]:
    """Probes and Chebyshev moments ``N`` for a KPM density with ``W1 ≤ accuracy · W``.

    ``N = ⌈π²/(2t)⌉ − 1`` makes the Jackson part ``π (W/2) sin(π/(2(N+1))) ≤ t W/2``; the probe
    count is that of :func:`slq_parameters`.

    Returns
    -------
    (n_probes, degree) : (int, int)
    """
    n_probes, _ = slq_parameters(accuracy, dim, confidence)
    t = float(accuracy)
    return n_probes, max(2, math.ceil(math.pi**2 / (2.0 * t)) - 1)


def _as_reference(reference: Any) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """A CDF and its jump points (or a grid hint) for eigenvalues or a callable CDF."""
    if callable(reference):
        return (lambda x: np.asarray(reference(x), dtype=np.float64)), np.empty(0)
    ev = np.sort(bk.to_numpy(reference).astype(np.float64).ravel())
    if ev.size == 0:
        raise ValueError("reference must hold at least one eigenvalue")
    check_finite_array("reference", ev)
    n = ev.size
    return (lambda x: np.searchsorted(ev, x, side="right") / n), ev


def wasserstein1_distance(cdf_a: Callable[[np.ndarray], np.ndarray],
                          cdf_b: Callable[[np.ndarray], np.ndarray], points: np.ndarray,
                          lower: float, upper: float, n_grid: int = 1 << 14) -> float:
    """``∫ |F_a − F_b| dx`` over ``[lower, upper]`` (outside it both CDFs must be equal).

    The integration grid is the union of ``points`` (put every jump of a step CDF here) and
    ``n_grid`` equispaced points; each segment uses its midpoint value, exact for step CDFs whose
    jumps are all grid points.
    """
    grid = np.union1d(np.linspace(lower, upper, n_grid), points[(points >= lower) & (points <= upper)])
    mid = 0.5 * (grid[1:] + grid[:-1])
    return float(np.sum(np.abs(cdf_a(mid) - cdf_b(mid)) * np.diff(grid)))


def ks_distance(cdf_a: Callable[[np.ndarray], np.ndarray],
                cdf_b: Callable[[np.ndarray], np.ndarray], points: np.ndarray,
                lower: float, upper: float, n_grid: int = 1 << 14) -> float:
    """``sup_x |F_a(x) − F_b(x)|`` over the grid of :func:`wasserstein1_distance` (its points and
    segment midpoints: the exact supremum for step CDFs whose jumps are all grid points)."""
    grid = np.union1d(np.linspace(lower, upper, n_grid), points[(points >= lower) & (points <= upper)])
    mid = 0.5 * (grid[1:] + grid[:-1])
    x = np.concatenate([grid, mid])
    return float(np.max(np.abs(cdf_a(x) - cdf_b(x))))


@dataclass(frozen=True, eq=False)
class SpectralDensity:
    """Common interface of SLQ and KPM spectral density estimates.

    Attributes
    ----------
    interval : (float, float)
        Interval the estimate lives on (an estimate of the spectrum's hull).
    dim : int
    n_probes : int
    confidence : float
        ``1 − η`` for the bound.
    w1_bound : float
        Bound on the Wasserstein-1 distance to the matrix's empirical spectral measure, holding
        with probability ≥ ``confidence`` over the probes (given the interval holds the
        spectrum).
    quadrature_part, probe_part : float
        The two parts of ``w1_bound`` as fractions of the interval width.
    """

    interval: tuple[float, float]
    dim: int
    n_probes: int
    confidence: float
    w1_bound: float
    quadrature_part: float
    probe_part: float

    method = "density"

    @property
    def width(self) -> float:
        return float(self.interval[1] - self.interval[0])

    @property
    def w1_bound_relative(self) -> float:
        """``w1_bound`` as a fraction of the interval width."""
        return self.quadrature_part + self.probe_part

    def cdf(self, x: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _points(self) -> np.ndarray:
        return np.empty(0)

    def histogram(self, edges: Any) -> np.ndarray:
        """Probability mass in each bin ``[e_i, e_{i+1})`` of increasing ``edges``."""
        e = np.asarray(edges, dtype=np.float64)
        if e.ndim != 1 or e.size < 2 or not np.all(np.diff(e) > 0):
            raise ValueError("edges must be a 1-D increasing array of at least 2 values")
        F = self.cdf(e)
        return np.diff(F)

    def wasserstein1(self, reference: Any) -> float:
        """W1 distance to ``reference``: eigenvalues (an empirical measure) or a callable CDF."""
        G, pts = _as_reference(reference)
        lo, hi = self._span(pts)
        return wasserstein1_distance(self.cdf, G, np.union1d(pts, self._points()), lo, hi)

    def ks(self, reference: Any) -> float:
        """Kolmogorov–Smirnov distance to ``reference`` (eigenvalues or a callable CDF)."""
        G, pts = _as_reference(reference)
        lo, hi = self._span(pts)
        return ks_distance(self.cdf, G, np.union1d(pts, self._points()), lo, hi)

    def _span(self, pts: np.ndarray) -> tuple[float, float]:
        lo, hi = self.interval
        if pts.size:
            lo, hi = min(lo, float(pts[0])), max(hi, float(pts[-1]))
        # Widen by far more than rounding (eps·width ~ 1e-16) and far less than any bin, so the
        # extreme eigenvalues fall strictly inside the span.
        pad = 1e-9 * max(hi - lo, 1e-300)
        return lo - pad, hi + pad

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "interval": list(self.interval), "dim": self.dim,
                "n_probes": self.n_probes, "confidence": self.confidence,
                "w1_bound": self.w1_bound, "w1_bound_relative": self.w1_bound_relative,
                "quadrature_part": self.quadrature_part, "probe_part": self.probe_part}


@dataclass(frozen=True, eq=False)
class SLQDensity(SpectralDensity):
    """Stochastic Lanczos quadrature estimate: the average of the probes' Gauss rules.

    Attributes
    ----------
    nodes, weights : ndarray, shape (k, m)
        Ritz values and weights of each probe's rule (each row of ``weights`` sums to 1).
    n_steps : int
    rule : {"ctu", "favard"}
        Constant used for the quadrature part of the bound.
    bandwidth : float
        Default Gaussian smoothing width ``π W/(4m)`` for :meth:`pdf`.
    """

    nodes: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    weights: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    n_steps: int = 0
    rule: str = "ctu"
    bandwidth: float = 0.0

    method = "slq"

    def __post_init__(self) -> None:
        order = np.argsort(self.nodes, axis=None)
        object.__setattr__(self, "_sorted_nodes", self.nodes.ravel()[order])
        cum = np.cumsum(self.weights.ravel()[order]) / self.n_probes
        object.__setattr__(self, "_cum", cum)

    def _points(self) -> np.ndarray:
        return self._sorted_nodes

    def cdf(self, x: Any) -> np.ndarray:
        """The (right-continuous, step) CDF of the averaged Gauss rules."""
        x = np.asarray(x, dtype=np.float64)
        i = np.searchsorted(self._sorted_nodes, x, side="right")
        cum = np.concatenate([[0.0], self._cum])
        return np.minimum(cum[i], 1.0)

    def pdf(self, x: Any, bandwidth: float | None = None) -> np.ndarray:
        """Density smoothed by a Gaussian kernel of width ``bandwidth`` (default
        :attr:`bandwidth`)."""
        s = self.bandwidth if bandwidth is None else check_real("bandwidth", bandwidth, 0.0,
                                                                 strict_min=True)
        x = np.asarray(x, dtype=np.float64)
        w = self.weights.ravel() / self.n_probes
        t = self.nodes.ravel()
        out = np.zeros(x.shape)
        flat = x.ravel()
        for start in range(0, flat.size, 2048):
            xs = flat[start:start + 2048]
            u = (xs[:, None] - t[None, :]) / s
            out.ravel()[start:start + 2048] = (np.exp(-0.5 * u * u) @ w) / (s * math.sqrt(2 * math.pi))
        return out

    def smoothed_cdf(self, x: Any, bandwidth: float | None = None) -> np.ndarray:
        """CDF of the Gaussian-smoothed density :meth:`pdf`: ``Σ τ Φ((x − θ)/σ)``."""
        from scipy.special import ndtr  # noqa: PLC0415

        s = self.bandwidth if bandwidth is None else check_real("bandwidth", bandwidth, 0.0,
                                                                 strict_min=True)
        x = np.asarray(x, dtype=np.float64)
        w = self.weights.ravel() / self.n_probes
        t = self.nodes.ravel()
        out = np.empty(x.shape)
        flat, res = x.ravel(), out.ravel()
        for start in range(0, flat.size, 2048):
            xs = flat[start:start + 2048]
            res[start:start + 2048] = ndtr((xs[:, None] - t[None, :]) / s) @ w
        return out

    def smoothed_w1_bound(self, bandwidth: float | None = None) -> float:
        """W1 bound for :meth:`pdf` with this ``bandwidth``: ``w1_bound + σ√(2/π)``."""
        s = self.bandwidth if bandwidth is None else float(bandwidth)
        return self.w1_bound + s * math.sqrt(2.0 / math.pi)

    def stieltjes(self, z: Any) -> Any:
        """Gauss-quadrature Stieltjes transform ``Σ τ_l / (θ_l − z)`` of the averaged rule."""
        z = np.asarray(z, dtype=np.complex128)
        w = self.weights.ravel() / self.n_probes
        return (w[None, :] / (self.nodes.ravel()[None, :] - z.ravel()[:, None])).sum(axis=1).reshape(z.shape)

    def moments(self, k_max: int) -> np.ndarray:
        """``∫ x^k`` for ``k = 1..k_max`` (exact for ``k ≤ 2m − 1`` up to probe error)."""
        k_max = check_int("k_max", k_max, 1)
        w = self.weights.ravel() / self.n_probes
        t = self.nodes.ravel()
        return np.array([np.sum(w * t**k) for k in range(1, k_max + 1)])

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update({"n_steps": self.n_steps, "rule": self.rule, "bandwidth": self.bandwidth,
                    "smoothed_w1_bound": self.smoothed_w1_bound()})
        return out


def _jackson(N: int) -> np.ndarray:
    k = np.arange(N)
    a = math.pi / (N + 1)
    return ((N - k + 1) * np.cos(a * k) + np.sin(a * k) / math.tan(a)) / (N + 1)


@dataclass(frozen=True, eq=False)
class KPMDensity(SpectralDensity):
    """Kernel polynomial method estimate with Jackson damping.

    Attributes
    ----------
    chebyshev_moments : ndarray, shape (N,)
        ``μ_k = (1/d) tr T_k(Ã)`` estimated from the probes, ``Ã = (A − c)/h``.
    probe_moments : ndarray, shape (k, N)
        Per-probe moments (their spread is the probe standard error of each ``μ_k``).
    degree : int
        ``N``.
    """

    chebyshev_moments: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    probe_moments: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    degree: int = 0

    method = "kpm"

    @property
    def center(self) -> float:
        return 0.5 * (self.interval[0] + self.interval[1])

    @property
    def half_width(self) -> float:
        return 0.5 * (self.interval[1] - self.interval[0])

    @property
    def damped_moments(self) -> np.ndarray:
        return _jackson(self.degree) * self.chebyshev_moments

    def cdf(self, x: Any) -> np.ndarray:
        """Exact CDF of the damped Chebyshev series: ``1 − θ/π − (2/π) Σ g_k μ_k sin(kθ)/k``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.clip((x - self.center) / self.half_width, -1.0, 1.0)
        theta = np.arccos(y)
        gm = self.damped_moments
        k = np.arange(1, self.degree)
        out = np.empty(x.shape)
        flat_t = theta.ravel()
        flat = out.ravel()
        for start in range(0, flat_t.size, 2048):
            th = flat_t[start:start + 2048]
            s = np.sin(th[:, None] * k[None, :]) @ (gm[1:] / k)
            flat[start:start + 2048] = 1.0 - th / math.pi - (2.0 / math.pi) * s
        return np.clip(out, 0.0, 1.0)

    def pdf(self, x: Any) -> np.ndarray:
        """Damped Chebyshev density ``[1 + 2 Σ g_k μ_k T_k(y)] / (π h √(1 − y²))``."""
        x = np.asarray(x, dtype=np.float64)
        y = (x - self.center) / self.half_width
        inside = np.abs(y) < 1.0
        yy = np.where(inside, y, 0.0)
        theta = np.arccos(yy)
        gm = self.damped_moments
        k = np.arange(1, self.degree)
        series = 1.0 + 2.0 * (np.cos(theta.ravel()[:, None] * k[None, :]) @ gm[1:]).reshape(y.shape)
        dens = series / (math.pi * self.half_width * np.sqrt(1.0 - yy * yy))
        return np.where(inside, np.maximum(dens, 0.0), 0.0)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update({"degree": self.degree})
        return out


def slq_density(A: Any, accuracy: float = 0.05, *, confidence: float = 0.95,
                n_probes: int | None = None, n_steps: int | None = None, rule: str = "ctu",
                seed: Any = None) -> SLQDensity:
    """Spectral density of a symmetric operator by stochastic Lanczos quadrature.

    Parameters
    ----------
    A : operator
        See :func:`as_operator`.
    accuracy : float in (0, 1)
        Target ``t`` for ``W1 ≤ t · W`` (``W``: spectral width); sets the probes and steps not
        given explicitly (:func:`slq_parameters`).
    confidence : float in (0, 1)
        Probability ``1 − η`` with which the reported bound holds.
    n_probes, n_steps : int, optional
        Override the counts; the reported bound is computed from the counts actually used.
    rule : {"ctu", "favard"}
        Constant of the quadrature part (module notes). ``"ctu"`` follows Chen–Trogdon–Ubaru;
        ``"favard"`` is ≈7.6× smaller and so needs ≈7.6× fewer steps for the same target.
    seed : int, SeedSequence or Generator, optional

    Returns
    -------
    SLQDensity
        With ``w1_bound`` (absolute), its two parts, and a default smoothing ``bandwidth``.

    Examples
    --------
    >>> from rmt.covariance import draw_covariance
    >>> op = draw_covariance(400, 800, seed=0, scale="C").operator()
    >>> dens = slq_density(op, accuracy=0.1, rule="favard", seed=1)
    >>> dens.n_probes, dens.n_steps
    (10, 16)
    >>> bool(dens.w1_bound <= 0.1 * dens.width)
    True
    """
    op = as_operator(A)
    d = op.shape[0]
    rule = check_choice("rule", rule, RULES)
    k0, m0 = slq_parameters(accuracy, d, confidence, rule)
    k = k0 if n_probes is None else check_int("n_probes", n_probes, 1)
    m = m0 if n_steps is None else check_int("n_steps", n_steps, 1)
    res = lanczos(op, m, k, seed=seed)
    theta, weights, residuals = res.quadrature()
    iv = _interval_from_rules(theta, residuals)
    m_used = res.n_steps
    eta = 1.0 - float(confidence)
    quad = float(np.mean(np.where(res.exhausted, 0.0, _quad_part(rule, m_used))))
    probe = _probe_part(d, k, eta)
    W = iv.width
    return SLQDensity(interval=(iv.lower, iv.upper), dim=d, n_probes=k, confidence=float(confidence),
                      w1_bound=W * (quad + probe), quadrature_part=quad, probe_part=probe,
                      nodes=theta, weights=weights, n_steps=m_used, rule=rule,
                      bandwidth=max(math.pi * W / (4.0 * m_used), np.finfo(float).tiny))


def kpm_density(A: Any, accuracy: float = 0.05, *, confidence: float = 0.95,
                n_probes: int | None = None, degree: int | None = None,
                interval: tuple[float, float] | None = None, margin: float = 0.01,
                seed: Any = None) -> KPMDensity:
    """Spectral density by the kernel polynomial method (Chebyshev moments, Jackson damping).

    Parameters
    ----------
    A : operator
        See :func:`as_operator`.
    accuracy : float in (0, 1)
        Target ``t`` for ``W1 ≤ t · W`` (``W``: width of the interval used); sets the probes
        and degree not given (:func:`kpm_parameters`).
    confidence : float in (0, 1)
    n_probes, degree : int, optional
        Probes and number of moments ``N`` (``⌈(N−1)/2⌉`` products with ``A`` per probe, by the
        doubling ``T_{2j} = 2T_j² − 1``, ``T_{2j+1} = 2T_{j+1}T_j − T_1``).
    interval : (float, float), optional
        An interval known to hold the spectrum; default :func:`spectral_edges` widened by
        ``margin`` of its width on each side.
    margin : float, >= 0
    seed : int, SeedSequence or Generator, optional
        Child 0 draws the probes, child 1 seeds the edge estimate.

    Returns
    -------
    KPMDensity

    Raises
    ------
    ValueError
        If a given ``interval`` does not hold the spectrum (a moment exceeded 1 in modulus).
    """
    op = as_operator(A)
    xp, d, dt = op.xp, op.shape[0], op.dtype
    k0, N0 = kpm_parameters(accuracy, d, confidence)
    k = k0 if n_probes is None else check_int("n_probes", n_probes, 1)
    N = N0 if degree is None else check_int("degree", degree, 2)
    margin = check_real("margin", margin, 0.0)
    ss_probe, ss_edges = bk.spawn_seeds(seed, 2)
    given = interval is not None
    if given:
        lo = check_real("interval[0]", interval[0])
        hi = check_real("interval[1]", interval[1])
        if not hi > lo:
            raise ValueError(f"interval must satisfy interval[0] < interval[1], got {interval}")
    else:
        iv = spectral_edges(op, seed=ss_edges)
        # The absolute term keeps a degenerate (zero-width) interval from mapping to a point:
        # 1e-12 relative is ~1e4 eps, above the Lanczos edge estimate's rounding.
        pad = margin * iv.width + 1e-12 * max(abs(iv.lower), abs(iv.upper), 1.0)
        lo, hi = iv.lower - pad, iv.upper + pad
    U = sphere_probes(d, k, ss_probe, xp=xp, dtype=dt)  # (d, k)
    # Rounding in the three-term recurrence grows ~ j·eps; a moment above 1 by more than that
    # proves an eigenvalue outside the interval (|T_j| <= 1 on [-1, 1]).
    tol = 100.0 * N * float(np.finfo(dt).eps) + 1e-12
    for _attempt in range(4):
        mu = _chebyshev_moments(op, U, lo, hi, N)
        if np.all(np.abs(mu) <= 1.0 + tol):
            break
        if given:
            raise ValueError(f"interval {interval} does not hold the spectrum of A "
                             f"(a Chebyshev moment reached {np.max(np.abs(mu)):.3g} > 1)")
        c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
        lo, hi = c - 1.5 * h, c + 1.5 * h
    else:  # pragma: no cover - four widenings by 1.5 cover any Ritz estimate
        raise RuntimeError("KPM could not find an interval holding the spectrum")
    eta = 1.0 - float(confidence)
    h = 0.5 * (hi - lo)
    quad_abs = math.pi * h * math.sin(math.pi / (2.0 * (N + 1)))
    W = hi - lo
    probe = _probe_part(d, k, eta)
    return KPMDensity(interval=(lo, hi), dim=d, n_probes=k, confidence=float(confidence),
                      w1_bound=quad_abs + W * probe, quadrature_part=quad_abs / W,
                      probe_part=probe, chebyshev_moments=mu.mean(axis=0),
                      probe_moments=mu, degree=N)


def _chebyshev_moments(op: _Operator, U: Any, lo: float, hi: float, N: int) -> np.ndarray:
    """Per-probe Chebyshev moments ``u·T_j(Ã)u``, ``j < N``, shape (k, N), float64 host."""
    xp = op.xp
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    k = U.shape[1]
    # Moments are gathered where the vectors live and copied to the host once: a copy per
    # step would synchronise the device on every product (CuPy).
    mu = xp.zeros((k, N), dtype=xp.float64)

    def apply(V: Any) -> Any:
        return (op.matmat(V) - c * V) / h

    t0 = U
    t1 = apply(U)
    mu0 = xp.sum(t0 * t0, axis=0)
    mu1 = xp.sum(t1 * t0, axis=0)
    mu[:, 0] = mu0
    mu[:, 1] = mu1
    j = 1
    # t_j = T_j(Ã)u; moments 2j and 2j+1 from t_j, t_{j+1}.
    while True:
        if 2 * j < N:
            mu[:, 2 * j] = 2.0 * xp.sum(t1 * t1, axis=0) - mu0
        if 2 * j + 1 >= N:
            break
        t2 = 2.0 * apply(t1) - t0
        mu[:, 2 * j + 1] = 2.0 * xp.sum(t2 * t1, axis=0) - mu1
        t0, t1 = t1, t2
        j += 1
    return np.asarray(bk.to_numpy(mu), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Stieltjes transforms
# --------------------------------------------------------------------------------------------

def _as_z(z: Any) -> np.ndarray:
    zz = np.asarray(z, dtype=np.complex128)
    if not np.all(np.isfinite(zz)):
        raise ValueError("z must hold finite complex numbers")
    return zz


def stieltjes_from_eigenvalues(eigenvalues: Any, z: Any) -> Any:
    """``s(z) = (1/d) Σ_i 1/(λ_i − z)`` from exact eigenvalues.

    Parameters
    ----------
    eigenvalues : array, shape (d,) or (b, d)
        NumPy or CuPy.
    z : complex or array of complex, shape (q,)
        Points off the spectrum (``Im z ≠ 0`` or real ``z`` outside it).

    Returns
    -------
    complex ndarray (host), shape ``z.shape`` or (b,) + ``z.shape``
    """
    xp = bk.get_xp(eigenvalues)
    ev = eigenvalues
    if getattr(ev, "ndim", None) not in (1, 2) or ev.shape[-1] < 1:
        raise ValueError(f"eigenvalues must have shape (d,) or (b, d) with d >= 1, "
                         f"got {getattr(ev, 'shape', None)}")
    zz = _as_z(z)
    zd = bk.asarray(zz.ravel(), xp)
    diff = ev.astype(xp.float64)[..., None, :] - zd[:, None]
    if bool(xp.any(diff == 0)):
        raise ValueError("z must not coincide with an eigenvalue")
    s = xp.mean(1.0 / diff, axis=-1)
    return bk.to_numpy(s).reshape(ev.shape[:-1] + zz.shape)


def _bernstein_rho(w: np.ndarray) -> np.ndarray:
    s = np.sqrt(w - 1.0 + 0j) * np.sqrt(w + 1.0 + 0j)
    return np.maximum(np.abs(w + s), np.abs(w - s))


def _bias_terms(z: np.ndarray, lower: float, upper: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per ``z``: ellipse parameters ``ρ'`` and ``log(4 M(ρ')/(ρ' − 1))`` (see the bound)."""
    c, h = 0.5 * (lower + upper), 0.5 * (upper - lower)
    w = (z.ravel() - c) / h
    rho_z = _bernstein_rho(w)
    phi = np.linspace(0.0, 2.0 * np.pi, 2049)[:-1]
    e_phi = np.exp(1j * phi)
    terms = []
    for wi, rz in zip(w, rho_z):
        # ρ(z) = 1 means z on the interval (no Bernstein ellipse, no bound); 1e-12 above 1 is
        # ~1e4 eps, so rounding of ρ cannot make a point on the interval look outside it.
        if not rz > 1.0 + 1e-12:
            terms.append((np.empty(0), np.empty(0)))
            continue
        rhos = 1.0 + (rz - 1.0) * np.linspace(0.02, 0.98, 97)
        ell = 0.5 * (rhos[:, None] * e_phi[None, :] + 1.0 / (rhos[:, None] * e_phi[None, :]))
        # sampled distance minus the largest half-chord: a lower bound on the true distance
        chord = 0.5 * np.max(np.abs(np.diff(ell, axis=1, append=ell[:, :1])), axis=1)
        dist = np.min(np.abs(ell - wi), axis=1) - chord
        ok = dist > 0
        logc = np.log(4.0 / (h * dist[ok])) - np.log(rhos[ok] - 1.0)
        terms.append((np.log(rhos[ok]), logc))
    return terms


def _bias_from_terms(terms: list[tuple[np.ndarray, np.ndarray]], m: int) -> np.ndarray:
    out = np.full(len(terms), np.inf)
    for i, (log_r, logc) in enumerate(terms):
        if log_r.size:
            out[i] = math.exp(min(float(np.min(logc + (1 - 2 * m) * log_r)), 700.0))
    return out


def gauss_stieltjes_bias_bound(z: Any, lower: float, upper: float, n_steps: int) -> np.ndarray:
    """Bound on ``|Gauss rule − integral|`` of ``1/(λ − z)`` for any probability measure on
    ``[lower, upper]`` and an ``n_steps``-point Gauss rule.

    ``min_{1<ρ<ρ_z} 4 M(ρ) ρ^{1−2m}/(ρ − 1)`` with ``M(ρ) = 1/(h · dist(w, E_ρ))``,
    ``w = (z − c)/h`` (module notes), minimised over 97 values of ``ρ``. ``inf`` for ``z`` on the
    interval.
    """
    zz = _as_z(z)
    m = check_int("n_steps", n_steps, 1)
    return _bias_from_terms(_bias_terms(zz, lower, upper), m).reshape(zz.shape)


@dataclass(frozen=True, eq=False)
class StieltjesEstimate:
    """Matrix-free estimate of ``s(z)`` by SLQ.

    Attributes
    ----------
    z : complex ndarray
    value : complex ndarray
        Mean over probes of the Gauss rules.
    stderr : complex ndarray
        Probe standard error, real and imaginary parts separately (``SE_re + i SE_im``).
    bias_bound : ndarray
        Bound on the Gauss-quadrature bias (:func:`gauss_stieltjes_bias_bound`) on
        :attr:`interval`.
    probe_values : complex ndarray, shape (k,) + z.shape
    n_probes, n_steps : int
    interval : (float, float)
    """

    z: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    bias_bound: np.ndarray
    probe_values: np.ndarray
    n_probes: int
    n_steps: int
    interval: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"z_real": self.z.real.tolist(), "z_imag": self.z.imag.tolist(),
                "value_real": self.value.real.tolist(), "value_imag": self.value.imag.tolist(),
                "stderr_real": self.stderr.real.tolist(), "stderr_imag": self.stderr.imag.tolist(),
                "bias_bound": self.bias_bound.tolist(), "n_probes": self.n_probes,
                "n_steps": self.n_steps, "interval": list(self.interval)}


def stieltjes_slq(A: Any, z: Any, *, n_probes: int = 32, n_steps: int | None = None,
                  tol: float = 1e-6, max_steps: int = 1000, seed: Any = None) -> StieltjesEstimate:
    """``s(z) = (1/d) tr (A − z)⁻¹`` by stochastic Lanczos quadrature, with probe standard error.

    Parameters
    ----------
    A : operator
        See :func:`as_operator`.
    z : complex or array of complex
        Points off the spectrum.
    n_probes : int, >= 1
        Probes (uniform on the sphere; each gives an unbiased estimate of the exact rule's mean,
        so the standard error is the sample std over probes divided by ``√k``; needs ``k ≥ 2``).
    n_steps : int, optional
        Lanczos steps; default: the fewest (≤ ``max_steps``, ≤ ``d``) whose bias bound at every
        ``z`` is ≤ ``tol / dist(z, interval)`` on an interval from :func:`spectral_edges`.
    tol : float, > 0
        Relative bias tolerance used to choose ``n_steps``.
    max_steps : int, >= 1
    seed : int, SeedSequence or Generator, optional
        Child 0 draws the probes, child 1 seeds the edge estimate.

    Returns
    -------
    StieltjesEstimate
    """
    op = as_operator(A)
    d = op.shape[0]
    zz = _as_z(z)
    k = check_int("n_probes", n_probes, 1)
    tol = check_real("tol", tol, 0.0, strict_min=True)
    max_steps = check_int("max_steps", max_steps, 1)
    ss_probe, ss_edges = bk.spawn_seeds(seed, 2)
    if n_steps is None:
        iv = spectral_edges(op, seed=ss_edges)
        dist = _dist_to_interval(zz.ravel(), iv.lower, iv.upper)
        if np.any(dist <= 0):
            bad = zz.ravel()[dist <= 0][0]
            raise ValueError(f"z must lie off the spectrum (Im z != 0, or real z outside the "
                             f"estimated interval [{iv.lower:.6g}, {iv.upper:.6g}]), got {bad}")
        terms = _bias_terms(zz, iv.lower, iv.upper)
        m = min(max_steps, d)
        lo_m, hi_m = 1, m
        if np.all(_bias_from_terms(terms, m) <= tol / dist):
            while lo_m < hi_m:  # the bound decreases with m: bisect for the fewest steps
                mid = (lo_m + hi_m) // 2
                ok = np.all(_bias_from_terms(terms, mid) <= tol / dist)
                lo_m, hi_m = (lo_m, mid) if ok else (mid + 1, hi_m)
            m = lo_m
    else:
        m = check_int("n_steps", n_steps, 1)
    res = lanczos(op, m, k, seed=ss_probe)
    theta, weights, residuals = res.quadrature()
    iv = _interval_from_rules(theta, residuals)
    zf = zz.ravel()
    per = (weights[:, None, :] / (theta[:, None, :] - zf[None, :, None])).sum(axis=2)  # (k, q)
    value = per.mean(axis=0)
    if k > 1:
        se = (per.real.std(axis=0, ddof=1) + 1j * per.imag.std(axis=0, ddof=1)) / math.sqrt(k)
    else:
        se = np.full(zf.shape, np.nan + 1j * np.nan)
    bias = gauss_stieltjes_bias_bound(zf, iv.lower, iv.upper, res.n_steps)
    bias = np.where(res.exhausted.all(), 0.0, bias)
    return StieltjesEstimate(z=zz, value=value.reshape(zz.shape), stderr=se.reshape(zz.shape),
                             bias_bound=np.asarray(bias).reshape(zz.shape),
                             probe_values=per.reshape((k,) + zz.shape), n_probes=k,
                             n_steps=res.n_steps, interval=(iv.lower, iv.upper))


def _dist_to_interval(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    x = np.clip(z.real, lo, hi)
    return np.abs(z - x)


# --------------------------------------------------------------------------------------------
# Moments
# --------------------------------------------------------------------------------------------

def moments_from_eigenvalues(eigenvalues: Any, k_max: int) -> np.ndarray:
    """``m_k = (1/d) Σ_i λ_i^k`` for ``k = 1..k_max`` (host float64; batched over leading axes).

    Returns
    -------
    ndarray, shape (k_max,) or (b, k_max)
    """
    k_max = check_int("k_max", k_max, 1)
    ev = bk.to_numpy(eigenvalues).astype(np.float64)
    if ev.ndim not in (1, 2) or ev.shape[-1] < 1:
        raise ValueError(f"eigenvalues must have shape (d,) or (b, d) with d >= 1, got {ev.shape}")
    powers = ev[..., None] ** np.arange(1, k_max + 1)
    return powers.mean(axis=-2)


@dataclass(frozen=True, eq=False)
class MomentEstimate:
    """Hutchinson estimates of ``m_k = (1/d) tr A^k``.

    Attributes
    ----------
    orders : ndarray of int
    value, stderr : ndarray
        Mean over probes and its standard error (sample std / √k).
    probe_values : ndarray, shape (k, k_max)
    """

    orders: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    probe_values: np.ndarray

    @property
    def n_probes(self) -> int:
        return int(self.probe_values.shape[0])

    def to_dict(self) -> dict[str, Any]:
        return {"orders": self.orders.tolist(), "value": self.value.tolist(),
                "stderr": self.stderr.tolist(), "n_probes": self.n_probes}


def moments_hutchinson(A: Any, k_max: int, *, n_probes: int = 32,
                       seed: Any = None) -> MomentEstimate:
    """``m_k = (1/d) tr A^k``, ``k = 1..k_max``, by Hutchinson's estimator with Rademacher probes.

    Each probe ``v ∈ {±1}^d`` gives ``vᵀA^k v / d`` (unbiased); ``y_j = A^j v`` gives
    ``vᵀA^{2j}v = ‖y_j‖²`` and ``vᵀA^{2j+1}v = y_jᵀ y_{j+1}``, so ``⌈k_max/2⌉`` block products
    suffice.

    Returns
    -------
    MomentEstimate
    """
    op = as_operator(A)
    xp, d, dt = op.xp, op.shape[0], op.dtype
    k_max = check_int("k_max", k_max, 1)
    k = check_int("n_probes", n_probes, 1)
    # drawn probe by probe (rows), so probe i is the same whatever n_probes is
    V = bk.default_rng(seed, np).integers(0, 2, size=(k, d)).astype(np.float64) * 2.0 - 1.0
    y0 = bk.asarray(V.T, xp, dt)
    per = np.zeros((k, k_max))
    j = 0
    y_j = y0
    y_next = op.matmat(y_j)
    while True:
        if 2 * j >= 1 and 2 * j <= k_max:
            per[:, 2 * j - 1] = bk.to_numpy(xp.sum(y_j * y_j, axis=0)) / d
        if 2 * j + 1 <= k_max:
            per[:, 2 * j] = bk.to_numpy(xp.sum(y_j * y_next, axis=0)) / d
        if 2 * j + 2 > k_max:
            break
        j += 1
        y_j = y_next
        if 2 * j + 1 <= k_max:
            y_next = op.matmat(y_j)
    value = per.mean(axis=0)
    se = per.std(axis=0, ddof=1) / math.sqrt(k) if k > 1 else np.full(k_max, np.nan)
    return MomentEstimate(orders=np.arange(1, k_max + 1), value=value, stderr=se,
                          probe_values=per)
