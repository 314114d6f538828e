"""Thm 3.1 (v1; Thm 1 in v2): standard retraining leaves a rank-``Tk`` error.

Statement
---------
If the ``Tk`` columns of ``[U*_1 … U*_T]`` are linearly independent, the SR minimiser
``A_SR = A* + (1/T) Σ_t R*_t`` satisfies ``rank(A_SR − A*) = Tk``.

What is measured
----------------
- the singular values of ``A_SR − A*`` and its numerical rank under the gap rule of
  :mod:`theorems._linalg` (``σ_i > τ = 64·d·ε·scale``, ``scale`` = the largest operand norm),
  with the gap ``σ_Tk / max(σ_{Tk+1}, τ)``;
- finite-sample SR: pooled least squares ``Â_N`` on drawn data (``N`` samples per task,
  noise std ``noise``) for growing ``N``; the error ``‖Â_N − A_SR‖_F`` (mean over
  ``repeats`` draws) must fall, with log-log slope at most ``MAX_SLOPE`` (theory: −1/2).

Tolerance
---------
``τ`` bounds the rounding error of forming ``A_SR − A*`` (Weyl), so singular values above
it are genuine; a slope threshold of −0.3 (not −0.5) absorbs sampling noise of ``repeats``
draws while any fixed offset between ``Â_N``'s limit and the claimed ``A_SR`` flattens
the slope towards 0.

When ``Tk > d`` or the columns are (numerically) dependent the status is
``assumption-not-met`` and the rank found is reported (it is then ``< Tk``).
"""

from __future__ import annotations

import numpy as np

from landscape.validation import as_float64, as_rng, check_float, check_int
from landscape.errors import InvalidArgument
from landscape.objectives import sr_solution
from landscape.problem import Problem

from ._claim import Claim, Timer, conclude, worst_of
from ._linalg import column_independence, numerical_rank
from landscape.sampling import pooled_least_squares
from .result import ClaimResult, Status

__all__ = ["check_sr_rank_gap", "CLAIM"]

#: Finite-sample SR must converge at least this fast (log-log slope of the error in N).
MAX_SLOPE = -0.3
DEFAULT_SAMPLE_SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)


def retraining_columns(problem: Problem) -> np.ndarray:
    """``[U*_1 … U*_T]`` as a d×Tk matrix."""
    T, d, k = problem.U_star.shape
    return problem.U_star.transpose(1, 0, 2).reshape(d, T * k)


def _finite_sample(problem, A_sr, sample_sizes, repeats, noise, rng):
    errs = []
    for N in sample_sizes:
        e = [np.linalg.norm(pooled_least_squares(problem.M_star, N, noise, rng) - A_sr) for _ in range(repeats)]
        errs.append(float(np.mean(e)))
    x, y = np.log(np.asarray(sample_sizes, float)), np.log(np.maximum(errs, 1e-300))
    slope = float(np.polyfit(x, y, 1)[0])
    ok = slope <= MAX_SLOPE and errs[-1] < errs[0]
    return {"sample_sizes": list(sample_sizes), "errors": errs, "slope": slope, "converges": bool(ok)}


