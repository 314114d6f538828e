"""ConvAI2's one runtime choice beyond the engine's (:mod:`experiments.engine.runtime`):
the attention implementation.
"""

from __future__ import annotations

from experiments.engine.runtime import Runtime, setup_runtime

__all__ = ["resolve_attn", "Runtime", "setup_runtime"]


def resolve_attn(attn: str, rt: Runtime) -> str:
    """``auto``: PyTorch SDPA on CUDA (fused kernels), eager attention on CPU, where SDPA's
    training path with a padding mask and attention dropout was ~1.7x slower in our measurement.
    """
    if attn != "auto":
        return attn
    return "sdpa" if rt.device.type == "cuda" else "eager"
