"""The O(k) symmetry ``U_t → U_t Q_t`` (``Q_t ∈ O(k)``) of ``L`` and ``G`` (docs/math.md §4).

At ``U`` the orbit's tangent space is spanned by ``Δ_t = U_t Ω`` (one task at a time,
``Ω`` skew k×k): at most ``T·k(k−1)/2`` directions, exactly that many when every ``U_t``
has full column rank. Orbits are compared through the invariants ``U_tU_tᵀ``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .validation import as_float64, check_int
from .errors import InvalidArgument
from .objectives import gram

__all__ = ["orbit_dimension", "orbit_tangent_basis", "tangent_blocks", "canonical_form", "orbit_distance"]


def _check_adapters(name, U) -> np.ndarray:
    U = as_float64(name, U)
    if U.ndim != 3 or 0 in U.shape or U.shape[2] > U.shape[1]:
        raise InvalidArgument(
            f"`{name}` must be a (T, d, k) array with T, d, k >= 1 and k <= d; got shape {U.shape}."
        )
    return U


def orbit_dimension(T: int, k: int) -> int:
    """Generic dimension of the symmetry orbit, ``T·k(k−1)/2``."""
    T, k = check_int("T", T, low=1), check_int("k", k, low=1)
    return T * k * (k - 1) // 2


def orbit_tangent_basis(U: NDArray[np.float64], *, rtol: float = 1e-10) -> NDArray[np.float64]:
    """Orthonormal basis (columns) of the orbit's tangent space at ``U`` in ``U.ravel()`` order.

    Spanned by ``Δ_t = U_t (e_a e_bᵀ − e_b e_aᵀ)`` for each task and ``a < b``; directions
    whose singular value falls below ``rtol·max(σ)`` (rank-deficient ``U_t``) are dropped.
    Shape ``(Tdk, m)`` with ``m <= T·k(k−1)/2`` (``m = 0`` when ``k = 1``).
    """
    U = _check_adapters("U", U)
    blocks = tangent_blocks(U, rtol=rtol)
    T, n_t, _ = blocks.shape
    keep = np.any(blocks != 0.0, axis=1)  # (T, k(k-1)/2)
    Q = np.zeros((T * n_t, int(keep.sum())))
    col = 0
    for t in range(T):
        B = blocks[t][:, keep[t]]
        Q[t * n_t : (t + 1) * n_t, col : col + B.shape[1]] = B
        col += B.shape[1]
    return Q


def tangent_blocks(U: NDArray[np.float64], *, rtol: float = 1e-10) -> NDArray[np.float64]:
    """The orbit's tangent basis task by task: shape ``(T, d·k, k(k−1)/2)``.

    Directions of different tasks have disjoint supports, so orthonormalising each task's
    ``U_t Ω`` separately (one small batched SVD) gives an orthonormal basis of the whole
    tangent space; dropped (degenerate) directions are zero columns. Projecting with these
    blocks costs O(T d k³) instead of O(T² d k³) with the dense basis.
    """
    U = np.asarray(U, dtype=np.float64)
    T, d, k = U.shape
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    if not pairs:
        return np.zeros((T, d * k, 0))
    M = np.zeros((T, d, k, len(pairs)))
    for j, (a, b) in enumerate(pairs):
        M[:, :, b, j] = U[:, :, a]
        M[:, :, a, j] = -U[:, :, b]
    Q, s, _ = np.linalg.svd(M.reshape(T, d * k, len(pairs)), full_matrices=False)
    keep = s > rtol * max(s.max(initial=0.0), np.finfo(float).tiny)
    return Q * keep[:, None, :]


def canonical_form(U: NDArray[np.float64]) -> NDArray[np.float64]:
    """A representative of ``U``'s orbit that is the same for ``U_t`` and ``U_t Q_t``.

    ``U_t ↦ V_t diag(√λ_t)`` from the top-k eigenpairs of ``U_tU_tᵀ`` (descending), each
    eigenvector signed so that its largest-magnitude entry is positive. Unique when the
    eigenvalues are distinct; ties leave a rotation inside the tied block.
    """
    U = _check_adapters("U", U)
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
    U1, U2 = _check_adapters("U1", U1), _check_adapters("U2", U2)
    if U1.shape != U2.shape:
        raise InvalidArgument(f"`U1` and `U2` must have the same shape; got {U1.shape} and {U2.shape}.")
    return float(np.max(np.linalg.norm(gram(U1) - gram(U2), axis=(1, 2))))
