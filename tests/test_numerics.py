"""Numerical safety and identities: saturation, low precision, ignored inf/NaN, cross-entropy limits."""

from __future__ import annotations

import math

import loss_table
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_matches_reference, numpy64, tolerance

import focalloss

# every check runs on the plain torch backend and on the fused CPU kernels
pytestmark = pytest.mark.usefixtures("each_backend")
from focalloss import reference

EXTREME_LOGITS = [-1e4, -1e3, -100.0, -40.0, -17.0, -1.0, 0.0, 1e-7, 1.0, 17.0, 40.0, 100.0, 1e3, 1e4]
# strengths of each loss's sweep (loss_table): gamma itself where the loss has one
GAMMAS = [0.0, 0.1, 0.5, 0.99, 1.0, 2.0, 5.0, 10.0]


def _grid():
    """Every extreme logit against targets 0, 1 and 0.3."""
    logits = torch.tensor(EXTREME_LOGITS, dtype=torch.float64)
    x = logits.repeat(3)
    t = torch.tensor([0.0, 1.0, 0.3], dtype=torch.float64).repeat_interleave(len(EXTREME_LOGITS))
    return x, t


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("loss", loss_table.BINARY, ids=str)
def test_binary_extreme_logits_finite_and_accurate(loss, gamma, dtype):
    x, t = _grid()
    x = x.to(dtype).requires_grad_(True)
    settings = loss.sweep(gamma)
    out = loss.function(x, t, reduction="none", **settings)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    expected = loss.reference(numpy64(x), numpy64(t), **settings)
    expected_grad = loss.reference_grad(numpy64(x), numpy64(t), **settings)
    assert_matches_reference(out, expected, dtype)
    assert_matches_reference(grad, expected_grad, dtype)


@pytest.mark.parametrize("gamma", [0.0, 0.25, 0.5, 2.0])
@pytest.mark.parametrize("loss", loss_table.BINARY, ids=str)
def test_binary_second_derivative_finite_at_saturation(loss, gamma):
    """Double backward (what a Hessian-vector product needs) matches the reference hessian."""
    x, t = _grid()
    x.requires_grad_(True)
    t = t.round()  # the reference hessian is for the unreduced loss; any t works, hard t keeps it simple
    settings = loss.sweep(gamma)
    out = loss.function(x, t, reduction="sum", backend="torch", **settings)
    (grad,) = torch.autograd.grad(out, x, create_graph=True)
    (hess,) = torch.autograd.grad(grad.sum(), x)
    assert torch.isfinite(hess).all()
    expected = loss.reference_hess(numpy64(x), numpy64(t), **settings)
    assert_matches_reference(hess, expected, torch.float64)


