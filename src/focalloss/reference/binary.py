r"""Binary losses of the reference: values, gradients, hessians and the curvature choices of boosting.

Every binary loss but the sided ones has the form :math:`\ell = t\,\alpha\,A(x) + (1 - t)(1 - \alpha)\,A(-x)`;
a sided loss (asymmetric loss) has a term of its own per label side,
:math:`\ell = t\,\alpha\,A_+(x) + (1 - t)(1 - \alpha)\,A_-(-x)`, and a joint one (quality focal loss, varifocal
loss) is a function of x and t together; see :mod:`focalloss.reference`.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing import Literal

import numpy as np

from .._docs import shared_sections
from .._typing import Array, ArrayLike, Loss, Reduction
from ._common import (
    _denominator,
    _log_sigmoid,
    _pow_from_log,
    _reduce,
    _reduce_grad,
    _shared_docs,
    _sigmoid,
)

__all__ = [
    "sigmoid_asymmetric_loss",
    "sigmoid_asymmetric_loss_floored_hess",
    "sigmoid_asymmetric_loss_grad",
    "sigmoid_asymmetric_loss_hess",
    "sigmoid_asymmetric_loss_reweighted_hess",
    "sigmoid_quality_focal_loss",
    "sigmoid_quality_focal_loss_grad",
    "sigmoid_quality_focal_loss_hess",
    "sigmoid_varifocal_loss",
    "sigmoid_varifocal_loss_grad",
    "sigmoid_varifocal_loss_hess",
    "sigmoid_adaptive_focal_loss",
    "sigmoid_adaptive_focal_loss_grad",
    "sigmoid_adaptive_focal_loss_hess",
    "sigmoid_poly1_focal_loss",
    "sigmoid_poly1_focal_loss_floored_hess",
    "sigmoid_poly1_focal_loss_grad",
    "sigmoid_poly1_focal_loss_hess",
    "sigmoid_poly1_focal_loss_reweighted_hess",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_floored_hess",
    "sigmoid_focal_loss_grad",
    "sigmoid_focal_loss_hess",
    "sigmoid_focal_loss_reweighted_hess",
    "sigmoid_focal_loss_star",
    "sigmoid_focal_loss_star_grad",
    "sigmoid_focal_loss_star_hess",
    "sigmoid_hard_truncation_loss",
    "sigmoid_hard_truncation_loss_grad",
    "sigmoid_hard_truncation_loss_hess",
    "sigmoid_softened_loss",
    "sigmoid_softened_loss_floored_hess",
    "sigmoid_softened_loss_grad",
    "sigmoid_softened_loss_hess",
    "sigmoid_softened_loss_reweighted_hess",
]

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


def _neg_log_p_minus_q(z):
    """g(z) = -log sigmoid(z) - sigmoid(-z) >= 0, from its small side: for confident z (e^-z < 0.1)
    the series sum_{k>=2} (-1)^k (k-1)/k e^{-kz}, where the difference would cancel; else directly."""
    u = np.exp(-np.abs(z))
    series = sum((-1.0) ** k * (k - 1.0) / k * u**k for k in range(2, 19))
    return np.where((z >= 0) & (u < 0.1), series, -_log_sigmoid(z) - _sigmoid(-z))


def _poly1_focal_side(z, a, *, gamma, epsilon):
    """A(z) = a (1-p)^gamma (-log p) + epsilon (1-p)^(gamma+1) of one label side (a: its alpha
    weight) with A' and A'' (Leng et al. 2022), written as (1-p)^gamma H, H = a g + (a + epsilon) q
    with g = -log p - q >= 0: a difference of nearly equal terms at epsilon = -a would cancel."""
    p, q, log_q = _sigmoid(z), _sigmoid(-z), _log_sigmoid(-z)
    m = _pow_from_log(log_q, gamma)
    h = a * _neg_log_p_minus_q(z) + (a + epsilon) * q
    dh = -a * q * q - (a + epsilon) * p * q
    d2h = 2.0 * a * p * q * q - (a + epsilon) * p * q * (q - p)
    value = m * h
    first = m * (dh - gamma * p * h)
    second = m * (d2h - 2.0 * gamma * p * dh + gamma * p * (gamma * p - q) * h)
    return value, first, second


def _schedule_piece(value, cuts):
    """Which piece of a schedule holds ``value``: the number of cuts <= value (cuts increasing)."""
    return sum((value >= cut).astype(np.int64) for cut in cuts) + np.zeros(np.shape(value), np.int64)


def _adaptive_focal_term(z, *, thresholds, gammas):
    """A(z) = -(1-p)^gamma(p) log p (Mukhoti et al. 2020), gamma = gammas[i] where
    thresholds[i-1] <= p < thresholds[i], compared on z against logit(threshold). The derivatives
    hold gamma fixed: the schedule is constant between the thresholds, where A jumps."""
    piece = _schedule_piece(z, [np.log(t) - np.log1p(-t) for t in thresholds])
    terms = [_focal_term(z, gamma=g) for g in gammas]
    return tuple(np.choose(piece, [term[i] for term in terms]) for i in range(3))


def _alpha_inside(side):
    """Mark a term that takes its side's alpha weight itself: ``side(z, a)``."""
    side.takes_alpha = True
    return side


def _clip_logit(clip):
    """logit(m), the logit at which p = m: -inf for m = 0 (every negative then counts)."""
    return -np.inf if clip == 0 else np.log(clip) - np.log1p(-clip)


