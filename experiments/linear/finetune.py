"""Fine-tuning a frozen base on the test task with an asymmetric LoRA adapter ``U Vᵀ``.

On the test task's ``n'`` samples (moments ``S = Sxx``, ``C = Syx``) the in-sample
objective of the adapted map ``W = Â + U Vᵀ`` (``U``, ``V`` of shape ``(d, r)``) is

    F(U, V) = ⟨W, W S⟩ − 2⟨W, C⟩ + tr Syy,
    ∇_U F = 2 G V,   ∇_V F = 2 Gᵀ U,   G = W S − C.

:func:`lora_gd` runs plain gradient descent on ``(U, V)`` (the paper's step 0.005, from a
small random init shared by all methods); :func:`reduced_rank_regression` gives the global
minimiser of ``F`` over rank-``r`` adapters in closed form:

    B = C S⁺ (least squares),  Δ S^{1/2} = [(B − Â) S^{1/2}]_r  (truncated SVD),
    Δ = [(B − Â) S^{1/2}]_r S^{+1/2},

because ``F = ‖(Â + Δ − B) S^{1/2}‖_F² + const`` (Eckart–Young in the ``S``-norm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from landscape.validation import as_float64, check_float, check_int
from landscape.errors import InvalidArgument

from landscape.runs import blas_threads
from .data import Moments
from .empirical import empirical_loss

__all__ = ["FinetuneResult", "lora_gd", "reduced_rank_regression"]


@dataclass(frozen=True, eq=False)
class FinetuneResult:
    """A fine-tuned adapter ``U Vᵀ`` on a frozen base (batched over leading axes).

    Attributes
    ----------
    method : str
        ``"gd"`` or ``"rrr"`` (closed-form reduced-rank regression).
    U, V : (..., d, r) arrays
    loss : (...) array
        Final in-sample fine-tuning objective ``F``.
    steps : int
    """

    method: str
    U: NDArray[np.float64]
    V: NDArray[np.float64]
    loss: NDArray[np.float64]
    steps: int

    def weights(self, base) -> NDArray[np.float64]:
        """The fine-tuned map ``Â + U Vᵀ``."""
        return np.asarray(base) + self.U @ self.V.mT


def _check(base, mom):
    base = as_float64("base", base)
    if not isinstance(mom, Moments):
        raise InvalidArgument("`mom` must be the test task's Moments.")
    d = mom.d
    if base.ndim < 2 or base.shape[-2:] != (d, d):
        raise InvalidArgument(f"`base` must have shape (..., d, d) with d={d}; got {base.shape}.")
    return base, d


def lora_gd(
    base,
    mom: Moments,
    U0,
    V0,
    *,
    steps: int = 30000,
    lr: float = 0.005,
    tol: float | None = 1e-12,
    check_every: int = 500,
) -> FinetuneResult:
    """Gradient descent on the LoRA factors with the base frozen.

    Parameters
    ----------
    base : (..., d, d) array
        Retrained bases (e.g. one per method, stacked); broadcast against ``mom``.
    mom : Moments
        Test task's moments, shape (..., d, d).
    U0, V0 : (..., d, r) arrays
        Initial factors; broadcast, so one draw can serve every method.
    steps, lr : int, float
        Maximum iterations and step size (paper: 0.005): ``U ← U − lr·2GV``,
        ``V ← V − lr·2GᵀU`` simultaneously.
    tol : float or None
        Stop early once, for every batch element, the objective fell by at most ``tol``
        over the last ``check_every`` steps (``None``: always run ``steps``). The objective
        only stalls this way at convergence: while a direction with singular value ``s``
        is still being fitted from the small init it falls by ≫ 1e-12 per 500 steps.

    Notes
    -----
    Directions of ``B − Â`` with small singular values ``s`` are fitted at rate
    ``~2·lr·s`` per step from the small init, so they can take tens of thousands of steps
    (e.g. the rank-2 remainder of Meta-LoRA's base when ``T = 2``, ``s ≈ 0.05``). The
    result's ``steps`` is the number actually run; compare ``loss`` with
    :func:`reduced_rank_regression` to see how far from the optimum it stopped.
    """
    base, d = _check(base, mom)
    steps = check_int("steps", steps, low=0)
    lr = check_float("lr", lr, positive=True)
    if tol is not None:
        tol = check_float("tol", tol, low=0.0)
    check_every = check_int("check_every", check_every, low=1)
    U0 = as_float64("U0", U0)
    V0 = as_float64("V0", V0)
    if U0.shape[-2] != d or U0.shape[-1:] != V0.shape[-1:] or V0.shape[-2] != d:
        raise InvalidArgument(
            f"`U0` and `V0` must have shape (..., d, r) with d={d}; got {U0.shape}, {V0.shape}."
        )
    S, C = mom.Sxx, mom.Syx
    Bf = base @ S - C  # Â S − C, fixed: G = Bf + U Vᵀ S
    shape = np.broadcast_shapes(Bf.shape[:-2], U0.shape[:-2], V0.shape[:-2]) + U0.shape[-2:]
    U = np.array(np.broadcast_to(U0, shape))
    V = np.array(np.broadcast_to(V0, shape))
    c = 2.0 * lr
    done = 0
    with np.errstate(all="ignore"), blas_threads():
        last = empirical_loss(base + U @ V.mT, mom)
        while done < steps:
            chunk = min(check_every, steps - done)
            for _ in range(chunk):
                G = Bf + U @ (V.mT @ S)
                gU = G @ V
                gV = G.mT @ U
                U -= c * gU
                V -= c * gV
            done += chunk
            loss = empirical_loss(base + U @ V.mT, mom)
            if tol is not None and np.all(last - loss <= tol) and np.all(np.isfinite(loss)):
                break
            if not np.any(np.isfinite(loss)):
                break
            last = loss
        loss = empirical_loss(base + U @ V.mT, mom)
    return FinetuneResult("gd", U, V, loss, done)


def reduced_rank_regression(base, mom: Moments, rank: int) -> FinetuneResult:
    """Closed-form best rank-``r`` adapter on the test task's samples (global minimiser of ``F``).

    Works for singular ``S`` too (fewer samples than dimensions): pseudo-inverses are used
    and the minimum-norm minimiser is returned.
    """
    base, d = _check(base, mom)
    r = check_int("rank", rank, low=0, high=d)
    w, Q = np.linalg.eigh(mom.Sxx)
    tol = d * np.finfo(float).eps * np.max(np.abs(w), axis=-1, keepdims=True)
    pos = w > tol
    sq = np.where(pos, np.sqrt(np.where(pos, w, 1.0)), 0.0)
    isq = np.where(pos, 1.0 / np.where(pos, sq, 1.0), 0.0)
    Sh = (Q * sq[..., None, :]) @ Q.mT
    Shi = (Q * isq[..., None, :]) @ Q.mT
    B = mom.Syx @ Shi @ Shi  # C S⁺
    P, s, Qt = np.linalg.svd((B - base) @ Sh)
    U = P[..., :, :r] * s[..., None, :r]
    V = Shi @ Qt[..., :r, :].mT
    loss = empirical_loss(base + U @ V.mT, mom)
    return FinetuneResult("rrr", U, V, loss, 0)
