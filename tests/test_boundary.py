"""Where focalloss meets the rest of PyTorch: other devices, tensor subclasses, higher-order autograd,
masked logits, reduced-precision targets, thread counts, and the inputs that used to crash the
process or give a wrong number without a word. Each test below is built from a reproducer."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_matches_reference, numpy64
from distributed_helpers import MESH_PREAMBLE, run_ranks
import loss_table

import focalloss as fl
from focalloss import backends, reference
from focalloss.backends import cpu_ops, torch_ops
from focalloss.boosting import BinaryFocalObjective, SoftmaxFocalObjective

SIGMOID = [loss.function for loss in loss_table.BINARY]
SOFTMAX = [loss.function for loss in loss_table.SOFTMAX]


def _name(fn):
    return fn.__name__


def _relative_to_largest(actual, expected):
    expected = torch.as_tensor(np.asarray(expected, dtype=np.float64))
    return ((actual.detach().double() - expected).abs().max() / expected.abs().max()).item()


# --------------------------------------------------------------------------------------------------
# The gate into the fused backends: every tensor argument x every property a kernel cannot take
# --------------------------------------------------------------------------------------------------
class _Subclass(torch.Tensor):
    """A tensor subclass (DTensor, FakeTensor and masked tensors are others): no raw memory to trust."""


def _arguments():
    x = torch.randn(4, 3)
    return {"logits": x, "targets": torch.rand(4, 3), "weight": torch.rand(4, 3), "alpha": torch.rand(3),
            "normalizer": torch.tensor(2.0)}


def _subclass(t):
    return t.as_subclass(_Subclass)


def _meta(t):
    return t.to("meta")


def _sparse(t):
    return t.to_sparse()


def _needs_grad(t):
    return t.clone().requires_grad_(True)


def _negated_view(t):
    return torch._neg_view(t)


def _unreadable_dtype(t):
    return t.to(torch.float8_e4m3fn) if t.is_floating_point() else t.to(torch.complex64)


WRONG = {
    "a tensor subclass": (_subclass, "tensor subclass"),
    "on another device": (_meta, "is on meta and the logits on cpu"),
    "not dense": (_sparse, "not a dense tensor"),
    "needs a gradient": (_needs_grad, "requires a gradient"),
    "a negated view": (_negated_view, "negated or conjugated view"),
    "of a dtype the kernels do not read": (_unreadable_dtype, "which the fused kernels do not read"),
}
# every pair but the logits needing a gradient, which is what the kernels compute
CASES = [(argument, wrong) for argument in _arguments() for wrong in WRONG
         if (argument, wrong) != ("logits", "needs a gradient")]


@pytest.mark.parametrize("argument, wrong", CASES)
def test_gate_sends_every_unreadable_argument_to_torch_or_names_it(argument, wrong):
    make, says = WRONG[wrong]
    tensors = _arguments()
    tensors[argument] = make(tensors[argument])
    logits = tensors.pop("logits")
    if argument == "logits" and wrong == "on another device":
        # meta logits: "auto" picks the torch backend; a named fused backend says where it runs
        assert backends.select("auto", logits, **tensors) is torch_ops
        with pytest.raises(ValueError, match=r"backend='cpu' runs on CPU tensors; got logits on meta"):
            backends.select("cpu", logits, **tensors)
        return
    reason = backends.gate(logits, **tensors)
    assert reason is not None and reason.startswith(argument) and says in reason, reason
    assert backends.select("auto", logits, **tensors) is torch_ops
    with pytest.raises(ValueError, match=rf"backend='cpu' cannot compute this call: {argument} "):
        backends.select("cpu", logits, **tensors)


def test_gate_lets_plain_inputs_and_a_cpu_normalizer_in():
    tensors = _arguments()
    logits = tensors.pop("logits").requires_grad_(True)
    assert backends.gate(logits, **tensors) is None
    assert backends.select("auto", logits, **tensors) is cpu_ops
    assert backends.gate(logits.to("meta"), normalizer=torch.tensor(2.0)) is None  # a CPU scalar


def test_gate_refuses_forward_mode_tangents():
    import torch.autograd.forward_ad as fwAD

    x, t = torch.randn(4, 3), torch.rand(4, 3)
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.ones_like(x))
        assert "forward-mode tangent" in backends.gate(dual, targets=t)
        out = fl.sigmoid_focal_loss(dual, t)  # auto: the torch backend, which has a tangent
        tangent = fwAD.unpack_dual(out).tangent
    z = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(fl.sigmoid_focal_loss(z, t, backend="torch"), z)
    torch.testing.assert_close(tangent, grad.sum())


@pytest.mark.parametrize("fn", SIGMOID + SOFTMAX, ids=_name)
def test_tensor_subclass_logits_take_the_torch_backend(fn):
    x, t = (torch.randn(6, 4), torch.rand(6, 4)) if fn in SIGMOID else (torch.randn(6, 4), torch.randint(0, 4, (6,)))
    expected = fn(x, t, backend="torch")
    torch.testing.assert_close(fn(_subclass(x), t).as_subclass(torch.Tensor), expected)
    with pytest.raises(ValueError, match=r"backend='cpu' cannot compute this call: logits is a _Subclass"):
        fn(_subclass(x), t, backend="cpu")


def test_fused_backend_allocates_on_the_logits_device_under_a_default_device():
    x, t = torch.randn(6, 4), torch.rand(6, 4)
    y = torch.randint(0, 4, (6,))
    expected = (fl.sigmoid_focal_loss(x, t, backend="cpu"), fl.softmax_focal_loss(x, y, backend="cpu"))
    with torch.device("meta"):
        got = (fl.sigmoid_focal_loss(x, t, backend="cpu"), fl.softmax_focal_loss(x, y, backend="cpu"))
    torch.testing.assert_close(got, expected)


# --------------------------------------------------------------------------------------------------
# Other devices: a clear error, never a crash (each case in a child process, so that a segfault
# fails the test instead of killing the run)
# --------------------------------------------------------------------------------------------------
DEVICE_SCRIPT = textwrap.dedent("""
    import sys, torch, focalloss as fl
    from focalloss import losses
    SIGMOID = [spec.function for spec in losses.LOSSES if spec.family == "binary"]
    SOFTMAX = [spec.function for spec in losses.LOSSES if spec.family == "softmax"]
    MODULES = {spec.function: spec.module for spec in losses.LOSSES}

    def inputs(name, logits_device, other_device, arg):
        x = torch.randn(8, 5, device=logits_device)
        binary = name.startswith("sigmoid")
        t = {"targets": torch.zeros(8, 5), "probs": torch.full((8, 5), 0.2),
             "index": torch.zeros(8, dtype=torch.long)}
        t = t["targets"] if binary else t["probs" if arg == "probs" else "index"]
        kwargs = {}
        if arg in ("targets", "probs", "index"):
            t = t.to(other_device)
        else:
            t = t.to(logits_device)
        if arg == "weight":
            kwargs["weight"] = torch.ones(8, 5 if binary else 1, device=other_device).squeeze(-1)
        if arg == "alpha" and not binary:
            kwargs["alpha"] = torch.ones(5, device=other_device)
        if arg == "normalizer":
            kwargs["normalizer"] = torch.tensor(2.0, device=other_device)
        return x, t, kwargs

    def call(name, x, t, backend, kwargs):
        if "module" in sys.argv:
            return getattr(fl, MODULES[name])(backend=backend, **kwargs)(x, t)
        return getattr(fl, name)(x, t, backend=backend, **kwargs)

    for name in SIGMOID + SOFTMAX:
        for backend in ("auto", "torch", "cpu", "triton"):
            for logits_device, other_device, arg in [("meta", "meta", "targets"), ("cpu", "meta", "targets"),
                                                     ("cpu", "meta", "probs"), ("cpu", "meta", "index"),
                                                     ("cpu", "meta", "weight"), ("cpu", "meta", "alpha"),
                                                     ("cpu", "meta", "normalizer")]:
                x, t, kwargs = inputs(name, logits_device, other_device, arg)
                try:
                    out = call(name, x, t, backend, kwargs)
                    result = f"ok {out.device}"
                except (ValueError, TypeError, RuntimeError, IndexError, NotImplementedError) as error:
                    result = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                print(name, backend, logits_device, other_device, arg, "->", result, flush=True)
