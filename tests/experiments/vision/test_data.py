"""Readers: CIFAR python batches through the restricted unpickler, IDX files raw and gzipped."""

import gzip
import os
import pickle

import numpy as np
import pytest

from experiments.vision import (
    ImageFormatError,
    UnsafePickleError,
    detect_format,
    load_images,
    read_cifar_batch,
    read_idx,
    synth_images,
    write_cifar10,
    write_idx,
)


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_round_trip(tmp_path, protocol):
    s = synth_images(50, 20, channels=3, size=32, seed=0)
    write_cifar10(s, tmp_path, batches=3, protocol=protocol)
    got = load_images(tmp_path)
    assert got.name == "cifar10" and got.image_shape == (3, 32, 32)
    np.testing.assert_array_equal(got.train_images, s.train_images)
    np.testing.assert_array_equal(got.train_labels, s.train_labels)
    np.testing.assert_array_equal(got.test_images, s.test_images)
    assert got.class_names == s.class_names
    # the folder itself works too
    assert load_images(tmp_path / "cifar-10-batches-py").n_classes == 10


def test_cifar_pixel_layout(tmp_path):
    """A row is 1024 R, 1024 G, 1024 B values, each row-major 32 x 32."""
    row = np.zeros((1, 3072), np.uint8)
    row[0, 1024 + 32 * 5 + 7] = 200  # G channel, y=5, x=7
    (tmp_path / "b").write_bytes(pickle.dumps({b"data": row, b"labels": [3]}, protocol=2))
    x, y = read_cifar_batch(tmp_path / "b")
    assert x.shape == (1, 3, 32, 32) and x[0, 1, 5, 7] == 200 and x.sum() == 200 and y.tolist() == [3]


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    s = synth_images(30, 10, seed=1)
    write_idx(s, tmp_path, gz=gz)
    assert detect_format(tmp_path) == "idx"
    got = load_images(tmp_path)
    assert got.image_shape == (1, 28, 28)
    np.testing.assert_array_equal(got.train_images, s.train_images)
    np.testing.assert_array_equal(got.test_labels, s.test_labels)


def test_idx_header_decoding(tmp_path):
    data = bytes([0, 0, 0x08, 2]) + np.array([2, 3], ">u4").tobytes() + bytes(range(6))
    (tmp_path / "a.gz").write_bytes(gzip.compress(data))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), np.arange(6).reshape(2, 3))


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _batch(data, **extra):
    return {b"data": data, b"labels": [0] * len(data), **extra}


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "b").write_bytes(pickle.dumps(_batch(np.zeros((1, 3072), np.uint8), x=_Evil(marker)), protocol=2))
    with pytest.raises(UnsafePickleError, match="refusing to load global"):
        read_cifar_batch(tmp_path / "b")
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload, match",
    [
        (np.array([[1, "a"]], dtype=object), "dtype"),  # object arrays could carry anything
        (np.ma.masked_array(np.zeros((1, 3072), np.uint8)), "refusing|subtype"),  # a subclass
        (np.zeros((1, 3072), np.dtype([("a", "u1")])), "dtype"),  # records
    ],
)
def test_restricted_unpickler_refuses_non_plain_arrays(tmp_path, payload, match):
    (tmp_path / "b").write_bytes(pickle.dumps(_batch(payload), protocol=2))
    with pytest.raises(UnsafePickleError, match=match):
        read_cifar_batch(tmp_path / "b")


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


BAD_IDX = [
    (b"\x01\x00\x08\x01" + b"\x00" * 8, "not an IDX file"),
    (bytes([0, 0, 0x08, 1]) + np.array([5], ">u4").tobytes() + b"\x00" * 3, "needs 5 data bytes"),
    (bytes([0, 0, 0x08, 3]) + b"\x00", "header truncated"),
    (bytes([0, 0, 0x42, 1]), "not an IDX file"),
]


@pytest.mark.parametrize("data, match", BAD_IDX)
def test_bad_idx_files(tmp_path, data, match):
    with pytest.raises(ImageFormatError, match=match):
        read_idx(_write(tmp_path / "f", data))


BAD_CIFAR = [
    (pickle.dumps([1, 2, 3], protocol=2), "expected a pickled dict"),
    (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2), r"shape \(N, 3072\)"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, protocol=2), "uint8"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2), "2 integers"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2)[:-5], "not a readable pickle"),
]


@pytest.mark.parametrize("data, match", BAD_CIFAR)
def test_bad_cifar_batches(tmp_path, data, match):
    with pytest.raises(ImageFormatError, match=match):
        read_cifar_batch(_write(tmp_path / "b", data))


def test_bad_directories(tmp_path):
    with pytest.raises(ImageFormatError, match="is not a directory"):
        load_images(tmp_path / "missing")
    with pytest.raises(ImageFormatError, match="neither CIFAR"):
        load_images(tmp_path)
    s = synth_images(20, 10, seed=0)
    write_idx(s, tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ImageFormatError, match="missing t10k-labels"):
        load_images(tmp_path)


def test_idx_label_count_mismatch(tmp_path):
    s = synth_images(20, 10, seed=0)
    write_idx(s, tmp_path, gz=False)
    labels = bytes([0, 0, 8, 1]) + np.array([19], ">u4").tobytes() + bytes(19)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)
    with pytest.raises(ImageFormatError, match="20 images but 19 labels"):
        load_images(tmp_path)


def test_corrupt_gzip_is_a_format_error(tmp_path):
    data = gzip.compress(bytes([0, 0, 8, 1]) + np.array([4], ">u4").tobytes() + bytes(4))
    corrupt = data[:12] + bytes(b ^ 0xFF for b in data[12:20]) + data[20:]
    with pytest.raises(ImageFormatError, match="cannot read"):
        read_idx(_write(tmp_path / "f.gz", corrupt))
