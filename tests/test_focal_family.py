"""Poly-1 focal (Leng et al. 2022) and adaptive-gamma focal loss (FLSD-53, Mukhoti et al. 2020), and
the distribution focal loss (Li et al. 2020) as softmax focal loss with gamma = 0.

On every backend (torch, the fused CPU kernels, Triton's interpreter): their identities with focal
loss, the papers' formulas written out, the piece a probability exactly at a threshold takes, and
the schedules they refuse. Parity with the reference, gradcheck, properties and the scalar
hyperparameters' bad values come from the test table like every other loss's.
"""

from __future__ import annotations

import loss_table
import pytest
import torch
from conftest import tolerance

import focalloss as fl
from focalloss import losses
from focalloss.backends import cpu_ops

GEN = torch.Generator().manual_seed(53)


def _value_and_grad(fn, x, target, **kwargs):
    x = x.detach().clone().requires_grad_(True)
    loss = fn(x, target, reduction="sum", **kwargs)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


def _assert_same(fn_a, kwargs_a, fn_b, kwargs_b, x, target, dtype):
    got, expected = _value_and_grad(fn_a, x, target, **kwargs_a), _value_and_grad(fn_b, x, target, **kwargs_b)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, **tolerance(dtype))


def _softmax_inputs(dtype, shape=(9, 5)):
    x = (torch.randn(shape, generator=GEN, dtype=torch.float64) * 3).to(dtype)
    x[0, 0] = 40.0  # a saturated row
    return x, torch.randint(0, shape[1], shape[:1] + shape[2:], generator=GEN)


def _off_cuts(p, cuts, margin=1e-4):
    """Whether every probability in p is away from the cuts (the step function's jumps)."""
    return all(bool(((p - c).abs() > margin).all()) for c in cuts)


# --------------------------------------------------------------------------------------------------
# Identities
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"alpha": [0.5, 1.0, 2.0, 1.0, 0.3]}],
                         ids=["index", "smoothing", "alpha"])
def test_softmax_poly1_with_epsilon_zero_is_softmax_focal(backend, dtype, options):
    x, y = _softmax_inputs(dtype)
    for gamma in (0.0, 0.5, 2.0):
        _assert_same(fl.softmax_poly1_focal_loss, {"gamma": gamma, "epsilon": 0.0, "backend": backend, **options},
                     fl.softmax_focal_loss, {"gamma": gamma, "backend": backend, **options}, x, y, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 3.0])
def test_adaptive_with_a_constant_schedule_is_focal(backend, dtype, gamma):
    x, y = _softmax_inputs(dtype)
    probabilities = torch.softmax(torch.randn(x.shape, generator=GEN, dtype=torch.float64), 1).to(dtype)
    for schedule in ({"thresholds": (0.2,), "gammas": (gamma, gamma)},
                     {"thresholds": (0.1, 0.5, 0.9), "gammas": (gamma,) * 4}, {"thresholds": (), "gammas": (gamma,)}):
        for target in (y, probabilities):
            _assert_same(fl.softmax_adaptive_focal_loss, {**schedule, "backend": backend},
                         fl.softmax_focal_loss, {"gamma": gamma, "backend": backend}, x, target, dtype)
        xb, tb = loss_table.binary_sample((6, 7), seed=int(gamma * 10))
        xb[0, :2] = torch.tensor([1e4, -1e4])
        _assert_same(fl.sigmoid_adaptive_focal_loss, {**schedule, "backend": backend},
                     fl.sigmoid_focal_loss, {"gamma": gamma, "alpha": None, "backend": backend}, xb.to(dtype), tb,
                     dtype)


# --------------------------------------------------------------------------------------------------
# The papers' formulas, written out as the papers state them (class-index targets)
# --------------------------------------------------------------------------------------------------
def _p_target(x, y):
    return torch.softmax(x.double(), 1).gather(1, y.unsqueeze(1)).squeeze(1)


def flsd53(x, y):
    """Mukhoti et al. 2020, FLSD-53: -(1 - p_t)^gamma log p_t, gamma = 5 if p_t < 0.2 else 3."""
    pt = _p_target(x, y)
    gamma = torch.where(pt < 0.2, 5.0, 3.0)
    return -((1 - pt) ** gamma) * torch.log(pt)


