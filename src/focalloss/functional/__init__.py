"""Functional API: validation, dispatch to a backend, reduction."""

from .binary import (
    sigmoid_focal_loss,
    sigmoid_focal_loss_star,
    sigmoid_hard_truncation_loss,
    sigmoid_softened_loss,
)
from .multiclass import softmax_focal_loss, softmax_hard_truncation_loss, softmax_softened_loss
from .weights import class_weights, init_prior_bias_, prior_bias

__all__ = [
    "class_weights",
    "init_prior_bias_",
    "prior_bias",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_star",
    "sigmoid_hard_truncation_loss",
    "sigmoid_softened_loss",
    "softmax_focal_loss",
    "softmax_hard_truncation_loss",
    "softmax_softened_loss",
]
