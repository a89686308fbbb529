"""The registry (focalloss.losses) is the one declaration of every loss: the public names, the
signatures' hyperparameters and defaults, and the kernels' kind numbers all agree with it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from conftest import import_triton_kernels

import focalloss
from focalloss import losses
from focalloss.backends import cpu_ops

SPECS = list(losses.LOSSES)


def _id(spec):
    return spec.function


def test_every_loss_is_public_as_a_function_and_a_module():
    names = [name for spec in SPECS for name in (spec.function, spec.module)]
    assert len(set(names)) == len(names)
    assert set(names) <= set(focalloss.__all__)
    for spec in SPECS:
        assert callable(getattr(focalloss, spec.function)) and getattr(focalloss, spec.module).spec is spec


def test_each_family_module_lists_exactly_the_registry_names():
    """The modules' ``__all__`` are literal lists, so that type checkers see the names: they must
    hold every registry entry of their family, in the registry's order, and nothing else."""
    from focalloss.functional import binary, multiclass
    from focalloss.nn import modules

    assert binary.__all__ == [spec.function for spec in losses.BINARY.values()]
    assert multiclass.__all__ == [spec.function for spec in losses.SOFTMAX.values()]
    assert modules.__all__ == [spec.module for spec in losses.LOSSES]


def test_kinds_are_numbered_once():
    assert sorted(losses.KIND_CODES.values()) == list(range(len(losses.KIND_CODES)))
    assert {spec.kind for spec in SPECS} == set(losses.KIND_CODES)
    assert losses.BINARY.keys() | losses.SOFTMAX.keys() == set(losses.KIND_CODES)


@pytest.mark.parametrize("spec", SPECS, ids=_id)
def test_function_signature_follows_the_registry(spec):
    parameters = inspect.signature(getattr(focalloss, spec.function)).parameters
    assert list(parameters)[:2] in (["logits", "targets"], ["logits", "target"])
    keyword_only = {name: p.default for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert list(parameters)[2:] == list(keyword_only)
    for name, default in spec.defaults.items():
        assert keyword_only[name] == default, name
    assert keyword_only["alpha"] == spec.alpha


@pytest.mark.parametrize("spec", SPECS, ids=_id)
def test_module_signature_is_the_functions(spec):
    function = inspect.signature(getattr(focalloss, spec.function)).parameters
    module = inspect.signature(getattr(focalloss, spec.module).__init__).parameters
    expected = {name: p.default for name, p in function.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    got = {name: p.default for name, p in module.items() if name != "self"}
    assert got == expected
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for name, p in module.items() if name != "self")


def test_c_kernels_number_the_kinds_as_the_registry():
    kernels = cpu_ops._kernels()
    for kind, code in losses.KIND_CODES.items():
        assert getattr(kernels, f"KIND_{kind.upper()}") == code
    for name in ("GAMMA_GENERAL", "GAMMA_ZERO", "GAMMA_TWO"):
        assert getattr(kernels, name) == getattr(losses, name)
    source = (Path(cpu_ops.__file__).parent / "cpu_kernels.c").read_text()
    kinds = re.search(r"#define KINDS\(X\)(.*?)\n#define", source, flags=re.S).group(1)
    assert dict((name, int(value)) for name, value in re.findall(r"X\((KIND_\w+), (\d+)\)", kinds)) == {
        f"KIND_{kind.upper()}": code for kind, code in losses.KIND_CODES.items()}


def test_triton_kernels_number_the_kinds_as_the_registry():
    import_triton_kernels()
    from focalloss.backends import triton_kernels

    for kind, code in losses.KIND_CODES.items():
        assert getattr(triton_kernels, f"KIND_{kind.upper()}").value == code


@pytest.mark.parametrize("float64", [False, True])
def test_hard_truncation_cuts_are_rounded_down_once(float64):
    import numpy as np

    for spec, expected in ((losses.BINARY["hard_truncation"], np.log(0.3) - np.log1p(-0.3)),
                           (losses.SOFTMAX["hard_truncation"], np.log(0.3))):
        cut = spec.kernel_scalars({"threshold": 0.3}, float64=float64)[0]
        assert cut <= expected and (float64 or float(np.nextafter(np.float32(cut), np.float32(np.inf))) > expected)
