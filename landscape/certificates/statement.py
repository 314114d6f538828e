"""What a certificate says, in words: rendered from its kind, parameters and printed bounds.

Part of the file format (both the prover and the checker render it; the checker requires the
stored ``claim`` and ``statement`` to equal the rendering, so they cannot be edited alone).
"""

from __future__ import annotations

__all__ = ["render"]


def _v(cert, name, side) -> float:
    return float.fromhex(cert["bounds"][name][side])


def _group(cert) -> str:
    p = cert["problem"]
    T, k = p["T"], p["k"]
    if T == 2:
        return f"O({k},{k})"
    return f"O({k})^{T}" if k > 1 else "{±1}^T (sign flips)"


def render(cert: dict) -> tuple[str, list[str]]:
    """``(claim, statement lines)`` for a certificate dict (its bounds as hex strings)."""
    kind = cert["kind"]
    par = cert["parameters"]
    r = float.fromhex(par["radius"])
    sliced = par.get("gauge") == "slice"
    ball = "‖U − c‖_F <= r" + (" on the gauge slice S = c + ker Wᵀ (W: orbit tangents at c)" if sliced else "")
    pre = f"c: the exact centre stored in the certificate; r = {r:.6g}."
    if kind == "global-min":
        out = [pre, "G(c) = 0 exactly (rational arithmetic): c is a global minimiser of G and (A(c), c) one of "
               "the Meta-LoRA objective L (min L = 0)."]
        if par.get("strict"):
            out.append(f"λ_min(∇²G(U)) >= μ >= {_v(cert, 'mu', 'lo'):.6g} for every U with {ball}: c is the only "
                       f"critical point there, so the zero set of G near c is exactly the {_group(cert)}-orbit of c "
                       "(isolated modulo the symmetry).")
            claim = f"global-min: G(c) = 0 exactly, strict modulo {_group(cert)} (μ >= {_v(cert, 'mu', 'lo'):.4g})"
        else:
            out.append("Strictness (isolation modulo the symmetry) was not proved.")
            claim = "global-min: G(c) = 0 exactly"
        return claim, out
    if kind in ("strict-min", "spurious-min"):
        mu = _v(cert, "mu", "lo")
        lo, hi = _v(cert, "loss_min", "lo"), _v(cert, "loss_min", "hi")
        dist = _v(cert, "distance", "hi")
        out = [
            pre,
            f"λ_min(∇²G(U)) >= μ >= {mu:.6g} for every U with {ball}"
            + (" (restricted to ker Wᵀ)." if sliced else "."),
            f"G has exactly one critical point U♯ in that ball; it is a strict local minimiser, "
            f"‖U♯ − c‖_F <= {dist:.6g}.",
            f"{lo:.17g} <= G(U♯) <= {hi:.17g}.",
        ]
        if sliced:
            out.append(f"Transversality holds, so U♯ is a critical point of G, ∇²G(U♯) ⪰ 0 with null space exactly "
                       f"the tangent of its {_group(cert)}-orbit, and every point of that orbit is a local minimiser "
                       "of G, isolated modulo the symmetry.")
        else:
            out.append("∇²G(U♯) ≻ 0: U♯ is a non-degenerate, isolated local minimiser of G.")
        out.append("(A(U♯), U♯) is a local minimiser of the Meta-LoRA objective L (Schur complement, docs/math.md §4).")
        if kind == "spurious-min":
            out.append("G(U♯) > 0 = min G: the local minimum is spurious (not global).")
        claim = (f"{kind}: unique critical point within r={r:.3g} of c, λ_min(∇²G) >= {mu:.4g} on the ball, "
                 f"G(U♯) in [{lo:.6g}, {hi:.6g}]")
        return claim, out
    if kind == "strict-saddle":
        dist = _v(cert, "distance", "hi")
        lam = _v(cert, "lambda_upper", "hi")
        lo, hi = _v(cert, "loss_critical", "lo"), _v(cert, "loss_critical", "hi")
        out = [
            pre,
            f"G has exactly one critical point U♯ with {ball}; ‖U♯ − c‖_F <= {dist:.6g}"
            + (f" (its {_group(cert)}-orbit consists of critical points)." if sliced else "."),
            f"λ_min(∇²G(U♯)) <= {lam:.6g} < 0: U♯ is a strict saddle of G and (A(U♯), U♯) one of the Meta-LoRA "
            "objective L.",
            f"{lo:.17g} <= G(U♯) <= {hi:.17g}.",
        ]
        claim = f"strict-saddle: critical point within {dist:.3g} of c, λ_min(∇²G) <= {lam:.4g} there"
        return claim, out
    if kind == "no-local-min":
        lam = _v(cert, "lambda_upper", "hi")
        out = [
            pre,
            f"λ_min(∇²G(U)) <= {lam:.6g} < 0 for every U with ‖U − c‖_F <= r (the full ball, no slice).",
            "So the ball contains no local minimum and no second-order stationary point of G, degenerate or not, "
            "and no local minimum (A, U) of the Meta-LoRA objective L with U in the ball.",
            f"At c: G(c) in [{_v(cert, 'loss_center', 'lo'):.17g}, {_v(cert, 'loss_center', 'hi'):.17g}], "
            f"‖∇G(c)‖ <= {_v(cert, 'grad_norm', 'hi'):.3g} (no critical point is claimed).",
        ]
        claim = f"no-local-min: λ_min(∇²G) <= {lam:.4g} < 0 on the ball of radius {r:.3g} around c"
        return claim, out
    raise ValueError(f"unknown kind {kind!r}")
