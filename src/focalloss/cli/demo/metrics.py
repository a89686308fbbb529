r"""Evaluation metrics of the demo, in NumPy: classification, named entities, dense detection.

Classification: recall per class, balanced accuracy, average precision, ECE. Labels are class
indices ``0 .. C-1``; probabilities are ``(N, C)`` rows (a binary model's :math:`p` becomes the two
columns :math:`1 - p, p`).

Named entities: entity-level precision, recall and F1 with conlleval's rules (an entity counts when
its span and its type are both exactly right), per type and overall.

Dense detection: average precision per class of detections taken at the local maxima of a score
map, matched to the objects' centres.

Each function is small enough to check by hand, and the test suite checks them against hand-made
cases (and the classification ones against scikit-learn).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "average_precision",
    "balanced_accuracy",
    "best_f1_threshold",
    "detection_average_precision",
    "entity_scores",
    "entity_spans",
    "expected_calibration_error",
    "local_maxima",
    "macro_average_precision",
    "per_class_recall",
    "precision_recall_curve",
    "precision_recall_f1",
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
    positive, scores = _binary_scores(is_positive, scores)
    return _ranked_average_precision(scores, positive, int(positive.sum()))


def _ranked_curve(scores, hits, total):
    """Precision, recall (out of ``total``) and the threshold at each distinct score, highest first; a
    threshold takes every example scored at least as high, so equal scores enter together."""
    if scores.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_hits = scores[order], hits[order]
    true_positives = np.cumsum(sorted_hits)
    # one point per distinct score: the last example of each run of equal scores
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    true_positives = true_positives[last_of_run]
    predicted_positives = np.flatnonzero(last_of_run) + 1
    return true_positives / predicted_positives, true_positives / total, sorted_scores[last_of_run]


def _ranked_average_precision(scores, hits, total):
    """:math:`\\sum_n (R_n - R_{n-1}) P_n` over the distinct ``scores``, see :func:`_ranked_curve`."""
    precision, recall, _ = _ranked_curve(scores, hits, total)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _binary_scores(is_positive, scores):
    positive = np.asarray(is_positive)
    scores = np.asarray(scores, dtype=np.float64)
    if positive.ndim != 1 or positive.shape != scores.shape:
        raise ValueError(f"is_positive and scores must be 1-D of one shape; got {positive.shape} and {scores.shape}")
    positive = positive.astype(bool)
    if not positive.any():
        raise ValueError("is_positive must contain at least one positive")
    return positive, scores


def precision_recall_curve(is_positive, scores):
    """Precision and recall of "positive where the score is at least t", for every distinct score t, highest first.

    Args:
        is_positive: 0/1 or boolean, shape (N,), at least one positive.
        scores: higher means more likely positive, shape (N,).

    Returns:
        ``(precision, recall, thresholds)``, three arrays, one entry per distinct score.

    Example:
        >>> precision, recall, thresholds = precision_recall_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
        >>> precision.round(3).tolist(), recall.tolist(), thresholds.tolist()
        ([1.0, 0.5, 0.667, 0.5], [0.5, 0.5, 1.0, 1.0], [0.9, 0.8, 0.7, 0.1])
    """
    positive, scores = _binary_scores(is_positive, scores)
    return _ranked_curve(scores, positive, int(positive.sum()))


def best_f1_threshold(is_positive, scores):
    """The score threshold t that maximises the F1 of "positive where the score is at least t" on these examples.

    The candidates are the distinct scores; of equally good ones the highest. Choose it on a validation
    split and apply it to the test split with :func:`precision_recall_f1`.

    Args:
        is_positive: 0/1 or boolean, shape (N,), at least one positive.
        scores: higher means more likely positive, shape (N,).

    Example:
        >>> best_f1_threshold([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])  # F1 2/3, 1/2, 4/5, 2/3
        0.7
    """
    precision, recall, thresholds = precision_recall_curve(is_positive, scores)
    with np.errstate(invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(thresholds[int(np.argmax(f1))])


def precision_recall_f1(is_positive, scores, *, threshold):
    """Precision, recall and F1 of predicting positive where the score is at least ``threshold``.

    Each is 0 where its denominator is (no positive predicted: precision 0).

    Args:
        is_positive: 0/1 or boolean, shape (N,), at least one positive.
        scores: shape (N,).
        threshold: the lowest score predicted positive.

    Example:
        >>> precision_recall_f1([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], threshold=0.75)
        (0.5, 0.5, 0.5)
    """
    positive, scores = _binary_scores(is_positive, scores)
    predicted = scores >= threshold
    correct = int(np.sum(predicted & positive))
    found = _scores(correct, int(predicted.sum()), int(positive.sum()))
    return found["precision"], found["recall"], found["f1"]


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


# ---------------------------------------------------------------------------------------------------
# named entities
# ---------------------------------------------------------------------------------------------------
def _split_tag(tag):
    prefix, _, kind = tag.partition("-")
    if tag == "O":
        return "O", ""
    if prefix not in ("B", "I") or not kind:
        raise ValueError(f"tags must be 'O', 'B-<type>' or 'I-<type>'; got {tag!r}")
    return prefix, kind


def entity_spans(tags):
    """The entities in one sentence's BIO tags, as conlleval (CoNLL-2000) reads them.

    An entity starts at ``B-X``, and at ``I-X`` after ``O`` or after a tag of another type (so a
    stray ``I-X`` still opens an entity); it goes on over the ``I-X`` that follow and ends before
    anything else. The type is what follows the first hyphen (``B-geo-loc``: ``geo-loc``).

    Args:
        tags: one sentence's tags, e.g. ``["B-person", "I-person", "O"]``.

    Returns:
        A set of ``(start, end, type)``, ``end`` exclusive.

    Example:
        >>> sorted(entity_spans(["B-person", "I-person", "O", "I-geo-loc", "B-geo-loc", "I-person"]))
        [(0, 2, 'person'), (3, 4, 'geo-loc'), (4, 5, 'geo-loc'), (5, 6, 'person')]
    """
    spans = set()
    start, open_kind = None, None
    for position, tag in enumerate([*tags, "O"]):  # the "O" closes an entity at the sentence's end
        prefix, kind = _split_tag(tag)
        if start is not None and (prefix != "I" or kind != open_kind):
            spans.add((start, position, open_kind))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, open_kind = position, kind
    return spans


def _f1(precision, recall):
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _scores(correct, predicted, gold):
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    return {"gold": gold, "predicted": predicted, "correct": correct,
            "precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def entity_scores(gold, predicted, *, types=None):
    r"""Entity-level precision, recall and F1 (conlleval): an entity counts only with its exact span and type.

    .. math::

        P = \frac{\text{correct}}{\text{predicted entities}}, \qquad
        R = \frac{\text{correct}}{\text{gold entities}}, \qquad F_1 = \frac{2PR}{P + R},

    each 0 where its denominator is (as conlleval prints them). Entities are read from the tags with
    :func:`entity_spans`, sentence by sentence, so that none crosses a sentence boundary.

    Args:
        gold: the true tags, a sequence of sentences, each a sequence of tags.
        predicted: the predicted tags, the same sentences with the same lengths.
        types: the entity types that ``macro_f1`` averages over; default: every type in ``gold``
            or ``predicted``.

    Returns:
        ``{"precision", "recall", "f1", "macro_f1", "per_type"}``; the first three over all entities
        (micro), ``macro_f1`` the mean of the per-type F1, ``per_type`` ``{type: {"gold",
        "predicted", "correct", "precision", "recall", "f1"}}`` for every type seen or named.

    Example:
        >>> gold = [["B-person", "I-person", "O", "B-geo-loc"]]
        >>> predicted = [["B-person", "I-person", "O", "B-person"]]
        >>> scores = entity_scores(gold, predicted)
        >>> scores["precision"], scores["recall"], scores["per_type"]["geo-loc"]["recall"]
        (0.5, 0.5, 0.0)
    """
    if len(gold) != len(predicted):
        raise ValueError(f"gold and predicted must hold the same sentences; got {len(gold)} and {len(predicted)}")
    counts = {}  # type -> [correct, predicted, gold]
    for number, (true_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        if len(true_tags) != len(predicted_tags):
            raise ValueError(f"sentence {number} has {len(true_tags)} gold tags and {len(predicted_tags)} predicted")
        true_spans, predicted_spans = entity_spans(true_tags), entity_spans(predicted_tags)
        for spans, column in ((true_spans & predicted_spans, 0), (predicted_spans, 1), (true_spans, 2)):
            for *_, kind in spans:
                counts.setdefault(kind, [0, 0, 0])[column] += 1
    for kind in types or ():
        counts.setdefault(kind, [0, 0, 0])
    per_type = {kind: _scores(*counts[kind]) for kind in sorted(counts)}
    overall = _scores(*(sum(column) for column in zip(*counts.values()))) if counts else _scores(0, 0, 0)
    averaged = list(types) if types is not None else list(per_type)
    macro = float(np.mean([per_type[kind]["f1"] for kind in averaged])) if averaged else 0.0
    return {"precision": overall["precision"], "recall": overall["recall"], "f1": overall["f1"],
            "macro_f1": macro, "per_type": per_type}


# ---------------------------------------------------------------------------------------------------
# dense detection
# ---------------------------------------------------------------------------------------------------
def local_maxima(scores):
    """Where a score map peaks: no one of the (up to) 8 neighbouring locations scores higher.

    Equal neighbours are both maxima (a plateau gives several detections). NaN is never a maximum.

    Args:
        scores: score maps, shape (..., H, W); the last two axes are the image's rows and columns.

    Returns:
        A boolean array of the same shape.

    Example:
        >>> import numpy as np
        >>> local_maxima(np.array([[0.1, 0.9, 0.8], [0.2, 0.3, 0.1], [0.7, 0.2, 0.4]])).astype(int)
        array([[0, 1, 0],
               [0, 0, 0],
               [1, 0, 1]])
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim < 2:
        raise ValueError(f"scores must have at least 2 dimensions (..., H, W); got shape {scores.shape}")
    height, width = scores.shape[-2:]
    padding = [(0, 0)] * (scores.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(np.where(np.isnan(scores), -np.inf, scores), padding, constant_values=-np.inf)
    highest_neighbour = np.full(scores.shape, -np.inf)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if (dy, dx) != (1, 1):
                highest_neighbour = np.maximum(highest_neighbour, padded[..., dy:dy + height, dx:dx + width])
    return ~np.isnan(scores) & (scores >= highest_neighbour)


def detection_average_precision(scores, objects, *, radius=1, min_score=0.0):
    r"""Average precision per class of the detections at the local maxima of per-class score maps.

    A detection is a location where its class's score map has a local maximum
    (:func:`local_maxima`) above ``min_score``, scored by that value. In order of decreasing score (ties: image, row,
    column), each detection is matched to the nearest object of its class in its image that no
    higher detection took, within Chebyshev distance ``radius`` (max(|dy|, |dx|) <= radius): a true
    positive; a detection that finds none is a false positive. Then, as for
    :func:`average_precision`, :math:`AP = \sum_n (R_n - R_{n-1}) P_n` over the distinct scores, with
    the recall out of all the class's objects, so that a missed object lowers it.

    Args:
        scores: (N, C, H, W) per-class scores of N images (probabilities, or anything monotone in them).
        objects: for each of the N images, a sequence of ``(row, column, class)``, the objects' centres.
        radius: the largest Chebyshev distance at which a detection finds an object, >= 0.
        min_score: a local maximum must score more than this to count (default 0: a probability that
            underflowed to 0, or a flat map, detects nothing).

    Returns:
        A float64 array (C,): each class's AP, NaN for a class without objects.

    Example:
        >>> import numpy as np
        >>> scores = np.zeros((1, 1, 5, 5))
        >>> scores[0, 0, 1, 1], scores[0, 0, 3, 4] = 0.9, 0.6  # a hit next to the object, a miss
        >>> detection_average_precision(scores, [[(2, 2, 0)]])
        array([1.])
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 4 or len(objects) != scores.shape[0]:
        raise ValueError(f"scores must be (N, C, H, W) with one list of objects per image; got shape "
                         f"{scores.shape} and {len(objects)} lists")
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
        raise ValueError(f"radius must be an integer >= 0; got {radius!r}")
    num_classes = scores.shape[1]
    for image, image_objects in enumerate(objects):
        for row, column, kind in image_objects:
            if not 0 <= kind < num_classes:
                raise ValueError(f"image {image} has an object of class {kind}; scores have {num_classes} classes")
    peaks = local_maxima(scores) & (scores > min_score)
    result = np.full(num_classes, np.nan)
    for kind in range(num_classes):
        centres = {image: [(row, column) for row, column, c in image_objects if c == kind]
                   for image, image_objects in enumerate(objects)}
        total = sum(len(found) for found in centres.values())
        if total == 0:
            continue
        # only detections within reach of an object need the search below; the others are false positives
        reachable = np.zeros(scores.shape[:1] + scores.shape[2:], dtype=bool)
        for n, found in centres.items():
            for cy, cx in found:
                reachable[n, max(cy - radius, 0):cy + radius + 1, max(cx - radius, 0):cx + radius + 1] = True
        image, row, column = np.nonzero(peaks[:, kind])
        detected = scores[image, kind, row, column]
        order = np.argsort(-detected, kind="stable")
        taken = set()
        hits = np.zeros(order.size, dtype=bool)
        for rank in np.flatnonzero(reachable[image[order], row[order], column[order]]):
            index = order[rank]
            y, x, n = int(row[index]), int(column[index]), int(image[index])
            candidates = [(max(abs(y - cy), abs(x - cx)), number) for number, (cy, cx) in enumerate(centres[n])
                          if (n, number) not in taken and max(abs(y - cy), abs(x - cx)) <= radius]
            if candidates:
                taken.add((n, min(candidates)[1]))
                hits[rank] = True
        result[kind] = _ranked_average_precision(detected[order], hits, total)
    return result
