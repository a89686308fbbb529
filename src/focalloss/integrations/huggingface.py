r"""Focal loss (and its relatives) as the ``compute_loss_func`` of a Hugging Face ``Trainer``.

``transformers.Trainer`` (>= 4.46) pops the labels from each batch, runs the model, and calls
``compute_loss_func(outputs, labels, num_items_in_batch=n)``, where ``n`` counts the labels that are
not -100 in the whole step: every gradient-accumulation micro-batch and, with
``average_tokens_across_devices`` (the default), every process. It then multiplies the returned loss
by the number of processes, which DDP's gradient averaging divides out again, and it does not divide
by the accumulation steps. The gradient of one optimizer step is therefore that of the focal loss
summed over the whole step and divided by ``n`` exactly when every call returns

.. math::

    \frac{1}{n} \sum_{i \in \text{micro-batch}} \ell_i ,

which is what :class:`TrainerLoss` computes. Any other normaliser scales the update: a per-micro-batch
mean weighs short and long micro-batches alike and is too large by the number of accumulation steps;
``normalizer="positives"`` all-reduces over the processes and multiplies by their number, which the
Trainer then does a second time.

This module does not import ``transformers``; it only needs the calling convention above.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from numbers import Real
from typing import Any, Literal

import torch
from torch import Tensor

from .. import functional, losses
from .._scalars import choice
from ..functional import _checks

__all__ = ["TASKS", "TrainerLoss"]

IGNORED = -100  # the label that transformers' collators write for padding and that the Trainer does not count

# task -> (registry family, number of logit dimensions, the labels' layout for error messages)
TASKS = {
    "sequence_classification": ("softmax", 2, "integer class indices of shape (B,)"),
    "token_classification": ("softmax", 3, "integer class indices of shape (B, T)"),
    "multi_label_classification": ("binary", 2, "0/1 (or soft) labels of the logits' shape (B, C)"),
}

# settings of the losses that TrainerLoss fixes itself, and why
_FIXED = {
    "reduction": "it sums the micro-batch and divides by num_items_in_batch",
    "normalizer": "it divides by num_items_in_batch; 'positives' would all-reduce over the processes and scale "
                  "by their number, which the Trainer does again",
    "weight": "per-position weights change with every batch; pass a per-class alpha instead",
    "ignore_index": f"the Trainer counts the labels that are not {IGNORED} in num_items_in_batch",
}


class TrainerLoss:
    r"""A ``compute_loss_func`` for ``transformers.Trainer``: a focalloss loss summed over the
    micro-batch and divided by the Trainer's ``num_items_in_batch``.

    .. math::

        L = \frac{1}{\max(1, n)} \sum_{i:\ y_i \ne -100} \ell(x_i, y_i)

    with :math:`\ell` the loss of :func:`focalloss.softmax_focal_loss` (or the chosen relative) per
    sequence or token, or of :func:`focalloss.sigmoid_focal_loss` per (example, label) for multi-label
    classification, and :math:`n` the Trainer's ``num_items_in_batch`` (the labels != -100 of the
    whole optimizer step, over accumulation steps and processes). Then gradient accumulation and
    data-parallel training give the gradient of one large batch. Without ``num_items_in_batch``
    (a direct call, or an evaluation loop that does not pass it) :math:`n` is the number of labels
    != -100 in this batch: the batch's mean loss. Positions labelled -100 (padding, special tokens, a label
    left out of a multi-label example) are left out of the loss, the count and the gradient.

    Args:
        task: ``"sequence_classification"`` (softmax over ``C`` classes, one label per example),
            ``"token_classification"`` (softmax per token) or ``"multi_label_classification"``
            (a sigmoid per class).
        loss: which loss of the task's family: ``"focal"`` (default), ``"softened"`` or
            ``"hard_truncation"``, and ``"focal_star"`` for multi-label.
        **settings: keyword-only settings of that loss, passed through: ``alpha``, its
            hyperparameter (``gamma``, ``k``, ``threshold``, ``beta``), ``label_smoothing``
            (softmax), ``validate`` and ``backend``; defaults as in the loss; all checked here,
            with the loss's own messages. ``reduction``,
            ``normalizer``, ``weight`` and ``ignore_index`` are fixed by this class and refused.

    Shape:
        - outputs: a ``ModelOutput`` or dict with ``"logits"``, a tuple starting with the logits, or
          the logits: ``(B, C)``, or ``(B, T, C)`` for token classification. float16 and bfloat16
          logits are computed in float32 and the loss returned in float32, as transformers' own
          losses do.
        - labels: ``(B,)`` or ``(B, T)`` integer class indices; ``(B, C)`` labels in [0, 1] for
          multi-label. -100 marks a position that does not count.
        - num_items_in_batch: None, a number or a tensor (the Trainer passes a 0-d tensor).
        - output: a scalar tensor.

    Example:
        >>> import torch
        >>> from focalloss.integrations.huggingface import TrainerLoss
        >>> loss_func = TrainerLoss(task="token_classification", gamma=2.0)
        >>> logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])   # (B=1, T=3, C=2)
        >>> labels = torch.tensor([[0, 0, -100]])                            # the last token is padding
        >>> loss_func({"logits": logits}, labels, num_items_in_batch=4)    # 4 tokens in the whole step
        tensor(0.1759)
        >>> loss_func({"logits": logits}, labels)                          # this batch's mean
        tensor(0.3518)

        With the Trainer (transformers >= 4.46)::

            trainer = Trainer(model=model, args=args, train_dataset=train,
                              compute_loss_func=TrainerLoss(task="token_classification", gamma=2.0))
    """

    def __init__(
        self, *, task: Literal["sequence_classification", "token_classification", "multi_label_classification"],
        loss: str = "focal", **settings: Any,
    ) -> None:
        self.task = choice(task, "task", tuple(TASKS))
        family, self._logit_dims, self._label_layout = TASKS[self.task]
        self._binary = family == "binary"
        kinds = losses.BINARY if self._binary else losses.SOFTMAX
        self.loss = choice(loss, f"loss (for task={self.task!r})", tuple(kinds))
        spec = kinds[self.loss]
        self._function = getattr(functional, spec.function)
        self.settings = _checked_settings(spec, self._function, settings)

    def __repr__(self) -> str:
        settings = "".join(f", {name}={value!r}" for name, value in self.settings.items())
        return f"TrainerLoss(task={self.task!r}, loss={self.loss!r}{settings})"

    def __call__(self, outputs: Any, labels: Tensor, *, num_items_in_batch: int | Tensor | None = None) -> Tensor:
        """The loss of one micro-batch, already normalised for the whole step: see the class."""
        logits = _logits(outputs)
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        counted = self._check_labels(logits, labels) != IGNORED
        if self._logit_dims == 3:  # (B, T, C) -> one row per token
            logits, labels, counted = logits.flatten(0, 1), labels.flatten(), counted.flatten()
        if self._binary:
            total = self._function(logits, labels.masked_fill(~counted, 0), reduction="sum",
                                   weight=counted.to(logits.dtype), **self.settings)
        else:
            total = self._function(logits, labels, reduction="sum", ignore_index=IGNORED, **self.settings)
        if num_items_in_batch is None:
            num_items_in_batch = counted.sum()
        return total / _count(num_items_in_batch)

    def _check_labels(self, logits, labels):
        if logits.dim() != self._logit_dims:
            layout = "(B, T, C)" if self._logit_dims == 3 else "(B, C)"
            raise ValueError(
                f"logits for task={self.task!r} must have shape {layout}; got shape {tuple(logits.shape)}"
            )
        if labels is None:
            raise ValueError(
                "labels is None: the batch has no 'labels' entry (the Trainer pops it from the inputs; set "
                "TrainingArguments(label_names=...) if yours has another name)"
            )
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"labels must be a torch.Tensor of {self._label_layout}; got {type(labels).__name__}")
        expected = logits.shape if self._binary else logits.shape[:-1]
        not_indices = labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool
        wrong_dtype = not self._binary and not_indices
        if labels.shape != expected or wrong_dtype:
            raise ValueError(
                f"labels for task={self.task!r} must be {self._label_layout} with -100 where nothing counts, "
                f"for logits of shape {tuple(logits.shape)}; got dtype {labels.dtype}, shape {tuple(labels.shape)}"
            )
        return labels


def _checked_settings(spec, function, settings):
    """The loss's keyword-only settings minus those TrainerLoss fixes, checked as a module checks its own."""
    keyword_only = {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()
                    if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
    accepted = [name for name in keyword_only if name not in _FIXED]
    for name in settings:
        if name in _FIXED:
            raise ValueError(f"{name} cannot be passed to TrainerLoss: {_FIXED[name]}")
        if name not in accepted:
            raise TypeError(
                f"TrainerLoss(loss={spec.kind!r}) takes the settings {', '.join(accepted)} of "
                f"{spec.function}; got {name!r}"
            )
    _checks.settings(spec, {**keyword_only, **settings})
    return dict(settings)


def _logits(outputs):
    """The logits of a model's outputs: a ModelOutput or dict, a tuple (return_dict=False), or a tensor."""
    if isinstance(outputs, Mapping):
        if "logits" not in outputs:
            raise ValueError(f"outputs must hold 'logits'; got the keys {list(outputs)}")
        return _checks.logits_tensor(outputs["logits"])
    if isinstance(outputs, (tuple, list)) and outputs:
        return _checks.logits_tensor(outputs[0])
    return _checks.logits_tensor(outputs)


def _count(num_items_in_batch):
    """The denominator: at least 1, so that a step in which nothing counts has loss 0, not NaN."""
    if isinstance(num_items_in_batch, torch.Tensor) and not (num_items_in_batch.is_complex()
                                                             or num_items_in_batch.dtype == torch.bool):
        return num_items_in_batch.clamp_min(1)
    if isinstance(num_items_in_batch, Real) and not isinstance(num_items_in_batch, bool):
        return max(num_items_in_batch, 1)
    raise TypeError(f"num_items_in_batch must be None, a number or a real tensor; got {num_items_in_batch!r}")
