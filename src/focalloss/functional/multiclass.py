r"""Multi-class (softmax) losses from logits, shaped like ``torch.nn.functional.cross_entropy``.

Each loss is a weighted sum of per-class terms :math:`\varphi_c`, the loss if all the target mass sat
on class :math:`c`:

.. math::

    \ell(x, q) = \sum_c \alpha_c\, q_c\, \varphi_c(x),

where :math:`q` is the target distribution: a one-hot row for a class index, the given row for
probability targets, and with label smoothing :math:`\varepsilon` the mixture
:math:`(1-\varepsilon) q + \varepsilon / C`, exactly as ``cross_entropy`` smooths.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .. import backends, losses
from .._typing import Backend, ClassAlpha, Normalizer, Reduction, Weight
from ..backends import sharded_ops
from . import _checks, _dtensor
from .._docs import shared_sections
from ._reduce import reduce

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = [  # the registry's names (tests/test_registry.py holds them to it); literal for type checkers
    "softmax_focal_loss",
    "softmax_poly1_focal_loss",
    "softmax_adaptive_focal_loss",
    "softmax_softened_loss",
    "softmax_hard_truncation_loss",
]


def _softmax_loss(
    spec, logits, target, *, alpha, reduction, weight, ignore_index, label_smoothing, normalizer, validate,
    backend, class_group=None, **hyperparameters,
):
    """The loss of the registry entry ``spec``: every public softmax function is one call to this."""
    params = spec.params(hyperparameters)
    reduction = _checks.reduction(reduction)
    backend = _checks.backend(backend)
    _checks.logits_tensor(logits, min_dim=2)
    _checks.probabilities_as_logits(logits, "softmax")
    class_group = _checks.class_group(class_group)
    if logits.shape[1] == 0 and class_group is None:  # a rank's shard may hold none: the total counts
        raise ValueError(f"logits must have at least one class in dimension 1; got shape {tuple(logits.shape)}")
    normalizer = _checks.normalizer_value(normalizer, reduction, logits)
    options = {"params": params, "ignore_index": _checks.ignore_index_value(ignore_index),
               "label_smoothing": _checks.unit_interval(label_smoothing, "label_smoothing"),
               "validate": validate, "backend": backend}
    if _dtensor.is_dtensor(logits):  # computed shard by shard, or with the classes sharded
        return _dtensor.softmax_loss(_per_position, spec, logits, target, weight=weight, alpha=alpha,
                                     reduction=reduction, normalizer=normalizer, **options)
    loss, count, positives = _per_position(spec, logits, target, weight=weight, alpha=alpha, normalizer=normalizer,
                                           class_group=class_group, **options)
    return reduce(
        loss, reduction=reduction, normalizer=normalizer, count=count, positives=positives
    ).to(logits.dtype)


def _per_position(spec, logits, target, *, weight, alpha, params, ignore_index, label_smoothing, validate, backend,
                  class_group, normalizer=None):
    """(the loss of every position, the number of positions that count, a callable giving the
    positives) of checked logits; with ``class_group`` they hold this rank's classes only."""
    num_classes, offset = logits.shape[1], 0
    if class_group is not None:
        offset, num_classes = _dtensor.class_offsets(logits.shape[1], class_group)
        if num_classes == 0:  # every rank has the same total: each raises this at once
            raise ValueError(f"logits must have at least one class in dimension 1 over the ranks of class_group; "
                             f"got shards of shape {tuple(logits.shape)} holding 0 classes in all")
    is_index = _checks.class_target(target, logits)
    row_shape = logits.shape[:1] + logits.shape[2:]
    weight = _checks.weight_tensor(weight, row_shape, logits)
    compute_dtype = torch.promote_types(logits.dtype, torch.float32)
    alpha = _checks.class_alpha(alpha, num_classes, logits, compute_dtype)
    check_values = _checks.wants_values(validate, logits, target, weight, alpha, normalizer)
    _checks.normalizer_values(normalizer, check_values)
    _checks.weight_values(weight, check_values)
    _checks.alpha_values(alpha, check_values)

    counted = _checks.not_ignored(target, ignore_index) if is_index else None
    if weight is not None:
        weight = weight.to(compute_dtype)
        nonzero = (weight != 0).expand(row_shape)
        counted = nonzero if counted is None else counted & nonzero
    if check_values:
        _checks.class_target_values(target, is_index, num_classes, ignore_index, counted, group=class_group)
    if isinstance(alpha, float):  # the same weight for every class: the backends take one per class
        alpha = torch.full((num_classes,), alpha, dtype=compute_dtype, device=logits.device)
    if class_group is None:
        impl = backends.select(backend, logits, target, weight=weight, alpha=alpha, normalizer=normalizer)
        loss = impl.softmax_loss(spec.kind, logits, target, alpha, params, label_smoothing=label_smoothing,
                                 counted=counted)
    else:
        local_alpha = None if alpha is None else alpha[offset:offset + logits.shape[1]]
        loss = sharded_ops.softmax_loss(spec.kind, logits, target, local_alpha, params,
                                        label_smoothing=label_smoothing, counted=counted, group=class_group,
                                        offset=offset, num_classes=num_classes)
    if weight is not None:
        loss = loss * weight
    if counted is None:
        count = loss.numel()
        positives = lambda: loss.new_full((), float(count))  # noqa: E731  (a fill, not a host copy)
    else:  # the loss is 0 where nothing counts: every backend writes 0 there
        count = counted.sum()
        positives = lambda: count  # noqa: E731
    return loss, count, positives