""")


@pytest.mark.parametrize("form", ["function", "module"])
def test_every_loss_and_backend_on_other_devices_errors_cleanly_or_runs(form):
    result = subprocess.run([sys.executable, "-c", DEVICE_SCRIPT, form], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"exit status {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    lines = result.stdout.splitlines()
    assert len(lines) == len(loss_table.LOSSES) * 4 * 7
    for line in lines:
        name, backend, logits_device, other_device, arg, _, *outcome = line.split()
        outcome = " ".join(outcome)
        if logits_device == "meta":  # every tensor on one device: the torch backend computes there
            if backend in ("auto", "torch"):
                assert outcome == "ok meta", line
            else:
                assert outcome.startswith("ValueError: backend=") and "runs on" in outcome, line
        elif arg == "alpha" and name.startswith("sigmoid"):  # a number: nothing on another device
            if backend == "triton":
                assert outcome.startswith("ValueError: backend='triton' runs on CUDA tensors"), line
            else:
                assert outcome == "ok cpu", line
        else:  # checked before any backend is chosen
            argument = arg
            if arg in ("targets", "probs", "index"):
                argument = "targets" if name.startswith("sigmoid") else "target"
            assert outcome.startswith(f"ValueError: {argument} must be on the logits' device"), line


# --------------------------------------------------------------------------------------------------
# DTensor logits on 2 gloo ranks: no crash; the fused kernels are never reached
# --------------------------------------------------------------------------------------------------
DTENSOR_SCRIPT = MESH_PREAMBLE + textwrap.dedent("""
    torch.manual_seed(0)
    x, t, y = torch.randn(8, 6), (torch.rand(8, 6) > 0.5).float(), torch.randint(0, 6, (8,))
    for placement in (Shard(0), Shard(1)):
        dx = distribute_tensor(x, mesh, [placement])
        for name, target in (("sigmoid_focal_loss", t), ("softmax_focal_loss", y)):
            sharded = (placement,) if target.is_floating_point() or placement == Shard(0) else (Replicate(),)
            for backend in ("auto", "cpu"):
                for given, tgt in (("dtensor", distribute_tensor(target, mesh, list(sharded))), ("plain", target)):
                    try:
                        out = getattr(fl, name)(dx, tgt, backend=backend)
                        result = "ok" if torch.isfinite(out.full_tensor()).all() else "not finite"
                    except Exception as error:
                        result = f"{type(error).__name__}: {str(error).splitlines()[0][:150]}"
                    print(placement, name, backend, given, "->", result, flush=True)
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    os._exit(0)  # torch 2.13's gloo may abort in the interpreter's teardown (see test_distributed.py)
""")


def test_dtensor_logits_never_crash(tmp_path):
    """DTensor logits used to reach the C kernels and kill the worker (SIGSEGV). Now they are
    computed shard by shard (or with the classes sharded) on every backend; plain targets of
    sharded logits are refused with the reason. A crash fails run_ranks."""
    pytest.importorskip("torch.distributed.tensor")

    outputs = run_ranks(lambda rank, port: [sys.executable, "-c", DTENSOR_SCRIPT, str(rank), str(port)],
                        world_size=2, tmp_path=tmp_path, timeout=180)
    for output in outputs:
        lines = [line for line in output.splitlines() if "->" in line]
        assert len(lines) == 16, output
        for line in lines:
            if " dtensor ->" in line or line.startswith("S(1) softmax_focal_loss"):  # replicated indices may be plain
                assert line.endswith("-> ok"), line
            else:
                assert "must be a DTensor placed like the logits" in line, line


# --------------------------------------------------------------------------------------------------
# Higher-order autograd: create_graph=True gets a graph on every backend
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("fn", SIGMOID + SOFTMAX, ids=_name)
def test_gradient_penalty_is_the_torch_backends(fn, reduction, backend):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64) * 3
    t = torch.rand(6, 5, generator=g, dtype=torch.float64) if fn in SIGMOID else torch.randint(0, 5, (6,), generator=g)
    weight = torch.rand(6, 5 if fn in SIGMOID else 1, generator=g, dtype=torch.float64).squeeze(-1)
    weight[0] = 0.0
    results = []
    for name in (backend, "torch"):
        z = x.clone().requires_grad_(True)
        loss = fn(z, t, weight=weight, reduction=reduction, backend=name)
        upstream = torch.linspace(0.5, 1.5, loss.numel(), dtype=torch.float64).view(loss.shape)
        (grad,) = torch.autograd.grad(loss, z, upstream, create_graph=True)
        assert grad.requires_grad
        (loss.sum() + 10 * grad.pow(2).sum()).backward()
        results.append((grad.detach(), z.grad))
    torch.testing.assert_close(results[0], results[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("settings", [{}, {"label_smoothing": 0.1}, {"probabilities": True}],
                         ids=["index", "smoothing", "probabilities"])
@pytest.mark.parametrize("fn", SOFTMAX, ids=_name)
def test_softmax_gradient_penalty_with_ignored_positions(fn, settings, backend):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    settings = dict(settings)
    if settings.pop("probabilities", False):
        target = torch.softmax(torch.randn(2, 4, 3, generator=g, dtype=torch.float64), 1)
        weight = torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    else:
        target, weight = torch.tensor([[0, -100, 3], [2, 1, -100]]), None
    x[1, :, 2] = math.nan  # a position that does not count may hold anything
    x[0, :, 1] = math.nan
    penalties = []
    for name in (backend, "torch"):
        z = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(z, target, weight=weight, backend=name, **settings), z, create_graph=True)
        grad.pow(2).sum().backward()
        penalties.append(z.grad)
    assert torch.isfinite(penalties[0]).all()
    torch.testing.assert_close(penalties[0], penalties[1], rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# Masked logits: a class at -inf has probability 0 and, without target mass, contributes nothing
# --------------------------------------------------------------------------------------------------
MASKED = -1e30  # the reference at a finite stand-in for -inf gives the limit


def _masked_rows():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(5, 6, generator=g)
    x[:, 4] = -math.inf
    x[1, 2] = -math.inf
    x[3, [0, 1, 2, 3]] = -math.inf  # one class left: loss 0, gradient 0
    return x, torch.tensor([0, 1, 2, 5, 3])


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("loss", loss_table.SOFTMAX, ids=str)
def test_masked_logits_give_the_limit_with_finite_gradients(loss, gamma, backend):
    x, y = _masked_rows()
    settings = loss.sweep(gamma)
    z = x.clone().requires_grad_(True)
    out = loss.function(z, y, reduction="none", backend=backend, **settings)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(z.grad).all()
    stand_in = numpy64(x)
    stand_in[np.isinf(stand_in)] = MASKED
    assert_matches_reference(out, loss.reference(stand_in, y.numpy(), **settings), torch.float32)
    expected = loss.reference_grad(stand_in, y.numpy(), reduction="sum", **settings)
    assert_matches_reference(z.grad, expected, torch.float32)
    assert (z.grad[3] == 0).all()


def test_masked_logits_reproducer_matches_cross_entropy(backend):
    """x[:, 4] = -inf, targets 0..3: 20 of 20 gradient entries were NaN on backend="torch"."""
    x = torch.randn(4, 5)
    x[:, 4] = -math.inf
    y = torch.tensor([0, 1, 2, 3])
    z, w = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours = fl.softmax_focal_loss(z, y, gamma=0.0, backend=backend)
    ours.backward()
    theirs = F.cross_entropy(w, y)
    theirs.backward()
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(z.grad, w.grad)


def test_masked_logits_with_smoothing_cost_inf_with_a_finite_gradient(backend):
    """Label smoothing puts mass on a masked class: the loss is inf, as for cross_entropy, and the
    gradient stays finite."""
    x = torch.randn(4, 5)
    x[:, 4] = -math.inf
    z = x.clone().requires_grad_(True)
    loss = fl.softmax_focal_loss(z, torch.tensor([0, 1, 2, 3]), gamma=2.0, label_smoothing=0.1, backend=backend)
    loss.backward()
    assert loss.item() == math.inf and torch.isfinite(z.grad).all()


def test_softened_loss_of_a_masked_row_is_its_limit_zero(backend):
    x = torch.randn(4, 5)
    x[:, 4] = -math.inf
    z = x.clone().requires_grad_(True)
    loss = fl.softmax_softened_loss(z, torch.tensor([0, 1, 2, 3]), backend=backend)
    loss.backward()
    assert loss.item() == 0.0 and (z.grad == 0).all()


# --------------------------------------------------------------------------------------------------
# Gradients that are small because a probability is near 1: from the other classes' mass
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, row, gamma", [(torch.float32, [20.0, 0.0, 0.0], 0.5),
                                               (torch.float64, [100.0, 0.0, 0.0], 2.0),
                                               (torch.float32, [0.0, 0.0, 17.0, 1.0], 1.0)])
def test_target_gradient_of_a_saturated_row_keeps_its_digits(dtype, row, gamma, backend):
    x = torch.tensor([row], dtype=dtype, requires_grad=True)
    y = torch.tensor([int(np.argmax(row))])
    fl.softmax_focal_loss(x, y, gamma=gamma, reduction="sum", backend=backend).backward()
    expected = reference.softmax_focal_loss_grad(numpy64(x), y.numpy(), gamma=gamma, reduction="sum")
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(x.grad.double(), torch.as_tensor(expected), rtol=rtol, atol=0.0)
    assert abs(x.grad.double().sum().item()) <= 16 * torch.finfo(dtype).eps * x.grad.abs().max().item()


@pytest.mark.parametrize("target", ["smoothing", "probabilities"])
def test_top_class_gradient_with_dense_targets_keeps_its_digits(target, backend):
    x = torch.tensor([[30.0, 0.0, 1.0, -2.0], [0.5, 22.0, 0.0, 0.0]], requires_grad=True)
    if target == "smoothing":
        t, settings = torch.tensor([0, 1]), {"label_smoothing": 0.05}
    else:
        t, settings = torch.tensor([[0.97, 0.01, 0.01, 0.01], [0.0, 0.999, 0.001, 0.0]]), {}
    fl.softmax_focal_loss(x, t, gamma=1.0, reduction="sum", backend=backend, **settings).backward()
    tn = t.numpy() if target == "smoothing" else numpy64(t)
    expected = reference.softmax_focal_loss_grad(numpy64(x), tn, gamma=1.0, reduction="sum", **settings)
    torch.testing.assert_close(x.grad.double(), torch.as_tensor(expected), rtol=2e-5, atol=1e-7)


def test_reference_gradient_of_a_saturated_row_is_exact():
    """The specification itself formed the target's gradient as g - p g: 0 against -1.24e-129."""
    grad = reference.softmax_focal_loss_grad(np.array([[100.0, 0.0, 0.0]]), np.array([0]), gamma=2.0,
                                             reduction="sum")
    s = 2 * math.exp(-100.0)  # the other classes' mass relative to the target's
    one_minus_p, p, log_p = s / (1 + s), 1 / (1 + s), -math.log1p(s)
    # d phi / d log p = (1 - p)^2 (2 p log p / (1 - p) - 1), times d log p / d x_y = 1 - p
    grad_y = one_minus_p**2 * (2 * p * log_p / one_minus_p - 1) * one_minus_p
    np.testing.assert_allclose(grad[0], [grad_y, -grad_y / 2, -grad_y / 2], rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# Sums over many classes and large logits
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("classes", [1000, 32000])
def test_label_smoothing_over_many_classes_keeps_float32_accuracy(classes):
    """gamma=0, smoothing 0.1, the target 20 above the rest: 3.9e-3 of the largest gradient entry
    on the fused path at C=32000 (cross_entropy: 2.1e-4)."""
    g = torch.Generator().manual_seed(classes)
    x = torch.randn(4, classes, generator=g)
    y = torch.randint(0, classes, (4,), generator=g)
    x[torch.arange(4), y] += 20
    expected = reference.softmax_focal_loss_grad(numpy64(x), y.numpy(), gamma=0.0, label_smoothing=0.1,
                                                 reduction="mean")
    for backend in ("cpu", "torch"):
        z = x.clone().requires_grad_(True)
        fl.softmax_focal_loss(z, y, gamma=0.0, label_smoothing=0.1, backend=backend).backward()
        assert _relative_to_largest(z.grad, expected) < 1e-6, backend


def test_triton_label_smoothing_over_many_classes(triton_interpreter):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5000, generator=g)
    y = torch.tensor([7, 4321])
    x[torch.arange(2), y] += 20
    expected = reference.softmax_focal_loss_grad(numpy64(x), y.numpy(), gamma=0.0, label_smoothing=0.1,
                                                 reduction="mean")
    z = x.clone().requires_grad_(True)
    fl.softmax_focal_loss(z, y, gamma=0.0, label_smoothing=0.1, backend="triton").backward()
    assert _relative_to_largest(z.grad, expected) < 1e-6


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_dense_probability_targets_over_many_classes(gamma):
    """Dirichlet(0.5) targets, 3 x 32000 float32: 8.6e-4 of the largest gradient entry on
    backend="torch" (cross_entropy: 1.0e-7)."""
    g = torch.Generator().manual_seed(8)
    q = torch.distributions.Dirichlet(torch.full((32000,), 0.5)).sample((3,))
    x = torch.randn(3, 32000, generator=g)
    expected = reference.softmax_focal_loss_grad(numpy64(x), numpy64(q), gamma=gamma, reduction="mean")
    for backend in ("torch", "cpu"):
        z = x.clone().requires_grad_(True)
        fl.softmax_focal_loss(z, q, gamma=gamma, backend=backend).backward()
        assert _relative_to_largest(z.grad, expected) < 2e-6, backend


