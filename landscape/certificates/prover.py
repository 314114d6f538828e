"""The prover's kernel (kernel A): from an exact centre and float proposals to claimed bounds.

Everything a conclusion rests on is an exact rational (:mod:`.exact`); floats only propose
(a shift, a Cholesky factor, an approximate inverse, a direction, a radius). Each claimed
number is written to the certificate as a binary64 *bound with a direction* (``lo`` or
``hi``), rounded outward and widened by a relative ``2^-40`` so that the independent
checker (:mod:`.checker`, arb balls) can confirm it with its own enclosures. Later claims
are computed from the *printed* earlier ones, so the checker can re-do every step.

Theorems (``B`` = the closed ball ``‖U − c‖_F <= r``, restricted to the gauge slice
``S = c + ker Wᵀ`` when there is a continuous symmetry; ``W`` the orbit tangents at ``c``;
``Lip(ρ) = [16aρ + 8ρ² + 8(1 − 1/T)(2aρ + ρ²)]/T`` with ``a >= max_t ‖c_t‖₂`` bounds
``‖∇²G(U) − ∇²G(c)‖₂`` for ``‖U − c‖_F <= ρ``; derivation in ``docs/certificates.md``)

*Minimum.* ``λ_c <= λ_min(∇²G(c)|ker Wᵀ)`` and ``μ := λ_c − Lip(r) > 0``: ``G|S`` is
``μ``-strongly convex on ``B``. With ``g >= ‖∇G(c)‖`` and ``g < μr``: exactly one critical
point ``U♯`` of ``G|S`` in ``B``, a strict minimiser, ``‖U♯ − c‖ <= g/μ`` and
``G(c) − g²/(2μ) <= G(U♯) <= G(c)``. Transversality (``s > ‖U♯ − c‖``, :mod:`.gauge`) makes
``U♯`` a critical point and a local minimiser of ``G`` (its orbit consists of local
minimisers, isolated modulo the symmetry). ``G(U♯) > 0`` proved: spurious;
``G(c) = 0`` exactly: a global minimum (then ``U♯ = c``).

*No local minimum.* A direction ``v`` with ``R := vᵀ∇²G(c)v/‖v‖² `` and ``R + Lip(r) < 0``:
every ``U`` in the (full, not sliced) ball has ``λ_min(∇²G(U)) <= R + Lip(r) < 0``, so the
ball contains no local minimum and no second-order stationary point of ``G`` (degenerate
or not); by the Schur complement (docs/math.md §4) none of ``L`` with ``U`` in the ball.

*Strict saddle (Krawczyk).* ``F(U, λ) = (∇G(U) + σWλ, σWᵀ(U − c))`` (just ``∇G`` without a
gauge), ``Y ≈ J(c)⁻¹``: ``κ := ‖I − YJ(c)‖_F + ‖Y‖_F Lip(r) < 1`` and ``‖YF(c)‖ <= (1 − κ)r``
give exactly one zero in the ball, at distance ``<= ‖YF(c)‖/(1 − κ)``; transversality with
``s > r`` makes every critical point of ``G|S`` in the ball a zero ``(U, 0)`` of ``F`` and a
critical point of ``G`` (so there is exactly one); ``R + Lip(dist) < 0``: a strict saddle.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from flint import fmpq, fmpz_mat

from .exact import Center, chol_lower_bound, frac, max_bits, q_hi, q_lo, sqrt_hi, sqrt_lo
from .gauge import gram_lower, tangent_obj

__all__ = ["Proof", "Prover", "lip", "SLACK"]

#: Relative widening of every printed bound (room for the checker's own rounding).
SLACK = fmpq(1, 1 << 40)


def _fq(x: float) -> fmpq:
    n, d = float(x).as_integer_ratio()
    return fmpq(n, d)


def _hi(x: fmpq) -> float:
    return q_hi(x + abs(x) * SLACK)


def _lo(x: fmpq) -> float:
    return q_lo(x - abs(x) * SLACK)


def lip(a: fmpq, rho: fmpq, T: int) -> fmpq:
    """``Lip(ρ)`` exactly (see the module notes)."""
    om = 1 - fmpq(1, T)
    return (16 * a * rho + 8 * rho * rho + 8 * om * (2 * a * rho + rho * rho)) / T


def lip_inverse(L: float, a: float, T: int) -> float:
    """Float ``ρ`` with ``Lip(ρ) = L`` (a proposal)."""
    if not L > 0:
        return 0.0
    om = 1 - 1 / T
    alpha = (16 + 16 * om) * a
    beta = 8 + 8 * om
    return (-alpha + math.sqrt(alpha * alpha + 4 * beta * T * L)) / (2 * beta)


def short_down(x: float, bits: int = 3) -> float:
    if not x > 0:
        return 0.0
    m, e = math.frexp(x)
    return math.ldexp(math.floor(m * 2**bits), e - bits)


@dataclass
class Proof:
    """Outcome of one proof attempt: printed bounds, the checks, the verdict."""

    holds: bool
    kind: str | None
    failed: list
    bounds: dict
    checks: dict
    note: str = ""


class Prover:
    """Exact work at one centre, shared by the proof attempts (radius-independent parts).

    Parameters
    ----------
    problem : Problem
    Z, N : the centre ``c = Z/N`` (Python ints)
    gauge : {"slice", "none"}
    """

    def __init__(self, problem, Z, N: int, gauge: str):
        self.problem = problem
        self.c = Center(problem, Z, N)
        self.gauge = gauge
        self.T = problem.T
        self.W = tangent_obj(self.c.Z, gauge)
        self.m = self.W.shape[1]
        self.s2 = gram_lower(self.W, 0, den=self.c.N) if self.m else fmpq(0)
        self._lam = None

    # -- shared centre bounds ---------------------------------------------------------------
    def center_bounds(self) -> dict:
        c = self.c
        G = c.loss()
        b = {
            "loss_center": {"lo": q_lo(G), "hi": q_hi(G)},
            "grad_norm": {"hi": _hi(sqrt_hi(c.grad_sq()))},
            "center_norm": {"hi": _hi(sqrt_hi(c.task_norm_sq_hi()))},
        }
        if self.m:
            b["gauge_s"] = {"lo": _lo(sqrt_lo(self.s2))}
        return b

    # -- λ_min on the slice at c ----------------------------------------------------------------
    def penalty_exp(self) -> int:
        if not self.m:
            return 0
        H = self.c.hessian_int()
        hb = max_bits(H)
        wb = max_bits(self.W)
        sh = max(0, wb - 50)
        Wf = np.array([float(int(x) >> sh) for x in self.W.ravel()]).reshape(self.W.shape)
        sig = float(np.linalg.eigvalsh(Wf.T @ Wf)[0])
        if not sig > 0:
            return 0
        # 2^e · σ_min(W)² ≈ 4‖H‖_max
        return max(0, hb + 2 - int(math.floor(math.log2(sig))) - 2 * sh)

    def lambda_center(self, penalty_exp: int | None = None):
        """``(λ_c, float estimate)``: ``λ_c <= λ_min(∇²G(c)|ker Wᵀ)`` (or ``None``)."""
        if self._lam is not None:
            return self._lam
        e = self.penalty_exp() if penalty_exp is None else penalty_exp
        H = self.c.hessian_int()
        if self.m:
            n, m = self.c.n, self.m
            Wm = fmpz_mat(n, m, [int(x) for x in self.W.ravel()])
            Hm = fmpz_mat(n, n, [int(x) for x in H.ravel()]) + (Wm * Wm.transpose()) * (1 << e)
            H = np.empty((n, n), dtype=object)
            H.ravel()[:] = Hm.entries()  # fmpz entries: the object-array kernels accept them
        lz, lam_f = chol_lower_bound(H)
        cH = self.c.hessian_scale
        lam = None if lz is None else cH * lz
        self._lam = (lam, float(frac(lam_f * cH)))
        return self._lam

    # -- minimum ----------------------------------------------------------------------------------
    def min_proof(self, radius: float) -> Proof:
        b = self.center_bounds()
        lam, lam_f = self.lambda_center()
        checks = {}
        if lam is None:
            return Proof(False, None, ["lambda_center"], b, {"lambda_center": False},
                         f"could not prove λ_min > 0 at the centre (float estimate {lam_f:.3g})")
        T = self.T
        r = _fq(radius)
        b["lambda_center"] = {"lo": _lo(lam)}
        a = _fq(b["center_norm"]["hi"])
        b["variation"] = {"hi": _hi(lip(a, r, T))}
        mu = _fq(b["lambda_center"]["lo"]) - _fq(b["variation"]["hi"])
        b["mu"] = {"lo": _lo(mu)}
        mu = _fq(b["mu"]["lo"])
        g = _fq(b["grad_norm"]["hi"])
        checks["mu_positive"] = bool(mu > 0)
        checks["gradient_small"] = bool(mu > 0 and g < mu * r)
        if mu > 0:
            b["distance"] = {"hi": _hi(g / mu)}
            G_lo = _fq(b["loss_center"]["lo"])
            b["loss_min"] = {"lo": _lo(G_lo - g * g / (2 * mu)), "hi": b["loss_center"]["hi"]}
            if self.m:
                checks["transversal"] = bool(_fq(b["gauge_s"]["lo"]) > _fq(b["distance"]["hi"]))
        failed = [k for k, v in checks.items() if not v]
        if failed:
            return Proof(False, None, failed, b, checks, "failed: " + ", ".join(failed))
        exact_zero = self.c.loss() == 0
        kind = "global-min" if exact_zero else (
            "spurious-min" if _fq(b["loss_min"]["lo"]) > 0 else "strict-min")
        return Proof(True, kind, [], b, checks)

    # -- no local minimum -------------------------------------------------------------------------
    def rayleigh(self, v) -> fmpq:
        """``vᵀ∇²G(c)v/‖v‖²`` exactly for integer ``v``."""
        H = self.c.hessian_int()
        vv = np.empty(len(v), dtype=object)
        vv[:] = [int(x) for x in v]
        num = int(np.dot(vv, np.dot(H, vv)))
        den = int(np.dot(vv, vv))
        return self.c.hessian_scale * fmpq(num, den)

    def nomin_proof(self, v, radius: float) -> Proof:
        b = self.center_bounds()
        b.pop("gauge_s", None)
        T = self.T
        R = self.rayleigh(v)
        b["rayleigh"] = {"hi": _hi(R)}
        a = _fq(b["center_norm"]["hi"])
        b["variation"] = {"hi": _hi(lip(a, _fq(radius), T))}
        up = _fq(b["rayleigh"]["hi"]) + _fq(b["variation"]["hi"])
        b["lambda_upper"] = {"hi": _hi(up)}
        checks = {"negative_curvature": bool(_fq(b["lambda_upper"]["hi"]) < 0)}
        failed = [k for k, v in checks.items() if not v]
        return Proof(not failed, "no-local-min" if not failed else None, failed, b, checks)

    # -- strict saddle ------------------------------------------------------------------------------
    def jacobian_exp(self) -> int:
        """Scale ``2^e`` of the gauge border so that it matches the Hessian block (a proposal)."""
        if not self.m:
            return 0
        return max(0, max_bits(self.c.hessian_int()) - max_bits(self.W))

    def krawczyk(self, jexp: int):
        """Exact ``(‖I − YJ‖_F², ‖Y‖_F², ‖YF(c)‖²)`` in real units for a float ``Y`` (or None)."""
        c = self.c
        H = c.hessian_int()
        n, m = c.n, self.m
        if m:
            B = self.W * (1 << jexp)
            J = np.zeros((n + m, n + m), dtype=object)
            J[:n, :n] = H
            J[:n, n:] = B
            J[n:, :n] = B.T
            J[n:, n:] = 0
        else:
            J = H
        Nn = n + m
        sh = max(0, max_bits(J) - 60)
        Jf = ((J >> sh) if sh else J).astype(np.float64)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ill-conditioning shows in the exact residual
                Yf = scipy.linalg.inv(Jf, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return None
        if not np.all(np.isfinite(Yf)) or not np.any(Yf):
            return None
        p = 52 - math.frexp(float(np.max(np.abs(Yf))))[1]
        # Y_int = round(Yf 2^p): the real inverse proposal is Y = Y_int 2^{-p-sh} / c_H
        YZ = fmpz_mat(Nn, Nn, [int(x) for x in np.rint(np.ldexp(Yf, p)).astype(np.int64).ravel()])
        JZ = fmpz_mat(Nn, Nn, list(J.ravel()))
        P = YZ * JZ  # = 2^{p+sh} · (Y J) in exact integers
        scale = 1 << (p + sh) if p + sh >= 0 else None
        if scale is None:
            return None
        for i in range(Nn):
            P[i, i] -= scale
        k0 = fmpq(sum(int(x) ** 2 for x in P.entries()), scale * scale)
        cH = c.hessian_scale
        y2 = fmpq(sum(int(x) ** 2 for x in YZ.entries()), scale * scale) / (cH * cH)
        F = [int(x) for x in c.GZ.ravel()] + [0] * m
        Fm = fmpz_mat(Nn, 1, F)
        YF = YZ * Fm
        cg = c.grad_scale
        st2 = fmpq(sum(int(x) ** 2 for x in YF.entries()), scale * scale) * cg * cg / (cH * cH)
        return k0, y2, st2

    def saddle_proof(self, v, radius: float, kdata, slack: float = 1.5) -> Proof:
        """Strict-saddle proof with Krawczyk data ``kdata`` from :meth:`krawczyk`."""
        b = self.center_bounds()
        T = self.T
        k0_sq, y2, st2 = kdata
        r = _fq(radius)
        a = _fq(b["center_norm"]["hi"])
        k0 = sqrt_hi(k0_sq)
        y = sqrt_hi(y2)
        st = sqrt_hi(st2)
        kappa = k0 + y * lip(a, r, T)
        checks = {"contraction": bool(kappa < 1), "self_map": bool(kappa < 1 and st <= (1 - kappa) * r)}
        failed = [k for k, v_ in checks.items() if not v_]
        if failed:
            return Proof(False, None, failed, b, checks, "failed: " + ", ".join(failed))
        dist = min(st / (1 - kappa) * _fq(slack), r)
        b["distance"] = {"hi": _hi(dist)}
        dist = _fq(b["distance"]["hi"])
        if self.m:
            # s > r: every critical point of G|S in the ball is one of G, i.e. a zero (U, 0) of F
            checks["transversal"] = bool(_fq(b["gauge_s"]["lo"]) > r)
        R = self.rayleigh(v)
        b["rayleigh"] = {"hi": _hi(R)}
        b["variation"] = {"hi": _hi(lip(a, dist, T))}
        b["lambda_upper"] = {"hi": _hi(_fq(b["rayleigh"]["hi"]) + _fq(b["variation"]["hi"]))}
        checks["negative_curvature"] = bool(_fq(b["lambda_upper"]["hi"]) < 0)
        H = self.c.hessian_int()
        hn = self.c.hessian_scale * sqrt_hi(fmpq(sum(int(x) ** 2 for x in H.ravel())))
        b["hessian_norm"] = {"hi": _hi(hn)}
        g = _fq(b["grad_norm"]["hi"])
        err = g * dist + (_fq(b["hessian_norm"]["hi"]) + _fq(b["variation"]["hi"])) * dist * dist / 2
        b["loss_critical"] = {"lo": _lo(_fq(b["loss_center"]["lo"]) - err),
                              "hi": _hi(_fq(b["loss_center"]["hi"]) + err)}
        failed = [k for k, v_ in checks.items() if not v_]
        return Proof(not failed, "strict-saddle" if not failed else None, failed, b, checks,
                     "" if not failed else "failed: " + ", ".join(failed))


def int_direction(v: np.ndarray, bits: int = 20) -> list[int]:
    """A float direction as small integers (the proposal stored in a certificate)."""
    v = np.asarray(v, dtype=np.float64).ravel()
    return [int(x) for x in np.rint(v / np.max(np.abs(v)) * 2.0**bits).astype(np.int64)]
