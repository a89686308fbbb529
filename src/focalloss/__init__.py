"""focalloss: focal loss and its relatives for PyTorch, from logits, numerically safe.

Functional API (``focalloss.sigmoid_focal_loss`` ...), ``nn.Module`` forms (``focalloss.SigmoidFocalLoss``
...), and ``focalloss.reference``, the NumPy float64 source of truth for every loss and its derivatives.

Names are imported on first use (PEP 562), so ``import focalloss.reference`` and
``import focalloss.boosting`` need NumPy only and never import torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from . import losses as _losses

__version__ = "0.1.0"

# public name -> submodule that defines it: every loss of the registry as a function and a module
_HOMES = {
    **{spec.function: ".functional" for spec in _losses.LOSSES},
    **{spec.module: ".nn" for spec in _losses.LOSSES},
    "Positives": ".functional",
    "class_weights": ".functional",
    "init_prior_bias_": ".functional",
    "prior_bias": ".functional",
}
_SUBMODULES = ("boosting", "losses", "reference")

__all__ = sorted(_HOMES) + list(_SUBMODULES)


if TYPE_CHECKING:  # what a type checker sees; a name it does not know is a typo
    from . import boosting as boosting, losses as losses, reference as reference  # noqa: F401
    from .functional import Positives as Positives  # noqa: F401
    from .functional import class_weights as class_weights, init_prior_bias_ as init_prior_bias_  # noqa: F401
    from .functional import prior_bias as prior_bias  # noqa: F401
    from .functional.binary import *  # noqa: F403 (their __all__: the registry's loss functions)
    from .functional.multiclass import *  # noqa: F403
    from .nn.modules import *  # noqa: F403 (the registry's loss modules)
else:  # at run time each name is imported on first use

    def __getattr__(name):
        if name in _HOMES:
            value = getattr(import_module(_HOMES[name], __name__), name)
        elif name in _SUBMODULES:
            value = import_module(f".{name}", __name__)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value  # later look-ups skip this function
        return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