def poly1_focal(x, y, gamma=2.0, epsilon=1.0):
    """Leng et al. 2022, Poly-1 focal: FL + epsilon (1 - p_t)^(gamma + 1), FL = -(1 - p_t)^gamma log p_t."""
    pt = _p_target(x, y)
    return -((1 - pt) ** gamma) * torch.log(pt) + epsilon * (1 - pt) ** (gamma + 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_adaptive_defaults_are_flsd53(backend, dtype):
    x, y = _softmax_inputs(dtype, (64, 6))
    assert _off_cuts(_p_target(x, y), [0.2])
    got = fl.softmax_adaptive_focal_loss(x, y, reduction="none", backend=backend)
    torch.testing.assert_close(got.double(), flsd53(x, y), **tolerance(dtype))
    pieces = _p_target(x, y) < 0.2
    assert pieces.any() and (~pieces).any()  # both pieces are exercised


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_adaptive_defaults_are_flsd53_of_p_t(backend, dtype):
    x, t = loss_table.binary_sample((16, 8), seed=3)
    x = x.to(dtype)
    pt = torch.where(t == 1, torch.sigmoid(x.double()), torch.sigmoid(-x.double()))
    assert _off_cuts(pt, [0.2])
    gamma = torch.where(pt < 0.2, 5.0, 3.0)
    expected = -((1 - pt) ** gamma) * torch.log(pt)
    got = fl.sigmoid_adaptive_focal_loss(x, t, reduction="none", backend=backend)
    torch.testing.assert_close(got.double(), expected, **tolerance(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gamma, epsilon", [(2.0, 1.0), (0.5, -1.0), (0.0, 2.0)])
def test_softmax_poly1_is_the_papers_poly1_focal(backend, dtype, gamma, epsilon):
    x, y = _softmax_inputs(dtype, (32, 5))
    got = fl.softmax_poly1_focal_loss(x, y, gamma=gamma, epsilon=epsilon, reduction="none", backend=backend)
    torch.testing.assert_close(got.double(), poly1_focal(x, y, gamma, epsilon), **tolerance(dtype))


def test_softmax_poly1_defaults_are_the_papers():
    x, y = _softmax_inputs(torch.float64)
    torch.testing.assert_close(fl.softmax_poly1_focal_loss(x, y), poly1_focal(x, y).mean())


# --------------------------------------------------------------------------------------------------
# A probability exactly at a threshold takes the upper piece (p_t = 0.2 gets gamma 3 in FLSD-53)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_probability_at_a_threshold_takes_the_upper_piece(backend, dtype):
    schedule = {"thresholds": (0.5,), "gammas": (5.0, 3.0)}
    # sigmoid(0) = 1/2 exactly, for a positive and for a negative; the logit just below 0 has p_t < 1/2
    below = torch.nextafter(torch.zeros((), dtype=dtype), torch.tensor(-1.0, dtype=dtype))
    x = torch.stack([torch.zeros((), dtype=dtype), torch.zeros((), dtype=dtype), below])
    t = torch.tensor([1.0, 0.0, 1.0], dtype=dtype)
    got = fl.sigmoid_adaptive_focal_loss(x, t, reduction="none", backend=backend, **schedule)
    half = torch.tensor(0.5, dtype=torch.float64)
    at = -(half**3) * torch.log(half)
    torch.testing.assert_close(got[:2].double(), torch.stack([at, at]), **tolerance(dtype))
    torch.testing.assert_close(got[2].double(), -(half**5) * torch.log(half), **tolerance(dtype))
    # softmax compares the computed log p: two equal logits give log p = -log 2 correctly rounded on
    # every backend, the threshold's own log rounded to nearest, so p = 1/2 takes the upper piece
    # (p within rounding of a threshold may in general fall on either side)
    x = torch.zeros(3, 2, dtype=dtype)
    got = fl.softmax_adaptive_focal_loss(x, torch.tensor([0, 1, 1]), reduction="none", backend=backend, **schedule)
    torch.testing.assert_close(got.double(), at.expand(3), **tolerance(dtype))


def test_the_loss_jumps_at_a_threshold_and_its_gradient_holds_gamma_fixed():
    x = torch.tensor([-1e-3, 1e-3], dtype=torch.float64, requires_grad=True)
    t = torch.ones(2, dtype=torch.float64)
    loss = fl.sigmoid_adaptive_focal_loss(x, t, reduction="none", thresholds=(0.5,), gammas=(5.0, 3.0))
    # gamma 5 below, 3 above: less down-weighting above, so the loss jumps up as p_t crosses 1/2
    assert loss[1] - loss[0] > 0.05
    (grad,) = torch.autograd.grad(loss.sum(), x)
    expected = torch.cat([
        torch.autograd.grad(fl.sigmoid_focal_loss(x[:1], t[:1], gamma=5.0, alpha=None, reduction="sum"), x)[0][:1],
        torch.autograd.grad(fl.sigmoid_focal_loss(x[1:], t[1:], gamma=3.0, alpha=None, reduction="sum"), x)[0][1:],
    ])
    torch.testing.assert_close(grad, expected)


# --------------------------------------------------------------------------------------------------
# Schedules refused, with what is allowed and what came; the kernels' numbers of pieces
# --------------------------------------------------------------------------------------------------
ADAPTIVE = [loss for loss in loss_table.LOSSES if loss.kind == "adaptive_focal"]


@pytest.mark.parametrize("loss", ADAPTIVE, ids=str)
@pytest.mark.parametrize("kwargs, fragments", loss_table.BAD_SCHEDULES, ids=lambda v: repr(v)[:40])
def test_bad_schedules_are_refused_by_function_and_module(loss, kwargs, fragments):
    x, y = loss.sample((3, 3))
    for call in (lambda: loss.function(x, y, **kwargs), lambda: loss.module(**kwargs)):
        with pytest.raises(ValueError) as error:
            call()
        for fragment in fragments:
            assert fragment in str(error.value), (fragment, str(error.value))


@pytest.mark.parametrize("loss", ADAPTIVE, ids=str)
def test_schedule_hyperparameters_are_keyword_tuples_of_numbers(loss):
    x, y = loss.sample((3, 3))
    with pytest.raises(TypeError, match=r"gammas must be a tuple of finite real numbers; got '5'"):
        loss.function(x, y, gammas="5")
    # a list is taken as the tuple it holds
    torch.testing.assert_close(loss.function(x, y, thresholds=[0.2], gammas=[5, 3]), loss.function(x, y))


def test_the_kernels_take_the_registrys_number_of_pieces():
    assert cpu_ops._kernels().MAX_PIECES == losses.MAX_PIECES
    for spec in (losses.BINARY["adaptive_focal"], losses.SOFTMAX["focal"]):
        cuts, gammas = spec.kernel_schedule(spec.params(spec.defaults), float64=False)
        assert (len(cuts), len(gammas)) == (losses.MAX_PIECES - 1, losses.MAX_PIECES)


# --------------------------------------------------------------------------------------------------
# The distribution focal loss (Li et al. 2020, Generalized Focal Loss) is softmax focal loss with
# gamma = 0 and a two-bin probability target
# --------------------------------------------------------------------------------------------------
def _dfl_as_the_paper_writes_it(logits, y):
    """DFL(S_i, S_{i+1}) = -((y_{i+1} - y) log S_i + (y - y_i) log S_{i+1}), unit bins 0 .. n, y_i <= y <= y_{i+1}."""
    log_s = torch.log_softmax(logits.double(), dim=1)
    rows = torch.arange(logits.shape[0])
    left = y.floor().long().clamp(max=logits.shape[1] - 2)
    return -((left + 1 - y) * log_s[rows, left] + (y - left) * log_s[rows, left + 1])


def _two_bin_target(y, bins):
    left = y.floor().long().clamp(max=bins - 2)
    right_share = (y - left).to(torch.float64)
    return (torch.nn.functional.one_hot(left, bins) * (1 - right_share)[:, None]
            + torch.nn.functional.one_hot(left + 1, bins) * right_share[:, None])


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_distribution_focal_loss_is_softmax_focal_with_gamma_zero_and_a_two_bin_target(backend):
    bins = 17  # the paper's reg_max = 16
    logits = torch.randn(300, bins, generator=GEN, dtype=torch.float64) * 3.0
    y = torch.rand(300, generator=GEN, dtype=torch.float64) * (bins - 1)
    y[:3] = torch.tensor([0.0, 7.0, bins - 1.0])  # on a bin, the last one included
    x = logits.clone().requires_grad_(True)
    ours = fl.softmax_focal_loss(x, _two_bin_target(y, bins), gamma=0.0, alpha=None, reduction="none", backend=backend)
    (grad,) = torch.autograd.grad(ours.sum(), x)
    x = logits.clone().requires_grad_(True)
    paper = _dfl_as_the_paper_writes_it(x, y)
    (paper_grad,) = torch.autograd.grad(paper.sum(), x)
    torch.testing.assert_close(ours, paper, **tolerance(torch.float64))
    torch.testing.assert_close(grad, paper_grad, **tolerance(torch.float64))
    # the mean over the positions, as GFL averages it
    torch.testing.assert_close(fl.softmax_focal_loss(logits, _two_bin_target(y, bins), gamma=0.0, backend=backend),
                               paper.mean(), **tolerance(torch.float64))
