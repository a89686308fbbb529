"""The binary losses whose composition is not t·α·A(x) + (1−t)(1−α)·A(−x): the asymmetric loss (ASL,
Ridnik et al. 2021), a "sided" loss with a term of its own for the negatives, and the quality focal loss
(QFL, Li et al. 2020) and varifocal loss (VFL, Zhang et al. 2021), "joint" ones, not linear in the target.

On every backend (torch, the fused CPU kernels, Triton's interpreter): the papers' formulas written
out, their identities with focal loss, ASL's margin convention (p = m is clipped, with the clipped
side's gradient), QFL at p = t, VFL's alpha on the negatives only and its jump at q = 0, finiteness at
saturation in every dtype, and the values they refuse.
Parity with the reference, gradcheck, properties and the scalar hyperparameters' bad values come from
the test table like every other loss's.
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
ASL, QFL, VFL = "sigmoid_asymmetric_loss", "sigmoid_quality_focal_loss", "sigmoid_varifocal_loss"


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


def qfl(x, y, beta=2.0):
    """Li et al. 2020, eq. (5): QFL(sigma) = -|y - sigma|^beta ((1 - y) log(1 - sigma) + y log(sigma))."""
    sigma = torch.sigmoid(x.double())
    return -((y - sigma).abs() ** beta) * ((1 - y) * torch.log(1 - sigma) + y * torch.log(sigma))


def vfl(x, q, alpha=0.75, gamma=2.0):
    """Zhang et al. 2021, eq. (2): VFL(p, q) = -q (q log(p) + (1 - q) log(1 - p)) if q > 0,
    -alpha p^gamma log(1 - p) if q = 0 (alpha None: 1)."""
    p = torch.sigmoid(x.double())
    alpha = 1.0 if alpha is None else alpha
    positive = -q * (q * torch.log(p) + (1 - q) * torch.log(1 - p))
    return torch.where(q > 0, positive, -alpha * p**gamma * torch.log(1 - p))


def _inputs(dtype, shape=(24, 9), *, quality=False):
    """Logits and 0/1 labels (30 % ones), or with ``quality`` soft quality scores, 0 for a third."""
    x = (torch.randn(shape, generator=GEN, dtype=torch.float64) * 4).to(dtype)
    t = torch.rand(shape, generator=GEN, dtype=torch.float64)
    t = torch.where(t < 1 / 3, 0.0, torch.rand(shape, generator=GEN, dtype=torch.float64)) if quality else t < 0.3
    return x, t.to(dtype)


# --------------------------------------------------------------------------------------------------
# The papers' formulas and defaults
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_asymmetric_loss_at_the_papers_exponents_matches_its_neighbours(backend, dtype):
    """the fused kernel has a loop of its own for gamma_pos = 1, gamma_neg = 4 ((1 - p) and (d^2)^2 written
    out): it agrees with the general loop one float64 step away, values and gradients"""
    x, t = _inputs(dtype, shape=(64, 33))
    x = torch.cat([x, torch.tensor([[-2.944, -2.9444, 30.0, -30.0, 1e4, -1e4] + [0.0] * 27], dtype=dtype)])
    t = torch.cat([t, torch.zeros(1, 33, dtype=dtype)])
    exact = _value_and_grad(fl.sigmoid_asymmetric_loss, x, t, backend=backend)
    nearby = _value_and_grad(fl.sigmoid_asymmetric_loss, x, t, backend=backend, gamma_pos=math.nextafter(1.0, 2.0),
                             gamma_neg=math.nextafter(4.0, 5.0))
    for got, expected in zip(exact, nearby):
        torch.testing.assert_close(got, expected, **tolerance(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [2.0, 0.5, 0.0, 4.0])
def test_quality_focal_loss_is_the_papers(backend, dtype, beta):
    x, quality = _inputs(dtype, quality=True)
    got = fl.sigmoid_quality_focal_loss(x, quality, reduction="none", backend=backend, beta=beta)
    torch.testing.assert_close(got.double(), qfl(x, quality.double(), beta), **tolerance(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("settings", [{}, {"alpha": 0.3, "gamma": 0.5}, {"alpha": None, "gamma": 0.0},
                                      {"alpha": 0.0, "gamma": 4.0}], ids=repr)
def test_varifocal_loss_is_the_papers(backend, dtype, settings):
    """Values and gradients: the paper's alpha weights the negatives (q = 0) only, on every backend."""
    x, quality = _inputs(dtype, quality=True)
    got = _value_and_grad(fl.sigmoid_varifocal_loss, x, quality, backend=backend, **settings)
    expected = _value_and_grad(lambda x, q, reduction: vfl(x, q.double(), **settings).sum(), x.double(), quality)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a.double(), b, **tolerance(dtype))