_COMMON_ARGS = """\
        reduction: ``"mean"`` (default) divides the sum by the number of positions that count (not
            ``ignore_index``, weight != 0); 0 when none does. Per-class ``alpha`` does not enter
            the denominator (``cross_entropy(weight=w)`` divides by the sum of ``w[target]``; pass
            ``normalizer=alpha[target].sum()`` for that). ``"sum"`` adds the losses up.
            ``"none"`` returns one loss per position.
        weight: optional tensor broadcastable to the target positions ``(N, d1, ...)``, finite and
            >= 0, multiplying each position's loss; a zero weight removes the position completely.
        ignore_index: class index whose positions are left out completely (loss, mean's count and
            gradient), even when their logits are inf or NaN. Default -100. Applies to class-index
            targets only.
        label_smoothing: epsilon in [0, 1], default 0. The target becomes
            ``(1 - epsilon) * q + epsilon / C``, as in ``cross_entropy``, and the loss is the sum
            above over every class.
        normalizer: ``None``; a number or one-element tensor that divides the summed loss instead
            of the count; or ``"positives"``: max(1, number of positions that count), since every
            counted position carries one unit of target mass. Under ``torch.distributed`` that
            count is summed over ranks and each rank divides by max(1, total) / world_size, so
            DDP's gradient averaging reproduces one process on the whole batch (every rank must
            call). Not allowed with ``reduction="sum"``; with ``"none"`` it divides every position.
        validate: checks that read values (class indices in range, probabilities in [0, 1] summing
            to 1, weights and alpha >= 0) run when ``True``, are skipped when ``False``, and by
            default (``None``) run for CPU tensors only, since on an accelerator they would wait
            for the device (an out-of-range index then fails inside the gather, or gives NaN on
            the fused backends).
        backend: ``"auto"`` (default): the fused CPU kernels for CPU tensors and the Triton
            kernels for CUDA tensors when available, else ``"torch"``. ``"torch"``: plain PyTorch
            ops, the one ``"auto"`` takes under ``torch.compile`` or ``torch.func``, for tensor
            subclasses, and when probability targets, weights or a per-class ``alpha`` need a
            gradient. ``"cpu"`` / ``"triton"``: that backend, or an error naming the argument it
            cannot take. They agree to rounding error in values and gradients, and every
            backend's gradient can be differentiated again (``create_graph=True``). A logit of
            -inf is a masked class: probability 0, and nothing at all without target mass.
        class_group: ``None`` (default), or the ``torch.distributed`` process group over which
            the classes are sharded (tensor parallel): ``logits`` then hold this rank's
            contiguous slice of the classes, the slices in rank order (any sizes). Class-index
            targets are the global ones, the same on every rank; probability targets are this
            rank's slice; ``alpha`` holds every class's weight. The row statistics are reduced
            over the group; every rank gets every position's loss, and the backward needs no
            communication (and has no second derivative). DTensor logits sharded over the classes
            take this path by themselves; DTensor logits sharded over the batch are computed
            shard by shard.
"""

_SHAPE = """
    Shape:
        - logits: ``(N, C)`` or ``(N, C, d1, ..., dk)``, floating point; float16 and bfloat16 are
          computed in float32.
        - target: class indices ``(N)`` or ``(N, d1, ..., dk)`` of an integer dtype, values in
          ``[0, C)`` or ``ignore_index``; or probabilities of the logits' shape and a floating
          dtype, each row summing to 1 over dimension 1.
        - output: a scalar, or ``(N)`` / ``(N, d1, ..., dk)`` for ``reduction="none"``; in the
          logits' dtype.
"""

_with_shared_docs = shared_sections(COMMON_ARGS=_COMMON_ARGS, SHAPE=_SHAPE)


