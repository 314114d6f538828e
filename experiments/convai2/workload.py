"""ConvAI2 as an engine workload: tokenised persona tasks, the pair loss and hits@1.

A training batch is an array of example indices into the training split's
:class:`~.encoding.EncodedSet`; all ``C`` candidates of an example go through one forward
(``(B*C, L)`` rows). The loss is the summed pair loss (:func:`~.models.pair_loss`), divided
by the engine by :meth:`PersonaWorkload.count` (``B*C`` pairs for the pointwise loss, ``B``
examples for the listwise one). In mixed-task batches every row is routed to its example's
task (:meth:`~experiments.engine.TaskModel.route_rows`).
"""

from __future__ import annotations

import numpy as np
import torch

from experiments.engine import Workload

from .batching import collate, plan_batches, to_torch
from .models import pair_loss, predict

__all__ = ["PersonaWorkload", "forward_logits"]


def forward_logits(model, batch: dict, rt) -> torch.Tensor:
    """``(B, C, 2)`` logits of a :func:`~.batching.to_torch` batch."""
    B, C = batch["gold"].shape
    with rt.autocast():
        logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    return logits.view(B, C, -1)


class PersonaWorkload(Workload):
    """Persona tasks of one or more encoded splits.

    Parameters
    ----------
    encs : dict
        Split name -> :class:`~.encoding.EncodedSet` (all with the same task names).
    train_split : str
        The split training batches come from.
    batch_size, max_tokens : int
        Training batch size in examples, or a padded-token budget.
    bucketing : bool
        Length bucketing of training batches (off: plain random minibatches).
    """

    def __init__(
        self,
        encs: dict,
        train_split: str,
        *,
        batch_size: int,
        max_tokens: int | None,
        loss_kind: str,
        pad_id: int,
        pad_multiple: int,
        eval_max_tokens: int,
        token_types: bool,
        bucketing: bool = True,
    ):
        self.encs = encs
        self.train_split = train_split
        self.task_names = list(encs[train_split].task_names)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.loss_kind = loss_kind
        self.pad_id = pad_id
        self.pad_multiple = pad_multiple
        self.eval_max_tokens = eval_max_tokens
        self.token_types = token_types
        self.bucketing = bucketing

    @property
    def train(self):
        return self.encs[self.train_split]

    def n_examples(self, split: str) -> int:
        return self.encs[split].n_examples

    def task_size(self, split, task):
        return int((self.encs[split].task == task).sum())

    def train_batches(self, task, rng):
        enc = self.train
        idx = np.arange(enc.n_examples) if task is None else enc.examples_of(task)
        return plan_batches(
            enc,
            idx,
            batch_size=self.batch_size,
            max_tokens=self.max_tokens,
            rng=rng,
            pad_multiple=self.pad_multiple,
            bucketing=self.bucketing,
        )

    def count(self, batch) -> int:
        return len(batch) * self.train.n_candidates if self.loss_kind == "pointwise" else len(batch)

    def _collate(self, enc, idx, rt):
        return to_torch(
            collate(enc, idx, pad_id=self.pad_id, pad_multiple=self.pad_multiple, token_types=self.token_types),
            rt.device,
        )

    def loss(self, model, batch, rt):
        enc = self.train
        tb = self._collate(enc, batch, rt)
        if getattr(model, "mixed", False):
            rows = np.repeat(enc.task[batch].astype(np.int64), enc.n_candidates)
            model.route_rows(torch.from_numpy(rows).to(rt.device))
        logits = forward_logits(model, tb, rt)
        loss_sum, _ = pair_loss(logits, tb["gold"], tb["label"], self.loss_kind)
        return loss_sum, tb["n_tokens"]

    def eval_batches(self, split, task, rt):
        enc = self.encs[split]
        idx = enc.examples_of(task)
        mine = idx[rt.shard(len(idx))]
        for b in plan_batches(
            enc, mine, batch_size=len(mine) or 1, max_tokens=self.eval_max_tokens, rng=None, pad_multiple=self.pad_multiple
        ):
            yield enc, b

    def score(self, model, batch, rt):
        enc, idx = batch
        tb = self._collate(enc, idx, rt)
        pred = predict(forward_logits(model, tb, rt))
        hit = tb["gold"].gather(1, pred[:, None]).squeeze(1)
        return hit.sum(), len(idx)
