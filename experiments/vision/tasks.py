"""Binary tasks from class pairs, and the splits that keep selection honest.

Tasks (paper v2, EXPERIMENTS.md §3)
-----------------------------------
A task is a pair of classes ``(a, b)`` of a labelled image set; its label is the position
in the pair, ``y = 0`` for ``a`` and ``y = 1`` for ``b``. For the paper's pairs
``{0,1}, {2,3}, {4,5}, {6,7}`` (retraining, ``T = 4``) and ``{8,9}`` (test) this is
``y = class mod 2``, so one shared 2-way head is meaningful across tasks. Any partition
generalises it: ``--tasks 0-1,2-3,4-5,6-7 --test-task 8-9`` (classes distinct; the test
pair shares no class with a retraining pair).

Splits (every image used in exactly one role)
---------------------------------------------
* retraining task ``t``: from the image set's *train* split, ``heldout`` images per task
  are set aside (chosen at random, balanced over the two classes) to choose the
  retraining epoch; the rest (or ``train_per_task`` of them) train.
* test task: from the *train* split, ``finetune`` images fine-tune (few-shot: e.g. 10,
  balanced; ``None`` = all that remain) and ``select`` other images choose the
  fine-tuning epoch; the image set's *test* split of the two classes (or ``evaluate`` of
  them) is the evaluation set, used for nothing but the reported number. Unlike the
  authors' code, no test-split image ever chooses an epoch.

Retraining and test-task splits draw from separate streams of ``seed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from landscape.errors import InvalidArgument
from landscape.runs import make_rng

__all__ = [
    "PAPER_TASKS",
    "PAPER_TEST_TASK",
    "TaskData",
    "Splits",
    "parse_pairs",
    "format_pairs",
    "make_splits",
    "check_pairs",
    "retrain_splits",
    "test_splits",
]

PAPER_TASKS = ((0, 1), (2, 3), (4, 5), (6, 7))
PAPER_TEST_TASK = (8, 9)

_PAIR = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_pairs(spec, *, arg: str = "--tasks") -> tuple:
    """``"0-1,2-3"`` (or a sequence of pairs) -> ``((0, 1), (2, 3))``; distinct classes."""
    if isinstance(spec, str):
        pairs = []
        for part in spec.split(","):
            m = _PAIR.match(part)
            if not m:
                raise InvalidArgument(
                    f"`{arg}` must be class pairs like 0-1,2-3; got {arg}={spec!r} (bad part {part!r})."
                )
            pairs.append((int(m.group(1)), int(m.group(2))))
    else:
        try:
            pairs = [(int(a), int(b)) for a, b in spec]
        except (TypeError, ValueError):
            raise InvalidArgument(f"`{arg}` must be pairs of class indices; got {spec!r}.") from None
    if not pairs:
        raise InvalidArgument(f"`{arg}` must name at least one class pair; got {spec!r}.")
    flat = [c for p in pairs for c in p]
    if len(set(flat)) != len(flat):
        raise InvalidArgument(f"`{arg}`: every class may appear once; got {format_pairs(pairs)}.")
    return tuple(pairs)


def format_pairs(pairs) -> str:
    return ",".join(f"{a}-{b}" for a, b in pairs)


@dataclass(frozen=True)
class TaskData:
    """Images of one task in one role: uint8 ``(n, C, H, W)`` and 0/1 labels ``(n,)``."""

    name: str
    classes: tuple
    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Splits:
    """Everything a run sees: retraining tasks (train / held-out) and the test task's roles."""

    retrain: tuple  # TaskData per retraining task
    heldout: tuple  # TaskData per retraining task
    finetune: TaskData
    select: TaskData
    evaluate: TaskData

    def describe(self) -> dict:
        return {
            "retrain": [{"name": t.name, "classes": list(t.classes), "n": len(t)} for t in self.retrain],
            "heldout": [{"name": t.name, "n": len(t)} for t in self.heldout],
            "finetune": len(self.finetune),
            "select": len(self.select),
            "evaluate": len(self.evaluate),
        }


