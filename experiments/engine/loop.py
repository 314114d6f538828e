"""The training step, the evaluation loop, and the two runs built from them: meta-retraining
(any registered strategy) and per-task fine-tuning of a frozen base.

One step on a batch: this rank's share goes through one forward under autocast; the summed
loss is divided by the *global* batch count; backward; gradients summed over ranks (DDP's
bucketed all-reduce overlapping backward, or one flat all-reduce); AdamW with the scheduled
learning rate. The running loss stays on the device (no host synchronisation per step).

Random streams (each from :func:`landscape.runs.derive_seed`): ``(seed, 1, epoch)`` seeds
torch (dropout) and ``(seed, 2, epoch)`` the batch plan of a retraining epoch; fine-tuning
task ``i`` is initialised from ``(seed, 3, i)`` and its epochs use ``(seed, 4, i, epoch)`` and
``(seed, 5, i, epoch)``. Nothing depends on the order of tasks or on resuming, so a resumed
run equals an uninterrupted one bit for bit on the same machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from landscape.runs import derive_seed

from .checkpoint import (
    load_json,
    load_training_state,
    prune,
    save_json,
    save_tensors,
    save_training_state,
)
from .runtime import Runtime, all_reduce_, all_reduce_grads, seed_torch
from .schedule import linear_lr
from .selection import improved, select_epochs
from .strategies import SHARED, Strategy, plan_steps, reptile_update
from .taskmodel import TaskModel

__all__ = [
    "make_optimizer",
    "train_step",
    "evaluate",
    "add_task_parts",
    "EpochRecord",
    "RetrainSettings",
    "retrain_loop",
    "FinetuneSettings",
    "TaskResult",
    "finetune_loop",
]


def make_optimizer(params, *, lr: float, weight_decay: float, rt: Runtime) -> torch.optim.AdamW:
    """AdamW (fp32 state), fused kernels when ``rt.fused_adamw``."""
    params = list(params)
    kw = {"fused": True} if rt.fused_adamw else {}
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **kw)


class _First:
    """A stand-in runtime whose share of a batch is its first item."""

    @staticmethod
    def shard(n: int) -> slice:
        return slice(0, min(1, n))


def train_step(model: TaskModel, workload, batch, *, rt: Runtime, optimizer, lr: float):
    """One optimisation step on ``batch``; returns (loss sum tensor, count, real tokens)."""
    count = workload.count(batch)
    mine = workload.shard(batch, rt)
    optimizer.zero_grad(set_to_none=True)
    n_tokens = 0
    if len(mine):
        loss_sum, n_tokens = workload.loss(model, mine, rt)
        (loss_sum / count).backward()
        loss_sum = loss_sum.detach()
    elif model.__dict__.get("_ddp") is not None:
        # DDP needs every rank in every bucket's all-reduce: an empty share runs one
        # example with weight 0 (same parameters used, zero gradient contribution)
        one = workload.shard(batch, _First())
        loss_sum, _ = workload.loss(model, one, rt)
        (loss_sum * 0.0).backward()
        loss_sum = torch.zeros((), device=rt.device)
    else:
        loss_sum = torch.zeros((), device=rt.device)
    if rt.distributed and model.__dict__.get("_ddp") is None:
        all_reduce_grads(model.active_parameters(), rt)
    for g in optimizer.param_groups:
        g["lr"] = lr
    optimizer.step()
    return loss_sum, count, n_tokens


@torch.no_grad()
def evaluate(model: TaskModel, workload, split: str, *, rt: Runtime, route, tasks=None) -> dict:
    """Accuracy counts per task: ``{task name: (correct, total)}``.

    ``route(task_name)`` is the head/adapter to use for the task's examples; ``tasks``
    (indices) restricts the evaluation to some tasks.
    """
    was_training = model.training
    model.eval()
    names = list(workload.task_names)
    counts = torch.zeros((len(names), 2), dtype=torch.float64, device=rt.device)
    chosen = range(len(names)) if tasks is None else list(tasks)
    for t in chosen:
        model.use(route(names[t]))
        for batch in workload.eval_batches(split, t, rt):
            hit, n = workload.score(model, batch, rt)
            counts[t, 0] += hit
            counts[t, 1] += n
    all_reduce_(counts, rt)
    if was_training:
        model.train()
    c = counts.cpu().numpy()
    return {names[t]: (int(c[t, 0]), int(c[t, 1])) for t in chosen}


def add_task_parts(
    model: TaskModel, strategy: Strategy, names, *, rank=8, alpha=16.0, dropout=0.0, targets=(), mixed=False
) -> None:
    """Heads and adapters a retraining strategy needs, and a trainable base.

    Per-task heads all start from the same random head; per-task adapters are peft
    adapters, or one batched layer per target when ``mixed``. ``targets`` may be a callable
    ``model -> names``, called once the heads exist (to put adapters on a shared head too).
    """
    names = list(names)
    if strategy.per_task_heads:
        model.add_head(names[0])
        init = {k: v.clone() for k, v in model.head_states()[names[0]].items()}
        for n in names[1:]:
            model.add_head(n, init)
    else:
        model.add_head(SHARED)
    if strategy.adapters:
        if callable(targets):
            targets = list(targets(model))
        if mixed:
            model.add_batched_lora(names, rank=rank, alpha=alpha, dropout=dropout, targets=targets)
        else:
            for n in names:
                model.add_lora(n, rank=rank, alpha=alpha, dropout=dropout, targets=targets)
    elif mixed:
        model.set_mixed(names)
    model.set_base_trainable(True)


def _sum_hook(state, bucket):
    """DDP communication hook: *sum* the gradients (the loss is already divided by the global count)."""
    fut = torch.distributed.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def wrap_ddp(model: TaskModel, rt: Runtime):
    """Wrap ``model`` in DDP (bucketed, overlapped all-reduce) when running under torchrun
    with ``ddp="bucketed"``; returns the wrapper or None.

    Every per-task part stays ``requires_grad`` (DDP's parameter set is fixed at
    construction); parts a step does not use get no gradient and are found unused
    (``find_unused_parameters``), so the optimizer skips them as in one process.
    """
    if not rt.distributed or rt.ddp != "bucketed":
        return None
    from torch.nn.parallel import DistributedDataParallel

    model.keep_adapters_trainable = True
    for p in model.adapter_parameters():
        p.requires_grad_(True)
    kw = {"device_ids": [rt.device.index]} if rt.device.type == "cuda" else {}
    ddp = DistributedDataParallel(model, find_unused_parameters=True, broadcast_buffers=False, **kw)
    ddp.register_comm_hook(None, _sum_hook)
    model.attach_ddp(ddp)
    return ddp


# --------------------------------------------------------------------------- retraining


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, held-out accuracy per task and its mean, speed."""

    epoch: int
    train_loss: float
    heldout_accuracy: dict
    mean_heldout_accuracy: float
    seconds: float
    examples_per_s: float
    tokens_per_s: float


