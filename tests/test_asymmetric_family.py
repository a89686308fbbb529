"""The binary losses whose composition is not t·α·A(x) + (1−t)(1−α)·A(−x): the asymmetric loss (ASL,
Ridnik et al. 2021), a "sided" loss with a term of its own for the negatives, and the quality focal loss
(QFL, Li et al. 2020), a "joint" one, not linear in the target.

On every backend (torch, the fused CPU kernels, Triton's interpreter): the papers' formulas written
out, their identities with focal loss, ASL's margin convention (p = m is clipped, with the clipped
side's gradient), QFL at p = t, finiteness at saturation in every dtype, and the values they refuse. Parity with the
reference, gradcheck, properties and the scalar hyperparameters' bad values come from the test table
like every other loss's.
"""

from __future__ import annotations

import math

import loss_table
import numpy as np
import pytest
import torch
from conftest import tolerance

import focalloss as fl
from focalloss import losses, reference

GEN = torch.Generator().manual_seed(2021)


def _value_and_grad(fn, x, target, **kwargs):
    x = x.detach().clone().requires_grad_(True)
    loss = fn(x, target, reduction="sum", **kwargs)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


def asl(x, y, gamma_pos=1.0, gamma_neg=4.0, clip=0.05):
    """Ridnik et al. 2021, eq. (1) and (4)-(5): p = sigma(x), p_m = max(p - m, 0),
    L+ = (1 - p)^gamma+ log(p), L- = p_m^gamma- log(1 - p_m), loss = -y L+ - (1 - y) L-."""
    p = torch.sigmoid(x.double())
    p_m = (p - clip).clamp(min=0)
    loss_pos = (1 - p) ** gamma_pos * torch.log(p)
    loss_neg = p_m**gamma_neg * torch.log(1 - p_m)
    return -y * loss_pos - (1 - y) * loss_neg


def _inputs(dtype, shape=(24, 9)):
    x = (torch.randn(shape, generator=GEN, dtype=torch.float64) * 4).to(dtype)
    t = (torch.rand(shape, generator=GEN) < 0.3).to(dtype)
    return x, t


# --------------------------------------------------------------------------------------------------
# The paper's formula, and its identity with focal loss
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("settings", [{}, {"gamma_pos": 0.0, "gamma_neg": 2.0, "clip": 0.2},
                                      {"gamma_pos": 0.5, "gamma_neg": 0.5, "clip": 0.0}], ids=repr)
def test_asymmetric_loss_is_the_papers(backend, dtype, settings):
    x, t = _inputs(dtype)
    got = fl.sigmoid_asymmetric_loss(x, t, reduction="none", backend=backend, **settings)
    torch.testing.assert_close(got.double(), asl(x, t.double(), **settings), **tolerance(dtype))
    clipped = (torch.sigmoid(x.double()) <= settings.get("clip", 0.05)) & (t == 0)
    if settings.get("clip", 0.05) > 0:
        assert clipped.any() and (got[clipped] == 0).all()  # clipped negatives cost exactly 0


def test_asymmetric_defaults_are_the_papers():
    spec = losses.BINARY["asymmetric"]
    assert spec.defaults == {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05} and spec.alpha is None
    x, t = _inputs(torch.float64)
    torch.testing.assert_close(fl.sigmoid_asymmetric_loss(x, t), asl(x, t).mean())
    torch.testing.assert_close(fl.SigmoidAsymmetricLoss()(x, t), asl(x, t).mean())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 7.0])
def test_asymmetric_with_equal_gammas_and_no_margin_is_focal(backend, dtype, gamma):
    x, t = loss_table.binary_sample((8, 7), seed=int(gamma * 10))
    x[0, :4] = torch.tensor([1e4, -1e4, 100.0, -100.0])
    t[1] = torch.rand(7, generator=GEN)  # soft targets: both are linear in t
    x = x.to(dtype)
    for alpha in (None, 0.3):
        got = _value_and_grad(fl.sigmoid_asymmetric_loss, x, t, gamma_pos=gamma, gamma_neg=gamma, clip=0.0,
                              alpha=alpha, backend=backend)
        expected = _value_and_grad(fl.sigmoid_focal_loss, x, t, gamma=gamma, alpha=alpha, backend=backend)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, **tolerance(dtype))


