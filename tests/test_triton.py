"""What is particular to the Triton backend (``focalloss.backends.triton_ops``): rows that span
several tiles, availability and imports, compiling every kernel for a GPU without one, and the
checks that need CUDA (no host synchronisation, bitwise reproducibility, memory and parity at a
large vocabulary). Its values and gradients against the reference, and through the public API
against backend="torch", are in test_backend_contract, where Triton is one value of the backend
fixture.

Without a GPU the kernels run in Triton's interpreter on CPU tensors, as in CI; with one they run
compiled on CUDA tensors.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import CUDA, import_triton_kernels, tolerance

import_triton_kernels()

from loss_table import BY_NAME, SOFTMAX  # noqa: E402
from test_backend_contract import TARGET_IDS, TARGETS, binary_inputs, check_softmax, softmax_inputs  # noqa: E402

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
from focalloss import losses
from focalloss.backends import triton_kernels as kernels

def compile_for_sm90(kernel, types, constants):
    signature = {name: "constexpr" if name in constants else types[name] for name in kernel.arg_names}
    aligned = {(kernel.arg_names.index(name),): [["tt.divisibility", 16]]
               for name, kind in signature.items() if kind.startswith("*")}
    source = ASTSource(kernel, signature, constants, aligned)
    options = {"num_warps": 8, "enable_fp_fusion": True}
    assert triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options).asm["cubin"]

scalars = dict.fromkeys(["a_pos_", "a_neg_", "p1_", "p2_", "keep_", "spread_", "cut0_", "cut1_", "cut2_", "gamma0_",
                         "gamma1_", "gamma2_", "gamma3_", "p3_"], "fp64")
for x, compute, softmax_kinds in [("bf16", tl.float32, [0, 1, 2, 4, 5]), ("fp64", tl.float64, [0, 4, 5])]:
    c = "*fp64" if x == "fp64" else "*fp32"
    for kind in sorted(spec.code for spec in losses.BINARY.values()):
        types = dict(scalars, x_ptr="*" + x, t_ptr="*" + x, w_ptr=c, out_ptr=c, grad_out_ptr=c,
                     grad_x_ptr="*" + x, numel="i64")
        settings = dict(KIND=kind, HAS_WEIGHT=True, COMPUTE=compute, BLOCK=2048)
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
