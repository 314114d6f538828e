"""The registry of claims (docs/math.md §5) and :func:`check`, which runs one by id.

>>> from landscape import Problem
>>> import theorems
>>> theorems.claim_ids()[:3]
('thm3.1', 'cor1', 'thm3.2')
>>> theorems.check("thm3.1", Problem.random(6, 1, 3, seed=0), finite_sample=False).holds
True
"""

from __future__ import annotations

from landscape.errors import InvalidArgument
from landscape.problem import Problem

from . import (
    exact_recovery,
    spurious_minima,
    sr_not_adaptable,
    sr_rank_gap,
    two_task_landscape,
    two_task_nonunique,
    zero_loss_rank,
)
from ._claim import Claim
from .result import ClaimResult

__all__ = ["CLAIMS", "claim_ids", "get_claim", "check"]

#: id -> Claim, in docs/math.md §5 order. Ids are the ones used in JSON output.
CLAIMS: dict[str, Claim] = {
    c.id: c
    for c in (
        sr_rank_gap.CLAIM,
        sr_not_adaptable.CLAIM,
        zero_loss_rank.CLAIM_RANK,
        zero_loss_rank.CLAIM_ADAPT,
        exact_recovery.CLAIM_RECOVERY,
        exact_recovery.CLAIM_ADAPT_K,
        two_task_landscape.CLAIM,
        two_task_nonunique.CLAIM,
        spurious_minima.CLAIM,
    )
}


def claim_ids() -> tuple[str, ...]:
    """All claim ids, in order."""
    return tuple(CLAIMS)


def get_claim(claim_id: str) -> Claim:
    """The :class:`Claim` registered under ``claim_id``."""
    try:
        return CLAIMS[claim_id]
    except (KeyError, TypeError):
        raise InvalidArgument(
            f"`claim_id` must be one of {', '.join(CLAIMS)}; got claim_id={claim_id!r}."
        ) from None


def check(claim_id: str, problem: Problem, **options) -> ClaimResult:
    """Check one claim on ``problem``; ``options`` go to the claim's check function.

    Parameters
    ----------
    claim_id : str
        One of :func:`claim_ids` (``thm3.1``, ``cor1``, ``thm3.2``, ``cor2``, ``thm3.3``,
        ``cor3``, ``thm3.4``, ``t2-nonunique``, ``spurious-t3``).
    problem : Problem
    **options
        Keyword arguments of that check (see each module; e.g. ``A_sr=`` for ``thm3.1``,
        ``points=`` for the zero-loss claims, ``min_eig=`` for ``thm3.4``).

    Returns
    -------
    ClaimResult
        ``status`` holds / fails / undecided (badly scaled input is undecided, with the
        reason) / assumption-not-met.
    """
    claim = get_claim(claim_id)
    if not isinstance(problem, Problem):
        raise InvalidArgument(f"`problem` must be a landscape.Problem; got {type(problem).__name__}.")
    import inspect

    params = inspect.signature(claim.check).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        allowed = [p for p in params if p != "problem"]
        raise InvalidArgument(
            f"unknown option(s) {unknown} for claim {claim_id!r}; allowed: {', '.join(allowed)}."
        )
    from landscape.errors import Undecided
    from landscape.problem import check_scale

    from ._claim import assemble, record
    from .result import Status, problem_record

    try:
        check_scale(problem)
    except Undecided as exc:  # numerically meaningless input: undecided, never a verdict
        rec = record(problem_record(problem), Status.UNDECIDED, str(exc), {})
        return assemble(claim, [rec], seconds=0.0, message=f"undecided: {exc}")
    return claim.check(problem, **options)
