"""``shapes``: SYNTHETIC dense detection, the setting focal loss was made for (Lin et al. 2017).

No real detection data ships offline, so this data set is drawn by the demo itself, and every
output says so. Each 32x32 image has a textured background (smooth and fine noise), one to three
distractor bars and zero to two objects, each a square, a ring or a plus of radius 2 or 3 and
random contrast. A tiny fully-convolutional detector scores every location for every class with
its own sigmoid (RetinaNet's classification head, one location per "anchor"); the location of an
object's centre is its positive, the 8 locations around it are ignored (weight 0), every other
location is a negative: about 1,000 background locations per object location, so that easy
negatives dominate a cross-entropy loss.

Compared: cross-entropy, alpha-balanced cross-entropy (alpha 0.75 and 0.25) and focal loss (gamma
0.5, 1, 2, 5 with alpha 0.25), each from a head whose bias starts at 0 and from one whose bias
starts at the prior probability 0.01 (:func:`focalloss.init_prior_bias_`), all normalised by the
number of positives and trained by SGD with momentum as RetinaNet is. Measured: detection AP per
class (detections at the local maxima of each class's score map), the share of the loss carried by
easy negatives and by the positives during training, and whether the loss diverges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import metrics
from .experiment import Metric, Task, seeds_text, spread_note

__all__ = ["CONFIGURATIONS", "ShapesSplit", "ShapesTask", "draw_images"]

SIZE = 32
CLASSES = ("square", "ring", "plus")
TRAIN_IMAGES, TEST_IMAGES = 1024, 256
MOST_OBJECTS = 2  # per image, 0 to this many
MATCH_RADIUS = 1  # an object's centre: the detection may be 1 location off; the 8 around it are ignored
EASY = 0.1  # an easy negative: predicted probability below this (p_t > 0.9)
PRIOR = 0.01
WIDTHS = (8, 8, 16)  # the detector's hidden convolutions
LEARNING_RATE, MOMENTUM, WEIGHT_DECAY, BATCH_SIZE = 0.01, 0.9, 1e-4, 16
CURVE_EVERY = 4  # steps between the points of the training curves kept in results.json

# name -> (alpha, gamma); each runs from a zero bias and (name + "+prior") from the prior init
CONFIGURATIONS = {
    "ce": (None, 0.0),
    "ce-alpha-0.75": (0.75, 0.0),
    "ce-alpha-0.25": (0.25, 0.0),
    "focal-gamma-0.5": (0.25, 0.5),
    "focal-gamma-1": (0.25, 1.0),
    "focal-gamma-2": (0.25, 2.0),
    "focal-gamma-5": (0.25, 5.0),
}


def _object_mask(kind, radius, dy, dx):
    if kind == 0:  # square
        return (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
    if kind == 1:  # ring
        return np.abs(np.hypot(dy, dx) - radius) <= 0.7
    return ((dx == 0) & (np.abs(dy) <= radius)) | ((dy == 0) & (np.abs(dx) <= radius))  # plus


def draw_images(count, rng):
    """``count`` synthetic images and their objects.

    Returns:
        ``(images, objects)``: float32 (count, 1, SIZE, SIZE), and per image a list of
        ``(row, column, class)`` of its objects' centres.

    Example:
        >>> images, objects = draw_images(2, np.random.default_rng(0))
        >>> images.shape, [len(found) for found in objects]
        ((2, 1, 32, 32), [1, 0])
    """
    rows, columns = np.mgrid[:SIZE, :SIZE]
    images = np.zeros((count, 1, SIZE, SIZE), dtype=np.float32)
    objects = []
    for index in range(count):
        coarse = np.kron(rng.normal(size=(SIZE // 8 + 1, SIZE // 8 + 1)), np.ones((8, 8)))
        smooth = sum(np.roll(coarse, shift, axis=(0, 1)) for shift in ((0, 0), (4, 0), (0, 4), (4, 4)))[:SIZE, :SIZE]
        image = 0.075 * smooth + 0.25 * rng.normal(size=(SIZE, SIZE))
        for _ in range(rng.integers(1, 4)):  # distractors: bars, like one arm of a plus
            row, column = rng.integers(2, SIZE - 2, size=2)
            half = rng.integers(1, 4)
            vertical = rng.random() < 0.5
            bar = ((columns == column) & (np.abs(rows - row) <= half)) if vertical else (
                (rows == row) & (np.abs(columns - column) <= half))
            image = image + rng.uniform(0.6, 1.2) * rng.choice([-1.0, 1.0]) * bar
        found = []
        for _ in range(rng.integers(0, MOST_OBJECTS + 1)):
            row, column = (int(v) for v in rng.integers(4, SIZE - 4, size=2))
            if any(max(abs(row - r), abs(column - c)) <= 6 for r, c, _ in found):
                continue  # overlapping another object: this image gets one fewer
            kind = int(rng.integers(0, len(CLASSES)))
            mask = _object_mask(kind, int(rng.integers(2, 4)), rows - row, columns - column)
            image = image + rng.uniform(0.6, 1.2) * rng.choice([-1.0, 1.0]) * mask
            found.append((row, column, kind))
        images[index, 0] = image
        objects.append(found)
    return images, objects


def _targets(objects):
    """0/1 targets (N, C, SIZE, SIZE) at the objects' centres, and weights that are 0 around them."""
    targets = np.zeros((len(objects), len(CLASSES), SIZE, SIZE), dtype=np.float32)
    weights = np.ones_like(targets)
    for index, found in enumerate(objects):
        for row, column, kind in found:
            weights[index, kind, max(row - MATCH_RADIUS, 0):row + MATCH_RADIUS + 1,
                    max(column - MATCH_RADIUS, 0):column + MATCH_RADIUS + 1] = 0.0
    for index, found in enumerate(objects):
        for row, column, kind in found:
            targets[index, kind, row, column] = weights[index, kind, row, column] = 1.0
    return targets, weights


