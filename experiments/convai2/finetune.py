"""Fine-tuning a retrained base on each test persona, and the per-epoch accuracies.

For each of the validation split's largest personas (``test_tasks``, default 10): the base
is frozen and a fresh LoRA adapter of rank ``k`` plus a fresh head (``adapter="lora"``), or a
fresh head alone (``adapter="last-layer"``), is trained on the persona's fine-tune dialogues.
After every epoch the accuracy is measured on the *selection* dialogues and on the
*evaluation* dialogues. Two numbers are reported per persona:

* **honest**: the evaluation accuracy at the epoch with the best selection accuracy
  (earliest on ties) - a number that could be reported for a new persona;
* **paper**: the best evaluation accuracy over epochs - the paper's "accuracy on the
  heldout data from the best performing epoch", i.e. early stopping on the test set itself.
  Only ever shown next to the honest number.

The adapters of the test personas live in one ``PeftModel`` (``add_adapter`` /
``delete_adapter``), the model is never re-wrapped. Each persona's fresh initialisation is
seeded by ``(seed, persona index)``, so results do not depend on the order or on resuming;
a checkpoint is written every epoch and ``resume=True`` continues a killed run.
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
from .encoding import load_tokenizer
from .engine import evaluate, linear_lr, make_optimizer, train_step
from .models import CrossEncoder, build_model
from .presets import FinetuneConfig, validate_finetune
from .retrain import encode_on_main, finish_model, load_base
from .runtime import derive_seed, peak_memory, resolve_attn, seed_torch, setup_runtime
from .tasks import group_tasks, load_cluster_map, test_splits

__all__ = ["TaskResult", "FinetuneResult", "finetune", "select_epochs"]


@dataclass(frozen=True)
class TaskResult:
    """Per-epoch accuracies of one test persona and the two selected numbers."""

    name: str
    index: int
    n_finetune: int
    n_select: int
    n_eval: int
    train_loss: tuple
    select_accuracy: tuple
    eval_accuracy: tuple
    honest_epoch: int
    honest_accuracy: float
    paper_epoch: int
    paper_accuracy: float


@dataclass(frozen=True)
class FinetuneResult:
    """Outcome of :func:`finetune` (also ``FT/results.json``)."""

    out_dir: str
    base_run: str
    method: str
    base_rank: int | None
    base_seed: int
    adapter: str
    rank: int | None
    seed: int
    tasks: tuple
    mean_honest_accuracy: float
    mean_paper_accuracy: float
    seconds: float
    runtime: dict
    peak_memory: dict

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def select_epochs(select_acc, eval_acc) -> tuple[int, float, int, float]:
    """(honest epoch, its eval accuracy, paper epoch, its eval accuracy); epochs are 1-based.

    Honest: argmax of the selection accuracy (earliest on ties). Paper: argmax of the
    evaluation accuracy itself (earliest on ties).
    """
    s = np.asarray(select_acc, dtype=float)
    e = np.asarray(eval_acc, dtype=float)
    if s.shape != e.shape or s.size == 0:
        raise InvalidArgument(
            f"`select_acc` and `eval_acc` must be non-empty and of equal length; got {s.size}, {e.size}."
        )
    h = int(np.argmax(s))
    p = int(np.argmax(e))
    return h + 1, float(e[h]), p + 1, float(e[p])


def _task_name(i: int) -> str:
    return f"test{i}"


def finetune(
    config: FinetuneConfig, out, *, resume: bool = False, progress: bool = True, on_epoch_end=None
) -> FinetuneResult:
    """Fine-tune the best epoch of the retraining run ``config.base`` on each test persona.

    Parameters
    ----------
    config : FinetuneConfig
    out : path
        Output directory (``config.json``, ``state.json``, ``results.json``, ``checkpoints/``).
    resume : bool
        Continue a killed run (finished personas are kept, the current one restarts from its
        last epoch checkpoint).
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(task_index, epoch)`` after each checkpoint.

    Returns
    -------
    FinetuneResult
    """
    from tqdm.auto import tqdm

    validate_finetune(config)
    cfg = config
    base = load_base(cfg.base)
    bcfg = base["config"]
    rt = setup_runtime(cfg.runtime)
    outdir = Path(out)
    started = time.perf_counter()
    cfg_dict = json.loads(cfg.to_json())
    check_resume(
        outdir, cfg_dict, resume, exists=(outdir / "config.json").is_file(), what="a fine-tuning run"
    )
    if rt.is_main:
        outdir.mkdir(parents=True, exist_ok=True)
    rt.barrier()

    data = cfg.data or bcfg.data
    dialogues = load_split(data, "valid")
    cmap = load_cluster_map(bcfg.cluster_map) if bcfg.cluster_map else None
    splits = test_splits(
        group_tasks(dialogues, cmap),
        cfg.test_tasks,
        eval_dialogues=cfg.eval_dialogues,
        select_dialogues=cfg.select_dialogues,
        finetune_dialogues=cfg.finetune_dialogues,
    )
    tokenizer = load_tokenizer(base["tokenizer"])
    settings = dict(
        max_length=bcfg.max_length,
        max_candidate_length=bcfg.max_candidate_length,
        persona_in_context=bcfg.persona_in_context,
    )
    cache = outdir / "cache"
    encs = {
        role: encode_on_main(
            rt,
            cache,
            role,
            tokenizer,
            [(_task_name(i), getattr(s, role)) for i, s in enumerate(splits)],
            **settings,
        )
        for role in ("finetune", "select", "evaluate")
    }
    pad_id = int(tokenizer.pad_token_id)
    opts = cfg.runtime

    from transformers import AutoConfig

    hf_config = AutoConfig.from_pretrained(str(base["model_config"]), local_files_only=True)
    seed_torch(cfg.seed, 0)
    hf = build_model(
        bcfg.model, config=hf_config, dropout=bcfg.model_dropout, attn=resolve_attn(opts.attn, rt)
    )
    model = CrossEncoder(hf)
    model.load_base_state(load_tensors(base["base"]))
    model.set_base_trainable(False)
    head_init = None
    if cfg.head_init == "mean":
        heads: dict = {}
        for k, v in load_tensors(base["heads"]).items():
            heads.setdefault(k.split("/", 1)[1], []).append(v)
        head_init = {k: torch.stack(vs).mean(0) for k, vs in heads.items()}
    finish_model(model, rt, opts)

    if rt.is_main:
        save_json(
            outdir / "config.json",
            {
                "kind": "convai2-finetune",
                "config": cfg_dict,
                "base": {
                    "run": str(Path(cfg.base)),
                    "method": bcfg.method,
                    "lora_rank": bcfg.lora_rank if bcfg.method == "meta-lora" else None,
                    "seed": bcfg.seed,
                    "model": bcfg.model,
                    "best_epoch": base["state"]["best_epoch"],
                    "finished": base["state"]["finished"],
                },
                "tasks": [
                    {
                        "name": s.name,
                        "label": _task_name(i),
                        "finetune_dialogues": len(s.finetune),
                        "select_dialogues": len(s.select),
                        "eval_dialogues": len(s.evaluate),
                    }
                    for i, s in enumerate(splits)
                ],
                "data": str(data),
            },
        )
    state_path = outdir / "state.json"
    state = {"done": [], "current": None}
    if resume and state_path.is_file():
        state = load_json(state_path)

    multiple = opts.pad_multiple
    results = [TaskResult(**r) for r in state["done"]]
    for i, split in enumerate(splits):
        if i < len(results):
            continue
        name = _task_name(i)
        seed_torch(cfg.seed, 3, i)
        model.add_head(name, head_init)
        if cfg.adapter == "lora":
            model.add_lora(
                name, rank=cfg.rank, alpha=cfg.alpha, dropout=cfg.dropout, targets=cfg.targets
            )
        if i > 0 and _task_name(i - 1) in model.multihead.heads:
            model.delete_task(_task_name(i - 1))  # the model stays wrapped; only the adapter goes
        model.to(rt.device)
        model.use(name)
        params = model.head_parameters(name) + (
            model.adapter_parameters(name) if cfg.adapter == "lora" else []
        )
        for p in params:
            p.requires_grad_(True)
        optimizer = make_optimizer(params, lr=cfg.lr, weight_decay=cfg.weight_decay, rt=rt)
        hist = {"train_loss": [], "select": [], "eval": []}
        start_epoch = 1
        cur = state.get("current")
        if resume and cur and cur["task"] == i:
            sd = load_tensors(outdir / "checkpoints" / cur["params"], rt.device)
            with torch.no_grad():
                for k, p in enumerate(params):
                    p.copy_(sd[str(k)])
            load_optimizer_state(
                optimizer,
                load_tensors(outdir / "checkpoints" / cur["optim"]),
                load_json(outdir / "checkpoints" / cur["optim_meta"]),
            )
            hist = cur["hist"]
            start_epoch = cur["epoch"] + 1
        task_idx = np.arange(encs["finetune"].n_examples)[encs["finetune"].task == i]
        enc = encs["finetune"]
        for epoch in range(start_epoch, cfg.epochs + 1):
            seed_torch(cfg.seed, 4, i, epoch)
            rng = np.random.default_rng(derive_seed(cfg.seed, 5, i, epoch))
            batches = plan_batches(
                enc,
                task_idx,
                batch_size=cfg.batch_size,
                max_tokens=cfg.max_tokens,
                rng=rng,
                pad_multiple=multiple,
            )
            loss_sum = torch.zeros((), dtype=torch.float64, device=rt.device)
            count = 0
            for j, b in enumerate(
                tqdm(
                    batches,
                    desc=f"{name} epoch {epoch}/{cfg.epochs}",
                    disable=not (progress and rt.is_main),
                    leave=False,
                )
            ):
                prog = (epoch - 1 + j / len(batches)) / cfg.epochs
                ls, c, _ = train_step(
                    model,
                    enc,
                    b,
                    rt=rt,
                    optimizer=optimizer,
                    lr=linear_lr(cfg.lr, prog),
                    loss_kind=bcfg.loss,
                    pad_id=pad_id,
                    pad_multiple=multiple,
                )
                loss_sum += ls
                count += c
            if rt.distributed:
                torch.distributed.all_reduce(loss_sum)
            accs = {}
            for role in ("select", "evaluate"):
                sub = encs[role]
                got = evaluate(
                    model,
                    sub,
                    rt=rt,
                    route=lambda n: name,
                    pad_id=pad_id,
                    pad_multiple=multiple,
                    max_tokens=opts.eval_max_tokens,
                    tasks=[i],
                )
                c_, t_ = got[name]
                accs[role] = c_ / t_
            hist["train_loss"].append(float(loss_sum.item() / max(count, 1)))
            hist["select"].append(accs["select"])
            hist["eval"].append(accs["evaluate"])
            if rt.is_main:
                files = {
                    "params": f"task-{i:03d}-epoch-{epoch:04d}-params.safetensors",
                    "optim": f"task-{i:03d}-epoch-{epoch:04d}-optim.safetensors",
                    "optim_meta": f"task-{i:03d}-epoch-{epoch:04d}-optim.json",
                }
                save_tensors(
                    outdir / "checkpoints" / files["params"],
                    {str(k): p for k, p in enumerate(params)},
                )
                ot, om = optimizer_state(optimizer)
                save_tensors(outdir / "checkpoints" / files["optim"], ot)
                save_json(outdir / "checkpoints" / files["optim_meta"], om)
                state["current"] = {"task": i, "epoch": epoch, "hist": hist, **files}
                save_json(state_path, state)
                for f in (outdir / "checkpoints").glob("task-*"):
                    if f.name not in files.values():
                        f.unlink(missing_ok=True)
            rt.barrier()
            if on_epoch_end is not None:
                on_epoch_end(i, epoch)
        he, ha, pe, pa = select_epochs(hist["select"], hist["eval"])
        res = TaskResult(
            name=split.name,
            index=i,
            n_finetune=int((encs["finetune"].task == i).sum()),
            n_select=int((encs["select"].task == i).sum()),
            n_eval=int((encs["evaluate"].task == i).sum()),
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
            tqdm.write(
                f"[finetune {cfg.adapter}] {split.name}: honest {ha:.4f} (epoch {he}), paper {pa:.4f} (epoch {pe})"
            )

    result = FinetuneResult(
        out_dir=str(outdir),
        base_run=str(Path(cfg.base)),
        method=bcfg.method,
        base_rank=bcfg.lora_rank if bcfg.method == "meta-lora" else None,
        base_seed=bcfg.seed,
        adapter=cfg.adapter,
        rank=cfg.rank if cfg.adapter == "lora" else None,
        seed=cfg.seed,
        tasks=tuple(results),
        mean_honest_accuracy=float(np.mean([r.honest_accuracy for r in results])),
        mean_paper_accuracy=float(np.mean([r.paper_accuracy for r in results])),
        seconds=time.perf_counter() - started,
        runtime=rt.describe(),
        peak_memory=peak_memory(rt),
    )
    if rt.is_main:
        save_json(outdir / "results.json", json.loads(result.to_json()))
        for f in (outdir / "checkpoints").glob("task-*"):
            f.unlink(missing_ok=True)
    return result
