"""The migration guide's table (docs/migration.md, "Switching from another library"), row by row.

For each peer, its call and the focalloss call that the table gives for it agree in values and in
gradients (float64, a random upstream gradient), and the naive swap (the same call with focalloss's
defaults) is off by the factor the table states. kornia and MONAI (the ``bench`` extra) are called
for real when they are installed. torchvision, Keras, mmdetection and ultralytics are not installed
here: their formulas are written out below as their sources state them, each naming the file and
version it follows, so these rows are checked on every run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tolerance

import focalloss

FLOAT64 = tolerance(torch.float64)
FLOAT32_EPS = torch.finfo(torch.float32).eps


def _value_and_grad(fn, logits):
    """fn(logits), and its gradient with respect to the logits for a fixed random upstream gradient."""
    x = logits.detach().clone().requires_grad_(True)
    out = fn(x)
    upstream = torch.rand(out.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64).to(out.dtype)
    (grad,) = torch.autograd.grad(out, x, upstream)
    return out.detach(), grad


def assert_same(peer, ours, logits, **tol):
    """The peer's call and ours give the same values and the same gradients."""
    (peer_value, peer_grad), (our_value, our_grad) = _value_and_grad(peer, logits), _value_and_grad(ours, logits)
    torch.testing.assert_close(our_value, peer_value, **(tol or FLOAT64))
    torch.testing.assert_close(our_grad, peer_grad, **(tol or FLOAT64))


def assert_differs(a, b):
    """Two results that the table says are not the same (a test of the difference, so it can fail)."""
    assert not torch.allclose(a, b, rtol=1e-3, atol=0.0), (a, b)


@pytest.fixture
def multilabel(rng):
    """(N, C) logits kept within +-12 (Keras clips probabilities at 1e-7, which then never binds) and
    0/1 targets with about one positive in six."""
    logits = torch.from_numpy(np.clip(rng.normal(scale=3.0, size=(40, 6)), -12, 12))
    targets = torch.from_numpy((rng.uniform(size=(40, 6)) < 0.17).astype(np.float64))
    return logits, targets


@pytest.fixture
def dense(rng):
    """(B, C, H, W) logits, 0/1 targets of the same shape, and class indices (B, H, W)."""
    logits = torch.from_numpy(rng.normal(scale=2.5, size=(2, 4, 3, 5)))
    targets = torch.from_numpy((rng.uniform(size=logits.shape) < 0.25).astype(np.float64))
    labels = torch.from_numpy(rng.integers(0, 4, size=(2, 3, 5)))
    return logits, targets, labels


# --------------------------------------------------------------------------------------------------
# torchvision (not installed here): torchvision.ops.sigmoid_focal_loss
# --------------------------------------------------------------------------------------------------
def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """As torchvision 0.28 states it (torchvision/ops/focal_loss.py): BCE times (1 - p_t)**gamma
    with p_t = p t + (1 - p)(1 - t); alpha >= 0 weights positives by alpha, negatives by 1 - alpha,
    and alpha = -1 turns it off; "mean" is over every element."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def test_torchvision_sigmoid_focal_loss(multilabel):
    x, t = multilabel
    assert_same(lambda z: torchvision_sigmoid_focal_loss(z, t), lambda z: focalloss.sigmoid_focal_loss(
        z, t, reduction="none"), x)
    assert_same(lambda z: torchvision_sigmoid_focal_loss(z, t, 0.5, 1.0, "mean"),
                lambda z: focalloss.sigmoid_focal_loss(z, t, alpha=0.5, gamma=1.0), x)
    assert_same(lambda z: torchvision_sigmoid_focal_loss(z, t, alpha=-1, reduction="sum"),
                lambda z: focalloss.sigmoid_focal_loss(z, t, alpha=None, reduction="sum"), x)
    # RetinaNet's normalisation: the sum over max(1, number of positives)
    positives = max(1.0, t.sum().item())
    assert_same(lambda z: torchvision_sigmoid_focal_loss(z, t, reduction="sum") / positives,
                lambda z: focalloss.sigmoid_focal_loss(z, t, normalizer="positives"), x)
    # hyperparameters are keyword-only here, torchvision's are positional
    with pytest.raises(TypeError):
        focalloss.sigmoid_focal_loss(x, t, 0.5, 1.0)


def test_torchvision_naive_swap_is_off_by_n_times_c(multilabel):
    """Code that divides torchvision's unreduced loss by the positives, kept as it is after the switch,
    divides focalloss's *mean* by them: N*C times too small."""
    x, t = multilabel
    positives = t.sum()
    before = torchvision_sigmoid_focal_loss(x, t).sum() / positives
    after = focalloss.sigmoid_focal_loss(x, t).sum() / positives
    torch.testing.assert_close(after * x.numel(), before, **FLOAT64)
    assert_differs(after, before)


