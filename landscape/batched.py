"""The reduced loss ``G`` and the full objective ``L`` evaluated on a stack of points at once.

Batched versions of :mod:`landscape.objectives` / :mod:`landscape.derivatives` for the
multi-start solvers: points are flat vectors ``x`` of shape ``(S, n)``;

- ``objective="reduced"``: ``x = U.ravel()`` per start, ``n = Tdk``, value ``G(U)``;
- ``objective="full"``: ``x = concatenate([A.ravel(), U.ravel()])`` (the :func:`~landscape.pack`
  order), ``n = d² + Tdk``, value ``L(A, U)``.

Formulas (docs/math.md §3–4; ``E_t = A + U_tU_tᵀ − M*_t``, ``C_t = D_t − D̄``, ``D_t = U_tU_tᵀ − R*_t``):

- ``G = (1/T) Σ_t ‖C_t‖²``, ``∇_{U_t} G = (4/T) C_t U_t``,
  ``∇²G[(t,i,c),(s,a,b)] = (4/T)[(δ_ts − 1/T)(U_s[i,b]U_t[a,c] + δ_ia (U_sᵀU_t)[b,c]) + δ_ts δ_bc C_t[i,a]]``;
- ``L = (1/T) Σ_t ‖E_t‖²``, ``∇_A L = (2/T) Σ_t E_t``, ``∇_{U_t} L = (2/T)(E_t + E_tᵀ)U_t``,
  Hessian blocks as in :func:`landscape.derivatives.meta_hessian_blocks`.

Every function works unchanged on numpy arrays or torch tensors (see ``_backend``); the
dense single-point functions of :mod:`landscape.derivatives` are the test oracles.
"""

from __future__ import annotations

import numpy as np

from ._backend import get_backend
from .errors import InvalidArgument
from .problem import Problem

__all__ = ["BatchedObjective", "batched_objective"]


