"""Labelled image sets from a user's disk: CIFAR-10 python batches and IDX files (no downloads).

Formats
-------
CIFAR-10 python batches (``cifar-10-batches-py/``)
    ``data_batch_1`` ... ``data_batch_5`` (train) and ``test_batch`` (test), each a pickle of
    a dict with ``data`` (uint8, one row of 3072 = 1024 R, 1024 G, 1024 B values per image,
    row-major 32x32) and ``labels`` (ints); ``batches.meta`` names the classes. Pickles run
    code when loaded, so they are read with :class:`CifarUnpickler`, which admits only the
    few globals such files reference (numpy's array reconstruction and dtypes, builtin
    containers) and refuses everything else before it runs.
IDX (Fashion-MNIST, MNIST)
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each raw or gzipped (``.gz``); the file is a 4-byte magic
    (two zero bytes, a type code, the number of dimensions), the dimensions as big-endian
    int32, then the values. Debian's package ``dataset-fashion-mnist`` installs Fashion-MNIST
    in :data:`FASHION_MNIST_DEBIAN`.

Images are returned as uint8 arrays ``(N, C, H, W)`` and labels as int64 ``(N,)``.
Malformed input raises :class:`ImageFormatError` (an ``InvalidArgument``: exit code 2)
naming the file and what was expected.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.convai2.tasks import UnsafePickleError, _RestrictedUnpickler
from landscape.errors import InvalidArgument

__all__ = [
    "ImageSet",
    "ImageFormatError",
    "UnsafePickleError",
    "CifarUnpickler",
    "FASHION_MNIST_DEBIAN",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "read_cifar_batch",
    "read_cifar10",
    "read_idx",
    "read_idx_dataset",
    "load_images",
    "detect_format",
]

#: Where ``apt-get install dataset-fashion-mnist`` puts the four gzipped IDX files.
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


class ImageFormatError(InvalidArgument):
    """An image or label file is missing or not in the expected format."""


@dataclass(frozen=True)
class ImageSet:
    """A labelled image set with its train and test splits.

    Attributes
    ----------
    name : str
        ``"cifar10"`` or ``"idx"`` (the reader), plus the directory in ``source``.
    train_images, test_images : ndarray of uint8, shape (N, C, H, W)
    train_labels, test_labels : ndarray of int64, shape (N,)
    class_names : tuple of str
    source : str
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple
    source: str

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple:
        """``(C, H, W)``."""
        return tuple(self.train_images.shape[1:])

    def describe(self) -> dict:
        return {
            "format": self.name,
            "source": self.source,
            "image_shape": list(self.image_shape),
            "n_train": int(len(self.train_labels)),
            "n_test": int(len(self.test_labels)),
            "classes": list(self.class_names),
        }


# --------------------------------------------------------------------------- CIFAR pickles


def _allowed_global(module: str, name: str):
    """The callables a CIFAR batch pickle names, each wrapped to accept only what such files hold.

    ``_reconstruct`` builds an empty ``numpy.ndarray`` (no subclass), ``dtype`` accepts only
    numeric dtypes (no objects, no records), and ``_codecs.encode`` (how Python 3 writes
    ``bytes`` at protocol 2) only turns a ``str`` into ``bytes`` via latin-1.
    """
    if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        from numpy._core.multiarray import _reconstruct as real

        def _reconstruct(subtype, shape, typecode):
            if subtype is not np.ndarray:
                raise UnsafePickleError(f"array subtype {subtype!r} refused (only numpy.ndarray).")
            return real(subtype, shape, typecode)

        return _reconstruct
    if name == "ndarray" and module == "numpy":
        return np.ndarray
    if name == "dtype" and module == "numpy":

        def _dtype(spec, align=False, copy=False):
            dt = np.dtype(spec)
            if dt.kind not in "biuf" or dt.hasobject or dt.fields is not None:
                raise UnsafePickleError(f"dtype {spec!r} refused (only numeric dtypes).")
            return np.dtype(spec, align, copy)

        return _dtype
    if name == "encode" and module == "_codecs":

        def _encode(text, encoding="utf-8"):
            if not isinstance(text, str) or encoding != "latin1":
                raise UnsafePickleError("_codecs.encode refused (only str -> bytes via latin1).")
            return text.encode("latin1")

        return _encode
    return None


