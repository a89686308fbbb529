"""What is particular to the Triton backend (``focalloss.backends.triton_ops``): rows that span
several tiles (a first tile of masked classes included), one class or one element, the softened loss
where its products round, availability, imports and the Triton floor, and the checks that need CUDA
(no host synchronisation, bitwise reproducibility, memory and parity at a large vocabulary). Its
values and gradients against the reference, and through the public API against backend="torch",
are in test_backend_contract, where Triton is one value of the backend fixture; the kernels compiled
for GPUs, on the lowest and the newest Triton, in test_triton_compiled.

Without a GPU the kernels run in Triton's interpreter on CPU tensors, as in CI; with one they run
compiled on CUDA tensors.
"""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CUDA, assert_matches_reference, import_triton_kernels, tolerance

import_triton_kernels()

from loss_table import BINARY, BY_NAME, SOFTMAX  # noqa: E402
from test_backend_contract import TARGET_IDS, TARGETS, binary_inputs, check_softmax, softmax_inputs  # noqa: E402
from test_backend_contract import _binary_reference as binary_reference  # noqa: E402

from focalloss.backends import torch_ops, triton_ops  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
pytestmark = pytest.mark.usefixtures("triton_interpreter")


# --------------------------------------------------------------------------------------------------
# Tiles: values and gradients of every backend, Triton's included, are in test_backend_contract
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rows, target_kind, label_smoothing", [(41, "index", 0.0), (7, "probs", 0.1)])
def test_softmax_many_classes_long_rows(rng, monkeypatch, rows, target_kind, label_smoothing):
    """1271 classes (an odd C) in tiles of 512: the online log-sum-exp spans three tiles. (Fewer rows
    for the two-pass path: the interpreter is slow.)"""
    monkeypatch.setattr(triton_ops, "_TILE_ELEMENTS", 512)
    inputs = softmax_inputs(rng, (rows, 1271), torch.float32, target_kind, alpha=True, device=DEVICE)
    check_softmax(rng, "triton", BY_NAME["softmax_focal_loss"], {"gamma": 2.0}, inputs, label_smoothing, torch.float32)


# Params of each softmax loss for the tests below: the defaults, softened at k = 2.5 (k = 1 and 0.5 make
# its products exact and hide rounding)
SOFTMAX_PARAMS = [pytest.param(loss, dict(loss.spec.defaults, **({"k": 2.5} if loss.kind == "softened" else {})),
                               id=loss.kind) for loss in SOFTMAX]


def _against_torch_path(kind, params, x, target, label_smoothing, dtype=torch.float64):
    """Triton's loss and gradient (random upstream) against the torch backend's on the same inputs."""
    upstream = torch.from_numpy(np.random.default_rng(7).uniform(size=x.shape[:1] + x.shape[2:])).to(dtype)
    results = []
    for ops in (triton_ops, torch_ops):
        z = x.to(dtype).requires_grad_(True)
        out = ops.softmax_loss(kind, z, target, None, params, label_smoothing=label_smoothing, counted=None)
        (grad,) = torch.autograd.grad(out, z, upstream)
        results.append((out, grad))
    (out, grad), (expected, expected_grad) = results
    assert not out.isnan().any() and torch.isfinite(grad).all()
    torch.testing.assert_close(out, expected, **tolerance(dtype))
    torch.testing.assert_close(grad, expected_grad, **tolerance(dtype))


