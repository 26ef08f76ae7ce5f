"""The read-ahead's pipes (:mod:`engine.readahead`): a pipe with room, and a sender that never blocks its reader."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from multiprocessing.connection import Connection

OUTBOX_BYTES = 16 << 20  # what a reader may hold beyond the pipe before it waits for the run to take pages


def pipe(size: int = 0) -> tuple[Connection, Connection]:
    """A one-way pipe (read end, write end) whose kernel buffer holds ``size`` bytes where Linux allows."""
    r, w = os.pipe()
    if size:
        with contextlib.suppress(OSError, AttributeError, ImportError):
            import fcntl  # Linux's F_SETPIPE_SZ; elsewhere the pipe keeps its size

            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, size)
    return Connection(r, writable=False), Connection(w, readable=False)


class Outbox:
    """The reader's messages, written to the pipe by a thread, so that reading never waits on the pipe.

    While the command is still starting (:mod:`engine.earlyfork`) nobody takes pages and
    the pipe fills after a dozen; the reader reads on, up to its ``ahead`` pages, and
    what the pipe has no room for waits here, in the order sent. :meth:`send` waits only
    when more than ``limit`` bytes are waiting (a store with very large pages).
    """

    def __init__(self, pipe: Connection, *, limit: int = OUTBOX_BYTES) -> None:
        self._pipe, self._limit = pipe, limit
        self._waiting: deque[bytes | None] = deque()
        self._bytes = 0  # waiting here
        self._failed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._write, name="read-ahead sender", daemon=True)
        self._thread.start()

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the pipe. Raises BrokenPipeError once the other end is gone."""
        with self._changed:
            while self._bytes and self._bytes + len(data) > self._limit and not self._failed:
                self._changed.wait()
            if self._failed:
                raise BrokenPipeError("the parent stopped reading")
            self._waiting.append(data)
            self._bytes += len(data)
            self._changed.notify_all()

    def flush(self) -> None:
        """Wait until every message is in the pipe. Raises BrokenPipeError if the other end went first."""
        with self._changed:
            self._waiting.append(None)
            self._changed.notify_all()
        self._thread.join()
        if self._failed:
            raise BrokenPipeError("the parent stopped reading")

    def _write(self) -> None:
        while True:
            with self._changed:
                while not self._waiting:
                    self._changed.wait()
                data = self._waiting.popleft()
            if data is None:
                return
            try:
                self._pipe.send_bytes(data)
            except OSError:
                failed = True
            else:
                failed = False
            with self._changed:
                self._bytes -= len(data)
                self._failed = failed
                self._changed.notify_all()
            if failed:
                return
