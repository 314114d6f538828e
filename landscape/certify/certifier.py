"""``certify``: propose (floats) → prove (kernel) → write the certificate, or refuse.

The proposals — anchor resolution, gauge penalty, shift, thresholds, approximate inverse,
negative-curvature direction and radius — are chosen here in floating point; the kernel
(:mod:`.kernel`) decides rigorously whether they prove the claim. A few radii are tried
(largest first); the first one that proves the claim is certified.
"""

from __future__ import annotations

import math
from fractions import Fraction
import platform
import time

import numpy as np
import scipy
import scipy.linalg
import flint

from .._validation import check_int, check_U
from ..derivatives import reduced_hessian
from ..errors import InvalidArgument
from ..problem import Problem
from ._exact import OverflowRisk
from .._backend import blas_threads
from .enclosures import Anchor, ExactPoint, cholesky_residual_sq, default_anchor_bits
from .format import FORMAT, digest, hex_array
from .gauge import GAUGES, group_name, resolve_gauge, tangent_float
from .kernel import (
    MinCenter,
    Proof,
    SaddleCenter,
    global_chain,
    krawczyk_data,
    min_chain,
    saddle_chain,
)
from .results import CertifyResult

__all__ = ["certify", "short_up", "short_down", "versions"]

_KINDS = ("auto", "min", "saddle")


def short_up(x: float, bits: int = 3) -> float:
    """Smallest binary64 number with ``bits`` significant bits that is ``>= x`` (x >= 0)."""
    if x <= 0:
        return 0.0
    m, e = math.frexp(x)
    return math.ldexp(math.ceil(m * 2**bits), e - bits)


def short_down(x: float, bits: int = 3) -> float:
    """Largest binary64 number with ``bits`` significant bits that is ``<= x`` (x > 0)."""
    if x <= 0:
        return 0.0
    m, e = math.frexp(x)
    return math.ldexp(math.floor(m * 2**bits), e - bits)