def _asymmetric_negative(x, *, gamma, clip):
    """N(x) = p_m^gamma (-log(1 - p_m)), p_m = max(p - m, 0), with dN/dx and d2N/dx2 (Ridnik et al. 2021).

    log(p - m) = log p + log(1 - m) + log(1 - e^{x_m - x}), x_m = logit(m), from sigma(a) - sigma(b) =
    sigma(a) sigma(-b) (1 - e^{b - a}): no difference of nearly equal probabilities. 1 - p_m = q + m, a
    sum; -log(1 - p_m) is -log1p(-p_m) while p_m < 1/2. At p <= m (x <= x_m, p = m included) the term
    is clipped: 0, and so are its derivatives. With d = p - m, u = -log(1 - d), s = q / (q + m):

        N' = p d^gamma (gamma q u / d + s)
        N'' = p [q h (gamma p d^(gamma-1) + d^gamma) + d^gamma p (gamma q^2 c - gamma q u / d - s (1 - s))]

    h = gamma q u / d + s, c = (1 / (1 - d) - u / d) / d; below d = 0.1, u / d = sum_k d^k / (k + 1) and
    c = sum_k (k + 1) / (k + 2) d^k (17 terms, error < 1e-17), where the direct forms would cancel.
    """
    cut = _clip_logit(clip)
    active = x > cut
    xa = np.where(active, x, cut + 1.0 if clip > 0 else 0.0)  # read only where active
    p, q, log_p = _sigmoid(xa), _sigmoid(-xa), _log_sigmoid(xa)
    log_d = log_p + np.log1p(-clip) + np.log(-np.expm1(cut - xa))
    d = np.exp(log_d)
    small, half = d < 0.1, d < 0.5
    log_qm = np.log(q + clip) if clip > 0 else _log_sigmoid(-xa)  # log(1 - d)
    u = np.where(half, -np.log1p(-np.where(half, d, 0.0)), -log_qm)
    s = q / (q + clip) if clip > 0 else np.ones_like(q)
    ds = np.where(small, 1.0, d)  # the direct forms are read only where d >= 0.1
    q_r = np.where(small, q * sum(d**k / (k + 1.0) for k in range(17)), q * u / ds)
    qq_c = np.where(small, q * q * sum((k + 1.0) / (k + 2.0) * d**k for k in range(17)), (q * s - q * q_r) / ds)
    d_gamma = _pow_from_log(log_d, gamma)
    gamma_p_d_gamma1 = gamma * np.exp(log_p + (gamma - 1.0) * log_d) if gamma > 0 else np.zeros_like(d)
    h = gamma * q_r + s
    value = d_gamma * u
    first = p * d_gamma * h
    second = p * (q * h * (gamma_p_d_gamma1 + d_gamma) + d_gamma * p * (gamma * (qq_c - q_r) - s * (1.0 - s)))
    return tuple(np.where(active, v, 0.0) for v in (value, first, second))


def _asymmetric_sides(*, gamma_pos, gamma_neg, clip):
    """ASL's label sides ``(A+, A-)`` (the "sided" composition), each a function of its side's logit z: x
    for a positive, -x for a negative."""
    def negative(z):
        value, first, second = _asymmetric_negative(-z, gamma=gamma_neg, clip=clip)
        return value, -first, second

    return (lambda z: _focal_term(z, gamma=gamma_pos)), negative


# |x| below which QFL's t - p is formed from tanh(x / 2) rather than from the products t q and (1 - t) p
_TANH_FORM_BELOW = float(np.arcsinh(1.0))


def _quality_focal_joint(x, t, a_pos, a_neg, *, beta):
    """QFL = |t - p|^beta B, B = -t a+ log p - (1 - t) a- log(1 - p) (Li et al. 2020), with d/dx and d2/dx2.

    t - p is formed as t q - (1 - t) p, a difference of two accurate products (t = 1: q, t = 0: -p, exact),
    whose rounding error, about eps (t q + (1 - t) p), is the smaller one where p or q is small; for |x| below
    asinh(1) it is formed as (t - 1/2) - tanh(x / 2) / 2 instead (t - 1/2 exact for t >= 1/4), whose error,
    about eps |tanh(x / 2)| / 2, is the smaller one there (the two meet where |tanh(x / 2)| = 2 p q, at
    |x| = asinh(1)). Where t is near p the difference is small and both products are near 1/4: at x = 1e-8,
    t = 1/2 the product form is 4.5e-9 off in relative terms, and the gradient with it (beta = 0.1, mpmath).
    log|t - p| is taken as log q, log p at t = 1, 0 (no underflow). M g and M g^2 are formed from their
    logarithms, as neither overflows where t - p is tiny but g is finite. With M = |t - p|^beta, g = p q / (t - p):
    M' = -beta M g, M'' = beta M ((beta - 1) g^2 - (q - p) g), B' = -t a+ q + (1 - t) a- p,
    B'' = p q (t a+ + (1 - t) a-). Where t = p exactly the terms with g are 0: M = 0 there, and 0 is a
    subgradient of the cusp that |t - p|^beta has for beta < 1.
    """
    log_p, log_q = _log_sigmoid(x), _log_sigmoid(-x)
    p, q = np.exp(log_p), np.exp(log_q)
    diff = np.where(np.abs(x) < _TANH_FORM_BELOW, (t - 0.5) - 0.5 * np.tanh(0.5 * x), t * q - (1.0 - t) * p)
    zero = diff == 0
    b = -t * a_pos * log_p - (1.0 - t) * a_neg * log_q
    db = -t * a_pos * q + (1.0 - t) * a_neg * p
    d2b = p * q * (t * a_pos + (1.0 - t) * a_neg)
    if beta == 0:  # M = 1: cross-entropy to t
        return b, db, d2b
    log_abs = np.where(t == 1, log_q, np.where(t == 0, log_p, np.log(np.abs(np.where(zero, 1.0, diff)))))
    log_abs = np.where(zero, -np.inf, log_abs)
    m = np.exp(beta * log_abs)
    # M g = sign(t - p) p q |t - p|^(beta - 1) and M g^2 = (p q)^2 |t - p|^(beta - 2), each from its
    # logarithm: g alone overflows where t - p is subnormal (x = 5e-324, t = 1/2), M g does not
    safe_log_abs, log_pq = np.where(zero, 0.0, log_abs), log_p + log_q
    m_g = np.where(zero, 0.0, np.sign(diff) * np.exp(log_pq + (beta - 1.0) * safe_log_abs))
    with np.errstate(over="ignore"):  # for beta < 2 the curvature itself overflows there: -inf
        m_g2 = np.where(zero, 0.0, np.exp(2.0 * log_pq + (beta - 2.0) * safe_log_abs))
    value = m * b
    first = m * db - beta * m_g * b
    curvature_of_m = beta * ((beta - 1.0) * m_g2 if beta != 1 else 0.0) - beta * (q - p) * m_g
    second = m * d2b - 2.0 * beta * m_g * db + curvature_of_m * b
    return value, first, second


