"""What every family of the reference shares: elementary functions, reductions, docstring sections."""

from __future__ import annotations

import numpy as np

from .._docs import shared_sections

# --------------------------------------------------------------------------------------------------
# Elementary functions, stable for any finite argument
# --------------------------------------------------------------------------------------------------
def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def _sigmoid(x):
    return np.exp(_log_sigmoid(x))


def _pow_from_log(log_base, gamma):
    """base**gamma from log(base), with 0**0 = 1 (gamma=0 means no modulation at all)."""
    if gamma == 0:
        return np.ones_like(log_base)
    return np.exp(gamma * log_base)


def _logsumexp(values):
    """log sum exp over the last axis (kept), -inf for a row of -inf only."""
    peak = np.max(values, axis=-1, keepdims=True)
    safe_peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return safe_peak + np.log(np.sum(np.exp(values - safe_peak), axis=-1, keepdims=True))


# --------------------------------------------------------------------------------------------------
# Reductions
# --------------------------------------------------------------------------------------------------
def _denominator(counted, positives, reduction, normalizer):
    if normalizer is None:
        return max(1.0, float(np.sum(counted))) if reduction == "mean" else 1.0
    if isinstance(normalizer, str):  # "positives"
        return max(1.0, float(positives))
    return float(normalizer)


def _reduce(values, denominator, reduction):
    if reduction == "none":
        return values / denominator
    return np.sum(values) / denominator


def _reduce_grad(elem_grad, denominator, reduction, grad_output, shape):
    """Gradient of the reduced output, given the per-element gradients and grad_output."""
    if grad_output is None:
        grad_output = np.ones(shape) if reduction == "none" else 1.0
    return elem_grad * np.asarray(grad_output, dtype=np.float64) / denominator


# --------------------------------------------------------------------------------------------------
# Docstring sections shared by the public functions below
# --------------------------------------------------------------------------------------------------
_BINARY_INPUTS = """\
        x: logits, any shape (anything NumPy turns into float64).
        t: targets in [0, 1], broadcastable to ``x``.
"""
_BINARY_REDUCTION = """\
        reduction: ``"none"`` (default here), ``"mean"`` or ``"sum"``, as in the torch functions.
        weight: optional weights broadcastable to ``x``; a zero weight removes the element.
        normalizer: None, a number > 0, or ``"positives"`` (no cross-rank reduction here).
"""
_GRAD_OUTPUT = """\
        grad_output: upstream gradient, shaped like the output; default ones.
"""
_BINARY_EXAMPLE_INPUTS = """\
        >>> import numpy as np
        >>> from focalloss import reference
        >>> x, t = np.array([2.0, -1.0, -0.5]), np.array([1.0, 0.0, 1.0])
"""
_SOFTMAX_INPUTS = """\
        x: logits (N, C, d1, ...), classes in dimension 1.
        target: integer class indices (N, d1, ...) or probabilities shaped like ``x``.
"""
_SOFTMAX_OPTIONS = """\
        reduction: ``"none"`` (default here), ``"mean"`` or ``"sum"``, as in the torch functions.
        weight: optional per-position weights broadcastable to (N, d1, ...); zero removes the position.
        ignore_index: class index whose positions are left out, default -100.
        label_smoothing: epsilon in [0, 1]; the target becomes (1 - epsilon) q + epsilon / C.
        normalizer: None, a number > 0, or ``"positives"`` (the number of counted positions).
"""
_SOFTMAX_HESS_ARGS = """\
        alpha: None (default), a float multiplying every class, or one weight per class.
        gamma: focusing parameter >= 0, default 2.
        weight: optional per-position weights broadcastable to (N, d1, ...); zero removes the position.
        ignore_index: class index whose positions are left out (all zeros), default -100.
        label_smoothing: epsilon in [0, 1]; the target becomes (1 - epsilon) q + epsilon / C.

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: like ``x``.
"""
_SOFTMAX_EXAMPLE_INPUTS = """\
        >>> import numpy as np
        >>> from focalloss import reference
        >>> x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
"""

_ASYMMETRIC_ARGS = """\
        gamma_pos: focusing parameter of the positives, >= 0, default 1.
        gamma_neg: focusing parameter of the negatives, >= 0, default 4.
        clip: the probability margin m in [0, 1) that shifts the negatives, default 0.05.
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None (default): both 1.
"""

_FLOOR_ARG = """\
        floor: the least curvature of a label side (of a row, for softmax), per unit of its weight
            (w alpha_t); default 0. The boosting objectives use float32's smallest normal number,
            which their engines would otherwise receive as 0.
"""

# the curvature choices of the asymmetric loss: hyperparameters, weight and floor, and the shapes
_ASYMMETRIC_CURVATURE_ARGS = _ASYMMETRIC_ARGS + """\
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).
""" + _FLOOR_ARG + """
    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.
"""

_shared_docs = shared_sections(FLOOR_ARG=_FLOOR_ARG, ASYMMETRIC_ARGS=_ASYMMETRIC_ARGS,
                               ASYMMETRIC_CURVATURE_ARGS=_ASYMMETRIC_CURVATURE_ARGS, BINARY_INPUTS=_BINARY_INPUTS, BINARY_REDUCTION=_BINARY_REDUCTION, GRAD_OUTPUT=_GRAD_OUTPUT, BINARY_EXAMPLE_INPUTS=_BINARY_EXAMPLE_INPUTS, SOFTMAX_INPUTS=_SOFTMAX_INPUTS, SOFTMAX_OPTIONS=_SOFTMAX_OPTIONS, SOFTMAX_EXAMPLE_INPUTS=_SOFTMAX_EXAMPLE_INPUTS, SOFTMAX_HESS_ARGS=_SOFTMAX_HESS_ARGS)