def test_torchvision_soft_targets_follow_another_rule():
    """Soft targets: torchvision multiplies BCE(x, t) by (1 - p_t)**gamma, focalloss takes the expected
    hard-label loss. At x = 2, t = 0.7, gamma = 2, alpha off: 0.0879 there, 0.4963 here; 0/1 targets agree."""
    x, t = torch.tensor([2.0], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64)
    theirs = torchvision_sigmoid_focal_loss(x, t, alpha=-1)
    ours = focalloss.sigmoid_focal_loss(x, t, alpha=None, reduction="none")
    torch.testing.assert_close(theirs, torch.tensor([0.087873], dtype=torch.float64), rtol=0, atol=5e-7)
    torch.testing.assert_close(ours, torch.tensor([0.496286], dtype=torch.float64), rtol=0, atol=5e-7)
    for hard in (0.0, 1.0):
        target = torch.full_like(x, hard)
        torch.testing.assert_close(focalloss.sigmoid_focal_loss(x, target, alpha=None, reduction="none"),
                                   torchvision_sigmoid_focal_loss(x, target, alpha=-1), **FLOAT64)


# --------------------------------------------------------------------------------------------------
# kornia (installed with the bench extra): called for real
# --------------------------------------------------------------------------------------------------
def test_kornia_binary_focal_loss_with_logits(dense, rng):
    kornia_losses = pytest.importorskip("kornia.losses")
    x, _, _ = dense
    soft = torch.from_numpy(rng.uniform(size=x.shape))  # both take the expected hard-label loss
    peer = kornia_losses.binary_focal_loss_with_logits
    assert_same(lambda z: peer(z, soft, 0.25, 2.0), lambda z: focalloss.sigmoid_focal_loss(
        z, soft, reduction="none"), x)
    assert_same(lambda z: peer(z, soft, alpha=None, gamma=1.5, reduction="mean"),
                lambda z: focalloss.sigmoid_focal_loss(z, soft, alpha=None, gamma=1.5), x)
    class_weight = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    assert_same(lambda z: peer(z, soft, alpha=0.25, gamma=2.0, reduction="sum", weight=class_weight),
                lambda z: focalloss.sigmoid_focal_loss(z, soft, reduction="sum", weight=class_weight.view(-1, 1, 1)),
                x)


def test_kornia_focal_loss(dense):
    kornia_losses = pytest.importorskip("kornia.losses")
    x, _, labels = dense
    labels = labels.clone()
    labels[0, 0, :3] = -100
    C = x.shape[1]
    background_first = [1 - 0.25] + [0.25] * (C - 1)  # kornia's scalar alpha: class 0 gets 1 - alpha
    # reduction="none": kornia keeps a class axis that holds the loss at the target class only
    assert_same(lambda z: kornia_losses.focal_loss(z, labels, 0.25).sum(1),
                lambda z: focalloss.softmax_focal_loss(z, labels, alpha=background_first, reduction="none"), x)
    # "mean" divides by B*C*H*W, ignored pixels included
    assert_same(lambda z: kornia_losses.focal_loss(z, labels, alpha=0.25, reduction="mean"),
                lambda z: focalloss.softmax_focal_loss(z, labels, alpha=background_first, normalizer=z.numel()), x)
    assert_same(lambda z: kornia_losses.focal_loss(z, labels, alpha=None, gamma=0.5, reduction="sum"),
                lambda z: focalloss.softmax_focal_loss(z, labels, gamma=0.5, reduction="sum"), x)
    counted = (labels != -100).sum()
    naive = focalloss.softmax_focal_loss(x, labels, alpha=background_first)
    theirs = kornia_losses.focal_loss(x, labels, alpha=0.25, reduction="mean")
    torch.testing.assert_close(naive, theirs * x.numel() / counted, **FLOAT64)
    assert_differs(naive, theirs)


# --------------------------------------------------------------------------------------------------
# MONAI (installed with the bench extra): called for real
# --------------------------------------------------------------------------------------------------
# MONAI casts the input to float32 before computing, so its results carry float32 rounding.
MONAI_TOLERANCE = {**tolerance(torch.float32), "check_dtype": False}


