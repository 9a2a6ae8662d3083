"""The claims registry: statement, prediction, rivals, Monte Carlo estimate, verdict.

A :class:`Claim` ties together

* a one-line statement (and its LaTeX),
* the derivation in ``proofs/`` it comes from (a derivation id of :mod:`proofs`),
* a prediction function (lambdified from the SymPy result): a number, or a law for a spectral
  claim,
* its **rivals** (:class:`Rival`): the answers a plausible but wrong theory gives (the
  ``d, N → ∞`` limit, the independent-weight formula, the ``C = ∞`` law, the paper's rate),
* an estimator that measures the same quantity numerically at a given scale and seed, and
* a verdict rule stated in statistical terms (the rule classes below).

Verdicts
--------
``holds`` only when the prediction is consistent with the estimate at the rule's level **and**
every rival is rejected at that level; ``inconclusive`` when a rival is not rejected (the verdict
names it and says how many trials would separate it from the prediction, from the 1/√T scaling
of the standard error), or when the interval is wider than the claim's stated precision;
``fails`` when the prediction itself is rejected.

Rules
-----
Two-sided: :class:`WithinCI` (a value inside the ``level`` CI), :class:`RateWithinCI` (the same
for a fitted exponent, with an absolute precision), :class:`ExactWithin` (deterministic
computations at a floating-point tolerance) and :class:`MatchesLaw` (a law against the data, by a
goodness-of-fit test supplied by the claim). One-sided, for bounds: :class:`AtMost` /
:class:`AtLeast` (the quantity is at most / at least the bound) and :class:`ExponentAtMost` /
:class:`ExponentAtLeast` (a decay at least / at most as fast as ``d^b``). A one-sided rule tests
the prediction with the one-sided bound on its side and a rival — who says the opposite — with
the bound on the other side.

Planted runs
------------
``run_claim(..., prediction=value)`` puts ``value`` (a number, a law, a :class:`Rival`, or a
function of the parameters) in place of the prediction; the claim's own prediction then joins
the rivals (as ``"claim's prediction"``), and a one-sided rule is mirrored, so that a planted
rival is judged by exactly the test that rejects it in the normal run. A planted rival can
therefore never hold unless the claim's prediction fails.

Claims are registered with :func:`register` and looked up with :func:`registry`; the suite's own
claims are registered by :mod:`rmt.catalog`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from .stats import Estimate, jsonable
from .validation import check_choice, check_probability, check_real

__all__ = [
    "SCALES",
    "VERDICTS",
    "PREDICTION_NAME",
    "Estimate",
    "Rival",
    "RivalOutcome",
    "Verdict",
    "LawOutcome",
    "LawTest",
    "WithinCI",
    "RateWithinCI",
    "ExactWithin",
    "AtMost",
    "AtLeast",
    "ExponentAtMost",
    "ExponentAtLeast",
    "MatchesLaw",
    "Claim",
    "ClaimResult",
    "register",
    "unregister",
    "registry",
    "run_claim",
    "judge",
    "planted_runs",
    "claims_without_rivals",
    "derived",
]

SCALES = ("quick", "paper", "llm")
VERDICTS = ("holds", "fails", "inconclusive")
#: The name the claim's own prediction takes among the rivals of a planted run.
PREDICTION_NAME = "claim's prediction"


@dataclass(frozen=True)
class Rival:
    """A named wrong answer that a claim's estimate must reject.

    Attributes
    ----------
    name : str
        E.g. ``"independent-weight formula"``, ``"C = ∞ law"``, ``"paper's d^(-1/2) rate"``.
    predict : callable ``(params) -> value``
        Same signature and kind as :attr:`Claim.predict` (a number, or a law for a spectral
        claim).
    proof : str or None
        Derivation id in ``proofs/`` when the rival is a formula.
    note : str
        Why a plausible theory gives this answer.
    """

    name: str
    predict: Callable[[Mapping[str, Any]], Any]
    proof: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not callable(self.predict):
            raise TypeError(f"predict must be callable, got {type(self.predict).__name__}")


@dataclass(frozen=True)
class RivalOutcome:
    """How one rival fared: its value, whether the data reject it, and why.

    ``trials_to_separate``: trials (or points) at which the rival's distance from the prediction
    would equal the interval's half-width (from SE ∝ 1/√T); None when rejected, when the rule is
    deterministic, or when rival and prediction coincide.
    """

    name: str
    value: Any
    rejected: bool
    detail: str
    trials_to_separate: int | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verdict rule: ``holds``, ``fails`` or ``inconclusive``, why, and the
    rivals' outcomes."""

    status: str
    reason: str
    trials_to_decide: int | None = None
    rivals: tuple[RivalOutcome, ...] = ()

    def __post_init__(self) -> None:
        check_choice("status", self.status, VERDICTS)

    @property
    def rivals_rejected(self) -> int:
        return sum(o.rejected for o in self.rivals)


