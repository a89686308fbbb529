"""focalloss.boosting without the engines: the objectives' math against the reference, finite
differences, stability up to |score| = 800, the start score, arguments, and import isolation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import tolerance
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from focalloss import reference
from focalloss.backends.numpy_terms import CURVATURE_FLOOR
from focalloss.boosting import (
    HESSIANS,
    BinaryAsymmetricObjective,
    BinaryFocalObjective,
    BinaryFocalStarObjective,
    BinaryPolyObjective,
    BinarySoftenedObjective,
    SoftmaxFocalObjective,
)

# float64 against the float64 reference: the suite's float64 rtol, and no absolute slack, so even
# hessians of 1e-300 must agree to 10 digits
FLOAT64 = {**tolerance(torch.float64), "atol": 0.0}
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # the floor of the positive hessian choices
# Finite differences: central, step H. Their own error is below FD_ATOL times the size of the
# differenced function (rounding ~ eps/H = 1e-11, truncation ~ H**2 = 1e-10), so the check
# |analytic - fd| <= FD_RTOL |analytic| + FD_ATOL |differenced| is 1e-6 relative wherever the
# derivative is not ~1000 times smaller than the function (near a sign change of the hessian).
H = 1e-5
FD_RTOL, FD_ATOL = 1e-6, 1e-9
SCORES = np.array([-800.0, -700.0, -100.0, -37.5, -17.0, -4.0, -2.8, -1.0, -1e-8, 0.0, 1e-8, 0.5, 2.8, 17.0,
                   37.5, 100.0, 700.0, 800.0])
GAMMAS = [0.0, 0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0]


# --------------------------------------------------------------------------------------------------
# One table of the binary objectives: how to build each and what the reference calls its math.
# --------------------------------------------------------------------------------------------------
def _binary_case(name, settings):
    """(objective factory taking hessian=, reference settings, reference function prefix)."""
    if name == "focal":
        return (lambda hessian: BinaryFocalObjective(hessian=hessian, **settings)), settings, "sigmoid_focal_loss"
    if name == "softened":
        return (lambda hessian: BinarySoftenedObjective(hessian=hessian, **settings)), settings, "sigmoid_softened_loss"
    if name == "poly1":
        return (lambda hessian: BinaryPolyObjective(hessian=hessian, **settings)), settings, "sigmoid_poly1_focal_loss"
    if name == "asymmetric":
        make = lambda hessian: BinaryAsymmetricObjective(hessian=hessian, **settings)  # noqa: E731
        return make, settings, "sigmoid_asymmetric_loss"
    return (lambda hessian: BinaryFocalStarObjective(**settings)), settings, "sigmoid_focal_loss_star"


BINARY_CASES = {
    **{f"focal-gamma{g}-alpha0.25": ("focal", {"gamma": g, "alpha": 0.25}) for g in GAMMAS},
    "focal-gamma2-alphaNone": ("focal", {"gamma": 2.0, "alpha": None}),
    "focal-gamma0.5-alpha0.9": ("focal", {"gamma": 0.5, "alpha": 0.9}),
    "softened-k1": ("softened", {"k": 1.0}),
    "softened-k3-alpha0.3": ("softened", {"k": 3.0, "alpha": 0.3}),
    "softened-k0": ("softened", {"k": 0.0}),
    "focal_star-gamma2-beta1": ("focal_star", {"gamma": 2.0, "beta": 1.0}),
    "poly1-gamma2-alpha0.25-epsilon1": ("poly1", {"gamma": 2.0, "alpha": 0.25, "epsilon": 1.0}),
    # epsilon = -a: the side's loss is a (1 - p)^gamma (-log p - (1 - p)), a difference that cancels
    "poly1-gamma0.5-alphaNone-epsilon-1": ("poly1", {"gamma": 0.5, "alpha": None, "epsilon": -1.0}),
    "poly1-gamma0-alpha0.7-epsilon-0.3": ("poly1", {"gamma": 0.0, "alpha": 0.7, "epsilon": -0.3}),
    "poly1-gamma5-alpha0.25-epsilon3": ("poly1", {"gamma": 5.0, "alpha": 0.25, "epsilon": 3.0}),
    "focal_star-gamma0.5-beta-1-alpha0.7": ("focal_star", {"gamma": 0.5, "beta": -1.0, "alpha": 0.7}),
    **{f"asymmetric-{name}": ("asymmetric", asl) for name, asl in {
        "defaults": {},  # gamma_pos 1, gamma_neg 4, clip 0.05: the paper's
        # gamma_neg = 0: the negatives' gradient jumps from 0 to m (1 - m) at the margin
        "gamma_neg0-clip0.2-alpha0.3": {"gamma_pos": 2.0, "gamma_neg": 0.0, "clip": 0.2, "alpha": 0.3},
        "gamma_neg1-clip0.5": {"gamma_pos": 0.0, "gamma_neg": 1.0, "clip": 0.5},
        "gamma_neg0.5-clip0": {"gamma_pos": 0.5, "gamma_neg": 0.5, "clip": 0.0},  # no margin: focal's negatives
        "gamma_neg8-clip0.9": {"gamma_pos": 3.0, "gamma_neg": 8.0, "clip": 0.9},
    }.items()},
}


def expected_hessian(prefix, hessian, x, t, weight=None, **settings):
    """The reference hessian that `hessian=` names, with the objectives' float32 floor."""
    if prefix == "sigmoid_focal_loss_star":  # convex: always the exact hessian
        return reference.sigmoid_focal_loss_star_hess(x, t, weight=weight, floor=FLOAT32_TINY, **settings)
    if hessian == "exact":
        return getattr(reference, prefix + "_hess")(x, t, weight=weight, **settings)
    return getattr(reference, f"{prefix}_{hessian}_hess")(x, t, weight=weight, floor=FLOAT32_TINY, **settings)


def labelled_grid(soft):
    """Every score against labels 1 and 0 (and 0.3 when soft), with weights from 0 to 3."""
    labels = [1.0, 0.0, 0.3] if soft else [1.0, 0.0]
    x = np.tile(SCORES, len(labels))
    t = np.repeat(labels, SCORES.size)
    weight = np.linspace(0.0, 3.0, x.size)
    return x, t, weight


# --------------------------------------------------------------------------------------------------
# Parity with the reference
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("soft", [False, True], ids=["hard-labels", "soft-labels"])
@pytest.mark.parametrize("hessian", HESSIANS)
@pytest.mark.parametrize("case", BINARY_CASES)
def test_binary_objective_matches_reference(case, hessian, soft):
    make, settings, prefix = _binary_case(*BINARY_CASES[case])
    x, t, weight = labelled_grid(soft)
    for w in (None, weight):
        grad, hess = make(hessian)(t, x, w)
        assert grad.dtype == hess.dtype == np.float64 and grad.shape == hess.shape == x.shape
        assert_allclose(grad, getattr(reference, prefix + "_grad")(x, t, weight=w, **settings), **FLOAT64)
        assert_allclose(hess, expected_hessian(prefix, hessian, x, t, weight=w, **settings), **FLOAT64)


