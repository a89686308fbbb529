"""How the fused CPU kernels scale from one thread to several, on ``focalloss bench``'s cases.

Focal loss on each case (sigmoid and softmax, default hyperparameters, a mean), one thread and then
``--threads`` threads within each repetition, so that a slow spell of the machine hits both alike
(one contender after the other, so that none runs on the memory another has just freed):
the forward pass alone (no gradient) and a training step (a fresh leaf tensor's forward and
backward, as ``focalloss bench`` times it). Also, for comparison, the floor
(``binary_cross_entropy_with_logits`` / ``cross_entropy``) the same way, and a control: the forward
pass on 2^20 logits that stay in the cache, which shows what the machine itself gives the threads
when memory is not in the way (on a virtual machine, whose cores a host shares, often less than the
thread count). Reports each median and the speed-up (one thread's time over the threads' time);
``--rounds`` repeats the whole measurement and reports the median speed-up with its min-max.

    python benchmarks/threads.py [--threads 2] [--repeats 9] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import focalloss
from focalloss.backends import cpu_ops

from .losses import CASES, make_inputs


def contenders(kind):
    """(name, loss function, wants a gradient) triples for one kind of case."""
    if kind == "sigmoid":
        focal, floor = focalloss.sigmoid_focal_loss, F.binary_cross_entropy_with_logits
    else:
        focal, floor = focalloss.softmax_focal_loss, F.cross_entropy
    return [
        ("focalloss forward", lambda x, t: focal(x.detach(), t, validate=False), False),
        ("focalloss forward+backward", lambda x, t: focal(x, t, validate=False), True),
        ("floor forward+backward", floor, True),
    ]


def _seconds(loss_fn, logits, targets, backward):
    begin = time.perf_counter()
    loss = loss_fn(logits, targets)
    if backward:
        loss.backward()
    elapsed = time.perf_counter() - begin
    logits.grad = None
    return elapsed


# the control: sigmoid focal loss's forward on 2^20 logits, 8 MB with the targets, which stay in the
# cache between calls: what this machine gives the threads when memory is not in the way
CONTROL = ("control: 1024x1024 in cache", "sigmoid", (1024, 1024))


def measure(name, kind, shape, *, threads, repeats, warmup=2, forward_only=False):
    """{contender: (one thread's median ms, the threads' median ms)} for one case."""
    logits, targets = make_inputs(kind, shape, device="cpu", dtype=torch.float32)
    entries = contenders(kind)[:1] if forward_only else contenders(kind)
    before = torch.get_num_threads()
    times = {(n, count): [] for n, _, _ in entries for count in (1, threads)}
    try:
        # contender by contender: the floor's own allocations (1.5 GB of fresh 4 KiB pages at 32000
        # classes) would otherwise decide what memory the next one gets, and on a virtual machine
        # that returns free memory to its host, what that memory costs
        for n, fn, backward in entries:
            for round_ in range(warmup + repeats):
                for count in (1, threads):
                    torch.set_num_threads(count)
                    seconds = _seconds(fn, logits, targets, backward)
                    if round_ >= warmup:
                        times[n, count].append(seconds)
    finally:
        torch.set_num_threads(before)
    return {n: (statistics.median(times[n, 1]) * 1e3, statistics.median(times[n, threads]) * 1e3)
            for n, _, _ in entries}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads to compare with one (default 2)")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per setting and round (default 9)")
    parser.add_argument("--rounds", type=int, default=3, help="whole measurements to repeat (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args(argv)
    if args.threads < 2 or args.repeats < 1 or args.rounds < 1:
        parser.error(f"need --threads >= 2, --repeats >= 1 and --rounds >= 1; got {args.threads}, "
                     f"{args.repeats} and {args.rounds}")
    cases = CASES["quick" if args.quick else "full"] + [CONTROL]
    rounds = [{name: measure(name, kind, shape, threads=args.threads, repeats=args.repeats,
                             forward_only=name == CONTROL[0])
               for name, kind, shape in cases} for _ in range(args.rounds)]
    print(f"1 -> {args.threads} threads, float32, median of {args.repeats}, {args.rounds} rounds; "
          f"torch {torch.__version__}, the kernels on {cpu_ops.thread_pool()} threads")
    print("| case | contender | 1 thread ms | threads ms | speed-up, median (min-max) |")
    print("|---|---|---:|---:|---:|")
    for name, _, _ in cases:
        for contender in rounds[0][name]:
            pairs = [r[name][contender] for r in rounds]
            ups = [one / many for one, many in pairs]
            one = statistics.median(p[0] for p in pairs)
            many = statistics.median(p[1] for p in pairs)
            print(f"| {name} | {contender} | {one:.2f} | {many:.2f} | "
                  f"{statistics.median(ups):.2f} ({min(ups):.2f}-{max(ups):.2f}) |")
