"""Spurious local minima for ``T >= 3`` (v1 App. D.2): they exist, rigorously.

Statement
---------
For some instances with ``T >= 3`` the reduced loss ``G`` has points with ``∇G = 0``,
``∇²G`` positive definite modulo the O(k) symmetry and ``G > 0``: spurious local minima of
``G`` and hence (Schur complement, docs/math.md §4) of ``L``. They are rare from random starts
and easiest to find when ``Tk = d`` (e.g. ``d = 3, k = 1, T = 3``).

How it is checked
-----------------
``landscape.search.search`` (by default the root solver on ``∇G`` from many starts;
``method="sosp"`` lands in minima only and reaches spurious ones far more often at larger
``n = Tdk``, e.g. ``Problem.random(6, 2, 3, seed=13)``) proposes critical points; each is
re-measured (:mod:`theorems._critical`): critical, ``G > 1e-12·ρ²`` and
``λ_min(∇²G) > 1e-8·ρ`` modulo symmetry make a *numerical* spurious minimum. With
``certify=True`` each (up to ``max_certify``) is passed to ``landscape.certificates.certify``
(interval arithmetic, python-flint): a certificate of kind ``spurious-min`` proves a strict
local minimum with positive loss inside a ball around the float point — the paper's
"barring numerical error" removed. On one instance the check holds iff at least one
spurious minimum is confirmed (certified, when certificates are available), and every
point the user passes as a spurious minimum is one. When numerical spurious minima exist but
none could be certified, the verdict is **undecided** with the refusal's reason (e.g.
"certificate refused at precision P bits"): not being able to prove is never "fails". An
instance on which the search finds no spurious minimum is likewise *undecided* (an
existence claim is not refuted by a failed search).

``T < 3`` gives ``assumption-not-met`` (Thm 3.4: none exist for ``T = 2``); what the search
found there is still reported.
"""

from __future__ import annotations

from landscape.validation import check_int
from landscape.problem import Problem

from . import _critical as C
from ._claim import Claim, Timer, conclude, worst_of
from .result import ClaimResult, Status
from .two_task_landscape import Unavailable, certify_fn, certify_one

__all__ = ["check_spurious_minima", "CLAIM"]


