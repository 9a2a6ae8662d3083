"""Linear model: Σ_j H_ij = 0, H ⪰ 0, MSE H = I_C ⊗ XᵀX/N, and V = 0 block ratios 1/(C−1), 1/√(C−1).

* ``identities.row_sums``: ``Σ_j A[i, j] = p_i (1 − Σ_j p_j) = 0`` on the simplex, hence
  ``Σ_j H_ij = (1/N) Σ_n (Σ_j A_n[i, j]) x_n x_nᵀ = 0`` (CE, linear): shifting every row of ``V``
  by the same vector leaves the softmax, hence the loss, unchanged.
* ``identities.psd``: ``vᵀAv = Σ_i p_i v_i² − (Σ_i p_i v_i)² = ½ Σ_{i,j} p_i p_j (v_i − v_j)²``
  when ``Σ p = 1`` — the variance of ``v`` under ``p``, a sum of squares with non-negative
  weights — hence ``θᵀHθ = (1/N) Σ_n a_nᵀ A_n a_n ≥ 0`` with ``a_n = Θ x_n``.
* ``identities.mse_linear``: for MSE, ``H = I_C ⊗ XᵀX/N`` exactly (off-diagonal blocks vanish).
* ``identities.uniform_ratio``: at ``V = 0`` every ``p_n = 1/C``, so ``A_ii = (C − 1)/C²``,
  ``A_ij = −1/C²`` and ``H_ij = A_ij XᵀX/N``; hence ``‖H_ij‖_F / ‖H_ii‖_F = 1/(C − 1)`` per block
  and ``(Σ_{i≠j} ‖H_ij‖²_F / Σ_i ‖H_ii‖²_F)^{1/2} = 1/√(C − 1)``, for every ``X``.

Each identity is proved for symbolic ``C`` where SymPy can carry the sum, and checked on the
Hessian of small explicit models obtained by direct differentiation
(:func:`proofs.chain_rule.explicit_linear`), not on the block formula.
"""

from __future__ import annotations

import sympy as sp

from proofs import ProofResult, derivation, require
from proofs.chain_rule import difference_is_zero, explicit_linear
from proofs.softmax_hessian import sift_in_range

__all__ = ["C", "derive_row_sums", "derive_psd", "derive_mse_linear", "derive_uniform_ratio"]

#: The number of classes, as a symbol (all results below are expressions in it).
C = sp.Symbol("C", integer=True, positive=True)


def _block(H: sp.Matrix, i: int, j: int, d: int) -> sp.Matrix:
    return H[i * d:(i + 1) * d, j * d:(j + 1) * d]


def derive_row_sums(sizes: tuple[int, int, int] = (3, 2, 2)) -> ProofResult:
    """``Σ_j A[i, j] = 0`` for symbolic ``C``; ``Σ_j H_ij = 0`` on an explicit linear CE model.

    Parameters
    ----------
    sizes : (C, d, N)
        Sizes of the explicit model whose direct Hessian is checked.

    Returns
    -------
    ProofResult
        ``objects["row_sum_A"]`` (``Σ_j (δ_ij p_i − p_i p_j)`` before using ``Σ p = 1``: the
        expression ``p_i − p_i Σ_j p_j``), ``objects["row_sum_A_on_simplex"]`` (0).
    """
    i, j = sp.symbols("i j", integer=True, nonnegative=True)
    p = sp.IndexedBase("p", positive=True)
    row = sift_in_range(sp.Sum(sp.KroneckerDelta(i, j) * p[i] - p[i] * p[j], (j, 0, C - 1)).doit(),
                        [i], C)
    row = sp.factor_terms(row)  # pulls p_i out of Σ_j p_i p_j (linearity of the sum)
    total = sp.Sum(p[j], (j, 0, C - 1))
    generic = sp.expand(row - p[i] * (1 - total)) == 0
    on_simplex = sp.expand(row.subs(total, 1)) == 0
    explicit = True
    for Ck in range(2, 7):  # the same with explicit symbols, no index bookkeeping
        ps = sp.symbols(f"p0:{Ck}", positive=True)
        A = sp.diag(*ps) - sp.Matrix(ps) * sp.Matrix(ps).T
        explicit &= all(sp.expand(sum(A[a, :]) - ps[a] * (1 - sum(ps))) == 0 for a in range(Ck))
    Cn, d, N = sizes
    model = explicit_linear(Cn, d, N, "ce")
    H = model["hessian"]
    sums = sp.Matrix.vstack(*[sum((_block(H, a, b, d) for b in range(Cn)), sp.zeros(d, d))
                              for a in range(Cn)])
    hess = difference_is_zero(sums, model["logits"], "ce")
    require("Σ_j A_ij = p_i(1 − Σp) for symbolic C", generic)
    require("Σ_j A_ij = 0 on the simplex", on_simplex)
    require("row sums with explicit symbols, C = 2..6", explicit)
    require("block row sums of the direct Hessian vanish", hess)
    detail = (f"Σ_j A_ij = p_i(1 − Σp) for symbolic C: {generic}; = 0 when Σp = 1: {on_simplex}; "
              f"explicit C = 2..6: {explicit}; direct Hessian of the linear CE model "
              f"(C={Cn}, d={d}, N={N}) has Σ_j H_ij = 0: {hess}")
    return ProofResult(True, {"row_sum_A": row, "row_sum_A_on_simplex": sp.Integer(0), "C": C,
                            "i": i, "p": p}, detail)


