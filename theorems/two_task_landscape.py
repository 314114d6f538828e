"""Thm 3.4 (v1; Thm 4 in v2): for ``T = 2`` every second-order stationary point is global.

Statement
---------
With ``[U*_1 U*_2]`` of full column rank ``2k``: a point is a second-order stationary point
(SOSP) of ``L`` iff ``L = 0``. Equivalently every critical point with ``L > 0`` has a
strictly negative Hessian eigenvalue (a strict saddle). By the Schur-complement argument
(docs/math.md §4) it suffices to study ``G`` in ``U``-space.

How it is checked
-----------------
Many critical points — saddles included — are found by ``landscape.search.search`` with
``method="roots"`` (Levenberg–Marquardt on ``∇G`` from many starts), plus any ``points``
the user passes (each must be a critical point). Every critical point is re-measured by
:mod:`theorems._critical`: loss, gradient norm and ``λ_min(∇²G)`` modulo the O(k) symmetry.
The claim holds when every critical point with ``G > 1e-12·ρ²`` has ``λ_min < −1e-8·ρ``
(equivalently every SOSP found has zero loss). Reported: the *least negative* ``λ_min``
among the positive-loss critical points (how close any saddle came to being a minimum),
and (``certify=True``, the default) a rigorous **no-local-minimum certificate** for every
distinct positive-loss critical set (de-duplicated modulo O(k, k), whose orbits are the
level sets of ``U_1U_1ᵀ − U_2U_2ᵀ``): a ball around the point on which ∇²G has a proven
negative eigenvalue, so it contains no local minimum, degenerate or not. The count of
certified sets is reported; if some cannot be certified the verdict is *undecided*.
Conversely a numerical SOSP with positive loss makes the claim *fail* only when it is
certified as a spurious minimum (``certify=True``); otherwise the verdict is *undecided* with
the refusal's reason (``certify=False`` keeps the numerical verdict).

The same procedure on a ``T >= 3`` instance returns ``assumption-not-met`` and reports
whether a spurious minimum turned up there — showing the property is specific to ``T = 2``.
"""

from __future__ import annotations

import numpy as np

from landscape.problem import Problem

from . import _critical as C
from ._claim import Claim, Timer, conclude, worst_of
from ._linalg import column_independence
from .result import ClaimResult, Status
from .sr_rank_gap import retraining_columns

__all__ = ["check_two_task_landscape", "CLAIM"]

#: Distinct positive-loss critical sets certified "no local minimum" per instance (at most).
MAX_CERTIFY = 64


class Unavailable(RuntimeError):
    """Certificates need python-flint, which is not installed."""


def certify_fn():
    """``landscape.certificates.certify`` (raises :class:`Unavailable` without python-flint)."""
    try:
        import flint  # noqa: F401

        from landscape.certificates import certify
    except ImportError as exc:
        raise Unavailable(f"certificates need python-flint (metalora[flint]): {exc}") from None
    return certify


def check_certificate_fn():
    """``landscape.certificates.check_certificate`` (raises :class:`Unavailable` without python-flint)."""
    certify_fn()
    from landscape.certificates import check_certificate

    return check_certificate


def certify_one(problem, U, kind: str) -> dict:
    """Run ``landscape.certificates.certify`` on ``U`` and re-check the certificate; never raises."""
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
        except Exception as exc:  # noqa: BLE001
            out["rechecked"] = False
            out["recheck_reason"] = f"{type(exc).__name__}: {exc}"
        out["certified"] = bool(out.get("rechecked"))
    return out


def critical_set_key(U, rho: float):
    """An invariant of ``U``'s orbit: ``U_1U_1ᵀ − U_2U_2ᵀ`` at T = 2 (constant on O(k, k)-orbits),
    the Gram matrices ``U_tU_tᵀ`` otherwise (constant on O(k)^T-orbits), scaled by ``ρ``.
    """
    U = np.asarray(U, dtype=np.float64)
    if U.shape[0] == 2:
        return (U[0] @ U[0].T - U[1] @ U[1].T) / rho
    return np.einsum("tik,tjk->tij", U, U) / rho


def distinct_critical_sets(points, rho: float, tol: float = 1e-6) -> list[list[int]]:
    """Group indices of ``points`` whose orbit invariants agree to ``tol`` (relative to ``ρ``)."""
    groups, keys = [], []
    for i, U in enumerate(points):
        key = critical_set_key(U, rho)
        for g, k0 in zip(groups, keys):
            if np.max(np.abs(key - k0)) <= tol:
                g.append(i)
                break
        else:
            groups.append([i])
            keys.append(key)
    return groups


