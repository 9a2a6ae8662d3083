"""Peers' methods written out as yardsticks: a planned Hutchinson estimate of the aggregate block
ratio from Hessian-vector products (torch.func or curvlinops), and a PyHessian-style SLQ loop.

Planned Hutchinson (what a user of an HVP library does to get the aggregate ratio at a stated
accuracy): each product takes one block ``i`` uniformly at random and a Rademacher probe ``u``
on it, ``v = e_i ⊗ u``; then ``H v`` holds ``H_ji u`` for every ``j``, and
``C‖H_ii u‖²`` and ``C Σ_{j≠i} ‖H_ji u‖²`` are unbiased for ``Σ_i ‖H_ii‖²_F`` and
``Σ_{i≠j} ‖H_ij‖²_F`` (``E‖M u‖² = ‖M‖²_F``). The ratio of the two means gets a delta-method CI
(the one :mod:`rmt.hessian.sampled` uses); a pilot of products sets how many more are needed for
the requested relative half-width, and the estimate uses all of them.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from rmt.hessian.sampled import _ratio_ci


def torch_problem(model, X: np.ndarray, y: np.ndarray | None = None):
    """The linear CE model as torch objects: (weight (C, d) float64, X, y, loss function)."""
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415

    V = torch.tensor(np.asarray(model.V), dtype=torch.float64)
    Xt = torch.tensor(np.asarray(X), dtype=torch.float64)
    yt = torch.zeros(Xt.shape[0], dtype=torch.long) if y is None else torch.tensor(y)
    return V, Xt, yt, (lambda W: F.cross_entropy(Xt @ W.T, yt))


def torch_func_hvp(model, X) -> Callable[[np.ndarray], np.ndarray]:
    """Batched HVPs by forward-over-reverse ``torch.func`` (vmapped over probes)."""
    import torch  # noqa: PLC0415
    from torch.func import grad, jvp, vmap  # noqa: PLC0415

    V, _, _, loss = torch_problem(model, X)
    g = grad(loss)

    def one(v):
        return jvp(g, (V,), (v,))[1]

    batched = vmap(one)

    def hvp(P: np.ndarray) -> np.ndarray:              # P: (k, C, d) probes
        with torch.no_grad():
            return batched(torch.from_numpy(P)).numpy()
    return hvp


def curvlinops_hvp(model, X) -> Callable[[np.ndarray], np.ndarray]:
    """Batched HVPs by curvlinops' ``HessianLinearOperator`` (matrix of probes)."""
    import torch  # noqa: PLC0415
    from curvlinops import HessianLinearOperator  # noqa: PLC0415

    V, Xt, yt, _ = torch_problem(model, X)
    lin = torch.nn.Linear(V.shape[1], V.shape[0], bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(V)
    H = HessianLinearOperator(lin, torch.nn.CrossEntropyLoss(), [lin.weight], [(Xt, yt)],
                              check_deterministic=False)
    C, d = V.shape

    def hvp(P: np.ndarray) -> np.ndarray:
        k = P.shape[0]
        M = torch.from_numpy(P.reshape(k, C * d).T.copy())
        return (H @ M).T.reshape(k, C, d).numpy()
    return hvp


def planned_hutchinson(hvp: Callable[[np.ndarray], np.ndarray], C: int, d: int,
                       rel_error: float = 0.01, level: float = 0.95, seed: Any = 0,
                       pilot: int = 64, batch: int = 32, max_products: int = 20000) -> dict:
    """The aggregate ratio from block-probe HVPs with a ``level`` CI of relative half-width
    ``rel_error`` (see the module docstring). Returns ratio, CI, products used."""
    rng = np.random.default_rng(seed)
    D: list[float] = []
    O: list[float] = []

    def run(n: int) -> None:
        for k0 in range(0, n, batch):
            k = min(batch, n - k0)
            blocks = rng.integers(0, C, k)
            P = np.zeros((k, C, d))
            P[np.arange(k), blocks] = rng.choice([-1.0, 1.0], size=(k, d))
            Hv = hvp(P)
            sq = np.einsum("kcd,kcd->kc", Hv, Hv)
            dia = sq[np.arange(k), blocks]
            D.extend(C * dia)
            O.extend(C * (sq.sum(axis=1) - dia))

    run(pilot)
    r, lo, hi, se = _ratio_ci(np.array(D), np.array(O), level)
    # half-width of R² ∝ 1/√n: products needed for a half-width of 2·rel_error·R² (R's ≈ half)
    need = int(math.ceil(len(D) * ((hi * hi - lo * lo) / 2 / (2 * rel_error * r * r)) ** 2))
    run(min(max_products, need) - len(D))
    r, lo, hi, _ = _ratio_ci(np.array(D), np.array(O), level)
    return {"ratio": r, "ci_low": lo, "ci_high": hi, "products": len(D),
            "rel_half_width": max(hi - r, r - lo) / r}


def pyhessian_slq(matvec: Callable[[Any], Any], dim: int, n_probes: int, n_steps: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SLQ as PyHessian's ``density`` does it: one probe at a time (Rademacher), Lanczos with full
    reorthogonalisation against every earlier vector, torch tensors; returns the Ritz nodes and
    weights (squared first components / number of probes) of all probes."""
    import torch  # noqa: PLC0415

    gen = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(n_probes):
        v = torch.randint(0, 2, (dim,), generator=gen, dtype=torch.float64) * 2 - 1
        v = v / torch.linalg.norm(v)
        basis, alpha, beta = [v], [], []
        w_prev = None
        for i in range(n_steps):
            w = matvec(basis[-1])
            if i > 0:
                w = w - beta[-1] * basis[-2]
            a = torch.dot(w, basis[-1])
            alpha.append(a)
            w = w - a * basis[-1]
            for u in basis:                                  # full reorthogonalisation
                w = w - torch.dot(w, u) * u
            b = torch.linalg.norm(w)
            if i == n_steps - 1 or b < 1e-10:
                break
            beta.append(b)
            basis.append(w / b)
            w_prev = w
        del w_prev
        m = len(alpha)
        T = torch.diag(torch.stack(alpha))
        if m > 1:
            off = torch.stack(beta[:m - 1])
            T = T + torch.diag(off, 1) + torch.diag(off, -1)
        ev, vec = torch.linalg.eigh(T)
        nodes.append(ev.numpy())
        weights.append((vec[0] ** 2).numpy() / n_probes)
    return np.concatenate(nodes), np.concatenate(weights)
