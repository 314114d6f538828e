"""The independent checker (kernel B): re-derives every printed bound a second way.

It shares only the file format (:mod:`.format`, :mod:`.statement`) with the prover. Its
mathematics is written separately:

- ``G(c)`` and ``∇G(c)`` exactly in rationals (``fmpq_mat``) through the Meta-LoRA form
  ``E_t = A(c) + c_tc_tᵀ − M*_t``, ``A(c) = (1/T)Σ_s (M*_s − c_sc_sᵀ)``, ``G = (1/T)Σ_t‖E_t‖²``,
  ``∇_{U_t}G = (2/T)(E_t + E_tᵀ)c_t`` (the prover uses the reduced ``C_t`` form in integers);
- ``∇²G(c)`` entrywise as an ``arb_mat``: the Schur complement ``H_UU − H_UA H_AA⁻¹ H_AU`` of the
  Meta-LoRA Hessian, ``∇²G_{ts} = δ_ts (2/T)(J_tᵀJ_t + 2 I_k⊗sym E_t) − (2/T²) J_tᵀJ_s`` with
  ``J_t Δ = vec(c_tΔᵀ + Δc_tᵀ)``;
- ``λ_min`` on the slice through the exact orthogonal projector ``P = I − W(WᵀW)⁻¹Wᵀ``:
  ``λ_min(PHP + ρ(I − P)) = min(λ_min(H|ker Wᵀ), ρ)``, bounded below with float eigenvectors
  ``V`` by Ostrowski's theorem and Gershgorin discs of ``VᵀXV`` (the prover uses a shifted
  Cholesky factor and a penalty);
- its own symmetry tangents (from ``MJMᵀ = J``), its own variation bound ``Lip`` from the
  formula in ``docs/certificates.md``, its own Krawczyk inverse for saddles.

Each printed bound is accepted only if the checker's own enclosure implies it (``lo`` at most,
``hi`` at least, what the checker proves), and every inequality of the theorem is re-done
with the printed numbers. No field outside the digested ones influences the verdict; the
recorded versions never relax a check.
"""

from __future__ import annotations

import json
import math
import warnings
import time
from pathlib import Path

import numpy as np
from flint import arb, arb_mat, ctx, fmpq, fmpq_mat

from ..errors import InvalidArgument
from ..problem import Problem
from ..runs import Status
from .format import BOUND_NAMES, FORMAT, KINDS, decode_center, digest, float_of_hex, problem_sha256
from .results import CheckResult
from .statement import render

__all__ = ["check_certificate", "load_certificate", "verify_independent", "CANON_TOL"]

_TOP = {"format", "kind", "claim", "statement", "problem", "problem_sha256", "center", "parameters",
        "bounds", "versions", "timings", "digest"}
#: Largest number of variables Tdk a certificate may have (the check costs O((Tdk)³)).
MAX_N = 3000
#: Relative tolerance of the canonical-form conditions.
CANON_TOL = fmpq(1, 1 << 30)
_REQUIRED = {
    "strict-min": {"loss_center", "grad_norm", "center_norm", "lambda_center", "variation", "mu", "distance",
                   "loss_min"},
    "strict-saddle": {"loss_center", "grad_norm", "center_norm", "distance", "rayleigh", "variation",
                      "lambda_upper", "hessian_norm", "loss_critical"},
    "no-local-min": {"loss_center", "grad_norm", "center_norm", "rayleigh", "variation", "lambda_upper"},
}
_REQUIRED["spurious-min"] = _REQUIRED["strict-min"]


class _Reject(Exception):
    pass


def _need(cond, why: str):
    if not cond:
        raise _Reject(why)


def _no_dupes(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate JSON key(s) {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def load_certificate(obj) -> dict:
    """A certificate dict from a dict, JSON text or a path (InvalidArgument if unreadable)."""
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, str) and obj.lstrip()[:1] in ("{", "["):
        text = obj
    elif isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.is_file():
            raise InvalidArgument(f"`obj` must be a certificate dict, JSON text or an existing file; got {str(obj)!r}.")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"{path}: cannot read ({exc}).") from None
    else:
        raise InvalidArgument(f"`obj` must be a dict, JSON text or a path; got {type(obj).__name__}.")
    try:
        out = json.loads(text, object_pairs_hook=_no_dupes)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"certificate is not valid JSON ({str(exc)[:120]}).") from None
    if not isinstance(out, dict):
        raise InvalidArgument("certificate must be a JSON object.")
    return out


