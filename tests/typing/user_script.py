"""A user's training step written against the public API; `mypy --strict` must accept it."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

import focalloss
from focalloss import Positives, SigmoidFocalLoss, SoftmaxFocalLoss, class_weights, sigmoid_focal_loss
from focalloss.boosting import (BinaryAsymmetricObjective, BinaryFocalObjective, BinaryPolyObjective,
                                SoftmaxFocalObjective)
from focalloss.reference import sigmoid_focal_loss_grad


def detection_step(model: nn.Module, images: Tensor, targets: Tensor, optimizer: torch.optim.Optimizer) -> float:
    logits: Tensor = model(images)
    loss = sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0, normalizer="positives")
    torch.autograd.backward(loss)  # torch 2.13 leaves Tensor.backward unannotated; strict mypy flags that call
    optimizer.step()
    return float(loss.item())


def segmentation_loss(logits: Tensor, labels: Tensor, counts: list[int]) -> Tensor:
    criterion = SoftmaxFocalLoss(alpha=class_weights(counts), gamma=2.0, ignore_index=255, label_smoothing=0.1)
    local = focalloss.softmax_focal_loss(logits, labels, reduction="none", normalizer=Positives(group="local"))
    total: Tensor = criterion(logits, labels) + local.mean()
    return total


def multilabel_module() -> SigmoidFocalLoss:
    return SigmoidFocalLoss(alpha=None, gamma=1.0, reduction="sum", validate=False, backend="torch")


def boosting(y: np.ndarray, raw: np.ndarray) -> float:
    objective = BinaryFocalObjective(alpha=0.25, gamma=2.0, hessian="floored")
    grad, hess = objective(y, raw)
    start = objective.init_score(y)
    poly_grad, _ = BinaryPolyObjective(alpha=0.25, gamma=2.0, epsilon=0.5, hessian="reweighted")(y, raw)
    asymmetric = BinaryAsymmetricObjective(gamma_pos=1.0, gamma_neg=4.0, clip=0.05, hessian="exact")
    asl_grad, _ = asymmetric(y, raw)
    start = start + asymmetric.init_score(y)
    softmax = SoftmaxFocalObjective(gamma=2.0)
    proba = softmax.predict_proba(np.zeros((4, 3)))
    reference = sigmoid_focal_loss_grad(raw, y, gamma=2.0)
    return float(grad.sum() + hess.sum() + poly_grad.sum() + asl_grad.sum() + proba.sum() + reference.sum()) + float(
        np.sum(start))
