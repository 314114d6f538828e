"""A fast solver for finite-sample Meta-LoRA retraining: eliminate ``A``, L-BFGS, then Newton.

For fixed adapters the finite-sample objective ``L̂(A, U)`` is a strongly convex quadratic
in ``A`` with minimiser ``Â(U) = ((1/T) Σ_t (C_t − P_t S_t)) S̄⁻¹`` (:mod:`.empirical`).
The reduced objective ``ĝ(U) = L̂(Â(U), U)`` has the same local minimisers (in ``U``) as
``L̂`` and, by the envelope theorem, the gradient ``∇ĝ(U) = ∇_U L̂(Â(U), U)``. Its Hessian
is the Schur complement ``H_UU − H_UA H_AA⁻¹ H_AU`` (docs/math.md §4, finite-sample version);
its product with a direction ``δ`` is

    δP_t = δU_t U_tᵀ + U_t δU_tᵀ   (or δU_t V_tᵀ + U_t δV_tᵀ),
    δA   = −((1/T) Σ_t δP_t S_t) S̄⁻¹,      δG_t = (δA + δP_t) S_t,
    symmetric:  (2/T) [(δG_t + δG_tᵀ) U_t + (G_t + G_tᵀ) δU_t],
    asymmetric: (2/T) [δG_t V_t + G_t δV_t],  (2/T) [δG_tᵀ U_t + G_tᵀ δU_t].

We run L-BFGS from the same initial adapters as the gradient descent, then Newton steps
with the dense reduced Hessian (dimension ``Tdk`` or ``2Tdk``, built from exact
Hessian-vector products), restricted to its positive eigen-directions so that the zero
modes of the adapters' symmetry (``O(k)``, or ``GL(k)`` for asymmetric adapters) are
ignored. Each evaluation costs O(T d³), independent of the number of samples.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from landscape.validation import as_float64, check_float, check_int
from landscape.errors import InvalidArgument

from landscape.runs import blas_threads
from .data import Moments
from .retrain import RetrainResult, _full_grad_norm

__all__ = ["ReducedObjective", "meta_lora_fast"]


class ReducedObjective:
    """The reduced finite-sample objective ``ĝ`` of one run (no batch axes).

    Parameters
    ----------
    mom : Moments
        Moments of the ``T`` retraining tasks, shape (T, d, d).
    k : int
        Adapter rank.
    symmetric : bool
        Adapters ``U_tU_tᵀ`` (True) or ``U_tV_tᵀ`` (False); the parameter vector is
        ``U.ravel()`` or ``concatenate([U.ravel(), V.ravel()])``.
    """

    def __init__(self, mom: Moments, k: int, symmetric: bool = True):
        if mom.Sxx.ndim != 3:
            raise InvalidArgument(
                f"`mom` must hold one run's tasks, shape (T, d, d); got {mom.Sxx.shape}."
            )
        self.S, self.C = mom.Sxx, mom.Syx
        self.T, self.d = self.S.shape[0], self.S.shape[-1]
        self.k = check_int("k", k, low=1, high=self.d)
        self.symmetric = bool(symmetric)
        self.tr_yy = float(np.trace(mom.Syy, axis1=-2, axis2=-1).mean())
        Sbar = self.S.mean(axis=0)
        self.Sbar_inv = np.linalg.inv(Sbar)
        self.Sbar_inv = 0.5 * (self.Sbar_inv + self.Sbar_inv.T)
        self.Cbar = self.C.mean(axis=0)
        self.size = self.T * self.d * self.k * (1 if self.symmetric else 2)

    def split(self, x):
        """Parameter vector → ``(U, V)`` (``V`` is ``U`` for symmetric adapters)."""
        m = self.T * self.d * self.k
        U = x[..., :m].reshape(x.shape[:-1] + (self.T, self.d, self.k))
        V = U if self.symmetric else x[..., m:].reshape(U.shape)
        return U, V

    def A_of(self, U, V):
        P = U @ V.mT
        return (self.Cbar - (P @ self.S).mean(axis=-3)) @ self.Sbar_inv

    def _state(self, x):
        U, V = self.split(x)
        A = self.A_of(U, V)
        W = A[..., None, :, :] + U @ V.mT
        G = W @ self.S - self.C
        return U, V, A, W, G

    def value_and_grad(self, x):
        """``ĝ(x)`` and ``∇ĝ(x)`` (float, 1-D array)."""
        U, V, A, W, G = self._state(x)
        f = float(np.einsum("tij,tij->", W, G - self.C) / self.T + self.tr_yy)
        c = 2.0 / self.T
        if self.symmetric:
            return f, (c * ((G + G.mT) @ U)).ravel()
        gU = c * (G @ V)
        gV = c * (G.mT @ U)
        return f, np.concatenate([gU.ravel(), gV.ravel()])

    def hvp(self, x, D):
        """Reduced Hessian times the rows of ``D`` (shape (m, size)) → (m, size)."""
        U, V, A, W, G = self._state(x)
        D = np.atleast_2d(D)
        m = D.shape[0]
        c = 2.0 / self.T
        if self.symmetric:
            dU = D.reshape(m, self.T, self.d, self.k)
            dP = dU @ U.mT + U @ dU.mT
        else:
            dU, dV = self.split(D)
            dP = dU @ V.mT + U @ dV.mT
        dA = -((dP @ self.S).mean(axis=1)) @ self.Sbar_inv
        dG = (dA[:, None] + dP) @ self.S
        if self.symmetric:
            h = c * ((dG + dG.mT) @ U + (G + G.mT) @ dU)
            return h.reshape(m, -1)
        hU = c * (dG @ V + G @ dV)
        hV = c * (dG.mT @ U + G.mT @ dU)
        return np.concatenate([hU.reshape(m, -1), hV.reshape(m, -1)], axis=1)

    def hessian(self, x):
        """Dense reduced Hessian (symmetrised), shape (size, size)."""
        H = self.hvp(x, np.eye(self.size))
        return 0.5 * (H + H.T)


def _newton(obj: ReducedObjective, x, steps: int, tol: float):
    f, g = obj.value_and_grad(x)
    done = 0
    for _ in range(steps):
        if np.linalg.norm(g) <= tol:
            break
        w, Q = np.linalg.eigh(obj.hessian(x))
        keep = w > 1e-10 * max(float(w[-1]), 1e-300)
        if not np.any(keep):
            break
        step = -Q[:, keep] @ ((Q[:, keep].T @ g) / w[keep])
        f_new, g_new = obj.value_and_grad(x + step)
        # ``f`` is a difference of terms of size ~tr Syy, so rounding makes it noisy at
        # ~1e-16·tr Syy: accept a step that lowers the gradient and not f beyond that noise.
        if not (np.isfinite(f_new) and f_new <= f + 1e-12 * max(obj.tr_yy, 1.0)):
            break
        if np.linalg.norm(g_new) >= np.linalg.norm(g):
            break
        x, f, g = x + step, f_new, g_new
        done += 1
    return x, f, g, done


def meta_lora_fast(
    mom: Moments,
    U0,
    V0=None,
    *,
    gtol: float = 1e-11,
    maxiter: int = 20000,
    newton_steps: int = 8,
) -> RetrainResult:
    """Minimise the finite-sample Meta-LoRA objective exactly (same minimiser as the GD).

    Parameters
    ----------
    mom : Moments
        Retraining tasks' moments, shape (..., T, d, d); each batch element is solved
        separately.
    U0, V0 : (..., T, d, k) arrays
        Initial adapters (use the gradient descent's, so both reach the same minimiser);
        ``V0`` given means asymmetric adapters.
    gtol : float
        L-BFGS stops when the largest gradient entry is below ``gtol``; Newton steps then
        continue until the gradient norm stops decreasing (at most ``newton_steps``).

    Returns
    -------
    RetrainResult
        ``solver="fast"``, ``iterations`` = the largest L-BFGS + Newton count over the
        batch, ``curve`` empty.
    """
    if not isinstance(mom, Moments) or mom.Sxx.ndim < 3:
        raise InvalidArgument(
            "`mom` must be Moments of the retraining tasks, shape (..., T, d, d)."
        )
    gtol = check_float("gtol", gtol, positive=True)
    maxiter = check_int("maxiter", maxiter, low=1)
    newton_steps = check_int("newton_steps", newton_steps, low=0)
    T, d = mom.Sxx.shape[-3], mom.d
    batch = mom.batch_shape[:-1]
    U0 = as_float64("U0", U0)
    if U0.ndim < 3 or U0.shape[-3:-1] != (T, d):
        raise InvalidArgument(
            f"`U0` must have shape (..., T, d, k)=(..., {T}, {d}, k); got {U0.shape}."
        )
    k = U0.shape[-1]
    U0 = np.broadcast_to(U0, batch + (T, d, k)).reshape((-1, T, d, k))
    sym = V0 is None
    if not sym:
        V0 = np.broadcast_to(as_float64("V0", V0), batch + (T, d, k)).reshape((-1, T, d, k))
    flat = Moments(*(a.reshape((-1, T, d, d)) for a in (mom.Sxx, mom.Syx, mom.Syy)), mom.n)
    with blas_threads():
        return _solve_all(flat, U0, V0, k, sym, batch, mom, gtol, maxiter, newton_steps)


def _solve_all(flat, U0, V0, k, sym, batch, mom, gtol, maxiter, newton_steps):
    T, d = flat.Sxx.shape[-3], flat.d
    A_out, U_out, V_out, f_out = [], [], [], []
    iters = 0
    for b in range(U0.shape[0]):
        obj = ReducedObjective(flat[b], k, symmetric=sym)
        x0 = U0[b].ravel() if sym else np.concatenate([U0[b].ravel(), V0[b].ravel()])
        res = minimize(
            obj.value_and_grad,
            x0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": maxiter, "maxcor": 30, "gtol": gtol, "ftol": 1e-300},
        )
        x, f, g, n_newton = _newton(obj, res.x, newton_steps, tol=1e-14)
        iters = max(iters, int(res.nit) + n_newton)
        U, V = obj.split(x)
        A_out.append(obj.A_of(U, V))
        U_out.append(U.copy())
        V_out.append(None if sym else V.copy())
        f_out.append(f)
    A = np.stack(A_out).reshape(batch + (d, d))
    U = np.stack(U_out).reshape(batch + (T, d, k))
    V = None if sym else np.stack(V_out).reshape(batch + (T, d, k))
    loss = np.asarray(f_out).reshape(batch)
    grad_norm = _full_grad_norm(A, U, mom, V)
    return RetrainResult(
        method="Meta-LoRA" if sym else "Meta-LoRA-asym",
        solver="fast",
        A=A,
        U=U,
        V=V,
        loss=loss,
        grad_norm=grad_norm,
        curve=np.empty(batch + (0,)),
        iterations=iters,
    )
