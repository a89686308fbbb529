"""Class-sharded softmax losses at the edges, on 2 and 3 gloo ranks: shards of uneven size, ranks that
hold no classes at all (PyTorch's Shard(1) split of C < world size classes, or C = 4 over 3 ranks:
[2, 2, 0]), and masked (-inf) classes on some ranks. Every rank gets the loss and the gradient of
one process on the whole logits; an error is raised by every rank at once, never by one while the
others wait in a collective."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch.distributed as dist
from distributed_helpers import MESH_PREAMBLE, run_ranks

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed with gloo is not available"
)

LOSSES = ("softmax_focal_loss", "softmax_softened_loss", "softmax_hard_truncation_loss",
          "softmax_poly1_focal_loss", "softmax_adaptive_focal_loss")

WORKER = MESH_PREAMBLE + textwrap.dedent("""
    import math

    def gap(got, expected):  # the largest error relative to the largest entry, over the tensors
        worst = 0.0
        for a, b in zip(got, expected):
            a, b = a.detach().double(), b.detach().double()
            if not torch.equal(torch.isfinite(a), torch.isfinite(b)):
                return math.inf
            finite = torch.isfinite(b)
            scale = b[finite].abs().max().clamp_min(1e-30) if finite.any() else 1.0
            worst = max(worst, float(((a - b)[finite]).abs().max() / scale) if finite.any() else 0.0)
        return worst

    def split(C, how):
        if how == "last-empty":  # every class but one on rank 0 ... the last rank none
            sizes = [C - (world - 2)] + [1] * (world - 2) + [0]
        else:  # "first-empty"
            sizes = [0] + [C // (world - 1) + (1 if r < C % (world - 1) else 0) for r in range(world - 1)]
        lo = sum(sizes[:rank])
        return slice(lo, lo + sizes[rank])

    LOSSES = LOSS_NAMES
    def named(masked):
        return "-".join(map(str, masked)) or "none"

    for C, how, masked in ((1, "last-empty", ()), (2, "first-empty", ()), (5, "last-empty", (0,)),
                           (5, "first-empty", (4,)), (6, "last-empty", (1, 5))):
        g = torch.Generator().manual_seed(10 * C + len(masked))
        x = torch.randn(7, C, 3, generator=g, dtype=torch.float64) * 4
        x[0, 0, 0] = 60.0  # a saturated position
        allowed = [c for c in range(C) if c not in masked]
        y = torch.tensor(allowed)[torch.randint(0, len(allowed), (7, 3), generator=g)]
        y[2, 1] = -100
        q = torch.rand(7, C, 3, generator=g, dtype=torch.float64)
        q[:, list(masked)] = 0.0
        q = q / q.sum(1, keepdim=True)
        for c in masked:
            x[1:, c] = -math.inf  # row 0 keeps every class finite
        w = torch.rand(7, 3, generator=g, dtype=torch.float64)
        w[4, 2] = 0.0
        alpha = torch.rand(C, generator=g, dtype=torch.float64) + 0.5
        mine = split(C, how)
        for name in LOSSES:
            fn = getattr(fl, name)
            cases = [("index", {}, y), ("alpha-weight", {"alpha": alpha, "weight": w}, y), ("probabilities", {}, q),
                     ("none", {"reduction": "none"}, y)]
            if not masked:  # smoothing puts mass on a masked class: an infinite loss, tested unsharded
                cases.append(("smoothing", {"label_smoothing": 0.2}, y))
            if name == "softmax_softened_loss":
                cases += [("k3-probabilities", {"k": 3.0}, q), ("k0", {"k": 0.0}, y)]
            for label, options, target in cases:
                whole = x.clone().requires_grad_(True)
                expected = fn(whole, target, **options)
                expected.sum().backward()
                local = x[:, mine].clone().requires_grad_(True)
                got = fn(local, target[:, mine] if target.is_floating_point() else target,
                         class_group=dist.group.WORLD, **options)
                got.sum().backward()
                print("case", f"{name}/C={C}/{how}/masked={named(masked)}/{label}/class_group",
                      gap([got, local.grad], [expected, whole.grad[:, mine]]), flush=True)
        if how == "last-empty":  # PyTorch's own split of the classes over the mesh
            dx = distribute_tensor(x.clone(), mesh, [Shard(1)]).requires_grad_(True)
            for name in LOSSES:
                whole = x.clone().requires_grad_(True)
                expected = getattr(fl, name)(whole, q)
                expected.backward()
                dx.grad = None
                out = getattr(fl, name)(dx, distribute_tensor(q, mesh, [Shard(1)]))
                out.backward()
                print("case", f"{name}/C={C}/masked={named(masked)}/DTensor-Shard(1)-local{dx.to_local().shape[1]}",
                      gap([out.full_tensor(), dx.grad.full_tensor()], [expected, whole.grad]), flush=True)

    def refused(label, call):
        try:
            call()
        except (ValueError, IndexError) as error:
            print("refused", label, str(error).replace(" ", "_"), flush=True)

    refused("no-classes", lambda: fl.softmax_focal_loss(torch.zeros(3, 0), torch.zeros(3, dtype=torch.long),
                                                          class_group=dist.group.WORLD))
    bad = torch.full((3, 2), 0.5)
    if rank == 1:
        bad[1] = torch.tensor([1.5, -0.5])
    refused("probability-range", lambda: fl.softmax_focal_loss(torch.zeros(3, 2), bad, class_group=dist.group.WORLD))
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)  # torch 2.13's gloo may abort in the interpreter's teardown (see test_distributed.py)
""").replace("LOSS_NAMES", repr(LOSSES))


@pytest.fixture(scope="module", params=[2, 3], ids=["2-ranks", "3-ranks"])
def worker(request, tmp_path_factory):
    pytest.importorskip("torch.distributed.tensor")
    world = request.param
    outputs = run_ranks(lambda rank, port: [sys.executable, "-c", WORKER, str(rank), str(port), str(world)],
                        world_size=world, tmp_path=tmp_path_factory.mktemp(f"edges{world}"), timeout=240)
    return world, outputs


def _cases(output):
    return [line.split()[1:] for line in output.splitlines() if line.startswith("case ")]


def test_every_rank_reports_every_case(worker):
    world, outputs = worker
    per_loss = 5 * 4 + 2 * 1  # five class splits, four target kinds; smoothing where nothing is masked
    expected = len(LOSSES) * per_loss + 5 * 2 + 3 * len(LOSSES)  # softened's k cases; the DTensor rows
    for output in outputs:
        assert len(_cases(output)) == expected, output[-3000:]


def test_sharded_equals_one_process_with_empty_shards_and_masked_classes(worker):
    _, outputs = worker
    for output in outputs:
        bad = [(label, gap) for label, gap in _cases(output) if not float(gap) <= 1e-12]
        assert not bad, bad


def test_dtensor_split_leaves_a_rank_without_classes(worker):
    world, outputs = worker
    # C = 1 over 2 or 3 ranks and C = 5 over 3 ranks split as [1, 0(, 0)] and [2, 2, 1]; rank world-1 of C=1 holds none
    last = [label for label, _ in _cases(outputs[-1]) if "C=1/" in label and "DTensor" in label]
    assert last and all(label.endswith("-local0") for label in last), last


def test_errors_are_raised_by_every_rank_at_once(worker):
    world, outputs = worker
    for rank, output in enumerate(outputs):
        refused = dict(line.split(" ", 2)[1:] for line in output.splitlines() if line.startswith("refused "))
        assert refused["no-classes"].startswith("logits_must_have_at_least_one_class_in_dimension_1_over_the_ranks")
        mine = "got_1.5_at_index_(1,_0)" if rank == 1 else "on_another_rank_of_class_group"
        assert refused["probability-range"].startswith("target_probabilities_must_lie_in_[0,_1]")
        assert mine in refused["probability-range"], refused
