"""Fine-tuning a retrained base on the unseen test task: LoRA rank k (plus the head) or the head alone.

The base (the retraining run's best epoch, chosen on held-out images of the retraining
tasks) is frozen. The test task gets its head - the retrained shared head, or the mean of
the retrained per-task heads (``head_init="retrained"``), or a random one (``"fresh"``) -
and, for ``adapter="lora"``, a fresh rank-``k`` LoRA adapter on every linear layer of the
body (stem, token- and channel-mixing layers; the head itself is trained in full, so an
adapter on it would add nothing). Adapters start at zero (peft initialises the
up-projection ``B = 0``): the fine-tuned model starts exactly at the retrained one, never
from a retraining task's adapter. Every bias is kept.

The engine's :func:`~experiments.engine.finetune_loop` trains on the ``finetune`` images
(``finetune_images``: few-shot count, or all), records after every epoch (and before the
first: epoch 0) the accuracy on the test task's *selection* images (train split) and on its
*evaluation* images (test split), and reports

* **honest**: the evaluation accuracy at the epoch with the best selection accuracy;
* **best-on-test** ("paper"): the best evaluation accuracy over epochs - early stopping on
  the test images, as the authors' code does; only ever shown beside the honest number.

Output: ``FT/config.json``, ``FT/state.json`` (engine), ``FT/results.json`` (deterministic),
``FT/timings.json``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from landscape.errors import InvalidArgument

from .data import load_images
from .presets import VisionFinetuneConfig, validate_finetune
from .retrain import build_net, check_out, load_base
from .tasks import test_splits

__all__ = ["VisionFinetuneResult", "finetune", "head_init_state"]


@dataclass(frozen=True)
class VisionFinetuneResult:
    """Outcome of :func:`finetune` (``FT/results.json``)."""

    out_dir: str
    base_run: str
    method: str
    meta_heads: str | None
    base_seed: int
    base_best_epoch: int
    adapter: str
    rank: int | None
    seed: int
    test_task: str
    n_finetune: int
    n_select: int
    n_eval: int
    before_accuracy: float
    honest_epoch: int
    honest_accuracy: float
    paper_epoch: int
    paper_accuracy: float
    select_accuracy: tuple
    eval_accuracy: tuple
    train_loss: tuple
    seconds: float

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("seconds")
        return d


def head_init_state(heads: dict, how: str) -> dict | None:
    """The test task's initial head from the saved retraining heads ``{"<task>/<param>": tensor}``.

    The shared head if there is one (a peft-wrapped head's ``base_layer`` weights, without
    its adapters), else the mean of the per-task heads; None for ``how="fresh"``.
    """
    if how == "fresh":
        return None
    import torch

    per: dict = {}
    for key, v in heads.items():
        task, param = key.split("/", 1)
        if "lora_" in param:
            continue
        per.setdefault(task, {})[param.replace("base_layer.", "")] = v
    if "shared" in per:
        return per["shared"]
    keys = next(iter(per.values())).keys()
    return {k: torch.stack([per[t][k] for t in per]).mean(0) for k in keys}


def finetune(
    config: VisionFinetuneConfig, out, *, resume: bool = False, progress: bool = True, on_epoch_end=None
) -> VisionFinetuneResult:
    """Fine-tune the best epoch of the retraining run ``config.base`` on its test task.

    Parameters
    ----------
    config : VisionFinetuneConfig
    out : path
        Output directory (created; its parent must exist).
    resume : bool
        Continue a killed run (same configuration).
    on_epoch_end : callable, optional
        ``on_epoch_end(task_index, epoch)`` after each checkpoint.

    Returns
    -------
    VisionFinetuneResult
    """
    from experiments.engine import TaskModel, finetune_loop, load_tensors, save_json, seed_torch, setup_runtime
    from experiments.engine.checkpoint import OutDir, check_resume
    from experiments.engine.loop import FinetuneSettings

    from .batches import Augment
    from .model import linear_names
    from .workload import VisionWorkload

    validate_finetune(config)
    cfg = config
    started = time.perf_counter()
    base = load_base(cfg.base)
    bcfg = base["config"]
    rt = setup_runtime(cfg.runtime)
    outdir = check_out(out)
    settings = cfg.to_dict()
    check_resume(outdir, settings, resume, exists=(outdir / "config.json").is_file(), what="a vision fine-tuning run")
    images = load_images(cfg.data or bcfg.data)
    if tuple(base["meta"]["images"]["image_shape"]) != images.image_shape:
        raise InvalidArgument(
            f"`--data` images are {images.image_shape}, the base was trained on "
            f"{tuple(base['meta']['images']['image_shape'])}."
        )
    ft, sel, ev = test_splits(
        images,
        bcfg.test_task,
        seed=cfg.seed,
        finetune=cfg.finetune_images,
        select=cfg.select_images,
        evaluate=cfg.evaluate_images,
    )
    with OutDir(outdir, create=rt.is_main):
        rt.barrier()

        seed_torch(cfg.seed, 0)
        net = build_net(bcfg, images.image_shape)
        model = TaskModel(net, head="head")
        model.load_base_state(load_tensors(base["base"]))
        model.set_base_trainable(False)
        model.to(rt.device)
        head_init = head_init_state(load_tensors(base["heads"]), cfg.head_init)
        body = [n for n in linear_names(model.base) if not n.startswith("head")]
        workload = VisionWorkload(
            {"finetune": [ft], "select": [sel], "evaluate": [ev]},
            train_split="finetune",
            batch_size=cfg.batch_size,
            aug=Augment(bcfg.augment_pad, bcfg.augment_flip),
            device=rt.device,
        )
        if rt.is_main and not (outdir / "config.json").is_file():
            save_json(
                outdir / "config.json",
                {
                    "kind": "vision-finetune",
                    "config": settings,
                    "base": {
                        "run": str(Path(cfg.base)),
                        "method": bcfg.method,
                        "meta_heads": bcfg.meta_heads if bcfg.method == "meta-lora" else None,
                        "seed": bcfg.seed,
                        "best_epoch": base["state"]["best_epoch"],
                        "finished": base["state"]["finished"],
                    },
                    "test_task": {"name": ft.name, "finetune": len(ft), "select": len(sel), "evaluate": len(ev)},
                },
            )
        s = FinetuneSettings(
            adapter=cfg.adapter,
            epochs=cfg.epochs,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=cfg.seed,
            rank=cfg.rank,
            alpha=cfg.alpha,
            dropout=cfg.dropout,
            targets=tuple(body),
            eval_epoch0=True,
            train_split="finetune",
            select_split="select",
            eval_split="evaluate",
        )
        (res,) = finetune_loop(
            model,
            workload,
            s,
            outdir,
            rt=rt,
            head_init=head_init,
            display_names=[ft.name],
            sizes={0: {"finetune": len(ft), "select": len(sel), "evaluate": len(ev)}},
            resume=resume,
            progress=progress,
            on_epoch_end=on_epoch_end,
        )
        result = VisionFinetuneResult(
            out_dir=str(outdir),
            base_run=str(Path(cfg.base)),
            method=bcfg.method,
            meta_heads=bcfg.meta_heads if bcfg.method == "meta-lora" else None,
            base_seed=bcfg.seed,
            base_best_epoch=base["state"]["best_epoch"],
            adapter=cfg.adapter,
            rank=cfg.rank if cfg.adapter == "lora" else None,
            seed=cfg.seed,
            test_task=ft.name,
            n_finetune=len(ft),
            n_select=len(sel),
            n_eval=len(ev),
            before_accuracy=res.eval_accuracy[0],
            honest_epoch=res.honest_epoch,
            honest_accuracy=res.honest_accuracy,
            paper_epoch=res.paper_epoch,
            paper_accuracy=res.paper_accuracy,
            select_accuracy=res.select_accuracy,
            eval_accuracy=res.eval_accuracy,
            train_loss=res.train_loss,
            seconds=time.perf_counter() - started,
        )
        if rt.is_main:
            save_json(outdir / "results.json", result.to_json())
            save_json(outdir / "timings.json", {"seconds": result.seconds, "runtime": rt.describe()})
        return result