def test_soft_label_rows_do_not_change_hard_label_rows():
    """One soft label sends a call down the two-term path; the hard rows must come out the same."""
    obj = BinaryFocalObjective(alpha=0.25, gamma=2.0)
    x, t, weight = labelled_grid(soft=False)
    grad, hess = obj(t, x, weight)
    grad_mixed, hess_mixed = obj(np.append(t, 0.5), np.append(x, 1.0), np.append(weight, 1.0))
    assert_allclose(grad_mixed[:-1], grad, **FLOAT64)
    assert_allclose(hess_mixed[:-1], hess, **FLOAT64)


@pytest.mark.parametrize("hessian", HESSIANS)
@pytest.mark.parametrize("alpha", [None, 0.5, [0.2, 1.0, 3.0, 0.7]])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_softmax_objective_matches_reference(gamma, alpha, hessian, rng):
    x = rng.normal(0.0, 4.0, (61, 4))
    x[:5] *= 100.0  # saturated rows, up to |score| ~ 1000
    y = rng.integers(0, 4, 61)
    weight = rng.uniform(0.0, 2.0, 61)
    obj = SoftmaxFocalObjective(alpha=alpha, gamma=gamma, hessian=hessian)
    for w in (None, weight):
        settings = {"alpha": alpha, "gamma": gamma, "weight": w}
        grad, hess = obj(y.astype(np.float32), x, w)
        assert grad.shape == hess.shape == x.shape
        assert_allclose(grad, reference.softmax_focal_loss_grad(x, y, **settings), **FLOAT64)
        if hessian == "exact":
            expected = reference.softmax_focal_loss_hess_diag(x, y, **settings)
        else:
            expected = getattr(reference, f"softmax_focal_loss_{hessian}_hess_diag")(x, y, floor=FLOAT32_TINY,
                                                                                     **settings)
        assert_allclose(hess, expected, **FLOAT64)


@pytest.mark.parametrize("hessian", HESSIANS)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_two_class_softmax_is_binary_focal_on_the_score_difference(gamma, hessian, rng):
    x = rng.normal(0.0, 5.0, (50, 2))
    y = rng.integers(0, 2, 50).astype(np.float64)
    grad, hess = SoftmaxFocalObjective(gamma=gamma, hessian=hessian)(y, x)
    binary_grad, binary_hess = BinaryFocalObjective(alpha=None, gamma=gamma, hessian=hessian)(y, x[:, 1] - x[:, 0])
    assert_allclose(grad, np.stack([-binary_grad, binary_grad], axis=1), **FLOAT64)
    assert_allclose(hess, np.stack([binary_hess, binary_hess], axis=1), **FLOAT64)


# --------------------------------------------------------------------------------------------------
# Finite differences of the reference loss (and of its gradient, for the hessian): 1e-6 relative
# --------------------------------------------------------------------------------------------------
def _assert_fd_close(analytic, fd, lower_scale):
    assert np.all(np.abs(analytic - fd) <= FD_RTOL * np.abs(analytic) + FD_ATOL * np.abs(lower_scale)), (
        f"max relative gap {np.max(np.abs(analytic - fd) / np.abs(analytic))}"
    )


# a subnormal alpha (or a subnormal poly-1 epsilon beside alpha = 0) scales the loss down to where
# float64 keeps only a few digits: finite differences cannot be held to 1e-6 there
ALPHAS = st.floats(0.0, 1.0, allow_subnormal=False)
SHARES = st.floats(0.0, 1.0, allow_subnormal=False)
binary_settings = st.one_of(
    st.builds(lambda g, a: ("focal", {"gamma": g, "alpha": a}),
              st.floats(0.0, 10.0), st.one_of(st.none(), ALPHAS)),
    st.builds(lambda k, a: ("softened", {"k": k, "alpha": a}),
              st.floats(0.0, 5.0), st.one_of(st.none(), ALPHAS)),
    st.builds(lambda g, b: ("focal_star", {"gamma": g, "beta": b}), st.floats(0.05, 5.0), st.floats(-3.0, 3.0)),
    st.builds(lambda g, a, share: ("poly1", {"gamma": g, "alpha": a, "epsilon": -min(a, 1.0 - a) + share * 4.0}),
              st.floats(0.0, 10.0), ALPHAS, SHARES),
)


@settings(max_examples=60, deadline=None)
@given(case=binary_settings, x=st.lists(st.floats(-30.0, 30.0), min_size=1, max_size=8),
       t=st.sampled_from([0.0, 1.0, 0.25]))
def test_binary_derivatives_agree_with_finite_differences_of_the_reference(case, x, t):
    make, settings, prefix = _binary_case(*case)
    x = np.asarray(x)
    t = np.full_like(x, t)
    loss, loss_grad = getattr(reference, prefix), getattr(reference, prefix + "_grad")
    grad, hess = make("exact")(t, x)
    fd_grad = (loss(x + H, t, **settings) - loss(x - H, t, **settings)) / (2 * H)
    _assert_fd_close(grad, fd_grad, loss(x, t, **settings))
    fd_hess = (loss_grad(x + H, t, **settings) - loss_grad(x - H, t, **settings)) / (2 * H)
    if prefix == "sigmoid_focal_loss_star":  # its only hessian is the exact one, floored at float32's tiny
        fd_hess = np.maximum(fd_hess, FLOAT32_TINY)
    _assert_fd_close(hess, fd_hess, grad)


@settings(max_examples=30, deadline=None)
@given(gamma=st.floats(0.0, 10.0), seed=st.integers(0, 2**32 - 1), num_classes=st.integers(2, 5))
def test_softmax_derivatives_agree_with_finite_differences_of_the_reference(gamma, seed, num_classes):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 4.0, (6, num_classes))
    y = rng.integers(0, num_classes, 6)
    alpha = rng.uniform(0.1, 2.0, num_classes)
    grad, hess = SoftmaxFocalObjective(alpha=alpha, gamma=gamma, hessian="exact")(y, x)
    for j in range(num_classes):
        step = np.zeros_like(x)
        step[:, j] = H
        loss = lambda z: reference.softmax_focal_loss(z, y, alpha=alpha, gamma=gamma)  # noqa: E731
        _assert_fd_close(grad[:, j], (loss(x + step) - loss(x - step)) / (2 * H), loss(x))
        loss_grad = lambda z: reference.softmax_focal_loss_grad(z, y, alpha=alpha, gamma=gamma)[:, j]  # noqa: E731
        # the reference softmax gradient is accurate to ~1e-16 absolute (p - 1 is a difference), not
        # relative, so its finite differences are good to FD_ATOL absolute: a unit scale
        _assert_fd_close(hess[:, j], (loss_grad(x + step) - loss_grad(x - step)) / (2 * H), 1.0)


# --------------------------------------------------------------------------------------------------
# Stability: finite everywhere up to |score| = 800, positive by default
# --------------------------------------------------------------------------------------------------
scores_800 = st.lists(st.floats(-800.0, 800.0), min_size=1, max_size=20)


@settings(max_examples=80, deadline=None)
@given(x=scores_800, data=st.data(), gamma=st.floats(0.0, 10.0),
       alpha=st.one_of(st.none(), st.floats(1e-3, 1.0 - 1e-3)), hessian=st.sampled_from(HESSIANS))
