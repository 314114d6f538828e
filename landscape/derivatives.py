"""Exact derivatives of the Meta-LoRA objective ``L`` and the reduced loss ``G``.

Notation (docs/math.md §3–4): ``E_t = A + U_tU_tᵀ − M*_t``, ``S_t = E_t + E_tᵀ``; for a
direction ``Δ_t`` of ``U_t``, ``B_t = U_tΔ_tᵀ + Δ_tU_tᵀ``; ``D_t = U_tU_tᵀ − R*_t`` and
``C_t = D_t − D̄``. Parameter vectors are ``np.concatenate([A.ravel(), U.ravel()])``
(row-major); the dense Hessians use exactly that order.

Formulas
--------
- ``∇_A L = (2/T) Σ_t E_t``, ``∇_{U_t} L = (2/T) S_t U_t``.
- ``∇²L[(ΔA, Δ)]``: ``h_A = (2/T) Σ_t (ΔA + B_t)``,
  ``h_{U_t} = (2/T) [ (W_t + W_tᵀ) U_t + S_t Δ_t ]`` with ``W_t = ΔA + B_t``.
- ``∇_{U_t} G = (4/T) C_t U_t``;
  ``∇²G[Δ]_t = (4/T) [ (B_t − B̄) U_t + C_t Δ_t ]``.
Each product costs O(T d² k); nothing forms a Hessian to multiply by it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .validation import as_float64, check_A, check_U
from .objectives import reduced_residuals, residuals
from .problem import Problem

__all__ = [
    "meta_grad",
    "meta_hvp",
    "meta_hessian",
    "meta_hessian_blocks",
    "reduced_grad",
    "reduced_hvp",
    "reduced_hessian",
    "schur_complement",
    "pack",
    "unpack",
]


def pack(A, U) -> NDArray[np.float64]:
    """``np.concatenate([A.ravel(), U.ravel()])``: the parameter-vector order of this package."""
    return np.concatenate([np.ravel(A), np.ravel(U)])


def unpack(problem: Problem, x) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of :func:`pack`."""
    d, k, T = problem.d, problem.k, problem.T
    x = as_float64("x", x, (d * d + T * d * k,))
    return x[: d * d].reshape(d, d), x[d * d :].reshape(T, d, k)


def _concat(U):
    """``[U_1 … U_T]`` as one (d, Tk) matrix (column ``t·k + c`` is ``U_t[:, c]``)."""
    T, d, k = U.shape
    return U.transpose(1, 0, 2).reshape(d, T * k)


def _split(X, T, k):
    """Inverse of :func:`_concat`: (d, Tk) → (T, d, k)."""
    return X.reshape(X.shape[0], T, k).transpose(1, 0, 2)


def _B_U(U, dU):
    """``B_t U_t = U_t (Δ_tᵀU_t) + Δ_t (U_tᵀU_t)`` for every task, O(T d k²) (no d×d matrix)."""
    Ut = U.transpose(0, 2, 1)
    return U @ (dU.transpose(0, 2, 1) @ U) + dU @ (Ut @ U)


def _sum_B(U, dU):
    """``Σ_t B_t = Uc dUcᵀ + dUc Ucᵀ`` with ``Uc = [U_1 … U_T]`` (one d×Tk×d product)."""
    P = _concat(U) @ _concat(dU).T
    return P + P.T


# -- full objective L(A, U) -------------------------------------------------------------
def meta_grad(problem: Problem, A, U):
    """Gradient of ``L``: ``(∇_A L, ∇_U L) = ((2/T) Σ_t E_t, (2/T) (E_t + E_tᵀ) U_t)``."""
    A, U = check_A(problem, A), check_U(problem, U)
    E = residuals(problem, A, U)
    T = problem.T
    gA = (2.0 / T) * E.sum(axis=0)
    gU = (2.0 / T) * ((E + E.transpose(0, 2, 1)) @ U)
    return gA, gU


