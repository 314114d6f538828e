"""Critical points of ``G`` (or ``L``) from many starts: Levenberg–Marquardt on the gradient.

Finds zeros of ``∇f`` whatever their kind (minima, saddles, maxima), as the paper did for
its spurious minima (App. D.2), with all starts advanced together.

Method
------
Minimise ``φ(x) = ½‖∇f(x)‖²`` by Levenberg–Marquardt; the Jacobian of ``∇f`` is the
symmetric Hessian ``H``, so the step is

    ``p = −(H² + λI)⁻¹ H ∇f``

(a Cholesky solve per start, batched). A step is accepted iff it lowers ``‖∇f‖``; then
``λ ← max(λ/3, λ_min)``, else ``λ ← 4λ``. Near a nondegenerate root ``λ → λ_min`` and the
step is Newton's ``−H⁻¹∇f`` (quadratic convergence); along the O(k) symmetry directions
``H`` is singular and the regularisation keeps the step off them. A start stops when
``‖∇f‖ <= tol·ρ^{3/2}`` (converged), when ``λ`` exceeds ``1e8·ρ²`` (a local minimum of
``φ`` that is not a root: not converged) or after ``max_iter`` steps.
"""

from __future__ import annotations

import time

import numpy as np

from ._backend import single_threaded
from .validation import check_float, check_int
from .batched import BatchedObjective
from .multistart import MultiStartResult, as_starts, problem_scale
from .problem import Problem

__all__ = ["find_roots"]


@single_threaded
def find_roots(
    problem: Problem,
    starts,
    *,
    objective: str = "reduced",
    tol: float = 1e-11,
    max_iter: int = 200,
    backend: str = "numpy",
    device=None,
) -> MultiStartResult:
    """Zeros of ``∇G`` (``objective="reduced"``) or ``∇L`` from a stack of starts.

    Parameters
    ----------
    problem : Problem
    starts : (S, T, d, k) array
        Starting adapters (see :func:`~landscape.multistart.random_starts`); for the full
        objective ``A`` starts at ``A(U)``.
    tol : float
        Relative gradient tolerance: converged when ``‖∇f‖_F <= tol·ρ^{3/2}`` with
        ``ρ = (1/T) Σ_t ‖R*_t‖_F``. The default ``1e-11`` is about 10⁴–10⁵ times the
        rounding level of the gradient (``≈ ε·ρ^{3/2}·√(Tdk)``) and far below the
        classifier's ``1e-8``.
    max_iter : int
    backend, device : str
        ``"numpy"`` or ``"torch"`` (any torch device).

    Returns
    -------
    MultiStartResult
        ``method="roots"``; ``min_eig`` is ``nan`` (classify the points to get curvature).

    Examples
    --------
    >>> from landscape import Problem
    >>> from landscape.multistart import random_starts
    >>> p = Problem.random(3, 1, 2, seed=0)
    >>> r = find_roots(p, random_starts(p, 8, seed=1))
    >>> bool(r.converged.all())
    True
    """
    tol = check_float("tol", tol, positive=True)
    max_iter = check_int("max_iter", max_iter, low=0)
    U0 = as_starts(problem, starts)
    t0 = time.perf_counter()
    obj = BatchedObjective(problem, objective, backend=backend, device=device)
    xp = obj.xp
    rho = problem_scale(problem)
    gtol, lam_min, lam_max = tol * rho**1.5, 1e-14 * rho**2, 1e8 * rho**2
    S = U0.shape[0]
    Ub = xp.asarray(U0)
    x = obj.join(obj.A_of_U(Ub), Ub)
    f, g = obj.value_grad(x)
    gn = xp.to_numpy(xp.norm(g)).copy()
    lam = np.full(S, 1e-3 * rho**2)
    iters = np.zeros(S, dtype=np.int64)
    active = gn > gtol
    I = xp.eye(obj.n)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        bi = xp.index(idx)
        xa, ga = x[bi], g[bi]
        H = obj.hessian(xa)
        Hg = xp.einsum("nij,nj->ni", H, ga)
        H2 = xp.einsum("nij,njk->nik", H, H) + xp.asarray(lam[idx])[:, None, None] * I[None]
        p, ok = xp.cholesky_solve(H2, -Hg)
        xn = xa + p
        fn, gnew = obj.value_grad(xn)
        nn = xp.to_numpy(xp.norm(gnew))
        okh = xp.to_numpy(ok).astype(bool) & np.isfinite(nn)
        acc = okh & (nn < gn[idx])
        if acc.any():
            ia = idx[acc]
            ba, bacc = xp.index(ia), xp.index(np.flatnonzero(acc))
            x[ba], g[ba], f[ba] = xn[bacc], gnew[bacc], fn[bacc]
            gn[ia] = nn[acc]
        lam[idx] = np.where(acc, np.maximum(lam[idx] / 3.0, lam_min), lam[idx] * 4.0)
        iters[idx] += 1
        active[idx] = (gn[idx] > gtol) & (lam[idx] < lam_max)
    A, U = obj.split(x)
    A = obj.A_of_U(U) if A is None else A
    return MultiStartResult(
        method="roots",
        objective=objective,
        U=xp.to_numpy(U).copy(),
        A=xp.to_numpy(A).copy(),
        loss=xp.to_numpy(f).copy(),
        grad_norm=gn,
        min_eig=np.full(S, np.nan),
        converged=gn <= gtol,
        iterations=iters,
        seconds=time.perf_counter() - t0,
        options={"tol": tol, "gtol_abs": gtol, "max_iter": max_iter, "scale": rho, "backend": xp.name},
    )
