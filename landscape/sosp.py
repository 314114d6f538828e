"""A batched second-order method that ends at an (ε_g, ε_H)-SOSP and never stops at a saddle.

Method (regularised Newton with explicit negative-curvature steps)
------------------------------------------------------------------
All starts advance together on stacks ``x`` (S, n) with dense Hessians ``H`` (S, n, n)
(:class:`~landscape.batched.BatchedObjective`). Each start carries a regularisation
``μ >= 0``; an iteration does, per start:

1. **Stop test.** If ``‖∇f‖ <= ε_g`` and ``H + ε_H I`` has a Cholesky factor (so
   ``λ_min(H) >= −ε_H``), the start is an (ε_g, ε_H)-SOSP and stops.
2. **Regularised Newton step.** If ``H + μI`` is positive definite (batched Cholesky),
   ``p = −(H + μI)⁻¹∇f``. This is the exact trust-region step for the radius ``‖p‖``;
   it is accepted when the actual decrease is at least ``0.1×`` the model's
   ``−(∇fᵀp + ½pᵀHp)`` (or, at the rounding level of ``f``, when it lowers ``‖∇f‖``);
   ``μ`` shrinks ×¼ after very good steps (ratio > 0.75, so the method becomes Newton's
   and converges quadratically), grows ×4 after poor ones.
3. **Negative curvature.** Otherwise (``H + μI`` indefinite, or a first-order point that
   failed the stop test) the smallest eigenpair ``(λ₁, v₁)`` is computed (batched
   ``eigh``) and the best of the shifted step ``−(H + (μ − λ₁)I)⁻¹∇f`` and the
   negative-curvature steps ``α σ v₁`` (``σ = −sign(∇fᵀv₁)``, ``α`` on a geometric grid
   ``√ρ·{10⁻³ … 1}``) is taken. Along ``v₁`` the first- and second-order terms of ``f``
   are both ``<= 0`` and the second is ``½α²λ₁ < 0``, so the step decreases ``f`` even at
   an exact saddle (``∇f = 0``), where gradient methods and quasi-Newton methods stay.

For ``n > 32`` variables a batched L-BFGS phase (Armijo backtracking, O(n) per start and
step; finished starts leave the batch) first brings every start to ``‖∇f‖ <= ε_g``; most
starts then need a single dense Hessian, for the stop test of step 1 (the L-BFGS steps from
``1e-7·ρ^{3/2}`` down to ``ε_g`` cost less than the two extra Newton iterations they
replace). A start where L-BFGS stalls above ``ε_g`` (its Armijo test failing at the
rounding level of ``f``) continues with the steps above. L-BFGS may stop near a saddle;
the stop test rejects it and step 3 leaves it. The certificate is unchanged: every start
reported converged passed step 1 at its final point.

Batched Cholesky costs a fraction of ``eigh``; ``eigh`` runs only where the curvature is
negative. The O(k) symmetry makes ``H`` singular along ``U_tΩ`` at critical points; those
directions have zero gradient, so they neither block the Cholesky test (it is applied to
``H + ε_H I``) nor attract steps.

Tolerances (relative, ``ρ = (1/T) Σ_t ‖R*_t‖_F``): ``ε_g = eps_g·ρ^{3/2}``,
``ε_H = eps_H·ρ`` (see :mod:`landscape.multistart`).
"""

from __future__ import annotations

import time

import numpy as np

from ._backend import single_threaded
from .validation import check_float, check_int
from .batched import BatchedObjective
from .multistart import MultiStartResult, as_starts, problem_scale
from .problem import Problem

__all__ = ["find_sosp"]

_ALPHAS = np.array([1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0])
_EPS = np.finfo(float).eps


