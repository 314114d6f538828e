"""``certify``: propose (floats) → prove (kernel A, :mod:`.prover`) → check (kernel B) → write.

Steps for a float point ``Ũ``:

1. **Canonical form** modulo the symmetry (:func:`canonical_float`), so that a certificate
   names one representative of the orbit.
2. **Centre.** A minimum or a saddle is *polished*: Newton steps whose gradients are exact
   (rational, :class:`~landscape.certificates.exact.Center`) and whose iterates live on the grid
   ``2^-P``, so the centre's gradient is as small as the curvature requires. ``P`` (the
   *centre bits*) starts from an estimate and doubles until the proof succeeds or
   :data:`MAX_CENTER_BITS` is reached. A numerically zero-loss point gets an *exact* zero
   of ``G`` as centre (``U*_tQ_t`` or ``[U*_1 U*_2]M`` with rational ``Q_t ∈ O(k)``,
   ``M ∈ O(k, k)`` from the Cayley transform). A no-local-minimum certificate is centred
   at the canonical float point itself (no critical point is needed).
3. **Proof** with the exact kernel; the first radius that works is used.
4. **Independent check** (:mod:`.checker`) of the finished certificate; a certificate is
   issued only when both kernels agree.
"""

from __future__ import annotations

import math
import warnings
import platform
import time
from fractions import Fraction

import numpy as np
import scipy
import scipy.linalg
import flint
from flint import fmpq, fmpq_mat

from .._backend import blas_threads
from ..validation import check_int, check_U
from ..derivatives import reduced_hessian
from ..errors import InvalidArgument
from ..problem import Problem
from .exact import Center, q_lo
from .format import FORMAT, digest, encode_center, problem_sha256, hex_array  # noqa: F401
from .gauge import GAUGES, group_name, resolve_gauge, tangent_float
from .prover import Proof, Prover, int_direction, lip_inverse, short_down
from .results import CertifyResult
from .statement import render

__all__ = ["certify", "canonical_float", "versions", "MAX_CENTER_BITS", "CERT_KINDS"]

CERT_KINDS = ("auto", "min", "saddle", "no-min")
#: Largest Tdk accepted (the independent checker has the same limit).
MAX_VARIABLES = 3000
#: Largest centre grid tried (bits); beyond it a refusal says "refused at precision P".
MAX_CENTER_BITS = 2048
#: Relative tolerance of the canonical-form conditions (see docs/certificates.md).
CANON_TOL = 2.0**-30


def versions() -> dict:
    from .. import __version__

    return {"metalora": __version__, "python-flint": flint.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "python": platform.python_version()}


# -- canonical form ------------------------------------------------------------------------
def _sign_columns(V: np.ndarray) -> np.ndarray:
    if V.size == 0:
        return V
    idx = np.argmax(np.abs(V), axis=0)
    s = np.sign(V[idx, np.arange(V.shape[1])])
    s[s == 0] = 1
    return V * s


def _eig_rep(P: np.ndarray, k: int, top: bool) -> np.ndarray:
    lam, V = np.linalg.eigh(P)
    if top:
        lam, V = lam[::-1][:k], V[:, ::-1][:, :k]
    else:
        lam, V = -lam[:k], V[:, :k]
    return _sign_columns(V * np.sqrt(np.clip(lam, 0.0, None)))


