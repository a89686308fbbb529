"""``nn.Module`` wrappers: settings fixed at construction, ``forward`` is one call to the functional.

Tensor settings (a per-class ``alpha``, a ``weight``) are registered buffers, so they follow
``.to()`` / ``.cuda()`` and are saved in ``state_dict``.
"""

from __future__ import annotations

from collections.abc import Sequence

from numbers import Real
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from .. import functional as F
from .. import losses
from .._typing import Backend, ClassAlpha, Normalizer, Reduction, Weight
from ..functional import _checks

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = [  # the registry's names (tests/test_registry.py holds them to it); literal for type checkers
    "SigmoidFocalLoss",
    "SigmoidFocalLossStar",
    "SigmoidSoftenedLoss",
    "SigmoidPoly1FocalLoss",
    "SigmoidAdaptiveFocalLoss",
    "SigmoidAsymmetricLoss",
    "SigmoidQualityFocalLoss",
    "SigmoidVarifocalLoss",
    "SigmoidHardTruncationLoss",
    "SoftmaxFocalLoss",
    "SoftmaxPoly1FocalLoss",
    "SoftmaxAdaptiveFocalLoss",
    "SoftmaxSoftenedLoss",
    "SoftmaxHardTruncationLoss",
]


def _sequence_buffer(name, value):
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be None, a number, or a tensor or sequence of numbers; got {value!r}") from error


class _Loss(nn.Module):
    """Keeps the settings of the loss ``spec`` (a registry entry), checked at construction with the
    functional's messages: numbers, strings and None as attributes, and the tensor settings
    (``_tensor_settings``) as buffers, sequences converted."""

    spec = None
    _tensor_settings = ()

    def __init__(self, settings):
        super().__init__()
        settings = {name: value for name, value in settings.items() if name not in ("self", "__class__")}
        _checks.settings(self.spec, settings)
        self._setting_names = tuple(settings)
        for name, value in settings.items():
            if name not in self._tensor_settings or value is None or isinstance(value, (Real, str)):
                setattr(self, name, value)
            elif isinstance(value, torch.Tensor):
                self.register_buffer(name, value)
            else:  # a sequence: float64 holds Python floats exactly; the functional casts per call
                self.register_buffer(name, _sequence_buffer(name, value))

    def _settings(self):
        return {name: getattr(self, name) for name in self._setting_names}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return getattr(F, self.spec.function)(input, target, **self._settings())

    def extra_repr(self):
        parts = []
        for name, value in self._settings().items():
            if isinstance(value, torch.Tensor):
                value = f"tensor(shape={tuple(value.shape)})" if value.numel() > 8 else value.tolist()
            parts.append(f"{name}={value!r}")
        return ", ".join(parts)


class _BinaryLoss(_Loss):
    _tensor_settings = ("weight", "normalizer")


class _SoftmaxLoss(_Loss):
    _tensor_settings = ("alpha", "weight", "normalizer")