def _fmt(v: Any, digits: int = 6) -> str:
    if isinstance(v, (int, float, np.floating, np.integer)):
        return f"{float(v):.{digits}g}"
    return str(getattr(v, "label", None) or v)


def _separation(est: Estimate, half: float, prediction: float, rival: float) -> int | None:
    """Trials at which ``half`` (the current half-width, ∝ 1/√T) shrinks to
    ``|rival − prediction|``."""
    gap = abs(rival - prediction)
    if not (gap > 0 and math.isfinite(half) and half > 0):
        return None
    return max(est.n_trials + 1, math.ceil(est.n_trials * (half / gap) ** 2))


class _Rule:
    """Common verdict logic; a rule supplies :meth:`_check`, :meth:`_rival_check` and
    :meth:`_separate`, and optionally :meth:`_precision`."""

    kind = "number"          # "number" or "law": what predictions and rivals are
    one_sided = False
    no_estimate = "inconclusive"   # the verdict when the estimate is not a finite number
    level: float | None = None

    def _check(self, prediction: Any, est: Estimate) -> tuple[bool, str]:  # pragma: no cover
        raise NotImplementedError

    def _rival_check(self, value: Any, est: Estimate) -> tuple[bool, str]:
        """(rejected, detail) for a rival: by default rejected when it would fail as the
        prediction."""
        ok, text = self._check(value, est)
        return not ok, text

    def _separate(self, prediction: Any, value: Any, est: Estimate) -> int | None:
        return None

    def _precision(self, prediction: Any, est: Estimate) -> Verdict | None:
        return None

    def for_planted(self) -> "_Rule":
        """The rule a planted run uses (the mirror image for one-sided rules)."""
        return self

    def decide(self, prediction: Any, est: Estimate,
               rivals: Mapping[str, Any] | None = None) -> Verdict:
        """The verdict on ``prediction`` and ``rivals`` (name → value) given ``est``."""
        if self.kind == "number" and not (np.isfinite(est.value) and np.isfinite(est.stderr)):
            return Verdict(self.no_estimate, f"no finite estimate ({est.value}, SE "
                                             f"{est.stderr}): nothing to compare with")
        ok, text = self._check(prediction, est)
        outs = []
        for name, value in (rivals or {}).items():
            rejected, detail = self._rival_check(value, est)
            need = None if rejected else self._separate(prediction, value, est)
            outs.append(RivalOutcome(name, value, rejected, detail, need))
        alive = [o for o in outs if not o.rejected]
        names = ", ".join(f"{o.name} ({_fmt(o.value)})" for o in alive)
        if not ok:
            tail = f"; not rejected either: {names}" if alive else ""
            return Verdict("fails", text + tail, None, tuple(outs))
        if alive:
            needs = [o.trials_to_separate for o in alive]
            need = max(needs) if all(n is not None for n in needs) else None
            how = (f"; about {need} trials (or points) would separate them" if need is not None
                   else "; more trials cannot separate them at this scale")
            return Verdict("inconclusive", f"{text}, but the data do not reject the rival(s) "
                                           f"{names}{how}", need, tuple(outs))
        prec = self._precision(prediction, est)
        if prec is not None:
            return replace(prec, rivals=tuple(outs))
        tail = f"; all {len(outs)} rival(s) rejected" if outs else ""
        return Verdict("holds", text + tail, None, tuple(outs))


