"""The proof kernel: from exact data and stored proposals to bounds and a verdict.

Both :func:`~landscape.certify.certify` (which chooses the proposals) and
:func:`~landscape.certify.check_certificate` (which reads them from a file) call the
functions here; nothing in this module trusts a float. Floats enter only as *proposals*
(a shift, a Cholesky factor, an approximate inverse, a direction, thresholds, a radius),
and every inequality a conclusion rests on is decided in exact rational arithmetic or
in arb ball arithmetic at the certificate's precision.

Theorems used (``B`` = the closed ball ``‖U − Ũ‖_F <= r``, restricted to the gauge slice
``S`` when there is one; ``c`` the anchor; ``ρ = r + ‖Ũ − c‖``)

Minimum (MATH.md §6). If ``μ := λ_c − Lip(ρ) − ε_R > 0`` where ``λ_c`` is a proven lower
bound on ``λ_min`` of the (penalised) anchor Hessian, then ``G|S`` is ``μ``-strongly convex
on ``B``. If moreover ``g := ‖∇G(Ũ)‖ < μ r``, then ``G|S`` has exactly one critical point
``U♯`` in ``B``, it is a strict minimiser of ``G|S``, ``‖U♯ − Ũ‖ <= g/μ`` and
``G(Ũ) − g²/(2μ) <= G(U♯) <= G(Ũ)`` (minimise ``G|S`` over ``B``: a boundary minimiser would
give ``μr² <= ⟨∇G(x) − ∇G(Ũ), x − Ũ⟩ <= g r``; uniqueness from strong monotonicity).
With the transversality inequality (:mod:`.gauge`) ``U♯`` is a critical point of ``G``,
``∇²G(U♯) ⪰ 0`` with null space exactly the orbit tangent, and by the slice theorem the
whole orbit ``{U♯Q}`` consists of local minimisers of ``G``; ``(A(U♯), U♯)`` is then a local
minimiser of ``L`` (MATH.md §4). If ``G(Ũ) − g²/(2μ) > 0`` the minimum is spurious
(``min G = 0`` at ``U*``).

Saddle (Krawczyk / Newton–Kantorovich in the 2-norm). For ``F(U, λ) = (∇G(U) + σWλ,
σWᵀ(U − Ũ))`` (just ``∇G`` without a gauge) with Jacobian ``J``, a matrix ``Y`` and
``κ := ‖I − YJ(anchor)‖ + ‖Y‖(Lip(ρ) + ε_R) < 1``, ``‖YF(Ũ, 0)‖ <= (1 − κ) r``: the map
``X ↦ X − YF(X)`` is a ``κ``-contraction of ``B`` into itself, so ``F`` has exactly one zero
in ``B``, at distance ``<= ‖YF‖/(1 − κ)``. A direction ``v`` with
``vᵀ∇²G(U♯)v/‖v‖² <= R_v + Lip(dist + ‖Ũ − c‖) + ε_R < 0`` proves a negative eigenvalue:
``U♯`` is a strict saddle of ``G`` and ``(A(U♯), U♯)`` one of ``L`` (the Schur complement
``∇²G`` has a negative direction, ``H_AA = 2I ≻ 0``). If ``∇G(Ũ) = 0`` exactly, ``Ũ`` itself
is the critical point (no Krawczyk step needed; isolation is then not claimed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from flint import arb, ctx, fmpq

from ._exact import OverflowRisk
from .enclosures import (
    Anchor,
    ExactPoint,
    KrawczykData,
    arb_of,
    cholesky_residual_sq,
    hessian_fro_sq,
    hessian_variation,
    krawczyk_residuals,
    rayleigh_int,
    sqrt_upper,
)
from .format import interval
from .gauge import group_name

__all__ = ["Proof", "MinCenter", "SaddleCenter", "min_chain", "saddle_chain", "digits_for"]


def digits_for(precision: int) -> int:
    """Decimal digits printed for arb balls at a binary precision."""
    return int(math.ceil(precision * math.log10(2))) + 2


@dataclass
class Proof:
    """Outcome of one proof attempt: the bounds (JSON-ready), the checks, the verdict."""

    holds: bool
    kind: str | None
    failed: list[str]
    bounds: dict
    checks: dict
    statement: list[str]
    summary: str


def _fq(x: float) -> fmpq:
    num, den = float(x).as_integer_ratio()
    return fmpq(num, den)


def _pow2(e: int) -> fmpq:
    return fmpq(1 << e) if e >= 0 else fmpq(1, 1 << -e)


def _exact_bound(name: str, value: fmpq, digits: int, bounds: dict):
    bounds[name] = interval(arb_of(value), digits)


def data_fingerprint(problem) -> arb:
    """``√2 · (1 + Σ_i (i + 1) x_i)`` over the problem data ``(A*, U*, U_test)`` flattened.

    Not a mathematical bound: it ties every number of the problem — including ``U_test``,
    which no proof step reads — and the working precision (the factor ``√2`` makes the
    ball depend on it) to a recomputed entry of the certificate.
    """
    total = fmpq(0)
    i = 0
    for arr in (problem.A_star, problem.U_star, problem.U_test):
        for x in np.asarray(arr, dtype=np.float64).ravel().tolist():
            i += 1
            num, den = x.as_integer_ratio()
            total += fmpq(num * i, den)
    return (1 + arb_of(total)) * arb(2).sqrt()


# -- minimum ---------------------------------------------------------------------------------
@dataclass
class MinCenter:
    """Radius-independent part of a minimum proof (the expensive exact work).

    Parameters are the certificate's: ``gauge`` (resolved), ``anchor_bits``,
    ``penalty_exp`` (``None`` without gauge), ``shift_hz`` (integer, anchor-Hessian units)
    and ``residual_hz`` (dyadic threshold for ``‖E‖_F`` in the same units).
    """

    problem: object
    U: np.ndarray
    gauge: str
    anchor_bits: int
    penalty_exp: int | None
    shift_hz: int
    residual_hz: float
    _residual_sq: fmpq | None = None
    _anchor: Anchor | None = field(default=None, repr=False)
    ex: ExactPoint = field(init=False, repr=False)
    anchor: Anchor = field(init=False, repr=False)
    residual_ok: bool = field(init=False)
    residual_note: str = field(init=False)

    def __post_init__(self):
        p = self.problem
        if self._anchor is not None:  # reuse the issuer's exact work (same inputs)
            self.ex, self.anchor = self._anchor.ex, self._anchor
        else:
            self.ex = ExactPoint(self.U, np.asarray(p.U_star), np.asarray(p.A_star))
            self.anchor = Anchor(self.ex, self.anchor_bits, self.gauge)
        res_sq = self._residual_sq
        if res_sq is None:
            HZ = self.anchor.hessian(self.penalty_exp)
            res_sq = cholesky_residual_sq(HZ, self.shift_hz)
        if res_sq is None:
            self.residual_ok = False
            self.residual_note = "the float Cholesky proposal failed at the stated shift"
        else:
            thr = _fq(self.residual_hz)
            self.residual_ok = bool(thr >= 0 and res_sq <= thr * thr)
            self.residual_note = (
                "" if self.residual_ok else "the exact Cholesky residual exceeds the stated threshold"
            )


def _center_bounds(center, digits: int, bounds: dict):
    """Quantities shared by every proof at the centre Ũ and its anchor (call inside ``workprec``).

    Returns ``(G, ‖∇G‖², ‖∇G‖ upper, c_H, δ, ε_R, a)`` and records the data fingerprint,
    ``G(Ũ)``, ``‖∇G(Ũ)‖``, the anchor distance ``δ``, the anchor's R error ``ε_R`` and the
    anchor norm ``a`` in ``bounds`` (in that order, which the checker compares).
    """
    ex, an = center.ex, center.anchor
    G = ex.loss()
    g2 = ex.grad_sq()
    g = sqrt_upper(g2)
    cH = an.hessian_scale
    delta = sqrt_upper(an.delta_sq)
    epsR = arb(4) / arb(ex.T) * sqrt_upper(an.epsR_sq)
    a = sqrt_upper(an.max_a())
    bounds["data_fingerprint"] = interval(data_fingerprint(center.problem), digits)
    _exact_bound("loss_center", G, digits, bounds)
    bounds["grad_norm_center"] = interval(g, digits)
    bounds["anchor_distance"] = interval(delta, digits)
    bounds["anchor_R_error"] = interval(epsR, digits)
    bounds["anchor_norm"] = interval(a, digits)
    return G, g2, g, cH, delta, epsR, a


def min_chain(center: MinCenter, radius: float, precision: int) -> Proof:
    """Bounds and verdict of a minimum certificate of the given radius (see the module notes)."""
    ex, an = center.ex, center.anchor
    T = ex.T
    digits = digits_for(precision)
    bounds: dict = {}
    checks: dict = {}
    with ctx.workprec(precision):
        G, g2, g, cH, delta, epsR, a = _center_bounds(center, digits, bounds)
        r = arb_of(_fq(radius))
        lam_c = arb_of(cH * (fmpq(int(center.shift_hz)) - _fq(center.residual_hz)))
        var = hessian_variation(a, r + delta, T) + epsR
        mu = lam_c - var
        dist = g / mu
        loss_lo = arb_of(G) - arb_of(g2) / (2 * mu)
        if center.penalty_exp is not None:
            # ρ = c_H 2^e 2^{2 q_c}: the gauge penalty in the units of ∇²G
            e2 = center.penalty_exp + 2 * an.qc
            _exact_bound("gauge_penalty", cH * _pow2(e2), digits, bounds)
        bounds["lambda_anchor"] = interval(lam_c, digits)
        bounds["hessian_variation"] = interval(var, digits)
        bounds["mu"] = interval(mu, digits)
        bounds["distance"] = interval(dist, digits)
        bounds["loss_min_lower"] = interval(loss_lo, digits)
        _exact_bound("loss_min_upper", G, digits, bounds)
        # A(U♯): ‖A(U♯) − A(Ũ)‖_F <= (2 a_U √T dist + dist²)/T, a_U <= a + δ
        A_rad = (2 * (a + delta) * arb(T).sqrt() * dist + dist * dist) / arb(T)
        bounds["A_radius"] = interval(A_rad, digits)
        checks["cholesky_residual"] = center.residual_ok
        checks["radius_positive"] = bool(radius > 0 and math.isfinite(radius))
        checks["mu_positive"] = bool(mu > 0)
        checks["gradient_small"] = bool(mu > 0 and g < mu * r)
        # transversality of the gauge slice at U♯: s > ‖U♯ − c‖ (see .gauge)
        trans_ok = True
        if an.m:
            rho_t = (dist + delta) if mu > 0 else arb.pos_inf()
            margin = sqrt_upper(an.s2) - rho_t
            bounds["transversality_margin"] = interval(margin, digits)
            trans_ok = bool(margin > 0)
            checks["gauge_full_rank"] = bool(an.s2 > 0)
        checks["transversal"] = trans_ok
        A0 = ex.A_center()
        bounds["A_center"] = _A_json(A0, digits)
        exact_zero = G == 0
        spurious = bool(loss_lo > 0)
    failed = [k for k, v in checks.items() if not v]
    holds = not failed
    if exact_zero:
        kind = "global-min"
    elif spurious:
        kind = "spurious-min"
    else:
        kind = "strict-min"
    statement = _min_statement(kind, center, bounds, holds) if holds else []
    summary = (
        f"{kind}: unique critical point within r={radius:.3g} of the point"
        + (" on the gauge slice" if an.m else "")
        + f", λ_min(∇²G) >= {float.fromhex(bounds['mu']['lo']):.4g} on the ball, "
        f"G(U♯) in [{float.fromhex(bounds['loss_min_lower']['lo']):.6g}, "
        f"{float.fromhex(bounds['loss_min_upper']['hi']):.6g}]"
        if holds
        else "failed: " + ", ".join(failed)
    )
    return Proof(holds, kind if holds else None, failed, bounds, checks, statement, summary)


def global_chain(
    center: MinCenter | None, problem, ex: ExactPoint, radius: float | None, precision: int
) -> Proof:
    """A global-minimum certificate: ``G(Ũ) = 0`` exactly; strictness when the min chain holds."""
    digits = digits_for(precision)
    with ctx.workprec(precision):
        G = ex.loss()
    if center is not None and radius is not None:
        proof = min_chain(center, radius, precision)
        strict = proof.holds
        bounds, checks = dict(proof.bounds), dict(proof.checks)
    else:
        strict = False
        bounds, checks = {}, {}
        with ctx.workprec(precision):
            bounds["data_fingerprint"] = interval(data_fingerprint(problem), digits)
            _exact_bound("loss_center", G, digits, bounds)
            bounds["A_center"] = _A_json(ex.A_center(), digits)
    checks = {"loss_exactly_zero": G == 0, "strict": strict} | {k: v for k, v in checks.items()}
    # the strictness sub-checks are informative; only the exact zero is required
    failed = [] if G == 0 else ["loss_exactly_zero"]
    holds = not failed
    statement = []
    if holds:
        statement = [
            "G(Ũ) = 0 exactly (rational arithmetic on the binary64 data), so Ũ is a global "
            "minimiser of G and (A(Ũ), Ũ) one of the Meta-LoRA objective L (min L = 0).",
        ]
        if strict:
            statement += _min_statement("global-min", center, bounds, True)
        else:
            statement.append("Strictness (isolation modulo the O(k) symmetry) was not proved.")
    summary = "global-min: G(Ũ) = 0 exactly" + (", strict modulo symmetry" if strict else "")
    if not holds:
        summary = "failed: G(Ũ) != 0"
    return Proof(holds, "global-min" if holds else None, failed, bounds, checks, statement, summary)


def _A_json(A0: list[list[fmpq]], digits: int) -> dict:
    mids = []
    worst = arb(0)
    for row in A0:
        mrow = []
        for x in row:
            xa = arb_of(x)
            m = float(xa.mid())
            err = abs(xa - arb_of(_fq(m)))
            worst = worst.union(err) if worst.is_finite() else err
            mrow.append(m.hex())
        mids.append(mrow)
    return {"mid": mids, "rad": interval(worst, digits)["hi"]}


def _min_statement(kind: str, center: MinCenter, bounds: dict, holds: bool) -> list[str]:
    an = center.anchor
    r_lo = lambda name: float.fromhex(bounds[name]["lo"])  # noqa: E731
    r_hi = lambda name: float.fromhex(bounds[name]["hi"])  # noqa: E731
    slice_txt = " on the gauge slice S = {U : Wᵀ(U − Ũ) = 0}" if an.m else ""
    group = group_name(an.T, center.problem.k)
    out = [
        f"λ_min(∇²G(U)) >= μ >= {r_lo('mu'):.6g} for every U in the ball ‖U − Ũ‖_F <= r{slice_txt}"
        + (" (restricted to ker Wᵀ)" if an.m else "") + ".",
        f"G has exactly one critical point U♯ in that ball{slice_txt}; it is a strict local minimiser, "
        f"‖U♯ − Ũ‖_F <= {r_hi('distance'):.6g}.",
        f"{r_lo('loss_min_lower'):.17g} <= G(U♯) <= {r_hi('loss_min_upper'):.17g}.",
    ]
    if an.m:
        out.append(
            f"Transversality holds, so U♯ is a critical point of G, ∇²G(U♯) ⪰ 0 with null space exactly the "
            f"tangent of its {group}-orbit, and every point U♯M of that orbit is a local minimiser of G; "
            "the orbit is isolated among the critical points of G (slice theorem)."
        )
    else:
        sign = " (the only symmetry for k = 1 is the sign flip U_t → −U_t)." if center.problem.k == 1 else "."
        out.append("∇²G(U♯) ≻ 0: U♯ is a non-degenerate (isolated) local minimiser of G" + sign)
    out.append(
        "(A(U♯), U♯) with A(U♯) = A(Ũ) + O(‖U♯ − Ũ‖) is a local minimiser of the Meta-LoRA objective L "
        f"(‖A(U♯) − A(Ũ)‖_F <= {r_hi('A_radius'):.3g})."
    )
    if kind == "spurious-min":
        out.append("G(U♯) > 0 = min G: the local minimum is spurious (not global).")
    return out


# -- saddle ----------------------------------------------------------------------------------
@dataclass
class SaddleCenter:
    """Radius-independent part of a saddle proof.

    Parameters: ``gauge``, ``anchor_bits``, ``jacobian_exp`` (scale ``2^e`` of the gauge
    border of the integer Jacobian), the thresholds ``kappa0`` (>= ``‖I − YJ‖_F``),
    ``inverse_norm`` (>= ``‖Y‖_F``, real units) and ``newton_step`` (>= ``‖YF(Ũ)‖``), and the
    integer ``direction`` ``v``. ``exact_critical`` is decided here (``∇G(Ũ) = 0``).
    """

    problem: object
    U: np.ndarray
    gauge: str
    anchor_bits: int
    jacobian_exp: int
    kappa0: float
    inverse_norm: float
    newton_step: float
    direction: list[int]
    use_krawczyk: bool = True
    _kdata: KrawczykData | None = None
    _anchor: Anchor | None = field(default=None, repr=False)
    ex: ExactPoint = field(init=False, repr=False)
    anchor: Anchor = field(init=False, repr=False)
    krawczyk_ok: bool = field(init=False)
    rayleigh: fmpq | None = field(init=False)
    hessian_fro_sq: int = field(init=False)

    def __post_init__(self):
        p = self.problem
        if self._anchor is not None:
            self.ex, self.anchor = self._anchor.ex, self._anchor
        else:
            self.ex = ExactPoint(self.U, np.asarray(p.U_star), np.asarray(p.A_star))
            self.anchor = Anchor(self.ex, self.anchor_bits, self.gauge)
        HZ = self.anchor.hessian(None)
        self.hessian_fro_sq = hessian_fro_sq(HZ)
        v = [int(x) for x in self.direction]
        self.rayleigh = rayleigh_int(HZ, v) if len(v) == HZ.shape[0] and any(v) else None
        self.krawczyk_ok = False
        if self.use_krawczyk:
            kd = self._kdata if self._kdata is not None else krawczyk_data(self.anchor, self.jacobian_exp)
            if kd is not None:
                cH = self.anchor.hessian_scale
                cg = self.ex.grad_scale
                k0 = _fq(self.kappa0)
                yn = _fq(self.inverse_norm)
                st = _fq(self.newton_step)
                ok_k = kd.kappa0_sq <= k0 * k0
                ok_y = kd.ynorm_sq <= (yn * cH) * (yn * cH)
                ok_s = kd.res_sq * cg * cg <= (st * cH) * (st * cH)
                self.krawczyk_ok = bool(ok_k and ok_y and ok_s and k0 >= 0 and yn >= 0 and st >= 0)


def augmented_jacobian(anchor: Anchor, jacobian_exp: int) -> np.ndarray:
    """``J' = [[HZ, 2^e WZ], [2^e WZᵀ, 0]]`` (int64), the Jacobian of ``F`` over ``c_H``."""
    HZ = anchor.hessian(None)
    WZ = anchor.tangent()
    m = WZ.shape[1]
    if m == 0:
        return HZ
    if jacobian_exp < 0 or int(np.max(np.abs(WZ))) << jacobian_exp >= 1 << 56:
        raise OverflowRisk("gauge border too large")
    B = WZ << jacobian_exp
    n = HZ.shape[0]
    J = np.zeros((n + m, n + m), dtype=np.int64)
    J[:n, :n] = HZ
    J[:n, n:] = B
    J[n:, :n] = B.T
    return J