# name: (the paper's hyperparameters, its alpha, the composition, its formula, whether it takes soft targets)
PAPERS = {ASL: ({"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05}, None, "sided", asl, False),
          QFL: ({"beta": 2.0}, None, "joint", qfl, True),
          VFL: ({"gamma": 2.0}, 0.75, "joint", vfl, True)}


@pytest.mark.parametrize("name", list(PAPERS))
def test_defaults_are_the_papers(name):
    defaults, alpha, composition, formula, quality = PAPERS[name]
    loss = loss_table.BY_NAME[name]
    assert loss.spec.defaults == defaults and loss.spec.alpha == alpha and loss.spec.composition == composition
    x, t = _inputs(torch.float64, quality=quality)
    torch.testing.assert_close(loss.function(x, t), formula(x, t).mean())
    torch.testing.assert_close(loss.module()(x, t), formula(x, t).mean())


def test_the_compositions_are_declared():
    composed = {spec.kind: spec.composition for spec in losses.BINARY.values() if spec.composition != "symmetric"}
    assert composed == {"asymmetric": "sided", "quality_focal": "joint", "varifocal": "joint"}
    assert {spec.composition for spec in losses.LOSSES} <= set(losses.COMPOSITIONS)


def test_each_binary_loss_declares_how_its_alpha_weighs_the_two_sides():
    """(a_pos, a_neg): alpha and 1 - alpha for every binary loss but the varifocal loss, whose alpha weighs the
    negatives only; None weighs both by 1. The backends read these (test_varifocal_loss_is_the_papers)."""
    for spec in losses.BINARY.values():
        assert spec.side_alphas(None) == (1.0, 1.0)
        assert spec.side_alphas(0.3) == ((1.0, 0.3) if spec.kind == "varifocal" else (0.3, 0.7)), spec.kind


# --------------------------------------------------------------------------------------------------
# Identities with focal loss (gamma = g, alpha = a): ASL with gamma_pos = gamma_neg = g and no margin, for any
# target (both are linear in t); QFL with beta = g, for 0/1 targets; VFL at q = 1, -log p (focal loss with
# gamma = 0 and no alpha) whatever g and a, and at q = 0, focal loss's negative weighted by a (its alpha = 1 - a)
# --------------------------------------------------------------------------------------------------
# (loss, the targets it holds for, (the loss's settings, focal loss's) for g and a)
FOCAL_IDENTITIES = [
    (ASL, "soft", lambda g, a: ({"gamma_pos": g, "gamma_neg": g, "clip": 0.0, "alpha": a}, {"gamma": g, "alpha": a})),
    (QFL, "hard", lambda g, a: ({"beta": g, "alpha": a}, {"gamma": g, "alpha": a})),
    (VFL, "ones", lambda g, a: ({"gamma": g, "alpha": a}, {"gamma": 0.0, "alpha": None})),
    (VFL, "zeros", lambda g, a: ({"gamma": g, "alpha": a}, {"gamma": g, "alpha": None if a is None else 1.0 - a})),
]
IDENTITY_IDS = [f"{name}-{targets}" for name, targets, _ in FOCAL_IDENTITIES]


def _identity_targets(targets, hard, soft):
    """The targets of an identity: 0/1 labels ``hard``, with ``soft`` scores in their place for "soft", or all
    ones or zeros."""
    return {"soft": soft, "hard": hard, "ones": hard * 0 + 1, "zeros": hard * 0}[targets]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 7.0])