# ---------------------------------------------------------------------------------------------
# two-sided rules
# ---------------------------------------------------------------------------------------------

class _TwoSidedCI(_Rule):
    """A value is consistent when it lies in the two-sided ``level`` CI of the estimate."""

    noun = "prediction"

    def _target(self, prediction: float) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check(self, value: Any, est: Estimate) -> tuple[bool, str]:
        v = float(value)
        lo, hi = est.ci(self.level)
        pct = f"{100 * self.level:g}%"
        if lo <= v <= hi:
            return True, f"{self.noun} {v:.6g} inside the {pct} CI [{lo:.6g}, {hi:.6g}]"
        z = (est.value - v) / est.stderr if est.stderr > 0 else math.inf
        return False, (f"{self.noun} {v:.6g} outside the {pct} CI [{lo:.6g}, {hi:.6g}] "
                       f"(z = {z:.2f})")

    def _rival_check(self, value: Any, est: Estimate) -> tuple[bool, str]:
        ok, text = self._check(value, est)
        return not ok, text.replace(self.noun, "rival", 1)

    def _half(self, est: Estimate) -> float:
        lo, hi = est.ci(self.level)
        return (hi - lo) / 2

    def _separate(self, prediction: Any, value: Any, est: Estimate) -> int | None:
        return _separation(est, self._half(est), float(prediction), float(value))

    def _precision(self, prediction: Any, est: Estimate) -> Verdict | None:
        target = self._target(float(prediction))
        half = self._half(est)
        if target is None or not half > target > 0:
            return None
        need = math.ceil(est.n_trials * (half / target) ** 2)
        return Verdict("inconclusive", f"{self.noun} inside the {100 * self.level:g}% CI, but "
                                       f"its half-width {half:.3g} exceeds the stated precision "
                                       f"{target:.3g}; about {need} trials would decide", need)


@dataclass(frozen=True)
class WithinCI(_TwoSidedCI):
    """Holds when the prediction lies in the ``level`` CI of the estimate and every rival lies
    outside it; fails when the prediction lies outside. ``rel_precision`` (optional): also
    inconclusive when the CI's half-width exceeds ``rel_precision·|prediction|`` — a generic
    precision requirement, for claims whose nearest wrong answers are not yet declared as
    rivals (None: rely on the rivals alone)."""

    level: float = 0.99
    rel_precision: float | None = 0.05

    def __post_init__(self) -> None:
        check_probability("level", self.level)
        if self.rel_precision is not None:
            check_real("rel_precision", self.rel_precision, 0.0, strict_min=True)

    def _target(self, prediction: float) -> float | None:
        return None if self.rel_precision is None else self.rel_precision * abs(prediction)


@dataclass(frozen=True)
class RateWithinCI(_TwoSidedCI):
    """For rates: as :class:`WithinCI` for a fitted exponent, with an absolute precision
    ``abs_precision`` on the CI's half-width (None: rivals alone)."""

    level: float = 0.99
    abs_precision: float | None = 0.1
    noun = "exponent"

    def __post_init__(self) -> None:
        check_probability("level", self.level)
        if self.abs_precision is not None:
            check_real("abs_precision", self.abs_precision, 0.0, strict_min=True)

    def _target(self, prediction: float) -> float | None:
        return self.abs_precision