class SigmoidFocalLoss(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_focal_loss`.

    .. math::

        \ell = -t\,\alpha\,(1-p)^\gamma \log p - (1-t)(1-\alpha)\,p^\gamma \log(1-p)

    Args:
        alpha: positives' weight in [0, 1] (negatives 1 - alpha) or None; default 0.25.
        gamma: focusing parameter >= 0; default 2.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        weight: optional elementwise weights broadcastable to the logits (a buffer), e.g. ``(C,)``.
        normalizer: None, ``"positives"``, a number, or a one-element tensor (a buffer); see the functional.
        validate: None (value checks on CPU only), True or False.
        backend: ``"auto"`` (default), ``"torch"``, ``"cpu"`` or ``"triton"``; see the functional.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidFocalLoss
        >>> criterion = SigmoidFocalLoss(alpha=0.25, gamma=2.0, normalizer="positives")
        >>> criterion(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.0174)
    """

    spec = losses.BINARY["focal"]

    def __init__(
        self, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: Reduction = "mean", weight: Weight = None,
        normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SigmoidPoly1FocalLoss(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_poly1_focal_loss`: focal loss plus :math:`\epsilon(1-p_t)^{\gamma+1}`.

    Args:
        alpha: positives' weight in [0, 1] (negatives 1 - alpha) or None; default 0.25.
        gamma: focusing parameter >= 0; default 2. epsilon: >= -1; default 1.
        reduction, weight, normalizer, validate, backend: as in :class:`SigmoidFocalLoss`.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidPoly1FocalLoss
        >>> SigmoidPoly1FocalLoss(epsilon=2.0)(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]))
        tensor(0.0299)
    """

    spec = losses.BINARY["poly1_focal"]

    def __init__(
        self, *, alpha: float | None = 0.25, gamma: float = 2.0, epsilon: float = 1.0, reduction: Reduction = "mean",
        weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SigmoidAdaptiveFocalLoss(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_adaptive_focal_loss`: focal loss with gamma a step function of p_t.

    Args:
        thresholds: the schedule's cuts over p_t, strictly increasing in (0, 1), up to 3; default (0.2,).
        gammas: one gamma >= 0 per piece, not increasing; default (5, 3) (FLSD-53).
        alpha: positives' weight in [0, 1] or None (default).
        reduction, weight, normalizer, validate, backend: as in :class:`SigmoidFocalLoss`.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidAdaptiveFocalLoss
        >>> SigmoidAdaptiveFocalLoss()(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0]))
        tensor(0.2567)
    """

    spec = losses.BINARY["adaptive_focal"]

    def __init__(
        self, *, thresholds: Sequence[float] = (0.2,), gammas: Sequence[float] = (5.0, 3.0), alpha: float | None = None,
        reduction: Reduction = "mean", weight: Weight = None, normalizer: Normalizer = None,
        validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SigmoidAsymmetricLoss(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_asymmetric_loss` (ASL): its own gamma per side, shifted negatives.

    Args:
        gamma_pos: positives' focusing parameter >= 0; default 1. gamma_neg: negatives', >= 0; default 4.
        clip: the probability margin m in [0, 1) of the negatives, p_m = max(p - m, 0); default 0.05 (the
            defaults are Ridnik et al. 2021's).
        alpha: positives' weight in [0, 1] or None (default).
        reduction, weight, normalizer, validate, backend: as in :class:`SigmoidFocalLoss`.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidAsymmetricLoss
        >>> SigmoidAsymmetricLoss()(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]))
        tensor(0.0078)
    """

    spec = losses.BINARY["asymmetric"]

    def __init__(
        self, *, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05, alpha: float | None = None,
        reduction: Reduction = "mean", weight: Weight = None, normalizer: Normalizer = None,
        validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SigmoidQualityFocalLoss(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_quality_focal_loss` (QFL): cross-entropy to a soft quality, times
    :math:`|t - p|^\beta`.

    Args:
        beta: focusing parameter >= 0; default 2 (Li et al. 2020).
        alpha: weight of the cross-entropy's positive part in [0, 1] (negative part 1 - alpha) or None (default).
        reduction, weight, normalizer, validate, backend: as in :class:`SigmoidFocalLoss`.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidQualityFocalLoss
        >>> SigmoidQualityFocalLoss()(torch.tensor([2.0, -1.0]), torch.tensor([0.8, 0.0]))
        tensor(0.0130)
    """

    spec = losses.BINARY["quality_focal"]

    def __init__(
        self, *, beta: float = 2.0, alpha: float | None = None, reduction: Reduction = "mean", weight: Weight = None,
        normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SigmoidVarifocalLoss(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_varifocal_loss` (VFL): cross-entropy to an IoU-aware score q,
    weighted by q, for a positive; :math:`-\alpha p^\gamma \log(1 - p)` for a negative (q = 0).

    Args:
        alpha: the negatives' weight in [0, 1] (the positives are weighted by q) or None; default 0.75.
        gamma: the negatives' focusing parameter >= 0; default 2 (both Zhang et al. 2021).
        reduction, weight, normalizer, validate, backend: as in :class:`SigmoidFocalLoss`.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidVarifocalLoss
        >>> SigmoidVarifocalLoss()(torch.tensor([2.0, -1.0]), torch.tensor([0.8, 0.0]))
        tensor(0.2193)
    """

    spec = losses.BINARY["varifocal"]

    def __init__(
        self, *, alpha: float | None = 0.75, gamma: float = 2.0, reduction: Reduction = "mean", weight: Weight = None,
        normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SigmoidFocalLossStar(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_focal_loss_star`: :math:`-\log\sigma(\gamma x_t+\beta)/\gamma`.

    Args:
        gamma: slope > 0, default 1. beta: shift, default 0. alpha: None (default) or in [0, 1].
        reduction, weight, normalizer, validate, backend: as in :class:`SigmoidFocalLoss`.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidFocalLossStar
        >>> SigmoidFocalLossStar(gamma=2.0, beta=1.0)(torch.tensor([2.0]), torch.tensor([1.0]))
        tensor(0.0034)
    """

    spec = losses.BINARY["focal_star"]

    def __init__(
        self, *, gamma: float = 1.0, beta: float = 0.0, alpha: float | None = None, reduction: Reduction = "mean",
        weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SigmoidSoftenedLoss(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_softened_loss`: :math:`-\sigma(-kx_t)\log\sigma(x_t)`.

    Args:
        k: slope >= 0, default 1. alpha: None (default) or in [0, 1].
        reduction, weight, normalizer, validate, backend: as in :class:`SigmoidFocalLoss`.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidSoftenedLoss
        >>> SigmoidSoftenedLoss(k=2.0)(torch.tensor([2.0]), torch.tensor([1.0]))
        tensor(0.0023)
    """

    spec = losses.BINARY["softened"]

    def __init__(
        self, *, k: float = 1.0, alpha: float | None = None, reduction: Reduction = "mean", weight: Weight = None,
        normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SigmoidHardTruncationLoss(_BinaryLoss):
    r"""Module form of :func:`focalloss.sigmoid_hard_truncation_loss`: CE only where the prediction is wrong.

    Args:
        threshold: in [0, 1], default 0.5. alpha: None (default) or in [0, 1].
        reduction, weight, normalizer, validate, backend: as in :class:`SigmoidFocalLoss`.

    Shape:
        - input: ``(*)`` logits; target: ``(*)`` in [0, 1]; output: scalar, or ``(*)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SigmoidHardTruncationLoss
        >>> SigmoidHardTruncationLoss(threshold=0.9)(torch.tensor([2.0]), torch.tensor([1.0]))
        tensor(0.1269)
    """

    spec = losses.BINARY["hard_truncation"]

    def __init__(
        self, *, threshold: float = 0.5, alpha: float | None = None, reduction: Reduction = "mean",
        weight: Weight = None, normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
    ) -> None:
        super().__init__(locals())


class SoftmaxFocalLoss(_SoftmaxLoss):
    r"""Module form of :func:`focalloss.softmax_focal_loss`: :math:`\sum_c \alpha_c q_c (1-p_c)^\gamma(-\log p_c)`.

    Args:
        alpha: None (default), a float multiplying every class, or one weight per class (a buffer).
        gamma: focusing parameter >= 0, default 2.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        weight: optional per-position weights broadcastable to ``(N, d1, ...)`` (a buffer).
        ignore_index: default -100. label_smoothing: in [0, 1], default 0.
        normalizer: None, ``"positives"``, a number or a one-element tensor (a buffer).
        validate: None, True or False.
        backend: ``"auto"`` (default), ``"torch"``, ``"cpu"`` or ``"triton"``; see the functional.
        class_group: None, or the process group over which the classes are sharded; see the functional.

    Shape:
        - input: ``(N, C)`` or ``(N, C, d1, ...)``; target: indices ``(N, d1, ...)`` or probabilities
          like input; output: scalar, or ``(N, d1, ...)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SoftmaxFocalLoss, class_weights
        >>> criterion = SoftmaxFocalLoss(alpha=class_weights([900, 90, 10]), gamma=2.0)
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([2]))
        tensor(8.0003)
    """

    spec = losses.SOFTMAX["focal"]

    def __init__(
        self, *, alpha: ClassAlpha = None, gamma: float = 2.0, reduction: Reduction = "mean", weight: Weight = None,
        ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: Normalizer = None,
        validate: bool | None = None, backend: Backend = "auto", class_group: ProcessGroup | None = None,
    ) -> None:
        super().__init__(locals())


class SoftmaxPoly1FocalLoss(_SoftmaxLoss):
    r"""Module form of :func:`focalloss.softmax_poly1_focal_loss`: focal loss plus :math:`\epsilon(1-p_c)^{\gamma+1}`.

    Args:
        alpha: None (default), a float multiplying every class, or one weight per class (a buffer).
        gamma: focusing parameter >= 0, default 2. epsilon: >= -1, default 1.
        reduction, weight, ignore_index, label_smoothing, normalizer, validate, backend, class_group: as in
            :class:`SoftmaxFocalLoss`.

    Shape:
        - input: ``(N, C)`` or ``(N, C, d1, ...)``; target: indices ``(N, d1, ...)`` or probabilities
          like input; output: scalar, or ``(N, d1, ...)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SoftmaxPoly1FocalLoss
        >>> SoftmaxPoly1FocalLoss(epsilon=2.0)(torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([2]))
        tensor(4.7671)
    """

    spec = losses.SOFTMAX["poly1_focal"]

    def __init__(
        self, *, alpha: ClassAlpha = None, gamma: float = 2.0, epsilon: float = 1.0, reduction: Reduction = "mean",
        weight: Weight = None, ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: Normalizer = None,
        validate: bool | None = None, backend: Backend = "auto", class_group: ProcessGroup | None = None,
    ) -> None:
        super().__init__(locals())


class SoftmaxAdaptiveFocalLoss(_SoftmaxLoss):
    r"""Module form of :func:`focalloss.softmax_adaptive_focal_loss`: focal loss with gamma a step function of p_c.

    Args:
        thresholds: the schedule's cuts over p_c, strictly increasing in (0, 1), up to 3; default (0.2,).
        gammas: one gamma >= 0 per piece, not increasing; default (5, 3) (FLSD-53).
        alpha: None (default), a float multiplying every class, or one weight per class (a buffer).
        reduction, weight, ignore_index, label_smoothing, normalizer, validate, backend, class_group: as in
            :class:`SoftmaxFocalLoss`.

    Shape:
        - input: ``(N, C)`` or ``(N, C, d1, ...)``; target: indices ``(N, d1, ...)`` or probabilities
          like input; output: scalar, or ``(N, d1, ...)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SoftmaxAdaptiveFocalLoss
        >>> SoftmaxAdaptiveFocalLoss()(torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([2]))
        tensor(2.6551)
    """

    spec = losses.SOFTMAX["adaptive_focal"]

    def __init__(
        self, *, thresholds: Sequence[float] = (0.2,), gammas: Sequence[float] = (5.0, 3.0), alpha: ClassAlpha = None,
        reduction: Reduction = "mean", weight: Weight = None, ignore_index: int = -100, label_smoothing: float = 0.0,
        normalizer: Normalizer = None, validate: bool | None = None, backend: Backend = "auto",
        class_group: ProcessGroup | None = None,
    ) -> None:
        super().__init__(locals())


class SoftmaxSoftenedLoss(_SoftmaxLoss):
    r"""Module form of :func:`focalloss.softmax_softened_loss`: :math:`-\mathrm{softmax}(-kx)_y\log p_y`.

    Args:
        k: slope >= 0, default 1. alpha: None (default), a float, or one weight per class (a buffer).
        reduction, weight, ignore_index, label_smoothing, normalizer, validate, backend: as in
            :class:`SoftmaxFocalLoss`.

    Shape:
        - input: ``(N, C)`` or ``(N, C, d1, ...)``; target: indices ``(N, d1, ...)`` or probabilities
          like input; output: scalar, or ``(N, d1, ...)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SoftmaxSoftenedLoss
        >>> SoftmaxSoftenedLoss(k=1.0)(torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0]))
        tensor(0.0094)
    """

    spec = losses.SOFTMAX["softened"]

    def __init__(
        self, *, k: float = 1.0, alpha: ClassAlpha = None, reduction: Reduction = "mean", weight: Weight = None,
        ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: Normalizer = None,
        validate: bool | None = None, backend: Backend = "auto", class_group: ProcessGroup | None = None,
    ) -> None:
        super().__init__(locals())


class SoftmaxHardTruncationLoss(_SoftmaxLoss):
    r"""Module form of :func:`focalloss.softmax_hard_truncation_loss`: :math:`-[p_y \le m]\log p_y`.

    Args:
        threshold: m in [0, 1], default 0.5. alpha: None (default), a float, or one weight per class
            (a buffer).
        reduction, weight, ignore_index, label_smoothing, normalizer, validate, backend: as in
            :class:`SoftmaxFocalLoss`.

    Shape:
        - input: ``(N, C)`` or ``(N, C, d1, ...)``; target: indices ``(N, d1, ...)`` or probabilities
          like input; output: scalar, or ``(N, d1, ...)`` for "none".

    Example:
        >>> import torch
        >>> from focalloss import SoftmaxHardTruncationLoss
        >>> SoftmaxHardTruncationLoss(threshold=0.9)(torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0]))
        tensor(0.2413)
    """

    spec = losses.SOFTMAX["hard_truncation"]

    def __init__(
        self, *, threshold: float = 0.5, alpha: ClassAlpha = None, reduction: Reduction = "mean", weight: Weight = None,
        ignore_index: int = -100, label_smoothing: float = 0.0, normalizer: Normalizer = None,
        validate: bool | None = None, backend: Backend = "auto", class_group: ProcessGroup | None = None,
    ) -> None:
        super().__init__(locals())