@pytest.mark.parametrize("name, targets, settings", FOCAL_IDENTITIES, ids=IDENTITY_IDS)
def test_identity_with_focal_loss(backend, dtype, gamma, name, targets, settings):
    x, t = loss_table.binary_sample((8, 7), seed=int(gamma * 10))
    x[0, :4] = torch.tensor([1e4, -1e4, 100.0, -100.0])
    t = _identity_targets(targets, t, torch.cat([t[:1], torch.rand(7, generator=GEN)[None], t[2:]]))
    x = x.to(dtype)
    for alpha in (None, 0.3):
        ours, focal = settings(gamma, alpha)
        got = _value_and_grad(loss_table.BY_NAME[name].function, x, t, backend=backend, **ours)
        expected = _value_and_grad(fl.sigmoid_focal_loss, x, t, backend=backend, **focal)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, **tolerance(dtype))


@pytest.mark.parametrize("name, targets, settings", FOCAL_IDENTITIES, ids=IDENTITY_IDS)
def test_reference_identity_with_focal_loss_with_its_hessian(name, targets, settings):
    x = np.concatenate([np.linspace(-40, 40, 161), [-1e4, 1e4]])
    t = _identity_targets(targets, (np.arange(x.size) % 3 == 0).astype(float), np.random.default_rng(5).random(x.shape))
    for gamma in (0.0, 0.5, 3.0):
        for alpha in (None, 0.3):
            ours, focal = settings(gamma, alpha)
            for suffix in ("", "_grad", "_hess"):
                got = getattr(reference, name + suffix)(x, t, **ours)
                expected = getattr(reference, "sigmoid_focal_loss" + suffix)(x, t, **focal)
                np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


# the settings of the hessian check, and where each loss has a kink (the hessian jumps or is infinite there)
HESSIAN_CASES = [
    (ASL, {}), (ASL, {"gamma_pos": 0.5, "gamma_neg": 0.3, "clip": 0.2}), (ASL, {"gamma_neg": 0.0, "clip": 0.0}),
    (QFL, {"beta": 0.0}), (QFL, {"beta": 0.5}), (QFL, {"beta": 2.0}), (QFL, {"beta": 3.5}),
    (VFL, {}), (VFL, {"gamma": 0.5, "alpha": 0.3}), (VFL, {"gamma": 0.0, "alpha": None}),
]


def _off_the_kink(name, kwargs, x, t):
    if name == ASL:  # at the margin's logit
        clip = kwargs.get("clip", 0.05)
        return np.abs(x - math.log(clip / (1 - clip))) > 1e-3 if clip > 0 else np.ones_like(x, dtype=bool)
    if name == VFL:  # smooth in x (it jumps in t, at t = 0)
        return np.ones_like(x, dtype=bool)
    return np.abs(1 / (1 + np.exp(-x)) - t) > 1e-3  # QFL at p = t, the cusp of |t - p|^beta