@dataclass(frozen=True)
class ExactWithin(_Rule):
    """For deterministic computations: holds when |estimate − prediction| ≤ rtol·|prediction|
    + atol (the tolerance comes from floating-point error, stated where the claim is made); a
    rival is rejected when it is farther than the same tolerance. Exact identities need no
    rivals: the tolerance is their power."""

    rtol: float
    atol: float = 0.0
    no_estimate = "fails"    # an identity that computes NaN is broken

    def __post_init__(self) -> None:
        check_real("rtol", self.rtol, 0.0)
        check_real("atol", self.atol, 0.0)

    def tolerance(self, prediction: float) -> float:
        return self.rtol * abs(prediction) + self.atol

    def _check(self, value: Any, est: Estimate) -> tuple[bool, str]:
        v = float(value)
        err = abs(est.value - v)
        tol = self.tolerance(v)
        ok = err <= tol
        return ok, (f"|estimate − {v:.6g}| = {err:.3g} {'≤' if ok else '>'} tolerance {tol:.3g} "
                    f"(rtol {self.rtol:g}, atol {self.atol:g})")


# ---------------------------------------------------------------------------------------------
# one-sided rules (bounds)
# ---------------------------------------------------------------------------------------------

class _OneSided(_Rule):
    """The prediction is a bound ``b``: ``θ ≤ b`` (``upper = True``) or ``θ ≥ b``.

    * fails when the one-sided ``level`` bound on the far side is past ``b`` (for ``θ ≤ b``:
      the lower confidence bound exceeds ``b``: the data say ``θ > b``);
    * a rival value ``r`` says the opposite (``θ ≥ r`` for an upper-bound claim) and is rejected
      when the confidence bound on the near side is past it (the upper confidence bound
      below ``r``);
    * holds (rivals aside) when the confidence bound on the near side is within ``b`` (the data
      say ``θ ≤ b`` at this level), or, with ``abs_precision`` set, when ``b`` is inside the
      interval and its half-width is at most ``abs_precision`` (the bound is attained within
      the stated precision); inconclusive otherwise.
    """

    one_sided = True
    upper = True
    noun = "bound"
    level: float
    abs_precision: float | None = None

    def __post_init__(self) -> None:
        check_probability("level", self.level)
        if self.abs_precision is not None:
            check_real("abs_precision", self.abs_precision, 0.0, strict_min=True)

    def _bounds(self, est: Estimate) -> tuple[float, float]:
        return float(est.bound(self.level, "lower")), float(est.bound(self.level, "upper"))

    def _past(self, x: float, b: float) -> bool:
        """Is ``x`` strictly on the wrong side of the bound ``b``?"""
        return x > b if self.upper else x < b

    def _words(self) -> tuple[str, str]:
        return ("≤", "upper") if self.upper else ("≥", "lower")

    def _check(self, value: Any, est: Estimate) -> tuple[bool, str]:
        b = float(value)
        lo, hi = self._bounds(est)
        far = lo if self.upper else hi
        rel, _ = self._words()
        pct = f"{100 * self.level:g}%"
        if self._past(far, b):
            return False, (f"estimate {est.value:.4g} ({pct} one-sided "
                           f"{'lower' if self.upper else 'upper'} bound {far:.4g}) violates the "
                           f"{self.noun} θ {rel} {b:.4g}{self._basis()}")
        return True, (f"estimate {est.value:.4g} consistent with the {self.noun} θ {rel} "
                      f"{b:.4g} at {pct}{self._basis()}")

    def _rival_check(self, value: Any, est: Estimate) -> tuple[bool, str]:
        r = float(value)
        lo, hi = self._bounds(est)
        near = hi if self.upper else lo
        opp = "≥" if self.upper else "≤"
        side = "upper" if self.upper else "lower"
        rejected = self._past(r, near)
        return rejected, (f"rival θ {opp} {r:.4g} {'rejected' if rejected else 'not rejected'}: "
                          f"{100 * self.level:g}% one-sided {side} bound {near:.4g}")

    def _separate(self, prediction: Any, value: Any, est: Estimate) -> int | None:
        lo, hi = self._bounds(est)
        return _separation(est, (hi - lo) / 2, float(prediction), float(value))

    def _precision(self, prediction: Any, est: Estimate) -> Verdict | None:
        b = float(prediction)
        lo, hi = self._bounds(est)
        near = hi if self.upper else lo
        if not self._past(near, b):
            return None                      # the data say θ is within the bound
        half = (hi - lo) / 2
        if self.abs_precision is not None:
            if half <= self.abs_precision:
                return None                  # the bound is attained within the precision
            target = self.abs_precision
        else:                                # trials until the near bound reaches b
            target = abs(b - est.value) if not self._past(est.value, b) else 0.0
        need = (math.ceil(est.n_trials * (half / target) ** 2)
                if target > 0 and math.isfinite(half) else None)
        return Verdict("inconclusive", f"{self.noun} {b:.4g} inside the {100 * self.level:g}% "
                                       f"one-sided interval [{lo:.4g}, {hi:.4g}]{self._basis()}",
                       need)

    def _basis(self) -> str:
        basis = getattr(self, "basis", "")
        return f" ({basis})" if basis else ""

    def _mirror(self) -> type:  # pragma: no cover - abstract
        raise NotImplementedError

    def for_planted(self) -> "_Rule":
        names = self.__dataclass_fields__  # type: ignore[attr-defined]
        return self._mirror()(**{k: getattr(self, k) for k in names})


