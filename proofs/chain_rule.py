"""The chain rule gives every Hessian block of the linear model and of z = V φ(W x), CE and MSE.

Per sample, with ``A = ∂²ℓ/∂z²`` and ``g = ∂ℓ/∂z`` (CE: ``A = diag(p) − ppᵀ``, ``g = p − e_y``;
MSE: ``A = I``, ``g = z − e_y``), and parameters ordered as in :mod:`rmt.models` (rows of ``V``,
then rows of ``W``):

* Linear model ``z = V x``: ``H = A ⊗ x xᵀ``, i.e. block ``H_ij = A[i, j] x xᵀ``. Averaged over
  the sample, ``H_ij = (1/N) Σ_n A_n[i, j] x_n x_nᵀ``.
* One hidden layer ``z = V h``, ``h = φ(u)``, ``u = W x`` (write ``φ'``, ``φ''`` for the
  vectors ``φ'(u)``, ``φ''(u)`` and ``D = diag(φ'(u))``):

  - V–V: ``H_VV = A ⊗ h hᵀ`` — block ``(c, c')`` is ``A[c, c'] h hᵀ``;
  - W–W: ``H_WW = Γ ⊗ x xᵀ`` with ``Γ = D VᵀAV D + diag((Vᵀg) ∘ φ'')`` — block ``(k, l)`` is
    ``(v_kᵀ A v_l) φ'(u_k) φ'(u_l) x xᵀ + δ_kl (Σ_c g_c V_ck) φ''(u_k) x xᵀ`` (Gauss–Newton
    plus residual; ``v_k`` is column ``k`` of ``V``);
  - V–W: ``H_VW = (A V D) ⊗ (h xᵀ) + g ⊗ (D ⊗ xᵀ)`` — block ``(c, k)`` is
    ``(A V)[c, k] φ'(u_k) h xᵀ + g_c φ'(u_k) e_k xᵀ``.

The derivations differentiate the loss of small explicit symbolic models directly
(:func:`sympy.hessian` over every parameter) and compare with these formulas exactly; ``φ``
is a generic twice-differentiable function (:class:`phi`, whose derivatives are the
undefined functions :class:`dphi` and :class:`ddphi`). The formulas are returned as SymPy
matrix expressions in :class:`sympy.MatrixSymbol` arguments, ready for :func:`sympy.lambdify`
with the NumPy printer (``kron``, ``diagflat``, ``dot``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sympy as sp
from sympy.matrices.expressions.diagonal import DiagMatrix

from proofs import ProofResult, derivation, require
from proofs.softmax_hessian import ce_hessian_of_p, eliminate_exp, is_zero_rational, softmax_vector

__all__ = [
    "phi",
    "dphi",
    "ddphi",
    "SIZE_SYMBOLS",
    "MATRIX_SYMBOLS",
    "linear_sample_hessian",
    "hidden_sample_blocks",
    "loss_derivatives",
    "explicit_linear",
    "explicit_hidden",
    "difference_is_zero",
    "derive_linear",
    "derive_hidden",
]


class phi(sp.Function):
    """A generic activation φ; its derivative is :class:`dphi`."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return dphi(self.args[0])


