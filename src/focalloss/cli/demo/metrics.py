r"""Evaluation metrics of the demo, in NumPy: recall per class, balanced accuracy, average precision, ECE.

Labels are class indices ``0 .. C-1``; probabilities are ``(N, C)`` rows (a binary model's
:math:`p` becomes the two columns :math:`1 - p, p`). Each function is small enough to check by
hand, and the test suite checks them against hand-made cases and against scikit-learn.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "average_precision",
    "balanced_accuracy",
    "expected_calibration_error",
    "macro_average_precision",
    "per_class_recall",
    "rare_class_recall",
    "reliability_bins",
]


def _labels(labels, name="labels"):
    values = np.asarray(labels)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of class indices; got dtype {values.dtype}, shape {values.shape}")
    return values


def _probabilities(probabilities, labels):
    values = np.asarray(probabilities, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != labels.shape[0]:
        raise ValueError(
            f"probabilities must be (N, C) with one row per label; "
            f"got shape {values.shape} for {labels.shape[0]} labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= values.shape[1]):
        columns = values.shape[1]
        raise ValueError(f"labels must lie in [0, {columns - 1}] for {columns} columns of probabilities")
    return values


def per_class_recall(labels, predicted, *, num_classes):
    """Fraction of each class's examples predicted as that class; NaN for a class with no examples.

    Args:
        labels: true class indices, shape (N,).
        predicted: predicted class indices, shape (N,).
        num_classes: C; the result has one value per class.

    Example:
        >>> per_class_recall([0, 0, 1, 1], [0, 1, 1, 1], num_classes=3)
        array([0.5, 1. , nan])
    """
    labels, predicted = _labels(labels), _labels(predicted, "predicted")
    if labels.shape != predicted.shape:
        raise ValueError(f"predicted must have the labels' shape {labels.shape}; got {predicted.shape}")
    examples = np.bincount(labels, minlength=num_classes).astype(np.float64)
    hits = np.bincount(labels[labels == predicted], minlength=num_classes)
    with np.errstate(invalid="ignore"):
        return hits / examples


def balanced_accuracy(labels, predicted):
    """Mean recall over the classes present in ``labels``: accuracy as if every class were equally common.

    Args:
        labels: true class indices, shape (N,), at least one.
        predicted: predicted class indices, shape (N,).

    Example:
        >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])  # all "0": recall 1 and 0
        0.5
    """
    labels, predicted = _labels(labels), _labels(predicted, "predicted")
    if labels.size == 0:
        raise ValueError("labels must not be empty")
    num_classes = int(max(labels.max(), predicted.max(initial=0))) + 1
    return float(np.nanmean(per_class_recall(labels, predicted, num_classes=num_classes)))


def rare_class_recall(labels, predicted, *, classes):
    """Mean recall over ``classes`` (the rarest in training, say), each of which must occur in ``labels``.

    Args:
        labels: true class indices, shape (N,).
        predicted: predicted class indices, shape (N,).
        classes: the class indices to average over, at least one.

    Example:
        >>> rare_class_recall([0, 0, 1, 1, 2, 2], [0, 0, 1, 0, 0, 0], classes=[1, 2])
        0.25
    """
    classes = _labels(np.asarray(classes).reshape(-1), "classes")
    if classes.size == 0:
        raise ValueError("classes must name at least one class")
    labels = _labels(labels)
    missing = np.setdiff1d(classes, labels)
    if missing.size:
        raise ValueError(f"classes must all occur in labels; class {int(missing[0])} has no examples")
    recall = per_class_recall(labels, predicted, num_classes=int(max(classes.max(), labels.max())) + 1)
    return float(recall[classes].mean())


def average_precision(is_positive, scores):
    r"""Area under the precision-recall curve as a step sum, :math:`\sum_n (R_n - R_{n-1}) P_n`.

    The thresholds are the distinct scores, highest first; examples with equal scores enter
    together. No interpolation (the definition scikit-learn uses). A random ranking scores about
    the fraction of positives, a perfect one 1.

    Args:
        is_positive: 0/1 or boolean, shape (N,), at least one positive.
        scores: higher means more likely positive, shape (N,).

    Example:
        >>> average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])  # (1/2)(1/1) + (1/2)(2/3)
        0.8333333333333333
    """
    positive = np.asarray(is_positive)
    scores = np.asarray(scores, dtype=np.float64)
    if positive.ndim != 1 or positive.shape != scores.shape:
        raise ValueError(f"is_positive and scores must be 1-D of one shape; got {positive.shape} and {scores.shape}")
    positive = positive.astype(bool)
    if not positive.any():
        raise ValueError("is_positive must contain at least one positive; average precision is undefined without")
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_positive = scores[order], positive[order]
    true_positives = np.cumsum(sorted_positive)
    # one point per distinct score: the last example of each run of equal scores
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    true_positives = true_positives[last_of_run]
    predicted_positives = np.flatnonzero(last_of_run) + 1
    precision = true_positives / predicted_positives
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def macro_average_precision(labels, probabilities):
    """Average precision of each class against the rest (scored by its column), averaged over the classes in ``labels``.

    Args:
        labels: true class indices, shape (N,).
        probabilities: shape (N, C).

    Example:
        >>> import numpy as np
        >>> probabilities = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
        >>> macro_average_precision([0, 1, 1, 0], probabilities)  # each class: (1/2)(1/1) + (1/2)(2/3)
        0.8333333333333333
    """
    labels = _labels(labels)
    probabilities = _probabilities(probabilities, labels)
    present = np.unique(labels)
    return float(np.mean([average_precision(labels == c, probabilities[:, c]) for c in present]))


def reliability_bins(labels, probabilities, *, bins=15):
    """Top-label confidence against accuracy in ``bins`` equal-width bins of confidence.

    An example's confidence is its largest probability, its prediction that column; bin m holds the
    confidences in ((m-1)/bins, m/bins].

    Args:
        labels: true class indices, shape (N,).
        probabilities: shape (N, C).
        bins: number of bins, >= 1; default 15.

    Returns:
        ``(count, confidence, accuracy)``, three arrays of length ``bins``: examples per bin, their
        mean confidence and the fraction predicted correctly (NaN where a bin is empty).

    Example:
        >>> import numpy as np
        >>> count, confidence, accuracy = reliability_bins([0, 1], np.array([[0.9, 0.1], [0.8, 0.2]]), bins=2)
        >>> count, confidence, accuracy
        (array([0, 2]), array([ nan, 0.85]), array([nan, 0.5]))
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1; got {bins!r}")
    labels = _labels(labels)
    probabilities = _probabilities(probabilities, labels)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    return count, mean_confidence, accuracy


def expected_calibration_error(labels, probabilities, *, bins=15):
    r"""Expected calibration error: :math:`\sum_m \frac{|B_m|}{N}\,|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)|`.

    Top-label ECE over ``bins`` equal-width bins of confidence, as in Guo et al. 2017 (see
    :func:`reliability_bins`). 0 for a model whose confidence matches its accuracy in every bin.

    Args:
        labels: true class indices, shape (N,), at least one.
        probabilities: shape (N, C).
        bins: number of bins, >= 1; default 15.

    Example:
        >>> import numpy as np
        >>> probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
        >>> round(expected_calibration_error([0, 1, 0, 1], probabilities, bins=10), 6)  # (2*0.4 + 0.4 + 0.3) / 4
        0.375
    """
    count, confidence, accuracy = reliability_bins(labels, probabilities, bins=bins)
    if count.sum() == 0:
        raise ValueError("labels must not be empty")
    filled = count > 0
    return float(np.sum(count[filled] * np.abs(accuracy[filled] - confidence[filled])) / count.sum())
