"""The continuous symmetry of ``G`` and a linear slice transversal to its orbits (docs/math.md §4, §5.6).

Write ``U = [U_1 … U_T]`` (d × Tk). ``G`` is invariant under ``U ↦ U·M`` for ``M`` in

- ``O(k)^T`` (block-diagonal), for every ``T`` — the adapter rotations ``U_t → U_tQ_t``;
- ``O(k, k)`` (``MJMᵀ = J``, ``J = diag(I_k, −I_k)``) when ``T = 2``, because then ``G`` only
  depends on ``U_1U_1ᵀ − U_2U_2ᵀ = UJUᵀ``; this is the non-uniqueness of docs/math.md §5.6.

The Lie algebra is spanned by integer matrices ``X_j`` with ``‖X_j‖_F² = 2``, mutually
orthogonal: ``E_ab − E_ba`` inside one task block (``a < b``) and, for ``T = 2``,
``E_{a,k+b} + E_{k+b,a}`` (the hyperbolic directions, ``δU_1 = U_2Bᵀ``, ``δU_2 = U_1B``).
The gauge columns are the orbit tangents ``W = [vec(c X_j)]`` at the anchor ``c`` (an exact
integer matrix ``WZ / 2^{q_c}``), keeping the generators whose tangent is non-zero.

The slice is ``S = {U : Wᵀ(U − Ũ) = 0}``. *Transversality.* Let ``s² = λ_min(WᵀW)/2`` so
that ``‖cX‖_F >= s‖X‖_F`` on the span. At a critical point ``U♯ = c + δ`` of ``G|S``,
``∇G(U♯) = cX(λ)`` for some ``λ``; invariance gives ``⟨∇G(U♯), U♯X⟩ = 0`` for every ``X`` in
the algebra; with ``X = X(λ)``: ``0 = ‖cX‖² + ⟨cX, δX⟩ >= ‖cX‖_F (s − ‖δ‖_F)‖X‖_F``, so
``λ = 0`` when ``s > ‖δ‖_F``. The same inequality makes ``WᵀW'(U♯)`` non-singular, so
``ker Wᵀ`` is complementary to the orbit tangent at ``U♯`` and (inverse function theorem)
every point near ``U♯`` is ``V·M`` with ``V ∈ S`` near ``U♯``, ``M`` near the identity.
"""

from __future__ import annotations

import math

import numpy as np
import flint

__all__ = [
    "GAUGES",
    "resolve_gauge",
    "generators",
    "tangent_int",
    "tangent_float",
    "gram_lower",
    "task_norm_bounds",
    "group_name",
]

GAUGES = ("auto", "slice", "none")


def has_continuous_symmetry(T: int, k: int) -> bool:
    """``O(k)^T`` is continuous for ``k > 1``; ``O(k, k)`` (T = 2) for every ``k``."""
    return k > 1 or T == 2


def resolve_gauge(gauge: str, k: int, T: int = 3) -> str:
    """``auto``/``slice`` → ``slice`` when there is a continuous symmetry, else ``none``."""
    if gauge == "none" or not has_continuous_symmetry(T, k):
        return "none"
    return "slice"


def group_name(T: int, k: int) -> str:
    return f"O({k},{k})" if T == 2 else (f"O({k})^{T}" if k > 1 else "{±1}^T")


def generators(T: int, k: int) -> list[list[tuple[int, int, int]]]:
    """Basis ``X_j`` of the symmetry algebra as sparse ``(row, col, value)`` lists (Tk × Tk)."""
    gens = []
    for t in range(T):
        o = t * k
        for a in range(k):
            for b in range(a + 1, k):
                gens.append([(o + a, o + b, 1), (o + b, o + a, -1)])
    if T == 2:
        for a in range(k):
            for b in range(k):
                gens.append([(a, k + b, 1), (k + b, a, 1)])
    return gens


