"""Retraining methods as a small registry of strategies.

A strategy says what a method trains and how an epoch's batches are ordered:

``sr``
    Standard retraining: one model, one shared head, the tasks' examples pooled.
``meta-lora``
    The base trained jointly with one LoRA adapter and one head per task,
    ``min_{W, (A_t, B_t, h_t)} sum_t L_t(W + B_t A_t, h_t)``. Batches are either cycled over
    the tasks one minibatch at a time (``task_batching="cycle"``: every batch is one task's,
    routed through that task's peft adapter) or pooled with each example routed to its own
    task's adapter and head (``"mixed"``: :mod:`.batched_lora`).
``last-layer-ml``
    One head per task on a shared base (no adapters), tasks cycled.
``reptile``
    Reptile (Nichol et al. 2018): per task in turn, ``k`` optimizer steps from ``theta`` give
    ``theta_inner``; then ``theta <- theta + eps (theta_inner - theta)`` (:func:`reptile_update`)
    with ``eps`` annealed linearly from the outer step size to 0. One head.

Register your own with :func:`register_strategy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from landscape.errors import InvalidArgument

__all__ = [
    "Strategy",
    "STRATEGIES",
    "register_strategy",
    "get_strategy",
    "plan_steps",
    "reptile_update",
    "SHARED",
]

SHARED = "shared"


@dataclass(frozen=True)
class Strategy:
    """What a retraining method trains and how it orders batches.

    Attributes
    ----------
    name : str
    adapters : bool
        One LoRA adapter per task (trained jointly with the base).
    per_task_heads : bool
        One head per task (else one shared head named :data:`SHARED`).
    schedule : str
        ``"pooled"`` (batches drawn from all tasks' examples together) or ``"cycled"``
        (round-robin over the tasks, one group of batches at a time).
    inner_steps : bool
        Group ``k`` consecutive batches of a task (Reptile's inner loop) instead of one.
    outer_update : bool
        Apply :func:`reptile_update` after each group.
    mixable : bool
        May use mixed-task batches (each example routed to its own task's parts).
    """

    name: str
    adapters: bool
    per_task_heads: bool
    schedule: str
    inner_steps: bool = False
    outer_update: bool = False
    mixable: bool = False

    def route(self, task_name: str) -> str:
        """The head/adapter a task's examples go through."""
        return task_name if self.per_task_heads or self.adapters else SHARED


STRATEGIES: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy) -> Strategy:
    if strategy.schedule not in ("pooled", "cycled"):
        raise InvalidArgument(f"a strategy's schedule must be pooled or cycled; got {strategy.schedule!r}.")
    STRATEGIES[strategy.name] = strategy
    return strategy


for _s in (
    Strategy("sr", adapters=False, per_task_heads=False, schedule="pooled"),
    Strategy("meta-lora", adapters=True, per_task_heads=True, schedule="cycled", mixable=True),
    Strategy("last-layer-ml", adapters=False, per_task_heads=True, schedule="cycled", mixable=True),
    Strategy("reptile", adapters=False, per_task_heads=False, schedule="cycled", inner_steps=True, outer_update=True),
):
    register_strategy(_s)


def get_strategy(name: str, flag: str = "--method") -> Strategy:
    if name not in STRATEGIES:
        raise InvalidArgument(f"`{flag}` must be one of {tuple(STRATEGIES)}; got {name!r}.")
    return STRATEGIES[name]


def plan_steps(strategy: Strategy, batches, n_tasks: int, rng, *, inner_steps: int = 1, mixed: bool = False):
    """One epoch's steps: a list of ``(task index or None, [batch, ...])``.

    ``batches(task, rng)`` returns the epoch's batches of one task (``task=None``: all tasks
    pooled); it is called once for pooled/mixed schedules and once per task, in task order,
    for cycled ones (so the random stream is consumed in a fixed order). Cycled steps go
    round-robin over the tasks; a task with fewer batches drops out when it runs out.
    """
    if strategy.schedule == "pooled" or mixed:
        return [(None, [b]) for b in batches(None, rng)]
    group = inner_steps if strategy.inner_steps else 1
    per_task = []
    for t in range(n_tasks):
        bs = list(batches(t, rng))
        per_task.append([bs[i : i + group] for i in range(0, len(bs), group)])
    steps = []
    for r in range(max((len(p) for p in per_task), default=0)):
        for t, p in enumerate(per_task):
            if r < len(p):
                steps.append((t, p[r]))
    return steps


@torch.no_grad()
def reptile_update(params, snapshot, eps: float) -> None:
    """``theta <- theta + eps (theta_inner - theta)`` in place: ``params`` hold ``theta_inner``
    on entry and the new ``theta`` on exit; ``snapshot`` holds ``theta``.
    """
    for p, s in zip(params, snapshot):
        p.sub_(s).mul_(eps).add_(s)
