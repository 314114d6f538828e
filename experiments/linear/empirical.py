"""Finite-sample objectives in terms of second moments (docs/math.md §2, last item).

For one task with moments ``S = Sxx``, ``C = Syx`` (see :class:`~.data.Moments`), the
in-sample mean squared error of a linear map ``W`` and its gradient are

    f(W) = (1/n) Σ_i ‖W x_i − y_i‖² = ⟨W, W S⟩ − 2⟨W, C⟩ + tr Syy,
    ∇f(W) = 2 (W S − C) = 2 G.

The finite-sample Meta-LoRA objective averages over tasks, with ``W_t = A + P_t`` and
``P_t = U_tU_tᵀ`` (symmetric adapters) or ``P_t = U_tV_tᵀ`` (asymmetric):

    L̂(A, U) = (1/T) Σ_t f_t(A + P_t),
    ∇_A L̂ = (2/T) Σ_t G_t,
    ∇_{U_t} L̂ = (2/T)(G_t + G_tᵀ) U_t          (symmetric),
    ∇_{U_t} L̂ = (2/T) G_t V_t,  ∇_{V_t} L̂ = (2/T) G_tᵀ U_t   (asymmetric),

and for fixed adapters the exact minimiser over ``A`` (a strongly convex quadratic when
``S̄ = (1/T) Σ_t S_t`` is positive definite) is

    Â(U) = ((1/T) Σ_t (C_t − P_t S_t)) S̄⁻¹.

Standard retraining minimises ``(1/T) Σ_t f_t(A)``: pooled least squares ``C̄ S̄⁻¹``.
Arrays may carry leading batch axes; the task axis of the moments is the one just before
the matrix axes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from landscape.errors import InvalidArgument

from .data import Moments

__all__ = [
    "empirical_loss",
    "empirical_grad",
    "adapter_products",
    "meta_empirical_loss",
    "meta_empirical_grad",
    "empirical_A_of_U",
    "sr_empirical_loss",
    "pooled_least_squares",
]


def empirical_loss(W, mom: Moments) -> NDArray[np.float64]:
    """In-sample mean squared error ``⟨W, W Sxx⟩ − 2⟨W, Syx⟩ + tr Syy`` (batched)."""
    W = np.asarray(W, dtype=np.float64)
    return np.einsum("...ij,...ij->...", W, W @ mom.Sxx - 2.0 * mom.Syx) + np.trace(
        mom.Syy, axis1=-2, axis2=-1
    )


def empirical_grad(W, mom: Moments) -> NDArray[np.float64]:
    """Gradient ``2 (W Sxx − Syx)`` of :func:`empirical_loss` in ``W``."""
    return 2.0 * (np.asarray(W, dtype=np.float64) @ mom.Sxx - mom.Syx)


def adapter_products(U, V=None) -> NDArray[np.float64]:
    """``P_t = U_tU_tᵀ`` (``V`` None) or ``U_tV_tᵀ``, shape (..., T, d, d)."""
    U = np.asarray(U, dtype=np.float64)
    return U @ (U if V is None else np.asarray(V, dtype=np.float64)).mT


def _check_shapes(A, U, V, mom):
    d = mom.d
    T = mom.Sxx.shape[-3] if mom.Sxx.ndim >= 3 else None
    if (
        T is None
        or U.ndim < 3
        or U.shape[-3:-1] != (T, d)
        or (V is not None and V.shape != U.shape)
    ):
        raise InvalidArgument(
            f"`U` (and `V`) must have shape (..., T, d, k) with T={T}, d={d} matching the "
            f"moments; got U.shape={U.shape}" + ("" if V is None else f", V.shape={V.shape}") + "."
        )
    if A is not None and A.shape[-2:] != (d, d):
        raise InvalidArgument(f"`A` must have shape (..., d, d) with d={d}; got A.shape={A.shape}.")


def meta_empirical_loss(A, U, mom: Moments, V=None) -> NDArray[np.float64]:
    """Finite-sample Meta-LoRA objective ``L̂(A, U) = (1/T) Σ_t f_t(A + P_t)`` (batched)."""
    A = np.asarray(A, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    _check_shapes(A, U, V, mom)
    W = A[..., None, :, :] + adapter_products(U, V)
    return empirical_loss(W, mom).mean(axis=-1)


def meta_empirical_grad(A, U, mom: Moments, V=None):
    """Gradients of :func:`meta_empirical_loss`: ``(∇_A, ∇_U, ∇_V or None)``."""
    A = np.asarray(A, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    V = None if V is None else np.asarray(V, dtype=np.float64)
    _check_shapes(A, U, V, mom)
    T = U.shape[-3]
    G = A[..., None, :, :] @ mom.Sxx + adapter_products(U, V) @ mom.Sxx - mom.Syx
    gA = (2.0 / T) * G.sum(axis=-3)
    if V is None:
        return gA, (2.0 / T) * ((G + G.mT) @ U), None
    return gA, (2.0 / T) * (G @ V), (2.0 / T) * (G.mT @ U)


def empirical_A_of_U(U, mom: Moments, V=None) -> NDArray[np.float64]:
    """Exact minimiser over ``A`` for fixed adapters: ``((1/T) Σ_t (C_t − P_t S_t)) S̄⁻¹``."""
    U = np.asarray(U, dtype=np.float64)
    V = None if V is None else np.asarray(V, dtype=np.float64)
    _check_shapes(None, U, V, mom)
    R = (mom.Syx - adapter_products(U, V) @ mom.Sxx).mean(axis=-3)
    Sbar = mom.Sxx.mean(axis=-3)
    # A S̄ = R  ⇔  S̄ Aᵀ = Rᵀ (S̄ symmetric).
    return np.linalg.solve(Sbar, R.mT).mT


def sr_empirical_loss(A, mom: Moments) -> NDArray[np.float64]:
    """Standard-retraining objective ``(1/T) Σ_t f_t(A)`` on the pooled data (batched)."""
    A = np.asarray(A, dtype=np.float64)
    return empirical_loss(A[..., None, :, :], mom).mean(axis=-1)


def pooled_least_squares(mom: Moments) -> NDArray[np.float64]:
    """Exact SR solution ``C̄ S̄⁻¹`` (the minimiser of :func:`sr_empirical_loss`)."""
    Sbar = mom.Sxx.mean(axis=-3)
    Cbar = mom.Syx.mean(axis=-3)
    return np.linalg.solve(Sbar, Cbar.mT).mT
