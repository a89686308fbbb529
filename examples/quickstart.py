"""focalloss in one minute: the worked example of the articles, then a small long-tailed training run.

Run: python examples/quickstart.py   (CPU, a few seconds, nothing downloaded)
"""

from __future__ import annotations

import math

import torch
from torch import nn

import focalloss

torch.set_num_threads(min(2, torch.get_num_threads()))


def worked_example():
    """10 hard positives (p = 0.01) against 10^6 easy negatives (p = 0.01, so p_t = 0.99)."""
    x = torch.full((10 + 10**6,), math.log(0.01 / 0.99), dtype=torch.float64)
    t = torch.zeros_like(x)
    t[:10] = 1.0
    print("Worked example: 10 hard positives vs 10^6 easy negatives")
    for label, settings in (("cross-entropy", {"alpha": None, "gamma": 0.0}),
                            ("focal (alpha=0.25, gamma=2)", {"alpha": 0.25, "gamma": 2.0})):
        loss = focalloss.sigmoid_focal_loss(x, t, reduction="none", **settings)
        share = (loss[:10].sum() / loss.sum()).item()
        print(f"  {label:<28} positives carry {share:.4f} of the loss")
    print()


def long_tailed_blobs(counts, generator, spread=1.6):
    """Gaussian blobs in 2-D, one per class, class c with counts[c] points."""
    num_classes = len(counts)
    angles = torch.arange(num_classes) * 2 * math.pi / num_classes
    centres = 3.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    xs = [centres[c] + spread * torch.randn(n, 2, generator=generator) for c, n in enumerate(counts)]
    ys = [torch.full((n,), c) for c, n in enumerate(counts)]
    return torch.cat(xs), torch.cat(ys)


def balanced_accuracy(predicted, target, num_classes):
    recalls = [(predicted[target == c] == c).float().mean().item() for c in range(num_classes)]
    return sum(recalls) / num_classes, recalls


def train(loss_fn, x, y, num_classes, seed, steps=300):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, num_classes))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        optimiser.zero_grad()
        loss_fn(model(x), y).backward()
        optimiser.step()
    return model


def main():
    worked_example()
    counts = [1000, 300, 90, 25, 8]
    generator = torch.Generator().manual_seed(0)
    x_train, y_train = long_tailed_blobs(counts, generator)
    x_test, y_test = long_tailed_blobs([400] * len(counts), generator)
    alpha = focalloss.class_weights(counts, method="effective_number", beta=0.999)
    losses = {
        "cross-entropy": nn.CrossEntropyLoss(),
        "focal (gamma=2)": focalloss.SoftmaxFocalLoss(gamma=2.0),
        "class-balanced focal": focalloss.SoftmaxFocalLoss(gamma=2.0, alpha=alpha),
    }
    print(f"Long-tailed 2-D blobs: train counts {counts}, balanced test set of 400 per class, 3 seeds")
    print(f"  {'loss':<22} {'balanced acc':>13} {'rarest-class recall':>20}")
    for name, loss_fn in losses.items():
        scores, rare = [], []
        for seed in range(3):
            model = train(loss_fn, x_train, y_train, len(counts), seed)
            with torch.no_grad():
                accuracy, recalls = balanced_accuracy(model(x_test).argmax(1), y_test, len(counts))
            scores.append(accuracy)
            rare.append(recalls[-1])
        print(f"  {name:<22} {sum(scores) / 3:>13.3f} {sum(rare) / 3:>20.3f}")


if __name__ == "__main__":
    main()
