"""``nn.Module`` forms of the losses."""

from .modules import (
    SigmoidFocalLoss,
    SigmoidFocalLossStar,
    SigmoidHardTruncationLoss,
    SigmoidSoftenedLoss,
    SoftmaxFocalLoss,
    SoftmaxHardTruncationLoss,
    SoftmaxSoftenedLoss,
)

__all__ = [
    "SigmoidFocalLoss",
    "SigmoidFocalLossStar",
    "SigmoidHardTruncationLoss",
    "SigmoidSoftenedLoss",
    "SoftmaxFocalLoss",
    "SoftmaxHardTruncationLoss",
    "SoftmaxSoftenedLoss",
]