@dataclass(frozen=True)
class RetrainSettings:
    """What the retraining loop needs beyond the model and the workload."""

    epochs: int
    lr: float
    weight_decay: float
    seed: int
    warmup_ratio: float = 0.0
    inner_steps: int = 1
    outer_lr: float = 1.0
    mixed: bool = False
    heldout_split: str = "heldout"
    label: str = ""


def _ckpt_name(epoch: int, what: str) -> str:
    return f"epoch-{epoch:04d}-{what}.safetensors"


def retrain_loop(
    model: TaskModel,
    workload,
    strategy: Strategy,
    s: RetrainSettings,
    run: Path,
    *,
    rt: Runtime,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end=None,
) -> dict:
    """Meta-retrain ``model`` on ``workload``'s tasks with ``strategy``; checkpoints in ``run``.

    Each epoch ends with an evaluation on the held-out split (per task, through the task's
    own parts for per-task strategies); the epoch with the best mean held-out accuracy
    (earliest on ties) is kept in ``run/best`` (base weights under the network's own names,
    and the heads). ``run/state.json`` (written last) names the latest checkpoint; with
    ``resume`` a killed run continues from it.

    Returns
    -------
    dict
        The final state: ``epochs_done``, ``history`` (EpochRecord dicts), ``best_epoch``,
        ``best_mean_heldout_accuracy``, ``finished``, ``best`` and ``checkpoint`` file names.
    """
    from tqdm.auto import tqdm

    run = Path(run)
    state_path = run / "state.json"
    optimizer = make_optimizer(model.parameters(), lr=s.lr, weight_decay=s.weight_decay, rt=rt)
    state = {
        "epochs_done": 0,
        "history": [],
        "best_epoch": 0,
        "best_mean_heldout_accuracy": -1.0,
        "finished": False,
    }
    if resume and state_path.is_file():
        state = load_json(state_path)
        if state["epochs_done"]:
            sd = load_training_state(run / "checkpoints", state["checkpoint"], optimizer, rt.device)
            model.load_state_dict(sd)
    wrap_ddp(model, rt)
    names = list(workload.task_names)
    route = strategy.route
    n_train = workload.n_examples(workload.train_split)
    label = s.label or strategy.name
    try:
        for epoch in range(state["epochs_done"] + 1, s.epochs + 1):
            t0 = time.perf_counter()
            seed_torch(s.seed, 1, epoch)
            rng = np.random.default_rng(derive_seed(s.seed, 2, epoch))
            steps = plan_steps(
                strategy, workload.train_batches, len(names), rng, inner_steps=s.inner_steps, mixed=s.mixed
            )
            n_batches = sum(len(b) for _, b in steps)
            loss_sum = torch.zeros((), dtype=torch.float64, device=rt.device)
            count = tokens = done = 0
            bar = tqdm(
                total=n_batches,
                desc=f"{label} epoch {epoch}/{s.epochs}",
                disable=not (progress and rt.is_main),
                leave=False,
            )
            for task, group in steps:
                if task is not None:
                    model.use(route(names[task]))
                elif not s.mixed:
                    model.use(SHARED)
                if strategy.outer_update:
                    params = model.active_parameters()
                    snapshot = [p.detach().clone() for p in params]
                for b in group:
                    prog = (epoch - 1 + done / n_batches) / s.epochs
                    ls, c, nt = train_step(
                        model, workload, b, rt=rt, optimizer=optimizer, lr=linear_lr(s.lr, prog, s.warmup_ratio)
                    )
                    loss_sum += ls
                    count += c
                    tokens += nt
                    done += 1
                    bar.update(1)
                if strategy.outer_update:
                    eps = max(s.outer_lr * (1.0 - (epoch - 1 + done / n_batches) / s.epochs), 0.0)
                    reptile_update(params, snapshot, eps)
            bar.close()
            if rt.distributed:
                torch.distributed.all_reduce(loss_sum)
            held = evaluate(model, workload, s.heldout_split, rt=rt, route=route)
            acc = {n: c / t for n, (c, t) in held.items()}
            mean_acc = float(np.mean(list(acc.values())))
            if rt.device.type == "cuda":
                torch.cuda.synchronize(rt.device)
            secs = time.perf_counter() - t0
            tok_total = torch.tensor([tokens], dtype=torch.float64, device=rt.device)
            all_reduce_(tok_total, rt)
            rec = EpochRecord(
                epoch=epoch,
                train_loss=float(loss_sum.item() / max(count, 1)),
                heldout_accuracy=acc,
                mean_heldout_accuracy=mean_acc,
                seconds=secs,
                examples_per_s=n_train / secs,
                tokens_per_s=float(tok_total.item()) / secs,
            )
            better = improved(mean_acc, state["best_mean_heldout_accuracy"])
            if better:
                state["best_epoch"], state["best_mean_heldout_accuracy"] = epoch, mean_acc
            state["epochs_done"] = epoch
            state["history"].append(asdict(rec))
            state["finished"] = epoch == s.epochs
            if rt.is_main:
                files = {
                    "model": _ckpt_name(epoch, "model"),
                    "optim": _ckpt_name(epoch, "optim"),
                    "optim_meta": f"epoch-{epoch:04d}-optim.json",
                }
                save_training_state(run / "checkpoints", files, model.state_dict(), optimizer)
                if better:
                    save_tensors(run / "best" / _ckpt_name(epoch, "base"), model.base_state())
                    heads = {f"{h}/{k}": v for h, sd in model.head_states().items() for k, v in sd.items()}
                    save_tensors(run / "best" / _ckpt_name(epoch, "heads"), heads)
                    state["best"] = {"base": _ckpt_name(epoch, "base"), "heads": _ckpt_name(epoch, "heads")}
                state["checkpoint"] = files
                save_json(state_path, state)
                prune(run / "checkpoints", files.values(), "epoch-*")
                prune(run / "best", state["best"].values(), "epoch-*")
            rt.barrier()
            if progress and rt.is_main:
                tqdm.write(
                    f"[{label}] epoch {epoch}: loss {rec.train_loss:.4f}, held-out acc {mean_acc:.4f}, "
                    f"{rec.examples_per_s:.1f} ex/s, {rec.tokens_per_s:.0f} tok/s"
                )
            if on_epoch_end is not None:
                on_epoch_end(rec)
    finally:
        model.attach_ddp(None)
    return state