def check_certificate(obj, *, kernels=("independent", "prover")) -> CheckResult:
    """Re-check a certificate from its data alone.

    Parameters
    ----------
    obj : dict, str or Path
        The certificate, its JSON text, or a path to it.
    kernels : tuple of {"independent", "prover"}
        Which kernels must accept it: ``independent`` (this module, arb balls) and/or
        ``prover`` (the issuer's exact kernel re-run on the stored proposals). Both by default.

    Returns
    -------
    CheckResult
        ``status`` VALID or INVALID, ``message`` (the first problem found), ``kind``.

    Raises
    ------
    InvalidArgument
        Only when ``obj`` cannot be read as JSON at all.
    """
    t0 = time.perf_counter()
    kernels = tuple(kernels)
    if not kernels or any(k not in ("independent", "prover") for k in kernels):
        raise InvalidArgument(f"`kernels` must name 'independent' and/or 'prover'; got {kernels!r}.")
    cert = load_certificate(obj)
    kind = None
    for kern in kernels:
        try:
            if kern == "independent":
                kind = verify_independent(cert)
            else:
                from .recheck import recheck

                kind = recheck(cert)
        except _Reject as exc:
            return CheckResult(Status.INVALID, f"rejected ({kern} kernel): {exc}", None,
                               time.perf_counter() - t0, kernels)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, IndexError,
                InvalidArgument, ZeroDivisionError, RecursionError, OverflowError) as exc:
            return CheckResult(Status.INVALID, f"rejected ({kern} kernel): malformed certificate "
                               f"({type(exc).__name__}: {str(exc)[:160]})", None, time.perf_counter() - t0, kernels)
    return CheckResult(Status.VALID, f"valid {kind} certificate: every printed bound re-derived by the "
                       f"{' and '.join(kernels)} kernel(s)", kind, time.perf_counter() - t0, kernels)


# -- structure -------------------------------------------------------------------------------
def parse(cert: dict):
    """Validate the structure; return ``(problem, Z, N, params, bounds)`` (raises _Reject)."""
    _need(isinstance(cert, dict), "certificate must be an object")
    _need(cert.get("format") == FORMAT, f"format must be {FORMAT!r}")
    _need(set(cert) == _TOP, f"fields must be exactly {sorted(_TOP)}")
    _need(isinstance(cert["digest"], str) and cert["digest"] == digest(cert), "digest mismatch (the file was edited)")
    _need(cert["kind"] in KINDS, f"unknown kind {cert['kind']!r}")
    pj = cert["problem"]
    _need(isinstance(pj, dict) and set(pj) == {"format", "d", "k", "T", "A_star", "U_star", "U_test"},
          "unexpected fields in the problem")
    for key in ("d", "k", "T"):
        _need(type(pj[key]) is int, f"problem {key!r} must be an integer")
    problem = Problem.from_json(pj)
    _need(cert["problem_sha256"] == problem_sha256(problem), "problem_sha256 does not match the problem data")
    T, d, k = problem.T, problem.d, problem.k
    _need(T * d * k <= MAX_N, f"problem too large to check (Tdk = {T * d * k} > {MAX_N})")
    Z, N = decode_center(cert["center"], (T, d, k))
    params = cert["parameters"]
    _need(isinstance(params, dict), "parameters must be an object")
    bounds = cert["bounds"]
    _need(isinstance(bounds, dict), "bounds must be an object")
    out = {}
    for name, b in bounds.items():
        _need(name in BOUND_NAMES, f"unknown bound {name!r}")
        _need(isinstance(b, dict) and set(b) == set(BOUND_NAMES[name]),
              f"bound {name!r} must carry exactly {BOUND_NAMES[name]}")
        out[name] = {side: fmpq(*float_of_hex(v).as_integer_ratio()) for side, v in b.items()}
    return problem, Z, N, params, out


def _param_int(params, name, lo, hi):
    v = params.get(name)
    _need(type(v) is int and lo <= v <= hi, f"parameter {name!r} must be an integer in [{lo}, {hi}]")
    return v


