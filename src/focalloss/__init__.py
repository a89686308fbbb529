"""focalloss: focal loss and its relatives for PyTorch, from logits, numerically safe.

Functional API (``focalloss.sigmoid_focal_loss`` ...), ``nn.Module`` forms (``focalloss.SigmoidFocalLoss``
...), and ``focalloss.reference``, the NumPy float64 source of truth for every loss and its derivatives.
"""

from . import reference
from .functional import (
    class_weights,
    init_prior_bias_,
    prior_bias,
    sigmoid_focal_loss,
    sigmoid_focal_loss_star,
    sigmoid_hard_truncation_loss,
    sigmoid_softened_loss,
    softmax_focal_loss,
    softmax_softened_loss,
)
from .nn import (
    SigmoidFocalLoss,
    SigmoidFocalLossStar,
    SigmoidHardTruncationLoss,
    SigmoidSoftenedLoss,
    SoftmaxFocalLoss,
    SoftmaxSoftenedLoss,
)

__version__ = "0.1.0"

__all__ = [
    "SigmoidFocalLoss",
    "SigmoidFocalLossStar",
    "SigmoidHardTruncationLoss",
    "SigmoidSoftenedLoss",
    "SoftmaxFocalLoss",
    "SoftmaxSoftenedLoss",
    "class_weights",
    "init_prior_bias_",
    "prior_bias",
    "reference",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_star",
    "sigmoid_hard_truncation_loss",
    "sigmoid_softened_loss",
    "softmax_focal_loss",
    "softmax_softened_loss",
]
