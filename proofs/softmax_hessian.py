"""The cross-entropy Hessian in the logits is diag(p) − ppᵀ, and the label drops out.

For logits ``z ∈ R^C`` and label ``y``, ``ℓ(z) = −log softmax(z)_y = −z_y + log Σ_c e^{z_c}``.
Differentiating twice gives ``∂²ℓ/∂z_i∂z_j = δ_ij p_i − p_i p_j`` with ``p = softmax(z)``;
``y`` enters only the term ``−z_y``, which is linear and so leaves the Hessian.

Two derivations:

* ``softmax_hessian.explicit``: for every ``C = 2..6`` and every label ``y``, SymPy's
  :func:`sympy.hessian` of ``−log(e^{z_y} / Σ_c e^{z_c})`` equals ``diag(p) − ppᵀ`` exactly.
* ``softmax_hessian.index``: the same in index form for a symbolic number of classes ``C``,
  with :class:`sympy.Sum` and :class:`sympy.KroneckerDelta`.

Exact comparison. After differentiation every expression is a rational function of the
exponentials ``e^{z_c}``; :func:`eliminate_exp` renames each ``e^{k z_c}`` to ``t_c^k`` (and
refuses anything else), and :func:`sympy.cancel` decides equality of the rational functions
exactly. The helpers here are reused by :mod:`proofs.chain_rule` and :mod:`proofs.identities`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Sequence

import sympy as sp

from proofs import ProofResult, derivation, require

__all__ = [
    "EXPLICIT_CLASSES",
    "logit_symbols",
    "softmax_vector",
    "logit_hessian_matrix",
    "ce_hessian_of_p",
    "eliminate_exp",
    "is_zero_rational",
    "sift_in_range",
    "derive_explicit",
    "derive_index",
]

#: Numbers of classes for which the explicit derivation is carried out.
EXPLICIT_CLASSES = (2, 3, 4, 5, 6)


@lru_cache(maxsize=None)
def logit_symbols(C: int) -> tuple[sp.Symbol, ...]:
    """Real logit symbols ``z0, …, z{C−1}``.

    Parameters
    ----------
    C : int, >= 2
        Number of classes.

    Returns
    -------
    tuple of sympy.Symbol
    """
    if int(C) != C or C < 2:
        raise ValueError(f"C must be an integer >= 2, got {C!r}")
    return sp.symbols(f"z0:{int(C)}", real=True)


def softmax_vector(z: Sequence[sp.Expr]) -> sp.Matrix:
    """``softmax(z)`` as a SymPy column: ``e^{z_i} / Σ_c e^{z_c}``.

    Parameters
    ----------
    z : sequence of sympy.Expr
        Logits (symbols or expressions).

    Returns
    -------
    sympy.Matrix, shape (C, 1)
    """
    e = [sp.exp(zi) for zi in z]
    S = sp.Add(*e)
    return sp.Matrix([ei / S for ei in e])


def ce_hessian_of_p(p: sp.Matrix) -> sp.Matrix:
    """The closed form ``A = diag(p) − ppᵀ`` for a column ``p``.

    Parameters
    ----------
    p : sympy.Matrix, shape (C, 1)

    Returns
    -------
    sympy.Matrix, shape (C, C)
    """
    p = sp.Matrix(p)
    return sp.diag(*p) - p * p.T


@lru_cache(maxsize=None)
def logit_hessian_matrix(C: int) -> tuple[tuple[sp.Symbol, ...], sp.ImmutableMatrix]:
    """The CE Hessian in the logits as a SymPy matrix function of ``z``.

    Parameters
    ----------
    C : int, >= 2
        Number of classes.

    Returns
    -------
    z : tuple of sympy.Symbol
        The logit symbols (the arguments to lambdify with).
    A : sympy.ImmutableMatrix, shape (C, C)
        ``diag(p) − ppᵀ`` with ``p = softmax(z)``, independent of the label.

    Examples
    --------
    >>> import numpy as np, sympy as sp
    >>> z, A = logit_hessian_matrix(2)
    >>> f = sp.lambdify(z, A, "numpy")
    >>> np.allclose(f(0.0, 0.0), [[0.25, -0.25], [-0.25, 0.25]])
    True
    """
    z = logit_symbols(C)
    return z, sp.ImmutableMatrix(ce_hessian_of_p(softmax_vector(z)))


def eliminate_exp(expr: sp.Expr, exponents: Sequence[sp.Expr],
                  names: Sequence[sp.Symbol]) -> sp.Expr:
    """Rename every ``exp(k · a_c)`` in ``expr`` to ``t_c**k``.

    SymPy merges ``exp(a)·exp(a)`` into ``exp(2a)``, so plain substitution misses powers; this
    matches each exponential's argument against the given exponents ``a_c`` and accepts only a
    rational multiple of one of them. An exponential of any other argument raises, so a
    successful return is a rational function of the ``t_c`` and the other symbols.

    Parameters
    ----------
    expr : sympy.Expr
    exponents : sequence of sympy.Expr
        The arguments ``a_c`` (logits) whose exponentials are renamed.
    names : sequence of sympy.Symbol
        The symbols ``t_c`` replacing ``exp(a_c)``; same length as ``exponents``.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ValueError
        If an exponential's argument is not a rational multiple of one ``a_c``.
    """
    if len(exponents) != len(names):
        raise ValueError("exponents and names must have the same length")
    exps = [sp.expand(a) for a in exponents]
    fast = {}
    for a, t in zip(exps, names):
        k, core = a.as_content_primitive()
        if core in fast:
            raise ValueError(f"exponents {a} and another are rational multiples of each other")
        fast[core] = (k, t)

    def rename(arg: sp.Expr) -> sp.Expr:
        arg = sp.expand(arg)
        k, core = arg.as_content_primitive()
        if core in fast:  # fast path: arg = k·core and a_c = k_c·core
            k_c, t = fast[core]
            return t ** (k / k_c)
        for a, t in zip(exps, names):
            k = sp.cancel(arg / a)
            if k.is_Rational:
                return t ** k
        raise ValueError(f"exp({arg}) is not a rational multiple of a given exponent")

    return expr.replace(lambda e: isinstance(e, sp.exp), lambda e: rename(e.args[0]))


def is_zero_rational(expr: sp.Expr) -> bool:
    """Exact test that a rational function (free of ``exp``) is identically zero.

    :func:`sympy.cancel` brings ``expr`` to one reduced fraction, which is zero exactly when
    its numerator polynomial is.
    """
    if expr.has(sp.exp):
        raise ValueError("is_zero_rational needs an expression free of exp; call eliminate_exp")
    return sp.cancel(expr) == 0


def sift_in_range(expr: sp.Expr, indices: Iterable[sp.Symbol], C: sp.Expr) -> sp.Expr:
    """Resolve the range conditions left by ``Sum(f(c)·δ_{c,i}, (c, 0, C−1)).doit()``.

    SymPy evaluates the sifting sum to ``Piecewise((f(i), i <= C − 1), (…, True))``. Under the
    standing assumption that every free index lies in ``{0, …, C−1}`` (indices are declared
    non-negative integers, so only the upper bound remains), the first branch is taken. Any
    Piecewise whose first condition is not such a range condition raises, so nothing else is
    silently simplified.

    Parameters
    ----------
    expr : sympy.Expr
    indices : iterable of sympy.Symbol
        The free indices assumed to lie in ``{0, …, C−1}``.
    C : sympy.Expr
        The number of classes (the sum runs to ``C − 1``).

    Returns
    -------
    sympy.Expr
    """
    allowed = set()
    for i in indices:
        allowed |= {sp.Le(i, C - 1), sp.Lt(i, C), sp.Ge(C - 1, i), sp.Gt(C, i)}
        allowed |= {sp.Le(i - C, -1), sp.Lt(i - C, 0)}

    def first_branch(*args: sp.Tuple) -> sp.Expr:
        (val, cond), rest = args[0], args[1:]
        conds = cond.args if isinstance(cond, sp.And) else (cond,)
        if not all(c in allowed for c in conds) or not rest:
            raise ValueError(f"unexpected Piecewise condition {cond}")
        return val

    return expr.replace(sp.Piecewise, first_branch)


def derive_explicit(classes: Iterable[int] = EXPLICIT_CLASSES) -> ProofResult:
    """Differentiate ``−log softmax(z)_y`` twice for explicit ``C`` and every ``y``.

    Parameters
    ----------
    classes : iterable of int
        The numbers of classes to treat.

    Returns
    -------
    ProofResult
        ``objects["logit_hessian"][C]`` (a ``C×C`` SymPy matrix in ``objects["logit_symbols"][C]``),
        ``objects["grad"][C][y]`` (the gradient ``p − e_y``).
    """
    hess, syms, grads, lines = {}, {}, {}, []
    for C in classes:
        z, A = logit_hessian_matrix(C)
        t = sp.symbols(f"t0:{C}", positive=True)
        p = softmax_vector(z)
        grads[C] = {}
        A_t = A.applyfunc(lambda e: eliminate_exp(e, z, t))
        ok_C = True
        for y in range(C):
            ell = -sp.log(sp.exp(z[y]) / sp.Add(*[sp.exp(zc) for zc in z]))
            grad = sp.Matrix([sp.diff(ell, zi) for zi in z])
            H = sp.hessian(ell, z)
            H_t = H.applyfunc(lambda e: eliminate_exp(e, z, t))
            same = all(is_zero_rational(e) for e in (H_t - A_t))
            e_y = sp.Matrix([int(c == y) for c in range(C)])
            g_ok = all(is_zero_rational(eliminate_exp(e, z, t)) for e in (grad - (p - e_y)))
            grads[C][y] = sp.ImmutableMatrix(p - e_y)
            # labels drop out: every label's Hessian equals the same label-free A
            ok_C &= same and g_ok
        require(f"gradient p − e_y and label-free Hessian A at C = {C}", ok_C)
        hess[C], syms[C] = A, z
        lines.append(f"C={C}: hessian(−log softmax_y) == diag(p) − ppᵀ, gradient == p − e_y, "
                     f"for all {C} labels: {ok_C}")
    return ProofResult(True, {"logit_hessian": hess, "logit_symbols": syms, "grad": grads},
                       "; ".join(lines))


def derive_index() -> ProofResult:
    """Index form for symbolic ``C``: ``∂_i ℓ = p_i − δ_iy`` and ``∂_j∂_i ℓ = δ_ij p_i − p_i p_j``.

    Returns
    -------
    ProofResult
        ``objects["A_index"]`` (``δ_ij p_i − p_i p_j`` in the IndexedBase ``p``),
        ``objects["A_index_z"]`` (the same with ``p_i = e^{z_i}/Σ_c e^{z_c}``),
        ``objects["grad_index"]``, and the symbols ``C, i, j, y`` and bases ``z, p``.
    """
    C = sp.Symbol("C", integer=True, positive=True)
    i, j, y, c = sp.symbols("i j y c", integer=True, nonnegative=True)
    z = sp.IndexedBase("z", real=True)
    pb = sp.IndexedBase("p", positive=True)
    S = sp.Sum(sp.exp(z[c]), (c, 0, C - 1))
    ell = -z[y] + sp.log(S)  # = −log(e^{z_y}/S), written without the log of a quotient
    p = lambda k: sp.exp(z[k]) / S  # noqa: E731 - the softmax in index form
    g = sift_in_range(sp.diff(ell, z[i]).doit(), [i, j, y], C)
    H = sift_in_range(sp.diff(g, z[j]).doit(), [i, j, y], C)
    A_z = sp.KroneckerDelta(i, j) * p(i) - p(i) * p(j)
    g_ok = sp.simplify(g - (p(i) - sp.KroneckerDelta(i, y))) == 0
    H_ok = sp.simplify(H - A_z) == 0
    label_free = not H.has(y)
    A_p = sp.KroneckerDelta(i, j) * pb[i] - pb[i] * pb[j]
    require("∂ℓ/∂z_i = p_i − δ_iy", g_ok)
    require("∂²ℓ/∂z_i∂z_j = δ_ij p_i − p_i p_j", H_ok)
    require("the Hessian does not depend on the label", label_free)
    detail = (f"∂ℓ/∂z_i = p_i − δ_iy: {g_ok}; ∂²ℓ/∂z_i∂z_j = δ_ij p_i − p_i p_j: {H_ok}; "
              f"Hessian free of y: {label_free}")
    return ProofResult(True, {"A_index": A_p, "A_index_z": A_z, "grad_index": g,
                            "C": C, "i": i, "j": j, "y": y, "z": z, "p": pb}, detail)


@derivation("softmax_hessian.explicit",
            "For C = 2..6 and every label y, the Hessian of −log softmax(z)_y in z is "
            "diag(p) − ppᵀ (labels drop out).")
def _explicit() -> ProofResult:
    """For C = 2..6 and every label y, ∇²_z(−log softmax(z)_y) = diag(p) − ppᵀ."""
    return derive_explicit()


@derivation("softmax_hessian.index",
            "For any C, ∂²(−log softmax(z)_y)/∂z_i∂z_j = δ_ij p_i − p_i p_j, independent of y.")
def _index() -> ProofResult:
    """For symbolic C, ∂²(−log softmax(z)_y)/∂z_i∂z_j = δ_ij p_i − p_i p_j, free of y."""
    return derive_index()