def canonical_float(U: np.ndarray) -> tuple[np.ndarray, str]:
    """A canonical representative of ``U``'s orbit and the group it is canonical for.

    ``O(k)^T`` (and ``{±1}^T`` for k = 1): ``U_t ↦ V_t diag(√λ_t)`` from the top-k eigenpairs
    of ``U_tU_tᵀ`` (descending), each column signed so that its largest-magnitude entry is
    positive. ``T = 2``: the O(k, k) form ``U_1 = V_+√λ_+``, ``U_2 = V_−√|λ_−|`` from the
    eigenpairs of ``P = U_1U_1ᵀ − U_2U_2ᵀ`` (columns of ``U_1`` orthogonal to those of ``U_2``),
    used when it lies on ``U``'s orbit (``P`` of rank ``2k``); otherwise the per-task form.
    """
    T, d, k = U.shape
    if T == 2 and 2 * k <= d:
        P = U[0] @ U[0].T - U[1] @ U[1].T
        lam = np.linalg.eigvalsh(P)
        scale = max(float(np.max(np.abs(lam))), 1e-300)
        if np.sum(lam > 1e-6 * scale) == k and np.sum(lam < -1e-6 * scale) == k:
            out = np.stack([_eig_rep(P, k, True), _eig_rep(P, k, False)])
            return out, f"O({k},{k})"
    out = np.stack([_eig_rep(U[t] @ U[t].T, k, True) for t in range(T)])
    return out, f"O({k})^T"


# -- helpers -------------------------------------------------------------------------------
def _dyadic_Z(U: np.ndarray) -> tuple[np.ndarray, int]:
    """``U = Z / 2^q`` exactly (Python ints)."""
    flat = np.asarray(U, dtype=np.float64).ravel().tolist()
    ratios = [x.as_integer_ratio() for x in flat]
    q = max((den.bit_length() - 1 for _, den in ratios), default=0)
    Z = np.empty(len(flat), dtype=object)
    Z[:] = [num << (q - (den.bit_length() - 1)) for num, den in ratios]
    return Z.reshape(U.shape), 1 << q


def _float_grad(ctr: Center) -> np.ndarray:
    cg = ctr.grad_scale
    num, den = int(cg.p), int(cg.q)
    return np.array([float(Fraction(int(x) * num, den)) for x in ctr.GZ.ravel()])


def _newton_matrix(problem, Uf, gauge):
    H = reduced_hessian(problem, Uf)
    W = tangent_float(Uf, gauge)
    if W.shape[1]:
        hn = float(np.max(np.abs(H))) or 1.0
        sig = float(np.linalg.eigvalsh(W.T @ W)[0])
        H = H + (4 * hn / max(sig, 1e-300)) * (W @ W.T)
    return H


def _grad_norm(problem, Z, N):
    """``(‖∇G(Z/N)‖ as a float, ∇G float vector, Center)``, or None when it overflows."""
    ctr = Center(problem, Z, N)
    try:
        g = _float_grad(ctr)
    except OverflowError:
        return None
    return float(np.linalg.norm(g)), g, ctr


def _newton_step(problem, ctr, g, gauge, saddle_free: bool) -> np.ndarray | None:
    """A float Newton step ``M⁻¹∇G`` (``|M|⁻¹∇G`` when ``saddle_free``), or None."""
    M = _newton_matrix(problem, ctr.as_float(), gauge)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a proposal: exact quantities judge it
        if saddle_free:
            w, V = np.linalg.eigh((M + M.T) / 2)
            w = np.maximum(np.abs(w), 1e-12 * max(float(np.max(np.abs(w))), 1e-300))
            step = V @ ((V.T @ g) / w)
        else:
            try:
                step = scipy.linalg.solve(M, g, assume_a="sym", check_finite=False)
            except (np.linalg.LinAlgError, ValueError):
                step = np.linalg.lstsq(M, g, rcond=None)[0]
    return step if np.all(np.isfinite(step)) else None


def _halvings(Z, N, step):
    """Trial points ``Z − step·N/2^h`` on the grid (h = 0, 1, ...)."""
    full = [round(Fraction(float(x)) * N) for x in step]
    for h in range(12):
        dZ = np.array([x >> h for x in full], dtype=object)
        if not any(dZ):
            return
        yield Z - dZ.reshape(Z.shape)


