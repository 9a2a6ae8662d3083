"""Weight laws ν of the weighted Marchenko–Pastur law: finite discrete laws (given, sampled and
compressed, or lognormal by Gauss–Hermite), and the laws of the Hessian-block weights of the
linear CE model at initialisation with their Monte Carlo moments."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .. import backend as bk
from ..validation import check_choice, check_int, check_real
from ._base import check_order

__all__ = ["DiscreteWeights", "as_weight_law", "lognormal_weights", "diagonal_block_weights",
           "offdiagonal_block_weights", "WeightMoments", "block_weight_moments"]


@dataclass(frozen=True, eq=False)
class DiscreteWeights:
    """A finite discrete weight law ``ν = Σ_k probs[k] δ_{values[k]}``.

    Parameters
    ----------
    values : array_like, 1-D
        Atom locations (finite reals; negative and zero values allowed).
    probs : array_like, 1-D
        Probabilities (finite, ``≥ 0``, summing to 1 within ``1e-9``; renormalised exactly).
    info : dict, optional
        Provenance (sample size, sample moments with standard errors, ...); not compared.

    Atoms are sorted, duplicate values merged and zero-probability atoms dropped.
    """

    values: np.ndarray
    probs: np.ndarray
    info: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # NumPy or CuPy arrays (a law is a few host numbers: device atoms are copied once)
        v = np.atleast_1d(np.asarray(bk.to_numpy(self.values), dtype=np.float64))
        p = np.atleast_1d(np.asarray(bk.to_numpy(self.probs), dtype=np.float64))
        if v.ndim != 1 or p.ndim != 1:
            raise ValueError("weights values and probs must be 1-D")
        if v.size == 0:
            raise ValueError("weights must be non-empty (values has no atoms)")
        if v.shape != p.shape:
            raise ValueError(f"weights values and probs must have the same length, got "
                             f"{v.size} and {p.size}")
        if not np.all(np.isfinite(v)):
            raise ValueError("weights values must be finite (found NaN or infinity)")
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError("weights probs must be finite and >= 0")
        tot = float(p.sum())
        if abs(tot - 1.0) > 1e-9:
            raise ValueError(f"weights probs must sum to 1, got {tot!r}")
        keep = p > 0
        v, p = v[keep], p[keep] / tot
        uv, inv = np.unique(v, return_inverse=True)
        up = np.bincount(inv, weights=p, minlength=uv.size)
        object.__setattr__(self, "values", uv)
        object.__setattr__(self, "probs", up)
        object.__setattr__(self, "info", dict(self.info))

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.values.size)

    def moment(self, k: int) -> float:
        """``E[w^k]``."""
        k = check_order(k)
        return float(np.sum(self.probs * self.values ** k))

    def mean(self) -> float:
        """``E w``."""
        return self.moment(1)

    def var(self) -> float:
        """``Var w``."""
        mu = self.mean()
        return float(np.sum(self.probs * (self.values - mu) ** 2))

    def scaled(self, factor: float) -> "DiscreteWeights":
        """The law of ``factor · w`` (``factor`` any non-zero real; negative flips the sign)."""
        f = check_real("factor", factor)
        if f == 0:
            raise ValueError("factor must be a non-zero real number, got 0")
        return DiscreteWeights(self.values * f, self.probs.copy(),
                               {**self.info, "scaled_by": self.info.get("scaled_by", 1.0) * f})

    @classmethod
    def point_mass(cls, value: float) -> "DiscreteWeights":
        """``δ_value``."""
        return cls(np.array([check_real("value", value)]), np.array([1.0]))

    @classmethod
    def from_samples(cls, samples: Any, n_atoms: int = 64) -> "DiscreteWeights":
        """Empirical law of ``samples``, compressed to at most ``n_atoms`` atoms.

        If the samples take at most ``n_atoms`` distinct values the empirical law is kept
        exactly. Otherwise they are split into ``n_atoms // 2`` quantile bins with
        Chebyshev-spaced edges ``u_j = sin²(πj / (2 n_bins))`` (finer in both tails), and each
        bin is replaced by two atoms inside the bin's range carrying the bin's mass, mean and
        variance. Hence ``E w`` and ``E w²`` of the empirical law are preserved exactly (to
        rounding), atoms never leave the sample range (no sign is created), and higher moments
        are approximated.

        How many atoms. The spectral law ``WeightedMP(γ, ν_n)`` of the compressed law differs
        from that of the full sample mostly at the top of the spectrum: the last bins hold the
        largest weights, which set the upper edge, so a few atoms there move it (64 atoms of
        20,000 lognormal samples put the edge at 6.83 instead of 7.74) and can split off small
        support intervals. Measured at γ = 1/2 (Kolmogorov distance to the law of a ≥ 2,000-atom
        compression of the same 20,000 samples; tests/test_laws_checks.py checks the bound):

        ========  ==========================  ==================================
        n_atoms   lognormal, log-sd 0.8       C·p(1 − p), C = 1000, σ = 1
        ========  ==========================  ==================================
        16        6.1e-3                      9.5e-3
        64        9.6e-4                      1.0e-3
        256       9.6e-5                      2.2e-4
        1024      1.2e-5                      —
        ========  ==========================  ==================================

        so the distance stays below ``0.16 / n_atoms`` for these laws: an accuracy ``tol`` needs
        about ``0.16 / tol`` atoms (64 give ~1e-3, far below the ``2 ln d / d`` rigidity bound
        of a d ≤ 10⁴ spectrum). For another law, compare the result with ``2 n_atoms``: the
        change estimates the error. The cost of the law grows about linearly with the atoms.
        """
        x = np.asarray(bk.to_numpy(samples), dtype=np.float64).ravel()
        n_atoms = check_int("n_atoms", n_atoms, 2)
        if x.size == 0:
            raise ValueError("weights samples must be non-empty")
        if not np.all(np.isfinite(x)):
            raise ValueError("weights samples must be finite (found NaN or infinity)")
        n = x.size
        m1, m2 = float(x.mean()), float(np.mean(x * x))
        info = {"source": "samples", "n_samples": n, "sample_mean": m1,
                "sample_second_moment": m2}
        uv, counts = np.unique(x, return_counts=True)
        if uv.size <= n_atoms:
            return cls(uv, counts / n, {**info, "compressed": False})
        xs = np.sort(x)
        n_bins = n_atoms // 2
        u = np.sin(0.5 * np.pi * np.arange(n_bins + 1) / n_bins) ** 2
        edges = np.unique(np.clip(np.round(u * n).astype(np.int64), 0, n))
        starts, stops = edges[:-1], edges[1:]
        cnt = (stops - starts).astype(np.float64)
        mu = np.add.reduceat(xs, starts) / cnt
        dev = xs - np.repeat(mu, stops - starts)
        var = np.maximum(np.add.reduceat(dev * dev, starts) / cnt, 0.0)
        s = np.sqrt(var)
        lo, hi = xs[starts], xs[stops - 1]
        # two atoms μ − s t, μ + s/t with masses 1/(1+t²), t²/(1+t²): mean μ, variance s².
        # t = 1 unless that leaves [lo, hi]; Bhatia–Davis (s² ≤ (μ−lo)(hi−μ)) makes the
        # admissible range [s/(hi−μ), (μ−lo)/s] non-empty.
        with np.errstate(divide="ignore", invalid="ignore"):
            t_min = np.where(s > 0, s / np.maximum(hi - mu, 1e-300), 1.0)
            t_max = np.where(s > 0, (mu - lo) / np.maximum(s, 1e-300), 1.0)
        t = np.clip(1.0, t_min, np.maximum(t_min, t_max))
        pa = 1.0 / (1.0 + t * t)
        a = np.clip(mu - s * t, lo, hi)
        b = np.clip(mu + s / t, lo, hi)
        vals = np.concatenate([a, b])
        probs = np.concatenate([cnt * pa, cnt * (1 - pa)]) / n
        return cls(vals, probs, {**info, "compressed": True, "n_bins": int(starts.size)})

    @classmethod
    def from_sampler(cls, sampler: Callable, n_samples: int = 2 ** 20, seed: Any = None,
                     n_atoms: int = 64) -> "DiscreteWeights":
        """Law of ``sampler(n_samples, rng)`` (a NumPy Generator seeded from ``seed``),
        compressed as in :meth:`from_samples`."""
        n_samples = check_int("n_samples", n_samples, 1)
        rng = bk.default_rng(seed, np)
        draws = np.asarray(bk.to_numpy(sampler(n_samples, rng)), dtype=np.float64)
        if draws.shape != (n_samples,):
            raise ValueError(f"weights sampler must return shape ({n_samples},), got "
                             f"{draws.shape}")
        out = cls.from_samples(draws, n_atoms)
        out.info["source"] = "sampler"
        return out


def as_weight_law(weights: Any, *, n_atoms: int = 64, n_samples: int = 2 ** 20,
                  seed: Any = None) -> DiscreteWeights:
    """Turn any accepted description of a weight law ν into :class:`DiscreteWeights`.

    Accepted: a :class:`DiscreteWeights`; a tuple ``(values, probs)`` of equal-length 1-D
    array-likes; a real number (a point mass); a 1-D array or list of *samples* of ``w``
    (empirical law, compressed to ``n_atoms`` atoms when it has more distinct values, see
    :meth:`DiscreteWeights.from_samples`); or a callable sampler ``f(size, rng)`` (drawn
    ``n_samples`` times with a Generator seeded from ``seed``, then compressed).
    """
    if isinstance(weights, DiscreteWeights):
        return weights
    if callable(weights):
        return DiscreteWeights.from_sampler(weights, n_samples, seed, n_atoms)
    if isinstance(weights, tuple):
        if len(weights) != 2:
            raise ValueError("weights given as a tuple must be (values, probs)")
        return DiscreteWeights(weights[0], weights[1])
    if np.ndim(weights) == 0:
        try:
            return DiscreteWeights.point_mass(float(weights))
        except (TypeError, ValueError):
            raise ValueError(f"weights must be a weight law, samples, (values, probs), a number "
                             f"or a sampler, got {weights!r}") from None
    arr = bk.to_numpy(weights)
    if np.ndim(arr) != 1:
        raise ValueError(f"weights samples must be a 1-D array, got shape {np.shape(arr)}")
    return DiscreteWeights.from_samples(arr, n_atoms)


def lognormal_weights(mu: float, s2: float, n_atoms: int = 64, *, sign: int = 1,
                      min_prob: float = 1e-16) -> DiscreteWeights:
    """The law of ``sign · e^Y``, ``Y ~ N(mu, s2)``, discretised by Gauss–Hermite quadrature.

    Atoms ``sign·exp(mu + √(2 s2) t_k)`` with probabilities ``ω_k/√π`` (``t_k, ω_k`` the
    ``n_atoms``-point Gauss–Hermite rule); atoms of probability below ``min_prob`` are dropped
    and the rest renormalised (their share of ``E w^j`` is negligible for the low orders that
    matter here, and they would only add invisible far-away bumps to the spectrum).

    Large-C limits (DESIGN §1): the diagonal block ``C·p_i(1−p_i) → e^{z − σ²/2}`` is
    ``lognormal_weights(−σ²/2, σ²)``; the off-diagonal block weight ``−C²·p_i p_j →
    −e^{z_i + z_j − σ²}`` is ``lognormal_weights(−σ², 2σ², sign=−1)``.
    """
    mu = check_real("mu", mu)
    s2 = check_real("s2", s2, 0.0)
    n_atoms = check_int("n_atoms", n_atoms, 1)
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    min_prob = check_real("min_prob", min_prob, 0.0, 0.01)
    if s2 == 0.0:
        return DiscreteWeights(np.array([sign * math.exp(mu)]), np.array([1.0]),
                               {"source": "lognormal", "mu": mu, "s2": s2})
    t, wq = np.polynomial.hermite.hermgauss(n_atoms)
    p = wq / math.sqrt(math.pi)
    keep = p >= min_prob
    vals = sign * np.exp(mu + math.sqrt(2.0 * s2) * t[keep])
    p = p[keep] / p[keep].sum()
    return DiscreteWeights(vals, p, {"source": "lognormal", "mu": mu, "s2": s2})


_BLOCKS = ("diagonal", "offdiagonal")


def _scale_factor(scale: Any, C: float, block: str) -> float:
    if isinstance(scale, str):
        s = check_choice("scale", scale, ("auto", "none", "c", "c2"))
        if s == "auto":
            s = "c" if block == "diagonal" else "c2"
        return {"none": 1.0, "c": C, "c2": C * C}[s]
    return check_real("scale", scale, 0.0, strict_min=True)


def _check_classes(n_classes: Any) -> float:
    if isinstance(n_classes, (float, np.floating)) and math.isinf(n_classes) and n_classes > 0:
        return math.inf
    return float(check_int("n_classes", n_classes, 2))


def _block_draws(C: int, sigma: float, block: str, n_vectors: int, seed: Any,
                 chunk_elems: int = 2 ** 22):
    """Yield ``(A, L)`` chunks: weights ``A`` (rows × C; rows = logit vectors) and the lognormal
    surrogates ``L`` (``e^{z_i − σ²/2}`` or ``e^{z_i + z_j − σ²}``), from iid ``N(0, σ² I_C)``
    logits. Off-diagonal pairs are ``(i, i+1 mod C)``: by exchangeability each has the law of
    ``p_1 p_2``."""
    from ..models import softmax  # noqa: PLC0415

    rng = bk.default_rng(seed, np)
    rows = max(1, chunk_elems // C)
    done = 0
    while done < n_vectors:
        r = min(rows, n_vectors - done)
        Z = rng.standard_normal((r, C)) * sigma
        P = softmax(Z, axis=1)
        if block == "diagonal":
            A = P * (1.0 - P)
            L = np.exp(Z - 0.5 * sigma * sigma)
        else:
            A = -P * np.roll(P, -1, axis=1)
            L = -np.exp(Z + np.roll(Z, -1, axis=1) - sigma * sigma)
        yield A, L
        done += r


def _block_law(n_classes: Any, sigma: float, block: str, scale: Any, n_samples: int, seed: Any,
               n_atoms: int) -> DiscreteWeights:
    C = _check_classes(n_classes)
    sigma = check_real("sigma", sigma, 0.0)
    n_samples = check_int("n_samples", n_samples, 2)
    n_atoms = check_int("n_atoms", n_atoms, 2)
    if math.isinf(C):
        if isinstance(scale, str) and scale.lower() in ("auto", "c", "c2"):
            want = "c" if block == "diagonal" else "c2"
            if scale.lower() not in ("auto", want):
                raise ValueError(f"scale must be 'auto' or '{want.upper()}' for the large-C "
                                 f"limit of the {block} block, got {scale!r}")
        else:
            raise ValueError("scale must be 'auto' (C for the diagonal block, C2 for the "
                             f"off-diagonal block) when n_classes is infinite, got {scale!r}")
        if block == "diagonal":
            law = lognormal_weights(-0.5 * sigma ** 2, sigma ** 2, n_atoms)
        else:
            law = lognormal_weights(-sigma ** 2, 2 * sigma ** 2, n_atoms, sign=-1)
        law.info.update({"block": block, "n_classes": math.inf, "sigma": sigma})
        return law
    Ci = int(C)
    fac = _scale_factor(scale, C, block)
    n_vectors = -(-n_samples // Ci)
    parts = [A.ravel() * fac for A, _ in _block_draws(Ci, sigma, block, n_vectors, seed)]
    law = DiscreteWeights.from_samples(np.concatenate(parts), n_atoms)
    law.info.update({"block": block, "n_classes": Ci, "sigma": sigma, "scale": fac,
                     "n_vectors": n_vectors})
    return law


def diagonal_block_weights(n_classes: Any, sigma: float = 1.0, *, scale: Any = "auto",
                           n_samples: int = 2 ** 20, seed: Any = 0,
                           n_atoms: int = 64) -> DiscreteWeights:
    """Weight law of a diagonal Hessian block ``H_ii`` of the linear CE model at init:
    ``a = p_i (1 − p_i)``, ``p = softmax(z)``, ``z ~ N(0, σ² I_C)``, times ``scale``.

    Parameters
    ----------
    n_classes : int ≥ 2, or ``math.inf``
        ``C``. ``math.inf`` gives the large-C limit ``C·a → e^{z − σ²/2}``, ``z ~ N(0, σ²)``
        (Gauss–Hermite, :func:`lognormal_weights`; needs ``scale='auto'`` or ``'C'``).
    sigma : float ≥ 0
        Logit standard deviation (``V_ij ~ N(0, σ²/d)``, ``x ~ N(0, I)``).
    scale : {"auto", "none", "C", "C2"} or float > 0
        Multiply ``a`` by 1, ``C`` or ``C²`` (``"auto"``: ``C``), or by a given number.
    n_samples : int
        Number of weight draws: ``⌈n_samples / C⌉`` logit vectors, each giving all ``C``
        exchangeable coordinates (only logits are drawn — no data matrix).
    seed : optional
        Seed of the logit draws (default 0: the law is reproducible).
    n_atoms : int
        Compression of the sample (:meth:`DiscreteWeights.from_samples`; keeps ``E a``, ``E a²``
        of the sample exactly).

    Returns
    -------
    DiscreteWeights
        Usable as ``WeightedMP(γ, law)``; ``info`` records ``C, σ``, the scale and the sample's
        first two moments.
    """
    return _block_law(n_classes, sigma, "diagonal", scale, n_samples, seed, n_atoms)


def offdiagonal_block_weights(n_classes: Any, sigma: float = 1.0, *, scale: Any = "auto",
                              n_samples: int = 2 ** 20, seed: Any = 0,
                              n_atoms: int = 64) -> DiscreteWeights:
    """Weight law of an off-diagonal block ``H_ij`` (``i ≠ j``): ``a = −p_i p_j`` (negative),
    times ``scale`` (``"auto"``: ``C²``). ``math.inf`` classes give the limit
    ``C²·a → −e^{z_i + z_j − σ²}`` (log-variance ``2σ²``). Use ``.scaled(-1)`` for ``−H_ij``.
    Other parameters as in :func:`diagonal_block_weights`."""
    return _block_law(n_classes, sigma, "offdiagonal", scale, n_samples, seed, n_atoms)


@dataclass(frozen=True)
class WeightMoments:
    """Moments ``E[a^k]`` of a block weight law with Monte Carlo standard errors.

    Attributes
    ----------
    orders : tuple of int
    values : numpy.ndarray
        Estimates of ``E[a^k]`` (``a`` scaled as requested, with its sign).
    stderr : numpy.ndarray
        Standard errors (batch means over logit vectors; 0 for the exact large-C limit).
    limit : numpy.ndarray
        The large-C limits of the same (scaled) moments, for reference.
    n_vectors : int
        Number of logit vectors drawn.
    """

    orders: tuple
    values: np.ndarray
    stderr: np.ndarray
    limit: np.ndarray
    n_vectors: int


def block_weight_moments(n_classes: Any, sigma: float = 1.0, *, block: str = "diagonal",
                         scale: Any = "auto", orders: Sequence[int] = (1, 2),
                         n_samples: int = 2 ** 22, seed: Any = 0,
                         control_variate: bool = True) -> WeightMoments:
    """``E[a^k]`` at finite ``C`` for the diagonal (``a = p_i(1−p_i)``) or off-diagonal
    (``a = −p_i p_j``) block weight, scaled as in :func:`diagonal_block_weights`.

    Monte Carlo over ``⌈n_samples/C⌉`` iid logit vectors ``z ~ N(0, σ² I_C)``, using all ``C``
    exchangeable coordinates (pairs ``(i, i+1 mod C)`` off the diagonal) of each vector. The
    standard error comes from batch means over vectors (so the dependence between coordinates of
    one vector is accounted for). With ``control_variate=True`` the lognormal surrogate
    ``X = (s·e^{z_i − σ²/2}/C)^k`` (diagonal) or ``(−s·e^{z_i+z_j−σ²}/C²)^k`` (off-diagonal), whose
    mean is known exactly, is subtracted with the regression coefficient estimated from the same
    batches: at large ``C`` the two are almost equal, so the error shrinks by orders of magnitude.
    ``n_classes = math.inf`` returns the exact limits ``e^{k(k−1)σ²/2}`` / ``(−1)^k e^{k(k−1)σ²}``
    (times the scale convention) with zero error.
    """
    block = check_choice("block", block, _BLOCKS)
    C = _check_classes(n_classes)
    sigma = check_real("sigma", sigma, 0.0)
    n_samples = check_int("n_samples", n_samples, 4)
    ks = tuple(check_int("orders", k, 1) for k in orders)
    if not ks:
        raise ValueError("orders must be a non-empty sequence of integers >= 1")
    sgn = 1.0 if block == "diagonal" else -1.0
    lvar = sigma ** 2 if block == "diagonal" else 2 * sigma ** 2
    if math.isinf(C):
        _block_law(C, sigma, block, scale, 2, 0, 2)  # validates scale for the limit
        lim = np.array([sgn ** k * math.exp(k * (k - 1) * lvar / 2) for k in ks])
        return WeightMoments(ks, lim, np.zeros(len(ks)), lim, 0)
    Ci = int(C)
    fac = _scale_factor(scale, C, block)
    unit = fac / (Ci if block == "diagonal" else Ci * Ci)  # scale relative to the limit's
    lim = np.array([(sgn * unit) ** k * math.exp(k * (k - 1) * lvar / 2) for k in ks])
    n_vectors = max(2, -(-n_samples // Ci))
    Yb, Xb = [], []
    for A, L in _block_draws(Ci, sigma, block, n_vectors, seed):
        Yb.append(np.stack([np.mean((fac * A) ** k, axis=1) for k in ks], axis=1))
        Xb.append(np.stack([np.mean((unit * np.abs(L)) ** k, axis=1) * sgn ** k for k in ks],
                           axis=1))
    Y = np.concatenate(Yb)
    X = np.concatenate(Xb)
    B = Y.shape[0]
    est, se = np.empty(len(ks)), np.empty(len(ks))
    for j in range(len(ks)):
        y, x = Y[:, j], X[:, j]
        beta = 0.0
        if control_variate and B > 2:
            vx = float(np.var(x, ddof=1))
            if vx > 0:
                beta = float(np.cov(y, x, ddof=1)[0, 1] / vx)
        resid = y - beta * x
        est[j] = float(resid.mean() + beta * lim[j])
        se[j] = float(resid.std(ddof=1) / math.sqrt(B))
    return WeightMoments(ks, est, se, lim, B)