@pytest.mark.parametrize("target", ["index", "smoothing", "probabilities"])
@pytest.mark.parametrize("scale", [1e2, 1e3, 3e4])
def test_softened_loss_at_large_logits(scale, target, backend):
    """k|x| used to cost accuracy: 3.9e-3 relative error at |x| = 1e4, k = 10 on backend="torch",
    and 0.8 % at 3e4 on the fused path with smoothing or probabilities."""
    g = torch.Generator().manual_seed(int(scale))
    x = torch.randn(6, 5, generator=g) * scale
    settings = {"k": 1.0}
    if target == "probabilities":
        t = torch.softmax(torch.randn(6, 5, generator=g), 1)
        tn = numpy64(t)
    else:
        t = torch.randint(0, 5, (6,), generator=g)
        tn = t.numpy()
        if target == "smoothing":
            settings["label_smoothing"] = 0.1
    z = x.clone().requires_grad_(True)
    loss = fl.softmax_softened_loss(z, t, reduction="none", backend=backend, **settings)
    loss.sum().backward()
    assert_matches_reference(loss, reference.softmax_softened_loss(numpy64(x), tn, **settings), torch.float32)
    expected = reference.softmax_softened_loss_grad(numpy64(x), tn, reduction="sum", **settings)
    assert _relative_to_largest(z.grad, expected) < 2e-5