# -- exact G and ∇G (Meta-LoRA form) ----------------------------------------------------------
def _q(x: float) -> fmpq:
    return fmpq(*float(x).as_integer_ratio())


def _qmat(a: np.ndarray) -> fmpq_mat:
    r, c = a.shape
    return fmpq_mat(r, c, [_q(x) for x in a.ravel()])


class _Exact:
    """``G(c)``, ``‖∇G(c)‖²``, ``E_t`` and ``c_t`` as exact rationals."""

    def __init__(self, problem, Z, N):
        T, d, k = problem.T, problem.d, problem.k
        self.T, self.d, self.k = T, d, k
        self.c = [fmpq_mat(d, k, [fmpq(int(Z[t, i, a]), N) for i in range(d) for a in range(k)]) for t in range(T)]
        A_star = _qmat(np.asarray(problem.A_star))
        Us = [_qmat(np.asarray(problem.U_star[t])) for t in range(T)]
        M = [A_star + Us[t] * Us[t].transpose() for t in range(T)]
        cc = [self.c[t] * self.c[t].transpose() for t in range(T)]
        A = fmpq_mat(d, d)
        for t in range(T):
            A = A + (M[t] - cc[t])
        A = A * fmpq(1, T)
        self.E = [A + cc[t] - M[t] for t in range(T)]
        self.loss = sum((x * x for t in range(T) for x in self.E[t].entries()), fmpq(0)) / T
        self.grad = [(self.E[t] + self.E[t].transpose()) * self.c[t] * fmpq(2, T) for t in range(T)]
        self.grad_sq = sum((x * x for g in self.grad for x in g.entries()), fmpq(0))


def _psd_small(M: fmpq_mat) -> bool:
    """Exact PSD test of a small symmetric rational matrix (all principal minors >= 0)."""
    n = M.nrows()
    if n > 8:
        # leading minors > 0 (positive definite) suffices for larger k
        return all(fmpq_mat(i, i, [M[a, b] for a in range(i) for b in range(i)]).det() > 0 for i in range(1, n + 1))
    for mask in range(1, 1 << n):
        idx = [i for i in range(n) if (mask >> i) & 1]
        sub = fmpq_mat(len(idx), len(idx), [M[a, b] for a in idx for b in idx])
        if sub.det() < 0:
            return False
    return True


def _canonical(ex: _Exact, canon: str):
    """The canonical-form conditions of docs/certificates.md, decided exactly."""
    T, k = ex.T, ex.k
    if canon == f"O({k},{k})":
        _need(T == 2, "O(k,k) canonical form needs T = 2")
        cross = ex.c[0].transpose() * ex.c[1]
        n2 = max(sum((x * x for x in ex.c[t].entries()), fmpq(0)) for t in range(2))
        _need(all(x * x <= CANON_TOL * CANON_TOL * n2 * n2 for x in cross.entries()),
              "center is not in the canonical form (c_1ᵀc_2 != 0 for the O(k,k) form)")
    else:
        _need(canon == f"O({k})^T", f"unknown canonical form {canon!r}")
    for t in range(T):
        Gm = ex.c[t].transpose() * ex.c[t]
        dmax = max([Gm[a, a] for a in range(k)] + [fmpq(0)])
        tol = CANON_TOL * dmax
        for a in range(k):
            for b in range(k):
                if a != b:
                    _need(abs(Gm[a, b]) <= tol, "center is not in the canonical form (columns not orthogonal)")
            if a + 1 < k:
                _need(Gm[a, a] >= Gm[a + 1, a + 1] - tol, "center is not in the canonical form (column order)")
        for a in range(k):
            col = [ex.c[t][i, a] for i in range(ex.d)]
            big = max(abs(x) for x in col)
            if big > 0:
                first = next(x for x in col if abs(x) >= big * (1 - CANON_TOL))
                _need(first > 0, "center is not in the canonical form (column sign)")


# -- arb Hessian (Schur complement form) -------------------------------------------------------
def _arb_of(x: fmpq) -> arb:
    return arb(int(x.p)) / arb(int(x.q))


