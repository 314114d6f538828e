"""Small synthetic image sets written in the real formats (tests, the notebook, smoke runs).

Each class ``c`` has a fixed random template ``m_c`` (a smooth pattern: a few random
low-frequency cosines per channel); an image of class ``c`` is
``clip(128 + 60 m_c + 40 z, 0, 255)`` with ``z ~ N(0, I)`` pixel noise, rounded to uint8.
Classes are therefore separable but noisy, so a model learns them in a few epochs and stays
below 100 %. The writers produce exactly the layouts :mod:`.data` reads: CIFAR python
batches (pickles of dicts with ``data`` rows of 3072 uint8 and ``labels``) and IDX files
(gzipped or raw).
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from landscape.runs import atomic_write_bytes, make_rng

from .data import ImageSet

__all__ = ["synth_images", "write_cifar10", "write_idx"]


def synth_images(
    n_train: int = 600,
    n_test: int = 200,
    *,
    n_classes: int = 10,
    channels: int = 1,
    size: int = 28,
    seed=0,
) -> ImageSet:
    """A synthetic labelled image set: ``n_train``/``n_test`` images, classes balanced (cyclic)."""
    rng = make_rng(seed, "vision-synth")
    grid = np.arange(size) / size
    templates = np.zeros((n_classes, channels, size, size))
    for c in range(n_classes):
        for ch in range(channels):
            for _ in range(3):
                fx, fy = rng.integers(1, 4, size=2)
                phx, phy = rng.uniform(0, 2 * np.pi, size=2)
                templates[c, ch] += np.outer(np.cos(2 * np.pi * fy * grid + phy), np.cos(2 * np.pi * fx * grid + phx))
        templates[c] /= np.abs(templates[c]).max()

    def draw(n):
        labels = np.arange(n) % n_classes
        rng.shuffle(labels)
        x = 128 + 60 * templates[labels] + 40 * rng.standard_normal((n, channels, size, size))
        return np.clip(np.rint(x), 0, 255).astype(np.uint8), labels.astype(np.int64)

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return ImageSet("synthetic", xtr, ytr, xte, yte, tuple(str(c) for c in range(n_classes)), "synthetic")


def write_cifar10(images: ImageSet, out, *, batches: int = 5, protocol: int = 2) -> Path:
    """Write ``images`` (3 x 32 x 32) as ``OUT/cifar-10-batches-py/`` python batches."""
    if images.image_shape != (3, 32, 32):
        raise ValueError(f"CIFAR batches hold 3x32x32 images; got {images.image_shape}.")
    root = Path(out) / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)

    def dump(path, x, y, label):
        obj = {b"batch_label": label, b"labels": [int(v) for v in y], b"data": x.reshape(len(x), -1)}
        atomic_write_bytes(path, pickle.dumps(obj, protocol=protocol))

    parts = np.array_split(np.arange(len(images.train_labels)), batches)
    for i, idx in enumerate(parts, 1):
        dump(root / f"data_batch_{i}", images.train_images[idx], images.train_labels[idx], b"training batch")
    dump(root / "test_batch", images.test_images, images.test_labels, b"testing batch")
    meta = {b"label_names": [n.encode() for n in images.class_names], b"num_vis": 3072}
    atomic_write_bytes(root / "batches.meta", pickle.dumps(meta, protocol=protocol))
    return root


def _idx_bytes(a: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}[a.dtype]
    header = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(images: ImageSet, out, *, gz: bool = True) -> Path:
    """Write a one-channel ``images`` as the four MNIST-layout IDX files in ``OUT``."""
    if images.image_shape[0] != 1:
        raise ValueError(f"IDX image files hold one channel; got {images.image_shape}.")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, x, y in (
        ("train", images.train_images, images.train_labels),
        ("t10k", images.test_images, images.test_labels),
    ):
        for name, arr in (
            (f"{prefix}-images-idx3-ubyte", x[:, 0]),
            (f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8)),
        ):
            data = _idx_bytes(np.ascontiguousarray(arr))
            if gz:
                data, name = gzip.compress(data, mtime=0), name + ".gz"
            atomic_write_bytes(root / name, data)
    return root