def test_reference_asymmetric_with_equal_gammas_and_no_margin_is_focal_with_its_hessian():
    x = np.concatenate([np.linspace(-40, 40, 161), [-1e4, 1e4]])
    t = np.random.default_rng(5).random(x.shape)
    for gamma in (0.0, 0.5, 3.0):
        kwargs = {"gamma_pos": gamma, "gamma_neg": gamma, "clip": 0.0, "alpha": None}
        for suffix in ("", "_grad", "_hess"):
            got = getattr(reference, "sigmoid_asymmetric_loss" + suffix)(x, t, **kwargs)
            expected = getattr(reference, "sigmoid_focal_loss" + suffix)(x, t, gamma=gamma, alpha=None)
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


def test_reference_hessian_is_the_derivative_of_its_gradient():
    x = np.linspace(-8, 8, 1601)
    x = x[np.abs(x - math.log(0.05 / 0.95)) > 1e-3]  # off the margin, where the hessian jumps
    h = 1e-6
    for t in (0.0, 1.0, 0.3):
        for kwargs in ({}, {"gamma_pos": 0.5, "gamma_neg": 0.3, "clip": 0.2}, {"gamma_neg": 0.0, "clip": 0.0}):
            grad = reference.sigmoid_asymmetric_loss_grad
            numeric = (grad(x + h, t, **kwargs) - grad(x - h, t, **kwargs)) / (2 * h)
            np.testing.assert_allclose(reference.sigmoid_asymmetric_loss_hess(x, t, **kwargs), numeric, rtol=1e-6,
                                       atol=1e-8)


# --------------------------------------------------------------------------------------------------
# The margin: p = m is clipped, and the gradient is the clipped function's on both sides
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_negative_at_the_margin_is_clipped_with_gradient_zero(backend, dtype):
    clip = 0.5  # sigmoid(0) = 1/2 exactly in every dtype: p = m at x = 0
    above = torch.nextafter(torch.zeros((), dtype=dtype), torch.tensor(1.0, dtype=dtype))
    x = torch.stack([torch.zeros((), dtype=dtype), above, torch.tensor(-3.0, dtype=dtype)])
    t = torch.zeros(3, dtype=dtype)
    for gamma_neg in (0.0, 0.5, 4.0):
        loss, grad = _value_and_grad(fl.sigmoid_asymmetric_loss, x[:1], t[:1], clip=clip, gamma_neg=gamma_neg,
                                     backend=backend)
        assert loss.item() == 0.0 and grad.item() == 0.0  # at p = m: the clipped side
        loss, grad = _value_and_grad(fl.sigmoid_asymmetric_loss, x[2:], t[2:], clip=clip, gamma_neg=gamma_neg,
                                     backend=backend)
        assert loss.item() == 0.0 and grad.item() == 0.0  # below the margin
        loss, grad = _value_and_grad(fl.sigmoid_asymmetric_loss, x[1:2], t[1:2], clip=clip, gamma_neg=gamma_neg,
                                     backend=backend)
        # just above: p - m = x / 4 to first order, and the loss d^gamma (-log(1 - d)) ~ d^(gamma + 1)
        d = above.double() / 4
        assert loss.item() >= 0.0 and math.isfinite(grad.item())
        if gamma_neg == 0.0:  # the gradient jumps to p q / (q + m) = 1/4 for gamma_neg = 0
            torch.testing.assert_close(grad[0].double(), torch.tensor(0.25, dtype=torch.float64), **tolerance(dtype))
            torch.testing.assert_close(loss.double(), d, **tolerance(dtype))


