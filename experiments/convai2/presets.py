"""Run settings for the ConvAI2 runner: dataclasses and the ``paper-v1`` / ``quick`` presets.

``paper-v1`` is Appendix C of the paper (v1): RoBERTa-Large, AdamW, linear schedule, 30
epochs; SR lr 5e-5 batch 6; Meta-LoRA-8 lr 3e-5 batch 4; Meta-LoRA-16 lr 5e-5 batch 4; LoRA
alpha 16, dropout 0.1; fine-tuning lr 3e-5 batch 6, rank k, alpha 16, dropout 0.1. The paper
gives no values for last-layer meta-training and Reptile (v2 baselines): we use the SR values
and Reptile's usual outer step 1.0 annealed linearly to 0 with 4 inner steps (our choice).
Batch sizes count *examples* (each with its 20 candidates).

``quick`` is for CPU smoke runs: the ``roberta-tiny`` model, 3 epochs and a learning rate
that a randomly initialised tiny model can learn with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from landscape.errors import InvalidArgument

__all__ = [
    "METHODS",
    "PRESETS",
    "RetrainConfig",
    "FinetuneConfig",
    "retrain_config",
    "finetune_config",
]

METHODS = ("sr", "meta-lora", "last-layer-ml", "reptile")
ADAPTERS = ("lora", "last-layer")
LOSSES = ("pointwise", "listwise")
AMP = ("auto", "bf16", "off")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run (not what): device, precision and speed switches."""

    device: str = "auto"
    amp: str = "auto"  # auto: bf16 autocast on CUDA, off on CPU
    compile: bool = False
    grad_checkpointing: bool = False
    fused_adamw: str = "auto"  # auto: fused on CUDA
    attn: str = "auto"  # auto: sdpa on CUDA, eager on CPU (faster there for training, measured)
    pad_multiple: int = 8
    eval_max_tokens: int = 65536
    threads: int | None = None


