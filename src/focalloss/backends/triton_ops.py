r"""Triton backend: fused forward kernels with analytic backward kernels, for CUDA tensors.

Implements the contract of :mod:`focalloss.backends`. The kernels live in
:mod:`focalloss.backends.triton_kernels`, imported on the first call, so importing this module never
imports triton. With ``TRITON_INTERPRET=1`` set before that first import, the same kernels run in
Triton's interpreter on CPU tensors (how the tests check them without a GPU).

Kept for backward: the inputs, plus two compute-dtype numbers per position for the softmax family
(the maximum logit and a sum of exponentials); the binary family recomputes its derivative from
``x``, ``t`` and the weights. No reduction uses atomics: the binary sum adds per-program partial
sums in a fixed order, so the same inputs give the same bits. A backward run with grad mode on
(``create_graph=True``) is handed to the torch backend, so that its result has a graph.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import re

import torch

from .. import losses
from . import torch_ops
from ._shared import compute_dtype, differentiable_backward, fixed_order_sum

__all__ = ["available", "binary_loss", "softmax_loss"]

_INSTALL_HINT = 'the Triton backend needs the triton package: pip install "focalloss[triton]"'

# Binary kernels: elements per program. Softmax kernels: most logits in one (classes x positions)
# tile; fewer when a tile spans several positions of (N, C, d1, ...) logits, whose per-position
# statistics then take registers too (ptxas, sm_90: ~100-170 per thread at 4096); at most
# _MAX_BLOCK_POSITIONS positions. The tests lower them so that every pass crosses several tiles.
_BINARY_BLOCK = 2048
_TILE_ELEMENTS = 4096
_SPATIAL_TILE_ELEMENTS = 2048
_MAX_BLOCK_POSITIONS = 64

# The oldest Triton these kernels are for (pyproject.toml's `triton` extra says the same; a test holds
# them together): before 3.4 a tl.float64 annotation of a scalar argument is ignored and every Python
# float is bound as float32, so float64 logits would get float32 hyperparameters (0.9 and 0.1 / C off
# by ~2.6e-8, cuts no longer exact); before 3.3 a jit function cannot unpack nested tuples either.
MIN_TRITON = (3, 4)


def unsupported_triton():
    """Why the installed triton is too old for these kernels, or None (also when it is not installed)."""
    if importlib.util.find_spec("triton") is None:
        return None
    import triton

    found = re.match(r"(\d+)\.(\d+)", triton.__version__)
    if found is None or tuple(map(int, found.groups())) >= MIN_TRITON:
        return None
    return (f"the Triton backend needs triton>={MIN_TRITON[0]}.{MIN_TRITON[1]} (float64 hyperparameters, "
            f"the kernels' syntax); triton {triton.__version__} is installed")


def _compile_options(spec):
    """Fused multiply-adds (Triton's default so far, stated so that results do not move when it
    changes), but not for the softened losses: their exact identities (-k d - mu = 0 for the top
    class of softmax(-k x), A_b - w_b L_b u_b = 0 in the backward) need each product rounded before
    it is subtracted, and a contraction into an FMA subtracts the exact product instead (relative
    errors 1.9e-6 to 1.5e-3 at k = 10 for logit gaps 1 to 1000, simulated)."""
    return {"enable_fp_fusion": spec.kind != "softened"}


def available():
    """Whether the Triton backend can run here: triton is installed, and CUDA is available or
    ``TRITON_INTERPRET=1`` asks for Triton's interpreter (CPU tensors). An installed triton older
    than :data:`MIN_TRITON` raises an ImportError that says so."""
    if importlib.util.find_spec("triton") is None:
        return False
    too_old = unsupported_triton()
    if too_old is not None:
        raise ImportError(f"{too_old}: {_INSTALL_HINT}")
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"


def _kernels():
    if importlib.util.find_spec("triton") is None:
        raise ImportError(_INSTALL_HINT)
    too_old = unsupported_triton()
    if too_old is not None:
        raise ImportError(f"{too_old}: {_INSTALL_HINT}")
    from . import triton_kernels

    return triton_kernels


def _tl_compute_dtype(x):
    import triton.language as tl

    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _on_device(x):
    """Launch on x's GPU, not the current one; nothing to select for CPU tensors."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def _upstream(grad_output):
    """(tensor, is_scalar): a gradient broadcast from one number (strides 0) is passed as that number."""
    if all(stride == 0 for stride in grad_output.stride()):
        return grad_output.as_strided((), ()), True
    return grad_output.contiguous(), False