def derive_psd(sizes: tuple[int, int, int] = (3, 2, 2)) -> ProofResult:
    """Sum-of-squares certificate for ``A ⪰ 0`` and, through it, ``H ⪰ 0`` (linear CE).

    Parameters
    ----------
    sizes : (C, d, N)
        Sizes of the explicit model whose direct Hessian's quadratic form is certified.

    Returns
    -------
    ProofResult
        ``objects["quadratic_form_A"]`` (``Σ p_i v_i² − (Σ p_i v_i)²`` in index form),
        ``objects["sos_certificate"]`` (``½ Σ_{i,j} p_i p_j (v_i − v_j)²``),
        ``objects["certificate_remainder"]`` (``(1 − Σ p) Σ p_i v_i²``, zero on the simplex).
    """
    i, j = sp.symbols("i j", integer=True, nonnegative=True)
    pb, vb = sp.IndexedBase("p", positive=True), sp.IndexedBase("v", real=True)
    quad = sp.Sum(pb[i] * vb[i] ** 2, (i, 0, C - 1)) - sp.Sum(pb[i] * vb[i], (i, 0, C - 1)) ** 2
    cert = sp.Sum(pb[i] * pb[j] * (vb[i] - vb[j]) ** 2, (i, 0, C - 1), (j, 0, C - 1)) / 2
    rem = (1 - sp.Sum(pb[j], (j, 0, C - 1))) * sp.Sum(pb[i] * vb[i] ** 2, (i, 0, C - 1))
    explicit = True
    for Ck in range(2, 9):
        ps = sp.symbols(f"p0:{Ck}", positive=True)
        vs = sp.symbols(f"v0:{Ck}", real=True)
        A = sp.diag(*ps) - sp.Matrix(ps) * sp.Matrix(ps).T
        v = sp.Matrix(vs)
        q = (v.T * A * v)[0, 0]
        s = sum(ps[a] * ps[b] * (vs[a] - vs[b]) ** 2 for a in range(Ck) for b in range(Ck)) / 2
        r = (1 - sum(ps)) * sum(ps[a] * vs[a] ** 2 for a in range(Ck))
        # vᵀAv = certificate + remainder identically; the remainder vanishes on the simplex
        explicit &= sp.expand(q - s - r) == 0
    Cn, d, N = sizes
    model = explicit_linear(Cn, d, N, "ce")
    Theta = sp.Matrix(Cn, d, lambda a, b: sp.Symbol(f"T{a}_{b}", real=True))
    th = sp.Matrix(list(Theta))
    qf = (th.T * model["hessian"] * th)[0, 0]
    X = model["X"]
    sos = 0
    for n in range(N):
        z = model["logits"][n]
        e = [sp.exp(zc) for zc in z]
        S = sp.Add(*e)
        a = Theta * X[n, :].T
        sos += sum(e[r] * e[c] / S ** 2 * (a[r] - a[c]) ** 2
                   for r in range(Cn) for c in range(Cn)) / 2
    hess = difference_is_zero(sp.Matrix([qf - sos / N]), model["logits"], "ce")
    require("sum-of-squares certificate of vᵀAv, C = 2..8", explicit)
    require("the certificate on the direct Hessian", hess)
    detail = (f"vᵀAv = ½Σ p_i p_j (v_i − v_j)² + (1 − Σp)Σ p_i v_i² for C = 2..8: {explicit}; "
              f"θᵀHθ = (1/N) Σ_n ½Σ p_ni p_nj (a_ni − a_nj)², a_n = Θx_n, from the direct Hessian "
              f"(C={Cn}, d={d}, N={N}): {hess}; every term is ≥ 0 since p > 0, so A ⪰ 0 and H ⪰ 0")
    return ProofResult(True, {"quadratic_form_A": quad, "sos_certificate": cert,
                            "certificate_remainder": rem, "C": C, "p": pb, "v": vb}, detail)


