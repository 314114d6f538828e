"""Retraining on the train split's largest personas: SR, Meta-LoRA, last-layer ML, Reptile.

Methods (paper §4.2 and v2; EXPERIMENTS.md §2)
-----------------------------------------------
``sr``
    Standard retraining: one model, one head, the tasks' examples pooled and shuffled.
``meta-lora``
    The base weights are trained jointly with one LoRA adapter and one head per task
    (adapters on every linear layer of the encoder by default); the tasks are cycled one
    minibatch at a time, each minibatch going through its own task's adapter and head:
    ``min_{W, (A_t, B_t, h_t)} sum_t L_t(W + B_t A_t, h_t)``.
``last-layer-ml``
    Last-layer meta-training: the base with one head per task (no adapters), tasks cycled.
``reptile``
    Reptile (Nichol et al. 2018): for each task in turn, ``k`` AdamW steps from the current
    weights ``phi`` on that task's minibatches give ``phi'``; then
    ``phi <- phi + eps (phi' - phi)`` with ``eps`` annealed linearly from
    ``reptile_outer_lr`` to 0. One head.

Each epoch ends with an evaluation on the held-out dialogues (per task; Meta-LoRA and
last-layer ML through the task's own adapter/head); the epoch with the best mean held-out
accuracy gives the base for fine-tuning. Checkpoints are written every epoch and
``resume=True`` continues a killed run with identical results (every random stream is
derived from ``(seed, epoch)``).

Run directory: ``config.json``, ``tokenizer/``, ``model/config.json``, ``cache/*.npz``,
``checkpoints/``, ``best/``, ``state.json``, ``result.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from landscape.errors import InvalidArgument

from .batching import plan_batches
from .checkpoint import (
    check_resume,
    load_json,
    load_optimizer_state,
    load_tensors,
    optimizer_state,
    save_json,
    save_tensors,
)
from .data import load_split
from .encoding import cached_encode, load_tokenizer, train_bpe_tokenizer
from .engine import evaluate, linear_lr, make_optimizer, train_step
from .models import MODEL_PRESETS, CrossEncoder, build_model
from .presets import RetrainConfig, validate_retrain
from .runtime import Runtime, derive_seed, peak_memory, resolve_attn, seed_torch, setup_runtime
from .tasks import group_tasks, load_cluster_map, retrain_splits

__all__ = ["METHOD_SPECS", "EpochRecord", "RetrainResult", "retrain", "load_base"]

SHARED = "shared"


@dataclass(frozen=True)
class MethodSpec:
    lora: bool
    per_task_heads: bool
    schedule: str  # "pooled" | "cycled"
    reptile: bool


METHOD_SPECS = {
    "sr": MethodSpec(lora=False, per_task_heads=False, schedule="pooled", reptile=False),
    "meta-lora": MethodSpec(lora=True, per_task_heads=True, schedule="cycled", reptile=False),
    "last-layer-ml": MethodSpec(lora=False, per_task_heads=True, schedule="cycled", reptile=False),
    "reptile": MethodSpec(lora=False, per_task_heads=False, schedule="cycled", reptile=True),
}


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
class RetrainResult:
    """Outcome of :func:`retrain` (also written to ``RUN/result.json``)."""

    run_dir: str
    method: str
    tasks: tuple
    epochs_done: int
    finished: bool
    best_epoch: int
    best_mean_heldout_accuracy: float
    history: tuple
    n_train_examples: int
    n_heldout_examples: int
    n_parameters: int
    seconds: float
    runtime: dict
    peak_memory: dict

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


# --------------------------------------------------------------------------- shared set-up


def _texts(dialogues):
    seen = set()
    for d in dialogues:
        for s in d.persona:
            if s not in seen:
                seen.add(s)
                yield s
        for e in d.examples:
            for s in (*e.history, *e.candidates):
                if s not in seen:
                    seen.add(s)
                    yield s


def prepare_tokenizer(cfg: RetrainConfig, run: Path, dialogues, rt: Runtime):
    """The run's tokenizer: saved in ``RUN/tokenizer`` (trained BPE for presets, copied otherwise)."""
    tdir = run / "tokenizer"
    if rt.is_main and not (tdir / "tokenizer_config.json").is_file():
        if cfg.model in MODEL_PRESETS:
            train_bpe_tokenizer(
                _texts(dialogues), cfg.tokenizer_vocab, tdir, max_length=cfg.max_length
            )
        else:
            try:
                tok = load_tokenizer(cfg.model)
            except Exception as exc:
                raise InvalidArgument(
                    f"`model`={cfg.model!r}: no tokenizer could be read from the directory ({exc})."
                ) from None
            tok.save_pretrained(str(tdir))
    rt.barrier()
    return load_tokenizer(tdir)


