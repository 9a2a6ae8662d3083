"""Symbolic derivations (SymPy) of every claim rmt verifies.

Each proof module derives one family of claims. A derivation is a function decorated with
:func:`derivation`; it returns a :class:`ProofResult` whose ``objects`` are the SymPy results
(that :mod:`rmt.claims` lambdifies into predictions) and whose ``passed`` says whether the
symbolic check succeeded. ``rmt prove`` runs them all (:func:`run_all`).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["ProofResult", "Derivation", "derivation", "registry", "run_all", "PROOF_MODULES"]

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


_REGISTRY: dict[str, Derivation] = {}


def derivation(id: str, statement: str) -> Callable[[Callable[[], ProofResult]], Callable[[], ProofResult]]:
    """Register ``func`` as the derivation ``id`` with a one-line ``statement``."""

    def wrap(func: Callable[[], ProofResult]) -> Callable[[], ProofResult]:
        if id in _REGISTRY and _REGISTRY[id].func.__qualname__ != func.__qualname__:
            raise ValueError(f"derivation id {id!r} is registered twice")
        _REGISTRY[id] = Derivation(id, statement, func.__module__, func)
        return func

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
