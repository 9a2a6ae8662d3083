r"""Labelled synthetic classification data with ``C`` classes, learnable by the suite's models.

Two documented generators (both return ``X`` of shape ``(N, d)``, one sample per row, and
integer labels ``y`` in ``[0, C)``, the conventions of :mod:`rmt.models`):

``kind="teacher"`` (the default)
    Inputs ``x_n ~ N(0, I_d)`` iid — the paper's data law, so the Hessian results of
    :mod:`rmt.hessian` apply unchanged — and labels from a random *teacher* network:

    * linear teacher (``teacher_hidden=None``): logits ``t = T x`` with ``T_cj ~ N(0, 1/d)``
      (each logit has variance ``‖x‖²/d ≈ 1``);
    * one-hidden-layer teacher (``teacher_hidden=k``): ``t = T₂ relu(T₁ x)`` with
      ``(T₁)_lj ~ N(0, 1/d)`` and ``(T₂)_cl ~ N(0, 2/k)`` (He scaling, so the logits again have
      variance ≈ 1).

    The label is ``y = argmax_c t_c`` when ``temperature = 0`` (deterministic; for the linear
    teacher the data are linearly separable, so the cross-entropy of a linear student can be
    driven to 0), else a draw from ``softmax(t / temperature)`` (label noise grows with the
    temperature; the Bayes loss is then positive).

``kind="mixture"``
    A Gaussian mixture: class means ``μ_c = snr · u_c`` with ``u_c ~ N(0, I_d/d)`` (so
    ``‖μ_c‖ ≈ snr``), labels uniform on ``[0, C)``, and ``x_n = μ_{y_n} + ε_n`` with
    ``ε_n ~ N(0, I_d)``. The classes separate better as ``snr`` grows.

:func:`make_soft_targets` returns the same ``X`` as ``kind="teacher"`` (same seed) with the teacher's
probabilities ``Q = softmax(t/τ)`` instead of sampled labels: cross-entropy against ``Q``
(:func:`rmt.optim.loss_and_grad` accepts such rows) has the same Hessian as with hard labels (the
Hessian does not see the targets) and, for the linear teacher and a linear student, an attained
minimum ``V* = T/τ`` with loss ``ℓ* = −(1/N) Σ_n Σ_c q_nc log q_nc`` (the mean teacher entropy), so
the loss gap ``ℓ − ℓ*`` is known exactly at any ``C`` — even ``C ≫ N``, where hard labels are
separable and the loss has no minimum.

Randomness: one ``seed`` (int, SeedSequence or Generator); four independent streams are spawned
from a copy of it (teacher or means, inputs, labels, spare), so the caller's SeedSequence is never
advanced and ``X`` does not change when only the labelling parameters change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backend as bk
from .validation import check_choice, check_int, check_real

__all__ = ["KINDS", "make_classification", "make_soft_targets"]

#: Generators of :func:`make_classification`.
KINDS = ("teacher", "mixture")


def _streams(seed: Any) -> list[np.random.SeedSequence]:
    # spawn_seeds rebuilds the SeedSequence from its entropy: the caller's object is not advanced.
    return bk.spawn_seeds(seed, 4)


def _teacher_logits(X: np.ndarray, C: int, teacher_hidden: int | None,
                    s_model: np.random.SeedSequence) -> np.ndarray:
    N, d = X.shape
    r1, r2 = (np.random.default_rng(s) for s in s_model.spawn(2))
    if teacher_hidden is None:
        return X @ (r1.standard_normal((C, d)) / np.sqrt(d)).T
    T1 = r1.standard_normal((teacher_hidden, d)) / np.sqrt(d)
    T2 = r2.standard_normal((C, teacher_hidden)) * np.sqrt(2.0 / teacher_hidden)
    return np.maximum(X @ T1.T, 0.0) @ T2.T


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    P = np.exp(z)
    return P / P.sum(axis=1, keepdims=True)


def make_classification(n_samples: int, dim: int, n_classes: int, *, kind: str = "teacher",
                        temperature: float = 0.0, teacher_hidden: int | None = None,
                        snr: float = 3.0, seed: Any = None, backend: str | None = None,
                        dtype: Any = None) -> tuple[Any, Any]:
    """Draw a labelled synthetic classification data set.

    Parameters
    ----------
    n_samples : int, >= 1
        ``N``.
    dim : int, >= 1
        ``d``.
    n_classes : int, >= 2
        ``C``. Classes may be absent from a small sample (``N`` below a few times ``C``).
    kind : {"teacher", "mixture"}
        Generator (see the module docstring).
    temperature : float, >= 0
        ``"teacher"`` only: 0 takes the teacher's argmax; ``τ > 0`` samples ``y`` from
        ``softmax(t/τ)``.
    teacher_hidden : int >= 1, optional
        ``"teacher"`` only: hidden width ``k`` of a one-hidden-layer ReLU teacher (default: a
        linear teacher).
    snr : float, > 0
        ``"mixture"`` only: the norm scale of the class means (``‖μ_c‖ ≈ snr``, noise ``N(0, I)``).
    seed : int, SeedSequence or Generator, optional
    backend : {"numpy", "cupy"}, optional
        Where the arrays live (the draws are made on the host, so both backends give the same
        numbers for the same seed).
    dtype : float32 or float64 (default)
        Type of ``X``; ``y`` is int64.

    Returns
    -------
    X : array, shape (N, d)
    y : array of int64, shape (N,)

    Raises
    ------
    ValueError
        A size out of range, an unknown ``kind``, a negative ``temperature``, a non-positive
        ``snr``, or ``temperature``/``teacher_hidden`` given with ``kind="mixture"`` (``snr`` is
        ignored by ``kind="teacher"``).

    Examples
    --------
    >>> X, y = make_classification(8, 3, 4, seed=0)
    >>> X.shape, y.shape, int(y.min()) >= 0 and int(y.max()) < 4
    ((8, 3), (8,), True)
    """
    N = check_int("n_samples", n_samples, 1)
    d = check_int("dim", dim, 1)
    C = check_int("n_classes", n_classes, 2)
    kind = check_choice("kind", kind, KINDS)
    tau = check_real("temperature", temperature, 0.0)
    snr = check_real("snr", snr, 0.0, strict_min=True)
    if teacher_hidden is not None:
        teacher_hidden = check_int("teacher_hidden", teacher_hidden, 1)
    if kind == "mixture" and (tau != 0.0 or teacher_hidden is not None):
        raise ValueError("temperature and teacher_hidden apply to kind='teacher' only; "
                         "kind='mixture' is set by snr")
    xp = bk.xp_for(backend)
    dt = bk.resolve_dtype(dtype)
    s_model, s_x, s_y, _ = _streams(seed)
    if kind == "teacher":
        X = np.random.default_rng(s_x).standard_normal((N, d))
        logits = _teacher_logits(X, C, teacher_hidden, s_model)
        if tau == 0.0:
            y = np.argmax(logits, axis=1)
        else:
            P = _softmax_rows(logits / tau)
            # Inverse-cdf sampling: one uniform per sample, vectorised over the N rows.
            u = np.random.default_rng(s_y).random((N, 1))
            y = np.minimum((np.cumsum(P, axis=1) < u).sum(axis=1), C - 1)
    else:
        M = np.random.default_rng(s_model).standard_normal((C, d)) * (snr / np.sqrt(d))
        y = np.random.default_rng(s_y).integers(0, C, size=N)
        X = M[y] + np.random.default_rng(s_x).standard_normal((N, d))
    return bk.asarray(X, xp, dt), bk.asarray(y.astype(np.int64), xp)


def make_soft_targets(n_samples: int, dim: int, n_classes: int, *, temperature: float = 1.0,
                      teacher_hidden: int | None = None, seed: Any = None,
                      backend: str | None = None, dtype: Any = None) -> tuple[Any, Any]:
    """Inputs and the teacher's class probabilities (soft targets) of ``kind="teacher"``.

    Parameters
    ----------
    n_samples, dim, n_classes, teacher_hidden, seed, backend, dtype
        As :func:`make_classification`; the same ``seed`` gives the same ``X`` and teacher.
    temperature : float, > 0
        ``Q = softmax(t/τ)``: with the linear teacher (``T_cj ~ N(0, 1/d)``) the optimal linear
        student ``V* = T/τ`` has logits of standard deviation ≈ ``1/τ``.

    Returns
    -------
    X : array, shape (N, d)
    Q : array, shape (N, C)
        Rows on the simplex (``dtype`` as ``X``).

    Examples
    --------
    >>> X, Q = make_soft_targets(5, 3, 4, seed=0)
    >>> Q.shape, bool(abs(Q.sum(axis=1) - 1).max() < 1e-12)
    ((5, 4), True)
    """
    N = check_int("n_samples", n_samples, 1)
    d = check_int("dim", dim, 1)
    C = check_int("n_classes", n_classes, 2)
    tau = check_real("temperature", temperature, 0.0, strict_min=True)
    if teacher_hidden is not None:
        teacher_hidden = check_int("teacher_hidden", teacher_hidden, 1)
    xp = bk.xp_for(backend)
    dt = bk.resolve_dtype(dtype)
    s_model, s_x, _, _ = _streams(seed)
    X = np.random.default_rng(s_x).standard_normal((N, d))
    Q = _softmax_rows(_teacher_logits(X, C, teacher_hidden, s_model) / tau)
    return bk.asarray(X, xp, dt), bk.asarray(Q, xp, dt)
