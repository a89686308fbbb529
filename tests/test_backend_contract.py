"""Every backend's ``binary_loss`` and ``softmax_loss`` (the contract in ``focalloss/backends/__init__.py``)
against the float64 reference, and the fused backends against the torch backend.

The ``backend`` fixture takes torch, the fused CPU kernels and Triton (compiled on a GPU, else Triton's
interpreter on CPU tensors). Each test runs every setting of the test table (loss_table) on torch and
the CPU kernels; the interpreter is slow, so Triton runs the settings marked ``triton=True`` (the
seven-class softmax test: the others), and a test that compares with the torch backend runs on the
fused backends only. Triton-only matters (tiles, compiling for a GPU without one, CUDA-only checks)
are in test_triton.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CUDA, assert_matches_reference, numpy64, tolerance
from loss_table import BINARY, BY_NAME, SOFTMAX, setting_id

from focalloss import reference
from focalloss.backends import cpu_ops, torch_ops, triton_ops

OPS = {"torch": torch_ops, "cpu": cpu_ops, "triton": triton_ops}
BACKENDS = list(OPS)
FUSED = ["cpu", "triton"]
DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]


def _device(backend):
    return "cuda" if backend == "triton" and CUDA else "cpu"


def _compute_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _random_like(rng, out):
    """A random upstream gradient (or target) of out's shape, dtype and device."""
    return torch.from_numpy(rng.uniform(size=out.shape)).to(device=out.device, dtype=out.dtype)


def on_backends(cases, triton_cases, backends=BACKENDS):
    """``(backend, loss, kwargs)`` for each backend: every case, and on Triton those of ``triton_cases``.
    For ``pytest.mark.parametrize(..., indirect=["backend"])``."""
    return [pytest.param(backend, loss, kwargs, id=f"{backend}-{setting_id(loss, kwargs)}")
            for backend in backends for loss, kwargs in (triton_cases if backend == "triton" else cases)]


# --------------------------------------------------------------------------------------------------
# Binary losses
# --------------------------------------------------------------------------------------------------
BINARY_CASES = [(loss, s.kwargs) for loss in BINARY for s in loss.settings]
TRITON_BINARY = [(loss, s.kwargs) for loss in BINARY for s in loss.triton_settings]
EXTREME_LOGITS = [1e4, -1e4, 100.0, -100.0, 40.0, -40.0, 17.0, -17.0, 0.0, 1e-3]


def binary_inputs(rng, dtype, shape=(9, 37), device="cpu"):
    """Logits of every scale, the extremes once with target 1 and once with 0; soft targets elsewhere."""
    x = rng.normal(scale=4.0, size=shape)
    t = rng.uniform(size=shape)
    n = len(EXTREME_LOGITS)
    x.flat[:n] = x.flat[n:2 * n] = EXTREME_LOGITS
    t.flat[:n], t.flat[n:2 * n] = 1.0, 0.0
    return (torch.from_numpy(x).to(device=device, dtype=dtype),
            torch.from_numpy(t).to(device=device, dtype=dtype))


def _binary_reference(loss, kwargs, x, t, reduce, grad_output=None):
    """``reduce``: False, True (the sum) or "mean"."""
    function = loss.reference if grad_output is None else loss.reference_grad
    extra = {} if grad_output is None else {"grad_output": numpy64(grad_output)}
    reduction = "mean" if reduce == "mean" else "sum" if reduce else "none"
    return function(numpy64(x), numpy64(t), alpha=loss.alpha(kwargs), reduction=reduction,
                    **loss.params(kwargs), **extra)


def _binary_loss(backend, loss, kwargs, x, t, **options):
    return OPS[backend].binary_loss(loss.kind, x, t, loss.alpha(kwargs), loss.params(kwargs), **options)


