r"""Predicted W-block ratio of the one-hidden-layer ReLU net at finite σ, C, d and N.

The model is ``z = V relu(W x)`` at initialisation (``W_kj ~ N(0, σ²/d)``, ``V_ck ~ N(0, s²)``,
``s² = σ²/m``, ``x ~ N(0, I_d)``; :meth:`rmt.models.OneHiddenLayer.init`). The W–W block of
hidden units ``k, l`` is ``H_kl = (1/N) Σ_n ω_kl(x_n) x_n x_nᵀ`` with
``ω_kl = 1[u_k > 0] 1[u_l > 0] Γ_kl``, ``u = W x``, ``h = relu(u)`` and the Gauss–Newton
coefficient ``Γ = Vᵀ(diag p − ppᵀ)V`` (CE, ``p = softmax(V h)``) or ``Γ = VᵀV`` (MSE)
(:mod:`rmt.hessian`). The prediction is the per-block RMS ratio
``R_W = (E‖H_kl‖²_F / E‖H_kk‖²_F)^{1/2}`` (``k ≠ l``), the quantity
``(Σ_{k≠l}‖H_kl‖²/(m−1) / Σ_k‖H_kk‖²)^{1/2}`` estimates over seeds.

What is exact, what is approximated (``proofs.hidden_finite_sigma``)
--------------------------------------------------------------------
1. *Exact:* given ``V`` and ``W``, write ``x = Qξ + η`` with ``Q`` an orthonormal basis of the
   row space of ``W`` (``ξ ~ N(0, I_m)``, ``u = Lξ``, ``LLᵀ = WWᵀ``) and ``η`` its complement in
   ``d − m`` dimensions. Then
   ``E‖H‖² = N⁻¹[Q₂ + 2(d−m)Q₁ + (d−m)(d−m+2)Q₀] + (1 − N⁻¹)[(d−m)P₀ + P₂]`` with the one-sample
   moments ``Q_j = E[ω² ‖ξ‖^{2j}]`` and the two-sample ones ``P₀ = E[(E_x ω)²]``,
   ``P₂ = E[‖E_x[ω ξξᵀ]‖²_F]`` (outer ``E`` over ``V`` and ``W``).
2. *Exact:* ``E_V[Γ_kl | h]`` and ``E_V[Γ_kl² | h]`` are closed forms in seven softmax
   expectations of ``C`` iid ``N(0, τ²)`` logits, ``τ = s‖h‖`` — evaluated by the Laplace
   quadrature of :mod:`rmt.predictions` (about 1e-12), splined in ``τ``.
3. *Exact:* the class-1 projection ``g = E[ω | v_1, x]`` (one class's weights fixed, the
   other ``C − 1`` integrated) in five functions of ``(τ, z_1)`` (same quadrature).
4. **Approximation (H1):** the variance over ``V`` of ``E_x ω`` (and of ``E_x ωξξᵀ``) is taken
   as its first-order Hoeffding term over the ``C`` exchangeable classes,
   ``C·Var_{v_1}(E[E_x ω | v_1])``, plus the class-pair term of the centring ``−q_k q_l`` at
   uniform probabilities (``s⁴(C−1)/C³``, twice that for ``k = l``, times the indicator
   moments). At ``p = 1/C`` these two orders are the whole variance (``Γ`` is quadratic in
   ``V``), so the prediction tends to ``proofs.hidden_coupling``'s ``ρ/√(C+1)`` as ``σ → 0``;
   at ``σ > 0`` the neglected class interactions are ``O(1/C)`` relative to the variance term.
   Measured against the model (``d = 100, N = 200, m = 8, σ = 1``, 4000 seeds): −0.9 %
   (``C = 10``), −0.4 % (30), −0.25 % (100) in ``R_W``.
5. *Monte Carlo quadrature:* the remaining expectations over the hidden features (``m``-dim)
   and over ``W`` (Wishart) have no closed form; they are averaged over seeded draws
   (``n_features`` draws in groups sharing one ``W``), and the prediction carries the
   jackknife standard error of that quadrature (``stderr``; about 0.2–0.5 % at the defaults).
   Nothing about the data matrix or the Hessian is simulated.

MSE needs neither 2 nor 4: ``Γ = VᵀV`` does not depend on ``x``, ``E[Γ_kl²] = s⁴C`` and
``E[Γ_kk²] = s⁴C(C + 2)``, so ``R_W = ρ/√(C + 2)`` exactly, with the data factor
``ρ² = E‖M_kl‖²/E‖M_kk‖²`` of the indicator weights computed as in 1 and 5.

Domain
------
Every moment used is finite at finite ``C`` for every σ (``p ≤ 1``; Gaussian ``h``). The
quadrature grids grow like ``τ²`` (``τ² ≤ σ⁴ χ²_m/m``), so σ is limited to
:data:`MAX_SIGMA`. The large-C limit ``√C·R_W → const`` needs ``E[e^{τ²}] < ∞``, i.e.
``σ⁴ < m/2`` (the moment generating function of ``relu(u)²``; derived in
``proofs.hidden_finite_sigma``); beyond it ``√C·R_W`` grows without bound.

Rivals
------
:func:`uniform_softmax_ratio`: ``ρ/√(C + 1)``, the coefficient at ``p = 1/C``
(``proofs.hidden_coupling``), exact only as ``σ → 0``; here ``ρ`` is computed by the same
quadrature (same ``d, N``, random ``W``) so that the rival differs only in the softmax.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import backend as bk
from .validation import check_choice, check_int, check_real

__all__ = [
    "MAX_SIGMA",
    "HiddenWPrediction",
    "predict_hidden_w_ratio",
    "uniform_softmax_ratio",
]

#: Largest σ accepted (the Laplace grids of the softmax moments grow like τ² ≤ 5σ⁴).
MAX_SIGMA = 1.5
#: Largest logit scale ``τ = σ‖relu(u)‖/√m`` of the drawn features that the Laplace tables take:
#: a table's kernel grows like τ³ (0.12 GB at τ = 3, 0.85 GB and 1.9 s at 6, 3.5 GB and 8 s at
#: 9, measured) and its largest factor e^{8τ²} leaves double range near τ = 9.4. Small nets
#: reach it within MAX_SIGMA (m = 4, d = 8, σ = 1.5: τ = 6.8); the default m = 8, d = 100
#: reaches 4.6.
MAX_TAU = 6.0
#: Nodes per dimension of the Gauss–Hermite rule over the pair of class-1 logits.
_N_GH = 8
#: Points of the τ grid (splines) and of the standardised-logit grid ζ = z_1/τ, and the order
#: of the spline interpolation on the (τ, ζ) tables.
_N_TAU = 24
_ZETA = np.linspace(-9.0, 9.0, 181)
_INTERP_ORDER = 1
#: Jackknife groups of the Monte Carlo quadrature.
_N_GROUPS = 8
#: Names of the one-sample softmax expectations and the power of τ they are divided by.
_ONE = {"X": 2, "trA": 0, "X2": 4, "XtrA": 2, "Y": 2, "trA_sq": 0, "trA2": 0}


# ---------------------------------------------------------------------------------------------
# softmax expectations of C iid N(0, τ²) logits
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _plans() -> dict[str, list[tuple[float, list[list[tuple[int, int]]]]]]:
    """Each one-sample quantity as a polynomial in the class power sums
    ``P_{m,a} = Σ_c p_c^m z_c^a``, expanded over the coincidence patterns of its classes.

    ``X = Var_p(z)``, ``trA = 1 − Σp²``, ``trA2 = tr A²``, ``Y = Σ p²(z − z̄)²``.
    """
    import sympy as sp  # noqa: PLC0415
    from sympy.utilities.iterables import multiset_partitions  # noqa: PLC0415

    def P(m: int, a: int) -> sp.Symbol:
        return sp.Symbol(f"P_{m}_{a}")

    X = P(1, 2) - P(1, 1) ** 2
    trA = 1 - P(2, 0)
    exprs = {"X": X, "trA": trA, "X2": X ** 2, "XtrA": X * trA,
             "Y": P(2, 2) - 2 * P(1, 1) * P(2, 1) + P(1, 1) ** 2 * P(2, 0),
             "trA_sq": trA ** 2, "trA2": P(2, 0) - 2 * P(3, 0) + P(2, 0) ** 2}
    out = {}
    for name, e in exprs.items():
        terms = []
        for term in sp.Add.make_args(sp.expand(e)):
            coef, factors = sp.Integer(1), []
            for f in sp.Mul.make_args(term):
                b, ex = f.as_base_exp()
                if isinstance(b, sp.Symbol):
                    _, m, a = b.name.split("_")
                    factors += [(int(m), int(a))] * int(ex)
                else:
                    coef *= f
            specs = [[(sum(factors[i][0] for i in B), sum(factors[i][1] for i in B))
                      for B in part] for part in multiset_partitions(list(range(len(factors))))
                     ] if factors else []
            terms.append((float(coef), specs))
        out[name] = terms
    return out


@functools.lru_cache(maxsize=64)
def _laplace(tau: float) -> Any:
    """The Laplace table of :mod:`rmt.predictions` at logit scale ``τ`` with every
    ``φ_{m,a}``, ``m, a ≤ 4``, computed and its ``n_u × n_z`` kernel dropped: the kernel is
    tens of MB and only the ``φ`` vectors (``n_u`` numbers each) are used afterwards."""
    from .predictions import _LaplaceTable  # noqa: PLC0415 - the exact softmax-moment quadrature

    tab = _LaplaceTable(tau)
    for m in range(_LaplaceTable.M_MAX + 1):
        for a in range(5):
            tab.phi(m, a)
    tab.E = None
    return tab


def _softmax_expectation(name: str, C: int, tau: float) -> float:
    """``E`` of a one-sample quantity (:func:`_plans`) by the exact Laplace quadrature:
    ``E[Π_B p^{m_B} z^{a_B}]`` over ``q`` distinct classes times ``C(C−1)⋯(C−q+1)``."""
    tab = _laplace(float(tau))
    total = 0.0
    for coef, specs in _plans()[name]:
        if not specs:
            total += coef
            continue
        acc = 0.0
        for spec in specs:
            q = len(spec)
            if q <= C:
                acc += math.prod(C - i for i in range(q)) * tab.moment(spec, C)
        total += coef * acc
    return total


def _zeta_grid() -> np.ndarray:
    return _ZETA


def _tau_grid(tau_max: float) -> np.ndarray:
    # uniform (the bicubic interpolation of the class-1 tables works in index space); τ = 0 is
    # replaced by 1e-3: every quantity is divided by its leading power of τ and is smooth there
    return np.linspace(1e-3, 1.02 * tau_max, _N_TAU)


@functools.lru_cache(maxsize=32)
def _one_sample_splines(C: int, tau_max: float) -> dict[str, Any]:
    from scipy.interpolate import CubicSpline  # noqa: PLC0415

    taus = _tau_grid(tau_max)
    return {k: CubicSpline(taus, [_softmax_expectation(k, C, t) / t ** p for t in taus])
            for k, p in _ONE.items()}


@functools.lru_cache(maxsize=32)
def _class1_tables(C: int, tau_max: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``f1 = E[p_1|z_1]``, ``f2 = E[p_1²|z_1]``, ``f3t = E[p_1 Σ'p_c z_c|z_1]/τ``,
    ``f45t = (E[Σ'p_c z_c²|z_1] − E[(Σ'p_c z_c)²|z_1])/τ²``, ``f7 = E[Σ'p_c²|z_1]`` on the grid
    ``(τ, ζ = z_1/τ)`` (``Σ'`` over the other ``C − 1`` classes), by the Laplace representation
    with class 1's factor ``e^{−t e^{z_1}}`` kept outside the expectation."""
    taus = _tau_grid(tau_max)
    zgrid = _zeta_grid()
    out = {k: np.empty((taus.size, zgrid.size)) for k in ("f1", "f2", "f3t", "f45t", "f7")}
    for i, tau in enumerate(taus):
        tab = _laplace(float(tau))
        u, h = tab.u, tab.u[1] - tab.u[0]
        lp0 = tab.log_phi0

        def rest(q: int) -> np.ndarray:   # φ₀(t)^{C−q}: the classes not singled out
            with np.errstate(invalid="ignore", over="ignore", under="ignore"):
                return (np.where(np.isneginf(lp0), 0.0, np.exp((C - q) * lp0)) if C > q
                        else np.ones_like(u))

        z1 = tau * zgrid
        arg = np.add.outer(z1, u)                       # z_1 + log t
        with np.errstate(over="ignore"):
            ea = np.exp(arg)                            # t e^{z_1}; inf where e^{−t e^{z_1}} is 0

        def damped(k: int, j: int) -> np.ndarray:
            # e^{k z_1} t^j e^{−t e^{z_1}} (t = e^u; j counts dt/du = t) as one exponential,
            # k(z_1 + u) + (j − k)u − t e^{z_1}: the factors apart overflow (t² = e^{2u} at
            # u > 354, reached for τ ≳ 3) where their product is 0, and gave NaN tables
            with np.errstate(under="ignore"):
                return np.exp(k * arg + (j - k) * u[None, :] - ea)

        r1, r2, r3 = rest(1), rest(2), rest(3)
        f1 = damped(1, 1) @ r1 * h                      # M = 1: e^{z_1}∫e^{−te^{z_1}}φ₀^{C−1}dt
        f2 = damped(2, 2) @ r1 * h                      # M = 2: e^{2z_1}∫t e^{…}φ₀^{C−1}dt
        f3 = (C - 1) * damped(1, 2) @ (tab.phi(1, 1) * r2) * h
        e1, e2 = damped(0, 1), damped(0, 2)
        f4 = (C - 1) * e1 @ (tab.phi(1, 2) * r2) * h
        f5 = e2 @ ((C - 1) * tab.phi(2, 2) * r2 + (C - 1) * (C - 2) * tab.phi(1, 1) ** 2 * r3) * h
        f7 = (C - 1) * e2 @ (tab.phi(2, 0) * r2) * h
        out["f1"][i], out["f2"][i], out["f7"][i] = f1, f2, f7
        out["f3t"][i] = f3 / tau
        out["f45t"][i] = (f4 - f5) / tau ** 2
    return taus, out