def test_softened_loss_reproducer_rows_near_plus_minus_1e4(backend):
    x = torch.tensor([[-10000.37, -10000.11, -9999.8], [10000.3, 10000.9, 10001.7]], requires_grad=True)
    y = torch.tensor([0, 2])
    loss = fl.softmax_softened_loss(x, y, k=10.0, reduction="none", backend=backend)
    loss.sum().backward()
    expected = reference.softmax_softened_loss(numpy64(x), y.numpy(), k=10.0)
    torch.testing.assert_close(loss.double(), torch.as_tensor(expected), rtol=2e-6, atol=0.0)
    assert _relative_to_largest(x.grad, reference.softmax_softened_loss_grad(
        numpy64(x), y.numpy(), k=10.0, reduction="sum")) < 2e-6


# --------------------------------------------------------------------------------------------------
# Thread counts: a reduced value does not depend on them
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend_name", ["cpu", "torch"])
def test_reduced_values_do_not_depend_on_the_thread_count(backend_name):
    g = torch.Generator().manual_seed(10)
    x = torch.randn(2, 19, 160, 160, generator=g) * 3
    y = torch.randint(0, 19, (2, 160, 160), generator=g)
    xb, tb = torch.randn(1000, 333, generator=g), torch.rand(1000, 333, generator=g)
    wb = torch.rand(333, generator=g)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3, 4):
            torch.set_num_threads(n)
            results.append(torch.stack([
                fl.softmax_focal_loss(x, y, backend=backend_name),
                fl.softmax_focal_loss(x, y, weight=torch.rand(2, 160, 160, generator=torch.Generator().manual_seed(1)),
                                      backend=backend_name),
                fl.sigmoid_focal_loss(xb, tb, weight=wb, backend=backend_name),
                fl.sigmoid_focal_loss(xb, tb, normalizer="positives", backend=backend_name),
                fl.sigmoid_softened_loss(xb, tb, reduction="sum", backend=backend_name),
            ]))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert torch.equal(other, results[0]), (results[0], other)


