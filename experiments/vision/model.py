"""A small MLP-Mixer (Tolstikhin et al. 2021) trained from scratch, sized as in the paper (v2).

Architecture (EXPERIMENTS.md §3), for images ``(B, C, H, W)`` cut into ``p x p`` patches,
``S = (H/p)(W/p)`` tokens of width ``D``::

    z_0   = stem(patches(x))                         stem: Linear(C p^2, D)
    u     = z + TokenMix(LN(z)^T)^T                  TokenMix: Linear(S, Dt), GELU, Dropout, Linear(Dt, S), Dropout
    z'    = u + ChannelMix(LN(u))                    ChannelMix: Linear(D, Dc), GELU, Dropout, Linear(Dc, D), Dropout
    (depth blocks)
    logit = head(mean_tokens(LN(z_depth)))           head: Linear(D, n_out)

The paper's size: ``p = 4``, ``D = 512``, depth 1, ``Dt = Dc = 256``, dropout 0.1, a 2-way
head: ~325k parameters on CIFAR-10 (64 tokens). The stem is a ``Linear`` on flattened
patches (the same map as a stride-``p`` convolution), so LoRA reaches *every* linear map,
stem and head included. Every linear layer keeps its bias.

Why not timm's ``MlpMixer``: timm 1.0 imports torchvision at module import time
(``timm.layers.create_norm``), and torchvision's PyPI build does not load beside the
project's pinned CPU torch; see docs/vision.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["MixerConfig", "MlpMixer", "linear_names"]


@dataclass(frozen=True)
class MixerConfig:
    """Sizes of :class:`MlpMixer` (written to run configs)."""

    image_size: int = 32
    channels: int = 3
    patch: int = 4
    width: int = 512
    depth: int = 1
    token_hidden: int = 256
    channel_hidden: int = 256
    dropout: float = 0.1
    n_out: int = 2

    @property
    def n_tokens(self) -> int:
        return (self.image_size // self.patch) ** 2

    def to_dict(self) -> dict:
        return asdict(self)


class _Mlp(nn.Sequential):
    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__(
            nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d), nn.Dropout(dropout)
        )


class MixerBlock(nn.Module):
    def __init__(self, cfg: MixerConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width)
        self.token_mix = _Mlp(cfg.n_tokens, cfg.token_hidden, cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.width)
        self.channel_mix = _Mlp(cfg.width, cfg.channel_hidden, cfg.dropout)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z + self.token_mix(self.norm1(z).transpose(1, 2)).transpose(1, 2)
        return z + self.channel_mix(self.norm2(z))


class MlpMixer(nn.Module):
    """MLP-Mixer classifier; ``forward(x)`` maps float images ``(B, C, H, W)`` to logits ``(B, n_out)``.

    ``features(x)`` is everything but the head (the pooled ``(B, D)`` representation), so
    per-task heads can share one body.
    """

    def __init__(self, cfg: MixerConfig):
        super().__init__()
        if cfg.image_size % cfg.patch:
            raise ValueError(f"`patch`={cfg.patch} must divide `image_size`={cfg.image_size}.")
        self.cfg = cfg
        self.stem = nn.Linear(cfg.channels * cfg.patch**2, cfg.width)
        self.blocks = nn.Sequential(*(MixerBlock(cfg) for _ in range(cfg.depth)))
        self.norm = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.n_out)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, S, C p^2)`` non-overlapping patches, row-major."""
        B, C, H, W = x.shape
        p = self.cfg.patch
        x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(B, (H // p) * (W // p), C * p * p)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        z = self.blocks(self.stem(self.patches(x)))
        return self.norm(z).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def linear_names(model: nn.Module) -> list[str]:
    """Qualified names of every ``nn.Linear`` in ``model`` (the LoRA targets), in order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
