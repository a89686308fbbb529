"""torch.compile (inductor, CPU) and CPU autocast (bfloat16) give the eager float32 results.

(a) A compiled loss must match eager in value and in the gradient w.r.t. the logits. With
    ``validate=False`` the whole loss must trace into one graph (``fullgraph=True``); with the default
    ``validate=None`` graph breaks are allowed, but values, gradients and validation errors must be
    those of eager.
(b) Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` a Linear layer produces bfloat16 logits. The
    loss computed inside the region must be finite, bfloat16, and equal the loss computed outside on
    the same logits in float32: autocast must not lower the library's internal float32 arithmetic.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
import loss_table
from conftest import tolerance
from torch import nn

import focalloss

# torch's own compile machinery warns about its deprecated torch.jit internals; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

F32 = tolerance(torch.float32)
BF16 = tolerance(torch.bfloat16)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield
    torch._dynamo.reset()


# --------------------------------------------------------------------------------------------------
# Inputs (float32, CPU, fixed seed)
# --------------------------------------------------------------------------------------------------
def _sigmoid_inputs():
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(64, 10, generator=g) * 3.0
    targets = (torch.rand(64, 10, generator=g) < 0.2).float()
    targets[:8] = torch.rand(8, 10, generator=g)  # some soft targets too
    weight = torch.rand(64, 10, generator=g) + 0.5
    weight[::7, 2] = 0.0
    return logits, targets, weight


def _softmax_inputs():
    g = torch.Generator().manual_seed(12)
    logits = torch.randn(4, 5, 8, 8, generator=g) * 3.0
    target = torch.randint(0, 5, (4, 8, 8), generator=g)
    target[0, :3, :] = -100
    target[2, 5, 1:4] = -100
    return logits, target


def sigmoid_focal(x, t, w, validate):
    return focalloss.sigmoid_focal_loss(
        x, t, alpha=0.25, gamma=2.0, weight=w, normalizer="positives", validate=validate
    )


def softmax_focal(x, t, validate):
    return focalloss.softmax_focal_loss(
        x, t, alpha=[1.0, 2.0, 0.5, 1.5, 1.0], gamma=2.0, label_smoothing=0.1, validate=validate
    )


def softmax_softened_none(x, t, validate):
    return focalloss.softmax_softened_loss(x, t, k=1.5, reduction="none", validate=validate)


def _value_and_grad(fn, logits, *args):
    x = logits.clone().requires_grad_()
    out = fn(x, *args)
    # A fixed, non-uniform cotangent so that a per-element ("none") output is fully exercised.
    cotangent = torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
    (grad,) = torch.autograd.grad(out, x, cotangent)
    return out.detach(), grad


def _assert_compiled_matches_eager(fn, logits, *args, fullgraph):
    eager_out, eager_grad = _value_and_grad(fn, logits, *args)
    compiled = torch.compile(fn, backend="inductor", fullgraph=fullgraph)
    out, grad = _value_and_grad(compiled, logits, *args)
    # The compiled path really ran: dynamo captured at least one graph.
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1
    assert torch.isfinite(eager_out).all() and eager_grad.abs().sum() > 0
    assert out.dtype == eager_out.dtype == logits.dtype and out.shape == eager_out.shape
    torch.testing.assert_close(out, eager_out, **F32)
    torch.testing.assert_close(grad, eager_grad, **F32)
    return compiled


# --------------------------------------------------------------------------------------------------
# (a) torch.compile
# --------------------------------------------------------------------------------------------------
def test_compile_sigmoid_focal_loss_fullgraph():
    logits, targets, weight = _sigmoid_inputs()
    _assert_compiled_matches_eager(sigmoid_focal, logits, targets, weight, False, fullgraph=True)


def test_compile_softmax_focal_loss_fullgraph():
    logits, target = _softmax_inputs()
    _assert_compiled_matches_eager(softmax_focal, logits, target, False, fullgraph=True)


def test_compile_softmax_softened_loss_fullgraph():
    logits, target = _softmax_inputs()
    _assert_compiled_matches_eager(softmax_softened_none, logits, target, False, fullgraph=True)


def test_compile_a_model_and_its_loss_together_fullgraph():
    """The logits are made inside the compiled function, as in a training step that compiles the model
    with its loss, so they carry a grad_fn while traced; the check for probabilities passed as logits
    (which reads grad_fn) stays out of the graph."""
    logits, target = _softmax_inputs()

    def scores_then_loss(x, t, validate):
        return softmax_focal(2.0 * x - 1.0, t, validate)

    _assert_compiled_matches_eager(scores_then_loss, logits, target, None, fullgraph=True)


def test_compile_sigmoid_focal_loss_default_validate():
    """validate=None compiles without a graph break (fullgraph): the value checks are skipped while
    tracing; validate=True still runs them inside the compiled function (with graph breaks)."""
    logits, targets, weight = _sigmoid_inputs()
    _assert_compiled_matches_eager(sigmoid_focal, logits, targets, weight, None, fullgraph=True)
    compiled = _assert_compiled_matches_eager(sigmoid_focal, logits, targets, weight, True, fullgraph=False)
    bad = targets.clone()
    bad[3, 4] = 1.5
    with pytest.raises(ValueError):
        focalloss.sigmoid_focal_loss(logits, bad, weight=weight, normalizer="positives")
    with pytest.raises(ValueError):
        compiled(logits, bad, weight, True)


def test_compile_softmax_focal_loss_default_validate():
    logits, target = _softmax_inputs()
    _assert_compiled_matches_eager(softmax_focal, logits, target, None, fullgraph=True)
    compiled = _assert_compiled_matches_eager(softmax_focal, logits, target, True, fullgraph=False)
    bad = target.clone()
    bad[1, 2, 3] = 5  # out of range, not ignore_index
    with pytest.raises(IndexError):
        softmax_focal(logits, bad, None)
    with pytest.raises(IndexError):
        compiled(logits, bad, True)


# --------------------------------------------------------------------------------------------------
# (b) autocast
# --------------------------------------------------------------------------------------------------
def _model(out_features):
    torch.manual_seed(3)
    model = nn.Linear(6, out_features)
    with torch.no_grad():
        model.weight.mul_(4.0)
    return model


# inputs (features of a Linear with 4 outputs, targets) and options of each family; the loss's own
# hyperparameters are its sweep at strength 2 (the test table's)
AUTOCAST_FAMILIES = {
    "binary": (
        lambda g: (torch.randn(32, 6, generator=g), (torch.rand(32, 4, generator=g) < 0.3).float()),
        {"normalizer": "positives"},
    ),
    "softmax": (
        lambda g: (
            torch.randn(32, 6, generator=g),
            torch.where(torch.arange(32) % 5 == 0, -100, torch.randint(0, 4, (32,), generator=g)),
        ),
        {"alpha": [1.0, 0.5, 2.0, 1.0], "label_smoothing": 0.05},
    ),
}


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=str)
def test_autocast_bfloat16(loss):
    make_inputs, options = AUTOCAST_FAMILIES[loss.family]
    loss_fn, kwargs = loss.function, {**loss.sweep(2.0), **options}
    inputs, targets = make_inputs(torch.Generator().manual_seed(5))
    model = _model(4)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(inputs)
        out = loss_fn(logits, targets, **kwargs)
        per_element = loss_fn(logits.detach(), targets, **kwargs, reduction="none")
        # float32 logits inside the region: the result must be the float32 computation, unlowered.
        loss32_inside = loss_fn(logits.detach().float(), targets, **kwargs)
    assert logits.dtype == torch.bfloat16  # autocast really lowered the Linear
    assert out.dtype == logits.dtype
    assert torch.isfinite(out)

    outside = loss_fn(logits.detach().float(), targets, **kwargs)
    assert outside.dtype == torch.float32
    torch.testing.assert_close(out.float(), outside, **BF16)
    # Stronger: the float32 result rounded once to bfloat16. Arithmetic done in bfloat16 inside
    # (lowered by autocast or by the library) would round many times and miss this.
    torch.testing.assert_close(out, outside.to(torch.bfloat16), rtol=0, atol=0)
    outside_per_element = loss_fn(logits.detach().float(), targets, **kwargs, reduction="none")
    assert per_element.dtype == torch.bfloat16 and per_element.shape == outside_per_element.shape
    torch.testing.assert_close(per_element.float(), outside_per_element, **BF16)
    torch.testing.assert_close(per_element, outside_per_element.to(torch.bfloat16), rtol=0, atol=0)
    torch.testing.assert_close(loss32_inside, outside, **F32)
    assert loss32_inside.dtype == torch.float32

    out.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.dtype == torch.float32, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname

    # The same gradient as the float32 model outside autocast, to bfloat16's precision (the Linear
    # itself runs in bfloat16, hence the looser, still discriminating, tolerance).
    ref = _model(4)
    loss_fn(ref(inputs), targets, **kwargs).backward()
    for (pname, p), q in zip(model.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=5e-2, atol=5e-3, msg=lambda m, n=pname: f"{n}: {m}")


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=str)
def test_compile_fullgraph_with_a_model_head(loss):
    """The logits come out of a Linear layer inside the compiled step (they have a grad_fn), as in
    any model: the probabilities-as-logits check read ``grad_fn``, which dynamo cannot trace, so
    ``fullgraph=True`` failed for every loss and module. Values and the layer's gradients equal eager."""
    make_inputs, options = AUTOCAST_FAMILIES[loss.family]
    kwargs = {**loss.sweep(2.0), **options}
    inputs, targets = make_inputs(torch.Generator().manual_seed(6))
    module = loss.module(**kwargs)

    def step(model):
        logits = model(inputs)
        return loss.function(logits, targets, **kwargs) + module(logits, targets)

    results = []
    for run in (step, torch.compile(step, backend="inductor", fullgraph=True)):
        model = _model(4)
        out = run(model)
        out.backward()
        results.append((out.detach(), [p.grad for p in model.parameters()]))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1
    (eager, eager_grads), (compiled, compiled_grads) = results
    torch.testing.assert_close(compiled, eager, **F32)
    for got, expected in zip(compiled_grads, eager_grads):
        torch.testing.assert_close(got, expected, **F32)