def test_the_margin_is_compared_on_the_logit_rounded_down():
    spec = losses.BINARY["asymmetric"]
    for clip in (0.05, 0.3, 1e-9, 0.999):
        for float64 in (False, True):
            cut = spec.kernel_p3(spec.params({"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": clip}), float64=float64)
            exact = math.log(clip) - math.log1p(-clip)
            assert cut <= exact and (float64 or np.float32(cut) == cut)
            assert float64 or float(np.nextafter(np.float32(cut), np.float32(np.inf))) > exact
    assert spec.kernel_p3(spec.params({"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.0}), float64=False) == -math.inf
    assert losses.BINARY["focal"].kernel_p3({"gamma": 2.0}, float64=False) == 0.0


def test_the_compositions_are_declared():
    sided = {spec.kind for spec in losses.BINARY.values() if spec.composition == "sided"}
    assert sided == {"asymmetric"}
    assert {spec.composition for spec in losses.LOSSES} <= set(losses.COMPOSITIONS)


# --------------------------------------------------------------------------------------------------
# Finite at saturation, exponents in [0, 10] (below 1 included), every dtype
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_asymmetric_is_finite_at_saturation(backend, dtype):
    x = torch.tensor([-1e4, -100.0, -20.0, -3.0, 0.0, 3.0, 20.0, 100.0, 1e4], dtype=torch.float64)
    x = x.clamp(-6e4, 6e4).to(dtype) if dtype == torch.float16 else x.to(dtype)
    x = x.repeat(2)
    t = torch.cat([torch.zeros(9), torch.ones(9)]).to(dtype)
    for gamma in (0.0, 0.25, 1.0, 10.0):
        for clip in (0.0, 0.05, 0.9):
            loss, grad = _value_and_grad(fl.sigmoid_asymmetric_loss, x, t, gamma_pos=gamma, gamma_neg=gamma,
                                         clip=clip, backend=backend)
            assert torch.isfinite(loss) and torch.isfinite(grad).all(), (gamma, clip, loss, grad)


# --------------------------------------------------------------------------------------------------
# Refused values, with the argument, what is allowed and what came
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"gamma_pos": -1.0}, "gamma_pos must be >= 0; got -1.0"),
    ({"gamma_neg": -0.5}, "gamma_neg must be >= 0; got -0.5"),
    ({"clip": 1.0}, r"clip must lie in [0, 1); got 1.0"),
    ({"clip": -0.01}, r"clip must lie in [0, 1); got -0.01"),
], ids=repr)
def test_bad_hyperparameters_are_refused_by_function_and_module(kwargs, message):
    x, t = loss_table.binary_sample((3, 3))
    for call in (lambda: fl.sigmoid_asymmetric_loss(x, t, **kwargs), lambda: fl.SigmoidAsymmetricLoss(**kwargs)):
        with pytest.raises(ValueError) as error:
            call()
        assert str(error.value) == message


def test_soft_targets_outside_the_unit_interval_are_refused():
    x, t = loss_table.binary_sample((3, 3))
    with pytest.raises(ValueError, match=r"targets .*\[0, 1\]"):
        fl.sigmoid_asymmetric_loss(x, t + 1.5)
    with pytest.raises(ValueError, match=r"targets .*\[0, 1\]"):
        fl.sigmoid_asymmetric_loss(x, -t - 0.5)


# --------------------------------------------------------------------------------------------------
# Quality focal loss: the paper's formula, focal loss for 0/1 targets, not linear in t, p = t
# --------------------------------------------------------------------------------------------------
def qfl(x, y, beta=2.0):
    """Li et al. 2020, eq. (5): QFL(sigma) = -|y - sigma|^beta ((1 - y) log(1 - sigma) + y log(sigma))."""
    sigma = torch.sigmoid(x.double())
    return -((y - sigma).abs() ** beta) * ((1 - y) * torch.log(1 - sigma) + y * torch.log(sigma))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [2.0, 0.5, 0.0, 4.0])
def test_quality_focal_loss_is_the_papers(backend, dtype, beta):
    x, _ = _inputs(dtype)
    quality = torch.rand(x.shape, generator=GEN, dtype=torch.float64)
    quality[:4] = 0.0  # negatives
    got = fl.sigmoid_quality_focal_loss(x, quality.to(dtype), reduction="none", backend=backend, beta=beta)
    torch.testing.assert_close(got.double(), qfl(x, quality.to(dtype).double(), beta), **tolerance(dtype))


def test_quality_focal_defaults_are_the_papers():
    spec = losses.BINARY["quality_focal"]
    assert spec.defaults == {"beta": 2.0} and spec.alpha is None and spec.composition == "joint"
    x, _ = _inputs(torch.float64)
    quality = torch.rand(x.shape, generator=GEN, dtype=torch.float64)
    torch.testing.assert_close(fl.sigmoid_quality_focal_loss(x, quality), qfl(x, quality).mean())
    torch.testing.assert_close(fl.SigmoidQualityFocalLoss()(x, quality), qfl(x, quality).mean())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [0.0, 0.5, 2.0, 7.0])
def test_quality_focal_with_hard_targets_is_focal(backend, dtype, beta):
    x, t = loss_table.binary_sample((8, 7), seed=int(beta * 10))
    x[0, :4] = torch.tensor([1e4, -1e4, 100.0, -100.0])
    x = x.to(dtype)
    for alpha in (None, 0.3):
        got = _value_and_grad(fl.sigmoid_quality_focal_loss, x, t, beta=beta, alpha=alpha, backend=backend)
        expected = _value_and_grad(fl.sigmoid_focal_loss, x, t, gamma=beta, alpha=alpha, backend=backend)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, **tolerance(dtype))


