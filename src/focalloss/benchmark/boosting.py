"""Gradient + hessian time of the binary focal objective for tree boosting, against the peers.

One call computes grad and hess for every row, which LightGBM and XGBoost do once per boosting
round. The contenders take turns, call by call (interleaved), on the same 1%-positive labels and
scores, so a slow stretch on a shared machine hits them all alike; the table reports each one's
median time and its ratio to focalloss's default objective.

    python benchmarks/bench_boosting.py                     # 1M rows, 15 rounds
    python benchmarks/bench_boosting.py --rows 100000 --rounds 30 --json results.json

(``benchmarks/bench_boosting.py`` runs :func:`main`; this module needs NumPy only.)

Contenders (a missing one is skipped with a message):
  focalloss            BinaryFocalObjective(alpha=None, gamma=2), default hessian ("floored")
  focalloss exact      the same with hessian="exact", the math the peers implement
  imlightgbm 0.1.2     imlightgbm.objective.binary_focal_objective (alpha: not supported)
  imbalance-xgboost    imxgboost.focal_loss.Focal_Binary_Loss(gamma).focal_binary_object
  logistic (floor)     p - y and p(1 - p) in plain NumPy: the least any objective can cost

It also reports, on scores spread over [-50, 50], the share of rows whose hessian is not finite
and the largest gap to the float64 reference, :mod:`focalloss.reference`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from focalloss import reference
from focalloss.boosting import BinaryFocalObjective

GAMMA = 2.0


class _Labels:
    """What imbalance-xgboost reads from an xgboost.DMatrix."""

    def __init__(self, labels):
        self.labels = labels

    def get_label(self):
        return self.labels


def contenders():
    """name -> function(labels, scores) returning (grad, hess); prints a line for each one missing."""
    found = {
        "focalloss": BinaryFocalObjective(alpha=None, gamma=GAMMA),
        "focalloss exact": BinaryFocalObjective(alpha=None, gamma=GAMMA, hessian="exact"),
    }
    try:
        from imlightgbm.objective import binary_focal_objective
    except ImportError:
        print("skipping imlightgbm: not installed (pip install imlightgbm==0.1.2)")
    else:
        found["imlightgbm 0.1.2"] = lambda y, x: binary_focal_objective(y_true=y, y_pred=x, gamma=GAMMA)
    try:
        from imxgboost.focal_loss import Focal_Binary_Loss
    except ImportError:
        print("skipping imbalance-xgboost: not installed (pip install imbalance-xgboost==0.8.1 --no-deps)")
    else:
        focal = Focal_Binary_Loss(gamma_indct=GAMMA)
        found["imbalance-xgboost 0.8.1"] = lambda y, x: focal.focal_binary_object(x, _Labels(y))
    found["logistic (floor)"] = _logistic
    return found


def _logistic(labels, scores):
    p = 1.0 / (1.0 + np.exp(-scores))
    return p - labels, p * (1.0 - p)


def time_interleaved(functions, labels, scores, rounds):
    """Per contender, the seconds of each call; one call of each per round, in a rotating order."""
    names = list(functions)
    seconds = {name: [] for name in names}
    for name in names:  # warm-up: first-touch page faults and lazy imports stay out of the timings
        with np.errstate(all="ignore"):
            functions[name](labels, scores)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            with np.errstate(all="ignore"):  # the peers overflow on purpose-free inputs; counted below
                start = time.perf_counter()
                functions[name](labels, scores)
                seconds[name].append(time.perf_counter() - start)
    return seconds


def accuracy(functions, rng):
    """Per contender: share of non-finite hessians and max relative gap to the reference (|x| <= 50)."""
    labels = (rng.random(100_000) < 0.5).astype(np.float64)
    scores = rng.uniform(-50.0, 50.0, labels.size)
    settings = {"alpha": None, "gamma": GAMMA}
    grad_ref = reference.sigmoid_focal_loss_grad(scores, labels, **settings)
    hess_ref = reference.sigmoid_focal_loss_hess(scores, labels, **settings)
    report = {}
    for name, function in functions.items():
        if name.startswith("logistic"):
            continue
        with np.errstate(all="ignore"):
            grad, hess = function(labels, scores)
        finite = np.isfinite(grad) & np.isfinite(hess)
        # where the reference is 0 (it can be, for saturated rows) any nonzero value is a full gap
        gap = max(np.max(np.abs(grad - grad_ref)[finite] / np.maximum(np.abs(grad_ref[finite]), 1e-300)),
                  np.max(np.abs(hess - hess_ref)[finite] / np.maximum(np.abs(hess_ref[finite]), 1e-300)))
        if name == "focalloss":  # its default hessian is not the exact one by design
            gap = np.max(np.abs(grad - grad_ref)[finite] / np.maximum(np.abs(grad_ref[finite]), 1e-300))
        report[name] = {"nonfinite_hess_share": float(np.mean(~np.isfinite(hess))), "max_rel_gap": float(gap)}
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15, help="calls of each contender, interleaved")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    labels = (rng.random(args.rows) < 0.01).astype(np.float64)
    scores = rng.normal(-3.0, 3.0, args.rows) + 3.0 * labels  # margins of a model that has learnt something
    functions = contenders()
    seconds = time_interleaved(functions, labels, scores, args.rounds)
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    checks = accuracy(functions, rng)

    print(f"\n{args.rows:,} rows, 1% positives, gamma={GAMMA:g}; {args.rounds} interleaved calls each; "
          f"NumPy {np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print(f"{'contender':<26}{'median ms':>10}{'min ms':>9}{'time / focalloss':>18}{'non-finite hess':>17}"
          f"{'max rel gap':>13}")
    for name, median in medians.items():
        check = checks.get(name)
        nonfinite = f"{100 * check['nonfinite_hess_share']:.2f}%" if check else "-"
        gap = f"{check['max_rel_gap']:.1e}" if check else "-"
        print(f"{name:<26}{1e3 * median:>10.1f}{1e3 * min(seconds[name]):>9.1f}"
              f"{median / medians['focalloss']:>17.2f}x{nonfinite:>17}{gap:>13}")
    print("non-finite hess and max rel gap (grad and hess; grad only for the default hessian, which is not "
          "the exact one by design): 100,000 rows, scores uniform in [-50, 50], against focalloss.reference")

    if args.json:
        with open(args.json, "w") as out:
            json.dump({"rows": args.rows, "rounds": args.rounds, "gamma": GAMMA, "seconds": seconds,
                       "median_seconds": medians, "accuracy": checks}, out, indent=2)