def _tangent(Z: np.ndarray, gen) -> np.ndarray:
    """``vec(Z·X)`` in ``U.ravel()`` order for ``Z`` (T, d, k) and a sparse ``X``."""
    T, d, k = Z.shape
    out = np.zeros_like(Z)
    for i, j, v in gen:
        # (Z X)[:, j] += v · Z[:, i]   (columns indexed task-major: j = t·k + c)
        out[j // k, :, j % k] += v * Z[i // k, :, i % k]
    return out.ravel()


def tangent_int(Zc: np.ndarray, gauge: str) -> np.ndarray:
    """Integer gauge columns ``WZ`` (n × m, int64): the non-zero tangents ``vec(Zc X_j)``."""
    T, d, k = Zc.shape
    n = T * d * k
    if gauge != "slice":
        return np.zeros((n, 0), dtype=np.int64)
    cols = [c for c in (_tangent(Zc, g) for g in generators(T, k)) if np.any(c != 0)]
    if not cols:
        return np.zeros((n, 0), dtype=np.int64)
    return np.stack(cols, axis=1).astype(np.int64)


def tangent_obj(Z: np.ndarray, gauge: str) -> np.ndarray:
    """Gauge columns for an object array of Python ints (exact; big centres)."""
    T, d, k = Z.shape
    n = T * d * k
    if gauge != "slice":
        return np.zeros((n, 0), dtype=object)
    cols = [c for c in (_tangent(Z, g) for g in generators(T, k)) if any(int(x) != 0 for x in c)]
    if not cols:
        return np.zeros((n, 0), dtype=object)
    return np.stack(cols, axis=1)


def tangent_float(U: np.ndarray, gauge: str) -> np.ndarray:
    """The same columns at a float point (for proposals)."""
    T, d, k = U.shape
    if gauge != "slice":
        return np.zeros((U.size, 0))
    cols = [c for c in (_tangent(U, g) for g in generators(T, k)) if np.any(c != 0)]
    return np.stack(cols, axis=1) if cols else np.zeros((U.size, 0))


def gram_lower(WZ: np.ndarray, qc: int, den: int | None = None) -> flint.fmpq:
    """Rigorous ``s² <= λ_min(WᵀW)/2`` for ``W = WZ/2^{q_c}`` (``0`` if nothing positive is proven).

    ``WᵀW`` splits into independent blocks (generators acting on disjoint tasks); each block
    is bounded with :func:`small_sym_lambda_min_lower`.
    """
    m = WZ.shape[1]
    if m == 0:
        return flint.fmpq(0)
    W = WZ.astype(object)
    M = W.T @ W
    # connected blocks of the Gram matrix
    seen, blocks = set(), []
    for i in range(m):
        if i in seen:
            continue
        comp, stack = [], [i]
        seen.add(i)
        while stack:
            u = stack.pop()
            comp.append(u)
            for v in range(m):
                if v not in seen and M[u, v] != 0:
                    seen.add(v)
                    stack.append(v)
        blocks.append(sorted(comp))
    if den is None:
        den = 2 << max(0, 2 * qc)
        mul = 1 << max(0, -2 * qc)
    else:  # W = WZ / den: s² <= λ_min(WZᵀWZ) / (2 den²)
        den, mul = 2 * den * den, 1
    best = None
    for comp in blocks:
        sub = M[np.ix_(comp, comp)] * mul
        lo = small_sym_lambda_min_lower(sub, den)
        best = lo if best is None or lo < best else best
    return best if best > 0 else flint.fmpq(0)


def task_norm_bounds(Zc: np.ndarray, qc: int) -> list[flint.fmpq]:
    """Rigorous ``‖c_t‖₂² <= upper_t``: ``min(tr, ‖·‖_∞)`` of the exact Gram ``c_tᵀc_t``."""
    T, d, k = Zc.shape
    den = 1 << max(0, 2 * qc)
    mul = 1 << max(0, -2 * qc)
    upper = []
    for t in range(T):
        Z = Zc[t].astype(object)
        Gm = Z.T @ Z
        tr = sum(int(Gm[i, i]) for i in range(k))
        inf = max(sum(abs(int(x)) for x in row) for row in Gm.tolist())
        upper.append(flint.fmpq(min(tr, inf) * mul, den))
    return upper


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
