"""Small generated image sets in both on-disk formats (nothing is downloaded or shipped)."""

import pytest

from experiments.vision import synth_images, write_cifar10, write_idx


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory):
    """A Fashion-MNIST-shaped IDX set (1 x 28 x 28, 10 classes, gzipped): 800 train, 300 test images."""
    root = tmp_path_factory.mktemp("idx")
    write_idx(synth_images(800, 300, channels=1, size=28, seed=3), root)
    return root


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    """A CIFAR-10-shaped set of python batches (3 x 32 x 32): 400 train, 200 test images."""
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(synth_images(400, 200, channels=3, size=32, seed=4), root)
    return root


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """The runs here set torch to one thread (process-wide); give the next tests theirs back."""
    import sys

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None:
        torch.set_num_threads(before)
