"""Class weights for ``alpha`` and the prior initialisation of a classifier's bias."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from .. import reference
from .._typing import ArrayLike
from . import _checks

__all__ = ["class_weights", "init_prior_bias_", "prior_bias"]

METHODS = ("inverse", "sqrt_inverse", "effective_number")


def class_weights(
    counts: Tensor | ArrayLike, *, method: Literal["inverse", "sqrt_inverse", "effective_number"] = "inverse",
    beta: float = 0.999,
) -> Tensor:
    r"""Per-class weights from class counts, rescaled to sum to the number of classes C.

    .. math::

        w_c \propto 1 / n_c \;(\texttt{"inverse"}), \qquad
        1 / \sqrt{n_c} \;(\texttt{"sqrt_inverse"}), \qquad
        \frac{1 - \beta}{1 - \beta^{n_c}} \;(\texttt{"effective_number"}, \text{Cui et al. 2019}),
        \qquad \sum_c w_c = C.

    The result is meant for the per-class ``alpha`` of :func:`softmax_focal_loss`: with the sum fixed
    at C, a balanced data set gets weights of 1 and the loss keeps the scale of the unweighted one.

    Args:
        counts: number of training examples per class, a sequence, array or tensor of C values > 0.
        method: ``"inverse"`` (default), ``"sqrt_inverse"`` or ``"effective_number"``.
        beta: in [0, 1), for ``"effective_number"`` only, default 0.999. ``beta=0`` gives equal
            weights; ``beta -> 1`` approaches ``"inverse"``.

    Shape:
        - counts: ``(C)``.
        - output: ``(C)``, float32, on the counts' device if they are a tensor.

    Example:
        >>> from focalloss import class_weights
        >>> class_weights([900, 90, 10])
        tensor([0.0297, 0.2970, 2.6733])
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of 'inverse', 'sqrt_inverse', 'effective_number'; got {method!r}")
    beta = _checks.unit_interval(beta, "beta")
    if beta == 1.0:
        raise ValueError("beta must lie in [0, 1); got 1.0 (use method='inverse' for that limit)")
    device = counts.device if isinstance(counts, torch.Tensor) else None
    values = counts.detach().cpu().numpy() if isinstance(counts, torch.Tensor) else np.asarray(counts)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D sequence, one count per class; got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise TypeError(f"counts must be real numbers; got dtype {values.dtype}")
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(f"counts must be finite and > 0; got {values[index].item()!r} for class {index}")
    weights = reference.class_weights(values, method=method, beta=beta)
    return torch.as_tensor(weights, dtype=torch.float32, device=device)


def _prior_value(prior):
    if isinstance(prior, bool) or not isinstance(prior, Real):
        raise TypeError(f"prior must be a probability strictly between 0 and 1; got {prior!r}")
    if not 0.0 < prior < 1.0:
        raise ValueError(f"prior must be a probability strictly between 0 and 1; got {prior!r}")
    return float(prior)


def prior_bias(*, prior: float = 0.01) -> float:
    r"""The bias that makes a sigmoid classifier start at probability ``prior``: :math:`\log(\pi/(1-\pi))`.

    RetinaNet initialises the bias of its last classification layer this way (pi = 0.01), so that
    the flood of easy negatives does not produce a huge, destabilising loss in the first iterations.

    Args:
        prior: pi, strictly between 0 and 1, default 0.01.

    Example:
        >>> from focalloss import prior_bias
        >>> round(prior_bias(prior=0.01), 4)
        -4.5951
    """
    prior = _prior_value(prior)
    return math.log(prior) - math.log1p(-prior)


def init_prior_bias_(bias: Tensor | nn.Module, *, prior: float | Sequence[float] | Tensor = 0.01) -> Tensor:
    r"""Fill a bias (a tensor, or a layer with a ``bias``) in place with :math:`\log(\pi_c/(1-\pi_c))`.

    Args:
        bias: a tensor, or a module such as ``nn.Linear`` / ``nn.Conv2d`` whose ``bias`` is filled.
        prior: a probability in (0, 1) for every output (default 0.01), or one per output.

    Shape:
        - bias: ``(C)``; a sequence ``prior`` must have C entries.

    Returns:
        The filled bias tensor.

    Example:
        >>> import torch
        >>> from focalloss import init_prior_bias_
        >>> head = torch.nn.Linear(16, 3)
        >>> init_prior_bias_(head, prior=0.01)
        Parameter containing:
        tensor([-4.5951, -4.5951, -4.5951], requires_grad=True)
    """
    if isinstance(bias, torch.nn.Module):
        layer = bias
        bias = getattr(layer, "bias", None)
        if not isinstance(bias, torch.Tensor):
            raise ValueError(f"bias must be a tensor or a module with a bias; {type(layer).__name__} has none")
    if not isinstance(bias, torch.Tensor):
        raise TypeError(f"bias must be a tensor or a module with a bias; got {type(bias).__name__}")
    if isinstance(prior, (torch.Tensor, np.ndarray)):
        prior = prior.tolist()
    if isinstance(prior, Real):
        values = prior_bias(prior=prior)
    elif isinstance(prior, (list, tuple)):
        priors = [_prior_value(p) for p in prior]
        if len(priors) != bias.numel():
            raise ValueError(f"prior must have one entry per output ({bias.numel()}); got {len(priors)}")
        values = torch.tensor([prior_bias(prior=p) for p in priors], dtype=bias.dtype).view_as(bias)
    else:
        raise TypeError(f"prior must be a probability or a sequence of probabilities; got {prior!r}")
    with torch.no_grad():
        if isinstance(values, float):
            bias.fill_(values)
        else:
            bias.copy_(values)
    return bias
