"""No host synchronisation off the CPU unless validate=True asks for it.

The meta device carries shapes but no values: any check that reads a value fails there, so a clean
run on meta tensors shows that the default path reads none. On CUDA (skipped without a GPU) the
same is checked with torch.cuda's sync debug mode, and the values are compared with the CPU.
"""

from __future__ import annotations

import pytest
import torch

import focalloss


def _meta_calls(device):
    """The same four calls on `device`, with the same (seeded) values wherever values exist."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, 3, generator=gen).to(device)
    index = torch.randint(0, 5, (8, 3), generator=gen).to(device)
    probabilities = torch.softmax(torch.randn(8, 5, 3, generator=gen), dim=1).to(device)
    row_weight = torch.rand(8, 3, generator=gen).to(device)
    flat = torch.randn(8, 5, generator=gen).to(device)
    targets = torch.rand(8, 5, generator=gen).round().to(device)
    return [
        lambda v: focalloss.softmax_focal_loss(
            x, index, alpha=torch.ones(5, device=device), label_smoothing=0.1, weight=row_weight,
            normalizer="positives", validate=v,
        ),
        lambda v: focalloss.softmax_softened_loss(x, probabilities, normalizer="positives", validate=v),
        lambda v: focalloss.sigmoid_focal_loss(
            flat, targets, weight=torch.ones(5, device=device), normalizer="positives", validate=v
        ),
        lambda v: focalloss.sigmoid_hard_truncation_loss(flat, targets, validate=v),
    ]


@pytest.mark.parametrize("call", range(4))
def test_default_reads_no_values_off_the_cpu(call):
    out = _meta_calls("meta")[call](None)
    assert out.device.type == "meta" and out.shape == ()
    with pytest.raises(RuntimeError, match="meta"):  # validate=True does read values
        _meta_calls("meta")[call](True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("call", range(4))
def test_cuda_default_path_does_not_synchronise_and_matches_cpu(call):
    cuda_call = _meta_calls("cuda")[call]
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = cuda_call(None)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.testing.assert_close(out.cpu(), _meta_calls("cpu")[call](None))
