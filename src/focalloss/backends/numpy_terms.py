"""The NumPy terms of the boosting objectives: each loss's A(z), A'(z), A''(z) and the curvature choices.

The same math as :mod:`focalloss.reference` (tested against it), written for speed in vectorised
float64 NumPy that reuses its buffers: at a million rows a fresh array costs as much as an exp. The
reference is written for clarity; this is 3-4 times faster. Imports NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CURVATURE_FLOOR",
    "asymmetric_negative_derivatives",
    "asymmetric_negative_value",
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


# ASL's negatives (see the reference's _asymmetric_negative): N(x) = d^gamma u with d = p - m > 0,
# u = -log(1 - d), at the negative's logit x = -z; 0 with its derivatives where p <= m. Below d = 0.1,
# u / d and (1 / (1 - d) - u / d) / d come from their series sum_k d^k / (k + 1) and
# sum_k (k + 1) / (k + 2) d^k (17 terms, highest first for Horner's rule): the direct forms would cancel.
_U_OVER_D = [1.0 / (k + 1.0) for k in range(16, -1, -1)]
_U_OVER_D_SLOPE = [(k + 1.0) / (k + 2.0) for k in range(16, -1, -1)]


def _horner(coefficients, d):
    total = np.full(d.shape, coefficients[0])
    for coefficient in coefficients[1:]:
        total *= d
        total += coefficient
    return total


def _asymmetric_parts(z, clip):
    """For a negative's side logit z (its score x = -z): the rows with p > m, q = sigmoid(z) on every
    row, and on those rows p, q, log p, log d and d = p - m, u = -log(1 - d), s = q / (q + m)."""
    x = np.negative(z)
    cut = np.log(clip) - np.log1p(-clip) if clip > 0 else -np.inf  # logit(m)
    p, q, log_p, log_q = logistic(x)
    active = np.flatnonzero(x > cut)
    p_a, q_a, log_p, log_q, x = p[active], q[active], log_p[active], log_q[active], x[active]
    log_d = log_p
    if clip > 0:  # log(p - m) = log p + log(1 - m) + log(1 - e^(cut - x)): no difference of probabilities
        log_d = log_p + np.log1p(-clip)
        log_d += np.log(-np.expm1(cut - x))
    d = np.exp(log_d)
    u = np.negative(np.log(q_a + clip) if clip > 0 else log_q)  # -log(1 - d), with 1 - d = q + m a sum
    half = d < 0.5
    u[half] = -np.log1p(-d[half])
    s = q_a / (q_a + clip) if clip > 0 else np.ones_like(q_a)
    return active, q, p_a, q_a, log_p, log_d, d, u, s


def asymmetric_negative_derivatives(z, gamma, clip):
    """A'(z), A''(z) and p_t for ASL's negative side A(z) = N(-z), N(x) = p_m^gamma (-log(1 - p_m)),
    p_m = max(sigmoid(x) - m, 0): A' = -N' <= 0, and both are 0 where p_m = 0."""
    active, p_t, p, q, log_p, log_d, d, u, s = _asymmetric_parts(z, clip)
    small = d < 0.1
    ds = np.where(small, 1.0, d)  # the direct forms are read only where d >= 0.1
    q_r = np.where(small, q * _horner(_U_OVER_D, d), q * u / ds)  # q u / d
    qq_c = np.where(small, q * q * _horner(_U_OVER_D_SLOPE, d), (q * s - q * q_r) / ds)
    d_gamma = np.exp(gamma * log_d) if gamma > 0 else np.ones_like(d)
    gamma_p_d_gamma1 = gamma * np.exp(log_p + (gamma - 1.0) * log_d) if gamma > 0 else np.zeros_like(d)
    h = gamma * q_r + s
    first, second = np.zeros(z.shape), np.zeros(z.shape)
    first[active] = p * d_gamma * h
    np.negative(first, out=first)  # -0 where p <= m, as -N' is: a negative's gradient -A' is then +0
    second[active] = p * (q * h * (gamma_p_d_gamma1 + d_gamma)
                          + d_gamma * p * (gamma * (qq_c - q_r) - s * (1.0 - s)))
    return first, second, p_t


def asymmetric_negative_value(z, gamma, clip):
    active, _, _, _, _, log_d, _, u, _ = _asymmetric_parts(z, clip)
    value = np.zeros(z.shape)
    value[active] = (np.exp(gamma * log_d) if gamma > 0 else 1.0) * u
    return value


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
