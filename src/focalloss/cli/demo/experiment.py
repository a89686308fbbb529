"""What every data set of the demo shares: the loop over seeds and losses, the table, results.json.

A data set is a :class:`Task`: it loads one split per seed, trains and evaluates one model per loss,
and says which metrics its table shows, how its summary line reads and which figures it draws.
:func:`run_experiment` does the rest the same way for all of them: progress, mean ± std over the
seeds, the printed report, ``results.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from ... import __version__
from .progress import ProgressBar

__all__ = ["Metric", "Task", "mean_std", "run_experiment", "seeds_text", "spread_note"]


@dataclass(frozen=True)
class Metric:
    """A column of the table: its heading, the decimals shown, and which way is better.

    ``count``: the metric is 0 or 1 per run and the cell counts the runs where it is 1 (``2/3``).
    """

    heading: str
    decimals: int = 3
    lower_is_better: bool = False
    count: bool = False

    def cell(self, mean, std, *, runs):
        """``mean ± std`` (``mean`` alone for one run), or ``k/runs`` for a count, right-aligned in 15 characters.

        Example:
            >>> Metric("F1").cell(0.5, 0.25, runs=3).strip(), Metric("diverged", count=True).cell(2 / 3, 0.6, runs=3)
            ('0.500 ± 0.250', '            2/3')
        """
        if self.count:
            text = f"{round(mean * runs)}/{runs}"
        elif std is None:
            text = f"{mean:.{self.decimals}f}"
        else:
            text = f"{mean:.{self.decimals}f} ± {std:.{self.decimals}f}"
        return f"{text:>15}"


class Task:
    """One data set of the demo. Subclasses fill in the parts that differ between data sets.

    Attributes:
        name: the ``--dataset`` name.
        loss_names: the losses ``--losses`` may name, in the table's order.
        default_losses: the ones a run compares when ``--losses`` is not given (None: all of them).
        uses_loss_settings: whether ``--gamma``, ``--k``, ``--threshold``, ``--beta`` apply.
    """

    loss_names = ()
    default_losses = None
    uses_loss_settings = True

    def __init__(self, name):
        self.name = name

    def ensure_available(self):
        """Raise a UsageError naming what to install if the data or a package is missing."""

    def load(self, *, seed, **options):
        """The split of ``seed``, the same for every loss."""
        raise NotImplementedError

    def train_and_evaluate(self, split, loss_name, *, seed, epochs, settings):
        """Train one model with one loss; return ``(run, pooled)``: the run's metrics (JSON-ready,
        one float per metric key at least) and what the figures pool over seeds."""
        raise NotImplementedError

    def loss_label(self, loss_name, settings):
        """The loss as the table and the figures name it."""
        raise NotImplementedError

    def metrics(self, split):
        """``{key: Metric}``, the table's columns in order; every run holds these keys."""
        raise NotImplementedError

    def aggregate(self, runs, pooled):
        """Per-loss entries of results.json beside mean, std and runs (also what the figures draw)."""
        return {}

    def header_lines(self, split, *, losses, seeds, epochs):
        """The lines printed above the table."""
        raise NotImplementedError

    def note_lines(self, split):
        """The lines printed under the table, before the summary."""
        return []

    def summary_line(self, stats, labels):
        """One line on what this run measured."""
        raise NotImplementedError

    def write_figures(self, out, split, *, labels, aggregates, seeds):
        """Draw the figures into folder ``out``; return their file names."""
        return []

    def dataset_record(self, split):
        """The ``dataset`` entry of results.json."""
        raise NotImplementedError

    def settings_record(self, settings, options):
        """Entries of the ``settings`` entry of results.json beside seeds and epochs."""
        return {}


def seeds_text(seeds, *, listed=True):
    """``"3 seeds (0, 1, 2)"``, or ``"3 seeds"`` without the list.

    Example:
        >>> seeds_text([4]), seeds_text([0, 1], listed=False)
        ('1 seed (4)', '2 seeds')
    """
    text = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
    return f"{text} ({', '.join(map(str, seeds))})" if listed else text