@_with_shared_docs
def softmax_focal_loss(
    logits: Tensor, target: Tensor, *, alpha: ClassAlpha = None, gamma: float = 2.0, reduction: Reduction = "mean",
    weight: Weight = None, ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: Normalizer = None,
    validate: bool | None = None, backend: Backend = "auto", class_group: ProcessGroup | None = None,
) -> Tensor:
    r"""Multi-class focal loss from logits: cross-entropy scaled down on confident classes.

    .. math::

        \ell = \sum_c \alpha_c\, q_c\, (1 - p_c)^\gamma\, (-\log p_c), \qquad p = \mathrm{softmax}(x)

    For a class-index target :math:`y` without smoothing this is
    :math:`-\alpha_y (1-p_y)^\gamma \log p_y`. :math:`(1 - p_c)` is computed from the other classes'
    log-sum-exp, so loss and gradient stay finite and accurate when :math:`p_c` rounds to 1, for any
    gamma >= 0, logits up to +-1e4 and any dtype.

    Args:
        logits: raw scores, classes in dimension 1.
        target: class indices or class probabilities (see Shape).
        alpha: ``None`` (default): no weighting. A float >= 0 multiplies every class (it only
            rescales the loss; there is no "background class"). A length-C sequence or tensor of
            weights >= 0 gives class ``c`` the weight ``alpha[c]`` (e.g. from :func:`class_weights`).
        gamma: focusing parameter >= 0, default 2. ``gamma=0`` with ``alpha=None`` is
            ``cross_entropy``, label smoothing and ignore_index included.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import softmax_focal_loss
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> softmax_focal_loss(logits, torch.tensor([0, 1]), alpha=[1.0, 2.0, 0.5])
        tensor(2.6067)
    """
    return _softmax_loss(losses.SOFTMAX["focal"], **locals())


@_with_shared_docs
def softmax_poly1_focal_loss(
    logits: Tensor, target: Tensor, *, alpha: ClassAlpha = None, gamma: float = 2.0, epsilon: float = 1.0,
    reduction: Reduction = "mean", weight: Weight = None, ignore_index: int = -100, label_smoothing: float = 0.0,
    normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
    class_group: ProcessGroup | None = None,
) -> Tensor:
    r"""Multi-class poly-1 focal loss (Leng et al. 2022, PolyLoss): focal loss plus its first polynomial term.

    .. math::

        \ell = \sum_c \alpha_c\, q_c \left[(1 - p_c)^\gamma (-\log p_c) + \epsilon (1 - p_c)^{\gamma+1}\right]

    For a class-index target :math:`y` without smoothing this is the paper's Poly-1 focal form
    :math:`\mathrm{FL} + \epsilon (1-p_y)^{\gamma+1}`; its defaults, ``gamma=2`` and ``epsilon=1``,
    are that formulation's. ``epsilon=0`` is :func:`softmax_focal_loss`; for ``epsilon >= -1`` the
    loss is never negative. Computed in log space, the bracket as
    :math:`(1-p_c)^\gamma [g_c + (1+\epsilon)(1-p_c)]` with :math:`g_c = -\log p_c - (1-p_c) \ge 0`
    formed from its small side, so that it does not cancel at ``epsilon=-1`` when :math:`p_c` is near 1.

    Args:
        logits: raw scores, classes in dimension 1.
        target: class indices or class probabilities (see Shape).
        alpha: ``None`` (default): no weighting. A float >= 0 multiplies every class; a length-C
            sequence or tensor of weights >= 0 gives class ``c`` the weight ``alpha[c]`` (both terms).
        gamma: focusing parameter >= 0, default 2.
        epsilon: the first polynomial term's extra weight, >= -1; default 1.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import softmax_poly1_focal_loss
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> softmax_poly1_focal_loss(logits, torch.tensor([0, 1]), reduction="none")
        tensor([0.0209, 3.4464])
    """
    return _softmax_loss(losses.SOFTMAX["poly1_focal"], **locals())


