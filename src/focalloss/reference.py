r"""NumPy float64 reference of every loss in the library: values, analytic gradients, binary hessians.

This module is the one source of truth for the math. The PyTorch code is tested against it, and the
gradient-boosting objectives build on its derivatives. It is written for clarity and accuracy, not
speed, and imports nothing but NumPy.

Every binary loss has the form

.. math::

    \ell(x, t) = t\,\alpha\,A(x) + (1 - t)(1 - \alpha)\,A(-x)

where :math:`A(x)` is the loss of a positive label at logit :math:`x` (the loss of a negative label
is the mirror image :math:`A(-x)`), :math:`t \in [0, 1]` is the target and ``alpha=None`` sets both
weights to 1. Soft targets therefore give the expectation of the hard-label loss, linear in ``t``.

=====================  ==================================================================
loss                   :math:`A(x)` with :math:`p = \sigma(x)`
=====================  ==================================================================
focal                  :math:`-(1 - p)^\gamma \log p`
softened (seed 000)    :math:`-\sigma(-k x) \log p`
hard truncation        :math:`-[p \le \text{threshold}] \log p`
focal star (FL*)       :math:`-\log \sigma(\gamma x + \beta) / \gamma`
=====================  ==================================================================

Multi-class losses take a target distribution :math:`q` over the ``C`` classes (a one-hot row for a
class index, smoothed as in ``torch.nn.functional.cross_entropy`` when ``label_smoothing > 0``) and
per-class weights :math:`\alpha_c`:

.. math::

    \ell(x, q) = \sum_c \alpha_c\, q_c\, \varphi_c(x), \qquad
    \varphi_c = (1 - p_c)^\gamma (-\log p_c) \text{ (focal)}, \quad
    \varphi_c = \mathrm{softmax}(-k x)_c (-\log p_c) \text{ (softened)}

Reductions follow the library: ``"none"``, ``"sum"``, and ``"mean"``, which divides the sum by the
number of elements that count (not ignored, not zero-weighted) and gives 0 when none does. A
``normalizer`` (a positive number, or ``"positives"``: max(1, the target mass of the counted
elements)) replaces that denominator.

Example:
    >>> import numpy as np
    >>> from focalloss import reference
    >>> x, t = np.array([2.0]), np.array([1.0])
    >>> reference.sigmoid_focal_loss(x, t, alpha=None, gamma=0.0).round(6)  # = BCE
    array([0.126928])
"""

from __future__ import annotations

import numpy as np

from ._docs import shared_sections

__all__ = [
    "class_weights",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_grad",
    "sigmoid_focal_loss_hess",
    "sigmoid_focal_loss_star",
    "sigmoid_focal_loss_star_grad",
    "sigmoid_focal_loss_star_hess",
    "sigmoid_hard_truncation_loss",
    "sigmoid_hard_truncation_loss_grad",
    "sigmoid_hard_truncation_loss_hess",
    "sigmoid_softened_loss",
    "sigmoid_softened_loss_grad",
    "sigmoid_softened_loss_hess",
    "softmax_focal_loss",
    "softmax_focal_loss_grad",
    "softmax_hard_truncation_loss",
    "softmax_hard_truncation_loss_grad",
    "softmax_softened_loss",
    "softmax_softened_loss_grad",
]


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


# --------------------------------------------------------------------------------------------------
# Binary losses: the positive-label term A(z) and its first two derivatives
# --------------------------------------------------------------------------------------------------
def _focal_term(z, *, gamma):
    """A(z) = -(1-p)^gamma log p, with A' and A'' in closed form (p = sigmoid(z), q = 1-p)."""
    log_p, log_q = _log_sigmoid(z), _log_sigmoid(-z)
    p, q = np.exp(log_p), np.exp(log_q)
    q_gamma = _pow_from_log(log_q, gamma)
    value = -q_gamma * log_p
    first = q_gamma * (gamma * p * log_p - q)
    second = p * q_gamma * ((2.0 * gamma + 1.0) * q + gamma * log_p * (q - gamma * p))
    return value, first, second


def _softened_term(z, *, k):
    """A(z) = -sigmoid(-k z) log p: the hard truncation softened by a sigmoid of slope k."""
    log_p, q, p = _log_sigmoid(z), _sigmoid(-z), _sigmoid(z)
    s, r = _sigmoid(-k * z), _sigmoid(k * z)
    value = -s * log_p
    first = k * s * r * log_p - s * q
    second = k * k * s * r * (s - r) * log_p + 2.0 * k * s * r * q + s * p * q
    return value, first, second


def _hard_truncation_term(z, *, threshold):
    """A(z) = -log p where p <= threshold, else 0 (already right: no loss, no gradient)."""
    with np.errstate(divide="ignore"):
        cut = np.log(threshold) - np.log1p(-threshold)  # logit(threshold), +-inf at 0 and 1
    active = z <= cut
    q, p = _sigmoid(-z), _sigmoid(z)
    value = np.where(active, -_log_sigmoid(z), 0.0)
    first = np.where(active, -q, 0.0)
    second = np.where(active, p * q, 0.0)
    return value, first, second