def derive_mse_linear(cases: tuple[tuple[int, int, int], ...] = ((3, 2, 2), (4, 3, 3))
                      ) -> ProofResult:
    """Direct MSE Hessian of explicit linear models equals ``I_C ⊗ XᵀX/N`` exactly.

    Parameters
    ----------
    cases : tuple of (C, d, N)

    Returns
    -------
    ProofResult
        ``objects["mse_linear_hessian"]`` (``KroneckerProduct(Identity(C), XᵀX/N)``, symbolic
        sizes) and ``objects["mse_linear_block"]`` (``δ_ij XᵀX/N``; lambdify with
        ``objects["mse_linear_block_args"] = (X, N, i, j)``).
    """
    lines = []
    for Cn, d, N in cases:
        model = explicit_linear(Cn, d, N, "mse")
        X = model["X"]
        target = sp.kronecker_product(sp.eye(Cn), X.T * X / N)
        same = all(sp.expand(e) == 0 for e in (model["hessian"] - target))
        off = all(_block(model["hessian"], a, b, d).is_zero_matrix
                  for a in range(Cn) for b in range(Cn) if a != b)
        require(f"MSE Hessian = I_C ⊗ XᵀX/N at C={Cn}, d={d}, N={N}", same and off)
        lines.append(f"C={Cn}, d={d}, N={N}: H == I_C ⊗ XᵀX/N: {same}, "
                     f"off-diagonal blocks 0: {off}")
    N, d = sp.symbols("N d", integer=True, positive=True)
    Xs = sp.MatrixSymbol("X", N, d)
    i, j = sp.symbols("i j", integer=True, nonnegative=True)
    objects = {"mse_linear_hessian": sp.KroneckerProduct(sp.Identity(C), Xs.T * Xs / N),
               "mse_linear_block": sp.KroneckerDelta(i, j) * Xs.T * Xs / N,
               "mse_linear_block_args": (Xs, N, i, j), "C": C}
    return ProofResult(True, objects, "; ".join(lines))


