"""The claims registry: statement, symbolic prediction, Monte Carlo estimate, verdict.

A :class:`Claim` ties together

* a one-line statement (and its LaTeX),
* the derivation in ``proofs/`` it comes from (a derivation id of :mod:`proofs`),
* a prediction function (lambdified from the SymPy result),
* an estimator that measures the same quantity numerically at a given scale and seed, and
* a verdict rule stated in statistical terms (:class:`WithinCI`, :class:`ExactWithin`,
  :class:`RateWithinCI`).

Verdicts are ``holds``, ``fails`` or ``inconclusive``. A claim is inconclusive when the
prediction lies inside the confidence interval but the interval is too wide to be informative
(wider than the claim's stated precision); the verdict then says how many trials would decide,
from the 1/√T scaling of the standard error.

Claims are registered with :func:`register` and looked up with :func:`registry`; the suite's own
claims are registered by :mod:`rmt.catalog`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from scipy import stats

from .validation import check_choice, check_probability, check_real

__all__ = [
    "SCALES",
    "VERDICTS",
    "Estimate",
    "Verdict",
    "WithinCI",
    "ExactWithin",
    "RateWithinCI",
    "AtMost",
    "Claim",
    "ClaimResult",
    "register",
    "unregister",
    "registry",
    "run_claim",
    "derived",
]

SCALES = ("quick", "paper", "llm")
VERDICTS = ("holds", "fails", "inconclusive")


@dataclass(frozen=True)
class Estimate:
    """A numerical estimate with its standard error.

    Attributes
    ----------
    value : float
        The estimate (a mean over trials, a fitted exponent, or an exact computation).
    stderr : float
        Its standard error (0 for a deterministic computation).
    n_trials : int
        Number of independent trials (or points in a fit) behind it.
    dof : float or None
        Degrees of freedom for a t-interval (None: normal interval).
    extra : dict
        Anything else worth keeping in the results file (per-size values, figure data).
    """

    value: float
    stderr: float = 0.0
    n_trials: int = 1
    dof: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def critical(self, level: float) -> float:
        """Two-sided critical value at confidence ``level`` (t if ``dof`` is set, else normal)."""
        q = 0.5 + level / 2
        return float(stats.t.ppf(q, self.dof) if self.dof else stats.norm.ppf(q))

    def ci(self, level: float = 0.99) -> tuple[float, float]:
        """Two-sided confidence interval at ``level``."""
        h = self.critical(level) * self.stderr
        return (self.value - h, self.value + h)


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verdict rule: ``holds``, ``fails`` or ``inconclusive``, and why."""

    status: str
    reason: str
    trials_to_decide: int | None = None

    def __post_init__(self) -> None:
        check_choice("status", self.status, VERDICTS)


@dataclass(frozen=True)
class WithinCI:
    """Holds when the prediction lies in the ``level`` CI of the estimate, fails when it lies
    outside, and is inconclusive when it lies inside a CI whose half-width exceeds
    ``rel_precision`` × |prediction| (the interval cannot tell the claim from a
    ``rel_precision`` relative error)."""

    level: float = 0.99
    rel_precision: float = 0.05

    def __post_init__(self) -> None:
        check_probability("level", self.level)
        check_real("rel_precision", self.rel_precision, 0.0, strict_min=True)

    def decide(self, prediction: float, est: Estimate) -> Verdict:
        lo, hi = est.ci(self.level)
        half = (hi - lo) / 2
        pct = f"{100 * self.level:g}%"
        if not (lo <= prediction <= hi):
            z = (est.value - prediction) / est.stderr if est.stderr > 0 else math.inf
            return Verdict("fails", f"prediction {prediction:.6g} outside the {pct} CI "
                                    f"[{lo:.6g}, {hi:.6g}] (z = {z:.2f})")
        target = self.rel_precision * abs(prediction)
        if half > target > 0:
            need = math.ceil(est.n_trials * (half / target) ** 2)
            return Verdict("inconclusive",
                           f"prediction inside the {pct} CI, but its half-width {half:.3g} "
                           f"exceeds {self.rel_precision:g}·|prediction| = {target:.3g}; "
                           f"about {need} trials would decide", need)
        return Verdict("holds", f"prediction {prediction:.6g} inside the {pct} CI "
                                f"[{lo:.6g}, {hi:.6g}]")