def _saturated_rows(dtype):
    """Rows where one class takes all the mass (p rounds to 1), ties, and ordinary rows."""
    rows = [
        [1e4, -1e4, 0.0, 5.0],
        [-1e4, 1e4, 1e4, -1e4],
        [100.0, -100.0, 0.0, 0.0],
        [40.0, 0.0, 0.0, 0.0],
        [17.0, 0.0, -3.0, 1.0],
        [0.0, 0.0, 0.0, 0.0],
        [1e3, 999.0, -1e3, 0.0],
        [-1e4, -1e4, -1e4, -1e4 + 1.0],
    ]
    return torch.tensor(rows, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("target_class", [0, 1, 2, 3])
def test_softmax_extreme_logits_finite_and_accurate(gamma, dtype, target_class):
    x = _saturated_rows(dtype).requires_grad_(True)
    target = torch.full((x.shape[0],), target_class)
    loss = focalloss.softmax_focal_loss(x, target, gamma=gamma, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    assert_matches_reference(loss, reference.softmax_focal_loss(numpy64(x), target.numpy(), gamma=gamma), dtype)
    assert_matches_reference(
        grad, reference.softmax_focal_loss_grad(numpy64(x), target.numpy(), gamma=gamma), dtype
    )


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_extreme_logits_soft_targets_and_softened(gamma):
    x = _saturated_rows(torch.float32).requires_grad_(True)
    q = torch.softmax(torch.randn(x.shape, generator=torch.Generator().manual_seed(0)), dim=1)
    for loss in (
        focalloss.softmax_focal_loss(x, q, gamma=gamma, label_smoothing=0.1, reduction="sum"),
        focalloss.softmax_softened_loss(x, q, k=gamma + 0.5, reduction="sum"),
    ):
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_softmax_focal_keeps_the_tiny_loss_of_a_confident_row():
    """(1 - p_t) comes from the other classes, not from 1 - p_t: no cancellation, no early zero."""
    x = torch.tensor([[30.0, 0.0, 0.0]], dtype=torch.float64)
    loss = focalloss.softmax_focal_loss(x, torch.tensor([0]), gamma=1.0, reduction="sum")
    one_minus_p = 2 * math.exp(-30.0) / (1 + 2 * math.exp(-30.0))
    expected = one_minus_p * -math.log1p(-one_minus_p)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# Low precision
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_is_computed_in_float32_and_returned_in_its_dtype(dtype):
    big = 6e4 if dtype == torch.float16 else 1e30
    x = torch.tensor([-big, -100.0, -9.39, -1.0, 0.0, 1.0, 9.39, 100.0, big], dtype=dtype, requires_grad=True)
    t = torch.tensor([1.0, 0, 1, 0, 1, 0, 0, 1, 0], dtype=dtype)
    for gamma in (0.0, 0.5, 2.0):
        loss = focalloss.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none")
        (grad,) = torch.autograd.grad(loss.sum(), x)
        assert loss.dtype == dtype and grad.dtype == dtype
        assert torch.isfinite(grad).all()
        # Every loss that fits the dtype is finite; the one hard positive at -big costs ~big.
        in_float32 = focalloss.sigmoid_focal_loss(x.float(), t.float(), gamma=gamma, reduction="none")
        torch.testing.assert_close(loss.float(), in_float32.to(dtype).float(), **tolerance(dtype))
        assert torch.isfinite(loss[1:]).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_softmax_mean_does_not_overflow(dtype):
    """A sum of many per-row losses would overflow float16 (max 65504); it is reduced in float32."""
    x = torch.zeros(40000, 2, dtype=dtype)
    x[:, 0] = 8.0
    target = torch.ones(40000, dtype=torch.long)  # every row wrong: loss ~8 each, sum ~3.2e5
    loss = focalloss.softmax_focal_loss(x, target, gamma=0.0)
    assert loss.dtype == dtype
    assert loss.float().item() == pytest.approx(8.000335, rel=1e-2)


# ------------------------------------------------------------------------------------------------
# Ignored positions holding inf or NaN change nothing
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", loss_table.BINARY, ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_zero_weight_elements_with_inf_and_nan_change_nothing(loss, reduction):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    t = (torch.rand(6, 5, generator=gen) < 0.4).double()
    weight = torch.ones(6, 5, dtype=torch.float64)
    weight[1, 2] = weight[4, 0] = weight[5, 4] = 0.0
    poisoned = x.clone()
    poisoned[1, 2], poisoned[4, 0], poisoned[5, 4] = math.nan, math.inf, -math.inf
    settings = loss.sweep(2.0)
    clean_x = x.clone().requires_grad_(True)
    poisoned.requires_grad_(True)
    clean = loss.function(clean_x, t, weight=weight, reduction=reduction, **settings)
    dirty = loss.function(poisoned, t, weight=weight, reduction=reduction, **settings)
    torch.testing.assert_close(dirty, clean, rtol=0, atol=0)
    (clean_grad,) = torch.autograd.grad(clean.sum(), clean_x)
    (dirty_grad,) = torch.autograd.grad(dirty.sum(), poisoned)
    assert torch.isfinite(dirty_grad).all()
    assert dirty_grad[1, 2] == dirty_grad[4, 0] == dirty_grad[5, 4] == 0.0
    torch.testing.assert_close(dirty_grad, clean_grad, rtol=0, atol=0)
    if reduction == "mean":  # the three removed elements are not in the mean's count
        kept = weight.bool()
        subset = loss.function(x[kept], t[kept], reduction="mean", **settings)
        torch.testing.assert_close(dirty, subset)


@pytest.mark.parametrize("loss", loss_table.SOFTMAX, ids=str)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_ignored_rows_with_inf_and_nan_change_nothing(loss, label_smoothing):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(7, 4, 3, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 4, (7, 3), generator=gen)
    target[2, 1] = target[6, 0] = -100
    x[2, :, 1] = math.nan
    x[6, 0, 0] = math.inf
    x.requires_grad_(True)
    out = loss.function(x, target, label_smoothing=label_smoothing, alpha=[1.0, 2.0, 0.5, 1.5])
    (grad,) = torch.autograd.grad(out, x)
    assert torch.isfinite(out) and torch.isfinite(grad).all()
    assert (grad[2, :, 1] == 0).all() and (grad[6, :, 0] == 0).all()
    kept = target != -100
    rows = x.detach().permute(0, 2, 1)[kept]  # (M, C) of the counted positions only
    expected = loss.function(rows, target[kept], label_smoothing=label_smoothing, alpha=[1.0, 2.0, 0.5, 1.5])
    torch.testing.assert_close(out, expected)


def test_softmax_zero_weight_rows_with_nan_change_nothing():
    x = torch.randn(5, 3, dtype=torch.float64)
    q = torch.softmax(torch.randn(5, 3, dtype=torch.float64), dim=1)
    weight = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    x[1] = math.nan
    q[4] = math.nan
    x.requires_grad_(True)
    out = focalloss.softmax_focal_loss(x, q, weight=weight)
    (grad,) = torch.autograd.grad(out, x)
    assert torch.isfinite(grad).all() and (grad[1] == 0).all() and (grad[4] == 0).all()
    keep = weight != 0
    expected = focalloss.softmax_focal_loss(x.detach()[keep], q[keep], weight=weight[keep])
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_nothing_counts_gives_zero_not_nan(reduction):
    x = torch.full((3, 4), math.nan, requires_grad=True)
    target = torch.full((3,), -100)
    out = focalloss.softmax_focal_loss(x, target, reduction=reduction)
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))
    out = focalloss.sigmoid_focal_loss(x, torch.ones(3, 4), weight=torch.zeros(4), reduction=reduction)
    assert out.item() == 0.0
    out = focalloss.sigmoid_focal_loss(x, torch.zeros(3, 4), weight=torch.zeros(4), normalizer="positives")
    assert out.item() == 0.0


