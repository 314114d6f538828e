"""Device, precision, seeding and data-parallel helpers shared by every torch suite.

* Device ``auto`` picks CUDA when available. Precision ``auto`` means bf16 autocast on CUDA
  (fp32 master weights and optimizer state) and fp32 on CPU; ``bf16`` forces autocast (also on
  CPU, for tests), ``off`` disables it.
* Data parallelism: when launched by ``torchrun``/``accelerate launch`` (``WORLD_SIZE > 1``)
  a process group is opened (NCCL on CUDA, gloo on CPU). Each batch is split across ranks;
  every rank computes the loss *sum* of its share divided by the global count, and the
  gradients are summed over ranks, so the update equals one process's up to floating-point
  reduction order. ``ddp="bucketed"`` (the default under ``torchrun``) wraps the model in
  ``DistributedDataParallel``, whose bucketed all-reduce overlaps the backward pass;
  ``ddp="flat"`` sums the active gradients with one flat all-reduce after backward
  (:func:`all_reduce_grads`; no overlap, but no DDP constraints). Only rank 0 writes files.

Seeds: every stream is :func:`landscape.runs.derive_seed` of ``(seed, stage, ...)``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from dataclasses import dataclass

import torch

from landscape.errors import InvalidArgument
from landscape.runs import derive_seed

from .options import RuntimeOptions, validate_runtime

__all__ = [
    "RuntimeOptions",
    "Runtime",
    "setup_runtime",
    "seed_torch",
    "all_reduce_grads",
    "all_reduce_",
    "peak_memory",
    "validate_runtime",
]

@dataclass
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None
    rank: int = 0
    world_size: int = 1
    fused_adamw: bool = False
    ddp: str = "flat"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def barrier(self):
        if self.distributed:
            torch.distributed.barrier()

    def shard(self, n: int) -> slice:
        """The contiguous share of ``n`` items this rank takes (shares differ by at most one)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def describe(self) -> dict:
        d = {
            "device": str(self.device),
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off",
            "world_size": self.world_size,
            "fused_adamw": self.fused_adamw,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }
        if self.distributed:
            d["ddp"] = self.ddp
        if self.device.type == "cuda":
            d["gpu"] = torch.cuda.get_device_name(self.device)
        return d


def setup_runtime(options: RuntimeOptions) -> Runtime:
    """A :class:`Runtime` from :class:`RuntimeOptions` (opens the process group under torchrun)."""
    validate_runtime(options)
    if options.threads:
        torch.set_num_threads(int(options.threads))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = options.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise InvalidArgument(
            "`--device cuda` was asked for but torch sees no CUDA device; use --device cpu or auto."
        )
    device = torch.device("cuda", local) if want == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    amp = options.amp
    if amp == "auto":
        amp = "bf16" if device.type == "cuda" else "off"
    amp_dtype = torch.bfloat16 if amp == "bf16" else None
    fused = options.fused_adamw == "on" or (options.fused_adamw == "auto" and device.type == "cuda")
    return Runtime(
        device=device,
        amp_dtype=amp_dtype,
        rank=rank,
        world_size=world,
        fused_adamw=fused,
        ddp=options.ddp,
    )


def seed_torch(*parts: int) -> None:
    """Seed torch's global generators (dropout, initialisation) from ``parts``."""
    torch.manual_seed(derive_seed(*parts))


def all_reduce_grads(params, rt: Runtime) -> None:
    """Sum the gradients of ``params`` over ranks in one flat all-reduce (missing grads count as 0)."""
    if not rt.distributed:
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    by_dtype: dict = {}
    for p in params:
        by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
    for group in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in group])
        torch.distributed.all_reduce(flat)
        i = 0
        for g in group:
            n = g.numel()
            g.copy_(flat[i : i + n].view_as(g))
            i += n


def all_reduce_(t: torch.Tensor, rt: Runtime) -> torch.Tensor:
    if rt.distributed:
        torch.distributed.all_reduce(t)
    return t


def peak_memory(rt: Runtime) -> dict:
    """Peak GPU memory (allocated, reserved) on CUDA; peak resident memory of the process on CPU."""
    if rt.device.type == "cuda":
        return {
            "kind": "cuda",
            "allocated_bytes": int(torch.cuda.max_memory_allocated(rt.device)),
            "reserved_bytes": int(torch.cuda.max_memory_reserved(rt.device)),
        }
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "kind": "cpu-rss",
        "allocated_bytes": int(rss * (1 if sys.platform == "darwin" else 1024)),
    }
