"""Reductions and normalisers shared by every loss."""

from __future__ import annotations

import torch
import torch.distributed as dist

from ..backends._shared import fixed_order_sum


def positives_normalizer(positives, dtype):
    """max(1, positives), with the count taken over all ranks when torch.distributed is initialised.

    Each rank divides its summed loss by max(1, total) / world_size. DDP averages gradients over the
    ranks, so the result is the gradient of (sum over all ranks) / max(1, total): exactly what one
    process gets on the concatenated batch. Only a scalar is all-reduced, never the logits.
    """
    total = positives.detach().to(dtype).reshape(())
    if dist.is_available() and dist.is_initialized():
        total = total.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total.clamp_min(1.0) / dist.get_world_size()
    return total.clamp_min(1.0)


def reduce(loss, *, reduction, normalizer, count, positives, summed=False):
    """Reduce per-element losses that are already zero where nothing counts.

    ``count`` is the number of elements that count (an int or a tensor); ``positives`` a callable
    returning the positives' target mass, evaluated only for ``normalizer="positives"``.
    ``summed=True``: ``loss`` is already the sum (the backend reduced it), reduction is not "none".
    Sums are added in an order that does not depend on the thread count.
    """
    if normalizer is None:
        if reduction == "none":
            return loss
        total = loss if summed else fixed_order_sum(loss)
        if reduction == "sum":
            return total
        if isinstance(count, torch.Tensor):
            return total / count.to(total.dtype).clamp_min(1)
        return total / max(count, 1)
    if isinstance(normalizer, str):
        normalizer = positives_normalizer(positives(), loss.dtype)
    elif isinstance(normalizer, torch.Tensor):
        normalizer = normalizer.to(device=loss.device, dtype=loss.dtype).reshape(())
    if reduction == "none":
        return loss / normalizer
    return (loss if summed else fixed_order_sum(loss)) / normalizer
