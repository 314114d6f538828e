"""Vision suite (paper v2): binary class-pair tasks, a small MLP-Mixer, SR vs Meta-LoRA.

Pure numpy parts (imported eagerly, no torch): :mod:`.data` (CIFAR-10 python batches through
a restricted unpickler, IDX files such as Fashion-MNIST), :mod:`.tasks` (class pairs as
tasks, honest splits), :mod:`.synth` (small synthetic sets written in both formats). The
torch parts live in their submodules and use the shared retraining engine
(:mod:`experiments.engine`): :mod:`.model` (the MLP-Mixer), :mod:`.batches` (seeded
per-epoch augmentation), :mod:`.workload`, :mod:`.retrain`, :mod:`.finetune`,
:mod:`.table`, :mod:`.run` (everything at once, as ``metalora vision run``).

Example
-------
>>> from experiments.vision import load_images, make_splits                        # doctest: +SKIP
>>> images = load_images("/usr/share/datasets/fashion-mnist")                       # doctest: +SKIP
>>> splits = make_splits(images, seed=0)                                            # doctest: +SKIP
"""

from .data import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DEBIAN,
    CifarUnpickler,
    ImageFormatError,
    ImageSet,
    UnsafePickleError,
    detect_format,
    load_images,
    read_cifar10,
    read_cifar_batch,
    read_idx,
    read_idx_dataset,
)
from .synth import synth_images, write_cifar10, write_idx
from .tasks import (
    PAPER_TASKS,
    PAPER_TEST_TASK,
    Splits,
    TaskData,
    format_pairs,
    make_splits,
    parse_pairs,
    retrain_splits,
    test_splits,
)

__all__ = [
    "CIFAR10_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEBIAN",
    "CifarUnpickler",
    "ImageFormatError",
    "ImageSet",
    "UnsafePickleError",
    "detect_format",
    "load_images",
    "read_cifar10",
    "read_cifar_batch",
    "read_idx",
    "read_idx_dataset",
    "synth_images",
    "write_cifar10",
    "write_idx",
    "PAPER_TASKS",
    "PAPER_TEST_TASK",
    "Splits",
    "TaskData",
    "format_pairs",
    "make_splits",
    "parse_pairs",
    "retrain_splits",
    "test_splits",
]
