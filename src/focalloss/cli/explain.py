r"""``focalloss explain``: cross-entropy and focal loss on four examples, and the worked example of 10 against 10^6.

All numbers in natural log, from ``focalloss.reference`` (NumPy, float64): no torch needed. The
figures that circulate from article to article ("CE(0.9) = 0.0458", "FL(0.9) = 0.00045") use log
base 10; the command prints both so that a reader can match them. Ratios and shares of the loss do
not depend on the base.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from .. import reference
from ._common import number_type

__all__ = ["add_parser", "example_rows", "run", "worked_example"]

POSITIVES, NEGATIVES = 10, 10**6  # Lei Mao's worked example, as Lavanya Gupta's article quotes it
HARD_P_T, EASY_P_T = 0.01, 0.99


def _alpha(text):
    """An argparse type: a number in [0, 1], or 'none' for no weighting."""
    if text.strip().lower() == "none":
        return None
    try:
        return number_type(float, low=0.0, high=1.0, high_closed=True)(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error}, or 'none'") from None


def add_parser(subparsers):
    """Register ``focalloss explain`` and its options."""
    parser = subparsers.add_parser(
        "explain",
        help="print cross-entropy, focal loss and their ratio for easy/hard positives/negatives, "
        "and the worked example of 10 hard positives against 10^6 easy negatives",
        description="Print cross-entropy (CE), focal loss (FL) and CE/FL for an easy and a hard positive and "
        "negative, then the worked example of Lei Mao's blog (quoted by Gupta): 10 hard positives against 10^6 easy "
        "negatives. Natural log throughout.",
    )
    parser.add_argument("--alpha", type=_alpha, default=0.25,
                        help="weight of positives in [0, 1], negatives get 1 - alpha, or 'none' (default 0.25)")
    parser.add_argument("--gamma", type=number_type(float, low=0.0), default=2.0, help="focusing parameter (default 2)")
    parser.add_argument("--p", type=number_type(float, low=0.5, high=1.0, low_open=True), default=0.9,
                        help="p_t of an easy example, in (0.5, 1); a hard one has 1 - p (default 0.9)")
    parser.set_defaults(run=run)


def _losses(p_positive, label, *, alpha, gamma):
    """Per-example CE (no alpha) and FL of an example with P(y=1) = p_positive and the given label."""
    x = np.array([math.log(p_positive) - math.log1p(-p_positive)])
    t = np.array([float(label)])
    ce = reference.sigmoid_focal_loss(x, t, alpha=None, gamma=0.0)[0]
    fl = reference.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma)[0]
    return float(ce), float(fl)


def example_rows(*, alpha, gamma, p):
    """``(name, label, p_t, alpha_t, CE, FL)`` for an easy and a hard positive and negative.

    Args:
        alpha: positives' weight in [0, 1] (negatives get 1 - alpha), or None.
        gamma: focusing parameter >= 0.
        p: p_t of an easy example; a hard one has p_t = 1 - p.

    Example:
        >>> rows = example_rows(alpha=0.25, gamma=2.0, p=0.9)
        >>> [(name, round(ce / fl, 1)) for name, _, _, _, ce, fl in rows]
        [('easy positive', 400.0), ('easy negative', 133.3), ('hard positive', 4.9), ('hard negative', 1.6)]
    """
    rows = []
    for difficulty, p_t in (("easy", p), ("hard", 1.0 - p)):
        for label in (1, 0):
            alpha_t = 1.0 if alpha is None else (alpha if label == 1 else 1.0 - alpha)
            p_positive = p_t if label == 1 else 1.0 - p_t
            ce, fl = _losses(p_positive, label, alpha=alpha, gamma=gamma)
            rows.append((f"{difficulty} {'positive' if label else 'negative'}", label, p_t, alpha_t, ce, fl))
    return rows


def worked_example(*, alpha, gamma):
    """Total loss of 10 positives at p_t = 0.01 and 10^6 negatives at p_t = 0.99, and the positives' share.

    Args:
        alpha: the focal loss's alpha (cross-entropy is unweighted), or None.
        gamma: focusing parameter >= 0.

    Returns:
        ``{"cross-entropy": (negatives, positives, share), "focal": (...)}``.

    Example:
        >>> shares = worked_example(alpha=0.25, gamma=2.0)
        >>> round(shares["cross-entropy"][2], 4), round(shares["focal"][2], 4)
        (0.0046, 0.9374)
    """
    positive_ce, positive_fl = _losses(HARD_P_T, 1, alpha=alpha, gamma=gamma)
    negative_ce, negative_fl = _losses(1.0 - EASY_P_T, 0, alpha=alpha, gamma=gamma)
    totals = {}
    for name, positive, negative in (("cross-entropy", positive_ce, negative_ce), ("focal", positive_fl, negative_fl)):
        positives, negatives = POSITIVES * positive, NEGATIVES * negative
        totals[name] = (negatives, positives, positives / (positives + negatives))
    return totals


def run(args):
    """Run ``focalloss explain`` with parsed ``args``; returns the exit status."""
    alpha, gamma, p = args.alpha, args.gamma, args.p
    alpha_text = "none" if alpha is None else f"{alpha:g}"
    print(f"Cross-entropy (CE) and focal loss (FL, alpha = {alpha_text}, gamma = {gamma:g}), natural log.")
    print(f"p_t: the probability given to the true class, {p:g} for an easy example and {1 - p:g} for a hard one;")
    print("alpha_t: alpha for a positive, 1 - alpha for a negative (CE is not weighted).")
    print()
    print(f"{'example':<14} {'label':>5} {'P(y=1)':>7} {'p_t':>6} {'alpha_t':>7} {'CE':>10} {'FL':>12} {'CE/FL':>9}")
    for name, label, p_t, alpha_t, ce, fl in example_rows(alpha=alpha, gamma=gamma, p=p):
        p_positive = p_t if label == 1 else 1.0 - p_t
        ratio = f"{ce / fl:9.1f}" if fl > 0 else f"{'inf':>9}"
        print(f"{name:<14} {label:>5} {p_positive:>7.3g} {p_t:>6.3g} {alpha_t:>7.3g} {ce:>10.4f} {fl:>12.6f} {ratio}")
    print()
    print(f"Worked example (Lei Mao's, as quoted by Gupta): {POSITIVES} hard positives at p_t = {HARD_P_T:g} "
          f"against {NEGATIVES:,} easy negatives at p_t = {EASY_P_T:g}.")
    print(f"{'':<15} {'negatives':>12} {'positives':>12} {'share of positives':>19}")
    totals = worked_example(alpha=alpha, gamma=gamma)
    for name, (negatives, positives, share) in totals.items():
        print(f"{name:<15} {negatives:>12.4f} {positives:>12.4f} {share:>19.4f}")
    print(f"The {POSITIVES} positives carry {totals['cross-entropy'][2]:.2%} of the cross-entropy and "
          f"{totals['focal'][2]:.2%} of the focal loss (Gupta's article: 0.0046 and 0.9374, at alpha 0.25 and "
          f"gamma 2).")
    print()
    ce, fl = _losses(p, 1, alpha=None, gamma=gamma)
    print(f"Log base. PyTorch, TensorFlow and JAX use the natural log: CE({p:g}) = {ce:.4f}, FL({p:g}) = {fl:.6f} "
          f"(gamma = {gamma:g}, no alpha).")
    print(f"The widely copied \"CE(0.9) = 0.0458, FL(0.9) = 0.00045\" use log base 10: here "
          f"CE({p:g}) = {ce / math.log(10):.4f}, FL({p:g}) = {fl / math.log(10):.6f}.")
    print("Divide by ln 10 = 2.3026 to convert; ratios such as CE/FL and the shares above are the same in either base.")
    return 0