# --------------------------------------------------------------------------------------------------
# Reduced-precision targets and the remaining validation gaps
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("classes", [2, 10, 1000])
def test_bfloat16_probability_targets_are_accepted(classes):
    """softmax(2 randn).bfloat16() failed the row-sum check in 36-43 % of rows."""
    g = torch.Generator().manual_seed(classes)
    q = torch.softmax(2 * torch.randn(64, classes, generator=g), 1).bfloat16()
    x = torch.randn(64, classes, generator=g)
    loss = fl.softmax_focal_loss(x, q)
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="must sum to 1 over the class dimension"):
        fl.softmax_focal_loss(x, (q.float() * 0.95).bfloat16())


def test_tensor_normalizer_must_be_finite():
    x, t = torch.randn(3), torch.ones(3)
    for bad in (math.inf, math.nan, -math.inf):
        with pytest.raises(ValueError, match=r"normalizer must be finite and > 0; got"):
            fl.sigmoid_focal_loss(x, t, normalizer=torch.tensor(bad))


@pytest.mark.parametrize("dtype, ignore_index, value", [(torch.int8, 255, -1), (torch.uint8, -100, 156),
                                                        (torch.int16, 70000, 4464)])
def test_ignore_index_outside_the_target_dtype_matches_nothing(dtype, ignore_index, value):
    """An index equal to ignore_index after wrapping around (int8 -1 and 255, uint8 156 and -100)
    was ignored silently; now a small dtype behaves as int64 does: an error, or the same loss."""
    x = torch.randn(3, 300)
    target = torch.tensor([0, value, 2])

    def outcome(t):
        try:
            return fl.softmax_focal_loss(x, t, ignore_index=ignore_index)
        except IndexError as error:
            return str(error)

    expected = outcome(target)
    assert outcome(target.to(dtype)) == expected
    assert isinstance(expected, str) == (value < 0 or value >= 300)


