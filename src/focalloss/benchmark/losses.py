"""Forward+backward time and memory kept for backward: focalloss against the floor and the peers.

Run by ``focalloss bench`` (``benchmarks/bench_losses.py`` calls it). Each case times one training step of
the loss alone (forward, then backward into the logits), with every contender run in turn inside
each repetition, so that a slow spell of the machine hits all of them alike; the table reports
medians and ratios to the floor (``binary_cross_entropy_with_logits`` / ``cross_entropy``). On CUDA
the time comes from CUDA events.

"Kept" is the memory that autograd holds for backward beyond the inputs: the storage of every saved
tensor that is not the logits' or the targets', in bytes per logit. "Faults" are the minor page
faults per step (on the CPU, where the operating system reports them): a fresh large tensor is
mapped page by page on first touch, which on some machines costs more than the arithmetic.

Two rows give the machine's limit rather than a floor: a pure streaming pass over the bytes any
forward+backward must move (read the logits and the targets, write a gradient, read it, write the
result), once into buffers allocated before timing and once into fresh ones each step.

The family: focalloss's poly-1 focal loss and adaptive focal loss (FLSD-53), sigmoid and softmax, and the
asymmetric (ASL), quality focal (QFL) and varifocal (VFL) losses, sigmoid only, on the same path as focal loss,
named after their functions (e.g. ``focalloss sigmoid_poly1_focal_loss``).

Peers: the torchvision formula (``sigmoid_focal_loss`` of torchvision.ops, written out here because
torchvision has no CPU wheel on every machine), kornia and MONAI when they are installed
(``pip install "focalloss[bench]"``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

import focalloss

# (name, kind, logits shape); the sizes, and small ones for a smoke run
CASES = {
    "full": [
        ("sigmoid 100000x80", "sigmoid", (100000, 80)),
        ("softmax 8192x1000", "softmax", (8192, 1000)),
        ("softmax 4096x32000", "softmax", (4096, 32000)),
        ("dense 4x19x256x512", "softmax", (4, 19, 256, 512)),
    ],
    "quick": [
        ("sigmoid 2000x80", "sigmoid", (2000, 80)),
        ("softmax 256x1000", "softmax", (256, 1000)),
        ("dense 2x19x32x32", "softmax", (2, 19, 32, 32)),
    ],
}


@dataclass
class Result:
    case: str
    contender: str
    median_ms: float
    kept_bytes_per_logit: float
    ratio_to_floor: float = float("nan")
    times_ms: list = field(default_factory=list)
    minor_faults: float = float("nan")


# --------------------------------------------------------------------------------------------------
# Contenders: each takes (logits, targets) and returns a scalar loss
# --------------------------------------------------------------------------------------------------
def _torchvision_formula(x, t, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss.mean()


def _peers(kind):
    """Installed peer implementations, as (name, loss function)."""
    peers = []
    if importlib.util.find_spec("kornia") is not None:
        import kornia.losses

        if kind == "sigmoid":
            peers.append(("kornia", lambda x, t: kornia.losses.binary_focal_loss_with_logits(
                x, t, alpha=0.25, gamma=2.0, reduction="mean")))
        else:
            peers.append(("kornia", lambda x, t: kornia.losses.focal_loss(x, t, alpha=None, gamma=2.0, reduction="mean")))
    if importlib.util.find_spec("monai") is not None:
        from monai.losses import FocalLoss

        if kind == "sigmoid":
            monai_loss = FocalLoss(gamma=2.0, alpha=0.25, use_softmax=False, reduction="mean")
            peers.append(("monai", monai_loss))
        else:
            monai_loss = FocalLoss(gamma=2.0, use_softmax=True, to_onehot_y=True, reduction="mean")
            peers.append(("monai", lambda x, t: monai_loss(x, t.unsqueeze(1))))
    return peers


def _stream(*, fresh):
    """The limit: one pass over the bytes a forward+backward moves, with no arithmetic to speak of.
    Returns None instead of a loss (nothing to differentiate)."""
    buffers = []

    def step(logits, targets):
        x = logits.detach()
        if fresh or not buffers or buffers[0].shape != x.shape:
            buffers[:] = [torch.empty_like(x), torch.empty_like(x)]
        gradient, result = buffers
        if targets.shape == x.shape:
            torch.add(x, targets, out=gradient)  # read logits and targets, write a gradient
        else:  # class indices: a few bytes a row
            torch.mul(x, 1.0, out=gradient)
        torch.mul(gradient, 0.5, out=result)  # read it, write the result

    return step


def limits():
    """The two streaming passes, as (name, step) pairs, with buffers of their own."""
    return [("limit: stream, preallocated", _stream(fresh=False)), ("limit: stream, fresh", _stream(fresh=True))]


def family(kind):
    """The focal family's other members on focalloss's default path (the fused kernels for CPU tensors),
    each at its paper's defaults, as (name, loss function) pairs named after their functions."""
    names = [f"sigmoid_{loss}" for loss in ("poly1_focal_loss", "adaptive_focal_loss", "asymmetric_loss",
                                             "quality_focal_loss", "varifocal_loss")] if kind == "sigmoid" else \
        [f"softmax_{loss}" for loss in ("poly1_focal_loss", "adaptive_focal_loss")]
    return [(f"focalloss {name}", lambda x, t, fn=getattr(focalloss, name): fn(x, t, validate=False)) for name in names]


