"""Fused CPU backend: one pass over the logits per direction, gradients from the analytic formulas.

The loops live in the C extension ``focalloss.backends._cpu_kernels`` (``cpu_kernels.c``), built when
the package is installed (a C compiler, no torch headers). They run on contiguous float32 or float64
data; float16 / bfloat16 logits are converted to float32 first. See ``backends/__init__.py`` for the
contract.

Memory kept for backward, beyond the inputs: the binary losses keep d loss / d x in float32 (4 bytes
per logit; backward is one multiplication by the upstream gradient) for float32 and half-precision
logits, and recompute it in backward for float64 logits; nothing when the logits need no gradient.
The softmax losses keep row statistics and recompute the softmax in backward, as ``cross_entropy``
does: 3 numbers per position for class indices without smoothing (focal, hard truncation), 8
otherwise. Targets of another dtype than int64 indices or the
compute dtype are converted, and the converted copy is kept.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from .torch_ops import _round_down

_KINDS = {"focal": 0, "softened": 1, "hard_truncation": 2, "focal_star": 3}


def _kernels():
    from . import _cpu_kernels

    return _cpu_kernels


def available():
    """True when the compiled kernels were built and import (an ImportError says why not)."""
    _kernels()
    return True


def _compute_dtype(x):
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _threads(numel):
    """torch's thread count for big inputs; one thread below 2**17 logits, where starting a thread
    costs more than it saves. Results do not depend on it (the work is split in fixed blocks)."""
    return torch.get_num_threads() if numel >= 1 << 17 else 1


def _ptr(tensor):
    return 0 if tensor is None else tensor.data_ptr()


def _gamma_mode(gamma):
    return 1 if gamma == 0 else 2 if gamma == 2 else 0


# --------------------------------------------------------------------------------------------------
# Binary losses
# --------------------------------------------------------------------------------------------------
def _binary_scalars(kind, params, dtype):
    """(p1, p2, gamma_mode) as the kernel takes them."""
    if kind == "focal":
        return params["gamma"], 0.0, _gamma_mode(params["gamma"])
    if kind == "focal_star":
        return params["gamma"], params["beta"], 0
    if kind == "softened":
        return params["k"], 0.0, 0
    threshold = params["threshold"]
    if threshold in (0.0, 1.0):
        return (math.inf if threshold else -math.inf), 0.0, 0
    return _round_down(math.log(threshold) - math.log1p(-threshold), dtype), 0.0, 0


def _binary_kernel(kind, xc, tc, alpha, params, *, reduce, grad):
    """Run the binary kernel on compute-dtype tensors: the summed or elementwise loss; d loss / d x
    is written into ``grad`` unless it is None."""
    n = xc.numel()
    p1, p2, gamma_mode = _binary_scalars(kind, params, xc.dtype)
    loss = None if reduce else torch.empty_like(xc)
    partial = torch.empty(-(-n // 4096), dtype=torch.float64) if reduce else None
    _kernels().binary(
        xc.dtype == torch.float64, _KINDS[kind], n, xc.data_ptr(), tc.data_ptr(),
        math.nan if alpha is None else float(alpha), float(p1), float(p2), gamma_mode,
        _ptr(loss), _ptr(grad), _ptr(partial), _threads(n),
    )
    return partial.sum().to(xc.dtype) if reduce else loss


class _BinaryLoss(torch.autograd.Function):
    """float32 (and half) logits keep d loss / d x from the forward pass: 4 bytes per logit. float64
    logits keep nothing new and run the kernel again in backward, to stay within that budget."""

    @staticmethod
    def forward(ctx, x, t, kind, alpha, params, reduce):
        dtype = _compute_dtype(x)
        xc, tc = x.to(dtype).contiguous(), t.to(dtype).contiguous()
        keep = ctx.needs_input_grad[0] and dtype != torch.float64
        grad = torch.empty_like(xc) if keep else None
        loss = _binary_kernel(kind, xc, tc, alpha, params, reduce=reduce, grad=grad)
        if keep:
            ctx.save_for_backward(grad)
        elif ctx.needs_input_grad[0]:
            ctx.save_for_backward(xc, tc)
            ctx.settings = (kind, alpha, params)
        ctx.input_dtype = x.dtype
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        if ctx.input_dtype == torch.float64:
            xc, tc = ctx.saved_tensors
            grad = torch.empty_like(xc)
            kind, alpha, params = ctx.settings
            _binary_kernel(kind, xc, tc, alpha, params, reduce=True, grad=grad)
        else:
            (grad,) = ctx.saved_tensors
        return (grad_output * grad).to(ctx.input_dtype), None, None, None, None, None


def binary_loss(kind, x, t, alpha, params, *, reduce):
    """See the contract in ``backends/__init__.py``."""
    return _BinaryLoss.apply(x, t, kind, alpha, params, reduce)


# --------------------------------------------------------------------------------------------------
# Softmax losses
# --------------------------------------------------------------------------------------------------
def _softmax_p1(kind, params, dtype):
    if kind == "focal":
        return params["gamma"]
    if kind == "softened":
        return params["k"]
    threshold = params["threshold"]
    return _round_down(math.log(threshold), dtype) if threshold > 0 else -math.inf


class _SoftmaxLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, target, kind, alpha, params, label_smoothing, counted):
        dtype = _compute_dtype(x)
        n, c = x.shape[0], x.shape[1]
        s = math.prod(x.shape[2:])
        xc = x.to(dtype).contiguous().view(n, c, s)
        is_index = not target.is_floating_point()
        index = target.to(torch.int64).contiguous() if is_index else None
        probs = None if is_index else target.to(dtype).contiguous()
        alpha = None if alpha is None else alpha.to(dtype).contiguous()
        counted = None if counted is None else counted.contiguous().view(torch.uint8)
        # class indices without smoothing (focal, hard truncation): 3 numbers per position, else 8;
        # backward finds the positions that do not count from them, so the mask is not kept
        sparse = is_index and label_smoothing == 0 and kind != "softened"
        loss = torch.empty((n, s), dtype=dtype)
        stats = torch.empty((n, s, 3 if sparse else 8), dtype=dtype)
        p1 = _softmax_p1(kind, params, dtype)
        gamma_mode = _gamma_mode(params["gamma"]) if kind == "focal" else 0
        scalars = (_KINDS[kind], n, c, s)
        inputs = (xc.data_ptr(), _ptr(index), _ptr(probs), _ptr(alpha), _ptr(counted), float(label_smoothing),
                  float(p1), gamma_mode)
        _kernels().softmax(dtype == torch.float64, False, *scalars, *inputs, loss.data_ptr(), stats.data_ptr(),
                           0, 0, _threads(xc.numel()), stats.shape[2])
        # the logits as given (a half-precision input is converted again in backward, not kept twice)
        ctx.save_for_backward(x, index, probs, alpha, stats)
        ctx.scalars, ctx.settings = scalars, (float(label_smoothing), float(p1), gamma_mode)
        ctx.input_shape, ctx.input_dtype = x.shape, x.dtype
        return loss.view((n,) + tuple(x.shape[2:]))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        x, index, probs, alpha, stats = ctx.saved_tensors
        xc = x.to(stats.dtype).contiguous().view(ctx.scalars[1:])
        grad_loss = grad_loss.to(xc.dtype).contiguous()
        grad = torch.empty_like(xc)
        eps, p1, gamma_mode = ctx.settings
        _kernels().softmax(
            xc.dtype == torch.float64, True, *ctx.scalars, xc.data_ptr(), _ptr(index), _ptr(probs), _ptr(alpha),
            0, eps, p1, gamma_mode, 0, stats.data_ptr(), grad_loss.data_ptr(), grad.data_ptr(),
            _threads(xc.numel()), stats.shape[2],
        )
        return grad.view(ctx.input_shape).to(ctx.input_dtype), None, None, None, None, None, None


def softmax_loss(kind, x, target, alpha, params, *, label_smoothing, counted):
    """See the contract in ``backends/__init__.py``."""
    return _SoftmaxLoss.apply(x, target, kind, alpha, params, label_smoothing, counted)
