"""Exact integer arithmetic for the certificates: the data as integers, exact matrix products.

Every binary64 number is a dyadic rational ``m·2^e``. The certificates therefore evaluate
``G``, ``∇G`` and the anchor Hessian as integers times known rational scale factors, and
never round. Three integer engines are used, each exact by construction:

- **Python integers** (unbounded) for everything of size O(T d² k): ``G(Ũ)``, ``∇G(Ũ)``,
  ``A(Ũ)``, Gram matrices.
- **numpy int64** for n×n matrices whose entries are proven (a priori, from the sizes of
  the inputs, with Python integers) to stay below ``2^62``, and for wrap-around arithmetic
  modulo ``2^64`` whose result is proven to lie in ``(−2^62, 2^62)`` (then the residue *is*
  the integer).
- **float64 matrix products of integer-valued limbs**: if ``|A| < 2^a``, ``|B| < 2^b`` and
  ``n·2^{a+b} <= 2^50``, every partial sum of ``A @ B`` is an integer of magnitude below
  ``2^50``, which binary64 represents exactly, so the product is exact whatever the
  summation order, blocking or FMA use of the BLAS (this is the Ozaki splitting idea).
  Integers of any size are split into such limbs first.

The magnitude proofs for the wrap-around step use the standard floating-point model
(``fl(x ∘ y) = (x ∘ y)(1 + δ)``, ``|δ| <= u = 2^-53``), with a safety factor of 4; they are
only used to decide that a residue mod ``2^64`` is the integer itself.
"""

from __future__ import annotations

import math

import numpy as np
import flint

__all__ = [
    "dyadic",
    "split_limbs",
    "exact_products",
    "exact_combination",
    "sumsq_int64",
    "int_matvec",
    "small_sym_lambda_min_lower",
    "to_fmpq",
    "OverflowRisk",
]

#: Magnitude below which float64 products/partial sums of integers are exact (with margin).
EXACT_FLOAT_BITS = 50
#: Unit roundoff of binary64.
U_ROUND = 2.0**-53


class OverflowRisk(ArithmeticError):
    """An exact integer step could not be proven free of overflow (the proof step fails)."""


def to_fmpq(num: int, den: int = 1) -> flint.fmpq:
    return flint.fmpq(int(num), int(den))


def dyadic(*arrays) -> tuple[int, list[np.ndarray]]:
    """Write float64 arrays as ``Z / 2^q``: integer ``object`` arrays and one ``q >= 0``.

    Exact: a finite binary64 number's ``as_integer_ratio()`` has a power-of-two denominator.
    """
    flat = [np.asarray(a, dtype=np.float64).ravel().tolist() for a in arrays]
    ratios = [[x.as_integer_ratio() for x in f] for f in flat]
    q = 0
    for rs in ratios:
        for _, den in rs:
            q = max(q, den.bit_length() - 1)
    out = []
    for a, rs in zip(arrays, ratios):
        z = np.empty(len(rs), dtype=object)
        z[:] = [num << (q - (den.bit_length() - 1)) for num, den in rs]
        out.append(z.reshape(np.shape(a)))
    return q, out


def _max_abs_int(a: np.ndarray) -> int:
    if a.size == 0:
        return 0
    if a.dtype == object:
        return max(abs(int(x)) for x in a.ravel())
    return int(np.max(np.abs(a.astype(np.int64))))