def _focal_star_term(z, *, gamma, beta):
    """A(z) = -log sigmoid(gamma z + beta) / gamma (FL*, appendix of Lin et al.)."""
    u = gamma * z + beta
    value = -_log_sigmoid(u) / gamma
    first = -_sigmoid(-u)
    second = gamma * _sigmoid(u) * _sigmoid(-u)
    return value, first, second


def _binary_parts(term, x, t, alpha, weight):
    """Weighted per-element (value, d/dx, d2/dx2), the counted mask and the positives' mass."""
    x = np.asarray(x, dtype=np.float64)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    w = np.ones_like(x) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), x.shape)
    counted = w != 0
    x = np.where(counted, x, 0.0)  # ignored elements may hold inf or NaN: they must change nothing
    t = np.where(counted, t, 0.0)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)
    pos, neg = term(x), term(-x)
    w_pos, w_neg = w * t * a_pos, w * (1.0 - t) * a_neg
    value = w_pos * pos[0] + w_neg * neg[0]
    first = w_pos * pos[1] - w_neg * neg[1]
    second = w_pos * pos[2] + w_neg * neg[2]
    return value, first, second, counted, t.sum()


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


def _binary_loss(term, x, t, alpha, weight, reduction, normalizer):
    value, _, _, counted, positives = _binary_parts(term, x, t, alpha, weight)
    return _reduce(value, _denominator(counted, positives, reduction, normalizer), reduction)


def _binary_grad(term, x, t, alpha, weight, reduction, normalizer, grad_output):
    _, first, _, counted, positives = _binary_parts(term, x, t, alpha, weight)
    denominator = _denominator(counted, positives, reduction, normalizer)
    return _reduce_grad(first, denominator, reduction, grad_output, first.shape)


def _binary_hess(term, x, t, alpha, weight):
    return _binary_parts(term, x, t, alpha, weight)[2]


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

_shared_docs = shared_sections(BINARY_INPUTS=_BINARY_INPUTS, BINARY_REDUCTION=_BINARY_REDUCTION, GRAD_OUTPUT=_GRAD_OUTPUT, BINARY_EXAMPLE_INPUTS=_BINARY_EXAMPLE_INPUTS, SOFTMAX_INPUTS=_SOFTMAX_INPUTS, SOFTMAX_OPTIONS=_SOFTMAX_OPTIONS, SOFTMAX_EXAMPLE_INPUTS=_SOFTMAX_EXAMPLE_INPUTS, SOFTMAX_HESS_ARGS=_SOFTMAX_HESS_ARGS)


# --------------------------------------------------------------------------------------------------
# Public binary API. Each loss has three functions: the (reduced) loss, the gradient of that output
# with respect to the logits (times grad_output), and the per-element second derivative.
# --------------------------------------------------------------------------------------------------
@_shared_docs
def sigmoid_focal_loss(x, t, *, alpha=0.25, gamma=2.0, reduction="none", weight=None, normalizer=None):
    r"""Binary focal loss :math:`t\alpha(1-p)^\gamma(-\log p) + (1-t)(1-\alpha)p^\gamma(-\log(1-p))`.

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None: both 1. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss(x, t, gamma=2.0).round(6)
        array([0.000451, 0.016994, 0.094353])
    """
    return _binary_loss(lambda z: _focal_term(z, gamma=gamma), x, t, alpha, weight, reduction, normalizer)


@_shared_docs
def sigmoid_focal_loss_grad(
    x, t, *, alpha=0.25, gamma=2.0, reduction="none", weight=None, normalizer=None, grad_output=None
):
    """Gradient of :func:`sigmoid_focal_loss` with respect to ``x``, times ``grad_output``.

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None: both 1. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"`` (the gradient always ``(*)``).

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_grad(x, t, gamma=2.0).round(6)
        array([-0.001218,  0.039436, -0.131538])
    """
    term = lambda z: _focal_term(z, gamma=gamma)  # noqa: E731
    return _binary_grad(term, x, t, alpha, weight, reduction, normalizer, grad_output)


@_shared_docs
def sigmoid_focal_loss_hess(x, t, *, alpha=0.25, gamma=2.0, weight=None):
    """Per-element second derivative of the unreduced :func:`sigmoid_focal_loss`.

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None: both 1. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_hess(x, t, gamma=2.0).round(6)
        array([0.003169, 0.082974, 0.123265])
    """
    return _binary_hess(lambda z: _focal_term(z, gamma=gamma), x, t, alpha, weight)


@_shared_docs
def sigmoid_softened_loss(x, t, *, k=1.0, alpha=None, reduction="none", weight=None, normalizer=None):
    r"""Softened loss: :math:`-\sigma(-kx)\log\sigma(x)` for t=1, :math:`-\sigma(kx)\log\sigma(-x)` for t=0.

    Args:
@BINARY_INPUTS
        k: slope >= 0 of the softened step, default 1.
        alpha: positives' weight in [0, 1], or None (default): both 1.
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_softened_loss(x, t, k=2.0).round(6)
        array([0.002283, 0.037342, 0.712107])
    """
    return _binary_loss(lambda z: _softened_term(z, k=k), x, t, alpha, weight, reduction, normalizer)