def hessian_arb(ex: _Exact) -> arb_mat:
    T, d, k = ex.T, ex.d, ex.k
    n, dk = T * d * k, d * k
    c = [[[_arb_of(ex.c[t][i, a]) for a in range(k)] for i in range(d)] for t in range(T)]
    Jb = arb_mat(d * d, n)
    for t in range(T):
        for i in range(d):
            for a in range(k):
                col = t * dk + i * k + a
                for x in range(d):
                    # J_t[(x, i), (i, a)] += c_t[x, a];  J_t[(i, y), (i, a)] += c_t[y, a]
                    Jb[x * d + i, col] = Jb[x * d + i, col] + c[t][x][a]
                    Jb[i * d + x, col] = Jb[i * d + x, col] + c[t][x][a]
    JtJ = Jb.transpose() * Jb
    H = JtJ * (arb(-2) / arb(T * T))
    two_T = arb(2) / arb(T)
    for t in range(T):
        S = [[(_arb_of(ex.E[t][i, j]) + _arb_of(ex.E[t][j, i])) / 2 for j in range(d)] for i in range(d)]
        o = t * dk
        for p in range(dk):
            i, a = divmod(p, k)
            for q in range(dk):
                j, b = divmod(q, k)
                extra = two_T * JtJ[o + p, o + q]
                if a == b:
                    extra = extra + 2 * two_T * S[i][j]
                H[o + p, o + q] = H[o + p, o + q] + extra
    return H


def tangents(ex: _Exact, T: int, k: int) -> list[list[fmpq]]:
    """Orbit tangents ``vec(cX)`` for a basis of ``{X : XJ + JXᵀ = 0}`` (J = I, or diag(I, −I) at T = 2)."""
    d = ex.d
    cols = []

    def vec(dU):
        return [dU[t][i][a] for t in range(T) for i in range(d) for a in range(k)]

    def zero():
        return [[[fmpq(0)] * k for _ in range(d)] for _ in range(T)]

    for t in range(T):
        for a in range(k):
            for b in range(a + 1, k):
                dU = zero()
                for i in range(d):
                    dU[t][i][b] = ex.c[t][i, a]
                    dU[t][i][a] = -ex.c[t][i, b]
                cols.append(vec(dU))
    if T == 2:
        for a in range(k):
            for b in range(k):
                dU = zero()
                for i in range(d):
                    dU[0][i][a] = ex.c[1][i, b]
                    dU[1][i][b] = ex.c[0][i, a]
                cols.append(vec(dU))
    return [col for col in cols if any(x != 0 for x in col)]


_U = 2.0**-53
_TINY = 2.0**-1060


def _mid_rad(M: arb_mat) -> tuple[np.ndarray, np.ndarray]:
    """Float midpoints and radii of an arb_mat (each float within a relative 2^-53)."""
    ents = M.entries()
    mid = np.array([float(x.mid()) for x in ents]).reshape(M.nrows(), M.ncols())
    rad = np.array([float(x.rad()) for x in ents]).reshape(M.nrows(), M.ncols())
    return mid, rad


def _float_mid(M: arb_mat) -> np.ndarray:
    return _mid_rad(M)[0]


def _gershgorin(M: arb_mat) -> tuple[float, float]:
    """``(lower bound of min_i (M_ii − Σ_{j≠i}|M_ij|), upper bound of max_i Σ_j |M_ij|)``.

    Float arithmetic with explicit error terms: ``|x| <= (|fl(mid)| + fl(rad))(1 + 2u)`` for a
    ball ``x``, and a float sum of ``n`` non-negative terms is below the exact sum times
    ``1 + 2nu`` is above it (standard model, ``u = 2^-53``); every step rounds outward by a
    further relative ``4u``.
    """
    n = M.nrows()
    mid, rad = _mid_rad(M)
    absu = (np.abs(mid) + rad) * (1 + 4 * _U) + _TINY
    diag_lo = np.diag(mid) - (np.abs(np.diag(mid)) + np.diag(rad)) * (1 + 4 * _U) * 2 * _U - np.diag(rad) - _TINY
    off = absu.sum(axis=1) - np.diag(absu)
    grow = 1 + 4 * (n + 2) * _U
    off_up = off * grow + np.diag(absu) * 8 * (n + 2) * _U + _TINY
    low = diag_lo - off_up
    low = low - np.abs(low) * 4 * _U - (np.abs(diag_lo) + off_up) * 4 * _U
    rows = absu.sum(axis=1) * grow + _TINY
    return float(np.min(low)), float(np.max(rows) * (1 + 4 * _U))