class dphi(sp.Function):
    """φ′ of the generic activation; its derivative is :class:`ddphi`."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return ddphi(self.args[0])


class ddphi(sp.Function):
    """φ″ of the generic activation (never differentiated here)."""

    nargs = 1


#: Symbolic sizes: classes C, hidden width m, input dimension d, samples N.
SIZE_SYMBOLS = dict(zip("CmdN", sp.symbols("C m d N", integer=True, positive=True)))
_C, _m, _d, _N = (SIZE_SYMBOLS[k] for k in "CmdN")

#: The per-sample arguments of the block formulas (lambdify with these, in this order).
MATRIX_SYMBOLS = {
    "A": sp.MatrixSymbol("A", _C, _C),    # ∂²ℓ/∂z² (C×C)
    "g": sp.MatrixSymbol("g", _C, 1),     # ∂ℓ/∂z (C×1)
    "V": sp.MatrixSymbol("V", _C, _m),    # second-layer weights
    "h": sp.MatrixSymbol("h", _m, 1),     # features φ(u)
    "x": sp.MatrixSymbol("x", _d, 1),     # one sample
    "d1": sp.MatrixSymbol("d1", _m, 1),   # φ'(u)
    "d2": sp.MatrixSymbol("d2", _m, 1),   # φ''(u)
    "p": sp.MatrixSymbol("p", _C, 1),     # softmax probabilities
    "z": sp.MatrixSymbol("z", _C, 1),     # logits
    "e": sp.MatrixSymbol("e", _C, 1),     # one-hot target e_y
}


def linear_sample_hessian(A: Any, x: Any) -> sp.MatrixExpr:
    """Per-sample Hessian of the linear model in θ = V.ravel(): ``A ⊗ x xᵀ``.

    Parameters
    ----------
    A : sympy matrix (symbol or explicit), shape (C, C)
        Hessian of the loss in the logits.
    x : sympy matrix, shape (d, 1)
        The sample.

    Returns
    -------
    sympy.MatrixExpr, shape (C d, C d)
    """
    return sp.KroneckerProduct(A, x * x.T)


def hidden_sample_blocks(A: Any, g: Any, V: Any, h: Any, x: Any, d1: Any, d2: Any
                         ) -> dict[str, sp.MatrixExpr]:
    """Per-sample Hessian blocks of ``z = V φ(W x)`` in θ = concat(V.ravel(), W.ravel()).

    Parameters
    ----------
    A, g : sympy matrices, shapes (C, C) and (C, 1)
        Hessian and gradient of the loss in the logits.
    V : sympy matrix, shape (C, m)
    h, d1, d2 : sympy matrices, shape (m, 1)
        ``φ(u)``, ``φ'(u)``, ``φ''(u)`` at ``u = W x``.
    x : sympy matrix, shape (d, 1)

    Returns
    -------
    dict
        ``"VV"`` (Cm × Cm), ``"VW"`` (Cm × md), ``"WW"`` (md × md), ``"full"`` (the block
        matrix), and the W–W coefficient matrices ``"WW_coeff"`` (Γ, m × m),
        ``"WW_gn_coeff"`` (VᵀAV, without the φ′ factors) and ``"WW_residual_coeff"``.
    """
    D1 = DiagMatrix(d1)
    gn = V.T * A * V
    residual = DiagMatrix(sp.HadamardProduct(V.T * g, d2))
    gamma = D1 * gn * D1 + residual
    VV = sp.KroneckerProduct(A, h * h.T)
    VW = (sp.KroneckerProduct(A * V * D1, h * x.T)
          + sp.KroneckerProduct(g, sp.KroneckerProduct(D1, x.T)))
    WW = sp.KroneckerProduct(gamma, x * x.T)
    full = sp.BlockMatrix([[VV, VW], [VW.T, WW]])
    return {"VV": VV, "VW": VW, "WW": WW, "full": full, "WW_coeff": gamma,
            "WW_gn_coeff": gn, "WW_residual_coeff": residual}


def loss_derivatives(loss: str, z: Any, e: Any) -> tuple[Any, Any]:
    """``(A, g)`` — the logit Hessian and gradient of one sample's loss.

    Parameters
    ----------
    loss : {"ce", "mse"}
    z, e : sympy column matrices, shape (C, 1)
        Logits and the one-hot target.

    Returns
    -------
    A, g : sympy matrices
        CE: ``diag(p) − ppᵀ`` and ``p − e`` with ``p = softmax(z)``; MSE: ``I`` and ``z − e``.
    """
    z = sp.Matrix(z)
    if loss == "ce":
        p = softmax_vector(list(z))
        return ce_hessian_of_p(p), p - sp.Matrix(e)
    if loss == "mse":
        return sp.eye(z.shape[0]), z - sp.Matrix(e)
    raise ValueError(f"loss must be 'ce' or 'mse', got {loss!r}")


def _sample_loss(loss: str, z: sp.Matrix, y: int) -> sp.Expr:
    if loss == "ce":
        return sp.log(sp.Add(*[sp.exp(zc) for zc in z])) - z[y]
    return sp.Rational(1, 2) * sum((z[c] - int(c == y)) ** 2 for c in range(z.shape[0]))


def _one_hot(C: int, y: int) -> sp.Matrix:
    return sp.Matrix([int(c == y) for c in range(C)])


@lru_cache(maxsize=None)
def explicit_linear(C: int, d: int, N: int, loss: str) -> dict[str, Any]:
    """A small explicit symbolic linear model and its loss's Hessian by direct differentiation.

    Labels are ``y_n = n mod C``.

    Returns
    -------
    dict
        ``V`` (C×d symbols), ``X`` (N×d symbols), ``y``, ``theta`` (V.ravel()), ``logits``
        (list of C×1 matrices), ``loss``, ``hessian`` (the direct ``sympy.hessian``).
    """
    V = sp.Matrix(C, d, lambda c, j: sp.Symbol(f"V{c}_{j}", real=True))
    X = sp.Matrix(N, d, lambda n, j: sp.Symbol(f"x{n}_{j}", real=True))
    y = [n % C for n in range(N)]
    logits = [V * X[n, :].T for n in range(N)]
    ell = sp.Add(*[_sample_loss(loss, logits[n], y[n]) for n in range(N)]) / N
    theta = list(V)  # row-major: rows of V in order
    return {"V": V, "X": X, "y": y, "theta": theta, "logits": logits, "loss": ell,
            "hessian": sp.hessian(ell, theta)}


@lru_cache(maxsize=None)
def explicit_hidden(C: int, m: int, d: int, N: int, loss: str) -> dict[str, Any]:
    """A small explicit symbolic one-hidden-layer net with generic φ, and its direct Hessian.

    Labels are ``y_n = n mod C``.

    Returns
    -------
    dict
        ``V`` (C×m), ``W`` (m×d), ``X`` (N×d), ``y``, ``theta``, ``pre`` (list of m×1 ``u_n``),
        ``logits``, ``loss``, ``hessian``.
    """
    V = sp.Matrix(C, m, lambda c, k: sp.Symbol(f"V{c}_{k}", real=True))
    W = sp.Matrix(m, d, lambda k, j: sp.Symbol(f"W{k}_{j}", real=True))
    X = sp.Matrix(N, d, lambda n, j: sp.Symbol(f"x{n}_{j}", real=True))
    y = [n % C for n in range(N)]
    pre = [W * X[n, :].T for n in range(N)]
    logits = [V * u.applyfunc(phi) for u in pre]
    ell = sp.Add(*[_sample_loss(loss, logits[n], y[n]) for n in range(N)]) / N
    theta = list(V) + list(W)
    return {"V": V, "W": W, "X": X, "y": y, "theta": theta, "pre": pre, "logits": logits,
            "loss": ell, "hessian": sp.hessian(ell, theta)}


def difference_is_zero(diff: sp.Matrix, logits: list[sp.Matrix], loss: str,
                        rename: dict | None = None) -> bool:
    """Exact zero test of a matrix difference: rename φ-values and exponentials, then cancel.

    CE: each exponential ``e^{k z_{n,c}}`` becomes ``t_{n,c}^k``. A loss averaged over samples
    is a sum of per-sample terms, each carrying at most ``1/S_n²`` (``S_n = Σ_c t_{n,c}``); the
    terms of an entry are grouped by the samples whose ``t`` they contain and each group is
    multiplied by its ``Π S_n²`` and expanded. All groups expanding to zero proves the entry
    zero; otherwise the whole entry goes to :func:`sympy.cancel`, which decides.
    """
    if rename:
        diff = diff.xreplace(rename)
    if loss == "mse":
        return all(sp.expand(e) == 0 for e in diff)
    exponents, names, owner, S2 = [], [], {}, []
    for n, z in enumerate(logits):
        zz = z.xreplace(rename) if rename else z
        t = sp.symbols(f"t{n}_0:{len(zz)}", positive=True)
        exponents += list(zz)
        names += list(t)
        owner.update({ti: n for ti in t})
        S2.append(sp.Add(*t) ** 2)

    def primitive_base(pw: sp.Pow) -> sp.Expr:
        k, core = pw.base.as_content_primitive()  # (2S)^e -> 2^e S^e, so that S is one atom
        return k ** pw.exp * core ** pw.exp

    def zero(e: sp.Expr) -> bool:
        e = eliminate_exp(e, exponents, names)
        groups: dict[frozenset, list] = {}
        for term in sp.Add.make_args(sp.expand(e, mul=True, multinomial=False, power_exp=False,
                                               power_base=False, log=False)):
            # expand writes 1/(2S) as 1/(2t_0 + 2t_1 + …); restore S as one atom afterwards
            term = term.replace(lambda q: q.is_Pow and q.base.is_Add and q.exp.is_negative,
                                primitive_base)
            key = frozenset(owner[s] for s in term.free_symbols if s in owner)
            groups.setdefault(key, []).append(term)
        # multiply term by term, so that S^-k · S² merges into one power before expanding
        if all(sp.expand(sp.Add(*[tm * sp.Mul(*[S2[n] for n in key]) for tm in terms])) == 0
               for key, terms in groups.items()):
            return True
        return is_zero_rational(e)

    return all(zero(e) for e in diff)


def _matrix_symbols_for_lambdify(*names: str) -> tuple[sp.MatrixSymbol, ...]:
    return tuple(MATRIX_SYMBOLS[k] for k in names)


def derive_linear(C: int = 3, d: int = 2, N: int = 2) -> ProofResult:
    """Direct Hessian of the explicit linear model equals ``(1/N) Σ_n A_n ⊗ x_n x_nᵀ`` (CE, MSE).

    Parameters
    ----------
    C, d, N : int
        Sizes of the explicit model.

    Returns
    -------
    ProofResult
        ``objects["linear_hessian_sample"]`` (``A ⊗ x xᵀ`` in MatrixSymbols ``A, x``, arguments
        ``objects["args_linear"]``), ``objects["linear_block_sample"]`` (``A[i, j] x xᵀ`` in
        ``A, x, i, j``), ``objects["A_ce"]``, ``objects["g_ce"]``, ``objects["A_mse"]``,
        ``objects["g_mse"]`` (in MatrixSymbols ``p, z, e``).
    """
    lines = []
    for loss in ("ce", "mse"):
        model = explicit_linear(C, d, N, loss)
        X = model["X"]
        formula = sp.zeros(C * d, C * d)
        for n in range(N):
            A, _ = loss_derivatives(loss, model["logits"][n], _one_hot(C, model["y"][n]))
            x = sp.ImmutableMatrix(X[n, :].T)
            formula += sp.Matrix(linear_sample_hessian(sp.ImmutableMatrix(A), x).as_explicit())
        formula /= N
        same = difference_is_zero(model["hessian"] - formula, model["logits"], loss)
        require(f"linear {loss.upper()} Hessian = (1/N) Σ A_n ⊗ x_n x_nᵀ", same)
        lines.append(f"linear {loss.upper()} (C={C}, d={d}, N={N}): direct Hessian == "
                     f"(1/N) Σ A_n ⊗ x_n x_nᵀ: {same}")
    A, x, p, z, e = _matrix_symbols_for_lambdify("A", "x", "p", "z", "e")
    i, j = sp.symbols("i j", integer=True, nonnegative=True)
    objects = {
        "linear_hessian_sample": linear_sample_hessian(A, x),
        "linear_block_sample": A[i, j] * x * x.T,
        "args_linear": (A, x),
        "block_indices": (i, j),
        "A_ce": DiagMatrix(p) - p * p.T,
        "g_ce": p - e,
        "A_mse": sp.Identity(_C),
        "g_mse": z - e,
        "sizes": SIZE_SYMBOLS,
    }
    return ProofResult(True, objects, "; ".join(lines))


def derive_hidden(C: int = 3, m: int = 2, d: int = 2, N: int = 1) -> ProofResult:
    """Direct Hessian of the explicit one-hidden-layer net equals the block formulas (CE, MSE).

    Parameters
    ----------
    C, m, d, N : int
        Sizes of the explicit model (φ generic).

    Returns
    -------
    ProofResult
        ``objects["hidden_VV"]``, ``["hidden_VW"]``, ``["hidden_WW"]``, ``["hidden_full"]``,
        ``["hidden_WW_coeff"]``, ``["hidden_WW_gn_coeff"]``, ``["hidden_WW_residual_coeff"]``:
        per-sample SymPy matrix expressions in the MatrixSymbols ``objects["args_hidden"] =
        (A, g, V, h, x, d1, d2)``; average them over samples for the loss's Hessian.
    """
    lines = []
    for loss in ("ce", "mse"):
        model = explicit_hidden(C, m, d, N, loss)
        X, V = model["X"], model["V"]
        formula = sp.zeros(C * m + m * d, C * m + m * d)
        rename = {}
        for n in range(N):
            u = model["pre"][n]
            A, g = loss_derivatives(loss, model["logits"][n], _one_hot(C, model["y"][n]))
            args = [sp.ImmutableMatrix(a) for a in (A, g, V, u.applyfunc(phi), X[n, :].T,
                                                    u.applyfunc(dphi), u.applyfunc(ddphi))]
            blocks = hidden_sample_blocks(*args)
            formula += sp.Matrix(blocks["full"].as_explicit())
            for k in range(m):  # name φ(u_k), φ'(u_k), φ''(u_k) so that cancel sees symbols
                for f, tag in ((phi, "f"), (dphi, "fp"), (ddphi, "fpp")):
                    rename[f(u[k])] = sp.Symbol(f"{tag}{n}_{k}", real=True)
        formula /= N
        same = difference_is_zero(model["hessian"] - formula, model["logits"], loss, rename)
        require(f"hidden-layer {loss.upper()} Hessian blocks match the chain rule", same)
        lines.append(f"hidden {loss.upper()} (C={C}, m={m}, d={d}, N={N}, generic φ): direct "
                     f"Hessian == [[A⊗hhᵀ, (AVD)⊗hxᵀ + g⊗(D⊗xᵀ)], [·ᵀ, Γ⊗xxᵀ]]: {same}")
    args = _matrix_symbols_for_lambdify("A", "g", "V", "h", "x", "d1", "d2")
    blocks = hidden_sample_blocks(*args)
    objects = {f"hidden_{k}": v for k, v in blocks.items()}
    objects.update({"args_hidden": args, "sizes": SIZE_SYMBOLS})
    return ProofResult(True, objects, "; ".join(lines))


@derivation("chain_rule.linear",
            "Linear model z = Vx, CE and MSE: H_ij = (1/N) Σ_n A_n[i,j] x_n x_nᵀ with "
            "A = diag(p) − ppᵀ (CE) or I (MSE).")
def _linear() -> ProofResult:
    """Linear model, CE and MSE: H_ij = (1/N) Σ_n A_n[i,j] x_n x_nᵀ (checked at C=3, d=2, N=2)."""
    return derive_linear()


@derivation("chain_rule.hidden",
            "z = Vφ(Wx), CE and MSE: H_VV = A⊗hhᵀ, H_WW = (D VᵀAV D + diag(Vᵀg∘φ''))⊗xxᵀ, "
            "H_VW = (AVD)⊗hxᵀ + g⊗(D⊗xᵀ) per sample.")
def _hidden() -> ProofResult:
    """z = Vφ(Wx), CE and MSE: the V–V, W–W, V–W block formulas hold (C=3, m=2, d=2, generic φ)."""
    return derive_hidden()