def krawczyk_data(anchor: Anchor, jacobian_exp: int) -> KrawczykData | None:
    try:
        J = augmented_jacobian(anchor, jacobian_exp)
    except OverflowRisk:
        return None
    ex = anchor.ex
    F = [int(x) for x in ex.GZ.ravel()] + [0] * (J.shape[0] - ex.U.size)
    return krawczyk_residuals(J, F)


def saddle_chain(center: SaddleCenter, radius: float, precision: int) -> Proof:
    """Bounds and verdict of a strict-saddle certificate of the given radius."""
    ex, an = center.ex, center.anchor
    T = ex.T
    digits = digits_for(precision)
    bounds: dict = {}
    checks: dict = {}
    with ctx.workprec(precision):
        G, g2, g, cH, delta, epsR, a = _center_bounds(center, digits, bounds)
        exact_critical = g2 == 0
        r = arb_of(_fq(radius)) if radius > 0 else arb(0)
        if center.use_krawczyk and an.m:
            # σ = c_H 2^e 2^{q_c}: scale of the gauge border of F (its value is a proposal)
            e2 = center.jacobian_exp + an.qc
            _exact_bound("gauge_border", cH * _pow2(e2), digits, bounds)
        if center.use_krawczyk:
            y = arb_of(_fq(center.inverse_norm))
            kappa = arb_of(_fq(center.kappa0)) + y * (hessian_variation(a, r + delta, T) + epsR)
            step = arb_of(_fq(center.newton_step))
            dist = step / (1 - kappa)
            bounds["kappa"] = interval(kappa, digits)
            bounds["distance"] = interval(dist, digits)
            checks["krawczyk_residuals"] = center.krawczyk_ok
            checks["radius_positive"] = bool(radius > 0 and math.isfinite(radius))
            checks["contraction"] = bool(kappa < 1)
            checks["self_map"] = bool(kappa < 1 and step <= (1 - kappa) * r)
        else:
            dist = arb(0)
            bounds["distance"] = interval(dist, digits)
            checks["gradient_exactly_zero"] = exact_critical
        if center.rayleigh is not None:
            R = arb_of(cH * center.rayleigh)
            lam_up = R + hessian_variation(a, dist + delta, T) + epsR
            bounds["rayleigh_anchor"] = interval(R, digits)
            bounds["lambda_upper"] = interval(lam_up, digits)
            checks["negative_curvature"] = bool(lam_up < 0)
        else:
            checks["negative_curvature"] = False
        # G(U♯) = G(Ũ) ± (g·dist + ½(‖H(c)‖_F + Lip + ε_R)·dist²)
        Hn = arb_of(cH) * sqrt_upper(fmpq(center.hessian_fro_sq))
        Hn = Hn + hessian_variation(a, dist + delta, T) + epsR
        err = g * dist + Hn * dist * dist / 2
        bounds["loss_critical_lower"] = interval(arb_of(G) - err, digits)
        bounds["loss_critical_upper"] = interval(arb_of(G) + err, digits)
        trans_ok = True
        if an.m and center.use_krawczyk:
            margin = sqrt_upper(an.s2) - (dist + delta)
            bounds["transversality_margin"] = interval(margin, digits)
            trans_ok = bool(margin > 0)
            checks["gauge_full_rank"] = bool(an.s2 > 0)
        checks["transversal"] = trans_ok
        bounds["A_center"] = _A_json(ex.A_center(), digits)
    failed = [k for k, v in checks.items() if not v]
    holds = not failed
    statement = []
    if holds:
        lam = float.fromhex(bounds["lambda_upper"]["hi"])
        if center.use_krawczyk:
            iso = (
                f"G has exactly one critical point U♯ with ‖U♯ − Ũ‖_F <= r"
                + (f" on the gauge slice (its {group_name(an.T, center.problem.k)}-orbit consists of "
                   "critical points)" if an.m else "")
                + f"; ‖U♯ − Ũ‖_F <= {float.fromhex(bounds['distance']['hi']):.3g}."
            )
        else:
            iso = ("∇G(Ũ) = 0 exactly (rational arithmetic): U♯ = Ũ is a critical point "
                   "(isolation not claimed).")
        statement = [
            iso,
            f"λ_min(∇²G(U♯)) <= {lam:.6g} < 0: U♯ is a strict saddle of G, and (A(U♯), U♯) is a strict saddle "
            "of the Meta-LoRA objective L (negative curvature of the Schur complement).",
            f"{float.fromhex(bounds['loss_critical_lower']['lo']):.17g} <= G(U♯) <= "
            f"{float.fromhex(bounds['loss_critical_upper']['hi']):.17g}.",
        ]
        summary = (
            f"strict-saddle: critical point within {float.fromhex(bounds['distance']['hi']):.3g} of the point, "
            f"λ_min(∇²G) <= {lam:.4g} there"
        )
    else:
        summary = "failed: " + ", ".join(failed)
    return Proof(holds, "strict-saddle" if holds else None, failed, bounds, checks, statement, summary)
