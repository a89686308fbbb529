"""torch.autograd.gradcheck (and gradgradcheck for the smooth binary losses) in float64."""

from __future__ import annotations

import loss_table
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

GEN = torch.Generator().manual_seed(2024)

BINARY = loss_table.grid(loss_table.BINARY, "gradcheck")
SOFTMAX = loss_table.grid(loss_table.SOFTMAX, "gradcheck")


def _binary_inputs():
    x = torch.randn(4, 5, generator=GEN, dtype=torch.float64) * 3
    # Keep the hard truncation's step (at logit(0.7) and -logit(0.7)) away from every sample.
    x = torch.where((x.abs() - 0.8473).abs() < 0.05, x + 0.2, x).requires_grad_(True)
    t = torch.rand(4, 5, generator=GEN, dtype=torch.float64)
    weight = torch.rand(5, generator=GEN, dtype=torch.float64)
    return x, t, weight


@pytest.mark.parametrize("loss, settings", BINARY)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_binary_gradcheck(loss, settings, reduction):
    x, t, weight = _binary_inputs()
    assert gradcheck(lambda z: loss.function(z, t, weight=weight, reduction=reduction, **settings), (x,))
    assert gradcheck(lambda z: loss.function(z, t.round(), normalizer="positives", **settings), (x,))


@pytest.mark.parametrize("loss, settings", BINARY)
def test_binary_gradgradcheck(loss, settings):
    x, t, _ = _binary_inputs()
    assert gradgradcheck(lambda z: loss.function(z, t, reduction="sum", backend="torch", **settings), (x,))


@pytest.mark.parametrize("loss, settings", SOFTMAX)
@pytest.mark.parametrize("layout", [(5, 4), (2, 4, 3)], ids=["flat", "dense"])
def test_softmax_gradcheck(loss, settings, layout):
    x = (torch.randn(layout, generator=GEN, dtype=torch.float64) * 2).requires_grad_(True)
    target_shape = layout[:1] + layout[2:]
    index = torch.randint(0, 4, target_shape, generator=GEN)
    index.view(-1)[0] = -100
    probabilities = torch.softmax(torch.randn(layout, generator=GEN, dtype=torch.float64), dim=1)
    weight = torch.rand(target_shape, generator=GEN, dtype=torch.float64)
    for target in (index, probabilities):
        assert gradcheck(lambda z: loss.function(z, target, weight=weight, reduction="none", **settings), (x,))
        assert gradcheck(lambda z: loss.function(z, target, **settings), (x,))
    assert gradgradcheck(lambda z: loss.function(z, index, reduction="sum", backend="torch", **settings), (x,))