def versions() -> dict:
    from .. import __version__

    return {
        "metalora": __version__,
        "python-flint": flint.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def _lip_inverse(L: float, a: float, T: int) -> float:
    """Float ``ρ`` with ``Lip(ρ) = L`` (a proposal only)."""
    if L <= 0:
        return 0.0
    om = 1 - 1 / T
    alpha = (16 + 16 * om) * a
    beta = 8 + 8 * om
    return (-alpha + math.sqrt(alpha * alpha + 4 * beta * T * L)) / (2 * beta)


def _fl(x) -> float:
    """Nearest float of an fmpq/int (handles huge numerators and denominators)."""
    if hasattr(x, "p"):
        return float(Fraction(int(x.p), int(x.q)))
    return float(x)


def _check_args(problem, U, kind, radius, gauge, precision):
    if not isinstance(problem, Problem):
        raise InvalidArgument(f"`problem` must be a landscape.Problem; got {type(problem).__name__}.")
    U = check_U(problem, U)
    if kind not in _KINDS:
        raise InvalidArgument(f"`kind` must be one of {_KINDS}; got kind={kind!r}.")
    if radius is not None:
        if isinstance(radius, bool) or not isinstance(radius, (int, float, np.floating, np.integer)):
            raise InvalidArgument(f"`radius` must be None or a positive number; got radius={radius!r}.")
        radius = float(radius)
        if not (math.isfinite(radius) and radius > 0):
            raise InvalidArgument(f"`radius` must be None or a finite number > 0; got radius={radius}.")
    if gauge not in GAUGES:
        raise InvalidArgument(f"`gauge` must be one of {GAUGES}; got gauge={gauge!r}.")
    precision = check_int("precision", precision, low=53, high=4096)
    return U, radius, precision


def certify(problem, U, *, kind="auto", radius=None, gauge="auto", precision=128) -> CertifyResult:
    """Prove that ``U`` is (near) a strict/spurious/global local minimum or a strict saddle of ``G``.

    Parameters
    ----------
    problem : Problem
    U : (T, d, k) array
        The point ``Ũ`` (exact binary64 values are used).
    kind : {"auto", "min", "saddle"}
        What to prove. ``auto`` tries a minimum when the (gauge-fixed) float Hessian is
        positive definite and a saddle otherwise; an exact zero of ``G`` gives a
        ``global-min`` certificate.
    radius : float, optional
        Radius of the ball around ``U``. By default a few radii are tried, largest first.
    gauge : {"auto", "slice", "none"}
        ``auto``/``slice``: for ``k > 1`` work on the slice transversal to the O(k) orbit
        (without it every minimum is degenerate and is refused).
    precision : int
        Working precision (bits) of the arb ball arithmetic for the final inequalities.

    Returns
    -------
    CertifyResult
        ``issued`` with the ``kind`` and the JSON ``certificate``, or a refusal with its
        ``reason``. Never raises for a point that is simply not certifiable.

    Notes
    -----
    Kinds: ``strict-min`` (unique critical point in the ball, a strict local minimum
    modulo symmetry, ``G(U♯)`` enclosed), ``spurious-min`` (the same with ``G(U♯) > 0``
    proved), ``global-min`` (``G(U) = 0`` exactly; strictness recorded when proved),
    ``strict-saddle`` (an enclosed critical point with a proven negative Hessian
    eigenvalue). See :mod:`landscape.certify.kernel` for the theorems and
    ``docs/certificates.md`` for what is rigorous.

    Examples
    --------
    >>> import numpy as np
    >>> from landscape import Problem
    >>> p = Problem.random(3, 1, 3, seed=0)
    >>> certify(p, np.zeros((3, 3, 1)), kind="min").issued   # U = 0 is a saddle
    False
    """
    U, radius, precision = _check_args(problem, U, kind, radius, gauge, precision)
    with blas_threads():
        return _certify(problem, U, kind, radius, gauge, precision)


def _certify(problem, U, kind, radius, gauge, precision) -> CertifyResult:
    t0 = time.perf_counter()
    gauge_res = resolve_gauge(gauge, problem.k, problem.T)
    ex = ExactPoint(U, np.asarray(problem.U_star), np.asarray(problem.A_star))
    timings: dict = {}
    reasons = []
    proof = params = None
    if kind in ("auto", "min") and ex.loss() == 0:
        proof, params, note = _propose_global(problem, U, ex, gauge_res, radius, precision)
    else:
        tried_min = False
        if kind in ("auto", "min"):
            proof, params, note, lam = _propose_min(problem, U, ex, gauge_res, radius, precision,
                                                    kind == "auto")
            tried_min = True
            if proof is None:
                reasons.append(note)
        positive = kind == "auto" and tried_min and lam is not None and lam > 0
        if proof is None and kind in ("auto", "saddle") and not positive:
            proof, params, note = _propose_saddle(problem, U, ex, gauge_res, radius, precision)
            if proof is None:
                reasons.append(note)
    seconds = time.perf_counter() - t0
    if proof is None:
        return CertifyResult(False, None, "refused: " + "; ".join(r for r in reasons if r), None, seconds)
    timings["certify_seconds"] = round(seconds, 6)
    cert = build_certificate(problem, U, proof, params, timings)
    return CertifyResult(True, proof.kind, proof.summary, cert, seconds)


def build_certificate(problem, U, proof: Proof, params: dict, timings: dict) -> dict:
    cert = {
        "format": FORMAT,
        "kind": proof.kind,
        "claim": proof.summary,
        "statement": proof.statement,
        "problem": problem.to_json(),
        "point": {"U": hex_array(U)},
        "parameters": params,
        "bounds": proof.bounds,
        "checks": proof.checks,
        "versions": versions(),
        "timings": timings,
    }
    cert["digest"] = digest(cert)
    return cert


# -- minima --------------------------------------------------------------------------------
def _penalty_exp(problem, U, gauge_res) -> int | None:
    """``e`` with ``ρ = 2^{1+e}/T²`` so that ``ρ σ_min(W)² ≈ T²‖H‖_∞`` (a proposal)."""
    Wf = tangent_float(U, gauge_res)
    if Wf.shape[1] == 0:
        return None
    T = problem.T
    H = reduced_hessian(problem, U)
    h_inf = float(np.max(np.sum(np.abs(H), axis=1)))
    sig = float(np.linalg.eigvalsh(Wf.T @ Wf)[0])
    if not (sig > 0):
        return 0
    return min(40, max(0, int(math.ceil(math.log2(max(T * T * h_inf / sig, 1.0))))))


def _anchor(ex, U, problem, penalty_exp, gauge_res):
    bits = default_anchor_bits(U, np.asarray(problem.U_star), penalty_exp)
    while bits >= 4:
        try:
            an = Anchor(ex, bits, gauge_res)
            HZ = an.hessian(penalty_exp)
            return an, HZ, bits
        except OverflowRisk:
            bits -= 2
    raise OverflowRisk("no anchor resolution keeps the Hessian below 2^56")


def _rank_note(an) -> str | None:
    if an.m and not an.s2 > 0:
        return (f"the symmetry tangents at the point are (nearly) dependent (rank-deficient factors): "
                f"the {group_name(an.T, an.ex.U.shape[2])} gauge slice is not transversal (degenerate point)")
    return None


def _min_setup(problem, U, ex, gauge_res):
    """Anchor, penalised Hessian, float λ_min and a proven residual: (center-args, note)."""
    e = _penalty_exp(problem, U, gauge_res)
    an, HZ, bits = _anchor(ex, U, problem, e, gauge_res)
    note = _rank_note(an)
    if note:
        return None, note, None
    HZ_f = HZ.astype(np.float64)
    lam = float(scipy.linalg.eigh(HZ_f, eigvals_only=True, subset_by_index=[0, 0], check_finite=False)[0])
    cH = _fl(an.hessian_scale)
    if not lam > 0:
        what = f"modulo the {group_name(an.T, problem.k)} symmetry " if an.m else ""
        return None, (f"not a strict minimum: the Hessian {what}has a non-positive eigenvalue "
                      f"(float estimate {lam * cH:.3g})"), lam * cH
    best = None
    for frac in (1 - 2.0**-6, 0.75, 0.5, 0.25):
        s = int(math.floor(lam * frac))
        if s <= 0:
            break
        res_sq = cholesky_residual_sq(HZ, s)
        if res_sq is None:
            continue
        tau = short_up(4 * math.sqrt(_fl(res_sq)) + 1.0, 4)
        if s - tau > 0:
            best = (s, tau, res_sq)
            break
    if best is None:
        return None, (f"could not prove λ_min > 0 at the anchor (float λ_min ≈ {lam * cH:.3g}; "
                      "degenerate or ill-conditioned)"), lam * cH
    s, tau, res_sq = best
    return (an, bits, e, s, tau, res_sq), "", lam * cH


def _min_radii(center: MinCenter, radius, g: float) -> list[float]:
    if radius is not None:
        return [radius]
    an = center.anchor
    T = an.T
    mu0 = _fl(an.hessian_scale) * (center.shift_hz - center.residual_hz)
    a = math.sqrt(_fl(an.max_a()))
    delta = math.sqrt(_fl(an.delta_sq))
    epsR = 4 / T * math.sqrt(_fl(an.epsR_sq))
    out = []
    rho = _lip_inverse(mu0 / 2 - epsR, a, T)
    if rho - delta > 0:
        out.append(short_down(rho - delta))
        out.append(short_down((rho - delta) / 8))
    if g > 0 and mu0 > 0:
        out += [short_up(4 * g / mu0), short_up(2.5 * g / mu0)]
    seen, radii = set(), []
    for r in out:
        if r > 0 and r not in seen:
            seen.add(r)
            radii.append(r)
    return radii


def _propose_min(problem, U, ex, gauge_res, radius, precision, auto):
    try:
        setup, note, lam = _min_setup(problem, U, ex, gauge_res)
    except OverflowRisk as exc:
        return None, None, f"minimum: {exc}", None
    if setup is None:
        return None, None, f"minimum: {note}", lam
    an, bits, e, s, tau, res_sq = setup
    center = MinCenter(problem, U, gauge_res, bits, e, s, tau, _residual_sq=res_sq, _anchor=an)
    g = math.sqrt(_fl(ex.grad_sq()))
    radii = _min_radii(center, radius, g)
    if not radii:
        why = "no radius can work (curvature bound too small for the variation bound)"
        return None, None, f"minimum: {why}", lam
    first = None
    for r in radii:
        proof = min_chain(center, r, precision)
        if proof.holds:
            return proof, _min_params(center, r, precision), "", lam
        first = first or proof
    return None, None, f"minimum: proof failed for radii {radii} ({first.summary})", lam


def _min_params(center: MinCenter, r: float, precision: int) -> dict:
    return {
        "method": "cholesky-residual",
        "radius": float(r).hex(),
        "gauge": center.gauge,
        "precision": precision,
        "anchor_bits": center.anchor_bits,
        "penalty_exp": center.penalty_exp,
        "shift_hz": str(int(center.shift_hz)),
        "residual_hz": float(center.residual_hz).hex(),
    }


def _propose_global(problem, U, ex, gauge_res, radius, precision):
    """``G(Ũ) = 0`` exactly: a global minimum; try to add strictness."""
    center = None
    r_ok = None
    try:
        setup, note, lam = _min_setup(problem, U, ex, gauge_res)
    except OverflowRisk:
        setup = None
    if setup is not None:
        an, bits, e, s, tau, res_sq = setup
        center = MinCenter(problem, U, gauge_res, bits, e, s, tau, _residual_sq=res_sq, _anchor=an)
        for r in _min_radii(center, radius, 0.0):
            if min_chain(center, r, precision).holds:
                r_ok = r
                break
    if r_ok is not None:
        proof = global_chain(center, problem, ex, r_ok, precision)
        params = _min_params(center, r_ok, precision) | {"method": "exact-zero", "strict": True}
    else:
        proof = global_chain(None, problem, ex, None, precision)
        params = {"method": "exact-zero", "strict": False, "precision": precision}
    return proof, params, ""


# -- saddles ---------------------------------------------------------------------------------
def _propose_saddle(problem, U, ex, gauge_res, radius, precision):
    bits = default_anchor_bits(U, np.asarray(problem.U_star), None)
    an = None
    while bits >= 4:
        try:
            an = Anchor(ex, bits, gauge_res)
            HZ = an.hessian(None)
            break
        except OverflowRisk:
            bits -= 2
            an = None
    if an is None:
        return None, None, "saddle: no anchor resolution keeps the Hessian below 2^56"
    cH = _fl(an.hessian_scale)
    w, V = scipy.linalg.eigh(HZ.astype(np.float64), subset_by_index=[0, 0], check_finite=False)
    lam = float(w[0])
    if not lam < 0:
        return None, None, f"saddle: no negative curvature at the point (float λ_min ≈ {lam * cH:.3g})"
    v = V[:, 0]
    vZ = [int(x) for x in np.rint(v / np.max(np.abs(v)) * 2.0**15).astype(np.int64)]
    g2 = ex.grad_sq()
    exact_critical = g2 == 0
    note = _rank_note(an)
    if note and not exact_critical:
        return None, None, f"saddle: {note}"
    WZ = an.tangent()
    jexp = 0
    if WZ.shape[1]:
        h_inf = float(np.max(np.sum(np.abs(HZ.astype(np.float64)), axis=1)))
        sig = math.sqrt(_fl(an.s2)) * 2.0**an.qc
        jexp = max(0, int(round(math.log2(max(h_inf / max(sig, 1.0), 1.0)))))
        while jexp > 0 and int(np.max(np.abs(WZ))) << jexp >= 1 << 55:
            jexp -= 1
    kd = None if note else krawczyk_data(an, jexp)
    cgq, cHq = ex.grad_scale, an.hessian_scale
    if kd is not None:
        k0 = short_up(max(4 * math.sqrt(_fl(kd.kappa0_sq)), 2.0**-60), 4)
        yn = short_up(math.sqrt(_fl(kd.ynorm_sq / (cHq * cHq))) * (1 + 2.0**-20), 6)
        st_sq = kd.res_sq * cgq * cgq / (cHq * cHq)
        st = short_up(math.sqrt(_fl(st_sq)) * (1 + 2.0**-20), 6) if st_sq != 0 else 0.0
    if kd is None or not k0 < 0.5:
        if not exact_critical:
            why = "the Jacobian is singular or ill-conditioned" if kd is None else f"‖I − YJ‖ ≈ {k0:.2g}"
            return None, None, f"saddle: the Krawczyk test cannot succeed ({why}; degenerate critical point?)"
        center = SaddleCenter(problem, U, gauge_res, bits, jexp, 0.0, 0.0, 0.0, vZ, use_krawczyk=False,
                              _anchor=an)
        proof = saddle_chain(center, 0.0, precision)
        if proof.holds:
            return proof, _saddle_params(center, 0.0, precision), ""
        return None, None, f"saddle: {proof.summary}"
    center = SaddleCenter(problem, U, gauge_res, bits, jexp, k0, yn, st, vZ, _kdata=kd, _anchor=an)
    if radius is not None:
        radii = [radius]
    else:
        T = an.T
        a = math.sqrt(_fl(an.max_a()))
        delta = math.sqrt(_fl(an.delta_sq))
        epsR = 4 / T * math.sqrt(_fl(an.epsR_sq))
        target = (1 - k0) / 2 / yn - epsR if yn > 0 else 0.0
        rho = _lip_inverse(target, a, T)
        cands = []
        if rho - delta > 0:
            cands += [short_down(rho - delta), short_down((rho - delta) / 8)]
        if st > 0:
            cands += [short_up(4 * st / (1 - k0)), short_up(2.5 * st / (1 - k0))]
        radii = []
        for r in cands:
            if r > 0 and r not in radii:
                radii.append(r)
    first = None
    for r in radii:
        proof = saddle_chain(center, r, precision)
        if proof.holds:
            return proof, _saddle_params(center, r, precision), ""
        first = first or proof
    if exact_critical:
        center2 = SaddleCenter(problem, U, gauge_res, bits, jexp, 0.0, 0.0, 0.0, vZ, use_krawczyk=False,
                              _anchor=an)
        proof = saddle_chain(center2, 0.0, precision)
        if proof.holds:
            return proof, _saddle_params(center2, 0.0, precision), ""
    detail = first.summary if first is not None else "no admissible radius"
    return None, None, f"saddle: proof failed for radii {radii} ({detail})"


def _saddle_params(center: SaddleCenter, r: float, precision: int) -> dict:
    return {
        "method": "krawczyk" if center.use_krawczyk else "exact-critical",
        "radius": float(r).hex(),
        "gauge": center.gauge,
        "precision": precision,
        "anchor_bits": center.anchor_bits,
        "jacobian_exp": center.jacobian_exp,
        "kappa0": float(center.kappa0).hex(),
        "inverse_norm": float(center.inverse_norm).hex(),
        "newton_step": float(center.newton_step).hex(),
        "direction": [int(x) for x in center.direction],
    }
