"""Shared test settings: the one tolerance table, thread limits, and helpers to compare with the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

# (rtol, atol) for comparing a result computed in `dtype` with the float64 reference.
TOLERANCES = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (2e-5, 2e-6),
    torch.bfloat16: (2e-2, 2e-3),
    torch.float16: (2e-3, 2e-4),
}


def tolerance(dtype):
    rtol, atol = TOLERANCES[dtype]
    return {"rtol": rtol, "atol": atol}


def assert_matches_reference(actual, expected, dtype):
    """Compare a torch result with a NumPy float64 reference at the tolerance of `dtype`."""
    expected = torch.as_tensor(np.asarray(expected, dtype=np.float64))
    torch.testing.assert_close(actual.detach().double().cpu(), expected, check_dtype=False, **tolerance(dtype))


def numpy64(tensor):
    return tensor.detach().double().cpu().numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
