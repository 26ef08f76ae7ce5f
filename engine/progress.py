"""Progress of a long run on a terminal: one line, rewritten in place, quiet when not a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressLine:
    """A runner progress callback that shows ``feed X: N records, R rec/s`` on a terminal.

    The line is redrawn at most every ``interval`` seconds; when ``stream`` is not
    a terminal (a log file, a pipe, cron) nothing is written at all.

    Args:
        label: What is running (``feed import_orders of shop``).
        stream: Where to draw (default: stderr).
        clock: Monotonic seconds (injectable in tests).
        interval: Least time between two redraws, in seconds.
        force: Draw even if ``stream`` is not a terminal (tests).
    """

    def __init__(self, label: str, *, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 interval: float = 0.5, force: bool = False) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.interval = interval
        self.enabled = force or _isatty(self.stream)
        self.started = clock()
        self._drawn_at: float | None = None
        self._width = 0
        self.records = 0

    def __call__(self, counts: dict[str, int], total: int | None = None) -> None:
        """Runner callback: ``counts`` are the execution's running totals after a page."""
        self.records = counts.get("read", 0)
        if not self.enabled:
            return
        now = self.clock()
        if self._drawn_at is not None and now - self._drawn_at < self.interval:
            return
        self._drawn_at = now
        self._draw(self.line(now, total))

    def line(self, now: float | None = None, total: int | None = None) -> str:
        """The text of the progress line."""
        elapsed = (self.clock() if now is None else now) - self.started
        rate = self.records / elapsed if elapsed > 0 else 0.0
        of = f" of ~{total}" if total else ""
        return f"{self.label}: {self.records}{of} records, {rate:.0f} rec/s"

    def close(self) -> None:
        """Clear the line (if one was drawn) so the final summary starts on a clean row."""
        if self.enabled and self._drawn_at is not None:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

    def _draw(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False
