r"""Root-mean-square block ratios over seeds: the estimate, its interval, and its slope against C.

A prediction such as :func:`rmt.hidden_prediction.predict_hidden_w_ratio` is a ratio of
expected squared norms, ``R = (E‖H_kl‖²_F / E‖H_kk‖²_F)^{1/2}``. Its estimate from ``T``
independent trials is the ratio of the trial means of the per-block sums,

    R̂ = (ō / d̄)^{1/2},   o_t = Σ_{k≠l}‖H_kl‖²/(n(n−1)),   d_t = Σ_k‖H_kk‖²/n,

not the mean of per-trial ratios (which lies below ``R`` by Jensen's inequality: about 1 % at
``C = 10`` and 2 % at ``C = 1000`` for the hidden net's W-blocks at ``σ = 1``). Its standard
error is the delta method on ``ln R̂ = ½(ln ō − ln d̄)`` with the sample covariance of
``(o_t, d_t)``; the interval uses Student's t with ``T − 1`` degrees of freedom
(:class:`rmt.stats.Estimate`).

The slope against ``C`` is the least-squares slope of ``ln R̂(C_i)`` on ``ln C_i`` — a fixed
linear contrast ``Σ_i c_i ln R̂_i`` — so the same contrast of the prediction is its exact
counterpart whatever the curvature of ``R(C)``; trials at different ``C`` are independent, so
``Var = Σ_i c_i² Var(ln R̂_i)`` with Welch–Satterthwaite degrees of freedom.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import backend as bk
from .stats import Estimate
from .validation import check_choice, check_int, check_real

__all__ = ["rms_ratio", "rms_slope", "loglog_contrast", "w_block_sums"]


def _pairs(off: Any, diag: Any) -> tuple[np.ndarray, np.ndarray]:
    o = np.asarray(bk.to_numpy(off), dtype=np.float64).ravel()
    d = np.asarray(bk.to_numpy(diag), dtype=np.float64).ravel()
    if o.size != d.size or o.size < 2:
        raise ValueError(f"off and diag must hold the same number (>= 2) of trials, got "
                         f"{o.size} and {d.size}")
    if not (np.all(np.isfinite(o)) and np.all(np.isfinite(d)) and np.all(o >= 0)
            and np.all(d > 0)):
        raise ValueError("off must hold finite values >= 0 and diag finite values > 0")
    if o.mean() <= 0:
        raise ValueError("off must not be all zero (the ratio's logarithm is undefined)")
    return o, d


def _log_ratio_var(o: np.ndarray, d: np.ndarray) -> float:
    T = o.size
    c = np.cov(np.stack([o / o.mean(), d / d.mean()]), ddof=1) / T
    return 0.25 * float(c[0, 0] + c[1, 1] - 2.0 * c[0, 1])


def rms_ratio(off: Any, diag: Any) -> Estimate:
    """``R̂ = (mean off / mean diag)^{1/2}`` with its delta-method standard error.

    Parameters
    ----------
    off, diag : array_like, shape (T,), T >= 2
        Per-trial mean squared Frobenius norms of the off-diagonal and diagonal blocks.

    Returns
    -------
    Estimate
        ``dof = T − 1``; ``extra`` holds ``log_stderr`` (the SE of ``ln R̂``).

    Examples
    --------
    >>> e = rms_ratio([1.0, 1.2, 0.8, 1.0], [4.0, 4.0, 4.0, 4.0])
    >>> round(e.value, 6), e.dof
    (0.5, 3)
    """
    o, d = _pairs(off, diag)
    R = math.sqrt(o.mean() / d.mean())
    se_log = math.sqrt(max(_log_ratio_var(o, d), 0.0))
    return Estimate(R, R * se_log, o.size, o.size - 1, {"log_stderr": se_log})


def loglog_contrast(x: Sequence[float]) -> np.ndarray:
    """Coefficients ``c_i`` of the least-squares slope ``Σ c_i ln y_i`` of ``ln y`` on ``ln x``."""
    lx = np.log(np.asarray(x, dtype=np.float64))
    if lx.size < 2 or np.ptp(lx) == 0 or not np.all(np.isfinite(lx)):
        raise ValueError("x must hold at least two distinct positive values")
    c = lx - lx.mean()
    return c / float(np.sum(c * c))


def rms_slope(x: Sequence[float], offs: Sequence[Any], diags: Sequence[Any]) -> Estimate:
    """Least-squares slope of ``ln R̂`` against ``ln x`` over independent sets of trials.

    Parameters
    ----------
    x : sequence of float > 0, length n >= 2 (e.g. the class counts C)
    offs, diags : sequences of n arrays of per-trial sums (as :func:`rms_ratio`)

    Returns
    -------
    Estimate
        The slope; ``stderr`` from ``Σ c_i² Var(ln R̂_i)``; ``dof`` Welch–Satterthwaite;
        ``extra["ratios"]`` the per-``x`` estimates.
    """
    if len(offs) != len(x) or len(diags) != len(x):
        raise ValueError(f"offs and diags must hold one set of trials per x ({len(x)}), got "
                         f"{len(offs)} and {len(diags)}")
    c = loglog_contrast(x)
    est = [rms_ratio(o, d) for o, d in zip(offs, diags)]
    lr = np.array([math.log(e.value) for e in est])
    v = np.array([e.extra["log_stderr"] ** 2 for e in est])
    var = float(np.sum(c * c * v))
    dof = (var ** 2 / float(np.sum((c * c * v) ** 2 / np.array([e.dof for e in est]))))
    return Estimate(float(c @ lr), math.sqrt(var), int(sum(e.n_trials for e in est)), dof,
                    {"ratios": [e.value for e in est],
                     "ratio_stderr": [e.stderr for e in est]})


def w_block_sums(n_classes: int, sigma: float, hidden: int, dim: int, n_samples: int,
                 loss: str = "ce", n_trials: int = 40, seed: Any = 0,
                 backend: str = "numpy") -> tuple[np.ndarray, np.ndarray]:
    """Per-trial ``(o_t, d_t)`` of the W-blocks of ``z = V relu(W x)`` at initialisation.

    Trial ``t`` draws ``X ~ N(0, I)`` (``n_samples × dim``) and the model
    (:meth:`rmt.models.OneHiddenLayer.init`) from child ``t`` of ``SeedSequence(seed)``; the
    sums are exact over all block pairs (:func:`rmt.hessian.block_norms`, ``blocks="W"``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``o_t = Σ_{k≠l}‖H_kl‖²_F/(m(m−1))`` and ``d_t = Σ_k‖H_kk‖²_F/m``, shape ``(n_trials,)``.
    """
    from .hessian import block_norms  # noqa: PLC0415
    from .models import OneHiddenLayer  # noqa: PLC0415

    C = check_int("n_classes", n_classes, 2)
    s = check_real("sigma", sigma, 0.0)
    m = check_int("hidden", hidden, 2)
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    loss = check_choice("loss", loss, ("ce", "mse"))
    T = check_int("n_trials", n_trials, 2)
    xp = bk.xp_for(backend)
    off, dia = np.empty(T), np.empty(T)
    for t, ss in enumerate(bk.spawn_seeds(seed, T)):
        sx, sm = ss.spawn(2)
        X = bk.standard_normal((N, d), sx, xp)
        model = OneHiddenLayer.init(C, d, m, s, "relu", seed=sm, backend=backend)
        r = block_norms(model, X, loss=loss, blocks="W")
        off[t] = r.off_diagonal / (m * (m - 1))
        dia[t] = r.diagonal / m
    return off, dia
