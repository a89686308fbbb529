"""The Triton kernels (``focalloss.backends.triton_ops``) against the float64 reference and the torch path.

Without a GPU the kernels run in Triton's interpreter on CPU tensors, as in CI; with one they run
compiled on CUDA tensors, and the CUDA-only checks at the end (no host synchronisation, bitwise
reproducibility, memory and parity at a large vocabulary) run as well.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import CUDA, assert_matches_reference, import_triton_kernels, numpy64, tolerance

import_triton_kernels()

import focalloss  # noqa: E402
from focalloss import reference  # noqa: E402
from focalloss.backends import torch_ops, triton_ops  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]
pytestmark = pytest.mark.usefixtures("triton_interpreter")


def _compute_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _random_like(rng, out):
    """A random upstream gradient (or target) of out's shape, dtype and device."""
    return torch.from_numpy(rng.uniform(size=out.shape)).to(device=out.device, dtype=out.dtype)


# --------------------------------------------------------------------------------------------------
# Binary losses
# --------------------------------------------------------------------------------------------------
BINARY_REFERENCE = {
    "focal": "sigmoid_focal_loss",
    "focal_star": "sigmoid_focal_loss_star",
    "softened": "sigmoid_softened_loss",
    "hard_truncation": "sigmoid_hard_truncation_loss",
}
BINARY_CASES = [
    ("focal", {"gamma": 2.0}, 0.25),
    ("focal", {"gamma": 0.0}, None),
    ("focal", {"gamma": 0.5}, 0.9),
    ("focal", {"gamma": 10.0}, None),
    ("focal_star", {"gamma": 2.0, "beta": 1.0}, 0.3),
    ("focal_star", {"gamma": 0.5, "beta": -2.0}, None),
    ("softened", {"k": 2.0}, 0.7),
    ("softened", {"k": 0.0}, None),
    ("hard_truncation", {"threshold": 0.7}, None),
    ("hard_truncation", {"threshold": 0.5}, 0.25),
    ("hard_truncation", {"threshold": 1.0}, None),
    ("hard_truncation", {"threshold": 0.0}, 0.6),
]
EXTREME_LOGITS = [1e4, -1e4, 100.0, -100.0, 40.0, -40.0, 17.0, -17.0, 0.0, 1e-3]


def _ids(cases):
    return ["-".join([str(case[0])] + [f"{k}={v}" for k, v in case[1].items()] + [str(x) for x in case[2:]])
            for case in cases]


def _binary_inputs(rng, dtype, shape=(9, 37)):
    """Logits of every scale, the extremes once with target 1 and once with 0; soft targets elsewhere."""
    x = rng.normal(scale=4.0, size=shape)
    t = rng.uniform(size=shape)
    n = len(EXTREME_LOGITS)
    x.flat[:n] = x.flat[n:2 * n] = EXTREME_LOGITS
    t.flat[:n], t.flat[n:2 * n] = 1.0, 0.0
    return (torch.from_numpy(x).to(device=DEVICE, dtype=dtype),
            torch.from_numpy(t).to(device=DEVICE, dtype=dtype))


def _binary_reference(kind, x, t, alpha, params, reduce, grad_output=None):
    name = BINARY_REFERENCE[kind] + ("" if grad_output is None else "_grad")
    extra = {} if grad_output is None else {"grad_output": numpy64(grad_output)}
    return getattr(reference, name)(numpy64(x), numpy64(t), alpha=alpha, reduction="sum" if reduce else "none",
                                    **params, **extra)


