"""Run settings for the vision suite: config dataclasses and the ``paper-v2`` / ``quick`` presets.

``paper-v2`` (GPU-sized) is the paper's setting (EXPERIMENTS.md §3): the MLP-Mixer with 4x4
patches, width 512, depth 1, token/channel hidden 256, dropout 0.1; batch 256, 100 epochs,
learning rate 1e-4 for retraining and 5e-4 for fine-tuning, weight decay 1e-5; Reptile with
20 inner batches. Adapter rank 1 for retraining and fine-tuning (the authors' code ignores
its rank flag and always uses 1). Held-out images for choosing the retraining epoch: 500
per retraining task, taken from the *train* split; the test task's selection split: 1000
train-split images; evaluation: the whole test split of the test pair.

``quick`` (CPU: all four methods, 3 seeds, both fine-tuning kinds in about 3 minutes of one
core on Fashion-MNIST subsets): a narrower mixer (width 128, hidden 64), 400 training and
100 held-out images per retraining task, 4 retraining epochs; fine-tuning on 100 images
(few-shot) for 12 epochs at learning rate 1e-2 (batch 20), 150 selection and 500 evaluation
images.

Optimiser differences from the authors' code (documented in docs/vision.md): the engine's
AdamW (weight decay 1e-5, decoupled) instead of Adam with L2 1e-5; the engine's linear
decay instead of a cosine schedule.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from landscape.errors import InvalidArgument

from .tasks import PAPER_TASKS, PAPER_TEST_TASK, format_pairs, parse_pairs

__all__ = [
    "METHODS",
    "ADAPTERS",
    "PRESETS",
    "VisionRetrainConfig",
    "VisionFinetuneConfig",
    "retrain_config",
    "finetune_config",
    "validate_retrain",
    "validate_finetune",
]

METHODS = ("sr", "meta-lora", "last-layer-ml", "reptile")
ADAPTERS = ("lora", "last-layer")


def _runtime_default():
    from experiments.engine.options import RuntimeOptions

    return RuntimeOptions()


@dataclass(frozen=True)
class VisionRetrainConfig:
    """Everything that determines a vision retraining run (``RUN/config.json``).

    ``meta_heads`` (Meta-LoRA only): ``"shared"`` - one head, with a LoRA adapter per task
    on every linear layer including the head (the authors' code); ``"per-task"`` - one
    head per task and adapters on the body's linear layers (the engine's default, as in
    ConvAI2). ``tasks``/``test_task`` are class pairs (``"0-1,2-3,4-5,6-7"`` / ``"8-9"``); the test
    pair is recorded so that fine-tuning uses the same one and no retraining task overlaps it.
    ``train_per_task=None`` uses every training image of a task. ``runtime`` (how to run) is
    never part of the fingerprint.
    """

    data: str
    method: str = "sr"
    seed: int = 0
    tasks: str = format_pairs(PAPER_TASKS)
    test_task: str = format_pairs([PAPER_TEST_TASK])
    heldout: int = 500
    train_per_task: int | None = None
    patch: int = 4
    width: int = 512
    depth: int = 1
    token_hidden: int = 256
    channel_hidden: int = 256
    dropout: float = 0.1
    epochs: int = 100
    lr: float = 1e-4
    batch_size: int = 256
    weight_decay: float = 1e-5
    lora_rank: int = 1
    lora_alpha: float = 1.0
    lora_dropout: float = 0.0
    meta_heads: str = "shared"
    reptile_inner_steps: int = 20
    reptile_outer_lr: float = 1.0
    augment_pad: int = 4
    augment_flip: bool = True
    runtime: object = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["runtime"] = asdict(self.runtime) if self.runtime is not None else None
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "VisionRetrainConfig":
        from experiments.engine.options import RuntimeOptions

        d = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        d["runtime"] = RuntimeOptions(**(d.get("runtime") or {}))
        return cls(**d)


@dataclass(frozen=True)
class VisionFinetuneConfig:
    """Everything that determines a fine-tuning run on the test task (``FT/config.json``).

    ``finetune_images=None`` fine-tunes on every test-task training image not used for
    selection ("full"); an integer is the few-shot count (balanced over the two classes).
    ``evaluate_images=None`` evaluates on the whole test split of the test pair.
    ``head_init``: ``"retrained"`` starts the test task's head from the retrained shared
    head (the mean of the per-task heads for per-task-head methods); ``"fresh"`` from a
    random head. ``seed`` also draws the test task's fine-tuning/selection images.
    """

    base: str
    adapter: str = "lora"
    rank: int = 1
    alpha: float = 1.0
    dropout: float = 0.0
    seed: int = 0
    data: str | None = None
    finetune_images: int | None = None
    select_images: int = 1000
    evaluate_images: int | None = None
    epochs: int = 100
    lr: float = 5e-4
    batch_size: int = 256
    weight_decay: float = 1e-5
    head_init: str = "retrained"
    runtime: object = None

    to_dict = VisionRetrainConfig.to_dict
    to_json = VisionRetrainConfig.to_json

    @classmethod
    def from_dict(cls, d: dict) -> "VisionFinetuneConfig":
        from experiments.engine.options import RuntimeOptions

        d = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        d["runtime"] = RuntimeOptions(**(d.get("runtime") or {}))
        return cls(**d)


#: preset -> stage -> values ("by_method" refines retraining values per method).
PRESETS: dict = {
    "paper-v2": {
        "retrain": {
            "heldout": 500,
            "train_per_task": None,
            "width": 512,
            "token_hidden": 256,
            "channel_hidden": 256,
            "dropout": 0.1,
            "epochs": 100,
            "lr": 1e-4,
            "batch_size": 256,
            "weight_decay": 1e-5,
            "reptile_inner_steps": 20,
            "augment_pad": 4,
        },
        "finetune": {
            "epochs": 100,
            "lr": 5e-4,
            "batch_size": 256,
            "weight_decay": 1e-5,
            "select_images": 1000,
            "finetune_images": None,
            "evaluate_images": None,
        },
    },
    "quick": {
        "retrain": {
            "heldout": 100,
            "train_per_task": 400,
            "width": 128,
            "token_hidden": 64,
            "channel_hidden": 64,
            "dropout": 0.1,
            "epochs": 4,
            "lr": 2e-3,
            "batch_size": 64,
            "weight_decay": 1e-5,
            "reptile_inner_steps": 4,
            "augment_pad": 2,
        },
        "finetune": {
            "epochs": 12,
            "lr": 1e-2,
            "batch_size": 20,
            "weight_decay": 1e-5,
            "select_images": 150,
            "finetune_images": 100,
            "evaluate_images": 500,
        },
    },
}


def _preset(preset: str, stage: str) -> dict:
    if preset not in PRESETS:
        raise InvalidArgument(f"`--preset` must be one of {tuple(PRESETS)}; got {preset!r}.")
    return dict(PRESETS[preset][stage])


def retrain_config(data, *, preset: str = "paper-v2", runtime=None, **explicit) -> VisionRetrainConfig:
    """A :class:`VisionRetrainConfig` from a preset, overridden by the ``explicit`` values that are not None."""
    values = _preset(preset, "retrain")
    values.update({k: v for k, v in explicit.items() if v is not None})
    for key in ("tasks", "test_task"):
        if key in values and not isinstance(values[key], str):
            values[key] = format_pairs(values[key] if key == "tasks" else [values[key]])
    cfg = VisionRetrainConfig(data=str(data), runtime=runtime or _runtime_default(), **values)
    validate_retrain(cfg)
    return cfg


def finetune_config(
    base, *, preset: str = "paper-v2", runtime=None, full: bool = False, **explicit
) -> VisionFinetuneConfig:
    """A :class:`VisionFinetuneConfig` from a preset, overridden by ``explicit`` values that are
    not None; ``full=True`` sets ``finetune_images=None`` (every available image).
    """
    values = _preset(preset, "finetune")
    values.update({k: v for k, v in explicit.items() if v is not None})
    if full:
        values["finetune_images"] = None
    cfg = VisionFinetuneConfig(base=str(base), runtime=runtime or _runtime_default(), **values)
    validate_finetune(cfg)
    return cfg


def _int(name, v, low=1):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise InvalidArgument(f"`{name}` must be an integer >= {low}; got {name}={v!r}.")


def _num(name, v, low=0.0, high=None, strict=False):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ok = ok and (v > low if strict else v >= low) and (high is None or v < high)
    if not ok:
        rng = f"{'>' if strict else '>='} {low}" + (f" and < {high}" if high is not None else "")
        raise InvalidArgument(f"`{name}` must be a finite number {rng}; got {name}={v!r}.")


def validate_retrain(cfg: VisionRetrainConfig) -> None:
    from experiments.engine.options import validate_runtime

    if cfg.method not in METHODS:
        raise InvalidArgument(f"`--method` must be one of {METHODS}; got {cfg.method!r}.")
    if cfg.meta_heads not in ("shared", "per-task"):
        raise InvalidArgument(f"`--meta-heads` must be shared or per-task; got {cfg.meta_heads!r}.")
    tasks = parse_pairs(cfg.tasks)
    test_pairs = parse_pairs(cfg.test_task, arg="--test-task")
    if len(test_pairs) != 1:
        raise InvalidArgument(f"`--test-task` must be one class pair like 8-9; got {cfg.test_task!r}.")
    test = test_pairs[0]
    if set(test) & {c for p in tasks for c in p}:
        raise InvalidArgument(
            f"`--test-task` {format_pairs([test])} must share no class with `--tasks` {format_pairs(tasks)}."
        )
    for name in (
        "epochs",
        "batch_size",
        "patch",
        "width",
        "depth",
        "token_hidden",
        "channel_hidden",
        "lora_rank",
        "reptile_inner_steps",
        "heldout",
    ):
        _int(name, getattr(cfg, name))
    _int("seed", cfg.seed, 0)
    _int("augment_pad", cfg.augment_pad, 0)
    for name in ("width", "token_hidden", "channel_hidden", "patch", "depth", "lora_rank"):
        if getattr(cfg, name) > 65536:
            raise InvalidArgument(f"`{name}` must be <= 65536; got {name}={getattr(cfg, name)}.")
    # the channel-mixing weights dominate the size: refuse a model that cannot fit before building it
    size = 2 * cfg.width * cfg.channel_hidden * cfg.depth
    if size > 2e9:
        raise InvalidArgument(
            f"the MLP-Mixer would have about {size / 1e9:.1f}G channel-mixing parameters (limit 2G); "
            "use smaller `--width`, `--channel-hidden` or `--depth`."
        )
    if cfg.train_per_task is not None:
        _int("train_per_task", cfg.train_per_task, 2)
    _num("lr", cfg.lr, strict=True)
    _num("lora_alpha", cfg.lora_alpha, strict=True)
    _num("reptile_outer_lr", cfg.reptile_outer_lr, strict=True)
    for name in ("dropout", "lora_dropout", "weight_decay"):
        _num(name, getattr(cfg, name), 0.0, 1.0)
    validate_runtime(cfg.runtime)


def validate_finetune(cfg: VisionFinetuneConfig) -> None:
    from experiments.engine.options import validate_runtime

    if cfg.adapter not in ADAPTERS:
        raise InvalidArgument(f"`--adapter` must be one of {ADAPTERS}; got {cfg.adapter!r}.")
    if cfg.head_init not in ("retrained", "fresh"):
        raise InvalidArgument(f"`--head-init` must be retrained or fresh; got {cfg.head_init!r}.")
    for name in ("rank", "epochs", "batch_size", "select_images"):
        _int(name, getattr(cfg, name))
    _int("seed", cfg.seed, 0)
    if cfg.finetune_images is not None:
        _int("finetune_images", cfg.finetune_images, 2)
    if cfg.evaluate_images is not None:
        _int("evaluate_images", cfg.evaluate_images, 2)
    _num("lr", cfg.lr, strict=True)
    _num("alpha", cfg.alpha, strict=True)
    for name in ("dropout", "weight_decay"):
        _num(name, getattr(cfg, name), 0.0, 1.0)
    validate_runtime(cfg.runtime)