def _gram_rowsum_upper(V: np.ndarray) -> float:
    """An upper bound on ``max_i Σ_j |(VᵀV)_ij|`` (hence on ``λ_max(VᵀV)``) for a float matrix ``V``.

    Float products obey ``|fl(AB) − AB| <= γ_n |A||B|`` (``γ_n = nu/(1 − nu)``, any summation
    order, FMA or not); applied to ``VᵀV`` and to ``|V|ᵀ|V|`` itself, then a float row sum
    with its own ``(1 + 2nu)`` factor and a final relative ``4u``.
    """
    n = V.shape[0]
    g = n * _U / (1 - n * _U)
    N = V.T @ V
    A = np.abs(V).T @ np.abs(V)
    bound = np.abs(N) + g * (1 + g) * A * (1 + 2 * _U) + _TINY
    rows = bound.sum(axis=1) * (1 + 2 * (n + 2) * _U)
    return float(np.max(rows)) * (1 + 4 * _U)


def lambda_min_lower(X: arb_mat) -> arb:
    """A lower bound on ``λ_min`` of the symmetric matrices in ``X``, or -inf.

    Float eigenvectors ``V`` of ``mid(X)``; ``M = VᵀXV`` and ``N = VᵀV`` in ball arithmetic.
    Ostrowski: ``λ_k(VᵀXV) = θ_k λ_k(X)`` with ``θ_k ∈ [λ_min(N), λ_max(N)]``, so
    ``λ_min(M) >= m0 > 0`` (Gershgorin) gives ``λ_min(X) >= m0 / λ_max(N)``, and
    ``λ_max(N) <=`` its largest absolute row sum.
    """
    Xf = _float_mid(X)
    Xf = (Xf + Xf.T) / 2
    _, V = np.linalg.eigh(Xf)
    Va = arb_mat(V.tolist())
    M = Va.transpose() * X * Va
    m0, _ = _gershgorin(M)
    nmax = _gram_rowsum_upper(V)
    if not m0 > 0:
        return arb.neg_inf()
    return arb(m0) / arb(nmax)


def lambda_min_slice(H: arb_mat, W: arb_mat | None, WtW: arb_mat | None) -> arb:
    """A lower bound on ``λ_min(H|ker Wᵀ)`` (or on ``λ_min(H)`` without ``W``), or -inf.

    With the exact orthogonal projector ``P = I − W(WᵀW)⁻¹Wᵀ`` and ``ρ > 0``,
    ``X = PHP + ρ(I − P)`` has ``λ_min(X) = min(λ_min(H|ker Wᵀ), ρ)``. For float
    eigenvectors ``V`` of (a float image of) ``X``, ``VᵀXV = (PV)ᵀH(PV) + ρ (WᵀV)ᵀ(WᵀW)⁻¹(WᵀV)``
    is formed in ball arithmetic without any n × n projector; then Ostrowski and
    Gershgorin as in :func:`lambda_min_lower`.
    """
    Hf = _float_mid(H)
    Hf = (Hf + Hf.T) / 2
    n = Hf.shape[0]
    if W is None:
        return lambda_min_lower(H)
    try:
        Ginv = WtW.inv()
    except ZeroDivisionError:
        raise _Reject("the orbit tangents are dependent: no transversal slice") from None
    Wf = _float_mid(W)
    Pf = np.eye(n) - Wf @ np.linalg.solve(Wf.T @ Wf, Wf.T)
    rho_f = max(1.0, 1.5 * float(np.linalg.norm(Hf)))
    Xf = Pf @ Hf @ Pf + rho_f * (np.eye(n) - Pf)
    _, V = np.linalg.eigh((Xf + Xf.T) / 2)
    Va = arb_mat(V.tolist())
    WtV = W.transpose() * Va
    PV = Va - W * (Ginv * WtV)
    M = PV.transpose() * H * PV + (WtV.transpose() * Ginv * WtV) * arb(rho_f)
    m0, _ = _gershgorin(M)
    nmax = _gram_rowsum_upper(V)
    if not m0 > 0:
        return arb.neg_inf()
    return arb(m0) / arb(nmax)


