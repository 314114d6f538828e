"""Cor. 1 (v1; Cor. 1 in v2): the SR base is not low-rank adaptable.

Statement
---------
If the ``(T+1)k`` columns of ``[U*_1 … U*_T U*_{T+1}]`` are independent, then
``ℓ_r(A_SR) = Σ_{i>r} σ_i(Δ)²`` with ``Δ = R*_{T+1} − (1/T) Σ_t R*_t`` of rank ``(T+1)k``,
so ``ℓ_r(A_SR) > 0`` for every ``r < (T+1)k``. More retraining tasks make it worse: with
the first ``T'`` tasks the smallest rank that adapts exactly is ``(T'+1)k``, growing in ``T'``.

What is measured
----------------
- ``ℓ_r(A_SR)`` by :func:`landscape.adaptability` (SVD of ``M*_{T+1} − A_SR``) for every
  ``r = 0..d`` against the formula from the singular values of ``Δ`` built from the ``R*_t``;
- ``rank_τ(Δ)`` under the gap rule of :mod:`theorems._linalg`;
- positivity: ``σ_{(T+1)k}(M*_{T+1} − A_SR) > τ`` (so every ``ℓ_r``, ``r < (T+1)k``, exceeds
  ``τ²``) and ``ℓ_{(T+1)k}(A_SR) <= d τ²``;
- for ``T' = 1..T``: the exact-adaptation rank ``rank_τ(R*_{T+1} − mean_{t<=T'} R*_t)``;
- for contrast, Meta-LoRA's base: ``ℓ_k(A*) = 0``.

Tolerance
---------
Both sides of the formula are sums of squared singular values of two matrices that agree
up to rounding, so they agree to ``~1e-15`` relative; we allow ``1e-9·‖Δ‖_F² + d τ²``. An
error ``E`` in ``A_SR`` shifts ``ℓ_r`` by about ``2‖Δ‖‖E‖``, detectable down to
``‖E‖ ~ 1e-9‖Δ‖``.
"""

from __future__ import annotations

import numpy as np

from landscape.validation import as_float64
from landscape.objectives import adaptability, sr_solution
from landscape.problem import Problem

from ._claim import Claim, Timer, conclude, worst_of
from ._linalg import column_independence, noise_floor, numerical_rank
from .result import ClaimResult, Status

__all__ = ["check_sr_not_adaptable", "CLAIM"]

FORMULA_RTOL = 1e-9


def all_columns(problem: Problem) -> np.ndarray:
    """``[U*_1 … U*_T U*_{T+1}]`` as a d×(T+1)k matrix."""
    T, d, k = problem.U_star.shape
    return np.concatenate([problem.U_star.transpose(1, 0, 2).reshape(d, T * k), problem.U_test], axis=1)