def _quality_focal(beta):
    return _joint(lambda x, t, a_pos, a_neg: _quality_focal_joint(x, t, a_pos, a_neg, beta=beta))


def _varifocal_joint(x, t, a_pos, a_neg, *, gamma):
    """VFL (Zhang et al. 2021) with d/dx and d2/dx2: a+ t B where t > 0, B = -t log p - (1 - t) log(1 - p) the
    cross-entropy to t, with B' = p - t = (1 - t) p - t q (from the accurate p and q, no 1 - p) and B'' = p q;
    a- p^gamma (-log(1 - p)) where t = 0, focal loss's negative side A(-x) with its derivatives."""
    log_p, log_q = _log_sigmoid(x), _log_sigmoid(-x)
    p, q = np.exp(log_p), np.exp(log_q)
    negative_value, negative_first, negative_second = _focal_term(-x, gamma=gamma)
    positive = t > 0
    value = np.where(positive, a_pos * t * (-t * log_p - (1.0 - t) * log_q), a_neg * negative_value)
    first = np.where(positive, a_pos * t * ((1.0 - t) * p - t * q), -a_neg * negative_first)
    second = np.where(positive, a_pos * t * p * q, a_neg * negative_second)
    return value, first, second


def _varifocal(gamma):
    return _joint(lambda x, t, a_pos, a_neg: _varifocal_joint(x, t, a_pos, a_neg, gamma=gamma),
                  split_alpha=lambda alpha: (1.0, alpha))


def _alpha_both_sides(alpha):
    return alpha, 1.0 - alpha


def _joint(term, *, split_alpha=_alpha_both_sides):
    """Mark a term of the joint composition: ``term(x, t, a_pos, a_neg)`` gives the element's loss with its
    two derivatives in x, alpha weights applied; ``split_alpha(alpha)`` gives its (a_pos, a_neg), (alpha,
    1 - alpha) unless the loss says otherwise (varifocal loss: (1, alpha))."""
    term.takes_target = True
    term.split_alpha = split_alpha
    return term


def _focal_star_term(z, *, gamma, beta):
    """A(z) = -log sigmoid(gamma z + beta) / gamma (FL*, appendix of Lin et al.)."""
    u = gamma * z + beta
    value = -_log_sigmoid(u) / gamma
    first = -_sigmoid(-u)
    second = gamma * _sigmoid(u) * _sigmoid(-u)
    return value, first, second


def _binary_parts(term, x, t, alpha, weight):
    """Weighted per-element (value, d/dx, d2/dx2), the counted mask and the positives' mass.

    ``term(z)`` gives A(z) with its two derivatives, then weighted by alpha_t; a term marked by
    :func:`_alpha_inside` is called as ``term(z, alpha_t)`` and weighs alpha itself; a pair of terms
    ``(A+, A-)`` (a sided loss) gives the positives' A+(x) and the negatives' A-(-x); a term marked by
    :func:`_joint` is the whole element's loss, ``term(x, t, *term.split_alpha(alpha))``.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    w = np.ones_like(x) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), x.shape)
    counted = w != 0
    x = np.where(counted, x, 0.0)  # ignored elements may hold inf or NaN: they must change nothing
    t = np.where(counted, t, 0.0)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else getattr(term, "split_alpha", _alpha_both_sides)(alpha)
    if getattr(term, "takes_target", False):  # joint: not a sum of label sides
        value, first, second = term(x, t, a_pos, a_neg)
        return w * value, w * first, w * second, counted, t.sum()
    if getattr(term, "takes_alpha", False):  # the side weighs alpha itself (not linearly apart)
        pos, neg = term(x, a_pos), term(-x, a_neg)
        w_pos, w_neg = w * t, w * (1.0 - t)
    else:
        positive, negative = term if isinstance(term, tuple) else (term, term)
        pos, neg = positive(x), negative(-x)
        w_pos, w_neg = w * t * a_pos, w * (1.0 - t) * a_neg
    value = w_pos * pos[0] + w_neg * neg[0]
    first = w_pos * pos[1] - w_neg * neg[1]  # d/dx of A(-x) is -A'(-x)
    second = w_pos * pos[2] + w_neg * neg[2]
    return value, first, second, counted, t.sum()


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
# Public binary API. Each loss has three functions: the (reduced) loss, the gradient of that output
# with respect to the logits (times grad_output), and the per-element second derivative.
# --------------------------------------------------------------------------------------------------
@_shared_docs
def sigmoid_focal_loss(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
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
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
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
def sigmoid_focal_loss_hess(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, weight: ArrayLike | None = None,
) -> Array:
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
def sigmoid_softened_loss(
    x: ArrayLike, t: ArrayLike, *, k: float = 1.0, alpha: float | None = None, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
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
    x: ArrayLike, t: ArrayLike, *, k: float = 1.0, alpha: float | None = None, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
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
def sigmoid_softened_loss_hess(
    x: ArrayLike, t: ArrayLike, *, k: float = 1.0, alpha: float | None = None, weight: ArrayLike | None = None,
) -> Array:
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
    x: ArrayLike, t: ArrayLike, *, threshold: float = 0.5, alpha: float | None = None, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
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
    x: ArrayLike, t: ArrayLike, *, threshold: float = 0.5, alpha: float | None = None, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
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
def sigmoid_hard_truncation_loss_hess(
    x: ArrayLike, t: ArrayLike, *, threshold: float = 0.5, alpha: float | None = None, weight: ArrayLike | None = None,
) -> Array:
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
    x: ArrayLike, t: ArrayLike, *, gamma: float = 1.0, beta: float = 0.0, alpha: float | None = None,
    reduction: Reduction = "none", weight: ArrayLike | None = None,
    normalizer: float | Literal["positives"] | None = None,
) -> Loss:
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
    x: ArrayLike, t: ArrayLike, *, gamma: float = 1.0, beta: float = 0.0, alpha: float | None = None,
    reduction: Reduction = "none", weight: ArrayLike | None = None,
    normalizer: float | Literal["positives"] | None = None, grad_output: ArrayLike | None = None,
) -> Array:
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
def sigmoid_focal_loss_star_hess(
    x: ArrayLike, t: ArrayLike, *, gamma: float = 1.0, beta: float = 0.0, alpha: float | None = None,
    weight: ArrayLike | None = None, floor: float = 0.0,
) -> Array:
    """Per-element second derivative of the unreduced :func:`sigmoid_focal_loss_star`.

    FL* is convex, so this is positive, and it is what
    :class:`focalloss.boosting.BinaryFocalStarObjective` uses (with a ``floor``).

    Args:
