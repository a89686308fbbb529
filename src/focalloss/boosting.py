r"""Focal loss and its relatives as custom objectives for LightGBM and XGBoost (NumPy only).

An objective turns raw scores (margins) into the per-row gradient and hessian that the engines grow
trees from. Each object here plugs into both engines and both of their APIs::

    obj = BinaryFocalObjective(alpha=0.25, gamma=2.0)
    LGBMClassifier(objective=obj).fit(X, y, init_score=obj.init_score(y))
    XGBClassifier(objective=obj).fit(X, y, base_margin=obj.init_score(y))
    lightgbm.train({"objective": obj.lightgbm_objective}, lightgbm.Dataset(X, y, init_score=...))
    xgboost.train(params, xgboost.DMatrix(X, y, base_margin=...), obj=obj.xgboost_objective)

The math is that of :mod:`focalloss.reference` (tested against it), written for speed in
vectorised float64 NumPy that reuses its buffers (``benchmarks/bench_boosting.py``), and finite for
scores up to :math:`|x| = 800` (tested) and far beyond.

**Hessian.** The exact second derivative of a focal-type loss is negative for badly misclassified
rows (at gamma=2, where the true class gets :math:`p_t < 0.058`). A tree leaf's value is
:math:`-\sum g / \sum h`; a negative or near-zero :math:`\sum h` gives a leaf of 0 (both engines) or
an enormous step. ``hessian`` therefore offers

- ``"exact"``: the true second derivative, negative for those rows;
- ``"reweighted"``: the logistic curvature :math:`p(1-p)` times the row's focal weight held fixed
  (the gradient is the logistic gradient times that weight: Fisher scoring); always positive, equal
  to the exact hessian at gamma=0 and :math:`\gamma + 1` times smaller for well-classified rows, so
  their leaf steps are up to :math:`\gamma + 1` times longer than Newton's (the training loss falls
  faster per round, as with a larger learning rate on the easy rows);
- ``"floored"`` (default): the exact hessian where it is at least the reweighted one, the reweighted
  one elsewhere. Newton steps for the rows that are roughly right, a positive curvature for the
  rows that are badly wrong.

Positive choices never go below float32's smallest normal number (per unit of weight): the engines
store hessians in float32, and a curvature that underflows there would reach them as 0.

**Start score.** Start at :meth:`~BinaryFocalObjective.init_score`, the constant that minimises the
loss, not at ``logit(prior)``. Focal loss is minimised by a larger constant than the base rate
(p = 0.12 at a 1.2% base rate), and at ``logit(prior)`` every positive of a rare class sits below
:math:`p_t = 0.058`: their negative exact hessians outweigh the easy negatives' small positive ones,
so with ``hessian="exact"`` every leaf is 0 and nothing is learnt, and with a small floor the first
leaves are huge. LightGBM starts a custom objective at 0 whatever ``boost_from_average`` says, and
XGBoost at ``base_score`` read as a margin; pass LightGBM's ``init_score`` (and add the constant to
raw predictions of new rows) or XGBoost's ``base_margin`` (also in the DMatrix of new rows).

**Dask.** The objectives run unchanged in ``lightgbm.dask`` and ``xgboost.dask``, whose workers
call the pickled objective on their own partitions. ``init_score`` also takes a 1-D dask array or
dask Series: each block's label sums are computed on its worker, and the start score comes back
lazily in the labels' chunks or partitions.

**Outputs are margins.** Under a custom objective LightGBM returns raw scores and XGBoost's native
API returns margins; :meth:`~BinaryFocalObjective.predict_proba` turns them into the model's
probabilities, which are not calibrated: focal loss pulls them towards 1/2.
"""

from __future__ import annotations

import sys
from numbers import Integral, Real
from typing import Any

import numpy as np

from . import _scalars
from ._typing import Array, ArrayLike, Hessian
from .backends import numpy_terms as terms

__all__ = [
    "BinaryAsymmetricObjective",
    "BinaryFocalObjective",
    "BinaryFocalStarObjective",
    "BinaryPolyObjective",
    "BinarySoftenedObjective",
    "SoftmaxFocalObjective",
]

HESSIANS = ("floored", "reweighted", "exact")


# --------------------------------------------------------------------------------------------------
# Argument checks: one helper per kind of argument
# --------------------------------------------------------------------------------------------------
def _binary_alpha(alpha):
    if alpha is None:
        return None
    alpha = _scalars.real(alpha, "alpha (None or a float in [0, 1])")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be None or a float in [0, 1]; got {alpha!r}")
    return alpha


def _class_alpha(alpha):
    """None, one float >= 0 for every class, or one float >= 0 per class."""
    if alpha is None or isinstance(alpha, Real) and not isinstance(alpha, bool):
        return None if alpha is None else _scalars.nonnegative(alpha, "alpha")
    weights = np.asarray(alpha)
    if weights.ndim != 1 or weights.size < 2 or not np.issubdtype(weights.dtype, np.number) \
            or weights.dtype == bool:
        raise TypeError(
            f"alpha must be None, a float >= 0, or a sequence of one float >= 0 per class; got {alpha!r}"
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"alpha must hold finite weights >= 0, one per class; got {alpha!r}")
    return weights.astype(np.float64)


def _hessian(value):
    return _scalars.choice(value, "hessian", HESSIANS)


def _rows(values, name, num_rows=None):
    """A float64 view of a 1-D array with one entry per row (any length when num_rows is None)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or num_rows is not None and values.shape[0] != num_rows:
        expected = "values" if num_rows is None else f"{num_rows} values (one per row)"
        raise ValueError(f"{name} must be a 1-D array of {expected}; got shape {values.shape}")
    return values


def _scores(y_pred, *, binary):
    """Raw scores as float64: (n,) for a binary objective, (n, K) with K >= 2 for a softmax one."""
    scores = np.asarray(y_pred, dtype=np.float64)
    if binary and scores.ndim != 1:
        raise ValueError(f"y_pred must be a 1-D array of raw scores, one per row; got shape {scores.shape}")
    if not binary and (scores.ndim != 2 or scores.shape[1] < 2):
        raise ValueError(
            f"y_pred must be a 2-D array of raw scores, one row per example and one column per class "
            f"(at least 2; LightGBM >= 4 and XGBoost >= 2.1 pass this layout); got shape {scores.shape}"
        )
    return scores


def _first_bad(labels, good):
    """'<value> at row <i> (values from <min> to <max>)' for the first label that is not good."""
    row = int(np.flatnonzero(~good)[0])
    return f"{float(labels[row])!r} at row {row} (values from {float(np.min(labels))!r} to {float(np.max(labels))!r})"


def _binary_labels(y_true, name, num_rows=None):
    labels = _rows(y_true, name, num_rows)
    good = (labels >= 0.0) & (labels <= 1.0)  # False for NaN
    if not good.all():
        raise ValueError(
            f"{name} must hold labels in [0, 1] (1 = positive; fractions are soft labels); got "
            f"{_first_bad(labels, good)}"
        )
    return labels


def _class_labels(y_true, name, num_classes, num_rows=None):
    labels = _rows(y_true, name, num_rows)
    good = (labels >= 0) & (labels < num_classes) & (labels % 1 == 0)
    if not good.all():
        raise ValueError(
            f"{name} must hold class indices, whole numbers 0 .. {num_classes - 1}; got "
            f"{_first_bad(labels, good)}"
        )
    return labels.astype(np.intp)


def _sample_weight(sample_weight, num_rows):
    """None (every row weighs 1) or finite weights >= 0; engines pass an empty array for none."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.size == 0 and num_rows:
        return None
    weights = _rows(weights, "sample_weight", num_rows)
    if num_rows and not (weights.min() >= 0.0 and np.isfinite(weights.max())):
        raise ValueError(
            f"sample_weight must hold finite weights >= 0; got values from {float(weights.min())!r} to "
            f"{float(weights.max())!r}"
        )
    return weights


