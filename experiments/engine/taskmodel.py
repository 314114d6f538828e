"""Per-task heads and per-task LoRA adapters on any torch module.

:class:`TaskModel` wraps a network ``net`` whose head sits at attribute ``head`` (for
Hugging Face sequence classifiers ``"classifier"``; for a timm model ``"head"``). The head is
replaced by a :class:`MultiHead` (one copy per task); LoRA adapters are added through peft
(``get_peft_model`` once, then ``add_adapter``: the model is wrapped once, never per task) on
the linear layers named in ``targets``, or, for mixed-task batches, as
:class:`~.batched_lora.BatchedLoRALinear` layers that route each example to its own task.

Parts and routing
-----------------
* ``use(task)`` routes every example through ``task``'s head and adapter (cycled batches,
  evaluation, fine-tuning).
* ``route_rows(tasks)`` (mixed mode) routes example ``i`` of the next forward through task
  ``tasks[i]``'s head and adapter.
* :meth:`base_parameters` (the shared network), :meth:`head_parameters`,
  :meth:`adapter_parameters`; :meth:`active_parameters` are the ones a step trains.
* :meth:`base_state` gives the shared network's weights under the network's own parameter
  names (no adapters, no heads), whichever adapter backend was used.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from landscape.errors import InvalidArgument

from .batched_lora import BatchedLoRALinear, Router

__all__ = ["MultiHead", "TaskModel"]


class MultiHead(nn.Module):
    """One head per task; ``forward`` uses the active one (or each row's own, when routed)."""

    def __init__(self, template: nn.Module, init_std: float, router: Router | None = None):
        super().__init__()
        self.heads = nn.ModuleDict()
        self.active: str | None = None
        self.__dict__["_template"] = copy.deepcopy(template)
        self.__dict__["router"] = router
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

    def forward(self, x, *args, **kwargs):
        rows = None if self.router is None else self.router.rows
        if rows is None:
            return self.heads[self.active](x, *args, **kwargs)
        names = self.router.names
        out = None
        for t in torch.unique(rows).tolist():
            sel = torch.nonzero(rows == t).squeeze(1)
            y = self.heads[names[t]](x.index_select(0, sel), *args, **kwargs)
            if out is None:
                out = y.new_zeros((x.shape[0],) + tuple(y.shape[1:]))
            out = out.index_copy(0, sel, y)
        return out


def _get(module: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        module = getattr(module, part)
    return module


def _set(module: nn.Module, path: str, value: nn.Module) -> None:
    parent, _, last = path.rpartition(".")
    setattr(_get(module, parent) if parent else module, last, value)


class TaskModel(nn.Module):
    """A network with named per-task heads and named per-task LoRA adapters.

    Parameters
    ----------
    net : nn.Module
        The network (the base); its head module at attribute path ``head`` is replaced by a
        :class:`MultiHead` built from it.
    head : str
        Attribute path of the head inside ``net``.
    init_std : float
        Standard deviation of a fresh head's linear weights (biases start at 0).
    """

    def __init__(self, net: nn.Module, *, head: str = "classifier", init_std: float = 0.02):
        super().__init__()
        self.router = Router()
        heads = MultiHead(_get(net, head), init_std, self.router)
        _set(net, head, heads)
        self.net = net
        self.__dict__["base"] = net
        self.__dict__["multihead"] = heads
        self.head_prefix = head + "."
        self.adapters: list[str] = []
        self.mixed = False
        self.train_base = True
        self.keep_adapters_trainable = False  # DDP needs a fixed set of trainable parameters

    # ---------------------------------------------------------------- structure
    def add_head(self, name: str, state: dict | None = None) -> None:
        self.multihead.add(name, state)

    def add_lora(self, name: str, *, rank: int, alpha: float, dropout: float, targets) -> None:
        """Add a peft LoRA adapter on the linear layers ``targets`` (full module names).

        The network is wrapped in a ``PeftModel`` the first time only; the base keeps its
        own ``requires_grad`` choice (peft would freeze it).
        """
        from peft import LoraConfig, get_peft_model

        if self.mixed:
            raise RuntimeError("this model uses batched (mixed-task) adapters")
        cfg = LoraConfig(
            r=int(rank),
            lora_alpha=float(alpha),
            lora_dropout=float(dropout),
            target_modules=list(targets),
            bias="none",
        )
        flags = {id(p): p.requires_grad for p in self.base.parameters()}
        if self.net is self.base:
            self.net = get_peft_model(self.base, cfg, adapter_name=name)
        else:
            self.net.add_adapter(name, cfg)
        for n, p in self.base.named_parameters():
            if "lora_" not in n and id(p) in flags:
                p.requires_grad_(flags[id(p)])
        self.adapters.append(name)
        # Keep the head routing as it is; the active head's own adapter stays active if it
        # has one, else the new adapter is (a shared head has no adapter of its own).
        active = self.multihead.active
        self._activate_adapter(active if active in self.adapters else name)

    def add_batched_lora(self, names, *, rank: int, alpha: float, dropout: float, targets) -> None:
        """One :class:`BatchedLoRALinear` per target holding the adapters of all ``names``:
        examples of one batch may then belong to different tasks (:meth:`route_rows`).
        """
        if self.adapters:
            raise RuntimeError("add batched adapters before any other adapter")
        names = list(names)
        self.set_mixed(names)
        for target in targets:
            lin = _get(self.base, target)
            if not isinstance(lin, nn.Linear):
                raise InvalidArgument(f"LoRA target {target!r} is not a linear layer.")
            _set(self.base, target, BatchedLoRALinear(lin, len(names), rank, alpha, dropout, self.router))
        self.adapters = names

    def set_mixed(self, names) -> None:
        """Allow mixed-task batches over the tasks ``names`` (heads, and adapters if batched)."""
        self.router.names = list(names)
        self.mixed = True

    def delete_task(self, name: str) -> None:
        """Remove ``name``'s head and adapter (another adapter must remain active)."""
        if name in self.adapters:
            if self.mixed:
                raise RuntimeError("batched adapters are not deleted one by one")
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

    # ---------------------------------------------------------------- routing
    def use(self, task: str) -> None:
        """Route the forward pass through ``task``'s head (and adapter, if it has one)."""
        self.router.rows = None
        if task in self.multihead.heads:
            self.multihead.active = task
        elif len(self.multihead.heads) != 1:
            raise KeyError(f"no head named {task!r}")
        if not self.adapters:
            return
        name = task if task in self.adapters else None
        if name is None:
            if len(self.adapters) != 1:
                raise KeyError(f"no adapter named {task!r}")
            name = self.adapters[0]
        self._activate_adapter(name)

    def _activate_adapter(self, name: str) -> None:
        if self.mixed:
            self.router.task = self.adapters.index(name)
            return
        if self.net.active_adapter != name:
            self.net.set_adapter(name)
            if self.keep_adapters_trainable:
                for p in self.adapter_parameters():
                    p.requires_grad_(True)

    def route_rows(self, tasks: torch.Tensor) -> None:
        """Mixed mode: row ``i`` of the next forward goes through task ``tasks[i]`` (an index
        into the task names given to :meth:`add_batched_lora`).
        """
        if not self.mixed:
            raise RuntimeError("route_rows needs batched adapters (add_batched_lora)")
        self.router.rows = tasks

    # ---------------------------------------------------------------- parameters
    def _is_base(self, n: str) -> bool:
        return "lora_" not in n and not n.startswith(self.head_prefix)

    def base_parameters(self):
        return [p for n, p in self.base.named_parameters() if self._is_base(n)]

    def head_parameters(self, name: str | None = None):
        if name is None:
            return list(self.multihead.parameters())
        return list(self.multihead.heads[name].parameters())

    def adapter_parameters(self, name: str | None = None):
        if self.mixed or name is None:
            return [p for n, p in self.base.named_parameters() if "lora_" in n]
        tag = f".{name}."
        return [p for n, p in self.base.named_parameters() if "lora_" in n and tag in n]

    def active_parameters(self):
        if self.mixed:
            ps = self.head_parameters() + self.adapter_parameters()
        else:
            ps = self.head_parameters(self.multihead.active)
            if self.adapters:
                ps = ps + self.adapter_parameters(self.net.active_adapter)
        if self.train_base:
            ps = self.base_parameters() + ps
        return [p for p in ps if p.requires_grad]

    # ---------------------------------------------------------------- state
    def base_state(self) -> dict:
        """The shared network's weights under its own names (no adapters, no heads)."""
        out = {}
        for n, t in self.base.state_dict().items():
            if not self._is_base(n):
                continue
            out[n.replace(".base_layer.", ".")] = t
        return out

    def head_states(self) -> dict:
        return {name: dict(h.state_dict()) for name, h in self.multihead.heads.items()}

    def load_base_state(self, state: dict) -> None:
        """Load :meth:`base_state` output (before any adapter is added)."""
        if self.adapters:
            raise RuntimeError("load the base before adding adapters")
        missing, unexpected = self.base.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith(self.head_prefix)]
        if missing or unexpected:
            raise InvalidArgument(
                f"base weights do not fit the model: missing {missing[:5]}, unexpected {list(unexpected)[:5]}."
            )

    def forward(self, *args, **kwargs):
        return self.net(*args, **kwargs)

    # ---------------------------------------------------------------- data parallel
    def attach_ddp(self, ddp) -> None:
        """Route calls of this model through the ``DistributedDataParallel`` wrapper ``ddp``
        (its bucketed all-reduce overlaps the backward pass); ``None`` detaches.
        """
        self.__dict__["_ddp"] = ddp
        self.__dict__["_in_ddp"] = False

    def __call__(self, *args, **kwargs):
        ddp = self.__dict__.get("_ddp")
        if ddp is None or self.__dict__.get("_in_ddp") or not torch.is_grad_enabled():
            return super().__call__(*args, **kwargs)
        self.__dict__["_in_ddp"] = True
        try:
            return ddp(*args, **kwargs)
        finally:
            self.__dict__["_in_ddp"] = False
