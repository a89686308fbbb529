"""Argument validation: one helper per kind of argument, each error naming argument, allowed, received.

Shape and type checks cost nothing and always run. Checks that read tensor values (target ranges,
class indices, weights, row sums) need a device-to-host copy on an accelerator, so they run when
``validate`` says so: ``None`` (the default) checks tensors on the CPU and skips tensors elsewhere,
``True`` always checks, ``False`` never does.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from numbers import Real

import torch
import torch.distributed

from .._scalars import choice, nonnegative, positive, unit_interval
from ._reduce import Positives

REDUCTIONS = ("none", "mean", "sum")
BACKENDS = ("auto", "torch", "cpu", "triton")


def reduction(value):
    return choice(value, "reduction", REDUCTIONS)


def backend(value):
    return choice(value, "backend", BACKENDS)


def binary_alpha(alpha):
    """None, or the positives' weight in [0, 1] (negatives get 1 - alpha)."""
    return None if alpha is None else unit_interval(alpha, "alpha (None or a float in [0, 1])")


def wants_values(validate, *arguments):
    """Whether to run the checks that read tensor values. By default (None) for CPU tensors only,
    and never while torch.compile traces the call: reading a value would break the graph."""
    if validate is None:
        if torch.compiler.is_compiling():
            return False
        return all(a.device.type == "cpu" for a in arguments if isinstance(a, torch.Tensor))
    return validate_flag(validate)


def validate_flag(validate):
    if validate is not None and not isinstance(validate, bool):
        raise TypeError(f"validate must be None, True or False; got {validate!r}")
    return validate


_LOGIT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _dense(tensor, name):
    if tensor.layout != torch.strided or tensor.is_nested:
        kind = "a nested tensor" if tensor.is_nested else f"layout {tensor.layout}"
        raise TypeError(f"{name} must be a dense (strided) tensor; got {kind}")


def same_device(tensor, name, logits, *, cpu_too=False):
    """A tensor argument must sit on the logits' device (``cpu_too``: or on the CPU, copied over)."""
    if tensor.device == logits.device or (cpu_too and tensor.device.type == "cpu"):
        return tensor
    allowed = f"the logits' device ({logits.device}) or the CPU" if cpu_too else f"the logits' device ({logits.device})"
    raise ValueError(f"{name} must be on {allowed}; got a tensor on {tensor.device}")


def logits_tensor(logits, *, min_dim=0):
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor of raw scores; got {type(logits).__name__}")
    if logits.dtype not in _LOGIT_DTYPES:
        raise TypeError(
            f"logits must be a floating-point tensor (float16, bfloat16, float32 or float64) of raw "
            f"scores; got dtype {logits.dtype}"
        )
    _dense(logits, "logits")
    if logits.dim() < min_dim:
        raise ValueError(
            f"logits must have at least {min_dim} dimensions (N, C, d1, ...); got shape {tuple(logits.shape)}"
        )
    return logits


# grad_fn classes of tensors that hold probabilities (or log-probabilities), not logits
_PROBABILITY_MAKERS = {
    "binary": {"SigmoidBackward0": "torch.sigmoid", "SoftmaxBackward0": "torch.softmax",
               "LogSoftmaxBackward0": "torch.log_softmax", "LogSigmoidBackward0": "F.logsigmoid"},
    # log_softmax changes every row by a constant, which the softmax losses do not see
    "softmax": {"SigmoidBackward0": "torch.sigmoid", "SoftmaxBackward0": "torch.softmax"},
}
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TORCH_NN_DIR = os.path.dirname(os.path.abspath(torch.nn.modules.__file__))


