"""The result of checking one claim: :class:`ClaimResult` and its :class:`Status`.

Every check in :mod:`theorems` returns a :class:`ClaimResult`. A check that finds its claim
false returns ``holds=False``; it does not raise. A check whose hypothesis does not hold on
the instance (e.g. ``Tk > d`` for Thm 3.1, or ``T = 3`` for the ``T = 2``-only Thm 3.4)
returns ``status=Status.ASSUMPTION_NOT_MET`` and ``holds=None``; what was measured anyway
(often the instructive contrast) is still reported.

JSON layout (``ClaimResult.to_json()``) is fixed per result kind and contains no timing:
the same seed gives byte-identical JSON. The wall-clock time is kept apart in
``ClaimResult.seconds`` (``to_json(timing=True)`` adds it under ``"seconds"``).
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["Status", "ClaimResult", "jsonable", "problem_record"]


class Status(str, enum.Enum):
    """Outcome of a check.

    - ``HOLDS``: the claim's conclusion was verified on every instance that meets its
      hypothesis (and there was at least one).
    - ``FAILS``: some instance meeting the hypothesis violates the conclusion, or an input
      passed in as meeting it does not (e.g. a claimed zero-loss point with positive loss).
    - ``ASSUMPTION_NOT_MET``: no instance met the claim's hypothesis (``holds`` is ``None``);
      this is a correct, expected answer for such instances, not a failure.
    - ``UNAVAILABLE``: an optional component the check needs is missing (``holds`` is
      ``None``); the message names it.
    """

    HOLDS = "holds"
    FAILS = "fails"
    ASSUMPTION_NOT_MET = "assumption-not-met"
    UNAVAILABLE = "unavailable"

    def __str__(self) -> str:  # "holds", not "Status.HOLDS"
        return self.value


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples, enums and non-finite floats to plain JSON.

    Non-finite floats become the strings ``"inf"``, ``"-inf"``, ``"nan"`` (JSON has none),
    so :func:`json.dumps` output is strict JSON and deterministic.
    """
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "to_json"):
        return jsonable(obj.to_json())
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def problem_record(problem, *, seed=None, role: str = "claim") -> dict:
    """Identify a problem in a result: sizes, the seed it was drawn with (if known), a
    short SHA-256 fingerprint of its exact data, and its role (``"claim"`` or
    ``"contrast"``: an instance deliberately outside the hypothesis)."""
    import hashlib

    digest = hashlib.sha256(json.dumps(problem.to_json(), sort_keys=True).encode()).hexdigest()
    rec = {"d": problem.d, "k": problem.k, "T": problem.T, "fingerprint": digest[:16], "role": role}
    if seed is not None:
        rec["seed"] = seed
    return rec


@dataclass(frozen=True)
class ClaimResult:
    """Outcome of checking one claim of MATH.md §5 (immutable).

    Attributes
    ----------
    id : str
        Claim id: ``thm3.1``, ``cor1``, ``thm3.2``, ``cor2``, ``thm3.3``, ``cor3``,
        ``thm3.4``, ``t2-nonunique`` or ``spurious-t3``.
    statement : str
        The claim in words (MATH.md conventions).
    holds : bool or None
        ``True``/``False``; ``None`` when the assumption is not met or the check is
        unavailable (see ``status``).
    status : Status
    message : str
        One line: why it holds / fails / does not apply.
    instances : tuple of dict
        One record per instance tried: the problem (sizes, seed, fingerprint, role), its
        own ``status``/``holds`` and the quantities measured on it.
    measured : dict
        Headline quantities over all instances (the worst case of each).
    worst : str
        The single worst measured quantity, in words (for tables).
    tolerance : dict
        Named tolerances used.
    tolerance_reason : str
        Why these tolerances are the right ones.
    seconds : float
        Wall-clock time (not part of the default JSON: timings differ run to run).
    """

    id: str
    statement: str
    holds: bool | None
    status: Status
    message: str
    instances: tuple = ()
    measured: dict = field(default_factory=dict)
    worst: str = ""
    tolerance: dict = field(default_factory=dict)
    tolerance_reason: str = ""
    seconds: float = field(default=0.0, compare=False)

    def __post_init__(self):
        status = Status(self.status)
        object.__setattr__(self, "status", status)
        expected = {Status.HOLDS: True, Status.FAILS: False}.get(status)
        if self.holds is not expected:
            raise ValueError(
                f"`holds` must be {expected} when status={status.value!r}; got holds={self.holds!r}."
            )
        # Stored JSON-ready (plain floats/lists): results compare by value and serialise as is.
        object.__setattr__(self, "instances", tuple(jsonable(list(self.instances))))
        object.__setattr__(self, "measured", jsonable(dict(self.measured)))
        object.__setattr__(self, "tolerance", jsonable(dict(self.tolerance)))

    # -- convenience ------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """True unless the claim failed or could not be run (``verify``'s exit criterion)."""
        return self.status in (Status.HOLDS, Status.ASSUMPTION_NOT_MET)

    def with_seconds(self, seconds: float) -> "ClaimResult":
        return replace(self, seconds=float(seconds))

    def __bool__(self) -> bool:
        return bool(self.holds)

    def __repr__(self) -> str:
        return (
            f"ClaimResult(id={self.id!r}, status={self.status.value!r}, "
            f"instances={len(self.instances)}, worst={self.worst!r}, seconds={self.seconds:.2f})"
        )

    def summary(self) -> str:
        """Multi-line human-readable report."""
        lines = [
            f"{self.id}: {self.status.value.upper()} - {self.message}",
            f"  claim: {self.statement}",
            f"  worst: {self.worst}",
            f"  tolerance: {json.dumps(jsonable(self.tolerance))} ({self.tolerance_reason})",
        ]
        for rec in self.instances:
            p = rec.get("problem", {})
            lines.append(
                f"  - d={p.get('d')} k={p.get('k')} T={p.get('T')} [{p.get('role', 'claim')}]: "
                f"{rec.get('status')} {rec.get('note', '')}".rstrip()
            )
        return "\n".join(lines)

    def to_json(self, *, timing: bool = False) -> dict:
        """A JSON-ready dict with a fixed key set; ``timing=True`` adds ``"seconds"``."""
        out = {
            "id": self.id,
            "statement": self.statement,
            "holds": self.holds,
            "status": self.status.value,
            "message": self.message,
            "worst": self.worst,
            "measured": jsonable(self.measured),
            "tolerance": jsonable(self.tolerance),
            "tolerance_reason": self.tolerance_reason,
            "instances": jsonable(list(self.instances)),
        }
        if timing:
            out["seconds"] = float(self.seconds)
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "ClaimResult":
        return cls(
            id=obj["id"],
            statement=obj["statement"],
            holds=obj["holds"],
            status=Status(obj["status"]),
            message=obj["message"],
            instances=tuple(obj.get("instances", ())),
            measured=dict(obj.get("measured", {})),
            worst=obj.get("worst", ""),
            tolerance=dict(obj.get("tolerance", {})),
            tolerance_reason=obj.get("tolerance_reason", ""),
            seconds=float(obj.get("seconds", 0.0)),
        )