@dataclass(frozen=True)
class AtMost(_OneSided):
    """For bounds: the prediction is an upper bound on the quantity (e.g. a finite-size bound on
    a distance); one-sided at ``level`` (see :class:`_OneSided`). ``basis`` says where the
    bound comes from (shown in the verdict)."""

    basis: str = ""
    level: float = 0.99
    abs_precision: float | None = None

    def _mirror(self) -> type:
        return AtLeast


@dataclass(frozen=True)
class AtLeast(_OneSided):
    """The mirror of :class:`AtMost`: the prediction is a lower bound on the quantity."""

    basis: str = ""
    level: float = 0.99
    abs_precision: float | None = None
    upper = False

    def _mirror(self) -> type:
        return AtMost


@dataclass(frozen=True)
class ExponentAtMost(_OneSided):
    """For "decays at least as fast as ``d^{b₀}``": the true exponent ``b ≤ b₀``, tested
    one-sided at ``level`` on a fitted exponent. Fails when the lower confidence bound exceeds
    ``b₀`` (slower than claimed); a rival exponent ``r`` (e.g. the paper's ``−1/2``: "no faster
    than ``d^r``") is rejected when the upper confidence bound is below ``r``; holds when the
    upper bound is at most ``b₀``, or ``b₀`` is inside the interval with a half-width at most
    ``abs_precision`` (the bound is attained)."""

    level: float = 0.95
    abs_precision: float | None = None
    noun = "exponent bound"

    def _mirror(self) -> type:
        return ExponentAtLeast


@dataclass(frozen=True)
class ExponentAtLeast(_OneSided):
    """The mirror of :class:`ExponentAtMost`: the true exponent ``b ≥ b₀`` (a decay no faster
    than ``d^{b₀}``)."""

    level: float = 0.95
    abs_precision: float | None = None
    noun = "exponent bound"
    upper = False

    def _mirror(self) -> type:
        return ExponentAtMost


# ---------------------------------------------------------------------------------------------
# laws (spectral claims): the extension point for calibrated goodness-of-fit tests
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LawOutcome:
    """What a goodness-of-fit test says about one law.

    Attributes
    ----------
    rejected : bool
        The test rejects the law at the level it was given.
    statistic, critical : float
        The test statistic and its critical value (e.g. a KS distance and the ``1 − α``
        quantile of its null distribution simulated at the same ``d, N``).
    detail : str
        One line for the verdict (what was tested, how the critical value was obtained).
    trials_to_reject : int or None
        Trials (seeds) at which the test would reject this law when the claim's law is true,
        when the test can say; shown for rivals that are not rejected.
    """

    rejected: bool
    statistic: float
    critical: float
    detail: str = ""
    trials_to_reject: int | None = None