# ------------------------------------------------------------------------------------------------
# Identities
# ------------------------------------------------------------------------------------------------
def _assert_same_value_and_grad(ours, theirs, x, upstream=None):
    torch.testing.assert_close(ours, theirs, **tolerance(x.dtype))
    upstream = torch.ones_like(ours) if upstream is None else upstream
    (g_ours,) = torch.autograd.grad(ours, x, upstream)
    (g_theirs,) = torch.autograd.grad(theirs, x, upstream)
    torch.testing.assert_close(g_ours, g_theirs, **tolerance(x.dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_gamma_zero_alpha_none_is_bce_with_logits(dtype, reduction, soft):
    gen = torch.Generator().manual_seed(7)
    x = (torch.randn(13, 6, generator=gen) * 5).to(dtype).requires_grad_(True)
    t = torch.rand(13, 6, generator=gen).to(dtype)
    t = t if soft else t.round()
    weight = torch.rand(6, generator=gen).to(dtype) + 0.1
    upstream = torch.rand(13, 6, dtype=dtype) if reduction == "none" else None
    for w in (None, weight):
        focal = focalloss.sigmoid_focal_loss(x, t, alpha=None, gamma=0.0, reduction=reduction, weight=w)
        star = focalloss.sigmoid_focal_loss_star(x, t, gamma=1.0, beta=0.0, reduction=reduction, weight=w)
        for ours in (focal, star):
            theirs = F.binary_cross_entropy_with_logits(x, t, reduction=reduction, weight=w)
            _assert_same_value_and_grad(ours, theirs, x, upstream)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("layout", [(19, 5), (3, 5, 4, 2)], ids=["flat", "dense"])
def test_gamma_zero_alpha_none_is_cross_entropy(dtype, reduction, label_smoothing, layout):
    gen = torch.Generator().manual_seed(11)
    x = (torch.randn(layout, generator=gen) * 4).to(dtype).requires_grad_(True)
    target_shape = layout[:1] + layout[2:]
    index = torch.randint(0, 5, target_shape, generator=gen)
    index[torch.rand(target_shape, generator=gen) < 0.3] = 7  # ignored, with a non-default ignore_index
    probabilities = torch.softmax(torch.randn(layout, generator=gen), dim=1).to(dtype)
    upstream = torch.rand(target_shape, dtype=dtype) if reduction == "none" else None
    for target, ignore in ((index, 7), (probabilities, -100)):
        options = {"reduction": reduction, "label_smoothing": label_smoothing, "ignore_index": ignore}
        ours = focalloss.softmax_focal_loss(x, target, alpha=None, gamma=0.0, **options)
        theirs = F.cross_entropy(x, target, **options)
        _assert_same_value_and_grad(ours, theirs, x, upstream)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softened_with_k_one_is_focal_with_gamma_one(reduction):
    """The identity of seed 000: sigma(-Kx) with K=1 is (1 - p)^gamma with gamma=1."""
    gen = torch.Generator().manual_seed(13)
    x = (torch.randn(50, 3, generator=gen, dtype=torch.float64) * 6).requires_grad_(True)
    t = torch.rand(50, 3, generator=gen, dtype=torch.float64)
    softened = focalloss.sigmoid_softened_loss(x, t, k=1.0, reduction=reduction)
    focal = focalloss.sigmoid_focal_loss(x, t, alpha=None, gamma=1.0, reduction=reduction)
    _assert_same_value_and_grad(softened, focal, x, torch.rand_like(focal))


def test_limits_of_the_truncation_family():
    """threshold=1 never truncates (BCE); softened with k=0 weighs every example by 1/2."""
    gen = torch.Generator().manual_seed(17)
    x = torch.randn(40, generator=gen, dtype=torch.float64) * 3
    t = (torch.rand(40, generator=gen) < 0.5).double()
    bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    torch.testing.assert_close(focalloss.sigmoid_hard_truncation_loss(x, t, threshold=1.0, reduction="none"), bce)
    torch.testing.assert_close(focalloss.sigmoid_softened_loss(x, t, k=0.0, reduction="none"), bce / 2)
    right = ((x > 0) & (t == 1)) | ((x < 0) & (t == 0))
    truncated = focalloss.sigmoid_hard_truncation_loss(x, t, reduction="none")
    assert (truncated[right] == 0).all()
    torch.testing.assert_close(truncated[~right], bce[~right])


def test_limits_of_the_softmax_truncation():
    """threshold=1 is cross_entropy; 0 is zero; in between, cross_entropy exactly where p_y <= threshold."""
    gen = torch.Generator().manual_seed(18)
    x = (torch.randn(60, 5, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    y = torch.randint(0, 5, (60,), generator=gen)
    ce = F.cross_entropy(x, y, reduction="none")
    _assert_same_value_and_grad(
        focalloss.softmax_hard_truncation_loss(x, y, threshold=1.0, reduction="none"), ce, x, torch.rand(60, dtype=torch.float64)
    )
    assert (focalloss.softmax_hard_truncation_loss(x, y, threshold=0.0, reduction="none") == 0).all()
    weak = torch.softmax(x, 1).gather(1, y[:, None]).squeeze(1) <= 0.4
    assert 0 < weak.sum() < 60
    truncated = focalloss.softmax_hard_truncation_loss(x, y, threshold=0.4, reduction="none")
    torch.testing.assert_close(truncated, torch.where(weak, ce, torch.zeros_like(ce)))


def test_alpha_weights_positives_and_negatives():
    x = torch.tensor([0.3, -2.0, 1.5], dtype=torch.float64)
    t = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    off = focalloss.sigmoid_focal_loss(x, t, alpha=None, reduction="none")
    for alpha in (0.0, 0.25, 1.0):
        on = focalloss.sigmoid_focal_loss(x, t, alpha=alpha, reduction="none")
        torch.testing.assert_close(on, off * torch.where(t == 1, alpha, 1 - alpha))


def test_focal_to_cross_entropy_ratio_is_the_modulating_factor():
    x = torch.linspace(-8, 8, 33, dtype=torch.float64)
    for t in (torch.zeros(33, dtype=torch.float64), torch.ones(33, dtype=torch.float64)):
        p_t = torch.where(t == 1, torch.sigmoid(x), torch.sigmoid(-x))
        focal = focalloss.sigmoid_focal_loss(x, t, alpha=None, gamma=2.0, reduction="none")
        bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        torch.testing.assert_close(focal / bce, (1 - p_t) ** 2)


def test_seed_002_worked_example():
    """10 hard positives (p=0.01) against 10^6 easy negatives (p_t=0.99), alpha=0.25, gamma=2."""
    logit = math.log(0.01 / 0.99)
    x = torch.full((10 + 10**6,), logit, dtype=torch.float64)
    t = torch.zeros_like(x)
    t[:10] = 1.0

    def positives_share(**settings):
        loss = focalloss.sigmoid_focal_loss(x, t, reduction="none", **settings)
        return (loss[:10].sum() / loss.sum()).item()

    assert round(positives_share(alpha=None, gamma=0.0), 4) == 0.0046
    assert round(positives_share(alpha=0.25, gamma=2.0), 4) == 0.9374
    # The article's totals use log base 10; in natural log each is ln(10) times larger.
    focal = focalloss.sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0, reduction="none")
    assert focal[:10].sum().item() / math.log(10) == pytest.approx(4.901, abs=1e-3)
    assert focal[10:].sum().item() / math.log(10) == pytest.approx(0.3274, abs=1e-4)


def test_torchvision_soft_target_formula_differs_from_ours():
    """The number of the options page (docs/semantics.md): x=2, t=0.7, gamma=2, alpha off. Ours is the
    expectation over labels."""
    x, t = torch.tensor([2.0], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64)
    ours = focalloss.sigmoid_focal_loss(x, t, alpha=None, gamma=2.0, reduction="sum").item()
    p = torch.sigmoid(x)
    p_t = p * t + (1 - p) * (1 - t)
    torchvision = (F.binary_cross_entropy_with_logits(x, t, reduction="none") * (1 - p_t) ** 2).item()
    assert ours == pytest.approx(0.496286, abs=1e-6)
    assert torchvision == pytest.approx(0.087873, abs=1e-6)
    hard = [focalloss.sigmoid_focal_loss(x, torch.full_like(x, v), alpha=None, reduction="sum").item() for v in (0, 1)]
    assert ours == pytest.approx(0.7 * hard[1] + 0.3 * hard[0], rel=1e-12)


def test_float_alpha_scales_softmax_and_vector_alpha_picks_the_target_class():
    x = torch.randn(9, 4, dtype=torch.float64)
    y = torch.randint(0, 4, (9,))
    base = focalloss.softmax_focal_loss(x, y, reduction="none")
    torch.testing.assert_close(focalloss.softmax_focal_loss(x, y, alpha=0.3, reduction="none"), 0.3 * base)
    alpha = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(focalloss.softmax_focal_loss(x, y, alpha=alpha, reduction="none"), alpha[y] * base)


def test_reference_matches_numpy_formulas_directly():
    """Guard the reference itself with the textbook formula at moderate logits."""
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=100) * 3, (rng.uniform(size=100) < 0.5).astype(float)
    p = 1 / (1 + np.exp(-x))
    p_t = np.where(t == 1, p, 1 - p)
    a_t = np.where(t == 1, 0.25, 0.75)
    textbook = -a_t * (1 - p_t) ** 2 * np.log(p_t)
    np.testing.assert_allclose(reference.sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0), textbook, rtol=1e-12)
    z = rng.normal(size=(20, 5)) * 3
    y = rng.integers(0, 5, size=20)
    sm = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    pt = sm[np.arange(20), y]
    np.testing.assert_allclose(reference.softmax_focal_loss(z, y, gamma=2.0), -(1 - pt) ** 2 * np.log(pt), rtol=1e-12)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.9, 0.999])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_hard_truncation_switches_exactly_at_the_threshold(threshold, dtype):
    """The cut logit(m) is rounded down into the dtype: x <= cut in float32 iff x <= cut exactly."""
    cut = math.log(threshold) - math.log1p(-threshold)
    nearest = torch.tensor(cut, dtype=torch.float64).to(dtype)
    x = torch.stack([
        torch.nextafter(nearest, torch.tensor(-math.inf, dtype=dtype)), nearest,
        torch.nextafter(nearest, torch.tensor(math.inf, dtype=dtype)),
    ])
    for t, logits in ((torch.ones(3, dtype=dtype), x), (torch.zeros(3, dtype=dtype), -x)):
        loss = focalloss.sigmoid_hard_truncation_loss(logits, t, threshold=threshold, reduction="none")
        expected = reference.sigmoid_hard_truncation_loss(numpy64(logits), numpy64(t), threshold=threshold)
        assert_matches_reference(loss, expected, dtype)
        assert ((loss == 0) == torch.from_numpy(expected == 0)).all()
