"""Objectives of docs/math.md §2 and §4: Meta-LoRA loss, SR, the reduced loss, adaptability.

Conventions (the project's contract): population losses with the noise constant dropped,
``L_t(A, U_t) = ‖A + U_tU_tᵀ − M*_t‖_F²`` and ``L = (1/T) Σ_t L_t``; arrays ``A`` (d, d),
``U`` (T, d, k).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .validation import as_float64, check_A, check_int, check_U
from .errors import InvalidArgument
from .problem import Problem

__all__ = [
    "gram",
    "residuals",
    "meta_loss",
    "task_losses",
    "sr_loss",
    "sr_solution",
    "A_of_U",
    "reduced_residuals",
    "reduced_loss",
    "Adaptation",
    "adaptability",
    "test_loss",
]


def gram(U: NDArray[np.float64]) -> NDArray[np.float64]:
    """``U_t U_tᵀ`` for every task: (T, d, k) → (T, d, d)."""
    return U @ U.transpose(0, 2, 1)


def residuals(problem: Problem, A, U) -> NDArray[np.float64]:
    """``E_t = A + U_tU_tᵀ − M*_t``, shape (T, d, d) (inputs already validated)."""
    return A[None] + gram(U) - problem.M_star


def task_losses(problem: Problem, A, U) -> NDArray[np.float64]:
    """Per-task losses ``L_t(A, U_t) = ‖E_t‖_F²``, shape (T,)."""
    A, U = check_A(problem, A), check_U(problem, U)
    E = residuals(problem, A, U)
    return np.einsum("tij,tij->t", E, E)


def meta_loss(problem: Problem, A, U) -> float:
    """Meta-LoRA objective ``L(A, U) = (1/T) Σ_t ‖A + U_tU_tᵀ − M*_t‖_F²``.

    Minimum 0, attained at ``(A*, U*_t Q_t)`` with ``Q_t ∈ O(k)``.

    Examples
    --------
    >>> p = Problem.random(3, 1, 3, seed=1)
    >>> meta_loss(p, p.A_star, p.U_star)
    0.0
    """
    return float(np.mean(task_losses(problem, A, U)))


def sr_loss(problem: Problem, A) -> float:
    """Standard-retraining objective ``L_SR(A) = (1/T) Σ_t ‖A − M*_t‖_F²``."""
    A = check_A(problem, A)
    E = A[None] - problem.M_star
    return float(np.einsum("tij,tij->", E, E) / problem.T)


def sr_solution(problem: Problem) -> NDArray[np.float64]:
    """Minimiser of ``L_SR``: ``A_SR = A* + (1/T) Σ_t R*_t``."""
    return problem.A_star + problem.R_star.mean(axis=0)


def A_of_U(problem: Problem, U) -> NDArray[np.float64]:
    """Minimiser of ``L(·, U)``: ``A(U) = (1/T) Σ_t (M*_t − U_tU_tᵀ)`` (docs/math.md §4)."""
    U = check_U(problem, U)
    return (problem.M_star - gram(U)).mean(axis=0)


def reduced_residuals(problem: Problem, U) -> NDArray[np.float64]:
    """``C_t = D_t − D̄`` with ``D_t = U_tU_tᵀ − R*_t`` (so ``Σ_t C_t = 0``), shape (T, d, d)."""
    D = gram(U) - problem.R_star
    return D - D.mean(axis=0, keepdims=True)


def reduced_loss(problem: Problem, U) -> float:
    """Reduced loss ``G(U) = L(A(U), U) = (1/T) Σ_t ‖D_t − D̄‖_F²`` (independent of ``A*``)."""
    U = check_U(problem, U)
    C = reduced_residuals(problem, U)
    return float(np.einsum("tij,tij->", C, C) / problem.T)


class Adaptation(NamedTuple):
    """Result of :func:`adaptability`: ``loss = ℓ_r(A)`` and the optimal adapter ``U Vᵀ``."""

    loss: float
    U: NDArray[np.float64]
    V: NDArray[np.float64]
    singular_values: NDArray[np.float64]


def adaptability(problem: Problem, A, rank: int) -> Adaptation:
    """Test-task adaptability ``ℓ_r(A) = min_{U,V} ‖A + UVᵀ − M*_{T+1}‖_F²``.

    By Eckart–Young the minimum is ``Σ_{i>r} σ_i(M*_{T+1} − A)²``, attained by the truncated
    SVD ``U = P_r diag(σ_{1..r})``, ``V = Q_r`` of ``M*_{T+1} − A = P diag(σ) Qᵀ``.

    Parameters
    ----------
    rank : int
        Adapter rank ``r`` in ``[0, d]``.

    Returns
    -------
    Adaptation
        ``loss`` (computed from the tail singular values, which is accurate even when it is
        tiny), ``U`` and ``V`` of shape (d, r), and all singular values of ``M*_{T+1} − A``.
    """
    A = check_A(problem, A)
    r = check_int("rank", rank, low=0, high=problem.d)
    P, s, Qt = np.linalg.svd(problem.M_test - A)
    loss = float(np.sum(s[r:] ** 2))
    return Adaptation(loss, P[:, :r] * s[:r], Qt[:r].T.copy(), s)


def test_loss(problem: Problem, A, U, V) -> float:
    """Test-task loss of the fine-tuned model: ``‖A + U Vᵀ − M*_{T+1}‖_F²`` (U, V: (d, r))."""
    A = check_A(problem, A)
    U = as_float64("U", U)
    V = as_float64("V", V)
    if U.ndim != 2 or U.shape[0] != problem.d or V.shape != U.shape:
        raise InvalidArgument(
            f"`U` and `V` must both have shape (d, r) with d={problem.d}; "
            f"got U.shape={U.shape}, V.shape={V.shape}."
        )
    E = A + U @ V.T - problem.M_test
    return float(np.sum(E * E))