# --------------------------------------------------------------------------- fine-tuning


@dataclass(frozen=True)
class FinetuneSettings:
    """Per-task fine-tuning of a frozen base: a fresh head plus a fresh LoRA adapter of rank
    ``rank`` (``adapter="lora"``) or a fresh head alone (``"last-layer"``).
    """

    adapter: str
    epochs: int
    lr: float
    weight_decay: float
    seed: int
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple = ()
    warmup_ratio: float = 0.0
    eval_epoch0: bool = False
    train_split: str = "finetune"
    select_split: str | None = "select"
    eval_split: str = "evaluate"


@dataclass(frozen=True)
class TaskResult:
    """Per-epoch metrics of one test task and the two selected numbers.

    ``select_accuracy`` is empty when there is no selection split; then the honest number
    is undefined (``honest_epoch`` and ``honest_accuracy`` None) and only the labelled
    best-on-evaluation ("paper") number exists. With ``eval_epoch0`` entry 0 is the
    untrained state (epoch 0; its training loss is None).
    """

    name: str
    index: int
    n_finetune: int
    n_select: int
    n_eval: int
    train_loss: tuple
    select_accuracy: tuple
    eval_accuracy: tuple
    honest_epoch: int | None
    honest_accuracy: float | None
    paper_epoch: int
    paper_accuracy: float


