"""Tensor parallel on 2 gloo ranks: logits sharded over the classes (a plain local shard with
class_group, or a Shard(1) DTensor) and over the batch (a Shard(0) DTensor) give the loss and the
gradients of one process on the whole logits."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
import torch.distributed as dist
from distributed_helpers import MESH_PREAMBLE, run_ranks

import focalloss as fl

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed with gloo is not available"
)

WORKER = MESH_PREAMBLE + textwrap.dedent("""

    def gap(got, expected):  # the largest error relative to the largest entry, over the tensors
        return max(float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30))
                   for a, b in zip(got, expected))

    def report(label, got, expected):
        print("case", label.replace(" ", "_"), gap(got, expected), flush=True)

    for C in (6, 7):  # 7: the ranks hold 4 and 3 classes
        g = torch.Generator().manual_seed(C)
        x = torch.randn(5, C, 3, generator=g) * 3
        x[0, 1, 0] = 40.0  # a saturated position
        y = torch.randint(0, C, (5, 3), generator=g)
        y[0, 0], y[2, 1] = 1, -100
        q = torch.softmax(torch.randn(5, C, 3, generator=g), 1)
        w = torch.rand(5, 3, generator=g)
        w[4, 2] = 0.0
        alpha = torch.rand(C, generator=g) + 0.5
        sizes = [(C + 1) // 2, C // 2]
        lo = sum(sizes[:rank])
        mine = slice(lo, lo + sizes[rank])
        for name in ("softmax_focal_loss", "softmax_softened_loss", "softmax_hard_truncation_loss",
                     "softmax_poly1_focal_loss", "softmax_adaptive_focal_loss"):
            fn = getattr(fl, name)
            cases = [("index", {}, y), ("smoothing", {"label_smoothing": 0.1}, y),
                     ("alpha-weight", {"alpha": alpha, "weight": w}, y), ("probabilities", {}, q),
                     ("none", {"reduction": "none"}, y), ("positives", {"normalizer": "positives"}, y),
                     ("sum-gamma0.5", {"reduction": "sum", **({"gamma": 0.5} if name == "softmax_focal_loss" else {})}, y)]
            for label, options, target in cases:
                whole = x.clone().requires_grad_(True)
                expected = fn(whole, target, **options)
                expected.sum().backward()
                local = x[:, mine].clone().requires_grad_(True)
                got = fn(local, target[:, mine] if target.is_floating_point() else target,
                         class_group=dist.group.WORLD, **options)
                got.sum().backward()
                report(f"{name} C={C} {label} class_group", [got, local.grad], [expected, whole.grad[:, mine]])
                dx = distribute_tensor(x.clone(), mesh, [Shard(1)]).requires_grad_(True)
                dt = distribute_tensor(target, mesh, [Shard(1) if target.is_floating_point() else Replicate()])
                options = dict(options)
                if "weight" in options:
                    options["weight"] = distribute_tensor(w, mesh, [Replicate()])
                out = fn(dx, dt, **options)
                out.sum().backward()
                report(f"{name} C={C} {label} DTensor-Shard(1)", [out.full_tensor(), dx.grad.full_tensor()],
                       [expected, whole.grad])
        xb, yb = torch.randn(6, C, generator=g), torch.randint(0, C, (6,), generator=g)
        tb = (torch.rand(6, C, generator=g) > 0.6).float()
        for name, target, dims in (("softmax_focal_loss", yb, (0,)), ("sigmoid_focal_loss", tb, (0, 1))):
            fn = getattr(fl, name)
            for dim in dims:
                for label, options in (("mean", {}), ("sum", {"reduction": "sum"}), ("none", {"reduction": "none"}),
                                       ("positives", {"normalizer": "positives"})):
                    whole = xb.clone().requires_grad_(True)
                    expected = fn(whole, target, **options)
                    expected.sum().backward()
                    dx = distribute_tensor(xb.clone(), mesh, [Shard(dim)]).requires_grad_(True)
                    out = fn(dx, distribute_tensor(target, mesh, [Shard(dim)]), **options)
                    out.sum().backward()
                    report(f"{name} C={C} {label} DTensor-Shard({dim})", [out.full_tensor(), dx.grad.full_tensor()],
                           [expected, whole.grad])
    try:
        fl.softmax_focal_loss(distribute_tensor(x, mesh, [Shard(0)]), y)
    except ValueError as error:
        print("refused", str(error).splitlines()[0].replace(" ", "_"), flush=True)
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)  # torch 2.13's gloo may abort in the interpreter's teardown (see test_distributed.py)
""")


@pytest.fixture(scope="module")
def worker_output(tmp_path_factory):
    pytest.importorskip("torch.distributed.tensor")

    return run_ranks(lambda rank, port: [sys.executable, "-c", WORKER, str(rank), str(port)],
                     world_size=2, tmp_path=tmp_path_factory.mktemp("tp"), timeout=300)


def test_sharded_losses_equal_one_process_on_the_whole_logits(worker_output):
    for output in worker_output:
        cases = [line.split() for line in output.splitlines() if line.startswith("case ")]
        assert len(cases) == 2 * 5 * 7 * 2 + 2 * (4 + 8), output[-2000:]
        bad = [(label, float(gap)) for _, label, gap in cases if not float(gap) <= 1e-6]
        assert not bad, bad


def test_targets_not_placed_like_the_logits_are_refused(worker_output):
    for output in worker_output:
        refused = [line for line in output.splitlines() if line.startswith("refused ")]
        assert refused == ["refused target_must_be_a_DTensor_placed_like_the_logits_((Shard(dim=0),));_got_Tensor"]


def test_class_group_must_be_a_process_group():
    with pytest.raises(TypeError, match=r"class_group must be None or a torch.distributed ProcessGroup; got 'world'"):
        fl.softmax_focal_loss(torch.randn(2, 3), torch.tensor([0, 1]), class_group="world")
