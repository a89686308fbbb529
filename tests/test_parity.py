"""Every loss, reduction, option and dtype against the float64 reference: values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import loss_table
from conftest import check_against_reference

import focalloss

# every check runs on the plain torch backend and on the fused CPU kernels
pytestmark = pytest.mark.usefixtures("each_backend")

DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]
REDUCTIONS = [
    {"reduction": "none"},
    {"reduction": "mean"},
    {"reduction": "sum"},
    {"reduction": "mean", "normalizer": "positives"},
    {"reduction": "mean", "normalizer": 3.5},
    {"reduction": "none", "normalizer": "positives"},
]
SOFT_REDUCTIONS = [{"reduction": "mean"}, {"reduction": "none"}, {"reduction": "mean", "normalizer": "positives"}]

# every setting of every loss in the test table
BINARY = loss_table.grid(loss_table.BINARY)
SOFTMAX = loss_table.grid(loss_table.SOFTMAX)


def _binary_inputs(rng, shape, dtype, soft):
    logits = torch.from_numpy(rng.normal(scale=4.0, size=shape)).to(dtype)
    if soft:
        targets = torch.from_numpy(rng.uniform(size=shape))
    else:
        targets = torch.from_numpy((rng.uniform(size=shape) < 0.3).astype(np.float64))
    return logits, targets


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("loss, settings", BINARY)
def test_binary_matches_reference_in_every_dtype(rng, loss, settings, dtype):
    logits, targets = _binary_inputs(rng, (37, 6), dtype, soft=False)
    check_against_reference(loss, logits, targets, **settings, reduction="mean")


@pytest.mark.parametrize("options", REDUCTIONS, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("loss, settings", BINARY)
def test_binary_matches_reference_for_every_reduction(rng, loss, settings, options):
    logits, targets = _binary_inputs(rng, (5, 7, 3), torch.float64, soft=False)
    check_against_reference(loss, logits, targets, **settings, **options)


@pytest.mark.parametrize("loss, settings", BINARY)
def test_binary_soft_targets_and_weights_match_reference(rng, loss, settings):
    logits, targets = _binary_inputs(rng, (23, 9), torch.float64, soft=True)
    elementwise = torch.from_numpy(rng.uniform(size=(23, 9)) * (rng.uniform(size=(23, 9)) > 0.3))
    per_class = torch.from_numpy(rng.uniform(0.5, 2.0, size=9))
    for weight in (elementwise, per_class):
        for options in SOFT_REDUCTIONS:
            check_against_reference(loss, logits, targets, **settings, weight=weight, **options)


def test_binary_odd_large_shape_float32(rng):
    logits, targets = _binary_inputs(rng, (41, 1271), torch.float32, soft=False)
    focal = loss_table.BY_NAME["sigmoid_focal_loss"]
    check_against_reference(focal, logits, targets, alpha=0.25, gamma=2.0, reduction="sum")


@pytest.mark.parametrize("loss, settings", BINARY)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_binary_empty_input(loss, settings, reduction):
    logits = torch.zeros(0, 4, requires_grad=True)
    out = loss.function(logits, torch.zeros(0, 4), reduction=reduction, **settings)
    assert out.shape == ((0, 4) if reduction == "none" else ())
    if reduction != "none":
        assert out.item() == 0.0
        out.backward()
        assert logits.grad.shape == (0, 4)


# ------------------------------------------------------------------------------------------------
# Multi-class
# ------------------------------------------------------------------------------------------------
def _softmax_inputs(rng, shape, dtype, *, probabilities=False, ignore_fraction=0.2):
    logits = torch.from_numpy(rng.normal(scale=3.0, size=shape)).to(dtype)
    num_classes = shape[1]
    target_shape = shape[:1] + shape[2:]
    if probabilities:
        raw = rng.gamma(0.5, size=shape)
        target = torch.from_numpy(raw / raw.sum(axis=1, keepdims=True))
    else:
        target = torch.from_numpy(rng.integers(0, num_classes, size=target_shape))
        target[torch.from_numpy(rng.uniform(size=target_shape) < ignore_fraction)] = -100
    return logits, target


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("loss, settings", SOFTMAX)
def test_softmax_matches_reference_in_every_dtype(rng, loss, settings, dtype):
    logits, target = _softmax_inputs(rng, (29, 7), dtype)
    check_against_reference(loss, logits, target, **loss_table.resolve(settings, 7, rng), reduction="mean")


@pytest.mark.parametrize("options", REDUCTIONS, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("loss, settings", SOFTMAX)
def test_softmax_dense_layout_for_every_reduction(rng, loss, settings, options):
    logits, target = _softmax_inputs(rng, (3, 5, 4, 6), torch.float64)
    check_against_reference(loss, logits, target, **loss_table.resolve(settings, 5, rng), **options)


@pytest.mark.parametrize("layout", [(17, 6), (2, 6, 3, 5)], ids=["flat", "dense"])
@pytest.mark.parametrize("loss, settings", SOFTMAX)
def test_softmax_probability_targets_and_weights(rng, loss, settings, layout):
    logits, target = _softmax_inputs(rng, layout, torch.float64, probabilities=True)
    row_shape = layout[:1] + layout[2:]
    weight = torch.from_numpy(rng.uniform(size=row_shape) * (rng.uniform(size=row_shape) > 0.25))
    for options in SOFT_REDUCTIONS:
        resolved = loss_table.resolve(settings, layout[1], rng)
        check_against_reference(loss, logits, target, **resolved, weight=weight, **options)


@pytest.mark.parametrize("loss, settings", SOFTMAX)
def test_softmax_index_targets_with_weights(rng, loss, settings):
    logits, target = _softmax_inputs(rng, (31, 4), torch.float64)
    weight = torch.from_numpy(rng.uniform(size=31) * (rng.uniform(size=31) > 0.25))
    settings = loss_table.resolve(settings, 4, rng)
    check_against_reference(loss, logits, target, **settings, weight=weight, reduction="mean")


def test_softmax_odd_large_shape_float32(rng):
    logits, target = _softmax_inputs(rng, (41, 1271), torch.float32)
    focal = loss_table.BY_NAME["softmax_focal_loss"]
    check_against_reference(focal, logits, target, gamma=2.0, reduction="mean")


def test_softmax_single_class_is_zero_with_zero_gradient():
    logits = torch.randn(5, 1, dtype=torch.float64, requires_grad=True)
    for gamma in (0.0, 0.5, 2.0):
        out = focalloss.softmax_focal_loss(logits, torch.zeros(5, dtype=torch.long), gamma=gamma, reduction="sum")
        (grad,) = torch.autograd.grad(out, logits)
        assert out.item() == 0.0
        assert torch.equal(grad, torch.zeros_like(grad))


@pytest.mark.parametrize("loss, settings", SOFTMAX)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softmax_empty_input(rng, loss, settings, reduction):
    logits = torch.zeros(0, 3, 2, requires_grad=True)
    settings = loss_table.resolve(settings, 3, rng)
    out = loss.function(logits, torch.zeros(0, 2, dtype=torch.long), reduction=reduction, **settings)
    assert out.shape == ((0, 2) if reduction == "none" else ())
    if reduction != "none":
        assert out.item() == 0.0