def test_focal_finite_and_positive_up_to_800(x, data, gamma, alpha, hessian):
    x = np.asarray(x)
    t = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, 0.01]), min_size=x.size, max_size=x.size)))
    weight = np.asarray(data.draw(st.lists(st.floats(1e-3, 1e3), min_size=x.size, max_size=x.size)))
    grad, hess = BinaryFocalObjective(alpha=alpha, gamma=gamma, hessian=hessian)(t, x, weight)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
    if hessian != "exact":
        assert np.all(hess > 0)


@settings(max_examples=60, deadline=None)
@given(x=scores_800, data=st.data(), gamma=st.floats(0.0, 10.0),
       alpha=st.one_of(st.none(), st.floats(1e-3, 1.0 - 1e-3)), share=st.floats(0.0, 1.0),
       hessian=st.sampled_from(HESSIANS))
def test_poly1_finite_and_positive_up_to_800(x, data, gamma, alpha, share, hessian):
    """Finite everywhere, and positive by default, for every epsilon the objective takes: from
    -min(alpha, 1 - alpha) (-1 for alpha None) up."""
    x = np.asarray(x)
    t = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, 0.01]), min_size=x.size, max_size=x.size)))
    lowest = 1.0 if alpha is None else min(alpha, 1.0 - alpha)
    obj = BinaryPolyObjective(alpha=alpha, gamma=gamma, epsilon=-lowest + 4.0 * share, hessian=hessian)
    grad, hess = obj(t, x)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
    if hessian != "exact":
        assert np.all(hess > 0)


@settings(max_examples=40, deadline=None)
@given(x=scores_800, k=st.floats(0.0, 10.0), gamma=st.floats(0.01, 10.0), beta=st.floats(-5.0, 5.0),
       label=st.sampled_from([0.0, 1.0, 0.5]))
def test_softened_and_focal_star_finite_and_positive_up_to_800(x, k, gamma, beta, label):
    x = np.asarray(x)
    t = np.full_like(x, label)
    for obj in (BinarySoftenedObjective(k=k), BinaryFocalStarObjective(gamma=gamma, beta=beta)):
        grad, hess = obj(t, x)
        assert np.all(np.isfinite(grad)) and np.all(hess > 0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gamma=st.floats(0.0, 10.0), num_classes=st.integers(2, 6),
       hessian=st.sampled_from(HESSIANS))
def test_softmax_finite_and_positive_up_to_800(seed, gamma, num_classes, hessian):
    rng = np.random.default_rng(seed)
    x = rng.choice([-800.0, -37.5, 0.0, 2.0, 37.5, 800.0], (30, num_classes)) + rng.normal(0, 1e-3, (30, num_classes))
    y = rng.integers(0, num_classes, 30)
    grad, hess = SoftmaxFocalObjective(gamma=gamma, hessian=hessian)(y, x)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
    if hessian != "exact":
        assert np.all(hess > 0)


def test_exact_hessian_is_negative_exactly_below_the_documented_p_t():
    """At gamma=2 the exact hessian changes sign at p_t ~ 0.058; the default stays positive there."""
    p_t = np.array([0.01, 0.05, 0.057, 0.059, 0.07, 0.5])
    x = np.log(p_t) - np.log1p(-p_t)
    ones = np.ones_like(x)
    exact = BinaryFocalObjective(gamma=2.0, hessian="exact")(ones, x)[1]
    assert np.array_equal(exact < 0, p_t < 0.058)
    assert np.all(BinaryFocalObjective(gamma=2.0)(ones, x)[1] > 0)


# --------------------------------------------------------------------------------------------------
# Identities
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hessian", HESSIANS)
def test_gamma0_alpha_none_is_logistic_loss(hessian):
    # beyond |x| ~ 87, p(1 - p) < float32's tiny, where the positive choices floor it
    x = np.concatenate([np.linspace(-80.0, 80.0, 101), SCORES if hessian == "exact" else []])
    y = (np.arange(x.size) % 2).astype(np.float64)
    with np.errstate(over="ignore"):
        p, one_minus_p = 1.0 / (1.0 + np.exp(-x)), 1.0 / (1.0 + np.exp(x))
    grad, hess = BinaryFocalObjective(alpha=None, gamma=0.0, hessian=hessian)(y, x)
    assert_allclose(grad, np.where(y == 1.0, -one_minus_p, p), rtol=1e-12, atol=0.0)  # p - y, without rounding
    assert_allclose(hess, p * one_minus_p, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("hessian", HESSIANS)
def test_softmax_gamma0_is_cross_entropy(hessian, rng):
    x = rng.normal(0.0, 3.0, (40, 5))
    y = rng.integers(0, 5, 40)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    grad, hess = SoftmaxFocalObjective(gamma=0.0, hessian=hessian)(y, x)
    assert_allclose(grad, p - np.eye(5)[y], rtol=1e-12, atol=1e-15)
    assert_allclose(hess, p * (1.0 - p), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make", [lambda: BinaryFocalObjective(), lambda: BinaryAsymmetricObjective(),
                                  lambda: SoftmaxFocalObjective(alpha=[1, 2, 3])])
def test_sample_weight_scales_rows_and_zero_removes_them(make, rng):
    obj = make()
    if isinstance(obj, SoftmaxFocalObjective):
        x, y = rng.normal(0, 3, (30, 3)), rng.integers(0, 3, 30)
    else:
        x, y = rng.normal(0, 3, 30), rng.integers(0, 2, 30).astype(np.float64)
    weight = rng.uniform(0.0, 5.0, 30)
    weight[::4] = 0.0
    grad, hess = obj(y, x)
    grad_w, hess_w = obj(y, x, weight)
    w = weight if x.ndim == 1 else weight[:, None]
    assert_allclose(grad_w, w * grad, **FLOAT64)
    assert_allclose(hess_w, w * hess, **FLOAT64)
    assert np.all(grad_w[::4] == 0) and np.all(hess_w[::4] == 0)


@pytest.mark.parametrize("make", [lambda: BinaryFocalObjective(alpha=0.3), lambda: BinarySoftenedObjective(k=2.0),
                                  lambda: BinaryAsymmetricObjective(alpha=0.6),
                                  lambda: SoftmaxFocalObjective(alpha=[0.5, 1.0, 2.0])])
def test_integer_weights_act_as_repeated_rows_in_loss_and_init_score(make, rng):
    obj = make()
    counts = rng.integers(0, 4, 40)
    counts[:3] = 1  # every label present
    if isinstance(obj, SoftmaxFocalObjective):
        x, y = rng.normal(0, 2, (40, 3)), np.tile([0, 1, 2, 2], 10)
    else:
        x, y = rng.normal(0, 2, 40), np.tile([1.0, 0.0, 0.0, 0.25], 10)
    repeated_x, repeated_y = np.repeat(x, counts, axis=0), np.repeat(y, counts)
    assert obj.loss(y, x, counts) == pytest.approx(obj.loss(repeated_y, repeated_x), rel=1e-12)
    assert_allclose(obj.init_score(y, counts)[0], obj.init_score(repeated_y)[0], rtol=1e-9)


# --------------------------------------------------------------------------------------------------
# Loss, metrics and probabilities
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["focal-gamma2-alphaNone", "softened-k3-alpha0.3", "focal_star-gamma2-beta1",
                                  "asymmetric-defaults", "asymmetric-gamma_neg0-clip0.2-alpha0.3"])