def polish(problem, U0: np.ndarray, gauge: str, bits: int, max_steps: int = 40, merit: str = "grad"):
    """Damped Newton on ``∇G`` with exact gradients on the grid ``2^-bits``: ``(Z, N, ‖∇G‖ float)``.

    ``merit="grad"``: Newton steps, each halved until the exact ``‖∇G‖`` decreases.
    ``merit="loss"`` (minima): first saddle-free Newton steps (``|H|⁻¹∇G``, a descent
    direction) halved until the exact ``G`` decreases — this reaches a minimum from outside
    Newton's quadratic basin — then the ``grad`` iteration. Each phase stops when no halving
    helps or progress stalls.
    """
    Z, N = _dyadic_Z(U0)
    q = N.bit_length() - 1
    if q < bits:
        Z = Z * (1 << (bits - q))
    N = 1 << max(bits, q)
    if merit == "loss":
        ctr = Center(problem, Z, N)
        G = ctr.loss()
        for _ in range(max_steps):
            try:
                g = _float_grad(ctr)
            except OverflowError:
                break
            step = _newton_step(problem, ctr, g, gauge, saddle_free=True)
            if step is None:
                break
            for trial in _halvings(Z, N, step):
                c2 = Center(problem, trial, N)
                G2 = c2.loss()
                if G2 < G:
                    Z, ctr, G = trial, c2, G2
                    break
            else:
                break
    cur = _grad_norm(problem, Z, N)
    if cur is None:
        return Z, N, float("inf")
    gn, g, ctr = cur
    slow = 0
    for _ in range(max_steps):
        if gn == 0.0:
            break
        step = _newton_step(problem, ctr, g, gauge, saddle_free=False)
        if step is None:
            break
        accepted = None
        for trial in _halvings(Z, N, step):
            new = _grad_norm(problem, trial, N)
            if new is not None and new[0] < gn:
                accepted = (trial, new)
                break
        if accepted is None:
            break
        Z, (gn_new, g, ctr) = accepted[0], accepted[1]
        slow = slow + 1 if not gn_new < gn / 2 else 0
        gn = gn_new
        if slow >= 4:
            break
    return Z, N, gn


def repolish(problem, Ucan, gauge, bits, merit="grad"):
    """Polish, put the float image back in canonical form, polish again (the second run
    starts at a near-critical point, so its steps barely move along the orbit).
    """
    Z, N, _ = polish(problem, Ucan, gauge, bits, merit=merit)
    U1, _ = canonical_float(Center(problem, Z, N).as_float())
    Z, N, gn = polish(problem, U1, gauge, bits)
    return Z, N, gn


def _grid_limited(gn: float, bits: int, U: np.ndarray) -> bool:
    """Whether the polished gradient is at the level the grid ``2^-bits`` allows (so more bits help)."""
    scale = max(1.0, float(np.max(np.abs(U))))
    return gn <= 2.0 ** (-bits + 24) * scale**3


def _cayley_rational(M_f: np.ndarray, J: np.ndarray):
    """Exact rational ``M`` with ``MJMᵀ = J`` near ``M_f`` (``D·Cay(AJ)``, ``A`` skew), or None."""
    n = M_f.shape[0]
    best = None
    for mask in range(1 << n):
        D = np.diag([(-1.0 if (mask >> i) & 1 else 1.0) for i in range(n)])
        c = np.linalg.cond(D @ M_f + np.eye(n))
        if best is None or c < best[0]:
            best = (c, D)
    if best is None or not np.isfinite(best[0]) or best[0] > 1e8:
        return None
    D = best[1]
    M = D @ M_f
    X = np.linalg.solve(M + np.eye(n), M - np.eye(n))
    A = X @ J
    A = (A - A.T) / 2
    # a coarse dyadic grid keeps det(I − X), hence the centre's common denominator, short
    Aq = fmpq_mat(n, n, [fmpq(int(round(float(x) * 2.0**40)), 1 << 40) for x in A.ravel()])
    for i in range(n):  # exactly skew
        for j in range(i + 1, n):
            Aq[j, i] = -Aq[i, j]
        Aq[i, i] = fmpq(0)
    Jq = fmpq_mat(n, n, [fmpq(int(x)) for x in J.ravel()])
    Xq = Aq * Jq
    I = fmpq_mat(n, n, [fmpq(int(i == j)) for i in range(n) for j in range(n)])
    Mq = (I - Xq).inv() * (I + Xq)
    Dq = fmpq_mat(n, n, [fmpq(int(x)) for x in D.ravel()])
    Mq = Dq * Mq
    if Mq * Jq * Mq.transpose() != Jq:  # pragma: no cover - Cayley is exact
        return None
    return Mq