def contenders(kind):
    """(name, loss function) pairs for one kind of case; the floor comes first, the limits last."""
    if kind == "sigmoid":
        return [
            ("floor: BCE-with-logits", lambda x, t: F.binary_cross_entropy_with_logits(x, t)),
            ("focalloss", lambda x, t: focalloss.sigmoid_focal_loss(x, t, validate=False)),
            ("focalloss backend=torch", lambda x, t: focalloss.sigmoid_focal_loss(x, t, validate=False, backend="torch")),
            *family(kind),
            ("torchvision formula", _torchvision_formula),
            *_peers(kind),
            *limits(),
        ]
    return [
        ("floor: cross_entropy", lambda x, t: F.cross_entropy(x, t)),
        ("focalloss", lambda x, t: focalloss.softmax_focal_loss(x, t, validate=False)),
        ("focalloss backend=torch", lambda x, t: focalloss.softmax_focal_loss(x, t, validate=False, backend="torch")),
        *family(kind),
        *_peers(kind),
        *limits(),
    ]


# --------------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------------
def make_inputs(kind, shape, *, device, dtype, seed=0):
    gen = torch.Generator(device="cpu").manual_seed(seed)
    logits = torch.randn(shape, generator=gen).mul_(2.0).to(device=device, dtype=dtype)
    if kind == "sigmoid":
        targets = (torch.rand(shape, generator=gen) < 0.01).to(device=device, dtype=dtype)
    else:
        targets = torch.randint(0, shape[1], shape[:1] + shape[2:], generator=gen).to(device)
    return logits.requires_grad_(True), targets


def kept_bytes(loss_fn, logits, targets):
    """Bytes of storage autograd keeps for backward that is not the logits' or the targets'."""
    inputs = {logits.untyped_storage().data_ptr(), targets.untyped_storage().data_ptr()}
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in inputs:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_fn(logits, targets)
    if loss is not None:
        loss.backward()
    logits.grad = None
    return sum(saved.values())


def _minor_faults():
    try:
        import resource
    except ImportError:  # not a POSIX system
        return math.nan
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _step(loss_fn, logits, targets):
    loss = loss_fn(logits, targets)
    if loss is not None:  # the limits return nothing
        loss.backward()


def _step_time(loss_fn, logits, targets):
    """(seconds, minor page faults) of one forward+backward; the faults are NaN on CUDA."""
    if logits.device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        _step(loss_fn, logits, targets)
        end.record()
        torch.cuda.synchronize()
        logits.grad = None
        return start.elapsed_time(end) / 1e3, math.nan
    faults = _minor_faults()
    begin = time.perf_counter()
    _step(loss_fn, logits, targets)
    elapsed = time.perf_counter() - begin
    faults = _minor_faults() - faults
    logits.grad = None
    return elapsed, faults


def run_case(name, kind, shape, *, device="cpu", dtype=torch.float32, repeats=7, warmup=2, only=None):
    """Interleaved medians for every contender of one case, as a list of :class:`Result`."""
    logits, targets = make_inputs(kind, shape, device=device, dtype=dtype)
    entries = [(n, fn) for n, fn in contenders(kind) if only is None or n.startswith(("floor", "limit")) or n in only]
    times = {n: [] for n, _ in entries}
    faults = {n: [] for n, _ in entries}
    for n, fn in entries:
        for _ in range(warmup):
            _step_time(fn, logits, targets)
    for _ in range(repeats):
        for n, fn in entries:
            seconds, step_faults = _step_time(fn, logits, targets)
            times[n].append(seconds)
            faults[n].append(step_faults)
    results = []
    for n, fn in entries:
        median = statistics.median(times[n])
        kept = kept_bytes(fn, logits, targets) / logits.numel()
        results.append(Result(name, n, median * 1e3, kept, times_ms=[t * 1e3 for t in times[n]],
                              minor_faults=statistics.median(faults[n])))
    floor = results[0].median_ms
    for r in results:
        r.ratio_to_floor = r.median_ms / floor
    return results


def format_table(results):
    """A Markdown table: case, contender, median ms, ratio to the floor, bytes kept per logit, minor
    page faults per step."""
    lines = ["| case | contender | median ms | × floor | kept B/logit | faults/step |", "|---|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.case} | {r.contender} | {r.median_ms:.1f} | {r.ratio_to_floor:.2f} | "
                     f"{r.kept_bytes_per_logit:.2f} | {r.minor_faults:.0f} |")
    return "\n".join(lines)


def machine_description(device):
    if device == "cuda":
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def run(*, cases="full", device="cpu", dtype=torch.float32, repeats=7, only=None, json_path=None, echo=print):
    """Run every case, print the table, optionally write the results as JSON; returns the results."""
    results = []
    for name, kind, shape in CASES[cases]:
        echo(f"... {name}")
        results.extend(run_case(name, kind, shape, device=device, dtype=dtype, repeats=repeats, only=only))
    echo(f"forward+backward, {str(dtype).replace('torch.', '')}, median of {repeats} interleaved runs; "
         f"{machine_description(device)}")
    echo(format_table(results))
    if json_path is not None:
        with open(json_path, "w") as f:
            json.dump({"machine": machine_description(device), "dtype": str(dtype), "repeats": repeats,
                       "results": [asdict(r) for r in results]}, f, indent=1)
    return results