def _caller_stacklevel():
    """The stacklevel of the first frame outside focalloss and torch.nn.modules: the user's line."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith((_PACKAGE_DIR, _TORCH_NN_DIR)):
        frame, level = frame.f_back, level + 1
    return level


def probabilities_as_logits(logits, family):
    """Warn (once per call site) when ``logits`` come straight out of sigmoid or softmax: the
    losses take raw scores, and probabilities passed as logits give a plausible, wrong loss. Not while
    compiling: Dynamo cannot trace the read of a traced tensor's ``grad_fn`` (a model and its loss
    compiled together with ``fullgraph=True`` failed on it)."""
    if torch.compiler.is_compiling():
        return
    grad_fn = logits.grad_fn
    maker = None if grad_fn is None else _PROBABILITY_MAKERS[family].get(type(grad_fn).__name__)
    if maker is not None:
        warnings.warn(
            f"logits come straight out of {maker}: the focalloss losses take raw scores (logits) and "
            f"apply the {'sigmoid' if family == 'binary' else 'softmax'} themselves; pass the tensor "
            f"before {maker}",
            UserWarning,
            stacklevel=_caller_stacklevel(),
        )


def _first_bad(mask, values):
    """(index, value) of the first True entry of mask, for error messages."""
    index = tuple(int(i) for i in torch.nonzero(mask)[0])
    return index, values[index].item()


def _within(values, low, high):
    """Whether every value lies in [low, high] (``high=None``: finite), NaN nowhere, found in one pass
    (``aminmax``; a NaN makes both NaN). The masks that name the first bad entry cost several full
    passes and temporaries (some 25 ms for 8M float32 targets on one thread, against 3 ms), so they
    run only when this fails."""
    if values.numel() == 0:
        return True
    # compared as Python numbers: a bound past an integer dtype's range would wrap around in a tensor
    smallest, largest = torch.stack(torch.aminmax(values)).tolist()
    return smallest >= low and (largest <= high if high is not None else math.isfinite(largest))


def _refuse(bad, values, message, error=ValueError):
    """Raise ``error(message.format(value=..., index=...))`` for the first True entry of ``bad``."""
    if bool(bad.any()):
        index, value = _first_bad(bad, values)
        raise error(message.format(value=value, index=index))


def binary_targets(targets, logits):
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor; got {type(targets).__name__}")
    _dense(targets, "targets")
    same_device(targets, "targets", logits)
    if targets.shape != logits.shape:
        raise ValueError(
            f"targets must have the logits' shape {tuple(logits.shape)}; got {tuple(targets.shape)}"
        )
    if targets.is_complex():
        raise TypeError(f"targets must be real (bool, integer or floating point); got dtype {targets.dtype}")
    return targets


def binary_target_values(targets, counted, check_values):
    """Targets must lie in [0, 1] wherever the element counts."""
    if not check_values or targets.dtype == torch.bool or _within(targets, 0, 1):
        return
    bad = ~((targets >= 0) & (targets <= 1))
    if counted is not None:
        bad &= counted
    _refuse(bad, targets, "targets must lie in [0, 1]; got {value!r} at index {index}")


def weight_tensor(weight, loss_shape, logits):
    """Elementwise weights broadcastable to the per-element loss shape (values: weight_values)."""
    if weight is None:
        return None
    weight = weight_setting(weight, None if logits is None else logits.device)
    same_device(weight, "weight", logits)
    try:
        shape = torch.broadcast_shapes(weight.shape, loss_shape)
    except RuntimeError:
        shape = None
    if shape != torch.Size(loss_shape):
        raise ValueError(
            f"weight must broadcast to the per-element loss shape {tuple(loss_shape)}; "
            f"got shape {tuple(weight.shape)}"
        )
    return weight


def weight_setting(weight, device=None, dtype=None):
    """A real dense tensor (a sequence is converted, to ``dtype`` if given) of elementwise weights,
    its shape unchecked."""
    if not isinstance(weight, torch.Tensor):
        try:
            weight = torch.as_tensor(weight, device=device, dtype=dtype)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"weight must be None or a real tensor of non-negative weights; got {weight!r}") from error
    if weight.is_complex() or weight.dtype == torch.bool:
        raise TypeError(f"weight must be a real tensor of non-negative weights; got dtype {weight.dtype}")
    _dense(weight, "weight")
    return weight


def weight_values(weight, check_values):
    if weight is None or not check_values or _within(weight, 0, None):
        return
    _refuse(~((weight >= 0) & torch.isfinite(weight)), weight,
            "weight must be finite and >= 0; got {value!r} at index {index}")


def normalizer_value(normalizer, reduction_, logits):
    """None, "positives", a finite number > 0, or a one-element tensor; not with reduction="sum"."""
    if normalizer is None:
        return None
    if reduction_ == "sum":
        raise ValueError(
            "normalizer replaces the denominator of reduction='mean' (or divides reduction='none'); "
            "it cannot be combined with reduction='sum'"
        )
    if isinstance(normalizer, str):
        if normalizer != "positives":
            raise ValueError(
                f"normalizer must be None, 'positives', Positives(group=...), a number > 0 or a tensor; "
                f"got {normalizer!r}"
            )
        return normalizer
    if isinstance(normalizer, Positives):
        group = normalizer.group
        if not (group is None or group == "local" or type(group).__name__ == "ProcessGroup"):
            raise TypeError(
                f"Positives(group=...) takes None, 'local' or a torch.distributed ProcessGroup; got {group!r}"
            )
        return normalizer
    if isinstance(normalizer, torch.Tensor):
        if normalizer.numel() != 1:
            raise ValueError(
                f"normalizer must be a one-element tensor; got shape {tuple(normalizer.shape)}"
            )
        if normalizer.is_complex() or normalizer.dtype == torch.bool:
            raise TypeError(f"normalizer must be a real tensor; got dtype {normalizer.dtype}")
        _dense(normalizer, "normalizer")
        return normalizer if logits is None else same_device(normalizer, "normalizer", logits, cpu_too=True)
    return positive(normalizer, "normalizer")


def normalizer_values(normalizer, check_values):
    """A tensor normalizer must be finite and > 0 (checked when values are)."""
    if not check_values or not isinstance(normalizer, torch.Tensor):
        return
    if not bool(torch.isfinite(normalizer).all() & (normalizer > 0).all()):
        raise ValueError(f"normalizer must be finite and > 0; got {normalizer.item()!r}")


def class_alpha(alpha, num_classes, logits, dtype):
    """None, a float >= 0 (multiplies every class), or one weight >= 0 per class (values:
    alpha_values). ``num_classes`` and ``logits`` None: any length, any device (a module's setting)."""
    if alpha is None:
        return None
    if isinstance(alpha, Real) and not isinstance(alpha, bool):
        return nonnegative(alpha, "alpha (None, a float or a length-C sequence)")
    if isinstance(alpha, (str, bytes)):
        raise TypeError(f"alpha must be None, a float >= 0 or a length-C sequence; got {alpha!r}")
    if isinstance(alpha, torch.Tensor):
        if alpha.is_complex() or alpha.dtype == torch.bool:
            raise TypeError(f"alpha must hold real per-class weights; got dtype {alpha.dtype}")
        _dense(alpha, "alpha")
        if logits is not None:
            same_device(alpha, "alpha", logits, cpu_too=True)
    try:
        vector = torch.as_tensor(alpha, device=None if logits is None else logits.device, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"alpha must be None, a float >= 0 or a length-C sequence; got {alpha!r}") from error
    if vector.dim() != 1 or (num_classes is not None and vector.shape[0] != num_classes):
        expected = "C" if num_classes is None else num_classes
        raise ValueError(
            f"alpha must hold one weight per class, shape ({expected},); got shape {tuple(vector.shape)}"
        )
    return vector


def alpha_values(alpha, check_values):
    if not check_values or not isinstance(alpha, torch.Tensor) or _within(alpha, 0, None):
        return
    _refuse(~((alpha >= 0) & torch.isfinite(alpha)), alpha,
            "alpha must hold finite weights >= 0; got {value!r} for class {index[0]}")


def class_target(target, logits):
    """Class indices (N, d1, ...) or probabilities shaped like logits. Returns True for indices."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(
            f"target must be a torch.Tensor of class indices or probabilities; got {type(target).__name__}"
        )
    _dense(target, "target")
    same_device(target, "target", logits)
    index_shape = logits.shape[:1] + logits.shape[2:]
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(
            f"target must hold integer class indices or floating-point probabilities; got dtype {target.dtype}"
        )
    if target.is_floating_point():
        if target.shape != logits.shape:
            raise ValueError(
                f"target with probabilities must have the logits' shape {tuple(logits.shape)}; "
                f"got {tuple(target.shape)} (class indices must have an integer dtype)"
            )
        return False
    if target.shape != index_shape:
        raise ValueError(
            f"target with class indices must have shape {tuple(index_shape)} (logits' shape without the "
            f"class dimension 1); got {tuple(target.shape)}"
        )
    return True


def _representable(value, dtype):
    info = torch.iinfo(dtype)
    return info.min <= value <= info.max


def not_ignored(target, ignore_index):
    """The positions whose class index is not ignore_index. An ignore_index that the target's dtype
    cannot hold (255 in int8, -100 in uint8) matches nothing, rather than its wrapped-around value."""
    if _representable(ignore_index, target.dtype):
        return target != ignore_index
    return torch.ones_like(target, dtype=torch.bool)


def class_target_values(target, is_index, num_classes, ignore_index, counted, group=None):
    """Indices in [0, C) or ignore_index; probabilities in [0, 1] summing to 1 (over the ranks of
    ``group``, when the classes are sharded over it). Counted rows only."""
    if is_index:
        if _within(target, 0, num_classes - 1):
            return
        bad = target < 0
        if _representable(num_classes, target.dtype):
            bad |= target >= num_classes
        if _representable(ignore_index, target.dtype):
            bad &= target != ignore_index
        if counted is not None:
            bad &= counted
        _refuse(bad, target, f"target must hold class indices in [0, {num_classes}) or ignore_index={ignore_index}; "
                "got {value} at position {index}", IndexError)
        return
    if not _within(target, 0, 1):
        bad = ~((target >= 0) & (target <= 1))
        if counted is not None:
            bad &= counted.unsqueeze(1)
        _refuse(bad, target, "target probabilities must lie in [0, 1]; got {value!r} at index {index}")
    # each probability rounded to the target's dtype moves the sum by up to half an ulp of it
    tolerance = max(1e-3 if target.element_size() < 4 else 1e-4, torch.finfo(target.dtype).eps)
    sums = target.sum(dim=1, dtype=torch.float64)  # no float64 copy of the targets
    if group is not None:
        torch.distributed.all_reduce(sums, group=group)
    off = (sums - 1).abs() > tolerance
    if counted is not None:
        off &= counted
    _refuse(off, sums, f"target probabilities must sum to 1 over the class dimension (within {tolerance}); "
            "got a sum of {value:.6g} at position {index}")


def class_group(group):
    """None, or the torch.distributed process group over which the classes are sharded."""
    if group is not None and type(group).__name__ != "ProcessGroup":
        raise TypeError(f"class_group must be None or a torch.distributed ProcessGroup; got {group!r}")
    return group


def ignore_index_value(ignore_index):
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int; got {ignore_index!r}")
    return ignore_index


def settings(spec, values):
    """Check a module's settings at construction with the functional's own checks and messages:
    everything that does not need the input. Values held in tensors (weights, a per-class alpha,
    a tensor normalizer) are read as ``validate`` says (by default for CPU tensors only); their
    shapes against the input and their devices are checked per call."""
    spec.params({h.name: values[h.name] for h in spec.hyperparameters})
    reduction_ = reduction(values["reduction"])
    backend(values["backend"])
    validate = validate_flag(values["validate"])
    normalizer = normalizer_value(values["normalizer"], reduction_, None)
    normalizer_values(normalizer, wants_values(validate, normalizer))
    if values["weight"] is not None:
        weight = weight_setting(values["weight"], dtype=torch.float64)  # a sequence as the module keeps it
        weight_values(weight, wants_values(validate, weight))
    if spec.family == "binary":
        binary_alpha(values["alpha"])
        return
    alpha = class_alpha(values["alpha"], None, None, torch.float64)
    alpha_values(alpha, wants_values(validate, alpha))
    ignore_index_value(values["ignore_index"])
    unit_interval(values["label_smoothing"], "label_smoothing")
    class_group(values["class_group"])