@pytest.mark.parametrize("reduce", [False, True], ids=["elementwise", "sum"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind, params, alpha", BINARY_CASES, ids=_ids(BINARY_CASES))
def test_binary_matches_reference(rng, kind, params, alpha, dtype, reduce):
    x, t = _binary_inputs(rng, dtype)
    x.requires_grad_(True)
    out = triton_ops.binary_loss(kind, x, t, alpha, params, reduce=reduce)
    assert out.dtype == _compute_dtype(dtype)
    assert out.shape == (() if reduce else x.shape)
    assert_matches_reference(out, _binary_reference(kind, x, t, alpha, params, reduce), dtype)

    upstream = _random_like(rng, out)
    (grad,) = torch.autograd.grad(out, x, upstream)
    assert grad.dtype == dtype
    assert_matches_reference(grad, _binary_reference(kind, x, t, alpha, params, reduce, upstream), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("kind, params, alpha", BINARY_CASES[::2], ids=_ids(BINARY_CASES[::2]))
def test_binary_matches_torch_path(rng, kind, params, alpha, dtype):
    x, t = _binary_inputs(rng, dtype, shape=(33, 17))
    x.requires_grad_(True)
    out = triton_ops.binary_loss(kind, x, t, alpha, params, reduce=False)
    x32 = x.detach().float().requires_grad_(True)
    expected = torch_ops.binary_loss(kind, x32, t.float(), alpha, params)
    torch.testing.assert_close(out, expected, **tolerance(dtype))

    upstream = _random_like(rng, out)
    (grad,) = torch.autograd.grad(out, x, upstream)
    (expected_grad,) = torch.autograd.grad(expected, x32, upstream)
    torch.testing.assert_close(grad.float(), expected_grad, **tolerance(dtype))


CONFIDENT_CASES = BINARY_CASES[:3] + BINARY_CASES[4:8]  # gamma=10 underflows float32 here


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("kind, params, alpha", CONFIDENT_CASES, ids=_ids(CONFIDENT_CASES))
def test_binary_confident_predictions_keep_relative_accuracy(kind, params, alpha, dtype):
    """Right with margins 3..20: losses down to ~1e-26 and their gradients are accurate relative
    to their size, which log(1 + e^-|x|) without log1p would round to 0 (1 + e^-20 == 1 in float32)."""
    x = torch.tensor([3.0, 10.0, 20.0, -3.0, -10.0, -20.0], dtype=dtype, device=DEVICE, requires_grad=True)
    t = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0], dtype=dtype, device=DEVICE)
    out = triton_ops.binary_loss(kind, x, t, alpha, params, reduce=False)
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
    expected = _binary_reference(kind, x, t, alpha, params, False)
    expected_grad = _binary_reference(kind, x, t, alpha, params, False, torch.ones_like(out))
    assert np.all(expected > 0)
    torch.testing.assert_close(out.double().cpu(), torch.from_numpy(expected), rtol=1e-5, atol=0.0)
    torch.testing.assert_close(grad.double().cpu(), torch.from_numpy(expected_grad), rtol=1e-5, atol=0.0)


def test_binary_gradient_broadcast_from_one_number(rng):
    """loss.sum() hands backward an expanded tensor of strides 0: read as one number, not copied."""
    x, t = _binary_inputs(rng, torch.float32)
    x.requires_grad_(True)
    triton_ops.binary_loss("focal", x, t, 0.25, {"gamma": 2.0}, reduce=False).sum().mul(3.0).backward()
    expected = reference.sigmoid_focal_loss_grad(numpy64(x), numpy64(t), alpha=0.25, gamma=2.0,
                                                 reduction="sum", grad_output=3.0)
    assert_matches_reference(x.grad, expected, torch.float32)


@pytest.mark.parametrize("reduce", [False, True], ids=["elementwise", "sum"])
def test_binary_empty_input(reduce):
    x = torch.empty(0, 5, device=DEVICE, dtype=torch.bfloat16, requires_grad=True)
    out = triton_ops.binary_loss("focal", x, torch.empty_like(x), 0.25, {"gamma": 2.0}, reduce=reduce)
    assert out.dtype == torch.float32
    if reduce:
        assert out.item() == 0.0
    else:
        assert out.shape == (0, 5)
    out.sum().backward()
    assert x.grad.shape == (0, 5) and x.grad.dtype == torch.bfloat16


# --------------------------------------------------------------------------------------------------
# Softmax losses
# --------------------------------------------------------------------------------------------------
SOFTMAX_CASES = [
    ("focal", {"gamma": 2.0}),
    ("focal", {"gamma": 0.0}),
    ("softened", {"k": 1.0}),
    ("hard_truncation", {"threshold": 0.3}),
]
MORE_SOFTMAX_SETTINGS = [
    ("focal", {"gamma": 0.5}),
    ("focal", {"gamma": 10.0}),
    ("softened", {"k": 3.0}),
    ("softened", {"k": 0.0}),
    ("hard_truncation", {"threshold": 1.0}),
    ("hard_truncation", {"threshold": 0.0}),
]
ONE_PER_KIND = [SOFTMAX_CASES[0], SOFTMAX_CASES[2], SOFTMAX_CASES[3]]
# (kind of target, label smoothing): one class (the fast path), smoothed, probabilities
TARGETS = [("index", 0.0), ("index", 0.15), ("probs", 0.0), ("probs", 0.1)]
TARGET_IDS = [f"{t}-eps={e}" for t, e in TARGETS]


def _softmax_inputs(rng, shape, dtype, target_kind, *, counted=False, alpha=False):
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
        "x": torch.from_numpy(x).to(device=DEVICE, dtype=dtype),
        "target": target.to(device=DEVICE, dtype=torch.int64 if target_kind == "index" else compute),
        "alpha": (torch.from_numpy(rng.uniform(0.2, 2.0, size=num_classes)).to(device=DEVICE, dtype=compute)
                  if alpha else None),
        "counted": torch.from_numpy(mask).to(DEVICE) if counted else None,
    }


