r"""Softmax losses of logits whose classes are sharded over a process group (tensor parallel).

Each rank holds a contiguous slice of the classes, ``[offset, offset + C_local)``; the row
statistics are reduced across the group as vocab-parallel cross-entropy does: the top logit
(``MAX``), the top class's index (``MIN``), the sum of exponentials of the other classes, and
the sums of the per-class terms (``SUM``). Every rank then holds the loss of every row. The
gradient is the analytic one of :mod:`focalloss.reference`, computed locally from the saved row
statistics: backward needs no communication, and keeps no more than the logits and a few numbers
per row.

As everywhere in the library, a gradient entry that is small because a probability is near 1 is
formed from the other classes' mass: the top class's ``g_top (1 - p_top) - p_top G_rest`` with
``1 - p_top = S_rest / (1 + S_rest)``; sums over classes are added in float64.

A rank may hold no classes at all (``Shard(1)`` of C classes over more than C ranks, or an uneven
split): it takes part in every reduction with the neutral element (a top logit of -inf, no mass)
and gets the same loss as the others.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from .. import losses
from . import torch_ops
from ._shared import compute_dtype

LOG_HALF = math.log(0.5)


def _reduce(tensor, op, group):
    dist.all_reduce(tensor, op=op, group=group)
    return tensor


def _sum(values, group):
    """The sum over the last axis of every rank's values, in float64 (one all-reduce)."""
    return _reduce(values.sum(dim=-1, dtype=torch.float64), dist.ReduceOp.SUM, group)


def _global_classes(z, offset):
    """The global class index of each of this rank's classes."""
    return torch.arange(z.shape[-1], device=z.device) + offset


def _class_weights(z, target, alpha, label_smoothing, num_classes, offset):
    """w_c = alpha_c ((1 - eps) q_c + eps / C) on this rank's classes; rows x local classes."""
    if target.is_floating_point():
        q = target.to(z.dtype)
    else:  # one-hot by comparison: a rank may hold none of the classes, or no classes at all
        q = (_global_classes(z, offset) == target.unsqueeze(-1)).to(z.dtype)
    if label_smoothing > 0:
        q = (1.0 - label_smoothing) * q + label_smoothing / num_classes
    return q if alpha is None else q * alpha


_NO_CLASS = torch.iinfo(torch.int64).max  # a rank's candidate for a row's class when it has none


def _first_class_at(z, value, offset, group):
    """(the smallest global index of a class whose logit equals ``value`` per row, the local mask of
    it): ranks without such a class offer _NO_CLASS to the minimum."""
    candidates = torch.where(z == value.unsqueeze(-1), _global_classes(z, offset), _NO_CLASS)
    index = candidates.amin(dim=-1) if z.shape[-1] else candidates.new_full(z.shape[:-1], _NO_CLASS)
    index = _reduce(index, dist.ReduceOp.MIN, group)
    return index, _global_classes(z, offset) == index.unsqueeze(-1)


def _extreme(z, op, group):
    """The largest (``op`` MAX) or smallest (MIN) logit per row over every rank; a rank without
    classes offers -inf or +inf."""
    largest = op == dist.ReduceOp.MAX
    if z.shape[-1]:
        local = z.amax(dim=-1) if largest else z.amin(dim=-1)
    else:
        local = z.new_full(z.shape[:-1], -math.inf if largest else math.inf)
    return _reduce(local, op, group)


def _row_statistics(z, offset, group):
    """(m, top, is_top, s_rest): the top logit and its global class index per row, the local mask
    of it, and the sum of exp(x - m) over every other class of every rank."""
    m = _extreme(z, dist.ReduceOp.MAX, group)
    top, is_top = _first_class_at(z, m, offset, group)
    s_rest = _sum(torch.where(is_top, 0.0, torch.exp(z - m.unsqueeze(-1))), group)
    return m, top, is_top, s_rest


