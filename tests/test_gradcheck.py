"""torch.autograd.gradcheck (and gradgradcheck for the smooth binary losses) in float64."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import focalloss

GEN = torch.Generator().manual_seed(2024)

BINARY = [
    ("sigmoid_focal_loss", {"alpha": 0.25, "gamma": 2.0}),
    ("sigmoid_focal_loss", {"alpha": None, "gamma": 0.5}),
    ("sigmoid_softened_loss", {"k": 2.5, "alpha": 0.6}),
    ("sigmoid_hard_truncation_loss", {"threshold": 0.7}),
    ("sigmoid_focal_loss_star", {"gamma": 2.0, "beta": 1.0}),
]
SOFTMAX = [
    ("softmax_focal_loss", {"gamma": 2.0, "alpha": [0.5, 1.0, 2.0, 1.5]}),
    ("softmax_focal_loss", {"gamma": 0.5, "label_smoothing": 0.1}),
    ("softmax_softened_loss", {"k": 1.5, "alpha": 0.7}),
    ("softmax_hard_truncation_loss", {"threshold": 0.6, "label_smoothing": 0.2}),
]


def _binary_inputs():
    x = torch.randn(4, 5, generator=GEN, dtype=torch.float64) * 3
    # Keep the hard truncation's step (at logit(0.7) and -logit(0.7)) away from every sample.
    x = torch.where((x.abs() - 0.8473).abs() < 0.05, x + 0.2, x).requires_grad_(True)
    t = torch.rand(4, 5, generator=GEN, dtype=torch.float64)
    weight = torch.rand(5, generator=GEN, dtype=torch.float64)
    return x, t, weight


@pytest.mark.parametrize("name, settings", BINARY, ids=[f"{n}-{s}" for n, s in BINARY])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_binary_gradcheck(name, settings, reduction):
    x, t, weight = _binary_inputs()
    loss = getattr(focalloss, name)
    assert gradcheck(lambda z: loss(z, t, weight=weight, reduction=reduction, **settings), (x,))
    assert gradcheck(lambda z: loss(z, t.round(), normalizer="positives", **settings), (x,))


@pytest.mark.parametrize("name, settings", BINARY, ids=[f"{n}-{s}" for n, s in BINARY])
def test_binary_gradgradcheck(name, settings):
    x, t, _ = _binary_inputs()
    loss = getattr(focalloss, name)
    assert gradgradcheck(lambda z: loss(z, t, reduction="sum", backend="torch", **settings), (x,))


@pytest.mark.parametrize("name, settings", SOFTMAX, ids=[f"{n}-{s}" for n, s in SOFTMAX])
@pytest.mark.parametrize("layout", [(5, 4), (2, 4, 3)], ids=["flat", "dense"])
def test_softmax_gradcheck(name, settings, layout):
    x = (torch.randn(layout, generator=GEN, dtype=torch.float64) * 2).requires_grad_(True)
    target_shape = layout[:1] + layout[2:]
    index = torch.randint(0, 4, target_shape, generator=GEN)
    index.view(-1)[0] = -100
    probabilities = torch.softmax(torch.randn(layout, generator=GEN, dtype=torch.float64), dim=1)
    weight = torch.rand(target_shape, generator=GEN, dtype=torch.float64)
    loss = getattr(focalloss, name)
    for target in (index, probabilities):
        assert gradcheck(lambda z: loss(z, target, weight=weight, reduction="none", **settings), (x,))
        assert gradcheck(lambda z: loss(z, target, **settings), (x,))
    assert gradgradcheck(lambda z: loss(z, index, reduction="sum", backend="torch", **settings), (x,))
