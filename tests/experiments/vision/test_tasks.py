"""Class pairs as tasks; the splits never share an image and never select on the test split."""

import numpy as np
import pytest

from experiments.vision import ImageSet, make_splits, parse_pairs
from landscape.errors import InvalidArgument


def _tagged_set(n_train=400, n_test=200, n_classes=10):
    """Images whose first two pixels spell their identity (split, index), for disjointness checks."""

    def part(n, split):
        x = np.zeros((n, 1, 8, 8), np.uint8)
        ids = np.arange(n) + split * 10_000
        x[:, 0, 0, 0], x[:, 0, 0, 1] = ids // 256, ids % 256
        return x, (np.arange(n) % n_classes).astype(np.int64)

    xtr, ytr = part(n_train, 0)
    xte, yte = part(n_test, 1)
    return ImageSet("tagged", xtr, ytr, xte, yte, tuple(map(str, range(n_classes))), "mem")


def _ids(task):
    return set(_id_array(task).tolist())


def _id_array(task):
    return task.images[:, 0, 0, 0].astype(int) * 256 + task.images[:, 0, 0, 1]


def _class_of(images, i):
    return images.test_labels[i - 10_000] if i >= 10_000 else images.train_labels[i]


def test_paper_tasks_and_labels():
    images = _tagged_set()
    sp = make_splits(images, seed=0, heldout=6, select=8, finetune=10)
    assert [t.classes for t in sp.retrain] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    for t in (*sp.retrain, *sp.heldout, sp.finetune, sp.select, sp.evaluate):
        for i, y in zip(_id_array(t).tolist(), t.labels.tolist()):
            c = _class_of(images, i)
            assert c in t.classes and y == c % 2
    assert len(sp.finetune) == 10 and np.bincount(sp.finetune.labels).tolist() == [5, 5]
    assert len(sp.select) == 8 and len(sp.heldout[0]) == 6


def test_roles_are_disjoint_and_evaluation_is_the_test_split():
    images = _tagged_set()
    sp = make_splits(images, seed=1, heldout=6, select=8, finetune=None)
    for tr, he in zip(sp.retrain, sp.heldout):
        assert not _ids(tr) & _ids(he)
        assert all(i < 10_000 for i in _ids(tr) | _ids(he))
    assert not _ids(sp.finetune) & _ids(sp.select)
    assert all(i < 10_000 for i in _ids(sp.finetune) | _ids(sp.select))
    assert all(i >= 10_000 for i in _ids(sp.evaluate))
    assert len(sp.evaluate) == 40  # every test-split image of classes 8 and 9
    assert len(sp.finetune) + len(sp.select) == 80  # "full": all the rest


def test_splits_are_seeded():
    images = _tagged_set()
    a, b, c = (make_splits(images, seed=s, heldout=6, select=8, finetune=10) for s in (0, 0, 1))
    assert _ids(a.finetune) == _ids(b.finetune) and _ids(a.heldout[2]) == _ids(b.heldout[2])
    assert _ids(a.finetune) != _ids(c.finetune)


def test_generalised_pairs():
    images = _tagged_set()
    sp = make_splits(images, "1-0,3-2", "5-4", seed=0, heldout=4, select=4, finetune=4)
    assert [t.name for t in sp.retrain] == ["1-0", "3-2"]
    # label = position in the pair: class 1 -> 0
    t = sp.retrain[0]
    assert all(y == int(images.train_labels[i] == 0) for i, y in zip(_id_array(t).tolist(), t.labels.tolist()))


@pytest.mark.parametrize(
    "spec, match",
    [
        ("0-1,2", "class pairs like 0-1"),
        ("0-1,1-2", "every class may appear once"),
        ("", "class pairs"),
        ("a-b", "class pairs"),
    ],
)
def test_bad_pairs(spec, match):
    with pytest.raises(InvalidArgument, match=match):
        parse_pairs(spec)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tasks="0-1,2-3", test_task="3-4"), "share no class"),
        (dict(tasks="0-1,2-11"), "class 11 is not in the image set"),
        (dict(heldout=500), "leaves too few"),
        (dict(select=500), "needs more"),
        (dict(select=70, finetune=20), "images asked"),
    ],
)
def test_bad_split_requests(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        make_splits(_tagged_set(), **{"heldout": 4, "select": 4, "finetune": 4, **kwargs})