@_shared_docs
def sigmoid_softened_loss_grad(
    x, t, *, k=1.0, alpha=None, reduction="none", weight=None, normalizer=None, grad_output=None
):
    """Gradient of :func:`sigmoid_softened_loss` with respect to ``x``, times ``grad_output``.

    Args:
@BINARY_INPUTS
        k: slope >= 0 of the softened step, default 1.
        alpha: positives' weight in [0, 1], or None (default): both 1.
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"`` (the gradient always ``(*)``).

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_softened_loss_grad(x, t, k=2.0).round(6)
        array([-0.006628,  0.09784 , -0.838085])
    """
    term = lambda z: _softened_term(z, k=k)  # noqa: E731
    return _binary_grad(term, x, t, alpha, weight, reduction, normalizer, grad_output)


@_shared_docs
def sigmoid_softened_loss_hess(x, t, *, k=1.0, alpha=None, weight=None):
    """Per-element second derivative of the unreduced :func:`sigmoid_softened_loss`.

    Args:
@BINARY_INPUTS
        k: slope >= 0 of the softened step, default 1.
        alpha: positives' weight in [0, 1], or None (default): both 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_softened_loss_hess(x, t, k=2.0).round(6)
        array([0.018955, 0.236582, 0.307323])
    """
    return _binary_hess(lambda z: _softened_term(z, k=k), x, t, alpha, weight)


@_shared_docs
def sigmoid_hard_truncation_loss(
    x, t, *, threshold=0.5, alpha=None, reduction="none", weight=None, normalizer=None
):
    """Cross-entropy where the prediction is on the wrong side of ``threshold``, 0 where it is right.

    Args:
@BINARY_INPUTS
        threshold: m in [0, 1], default 0.5: no loss for a positive with p > m or a negative with p < 1 - m.
        alpha: positives' weight in [0, 1], or None (default): both 1.
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_hard_truncation_loss(x, t, threshold=0.5).round(6)
        array([0.      , 0.      , 0.974077])
    """
    term = lambda z: _hard_truncation_term(z, threshold=threshold)  # noqa: E731
    return _binary_loss(term, x, t, alpha, weight, reduction, normalizer)


@_shared_docs
def sigmoid_hard_truncation_loss_grad(
    x, t, *, threshold=0.5, alpha=None, reduction="none", weight=None, normalizer=None, grad_output=None
):
    """Gradient of :func:`sigmoid_hard_truncation_loss` (zero where the loss is truncated).

    Args:
@BINARY_INPUTS
        threshold: m in [0, 1], default 0.5: no loss for a positive with p > m or a negative with p < 1 - m.
        alpha: positives' weight in [0, 1], or None (default): both 1.
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"`` (the gradient always ``(*)``).

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_hard_truncation_loss_grad(x, t, threshold=0.5).round(6)
        array([ 0.      , -0.      , -0.622459])
    """
    term = lambda z: _hard_truncation_term(z, threshold=threshold)  # noqa: E731
    return _binary_grad(term, x, t, alpha, weight, reduction, normalizer, grad_output)


@_shared_docs
def sigmoid_hard_truncation_loss_hess(x, t, *, threshold=0.5, alpha=None, weight=None):
    """Per-element second derivative of the unreduced :func:`sigmoid_hard_truncation_loss`.

    Args:
@BINARY_INPUTS
        threshold: m in [0, 1], default 0.5: no loss for a positive with p > m or a negative with p < 1 - m.
        alpha: positives' weight in [0, 1], or None (default): both 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_hard_truncation_loss_hess(x, t, threshold=0.5).round(6)
        array([0.      , 0.      , 0.235004])
    """
    return _binary_hess(lambda z: _hard_truncation_term(z, threshold=threshold), x, t, alpha, weight)


@_shared_docs
def sigmoid_focal_loss_star(
    x, t, *, gamma=1.0, beta=0.0, alpha=None, reduction="none", weight=None, normalizer=None
):
    r"""FL*: :math:`-\log\sigma(\gamma x_t + \beta)/\gamma` with :math:`x_t = x` (t=1), :math:`-x` (t=0).

    Args:
@BINARY_INPUTS
        gamma: slope > 0, default 1.
        beta: shift, default 0.
        alpha: positives' weight in [0, 1], or None (default): both 1.
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_star(x, t, gamma=2.0, beta=1.0).round(6)
        array([0.003358, 0.024294, 0.346574])
    """
    term = lambda z: _focal_star_term(z, gamma=gamma, beta=beta)  # noqa: E731
    return _binary_loss(term, x, t, alpha, weight, reduction, normalizer)


@_shared_docs
def sigmoid_focal_loss_star_grad(
    x, t, *, gamma=1.0, beta=0.0, alpha=None, reduction="none", weight=None, normalizer=None,
    grad_output=None,
):
    """Gradient of :func:`sigmoid_focal_loss_star` with respect to ``x``, times ``grad_output``.

    Args:
@BINARY_INPUTS
        gamma: slope > 0, default 1.
        beta: shift, default 0.
        alpha: positives' weight in [0, 1], or None (default): both 1.
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"`` (the gradient always ``(*)``).

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_star_grad(x, t, gamma=2.0, beta=1.0).round(6)
        array([-0.006693,  0.047426, -0.5     ])
    """
    term = lambda z: _focal_star_term(z, gamma=gamma, beta=beta)  # noqa: E731
    return _binary_grad(term, x, t, alpha, weight, reduction, normalizer, grad_output)


