"""``focalloss bench``: forward+backward time and memory kept, focalloss against the floor and the peers.

See :mod:`focalloss.benchmark` for what is measured. The table reports medians of interleaved runs
and ratios to ``binary_cross_entropy_with_logits`` / ``cross_entropy``; ``--json`` also writes every
run's time. kornia and MONAI are compared when installed (``pip install "focalloss[bench]"``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ._common import UsageError, number_type, writable_file

__all__ = ["add_parser", "run"]

DTYPES = ("float32", "bfloat16", "float16")


def add_parser(subparsers):
    """Register ``focalloss bench`` and its options."""
    parser = subparsers.add_parser(
        "bench",
        help="time forward+backward of focalloss against cross-entropy and the peers",
        description="Forward+backward median time and bytes kept for backward per logit, for sigmoid "
        "(100000x80), softmax (8192x1000, 4096x32000) and dense softmax (4x19x256x512); focalloss "
        "against the floor (BCE-with-logits / cross_entropy), the torchvision formula, and kornia and "
        "MONAI when installed. Contenders run interleaved; the table reports ratios.",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default cpu)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="logits dtype (default float32)")
    parser.add_argument("--threads", type=number_type(int, low=1), default=None,
                        help="CPU threads for torch (default: the cores this process may use)")
    parser.add_argument("--repeats", type=number_type(int, low=1), default=7,
                        help="timed runs per contender (default 7)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in a few seconds")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args):
    import torch

    from .. import benchmark

    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to torch")
    if args.json is not None:
        writable_file(args.json, suffixes=(".json",), option="--json")
    # one thread per core this process may run on: more would make the timings measure contention
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    benchmark.run(
        cases="quick" if args.quick else "full", device=args.device, dtype=getattr(torch, args.dtype),
        repeats=args.repeats, json_path=args.json,
    )
    if args.json is not None:
        print(f"results written to {args.json}")
    return 0