def _terms(spec, params, z, m, l1s, log_s, is_top, float64):
    """(phi, d phi / d log p) per local class of focal, adaptive or poly-1 focal, or hard truncation
    (see the C kernels)."""
    log_p = z - (m + l1s).unsqueeze(-1)
    p = torch.exp(log_p)
    if spec.kind == "hard_truncation":
        cut = spec.kernel_scalars(params, float64=float64)[0]
        on = (log_p <= cut).to(z.dtype)
        return -on * log_p, -on
    s = torch.exp(log_s).unsqueeze(-1)
    log_1mp = torch.where(is_top, (log_s - l1s).unsqueeze(-1), torch.log1p(-torch.exp(log_p.clamp_max(LOG_HALF))))
    if spec.kind == "adaptive_focal":  # gamma of the schedule's piece of log p, held fixed
        cuts, gammas = spec.kernel_schedule(params, float64=float64)
        gamma = torch_ops.scheduled_gammas(log_p, cuts, gammas)
        mod = torch.where(gamma == 0, 1.0, torch.exp(gamma * log_1mp))
    else:
        gamma = params["gamma"]
        mod = torch.ones_like(z) if gamma == 0 else torch.exp(gamma * log_1mp)
    if spec.kind == "poly1_focal":  # (1-p)^gamma (g + (1 + epsilon)(1-p)), g = -log p - (1-p) from its small side
        q, epsilon = torch.exp(log_1mp), params["epsilon"]
        g = torch_ops.neg_log_p_minus_q(log_p - log_1mp)
        p_g_q = torch.where((p > 0) & (q > 0), p * g / torch.where(q > 0, q, 1.0), 0.0)
        return mod * (g + (1.0 + epsilon) * q), -mod * (gamma * p_g_q + q + (1.0 + epsilon) * (gamma + 1.0) * p)
    ratio_top = torch.where(s > 0, -(1.0 + s) * l1s.unsqueeze(-1) / torch.where(s > 0, s, 1.0), -1.0)
    ratio = torch.where(is_top, ratio_top, log_p / torch.exp(log_1mp))
    p_ratio = torch.where(p > 0, p * ratio, 0.0)
    return -mod * log_p, mod * (gamma * p_ratio - 1.0)


def _softened_u(z, k, num_classes, low, log_zu, n_masked):
    """u = softmax(-k x) over every rank's classes, from the row's smallest finite logit and
    log sum exp(-k (x - low)); a row with masked classes puts all of it on them (the limit), k = 0
    weighs every class 1 / C."""
    if k == 0:
        return torch.full_like(z, 1.0 / num_classes)
    masked = z == -math.inf
    u = torch.exp(-k * (torch.where(masked, low.unsqueeze(-1), z) - low.unsqueeze(-1)) - log_zu.unsqueeze(-1))
    limit = masked.to(z.dtype) / n_masked.clamp_min(1).unsqueeze(-1)
    return torch.where((n_masked > 0).unsqueeze(-1), limit, u)