@_shared_docs
def sigmoid_focal_loss_star_hess(x, t, *, gamma=1.0, beta=0.0, alpha=None, weight=None):
    """Per-element second derivative of the unreduced :func:`sigmoid_focal_loss_star`.

    Args:
@BINARY_INPUTS
        gamma: slope > 0, default 1.
        beta: shift, default 0.
        alpha: positives' weight in [0, 1], or None (default): both 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_star_hess(x, t, gamma=2.0, beta=1.0).round(6)
        array([0.013296, 0.090353, 0.5     ])
    """
    return _binary_hess(lambda z: _focal_star_term(z, gamma=gamma, beta=beta), x, t, alpha, weight)


# --------------------------------------------------------------------------------------------------
# Multi-class losses. Rows are laid out classes-last inside this section.
# --------------------------------------------------------------------------------------------------
def _logsumexp(values):
    """log sum exp over the last axis (kept), -inf for a row of -inf only."""
    peak = np.max(values, axis=-1, keepdims=True)
    safe_peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return safe_peak + np.log(np.sum(np.exp(values - safe_peak), axis=-1, keepdims=True))


def _log_probs(z):
    """log p and log(1 - p) for every class, accurate even when one class takes all the mass.

    For the most likely class m, with S = sum_{j != m} exp(z_j - z_m): log p_m = -log1p(S) and
    log(1 - p_m) = log S - log1p(S), with log S from a log-sum-exp (no cancellation, no underflow).
    Every other class has p <= 1/2, where log1p(-p) is well conditioned. Also returns
    r = log(p) / (1 - p), the ratio the focal gradient needs, with its limit -1 as p -> 1, and which
    class is the top one. A logit of -inf (a masked class) has p = 0.
    """
    num_classes = z.shape[-1]
    top = np.argmax(z, axis=-1)[..., None]
    is_top = np.arange(num_classes) == top
    shifted = z - np.take_along_axis(z, top, axis=-1)
    log_s = _logsumexp(np.where(is_top, -np.inf, shifted))
    log1p_s = np.logaddexp(0.0, log_s)
    log_p = shifted - log1p_s
    with np.errstate(divide="ignore", invalid="ignore"):
        log_1mp = np.where(is_top, log_s - log1p_s, np.log1p(-np.exp(np.minimum(log_p, np.log(0.5)))))
        s = np.exp(log_s)
        ratio_top = np.where(s > 0, -(1.0 + s) * log1p_s / s, -1.0)
        ratio = np.where(is_top, ratio_top, log_p / np.exp(log_1mp))
    return log_p, log_1mp, ratio, is_top


def _minus_share(v, share, is_top, one_minus_top):
    """v_j - share_j sum_c v_c, for a distribution `share` over the classes (last axis).

    The entry of its largest share (is_top), which may round to 1, is formed as
    v_top (1 - share_top) - share_top sum_{c != top} v_c, with 1 - share_top given: as written
    above it would be a difference of nearly equal terms.
    """
    rest = np.sum(np.where(is_top, 0.0, v), axis=-1, keepdims=True)
    general = v - share * (rest + np.sum(np.where(is_top, v, 0.0), axis=-1, keepdims=True))
    return np.where(is_top, v * one_minus_top - share * rest, general)


def _softmax_parts(kind, z, w, params):
    """Per-row loss and its gradient for class-weighted targets w = alpha * q (classes last).

    A class with w = 0 contributes nothing, even with a logit of -inf (no 0 * inf).
    """
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 * inf is formed, then not selected
        return _softmax_terms(kind, z, w, params)


