"""The torch backend: every loss in plain PyTorch ops, differentiated by autograd.

It runs on any device, under ``torch.compile`` and ``torch.func``, and is the only backend with a
graph of its own, so it gives second derivatives directly (the fused backends borrow it for
theirs). Every expression is in log space and has finite first and second derivatives for any
finite logit: the modulating factor is exp(gamma * log(1 - p)), never (1 - p) ** gamma, whose
derivative is infinite at p = 1 for gamma < 1. Where autograd would form a small gradient as a
difference of nearly equal terms, the expression is arranged so that it does not (see
:func:`log_probs`). A softmax class whose logit is -inf has probability 0; when it carries no
target mass it contributes nothing, to the loss or to the gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import losses
from ._shared import compute_dtype, fixed_order_sum


def available():
    """Always True: plain PyTorch runs wherever torch does."""
    return True


# --------------------------------------------------------------------------------------------------
# Binary losses: the loss A(x) of a positive label; a negative label costs A(-x)
# --------------------------------------------------------------------------------------------------
def _focal_term(x, gamma):
    if gamma == 0:
        return -F.logsigmoid(x)
    return torch.exp(gamma * F.logsigmoid(-x)) * -F.logsigmoid(x)


def _softened_term(x, k):
    return torch.sigmoid(-k * x) * -F.logsigmoid(x)


def _hard_truncation_term(x, params):
    # compared on the logit with logit(threshold), rounded down into the dtype as the kernels do
    cut = losses.BINARY["hard_truncation"].kernel_scalars(params, float64=x.dtype == torch.float64)[0]
    return torch.where(x <= cut, -F.logsigmoid(x), torch.zeros_like(x))


def _focal_star_term(x, gamma, beta):
    # -logsigmoid, not softplus: softplus returns its argument above 20, 2e-9 off in float64.
    return -F.logsigmoid(gamma * x + beta) / gamma


# the series sum_{k>=2} (-1)^k (k-1)/k u^k of log(1 + u) - u / (1 + u), for Horner's rule
_G_SERIES = [(-1.0) ** k * (k - 1.0) / k for k in range(18, 1, -1)]


def neg_log_p_minus_q(x):
    """-log sigmoid(x) - sigmoid(-x) >= 0, from its small side where it is small (see reference)."""
    u = torch.exp(-x.abs())
    series = torch.zeros_like(u)
    for c in _G_SERIES:
        series = (series + c) * u
    series = series * u
    return torch.where((x >= 0) & (u < 0.1), series, -F.logsigmoid(x) - torch.sigmoid(-x))


def _poly1_focal_side(x, params, a):
    """a (1-p)^gamma (-log p) + epsilon (1-p)^(gamma+1) as (1-p)^gamma (a g + (a + epsilon)(1-p)),
    g = -log p - (1 - p): it cancels at epsilon = -a when written as the sum (Leng et al. 2022)."""
    gamma, epsilon = params["gamma"], params["epsilon"]
    # exp(logsigmoid), not sigmoid, whose backward sigma (1 - sigma) cancels where sigma is near 1:
    # with a = 0 (alpha 0 or 1) this term is all there is of a badly wrong element
    q = torch.exp(F.logsigmoid(-x))
    h = a * neg_log_p_minus_q(x) + (a + epsilon) * q
    return h if gamma == 0 else torch.exp(gamma * F.logsigmoid(-x)) * h


def scheduled_gammas(value, cuts, gammas):
    """gammas[i] where cuts[i - 1] <= value < cuts[i], the cuts of ``kernel_schedule`` (increasing,
    padded with +inf): the piece the fused kernels choose from the same numbers."""
    gamma = torch.full_like(value, gammas[0])
    for cut, upper in zip(cuts, gammas[1:]):
        gamma = torch.where(value < cut, gamma, upper)
    return gamma


def _adaptive_focal_term(x, params):
    """-(1-p)^gamma(p) log p with gamma a step function of p, compared on x against logit(threshold)
    (Mukhoti et al. 2020); gamma is a constant of each element, so autograd holds it fixed."""
    cuts, gammas = losses.BINARY["adaptive_focal"].kernel_schedule(params, float64=x.dtype == torch.float64)
    gamma = scheduled_gammas(x.detach(), cuts, gammas)
    mod = torch.where(gamma == 0, 1.0, torch.exp(gamma * F.logsigmoid(-x)))
    return mod * -F.logsigmoid(x)


def _one_minus_exp(y):
    """1 - e^y for y <= 0: -expm1(y) from -log 2 up, 1 - e^y below, where expm1's backward (its result + 1)
    would cancel."""
    near = y >= -math.log(2.0)
    return torch.where(near, -torch.expm1(torch.where(near, y, -1.0)), 1.0 - torch.exp(torch.where(near, -1.0, y)))


def _asymmetric_negative(z, params):
    """A-(z) = p_m^gamma_neg (-log(1 - p_m)), p_m = max(p - m, 0), p = sigma(-z) the negative's probability
    of the positive class (Ridnik et al. 2021), 0 where x <= x_m = logit(m) as the kernels round it. The
    difference is the product p - m = p (1 - m) (1 - e^{x_m - x}) (see reference/binary.py), whose autograd
    derivative stays finite where it underflows; p_m^gamma is exp(gamma log(p - m)), 0 where it is 0."""
    x = -z
    gamma = params["gamma_neg"]
    cut = losses.BINARY["asymmetric"].kernel_p3(params, float64=x.dtype == torch.float64)
    # the margin m = sigma(cut) whose logit is the rounded cut (0 at -inf): log m and 1 - m
    log_clip = cut - math.log1p(math.exp(cut)) if cut < 0 else -math.log1p(math.exp(-cut))
    one_minus_clip = 1.0 / (1.0 + math.exp(cut)) if cut < 0 else math.exp(-cut) / (1.0 + math.exp(-cut))
    active = x > cut
    xa = torch.where(active, x, cut + 1.0 if cut > -math.inf else 0.0)  # read only where active
    # exp(logsigmoid), not sigmoid, whose backward sigma (1 - sigma) cancels where sigma is near 1
    d = torch.exp(F.logsigmoid(xa)) * one_minus_clip * _one_minus_exp(cut - xa)
    half = d < 0.5
    # log(1 - d) = log(q + m) from the larger log: the derivative of log(q + m) overflows for a subnormal m, and
    # torch.logaddexp's double backward is NaN where the two differ by 1e4
    log_q = F.logsigmoid(-xa)
    q_larger = log_q >= log_clip
    log_1md = torch.where(q_larger, log_q, log_clip) + torch.log1p(
        torch.exp(torch.where(q_larger, log_clip - log_q, log_q - log_clip)))
    u = torch.where(half, -torch.log1p(-torch.where(half, d, 0.0)), -log_1md)
    if gamma == 0:
        value = u
    else:
        value = torch.where(d > 0, torch.exp(gamma * torch.log(torch.where(d > 0, d, 1.0))), 0.0) * u
    return torch.where(active, value, 0.0)


BINARY_TERMS = {
    "focal": lambda x, p: _focal_term(x, p["gamma"]),
    "adaptive_focal": _adaptive_focal_term,
    "softened": lambda x, p: _softened_term(x, p["k"]),
    "hard_truncation": _hard_truncation_term,
    "focal_star": lambda x, p: _focal_star_term(x, p["gamma"], p["beta"]),
}
# terms that take their label side's alpha weight themselves: term(x, params, alpha_side)
ALPHA_INSIDE_TERMS = {"poly1_focal": _poly1_focal_side}


def _quality_focal_joint(x, t, params, a_pos, a_neg):
    """|t - p|^beta (-t a+ log p - (1 - t) a- log(1 - p)) (Li et al. 2020), t - p formed as t q - (1 - t) p in
    float64 and its log as log q, log p at t = 1, 0 (see reference/binary.py); 0 with gradient 0 where t = p."""
    beta = params["beta"]
    log_p, log_q = F.logsigmoid(x), F.logsigmoid(-x)
    bce = -t * a_pos * log_p - (1.0 - t) * a_neg * log_q
    if beta == 0:
        return bce
    # in float64 whatever the compute dtype: t - p cancels where p is near t
    xd, td = x.double(), t.double()
    diff = td * torch.exp(F.logsigmoid(-xd)) - (1.0 - td) * torch.exp(F.logsigmoid(xd))
    zero = diff == 0
    log_abs = torch.log(torch.where(zero, 1.0, diff).abs()).to(x.dtype)
    log_abs = torch.where(t == 1, log_q, torch.where(t == 0, log_p, log_abs))
    return torch.where(zero & (t != 1) & (t != 0), 0.0, torch.exp(beta * log_abs)) * bce


def _varifocal_joint(x, t, params, a_pos, a_neg):
    """a+ t (-t log p - (1 - t) log(1 - p)) where t > 0, a- p^gamma (-log(1 - p)) where t = 0 (Zhang et al. 2021):
    the negatives' term is focal loss's A(-x), p^gamma = exp(gamma log sigma(x)), whose derivative gamma p^gamma q
    stays finite at saturation for gamma < 1."""
    positive = a_pos * t * -(t * F.logsigmoid(x) + (1.0 - t) * F.logsigmoid(-x))
    return torch.where(t > 0, positive, a_neg * _focal_term(-x, params["gamma"]))


# the joint losses' term(x, t, params, a_pos, a_neg), the element's whole loss (the registry's composition "joint")
JOINT_TERMS = {"quality_focal": _quality_focal_joint, "varifocal": _varifocal_joint}
# the sided losses' (A+, A-), the negative's term taking -x (the registry's composition "sided")
SIDED_TERMS = {"asymmetric": (lambda x, p: _focal_term(x, p["gamma_pos"]), _asymmetric_negative)}


def binary_loss(kind, x, t, alpha, params, *, weight=None, reduce=False, divisor=1):
    """w * (t * a_pos * A(x) + (1 - t) * a_neg * A(-x)), elementwise or summed, (a_pos, a_neg) the registry's
    ``side_alphas(alpha)`` ((alpha, 1 - alpha) for the focal-type losses, (1, 1) for alpha=None; a term of
    ALPHA_INSIDE_TERMS takes its side's weight itself; a sided loss has A+ and A- of SIDED_TERMS; a joint
    loss is its JOINT_TERMS term of x and t); see the contract in ``backends/__init__.py``."""
    dtype = compute_dtype(x)
    x, t = x.to(dtype), t.to(dtype)
    if weight is not None:
        weight = weight.to(dtype)
        # a zero-weighted element may hold inf or NaN: replace it before any arithmetic touches it
        counted = weight != 0
        x, t = torch.where(counted, x, 0.0), torch.where(counted, t, 0.0)
    spec = losses.BINARY[kind]
    a_pos, a_neg = spec.side_alphas(alpha)
    composition = spec.composition
    if composition == "joint":
        loss = JOINT_TERMS[kind](x, t, params, a_pos, a_neg)
    else:
        if kind in ALPHA_INSIDE_TERMS:
            side = ALPHA_INSIDE_TERMS[kind]
            positive, negative = side(x, params, a_pos), side(-x, params, a_neg)
        else:
            positive_term, negative_term = SIDED_TERMS[kind] if composition == "sided" else (BINARY_TERMS[kind],) * 2
            positive, negative = positive_term(x, params), negative_term(-x, params)
            if alpha is not None:
                positive, negative = a_pos * positive, a_neg * negative
        loss = t * positive + (1.0 - t) * negative
    if weight is not None:
        loss = loss * weight
    return fixed_order_sum(loss) / divisor if reduce else loss


# --------------------------------------------------------------------------------------------------
# Softmax losses, class dimension 1
# --------------------------------------------------------------------------------------------------
def _logsumexp(values):
    """logsumexp over dim 1 (kept), -inf for a row of -inf only, with finite gradients there too."""
    empty = (values == -math.inf).all(dim=1, keepdim=True)
    total = torch.logsumexp(torch.where(empty, 0.0, values), dim=1, keepdim=True)
    return torch.where(empty, -math.inf, total)


def log_probs(x):
    """(log p, log(1 - p)) per class, accurate, and with accurate gradients, when p rounds to 1.

    The logits are shifted by the top one, x_m, detached (the loss does not depend on the shift),
    so ``shifted`` holds x - x_m with gradient 1. With log S = logsumexp_{j != m} shifted_j and
    v = log S - shifted_m, the top class has log p_m = log sigmoid(-v) and log(1 - p_m) =
    log sigmoid(v), whose derivatives sigmoid(v) = 1 - p_m and sigmoid(-v) = p_m autograd forms
    directly; every other class has log p_c = shifted_c - logaddexp(shifted_m, log S), and
    p_c <= 1/2, where log1p(-p_c) is well conditioned. So the top class's gradient is
    g_m (1 - p_m) - p_m (sum of the others' g), never g_m - p_m (sum of all g), which cancels when
    p_m is near 1, nor minus the sum of every other class's gradient, which cancels over many
    classes. Logits of -inf (masked classes) are allowed, as long as one per row is finite.
    """
    detached = x.detach()
    top = detached.argmax(dim=1, keepdim=True)
    is_top = torch.zeros_like(x, dtype=torch.bool).scatter_(1, top, True)
    shifted = x - detached.gather(1, top)
    shifted_top = shifted.gather(1, top)  # 0, with gradient 1 for the top logit
    log_s = _logsumexp(shifted.masked_fill(is_top, -math.inf))
    v = log_s - shifted_top
    log_total = torch.logaddexp(shifted_top, log_s)
    log_p = torch.where(is_top, F.logsigmoid(-v), shifted - log_total)
    # where() passes a zero gradient to the branch it did not pick: that branch must stay finite.
    log_1mp_rest = torch.log1p(-torch.exp(torch.where(is_top, -1.0, log_p)))
    return log_p, torch.where(is_top, F.logsigmoid(v), log_1mp_rest)


def _softened_weights(x, k):
    """softmax(-k x) over the classes, as exp of :func:`log_probs` of -k x, so that the class it
    favours most, whose weight may round to 1, gets its gradient without cancellation. The logits
    are shifted by the smallest one before the product with k, so that the classes it favours keep
    their differences exactly. A row with logits of -inf gives them all its weight (the limit)."""
    num_classes = x.shape[1]
    if k == 0:
        return torch.full_like(x, 1.0 / num_classes)
    detached = x.detach()
    masked = detached == -math.inf
    any_masked = masked.any(dim=1, keepdim=True)
    neg = torch.where(any_masked, 0.0, -k * (x - detached.amin(dim=1, keepdim=True)))
    limit = masked.to(x.dtype) / masked.sum(dim=1, keepdim=True).clamp_min(1).to(x.dtype)
    return torch.where(any_masked, limit, torch.exp(log_probs(neg)[0]))


def _softened_loss(x, w, log_p, k):
    """sum_c w_c u_c (-log p_c) with u = softmax(-k x), with a gradient as accurate as the reference's.

    The gradient holds w_j L_j - A (L = -log p, A the loss), a difference of terms as large as L:
    thousands where the target logit stands far above close others. With b a class of the smallest
    logit (the one u favours) and any constant W, the loss equals L_b (W + B') + D,
    B' = sum_c u_c (w_c - W), D = sum_c w_c u_c (x_b - x_c) (u sums to 1; x_b's own terms cancel),
    whose derivatives autograd forms from small terms when W is w_b: the mean weight of the classes
    at the smallest logit. That holds where the target logit stands far above, but not where L_b is
    large and the classes with target mass have a small L. Each row takes the form whose terms are
    smaller, as the reference chooses (the arranged one where L_b E + |D| <= A, E = sum_c u_c |w_c - W|).
    A row with masked classes, whose u is a constant limit, keeps the direct sum; the arranged branch
    is kept finite there, since where() passes it a zero gradient. Masks and sums only: with the
    index of the smallest logit gathered (argmin beside log_probs' argmax), two such losses of one
    model's logits compiled by inductor gave gradients far from eager's."""
    u = _softened_weights(x, k)
    needed = w != 0
    direct = torch.where(needed, w * u * -torch.where(needed, log_p, 0.0), 0.0).sum(dim=1)
    if k == 0:  # u is the constant 1 / C
        return direct
    masked = x.detach() == -math.inf
    masked_row = masked.any(dim=1, keepdim=True)
    finite_x = torch.where(masked_row, 0.0, x)
    x_b = finite_x.amin(dim=1, keepdim=True)
    at_b = (finite_x.detach() == x_b.detach()) & ~masked  # a masked row: its finite classes, never -inf
    count = at_b.sum(dim=1, keepdim=True)
    w_b = torch.where(at_b, w, 0.0).sum(dim=1, keepdim=True).detach() / count
    l_b = -torch.where(at_b, log_p, 0.0).sum(dim=1) / count.squeeze(1)
    b_rest = (u * (w - w_b)).sum(dim=1)
    d = (w * u * (x_b - finite_x)).sum(dim=1)
    arranged = l_b * (w_b.squeeze(1) + b_rest) + d
    spread = (u * (w - w_b).abs()).sum(dim=1)
    use_arranged = (~masked_row.squeeze(1) & (l_b * spread - d <= direct)).detach()
    return torch.where(use_arranged, arranged, direct)


def _softmax_phi(kind, log_p, log_1mp, params):
    """phi_c from log p_c and log(1 - p_c): the loss if all target mass sat on class c."""
    if kind in ("focal", "adaptive_focal", "poly1_focal"):
        # a masked class with target mass costs inf; its modulating factor is the constant 1, so that
        # the gradient stays the finite limit rather than inf * 0
        masked = log_p == -math.inf
        if kind == "adaptive_focal":  # the piece of log p_c, a constant for autograd
            cuts, gammas = losses.SOFTMAX[kind].kernel_schedule(params, float64=log_p.dtype == torch.float64)
            gamma = scheduled_gammas(log_p.detach(), cuts, gammas)
            # a zero gamma's exponent is 0 before exp, not 0 * log(1 - p), which is NaN at p = 1
            mod = torch.where(masked, 1.0, torch.exp(torch.where(gamma == 0, 0.0, gamma * log_1mp)))
        elif params["gamma"] == 0:
            mod = 1.0
        else:
            mod = torch.where(masked, 1.0, torch.exp(params["gamma"] * log_1mp))
        if kind != "poly1_focal":
            return mod * -log_p
        # (1-p)^gamma (-log p + epsilon (1-p)) as (1-p)^gamma (g + (1 + epsilon)(1-p)), g = -log p - (1-p)
        # from its small side, as a function of the logit log p - log(1-p): the sum cancels at epsilon = -1
        epsilon = params["epsilon"]
        g = neg_log_p_minus_q(torch.where(masked, 0.0, log_p - log_1mp))
        return mod * torch.where(masked, epsilon - log_p, g + (1.0 + epsilon) * torch.exp(log_1mp))
    # hard truncation: compared on log p against log(threshold), rounded down into the dtype (so
    # log p <= log m exactly): threshold 1 keeps every class, 0 none.
    cut = losses.SOFTMAX["hard_truncation"].kernel_scalars(params, float64=log_p.dtype == torch.float64)[0]
    return torch.where(log_p <= cut, -log_p, torch.zeros_like(log_p))


def _class_view(alpha, ndim):
    return alpha.view((1, -1) + (1,) * (ndim - 2))


def softmax_loss(kind, x, target, alpha, params, *, label_smoothing, counted):
    """Per-position loss sum_c alpha_c q_c phi_c(x); see the contract in ``backends/__init__.py``."""
    x = x.to(compute_dtype(x))
    num_classes = x.shape[1]
    if counted is not None:
        # a position that does not count may hold inf or NaN logits: replace them before any arithmetic
        x = torch.where(counted.unsqueeze(1), x, 0.0)
    is_index = not target.is_floating_point()
    if is_index:
        index = target.long() if counted is None else torch.where(counted, target.long(), 0)
    log_p, log_1mp = log_probs(x)

    if is_index and label_smoothing == 0 and kind != "softened":
        # only the target's term: gathered before anything else is computed per class
        at = index.unsqueeze(1)
        log_p_y = log_p.gather(1, at)
        loss = _softmax_phi(kind, log_p_y, log_1mp.gather(1, at), params)
        if alpha is not None:
            loss = loss * alpha[index].unsqueeze(1)
        loss = loss.squeeze(1)
    else:
        if is_index:
            q = torch.zeros_like(x).scatter_(1, index.unsqueeze(1), 1.0)
        else:
            q = target.to(x.dtype)
            if counted is not None:
                q = torch.where(counted.unsqueeze(1), q, 0.0)
        if label_smoothing > 0:
            q = (1.0 - label_smoothing) * q + label_smoothing / num_classes
        w = q if alpha is None else q * _class_view(alpha, x.dim())
        # a class without target mass contributes nothing, even at log p = -inf: its inputs are
        # replaced (so that no 0 * inf reaches the loss or the gradient) and its term dropped
        needed = w != 0
        if kind == "softened":
            loss = _softened_loss(x, w, log_p, params["k"])
        else:
            phi = _softmax_phi(kind, torch.where(needed, log_p, 0.0), torch.where(needed, log_1mp, 0.0), params)
            loss = torch.where(needed, w * phi, 0.0).sum(dim=1)
    if counted is not None:
        loss = torch.where(counted, loss, 0.0)
    return loss
