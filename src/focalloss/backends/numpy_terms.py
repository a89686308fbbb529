"""The NumPy terms of the boosting objectives: each loss's A(z), A'(z), A''(z) and the curvature choices.

The same math as :mod:`focalloss.reference` (tested against it), written for speed in vectorised
float64 NumPy that reuses its buffers: at a million rows a fresh array costs as much as an exp. The
reference is written for clarity; this is 3-4 times faster. Imports NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CURVATURE_FLOOR",
    "curvature",
    "focal_derivatives",
    "focal_star_derivatives",
    "focal_star_value",
    "focal_value",
    "label_margin",
    "logistic",
    "poly1_derivatives",
    "poly1_value",
    "softened_derivatives",
    "softened_value",
]

# The engines keep hessians in float32: below its smallest normal number a positive curvature
# would arrive as a subnormal or as 0.
CURVATURE_FLOOR = float(np.finfo(np.float32).tiny)


# --------------------------------------------------------------------------------------------------
# Binary terms: the positive-label term A at z (a negative label's term is A(-x)). The hot path
# reuses its buffers (out=, in-place operators): at 1M rows a fresh array costs as much as an exp.
# --------------------------------------------------------------------------------------------------
def logistic(z):
    """sigmoid(z), sigmoid(-z), log sigmoid(z), log sigmoid(-z), each accurate to the last bits.

    The logs share log1p(exp(-|z|)); no probability is formed as 1 minus the other.
    """
    tail = np.abs(z)
    np.negative(tail, out=tail)
    np.exp(tail, out=tail)
    np.log1p(tail, out=tail)
    log_p = np.minimum(z, 0.0)
    log_p -= tail
    log_q = np.maximum(z, 0.0)
    log_q += tail
    np.negative(log_q, out=log_q)
    return np.exp(log_p), np.exp(log_q), log_p, log_q


def curvature(hessian, first, second, p, floor=CURVATURE_FLOOR):
    """The hessian choice from A'(z) <= 0, A''(z) and p_t = sigmoid(z), at least ``floor`` unless exact."""
    if hessian == "exact":
        return second
    reweighted = first * p
    np.negative(reweighted, out=reweighted)  # p_t (1 - p_t) times the focal weight -A' / (1 - p_t)
    if hessian == "floored":
        np.maximum(reweighted, second, out=reweighted)
    return np.maximum(reweighted, floor, out=reweighted)


def focal_derivatives(z, gamma):
    """A'(z), A''(z) and p_t for A(z) = -(1 - p_t)^gamma log p_t."""
    p, q, log_p, log_q = logistic(z)
    q_gamma = np.exp(np.multiply(log_q, gamma, out=log_q), out=log_q)
    first = np.multiply(p, log_p)
    first *= -gamma
    first += q  # (1 - p_t) - gamma p_t log p_t > 0
    first *= q_gamma
    np.negative(first, out=first)
    second = np.multiply(p, -gamma)
    second += q
    second *= log_p
    second *= gamma
    second += np.multiply(q, 2.0 * gamma + 1.0, out=q)
    second *= q_gamma
    second *= p
    return first, second, p


def focal_value(z, gamma):
    _, _, log_p, log_q = logistic(z)
    return -np.exp(gamma * log_q) * log_p


def softened_derivatives(z, k):
    """A'(z), A''(z) and p_t for A(z) = -sigmoid(-k z) log p_t."""
    p, q, log_p, _ = logistic(z)
    s, r, _, _ = logistic(-k * z)  # s = sigmoid(-k z), the soft step; r = sigmoid(k z)
    first = k * s * r * log_p - s * q
    second = k * k * s * r * (s - r) * log_p + 2.0 * k * s * r * q + s * p * q
    return first, second, p


def softened_value(z, k):
    return -logistic(-k * z)[0] * logistic(z)[2]


# g(z) = -log sigmoid(z) - sigmoid(-z) = sum_{k>=2} (-1)^k (k-1)/k u^k with u = exp(-z): its series'
# coefficients from k = 18 down to 2, for Horner's rule where u < 0.1 (the difference would cancel)
_NEG_LOG_P_MINUS_Q = [(-1.0) ** k * (k - 1.0) / k for k in range(18, 1, -1)]


def _poly1_parts(z, a, gamma, epsilon):
    """p, q, (1 - p)^gamma and H = a g + (a + epsilon) q with g = -log p - q >= 0 (see the reference's
    poly-1 term: H would be a difference of nearly equal terms at epsilon = -a written otherwise)."""
    p, q, log_p, log_q = logistic(z)
    u = np.exp(-np.abs(z))
    series = np.full(z.shape, _NEG_LOG_P_MINUS_Q[0])
    for coefficient in _NEG_LOG_P_MINUS_Q[1:]:
        series *= u
        series += coefficient
    series *= u * u
    g = np.where((z >= 0) & (u < 0.1), series, -log_p - q)
    h = a * g + (a + epsilon) * q
    return p, q, np.exp(gamma * log_q), h


def poly1_derivatives(z, a, gamma, epsilon):
    """A'(z), A''(z) and p_t for the poly-1 focal side A(z) = a (1 - p_t)^gamma (-log p_t) + epsilon (1 - p_t)^(gamma+1)
    (a: the side's alpha weight, a scalar or one per row). A' <= 0 where epsilon >= -a."""
    p, q, m, h = _poly1_parts(z, a, gamma, epsilon)
    b = a + epsilon
    dh = -q * (a * q + b * p)
    d2h = p * q * (2.0 * a * q - b * (q - p))
    first = m * (dh - gamma * p * h)
    second = m * (d2h - 2.0 * gamma * p * dh + gamma * p * (gamma * p - q) * h)
    return first, second, p


def poly1_value(z, a, gamma, epsilon):
    _, _, m, h = _poly1_parts(z, a, gamma, epsilon)
    return m * h


def focal_star_derivatives(z, gamma, beta):
    """A'(z) and A''(z) (floored at CURVATURE_FLOOR: the loss is convex) for A(z) = -log sigmoid(gamma z + beta) / gamma."""
    p_u, q_u, _, _ = logistic(gamma * z + beta)
    return -q_u, np.maximum(gamma * p_u * q_u, CURVATURE_FLOOR)


def focal_star_value(z, gamma, beta):
    return -logistic(gamma * z + beta)[2] / gamma


# --------------------------------------------------------------------------------------------------
# Softmax: the label's margin over the other classes
# --------------------------------------------------------------------------------------------------
def label_margin(scores, labels):
    """d = x_y - logsumexp(x_others), so p_y = sigmoid(d); pi = softmax over the others (0 at y)
    and 1 - pi, which for the largest of them (it may round to 1) is the sum of the rest."""
    rows = np.arange(scores.shape[0])
    others = scores.copy()
    others[rows, labels] = -np.inf
    top = others.argmax(axis=1)
    peak = others[rows, top][:, None]
    exp_others = np.exp(others - peak)
    total = exp_others.sum(axis=1, keepdims=True)
    d = scores[rows, labels] - (peak[:, 0] + np.log(total[:, 0]))
    pi = exp_others / total
    exp_others[rows, top] = 0.0
    one_minus_pi = 1.0 - pi
    one_minus_pi[rows, top] = exp_others.sum(axis=1) / total[:, 0]
    return d, pi, one_minus_pi
