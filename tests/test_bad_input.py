"""Bad input: each raises ValueError or TypeError (IndexError for an out-of-range class index) whose
message names the argument, says what is allowed and shows what came.

Messages are checked with ``pytest.raises(match=...)`` on a pattern that requires every listed
fragment (in any order): the argument's name, the allowed values and the offending value.
"""

from __future__ import annotations

import re

import loss_table
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import focalloss as fl

SIGMOID_FUNCTIONS = [loss.function for loss in loss_table.BINARY]
SOFTMAX_FUNCTIONS = [loss.function for loss in loss_table.SOFTMAX]
SIGMOID_MODULES = [loss.module for loss in loss_table.BINARY]
SOFTMAX_MODULES = [loss.module for loss in loss_table.SOFTMAX]


def _name(fn):
    return getattr(fn, "__name__", str(fn))


def every(*fragments):
    """A regex that matches a message containing every fragment literally, in any order."""
    return "".join(f"(?=[\\s\\S]*{re.escape(str(f))})" for f in fragments)


def binary_case(shape=(2, 3)):
    x = torch.linspace(-3.0, 3.0, int(np.prod(shape)), dtype=torch.float64).reshape(shape)
    t = (torch.arange(x.numel()).reshape(shape) % 2).to(torch.float64)
    return x, t


def softmax_case():
    x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    q = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return x, y, q


def test_every_helper_requires_all_fragments():
    pattern = every("gamma", "-1.0")
    assert re.search(pattern, "got -1.0 for gamma")
    assert not re.search(pattern, "gamma must be >= 0; got -2.0")
    assert not re.search(pattern, "alpha: got -1.0")


# --------------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
def test_sigmoid_targets_shape_must_match_logits(fn):
    x, _ = binary_case((2, 3))
    with pytest.raises(ValueError, match=every("targets", "(2, 3)", "got (3, 2)")):
        fn(x, torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=every("targets", "(2, 3)", "got (3,)")):
        fn(x, torch.zeros(3, dtype=torch.float64))  # broadcastable is not enough


@pytest.mark.parametrize("module", SIGMOID_MODULES, ids=_name)
def test_sigmoid_module_targets_shape_must_match_input(module):
    x, _ = binary_case((2, 3))
    with pytest.raises(ValueError, match=every("targets", "(2, 3)", "got (2, 1)")):
        module()(x, torch.zeros(2, 1, dtype=torch.float64))


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_softmax_index_target_shape(fn):
    x, _, _ = softmax_case()
    with pytest.raises(ValueError, match=every("target", "class indices", "(2,)", "got (3,)")):
        fn(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=every("target", "class indices", "(2,)", "got (2, 1)")):
        fn(x, torch.tensor([[0], [1]]))
    x4 = torch.zeros(2, 3, 4, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match=every("target", "(2, 4, 5)", "got (2, 5, 4)")):
        fn(x4, torch.zeros(2, 5, 4, dtype=torch.long))


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_softmax_probability_target_shape(fn):
    x, _, _ = softmax_case()
    with pytest.raises(ValueError, match=every("target", "probabilities", "(2, 3)", "got (2, 4)")):
        fn(x, torch.full((2, 4), 0.25, dtype=torch.float64))
    # A floating-point target of the index shape is a probability target of the wrong shape.
    with pytest.raises(ValueError, match=every("target", "(2, 3)", "got (2,)", "integer dtype")):
        fn(x, torch.tensor([0.0, 2.0], dtype=torch.float64))


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
def test_sigmoid_weight_must_broadcast_to_logits(fn):
    x, t = binary_case((2, 3))
    with pytest.raises(ValueError, match=every("weight", "broadcast", "(2, 3)", "got shape (4,)")):
        fn(x, t, weight=torch.ones(4, dtype=torch.float64))
    # Broadcasting that would enlarge the loss is rejected too.
    with pytest.raises(ValueError, match=every("weight", "(2, 3)", "got shape (5, 2, 3)")):
        fn(x, t, weight=torch.ones(5, 2, 3, dtype=torch.float64))


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_softmax_weight_must_broadcast_to_positions(fn):
    x, y, _ = softmax_case()
    # A per-class vector is alpha's job, not weight's: weight is per position (N, d1, ...).
    with pytest.raises(ValueError, match=every("weight", "broadcast", "(2,)", "got shape (3,)")):
        fn(x, y, weight=torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_softmax_logits_need_two_dimensions(fn):
    with pytest.raises(ValueError, match=every("logits", "at least 2", "got shape (3,)")):
        fn(torch.zeros(3, dtype=torch.float64), torch.tensor(0))
    with pytest.raises(ValueError, match=every("logits", "at least 2", "got shape ()")):
        fn(torch.tensor(0.5, dtype=torch.float64), torch.tensor(0))


# --------------------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS + SOFTMAX_FUNCTIONS, ids=_name)
def test_integer_logits_are_a_type_error(fn, dtype):
    x = torch.ones(2, 3, dtype=dtype)
    target = torch.ones(2, 3) if fn in SIGMOID_FUNCTIONS else torch.tensor([0, 1])
    with pytest.raises(TypeError, match=every("logits", "floating-point", f"got dtype {dtype}")):
        fn(x, target)


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS + SOFTMAX_FUNCTIONS, ids=_name)
def test_non_tensor_logits_are_a_type_error(fn):
    target = torch.ones(2, 3) if fn in SIGMOID_FUNCTIONS else torch.tensor([0, 1])
    with pytest.raises(TypeError, match=every("logits", "torch.Tensor", "got list")):
        fn([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], target)


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
def test_sigmoid_non_tensor_targets_are_a_type_error(fn):
    x, _ = binary_case()
    with pytest.raises(TypeError, match=every("targets", "torch.Tensor", "got list")):
        fn(x, [[0, 1, 0], [1, 0, 1]])


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_softmax_bool_target_is_a_type_error(fn):
    x, _, _ = softmax_case()
    with pytest.raises(TypeError, match=every("target", "integer class indices", "torch.bool")):
        fn(x, torch.tensor([True, False]))


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS + SOFTMAX_FUNCTIONS, ids=_name)
def test_bool_weight_is_a_type_error(fn):
    x, t = binary_case()
    if fn in SOFTMAX_FUNCTIONS:
        x, t, _ = softmax_case()
        weight = torch.tensor([True, False])
    else:
        weight = torch.tensor([True, False, True])
    with pytest.raises(TypeError, match=every("weight", "real tensor", "torch.bool")):
        fn(x, t, weight=weight)