@single_threaded
def find_sosp(
    problem: Problem,
    starts,
    *,
    objective: str = "reduced",
    eps_g: float = 1e-10,
    eps_H: float = 1e-6,
    max_iter: int = 500,
    min_eig: bool = True,
    warm_start: bool | None = None,
    chunk: int | None = None,
    backend: str = "numpy",
    device=None,
    callback=None,
) -> MultiStartResult:
    """Drive every start to an (ε_g, ε_H)-second-order stationary point of ``G`` (or ``L``).

    Parameters
    ----------
    problem : Problem
    starts : (S, T, d, k) array
        Starting adapters; with ``objective="full"`` ``A`` starts at ``A(U)``.
    objective : {"reduced", "full"}
        Minimise ``G(U)`` in ``U``-space (default) or ``L(A, U)`` in ``(A, U)``-space.
    eps_g : float
        Relative gradient tolerance, ``‖∇f‖ <= eps_g·ρ^{3/2}``. The default ``1e-10`` is
        about 10⁵ times the rounding level of the gradient and 100 times below the
        classifier's tolerance, so converged points classify without further polishing.
    eps_H : float
        Relative curvature tolerance, ``λ_min(∇²f) >= −eps_H·ρ``. Any negative eigenvalue
        below ``−eps_H·ρ`` is escaped; ``1e-6`` is below the curvature of the saddles we
        met (mostly ``λ_min ≲ −1e-4·ρ``) and far above the Hessian's rounding (≈ 1e-15·ρ).
    max_iter : int
        Iteration cap per start (a start that reaches it is reported not converged).
    warm_start : bool, optional
        Run a batched L-BFGS phase first (down to ``‖∇f‖ <= ε_g``); it costs O(n) per
        start and step instead of a dense Hessian, and the second-order phase then mostly
        only checks ``λ_min >= −ε_H`` (one Hessian and Cholesky factorisation per start).
        L-BFGS may approach a saddle: the second-order phase escapes it. ``False``:
        second-order steps from the start.
        Default (None): on when ``n > 32``, where a dense Hessian per step costs more
        than a few dozen L-BFGS steps.
    min_eig : bool
        Also report ``λ_min`` of each end point's Hessian (one batched ``eigvalsh``).
    chunk : int, optional
        Starts per batched Hessian (default: as many as fit in ~64 MiB).
    backend, device : str
        ``"numpy"`` or ``"torch"`` (any torch device, e.g. ``"cuda"``).
    callback : callable, optional
        ``callback(iteration, U)`` with the current stack (numpy, (S, T, d, k)) after each
        iteration (e.g. to record trajectories).

    Returns
    -------
    MultiStartResult
        ``method="sosp"``; ``converged`` marks (ε_g, ε_H)-SOSPs; ``grad_norm`` and
        ``min_eig`` report both quantities at every end point.

    Examples
    --------
    >>> import numpy as np
    >>> from landscape import Problem
    >>> p = Problem.random(3, 1, 2, seed=0)
    >>> r = find_sosp(p, np.zeros((1, 2, 3, 1)))      # U = 0 is a saddle: it escapes
    >>> bool(r.converged[0]), bool(r.loss[0] < 1e-20)  # T = 2: every SOSP is global
    (True, True)
    """
    eps_g = check_float("eps_g", eps_g, positive=True)
    eps_H = check_float("eps_H", eps_H, positive=True)
    max_iter = check_int("max_iter", max_iter, low=0)
    U0 = as_starts(problem, starts)
    t0 = time.perf_counter()
    obj = BatchedObjective(problem, objective, backend=backend, device=device)
    xp = obj.xp
    rho = problem_scale(problem)
    gtol, htol = eps_g * rho**1.5, eps_H * rho
    mu_floor = 1e-10 * rho
    n = obj.n
    if chunk is None:
        chunk = max(1, int(2**23 // (n * n)))
    chunk = check_int("chunk", chunk, low=1)
    S = U0.shape[0]
    Ub = xp.asarray(U0)
    x = obj.join(obj.A_of_U(Ub), Ub)
    f, g = obj.value_grad(x)
    f = xp.to_numpy(f).copy()
    gn = xp.to_numpy(xp.norm(g)).copy()
    iters = np.zeros(S, dtype=np.int64)
    mu = np.full(S, rho)
    if warm_start is None:
        warm_start = n > 32
    if warm_start:
        # First-order phase: cheap batched L-BFGS down to ‖∇f‖ <= ε_g (at most 500 steps);
        # the second-order phase then usually needs one Hessian per start (the stop test).
        # Below 1e-7·ρ^{3/2} a start gets max(10, n/4) more steps to reach ε_g (about what
        # one Hessian and Cholesky cost); slower ones finish with Newton steps.
        x, f, g, gn, iters = _lbfgs_phase(
            obj, x, f, g, gn, gtol, 500, rho, gslow=1e-7 * rho**1.5, max_tail=max(10, n // 4)
        )
        mu[:] = 1e-3 * rho
    done = np.zeros(S, dtype=bool)
    stalled = np.zeros(S, dtype=bool)
    I = xp.eye(n)
    alphas = _ALPHAS * np.sqrt(rho)
    buf = np.empty(min(chunk, S) * n * n) if xp.name == "numpy" else None  # reused Hessian storage
    for it in range(max_iter):
        idx_all = np.flatnonzero(~done & ~stalled)
        if idx_all.size == 0:
            break
        for lo in range(0, idx_all.size, chunk):
            idx = idx_all[lo : lo + chunk]
            _iterate(obj, x, g, f, gn, mu, done, stalled, idx, I, gtol, htol, mu_floor, alphas, rho, buf)
        iters[idx_all] += 1
        if callback is not None:
            callback(it, obj.to_U(x))
    A, U = obj.split(x)
    A = obj.A_of_U(U) if A is None else A
    lam = np.full(S, np.nan)
    if min_eig:
        for lo in range(0, S, chunk):
            sl = slice(lo, lo + chunk)
            lam[sl] = xp.to_numpy(xp.eigvalsh(obj.hessian(x[sl]))[:, 0])
    return MultiStartResult(
        method="sosp",
        objective=objective,
        U=xp.to_numpy(U).copy(),
        A=xp.to_numpy(A).copy(),
        loss=f,
        grad_norm=gn,
        min_eig=lam,
        converged=done,
        iterations=iters,
        seconds=time.perf_counter() - t0,
        options={
            "eps_g": eps_g,
            "eps_H": eps_H,
            "gtol_abs": gtol,
            "htol_abs": htol,
            "max_iter": max_iter,
            "warm_start": warm_start,
            "scale": rho,
            "backend": xp.name,
        },
    )


def _iterate(obj, x, g, f, gn, mu, done, stalled, idx, I, gtol, htol, mu_floor, alphas, rho, buf=None):
    """One iteration for the starts ``idx`` (updates the arrays in place)."""
    xp = obj.xp
    bi = xp.index(idx)
    xa, ga = x[bi], g[bi]
    H = obj.hessian(xa, out=buf)
    first_order = gn[idx] <= gtol
    # One batched Cholesky of H + σI, σ = ε_H (stop test) or μ (regularised step), with the
    # shift added to the diagonal in place (H is a reused buffer; it is restored below).
    shift = np.where(first_order, htol, mu[idx])
    ar = xp.index(np.arange(H.shape[1]))
    diag0 = xp.copy(H[:, ar, ar])
    H[:, ar, ar] = diag0 + xp.asarray(shift)[:, None]
    p, ok = xp.cholesky_solve(H, -ga, need=~first_order)  # no step needed at first-order points
    H[:, ar, ar] = diag0
    ok = xp.to_numpy(ok).astype(bool)
    done[idx[first_order & ok]] = True  # (ε_g, ε_H)-SOSP
    indefinite = ~ok  # H + σI not PD: negative curvature below −σ
    reg = np.flatnonzero(~first_order)
    if reg.size:
        Hp_all = xp.einsum("nij,nj->ni", H, p)
        good = reg[ok[reg]]
        if good.size:
            bg = xp.index(good)
            pg, gg = p[bg], ga[bg]
            Hp = Hp_all[bg]
            pred = -xp.to_numpy((gg * pg).sum(-1) + 0.5 * (pg * Hp).sum(-1))
            xn = xa[bg] + pg
            fn, gnew = obj.value_grad(xn)
            fn = xp.to_numpy(fn)
            nn = xp.to_numpy(xp.norm(gnew))
            gi = idx[good]
            actual = f[gi] - fn
            noise = 100 * _EPS * (np.abs(f[gi]) + rho * np.sqrt(np.abs(f[gi])))
            ratio = actual / np.maximum(pred, np.finfo(float).tiny)
            finite = np.isfinite(fn) & np.isfinite(nn)
            accept = finite & (
                ((pred > noise) & (ratio > 0.1)) | ((pred <= noise) & (nn < gn[gi]) & (actual >= -noise))
            )
            _commit(xp, x, g, f, gn, gi, accept, xn, gnew, fn, nn)
            very_good = accept & ((ratio > 0.75) | (pred <= noise))
            poor = ~accept | (ratio < 0.25) & (pred > noise)
            mu[gi] = np.where(very_good, np.maximum(mu[gi] / 4, mu_floor), mu[gi])
            mu[gi] = np.where(poor, np.maximum(4 * mu[gi], mu_floor), mu[gi])
            # A start whose steps keep failing at the rounding level cannot improve further.
            stalled[gi] |= ~accept & (pred <= noise)
    neg = np.flatnonzero(indefinite)
    if neg.size:
        _negative_curvature(obj, x, g, f, gn, mu, idx[neg], xa[xp.index(neg)], ga[xp.index(neg)], H[xp.index(neg)], alphas, mu_floor)


def _commit(xp, x, g, f, gn, gi, accept, xn, gnew, fn, nn):
    if accept.any():
        ia = gi[accept]
        ba, bl = xp.index(ia), xp.index(np.flatnonzero(accept))
        x[ba], g[ba] = xn[bl], gnew[bl]
        f[ia], gn[ia] = fn[accept], nn[accept]


def _negative_curvature(obj, x, g, f, gn, mu, gi, xa, ga, H, alphas, mu_floor):
    """Best of the shifted Newton step and steps along the most negative eigenvector."""
    xp = obj.xp
    lam, V = xp.eigh(H)
    lam1 = lam[:, 0]
    v1 = V[:, :, 0]
    a = xp.einsum("nji,nj->ni", V, ga)
    shift = -lam1 + xp.asarray(np.maximum(mu[gi], mu_floor))
    denom = lam + shift[:, None]
    denom = xp.where(denom > 0, denom, 1.0)
    p_shift = -xp.einsum("nij,nj->ni", V, a / denom)
    sgn = xp.to_numpy((ga * v1).sum(-1))
    sgn = np.where(sgn > 0, -1.0, 1.0)
    m, n = ga.shape
    na = alphas.size
    steps = xp.asarray(sgn[:, None, None] * alphas[None, :, None]) * v1[:, None, :]
    cand = xp.zeros((m, na + 1, n))
    cand[:, :na] = steps
    cand[:, na] = p_shift
    trial = (xa[:, None, :] + cand).reshape(m * (na + 1), n)
    ft, gt = obj.value_grad(trial)
    ft = xp.to_numpy(ft).reshape(m, na + 1)
    ft = np.where(np.isfinite(ft), ft, np.inf)
    best = np.argmin(ft, axis=1)
    fb = ft[np.arange(m), best]
    accept = fb < f[gi]
    flat = np.arange(m) * (na + 1) + best
    bf = xp.index(flat)
    xn, gnew = trial[bf], gt[bf]
    nn = xp.to_numpy(xp.norm(gnew))
    _commit(xp, x, g, f, gn, gi, accept, xn, gnew, fb, nn)
    # Next time start the regularised step just above the negative curvature.
    mu[gi] = np.where(accept, np.maximum(2 * xp.to_numpy(-lam1), mu_floor), 4 * mu[gi])


def _lbfgs_phase(obj, x, f, g, gn, gswitch, max_steps, rho, memory=10, gslow=None, max_tail=None):
    """Batched L-BFGS with Armijo backtracking until ``‖∇f‖ <= gswitch`` (per start).

    Full-batch arithmetic with masks (finished starts take zero steps), two-loop
    recursion vectorised over starts; a pair ``(s, y)`` with ``sᵀy <= 0`` is stored with
    weight 0 (skipped). A start that has taken ``max_tail`` steps with ``‖∇f‖ <= gslow``
    without reaching ``gswitch`` stops too (slow linear convergence, e.g. in a flat valley or
    at a minimum with ``f > 0`` where the Armijo test meets the rounding of ``f``: Newton
    steps finish such starts faster). Returns the updated ``(x, f, g, gn, steps)``.
    """
    xp = obj.xp
    S, n = x.shape
    sh = xp.zeros((memory, S, n))  # history, newest at slot it % memory; contiguous per slot
    yh = xp.zeros((memory, S, n))
    rh = np.zeros((memory, S))
    gamma = np.full(S, 1.0 / rho)
    steps = np.zeros(S, dtype=np.int64)
    tail = np.zeros(S, dtype=np.int64)
    active = gn > gswitch
    # Finished starts leave the working arrays once a quarter of them are done (their rows
    # are written back to the outputs), so the long tail of slow starts runs on a small batch.
    out_x, out_g, out_f, out_gn, out_steps = xp.copy(x), xp.copy(g), f.copy(), gn.copy(), steps.copy()
    rows = np.arange(S)
    for it in range(max_steps):
        if not active.any():
            break
        if active.sum() <= 0.75 * S:
            fin, keep = np.flatnonzero(~active), np.flatnonzero(active)
            bf, bo = xp.index(fin), xp.index(rows[fin])
            out_x[bo], out_g[bo] = x[bf], g[bf]
            out_f[rows[fin]], out_gn[rows[fin]], out_steps[rows[fin]] = f[fin], gn[fin], steps[fin]
            bk = xp.index(keep)
            x, g, sh, yh = x[bk], g[bk], sh[:, bk], yh[:, bk]
            f, gn, steps, rh, gamma, active = f[keep], gn[keep], steps[keep], rh[:, keep], gamma[keep], active[keep]
            tail = tail[keep]
            rows, S = rows[keep], keep.size
        order = [(it - 1 - j) % memory for j in range(memory)]
        q = xp.copy(g)
        alpha = [None] * memory
        R = xp.asarray(rh)
        for j in order:
            alpha[j] = R[j] * xp.einsum("si,si->s", sh[j], q)
            q -= alpha[j][:, None] * yh[j]
        r = xp.asarray(gamma)[:, None] * q
        for j in reversed(order):
            b = R[j] * xp.einsum("si,si->s", yh[j], r)
            r += (alpha[j] - b)[:, None] * sh[j]
        p = -r
        slope = xp.to_numpy(xp.einsum("si,si->s", g, p)).copy()
        bad = active & ~(slope < 0)
        if bad.any():  # not a descent direction: restart from scaled steepest descent
            m = xp.mask(bad)
            p = xp.where(m[:, None], -xp.asarray(gamma)[:, None] * g, p)
            slope = xp.to_numpy((g * p).sum(-1)).copy()
            rh[:, bad] = 0.0
        if not active.all():
            p = p * xp.asarray(active.astype(float))[:, None]
        t = np.ones(S)
        pending = active.copy()
        fn = f.copy()
        xn = gnew = None  # allocated on the first partial acceptance
        moved = np.zeros(S, dtype=bool)
        for _ in range(40):
            idx = np.flatnonzero(pending)
            if idx.size == S:  # everybody tries: no gathers
                trial = x + xp.asarray(t)[:, None] * p
            else:
                bi = xp.index(idx)
                trial = x[bi] + xp.asarray(t[idx])[:, None] * p[bi]
            ft, gt = obj.value_grad(trial)
            ft = xp.to_numpy(ft)
            okp = np.isfinite(ft) & (ft <= f[idx] + 1e-4 * t[idx] * slope[idx])
            if okp.any():
                sel = idx[okp]
                if xn is None and sel.size == S:
                    xn, gnew = trial, gt
                else:
                    if xn is None:
                        xn, gnew = xp.copy(x), xp.copy(g)
                    bs, bo = xp.index(sel), xp.index(np.flatnonzero(okp))
                    xn[bs], gnew[bs] = trial[bo], gt[bo]
                fn[sel] = ft[okp]
                moved[sel] = True
                pending[sel] = False
            if not pending.any():
                break
            t[pending] *= 0.5
        steps += active
        if xn is None:
            xn, gnew = x, g
        slot = it % memory
        all_moved = bool(moved.all())
        s_vec, y_vec = xn - x, gnew - g
        if not all_moved:
            s_vec = s_vec * xp.asarray(moved.astype(float))[:, None]
            y_vec = y_vec * xp.asarray(moved.astype(float))[:, None]
        sy = xp.to_numpy(xp.einsum("si,si->s", s_vec, y_vec))
        yy = xp.to_numpy(xp.einsum("si,si->s", y_vec, y_vec))
        ss = xp.to_numpy(xp.einsum("si,si->s", s_vec, s_vec))
        good = moved & (sy > 1e-12 * np.sqrt(yy * ss))
        sh[slot], yh[slot] = s_vec, y_vec
        rh[slot] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        gamma = np.where(good, sy / np.where(good, yy, 1.0), gamma)
        if all_moved:
            x, g = xn, gnew
        else:
            mm = xp.mask(moved)
            x = xp.where(mm[:, None], xn, x)
            g = xp.where(mm[:, None], gnew, g)
        f = np.where(moved, fn, f)
        gn = np.where(moved, xp.to_numpy(xp.norm(g)), gn)
        active &= (gn > gswitch) & moved
        if gslow is not None:
            tail += active & (gn <= gslow)
            active &= tail < max_tail
    br = xp.index(rows)
    out_x[br], out_g[br] = x, g
    out_f[rows], out_gn[rows], out_steps[rows] = f, gn, steps
    return out_x, out_f, out_g, out_gn, out_steps
