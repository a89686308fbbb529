"""Error bounds of the fused CPU kernels' own float32 vector math, measured over every float32 input.

The kernels carry their own vectorizable exp, expm1, log and log1p (``backends/vecmath.h``): expm1
is used on every machine (the asymmetric loss's margin), the other three where the C library has no
vector versions of them. For each function and each dispatch target this machine runs (AVX-512,
AVX2 with FMA (x86-64-v3), AVX2, the x86-64 baseline), every ``step``-th of the 2^32 float32 bit
patterns (all of them with ``step=1``, the default) is run through the function as the kernels run
it, in a vectorized loop, and compared with the C library's float64 function. Reported: the largest
error in units in the last place of the float32 result (the spacing of float32 numbers at the exact
value; matching infinities and NaNs count 0) and the input where it occurs.

    python benchmarks/vector_math.py [--step 1]

(``benchmarks/vector_math.py`` runs :func:`main`; a full sweep takes 40 s to 2 min per function
and target on a 2-core machine, using one core.)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

FUNCTIONS = ("exp", "expm1", "log", "log1p")


@dataclass(frozen=True)
class Bound:
    """The largest error of ``function`` on ``target`` over the inputs swept, and where."""

    function: str
    target: str
    max_ulp: float
    at: float
    inputs: int


def targets():
    """The dispatch targets of the compiled kernels that this machine runs, best first."""
    from ..backends import _cpu_kernels

    return _cpu_kernels.vector_math_targets()


def measure(function, target, *, step=1, first=0, last=1 << 32):
    """Sweep every ``step``-th float32 bit pattern in ``[first, last)``: a :class:`Bound`."""
    from ..backends import _cpu_kernels

    max_ulp, at = _cpu_kernels.vector_math_error(function, target, first, last, step)
    return Bound(function, target, max_ulp, at, len(range(first, last, step)))


def format_table(bounds):
    """Markdown: one row per function, one column per target."""
    names = list(dict.fromkeys(b.target for b in bounds))
    rows = ["| function | " + " | ".join(f"max ulp, {t} (at x)" for t in names) + " |",
            "|---|" + "---:|" * len(names)]
    for function in dict.fromkeys(b.function for b in bounds):
        cells = {b.target: f"{b.max_ulp:.3f} ({b.at:.6g})" for b in bounds if b.function == function}
        rows.append(f"| {function} | " + " | ".join(cells[t] for t in names) + " |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=1, help="sweep every STEP-th bit pattern (1: all 2^32)")
    args = parser.parse_args(argv)
    bounds = []
    for target in targets():
        for function in FUNCTIONS:
            bounds.append(measure(function, target, step=args.step))
            print(bounds[-1], flush=True)
    print(f"\n{bounds[0].inputs} inputs per function and target\n")
    print(format_table(bounds))


if __name__ == "__main__":
    main()
