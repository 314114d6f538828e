"""Rigorous enclosures of ``G``, ``∇G`` and ``∇²G`` for the certificates (MATH.md §4, §6).

Notation: ``Ũ`` the point (exact binary64 data), ``c`` the *anchor* — ``Ũ`` rounded to a
coarse dyadic grid so that the anchor Hessian is an int64 matrix — and ``n = Tdk``.

Exact quantities at ``Ũ`` (:class:`ExactPoint`, Python integers)
    ``G(Ũ)``, ``‖∇G(Ũ)‖²``, ``∇G(Ũ)``, ``A(Ũ)``: rationals, computed without rounding.

The anchor Hessian (:class:`Anchor`, int64)
    ``H_c = c_H · HZ`` equals ``∇²G(c)`` with ``R*_t`` replaced by ``R̂_t`` (``R*_t`` rounded to
    the anchor grid), optionally plus the gauge penalty ``ρ WWᵀ``:
    ``HZ = 2(Tδ_ts − 1)[Zc_s[i,b] Zc_t[a,c] + δ_ia (Zc_tᵀZc_s)[c,b]]
    + 2 δ_ts δ_cb ĈZ_t[i,a] (+ 2^e δ_ts (W_tW_tᵀ))`` with ``c_H = 2^{1−2q_c}/T²``.
    Every entry is proven below ``2^56`` from the sizes of the integer inputs before the
    int64 arithmetic runs.

Variation over a ball (:func:`hessian_variation`)
    For ``‖U − c‖_F <= ρ``: ``‖∇²G(U) − H_c‖₂ <= Lip(ρ) + ε_R`` with
    ``Lip(ρ) = [16aρ + 8ρ² + 8(1 − 1/T)(2aρ + ρ²)] / T``, ``a >= max_t ‖c_t‖₂``, and
    ``ε_R = (4/T) max_t ‖Δ_t − Δ̄‖_F``, ``Δ_t = R*_t − R̂_t``.
    *Derivation.* With ``B_t = c_tΔ_tᵀ + Δ_tc_tᵀ``, ``β_t = δ_tΔ_tᵀ + Δ_tδ_tᵀ`` and
    ``X_t = c_tδ_tᵀ + δ_tc_tᵀ + δ_tδ_tᵀ`` (``U = c + δ``, unit direction ``Δ``),
    ``∇²G(U)[Δ,Δ] = (2/T)Σ‖B_t + β_t − mean‖² + (4/T)Σ⟨C_t(c) + X_t − X̄, Δ_tΔ_tᵀ⟩``.
    Centering is an orthogonal projection, ``‖(B_t)‖ <= 2a``, ``‖(β_t)‖ <= 2ρ`` give the
    first two terms; ``|Σ_t⟨X_t − X̄, Δ_tΔ_tᵀ⟩| <= max_t ‖X_t − X̄‖₂ <= 2(1 − 1/T)(2aρ + ρ²)``
    the last; the quadratic form bounds the 2-norm of the symmetric difference. Replacing
    ``R̂`` by ``R*`` changes the Hessian by ``−(4/T) blockdiag((Δ_t − Δ̄) ⊗ I_k)``.

Lower bound on ``λ_min(H_c)`` (:func:`cholesky_residual_sq`)
    Floats propose a shift ``s`` and the Cholesky factor ``L`` of ``HZ − sI``; ``L`` is
    quantised to integers and ``E = HZ − sI − LLᵀ`` is evaluated *exactly*; then
    ``λ_min(HZ) >= s − ‖E‖_F`` (Weyl, ``LLᵀ ⪰ 0``).

Krawczyk residuals (:func:`krawczyk_residuals`) and Rayleigh quotients
(:func:`rayleigh_int`) likewise evaluate ``I − YJ``, ``YF`` and ``vᵀHZv`` exactly for
float proposals ``Y ≈ J⁻¹`` and ``v``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from flint import arb, fmpq

from ._exact import (
    OverflowRisk,
    dyadic,
    exact_combination,
    exact_products,
    int_matvec,
    split_limbs,
    sumsq_int64,
)
from .gauge import gram_lower, tangent_int, task_norm_bounds

__all__ = [
    "ExactPoint",
    "Anchor",
    "hessian_variation",
    "cholesky_residual_sq",
    "krawczyk_residuals",
    "rayleigh_int",
    "arb_of",
    "sqrt_upper",
    "HZ_BITS",
]

#: Entries of the anchor Hessian (and of the augmented Jacobian) stay below 2^HZ_BITS.
HZ_BITS = 56


def arb_of(x) -> arb:
    """An arb ball containing ``x`` (exact for ints/fmpq that fit the working precision)."""
    if isinstance(x, arb):
        return x
    if isinstance(x, fmpq):
        return arb(x.p) / arb(x.q)
    return arb(x)


def sqrt_upper(x) -> arb:
    """``√x`` for ``x >= 0`` as an arb (the ball contains the exact root)."""
    a = arb_of(x)
    return a.sqrt() if a > 0 else arb(0) if a == 0 else a.nonnegative_part().sqrt()


def _sumsq_obj(a: np.ndarray) -> int:
    flat = a.ravel()
    return int(np.dot(flat, flat)) if flat.size else 0


# -- exact data at the point Ũ -----------------------------------------------------------
@dataclass
class ExactPoint:
    """Exact integer images of ``G(Ũ)``, ``∇G(Ũ)`` and ``A(Ũ)``.

    ``Ũ = Z / 2^q`` and ``U* = ZS / 2^q``; ``D_t = DZ_t / 2^{2q}``; ``C_t = CZ_t / (T 2^{2q})``
    with ``CZ_t = T DZ_t − Σ_s DZ_s``; ``∇_t G = 4 GZ_t / (T² 2^{3q})`` with ``GZ_t = CZ_t Z_t``.
    """

    U: np.ndarray
    U_star: np.ndarray
    A_star: np.ndarray
    q: int = field(init=False)
    Z: np.ndarray = field(init=False, repr=False)
    ZS: np.ndarray = field(init=False, repr=False)
    RS: np.ndarray = field(init=False, repr=False)
    DZ: np.ndarray = field(init=False, repr=False)
    CZ: np.ndarray = field(init=False, repr=False)
    GZ: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.q, (self.Z, self.ZS) = dyadic(self.U, self.U_star)
        T, d, k = self.U.shape
        self.RS = np.empty((T, d, d), dtype=object)
        self.DZ = np.empty((T, d, d), dtype=object)
        for t in range(T):
            self.RS[t] = np.dot(self.ZS[t], self.ZS[t].T)
            self.DZ[t] = np.dot(self.Z[t], self.Z[t].T) - self.RS[t]
        total = self.DZ.sum(axis=0)
        self.CZ = np.empty_like(self.DZ)
        self.GZ = np.empty((T, d, k), dtype=object)
        for t in range(T):
            self.CZ[t] = T * self.DZ[t] - total
            self.GZ[t] = np.dot(self.CZ[t], self.Z[t])

    @property
    def T(self) -> int:
        return self.U.shape[0]

    def loss(self) -> fmpq:
        """``G(Ũ) = Σ‖CZ_t‖² / (T³ 2^{4q})`` exactly."""
        return fmpq(_sumsq_obj(self.CZ), self.T**3 << (4 * self.q))

    def grad_sq(self) -> fmpq:
        """``‖∇G(Ũ)‖² = 16 Σ‖GZ_t‖² / (T⁴ 2^{6q})`` exactly."""
        return fmpq(16 * _sumsq_obj(self.GZ), self.T**4 << (6 * self.q))

    @property
    def grad_scale(self) -> fmpq:
        """``c_g`` with ``∇G(Ũ) = c_g · GZ``."""
        return fmpq(4, self.T**2 << (3 * self.q))

    def A_center(self) -> list[list[fmpq]]:
        """``A(Ũ) = A* − (1/T) Σ_t D_t`` exactly (d × d nested list)."""
        T = self.T
        d = self.U.shape[1]
        total = self.DZ.sum(axis=0)
        den = T << (2 * self.q)
        out = []
        for i in range(d):
            row = []
            for j in range(d):
                num, dd = float(self.A_star[i, j]).as_integer_ratio()
                row.append(fmpq(num, dd) - fmpq(int(total[i, j]), den))
            out.append(row)
        return out


# -- the anchor --------------------------------------------------------------------------
def _anchor_coefficient(T: int, d: int, k: int, penalty_exp: int | None) -> float:
    pen = 0.0 if penalty_exp is None else 2.0**penalty_exp * (2 * k + 1)
    return 2 * max(T - 1, 1) * (d + 1) + 4 * T * (k + 2) + pen


def anchor_scale(U: np.ndarray, U_star: np.ndarray) -> float:
    """``max(max|Ũ|, √max|R*|)``: the anchor grid resolves both ``Ũ`` and ``R*``."""
    umax = float(np.max(np.abs(U))) if U.size else 0.0
    rmax = float(np.max(np.abs(np.einsum("tik,tjk->tij", U_star, U_star)))) if U_star.size else 0.0
    return max(umax, math.sqrt(rmax))


def default_anchor_bits(U: np.ndarray, U_star: np.ndarray, penalty_exp: int | None) -> int:
    """Finest anchor grid (bits of the anchor scale) keeping the anchor Hessian below 2^56."""
    T, d, k = U.shape
    coef = _anchor_coefficient(T, d, k, penalty_exp)
    return max(2, int(math.floor((HZ_BITS - 1 - math.log2(coef)) / 2)))


@dataclass
class Anchor:
    """The anchor ``c`` (``Ũ`` on a ``2^{-q_c}`` grid with ``|Zc| <= 2^bits``) and its Hessian.

    Parameters
    ----------
    ex : ExactPoint
        Exact data at ``Ũ``.
    bits : int
        Resolution: ``q_c = bits − e`` with ``anchor_scale < 2^e``, ``Zc = rint(Ũ 2^{q_c})``.
    gauge : {"slice", "none"}
        Whether the gauge columns ``WZ`` (:mod:`.gauge`) are used.
    """

    ex: ExactPoint
    bits: int
    gauge: str
    qc: int = field(init=False)
    Zc: np.ndarray = field(init=False, repr=False)
    RZ: np.ndarray = field(init=False, repr=False)
    CZc: np.ndarray = field(init=False, repr=False)
    WZ: np.ndarray = field(init=False, repr=False)
    delta_sq: fmpq = field(init=False)
    epsR_sq: fmpq = field(init=False)
    a_sq: list = field(init=False)
    s2: fmpq = field(init=False)
    _hz: dict = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self):
        ex = self.ex
        U = ex.U
        T, d, k = U.shape
        scale = anchor_scale(U, ex.U_star)
        self.qc = 0 if scale == 0.0 else self.bits - math.frexp(scale)[1]
        Zc = np.rint(np.ldexp(U, self.qc))
        if np.max(np.abs(Zc), initial=0.0) > 2.0**self.bits:
            raise OverflowRisk("anchor grid overflow")
        self.Zc = Zc.astype(np.int64)
        # ‖Ũ − c‖² exactly: both on the grid 2^{-max(q, qc)}
        Q = max(ex.q, self.qc)
        diff = [
            int(z) * (1 << (Q - ex.q)) - int(zc) * (1 << (Q - self.qc))
            for z, zc in zip(ex.Z.ravel(), self.Zc.ravel().tolist())
        ]
        self.delta_sq = fmpq(sum(x * x for x in diff), 1 << (2 * Q))
        # R̂_t = round(R*_t · 2^{2qc}) / 2^{2qc}  (R*_t = RS_t / 2^{2q})
        sh = 2 * ex.q - 2 * self.qc
        RZ = np.empty((T, d, d), dtype=object)
        for t in range(T):
            for i in range(d):
                for j in range(d):
                    RZ[t, i, j] = _round_shift(int(ex.RS[t, i, j]), sh)
        if _max_obj(RZ) >= 1 << 60:
            raise OverflowRisk("anchor grid too fine for R*")
        self.RZ = RZ.astype(np.int64)
        # ε_R: Δ_t = R*_t − R̂_t on the grid 2^{-Q2}
        Q2 = max(2 * ex.q, 2 * self.qc)
        DeltaZ = np.empty((T, d, d), dtype=object)
        for t in range(T):
            DeltaZ[t] = ex.RS[t] * (1 << (Q2 - 2 * ex.q)) - RZ[t] * (1 << (Q2 - 2 * self.qc))
        tot = DeltaZ.sum(axis=0)
        worst = max(_sumsq_obj(T * DeltaZ[t] - tot) for t in range(T))
        self.epsR_sq = fmpq(worst, T * T << (2 * Q2))  # max_t ‖Δ_t − Δ̄‖_F²
        # Ĉ at the anchor
        DZc = np.einsum("tik,tjk->tij", self.Zc, self.Zc) - self.RZ
        self.CZc = T * DZc - DZc.sum(axis=0)
        self.a_sq = task_norm_bounds(self.Zc, self.qc)
        self.WZ = tangent_int(self.Zc, self.gauge)
        self.s2 = gram_lower(self.WZ, self.qc) if self.WZ.shape[1] else fmpq(0)

    @property
    def T(self) -> int:
        return self.ex.T

    @property
    def n(self) -> int:
        return self.ex.U.size

    @property
    def c(self) -> np.ndarray:
        return np.ldexp(self.Zc.astype(np.float64), -self.qc)

    @property
    def hessian_scale(self) -> fmpq:
        """``c_H = 2^{1−2q_c}/T²`` (may have a power of two in the numerator when ``q_c < 1``)."""
        e = 1 - 2 * self.qc
        return fmpq(1 << e, self.T**2) if e >= 0 else fmpq(1, self.T**2 << (-e))

    def max_a(self) -> fmpq:
        """Upper bound on ``max_t ‖c_t‖₂²``."""
        return max(self.a_sq) if self.a_sq else fmpq(0)

    @property
    def m(self) -> int:
        """Number of gauge columns."""
        return self.WZ.shape[1]

    def _bound(self, penalty_exp: int | None) -> int:
        T, d, k = self.Zc.shape
        M = int(np.max(np.abs(self.Zc), initial=0))
        maxRZ = int(np.max(np.abs(self.RZ), initial=0))
        maxDZ = k * M * M + maxRZ
        B = 2 * max(T - 1, 1) * (d + 1) * M * M + 4 * T * maxDZ
        if penalty_exp is not None:
            B += (1 << penalty_exp) * (2 * k + 1) * M * M
        return B

    def hessian(self, penalty_exp: int | None = None) -> np.ndarray:
        """``HZ`` (n × n int64), plus ``2^penalty_exp · WZ WZᵀ`` when ``penalty_exp`` is set."""
        if penalty_exp in self._hz:
            return self._hz[penalty_exp]
        if penalty_exp is not None and penalty_exp < 0:
            raise OverflowRisk("negative penalty exponent")
        if self._bound(penalty_exp) >= 1 << HZ_BITS:
            raise OverflowRisk("anchor Hessian entries could exceed 2^56; use fewer anchor bits")
        T, d, k = self.Zc.shape
        n, dk = T * d * k, d * k
        Z = self.Zc
        base = Z.transpose(1, 0, 2).reshape(1, d, 1, T, 1, k) * Z.transpose(0, 2, 1).reshape(T, 1, k, 1, d, 1)
        K = np.einsum("txc,sxb->tcsb", Z, Z)
        for i in range(d):
            base[:, i, :, :, i, :] += K
        w = 2 * (T * np.eye(T, dtype=np.int64) - 1)
        H = (base * w.reshape(T, 1, 1, T, 1, 1)).reshape(n, n)
        eye_k = np.eye(k, dtype=np.int64)
        for t in range(T):
            blk = 2 * np.einsum("ia,cb->icab", self.CZc[t], eye_k).reshape(dk, dk)
            H[t * dk : (t + 1) * dk, t * dk : (t + 1) * dk] += blk
        if penalty_exp is not None and self.m:
            H += (self.WZ @ self.WZ.T) << penalty_exp
        H.setflags(write=False)
        self._hz[penalty_exp] = H
        return H

    def tangent(self) -> np.ndarray:
        """``WZ`` (n × m int64), the gauge columns at the anchor."""
        return self.WZ


def _round_shift(x: int, sh: int) -> int:
    """``round(x / 2^sh)`` (ties away from zero) for ``sh >= 0``; ``x·2^{-sh}`` otherwise."""
    if sh <= 0:
        return x << (-sh)
    half = 1 << (sh - 1)
    return (x + half) >> sh if x >= 0 else -((-x + half) >> sh)


def _max_obj(a: np.ndarray) -> int:
    return max((abs(int(x)) for x in a.ravel()), default=0)


# -- variation bound ---------------------------------------------------------------------
def hessian_variation(a: arb, rho: arb, T: int) -> arb:
    """``Lip(ρ) = [16aρ + 8ρ² + 8(1 − 1/T)(2aρ + ρ²)] / T`` (see the module notes)."""
    T_ = arb(T)
    one_minus = arb(1) - arb(1) / T_
    return (16 * a * rho + 8 * rho * rho + 8 * one_minus * (2 * a * rho + rho * rho)) / T_


# -- λ_min lower bound via an exact Cholesky residual ---------------------------------------
def _beta(inner: int) -> int:
    return max(1, (50 - max(1, math.ceil(math.log2(max(inner, 2))))) // 2)


def cholesky_residual_sq(HZ: np.ndarray, shift: int) -> fmpq | None:
    """``‖HZ − shift·I − LLᵀ‖_F²`` exactly, for a float Cholesky proposal ``L`` (or ``None``).

    ``None`` when the float Cholesky of ``HZ − shift·I`` fails or the exact residual does
    not fit the integer engine (both mean: no proof with this shift).
    """
    n = HZ.shape[0]
    if not 0 <= int(shift) < 1 << 60:  # keeps HZ − shift·I exact in int64 (|HZ| < 2^56)
        return None
    A = HZ.astype(np.int64, copy=True)
    A[np.diag_indices(n)] -= int(shift)
    Af = A.astype(np.float64)
    try:
        L = scipy.linalg.cholesky(Af, lower=True, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not np.all(np.isfinite(L)):
        return None
    lmax = float(np.max(np.abs(L)))
    if lmax == 0.0:
        return fmpq(sumsq_int64(A), 1)
    e_L = math.frexp(lmax)[1]
    amax = float(np.max(np.abs(Af)))
    # Residual scale ~ (n+1)·u·max|A| (float Cholesky) → choose p with |E|·2^{2p} < 2^58.
    log_res = math.log2(n + 1) + math.log2(max(amax, 1.0)) - 50
    p = int(math.floor((58 - log_res) / 2))
    beta = _beta(n)
    p = min(p, 3 * beta - 1 - e_L)
    LZ = np.rint(np.ldexp(L, p)).astype(np.int64)
    limbs = split_limbs(LZ, beta)
    terms = []
    shift0 = max(0, -2 * p)
    terms.append((2 * p + shift0, A, +1))
    fl = [x.astype(np.float64) for x in limbs]
    for i in range(len(fl)):
        for j in range(i, len(fl)):
            P = fl[i] @ fl[j].T
            e = beta * (i + j) + shift0
            terms.append((e, P, -1))
            if i != j:
                terms.append((e, P.T, -1))
    try:
        R = exact_combination(terms)
    except OverflowRisk:
        return None
    return fmpq(sumsq_int64(R), 1 << (2 * (2 * p + shift0)))


# -- Krawczyk -----------------------------------------------------------------------------
@dataclass(frozen=True)
class KrawczykData:
    """Exact residuals of a float inverse ``Y' ≈ J'^{-1}`` of the integer Jacobian ``J'``.

    ``kappa0_sq = ‖I − Y'J'‖_F²``, ``ynorm_sq = ‖Y'‖_F²``, ``res_sq = ‖Y'F'‖²`` (``F'`` the
    integer right-hand side), all exact rationals.
    """

    kappa0_sq: fmpq
    ynorm_sq: fmpq
    res_sq: fmpq


def krawczyk_residuals(J: np.ndarray, F: list[int]) -> KrawczykData | None:
    """Exact Krawczyk quantities for the int64 matrix ``J`` (|J| < 2^56) and integer ``F``."""
    N = J.shape[0]
    Jf = J.astype(np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ill-conditioning shows up in the exact residual
            Yf = scipy.linalg.inv(Jf, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not np.all(np.isfinite(Yf)):
        return None
    ymax = float(np.max(np.abs(Yf)))
    if ymax == 0.0:
        return None
    beta = _beta(N)
    e_Y = math.frexp(ymax)[1]
    p = 2 * beta - 1 - e_Y
    YZ = np.rint(np.ldexp(Yf, p)).astype(np.int64)
    terms = [(0, np.eye(N, dtype=np.int64), +1)]
    prods = exact_products(YZ, J)
    # I·2^p − Y_Z J'  (scale all exponents so that none is negative)
    shift0 = max(0, -p)
    terms = [(p + shift0, np.eye(N, dtype=np.int64), +1)] + [(e + shift0, P, -1) for e, P in prods]
    try:
        R = exact_combination(terms)
    except OverflowRisk:
        return None
    kappa0_sq = fmpq(sumsq_int64(R), 1 << (2 * (p + shift0)))
    ynorm_sq = fmpq(sumsq_int64(YZ), 1 << (2 * p)) if p >= 0 else fmpq(sumsq_int64(YZ) << (-2 * p), 1)
    YF = int_matvec(YZ, F)
    res_num = sum(x * x for x in YF)
    res_sq = fmpq(res_num, 1 << (2 * p)) if p >= 0 else fmpq(res_num << (-2 * p), 1)
    return KrawczykData(kappa0_sq, ynorm_sq, res_sq)


def rayleigh_int(HZ: np.ndarray, vZ: list[int]) -> fmpq:
    """``vᵀ HZ v / vᵀv`` exactly for an integer vector ``v``."""
    Hv = int_matvec(HZ, vZ)
    num = sum(int(a) * b for a, b in zip(vZ, Hv))
    den = sum(int(a) * int(a) for a in vZ)
    return fmpq(num, den)


def hessian_fro_sq(HZ: np.ndarray) -> int:
    """``‖HZ‖_F²`` exactly."""
    return sumsq_int64(HZ)