def test_monai_focal_loss_sigmoid(dense):
    monai_losses = pytest.importorskip("monai.losses")
    x, t, _ = dense
    H, W = x.shape[2:]
    assert_same(lambda z: monai_losses.FocalLoss()(z, t), lambda z: focalloss.sigmoid_focal_loss(z, t, alpha=None), x,
                **MONAI_TOLERANCE)
    assert_same(lambda z: monai_losses.FocalLoss(alpha=0.25, gamma=1.5, reduction="none")(z, t),
                lambda z: focalloss.sigmoid_focal_loss(z, t, gamma=1.5, reduction="none"), x, **MONAI_TOLERANCE)
    # "sum" is the mean over the spatial dimensions, then the sum over batch and classes
    assert_same(lambda z: monai_losses.FocalLoss(reduction="sum")(z, t),
                lambda z: focalloss.sigmoid_focal_loss(z, t, alpha=None, normalizer=H * W), x, **MONAI_TOLERANCE)
    naive = focalloss.sigmoid_focal_loss(x, t)  # focalloss's default alpha is 0.25, MONAI's None
    assert_differs(naive, monai_losses.FocalLoss()(x, t).double())
    # soft targets: MONAI multiplies BCE by sigmoid(-x (2t - 1))**gamma; 0.0699 at x = 2, t = 0.7, gamma = 2
    soft = monai_losses.FocalLoss(reduction="none")(torch.tensor([[2.0]]), torch.tensor([[0.7]]))
    torch.testing.assert_close(soft.double(), torch.tensor([[0.069869]], dtype=torch.float64), rtol=0, atol=5e-7)


def test_monai_focal_loss_softmax(dense):
    monai_losses = pytest.importorskip("monai.losses")
    x, _, labels = dense
    C = x.shape[1]
    one_channel = labels[:, None]  # MONAI's B1HW labels, one-hot encoded by to_onehot_y
    assert_same(lambda z: monai_losses.FocalLoss(use_softmax=True, to_onehot_y=True)(z, one_channel),
                lambda z: focalloss.softmax_focal_loss(z, labels, normalizer=z.numel()), x, **MONAI_TOLERANCE)
    background_first = [1 - 0.25] + [0.25] * (C - 1)
    assert_same(lambda z: monai_losses.FocalLoss(use_softmax=True, to_onehot_y=True, alpha=0.25)(z, one_channel),
                lambda z: focalloss.softmax_focal_loss(z, labels, alpha=background_first, normalizer=z.numel()), x,
                **MONAI_TOLERANCE)
    naive = focalloss.softmax_focal_loss(x, labels)
    theirs = monai_losses.FocalLoss(use_softmax=True, to_onehot_y=True)(x, one_channel).double()
    torch.testing.assert_close(naive, theirs * C, **MONAI_TOLERANCE)


# --------------------------------------------------------------------------------------------------
# Keras (not installed here): keras.losses.BinaryFocalCrossentropy / CategoricalFocalCrossentropy
# --------------------------------------------------------------------------------------------------
KERAS_EPSILON = 1e-7  # keras.backend.epsilon()


def keras_binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                                    from_logits=False, label_smoothing=0.0, axis=-1):
    """As Keras 3.8 states it (keras/src/losses/losses.py, binary_focal_crossentropy; the probabilities'
    BCE clips them to [1e-7, 1 - 1e-7], keras/src/backend/torch/nn.py): labels smoothed towards 0.5,
    BCE times (1 - p_t)**gamma, alpha only with apply_class_balancing, the mean over the last axis."""
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = torch.sigmoid(y_pred)
    bce = F.binary_cross_entropy(y_pred.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON), y_true, reduction="none")
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal_bce = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal_bce = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal_bce
    return focal_bce.mean(axis)


def keras_categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                         label_smoothing=0.0, axis=-1):
    """As Keras 3.8 states it (keras/src/losses/losses.py, categorical_focal_crossentropy): one-hot
    labels smoothed to y(1 - eps) + eps/C, probabilities renormalised and clipped to [1e-7, 1 - 1e-7],
    alpha (a number or one per class) and (1 - p_c)**gamma on every class, summed over the classes."""
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    if from_logits:
        y_pred = torch.softmax(y_pred, dim=axis)
    output = y_pred / y_pred.sum(axis, keepdim=True)
    output = output.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    cce = -y_true * torch.log(output)
    weighting_factor = (1.0 - output) ** gamma * torch.as_tensor(alpha, dtype=output.dtype)
    return (weighting_factor * cce).sum(axis)


