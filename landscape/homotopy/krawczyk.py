"""Interval certificates for a real critical point: existence, uniqueness and Hessian index.

For ``F(U) = ∇G(U)·T/4 = ((P_t − P̄) − (R*_t − R̄*)) U_t`` (see :mod:`.system`; here
unscaled, with ``R*_t = U*_tU*_tᵀ`` computed *exactly* from the problem's binary64
factors) and a float point ``ũ``, let ``X = ũ + [−r, r]ⁿ``, ``J(X)`` a ball enclosure of
the Jacobian ``∂F/∂U`` over ``X`` and ``Y`` any float matrix (``≈ J(ũ)⁻¹``). The
**Krawczyk operator**

    ``K(X) = ũ − Y F(ũ) + (I − Y J(X)) (X − ũ)``

satisfies: if ``K(X) ⊂ int X`` then ``F`` has exactly one zero ``U♯`` in ``X`` (Krawczyk
1969; Moore 1977; Rump 1983). Componentwise the test reads

    ``|Y F(ũ)|_i + r Σ_j |(I − Y J(X))_ij| < r``   for every ``i``,

evaluated in arb ball arithmetic (python-flint), so rounding cannot make it pass falsely.

**Hessian index.** ``∇²G = (4/T) ∂F/∂U``, so ``∇²G(U♯) ∈ (4/T) J(X)``. With a float
matrix ``Q`` (eigenvectors of the float Hessian), ``M = QᵀHQ`` for any symmetric member
``H``; if ``‖I − QᵀQ‖_F < 1`` then ``Q`` is nonsingular and Sylvester's law of inertia gives
``inertia(H) = inertia(M)``. Split ``M = D + E`` (diagonal, off-diagonal): Weyl's
inequality moves each eigenvalue by at most ``‖E‖₂ ≤ ‖E‖_F``, so if every
``|D_ii| > ‖E‖_F`` the number of negative eigenvalues of ``∇²G(U♯)`` equals the number of
negative ``D_ii``. Both bounds are taken over the whole box.

**Kind.** Index 0 and ``G > 0`` on all of ``X`` (ball evaluation of ``G``): a spurious
strict local minimum. Index 0 and some sign-flipped copy of ``U*`` (an exact zero of
``G``) inside ``X``: by uniqueness that copy is ``U♯``, a global minimum. Index ``i ≥ 1``: a
saddle of index ``i``. Only ``k = 1`` (no continuous symmetry) can pass: for ``k > 1`` the
Jacobian is singular along the O(k) orbit and the test refuses, as it must.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PointCertificate", "certify_point"]


@dataclass(frozen=True)
class PointCertificate:
    """Outcome of :func:`certify_point` (``certified`` False means "not proved", not "false")."""

    certified: bool
    radius: float  # half-width r of the box X = ũ ± r (in U units)
    contraction: float  # max_i (|YF|_i + rΣ|Z_ij|)/r, < 1 proves existence + uniqueness
    index: int | None  # certified number of negative Hessian eigenvalues, None if not proved
    kind: str | None  # "global-min", "spurious-min", "strict-min", "saddle" or None
    loss_lo: float  # lower bound of G over X
    loss_hi: float  # upper bound of G over X
    reason: str
    precision: int

    def to_json(self) -> dict:
        return {
            "certified": bool(self.certified),
            "radius": float(self.radius),
            "contraction": float(self.contraction),
            "index": None if self.index is None else int(self.index),
            "kind": self.kind,
            "loss_lo": float(self.loss_lo),
            "loss_hi": float(self.loss_hi),
            "reason": self.reason,
            "precision": int(self.precision),
        }


def _arb_data(problem):
    """``C_t = R*_t − R̄*`` as arb balls, from the exact binary64 factors."""
    from flint import arb

    T, d, k = problem.T, problem.d, problem.k
    Us = [[[arb(float(problem.U_star[t, i, c])) for c in range(k)] for i in range(d)] for t in range(T)]
    R = [[[sum((Us[t][i][c] * Us[t][j][c] for c in range(k)), arb(0)) for j in range(d)] for i in range(d)] for t in range(T)]
    Rbar = [[sum((R[t][i][j] for t in range(T)), arb(0)) / T for j in range(d)] for i in range(d)]
    return [[[R[t][i][j] - Rbar[i][j] for j in range(d)] for i in range(d)] for t in range(T)], R


def _F_and_J(V, C, T, d, k):
    """``F`` and ``∂F/∂U`` (formula of :mod:`.system` with ``x₀ = 1``) on nested arb lists."""
    from flint import arb

    zero = arb(0)
    P = [[[sum((V[t][i][c] * V[t][j][c] for c in range(k)), zero) for j in range(d)] for i in range(d)] for t in range(T)]
    Pbar = [[sum((P[t][i][j] for t in range(T)), zero) / T for j in range(d)] for i in range(d)]
    M = [[[P[t][i][j] - Pbar[i][j] - C[t][i][j] for j in range(d)] for i in range(d)] for t in range(T)]
    F = [sum((M[t][i][j] * V[t][j][l] for j in range(d)), zero) for t in range(T) for i in range(d) for l in range(k)]
    # (V_sᵀV_t)[c, l]
    G = [[[[sum((V[s][j][c] * V[t][j][l] for j in range(d)), zero) for l in range(k)] for c in range(k)] for t in range(T)] for s in range(T)]
    n = T * d * k
    J = [[zero] * n for _ in range(n)]
    for t in range(T):
        for i in range(d):
            for l in range(k):
                row = (t * d + i) * k + l
                for s in range(T):
                    ea = arb(T - 1) / T if s == t else -arb(1) / T
                    for a in range(d):
                        for c in range(k):
                            col = (s * d + a) * k + c
                            v = V[s][i][c] * V[t][a][l]
                            if i == a:
                                v = v + G[s][t][c][l]
                            v = ea * v
                            if s == t and l == c:
                                v = v + M[t][i][a]
                            J[row][col] = v
    return F, J


def _sq(x):
    """``x·x`` (arb's ``**`` goes through exp/log and gives NaN on balls containing 0)."""
    return x * x


def _loss(V, R, T, d, k):
    from flint import arb

    zero = arb(0)
    D = [[[sum((V[t][i][c] * V[t][j][c] for c in range(k)), zero) - R[t][i][j] for j in range(d)] for i in range(d)] for t in range(T)]
    Db = [[sum((D[t][i][j] for t in range(T)), zero) / T for j in range(d)] for i in range(d)]
    return sum((_sq(D[t][i][j] - Db[i][j]) for t in range(T) for i in range(d) for j in range(d)), zero) / T


def certify_point(problem, U, *, radii=None, precision: int = 128) -> PointCertificate:
    """Prove that a unique real critical point of ``G`` lies in a box around ``U`` (module doc).

    Parameters
    ----------
    problem : Problem
    U : (T, d, k) float array
        The float point ``ũ`` (its exact binary64 values are used).
    radii : sequence of float, optional
        Box half-widths to try, in units of ``√ρ`` (default ``1e-8, 1e-6, 1e-10, 1e-12``);
        the first that passes is kept.
    precision : int
        Bits of the arb arithmetic.

    Returns
    -------
    PointCertificate
    """
    from flint import arb, arb_mat, ctx

    from ..multistart import problem_scale

    T, d, k = problem.T, problem.d, problem.k
    n = T * d * k
    U = np.asarray(U, dtype=np.float64).reshape(T, d, k)
    rho = problem_scale(problem)
    radii = (1e-8, 1e-6, 1e-10, 1e-12) if radii is None else tuple(radii)
    old = ctx.prec
    ctx.prec = int(precision)
    try:
        C, R = _arb_data(problem)
        Vpt = [[[arb(float(U[t, i, c])) for c in range(k)] for i in range(d)] for t in range(T)]
        Fpt, Jpt = _F_and_J(Vpt, C, T, d, k)
        Jf = np.array([[float(x.mid()) for x in row] for row in Jpt])
        try:
            Y = np.linalg.inv(Jf)
        except np.linalg.LinAlgError:
            return PointCertificate(False, 0.0, float("inf"), None, None, float("nan"), float("nan"),
                                    "the Jacobian at the point is singular (a positive-dimensional set or k > 1)", precision)
        if not np.isfinite(Y).all():
            return PointCertificate(False, 0.0, float("inf"), None, None, float("nan"), float("nan"),
                                    "the Jacobian at the point is singular", precision)
        Ya = arb_mat(Y.tolist())
        YF = Ya * arb_mat([[f] for f in Fpt])
        best = (float("inf"), None)
        for rr in radii:
            r = float(rr * np.sqrt(rho))
            rad = arb(0, r)  # exactly [−r, r] up to the radius rounding of arb (outward)
            Vbox = [[[Vpt[t][i][c] + rad for c in range(k)] for i in range(d)] for t in range(T)]
            _, Jbox = _F_and_J(Vbox, C, T, d, k)
            Z = arb_mat(np.eye(n).tolist()) - Ya * arb_mat(Jbox)
            ra = arb(r)
            worst = 0.0
            ok = True
            for i in range(n):
                row = abs(YF[i, 0]) + ra * sum((abs(Z[i, j]) for j in range(n)), arb(0))
                q = float((row / ra).upper())
                worst = max(worst, q)
                if not (row < ra):
                    ok = False
            if ok:
                best = (worst, (r, Vbox, Jbox))
                break
            best = min(best, (worst, None), key=lambda b: b[0])
        if best[1] is None:
            return PointCertificate(False, 0.0, best[0], None, None, float("nan"), float("nan"),
                                    "Krawczyk test failed for every radius tried", precision)
        worst, (r, Vbox, Jbox) = best
        # loss bounds over the box
        Gb = _loss(Vbox, R, T, d, k)
        loss_lo, loss_hi = float(Gb.lower()), float(Gb.upper())
        # Hessian index via congruence + Weyl (module docstring)
        Hs = (Jf + Jf.T) / 2
        _, Q = np.linalg.eigh(Hs)
        Qa = arb_mat(Q.tolist())
        QtQ = Qa.transpose() * Qa
        orth2 = sum((_sq(QtQ[i, j] - (1 if i == j else 0)) for i in range(n) for j in range(n)), arb(0))
        Mq = Qa.transpose() * arb_mat(Jbox) * Qa
        off2 = sum((_sq(Mq[i, j]) for i in range(n) for j in range(n) if i != j), arb(0))
        index = None
        # squared forms: sqrt of a ball reaching below 0 is NaN in arb
        if orth2 < 1 and all(_sq(Mq[i, i]) > off2 for i in range(n)):
            index = sum(1 for i in range(n) if Mq[i, i] < 0)
        kind = None
        reason = "existence and uniqueness proved"
        if index is None:
            reason += "; the Hessian index could not be certified (eigenvalues too close to 0 for the box)"
        elif index > 0:
            kind = "saddle"
        else:
            inside = _flip_of_truth_inside(problem, U, r)
            if inside:
                kind = "global-min"
            elif Gb > 0:
                kind = "spurious-min"
            else:
                kind = "strict-min"
                reason += "; G > 0 not proved on the box"
        return PointCertificate(True, r, worst, index, kind, loss_lo, loss_hi, reason, precision)
    finally:
        ctx.prec = old


def _flip_of_truth_inside(problem, U, r: float) -> bool:
    """Whether some sign-flipped copy of ``U*`` (an exact zero of ``G``) lies in ``ũ ± r``.

    Only for k = 1. The float difference of two doubles is correctly rounded, so a
    relative margin of ``1e-12`` on ``r`` makes the comparison exact.
    """
    if problem.k != 1:
        return False
    for t in range(problem.T):
        u, us = U[t], problem.U_star[t]
        if not (np.all(np.abs(u - us) < r * (1 - 1e-12)) or np.all(np.abs(u + us) < r * (1 - 1e-12))):
            return False
    return True