def test_reference_quality_focal_with_hard_targets_is_focal_with_its_hessian():
    x = np.concatenate([np.linspace(-40, 40, 161), [-1e4, 1e4]])
    t = (np.arange(x.size) % 3 == 0).astype(float)
    for beta in (0.0, 0.5, 3.0):
        for suffix in ("", "_grad", "_hess"):
            got = getattr(reference, "sigmoid_quality_focal_loss" + suffix)(x, t, beta=beta, alpha=0.3)
            expected = getattr(reference, "sigmoid_focal_loss" + suffix)(x, t, gamma=beta, alpha=0.3)
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


def test_reference_quality_focal_hessian_is_the_derivative_of_its_gradient():
    x = np.linspace(-8, 8, 1601)
    for t in (0.0, 1.0, 0.3, 0.9):
        xs = x[np.abs(1 / (1 + np.exp(-x)) - t) > 1e-3]  # off p = t, where |t - p|^beta has its cusp
        for beta in (0.0, 0.5, 2.0, 3.5):
            grad = reference.sigmoid_quality_focal_loss_grad
            numeric = (grad(xs + 1e-6, t, beta=beta) - grad(xs - 1e-6, t, beta=beta)) / 2e-6
            np.testing.assert_allclose(reference.sigmoid_quality_focal_loss_hess(xs, t, beta=beta), numeric,
                                       rtol=1e-5, atol=1e-7)


def test_quality_focal_is_not_linear_in_the_target():
    x, q = torch.tensor([0.4], dtype=torch.float64), torch.tensor([0.6], dtype=torch.float64)
    soft = fl.sigmoid_quality_focal_loss(x, q, reduction="none")
    mixed = q * fl.sigmoid_quality_focal_loss(x, torch.ones_like(q), reduction="none") + (1 - q) * (
        fl.sigmoid_quality_focal_loss(x, torch.zeros_like(q), reduction="none"))
    torch.testing.assert_close(soft, qfl(x, q))
    assert (mixed - soft).abs().item() > 0.1  # the expected hard-label loss is another loss


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quality_focal_at_its_target_is_zero_with_gradient_zero(backend, dtype):
    x = torch.tensor([0.0, 0.0], dtype=dtype)  # sigmoid(0) = 1/2 exactly
    q = torch.tensor([0.5, 0.5], dtype=dtype)
    for beta in (0.5, 1.0, 2.0):
        loss, grad = _value_and_grad(fl.sigmoid_quality_focal_loss, x, q, beta=beta, backend=backend)
        assert loss.item() == 0.0 and (grad == 0).all()
    loss, grad = _value_and_grad(fl.sigmoid_quality_focal_loss, x, q, beta=0.0, backend=backend)
    torch.testing.assert_close(loss.double(), torch.tensor(2 * math.log(2.0), dtype=torch.float64), **tolerance(dtype))


def test_quality_focal_near_its_target_is_accurate_in_float32(backend):
    """t - p is formed in float64 for float32 data: near p = t the float32 backends agree with the reference."""
    x = torch.linspace(-6, 6, 241, dtype=torch.float32)
    q = (torch.sigmoid(x.double()) + 3e-5).clamp(0, 1).float()
    loss, grad = _value_and_grad(fl.sigmoid_quality_focal_loss, x, q, beta=0.5, backend=backend)
    expected = reference.sigmoid_quality_focal_loss_grad(x.double().numpy(), q.double().numpy(), beta=0.5)
    torch.testing.assert_close(grad.double(), torch.from_numpy(expected), **tolerance(torch.float32))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_quality_focal_is_finite_at_saturation(backend, dtype):
    x = torch.tensor([-1e4, -100.0, -20.0, -3.0, 0.0, 3.0, 20.0, 100.0, 1e4], dtype=torch.float64).to(dtype).repeat(3)
    q = torch.cat([torch.zeros(9), torch.ones(9), torch.full((9,), 0.3)]).to(dtype)
    for beta in (0.0, 0.25, 1.0, 10.0):
        loss, grad = _value_and_grad(fl.sigmoid_quality_focal_loss, x, q, beta=beta, backend=backend)
        assert torch.isfinite(loss) and torch.isfinite(grad).all(), (beta, loss, grad)


def test_quality_focal_refuses_a_negative_beta_and_targets_outside_the_unit_interval():
    x, t = loss_table.binary_sample((3, 3))
    for call in (lambda: fl.sigmoid_quality_focal_loss(x, t, beta=-1.0), lambda: fl.SigmoidQualityFocalLoss(beta=-1.0)):
        with pytest.raises(ValueError) as error:
            call()
        assert str(error.value) == "beta must be >= 0; got -1.0"
    with pytest.raises(ValueError, match=r"targets .*\[0, 1\]"):
        fl.sigmoid_quality_focal_loss(x, t + 1.5)