def keras_sum_over_batch_size(per_sample):
    """The Keras losses' default reduction: the sum divided by the number of per-sample values."""
    return per_sample.sum() / per_sample.numel()


def test_keras_binary_focal_crossentropy(multilabel):
    x, t = multilabel
    # Keras takes (y_true, y_pred); focalloss takes (logits, targets)
    assert_same(lambda z: keras_sum_over_batch_size(keras_binary_focal_crossentropy(t, z, from_logits=True)),
                lambda z: focalloss.sigmoid_focal_loss(z, t, alpha=None), x)
    assert_same(lambda z: keras_sum_over_batch_size(keras_binary_focal_crossentropy(
                    t, z, apply_class_balancing=True, alpha=0.4, gamma=3.0, from_logits=True)),
                lambda z: focalloss.sigmoid_focal_loss(z, t, alpha=0.4, gamma=3.0), x)
    # Keras's default takes probabilities: pass their logits
    p = torch.sigmoid(x)
    assert_same(lambda q: keras_sum_over_batch_size(keras_binary_focal_crossentropy(t, q)),
                lambda q: focalloss.sigmoid_focal_loss(torch.logit(q), t, alpha=None), p)
    # the naive swap applies alpha = 0.25, which Keras leaves off unless apply_class_balancing=True
    assert_differs(focalloss.sigmoid_focal_loss(x, t),
                   keras_sum_over_batch_size(keras_binary_focal_crossentropy(t, x, from_logits=True)))


def test_keras_binary_label_smoothing_has_no_equivalent(multilabel):
    """Keras smooths the labels towards 0.5 and then applies torchvision's soft-target rule, so the same
    smoothed targets give another loss here."""
    x, t = multilabel
    smoothed = t * 0.9 + 0.05
    theirs = keras_sum_over_batch_size(keras_binary_focal_crossentropy(t, x, from_logits=True, label_smoothing=0.1))
    assert_differs(focalloss.sigmoid_focal_loss(x, smoothed, alpha=None), theirs)
    torch.testing.assert_close(theirs, torchvision_sigmoid_focal_loss(x, smoothed, alpha=-1, reduction="mean"),
                               **FLOAT64)


def test_keras_categorical_focal_crossentropy(rng):
    x = torch.from_numpy(rng.normal(scale=2.0, size=(30, 5)))
    labels = torch.from_numpy(rng.integers(0, 5, size=30))
    one_hot = F.one_hot(labels, 5).double()
    assert_same(lambda z: keras_sum_over_batch_size(keras_categorical_focal_crossentropy(one_hot, z, from_logits=True)),
                lambda z: focalloss.softmax_focal_loss(z, labels, alpha=0.25), x)
    per_class = [0.5, 1.0, 2.0, 0.25, 4.0]
    assert_same(lambda z: keras_sum_over_batch_size(keras_categorical_focal_crossentropy(
                    one_hot, z, alpha=per_class, gamma=1.0, from_logits=True, label_smoothing=0.1)),
                lambda z: focalloss.softmax_focal_loss(z, labels, alpha=per_class, gamma=1.0, label_smoothing=0.1), x)
    # Keras's default takes probabilities: their logarithms are logits with the same softmax
    p = torch.softmax(x, dim=1)
    assert_same(lambda q: keras_sum_over_batch_size(keras_categorical_focal_crossentropy(one_hot, q)),
                lambda q: focalloss.softmax_focal_loss(torch.log(q), labels, alpha=0.25), p)
    # the naive swap leaves alpha off (focalloss's softmax default): 4 times Keras's default loss
    naive = focalloss.softmax_focal_loss(x, labels)
    theirs = keras_sum_over_batch_size(keras_categorical_focal_crossentropy(one_hot, x, from_logits=True))
    torch.testing.assert_close(naive, 4 * theirs, **FLOAT64)