@dataclass(frozen=True)
class ExactWithin:
    """For deterministic computations: holds when |estimate − prediction| ≤ rtol·|prediction|
    + atol (the tolerance comes from floating-point error, stated where the claim is made)."""

    rtol: float
    atol: float = 0.0

    def decide(self, prediction: float, est: Estimate) -> Verdict:
        err = abs(est.value - prediction)
        tol = self.rtol * abs(prediction) + self.atol
        ok = err <= tol
        return Verdict("holds" if ok else "fails",
                       f"|estimate − prediction| = {err:.3g} {'≤' if ok else '>'} tolerance "
                       f"{tol:.3g} (rtol {self.rtol:g}, atol {self.atol:g})")


@dataclass(frozen=True)
class RateWithinCI:
    """For rates: holds when the ``level`` CI of a fitted exponent contains the predicted
    exponent; inconclusive when it does but is wider than ±``abs_precision``."""

    level: float = 0.99
    abs_precision: float = 0.1

    def __post_init__(self) -> None:
        check_probability("level", self.level)
        check_real("abs_precision", self.abs_precision, 0.0, strict_min=True)

    def decide(self, prediction: float, est: Estimate) -> Verdict:
        lo, hi = est.ci(self.level)
        half = (hi - lo) / 2
        pct = f"{100 * self.level:g}%"
        if not (lo <= prediction <= hi):
            return Verdict("fails", f"exponent {prediction:.4g} outside the {pct} CI "
                                    f"[{lo:.4g}, {hi:.4g}] of the fitted exponent")
        if half > self.abs_precision:
            need = math.ceil(est.n_trials * (half / self.abs_precision) ** 2)
            return Verdict("inconclusive", f"exponent inside the {pct} CI [{lo:.4g}, {hi:.4g}] "
                                           f"but its half-width {half:.3g} exceeds "
                                           f"{self.abs_precision:g}; about {need} points or "
                                           f"trials would decide", need)
        return Verdict("holds", f"exponent {prediction:.4g} inside the {pct} CI "
                                f"[{lo:.4g}, {hi:.4g}]")


@dataclass(frozen=True)
class AtMost:
    """For bounds: the prediction is an upper bound (e.g. a finite-size bound on a distance);
    holds when ``estimate + z·SE ≤ prediction`` at one-sided confidence ``level``, fails when
    ``estimate − z·SE > prediction``, and is inconclusive in between. ``basis`` says where the
    bound comes from (shown in the verdict)."""

    basis: str
    level: float = 0.99

    def __post_init__(self) -> None:
        check_probability("level", self.level)

    def decide(self, prediction: float, est: Estimate) -> Verdict:
        z = float(stats.norm.ppf(self.level)) if est.stderr > 0 else 0.0
        lo, hi = est.value - z * est.stderr, est.value + z * est.stderr
        if hi <= prediction:
            return Verdict("holds", f"estimate {est.value:.4g} (upper {100 * self.level:g}% "
                                    f"bound {hi:.4g}) ≤ bound {prediction:.4g} ({self.basis})")
        if lo > prediction:
            return Verdict("fails", f"estimate {est.value:.4g} exceeds the bound "
                                    f"{prediction:.4g} ({self.basis})")
        need = math.ceil(est.n_trials * (z * est.stderr / max(prediction - est.value, 1e-300))
                         ** 2) if prediction > est.value else None
        return Verdict("inconclusive", f"bound {prediction:.4g} inside the interval "
                                       f"[{lo:.4g}, {hi:.4g}] ({self.basis})", need)


Rule = WithinCI | ExactWithin | RateWithinCI | AtMost


@dataclass(frozen=True)
class Claim:
    """One verifiable claim.

    Parameters
    ----------
    id : str
        Short identifier, e.g. ``"linear-ce-v0-ratio"``.
    statement : str
        One line in words; says which blocks, which norm, per block or aggregate.
    latex : str
        The statement as a formula (mathtext-compatible LaTeX).
    proof : str or None
        Id of the derivation in ``proofs/`` that derives the prediction.
    predict : callable ``(params) -> float``
        The prediction at the claim's parameters (lambdified from SymPy).
    estimate : callable ``(params, seed, backend) -> Estimate``
        The numerical estimate.
    rule : WithinCI, ExactWithin or RateWithinCI
        How prediction and estimate give the verdict.
    scales : mapping from scale name to parameter dict
        Parameters at ``quick`` (CPU, seconds), ``paper`` and ``llm``; a scale missing here
        runs the largest scale below it.
    quantity : str
        What the numbers are (shown in the table), e.g. ``"C·‖H_ij‖_F/‖H_ii‖_F, per block"``.
    figure : callable ``(ax, result_dict) -> ax``, optional
        Draws the claim's figure from its stored result (:meth:`ClaimResult.to_dict`), so
        ``rmt figures`` can redraw it without recomputing; the data it needs goes in
        ``Estimate.extra``.
    """

    id: str
    statement: str
    latex: str
    proof: str | None
    predict: Callable[[Mapping[str, Any]], float]
    estimate: Callable[[Mapping[str, Any], Any, str], Estimate]
    rule: Rule
    scales: Mapping[str, Mapping[str, Any]]
    quantity: str = ""
    figure: Callable[[Any, Mapping[str, Any]], Any] | None = None

    def params(self, scale: str) -> dict[str, Any]:
        """Parameters for ``scale``, falling back to the largest defined scale below it."""
        scale = check_choice("scale", scale, SCALES)
        for s in reversed(SCALES[: SCALES.index(scale) + 1]):
            if s in self.scales:
                return dict(self.scales[s])
        raise ValueError(f"claim {self.id!r} defines no parameters for scale {scale!r}")


