"""``check_certificate``: re-derive a certificate from its data alone, and compare.

The checker trusts nothing in the file but the *inputs* (problem data and point as exact
binary64, kind, method, radius, gauge, precision and the float proposals). It rebuilds
the proof with the kernel — its own exact integer arithmetic and arb balls, its own
float Cholesky factor or approximate inverse (checked only through the stored
thresholds) — and accepts only if

1. the digest matches (catches edits of fields that no proof step reads: versions,
   timings, the test-task factor ``U_test``);
2. every inequality of the proof holds;
3. the recomputed kind equals the stored kind;
4. every stored bound, check, claim and statement equals the recomputed one exactly
   (so an edited bound, or edited data that changes any recomputed bound, is rejected
   even when the digest was recomputed by the editor).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import flint

from ..errors import InvalidArgument
from ..problem import Problem
from .._backend import blas_threads
from .gauge import resolve_gauge
from .format import FORMAT, digest, float_of_hex, from_hex_array
from .kernel import MinCenter, SaddleCenter, global_chain, min_chain, saddle_chain
from .enclosures import ExactPoint
from .results import CheckResult, KINDS

__all__ = ["check_certificate", "load_certificate"]

_TOP = ("format", "kind", "claim", "statement", "problem", "point", "parameters", "bounds",
        "checks", "versions", "timings", "digest")


def load_certificate(obj) -> dict:
    """A certificate dict from a dict, JSON text or a path (InvalidArgument if unreadable)."""
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, str) and obj.lstrip().startswith("{"):
        text = obj
    elif isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.is_file():
            raise InvalidArgument(
                f"`obj` must be a certificate dict, JSON text or an existing file; got {str(obj)!r}."
            )
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"{path}: cannot read ({exc}).") from None
    else:
        raise InvalidArgument(f"`obj` must be a dict, JSON text or a path; got {type(obj).__name__}.")
    try:
        out = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"certificate is not valid JSON ({exc}).") from None
    if not isinstance(out, dict):
        raise InvalidArgument("certificate must be a JSON object.")
    return out


_MIN_PARAMS = {"method", "radius", "gauge", "precision", "anchor_bits", "penalty_exp", "shift_hz",
               "residual_hz"}
_SADDLE_PARAMS = {"method", "radius", "gauge", "precision", "anchor_bits", "jacobian_exp", "kappa0",
                  "inverse_norm", "newton_step", "direction"}


class _Reject(Exception):
    pass


def _need(cond: bool, why: str):
    if not cond:
        raise _Reject(why)


def _int(params: dict, name: str, low=None, high=None, allow_none=False):
    v = params.get(name)
    if v is None and allow_none:
        return None
    _need(isinstance(v, int) and not isinstance(v, bool), f"parameter {name!r} must be an integer")
    _need((low is None or v >= low) and (high is None or v <= high), f"parameter {name!r} out of range")
    return v


def _hexpos(params: dict, name: str, zero_ok=True) -> float:
    v = float_of_hex(params.get(name))
    ok = math.isfinite(v) and (v > 0 or (zero_ok and v == 0))
    _need(ok, f"parameter {name!r} must be a finite number >= 0")
    return v


def check_certificate(obj) -> CheckResult:
    """Re-check a certificate from its data alone.

    Parameters
    ----------
    obj : dict, str or Path
        The certificate, its JSON text, or a path to it.

    Returns
    -------
    CheckResult
        ``valid`` (bool), ``kind`` (the certified kind when valid), ``reason`` (the first
        problem found, or what was verified) and ``seconds``.

    Raises
    ------
    InvalidArgument
        Only when ``obj`` cannot be read as JSON at all; a readable but wrong certificate
        gives ``valid=False``.
    """
    t0 = time.perf_counter()
    cert = load_certificate(obj)
    try:
        with blas_threads():
            kind = _check(cert)
    except _Reject as exc:
        return CheckResult(False, None, f"rejected: {exc}", time.perf_counter() - t0)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        return CheckResult(False, None, f"rejected: malformed certificate ({type(exc).__name__}: {exc})",
                           time.perf_counter() - t0)
    why = f"valid {kind} certificate: every bound re-derived and every inequality holds"
    return CheckResult(True, kind, why, time.perf_counter() - t0)


def _check(cert: dict) -> str:
    _need(cert.get("format") == FORMAT, f"format must be {FORMAT!r}")
    missing = [k for k in _TOP if k not in cert]
    _need(not missing, f"missing fields {missing}")
    extra = [k for k in cert if k not in _TOP]
    _need(not extra, f"unexpected fields {extra}")
    _need(cert["digest"] == digest(cert), "digest mismatch (the file was edited)")
    kind = cert["kind"]
    _need(kind in KINDS, f"unknown kind {kind!r}")
    problem = Problem.from_json(cert["problem"])
    _need(all(cert["problem"].get(key) == getattr(problem, key) for key in ("d", "k", "T")),
          "problem sizes d, k, T disagree with its arrays")
    _need(set(cert["problem"]) == {"format", "d", "k", "T", "A_star", "U_star", "U_test"},
          "unexpected fields in the problem")
    point = cert["point"]
    _need(isinstance(point, dict) and set(point) == {"U"}, "point must be {'U': ...}")
    U = from_hex_array(point["U"], (problem.T, problem.d, problem.k))
    _need(bool(np.all(np.isfinite(U))), "point has non-finite entries")
    params = cert["parameters"]
    _need(isinstance(params, dict), "parameters must be an object")
    method = params.get("method")
    precision = _int(params, "precision", 53, 4096)
    if kind in ("strict-min", "spurious-min"):
        _need(method == "cholesky-residual", f"method {method!r} cannot prove {kind}")
        proof = _min_proof(problem, U, params, precision)
    elif kind == "global-min":
        _need(method == "exact-zero", f"method {method!r} cannot prove {kind}")
        strict = params.get("strict")
        _need(isinstance(strict, bool), "parameter 'strict' must be a boolean")
        ex = ExactPoint(U, np.asarray(problem.U_star), np.asarray(problem.A_star))
        if strict:
            _need(set(params) == _MIN_PARAMS | {"strict"}, "unexpected parameters for a strict global-min")
            center, r = _min_center(problem, U, params)
            proof = global_chain(center, problem, ex, r, precision)
            _need(proof.checks.get("strict", False), "strictness claimed but not proved")
        else:
            _need(set(params) == {"method", "strict", "precision"},
                  "unexpected parameters for a non-strict global-min")
            proof = global_chain(None, problem, ex, None, precision)
    else:
        _need(method in ("krawczyk", "exact-critical"), f"method {method!r} cannot prove {kind}")
        proof = _saddle_proof(problem, U, params, precision, method)
    _need(proof.holds, "the proof does not go through: " + ", ".join(proof.failed))
    _need(proof.kind == kind, f"the data prove {proof.kind!r}, not {kind!r}")
    _compare(cert["bounds"], proof.bounds, "bounds", cert)
    _need(cert["checks"] == proof.checks, "stored checks differ from the recomputed ones")
    _need(cert["claim"] == proof.summary, "stored claim differs from the recomputed one")
    _need(cert["statement"] == proof.statement, "stored statement differs from the recomputed one")
    return kind


def _compare(stored, recomputed, where: str, cert: dict):
    if stored == recomputed:
        return
    if not isinstance(stored, dict) or set(stored) != set(recomputed):
        raise _Reject(f"{where}: stored entries differ from the recomputed ones")
    same_flint = cert.get("versions", {}).get("python-flint") == flint.__version__
    for key in sorted(recomputed):
        s, r = stored[key], recomputed[key]
        if s == r:
            continue
        if not same_flint and isinstance(s, dict) and {"lo", "hi", "ball"} == set(s) == set(r):
            # another python-flint version may print balls differently: accept equal endpoints
            if s["lo"] == r["lo"] and s["hi"] == r["hi"]:
                continue
        raise _Reject(f"{where}[{key!r}]: stored {_short(s)} != recomputed {_short(r)}")


def _short(x, n: int = 90) -> str:
    text = repr(x)
    return text if len(text) <= n else text[: n - 3] + "..."


def _min_center(problem, U, params):
    gauge = params.get("gauge")
    _need(gauge in ("slice", "none"), "parameter 'gauge' must be 'slice' or 'none'")
    _need(gauge == resolve_gauge(gauge, problem.k, problem.T),
          "gauge 'slice' is meaningless without a continuous symmetry")
    _need(not (gauge == "none" and params.get("penalty_exp") is not None), "penalty without a gauge")
    bits = _int(params, "anchor_bits", 2, 60)
    pen = _int(params, "penalty_exp", 0, 200, allow_none=True)
    shift = params.get("shift_hz")
    _need(isinstance(shift, str) and shift.isdigit(), "parameter 'shift_hz' must be a decimal integer string")
    radius = _hexpos(params, "radius", zero_ok=False)
    tau = _hexpos(params, "residual_hz")
    center = MinCenter(problem, U, gauge, bits, pen, int(shift), tau)
    _need(center.anchor.m > 0 or pen is None, "penalty without gauge columns")
    return center, radius


def _min_proof(problem, U, params, precision):
    _need(set(params) == _MIN_PARAMS, "unexpected parameter set for a minimum")
    center, radius = _min_center(problem, U, params)
    return min_chain(center, radius, precision)


def _saddle_proof(problem, U, params, precision, method):
    _need(set(params) == _SADDLE_PARAMS, "unexpected parameter set for a saddle")
    gauge = params.get("gauge")
    _need(gauge in ("slice", "none"), "parameter 'gauge' must be 'slice' or 'none'")
    _need(gauge == resolve_gauge(gauge, problem.k, problem.T),
          "gauge 'slice' is meaningless without a continuous symmetry")
    bits = _int(params, "anchor_bits", 2, 60)
    jexp = _int(params, "jacobian_exp", 0, 60)
    k0 = _hexpos(params, "kappa0")
    yn = _hexpos(params, "inverse_norm")
    st = _hexpos(params, "newton_step")
    radius = float_of_hex(params.get("radius"))
    v = params.get("direction")
    ints = isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    _need(ints and len(v) == U.size, "parameter 'direction' must be a list of n integers")
    use_k = method == "krawczyk"
    if use_k:
        _need(math.isfinite(radius) and radius > 0, "parameter 'radius' must be > 0")
    else:
        _need(radius == 0 and k0 == 0 and yn == 0 and st == 0,
              "exact-critical certificates have no Krawczyk data")
    center = SaddleCenter(problem, U, gauge, bits, jexp, k0, yn, st, v, use_krawczyk=use_k)
    return saddle_chain(center, radius, precision)