def test_binary_loss_is_the_weighted_mean_of_the_reference(case, rng):
    make, settings, prefix = _binary_case(*BINARY_CASES[case])
    x, t, weight = labelled_grid(soft=True)
    obj = make("floored")
    per_row = getattr(reference, prefix)(x, t, weight=weight, **settings)
    assert obj.loss(t, x, weight) == pytest.approx(per_row.sum() / weight.sum(), rel=1e-12)
    assert obj.loss(t, x) == pytest.approx(getattr(reference, prefix)(x, t, reduction="mean", **settings), rel=1e-12)


def test_softmax_loss_is_the_weighted_mean_of_the_reference(rng):
    x, y, weight = rng.normal(0, 4, (50, 3)), rng.integers(0, 3, 50), rng.uniform(0, 2, 50)
    obj = SoftmaxFocalObjective(alpha=[0.2, 1.0, 2.5], gamma=1.5)
    per_row = reference.softmax_focal_loss(x, y, alpha=[0.2, 1.0, 2.5], gamma=1.5, weight=weight)
    assert obj.loss(y, x, weight) == pytest.approx(per_row.sum() / weight.sum(), rel=1e-12)


class _EngineData:
    """The two methods the objectives read from a lightgbm.Dataset or an xgboost.DMatrix."""

    def __init__(self, label, weight):
        self.label, self.weight = label, weight

    def get_label(self):
        return self.label

    def get_weight(self):
        return self.weight


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "softmax"])
def test_engine_adapters_and_metrics_follow_each_engines_convention(binary, rng):
    if binary:
        obj, name, x = BinaryFocalObjective(), "focal_loss", rng.normal(0, 2, 20)
        y = rng.integers(0, 2, 20).astype(np.float32)
    else:
        obj, name, x = SoftmaxFocalObjective(alpha=[1.0, 2.0, 0.5]), "softmax_focal_loss", rng.normal(0, 2, (20, 3))
        y = rng.integers(0, 3, 20).astype(np.float32)
    weight = rng.uniform(0, 2, 20).astype(np.float32)
    expected = obj.loss(y, x, weight)
    assert obj.lightgbm_metric(x, _EngineData(y, weight)) == (name, expected, False)
    assert obj.lightgbm_sklearn_metric(y, x, weight) == (name, expected, False)
    assert obj.xgboost_metric(x, _EngineData(y, weight)) == (name, expected)
    # LightGBM reports "no weights" as None, XGBoost as an empty array
    lightgbm_unweighted, xgboost_unweighted = _EngineData(y, None), _EngineData(y, np.empty(0, np.float32))
    assert obj.lightgbm_metric(x, lightgbm_unweighted)[1] == obj.loss(y, x)
    assert obj.xgboost_metric(x, xgboost_unweighted)[1] == obj.loss(y, x)
    adapters = ((obj.lightgbm_objective, lightgbm_unweighted), (obj.xgboost_objective, xgboost_unweighted))
    for adapter, unweighted in adapters:
        assert_allclose(adapter(x, _EngineData(y, weight)), obj(y, x, weight), rtol=0, atol=0)
        assert_allclose(adapter(x, unweighted), obj(y, x), rtol=0, atol=0)


def test_predict_proba_is_sigmoid_and_softmax_without_overflow():
    x = np.array([-800.0, -30.0, 0.0, 1.5, 30.0, 800.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        p = BinaryFocalObjective().predict_proba(x)
        expected = [0.0, 1.0 / (1.0 + np.exp(30.0)), 0.5, 1.0 / (1.0 + np.exp(-1.5)), 1.0 / (1.0 + np.exp(-30.0)), 1.0]
        assert_allclose(p, expected, rtol=1e-14)
        scores = np.stack([x, -x, np.zeros_like(x)], axis=1)
        probs = SoftmaxFocalObjective().predict_proba(scores)
    assert BinaryFocalObjective().predict_proba(1.5).shape == ()
    assert_allclose(BinaryFocalObjective().predict_proba(x.reshape(2, 3)), p.reshape(2, 3), rtol=0)
    assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-15)
    assert_allclose(probs, np.exp(scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)), rtol=1e-14)


# --------------------------------------------------------------------------------------------------
# Start score
# --------------------------------------------------------------------------------------------------
INIT_CASES = [
    *[("focal", {"gamma": g, "alpha": a}) for g in (0.0, 0.5, 2.0, 5.0, 10.0) for a in (None, 0.25)],
    ("softened", {"k": 1.0}), ("softened", {"k": 4.0, "alpha": 0.75}),
    ("focal_star", {"gamma": 2.0, "beta": 1.0}), ("focal_star", {"gamma": 0.01, "beta": 0.0}),
    ("poly1", {"gamma": 2.0, "alpha": 0.25, "epsilon": 1.0}), ("poly1", {"gamma": 0.5, "alpha": None, "epsilon": -1.0}),
    ("poly1", {"gamma": 2.0, "alpha": 1.0, "epsilon": 2.0}),  # the negatives' side is the polynomial term alone
    ("asymmetric", {}), ("asymmetric", {"gamma_pos": 2.0, "gamma_neg": 1.0, "clip": 0.2, "alpha": 0.7}),
    ("asymmetric", {"gamma_pos": 0.5, "gamma_neg": 8.0, "clip": 0.0}),
    ("asymmetric", {"gamma_pos": 4.0, "gamma_neg": 2.0, "clip": 0.9}),  # the margin above 1/2
]


@pytest.mark.parametrize("positives", [0.01, 0.3, 0.97])
@pytest.mark.parametrize("case", INIT_CASES, ids=str)
def test_binary_init_score_minimises_the_loss_of_a_constant(case, positives, rng):
    make, settings, prefix = _binary_case(*case)
    y = (rng.random(2000) < positives).astype(np.float64)
    y[:2] = [0.0, 1.0]
    weight = rng.uniform(0.5, 2.0, y.size)
    init = make("floored").init_score(y, weight)
    assert init.shape == y.shape and np.all(init == init[0])
    # for a constant score the rows of a label are interchangeable: one row per label, weighted by its mass
    labels, masses = np.array([1.0, 0.0]), np.array([np.dot(y, weight), np.dot(1.0 - y, weight)])
    grid = init[0] + np.linspace(-3.0, 3.0, 601) * max(1.0, abs(init[0]))
    constants = np.repeat(np.append(grid, init[0])[:, None], 2, axis=1)
    total = getattr(reference, prefix)(constants, labels, weight=masses, **settings).sum(axis=1)
    assert total[-1] <= total[:-1].min() * (1 + 1e-12)
    slopes = getattr(reference, prefix + "_grad")(init[:2], labels, weight=masses, **settings)
    assert abs(slopes.sum()) <= 1e-9 * np.abs(slopes).sum()


def test_binary_init_score_at_gamma0_is_the_log_odds_and_focal_sits_nearer_one_half(rng):
    y = (rng.random(5000) < 0.015).astype(np.float64)
    weight = rng.uniform(0.5, 2.0, y.size)
    prior = np.dot(y, weight) / weight.sum()
    log_odds = np.log(prior / (1.0 - prior))
    assert BinaryFocalObjective(alpha=None, gamma=0.0).init_score(y, weight)[0] == pytest.approx(log_odds, rel=1e-12)
    focal = BinaryFocalObjective(alpha=None, gamma=2.0).init_score(y, weight)[0]
    assert log_odds < focal < 0.0


