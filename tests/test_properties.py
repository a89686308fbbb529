"""Property-based tests (hypothesis): invariants every loss must satisfy for any input and setting.

Everything runs in float64 unless a test says otherwise. Logits are drawn from a wide range that
includes the awkward values (0, -0, subnormals, +-30, +-100, +-700, +-1e4).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import focalloss as fl
import loss_table
from conftest import assert_matches_reference, check_against_reference, tolerance
from loss_table import gammas, unit

# FOCALLOSS_PROPERTY_EXAMPLES=1000 for a deeper search than the default quick run.
PROPERTY = settings(
    deadline=None,
    max_examples=int(os.environ.get("FOCALLOSS_PROPERTY_EXAMPLES", "60")),
    # each_backend only redirects backend="auto"; nothing in it needs resetting between examples
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

pytestmark = pytest.mark.usefixtures("each_backend")

SPECIAL_LOGITS = [
    0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0, 20.0, -20.0,
    30.0, -30.0, 40.0, -40.0, 100.0, -100.0, 700.0, -700.0, 1e4, -1e4,
]
logit_values = st.one_of(
    st.sampled_from(SPECIAL_LOGITS),
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
    st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False),
)
soft_target_values = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0))
hard_target_values = st.sampled_from([0.0, 1.0])
binary_alphas = st.one_of(st.none(), st.sampled_from([0.0, 0.25, 1.0]), unit)
# Per-class and elementwise weights, including exact zeros.
class_weight_values = st.one_of(st.just(0.0), st.floats(0.0, 4.0))


def hyperparameters(loss, *, alpha=False):
    """A strategy of the loss's hyperparameters (the test table's strategies), and alpha if asked."""
    strategies = dict(loss.strategies)
    if alpha:
        strategies["alpha"] = binary_alphas
    return st.fixed_dictionaries(strategies)


# name -> (functional, module, strategy of the loss's own hyperparameters, alpha included for the binary losses)
BINARY = {loss.name: (loss.function, loss.module, hyperparameters(loss, alpha=True)) for loss in loss_table.BINARY}
SOFTMAX = {loss.name: (loss.function, loss.module, hyperparameters(loss)) for loss in loss_table.SOFTMAX}


# --------------------------------------------------------------------------------------------------
# Input strategies
# --------------------------------------------------------------------------------------------------
@st.composite
def binary_inputs(draw, soft=True):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = draw(hnp.arrays(np.float64, shape, elements=logit_values))
    t = draw(hnp.arrays(np.float64, shape, elements=soft_target_values if soft else hard_target_values))
    return torch.from_numpy(x), torch.from_numpy(t)


@st.composite
def softmax_inputs(draw, probabilities=None, ignore=True, min_classes=2):
    """(logits (N, C, *d), target): class indices (some = ignore_index) or probability rows."""
    n = draw(st.integers(1, 4))
    c = draw(st.integers(min_classes, 5))
    spatial = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    shape = (n, c) + spatial
    x = draw(hnp.arrays(np.float64, shape, elements=logit_values))
    if probabilities is None:
        probabilities = draw(st.booleans())
    if probabilities:
        raw = draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.just(0.0), st.floats(0.0, 1.0))))
        sums = raw.sum(axis=1, keepdims=True)
        one_hot = (np.arange(c).reshape((1, c) + (1,) * len(spatial)) == 0).astype(np.float64)
        target = np.where(sums > 0, raw / np.where(sums > 0, sums, 1.0), one_hot)
        target = torch.from_numpy(target)
    else:
        choices = st.integers(0, c - 1)
        if ignore:
            choices = st.one_of(choices, st.just(-100))
        target = torch.from_numpy(draw(hnp.arrays(np.int64, (n,) + spatial, elements=choices)))
    return torch.from_numpy(x), target


def _grad(fn, x, *args, **kwargs):
    x = x.clone().requires_grad_(True)
    loss = fn(x, *args, **kwargs)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad


# --------------------------------------------------------------------------------------------------
# Non-negativity
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BINARY))
@PROPERTY
@given(data=st.data(), soft=st.booleans())
def test_sigmoid_losses_are_nonnegative(name, data, soft):
    """Every element's loss is >= 0 (>= alpha_t + epsilon < 0 for poly-1 with epsilon < -alpha_t)."""
    fn, _, params = BINARY[name]
    x, t = data.draw(binary_inputs(soft=soft))
    kwargs = data.draw(params)
    loss = fn(x, t, reduction="none", **kwargs)
    low = loss_table.BY_NAME[name].lower_bound(kwargs)
    assert loss.shape == x.shape
    assert not torch.isnan(loss).any()
    assert (loss >= low).all(), (kwargs, x[loss < low], t[loss < low], loss[loss < low])


