"""Regressions for silent wrong answers and hangs found from outside the project: the poly-1 focal
loss's badly wrong elements on the portable path, a forked child with the default value checks, and
smaller statements the documentation makes (quality focal at p = t, the asymmetric objective's
clipped negatives, the CPU backend's own large buffers)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from conftest import forked_child_succeeds

import focalloss as fl
from focalloss import reference


@pytest.mark.parametrize("dtype, logits, bound", [(torch.float64, [20.0, 30.0, 35.0], 1e-12),
                                                  (torch.float32, [12.0, 13.0, 14.0, 15.0, 16.0, 17.0], 2e-6)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_poly1_badly_wrong_elements_whose_focal_part_weighs_nothing(backend, dtype, logits, bound, gamma):
    """alpha = 1 weighs the negatives only (0 the positives): a negative at logit x, or a positive at
    -x with alpha = 0, is all epsilon (1 - p)^(gamma + 1), whose gradient autograd formed from
    sigmoid's backward sigma (1 - sigma), 5e-4 off in float64 at x = 30 and up to ~70 % in float32."""
    x = torch.tensor(logits, dtype=dtype)
    for alpha, target, sign in ((1.0, 0.0, 1.0), (0.0, 1.0, -1.0)):
        z = (sign * x).requires_grad_(True)
        t = torch.full_like(z, target)
        fl.sigmoid_poly1_focal_loss(z, t, alpha=alpha, gamma=gamma, reduction="sum", backend=backend).backward()
        expected = reference.sigmoid_poly1_focal_loss_grad(z.detach().double().numpy(), t.double().numpy(),
                                                           alpha=alpha, gamma=gamma, reduction="sum")
        error = np.abs(z.grad.double().numpy() / expected - 1).max()
        assert error <= bound, (alpha, error)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
@pytest.mark.parametrize("loss", ["binary", "softmax"])
def test_default_value_checks_in_a_forked_child_finish(loss):
    """With validate=None the value checks read every target on the CPU, on torch's OpenMP threads;
    after the parent ran them there, a forked child's checks waited forever for GNU libgomp's pool,
    which fork() does not copy (8.4M elements, 2 threads). They run on one thread in the child."""
    g = torch.Generator().manual_seed(0)
    if loss == "binary":
        x, t = torch.randn(8400, 1000, generator=g), (torch.rand(8400, 1000, generator=g) > 0.9).float()
        call = lambda: fl.sigmoid_focal_loss(x, t)  # noqa: E731
    else:
        x = torch.randn(4200, 2000, generator=g)
        t = torch.softmax(torch.randn(4200, 2000, generator=g), 1)
        call = lambda: fl.softmax_focal_loss(x, t)  # noqa: E731
    assert forked_child_succeeds(call, lambda expected: torch.equal(call(), expected) and torch.get_num_threads() == 2)


def test_large_cpu_buffers_resize_as_torchs_do():
    """The fused CPU backend's buffers of 32 MiB and more (aligned to huge pages) refused resize_()
    to a larger size and untyped_storage().resize_(0), where torch's own tensors allow both; and a
    resize_() that raised left the tensor with its new, larger shape over the old bytes."""
    from focalloss.backends import cpu_ops

    if not cpu_ops.available():
        pytest.skip("the fused CPU kernels are not built")
    x = torch.randn(8192, 1100, requires_grad=True)
    t = (torch.rand(8192, 1100) > 0.9).float()
    fl.sigmoid_focal_loss(x, t, backend="cpu").backward()
    grad, before = x.grad, x.grad.clone()
    assert grad.data_ptr() % (1 << 21) == 0
    grad.resize_(8192 * 1200)
    assert torch.equal(grad[: 8192 * 1100], before.view(-1))
    loss = fl.sigmoid_focal_loss(x.detach(), t, reduction="none", backend="cpu")
    loss.untyped_storage().resize_(0)
    assert loss.untyped_storage().nbytes() == 0


def test_softened_probability_target_gradient_in_a_row_with_masked_classes():
    """A probability target that needs a gradient (the torch backend's case), in a row with a masked
    class: finite (it was NaN, from the smallest-logit classes taking the masked one in)."""
    x = torch.tensor([[0.0, -math.inf, 2.0]], requires_grad=True)
    q = torch.tensor([[0.5, 0.0, 0.5]], requires_grad=True)
    loss = fl.softmax_softened_loss(x, q, k=2.0)
    loss.backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softened_nan_logit_gives_nan_not_a_crash(backend, smoothing):
    """A NaN first logit: the CPU kernels' search for the smallest logit ran past the row (a crash)
    and the loss came out 0; NaN must reach the loss and the gradient, as on the torch backend."""
    x = torch.tensor([[float("nan"), 0.3, 0.5, 1.0]], requires_grad=True)
    loss = fl.softmax_softened_loss(x, torch.tensor([1]), k=2.0, label_smoothing=smoothing, validate=False,
                                    backend=backend)
    loss.backward()
    assert torch.isnan(loss) and torch.isnan(x.grad).all()


def test_cpu_aligned_buffers_follow_the_tensor_not_the_default_device():
    from focalloss.backends import cpu_ops

    if not cpu_ops.available():
        pytest.skip("the fused CPU kernels are not built")
    x = torch.randn(4, 9 << 18)  # 36 MiB of float32 losses: an aligned buffer
    t = (torch.rand(4, 9 << 18) > 0.9).float()
    torch.set_default_device("meta")
    try:
        loss = fl.sigmoid_focal_loss(x, t, reduction="none", backend="cpu")
    finally:
        torch.set_default_device(None)
    assert loss.device.type == "cpu"
    torch.testing.assert_close(loss, fl.sigmoid_focal_loss(x, t, reduction="none", backend="torch"))