def _softmax_reference(kind, inputs, params, label_smoothing, grad_output=None):
    name = f"softmax_{kind}_loss" + ("" if grad_output is None else "_grad")
    target = inputs["target"].cpu().numpy() if inputs["target"].dtype == torch.int64 else numpy64(inputs["target"])
    settings = dict(params, label_smoothing=label_smoothing, reduction="none")
    if inputs["alpha"] is not None:
        settings["alpha"] = numpy64(inputs["alpha"])
    if inputs["counted"] is not None:
        settings["weight"] = inputs["counted"].cpu().numpy().astype(np.float64)
    if grad_output is not None:
        settings["grad_output"] = numpy64(grad_output)
    return getattr(reference, name)(numpy64(inputs["x"]), target, **settings)


def _check_softmax(rng, kind, params, inputs, label_smoothing, dtype):
    """Forward and backward (random upstream gradient) of triton_ops.softmax_loss against the reference."""
    x = inputs["x"].requires_grad_(True)
    out = triton_ops.softmax_loss(kind, x, inputs["target"], inputs["alpha"], params,
                                  label_smoothing=label_smoothing, counted=inputs["counted"])
    assert out.dtype == _compute_dtype(dtype)
    assert out.shape == x.shape[:1] + x.shape[2:]
    assert_matches_reference(out, _softmax_reference(kind, inputs, params, label_smoothing), dtype)

    upstream = _random_like(rng, out)
    (grad,) = torch.autograd.grad(out, x, upstream)
    assert grad.dtype == dtype
    assert_matches_reference(grad, _softmax_reference(kind, inputs, params, label_smoothing, upstream), dtype)
    return out, grad


@pytest.mark.parametrize("alpha", [False, True], ids=["no-alpha", "class-alpha"])
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("kind, params", SOFTMAX_CASES, ids=_ids(SOFTMAX_CASES))
def test_softmax_matches_reference(rng, kind, params, target_kind, label_smoothing, alpha):
    """Every kind x target x alpha in float64, (N, C) rows of 37 classes: two tiles per pass."""
    inputs = _softmax_inputs(rng, (5, 37), torch.float64, target_kind, alpha=alpha)
    _check_softmax(rng, kind, params, inputs, label_smoothing, torch.float64)