@pytest.mark.parametrize("gamma", [1e-300, 1e-6])
def test_focal_star_tiny_gamma_is_nonnegative(gamma):
    x = torch.tensor([-1e4, -1.0, 0.0, 1.0, 1e4], dtype=torch.float64)
    for t in (torch.zeros_like(x), torch.ones_like(x)):
        loss = fl.sigmoid_focal_loss_star(x, t, gamma=gamma, beta=-3.0, reduction="none")
        assert not torch.isnan(loss).any()
        assert (loss >= 0).all()


@pytest.mark.parametrize("name", list(SOFTMAX))
@PROPERTY
@given(data=st.data())
def test_softmax_losses_are_nonnegative(name, data):
    fn, _, params = SOFTMAX[name]
    x, target = data.draw(softmax_inputs())
    c = x.shape[1]
    alpha = data.draw(st.one_of(
        st.none(), st.floats(0.0, 5.0), st.lists(st.floats(0.0, 5.0), min_size=c, max_size=c)
    ))
    kwargs = {**data.draw(params), "alpha": alpha, "label_smoothing": data.draw(unit)}
    loss = fn(x, target, reduction="none", **kwargs)
    assert loss.shape == (x.shape[0],) + x.shape[2:]
    assert not torch.isnan(loss).any()
    assert (loss >= 0).all(), (kwargs, loss)


# --------------------------------------------------------------------------------------------------
# Focal loss <= cross-entropy, with the ratio (1 - p_t)^gamma
# --------------------------------------------------------------------------------------------------
# torch's own cross-entropies compute log(1 + tiny) without log1p: up to ~1e-16 absolute error
# (e.g. BCE(-40, 0) == 0 exactly, the true value is 4.2e-18), so they get an absolute slack, and the
# exact ratio is checked against an accurate cross-entropy, -logsigmoid(margin).
TORCH_CE_SLACK = 1e-14


@PROPERTY
@given(inputs=binary_inputs(soft=False), gamma=gammas)
def test_sigmoid_focal_is_bounded_by_bce_with_ratio_modulating_factor(inputs, gamma):
    x, t = inputs
    focal = fl.sigmoid_focal_loss(x, t, alpha=None, gamma=gamma, reduction="none")
    torch_ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert (focal <= torch_ce * (1 + 1e-12) + TORCH_CE_SLACK).all(), (x, t, focal, torch_ce)
    x_t = torch.where(t == 1, x, -x)
    ce = -F.logsigmoid(x_t)
    assert (focal <= ce * (1 + 1e-12) + 1e-300).all(), (x, t, focal, ce)
    modulating = torch.sigmoid(-x_t) ** gamma  # (1 - p_t)^gamma, computed independently
    big = ce > 1e-100
    torch.testing.assert_close(focal[big] / ce[big], modulating[big], rtol=1e-9, atol=1e-200)
    if gamma == 0:
        torch.testing.assert_close(focal, ce, rtol=1e-12, atol=1e-300)


