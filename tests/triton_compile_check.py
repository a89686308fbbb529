"""Compiles every Triton kernel of focalloss for CUDA GPUs on a machine without one, as the real
launches bind it: run as ``python triton_compile_check.py CC [CC ...]`` (e.g. 80 90) with focalloss
importable, by the interpreter whose Triton is to be checked (tests/test_triton_compiled.py runs it
with the newest Triton and with the lowest the package allows).

The public backend functions (``triton_ops.binary_loss`` / ``softmax_loss``, forward and backward)
run on CPU tensors at the production tile sizes, with a stand-in driver that says "a GPU of compute
capability CC" and launches nothing. Triton's own launcher binds the arguments (types,
specialisation of integers equal to 1, constexprs) and hands its source to ``triton.compiler.compile``,
which is wrapped here to compile it for real, through ptxas, and record what was bound. One JSON line
per distinct compiled kernel is printed: kernel, compute capability, case, signature (every argument
name with its type, or "constexpr" and its value), the options, the size of the cubin and the
fused multiply-adds of the PTX. triton is imported where it is used: the test suite imports this
module (for its doctests, and for its cases) also where triton is not installed.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from focalloss import losses
from focalloss.backends import triton_ops


class _Driver:
    """A CUDA "device" numbered by its compute capability (so that each has its own kernel cache)."""

    def __init__(self, capability):
        self.capability = capability

    def get_current_device(self):
        return self.capability

    def get_current_stream(self, device=None):
        return 0

    def get_current_target(self):
        from triton.backends.compiler import GPUTarget

        return GPUTarget("cuda", self.capability, 32)


class _NotLaunched:
    """What the wrapped compile hands back to the launcher: launching it does nothing."""

    function = None
    packed_metadata = None

    def launch_metadata(self, *args, **kwargs):
        return None

    def run(self, *args, **kwargs):
        return None


def _bound(src):
    """{argument name: type, or ["constexpr", value]} as the launcher bound it (Triton 3.x layouts)."""
    names = src.fn.arg_names
    constants = {}
    for key, value in src.constants.items():
        index = key[0] if isinstance(key, tuple) else key
        constants[names[index] if isinstance(index, int) else index] = value
    bound = {}
    for index, name in enumerate(names):
        kind = src.signature.get(name, src.signature.get(index))
        if name in constants or kind == "constexpr":
            value = constants.get(name)
            bound[name] = ["constexpr", value if isinstance(value, (bool, int, float)) else str(value)]
        else:
            bound[name] = kind
    return bound


CASE = {"name": None}


def _wrap_compile(real_compile):
    def compile_and_record(src, target=None, options=None, **kwargs):
        start = time.perf_counter()
        compiled = real_compile(src, target=target, options=options, **kwargs)
        record = {
            "kernel": src.fn.__name__ if hasattr(src.fn, "__name__") else src.name,
            "capability": target.arch,
            "case": CASE["name"],
            "signature": _bound(src),
            "options": {name: options[name] for name in ("num_warps", "enable_fp_fusion")},
            "cubin_bytes": len(compiled.asm["cubin"]),
            # fused multiply-adds in the PTX, before ptxas (which contracts no mul.rn / add.rn)
            "fma_f32": compiled.asm["ptx"].count("fma.rn.f32"),
            "seconds": round(time.perf_counter() - start, 2),
        }
        print(json.dumps(record), flush=True)
        return _NotLaunched()

    return compile_and_record


def _run(name, function):
    CASE["name"] = name
    function()


def _binary(kind, dtype, shape, *, weighted, reduce):
    """Forward and backward of a binary loss: a reduced one gets a scalar upstream gradient."""
    def run():
        spec = losses.BINARY[kind]
        x = torch.zeros(shape, dtype=dtype, requires_grad=True)
        t = torch.zeros(shape, dtype=dtype)
        weight = torch.ones(shape, dtype=dtype) if weighted else None
        out = triton_ops.binary_loss(kind, x, t, 0.25, spec.defaults, weight=weight, reduce=reduce)
        out.backward(torch.ones_like(out))
    return run


def _softmax(kind, dtype, shape, *, target, smoothing, alpha, counted, scalar_upstream):
    """Forward and backward of a softmax loss, the upstream gradient one number (a sum) or one per position."""
    def run():
        spec = losses.SOFTMAX[kind]
        x = torch.zeros(shape, dtype=dtype, requires_grad=True)
        positions = shape[:1] + shape[2:]
        y = torch.zeros(positions, dtype=torch.int64) if target == "index" else torch.zeros(shape, dtype=dtype)
        weights = torch.ones(shape[1], dtype=dtype) if alpha else None
        mask = torch.ones(positions, dtype=torch.bool) if counted else None
        out = triton_ops.softmax_loss(kind, x, y, weights, spec.defaults, label_smoothing=0.1 if smoothing else 0.0,
                                      counted=mask)
        out.sum().backward() if scalar_upstream else out.backward(torch.ones_like(out))
    return run


# (N, C) rows at a production tile (BLOCK_C = 1024, 4 rows), (N, C, d) positions (64 positions, 32 classes),
# and the edges: one class, one row, one position, classes beyond one tile of 4096
PRODUCTION = {"rows": (8, 1000), "positions": (2, 50, 7, 9)}
EDGES = {"one class": (5, 1), "one row": (1, 10), "one position": (1, 40, 1), "classes beyond a tile": (2, 5000),
         "one class, positions": (2, 1, 3)}
TARGETS = [("index", False), ("index", True), ("probs", False), ("probs", True)]


def cases():
    """(name, launch): every kernel of every loss kind at production sizes and at the edges; the
    flags (weights, alpha, counted positions) and the logits' dtypes alternate across the cases."""
    dtypes = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
    for i, kind in enumerate(losses.BINARY):
        yield (f"binary {kind} float32 reduced", _binary(kind, torch.float32, (3000,), weighted=False, reduce=True))
        yield (f"binary {kind} float64 weighted", _binary(kind, torch.float64, (41, 77), weighted=True, reduce=False))
        yield (f"binary {kind} {dtypes[2 + i % 2]} one element",
               _binary(kind, dtypes[2 + i % 2], (1,), weighted=i % 2 == 0, reduce=i % 2 == 1))
    for i, kind in enumerate(losses.SOFTMAX):
        for j, (target, smoothing) in enumerate(TARGETS):
            for layout, shape in PRODUCTION.items():
                dtype = dtypes[(i + j) % 4]
                yield (f"softmax {kind} {target} smoothing={smoothing} {layout} {dtype}",
                       _softmax(kind, dtype, shape, target=target, smoothing=smoothing, alpha=(i + j) % 2 == 0,
                                counted=(i + j) % 3 == 0, scalar_upstream=layout == "rows"))
        for j, (edge, shape) in enumerate(EDGES.items()):
            target, smoothing = TARGETS[(i + j) % 4]
            dtype = [torch.float32, torch.float64][(i + j) % 2]
            yield (f"softmax {kind} {target} smoothing={smoothing} {edge} {dtype}",
                   _softmax(kind, dtype, shape, target=target, smoothing=smoothing, alpha=j % 2 == 1, counted=j % 2 == 0,
                            scalar_upstream=j % 2 == 0))


def main(capabilities):
    import triton
    import triton.compiler

    triton.compiler.compile = _wrap_compile(triton.compiler.compile)
    failures = 0
    for capability in capabilities:
        triton.runtime.driver.set_active(_Driver(capability))
        for name, launch in cases():
            try:
                _run(name, launch)
            except Exception as error:  # every failure is reported, then the run fails
                failures += 1
                message = f"{type(error).__name__}: {error}"
                print(json.dumps({"case": name, "capability": capability, "error": message[-3000:]}), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    from triton import __version__

    print(json.dumps({"triton": __version__}), flush=True)
    sys.exit(main([int(cc) for cc in sys.argv[1:]]))
