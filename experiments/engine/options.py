"""Runtime options (how to run, not what): plain Python, no torch import."""

from __future__ import annotations

from dataclasses import dataclass

from landscape.errors import InvalidArgument

__all__ = ["RuntimeOptions", "validate_runtime", "DEVICES", "AMP", "DDP"]

DEVICES = ("auto", "cpu", "cuda")
AMP = ("auto", "bf16", "off")
DDP = ("bucketed", "flat")


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run (not what): device, precision and speed switches.

    Never part of a run's fingerprint: a run resumed on another device continues.
    """

    device: str = "auto"
    amp: str = "auto"  # auto: bf16 autocast on CUDA, off on CPU
    compile: bool = False
    grad_checkpointing: bool = False
    fused_adamw: str = "auto"  # auto: fused on CUDA
    attn: str = "auto"  # auto: sdpa on CUDA, eager on CPU (faster there for training, measured)
    pad_multiple: int = 8
    eval_max_tokens: int = 65536
    threads: int | None = None
    ddp: str = "bucketed"  # under torchrun: DDP's overlapped buckets, or one flat all-reduce


def _choice(flag, value, choices):
    if value not in choices:
        raise InvalidArgument(f"`{flag}` must be one of {choices}; got {value!r}.")


def validate_runtime(rt: RuntimeOptions) -> None:
    """Refuse bad runtime options, naming the command-line flag."""
    _choice("--device", rt.device, DEVICES)
    _choice("--amp", rt.amp, AMP)
    _choice("--fused-adamw", rt.fused_adamw, ("auto", "on", "off"))
    _choice("--attn", rt.attn, ("auto", "sdpa", "eager"))
    _choice("--ddp", rt.ddp, DDP)
    for flag, v in (("--pad-multiple", rt.pad_multiple), ("--eval-max-tokens", rt.eval_max_tokens)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InvalidArgument(f"`{flag}` must be an integer >= 1; got {v!r}.")
    if rt.threads is not None and (isinstance(rt.threads, bool) or not isinstance(rt.threads, int)
                                   or not 1 <= rt.threads <= 4096):
        raise InvalidArgument(f"`--threads` must be an integer in [1, 4096]; got {rt.threads!r}.")