def meta_hvp(problem: Problem, A, U, dA, dU):
    """Hessian-vector product of ``L`` at ``(A, U)`` in direction ``(dA, dU)``.

    ``h_A = (2/T) Σ_t W_t`` and ``h_{U_t} = (2/T) [(W_t + W_tᵀ) U_t + (E_t + E_tᵀ) Δ_t]`` with
    ``W_t = ΔA + U_tΔ_tᵀ + Δ_tU_tᵀ``; the quadratic form is
    ``(2/T) Σ_t (‖W_t‖² + 2⟨E_t, Δ_tΔ_tᵀ⟩)``.
    """
    A, U = check_A(problem, A), check_U(problem, U)
    dA, dU = check_A(problem, dA, "dA"), check_U(problem, dU, "dU")
    return _meta_hvp(problem, A, U, dA, dU)


def _meta_hvp(problem, A, U, dA, dU):
    """:func:`meta_hvp` without validation, in factored form (no (T, d, d) array).

    With ``Â = A − A*`` (so ``E_t + E_tᵀ = Â + Âᵀ + 2U_tU_tᵀ − 2U*_tU*_tᵀ``) and
    ``sym X = (X + Xᵀ)/2``:
    ``h_A = 2ΔA + (2/T) Σ_t B_t`` and
    ``h_{U_t} = (4/T)[sym(ΔA) U_t + sym(Â) Δ_t + U_t(Δ_tᵀU_t + U_tᵀΔ_t) + Δ_t(U_tᵀU_t)
    − U*_t(U*_tᵀΔ_t)]``. Cost: two d×d by d×Tk products plus O(T d k²).
    """
    T, d, k = U.shape
    Us = problem.U_star
    Ut, dUt = U.transpose(0, 2, 1), dU.transpose(0, 2, 1)
    Uc, dUc = _concat(U), _concat(dU)
    Ah = A - problem.A_star
    # [sym ΔA, sym Â] @ [[Uc], [dUc]] in one product.
    left = np.concatenate([dA + dA.T, Ah + Ah.T], axis=1)
    dense = _split(left @ np.concatenate([Uc, dUc], axis=0), T, k) * 0.5
    thin = U @ (dUt @ U + Ut @ dU) + dU @ (Ut @ U) - Us @ (Us.transpose(0, 2, 1) @ dU)
    P = Uc @ dUc.T
    hA = 2.0 * dA + (2.0 / T) * (P + P.T)
    return hA, (4.0 / T) * (dense + thin)


def meta_hessian_blocks(problem: Problem, A, U):
    """Dense blocks ``(H_AA, H_AU, H_UU)`` of ``∇²L`` in the :func:`pack` order.

    With row-major indices ``(i, j)`` for ``A`` and ``(t, a, b)`` for ``U``:
    ``H_AA = 2 I``; ``H_{A,U_t}[(i,j),(a,b)] = (2/T)(U_t[i,b] δ_ja + δ_ia U_t[j,b])``;
    ``H_{U_t,U_t}[(i,c),(a,b)] = (2/T)(2 U_t[i,b] U_t[a,c] + 2 δ_ia (U_tᵀU_t)[b,c]
    + S_t[i,a] δ_bc)`` with ``S_t = E_t + E_tᵀ``; ``H_{U_t,U_s} = 0`` for ``t ≠ s``.
    """
    A, U = check_A(problem, A), check_U(problem, U)
    d, k, T = problem.d, problem.k, problem.T
    E = residuals(problem, A, U)
    S = E + E.transpose(0, 2, 1)
    I = np.eye(d)
    Ik = np.eye(k)
    c = 2.0 / T
    # H_AU: (d, d) x (T, d, k)
    HAU = c * (
        np.einsum("tib,ja->ijtab", U, I) + np.einsum("ia,tjb->ijtab", I, U)
    ).reshape(d * d, T * d * k)
    HUU = np.zeros((T, d * k, T, d * k))
    G = np.einsum("tab,tac->tbc", U, U)  # U_tᵀU_t
    for t in range(T):
        blk = (
            2 * np.einsum("ib,ac->icab", U[t], U[t])
            + 2 * np.einsum("ia,bc->icab", I, G[t])
            + np.einsum("ia,bc->icab", S[t], Ik)
        )
        HUU[t, :, t, :] = c * blk.reshape(d * k, d * k)
    return 2.0 * np.eye(d * d), HAU, HUU.reshape(T * d * k, T * d * k)


