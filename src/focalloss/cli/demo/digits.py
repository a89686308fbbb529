r"""``digits`` and ``digits-binary``: scikit-learn's bundled 8x8 digits, made imbalanced on purpose.

``digits``
    1,797 images, 10 classes, made long-tailed with the profile of Cui et al. 2019: class :math:`i`
    keeps :math:`n_i = \lfloor n_{max} (1/\rho)^{i/(C-1)} \rfloor` training images, :math:`\rho` the
    imbalance ratio (50: 120 images of digit 0 down to 2 of digit 9). The test split is balanced: 50
    images of every digit.
``digits-binary``
    "Is it an 8?": the same images and test split (so 10 % of the test images are 8s), and all the
    other training images against 1 % as many 8s (imbalance 99 negatives per positive). Below a
    ratio of about 9.5 the 124 training 8s run out, and negatives are left out instead.

Each seed draws its own test split and training subset. The model is the MLP of
:mod:`focalloss.cli.demo.train`; nothing is downloaded.
"""

from __future__ import annotations

import math

import numpy as np

from .._common import optional_import
from .classification import ClassificationTask, Split, long_tail_counts, long_tail_subset, standardised
from .losses import LOSSES

__all__ = ["DigitsBinaryTask", "DigitsTask", "load_digits", "load_digits_binary"]

N_MAX = 120  # training images of the most common digit
TEST_PER_DIGIT = 50  # the rarest digit has 174 images: 50 for testing leave 124 >= N_MAX
POSITIVE_DIGIT = 8


def _per_class_sample(labels, per_class, rng):
    """Indices of ``per_class`` random examples of every class."""
    return np.sort(np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False) for c in np.unique(labels)]
    ))


def _ratio(imbalance):
    imbalance = float(imbalance)
    if not imbalance >= 1.0 or math.isinf(imbalance):
        raise ValueError(f"imbalance must be a finite ratio >= 1; got {imbalance!r}")
    return imbalance


def _digits_test_and_rest(rng):
    digits = optional_import("sklearn.datasets", extra="demo").load_digits()
    images, digit = digits.data.astype(np.float64), digits.target.astype(np.int64)
    test = _per_class_sample(digit, TEST_PER_DIGIT, rng)
    rest = np.setdiff1d(np.arange(digit.size), test)
    return images, digit, test, rest


def load_digits(*, seed, imbalance):
    """The long-tailed digits of ``seed``: ``long_tail_counts(n_max=120, imbalance, 10)`` training
    images per digit, 50 test images of each.

    Args:
        seed: draws the test split and the training subset.
        imbalance: the ratio n_max / n_min, >= 1 (the demo's default: 50).

    Example:
        >>> split = load_digits(seed=0, imbalance=50)
        >>> split.train_counts.tolist(), split.test_counts.tolist()[:3], split.rare_classes
        ([120, 77, 50, 32, 21, 13, 8, 5, 3, 2], [50, 50, 50], (7, 8, 9))
    """
    imbalance = _ratio(imbalance)
    rng = np.random.default_rng(seed)
    images, digit, test, rest = _digits_test_and_rest(rng)
    counts = long_tail_counts(n_max=N_MAX, imbalance=imbalance, num_classes=10)
    train = rest[long_tail_subset(digit[rest], counts, rng=rng)]
    x_train, x_test = standardised(images[train], images[test])
    return Split(
        name="digits",
        description=f"digits, long-tailed with imbalance {imbalance:g} (Cui et al. 2019 profile)",
        class_names=tuple(str(d) for d in range(10)),
        x_train=x_train, y_train=digit[train], x_test=x_test, y_test=digit[test],
    )


def load_digits_binary(*, seed, imbalance):
    """'8' against the other digits of ``seed``: ``imbalance`` negatives per positive in training, the
    multi-class test split (50 images of each digit).

    Args:
        seed: draws the test split and the training subset.
        imbalance: negatives per positive in training, >= 1 (the demo's default: 99).
    """
    imbalance = _ratio(imbalance)
    rng = np.random.default_rng(seed)
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
    x_train, x_test = standardised(images[train], images[test])
    is_positive = (digit == POSITIVE_DIGIT).astype(np.int64)
    return Split(
        name="digits-binary",
        description=f"digits, '{POSITIVE_DIGIT}' against the rest, {imbalance:g} negatives per positive in training",
        class_names=(f"not {POSITIVE_DIGIT}", str(POSITIVE_DIGIT)),
        x_train=x_train, y_train=is_positive[train], x_test=x_test, y_test=is_positive[test],
    )


class DigitsTask(ClassificationTask):
    """``--dataset digits``."""

    def ensure_available(self):
        optional_import("sklearn.datasets", extra="demo")

    def load(self, *, seed, imbalance):
        return load_digits(seed=seed, imbalance=imbalance)


class DigitsBinaryTask(DigitsTask):
    """``--dataset digits-binary``."""

    loss_names = tuple(LOSSES)

    def load(self, *, seed, imbalance):
        return load_digits_binary(seed=seed, imbalance=imbalance)