@PROPERTY
@given(inputs=softmax_inputs(probabilities=False, ignore=False), gamma=gammas)
def test_softmax_focal_is_bounded_by_cross_entropy_with_ratio_modulating_factor(inputs, gamma):
    x, y = inputs
    focal = fl.softmax_focal_loss(x, y, alpha=None, gamma=gamma, reduction="none")
    torch_ce = F.cross_entropy(x, y, reduction="none")
    assert (focal <= torch_ce * (1 + 1e-12) + TORCH_CE_SLACK).all(), (x, y, focal, torch_ce)
    # L = log(sum_{j != y} exp(x_j - x_y)): -log p_y = log(1 + e^L), 1 - p_y = sigmoid(L).
    is_y = F.one_hot(y, x.shape[1]).movedim(-1, 1).bool()
    log_rest = torch.logsumexp(x.masked_fill(is_y, -torch.inf), dim=1) - x.gather(1, y.unsqueeze(1)).squeeze(1)
    ce = -F.logsigmoid(-log_rest)
    assert (focal <= ce * (1 + 1e-12) + 1e-300).all(), (x, y, focal, ce)
    modulating = torch.sigmoid(log_rest) ** gamma
    big = ce > 1e-100
    torch.testing.assert_close(focal[big] / ce[big], modulating[big], rtol=1e-9, atol=1e-200)
    if gamma == 0:
        torch.testing.assert_close(focal, ce, rtol=1e-12, atol=1e-300)


# --------------------------------------------------------------------------------------------------
# Monotone in gamma
# --------------------------------------------------------------------------------------------------
@PROPERTY
@given(inputs=binary_inputs(soft=True), g=st.tuples(gammas, gammas), alpha=binary_alphas)
def test_sigmoid_focal_is_nonincreasing_in_gamma(inputs, g, alpha):
    x, t = inputs
    g1, g2 = sorted(g)
    l1 = fl.sigmoid_focal_loss(x, t, alpha=alpha, gamma=g1, reduction="none")
    l2 = fl.sigmoid_focal_loss(x, t, alpha=alpha, gamma=g2, reduction="none")
    assert (l2 <= l1 * (1 + 1e-12) + 1e-300).all(), (g1, g2, x, t, l1, l2)


@PROPERTY
@given(data=st.data(), g=st.tuples(gammas, gammas))
def test_softmax_focal_is_nonincreasing_in_gamma(data, g):
    x, target = data.draw(softmax_inputs())
    c = x.shape[1]
    alpha = data.draw(st.one_of(st.none(), st.lists(st.floats(0.0, 5.0), min_size=c, max_size=c)))
    smoothing = data.draw(st.one_of(st.just(0.0), unit))
    g1, g2 = sorted(g)
    kwargs = {"alpha": alpha, "label_smoothing": smoothing, "reduction": "none"}
    l1 = fl.softmax_focal_loss(x, target, gamma=g1, **kwargs)
    l2 = fl.softmax_focal_loss(x, target, gamma=g2, **kwargs)
    assert (l2 <= l1 * (1 + 1e-12) + 1e-300).all(), (g1, g2, x, target, l1, l2)


# --------------------------------------------------------------------------------------------------
# Module == functional
# --------------------------------------------------------------------------------------------------
reductions = st.sampled_from(["none", "mean", "sum"])


@st.composite
def normalizers(draw, reduction):
    if reduction == "sum":
        return None
    return draw(st.one_of(st.none(), st.just("positives"), st.floats(0.5, 10.0, width=32)))


def assume_off_the_step(kwargs, probabilities):
    """The hard truncation's step sits at p = threshold, where the loss jumps: a probability that
    rounds onto it may fall on either side in another backend's rounding, so such draws are left out
    (the step itself is tested on exact cases elsewhere)."""
    if "threshold" in kwargs:
        near = torch.isclose(probabilities, torch.tensor(float(kwargs["threshold"]), dtype=probabilities.dtype),
                             rtol=1e-9, atol=1e-300)
        assume(not bool(near.any()))


def assume_off_the_margin(kwargs, x):
    """The asymmetric loss clips its negatives at p = clip, x = logit(clip), where the gradient jumps for
    gamma_neg = 0 and where, at a subnormal distance, autograd's derivative of log(p - clip) overflows (the
    torch backend): such draws are left out (the margin itself is tested on exact cases elsewhere)."""
    if kwargs.get("clip", 0.0) > 0:
        cut = math.log(kwargs["clip"]) - math.log1p(-kwargs["clip"])
        assume(not bool(torch.isclose(x, torch.tensor(cut, dtype=x.dtype), rtol=1e-6, atol=1e-300).any()))


