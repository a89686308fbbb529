"""Implementations behind the functional API.

``torch_ops`` is plain PyTorch, differentiated by autograd: it runs anywhere and is the fallback.
The fast backends (``cpu`` fused kernels, ``triton`` for CUDA) all provide the same contract, with
analytic gradients taken from :mod:`focalloss.reference`'s formulas:

``available() -> bool``
    whether the backend can run in this process; an ImportError that says why when its compiled
    part or package cannot be imported.

``binary_loss(kind, x, t, alpha, params, *, reduce) -> Tensor``
    kind: ``"focal" | "focal_star" | "softened" | "hard_truncation"``; params as in
    ``torch_ops.BINARY_TERMS`` (``gamma``; ``gamma, beta``; ``k``; ``threshold``).
    x: contiguous logits of any shape, float16 / bfloat16 / float32 / float64, finite.
    t: targets in [0, 1], contiguous, same shape as x, any float dtype (passed as the user gave
    them, so that half-precision inputs are never copied to float32 first).
    alpha: float in [0, 1] or None. reduce: True gives the 0-dim sum of the elementwise losses,
    False the elementwise losses in x's shape. The result is in the compute dtype (float32, or
    float64 for float64 logits) and differentiable with respect to x only; backward keeps at most
    one compute-dtype number per element.

``softmax_loss(kind, x, target, alpha, params, *, label_smoothing, counted) -> Tensor``
    kind: ``"focal" | "softened" | "hard_truncation"``.
    x: contiguous logits ``(N, C, d1, ..., dk)`` with C >= 2, any float dtype.
    target: class indices of an integer dtype ``(N, d1, ..., dk)``, or probabilities of x's shape
    in any float dtype.
    alpha: None or a ``(C,)`` tensor of per-class weights in the compute dtype, on x's device.
    counted: None (every position counts) or a bool tensor ``(N, d1, ..., dk)``; positions that do
    not count get loss 0 and gradient 0, and their logits and targets are never read (they may
    hold inf, NaN or an out-of-range index).
    Returns the per-position loss ``(N, d1, ..., dk)`` in the compute dtype, differentiable with
    respect to x only.

The fast backends have no second derivative (``once_differentiable``); ``backend="torch"`` has.
"""

from __future__ import annotations

import os
from importlib import import_module

import torch

from . import torch_ops

_HOW_TO_GET = {
    "cpu": "focalloss compiles it when installed from source with a C compiler (gcc or clang) on a "
           "glibc or other POSIX system; reinstall with one available, or use backend='torch'",
    "triton": "install it with pip install 'focalloss[triton]' (needs a CUDA GPU), or use backend='torch'",
}
_DEVICE = {"cpu": "CPU tensors", "triton": "CUDA tensors"}


def _module(name):
    return import_module(f".{name}_ops", __name__)


def _fits(name, logits, *, named):
    if name == "cpu":
        return logits.device.type == "cpu"
    # Triton's interpreter (TRITON_INTERPRET=1) runs the kernels on CPU tensors, slowly: only when asked for
    interpreted = named and os.environ.get("TRITON_INTERPRET") == "1"
    return logits.device.type == "cuda" or (logits.device.type == "cpu" and interpreted)


def _import_problem(name):
    """None when the backend can run here, else why not."""
    try:
        return None if _module(name).available() else "not usable on this machine"
    except ImportError as error:
        return str(error)


def _torch_only(tensors):
    """Why the fused kernels cannot compute this call, or None.

    They differentiate the logits only, so a target or per-class alpha that needs a gradient must
    take the torch path; and they read raw memory, which torch.func's wrapped tensors do not have.
    """
    for name, tensor in tensors.items():
        if isinstance(tensor, torch.Tensor):
            if torch._C._functorch.is_functorch_wrapped_tensor(tensor):
                return f"{name} is transformed by torch.func (grad, vmap, jvp)"
            if name != "logits" and tensor.requires_grad:
                return f"{name} requires a gradient and the fused kernels differentiate the logits only"
    return None


def select(name, logits, targets, alpha=None):
    """The backend module that computes a loss of ``logits`` for ``backend=name``.

    ``"auto"`` takes the fused CPU kernels for CPU tensors and Triton for CUDA tensors when they are
    available, and plain PyTorch otherwise; also while ``torch.compile`` traces or ``torch.func``
    transforms the call (the fast paths call compiled code on raw memory), and when the targets or a
    per-class alpha need a gradient (the fast paths differentiate the logits only). A named backend
    that cannot run raises a message saying why.
    """
    if name == "torch":
        return torch_ops
    if torch.compiler.is_compiling():  # first: the checks below are not traceable
        if name == "auto":
            return torch_ops
        raise ValueError(f"backend={name!r} cannot run under torch.compile; use backend='torch' (or 'auto')")
    reason = _torch_only({"logits": logits, "targets": targets, "alpha": alpha})
    if name == "auto":
        if reason is not None:
            return torch_ops
        for candidate in ("cpu", "triton"):
            if _fits(candidate, logits, named=False) and _import_problem(candidate) is None:
                return _module(candidate)
        return torch_ops
    if not _fits(name, logits, named=True):
        raise ValueError(f"backend={name!r} runs on {_DEVICE[name]}; got logits on {logits.device}")
    problem = _import_problem(name)
    if problem is not None:
        raise RuntimeError(f"backend={name!r} is not available ({problem}): {_HOW_TO_GET[name]}")
    if reason is not None:
        raise ValueError(f"backend={name!r} cannot compute this call: {reason}; use backend='torch' (or 'auto')")
    return _module(name)