@pytest.mark.parametrize("reduce", [False, True, "mean"], ids=["elementwise", "sum", "divided"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend, loss, kwargs", on_backends(BINARY_CASES, TRITON_BINARY), indirect=["backend"])
def test_binary_matches_reference(rng, backend, loss, kwargs, dtype, reduce):
    """"divided": the sum with ``divisor`` the element count, as the functional API asks for a mean."""
    x, t = binary_inputs(rng, dtype, device=_device(backend))
    x.requires_grad_(True)
    divided = {"reduce": True, "divisor": x.numel()} if reduce == "mean" else {"reduce": reduce}
    out = _binary_loss(backend, loss, kwargs, x, t, **divided)
    assert out.dtype == _compute_dtype(dtype)
    assert out.shape == (() if reduce else x.shape)
    assert_matches_reference(out, _binary_reference(loss, kwargs, x, t, reduce), dtype)

    upstream = _random_like(rng, out)
    (grad,) = torch.autograd.grad(out, x, upstream)
    assert grad.dtype == dtype
    assert_matches_reference(grad, _binary_reference(loss, kwargs, x, t, reduce, upstream), dtype)


# every other case of the Triton subset: the interpreter is slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("backend, loss, kwargs", on_backends(BINARY_CASES, TRITON_BINARY[::2], FUSED),
                         indirect=["backend"])
def test_binary_matches_torch_path(rng, backend, loss, kwargs, dtype):
    x, t = binary_inputs(rng, dtype, shape=(33, 17), device=_device(backend))
    x.requires_grad_(True)
    out = _binary_loss(backend, loss, kwargs, x, t, reduce=False)
    x32 = x.detach().float().requires_grad_(True)
    expected = _binary_loss("torch", loss, kwargs, x32, t.float())
    torch.testing.assert_close(out, expected, **tolerance(dtype))

    upstream = _random_like(rng, out)
    (grad,) = torch.autograd.grad(out, x, upstream)
    (expected_grad,) = torch.autograd.grad(expected, x32, upstream)
    torch.testing.assert_close(grad.float(), expected_grad, **tolerance(dtype))


def _confident(cases):
    """Hard truncation, and the asymmetric loss's negatives below its margin, are exactly 0 once right, and
    (1 - p)^gamma with gamma > 2 underflows float32 at a margin of 20: the cases whose losses at margins
    3..20 are positive numbers in float32."""
    def positive_when_right(loss, params):
        exponents = {"asymmetric": ("gamma_pos", "gamma_neg"), "quality_focal": ("beta",)}.get(loss.kind, ("gamma",))
        return (loss.kind != "hard_truncation" and params.get("clip", 0.0) == 0
                and max(params.get(name, 0.0) for name in exponents) <= 2.0)

    return [(loss, kwargs) for loss, kwargs in cases if positive_when_right(loss, loss.params(kwargs))]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("backend, loss, kwargs", on_backends(_confident(BINARY_CASES), _confident(TRITON_BINARY)),
                         indirect=["backend"])
def test_binary_confident_predictions_keep_relative_accuracy(backend, loss, kwargs, dtype):
    """Right with margins 3..20: losses down to ~1e-26 and their gradients are accurate relative
    to their size, which log(1 + e^-|x|) without log1p would round to 0 (1 + e^-20 == 1 in float32)."""
    device = _device(backend)
    x = torch.tensor([3.0, 10.0, 20.0, -3.0, -10.0, -20.0], dtype=dtype, device=device, requires_grad=True)
    t = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0], dtype=dtype, device=device)
    out = _binary_loss(backend, loss, kwargs, x, t, reduce=False)
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
    expected = _binary_reference(loss, kwargs, x, t, False)
    expected_grad = _binary_reference(loss, kwargs, x, t, False, torch.ones_like(out))
    assert np.all(expected > 0)
    torch.testing.assert_close(out.double().cpu(), torch.from_numpy(expected), rtol=1e-5, atol=0.0)
    torch.testing.assert_close(grad.double().cpu(), torch.from_numpy(expected_grad), rtol=1e-5, atol=0.0)


def test_binary_gradient_broadcast_from_one_number(rng, backend):
    """loss.sum() hands backward an expanded tensor of strides 0: read as one number, not copied."""
    x, t = binary_inputs(rng, torch.float32, device=_device(backend))
    x.requires_grad_(True)
    OPS[backend].binary_loss("focal", x, t, 0.25, {"gamma": 2.0}, reduce=False).sum().mul(3.0).backward()
    expected = reference.sigmoid_focal_loss_grad(numpy64(x), numpy64(t), alpha=0.25, gamma=2.0,
                                                 reduction="sum", grad_output=3.0)
    assert_matches_reference(x.grad, expected, torch.float32)


@pytest.mark.parametrize("divisor", [1, 7, 333.5])
def test_binary_divided_sum_with_an_upstream_gradient_of_one(rng, backend, divisor):
    """loss.backward() of a mean: upstream 1, the gradient divided by the backend itself (the fused
    CPU one forms it divided in forward and scales nothing in backward)."""
    x, t = binary_inputs(rng, torch.float32, device=_device(backend))
    x.requires_grad_(True)
    out = OPS[backend].binary_loss("focal", x, t, 0.25, {"gamma": 2.0}, reduce=True, divisor=divisor)
    out.backward()
    expected = reference.sigmoid_focal_loss(numpy64(x), numpy64(t), alpha=0.25, gamma=2.0, reduction="sum")
    assert_matches_reference(out, expected / divisor, torch.float32)
    expected_grad = reference.sigmoid_focal_loss_grad(numpy64(x), numpy64(t), alpha=0.25, gamma=2.0,
                                                      reduction="sum", grad_output=1 / divisor)
    assert_matches_reference(x.grad, expected_grad, torch.float32)


