"""The certificate file format ``metalora.certificate/2`` (JSON) — the only thing the prover
and the independent checker share.

Layout::

    {
      "format": "metalora.certificate/2",
      "kind": "spurious-min" | "strict-min" | "global-min" | "strict-saddle" | "no-local-min",
      "claim": "one line", "statement": ["what was proved", ...],
      "problem": {Problem.to_json(): hex floats},
      "problem_sha256": "<sha256 of the canonical encoding of the exact problem data>",
      "center": {"den": "<decimal>", "Z": nested decimal strings (T, d, k)},   # c = Z/den exactly
      "parameters": {"radius": hex, "gauge": "slice"|"none", "center_bits": int,
                     "precision": int, "direction": [ints] (saddles, no-local-min)},
      "bounds": {name: {"lo": hex} | {"hi": hex} | {"lo": hex, "hi": hex}},
      "versions": {...}, "timings": {...},             # informational, not covered by the digest
      "digest": "sha256:<hex of the canonical JSON of every other field>"
    }

Each bound is a binary64 number with a direction: ``lo`` claims ``lo <= x`` and ``hi``
claims ``x <= hi`` for the exact quantity ``x`` named (see ``docs/certificates.md``).
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

__all__ = [
    "FORMAT",
    "KINDS",
    "BOUND_NAMES",
    "UNDIGESTED",
    "hex_array",
    "from_hex_array",
    "encode_center",
    "decode_center",
    "problem_sha256",
    "digest",
    "canonical",
    "float_of_hex",
]

FORMAT = "metalora.certificate/2"

#: Kinds of certificate.
KINDS = ("global-min", "spurious-min", "strict-min", "strict-saddle", "no-local-min")

#: Bound names and the directions each must carry.
BOUND_NAMES = {
    "loss_center": ("lo", "hi"),
    "grad_norm": ("hi",),
    "center_norm": ("hi",),
    "gauge_s": ("lo",),
    "lambda_center": ("lo",),
    "variation": ("hi",),
    "mu": ("lo",),
    "distance": ("hi",),
    "loss_min": ("lo", "hi"),
    "rayleigh": ("hi",),
    "lambda_upper": ("hi",),
    "hessian_norm": ("hi",),
    "loss_critical": ("lo", "hi"),
}

#: Top-level fields left out of the digest: editing them cannot change what is proved.
UNDIGESTED = ("digest", "versions", "timings")

#: Largest centre denominator accepted (bits).
MAX_DEN_BITS = 4096


def hex_array(arr) -> list | str:
    """Nested lists of ``float.hex`` strings (exact round trip of binary64)."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr).hex()
    return [hex_array(a) for a in arr]


def float_of_hex(x) -> float:
    """A finite binary64 number from a hex string; anything else is refused (ValueError)."""
    if not isinstance(x, str):
        raise ValueError(f"expected a hex-float string, got {x!r}")
    v = float.fromhex(x)
    if not math.isfinite(v):
        raise ValueError(f"non-finite number {x!r}")
    return v


def from_hex_array(obj, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`hex_array`, checking the shape (ValueError on any mismatch)."""

    def conv(x, depth):
        if depth == len(shape):
            return float_of_hex(x)
        if not isinstance(x, list) or len(x) != shape[depth]:
            raise ValueError(f"array of shape {shape} expected")
        return [conv(y, depth + 1) for y in x]

    return np.array(conv(obj, 0), dtype=np.float64).reshape(shape)


def _int_of(x) -> int:
    if not isinstance(x, str) or not x.lstrip("-").isdigit() or len(x) > MAX_DEN_BITS // 3 + 2:
        raise ValueError(f"expected a decimal integer string, got {str(x)[:40]!r}")
    return int(x)


def encode_center(Z: np.ndarray, N: int) -> dict:
    """``{"den": str(N), "Z": nested decimal strings}`` with ``gcd(Z, N) = 1``."""
    import math as _m

    g = int(N)
    for z in Z.ravel():
        g = _m.gcd(g, int(z))
    g = max(g, 1)

    def conv(a):
        if a.ndim == 1:
            return [str(int(x) // g) for x in a]
        return [conv(b) for b in a]

    return {"den": str(int(N) // g), "Z": conv(np.asarray(Z, dtype=object))}


def decode_center(obj, shape: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    """``(Z, N)`` from :func:`encode_center`'s output (ValueError on anything malformed)."""
    if not isinstance(obj, dict) or set(obj) != {"den", "Z"}:
        raise ValueError("center must be {'den', 'Z'}")
    N = _int_of(obj["den"])
    if N < 1 or N.bit_length() > MAX_DEN_BITS:
        raise ValueError("center denominator out of range")

    def conv(x, depth):
        if depth == len(shape):
            v = _int_of(x)
            if v.bit_length() > MAX_DEN_BITS + 64:
                raise ValueError("center entry too large")
            return v
        if not isinstance(x, list) or len(x) != shape[depth]:
            raise ValueError(f"center of shape {shape} expected")
        return [conv(y, depth + 1) for y in x]

    Z = np.empty(shape, dtype=object)
    flat = []

    def walk(x, depth):
        if depth == len(shape):
            flat.append(x)
        else:
            for y in x:
                walk(y, depth + 1)

    walk(conv(obj["Z"], 0), 0)
    Z.ravel()[:] = flat
    return Z, N


def problem_sha256(problem) -> str:
    """SHA-256 of the exact problem data: sizes and every binary64 of ``A*``, ``U*``, ``U_test``.

    The encoding is ``d,k,T`` followed by each array's IEEE-754 big-endian bytes, so two
    problems get the same hash iff their data are bit-for-bit identical (collisions aside).
    """
    h = hashlib.sha256()
    h.update(f"metalora.problem/{problem.d},{problem.k},{problem.T};".encode())
    for arr in (problem.A_star, problem.U_star, problem.U_test):
        h.update(np.ascontiguousarray(arr, dtype=">f8").tobytes())
    return h.hexdigest()


def canonical(obj: dict) -> bytes:
    """Canonical JSON bytes (sorted keys, no whitespace) of the digested fields."""
    body = {k: v for k, v in obj.items() if k not in UNDIGESTED}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def digest(obj: dict) -> str:
    """``sha256:<hex>`` of :func:`canonical`."""
    return "sha256:" + hashlib.sha256(canonical(obj)).hexdigest()