def _task_label(i: int) -> str:
    return f"test{i}"


def finetune_loop(
    model: TaskModel,
    workload,
    s: FinetuneSettings,
    outdir: Path,
    *,
    rt: Runtime,
    head_init: dict | None = None,
    display_names=None,
    sizes=None,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end=None,
) -> list:
    """Fine-tune fresh parts of each of ``workload``'s tasks on the frozen base ``model``.

    Task ``i`` (``workload.task_names[i]``, conventionally ``test{i}``) gets a fresh head
    (``head_init`` if given) and, for ``adapter="lora"``, a fresh adapter, trained on
    ``s.train_split``; after every epoch the accuracy on the selection and evaluation splits
    is recorded. The previous task's parts are deleted (the model is never re-wrapped).
    ``state.json`` in ``outdir`` holds finished tasks and the current task's checkpoint.

    Returns
    -------
    list of TaskResult
    """
    from tqdm.auto import tqdm

    outdir = Path(outdir)
    state_path = outdir / "state.json"
    state = {"done": [], "current": None}
    if resume and state_path.is_file():
        state = load_json(state_path)
    names = list(workload.task_names)
    shown = list(display_names or names)
    results = [TaskResult(**r) for r in state["done"]]
    roles = [r for r in (s.select_split, s.eval_split) if r]
    first = 0 if s.eval_epoch0 else 1
    for i, name in enumerate(names):
        if i < len(results):
            continue
        seed_torch(s.seed, 3, i)
        model.add_head(name, head_init)
        if s.adapter == "lora":
            model.add_lora(name, rank=s.rank, alpha=s.alpha, dropout=s.dropout, targets=s.targets)
        if i > 0 and names[i - 1] in model.multihead.heads:
            model.delete_task(names[i - 1])
        model.to(rt.device)
        model.use(name)
        params = model.head_parameters(name) + (model.adapter_parameters(name) if s.adapter == "lora" else [])
        for p in params:
            p.requires_grad_(True)
        optimizer = make_optimizer(params, lr=s.lr, weight_decay=s.weight_decay, rt=rt)
        hist = {"train_loss": [], "select": [], "eval": []}
        start_epoch = first
        cur = state.get("current")
        if resume and cur and cur["task"] == i:
            sd = load_training_state(outdir / "checkpoints", cur, optimizer, rt.device)
            with torch.no_grad():
                for k, p in enumerate(params):
                    p.copy_(sd[str(k)])
            hist = cur["hist"]
            start_epoch = cur["epoch"] + 1
        for epoch in range(start_epoch, s.epochs + 1):
            loss_sum = torch.zeros((), dtype=torch.float64, device=rt.device)
            count = 0
            if epoch > 0:
                seed_torch(s.seed, 4, i, epoch)
                rng = np.random.default_rng(derive_seed(s.seed, 5, i, epoch))
                batches = workload.train_batches(i, rng)
                for j, b in enumerate(
                    tqdm(
                        batches,
                        desc=f"{name} epoch {epoch}/{s.epochs}",
                        disable=not (progress and rt.is_main),
                        leave=False,
                    )
                ):
                    prog = (epoch - 1 + j / len(batches)) / s.epochs
                    ls, c, _ = train_step(
                        model, workload, b, rt=rt, optimizer=optimizer, lr=linear_lr(s.lr, prog, s.warmup_ratio)
                    )
                    loss_sum += ls
                    count += c
                if rt.distributed:
                    torch.distributed.all_reduce(loss_sum)
            accs = {}
            for role in roles:
                c_, t_ = evaluate(model, workload, role, rt=rt, route=lambda n: name, tasks=[i])[name]
                accs[role] = c_ / t_
            hist["train_loss"].append(float(loss_sum.item() / max(count, 1)) if epoch > 0 else None)
            if s.select_split:
                hist["select"].append(accs[s.select_split])
            hist["eval"].append(accs[s.eval_split])
            if rt.is_main:
                files = {
                    "params": f"task-{i:03d}-epoch-{epoch:04d}-params.safetensors",
                    "optim": f"task-{i:03d}-epoch-{epoch:04d}-optim.safetensors",
                    "optim_meta": f"task-{i:03d}-epoch-{epoch:04d}-optim.json",
                }
                save_training_state(
                    outdir / "checkpoints", files, {str(k): p for k, p in enumerate(params)}, optimizer
                )
                state["current"] = {"task": i, "epoch": epoch, "hist": hist, **files}
                save_json(state_path, state)
                prune(outdir / "checkpoints", files.values(), "task-*")
            rt.barrier()
            if on_epoch_end is not None:
                on_epoch_end(i, epoch)
        if s.select_split:
            he, ha, pe, pa = select_epochs(hist["select"], hist["eval"], first_epoch=first)
        else:
            _, _, pe, pa = select_epochs(hist["eval"], hist["eval"], first_epoch=first)
            he, ha = None, None
        size = (sizes or {}).get(i) or {
            "finetune": workload.task_size(s.train_split, i),
            "select": workload.task_size(s.select_split, i) if s.select_split else 0,
            "evaluate": workload.task_size(s.eval_split, i),
        }
        res = TaskResult(
            name=shown[i],
            index=i,
            n_finetune=int(size.get("finetune", 0)),
            n_select=int(size.get("select", 0)),
            n_eval=int(size.get("evaluate", 0)),
            train_loss=tuple(hist["train_loss"]),
            select_accuracy=tuple(hist["select"]),
            eval_accuracy=tuple(hist["eval"]),
            honest_epoch=he,
            honest_accuracy=ha,
            paper_epoch=pe,
            paper_accuracy=pa,
        )
        results.append(res)
        state["done"].append(asdict(res))
        state["current"] = None
        if rt.is_main:
            save_json(state_path, state)
        if progress and rt.is_main:
            honest = f"honest {ha:.4f} (epoch {he}), " if s.select_split else ""
            tqdm.write(f"[finetune {s.adapter}] {shown[i]}: {honest}paper-style {pa:.4f} (epoch {pe})")
    if rt.is_main:
        prune(outdir / "checkpoints", (), "task-*")
    return results
