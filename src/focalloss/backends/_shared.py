"""Helpers every backend uses: the compute dtype, a thread-count-free sum, and the differentiable
backward that the fused backends take when a second derivative is asked for."""

from __future__ import annotations

import torch

# elements per block of fixed_order_sum
SUM_BLOCK = 4096


def compute_dtype(x):
    """float64 for float64 logits, float32 for every other floating dtype."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def fixed_order_sum(values):
    """The sum of every element, added in an order that depends on the shape alone.

    ``Tensor.sum()`` to one number splits the work over torch's threads, so its last bits move
    with the thread count. Here each block of SUM_BLOCK elements is summed by one row reduction
    (torch gives each output of a reduction to one thread) and the block sums are added the same
    way, until one number is left. Differentiable; no host sync.
    """
    flat = values.reshape(-1)
    while flat.numel() > SUM_BLOCK:
        whole = flat.numel() - flat.numel() % SUM_BLOCK
        # no slice of whole blocks: its backward would fill a zero tensor and copy into it
        sums = (flat if whole == flat.numel() else flat[:whole]).view(-1, SUM_BLOCK).sum(dim=1)
        if whole < flat.numel():
            sums = torch.cat([sums, flat[whole:].sum().reshape(1)])
        flat = sums
    return flat.sum()


def differentiable_backward(torch_loss, inputs, grad_output):
    """The gradient of ``(grad_output * torch_loss(*inputs)).sum()`` with respect to ``inputs[0]``,
    as a differentiable function of both (what ``create_graph=True`` asks for).

    The fused kernels' backward is a closed formula with no graph; when autograd runs a backward
    with grad mode on, they hand it to the torch backend's ops instead, recomputed from the saved
    inputs, so a gradient penalty sees the same derivative as ``backend="torch"``.
    """
    with torch.enable_grad():
        loss = torch_loss(*inputs)
        (grad,) = torch.autograd.grad(loss, inputs[0], grad_output, create_graph=True)
    return grad