def test_logit_prior_start_makes_the_exact_root_hessian_negative_and_init_score_does_not(rng):
    """The documented reason to start at init_score: at logit(prior) the rare positives all sit
    below p_t = 0.058, and their negative exact hessians outweigh the easy negatives'."""
    y = (rng.random(10_000) < 0.01).astype(np.float64)
    prior = y.mean()
    exact = BinaryFocalObjective(hessian="exact")
    assert exact(y, np.full(y.size, np.log(prior / (1.0 - prior))))[1].sum() < 0
    assert exact(y, exact.init_score(y))[1].sum() > 0


@pytest.mark.parametrize("alpha", [None, [0.25, 1.0, 4.0, 1.0]])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 10.0])
def test_softmax_init_score_zeroes_the_gradient_of_the_loss_of_a_constant(gamma, alpha, rng):
    y = rng.choice(4, 3000, p=[0.9, 0.07, 0.02, 0.01])
    weight = rng.uniform(0.5, 2.0, y.size)
    obj = SoftmaxFocalObjective(alpha=alpha, gamma=gamma)
    init = obj.init_score(y, weight)
    assert init.shape == (y.size, 4) and np.all(init == init[0])
    settings = {"alpha": alpha, "gamma": gamma, "weight": weight}
    slope = reference.softmax_focal_loss_grad(init, y, **settings).sum(axis=0)
    scale = np.abs(reference.softmax_focal_loss_grad(init, y, **settings)).sum(axis=0)
    assert np.all(np.abs(slope) <= 1e-9 * scale)
    total = reference.softmax_focal_loss(init, y, reduction="sum", **settings)
    for direction in np.eye(4):
        for step in (-1e-3, 1e-3):
            assert total <= reference.softmax_focal_loss(init + step * direction, y, reduction="sum", **settings)


def test_softmax_init_score_at_gamma0_is_the_log_class_frequencies(rng):
    y = rng.choice(3, 1000, p=[0.7, 0.2, 0.1])
    log_p = SoftmaxFocalObjective(gamma=0.0).init_score(y)[0]
    assert_allclose(log_p, np.log(np.bincount(y) / y.size), rtol=1e-10)


def test_two_class_softmax_init_score_is_the_binary_one(rng):
    y = (rng.random(500) < 0.05).astype(np.float64)
    y[0] = 1.0
    scores = SoftmaxFocalObjective(gamma=2.0).init_score(y)[0]
    assert scores[1] - scores[0] == pytest.approx(BinaryFocalObjective(alpha=None).init_score(y)[0], rel=1e-9)


# --------------------------------------------------------------------------------------------------
# Arguments: errors name the argument, what is allowed and what came
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: BinaryFocalObjective(alpha=1.5), ValueError, r"alpha must be None or a float in \[0, 1\]; got 1.5"),
    (lambda: BinaryFocalObjective(alpha=True), TypeError, r"alpha .*finite real number; got True"),
    (lambda: BinaryFocalObjective(alpha=-1), ValueError, r"alpha must be None or a float in \[0, 1\]; got -1.0"),
    (lambda: BinaryFocalObjective(gamma=-0.5), ValueError, r"gamma must be >= 0; got -0.5"),
    (lambda: BinaryFocalObjective(gamma=float("nan")), TypeError, r"gamma must be a finite real number; got nan"),
    (lambda: BinaryFocalObjective(gamma="2"), TypeError, r"gamma must be a finite real number; got '2'"),
    (lambda: BinaryFocalObjective(hessian="fisher"), ValueError,
     r"hessian must be one of 'floored', 'reweighted', 'exact'; got 'fisher'"),
    (lambda: BinaryFocalObjective(hessian=None), ValueError, r"hessian must be one of .*; got None"),
    (lambda: BinarySoftenedObjective(k=-1.0), ValueError, r"k must be >= 0; got -1.0"),
    (lambda: BinaryFocalStarObjective(gamma=0.0), ValueError, r"gamma must be > 0; got 0.0"),
    (lambda: BinaryFocalStarObjective(beta=float("inf")), TypeError, r"beta must be a finite real number; got inf"),
    (lambda: SoftmaxFocalObjective(alpha=[1.0, -1.0]), ValueError, r"alpha must hold finite weights >= 0"),
    (lambda: SoftmaxFocalObjective(alpha=[[1.0, 2.0]]), TypeError, r"alpha must be None, a float >= 0, or a sequence"),
    (lambda: SoftmaxFocalObjective(alpha=-2.0), ValueError, r"alpha must be >= 0; got -2.0"),
    (lambda: BinaryFocalObjective(0.25), TypeError, r"positional"),
    (lambda: BinaryPolyObjective(epsilon=-2.0), ValueError, r"epsilon must be >= -1; got -2.0"),
    (lambda: BinaryPolyObjective(alpha=0.25, epsilon=-0.5), ValueError,
     r"epsilon must be >= -min\(alpha, 1 - alpha\) = -0.25 for alpha=0.25: .*got -0.5"),
    (lambda: BinaryPolyObjective(alpha=None, gamma=-1.0), ValueError, r"gamma must be >= 0; got -1.0"),
    (lambda: BinaryPolyObjective(hessian="fisher"), ValueError, r"hessian must be one of 'floored', 'reweighted'"),
    (lambda: BinaryAsymmetricObjective(gamma_pos=-1.0), ValueError, r"gamma_pos must be >= 0; got -1.0"),
    (lambda: BinaryAsymmetricObjective(gamma_neg=-0.5), ValueError, r"gamma_neg must be >= 0; got -0.5"),
    (lambda: BinaryAsymmetricObjective(gamma_neg=float("inf")), TypeError,
     r"gamma_neg must be a finite real number; got inf"),
    (lambda: BinaryAsymmetricObjective(clip=1.0), ValueError, r"clip must lie in \[0, 1\); got 1.0"),
    (lambda: BinaryAsymmetricObjective(clip=-0.05), ValueError, r"clip must lie in \[0, 1\); got -0.05"),
    (lambda: BinaryAsymmetricObjective(alpha=2.0), ValueError, r"alpha must be None or a float in \[0, 1\]; got 2.0"),
    (lambda: BinaryAsymmetricObjective(hessian="fisher"), ValueError,
     r"hessian must be one of 'floored', 'reweighted', 'exact'; got 'fisher'"),
    (lambda: BinaryAsymmetricObjective(gamma_neg=0.5), ValueError,
     r"hessian='floored' needs gamma_neg = 0 or gamma_neg >= 1 when clip > 0: .*without bound.*"
     r"use hessian='reweighted'.*got gamma_neg=0.5, clip=0.05"),
    (lambda: BinaryAsymmetricObjective(gamma_neg=0.99, clip=0.3, hessian="exact"), ValueError,
     r"hessian='exact' needs gamma_neg = 0 or gamma_neg >= 1 when clip > 0: .*got gamma_neg=0.99, clip=0.3"),
    (lambda: BinaryAsymmetricObjective(1.0, 4.0), TypeError, r"positional"),
])
def test_bad_hyperparameters_are_refused_at_construction(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(("call", "message"), [
    (lambda o: o(np.zeros(3), np.zeros((3, 2))), r"y_pred must be a 1-D array of raw scores.*got shape \(3, 2\)"),
    (lambda o: o(np.zeros(4), np.zeros(3)), r"y_true must be a 1-D array of 3 values \(one per row\); got shape \(4,"),
    (lambda o: o(np.array([0.0, 2.0]), np.zeros(2)), r"y_true must hold labels in \[0, 1\].*from 0.0 to 2.0"),
    (lambda o: o(np.array([0.0, np.nan]), np.zeros(2)), r"y_true must hold labels in \[0, 1\]"),
    (lambda o: o(np.ones(2), np.zeros(2), np.array([1.0, -1.0])), r"sample_weight must hold finite weights >= 0"),
    (lambda o: o(np.ones(2), np.zeros(2), np.ones(3)), r"sample_weight must be a 1-D array of 2 values"),
    (lambda o: o.loss(np.ones(2), np.zeros(2), np.zeros(2)), r"sample_weight sums to more than 0; got 2 rows"),
    (lambda o: o.init_score(np.zeros(5)), r"init_score needs weight on both labels.*positive-label weight 0.0"),
    (lambda o: o.init_score(np.ones((2, 2))), r"y must be a 1-D array of values; got shape \(2, 2\)"),
])
def test_bad_binary_inputs_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call(BinaryFocalObjective())


@pytest.mark.parametrize(("call", "message"), [
    (lambda o: o(np.zeros(3), np.zeros(3)), r"y_pred must be a 2-D array.*got shape \(3,\)"),
    (lambda o: o(np.zeros(3), np.zeros((3, 1))), r"at least 2.*got shape \(3, 1\)"),
    (lambda o: o(np.array([0.0, 3.0]), np.zeros((2, 3))), r"y_true must hold class indices, whole numbers 0 .. 2"),
    (lambda o: o(np.array([0.0, 0.5]), np.zeros((2, 3))), r"y_true must hold class indices"),
    (lambda o: o.init_score(np.array([0, 0, 2])), r"init_score needs weight on every class.*classes \[1\] have none"),
    (lambda o: o.init_score(np.array([0, 1]), num_classes=1), r"num_classes must be None or an integer >= 2; got 1"),
])
def test_bad_softmax_inputs_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call(SoftmaxFocalObjective())


def test_per_class_alpha_must_match_the_number_of_score_columns():
    with pytest.raises(ValueError, match=r"alpha holds 3 class weights but y_pred has 4 classes"):
        SoftmaxFocalObjective(alpha=[1.0, 2.0, 3.0])(np.zeros(2), np.zeros((2, 4)))


def test_importing_boosting_imports_neither_torch_nor_the_engines():
    code = "import sys, focalloss.boosting; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = set(result.stdout.split())
    assert "focalloss.boosting" in loaded
    assert not loaded & {"torch", "lightgbm", "xgboost", "sklearn", "scipy"}


# --------------------------------------------------------------------------------------------------
# The reference's curvature choices, which the objectives are held to above
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix, settings", [
    ("sigmoid_focal_loss", {"gamma": 2.0, "alpha": 0.25}),
    ("sigmoid_softened_loss", {"k": 1.0, "alpha": None}),
    ("sigmoid_poly1_focal_loss", {"gamma": 2.0, "alpha": 0.25, "epsilon": 1.0}),
    ("sigmoid_asymmetric_loss", {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05, "alpha": None}),
    ("sigmoid_asymmetric_loss", {"gamma_pos": 0.5, "gamma_neg": 1.0, "clip": 0.3, "alpha": 0.4}),
])
def test_reference_floored_hessian_is_the_larger_choice_per_label(prefix, settings):
    x = np.linspace(-20.0, 20.0, 161)
    for label in (0.0, 1.0):
        t = np.full_like(x, label)
        exact = getattr(reference, prefix + "_hess")(x, t, **settings)
        reweighted = getattr(reference, prefix + "_reweighted_hess")(x, t, **settings)
        assert (exact < 0).any() and (reweighted >= 0).all()
        assert_allclose(getattr(reference, prefix + "_floored_hess")(x, t, **settings), np.maximum(exact, reweighted),
                        **FLOAT64)
        alpha = settings["alpha"]
        alpha_t = 1.0 if alpha is None else alpha if label else 1.0 - alpha
        floored = getattr(reference, prefix + "_floored_hess")(x, t, floor=1e-3, **settings)
        assert_allclose(floored, np.maximum(np.maximum(exact, reweighted), 1e-3 * alpha_t), **FLOAT64)