@dataclass(frozen=True)
class ShapesSplit:
    """Synthetic training and test images with their per-location targets and objects."""

    x_train: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    train_objects: list
    x_test: np.ndarray
    test_objects: list

    def objects_per_class(self, objects):
        counts = np.zeros(len(CLASSES), dtype=np.int64)
        for found in objects:
            for *_, kind in found:
                counts[kind] += 1
        return counts


def load_shapes(*, seed):
    """The synthetic images of ``seed``: ``TRAIN_IMAGES`` for training, ``TEST_IMAGES`` for testing."""
    rng = np.random.default_rng(seed)
    x_train, train_objects = draw_images(TRAIN_IMAGES, rng)
    x_test, test_objects = draw_images(TEST_IMAGES, rng)
    targets, weights = _targets(train_objects)
    return ShapesSplit(x_train, targets, weights, train_objects, x_test, test_objects)


def _detector(*, prior_init):
    from torch import nn

    import focalloss

    layers, channels = [], 1
    for index, width in enumerate(WIDTHS):
        dilation = 1 if index == 0 else 2
        layers += [nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation), nn.ReLU()]
        channels = width
    head = nn.Conv2d(channels, len(CLASSES), 3, padding=1)
    # RetinaNet's head: weights N(0, 0.01), bias 0 or log(prior / (1 - prior))
    nn.init.normal_(head.weight, std=0.01)
    if prior_init:
        focalloss.init_prior_bias_(head, prior=PRIOR)
    else:
        nn.init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


def model_description():
    """The detector and its training, in words."""
    return (f"{len(WIDTHS) + 1} convolutions 3x3 ({', '.join(map(str, WIDTHS))} channels, then one output per class), "
            f"SGD, learning rate {LEARNING_RATE:g}, momentum {MOMENTUM:g}, weight decay {WEIGHT_DECAY:g}, "
            f"batches of {BATCH_SIZE}, loss summed and divided by the number of positives, as RetinaNet")