class LawTest(Protocol):
    """``test(estimate, law, level) -> LawOutcome``: a goodness-of-fit test of ``law`` against the
    data the estimator stored in ``estimate.extra`` (e.g. pooled eigenvalues and the ``d, N`` at
    which to calibrate), at confidence ``level``."""

    def __call__(self, estimate: Estimate, law: Any, level: float) -> LawOutcome: ...


@dataclass(frozen=True)
class MatchesLaw(_Rule):
    """For spectral claims whose prediction (and rivals) are laws: holds when ``test`` does not
    reject the predicted law and rejects every rival law at ``level``.

    ``test`` is the claim's calibrated goodness-of-fit test (:class:`LawTest`); the estimator
    stores in ``Estimate.extra`` what it needs. The estimate's ``value`` is for the table (e.g.
    the KS distance to the predicted law); the decision is the test's.
    """

    test: LawTest
    level: float = 0.99
    basis: str = ""
    kind = "law"

    def __post_init__(self) -> None:
        check_probability("level", self.level)
        if not callable(self.test):
            raise TypeError(f"test must be callable, got {type(self.test).__name__}")

    def _outcome(self, law: Any, est: Estimate) -> LawOutcome:
        out = self.test(est, law, self.level)
        if not isinstance(out, LawOutcome):
            raise TypeError(f"test must return a LawOutcome, got {type(out).__name__}")
        return out

    def _check(self, law: Any, est: Estimate) -> tuple[bool, str]:
        o = self._outcome(law, est)
        verb = "rejects" if o.rejected else "does not reject"
        return not o.rejected, (f"the test {verb} {_fmt(law)} at {100 * self.level:g}%: "
                                f"statistic {o.statistic:.4g} vs critical {o.critical:.4g}"
                                + (f" ({o.detail})" if o.detail else ""))

    def _separate(self, prediction: Any, value: Any, est: Estimate) -> int | None:
        return self._outcome(value, est).trials_to_reject


Rule = WithinCI | RateWithinCI | ExactWithin | AtMost | AtLeast | ExponentAtMost | \
    ExponentAtLeast | MatchesLaw


