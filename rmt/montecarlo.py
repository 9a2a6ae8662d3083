"""Monte Carlo engine: many seeded trials, streamed into means, standard errors and intervals.

Seeds
-----
Trial ``t`` ALWAYS uses the ``t``-th child of ``SeedSequence(seed).spawn`` — the same child that
``rmt.backend.spawn_seeds(seed, T)[t]`` returns — whatever ``n_trials``, ``batch_size`` or
chunking. Trials are accumulated one at a time in trial order, so the result for a given seed is
bit-identical for every batch size whenever a trial's own output does not depend on the batch it
ran in (true for the pipelines here on NumPy, where a stacked ``eigvalsh`` runs LAPACK on each
matrix separately; on CuPy a batched ``eigvalsh`` may use another cuSOLVER routine than a single
one, so results agree to rounding rather than bitwise).

Accumulation
------------
Welford's streaming update (``n += 1; δ = x − mean; mean += δ/n; M2 += δ (x − mean)``) in float64
on the host, so memory is O(size of one statistic) whatever ``n_trials`` is. Complex statistics
are accumulated as real and imaginary parts. Histograms are taken on fixed edges: a trial returns
raw values (e.g. its eigenvalues) and the engine keeps only the running mean and variance of the
per-trial densities (fraction per unit length in each bin).

Intervals
---------
Each statistic's summary is an :class:`rmt.stats.Estimate` (re-exported here) with
``stderr = s/√n`` (``s`` the sample standard deviation, ``ddof = 1``; kept in ``extra["std"]``)
and ``dof = n − 1``: ``ci(level)`` is ``mean ± t_{n−1}((1 + level)/2)·stderr`` (exact for normal
trials, and never narrower than the normal interval, to which it tends as ``n`` grows), or the
normal interval with ``method="normal"`` (asymptotic, by the central limit theorem).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import backend as bk
from .covariance import DrawSpec, draw_covariance
from .spectra import (
    EIGVALSH_WORKSPACE_FACTOR,
    eigvalsh_batched,
    moments_from_eigenvalues,
    stieltjes_from_eigenvalues,
)
from .stats import CI_METHODS, Estimate, jsonable
from .validation import check_choice, check_int

__all__ = [
    "CI_METHODS",   # re-exported from rmt.stats
    "Welford",
    "Estimate",     # re-exported from rmt.stats: the one estimate type
    "MonteCarloResult",
    "trial_seed",
    "run_trials",
    "simulate_spectra",
    "default_edges",
]


def trial_seed(seed: Any, t: int) -> np.random.SeedSequence:
    """The seed of trial ``t``: the ``t``-th child of ``SeedSequence(seed).spawn``.

    Equal to ``rmt.backend.spawn_seeds(seed, n)[t]`` for every ``n > t``, built directly so a run
    of many trials never holds all the children at once.
    """
    t = check_int("t", t, 0)
    ss = bk.as_seed_sequence(seed)
    return np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (t,),
                                  pool_size=ss.pool_size)


class Welford:
    """Streaming mean and variance of a scalar, vector or complex statistic (float64, host).

    Examples
    --------
    >>> acc = Welford()
    >>> for x in [1.0, 2.0, 4.0]:
    ...     acc.update(x)
    >>> acc.n, round(float(acc.mean), 12), round(float(acc.variance), 12)
    (3, 2.333333333333, 2.333333333333)
    """

    def __init__(self) -> None:
        self.n = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None
        self._complex = False
        self._shape: tuple[int, ...] = ()

    def update(self, x: Any) -> None:
        """Add one observation (same shape every time)."""
        a = np.asarray(bk.to_numpy(x))
        if self._mean is None:
            self._complex = np.iscomplexobj(a)
            self._shape = a.shape
        elif a.shape != self._shape:
            raise ValueError(f"statistic changed shape between trials: {self._shape} then {a.shape}")
        if np.iscomplexobj(a) and not self._complex:
            raise ValueError("statistic turned complex after real trials")
        v = np.stack([a.real, a.imag], axis=-1) if self._complex else a
        v = v.astype(np.float64)
        if not np.all(np.isfinite(v)):
            raise ValueError("a trial returned a non-finite statistic (NaN or infinity)")
        self.n += 1
        if self._mean is None:
            self._mean = v.copy()
            self._m2 = np.zeros_like(v)
            return
        delta = v - self._mean
        self._mean += delta / self.n
        self._m2 += delta * (v - self._mean)

    def _out(self, a: np.ndarray) -> Any:
        out = a[..., 0] + 1j * a[..., 1] if self._complex else a
        return out[()] if out.ndim == 0 else out

    @property
    def mean(self) -> Any:
        if self._mean is None:
            raise ValueError("no observations yet")
        return self._out(self._mean)

    @property
    def variance(self) -> Any:
        """Sample variance (``ddof = 1``; real and imaginary parts separately); NaN for n < 2."""
        if self._m2 is None:
            raise ValueError("no observations yet")
        v = self._m2 / (self.n - 1) if self.n > 1 else np.full_like(self._m2, np.nan)
        return self._out(v)

    def estimate(self) -> Estimate:
        """Mean, standard error ``s/√n`` and ``n − 1`` degrees of freedom (``extra["std"]``: s)."""
        var = self.variance
        if self._complex:
            std = np.sqrt(var.real) + 1j * np.sqrt(var.imag)
        else:
            std = np.sqrt(var)
        return Estimate(self.mean, std / math.sqrt(self.n), self.n, self.n - 1, {"std": std})


@dataclass(frozen=True, eq=False)
class MonteCarloResult:
    """Estimates of every statistic of a Monte Carlo run.

    Attributes
    ----------
    estimates : dict[str, Estimate]
    n_trials : int
    batch_size : int
        Trials per batch actually used (results do not depend on it).
    edges : dict[str, ndarray]
        Bin edges of the histogram statistics.
    seed_entropy : int
        Entropy of the root ``SeedSequence`` (reproduces the run).
    elapsed_s : float
    meta : dict
        Parameters recorded by the caller.
    """

    estimates: dict[str, Estimate]
    n_trials: int
    batch_size: int
    edges: dict[str, np.ndarray] = field(default_factory=dict)
    seed_entropy: Any = None
    elapsed_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Estimate:
        try:
            return self.estimates[name]
        except KeyError:
            raise KeyError(f"no statistic {name!r}; have {sorted(self.estimates)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.estimates

    def keys(self) -> list[str]:
        return list(self.estimates)

    @property
    def mean(self) -> dict[str, Any]:
        return {k: e.mean for k, e in self.estimates.items()}

    @property
    def stderr(self) -> dict[str, Any]:
        return {k: e.stderr for k, e in self.estimates.items()}

    def ci(self, level: float = 0.95, method: str = "t") -> dict[str, tuple[Any, Any]]:
        return {k: e.ci(level, method) for k, e in self.estimates.items()}

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """A JSON-ready dict (complex values as ``{"real", "imag"}``, NaN as ``None``)."""
        return {"n_trials": self.n_trials, "batch_size": self.batch_size,
                "seed_entropy": None if self.seed_entropy is None else str(self.seed_entropy),
                "elapsed_s": self.elapsed_s, "meta": self.meta,
                "edges": jsonable(self.edges),
                "estimates": {k: e.to_dict(level) for k, e in self.estimates.items()}}


def _as_stats(out: Any) -> Mapping[str, Any]:
    if isinstance(out, Mapping):
        return out
    return {"value": out}


def _histogram(values: Any, edges: np.ndarray) -> tuple[np.ndarray, float]:
    v = np.asarray(bk.to_numpy(values), dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("a histogram statistic must return at least one value per trial")
    counts, _ = np.histogram(v, bins=edges)
    dens = counts / (v.size * np.diff(edges))
    outside = 1.0 - counts.sum() / v.size
    return dens, outside


def _check_edges(name: str, edges: Any) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
        raise ValueError(f"histogram edges for {name!r} must be a finite, strictly increasing "
                         f"1-D array of at least 2 values")
    return e


def run_trials(trial: Callable[..., Any], n_trials: int, seed: Any = None, *,
               batch_size: int = 1, vectorized: bool = False,
               histograms: Mapping[str, Any] | None = None, progress: bool | None = None,
               desc: str = "trials", meta: Mapping[str, Any] | None = None) -> MonteCarloResult:
    """Run ``n_trials`` seeded trials and stream their statistics into estimates.

    Parameters
    ----------
    trial : callable
        ``vectorized=False``: ``trial(seed) -> stats`` for one ``SeedSequence``.
        ``vectorized=True``: ``trial(seeds) -> stats`` for a list of them, each statistic with a
        leading axis of ``len(seeds)`` (or a list of per-trial mappings). ``stats`` is a mapping
        name → scalar or array (a bare value is named ``"value"``).
    n_trials : int, >= 1
    seed : int, SeedSequence or Generator, optional
        Trial ``t`` gets :func:`trial_seed(seed, t) <trial_seed>`.
    batch_size : int, >= 1
        Trials per call of a vectorized ``trial`` (ignored otherwise). Does not change results.
    vectorized : bool
    histograms : mapping name → edges, optional
        Statistics returned as raw values, binned on ``edges`` per trial into a density
        (estimate ``name``) and the fraction of values outside the edges (``name + ".outside"``).
    progress : bool, optional
        Progress bar (tqdm) on stderr: ``None`` shows it only on a terminal, ``False`` never.
    desc : str
        Label of the progress bar.
    meta : mapping, optional
        Recorded in the result.

    Returns
    -------
    MonteCarloResult

    Examples
    --------
    >>> from rmt.backend import default_rng
    >>> res = run_trials(lambda s: {"u": default_rng(s).random()}, 200, seed=0, progress=False)
    >>> res.n_trials, bool(abs(res["u"].mean - 0.5) < 4 * res["u"].stderr)
    (200, True)
    >>> lo, hi = res["u"].ci(0.95)
    """
    from tqdm.auto import tqdm  # noqa: PLC0415 - keep `import rmt` light

    if not callable(trial):
        raise TypeError(f"trial must be callable, got {type(trial).__name__}")
    T = check_int("n_trials", n_trials, 1)
    bsz = check_int("batch_size", batch_size, 1) if vectorized else 1
    root = bk.as_seed_sequence(seed)
    hist = {k: _check_edges(k, v) for k, v in (histograms or {}).items()}
    accs: dict[str, Welford] = {}
    order: list[str] = []

    def add(name: str, value: Any) -> None:
        if name not in accs:
            accs[name] = Welford()
            order.append(name)
        accs[name].update(value)

    def consume(stats: Mapping[str, Any]) -> None:
        for name, value in stats.items():
            if name in hist:
                dens, outside = _histogram(value, hist[name])
                add(name, dens)
                add(name + ".outside", outside)
            else:
                add(name, value)

    t0 = time.perf_counter()
    disable = False if progress is True else (True if progress is False else None)
    with tqdm(total=T, desc=desc, disable=disable, leave=False) as bar:
        for start in range(0, T, bsz):
            seeds = [trial_seed(root, t) for t in range(start, min(T, start + bsz))]
            if vectorized:
                out = trial(seeds)
                if isinstance(out, Mapping):
                    for i in range(len(seeds)):
                        consume({k: v[i] for k, v in out.items()})
                else:
                    out = list(out)
                    if len(out) != len(seeds):
                        raise ValueError(f"a vectorized trial must return {len(seeds)} results, "
                                         f"got {len(out)}")
                    for o in out:
                        consume(_as_stats(o))
            else:
                consume(_as_stats(trial(seeds[0])))
            bar.update(len(seeds))
    estimates = {k: accs[k].estimate() for k in order}
    missing = set(hist) - set(estimates)
    if missing:
        raise ValueError(f"histograms named statistics the trial never returned: {sorted(missing)}")
    return MonteCarloResult(estimates=estimates, n_trials=T, batch_size=bsz, edges=hist,
                            seed_entropy=root.entropy, elapsed_s=time.perf_counter() - t0,
                            meta=dict(meta or {}))


def default_edges(lower: float, upper: float, n_bins: int = 60) -> np.ndarray:
    """``n_bins + 1`` equispaced edges on ``[lower, upper]``."""
    n = check_int("n_bins", n_bins, 1)
    if not (math.isfinite(lower) and math.isfinite(upper) and upper > lower):
        raise ValueError(f"edges need finite lower < upper, got [{lower}, {upper}]")
    return np.linspace(lower, upper, n + 1)


def simulate_spectra(n_trials: int, dim: int, n_samples: int, seed: Any = None,
                     spec: DrawSpec | None = None, *, edges: Any = None, z: Any = None,
                     n_moments: int = 4, coupling: str = "dependent", batch_size: int = 1,
                     memory_budget: int | None = None, progress: bool | None = None,
                     statistics: Callable[[np.ndarray], Mapping[str, Any]] | None = None,
                     **fields: Any) -> MonteCarloResult:
    """Monte Carlo over the full pipeline: draw, weights, form ``B``, ``eigvalsh``, statistics.

    Each trial draws one :func:`rmt.covariance.draw_covariance` from its own seed (child ``t``),
    forms ``B = (1/N) Xᵀ diag(w) X``, and a batch of trials is diagonalised together by
    :func:`rmt.spectra.eigvalsh_batched`.

    Parameters
    ----------
    n_trials : int, >= 1
    dim, n_samples : int, >= 1
        ``d`` and ``N``.
    seed : int, SeedSequence or Generator, optional
    spec : DrawSpec, optional
        What each trial draws (:class:`rmt.covariance.DrawSpec`; default ``DrawSpec()``).
    edges : array, optional
        Histogram edges of the empirical spectral density (statistic ``"esd"``, plus
        ``"esd.outside"``); omitted: no histogram.
    z : complex or array of complex, optional
        Points for the Stieltjes transform (statistic ``"stieltjes"``); omitted: none.
    n_moments : int, >= 0
        Moments ``(1/d) tr B^k``, ``k = 1..n_moments`` (statistic ``"moments"``).
    coupling : {"dependent", "independent"}
        As for :func:`rmt.covariance.draw_covariance`.
    batch_size : int, >= 1
        Trials per batch; capped so that a batch of formed matrices and their ``eigvalsh``
        workspace fit in ``memory_budget``. Does not change results.
    memory_budget : int, optional
        Bytes a batch may use (default: the run's memory plan). The plan
        (:func:`rmt.backend.plan_memory`, made once per run and recorded in
        ``meta["memory_plan"]``) also sizes the row blocks of logits; no trial asks the device
        for its free memory.
    progress : bool, optional
        See :func:`run_trials`.
    statistics : callable, optional
        ``f(eigenvalues) -> mapping`` of further per-trial statistics (host float64 eigenvalues,
        ascending), e.g. a Kolmogorov–Smirnov distance to a law.
    **fields
        Fields of :class:`~rmt.covariance.DrawSpec` (``n_classes``, ``sigma``, ``model``,
        ``weights``, ``block``, ``scale``, ``distribution``, ``df``, ``backend``, ``dtype``,
        ``draw_on``), overriding those of ``spec``.

    Returns
    -------
    MonteCarloResult
        Statistics ``"lambda_min"``, ``"lambda_max"``, and ``"moments"``, ``"esd"``,
        ``"esd.outside"``, ``"stieltjes"`` as requested, plus those of ``statistics``.
    """
    d = check_int("dim", dim, 1)
    N = check_int("n_samples", n_samples, 1)
    K = check_int("n_moments", n_moments, 0)
    bsz = check_int("batch_size", batch_size, 1)
    spec = DrawSpec.of(spec, **fields)
    xp = bk.xp_for(spec.backend)
    dt = spec.dtype
    zz = None if z is None else np.atleast_1d(np.asarray(z, dtype=np.complex128))
    if zz is not None and not np.all(np.isfinite(zz)):
        raise ValueError("z must hold finite complex numbers")
    hist = {} if edges is None else {"esd": _check_edges("esd", edges)}
    plan = bk.plan_memory(xp)
    budget = plan if memory_budget is None else check_int("memory_budget", memory_budget, 1)
    coupling = check_choice("coupling", coupling, ("dependent", "independent"))
    if statistics is not None and not callable(statistics):
        raise TypeError(f"statistics must be callable, got {type(statistics).__name__}")
    # A batch holds b formed matrices (d² each) next to one trial's X and X̃ and the logits
    # (≈ 3Nd), within half the budget; eigvalsh_batched chunks its own workspace in the rest.
    item = dt.itemsize
    room = 0.5 * budget - 3 * N * d * item - EIGVALSH_WORKSPACE_FACTOR * d * d * item
    bsz = int(max(1, min(bsz, room // (d * d * item))))

    def trial(seeds: Sequence[np.random.SeedSequence]) -> list[dict[str, Any]]:
        stack = xp.empty((len(seeds), d, d), dtype=dt)
        for i, s in enumerate(seeds):
            draw = draw_covariance(d, N, s, spec, coupling=coupling, memory_budget=plan)
            stack[i] = draw.matrix()
        ev = bk.to_numpy(eigvalsh_batched(stack, check=False, memory_budget=max(
            1, budget - stack.nbytes)))
        out = []
        for e in ev:
            stats: dict[str, Any] = {"lambda_min": e[0], "lambda_max": e[-1]}
            if K:
                stats["moments"] = moments_from_eigenvalues(e, K)
            if zz is not None:
                stats["stieltjes"] = stieltjes_from_eigenvalues(e, zz)
            if hist:
                stats["esd"] = e
            if statistics is not None:
                extra = statistics(e.astype(np.float64))
                clash = set(extra) & set(stats)
                if clash:
                    raise ValueError(f"statistics must not reuse the names {sorted(clash)}")
                stats.update(extra)
            out.append(stats)
        return out

    meta = {"dim": d, "n_samples": N, "gamma": d / N, "n_moments": K,
            "z": None if zz is None else {"real": zz.real.tolist(), "imag": zz.imag.tolist()},
            **spec.describe(), "coupling": coupling, "device": bk.device_name(xp),
            "memory_plan": plan, "memory_budget": budget}
    if spec.model is not None:
        meta["n_classes"] = None
    return run_trials(trial, n_trials, seed, batch_size=bsz, vectorized=True, histograms=hist,
                      progress=progress, desc="spectra", meta=meta)