def _softened_statistics(z, w, k, m, l1s, log_s, top, is_top, num_classes, offset, group):
    """The row statistics of the softened loss A = sum_c w_c u_c L_c (u = softmax(-k x), L = -log p):
    (m, l1s, log_s, top, low, log_zu, n_masked, arranged, w_b, A, B, B_top, B', D) with b the class of the
    smallest logit (the one u favours), B = sum_c w_c u_c, B_top the same without the top class (for
    its gradient entry, formed from the other classes' mass where p_top is near 1),
    B' = sum_c u_c (w_c - w_b) and D = sum_c w_c u_c (x_b - x_c).

    The gradient's w_j L_j - A is a difference of terms as large as L, which may be thousands where
    the target logit stands far above the rest; L_b ((w_j - w_b) - B') + w_j (x_b - x_j) - D (equal,
    since sum_c u_c = 1) has small terms there, but large ones where L_b is large and the classes
    with target mass have a small L. ``arranged`` says which form a row takes, as the reference
    chooses: the second where no class is masked and L_b E + |D| <= A, E = sum_c u_c |w_c - w_b|."""
    masked = z == -math.inf
    n_masked = _sum(masked.to(z.dtype), group).to(z.dtype)
    low = _extreme(torch.where(masked, math.inf, z), dist.ReduceOp.MIN, group)
    _, is_b = _first_class_at(z, low, offset, group)
    w_b = _sum(torch.where(is_b, w, 0.0), group).to(z.dtype)
    e_neg = torch.exp(-k * (torch.where(masked, low.unsqueeze(-1), z) - low.unsqueeze(-1)))
    log_zu = torch.log(_sum(e_neg, group)).to(z.dtype)
    u = _softened_u(z, k, num_classes, low, log_zu, n_masked)
    nll = l1s.unsqueeze(-1) - (z - m.unsqueeze(-1))  # -log p: m + l1s would round l1s away when p is near 1
    wu = w * u
    spread = u * (w - w_b.unsqueeze(-1))
    sums = torch.stack([torch.where((w != 0) & (u > 0), wu * nll, 0.0).sum(-1, dtype=torch.float64),
                        wu.sum(-1, dtype=torch.float64),
                        torch.where(is_top, 0.0, wu).sum(-1, dtype=torch.float64),
                        spread.sum(-1, dtype=torch.float64),
                        torch.where(u > 0, wu * (low.unsqueeze(-1) - z), 0.0).sum(-1, dtype=torch.float64),
                        spread.abs().sum(-1, dtype=torch.float64)])
    big_a, big_b, b_top, big_b_rest, big_d, big_e = _reduce(sums, dist.ReduceOp.SUM, group).to(z.dtype).unbind(0)
    arranged = (n_masked == 0) & ((m + l1s - low) * big_e - big_d <= big_a)
    return m, l1s, log_s, top, low, log_zu, n_masked, arranged, w_b, big_a, big_b, b_top, big_b_rest, big_d


def _softened_grad(z, w, k, num_classes, offset, m, l1s, log_s, top, low, log_zu, n_masked, arranged, w_b, big_a,
                   big_b, b_top, big_b_rest, big_d):
    """-k u_j (w_j L_j - A) - w_j u_j + p_j B, with w_j L_j - A in the form the row's statistics chose
    (see :func:`_softened_statistics`)."""
    u = _softened_u(z, k, num_classes, low, log_zu, n_masked)
    shifted = z - m.unsqueeze(-1)
    nll = l1s.unsqueeze(-1) - shifted  # -log p, from l1s itself (m + l1s would round it away near p = 1)
    p = torch.exp(-nll)
    l_b = (l1s - (low - m)).unsqueeze(-1)
    wl_minus_a = torch.where(
        arranged.unsqueeze(-1),
        l_b * ((w - w_b.unsqueeze(-1)) - big_b_rest.unsqueeze(-1)) + w * (low.unsqueeze(-1) - z) - big_d.unsqueeze(-1),
        torch.where(w != 0, w * nll, 0.0) - big_a.unsqueeze(-1))
    # with masked classes u is a constant (the limit): no k-term, also where the loss is inf
    k_term = torch.where((u > 0) & (n_masked == 0).unsqueeze(-1), -k * u * wl_minus_a, 0.0)
    # p_j B - w_j u_j; the top class's as p_top B_top - w u (1 - p_top), 1 - p_top = S / (1 + S): as
    # written it would cancel where p_top is near 1 and the top class holds B
    is_top = _global_classes(z, offset) == top.unsqueeze(-1)
    one_minus_p_top = torch.exp(log_s - l1s).unsqueeze(-1)
    mass = torch.where(is_top, p * b_top.unsqueeze(-1) - w * u * one_minus_p_top, p * big_b.unsqueeze(-1) - w * u)
    return k_term + mass


