"""A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Counts finished steps out of ``total`` and redraws ``[#####.....] 3/18 label  2.1 s``.

    Args:
        total: number of steps.
        enabled: draw or stay silent; ``None`` (default): draw only when ``stream`` is a terminal,
            so that logs and pipes do not fill with carriage returns.
        stream: where to draw, default ``sys.stderr``.
        width: characters in the bar.

    Example:
        >>> import io
        >>> stream = io.StringIO()
        >>> bar = ProgressBar(total=2, enabled=True, stream=stream, width=4)
        >>> bar.advance("first")
        >>> [line.split()[:3] for line in stream.getvalue().split("\\r")[1:]]  # at the start, after each step
        [['[....]', '0/2', '0.0'], ['[##..]', '1/2', 'first']]
    """

    def __init__(self, *, total, enabled=None, stream=None, width=24):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.done = 0
        self.started = time.perf_counter()
        self._draw("")

    def advance(self, label=""):
        """Count one more finished step and redraw, naming it ``label``."""
        self.done += 1
        self._draw(label)

    def _draw(self, label):
        if not self.enabled:
            return
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.started
        # pad so that a shorter label fully covers the previous one
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {label:<32} {elapsed:5.1f} s")
        self.stream.flush()

    def close(self):
        """End the bar's line, so that whatever is printed next starts on a fresh one."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