def check_sr_rank_gap(
    problem: Problem,
    *,
    A_sr=None,
    finite_sample: bool = True,
    sample_sizes=DEFAULT_SAMPLE_SIZES,
    repeats: int = 5,
    noise: float = 0.1,
    seed=0,
    label: dict | None = None,
) -> ClaimResult:
    """Check Thm 3.1 on ``problem``: ``rank(A_SR − A*) = Tk``; finite-sample SR → ``A_SR``.

    Parameters
    ----------
    problem : Problem
    A_sr : (d, d) array, optional
        The SR solution to check (default: the exact :func:`landscape.sr_solution`). Pass a
        wrong one to see the check fail.
    finite_sample : bool
        Also check that pooled least squares on drawn data converges to ``A_sr``.
    sample_sizes : sequence of int
        Samples per task, increasing, each ``>= d`` (default 1e2 … 1e6; second moments are
        drawn exactly, so large ``N`` costs nothing extra).
    repeats : int
        Draws per sample size (errors are averaged).
    noise : float
        Noise standard deviation σ.
    seed : None, int or Generator
    label : dict, optional
        Extra fields for the instance record (``verify`` passes the problem's seed and role).

    Returns
    -------
    ClaimResult
        ``measured`` holds the singular values of ``A_SR − A*``, the rank and the gap, and
        the finite-sample errors with their log-log slope.

    Examples
    --------
    >>> from landscape import Problem
    >>> check_sr_rank_gap(Problem.random(6, 1, 3, seed=0), finite_sample=False).holds
    True
    """
    d, k, T = problem.d, problem.k, problem.T
    A_sr = sr_solution(problem) if A_sr is None else as_float64("A_sr", A_sr, (d, d))
    repeats = check_int("repeats", repeats, low=1)
    noise = check_float("noise", noise, low=0.0)
    sizes = tuple(check_int("sample_sizes", n, low=d) for n in sample_sizes)
    if finite_sample and (len(sizes) < 2 or any(b <= a for a, b in zip(sizes, sizes[1:]))):
        raise InvalidArgument(
            f"`sample_sizes` must be at least two increasing integers >= d={d}; got sample_sizes={sizes}."
        )
    rng = as_rng(seed)
    with Timer() as timer:
        indep = column_independence(retraining_columns(problem))
        scale = max(
            np.linalg.norm(problem.A_star, 2),
            np.linalg.norm(A_sr, 2),
            float(np.max(np.linalg.norm(problem.R_star, 2, axis=(1, 2)))),
        )
        info = numerical_rank(A_sr - problem.A_star, scale=scale)
        s = info.singular_values
        m = {
            "Tk": T * k,
            "rank": info.rank,
            "singular_values": [float(x) for x in s],
            "noise_floor": info.threshold,
            "sigma_Tk": float(s[T * k - 1]) if T * k <= d else None,
            "sigma_Tk_plus_1": float(s[T * k]) if T * k < d else 0.0,
            "gap": info.gap,
            "independence": indep,
        }
        if finite_sample:
            m["finite_sample"] = _finite_sample(problem, A_sr, sizes, repeats, noise, rng)
        fs_ok = m["finite_sample"]["converges"] if finite_sample else True
        if not indep["independent"]:
            status = Status.ASSUMPTION_NOT_MET
            note = (
                f"columns of [U*_1..U*_T] not independent ({indep['reason']}); "
                f"rank(A_SR − A*) = {info.rank} (Tk = {T * k})"
            )
        elif info.rank != T * k:
            status = Status.FAILS
            note = f"rank(A_SR − A*) = {info.rank} ≠ Tk = {T * k} (σ = {s[:T * k + 1]})"
        elif not fs_ok:
            fs = m["finite_sample"]
            status = Status.FAILS
            note = (
                f"finite-sample SR does not converge to A_SR: errors {fs['errors']} "
                f"(slope {fs['slope']:.3f} > {MAX_SLOPE})"
            )
        else:
            status = Status.HOLDS
            note = f"rank(A_SR − A*) = Tk = {T * k}, gap {info.gap:.2e}"
            if finite_sample:
                note += f"; finite-sample slope {m['finite_sample']['slope']:.3f}"
        return conclude(CLAIM, problem, status, note, m, label=label, timer=timer)


def summarize(records):
    gap = worst_of(records, "gap", fn=min)
    slopes = [r["measured"]["finite_sample"]["slope"] for r in records
              if "finite_sample" in r["measured"] and r["problem"].get("role", "claim") == "claim"
              and r["status"] != "assumption-not-met"]
    measured = {"min_gap": gap, "max_finite_sample_slope": max(slopes) if slopes else None}
    parts = []
    if gap is not None:
        parts.append(f"min gap σ_Tk/σ_Tk+1 = {gap:.2e}")
    if slopes:
        parts.append(f"slowest SR convergence slope {max(slopes):.2f} (theory −0.5)")
    return measured, "; ".join(parts) or "n/a"


CLAIM = Claim(
    id="thm3.1",
    title="SR rank gap",
    statement="If the Tk columns of [U*_1..U*_T] are independent, rank(A_SR − A*) = Tk "
    "(and finite-sample SR converges to A_SR).",
    labels="v1 Thm 3.1 / v2 Thm 1",
    check=check_sr_rank_gap,
    summarize=summarize,
    tolerance={"rank_rule": "sigma_i > 64*d*eps*scale", "max_slope": MAX_SLOPE},
    tolerance_reason="64·d·ε·scale bounds the rounding error of A_SR − A* (Weyl); a slope ≤ −0.3 "
    "separates O(N^-1/2) convergence from a plateau at a wrong limit despite sampling noise",
    hypothesis="Tk <= d and [U*_1..U*_T] of full column rank",
)