def _cdiv(a, b):
    return -(-a // b)


def _next_power_of_2(n):
    return 1 << max(0, n - 1).bit_length()


# --------------------------------------------------------------------------------------------------
# Binary losses
# --------------------------------------------------------------------------------------------------
class _BinaryLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, t, weight, spec, alpha, params, reduce):
        kernels = _kernels()
        numel = x.numel()
        programs = _cdiv(numel, _BINARY_BLOCK)
        out = torch.empty(programs if reduce else x.shape, dtype=compute_dtype(x), device=x.device)
        if numel:
            p1, p2, _ = spec.kernel_scalars(params, float64=x.dtype == torch.float64)
            cuts, gammas = spec.kernel_schedule(params, float64=x.dtype == torch.float64)
            with _on_device(x):
                kernels.binary_forward_kernel[(programs,)](
                    x, t, _expanded(weight, x), out, numel, *spec.side_alphas(alpha), p1, p2, *cuts, *gammas,
                    spec.kernel_p3(params, float64=x.dtype == torch.float64), KIND=spec.code,
                    HAS_WEIGHT=weight is not None, REDUCE=reduce,
                    COMPUTE=_tl_compute_dtype(x), BLOCK=_BINARY_BLOCK, num_warps=8, **_compile_options(spec),
                )
        ctx.save_for_backward(x, t, weight)
        ctx.spec, ctx.alpha, ctx.params, ctx.reduce = spec, alpha, params, reduce
        return fixed_order_sum(out) if reduce else out

    @staticmethod
    def backward(ctx, grad_output):
        x, t, weight = ctx.saved_tensors
        if torch.is_grad_enabled():  # a graph is wanted: the torch backend's ops, recomputed
            def torch_loss(x_):
                return torch_ops.binary_loss(ctx.spec.kind, x_, t, ctx.alpha, ctx.params, weight=weight,
                                             reduce=ctx.reduce)

            return (differentiable_backward(torch_loss, (x,), grad_output),) + (None,) * 6
        grad_x = torch.empty_like(x)
        numel = x.numel()
        if numel:
            upstream, scalar = _upstream(grad_output)
            p1, p2, _ = ctx.spec.kernel_scalars(ctx.params, float64=x.dtype == torch.float64)
            cuts, gammas = ctx.spec.kernel_schedule(ctx.params, float64=x.dtype == torch.float64)
            with _on_device(x):
                _kernels().binary_backward_kernel[(_cdiv(numel, _BINARY_BLOCK),)](
                    x, t, _expanded(weight, x), upstream, grad_x, numel, *ctx.spec.side_alphas(ctx.alpha),
                    p1, p2, *cuts, *gammas, ctx.spec.kernel_p3(ctx.params, float64=x.dtype == torch.float64),
                    KIND=ctx.spec.code, HAS_WEIGHT=weight is not None, SCALAR_GRAD_OUT=scalar, COMPUTE=_tl_compute_dtype(x),
                    BLOCK=_BINARY_BLOCK, num_warps=8, **_compile_options(ctx.spec),
                )
        return (grad_x,) + (None,) * 6


def _expanded(weight, x):
    """The weights as a contiguous tensor of x's shape (a copy only when they broadcast), or x as a
    pointer the kernel does not read."""
    return x if weight is None else weight.expand(x.shape).contiguous()


