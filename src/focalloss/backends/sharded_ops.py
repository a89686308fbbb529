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


def _class_weights(z, target, alpha, label_smoothing, num_classes, offset):
    """w_c = alpha_c ((1 - eps) q_c + eps / C) on this rank's classes; rows x local classes."""
    if target.is_floating_point():
        q = target.to(z.dtype)
    else:
        local = target - offset
        inside = (local >= 0) & (local < z.shape[-1])
        q = torch.zeros_like(z).scatter_(-1, torch.where(inside, local, 0).unsqueeze(-1), inside.unsqueeze(-1).to(z.dtype))
    if label_smoothing > 0:
        q = (1.0 - label_smoothing) * q + label_smoothing / num_classes
    return q if alpha is None else q * alpha


def _row_statistics(z, offset, group):
    """(m, top, is_top, s_rest): the top logit and its global class index per row, the local mask
    of it, and the sum of exp(x - m) over every other class of every rank."""
    m_local, arg_local = z.max(dim=-1)
    m = _reduce(m_local.clone(), dist.ReduceOp.MAX, group)
    big = torch.iinfo(torch.int64).max
    top = _reduce(torch.where(m_local == m, arg_local + offset, big), dist.ReduceOp.MIN, group)
    is_top = (torch.arange(z.shape[-1], device=z.device) + offset) == top.unsqueeze(-1)
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
            k = params["k"]
            low = _reduce(z.min(dim=-1).values, dist.ReduceOp.MIN, group)
            e_neg = torch.exp(-k * (z - low.unsqueeze(-1)))
            log_zu = torch.log(_sum(e_neg, group)).to(dtype)
            u = torch.exp(-k * (z - low.unsqueeze(-1)) - log_zu.unsqueeze(-1))
            nll = (m + l1s).unsqueeze(-1) - z
            big_a = _sum(torch.where(needed, w * u * nll, 0.0), group).to(dtype)
            big_b = _sum(w * u, group).to(dtype)
            loss = big_a
            row_stats = (m, l1s, low, log_zu, big_a, big_b)
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
            m, l1s, low, log_zu, big_a, big_b = row_stats
            k = ctx.params["k"]
            u = torch.exp(-k * (z - low.unsqueeze(-1)) - log_zu.unsqueeze(-1))
            p = torch.exp(z - (m + l1s).unsqueeze(-1))
            wl = torch.where(w != 0, w * ((m + l1s).unsqueeze(-1) - z), 0.0)
            grad = -k * u * (wl - big_a.unsqueeze(-1)) - w * u + p * big_b.unsqueeze(-1)
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
