"""Find zero-loss points of the Meta-LoRA objective — where descent lands *and* adversarially.

Thm 3.2, Cor. 2, Thm 3.3 and Cor. 3 speak about **all** points with ``L(Â, Û) = 0``, so
looking only where descent lands is not enough. :func:`search_zero_loss` collects
zero-loss points in three ways, all in ``U``-space on the reduced loss ``G`` (docs/math.md §4;
``L(A, U) = 0`` iff ``A = A(U)`` and ``G(U) = 0``):

1. **descent**: Levenberg–Marquardt on the residuals ``C_t = D_t − D̄`` (``G = (1/T)Σ‖C_t‖²``)
   from random starts; LM converges quadratically on zero-residual problems, so a run that
   reaches the zero set ends with ``G`` at rounding level.
2. **distance adversary**: for each target ``c`` (a multiple of the instance's scale
   ``s = mean_t ‖R*_t‖_F``), solve ``min G(U)`` subject to ``‖A(U) − A*‖_F = c`` (method of
   multipliers: shifted penalty ``G + μ(h + η)²``, ``μ = 1e3``, each stage by LM).
   A constrained minimum of 0 is a zero-loss point at distance ``c`` from ``A*``. For
   ``T >= 3`` Thm 3.3 says this is impossible (the minimum stays positive); for ``T = 2``
   the zero set is an ``O(k, k)`` family reaching every distance, and the search finds it.
3. **rank adversary** (when ``d > 2k``): ``min G(U)`` subject to
   ``det(Pᵀ(A(U) − A*)P) = ±c^{2k+1}`` for a random orthonormal d×(2k+1) ``P`` — a smooth
   (polynomial) constraint that forces ``rank(A(U) − A*) > 2k``: a zero-loss point there
   would contradict Thm 3.2 (for every ``T``).

Every constrained run is then polished by unconstrained LM, and a point counts as zero
loss when ``G <= ZERO_LOSS_RTOL · s²`` (LM reaches ~1e-30·s² on the zero set; any
spurious minimum or constrained minimum has ``G`` many orders above this).

All numbers are computed on the instance normalised by ``s`` (``R*_t / s``), so the
tolerances are scale free; points are reported in the original units.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ._lm import levenberg_marquardt
from .validation import check_A, check_int, check_U
from .errors import InvalidArgument
from .objectives import A_of_U, gram, meta_loss, reduced_loss, reduced_residuals
from .problem import Problem
from .runs import make_rng

__all__ = [
    "ZeroLossPoint",
    "ZeroLossSearch",
    "search_zero_loss",
    "given_points",
    "point_scale",
    "task_residual_norm",
    "ZERO_LOSS_RTOL",
]

#: A point is "zero loss" when ``G(U) <= ZERO_LOSS_RTOL · s²`` (``s = mean_t ‖R*_t‖_F``).
ZERO_LOSS_RTOL = 1e-20


@dataclass(frozen=True)
class ZeroLossPoint:
    """A point ``(Â, Û)`` with ``Â = A(Û)``, its loss and where it came from."""

    A: np.ndarray = field(repr=False)
    U: np.ndarray = field(repr=False)
    loss: float
    origin: str  # "descent", "distance c=…", "rank c=…", "given"
    distance: float  # ‖Â − A*‖_F

    def to_json(self) -> dict:
        return {"loss": self.loss, "origin": self.origin, "distance": self.distance}


@dataclass(frozen=True)
class ZeroLossSearch:
    """Result of :func:`search_zero_loss`.

    ``points``: every zero-loss point found; ``runs``: one summary per run (including the
    ones that did not reach zero loss: spurious minima, positive constrained minima);
    ``scale``: ``s = mean_t ‖R*_t‖_F``; ``min_constrained_loss``: per adversarial target, the
    smallest ``G`` reached *on the constraint set* (positive = no zero-loss point there).
    """

    points: tuple
    runs: tuple
    scale: float
    min_constrained_loss: dict
    seconds: float = field(compare=False)

    def to_json(self) -> dict:
        return {
            "points": [p.to_json() for p in self.points],
            "runs": list(self.runs),
            "scale": self.scale,
            "min_constrained_loss": dict(self.min_constrained_loss),
        }


# -- the reduced residuals on a normalised instance ----------------------------------
# Every solver below works on the problem scaled by s = mean_t ‖R*_t‖_F (``_normalised``),
# through the same objective functions as the rest of the package.
def _normalised(problem: Problem, s: float) -> Problem:
    r = np.sqrt(s)
    return Problem.from_arrays(problem.A_star / s, problem.U_star / r, problem.U_test / r)


def _residual(U, pn: Problem):
    return reduced_residuals(pn, U)


def _G(U, pn: Problem):
    return reduced_loss(pn, U)


def _jacobian(U, T):
    """Jacobian of ``vec(C_t)/√T`` w.r.t. ``U``: ``(δ_ts − 1/T)(δ_ia U_s[j,b] + U_s[i,b] δ_ja)``."""
    _, d, k = U.shape
    P = np.eye(T) - 1.0 / T
    I = np.eye(d)
    J = np.einsum("ts,ia,sjb->tijsab", P, I, U) + np.einsum("ts,sib,ja->tijsab", P, U, I)
    return J.reshape(T * d * d, T * d * k) / np.sqrt(T)


def _polish(U0, pn, *, max_nfev=200):
    """Levenberg–Marquardt on the residuals of ``G`` from ``U0``."""
    shape = U0.shape
    T = shape[0]

    def fun(x):
        return _residual(x.reshape(shape), pn).ravel() / np.sqrt(T)

    def jac(x):
        return _jacobian(x.reshape(shape), T)

    return levenberg_marquardt(fun, jac, U0.ravel(), max_iter=max_nfev).reshape(shape)


def _W(U, pn):
    """``A(U) − A* = mean_t (R*_t − U_tU_tᵀ)``."""
    return A_of_U(pn, U) - pn.A_star


def _distance_constraint(c, pn):
    """``h(U) = ‖A(U) − A*‖_F − c`` and its gradient ``−(2/T) W U_t / ‖W‖`` (``W = A(U) − A*``).

    A norm, not its square: the gradient keeps unit size near ``W = 0``, so the penalty
    cannot stall where the constraint function is flat.
    """
    T = pn.T

    def h(x, shape):
        return float(np.linalg.norm(_W(x.reshape(shape), pn))) - c

    def dh(x, shape):
        U = x.reshape(shape)
        W = _W(U, pn)
        n = max(float(np.linalg.norm(W)), 1e-300)
        return (-(2.0 / (T * n)) * np.einsum("ij,tjk->tik", W, U)).ravel()

    return h, dh


def _adjugate(M):
    """``adj(M)`` (so ``d det(M) = ⟨adj(M)ᵀ, dM⟩``), from the SVD: stable when ``M`` is singular."""
    U, sv, Vt = np.linalg.svd(M)
    n = sv.size
    prod = np.array([np.prod(np.delete(sv, i)) for i in range(n)])
    sign = np.linalg.det(U) * np.linalg.det(Vt)
    return sign * (Vt.T * prod) @ U.T


def _rank_constraint(c, pn, r, P, sign):
    """``h(U) = det(Pᵀ W P) − sign·c^{r+1}`` with ``W = A(U) − A*`` and ``P`` a fixed d×(r+1)
    orthonormal matrix: ``det(PᵀWP) ≠ 0`` forces ``rank(W) >= r+1``. A polynomial in ``U``
    (smooth, unlike the singular-value tail); gradient
    ``−(1/T) (S + Sᵀ) U_t`` with ``S = P adj(PᵀWP)ᵀ Pᵀ``.
    """
    T = pn.T
    target = sign * c ** (r + 1)

    def h(x, shape):
        return float(np.linalg.det(P.T @ _W(x.reshape(shape), pn) @ P)) - target

    def dh(x, shape):
        U = x.reshape(shape)
        S = P @ _adjugate(P.T @ _W(U, pn) @ P).T @ P.T
        return (-(1.0 / T) * np.einsum("ij,tjk->tik", S + S.T, U)).ravel()

    return h, dh


def _constrained(U0, pn, h, dh, *, mu=1e3, outer=6, max_nfev=60):
    """``min G`` subject to ``h(U) = 0`` by the method of multipliers (shifted penalty).

    Each outer step minimises ``G(U) + μ (h(U) + η)²`` by Levenberg–Marquardt on the stacked
    residuals ``[vec(C_t)/√T, √μ (h + η)]`` (warm-started), then shifts ``η ← η + h(U)``; at a
    fixed point ``h = 0`` and ``2μη`` is the Lagrange multiplier, so the constraint is met
    without an ill-conditioned ``μ → ∞``. Returns the final point, its ``G`` and ``|h|``
    (the constraint violation, reported, not hidden).
    """
    shape = U0.shape
    T = shape[0]
    x = U0.ravel()
    rmu = np.sqrt(mu)
    eta = 0.0
    for _ in range(outer):

        def fun(x, eta=eta):
            return np.append(_residual(x.reshape(shape), pn).ravel() / np.sqrt(T), rmu * (h(x, shape) + eta))

        def jac(x):
            return np.vstack([_jacobian(x.reshape(shape), T), rmu * dh(x, shape)[None]])

        x = levenberg_marquardt(fun, jac, x, max_iter=max_nfev)
        eta += h(x, shape)
    U = x.reshape(shape)
    return U, _G(U, pn), abs(h(x, shape))


def search_zero_loss(
    problem: Problem,
    *,
    starts: int = 8,
    distances=(0.5, 1.0, 2.0),
    adversarial_starts: int = 2,
    rank_search: bool = True,
    maxiter: int = 60,
    seed=0,
) -> ZeroLossSearch:
    """Collect zero-loss points: descent from random starts plus adversarial searches.

    Parameters
    ----------
    problem : Problem
    starts : int
        Random starts for descent (entries ``N(0, σ²)`` with σ the RMS entry of ``U*``).
    distances : sequence of float
        Targets ``c/s`` for the distance adversary (``min G`` s.t. ``‖A(U) − A*‖_F = c``).
    adversarial_starts : int
        Random starts per adversarial target.
    rank_search : bool
        Also run the rank adversary (``Σ_{i>2k} σ_i(A(U) − A*)² = c²``; skipped if ``d <= 2k``).
    maxiter : int
        Function evaluations per Levenberg–Marquardt stage of a constrained run.
    seed : None, int or Generator

    Returns
    -------
    ZeroLossSearch
    """
    starts = check_int("starts", starts, low=0)
    adversarial_starts = check_int("adversarial_starts", adversarial_starts, low=0)
    maxiter = check_int("maxiter", maxiter, low=1)
    distances = tuple(float(c) for c in distances)
    if any(not np.isfinite(c) or c <= 0 for c in distances):
        raise InvalidArgument(f"`distances` must be positive finite numbers; got distances={distances}.")
    rng = make_rng(seed)
    t0 = time.perf_counter()
    T, d, k = problem.U_star.shape
    s = float(np.mean(np.linalg.norm(problem.R_star, axis=(1, 2))))
    if s == 0.0:
        s = 1.0
    pn = _normalised(problem, s)
    sig = float(np.sqrt(np.mean(problem.U_star**2))) / np.sqrt(s) or 1.0
    tol = ZERO_LOSS_RTOL
    points, runs = [], []
    mincon: dict = {}

    def keep(U, origin, extra=None):
        G = _G(U, pn)
        run = {"origin": origin, "loss": G * s * s, "zero_loss": bool(G <= tol)}
        if extra:
            run.update(extra)
        runs.append(run)
        if G <= tol and np.all(np.isfinite(U)):
            Uo = U * np.sqrt(s)
            A = A_of_U(problem, Uo)
            loss = meta_loss(problem, A, Uo)
            if not loss <= tol * s * s:  # double-check in the original units
                run["zero_loss"] = False
                return
            points.append(ZeroLossPoint(A, Uo, loss, origin, float(np.linalg.norm(A - problem.A_star))))

    for _ in range(starts):
        keep(_polish(sig * rng.standard_normal((T, d, k)), pn), "descent")
    kinds = ["distance"] + (["rank"] if rank_search and d > 2 * k else [])
    for kind in kinds:
        for c in distances:
            name = f"{kind} c={c:g}"
            best = np.inf
            for _ in range(adversarial_starts):
                U0 = sig * rng.standard_normal((T, d, k))
                if kind == "distance":
                    h, dh = _distance_constraint(c, pn)
                    scale_h = c
                else:  # a random (2k+1)-dim test subspace; keep the start's sign of det
                    P = np.linalg.qr(rng.standard_normal((d, 2 * k + 1)))[0]
                    sign = 1.0 if np.linalg.det(P.T @ _W(U0, pn) @ P) >= 0 else -1.0
                    h, dh = _rank_constraint(c, pn, 2 * k, P, sign)
                    scale_h = c ** (2 * k + 1)
                U, G, viol = _constrained(U0, pn, h, dh, max_nfev=maxiter)
                # Met only if the forced quantity stands well above the rounding noise of W
                # (which a large U inflates): ‖W‖ for the distance, σ_{2k+1}(W) for the rank.
                noise = 64 * d * 2.2e-16 * max(1.0, float(np.max(np.linalg.norm(gram(U), 2, axis=(1, 2)))))
                Wf = _W(U, pn)
                forced = float(np.linalg.norm(Wf)) if kind == "distance" else \
                    float(np.linalg.svd(Wf, compute_uv=False)[2 * k])
                met = viol <= 1e-3 * scale_h and forced >= 1e3 * noise
                if met:
                    best = min(best, G)
                keep(_polish(U, pn), name, {"constrained_loss": G * s * s, "constraint_met": bool(met)})
            mincon[name] = best * s * s if np.isfinite(best) else None
    return ZeroLossSearch(tuple(points), tuple(runs), s, mincon, time.perf_counter() - t0)


def given_points(problem: Problem, points) -> tuple:
    """Validate user points ``[(A, U), ...]`` claimed to be zero-loss; loss is *not* assumed."""
    out = []
    for i, pt in enumerate(points):
        try:
            A, U = pt
        except (TypeError, ValueError):
            raise InvalidArgument(f"`points[{i}]` must be a pair (A, U); got {type(pt).__name__}.") from None
        A, U = check_A(problem, A), check_U(problem, U)
        out.append(ZeroLossPoint(A, U, meta_loss(problem, A, U), f"given #{i}",
                                 float(np.linalg.norm(A - problem.A_star))))
    return tuple(out)


def point_scale(problem: Problem, A, U, A_star) -> float:
    """Largest operand norm entering ``Â − A*`` and ``M*_{T+1} − Â`` (for the noise floor)."""
    G = np.einsum("tik,tjk->tij", U, U)
    return float(max(
        np.linalg.norm(A, 2), np.linalg.norm(A_star, 2), np.linalg.norm(problem.M_test, 2),
        np.max(np.linalg.norm(problem.R_star, 2, axis=(1, 2))), np.max(np.linalg.norm(G, 2, axis=(1, 2))),
    ))


def task_residual_norm(problem: Problem, A, U) -> float:
    """``min_t ‖E_t‖_F`` with ``E_t = Â + Û_tÛ_tᵀ − M*_t``: by Weyl and Eckart–Young it bounds
    ``σ_{2k+1}(Â − A*)`` and ``ℓ_{3k}(Â)^{1/2}`` at a point of small non-zero loss.
    """
    E = A[None] + np.einsum("tik,tjk->tij", U, U) - problem.M_star
    return float(np.min(np.linalg.norm(E, axis=(1, 2))))