@_with_shared_docs
def softmax_adaptive_focal_loss(
    logits: Tensor, target: Tensor, *, thresholds: Sequence[float] = (0.2,), gammas: Sequence[float] = (5.0, 3.0),
    alpha: ClassAlpha = None, reduction: Reduction = "mean", weight: Weight = None, ignore_index: int = -100,
    label_smoothing: float = 0.0, normalizer: Normalizer = None, validate: bool | None = None,
    backend: Backend = "auto", class_group: ProcessGroup | None = None,
) -> Tensor:
    r"""Adaptive-gamma focal loss (Mukhoti et al. 2020, FLSD-53): focal loss whose gamma steps down as p grows.

    .. math::

        \ell = \sum_c \alpha_c\, q_c\, (1 - p_c)^{\gamma(p_c)} (-\log p_c), \qquad
        \gamma(p) = \gamma_i \text{ for } \tau_{i-1} \le p < \tau_i

    with the thresholds :math:`\tau_1 < \dots < \tau_k` (:math:`\tau_0 = 0`, :math:`\tau_{k+1} = 1`).
    The defaults are the paper's FLSD-53, for a class index :math:`-(1-p_y)^{\gamma} \log p_y` with
    gamma 5 where :math:`p_y < 0.2`, else 3; a probability exactly at a threshold takes the upper
    piece (:math:`p = 0.2` gets 3). The comparison is made on the computed :math:`\log p_c` against
    :math:`\log \tau_i` rounded to nearest in the compute dtype: every backend picks the same piece
    but where :math:`p_c` lies within rounding error of a threshold, where it may fall on either side. Gamma
    is a step function: the gradient holds it fixed (it is locally constant) and the loss jumps
    where a probability crosses a threshold. The paper uses no class weights, hence ``alpha=None``;
    a constant schedule (``gammas=(g, g)``) is :func:`softmax_focal_loss` with ``gamma=g``.

    Args:
        logits: raw scores, classes in dimension 1.
        target: class indices or class probabilities (see Shape).
        thresholds: the cuts of the schedule over p: up to 3 values, strictly increasing in (0, 1);
            default ``(0.2,)``. ``()`` is one piece, a constant gamma.
        gammas: one gamma >= 0 per piece (``len(thresholds) + 1`` values), not increasing in p;
            default ``(5.0, 3.0)``.
        alpha: ``None`` (default), a float >= 0 that multiplies every class, or one weight >= 0 per
            class.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import softmax_adaptive_focal_loss
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> softmax_adaptive_focal_loss(logits, torch.tensor([0, 1]), reduction="none")
        tensor([0.0024, 2.1986])
    """
    return _softmax_loss(losses.SOFTMAX["adaptive_focal"], **locals())


@_with_shared_docs
def softmax_softened_loss(
    logits: Tensor, target: Tensor, *, k: float = 1.0, alpha: ClassAlpha = None, reduction: Reduction = "mean",
    weight: Weight = None, ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: Normalizer = None,
    validate: bool | None = None, backend: Backend = "auto", class_group: ProcessGroup | None = None,
) -> Tensor:
    r"""Multi-class "softened" loss of Su Jianlin (2017), from logits.

    .. math::

        \ell = \sum_c \alpha_c\, q_c\, \mathrm{softmax}(-k x)_c\, (-\log \mathrm{softmax}(x)_c)

    For a class-index target :math:`y`: :math:`-\mathrm{softmax}(-kx)_y \log p_y`. The weight
    :math:`\mathrm{softmax}(-kx)_y` is small when the target's logit already stands above the others.

    Args:
        logits: raw scores, classes in dimension 1.
        target: class indices or class probabilities (see Shape).
        k: slope >= 0, default 1. ``k=0`` weights every class by 1/C.
        alpha: ``None`` (default), a float >= 0 that multiplies every class, or one weight >= 0 per
            class.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import softmax_softened_loss
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> softmax_softened_loss(logits, torch.tensor([0, 1]))
        tensor(0.6764)
    """
    return _softmax_loss(losses.SOFTMAX["softened"], **locals())


@_with_shared_docs
def softmax_hard_truncation_loss(
    logits: Tensor, target: Tensor, *, threshold: float = 0.5, alpha: ClassAlpha = None, reduction: Reduction = "mean",
    weight: Weight = None, ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: Normalizer = None,
    validate: bool | None = None, backend: Backend = "auto", class_group: ProcessGroup | None = None,
) -> Tensor:
    r"""Multi-class hard truncation (Su Jianlin, 2017): cross-entropy only where the target class is weak.

    .. math::

        \ell = \sum_c \alpha_c\, q_c\, [p_c \le m]\, (-\log p_c), \qquad m = \text{threshold}

    For a class-index target :math:`y`: :math:`-\log p_y` while :math:`p_y \le m`, and 0 (no
    gradient either) once the target class holds more than ``threshold`` of the mass. The comparison
    is made on :math:`\log p_c` against :math:`\log m`.

    Args:
        logits: raw scores, classes in dimension 1.
        target: class indices or class probabilities (see Shape).
        threshold: ``m`` in [0, 1], default 0.5. ``m=1`` is cross-entropy; ``m=0`` is zero loss.
        alpha: ``None`` (default), a float >= 0 that multiplies every class, or one weight >= 0 per
            class.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import softmax_hard_truncation_loss
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> softmax_hard_truncation_loss(logits, torch.tensor([0, 1]), reduction="none")
        tensor([0.0000, 2.9096])
    """
    return _softmax_loss(losses.SOFTMAX["hard_truncation"], **locals())
