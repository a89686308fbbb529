"""DTensor logits (tensor parallel, batch sharding) and logits sharded over classes by a process group.

A DTensor on a one-dimensional device mesh is computed shard by shard on its local tensors, with
the loss reduced over the mesh:

- sharded over any dimension but the classes (``Shard(0)``: the batch; for a binary loss any
  dimension): each rank computes its elements' losses; ``"none"`` returns a DTensor sharded like
  the logits, ``"sum"`` / ``"mean"`` / ``normalizer=`` a replicated scalar DTensor, the sum and
  the counts (and the positives) summed over the mesh: the loss of the whole batch.
- a softmax loss with the classes sharded (``Shard(1)``): the class-sharded backend
  (:mod:`focalloss.backends.sharded_ops`), every rank getting every position's loss.
- replicated: the loss of the local (= global) tensor, as a replicated DTensor.

The targets (and weights) of sharded logits must be DTensors sharded alike; with the classes
sharded, class-index targets are replicated (a DTensor or the same plain tensor on every rank).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from ..backends import sharded_ops


def is_dtensor(tensor):
    return type(tensor).__name__ == "DTensor" and hasattr(tensor, "device_mesh")


def _placement_api():
    try:
        from torch.distributed.tensor import DTensor, Partial, Replicate, Shard
    except ImportError as error:  # torch < 2.4
        raise RuntimeError(f"DTensor logits need torch >= 2.4 (torch.distributed.tensor); got torch "
                           f"{torch.__version__}") from error
    return DTensor, Partial, Replicate, Shard


def _sharded_dim(logits):
    """The logits' mesh and sharded dimension (None: replicated); one mesh dimension only."""
    _, Partial, Replicate, Shard = _placement_api()
    mesh = logits.device_mesh
    if mesh.ndim != 1:
        raise ValueError(f"DTensor logits must live on a one-dimensional device mesh; got a mesh of shape "
                         f"{tuple(mesh.shape)}")
    (placement,) = logits.placements
    if isinstance(placement, Shard):
        return mesh, placement.dim % logits.dim()
    if isinstance(placement, Replicate):
        return mesh, None
    raise ValueError(f"DTensor logits must be sharded or replicated; got placements {logits.placements}")


def _local_like(name, tensor, logits, *, optional=False, replicated_ok=False):
    """This rank's part of a tensor argument: a DTensor placed like the logits (or replicated,
    when that is what the logits' sharding needs)."""
    if tensor is None and optional:
        return None
    if is_dtensor(tensor):
        if tensor.placements == logits.placements or (replicated_ok and _sharded_dim(tensor)[1] is None):
            return tensor.to_local()
    elif replicated_ok and isinstance(tensor, torch.Tensor):
        return tensor
    raise ValueError(
        f"{name} must be a DTensor placed like the logits ({logits.placements}); got "
        f"{tensor.placements if is_dtensor(tensor) else type(tensor).__name__}"
    )


def _global_scalar(local, mesh, sharded):
    """A replicated scalar DTensor: ``local`` summed over the mesh when the logits are sharded
    (differentiable), as it is when they are replicated."""
    DTensor, Partial, Replicate, _ = _placement_api()
    if not sharded:
        return DTensor.from_local(local, mesh, [Replicate()], run_check=False)
    return DTensor.from_local(local, mesh, [Partial()], run_check=False).redistribute(mesh, [Replicate()])


def _placed(local, mesh, placements, shape):
    """The DTensor of global ``shape`` whose local part is ``local`` (shards may differ in size)."""
    DTensor, _, _, _ = _placement_api()
    stride = torch.empty(shape, device="meta").stride()
    return DTensor.from_local(local, mesh, placements, run_check=False, shape=torch.Size(shape), stride=stride)


def _reduce_global(local_loss, count, positives, *, reduction, normalizer, mesh, placements, shape, sharded):
    """Reduce the local losses over the mesh: counts and positives summed over it when the losses
    are sharded; the result a DTensor of global ``shape`` placed like the losses ("none") or a
    replicated scalar."""
    if reduction == "none" and normalizer is None:
        return _placed(local_loss, mesh, placements, shape)

    def over_mesh(value):
        value = torch.as_tensor(value, dtype=torch.float64, device=local_loss.device).detach().clone()
        if sharded:
            dist.all_reduce(value, group=mesh.get_group())
        return value

    if normalizer is None:
        denominator = over_mesh(count).clamp_min(1.0) if reduction == "mean" else None
    elif isinstance(normalizer, torch.Tensor):
        denominator = normalizer.to(device=local_loss.device, dtype=torch.float64).reshape(())
    elif isinstance(normalizer, (int, float)):
        denominator = torch.tensor(float(normalizer), dtype=torch.float64, device=local_loss.device)
    else:  # "positives": of the whole batch, whatever group a Positives names
        denominator = over_mesh(positives()).clamp_min(1.0)
    if reduction == "none":
        return _placed(local_loss / denominator.to(local_loss.dtype), mesh, placements, shape)
    total = _global_scalar(local_loss.sum().reshape(()), mesh, sharded)
    return total if denominator is None else total / denominator.to(local_loss.dtype)


def binary_loss(compute, spec, logits, targets, *, weight, reduction, normalizer, **options):
    """``compute(spec, logits, targets, weight=..., **options)`` is the plain elementwise loss."""
    mesh, dim = _sharded_dim(logits)
    local_loss, count, positives = compute(spec, logits.to_local(), _local_like("targets", targets, logits),
                                           weight=_local_like("weight", weight, logits, optional=True),
                                           normalizer=normalizer, **options)
    result = _reduce_global(local_loss, count, positives, reduction=reduction, normalizer=normalizer, mesh=mesh,
                            placements=logits.placements, shape=logits.shape, sharded=dim is not None)
    return result.to(logits.dtype)


def softmax_loss(compute, spec, logits, target, *, weight, alpha, reduction, normalizer, **options):
    """``compute(spec, logits, target, ..., class_group=...)`` is the plain per-position loss."""
    _, _, Replicate, _ = _placement_api()
    mesh, dim = _sharded_dim(logits)
    if dim == 1:  # the classes: every rank gets every position's loss, a replicated result
        probabilities = target.is_floating_point()
        local_loss, count, positives = compute(
            spec, logits.to_local(), _local_like("target", target, logits, replicated_ok=not probabilities),
            weight=_local_like("weight", weight, logits, optional=True, replicated_ok=True), alpha=alpha,
            normalizer=normalizer, class_group=mesh.get_group(), **options)
        placements, sharded = [Replicate()], False
    else:
        local_loss, count, positives = compute(
            spec, logits.to_local(), _local_like("target", target, logits),
            weight=_local_like("weight", weight, logits, optional=True), alpha=alpha, normalizer=normalizer,
            class_group=None, **options)
        placements, sharded = logits.placements, dim is not None
    result = _reduce_global(local_loss, count, positives, reduction=reduction, normalizer=normalizer, mesh=mesh,
                            placements=placements, shape=logits.shape[:1] + logits.shape[2:], sharded=sharded)
    return result.to(logits.dtype)


def class_offsets(local_classes, group):
    """(this rank's first class, the number of classes in all) for logits sharded over ``group``."""
    return sharded_ops.class_offsets(local_classes, group)
