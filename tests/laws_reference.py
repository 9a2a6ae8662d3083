"""30-digit mpmath references for the spectral laws of rmt.laws (used by tests/test_laws_checks.py).

Every law here is a weighted Marchenko–Pastur law (MP with scale σ² is ν = δ_σ²): with
``v = −1/m`` its Stieltjes transform solves ``z(v) = v (1 + Σ_k p_k w_k / (v − q_k)) = z``,
``q_k = γ w_k``. The references do not reuse rmt's numerics beyond a starting point: each ``v``
is refined by Newton's method in 30-digit arithmetic and then checked (residual, sign of
``Im v``, sign of ``z'(v)`` off the support), so a wrong start fails loudly instead of agreeing.

The cdf needs no quadrature. Along the boundary values ``m(x + i0)`` the measure is
``dF = Im(m dz)/π = Im(−z'(v) dv / v)/π``, and partial fractions give an antiderivative

    Φ(v) = −log v + Σ_k (p_k/γ) [log v − log(v − q_k)] − Σ_k p_k w_k / (v − q_k),

so ``F(x) = 1 + Im Φ(v(x + i0)) / π`` with arguments in ``[0, π]`` (the closed upper half-plane:
``F(−∞) = 0``, ``F(+∞) = 1``, and the jump of ``−arg v`` at ``v = 0`` is the atom at 0). Off the
support ``v`` is real and ``F`` is a sum of ``p_k/γ`` terms: the masses of the support intervals
are exact. ``tests/test_laws_checks.py`` checks the formula against mpmath quadrature of the
density.
"""

from __future__ import annotations

import functools

import mpmath as mpm
import numpy as np

DPS = 30