@pytest.mark.parametrize("reduce", [False, True], ids=["elementwise", "sum"])
def test_binary_empty_input(backend, reduce):
    x = torch.empty(0, 5, device=_device(backend), dtype=torch.bfloat16, requires_grad=True)
    out = OPS[backend].binary_loss("focal", x, torch.empty_like(x), 0.25, {"gamma": 2.0}, reduce=reduce)
    assert out.dtype == torch.float32
    if reduce:
        assert out.item() == 0.0
    else:
        assert out.shape == (0, 5)
    out.sum().backward()
    assert x.grad.shape == (0, 5) and x.grad.dtype == torch.bfloat16


# --------------------------------------------------------------------------------------------------
# Softmax losses: the hyperparameters of each setting (alpha and the targets are swept here)
# --------------------------------------------------------------------------------------------------
def _distinct_params(loss, settings):
    params = []
    for s in settings:
        if loss.params(s.kwargs) not in params:
            params.append(loss.params(s.kwargs))
    return [(loss, p) for p in params]


SOFTMAX_CASES = [case for loss in SOFTMAX for case in _distinct_params(loss, loss.settings)]
TRITON_SOFTMAX = [case for loss in SOFTMAX for case in _distinct_params(loss, loss.triton_settings)]
OTHER_SOFTMAX = [case for case in SOFTMAX_CASES if case not in TRITON_SOFTMAX]
FIRST_PER_LOSS = [_distinct_params(loss, loss.triton_settings)[0] for loss in SOFTMAX]
# (kind of target, label smoothing): one class (the fast path), smoothed, probabilities
TARGETS = [("index", 0.0), ("index", 0.15), ("probs", 0.0), ("probs", 0.1)]
TARGET_IDS = [f"{t}-eps={e}" for t, e in TARGETS]


def softmax_inputs(rng, shape, dtype, target_kind, *, counted=False, alpha=False, device="cpu"):
    """Logits with rows of every regime, a target, per-class alpha and a counted mask.

    Position 0 of sample 1 has logits of magnitude ~1e4; sample 2 a dominant target class, p_y ~ 1;
    sample 3 two equal top logits at the first and the last class (different tiles). Uncounted
    positions hold inf / NaN logits, an out-of-range index and NaN probabilities: never read.
    """
    n, num_classes, rest = shape[0], shape[1], shape[2:]
    x = rng.normal(scale=3.0, size=shape)
    index = rng.integers(0, num_classes, size=(n,) + rest)
    at_0 = (slice(None),) + (0,) * len(rest)
    if n > 3:
        x[(1,) + at_0] *= 3000.0
        x[(2,) + at_0] = rng.normal(size=num_classes)
        x[(2, index[(2,) + (0,) * len(rest)]) + (0,) * len(rest)] = 45.0
        x[(3, 0) + (0,) * len(rest)] = x[(3, num_classes - 1) + (0,) * len(rest)] = 15.0
    probs = np.moveaxis(rng.dirichlet(np.full(num_classes, 0.3), size=(n,) + rest), -1, 1)
    mask = rng.uniform(size=(n,) + rest) < 0.7 if counted else np.ones((n,) + rest, dtype=bool)
    mask.flat[0] = True
    if counted:
        x = np.where(mask[:, None], x, np.where(rng.uniform(size=shape) < 0.5, np.inf, np.nan))
        index = np.where(mask, index, 10 * num_classes)
        probs = np.where(mask[:, None], probs, np.nan)
    target = torch.from_numpy(index) if target_kind == "index" else torch.from_numpy(probs)
    compute = _compute_dtype(dtype)
    return {
        "x": torch.from_numpy(x).to(device=device, dtype=dtype),
        "target": target.to(device=device, dtype=torch.int64 if target_kind == "index" else compute),
        "alpha": (torch.from_numpy(rng.uniform(0.2, 2.0, size=num_classes)).to(device=device, dtype=compute)
                  if alpha else None),
        "counted": torch.from_numpy(mask).to(device) if counted else None,
    }