def binary_loss(kind, x, t, alpha, params, *, weight=None, reduce=False, divisor=1):
    r"""Binary loss :math:`\ell = t\,a_+\,A(x) + (1 - t)\,a_-\,A(-x)`, elementwise or summed.

    :math:`A` is the loss of a positive label (:mod:`focalloss.reference`): focal
    :math:`-(1-p)^\gamma \log p`, FL* :math:`-\log\sigma(\gamma x + \beta)/\gamma`, softened
    :math:`-\sigma(-kx)\log p`, hard truncation :math:`-[x \le \mathrm{logit}(m)]\log p`, with
    :math:`p = \sigma(x)`, each element times its ``weight``; :math:`(a_+, a_-)` is the registry's
    ``side_alphas(alpha)``, :math:`(\alpha, 1 - \alpha)` for the focal-type losses. The gradient
    :math:`t a_+ A'(x) - (1-t) a_- A'(-x)` is recomputed in backward from ``x``, ``t`` and
    the weights: nothing per element is kept. The sum adds per-program partial sums in a fixed
    order (no atomics): the same inputs give the same bits.

    Args:
        kind: a key of ``losses.BINARY``.
        x: finite logits, float16 / bfloat16 / float32 / float64, on a CUDA device (or the CPU
            under ``TRITON_INTERPRET=1``). Read in their own dtype, computed in float32 (float64
            for float64).
        t: targets in [0, 1], x's shape, any floating dtype.
        alpha: in [0, 1], split into the two terms' weights by the registry entry, or None: both 1.
        params: the kind's checked hyperparameters, e.g. ``{"gamma"}`` or ``{"k"}``.
        weight: None, or weights broadcastable to x; an element of weight 0 has loss and gradient
            0, whatever its logit and target hold.
        reduce: True for the sum of the elementwise losses, False for the losses themselves.
        divisor: with ``reduce=True``, what the sum is divided by (1, or the count of a mean).

    Returns:
        The losses in the compute dtype, differentiable with respect to ``x``.

    Shape:
        - x, t: ``(*)``; output: ``(*)``, or ``()`` with ``reduce=True``.
    """
    alpha = None if alpha is None else float(alpha)
    if not t.is_floating_point():
        t = t.to(x.dtype)
    total = _BinaryLoss.apply(x.contiguous(), t.contiguous(), weight, losses.BINARY[kind], alpha, params, reduce)
    return total / divisor if reduce else total