class CifarUnpickler(_RestrictedUnpickler):
    """The project's restricted unpickler (:mod:`experiments.convai2.tasks`), widened by exactly
    what CIFAR batches need: ``numpy.core.multiarray._reconstruct`` (for ``numpy.ndarray``
    only), ``numpy.ndarray``, ``numpy.dtype`` (numeric kinds only) and ``_codecs.encode``
    (latin-1 only, for batches re-saved by Python 3 at protocol 2).
    """

    def find_class(self, module, name):
        found = _allowed_global(module, name)
        if found is not None:
            return found
        try:
            return super().find_class(module, name)
        except UnsafePickleError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: CIFAR batches may hold only dicts, "
                "lists, bytes, strings, ints and numeric numpy arrays."
            ) from None


def _restricted_pickle(path: Path):
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageFormatError(f"{path}: cannot read ({exc.strerror}).") from None
    try:
        # The released files are Python 2 pickles: byte-string keys (``b"data"``).
        return CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or corrupt
        raise ImageFormatError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc}).") from None


def _key(d: dict, *names: str):
    for n in names:
        for k in (n, n.encode()):
            if k in d:
                return d[k]
    return None


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64.

    Raises
    ------
    UnsafePickleError
        The pickle references anything but the allowed globals.
    ImageFormatError
        Not a dict with ``data`` (uint8, N x 3072) and ``labels`` (N ints).
    """
    path = Path(path)
    obj = _restricted_pickle(path)
    if not isinstance(obj, dict):
        raise ImageFormatError(f"{path}: expected a pickled dict, got {type(obj).__name__}.")
    data = _key(obj, "data")
    labels = _key(obj, "labels", "fine_labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype}{list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ImageFormatError(f"{path}: `data` must be a uint8 array of shape (N, 3072); got {got}.")
    try:
        lab = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        lab = None
    if lab is None or lab.shape != (data.shape[0],):
        raise ImageFormatError(f"{path}: `labels` must be {data.shape[0]} integers.")
    return data.reshape(-1, 3, 32, 32), lab


def _cifar_dir(path: Path) -> Path:
    if (path / "cifar-10-batches-py").is_dir():
        return path / "cifar-10-batches-py"
    return path


def read_cifar10(path) -> ImageSet:
    """CIFAR-10 from ``path`` (the ``cifar-10-batches-py`` folder or its parent).

    Train = every ``data_batch_*`` present (sorted), test = ``test_batch``.
    """
    root = _cifar_dir(Path(path))
    train_files = sorted(root.glob("data_batch_*"))
    if not train_files or not (root / "test_batch").is_file():
        raise ImageFormatError(f"{root}: expected CIFAR python batches (data_batch_1..5 and test_batch).")
    parts = [read_cifar_batch(f) for f in train_files]
    x_test, y_test = read_cifar_batch(root / "test_batch")
    names = CIFAR10_CLASSES
    if (root / "batches.meta").is_file():
        meta = _restricted_pickle(root / "batches.meta")
        got = _key(meta, "label_names") if isinstance(meta, dict) else None
        if isinstance(got, list) and all(isinstance(n, (bytes, str)) for n in got):
            names = tuple(n.decode() if isinstance(n, bytes) else n for n in got)
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return _checked(ImageSet("cifar10", x, y, x_test, y_test, tuple(names), str(root)))


# --------------------------------------------------------------------------- IDX files

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """An IDX file (raw or gzipped) as an array of its declared type and shape.

    Raises
    ------
    ImageFormatError
        Bad magic, unknown type code, or a size that does not match the header.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImageFormatError(f"{path}: cannot read ({type(exc).__name__}: {exc}).") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ImageFormatError(f"{path}: not an IDX file (expected magic 00 00 <type> <ndim>, got {raw[:4].hex()}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ImageFormatError(f"{path}: IDX header truncated (ndim={ndim}).")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dt = np.dtype(_IDX_TYPES[raw[2]])
    need = int(np.prod(shape)) * dt.itemsize
    if len(raw) - header != need:
        raise ImageFormatError(f"{path}: IDX shape {shape} needs {need} data bytes, file has {len(raw) - header}.")
    return np.frombuffer(raw, dt, offset=header).reshape(shape).astype(dt.newbyteorder("="))


def _idx_file(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def read_idx_dataset(path, class_names=None) -> ImageSet:
    """An MNIST-layout IDX set (Fashion-MNIST): ``train-*`` and ``t10k-*`` images and labels."""
    root = Path(path)
    files = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        for what, kind in (("images", "idx3"), ("labels", "idx1")):
            f = _idx_file(root, f"{prefix}-{what}-{kind}-ubyte")
            if f is None:
                raise ImageFormatError(f"{root}: missing {prefix}-{what}-{kind}-ubyte[.gz] (IDX image set expected).")
            files[split, what] = f
    arrays = {}
    for (split, what), f in files.items():
        a = read_idx(f)
        if what == "images":
            if a.ndim != 3 or a.dtype != np.uint8:
                raise ImageFormatError(f"{f}: images must be uint8 (N, H, W); got {a.dtype}{list(a.shape)}.")
            a = a[:, None, :, :]
        else:
            if a.ndim != 1:
                raise ImageFormatError(f"{f}: labels must be one-dimensional; got shape {a.shape}.")
            a = a.astype(np.int64)
        arrays[split, what] = a
    for split in ("train", "test"):
        if len(arrays[split, "images"]) != len(arrays[split, "labels"]):
            raise ImageFormatError(
                f"{root}: {split} has {len(arrays[split, 'images'])} images but {len(arrays[split, 'labels'])} labels."
            )
    n = int(max(arrays["train", "labels"].max(initial=0), arrays["test", "labels"].max(initial=0))) + 1
    if class_names is None:
        fashion = "fashion" in str(root.resolve()).lower() and n <= 10
        class_names = FASHION_MNIST_CLASSES if fashion else tuple(str(i) for i in range(max(n, 2)))
    return _checked(
        ImageSet(
            "idx",
            arrays["train", "images"],
            arrays["train", "labels"],
            arrays["test", "images"],
            arrays["test", "labels"],
            tuple(class_names),
            str(root),
        )
    )


def _checked(s: ImageSet) -> ImageSet:
    if s.train_images.shape[1:] != s.test_images.shape[1:]:
        raise ImageFormatError(
            f"{s.source}: train images {s.train_images.shape[1:]} and test images "
            f"{s.test_images.shape[1:]} differ in shape."
        )
    for lab in (s.train_labels, s.test_labels):
        if lab.size and (lab.min() < 0 or lab.max() >= s.n_classes):
            raise ImageFormatError(
                f"{s.source}: labels must lie in [0, {s.n_classes}); got [{lab.min()}, {lab.max()}]."
            )
    return s


# --------------------------------------------------------------------------- dispatch


def detect_format(path) -> str:
    """``"cifar10"`` or ``"idx"`` from the files in ``path``; raises ImageFormatError otherwise."""
    root = Path(path)
    if not root.is_dir():
        raise ImageFormatError(f"`--data` {str(root)!r} is not a directory.")
    if (_cifar_dir(root) / "test_batch").is_file():
        return "cifar10"
    if _idx_file(root, "train-images-idx3-ubyte") is not None:
        return "idx"
    raise ImageFormatError(
        f"`--data` {str(root)!r} holds neither CIFAR python batches (cifar-10-batches-py/) nor "
        "IDX files (train-images-idx3-ubyte[.gz], ...)."
    )


def load_images(path) -> ImageSet:
    """The image set in ``path`` (CIFAR-10 python batches or IDX files, detected)."""
    fmt = detect_format(path)
    return read_cifar10(path) if fmt == "cifar10" else read_idx_dataset(path)
