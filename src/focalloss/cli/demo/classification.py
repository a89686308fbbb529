"""The classification data sets' shared part: the split, the losses (six by default), the four metrics, the figures.

digits, digits-binary, caravan, fashion-mnist-lt and the Reuters sets all train a classifier
(softmax over C classes, or one sigmoid logit for two) and report balanced accuracy, the recall of
the rarest classes, average precision and the expected calibration error, with a figure of recall
per class and reliability diagrams. Each of their modules says how its data is loaded and, if it is
not an MLP on feature vectors, which model it trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import metrics
from .experiment import Metric, Task, seeds_text, spread_note
from .losses import DEFAULT_LOSSES, MULTICLASS_LOSSES, loss_label, make_loss

__all__ = [
    "ECE_BINS", "ClassificationTask", "Split", "evaluate", "long_tail_counts", "long_tail_subset",
    "loss_settings_record", "pooled_calibration", "rarest_classes", "standardised", "summary_line", "write_reliability",
]

ECE_BINS = 15
RARE_FRACTION = 0.3  # "rare classes": the rarest 30 % of the classes in training


@dataclass(frozen=True)
class Split:
    """A data set split for the demo: features (standardised float32 arrays, or whatever the task's model
    reads) and int64 class indices."""

    name: str
    description: str
    class_names: tuple
    x_train: Any
    y_train: np.ndarray
    x_test: Any
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
        """The rarest classes in training among those in the test split (ties broken towards the higher
        index): 30 % of the classes, at least one; the positive class of a binary split."""
        return (1,) if self.binary else rarest_classes(self.train_counts, self.test_counts)


def rarest_classes(train_counts, test_counts):
    """The rarest 30 % of the classes in training (at least one, ties broken towards the higher index),
    among those with examples in the test split, in increasing order.

    Example:
        >>> rarest_classes([50, 5, 20, 5, 1, 30], [9, 3, 4, 3, 0, 6])  # class 4 has no test example
        (1, 3)
    """
    train_counts, test_counts = np.asarray(train_counts), np.asarray(test_counts)
    how_many = max(1, round(RARE_FRACTION * train_counts.size))
    order = np.lexsort((-np.arange(train_counts.size), train_counts))
    tested = [int(c) for c in order if test_counts[c] > 0]
    return tuple(sorted(tested[:how_many]))


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


def standardised(x_train, x_test):
    """Features scaled by the training split's mean and standard deviation (constant ones left at 0)."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def evaluate(split, probabilities):
    """The metrics of one trained model from its probabilities (N, C) on ``split``'s test data."""
    labels = split.y_test
    predicted = probabilities.argmax(axis=1)
    if split.binary:
        ap = metrics.average_precision(labels == 1, probabilities[:, 1])
    else:
        ap = metrics.macro_average_precision(labels, probabilities)
    return {
        "balanced_accuracy": metrics.balanced_accuracy(labels, predicted),
        "rare_recall": metrics.rare_class_recall(labels, predicted, classes=split.rare_classes),
        "average_precision": ap,
        "ece": metrics.expected_calibration_error(labels, probabilities, bins=ECE_BINS),
        "per_class_recall": metrics.per_class_recall(labels, predicted, num_classes=split.num_classes).tolist(),
    }


def summary_line(stats, labels, *, main=("balanced_accuracy", "balanced accuracy"), also=(("ece", "ECE"),),
                 rare=("rare_recall", "rare recall")):
    """One line on what this run measured, from the means and stds (never a fixed verdict).

    Focal loss against cross-entropy on the ``main`` metric (with a note when the difference lies within
    the seeds' spread) and the ``also`` metrics; what class-balanced weighting did to the ``rare``
    metric; and the loss with the highest ``main`` metric. Parts whose losses did not run are left out.

    Args:
        stats: ``{loss name: {metric: (mean, std)}}``.
        labels: ``{loss name: label}``.
        main: ``(metric key, words)`` of the headline metric (higher is better).
        also: more ``(metric key, words)`` compared between focal loss and cross-entropy.
        rare: ``(metric key, words)`` of the metric class-balanced weighting is meant to raise.

    Example:
        >>> stats = {
        ...     "ce": {"balanced_accuracy": (0.80, 0.02), "rare_recall": (0.40, 0.1), "ece": (0.14, 0.01)},
        ...     "focal": {"balanced_accuracy": (0.81, 0.03), "rare_recall": (0.42, 0.1), "ece": (0.07, 0.01)},
        ... }
        >>> line = summary_line(stats, {"ce": "cross-entropy", "focal": "focal (gamma=2)"})
        >>> import textwrap
        >>> print(textwrap.fill(line, 90))
        This run: focal vs cross-entropy: balanced accuracy 0.810 vs 0.800 (within the seeds'
        spread), ECE 0.070 vs 0.140; highest balanced accuracy: focal (gamma=2), 0.810.
    """
    main_key, main_words = main
    rare_key, rare_words = rare
    parts = []
    if "ce" in stats and "focal" in stats:
        ce, focal = stats["ce"], stats["focal"]
        compared = [f"{main_words} {focal[main_key][0]:.3f} vs {ce[main_key][0]:.3f}"
                    f"{spread_note(focal[main_key], ce[main_key])}"]
        compared += [f"{words} {focal[key][0]:.3f} vs {ce[key][0]:.3f}" for key, words in also]
        parts.append("focal vs cross-entropy: " + ", ".join(compared))
    pairs = [(plain, weighted, what) for plain, weighted, what in
             (("ce", "cb-ce", "cross-entropy"), ("focal", "cb-focal", "focal")) if plain in stats and weighted in stats]
    if pairs:
        changes = ", ".join(
            f"{stats[plain][rare_key][0]:.3f} -> {stats[weighted][rare_key][0]:.3f} ({what})"
            for plain, weighted, what in pairs
        )
        parts.append(f"class-balanced weighting: {rare_words} {changes}")
    best = max(stats, key=lambda name: stats[name][main_key][0])
    parts.append(f"highest {main_words}: {labels[best]}, {stats[best][main_key][0]:.3f}")
    return "This run: " + "; ".join(parts) + "."