def encode_on_main(rt: Runtime, cache: Path, role: str, tokenizer, tasks, **settings):
    """Rank 0 tokenises and caches; the other ranks read the cache."""
    if rt.is_main:
        enc = cached_encode(cache, role, tokenizer, tasks, **settings)
    rt.barrier()
    if not rt.is_main:
        enc = cached_encode(cache, role, tokenizer, tasks, **settings)
    return enc


def finish_model(model: CrossEncoder, rt: Runtime, options) -> CrossEncoder:
    model.to(rt.device)
    if options.grad_checkpointing:
        model.hf.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    if options.compile:
        import torch._dynamo

        torch._dynamo.config.cache_size_limit = max(64, torch._dynamo.config.cache_size_limit)
        model.net.forward = torch.compile(model.net.forward, dynamic=True)
    model.train()
    return model


def _ckpt_name(epoch: int, what: str) -> str:
    return f"epoch-{epoch:04d}-{what}.safetensors"


def _remove_except(folder: Path, keep: set) -> None:
    if folder.is_dir():
        for f in folder.glob("epoch-*.safetensors"):
            if f.name not in keep:
                f.unlink(missing_ok=True)


# --------------------------------------------------------------------------- retraining


def _schedule(enc, spec: MethodSpec, cfg: RetrainConfig, rng, pad_multiple: int):
    """The epoch's steps: a list of ``(task index or None, [example index arrays])``."""
    kw = dict(
        batch_size=cfg.batch_size, max_tokens=cfg.max_tokens, rng=rng, pad_multiple=pad_multiple
    )
    if spec.schedule == "pooled":
        return [(None, [b]) for b in plan_batches(enc, np.arange(enc.n_examples), **kw)]
    per_task = []
    for t in range(len(enc.task_names)):
        bs = plan_batches(enc, enc.examples_of(t), **kw)
        group = cfg.reptile_inner_steps if spec.reptile else 1
        per_task.append([bs[i : i + group] for i in range(0, len(bs), group)])
    steps = []
    for r in range(max(len(p) for p in per_task)):
        for t, p in enumerate(per_task):
            if r < len(p):
                steps.append((t, p[r]))
    return steps


