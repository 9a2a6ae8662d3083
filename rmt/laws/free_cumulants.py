"""Free cumulants ↔ moments (sums over non-crossing partitions) and the Marchenko–Pastur
moments (Narayana numbers)."""

from __future__ import annotations

from math import comb
from typing import Sequence

import numpy as np

from .. import backend as bk
from ..validation import check_real
from ._base import check_order

__all__ = ["moments_from_free_cumulants", "free_cumulants_from_moments", "mp_moment"]


def _series_power_coeffs(M: np.ndarray, order: int) -> list[np.ndarray]:
    """[M^0, M^1, ..., M^order] truncated to len(M) coefficients (power series in z)."""
    n = len(M)
    out = [np.zeros(n)]
    out[0][0] = 1.0
    for _ in range(order):
        out.append(np.convolve(out[-1], M)[:n])
    return out


def moments_from_free_cumulants(kappa: Sequence[float]) -> np.ndarray:
    """Moments ``m_1..m_n`` of the law whose free cumulants are ``κ_1..κ_n``.

    Sums over non-crossing partitions through the functional equation of the moment series
    ``M(z) = 1 + Σ_s κ_s z^s M(z)^s``, i.e. ``m_n = Σ_{s=1}^{n} κ_s [z^{n−s}] M(z)^s``.

    Parameters
    ----------
    kappa : sequence of float
        ``κ_1, ..., κ_n`` (finite).

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``m_1, ..., m_n``.

    Examples
    --------
    Marchenko–Pastur with ratio γ has ``κ_k = γ^{k−1}``:

    >>> moments_from_free_cumulants([1.0, 0.5, 0.25])
    array([1.  , 1.5 , 2.75])
    """
    k = np.asarray(bk.to_numpy(kappa), dtype=np.float64)
    if k.ndim != 1 or not np.all(np.isfinite(k)):
        raise ValueError("kappa must be a 1-D sequence of finite numbers")
    n = k.size
    M = np.zeros(n + 1)
    M[0] = 1.0
    for order in range(1, n + 1):
        powers = _series_power_coeffs(M[:order], order)  # uses m_0..m_{order-1} only
        M[order] = sum(k[s - 1] * powers[s][order - s] for s in range(1, order + 1))
    return M[1:]


def free_cumulants_from_moments(moments: Sequence[float]) -> np.ndarray:
    """Free cumulants ``κ_1..κ_n`` from moments ``m_1..m_n`` (inverse of
    :func:`moments_from_free_cumulants`): ``κ_n = m_n − Σ_{s<n} κ_s [z^{n−s}] M(z)^s``."""
    m = np.asarray(bk.to_numpy(moments), dtype=np.float64)
    if m.ndim != 1 or not np.all(np.isfinite(m)):
        raise ValueError("moments must be a 1-D sequence of finite numbers")
    n = m.size
    M = np.concatenate([[1.0], m])
    kappa = np.zeros(n)
    for order in range(1, n + 1):
        powers = _series_power_coeffs(M[:order], order - 1)
        kappa[order - 1] = M[order] - sum(kappa[s - 1] * powers[s][order - s]
                                          for s in range(1, order))
    return kappa


def mp_moment(k: int, ratio: float, scale: float = 1.0) -> float:
    """``E[λ^k]`` of Marchenko–Pastur: ``scale^k Σ_{j<k} γ^j/(j+1) C(k,j) C(k−1,j)`` (Narayana).

    The formula includes the atom at 0 (which contributes nothing for ``k ≥ 1``).
    """
    k = check_order(k)
    g = check_real("ratio", ratio, 0.0, strict_min=True)
    s = check_real("scale", scale, 0.0, strict_min=True)
    if k == 0:
        return 1.0
    total = sum(g ** j * comb(k, j) * comb(k - 1, j) / (j + 1) for j in range(k))
    return float(total * s ** k)
