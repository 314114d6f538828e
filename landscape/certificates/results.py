"""Result objects of :func:`~landscape.certificates.certify` and :func:`~landscape.certificates.check_certificate`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

from ..runs import Result, Status, atomic_write_text

__all__ = ["CertifyResult", "CheckResult", "KINDS"]

from .format import KINDS  # noqa: E402


@dataclasses.dataclass(frozen=True)
class CertifyResult(Result):
    """Outcome of :func:`~landscape.certificates.certify`: ISSUED, REFUSED or UNDECIDED.

    Attributes
    ----------
    status : Status
        ISSUED (exit 0); REFUSED (exit 1): the requested kind does not hold at the point (a
        saddle offered as a minimum, a minimum as a saddle); UNDECIDED (exit 3): nothing could
        be proved (precision limit, degenerate point). Neither refusal means "false" for a claim.
    message : str
        One-line summary of what was proved, or why nothing was.
    kind : str or None
        ``global-min``, ``spurious-min``, ``strict-min``, ``strict-saddle``, ``no-local-min``.
    certificate : dict or None
        The JSON object (what ``metalora certify --out`` writes).
    seconds : float
        Wall time (left out of ``to_json()`` unless ``timing=True``).
    info : dict
        Extra facts about the attempt (e.g. the centre bits used).
    """

    kind: str | None = None
    certificate: dict | None = None
    seconds: float = 0.0
    info: dict = dataclasses.field(default_factory=dict)

    _timing_fields: ClassVar[tuple[str, ...]] = ("seconds",)

    @classmethod
    def refused(cls, why: str, seconds: float, info: dict | None = None, undecided: bool = False) -> "CertifyResult":
        """REFUSED (exit 1: the requested kind does not hold here), or UNDECIDED (exit 3: could
        not prove — precision limit, degenerate point).
        """
        status = Status.UNDECIDED if undecided else Status.REFUSED
        return cls(status, "refused: " + why, None, None, seconds, info or {})

    @classmethod
    def issued_with(cls, kind, claim, cert, seconds, info=None) -> "CertifyResult":
        return cls(Status.ISSUED, claim, kind, cert, seconds, info or {})

    @property
    def issued(self) -> bool:
        """True iff a certificate was issued."""
        return self.status == Status.ISSUED

    @property
    def reason(self) -> str:
        """The message (kept for the old name)."""
        return self.message

    @property
    def bounds(self) -> dict:
        """The certificate's bounds (``{}`` when refused)."""
        return {} if self.certificate is None else self.certificate["bounds"]

    def bound(self, name: str) -> tuple[float, float]:
        """``(lo, hi)`` of a named bound as floats (``-inf``/``inf`` for a missing side)."""
        b = self.bounds[name]
        return (float.fromhex(b["lo"]) if "lo" in b else float("-inf"),
                float.fromhex(b["hi"]) if "hi" in b else float("inf"))

    def save(self, path) -> Path:
        """Write the certificate JSON to ``path`` atomically; refuses when none was issued."""
        from ..errors import InvalidArgument

        if self.certificate is None:
            raise InvalidArgument("no certificate was issued; nothing to save.")
        return atomic_write_text(path, json.dumps(self.certificate, indent=1) + "\n")

    def __repr__(self) -> str:
        return (f"CertifyResult(status={self.status.value!r}, kind={self.kind!r}, "
                f"message={self.message!r}, seconds={self.seconds:.3f})")


@dataclasses.dataclass(frozen=True)
class CheckResult(Result):
    """Outcome of :func:`~landscape.certificates.check_certificate`: ``Status.VALID`` or ``Status.INVALID``.

    ``message`` names the first problem found, or what was verified; ``kind`` is the
    certified kind when valid; ``kernels`` lists the kernels that checked it.
    """

    kind: str | None = None
    seconds: float = 0.0
    kernels: tuple = ()

    _timing_fields: ClassVar[tuple[str, ...]] = ("seconds",)

    @property
    def valid(self) -> bool:
        return self.status == Status.VALID

    @property
    def reason(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"CheckResult(status={self.status.value!r}, kind={self.kind!r}, message={self.message!r}, "
                f"seconds={self.seconds:.3f})")
