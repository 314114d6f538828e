"""The result of checking one claim: :class:`ClaimResult` and its :class:`Status`.

Every check in :mod:`theorems` returns a :class:`ClaimResult` (a
:class:`landscape.runs.Result`). Verdicts are three-valued:

- ``Status.HOLDS`` (``holds=True``): the conclusion was verified on every instance that
  meets the hypothesis (and there was at least one);
- ``Status.FAILS`` (``holds=False``): an instance meeting the hypothesis violates the
  conclusion, or an input passed in as meeting it does not. A check that finds its claim
  false returns this; it does not raise;
- ``Status.UNDECIDED`` (``holds=None``): the check could not decide, with the reason in
  ``message`` (a certificate refused at the precision limit, a degenerate critical point,
  badly scaled data). "Could not prove" is never "false".

Two further statuses have ``holds=None``: ``ASSUMPTION_NOT_MET`` (no instance meets the
hypothesis, e.g. ``Tk > d`` for Thm 3.1 or ``T = 3`` for the ``T = 2``-only Thm 3.4; what
was measured anyway is still reported) and ``UNAVAILABLE`` (an optional dependency is
missing). Each status maps to an exit code (``Status.X.exit_code``).

JSON layout (``ClaimResult.to_json()``) is fixed per result kind and contains no timing:
the same seed gives byte-identical JSON. The wall-clock time is kept apart in
``ClaimResult.seconds`` (``to_json(timing=True)`` adds it under ``"seconds"``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from landscape.runs import Result, Status, fingerprint, jsonable

__all__ = ["Status", "ClaimResult", "jsonable", "problem_record"]


def problem_record(problem, *, seed=None, role: str = "claim") -> dict:
    """Identify a problem in a result: sizes, the seed it was drawn with (if known), a
    short SHA-256 fingerprint of its exact data, and its role (``"claim"`` or
    ``"contrast"``: an instance deliberately outside the hypothesis).
    """
    digest = fingerprint(problem.to_json())
    rec = {"d": problem.d, "k": problem.k, "T": problem.T, "fingerprint": digest[:16], "role": role}
    if seed is not None:
        rec["seed"] = seed
    return rec


@dataclass(frozen=True, kw_only=True)
class ClaimResult(Result):
    """Outcome of checking one claim of docs/math.md §5 (immutable).

    Attributes
    ----------
    id : str
        Claim id: ``thm3.1``, ``cor1``, ``thm3.2``, ``cor2``, ``thm3.3``, ``cor3``,
        ``thm3.4``, ``t2-nonunique`` or ``spurious-t3``.
    statement : str
        The claim in words (docs/math.md conventions).
    holds : bool or None
        ``True``/``False``; ``None`` when the check is undecided, the assumption is not
        met or the check is unavailable (see ``status``).
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
    instances: tuple = ()
    measured: dict = field(default_factory=dict)
    worst: str = ""
    tolerance: dict = field(default_factory=dict)
    tolerance_reason: str = ""
    seconds: float = field(default=0.0, compare=False)

    def __post_init__(self):
        super().__post_init__()
        status = self.status
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
        """True when the claim holds, or its hypothesis is (correctly) not met."""
        return self.status in (Status.HOLDS, Status.ASSUMPTION_NOT_MET)

    @property
    def exit_code(self):
        """0 holds, 1 fails, 3 undecided / assumption not met / unavailable."""
        return self.status.exit_code

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
