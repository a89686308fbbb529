"""Fused CPU backend: one pass over the logits per direction, gradients from the analytic formulas.

The loops live in the C extension ``focalloss.backends._cpu_kernels`` (``cpu_kernels.c``), built when
the package is installed (a C compiler, no torch headers). They run on contiguous float32 or float64
data; float16 / bfloat16 logits are converted to float32 first. See ``backends/__init__.py`` for the
contract; the kind codes and kernel scalars come from :mod:`focalloss.losses`.

Memory kept for backward, beyond the inputs: the binary losses keep d loss / d x in float32 (4 bytes
per logit) for float32 and half-precision logits. A mean's gradient is written already divided;
backward scales it in place by any other upstream gradient and hands that same tensor back, so a
forward+backward allocates one gradient, a mean's backward touches nothing per element, and a
retained graph's second backward is refused. float64 logits recompute it in backward instead, and
nothing is kept when the logits need no gradient.
The softmax losses keep row statistics and recompute the softmax in backward, as ``cross_entropy``
does: 3 numbers per position for a single target (a class index without smoothing; focal, hard
truncation), 8 otherwise. Targets of another dtype than int64 indices or the compute dtype are
converted, and the converted copy is kept.

A backward run with grad mode on (``create_graph=True``, as for a gradient penalty) is handed to
the torch backend, recomputed from the saved inputs, so that its result has a graph.

Threads: the loops run on torch's own OpenMP threads where the runtime torch loaded can be found
(Linux builds of torch), else on POSIX threads of the extension's own (:func:`thread_pool` says which).
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import sys

import torch

from .. import losses
from . import torch_ops
from ._shared import compute_dtype, differentiable_backward, fixed_order_sum


def _kernels():
    from . import _cpu_kernels

    if not _pool_chosen:
        _choose_thread_pool(_cpu_kernels)
    return _cpu_kernels


_pool_chosen = False
_OPENMP_NAMES = re.compile(r"lib(gomp|omp|iomp5)([-.][^/]*)?\.(so|dylib)(\.[0-9]+)*$")


def _torch_openmp_runtime():
    """The path of the OpenMP runtime torch runs its threads on, when it is loaded and can be told
    apart from any other (one such library in the process, or one inside torch's folder), else None."""
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        with open("/proc/self/maps") as maps:  # Linux; elsewhere the kernels keep their own threads
            fields = [line.split(None, 5) for line in maps]
    except OSError:
        return None
    loaded = {columns[5].strip() for columns in fields if len(columns) == 6}
    found = sorted(path for path in loaded if _OPENMP_NAMES.search(path))
    if len(found) > 1:
        torch_dir = os.path.dirname(os.path.realpath(torch.__file__)) + os.sep
        found = [path for path in found if os.path.realpath(path).startswith(torch_dir)]
    return found[0] if len(found) == 1 else None


def _choose_thread_pool(kernels):
    """Run the kernels on torch's own OpenMP threads where they can be found: threads of the kernels'
    own would compete for the cores with torch's, which spin for a while after every torch op."""
    global _pool_chosen
    _pool_chosen = True
    path = _torch_openmp_runtime()
    if path is None or not hasattr(os, "RTLD_NOLOAD"):
        return
    try:
        runtime = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)  # the copy already loaded, never a new one
        parallel = ctypes.cast(runtime.GOMP_parallel, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return
    kernels.use_openmp(parallel)


def available():
    """True when the compiled kernels were built and import (an ImportError says why not)."""
    _kernels()
    return True


def thread_pool():
    """What the kernels' threads are: ``"openmp"`` (torch's own OpenMP threads) or ``"pthreads"``
    (the extension's own, where torch's runtime could not be found)."""
    return _kernels().thread_pool()


def _threads(numel):
    """torch's thread count for big inputs; one thread below 2**17 logits, where starting a thread
    costs more than it saves. Results do not depend on it (the work is split in fixed blocks), nor
    on whether the threads are torch's OpenMP threads or the kernels' own (:func:`thread_pool`)."""
    return torch.get_num_threads() if numel >= 1 << 17 else 1


def _ptr(tensor):
    return 0 if tensor is None else tensor.data_ptr()


_HUGE_PAGES_FROM = 1 << 22  # bytes: two 2 MiB pages
_HUGE_PAGE = 1 << 21
# glibc's malloc maps buffers of 32 MiB and more afresh every time (its largest mmap threshold); smaller
# ones it recycles from its heap, already faulted in, which an aligned start would not help
_ALIGNED_FROM = 32 << 20


def _fresh_like(tensor):
    """A contiguous ``torch.empty_like``, backed by transparent huge pages where Linux grants them to
    a buffer of 4 MB or more (``huge_pages`` in cpu_kernels.c); from 32 MiB, starting on a 2 MiB
    boundary inside a torch buffer 2 MiB larger.

    A fresh 32 MB gradient is otherwise mapped 4 KiB at a time on first touch, some 8000 page faults
    a step, which cost more than the arithmetic on some machines. ``malloc`` maps a large buffer at
    any 4 KiB boundary, so that the advice leaves up to 2 MiB at each end on 4 KiB pages (530 faults
    for 40 MB), and two threads faulting those in at once took 36-47 ms of system time where one
    took 4 (first touch of 40 MB, AMD EPYC virtual machine); aligned, it is 19 faults and 2.4-3.6 ms
    on 2 threads. The bytes before the aligned start and after the tensor are never touched, so they
    are never faulted in. The storage is torch's own, so it resizes as any other (``resize_``,
    ``untyped_storage().resize_(0)``); the tensor starts at an offset into it."""
    nbytes = tensor.numel() * tensor.element_size()
    if nbytes < _ALIGNED_FROM:
        out = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    else:
        raw = torch.empty(nbytes + _HUGE_PAGE, dtype=torch.uint8, device=tensor.device)
        offset = -raw.data_ptr() % _HUGE_PAGE  # a multiple of torch's 64-byte alignment
        if offset % tensor.element_size():  # an allocator without that alignment: no aligned start
            return torch.empty_like(tensor, memory_format=torch.contiguous_format)
        # a tensor of its own on the storage, not a view of `raw`: a view returned from forward would
        # refuse in-place ops on the loss (reduction="none")
        out = torch.empty(0, dtype=tensor.dtype, device=tensor.device).set_(
            raw.untyped_storage(), offset // tensor.element_size(), tensor.shape)
    if nbytes >= _HUGE_PAGES_FROM:
        _kernels().huge_pages(out.data_ptr(), nbytes)
    return out


# --------------------------------------------------------------------------------------------------
# Binary losses
# --------------------------------------------------------------------------------------------------
def _binary_kernel(spec, xc, tc, wc, alpha, params, *, reduce, grad, divisor=1):
    """Run the binary kernel on contiguous compute-dtype tensors (``wc``: the weights expanded to
    x's shape, or None): the summed (divided by ``divisor``) or elementwise loss; d loss / d x,
    divided by ``divisor`` too, is written into ``grad`` unless it is None."""
    kernels = _kernels()
    n = xc.numel()
    p1, p2, gamma_mode = spec.kernel_scalars(params, float64=xc.dtype == torch.float64)
    cuts, gammas = spec.kernel_schedule(params, float64=xc.dtype == torch.float64)
    a_pos, a_neg = spec.side_alphas(alpha)
    loss = None if reduce else _fresh_like(xc)
    partial = torch.empty(-(-n // kernels.BINARY_BLOCK), dtype=torch.float64, device=xc.device) if reduce else None
    kernels.binary(
        float64=xc.dtype == torch.float64, kind=spec.code, n=n, x=xc.data_ptr(), t=tc.data_ptr(), w=_ptr(wc),
        a_pos=float(a_pos), a_neg=float(a_neg), p1=float(p1), p2=float(p2),
        gamma_mode=gamma_mode, loss=_ptr(loss), grad=_ptr(grad), partial=_ptr(partial), threads=_threads(n),
        cuts=cuts, gammas=gammas, p3=float(spec.kernel_p3(params, float64=xc.dtype == torch.float64)),
        grad_scale=1.0 / divisor,
    )
    return (fixed_order_sum(partial) / divisor).to(xc.dtype) if reduce else loss


def _binary_inputs(x, t, weight):
    dtype = compute_dtype(x)
    wc = None if weight is None else weight.to(dtype).expand(x.shape).contiguous()
    return x.to(dtype).contiguous(), t.to(dtype).contiguous(), wc


class _BinaryLoss(torch.autograd.Function):
    """float32 (and half) logits keep d loss / d x from the forward pass: 4 bytes per logit, and
    backward hands that tensor back, scaled in place, so a forward+backward allocates one gradient
    (a retained graph's second backward is then refused with its own error). float64 logits keep
    nothing new and run the kernel again in backward, to stay within that budget."""

    @staticmethod
    def forward(ctx, x, t, weight, spec, alpha, params, reduce, divisor):
        xc, tc, wc = _binary_inputs(x, t, weight)
        keep = ctx.needs_input_grad[0] and xc.dtype != torch.float64
        grad = _fresh_like(xc) if keep else None
        loss = _binary_kernel(spec, xc, tc, wc, alpha, params, reduce=reduce, grad=grad, divisor=divisor)
        if ctx.needs_input_grad[0]:
            # the caller's tensors (no copies): for the float64 recomputation and a graph in backward
            ctx.save_for_backward(x, t, weight, grad)
            ctx.spec, ctx.alpha, ctx.params, ctx.reduce, ctx.divisor = spec, alpha, params, reduce, divisor
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        if getattr(ctx, "handed_back", False):  # before saved_tensors, whose version check would fire
            raise RuntimeError(
                "a second backward through a focalloss binary loss on backend='cpu' (retain_graph=True): the first "
                "one handed the gradient saved in forward back to autograd, scaled in place, so it is gone. Compute "
                "the loss again for each backward, or pass backend='torch'"
            )
        x, t, weight, grad = ctx.saved_tensors
        if torch.is_grad_enabled():
            def torch_loss(x_):
                return torch_ops.binary_loss(ctx.spec.kind, x_, t, ctx.alpha, ctx.params, weight=weight,
                                             reduce=ctx.reduce, divisor=ctx.divisor)

            return (differentiable_backward(torch_loss, (x,), grad_output),) + (None,) * 7
        if grad is None:  # float64: recomputed
            xc, tc, wc = _binary_inputs(x, t, weight)
            grad = _fresh_like(xc)
            _binary_kernel(ctx.spec, xc, tc, wc, ctx.alpha, ctx.params, reduce=True, grad=grad, divisor=ctx.divisor)
        else:
            ctx.handed_back = True
        if not _is_one(grad_output):  # the gradient is scaled where it lies: no second full-size tensor
            grad.mul_(grad_output)
        return (grad.to(x.dtype),) + (None,) * 7


def _is_one(grad_output):
    """Whether the upstream gradient is 1 everywhere (``loss.backward()`` of a sum or mean), seen
    without a pass over the tensor."""
    return grad_output.numel() == 0 or _uniform_value(grad_output) == 1


def _uniform_value(grad_output):
    """The one value of an upstream gradient that holds one value by its layout (one element, or a
    broadcast, stride-0, view of one: what a mean or a sum hands back), else None."""
    steps = [stride for stride, size in zip(grad_output.stride(), grad_output.shape) if size != 1]
    if grad_output.numel() == 0 or any(steps):
        return None
    return grad_output[(0,) * grad_output.dim()].item()


def binary_loss(kind, x, t, alpha, params, *, weight=None, reduce=False, divisor=1):
    """See the contract in ``backends/__init__.py``. A mean (``divisor``) is divided inside: the
    gradient is formed divided, so that ``loss.backward()`` has nothing left to scale."""
    return _BinaryLoss.apply(x, t, weight, losses.BINARY[kind], alpha, params, reduce, divisor)


# --------------------------------------------------------------------------------------------------
# Softmax losses
# --------------------------------------------------------------------------------------------------
class _SoftmaxLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, target, spec, alpha, params, label_smoothing, counted):
        kernels = _kernels()
        dtype = compute_dtype(x)
        n, c = x.shape[0], x.shape[1]
        s = math.prod(x.shape[2:])
        xc = x.to(dtype).contiguous().view(n, c, s)
        is_index = not target.is_floating_point()
        index = target.to(torch.int64).contiguous() if is_index else None
        probs = None if is_index else target.to(dtype).contiguous()
        alpha = None if alpha is None else alpha.to(dtype).contiguous()
        counted = None if counted is None else counted.contiguous().view(torch.uint8)
        # a single target, focal or hard truncation: 3 numbers per position, else 8; backward finds
        # the positions that do not count from them, so the mask is not kept
        single_target = is_index and label_smoothing == 0 and spec.kind != "softened"
        stats_width = kernels.SINGLE_TARGET_STATS if single_target else kernels.ROW_STATS
        loss = torch.empty((n, s), dtype=dtype, device=x.device)
        stats = torch.empty((n, s, stats_width), dtype=dtype, device=x.device)
        p1, p2, gamma_mode = spec.kernel_scalars(params, float64=dtype == torch.float64)
        cuts, gammas = spec.kernel_schedule(params, float64=dtype == torch.float64)
        kernels.softmax(
            float64=dtype == torch.float64, backward=False, kind=spec.code, N=n, C=c, S=s, x=xc.data_ptr(),
            index=_ptr(index), probs=_ptr(probs), alpha=_ptr(alpha), counted=_ptr(counted),
            label_smoothing=float(label_smoothing), p1=float(p1), gamma_mode=gamma_mode, loss=loss.data_ptr(),
            stats=stats.data_ptr(), threads=_threads(xc.numel()), stats_width=stats_width, p2=float(p2), cuts=cuts,
            gammas=gammas,
        )
        # the logits as given (a half-precision input is converted again in backward, not kept twice)
        ctx.save_for_backward(x, index, probs, alpha, stats)
        ctx.spec, ctx.params, ctx.label_smoothing = spec, params, float(label_smoothing)
        ctx.kernel_scalars = (float(p1), float(p2), gamma_mode, cuts, gammas)
        return loss.view((n,) + tuple(x.shape[2:]))

    @staticmethod
    def backward(ctx, grad_loss):
        x, index, probs, alpha, stats = ctx.saved_tensors
        if torch.is_grad_enabled():
            return (_differentiable_softmax_backward(ctx, x, index, probs, alpha, stats, grad_loss),
                    None, None, None, None, None, None)
        n, c = x.shape[0], x.shape[1]
        s = math.prod(x.shape[2:])
        xc = x.to(stats.dtype).contiguous().view(n, c, s)
        grad_all = _uniform_value(grad_loss)  # a mean's or a sum's: no (N, S) copy of it to read
        grad_loss = None if grad_all is not None else grad_loss.to(xc.dtype).contiguous()
        grad = _fresh_like(xc)
        p1, p2, gamma_mode, cuts, gammas = ctx.kernel_scalars
        _kernels().softmax(
            float64=xc.dtype == torch.float64, backward=True, kind=ctx.spec.code, N=n, C=c, S=s, x=xc.data_ptr(),
            index=_ptr(index), probs=_ptr(probs), alpha=_ptr(alpha), label_smoothing=ctx.label_smoothing, p1=p1,
            gamma_mode=gamma_mode, stats=stats.data_ptr(), grad_loss=_ptr(grad_loss), grad=grad.data_ptr(),
            threads=_threads(xc.numel()), stats_width=stats.shape[2], p2=p2, cuts=cuts, gammas=gammas,
            grad_all=0.0 if grad_all is None else float(grad_all),
        )
        return grad.view(x.shape).to(x.dtype), None, None, None, None, None, None


def _differentiable_softmax_backward(ctx, x, index, probs, alpha, stats, grad_loss):
    """The torch backend's gradient, with a graph. Which positions count is read off the row
    statistics (the mask is not kept): with a single target a position that does not count has
    G = 0, and so has one whose loss is 0 near x (truncated, or zero-weighted), which changes nothing."""
    if stats.shape[2] == _kernels().SINGLE_TARGET_STATS:
        counted = stats[..., 2] != 0
    else:
        counted = stats[..., 3] >= 0
    counted = counted.view(x.shape[:1] + x.shape[2:])

    def torch_loss(x_):
        return torch_ops.softmax_loss(ctx.spec.kind, x_, probs if index is None else index, alpha, ctx.params,
                                      label_smoothing=ctx.label_smoothing, counted=counted)

    return differentiable_backward(torch_loss, (x,), grad_loss)


def softmax_loss(kind, x, target, alpha, params, *, label_smoothing, counted):
    """See the contract in ``backends/__init__.py``."""
    return _SoftmaxLoss.apply(x, target, losses.SOFTMAX[kind], alpha, params, label_smoothing, counted)
