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

Randomness: one ``seed`` (int, SeedSequence or Generator); four independent streams are spawned
from a copy of it (teacher or means, inputs, labels, spare), so the caller's SeedSequence is never
advanced and ``X`` does not change when only the labelling parameters change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backend as bk
from .validation import check_choice, check_int, check_real

__all__ = ["KINDS", "make_classification"]

#: Generators of :func:`make_classification`.
KINDS = ("teacher", "mixture")


def _streams(seed: Any) -> list[np.random.SeedSequence]:
    # spawn_seeds rebuilds the SeedSequence from its entropy: the caller's object is not advanced.
    return bk.spawn_seeds(seed, 4)


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
        r1, r2 = (np.random.default_rng(s) for s in s_model.spawn(2))
        if teacher_hidden is None:
            T = r1.standard_normal((C, d)) / np.sqrt(d)
            logits = X @ T.T
        else:
            T1 = r1.standard_normal((teacher_hidden, d)) / np.sqrt(d)
            T2 = r2.standard_normal((C, teacher_hidden)) * np.sqrt(2.0 / teacher_hidden)
            logits = np.maximum(X @ T1.T, 0.0) @ T2.T
        if tau == 0.0:
            y = np.argmax(logits, axis=1)
        else:
            z = logits / tau
            z -= z.max(axis=1, keepdims=True)
            P = np.exp(z)
            P /= P.sum(axis=1, keepdims=True)
            # Inverse-cdf sampling: one uniform per sample, vectorised over the N rows.
            u = np.random.default_rng(s_y).random((N, 1))
            y = np.minimum((np.cumsum(P, axis=1) < u).sum(axis=1), C - 1)
    else:
        M = np.random.default_rng(s_model).standard_normal((C, d)) * (snr / np.sqrt(d))
        y = np.random.default_rng(s_y).integers(0, C, size=N)
        X = M[y] + np.random.default_rng(s_x).standard_normal((N, d))
    return bk.asarray(X, xp, dt), bk.asarray(y.astype(np.int64), xp)
