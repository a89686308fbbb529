"""class_weights, prior_bias and init_prior_bias_."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import focalloss


def test_inverse_weights_by_hand():
    weights = focalloss.class_weights([100, 10, 1])
    raw = np.array([1 / 100, 1 / 10, 1.0])
    torch.testing.assert_close(weights, torch.tensor(raw * 3 / raw.sum(), dtype=torch.float32))


def test_sqrt_inverse_and_effective_number_by_hand():
    counts = [400, 100, 4]
    raw = 1 / np.sqrt(counts)
    torch.testing.assert_close(
        focalloss.class_weights(counts, method="sqrt_inverse"), torch.tensor(raw * 3 / raw.sum(), dtype=torch.float32)
    )
    beta = 0.99
    raw = (1 - beta) / (1 - beta ** np.array(counts, dtype=float))
    torch.testing.assert_close(
        focalloss.class_weights(counts, method="effective_number", beta=beta),
        torch.tensor(raw * 3 / raw.sum(), dtype=torch.float32),
    )


@pytest.mark.parametrize("method", ["inverse", "sqrt_inverse", "effective_number"])
def test_weights_sum_to_the_number_of_classes_and_favour_rare_classes(method):
    counts = torch.tensor([5000, 700, 80, 9])
    weights = focalloss.class_weights(counts, method=method)
    assert weights.sum().item() == pytest.approx(4.0, rel=1e-6)
    assert (weights[1:] > weights[:-1]).all()
    assert focalloss.class_weights([50, 50, 50], method=method).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_effective_number_limits():
    counts = [1000, 10, 1]
    torch.testing.assert_close(focalloss.class_weights(counts, method="effective_number", beta=0.0), torch.ones(3))
    near_inverse = focalloss.class_weights(counts, method="effective_number", beta=1 - 1e-9)
    torch.testing.assert_close(near_inverse, focalloss.class_weights(counts), rtol=1e-5, atol=1e-6)


def test_class_weights_work_as_softmax_alpha():
    alpha = focalloss.class_weights([900, 90, 10])
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    out = focalloss.softmax_focal_loss(x, y, alpha=alpha, reduction="none")
    torch.testing.assert_close(out, alpha[y] * focalloss.softmax_focal_loss(x, y, reduction="none"))


def test_prior_bias_is_the_logit_of_the_prior():
    assert focalloss.prior_bias() == pytest.approx(-math.log(99), rel=1e-12)
    assert focalloss.prior_bias(prior=0.5) == 0.0
    assert torch.sigmoid(torch.tensor(focalloss.prior_bias(prior=0.2), dtype=torch.float64)).item() == pytest.approx(0.2)


def test_init_prior_bias_fills_layers_and_tensors():
    conv = torch.nn.Conv2d(8, 5, 3)
    returned = focalloss.init_prior_bias_(conv, prior=0.01)
    assert returned is conv.bias
    torch.testing.assert_close(torch.sigmoid(conv.bias), torch.full((5,), 0.01))
    bias = torch.zeros(3)
    focalloss.init_prior_bias_(bias, prior=[0.1, 0.5, 0.9])
    torch.testing.assert_close(torch.sigmoid(bias), torch.tensor([0.1, 0.5, 0.9]))
    with pytest.raises(ValueError, match="bias"):
        focalloss.init_prior_bias_(torch.nn.Linear(2, 2, bias=False))
    with pytest.raises(ValueError, match="one entry per output"):
        focalloss.init_prior_bias_(torch.zeros(3), prior=[0.1, 0.2])


def test_init_prior_bias_takes_a_tensor_of_priors_and_rejects_strings():
    bias = torch.zeros(3)
    focalloss.init_prior_bias_(bias, prior=torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
    torch.testing.assert_close(torch.sigmoid(bias), torch.tensor([0.1, 0.5, 0.9]))
    with pytest.raises(TypeError, match="prior must be a probability.*got '0.1'"):
        focalloss.init_prior_bias_(torch.zeros(3), prior="0.1")