@pytest.mark.parametrize("shape", [(3, 70), (2, 20, 3)], ids=["rows", "positions"])
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("loss, params", SOFTMAX_PARAMS)
def test_softmax_first_tile_of_classes_all_masked(rng, loss, params, shape, target_kind, label_smoothing):
    """The first C / 2 + 5 classes at -inf, more than a tile (32 classes of (N, C) rows, 8 of (N, C, d)
    positions with the tests' tiles): the running maximum stays -inf through the first tile. The
    probability-target and smoothing paths gave NaN (exp(-inf + inf)); a masked class with target mass
    costs inf (smoothing), as on the torch path."""
    x = torch.from_numpy(rng.normal(scale=3.0, size=shape))
    masked = shape[1] // 2 + 5
    x[:, :masked] = -math.inf
    positions = shape[:1] + shape[2:]
    if target_kind == "index":
        target = torch.from_numpy(rng.integers(masked, shape[1], size=positions))
    else:
        target = torch.from_numpy(np.moveaxis(rng.dirichlet(np.full(shape[1] - masked, 0.3), size=positions), -1, 1))
        target = torch.cat([torch.zeros(positions[:1] + (masked,) + positions[1:], dtype=target.dtype), target], 1)
    _against_torch_path(loss.kind, params, x.to(DEVICE), target.to(DEVICE), label_smoothing)


# the production tiles, read before any test lowers them (fixture triton_interpreter)
PRODUCTION_TILES = {name: getattr(triton_ops, name)
                    for name in ("_TILE_ELEMENTS", "_SPATIAL_TILE_ELEMENTS", "_MAX_BLOCK_POSITIONS")}


@pytest.mark.parametrize("shape, masked", [((2, 4200), 4100), ((2, 40, 32), 36)], ids=["rows", "positions"])
@pytest.mark.parametrize("loss, params", SOFTMAX_PARAMS)
def test_softmax_first_tile_all_masked_at_production_tiles(monkeypatch, rng, loss, params, shape, masked):
    """The issue's cases at the production tiles: the first 4096 of 4200 classes masked ((N, C) rows), and
    the first 32 classes of (N, C, d) positions, 64 to a tile; one path, smoothed probabilities, where
    both NaN paths meet (the interpreter is slow at 4096 classes a tile; every path is tested above)."""
    for name, value in PRODUCTION_TILES.items():
        monkeypatch.setattr(triton_ops, name, value)
    assert triton_ops._softmax_tiles(shape[1], math.prod(shape[2:]), shape[0] * math.prod(shape[2:]))[0] < masked
    x = torch.from_numpy(rng.normal(scale=3.0, size=shape))
    x[:, :masked] = -math.inf
    target = torch.zeros(shape, dtype=torch.float64)
    target[:, masked:] = 1.0 / (shape[1] - masked)
    _against_torch_path(loss.kind, params, x.to(DEVICE), target.to(DEVICE), 0.1)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("loss, params", SOFTMAX_PARAMS)
def test_softmax_masked_class_with_target_mass_costs_inf_with_a_finite_gradient(rng, loss, params, label_smoothing):
    """Row 0's target class is masked, and smoothing puts mass on the masked class of every row: the
    loss is inf with the torch path's finite gradient. The adaptive focal loss gave NaN (its gamma
    was read as log p * 0 + gamma_0, NaN at log p = -inf), the softened one NaN gradients (k u (w L - A)
    is inf - inf in a row whose u is its constant limit)."""
    x = torch.from_numpy(rng.normal(scale=3.0, size=(3, 6)))
    x[:, 5] = -math.inf
    _against_torch_path(loss.kind, params, x.to(DEVICE), torch.tensor([5, 0, 3], device=DEVICE), label_smoothing)


@pytest.mark.parametrize("shape", [(3, 1), (2, 1, 3)], ids=["rows", "positions"])
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("loss, params", SOFTMAX_PARAMS)
def test_softmax_one_class(rng, loss, params, shape, target_kind, label_smoothing):
    """C == 1: p = 1, the loss and its gradient 0 (compiled, a C of 1 is bound as a constant: the
    compile test builds these kernels)."""
    inputs = softmax_inputs(rng, shape, torch.float64, target_kind, device=DEVICE)
    out, grad = check_softmax(rng, "triton", loss, params, inputs, label_smoothing, torch.float64)
    assert (out == 0).all() and (grad == 0).all()