def test_small_integer_targets_are_range_checked_against_many_classes():
    x = torch.randn(2, 300)
    torch.testing.assert_close(fl.softmax_focal_loss(x, torch.tensor([100, 120], dtype=torch.int8)),
                               fl.softmax_focal_loss(x, torch.tensor([100, 120])))


@pytest.mark.parametrize("fn", SOFTMAX, ids=_name)
@pytest.mark.parametrize("target", [[0, 1], (0, 1), np.array([0, 1])], ids=["list", "tuple", "ndarray"])
def test_softmax_target_that_is_not_a_tensor(fn, target):
    with pytest.raises(TypeError, match=r"target must be a torch.Tensor of class indices or probabilities; got"):
        fn(torch.randn(2, 3), target)


def test_boosting_label_errors_show_the_bad_value():
    with pytest.raises(ValueError, match=r"got 0.5 at row 1 \(values from 0.0 to 2.0\)"):
        SoftmaxFocalObjective()(np.array([0, 0.5, 2, 1]), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"got nan at row 2"):
        BinaryFocalObjective()(np.array([0.0, 1.0, np.nan]), np.zeros(3))


# --------------------------------------------------------------------------------------------------
# The reference's softmax hessian on saturated rows, computed from log-space quantities
# --------------------------------------------------------------------------------------------------
def test_softmax_hessian_of_a_saturated_row():
    """scores [0, 40, 0, 0, 0], label 0, gamma 0 (cross-entropy): p_1 (1 - p_1) = 1.70e-17; the
    reference gave 4.25e-18 (exact) and 0 (reweighted), and the objective 4.25e-18."""
    scores, label = np.array([[0.0, 40.0, 0.0, 0.0, 0.0]]), np.array([0])
    z = math.exp(40.0) + 4.0
    p = np.array([1.0, math.exp(40.0), 1.0, 1.0, 1.0]) / z
    one_minus_p = np.array([(z - 1.0) / z, 4.0 / z, (z - 1.0) / z, (z - 1.0) / z, (z - 1.0) / z])
    expected = p * one_minus_p
    for hess in (reference.softmax_focal_loss_hess_diag, reference.softmax_focal_loss_reweighted_hess_diag):
        np.testing.assert_allclose(hess(scores, label, gamma=0.0)[0], expected, rtol=1e-12)
    for choice in ("exact", "reweighted", "floored"):
        _, objective = SoftmaxFocalObjective(gamma=0.0, hessian=choice)(label.astype(float), scores)
        np.testing.assert_allclose(objective[0], expected, rtol=1e-12)


