r"""Multi-class (softmax) losses of the reference: values, gradients and hessian diagonals.

Each loss is :math:`\ell = \sum_c \alpha_c q_c \varphi_c(x)`; see :mod:`focalloss.reference`.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing import Literal

import numpy as np

from ._common import _denominator, _logsumexp, _pow_from_log, _reduce, _reduce_grad, _shared_docs
from .._typing import Array, ArrayLike, Loss, Reduction
from .binary import _focal_term, _neg_log_p_minus_q, _schedule_piece

__all__ = [
    "softmax_adaptive_focal_loss",
    "softmax_adaptive_focal_loss_grad",
    "softmax_focal_loss",
    "softmax_focal_loss_floored_hess_diag",
    "softmax_focal_loss_grad",
    "softmax_focal_loss_hess_diag",
    "softmax_focal_loss_reweighted_hess_diag",
    "softmax_hard_truncation_loss",
    "softmax_hard_truncation_loss_grad",
    "softmax_poly1_focal_loss",
    "softmax_poly1_focal_loss_grad",
    "softmax_softened_loss",
    "softmax_softened_loss_grad",
]

# --------------------------------------------------------------------------------------------------
# Multi-class losses. Rows are laid out classes-last inside this section.
# --------------------------------------------------------------------------------------------------
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
    if kind in ("focal", "adaptive_focal"):
        if kind == "focal":
            gamma, mod = params["gamma"], _pow_from_log(log_1mp, params["gamma"])
        else:  # gamma of the piece that holds p_c, compared on log p_c against log(threshold)
            piece = _schedule_piece(log_p, [np.log(t) for t in params["thresholds"]])
            gamma = np.choose(piece, params["gammas"])
            mod = np.choose(piece, [_pow_from_log(log_1mp, g) for g in params["gammas"]])
        phi = mod * (-log_p)
        p_ratio = np.where(p > 0, p * ratio, 0.0)  # p log p / (1 - p) -> 0 at p = 0
        dphi = mod * (gamma * p_ratio - 1.0)  # d phi_c / d log p_c
        loss = np.sum(np.where(needed, w * phi, 0.0), axis=-1)
        return loss, _minus_share(w * dphi, p, is_top, one_minus_p_top)
    if kind == "poly1_focal":
        # phi_c = (1-p)^gamma (-log p + epsilon (1-p)) as (1-p)^gamma (g + (1 + epsilon)(1-p)) with
        # g = -log p - (1-p) >= 0 from its small side (the series of the binary loss in the logit
        # log p - log(1-p)): the sum would cancel at epsilon = -1 where p is near 1
        gamma, epsilon = params["gamma"], params["epsilon"]
        mod, q = _pow_from_log(log_1mp, gamma), np.exp(log_1mp)
        g = _neg_log_p_minus_q(log_p - log_1mp)
        phi = mod * (g + (1.0 + epsilon) * q)
        p_g_over_q = np.where((p > 0) & (q > 0), p * g / q, 0.0)
        dphi = -mod * (gamma * p_g_over_q + q + (1.0 + epsilon) * (gamma + 1.0) * p)  # d phi_c / d log p_c
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
    ws_nll = np.where(needed & (s > 0), w * s * (-log_p), 0.0)
    loss = np.sum(ws_nll, axis=-1)
    # d loss / d x_j = -k s_j (w_j L_j - A) - (w_j s_j - p_j B), L = -log p, A the loss, B = sum_c w_c s_c.
    # with masked classes s is a constant (the limit): no k-term, also where a masked class has target
    # mass and the loss is inf
    k_term = np.where((s > 0) & ~masked.any(axis=-1, keepdims=True),
                      s * _softened_spread(z, w, s, log_p, loss[..., None], masked), 0.0)
    grad = -k * k_term - _minus_share(w * s, p, is_top, one_minus_p_top)
    return loss, grad


def _softened_spread(z, w, s, log_p, loss, masked):
    """w_j L_j - A per class (L = -log p, A the loss) for the softened gradient.

    As written it is a difference of terms as large as L: thousands where the target logit stands
    far above close others, so that it cancels. With b the class of the smallest finite logit (the
    one s favours) and sum_c s_c = 1 it equals L_b ((w_j - w_b) - B') + w_j (z_b - z_j) - D, with
    B' = sum_c s_c (w_c - w_b) and D = sum_c w_c s_c (z_b - z_c), which has no large terms there,
    but has them where L_b is large and the classes with target mass have a small L (a confident,
    right prediction): each row takes the form whose terms are smaller, the arranged one where
    L_b E + |D| <= A, E = sum_c s_c |w_c - w_b|; else the direct form.
    """
    needed = w != 0
    direct = np.where(needed, w * -log_p, 0.0) - loss
    b = np.argmin(np.where(masked, np.inf, z), axis=-1)[..., None]
    z_b = np.take_along_axis(z, b, axis=-1)
    w_b = np.take_along_axis(w, b, axis=-1)
    l_b = -np.take_along_axis(log_p, b, axis=-1)
    b_rest = np.sum(s * (w - w_b), axis=-1, keepdims=True)
    spread = np.sum(s * np.abs(w - w_b), axis=-1, keepdims=True)
    d = np.sum(np.where(s > 0, w * s * (z_b - z), 0.0), axis=-1, keepdims=True)
    arranged = l_b * ((w - w_b) - b_rest) + w * (z_b - z) - d
    use_arranged = ~masked.any(axis=-1, keepdims=True) & (l_b * spread - d <= loss)
    return np.where(use_arranged, arranged, direct)


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
def softmax_focal_loss(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, gamma: float = 2.0,
    reduction: Reduction = "none", weight: ArrayLike | None = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
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
def softmax_focal_loss_grad(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, gamma: float = 2.0,
    reduction: Reduction = "none", weight: ArrayLike | None = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
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
def softmax_poly1_focal_loss(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, gamma: float = 2.0,
    epsilon: float = 1.0, reduction: Reduction = "none", weight: ArrayLike | None = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
    r"""Multi-class poly-1 focal loss (Leng et al. 2022): :math:`\sum_c \alpha_c q_c \varphi_c` with

    .. math::

        \varphi_c = (1-p_c)^\gamma (-\log p_c) + \epsilon (1-p_c)^{\gamma+1}

    Args:
@SOFTMAX_INPUTS
        alpha: None (default), a float multiplying every class, or one weight per class.
        gamma: focusing parameter >= 0, default 2.
        epsilon: weight of the first polynomial term, >= -1, default 1.
@SOFTMAX_OPTIONS

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: ``(N, d1, ...)`` for
          ``"none"``, else a scalar.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_poly1_focal_loss(x, np.array([0, 1]), gamma=2.0).round(6)
        array([0.020949, 3.446367])
    """
    return _softmax("poly1_focal", x, target, {"gamma": gamma, "epsilon": epsilon}, alpha, weight, ignore_index,
                    label_smoothing, reduction, normalizer, grad_output=None)[0]


@_shared_docs
def softmax_poly1_focal_loss_grad(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, gamma: float = 2.0,
    epsilon: float = 1.0, reduction: Reduction = "none", weight: ArrayLike | None = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
    """Gradient of :func:`softmax_poly1_focal_loss` with respect to ``x``, times ``grad_output``.

    Args:
@SOFTMAX_INPUTS
        alpha: None (default), a float multiplying every class, or one weight per class.
        gamma: focusing parameter >= 0, default 2.
        epsilon: weight of the first polynomial term, >= -1, default 1.
@SOFTMAX_OPTIONS
@GRAD_OUTPUT

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; the gradient is shaped like ``x``.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_poly1_focal_loss_grad(x, np.array([0, 1]), gamma=2.0).round(6)
        array([[-0.050513,  0.041298,  0.009215],
               [ 0.066076, -1.266956,  1.20088 ]])
    """
    return _softmax("poly1_focal", x, target, {"gamma": gamma, "epsilon": epsilon}, alpha, weight, ignore_index,
                    label_smoothing, reduction, normalizer, grad_output)[1]


@_shared_docs
def softmax_adaptive_focal_loss(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, thresholds: Sequence[float] = (0.2,),
    gammas: Sequence[float] = (5.0, 3.0), reduction: Reduction = "none", weight: ArrayLike | None = None,
    ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
    r"""Multi-class adaptive-gamma focal loss (FLSD-53, Mukhoti et al. 2020): :math:`\sum_c \alpha_c q_c \varphi_c` with

    .. math::

        \varphi_c = (1-p_c)^{\gamma(p_c)} (-\log p_c), \qquad \gamma(p) = \gamma_i \text{ for }
        \tau_{i-1} \le p < \tau_i

    compared on :math:`\log p_c` against :math:`\log \tau_i`. The gradient holds gamma fixed.

    Args:
@SOFTMAX_INPUTS
        alpha: None (default), a float multiplying every class, or one weight per class.
        thresholds: the cuts tau_i of the schedule over p_c, increasing in (0, 1); default (0.2,).
        gammas: one gamma >= 0 per piece, not increasing; default (5, 3).
@SOFTMAX_OPTIONS

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; output: ``(N, d1, ...)`` for
          ``"none"``, else a scalar.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_adaptive_focal_loss(x, np.array([0, 1])).round(6)
        array([0.002378, 2.198604])
    """
    return _softmax("adaptive_focal", x, target, {"thresholds": thresholds, "gammas": gammas}, alpha, weight,
                    ignore_index, label_smoothing, reduction, normalizer, grad_output=None)[0]


@_shared_docs
def softmax_adaptive_focal_loss_grad(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, thresholds: Sequence[float] = (0.2,),
    gammas: Sequence[float] = (5.0, 3.0), reduction: Reduction = "none", weight: ArrayLike | None = None,
    ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
    """Gradient of :func:`softmax_adaptive_focal_loss` with respect to ``x`` (gamma held fixed), times ``grad_output``.

    Args:
@SOFTMAX_INPUTS
        alpha: None (default), a float multiplying every class, or one weight per class.
        thresholds: the cuts of the schedule over p_c, increasing in (0, 1); default (0.2,).
        gammas: one gamma >= 0 per piece, not increasing; default (5, 3).
@SOFTMAX_OPTIONS
@GRAD_OUTPUT

    Shape:
        - x: ``(N, C, d1, ...)``; target: ``(N, d1, ...)`` or like ``x``; the gradient is shaped like ``x``.

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_adaptive_focal_loss_grad(x, np.array([0, 1])).round(6)
        array([[-0.007718,  0.00631 ,  0.001408],
               [ 0.068506, -1.313549,  1.245043]])
    """
    return _softmax("adaptive_focal", x, target, {"thresholds": thresholds, "gammas": gammas}, alpha, weight,
                    ignore_index, label_smoothing, reduction, normalizer, grad_output)[1]


@_shared_docs
def softmax_softened_loss(
    x: ArrayLike, target: ArrayLike, *, k: float = 1.0, alpha: float | ArrayLike | None = None,
    reduction: Reduction = "none", weight: ArrayLike | None = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
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
def softmax_softened_loss_grad(
    x: ArrayLike, target: ArrayLike, *, k: float = 1.0, alpha: float | ArrayLike | None = None,
    reduction: Reduction = "none", weight: ArrayLike | None = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
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
def softmax_hard_truncation_loss(
    x: ArrayLike, target: ArrayLike, *, threshold: float = 0.5, alpha: float | ArrayLike | None = None,
    reduction: Reduction = "none", weight: ArrayLike | None = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
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
def softmax_hard_truncation_loss_grad(
    x: ArrayLike, target: ArrayLike, *, threshold: float = 0.5, alpha: float | ArrayLike | None = None,
    reduction: Reduction = "none", weight: ArrayLike | None = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
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


def _softmax_focal_curvatures(x, target, alpha, gamma, weight, ignore_index, label_smoothing):
    """(exact diagonal, reweighted diagonal, the row's target weight) of the unreduced softmax focal
    loss; class axis 1.

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
    target_weight = scale * np.sum(w[..., 0], axis=-1, keepdims=True)  # w_row sum_c alpha_c q_c
    return tuple(np.moveaxis(v, -1, 1) for v in (scale * exact, scale * reweighted, target_weight))


@_shared_docs
def softmax_focal_loss_hess_diag(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, gamma: float = 2.0,
    weight: ArrayLike | None = None, ignore_index: int = -100, label_smoothing: float = 0.0,
) -> Array:
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
def softmax_focal_loss_reweighted_hess_diag(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, gamma: float = 2.0,
    weight: ArrayLike | None = None, ignore_index: int = -100, label_smoothing: float = 0.0, floor: float = 0.0,
) -> Array:
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
@FLOOR_ARG
@SOFTMAX_HESS_ARGS

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_focal_loss_reweighted_hess_diag(x, np.array([0, 1]), gamma=2.0).round(6)
        array([[0.021435, 0.018397, 0.004783],
               [0.055966, 0.061515, 0.111064]])
    """
    _, reweighted, target_weight = _softmax_focal_curvatures(x, target, alpha, gamma, weight, ignore_index,
                                                             label_smoothing)
    return np.maximum(reweighted, floor * target_weight)


@_shared_docs
def softmax_focal_loss_floored_hess_diag(
    x: ArrayLike, target: ArrayLike, *, alpha: float | ArrayLike | None = None, gamma: float = 2.0,
    weight: ArrayLike | None = None, ignore_index: int = -100, label_smoothing: float = 0.0, floor: float = 0.0,
) -> Array:
    r"""Positive diagonal curvature of :func:`softmax_focal_loss`: the exact one where it is sound.

    Per entry the larger of :func:`softmax_focal_loss_hess_diag` and
    :func:`softmax_focal_loss_reweighted_hess_diag`; the default ``hessian="floored"`` of
    :class:`focalloss.boosting.SoftmaxFocalObjective`.

    Args:
@SOFTMAX_INPUTS
@FLOOR_ARG
@SOFTMAX_HESS_ARGS

    Example:
@SOFTMAX_EXAMPLE_INPUTS
        >>> reference.softmax_focal_loss_floored_hess_diag(x, np.array([0, 1]), gamma=2.0).round(6)
        array([[0.062361, 0.045753, 0.006145],
               [0.055966, 0.061515, 0.111064]])
    """
    exact, reweighted, target_weight = _softmax_focal_curvatures(x, target, alpha, gamma, weight, ignore_index,
                                                                 label_smoothing)
    return np.maximum(np.maximum(exact, reweighted), floor * target_weight)