@dataclass(frozen=True)
class ClaimResult:
    """A claim's outcome: prediction, estimate, verdict, timings and parameters."""

    claim: Claim
    scale: str
    params: Mapping[str, Any]
    prediction: float
    estimate: Estimate
    verdict: Verdict
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        lvl = getattr(self.claim.rule, "level", None)
        ci = self.estimate.ci(lvl) if lvl is not None else (self.estimate.value,) * 2
        return _jsonable({
            "id": self.claim.id, "statement": self.claim.statement, "latex": self.claim.latex,
            "quantity": self.claim.quantity, "proof": self.claim.proof, "scale": self.scale,
            "parameters": dict(self.params), "prediction": self.prediction,
            "estimate": self.estimate.value, "stderr": self.estimate.stderr,
            "n_trials": self.estimate.n_trials, "ci_level": lvl, "ci": list(ci),
            "verdict": self.verdict.status, "reason": self.verdict.reason,
            "trials_to_decide": self.verdict.trials_to_decide, "seconds": self.seconds,
            "extra": self.estimate.extra,
        })


_REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (its id must be new); return it."""
    if not isinstance(claim, Claim):
        raise TypeError(f"claim must be a Claim, got {type(claim).__name__}")
    if claim.id in _REGISTRY and _REGISTRY[claim.id] is not claim:
        raise ValueError(f"claim id {claim.id!r} is already registered")
    _REGISTRY[claim.id] = claim
    return claim


def unregister(claim_id: str) -> None:
    """Remove a claim (used by tests that plant a claim)."""
    _REGISTRY.pop(claim_id, None)


def registry(load_catalog: bool = True) -> dict[str, Claim]:
    """All registered claims (importing :mod:`rmt.catalog` first, which registers the suite's)."""
    if load_catalog:
        from . import catalog  # noqa: F401  (registers the suite's claims on import)
    return dict(_REGISTRY)


def run_claim(claim: Claim, scale: str = "quick", seed: Any = 0,
              backend: str = "numpy") -> ClaimResult:
    """Evaluate one claim: prediction, estimate and verdict at ``scale``."""
    params = claim.params(scale)
    t0 = time.perf_counter()
    prediction = float(claim.predict(params))
    est = claim.estimate(params, seed, backend)
    verdict = claim.rule.decide(prediction, est)
    return ClaimResult(claim, scale, params, prediction, est, verdict, time.perf_counter() - t0)


_DERIVED: dict[str, Mapping[str, Any]] = {}


def derived(derivation_id: str) -> Mapping[str, Any]:
    """The SymPy objects of a derivation in ``proofs/`` (run once, then cached).

    Raises RuntimeError if the derivation's own check fails: a prediction is never taken from
    a derivation that does not hold.
    """
    if derivation_id not in _DERIVED:
        import proofs  # noqa: PLC0415 - proofs/ is imported only when a claim needs it

        reg = proofs.registry()
        if derivation_id not in reg:
            raise ValueError(f"derivation_id: unknown derivation {derivation_id!r}")
        res = reg[derivation_id].run()
        if not res.passed:
            raise RuntimeError(f"derivation {derivation_id!r} failed its check: {res.detail}")
        _DERIVED[derivation_id] = res.objects
    return _DERIVED[derivation_id]


def _jsonable(obj: Any) -> Any:
    """Convert NumPy scalars/arrays (and nested containers) to JSON-ready Python objects."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # strict JSON has no NaN/inf; None reads as "not available"
    return obj