def derive_uniform_ratio(explicit_classes: tuple[int, ...] = (2, 3, 4), d: int = 2, N: int = 2
                         ) -> ProofResult:
    """Block ratios at ``V = 0`` for symbolic ``C``, checked on direct Hessians at ``V = 0``.

    Parameters
    ----------
    explicit_classes : tuple of int
        ``C`` values for the explicit check (symbolic data ``X`` of shape ``(N, d)``).
    d, N : int

    Returns
    -------
    ProofResult
        Expressions in the symbol ``objects["C"]``: ``"A_diag_v0"`` (``(C−1)/C²``),
        ``"A_offdiag_v0"`` (``−1/C²``), ``"per_block_ratio_v0"`` (``1/(C−1)``),
        ``"aggregate_ratio_sq_v0"`` (``1/(C−1)``), ``"aggregate_ratio_v0"`` (``1/√(C−1)``).
    """
    p = 1 / C
    A_ii = sp.factor(p - p * p)
    A_ij = -p * p
    # H_ij = A_ij S with the same S = XᵀX/N for every block, so ‖H_ij‖_F = |A_ij| ‖S‖_F
    per_block = sp.simplify(sp.Abs(A_ij) / sp.Abs(A_ii))
    agg_sq = sp.simplify(C * (C - 1) * A_ij ** 2 / (C * A_ii ** 2))
    agg = sp.sqrt(agg_sq)
    generic = (sp.simplify(per_block - 1 / (C - 1)) == 0
               and sp.simplify(agg_sq - 1 / (C - 1)) == 0
               and sp.simplify(A_ii - (C - 1) / C ** 2) == 0)
    explicit, lines = True, []
    for Cn in explicit_classes:
        model = explicit_linear(Cn, d, N, "ce")
        H0 = model["hessian"].subs({v: 0 for v in model["V"]})
        sq = [[sp.expand(sum(e ** 2 for e in _block(H0, a, b, d))) for b in range(Cn)]
              for a in range(Cn)]
        per = all(sp.cancel(sq[a][b] / sq[a][a] - sp.Rational(1, (Cn - 1) ** 2)) == 0
                  for a in range(Cn) for b in range(Cn) if a != b)
        off = sum(sq[a][b] for a in range(Cn) for b in range(Cn) if a != b)
        diag = sum(sq[a][a] for a in range(Cn))
        aggr = sp.cancel(off / diag - agg_sq.subs(C, Cn)) == 0
        explicit &= per and aggr
        lines.append(f"C={Cn}: ‖H_ij‖²/‖H_ii‖² = 1/(C−1)² for all i≠j: {per}, aggregate² = "
                     f"1/(C−1): {aggr}")
    require("V = 0 ratios for symbolic C", generic)
    require("V = 0 ratios on direct Hessians", explicit)
    detail = (f"symbolic C: per-block 1/(C−1), aggregate 1/√(C−1): {generic}; direct Hessians at "
              f"V = 0 with symbolic X (d={d}, N={N}): " + "; ".join(lines))
    objects = {"C": C, "A_diag_v0": A_ii, "A_offdiag_v0": A_ij, "per_block_ratio_v0": per_block,
               "aggregate_ratio_sq_v0": agg_sq, "aggregate_ratio_v0": agg}
    return ProofResult(True, objects, detail)


@derivation("identities.row_sums",
            "CE: Σ_j A[i,j] = 0 on the simplex, hence Σ_j H_ij = 0 for the linear model.")
def _row_sums() -> ProofResult:
    """CE: Σ_j A[i,j] = 0, hence Σ_j H_ij = 0 for the linear model."""
    return derive_row_sums()


@derivation("identities.psd",
            "vᵀAv = ½Σ_ij p_i p_j (v_i − v_j)² ≥ 0 (a variance), hence A ⪰ 0 and H ⪰ 0 "
            "(linear CE).")
def _psd() -> ProofResult:
    """vᵀAv = ½Σ_ij p_i p_j (v_i − v_j)² ≥ 0, hence A ⪰ 0 and H ⪰ 0 for the linear CE model."""
    return derive_psd()


@derivation("identities.mse_linear",
            "MSE, linear model: H = I_C ⊗ XᵀX/N exactly (block-diagonal).")
def _mse_linear() -> ProofResult:
    """MSE, linear model: H = I_C ⊗ XᵀX/N exactly, so every off-diagonal block is zero."""
    return derive_mse_linear()


@derivation("identities.uniform_ratio",
            "At V = 0 (p = 1/C): ‖H_ij‖_F/‖H_ii‖_F = 1/(C−1) per block and the aggregate "
            "ratio is 1/√(C−1).")
def _uniform_ratio() -> ProofResult:
    """At V = 0: ‖H_ij‖_F/‖H_ii‖_F = 1/(C−1) per block, aggregate 1/√(C−1), symbolic in C."""
    return derive_uniform_ratio()
