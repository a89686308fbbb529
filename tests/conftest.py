"""Shared test settings: the one tolerance table, thread limits, and helpers to compare with the reference."""

from __future__ import annotations

import importlib
import os
import signal
import time

import numpy as np
import pytest
import torch

from focalloss import backends

# scripts that test_typing.py hands to mypy; one of them holds deliberate mistakes, never to be imported
collect_ignore = ["typing"]

torch.set_num_threads(min(2, torch.get_num_threads()))

# (rtol, atol) for comparing a result computed in `dtype` with the float64 reference.
TOLERANCES = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (2e-5, 2e-6),
    torch.bfloat16: (2e-2, 2e-3),
    torch.float16: (2e-3, 2e-4),
}


def tolerance(dtype):
    rtol, atol = TOLERANCES[dtype]
    return {"rtol": rtol, "atol": atol}


def assert_matches_reference(actual, expected, dtype, tol=None):
    """Compare a torch result with a NumPy float64 reference at the tolerance of `dtype` (or `tol`)."""
    expected = torch.as_tensor(np.asarray(expected, dtype=np.float64))
    torch.testing.assert_close(actual.detach().double().cpu(), expected, check_dtype=False,
                               **(tol or tolerance(dtype)))


def numpy64(tensor):
    return tensor.detach().double().cpu().numpy()


def check_against_reference(loss, logits, target, *, weight=None, tol=None, **settings):
    """A loss of the test table (loss_table.Loss): its public function forward, and backward with a
    random upstream gradient, against its reference.

    The reference runs in float64 on the same (already rounded) inputs, so the comparison measures
    the computation at the tolerance of the logits' dtype (or `tol`), not the rounding of the inputs.
    """
    dtype = logits.dtype
    logits = logits.detach().clone().requires_grad_(True)
    out = loss.function(logits, target, weight=weight, **settings)
    assert out.dtype == dtype
    x = numpy64(logits)
    t = numpy64(target) if target.is_floating_point() else target.numpy()
    w = None if weight is None else numpy64(weight)
    assert_matches_reference(out, loss.reference(x, t, weight=w, **settings), dtype, tol)

    upstream = torch.rand_like(out, dtype=torch.float64).to(dtype)
    (grad,) = torch.autograd.grad(out, logits, upstream)
    assert grad.dtype == dtype
    expected = loss.reference_grad(x, t, weight=w, grad_output=numpy64(upstream), **settings)
    assert_matches_reference(grad, expected, dtype, tol)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


BACKENDS_ON_CPU = ["torch", "cpu"]


@pytest.fixture(params=BACKENDS_ON_CPU)
def each_backend(request, monkeypatch):
    """Runs a test once per CPU backend, by making ``backend="auto"`` resolve to that backend.

    The fused CPU kernels are built by every install on a machine with a C compiler (CI included),
    so an unavailable backend fails the test instead of skipping it.
    """
    original = backends.select

    def select(name, *args, **kwargs):
        return original(request.param if name == "auto" else name, *args, **kwargs)

    monkeypatch.setattr(backends, "select", select)
    return request.param


# --------------------------------------------------------------------------------------------------
# backend="triton" without a GPU: Triton's interpreter on CPU tensors
# --------------------------------------------------------------------------------------------------
CUDA = torch.cuda.is_available()


def import_triton_kernels():
    """Without a GPU, (re)import the kernel module under TRITON_INTERPRET=1: Triton makes a kernel
    an interpreted one when it is defined. The variable is restored for the rest of the suite and
    set again while a test that needs it runs (fixture triton_interpreter), as triton reads it at
    launch too. The kernels use no jit function of triton's own library, so whether triton itself
    was imported before in compiled mode (torch._dynamo imports it) does not matter."""
    pytest.importorskip("triton")
    if CUDA:
        return
    from triton.runtime.interpreter import InterpretedFunction

    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        kernels = importlib.import_module("focalloss.backends.triton_kernels")
        if not isinstance(kernels.binary_forward_kernel, InterpretedFunction):
            importlib.reload(kernels)
    finally:
        if saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = saved


@pytest.fixture
def triton_interpreter(monkeypatch):
    """backend="triton" runs here: compiled on a GPU, else in the interpreter on CPU tensors, with
    tiles far below the defaults so that passes over the classes cross several tiles (the online
    log-sum-exp carries over), tiles of positions straddle samples, and the interpreter stays fast."""
    import_triton_kernels()
    from focalloss.backends import triton_ops

    if not CUDA:
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(triton_ops, "_TILE_ELEMENTS", 32)
    monkeypatch.setattr(triton_ops, "_SPATIAL_TILE_ELEMENTS", 32)
    monkeypatch.setattr(triton_ops, "_MAX_BLOCK_POSITIONS", 4)
    monkeypatch.setattr(triton_ops, "_BINARY_BLOCK", 128)
    # The interpreter evaluates whole tiles in NumPy, including the -inf padding past the last class
    # and lanes that a where() then discards, and NumPy warns about those. Every value that comes
    # out is checked by the tests.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        yield


@pytest.fixture(params=["torch", "cpu", "triton"])
def backend(request):
    """Runs a test once per backend that runs here: torch, the fused CPU kernels, and Triton
    (fixture triton_interpreter). Parametrise it indirectly to run a subset of cases on one."""
    if request.param == "triton":
        request.getfixturevalue("triton_interpreter")
    return request.param


def forked_child_succeeds(prepare, check, *, threads=2, timeout=60):
    """Whether a child forked right after ``prepare()`` ran on ``threads`` torch threads (restored in
    the parent) gets ``check(prepare's result)`` true within ``timeout`` seconds; a child that hangs
    (GNU libgomp's pool is not there after fork) is killed."""
    saved, pid = torch.get_num_threads(), -1
    torch.set_num_threads(threads)
    try:
        state = prepare()
        pid = os.fork()
    finally:
        if pid != 0:
            torch.set_num_threads(saved)
    if pid == 0:
        code = 1
        try:
            signal.alarm(timeout)
            code = 0 if check(state) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0