# --------------------------------------------------------------------------------------------------
# mmdetection (not installed here): mmdet.models.losses.FocalLoss / sigmoid_focal_loss
# --------------------------------------------------------------------------------------------------
def mmdet_weight_reduce_loss(loss, weight=None, reduction="mean", avg_factor=None):
    """As mmdetection 3.3 states it (mmdet/models/losses/utils.py): weight multiplies, "mean" is over
    every element, and with avg_factor it is the sum over avg_factor + float32 eps."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
    if reduction == "mean":
        return loss.sum() / (avg_factor + FLOAT32_EPS)
    return loss


def mmdet_py_sigmoid_focal_loss(pred, target, weight=None, gamma=2.0, alpha=0.25, reduction="mean", avg_factor=None):
    """As mmdetection 3.3 states it (mmdet/models/losses/focal_loss.py, py_sigmoid_focal_loss, which
    FocalLoss uses on the CPU; the CUDA op of mmcv computes the same for 0/1 targets)."""
    pred_sigmoid = pred.sigmoid()
    target = target.type_as(pred)
    pt = (1 - pred_sigmoid) * target + pred_sigmoid * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    if weight is not None and weight.shape != loss.shape:
        weight = weight.view(-1, 1)  # one weight per prior (row)
    return mmdet_weight_reduce_loss(loss, weight, reduction, avg_factor)


def mmdet_py_focal_loss_with_prob(pred, target, weight=None, gamma=2.0, alpha=0.25, reduction="mean",
                                  avg_factor=None):
    """mmdetection 3.3's py_focal_loss_with_prob (FocalLoss(activated=True)): the same from probabilities."""
    num_classes = pred.size(1)
    target = F.one_hot(target, num_classes=num_classes + 1)[:, :num_classes].type_as(pred)
    pt = (1 - pred) * target + pred * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = F.binary_cross_entropy(pred, target, reduction="none") * focal_weight
    return mmdet_weight_reduce_loss(loss, weight, reduction, avg_factor)


def mmdet_focal_loss(pred, labels, weight=None, avg_factor=None, *, gamma=2.0, alpha=0.25, loss_weight=1.0):
    """FocalLoss(use_sigmoid=True).forward for class indices on the CPU: labels one-hot over C + 1
    classes, the last one (label == C, the background) dropped."""
    num_classes = pred.size(1)
    target = F.one_hot(labels, num_classes=num_classes + 1)[:, :num_classes]
    return loss_weight * mmdet_py_sigmoid_focal_loss(pred, target, weight, gamma, alpha, "mean", avg_factor)


@pytest.fixture
def detection(rng):
    """(N, C) logits and labels in [0, C], C being the background."""
    logits = torch.from_numpy(rng.normal(scale=3.0, size=(50, 7)))
    labels = torch.from_numpy(np.where(rng.uniform(size=50) < 0.3, rng.integers(0, 7, size=50), 7))
    return logits, labels, F.one_hot(labels, 8)[:, :7].double()


def test_mmdet_focal_loss(detection):
    x, labels, one_hot = detection
    assert_same(lambda z: mmdet_focal_loss(z, labels), lambda z: focalloss.sigmoid_focal_loss(z, one_hot), x)
    # avg_factor (the number of positives, in RetinaNet): the sum over avg_factor + float32 eps
    positives = one_hot.sum().item()
    assert_same(lambda z: mmdet_focal_loss(z, labels, avg_factor=positives, loss_weight=2.0),
                lambda z: 2.0 * focalloss.sigmoid_focal_loss(z, one_hot, normalizer=positives + FLOAT32_EPS), x)
    # normalizer="positives" is the same count without the eps: larger by the factor (n + eps) / n
    ours = focalloss.sigmoid_focal_loss(x, one_hot, normalizer="positives")
    torch.testing.assert_close(ours * positives / (positives + FLOAT32_EPS),
                               mmdet_focal_loss(x, labels, avg_factor=positives), **FLOAT64)
    # probabilities (activated=True): pass their logits
    p = torch.sigmoid(x)
    assert_same(lambda q: mmdet_py_focal_loss_with_prob(q, labels, gamma=1.0, alpha=0.5),
                lambda q: focalloss.sigmoid_focal_loss(torch.logit(q), one_hot, gamma=1.0, alpha=0.5), p)


def test_mmdet_zero_weights_stay_in_the_mean(detection, rng):
    """mmdetection's mean counts elements of weight 0; focalloss's mean leaves them out."""
    x, labels, one_hot = detection
    weight = torch.from_numpy(rng.uniform(size=50) * (rng.uniform(size=50) < 0.6))
    assert_same(lambda z: mmdet_focal_loss(z, labels, weight),
                lambda z: focalloss.sigmoid_focal_loss(z, one_hot, weight=weight[:, None], normalizer=z.numel()), x)
    naive = focalloss.sigmoid_focal_loss(x, one_hot, weight=weight[:, None])
    counted = (weight != 0).sum() * x.shape[1]
    torch.testing.assert_close(naive, mmdet_focal_loss(x, labels, weight) * x.numel() / counted, **FLOAT64)
    assert_differs(naive, mmdet_focal_loss(x, labels, weight))


