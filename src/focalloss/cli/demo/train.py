"""The demo's trainer: one loop for every data set, and the MLP of the feature-vector data sets.

The seed fixes the initial weights, dropout and the order of the minibatches, so that with the same
seed every loss starts from the same network and sees the same batches: only the loss differs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "BATCH_SIZE", "HIDDEN", "LEARNING_RATE", "fit", "mlp", "predict_proba", "probabilities", "random_batches", "train",
]

HIDDEN = 128
LEARNING_RATE = 3e-3
BATCH_SIZE = 64


def random_batches(size, batch_size, generator):
    """A random permutation of ``range(size)`` cut into batches of ``batch_size`` (the last one shorter)."""
    return torch.randperm(size, generator=generator).split(batch_size)


def fit(build_model, batch_loss, *, size, seed, epochs, batch_size, optimiser=None, batches=random_batches,
        after_step=None):
    """Build a model and train it on minibatches; the loop every data set of the demo uses.

    Args:
        build_model: ``() -> nn.Module``, called after ``torch.manual_seed(seed)``.
        batch_loss: ``(model, indices) -> scalar loss`` of the training examples ``indices``.
        size: the number of training examples.
        seed: for the initial weights, dropout and the batch order.
        epochs: passes over the training examples.
        batch_size: examples per step.
        optimiser: ``parameters -> torch.optim.Optimizer``; default Adam at ``LEARNING_RATE``.
        batches: ``(size, batch_size, generator) -> iterable of index tensors``, one epoch's
            batches; default :func:`random_batches`.
        after_step: ``(loss) -> bool``, called after each step with the step's loss; training stops
            when it returns True.

    Returns:
        The trained model, in evaluation mode.
    """
    torch.manual_seed(seed)
    model = build_model()
    order = torch.Generator().manual_seed(seed)
    if optimiser is None:
        optimiser = _adam
    optimiser = optimiser(model.parameters())
    model.train()
    for _ in range(epochs):
        for batch in batches(size, batch_size, order):
            loss = batch_loss(model, batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if after_step is not None and after_step(loss.detach()):
                return model.eval()
    return model.eval()


def _adam(parameters):
    return torch.optim.Adam(parameters, lr=LEARNING_RATE)


def mlp(num_inputs, num_outputs):
    """Two hidden layers of ``HIDDEN`` with ReLU."""
    return nn.Sequential(
        nn.Linear(num_inputs, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, num_outputs)
    )


def train(split, loss_fn, *, seed, epochs):
    """A fresh MLP (two hidden layers of 128) trained with ``loss_fn`` by Adam on minibatches of 64.

    Args:
        split: a :class:`focalloss.cli.demo.classification.Split` of feature vectors.
        loss_fn: ``loss(logits, targets) -> scalar``; logits are (B,) with float 0/1 targets for a
            binary split, (B, C) with class indices otherwise.
        seed: for the initial weights and the batch order.
        epochs: passes over the training split.

    Returns:
        The trained network, in evaluation mode.
    """
    x = torch.from_numpy(split.x_train)
    y = torch.from_numpy(split.y_train)
    y = y.to(torch.float32) if split.binary else y

    def batch_loss(model, batch):
        logits = model(x[batch])
        return loss_fn(logits.squeeze(1) if split.binary else logits, y[batch])

    return fit(lambda: mlp(split.x_train.shape[1], 1 if split.binary else split.num_classes), batch_loss,
               size=len(y), seed=seed, epochs=epochs, batch_size=BATCH_SIZE)


def probabilities(logits, *, binary):
    """Class probabilities (N, C) in float64 from logits; a binary model's p becomes the columns 1 - p, p.

    Args:
        logits: (N, 1) or (N,) for a binary model, (N, C) otherwise.
        binary: whether the model has one logit (sigmoid) rather than C (softmax).

    Example:
        >>> probabilities(torch.tensor([[0.0]]), binary=True)
        array([[0.5, 0.5]])
    """
    logits = logits.detach().double()
    if binary:
        p = torch.sigmoid(logits.reshape(-1)).numpy()
        return np.stack([1.0 - p, p], axis=1)
    return torch.softmax(logits, dim=1).numpy()


def predict_proba(model, x, *, binary):
    """Class probabilities (N, C) in float64 of ``model`` on features ``x``; see :func:`probabilities`.

    Args:
        model: a network from :func:`train`.
        x: features, a float32 NumPy array (N, d).
        binary: whether the model has one logit (sigmoid) rather than C (softmax).
    """
    with torch.no_grad():
        return probabilities(model(torch.from_numpy(x)), binary=binary)