def pooled_calibration(pooled):
    """Reliability bins and ECE of every seed's test predictions together.

    Args:
        pooled: one ``(labels, probabilities)`` per seed, as the tasks return them.

    Returns:
        ``{"reliability": {"count", "confidence", "accuracy"}, "pooled_ece": float}``.
    """
    labels = np.concatenate([test_labels for test_labels, _ in pooled])
    probabilities = np.concatenate([p for _, p in pooled])
    return {
        "reliability": dict(zip(("count", "confidence", "accuracy"),
                                metrics.reliability_bins(labels, probabilities, bins=ECE_BINS), strict=True)),
        "pooled_ece": metrics.expected_calibration_error(labels, probabilities, bins=ECE_BINS),
    }


def write_reliability(path, *, labels, aggregates, title):
    """The reliability diagrams of :func:`pooled_calibration`'s results, one per loss."""
    from .. import plots

    plots.reliability_figure(
        path, bins={labels[name]: tuple(aggregate["reliability"].values()) for name, aggregate in aggregates.items()},
        ece={labels[name]: aggregate["pooled_ece"] for name, aggregate in aggregates.items()}, title=title,
    )


def loss_settings_record(settings):
    """The compared losses' settings, for results.json."""
    return {"gamma": settings.gamma, "k": settings.k, "threshold": settings.threshold, "beta": settings.beta,
            "ece_bins": ECE_BINS}


def _counts_text(counts):
    return ", ".join(map(str, counts))


class ClassificationTask(Task):
    """A classification data set: the losses of :mod:`focalloss.cli.demo.losses`, an MLP by default.

    Subclasses set ``name`` and ``options`` and define ``load``; a data set whose model is not the
    MLP overrides :meth:`fit_and_predict` and :meth:`model_description`.
    """

    loss_names = MULTICLASS_LOSSES  # a binary data set's task adds the binary-only losses
    default_losses = DEFAULT_LOSSES

    def model_description(self):
        """The network and optimiser, in words."""
        from . import train

        return (f"MLP with two hidden layers of {train.HIDDEN}, Adam, learning rate {train.LEARNING_RATE:g}, "
                f"batches of {train.BATCH_SIZE}")

    def fit_and_predict(self, split, loss_fn, *, seed, epochs):
        """Train a model with ``loss_fn`` on ``split``; return its probabilities (N, C) on the test split."""
        from . import train

        model = train.train(split, loss_fn, seed=seed, epochs=epochs)
        return train.predict_proba(model, split.x_test, binary=split.binary)

    def train_and_evaluate(self, split, loss_name, *, seed, epochs, settings):
        loss_fn = make_loss(loss_name, binary=split.binary, train_counts=split.train_counts, settings=settings)
        probabilities = self.fit_and_predict(split, loss_fn, seed=seed, epochs=epochs)
        return evaluate(split, probabilities), (split.y_test, probabilities)

    def loss_label(self, loss_name, settings):
        return loss_label(loss_name, settings)

    def metrics(self, split):
        return {
            "balanced_accuracy": Metric("balanced acc."),
            "rare_recall": Metric("rare recall"),
            "average_precision": Metric("AP (positives)" if split.binary else "macro AP"),
            "ece": Metric("ECE", lower_is_better=True),
        }

    def aggregate(self, runs, pooled):
        return {"per_class_recall": np.mean([run["per_class_recall"] for run in runs], axis=0),
                **pooled_calibration(pooled)}

    def header_lines(self, split, *, losses, seeds, epochs):
        return [
            split.description,
            f"train: {split.train_counts.sum()} examples, per class {_counts_text(split.train_counts)}; "
            f"test: {split.test_counts.sum()}, per class {_counts_text(split.test_counts)}",
            f"{losses} losses x {seeds_text(seeds)}; {epochs} epochs each ({self.model_description()}); "
            f"mean ± std over the seeds",
        ]

    def note_lines(self, split):
        rare = ", ".join(f"{split.class_names[c]} ({split.train_counts[c]})" for c in split.rare_classes)
        return [f"rare recall: recall of {'the positive class' if split.binary else 'classes'} {rare} "
                f"(training examples in brackets). ECE: lower is better; the others: higher is better."]

    def summary_line(self, stats, labels):
        return summary_line(stats, labels)

    def write_figures(self, out, split, *, labels, aggregates, seeds):
        from .. import plots

        seeds_words = seeds_text(seeds, listed=False)
        plots.recall_figure(
            out / "per-class-recall.png", class_names=split.class_names, train_counts=split.train_counts,
            recall={labels[name]: aggregate["per_class_recall"] for name, aggregate in aggregates.items()},
            title=f"{split.description}\nrecall per class on the test split, mean of {seeds_words}",
        )
        write_reliability(
            out / "reliability.png", labels=labels, aggregates=aggregates,
            title=f"{split.description}\nreliability on the test split, {seeds_words} pooled, {ECE_BINS} bins",
        )
        return ["per-class-recall.png", "reliability.png"]

    def dataset_record(self, split):
        return {
            "name": split.name, "description": split.description, "classes": split.class_names,
            "train_counts": split.train_counts, "test_counts": split.test_counts, "rare_classes": split.rare_classes,
        }

    def settings_record(self, settings, options):
        return {"imbalance": options.get("imbalance"), **loss_settings_record(settings),
                "training": self.model_description()}
