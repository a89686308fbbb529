"""The softened softmax loss's gradient where its per-class terms are large: a target logit far (20 to
3000) above close non-target logits, k >= 2, label smoothing or probability targets. The gradient
holds w_j L_j - A (L = -log p), a difference of terms as large as the gap; every backend must form
it from small terms, and so must the float64 reference, which is checked here against an exact
computation in 60-digit arithmetic (mpmath)."""

from __future__ import annotations

import datetime

import mpmath
import numpy as np
import pytest
import torch
import torch.distributed as dist
from distributed_helpers import free_port

import focalloss as fl
from focalloss import reference

mpmath.mp.dps = 60

# error of a gradient entry relative to the row's largest entry, over the sweep below; entries under
# sqrt(tiny) of the dtype are compared absolutely (a row whose whole gradient underflows)
BOUNDS = {torch.float32: 5e-6, torch.float64: 1e-11}


def exact_gradient(x, w, k):
    """d/dx of sum_c w_c softmax(-k x)_c (-log softmax(x)_c), in 60-digit arithmetic."""
    x = [mpmath.mpf(float(v)) for v in x]
    w = [mpmath.mpf(float(v)) for v in w]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in x))
    zu = mpmath.fsum(mpmath.exp(-k * v) for v in x)
    u = [mpmath.exp(-k * v) / zu for v in x]
    p = [mpmath.exp(v - lse) for v in x]
    nll = [lse - v for v in x]
    a = mpmath.fsum(wc * uc * lc for wc, uc, lc in zip(w, u, nll))
    b = mpmath.fsum(wc * uc for wc, uc in zip(w, u))
    return np.array([float(-k * u[j] * (w[j] * nll[j] - a) - w[j] * u[j] + p[j] * b) for j in range(len(x))])


def sweep(seed=0, rows=60):
    """(logits, target, k, label_smoothing, weights) rows: a target far above close other logits."""
    rng = np.random.default_rng(seed)
    for _ in range(rows):
        classes = int(rng.integers(2, 7))
        x = rng.normal(size=classes) * rng.choice([0.3, 1.0, 3.0])
        y = int(rng.integers(classes))
        x[y] += rng.choice([20.0, 300.0, 3000.0]) * rng.choice([1.0, -1.0])
        k = float(rng.choice([0.5, 2.0, 10.0]))
        smoothing = float(rng.choice([0.0, 0.1, 0.5]))
        q = rng.dirichlet(np.ones(classes)) if rng.random() < 0.4 else np.eye(classes)[y]
        yield x, (q if q[y] != 1.0 else y), k, smoothing, (1 - smoothing) * q + smoothing / classes


def relative_error(got, exact, dtype):
    floor = torch.finfo(dtype).tiny ** 0.5
    return float(np.abs(got - exact).max() / max(np.abs(exact).max(), floor))


def test_reference_matches_exact_arithmetic():
    for x, target, k, smoothing, w in sweep():
        got = reference.softmax_softened_loss_grad(x[None], np.atleast_1d(target)[None] if np.ndim(target) else
                                                   np.array([target]), k=k, label_smoothing=smoothing)[0]
        assert relative_error(got, exact_gradient(x, w, k), torch.float64) <= 1e-13, (x, target, k, smoothing)


def _backend_gradient(x, target, k, smoothing, dtype, backend, class_group=None):
    logits = torch.tensor(x[None], dtype=dtype, requires_grad=True)
    t = torch.tensor(target[None], dtype=dtype) if np.ndim(target) else torch.tensor([target])
    fl.softmax_softened_loss(logits, t, k=k, label_smoothing=smoothing, backend=backend,
                             class_group=class_group).backward()
    return logits.grad[0].double().numpy()


@pytest.fixture
def one_rank_group():
    """A gloo group of this process alone, on 127.0.0.1: the class-sharded path with every class here."""
    if not (dist.is_available() and dist.is_gloo_available()) or dist.is_initialized():
        pytest.skip("needs torch.distributed with gloo, not initialized by the test run")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=60))
    try:
        yield dist.group.WORLD
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_gradient_far_target_close_others(backend, dtype):
    worst = 0.0
    for x, target, k, smoothing, w in sweep(rows=40 if backend == "triton" else 60):
        x = torch.tensor(x, dtype=dtype).double().numpy()  # the rounded logits are the input
        if np.ndim(target):
            target = torch.tensor(target, dtype=dtype).double().numpy()
            w = (1 - smoothing) * target + smoothing / len(x)
        got = _backend_gradient(x, target, k, smoothing, dtype, backend)
        worst = max(worst, relative_error(got, exact_gradient(x, w, k), dtype))
    assert worst <= BOUNDS[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_class_sharded_gradient_far_target_close_others(one_rank_group, dtype):
    """The class-sharded path's own formulas (its reductions over one rank), on the same sweep."""
    worst = 0.0
    for x, target, k, smoothing, w in sweep():
        x = torch.tensor(x, dtype=dtype).double().numpy()
        if np.ndim(target):
            target = torch.tensor(target, dtype=dtype).double().numpy()
            w = (1 - smoothing) * target + smoothing / len(x)
        got = _backend_gradient(x, target, k, smoothing, dtype, "auto", class_group=one_rank_group)
        worst = max(worst, relative_error(got, exact_gradient(x, w, k), dtype))
    assert worst <= BOUNDS[dtype]


@pytest.mark.parametrize("gap", [30.0, 3000.0])
def test_issue_reproducer(backend, gap):
    """logits [gap, 0.30, 0.50], target 0, k = 10, label smoothing 0.5: the last entry is 0.0151307
    at any gap; in float32 it was 0.0150373 (torch) and 0.0150920 (cpu) at gap 3000."""
    for dtype in (torch.float32, torch.float64):
        got = _backend_gradient(np.array([gap, 0.30, 0.50]), 0, 10.0, 0.5, dtype, backend)
        assert got[2] == pytest.approx(0.0151307, rel=2e-6)