@dataclass(frozen=True)
class RetrainConfig:
    """Everything that determines a retraining run (written to ``RUN/config.json``)."""

    data: str
    method: str = "sr"
    model: str = "roberta-large"
    seed: int = 0
    tasks: int = 10
    heldout_dialogues: int = 3
    cluster_map: str | None = None
    persona_in_context: bool = False
    loss: str = "pointwise"
    epochs: int = 30
    lr: float = 5e-5
    batch_size: int = 6
    max_tokens: int | None = None
    weight_decay: float = 0.01
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_targets: str = "all-linear"
    reptile_inner_steps: int = 4
    reptile_outer_lr: float = 1.0
    max_length: int = 256
    max_candidate_length: int = 64
    model_dropout: float | None = None
    tokenizer_vocab: int = 8000
    runtime: RuntimeOptions = RuntimeOptions()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "RetrainConfig":
        d = dict(d)
        d["runtime"] = RuntimeOptions(**d.get("runtime", {}))
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that determines a fine-tuning run (written to ``FT/config.json``)."""

    base: str
    adapter: str = "lora"
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    targets: str = "all-linear"
    seed: int = 0
    data: str | None = None
    test_tasks: int = 10
    eval_dialogues: int = 2
    select_dialogues: int = 1
    finetune_dialogues: int | None = None
    epochs: int = 30
    lr: float = 3e-5
    batch_size: int = 6
    max_tokens: int | None = None
    weight_decay: float = 0.01
    head_init: str = "fresh"
    runtime: RuntimeOptions = RuntimeOptions()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneConfig":
        d = dict(d)
        d["runtime"] = RuntimeOptions(**d.get("runtime", {}))
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})


#: preset -> stage -> values; "by_method" entries refine by method (and LoRA rank).
PRESETS: dict = {
    "paper-v1": {
        "retrain": {
            "model": "roberta-large",
            "epochs": 30,
            "lora_alpha": 16.0,
            "lora_dropout": 0.1,
            "max_length": 256,
            "by_method": {
                "sr": {"lr": 5e-5, "batch_size": 6},
                ("meta-lora", 8): {"lr": 3e-5, "batch_size": 4},
                ("meta-lora", 16): {"lr": 5e-5, "batch_size": 4},
                "meta-lora": {"lr": 3e-5, "batch_size": 4},
                "last-layer-ml": {"lr": 5e-5, "batch_size": 6},
                "reptile": {"lr": 5e-5, "batch_size": 6},
            },
        },
        "finetune": {"epochs": 30, "lr": 3e-5, "batch_size": 6, "alpha": 16.0, "dropout": 0.1},
    },
    "quick": {
        "retrain": {
            "model": "roberta-tiny",
            "epochs": 3,
            "lr": 1e-3,
            "batch_size": 8,
            "lora_alpha": 16.0,
            "lora_dropout": 0.0,
            "max_length": 96,
            "max_candidate_length": 24,
            "tokenizer_vocab": 1000,
            "model_dropout": 0.0,
        },
        "finetune": {"epochs": 3, "lr": 3e-3, "batch_size": 8, "alpha": 16.0, "dropout": 0.0},
    },
}


def _check_choice(name, value, choices):
    if value not in choices:
        raise InvalidArgument(f"`{name}` must be one of {choices}; got {name}={value!r}.")


def _preset_values(
    preset: str, stage: str, method: str | None = None, rank: int | None = None
) -> dict:
    if preset not in PRESETS:
        raise InvalidArgument(f"`preset` must be one of {tuple(PRESETS)}; got preset={preset!r}.")
    table = dict(PRESETS[preset][stage])
    by = table.pop("by_method", {})
    if method is not None:
        table.update(by.get(method, {}))
        table.update(by.get((method, rank), {}))
    return table


def retrain_config(
    data: str, *, preset: str = "paper-v1", runtime: RuntimeOptions | None = None, **explicit
) -> RetrainConfig:
    """A :class:`RetrainConfig` from a preset, overridden by the ``explicit`` values that are not None."""
    explicit = {k: v for k, v in explicit.items() if v is not None}
    method = explicit.get("method", "sr")
    _check_choice("method", method, METHODS)
    rank = explicit.get("lora_rank", RetrainConfig.lora_rank)
    values = _preset_values(preset, "retrain", method, rank)
    values.update(explicit)
    cfg = RetrainConfig(data=str(data), runtime=runtime or RuntimeOptions(), **values)
    validate_retrain(cfg)
    return cfg


def finetune_config(
    base: str, *, preset: str = "paper-v1", runtime: RuntimeOptions | None = None, **explicit
) -> FinetuneConfig:
    """A :class:`FinetuneConfig` from a preset, overridden by the ``explicit`` values that are not None."""
    explicit = {k: v for k, v in explicit.items() if v is not None}
    values = _preset_values(preset, "finetune")
    values.update(explicit)
    cfg = FinetuneConfig(base=str(base), runtime=runtime or RuntimeOptions(), **values)
    validate_finetune(cfg)
    return cfg


def _pos(name, value, kind=int, low=1):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low
    if kind is int:
        ok = ok and isinstance(value, int)
    if not ok:
        raise InvalidArgument(
            f"`{name}` must be {'an integer' if kind is int else 'a number'} >= {low}; got {name}={value!r}."
        )


def _validate_runtime(rt: RuntimeOptions):
    _check_choice("device", rt.device, DEVICES)
    _check_choice("amp", rt.amp, AMP)
    _check_choice("fused_adamw", rt.fused_adamw, ("auto", "on", "off"))
    _check_choice("attn", rt.attn, ("auto", "sdpa", "eager"))
    _pos("pad_multiple", rt.pad_multiple)
    _pos("eval_max_tokens", rt.eval_max_tokens)


def validate_retrain(cfg: RetrainConfig) -> None:
    _check_choice("method", cfg.method, METHODS)
    _check_choice("loss", cfg.loss, LOSSES)
    for name in (
        "tasks",
        "heldout_dialogues",
        "epochs",
        "batch_size",
        "lora_rank",
        "reptile_inner_steps",
        "max_length",
        "max_candidate_length",
        "tokenizer_vocab",
    ):
        _pos(name, getattr(cfg, name))
    _pos("seed", cfg.seed, low=0)
    if cfg.max_tokens is not None:
        _pos("max_tokens", cfg.max_tokens)
    for name in ("lr", "lora_alpha", "reptile_outer_lr"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            raise InvalidArgument(f"`{name}` must be > 0; got {name}={v!r}.")
    for name in ("lora_dropout", "weight_decay"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise InvalidArgument(f"`{name}` must be in [0, 1); got {name}={v!r}.")
    if cfg.model_dropout is not None and not 0 <= cfg.model_dropout < 1:
        raise InvalidArgument(
            f"`model_dropout` must be in [0, 1) or None; got model_dropout={cfg.model_dropout!r}."
        )
    if cfg.max_candidate_length >= cfg.max_length:
        raise InvalidArgument(
            f"`max_candidate_length` must be < max_length={cfg.max_length}; got {cfg.max_candidate_length}."
        )
    _validate_runtime(cfg.runtime)


def validate_finetune(cfg: FinetuneConfig) -> None:
    _check_choice("adapter", cfg.adapter, ADAPTERS)
    _check_choice("head_init", cfg.head_init, ("fresh", "mean"))
    for name in (
        "rank",
        "test_tasks",
        "eval_dialogues",
        "select_dialogues",
        "epochs",
        "batch_size",
    ):
        _pos(name, getattr(cfg, name))
    _pos("seed", cfg.seed, low=0)
    if cfg.finetune_dialogues is not None:
        _pos("finetune_dialogues", cfg.finetune_dialogues)
    if cfg.max_tokens is not None:
        _pos("max_tokens", cfg.max_tokens)
    for name in ("lr", "alpha"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            raise InvalidArgument(f"`{name}` must be > 0; got {name}={v!r}.")
    for name in ("dropout", "weight_decay"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise InvalidArgument(f"`{name}` must be in [0, 1); got {name}={v!r}.")
    _validate_runtime(cfg.runtime)


__all__ += ["RuntimeOptions", "validate_retrain", "validate_finetune"]
