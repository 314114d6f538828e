"""The O(k) symmetry ``U_t → U_t Q_t`` (``Q_t ∈ O(k)``) of ``L`` and ``G`` (MATH.md §4).

At ``U`` the orbit's tangent space is spanned by ``Δ_t = U_t Ω`` (one task at a time,
``Ω`` skew k×k): at most ``T·k(k−1)/2`` directions, exactly that many when every ``U_t``
has full column rank. Orbits are compared through the invariants ``U_tU_tᵀ``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .objectives import gram

__all__ = ["orbit_dimension", "orbit_tangent_basis", "canonical_form", "orbit_distance"]


def orbit_dimension(T: int, k: int) -> int:
    """Generic dimension of the symmetry orbit, ``T·k(k−1)/2``."""
    return T * k * (k - 1) // 2


def orbit_tangent_basis(U: NDArray[np.float64], *, rtol: float = 1e-10) -> NDArray[np.float64]:
    """Orthonormal basis (columns) of the orbit's tangent space at ``U`` in ``U.ravel()`` order.

    Spanned by ``Δ_t = U_t (e_a e_bᵀ − e_b e_aᵀ)`` for each task and ``a < b``; directions
    whose singular value falls below ``rtol·max(σ)`` (rank-deficient ``U_t``) are dropped.
    Shape ``(Tdk, m)`` with ``m <= T·k(k−1)/2`` (``m = 0`` when ``k = 1``).
    """
    T, d, k = U.shape
    cols = []
    for t in range(T):
        for a in range(k):
            for b in range(a + 1, k):
                D = np.zeros_like(U)
                D[t, :, b] += U[t, :, a]
                D[t, :, a] -= U[t, :, b]
                cols.append(D.ravel())
    if not cols:
        return np.zeros((U.size, 0))
    M = np.stack(cols, axis=1)
    Q, s, _ = np.linalg.svd(M, full_matrices=False)
    keep = s > rtol * max(s.max(initial=0.0), np.finfo(float).tiny)
    return Q[:, keep]


def canonical_form(U: NDArray[np.float64]) -> NDArray[np.float64]:
    """A representative of ``U``'s orbit that is the same for ``U_t`` and ``U_t Q_t``.

    ``U_t ↦ V_t diag(√λ_t)`` from the top-k eigenpairs of ``U_tU_tᵀ`` (descending), each
    eigenvector signed so that its largest-magnitude entry is positive. Unique when the
    eigenvalues are distinct; ties leave a rotation inside the tied block.
    """
    T, d, k = U.shape
    out = np.empty_like(U)
    for t, P in enumerate(gram(U)):
        lam, V = np.linalg.eigh(P)
        lam, V = lam[::-1][:k], V[:, ::-1][:, :k]
        idx = np.argmax(np.abs(V), axis=0)
        V = V * np.sign(V[idx, np.arange(k)])
        out[t] = V * np.sqrt(np.clip(lam, 0.0, None))
    return out


def orbit_distance(U1: NDArray[np.float64], U2: NDArray[np.float64]) -> float:
    """``max_t ‖U1_t U1_tᵀ − U2_t U2_tᵀ‖_F``: zero iff the two points lie on one orbit."""
    return float(np.max(np.linalg.norm(gram(U1) - gram(U2), axis=(1, 2))))