# ---------------------------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------------------------

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
    predict : callable ``(params) -> value``
        The prediction at the claim's parameters (lambdified from SymPy): a number, or a law
        for a :class:`MatchesLaw` rule.
    estimate : callable ``(params, seed, backend) -> Estimate``
        The numerical estimate.
    rule : a rule of this module
        How prediction, rivals and estimate give the verdict.
    scales : mapping from scale name to parameter dict
        Parameters at ``quick`` (CPU, seconds), ``paper`` and ``llm``; a scale missing here
        runs the largest scale below it. Parameter names follow the library's
        (``dim``, ``n_samples``, ``n_classes``, ``n_trials``, ``sigma``, ``ratio``, …).
    quantity : str
        What the numbers are (shown in the table), e.g. ``"C·‖H_ij‖_F/‖H_ii‖_F, per block"``.
    figure : callable ``(ax, result_dict) -> ax``, optional
        Draws the claim's figure from its stored result (:meth:`ClaimResult.to_dict`), so
        ``rmt figures`` can redraw it without recomputing; the data it needs goes in
        ``Estimate.extra``.
    rivals : tuple of Rival
        The nearest wrong answers; every claim has at least one except exact identities
        (:class:`ExactWithin`).
    """

    id: str
    statement: str
    latex: str
    proof: str | None
    predict: Callable[[Mapping[str, Any]], Any]
    estimate: Callable[[Mapping[str, Any], Any, str], Estimate]
    rule: Rule
    scales: Mapping[str, Mapping[str, Any]]
    quantity: str = ""
    figure: Callable[[Any, Mapping[str, Any]], Any] | None = None
    rivals: tuple[Rival, ...] = ()

    def __post_init__(self) -> None:
        rivals = tuple(self.rivals)
        bad = [r for r in rivals if not isinstance(r, Rival)]
        if bad:
            raise TypeError(f"rivals must be Rival objects, got {type(bad[0]).__name__}")
        names = [r.name for r in rivals]
        if len(set(names)) != len(names) or PREDICTION_NAME in names:
            raise ValueError(f"rivals of {self.id!r} need distinct names other than "
                             f"{PREDICTION_NAME!r}, got {names}")
        object.__setattr__(self, "rivals", rivals)

    def params(self, scale: str) -> dict[str, Any]:
        """Parameters for ``scale``, falling back to the largest defined scale below it."""
        scale = check_choice("scale", scale, SCALES)
        for s in reversed(SCALES[: SCALES.index(scale) + 1]):
            if s in self.scales:
                return dict(self.scales[s])
        raise ValueError(f"claim {self.id!r} defines no parameters for scale {scale!r}")


def _rule_info(rule: Any) -> dict[str, Any]:
    kind = "bound" if getattr(rule, "one_sided", False) else (
        "law" if getattr(rule, "kind", "number") == "law" else "prediction")
    info = {"name": type(rule).__name__, "level": getattr(rule, "level", None),
            "one_sided": bool(getattr(rule, "one_sided", False)), "predicts": kind}
    if isinstance(rule, ExactWithin):
        info.update(rtol=rule.rtol, atol=rule.atol)
    return info


@dataclass(frozen=True)
class ClaimResult:
    """A claim's outcome: prediction, estimate, verdict (with the rivals' outcomes), timings
    and parameters. ``planted`` names the planted prediction of a planted run (None
    otherwise); ``rule`` is the rule that judged (mirrored for one-sided planted runs)."""

    claim: Claim
    scale: str
    params: Mapping[str, Any]
    prediction: Any
    estimate: Estimate
    verdict: Verdict
    seconds: float
    planted: str | None = None
    rule: Any = None

    def to_dict(self) -> dict[str, Any]:
        rule = self.rule if self.rule is not None else self.claim.rule
        lvl = getattr(rule, "level", None)
        est = self.estimate
        ci = est.ci(lvl) if lvl is not None else (est.value, est.value)
        one_sided = None
        if getattr(rule, "one_sided", False):
            one_sided = {"lower": est.bound(lvl, "lower"), "upper": est.bound(lvl, "upper")}
        info = {r.name: r for r in self.claim.rivals}
        rivals = [{"name": o.name, "value": _value_json(o.value), "rejected": o.rejected,
                   "detail": o.detail, "trials_to_separate": o.trials_to_separate,
                   "proof": getattr(info.get(o.name), "proof", self.claim.proof
                                    if o.name == PREDICTION_NAME else None),
                   "note": getattr(info.get(o.name), "note", "")}
                  for o in self.verdict.rivals]
        return jsonable({
            "id": self.claim.id, "statement": self.claim.statement, "latex": self.claim.latex,
            "quantity": self.claim.quantity, "proof": self.claim.proof, "scale": self.scale,
            "parameters": dict(self.params), "prediction": _value_json(self.prediction),
            "rule": _rule_info(rule), "estimate": est.value, "stderr": est.stderr,
            "n_trials": est.n_trials, "dof": est.dof, "ci_level": lvl, "ci": list(ci),
            "one_sided_bounds": one_sided, "verdict": self.verdict.status,
            "reason": self.verdict.reason, "trials_to_decide": self.verdict.trials_to_decide,
            "rivals": rivals, "rivals_rejected": self.verdict.rivals_rejected,
            "planted": self.planted, "seconds": self.seconds, "extra": est.extra,
        })


def _value_json(v: Any) -> Any:
    if isinstance(v, (int, float, np.floating, np.integer)):
        return float(v)
    return _fmt(v)


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


def claims_without_rivals(claims: Mapping[str, Claim] | None = None) -> list[str]:
    """Ids of the claims that declare no rival although their rule is not an exact identity
    (:class:`ExactWithin`): the claims whose ``holds`` does not yet mean "and the nearest wrong
    answers are rejected"."""
    reg = registry() if claims is None else claims
    return sorted(cid for cid, c in reg.items()
                  if not c.rivals and not isinstance(c.rule, ExactWithin))


