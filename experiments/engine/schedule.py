"""Learning-rate schedules: linear warm-up then linear decay to zero.

With ``progress`` in ``[0, 1]`` the fraction of all optimisation steps done and ``w`` the
warm-up ratio::

    lr(progress) = base * progress / w                        if progress < w
                 = base * max(0, (1 - progress) / (1 - w))    otherwise

which is ``transformers.get_linear_schedule_with_warmup`` in continuous form (the paper's
pipeline uses it with ``w = 0.1``); ``w = 0`` is plain linear decay.
"""

from __future__ import annotations

from landscape.errors import InvalidArgument

__all__ = ["linear_lr", "check_warmup"]


def check_warmup(ratio, flag: str = "--warmup-ratio") -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise InvalidArgument(f"`{flag}` must be in [0, 1); got {ratio!r}.")
    return float(ratio)


def linear_lr(base: float, progress: float, warmup_ratio: float = 0.0) -> float:
    """The scheduled learning rate at ``progress`` (see the module docstring)."""
    if warmup_ratio <= 0.0:
        return base * max(0.0, 1.0 - progress)
    if progress < warmup_ratio:
        return base * progress / warmup_ratio
    return base * max(0.0, (1.0 - progress) / (1.0 - warmup_ratio))