def _softmax_terms(kind, z, w, params):
    log_p, log_1mp, ratio, is_top = _log_probs(z)
    p = np.exp(log_p)
    one_minus_p_top = np.sum(np.where(is_top, np.exp(log_1mp), 0.0), axis=-1, keepdims=True)
    needed = w != 0
    if kind == "focal":
        gamma = params["gamma"]
        mod = _pow_from_log(log_1mp, gamma)
        phi = mod * (-log_p)
        p_ratio = np.where(p > 0, p * ratio, 0.0)  # p log p / (1 - p) -> 0 at p = 0
        dphi = mod * (gamma * p_ratio - 1.0)  # d phi_c / d log p_c
        loss = np.sum(np.where(needed, w * phi, 0.0), axis=-1)
        return loss, _minus_share(w * dphi, p, is_top, one_minus_p_top)
    if kind == "hard_truncation":
        # phi_c = [p_c <= threshold] * (-log p_c), compared on log p: exact for threshold 0 and 1.
        with np.errstate(divide="ignore"):
            kept = log_p <= np.log(params["threshold"])
        loss = np.sum(np.where(kept & needed, w * -log_p, 0.0), axis=-1)
        dphi = 0.0 - w * kept  # d phi_c / d log p_c; 0.0 - avoids printing -0
        return loss, _minus_share(dphi, p, is_top, one_minus_p_top)
    k = params["k"]  # softened: phi_c = softmax(-k z)_c * (-log p_c)
    masked = z == -np.inf
    if k == 0:
        s = np.full(z.shape, 1.0 / z.shape[-1])
    else:
        # the softmax of -k z, shifted by the smallest finite logit; masked classes take all of it
        low = np.min(np.where(masked, np.inf, z), axis=-1, keepdims=True)
        s = np.exp(-k * (np.where(masked, low, z) - low))
        s = np.where(masked.any(axis=-1, keepdims=True), masked, s)
        s = s / np.sum(s, axis=-1, keepdims=True)
    s_top = np.arange(z.shape[-1]) == np.argmax(s, axis=-1)[..., None]
    one_minus_s_top = np.sum(np.where(s_top, 0.0, s), axis=-1, keepdims=True)
    ws_nll = np.where(needed & (s > 0), w * s * (-log_p), 0.0)
    loss = np.sum(ws_nll, axis=-1)
    grad = -k * _minus_share(ws_nll, s, s_top, one_minus_s_top) - _minus_share(w * s, p, is_top, one_minus_p_top)
    return loss, grad


def _softmax(kind, x, target, params, alpha, weight, ignore_index, label_smoothing, reduction,
             normalizer, grad_output):
    """(reduced loss, gradient of it times grad_output) for a multi-class loss; class axis is 1."""
    x = np.asarray(x, dtype=np.float64)
    num_classes = x.shape[1]
    z = np.moveaxis(x, 1, -1)
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.integer):
        counted = target != ignore_index
        q = (np.arange(num_classes) == np.where(counted, target, 0)[..., None]).astype(np.float64)
    else:
        counted = np.ones(z.shape[:-1], dtype=bool)
        q = np.moveaxis(target.astype(np.float64), 1, -1)
    q = (1.0 - label_smoothing) * q + label_smoothing / num_classes
    w_row = np.ones(z.shape[:-1]) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), z.shape[:-1])
    counted = counted & (w_row != 0)
    z = np.where(counted[..., None], z, 0.0)
    q = np.where(counted[..., None], q, 0.0)
    a = 1.0 if alpha is None else np.asarray(alpha, dtype=np.float64)
    loss_row, grad_row = _softmax_parts(kind, z, a * q, params)
    loss_row = np.where(counted, w_row * loss_row, 0.0)
    denominator = _denominator(counted, np.sum(counted), reduction, normalizer)
    scale = _reduce_grad(np.where(counted, w_row, 0.0), denominator, reduction, grad_output, loss_row.shape)
    return _reduce(loss_row, denominator, reduction), np.moveaxis(scale[..., None] * grad_row, -1, 1)


@_shared_docs
def softmax_focal_loss(x, target, *, alpha=None, gamma=2.0, reduction="none", weight=None,
                       ignore_index=-100, label_smoothing=0.0, normalizer=None):
    r"""Multi-class focal loss :math:`\sum_c \alpha_c q_c (1-p_c)^\gamma (-\log p_c)`.

    ``x`` is (N, C, d1, ...); ``target`` holds class indices (N, d1, ...) or probabilities shaped like
    ``x``. For ``normalizer="positives"`` the positives are the counted positions (each carries one
    unit of target mass).

    Args:
@SOFTMAX_INPUTS
        alpha: None (default), a float multiplying every class, or one weight per class.
        gamma: focusing parameter >= 0, default 2.
@SOFTMAX_OPTIONS

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: ``(N, d1, ...)`` for ``"none"``, else a scalar.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_focal_loss(x, np.array([0, 1]), gamma=2.0).round(6)
        array([0.011093, 2.601111])
    """
    return _softmax("focal", x, target, {"gamma": gamma}, alpha, weight, ignore_index, label_smoothing,
                    reduction, normalizer, grad_output=None)[0]


@_shared_docs
def softmax_focal_loss_grad(x, target, *, alpha=None, gamma=2.0, reduction="none", weight=None,
                            ignore_index=-100, label_smoothing=0.0, normalizer=None, grad_output=None):
    """Gradient of :func:`softmax_focal_loss` with respect to ``x``, times ``grad_output``.

    Args:
@SOFTMAX_INPUTS
        alpha: None (default), a float multiplying every class, or one weight per class.
        gamma: focusing parameter >= 0, default 2.
@SOFTMAX_OPTIONS
@GRAD_OUTPUT

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: ``(N, d1, ...)`` for ``"none"``, else a scalar; the gradient is shaped like ``x``.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_focal_loss_grad(x, np.array([0, 1]), gamma=2.0).round(6)
        array([[-0.027285,  0.022307,  0.004977],
               [ 0.058869, -1.128764,  1.069895]])
    """
    return _softmax("focal", x, target, {"gamma": gamma}, alpha, weight, ignore_index, label_smoothing,
                    reduction, normalizer, grad_output)[1]