def _balanced_take(rng, idx_a, idx_b, n):
    """``n`` indices, half from each class (the first class gets the odd one), and the rest."""
    na = min(len(idx_a), (n + 1) // 2)
    nb = min(len(idx_b), n - na)
    na = min(len(idx_a), n - nb)
    pa, pb = rng.permutation(idx_a), rng.permutation(idx_b)
    return np.concatenate([pa[:na], pb[:nb]]), pa[na:], pb[nb:]


def _task(name, pair, images, classes, idx) -> TaskData:
    idx = np.sort(idx)
    return TaskData(name, tuple(pair), images[idx], (classes[idx] == pair[1]).astype(np.int64))


def check_pairs(images, tasks, test_task) -> tuple:
    """``(tasks, test_task)`` parsed, each class in the image set, the test pair disjoint from the rest."""
    tasks = parse_pairs(tasks)
    test_pairs = parse_pairs(test_task if isinstance(test_task, str) else [test_task], arg="--test-task")
    if len(test_pairs) != 1:
        raise InvalidArgument(f"`--test-task` must be one class pair like 8-9; got {test_task!r}.")
    test_task = test_pairs[0]
    n_cls = images.n_classes
    for a, b in (*tasks, test_task):
        for c in (a, b):
            if not 0 <= c < n_cls:
                raise InvalidArgument(f"class {c} is not in the image set (classes 0..{n_cls - 1}).")
    if set(test_task) & {c for p in tasks for c in p}:
        raise InvalidArgument(
            f"`--test-task` {format_pairs([test_task])} must share no class with the retraining "
            f"tasks {format_pairs(tasks)}."
        )
    return tasks, test_task


def retrain_splits(
    images, tasks=PAPER_TASKS, *, seed: int = 0, heldout: int = 500, train_per_task: int | None = None
) -> tuple:
    """``(train, heldout)``: a :class:`TaskData` per retraining task in each (stream
    ``make_rng(seed, "vision-retrain-split")``).
    """
    tasks = parse_pairs(tasks)
    rng = make_rng(seed, "vision-retrain-split")
    xtr, ytr = images.train_images, images.train_labels
    retrain, held = [], []
    for pair in tasks:
        a, b = pair
        for c in pair:
            if not 0 <= c < images.n_classes:
                raise InvalidArgument(f"class {c} is not in the image set (classes 0..{images.n_classes - 1}).")
        h, ra, rb = _balanced_take(rng, np.flatnonzero(ytr == a), np.flatnonzero(ytr == b), heldout)
        rest = np.concatenate([ra, rb])
        if len(h) < heldout or len(rest) < 2:
            raise InvalidArgument(
                f"task {a}-{b} has {len(h) + len(rest)} training images; `heldout`={heldout} leaves too few."
            )
        if train_per_task is not None:
            rest, _, _ = _balanced_take(rng, ra, rb, train_per_task)
        name = f"{a}-{b}"
        retrain.append(_task(name, pair, xtr, ytr, rest))
        held.append(_task(name, pair, xtr, ytr, h))
    return tuple(retrain), tuple(held)


def test_splits(
    images,
    test_task=PAPER_TEST_TASK,
    *,
    seed: int = 0,
    finetune: int | None = None,
    select: int = 500,
    evaluate: int | None = None,
) -> tuple:
    """``(finetune, select, evaluate)`` :class:`TaskData` of the test task (stream
    ``make_rng(seed, "vision-test-split")``: the selection images are drawn first, so they
    do not depend on ``finetune``, and few-shot sets of one seed are nested).
    """
    ((a, b),) = parse_pairs(test_task if isinstance(test_task, str) else [test_task], arg="--test-task")
    for c in (a, b):
        if not 0 <= c < images.n_classes:
            raise InvalidArgument(f"class {c} is not in the image set (classes 0..{images.n_classes - 1}).")
    rng = make_rng(seed, "vision-test-split")
    xtr, ytr = images.train_images, images.train_labels
    ia, ib = np.flatnonzero(ytr == a), np.flatnonzero(ytr == b)
    sel, ra, rb = _balanced_take(rng, ia, ib, select)
    if len(sel) < select:
        raise InvalidArgument(f"test task {a}-{b} has {len(sel)} training images; `select`={select} needs more.")
    if finetune is None:
        ft = np.concatenate([ra, rb])
    else:
        ft, _, _ = _balanced_take(rng, ra, rb, finetune)
        if len(ft) < finetune:
            raise InvalidArgument(
                f"test task {a}-{b}: `finetune`={finetune} images asked, {len(ft)} left after selection."
            )
    if len(ft) < 2:
        raise InvalidArgument(f"test task {a}-{b}: fewer than 2 fine-tuning images.")
    xte, yte = images.test_images, images.test_labels
    if evaluate is not None:
        ev, _, _ = _balanced_take(rng, np.flatnonzero(yte == a), np.flatnonzero(yte == b), evaluate)
    else:
        ev = np.flatnonzero((yte == a) | (yte == b))
    if len(ev) == 0:
        raise InvalidArgument(f"test task {a}-{b} has no images in the test split.")
    pair, name = (a, b), f"{a}-{b}"
    return _task(name, pair, xtr, ytr, ft), _task(name, pair, xtr, ytr, sel), _task(name, pair, xte, yte, ev)


def make_splits(
    images,
    tasks=PAPER_TASKS,
    test_task=PAPER_TEST_TASK,
    *,
    seed: int = 0,
    heldout: int = 500,
    train_per_task: int | None = None,
    finetune: int | None = None,
    select: int = 500,
    evaluate: int | None = None,
) -> Splits:
    """Every split of an :class:`~.data.ImageSet` (see the module doc): :func:`retrain_splits`
    and :func:`test_splits` after checking that the pairs are valid and disjoint.

    Raises
    ------
    InvalidArgument
        A class outside the set, the test pair overlapping a retraining pair, or too few
        images of a class for the requested counts.
    """
    tasks, test_task = check_pairs(images, tasks, test_task)
    retrain, held = retrain_splits(images, tasks, seed=seed, heldout=heldout, train_per_task=train_per_task)
    ft, sel, ev = test_splits(images, test_task, seed=seed, finetune=finetune, select=select, evaluate=evaluate)
    return Splits(retrain=retrain, heldout=held, finetune=ft, select=sel, evaluate=ev)
