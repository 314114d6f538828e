"""Minibatches of task images, with per-epoch seeded augmentation.

A batch is a :class:`VisionBatch`: the rows (indices into an image bank), the task of each
row, and each row's augmentation (a shift and a flip), all drawn from the epoch's random
stream when the batch is planned. Slicing a batch (one rank's share under data
parallelism) slices all of these together, so an example is augmented the same way
whichever rank computes it, and an epoch's batches are the same whatever ran before it
(resume gives identical results). Every epoch draws fresh augmentations (the authors
augmented each image once, at load time, before seeding).

Augmentation (training batches only): a random crop of the image zero-padded by ``pad``
pixels on each side, i.e. a shift by ``(dy, dx)`` with ``dy, dx`` uniform in
``{-pad, ..., pad}``, and, if ``flip``, a horizontal flip with probability 1/2. Pixels are
scaled as ``x / 127.5 - 1`` (to [-1, 1]); the padding is 0 after scaling (mid-grey).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Augment", "VisionBatch", "plan_batches", "apply_augment", "to_float"]


@dataclass(frozen=True)
class Augment:
    """Augmentation settings: shift by up to ``pad`` pixels, optional horizontal flip."""

    pad: int = 4
    flip: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VisionBatch:
    """Rows of an image bank with their tasks and augmentations (``shift`` ``(n, 2)``, ``flip`` ``(n,)``)."""

    rows: np.ndarray
    tasks: np.ndarray
    shift: np.ndarray
    flip: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, s):
        return VisionBatch(self.rows[s], self.tasks[s], self.shift[s], self.flip[s])


def plan_batches(rows, tasks, batch_size: int, rng, aug: Augment | None) -> list:
    """Shuffle ``rows`` (with their ``tasks``) with ``rng``, cut into batches, draw augmentations."""
    rows = np.asarray(rows, dtype=np.int64)
    tasks = np.asarray(tasks, dtype=np.int64)
    perm = rng.permutation(len(rows))
    n = len(rows)
    if aug is not None and aug.pad > 0:
        shift = rng.integers(-aug.pad, aug.pad + 1, size=(n, 2))
    else:
        shift = np.zeros((n, 2), dtype=np.int64)
    flip = rng.random(n) < 0.5 if aug is not None and aug.flip else np.zeros(n, dtype=bool)
    out = []
    for i in range(0, n, batch_size):
        p = perm[i : i + batch_size]
        out.append(VisionBatch(rows[p], tasks[p], shift[i : i + batch_size], flip[i : i + batch_size]))
    return out


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [-1, 1]."""
    return x.float().div_(127.5).sub_(1.0)


def apply_augment(x: torch.Tensor, shift, flip, pad: int) -> torch.Tensor:
    """Shift each image ``x[i]`` ``(C, H, W)`` by ``shift[i] = (dy, dx)`` (zero fill) and flip it
    horizontally where ``flip[i]``. ``|dy|, |dx| <= pad``.
    """
    B, C, H, W = x.shape
    shift = torch.as_tensor(np.asarray(shift), device=x.device)
    flip = torch.as_tensor(np.asarray(flip), device=x.device)
    out = x
    if pad > 0 and bool((shift != 0).any()):
        xp = F.pad(x, (pad, pad, pad, pad))
        rows = (pad + shift[:, 0, None] + torch.arange(H, device=x.device))[:, :, None]  # (B, H, 1)
        cols = (pad + shift[:, 1, None] + torch.arange(W, device=x.device))[:, None, :]  # (B, 1, W)
        b = torch.arange(B, device=x.device)[:, None, None]
        out = xp.permute(0, 2, 3, 1)[b, rows, cols].permute(0, 3, 1, 2)
    if bool(flip.any()):
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out.contiguous()
