"""``focalloss demo``: the same small model trained once per loss and seed on imbalanced data.

Prints a table of mean ± std over the seeds and a one-line summary of what this run measured, and
writes ``results.json`` and figures to ``--out``. The data sets (``--dataset``) are modules of this
package, listed in :mod:`focalloss.cli.demo.datasets`; they share the trainer
(:mod:`~focalloss.cli.demo.train`), the metrics (:mod:`~focalloss.cli.demo.metrics`), the compared
losses (:mod:`~focalloss.cli.demo.losses`) and the report (:mod:`~focalloss.cli.demo.experiment`).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from .._common import UsageError, number_type, optional_import, use_one_torch_thread, writable_folder
from .datasets import DATASETS
from .datasets import task as dataset_task
from .losses import BINARY_ONLY, DEFAULT_LOSSES, LOSSES, LossSettings
from .shapes import CONFIGURATIONS

__all__ = ["add_parser", "run"]

# the options of the classification losses, with their defaults (None on the command line: not given)
LOSS_SETTINGS = {"gamma": 2.0, "k": 1.0, "threshold": 0.5, "beta": 0.999}
# each data set's own options: option name -> the command-line flag
OPTION_FLAGS = {"imbalance": "--imbalance", "spam_rate": "--spam-rate"}


def _loss_names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"name at least one loss, e.g. {', '.join(LOSSES)}")
    return list(dict.fromkeys(names))  # drop repeats, keep the order


def add_parser(subparsers):
    """Register ``focalloss demo`` and its options."""
    datasets = "; ".join(f"{name}: {info.description}" for name, info in DATASETS.items())
    datasets = datasets.replace("%", "%%")  # argparse formats help strings with %
    epochs = ", ".join(f"{name} {info.epochs}" for name, info in DATASETS.items())
    parser = subparsers.add_parser(
        "demo",
        help="train one small model per loss on imbalanced data: table, results.json, figures",
        description="Train the same small model once per loss and seed on imbalanced data, print mean ± std of "
        "the data set's metrics over the seeds (classification: balanced accuracy, recall on the rarest classes, "
        "average precision, expected calibration error; wnut16: entity-level F1; sms-spam: average precision "
        "and F1; shapes: detection AP and the share of the loss carried by easy negatives) and write "
        "results.json and figures to --out. Runs on the CPU; nothing is downloaded.",
    )
    parser.add_argument("--dataset", choices=list(DATASETS), default="digits", help=datasets)
    parser.add_argument("--imbalance", type=number_type(float, low=1.0), default=None,
                        metavar="RATIO", help="digits: n_max / n_min of the long tail (default 50); fashion-mnist-lt: "
                        "the same (default 100); digits-binary: negatives per positive in training (default 99, "
                        "i.e. 1 %% positive); not for the other data sets")
    parser.add_argument("--spam-rate", type=number_type(float, low=0.0, high=0.5, low_open=True, high_closed=True),
                        default=None, metavar="RATE",
                        help="sms-spam: share of spam in the training split, in (0, 0.5] (default 0.01; the "
                        "collection's distinct messages have 0.124); validation and test keep the collection's share")
    parser.add_argument("--losses", type=_loss_names, default=None, metavar="NAMES",
                        help=f"comma-separated, from {', '.join(LOSSES)} (default: {', '.join(DEFAULT_LOSSES)}); "
                        f"for shapes from "
                        f"{', '.join(CONFIGURATIONS)}, each also with +prior (the prior-probability bias init)")
    parser.add_argument("--seeds", type=number_type(int, low=1), default=3, metavar="N",
                        help="runs per loss, seeds S, S+1, ... (default 3)")
    parser.add_argument("--seed", type=number_type(int, low=0), default=0, metavar="S",
                        help="first seed (default 0); a seed fixes the initial weights and the batches, and the "
                        "split where the data set draws one per seed")
    parser.add_argument("--gamma", type=number_type(float, low=0.0), default=None,
                        help="focusing parameter of the focal losses (default 2)")
    parser.add_argument("--k", type=number_type(float, low=0.0), default=None,
                        help="slope of the softened loss (default 1)")
    parser.add_argument("--threshold", type=number_type(float, low=0.0, high=1.0, high_closed=True), default=None,
                        metavar="M", help="hard truncation: no loss once p_t > M (default 0.5)")
    parser.add_argument("--beta", type=number_type(float, low=0.0, high=1.0), default=None,
                        help="effective number's beta for the class-balanced losses, in [0, 1) (default 0.999)")
    parser.add_argument("--epochs", type=number_type(int, low=1), default=None,
                        help=f"passes over the training data (default: {epochs})")
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


def _checked(args, task):
    """The losses, loss settings and data set options of ``args``, or a UsageError for what does not apply."""
    info = DATASETS[args.dataset]
    options = {}
    for option, flag in OPTION_FLAGS.items():
        value = getattr(args, option)
        if option in info.options:
            options[option] = info.options[option] if value is None else value
        elif value is not None:
            own = [OPTION_FLAGS[name] for name in info.options]
            why = f"its own option is {', '.join(own)}" if own else "which is used as it is"
            raise UsageError(f"{flag} does not apply to --dataset {args.dataset}{',' if not own else ';'} {why}")
    given = {name: getattr(args, name) for name in LOSS_SETTINGS if getattr(args, name) is not None}
    if task.uses_loss_settings:
        settings = LossSettings(**{**LOSS_SETTINGS, **given})
    elif given:
        raise UsageError(f"--{next(iter(given))} does not apply to --dataset {args.dataset}, whose losses fix their "
                         f"own settings; choose among them with --losses")
    else:
        settings = None
    loss_names = list(task.default_losses or task.loss_names) if args.losses is None else args.losses
    unknown = [name for name in loss_names if name not in task.loss_names]
    if unknown and unknown[0] in BINARY_ONLY:
        raise UsageError(f"argument --losses: {unknown[0]!r} is a loss for binary data and does not apply to --dataset "
                         f"{args.dataset}; choose from {', '.join(task.loss_names)}")
    if unknown:
        raise UsageError(f"argument --losses: unknown loss {unknown[0]!r}; choose from {', '.join(task.loss_names)}")
    return loss_names, settings, options


def run(args):
    """Run ``focalloss demo`` with parsed ``args``; returns the exit status."""
    from .experiment import run_experiment

    task = dataset_task(args.dataset)
    loss_names, settings, options = _checked(args, task)
    # missing packages or data and a bad --out are reported before anything is created or trained
    optional_import("matplotlib", extra="demo")
    task.ensure_available()
    out = writable_folder(args.out if args.out is not None else _new_folder())
    use_one_torch_thread()
    run_experiment(task, out=out, loss_names=loss_names, settings=settings,
                   seeds=list(range(args.seed, args.seed + args.seeds)),
                   epochs=args.epochs or DATASETS[args.dataset].epochs, options=options, quiet=args.quiet)
    return 0
