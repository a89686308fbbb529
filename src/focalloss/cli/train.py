"""Training the demo's small network with one loss, and its predicted probabilities on the test split."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["HIDDEN", "LEARNING_RATE", "BATCH_SIZE", "predict_proba", "train"]

HIDDEN = 128
LEARNING_RATE = 3e-3
BATCH_SIZE = 64


def _network(num_inputs, num_outputs):
    return nn.Sequential(
        nn.Linear(num_inputs, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, num_outputs)
    )


def train(split, loss_fn, *, seed, epochs):
    """A fresh MLP (two hidden layers of 128) trained with ``loss_fn`` by Adam on minibatches of 64.

    The seed fixes the initial weights and the order of the minibatches, so that with the same seed
    every loss starts from the same network and sees the same batches: only the loss differs.

    Args:
        split: a :class:`focalloss.cli.data.Split`.
        loss_fn: ``loss(logits, targets) -> scalar``; logits are (B,) with float 0/1 targets for a
            binary split, (B, C) with class indices otherwise.
        seed: for the initial weights and the batch order.
        epochs: passes over the training split.

    Returns:
        The trained network, in evaluation mode.
    """
    torch.manual_seed(seed)
    model = _network(split.x_train.shape[1], 1 if split.binary else split.num_classes)
    x = torch.from_numpy(split.x_train)
    y = torch.from_numpy(split.y_train)
    y = y.to(torch.float32) if split.binary else y
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=order).split(BATCH_SIZE):
            logits = model(x[batch])
            loss = loss_fn(logits.squeeze(1) if split.binary else logits, y[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return model.eval()


def predict_proba(model, x, *, binary):
    """Class probabilities (N, C) in float64; a binary model's p becomes the columns 1 - p, p.

    Args:
        model: a network from :func:`train`.
        x: features, a float32 NumPy array (N, d).
        binary: whether the model has one logit (sigmoid) rather than C (softmax).
    """
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).double()
    if binary:
        p = torch.sigmoid(logits.squeeze(1)).numpy()
        return np.stack([1.0 - p, p], axis=1)
    return torch.softmax(logits, dim=1).numpy()