def check_two_task_landscape(
    problem: Problem,
    *,
    points=None,
    starts: int = 64,
    method: str = "roots",
    min_eig=None,
    certify: bool = True,
    max_certify: int = MAX_CERTIFY,
    certify_saddle: bool | None = None,
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
    certify : bool
        Certify every distinct positive-loss critical set (modulo O(k, k) at T = 2, up to
        ``max_certify``) as "no local minimum" (``landscape.certify``, kind ``no-min``): a
        ball around it on which ∇²G has a proven negative eigenvalue. When some cannot be
        certified the verdict is **undecided** (with the refusal's reason), never "fails".
    max_certify : int
    certify_saddle : bool, optional
        Old name of ``certify``.
    search_result : SearchResult, optional
        A precomputed search to reuse instead of running one.
    seed : None, int or Generator
    label : dict, optional
        Extra fields for the instance record.
    """
    min_eig = C.default_min_eig if min_eig is None else min_eig
    if certify_saddle is not None:
        certify = bool(certify_saddle)
    T = problem.T
    with Timer() as timer:
        indep = column_independence(retraining_columns(problem))
        hyp = T == 2 and indep["independent"]
        cands, info = C.gather(problem, points=points, starts=starts, method=method, seed=seed,
                               search_result=search_result)
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
        groups = distinct_critical_sets([U for U, _ in rows], rho)
        m["distinct_critical_sets"] = len(groups)
        # G is constant on a connected set of critical points: distinct values bound the components below
        levels = sorted({round(r["loss_rel"], 8) for _, r in rows})
        m["distinct_critical_values"] = len(levels)
        pos_groups = [g for g in groups if not rows[g[0]][1]["zero_loss"]]
        m["distinct_positive_loss_sets"] = len(pos_groups)
        cert_summary = None
        if certify and hyp and pos_groups and not sosp_pos:
            tried, certified, refused = [], 0, []
            for g in pos_groups[:max_certify]:
                U_g, r_g = rows[g[0]]
                out = certify_one(problem, U_g, "no-min")
                out["origin"] = r_g["origin"]
                out["members"] = len(g)
                tried.append(out)
                if not out["attempted"]:
                    break
                if out.get("certified"):
                    certified += 1
                else:
                    refused.append(out)
            cert_summary = {"attempted": len(tried), "certified": certified, "of": len(pos_groups),
                            "available": bool(tried and tried[0]["attempted"]),
                            "refused": [{"origin": o["origin"], "reason": o["reason"]} for o in refused]}
            m["no_min_certificates"] = cert_summary
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
            note = (f"{w['origin']}: SOSP with positive loss G = {w['loss']:.4g} (λ_min = {w['min_eig']:.3g} ≥ "
                    f"−{C.EIG_RTOL * rho:.1e})")
            status = Status.FAILS
            if certify:
                # a counterexample must be proved: a certified minimum with G > 0 (else undecided)
                proofs = []
                for U_w, r_w in [(U, r) for U, r in rows if r in sosp_pos][:3]:
                    out = certify_one(problem, U_w, "min")
                    proofs.append(out)
                    if out.get("certified") and out.get("kind") == "spurious-min":
                        break
                m["counterexample_certificates"] = proofs
                if any(o.get("certified") and o.get("kind") == "spurious-min" for o in proofs):
                    note += "; certified spurious minimum"
                elif proofs and proofs[0]["attempted"]:
                    status = Status.UNDECIDED
                    note += f"; not certified ({proofs[0]['reason']})"
        elif not rows:
            status, note = Status.FAILS, "no critical point found: nothing was checked"
        else:
            status = Status.HOLDS
            note = (f"{len(rows)} critical points ({len(groups)} distinct modulo the symmetry): "
                    f"{m['global_minima']} global minima, {len(saddles)} strict saddles; least negative saddle "
                    f"λ_min = {m['least_negative_saddle_eig'] if saddles else float('nan'):.3g}")
            cs = cert_summary
            if cs is not None and cs["available"]:
                note += f"; {cs['certified']} of {cs['of']} positive-loss critical sets certified 'no local minimum'"
                if cs["certified"] < cs["of"]:
                    status = Status.UNDECIDED
                    why = cs["refused"][0]["reason"] if cs["refused"] else f"only the first {max_certify} were tried"
                    note += f" (not proved for the rest: {why})"
            elif cs is not None:
                note += "; numerical only (certificates unavailable)"
        return conclude(CLAIM, problem, status, note, m, label=label, timer=timer)


def summarize(records):
    lam = worst_of(records, "least_negative_saddle_eig_rel")
    n = sum(r["measured"].get("critical_points", 0) for r in records if r["problem"].get("role", "claim") == "claim")
    spur = sum(r["measured"].get("sosp_with_positive_loss", 0) for r in records
               if r["problem"].get("role", "claim") == "contrast")
    cert = [r["measured"].get("no_min_certificates") for r in records if r["problem"].get("role", "claim") == "claim"]
    n_cert = sum(c["certified"] for c in cert if c)
    n_of = sum(c["of"] for c in cert if c)
    measured = {"critical_points": n, "least_negative_saddle_eig_rel": lam, "contrast_spurious_minima": spur,
                "no_min_certified": n_cert, "positive_loss_sets": n_of}
    worst = "n/a" if lam is None else f"least negative saddle λ_min/ρ = {lam:.3g} over {n} critical points"
    if n_of:
        worst += f"; {n_cert}/{n_of} positive-loss critical sets certified no-local-min"
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
