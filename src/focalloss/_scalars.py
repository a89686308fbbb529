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


def choice(value, name, allowed):
    """One of the strings in ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value