@pytest.mark.parametrize("module", SIGMOID_MODULES + SOFTMAX_MODULES, ids=_name)
def test_module_bool_weight_is_refused_at_construction(module):
    with pytest.raises(TypeError, match=every("weight", "real tensor", "torch.bool")):
        module(weight=torch.tensor([True, False, True]))


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_ignore_index_must_be_an_int(fn):
    x, y, _ = softmax_case()
    with pytest.raises(TypeError, match=every("ignore_index", "int", "1.5")):
        fn(x, y, ignore_index=1.5)
    with pytest.raises(TypeError, match=every("ignore_index", "int", "True")):
        fn(x, y, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# Reduction, normalizer, validate
# --------------------------------------------------------------------------------------------------
def _call(fn, **kwargs):
    if fn in SOFTMAX_FUNCTIONS:
        x, y, _ = softmax_case()
        return fn(x, y, **kwargs)
    x, t = binary_case()
    return fn(x, t, **kwargs)


ALL_FUNCTIONS = SIGMOID_FUNCTIONS + SOFTMAX_FUNCTIONS


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("reduction", ["avg", "MEAN", "", None])
def test_unknown_reduction(fn, reduction):
    with pytest.raises(ValueError, match=every("reduction", "'none', 'mean', 'sum'", f"got {reduction!r}")):
        _call(fn, reduction=reduction)


@pytest.mark.parametrize("module", SIGMOID_MODULES + SOFTMAX_MODULES, ids=_name)
def test_module_unknown_reduction_is_refused_at_construction(module):
    with pytest.raises(ValueError, match=every("reduction", "'none', 'mean', 'sum'", "'avg'")):
        module(reduction="avg")


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=_name)
def test_normalizer_unknown_string(fn):
    with pytest.raises(ValueError, match=every("normalizer", "'positives'", "got 'foo'")):
        _call(fn, normalizer="foo")


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("value", [0, 0.0, -2.0])
def test_normalizer_must_be_positive(fn, value):
    with pytest.raises(ValueError, match=every("normalizer", "> 0", f"got {float(value)!r}")):
        _call(fn, normalizer=value)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("value", [float("inf"), float("nan"), True, [2.0]])