def _train_and_score(split, *, alpha, gamma, prior_init, seed, epochs):
    """Train one detector; return the test scores and the per-step loss and shares."""
    import torch

    import focalloss

    from . import train

    x, targets, weights = (torch.from_numpy(a) for a in (split.x_train, split.targets, split.weights))
    steps = {"loss": [], "easy_negative_share": [], "positive_share": []}

    def batch_loss(model, rows):
        logits = model(x[rows])
        target, weight = targets[rows], weights[rows]
        per_location = focalloss.sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma, weight=weight,
                                                    reduction="none", normalizer="positives")
        with torch.no_grad():  # who carries the loss: measured on this very step
            total = per_location.sum()
            negative = (target == 0) & (weight > 0)
            easy = negative & (torch.sigmoid(logits) < EASY)
            steps["easy_negative_share"].append(float(per_location[easy].sum() / total))
            steps["positive_share"].append(float(per_location[target == 1].sum() / total))
        return per_location.sum()

    def after_step(loss):
        steps["loss"].append(float(loss))
        return not np.isfinite(steps["loss"][-1])  # diverged: stop, the weights are no longer numbers

    model = train.fit(
        lambda: _detector(prior_init=prior_init), batch_loss, size=len(split.x_train), seed=seed, epochs=epochs,
        batch_size=BATCH_SIZE, after_step=after_step,
        optimiser=lambda parameters: torch.optim.SGD(parameters, lr=LEARNING_RATE, momentum=MOMENTUM,
                                                     weight_decay=WEIGHT_DECAY),
    )
    with torch.no_grad():
        scores = torch.sigmoid(model(torch.from_numpy(split.x_test))).double().numpy()
    return scores, steps


