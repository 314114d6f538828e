"""Thm 3.4 (v1; Thm 4 in v2): for ``T = 2`` every second-order stationary point is global.

Statement
---------
With ``[U*_1 U*_2]`` of full column rank ``2k``: a point is a second-order stationary point
(SOSP) of ``L`` iff ``L = 0``. Equivalently every critical point with ``L > 0`` has a
strictly negative Hessian eigenvalue (a strict saddle). By the Schur-complement argument
(MATH.md §4) it suffices to study ``G`` in ``U``-space.

How it is checked
-----------------
Many critical points — saddles included — are found by ``landscape.search.search`` with
``method="roots"`` (Levenberg–Marquardt on ``∇G`` from many starts), plus any ``points``
the user passes (each must be a critical point). Every critical point is re-measured by
:mod:`theorems._critical`: loss, gradient norm and ``λ_min(∇²G)`` modulo the O(k) symmetry.
The claim holds when every critical point with ``G > 1e-12·ρ²`` has ``λ_min < −1e-8·ρ``
(equivalently every SOSP found has zero loss). Reported: the *least negative* ``λ_min``
among the positive-loss critical points (how close any saddle came to being a minimum),
and optionally a rigorous strict-saddle certificate (``certify_saddle=True``).

The same procedure on a ``T >= 3`` instance returns ``assumption-not-met`` and reports
whether a spurious minimum turned up there — showing the property is specific to ``T = 2``.
"""

from __future__ import annotations

from landscape.problem import Problem

from . import _critical as C
from ._claim import Claim, Timer, assemble, record, worst_of
from ._linalg import column_independence
from ._optional import Unavailable, certify_fn, check_certificate_fn
from .result import ClaimResult, Status, problem_record
from .sr_rank_gap import retraining_columns

__all__ = ["check_two_task_landscape", "CLAIM"]

#: Saddles tried (most negative curvature first) until one strict-saddle certificate is issued.
MAX_SADDLE_ATTEMPTS = 8


def certify_one(problem, U, kind: str) -> dict:
    """Run ``landscape.certify.certify`` on ``U`` and re-check the certificate; never raises."""
    try:
        certify = certify_fn()
    except Unavailable as exc:
        return {"attempted": False, "issued": False, "reason": str(exc)}
    try:
        res = certify(problem, U, kind=kind)
    except Exception as exc:  # noqa: BLE001 - a failed certification is reported, not fatal
        return {"attempted": True, "issued": False, "reason": f"{type(exc).__name__}: {exc}"}
    out = {"attempted": True, "issued": bool(res.issued), "kind": res.kind, "reason": str(res.reason)}
    if res.issued and getattr(res, "certificate", None) is not None:
        try:
            chk = check_certificate_fn()(res.certificate)
            out["rechecked"] = bool(chk.valid)
            out["recheck_kind"] = chk.kind
        except Unavailable as exc:
            out["rechecked"] = None
            out["recheck_reason"] = str(exc)
        except Exception as exc:  # noqa: BLE001
            out["rechecked"] = False
            out["recheck_reason"] = f"{type(exc).__name__}: {exc}"
    return out


