r"""Binary and multi-label losses from logits: focal, FL*, poly-1 and adaptive focal, asymmetric, quality focal,
varifocal, softened and hard-truncation.

All but the asymmetric, quality focal and varifocal losses share one form. With :math:`p = \sigma(x)` and a target
:math:`t \in [0, 1]`,

.. math::

    \ell(x, t) = t\,\alpha\,A(x) + (1 - t)(1 - \alpha)\,A(-x),

where :math:`A(x)` is the loss of a positive label and :math:`A(-x)` that of a negative one. For
0/1 targets this is the loss of the paper; a soft target gives the *expected* hard-label loss, which
is linear in ``t``. ``alpha`` weights positives, negatives get ``1 - alpha``, and ``alpha=None``
weights both by 1. The asymmetric loss is *sided*: its negatives have a term of their own,
:math:`\ell = t\,\alpha\,A_+(x) + (1 - t)(1 - \alpha)\,A_-(-x)`, still linear in ``t``
(``losses.LossSpec.composition``). The quality focal and varifocal losses are *joint*, functions of ``x`` and
``t`` together that are not linear in ``t``. The varifocal loss's ``alpha`` weights its negatives only, as in its
paper (``losses.LossSpec.side_alphas``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .. import backends, losses
from .._typing import Backend, Normalizer, Reduction, Weight
from . import _checks, _dtensor
from .._docs import shared_sections
from ..backends._shared import fixed_order_sum
from ._reduce import reduce

__all__ = [  # the registry's names (tests/test_registry.py holds them to it); literal for type checkers
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_star",
    "sigmoid_softened_loss",
    "sigmoid_poly1_focal_loss",
    "sigmoid_adaptive_focal_loss",
    "sigmoid_asymmetric_loss",
    "sigmoid_quality_focal_loss",
    "sigmoid_varifocal_loss",
    "sigmoid_hard_truncation_loss",
]


def _binary_loss(spec, logits, targets, *, alpha, reduction, weight, normalizer, validate, backend,
                 **hyperparameters):
    """The loss of the registry entry ``spec``: every public binary function is one call to this."""
    params = spec.params(hyperparameters)
    reduction = _checks.reduction(reduction)
    backend = _checks.backend(backend)
    alpha = _checks.binary_alpha(alpha)
    _checks.logits_tensor(logits)
    _checks.probabilities_as_logits(logits, "binary")
    normalizer = _checks.normalizer_value(normalizer, reduction, logits)
    options = {"params": params, "alpha": alpha, "validate": validate, "backend": backend}
    if _dtensor.is_dtensor(logits):  # computed shard by shard, reduced over the mesh
        return _dtensor.binary_loss(_elementwise, spec, logits, targets, weight=weight, reduction=reduction,
                                    normalizer=normalizer, **options)
    # a mean over every element is divided inside the backend, which can then form the gradient divided
    divided = reduction == "mean" and normalizer is None and weight is None
    loss, count, positives = _elementwise(spec, logits, targets, weight=weight, summed=reduction != "none",
                                          normalizer=normalizer, divisor=max(logits.numel(), 1) if divided else 1,
                                          **options)
    if divided:
        return loss.to(logits.dtype)
    return reduce(
        loss, reduction=reduction, normalizer=normalizer, count=count, positives=positives,
        summed=reduction != "none",
    ).to(logits.dtype)


def _elementwise(spec, logits, targets, *, weight, params, alpha, validate, backend, summed=False, normalizer=None,
                divisor=1):
    """(the elementwise losses, or their sum with ``summed``, divided by ``divisor``; the number of
    elements that count; a callable giving the positives' target mass) of checked logits."""
    _checks.binary_targets(targets, logits)
    weight = _checks.weight_tensor(weight, logits.shape, logits)
    check_values = _checks.wants_values(validate, logits, targets, weight, normalizer)
    _checks.normalizer_values(normalizer, check_values)
    _checks.weight_values(weight, check_values)
    counted = None if weight is None else (weight != 0).expand(logits.shape)
    _checks.binary_target_values(targets, counted, check_values)

    impl = backends.select(backend, logits, targets, weight=weight, normalizer=normalizer)
    loss = impl.binary_loss(spec.kind, logits, targets, alpha, params, weight=weight, reduce=summed, divisor=divisor)

    def positives():
        t = targets.to(loss.dtype)
        return fixed_order_sum(t if counted is None else torch.where(counted, t, 0.0))

    return loss, logits.numel() if counted is None else counted.sum(), positives


_COMMON_ARGS = """        reduction: ``"mean"`` (default) divides the sum by the number of elements that count
            (weight != 0); 0 when none does. ``"sum"`` adds them up. ``"none"`` returns the
            per-element losses (times ``weight``).
        weight: optional tensor broadcastable to the logits' shape, finite and >= 0. It multiplies
            each element's loss; a zero weight removes the element completely (from the sum, from
            the mean's count, from the gradient, even when its logit is inf or NaN).
        normalizer: ``None``; a number or one-element tensor that divides the summed loss instead
            of the count; or ``"positives"``: max(1, sum of the targets that count), the number of
            positives for 0/1 targets, as in RetinaNet. Under ``torch.distributed`` the positives
            are summed over ranks and each rank divides by max(1, total) / world_size, so DDP's
            gradient averaging reproduces one process on the whole batch (every rank must call).
            Not allowed with ``reduction="sum"``; with ``"none"`` it divides every element.
        validate: checks that read values (targets in [0, 1], weights >= 0) run when ``True``, are
            skipped when ``False``, and by default (``None``) run for CPU tensors only, since on an
            accelerator they would wait for the device.
        backend: ``"auto"`` (default): the fused CPU kernels for CPU tensors and the Triton
            kernels for CUDA tensors when available, else ``"torch"``. ``"torch"``: plain PyTorch
            ops, the one ``"auto"`` takes under ``torch.compile`` or ``torch.func``, for tensor
            subclasses, and when the targets or weights need a gradient. ``"cpu"`` /
            ``"triton"``: that backend, or an error naming the argument it cannot take. They agree
            to rounding error in values and gradients, and every backend's gradient can be
            differentiated again (``create_graph=True``).
"""

_SHAPE = """
    Shape:
        - logits: any shape ``(*)``, floating point. float16 and bfloat16 are computed in float32.
        - targets: ``(*)``, the same shape; bool, integer or floating point with values in [0, 1].
        - output: a scalar, or ``(*)`` for ``reduction="none"``; in the logits' dtype.
"""


_with_shared_docs = shared_sections(COMMON_ARGS=_COMMON_ARGS, SHAPE=_SHAPE)


@_with_shared_docs
def sigmoid_focal_loss(
    logits: Tensor, targets: Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: Reduction = "mean",
    weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
) -> Tensor:
    r"""Focal loss for binary and multi-label classification (Lin et al. 2017), from logits.

    .. math::

        \ell = -t\,\alpha\,(1-p)^\gamma \log p \;-\; (1-t)(1-\alpha)\,p^\gamma \log(1-p),
        \qquad p = \sigma(x)

    For 0/1 targets this is the paper's :math:`-\alpha_t (1-p_t)^\gamma \log p_t`. For a soft target
    it is the expected hard-label loss, linear in ``t``. torchvision instead computes
    ``BCE(x, t) * (1 - p_t)**gamma`` with ``p_t = p t + (1-p)(1-t)``, which is not linear in ``t``
    (at x=2, t=0.7, gamma=2, alpha off: 0.0879 there, 0.4963 here): the two agree only for 0/1
    targets. Computed in log space: finite loss and gradient for any finite logit and any gamma >= 0.

    Args:
        logits: raw scores (never probabilities).
        targets: labels in [0, 1], hard or soft, the logits' shape.
        alpha: weight of the positive term in [0, 1]; negatives get ``1 - alpha``. Default 0.25
            (the paper's value, which down-weights the rare positives once gamma has done its work).
            ``None``: no weighting (both terms 1).
        gamma: focusing parameter >= 0, default 2. ``gamma=0`` with ``alpha=None`` is
            ``binary_cross_entropy_with_logits``.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_focal_loss
        >>> logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]])
        >>> targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
        >>> sigmoid_focal_loss(logits, targets, normalizer="positives")
        tensor(0.4960)
    """
    return _binary_loss(losses.BINARY["focal"], **locals())


@_with_shared_docs
def sigmoid_poly1_focal_loss(
    logits: Tensor, targets: Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0, epsilon: float = 1.0,
    reduction: Reduction = "mean", weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None,
    backend: Backend = "auto",
) -> Tensor:
    r"""Poly-1 focal loss (Leng et al. 2022, PolyLoss): focal loss plus its first polynomial term.

    .. math::

        \ell = t\left[-\alpha(1-p)^\gamma \log p + \epsilon(1-p)^{\gamma+1}\right]
              + (1-t)\left[-(1-\alpha)p^\gamma \log(1-p) + \epsilon\,p^{\gamma+1}\right]

    Focal loss is :math:`\sum_{j \ge 1} (1-p_t)^{j+\gamma}/j`; poly-1 adds :math:`\epsilon` to the
    first coefficient. ``alpha`` weights the focal part only, as in the paper's code. ``epsilon=0``
    is :func:`sigmoid_focal_loss`; for ``epsilon >= -1`` and ``alpha=None`` the loss is never
    negative. Computed in log space: the term is :math:`\exp((\gamma+1)\log\sigma(-x))`.

    Args:
        logits: raw scores (never probabilities).
        targets: labels in [0, 1], hard or soft, the logits' shape.
        alpha: weight of the positive focal term in [0, 1]; negatives get ``1 - alpha``. Default
            0.25 (the paper's code); ``None``: no weighting.
        gamma: focusing parameter >= 0, default 2.
        epsilon: the first polynomial term's extra weight, >= -1; default 1 (the paper's code; it
            reports -1 as best for COCO detection and 2 for ImageNet).
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_poly1_focal_loss
        >>> logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]])
        >>> targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
        >>> sigmoid_poly1_focal_loss(logits, targets, epsilon=1.0, normalizer="positives")
        tensor(1.0594)
    """
    return _binary_loss(losses.BINARY["poly1_focal"], **locals())


@_with_shared_docs
def sigmoid_adaptive_focal_loss(
    logits: Tensor, targets: Tensor, *, thresholds: Sequence[float] = (0.2,), gammas: Sequence[float] = (5.0, 3.0),
    alpha: float | None = None, reduction: Reduction = "mean", weight: Weight = None, normalizer: Normalizer = None,
    validate: bool | None = None, backend: Backend = "auto",
) -> Tensor:
    r"""Adaptive-gamma focal loss (Mukhoti et al. 2020, FLSD-53): focal loss whose gamma steps down as p_t grows.

    .. math::

        \ell = -t\,\alpha\,(1-p)^{\gamma(p)} \log p \;-\; (1-t)(1-\alpha)\,p^{\gamma(1-p)} \log(1-p),
        \qquad \gamma(p_t) = \gamma_i \text{ for } \tau_{i-1} \le p_t < \tau_i

    with the thresholds :math:`\tau_1 < \dots < \tau_k` and :math:`\tau_0 = 0`,
    :math:`\tau_{k+1} = 1`. The defaults are the paper's FLSD-53: gamma 5 where :math:`p_t < 0.2`,
    else 3; a p_t exactly at a threshold takes the upper piece (:math:`p_t = 0.2` gets 3). The
    comparison is made on the logit :math:`x_t` against :math:`\mathrm{logit}(\tau_i)`, rounded into
    the compute dtype, so every backend picks the same piece. Gamma is a step function: the gradient
    holds it fixed (it is locally constant) and the loss jumps where p_t crosses a threshold. The
    paper's method is a softmax one without alpha, hence ``alpha=None``; a constant schedule
    (``gammas=(g, g)``) is :func:`sigmoid_focal_loss` with ``gamma=g``. Computed in log space:
    :math:`(1-p_t)^\gamma = \exp(\gamma \log\sigma(-x_t))`.

    Args:
        logits: raw scores (never probabilities).
        targets: labels in [0, 1], hard or soft, the logits' shape.
        thresholds: the cuts of the schedule over p_t: up to 3 values, strictly increasing in (0, 1);
            default ``(0.2,)``. ``()`` is one piece, a constant gamma.
        gammas: one gamma >= 0 per piece (``len(thresholds) + 1`` values), not increasing in p_t;
            default ``(5.0, 3.0)``.
        alpha: weight of the positive term in [0, 1]; negatives get ``1 - alpha``. Default ``None``:
            no weighting.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_adaptive_focal_loss
        >>> logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]])
        >>> targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
        >>> sigmoid_adaptive_focal_loss(logits, targets, normalizer="positives")
        tensor(1.3162)
    """
    return _binary_loss(losses.BINARY["adaptive_focal"], **locals())


@_with_shared_docs
def sigmoid_focal_loss_star(
    logits: Tensor, targets: Tensor, *, gamma: float = 1.0, beta: float = 0.0, alpha: float | None = None,
    reduction: Reduction = "mean", weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None,
    backend: Backend = "auto",
) -> Tensor:
    r"""FL*, the focal-loss variant of the appendix of Lin et al. 2017, from logits.

    .. math::

        \ell = -t\,\alpha\,\frac{\log\sigma(\gamma x + \beta)}{\gamma}
               \;-\; (1-t)(1-\alpha)\,\frac{\log\sigma(-\gamma x + \beta)}{\gamma}

    i.e. :math:`-\log\sigma(\gamma x_t + \beta)/\gamma` with :math:`x_t = x` for a positive and
    :math:`-x` for a negative. ``gamma`` sharpens the loss, ``beta`` shifts it; ``gamma=1, beta=0``
    is binary cross-entropy. Soft targets are the expected hard-label loss, as for
    :func:`sigmoid_focal_loss`.

    Args:
        logits: raw scores.
        targets: labels in [0, 1], the logits' shape.
        gamma: slope > 0, default 1.
        beta: shift, any finite number, default 0.
        alpha: weight of the positive term in [0, 1] (negatives get ``1 - alpha``), or ``None``
            (default): no weighting.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_focal_loss_star
        >>> sigmoid_focal_loss_star(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]), gamma=2.0, beta=1.0)
        tensor(0.0138)
    """
    return _binary_loss(losses.BINARY["focal_star"], **locals())


@_with_shared_docs
def sigmoid_softened_loss(
    logits: Tensor, targets: Tensor, *, k: float = 1.0, alpha: float | None = None, reduction: Reduction = "mean",
    weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
) -> Tensor:
    r"""The "softened" hard-truncation loss of Su Jianlin (2017), from logits.

    .. math::

        \ell = -t\,\alpha\,\sigma(-kx)\log\sigma(x) \;-\; (1-t)(1-\alpha)\,\sigma(kx)\log\sigma(-x)

    The step that switches the loss off once an example is on the right side (see
    :func:`sigmoid_hard_truncation_loss`) is replaced by a sigmoid of slope ``k``, so the model is
    still told to keep easy examples where they are. ``k=1`` with ``alpha=None`` equals
    ``sigmoid_focal_loss(alpha=None, gamma=1)``; ``k -> inf`` approaches the hard truncation at 0.5.

    Args:
        logits: raw scores.
        targets: labels in [0, 1], the logits' shape.
        k: slope >= 0 of the softened step, default 1. ``k=0`` is cross-entropy halved.
        alpha: weight of the positive term in [0, 1] (negatives get ``1 - alpha``), or ``None``
            (default): no weighting.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_softened_loss
        >>> sigmoid_softened_loss(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]), k=2.0)
        tensor(0.0198)
    """
    return _binary_loss(losses.BINARY["softened"], **locals())


@_with_shared_docs
def sigmoid_hard_truncation_loss(
    logits: Tensor, targets: Tensor, *, threshold: float = 0.5, alpha: float | None = None,
    reduction: Reduction = "mean", weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None,
    backend: Backend = "auto",
) -> Tensor:
    r"""Hard-truncation loss (Su Jianlin, 2017): cross-entropy only where the prediction is wrong.

    .. math::

        \ell = -t\,\alpha\,[p \le m]\log p \;-\; (1-t)(1-\alpha)\,[p \ge 1-m]\log(1-p),
        \qquad m = \text{threshold}

    A positive with ``p > threshold`` or a negative with ``p < 1 - threshold`` is already right and
    costs nothing (no gradient either); everything else costs its cross-entropy. The comparison is
    made on the logit, against ``log(m / (1 - m))``, so it is exact in any dtype.

    Args:
        logits: raw scores.
        targets: labels in [0, 1], the logits' shape.
        threshold: ``m`` in [0, 1], default 0.5. ``m=1`` never truncates (cross-entropy); ``m=0``
            always does (zero loss).
        alpha: weight of the positive term in [0, 1] (negatives get ``1 - alpha``), or ``None``
            (default): no weighting.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_hard_truncation_loss
        >>> x, t = torch.tensor([2.0, -1.0, -0.5]), torch.tensor([1.0, 0.0, 1.0])
        >>> sigmoid_hard_truncation_loss(x, t, reduction="none")
        tensor([0.0000, 0.0000, 0.9741])
    """
    return _binary_loss(losses.BINARY["hard_truncation"], **locals())


@_with_shared_docs
def sigmoid_asymmetric_loss(
    logits: Tensor, targets: Tensor, *, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05,
    alpha: float | None = None, reduction: Reduction = "mean", weight: Weight = None, normalizer: Normalizer = None,
    validate: bool | None = None, backend: Backend = "auto",
) -> Tensor:
    r"""Asymmetric loss (ASL; Ridnik et al. 2021, "Asymmetric Loss For Multi-Label Classification"), from logits.

    .. math::

        \ell = -t\,\alpha\,(1-p)^{\gamma_+} \log p \;-\; (1-t)(1-\alpha)\,p_m^{\gamma_-} \log(1-p_m),
        \qquad p_m = \max(p - m, 0), \quad p = \sigma(x)

    Positives are focal with their own gamma; negatives focus harder and are shifted by the
    probability margin ``clip`` = m: a negative with :math:`p \le m` costs nothing (at :math:`p = m`
    exactly too: the gradient there is the clipped side's, 0). A soft target is linear in ``t``, as for
    the other binary losses. The defaults are the paper's (gamma_neg=4, gamma_pos=1, m=0.05; its
    reference code Alibaba-MIIL/ASL). ``gamma_pos = gamma_neg = g`` with ``clip=0`` is
    :func:`sigmoid_focal_loss` with ``gamma=g, alpha=None``. Computed in log space, without the
    reference code's log clamp at 1e-8: :math:`\log(p - m) = \log p + \log(1-m) + \log(1 - e^{x_m - x})`,
    :math:`x_m = \mathrm{logit}(m)`, so p near m is no difference of nearly equal numbers, and
    :math:`1 - p_m = \sigma(-x) + m`. The comparison :math:`x > x_m` uses :math:`x_m` rounded down into
    the compute dtype (float32 for half-precision inputs), and the margin is :math:`\sigma(x_m)`
    of that rounded cut: it differs from ``clip`` by a few units in the last place of that dtype, and
    :math:`p - m` carries a relative error of about :math:`\epsilon\,|x_m| / |x - x_m|` near the cut
    (the rounding of :math:`x_m`), a few :math:`\epsilon` elsewhere.

    Args:
        logits: raw scores (never probabilities).
        targets: labels in [0, 1], hard or soft, the logits' shape.
        gamma_pos: the positives' focusing parameter >= 0; default 1 (the paper).
        gamma_neg: the negatives' focusing parameter >= 0; default 4 (the paper).
        clip: the probability margin m in [0, 1) that shifts the negatives; default 0.05 (the paper).
            ``0`` turns the shift off.
        alpha: weight of the positive term in [0, 1]; negatives get ``1 - alpha``. Default ``None``
            (the paper has none): both 1.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_asymmetric_loss
        >>> logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]])
        >>> targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
        >>> sigmoid_asymmetric_loss(logits, targets, reduction="sum")
        tensor(3.0110)
    """
    return _binary_loss(losses.BINARY["asymmetric"], **locals())


@_with_shared_docs
def sigmoid_quality_focal_loss(
    logits: Tensor, targets: Tensor, *, beta: float = 2.0, alpha: float | None = None, reduction: Reduction = "mean",
    weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
) -> Tensor:
    r"""Quality focal loss (QFL; Li et al. 2020, "Generalized Focal Loss"), from logits.

    .. math::

        \ell = -|t - p|^\beta \left(t\,\alpha \log p + (1 - t)(1 - \alpha) \log(1 - p)\right),
        \qquad p = \sigma(x)

    The target ``t`` is a soft quality score in [0, 1] (an IoU, say): the cross-entropy to it,
    scaled by how far the prediction is from it. It is not linear in ``t`` (unlike the other binary
    losses): a soft target is its own target, not an expected hard label. For 0/1 targets it is
    :func:`sigmoid_focal_loss` with ``gamma=beta``; the default beta = 2 is the paper's. The paper
    has no alpha; here it weights the cross-entropy's positive part by alpha and its negative part
    by 1 - alpha, as in focal loss (so the identity holds for every alpha), and ``None`` (default)
    turns it off. The distribution focal loss (DFL) of the same paper is a cross-entropy on two
    neighbouring bins with a two-class probability target, which :func:`focalloss.softmax_focal_loss`
    with ``gamma=0`` and probability targets expresses. Computed in log space: :math:`|t - p|` is
    :math:`t\,\sigma(-x) - (1 - t)\,\sigma(x)`, a difference of two accurate products (exactly
    :math:`\sigma(-x)` at t = 1 and :math:`\sigma(x)` at t = 0, whose logs come from log-sigmoid),
    so its error is a few units in the last place of :math:`t(1-t)` where p is near t. For beta > 0,
    where :math:`p = t` exactly the loss and its gradient are 0 (a subgradient of the cusp that
    :math:`|t - p|^\beta` has for beta < 1); beta = 0 is the cross-entropy to ``t``, which is not 0
    there (``log 2`` at t = 0.5).

    Args:
        logits: raw scores (never probabilities).
        targets: quality scores in [0, 1], the logits' shape (0 for a negative).
        beta: the focusing parameter >= 0 on :math:`|t - p|`; default 2 (the paper). ``0`` is
            ``binary_cross_entropy_with_logits``.
        alpha: weight in [0, 1] of the cross-entropy's positive part; its negative part gets
            ``1 - alpha``. Default ``None``: no weighting.
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_quality_focal_loss
        >>> logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]])
        >>> quality = torch.tensor([[0.8, 0.0], [0.3, 0.0]])
        >>> sigmoid_quality_focal_loss(logits, quality, reduction="sum")
        tensor(0.4640)
    """
    return _binary_loss(losses.BINARY["quality_focal"], **locals())


@_with_shared_docs
def sigmoid_varifocal_loss(
    logits: Tensor, targets: Tensor, *, alpha: float | None = 0.75, gamma: float = 2.0, reduction: Reduction = "mean",
    weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
) -> Tensor:
    r"""Varifocal loss (VFL; Zhang, Wang, Dayoub, Sünderhauf 2021, "VarifocalNet: An IoU-aware Dense Object
    Detector"), from logits.

    .. math::

        \ell = \begin{cases} -q\,\bigl(q \log p + (1 - q) \log(1 - p)\bigr) & q > 0 \\
                             -\alpha\,p^\gamma \log(1 - p) & q = 0 \end{cases}
        \qquad p = \sigma(x)

    The target ``q`` is an IoU-aware classification score: for a positive the IoU of its predicted box with
    the ground truth, 0 for a negative (the paper's eq. (2)). A positive costs the cross-entropy to ``q``,
    weighted by ``q`` itself, so that the best-localised positives count most and none is down-weighted
    by its own confidence; a negative costs focal loss's negative term, down-weighted by :math:`p^\gamma`
    and by ``alpha``. So ``alpha`` weights the negatives only, not the positives by alpha and the
    negatives by 1 - alpha as in the other binary losses; the defaults alpha = 0.75 and gamma = 2 are the
    paper's (its section 4.1). The loss is not linear in ``q`` and jumps at q = 0: a q of 1e-9 is a
    positive of weight 1e-9, not a negative. With q = 1 it is ``-log p``, the cross-entropy of a positive;
    with q = 0 it is :func:`sigmoid_focal_loss` of a negative with ``alpha=1 - alpha`` (the weight
    alpha there). Computed in log space, with no clamp: :math:`p^\gamma = \exp(\gamma \log\sigma(x))`
    and :math:`\log(1 - p) = \log\sigma(-x)`, so loss and gradient stay finite for any finite logit and
    gamma >= 0, below 1 included.

    Args:
        logits: raw scores (never probabilities).
        targets: IoU-aware scores q in [0, 1], the logits' shape: 0 for a negative.
        alpha: weight in [0, 1] of the negatives (q = 0); the positives are weighted by q. Default 0.75
            (the paper). ``None``: the negatives weigh 1.
        gamma: focusing parameter >= 0 of the negatives, :math:`p^\gamma`; default 2 (the paper).
@COMMON_ARGS
@SHAPE

    Example:
        >>> import torch
        >>> from focalloss import sigmoid_varifocal_loss
        >>> logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]])
        >>> iou = torch.tensor([[0.8, 0.0], [0.3, 0.0]])
        >>> sigmoid_varifocal_loss(logits, iou, reduction="sum")
        tensor(1.0062)
    """
    return _binary_loss(losses.BINARY["varifocal"], **locals())
