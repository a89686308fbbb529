r"""``fashion-mnist-lt``: Fashion-MNIST made long-tailed, an optional data set.

Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): 70,000 28x28 greyscale images of 10 kinds of
clothing, 6,000 training and 1,000 test images of each, as the Debian package
``dataset-fashion-mnist`` installs them (``/usr/share/datasets/fashion-mnist/``, idx files, gzipped).
Balanced as shipped, so each seed draws a long-tailed training subset with the profile of Cui et
al. 2019, as the digits demo does: class :math:`i` keeps :math:`\lfloor 6000 \cdot
(1/\rho)^{i/9} \rfloor` images (imbalance :math:`\rho` = 100: from 6,000 T-shirts down to 60
ankle boots); the test split is the published one, 1,000 of each. The model is the MLP of
:mod:`focalloss.cli.demo.train` on the standardised pixels.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .._common import UsageError
from .classification import ClassificationTask, Split, long_tail_counts, long_tail_subset, standardised

__all__ = ["FashionMnistTask", "load_fashion_mnist", "read_idx"]

DIRECTORY = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
N_MAX = 6000


def read_idx(content):
    """An array from the idx format (big-endian: 0, 0, type 0x08 = unsigned byte, the number of
    dimensions; one 4-byte size per dimension; the data).

    Example:
        >>> read_idx(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])).tolist()
        [[1, 2, 3], [4, 5, 6]]
    """
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] != 8:
        raise ValueError("expected an idx file of unsigned bytes (it starts 0x00 0x00 0x08)")
    dimensions = content[3]
    shape = tuple(int.from_bytes(content[4 + 4 * i:8 + 4 * i], "big") for i in range(dimensions))
    data = np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * dimensions)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"the idx header says {shape} but {data.size} values follow")
    return data.reshape(shape)


def _missing():
    return [DIRECTORY / name for pair in FILES.values() for name in pair if not (DIRECTORY / name).is_file()]


def _read(part):
    images, labels = (read_idx(gzip.decompress((DIRECTORY / name).read_bytes())) for name in FILES[part])
    return images.reshape(len(images), -1).astype(np.float64) / 255.0, labels.astype(np.int64)


def load_fashion_mnist(*, seed, imbalance):
    """The long-tailed training subset of ``seed`` and the published test split."""
    x, y = _read("train")
    x_test, y_test = _read("test")
    counts = long_tail_counts(n_max=N_MAX, imbalance=imbalance, num_classes=len(CLASSES))
    train = long_tail_subset(y, counts, rng=np.random.default_rng(seed))
    x_train, x_test = standardised(x[train], x_test)
    return Split(
        name="fashion-mnist-lt",
        description=f"Fashion-MNIST, long-tailed with imbalance {imbalance:g} (Cui et al. 2019 profile)",
        class_names=CLASSES, x_train=x_train, y_train=y[train], x_test=x_test, y_test=y_test,
    )


class FashionMnistTask(ClassificationTask):
    """``--dataset fashion-mnist-lt``."""

    def ensure_available(self):
        missing = _missing()
        if missing:
            raise UsageError(f"--dataset {self.name} needs Fashion-MNIST in {DIRECTORY}/ ({missing[0].name} is "
                             f"missing): install the Debian package dataset-fashion-mnist (apt-get install "
                             f"dataset-fashion-mnist)")

    def load(self, *, seed, imbalance):
        return load_fashion_mnist(seed=seed, imbalance=imbalance)