@_shared_docs
def softmax_softened_loss(x, target, *, k=1.0, alpha=None, reduction="none", weight=None,
                          ignore_index=-100, label_smoothing=0.0, normalizer=None):
    r"""Multi-class softened loss :math:`\sum_c \alpha_c q_c\,\mathrm{softmax}(-kx)_c(-\log p_c)`.

    Args:
@SOFTMAX_INPUTS
        k: slope >= 0, default 1.
        alpha: None (default), a float multiplying every class, or one weight per class.
@SOFTMAX_OPTIONS

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: ``(N, d1, ...)`` for ``"none"``, else a scalar.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_softened_loss(x, np.array([0, 1]), k=1.0).round(6)
        array([0.009438, 1.343318])
    """
    return _softmax("softened", x, target, {"k": k}, alpha, weight, ignore_index, label_smoothing,
                    reduction, normalizer, grad_output=None)[0]


@_shared_docs
def softmax_softened_loss_grad(x, target, *, k=1.0, alpha=None, reduction="none", weight=None,
                               ignore_index=-100, label_smoothing=0.0, normalizer=None, grad_output=None):
    """Gradient of :func:`softmax_softened_loss` with respect to ``x``, times ``grad_output``.

    Args:
@SOFTMAX_INPUTS
        k: slope >= 0, default 1.
        alpha: None (default), a float multiplying every class, or one weight per class.
@SOFTMAX_OPTIONS
@GRAD_OUTPUT

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: ``(N, d1, ...)`` for ``"none"``, else a scalar; the gradient is shaped like ``x``.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_softened_loss_grad(x, np.array([0, 1]), k=1.0).round(6)
        array([[-0.017455,  0.008511,  0.008944],
               [ 0.708181, -1.159653,  0.451471]])
    """
    return _softmax("softened", x, target, {"k": k}, alpha, weight, ignore_index, label_smoothing,
                    reduction, normalizer, grad_output)[1]


@_shared_docs
def softmax_hard_truncation_loss(x, target, *, threshold=0.5, alpha=None, reduction="none", weight=None,
                                 ignore_index=-100, label_smoothing=0.0, normalizer=None):
    r"""Multi-class hard truncation :math:`\sum_c \alpha_c q_c [p_c \le m] (-\log p_c)`, m = threshold.

    For a class index y: cross-entropy where :math:`p_y \le m`, 0 where the target class already
    has more than ``threshold`` of the mass. Compared on :math:`\log p_c` against :math:`\log m`.

    Args:
@SOFTMAX_INPUTS
        threshold: m in [0, 1], default 0.5; 1 is cross-entropy, 0 is zero loss.
        alpha: None (default), a float multiplying every class, or one weight per class.
@SOFTMAX_OPTIONS

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: ``(N, d1, ...)`` for ``"none"``, else a scalar.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_hard_truncation_loss(x, np.array([0, 1]), threshold=0.5).round(6)
        array([0.      , 2.909601])
    """
    return _softmax("hard_truncation", x, target, {"threshold": threshold}, alpha, weight, ignore_index,
                    label_smoothing, reduction, normalizer, grad_output=None)[0]


@_shared_docs
def softmax_hard_truncation_loss_grad(x, target, *, threshold=0.5, alpha=None, reduction="none", weight=None,
                                      ignore_index=-100, label_smoothing=0.0, normalizer=None, grad_output=None):
    """Gradient of :func:`softmax_hard_truncation_loss` with respect to ``x``, times ``grad_output``.

    Args:
@SOFTMAX_INPUTS
        threshold: m in [0, 1], default 0.5.
        alpha: None (default), a float multiplying every class, or one weight per class.
@SOFTMAX_OPTIONS
@GRAD_OUTPUT

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: ``(N, d1, ...)`` for ``"none"``, else a scalar; the gradient is shaped like ``x``.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_hard_truncation_loss_grad(x, np.array([0, 1]), threshold=0.5).round(6)
        array([[ 0.      ,  0.      ,  0.      ],
               [ 0.049311, -0.945503,  0.896191]])
    """
    return _softmax("hard_truncation", x, target, {"threshold": threshold}, alpha, weight, ignore_index,
                    label_smoothing, reduction, normalizer, grad_output)[1]


# --------------------------------------------------------------------------------------------------
# Class weights
# --------------------------------------------------------------------------------------------------
def class_weights(counts, *, method="inverse", beta=0.999):
    r"""Per-class weights from class counts, rescaled to sum to the number of classes C.

    ``"inverse"``: :math:`1/n_c`; ``"sqrt_inverse"``: :math:`1/\sqrt{n_c}`; ``"effective_number"``
    (Cui et al. 2019): :math:`(1-\beta)/(1-\beta^{n_c})`. Counts must be positive (checked by
    :func:`focalloss.class_weights`, not here).

    Args:
        counts: examples per class, C values > 0.
        method: ``"inverse"`` (default), ``"sqrt_inverse"`` or ``"effective_number"``.
        beta: in [0, 1), for ``"effective_number"``; default 0.999.

    Shape:
        - counts: ``(C)``; output: ``(C)``, float64.

    Example:
        >>> from focalloss import reference
        >>> reference.class_weights([900, 90, 10], method="sqrt_inverse").round(4)
        array([0.2198, 0.6951, 2.0852])
    """
    n = np.asarray(counts, dtype=np.float64)
    if method == "inverse":
        raw = 1.0 / n
    elif method == "sqrt_inverse":
        raw = 1.0 / np.sqrt(n)
    else:
        with np.errstate(divide="ignore"):  # beta=0: log 0 = -inf, and 1 - 0**n = 1 as it should
            raw = (1.0 - beta) / -np.expm1(n * np.log(beta))  # 1 - beta**n without cancellation
    return raw * (n.size / raw.sum())


