"""``focalloss demo``: the same small network trained once per loss and seed on imbalanced data.

Prints a table of mean ± std over the seeds (balanced accuracy, recall on the rarest classes,
average precision, expected calibration error) and a one-line summary of what this run measured,
and writes ``results.json`` and two figures to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__
from . import data, metrics
from ._common import UsageError, number_type, optional_import, use_one_torch_thread, writable_folder
from .losses import LOSSES, LossSettings, loss_label, make_loss
from .progress import ProgressBar

__all__ = ["add_parser", "compare", "run", "summary_line"]

# about 600 Adam steps of 64 examples on each data set (331, 1,185 and 3,881 training examples)
DEFAULT_EPOCHS = {"digits": 100, "digits-binary": 30, "caravan": 10}
ECE_BINS = 15
# metric key -> table heading; all but ECE: higher is better
METRICS = {
    "balanced_accuracy": "balanced acc.",
    "rare_recall": "rare recall",
    "average_precision": "AP",
    "ece": "ECE",
}


def _loss_names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOSSES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown loss {unknown[0]!r}; choose from {', '.join(LOSSES)}" if unknown
            else f"name at least one loss of {', '.join(LOSSES)}")
    return list(dict.fromkeys(names))  # drop repeats, keep the order


def add_parser(subparsers):
    """Register ``focalloss demo`` and its options."""
    datasets = "; ".join(f"{name}: {description}" for name, (description, _) in data.DATASETS.items())
    datasets = datasets.replace("%", "%%")  # argparse formats help strings with %
    parser = subparsers.add_parser(
        "demo",
        help="train one small network per loss on imbalanced data: table, results.json, figures",
        description="Train the same small MLP once per loss and seed on imbalanced data, print mean ± std of "
        "balanced accuracy, recall on the rarest classes, average precision (macro over classes; the "
        "positive class for a binary data set) and expected calibration error (15 bins), and write "
        "results.json and figures to --out. Runs on the CPU; nothing is downloaded.",
    )
    parser.add_argument("--dataset", choices=list(data.DATASETS), default="digits", help=datasets)
    parser.add_argument("--imbalance", type=number_type(float, low=1.0), default=None,
                        metavar="RATIO", help="digits: n_max / n_min of the long tail (default 50); digits-binary: "
                        "negatives per positive in training (default 99, i.e. 1 %% positive); not for caravan")
    parser.add_argument("--losses", type=_loss_names, default=list(LOSSES), metavar="NAMES",
                        help=f"comma-separated, from {', '.join(LOSSES)} (default: all)")
    parser.add_argument("--seeds", type=number_type(int, low=1), default=3, metavar="N",
                        help="runs per loss, seeds S, S+1, ... (default 3)")
    parser.add_argument("--seed", type=number_type(int, low=0), default=0, metavar="S",
                        help="first seed (default 0); a seed fixes the split, the initial weights and the batches")
    parser.add_argument("--gamma", type=number_type(float, low=0.0), default=2.0,
                        help="focusing parameter of the focal losses (default 2)")
    parser.add_argument("--k", type=number_type(float, low=0.0), default=1.0,
                        help="slope of the softened loss (default 1)")
    parser.add_argument("--threshold", type=number_type(float, low=0.0, high=1.0, high_closed=True), default=0.5,
                        metavar="M", help="hard truncation: no loss once p_t > M (default 0.5)")
    parser.add_argument("--beta", type=number_type(float, low=0.0, high=1.0), default=0.999,
                        help="effective number's beta for the class-balanced losses, in [0, 1) (default 0.999)")
    parser.add_argument("--epochs", type=number_type(int, low=1), default=None,
                        help="passes over the training data (default: about 600 steps of 64 examples: "
                        "digits 100, digits-binary 30, caravan 10)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="folder for results.json and the figures (default: a new focalloss-demo-* folder here)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def _new_folder():
    stem = datetime.now().strftime("focalloss-demo-%Y%m%d-%H%M%S")
    candidate, number = Path(stem), 1
    while candidate.exists():
        number += 1
        candidate = Path(f"{stem}-{number}")
    return candidate


def evaluate(split, probabilities):
    """The demo's metrics of one trained model on ``split``'s test data."""
    labels = split.y_test
    predicted = probabilities.argmax(axis=1)
    if split.binary:
        ap = metrics.average_precision(labels == 1, probabilities[:, 1])
    else:
        ap = metrics.macro_average_precision(labels, probabilities)
    return {
        "balanced_accuracy": metrics.balanced_accuracy(labels, predicted),
        "rare_recall": metrics.rare_class_recall(labels, predicted, classes=split.rare_classes),
        "average_precision": ap,
        "ece": metrics.expected_calibration_error(labels, probabilities, bins=ECE_BINS),
        "per_class_recall": metrics.per_class_recall(labels, predicted, num_classes=split.num_classes).tolist(),
    }


def compare(*, dataset, imbalance, loss_names, settings, seeds, epochs, progress):
    """Train and evaluate every loss on every seed's split; return the per-loss results.

    Returns:
        ``(first_split, results)``: ``results[name]`` holds ``runs`` (one metrics dict per seed),
        and the labels and probabilities of all seeds' test examples, pooled, for the reliability diagram.
    """
    from . import train

    results = {name: {"runs": [], "labels": [], "probabilities": []} for name in loss_names}
    first_split = None
    for seed in seeds:
        split = data.load(dataset, seed=seed, imbalance=imbalance)
        if first_split is None:
            first_split = split
        for name in loss_names:
            started = time.perf_counter()
            loss_fn = make_loss(name, binary=split.binary, train_counts=split.train_counts, settings=settings)
            model = train.train(split, loss_fn, seed=seed, epochs=epochs)
            probabilities = train.predict_proba(model, split.x_test, binary=split.binary)
            run = {"seed": seed, **evaluate(split, probabilities), "seconds": time.perf_counter() - started}
            results[name]["runs"].append(run)
            results[name]["labels"].append(split.y_test)
            results[name]["probabilities"].append(probabilities)
            progress.advance(f"{name}, seed {seed}")
    progress.close()
    return first_split, results


def _mean_std(runs, key):
    values = np.array([run[key] for run in runs], dtype=np.float64)
    std = float(values.std(ddof=1)) if values.size > 1 else None
    return float(values.mean()), std


def _cell(mean, std):
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _spread_note(a, b):
    """Whether two (mean, std) differ by more than the larger std over the seeds."""
    (mean_a, std_a), (mean_b, std_b) = a, b
    if std_a is None or std_b is None:
        return ""
    return " (within the seeds' spread)" if abs(mean_a - mean_b) <= max(std_a, std_b) else ""


def summary_line(stats, labels):
    """One line on what this run measured, from the means and stds (never a fixed verdict).

    Args:
        stats: ``{loss name: {metric: (mean, std)}}``.
        labels: ``{loss name: label}``.

    Example:
        >>> stats = {
        ...     "ce": {"balanced_accuracy": (0.80, 0.02), "rare_recall": (0.40, 0.1), "ece": (0.14, 0.01)},
        ...     "focal": {"balanced_accuracy": (0.81, 0.03), "rare_recall": (0.42, 0.1), "ece": (0.07, 0.01)},
        ... }
        >>> line = summary_line(stats, {"ce": "cross-entropy", "focal": "focal (gamma=2)"})
        >>> import textwrap
        >>> print(textwrap.fill(line, 90))
        This run: focal vs cross-entropy: balanced accuracy 0.810 vs 0.800 (within the seeds'
        spread), ECE 0.070 vs 0.140; highest balanced accuracy: focal (gamma=2), 0.810.
    """
    parts = []
    if "ce" in stats and "focal" in stats:
        ce, focal = stats["ce"], stats["focal"]
        parts.append(
            f"focal vs cross-entropy: balanced accuracy {focal['balanced_accuracy'][0]:.3f} vs "
            f"{ce['balanced_accuracy'][0]:.3f}{_spread_note(focal['balanced_accuracy'], ce['balanced_accuracy'])}, "
            f"ECE {focal['ece'][0]:.3f} vs {ce['ece'][0]:.3f}"
        )
    pairs = [(plain, weighted, what) for plain, weighted, what in
             (("ce", "cb-ce", "cross-entropy"), ("focal", "cb-focal", "focal")) if plain in stats and weighted in stats]
    if pairs:
        changes = ", ".join(
            f"{stats[plain]['rare_recall'][0]:.3f} -> {stats[weighted]['rare_recall'][0]:.3f} ({what})"
            for plain, weighted, what in pairs
        )
        parts.append(f"class-balanced weighting: rare recall {changes}")
    best = max(stats, key=lambda name: stats[name]["balanced_accuracy"][0])
    parts.append(f"highest balanced accuracy: {labels[best]}, {stats[best]['balanced_accuracy'][0]:.3f}")
    return "This run: " + "; ".join(parts) + "."


def _table(stats, labels, *, binary):
    headings = dict(METRICS, average_precision="AP (positives)" if binary else "macro AP")
    width = max(len(label) for label in labels.values())
    lines = ["  ".join([f"{'loss':<{width}}"] + [f"{heading:>15}" for heading in headings.values()])]
    for name, label in labels.items():
        cells = [f"{_cell(*stats[name][key]):>15}" for key in headings]
        lines.append("  ".join([f"{label:<{width}}"] + cells))
    return lines


def _plain(value):
    """JSON-ready: NumPy numbers and arrays to Python ones, NaN (an empty bin) to null."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _print_report(split, stats, labels, *, seeds, epochs, summary):
    seeds_text = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})"
    print(split.description)
    print(f"train: {split.train_counts.sum()} examples, per class {', '.join(map(str, split.train_counts))}; "
          f"test: {split.test_counts.sum()}, per class {', '.join(map(str, split.test_counts))}")
    print(f"{len(labels)} losses x {seeds_text}; {epochs} epochs each ({train_description()}); "
          f"mean ± std over the seeds")
    print()
    for line in _table(stats, labels, binary=split.binary):
        print(line)
    print()
    rare = ", ".join(f"{split.class_names[c]} ({split.train_counts[c]})" for c in split.rare_classes)
    print(f"rare recall: recall of {'the positive class' if split.binary else 'classes'} {rare} "
          f"(training examples in brackets). ECE: lower is better; the others: higher is better.")
    print(summary)