def _weight_total(weights, num_rows):
    """The denominator of a weighted mean loss."""
    total = float(num_rows if weights is None else weights.sum())
    if total <= 0.0:
        raise ValueError(
            f"the loss is a weighted mean, so it needs rows whose sample_weight sums to more than 0; "
            f"got {num_rows} rows with total weight {total!r}"
        )
    return total


# --------------------------------------------------------------------------------------------------
# What every objective hands the engines: its gradient and hessian, and its loss as a metric
# --------------------------------------------------------------------------------------------------
class _EngineAdapters:
    """The engines' calling conventions, on top of ``__call__``, ``loss`` and ``metric_name``."""

    metric_name = ""

    def lightgbm_objective(self, preds: ArrayLike, train_data: Any) -> tuple[Array, Array]:
        """``lightgbm.train({"objective": obj.lightgbm_objective}, ...)`` (with ``"num_class": K`` for
        the softmax objective): labels and weights from the Dataset."""
        return self(train_data.get_label(), preds, train_data.get_weight())

    def xgboost_objective(self, preds: ArrayLike, dtrain: Any) -> tuple[Array, Array]:
        """``xgboost.train(..., obj=obj.xgboost_objective)`` (with ``"num_class": K`` for the softmax
        objective): labels and weights from the DMatrix."""
        return self(dtrain.get_label(), preds, dtrain.get_weight())

    def lightgbm_metric(self, preds: ArrayLike, eval_data: Any) -> tuple[str, float, bool]:
        """``lightgbm.train(feval=obj.lightgbm_metric)``: ``(name, weighted mean loss, False)``."""
        return self.metric_name, self.loss(eval_data.get_label(), preds, eval_data.get_weight()), False

    def lightgbm_sklearn_metric(
        self, y_true: ArrayLike, y_pred: ArrayLike, weight: ArrayLike | None,
    ) -> tuple[str, float, bool]:
        """``LGBMClassifier.fit(eval_metric=obj.lightgbm_sklearn_metric)``: ``(name, loss, False)``."""
        return self.metric_name, self.loss(y_true, y_pred, weight), False

    def xgboost_metric(self, predt: ArrayLike, dmatrix: Any) -> tuple[str, float]:
        """``xgboost.train(custom_metric=obj.xgboost_metric)``: ``(name, weighted mean loss)``."""
        return self.metric_name, self.loss(dmatrix.get_label(), predt, dmatrix.get_weight())


