"""Symbolic derivations (SymPy) of every claim rmt verifies.

Each proof module derives one family of claims. A derivation is a function decorated with
:func:`derivation`; it returns a :class:`ProofResult` whose ``objects`` are the SymPy results,
by name (that :mod:`rmt.claims` lambdifies into predictions; symbols too are returned in
dicts by name, never in positional tuples), and whose ``passed`` says whether the symbolic
check succeeded. Each check is a :func:`require` naming its step: the first that fails ends the
derivation with ``passed = False`` and the step's name in ``detail``. ``rmt prove`` runs them
all (:func:`run_all`).
"""

from __future__ import annotations

import functools
import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["ProofResult", "Derivation", "DerivationStepFailed", "derivation", "require",
           "by_name", "registry", "run_all", "PROOF_MODULES"]

#: Proof modules in the order ``rmt prove`` runs them; a module missing here is not run.
PROOF_MODULES = (
    "proofs.softmax_hessian",
    "proofs.chain_rule",
    "proofs.identities",
    "proofs.hidden_coupling",
    "proofs.mp_moments",
    "proofs.free_cumulants",
    "proofs.large_c",
    "proofs.block_norm_limits",
    "proofs.finite_c_ratio",
    "proofs.lindeberg",
    "proofs.cross_layer",
    "proofs.esd_moments",
    "proofs.hidden_finite_sigma",
    "proofs.preconditioners",
)


@dataclass
class ProofResult:
    """Outcome of one derivation: did the symbolic check pass, what was derived, and how."""

    passed: bool
    objects: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class Derivation:
    """A registered derivation: identifier, one-line statement and the function deriving it."""

    id: str
    statement: str
    module: str
    func: Callable[[], ProofResult]

    def run(self) -> ProofResult:
        return self.func()


class DerivationStepFailed(AssertionError):
    """A step of a derivation did not hold; ``step`` names it."""

    def __init__(self, step: str) -> None:
        super().__init__(f"step failed: {step}")
        self.step = step


def require(step: str, condition: Any) -> None:
    """Check one step of a derivation: raise :class:`DerivationStepFailed` naming ``step`` unless
    ``condition`` is true (a SymPy relational must evaluate to a truth value).

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> require("(x + 1)² expands", sp.expand((x + 1)**2 - x**2 - 2*x - 1) == 0)
    >>> require("x² = x", sp.expand(x**2 - x) == 0)
    Traceback (most recent call last):
    ...
    proofs.DerivationStepFailed: step failed: x² = x
    """
    if not bool(condition):
        raise DerivationStepFailed(step)


def by_name(*symbols: Any) -> dict[str, Any]:
    """SymPy symbols in a dict keyed by their names (what a derivation returns as
    ``objects["symbols"]``, so a consumer looks each one up by name, never by position)."""
    out = {str(s.name): s for s in symbols}
    if len(out) != len(symbols):
        raise ValueError(f"symbols must have distinct names, got {[s.name for s in symbols]}")
    return out


_REGISTRY: dict[str, Derivation] = {}


def derivation(id: str, statement: str) -> Callable[[Callable[[], ProofResult]], Callable[[], ProofResult]]:
    """Register ``func`` as the derivation ``id`` with a one-line ``statement``.

    The registered function returns ``ProofResult(False, {}, "step failed: …")`` when one of its
    :func:`require` steps fails.
    """

    def wrap(func: Callable[[], ProofResult]) -> Callable[[], ProofResult]:
        if id in _REGISTRY and _REGISTRY[id].func.__qualname__ != func.__qualname__:
            raise ValueError(f"derivation id {id!r} is registered twice")

        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> ProofResult:
            try:
                return func(*args, **kwargs)
            except DerivationStepFailed as exc:
                return ProofResult(False, {}, f"{id}: {exc}")

        _REGISTRY[id] = Derivation(id, statement, func.__module__, checked)
        return checked

    return wrap


def registry() -> dict[str, Derivation]:
    """All derivations, importing every module of :data:`PROOF_MODULES` that exists."""
    for name in PROOF_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return dict(_REGISTRY)


def run_all(ids: list[str] | None = None) -> list[tuple[Derivation, ProofResult, float]]:
    """Run derivations (all, or those in ``ids``); return ``(derivation, result, seconds)``.

    A derivation that raises is reported as failed with the exception in ``detail``.
    """
    reg = registry()
    if ids:
        unknown = sorted(set(ids) - set(reg))
        if unknown:
            raise ValueError(f"unknown derivation id(s) {unknown}; known: {sorted(reg)}")
        chosen = [reg[i] for i in ids]
    else:
        chosen = list(reg.values())
    out = []
    for d in chosen:
        t0 = time.perf_counter()
        try:
            res = d.run()
        except Exception as exc:  # report, do not crash the whole table
            res = ProofResult(False, {}, f"raised {type(exc).__name__}: {exc}")
        out.append((d, res, time.perf_counter() - t0))
    return out