def lip_arb(a: arb, rho: arb, T: int) -> arb:
    """``Lip(ρ) = [16aρ + 8ρ² + 8(1 − 1/T)(2aρ + ρ²)] / T`` (docs/certificates.md)."""
    om = arb(1) - arb(1) / arb(T)
    return (arb(16) * a * rho + arb(8) * rho * rho + arb(8) * om * (arb(2) * a * rho + rho * rho)) / arb(T)


# -- the check -----------------------------------------------------------------------------------
def verify_independent(cert: dict) -> str:
    """Check ``cert`` with kernel B; return its kind or raise ``_Reject``."""
    problem, Z, N, params, B = parse(cert)
    kind = cert["kind"]
    T, k = problem.T, problem.k
    prec = max(128, _param_int(params, "precision", 53, 4096))
    base = {"gauge", "canonical", "center_bits", "method", "radius", "precision"}
    extra = {"global-min": {"strict"}, "strict-saddle": {"direction"}, "no-local-min": {"direction"}}.get(kind, set())
    _need(set(params) == base | extra, f"parameters must be exactly {sorted(base | extra)}")
    gauge = params["gauge"]
    _need(gauge in ("slice", "none"), "parameter 'gauge' must be 'slice' or 'none'")
    _need(params["center_bits"] == max(0, N.bit_length() - 1), "parameter 'center_bits' does not match the centre")
    r = fmpq(*float_of_hex(params["radius"]).as_integer_ratio())
    ex = _Exact(problem, Z, N)
    _canonical(ex, params["canonical"])
    G, g2 = ex.loss, ex.grad_sq
    # loss and gradient: exact comparisons
    lc = B.get("loss_center")
    _need(lc is not None and lc["lo"] <= G <= lc["hi"], "loss_center does not enclose G(c)")
    if kind == "global-min":
        return _global(cert, ex, params, B, r, prec, gauge)
    _need(set(B) == _REQUIRED[kind] | ({"gauge_s"} if gauge == "slice" and kind != "no-local-min" else set()),
          f"bounds must be exactly the {kind} set")
    gh = B["grad_norm"]["hi"]
    _need(gh >= 0 and gh * gh >= g2, "grad_norm does not bound ‖∇G(c)‖")
    a = B["center_norm"]["hi"]
    _need(a >= 0, "center_norm must be >= 0")
    for t in range(T):
        Gm = ex.c[t].transpose() * ex.c[t]
        Mq = fmpq_mat(k, k, [(a * a if i == j else 0) - Gm[i, j] for i in range(k) for j in range(k)])
        _need(_psd_small(Mq), "center_norm does not bound max_t ‖c_t‖₂")
    with ctx.workprec(prec):
        H = hessian_arb(ex)
        if kind in ("strict-min", "spurious-min"):
            _min(cert, ex, params, B, r, H, gauge, kind)
        elif kind == "no-local-min":
            _nomin(ex, params, B, r, H)
        else:
            _saddle(ex, params, B, r, H, gauge)
    claim, statement = render(cert)
    _need(cert["claim"] == claim, "stored claim differs from the rendering of the bounds")
    _need(cert["statement"] == statement, "stored statement differs from the rendering of the bounds")
    return kind


def _A(x: fmpq) -> arb:
    return _arb_of(x)


def _gauge_check(ex, B, gauge, T, k):
    """Tangent span at c; checks gauge_s; returns the arb W (n × m) or None."""
    if gauge != "slice":
        return None
    cols = tangents(ex, T, k)
    _need(cols, "gauge 'slice' without a continuous symmetry")
    m = len(cols)
    n = len(cols[0])
    W = arb_mat(n, m)
    for j, col in enumerate(cols):
        for i, x in enumerate(col):
            if x != 0:
                W[i, j] = _A(x)
    WtW = W.transpose() * W
    s = B["gauge_s"]["lo"]
    _need(s >= 0, "gauge_s must be >= 0")
    lam = lambda_min_lower(WtW)
    _need(lam.is_finite() and _A(s) * _A(s) <= lam / 2, "gauge_s is not proved (WᵀW)")
    return W, WtW


