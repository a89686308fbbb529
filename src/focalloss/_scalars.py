"""Checks of plain numbers and choices, shared by the torch API and the NumPy-only boosting objectives.

Each error names the argument, what is allowed and what came. Nothing here imports torch.
"""

from __future__ import annotations

import math
from numbers import Real


def real(value, name):
    """A finite real number as a float (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite real number; got {value!r}")
    return float(value)


def finite(value, name):
    return real(value, name)


def nonnegative(value, name):
    value = real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value!r}")
    return value


def positive(value, name):
    value = real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0; got {value!r}")
    return value


def at_least_minus_one(value, name):
    value = real(value, name)
    if value < -1:
        raise ValueError(f"{name} must be >= -1; got {value!r}")
    return value


def unit_interval(value, name):
    value = real(value, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1]; got {value!r}")
    return value


def unit_interval_open_above(value, name):
    """A number in [0, 1): a probability margin (asymmetric loss's clip), which 1 would make the whole range."""
    value = real(value, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1); got {value!r}")
    return value


def _reals(value, name, least, most):
    """A tuple or list of ``least`` to ``most`` finite real numbers, as a tuple of floats."""
    if not isinstance(value, (tuple, list)) or not all(
            not isinstance(v, bool) and isinstance(v, Real) and math.isfinite(v) for v in value):
        raise TypeError(f"{name} must be a tuple of finite real numbers; got {value!r}")
    if not least <= len(value) <= most:
        raise ValueError(f"{name} must hold {least} to {most} values; got {len(value)}: {value!r}")
    return tuple(float(v) for v in value)


def increasing_unit_cuts(value, name, *, most):
    """Strictly increasing numbers inside (0, 1): the cuts of a schedule over a probability."""
    cuts = _reals(value, name, 0, most)
    if not all(0.0 < c < 1.0 for c in cuts) or any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise ValueError(f"{name} must be strictly increasing values in (0, 1); got {value!r}")
    return cuts


def nonincreasing_exponents(value, name, *, most):
    """Exponents >= 0 that never increase: a schedule that focuses less as the prediction improves."""
    exponents = _reals(value, name, 1, most)
    if any(g < 0 for g in exponents) or any(b > a for a, b in zip(exponents, exponents[1:])):
        raise ValueError(f"{name} must be values >= 0 that do not increase; got {value!r}")
    return exponents


def choice(value, name, allowed):
    """One of the strings in ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value