def draw_sigmoid_settings(data, params, x):
    """The loss's own hyperparameters, a reduction, a normalizer and maybe a broadcast weight."""
    kwargs = data.draw(params)
    assume_off_the_step(kwargs, torch.cat([torch.sigmoid(x).flatten(), torch.sigmoid(-x).flatten()]))
    assume_off_the_margin(kwargs, x)
    kwargs["reduction"] = data.draw(reductions)
    kwargs["normalizer"] = data.draw(normalizers(kwargs["reduction"]))
    if data.draw(st.booleans()):
        w_shape = data.draw(st.sampled_from([x.shape, x.shape[-1:], (1,)]))
        kwargs["weight"] = torch.from_numpy(data.draw(hnp.arrays(np.float64, w_shape, elements=class_weight_values)))
    return kwargs


def draw_softmax_settings(data, params, x):
    """The loss's own hyperparameters, every alpha form, label smoothing, a reduction, a normalizer
    and maybe a weight."""
    c = x.shape[1]
    kwargs = {
        **data.draw(params),
        "alpha": data.draw(st.one_of(
            st.none(), st.floats(0.0, 5.0), st.lists(st.floats(0.0, 5.0), min_size=c, max_size=c)
        )),
        "label_smoothing": data.draw(st.one_of(st.just(0.0), unit)),
        "reduction": data.draw(reductions),
    }
    assume_off_the_step(kwargs, torch.softmax(x, dim=1))
    kwargs["normalizer"] = data.draw(normalizers(kwargs["reduction"]))
    if data.draw(st.booleans()):
        row_shape = (x.shape[0],) + x.shape[2:]
        kwargs["weight"] = torch.from_numpy(data.draw(hnp.arrays(np.float64, row_shape, elements=class_weight_values)))
    return kwargs


@pytest.mark.parametrize("name", list(BINARY))
@PROPERTY
@given(data=st.data())
def test_sigmoid_module_equals_functional(name, data):
    fn, module_cls, params = BINARY[name]
    x, t = data.draw(binary_inputs(soft=True))
    kwargs = draw_sigmoid_settings(data, params, x)
    expected, expected_grad = _grad(fn, x, t, **kwargs)
    actual, actual_grad = _grad(module_cls(**kwargs), x, t)
    assert actual.dtype == expected.dtype == x.dtype
    torch.testing.assert_close(actual, expected, **tolerance(torch.float64))
    torch.testing.assert_close(actual_grad, expected_grad, **tolerance(torch.float64))


@pytest.mark.parametrize("name", list(SOFTMAX))
@PROPERTY
@given(data=st.data())
def test_softmax_module_equals_functional(name, data):
    fn, module_cls, params = SOFTMAX[name]
    x, target = data.draw(softmax_inputs())
    kwargs = draw_softmax_settings(data, params, x)
    expected, expected_grad = _grad(fn, x, target, **kwargs)
    actual, actual_grad = _grad(module_cls(**kwargs), x, target)
    assert actual.dtype == expected.dtype == x.dtype
    torch.testing.assert_close(actual, expected, **tolerance(torch.float64))
    torch.testing.assert_close(actual_grad, expected_grad, **tolerance(torch.float64))


