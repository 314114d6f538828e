"""Plain and perturbed gradient descent, batched over starts.

These measure how often *descent* ends in a spurious minimum (the paper's claim, §3 and
App. D.2), separately from how often a second-order method does
(:mod:`landscape.sosp`). Both work on the reduced loss ``G`` (default) or on the full
objective ``L(A, U)`` (joint steps on ``A`` and ``U``).

Gradient descent
----------------
``x ← x − η∇f(x)`` with a fixed step ``η = step/ρ`` (``ρ = (1/T) Σ_t ‖R*_t‖_F``; the
Hessian of ``f`` scales like ``ρ``, so ``step`` is dimensionless). A divergence guard
halves a start's step, and skips the update, whenever ``f`` would increase; with a
stable step it never fires (the number of times it fired is reported). A start has
converged when ``‖∇f‖ <= tol·ρ^{3/2}``; gradient descent stops there even at a saddle
(e.g. it never leaves ``U = 0``, where ``∇G = 0``).

Perturbed gradient descent (Jin, Ge, Netrapalli, Kakade, Jordan 2017, Algorithm 2)
-------------------------------------------------------------------------------------
As above, but when ``‖∇f‖ <= tol·ρ^{3/2}`` and no perturbation happened in the last
``t_thres`` steps, remember ``x̃ = x`` and add ``ξ`` uniform in the ball of radius
``r = radius·√ρ``. If ``t_thres`` steps later ``f`` has not dropped by
``f_thres·ρ²`` below ``f(x̃)``, the start stops at ``x̃`` (converged: no escape
direction was found at that scale); otherwise it keeps descending.
"""

from __future__ import annotations

import time

import numpy as np

from ._backend import single_threaded
from .validation import as_rng, check_float, check_int
from .batched import BatchedObjective
from .multistart import MultiStartResult, as_starts, problem_scale
from .problem import Problem

__all__ = ["gradient_descent", "perturbed_gradient_descent"]


def _setup(problem, starts, objective, backend, device):
    U0 = as_starts(problem, starts)
    obj = BatchedObjective(problem, objective, backend=backend, device=device)
    xp = obj.xp
    Ub = xp.asarray(U0)
    x = obj.join(obj.A_of_U(Ub), Ub)
    return obj, xp, x


def _finish(obj, xp, x, f, g, method, objective, converged, iters, t0, options):
    A, U = obj.split(x)
    A = obj.A_of_U(U) if A is None else A
    return MultiStartResult(
        method=method,
        objective=objective,
        U=xp.to_numpy(U).copy(),
        A=xp.to_numpy(A).copy(),
        loss=xp.to_numpy(f).copy(),
        grad_norm=xp.to_numpy(xp.norm(g)).copy(),
        min_eig=np.full(x.shape[0], np.nan),
        converged=converged,
        iterations=iters,
        seconds=time.perf_counter() - t0,
        options=options,
    )


def _gd_step(obj, xp, x, f, g, eta, active):
    """One guarded step for the ``active`` starts (full-batch, masked)."""
    xn = x - xp.asarray(np.where(active, eta, 0.0))[:, None] * g
    fn, gn_ = obj.value_grad(xn)
    fnh = xp.to_numpy(fn)
    fh = xp.to_numpy(f)
    ok = active & np.isfinite(fnh) & (fnh <= fh + 4 * np.finfo(float).eps * np.abs(fh))
    guard = active & ~ok
    m = xp.mask(ok)
    x = xp.where(m[:, None], xn, x)
    g = xp.where(m[:, None], gn_, g)
    f = xp.where(m, fn, f)
    eta = np.where(guard, eta / 2, eta)
    return x, f, g, eta, guard


@single_threaded
def gradient_descent(
    problem: Problem,
    starts,
    *,
    objective: str = "reduced",
    step: float = 0.3,
    tol: float = 1e-6,
    max_iter: int = 20000,
    backend: str = "numpy",
    device=None,
    callback=None,
) -> MultiStartResult:
    """Fixed-step gradient descent from every start at once (module docstring).

    Parameters
    ----------
    problem : Problem
    starts : (S, T, d, k) array
    objective : {"reduced", "full"}
    step : float
        Dimensionless step; the actual step is ``step/ρ``.
    tol : float
        Relative gradient tolerance (``‖∇f‖ <= tol·ρ^{3/2}``).
    max_iter : int
    callback : callable, optional
        ``callback(iteration, U)`` after every step (numpy (S, T, d, k)).

    Returns
    -------
    MultiStartResult
        ``method="gd"``; ``options["guard_fired"]`` counts halved steps.

    Examples
    --------
    >>> import numpy as np
    >>> from landscape import Problem
    >>> p = Problem.random(3, 1, 3, seed=0)
    >>> r = gradient_descent(p, np.zeros((1, 3, 3, 1)), max_iter=50)
    >>> bool(r.converged[0]), float(r.grad_norm[0])  # U = 0 is critical: GD never moves
    (True, 0.0)
    """
    step = check_float("step", step, positive=True)
    tol = check_float("tol", tol, positive=True)
    max_iter = check_int("max_iter", max_iter, low=0)
    t0 = time.perf_counter()
    obj, xp, x = _setup(problem, starts, objective, backend, device)
    rho = problem_scale(problem)
    gtol = tol * rho**1.5
    S = x.shape[0]
    f, g = obj.value_grad(x)
    eta = np.full(S, step / rho)
    iters = np.zeros(S, dtype=np.int64)
    fired = 0
    active = xp.to_numpy(xp.norm(g)) > gtol
    for it in range(max_iter):
        if not active.any():
            break
        x, f, g, eta, guard = _gd_step(obj, xp, x, f, g, eta, active)
        fired += int(guard.sum())
        iters += active
        active &= xp.to_numpy(xp.norm(g)) > gtol
        if callback is not None:
            callback(it, obj.to_U(x))
    gn = xp.to_numpy(xp.norm(g))
    return _finish(
        obj, xp, x, f, g, "gd", objective, gn <= gtol, iters, t0,
        {"step": step, "eta_abs": step / rho, "tol": tol, "gtol_abs": gtol, "max_iter": max_iter,
         "scale": rho, "guard_fired": fired, "backend": xp.name},
    )