def split_limbs(a: np.ndarray, beta: int) -> list[np.ndarray]:
    """Integer array (int64 or Python ints) → limbs ``a = Σ_j a_j 2^{βj}`` as int64 arrays.

    Lower limbs lie in ``[0, 2^β)``; the top limb carries the sign and also satisfies
    ``|a_top| < 2^β``.
    """
    a = np.asarray(a)
    bits = max(_max_abs_int(a).bit_length(), 1)
    count = max(1, -(-(bits + 1) // beta))
    mask = (1 << beta) - 1
    limbs = []
    if a.dtype == object:
        flat = [int(x) for x in a.ravel()]
        for _ in range(count - 1):
            limbs.append(np.array([x & mask for x in flat], dtype=np.int64).reshape(a.shape))
            flat = [x >> beta for x in flat]
        limbs.append(np.array(flat, dtype=np.int64).reshape(a.shape))
    else:
        rest = a.astype(np.int64)
        for _ in range(count - 1):
            limbs.append(rest & mask)
            rest = rest >> beta
        limbs.append(rest)
    return limbs


def exact_products(A: np.ndarray, B: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Exact ``A @ B`` of integer matrices as terms ``[(e, P)]`` with ``A @ B = Σ 2^e P``.

    Each ``P`` is a float64 matrix of integers below ``2^50`` computed by BLAS on limbs
    small enough that every partial sum is exactly representable (see the module notes).
    """
    inner = A.shape[-1]
    beta = max(1, (EXACT_FLOAT_BITS - max(1, math.ceil(math.log2(max(inner, 2))))) // 2)
    LA = split_limbs(A, beta)
    LB = split_limbs(B, beta)
    terms = []
    for i, a in enumerate(LA):
        af = a.astype(np.float64)
        for j, b in enumerate(LB):
            terms.append((beta * (i + j), af @ b.astype(np.float64)))
    return terms


def exact_combination(terms: list[tuple[int, np.ndarray, int]]) -> np.ndarray:
    """Exact ``Σ sign_i · 2^{e_i} · M_i`` as an int64 array, for integer arrays ``M_i``.

    ``terms`` holds ``(e_i, M_i, sign_i)`` with ``e_i >= 0`` and ``|M_i| < 2^62``. The sum is
    computed twice: in floating point, to prove ``|Σ| < 2^62`` entrywise (error bound
    ``(2m + 4) u Σ|terms|``, a safe over-estimate of ``γ_m``), and in uint64 wrap-around
    arithmetic, which yields the sum modulo ``2^64`` — hence exactly, given the bound.

    Raises
    ------
    OverflowRisk
        If the bound cannot be proven (the result might need more than 62 bits).
    """
    m = len(terms)
    acc_f = None
    abs_f = None
    for e, M, sign in terms:
        Mf = np.ldexp(np.asarray(M, dtype=np.float64), e)
        if acc_f is None:
            acc_f = sign * Mf
            abs_f = np.abs(Mf)
        else:
            acc_f = acc_f + sign * Mf
            abs_f = abs_f + np.abs(Mf)
    bound = np.abs(acc_f) + (2 * m + 4) * U_ROUND * abs_f
    if not np.all(np.isfinite(bound)) or (bound.size and float(np.max(bound)) >= 2.0**61):
        raise OverflowRisk("an exact residual does not fit in 62 bits (the float proposal is poor)")
    acc = np.zeros(np.shape(acc_f), dtype=np.uint64)
    for e, M, sign in terms:
        if e >= 64:
            continue  # 2^e · M ≡ 0 (mod 2^64)
        Mi = np.asarray(M)
        Mi = Mi.astype(np.int64) if Mi.dtype != np.int64 else Mi
        Mu = Mi.view(np.uint64) << np.uint64(e)
        acc = acc + Mu if sign > 0 else acc - Mu
    return acc.view(np.int64)


def sumsq_int64(a: np.ndarray) -> int:
    """``Σ a_i²`` exactly for an int64 array with ``|a_i| < 2^62`` (three 21-bit limbs)."""
    flat = np.ascontiguousarray(a, dtype=np.int64).ravel()
    total = 0
    chunk = 1 << 19
    mask = (1 << 21) - 1
    for start in range(0, flat.size, chunk):
        x = flat[start : start + chunk]
        l0 = x & mask
        l1 = (x >> 21) & mask
        l2 = x >> 42
        limbs = (l0, l1, l2)
        for i in range(3):
            for j in range(i, 3):
                s = int(np.dot(limbs[i], limbs[j]))
                total += (s << (21 * (i + j))) * (1 if i == j else 2)
    return total


def int_matvec(M: np.ndarray, v: list[int] | np.ndarray) -> list[int]:
    """Exact ``M @ v`` for an int64 matrix ``M`` (|M| < 2^62) and integers ``v`` of any size."""
    v = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
    terms = exact_products(M, np.asarray(v).reshape(-1, 1))
    out = [0] * M.shape[0]
    for e, P in terms:
        col = P[:, 0].astype(np.int64).tolist()
        for i, x in enumerate(col):
            out[i] += x << e
    return out


def small_sym_lambda_min_lower(M: list[list[int]] | np.ndarray, den: int = 1) -> flint.fmpq:
    """A rigorous lower bound on ``λ_min(M/den)`` for a small symmetric integer matrix.

    Float proposal: a shift ``s`` (dyadic) just below the float ``λ_min`` and the float
    Cholesky factor ``L`` of ``M/den − sI``; then with the exact ``E = M/den − sI − LLᵀ``
    (rationals), ``λ_min >= s − ‖E‖_F``. Returns 0 or a negative bound when nothing better
    can be proven (callers compare with their own threshold).
    """
    Mi = [[int(x) for x in row] for row in np.asarray(M, dtype=object).tolist()]
    k = len(Mi)
    if k == 0:
        return flint.fmpq(0)
    Mq = flint.fmpq_mat(k, k, [flint.fmpq(x, den) for row in Mi for x in row])
    Mf = np.array([[float(flint.fmpq(x, den)) for x in row] for row in Mi])
    lam = float(np.linalg.eigvalsh(Mf)[0])
    best = None
    for frac in (0.99, 0.9, 0.5):
        s = lam * frac
        if not np.isfinite(s) or s <= 0:
            break
        s_num, s_den = float(s).as_integer_ratio()
        s_q = flint.fmpq(s_num, s_den)
        try:
            L = np.linalg.cholesky(Mf - s * np.eye(k))
        except np.linalg.LinAlgError:
            continue
        Lq = flint.fmpq_mat(k, k, [flint.fmpq(*float(x).as_integer_ratio()) for x in L.ravel()])
        E = Mq - Lq * Lq.transpose()
        for i in range(k):
            E[i, i] -= s_q
        fro2 = sum((x * x for x in E.entries()), flint.fmpq(0))
        bound = flint.fmpq(s_num, s_den) - _sqrt_upper_fmpq(fro2)
        if best is None or bound > best:
            best = bound
        if bound > 0:
            break
    if best is None:
        # Gershgorin: λ_min >= min_i (M_ii − Σ_{j≠i} |M_ij|)
        best = min(
            flint.fmpq(Mi[i][i] - sum(abs(Mi[i][j]) for j in range(k) if j != i), den) for i in range(k)
        )
    return best


def _sqrt_upper_fmpq(x: flint.fmpq) -> flint.fmpq:
    """A rational upper bound on ``√x`` (x >= 0), within a relative 2^-60."""
    if x <= 0:
        return flint.fmpq(0)
    num, den = int(x.p), int(x.q)
    # √(num/den) = √(num·den)/den; isqrt gives floor, add 1 for an upper bound.
    scale = 1 << 120
    r = math.isqrt(num * den * scale * scale) + 1
    return flint.fmpq(r, den * scale)