@BINARY_INPUTS
        gamma: slope > 0, default 1.
        beta: shift, default 0.
        alpha: positives' weight in [0, 1], or None (default): both 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).
@FLOOR_ARG

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_star_hess(x, t, gamma=2.0, beta=1.0).round(6)
        array([0.013296, 0.090353, 0.5     ])
    """
    term = lambda z: _focal_star_term(z, gamma=gamma, beta=beta)  # noqa: E731
    if floor == 0:
        return _binary_hess(term, x, t, alpha, weight)
    return _binary_curvature(term, x, t, alpha, weight, "exact", floor)


@_shared_docs
def sigmoid_poly1_focal_loss(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, epsilon: float = 1.0,
    reduction: Reduction = "none", weight: ArrayLike | None = None,
    normalizer: float | Literal["positives"] | None = None,
) -> Loss:
    r"""Poly-1 focal loss (Leng et al. 2022): focal loss plus :math:`\epsilon (1 - p_t)^{\gamma + 1}`.

    .. math::

        A(x) = -\alpha (1-p)^\gamma \log p + \epsilon (1 - p)^{\gamma + 1}

    for a positive, mirrored for a negative; alpha weights the focal part only, as in the paper.

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None: both 1. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        epsilon: weight of the first polynomial term, >= -1, default 1.
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_poly1_focal_loss(x, t, gamma=2.0).round(6)
        array([0.002145, 0.036446, 0.335528])
    """
    return _binary_loss(_alpha_inside(lambda z, a: _poly1_focal_side(z, a, gamma=gamma, epsilon=epsilon)), x, t, alpha, weight, reduction,
                        normalizer)


@_shared_docs
def sigmoid_poly1_focal_loss_grad(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, epsilon: float = 1.0,
    reduction: Reduction = "none", weight: ArrayLike | None = None,
    normalizer: float | Literal["positives"] | None = None, grad_output: ArrayLike | None = None,
) -> Array:
    """Gradient of :func:`sigmoid_poly1_focal_loss` with respect to ``x``, times ``grad_output``.

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1], or None. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        epsilon: weight of the first polynomial term, >= -1, default 1.
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_poly1_focal_loss_grad(x, t, gamma=2.0).round(6)
        array([-0.005693,  0.082098, -0.404698])
    """
    return _binary_grad(_alpha_inside(lambda z, a: _poly1_focal_side(z, a, gamma=gamma, epsilon=epsilon)), x, t, alpha, weight, reduction,
                        normalizer, grad_output)


@_shared_docs
def sigmoid_poly1_focal_loss_hess(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, epsilon: float = 1.0,
    weight: ArrayLike | None = None,
) -> Array:
    """Per-element second derivative of the unreduced :func:`sigmoid_poly1_focal_loss`.

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1], or None. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        epsilon: weight of the first polynomial term, >= -1, default 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_poly1_focal_loss_hess(x, t, gamma=2.0).round(6)
        array([0.014462, 0.165067, 0.262622])
    """
    return _binary_hess(_alpha_inside(lambda z, a: _poly1_focal_side(z, a, gamma=gamma, epsilon=epsilon)), x, t, alpha, weight)


@_shared_docs
def sigmoid_adaptive_focal_loss(
    x: ArrayLike, t: ArrayLike, *, thresholds: Sequence[float] = (0.2,), gammas: Sequence[float] = (5.0, 3.0),
    alpha: float | None = None, reduction: Reduction = "none", weight: ArrayLike | None = None,
    normalizer: float | Literal["positives"] | None = None,
) -> Loss:
    r"""Adaptive-gamma focal loss (FLSD-53, Mukhoti et al. 2020): focal loss with gamma a step function of p_t.

    .. math::

        A(x) = -(1 - p)^{\gamma(p)} \log p, \qquad \gamma(p) = \gamma_i \text{ for }
        \tau_{i-1} \le p < \tau_i

    for a positive (:math:`p_t = \sigma(x)`), mirrored for a negative (:math:`p_t = \sigma(-x)`).
    The gradient and hessian hold gamma fixed; the loss jumps at the thresholds.

    Args:
@BINARY_INPUTS
        thresholds: the cuts tau_i of the schedule over p_t, increasing in (0, 1); default (0.2,).
        gammas: one gamma >= 0 per piece, not increasing; default (5, 3).
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None (default): both 1.
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_adaptive_focal_loss(x, t).round(6)
        array([2.15000e-04, 6.09400e-03, 2.34923e-01])
    """
    term = lambda z: _adaptive_focal_term(z, thresholds=thresholds, gammas=gammas)  # noqa: E731
    return _binary_loss(term, x, t, alpha, weight, reduction, normalizer)


@_shared_docs
def sigmoid_adaptive_focal_loss_grad(
    x: ArrayLike, t: ArrayLike, *, thresholds: Sequence[float] = (0.2,), gammas: Sequence[float] = (5.0, 3.0),
    alpha: float | None = None, reduction: Reduction = "none", weight: ArrayLike | None = None,
    normalizer: float | Literal["positives"] | None = None, grad_output: ArrayLike | None = None,
) -> Array:
    """Gradient of :func:`sigmoid_adaptive_focal_loss` with respect to ``x`` (gamma held fixed), times ``grad_output``.

    Args:
@BINARY_INPUTS
        thresholds: the cuts of the schedule over p_t, increasing in (0, 1); default (0.2,).
        gammas: one gamma >= 0 per piece, not increasing; default (5, 3).
        alpha: positives' weight in [0, 1], or None (default).
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_adaptive_focal_loss_grad(x, t).round(6)
        array([-0.00077 ,  0.018596, -0.416201])
    """
    term = lambda z: _adaptive_focal_term(z, thresholds=thresholds, gammas=gammas)  # noqa: E731
    return _binary_grad(term, x, t, alpha, weight, reduction, normalizer, grad_output)


@_shared_docs
def sigmoid_adaptive_focal_loss_hess(
    x: ArrayLike, t: ArrayLike, *, thresholds: Sequence[float] = (0.2,), gammas: Sequence[float] = (5.0, 3.0),
    alpha: float | None = None, weight: ArrayLike | None = None,
) -> Array:
    """Per-element second derivative of the unreduced :func:`sigmoid_adaptive_focal_loss`, gamma held fixed.

    Args:
@BINARY_INPUTS
        thresholds: the cuts of the schedule over p_t, increasing in (0, 1); default (0.2,).
        gammas: one gamma >= 0 per piece, not increasing; default (5, 3).
        alpha: positives' weight in [0, 1], or None (default).
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_adaptive_focal_loss_hess(x, t).round(6)
        array([0.002678, 0.052489, 0.532484])
    """
    return _binary_hess(lambda z: _adaptive_focal_term(z, thresholds=thresholds, gammas=gammas), x, t, alpha, weight)


@_shared_docs
def sigmoid_asymmetric_loss(
    x: ArrayLike, t: ArrayLike, *, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05,
    alpha: float | None = None, reduction: Reduction = "none", weight: ArrayLike | None = None,
    normalizer: float | Literal["positives"] | None = None,
) -> Loss:
    r"""Asymmetric loss (ASL, Ridnik et al. 2021): a focusing parameter per label side, shifted negatives.

    .. math::

        A_+(x) = -(1 - p)^{\gamma_+} \log p, \qquad
        A_-(-x) = -p_m^{\gamma_-} \log(1 - p_m), \quad p_m = \max(p - m, 0)

    At :math:`p \le m` the negative term is 0 with its derivatives (at :math:`p = m` too).

    Args:
@BINARY_INPUTS
@ASYMMETRIC_ARGS
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_asymmetric_loss(x, t).round(6)
        array([1.51300e-02, 5.68000e-04, 6.06323e-01])
    """
    return _binary_loss(_asymmetric_sides(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip), x, t, alpha, weight,
                        reduction, normalizer)


@_shared_docs
def sigmoid_asymmetric_loss_grad(
    x: ArrayLike, t: ArrayLike, *, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05,
    alpha: float | None = None, reduction: Reduction = "none", weight: ArrayLike | None = None,
    normalizer: float | Literal["positives"] | None = None, grad_output: ArrayLike | None = None,
) -> Array:
    """Gradient of :func:`sigmoid_asymmetric_loss` with respect to ``x``, times ``grad_output`` (0 where p <= m
    for a negative).

    Args:
@BINARY_INPUTS
@ASYMMETRIC_ARGS
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_asymmetric_loss_grad(x, t).round(6)
        array([-0.027536,  0.002618, -0.616367])
    """
    return _binary_grad(_asymmetric_sides(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip), x, t, alpha, weight,
                        reduction, normalizer, grad_output)


@_shared_docs
def sigmoid_asymmetric_loss_hess(
    x: ArrayLike, t: ArrayLike, *, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05,
    alpha: float | None = None, weight: ArrayLike | None = None,
) -> Array:
    """Per-element second derivative of the unreduced :func:`sigmoid_asymmetric_loss`.

    Args:
@BINARY_INPUTS
@ASYMMETRIC_ARGS
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_asymmetric_loss_hess(x, t).round(6)
        array([0.047696, 0.011005, 0.382776])
    """
    return _binary_hess(_asymmetric_sides(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip), x, t, alpha, weight)


@_shared_docs
def sigmoid_quality_focal_loss(
    x: ArrayLike, t: ArrayLike, *, beta: float = 2.0, alpha: float | None = None, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
    r"""Quality focal loss (QFL, Li et al. 2020): cross-entropy on a soft quality target times :math:`|t - p|^\beta`.

    .. math::

        \ell = -|t - p|^\beta \left(t\,\alpha \log p + (1 - t)(1 - \alpha) \log(1 - p)\right)

    A joint loss: not linear in ``t``. For 0/1 targets it is focal loss with gamma = beta.

    Args:
@BINARY_INPUTS
        beta: the focusing parameter >= 0 on :math:`|t - p|`, default 2.
        alpha: weight in [0, 1] of the cross-entropy's positive part (its negative part gets 1 - alpha), or
            None (default): both 1.
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_quality_focal_loss(x, t).round(6)
        array([0.001804, 0.022658, 0.377412])
    """
    return _binary_loss(_quality_focal(beta), x, t, alpha, weight, reduction, normalizer)


@_shared_docs
def sigmoid_quality_focal_loss_grad(
    x: ArrayLike, t: ArrayLike, *, beta: float = 2.0, alpha: float | None = None, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
    """Gradient of :func:`sigmoid_quality_focal_loss` with respect to ``x``, times ``grad_output`` (0 where t = p,
    for beta > 0).

    Args:
@BINARY_INPUTS
        beta: the focusing parameter >= 0 on :math:`|t - p|`, default 2.
        alpha: weight in [0, 1] of the cross-entropy's positive part (its negative part gets 1 - alpha), or
            None (default): both 1.
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_quality_focal_loss_grad(x, t).round(6)
        array([-0.004871,  0.052581, -0.526152])
    """
    return _binary_grad(_quality_focal(beta), x, t, alpha, weight, reduction, normalizer, grad_output)


@_shared_docs
def sigmoid_quality_focal_loss_hess(
    x: ArrayLike, t: ArrayLike, *, beta: float = 2.0, alpha: float | None = None, weight: ArrayLike | None = None,
) -> Array:
    """Per-element second derivative of the unreduced :func:`sigmoid_quality_focal_loss`.

    Args:
@BINARY_INPUTS
        beta: the focusing parameter >= 0 on :math:`|t - p|`, default 2.
        alpha: weight in [0, 1] of the cross-entropy's positive part (its negative part gets 1 - alpha), or
            None (default): both 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_quality_focal_loss_hess(x, t).round(6)
        array([0.012678, 0.110633, 0.493062])
    """
    return _binary_hess(_quality_focal(beta), x, t, alpha, weight)


# soft targets for the varifocal loss's examples: a positive of quality 0.8, a negative, a positive of quality 1
_varifocal_examples = shared_sections(VARIFOCAL_EXAMPLE_INPUTS="""\
        >>> import numpy as np
        >>> from focalloss import reference
        >>> x, q = np.array([2.0, -1.0, -0.5]), np.array([0.8, 0.0, 1.0])
""")


@_varifocal_examples
@_shared_docs
def sigmoid_varifocal_loss(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.75, gamma: float = 2.0, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
) -> Loss:
    r"""Varifocal loss (VFL, Zhang et al. 2021): cross-entropy to an IoU-aware target q, weighted by q where
    q > 0, and a focal negative where q = 0.

    .. math::

        \ell = \begin{cases} -q\,(q \log p + (1 - q) \log(1 - p)) & q > 0 \\
                             -\alpha\,p^\gamma \log(1 - p) & q = 0 \end{cases}

    A joint loss: not linear in ``t``, and not continuous at t = 0.

    Args:
@BINARY_INPUTS
        alpha: the negatives' (q = 0) weight in [0, 1], the positives' is 1; or None: both 1. Default 0.75.
        gamma: focusing parameter >= 0 of the negatives, default 2.
@BINARY_REDUCTION

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)`` for ``"none"``, else a scalar.

    Example:
@VARIFOCAL_EXAMPLE_INPUTS
        >>> reference.sigmoid_varifocal_loss(x, q).round(6)
        array([0.421542, 0.016994, 0.974077])
    """
    return _binary_loss(_varifocal(gamma), x, t, alpha, weight, reduction, normalizer)


@_varifocal_examples
@_shared_docs
def sigmoid_varifocal_loss_grad(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.75, gamma: float = 2.0, reduction: Reduction = "none",
    weight: ArrayLike | None = None, normalizer: float | Literal["positives"] | None = None,
    grad_output: ArrayLike | None = None,
) -> Array:
    """Gradient of :func:`sigmoid_varifocal_loss` with respect to ``x``, times ``grad_output``.

    Args:
@BINARY_INPUTS
        alpha: the negatives' (q = 0) weight in [0, 1], the positives' is 1; or None: both 1. Default 0.75.
        gamma: focusing parameter >= 0 of the negatives, default 2.
@BINARY_REDUCTION
@GRAD_OUTPUT

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@VARIFOCAL_EXAMPLE_INPUTS
        >>> reference.sigmoid_varifocal_loss_grad(x, q).round(6)
        array([ 0.064638,  0.039436, -0.622459])
    """
    return _binary_grad(_varifocal(gamma), x, t, alpha, weight, reduction, normalizer, grad_output)


@_varifocal_examples
@_shared_docs
def sigmoid_varifocal_loss_hess(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.75, gamma: float = 2.0, weight: ArrayLike | None = None,
) -> Array:
    """Per-element second derivative of the unreduced :func:`sigmoid_varifocal_loss`.

    Args:
