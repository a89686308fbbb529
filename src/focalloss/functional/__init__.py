"""Functional API: validation, dispatch to a backend, reduction. One function per entry of
:mod:`focalloss.losses`, and the class-weight helpers."""

from . import binary, multiclass
from .binary import *  # noqa: F403 (every binary loss of the registry)
from .multiclass import *  # noqa: F403 (every softmax loss of the registry)
from ._reduce import Positives
from .weights import class_weights, init_prior_bias_, prior_bias

__all__ = [*binary.__all__, *multiclass.__all__, "Positives", "class_weights", "init_prior_bias_", "prior_bias"]