def train_description():
    """The network and optimiser, in words (the constants live in ``train``, which imports torch)."""
    from . import train

    return (f"MLP with two hidden layers of {train.HIDDEN}, Adam, learning rate {train.LEARNING_RATE:g}, "
            f"batches of {train.BATCH_SIZE}")


def run(args):
    """Run ``focalloss demo`` with parsed ``args``; returns the exit status."""
    started = time.perf_counter()
    if args.dataset == "caravan" and args.imbalance is not None:
        raise UsageError("--imbalance does not apply to --dataset caravan, which is real data used as it is")
    # missing packages and a bad --out are reported before anything is created or trained
    optional_import("matplotlib", extra="demo")
    data.ensure_available(args.dataset)
    out = writable_folder(args.out if args.out is not None else _new_folder())
    settings = LossSettings(gamma=args.gamma, k=args.k, threshold=args.threshold, beta=args.beta)
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    seeds = list(range(args.seed, args.seed + args.seeds))
    imbalance = data.DATASETS[args.dataset][1] if args.imbalance is None else args.imbalance
    use_one_torch_thread()
    import torch

    progress = ProgressBar(total=len(seeds) * len(args.losses), enabled=False if args.quiet else None)
    split, results = compare(dataset=args.dataset, imbalance=imbalance, loss_names=args.losses,
                             settings=settings, seeds=seeds, epochs=epochs, progress=progress)

    labels = {name: loss_label(name, settings) for name in args.losses}
    stats = {name: {key: _mean_std(results[name]["runs"], key) for key in METRICS} for name in args.losses}
    reliability, pooled_ece, recall = {}, {}, {}
    for name in args.losses:
        test_labels = np.concatenate(results[name]["labels"])
        probabilities = np.concatenate(results[name]["probabilities"])
        reliability[name] = metrics.reliability_bins(test_labels, probabilities, bins=ECE_BINS)
        pooled_ece[name] = metrics.expected_calibration_error(test_labels, probabilities, bins=ECE_BINS)
        recall[name] = np.mean([run["per_class_recall"] for run in results[name]["runs"]], axis=0)

    from . import plots

    seeds_text = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
    plots.recall_figure(
        out / "per-class-recall.png", class_names=split.class_names, train_counts=split.train_counts,
        recall={labels[name]: recall[name] for name in args.losses},
        title=f"{split.description}\nrecall per class on the test split, mean of {seeds_text}",
    )
    plots.reliability_figure(
        out / "reliability.png",
        bins={labels[name]: reliability[name] for name in args.losses},
        ece={labels[name]: pooled_ece[name] for name in args.losses},
        title=f"{split.description}\nreliability on the test split, {seeds_text} pooled, {ECE_BINS} bins",
    )
    summary = summary_line(stats, labels)
    seconds = time.perf_counter() - started
    _print_report(split, stats, labels, seeds=seeds, epochs=epochs, summary=summary)

    record = {
        "versions": {"focalloss": __version__, "torch": torch.__version__, "numpy": np.__version__},
        "torch_threads": torch.get_num_threads(),
        "seconds": seconds,
        "dataset": {
            "name": split.name, "description": split.description, "classes": split.class_names,
            "train_counts": split.train_counts, "test_counts": split.test_counts, "rare_classes": split.rare_classes,
        },
        "settings": {
            "imbalance": imbalance, "seeds": seeds, "epochs": epochs, "gamma": settings.gamma, "k": settings.k,
            "threshold": settings.threshold, "beta": settings.beta, "ece_bins": ECE_BINS,
            "training": train_description(),
        },
        "losses": {
            name: {
                "label": labels[name],
                "mean": {key: stats[name][key][0] for key in METRICS},
                "std": {key: stats[name][key][1] for key in METRICS},
                "per_class_recall": recall[name],
                "reliability": dict(zip(("count", "confidence", "accuracy"), reliability[name], strict=True)),
                "pooled_ece": pooled_ece[name],
                "runs": results[name]["runs"],
            }
            for name in args.losses
        },
        "summary": summary,
    }
    (out / "results.json").write_text(json.dumps(_plain(record), indent=1, allow_nan=False) + "\n")
    print(f"wrote results.json, per-class-recall.png, reliability.png to {out}/ ({seconds:.1f} s)")
    return 0
