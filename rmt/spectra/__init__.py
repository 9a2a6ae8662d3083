"""Spectra of symmetric matrices: exact (batched, chunked) and matrix-free with error bounds.

Exact
-----
:func:`eigvalsh_batched` diagonalises one matrix or a stack, in chunks sized to the run's
memory plan (on a GPU: the batched Jacobi solver only for small matrices, checked for
convergence); :func:`stieltjes_from_eigenvalues` and :func:`moments_from_eigenvalues` turn the
eigenvalues into ``s(z) = (1/d) tr (B − z)⁻¹`` and ``m_k = (1/d) tr B^k``.

Matrix-free
-----------
An operator is a dense symmetric matrix, any object with ``matmat`` (and ``shape``), such as
:class:`rmt.covariance.WeightedCovarianceOperator` or a SciPy ``LinearOperator``, or a callable
``V ↦ B V`` on blocks of shape ``(d, k)``.

Modules
-------
* :mod:`~rmt.spectra.operators` — operators (:func:`as_operator`) and probes on the sphere;
* :mod:`~rmt.spectra.exact` — :func:`eigvalsh_batched` and the Stieltjes transform and moments
  of exact eigenvalues;
* :mod:`~rmt.spectra.lanczos` — the batched Lanczos iteration, Lanczos for a pencil
  ``(A, B)`` and spectral edges;
* :mod:`~rmt.spectra.lockstep` — the smallest eigenpair of several operators at once (LOBPCG);
* :mod:`~rmt.spectra.density` — SLQ and KPM densities and their Wasserstein-1 error bound
  (:func:`~rmt.spectra.density.density_w1_bound`);
* :mod:`~rmt.spectra.trace` — the Stieltjes transform by SLQ and moments by Hutchinson.

Every public name is importable from ``rmt.spectra``. Distances between a density and
eigenvalues or another CDF use :func:`rmt.stats.grid_distances`.
"""

from .density import (  # noqa: F401 - RULES and the EIGVALSH_* constants are public too
    RULES,
    KPMDensity,
    SLQDensity,
    SpectralDensity,
    density_w1_bound,
    kpm_density,
    kpm_parameters,
    slq_density,
    slq_parameters,
)
from .exact import (  # noqa: F401
    BATCHED_JACOBI_MAX_DIM,
    EIGVALSH_MEMORY_FRACTION,
    EIGVALSH_WORKSPACE_FACTOR,
    eigvalsh_batched,
    eigvalsh_chunk_size,
    moments_from_eigenvalues,
    stieltjes_from_eigenvalues,
)
from .lanczos import LanczosResult, SpectralInterval, lanczos, lanczos_pencil, spectral_edges
from .operators import as_operator, sphere_probes
from .trace import (
    MomentEstimate,
    StieltjesEstimate,
    gauss_stieltjes_bias_bound,
    moments_hutchinson,
    stieltjes_slq,
)

__all__ = [
    "as_operator",
    "eigvalsh_batched",
    "eigvalsh_chunk_size",
    "LanczosResult",
    "lanczos",
    "lanczos_pencil",
    "SpectralInterval",
    "spectral_edges",
    "slq_parameters",
    "kpm_parameters",
    "density_w1_bound",
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
]