def test_normalizer_non_number(fn, value):
    with pytest.raises(TypeError, match=every("normalizer", "finite real number", f"got {value!r}")):
        _call(fn, normalizer=value)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=_name)
def test_normalizer_tensor_must_have_one_element(fn):
    with pytest.raises(ValueError, match=every("normalizer", "one-element", "got shape (2,)")):
        _call(fn, normalizer=torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("value", [0.0, -2.0])
def test_normalizer_tensor_must_be_positive(fn, value):
    with pytest.raises(ValueError, match=every("normalizer", "> 0", str(value))):
        _call(fn, normalizer=torch.tensor(value), validate=True)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("normalizer", ["positives", 4.0, torch.tensor(4.0)], ids=["positives", "float", "tensor"])
def test_normalizer_with_sum_reduction(fn, normalizer):
    with pytest.raises(ValueError, match=every("normalizer", "reduction='mean'", "reduction='sum'")):
        _call(fn, reduction="sum", normalizer=normalizer)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("validate", ["yes", 1, 0, "False"])
def test_validate_must_be_none_or_bool(fn, validate):
    with pytest.raises(TypeError, match=every("validate", "None, True or False", f"got {validate!r}")):
        _call(fn, validate=validate)


# --------------------------------------------------------------------------------------------------
# Hyperparameters
# --------------------------------------------------------------------------------------------------
# every hyperparameter of the registry, and the values its check there must refuse
OUT_OF_RANGE = [pytest.param(loss.function, name, allowed, value, id=f"{loss}-{name}={value!r}")
                for loss in loss_table.LOSSES for name, error, allowed, value in loss.rejected() if error is ValueError]
NOT_A_NUMBER = [pytest.param(loss.function, name, value, id=f"{loss}-{name}={value!r}")
                for loss in loss_table.LOSSES for name, error, _, value in loss.rejected() if error is TypeError]


@pytest.mark.parametrize("fn, name, allowed, value", OUT_OF_RANGE)
def test_hyperparameter_out_of_its_range(fn, name, allowed, value):
    with pytest.raises(ValueError, match=every(name, allowed, f"got {float(value)!r}")):
        _call(fn, **{name: value})


@pytest.mark.parametrize("fn, name, value", NOT_A_NUMBER)
def test_hyperparameter_must_be_a_finite_number(fn, name, value):
    with pytest.raises(TypeError, match=every(name, "finite real number", f"got {value!r}")):
        _call(fn, **{name: value})


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("alpha", [1.5, -0.25, 1.0000001])
def test_sigmoid_alpha_must_lie_in_unit_interval(fn, alpha):
    with pytest.raises(ValueError, match=every("alpha", "[0, 1]", f"got {alpha!r}")):
        _call(fn, alpha=alpha)


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("alpha", ["0.25", [0.25, 0.75], float("nan")], ids=["str", "list", "nan"])
def test_sigmoid_alpha_must_be_a_number_or_none(fn, alpha):
    with pytest.raises(TypeError, match=every("alpha", "None or a float", f"got {alpha!r}")):
        _call(fn, alpha=alpha)


@pytest.mark.parametrize("module", SIGMOID_MODULES, ids=_name)
def test_sigmoid_module_alpha_out_of_range_is_refused_at_construction(module):
    with pytest.raises(ValueError, match=every("alpha", "[0, 1]", "got 1.5")):
        module(alpha=1.5)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("alpha", [[1.0, 2.0], [1.0, 1.0, 1.0, 1.0], [[1.0, 1.0, 1.0]]], ids=["short", "long", "2d"])
def test_softmax_alpha_needs_one_weight_per_class(fn, alpha):
    shape = tuple(np.shape(alpha))
    with pytest.raises(ValueError, match=every("alpha", "one weight per class", "(3,)", f"got shape {shape}")):
        _call(fn, alpha=alpha)
    with pytest.raises(ValueError, match=every("alpha", "(3,)", f"got shape {shape}")):
        _call(fn, alpha=torch.tensor(alpha))


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_softmax_alpha_entries_must_be_nonnegative(fn):
    with pytest.raises(ValueError, match=every("alpha", ">= 0", "got -0.5", "class 1")):
        _call(fn, alpha=[1.0, -0.5, 2.0])
    with pytest.raises(ValueError, match=every("alpha", ">= 0", "got -0.5", "class 2")):
        _call(fn, alpha=torch.tensor([1.0, 1.0, -0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match=every("alpha", "nan", "class 0")):
        _call(fn, alpha=[float("nan"), 1.0, 1.0])
    with pytest.raises(ValueError, match=every("alpha", ">= 0", "got -1.0")):
        _call(fn, alpha=-1.0)  # a single float multiplies every class


@pytest.mark.parametrize("module", SOFTMAX_MODULES, ids=_name)
def test_softmax_module_negative_alpha_is_refused_at_construction(module):
    with pytest.raises(ValueError, match=every("alpha", ">= 0", "got -0.5", "class 1")):
        module(alpha=[1.0, -0.5, 2.0])


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_softmax_alpha_of_wrong_type(fn):
    with pytest.raises(TypeError, match=every("alpha", "length-C sequence", "got 'balanced'")):
        _call(fn, alpha="balanced")


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("smoothing", [-0.1, 1.5])
def test_label_smoothing_must_lie_in_unit_interval(fn, smoothing):
    with pytest.raises(ValueError, match=every("label_smoothing", "[0, 1]", f"got {smoothing!r}")):
        _call(fn, label_smoothing=smoothing)


# --------------------------------------------------------------------------------------------------
# Target, weight values
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("bad", [3, 7, -1, -101])
def test_class_index_out_of_range(fn, bad):
    x, _, _ = softmax_case()
    with pytest.raises(IndexError, match=every("target", "[0, 3)", "ignore_index=-100", f"got {bad} at position (1,)")):
        fn(x, torch.tensor([0, bad]))


class _OpsOnTensor(TorchDispatchMode):
    """The aten ops handed one tensor's data, in full (its shape at its address)."""

    def __init__(self, tensor):
        super().__init__()
        self.key, self.names = (tensor.data_ptr(), tuple(tensor.shape)), []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if any(isinstance(a, torch.Tensor) and (a.data_ptr(), tuple(a.shape)) == self.key for a in args):
            self.names.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("kind", ["sigmoid", "indices", "probabilities"])
def test_valid_values_are_checked_in_one_pass(kind):
    """Values that pass are read once (aminmax), not through masks of every element (ge, le, and,
    not, any: 25 ms of an 8M-element sigmoid step's 32 on one thread); the masks that find the first
    bad entry are made only when something is out of range. Weights too."""
    x = torch.randn(64, 5, 32)
    if kind == "sigmoid":
        target, fn = (torch.rand(x.shape) < 0.3).float(), fl.sigmoid_focal_loss
    elif kind == "indices":
        target, fn = torch.randint(0, 5, (64, 32)), fl.softmax_focal_loss
    else:
        target, fn = torch.softmax(torch.randn(x.shape), dim=1), fl.softmax_focal_loss
    weight = torch.rand(x.shape if kind == "sigmoid" else (64, 32))
    for checked in (target, weight):
        with _OpsOnTensor(checked) as ops:
            fn(x, target, weight=weight, validate=True)
        values = [name for name in ops.names if name.split(".")[1] in
                  ("ge", "le", "lt", "gt", "bitwise_and", "bitwise_not", "bitwise_or", "any", "isfinite", "aminmax")]
        assert values == ["aten.aminmax.default"]
    bad = target.clone()
    bad.view(-1)[7] = -1
    with _OpsOnTensor(bad) as ops, pytest.raises((ValueError, IndexError), match="got -1"):
        fn(x, bad, weight=weight, validate=True)
    assert "aten.aminmax.default" in ops.names and len(ops.names) > 2  # then the masks that find it


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_class_indices_of_a_narrow_dtype_against_the_class_count(fn):
    """uint8 indices: every one is valid for C = 300 (C - 1 does not fit uint8, and a bound wrapped
    around to 43 would refuse them); for C = 100 the index 200 is refused."""
    target = torch.tensor([0, 200, 255], dtype=torch.uint8)
    fn(torch.zeros(3, 300, dtype=torch.float64), target)
    with pytest.raises(IndexError, match=every("target", "[0, 100)", "got 200 at position (1,)")):
        fn(torch.zeros(3, 100, dtype=torch.float64), target)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_class_index_out_of_range_with_custom_ignore_index(fn):
    x, _, _ = softmax_case()
    fn(x, torch.tensor([0, -1]), ignore_index=-1)  # ignored: fine
    with pytest.raises(IndexError, match=every("target", "[0, 3)", "ignore_index=-1", "got -100")):
        fn(x, torch.tensor([-100, 1]), ignore_index=-1)
    x4 = torch.zeros(2, 3, 2, 2, dtype=torch.float64)
    target = torch.zeros(2, 2, 2, dtype=torch.long)
    target[1, 0, 1] = 5
    with pytest.raises(IndexError, match=every("[0, 3)", "got 5 at position (1, 0, 1)")):
        fn(x4, target)


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("bad", [2.0, -0.5, 1.0 + 1e-9, float("nan"), float("inf")])
def test_sigmoid_targets_outside_unit_interval(fn, bad):
    x, t = binary_case()
    t[1, 2] = bad
    with pytest.raises(ValueError, match=every("targets", "[0, 1]", f"got {bad!r} at index (1, 2)")):
        fn(x, t)


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
def test_sigmoid_integer_targets_outside_unit_interval(fn):
    x, _ = binary_case()
    t = torch.tensor([[0, 1, 0], [2, 0, 1]])
    with pytest.raises(ValueError, match=every("targets", "[0, 1]", "got 2 at index (1, 0)")):
        fn(x, t)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_probability_rows_must_sum_to_one(fn):
    x, _, _ = softmax_case()
    q = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.2, 0.1]], dtype=torch.float64)
    with pytest.raises(ValueError, match=every("target", "sum to 1", "got a sum of 0.8", "position (1,)")):
        fn(x, q)
    x4 = torch.zeros(1, 2, 2, dtype=torch.float64)
    q4 = torch.tensor([[[0.5, 1.0], [0.5, 0.5]]], dtype=torch.float64)  # column 1 sums to 1.5
    with pytest.raises(ValueError, match=every("target", "sum to 1", "got a sum of 1.5", "position (0, 1)")):
        fn(x4, q4)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_probabilities_must_lie_in_unit_interval(fn):
    x, _, _ = softmax_case()
    q = torch.tensor([[0.7, 0.2, 0.1], [1.5, -0.5, 0.0]], dtype=torch.float64)  # rows sum to 1
    with pytest.raises(ValueError, match=every("target probabilities", "[0, 1]", "got 1.5 at index (1, 0)")):
        fn(x, q)
    q[1, 0] = float("nan")
    with pytest.raises(ValueError, match=every("target probabilities", "[0, 1]", "got nan")):
        fn(x, q)


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_sigmoid_weight_values(fn, bad):
    x, t = binary_case()
    weight = torch.ones(3, dtype=torch.float64)
    weight[1] = bad
    with pytest.raises(ValueError, match=every("weight", "finite and >= 0", f"got {bad!r} at index (1,)")):
        fn(x, t, weight=weight)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_softmax_weight_values(fn):
    x, y, _ = softmax_case()
    with pytest.raises(ValueError, match=every("weight", "finite and >= 0", "got -1.0 at index (1,)")):
        fn(x, y, weight=torch.tensor([1.0, -1.0], dtype=torch.float64))