def mean_std(runs, key):
    """Mean and sample standard deviation of ``run[key]`` over the runs (std None for one run).

    Example:
        >>> mean_std([{"f1": 0.5}, {"f1": 0.7}], "f1")
        (0.6, 0.14142135623730948)
    """
    values = np.array([run[key] for run in runs], dtype=np.float64)
    std = float(values.std(ddof=1)) if values.size > 1 else None
    return float(values.mean()), std


def spread_note(a, b):
    """`` (within the seeds' spread)`` if two (mean, std) differ by no more than the larger std, else ``""``.

    Example:
        >>> spread_note((0.80, 0.02), (0.81, 0.01)), spread_note((0.80, 0.02), (0.90, 0.01))
        (" (within the seeds' spread)", '')
    """
    (mean_a, std_a), (mean_b, std_b) = a, b
    if std_a is None or std_b is None:
        return ""
    return " (within the seeds' spread)" if abs(mean_a - mean_b) <= max(std_a, std_b) else ""


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


def _table(metrics, stats, labels, *, runs):
    width = max(len(label) for label in labels.values())
    lines = ["  ".join([f"{'loss':<{width}}"] + [f"{metric.heading:>15}" for metric in metrics.values()])]
    for name, label in labels.items():
        cells = [metric.cell(*stats[name][key], runs=runs) for key, metric in metrics.items()]
        lines.append("  ".join([f"{label:<{width}}"] + cells))
    return lines


def run_experiment(task, *, out, loss_names, settings, seeds, epochs, options, quiet):
    """Train and evaluate every loss on every seed, print the report and write results.json and figures.

    Args:
        task: a :class:`Task`.
        out: the folder to write to (already checked to be writable).
        loss_names: names from ``task.loss_names``, in the table's order.
        settings: a :class:`focalloss.cli.demo.losses.LossSettings` (or None where they do not apply).
        seeds: the seeds, one split and one model per loss for each.
        epochs: passes over the training data.
        options: the data set's own options, passed to ``task.load``.
        quiet: no progress bar.
    """
    started = time.perf_counter()
    import torch

    progress = ProgressBar(total=len(seeds) * len(loss_names), enabled=False if quiet else None)
    results = {name: {"runs": [], "pooled": []} for name in loss_names}
    first_split = None
    for seed in seeds:
        split = task.load(seed=seed, **options)
        if first_split is None:
            first_split = split
        for name in loss_names:
            run_started = time.perf_counter()
            run, pooled = task.train_and_evaluate(split, name, seed=seed, epochs=epochs, settings=settings)
            results[name]["runs"].append({"seed": seed, **run, "seconds": time.perf_counter() - run_started})
            results[name]["pooled"].append(pooled)
            progress.advance(f"{name}, seed {seed}")
    progress.close()

    split = first_split
    metrics = task.metrics(split)
    labels = {name: task.loss_label(name, settings) for name in loss_names}
    stats = {name: {key: mean_std(results[name]["runs"], key) for key in metrics} for name in loss_names}
    aggregates = {name: task.aggregate(results[name]["runs"], results[name]["pooled"]) for name in loss_names}
    figures = task.write_figures(out, split, labels=labels, aggregates=aggregates, seeds=seeds)
    summary = task.summary_line(stats, labels)
    seconds = time.perf_counter() - started
    for line in task.header_lines(split, losses=len(loss_names), seeds=seeds, epochs=epochs):
        print(line)
    print()
    for line in _table(metrics, stats, labels, runs=len(seeds)):
        print(line)
    print()
    for line in task.note_lines(split):
        print(line)
    print(summary)

    record = {
        "versions": {"focalloss": __version__, "torch": torch.__version__, "numpy": np.__version__},
        "torch_threads": torch.get_num_threads(),
        "seconds": seconds,
        "dataset": task.dataset_record(split),
        "settings": {**task.settings_record(settings, options), "seeds": seeds, "epochs": epochs},
        "losses": {
            name: {
                "label": labels[name],
                "mean": {key: stats[name][key][0] for key in metrics},
                "std": {key: stats[name][key][1] for key in metrics},
                **aggregates[name],
                "runs": results[name]["runs"],
            }
            for name in loss_names
        },
        "summary": summary,
    }
    (out / "results.json").write_text(json.dumps(_plain(record), indent=1, allow_nan=False) + "\n")
    print(f"wrote {', '.join(['results.json', *figures])} to {out}/ ({seconds:.1f} s)")
    return record
