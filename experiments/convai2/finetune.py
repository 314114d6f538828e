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

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from experiments.engine import (
    FinetuneSettings,
    OutDir,
    TaskResult,
    check_resume,
    finetune_loop,
    load_tensors,
    peak_memory,
    save_json,
    seed_torch,
    select_epochs,
    setup_runtime,
)

from landscape.errors import InvalidArgument
from landscape.runs import jsonable
from .encoding import load_tokenizer
from .models import CrossEncoder, build_model
from .presets import FinetuneConfig, validate_finetune
from .retrain import encode_on_main, finish_model, load_base, report_map, split_tasks
from .runtime import resolve_attn
from .tasks import member_fingerprints, test_splits
from .workload import PersonaWorkload

__all__ = ["TaskResult", "ConvAI2FinetuneResult", "finetune", "select_epochs"]


@dataclass(frozen=True)
class ConvAI2FinetuneResult:
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
    mean_honest_accuracy: float | None
    mean_paper_accuracy: float
    seconds: float
    runtime: dict
    peak_memory: dict

    def to_json(self) -> dict:
        """Plain JSON values (the project's result protocol: a dict, not text)."""
        return jsonable(asdict(self))


def _task_name(i: int) -> str:
    return f"test{i}"


def check_disjoint(splits, by_name: dict, retrained: list) -> dict:
    """Refuse test personas that were retrained on (after cluster merging).

    ``retrained`` is the base run's ``config.json`` task list (names and persona
    fingerprints). A test task overlaps when it has a retraining task's name (the same
    cluster under one map for both splits) or shares one of its personas.
    """
    names = {t["name"] for t in retrained}
    prints = {p for t in retrained for p in t.get("personas", ())}
    test_prints = 0
    for s in splits:
        mine = set(member_fingerprints(by_name[s.name]))
        test_prints += len(mine)
        if s.name in names or mine & prints:
            raise InvalidArgument(
                f"test persona {s.name} was also a retraining task (same cluster or persona); "
                "the test personas must be unseen: check --data and --cluster-map."
            )
    return {
        "checked": bool(prints) or not retrained,
        "retrain_personas": len(prints),
        "test_personas": test_prints,
        "shared": 0,
    }


def finetune(
    config: FinetuneConfig, out, *, resume: bool = False, progress: bool = True, on_epoch_end=None
) -> ConvAI2FinetuneResult:
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
    ConvAI2FinetuneResult
    """
    validate_finetune(config)
    cfg = config
    base = load_base(cfg.base)
    rt = setup_runtime(cfg.runtime)
    outdir = Path(out)
    cfg_dict = cfg.to_json()
    check_resume(
        outdir, cfg_dict, resume, exists=(outdir / "config.json").is_file(), what="a fine-tuning run"
    )
    with OutDir(outdir, create=rt.is_main):
        rt.barrier()
        return _finetune(cfg, base, rt, outdir, cfg_dict, resume, progress, on_epoch_end)


def _finetune(cfg, base, rt, outdir, cfg_dict, resume, progress, on_epoch_end):
    started = time.perf_counter()
    bcfg = base["config"]
    data = cfg.data or bcfg.data
    _, tasks, map_report = split_tasks(data, "valid", bcfg.cluster_map)
    if map_report and rt.is_main:
        report_map(map_report, "valid")
    splits = test_splits(
        tasks,
        cfg.test_tasks,
        eval_dialogues=cfg.eval_dialogues,
        select_dialogues=cfg.select_dialogues,
        finetune_dialogues=cfg.finetune_dialogues,
        ranking=cfg.task_ranking,
    )
    by_name = {t.name: t for t in tasks}
    overlap = check_disjoint(splits, by_name, base["tasks"])
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
        if role != "select" or cfg.select_dialogues > 0
    }
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
                "task_ranking": cfg.task_ranking,
                "cluster_map": map_report,
                "overlap_check": overlap,
                "tasks": [
                    {
                        "rank": i + 1,
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
    workload = PersonaWorkload(
        encs,
        "finetune",
        batch_size=cfg.batch_size,
        max_tokens=cfg.max_tokens,
        loss_kind=bcfg.loss,
        pad_id=int(tokenizer.pad_token_id),
        pad_multiple=opts.pad_multiple,
        eval_max_tokens=opts.eval_max_tokens,
        token_types=model.token_types,
        bucketing=cfg.bucketing,
    )
    results = finetune_loop(
        model,
        workload,
        FinetuneSettings(
            adapter=cfg.adapter,
            epochs=cfg.epochs,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=cfg.seed,
            rank=cfg.rank,
            alpha=cfg.alpha,
            dropout=cfg.dropout,
            targets=cfg.targets,
            warmup_ratio=cfg.warmup_ratio,
            eval_epoch0=cfg.eval_epoch0,
            select_split="select" if cfg.select_dialogues > 0 else None,
        ),
        outdir,
        rt=rt,
        head_init=head_init,
        display_names=[s.name for s in splits],
        resume=resume,
        progress=progress,
        on_epoch_end=on_epoch_end,
    )
    result = ConvAI2FinetuneResult(
        out_dir=str(outdir),
        base_run=str(Path(cfg.base)),
        method=bcfg.method,
        base_rank=bcfg.lora_rank if bcfg.method == "meta-lora" else None,
        base_seed=bcfg.seed,
        adapter=cfg.adapter,
        rank=cfg.rank if cfg.adapter == "lora" else None,
        seed=cfg.seed,
        tasks=tuple(results),
        mean_honest_accuracy=(
            float(np.mean([r.honest_accuracy for r in results])) if cfg.select_dialogues > 0 else None
        ),
        mean_paper_accuracy=float(np.mean([r.paper_accuracy for r in results])),
        seconds=time.perf_counter() - started,
        runtime=rt.describe(),
        peak_memory=peak_memory(rt),
    )
    if rt.is_main:
        save_json(outdir / "results.json", result.to_json())
    return result
