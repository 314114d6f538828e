"""The certificate file format ``metalora.certificate/1`` (JSON).

Layout (every number that enters a proof is exact)::

    {
      "format": "metalora.certificate/1",
      "kind": "spurious-min" | "strict-min" | "global-min" | "strict-saddle",
      "claim": "one line",
      "statement": ["what was proved", ...],
      "problem": {Problem.to_json(): hex floats},
      "point": {"U": nested hex floats (T, d, k)},
      "parameters": {"method": ..., "radius": hex, "gauge": "slice"|"none",
                     "precision": int, "anchor_bits": int, ...method-specific proposals},
      "bounds": {name: {"lo": hex, "hi": hex, "ball": "[mid +/- rad]"}, ...},
      "checks": {name: true, ...},
      "versions": {...}, "timings": {...},
      "digest": "sha256:<hex of the canonical JSON of everything else>"
    }

``lo``/``hi`` are binary64 numbers with ``lo <= x <= hi`` for the exact quantity ``x`` (outward
rounding of the arb ball); ``ball`` is the arb ball at the certificate's precision. The
checker recomputes every bound and requires the stored entry to be *identical*.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
from flint import arb

__all__ = [
    "FORMAT",
    "hex_array",
    "from_hex_array",
    "interval",
    "digest",
    "canonical",
    "float_of_hex",
]

FORMAT = "metalora.certificate/1"


def hex_array(arr) -> list | str:
    """Nested lists of ``float.hex`` strings (exact round trip of binary64)."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr).hex()
    return [hex_array(a) for a in arr]


def float_of_hex(x) -> float:
    """A binary64 number from a hex string; anything else is refused (ValueError)."""
    if not isinstance(x, str):
        raise ValueError(f"expected a hex-float string, got {x!r}")
    return float.fromhex(x)


def from_hex_array(obj, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`hex_array`, checking the shape (ValueError on any mismatch)."""

    def conv(x, depth):
        if depth == len(shape):
            return float_of_hex(x)
        if not isinstance(x, list) or len(x) != shape[depth]:
            raise ValueError(f"array of shape {shape} expected")
        return [conv(y, depth + 1) for y in x]

    return np.array(conv(obj, 0), dtype=np.float64).reshape(shape)


def _down(a: arb) -> float:
    lo = a.lower()
    f = float(lo)
    while arb(f) > lo:
        f = math.nextafter(f, -math.inf)
    return f


def _up(a: arb) -> float:
    hi = a.upper()
    f = float(hi)
    while arb(f) < hi:
        f = math.nextafter(f, math.inf)
    return f


def interval(a: arb, digits: int) -> dict:
    """``{"lo", "hi", "ball"}`` for an arb ball: binary64 outward rounding plus the ball text."""
    if not a.is_finite():
        return {"lo": float("-inf").hex(), "hi": float("inf").hex(), "ball": "[+/- inf]"}
    return {"lo": _down(a).hex(), "hi": _up(a).hex(), "ball": a.str(digits, radius=True, more=True)}


def canonical(obj: dict) -> bytes:
    """Canonical JSON bytes (sorted keys, no whitespace) of a certificate without its digest."""
    body = {k: v for k, v in obj.items() if k != "digest"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def digest(obj: dict) -> str:
    """``sha256:<hex>`` of :func:`canonical`; any edit of any field changes it."""
    return "sha256:" + hashlib.sha256(canonical(obj)).hexdigest()