def test_reference_softmax_floored_hessian_is_the_larger_choice():
    x = np.random.default_rng(3).normal(0.0, 6.0, (40, 4))
    y = np.arange(40) % 4
    exact = reference.softmax_focal_loss_hess_diag(x, y, gamma=2.0)
    reweighted = reference.softmax_focal_loss_reweighted_hess_diag(x, y, gamma=2.0)
    assert (exact < 0).any()
    assert_allclose(reference.softmax_focal_loss_floored_hess_diag(x, y, gamma=2.0), np.maximum(exact, reweighted),
                    **FLOAT64)


def test_poly1_at_epsilon0_is_the_focal_objective():
    x, t, weight = labelled_grid(soft=True)
    for hessian in HESSIANS:
        poly = BinaryPolyObjective(alpha=0.25, gamma=2.0, epsilon=0.0, hessian=hessian)
        focal = BinaryFocalObjective(alpha=0.25, gamma=2.0, hessian=hessian)
        for got, expected in zip(poly(t, x, weight), focal(t, x, weight)):
            assert_allclose(got, expected, **FLOAT64)
    y = (x > 0).astype(np.float64)
    assert poly.init_score(y, weight)[0] == pytest.approx(focal.init_score(y, weight)[0], rel=1e-12)
    assert poly.loss(t, x, weight) == pytest.approx(focal.loss(t, x, weight), rel=1e-12)


def test_poly1_reweighted_hessian_is_the_gradient_times_p_t_and_the_exact_one_goes_negative():
    """The derivation the objective rests on: per side, reweighted = -A' p_t >= 0 (epsilon >= -a), and
    the exact hessian is negative for badly wrong rows, where the floored choice takes the reweighted one."""
    x = np.linspace(-20.0, 20.0, 161)
    for poly1 in ({"gamma": 2.0, "alpha": 0.25, "epsilon": 1.0}, {"gamma": 1.0, "alpha": None, "epsilon": -1.0}):
        for label in (0.0, 1.0):
            t = np.full_like(x, label)
            sign = 2.0 * label - 1.0
            grad = reference.sigmoid_poly1_focal_loss_grad(x, t, **poly1)
            p_t = 1.0 / (1.0 + np.exp(-sign * x))
            reweighted = reference.sigmoid_poly1_focal_loss_reweighted_hess(x, t, **poly1)
            assert_allclose(reweighted, -sign * grad * p_t, rtol=1e-12, atol=1e-300)
            assert (reweighted >= 0).all()
            exact = reference.sigmoid_poly1_focal_loss_hess(x, t, **poly1)
            assert (exact[sign * x < -5] < 0).all()


