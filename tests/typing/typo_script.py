"""Mistakes `mypy --strict` must report against the public API (tests/test_typing.py counts them)."""

from __future__ import annotations

import torch

import focalloss

x, t = torch.zeros(4, 3), torch.zeros(4, 3)
focalloss.sigmoid_focal_los(x, t)  # a misspelt name
focalloss.sigmoid_focal_loss(x, t, reduction="avg")  # a reduction that does not exist
focalloss.sigmoid_focal_loss(x, t, 0.25)  # hyperparameters are keyword-only
focalloss.SoftmaxFocalLoss(gama=2.0)  # a misspelt setting
focalloss.boosting.BinaryFocalObjective(hessian="approximate")  # a hessian choice that does not exist