class BatchedObjective:
    """Value, gradient and dense Hessian of ``G`` (or ``L``) for a stack of points.

    Parameters
    ----------
    problem : Problem
    objective : {"reduced", "full"}
        ``"reduced"``: ``G(U)`` in ``U``-space; ``"full"``: ``L(A, U)`` in ``(A, U)``-space.
    backend : {"numpy", "torch"}
    device : str, optional
        torch device (``backend="torch"`` only).
    """

    def __init__(self, problem: Problem, objective: str = "reduced", *, backend="numpy", device=None):
        if objective not in ("reduced", "full"):
            raise InvalidArgument(f"`objective` must be 'reduced' or 'full'; got objective={objective!r}.")
        self.problem = problem
        self.objective = objective
        self.xp = get_backend(backend, device) if isinstance(backend, str) else backend
        T, d, k = problem.U_star.shape
        self.T, self.d, self.k = T, d, k
        self.nU = T * d * k
        self.nA = d * d if objective == "full" else 0
        self.n = self.nA + self.nU
        xp = self.xp
        self.R = xp.asarray(problem.R_star)
        self.M = xp.asarray(problem.M_star)
        self._P = xp.asarray(np.eye(T) - 1.0 / T)

    # -- layout -------------------------------------------------------------------------
    def split(self, x):
        """``x`` (S, n) → ``(A, U)``: ``A`` (S, d, d) or None, ``U`` (S, T, d, k) (views)."""
        S = x.shape[0]
        U = x[:, self.nA :].reshape(S, self.T, self.d, self.k)
        A = x[:, : self.nA].reshape(S, self.d, self.d) if self.nA else None
        return A, U

    def join(self, A, U):
        """Inverse of :meth:`split` (``A`` ignored for the reduced objective)."""
        S = U.shape[0]
        if not self.nA:
            return self.xp.copy(U.reshape(S, self.nU))
        xp = self.xp
        out = xp.zeros((S, self.n))
        out[:, : self.nA] = A.reshape(S, self.nA)
        out[:, self.nA :] = U.reshape(S, self.nU)
        return out

    def A_of_U(self, U):
        """``A(U) = (1/T) Σ_t (M*_t − U_tU_tᵀ)`` for a stack (S, T, d, k) → (S, d, d)."""
        return (self.M[None] - U @ U.swapaxes(-1, -2)).sum(1) / self.T

    # -- value and gradient -------------------------------------------------------------
    def _residual(self, x):
        A, U = self.split(x)
        # batched matmul (far faster than einsum here) and in-place updates: fresh
        # temporaries of this size cost more in page faults than in arithmetic
        W = U @ U.swapaxes(-1, -2)
        if A is None:
            W -= self.R[None]
            W -= W.sum(1)[:, None] / self.T
            return A, U, W
        W += A[:, None]
        W -= self.M[None]
        return A, U, W

    def value(self, x):
        """Objective values, shape (S,)."""
        _, _, C = self._residual(x)
        return self.xp.einsum("ntij,ntij->n", C, C) / self.T

    def value_grad(self, x):
        """``(f, ∇f)`` with shapes (S,) and (S, n)."""
        A, U, C = self._residual(x)
        xp = self.xp
        f = xp.einsum("ntij,ntij->n", C, C) / self.T
        if A is None:
            g = (4.0 / self.T) * (C @ U)
            return f, g.reshape(x.shape[0], self.n)
        gA = (2.0 / self.T) * C.sum(1)
        gU = (2.0 / self.T) * ((C + C.swapaxes(2, 3)) @ U)
        return f, self.join(gA, gU)

    def grad(self, x):
        return self.value_grad(x)[1]

    # -- Hessian ------------------------------------------------------------------------
    def hessian(self, x, out=None):
        """Dense Hessians, shape (S, n, n), in the flat order of ``x``.

        ``out`` (numpy backend, reduced objective): a float64 buffer of at least ``S·n²``
        entries to write into (saves allocating — and page-faulting — a fresh array on
        every iteration of a solver); the result is a view of it.
        """
        if self.nA:
            return self._full_hessian(x)
        return self._reduced_hessian(x, out)

    def _reduced_hessian(self, x, out=None):
        xp = self.xp
        _, U, C = self._residual(x)
        S, T, d, k = U.shape
        c = 4.0 / T
        P = c * self._P
        # c (δ_ts − 1/T) U_s[i,b] U_t[a,c], written in one broadcast pass in the output order
        left = U.swapaxes(2, 3).reshape(S, T, 1, k, 1, d, 1) * P.reshape(1, T, 1, 1, T, 1, 1)
        right = U.swapaxes(1, 2).reshape(S, 1, d, 1, T, 1, k)
        if out is not None and xp.name == "numpy":
            H = out.reshape(-1)[: S * self.n * self.n].reshape(S, T, d, k, T, d, k)
            np.multiply(left, right, out=H)
        else:
            H = left * right
        # c (δ_ts − 1/T) δ_ia (U_sᵀU_t)[b,c]
        G = xp.einsum("nsjb,ntjc->ntcsb", U, U) * P[None, :, None, :, None]
        for i in range(d):
            H[:, :, i, :, :, i, :] += G
        # c δ_ts δ_bc C_t[i,a]
        C = c * C
        for t in range(T):
            for cc in range(k):
                H[:, t, :, cc, t, :, cc] += C[:, t]
        return H.reshape(S, self.n, self.n)

    def _full_hessian(self, x):
        xp = self.xp
        A, U, E = self._residual(x)
        S, T, d, k = U.shape
        nA = self.nA
        c = 2.0 / T
        H = xp.zeros((S, self.n, self.n))
        I = xp.eye(nA)
        H[:, :nA, :nA] = 2.0 * I[None]
        # H_AU[(i,j),(t,a,b)] = c (U_t[i,b] δ_ja + δ_ia U_t[j,b])
        HAU = xp.zeros((S, d, d, T, d, k))
        cU = c * xp.einsum("ntib->nitb", U)
        for a in range(d):
            HAU[:, :, a, :, a, :] += cU
            HAU[:, a, :, :, a, :] += cU
        HAU = HAU.reshape(S, nA, self.nU)
        H[:, :nA, nA:] = HAU
        H[:, nA:, :nA] = HAU.swapaxes(1, 2)
        # H_{U_t,U_t}[(i,c),(a,b)] = c (2 U_t[i,b]U_t[a,c] + 2 δ_ia (U_tᵀU_t)[b,c] + S_t[i,a] δ_bc)
        Sym = E + E.swapaxes(2, 3)
        Gm = xp.einsum("ntab,ntac->ntbc", U, U)  # U_tᵀU_t, [b, c]
        dk = d * k
        for t in range(T):
            blk = 2.0 * xp.einsum("nib,nac->nicab", U[:, t], U[:, t])
            for i in range(d):
                blk[:, i, :, i, :] += 2.0 * Gm[:, t].swapaxes(1, 2)
            for cc in range(k):
                blk[:, :, cc, :, cc] += Sym[:, t]
            o = nA + t * dk
            H[:, o : o + dk, o : o + dk] = c * blk.reshape(S, dk, dk)
        return H

    # -- scale ---------------------------------------------------------------------------
    def to_U(self, x) -> np.ndarray:
        """The ``U`` part of a stack as a numpy array (S, T, d, k)."""
        return self.xp.to_numpy(self.split(x)[1]).copy()


def batched_objective(problem: Problem, objective: str = "reduced", *, backend="numpy", device=None):
    """Shorthand for :class:`BatchedObjective`."""
    return BatchedObjective(problem, objective, backend=backend, device=device)
