"""A small dense Levenberg–Marquardt solver, deterministic and self-contained.

Minimises ``‖r(x)‖²`` for a residual ``r`` with Jacobian ``J``: at each step solve
``(JᵀJ + λ(D + δI)) p = −Jᵀr`` with ``D = diag(JᵀJ)`` (Marquardt scaling; ``δ = 1e-12·max D``
keeps it definite along the symmetry directions where ``J`` is singular), accept the step
iff the cost decreases and ``‖p‖ <= 1 + ‖x‖`` (then ``λ ← max(λ/3, 1e-15)``), else ``λ ← 4λ``. On zero-residual
problems ``λ → 0`` and the steps become Gauss–Newton: quadratic convergence.

Why not ``scipy.optimize.least_squares(method="lm")``: with scipy 1.17 its MINPACK
wrapper gave results that changed in the last bits from one call to the next within a
process (after certain earlier calls), which the chaotic, non-compact zero set of ``T = 2``
amplifies; ``metalora verify`` promises byte-identical JSON for a given seed, so the
solver is kept here, in plain numpy.
"""

from __future__ import annotations

import numpy as np


def levenberg_marquardt(resid, jac, x0, *, max_iter: int = 100, xtol: float = 1e-15, ftol: float = 1e-15):
    """Return ``x`` approximately minimising ``‖resid(x)‖²`` from ``x0``.

    Stops after ``max_iter`` accepted steps, when a step is below ``xtol·(xtol + ‖x‖)``,
    when an accepted step lowers the cost by less than ``ftol·cost``, when the cost is
    exactly zero, or when ``λ`` exceeds 1e16 (no descent direction left: a local minimum
    of the cost).
    """
    x = np.array(x0, dtype=np.float64, copy=True)
    r = resid(x)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        if cost == 0.0:
            break
        J = jac(x)
        g = J.T @ r
        H = J.T @ J
        D = np.diag(H).copy()
        D += 1e-12 * max(float(D.max()), 1e-300)
        while True:
            try:
                p = np.linalg.solve(H + lam * np.diag(D), -g)
            except np.linalg.LinAlgError:
                p = None
            # A step longer than ‖x‖ (plus one) is refused like a failed one: along the
            # near-null directions of J (the non-compact T = 2 zero set) a lightly damped
            # step can otherwise fling x arbitrarily far.
            if p is not None and np.all(np.isfinite(p)) and np.linalg.norm(p) <= 1.0 + np.linalg.norm(x):
                xn = x + p
                rn = resid(xn)
                cn = float(rn @ rn)
                if np.isfinite(cn) and cn < cost:
                    break
            lam *= 4.0
            if lam > 1e16:
                return x
        small = float(np.linalg.norm(p)) <= xtol * (xtol + float(np.linalg.norm(x))) or cost - cn <= ftol * cost
        x, r, cost = xn, rn, cn
        lam = max(lam / 3.0, 1e-15)
        if small:
            break
    return x