@pytest.mark.parametrize("target", ["smoothing", "probabilities"])
def test_softened_loss_with_tied_smallest_logits(target, backend):
    """The class that softmax(-k x) favours most is handled apart; two of them tied share it."""
    x = torch.tensor([[-300.0, -300.0, 5.0, 1.0], [2.0, 2.0, 2.0, -1.0], [0.0, 0.0, 0.0, 0.0]], requires_grad=True)
    if target == "smoothing":
        t, settings, tn = torch.tensor([0, 2, 3]), {"label_smoothing": 0.2}, np.array([0, 2, 3])
    else:
        t = torch.tensor([[0.5, 0.2, 0.2, 0.1], [0.1, 0.1, 0.7, 0.1], [0.25, 0.25, 0.25, 0.25]])
        settings, tn = {}, numpy64(t)
    loss = fl.softmax_softened_loss(x, t, k=2.0, reduction="sum", backend=backend, **settings)
    loss.backward()
    assert_matches_reference(loss, reference.softmax_softened_loss(numpy64(x), tn, k=2.0, reduction="sum",
                                                                   **settings), torch.float32)
    assert_matches_reference(x.grad, reference.softmax_softened_loss_grad(numpy64(x), tn, k=2.0, reduction="sum",
                                                                          **settings), torch.float32)