@pytest.mark.parametrize("module", SIGMOID_MODULES, ids=_name)
def test_module_negative_weight_is_refused_at_construction(module):
    with pytest.raises(ValueError, match=every("weight", ">= 0", "got -2.0")):
        module(weight=[1.0, -2.0, 1.0])


# --------------------------------------------------------------------------------------------------
# validate: False skips value checks; True and None (on CPU) run them
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
def test_validate_false_skips_sigmoid_value_checks(fn):
    x, t = binary_case()
    t[0, 1] = 2.0
    for validate in (None, True):
        with pytest.raises(ValueError, match=every("targets", "[0, 1]", "got 2.0")):
            fn(x, t, validate=validate)
    loss = fn(x, t, validate=False, reduction="none")
    assert loss.shape == x.shape
    weight = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=every("weight", "got -1.0")):
        fn(x, t.clamp(0, 1), weight=weight)
    fn(x, t.clamp(0, 1), weight=weight, validate=False)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_validate_false_skips_softmax_value_checks(fn):
    x, y, _ = softmax_case()
    bad_rows = torch.tensor([[0.7, 0.2, 0.3], [0.0, 0.0, 1.0]], dtype=torch.float64)
    cases = [
        ({"target": bad_rows}, "sum to 1"),
        ({"target": torch.tensor([[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)}, "got 1.5"),
        ({"alpha": [1.0, -1.0, 1.0]}, "got -1.0"),
        ({"weight": torch.tensor([1.0, -1.0], dtype=torch.float64)}, "got -1.0"),
    ]
    for kwargs, fragment in cases:
        kwargs = dict(kwargs)
        target = kwargs.pop("target", y)
        for validate in (None, True):
            with pytest.raises(ValueError, match=every(fragment)):
                fn(x, target, validate=validate, **kwargs)
        loss = fn(x, target, validate=False, reduction="none", **kwargs)
        assert loss.shape == (2,)
    with pytest.raises(IndexError, match=every("target", "got 3")):
        fn(x, torch.tensor([0, 3]), validate=True)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("ignore_index", [-100, -1, 3, 255])
def test_ignored_positions_are_not_value_checked(fn, ignore_index):
    x, _, _ = softmax_case()
    x = torch.cat([x, torch.tensor([[float("nan"), float("inf"), 1.0]], dtype=torch.float64)])
    target = torch.tensor([0, 2, ignore_index])
    loss = fn(x, target, ignore_index=ignore_index, reduction="none", validate=True)
    assert loss[2] == 0 and torch.isfinite(loss).all()
    expected = fn(x[:2], target[:2], ignore_index=ignore_index, reduction="mean")
    torch.testing.assert_close(fn(x, target, ignore_index=ignore_index, reduction="mean"), expected)


@pytest.mark.parametrize("fn", SIGMOID_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("validate", [None, True])
def test_zero_weight_sigmoid_elements_are_not_value_checked(fn, validate):
    x, t = binary_case()
    bad_t = t.clone()
    bad_t[1, 1] = 5.0
    weight = torch.ones_like(x)
    weight[1, 1] = 0.0
    loss = fn(x, bad_t, weight=weight, reduction="none", validate=validate)
    assert loss[1, 1] == 0
    good_t = t.clone()
    torch.testing.assert_close(loss, fn(x, good_t, weight=weight, reduction="none"))
    # A broadcast weight that zeroes a whole column skips that column's targets.
    bad_t[:, 1] = -3.0
    column = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    fn(x, bad_t, weight=column, validate=validate)
    # ... but a target outside [0, 1] where the weight is nonzero still raises.
    bad_t[0, 0] = 5.0
    with pytest.raises(ValueError, match=every("targets", "[0, 1]", "got 5.0 at index (0, 0)")):
        fn(x, bad_t, weight=column, validate=validate)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
@pytest.mark.parametrize("validate", [None, True])
def test_zero_weight_softmax_positions_are_not_value_checked(fn, validate):
    x, y, q = softmax_case()
    x = torch.cat([x, x[:1]])
    weight = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    expected = fn(x[:2], y, reduction="sum")
    # An out-of-range class index where the weight is 0.
    loss = fn(x, torch.cat([y, torch.tensor([5])]), weight=weight, reduction="none", validate=validate)
    assert loss[2] == 0
    torch.testing.assert_close(loss.sum(), expected)
    # A probability row that neither lies in [0, 1] nor sums to 1, where the weight is 0.
    bad_row = torch.tensor([[3.0, -1.0, 7.0]], dtype=torch.float64)
    loss = fn(x, torch.cat([q, bad_row]), weight=weight, reduction="none", validate=validate)
    assert loss[2] == 0
    torch.testing.assert_close(loss.sum(), fn(x[:2], q, reduction="sum"))
    # ... and with a nonzero weight the same rows raise.
    with pytest.raises(IndexError, match=every("target", "[0, 3)", "got 5")):
        fn(x, torch.cat([y, torch.tensor([5])]), weight=torch.ones(3, dtype=torch.float64), validate=validate)
    with pytest.raises(ValueError, match=every("target probabilities", "[0, 1]", "got 3.0")):
        fn(x, torch.cat([q, bad_row]), weight=torch.ones(3, dtype=torch.float64), validate=validate)


@pytest.mark.parametrize("fn", SOFTMAX_FUNCTIONS, ids=_name)
def test_probability_error_position_with_weight(fn):
    x = torch.zeros(3, 3, dtype=torch.float64)
    weight = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    q = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.5, -0.5, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=every("target probabilities", "got 1.5 at index (2, 0)")):
        fn(x, q, weight=weight)
    q[2] = torch.tensor([0.5, 0.2, 0.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=every("sum to 1", "got a sum of 0.7 at position (2,)")):
        fn(x, q, weight=weight)


# --------------------------------------------------------------------------------------------------
# class_weights, prior_bias, init_prior_bias_
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["log", "Inverse", "", None])
def test_class_weights_unknown_method(method):
    with pytest.raises(ValueError, match=every("method", "'inverse', 'sqrt_inverse', 'effective_number'", f"got {method!r}")):
        fl.class_weights([10, 20, 30], method=method)


@pytest.mark.parametrize("counts, value, index", [
    ([10, 0, 30], "0", 1),
    ([10.0, 20.0, -5.0], "-5.0", 2),
    ([float("nan"), 1.0], "nan", 0),
    ([1.0, float("inf")], "inf", 1),
])
@pytest.mark.parametrize("kind", ["list", "tensor"])
def test_class_weights_counts_must_be_positive(counts, value, index, kind):
    if kind == "tensor":
        counts = torch.tensor(counts)
    with pytest.raises(ValueError, match=every("counts", "> 0", value, f"for class {index}")):
        fl.class_weights(counts)


@pytest.mark.parametrize("method", ["inverse", "effective_number"])
def test_class_weights_counts_shape(method):
    with pytest.raises(ValueError, match=every("counts", "1-D", "got shape (2, 2)")):
        fl.class_weights([[1, 2], [3, 4]], method=method)
    with pytest.raises(ValueError, match=every("counts", "non-empty", "got shape (0,)")):
        fl.class_weights([], method=method)


def test_class_weights_non_numeric_counts():
    with pytest.raises(TypeError, match=every("counts", "real numbers", "got dtype")):
        fl.class_weights(["a", "b"])


@pytest.mark.parametrize("beta, allowed, shown", [
    (1.0, "[0, 1)", "got 1.0"),
    (1, "[0, 1)", "got 1.0"),
    (1.5, "[0, 1]", "got 1.5"),
    (-0.1, "[0, 1]", "got -0.1"),
])
def test_class_weights_beta(beta, allowed, shown):
    with pytest.raises(ValueError, match=every("beta", allowed, shown)):
        fl.class_weights([10, 20], method="effective_number", beta=beta)


@pytest.mark.parametrize("prior", [0, 0.0, 1, 1.0, -0.5, 1.5, float("nan")])
def test_prior_bias_prior_must_be_strictly_between_0_and_1(prior):
    with pytest.raises(ValueError, match=every("prior", "strictly between 0 and 1", f"got {prior!r}")):
        fl.prior_bias(prior=prior)


@pytest.mark.parametrize("prior", [True, "0.1", None])
def test_prior_bias_prior_of_the_wrong_type(prior):
    with pytest.raises(TypeError, match=every("prior", "strictly between 0 and 1", f"got {prior!r}")):
        fl.prior_bias(prior=prior)


@pytest.mark.parametrize("prior", [0.0, 1.0])
def test_init_prior_bias_rejects_bad_prior(prior):
    layer = torch.nn.Linear(4, 3)
    before = layer.bias.detach().clone()
    with pytest.raises(ValueError, match=every("prior", "strictly between 0 and 1", f"got {prior!r}")):
        fl.init_prior_bias_(layer, prior=prior)
    with pytest.raises(ValueError, match=every("prior", "strictly between 0 and 1", f"got {prior!r}")):
        fl.init_prior_bias_(layer, prior=[0.1, prior, 0.2])
    torch.testing.assert_close(layer.bias.detach(), before)  # nothing written


def test_init_prior_bias_wrong_length_and_no_bias():
    layer = torch.nn.Linear(4, 3)
    with pytest.raises(ValueError, match=every("prior", "one entry per output (3)", "got 2")):
        fl.init_prior_bias_(layer, prior=[0.1, 0.2])
    with pytest.raises(ValueError, match=every("bias", "Linear has none")):
        fl.init_prior_bias_(torch.nn.Linear(4, 3, bias=False))
    with pytest.raises(TypeError, match=every("bias", "tensor or a module", "got list")):
        fl.init_prior_bias_([0.0, 0.0])


# --------------------------------------------------------------------------------------------------
# Modules check their settings at construction, with the functional's messages
# --------------------------------------------------------------------------------------------------
_BAD_SETTINGS = [
    ({"reduction": "avg"}, ValueError), ({"backend": "gpu"}, ValueError), ({"validate": "yes"}, TypeError),
    ({"normalizer": "pos"}, ValueError), ({"normalizer": 0.0}, ValueError), ({"normalizer": -1}, ValueError),
    ({"normalizer": float("nan")}, TypeError), ({"normalizer": torch.tensor([1.0, 2.0])}, ValueError),
    ({"normalizer": torch.tensor(-1.0)}, ValueError), ({"normalizer": fl.Positives(group=3)}, TypeError),
    ({"reduction": "sum", "normalizer": "positives"}, ValueError),
    ({"weight": torch.tensor([True, False, True])}, TypeError), ({"weight": [1.0, float("nan"), 1.0]}, ValueError),
    ({"weight": "heavy"}, TypeError),
]
_BAD_SOFTMAX_SETTINGS = [
    ({"alpha": "balanced"}, TypeError), ({"alpha": -1.0}, ValueError), ({"alpha": [[1.0, 1.0, 1.0]]}, ValueError),
    ({"alpha": [1.0, float("inf"), 1.0]}, ValueError), ({"alpha": torch.tensor([True, True, False])}, TypeError),
    ({"ignore_index": 1.5}, TypeError), ({"ignore_index": True}, TypeError),
    ({"label_smoothing": 1.5}, ValueError), ({"label_smoothing": "0.1"}, TypeError), ({"class_group": 3}, TypeError),
]
_BAD_BINARY_SETTINGS = [({"alpha": 1.5}, ValueError), ({"alpha": [0.25]}, TypeError), ({"alpha": "0.25"}, TypeError)]


def _construction_cases():
    for loss in loss_table.LOSSES:
        extra = _BAD_BINARY_SETTINGS if loss.binary else _BAD_SOFTMAX_SETTINGS
        cases = _BAD_SETTINGS + extra + [({name: value}, error) for name, error, _, value in loss.rejected()]
        for kwargs, error in cases:
            yield pytest.param(loss, kwargs, error, id=f"{loss.name}-{kwargs!r}"[:90])


@pytest.mark.parametrize("loss, kwargs, error", list(_construction_cases()))
def test_module_refuses_bad_settings_at_construction_as_the_functional_does(loss, kwargs, error):
    x, y = loss.sample((3, 3))  # 3 classes, 3 positions: the weights and alphas above have the right length
    with pytest.raises(error) as in_functional:
        loss.function(x, y, **kwargs)
    with pytest.raises(error) as at_construction:
        loss.module(**kwargs)
    # the one difference: a module does not know C before its first input
    assert str(at_construction.value) == str(in_functional.value).replace("shape (3,)", "shape (C,)")


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=lambda loss: loss.name)
def test_module_validate_false_defers_value_checks_of_tensor_settings(loss):
    criterion = loss.module(weight=[1.0, -2.0, 1.0], validate=False)  # the values are not read
    with pytest.raises(ValueError, match=every("weight", ">= 0", "got -2.0")):
        loss.module(weight=[1.0, -2.0, 1.0])
    assert criterion.weight.tolist() == [1.0, -2.0, 1.0]


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=lambda loss: loss.name)
def test_module_settings_on_another_device_are_not_read_at_construction(loss):
    """By default only CPU tensors' values are read (reading a GPU tensor would wait for it); a
    "meta" tensor, which has no values, stands in for another device."""
    weight = torch.ones(3, device="meta")
    criterion = loss.module(weight=weight, normalizer=torch.tensor(2.0, device="meta"))
    assert criterion.weight.device.type == "meta"
    if not loss.binary:
        assert loss.module(alpha=torch.ones(3, device="meta")).alpha.device.type == "meta"
    with pytest.raises(RuntimeError, match="meta"):
        loss.module(weight=weight, validate=True)  # validate=True reads them, as the functional does


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=lambda loss: loss.name)
def test_module_checks_a_weight_sequence_in_the_float64_it_keeps(loss):
    """A module keeps a weight sequence in float64, so its construction check must read it so: 1e40
    is finite there (read in float32 it would be inf and wrongly refused)."""
    criterion = loss.module(weight=[1e40, 1.0, 1.0])
    assert criterion.weight.dtype == torch.float64 and criterion.weight[0].item() == 1e40
    with pytest.raises(ValueError, match=every("weight", "finite", "inf")):
        loss.module(weight=[float("inf"), 1.0, 1.0])
