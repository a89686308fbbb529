"""Run one process per rank of a gloo group on 127.0.0.1, with a bounded wait, for the distributed tests."""

from __future__ import annotations

import os
import socket
import subprocess
import textwrap
import time

import pytest

# The first lines of a rank's script (run with the arguments rank, port and, optionally, the number of ranks,
# default 2): one thread, a gloo group on 127.0.0.1 with a bounded timeout, and a CPU device mesh over it.
MESH_PREAMBLE = textwrap.dedent("""
    import datetime, os, sys, torch, torch.distributed as dist
    import focalloss as fl
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor
    rank, port = int(sys.argv[1]), sys.argv[2]
    world = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    mesh = init_device_mesh("cpu", (world,))
""")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(command_for, *, world_size, tmp_path, timeout):
    """Start ``command_for(rank, port)`` for every rank, wait for all (at most ``timeout`` seconds
    in all); return their exit statuses ("timed out" for one that had to be killed) and outputs."""
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs, logs = [], []
    try:
        for rank in range(world_size):
            log = open(tmp_path / f"rank{rank}.log", "w+")
            logs.append(log)
            procs.append(subprocess.Popen(command_for(rank, port), stdout=log, stderr=subprocess.STDOUT, env=env))
        codes, deadline = [], time.monotonic() + timeout
        for proc in procs:
            try:
                codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                codes.append("timed out")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    return codes, outputs


def run_ranks(command_for, *, world_size, tmp_path, timeout):
    """:func:`launch`, once more if the free port was taken meanwhile; a rank that fails or hangs
    fails the test with every rank's output. Returns the outputs."""
    codes, outputs = launch(command_for, world_size=world_size, tmp_path=tmp_path, timeout=timeout)
    if any(code != 0 for code in codes) and any("address already in use" in o.lower() for o in outputs):
        codes, outputs = launch(command_for, world_size=world_size, tmp_path=tmp_path, timeout=timeout)
    if any(code != 0 for code in codes):
        report = "\n".join(
            f"--- rank {r}: exit status {code} ---\n{out[-4000:]}" for r, (code, out) in enumerate(zip(codes, outputs))
        )
        pytest.fail(f"a distributed worker failed:\n{report}")
    return outputs
