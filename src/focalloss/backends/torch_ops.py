"""Per-element loss terms in plain PyTorch ops, differentiated by autograd.

Inputs are already validated, upcast to at least float32 and free of inf/NaN where nothing counts.
Every expression is in log space and has finite first and second derivatives for any finite logit,
so autograd needs no special cases: the modulating factor is exp(gamma * log(1 - p)), never
(1 - p) ** gamma, whose derivative is infinite at p = 1 for gamma < 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


# --------------------------------------------------------------------------------------------------
# Binary losses: the loss A(x) of a positive label; a negative label costs A(-x)
# --------------------------------------------------------------------------------------------------
def _focal_term(x, gamma):
    return torch.exp(gamma * F.logsigmoid(-x)) * -F.logsigmoid(x)


def _softened_term(x, k):
    return torch.sigmoid(-k * x) * -F.logsigmoid(x)


def _hard_truncation_term(x, threshold):
    if threshold in (0.0, 1.0):
        cut = math.inf if threshold else -math.inf
    else:
        cut = _round_down(math.log(threshold) - math.log1p(-threshold), x.dtype)
    return torch.where(x <= cut, -F.logsigmoid(x), torch.zeros_like(x))


def _round_down(value, dtype):
    """The largest number of `dtype` <= value: then x <= result exactly when x <= value."""
    if dtype == torch.float64:
        return value
    rounded = np.float32(value)
    if float(rounded) > value:  # compared as Python floats: NumPy 2 would compare in float32
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return float(rounded)


def _focal_star_term(x, gamma, beta):
    # -logsigmoid, not softplus: softplus returns its argument above 20, 2e-9 off in float64.
    return -F.logsigmoid(gamma * x + beta) / gamma


BINARY_TERMS = {
    "focal": lambda x, p: _focal_term(x, p["gamma"]),
    "softened": lambda x, p: _softened_term(x, p["k"]),
    "hard_truncation": lambda x, p: _hard_truncation_term(x, p["threshold"]),
    "focal_star": lambda x, p: _focal_star_term(x, p["gamma"], p["beta"]),
}


def binary_loss(kind, x, t, alpha, params):
    """t * alpha * A(x) + (1 - t) * (1 - alpha) * A(-x), elementwise; alpha=None weights both by 1."""
    term = BINARY_TERMS[kind]
    positive, negative = term(x, params), term(-x, params)
    if alpha is not None:
        positive, negative = alpha * positive, (1.0 - alpha) * negative
    return t * positive + (1.0 - t) * negative


# --------------------------------------------------------------------------------------------------
# Multi-class losses: per-class terms phi_c, class dimension 1
# --------------------------------------------------------------------------------------------------
def log_probs(x):
    """(log p, log(1 - p)) per class, accurate and with finite gradients even when p rounds to 1.

    Logits are first shifted by the top one, x_m, which is exact where it matters. The top class
    then has 1 - p_m = S / (1 + S) with log S = logsumexp_{j != m}(x_j - x_m), so
    log p_m = -log(1 + S) and log(1 - p_m) = log S + log p_m. Every other class has p <= 1/2, where
    log1p(-p) is well conditioned. Needs at least two classes.
    """
    top = x.argmax(dim=1, keepdim=True)
    is_top = torch.zeros_like(x, dtype=torch.bool).scatter_(1, top, True)
    shifted = x - x.gather(1, top)
    log_s = torch.logsumexp(shifted.masked_fill(is_top, -math.inf), dim=1, keepdim=True)
    log_p = shifted + F.logsigmoid(-log_s)
    # where() passes a zero gradient to the branch it did not pick: that branch must stay finite.
    log_1mp_rest = torch.log1p(-torch.exp(torch.where(is_top, -1.0, log_p)))
    return log_p, torch.where(is_top, log_s + log_p, log_1mp_rest)


def _softmax_focal_terms(x, gamma):
    log_p, log_1mp = log_probs(x)
    return torch.exp(gamma * log_1mp) * -log_p


def _softmax_softened_terms(x, k):
    return torch.softmax(-k * x, dim=1) * -torch.log_softmax(x, dim=1)


def _softmax_hard_truncation_terms(x, threshold):
    # Compared on log p against log(threshold), rounded down into the dtype (so log p <= log m
    # exactly): threshold 1 keeps every class, 0 none.
    log_p = torch.log_softmax(x, dim=1)
    cut = _round_down(math.log(threshold), x.dtype) if threshold > 0 else -math.inf
    return torch.where(log_p <= cut, -log_p, torch.zeros_like(log_p))


SOFTMAX_TERMS = {
    "focal": lambda x, p: _softmax_focal_terms(x, p["gamma"]),
    "softened": lambda x, p: _softmax_softened_terms(x, p["k"]),
    "hard_truncation": lambda x, p: _softmax_hard_truncation_terms(x, p["threshold"]),
}


def softmax_terms(kind, x, params):
    """phi_c(x) for every class: the loss if all target mass sat on class c."""
    if x.shape[1] == 1:
        # One class: p = 1, so every loss of the family is 0 (and so is its gradient).
        return -torch.log_softmax(x, dim=1)
    return SOFTMAX_TERMS[kind](x, params)
