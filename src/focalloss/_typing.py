"""Type aliases of the public signatures (NumPy only: torch is named for the type checker alone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Union

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # torch is not imported by focalloss.reference and focalloss.boosting
    from torch import Tensor
    from torch.distributed import ProcessGroup

    from .functional._reduce import Positives

Reduction = Literal["none", "mean", "sum"]
Backend = Literal["auto", "torch", "cpu", "triton"]
Hessian = Literal["exact", "floored", "reweighted"]
# what "mean" is replaced by: the positives (over a process group), a number, a one-element tensor
Normalizer = Union[None, Literal["positives"], "Positives", float, "Tensor"]
# elementwise weights, and a softmax loss's alpha: a float for every class or one weight per class
Weight = Union[None, "Tensor", Sequence[float]]
ClassAlpha = Union[None, float, "Tensor", Sequence[float]]
Group = Union[None, Literal["local"], "ProcessGroup"]
# the float64 reference and the boosting objectives take anything NumPy turns into float64
ArrayLike = npt.ArrayLike
Array = npt.NDArray[np.float64]
# a reduced reference loss is a NumPy scalar, an unreduced one an array
Loss = Union[npt.NDArray[np.float64], np.float64]