def retrain(
    config: RetrainConfig, out, *, resume: bool = False, progress: bool = True, on_epoch_end=None
) -> RetrainResult:
    """Retrain with ``config.method`` and write the run to ``out``.

    Parameters
    ----------
    config : RetrainConfig
    out : path
        Run directory (created). An existing run is continued only with ``resume=True``.
    resume : bool
        Continue from the last complete epoch checkpoint (the configuration must match).
    progress : bool
        Show tqdm progress bars (rank 0).
    on_epoch_end : callable, optional
        Called with each :class:`EpochRecord` after its checkpoint is written (tests use it
        to simulate a kill).

    Returns
    -------
    RetrainResult
    """
    from tqdm.auto import tqdm

    validate_retrain(config)
    cfg = config
    spec = METHOD_SPECS[cfg.method]
    rt = setup_runtime(cfg.runtime)
    run = Path(out)
    started = time.perf_counter()
    state_path = run / "state.json"
    cfg_dict = json.loads(cfg.to_json())
    check_resume(
        run, cfg_dict, resume, exists=state_path.is_file() or (run / "config.json").is_file(), what="a run"
    )
    if rt.is_main:
        run.mkdir(parents=True, exist_ok=True)
    rt.barrier()

    # ---- data and tokens
    dialogues = load_split(cfg.data, "train")
    cmap = load_cluster_map(cfg.cluster_map) if cfg.cluster_map else None
    tasks = group_tasks(dialogues, cmap)
    splits = retrain_splits(tasks, cfg.tasks, cfg.heldout_dialogues)
    tokenizer = prepare_tokenizer(cfg, run, dialogues, rt)
    settings = dict(
        max_length=cfg.max_length,
        max_candidate_length=cfg.max_candidate_length,
        persona_in_context=cfg.persona_in_context,
    )
    enc_train = encode_on_main(
        rt, run / "cache", "train", tokenizer, [(s.name, s.train) for s in splits], **settings
    )
    enc_held = encode_on_main(
        rt, run / "cache", "heldout", tokenizer, [(s.name, s.heldout) for s in splits], **settings
    )
    pad_id = int(tokenizer.pad_token_id)
    opts = cfg.runtime

    # ---- model (identical construction on every rank and on resume)
    seed_torch(cfg.seed, 0)
    hf = build_model(
        cfg.model,
        tokenizer=tokenizer,
        max_length=cfg.max_length,
        dropout=cfg.model_dropout,
        attn=resolve_attn(opts.attn, rt),
    )
    model = CrossEncoder(hf)
    names = [s.name for s in splits]
    if spec.per_task_heads:
        model.add_head(names[0])
        init = {k: v.clone() for k, v in model.head_states()[names[0]].items()}
        for n in names[1:]:
            model.add_head(n, init)  # every task's head starts from the same random head
    else:
        model.add_head(SHARED)
    if spec.lora:
        for n in names:
            model.add_lora(
                n,
                rank=cfg.lora_rank,
                alpha=cfg.lora_alpha,
                dropout=cfg.lora_dropout,
                targets=cfg.lora_targets,
            )
    model.set_base_trainable(True)
    finish_model(model, rt, opts)
    optimizer = make_optimizer(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, rt=rt)
    n_params = sum(p.numel() for p in model.parameters())

    if rt.is_main:
        hf.config.save_pretrained(str(run / "model"))
        save_json(
            run / "config.json",
            {
                "kind": "convai2-retrain",
                "config": cfg_dict,
                "tasks": [
                    {
                        "name": s.name,
                        "train_dialogues": len(s.train),
                        "heldout_dialogues": len(s.heldout),
                        "train_examples": int((enc_train.task == i).sum()),
                        "heldout_examples": int((enc_held.task == i).sum()),
                    }
                    for i, s in enumerate(splits)
                ],
                "n_personas_in_split": len(tasks),
                "n_parameters": n_params,
            },
        )

    # ---- resume
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
            ck = state["checkpoint"]
            model.load_state_dict(load_tensors(run / "checkpoints" / ck["model"], rt.device))
            meta = load_json(run / "checkpoints" / ck["optim_meta"])
            load_optimizer_state(optimizer, load_tensors(run / "checkpoints" / ck["optim"]), meta)

    route = (lambda n: n) if spec.per_task_heads else (lambda n: SHARED)
    multiple = opts.pad_multiple
    for epoch in range(state["epochs_done"] + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        seed_torch(cfg.seed, 1, epoch)
        rng = np.random.default_rng(derive_seed(cfg.seed, 2, epoch))
        steps = _schedule(enc_train, spec, cfg, rng, multiple)
        n_batches = sum(len(b) for _, b in steps)
        loss_sum = torch.zeros((), dtype=torch.float64, device=rt.device)
        count = 0
        tokens = 0
        done = 0
        bar = tqdm(
            total=n_batches,
            desc=f"{cfg.method} epoch {epoch}/{cfg.epochs}",
            disable=not (progress and rt.is_main),
            leave=False,
        )
        for task, group in steps:
            model.use(route(names[task]) if task is not None else SHARED)
            if spec.reptile:
                params = model.active_parameters()
                snapshot = [p.detach().clone() for p in params]
            for b in group:
                prog = (epoch - 1 + done / n_batches) / cfg.epochs
                ls, c, nt = train_step(
                    model,
                    enc_train,
                    b,
                    rt=rt,
                    optimizer=optimizer,
                    lr=linear_lr(cfg.lr, prog),
                    loss_kind=cfg.loss,
                    pad_id=pad_id,
                    pad_multiple=multiple,
                )
                loss_sum += ls
                count += c
                tokens += nt
                done += 1
                bar.update(1)
            if spec.reptile:
                eps = cfg.reptile_outer_lr * (1.0 - (epoch - 1 + done / n_batches) / cfg.epochs)
                eps = max(eps, 0.0)
                with torch.no_grad():
                    for p, s in zip(params, snapshot):
                        p.sub_(s).mul_(eps).add_(s)
        bar.close()
        if rt.distributed:
            torch.distributed.all_reduce(loss_sum)
        held = evaluate(
            model,
            enc_held,
            rt=rt,
            route=route,
            pad_id=pad_id,
            pad_multiple=multiple,
            max_tokens=opts.eval_max_tokens,
        )
        acc = {n: c / t for n, (c, t) in held.items()}
        mean_acc = float(np.mean(list(acc.values())))
        if rt.device.type == "cuda":
            torch.cuda.synchronize(rt.device)
        secs = time.perf_counter() - t0
        tok_total = torch.tensor([tokens], dtype=torch.float64, device=rt.device)
        if rt.distributed:
            torch.distributed.all_reduce(tok_total)
        rec = EpochRecord(
            epoch=epoch,
            train_loss=float(loss_sum.item() / max(count, 1)),
            heldout_accuracy=acc,
            mean_heldout_accuracy=mean_acc,
            seconds=secs,
            examples_per_s=enc_train.n_examples / secs,
            tokens_per_s=float(tok_total.item()) / secs,
        )
        improved = mean_acc > state["best_mean_heldout_accuracy"]
        if rt.is_main:
            files = {
                "model": _ckpt_name(epoch, "model"),
                "optim": _ckpt_name(epoch, "optim"),
                "optim_meta": f"epoch-{epoch:04d}-optim.json",
            }
            save_tensors(run / "checkpoints" / files["model"], model.state_dict())
            ot, om = optimizer_state(optimizer)
            save_tensors(run / "checkpoints" / files["optim"], ot)
            save_json(run / "checkpoints" / files["optim_meta"], om)
            if improved:
                save_tensors(run / "best" / _ckpt_name(epoch, "base"), model.base_state())
                heads = {
                    f"{h}/{k}": v for h, sd in model.head_states().items() for k, v in sd.items()
                }
                save_tensors(run / "best" / _ckpt_name(epoch, "heads"), heads)
                state["best"] = {
                    "base": _ckpt_name(epoch, "base"),
                    "heads": _ckpt_name(epoch, "heads"),
                }
                state["best_epoch"] = epoch
                state["best_mean_heldout_accuracy"] = mean_acc
            state["epochs_done"] = epoch
            state["checkpoint"] = files
            state["history"].append(asdict(rec))
            state["finished"] = epoch == cfg.epochs
            save_json(state_path, state)
            _remove_except(run / "checkpoints", set(files.values()))
            for f in (run / "checkpoints").glob("epoch-*-optim.json"):
                if f.name != files["optim_meta"]:
                    f.unlink(missing_ok=True)
            _remove_except(run / "best", set(state["best"].values()))
        else:
            if improved:
                state["best_epoch"], state["best_mean_heldout_accuracy"] = epoch, mean_acc
            state["epochs_done"] = epoch
            state["history"].append(asdict(rec))
            state["finished"] = epoch == cfg.epochs
        rt.barrier()
        if progress and rt.is_main:
            tqdm.write(
                f"[{cfg.method}] epoch {epoch}: loss {rec.train_loss:.4f}, held-out acc {mean_acc:.4f}, "
                f"{rec.examples_per_s:.1f} ex/s, {rec.tokens_per_s:.0f} tok/s"
            )
        if on_epoch_end is not None:
            on_epoch_end(rec)

    result = RetrainResult(
        run_dir=str(run),
        method=cfg.method,
        tasks=tuple(names),
        epochs_done=state["epochs_done"],
        finished=bool(state["finished"]),
        best_epoch=state["best_epoch"],
        best_mean_heldout_accuracy=state["best_mean_heldout_accuracy"],
        history=tuple(EpochRecord(**h) for h in state["history"]),
        n_train_examples=enc_train.n_examples,
        n_heldout_examples=enc_held.n_examples,
        n_parameters=n_params,
        seconds=time.perf_counter() - started,
        runtime=rt.describe(),
        peak_memory=peak_memory(rt),
    )
    if rt.is_main:
        save_json(run / "result.json", json.loads(result.to_json()))
    return result


def load_base(run) -> dict:
    """What fine-tuning needs from a retraining run: config, tokenizer dir, best weights."""
    run = Path(run)
    if not (run / "state.json").is_file() or not (run / "config.json").is_file():
        raise InvalidArgument(
            f"`base`={str(run)!r} is not a retraining run directory (no state.json/config.json)."
        )
    state = load_json(run / "state.json")
    if "best" not in state:
        raise InvalidArgument(f"`base`={str(run)!r} has no completed epoch yet.")
    conf = load_json(run / "config.json")
    return {
        "config": RetrainConfig.from_dict(conf["config"]),
        "tasks": conf["tasks"],
        "state": state,
        "tokenizer": run / "tokenizer",
        "model_config": run / "model",
        "base": run / "best" / state["best"]["base"],
        "heads": run / "best" / state["best"]["heads"],
    }
