"""The vision suite as an engine :class:`~experiments.engine.workload.Workload`.

Each split (``"train"``, ``"heldout"``, ``"finetune"``, ``"select"``, ``"evaluate"``) is an
image bank: the uint8 images of its tasks stacked on the device, their 0/1 labels and the
task index of every row. Training batches are :class:`~.batches.VisionBatch` objects drawn
from the engine's seeded ``rng`` (order and augmentation); the loss is the summed
cross-entropy of the 2-way logits, the score the number of correct argmax predictions.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from experiments.engine.workload import Workload

from .batches import Augment, VisionBatch, apply_augment, plan_batches, to_float

__all__ = ["ImageBank", "VisionWorkload"]


class ImageBank:
    """The tasks of one split stacked: ``images`` (N, C, H, W) uint8, ``labels`` and ``tasks`` (N,)."""

    def __init__(self, tasks, device):
        tasks = list(tasks)
        self.names = [t.name for t in tasks]
        self.images = torch.as_tensor(np.concatenate([t.images for t in tasks])).to(device)
        self.labels = torch.as_tensor(np.concatenate([t.labels for t in tasks])).to(device)
        self.tasks = np.concatenate([np.full(len(t), i, dtype=np.int64) for i, t in enumerate(tasks)])
        self.tasks_t = torch.as_tensor(self.tasks).to(device)

    def __len__(self) -> int:
        return len(self.tasks)

    def rows_of(self, task: int | None) -> np.ndarray:
        return np.arange(len(self)) if task is None else np.flatnonzero(self.tasks == task)


class VisionWorkload(Workload):
    """Binary image tasks for the engine.

    Parameters
    ----------
    splits : dict
        Split name -> list of :class:`~.tasks.TaskData` (the same tasks, in the same order,
        in every split that the engine evaluates per task).
    train_split : str
        The split :meth:`train_batches` draws from.
    batch_size : int
    aug : Augment or None
        Training-batch augmentation.
    device : torch.device
    eval_batch_size : int
    """

    def __init__(
        self,
        splits: dict,
        *,
        train_split: str,
        batch_size: int,
        aug: Augment | None,
        device,
        eval_batch_size: int = 1024,
    ):
        self.banks = {name: ImageBank(tasks, device) for name, tasks in splits.items()}
        self.train_split = train_split
        self.task_names = list(self.banks[train_split].names)
        self.batch_size = int(batch_size)
        self.aug = aug
        self.eval_batch_size = int(eval_batch_size)

    # ---------------------------------------------------------------- training
    def train_batches(self, task, rng) -> list:
        bank = self.banks[self.train_split]
        rows = bank.rows_of(task)
        return plan_batches(rows, bank.tasks[rows], self.batch_size, rng, self.aug)

    def n_examples(self, split: str) -> int:
        return len(self.banks[split])

    def _inputs(self, bank: ImageBank, batch: VisionBatch) -> torch.Tensor:
        rows = torch.as_tensor(batch.rows, device=bank.images.device)
        x = to_float(bank.images.index_select(0, rows))
        if self.aug is not None:
            x = apply_augment(x, batch.shift, batch.flip, self.aug.pad)
        return x, bank.labels.index_select(0, rows)

    def _logits(self, model, bank: ImageBank, batch: VisionBatch, x: torch.Tensor, rt) -> torch.Tensor:
        if getattr(model, "mixed", False):
            model.route_rows(torch.as_tensor(batch.tasks, device=x.device))
        with rt.autocast():
            return model(x)

    def loss(self, model, batch, rt):
        bank = self.banks[self.train_split]
        if len(batch) == 0:
            return torch.zeros((), device=bank.images.device), 0
        x, y = self._inputs(bank, batch)
        logits = self._logits(model, bank, batch, x, rt)
        return F.cross_entropy(logits.float(), y, reduction="sum"), 0

    # ---------------------------------------------------------------- evaluation
    def eval_batches(self, split: str, task: int, rt):
        bank = self.banks[split]
        rows = bank.rows_of(task)
        rows = rows[rt.shard(len(rows))]
        n = len(rows)
        for i in range(0, n, self.eval_batch_size):
            r = rows[i : i + self.eval_batch_size]
            yield (
                split,
                VisionBatch(r, bank.tasks[r], np.zeros((len(r), 2), dtype=np.int64), np.zeros(len(r), dtype=bool)),
            )

    def score(self, model, batch, rt):
        split, b = batch
        bank = self.banks[split]
        rows = torch.as_tensor(b.rows, device=bank.images.device)
        x = to_float(bank.images.index_select(0, rows))
        logits = self._logits(model, bank, b, x, rt)
        y = bank.labels.index_select(0, rows)
        return (logits.argmax(-1) == y).sum(), len(b)
