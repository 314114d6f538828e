"""``T = 2`` non-uniqueness of the global minimum (v1 App. D.1): an ``O(k, k)`` family.

Statement
---------
For ``T = 2`` with ``V* = [U*_1 U*_2]`` of full column rank ``2k``, every
``[U_1 U_2] = V* G`` with ``G J Gᵀ = J``, ``J = diag(I_k, −I_k)`` (the indefinite orthogonal
group ``O(k, k)``, dimension ``k(2k−1)``) is a global minimum: ``L(A(U), U) = 0``. In general
``Â = A(U) ≠ A*`` with ``rank(Â − A*) = 2k``, and the zero-loss set is a manifold whose
tangent space — the null space of ``∇²G`` there — has dimension exactly ``k(2k−1)``.

Smallest example (exact, sympy): ``d = 2, k = 1``, ``u*_1 = e_1``, ``u*_2 = e_2``,
``u_1 = (cosh θ, sinh θ)``, ``u_2 = (sinh θ, cosh θ)``: every task residual ``E_t(θ)`` is
identically zero, ``Â(θ) − A* = −[[s², cs], [cs, s²]]`` (``s = sinh θ``, ``c = cosh θ``) and
``det(Â(θ) − A*) = −sinh²θ ≠ 0`` for ``θ ≠ 0``: a hyperbola of global minima, of rank 2.

What is measured (numerically, on the given problem)
-----------------------------------------------------
For random ``G = expm(X)``, ``X = [[P, Q], [Qᵀ, S]]`` (``P, S`` skew; the Lie algebra of
``O(k, k)``) or user ``transforms``: ``G(U)``, ``rank_τ(Â − A*)``, ``ℓ_{3k}(Â)`` and
``nullity(∇²G(U)) = Tdk − rank_τ(∇²G(U))``.

Tolerance
---------
Zero loss: ``‖C(U)‖ = √(T·G(U)) <= 64·d·2k·ε·‖V*‖₂²·max(1, ‖G‖₂²)`` — the rounding error of
forming ``U_tU_tᵀ`` from ``V* G`` (``‖GJGᵀ − J‖`` of our own ``expm`` is of that order too). A
transform outside ``O(k, k)`` leaves ``‖C‖`` of order ``‖V*‖²·‖GJGᵀ − J‖``, far above it.
Ranks use the gap rule of :mod:`theorems._linalg`.

Applies to ``T = 2`` only: other ``T`` give ``assumption-not-met`` (with, as contrast, the
Hessian nullity at the true minimum, which is then only the ``T·k(k−1)/2`` of the O(k)
symmetry).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg

from landscape.validation import as_float64, as_rng, check_float, check_int
from landscape.derivatives import reduced_hessian
from landscape.errors import InvalidArgument
from landscape.objectives import A_of_U, adaptability, reduced_loss
from landscape.problem import Problem
from landscape.symmetry import orbit_dimension

from ._claim import Claim, Timer, assemble, conclude, record, worst_of
from ._linalg import EPS, RANK_FACTOR, column_independence, numerical_rank
from .result import ClaimResult, Status, problem_record

__all__ = ["check_two_task_nonunique", "symbolic_hyperbola", "okk_element", "CLAIM"]


@functools.lru_cache(maxsize=1)
def symbolic_hyperbola() -> dict:
    """The ``d = 2, k = 1`` hyperbola of global minima, proved with sympy (exact).

    Returns a dict of booleans and printed expressions: ``residuals_vanish`` (both task
    residuals ``E_t(θ)`` simplify to 0 for symbolic ``A*`` and ``θ``), ``closed_form`` (``Â(θ)
    − A* = −[[s², cs], [cs, s²]]``), ``determinant`` (the simplified ``det(Â(θ) − A*)``,
    ``−sinh(θ)²``) and ``rank_two_for_nonzero_theta``.
    """
    import sympy as sp

    th = sp.symbols("theta", real=True)
    A = sp.Matrix(2, 2, sp.symbols("a11 a12 a21 a22", real=True))
    e1, e2 = sp.Matrix([1, 0]), sp.Matrix([0, 1])
    R = [e1 * e1.T, e2 * e2.T]
    c, s = sp.cosh(th), sp.sinh(th)
    u = [sp.Matrix([c, s]), sp.Matrix([s, c])]
    M = [A + r for r in R]
    A_hat = ((M[0] - u[0] * u[0].T) + (M[1] - u[1] * u[1].T)) / 2

    def zero(expr) -> bool:
        return sp.simplify(sp.expand(expr.rewrite(sp.exp))) == 0

    E = [A_hat + u[t] * u[t].T - M[t] for t in range(2)]
    residuals_vanish = all(zero(x) for Et in E for x in Et)
    D = A_hat - A
    closed = all(zero(x) for x in D + sp.Matrix([[s**2, c * s], [c * s, s**2]]))
    det = sp.simplify(D.det())
    det_is_minus_sinh2 = zero(det + s**2)
    # sinh is injective on the reals, so −sinh²θ = 0 iff θ = 0.
    nonzero = sp.solveset(sp.Eq(det, 0), th, domain=sp.S.Reals) == sp.FiniteSet(0)
    loss = sp.simplify(sum(sum(x**2 for x in Et) for Et in E) / 2)
    return {
        "residuals_vanish": bool(residuals_vanish),
        "loss": str(loss),
        "closed_form": bool(closed),
        "determinant": str(det),
        "determinant_is_minus_sinh_squared": bool(det_is_minus_sinh2),
        "rank_two_for_nonzero_theta": bool(nonzero),
    }


def okk_element(k: int, *, scale: float = 0.5, seed=None) -> np.ndarray:
    """A random element ``G = expm(X)`` of ``O(k, k)``: ``X = [[P, Q], [Qᵀ, S]]``, P, S skew.

    ``X J + J Xᵀ = 0`` for ``J = diag(I_k, −I_k)``, so ``G J Gᵀ = J``. Entries of ``P, Q, S``
    are ``N(0, scale²)``.
    """
    k = check_int("k", k, low=1)
    scale = check_float("scale", scale, low=0.0)
    rng = as_rng(seed)
    P, Q, S = (scale * rng.standard_normal((k, k)) for _ in range(3))
    X = np.block([[P - P.T, Q], [Q.T, S - S.T]])
    return scipy.linalg.expm(X)


def _hessian_nullity(problem, U):
    H = reduced_hessian(problem, U)
    H = (H + H.T) / 2
    w = np.linalg.eigvalsh(H)
    top = float(np.max(np.abs(w)))
    tau = RANK_FACTOR * H.shape[0] * EPS * top
    nullity = int(np.count_nonzero(np.abs(w) <= tau))
    pos = np.abs(w[np.abs(w) > tau])
    gap = float(pos.min() / tau) if pos.size else float("inf")
    return nullity, gap


def check_two_task_nonunique(
    problem: Problem,
    *,
    transforms=None,
    samples: int = 4,
    scale: float = 0.5,
    symbolic: bool = True,
    seed=0,
    label: dict | None = None,
) -> ClaimResult:
    """Check the ``T = 2`` non-uniqueness on ``problem`` (and the exact ``d = 2`` hyperbola).

    Parameters
    ----------
    problem : Problem
        Must have ``T = 2`` (otherwise ``assumption-not-met``).
    transforms : sequence of (2k, 2k) arrays, optional
        Matrices claimed to lie in ``O(k, k)`` (default: ``samples`` random ones from
        :func:`okk_element`). A matrix outside the group makes the check fail.
    samples : int
        Number of random group elements when ``transforms`` is None.
    scale : float
        Size of the Lie-algebra draws (larger: points farther along the family).
    symbolic : bool
        Also run the exact sympy proof for the ``d = 2, k = 1`` example (~1 s, cached).
    seed : None, int or Generator
    label : dict, optional
        Extra fields for the instance record.

    Examples
    --------
    >>> from landscape import Problem
    >>> check_two_task_nonunique(Problem.random(4, 1, 2, seed=0), symbolic=False).holds
    True
    """
    d, k, T = problem.d, problem.k, problem.T
    rng = as_rng(seed)
    samples = check_int("samples", samples, low=1)
    if transforms is not None:
        transforms = [as_float64(f"transforms[{i}]", G, (2 * k, 2 * k)) for i, G in enumerate(transforms)]
        if not transforms:
            raise InvalidArgument("`transforms` must contain at least one (2k, 2k) matrix; got an empty sequence.")
    with Timer() as timer:
        m: dict = {"expected_nullity": k * (2 * k - 1), "group_dimension": k * (2 * k - 1)}
        if symbolic:
            m["symbolic"] = symbolic_hyperbola()
        sym_ok = (not symbolic) or all(
            m["symbolic"][key] for key in ("residuals_vanish", "closed_form", "determinant_is_minus_sinh_squared",
                                           "rank_two_for_nonzero_theta")
        )
        if T != 2:
            nul, gap = _hessian_nullity(problem, problem.U_star)
            m["contrast_nullity_at_truth"] = nul
            m["symmetry_dimension"] = orbit_dimension(T, k)
            rec = record(
                {**problem_record(problem), **(label or {})},
                Status.ASSUMPTION_NOT_MET,
                f"T = {T} ≠ 2; contrast: Hessian nullity at the true minimum = {nul} "
                f"(= T·k(k−1)/2 = {orbit_dimension(T, k)}: only the O(k) symmetry)",
                m,
            )
            return assemble(CLAIM, [rec], seconds=timer.seconds)
        V = np.concatenate([problem.U_star[0], problem.U_star[1]], axis=1)
        indep = column_independence(V)
        m["independence"] = indep
        J = np.diag(np.r_[np.ones(k), -np.ones(k)])
        user = transforms is not None
        Gs = transforms if user else [okk_element(k, scale=scale, seed=rng) for _ in range(samples)]
        nV = float(np.linalg.norm(V, 2)) ** 2
        rows = []
        for i, G in enumerate(Gs):
            W = V @ G
            U = np.stack([W[:, :k], W[:, k:]])
            A = A_of_U(problem, U)
            resid = float(np.sqrt(T * reduced_loss(problem, U)))
            tol = RANK_FACTOR * d * 2 * k * EPS * nV * max(1.0, float(np.linalg.norm(G, 2)) ** 2)
            sc = max(float(np.linalg.norm(A, 2)), float(np.linalg.norm(problem.A_star, 2)), nV * float(np.linalg.norm(G, 2)) ** 2)
            info = numerical_rank(A - problem.A_star, scale=sc, extra=resid)
            nul, gap = _hessian_nullity(problem, U)
            rows.append({
                "group_defect": float(np.linalg.norm(G @ J @ G.T - J)),
                "residual": resid,
                "residual_tolerance": tol,
                "zero_loss": bool(resid <= tol),
                "rank": info.rank,
                "distance": float(np.linalg.norm(A - problem.A_star)),
                "ell_3k": adaptability(problem, A, min(3 * k, d)).loss,
                "hessian_nullity": nul,
                "nullity_gap": gap,
            })
        m["family"] = rows
        m["max_residual_over_tolerance"] = max(r["residual"] / r["residual_tolerance"] for r in rows)
        m["min_distance"] = min(r["distance"] for r in rows)
        problems = []
        if not sym_ok:
            problems.append(f"sympy proof failed: {m['symbolic']}")
        bad = [i for i, r in enumerate(rows) if not r["zero_loss"]]
        if bad:
            r = rows[bad[0]]
            problems.append(f"transform #{bad[0]} does not give zero loss: ‖C‖ = {r['residual']:.3g} > "
                            f"{r['residual_tolerance']:.1e} (‖GJGᵀ − J‖ = {r['group_defect']:.2g})")
        if indep["independent"] and not user:
            if any(r["rank"] != 2 * k for r in rows):
                problems.append(f"rank(Â − A*) = {[r['rank'] for r in rows]}, expected 2k = {2 * k}")
            if any(r["hessian_nullity"] != k * (2 * k - 1) for r in rows):
                problems.append(f"Hessian nullity {[r['hessian_nullity'] for r in rows]}, expected k(2k−1) = {k * (2 * k - 1)}")
        if not indep["independent"]:
            status = Status.ASSUMPTION_NOT_MET
            note = f"[U*_1 U*_2] not of full column rank ({indep['reason']}); family residuals ≤ " \
                   f"{max(r['residual'] for r in rows):.1e}"
        elif problems:
            status, note = Status.FAILS, "; ".join(problems)
        else:
            status = Status.HOLDS
            ranks = sorted({r["rank"] for r in rows})
            nulls = sorted({r["hessian_nullity"] for r in rows})
            note = (f"{len(rows)} O(k,k) points: zero loss (‖C‖ ≤ {m['max_residual_over_tolerance']:.2g}×tol), "
                    f"rank(Â − A*) ∈ {ranks} (2k = {2 * k}), distances ≥ {m['min_distance']:.3g}, Hessian nullity "
                    f"∈ {nulls} (k(2k−1) = {k * (2 * k - 1)})")
            if symbolic:
                note += "; sympy: hyperbola exact, det = −sinh²θ"
        return conclude(CLAIM, problem, status, note, m, label=label, timer=timer)


def summarize(records):
    r = worst_of(records, "max_residual_over_tolerance")
    dmin = worst_of(records, "min_distance", fn=min)
    measured = {"max_residual_over_tolerance": r, "min_distance": dmin}
    worst = "n/a" if r is None else f"max ‖C‖/tol = {r:.2g} on the O(k,k) family; min ‖Â−A*‖ = {dmin:.3g}"
    return measured, worst


CLAIM = Claim(
    id="t2-nonunique",
    title="T = 2 global minima are not unique",
    statement="For T = 2, [U_1 U_2] = [U*_1 U*_2]G with G ∈ O(k,k) are all global minima, with "
    "rank(Â − A*) = 2k in general and a k(2k−1)-dimensional Hessian null space; for d = 2, k = 1 "
    "a hyperbola (exact).",
    labels="v1 App. D.1 / v2 App.",
    check=check_two_task_nonunique,
    summarize=summarize,
    tolerance={"residual_rule": "||C|| <= 64*d*2k*eps*||V*||^2*max(1,||G||^2)",
               "rank_rule": "sigma_i > 64*n*eps*scale"},
    tolerance_reason="the rounding error of forming U_tU_tᵀ from V*G; a transform outside O(k,k) leaves "
    "a residual ~‖V*‖²‖GJGᵀ − J‖, orders above",
    hypothesis="T = 2 and [U*_1 U*_2] of full column rank 2k",
)
