"""The one gate into the fused backends, and the choice of backend for a call (see
:mod:`focalloss.backends` for the contract)."""

from __future__ import annotations

import os
import warnings
from importlib import import_module

import torch

from . import torch_ops, triton_ops

_HOW_TO_GET = {
    "cpu": "focalloss compiles it when installed from source with a C compiler (gcc or clang) on a "
           "glibc or other POSIX system; reinstall with one available, or use backend='torch'",
    "triton": "install it with pip install 'focalloss[triton]' (needs a CUDA GPU), or use backend='torch'",
}
_DEVICE = {"cpu": "CPU tensors", "triton": "CUDA tensors"}

LOGIT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# what the fused kernels read for the other tensor arguments (converted inside the backend)
_READABLE = {
    "targets": LOGIT_DTYPES + (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64),
    "weight": LOGIT_DTYPES + (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64),
    "alpha": LOGIT_DTYPES,
    "normalizer": LOGIT_DTYPES + (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64),
}
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def _module(name):
    return import_module(f".{name}_ops", __package__)


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


def _unreadable(name, tensor, logits):
    """Why a fused kernel cannot take ``tensor`` (the argument ``name``) as it is, or None."""
    if type(tensor) not in _PLAIN:
        return f"{name} is a {type(tensor).__name__}, a tensor subclass, not a plain torch.Tensor"
    if torch._C._functorch.is_functorch_wrapped_tensor(tensor):
        return f"{name} is transformed by torch.func (grad, vmap, jvp)"
    if tensor.layout != torch.strided or tensor.is_nested:
        return f"{name} is not a dense tensor (layout {tensor.layout}{', nested' if tensor.is_nested else ''})"
    # the normalizer never enters a kernel: like any scalar it may also sit on the CPU
    if tensor.device != logits.device and not (name == "normalizer" and tensor.device.type == "cpu"):
        return f"{name} is on {tensor.device} and the logits on {logits.device}"
    dtypes = LOGIT_DTYPES if name == "logits" else _READABLE[name]
    if tensor.dtype not in dtypes:
        return f"{name} has dtype {tensor.dtype}, which the fused kernels do not read"
    if tensor.is_neg() or tensor.is_conj():
        return f"{name} is a lazily negated or conjugated view"
    if name != "logits" and tensor.requires_grad:
        return f"{name} requires a gradient and the fused kernels differentiate the logits only"
    if torch.autograd.forward_ad._current_level >= 0 and torch.autograd.forward_ad.unpack_dual(tensor).tangent \
            is not None:
        return f"{name} carries a forward-mode tangent (torch.autograd.forward_ad)"
    return None


def gate(logits, **tensors):
    """Why the call cannot enter a fused backend, naming the argument, or None when it can."""
    for name, tensor in {"logits": logits, **tensors}.items():
        if isinstance(tensor, torch.Tensor):
            reason = _unreadable(name, tensor, logits)
            if reason is not None:
                return reason
    return None


def select(name, logits, targets, *, weight=None, alpha=None, normalizer=None):
    """The backend module that computes a loss of ``logits`` for ``backend=name``.

    ``"auto"`` takes the fused CPU kernels for CPU tensors and Triton for CUDA tensors when they are
    available and :func:`gate` lets the call in, and plain PyTorch otherwise (so also while
    ``torch.compile`` traces or ``torch.func`` transforms the call, for tensor subclasses such as
    DTensor, and when the targets or a per-class alpha need a gradient), with a warning that says why
    when the installed triton is too old for the kernels. A named fused backend that cannot run the
    call raises a message saying why.
    """
    if name == "torch":
        return torch_ops
    if torch.compiler.is_compiling():  # first: the checks below are not traceable
        if name == "auto":
            return torch_ops
        raise ValueError(f"backend={name!r} cannot run under torch.compile; use backend='torch' (or 'auto')")
    reason = gate(logits, targets=targets, weight=weight, alpha=alpha, normalizer=normalizer)
    if name == "auto":
        if reason is not None:
            return torch_ops
        for candidate in ("cpu", "triton"):
            if _fits(candidate, logits, named=False) and _import_problem(candidate) is None:
                return _module(candidate)
        too_old = triton_ops.unsupported_triton() if _fits("triton", logits, named=False) else None
        if too_old is not None:  # the call runs on plain PyTorch where Triton was meant to: say why
            warnings.warn(f"backend='auto' runs this call on the torch backend: {too_old}", stacklevel=2)
        return torch_ops
    if type(logits) in _PLAIN and not _fits(name, logits, named=True):
        raise ValueError(f"backend={name!r} runs on {_DEVICE[name]}; got logits on {logits.device}")
    problem = _import_problem(name)
    if problem is not None:
        raise RuntimeError(f"backend={name!r} is not available ({problem}): {_HOW_TO_GET[name]}")
    if reason is not None:
        raise ValueError(f"backend={name!r} cannot compute this call: {reason}; use backend='torch' (or 'auto')")
    return _module(name)