@pytest.mark.parametrize("name, kwargs", HESSIAN_CASES, ids=repr)
def test_reference_hessian_is_the_derivative_of_its_gradient(name, kwargs):
    grad, hess = getattr(reference, name + "_grad"), getattr(reference, name + "_hess")
    for t in (0.0, 1.0, 0.3, 0.9):
        x = np.linspace(-8, 8, 1601)
        x = x[_off_the_kink(name, kwargs, x, t)]
        numeric = (grad(x + 1e-6, t, **kwargs) - grad(x - 1e-6, t, **kwargs)) / 2e-6
        np.testing.assert_allclose(hess(x, t, **kwargs), numeric, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------------------
# ASL's margin: p = m is clipped, and the gradient is the clipped function's on both sides
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


# --------------------------------------------------------------------------------------------------
# QFL: not linear in t, zero at p = t, accurate near it
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# VFL: not linear in q, and a jump at q = 0 (a positive of a tiny quality is no negative)
# --------------------------------------------------------------------------------------------------
def test_varifocal_is_not_linear_in_the_target_and_jumps_at_zero():
    x, q = torch.tensor([-2.0, -4.0], dtype=torch.float64), torch.tensor([0.6, 0.6], dtype=torch.float64)
    soft = fl.sigmoid_varifocal_loss(x, q, reduction="none")
    mixed = q * fl.sigmoid_varifocal_loss(x, torch.ones_like(q), reduction="none") + (1 - q) * (
        fl.sigmoid_varifocal_loss(x, torch.zeros_like(q), reduction="none"))
    torch.testing.assert_close(soft, vfl(x, q))
    assert ((mixed - soft).abs() > 0.1).all()  # the expected hard-label loss is another loss
    x = torch.tensor([1.0, 3.0], dtype=torch.float64)  # confident wrong negatives: their loss is large
    tiny = torch.full_like(x, 1e-12)
    loss, grad = _value_and_grad(fl.sigmoid_varifocal_loss, x, tiny)
    negative = fl.sigmoid_varifocal_loss(x, torch.zeros_like(x), reduction="sum")
    assert 0 < loss.item() < 1e-10 and grad.abs().max().item() < 1e-10 and negative.item() > 0.1


# --------------------------------------------------------------------------------------------------
# Finite at saturation, exponents in [0, 10] (below 1 included), every dtype
# --------------------------------------------------------------------------------------------------
SATURATION = {ASL: [{"gamma_pos": g, "gamma_neg": g, "clip": m} for g in (0.0, 0.25, 1.0, 10.0)
                    for m in (0.0, 0.05, 0.9)],
              QFL: [{"beta": g} for g in (0.0, 0.25, 1.0, 10.0)],
              VFL: [{"gamma": g, "alpha": a} for g in (0.0, 0.25, 1.0, 10.0) for a in (None, 0.75)]}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(SATURATION))
def test_finite_at_saturation(backend, dtype, name):
    x = torch.tensor([-1e4, -100.0, -20.0, -3.0, 0.0, 3.0, 20.0, 100.0, 1e4], dtype=torch.float64).to(dtype).repeat(3)
    t = torch.cat([torch.zeros(9), torch.ones(9), torch.full((9,), 0.3)]).to(dtype)
    for settings in SATURATION[name]:
        loss, grad = _value_and_grad(loss_table.BY_NAME[name].function, x, t, backend=backend, **settings)
        assert torch.isfinite(loss) and torch.isfinite(grad).all(), (settings, loss, grad)


# --------------------------------------------------------------------------------------------------
# Refused values, with the argument, what is allowed and what came
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs, message", [
    (ASL, {"gamma_pos": -1.0}, "gamma_pos must be >= 0; got -1.0"),
    (ASL, {"gamma_neg": -0.5}, "gamma_neg must be >= 0; got -0.5"),
    (ASL, {"clip": 1.0}, r"clip must lie in [0, 1); got 1.0"),
    (ASL, {"clip": -0.01}, r"clip must lie in [0, 1); got -0.01"),
    (QFL, {"beta": -1.0}, "beta must be >= 0; got -1.0"),
    (VFL, {"gamma": -1.0}, "gamma must be >= 0; got -1.0"),
    (VFL, {"alpha": 1.5}, r"alpha (None or a float in [0, 1]) must lie in [0, 1]; got 1.5"),
    (VFL, {"alpha": -0.25}, r"alpha (None or a float in [0, 1]) must lie in [0, 1]; got -0.25"),
], ids=repr)
def test_bad_hyperparameters_are_refused_by_function_and_module(name, kwargs, message):
    loss = loss_table.BY_NAME[name]
    x, t = loss_table.binary_sample((3, 3))
    for call in (lambda: loss.function(x, t, **kwargs), lambda: loss.module(**kwargs)):
        with pytest.raises(ValueError) as error:
            call()
        assert str(error.value) == message


@pytest.mark.parametrize("name", [ASL, QFL, VFL])
def test_soft_targets_outside_the_unit_interval_are_refused(name):
    x, t = loss_table.binary_sample((3, 3))
    for bad in (t + 1.5, -t - 0.5):
        with pytest.raises(ValueError, match=r"targets .*\[0, 1\]"):
            loss_table.BY_NAME[name].function(x, bad)