@single_threaded
def perturbed_gradient_descent(
    problem: Problem,
    starts,
    *,
    objective: str = "reduced",
    step: float = 0.3,
    tol: float = 1e-6,
    radius: float = 1e-2,
    t_thres: int = 200,
    f_thres: float = 1e-7,
    max_iter: int = 20000,
    seed=None,
    backend: str = "numpy",
    device=None,
    callback=None,
) -> MultiStartResult:
    """Perturbed gradient descent (Jin et al. 2017) from every start at once.

    Parameters
    ----------
    step, tol, max_iter, objective, callback
        As in :func:`gradient_descent`.
    radius : float
        Perturbation radius relative to ``√ρ``.
    t_thres : int
        Steps between a perturbation and the escape test.
    f_thres : float
        Required decrease after a perturbation, relative to ``ρ²``. It must exceed the
        possible decrease from a near-minimum ``x̃`` (``<= ‖∇f‖²/(2μ)``, about ``1e-9·ρ²``
        at the default ``tol`` and the weakest minima we met, ``μ ≈ 1e-4·ρ``) and stay
        below the escape from a saddle of curvature ``−γ`` (about ``½γr²``).
    seed : None, int or Generator
        For the perturbations.

    Returns
    -------
    MultiStartResult
        ``method="pgd"``; ``converged`` means a perturbation at ``x̃`` did not escape, and
        the end point is that ``x̃``; ``options["perturbations"]`` counts perturbations.
    """
    step = check_float("step", step, positive=True)
    tol = check_float("tol", tol, positive=True)
    radius = check_float("radius", radius, positive=True)
    t_thres = check_int("t_thres", t_thres, low=1)
    f_thres = check_float("f_thres", f_thres, positive=True)
    max_iter = check_int("max_iter", max_iter, low=0)
    rng = as_rng(seed)
    t0 = time.perf_counter()
    obj, xp, x = _setup(problem, starts, objective, backend, device)
    rho = problem_scale(problem)
    gtol, r, fthr = tol * rho**1.5, radius * np.sqrt(rho), f_thres * rho**2
    S, n = x.shape
    f, g = obj.value_grad(x)
    eta = np.full(S, step / rho)
    iters = np.zeros(S, dtype=np.int64)
    t_noise = np.full(S, -(t_thres + 1), dtype=np.int64)
    x_tilde, f_tilde = xp.copy(x), np.full(S, np.inf)
    active = np.ones(S, dtype=bool)
    stopped = np.zeros(S, dtype=bool)
    perturbations = fired = 0
    for t in range(max_iter):
        if not active.any():
            break
        gn = xp.to_numpy(xp.norm(g))
        # escape test t_thres steps after a perturbation
        test = active & (t - t_noise == t_thres)
        if test.any():
            fails = test & (xp.to_numpy(f) - f_tilde > -fthr)
            if fails.any():
                m = xp.mask(fails)
                x = xp.where(m[:, None], x_tilde, x)
                f2, g2 = obj.value_grad(x)
                f, g = xp.where(m, f2, f), xp.where(m[:, None], g2, g)
                stopped |= fails
                active &= ~fails
        # perturb near first-order points
        perturb = active & (gn <= gtol) & (t - t_noise > t_thres)
        if perturb.any():
            m = xp.mask(perturb)
            x_tilde = xp.where(m[:, None], x, x_tilde)
            f_tilde = np.where(perturb, xp.to_numpy(f), f_tilde)
            t_noise = np.where(perturb, t, t_noise)
            xi = rng.standard_normal((S, n))
            xi *= (r * rng.random(S) ** (1.0 / n) / np.linalg.norm(xi, axis=1))[:, None]
            x = xp.where(m[:, None], x + xp.asarray(xi), x)
            f2, g2 = obj.value_grad(x)
            f, g = xp.where(m, f2, f), xp.where(m[:, None], g2, g)
            perturbations += int(perturb.sum())
        x, f, g, eta, guard = _gd_step(obj, xp, x, f, g, eta, active)
        fired += int(guard.sum())
        iters += active
        if callback is not None:
            callback(t, obj.to_U(x))
    return _finish(
        obj, xp, x, f, g, "pgd", objective, stopped, iters, t0,
        {"step": step, "eta_abs": step / rho, "tol": tol, "gtol_abs": gtol, "radius": radius,
         "radius_abs": r, "t_thres": t_thres, "f_thres": f_thres, "f_thres_abs": fthr,
         "max_iter": max_iter, "scale": rho, "perturbations": perturbations,
         "guard_fired": fired, "backend": xp.name},
    )