def meta_hessian(problem: Problem, A, U) -> NDArray[np.float64]:
    """Dense Hessian of ``L`` at ``(A, U)``, size ``d² + Tdk``, in the :func:`pack` order."""
    HAA, HAU, HUU = meta_hessian_blocks(problem, A, U)
    return np.block([[HAA, HAU], [HAU.T, HUU]])


def schur_complement(problem: Problem, A, U) -> NDArray[np.float64]:
    """Schur complement ``H_UU − H_UA H_AA⁻¹ H_AU`` of ``∇²L`` at ``(A, U)`` (dense, Tdk²).

    At ``A = A(U)`` it equals :func:`reduced_hessian` (docs/math.md §4); elsewhere ``H_UU`` carries
    the residuals at the given ``A`` and the two differ. ``H_AA = 2I`` so the inverse is exact.
    """
    _, HAU, HUU = meta_hessian_blocks(problem, A, U)
    return HUU - 0.5 * HAU.T @ HAU


# -- reduced loss G(U) -------------------------------------------------------------------
def reduced_grad(problem: Problem, U) -> NDArray[np.float64]:
    """``∇_{U_t} G = (4/T) (D_t − D̄) U_t``, shape (T, d, k)."""
    U = check_U(problem, U)
    C = reduced_residuals(problem, U)
    return (4.0 / problem.T) * (C @ U)


def reduced_hvp(problem: Problem, U, dU) -> NDArray[np.float64]:
    """``∇²G(U)[Δ]_t = (4/T) [ (B_t − B̄) U_t + (D_t − D̄) Δ_t ]``, ``B_t = U_tΔ_tᵀ + Δ_tU_tᵀ``."""
    U, dU = check_U(problem, U), check_U(problem, dU, "dU")
    return _reduced_hvp(problem, U, reduced_residuals(problem, U), dU)


def _reduced_hvp(problem, U, C, dU):
    """:func:`reduced_hvp` with ``C`` precomputed and no validation (for operators).

    ``B_t U_t`` and ``B̄ U_t = (1/T)(Uc (dUcᵀ U_t) + dUc (Ucᵀ U_t))`` use only thin
    products (``Uc = [U_1 … U_T]``, d×Tk); the one O(T d² k) term is ``C_t Δ_t``.
    """
    T, k = problem.T, problem.k
    Uc, dUc = _concat(U), _concat(dU)
    BbarU = _split(Uc @ (dUc.T @ Uc) + dUc @ (Uc.T @ Uc), T, k) / T
    return (4.0 / T) * (_B_U(U, dU) - BbarU + C @ dU)


def reduced_hessian(problem: Problem, U) -> NDArray[np.float64]:
    """Dense ``∇²G(U)`` of size Tdk in ``U.ravel()`` order.

    ``H[(t,i,c),(s,a,b)] = (4/T) [ (δ_ts − 1/T)(U_s[i,b] U_t[a,c] + δ_ia (U_sᵀU_t)[b,c])
    + δ_ts δ_bc C_t[i,a] ]``; equals the Schur complement at ``A = A(U)``.
    """
    U = check_U(problem, U)
    d, k, T = problem.d, problem.k, problem.T
    C = reduced_residuals(problem, U)
    P = np.eye(T) - 1.0 / T
    G = np.einsum("sjb,tjc->sbtc", U, U)  # U_sᵀU_t
    H = np.einsum("ts,sib,tac->ticsab", P, U, U)
    H += np.einsum("ts,ia,sbtc->ticsab", P, np.eye(d), G)
    for t in range(T):
        H[t, :, :, t, :, :] += np.einsum("ia,bc->icab", C[t], np.eye(k))
    return (4.0 / T) * H.reshape(T * d * k, T * d * k)
