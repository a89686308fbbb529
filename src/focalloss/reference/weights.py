"""Class weights of the reference."""

from __future__ import annotations

from typing import Literal

import numpy as np
from .._typing import Array, ArrayLike

__all__ = [
    "class_weights",
]

# --------------------------------------------------------------------------------------------------
# Class weights
# --------------------------------------------------------------------------------------------------
def class_weights(
    counts: ArrayLike, *, method: Literal["inverse", "sqrt_inverse", "effective_number"] = "inverse",
    beta: float = 0.999,
) -> Array:
    r"""Per-class weights from class counts, rescaled to sum to the number of classes C.

    ``"inverse"``: :math:`1/n_c`; ``"sqrt_inverse"``: :math:`1/\sqrt{n_c}`; ``"effective_number"``
    (Cui et al. 2019): :math:`(1-\beta)/(1-\beta^{n_c})`. Counts must be positive (checked by
    :func:`focalloss.class_weights`, not here).

    Args:
        counts: examples per class, C values > 0.
        method: ``"inverse"`` (default), ``"sqrt_inverse"`` or ``"effective_number"``.
        beta: in [0, 1), for ``"effective_number"``; default 0.999.

    Shape:
        - counts: ``(C)``; output: ``(C)``, float64.

    Example:
        >>> from focalloss import reference
        >>> reference.class_weights([900, 90, 10], method="sqrt_inverse").round(4)
        array([0.2198, 0.6951, 2.0852])
    """
    n = np.asarray(counts, dtype=np.float64)
    if method == "inverse":
        raw = 1.0 / n
    elif method == "sqrt_inverse":
        raw = 1.0 / np.sqrt(n)
    else:
        with np.errstate(divide="ignore"):  # beta=0: log 0 = -inf, and 1 - 0**n = 1 as it should
            raw = (1.0 - beta) / -np.expm1(n * np.log(beta))  # 1 - beta**n without cancellation
    return raw * (n.size / raw.sum())
