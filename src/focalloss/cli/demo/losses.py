"""The losses the demo compares, by name, built from the focalloss functions.

Every loss is a focalloss function, so that only the loss differs between runs: cross-entropy is
focal loss with gamma = 0 (equal to ``torch.nn.functional.cross_entropy``, which the library's tests
check). "Class-balanced" means per-class weights from the effective number of examples (Cui et al.
2019): ``alpha = class_weights(train_counts, method="effective_number", beta=beta)`` for the
softmax losses; for a binary model the positives' share of the two weights, ``alpha = w1 / (w0 + w1)``.
The focal losses without "class-balanced" use ``alpha=None``, binary ones included (not the
detection default 0.25, which would down-weight the rare positives). Two more run when ``--losses``
names them: poly-1 focal loss (Leng et al. 2022; epsilon = 1, the paper's default, at the focal
losses' gamma), FLSD-53 (Mukhoti et al. 2020: gamma = 5 where p_t < 0.2, else 3) and, on the binary data
sets only, the asymmetric loss (ASL, Ridnik et al. 2021, at its paper's defaults gamma_pos = 1, gamma_neg = 4,
clip = 0.05): a sigmoid loss for binary and multi-label data, which a single-label multi-class task has no
place for.

Importing this module does not import torch; building a loss does.
"""

from __future__ import annotations

from dataclasses import dataclass

import focalloss

__all__ = ["BINARY_ONLY", "DEFAULT_LOSSES", "LOSSES", "MULTICLASS_LOSSES", "LossSettings", "loss_label",
           "make_loss"]

# command-line name -> what the table calls it
LOSSES = {
    "ce": "cross-entropy",
    "cb-ce": "class-balanced CE",
    "focal": "focal",
    "cb-focal": "class-balanced focal",
    "softened": "softened",
    "hard-truncation": "hard truncation",
    "poly1": "poly-1 focal",
    "flsd53": "FLSD-53",
    "asl": "asymmetric (ASL)",
}
# the losses of binary data sets only, and what every other data set may name
BINARY_ONLY = ("asl",)
MULTICLASS_LOSSES = tuple(name for name in LOSSES if name not in BINARY_ONLY)
# the losses a run compares when --losses is not given
DEFAULT_LOSSES = ("ce", "cb-ce", "focal", "cb-focal", "softened", "hard-truncation")


@dataclass(frozen=True)
class LossSettings:
    """The hyperparameters of the compared losses (each loss reads the ones it has)."""

    gamma: float = 2.0  # focal, class-balanced focal, poly-1 focal
    k: float = 1.0  # softened
    threshold: float = 0.5  # hard truncation
    beta: float = 0.999  # effective number, for the class-balanced losses


def loss_label(name, settings):
    """The loss's name with its hyperparameter, as the table and the figures show it.

    Example:
        >>> loss_label("cb-focal", LossSettings(gamma=2.0))
        'class-balanced focal (gamma=2)'
    """
    detail = {
        "focal": f"gamma={settings.gamma:g}",
        "cb-focal": f"gamma={settings.gamma:g}",
        "poly1": f"gamma={settings.gamma:g}, epsilon=1",
        "flsd53": "gamma=5 below p_t=0.2, else 3",
        "asl": "gamma+=1, gamma-=4, clip=0.05",
        "softened": f"k={settings.k:g}",
        "hard-truncation": f"m={settings.threshold:g}",
    }.get(name)
    return LOSSES[name] if detail is None else f"{LOSSES[name]} ({detail})"


def make_loss(name, *, binary, train_counts, settings):
    """``loss(logits, targets) -> scalar`` for loss ``name``.

    Args:
        name: one of ``LOSSES``.
        binary: True for a one-logit model with 0/1 float targets (the sigmoid losses), False for
            (N, C) logits with class indices (the softmax losses).
        train_counts: training examples per class, for the class-balanced losses.
        settings: a :class:`LossSettings`.
    """
    if name not in LOSSES:
        raise ValueError(f"name must be one of {', '.join(LOSSES)}; got {name!r}")
    balanced = None
    if name in ("cb-ce", "cb-focal"):
        balanced = focalloss.class_weights(train_counts, method="effective_number", beta=settings.beta)
        if binary:
            balanced = float(balanced[1] / balanced.sum())
    gamma = 0.0 if name in ("ce", "cb-ce") else settings.gamma
    if binary:
        if name == "softened":
            return lambda logits, targets: focalloss.sigmoid_softened_loss(logits, targets, k=settings.k)
        if name == "hard-truncation":
            return lambda logits, targets: focalloss.sigmoid_hard_truncation_loss(
                logits, targets, threshold=settings.threshold)
        if name == "poly1":
            return lambda logits, targets: focalloss.sigmoid_poly1_focal_loss(
                logits, targets, alpha=None, gamma=settings.gamma, epsilon=1.0)
        if name == "flsd53":
            return lambda logits, targets: focalloss.sigmoid_adaptive_focal_loss(logits, targets)
        if name == "asl":
            return lambda logits, targets: focalloss.sigmoid_asymmetric_loss(logits, targets)
        return lambda logits, targets: focalloss.sigmoid_focal_loss(logits, targets, alpha=balanced, gamma=gamma)
    if name in BINARY_ONLY:
        raise ValueError(f"name {name!r} is a loss for binary data (a one-logit model); got binary=False")
    if name == "softened":
        return lambda logits, target: focalloss.softmax_softened_loss(logits, target, k=settings.k)
    if name == "hard-truncation":
        return lambda logits, target: focalloss.softmax_hard_truncation_loss(
            logits, target, threshold=settings.threshold)
    if name == "poly1":
        return lambda logits, target: focalloss.softmax_poly1_focal_loss(logits, target, gamma=settings.gamma,
                                                                         epsilon=1.0)
    if name == "flsd53":
        return lambda logits, target: focalloss.softmax_adaptive_focal_loss(logits, target)
    return lambda logits, target: focalloss.softmax_focal_loss(logits, target, alpha=balanced, gamma=gamma)
