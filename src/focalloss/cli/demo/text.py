"""Hashed n-gram features and the linear model of the text classification data sets (sms-spam, Reuters).

A document becomes the bag of its lower-cased word unigrams and bigrams and its character
4-grams, each hashed (CRC-32) into one of ``BUCKETS`` buckets; the model is linear in the mean of
the bag (logistic or softmax regression: an ``EmbeddingBag`` of one weight per output and a bias),
trained by Adam. Hashing needs no vocabulary, so nothing is fitted on the test split.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["BUCKETS", "Bags", "bags", "fit", "hashed_ngrams", "model_description"]

BUCKETS = 1 << 16
CHARACTERS = 4  # length of the character n-grams
LEARNING_RATE = 0.05  # the weights are one per bucket and output, each seen in few documents
BATCH_SIZE = 64
_WORD = re.compile(r"\w+|[^\w\s]")


def hashed_ngrams(text):
    """The buckets of a text's word unigrams and bigrams and character 4-grams (with a space at each end).

    Example:
        >>> len(hashed_ngrams("Free entry!"))  # free, entry, !; free entry, entry !; 10 of " free entry! "
        15
    """
    words = _WORD.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    padded = f" {text.lower()} "
    grams += [f"#{padded[i:i + CHARACTERS]}" for i in range(len(padded) - CHARACTERS + 1)]
    return [zlib.crc32(gram.encode()) % BUCKETS for gram in grams]


@dataclass(frozen=True)
class Bags:
    """Documents as one flat array of buckets and each document's offset into it (``EmbeddingBag``'s input)."""

    buckets: np.ndarray
    offsets: np.ndarray

    def __len__(self):
        return self.offsets.size

    def take(self, rows):
        """The documents ``rows`` (an integer array), as ``Bags``."""
        ends = np.r_[self.offsets[1:], self.buckets.size]
        lengths = ends[rows] - self.offsets[rows]
        starts = np.repeat(self.offsets[rows] - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        return Bags(self.buckets[starts + np.arange(lengths.sum())], np.r_[0, np.cumsum(lengths)[:-1]])


def bags(texts):
    """The texts' hashed n-grams as :class:`Bags` (an empty text gets bucket 0, so that no bag is empty).

    Example:
        >>> found = bags(["hi", ""])
        >>> found.offsets.tolist(), found.take(np.array([1])).buckets.tolist()  # "hi" has 2: hi and " hi "
        ([0, 2], [0])
    """
    grams = [hashed_ngrams(text) or [0] for text in texts]
    lengths = np.array([len(found) for found in grams], dtype=np.int64)
    return Bags(np.array([b for found in grams for b in found], dtype=np.int64), np.r_[0, np.cumsum(lengths)[:-1]])


def model_description():
    """The features and the model, in words."""
    return (f"linear on the mean of hashed word 1-2-grams and character {CHARACTERS}-grams ({BUCKETS:,} buckets), "
            f"Adam, learning rate {LEARNING_RATE:g}, batches of {BATCH_SIZE}")


def _linear(outputs):
    import torch
    from torch import nn

    class HashedLinear(nn.Module):
        """Logits = the mean of the bag's weight vectors + a bias; starts at zero."""

        def __init__(self):
            super().__init__()
            self.weights = nn.EmbeddingBag(BUCKETS, outputs, mode="mean")
            nn.init.zeros_(self.weights.weight)
            self.bias = nn.Parameter(torch.zeros(outputs))

        def forward(self, buckets, offsets):
            return self.weights(buckets, offsets) + self.bias

    return HashedLinear()


def fit(train_bags, y_train, loss_fn, *, binary, num_classes, seed, epochs):
    """Train the linear model with ``loss_fn``; return ``predict(bags) -> probabilities (N, C)``.

    Args:
        train_bags: the training documents, :class:`Bags`.
        y_train: their class indices.
        loss_fn: ``loss(logits, targets)``; (B,) logits and float 0/1 targets when ``binary``,
            else (B, C) logits and class indices.
        binary: one sigmoid logit, or one logit per class.
        num_classes: C.
        seed: the trainer's seed.
        epochs: passes over the training documents.
    """
    import torch

    from . import train

    targets = torch.from_numpy(y_train).to(torch.float32 if binary else torch.int64)

    def batch_loss(model, rows):
        batch = train_bags.take(rows.numpy())
        logits = model(torch.from_numpy(batch.buckets), torch.from_numpy(batch.offsets))
        return loss_fn(logits.squeeze(1) if binary else logits, targets[rows])

    model = train.fit(lambda: _linear(1 if binary else num_classes), batch_loss, size=len(train_bags), seed=seed,
                      epochs=epochs, batch_size=BATCH_SIZE,
                      optimiser=lambda parameters: torch.optim.Adam(parameters, lr=LEARNING_RATE))

    def predict(documents):
        with torch.no_grad():
            logits = model(torch.from_numpy(documents.buckets), torch.from_numpy(documents.offsets))
        return train.probabilities(logits, binary=binary)

    return predict
