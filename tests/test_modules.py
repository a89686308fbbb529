"""nn.Module forms: one call to the functional, tensors as buffers, readable repr."""

from __future__ import annotations

import loss_table
import pytest
import torch

import focalloss

@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=lambda loss: loss.module_name)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_module_equals_functional(loss, reduction):
    x, target = loss.sample((8, 3))
    settings = loss.module_settings
    expected = loss.function(x, target, reduction=reduction, **settings)
    torch.testing.assert_close(loss.module(reduction=reduction, **settings)(x, target), expected, rtol=0, atol=0)


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=lambda loss: loss.module_name)
def test_repr_shows_every_setting(loss):
    text = repr(loss.module(**loss.module_settings))
    for name, value in loss.module_settings.items():
        assert f"{name}={value!r}" in text
    assert "reduction='mean'" in text


def test_softmax_alpha_and_weight_are_buffers_that_follow_to_and_state_dict():
    alpha = [0.5, 1.0, 2.0]
    criterion = focalloss.SoftmaxFocalLoss(alpha=alpha, weight=torch.ones(4))
    assert set(dict(criterion.named_buffers())) == {"alpha", "weight"}
    assert torch.equal(criterion.state_dict()["alpha"], torch.tensor(alpha))
    criterion = criterion.to(torch.float64)
    assert criterion.alpha.dtype == torch.float64
    restored = focalloss.SoftmaxFocalLoss(alpha=[0.0, 0.0, 0.0], weight=torch.zeros(4))
    restored.load_state_dict(criterion.state_dict())
    x, target = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(restored(x, target), focalloss.softmax_focal_loss(x, target, alpha=alpha))
    assert "alpha=[0.5, 1.0, 2.0]" in repr(criterion)


def test_sigmoid_weight_buffer_and_float_alpha_attribute():
    criterion = focalloss.SigmoidFocalLoss(alpha=0.3, weight=torch.tensor([1.0, 0.0, 2.0]))
    assert list(dict(criterion.named_buffers())) == ["weight"]
    assert criterion.alpha == 0.3
    x, t = torch.randn(5, 3), (torch.rand(5, 3) < 0.5).float()
    expected = focalloss.sigmoid_focal_loss(x, t, alpha=0.3, weight=torch.tensor([1.0, 0.0, 2.0]))
    torch.testing.assert_close(criterion(x, t), expected, rtol=0, atol=0)


def test_module_backward_reaches_the_logits():
    x = torch.randn(6, 4, requires_grad=True)
    focalloss.SoftmaxFocalLoss(alpha=0.25)(x, torch.tensor([0, 1, 2, 3, 0, 1])).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_tensor_normalizer_is_a_buffer():
    criterion = focalloss.SigmoidFocalLoss(normalizer=torch.tensor(4.0))
    assert "normalizer" in criterion.state_dict()
    assert criterion.to(torch.float64).normalizer.dtype == torch.float64
    x, t = torch.randn(3, 2), torch.ones(3, 2)
    expected = focalloss.sigmoid_focal_loss(x, t, reduction="sum") / 4.0
    torch.testing.assert_close(focalloss.SigmoidFocalLoss(normalizer=torch.tensor(4.0))(x, t), expected)
    assert focalloss.SigmoidFocalLoss(normalizer="positives").normalizer == "positives"


@pytest.mark.parametrize("alpha", ["abc", [1.0, "a"]])
def test_module_rejects_a_non_numeric_alpha_naming_it(alpha):
    """A sequence is converted (and rejected) at construction, a string at the first call."""
    with pytest.raises(TypeError, match=r"alpha must be .*got .*a"):
        focalloss.SoftmaxFocalLoss(alpha=alpha)(torch.randn(2, 3), torch.tensor([0, 1]))


def test_import_works_without_docstrings():
    """python -OO strips docstrings; the shared docstring sections must cope."""
    import subprocess
    import sys

    code = "import focalloss; print(focalloss.sigmoid_focal_loss.__doc__)"
    done = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