@pytest.mark.parametrize("case", ["sigmoid_weight", "softmax_weight", "softmax_alpha"])
def test_module_keeps_float64_settings(case):
    gen = torch.Generator().manual_seed(0)
    w = torch.rand(4, 3, generator=gen, dtype=torch.float64) + 0.1  # not representable in float32
    if case == "sigmoid_weight":
        x, t = torch.randn(4, 3, generator=gen, dtype=torch.float64), torch.rand(4, 3, generator=gen, dtype=torch.float64)
        expected = fl.sigmoid_focal_loss(x, t, weight=w)
        actual = fl.SigmoidFocalLoss(weight=w)(x, t)
    else:
        x, y = torch.randn(4, 3, generator=gen, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
        kwargs = {"weight": w[:, 0]} if case == "softmax_weight" else {"alpha": [0.1, 0.3, 0.6]}
        expected = fl.softmax_focal_loss(x, y, **kwargs)
        actual = fl.SoftmaxFocalLoss(**kwargs)(x, y)
    torch.testing.assert_close(actual, expected, **tolerance(torch.float64))


# --------------------------------------------------------------------------------------------------
# Parity with the float64 NumPy reference: value and gradient
# --------------------------------------------------------------------------------------------------
def float64_tolerance(loss, x, t, kwargs):
    """The tolerance table's float64 entry, its rtol widened to 4 eps times the loss's condition number at
    (x, t) where that is larger: rounding the loss's own arithmetic cannot be held to less there (quality
    focal loss where t is near p; see ``loss_table``). Elsewhere the table's entry as it is."""
    tol = tolerance(torch.float64)
    if loss.float64_condition is not None:
        tol["rtol"] = max(tol["rtol"], 4 * torch.finfo(torch.float64).eps * loss.float64_condition(x, t, kwargs))
    return tol


@pytest.mark.parametrize("name", list(BINARY))
@PROPERTY
@given(data=st.data())
def test_sigmoid_losses_match_reference(name, data):
    _, _, params = BINARY[name]
    loss = loss_table.BY_NAME[name]
    x, t = data.draw(binary_inputs(soft=data.draw(st.booleans())))
    kwargs = draw_sigmoid_settings(data, params, x)
    check_against_reference(loss, x, t, tol=float64_tolerance(loss, x, t, kwargs), **kwargs)


@pytest.mark.parametrize("name", list(SOFTMAX))
@PROPERTY
@given(data=st.data())
def test_softmax_losses_match_reference(name, data):
    _, _, params = SOFTMAX[name]
    x, target = data.draw(softmax_inputs())
    check_against_reference(loss_table.BY_NAME[name], x, target, **draw_softmax_settings(data, params, x))


@pytest.mark.parametrize("name", list(BINARY))
@PROPERTY
@given(data=st.data())
def test_sigmoid_gradient_of_sum_matches_reference_sum_gradient(name, data):
    fn, _, params = BINARY[name]
    x, t = data.draw(binary_inputs(soft=True))
    kwargs = data.draw(params)
    assume_off_the_margin(kwargs, x)
    _, grad = _grad(fn, x, t, reduction="none", **kwargs)
    loss = loss_table.BY_NAME[name]
    expected = loss.reference_grad(x.numpy(), t.numpy(), reduction="sum", **kwargs)
    assert_matches_reference(grad, expected, torch.float64, float64_tolerance(loss, x, t, kwargs))


@pytest.mark.parametrize("name", list(BINARY))
def test_sigmoid_gradient_at_the_point_hypothesis_found(name):
    """The regression: x = 1e-8, t = 1/2, beta = 0.1 (quality focal loss), where p is within 2.5e-9 of t
    and the backends' float64 gradient is 5e-9 off (mpmath); every binary loss at that point."""
    fn, _, _ = BINARY[name]
    loss = loss_table.BY_NAME[name]
    x, t = torch.tensor([1e-8], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64)
    kwargs = {"beta": 0.1} if name == "sigmoid_quality_focal_loss" else {}
    _, grad = _grad(fn, x, t, reduction="none", **kwargs)
    expected = loss.reference_grad(x.numpy(), t.numpy(), reduction="sum", **kwargs)
    assert_matches_reference(grad, expected, torch.float64, float64_tolerance(loss, x, t, kwargs))


MPMATH_QFL_GRAD = [956355.72477676922008, -44793.018821083763458, 2.1902715002897852168]
MPMATH_QFL_VALUE = [0.095635572477676891109, 0.13437905646320967968, 0.39756618630435941541]


def test_quality_focal_reference_is_accurate_where_t_is_near_p():
    """The float64 reference forms t - p from tanh(x / 2) near x = 0: at x = 1e-8, t = 1/2, beta = 0.1 its
    gradient and value agree with 50-digit mpmath to rounding (the product form t q - (1 - t) p was 4.5e-9
    off there)."""
    from focalloss import reference

    x, t = np.array([1e-8, -3e-7, 0.3]), np.array([0.5, 0.5, 0.57])
    # d/dx |t - p|^0.1 (-t log p - (1 - t) log(1 - p)) and the loss itself, mpmath at 50 digits
    grad = reference.sigmoid_quality_focal_loss_grad(x, t, beta=0.1, reduction="none")
    value = reference.sigmoid_quality_focal_loss(x, t, beta=0.1, reduction="none")
    np.testing.assert_allclose(grad, MPMATH_QFL_GRAD, rtol=1e-14)
    np.testing.assert_allclose(value, MPMATH_QFL_VALUE, rtol=1e-14)


# --------------------------------------------------------------------------------------------------
# Finite loss and gradient for any logit in [-1e4, 1e4] and any gamma in [0, 10]
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@PROPERTY
@given(inputs=binary_inputs(soft=True), gamma=gammas, alpha=binary_alphas)
def test_sigmoid_focal_loss_and_gradient_are_finite(dtype, inputs, gamma, alpha):
    x, t = inputs
    for reduction in ("none", "mean"):
        loss, grad = _grad(fl.sigmoid_focal_loss, x.to(dtype), t.to(dtype), gamma=gamma, alpha=alpha,
                           reduction=reduction)
        assert loss.dtype == grad.dtype == dtype
        assert torch.isfinite(loss).all(), (gamma, x, t, loss)
        assert torch.isfinite(grad).all(), (gamma, x, t, grad)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@PROPERTY
@given(data=st.data(), gamma=gammas)
def test_softmax_focal_loss_and_gradient_are_finite(dtype, data, gamma):
    x, target = data.draw(softmax_inputs())
    smoothing = data.draw(st.one_of(st.just(0.0), unit))
    if target.is_floating_point():
        target = target.to(dtype)
    for reduction in ("none", "mean"):
        loss, grad = _grad(fl.softmax_focal_loss, x.to(dtype), target, gamma=gamma,
                           label_smoothing=smoothing, reduction=reduction)
        assert loss.dtype == grad.dtype == dtype
        assert torch.isfinite(loss).all(), (gamma, x, target, loss)
        assert torch.isfinite(grad).all(), (gamma, x, target, grad)


@pytest.mark.parametrize("name", [n for n in BINARY if n != "sigmoid_focal_loss"])
@PROPERTY
@given(data=st.data())
def test_other_sigmoid_losses_and_gradients_are_finite(name, data):
    fn, _, params = BINARY[name]
    x, t = data.draw(binary_inputs(soft=True))
    loss, grad = _grad(fn, x, t, reduction="none", **data.draw(params))
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", [n for n in SOFTMAX if n != "softmax_focal_loss"])
@PROPERTY
@given(data=st.data())
def test_other_softmax_losses_and_gradients_are_finite(name, data):
    fn, _, params = SOFTMAX[name]
    x, target = data.draw(softmax_inputs())
    loss, grad = _grad(fn, x, target, reduction="none", **data.draw(params))
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()


# --------------------------------------------------------------------------------------------------
# Soft targets: the loss is affine in t, loss(t) = t loss(1) + (1 - t) loss(0), but for a joint loss
# (quality focal: a soft quality is its own target, tests/test_asymmetric_family.py)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [name for name in BINARY if loss_table.BY_NAME[name].spec.composition != "joint"])
@PROPERTY
@given(data=st.data())
def test_sigmoid_loss_is_affine_in_soft_target(name, data):
    fn, _, params = BINARY[name]
    x, t = data.draw(binary_inputs(soft=True))
    kwargs = dict(data.draw(params), reduction="none")
    loss = fn(x, t, **kwargs)
    loss_pos = fn(x, torch.ones_like(t), **kwargs)
    loss_neg = fn(x, torch.zeros_like(t), **kwargs)
    torch.testing.assert_close(loss, t * loss_pos + (1 - t) * loss_neg, rtol=1e-12, atol=1e-12)


def test_sigmoid_focal_soft_target_is_not_torchvision_formula():
    """The documented example: x=2, t=0.7, gamma=2, alpha off gives 0.4963 (torchvision: 0.0879)."""
    loss = fl.sigmoid_focal_loss(torch.tensor([2.0], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64),
                                 alpha=None, gamma=2.0, reduction="none")
    torch.testing.assert_close(loss, torch.tensor([0.4963], dtype=torch.float64), rtol=0, atol=1e-4)
