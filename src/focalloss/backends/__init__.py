"""Implementations behind the functional API, each behind one contract.

``torch_ops`` is plain PyTorch, differentiated by autograd: it runs anywhere and is the fallback.
The fused backends (``cpu`` kernels, ``triton`` for CUDA) compute the same losses with analytic
gradients taken from :mod:`focalloss.reference`'s formulas. Every backend module provides:

``available() -> bool``
    whether the backend can run in this process; an ImportError that says why when its compiled
    part or package cannot be imported.

``binary_loss(kind, x, t, alpha, params, *, weight=None, reduce=False, divisor=1) -> Tensor``
    kind: a key of :data:`focalloss.losses.BINARY`; params: its hyperparameters, checked
    (``{"gamma": 2.0}``, ...). The kernels' codes and scalars come from that registry entry.
    x: logits of any shape, float16 / bfloat16 / float32 / float64, finite where they count.
    t: targets in [0, 1], same shape as x, bool, integer or any float dtype (passed as the user
    gave them, so that half-precision inputs are never copied to float32 first).
    alpha: float in [0, 1] or None, turned into the weights of the positive and negative terms by the
    registry entry (``LossSpec.side_alphas``: (alpha, 1 - alpha) for the focal-type losses, (1, 1) for None), the
    same on every backend. weight: None or a tensor broadcastable to x, finite and >= 0,
    multiplying each element's loss; an element with weight 0 gets loss 0 and gradient 0 and its
    logit and target are never read (they may hold inf or NaN). reduce: True gives the 0-dim sum of
    the elementwise losses, added in an order that does not depend on the thread count; False the
    elementwise losses in x's shape. divisor: with reduce=True the sum is divided by it (a number
    >= 1); the functional API passes a plain mean's count, so that a backend can form the gradient
    already divided (the fused CPU one does: a mean's backward then has nothing left to scale). The
    result is in the compute dtype (float32, or float64 for float64 logits) and differentiable with
    respect to x only.

``softmax_loss(kind, x, target, alpha, params, *, label_smoothing, counted) -> Tensor``
    kind: a key of :data:`focalloss.losses.SOFTMAX`; params as above.
    x: logits ``(N, C, d1, ..., dk)``, any C >= 1 (one class: loss and gradient 0), any float
    dtype; a logit of -inf is a masked class (probability 0).
    target: class indices of an integer dtype ``(N, d1, ..., dk)``, or probabilities of x's shape
    in any float dtype.
    alpha: None or a ``(C,)`` tensor of per-class weights in the compute dtype, on x's device (a
    single float is passed as C copies of it: alpha is applied inside the backends only).
    counted: None (every position counts) or a bool tensor ``(N, d1, ..., dk)``; positions that do
    not count get loss 0 and gradient 0, and their logits and targets are never read (they may
    hold inf, NaN or an out-of-range index).
    Returns the per-position loss ``(N, d1, ..., dk)`` in the compute dtype, differentiable with
    respect to x only.

Every backward is differentiable: the fused backends run their closed-form gradient, and when
autograd runs the backward with grad mode on (``create_graph=True``) they hand it to the torch
backend, so second derivatives agree everywhere.

:func:`select` is the one gate into a fused backend: whatever reaches one is a plain, dense tensor
on the logits' device, of a dtype the kernel reads, outside ``torch.compile`` and ``torch.func``,
with a gradient for the logits only. Anything else takes the torch backend under ``"auto"`` and
gets an error naming the argument and the reason under a named fused backend.

Importing this package imports nothing else (``numpy_terms``, the NumPy terms of the boosting
objectives, needs NumPy only); :func:`select` and :func:`gate` (module ``selection``) import torch
when first used.
"""

from importlib import import_module

_FROM_SELECTION = ("LOGIT_DTYPES", "gate", "select")


def __getattr__(name):
    if name in _FROM_SELECTION:
        value = getattr(import_module(".selection", __name__), name)
    elif name in ("cpu_ops", "selection", "torch_ops", "triton_ops"):
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