def _min(cert, ex, params, B, r, H, gauge, kind):
    T, k = ex.T, ex.k
    _need(params["method"] == "cholesky", "minimum certificates use method 'cholesky'")
    Wg = _gauge_check(ex, B, gauge, T, k)
    lam = lambda_min_slice(H, None if Wg is None else Wg[0], None if Wg is None else Wg[1])
    lc = B["lambda_center"]["lo"]
    _need(_A(lc) <= lam, "lambda_center is not proved (λ_min at the centre)")
    var = lip_arb(_A(B["center_norm"]["hi"]), _A(r), T)
    _need(_A(B["variation"]["hi"]) >= var, "variation does not bound Lip(r)")
    mu = B["mu"]["lo"]
    _need(mu <= lc - B["variation"]["hi"], "mu exceeds lambda_center − variation")
    g = B["grad_norm"]["hi"]
    _need(mu > 0, "mu <= 0: no strong convexity")
    _need(r > 0 and g < mu * r, "the gradient bound is not below μ·r")
    _need(B["distance"]["hi"] >= g / mu, "distance does not bound g/μ")
    lo = B["loss_center"]["lo"] - g * g / (2 * mu)
    _need(B["loss_min"]["lo"] <= lo and B["loss_min"]["hi"] >= B["loss_center"]["hi"], "loss_min is not implied")
    if gauge == "slice":
        _need(B["gauge_s"]["lo"] > B["distance"]["hi"], "transversality fails (gauge_s <= distance)")
    spurious = B["loss_min"]["lo"] > 0
    _need(kind == ("spurious-min" if spurious else "strict-min"), f"the bounds prove {'spurious' if spurious else 'strict'}-min, not {kind}")


def _global(cert, ex, params, B, r, prec, gauge):
    _need(params["method"] == "exact-zero", "global-min certificates use method 'exact-zero'")
    _need(ex.loss == 0, "G(c) != 0: not a global minimum")
    strict = params["strict"]
    _need(isinstance(strict, bool), "parameter 'strict' must be a boolean")
    if strict:
        need = {"loss_center", "grad_norm", "center_norm", "lambda_center", "variation", "mu", "distance",
                "loss_min"} | ({"gauge_s"} if gauge == "slice" else set())
        _need(set(B) == need, "bounds must be exactly the strict global-min set")
        a = B["center_norm"]["hi"]
        T, k = ex.T, ex.k
        for t in range(T):
            Gm = ex.c[t].transpose() * ex.c[t]
            Mq = fmpq_mat(k, k, [(a * a if i == j else 0) - Gm[i, j] for i in range(k) for j in range(k)])
            _need(_psd_small(Mq), "center_norm does not bound max_t ‖c_t‖₂")
        with ctx.workprec(prec):
            H = hessian_arb(ex)
            # the min chain with the loss exactly zero: spurious is impossible
            _min_global(cert, ex, params, B, r, H, gauge)
    else:
        _need(set(B) == {"loss_center"} and r == 0, "a non-strict global-min has only loss_center and radius 0")
    claim, statement = render(cert)
    _need(cert["claim"] == claim, "stored claim differs from the rendering of the bounds")
    _need(cert["statement"] == statement, "stored statement differs from the rendering of the bounds")
    return "global-min"


def _min_global(cert, ex, params, B, r, H, gauge):
    saved = dict(params)
    saved["method"] = "cholesky"
    _min(cert, ex, saved, B, r, H, gauge, "strict-min")


def _direction(params, n):
    v = params["direction"]
    _need(isinstance(v, list) and len(v) == n and all(type(x) is int for x in v) and any(v),
          "parameter 'direction' must be a non-zero list of n integers")
    _need(all(abs(x) < 1 << 62 for x in v), "direction entries too large")
    return v


def _rayleigh(H: arb_mat, v) -> arb:
    n = H.nrows()
    va = arb_mat(n, 1, [arb(x) for x in v])
    num = (va.transpose() * H * va)[0, 0]
    return num / arb(sum(x * x for x in v))


def _nomin(ex, params, B, r, H):
    _need(params["method"] == "rayleigh" and params["gauge"] == "none", "no-local-min uses method 'rayleigh', gauge 'none'")
    v = _direction(params, H.nrows())
    R = _rayleigh(H, v)
    _need(_A(B["rayleigh"]["hi"]) >= R, "rayleigh does not bound the Rayleigh quotient at c")
    _need(r > 0, "radius must be > 0")
    var = lip_arb(_A(B["center_norm"]["hi"]), _A(r), ex.T)
    _need(_A(B["variation"]["hi"]) >= var, "variation does not bound Lip(r)")
    up = B["rayleigh"]["hi"] + B["variation"]["hi"]
    _need(B["lambda_upper"]["hi"] >= up, "lambda_upper is below rayleigh + variation")
    _need(B["lambda_upper"]["hi"] < 0, "lambda_upper >= 0: no negative curvature on the ball")