# --------------------------------------------------------------------------------------------------
# Softmax losses
# --------------------------------------------------------------------------------------------------
def _softmax_tiles(num_classes, positions, rows):
    """(BLOCK_C, BLOCK_P, num_warps). Rows of (N, C) logits are contiguous along the classes: a tile
    takes as many classes as fit, then several rows when C is small. Otherwise consecutive positions
    are contiguous: a tile takes up to _MAX_BLOCK_POSITIONS of them, then the classes that fit."""
    if positions == 1:
        block_c = min(_next_power_of_2(num_classes), _TILE_ELEMENTS)
        block_p = min(_TILE_ELEMENTS // block_c, _MAX_BLOCK_POSITIONS, _next_power_of_2(rows))
    else:
        block_p = min(_next_power_of_2(rows), _MAX_BLOCK_POSITIONS)
        block_c = min(_next_power_of_2(num_classes), max(1, _SPATIAL_TILE_ELEMENTS // block_p))
    return block_c, block_p, 8 if block_c * block_p >= 2048 else 4


def _softmax_launch(kernel, x, arguments, launch, **flags):
    """Runs a softmax kernel over every position of x: (N, C, d1, ...) seen as (N, C, S)."""
    positions = math.prod(x.shape[2:])
    rows = x.shape[0] * positions
    if rows == 0:
        return
    block_c, block_p, warps = _softmax_tiles(x.shape[1], positions, rows)
    with _on_device(x):
        kernel[(_cdiv(rows, block_p),)](
            *arguments, x.shape[1], positions, rows, *launch["scalars"], **launch["flags"], **flags,
            BLOCK_C=block_c, BLOCK_P=block_p, num_warps=warps, **launch["options"],
        )


def _pointer(optional, x):
    """A tensor the kernel reads only when its flag is set; otherwise any pointer will do."""
    if optional is None:
        return x
    return optional.view(torch.uint8) if optional.dtype == torch.bool else optional


class _SoftmaxLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, target, alpha, counted, spec, params, label_smoothing):
        kernels = _kernels()
        rows = x.shape[0] * math.prod(x.shape[2:])
        loss = torch.empty(x.shape[:1] + x.shape[2:], dtype=compute_dtype(x), device=x.device)
        stats = torch.empty((2, rows), dtype=compute_dtype(x), device=x.device)
        p1, p2, _ = spec.kernel_scalars(params, float64=x.dtype == torch.float64)
        cuts, gammas = spec.kernel_schedule(params, float64=x.dtype == torch.float64)
        launch = {
            "scalars": (p1, p2, 1.0 - label_smoothing, label_smoothing / x.shape[1], *cuts, *gammas),
            "flags": {
                "KIND": spec.code,
                "INDEX_TARGET": not target.is_floating_point(),
                "SMOOTHING": label_smoothing > 0,
                "HAS_ALPHA": alpha is not None,
                "HAS_COUNTED": counted is not None,
                "COMPUTE": _tl_compute_dtype(x),
            },
            "options": _compile_options(spec),
        }
        _softmax_launch(kernels.softmax_forward_kernel, x,
                        (x, target, _pointer(alpha, x), _pointer(counted, x), loss, stats), launch)
        ctx.save_for_backward(x, target, alpha, counted, stats)
        ctx.launch, ctx.spec, ctx.params, ctx.label_smoothing = launch, spec, params, label_smoothing
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        x, target, alpha, counted, stats = ctx.saved_tensors
        if torch.is_grad_enabled():  # a graph is wanted: the torch backend's ops, recomputed
            def torch_loss(x_):
                return torch_ops.softmax_loss(ctx.spec.kind, x_, target, alpha, ctx.params,
                                              label_smoothing=ctx.label_smoothing, counted=counted)

            return (differentiable_backward(torch_loss, (x,), grad_output),) + (None,) * 6
        grad_x = torch.empty_like(x)
        upstream, scalar = _upstream(grad_output)
        arguments = (x, target, _pointer(alpha, x), _pointer(counted, x), stats, upstream, grad_x)
        _softmax_launch(_kernels().softmax_backward_kernel, x, arguments, ctx.launch, SCALAR_GRAD_OUT=scalar)
        return (grad_x,) + (None,) * 6


def softmax_loss(kind, x, target, alpha, params, *, label_smoothing, counted):
    r"""Multi-class loss per position :math:`\ell = \sum_c w_c\,\varphi_c(x)`, :math:`w_c = \alpha_c q_c`.

    :math:`q` is the one-hot row of a class index or the given probabilities, smoothed to
    :math:`(1-\varepsilon) q + \varepsilon / C`. Per class, with :math:`p = \mathrm{softmax}(x)`:
    focal :math:`\varphi_c = (1-p_c)^\gamma(-\log p_c)`, softened
    :math:`\varphi_c = \mathrm{softmax}(-kx)_c(-\log p_c)`, hard truncation
    :math:`\varphi_c = -\log p_c` where :math:`p_c \le` threshold, else 0. The gradient is analytic
    (:mod:`focalloss.reference`); for a class index without smoothing it is a per-position factor
    times ``onehot - softmax``, like cross-entropy's, and forward and backward each read the logits
    once. ``(N, C, d1, ...)`` logits are read in place (no transposed copy), and any C works: the
    classes are walked in tiles with an online log-sum-exp. Backward keeps two compute-dtype numbers
    per position, and nothing is ever atomically added: the same inputs give the same bits.

    Args:
        kind: a key of ``losses.SOFTMAX``.
        x: logits with C >= 1 classes in dimension 1 (-inf: a masked class), float16 / bfloat16 /
            float32 / float64, on a CUDA device (or the CPU under ``TRITON_INTERPRET=1``). Read in
            their own dtype, computed in float32 (float64 for float64).
        target: integer class indices ``(N, d1, ...)``, or probabilities like ``x`` (any floating
            dtype). An index outside [0, C) at a counted position gives a NaN loss and gradient.
        alpha: None or a ``(C,)`` tensor of per-class weights.
        params: the kind's checked hyperparameters, e.g. ``{"gamma"}`` or ``{"threshold"}``.
        label_smoothing: epsilon in [0, 1].
        counted: None, or a bool tensor ``(N, d1, ...)``; positions that do not count get loss 0
            and gradient 0, and their logits and targets are never read.

    Returns:
        The per-position loss in the compute dtype, differentiable with respect to ``x``.

    Shape:
        - x: ``(N, C, d1, ..., dk)``; target: ``(N, d1, ..., dk)`` or like x; output:
          ``(N, d1, ..., dk)``.
    """
    alpha, counted = (None if a is None else a.contiguous() for a in (alpha, counted))
    return _SoftmaxLoss.apply(x.contiguous(), target.contiguous(), alpha, counted, losses.SOFTMAX[kind], params,
                              float(label_smoothing))
