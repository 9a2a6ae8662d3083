"""The block-spectra experiment (``python -m simulations.block_spectra``): spectra of a diagonal and
an off-diagonal Hessian block of the linear CE model against their weighted Marchenko–Pastur laws.

For the linear model ``z = V x`` at initialisation (``V_ij ~ N(0, σ²/d)``, ``x ~ N(0, I_d)``) a
cell (:func:`cell`, one trial) draws ``X``, ``V`` and an independent copy ``X̃`` and forms

* ``C·H_ii``  — weights ``C·p_i(1 − p_i)`` (diagonal block ``i = 0``),
* ``−C²·H_ij`` — weights ``C²·p_i p_j`` (off-diagonal block ``(0, 1)``),

each with *dependent* weights (the Hessian itself: ``p = softmax(V x_n)`` on the same ``x_n`` as
the outer products) and *independent* weights (``p = softmax(V x̃_n)``: the other end of the
proof's Lindeberg path); the four matrices share ``X``, ``V`` and ``X̃`` (a coupled comparison).
Each spectrum is compared with the weighted MP law of its block weight (:func:`block_laws`:
:class:`rmt.laws.WeightedMP` of :func:`rmt.laws.diagonal_block_weights` /
:func:`rmt.laws.offdiagonal_block_weights`), drawn from its own stream
``SeedSequence([seed, LAW_TAG])``, the same in every cell and in the driver. A cell returns
histogram counts on a fixed grid (:func:`histogram_edges`), the first moments, the extreme
eigenvalues, the Kolmogorov–Smirnov distance to the law and, per block, between the coupled
dependent and independent spectra.

:func:`assemble` turns the sweep's Dataset into the results file (dimensions ``n_classes``,
``sigma``, ``block``, ``coupling``, ``seed``, ``moment``, ``bin``, ``edge``, ``x``): per-trial
statistics, their mean, SE and 95% Student-t interval over seeds
(:func:`rmt.sweep.summarise_seeds`), the histogram edges and the laws (moments, support, density).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from rmt import backend as bk
from rmt.covariance import draw_covariance
from rmt.spectra import eigvalsh_batched, moments_from_eigenvalues
from rmt.stats import ks_distance, ks_two_sample
from rmt.sweep import summarise_seeds

__all__ = ["BLOCKS", "COUPLINGS", "LAYOUT", "CI_LEVEL", "law_seed", "block_laws",
           "histogram_edges", "cell", "assemble", "summary_lines"]

BLOCKS = {
    # name: (weights, block, scale, label)
    "diag": ("diag", 0, "C", r"$C\,H_{ii}$"),
    "offdiag": ("offdiag", (0, 1), "-C2", r"$-C^2 H_{ij}$"),
}
COUPLINGS = ("dependent", "independent")
CONFIGS = tuple((b, c) for b in BLOCKS for c in COUPLINGS)
N_MOMENTS = 3
CI_LEVEL = 0.95
#: Mixed into the law seed, ``SeedSequence([seed, LAW_TAG])``: a stream apart from the cells'.
LAW_TAG = 0x6C6177
#: Points of the grid on which the law's density is stored for the figure.
N_LAW_POINTS = 600
LAYOUT = "block_spectra/1"


def law_seed(seed: int) -> np.random.SeedSequence:
    """Seed of the block weight laws: ``SeedSequence([seed, LAW_TAG])``, apart from the cells'
    streams (children of ``SeedSequence(seed)``)."""
    return np.random.SeedSequence([int(seed), LAW_TAG])


@functools.lru_cache(maxsize=16)
def block_laws(dim: int, n_samples: int, n_classes: int, sigma: float, law_samples: int,
               seed: int) -> dict[str, Any]:
    """The weighted MP law of each block (cached: every cell of one (C, σ) shares it)."""
    from rmt import laws  # noqa: PLC0415

    gamma = dim / n_samples
    s_diag, s_off = bk.spawn_seeds(law_seed(seed), 2)
    w_diag = laws.diagonal_block_weights(n_classes, sigma, scale="C", n_samples=law_samples,
                                         seed=s_diag)
    w_off = laws.offdiagonal_block_weights(n_classes, sigma, scale="C2", n_samples=law_samples,
                                           seed=s_off).scaled(-1.0)
    return {"diag": laws.WeightedMP(gamma, w_diag), "offdiag": laws.WeightedMP(gamma, w_off)}


def histogram_edges(law: Any, bins: int) -> np.ndarray:
    """The fixed grid of a block: the law's support padded by 10% (below) and 15% (above) of its
    width for finite-size edge fluctuations."""
    lo, hi = (float(v) for v in law.support())
    w = hi - lo
    if not w > 0:  # a degenerate law (σ = 0 gives one weight): a unit-width window
        w = max(abs(hi), 1.0)
    return np.linspace(lo - 0.10 * w, hi + 0.15 * w, bins + 1)


def cell(n_classes: int, sigma: float, *, seed: np.random.SeedSequence, dim: int, n_samples: int,
         bins: int, law_samples: int, law_seed: int, backend: str = "numpy",
         dtype: str = "float64") -> dict[str, Any]:
    """One trial: the four spectra of the trial drawn from ``seed`` and their statistics.

    Returns, for each ``b`` in :data:`BLOCKS` and ``c`` in :data:`COUPLINGS`, ``b_c_counts``
    (eigenvalue counts per bin of ``b_edges``), ``b_c_moments`` (``m_1..m_3``),
    ``b_c_lambda_min``, ``b_c_lambda_max`` and ``b_c_ks_law``; and per block ``b_edges`` and
    ``b_ks_dep_vs_ind``.
    """
    laws = block_laws(int(dim), int(n_samples), int(n_classes), float(sigma), int(law_samples),
                      int(law_seed))
    edges = {b: histogram_edges(laws[b], int(bins)) for b in BLOCKS}
    dt = np.dtype(dtype)
    xp = bk.xp_for(backend)
    stack = xp.empty((len(CONFIGS), dim, dim), dtype=dt)
    for j, (b, c) in enumerate(CONFIGS):
        weights, block, scale, _ = BLOCKS[b]
        draw = draw_covariance(dim, n_samples, seed, n_classes=n_classes, sigma=sigma,
                               weights=weights, block=block, scale=scale, coupling=c,
                               backend=backend, dtype=dt)
        stack[j] = draw.matrix()
    ev = bk.to_numpy(eigvalsh_batched(stack, check=False)).astype(np.float64)
    out: dict[str, Any] = {}
    spectra = {}
    for j, (b, c) in enumerate(CONFIGS):
        e = np.sort(ev[j])
        spectra[b, c] = e
        key = f"{b}_{c}"
        out[f"{key}_counts"] = np.histogram(e, bins=edges[b])[0].astype(np.float64)
        out[f"{key}_moments"] = moments_from_eigenvalues(e, N_MOMENTS)
        out[f"{key}_lambda_min"] = float(e[0])
        out[f"{key}_lambda_max"] = float(e[-1])
        out[f"{key}_ks_law"] = ks_distance(e, laws[b])
    for b in BLOCKS:
        out[f"{b}_edges"] = edges[b]
        out[f"{b}_ks_dep_vs_ind"] = ks_two_sample(spectra[b, "dependent"],
                                                  spectra[b, "independent"])
    return out


def assemble(raw: Any) -> Any:
    """The results Dataset from the sweep's Dataset (:func:`rmt.sweep.run_sweep`'s layout:
    one variable per cell output). A Dataset already in this layout is returned unchanged."""
    import xarray as xr  # noqa: PLC0415

    if raw.attrs.get("layout") == LAYOUT:
        return raw
    fixed = raw.attrs["sweep_fixed"]
    dim, n_samples, bins = int(fixed["dim"]), int(fixed["n_samples"]), int(fixed["bins"])
    C = raw["n_classes"].values
    S = raw["sigma"].values
    blocks, couplings = list(BLOCKS), list(COUPLINGS)

    def stacked(stat: str, per_coupling: bool = True) -> np.ndarray:
        """(n_classes, sigma, block[, coupling], seed[, k]) from the variables b[_c]_stat."""
        if per_coupling:
            arrs = [np.stack([raw[f"{b}_{c}_{stat}"].values for c in couplings], axis=2)
                    for b in blocks]
        else:
            arrs = [raw[f"{b}_{stat}"].values for b in blocks]
        return np.stack(arrs, axis=2)

    base = ("n_classes", "sigma", "block", "coupling", "seed")
    counts = stacked("counts")
    edges_all = stacked("edges", per_coupling=False)  # (C, S, block, seed, edge)
    edges = edges_all[:, :, :, 0, :]
    if not np.array_equal(edges_all, np.broadcast_to(edges[:, :, :, None, :], edges_all.shape)):
        raise ValueError("the cells of one (C, σ) used different histogram grids; the stored "
                         "cells are inconsistent (rerun with --no-resume)")
    widths = np.diff(edges, axis=-1)[:, :, :, None, None, :]  # (C, S, block, 1, 1, bin)
    data: dict[str, Any] = {
        "counts": (base + ("bin",), counts.astype(np.int32),
                   {"long_name": "eigenvalues per histogram bin"}),
        "density": (base + ("bin",), counts / (dim * widths),
                    {"long_name": "empirical spectral density (fraction per unit length)"}),
        "outside": (base, 1.0 - counts.sum(axis=-1) / dim,
                    {"long_name": "fraction of eigenvalues outside the histogram grid"}),
        "moments": (base + ("moment",), stacked("moments"),
                    {"long_name": "spectral moments m_k = tr(A^k)/d"}),
        "lambda_min": (base, stacked("lambda_min"), {"long_name": "smallest eigenvalue"}),
        "lambda_max": (base, stacked("lambda_max"), {"long_name": "largest eigenvalue"}),
        "ks_law": (base, stacked("ks_law"),
                   {"long_name": "Kolmogorov-Smirnov distance of the spectrum to the law"}),
        "ks_dep_vs_ind": (("n_classes", "sigma", "block", "seed"),
                          stacked("ks_dep_vs_ind", per_coupling=False),
                          {"long_name": "KS distance between the coupled dependent and "
                                        "independent spectra"}),
        "edges": (("n_classes", "sigma", "block", "edge"), edges,
                  {"long_name": "histogram bin edges"}),
    }
    # The laws (recomputed here from their seed: the same objects the cells used).
    shape = (len(C), len(S), len(blocks))
    law_moments = np.empty(shape + (N_MOMENTS,))
    support = np.empty(shape + (2,))
    cdf_error, w_mean, w_var = np.empty(shape), np.empty(shape), np.empty(shape)
    law_x, law_pdf = np.empty(shape + (N_LAW_POINTS,)), np.empty(shape + (N_LAW_POINTS,))
    for i, c in enumerate(C):
        for j, s in enumerate(S):
            laws = block_laws(dim, n_samples, int(c), float(s), int(fixed["law_samples"]),
                              int(fixed["law_seed"]))
            for k, b in enumerate(blocks):
                law = laws[b]
                law_moments[i, j, k] = law.moments(N_MOMENTS)
                support[i, j, k] = law.support()
                cdf_error[i, j, k] = law.cdf_error
                w_mean[i, j, k], w_var[i, j, k] = law.weights.mean(), law.weights.var()
                x = np.linspace(edges[i, j, k, 0], edges[i, j, k, -1], N_LAW_POINTS)
                law_x[i, j, k], law_pdf[i, j, k] = x, np.asarray(law.pdf(x), dtype=np.float64)
    lshape = ("n_classes", "sigma", "block")
    data.update({
        "law_moments": (lshape + ("moment",), law_moments, {"long_name": "moments of the law"}),
        "law_support": (lshape + ("end",), support,
                        {"long_name": "support of the law's continuous part"}),
        "law_cdf_error": (lshape, cdf_error, {"long_name": "estimated error of the law's cdf"}),
        "weight_mean": (lshape, w_mean, {"long_name": "mean of the block weight law"}),
        "weight_var": (lshape, w_var, {"long_name": "variance of the block weight law"}),
        "law_x": (lshape + ("x",), law_x, {"long_name": "grid of the law's density"}),
        "law_pdf": (lshape + ("x",), law_pdf,
                    {"long_name": "density of the law's continuous part on law_x"}),
    })
    coords = {"n_classes": C, "sigma": S, "block": blocks, "coupling": couplings,
              "seed": raw["seed"].values, "moment": np.arange(1, N_MOMENTS + 1),
              "bin": np.arange(bins), "edge": np.arange(bins + 1), "end": ["low", "high"],
              "x": np.arange(N_LAW_POINTS)}
    ds = xr.Dataset({k: xr.Variable(d, v, a) for k, (d, v, a) in data.items()}, coords=coords)
    summarise_seeds(ds, ("density", "outside", "moments", "lambda_min", "lambda_max", "ks_law",
                         "ks_dep_vs_ind"), level=CI_LEVEL)
    ds.attrs = dict(raw.attrs)
    ds.attrs.update({
        "layout": LAYOUT,
        "title": "Spectra of C·H_ii and −C²·H_ij of the linear CE model vs weighted MP laws",
        "dim": dim, "n_samples": n_samples, "gamma": dim / n_samples, "bins": bins,
        "law_samples": int(fixed["law_samples"]), "dtype": str(fixed["dtype"]),
        "ci_level": CI_LEVEL, "ci_method": "t",
        "blocks": {b: {"weights": v[0], "block": v[1], "scale": v[2], "label": v[3]}
                   for b, v in BLOCKS.items()},
    })
    return ds


def summary_lines(ds: Any) -> list[str]:
    """Human-readable summary per (C, σ): moments and KS distance to the law."""
    lines = []
    for C in ds["n_classes"].values:
        for s in ds["sigma"].values:
            r = ds.sel(n_classes=C, sigma=s)
            lines.append(f"d={ds.attrs['dim']} N={ds.attrs['n_samples']} C={int(C)} σ={float(s):g} "
                         f"trials={ds.sizes['seed']}")
            for b in BLOCKS:
                law_m = r["law_moments"].sel(block=b).values
                for c in COUPLINGS:
                    x = r.sel(block=b, coupling=c)
                    m, se = x["moments_mean"].values, x["moments_se"].values
                    lines.append(
                        f"{b + '.' + c:22s} moments "
                        + " ".join(f"{mu:.4f}±{e:.4f}" for mu, e in zip(m, se))
                        + " | law " + " ".join(f"{v:.4f}" for v in law_m)
                        + f" | KS to law {float(x['ks_law_mean']):.4f} "
                          f"[{float(x['ks_law_ci_low']):.4f}, {float(x['ks_law_ci_high']):.4f}]")
                k = r.sel(block=b)
                lines.append(f"{b + '.dep vs ind':22s} KS {float(k['ks_dep_vs_ind_mean']):.4f} "
                             f"[{float(k['ks_dep_vs_ind_ci_low']):.4f}, "
                             f"{float(k['ks_dep_vs_ind_ci_high']):.4f}]")
    return lines