def check_sr_not_adaptable(problem: Problem, *, A_sr=None, label: dict | None = None) -> ClaimResult:
    """Check Cor. 1 on ``problem``: ``ℓ_r(A_SR) = Σ_{i>r} σ_i(Δ)² > 0`` for ``r < (T+1)k``.

    Parameters
    ----------
    problem : Problem
    A_sr : (d, d) array, optional
        The SR base to test (default: the exact :func:`landscape.sr_solution`). Passing
        ``problem.A_star`` (Meta-LoRA's answer) makes the check fail.
    label : dict, optional
        Extra fields for the instance record.

    Examples
    --------
    >>> from landscape import Problem
    >>> check_sr_not_adaptable(Problem.random(6, 1, 3, seed=0)).holds
    True
    """
    d, k, T = problem.d, problem.k, problem.T
    A_sr = sr_solution(problem) if A_sr is None else as_float64("A_sr", A_sr, (d, d))
    with Timer() as timer:
        indep = column_independence(all_columns(problem))
        Delta = problem.R_test - problem.R_star.mean(axis=0)
        scale = max(
            np.linalg.norm(problem.M_test, 2),
            np.linalg.norm(A_sr, 2),
            float(np.max(np.linalg.norm(problem.R_star, 2, axis=(1, 2)))),
            np.linalg.norm(problem.R_test, 2),
        )
        tau = noise_floor((d, d), scale)
        dinfo = numerical_rank(Delta, scale=scale)
        sd = dinfo.singular_values
        formula = np.array([np.sum(sd[r:] ** 2) for r in range(d + 1)])
        ell = np.array([adaptability(problem, A_sr, r).loss for r in range(d + 1)])
        sA = adaptability(problem, A_sr, 0).singular_values
        ftol = FORMULA_RTOL * float(np.sum(sd**2)) + d * tau**2
        ferr = np.abs(ell - formula)
        need = (T + 1) * k
        # tasks: exact-adaptation rank with the first T' tasks
        ranks_by_T = [
            numerical_rank(problem.R_test - problem.R_star[:t].mean(axis=0), scale=scale).rank
            for t in range(1, T + 1)
        ]
        ell_k_by_T = [
            float(np.sum(np.linalg.svd(problem.R_test - problem.R_star[:t].mean(axis=0), compute_uv=False)[k:] ** 2))
            for t in range(1, T + 1)
        ]
        m = {
            "needed_rank": need,
            "rank_Delta": dinfo.rank,
            "gap": dinfo.gap,
            "noise_floor": tau,
            "ell": [float(x) for x in ell],
            "formula": [float(x) for x in formula],
            "max_formula_error": float(ferr.max()),
            "formula_tolerance": ftol,
            "min_ell_below_needed": float(ell[:need].min()) if need <= d else float(ell.min()),
            "ell_at_needed": float(ell[need]) if need <= d else None,
            "exact_rank_by_T": ranks_by_T,
            "ell_k_by_T": ell_k_by_T,
            "ell_k_meta_lora": float(adaptability(problem, problem.A_star, k).loss),
            "independence": indep,
        }
        if not indep["independent"]:
            status = Status.ASSUMPTION_NOT_MET
            note = (
                f"(T+1)k columns not independent ({indep['reason']}); rank(Δ) = {dinfo.rank}, "
                f"ℓ_k(A_SR) = {ell[k]:.3g}"
            )
        else:
            problems = []
            if ferr.max() > ftol:
                r = int(np.argmax(ferr))
                problems.append(f"ℓ_{r}(A_SR) = {ell[r]:.6g} ≠ formula {formula[r]:.6g}")
            if dinfo.rank != need:
                problems.append(f"rank(Δ) = {dinfo.rank} ≠ (T+1)k = {need}")
            if not sA[need - 1] > tau:
                problems.append(f"ℓ_{need - 1}(A_SR) = {ell[need - 1]:.3g} is not > 0")
            if ell[need] > d * tau**2:
                problems.append(f"ℓ_{need}(A_SR) = {ell[need]:.3g} is not 0")
            if ranks_by_T != [(t + 1) * k for t in range(1, T + 1)]:
                problems.append(f"exact-adaptation rank by T' = {ranks_by_T}, expected (T'+1)k")
            if problems:
                status, note = Status.FAILS, "; ".join(problems)
            else:
                status = Status.HOLDS
                note = (
                    f"ℓ_r(A_SR) matches Σσ_i(Δ)² (max err {ferr.max():.1e}); smallest ℓ_r for "
                    f"r < {need}: {ell[need - 1]:.3g}; ℓ_k(A*) = {m['ell_k_meta_lora']:.1e}"
                )
        return conclude(CLAIM, problem, status, note, m, label=label, timer=timer)


def summarize(records):
    lo = worst_of(records, "min_ell_below_needed", fn=min)
    err = worst_of(records, "max_formula_error")
    measured = {"min_ell_below_needed_rank": lo, "max_formula_error": err}
    worst = "n/a" if lo is None else f"smallest ℓ_r(A_SR), r<(T+1)k: {lo:.3g}; formula err ≤ {err:.1e}"
    return measured, worst


CLAIM = Claim(
    id="cor1",
    title="SR is not low-rank adaptable",
    statement="If the (T+1)k columns are independent, ℓ_r(A_SR) = Σ_{i>r} σ_i(Δ)² with rank(Δ) = (T+1)k, "
    "so ℓ_r(A_SR) > 0 for every r < (T+1)k; the needed rank grows with T.",
    labels="v1 Cor. 1 / v2 Cor. 1",
    check=check_sr_not_adaptable,
    summarize=summarize,
    tolerance={"formula_rtol": FORMULA_RTOL, "rank_rule": "sigma_i > 64*d*eps*scale"},
    tolerance_reason="both sides are squared singular values of matrices equal up to rounding (~1e-15 "
    "relative); 1e-9 relative still detects an error of 1e-9‖Δ‖ in A_SR",
    hypothesis="(T+1)k <= d and [U*_1..U*_{T+1}] of full column rank",
)
