"""What focalloss measures about itself, one module a subject; the scripts in ``benchmarks/`` only
call them:

- ``losses``: forward+backward time and memory kept for backward against the floor and the peers,
  run by ``focalloss bench`` (and ``benchmarks/bench_losses.py``, which calls it); its names are
  also this package's;
- ``boosting``: gradient + hessian time of the boosting objectives (``benchmarks/bench_boosting.py``);
- ``accuracy``: float32 accuracy of every loss and backend (``benchmarks/accuracy.py``);
- ``vector_math``: error bounds of the fused CPU kernels' own vector math (``benchmarks/vector_math.py``);
- ``threads``: how the fused CPU kernels scale from one thread to several (``benchmarks/threads.py``).

Names are imported on first use, so ``focalloss.benchmark.boosting`` needs NumPy only.
"""

from importlib import import_module

_FROM_LOSSES = ("CASES", "Result", "contenders", "format_table", "kept_bytes", "machine_description", "make_inputs",
                "run", "run_case")


def __getattr__(name):
    if name in _FROM_LOSSES:
        value = getattr(import_module(".losses", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
