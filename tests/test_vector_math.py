"""The fused CPU kernels' own float32 vector math (backends/vecmath.h): its error bounds on every
dispatch target this machine runs, checked two ways, by the extension's own sweep and independently
against NumPy's float64 functions, and its special values.

The bounds are the performance page's (docs/performance.md), measured over all 2^32 inputs by
``benchmarks/vector_math.py``; here every 4093rd bit pattern (about a million inputs, every binade)
and every input of the ranges where each function is hardest."""

import numpy as np
import pytest

kernels = pytest.importorskip("focalloss.backends._cpu_kernels")
from focalloss.benchmark import vector_math  # noqa: E402

TARGETS = kernels.vector_math_targets()
# the performance page's exhaustive bounds (max ulp over every float32 input), on every target
BOUNDS = {"exp": 1.07, "expm1": 0.51, "log": 0.86, "log1p": 0.88}
REFERENCE = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p}


def _bits(value):
    return int(np.float32(value).view(np.uint32))


# where each function is hardest: 2^18 neighbouring inputs on each side of these points (near 0 for
# expm1 and log1p, near 1 for log, where the reductions switch, the ends of the range and of the domain)
POINTS = {
    "exp": [-110.0, -103.97, -87.3, 1e-30, 0.3466, 88.72],
    "expm1": [1e-7, -1e-7, 0.3466, -0.3466, 0.75, -0.75, 17.0, -17.0, 88.72],
    "log": [1.0, 0.7071, 1.4142, 1e-40, 1.2e-38, 3e38],
    "log1p": [1e-7, -1e-7, 0.4142, -0.2929, -0.9999, 1.0, 3e38],
}
SPAN = 2**18
def _run(function, target, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    kernels.vector_math(function, target, x.ctypes.data, out.ctypes.data, x.size)
    return out


def _ulp_errors(got, x, function):
    """|got - exact| in float32 ulps at the exact value, the exact value from NumPy in float64"""
    with np.errstate(all="ignore"):
        exact = REFERENCE[function](x.astype(np.float64))
    finite = np.isfinite(exact) & (np.abs(exact) <= np.finfo(np.float32).max)
    _, exponent = np.frexp(np.abs(exact[finite]))  # |exact| in [2^(e-1), 2^e): float32 spacing 2^(e-24)
    spacing = np.ldexp(1.0, np.maximum(exponent - 24, -149))
    errors = np.abs(got[finite].astype(np.float64) - exact[finite]) / spacing
    # outside float32's range the result must be the rounding of the exact value (inf, -inf, nan)
    with np.errstate(over="ignore"):
        rounded = exact[~finite].astype(np.float32)
    mismatched = ~((got[~finite] == rounded) | (np.isnan(got[~finite]) & np.isnan(rounded)))
    return errors, int(mismatched.sum())


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("function", vector_math.FUNCTIONS)
def test_sampled_sweep_is_within_the_bound(function, target):
    bound = vector_math.measure(function, target, step=4093)
    assert bound.inputs == len(range(0, 2**32, 4093))
    assert bound.max_ulp <= BOUNDS[function], bound


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("function", vector_math.FUNCTIONS)
def test_hardest_ranges_are_within_the_bound(function, target):
    for point in POINTS[function]:
        middle = _bits(point)
        bound = vector_math.measure(function, target, first=max(middle - SPAN, 0), last=min(middle + SPAN, 2**32))
        assert bound.max_ulp <= BOUNDS[function], (point, bound)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("function", vector_math.FUNCTIONS)
def test_numpy_agrees_with_the_bound(function, target):
    """the same bound from NumPy's float64 functions and NumPy's ulps, not the extension's sweep"""
    bits = np.arange(0, 2**32, 4093, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    errors, mismatched = _ulp_errors(_run(function, target, x), x, function)
    assert mismatched == 0
    assert errors.max() <= BOUNDS[function]
    assert errors.max() > 0.3  # not exact everywhere: the comparison would notice an error


def test_the_sweep_reports_an_error_where_there_is_one():
    """log1p agrees with exp's reference nowhere: the sweep's error measure must say so"""
    x = np.linspace(0.5, 2.0, 1001, dtype=np.float32)
    errors, _ = _ulp_errors(_run("log1p", TARGETS[0], x), x, "exp")
    assert errors.min() > 1e5


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38,
                    88.72284, 88.72285, -87.33655, -103.97208, -103.9721, -200.0, 1e-7, -1e-7, -1.0000001,
                    -0.99999994], dtype=np.float32)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("function", vector_math.FUNCTIONS)
def test_special_values(function, target):
    """infinities, NaN, zeros of both signs, the overflow and underflow thresholds, the ends of the
    domains: the float32 rounding of the exact value (inf for an overflow, NaN outside the domain)"""
    got = _run(function, target, SPECIAL)
    with np.errstate(all="ignore"):
        exact = REFERENCE[function](SPECIAL.astype(np.float64))
        rounded = exact.astype(np.float32)
    errors, _ = _ulp_errors(got, SPECIAL, function)
    for x, g, e, r in zip(SPECIAL, got, exact, rounded):
        if np.isnan(e):
            assert np.isnan(g), (function, x, g)
        elif not np.isfinite(r) or abs(e) < 2**-149:
            assert g == r, (function, x, g, e)
    assert errors.max() <= BOUNDS[function]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="function must be one of exp, expm1, log, log1p; got 'sin'"):
        vector_math.measure("sin", "default", step=1, last=1)
    with pytest.raises(ValueError, match="target must be one of vector_math_targets"):
        vector_math.measure("exp", "neon", step=1, last=1)
    with pytest.raises(ValueError, match="need step >= 1"):
        vector_math.measure("exp", "default", step=0)


def test_table_names_every_function_and_target():
    bounds = [vector_math.Bound(f, t, 0.5, 1.0, 10) for t in TARGETS for f in vector_math.FUNCTIONS]
    table = vector_math.format_table(bounds)
    assert table.count("\n") == 1 + len(vector_math.FUNCTIONS)
    assert all(t in table.splitlines()[0] for t in TARGETS)