@pytest.mark.parametrize("reduce", [False, True], ids=["elementwise", "sum"])
@pytest.mark.parametrize("loss", BINARY, ids=str)
def test_binary_one_element(loss, reduce):
    """One logit, (1, 1): the kernels' element count is bound as the constant 1 when compiled."""
    kwargs = loss.settings[0].kwargs
    for value, label in [(2.5, 1.0), (-1.5, 0.0), (0.5, 0.3)]:
        x = torch.tensor([[value]], dtype=torch.float64, device=DEVICE, requires_grad=True)
        t = torch.tensor([[label]], dtype=torch.float64, device=DEVICE)
        out = triton_ops.binary_loss(loss.kind, x, t, loss.alpha(kwargs), loss.params(kwargs), reduce=reduce)
        assert_matches_reference(out, binary_reference(loss, kwargs, x, t, reduce), torch.float64)
        (grad,) = torch.autograd.grad(out, x, torch.full_like(out, 0.7))
        expected = binary_reference(loss, kwargs, x, t, reduce, torch.full_like(out, 0.7))
        assert_matches_reference(grad, expected, torch.float64)


@pytest.mark.parametrize("k", [2.5, 10.0])
@pytest.mark.parametrize("shape", [(5, 37), (2, 11, 3)], ids=["rows", "positions"])
@pytest.mark.parametrize("target_kind, label_smoothing", TARGETS, ids=TARGET_IDS)
def test_softmax_softened_beyond_exact_products(rng, k, shape, target_kind, label_smoothing):
    """The softened loss at k other than 0.5 and 1, where -k x is rounded, in float32 and float64."""
    for dtype in (torch.float64, torch.float32):
        inputs = softmax_inputs(rng, shape, dtype, target_kind, device=DEVICE)
        check_softmax(rng, "triton", BY_NAME["softmax_softened_loss"], {"k": k}, inputs, label_smoothing, dtype)


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
    x, t = binary_inputs(rng, torch.float32, shape=(4, 5), device=DEVICE)
    with pytest.raises(ImportError, match=r'pip install "focalloss\[triton\]"'):
        triton_ops.binary_loss("focal", x, t, 0.25, {"gamma": 2.0}, reduce=True)


@pytest.mark.parametrize("version, too_old", [("3.0.0", True), ("3.3.1", True), ("3.4.0", False),
                                              ("3.4.0+git1a2b3c", False), ("3.10.0", False), ("4.0.0", False)])
def test_a_triton_older_than_the_floor_is_refused_and_auto_falls_back_saying_why(monkeypatch, rng, version, too_old):
    """Before 3.4 float64 hyperparameters are bound as float32 and the adaptive focal kernels do not
    compile: backend="triton" says so, backend="auto" runs on the torch backend with a warning."""
    import triton

    from focalloss import backends
    from focalloss.backends import selection

    monkeypatch.setattr(triton, "__version__", version)
    monkeypatch.setattr(selection, "_fits", lambda name, logits, named: name == "triton")  # as CUDA tensors
    x, t = binary_inputs(rng, torch.float32, shape=(4, 5), device=DEVICE)
    if not too_old:
        assert triton_ops.unsupported_triton() is None and triton_ops.available()
        assert backends.select("auto", x, t) is triton_ops
        return
    reason = rf"needs triton>=3\.4 .*; triton {re.escape(version)} is installed"
    with pytest.raises(ImportError, match=reason):
        triton_ops.available()
    with pytest.raises(RuntimeError, match=reason):
        backends.select("triton", x, t)
    with pytest.warns(UserWarning, match="backend='auto' runs this call on the torch backend: .*" + reason):
        assert backends.select("auto", x, t) is torch_ops


def test_the_triton_extra_asks_for_the_floor_the_kernels_need():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    floor = "triton>={}.{}".format(*triton_ops.MIN_TRITON)
    # the test extra may add an environment marker (Triton's wheels are Linux's)
    assert extras["triton"] == [floor] and floor in [entry.split(";")[0].strip() for entry in extras["test"]]


def test_importing_the_package_and_this_backend_does_not_import_triton():
    code = ("import sys, focalloss, focalloss.backends.triton_ops; focalloss.sigmoid_focal_loss; "
            "print('triton' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False"]


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
