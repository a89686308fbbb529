r"""NumPy float64 reference of every loss in the library: values, analytic gradients, binary hessians.

This package is the one source of truth for the math. The PyTorch code is tested against it, and the
gradient-boosting objectives build on its derivatives. It is written for clarity and accuracy, not
speed, and imports nothing but NumPy. Its modules: ``binary`` (the sigmoid losses), ``softmax``,
``weights`` (class weights); every public name is here too.

Every binary loss has the form

.. math::

    \ell(x, t) = t\,\alpha\,A(x) + (1 - t)(1 - \alpha)\,A(-x)

where :math:`A(x)` is the loss of a positive label at logit :math:`x` (the loss of a negative label
is the mirror image :math:`A(-x)`), :math:`t \in [0, 1]` is the target and ``alpha=None`` sets both
weights to 1. Soft targets therefore give the expectation of the hard-label loss, linear in ``t``.
A *sided* loss (asymmetric loss, Ridnik et al. 2021) has a term of its own per label side,
:math:`t\,\alpha\,A_+(x) + (1 - t)(1 - \alpha)\,A_-(-x)`, with :math:`A_+(x) = -(1 - p)^{\gamma_+} \log p`
and :math:`A_-(-x) = -p_m^{\gamma_-} \log(1 - p_m)`, :math:`p_m = \max(p - m, 0)`.
A *joint* loss is a function of x and t together, not linear in t: the quality focal loss
(Li et al. 2020) and the varifocal loss (Zhang et al. 2021), whose ``alpha`` weighs the negatives (t = 0)
only, the positives being weighted by t itself.

=====================  ==================================================================
loss                   :math:`A(x)` with :math:`p = \sigma(x)`
=====================  ==================================================================
focal                  :math:`-(1 - p)^\gamma \log p`
softened (Su, 2017)    :math:`-\sigma(-k x) \log p`
hard truncation        :math:`-[p \le \text{threshold}] \log p`
focal star (FL*)       :math:`-\log \sigma(\gamma x + \beta) / \gamma`
=====================  ==================================================================

Multi-class losses take a target distribution :math:`q` over the ``C`` classes (a one-hot row for a
class index, smoothed as in ``torch.nn.functional.cross_entropy`` when ``label_smoothing > 0``) and
per-class weights :math:`\alpha_c`:

.. math::

    \ell(x, q) = \sum_c \alpha_c\, q_c\, \varphi_c(x), \qquad
    \varphi_c = (1 - p_c)^\gamma (-\log p_c) \text{ (focal)}, \quad
    \varphi_c = \mathrm{softmax}(-k x)_c (-\log p_c) \text{ (softened)}

Reductions follow the library: ``"none"``, ``"sum"``, and ``"mean"``, which divides the sum by the
number of elements that count (not ignored, not zero-weighted) and gives 0 when none does. A
``normalizer`` (a positive number, or ``"positives"``: max(1, the target mass of the counted
elements)) replaces that denominator.

Example:
    >>> import numpy as np
    >>> from focalloss import reference
    >>> x, t = np.array([2.0]), np.array([1.0])
    >>> reference.sigmoid_focal_loss(x, t, alpha=None, gamma=0.0).round(6)  # = BCE
    array([0.126928])
"""

from __future__ import annotations

from . import binary, softmax, weights
from .binary import *  # noqa: F403 (every name in binary.__all__)
from .softmax import *  # noqa: F403
from .weights import *  # noqa: F403

__all__ = sorted([*binary.__all__, *softmax.__all__, *weights.__all__])