def check_spurious_minima(
    problem: Problem,
    *,
    points=None,
    starts: int = 256,
    method: str = "roots",
    min_eig=None,
    certify: bool = True,
    max_certify: int = 3,
    search_result=None,
    census: bool = False,
    seed=0,
    label: dict | None = None,
) -> ClaimResult:
    """Find (and certify) spurious local minima of ``problem`` (``T >= 3``).

    With ``census=True`` every critical point is also enumerated by homotopy continuation
    (:func:`landscape.census`); when that census is complete and every real minimum in it is
    certified, the result reports the **exact** number of spurious minima
    (``measured["census"]["spurious"]``), not just how many the search found.

    Parameters
    ----------
    problem : Problem
    points : sequence of (T, d, k) arrays, optional
        Points claimed to be spurious minima; one that is not (zero loss, a saddle, not
        critical) fails the check.
    starts : int
        Starts for ``landscape.search.search`` (0: only ``points``).
    method : str
        Search method of ``landscape.search.search`` (default ``"roots"``; ``"sosp"`` finds
        spurious minima more often when ``n = Tdk`` is larger).
    min_eig : callable ``(problem, U) -> float``, optional
        Smallest Hessian eigenvalue modulo symmetry (default :func:`landscape.min_eigenvalue`).
    certify : bool
        Certify each numerical spurious minimum (up to ``max_certify``) with interval
        arithmetic; when certificates are unavailable the result says so and rests on
        the numerical evidence.
    max_certify : int
    search_result : SearchResult, optional
        A precomputed search to reuse.
    census : bool
        Also run the homotopy census (small instances only: minutes at 9 unknowns).
    seed : None, int or Generator
    label : dict, optional
        Extra fields for the instance record.
    """
    min_eig = C.default_min_eig if min_eig is None else min_eig
    max_certify = check_int("max_certify", max_certify, low=0)
    T = problem.T
    with Timer() as timer:
        cands, info = C.gather(problem, points=points, starts=starts, method=method, seed=seed,
                               search_result=search_result)
        rho = C.scale(problem)
        spurious, bad_given, n_crit = [], [], 0
        for U, origin in cands:
            r = C.measure(problem, U, min_eig)
            r["origin"] = origin
            n_crit += r["critical"]
            is_spur = r["critical"] and not r["zero_loss"] and r["min_eig"] > C.EIG_RTOL * rho
            if is_spur:
                spurious.append((U, r))
            elif origin.startswith("given"):
                bad_given.append(r)
        cert_note = ""
        if certify and spurious:
            try:
                certify_fn()
                available = True
            except Unavailable as exc:
                available, cert_note = False, f"numerical only: {exc}"
            if available:
                for U, r in spurious[:max_certify]:
                    r["certificate"] = certify_one(problem, U, "min")
        for U, r in spurious:
            r["U"] = U.tolist()
        certified = [r for _, r in spurious if r.get("certificate", {}).get("issued")
                     and r["certificate"].get("kind") == "spurious-min"]
        attempted = [r for _, r in spurious if r.get("certificate", {}).get("attempted")]
        m = {
            "search": info,
            "critical_points": n_crit,
            "spurious_minima": [r for _, r in spurious],
            "n_spurious": len(spurious),
            "n_certified": len(certified),
            "min_spurious_loss_rel": min((r["loss_rel"] for _, r in spurious), default=None),
            "min_spurious_eig_rel": min((r["min_eig_rel"] for _, r in spurious), default=None),
            "rho": rho,
        }
        cen = C.census_record(problem, seed=seed) if census and T >= 3 else None
        if cen is not None:
            m["census"] = cen
        if T < 3:
            status = Status.ASSUMPTION_NOT_MET
            note = f"T = {T} < 3 (Thm 3.4: no spurious minima for T = 2); found {len(spurious)} among {n_crit} critical points"
        elif bad_given:
            b = bad_given[0]
            why = ("not a critical point" if not b["critical"] else
                   "a zero-loss (global) minimum" if b["zero_loss"] else f"not a minimum (λ_min = {b['min_eig']:.3g})")
            status, note = Status.FAILS, f"{b['origin']} is {why}"
        elif cen is not None and cen["exhaustive"] and cen["spurious"] < len(certified):
            status = Status.UNDECIDED  # two proofs disagree: report, never pick one
            note = (f"complete census counts {cen['spurious']} spurious minima but {len(certified)} were "
                    "certified from the search")
        elif cen is not None and cen["exhaustive"] and cen["spurious"] > 0:
            status = Status.HOLDS
            note = (f"exactly {cen['spurious']} spurious minima (up to U_t → −U_t; complete census, every "
                    f"minimum certified) among {sum(cen['by_kind'].values())} real critical orbits")
        elif not spurious:
            # not finding one does not refute an existence claim
            status = Status.UNDECIDED
            note = f"no spurious minimum found among {n_crit} critical points ({starts} starts)"
            if cen is not None and cen["exhaustive"]:
                note = "complete census: this instance has no spurious minimum (the claim needs one that has)"
            elif cen is not None:
                note += f"; census incomplete ({cen['message']})"
        elif attempted and not certified:
            # could not prove is not false: the claim is undecided on this instance
            status = Status.UNDECIDED
            note = (f"{len(spurious)} numerical spurious minima but no certificate issued "
                    f"({attempted[0]['certificate']['reason']})")
        else:
            status = Status.HOLDS
            best = min((r for _, r in spurious), key=lambda r: -r["min_eig_rel"])
            note = (f"{len(spurious)} spurious minima (e.g. G = {best['loss']:.4g}, λ_min = {best['min_eig']:.3g}); "
                    + (f"{len(certified)} certified" if certified else cert_note or "not certified (certify=False)"))
        return conclude(CLAIM, problem, status, note, m, label=label, timer=timer)


def summarize(records):
    n = sum(r["measured"].get("n_spurious", 0) for r in records if r["problem"].get("role", "claim") == "claim")
    nc = sum(r["measured"].get("n_certified", 0) for r in records if r["problem"].get("role", "claim") == "claim")
    lam = worst_of(records, "min_spurious_eig_rel", fn=min)
    loss = worst_of(records, "min_spurious_loss_rel", fn=min)
    measured = {"spurious_minima": n, "certified": nc, "min_eig_rel": lam, "min_loss_rel": loss}
    worst = f"{n} spurious minima, {nc} certified" + (
        f"; smallest λ_min/ρ = {lam:.3g}, smallest G/ρ² = {loss:.3g}" if lam is not None else "")
    return measured, worst


CLAIM = Claim(
    id="spurious-t3",
    title="spurious local minima for T ≥ 3",
    statement="For some instances with T ≥ 3, G has spurious local minima: ∇G = 0, ∇²G ≻ 0 modulo "
    "symmetry, G > 0 (certified with interval arithmetic).",
    labels="v1 App. D.2 / v2 App.",
    check=check_spurious_minima,
    summarize=summarize,
    tolerance=dict(C.TOLERANCE),
    tolerance_reason=C.TOLERANCE_REASON + "; a certificate makes the verdict independent of these tolerances",
    hypothesis="T >= 3",
)