@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS[::3], ids=TARGET_IDS[::3])
@pytest.mark.parametrize("kind, params", MORE_SOFTMAX_SETTINGS, ids=_ids(MORE_SOFTMAX_SETTINGS))
def test_softmax_more_settings_match_reference(rng, kind, params, target_kind, label_smoothing):
    """Seven classes: a tile holds four rows."""
    inputs = _softmax_inputs(rng, (5, 7), torch.float64, target_kind, alpha=True)
    _check_softmax(rng, kind, params, inputs, label_smoothing, torch.float64)


def _check_spatial_and_counted(rng, kind, params, target_kind, label_smoothing, dtype):
    inputs = _softmax_inputs(rng, (4, 11, 3, 2), dtype, target_kind, counted=True, alpha=True)
    out, grad = _check_softmax(rng, kind, params, inputs, label_smoothing, dtype)
    uncounted = ~inputs["counted"]
    assert torch.all(out[uncounted] == 0)
    assert torch.all(grad.movedim(1, -1)[uncounted] == 0)


@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("kind, params", ONE_PER_KIND, ids=_ids(ONE_PER_KIND))
def test_softmax_spatial_layout_and_counted_positions(rng, kind, params, target_kind, label_smoothing):
    """(N, C, d1, d2) read in place, float32, with positions that do not count holding inf, NaN and
    bad targets: loss and gradient exactly 0 there."""
    _check_spatial_and_counted(rng, kind, params, target_kind, label_smoothing, torch.float32)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS[::3], ids=TARGET_IDS[::3])
@pytest.mark.parametrize("kind, params", ONE_PER_KIND[:2], ids=_ids(ONE_PER_KIND[:2]))
def test_softmax_half_precision(rng, kind, params, target_kind, label_smoothing, dtype):
    _check_spatial_and_counted(rng, kind, params, target_kind, label_smoothing, dtype)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 10.0])
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_softmax_focal_extreme_logits(rng, gamma, target_kind, label_smoothing, dtype):
    """Logits of +-1e4: finite loss and gradient, equal to the reference on the same rounded inputs."""
    inputs = _softmax_inputs(rng, (4, 9), dtype, target_kind)
    inputs["x"] = torch.from_numpy(rng.uniform(-1e4, 1e4, size=(4, 9))).to(device=DEVICE, dtype=dtype)
    out, grad = _check_softmax(rng, "focal", {"gamma": gamma}, inputs, label_smoothing, dtype)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("target_kind", ["index", "probs"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_softmax_focal_keeps_relative_accuracy_as_p_rounds_to_one(target_kind, dtype):
    """The target class leads by 20..60: 1 - p is far below the precision of p, yet the loss
    (1 - p)^gamma (-log p) keeps its relative accuracy, because 1 - p comes from the other classes'
    sum, not from 1 - p (which would make it 0)."""
    margins = torch.tensor([20.0, 30.0, 45.0, 60.0], dtype=torch.float64)
    x = torch.zeros(4, 5, dtype=torch.float64)
    x[:, 2] = margins
    index = torch.full((4,), 2)
    target = index if target_kind == "index" else torch.nn.functional.one_hot(index, 5).double()
    x, target = x.to(device=DEVICE, dtype=dtype), target.to(DEVICE)
    if target_kind == "probs":
        target = target.to(dtype)
    out = triton_ops.softmax_loss("focal", x, target, None, {"gamma": 0.5}, label_smoothing=0.0, counted=None)
    expected = reference.softmax_focal_loss(numpy64(x), index.numpy(), gamma=0.5, reduction="none")
    assert np.all(expected > 0)
    torch.testing.assert_close(out.double().cpu(), torch.from_numpy(expected), rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("rows, target_kind, label_smoothing", [(41, "index", 0.0), (7, "probs", 0.1)])
def test_softmax_many_classes_long_rows(rng, monkeypatch, rows, target_kind, label_smoothing):
    """1271 classes (an odd C) in tiles of 512: the online log-sum-exp spans three tiles. (Fewer rows
    for the two-pass path: the interpreter is slow.)"""
    monkeypatch.setattr(triton_ops, "_TILE_ELEMENTS", 512)
    inputs = _softmax_inputs(rng, (rows, 1271), torch.float32, target_kind, alpha=True)
    _check_softmax(rng, "focal", {"gamma": 2.0}, inputs, label_smoothing, torch.float32)


def test_softmax_class_index_out_of_range_gives_nan(rng):
    """A counted position whose index is outside [0, C) is never read out of bounds: its loss and
    gradient are NaN, the other positions are unaffected."""
    inputs = _softmax_inputs(rng, (4, 6), torch.float32, "index")
    inputs["target"][1] = 6
    inputs["target"][2] = -3
    x = inputs["x"].requires_grad_(True)
    out = triton_ops.softmax_loss("focal", x, inputs["target"], None, {"gamma": 2.0}, label_smoothing=0.0,
                                  counted=None)
    out.sum().backward()
    assert torch.isnan(out[1:3]).all() and torch.isnan(x.grad[1:3]).all()
    assert torch.isfinite(out[[0, 3]]).all() and torch.isfinite(x.grad[[0, 3]]).all()


@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 3), (2, 4, 0)])
def test_softmax_empty_input(shape):
    x = torch.empty(shape, device=DEVICE, requires_grad=True)
    target = torch.empty(shape[:1] + shape[2:], dtype=torch.int64, device=DEVICE)
    out = triton_ops.softmax_loss("focal", x, target, None, {"gamma": 2.0}, label_smoothing=0.1, counted=None)
    assert out.shape == shape[:1] + shape[2:]
    out.sum().backward()
    assert x.grad.shape == shape