@BINARY_INPUTS
        alpha: the negatives' (q = 0) weight in [0, 1], the positives' is 1; or None: both 1. Default 0.75.
        gamma: focusing parameter >= 0 of the negatives, default 2.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@VARIFOCAL_EXAMPLE_INPUTS
        >>> reference.sigmoid_varifocal_loss_hess(x, q).round(6)
        array([0.083995, 0.082974, 0.235004])
    """
    return _binary_hess(_varifocal(gamma), x, t, alpha, weight)


# --------------------------------------------------------------------------------------------------
# Curvatures for Newton-step training (gradient-boosted trees, focalloss.boosting). The exact second
# derivative of a focal-type loss is negative for badly misclassified examples; the "reweighted"
# curvature is the always-positive alternative: the logistic curvature p(1 - p), times the example's
# focal weight held fixed (the Fisher-scoring / IRLS curvature).
# --------------------------------------------------------------------------------------------------
def _binary_curvature(term, x, t, alpha, weight, choice, floor):
    """Per element, the curvature ``choice`` ("reweighted", "floored", or "exact" for a convex loss)
    of each label side, at least ``floor`` times the side's weight w alpha_t, mixed as the loss
    mixes the sides."""
    x = np.asarray(x, dtype=np.float64)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    w = np.ones_like(x) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), x.shape)
    counted = w != 0
    x, t = np.where(counted, x, 0.0), np.where(counted, t, 0.0)
    mixed = 0.0
    for label, share, z in ((1.0, t, x), (0.0, 1.0 - t, -x)):
        _, first, exact, _, _ = _binary_parts(term, x, label, alpha, w)
        # the side's gradient is -w alpha_t (1 - p_t) m with the focal weight m > 0: holding m fixed
        # gives w alpha_t m p_t (1 - p_t) = -A' p_t (with the side's sign)
        reweighted = (-first if label else first) * _sigmoid(z)
        chosen = {"exact": exact, "reweighted": reweighted, "floored": np.maximum(exact, reweighted)}[choice]
        alpha_t = 1.0 if alpha is None else alpha if label else 1.0 - alpha
        mixed = mixed + share * np.maximum(chosen, floor * alpha_t * w)
    return mixed


@_shared_docs
def sigmoid_focal_loss_reweighted_hess(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, weight: ArrayLike | None = None,
    floor: float = 0.0,
) -> Array:
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
@FLOOR_ARG

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_reweighted_hess(x, t, gamma=2.0).round(6)
        array([0.001073, 0.02883 , 0.049661])
    """
    return _binary_curvature(lambda z: _focal_term(z, gamma=gamma), x, t, alpha, weight, "reweighted", floor)


@_shared_docs
def sigmoid_softened_loss_reweighted_hess(
    x: ArrayLike, t: ArrayLike, *, k: float = 1.0, alpha: float | None = None, weight: ArrayLike | None = None,
    floor: float = 0.0,
) -> Array:
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
@FLOOR_ARG

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_softened_loss_reweighted_hess(x, t, k=2.0).round(6)
        array([0.005838, 0.071526, 0.316411])
    """
    return _binary_curvature(lambda z: _softened_term(z, k=k), x, t, alpha, weight, "reweighted", floor)


@_shared_docs
def sigmoid_focal_loss_floored_hess(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, weight: ArrayLike | None = None,
    floor: float = 0.0,
) -> Array:
    r"""Positive curvature of :func:`sigmoid_focal_loss` that is Newton's where Newton's is sound.

    Per label side the larger of :func:`sigmoid_focal_loss_hess` and
    :func:`sigmoid_focal_loss_reweighted_hess`: the exact second derivative for examples that are
    roughly right, the reweighted (Fisher) curvature for badly wrong ones, whose exact one is
    negative. The default ``hessian="floored"`` of :class:`focalloss.boosting.BinaryFocalObjective`.

    .. math::

        h = t\,\max(h^+_\text{exact}, h^+_\text{reweighted}) + (1 - t)\,\max(h^-_\text{exact}, h^-_\text{reweighted})

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None: both 1. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).
@FLOOR_ARG

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_focal_loss_floored_hess(x, t, gamma=2.0).round(6)
        array([0.003169, 0.082974, 0.123265])
    """
    return _binary_curvature(lambda z: _focal_term(z, gamma=gamma), x, t, alpha, weight, "floored", floor)


@_shared_docs
def sigmoid_softened_loss_floored_hess(
    x: ArrayLike, t: ArrayLike, *, k: float = 1.0, alpha: float | None = None, weight: ArrayLike | None = None,
    floor: float = 0.0,
) -> Array:
    r"""Positive curvature of :func:`sigmoid_softened_loss`, as :func:`sigmoid_focal_loss_floored_hess`.

    Per label side the larger of :func:`sigmoid_softened_loss_hess` and
    :func:`sigmoid_softened_loss_reweighted_hess`.

    Args:
@BINARY_INPUTS
        k: slope >= 0 of the softened step, default 1.
        alpha: positives' weight in [0, 1], or None (default): both 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).
@FLOOR_ARG

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_softened_loss_floored_hess(x, t, k=2.0).round(6)
        array([0.018955, 0.236582, 0.316411])
    """
    return _binary_curvature(lambda z: _softened_term(z, k=k), x, t, alpha, weight, "floored", floor)


@_shared_docs
def sigmoid_poly1_focal_loss_reweighted_hess(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, epsilon: float = 1.0,
    weight: ArrayLike | None = None, floor: float = 0.0,
) -> Array:
    r"""Positive curvature of :func:`sigmoid_poly1_focal_loss`: logistic curvature times its weight.

    As in :func:`sigmoid_focal_loss_reweighted_hess`: each side's gradient is
    :math:`A_a'(z) = -(1 - p_t)\,m`, and holding :math:`m` fixed gives :math:`m\,p_t(1 - p_t) = -A_a'(z)\,p_t`,

    .. math::

        -A_a'(z) = (1 - p_t)^\gamma\left[a\,(1 - p_t - \gamma\,p_t \log p_t)
        + \epsilon\,(\gamma + 1)\,p_t (1 - p_t)\right]

    with :math:`a` the side's alpha weight; it is >= 0 for every score exactly when
    :math:`\epsilon \ge -a` (:class:`focalloss.boosting.BinaryPolyObjective` requires it).

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1] of the focal part, or None. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        epsilon: weight of the first polynomial term, >= -1, default 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).
@FLOOR_ARG

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_poly1_focal_loss_reweighted_hess(x, t, gamma=2.0).round(6)
        array([0.005015, 0.060019, 0.15279 ])
    """
    term = _alpha_inside(lambda z, a: _poly1_focal_side(z, a, gamma=gamma, epsilon=epsilon))
    return _binary_curvature(term, x, t, alpha, weight, "reweighted", floor)


@_shared_docs
def sigmoid_poly1_focal_loss_floored_hess(
    x: ArrayLike, t: ArrayLike, *, alpha: float | None = 0.25, gamma: float = 2.0, epsilon: float = 1.0,
    weight: ArrayLike | None = None, floor: float = 0.0,
) -> Array:
    r"""Positive curvature of :func:`sigmoid_poly1_focal_loss`, as :func:`sigmoid_focal_loss_floored_hess`.

    Per label side the larger of :func:`sigmoid_poly1_focal_loss_hess` and
    :func:`sigmoid_poly1_focal_loss_reweighted_hess`; the default ``hessian="floored"`` of
    :class:`focalloss.boosting.BinaryPolyObjective`.

    Args:
