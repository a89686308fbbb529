"""Float32 accuracy of every loss and backend against the float64 reference, by logit scale.

For each loss, target kind and logit scale, random inputs (logits = scale * randn, one row in four
saturated by an extra scale on its target class; and, for the softmax losses, rows whose target
stands a gap of 20, 300 or 3000 above close logits of scale 1) are run forward and backward in float32, and
compared with :mod:`focalloss.reference` evaluated in float64 on the same rounded inputs. Reported:
the largest relative error of a loss value (losses below 1e-30 compared absolutely), and the
largest error of a gradient entry relative to the largest entry of the gradient.

    python benchmarks/accuracy.py [--backends torch,cpu,triton] [--rows 64]

(``benchmarks/accuracy.py`` runs :func:`main`.)

backend "triton" runs in Triton's interpreter without a GPU (slow; use few rows).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

SCALES = [1.0, 1e2, 1e3, 1e4, 3e4]
GAPS = [20.0, 300.0, 3000.0]  # softmax: the target this far above close logits, on every row
GAMMAS = [0.0, 0.5, 2.0, 10.0]
SOFTMAX = {"softmax_focal_loss": "gamma", "softmax_softened_loss": "k", "softmax_hard_truncation_loss": None}
BINARY = {"sigmoid_focal_loss": "gamma", "sigmoid_softened_loss": "k", "sigmoid_hard_truncation_loss": None,
          "sigmoid_focal_loss_star": "gamma"}


def _inputs(kind, scale, rows, classes, gen, gap=None):
    x = torch.randn(rows, classes, generator=gen, dtype=torch.float64) * scale
    if kind == "binary":
        return x.float(), (torch.rand(rows, classes, generator=gen) > 0.5).float(), {}
    y = torch.randint(0, classes, (rows,), generator=gen)
    if gap is None:
        x[::4].scatter_add_(1, y[::4, None], torch.full((len(y[::4]), 1), 3.0 * scale, dtype=torch.float64))
    else:
        x.scatter_add_(1, y[:, None], torch.full((rows, 1), gap, dtype=torch.float64))
    if kind == "probabilities":
        return x.float(), torch.softmax(torch.randn(rows, classes, generator=gen), 1), {}
    return x.float(), y, ({"label_smoothing": 0.1} if kind == "smoothing" else {})


def _errors(fl, reference, name, x, t, settings, backend):
    z = x.clone().requires_grad_(True)
    loss = getattr(fl, name)(z, t, reduction="none", backend=backend, **settings)
    loss.sum().backward()
    xn = x.double().numpy()
    tn = t.double().numpy() if t.is_floating_point() else t.numpy()
    expected = getattr(reference, name)(xn, tn, **settings)
    grad = getattr(reference, name + "_grad")(xn, tn, reduction="sum", **settings)
    got = loss.detach().double().numpy()
    loss_err = np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1e-30))
    # a gradient below 1e-30 underflows in float32: compared absolutely, like tiny losses
    grad_err = np.max(np.abs(z.grad.double().numpy() - grad)) / max(np.max(np.abs(grad)), 1e-30)
    return float(loss_err), float(grad_err)


def measure(backends, rows, seed=0):
    if "triton" in backends and not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"
    import focalloss as fl
    from focalloss import reference

    table = []
    for backend in backends:
        cases = [(name, "binary") for name in BINARY] + [
            (name, kind) for name in SOFTMAX for kind in ("index", "smoothing", "probabilities")]
        for name, kind in cases:
            param = (BINARY if kind == "binary" else SOFTMAX)[name]
            values = ([0.5, 0.9] if param is None else GAMMAS if param == "gamma" else [0.5, 1.0, 2.0, 10.0])
            grid = [(scale, None) for scale in SCALES] + ([] if kind == "binary" else [(1.0, gap) for gap in GAPS])
            for scale, gap in grid:
                worst = [0.0, 0.0]
                for value in values:
                    key = "threshold" if param is None else param
                    if name == "sigmoid_focal_loss_star" and value == 0.0:
                        continue
                    gen = torch.Generator().manual_seed(seed)
                    x, t, settings = _inputs(kind, scale, rows, 7, gen, gap)
                    errors = _errors(fl, reference, name, x, t, {key: value, **settings}, backend)
                    worst = [max(w, e) for w, e in zip(worst, errors)]
                table.append((backend, name, kind, f"{scale:.0e}" if gap is None else f"gap {gap:.0f}", *worst))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="torch,cpu")
    parser.add_argument("--rows", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    table = measure(args.backends.split(","), args.rows)
    print(f"{'backend':8} {'loss':30} {'target':14} {'|x| scale':>9} {'loss rel err':>13} {'grad err':>10}")
    for backend, name, kind, scale, loss_err, grad_err in table:
        print(f"{backend:8} {name:30} {kind:14} {scale:>9} {loss_err:13.2e} {grad_err:10.2e}")
