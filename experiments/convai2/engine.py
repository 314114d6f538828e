"""The training step and the evaluation loop shared by retraining and fine-tuning.

One step on a batch of ``B`` examples: collate all ``B*C`` pairs (this rank's share), one
forward under autocast, the summed pair loss divided by the *global* count, backward, one
all-reduce of the active parameters' gradients, AdamW with the scheduled learning rate.
The running loss stays on the device (no host synchronisation per step).
"""

from __future__ import annotations

import numpy as np
import torch

from .batching import collate, plan_batches, to_torch
from .models import pair_loss, predict
from .runtime import Runtime, all_reduce_, all_reduce_grads

__all__ = ["make_optimizer", "linear_lr", "train_step", "evaluate", "forward_logits"]


def make_optimizer(params, *, lr: float, weight_decay: float, rt: Runtime) -> torch.optim.AdamW:
    """AdamW (fp32 state), fused kernels when ``rt.fused_adamw``."""
    params = list(params)
    kw = {"fused": True} if rt.fused_adamw else {}
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **kw)


def linear_lr(base: float, progress: float) -> float:
    """Linear decay from ``base`` at progress 0 to 0 at progress 1 (no warm-up)."""
    return base * max(0.0, 1.0 - progress)


def forward_logits(model, batch: dict, rt: Runtime) -> torch.Tensor:
    """``(B, C, 2)`` logits of a :func:`to_torch` batch."""
    B, C = batch["gold"].shape
    with rt.autocast():
        logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    return logits.view(B, C, -1)


def train_step(
    model,
    enc,
    idx: np.ndarray,
    *,
    rt: Runtime,
    optimizer,
    lr: float,
    loss_kind: str,
    pad_id: int,
    pad_multiple: int,
):
    """One optimisation step on examples ``idx`` of ``enc``; returns (loss sum tensor, count, real tokens)."""
    C = enc.n_candidates
    count = len(idx) * C if loss_kind == "pointwise" else len(idx)
    mine = idx[rt.shard(len(idx))]
    optimizer.zero_grad(set_to_none=True)
    n_tokens = 0
    if len(mine):
        batch = to_torch(
            collate(
                enc, mine, pad_id=pad_id, pad_multiple=pad_multiple, token_types=model.token_types
            ),
            rt.device,
        )
        logits = forward_logits(model, batch, rt)
        loss_sum, _ = pair_loss(logits, batch["gold"], batch["label"], loss_kind)
        (loss_sum / count).backward()
        loss_sum = loss_sum.detach()
        n_tokens = batch["n_tokens"]
    else:
        loss_sum = torch.zeros((), device=rt.device)
    if rt.distributed:
        all_reduce_grads(model.active_parameters(), rt)
    for g in optimizer.param_groups:
        g["lr"] = lr
    optimizer.step()
    return loss_sum, count, n_tokens


@torch.no_grad()
def evaluate(
    model, enc, *, rt: Runtime, route, pad_id: int, pad_multiple: int, max_tokens: int, tasks=None
) -> dict:
    """Accuracy (hits@1 of C) per task: ``{task: (correct, total)}``.

    ``route(task_name)`` is the head/adapter to use for the task's examples; ``tasks``
    (indices) restricts the evaluation to some tasks.
    """
    was_training = model.training
    model.eval()
    counts = torch.zeros((len(enc.task_names), 2), dtype=torch.float64, device=rt.device)
    chosen = range(len(enc.task_names)) if tasks is None else list(tasks)
    for t in chosen:
        name = enc.task_names[t]
        idx = enc.examples_of(t)
        mine = idx[rt.shard(len(idx))]
        model.use(route(name))
        for b in plan_batches(
            enc,
            mine,
            batch_size=len(mine) or 1,
            max_tokens=max_tokens,
            rng=None,
            pad_multiple=pad_multiple,
        ):
            batch = to_torch(
                collate(
                    enc, b, pad_id=pad_id, pad_multiple=pad_multiple, token_types=model.token_types
                ),
                rt.device,
            )
            logits = forward_logits(model, batch, rt)
            pred = predict(logits)
            hit = batch["gold"].gather(1, pred[:, None]).squeeze(1)
            counts[t, 0] += hit.sum()
            counts[t, 1] += len(b)
    all_reduce_(counts, rt)
    if was_training:
        model.train()
    c = counts.cpu().numpy()
    return {enc.task_names[t]: (int(c[t, 0]), int(c[t, 1])) for t in chosen}