# --------------------------------------------------------------------------------------------------
# Binary objectives
# --------------------------------------------------------------------------------------------------
class _BinaryObjective(_EngineAdapters):
    """Everything but the loss term: label sides, weights, start score (engine adapters inherited)."""

    # ``positive``: whether z is the positive label's side (a bool, or one per row); a loss whose
    # sides differ beyond the weights of _class_weights reads it
    def _derivatives(self, z, positive):  # A'(z) and the hessian choice, defined by each loss
        raise NotImplementedError

    def _value(self, z, positive):  # A(z), defined by each loss
        raise NotImplementedError

    def _class_weights(self):
        """Weights of the positive and the negative label term, by which each side's A is multiplied."""
        return (1.0, 1.0) if self.alpha is None else (self.alpha, 1.0 - self.alpha)

    def __call__(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None,
    ) -> tuple[Array, Array]:
        """Gradient and hessian of the weighted loss; the scikit-learn-style objective of both engines.

        Args:
            y_true: labels in [0, 1] (1 = positive; fractions are soft labels).
            y_pred: raw scores (margins).
            sample_weight: None or one weight >= 0 per row.

        Returns:
            ``(grad, hess)``, float64, shaped like ``y_pred``.
        """
        scores = _scores(y_pred, binary=True)
        num_rows = scores.shape[0]
        labels = _binary_labels(y_true, "y_true", num_rows)
        weights = _sample_weight(sample_weight, num_rows)
        alpha_pos, alpha_neg = self._class_weights()
        positive = labels == 1.0
        if np.count_nonzero(positive) + np.count_nonzero(labels == 0.0) == num_rows:
            # hard labels: one term per row, A(s x) with s = +-1, so grad = s w alpha_t A'(s x)
            sign = np.multiply(labels, 2.0)
            sign -= 1.0
            grad, hess = self._derivatives(sign * scores, positive)
            if (alpha_pos, alpha_neg) != (1.0, 1.0) or weights is not None:
                coef = np.where(positive, alpha_pos, alpha_neg)
                if weights is not None:
                    coef *= weights
                hess *= coef
                sign *= coef
            grad *= sign
            return grad, hess
        first_pos, curvature_pos = self._derivatives(scores, True)
        first_neg, curvature_neg = self._derivatives(-scores, False)
        coef_pos, coef_neg = alpha_pos * labels, alpha_neg * (1.0 - labels)
        if weights is not None:
            coef_pos, coef_neg = coef_pos * weights, coef_neg * weights
        return coef_pos * first_pos - coef_neg * first_neg, coef_pos * curvature_pos + coef_neg * curvature_neg

    def loss(self, y_true: ArrayLike, raw_score: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        r"""Weighted mean loss :math:`\sum_i w_i \ell_i / \sum_i w_i`; also ``XGBClassifier(eval_metric=obj.loss)``."""
        scores = _scores(raw_score, binary=True)
        labels = _binary_labels(y_true, "y_true", scores.shape[0])
        weights = _sample_weight(sample_weight, scores.shape[0])
        alpha_pos, alpha_neg = self._class_weights()
        per_row = (alpha_pos * labels * self._value(scores, True)
                   + alpha_neg * (1.0 - labels) * self._value(-scores, False))
        total = _weight_total(weights, scores.shape[0])
        return float((per_row if weights is None else per_row * weights).sum() / total)

    def init_score(self, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Any:
        """The constant raw score that minimises the weighted loss, repeated for every row.

        Pass it as LightGBM's ``init_score`` or XGBoost's ``base_margin``, and add ``init[0]`` to
        the raw scores the model predicts for new rows.

        Args:
            y: labels in [0, 1]: an array, or a 1-D dask array or dask Series (see below).
            sample_weight: None or one weight >= 0 per row; a dask collection of y's kind when y is one.

        Returns:
            float64 array shaped like ``y``, every entry the same. For a dask ``y`` a dask array in
            its chunks (or a dask Series in its partitions, with its index), not yet computed: the
            label sums are taken where the blocks are and only they come to the client.
        """
        if _is_dask(y) or _is_dask(sample_weight):
            sums = _dask_block_sums(_binary_block_sums, y, sample_weight,
                                    labels_must="labels in [0, 1] (1 = positive; fractions are soft labels)")
            return _dask_filled(y, self._start_score(sums["positive"], sums["negative"]))
        labels = _binary_labels(y, "y")
        weights = _sample_weight(sample_weight, labels.shape[0])
        mass_pos = float(np.dot(labels, weights) if weights is not None else labels.sum())
        mass_neg = float(np.dot(1.0 - labels, weights) if weights is not None else (1.0 - labels).sum())
        return np.full(labels.shape, self._start_score(mass_pos, mass_neg))

    def _start_score(self, label_weight_pos, label_weight_neg, high=1.0):
        """The constant minimising the loss of rows whose positive / negative label weights sum as given
        (``high``: where the search for a score with a positive slope starts)."""
        alpha_pos, alpha_neg = self._class_weights()
        mass_pos, mass_neg = alpha_pos * label_weight_pos, alpha_neg * label_weight_neg
        if not (mass_pos > 0.0 and mass_neg > 0.0):
            raise ValueError(
                f"init_score needs weight on both labels: the loss of a constant score has no minimum "
                f"otherwise; got positive-label weight {mass_pos!r} and negative-label weight {mass_neg!r} "
                f"(label counts times sample_weight times alpha)"
            )

        def slope(c):  # derivative of the loss of the constant c; negative far left, positive far right
            first = self._derivatives(np.array([c, -c]), np.array([True, False]))[0]
            return mass_pos * first[0] - mass_neg * first[1]

        return _increasing_root(slope, high=high)

    def predict_proba(self, raw_score: ArrayLike) -> Array:
        r"""The model's probability of the positive label, :math:`\sigma(x)`; not calibrated.

        ``raw_score`` must include the start score (``init_score``) for LightGBM, which leaves it
        out of its predictions. Any shape; the result has the same shape.
        """
        scores = np.asarray(raw_score, dtype=np.float64)
        return terms.logistic(np.atleast_1d(scores))[0].reshape(scores.shape)


def _increasing_root(slope, high=1.0):
    """A root of a scalar function that is negative far left and positive far right (bisection from
    the bracket [-1, high], widened while it holds no sign change)."""
    low = -1.0
    while slope(low) >= 0.0:
        low *= 2.0
    while slope(high) <= 0.0:
        high *= 2.0
    for _ in range(100):  # the bracket shrinks 2**100-fold: far below float64 resolution
        middle = 0.5 * (low + high)
        if slope(middle) > 0.0:
            high = middle
        else:
            low = middle
    return 0.5 * (low + high)


class BinaryFocalObjective(_BinaryObjective):
    r"""Binary focal loss (Lin et al. 2017) as a LightGBM / XGBoost objective.

    For a raw score :math:`x`, a label :math:`y \in [0, 1]` and a row weight :math:`w`, with
    :math:`A(z) = -(1 - \sigma(z))^\gamma \log\sigma(z)`:

    .. math::

        \ell(x, y) = w\left[\,y\,\alpha\,A(x) + (1 - y)(1 - \alpha)\,A(-x)\,\right], \qquad
        g = \frac{\partial \ell}{\partial x}, \qquad h \approx \frac{\partial^2 \ell}{\partial x^2}

    as :func:`focalloss.reference.sigmoid_focal_loss`. For the hard-label side with :math:`p_t`:
    :math:`A' = -(1 - p_t)^\gamma (1 - p_t - \gamma p_t \log p_t)` and
    :math:`A'' = p_t (1 - p_t)^\gamma[(2\gamma + 1)(1 - p_t) + \gamma \log p_t (1 - p_t - \gamma p_t)]`.
    With ``gamma=0, alpha=None`` it is logistic loss: :math:`g = p - y`, :math:`h = p(1 - p)`.

    Args:
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None: both 1. Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        hessian: ``"floored"`` (default; the exact hessian, never below the reweighted one),
            ``"reweighted"`` (logistic curvature times the focal weight; always > 0) or ``"exact"``
            (can be negative). See :mod:`focalloss.boosting`.

    Shape:
        - y_true, y_pred, sample_weight: ``(n,)``; grad, hess: ``(n,)``.

    Example:
        >>> import numpy as np
        >>> from focalloss.boosting import BinaryFocalObjective
        >>> obj = BinaryFocalObjective(alpha=0.25, gamma=2.0)
        >>> y, score = np.array([1.0, 0.0, 1.0]), np.array([2.0, -1.0, -4.0])
        >>> grad, hess = obj(y, score)
        >>> grad.round(6)
        array([-0.001218,  0.039436, -0.271599])
        >>> hess.round(6)  # the last row is badly wrong: its exact hessian is negative
        array([0.003169, 0.082974, 0.004885])
        >>> BinaryFocalObjective(alpha=0.25, gamma=2.0, hessian="exact")(y, score)[1].round(6)
        array([ 0.003169,  0.082974, -0.011676])
        >>> obj.init_score(np.array([1.0, 0.0, 0.0, 0.0])).round(4)  # logit(1/4) would be -1.0986
        array([-0.8199, -0.8199, -0.8199, -0.8199])
    """

    metric_name = "focal_loss"

    def __init__(self, *, alpha: float | None = 0.25, gamma: float = 2.0, hessian: Hessian = "floored") -> None:
        self.alpha = _binary_alpha(alpha)
        self.gamma = _scalars.nonnegative(gamma, "gamma")
        self.hessian = _hessian(hessian)

    def _derivatives(self, z, positive):
        first, second, p = terms.focal_derivatives(z, self.gamma)
        return first, terms.curvature(self.hessian, first, second, p)

    def _value(self, z, positive):
        return terms.focal_value(z, self.gamma)

    def __repr__(self):
        return f"BinaryFocalObjective(alpha={self.alpha!r}, gamma={self.gamma!r}, hessian={self.hessian!r})"


class BinaryPolyObjective(_BinaryObjective):
    r"""Binary poly-1 focal loss (Leng et al. 2022, "PolyLoss") as a LightGBM / XGBoost objective.

    Focal loss plus :math:`\epsilon (1 - p_t)^{\gamma + 1}`, alpha weighting the focal part only (as
    :func:`focalloss.reference.sigmoid_poly1_focal_loss`): for a raw score :math:`x`, a label
    :math:`y \in [0, 1]` and a row weight :math:`w`,

    .. math::

        \ell(x, y) = w\left[\,y\,A_\alpha(x) + (1 - y)\,A_{1 - \alpha}(-x)\,\right], \qquad
        A_a(z) = -a\,(1 - p)^\gamma \log p + \epsilon\,(1 - p)^{\gamma + 1}, \ p = \sigma(z)

    Each side's gradient is the logistic one times a weight, :math:`A_a' = -(1 - p)\,m` with
    :math:`m = (1 - p)^{\gamma - 1}[a(1 - p - \gamma p \log p) + \epsilon(\gamma + 1)p(1 - p)]`,
    and :math:`m \ge 0` for every score exactly when :math:`\epsilon \ge -a` (as p tends to 1,
    :math:`m \approx (\gamma + 1)(a + \epsilon)(1 - p)^\gamma`; with :math:`-\log p \ge 1 - p` the
    bracket is at least :math:`a(1 - p)^2`). Then the focal objective's three ``hessian`` choices carry
    over: ``"reweighted"`` is :math:`m\,p(1 - p) = -A_a'\,p`
    (:func:`focalloss.reference.sigmoid_poly1_focal_loss_reweighted_hess`), ``"floored"`` the larger
    of it and the exact one (:func:`focalloss.reference.sigmoid_poly1_focal_loss_floored_hess`), and
    ``"exact"`` can be negative for badly wrong rows. An epsilon below ``-min(alpha, 1 - alpha)``
    (below -1 with ``alpha=None``) makes a side's loss dip below 0 and rise back for well-classified
    rows, so their gradient pushes them back and their reweighted curvature is negative: it is
    refused. With ``epsilon=0`` it is :class:`BinaryFocalObjective`.

    Args:
        alpha: weight in [0, 1] of the positives' focal part (negatives get 1 - alpha), or None: both 1.
            Default 0.25.
        gamma: focusing parameter >= 0, default 2.
        epsilon: weight of the polynomial term, >= -min(alpha, 1 - alpha) (>= -1 for alpha None); default 1.
        hessian: ``"floored"`` (default), ``"reweighted"`` or ``"exact"``, as for :class:`BinaryFocalObjective`.

    Shape:
        - y_true, y_pred, sample_weight: ``(n,)``; grad, hess: ``(n,)``.

    Example:
        >>> import numpy as np
        >>> from focalloss.boosting import BinaryPolyObjective
        >>> obj = BinaryPolyObjective(alpha=0.25, gamma=2.0, epsilon=1.0)
        >>> grad, hess = obj(np.array([1.0, 0.0, 1.0]), np.array([2.0, -1.0, -4.0]))
        >>> grad.round(6)
        array([-0.005693,  0.082098, -0.322698])
        >>> hess.round(6)  # the last row is badly wrong: its exact hessian is negative
        array([0.014462, 0.165067, 0.005804])
        >>> BinaryPolyObjective(hessian="exact")(np.array([1.0, 0.0, 1.0]), np.array([2.0, -1.0, -4.0]))[1].round(6)
        array([ 0.014462,  0.165067, -0.059099])
        >>> obj.init_score(np.array([1.0, 0.0, 0.0, 0.0])).round(4)
        array([-0.6822, -0.6822, -0.6822, -0.6822])
    """

    metric_name = "poly1_focal_loss"

    def __init__(
        self, *, alpha: float | None = 0.25, gamma: float = 2.0, epsilon: float = 1.0, hessian: Hessian = "floored",
    ) -> None:
        self.alpha = _binary_alpha(alpha)
        self.gamma = _scalars.nonnegative(gamma, "gamma")
        self.epsilon = _scalars.at_least_minus_one(epsilon, "epsilon")
        self.hessian = _hessian(hessian)
        lowest = min(self._side_alphas())
        if self.epsilon < -lowest:
            raise ValueError(
                f"epsilon must be >= -min(alpha, 1 - alpha) = {-lowest!r} for alpha={self.alpha!r}: below it a "
                f"side's loss is not decreasing in its score and has no positive curvature; got {self.epsilon!r}"
            )

    def _side_alphas(self):
        """The focal part's weight on the positive and the negative side."""
        return (1.0, 1.0) if self.alpha is None else (self.alpha, 1.0 - self.alpha)

    def _class_weights(self):
        return 1.0, 1.0  # alpha weighs the focal part only: it is inside each side's term

    def _side_alpha(self, positive):
        a_pos, a_neg = self._side_alphas()
        if isinstance(positive, bool):
            return a_pos if positive else a_neg
        return np.where(positive, a_pos, a_neg)

    def _derivatives(self, z, positive):
        a = self._side_alpha(positive)
        first, second, p = terms.poly1_derivatives(z, a, self.gamma, self.epsilon)
        # the floor per unit of the side's weight w alpha_t, as the reference's
        return first, terms.curvature(self.hessian, first, second, p, floor=terms.CURVATURE_FLOOR * a)

    def _value(self, z, positive):
        return terms.poly1_value(z, self._side_alpha(positive), self.gamma, self.epsilon)

    def _start_score(self, label_weight_pos, label_weight_neg):
        # a side with no focal weight and epsilon = 0 is 0 for every score: it weighs nothing
        a_pos, a_neg = self._side_alphas()
        return super()._start_score(label_weight_pos if a_pos or self.epsilon else 0.0,
                                    label_weight_neg if a_neg or self.epsilon else 0.0)

    def __repr__(self):
        return (f"BinaryPolyObjective(alpha={self.alpha!r}, gamma={self.gamma!r}, epsilon={self.epsilon!r}, "
                f"hessian={self.hessian!r})")


class BinaryAsymmetricObjective(_BinaryObjective):
    r"""Binary asymmetric loss (ASL, Ridnik et al. 2021) as a LightGBM / XGBoost objective.

    A focusing parameter per label side and negatives shifted by a probability margin :math:`m`
    (``clip``), as :func:`focalloss.reference.sigmoid_asymmetric_loss`: for a raw score :math:`x`,
    :math:`p = \sigma(x)`, a label :math:`y \in [0, 1]` and a row weight :math:`w`,

    .. math::

        \ell(x, y) = w\left[\,y\,\alpha\,A_+(x) + (1 - y)(1 - \alpha)\,N(x)\,\right], \qquad
        A_+ = -(1 - p)^{\gamma_+} \log p, \quad N = -p_m^{\gamma_-} \log(1 - p_m), \ p_m = \max(p - m, 0)

    A negative with :math:`p \le m` has no loss and no gradient; its hessian is 0 with ``hessian="exact"``
    and, with the other choices, the float32 floor (1.2e-38) that every row gets. Each side's gradient is
    logistic loss's times a weight >= 0, so the focal objective's ``hessian`` choices carry over:
    ``"reweighted"`` is the size of the gradient times :math:`p_t`
    (:func:`focalloss.reference.sigmoid_asymmetric_loss_reweighted_hess`; at most
    :math:`(\gamma_+ + 1)/4` for a positive and :math:`(\gamma_- + 1)/4` for a negative), ``"floored"``
    the larger of it and the exact one (:func:`focalloss.reference.sigmoid_asymmetric_loss_floored_hess`),
    and ``"exact"`` is negative for badly wrong rows of either side. For :math:`0 < \gamma_- < 1` with
    :math:`m > 0` the negatives' exact curvature has no bound as :math:`p` falls to :math:`m` (it grows
    like :math:`(p - m)^{\gamma_- - 1}`): ``"exact"`` and ``"floored"`` are refused there. With
    ``gamma_pos = gamma_neg = gamma`` and ``clip=0`` it is :class:`BinaryFocalObjective` with that alpha.

    Args:
        gamma_pos: focusing parameter of the positives, >= 0, default 1.
        gamma_neg: focusing parameter of the negatives, >= 0, default 4.
        clip: the probability margin m in [0, 1) that shifts the negatives, default 0.05.
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None (default): both 1.
        hessian: ``"floored"`` (default), ``"reweighted"`` or ``"exact"``, as for :class:`BinaryFocalObjective`;
            only ``"reweighted"`` for ``0 < gamma_neg < 1`` with ``clip > 0``.

    Shape:
        - y_true, y_pred, sample_weight: ``(n,)``; grad, hess: ``(n,)``.

    Example:
        >>> import numpy as np
        >>> from focalloss.boosting import BinaryAsymmetricObjective
        >>> y, score = np.array([1.0, 0.0, 0.0, 0.0]), np.array([-4.0, 1.0, 3.0, -3.0])
        >>> obj = BinaryAsymmetricObjective(gamma_pos=1.0, gamma_neg=4.0, clip=0.05)
        >>> grad, hess = obj(y, score)
        >>> grad.round(6)  # the last negative has p = 0.047 <= m: no gradient
        array([-1.035322,  0.416534,  0.617138,  0.      ])
        >>> hess.round(6)  # the first and third rows are badly wrong: their exact hessians are negative
        array([0.018622, 0.441454, 0.029268, 0.      ])
        >>> BinaryAsymmetricObjective(hessian="exact")(y, score)[1].round(6)
        array([-0.016383,  0.441454, -0.246222,  0.      ])
        >>> obj.init_score(np.array([1.0, 0.0, 0.0, 0.0])).round(4)  # logit(1/4) would be -1.0986
        array([0.201, 0.201, 0.201, 0.201])
    """

    metric_name = "asymmetric_loss"

    def __init__(
        self, *, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05, alpha: float | None = None,
        hessian: Hessian = "floored",
    ) -> None:
        self.gamma_pos = _scalars.nonnegative(gamma_pos, "gamma_pos")
        self.gamma_neg = _scalars.nonnegative(gamma_neg, "gamma_neg")
        self.clip = _scalars.unit_interval_open_above(clip, "clip")
        self.alpha = _binary_alpha(alpha)
        self.hessian = _hessian(hessian)
        if self.hessian != "reweighted" and self.clip > 0 and 0 < self.gamma_neg < 1:
            raise ValueError(
                f"hessian={self.hessian!r} needs gamma_neg = 0 or gamma_neg >= 1 when clip > 0: for 0 < gamma_neg < 1 "
                f"the negatives' exact curvature grows without bound as p falls to the margin (like "
                f"(p - clip)^(gamma_neg - 1)); use hessian='reweighted' (at most (gamma_neg + 1)/4) or clip=0; got "
                f"gamma_neg={self.gamma_neg!r}, clip={self.clip!r}"
            )

    def _side_derivatives(self, z, positive):
        if positive:
            return terms.focal_derivatives(z, self.gamma_pos)
        return terms.asymmetric_negative_derivatives(z, self.gamma_neg, self.clip)

    def _derivatives(self, z, positive):
        if isinstance(positive, (bool, np.bool_)):
            first, second, p = self._side_derivatives(z, positive)
        else:  # hard labels, one side per row
            first, second, p = np.empty(z.shape), np.empty(z.shape), np.empty(z.shape)
            for side, rows in ((True, positive), (False, ~positive)):
                first[rows], second[rows], p[rows] = self._side_derivatives(z[rows], side)
        return first, terms.curvature(self.hessian, first, second, p)

    def _value(self, z, positive):
        if positive:
            return terms.focal_value(z, self.gamma_pos)
        return terms.asymmetric_negative_value(z, self.gamma_neg, self.clip)

    def _start_score(self, label_weight_pos, label_weight_neg):
        """As for the other binary objectives, with the search capped at the score 700.

        The slope of the loss of a constant is negative up to the margin's logit (the negatives have none
        there) and changes sign at most once (the negatives' slope over the positives' never falls: tested
        on a grid of gamma_pos, gamma_neg and clip), so the bisection finds the minimum. With
        ``gamma_pos=0`` and ``clip > 0`` it may never turn: the negatives' loss stays below
        -(1 - m)^gamma_neg log m and the positives' falls to 0, so a set with enough positives has
        its infimum at an infinite score.
        """
        alpha_pos, alpha_neg = self._class_weights()
        mass_pos, mass_neg = alpha_pos * label_weight_pos, alpha_neg * label_weight_neg
        top = 700.0  # exp(-top) is a normal float64: the slope there is still a product of normal numbers
        if mass_pos > 0.0 and mass_neg > 0.0:
            first = self._derivatives(np.array([top, -top]), np.array([True, False]))[0]
            if not mass_pos * first[0] - mass_neg * first[1] > 0.0:
                raise ValueError(
                    f"init_score: the loss of a constant score has no minimum here, it still falls at the score "
                    f"{top} (gamma_pos={self.gamma_pos!r}, clip={self.clip!r}: the negatives' loss is bounded "
                    f"and the positives' falls to 0); got positive-label weight {mass_pos!r} and negative-label "
                    f"weight {mass_neg!r}. Lower the positives' share, or use gamma_pos > 0 or clip=0"
                )
        return super()._start_score(label_weight_pos, label_weight_neg, high=top)

    def __repr__(self):
        return (f"BinaryAsymmetricObjective(gamma_pos={self.gamma_pos!r}, gamma_neg={self.gamma_neg!r}, "
                f"clip={self.clip!r}, alpha={self.alpha!r}, hessian={self.hessian!r})")


class BinarySoftenedObjective(_BinaryObjective):
    r"""The softened loss (hard truncation smoothed by a sigmoid of slope k) as a tree-boosting objective.

    With :math:`A(z) = -\sigma(-kz)\log\sigma(z)`, as :func:`focalloss.reference.sigmoid_softened_loss`:

    .. math::

        \ell(x, y) = w\left[\,y\,\alpha\,A(x) + (1 - y)(1 - \alpha)\,A(-x)\,\right]

    Its exact hessian is negative for badly misclassified rows too (below :math:`x_t \approx -3` at
    k=1), so the same ``hessian`` choices apply. The hard truncation loss itself has no objective
    here: it jumps at its threshold, so no Newton step sees the loss it removes, rows past the
    threshold have zero gradient and zero hessian, and no constant score minimises it (the infimum
    lies just past the threshold), which leaves no start score. This is its smooth replacement.

    Args:
        k: slope >= 0 of the softened step, default 1 (k=0 gives half the logistic loss).
        alpha: positives' weight in [0, 1], or None (default): both 1.
        hessian: ``"floored"`` (default), ``"reweighted"`` or ``"exact"``, as for
            :class:`BinaryFocalObjective`.

    Shape:
        - y_true, y_pred, sample_weight: ``(n,)``; grad, hess: ``(n,)``.

    Example:
        >>> import numpy as np
        >>> from focalloss.boosting import BinarySoftenedObjective
        >>> grad, hess = BinarySoftenedObjective(k=2.0)(np.array([1.0, 0.0]), np.array([2.0, -1.0]))
        >>> grad.round(6), hess.round(6)
        (array([-0.006628,  0.09784 ]), array([0.018955, 0.236582]))
    """

    metric_name = "softened_loss"

    def __init__(self, *, k: float = 1.0, alpha: float | None = None, hessian: Hessian = "floored") -> None:
        self.k = _scalars.nonnegative(k, "k")
        self.alpha = _binary_alpha(alpha)
        self.hessian = _hessian(hessian)

    def _derivatives(self, z, positive):
        first, second, p = terms.softened_derivatives(z, self.k)
        return first, terms.curvature(self.hessian, first, second, p)

    def _value(self, z, positive):
        return terms.softened_value(z, self.k)

    def __repr__(self):
        return f"BinarySoftenedObjective(k={self.k!r}, alpha={self.alpha!r}, hessian={self.hessian!r})"


class BinaryFocalStarObjective(_BinaryObjective):
    r"""FL* (appendix of Lin et al. 2017) as a tree-boosting objective; convex, so its hessian is exact.

    With :math:`A(z) = -\log\sigma(\gamma z + \beta) / \gamma`, as
    :func:`focalloss.reference.sigmoid_focal_loss_star`:

    .. math::

        \ell(x, y) = w\left[\,y\,\alpha\,A(x) + (1 - y)(1 - \alpha)\,A(-x)\,\right], \qquad
        A''(z) = \gamma\,\sigma(u)\,\sigma(-u),\ u = \gamma z + \beta

    The hessian is the exact one, positive everywhere (floored only where float32 would lose it).

    Args:
        gamma: slope > 0, default 1.
        beta: shift, default 0.
        alpha: positives' weight in [0, 1], or None (default): both 1.

    Shape:
        - y_true, y_pred, sample_weight: ``(n,)``; grad, hess: ``(n,)``.

    Example:
        >>> import numpy as np
        >>> from focalloss.boosting import BinaryFocalStarObjective
        >>> obj = BinaryFocalStarObjective(gamma=2.0, beta=1.0)
        >>> grad, hess = obj(np.array([1.0, 0.0]), np.array([2.0, -1.0]))
        >>> grad.round(6), hess.round(6)
        (array([-0.006693,  0.047426]), array([0.013296, 0.090353]))
    """

    metric_name = "focal_star_loss"

    def __init__(self, *, gamma: float = 1.0, beta: float = 0.0, alpha: float | None = None) -> None:
        self.gamma = _scalars.positive(gamma, "gamma")
        self.beta = _scalars.finite(beta, "beta")
        self.alpha = _binary_alpha(alpha)

    def _derivatives(self, z, positive):
        return terms.focal_star_derivatives(z, self.gamma, self.beta)

    def _value(self, z, positive):
        return terms.focal_star_value(z, self.gamma, self.beta)

    def __repr__(self):
        return f"BinaryFocalStarObjective(gamma={self.gamma!r}, beta={self.beta!r}, alpha={self.alpha!r})"


# --------------------------------------------------------------------------------------------------
# Multi-class
# --------------------------------------------------------------------------------------------------
class SoftmaxFocalObjective(_EngineAdapters):
    r"""Softmax focal loss as a multi-class LightGBM / XGBoost objective: true gradient, diagonal hessian.

    For raw scores :math:`x \in \mathbb{R}^K`, :math:`p = \mathrm{softmax}(x)`, class :math:`y` and
    row weight :math:`w`, as :func:`focalloss.reference.softmax_focal_loss`:

    .. math::

        \ell = w\,\alpha_y\,(1 - p_y)^\gamma(-\log p_y), \qquad
        \frac{\partial \ell}{\partial x_j} = w\,\alpha_y\, m\,(p_j - \delta_{jy}), \quad
        m = (1 - p_y)^\gamma - \gamma\,p_y(1 - p_y)^{\gamma - 1}\log p_y

    The engines take one hessian value per score, the diagonal. ``hessian="exact"`` is the true
    diagonal (:func:`focalloss.reference.softmax_focal_loss_hess_diag`, negative when :math:`p_y` is
    small); ``"reweighted"`` is cross-entropy's :math:`p_j(1 - p_j)` times :math:`w\alpha_y m`
    (:func:`focalloss.reference.softmax_focal_loss_reweighted_hess_diag`, always positive);
    ``"floored"`` (default) is the larger of the two, per entry.

    Args:
        alpha: None (default), a float >= 0 multiplying every class, or one weight >= 0 per class.
        gamma: focusing parameter >= 0, default 2.
        hessian: ``"floored"`` (default), ``"reweighted"`` or ``"exact"``.

    Shape:
        - y_true, sample_weight: ``(n,)``; y_pred, grad, hess: ``(n, K)``, the layout of
          LightGBM >= 4 and XGBoost >= 2.1.

    Example:
        >>> import numpy as np
        >>> from focalloss.boosting import SoftmaxFocalObjective
        >>> obj = SoftmaxFocalObjective(gamma=2.0)
        >>> grad, hess = obj(np.array([0, 1]), np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]))
        >>> grad.round(6)
        array([[-0.027285,  0.022307,  0.004977],
               [ 0.058869, -1.128764,  1.069895]])
        >>> hess.round(6)
        array([[0.062361, 0.045753, 0.006145],
               [0.055966, 0.061515, 0.111064]])
    """

    metric_name = "softmax_focal_loss"

    def __init__(
        self, *, alpha: float | ArrayLike | None = None, gamma: float = 2.0, hessian: Hessian = "floored",
    ) -> None:
        self.alpha = _class_alpha(alpha)
        self.gamma = _scalars.nonnegative(gamma, "gamma")
        self.hessian = _hessian(hessian)

    def __repr__(self):
        alpha = self.alpha.tolist() if isinstance(self.alpha, np.ndarray) else self.alpha
        return f"SoftmaxFocalObjective(alpha={alpha!r}, gamma={self.gamma!r}, hessian={self.hessian!r})"

    def _label_weights(self, labels, num_classes):
        """alpha_y per row (1 for alpha=None)."""
        if self.alpha is None:
            return np.ones(labels.shape)
        if isinstance(self.alpha, float):
            return np.full(labels.shape, self.alpha)
        if self.alpha.size != num_classes:
            raise ValueError(f"alpha holds {self.alpha.size} class weights but y_pred has {num_classes} classes")
        return self.alpha[labels]

    def _inputs(self, y_true, y_pred, sample_weight):
        scores = _scores(y_pred, binary=False)
        num_rows, num_classes = scores.shape
        labels = _class_labels(y_true, "y_true", num_classes, num_rows)
        coef = self._label_weights(labels, num_classes)
        weights = _sample_weight(sample_weight, num_rows)
        return scores, labels, coef if weights is None else coef * weights, weights

    def __call__(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None,
    ) -> tuple[Array, Array]:
        """Gradient and diagonal hessian of the weighted loss; the scikit-learn-style objective.

        Args:
            y_true: class indices 0 .. K-1 (floats holding integers are fine).
            y_pred: raw scores, one column per class.
            sample_weight: None or one weight >= 0 per row.

        Returns:
            ``(grad, hess)``, float64, shaped like ``y_pred``.
        """
        scores, labels, coef, _ = self._inputs(y_true, y_pred, sample_weight)
        d, pi, one_minus_pi = terms.label_margin(scores, labels)
        first, second, p_label = terms.focal_derivatives(d, self.gamma)
        is_label = np.zeros(scores.shape, dtype=bool)
        is_label[np.arange(scores.shape[0]), labels] = True
        d_jacobian = np.where(is_label, 1.0, -pi)  # d(d)/dx_j; pi is 0 at the label
        first, second = first[:, None], second[:, None]
        curvature = second * d_jacobian**2 - first * pi * one_minus_pi
        if self.hessian != "exact":
            # p_j (1 - p_j) off the label, with p_j = q pi_j and 1 - p_j = p_y + q (1 - pi_j), q = 1 - p_y
            q_label = terms.logistic(d)[1][:, None]
            off_label = pi * q_label * one_minus_pi
            off_label += p_label[:, None] * pi
            reweighted = -first * np.where(is_label, p_label[:, None], off_label)
            curvature = reweighted if self.hessian == "reweighted" else np.maximum(curvature, reweighted)
            curvature = np.maximum(curvature, terms.CURVATURE_FLOOR)
        coef = coef[:, None]
        return coef * first * d_jacobian, coef * curvature

    def loss(self, y_true: ArrayLike, raw_score: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        r"""Weighted mean loss :math:`\sum_i w_i \ell_i / \sum_i w_i`; also ``XGBClassifier(eval_metric=obj.loss)``."""
        scores, labels, coef, weights = self._inputs(y_true, raw_score, sample_weight)
        value = terms.focal_value(terms.label_margin(scores, labels)[0], self.gamma)
        return float((coef * value).sum() / _weight_total(weights, scores.shape[0]))

    def init_score(
        self, y: ArrayLike, sample_weight: ArrayLike | None = None, *, num_classes: int | None = None,
    ) -> Any:
        r"""The constant raw scores (one per class) that minimise the weighted loss, repeated for every row.

        With :math:`c_k = \alpha_k \sum_{i: y_i = k} w_i` the loss of a constant is
        :math:`\sum_k c_k f(p_k)`, :math:`f(p) = (1 - p)^\gamma(-\log p)`, convex in :math:`p` on the
        simplex; its minimum solves :math:`c_k f'(p_k) = -\lambda` for all :math:`k`, found by
        bisection on :math:`\lambda`. Scores are :math:`\log p_k`.

        Args:
            y: class indices 0 .. K-1.
            sample_weight: None or one weight >= 0 per row.
            num_classes: K; default ``len(alpha)`` for per-class alpha, else ``max(y) + 1``.

        Returns:
            float64 array ``(n, K)``, every row the same: LightGBM's ``init_score``, XGBoost's ``base_margin``.
            For a dask ``y`` (a 1-D dask array or dask Series, with ``sample_weight`` of the same
            kind) a dask array ``(n, K)`` in y's row chunks (or a dask DataFrame with columns
            0 .. K-1 in its partitions), not yet computed: only the per-class sums come to the client.
        """
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, Integral)
                                        or num_classes < 2):
            raise ValueError(f"num_classes must be None or an integer >= 2; got {num_classes!r}")
        if num_classes is None and isinstance(self.alpha, np.ndarray):
            num_classes = self.alpha.size
        if _is_dask(y) or _is_dask(sample_weight):
            rule = "class indices, whole numbers >= 0" + ("" if num_classes is None else f" and < {num_classes}")
            sums = _dask_block_sums(_class_block_sums, y, sample_weight, num_classes, labels_must=rule)
            num_classes = num_classes or int(sums["top"]) + 1
            mass = np.pad(sums["mass"], (0, num_classes - sums["mass"].size))
            return _dask_filled(y, self._start_scores(mass))
        labels = _rows(y, "y")
        if num_classes is None:
            top = labels.max(initial=1.0)  # not finite: _class_labels below says what is wrong
            num_classes = int(top) + 1 if np.isfinite(top) else 2
        labels = _class_labels(labels, "y", num_classes)
        weights = _sample_weight(sample_weight, labels.shape[0])
        mass = np.bincount(labels, weights=weights, minlength=num_classes)
        return np.tile(self._start_scores(mass), (labels.shape[0], 1))

    def _start_scores(self, label_weights):
        """The constant scores minimising the loss of rows whose label weights sum, per class, as given."""
        mass = label_weights * self._label_weights(np.arange(label_weights.size), label_weights.size)
        if not np.all(mass > 0):
            missing = np.flatnonzero(~(mass > 0)).tolist()
            raise ValueError(
                f"init_score needs weight on every class: the loss of a constant score has no minimum "
                f"otherwise; classes {missing} have none (counts times sample_weight times alpha)"
            )
        return _softmax_constant(np.log(mass), self.gamma)

    def predict_proba(self, raw_score: ArrayLike) -> Array:
        """The model's class probabilities, ``softmax(raw_score)`` per row; not calibrated.

        ``raw_score`` (n, K) must include the start score (``init_score``) for LightGBM.
        """
        scores = _scores(raw_score, binary=False)
        exp_scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exp_scores / exp_scores.sum(axis=1, keepdims=True)


def _softmax_constant(log_mass, gamma):
    """log p minimising sum_k exp(log_mass_k) f(p_k) over the simplex, f(p) = (1 - p)^gamma (-log p).

    With p_k = sigmoid(z_k), -f'(p_k) = -A'(z_k) / (p_k (1 - p_k)) = h(z_k), decreasing in z_k (A is
    the binary focal term). The optimum has c_k h(z_k) = lambda for every k and sum_k p_k = 1: an
    outer bisection on log lambda, an inner one (all classes at once) on each z_k in [-700, 700].
    """
    bound = 700.0  # exp(-bound) stays a normal float64, so log_h is finite on the whole bracket

    def log_h(z):
        p, q, log_p, log_q = terms.logistic(z)
        return gamma * log_q + np.log(q - gamma * p * log_p) - log_p - log_q

    def z_for(log_lambda):  # log_h(z_k) = log_lambda - log_mass_k, clipped to [-bound, bound]
        low, high = np.full(log_mass.shape, -bound), np.full(log_mass.shape, bound)
        target = log_lambda - log_mass
        for _ in range(64):
            middle = 0.5 * (low + high)
            above = log_h(middle) > target
            low, high = np.where(above, middle, low), np.where(above, high, middle)
        return 0.5 * (low + high)

    edges = log_h(np.array([bound, -bound]))
    low, high = log_mass.min() + edges[0], log_mass.max() + edges[1]  # sum p >= 1 at low, ~0 at high
    for _ in range(64):
        middle = 0.5 * (low + high)
        if terms.logistic(z_for(middle))[0].sum() > 1.0:
            low = middle
        else:
            high = middle
    log_p = terms.logistic(z_for(0.5 * (low + high)))[2]
    return log_p - np.logaddexp.reduce(log_p)  # renormalised: softmax of the scores is p exactly


# --------------------------------------------------------------------------------------------------
# Dask: init_score from sums taken where the blocks are (dask is imported only once y is a collection)
# --------------------------------------------------------------------------------------------------
def _is_dask(values):
    """Whether ``values`` is a dask collection (an object with a task graph)."""
    if not hasattr(values, "__dask_graph__"):
        return False
    import dask

    return dask.is_dask_collection(values)


def _describe(values):
    """The type of ``values``, and its shape where it is known."""
    shape = getattr(values, "shape", None)
    known = isinstance(shape, tuple) and all(isinstance(size, Real) for size in shape)
    return type(values).__name__ + (f" of shape {shape}" if known else "")


def _dask_block_pairs(y, sample_weight):
    """(block of y, matching block of sample_weight or None) as dask Delayed objects, one per block of y."""
    import dask.array as da

    dataframe = sys.modules.get("dask.dataframe")  # a dask Series exists only once this is imported
    if not _is_dask(y):
        raise TypeError(
            f"sample_weight is a dask collection but y is not ({_describe(y)}); pass both as dask collections "
            f"or both as arrays"
        )
    if isinstance(y, da.Array):
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array of values; got shape {y.shape}")
        kind, expected = da.Array, f"a dask array of y's shape {y.shape}"
    elif dataframe is not None and isinstance(y, dataframe.Series):
        kind = dataframe.Series
        expected = f"a dask Series in y's {y.npartitions} partitions (as two columns of one dask DataFrame)"
    else:
        raise TypeError(f"y must be an array, a 1-D dask array or a dask Series; got {_describe(y)}")
    weights = None
    if sample_weight is not None:
        if not isinstance(sample_weight, kind):
            raise TypeError(f"sample_weight must be None or {expected}; got {_describe(sample_weight)}")
        if kind is da.Array and sample_weight.shape == y.shape:
            weights = sample_weight.rechunk(y.chunks).to_delayed()
        elif kind is not da.Array and sample_weight.npartitions == y.npartitions:
            weights = sample_weight.to_delayed()
        else:
            raise ValueError(f"sample_weight must be None or {expected}; got {_describe(sample_weight)}"
                             + ("" if kind is da.Array else f" in {sample_weight.npartitions} partitions"))
    labels = list(y.to_delayed())
    return zip(labels, [None] * len(labels) if weights is None else list(weights))


def _dask_block_sums(block_sums, y, sample_weight, *args, labels_must):
    """``block_sums(labels, weights, *args)`` run on every block where it lives and added up (see
    :func:`_added_up`); only these numbers come to the client. Bad labels or weights raise here."""
    import dask

    pairs = _dask_block_pairs(y, sample_weight)
    sums = _added_up(dask.compute(*[dask.delayed(block_sums)(labels, weights, *args) for labels, weights in pairs]))
    if sums["misaligned"]:
        raise ValueError(f"sample_weight must line up with y: {sums['misaligned']} of its blocks hold other rows "
                         f"(another length or index)")
    if sums["bad_weights"]:
        raise ValueError(f"sample_weight must hold finite weights >= 0; got {sums['bad_weights']} other value(s), "
                         f"the first {sums['first_bad_weight']!r}")
    if sums["bad_labels"]:
        raise ValueError(f"y must hold {labels_must}; got {sums['bad_labels']} other value(s), the first "
                         f"{sums['first_bad_label']!r}")
    return sums


def _added_up(shares):
    """The blocks' shares combined: counts and sums added (per-class sums padded to the longest),
    the largest label ("top") kept, and the first of the "first_*" values that is not None."""
    total = {"misaligned": 0, "bad_labels": 0, "bad_weights": 0, "first_bad_label": None, "first_bad_weight": None}
    for share in shares:
        for key, value in share.items():
            if key not in total:
                total[key] = value
            elif key == "top":
                total[key] = max(total[key], value)
            elif key == "mass":
                size = max(total[key].size, value.size)
                total[key] = np.pad(total[key], (0, size - total[key].size)) + np.pad(value, (0, size - value.size))
            elif key.startswith("first_"):
                total[key] = value if total[key] is None else total[key]
            else:
                total[key] += value
    return total


def _block_share(labels, weights, good, **sums):
    """One block's share: the bad labels and weights (how many, the first) and the given sums."""
    bad_weights = ~((weights >= 0.0) & (weights < np.inf))  # True for NaN

    def first(values, bad):
        return float(values[bad][0]) if bad.any() else None

    return {"bad_labels": int(np.count_nonzero(~good)), "first_bad_label": first(labels, ~good),
            "bad_weights": int(np.count_nonzero(bad_weights)), "first_bad_weight": first(weights, bad_weights), **sums}


def _block_arrays(labels, weights):
    """A block of y and of sample_weight as float64 arrays (weights: ones for None), or None for the
    weights when they do not line up with the labels (another length, or a pandas index of other rows)."""
    lined_up = weights is None or len(weights) == len(labels) and (
        not hasattr(labels, "index") or labels.index.equals(weights.index))
    labels = np.asarray(labels, dtype=np.float64)
    if not lined_up:
        return labels, None
    return labels, np.ones(labels.shape) if weights is None else np.asarray(weights, dtype=np.float64)


def _binary_block_sums(labels, weights):
    """A block's label weight sums for the binary start score: positive (sum w y), negative (sum w (1 - y))."""
    labels, weights = _block_arrays(labels, weights)
    if weights is None:
        return {"misaligned": 1}
    good = (labels >= 0.0) & (labels <= 1.0)  # False for NaN
    with np.errstate(invalid="ignore"):  # an inf weight times a 0 label: NaN, and the client refuses it first
        positive, negative = float(np.dot(labels, weights)), float(np.dot(1.0 - labels, weights))
    return _block_share(labels, weights, good, positive=positive, negative=negative)


def _class_block_sums(labels, weights, num_classes):
    """A block's per-class weight sums ("mass"; as many classes as its largest label needs when
    num_classes is None) and its largest finite label ("top", at least 1, as in the NumPy path)."""
    labels, weights = _block_arrays(labels, weights)
    if weights is None:
        return {"misaligned": 1}
    good = (labels >= 0.0) & (labels % 1 == 0)  # False for NaN and inf
    if num_classes is not None:
        good &= labels < num_classes
    mass = np.bincount(labels[good].astype(np.intp), weights=weights[good], minlength=num_classes or 0)
    return _block_share(labels, weights, good, mass=mass, top=float(labels[np.isfinite(labels)].max(initial=1.0)))


def _filled(block, value):
    """``value`` (a number, or one per class) at every row of one block of y, in its layout: a NumPy
    array, or for a pandas partition a Series (a DataFrame with one column per class) on its index."""
    filled = np.full((len(block),) + np.shape(value), value, dtype=np.float64)
    if hasattr(block, "index"):
        import pandas

        if filled.ndim == 1:
            return pandas.Series(filled, index=block.index, name=block.name)
        return pandas.DataFrame(filled, index=block.index)
    return filled


def _dask_filled(y, value):
    """A lazy collection holding ``value`` at every row of y, in y's chunks or partitions."""
    import dask.array as da

    value = np.asarray(value, dtype=np.float64)
    if isinstance(y, da.Array):
        if value.ndim == 0:
            return y.map_blocks(_filled, value, dtype=np.float64)
        return y.map_blocks(_filled, value, dtype=np.float64, new_axis=1, chunks=(y.chunks[0], value.shape))
    meta = (y.name, "f8") if value.ndim == 0 else {k: "f8" for k in range(value.size)}
    return y.map_partitions(_filled, value, meta=meta)
