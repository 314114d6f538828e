"""What every claim module shares: the :class:`Claim` description and result assembly.

A claim module measures one problem and produces an *instance record*::

    {"problem": problem_record(...), "status": "holds" | "fails" | "assumption-not-met"
     | "unavailable", "note": "one line", "measured": {...}}

:func:`assemble` turns records (of one problem, or of many in ``verify``) into a
:class:`~theorems.result.ClaimResult`; the claim's ``summarize`` picks the headline numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .result import ClaimResult, Status


@dataclass(frozen=True)
class Claim:
    """A registered claim: id, statement, paper labels, its check and how to summarise."""

    id: str
    title: str
    statement: str
    labels: str  # paper numbering (v1 / v2)
    check: Callable = field(repr=False)
    summarize: Callable = field(repr=False)  # records -> (measured dict, worst str)
    tolerance: dict = field(default_factory=dict)
    tolerance_reason: str = ""
    hypothesis: str = ""


def record(problem_rec: dict, status: Status, note: str, measured: dict) -> dict:
    return {"problem": problem_rec, "status": Status(status).value, "note": note, "measured": measured}


def conclude(claim: Claim, problem, status: Status, note: str, measured: dict, *, label=None,
             timer: "Timer") -> ClaimResult:
    """The ending every single-problem check shares: one instance record, assembled."""
    from .result import problem_record

    rec = record({**problem_record(problem), **(label or {})}, status, note, measured)
    return assemble(claim, [rec], seconds=timer.seconds)


def overall_status(records) -> tuple[Status, str]:
    """Aggregate instance statuses (contrast instances never decide the verdict).

    FAILS if any claim instance fails; else UNDECIDED if any claim instance is undecided
    (a verdict is never stronger than its weakest instance); else UNAVAILABLE if any is
    unavailable; else HOLDS if at least one claim instance holds; else ASSUMPTION_NOT_MET.
    """
    statuses = [Status(r["status"]) for r in records if r["problem"].get("role", "claim") == "claim"]
    bad = [r for r in records if r["problem"].get("role", "claim") == "claim" and r["status"] == "fails"]
    if bad:
        return Status.FAILS, bad[0]["note"]
    und = [r for r in records if r["problem"].get("role", "claim") == "claim" and r["status"] == "undecided"]
    if und:
        return Status.UNDECIDED, und[0]["note"]
    una = [r for r in records if r["status"] == "unavailable"]
    if una:
        return Status.UNAVAILABLE, una[0]["note"]
    n_hold = statuses.count(Status.HOLDS)
    if n_hold == 1 and len(statuses) == 1:
        return Status.HOLDS, records[[r["problem"].get("role", "claim") for r in records].index("claim")]["note"]
    if n_hold:
        n_nm = statuses.count(Status.ASSUMPTION_NOT_MET)
        extra = f"; {n_nm} outside the hypothesis" if n_nm else ""
        return Status.HOLDS, f"holds on {n_hold} instance(s){extra}"
    if statuses:
        first = next(r for r in records if r["problem"].get("role", "claim") == "claim")
        return Status.ASSUMPTION_NOT_MET, first["note"]
    return Status.ASSUMPTION_NOT_MET, "no instance meets the hypothesis"


def assemble(claim: Claim, records, *, seconds: float, message: str | None = None) -> ClaimResult:
    status, why = overall_status(records)
    # Records that measured nothing (input refused as undecided before any computation)
    # have nothing to summarise.
    measured_recs = [r for r in records if r["measured"]]
    measured, worst = claim.summarize(measured_recs) if measured_recs else ({}, "n/a")
    holds = {Status.HOLDS: True, Status.FAILS: False}.get(status)
    return ClaimResult(
        id=claim.id,
        statement=claim.statement,
        holds=holds,
        status=status,
        message=message or why,
        instances=tuple(records),
        measured=measured,
        worst=worst,
        tolerance=dict(claim.tolerance),
        tolerance_reason=claim.tolerance_reason,
        seconds=seconds,
    )


class Timer:
    """``with Timer() as t: ...``; ``t.seconds`` is the elapsed time (also inside the block)."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        self._end = None
        return self

    def __exit__(self, *exc):
        self._end = time.perf_counter()
        return False

    @property
    def seconds(self) -> float:
        end = time.perf_counter() if self._end is None else self._end
        return end - self.t0


def worst_of(records, key, *, fn=max, roles=("claim",)):
    """``fn`` over ``measured[key]`` of the records with the given roles (None if none).

    Claim-role records count only when they meet the hypothesis (status holds/fails);
    contrast records count whatever their status.
    """
    vals = [
        r["measured"][key]
        for r in records
        if r["problem"].get("role", "claim") in roles
        and r["measured"].get(key) is not None
        and (r["problem"].get("role", "claim") != "claim" or r["status"] in ("holds", "fails"))
    ]
    return fn(vals) if vals else None
