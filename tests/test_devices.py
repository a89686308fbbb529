"""No host synchronisation off the CPU unless validate=True asks for it.

The meta device carries shapes but no values: any check that reads a value fails there, so a clean
run on meta tensors shows that the default path reads none. On CUDA (skipped without a GPU) the
same is checked with torch.cuda's sync debug mode, and the values are compared with the CPU.
"""

from __future__ import annotations

import loss_table
import pytest
import torch

# the calls each loss is checked with: every target form and option of its family
FORMS = {"binary": ["weighted", "plain"], "softmax": ["index", "probabilities"]}
CASES = [pytest.param(loss, form, id=f"{loss}-{form}") for loss in loss_table.LOSSES for form in FORMS[loss.family]]


def _inputs(device):
    """The inputs of every form on `device`, with the same (seeded) values wherever values exist."""
    gen = torch.Generator().manual_seed(0)
    return {
        "x": torch.randn(8, 5, 3, generator=gen).to(device),
        "index": torch.randint(0, 5, (8, 3), generator=gen).to(device),
        "probabilities": torch.softmax(torch.randn(8, 5, 3, generator=gen), dim=1).to(device),
        "row_weight": torch.rand(8, 3, generator=gen).to(device),
        "flat": torch.randn(8, 5, generator=gen).to(device),
        "targets": torch.rand(8, 5, generator=gen).round().to(device),
        "ones": torch.ones(5, device=device),
    }


def _call(loss, form, inputs, validate):
    if form == "index":
        return loss.function(inputs["x"], inputs["index"], alpha=inputs["ones"], label_smoothing=0.1,
                             weight=inputs["row_weight"], normalizer="positives", validate=validate)
    if form == "probabilities":
        return loss.function(inputs["x"], inputs["probabilities"], normalizer="positives", validate=validate)
    if form == "weighted":
        return loss.function(inputs["flat"], inputs["targets"], weight=inputs["ones"], normalizer="positives",
                             validate=validate)
    return loss.function(inputs["flat"], inputs["targets"], validate=validate)


@pytest.mark.parametrize("loss, form", CASES)
def test_default_reads_no_values_off_the_cpu(loss, form):
    out = _call(loss, form, _inputs("meta"), None)
    assert out.device.type == "meta" and out.shape == ()
    with pytest.raises(RuntimeError, match="meta"):  # validate=True does read values
        _call(loss, form, _inputs("meta"), True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("loss, form", CASES)
def test_cuda_default_path_does_not_synchronise_and_matches_cpu(loss, form):
    inputs = _inputs("cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = _call(loss, form, inputs, None)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.testing.assert_close(out.cpu(), _call(loss, form, _inputs("cpu"), None))