@BINARY_INPUTS
        alpha: positives' weight in [0, 1] of the focal part, or None. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        epsilon: weight of the first polynomial term, >= -1, default 1.
        weight: optional elementwise weights broadcastable to ``x`` (multiply the result).
@FLOOR_ARG

    Shape:
        - x, t, weight: ``(*)``; output: ``(*)``.

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_poly1_focal_loss_floored_hess(x, t, gamma=2.0).round(6)
        array([0.014462, 0.165067, 0.262622])
    """
    term = _alpha_inside(lambda z, a: _poly1_focal_side(z, a, gamma=gamma, epsilon=epsilon))
    return _binary_curvature(term, x, t, alpha, weight, "floored", floor)


@_shared_docs
def sigmoid_asymmetric_loss_reweighted_hess(
    x: ArrayLike, t: ArrayLike, *, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05,
    alpha: float | None = None, weight: ArrayLike | None = None, floor: float = 0.0,
) -> Array:
    r"""Bounded curvature >= 0 of :func:`sigmoid_asymmetric_loss`: each side's gradient times its :math:`p_t`.

    As in :func:`sigmoid_focal_loss_reweighted_hess`: each side's gradient is logistic loss's,
    :math:`1 - p_t`, times a weight >= 0 (the negatives' :math:`N' = p\,w_-` with
    :math:`w_- = d^{\gamma_-}(\gamma_- q u / d + q / (q + m))`), and holding the weight fixed gives the
    size of the gradient times :math:`p_t`. With :math:`p = \sigma(x)`, :math:`q = 1 - p`,
    :math:`d = p - m`, :math:`u = -\log(1 - d)`:

    .. math::

        h = t\,\alpha\,P(x)\,p + (1 - t)(1 - \alpha)\,N'(x)\,q, \qquad
        P = (1 - p)^{\gamma_+}(q - \gamma_+ p \log p), \quad
        N' = p\,d^{\gamma_-}\left(\frac{\gamma_- q u}{d} + \frac{q}{q + m}\right) \ (p > m),

    and :math:`N' = 0` where :math:`p \le m`: no curvature where the negatives' term is 0. Since
    :math:`-p \log p \le q` and :math:`q u / d \le 1`, :math:`q / (q + m) \le 1`, the positives' part is at
    most :math:`(\gamma_+ + 1)\,p q^{\gamma_+ + 1} \le (\gamma_+ + 1)/4` and the negatives' at most
    :math:`(\gamma_- + 1)\,p q\,d^{\gamma_-} \le (\gamma_- + 1)/4`, for every score.

    Args:
@BINARY_INPUTS
@ASYMMETRIC_CURVATURE_ARGS

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> reference.sigmoid_asymmetric_loss_reweighted_hess(x, t).round(6)
        array([0.024254, 0.001914, 0.232704])
    """
    return _binary_curvature(_asymmetric_sides(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip), x, t, alpha,
                             weight, "reweighted", floor)


@_shared_docs
def sigmoid_asymmetric_loss_floored_hess(
    x: ArrayLike, t: ArrayLike, *, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05,
    alpha: float | None = None, weight: ArrayLike | None = None, floor: float = 0.0,
) -> Array:
    r"""Curvature >= 0 of :func:`sigmoid_asymmetric_loss`, as :func:`sigmoid_focal_loss_floored_hess`.

    Per label side the larger of :func:`sigmoid_asymmetric_loss_hess` and
    :func:`sigmoid_asymmetric_loss_reweighted_hess`: the exact curvature where it is at least the
    reweighted one, which takes over for badly wrong rows (exact < 0: positives below
    :math:`p = 0.043`, negatives above :math:`p = 0.900` at the defaults); 0 for a negative with
    :math:`p \le m`. Bounded where the exact curvature is: for :math:`\gamma_- = 0`, :math:`\gamma_- \ge 1`
    or :math:`m = 0`. For :math:`0 < \gamma_- < 1` and :math:`m > 0` the negatives' exact curvature grows
    like :math:`\gamma_-(\gamma_- + 1)(m(1 - m))^{\gamma_- + 1}(x - x_m)^{\gamma_- - 1}` as the score
    falls to the margin's :math:`x_m = \operatorname{logit}(m)`, without bound, and so does this;
    :class:`focalloss.boosting.BinaryAsymmetricObjective` refuses it there.

    Args:
@BINARY_INPUTS
@ASYMMETRIC_CURVATURE_ARGS

    Example:
@BINARY_EXAMPLE_INPUTS
        >>> wrong, labels = np.array([-4.0, 3.0]), np.array([1.0, 0.0])  # a positive and a negative, both far off
        >>> reference.sigmoid_asymmetric_loss_hess(wrong, labels).round(6)
        array([-0.016383, -0.246222])
        >>> reference.sigmoid_asymmetric_loss_floored_hess(wrong, labels).round(6)  # the reweighted one there
        array([0.018622, 0.029268])
        >>> reference.sigmoid_asymmetric_loss_floored_hess(x, t).round(6)  # the exact one here
        array([0.047696, 0.011005, 0.382776])
    """
    return _binary_curvature(_asymmetric_sides(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip), x, t, alpha,
                             weight, "floored", floor)
