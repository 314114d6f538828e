"""Exact arithmetic of the prover (kernel A): ``G``, ``∇G``, ``∇²G`` at a rational centre.

Every number here is an integer (Python ``int`` / flint ``fmpz``) or a rational (``fmpq``);
nothing is rounded. The centre of a certificate is an exact rational point ``c = Z/N``
(``Z`` integers, one common denominator ``N``); the problem data are binary64, hence dyadic,
and are written over the same denominator: ``U* = ZS/N`` (``N`` is a multiple of the data's
power of two). With ``n = Tdk`` and indices ``(t, i, a)`` for ``U_t[i, a]``:

- ``R*_t = RS_t/N²``, ``D_t = DZ_t/N²`` with ``DZ_t = Z_tZ_tᵀ − RS_t``;
  ``C_t = D_t − D̄ = CZ_t/(T N²)`` with ``CZ_t = T·DZ_t − Σ_s DZ_s``;
- ``G(c) = Σ_t ‖CZ_t‖_F² / (T³ N⁴)``;
- ``∇_{U_t}G(c) = (4/T) C_t c_t = c_g · GZ_t`` with ``GZ_t = CZ_t Z_t``, ``c_g = 4/(T² N³)``;
- ``∇²G(c) = c_H · HZ`` with ``c_H = 2/(T² N²)`` and
  ``HZ[(t,i,a),(s,j,b)] = 2(Tδ_ts − 1)(δ_ij (Z_tᵀZ_s)[a,b] + Z_s[i,b] Z_t[j,a]) + 2 δ_ts δ_ab CZ_t[i,j]``
  (the quadratic form ``(2/T)Σ_t‖B_t − B̄‖² + (4/T)Σ_t⟨C_t, Δ_tΔ_tᵀ⟩``, ``B_t = U_tΔ_tᵀ + Δ_tU_tᵀ``,
  written entrywise).

The checker (:mod:`.checker`) computes the same quantities a second way (arb balls, the
Schur complement of the Meta-LoRA Hessian); nothing here is shared with it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from flint import fmpq, fmpz_mat

__all__ = ["Center", "sqrt_hi", "sqrt_lo", "q_lo", "q_hi", "frac", "chol_lower_bound"]


def frac(x) -> Fraction:
    """An fmpq/int as a Python ``Fraction`` (exact)."""
    if isinstance(x, fmpq):
        return Fraction(int(x.p), int(x.q))
    return Fraction(x)


def q_lo(x) -> float:
    """Largest binary64 number ``<= x`` (x rational)."""
    f = frac(x)
    y = float(f)
    while Fraction(y) > f:
        y = math.nextafter(y, -math.inf)
    return y


def q_hi(x) -> float:
    """Smallest binary64 number ``>= x`` (x rational)."""
    f = frac(x)
    y = float(f)
    while Fraction(y) < f:
        y = math.nextafter(y, math.inf)
    return y


_SQRT_BITS = 100


def sqrt_hi(x) -> fmpq:
    """A rational ``>= √x`` (relative excess below 2^-100) for rational ``x >= 0``."""
    x = fmpq(x) if not isinstance(x, fmpq) else x
    if x <= 0:
        return fmpq(0)
    p, q = int(x.p), int(x.q)
    s = 1 << _SQRT_BITS
    return fmpq(math.isqrt(p * q * s * s) + 1, q * s)


def sqrt_lo(x) -> fmpq:
    """A rational ``<= √x`` for rational ``x >= 0``."""
    x = fmpq(x) if not isinstance(x, fmpq) else x
    if x <= 0:
        return fmpq(0)
    p, q = int(x.p), int(x.q)
    s = 1 << _SQRT_BITS
    return fmpq(math.isqrt(p * q * s * s), q * s)


def _obj(a) -> np.ndarray:
    out = np.empty(np.shape(a), dtype=object)
    out[...] = a
    return out


def _sumsq(a: np.ndarray) -> int:
    return sum(int(x) * int(x) for x in a.ravel())


class Center:
    """The exact data of a certificate's centre ``c = Z/N`` and the problem (see the module notes).

    Parameters
    ----------
    problem : Problem
    Z : (T, d, k) array of Python ints
    N : int
        Common denominator (``N >= 1``); multiplied internally by what the data need.
    """

    def __init__(self, problem, Z, N: int):
        T, d, k = problem.T, problem.d, problem.k
        qs = 0
        for x in np.asarray(problem.U_star, dtype=np.float64).ravel().tolist():
            qs = max(qs, x.as_integer_ratio()[1].bit_length() - 1)
        N = int(N)
        # common denominator: lcm(N, 2^qs)
        g = math.gcd(N, 1 << qs)
        mult = (1 << qs) // g
        self.N = N * mult
        self.Z = _obj(np.asarray(Z, dtype=object)) * mult
        self.ZS = np.empty((T, d, k), dtype=object)
        for idx, x in zip(np.ndindex(T, d, k), np.asarray(problem.U_star, dtype=np.float64).ravel().tolist()):
            num, den = x.as_integer_ratio()
            self.ZS[idx] = num * (self.N // den)
        self.T, self.d, self.k = T, d, k
        Z = self.Z
        self.RS = np.empty((T, d, d), dtype=object)
        DZ = np.empty((T, d, d), dtype=object)
        for t in range(T):
            self.RS[t] = np.dot(self.ZS[t], self.ZS[t].T)
            DZ[t] = np.dot(Z[t], Z[t].T) - self.RS[t]
        total = DZ.sum(axis=0)
        self.CZ = np.empty_like(DZ)
        self.GZ = np.empty((T, d, k), dtype=object)
        for t in range(T):
            self.CZ[t] = T * DZ[t] - total
            self.GZ[t] = np.dot(self.CZ[t], Z[t])
        self._H = None

    # -- values --------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.T * self.d * self.k

    def as_float(self) -> np.ndarray:
        """Nearest binary64 point (for proposals only)."""
        N = self.N
        return np.array([float(Fraction(int(z), N)) for z in self.Z.ravel()]).reshape(self.T, self.d, self.k)

    def loss(self) -> fmpq:
        return fmpq(_sumsq(self.CZ), self.T**3 * self.N**4)

    def grad_sq(self) -> fmpq:
        return fmpq(16 * _sumsq(self.GZ), self.T**4 * self.N**6)

    @property
    def grad_scale(self) -> fmpq:
        return fmpq(4, self.T**2 * self.N**3)

    @property
    def hessian_scale(self) -> fmpq:
        return fmpq(2, self.T**2 * self.N**2)

    def task_norm_sq_hi(self) -> fmpq:
        """``max_t ‖c_t‖₂² <=`` this: ``min(trace, ‖·‖_∞)`` of each exact Gram ``c_tᵀc_t``."""
        best = fmpq(0)
        for t in range(self.T):
            Gm = np.dot(self.Z[t].T, self.Z[t])
            tr = sum(int(Gm[i, i]) for i in range(self.k))
            inf = max(sum(abs(int(x)) for x in row) for row in Gm.tolist())
            best = max(best, fmpq(min(tr, inf), self.N**2))
        return best

    # -- Hessian -----------------------------------------------------------------------------
    def hessian_int(self) -> np.ndarray:
        """``HZ`` (n × n object array of Python ints)."""
        if self._H is not None:
            return self._H
        T, d, k = self.T, self.d, self.k
        Z = self.Z
        O = np.multiply.outer(Z, Z)  # O[t,j,a,s,i,b] = Z[t,j,a] Z[s,i,b]
        P = O.transpose(0, 4, 2, 3, 1, 5).copy()  # P[t,i,a,s,j,b] = Z[s,i,b] Z[t,j,a]
        K = np.empty((T, k, T, k), dtype=object)
        for t in range(T):
            for s in range(T):
                K[t, :, s, :] = np.dot(Z[t].T, Z[s])
        for i in range(d):
            P[:, i, :, :, i, :] += K
        w = _obj(2 * (T * np.eye(T, dtype=np.int64) - 1))
        P = P * w.reshape(T, 1, 1, T, 1, 1)
        H = P.reshape(self.n, self.n)
        dk = d * k
        for t in range(T):
            blk = np.zeros((d, k, d, k), dtype=object)
            for a in range(k):
                blk[:, a, :, a] = 2 * self.CZ[t]
            H[t * dk:(t + 1) * dk, t * dk:(t + 1) * dk] += blk.reshape(dk, dk)
        self._H = H
        return H


def max_bits(M: np.ndarray) -> int:
    """Bit length of the largest magnitude in an integer (object) array."""
    if M.size == 0:
        return 0
    return int(np.max(np.abs(M))).bit_length()


def chol_lower_bound(M: np.ndarray, fracs=(0.9, 0.7, 0.45, 0.2)) -> tuple[fmpq | None, fmpq]:
    """A proven lower bound on ``λ_min(M)`` for a symmetric integer matrix (or ``None``), and
    the float estimate of ``λ_min`` (as a rational: ``M`` may be far outside binary64 range).

    ``M = 2^h M_hi + M_lo`` with ``M_hi = ⌊M/2^h⌋`` (entries below 2^60) and ``0 <= M_lo < 2^h``,
    so ``λ_min(M) >= 2^h λ_min(M_hi) − n 2^h`` (``‖M_lo‖₂ <= ‖M_lo‖_F < n 2^h``). For ``M_hi``,
    floats propose a shift ``s`` (a fraction of the float ``λ_min``) and the Cholesky factor
    ``L`` of ``M_hi − sI``; ``L`` is rounded to integers ``LZ = round(L 2^p)`` and
    ``E = M_hi − sI − LZ LZᵀ/2^{2p}`` is evaluated exactly (fmpz matrices); then
    ``λ_min(M_hi) >= s − ‖E‖_F`` (Weyl; ``LLᵀ ⪰ 0``).
    """
    import scipy.linalg

    n = M.shape[0]
    sh = max(0, max_bits(M) - 60)
    Mhi = (M >> sh) if sh > 0 else M  # floor: symmetric when M is
    F = Mhi.astype(np.float64)
    lam = float(scipy.linalg.eigh(F, eigvals_only=True, subset_by_index=[0, 0], check_finite=False)[0])
    est = fmpq(*float(lam).as_integer_ratio()) * (1 << sh)
    if not lam > 0:
        return None, est
    Mz = fmpz_mat(n, n, list(Mhi.ravel()))
    lo_err = fmpq(n) if sh > 0 else fmpq(0)  # ‖M_lo‖₂ / 2^h
    for fr in fracs:
        m, e = math.frexp(lam * fr)
        s = math.ldexp(math.floor(m * 2**20), e - 20)  # a short dyadic shift below lam·fr
        try:
            L = scipy.linalg.cholesky(F - s * np.eye(n), lower=True, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            continue
        if not np.all(np.isfinite(L)):
            continue
        lmax = float(np.max(np.abs(L)))
        p = max(0, 52 - math.frexp(lmax)[1])
        LZ = fmpz_mat(n, n, [int(x) for x in np.rint(np.ldexp(L, p)).astype(np.int64).ravel()])
        sn, sd = s.as_integer_ratio()
        se = sd.bit_length() - 1
        # E · 2^{2p+se} = M_hi 2^{2p+se} − sn 2^{2p} I − LZ LZᵀ 2^{se}
        E = Mz * (1 << (2 * p + se)) - (LZ * LZ.transpose()) * (1 << se)
        corr = sn << (2 * p)
        for i in range(n):
            E[i, i] -= corr
        fro2 = sum(int(x) ** 2 for x in E.entries())
        scale = 1 << (2 * p + se)
        bound = (fmpq(sn, sd) - sqrt_hi(fmpq(fro2, scale * scale)) - lo_err) * (1 << sh)
        if bound > 0:
            return bound, est
    return None, est
