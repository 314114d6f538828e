"""Retraining the MLP-Mixer on the class-pair tasks with SR, Meta-LoRA, last-layer ML or Reptile.

A thin user of the engine (:mod:`experiments.engine`): this module reads the images, cuts
the tasks (:mod:`.tasks`), builds the model (:mod:`.model`) with the heads and adapters the
method needs, and hands the epochs to :func:`experiments.engine.retrain_loop`, which
evaluates on the held-out images of the retraining tasks after every epoch, keeps the best
epoch's base (honest selection: no test-task image is seen), checkpoints and resumes.

Methods (see the engine's strategies): ``sr`` pools the tasks' images through one head;
``meta-lora`` trains the base jointly with one LoRA adapter of rank ``lora_rank`` per task,
tasks cycled one minibatch at a time, with either one shared head and adapters on *every*
linear layer including the head (``meta_heads="shared"``, the authors' model) or one head
per task (``"per-task"``); ``last-layer-ml`` one head per task on a shared base;
``reptile`` ``theta <- theta + eps (theta_inner - theta)`` after ``reptile_inner_steps``
minibatches of one task. Every linear layer keeps its bias.

Run directory: ``config.json``, ``state.json`` and ``checkpoints/``, ``best/`` (engine),
``result.json`` (deterministic for a seed on one machine) and ``timings.json``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from landscape.errors import InvalidArgument

from .data import load_images
from .presets import VisionRetrainConfig, validate_retrain
from .tasks import parse_pairs, retrain_splits

__all__ = ["VisionRetrainResult", "retrain", "load_base", "build_net", "strategy_for", "check_out", "TIMING_KEYS"]

#: Per-epoch fields that measure speed, kept out of result.json (they differ between runs).
TIMING_KEYS = ("seconds", "examples_per_s", "tokens_per_s")


@dataclass(frozen=True)
class VisionRetrainResult:
    """Outcome of :func:`retrain` (``RUN/result.json``; timings in ``RUN/timings.json``)."""

    run_dir: str
    method: str
    seed: int
    tasks: tuple
    epochs_done: int
    finished: bool
    best_epoch: int
    best_mean_heldout_accuracy: float
    history: tuple
    n_train_images: int
    n_heldout_images: int
    n_parameters: int
    seconds: float

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("seconds")
        d["history"] = [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in d["history"]]
        return d


def check_out(path, flag: str = "--out") -> Path:
    """Refuse an output folder that cannot be created (under a file, or not writable) before any work."""
    import os

    if not str(path):
        raise InvalidArgument(f"`{flag}` must name a folder; got an empty string.")
    path = Path(path)
    p = path
    while not p.exists():
        p = p.parent
    if p == path and not p.is_dir():
        raise InvalidArgument(f"`{flag}` {str(path)!r} is a file; expected a folder.")
    if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK):
        raise InvalidArgument(f"`{flag}` {str(path)!r} cannot be created: {str(p)!r} is not a writable folder.")
    return path


def build_net(cfg: VisionRetrainConfig, image_shape):
    """The :class:`~.model.MlpMixer` of ``cfg`` for images ``(C, H, W)`` (square, ``patch | H``)."""
    from .model import MixerConfig, MlpMixer

    C, H, W = image_shape
    if H != W or H % cfg.patch:
        raise InvalidArgument(f"images must be square with `patch`={cfg.patch} dividing their side; got {H}x{W}.")
    mc = MixerConfig(
        image_size=H,
        channels=C,
        patch=cfg.patch,
        width=cfg.width,
        depth=cfg.depth,
        token_hidden=cfg.token_hidden,
        channel_hidden=cfg.channel_hidden,
        dropout=cfg.dropout,
        n_out=2,
    )
    return MlpMixer(mc)


def strategy_for(cfg: VisionRetrainConfig):
    """The engine strategy of ``cfg.method`` (Meta-LoRA with one shared head when ``meta_heads="shared"``)."""
    from experiments.engine import get_strategy

    st = get_strategy(cfg.method)
    if cfg.method == "meta-lora" and cfg.meta_heads == "shared":
        st = dataclasses.replace(st, per_task_heads=False, mixable=False)
    return st


def _add_parts(model, strategy, names, cfg: VisionRetrainConfig) -> None:
    """Heads and adapters for ``strategy``; adapters on every linear layer (the head too when shared)."""
    from experiments.engine import add_task_parts

    from .model import linear_names

    def targets(model):
        found = linear_names(model.base)  # (after the heads are added: the shared head's layer too)
        if strategy.per_task_heads:  # per-task heads are trained as heads; adapters on the body only
            found = [n for n in found if not n.startswith("head.")]
        return found

    add_task_parts(
        model, strategy, names, rank=cfg.lora_rank, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout, targets=targets
    )


def retrain(
    config: VisionRetrainConfig, out, *, resume: bool = False, progress: bool = True, on_epoch_end=None
) -> VisionRetrainResult:
    """Retrain with ``config.method`` and write the run to ``out`` (see the module doc).

    Parameters
    ----------
    config : VisionRetrainConfig
    out : path
        Run directory (created; its parent must exist). An existing run is continued only
        with ``resume=True`` and the same configuration.
    resume : bool
    progress : bool
        tqdm bars and one line per epoch.
    on_epoch_end : callable, optional
        Called with each engine ``EpochRecord`` after its checkpoint (tests simulate kills).

    Returns
    -------
    VisionRetrainResult
    """
    from experiments.engine import TaskModel, retrain_loop, save_json, seed_torch, setup_runtime
    from experiments.engine.checkpoint import OutDir, check_resume
    from experiments.engine.loop import RetrainSettings

    from .batches import Augment
    from .workload import VisionWorkload

    validate_retrain(config)
    cfg = config
    started = time.perf_counter()
    rt = setup_runtime(cfg.runtime)
    run = check_out(out)
    settings = cfg.to_dict()
    check_resume(run, settings, resume, exists=(run / "config.json").is_file(), what="a vision retraining run")
    images = load_images(cfg.data)
    tasks = parse_pairs(cfg.tasks)
    for c in {c for p in (*tasks, *parse_pairs(cfg.test_task, arg="--test-task")) for c in p}:
        if c >= images.n_classes:
            raise InvalidArgument(
                f"class {c} is not in the image set at {cfg.data} (classes 0..{images.n_classes - 1})."
            )
    train, held = retrain_splits(images, tasks, seed=cfg.seed, heldout=cfg.heldout, train_per_task=cfg.train_per_task)
    with OutDir(run, create=rt.is_main):
        rt.barrier()

        seed_torch(cfg.seed, 0)
        net = build_net(cfg, images.image_shape)
        model = TaskModel(net, head="head")
        strategy = strategy_for(cfg)
        names = [t.name for t in train]
        _add_parts(model, strategy, names, cfg)
        model.to(rt.device)
        model.train()
        n_params = sum(p.numel() for p in model.parameters())
        workload = VisionWorkload(
            {"train": train, "heldout": held},
            train_split="train",
            batch_size=cfg.batch_size,
            aug=Augment(cfg.augment_pad, cfg.augment_flip),
            device=rt.device,
        )
        if rt.is_main and not (run / "config.json").is_file():
            save_json(
                run / "config.json",
                {
                    "kind": "vision-retrain",
                    "config": settings,
                    "images": images.describe(),
                    "model": net.cfg.to_dict(),
                    "tasks": [
                        {"name": t.name, "classes": list(t.classes), "train_images": len(t), "heldout_images": len(h)}
                        for t, h in zip(train, held)
                    ],
                    "n_parameters": n_params,
                },
            )
        s = RetrainSettings(
            epochs=cfg.epochs,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=cfg.seed,
            inner_steps=cfg.reptile_inner_steps,
            outer_lr=cfg.reptile_outer_lr,
            heldout_split="heldout",
            label=cfg.method,
        )
        state = retrain_loop(
            model, workload, strategy, s, run, rt=rt, resume=resume, progress=progress, on_epoch_end=on_epoch_end
        )
        result = VisionRetrainResult(
            run_dir=str(run),
            method=cfg.method,
            seed=cfg.seed,
            tasks=tuple(names),
            epochs_done=state["epochs_done"],
            finished=bool(state["finished"]),
            best_epoch=state["best_epoch"],
            best_mean_heldout_accuracy=state["best_mean_heldout_accuracy"],
            history=tuple(state["history"]),
            n_train_images=sum(len(t) for t in train),
            n_heldout_images=sum(len(h) for h in held),
            n_parameters=n_params,
            seconds=time.perf_counter() - started,
        )
        if rt.is_main:
            save_json(run / "result.json", result.to_json())
            save_json(
                run / "timings.json",
                {
                    "seconds": result.seconds,
                    "epochs": [{k: h[k] for k in ("epoch", *TIMING_KEYS) if k in h} for h in state["history"]],
                    "runtime": rt.describe(),
                },
            )
        return result


def load_base(run) -> dict:
    """What fine-tuning needs from a retraining run: its config, state and best-epoch files."""
    from experiments.engine import load_json

    run = Path(run)
    if not (run / "state.json").is_file() or not (run / "config.json").is_file():
        raise InvalidArgument(f"`--base` {str(run)!r} is not a vision retraining run (no state.json/config.json).")
    conf = load_json(run / "config.json")
    if conf.get("kind") != "vision-retrain":
        raise InvalidArgument(f"`--base` {str(run)!r} is a {conf.get('kind')!r} run, not a vision retraining run.")
    state = load_json(run / "state.json")
    if "best" not in state:
        raise InvalidArgument(f"`--base` {str(run)!r} has no completed epoch yet.")
    return {
        "config": VisionRetrainConfig.from_dict(conf["config"]),
        "meta": conf,
        "state": state,
        "base": run / "best" / state["best"]["base"],
        "heads": run / "best" / state["best"]["heads"],
    }
