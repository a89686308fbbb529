"""Reductions and normalisers shared by every loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from .._typing import Group
from ..backends._shared import fixed_order_sum


@dataclass(frozen=True)
class Positives:
    """``normalizer=Positives(group=...)``: max(1, the positives), summed over a process group.

    ``normalizer="positives"`` is ``Positives()``: under ``torch.distributed`` the positives are
    summed over the default group, and every rank of it must make the call. Name the group that
    computes the loss instead where not every rank does, as in pipeline parallelism, where only the
    last stage does (its data-parallel group); ``group="local"`` sums over this process only.

    Args:
        group: None (the default process group, when torch.distributed is initialised), a
            ``torch.distributed`` ProcessGroup, or ``"local"``.

    Example:
        >>> import torch
        >>> from focalloss import Positives, sigmoid_focal_loss
        >>> x, t = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 1.0])
        >>> sigmoid_focal_loss(x, t, normalizer=Positives(group="local"))
        tensor(0.0172)
    """

    group: Group = None


def positives_normalizer(positives, dtype, group=None):
    """max(1, positives), with the count taken over ``group`` (see :class:`Positives`).

    Each rank divides its summed loss by max(1, total) / (ranks in the group). DDP averages
    gradients over those ranks, so the result is the gradient of (sum over the ranks) / max(1,
    total): exactly what one process gets on the concatenated batch. Only a scalar is
    all-reduced, never the logits.
    """
    total = positives.detach().to(dtype).reshape(())
    if group != "local" and dist.is_available() and dist.is_initialized():
        total = total.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
        return total.clamp_min(1.0) / dist.get_world_size(group)
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
    if isinstance(normalizer, (str, Positives)):
        group = normalizer.group if isinstance(normalizer, Positives) else None
        normalizer = positives_normalizer(positives(), loss.dtype, group)
    elif isinstance(normalizer, torch.Tensor):
        normalizer = normalizer.to(device=loss.device, dtype=loss.dtype).reshape(())
    if reduction == "none":
        return loss / normalizer
    return (loss if summed else fixed_order_sum(loss)) / normalizer