def _softmax_reference(loss, inputs, params, label_smoothing, grad_output=None):
    function = loss.reference if grad_output is None else loss.reference_grad
    target = inputs["target"].cpu().numpy() if inputs["target"].dtype == torch.int64 else numpy64(inputs["target"])
    settings = dict(params, label_smoothing=label_smoothing, reduction="none")
    if inputs["alpha"] is not None:
        settings["alpha"] = numpy64(inputs["alpha"])
    if inputs["counted"] is not None:
        settings["weight"] = inputs["counted"].cpu().numpy().astype(np.float64)
    if grad_output is not None:
        settings["grad_output"] = numpy64(grad_output)
    return function(numpy64(inputs["x"]), target, **settings)


def check_softmax(rng, backend, loss, params, inputs, label_smoothing, dtype):
    """Forward and backward (random upstream gradient) of the backend's softmax_loss against the reference."""
    x = inputs["x"].requires_grad_(True)
    out = OPS[backend].softmax_loss(loss.kind, x, inputs["target"], inputs["alpha"], params,
                                    label_smoothing=label_smoothing, counted=inputs["counted"])
    assert out.dtype == _compute_dtype(dtype)
    assert out.shape == x.shape[:1] + x.shape[2:]
    assert_matches_reference(out, _softmax_reference(loss, inputs, params, label_smoothing), dtype)

    upstream = _random_like(rng, out)
    (grad,) = torch.autograd.grad(out, x, upstream)
    assert grad.dtype == dtype
    assert_matches_reference(grad, _softmax_reference(loss, inputs, params, label_smoothing, upstream), dtype)
    return out, grad


@pytest.mark.parametrize("alpha", [False, True], ids=["no-alpha", "class-alpha"])
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("backend, loss, params", on_backends(SOFTMAX_CASES, TRITON_SOFTMAX), indirect=["backend"])
def test_softmax_matches_reference(rng, backend, loss, params, target_kind, label_smoothing, alpha):
    """Every loss x target x alpha in float64, (N, C) rows of 37 classes: two Triton tiles per pass."""
    inputs = softmax_inputs(rng, (5, 37), torch.float64, target_kind, alpha=alpha, device=_device(backend))
    check_softmax(rng, backend, loss, params, inputs, label_smoothing, torch.float64)


@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS[::3], ids=TARGET_IDS[::3])
@pytest.mark.parametrize("backend, loss, params", on_backends(OTHER_SOFTMAX, OTHER_SOFTMAX), indirect=["backend"])
def test_softmax_more_settings_match_reference(rng, backend, loss, params, target_kind, label_smoothing):
    """The settings outside the Triton subset, on seven classes: a Triton tile holds four rows."""
    inputs = softmax_inputs(rng, (5, 7), torch.float64, target_kind, alpha=True, device=_device(backend))
    check_softmax(rng, backend, loss, params, inputs, label_smoothing, torch.float64)


def _check_spatial_and_counted(rng, backend, loss, params, target_kind, label_smoothing, dtype):
    inputs = softmax_inputs(rng, (4, 11, 3, 2), dtype, target_kind, counted=True, alpha=True,
                            device=_device(backend))
    out, grad = check_softmax(rng, backend, loss, params, inputs, label_smoothing, dtype)
    uncounted = ~inputs["counted"]
    assert torch.all(out[uncounted] == 0)
    assert torch.all(grad.movedim(1, -1)[uncounted] == 0)


@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("backend, loss, params", on_backends(SOFTMAX_CASES, FIRST_PER_LOSS), indirect=["backend"])
def test_softmax_spatial_layout_and_counted_positions(rng, backend, loss, params, target_kind, label_smoothing):
    """(N, C, d1, d2) read in place, float32, with positions that do not count holding inf, NaN and
    bad targets: loss and gradient exactly 0 there."""
    _check_spatial_and_counted(rng, backend, loss, params, target_kind, label_smoothing, torch.float32)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS[::3], ids=TARGET_IDS[::3])
