"""Augmentation and batch plans: a vectorised shift/flip equal to a per-image reference, seeded plans."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from experiments.vision.batches import Augment, apply_augment, plan_batches  # noqa: E402


def _reference(img, dy, dx, flip, pad):
    C, H, W = img.shape
    out = np.zeros_like(img)
    for y in range(H):
        for x in range(W):
            sy, sx = y + dy, x + dx
            if 0 <= sy < H and 0 <= sx < W:
                out[:, y, x] = img[:, sy, sx]
    return out[:, :, ::-1] if flip else out


def test_augment_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 2, 5, 7)).astype(np.float32)
    shift = rng.integers(-2, 3, size=(6, 2))
    flip = rng.random(6) < 0.5
    got = apply_augment(torch.from_numpy(x), shift, flip, 2).numpy()
    for i in range(6):
        np.testing.assert_array_equal(got[i], _reference(x[i], *shift[i], flip[i], 2))


def test_no_augmentation_is_identity():
    x = torch.randn(3, 1, 4, 4)
    assert torch.equal(apply_augment(x, np.zeros((3, 2), int), np.zeros(3, bool), 2), x)


def test_plans_are_seeded_and_slices_keep_rows_with_their_augmentation():
    rows, tasks = np.arange(50), np.arange(50) % 3
    a = plan_batches(rows, tasks, 16, np.random.default_rng(7), Augment(pad=2, flip=True))
    b = plan_batches(rows, tasks, 16, np.random.default_rng(7), Augment(pad=2, flip=True))
    c = plan_batches(rows, tasks, 16, np.random.default_rng(8), Augment(pad=2, flip=True))
    assert [len(x) for x in a] == [16, 16, 16, 2]
    assert all(np.array_equal(x.rows, y.rows) and np.array_equal(x.shift, y.shift) for x, y in zip(a, b))
    assert not np.array_equal(a[0].rows, c[0].rows)
    assert sorted(np.concatenate([x.rows for x in a]).tolist()) == list(range(50))
    for x in a:
        assert np.array_equal(x.tasks, x.rows % 3)
        assert np.abs(x.shift).max() <= 2
    half = a[0][2:5]
    assert np.array_equal(half.rows, a[0].rows[2:5]) and np.array_equal(half.flip, a[0].flip[2:5])
    none = plan_batches(rows, tasks, 16, np.random.default_rng(7), None)
    assert not any(x.shift.any() or x.flip.any() for x in none)