def test_flsd53_has_no_start_score_on_a_rare_positive_set():
    """Why there is no adaptive-focal objective (docs/boosting.md): the loss of a constant falls towards the cut
    p = 0.2 and jumps up there, so on a 1%-positive set its infimum is the limit from below, not attained."""
    masses, labels = np.array([0.01, 0.99]), np.array([1.0, 0.0])
    cut = np.log(0.2) - np.log(0.8)
    below = cut - np.geomspace(1.0, 1e-9, 400)  # approaching the cut from below
    constants = np.concatenate([np.linspace(-8.0, 8.0, 4001), below, [cut]])
    total = reference.sigmoid_adaptive_focal_loss(np.repeat(constants[:, None], 2, axis=1), labels,
                                                  weight=masses).sum(axis=1)
    assert np.all(np.diff(total[4001:4401]) < 0)  # still falling right below the cut
    assert total[:-1].argmin() == 4400 and total[-1] > 1.4 * total[4400]  # the jump at the cut: +42%
    assert total[4400] == pytest.approx(0.00704, abs=1e-5) and total[-1] == pytest.approx(0.01001, abs=1e-5)


# --------------------------------------------------------------------------------------------------
# The asymmetric loss (ASL): its margin, the bounds of its curvature choices, focal loss as a special case
# --------------------------------------------------------------------------------------------------
def _logit(p):
    return np.log(p) - np.log1p(-p)


# (settings, the hessian choices it takes): for 0 < gamma_neg < 1 with clip > 0 only "reweighted"
ASL_SETTINGS = [
    ({}, HESSIANS),
    ({"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.05}, HESSIANS),
    ({"gamma_pos": 2.0, "gamma_neg": 1.0, "clip": 0.5, "alpha": 0.3}, HESSIANS),
    ({"gamma_pos": 0.5, "gamma_neg": 0.3, "clip": 0.2}, ("reweighted",)),
    ({"gamma_pos": 1.0, "gamma_neg": 10.0, "clip": 0.99}, HESSIANS),
]


def _near_the_margin(clip):
    """Scores on both sides of logit(clip): from one unit in the last place to 1 away."""
    cut = _logit(clip)
    offsets = np.array([1e-12, 1e-8, 1e-4, 1e-2, 1.0])
    return np.concatenate([[cut, np.nextafter(cut, np.inf), np.nextafter(cut, -np.inf)], cut + offsets, cut - offsets])


@pytest.mark.parametrize(("settings", "hessians"), ASL_SETTINGS, ids=str)
def test_asymmetric_objective_matches_the_reference_at_its_margin(settings, hessians):
    x = _near_the_margin(settings.get("clip", 0.05))
    for label in (0.0, 1.0, 0.3):
        t = np.full_like(x, label)
        for hessian in hessians:
            grad, hess = BinaryAsymmetricObjective(hessian=hessian, **settings)(t, x)
            assert_allclose(grad, reference.sigmoid_asymmetric_loss_grad(x, t, **settings), **FLOAT64)
            assert_allclose(hess, expected_hessian("sigmoid_asymmetric_loss", hessian, x, t, **settings), **FLOAT64)


@pytest.mark.parametrize(("settings", "hessians"), ASL_SETTINGS, ids=str)
def test_asymmetric_negatives_at_or_below_the_margin_have_no_loss_gradient_or_curvature(settings, hessians, rng):
    clip = settings.get("clip", 0.05)
    x = np.concatenate([[_logit(clip)], _logit(clip) - np.geomspace(1e-12, 1e4, 40)])  # p = clip, then below
    y, weight = np.zeros_like(x), rng.uniform(0.5, 2.0, x.size)
    alpha_neg = 1.0 - settings.get("alpha", 0.0)  # alpha None: 1
    assert reference.sigmoid_asymmetric_loss_reweighted_hess(x, y, **settings).max() == 0.0
    for hessian in hessians:
        obj = BinaryAsymmetricObjective(hessian=hessian, **settings)
        grad, hess = obj(y, x, weight)
        assert np.all(grad == 0.0)
        # the positive choices' float32 floor, per unit of weight; 0 for the exact one
        assert_allclose(hess, 0.0 if hessian == "exact" else CURVATURE_FLOOR * weight * alpha_neg, rtol=1e-15, atol=0.0)
        assert obj.loss(y, x, weight) == 0.0


@settings(max_examples=80, deadline=None)
@given(x=st.lists(st.one_of(st.floats(-1e4, 1e4), st.sampled_from([-2.944439, -1.386294, 0.0, 2.197225])),
                  min_size=1, max_size=20),
       data=st.data(), gamma_pos=st.floats(0.0, 10.0), gamma_neg=st.floats(0.0, 10.0),
       clip=st.one_of(st.just(0.0), st.floats(1e-6, 0.99)), hessian=st.sampled_from(HESSIANS))
def test_asymmetric_finite_for_scores_up_to_1e4_and_reweighted_within_its_bound(x, data, gamma_pos, gamma_neg,
                                                                                 clip, hessian):
    """Finite on [-1e4, 1e4] for every choice the objective takes; the positive choices > 0; the
    reweighted one at most (gamma + 1) / 4 per unit of weight on each side (its proof: docs/boosting.md)."""
    x = np.asarray(x)
    t = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, 0.01]), min_size=x.size, max_size=x.size)))
    weight = np.asarray(data.draw(st.lists(st.floats(1e-3, 1e3), min_size=x.size, max_size=x.size)))
    if clip > 0 and 0 < gamma_neg < 1:
        hessian = "reweighted"  # the only one it takes there (tested below)
    asl = {"gamma_pos": gamma_pos, "gamma_neg": gamma_neg, "clip": clip}
    grad, hess = BinaryAsymmetricObjective(hessian=hessian, **asl)(t, x, weight)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
    if hessian != "exact":
        assert np.all(hess > 0)
    reweighted = reference.sigmoid_asymmetric_loss_reweighted_hess(x, t, weight=weight, **asl)
    assert np.all(reweighted >= 0.0)
    bound = weight * (t * (gamma_pos + 1.0) + (1.0 - t) * (gamma_neg + 1.0)) / 4.0
    assert np.all(reweighted <= bound * (1.0 + 1e-12))


@pytest.mark.parametrize("gamma_neg", [0.1, 0.5, 0.9])
def test_asymmetric_exact_curvature_grows_without_bound_at_the_margin_below_gamma_neg_1(gamma_neg):
    """Why "exact" and "floored" refuse 0 < gamma_neg < 1 with clip > 0: near the margin the negatives'
    N ~ (m (1 - m) delta)^(gamma_neg + 1), so N'' ~ gamma (gamma + 1) (m (1 - m))^(gamma + 1) delta^(gamma - 1),
    delta = x - logit(m); the reweighted curvature there falls (like delta^gamma_neg) to 0."""
    clip, delta = 0.05, np.array([1e-6, 1e-8, 1e-10])
    x, t = _logit(clip) + delta, np.zeros(3)
    asl = {"gamma_pos": 1.0, "gamma_neg": gamma_neg, "clip": clip}
    exact = reference.sigmoid_asymmetric_loss_hess(x, t, **asl)
    growth = gamma_neg * (gamma_neg + 1.0) * (clip * (1.0 - clip)) ** (gamma_neg + 1.0) * delta ** (gamma_neg - 1.0)
    assert_allclose(exact, growth, rtol=1e-3)
    assert np.all(np.diff(exact) > 0)
    reweighted = BinaryAsymmetricObjective(hessian="reweighted", **asl)(t, x)[1]
    assert np.all(np.diff(reweighted) < 0) and reweighted[0] < 0.01
    at_gamma_neg_1 = reference.sigmoid_asymmetric_loss_hess(x, t, **{**asl, "gamma_neg": 1.0})
    assert np.ptp(at_gamma_neg_1) < 1e-5 * at_gamma_neg_1[0]  # a finite limit instead: 2 (m (1 - m))^2


