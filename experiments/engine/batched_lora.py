"""A LoRA layer that routes each example of a batch to its own task's adapter.

peft activates one adapter at a time, so a batch must belong to one task. For mixed-task
batches (Meta-LoRA filling an accelerator with examples of many tasks at once) each target
linear layer ``W`` holds the adapters of all ``T`` tasks stacked, ``A`` ``(T, r, d_in)`` and
``B`` ``(T, d_out, r)``, and computes for the rows ``x_i`` of example ``i`` with task ``t_i``::

    y_i = W x_i + b + (alpha / r) * B[t_i] A[t_i] dropout(x_i)

as one gathered low-rank product: ``A[t]`` and ``B[t]`` are gathered per example and
applied with two batched matrix products (no loop over tasks). The per-task forward
equals peft's (``lora_B(lora_A(dropout(x))) * alpha / r``) and so do the gradients; a test
checks this to float tolerance.

One difference from cycling tasks with peft: a stacked adapter is one parameter, so AdamW
updates (decays, moves by momentum) the adapters of tasks absent from a batch, which peft's
per-task parameters without a gradient skip.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Router", "BatchedLoRALinear"]


class Router:
    """Shared by a model's batched layers and heads: which task each row of the batch uses.

    ``rows`` (a LongTensor of task indices, one per row of the batch) when set, else every
    row uses task ``task``.
    """

    def __init__(self):
        self.rows: torch.Tensor | None = None
        self.task: int = 0
        self.names: list = []

    def rows_for(self, n: int, device) -> torch.Tensor:
        if self.rows is not None:
            if self.rows.shape[0] != n:
                raise RuntimeError(f"routing has {self.rows.shape[0]} rows, the batch {n}")
            return self.rows
        return torch.full((n,), self.task, dtype=torch.long, device=device)


class BatchedLoRALinear(nn.Module):
    """``base_layer`` plus the stacked LoRA adapters of ``n_tasks`` tasks (see the module doc).

    ``lora_A`` starts like peft's (Kaiming-uniform, ``a = sqrt(5)``, per task), ``lora_B`` at
    zero, so an untrained adapter is the identity.
    """

    def __init__(self, base_layer: nn.Linear, n_tasks: int, rank: int, alpha: float, dropout: float, router: Router):
        super().__init__()
        self.base_layer = base_layer
        d_out, d_in = base_layer.weight.shape
        dev, dt = base_layer.weight.device, base_layer.weight.dtype
        self.lora_A = nn.Parameter(torch.empty(n_tasks, rank, d_in, device=dev, dtype=dt))
        self.lora_B = nn.Parameter(torch.zeros(n_tasks, d_out, rank, device=dev, dtype=dt))
        for t in range(n_tasks):
            nn.init.kaiming_uniform_(self.lora_A.data[t], a=math.sqrt(5))
        self.scaling = float(alpha) / int(rank)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.__dict__["router"] = router

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        n = x.shape[0]
        rows = self.router.rows_for(n, x.device)
        xs = self.dropout(x).reshape(n, -1, x.shape[-1])
        a = self.lora_A.index_select(0, rows)  # (n, r, d_in)
        b = self.lora_B.index_select(0, rows)  # (n, d_out, r)
        low = torch.bmm(torch.bmm(xs, a.transpose(1, 2)), b.transpose(1, 2))
        return y + (low * self.scaling).reshape(y.shape).to(y.dtype)
