"""What a suite supplies to the engine: its tasks as batches, its loss, its score.

A suite (ConvAI2, vision, ...) subclasses :class:`Workload`. The engine never looks inside
a batch: it asks the workload for one epoch's batches of a task (or of all tasks pooled),
for the global size of a batch (what the summed loss is divided by), for this rank's share
of a batch, for the summed loss of that share, and for the number of correct predictions
on an evaluation batch.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch

__all__ = ["Workload"]


class Workload:
    """Tasks as iterables of batches, a loss and a score (subclass and fill in).

    Attributes
    ----------
    task_names : list of str
        The tasks, in a fixed order (task index ``t`` is ``task_names[t]``).
    train_split : str
        Name of the split :meth:`train_batches` draws from.
    """

    task_names: Sequence[str] = ()
    train_split: str = "train"

    # ---------------------------------------------------------------- training
    def train_batches(self, task: int | None, rng) -> list:
        """One epoch's training batches of ``task`` (``None``: every task's examples pooled,
        for pooled and mixed-task schedules), in the order they are used. Draw every random
        choice from ``rng`` (a seeded ``numpy.random.Generator``).
        """
        raise NotImplementedError

    def n_examples(self, split: str) -> int:
        """Number of examples of ``split`` (for examples/s)."""
        raise NotImplementedError

    def task_size(self, split: str, task: int) -> int:
        """Number of examples of ``task`` in ``split`` (reported with fine-tuning results; 0 if unknown)."""
        return 0

    def count(self, batch) -> int:
        """The loss normaliser of a whole batch (all ranks together), e.g. its example count."""
        return len(batch)

    def shard(self, batch, rt):
        """The share of ``batch`` this rank computes (``rt.shard(n)`` gives a contiguous slice)."""
        return batch[rt.shard(len(batch))]

    def loss(self, model, batch, rt) -> tuple[torch.Tensor, int]:
        """(summed loss over the examples of ``batch``, real tokens or 0) for this rank's share.

        Run the forward under ``rt.autocast()``. When ``model.mixed`` is true the batch mixes
        tasks: call ``model.route_rows(tasks)`` with each row's task index first.
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- evaluation
    def eval_batches(self, split: str, task: int, rt) -> Iterable:
        """The evaluation batches of ``task`` in ``split`` this rank computes (deterministic order)."""
        raise NotImplementedError

    def score(self, model, batch, rt) -> tuple[torch.Tensor, int]:
        """(number of correct predictions as a tensor, number of examples) on ``batch``."""
        raise NotImplementedError
