"""Run settings for the ConvAI2 runner: dataclasses and the ``paper-v1`` / ``quick`` presets.

``paper-v1`` is Appendix C of the paper (v1): RoBERTa-Large, AdamW, linear schedule, 30
epochs; SR lr 5e-5 batch 6; Meta-LoRA-8 lr 3e-5 batch 4; Meta-LoRA-16 lr 5e-5 batch 4; LoRA
alpha 16, dropout 0.1; fine-tuning lr 3e-5 batch 6, rank k, alpha 16, dropout 0.1. The paper
gives no values for last-layer meta-training and Reptile (v2 baselines): we use the SR values
and Reptile's usual outer step 1.0 annealed linearly to 0 with 4 inner steps (our choice).
Batch sizes count *examples* (each with its 20 candidates).

The paper pipeline's schedule has a 10% linear warm-up (``warmup_ratio=0.1``), ranks tasks
by training examples after the held-out split (``task_ranking="examples"``) and evaluates
fine-tuning at epoch 0 too (``eval_epoch0``); ``paper-v1`` does the same.

``quick`` is for CPU smoke runs: the randomly initialised ``roberta-tiny-random`` model, 3
epochs, no warm-up and a learning rate that a random tiny model can learn with.

Validation errors name the command-line flag (``--lr``, ``--rank``), not the field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from experiments.engine.options import RuntimeOptions, validate_runtime
from landscape.errors import InvalidArgument
from landscape.runs import jsonable

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
RANKINGS = ("examples", "dialogues")
TASK_BATCHING = ("cycle", "mixed")

#: configuration field -> command-line flag, where they differ by more than ``_`` -> ``-``
_FLAG = {"lora_rank": "--rank", "lora_alpha": "--alpha", "lora_targets": "--targets", "bucketing": "--no-bucketing"}


def flag(name: str) -> str:
    """The command-line flag of a configuration field (``lora_rank`` -> ``--rank``)."""
    return _FLAG.get(name, "--" + name.replace("_", "-"))


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
    warmup_ratio: float = 0.0
    bucketing: bool = True
    task_batching: str = "cycle"
    task_ranking: str = "examples"
    max_length: int = 256
    max_candidate_length: int = 64
    model_dropout: float | None = None
    tokenizer_vocab: int = 8000
    runtime: RuntimeOptions = RuntimeOptions()

    def to_json(self) -> dict:
        """Plain JSON values (the project's result protocol: a dict, not text)."""
        return jsonable(asdict(self))

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
    task_ranking: str = "examples"
    eval_epoch0: bool = False
    epochs: int = 30
    lr: float = 3e-5
    batch_size: int = 6
    max_tokens: int | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    bucketing: bool = True
    head_init: str = "fresh"
    runtime: RuntimeOptions = RuntimeOptions()

    def to_json(self) -> dict:
        """Plain JSON values (the project's result protocol: a dict, not text)."""
        return jsonable(asdict(self))

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
            "warmup_ratio": 0.1,
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
        "finetune": {
            "epochs": 30,
            "lr": 3e-5,
            "batch_size": 6,
            "alpha": 16.0,
            "dropout": 0.1,
            "warmup_ratio": 0.1,
            "eval_epoch0": True,
        },
    },
    "quick": {
        "retrain": {
            "model": "roberta-tiny-random",
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
        raise InvalidArgument(f"`{flag(name)}` must be one of {choices}; got {value!r}.")


def _preset_values(
    preset: str, stage: str, method: str | None = None, rank: int | None = None
) -> dict:
    if preset not in PRESETS:
        raise InvalidArgument(f"`--preset` must be one of {tuple(PRESETS)}; got {preset!r}.")
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
            f"`{flag(name)}` must be {'an integer' if kind is int else 'a number'} >= {low}; got {value!r}."
        )


def _positive(cfg, *names):
    for name in names:
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            raise InvalidArgument(f"`{flag(name)}` must be > 0; got {v!r}.")


def _unit(cfg, *names):
    for name in names:
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < 1:
            raise InvalidArgument(f"`{flag(name)}` must be in [0, 1); got {v!r}.")


def validate_retrain(cfg: RetrainConfig) -> None:
    _check_choice("method", cfg.method, METHODS)
    _check_choice("loss", cfg.loss, LOSSES)
    _check_choice("task_batching", cfg.task_batching, TASK_BATCHING)
    _check_choice("task_ranking", cfg.task_ranking, RANKINGS)
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
    _positive(cfg, "lr", "lora_alpha", "reptile_outer_lr")
    _unit(cfg, "lora_dropout", "weight_decay", "warmup_ratio")
    if cfg.model_dropout is not None:
        _unit(cfg, "model_dropout")
    if cfg.max_candidate_length >= cfg.max_length:
        raise InvalidArgument(
            f"`--max-candidate-length` must be < --max-length {cfg.max_length}; got {cfg.max_candidate_length}."
        )
    if cfg.task_batching == "mixed" and cfg.method not in ("meta-lora", "last-layer-ml"):
        raise InvalidArgument(
            f"`--task-batching mixed` applies to the per-task methods meta-lora and last-layer-ml; got --method {cfg.method}."
        )
    if not isinstance(cfg.bucketing, bool):
        raise InvalidArgument(f"`--no-bucketing` is a switch; got bucketing={cfg.bucketing!r}.")
    validate_runtime(cfg.runtime)


def validate_finetune(cfg: FinetuneConfig) -> None:
    _check_choice("adapter", cfg.adapter, ADAPTERS)
    _check_choice("head_init", cfg.head_init, ("fresh", "mean"))
    _check_choice("task_ranking", cfg.task_ranking, RANKINGS)
    for name in ("rank", "test_tasks", "eval_dialogues", "epochs", "batch_size"):
        _pos(name, getattr(cfg, name))
    _pos("select_dialogues", cfg.select_dialogues, low=0)
    _pos("seed", cfg.seed, low=0)
    if cfg.finetune_dialogues is not None:
        _pos("finetune_dialogues", cfg.finetune_dialogues)
    if cfg.max_tokens is not None:
        _pos("max_tokens", cfg.max_tokens)
    _positive(cfg, "lr", "alpha")
    _unit(cfg, "dropout", "weight_decay", "warmup_ratio")
    validate_runtime(cfg.runtime)


__all__ += ["RuntimeOptions", "validate_retrain", "validate_finetune", "flag"]
