"""Retraining by the paper's gradient descent, on second moments (O(d³) per step).

Meta-LoRA (paper §4.1, EXPERIMENTS.md §1): from ``A = 0`` and small random adapters,
``rounds`` rounds of {``u_steps`` full-batch gradient steps on every adapter with step
``lr_U``, then one step on ``A`` with step ``lr_A``}; the gradients are those of the
finite-sample objective ``L̂`` of :mod:`.empirical`. Within a round ``A`` is fixed, so
``B_t = A S_t − C_t`` is computed once and an adapter step costs O(d²k) per task:

    symmetric:  ∇_{U_t} L̂ = (2/T) [(B_t + B_tᵀ) U_t + U_t (U_tᵀ S_t U_t) + S_t U_t (U_tᵀ U_t)],
    asymmetric: ∇_{U_t} L̂ = (2/T) [B_t V_t + U_t (V_tᵀ S_t V_t)],
                ∇_{V_t} L̂ = (2/T) [B_tᵀ U_t + S_t V_t (U_tᵀ U_t)].

Standard retraining (SR) is gradient descent on ``A`` alone (pooled objective
``(1/T) Σ_t f_t(A)``), whose exact answer is pooled least squares
(:func:`.empirical.pooled_least_squares`).

Every function takes leading batch axes (e.g. seeds), so several runs share each numpy
call; the task axis is the one before the matrix axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from landscape.validation import as_float64, check_float, check_int
from landscape.errors import InvalidArgument

from landscape.runs import blas_threads

from .data import Moments
from .empirical import (
    meta_empirical_grad,
    meta_empirical_loss,
    pooled_least_squares,
    sr_empirical_loss,
)

__all__ = ["RetrainResult", "meta_lora_gd", "sr_gd", "sr_exact"]


@dataclass(frozen=True, eq=False)
class RetrainResult:
    """A retrained base (batched over leading axes).

    Attributes
    ----------
    method : str
        ``"SR"``, ``"Meta-LoRA"`` (symmetric adapters) or ``"Meta-LoRA-asym"``.
    solver : str
        ``"gd"`` (the paper's gradient descent), ``"fast"`` (:func:`.fast.meta_lora_fast`)
        or ``"exact"`` (pooled least squares, SR only).
    A : (..., d, d) array
        The retrained base ``Â``.
    U, V : (..., T, d, k) arrays or None
        Retraining adapters (``V`` only for asymmetric adapters).
    loss : (...) array
        Final in-sample retraining objective.
    grad_norm : (...) array
        Norm of the objective's full gradient (in ``A`` and the adapters) at the end.
    curve : (..., iterations) array
        Objective over the iterations (Meta-LoRA: at each round's base step, after the
        adapter steps; SR: before each step); empty for non-iterative solvers.
    iterations : int
        Rounds (Meta-LoRA GD), steps (SR GD) or optimiser iterations (fast).
    """

    method: str
    solver: str
    A: NDArray[np.float64]
    U: NDArray[np.float64] | None
    V: NDArray[np.float64] | None
    loss: NDArray[np.float64]
    grad_norm: NDArray[np.float64]
    curve: NDArray[np.float64]
    iterations: int

    @property
    def finite(self) -> NDArray[np.bool_]:
        """Per batch element: every returned number is finite (no divergence)."""
        ok = np.all(np.isfinite(self.A), axis=(-2, -1)) & np.isfinite(self.loss)
        if self.U is not None:
            ok &= np.all(np.isfinite(self.U), axis=(-3, -2, -1))
        return ok


def _check_moments(mom: Moments) -> tuple[int, int]:
    if not isinstance(mom, Moments) or mom.Sxx.ndim < 3:
        raise InvalidArgument(
            "`mom` must be Moments of the retraining tasks with shape (..., T, d, d)."
        )
    return mom.Sxx.shape[-3], mom.d


def _full_grad_norm(A, U, mom, V=None):
    gA, gU, gV = meta_empirical_grad(A, U, mom, V)
    sq = np.sum(gA**2, axis=(-2, -1)) + np.sum(gU**2, axis=(-3, -2, -1))
    if gV is not None:
        sq = sq + np.sum(gV**2, axis=(-3, -2, -1))
    return np.sqrt(sq)


def meta_lora_gd(
    mom: Moments,
    U0,
    V0=None,
    *,
    rounds: int = 3000,
    u_steps: int = 10,
    lr_U: float = 0.003,
    lr_A: float = 0.03,
    A0=None,
    record: bool = True,
) -> RetrainResult:
    """The paper's alternating gradient descent on the finite-sample Meta-LoRA objective.

    Parameters
    ----------
    mom : Moments
        Retraining tasks' moments, shape (..., T, d, d).
    U0 : (..., T, d, k) array
        Initial adapters (the paper: entries ``N(0, 0.1²)``).
    V0 : (..., T, d, k) array, optional
        Initial second factors: given, the adapters are asymmetric ``U_tV_tᵀ``.
    rounds, u_steps, lr_U, lr_A : int, int, float, float
        Each round: ``u_steps`` simultaneous steps on all adapter factors, then one step
        on ``A`` (paper: 3000, 10, 0.003, 0.03).
    A0 : (..., d, d) array, optional
        Initial base (default 0, as in the paper).
    record : bool
        Record the objective once per round (``curve``).

    Returns
    -------
    RetrainResult
        Divergence is not an error: non-finite entries are returned as they are (see
        :attr:`RetrainResult.finite`).

    Notes
    -----
    The iterates are those of plain full-batch gradient descent on
    ``L̂(A, U) = (1/T) Σ_t (1/N) Σ_i ‖(A + P_t) x_{ti} − y_{ti}‖²``; only the arithmetic is
    rearranged (second moments, ``B_t`` cached within a round), so per-sample and
    second-moment implementations agree to rounding (tested, and compared in
    ``benchmarks/bench_figure1.py``).
    """
    T, d = _check_moments(mom)
    rounds = check_int("rounds", rounds, low=0)
    u_steps = check_int("u_steps", u_steps, low=0)
    lr_U = check_float("lr_U", lr_U, positive=True)
    lr_A = check_float("lr_A", lr_A, positive=True)
    U0 = as_float64("U0", U0)
    batch = mom.batch_shape[:-1]
    if U0.ndim < 3 or U0.shape[-3:-1] != (T, d):
        raise InvalidArgument(
            f"`U0` must have shape (..., T, d, k)=(..., {T}, {d}, k); got {U0.shape}."
        )
    k = U0.shape[-1]
    U0 = np.broadcast_to(U0, batch + (T, d, k))
    sym = V0 is None
    if not sym:
        V0 = np.broadcast_to(as_float64("V0", V0), U0.shape)
    A = (
        np.zeros(batch + (d, d))
        if A0 is None
        else np.array(np.broadcast_to(as_float64("A0", A0), batch + (d, d)))
    )
    S, C = mom.Sxx, mom.Syx
    tr_yy = np.trace(mom.Syy, axis1=-2, axis2=-1).mean(axis=-1)
    cU = 2.0 * lr_U / T
    cA = 2.0 * lr_A / T
    curve = np.empty(batch + ((rounds,) if record else (0,)))

    with np.errstate(all="ignore"), blas_threads():
        if sym:
            # Within a round B_t = A S_t − C_t and L_t = I − cU (B_t + B_tᵀ) are fixed, and
            # the adapter step U ← U − cU [(B + Bᵀ)U + U(UᵀSU) + SU(UᵀU)] reads, with Q = cU S U,
            #     U ← L U − Q (UᵀU) − U (QᵀU).
            # We keep Ut = Uᵀ (k × d) and take the step in three small products:
            #   Y = Ut [−cU S | I | L] = [−Qᵀ | Ut | (LU)ᵀ], viewed as rows (l, j) of (3k × d);
            #   Γ = [−Qᵀ ; Ut] U  gives −QᵀU and UᵀU (both symmetric k × k);
            #   Ut ← Coef Y with Coef[i, (l, 0)] = (UᵀU)_il, Coef[i, (l, 1)] = −(QᵀU)_il,
            #        Coef[i, (l, 2)] = δ_il, written straight from Γ through a strided view.
            Ut = np.array(U0.swapaxes(-1, -2), order="C")  # (..., T, k, d)
            U = Ut.mT
            K3 = np.empty(batch + (T, d, 3 * d))
            K3[..., :d] = -cU * S
            K3[..., d : 2 * d] = np.eye(d)
            L = K3[..., 2 * d :]
            Y = np.empty(batch + (T, k, 3 * d))
            Y_rows = Y.reshape(batch + (T, 3 * k, d))
            gram_in = Y.reshape(batch + (T, k, 3, d))[..., :2, :]  # [l, j, :] for j = 0, 1
            coef4 = np.zeros(batch + (T, k, k, 3))  # [i, l, j]
            coef4[..., 2] = np.eye(k)
            coef = coef4.reshape(batch + (T, k, 3 * k))
            gram_out = np.moveaxis(coef4, -3, -1)[..., 1::-1, :]  # [l, j, i] → Coef[i, l, 1 − j]
            U_b = U[..., None, :, :]
            eye = np.eye(d)
            for r in range(rounds):
                Bt = A[..., None, :, :] @ S - C
                np.subtract(eye, cU * (Bt + Bt.mT), out=L)
                for _ in range(u_steps):
                    np.matmul(Ut, K3, out=Y)
                    np.matmul(gram_in, U_b, out=gram_out)
                    np.matmul(coef, Y_rows, out=Ut)
                G = Bt + U @ (Ut @ S)  # (A + U Uᵀ) S − C
                if record:
                    W = A[..., None, :, :] + U @ Ut
                    np.einsum("...tij,...tij->...", W, G - C, out=curve[..., r])
                A = A - cA * G.sum(axis=-3)
            if record:
                curve = curve / T + tr_yy[..., None]
            U = np.ascontiguousarray(U)
            V = None
        else:
            U = np.array(U0)
            V = np.array(V0)
            for r in range(rounds):
                Bt = A[..., None, :, :] @ S - C
                BtT = Bt.mT
                for _ in range(u_steps):
                    SV = S @ V
                    gU = Bt @ V + U @ (V.mT @ SV)
                    gV = BtT @ U + SV @ (U.mT @ U)
                    U = U - cU * gU
                    V = V - cU * gV
                G = Bt + U @ (S @ V).mT  # (A + U Vᵀ) S − C
                if record:
                    W = A[..., None, :, :] + U @ V.mT
                    curve[..., r] = np.einsum("...tij,...tij->...", W, G - C) / T + tr_yy
                A = A - cA * G.sum(axis=-3)
        loss = meta_empirical_loss(A, U, mom, V)
        grad_norm = _full_grad_norm(A, U, mom, V)
    return RetrainResult(
        method="Meta-LoRA" if sym else "Meta-LoRA-asym",
        solver="gd",
        A=A,
        U=U,
        V=V,
        loss=loss,
        grad_norm=grad_norm,
        curve=curve,
        iterations=rounds,
    )


def _check_offset(offset, batch, d):
    if offset is None:
        return np.zeros(batch + (d, d))
    offset = as_float64("offset", offset)
    if offset.shape[-2:] != (d, d):
        raise InvalidArgument(f"`offset` must have shape (..., d, d) with d={d}; got {offset.shape}.")
    return np.broadcast_to(offset, batch + (d, d))


def sr_gd(
    mom: Moments,
    *,
    steps: int = 3000,
    lr: float = 0.03,
    A0=None,
    offset=None,
    record: bool = True,
) -> RetrainResult:
    """Standard retraining by gradient descent on ``A``: ``A ← A − lr · 2 ((A + O) S̄ − C̄)``.

    ``S̄``, ``C̄`` are the task-averaged moments (the pooled data's, for equal ``N``). The
    iterates converge to :func:`sr_exact` at rate ``max |1 − 2 lr λ(S̄)|`` per step.

    Parameters
    ----------
    offset : (..., d, d) array, optional
        A fixed term ``O`` in the model during the base steps (default 0). The published
        code's SR keeps ``T`` never-trained adapters in the model, which acts as
        ``O = (1/T) Σ_t U_tU_tᵀ`` (convention ``paper-code``); the limit is then
        pooled least squares minus ``O``.
    """
    T, d = _check_moments(mom)
    steps = check_int("steps", steps, low=0)
    lr = check_float("lr", lr, positive=True)
    batch = mom.batch_shape[:-1]
    Sbar = mom.Sxx.mean(axis=-3)
    Cbar = mom.Syx.mean(axis=-3)
    # (A + O) S̄ − C̄ = A S̄ − (C̄ − O S̄): the offset only shifts the target moment.
    Cbar_eff = Cbar - _check_offset(offset, batch, d) @ Sbar
    tr_yy = np.trace(mom.Syy, axis1=-2, axis2=-1).mean(axis=-1)
    A = (
        np.zeros(batch + (d, d))
        if A0 is None
        else np.array(np.broadcast_to(as_float64("A0", A0), batch + (d, d)))
    )
    curve = np.empty(batch + ((steps,) if record else (0,)))
    with np.errstate(all="ignore"):
        for s in range(steps):
            if record:
                G0 = A @ Sbar - Cbar
                curve[..., s] = np.einsum("...ij,...ij->...", A, G0 - Cbar) + tr_yy
            A = A - (2.0 * lr) * (A @ Sbar - Cbar_eff)
        loss = sr_empirical_loss(A, mom)
        grad_norm = np.sqrt(np.sum((2.0 * (A @ Sbar - Cbar)) ** 2, axis=(-2, -1)))
    return RetrainResult("SR", "gd", A, None, None, loss, grad_norm, curve, steps)


def sr_exact(mom: Moments, *, offset=None) -> RetrainResult:
    """Standard retraining's exact answer, pooled least squares ``C̄ S̄⁻¹`` (minus ``offset``).

    With ``offset`` (see :func:`sr_gd`) the limit of :func:`sr_gd` is returned:
    ``C̄ S̄⁻¹ − O``.
    """
    T, d = _check_moments(mom)
    A = pooled_least_squares(mom) - _check_offset(offset, mom.batch_shape[:-1], d)
    Sbar = mom.Sxx.mean(axis=-3)
    Cbar = mom.Syx.mean(axis=-3)
    grad_norm = np.sqrt(np.sum((2.0 * (A @ Sbar - Cbar)) ** 2, axis=(-2, -1)))
    empty = np.empty(mom.batch_shape[:-1] + (0,))
    return RetrainResult(
        "SR", "exact", A, None, None, sr_empirical_loss(A, mom), grad_norm, empty, 0
    )