@pytest.mark.parametrize("backend, loss, params", on_backends(SOFTMAX_CASES, FIRST_PER_LOSS), indirect=["backend"])
def test_softmax_half_precision(rng, backend, loss, params, target_kind, label_smoothing, dtype):
    _check_spatial_and_counted(rng, backend, loss, params, target_kind, label_smoothing, dtype)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 10.0])
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_softmax_focal_extreme_logits(rng, backend, gamma, target_kind, label_smoothing, dtype):
    """Logits of +-1e4: finite loss and gradient, equal to the reference on the same rounded inputs."""
    device = _device(backend)
    inputs = softmax_inputs(rng, (4, 9), dtype, target_kind, device=device)
    inputs["x"] = torch.from_numpy(rng.uniform(-1e4, 1e4, size=(4, 9))).to(device=device, dtype=dtype)
    focal = BY_NAME["softmax_focal_loss"]
    out, grad = check_softmax(rng, backend, focal, {"gamma": gamma}, inputs, label_smoothing, dtype)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("target_kind", ["index", "probs"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_softmax_focal_keeps_relative_accuracy_as_p_rounds_to_one(backend, target_kind, dtype):
    """The target class leads by 20..60: 1 - p is far below the precision of p, yet the loss
    (1 - p)^gamma (-log p) keeps its relative accuracy, because 1 - p comes from the other classes'
    sum, not from 1 - p (which would make it 0)."""
    margins = torch.tensor([20.0, 30.0, 45.0, 60.0], dtype=torch.float64)
    x = torch.zeros(4, 5, dtype=torch.float64)
    x[:, 2] = margins
    index = torch.full((4,), 2)
    target = index if target_kind == "index" else torch.nn.functional.one_hot(index, 5).double()
    x, target = x.to(device=_device(backend), dtype=dtype), target.to(_device(backend))
    if target_kind == "probs":
        target = target.to(dtype)
    out = OPS[backend].softmax_loss("focal", x, target, None, {"gamma": 0.5}, label_smoothing=0.0, counted=None)
    expected = reference.softmax_focal_loss(numpy64(x), index.numpy(), gamma=0.5, reduction="none")
    assert np.all(expected > 0)
    torch.testing.assert_close(out.double().cpu(), torch.from_numpy(expected), rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("backend", FUSED, indirect=True)
def test_softmax_class_index_out_of_range_gives_nan(rng, backend):
    """A counted position whose index is outside [0, C) is never read out of bounds by a fused
    kernel: its loss and gradient are NaN, the other positions are unaffected."""
    inputs = softmax_inputs(rng, (4, 6), torch.float32, "index", device=_device(backend))
    inputs["target"][1] = 6
    inputs["target"][2] = -3
    x = inputs["x"].requires_grad_(True)
    out = OPS[backend].softmax_loss("focal", x, inputs["target"], None, {"gamma": 2.0}, label_smoothing=0.0,
                                    counted=None)
    out.sum().backward()
    assert torch.isnan(out[1:3]).all() and torch.isnan(x.grad[1:3]).all()
    assert torch.isfinite(out[[0, 3]]).all() and torch.isfinite(x.grad[[0, 3]]).all()


@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 3), (2, 4, 0)])
def test_softmax_empty_input(backend, shape):
    x = torch.empty(shape, device=_device(backend), requires_grad=True)
    target = torch.empty(shape[:1] + shape[2:], dtype=torch.int64, device=_device(backend))
    out = OPS[backend].softmax_loss("focal", x, target, None, {"gamma": 2.0}, label_smoothing=0.1, counted=None)
    assert out.shape == shape[:1] + shape[2:]
    out.sum().backward()
    assert x.grad.shape == shape


# --------------------------------------------------------------------------------------------------
# The public API on a fused backend against backend="torch"
# --------------------------------------------------------------------------------------------------
API_CASES = [(loss, kwargs) for loss in BINARY + SOFTMAX for kwargs in loss.api_settings]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("backend, loss, settings", on_backends(API_CASES, API_CASES, FUSED), indirect=["backend"])
def test_public_api_matches_torch_backend(rng, backend, loss, settings, dtype):
    """Through the functional API (dispatch, weights, reductions); on the CPU, backend="triton" is
    allowed because TRITON_INTERPRET=1 (fixture triton_interpreter)."""
    device = _device(backend)
    shape = (6, 5, 3)
    logits = torch.from_numpy(rng.normal(scale=3.0, size=shape)).to(device=device, dtype=dtype)
    if loss.binary:
        target = torch.from_numpy(rng.uniform(size=shape)).to(device=device, dtype=dtype)
        weight_shape = shape
    else:
        target = torch.from_numpy(rng.integers(0, 5, size=(6, 3))).to(device)
        weight_shape = (6, 3)
    settings = dict(settings)
    if settings.get("weight") == "random":
        settings["weight"] = torch.from_numpy(rng.uniform(size=weight_shape)).to(device=device, dtype=dtype)
    results, upstream = {}, None
    for name in ("torch", backend):
        x = logits.clone().requires_grad_(True)
        out = loss.function(x, target, backend=name, **settings)
        upstream = _random_like(rng, out) if upstream is None else upstream
        (grad,) = torch.autograd.grad(out, x, upstream)
        results[name] = out, grad
    torch.testing.assert_close(results[backend][0], results["torch"][0], **tolerance(dtype))
    torch.testing.assert_close(results[backend][1], results["torch"][1], **tolerance(dtype))