def exact_zero_center(problem, Ucan: np.ndarray, canon: str):
    """An exact zero of ``G`` near ``Ucan`` on the global-minimum family: ``(Z, N)`` or None."""
    T, d, k = Ucan.shape
    Us = np.asarray(problem.U_star, dtype=np.float64)
    if "," in canon and T == 2:
        S = np.concatenate([Us[0], Us[1]], axis=1)
        Uc = np.concatenate([Ucan[0], Ucan[1]], axis=1)
        J = np.diag([1.0] * k + [-1.0] * k)
        blocks = [(S, Uc, J)]
    else:
        blocks = [(Us[t], Ucan[t], np.eye(k)) for t in range(T)]
    cols = []
    for S, Uc, J in blocks:
        M_f = np.linalg.lstsq(S, Uc, rcond=None)[0]
        Mq = _cayley_rational(M_f, J)
        if Mq is None:
            return None
        Sq = fmpq_mat(S.shape[0], S.shape[1], [fmpq(*float(x).as_integer_ratio()) for x in S.ravel()])
        cols.append(Sq * Mq)
    # split back into tasks and put over one denominator
    ents = []
    if T == 2 and len(cols) == 1:
        C = cols[0]
        for t in range(2):
            ents.append([[C[i, t * k + a] for a in range(k)] for i in range(d)])
    else:
        for C in cols:
            ents.append([[C[i, a] for a in range(k)] for i in range(d)])
    N = 1
    for blk in ents:
        for row in blk:
            for x in row:
                N = N * int(x.q) // math.gcd(N, int(x.q))
    Z = np.empty((T, d, k), dtype=object)
    for t, blk in enumerate(ents):
        for i, row in enumerate(blk):
            for a, x in enumerate(row):
                Z[t, i, a] = int(x.p) * (N // int(x.q))
    return Z, N


def _check_args(problem, U, kind, radius, gauge, precision):
    if not isinstance(problem, Problem):
        raise InvalidArgument(f"`problem` must be a landscape.Problem; got {type(problem).__name__}.")
    U = check_U(problem, U)
    if kind not in CERT_KINDS:
        raise InvalidArgument(f"`kind` must be one of {CERT_KINDS}; got kind={kind!r}.")
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


def certify(problem, U, *, kind="auto", radius=None, gauge="auto", precision=128,
            max_center_bits=MAX_CENTER_BITS, verify=True) -> CertifyResult:
    """Prove what ``U`` is: a strict / spurious / global local minimum, a strict saddle, or a
    point with no local minimum nearby.

    Parameters
    ----------
    problem : Problem
    U : (T, d, k) array
        The float point ``Ũ`` (exact binary64 values are used).
    kind : {"auto", "min", "saddle", "no-min"}
        ``min``: a (strict, spurious or global) minimum; ``saddle``: a strict saddle (an
        isolated critical point with a negative Hessian eigenvalue); ``no-min``: a ball
        containing no local minimum (needs no nondegeneracy). ``auto`` (default): a
        minimum when the float Hessian is positive definite modulo the symmetry, else a
        strict saddle, else ``no-local-min``. A true minimum is refused under ``saddle``
        and ``no-min``.
    radius : float, optional
        Radius of the ball (default: chosen from the bounds).
    gauge : {"auto", "slice", "none"}
        ``auto``/``slice``: work on a slice transversal to the continuous symmetry (O(k)^T,
        and O(k, k) at T = 2); without it every minimum with a continuous symmetry is
        degenerate and is refused.
    precision : int
        Bits of the arb balls of the independent check (at least 128 are used).
    max_center_bits : int
        Finest centre grid tried (the adaptive precision stops here).
    verify : bool
        Run the independent checker before issuing (default True).

    Returns
    -------
    CertifyResult
        ``status`` ISSUED (``kind``, ``certificate``) or REFUSED (``message`` says why, e.g.
        "certificate refused at precision P" or "degenerate critical point"); the properties
        ``issued``, ``reason``.

    Examples
    --------
    >>> import numpy as np
    >>> from landscape import Problem
    >>> p = Problem.random(3, 1, 3, seed=0)
    >>> certify(p, np.zeros((3, 3, 1)), kind="min").issued   # U = 0 is not a minimum
    False
    """
    U, radius, precision = _check_args(problem, U, kind, radius, gauge, precision)
    max_center_bits = check_int("max_center_bits", max_center_bits, low=53, high=8192)
    if U.size > MAX_VARIABLES:  # O(n³) big-integer and ball matrix work; the checker refuses larger files
        raise InvalidArgument(f"certificates are limited to Tdk <= {MAX_VARIABLES} variables (the work grows "
                              f"like (Tdk)³, about a minute at Tdk = 1000); got Tdk = {U.size}.")
    if not np.all(np.abs(U) < 2.0**500):
        raise InvalidArgument("`U` has entries too large to certify (|U| >= 2^500).")
    with blas_threads():
        return _certify(problem, U, kind, radius, gauge, precision, max_center_bits, verify)


#: Refusal reasons that mean "could not decide" (exit 3), as opposed to "the requested kind
#: does not hold at this point" (exit 1: a saddle offered as a minimum, a minimum as a saddle).
_UNDECIDED_MARKS = ("degenerate", "certificate refused at precision", "did not converge", "checker rejected",
                    "could not be proved", "no admissible radius", "proof failed")


def _refuse(t0, why, kind=None, **info) -> CertifyResult:
    undecided = any(m in why for m in _UNDECIDED_MARKS)
    return CertifyResult.refused(why, time.perf_counter() - t0, info=info, undecided=undecided)


def _float_lambda(problem, U, gauge):
    """Float λ_min of ∇²G on the slice (modulo the symmetry) and of the full Hessian, with its vector."""
    H = reduced_hessian(problem, U)
    w, V = np.linalg.eigh(H)
    W = tangent_float(U, gauge)
    if W.shape[1]:
        Q = scipy.linalg.null_space(W.T)
        lam_s = float(np.linalg.eigvalsh(Q.T @ H @ Q)[0]) if Q.shape[1] else float("inf")
    else:
        lam_s = float(w[0])
    return lam_s, float(w[0]), V[:, 0], float(np.max(np.abs(w))) if w.size else 0.0


def _certify(problem, U, kind, radius, gauge, precision, max_bits, verify) -> CertifyResult:
    t0 = time.perf_counter()
    T, k = problem.T, problem.k
    g_res = resolve_gauge(gauge, k, T)
    Ucan, canon = canonical_float(U)
    from ..multistart import problem_scale

    rho = problem_scale(problem)
    lam_s, lam_full, vec, hmax = _float_lambda(problem, Ucan, g_res)
    from landscape.objectives import reduced_loss

    G_f = float(reduced_loss(problem, Ucan))
    attempts = []
    want_min = kind in ("auto", "min")
    # 1. global minima: an exact zero of G as centre
    if want_min and G_f <= 1e-20 * rho * rho:
        out = _try_global(problem, Ucan, canon, g_res, radius, precision, verify, t0)
        if out is not None and out.issued:
            return out
        if out is not None:
            attempts.append(out.message)
    # 2. strict minima (modulo the symmetry)
    if want_min and lam_s > 0:
        out = _try_min(problem, Ucan, canon, g_res, radius, precision, max_bits, verify, t0, lam_s)
        if out.issued or kind == "min":
            return out
        attempts.append(out.message)
    elif kind == "min":
        return _refuse(t0, f"not a minimum: λ_min(∇²G) modulo the symmetry ≈ {lam_s:.3g} <= 0 (float estimate)")
    if lam_s > 0 and kind == "auto":
        return _refuse(t0, "; ".join(a.removeprefix("refused: ") for a in attempts))
    if kind in ("saddle", "no-min") and lam_s > 0:
        return _refuse(t0, f"a minimum (λ_min(∇²G) modulo the symmetry ≈ {lam_s:.3g} > 0) is neither a "
                           "saddle nor a point without local minima nearby")
    # 3. strict saddles
    if kind in ("auto", "saddle") and lam_full < 0:
        out = _try_saddle(problem, Ucan, canon, g_res, radius, precision, max_bits, verify, t0, vec)
        if out.issued or kind == "saddle":
            return out
        attempts.append(out.message)
    elif kind == "saddle":
        return _refuse(t0, f"not a saddle: λ_min(∇²G) ≈ {lam_full:.3g} >= 0 (float estimate)")
    # 4. no local minimum in a ball
    if kind in ("auto", "no-min"):
        if not lam_full < 0:
            attempts.append(f"no negative curvature at the point (λ_min(∇²G) ≈ {lam_full:.3g})")
        else:
            out = _try_nomin(problem, Ucan, canon, radius, precision, verify, t0, vec)
            if out.issued or kind == "no-min":
                return out
            attempts.append(out.message)
    attempts = [a.removeprefix("refused: ") for a in attempts if a]
    return _refuse(t0, "; ".join(attempts) or "nothing could be proved")


def _finish(problem, prover: Prover, proof: Proof, params: dict, precision, verify, t0, info=None):
    center = encode_center(prover.c.Z, prover.c.N)
    params = params | {"center_bits": _center_bits(int(center["den"]))}
    cert = {
        "format": FORMAT,
        "kind": proof.kind,
        "problem": problem.to_json(),
        "problem_sha256": problem_sha256(problem),
        "center": center,
        "parameters": params | {"precision": int(precision)},
        "bounds": {name: {side: float(x).hex() for side, x in b.items()} for name, b in proof.bounds.items()},
    }
    claim, statement = render(cert)
    cert["claim"] = claim
    cert["statement"] = statement
    cert["versions"] = versions()
    cert["timings"] = {"certify_seconds": round(time.perf_counter() - t0, 6)}
    cert["digest"] = digest(cert)
    if verify:
        from .checker import check_certificate

        chk = check_certificate(cert, kernels=("independent",))
        if not chk.valid:
            return _refuse(t0, f"the independent checker rejected the proof ({chk.reason})")
    return CertifyResult.issued_with(proof.kind, claim, cert, time.perf_counter() - t0, info=info or {})


def _center_bits(N: int) -> int:
    return max(0, int(N).bit_length() - 1)


def _try_global(problem, Ucan, canon, gauge, radius, precision, verify, t0):
    zc = exact_zero_center(problem, Ucan, canon)
    if zc is None:
        return None
    Z, N = zc
    pr = Prover(problem, Z, N, gauge)
    if pr.c.loss() != 0:  # pragma: no cover - exact by construction
        return None
    dist = float(np.linalg.norm(pr.c.as_float() - Ucan))
    if dist > 1e-6 * max(1.0, float(np.max(np.abs(Ucan)))):
        return None
    lam, lam_f = pr.lambda_center()
    base = {"gauge": gauge, "canonical": canon, "center_bits": _center_bits(pr.c.N), "method": "exact-zero"}
    if lam is not None:
        a = float(pr.center_bounds()["center_norm"]["hi"])
        radii = [radius] if radius is not None else [short_down(lip_inverse(q_lo(lam) / 2, a, problem.T))]
        for r in radii:
            if r > 0:
                proof = pr.min_proof(r)
                if proof.holds:
                    return _finish(problem, pr, proof, base | {"radius": float(r).hex(), "strict": True},
                                   precision, verify, t0)
    b = pr.center_bounds()
    proof = Proof(True, "global-min", [], {"loss_center": b["loss_center"]}, {})
    return _finish(problem, pr, proof, base | {"radius": float(0).hex(), "strict": False}, precision, verify, t0)


def _start_bits(lam: float, a: float, T: int, scale: float) -> int:
    """Centre bits so that the polished gradient (~2^-P·scale³) is far below μr ≈ λ²T/(64a)."""
    need = lam * lam * T / (64 * max(a, 1e-300)) / 16
    b = int(math.ceil(math.log2(max(scale, 1e-300) ** 3 / max(need, 1e-300)))) + 8
    return max(64, min(b, MAX_CENTER_BITS))


def _try_min(problem, Ucan, canon, gauge, radius, precision, max_bits, verify, t0, lam_s):
    T = problem.T
    scale = max(1.0, float(np.max(np.abs(Ucan))))
    a = max(float(np.linalg.norm(Ucan[t], 2)) for t in range(T))
    bits = min(_start_bits(lam_s, a, T, scale), max_bits)
    last = ""
    while True:
        Z, N, gn = repolish(problem, Ucan, gauge, bits, merit="loss")
        pr = Prover(problem, Z, N, gauge)
        if gauge == "slice" and not pr.s2 > 0:
            return _refuse(t0, "degenerate critical point: the symmetry orbit is not of full dimension "
                               "(rank-deficient factors), so no slice is transversal")
        lam, lam_f = pr.lambda_center()
        if lam is None:
            what = f"modulo the {group_name(T, problem.k)} symmetry " if pr.m else ""
            if lam_f <= 0:
                return _refuse(t0, f"not a strict minimum: the Hessian {what}has a non-positive eigenvalue "
                                   f"(float estimate {lam_f:.3g})")
            return _refuse(t0, f"degenerate critical point or ill-conditioned Hessian: λ_min > 0 could not be "
                               f"proved at the centre (float estimate {lam_f:.3g})")
        bnd = pr.center_bounds()
        a_hi = bnd["center_norm"]["hi"]
        lamf = q_lo(lam)
        g = bnd["grad_norm"]["hi"]
        if radius is not None:
            radii = [radius]
        else:
            radii = [short_down(lip_inverse(lamf / 2, a_hi, T))]
            if g > 0:
                radii.append(float(np.nextafter(4 * g / lamf, np.inf)))
        first = None
        for r in radii:
            if not r > 0:
                continue
            proof = pr.min_proof(r)
            if proof.holds:
                params = {"gauge": gauge, "canonical": canon, "center_bits": _center_bits(pr.c.N),
                          "method": "cholesky", "radius": float(r).hex()}
                if proof.kind == "global-min":  # polishing landed on an exact zero of G
                    params |= {"method": "exact-zero", "strict": True}
                return _finish(problem, pr, proof, params, precision, verify, t0,
                               info={"center_bits": _center_bits(pr.c.N)})
            first = first or proof
        last = first.note if first is not None else "no admissible radius"
        gradient_limited = first is not None and set(first.failed) <= {"gradient_small", "transversal"}
        if not gradient_limited or bits >= max_bits:
            break
        if not _grid_limited(gn, bits, Ucan):
            return _refuse(t0, f"Newton's method did not converge (‖∇G‖ ≈ {gn:.2g} at {bits} centre bits): "
                               "not close to a non-degenerate critical point")
        bits = min(2 * bits, max_bits)
    return _refuse(t0, f"certificate refused at precision {bits} bits ({last})")


def _slice_spectrum(problem, U, gauge) -> np.ndarray:
    """Float eigenvalues of ∇²G restricted to the slice (modulo the symmetry)."""
    H = reduced_hessian(problem, U)
    W = tangent_float(U, gauge)
    if W.shape[1]:
        Q = scipy.linalg.null_space(W.T)
        H = Q.T @ H @ Q
    return np.linalg.eigvalsh(H)


def _try_saddle(problem, Ucan, canon, gauge, radius, precision, max_bits, verify, t0, vec):
    T = problem.T
    ev = _slice_spectrum(problem, Ucan, gauge)
    W = tangent_float(Ucan, gauge)
    if W.shape[1] and np.linalg.matrix_rank(W, tol=1e-9 * max(1.0, float(np.max(np.abs(W))))) < W.shape[1]:
        return _refuse(t0, "saddle: degenerate critical point (rank-deficient factors: the symmetry orbit "
                           "is not of full dimension)")
    if ev.size and float(np.min(np.abs(ev))) <= 1e-9 * float(np.max(np.abs(ev))):
        return _refuse(t0, f"saddle: degenerate critical point (the Hessian modulo the symmetry has an "
                           f"eigenvalue ≈ {ev[np.argmin(np.abs(ev))]:.2g})")
    bits = 64
    last = ""
    while True:
        Z, N, gn = repolish(problem, Ucan, gauge, bits)
        pr = Prover(problem, Z, N, gauge)
        if gauge == "slice" and pr.m and not pr.s2 > 0:
            return _refuse(t0, "saddle: degenerate critical point (rank-deficient factors)")
        Uf = pr.c.as_float()
        w, V = np.linalg.eigh(reduced_hessian(problem, Uf))
        v = int_direction(V[:, 0])
        kd = pr.krawczyk(pr.jacobian_exp())
        if kd is None or not kd[0] < 1:
            return _refuse(t0, "saddle: degenerate critical point (the Jacobian modulo the symmetry is "
                               "singular or ill-conditioned; the Krawczyk test cannot succeed)")
        a = max(float(np.linalg.norm(Uf[t], 2)) for t in range(T))
        k0 = math.sqrt(float(kd[0]))
        y = math.sqrt(float(kd[1]))
        st = math.sqrt(float(kd[2]))
        if radius is not None:
            radii = [radius]
        else:
            rmax = lip_inverse((1 - k0) / 2 / y, a, T) if y > 0 else 0.0
            radii = [short_down(rmax)] + ([float(np.nextafter(4 * st / (1 - k0), np.inf))] if st > 0 else [])
        first = None
        for r in radii:
            if not r > 0:
                continue
            proof = pr.saddle_proof(v, r, kd)
            if proof.holds:
                params = {"gauge": gauge, "canonical": canon, "center_bits": _center_bits(pr.c.N),
                          "method": "krawczyk", "radius": float(r).hex(), "direction": v}
                return _finish(problem, pr, proof, params, precision, verify, t0)
            first = first or proof
        last = first.note if first is not None else "no admissible radius"
        # more centre bits help only when the ball was not mapped into itself
        if bits >= max_bits or first is None or not set(first.failed) <= {"self_map", "transversal"}:
            break
        if not _grid_limited(gn, bits, Ucan):
            last = f"Newton's method did not converge (‖∇G‖ ≈ {gn:.2g})"
            break
        bits = min(4 * bits, max_bits)
    return _refuse(t0, f"saddle: certificate refused at precision {bits} bits ({last})")


def _try_nomin(problem, Ucan, canon, radius, precision, verify, t0, vec):
    T = problem.T
    Z, N = _dyadic_Z(Ucan)
    pr = Prover(problem, Z, N, "none")
    v = int_direction(vec)
    R = float(pr.rayleigh(v))
    if not R < 0:
        return _refuse(t0, f"no-min: no negative curvature along the proposed direction (Rayleigh quotient {R:.3g})")
    a = pr.center_bounds()["center_norm"]["hi"]
    r = radius if radius is not None else short_down(lip_inverse(-R / 2, a, T))
    if not r > 0:
        return _refuse(t0, "no-min: no admissible radius")
    proof = pr.nomin_proof(v, r)
    if not proof.holds:
        return _refuse(t0, f"no-min: proof failed at r = {r:.3g} ({', '.join(proof.failed)})")
    params = {"gauge": "none", "canonical": canon, "center_bits": _center_bits(pr.c.N), "method": "rayleigh",
              "radius": float(r).hex(), "direction": v}
    return _finish(problem, pr, proof, params, precision, verify, t0)
