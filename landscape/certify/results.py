"""Result objects of :func:`~landscape.certify.certify` and :func:`~landscape.certify.check_certificate`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CertifyResult", "CheckResult", "KINDS"]

#: Kinds of certificate, in the order the issuer tries them.
KINDS = ("global-min", "spurious-min", "strict-min", "strict-saddle")


@dataclass(frozen=True)
class CertifyResult:
    """Outcome of :func:`~landscape.certify.certify`.

    Attributes
    ----------
    issued : bool
        True iff a certificate was issued (every inequality of the proof holds).
    kind : str or None
        ``'strict-min'``, ``'spurious-min'``, ``'strict-saddle'``, ``'global-min'``; ``None``
        when refused.
    reason : str
        Why the proof was refused, or a one-line summary of what was proved.
    certificate : dict or None
        The JSON object (what ``metalora certify --out`` writes).
    seconds : float
        Wall time.
    """

    issued: bool
    kind: str | None
    reason: str
    certificate: dict | None
    seconds: float

    @property
    def bounds(self) -> dict:
        """The certificate's bounds (``{}`` when refused)."""
        return {} if self.certificate is None else self.certificate["bounds"]

    def bound(self, name: str) -> tuple[float, float]:
        """``(lo, hi)`` of a named bound as floats (e.g. ``result.bound("mu")``)."""
        b = self.bounds[name]
        return float.fromhex(b["lo"]), float.fromhex(b["hi"])

    def save(self, path) -> Path:
        """Write the certificate JSON to ``path`` (atomically); refuses when none was issued."""
        from ..errors import InvalidArgument

        if self.certificate is None:
            raise InvalidArgument("no certificate was issued; nothing to save.")
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.certificate, indent=1))
        os.replace(tmp, path)
        return path

    def to_json(self) -> dict:
        return {
            "issued": self.issued,
            "kind": self.kind,
            "reason": self.reason,
            "certificate": self.certificate,
            "seconds": self.seconds,
        }

    def __repr__(self) -> str:
        return (
            f"CertifyResult(issued={self.issued}, kind={self.kind!r}, reason={self.reason!r}, "
            f"seconds={self.seconds:.3f})"
        )


@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`~landscape.certify.check_certificate`.

    ``valid`` is True iff every stored bound was reproduced exactly by an independent
    recomputation from the file's data, every inequality of the proof holds, the kind
    matches, and the digest matches. ``reason`` names the first problem found.
    """

    valid: bool
    kind: str | None
    reason: str
    seconds: float

    def to_json(self) -> dict:
        return {"valid": self.valid, "kind": self.kind, "reason": self.reason, "seconds": self.seconds}

    def __repr__(self) -> str:
        return (f"CheckResult(valid={self.valid}, kind={self.kind!r}, reason={self.reason!r}, "
                f"seconds={self.seconds:.3f})")