def _finite_mean(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


class ShapesTask(Task):
    """``--dataset shapes``: synthetic dense detection, one detector per loss and bias initialisation."""

    loss_names = tuple(CONFIGURATIONS) + tuple(f"{name}+prior" for name in CONFIGURATIONS)
    uses_loss_settings = False

    def load(self, *, seed):
        return load_shapes(seed=seed)

    def train_and_evaluate(self, split, loss_name, *, seed, epochs, settings):
        name, _, prior = loss_name.partition("+")
        alpha, gamma = CONFIGURATIONS[name]
        scores, steps = _train_and_score(split, alpha=alpha, gamma=gamma, prior_init=bool(prior), seed=seed,
                                         epochs=epochs)
        per_class = metrics.detection_average_precision(scores, split.test_objects, radius=MATCH_RADIUS)
        losses = np.array(steps["loss"])
        diverged = not np.all(np.isfinite(losses))
        run = {
            "map": float(np.nanmean(per_class)),
            "first_easy_negative_share": steps["easy_negative_share"][0],
            "easy_negative_share": _finite_mean(steps["easy_negative_share"]),
            "positive_share": _finite_mean(steps["positive_share"]),
            "first_loss": float(losses[0]),
            "diverged": float(diverged),
            "diverged_at_step": int(np.argmin(np.isfinite(losses))) + 1 if diverged else None,
            "ap_per_class": per_class.tolist(),
            "curves": {key: values[::CURVE_EVERY] for key, values in steps.items()},
        }
        return run, None

    def loss_label(self, loss_name, settings):
        name, _, prior = loss_name.partition("+")
        alpha, gamma = CONFIGURATIONS[name]
        alpha_text = "" if alpha is None else f"alpha={alpha:g}"
        what = f"focal gamma={gamma:g} {alpha_text}" if gamma > 0 else f"CE {alpha_text}".rstrip()
        return f"{what}, {'prior init' if prior else 'bias 0'}"

    def metrics(self, split):
        return {
            "map": Metric("mAP"), "first_easy_negative_share": Metric("easy-neg, step 1"),
            "easy_negative_share": Metric("easy-neg share"),
            "positive_share": Metric("positives' share"), "first_loss": Metric("first loss", decimals=1),
            "diverged": Metric("diverged", count=True),
        }

    def aggregate(self, runs, pooled):
        curves = {}
        for key in runs[0]["curves"]:
            longest = max(len(run["curves"][key]) for run in runs)
            padded = np.full((len(runs), longest), np.nan)  # a diverged run stopped early
            for row, run in enumerate(runs):
                padded[row, :len(run["curves"][key])] = run["curves"][key]
            padded[~np.isfinite(padded)] = np.nan
            with np.errstate(all="ignore"):
                curves[key] = np.nanmean(padded, axis=0) if np.isfinite(padded).any() else padded[0]
        return {"ap_per_class": np.nanmean([run["ap_per_class"] for run in runs], axis=0), "mean_curves": curves}

    def header_lines(self, split, *, losses, seeds, epochs):
        objects = split.objects_per_class(split.train_objects)
        per_class = ", ".join(f"{count} {kind}" for kind, count in zip(CLASSES, objects, strict=True))
        locations = split.x_train.shape[0] * SIZE * SIZE
        background = (locations - objects.sum()) / objects.sum()
        return [
            f"shapes: SYNTHETIC images drawn by this demo, not real data: {SIZE}x{SIZE} textured images with 1-3 "
            f"distractor bars and 0-{MOST_OBJECTS} objects ({', '.join(CLASSES)}); {TRAIN_IMAGES:,} training and "
            f"{TEST_IMAGES} test images per seed",
            f"train (seed {seeds[0]}): {objects.sum():,} objects ({per_class}) in {locations:,} locations, each scored "
            f"for every class: {background:,.0f} background locations per object location; the 8 around an object "
            f"are ignored",
            f"{losses} configurations x {seeds_text(seeds)}; {epochs} epochs each ({model_description()}); "
            f"mean ± std over the seeds",
        ]

    def note_lines(self, split):
        return [
            f"mAP: mean over the {len(CLASSES)} classes of the average precision of the detections at the local maxima "
            f"of each class's score map (within {MATCH_RADIUS} location of an object's centre: a match).",
            f"easy-neg share, positives' share: share of each step's loss carried by the negatives with p < {EASY:g} "
            f"and by the objects' locations, averaged over training (easy-neg, step 1: at the first step). first "
            f"loss: the first step's. diverged: seeds whose loss became inf or NaN (training stopped there).",
        ]

    def summary_line(self, stats, labels):
        def seeds_share(share):
            return "every seed" if share == 1 else "no seed" if share == 0 else f"{share:.0%} of the seeds"

        def best(names):
            top = max(names, key=lambda name: stats[name]["map"][0])
            return f"{stats[top]['map'][0]:.3f} ({labels[top]})"

        parts = []
        for name, start in (("ce", "from a zero bias"), ("ce+prior", "from the prior init")):
            if name in stats:
                parts.append(f"cross-entropy {start}: first loss {stats[name]['first_loss'][0]:.1f}, inf or NaN in "
                             f"{seeds_share(stats[name]['diverged'][0])}")
        zero, prior = [name for name in stats if "+" not in name], [name for name in stats if "+" in name]
        parts.append("highest mAP " + ", ".join(f"{start}: {best(names)}" for start, names in
                                                (("from a zero bias", zero), ("from the prior init", prior)) if names))
        if "ce+prior" in stats and "focal-gamma-2+prior" in stats:
            ce, focal = stats["ce+prior"], stats["focal-gamma-2+prior"]

            def versus(key):
                return f"{focal[key][0]:.3f} vs {ce[key][0]:.3f}"

            parts.append(
                f"with the prior init, focal (gamma=2) vs cross-entropy: mAP {versus('map')}"
                f"{spread_note(focal['map'], ce['map'])}, easy negatives' share of the loss at the first step "
                f"{versus('first_easy_negative_share')} and over training {versus('easy_negative_share')}")
        return "This run (synthetic data): " + "; ".join(parts) + "."

    def write_figures(self, out, split, *, labels, aggregates, seeds):
        from .. import plots

        seeds_words = seeds_text(seeds, listed=False)
        heading = f"SYNTHETIC shapes, {TEST_IMAGES} test images per seed"
        plots.detection_figure(
            out / "detection-ap.png", classes=CLASSES,
            ap_per_class={labels[key]: aggregate["ap_per_class"] for key, aggregate in aggregates.items()},
            title=f"{heading}\ndetection AP per class, mean of {seeds_words}",
        )
        plots.training_curves_figure(
            out / "loss-share.png", every=CURVE_EVERY,
            curves={labels[key]: aggregate["mean_curves"] for key, aggregate in aggregates.items()},
            groups=("bias 0", "prior init"),
            title=f"SYNTHETIC shapes: the training loss and the share of it carried by easy negatives "
                  f"(p < {EASY:g}), mean of {seeds_words}",
        )
        return ["detection-ap.png", "loss-share.png"]

    def dataset_record(self, split):
        return {
            "name": self.name, "synthetic": True, "classes": CLASSES, "image_size": SIZE,
            "train_images": TRAIN_IMAGES, "test_images": TEST_IMAGES,
            "train_objects": split.objects_per_class(split.train_objects),
            "test_objects": split.objects_per_class(split.test_objects),
        }

    def settings_record(self, settings, options):
        return {"configurations": {name: {"alpha": alpha, "gamma": gamma} for name, (alpha, gamma)
                                   in CONFIGURATIONS.items()},
                "prior": PRIOR, "easy_below": EASY, "match_radius": MATCH_RADIUS, "training": model_description(),
                "curve_every": CURVE_EVERY}