# --------------------------------------------------------------------------------------------------
# ultralytics (not installed here): ultralytics.utils.loss.FocalLoss / VarifocalLoss
# --------------------------------------------------------------------------------------------------
def ultralytics_focal_loss(pred, label, gamma=1.5, alpha=0.25):
    """As ultralytics 8.3 states it (ultralytics/utils/loss.py, FocalLoss): BCE times (1 - p_t)**gamma,
    alpha applied only when > 0, then the mean over dimension 1 and the sum of the rest."""
    loss = F.binary_cross_entropy_with_logits(pred, label, reduction="none")
    pred_prob = pred.sigmoid()
    p_t = label * pred_prob + (1 - label) * (1 - pred_prob)
    loss = loss * (1.0 - p_t) ** gamma
    alpha = torch.tensor(alpha, dtype=pred.dtype)
    if (alpha > 0).any():
        loss = loss * (label * alpha + (1 - label) * (1 - alpha))
    return loss.mean(1).sum()


def ultralytics_varifocal_loss(pred_score, gt_score, label, gamma=2.0, alpha=0.75):
    """As ultralytics 8.3 states it (ultralytics/utils/loss.py, VarifocalLoss): BCE against the IoU-aware
    score, weighted by alpha p**gamma on the negatives and by the score on the positives."""
    weight = alpha * pred_score.sigmoid().pow(gamma) * (1 - label) + gt_score * label
    loss = F.binary_cross_entropy_with_logits(pred_score, gt_score, reduction="none") * weight
    return loss.mean(1).sum()


@pytest.fixture
def anchors(rng):
    """(B, A, C) logits over anchors, and 0/1 labels."""
    logits = torch.from_numpy(rng.normal(scale=3.0, size=(2, 30, 4)))
    labels = torch.from_numpy((rng.uniform(size=logits.shape) < 0.1).astype(np.float64))
    return logits, labels


def test_ultralytics_focal_loss(anchors):
    x, t = anchors
    A = x.shape[1]
    assert_same(lambda z: ultralytics_focal_loss(z, t),
                lambda z: focalloss.sigmoid_focal_loss(z, t, gamma=1.5, normalizer=A), x)
    # alpha <= 0 turns it off there; alpha=0 here weights the positives by 0
    assert_same(lambda z: ultralytics_focal_loss(z, t, gamma=2.0, alpha=0.0),
                lambda z: focalloss.sigmoid_focal_loss(z, t, alpha=None, normalizer=A), x)
    ours_alpha_zero = focalloss.sigmoid_focal_loss(x, t, alpha=0.0, reduction="none")
    assert torch.all(ours_alpha_zero[t == 1] == 0) and torch.all(ours_alpha_zero[t == 0] > 0)
    # the naive swap: gamma 2 instead of 1.5, and the mean over all B*A*C elements instead of over A
    torch.testing.assert_close(focalloss.sigmoid_focal_loss(x, t, gamma=1.5) * x.numel() / A,
                               ultralytics_focal_loss(x, t), **FLOAT64)
    assert_differs(focalloss.sigmoid_focal_loss(x, t, normalizer=A), ultralytics_focal_loss(x, t))


def test_ultralytics_varifocal_loss(anchors, rng):
    """The same loss: its alpha = 0.75 weighs the negatives, as here, and the positives are the BCE against the
    score weighted by the score; .mean(1).sum() is normalizer=A. The one difference: ultralytics tells positives by
    their label, focalloss by q > 0, so a positive of score exactly 0 is a negative here (theirs weighs it 0)."""
    x, label = anchors
    score = torch.from_numpy(rng.uniform(0.2, 1.0, size=x.shape)) * label
    A = x.shape[1]
    assert_same(lambda z: ultralytics_varifocal_loss(z, score, label),
                lambda z: focalloss.sigmoid_varifocal_loss(z, score, normalizer=A), x)
    first_positive = int(label.flatten().nonzero()[0])
    score.view(-1)[first_positive] = 0.0
    x.view(-1)[first_positive] = 2.0  # a confident prediction: as a negative it costs 0.75 p^2 (-log(1 - p)) = 1.24
    ours = focalloss.sigmoid_varifocal_loss(x, score, normalizer=A)
    assert_differs(ours, ultralytics_varifocal_loss(x, score, label))
    as_a_negative = label.clone()
    as_a_negative.view(-1)[first_positive] = 0.0
    torch.testing.assert_close(ours, ultralytics_varifocal_loss(x, score, as_a_negative), **FLOAT64)