def _value(v: Any, rule: Any) -> Any:
    return float(v) if getattr(rule, "kind", "number") == "number" else v


def _planted(claim: Claim, prediction: Any, params: Mapping[str, Any]
             ) -> tuple[str, Any, dict[str, Any]]:
    """(name, value, rivals) of a planted run: the claim's prediction joins the rivals."""
    rule = claim.rule
    if isinstance(prediction, Rival):
        name, value = prediction.name, _value(prediction.predict(params), rule)
    elif callable(prediction) and rule.kind == "number":
        name, value = "planted", _value(prediction(params), rule)
    else:
        name, value = "planted", _value(prediction, rule)
    rivals = {PREDICTION_NAME: _value(claim.predict(params), rule)}
    rivals.update({r.name: _value(r.predict(params), rule) for r in claim.rivals
                   if r is not prediction and r.name != name})
    return name, value, rivals


def judge(claim: Claim, scale: str, params: Mapping[str, Any], est: Estimate, *,
          prediction: Any = None, seconds: float = 0.0) -> ClaimResult:
    """The verdict on ``claim`` for an estimate already computed (normal or planted).

    ``prediction``: None for the claim's own prediction and rivals; otherwise the planted value
    (a number, a law, a :class:`Rival`, or a function of the parameters), judged by
    ``claim.rule.for_planted()`` with the claim's prediction among the rivals.
    """
    if prediction is None:
        rule, name = claim.rule, None
        value = _value(claim.predict(params), rule)
        rivals = {r.name: _value(r.predict(params), rule) for r in claim.rivals}
    else:
        rule = claim.rule.for_planted()
        name, value, rivals = _planted(claim, prediction, params)
    verdict = rule.decide(value, est, rivals)
    return ClaimResult(claim, scale, params, value, est, verdict, seconds, name, rule)


def run_claim(claim: Claim, scale: str = "quick", seed: Any = 0, backend: str = "numpy",
              prediction: Any = None) -> ClaimResult:
    """Evaluate one claim: prediction, rivals, estimate and verdict at ``scale``.

    Parameters
    ----------
    claim : Claim
    scale : {"quick", "paper", "llm"}
    seed : int, SeedSequence or Generator
    backend : {"numpy", "cupy"}
    prediction : optional
        A planted prediction in place of the claim's (a number, or a law for a spectral claim;
        a :class:`Rival`; or a function of the parameters). The claim's own prediction then
        becomes a rival, so a planted wrong answer can never hold while the claim's prediction
        is consistent with the data.
    """
    params = claim.params(scale)
    t0 = time.perf_counter()
    est = claim.estimate(params, seed, backend)
    res = judge(claim, scale, params, est, prediction=prediction)
    return replace(res, seconds=time.perf_counter() - t0)


def planted_runs(result: ClaimResult) -> list[ClaimResult]:
    """One planted verdict per rival of ``result.claim``, reusing ``result``'s estimate (the
    same numbers a fresh ``run_claim(..., prediction=rival)`` with the same seed would give,
    without recomputing them). A rival is rejected when its planted verdict is ``fails``."""
    return [judge(result.claim, result.scale, result.params, result.estimate, prediction=r)
            for r in result.claim.rivals]


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