class Reference:
    """References for ``WeightedMP(ratio, (values, probs))`` (or ``MP(ratio, scale)``).

    ``law`` is the rmt object: its Stieltjes transform gives starting points only.
    """

    def __init__(self, law, ratio: float, values, probs) -> None:
        self.law = law
        with mpm.workdps(DPS):
            self.g = mpm.mpf(float(ratio))
            keep = [(mpm.mpf(float(w)), mpm.mpf(float(p))) for w, p in zip(values, probs)
                    if w != 0 and p > 0]
            self.w = [w for w, _ in keep]
            self.p = [p for _, p in keep]
            self.q = [self.g * w for w in self.w]
            self.pw = [p * w for w, p in keep]
            self.alpha = 1 - sum(self.p) / self.g
        self.atom = max(float(self.alpha), 0.0)

    # --- z(v) ---------------------------------------------------------------------------------
    def z(self, v):
        return v * (1 + mpm.fsum(pw / (v - q) for pw, q in zip(self.pw, self.q)))

    def dz(self, v):
        return 1 - mpm.fsum(pw * q / (v - q) ** 2 for pw, q in zip(self.pw, self.q))

    def d2z(self, v):
        return 2 * mpm.fsum(pw * q / (v - q) ** 3 for pw, q in zip(self.pw, self.q))

    def _z_dz(self, v):
        """``(z(v), z'(v))`` sharing the ``1/(v − q_k)``."""
        u = [1 / (v - q) for q in self.q]
        s1 = mpm.fsum(pw * uk for pw, uk in zip(self.pw, u))
        s2 = mpm.fsum(pw * q * uk * uk for pw, q, uk in zip(self.pw, self.q, u))
        return v * (1 + s1), 1 - s2

    def _newton(self, step_of, v, extra: int = 0):
        """Newton's method in twice the reference precision (near a square-root edge ``z'(v)``
        is tiny and the last digits of ``z(v) − x`` would otherwise stall it) plus ``extra``
        digits, stopped when the step is below ``10^−(DPS+5) |v|``; ``step_of(v)`` is
        ``f(v)/f'(v)``."""
        with mpm.workdps(2 * DPS + extra):
            v = +v
            for _ in range(3000):  # from far, Newton halves the distance to a double root
                step = step_of(v)
                v = v - step
                if abs(step) <= mpm.mpf(10) ** (-DPS - 5) * abs(v):
                    return v
        raise AssertionError("reference Newton did not converge")

    def solve(self, z, v0: complex):
        """``v`` with ``z(v) = z``, from ``v0``; ``Im v > 0`` when ``Im z > 0`` or ``z`` is real
        inside the support (then ``v0`` must have ``Im v0 > 0``)."""
        def step(u):
            zu, dzu = self._z_dz(u)
            return (zu - z) / dzu

        with mpm.workdps(DPS):
            z = mpm.mpc(z)
            # at a hard edge z(v) ~ v² is the difference of O(1) terms: |z| ≪ 1 needs
            # log10(1/|z|) more digits (z = 5e-324 needs ~324)
            extra = int(max(0, -mpm.log10(abs(z)))) if 0 < abs(z) < 1 else 0
            v = self._newton(step, mpm.mpc(v0), extra)
            assert abs(self.z(v) - z) <= mpm.mpf(10) ** (4 - DPS) * (abs(z) + abs(v))
            return v

    # --- support ------------------------------------------------------------------------------
    @functools.cached_property
    def edges(self) -> list:
        """The support intervals in 30 digits, ``(lo, hi, v_lo, v_hi)``: each edge is ``z(v*)``
        at a real critical point ``z'(v*) = 0``, refined by Newton on ``z'`` from rmt's own
        ``v`` at its edge (a hard edge at 0 has ``v* = 0``)."""
        out = []
        with mpm.workdps(DPS):
            for lo, hi in self.law.intervals:
                row = []
                for e in (lo, hi):
                    if e == 0.0 and self.alpha == 0:
                        row.append((mpm.mpf(0), mpm.mpf(0)))
                        continue
                    v0 = -1 / complex(self.law.stieltjes(e))
                    v = self._newton(lambda u: self.dz(u) / self.d2z(u), mpm.mpf(v0.real))
                    row.append((self.z(v), v))
                out.append((row[0][0], row[1][0], row[0][1], row[1][1]))
        return out

    def inside(self, x) -> bool:
        return any(lo < x < hi for lo, hi, _, _ in self.edges)

    # --- cdf, sf, pdf, Stieltjes ----------------------------------------------------------------
    def _im_phi(self, v, real: bool):
        """``Im Φ(v)``; for real ``v`` the arguments are those of ``v + i0``."""
        def arg(u):
            if real:
                return mpm.pi if u < 0 else mpm.mpf(0)
            return mpm.arg(u)
        a_v = arg(v)
        total = -a_v + mpm.fsum(p / self.g * (a_v - arg(v - q)) for p, q in zip(self.p, self.q))
        if not real:
            total += v.imag * mpm.fsum(pw / abs(v - q) ** 2 for pw, q in zip(self.pw, self.q))
        return total

    @functools.lru_cache(maxsize=None)
    def _v_inside(self, x):
        """``v(x + i0)`` inside the support: Newton from rmt's value, or where that fails (a
        start too far from a root next to a square-root edge), along ``x + iη`` with η falling
        from the width of the support by factors of 10 (each level starting from the last)."""
        v0 = -1 / complex(self.law.stieltjes(float(x)))
        if not v0.imag > 0:  # the density underflowed: start just above the real axis
            v0 = complex(v0.real, 1e-8 * (abs(v0) + 1e-300))
        try:
            v = self.solve(x, v0)
            if v.imag > 0:
                return v
        except (AssertionError, ZeroDivisionError):
            pass
        with mpm.workdps(DPS):
            lo, hi = self.edges[0][0], self.edges[-1][1]
            eta, v = hi - lo, mpm.mpc(v0.real, abs(v0) + 1)
            while eta > mpm.mpf(10) ** (-2 * DPS):
                v = self.solve(mpm.mpc(x, eta), v)
                eta /= 10
            v = self.solve(x, v)
        assert v.imag > 0, "inside the support the reference root must have Im v > 0"
        return v

    @functools.lru_cache(maxsize=None)
    def im_phi_at(self, x: float):
        """``F(x) − 1 = Im Φ(v(x + i0))`` / π (``x`` a float). Off the support ``F`` is its value
        at the last upper edge below ``x`` (``v`` real there: a sum of ``p_k/γ`` terms), plus the
        atom when 0 lies between that edge and ``x``."""
        with mpm.workdps(DPS):
            x = mpm.mpf(float(x))
            if self.inside(x):
                return self._im_phi(self._v_inside(x), real=False) / mpm.pi
            last = [(hi, vhi) for _, hi, _, vhi in self.edges if hi <= x]
            if not last:
                return mpm.mpf(-1) + (self.atom if x >= 0 else 0)
            hi, vhi = last[-1]
            if vhi == 0:   # an upper hard edge at 0: the gap above has v = 0⁺
                vhi = mpm.mpf("1e-40")
            jump = self.atom if (hi < 0 <= x) else 0
            return self._im_phi(vhi, real=True) / mpm.pi + jump

    def cdf(self, x: float):
        """``F(x)`` (30 digits, mpf)."""
        with mpm.workdps(DPS):
            return 1 + self.im_phi_at(float(x))

    def sf(self, x: float):
        with mpm.workdps(DPS):
            return -self.im_phi_at(float(x))

    def cdf_left(self, x: float):
        """``F(x⁻)``: differs from ``F(x)`` only by the atom at 0."""
        return self.cdf(x) - (self.atom if x == 0 else 0)

    @functools.lru_cache(maxsize=None)
    def pdf(self, x):
        """The density at a float or an mpf ``x``."""
        with mpm.workdps(DPS):
            x = mpm.mpf(x if isinstance(x, mpm.mpf) else float(x))
            if not self.inside(x):
                return mpm.mpf(0)
            v = self._v_inside(x)
            return v.imag / (mpm.pi * abs(v) ** 2)

    def stieltjes(self, z: complex):
        """``m(z)`` for ``Im z > 0`` (or real ``z`` inside the support: ``z + i0``)."""
        with mpm.workdps(DPS):
            v0 = -1 / complex(self.law.stieltjes(z))
            if not v0.imag > 0:
                v0 = complex(v0.real, 1e-8 * (abs(v0) + 1e-300))
            v = self.solve(z, v0)
            assert v.imag > 0
            return -1 / v

    # --- moments ------------------------------------------------------------------------------
    def moments(self, kmax: int) -> list:
        """``E λ^k`` from the free cumulants ``κ_k = γ^{k−1} E w^k`` by the moment–cumulant
        recursion over non-crossing partitions, in 30 digits."""
        with mpm.workdps(DPS):
            kappa = [self.g ** (k - 1) * mpm.fsum(p * w ** k for p, w in zip(self.p, self.w))
                     for k in range(1, kmax + 1)]
            m = [mpm.mpf(1)]
            for n in range(1, kmax + 1):
                # m_n = Σ_s κ_s Σ_{i_1+…+i_s = n−s} m_{i_1}…m_{i_s}
                total = mpm.mpf(0)
                for s in range(1, n + 1):
                    total += kappa[s - 1] * _compositions(m, n - s, s)
                m.append(total)
            return m[1:]


def _compositions(m: list, total: int, parts: int):
    """``Σ_{i_1+…+i_parts = total, i ≥ 0} m_{i_1} … m_{i_parts}``."""
    conv = [mpm.mpf(1)] + [mpm.mpf(0)] * total
    for _ in range(parts):
        conv = [mpm.fsum(conv[j] * m[i - j] for j in range(i + 1)) for i in range(total + 1)]
    return conv[total]


def reference_for(law) -> Reference:
    """The reference of an rmt law (MarchenkoPastur or WeightedMP)."""
    if hasattr(law, "weights"):
        nu = law.weights
        return Reference(law, law.ratio, nu.values, nu.probs)
    return Reference(law, law.ratio, [law.scale], [1.0])


def f64(a) -> np.ndarray:
    return np.array([float(v) for v in a])