# --------------------------------------------------------------------------------------------------
# Curvatures for Newton-step training (gradient-boosted trees, focalloss.boosting). The exact second
# derivative of a focal-type loss is negative for badly misclassified examples; the "reweighted"
# curvature is the always-positive alternative: the logistic curvature p(1 - p), times the example's
# focal weight held fixed (the Fisher-scoring / IRLS curvature).
# --------------------------------------------------------------------------------------------------
__all__ += [
    "sigmoid_focal_loss_reweighted_hess",
    "sigmoid_softened_loss_reweighted_hess",
    "softmax_focal_loss_hess_diag",
    "softmax_focal_loss_reweighted_hess_diag",
]


def _binary_reweighted_hess(term, x, t, alpha, weight):
    """Per element: the two label sides' -A'(z) * sigmoid(z), weighted like the loss (z = x or -x)."""
    x = np.asarray(x, dtype=np.float64)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    _, first_if_positive, _, counted, _ = _binary_parts(term, x, 1.0, alpha, weight)
    first_if_negative = _binary_parts(term, x, 0.0, alpha, weight)[1]  # = -w (1 - alpha) A'(-x)
    x, t = np.where(counted, x, 0.0), np.where(counted, t, 0.0)
    return -t * first_if_positive * _sigmoid(x) + (1.0 - t) * first_if_negative * _sigmoid(-x)


@_shared_docs
def sigmoid_focal_loss_reweighted_hess(x, t, *, alpha=0.25, gamma=2.0, weight=None):
    r"""Always-positive curvature of :func:`sigmoid_focal_loss`: logistic curvature times the focal weight.

    The gradient of each label side is the logistic gradient scaled by a positive focal weight,
    :math:`A'(z) = -(1 - p_t)\,m` with :math:`p_t = \sigma(z)`; holding :math:`m` fixed gives the
    curvature :math:`m\,p_t(1 - p_t) = -A'(z)\,p_t`:

    .. math::

        h = t\,\alpha\,(-A'(x))\,\sigma(x) + (1 - t)(1 - \alpha)\,(-A'(-x))\,\sigma(-x), \qquad
        -A'(z) = (1 - p_t)^\gamma \left(1 - p_t - \gamma\,p_t \log p_t\right)

    It equals :func:`sigmoid_focal_loss_hess` at gamma=0 and is :math:`\gamma + 1` times smaller for
    well-classified examples; unlike it, it is never negative.

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None: both 1. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_reweighted_hess(x, t, gamma=2.0).round(6)
        array([0.001073, 0.02883 , 0.049661])
    """
    return _binary_reweighted_hess(lambda z: _focal_term(z, gamma=gamma), x, t, alpha, weight)


@_shared_docs
def sigmoid_softened_loss_reweighted_hess(x, t, *, k=1.0, alpha=None, weight=None):
    r"""Always-positive curvature of :func:`sigmoid_softened_loss`: logistic curvature times its weight.

    As in :func:`sigmoid_focal_loss_reweighted_hess`, with :math:`A(z) = -\sigma(-kz)\log\sigma(z)`:

    .. math::

        h = t\,\alpha\,(-A'(x))\,\sigma(x) + (1 - t)(1 - \alpha)\,(-A'(-x))\,\sigma(-x), \qquad
        -A'(z) = \sigma(-kz)\left(1 - \sigma(z) - k\,\sigma(kz) \log\sigma(z)\right)

    Args:
@BINARY_INPUTS
        k: slope >= 0 of the softened step, default 1.
        alpha: positives' weight in [0, 1], or None (default): both 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_softened_loss_reweighted_hess(x, t, k=2.0).round(6)
        array([0.005838, 0.071526, 0.316411])
    """
    return _binary_reweighted_hess(lambda z: _softened_term(z, k=k), x, t, alpha, weight)


