"""Critical points for the landscape claims (Thm 3.4, spurious minima), measured uniformly.

Critical points come from :func:`landscape.search` (many starts; the root solver finds
saddles too) and/or are given by the user. Each is re-measured here with
the same rules, independent of how the search classified it:

- critical: ``‖∇G(U)‖_F <= GRAD_RTOL · ρ^{3/2}`` (``ρ = mean_t ‖R*_t‖_F``; ``G`` is quartic,
  so its gradient scales like ``ρ^{3/2}``);
- zero loss: ``G(U) <= LOSS_RTOL · ρ²``;
- curvature: ``λ_min`` of ``∇²G(U)`` modulo the O(k) symmetry (the ``min_eig`` callable,
  default :func:`landscape.min_eigenvalue` with ``modulo_symmetry=True``); strictly negative
  when ``λ_min < −EIG_RTOL · ρ``, positive (SOSP) when ``λ_min >= −EIG_RTOL · ρ``.
"""

from __future__ import annotations

import numpy as np

from landscape.validation import check_U
from landscape.derivatives import reduced_grad
from landscape.multistart import problem_scale
from landscape.objectives import reduced_loss
from landscape.search import search

#: Critical when ``‖∇G‖ <= GRAD_RTOL·ρ^{3/2}`` (the root solver converges to ~1e-11).
GRAD_RTOL = 1e-8
#: Zero loss when ``G <= LOSS_RTOL·ρ²``.
LOSS_RTOL = 1e-12
#: Strictly negative curvature when ``λ_min < −EIG_RTOL·ρ``.
EIG_RTOL = 1e-8

TOLERANCE = {"grad_rtol": GRAD_RTOL, "loss_rtol": LOSS_RTOL, "eig_rtol": EIG_RTOL}
TOLERANCE_REASON = (
    "scales: ρ = mean_t‖R*_t‖_F, ‖∇G‖ ~ ρ^{3/2}, G ~ ρ², ∇²G ~ ρ. Roots are converged to ‖∇G‖ ≤ 1e-11ρ^{3/2}, "
    "so at a non-degenerate critical point G and λ are known to ~1e-11 relative; 1e-12·ρ² for zero loss and "
    "1e-8·ρ for curvature sit well above that and far below the losses (≥ 1e-4·ρ²) and |eigenvalues| "
    "(≥ 3e-3·ρ) of the saddles and spurious minima found on the default instances"
)


def scale(problem) -> float:
    """``ρ = mean_t ‖R*_t‖_F`` (1 when every ``R*_t`` is zero)."""
    return problem_scale(problem)


def default_min_eig(problem, U) -> float:
    from landscape.linops import min_eigenvalue

    return float(min_eigenvalue(problem, U, modulo_symmetry=True).value)


def gather(problem, *, points, starts, method, seed, search_result=None, search_options=None):
    """Candidate critical points: the search's (if ``starts > 0``) plus the given ones.

    Returns ``(candidates, info)``: candidates are ``(U, origin)``; info summarises the
    search (or says why it could not run).
    """
    cands, info = [], {"method": method, "starts": starts}
    if search_result is None and starts:
        search_result = search(problem, starts=starts, method=method, seed=seed, **(search_options or {}))
    if search_result is not None:
        pts = list(search_result.points)
        info["search_points"] = len(pts)
        info["search_kinds"] = _count(getattr(p, "kind", "?") for p in pts)
        for i, p in enumerate(pts):
            cands.append((np.asarray(p.U, dtype=np.float64), f"search #{i} ({getattr(p, 'kind', '?')})"))
    for i, U in enumerate(points or ()):
        cands.append((check_U(problem, U, f"points[{i}]"), f"given #{i}"))
    return cands, info


def _count(kinds) -> dict:
    out: dict = {}
    for k in kinds:
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items()))


def measure(problem, U, min_eig) -> dict:
    """Loss, gradient norm and ``λ_min`` (modulo symmetry) of ``U``, with relative versions."""
    rho = scale(problem)
    g = float(np.linalg.norm(reduced_grad(problem, U)))
    G = reduced_loss(problem, U)
    lam = float(min_eig(problem, U))
    return {
        "loss": G,
        "loss_rel": G / rho**2,
        "grad_norm": g,
        "grad_rel": g / rho**1.5,
        "min_eig": lam,
        "min_eig_rel": lam / rho,
        "critical": bool(g <= GRAD_RTOL * rho**1.5),
        "zero_loss": bool(G <= LOSS_RTOL * rho**2),
        "negative_curvature": bool(lam < -EIG_RTOL * rho),
    }


def census_record(problem, *, seed=0) -> dict:
    """Run :func:`landscape.census` on ``problem`` and summarise what it proves.

    Returns a dict with ``complete`` (every path accounted for), ``certified`` (every real
    global or spurious minimum proved by its Krawczyk certificate), the exact counts by kind
    and index, and ``exhaustive`` = complete and certified: only then are the counts a proof
    about *all* critical points; otherwise the census is reported and the verdict rests on
    the search.
    """
    from landscape.homotopy import census

    r = census(problem, seed=int(seed) if isinstance(seed, int) else 0)
    minima = [p for p in r.points if p.kind in ("global-min", "spurious-min")]
    certified = all(p.certified for p in minima)
    return {
        "complete": bool(r.complete),
        "certified": bool(certified),
        "exhaustive": bool(r.complete and certified and not r.positive_dimensional),
        "spurious": int(r.counts.get("spurious", 0)),
        "global": int(r.counts.get("by_kind", {}).get("global-min", 0)),
        "by_kind": dict(r.counts.get("by_kind", {})),
        "by_index": {str(k): v for k, v in r.counts.get("by_index", {}).items()},
        "message": r.message,
    }