class _ClassShardedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, target, alpha, counted, spec, params, label_smoothing, num_classes, offset, group):
        dtype = compute_dtype(x)
        z = x.to(dtype).movedim(1, -1)  # rows ... x local classes
        if counted is not None:
            z = torch.where(counted.unsqueeze(-1), z, 0.0)
        target = target.movedim(1, -1) if target.is_floating_point() else target
        w = _class_weights(z, target, alpha, label_smoothing, num_classes, offset)
        m, top, is_top, s_rest = _row_statistics(z, offset, group)
        l1s, log_s = torch.log1p(s_rest).to(dtype), torch.log(s_rest).to(dtype)
        needed = w != 0
        if spec.kind == "softened":
            row_stats = _softened_statistics(z, w, params["k"], m, l1s, log_s, top, is_top, num_classes, offset,
                                             group)
            loss = row_stats[9]  # A
        else:
            phi, dphi = _terms(spec, params, z, m, l1s, log_s, is_top, dtype == torch.float64)
            g = torch.where(needed, w * dphi, 0.0)
            loss = _sum(torch.where(needed, w * phi, 0.0), group).to(dtype)
            g_rest = _sum(torch.where(is_top, 0.0, g), group).to(dtype)
            g_top = _sum(torch.where(is_top, g, 0.0), group).to(dtype)
            row_stats = (m, l1s, log_s, top, g_rest, g_top)
        if counted is not None:
            loss = torch.where(counted, loss, 0.0)
        ctx.save_for_backward(x, target if torch.is_tensor(target) else None, alpha, counted, *row_stats)
        ctx.spec, ctx.params, ctx.label_smoothing = spec, params, label_smoothing
        ctx.num_classes, ctx.offset = num_classes, offset
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "class-sharded softmax losses have no second derivative: the backward ran with "
                "create_graph=True; gather the logits, or compute the loss without class_group"
            )
        x, target, alpha, counted, *row_stats = ctx.saved_tensors
        dtype = compute_dtype(x)
        z = x.to(dtype).movedim(1, -1)
        if counted is not None:
            z = torch.where(counted.unsqueeze(-1), z, 0.0)
        w = _class_weights(z, target, alpha, ctx.label_smoothing, ctx.num_classes, ctx.offset)
        go = grad_loss.to(dtype).unsqueeze(-1)
        if ctx.spec.kind == "softened":
            grad = _softened_grad(z, w, ctx.params["k"], ctx.num_classes, ctx.offset, *row_stats)
        else:
            m, l1s, log_s, top, g_rest, g_top = row_stats
            is_top = (torch.arange(z.shape[-1], device=z.device) + ctx.offset) == top.unsqueeze(-1)
            _, dphi = _terms(ctx.spec, ctx.params, z, m, l1s, log_s, is_top, dtype == torch.float64)
            g = torch.where(w != 0, w * dphi, 0.0)
            p = torch.exp(z - (m + l1s).unsqueeze(-1))
            total = (g_rest + g_top).unsqueeze(-1)
            top_entry = g * torch.exp(log_s - l1s).unsqueeze(-1) - p * g_rest.unsqueeze(-1)
            grad = torch.where(is_top, top_entry, g - p * total)
        grad = go * grad
        if counted is not None:
            grad = torch.where(counted.unsqueeze(-1), grad, 0.0)
        return (grad.movedim(-1, 1).to(x.dtype),) + (None,) * 9


def class_offsets(local_classes, group):
    """(this rank's first class, the number of classes in all) from every rank's class count."""
    counts = [torch.zeros((), dtype=torch.int64) for _ in range(dist.get_world_size(group))]
    dist.all_gather(counts, torch.tensor(local_classes, dtype=torch.int64), group=group)
    counts = [int(c) for c in counts]
    rank = dist.get_rank(group)
    return sum(counts[:rank]), sum(counts)


def softmax_loss(kind, x, target, alpha, params, *, label_smoothing, counted, group, offset, num_classes):
    """The per-row loss of ``losses.SOFTMAX[kind]`` for this rank's classes ``x`` (see the module
    docstring); ``target``: global class indices, or this rank's slice of the probabilities;
    ``alpha``: None or this rank's slice of the per-class weights. Every rank gets every row's loss."""
    return _ClassShardedSoftmax.apply(x, target, alpha, counted, losses.SOFTMAX[kind], params, label_smoothing,
                                      num_classes, offset, group)