def test_asymmetric_exact_hessian_is_negative_exactly_where_the_docs_say():
    """At the defaults the exact hessian is negative for positives below p = 0.043 and negatives above
    p = 0.900 (reference.sigmoid_asymmetric_loss_floored_hess); the default choice stays positive."""
    p = np.array([0.01, 0.04, 0.042, 0.044, 0.05, 0.5, 0.85, 0.899, 0.901, 0.95, 0.999])
    x = _logit(p)
    for label, negative_where in ((1.0, p < 0.0432), (0.0, p > 0.9001)):
        y = np.full_like(x, label)
        assert np.array_equal(BinaryAsymmetricObjective(hessian="exact")(y, x)[1] < 0, negative_where)
        assert np.all(BinaryAsymmetricObjective()(y, x)[1] > 0)


@pytest.mark.parametrize(("settings", "hessians"), ASL_SETTINGS, ids=str)
def test_asymmetric_derivatives_agree_with_finite_differences_of_the_reference(settings, hessians):
    cut = _logit(settings.get("clip", 0.05))
    x = np.linspace(-30.0, 30.0, 241)
    x = x[np.abs(x - cut) > 1e-3]  # the gradient has a kink at the margin for gamma_neg = 0
    for label in (0.0, 1.0):
        t = np.full_like(x, label)
        loss = lambda z: reference.sigmoid_asymmetric_loss(z, t, **settings)  # noqa: E731
        loss_grad = lambda z: reference.sigmoid_asymmetric_loss_grad(z, t, **settings)  # noqa: E731
        grad, hess = BinaryAsymmetricObjective(hessian=hessians[-1], **settings)(t, x)
        _assert_fd_close(grad, (loss(x + H) - loss(x - H)) / (2 * H), loss(x))
        if hessians[-1] == "exact":
            _assert_fd_close(hess, (loss_grad(x + H) - loss_grad(x - H)) / (2 * H), grad)


@pytest.mark.parametrize("hessian", HESSIANS)
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_asymmetric_with_one_gamma_and_no_margin_is_the_focal_objective(gamma, alpha, hessian):
    x, t, weight = labelled_grid(soft=True)
    asl = BinaryAsymmetricObjective(gamma_pos=gamma, gamma_neg=gamma, clip=0.0, alpha=alpha, hessian=hessian)
    focal = BinaryFocalObjective(alpha=alpha, gamma=gamma, hessian=hessian)
    for labels in (t, (x > 0).astype(np.float64)):  # soft labels, then hard ones (one side per row)
        for got, expected in zip(asl(labels, x, weight), focal(labels, x, weight)):
            assert_allclose(got, expected, **FLOAT64)
        assert asl.loss(labels, x, weight) == pytest.approx(focal.loss(labels, x, weight), rel=1e-12)
    y = (x > 0).astype(np.float64)
    assert asl.init_score(y, weight)[0] == pytest.approx(focal.init_score(y, weight)[0], rel=1e-12)


def test_asymmetric_init_score_sits_at_the_margin_when_gamma_neg_is_0_and_positives_are_rare(rng):
    """At gamma_neg = 0 the negatives' slope jumps from 0 to m (1 - m) at the margin; when that jump
    outweighs the positives' slope (here 1% positives) the loss of a constant is least at the margin."""
    asl = {"gamma_pos": 1.0, "gamma_neg": 0.0, "clip": 0.05}
    y = (rng.random(3000) < 0.01).astype(np.float64)
    y[0] = 1.0
    init = BinaryAsymmetricObjective(**asl).init_score(y)[0]
    assert init == pytest.approx(_logit(0.05), rel=1e-12)
    labels, masses = np.array([1.0, 0.0]), np.array([y.sum(), (1.0 - y).sum()])
    grid = np.append(init + np.linspace(-3.0, 3.0, 6001), init)
    total = reference.sigmoid_asymmetric_loss(np.repeat(grid[:, None], 2, axis=1), labels, weight=masses,
                                              **asl).sum(axis=1)
    assert total[-1] <= total[:-1].min() * (1 + 1e-12)


def test_asymmetric_init_score_refuses_a_loss_of_a_constant_without_a_minimum():
    """With gamma_pos = 0 and clip > 0 the negatives' loss is at most -(1 - m)^gamma_neg log m and the
    positives' falls to 0: past C = (1 - m)^gamma_neg (gamma_neg (-log m) / (1 - m) + 1 / m) positives per
    negative (26.6 at m = 0.05, gamma_neg = 4) the loss of a constant falls for ever."""
    obj = BinaryAsymmetricObjective(gamma_pos=0.0, gamma_neg=4.0, clip=0.05)
    ratio = 0.95**4 * (4.0 * -np.log(0.05) / 0.95 + 20.0)
    assert ratio == pytest.approx(26.6, abs=0.05)
    below = np.concatenate([np.ones(26), np.zeros(1)])
    labels, masses = np.array([1.0, 0.0]), np.array([26.0, 1.0])
    slope = reference.sigmoid_asymmetric_loss_grad(obj.init_score(below)[:2], labels, weight=masses, gamma_pos=0.0,
                                                   gamma_neg=4.0, clip=0.05)
    assert abs(slope.sum()) <= 1e-9 * np.abs(slope).sum()
    with pytest.raises(ValueError, match=r"init_score: the loss of a constant score has no minimum here, it still "
                                         r"falls at the score 700.0 .*gamma_pos=0.0, clip=0.05.*positive-label weight "
                                         r"27.0 and negative-label weight 1.0"):
        obj.init_score(np.concatenate([np.ones(27), np.zeros(1)]))


@pytest.mark.parametrize("gamma_pos", [0.0, 0.5, 1.0, 4.0])
@pytest.mark.parametrize("gamma_neg", [0.0, 0.5, 1.0, 4.0, 8.0])
@pytest.mark.parametrize("clip", [0.0, 0.05, 0.5, 0.9])
def test_asymmetric_loss_of_a_constant_has_one_stationary_point(gamma_pos, gamma_neg, clip):
    """What init_score's bisection rests on: the slope of the loss of a constant c, w- N'(c) - w+ P(c)
    (P = -A+' > 0), has the sign of N'(c) / P(c) - w+ / w-, and that ratio never falls: one root at most."""
    c = np.linspace(-30.0, 60.0, 9001)
    asl = {"gamma_pos": gamma_pos, "gamma_neg": gamma_neg, "clip": clip}
    positives = -reference.sigmoid_asymmetric_loss_grad(c, np.ones_like(c), **asl)
    negatives = reference.sigmoid_asymmetric_loss_grad(c, np.zeros_like(c), **asl)
    counted = (positives > 1e-300) & (negatives > 0)
    log_ratio = np.log(negatives[counted]) - np.log(positives[counted])
    assert counted.sum() > 1000 and np.all(np.diff(log_ratio) >= -1e-9)