# --------------------------------------------------------------------------------------------------
# The public API with backend="triton" against backend="torch"
# --------------------------------------------------------------------------------------------------
PUBLIC_CASES = [
    ("sigmoid_focal_loss", {"alpha": 0.25, "gamma": 2.0, "reduction": "mean"}),
    ("sigmoid_focal_loss_star", {"gamma": 2.0, "beta": 1.0, "reduction": "none"}),
    ("sigmoid_softened_loss", {"k": 2.0, "reduction": "sum", "weight": "random"}),
    ("sigmoid_hard_truncation_loss", {"threshold": 0.7, "reduction": "mean"}),
    ("softmax_focal_loss", {"gamma": 2.0, "alpha": [0.5, 1.0, 2.0, 1.0, 0.3], "ignore_index": 1}),
    ("softmax_focal_loss", {"gamma": 0.5, "alpha": 0.25, "label_smoothing": 0.1, "reduction": "sum"}),
    ("softmax_softened_loss", {"k": 1.5, "reduction": "none", "weight": "random"}),
    ("softmax_hard_truncation_loss", {"threshold": 0.4, "label_smoothing": 0.05}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name, settings", PUBLIC_CASES, ids=[name for name, _ in PUBLIC_CASES])
def test_public_api_triton_backend_matches_torch_backend(rng, name, settings, dtype):
    """Through the functional API (dispatch, weights, reductions); on the CPU, backend="triton" is
    allowed because TRITON_INTERPRET=1 (fixture interpreter_env)."""
    shape = (6, 5, 3)
    logits = torch.from_numpy(rng.normal(scale=3.0, size=shape)).to(device=DEVICE, dtype=dtype)
    if name.startswith("sigmoid"):
        target = torch.from_numpy(rng.uniform(size=shape)).to(device=DEVICE, dtype=dtype)
        weight_shape = shape
    else:
        target = torch.from_numpy(rng.integers(0, 5, size=(6, 3))).to(DEVICE)
        weight_shape = (6, 3)
    settings = dict(settings)
    if settings.get("weight") == "random":
        settings["weight"] = torch.from_numpy(rng.uniform(size=weight_shape)).to(device=DEVICE, dtype=dtype)
    results, upstream = {}, None
    for backend in ("torch", "triton"):
        x = logits.clone().requires_grad_(True)
        out = getattr(focalloss, name)(x, target, backend=backend, **settings)
        upstream = _random_like(rng, out) if upstream is None else upstream
        (grad,) = torch.autograd.grad(out, x, upstream)
        results[backend] = out, grad
    torch.testing.assert_close(results["triton"][0], results["torch"][0], **tolerance(dtype))
    torch.testing.assert_close(results["triton"][1], results["torch"][1], **tolerance(dtype))


# --------------------------------------------------------------------------------------------------
# Availability and imports
# --------------------------------------------------------------------------------------------------
def test_available_needs_triton_and_a_device_or_the_interpreter(monkeypatch, rng):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert triton_ops.available()
    monkeypatch.delenv("TRITON_INTERPRET")
    assert triton_ops.available() == CUDA

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "triton" else real_find_spec(name, *args))
    assert not triton_ops.available()
    x, t = _binary_inputs(rng, torch.float32, shape=(4, 5))
    with pytest.raises(ImportError, match=r'pip install "focalloss\[triton\]"'):
        triton_ops.binary_loss("focal", x, t, 0.25, {"gamma": 2.0}, reduce=True)


def test_importing_the_package_and_this_backend_does_not_import_triton():
    code = ("import sys, focalloss, focalloss.backends.triton_ops; focalloss.sigmoid_focal_loss; "
            "print('triton' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False"]


# --------------------------------------------------------------------------------------------------
# Compiled for a GPU without one: the interpreter accepts code that Triton's compiler rejects
# (globals that are not constexpr, loop-carried values that change type, ...)
# --------------------------------------------------------------------------------------------------
COMPILE_FOR_SM90 = """
import itertools
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from focalloss.backends import triton_kernels as kernels

def compile_for_sm90(kernel, types, constants):
    signature = {name: "constexpr" if name in constants else types[name] for name in kernel.arg_names}
    aligned = {(kernel.arg_names.index(name),): [["tt.divisibility", 16]]
               for name, kind in signature.items() if kind.startswith("*")}
    source = ASTSource(kernel, signature, constants, aligned)
    options = {"num_warps": 8, "enable_fp_fusion": True}
    assert triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options).asm["cubin"]

scalars = dict.fromkeys(["alpha_", "p1_", "p2_", "keep_", "spread_"], "fp64")
for x, compute, softmax_kinds in [("bf16", tl.float32, range(3)), ("fp64", tl.float64, [0])]:
    c = "*fp64" if x == "fp64" else "*fp32"
    for kind in range(4):
        types = dict(scalars, x_ptr="*" + x, t_ptr="*" + x, w_ptr=c, out_ptr=c, grad_out_ptr=c,
                     grad_x_ptr="*" + x, numel="i64")
        settings = dict(KIND=kind, HAS_ALPHA=True, HAS_WEIGHT=True, COMPUTE=compute, BLOCK=2048)
        compile_for_sm90(kernels.binary_forward_kernel, types, dict(settings, REDUCE=True))
        compile_for_sm90(kernels.binary_backward_kernel, types, dict(settings, SCALAR_GRAD_OUT=False))
    for kind, (index, smoothing) in itertools.product(softmax_kinds, [(True, False), (True, True), (False, True)]):
        types = dict(scalars, x_ptr="*" + x, target_ptr="*i64" if index else c, alpha_ptr=c, counted_ptr="*u8",
                     loss_ptr=c, stats_ptr=c, grad_out_ptr=c, grad_x_ptr="*" + x, C="i32", S="i32", rows="i32")
        flags = dict(KIND=kind, INDEX_TARGET=index, SMOOTHING=smoothing, HAS_ALPHA=True, HAS_COUNTED=True,
                     COMPUTE=compute, BLOCK_C=32, BLOCK_P=64)
        compile_for_sm90(kernels.softmax_forward_kernel, types, flags)
        compile_for_sm90(kernels.softmax_backward_kernel, types, dict(flags, SCALAR_GRAD_OUT=True))
print("compiled")
"""


def test_kernels_compile_for_sm90_without_a_gpu():
    """Every kernel family and option, bfloat16 and float64 logits, through ptxas to a cubin
    (in a fresh process: this one holds the interpreted kernels)."""
    env = {name: value for name, value in os.environ.items() if name != "TRITON_INTERPRET"}
    result = subprocess.run([sys.executable, "-c", COMPILE_FOR_SM90], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.split() == ["compiled"]


# --------------------------------------------------------------------------------------------------
# CUDA only
# --------------------------------------------------------------------------------------------------
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def _every_path(x_binary, t_binary, x_softmax, index):
    """Forward and backward of each kernel family, the binary sum and both softmax paths."""
    results = []
    for reduce in (False, True):
        x = x_binary.detach().requires_grad_(True)
        out = triton_ops.binary_loss("focal", x, t_binary, 0.25, {"gamma": 2.0}, reduce=reduce)
        out.backward(torch.ones_like(out))
        results += [out.detach(), x.grad]
    for label_smoothing in (0.0, 0.1):
        x = x_softmax.detach().requires_grad_(True)
        out = triton_ops.softmax_loss("focal", x, index, None, {"gamma": 2.0}, label_smoothing=label_smoothing,
                                      counted=index != 3)
        out.sum().backward()
        results += [out.detach(), x.grad]
    return results


def _cuda_inputs():
    generator = torch.Generator(device="cuda").manual_seed(0)
    x_binary = torch.randn(3000, 77, device="cuda", generator=generator).to(torch.bfloat16)
    t_binary = (torch.rand(3000, 77, device="cuda", generator=generator) < 0.1).to(torch.bfloat16)
    x_softmax = torch.randn(300, 5000, device="cuda", generator=generator).to(torch.bfloat16)
    index = torch.randint(0, 5000, (300,), device="cuda", generator=generator)
    return x_binary, t_binary, x_softmax, index


@needs_cuda
def test_cuda_forward_and_backward_do_not_synchronise():
    inputs = _cuda_inputs()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _every_path(*inputs)
    finally:
        torch.cuda.set_sync_debug_mode(0)


@needs_cuda
def test_cuda_results_are_bitwise_reproducible(monkeypatch):
    monkeypatch.undo()  # the default tiles, as used in training
    inputs = _cuda_inputs()
    first, second = _every_path(*inputs), _every_path(*inputs)
    for a, b in zip(first, second):
        assert torch.equal(a, b)


@needs_cuda
def test_cuda_large_vocabulary_keeps_one_logits_sized_buffer(monkeypatch):
    """bf16 logits of 128000 classes: forward and backward allocate the gradient and per-row
    statistics only (the issue's budget: one extra logits-sized buffer)."""
    monkeypatch.undo()
    rows, num_classes = 1024, 128000
    x = torch.randn(rows, num_classes, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    index = torch.randint(0, num_classes, (rows,), device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    triton_ops.softmax_loss("focal", x, index, None, {"gamma": 2.0}, label_smoothing=0.0, counted=None).sum().backward()
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - before
    assert extra <= x.numel() * x.element_size() + 64 * rows + (1 << 20)


@needs_cuda
@pytest.mark.parametrize("num_classes", [128000, 262144])
def test_cuda_large_vocabulary_matches_torch_path(monkeypatch, num_classes):
    monkeypatch.undo()
    generator = torch.Generator(device="cuda").manual_seed(1)
    x = (4 * torch.randn(8, num_classes, device="cuda", generator=generator)).to(torch.bfloat16).requires_grad_(True)
    index = torch.randint(0, num_classes, (8,), device="cuda", generator=generator)
    for label_smoothing in (0.0, 0.1):
        out = triton_ops.softmax_loss("focal", x, index, None, {"gamma": 2.0}, label_smoothing=label_smoothing,
                                      counted=None)
        (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
        x32 = x.detach().float().requires_grad_(True)
        terms = torch_ops.softmax_terms("focal", x32, {"gamma": 2.0})
        expected = (1 - label_smoothing) * terms.gather(1, index[:, None])[:, 0] + (
            label_smoothing / num_classes) * terms.sum(1)
        (expected_grad,) = torch.autograd.grad(expected, x32, torch.ones_like(expected))
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grad.float(), expected_grad, **tolerance(torch.bfloat16))
