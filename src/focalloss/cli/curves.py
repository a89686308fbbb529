r"""``focalloss curves``: loss against p_t, focal loss for several gamma beside Su Jianlin's two losses.

The left panel is Figure 1 of Lin et al. (2017): the focal loss of a positive
example, :math:`-(1 - p_t)^\gamma \log p_t`, for gamma in {0, 0.5, 1, 2, 5}. The right panel shows
the softened loss :math:`-\sigma(-kx)\log p_t` for several slopes k and the hard-truncation loss it
softens. All values come from ``focalloss.reference`` (NumPy, float64): no torch needed.
"""

from __future__ import annotations

import argparse

import numpy as np

from .. import reference
from ._common import number_type, writable_file

__all__ = ["add_parser", "curve_values", "run"]

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _number_list(text):
    """An argparse type: comma-separated finite numbers >= 0, repeats dropped."""
    parse = number_type(float, low=0.0)
    values = [parse(item) for item in text.split(",") if item.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers >= 0; got {text!r}")
    return list(dict.fromkeys(values))


def add_parser(subparsers):
    """Register ``focalloss curves`` and its options."""
    parser = subparsers.add_parser(
        "curves",
        help="plot loss against p_t: focal loss for several gamma, the softened and hard-truncation losses",
        description="Plot the loss of an example against p_t, the probability given to its true class: "
        "focal loss for several gamma (Figure 1 of Lin et al.) beside the softened loss for several k and "
        "the hard-truncation loss (Su Jianlin 2017). Natural log.",
    )
    parser.add_argument("--gamma", type=_number_list, default=[0.0, 0.5, 1.0, 2.0, 5.0], metavar="LIST",
                        help="comma-separated gammas (default 0,0.5,1,2,5)")
    parser.add_argument("--k", type=_number_list, default=[1.0, 3.0, 10.0], metavar="LIST",
                        help="comma-separated slopes of the softened loss (default 1,3,10)")
    parser.add_argument("--threshold", type=number_type(float, low=0.0, high=1.0, high_closed=True), default=0.5,
                        metavar="M",
                        help="hard truncation: no loss once p_t > M (default 0.5)")
    parser.add_argument("--out", default="focalloss-curves.png", metavar="FILE",
                        help="the figure to write, .png, .pdf or .svg (default focalloss-curves.png)")
    parser.set_defaults(run=run)


def curve_values(*, gammas, ks, threshold, points=801):
    """The curves as arrays, each the loss of a positive example at logit ``x = log(p_t / (1 - p_t))``.

    Args:
        gammas: focusing parameters.
        ks: slopes of the softened loss.
        threshold: of the hard-truncation loss.
        points: number of p_t values in (0, 1).

    Returns:
        ``{"p_t": ..., "cross_entropy": ..., "focal": {gamma: ...}, "softened": {k: ...},
        "hard_truncation": {threshold: ...}}``, float64 arrays of length ``points``.

    Example:
        >>> curves = curve_values(gammas=[0.0, 2.0], ks=[1.0], threshold=0.5, points=5)
        >>> curves["p_t"].round(3).tolist(), curves["focal"][2.0].round(4).tolist()
        ([0.001, 0.25, 0.5, 0.75, 0.999], [6.8939, 0.7776, 0.1733, 0.0181, 0.0])
    """
    p_t = np.linspace(1e-3, 1.0 - 1e-3, points)
    x, t = np.log(p_t) - np.log1p(-p_t), np.ones_like(p_t)
    return {
        "p_t": p_t,
        "cross_entropy": reference.sigmoid_focal_loss(x, t, alpha=None, gamma=0.0),
        "focal": {gamma: reference.sigmoid_focal_loss(x, t, alpha=None, gamma=gamma) for gamma in gammas},
        "softened": {k: reference.sigmoid_softened_loss(x, t, k=k) for k in ks},
        "hard_truncation": {threshold: reference.sigmoid_hard_truncation_loss(x, t, threshold=threshold)},
    }


def run(args):
    """Run ``focalloss curves`` with parsed ``args``; returns the exit status."""
    from . import plots

    out = writable_file(args.out, suffixes=FIGURE_SUFFIXES)
    plots.curves_figure(out, **curve_values(gammas=args.gamma, ks=args.k, threshold=args.threshold))
    print(f"wrote {out}")
    return 0