def check_two_task_landscape(
    problem: Problem,
    *,
    points=None,
    starts: int = 64,
    method: str = "roots",
    min_eig=None,
    certify_saddle: bool = False,
    search_result=None,
    seed=0,
    label: dict | None = None,
) -> ClaimResult:
    """Check Thm 3.4 on ``problem``: every critical point with positive loss is a strict saddle.

    Parameters
    ----------
    problem : Problem
        ``T = 2`` for the claim; other ``T`` run the same procedure as a contrast and return
        ``assumption-not-met``.
    points : sequence of (T, d, k) arrays, optional
        Extra critical points to test (a point that is not critical fails the check).
    starts : int
        Starts for ``landscape.search.search`` (0: only ``points``).
    method : str
        Search method (default ``"roots"``: finds saddles as well as minima).
    min_eig : callable ``(problem, U) -> float``, optional
        Smallest Hessian eigenvalue modulo symmetry (default: :func:`landscape.min_eigenvalue`).
        Injecting a wrong one (e.g. with the sign flipped) makes the check fail.
    certify_saddle : bool
        Also certify one strict saddle rigorously (``landscape.certify``).
    search_result : SearchResult, optional
        A precomputed search to reuse instead of running one.
    seed : None, int or Generator
    label : dict, optional
        Extra fields for the instance record.
    """
    min_eig = C.default_min_eig if min_eig is None else min_eig
    d, k, T = problem.d, problem.k, problem.T
    with Timer() as timer:
        rec_problem = {**problem_record(problem), **(label or {})}
        indep = column_independence(retraining_columns(problem))
        hyp = T == 2 and indep["independent"]
        cands, info = C.gather(problem, points=points, starts=starts, method=method, seed=seed,
                               search_result=search_result)
        if not cands and "unavailable" in info:
            rec = record(rec_problem, Status.UNAVAILABLE, f"no critical points to test: {info['unavailable']}",
                         {"search": info})
            return assemble(CLAIM, [rec], seconds=timer.seconds)
        rows, bad_given, skipped = [], [], 0
        for U, origin in cands:
            mrow = C.measure(problem, U, min_eig)
            mrow["origin"] = origin
            if not mrow["critical"]:
                if origin.startswith("given"):
                    bad_given.append(mrow)
                else:
                    skipped += 1
                continue
            rows.append((U, mrow))
        rho = C.scale(problem)
        pos = [m for _, m in rows if not m["zero_loss"]]
        saddles = [m for m in pos if m["negative_curvature"]]
        sosp_pos = [m for m in pos if not m["negative_curvature"]]
        m = {
            "search": {**info, "not_critical_skipped": skipped},
            "critical_points": len(rows),
            "global_minima": sum(1 for _, r in rows if r["zero_loss"]),
            "strict_saddles": len(saddles),
            "sosp_with_positive_loss": len(sosp_pos),
            "least_negative_saddle_eig": max((s["min_eig"] for s in saddles), default=None),
            "least_negative_saddle_eig_rel": max((s["min_eig_rel"] for s in saddles), default=None),
            "min_positive_loss_rel": min((s["loss_rel"] for s in pos), default=None),
            "max_sosp_loss_rel": max((r["loss_rel"] for _, r in rows if not r["negative_curvature"]), default=None),
            "points": [r for _, r in rows],
            "rho": rho,
            "independence": indep,
        }
        if sosp_pos:
            m["spurious_minima"] = [{"loss": s["loss"], "min_eig": s["min_eig"], "origin": s["origin"]} for s in sosp_pos]
        if certify_saddle and saddles and hyp:
            # Most negative curvature first (easiest); degenerate saddles (e.g. some U_t = 0)
            # are refused by the Krawczyk test, so try a few.
            order = sorted(((U, r) for U, r in rows if r in saddles), key=lambda ur: ur[1]["min_eig"])
            tried = []
            for U_s, r_s in order[:MAX_SADDLE_ATTEMPTS]:
                cert = certify_one(problem, U_s, "saddle")
                tried.append(cert)
                if cert["issued"] or not cert["attempted"]:
                    break
            m["saddle_certificate"] = {**tried[-1], "attempts": len(tried), "origin": r_s["origin"]}
        if not hyp:
            why = f"T = {T} ≠ 2" if T != 2 else f"[U*_1 U*_2] not of full column rank ({indep.get('reason')})"
            if sosp_pos:
                w = sosp_pos[0]
                note = (f"{why}; contrast: the same search found {len(sosp_pos)} SOSP(s) with positive loss "
                        f"(e.g. G = {w['loss']:.4g}, λ_min = {w['min_eig']:.3g}): the T = 2 property fails here")
            else:
                note = f"{why}; contrast: no spurious minimum turned up among {len(rows)} critical points"
            status = Status.ASSUMPTION_NOT_MET
        elif bad_given:
            b = bad_given[0]
            status = Status.FAILS
            note = f"{b['origin']} is not a critical point (‖∇G‖ = {b['grad_norm']:.3g} > {C.GRAD_RTOL * rho**1.5:.1e})"
        elif sosp_pos:
            w = sosp_pos[0]
            status = Status.FAILS
            note = (f"{w['origin']}: SOSP with positive loss G = {w['loss']:.4g} (λ_min = {w['min_eig']:.3g} ≥ "
                    f"−{C.EIG_RTOL * rho:.1e})")
        elif not rows:
            status, note = Status.FAILS, "no critical point found: nothing was checked"
        else:
            status = Status.HOLDS
            note = (f"{len(rows)} critical points: {m['global_minima']} global minima, {len(saddles)} strict saddles; "
                    f"least negative saddle λ_min = {m['least_negative_saddle_eig'] if saddles else float('nan'):.3g}")
            cert = m.get("saddle_certificate")
            if cert is not None:
                note += "; saddle certificate " + ("issued" if cert["issued"] else f"not issued ({cert['reason']})")
        rec = record(rec_problem, status, note, m)
    return assemble(CLAIM, [rec], seconds=timer.seconds)


def summarize(records):
    lam = worst_of(records, "least_negative_saddle_eig_rel")
    n = sum(r["measured"].get("critical_points", 0) for r in records if r["problem"].get("role", "claim") == "claim")
    spur = sum(r["measured"].get("sosp_with_positive_loss", 0) for r in records
               if r["problem"].get("role", "claim") == "contrast")
    measured = {"critical_points": n, "least_negative_saddle_eig_rel": lam, "contrast_spurious_minima": spur}
    worst = "n/a" if lam is None else f"least negative saddle λ_min/ρ = {lam:.3g} over {n} critical points"
    if spur:
        worst += f"; T=3 contrast: {spur} spurious minima"
    return measured, worst


CLAIM = Claim(
    id="thm3.4",
    title="T = 2: SOSP ⇔ global minimum",
    statement="For T = 2 with [U*_1 U*_2] of full column rank, every critical point with L > 0 has a strictly "
    "negative Hessian eigenvalue; every SOSP has L = 0.",
    labels="v1 Thm 3.4 / v2 Thm 4",
    check=check_two_task_landscape,
    summarize=summarize,
    tolerance=dict(C.TOLERANCE),
    tolerance_reason=C.TOLERANCE_REASON,
    hypothesis="T = 2 and [U*_1 U*_2] of full column rank 2k",
)