def _softmax_focal_curvatures(x, target, alpha, gamma, weight, ignore_index, label_smoothing):
    """(exact diagonal, reweighted diagonal) of the unreduced softmax focal loss; class axis 1.

    Class c's term is the binary focal term of d_c = x_c - log sum_{j != c} exp(x_j), since
    p_c = sigmoid(d_c); d_c has gradient e_c - pi_c and diagonal second derivative -pi_c (1 - pi_c),
    where pi_c is the softmax of the other classes (pi_c = 0 at c itself).
    """
    x = np.asarray(x, dtype=np.float64)
    num_classes = x.shape[1]
    z = np.moveaxis(x, 1, -1)
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.integer):
        counted = target != ignore_index
        q = (np.arange(num_classes) == np.where(counted, target, 0)[..., None]).astype(np.float64)
    else:
        counted = np.ones(z.shape[:-1], dtype=bool)
        q = np.moveaxis(target.astype(np.float64), 1, -1)
    q = (1.0 - label_smoothing) * q + label_smoothing / num_classes
    w_row = np.ones(z.shape[:-1]) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), z.shape[:-1])
    counted = counted & (w_row != 0)
    z = np.where(counted[..., None], z, 0.0)
    w = (1.0 if alpha is None else np.asarray(alpha, dtype=np.float64)) * np.where(counted[..., None], q, 0.0)

    is_c = np.eye(num_classes, dtype=bool)  # [c, j]
    others = np.where(is_c, -np.inf, z[..., None, :])  # row c holds the classes j != c
    log_rest = _logsumexp(others)
    pi = np.exp(others - log_rest)
    # 1 - pi_j from the classes other than c and j: for the largest pi of a row (which may round to
    # 1) a log-sum-exp without it; every other pi is <= 1/2, where 1 - pi is exact enough
    top_other = np.arange(num_classes) == np.argmax(others, axis=-1)[..., None]
    one_minus_pi = np.where(top_other, np.exp(_logsumexp(np.where(top_other, -np.inf, others)) - log_rest), 1.0 - pi)
    d = z - log_rest[..., 0]
    _, first, second = _focal_term(d, gamma=gamma)
    log_p, log_1mp, _, _ = _log_probs(z)
    p, one_minus_p = np.exp(log_p), np.exp(log_1mp)

    w, first, second = w[..., None], first[..., None], second[..., None]
    exact = np.sum(w * (second * (is_c - pi) ** 2 - first * pi * one_minus_pi), axis=-2)
    reweighted = np.sum(w * -first * np.where(is_c, p[..., None], pi * one_minus_p[..., None, :]), axis=-2)
    scale = np.where(counted, w_row, 0.0)[..., None]
    return np.moveaxis(scale * exact, -1, 1), np.moveaxis(scale * reweighted, -1, 1)


@_shared_docs
def softmax_focal_loss_hess_diag(x, target, *, alpha=None, gamma=2.0, weight=None, ignore_index=-100,
                                 label_smoothing=0.0):
    r"""Diagonal of the Hessian of the unreduced :func:`softmax_focal_loss` with respect to ``x``.

    Class :math:`c`'s term is the binary focal term :math:`A(z) = -(1 - \sigma(z))^\gamma\log\sigma(z)`
    of :math:`d_c = x_c - \log\sum_{i \ne c} e^{x_i}` (because :math:`p_c = \sigma(d_c)`), so with
    :math:`\pi^{(c)}_j = e^{x_j} / \sum_{i \ne c} e^{x_i}` for :math:`j \ne c` and
    :math:`\pi^{(c)}_c = 0`:

    .. math::

        \frac{\partial^2 \ell}{\partial x_j^2} = \sum_c \alpha_c q_c \left[
            A''(d_c)\,(\delta_{jc} - \pi^{(c)}_j)^2 - A'(d_c)\,\pi^{(c)}_j (1 - \pi^{(c)}_j) \right]

    It is negative for badly misclassified positions, like the binary hessian. Needs C >= 2.

    Args:
@SOFTMAX_INPUTS
@SOFTMAX_HESS_ARGS

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_focal_loss_hess_diag(x, np.array([0, 1]), gamma=2.0).round(6)
        array([[ 0.062361,  0.045753,  0.006145],
               [ 0.05578 , -0.006835,  0.049658]])
    """
    return _softmax_focal_curvatures(x, target, alpha, gamma, weight, ignore_index, label_smoothing)[0]


@_shared_docs
def softmax_focal_loss_reweighted_hess_diag(x, target, *, alpha=None, gamma=2.0, weight=None,
                                            ignore_index=-100, label_smoothing=0.0):
    r"""Always-positive diagonal curvature of :func:`softmax_focal_loss`: cross-entropy's, times the focal weight.

    The gradient is cross-entropy's scaled by a positive focal weight per class term,
    :math:`\partial\ell/\partial x_j = \sum_c \alpha_c q_c\, m_c\,(p_j - \delta_{jc})` with
    :math:`m_c = (1 - p_c)^\gamma - \gamma\,p_c (1 - p_c)^{\gamma - 1}\log p_c`; holding the
    :math:`m_c` fixed gives cross-entropy's diagonal :math:`p_j(1 - p_j)` times them:

    .. math::

        h_j = \sum_c \alpha_c q_c\, m_c\, p_j (1 - p_j)

    It equals :func:`softmax_focal_loss_hess_diag` at gamma=0 and is never negative.

    Args:
@SOFTMAX_INPUTS
@SOFTMAX_HESS_ARGS

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_focal_loss_reweighted_hess_diag(x, np.array([0, 1]), gamma=2.0).round(6)
        array([[0.021435, 0.018397, 0.004783],
               [0.055966, 0.061515, 0.111064]])
    """
    return _softmax_focal_curvatures(x, target, alpha, gamma, weight, ignore_index, label_smoothing)[1]