def _interp2(taus: np.ndarray, table: np.ndarray, tau: np.ndarray, zeta: np.ndarray
             ) -> np.ndarray:
    """Bicubic interpolation of a ``(τ, ζ)`` table (τ grid mapped to index space)."""
    from scipy.ndimage import map_coordinates  # noqa: PLC0415

    ti = (tau - taus[0]) / (taus[1] - taus[0])
    zgrid = _zeta_grid()
    zi = (zeta - zgrid[0]) / (zgrid[1] - zgrid[0])
    ti = np.broadcast_to(ti, np.shape(zeta))
    return map_coordinates(table, [ti.ravel(), zi.ravel()], order=_INTERP_ORDER,
                           mode="nearest").reshape(np.shape(zeta))


# ---------------------------------------------------------------------------------------------
# hidden features: u = L ξ with L Lᵀ = W Wᵀ ~ (σ²/d) Wishart_m(d)
# ---------------------------------------------------------------------------------------------

def _draw_features(m: int, sigma: float, d: int, n_w: int, n_per_w: int, seed: Any
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(ξ, u)`` of shape ``(n_w, n_per_w, m)``: ``n_per_w`` samples sharing each of ``n_w``
    first-layer matrices. ``L`` is the Bartlett factor of ``G Gᵀ ~ Wishart_m(d, I)`` (G = the
    ``m × d`` standard normal matrix with ``W = σG/√d``), so ``u = Wx = (σ/√d) L ξ`` in law.
    (Plain Monte Carlo: the within-group U-statistics need independent samples, which a
    quasi-Monte Carlo set is not.)
    """
    rng = bk.default_rng(seed, np)
    L = np.zeros((n_w, m, m))
    il = np.tril_indices(m, -1)
    L[:, il[0], il[1]] = rng.standard_normal((n_w, il[0].size))
    L[:, np.arange(m), np.arange(m)] = np.sqrt(rng.chisquare(d - np.arange(m), size=(n_w, m)))
    xi = rng.standard_normal((n_w, n_per_w, m))
    u = np.einsum("wnj,wkj->wnk", xi, L) * (sigma / math.sqrt(d))
    return xi, u


# ---------------------------------------------------------------------------------------------
# per-sample conditional moments of Γ_kl (exact given h)
# ---------------------------------------------------------------------------------------------

def _gamma_moments(E: dict[str, np.ndarray], e: np.ndarray, k: int, l: int, s2: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``E_V[Γ_kl | h]`` and ``E_V[Γ_kl² | h]`` (``proofs.hidden_finite_sigma.gamma_moments``)
    from the τ-scaled softmax expectations ``E`` and the unit feature direction ``e``."""
    ek, el = e[..., k], e[..., l]
    Pkl = np.asarray(k == l, dtype=float) - ek * el
    Pkk, Pll = 1.0 - ek * ek, 1.0 - el * el
    if np.ndim(k):                                        # several pairs at once: last axis
        E = {key: v[..., None] for key, v in E.items()}
    mean = s2 * (ek * el * E["X"] + Pkl * E["trA"])
    second = s2 * s2 * (ek * ek * el * el * E["X2"] + 2.0 * ek * el * Pkl * E["XtrA"]
                        + E["Y"] * (ek * ek * Pll + 2.0 * ek * el * Pkl + el * el * Pkk)
                        + Pkl * Pkl * E["trA_sq"] + (Pkl * Pkl + Pkk * Pll) * E["trA2"])
    return mean, second


# ---------------------------------------------------------------------------------------------
# the prediction
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HiddenWPrediction:
    """Predicted per-block RMS ratio of the W-blocks (rows of ``W``) of ``z = V relu(W x)``.

    Attributes
    ----------
    n_classes, sigma, hidden, dim, n_samples : the setting (``C, σ, m, d, N``)
    loss : {"ce", "mse"}
    per_block : float
        ``R_W = (E‖H_kl‖²_F/E‖H_kk‖²_F)^{1/2}``, ``k ≠ l``.
    stderr : float
        Standard error of ``per_block`` from the Monte Carlo quadrature over the hidden
        features and ``W`` (jackknife over groups of draws).
    scaled : float
        ``√(C + 1)·per_block`` (CE) or ``√(C + 2)·per_block`` (MSE): the coefficient that the
        uniform-softmax theory (CE) or the exact MSE formula sets to ``ρ``.
    rho2 : float
        ``ρ² = E‖M_kl‖²/E‖M_kk‖²`` of the indicator weights at the same ``d, N``.
    uniform_softmax : float
        The rival ``ρ/√(C + 1)`` (CE) (NaN for MSE).
    approximation : str
        Which approximation the number carries.
    terms : dict
        The moments (``Q0, Q1, Q2, P0, P2`` and their parts, for ``kl`` and ``kk``).
    """

    n_classes: int
    sigma: float
    hidden: int
    dim: int
    n_samples: int
    loss: str
    per_block: float
    stderr: float
    scaled: float
    rho2: float
    uniform_softmax: float
    approximation: str
    terms: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _sq_norm(t: dict[str, np.ndarray], d: int, N: int, m: int) -> np.ndarray:
    """``E‖H‖²`` from the one- and two-sample moments (exact decomposition, item 1)."""
    return ((t["Q2"] + 2 * (d - m) * t["Q1"] + (d - m) * (d - m + 2) * t["Q0"]) / N
            + (1 - 1 / N) * ((d - m) * t["P0"] + t["P2"]))


def _group_sums(C: int, loss: str, xi: np.ndarray, u: np.ndarray, s2: float, tau_max: float,
                pair_seed: Any) -> dict[str, np.ndarray]:
    """Per W-group estimates of every moment (arrays of shape ``(n_w,)``), for the pair types
    ``kl`` (k ≠ l) and ``kk`` and for the indicator weights (``ind_kl``, ``ind_kk``)."""
    n_w, n, m = u.shape
    h = np.maximum(u, 0.0)
    act = (u > 0).astype(float)
    nh = np.linalg.norm(h, axis=-1)
    tau = math.sqrt(s2) * nh
    e = h / np.where(nh > 0, nh, 1.0)[..., None]
    nxi2 = (xi * xi).sum(-1)
    ce = loss == "ce"
    if ce:
        spl = _one_sample_splines(C, tau_max)
        E = {k: f(np.maximum(tau, 1e-3)) for k, f in spl.items()}
    gram = np.einsum("wia,wja->wij", xi, xi) ** 2         # (ξ_i·ξ_j)² within each W-group
    out: dict[str, np.ndarray] = {}
    for kind, pairs in (("kl", [(k, l) for k in range(m) for l in range(m) if k != l]),
                        ("kk", [(k, k) for k in range(m)])):
        kk, ll = (np.array(ix) for ix in zip(*pairs))
        ind = act[..., kk] * act[..., ll]                  # (n_w, n, pairs)
        weights = {"i": (ind, ind)}                        # indicator weights (ρ², MSE)
        if ce:
            mean, second = _gamma_moments(E, e, kk, ll, s2)
            weights[""] = (ind * mean, ind * second)
        for pre, (w1, w2) in weights.items():
            x2 = nxi2[..., None]
            out[f"{pre}Q0_{kind}"] = w2.mean(1).mean(-1)
            out[f"{pre}Q1_{kind}"] = (w2 * x2).mean(1).mean(-1)
            out[f"{pre}Q2_{kind}"] = (w2 * x2 * x2).mean(1).mean(-1)
            # unbiased within-group (E w)² and ‖E[w ξξᵀ]‖²: Σ_{i≠j} w_i w_j (1, (ξ_i·ξ_j)²)
            tot = w1.sum(1)
            ssq = (w1 * w1).sum(1)
            quad = np.einsum("wip,wip->wp", gram @ w1, w1)
            diag = (w1 * w1 * x2 * x2).sum(1)
            norm = n * (n - 1)
            out[f"{pre}{'P0m' if pre == '' else 'P0'}_{kind}"] = ((tot * tot - ssq) / norm).mean(-1)
            out[f"{pre}{'P2m' if pre == '' else 'P2'}_{kind}"] = ((quad - diag) / norm).mean(-1)
    if ce:
        out.update(_pair_terms(C, xi, u, h, act, tau, e, s2, tau_max, E, pair_seed))
    return out


def _pair_terms(C: int, xi: np.ndarray, u: np.ndarray, h: np.ndarray, act: np.ndarray,
                tau: np.ndarray, e: np.ndarray, s2: float, tau_max: float,
                E: dict[str, np.ndarray], seed: Any) -> dict[str, np.ndarray]:
    """Approximation H1: ``C·E_{v_1}[g̃(x, v_1) g̃(x', v_1)]`` over pairs of samples sharing
    ``W`` (and the same with the factor ``(ξ·ξ')²``), ``g̃ = E[ω | v_1, x] − E[ω | x]``.

    Each pair of samples uses one block pair chosen uniformly among those active in both
    samples, weighted by their number (an unbiased average over all pairs that skips zeros).
    """
    n_w, n, m = u.shape
    half = n // 2
    a, b = slice(0, half), slice(half, 2 * half)
    taus, tabs = _class1_tables(C, tau_max)
    g, wg = np.polynomial.hermite_e.hermegauss(_N_GH)
    wg = wg / wg.sum()
    G1, G2 = (x.ravel() for x in np.meshgrid(g, g, indexing="ij"))
    W2 = np.outer(wg, wg).ravel()
    rng = bk.default_rng(seed, np)
    s = math.sqrt(s2)
    out = {}
    both = act[:, a] * act[:, b]                             # (n_w, half, m)
    for kind in ("kl", "kk"):
        if kind == "kk":
            cnt = both.sum(-1)
            pick = np.argmax(rng.random(both.shape) * both, axis=-1)
            k_idx = l_idx = pick
            weight = cnt / m
        else:
            pb = both[..., :, None] * both[..., None, :] * (1 - np.eye(m))
            flat = pb.reshape(*pb.shape[:-2], m * m)
            cnt = flat.sum(-1)
            pick = np.argmax(rng.random(flat.shape) * flat, axis=-1)
            k_idx, l_idx = pick // m, pick % m
            weight = cnt / (m * (m - 1))
        vals = np.zeros(both.shape[:2])
        sel = cnt > 0
        if np.any(sel):
            vals[sel] = _pair_values(kind, taus, tabs, h[:, a][sel], h[:, b][sel],
                                     tau[:, a][sel], tau[:, b][sel], e[:, a][sel], e[:, b][sel],
                                     k_idx[sel], l_idx[sel], s, s2,
                                     {k: v[:, a][sel] for k, v in E.items()},
                                     {k: v[:, b][sel] for k, v in E.items()}, G1, G2, W2)
        v = C * vals * weight
        xx = (xi[:, a] * xi[:, b]).sum(-1) ** 2
        out[f"P0v_{kind}"] = v.mean(-1)
        out[f"P2v_{kind}"] = (v * xx).mean(-1)
    return out


def _pair_values(kind: str, taus: np.ndarray, tabs: dict[str, np.ndarray], ha: np.ndarray,
                 hb: np.ndarray, ta: np.ndarray, tb: np.ndarray, ea: np.ndarray, eb: np.ndarray,
                 k: np.ndarray, l: np.ndarray, s: float, s2: float, Ea: dict, Eb: dict,
                 G1: np.ndarray, G2: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """``E_{v_1}[g̃_a g̃_b]`` for each pair (Gauss–Hermite over the class-1 logits
    ``(z_1, z'_1)``, exact Gaussian moments of ``(V_1k, V_1l)`` given them)."""
    P = ha.shape[0]
    idx = np.arange(P)
    nab = np.sum(ha * hb, axis=-1)
    na, nb = np.linalg.norm(ha, axis=-1), np.linalg.norm(hb, axis=-1)
    r = np.clip(nab / (na * nb), -1 + 1e-12, 1 - 1e-12)
    za = G1[None, :] * np.ones((P, 1))                        # ζ_a = z_1/τ_a
    zb = r[:, None] * G1[None, :] + np.sqrt(1 - r * r)[:, None] * G2[None, :]

    def coeffs(tt, ee, zeta, Em):
        tt2 = np.repeat(np.maximum(tt, 1e-3)[:, None], zeta.shape[1], 1)
        f = {name: _interp2(taus, tab, tt2, zeta) for name, tab in tabs.items()}
        ek, el = ee[idx, k][:, None], ee[idx, l][:, None]
        Pkl = (k == l).astype(float)[:, None] - ek * el
        ckl = f["f1"] - f["f2"]
        ck = -el * s * f["f3t"]
        cl = -ek * s * f["f3t"]
        c0 = ek * el * s2 * f["f45t"] + s2 * Pkl * (1 - f["f1"] - f["f7"])
        mean = s2 * (ek * el * Em["X"][:, None] + Pkl * Em["trA"][:, None])
        return c0 - mean, ck, cl, ckl

    ca = coeffs(ta, ea, za, Ea)
    cb = coeffs(tb, eb, zb, Eb)
    # (z_1, z'_1, V_1k, V_1l)/s is Gaussian with covariance [[‖h‖², h·h', h_k, h_l], …]
    hka, hla, hkb, hlb = ha[idx, k], ha[idx, l], hb[idx, k], hb[idx, l]
    det = na ** 2 * nb ** 2 - nab ** 2
    det = np.maximum(det, 1e-12 * na ** 2 * nb ** 2)
    inv = np.stack([np.stack([nb ** 2, -nab], -1), np.stack([-nab, na ** 2], -1)], -2) / det[:, None, None]
    Svz = np.stack([np.stack([hka, hkb], -1), np.stack([hla, hlb], -1)], -2)
    B = Svz @ inv
    same = (k == l).astype(float)
    K = s2 * (np.stack([np.stack([np.ones(P), same], -1), np.stack([same, np.ones(P)], -1)], -2)
              - B @ np.swapaxes(Svz, 1, 2))
    zA = ta[:, None] * za
    zB = tb[:, None] * zb
    mk = B[:, 0, 0, None] * zA + B[:, 0, 1, None] * zB
    ml = B[:, 1, 0, None] * zA + B[:, 1, 1, None] * zB
    Kkk, Kll, Kkl = K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 1, None]
    mom = {(0, 0): 1.0, (1, 0): mk, (0, 1): ml, (1, 1): mk * ml + Kkl,
           (2, 0): mk * mk + Kkk, (0, 2): ml * ml + Kll,
           (2, 1): mk * mk * ml + Kkk * ml + 2 * Kkl * mk,
           (1, 2): ml * ml * mk + Kll * mk + 2 * Kkl * ml,
           (2, 2): (mk * mk * ml * ml + Kkk * ml * ml + Kll * mk * mk + 4 * Kkl * mk * ml
                    + Kkk * Kll + 2 * Kkl * Kkl)}
    monos = ((0, 0), (1, 0), (0, 1), (1, 1))    # g = c0 + ck V_k + cl V_l + ckl V_k V_l
    val = 0.0
    for i, (pa, qa) in enumerate(monos):
        for j, (pb, qb) in enumerate(monos):
            val = val + ca[i] * cb[j] * mom[(pa + pb, qa + qb)]
    ind = 1.0  # the pair was chosen among the blocks active in both samples
    return ind * (val @ W2)


def _ratio_from(means: dict[str, float], C: int, d: int, N: int, m: int, loss: str,
                s2: float) -> tuple[float, float]:
    """``(R_W, ρ²)`` from group-averaged moments.

    CE: the variance over ``V`` is the first-order class term (H1) plus the class-pair term of
    ``−q_k q_l`` at uniform probabilities, ``s⁴(C−1)/C³`` (``k ≠ l``) or ``2s⁴(C−1)/C³``
    (``k = l``) times ``E_W[(E_x 1_k1_l)²]`` (and ``‖E_x 1_k1_l ξξᵀ‖²`` for ``P₂``): at
    ``p = 1/C``, ``Γ`` is quadratic in ``V`` and these two orders are its whole variance, so the
    prediction is exact as ``σ → 0`` (``proofs.hidden_coupling.w_moments``).
    """
    pair = {"kl": s2 * s2 * (C - 1) / C ** 3, "kk": 2 * s2 * s2 * (C - 1) / C ** 3}

    def sq(pre: str, kind: str) -> float:
        if pre == "i":
            t = {q: means[f"i{q}_{kind}"] for q in ("Q0", "Q1", "Q2", "P0", "P2")}
        else:
            t = {q: means[f"{q}_{kind}"] for q in ("Q0", "Q1", "Q2")}
            t["P0"] = (means[f"P0m_{kind}"] + means[f"P0v_{kind}"]
                       + pair[kind] * means[f"iP0_{kind}"])
            t["P2"] = (means[f"P2m_{kind}"] + means[f"P2v_{kind}"]
                       + pair[kind] * means[f"iP2_{kind}"])
        return float(_sq_norm(t, d, N, m))

    rho2 = sq("i", "kl") / sq("i", "kk")
    if loss == "mse":
        return math.sqrt(rho2 / (C + 2)), rho2     # E[Γ_kl²]/E[Γ_kk²] = C/(C(C+2)) exactly
    return math.sqrt(sq("", "kl") / sq("", "kk")), rho2


def _jackknife(groups: dict[str, np.ndarray], fn) -> tuple[Any, Any]:
    """Estimate from the pooled group means and its jackknife SE over :data:`_N_GROUPS`
    blocks of groups (``fn`` maps a dict of means to a number or an array)."""
    n = next(iter(groups.values())).shape[0]
    blocks = np.array_split(np.arange(n), _N_GROUPS)
    full = np.asarray(fn({k: float(v.mean()) for k, v in groups.items()}))
    loo = []
    for blk in blocks:
        keep = np.setdiff1d(np.arange(n), blk)
        loo.append(np.asarray(fn({k: float(v[keep].mean()) for k, v in groups.items()})))
    loo = np.array(loo)
    se = np.sqrt((_N_GROUPS - 1) / _N_GROUPS * np.sum((loo - loo.mean(0)) ** 2, axis=0))
    return full, se


def _check_setting(n_classes: Any, sigma: Any, hidden: Any, dim: Any, n_samples: Any,
                   loss: Any, n_features: Any) -> tuple[int, float, int, int, int, str, int]:
    C = check_int("n_classes", n_classes, 2)
    loss = check_choice("loss", loss, ("ce", "mse"))
    s = check_real("sigma", sigma, 0.0, MAX_SIGMA, strict_min=(loss == "ce"))
    m = check_int("hidden", hidden, 2)
    d = check_int("dim", dim, m)
    N = check_int("n_samples", n_samples, 1)
    nf = check_int("n_features", n_features, 64 * 2 * _N_GROUPS)
    return C, s, m, d, N, loss, nf


@functools.lru_cache(maxsize=64)
def _group_moments(C: int, sigma: float, m: int, d: int, loss: str, n_features: int,
                   seed: int) -> dict[str, np.ndarray]:
    n_per_w = 64
    n_w = n_features // n_per_w
    seeds = bk.spawn_seeds(seed, 2)
    xi, u = _draw_features(m, sigma, d, n_w, n_per_w, seeds[0])
    s2 = sigma * sigma / m
    tau_max = math.sqrt(s2) * float(np.max(np.linalg.norm(np.maximum(u, 0), axis=-1)))
    if tau_max > MAX_TAU:
        raise ValueError(f"sigma, hidden, dim: the drawn hidden features reach the logit scale "
                         f"tau = {tau_max:.3g} (sigma = {sigma}, hidden = {m}, dim = {d}), beyond "
                         f"the quadrature's tau <= {MAX_TAU}: use a larger dim or hidden, or a "
                         f"smaller sigma")
    return _group_sums(C, loss, xi, u, s2, max(tau_max, 1e-2), seeds[1])


def predict_hidden_w_ratio(n_classes: int, sigma: float = 1.0, hidden: int = 8, dim: int = 100,
                           n_samples: int = 200, loss: str = "ce", *,
                           n_features: int = 2 ** 15, seed: int = 0) -> HiddenWPrediction:
    """Per-block RMS ratio of the W-blocks of ``z = V relu(W x)`` at finite σ, C, d, N.

    Parameters
    ----------
    n_classes : int >= 2
        ``C``.
    sigma : float in (0, MAX_SIGMA] (CE) or [0, MAX_SIGMA] (MSE)
        Initialisation scale: ``W_kj ~ N(0, σ²/d)``, ``V_ck ~ N(0, σ²/m)``.
    hidden : int >= 2
        Hidden width ``m``.
    dim : int >= hidden
        ``d``.
    n_samples : int >= 1
        ``N``.
    loss : {"ce", "mse"}
    n_features : int >= 1024
        Monte Carlo draws of the hidden features (in groups of 64 sharing one ``W``) for the
        outer quadrature; its standard error is ``stderr``.
    seed : int
        Seed of that quadrature (the same seed for several ``C`` gives common random numbers).

    Returns
    -------
    HiddenWPrediction

    Notes
    -----
    CE carries approximation H1 (module docstring); MSE is exact up to the quadrature.

    Examples
    --------
    >>> p = predict_hidden_w_ratio(10, 1.0, 8, 100, 200, n_features=4096)   # doctest: +SKIP
    >>> round(p.scaled, 2)                                                  # doctest: +SKIP
    0.7
    """
    C, s, m, d, N, loss, nf = _check_setting(n_classes, sigma, hidden, dim, n_samples, loss,
                                             n_features)
    seed = check_int("seed", seed, 0)
    groups = _group_moments(C, s, m, d, loss, nf, seed)
    (R, rho2), (se, rho2_se) = _jackknife(groups, lambda mu: _ratio_from(mu, C, d, N, m, loss, s * s / m))
    R, rho2, se = float(R), float(rho2), float(se)
    means = {k: float(v.mean()) for k, v in groups.items()}
    scale = math.sqrt(C + 1.0) if loss == "ce" else math.sqrt(C + 2.0)
    approx = ("H1: the variance over V of the sample-averaged weight from its first-order "
              "Hoeffding term over classes plus the uniform-p class-pair term; Monte Carlo "
              "quadrature over features and W"
              if loss == "ce" else "none beyond the Monte Carlo quadrature over features and W")
    return HiddenWPrediction(C, s, m, d, N, loss, R, se, scale * R, rho2,
                             math.sqrt(rho2 / (C + 1.0)) if loss == "ce" else math.nan, approx,
                             {"means": means, "rho2_stderr": float(rho2_se),
                              "n_features": nf, "seed": seed})


def uniform_softmax_ratio(n_classes: int, hidden: int = 8, dim: int = 100, n_samples: int = 200,
                          *, n_features: int = 2 ** 15, seed: int = 0) -> float:
    """The rival ``ρ/√(C + 1)``: the W-block ratio at uniform probabilities ``p = 1/C``
    (``proofs.hidden_coupling.ratio``), with ``ρ²`` computed by the same quadrature as
    :func:`predict_hidden_w_ratio` (random ``W`` at this ``d``, ``N``)."""
    p = predict_hidden_w_ratio(n_classes, 1.0, hidden, dim, n_samples, "mse",
                               n_features=n_features, seed=seed)
    return math.sqrt(p.rho2 / (check_int("n_classes", n_classes, 2) + 1.0))