def _fro_hi(M: arb_mat) -> arb:
    s = arb(0)
    for i in range(M.nrows()):
        for j in range(M.ncols()):
            s += M[i, j] * M[i, j]
    return s.sqrt()


def _saddle(ex, params, B, r, H, gauge):
    T, k = ex.T, ex.k
    _need(params["method"] == "krawczyk", "strict-saddle certificates use method 'krawczyk'")
    _need(r > 0, "radius must be > 0")
    n = H.nrows()
    v = _direction(params, n)
    Wg = _gauge_check(ex, B, gauge, T, k)
    m = 0 if Wg is None else Wg[0].ncols()
    Nn = n + m
    hn = max(1.0, float(np.max(np.abs(_float_mid(H)))))
    J = arb_mat(Nn, Nn)
    for i in range(n):
        for j in range(n):
            J[i, j] = H[i, j]
    if m:
        W = Wg[0]
        wn = max(1e-300, float(np.max(np.abs(_float_mid(W)))))
        sigma = arb(2.0 ** round(math.log2(hn / wn)))
        for i in range(n):
            for j in range(m):
                J[i, n + j] = sigma * W[i, j]
                J[n + j, i] = sigma * W[i, j]
    Jf = _float_mid(J)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Yf = np.linalg.inv(Jf)
    except np.linalg.LinAlgError:
        raise _Reject("the Jacobian at the centre is singular (own inverse)") from None
    _need(bool(np.all(np.isfinite(Yf))), "the Jacobian at the centre is singular (own inverse)")
    Y = arb_mat(Yf.tolist())
    R0 = Y * J
    for i in range(Nn):
        R0[i, i] = R0[i, i] - 1
    k0 = _fro_hi(R0)
    yn = _fro_hi(Y)
    F = arb_mat(Nn, 1)
    idx = 0
    for t in range(T):
        for i in range(ex.d):
            for a in range(k):
                F[idx, 0] = _A(ex.grad[t][i, a])
                idx += 1
    step = _fro_hi(Y * F)
    a_hi = _A(B["center_norm"]["hi"])
    kappa = k0 + yn * lip_arb(a_hi, _A(r), T)
    _need(kappa < 1, "Krawczyk: no contraction on the ball (own inverse)")
    _need(step <= (1 - kappa) * _A(r), "Krawczyk: the ball is not mapped into itself (own inverse)")
    dist = B["distance"]["hi"]
    _need(dist <= r, "distance exceeds the radius")
    if not step / (1 - kappa) <= _A(dist):
        kd = k0 + yn * lip_arb(a_hi, _A(dist), T)
        _need(kd < 1 and step <= (1 - kd) * _A(dist), "distance is not proved (own Krawczyk)")
    if gauge == "slice":  # s > r: the critical points of G|S in the ball are the zeros (U, 0) of F
        _need(B["gauge_s"]["lo"] > r, "transversality fails (gauge_s <= radius)")
    R = _rayleigh(H, v)
    _need(_A(B["rayleigh"]["hi"]) >= R, "rayleigh does not bound the Rayleigh quotient at c")
    var = lip_arb(a_hi, _A(dist), T)
    _need(_A(B["variation"]["hi"]) >= var, "variation does not bound Lip(distance)")
    _need(B["lambda_upper"]["hi"] >= B["rayleigh"]["hi"] + B["variation"]["hi"], "lambda_upper is too small")
    _need(B["lambda_upper"]["hi"] < 0, "lambda_upper >= 0: no negative curvature")
    _need(_A(B["hessian_norm"]["hi"]) >= _fro_hi(H), "hessian_norm does not bound ‖∇²G(c)‖_F")
    g = B["grad_norm"]["hi"]
    err = g * dist + (B["hessian_norm"]["hi"] + B["variation"]["hi"]) * dist * dist / 2
    _need(B["loss_critical"]["lo"] <= B["loss_center"]["lo"] - err
          and B["loss_critical"]["hi"] >= B["loss_center"]["hi"] + err, "loss_critical is not implied")
