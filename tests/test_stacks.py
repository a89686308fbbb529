"""focalloss inside the stacks where focal loss is trained: torch.compile with the defaults,
probabilities passed as logits, and normalizer="positives" over a chosen process group."""

from __future__ import annotations

import sys
import textwrap
import warnings

import pytest
import torch
import torch.distributed as dist

import focalloss as fl
from focalloss import losses

SPECS = list(losses.LOSSES)


def _inputs(spec, gen):
    x = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    if spec.family == "binary":
        return x, (torch.rand(12, 5, generator=gen, dtype=torch.float64) > 0.6).double()
    return x, torch.randint(0, 5, (12,), generator=gen)


# --------------------------------------------------------------------------------------------------
# torch.compile with the defaults: no graph break, fullgraph works, values and gradients as eager
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"normalizer": "positives"}, {"weight": "row"}, {"reduction": "none"}],
                         ids=["defaults", "positives", "weight", "none"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.function)
def test_compile_fullgraph_with_the_defaults_matches_eager(spec, options):
    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(1)
    x, t = _inputs(spec, gen)
    options = dict(options)
    if options.get("weight") == "row":
        options["weight"] = torch.rand(12, 5 if spec.family == "binary" else 1, generator=gen,
                                       dtype=torch.float64).squeeze(-1)
    fn = getattr(fl, spec.function)
    compiled = torch.compile(lambda z, target: fn(z, target, **options), fullgraph=True, backend="eager")
    results = []
    for loss_fn in (compiled, lambda z, target: fn(z, target, **options)):
        z = x.clone().requires_grad_(True)
        loss = loss_fn(z, t)
        (grad,) = torch.autograd.grad(loss.sum(), z)
        results.append((loss.detach(), grad))
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-14)


def test_compile_skips_only_the_value_checks():
    """Under torch.compile the checks that read tensor values are skipped (they would break the
    graph): a target of 2 passes there, and is refused in eager mode."""
    torch._dynamo.reset()
    x, t = torch.randn(3), torch.tensor([0.0, 1.0, 2.0])
    compiled = torch.compile(lambda z, target: fl.sigmoid_focal_loss(z, target), fullgraph=True, backend="eager")
    assert torch.isfinite(compiled(x, t))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]; got 2.0"):
        fl.sigmoid_focal_loss(x, t)
    with pytest.raises(ValueError, match="reduction must be one of"):  # argument checks still run
        torch.compile(lambda z, target: fl.sigmoid_focal_loss(z, target, reduction="avg"), backend="eager")(x, t)


# --------------------------------------------------------------------------------------------------
# Probabilities passed as logits
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, family", [
    (torch.sigmoid, "binary"), (lambda z: torch.softmax(z, 1), "binary"), (lambda z: torch.log_softmax(z, 1), "binary"),
    (torch.nn.functional.logsigmoid, "binary"), (torch.sigmoid, "softmax"), (lambda z: torch.softmax(z, 1), "softmax"),
], ids=["sigmoid", "softmax", "log_softmax", "logsigmoid", "sigmoid-softmax-loss", "softmax-softmax-loss"])
def test_probabilities_passed_as_logits_warn_once_per_call_site(make, family):
    x = torch.randn(6, 4, requires_grad=True)
    t = torch.rand(6, 4) if family == "binary" else torch.randint(0, 4, (6,))
    fn = fl.sigmoid_focal_loss if family == "binary" else fl.softmax_focal_loss
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            fn(make(x), t)  # one call site, three calls
    assert len(caught) == 1
    assert caught[0].filename == __file__ and "take raw scores (logits)" in str(caught[0].message)


def test_module_warning_points_at_the_callers_line():
    x = torch.randn(6, 4, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fl.SigmoidFocalLoss()(torch.sigmoid(x), torch.rand(6, 4))
    assert [w.filename for w in caught] == [__file__]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.function)
def test_logits_from_other_ops_do_not_warn(spec):
    gen = torch.Generator().manual_seed(2)
    x, t = _inputs(spec, gen)
    x = x.requires_grad_(True)
    logits = [x, 2 * x, x.detach(), torch.tanh(x)] + ([torch.log_softmax(x, 1)] if spec.family == "softmax" else [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for z in logits:
            getattr(fl, spec.function)(z, t)


# --------------------------------------------------------------------------------------------------
# normalizer="positives" over a chosen group: only the ranks that compute the loss take part
# --------------------------------------------------------------------------------------------------
def test_local_positives_ignore_the_process_group():
    x, t = torch.randn(8, 3), (torch.rand(8, 3) > 0.5).float()
    local = fl.sigmoid_focal_loss(x, t, normalizer=fl.Positives(group="local"))
    torch.testing.assert_close(local, fl.sigmoid_focal_loss(x, t, normalizer="positives"))
    with pytest.raises(TypeError, match=r"Positives\(group=...\) takes None, 'local' or a torch.distributed"):
        fl.sigmoid_focal_loss(x, t, normalizer=fl.Positives(group="world"))


PIPELINE_SCRIPT = textwrap.dedent("""
    import datetime, os, sys, torch, torch.distributed as dist
    import focalloss as fl
    rank, port = int(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=3,
                            timeout=datetime.timedelta(seconds=30))
    # a pipeline of two stages: rank 0 is stage 0, ranks 1 and 2 the data-parallel last stage
    last_stage = dist.new_group([1, 2])
    torch.manual_seed(0)
    x, t = torch.randn(2, 8, 4, dtype=torch.float64), (torch.rand(2, 8, 4) > 0.7).double()
    if rank > 0:  # only the last stage computes the loss; stage 0 never calls it
        mine = slice(0, 5) if rank == 1 else slice(5, 8)
        out = fl.sigmoid_focal_loss(x[0, mine], t[0, mine], normalizer=fl.Positives(group=last_stage))
        whole = fl.sigmoid_focal_loss(x[0], t[0], normalizer=fl.Positives(group="local"))
        total = out.clone()
        dist.all_reduce(total, group=last_stage)  # mean over the stage's ranks: the loss of the batch
        print("rank", rank, "stage-mean", float(total) / 2, "whole", float(whole), flush=True)
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)
""")


def test_positives_over_the_last_pipeline_stage_do_not_hang(tmp_path):
    pytest.importorskip("torch.distributed")
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with gloo is not available")
    from distributed_helpers import run_ranks

    outputs = run_ranks(lambda rank, port: [sys.executable, "-c", PIPELINE_SCRIPT, str(rank), str(port)],
                        world_size=3, tmp_path=tmp_path, timeout=120)
    lines = [line.split() for output in outputs for line in output.splitlines() if line.startswith("rank")]
    assert sorted(int(line[1]) for line in lines) == [1, 2]
    for line in lines:
        stage_mean, whole = float(line[3]), float(line[5])
        assert stage_mean == pytest.approx(whole, rel=1e-12)
