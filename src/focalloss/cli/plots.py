"""The figures: recall per class, reliability diagrams, and loss against p_t.

Drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas: no pyplot, no display, no global
backend switch. Each function takes the numbers to draw and a path, and writes one file.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import optional_import

__all__ = [
    "curves_figure", "detection_figure", "precision_recall_figure", "recall_figure", "reliability_figure",
    "training_curves_figure",
]

DPI = 100


def _figure(width, height):
    optional_import("matplotlib", extra="demo")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def recall_figure(path, *, class_names, train_counts, recall, title, xlabel="class (training examples)",
                  ylabel="recall on the test split", legend="lower left"):
    """One line per loss: its value (recall, or F1) on each class, classes ordered as given (common to rare).

    Args:
        path: the file to write (PNG).
        class_names: C names for the x axis.
        train_counts: C training counts, shown under the names.
        recall: ``{loss label: C values}``.
        title: the figure's title.
        xlabel: the x axis' label.
        ylabel: the y axis' label.
        legend: where the legend goes (a matplotlib ``loc``).
    """
    many = len(class_names) > 12
    figure = _figure(max(8.0, 0.22 * len(class_names)) if many else 8.0, 5.2 if many else 4.2)
    axes = figure.add_subplot()
    positions = np.arange(len(class_names))
    markers = "osD^vP*X"
    for index, (label, values) in enumerate(recall.items()):
        axes.plot(positions, values, marker=markers[index % len(markers)], linewidth=1.5 if not many else 1.0,
                  markersize=5 if not many else 3, label=label)
    if many:  # names and counts on one rotated line each
        axes.set_xticks(positions, [f"{name} ({count})" for name, count in zip(class_names, train_counts, strict=True)],
                        rotation=90, fontsize=7)
    else:
        long_names = {"fontsize": 8} if max(len(name) for name in class_names) > 8 else {}
        ticks = [f"{name}\n({count})" for name, count in zip(class_names, train_counts, strict=True)]
        axes.set_xticks(positions, ticks, **long_names)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_ylim(-0.02, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc=legend)
    axes.set_title(title, fontsize=10)
    figure.savefig(path)


def reliability_figure(path, *, bins, ece, title):
    """One reliability diagram per loss: accuracy against confidence in equal-width bins.

    Args:
        path: the file to write (PNG).
        bins: ``{loss label: (count, confidence, accuracy)}`` as from
            :func:`focalloss.cli.demo.metrics.reliability_bins`.
        ece: ``{loss label: expected calibration error}`` for the panel titles.
        title: the figure's title.
    """
    columns = min(3, len(bins))
    rows = math.ceil(len(bins) / columns)
    figure = _figure(3.0 * columns, 2.9 * rows + 0.4)
    figure.suptitle(title, fontsize=10)
    for index, (label, (count, confidence, accuracy)) in enumerate(bins.items()):
        axes = figure.add_subplot(rows, columns, index + 1)
        edges = np.linspace(0.0, 1.0, len(count) + 1)
        filled = count > 0
        left, width = edges[:-1][filled], np.diff(edges)[filled]
        axes.bar(left, accuracy[filled], width=width, align="edge", color="tab:blue", edgecolor="white",
                 label="accuracy")
        # hatched, not filled, so that the gap stays visible where it lies over the bar (underconfidence)
        axes.bar(left, confidence[filled] - accuracy[filled], bottom=accuracy[filled], width=width, align="edge",
                 fill=False, hatch="////", edgecolor="tab:red", linewidth=0.0, label="gap to confidence")
        axes.step(edges, np.r_[count / count.sum(), 0.0], where="post", color="black", linewidth=0.8,
                  label="share of examples")
        axes.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_title(f"{label}\npooled ECE {ece[label]:.3f}", fontsize=9)
        axes.tick_params(labelsize=8)
        if index % columns == 0:
            axes.set_ylabel("accuracy", fontsize=8)
        if index >= len(bins) - columns:
            axes.set_xlabel("confidence", fontsize=8)
        if index == 0:
            axes.legend(fontsize=7, loc="upper left")
    figure.savefig(path)


def precision_recall_figure(path, *, recall, precision, base_rate, title):
    """One precision-recall curve per loss, and the base rate (the precision of a random ranking).

    Args:
        path: the file to write (PNG).
        recall: the recall levels, the x values.
        precision: ``{loss label: precision at each recall level}``.
        base_rate: the share of positives in the evaluated examples.
        title: the figure's title.
    """
    figure = _figure(6.4, 4.8)
    axes = figure.add_subplot()
    for label, values in precision.items():
        axes.plot(recall, values, linewidth=1.5, label=label)
    axes.axhline(base_rate, color="grey", linewidth=1, linestyle="--", label=f"base rate {base_rate:.3f}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision (highest at this recall or more)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    axes.set_title(title, fontsize=9)
    figure.savefig(path)


def detection_figure(path, *, classes, ap_per_class, title):
    """One row per configuration: its mAP as a bar and each class's AP as a marker.

    Args:
        path: the file to write (PNG).
        classes: the class names.
        ap_per_class: ``{configuration label: one AP per class}``, in the order to draw top to bottom.
        title: the figure's title.
    """
    labels = list(ap_per_class)
    figure = _figure(8.0, 1.2 + 0.32 * len(labels))
    axes = figure.add_subplot()
    positions = np.arange(len(labels))[::-1]
    values = np.array([ap_per_class[label] for label in labels], dtype=np.float64)
    axes.barh(positions, np.nanmean(values, axis=1), color="lightgrey", edgecolor="grey", label="mAP")
    for column, (name, marker) in enumerate(zip(classes, "osD^v", strict=False)):
        axes.plot(values[:, column], positions, linestyle="none", marker=marker, markersize=5, label=name)
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_xlim(0, 1)
    axes.set_xlabel("average precision on the test images")
    axes.grid(alpha=0.3, axis="x")
    axes.legend(fontsize=8, loc="lower right")
    axes.set_title(title, fontsize=10)
    figure.savefig(path)


def training_curves_figure(path, *, every, curves, groups, title):
    """The training loss (log scale) and the easy negatives' share of it against the step, one panel row per group.

    Args:
        path: the file to write (PNG).
        every: steps between two points of the curves.
        curves: ``{label: {"loss": values, "easy_negative_share": values}}``; a label ending in
            ``", " + group`` is drawn in that group's row.
        groups: the row names, e.g. ``("bias 0", "prior init")``.
        title: the figure's title.
    """
    figure = _figure(10.0, 3.2 * len(groups) + 0.5)
    figure.suptitle(title, fontsize=10)
    panels = figure.subplots(len(groups), 2, squeeze=False, sharex=True)
    for row, group in enumerate(groups):
        loss_axes, share_axes = panels[row]
        for label, values in curves.items():
            if not label.endswith(f", {group}"):
                continue
            name = label[: -len(group) - 2]
            steps = 1 + every * np.arange(len(values["loss"]))
            loss_axes.plot(steps, values["loss"], linewidth=1.2, label=name)
            share_axes.plot(steps, values["easy_negative_share"], linewidth=1.2, label=name)
        loss_axes.set_yscale("log")
        loss_axes.set_ylabel(f"{group}\nloss per positive", fontsize=9)
        share_axes.set_ylabel("easy negatives' share", fontsize=9)
        share_axes.set_ylim(-0.02, 1.02)
        for axes in (loss_axes, share_axes):
            axes.grid(alpha=0.3)
            axes.tick_params(labelsize=8)
        if share_axes.lines:
            share_axes.legend(fontsize=7, loc="upper right")
    for axes in panels[-1]:
        axes.set_xlabel("training step")
    figure.savefig(path)


def curves_figure(path, *, p_t, cross_entropy, focal, softened, hard_truncation):
    """Loss against p_t: focal loss for several gamma beside the softened and hard-truncation losses.

    Args:
        path: the file to write (format from its extension).
        p_t: the probabilities of the true class, the x values.
        cross_entropy: the cross-entropy at ``p_t``, drawn dotted on the right for comparison.
        focal: ``{gamma: losses}``.
        softened: ``{k: losses}``.
        hard_truncation: ``{threshold: losses}``.
    """
    figure = _figure(10.0, 4.4)
    left, right = figure.subplots(1, 2, sharey=True)
    for gamma, values in focal.items():
        note = " (cross-entropy)" if gamma == 0 else ""
        left.plot(p_t, values, linewidth=1.6, label=f"$\\gamma$ = {gamma:g}{note}")
    left.set_title("focal loss $-(1 - p_t)^\\gamma \\log p_t$", fontsize=10)
    left.axvspan(0.6, 1.0, color="tab:green", alpha=0.08)
    left.text(0.8, 4.6, "well-classified\nexamples", ha="center", va="top", fontsize=8)
    right.plot(p_t, cross_entropy, color="black", linewidth=1.2, linestyle=":", label="cross-entropy")
    for k, values in softened.items():
        same = " (= focal, $\\gamma$ = 1)" if k == 1 else ""  # at k = 1 the softened loss is focal loss, gamma 1
        right.plot(p_t, values, linewidth=1.6, label=f"softened, k = {k:g}{same}")
    for threshold, values in hard_truncation.items():
        right.plot(p_t, values, linewidth=1.6, linestyle="--", label=f"hard truncation, m = {threshold:g}")
    right.set_title("Su Jianlin's softened $-\\sigma(-kx) \\log p_t$ with $x = \\log\\frac{p_t}{1 - p_t}$,\n"
                    "hard truncation $-[p_t \\leq m] \\log p_t$", fontsize=10)
    for axes in (left, right):
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 5)
        axes.set_xlabel("probability of the true class $p_t$")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    left.set_ylabel("loss (natural log)")
    figure.savefig(path)
